/*
 * load.c - reading keys and certificates supplied by the operator (certs.h):
 * PEM certificate files with their chain, PEM private keys (PKCS#8 or
 * traditional, plain or passphrase-encrypted), PKCS#12 bundles, the log's
 * Ed25519 key, and small certificate accessors.  Every error names the file
 * and what was wrong with it, because the operator reads it at start-up.
 */
#include "certs/certs_int.h"
#include "ledger/sm2.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>

#include <string.h>

/* Keys, certificates and PKCS#12 bundles are small; anything bigger is not one. */
#define CERTS_FILE_MAX (1024 * 1024)

/*
 * Like nt_error_ossl but with our own code: a file that does not parse is the
 * operator's input being wrong (NT_EINVAL), not a crypto library failure.  The
 * OpenSSL reason of the deepest error is appended and the queue drained.
 */
static int fail_ossl(int code, const char *what, const char *path)
{
    unsigned long e = ERR_peek_last_error();
    const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
    int rc;
    if (reason != NULL) {
        rc = nt_error_set(code, "%s: %s (%s)", path, what, reason);
    } else {
        rc = nt_error_set(code, "%s: %s", path, what);
    }
    ERR_clear_error();
    return rc;
}

/* sk_X509_pop_free with X509_free; OpenSSL 3.0 has no OSSL_STACK_OF_X509_free yet. */
static void certs_stack_free(STACK_OF(X509) * stack)
{
    sk_X509_pop_free(stack, X509_free);
}

/* private_file: a key or PKCS#12 file, refused when group or others may access it. */
static int file_bio(BIO **out, nt_buf *data, const char *path, int private_file)
{
    int error = 0;
    *out = NULL;
    NT_TRY(private_file ? nt_file_read_private(data, path, CERTS_FILE_MAX)
                        : nt_file_read(data, path, CERTS_FILE_MAX));
    NT_ENSURE(data->len > 0, NT_EINVAL, "%s: file is empty", path);
    *out = BIO_new_mem_buf(data->ptr, (int)data->len);
    if (*out == NULL) {
        error = nt_error_ossl("cannot allocate a BIO for %s", path);
    }
done:
    return error;
}

/*
 * The passphrase callback: never prompt on a terminal (a daemon has none), and
 * with no passphrase configured make decryption fail with a clear message.
 */
static int pass_cb(char *buf, int size, int rwflag, void *u)
{
    const char *pass = u;
    size_t len;
    (void)rwflag;
    if (pass == NULL || size <= 0) {
        return -1;
    }
    len = strlen(pass);
    if (len > (size_t)size) {
        return -1;
    }
    memcpy(buf, pass, len);
    return (int)len;
}

int certs_load_pem_certs(STACK_OF(X509) * *out, const char *path)
{
    nt_buf data = NT_BUF_INIT;
    int error = 0;

    *out = NULL;
    NT_TRY(nt_file_read(&data, path, CERTS_FILE_MAX));
    NT_ENSURE(data.len > 0, NT_EINVAL, "%s: file is empty", path);
    NT_TRY(nt_x509_pem_certs(out, nt_buf_bytes(&data), path)); /* util/x509.c */
    /* SM2-signed certificates verify with the GB/T id */
    if ((error = sm2_certs_default_id(*out)) < 0) {
        certs_stack_free(*out);
        *out = NULL;
        goto done;
    }
done:
    nt_buf_dispose(&data);
    return error;
}

static int read_key(EVP_PKEY **out, const char *path, const char *passphrase, int lax)
{
    nt_buf data = NT_BUF_INIT;
    BIO *bio = NULL;
    int error = 0;

    *out = NULL;
    NT_TRY(file_bio(&bio, &data, path, !lax));
    ERR_clear_error();
    *out = PEM_read_bio_PrivateKey(bio, NULL, pass_cb, (void *)passphrase);
    if (*out == NULL) {
        int encrypted = strstr((const char *)data.ptr, "ENCRYPTED") != NULL;
        if (encrypted && passphrase == NULL) {
            ERR_clear_error();
            error = nt_error_set(NT_EINVAL,
                                 "%s: the private key is encrypted and no passphrase "
                                 "was given",
                                 path);
        } else if (encrypted) {
            error =
                fail_ossl(NT_EINVAL,
                          "cannot decrypt the private key: wrong passphrase or damaged file", path);
        } else {
            error = fail_ossl(NT_EINVAL, "no readable PEM private key", path);
        }
    }
done:
    BIO_free(bio);
    nt_buf_dispose_secret(&data);
    return error;
}

