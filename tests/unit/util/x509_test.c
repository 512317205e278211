/*
 * x509_test.c - nt_x509_pem_certs (util/x509.c): every certificate of a PEM
 * bundle in order, text and other PEM blocks around them skipped; the
 * negative twins: no certificate, a damaged or truncated block (an error
 * naming the input, never a silently shorter list), text too large.
 */
#include "tests/unit/test.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* A self-signed P-256 certificate with common name `cn`, as PEM, appended to out. */
static void mint(nt_buf *out, const char *cn, EVP_PKEY *key)
{
    X509 *x = X509_new();
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;
    X509_NAME *name = X509_get_subject_name(x);
    CHECK(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                     0) == 1);
    CHECK(X509_set_issuer_name(x, name) == 1);
    CHECK(ASN1_INTEGER_set(X509_get_serialNumber(x), 7) == 1);
    CHECK(X509_gmtime_adj(X509_getm_notBefore(x), 0) != NULL);
    CHECK(X509_gmtime_adj(X509_getm_notAfter(x), 3600) != NULL);
    CHECK(X509_set_pubkey(x, key) == 1);
    CHECK(X509_sign(x, key, EVP_sha256()) > 0);
    CHECK(PEM_write_bio_X509(bio, x) == 1);
    len = BIO_get_mem_data(bio, &data);
    CHECK_OK(nt_buf_put(out, data, (size_t)len));
    BIO_free(bio);
    X509_free(x);
}

static int cn_is(X509 *x, const char *want)
{
    char cn[64] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
    return strcmp(cn, want) == 0;
}

static void test_bundle(EVP_PKEY *key)
{
    nt_buf pem = NT_BUF_INIT;
    STACK_OF(X509) *certs = NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;

    CHECK_OK(nt_buf_puts(&pem, "Bag Attributes: a comment openssl pkcs12 writes\n"));
    mint(&pem, "first", key);
    /* a private key block between the certificates is skipped, as openssl does */
    CHECK(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1);
    len = BIO_get_mem_data(bio, &data);
    CHECK_OK(nt_buf_put(&pem, data, (size_t)len));
    mint(&pem, "second", key);
    CHECK_OK(nt_buf_puts(&pem, "trailing text\n"));
    CHECK_OK(nt_x509_pem_certs(&certs, nt_buf_bytes(&pem), "bundle.pem"));
    CHECK(sk_X509_num(certs) == 2);
    CHECK(certs != NULL && cn_is(sk_X509_value(certs, 0), "first") &&
          cn_is(sk_X509_value(certs, 1), "second"));
    sk_X509_pop_free(certs, X509_free);
    BIO_free(bio);
    nt_buf_dispose(&pem);
}

static void expect_einval(nt_bytes pem, const char *words)
{
    STACK_OF(X509) *certs = (STACK_OF(X509) *)1;
    CHECK_ERR(nt_x509_pem_certs(&certs, pem, "--trust roots.pem"), NT_EINVAL);
    CHECK(certs == NULL);
    CHECK(strstr(nt_error_last(), "--trust roots.pem: ") == nt_error_last());
    CHECK(strstr(nt_error_last(), words) != NULL);
    if (strstr(nt_error_last(), words) == NULL) {
        fprintf(stderr, "  message: %s\n", nt_error_last());
    }
}

static void test_bad(EVP_PKEY *key)
{
    nt_buf pem = NT_BUF_INIT, two = NT_BUF_INIT;
    char *body;

    expect_einval(NT_BYTES(NULL, 0), "no PEM certificate");
    expect_einval(NT_BYTES("just text\n", 10), "no PEM certificate");
    mint(&pem, "only", key);
    /* truncated: the END line is missing */
    expect_einval(NT_BYTES(pem.ptr, pem.len - 20), "malformed certificate");
    /* the second certificate's body damaged: an error, not a list of one */
    mint(&two, "ok", key);
    CHECK_OK(nt_buf_put(&two, pem.ptr, pem.len));
    body = strstr((char *)two.ptr + pem.len / 2, "-----BEGIN CERTIFICATE-----\n");
    CHECK(body != NULL);
    if (body != NULL) {
        body[40] = body[40] == 'A' ? 'B' : 'A';
        body[41] = '*';
        expect_einval(nt_buf_bytes(&two), "malformed certificate");
    }
    /* positive twin: the undamaged single certificate */
    {
        STACK_OF(X509) *certs = NULL;
        CHECK_OK(nt_x509_pem_certs(&certs, nt_buf_bytes(&pem), "one.pem"));
        CHECK(sk_X509_num(certs) == 1);
        sk_X509_pop_free(certs, X509_free);
    }
    nt_buf_dispose(&pem);
    nt_buf_dispose(&two);
}

int main(void)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    CHECK(key != NULL);
    test_bundle(key);
    test_bad(key);
    EVP_PKEY_free(key);
    return TEST_END();
}
