/*
 * x509.c - PEM text to a stack of certificates: the one reader behind the
 * signer's chain (certs/load.c), the audit's and the verifier's trust
 * anchors (ledger/audit_tokens.c, verifier/verify.c), the report signer
 * (verifier/sign.c) and the verification page (tsa/web.c).  In util because
 * the offline verifier may depend on nothing but util, nt_merkle and
 * OpenSSL.  Strict where the copies were lax: a damaged PEM block is an
 * error, not the silent end of the list.
 */
#include "util/util.h"

#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* The queue holds only "no start line": every PEM block has been read. */
static int pem_at_end(void)
{
    unsigned long e = ERR_peek_last_error();
    return e != 0 && ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

int nt_x509_pem_certs(STACK_OF(X509) * *out, nt_bytes pem, const char *name)
{
    STACK_OF(X509) *stack = NULL;
    BIO *bio = NULL;
    X509 *x = NULL;
    int error = 0;

    *out = NULL;
    NT_ENSURE(pem.len <= INT_MAX, NT_EINVAL, "%s: too large for PEM", name);
    ERR_clear_error();
    NT_OSSL_PTR(stack = sk_X509_new_null(), "%s: cannot allocate a certificate stack", name);
    NT_OSSL_PTR(bio = BIO_new_mem_buf(pem.len > 0 ? pem.ptr : (const uint8_t *)"", (int)pem.len),
                "%s: cannot read PEM text", name);
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        NT_OSSL(sk_X509_push(stack, x), "%s: out of memory", name);
        x = NULL;
    }
    if (!pem_at_end()) {
        unsigned long e = ERR_peek_last_error();
        const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
        int oom = e != 0 && ERR_GET_REASON(e) == ERR_GET_REASON(ERR_R_MALLOC_FAILURE);
        ERR_clear_error();
        error = nt_error_set(oom ? NT_ENOMEM : NT_EINVAL, "%s: malformed certificate (%s)", name,
                             reason != NULL ? reason : "unknown reason");
        goto done;
    }
    ERR_clear_error();
    NT_ENSURE(sk_X509_num(stack) > 0, NT_EINVAL, "%s: no PEM certificate", name);
    *out = stack;
    stack = NULL;
done:
    X509_free(x);
    sk_X509_pop_free(stack, X509_free);
    BIO_free(bio);
    return error;
}