/* Push c unless the stack (or the leaf) already holds it; takes a reference on success. */
static int chain_add_unique(STACK_OF(X509) * chain, X509 *leaf, X509 *c)
{
    if (X509_cmp(leaf, c) == 0) {
        return 0;
    }
    for (int i = 0; i < sk_X509_num(chain); i++) {
        if (X509_cmp(sk_X509_value(chain, i), c) == 0) {
            return 0;
        }
    }
    if (!X509_up_ref(c)) {
        return nt_error_ossl("cannot reference a certificate");
    }
    if (!sk_X509_push(chain, c)) {
        X509_free(c);
        return nt_error_ossl("out of memory building the chain");
    }
    return 0;
}

/*
 * Order `in` as issuers nearest first: follow issuer links from the leaf, then
 * append whatever is left in its original order.  PKCS#12 files and operators'
 * PEM bundles do not agree on an order; the TSA embeds the chain as given here.
 */
static int chain_build(STACK_OF(X509) * *out, X509 *leaf, STACK_OF(X509) * in)
{
    STACK_OF(X509) *chain = NULL;
    X509 *cur = leaf;
    int error = 0;

    *out = NULL;
    NT_OSSL_PTR(chain = sk_X509_new_null(), "cannot allocate a certificate stack");
    for (int depth = 0; in != NULL && depth < sk_X509_num(in); depth++) {
        X509 *next = NULL;
        if (X509_check_issued(cur, cur) == X509_V_OK) {
            break; /* reached a self-signed root */
        }
        for (int i = 0; i < sk_X509_num(in); i++) {
            X509 *cand = sk_X509_value(in, i);
            if (X509_check_issued(cand, cur) == X509_V_OK && X509_cmp(cand, cur) != 0) {
                next = cand;
                break;
            }
        }
        if (next == NULL) {
            break;
        }
        int before = sk_X509_num(chain);
        NT_TRY(chain_add_unique(chain, leaf, next));
        if (sk_X509_num(chain) == before) {
            break; /* a loop */
        }
        cur = next;
    }
    for (int i = 0; in != NULL && i < sk_X509_num(in); i++) {
        NT_TRY(chain_add_unique(chain, leaf, sk_X509_value(in, i)));
    }
    *out = chain;
    chain = NULL;
done:
    certs_stack_free(chain);
    return error;
}

int certs__signer_load_certs(certs_signer **out, const char *cert_path, const char *chain_path)
{
    certs_signer *s = NULL;
    STACK_OF(X509) *certs = NULL, *extra = NULL, *all = NULL;
    int error = 0;

    *out = NULL;
    NT_ENSURE(cert_path != NULL, NT_EINVAL, "a certificate file is required");
    NT_TRY(certs_load_pem_certs(&certs, cert_path));
    NT_OSSL_PTR(all = sk_X509_new_null(), "cannot allocate a certificate stack");
    for (int i = 1; i < sk_X509_num(certs); i++) {
        X509 *c = sk_X509_value(certs, i);
        NT_OSSL(X509_up_ref(c), "cannot reference a certificate");
        if (!sk_X509_push(all, c)) {
            X509_free(c);
            NT_OSSL(0, "out of memory building the chain");
        }
    }
    if (chain_path != NULL && chain_path[0] != '\0') {
        NT_TRY(certs_load_pem_certs(&extra, chain_path));
        for (int i = 0; i < sk_X509_num(extra); i++) {
            X509 *c = sk_X509_value(extra, i);
            NT_OSSL(X509_up_ref(c), "cannot reference a certificate");
            if (!sk_X509_push(all, c)) {
                X509_free(c);
                NT_OSSL(0, "out of memory building the chain");
            }
        }
    }

    s = nt_calloc(1, sizeof(*s));
    NT_ENSURE(s != NULL, NT_ENOMEM, "out of memory");
    s->cert = sk_X509_value(certs, 0);
    NT_OSSL(X509_up_ref(s->cert), "cannot reference a certificate");
    NT_TRY(chain_build(&s->chain, s->cert, all));
    *out = s;
    s = NULL;
done:
    certs_signer_free(s);
    certs_stack_free(certs);
    certs_stack_free(extra);
    certs_stack_free(all);
    return error;
}

