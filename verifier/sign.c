/*
 * sign.c - a detached CMS signature over the JSON report, so that a report
 * handed to a court is itself evidence (who produced it, unaltered), and the
 * check of such a signature (`notarium verify-report`).  Part of nt_verifier.
 *
 * The signature is over the exact bytes of the JSON file (CMS_BINARY: no
 * MIME canonicalisation), DER, with the signer's certificate included.
 */
#include "verifier/verifier_int.h"

#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

static int pem_certs(STACK_OF(X509) **out, const char *path)
{
    int error = 0;
    nt_buf data = NT_BUF_INIT;
    BIO *bio = NULL;
    X509 *x = NULL;
    NT_TRY(nt_file_read(&data, path, 16u << 20));
    NT_OSSL_PTR(*out = sk_X509_new_null(), "stack");
    NT_OSSL_PTR(bio = BIO_new_mem_buf(data.ptr, (int)data.len), "BIO");
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (sk_X509_push(*out, x) <= 0) {
            X509_free(x);
            NT_TRY(nt_error_ossl("stack"));
        }
    }
    ERR_clear_error();
    NT_ENSURE(sk_X509_num(*out) > 0, NT_EINVAL, "%s: no PEM certificate", path);
done:
    BIO_free(bio);
    nt_buf_dispose(&data);
    return error;
}

int verifier_report_sign(nt_buf *out, nt_bytes report_json, const char *key_path,
                         const char *cert_path, const char *chain_path)
{
    int error = 0;
    nt_buf keypem = NT_BUF_INIT;
    BIO *kb = NULL, *in = NULL;
    EVP_PKEY *key = NULL;
    STACK_OF(X509) *certs = NULL, *chain = NULL;
    CMS_ContentInfo *cms = NULL;
    unsigned char *der = NULL;

    NT_TRY(nt_file_read(&keypem, key_path, 1u << 20));
    NT_OSSL_PTR(kb = BIO_new_mem_buf(keypem.ptr, (int)keypem.len), "BIO");
    NT_OSSL_PTR(key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL), "--sign-key %s", key_path);
    NT_TRY(pem_certs(&certs, cert_path));
    if (chain_path != NULL) {
        NT_TRY(pem_certs(&chain, chain_path));
    }
    for (int i = 1; i < sk_X509_num(certs); i++) {
        if (chain == NULL) {
            NT_OSSL_PTR(chain = sk_X509_new_null(), "stack");
        }
        NT_OSSL(X509_add_cert(chain, sk_X509_value(certs, i), X509_ADD_FLAG_UP_REF), "stack");
    }
    NT_OSSL_PTR(in = BIO_new_mem_buf(report_json.ptr, (int)report_json.len), "BIO");
    NT_OSSL_PTR(cms = CMS_sign(sk_X509_value(certs, 0), key, chain, in,
                               CMS_DETACHED | CMS_BINARY),
                "CMS_sign");
    int len = i2d_CMS_ContentInfo(cms, &der);
    NT_OSSL(len, "i2d_CMS_ContentInfo");
    NT_TRY(nt_buf_put(out, der, (size_t)len));
done:
    OPENSSL_free(der);
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    BIO_free(kb);
    EVP_PKEY_free(key);
    sk_X509_pop_free(certs, X509_free);
    sk_X509_pop_free(chain, X509_free);
    nt_buf_dispose_secret(&keypem);
    return error;
}

int verifier_report_signature_check(nt_buf *signer_out, nt_bytes report_json, nt_bytes signature_der,
                                    const char *trust_path)
{
    int error = 0;
    STACK_OF(X509) *roots = NULL, *signers = NULL;
    X509_STORE *store = NULL;
    CMS_ContentInfo *cms = NULL;
    BIO *in = NULL;
    const unsigned char *p = signature_der.ptr;

    NT_TRY(pem_certs(&roots, trust_path));
    NT_OSSL_PTR(store = X509_STORE_new(), "X509_STORE_new");
    for (int i = 0; i < sk_X509_num(roots); i++) {
        NT_OSSL(X509_STORE_add_cert(store, sk_X509_value(roots, i)), "trust");
    }
    cms = d2i_CMS_ContentInfo(NULL, &p, (long)signature_der.len);
    if (cms == NULL || p != signature_der.ptr + signature_der.len) {
        ERR_clear_error();
        NT_ENSURE(0, NT_EINVAL, "the signature is not a DER CMS ContentInfo");
    }
    NT_OSSL_PTR(in = BIO_new_mem_buf(report_json.ptr, (int)report_json.len), "BIO");
    /* Any purpose: a report signer is not a TLS or S/MIME entity. */
    X509_VERIFY_PARAM_set_purpose(X509_STORE_get0_param(store), X509_PURPOSE_ANY);
    if (CMS_verify(cms, NULL, store, in, NULL, CMS_BINARY) != 1) {
        error = nt_error_ossl("the report signature does not verify");
        error = NT_EVERIFY;
        goto done;
    }
    if (signer_out != NULL) {
        signers = CMS_get0_signers(cms);
        if (signers != NULL && sk_X509_num(signers) > 0) {
            char *s = X509_NAME_oneline(X509_get_subject_name(sk_X509_value(signers, 0)), NULL, 0);
            if (s != NULL) {
                error = nt_buf_puts(signer_out, s);
                OPENSSL_free(s);
            }
        }
    }
done:
    sk_X509_free(signers);
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    X509_STORE_free(store);
    sk_X509_pop_free(roots, X509_free);
    return error;
}
