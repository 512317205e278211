/*
 * check_test.c - certs/check.c: certs_signer_check accepts the dev PKI's TSA
 * profile and refuses, with exactly the one-line reason of certs.h, a twin
 * for each refusal: expired, not yet valid, no EKU, EKU not critical, extra
 * or wrong or repeated EKU, keyCertSign, no digitalSignature, no keyUsage, a
 * CA, a mismatched key and unsupported key types.  The `openssl verify
 * -purpose timestampsign` command is the independent oracle for the EKU rules.
 */
#include "tests/unit/certs/certs_fixture.h"

#include <openssl/x509v3.h>

static char base[256];
static certs_signer *ca;  /* the dev root: key + certificate */
static EVP_PKEY *tsa_key; /* an EC P-256 key for the TSA certificates below */

static const char *path_in(nt_buf *b, const char *name)
{
    REQUIRE(nt_path_join(b, base, name) == 0);
    return nt_buf_cstr(b);
}

/* A signer owning `key` (referenced) and a fresh certificate issued with `flags`. */
static certs_signer *signer_make(EVP_PKEY *key, time_t not_before, int days, int flags)
{
    certs_signer *s = nt_calloc(1, sizeof(*s));
    REQUIRE(s != NULL);
    REQUIRE(EVP_PKEY_up_ref(key) == 1);
    s->key = key;
    s->chain = sk_X509_new_null();
    REQUIRE(certs_tsa_cert_issue(&s->cert, key, ca->key, ca->cert, "Test TSA", not_before, days,
                                 flags) == 0);
    return s;
}

/* Expect refusal with exactly `reason`. */
static void expect_refused(const certs_signer *s, time_t now, const char *reason, int line)
{
    int rc = certs_signer_check(s, now);
    if (rc != NT_EINVAL || strcmp(nt_error_last(), reason) != 0) {
        fprintf(stderr, "line %d: expected NT_EINVAL \"%s\", got %d \"%s\"\n", line, reason, rc,
                nt_error_last());
    }
    CHECK(rc == NT_EINVAL);
    CHECK_STR(nt_error_last(), reason);
}
#define EXPECT_REFUSED(s, now, reason) expect_refused((s), (now), (reason), __LINE__)