int certs__signer_load_pem(certs_signer **out, const char *cert_path, const char *key_path,
                           const char *passphrase, const char *chain_path, int lax)
{
    certs_signer *s = NULL;
    int error = 0;

    *out = NULL;
    NT_ENSURE(cert_path != NULL && key_path != NULL, NT_EINVAL,
              "a certificate file and a key file are required");
    NT_TRY(certs__signer_load_certs(&s, cert_path, chain_path));
    NT_TRY(read_key(&s->key, key_path, passphrase, lax));
    *out = s;
    s = NULL;
done:
    certs_signer_free(s);
    return error;
}

int certs_signer_load_pem(certs_signer **out, const char *cert_path, const char *key_path,
                          const char *passphrase, const char *chain_path)
{
    return certs__signer_load_pem(out, cert_path, key_path, passphrase, chain_path, 0);
}

int certs_signer_load_p12(certs_signer **out, const char *p12_path, const char *passphrase)
{
    return certs__signer_load_p12(out, p12_path, passphrase, 0);
}

int certs__signer_load_p12(certs_signer **out, const char *p12_path, const char *passphrase,
                           int lax)
{
    certs_signer *s = NULL;
    nt_buf data = NT_BUF_INIT;
    BIO *bio = NULL;
    PKCS12 *p12 = NULL;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    STACK_OF(X509) *ca = NULL;
    const char *pass = passphrase != NULL ? passphrase : "";
    int error = 0;

    *out = NULL;
    NT_ENSURE(p12_path != NULL, NT_EINVAL, "no PKCS#12 file given");
    NT_TRY(file_bio(&bio, &data, p12_path, !lax));
    ERR_clear_error();
    p12 = d2i_PKCS12_bio(bio, NULL);
    if (p12 == NULL) {
        error = fail_ossl(NT_EINVAL, "not a DER PKCS#12 file", p12_path);
        goto done;
    }
    /* The MAC check first: it tells a wrong passphrase apart from a damaged file. */
    if (PKCS12_mac_present(p12) && !PKCS12_verify_mac(p12, pass, -1) &&
        !(passphrase == NULL && PKCS12_verify_mac(p12, NULL, 0))) {
        error = fail_ossl(NT_EINVAL, "wrong passphrase (PKCS#12 MAC does not verify)", p12_path);
        goto done;
    }
    if (!PKCS12_parse(p12, pass, &key, &cert, &ca)) {
        /* OpenSSL 3 without the legacy provider cannot decrypt RC2-40 or 3DES bags, which
         * old exports still use; say how to fix it instead of just "unsupported". */
        if (ERR_GET_REASON(ERR_peek_last_error()) == ERR_R_UNSUPPORTED) {
            error = fail_ossl(NT_EINVAL,
                              "the PKCS#12 file uses a legacy cipher (RC2/3DES); re-export it "
                              "with AES (see docs/KEYS.md)",
                              p12_path);
        } else {
            error = fail_ossl(NT_EINVAL, "cannot decrypt or parse the PKCS#12 contents", p12_path);
        }
        goto done;
    }
    NT_ENSURE(key != NULL, NT_EINVAL, "%s: the PKCS#12 file holds no private key", p12_path);
    NT_ENSURE(cert != NULL, NT_EINVAL, "%s: the PKCS#12 file holds no certificate matching its key",
              p12_path);

    s = nt_calloc(1, sizeof(*s));
    NT_ENSURE(s != NULL, NT_ENOMEM, "out of memory");
    NT_TRY(chain_build(&s->chain, cert, ca));
    NT_TRY(sm2_cert_default_id(cert));
    NT_TRY(sm2_certs_default_id(s->chain));
    s->key = key;
    s->cert = cert;
    key = NULL;
    cert = NULL;
    *out = s;
    s = NULL;
done:
    certs_signer_free(s);
    EVP_PKEY_free(key);
    X509_free(cert);
    certs_stack_free(ca);
    PKCS12_free(p12);
    BIO_free(bio);
    nt_buf_dispose_secret(&data);
    return error;
}

