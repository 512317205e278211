/*
 * qc_test.c - ledger/qc.c, the ETSI EN 319 422 qualified-TSU statement of a
 * certificate: present alone or among other statements (with and without
 * statementInfo) -> 1; no qcStatements, or other statements only -> 0;
 * every malformed extension (not a SEQUENCE, a statement that is not a
 * SEQUENCE or does not start with an OID, three fields, trailing bytes, the
 * extension twice) -> NT_EINVAL naming qcStatements.
 */
#include "ledger/qc.h"
#include "tests/unit/test.h"

#include <openssl/evp.h>
#include <openssl/x509v3.h>

/* QCStatement { 0.4.0.19422.1.1 } and { 0.4.0.1862.1.1 (QcCompliance) } */
#define TSU  0x30, 0x09, 0x06, 0x07, 0x04, 0x00, 0x81, 0x97, 0x5e, 0x01, 0x01
#define COMP 0x30, 0x08, 0x06, 0x06, 0x04, 0x00, 0x8e, 0x46, 0x01, 0x01

static EVP_PKEY *key;

/* A self-signed certificate with the qcStatements extension `der` (NULL: none), `times` times. */
static X509 *cert_with(const uint8_t *der, size_t len, int times)
{
    X509 *x = X509_new();
    ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.3", 1);
    ASN1_OCTET_STRING *val = ASN1_OCTET_STRING_new();

    REQUIRE(x != NULL && oid != NULL && val != NULL);
    REQUIRE(X509_set_version(x, 2) == 1 && X509_set_pubkey(x, key) == 1);
    REQUIRE(ASN1_INTEGER_set(X509_get_serialNumber(x), 1) == 1);
    REQUIRE(X509_gmtime_adj(X509_getm_notBefore(x), 0) != NULL);
    REQUIRE(X509_gmtime_adj(X509_getm_notAfter(x), 86400) != NULL);
    for (int i = 0; der != NULL && i < times; i++) {
        X509_EXTENSION *e;
        REQUIRE(ASN1_OCTET_STRING_set(val, der, (int)len) == 1);
        e = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, val);
        REQUIRE(e != NULL && X509_add_ext(x, e, -1) == 1);
        X509_EXTENSION_free(e);
    }
    REQUIRE(X509_sign(x, key, EVP_sha256()) > 0);
    ASN1_OBJECT_free(oid);
    ASN1_OCTET_STRING_free(val);
    return x;
}

static int qualified(const uint8_t *der, size_t len, int times, int *q)
{
    X509 *x = cert_with(der, len, times);
    int rc = qc_tsu_qualified(q, x);
    X509_free(x);
    return rc;
}

#define Q(expect, ...)                                                                             \
    do {                                                                                           \
        static const uint8_t d_[] = {__VA_ARGS__};                                                 \
        int q_ = -1;                                                                               \
        CHECK_OK(qualified(d_, sizeof(d_), 1, &q_));                                               \
        CHECK(q_ == (expect));                                                                     \
    } while (0)

#define BAD(...)                                                                                   \
    do {                                                                                           \
        static const uint8_t d_[] = {__VA_ARGS__};                                                 \
        int q_ = -1;                                                                               \
        CHECK_ERR(qualified(d_, sizeof(d_), 1, &q_), NT_EINVAL);                                   \
        CHECK(strstr(nt_error_last(), "qcStatements") != NULL && q_ == 0);                         \
    } while (0)

int main(void)
{
    int q = -1;
    static const uint8_t tsu[] = {0x30, 0x0b, TSU};

    key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    REQUIRE(key != NULL);
    CHECK_OK(qualified(NULL, 0, 0, &q)); /* no extension */
    CHECK(q == 0);
    Q(1, 0x30, 0x0b, TSU);
    Q(1, 0x30, 0x15, COMP, TSU);
    Q(0, 0x30, 0x0a, COMP);
    Q(0, 0x30, 0x00); /* an empty SEQUENCE OF */
    /* with statementInfo (ANY): still the statement */
    Q(1, 0x30, 0x0d, 0x30, 0x0b, 0x06, 0x07, 0x04, 0x00, 0x81, 0x97, 0x5e, 0x01, 0x01, 0x05, 0x00);
    BAD(0x02, 0x01, 0x05);                         /* not a SEQUENCE */
    BAD(0x30, 0x03, 0x02, 0x01, 0x05);             /* a statement that is not a SEQUENCE */
    BAD(0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x05); /* a statement without its OID */
    BAD(0x30, 0x02, 0x30, 0x00);                   /* an empty statement */
    BAD(0x30, 0x0f, 0x30, 0x0d, 0x06, 0x07, 0x04, 0x00, 0x81, 0x97, 0x5e, 0x01, 0x01, 0x05, 0x00,
        0x05, 0x00);                                          /* three fields */
    BAD(0x30, 0x0b, TSU, 0x00);                               /* trailing byte */
    BAD(0x30, 0x0c, TSU);                                     /* length beyond the value */
    CHECK_ERR(qualified(tsu, sizeof(tsu), 2, &q), NT_EINVAL); /* the extension twice */
    CHECK(strstr(nt_error_last(), "twice") != NULL);
    CHECK_ERR(qc_tsu_qualified(&q, NULL), NT_EINVAL);
    EVP_PKEY_free(key);
    return TEST_END();
}