/* Exit status of `openssl verify -purpose timestampsign` on the signer's certificate. */
static int openssl_purpose(const certs_signer *s)
{
    nt_buf cert = NT_BUF_INIT, cap = NT_BUF_INIT, cmd = NT_BUF_INIT;
    int status;
    REQUIRE(certs_cert_write_pem(path_in(&cert, "oracle.pem"), s->cert) == 0);
    path_in(&cap, "ca.pem");
    REQUIRE(nt_buf_printf(&cmd,
                          "openssl verify -purpose timestampsign -CAfile '%s' '%s' "
                          ">/dev/null 2>&1",
                          nt_buf_cstr(&cap), nt_buf_cstr(&cert)) == 0);
    status = system(nt_buf_cstr(&cmd));
    nt_buf_dispose(&cert);
    nt_buf_dispose(&cap);
    nt_buf_dispose(&cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void utc_text(char *buf, size_t cap, time_t t)
{
    struct tm tm;
    REQUIRE(gmtime_r(&t, &tm) != NULL);
    REQUIRE(strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) > 0);
}

/* Re-sign a certificate after editing its extensions (the CA key signs again). */
static void resign(X509 *cert)
{
    REQUIRE(X509_sign(cert, ca->key, EVP_sha256()) > 0);
}

static void add_ext_text(X509 *cert, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, ca->cert, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
    REQUIRE(ext != NULL);
    REQUIRE(X509_add_ext(cert, ext, -1) == 1);
    X509_EXTENSION_free(ext);
}

/* A good signer whose keyUsage is replaced by `key_usage` (NULL: none at all), re-signed. */
static certs_signer *signer_with_ku(time_t now, const char *key_usage)
{
    certs_signer *s = signer_make(tsa_key, now, 30, 0);
    X509_EXTENSION_free(X509_delete_ext(s->cert, X509_get_ext_by_NID(s->cert, NID_key_usage, -1)));
    if (key_usage != NULL) {
        add_ext_text(s->cert, NID_key_usage, key_usage);
    }
    resign(s->cert);
    return s;
}

static void test_good(void)
{
    time_t now = time(NULL);
    certs_signer *s = signer_make(tsa_key, now, 30, 0);
    CHECK_OK(certs_signer_check(s, now));
    CHECK(openssl_purpose(s) == 0);
    /* still valid one day before the end, expired one day after */
    CHECK_OK(certs_signer_check(s, now + 29 * 86400));
    certs_signer_free(s);
}

static void test_validity(void)
{
    time_t now = time(NULL);
    char want[128], when[64];

    /* expired: valid for 10 days from 20 days ago */
    time_t nb = now - 20 * 86400;
    certs_signer *s = signer_make(tsa_key, nb, 10, 0);
    utc_text(when, sizeof(when), nb + 10 * 86400);
    snprintf(want, sizeof(want), "certificate expired on %s", when);
    EXPECT_REFUSED(s, now, want);
    CHECK_OK(certs_signer_check(s, nb + 86400)); /* twin: fine while it was valid */
    certs_signer_free(s);

    /* not yet valid: starts tomorrow */
    nb = now + 86400;
    s = signer_make(tsa_key, nb, 10, 0);
    utc_text(when, sizeof(when), nb);
    snprintf(want, sizeof(want), "certificate not yet valid until %s", when);
    EXPECT_REFUSED(s, now, want);
    CHECK_OK(certs_signer_check(s, nb + 60));
    certs_signer_free(s);

    /* a good certificate is expired when checked far in the future */
    s = signer_make(tsa_key, now, 30, 0);
    utc_text(when, sizeof(when), now + 30 * 86400);
    snprintf(want, sizeof(want), "certificate expired on %s", when);
    EXPECT_REFUSED(s, now + 31 * 86400, want);
    certs_signer_free(s);
}

static void test_eku(void)
{
    time_t now = time(NULL);
    certs_signer *s;

    s = signer_make(tsa_key, now, 30, CERTS_PROFILE_NO_EKU);
    EXPECT_REFUSED(s, now, "extendedKeyUsage is missing");
    certs_signer_free(s);

    s = signer_make(tsa_key, now, 30, CERTS_PROFILE_EKU_NOT_CRITICAL);
    EXPECT_REFUSED(s, now, "extendedKeyUsage is not critical");
    certs_signer_free(s);

    s = signer_make(tsa_key, now, 30, CERTS_PROFILE_EKU_EXTRA);
    EXPECT_REFUSED(s, now, "extendedKeyUsage must be timeStamping only");
    CHECK(openssl_purpose(s) != 0); /* the oracle agrees */
    certs_signer_free(s);

    /* EKU critical but serverAuth instead of timeStamping */
    s = signer_make(tsa_key, now, 30, CERTS_PROFILE_NO_EKU);
    add_ext_text(s->cert, NID_ext_key_usage, "critical,serverAuth");
    resign(s->cert);
    EXPECT_REFUSED(s, now, "extendedKeyUsage must be timeStamping only");
    CHECK(openssl_purpose(s) != 0);
    certs_signer_free(s);

    /* "only one instance": a second timeStamping EKU extension */
    s = signer_make(tsa_key, now, 30, 0);
    add_ext_text(s->cert, NID_ext_key_usage, "critical,timeStamping");
    resign(s->cert);
    EXPECT_REFUSED(s, now, "extendedKeyUsage must be timeStamping only");
    certs_signer_free(s);
}

static void test_key_usage_and_ca(void)
{
    time_t now = time(NULL);
    certs_signer *s;

    s = signer_make(tsa_key, now, 30, CERTS_PROFILE_KU_KEYCERTSIGN);
    EXPECT_REFUSED(s, now, "keyUsage allows keyCertSign/cRLSign");
    certs_signer_free(s);

    /* cRLSign next to digitalSignature is refused as well */
    s = signer_with_ku(now, "critical,digitalSignature,cRLSign");
    EXPECT_REFUSED(s, now, "keyUsage allows keyCertSign/cRLSign");
    certs_signer_free(s);

    /* keyEncipherment next to digitalSignature: refused, and by the openssl oracle too */
    s = signer_with_ku(now, "critical,digitalSignature,keyEncipherment");
    EXPECT_REFUSED(s, now, "keyUsage must be digitalSignature/nonRepudiation only");
    CHECK(openssl_purpose(s) != 0);
    certs_signer_free(s);

    s = signer_make(tsa_key, now, 30, CERTS_PROFILE_KU_KEYCERTSIGN);
    CHECK(openssl_purpose(s) != 0);
    certs_signer_free(s);

    s = signer_make(tsa_key, now, 30, CERTS_PROFILE_KU_NO_DIGITALSIGNATURE);
    EXPECT_REFUSED(s, now, "keyUsage lacks digitalSignature");
    certs_signer_free(s);

    /* no keyUsage at all: every usage would be allowed, so it is refused */
    s = signer_with_ku(now, NULL);
    CHECK(X509_get_ext_by_NID(s->cert, NID_key_usage, -1) < 0);
    EXPECT_REFUSED(s, now, "keyUsage lacks digitalSignature");
    certs_signer_free(s);

    /* digitalSignature alone (nonRepudiation is optional) is accepted */
    s = signer_with_ku(now, "critical,digitalSignature");
    CHECK_OK(certs_signer_check(s, now));
    certs_signer_free(s);

    s = signer_make(tsa_key, now, 30, CERTS_PROFILE_CA);
    EXPECT_REFUSED(s, now, "certificate is a CA");
    certs_signer_free(s);

    /* the root itself, used as a TSA certificate */
    EXPECT_REFUSED(ca, now, "extendedKeyUsage is missing");
}

static void test_keys(void)
{
    /* time(NULL) at each check: key generation can take longer than a second, and a
     * certificate issued after a stale `now` is (rightly) not yet valid at it. */
    EVP_PKEY *other = NULL, *k = NULL;
    certs_signer *s;

    /* mismatched key: the certificate is for tsa_key, the signer holds another */
    REQUIRE(certs_key_generate(&other, CERTS_KEY_EC_P256) == 0);
    s = signer_make(tsa_key, 0, 30, 0);
    EVP_PKEY_free(s->key);
    s->key = other;
    EXPECT_REFUSED(s, time(NULL), "private key does not match the certificate");
    certs_signer_free(s);

    /* supported: P-384, RSA 2048 */
    REQUIRE(certs_key_generate(&k, CERTS_KEY_EC_P384) == 0);
    s = signer_make(k, 0, 30, 0);
    CHECK_OK(certs_signer_check(s, time(NULL)));
    certs_signer_free(s);
    EVP_PKEY_free(k);
    REQUIRE(certs_key_generate(&k, CERTS_KEY_RSA2048) == 0);
    s = signer_make(k, 0, 30, 0);
    CHECK_OK(certs_signer_check(s, time(NULL)));
    certs_signer_free(s);
    EVP_PKEY_free(k);

    /* unsupported: Ed25519, RSA 1024, P-521, secp256k1 */
    REQUIRE(certs_key_generate(&k, CERTS_KEY_ED25519) == 0);
    s = signer_make(k, 0, 30, 0);
    EXPECT_REFUSED(s, time(NULL), "unsupported key type");
    certs_signer_free(s);
    EVP_PKEY_free(k);
    static const char *const curves[] = {"P-521", "secp256k1"};
    for (size_t i = 0; i < NT_ARRAY_LEN(curves); i++) {
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curves[i]);
        REQUIRE(k != NULL);
        s = signer_make(k, 0, 30, 0);
        EXPECT_REFUSED(s, time(NULL), "unsupported key type");
        certs_signer_free(s);
        EVP_PKEY_free(k);
    }
    k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    REQUIRE(k != NULL);
    s = signer_make(k, 0, 30, 0);
    EXPECT_REFUSED(s, time(NULL), "unsupported key type");
    certs_signer_free(s);
    EVP_PKEY_free(k);

    /* nothing loaded */
    CHECK_ERR(certs_signer_check(NULL, time(NULL)), NT_EINVAL);
    certs_signer empty = {0};
    CHECK_ERR(certs_signer_check(&empty, time(NULL)), NT_EINVAL);
}