void certs_signer_free(certs_signer *s)
{
    if (s == NULL) {
        return;
    }
    EVP_PKEY_free(s->key);
    X509_free(s->cert);
    certs_stack_free(s->chain);
    nt_free(s);
}

int certs_signer_receipt_ders(nt_buf *out, size_t *count, size_t max, const certs_signer *s)
{
    int n = s->chain != NULL ? sk_X509_num(s->chain) : 0;
    unsigned char *der = NULL;
    int error = 0;

    *count = 0;
    for (int i = -1; i < n; i++) {
        X509 *x = i < 0 ? s->cert : sk_X509_value(s->chain, i);
        int dup = 0, len;
        /* A chain that repeats the TSA certificate (or itself) lists it once. */
        for (int j = -1; j < i && !dup; j++) {
            dup = X509_cmp(x, j < 0 ? s->cert : sk_X509_value(s->chain, j)) == 0;
        }
        if (dup) {
            continue;
        }
        NT_ENSURE(*count < max, NT_ERANGE,
                  "the TSA certificate and its chain are more than %zu certificates", max);
        len = i2d_X509(x, &der);
        NT_ENSURE(len > 0, NT_ECRYPTO, "cannot encode a certificate of the TSA chain");
        NT_TRY(nt_buf_set(&out[*count], der, (size_t)len));
        OPENSSL_free(der);
        der = NULL;
        (*count)++;
    }
done:
    OPENSSL_free(der);
    ERR_clear_error();
    return error;
}

int certs_log_key_load(EVP_PKEY **out, const char *path)
{
    EVP_PKEY *key = NULL;
    int error = 0;

    *out = NULL;
    NT_ENSURE(path != NULL, NT_EINVAL, "no log key file given");
    NT_TRY(read_key(&key, path, NULL, 0));
    NT_ENSURE(EVP_PKEY_is_a(key, "ED25519"), NT_EINVAL,
              "%s: the log key must be Ed25519, this is %s", path, EVP_PKEY_get0_type_name(key));
    *out = key;
    key = NULL;
done:
    EVP_PKEY_free(key);
    return error;
}

int certs_cert_fingerprint(nt_buf *out, X509 *cert)
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (cert == NULL || !X509_digest(cert, EVP_sha256(), md, &len)) {
        return nt_error_ossl("cannot compute the certificate fingerprint");
    }
    return nt_hex_encode(out, md, len);
}

int certs_cert_subject(nt_buf *out, X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n;
    int error = 0;

    NT_ENSURE(bio != NULL, NT_ENOMEM, "out of memory");
    /* X509_NAME_print_ex: -1 on error, else the byte count (0 for an empty name). */
    NT_OSSL(X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) + 1,
            "cannot print the certificate's subject");
    n = BIO_get_mem_data(bio, &data);
    NT_TRY(nt_buf_put(out, data, n > 0 ? (size_t)n : 0));
done:
    BIO_free(bio);
    return error;
}

int certs_cert_not_after(time_t *out, const X509 *cert)
{
    struct tm tm;
    time_t t;
    if (cert == NULL || !ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm)) {
        return nt_error_ossl("cannot read the certificate's notAfter");
    }
    t = timegm(&tm);
    if (t == (time_t)-1) {
        return nt_error_set(NT_ERANGE, "notAfter is out of range");
    }
    *out = t;
    return 0;
}