/* certs_signer_inspect: every defect (not just the first), the chain, expiry warnings. */
static void test_inspect(void)
{
    time_t now = time(NULL);
    certs_findings f;
    EVP_PKEY *other = NULL;
    certs_signer *s;

    /* clean: one note (days left), no defect, no warning */
    s = signer_make(tsa_key, now, 400, 0);
    REQUIRE(sk_X509_push(s->chain, ca->cert) > 0 && X509_up_ref(ca->cert) == 1);
    CHECK_OK(certs_signer_inspect(&f, s, now));
    CHECK(f.defects == 0 && f.count == 1 && f.item[0].severity == CERTS_NOTE);
    CHECK(strstr(f.item[0].text, "(400 days left)") != NULL);
    /* 20 days before the end: a warning, still no defect */
    CHECK_OK(certs_signer_inspect(&f, s, now + 380 * 86400));
    CHECK(f.defects == 0 && f.count == 1 && f.item[0].severity == CERTS_WARNING);
    CHECK(
        strstr(f.item[0].text, "TSA certificate CN=Test TSA,O=Notarium Demo expires in 20 days") ==
        f.item[0].text);
    certs_signer_free(s);

    /* CA + extra EKU + wrong key: three defects, in the documented order; check reports the
     * first */
    REQUIRE(certs_key_generate(&other, CERTS_KEY_EC_P256) == 0);
    s = signer_make(tsa_key, now, 400, CERTS_PROFILE_CA | CERTS_PROFILE_EKU_EXTRA);
    EVP_PKEY_free(s->key);
    s->key = other;
    CHECK_OK(certs_signer_inspect(&f, s, now));
    CHECK(f.defects == 3);
    CHECK_STR(f.item[0].text, "extendedKeyUsage must be timeStamping only");
    CHECK_STR(f.item[1].text, "certificate is a CA");
    CHECK_STR(f.item[2].text, "private key does not match the certificate");
    CHECK_ERR(certs_signer_check(s, now), NT_EINVAL);
    CHECK_STR(nt_error_last(), "extendedKeyUsage must be timeStamping only");
    certs_signer_free(s);

    /* a chain whose root did not issue the certificate; twin: the right root */
    {
        nt_buf dir = NT_BUF_INIT;
        certs_signer *other_ca;
        REQUIRE(nt_path_join(&dir, base, "other") == 0);
        other_ca = fx_dev_ca(nt_buf_cstr(&dir));
        s = signer_make(tsa_key, now, 400, 0);
        REQUIRE(sk_X509_push(s->chain, other_ca->cert) > 0 && X509_up_ref(other_ca->cert) == 1);
        CHECK_ERR(certs_signer_check(s, now), NT_EINVAL);
        CHECK(strstr(nt_error_last(), "chain does not verify: ") == nt_error_last());
        certs_signer_free(s);
        /* no root at all: a note, not a defect */
        s = signer_make(tsa_key, now, 400, 0);
        CHECK_OK(certs_signer_inspect(&f, s, now));
        CHECK(f.defects == 0 && f.count == 2 && f.item[0].severity == CERTS_NOTE &&
              strstr(f.item[0].text, "no self-signed root") != NULL);
        certs_signer_free(s);
        certs_signer_free(other_ca);
        nt_buf_dispose(&dir);
    }
    CHECK_ERR(certs_signer_inspect(&f, NULL, now), NT_EINVAL);
}

int main(void)
{
    REQUIRE(test_tmpdir(base, sizeof(base)) != NULL);
    ca = fx_dev_ca(base);
    REQUIRE(certs_key_generate(&tsa_key, CERTS_KEY_EC_P256) == 0);

    test_good();
    test_validity();
    test_eku();
    test_key_usage_and_ca();
    test_keys();
    test_inspect();

    certs_signer_free(ca);
    EVP_PKEY_free(tsa_key);
    fx_rm_rf(base);
    return TEST_END();
}
