/*
 * token_sm2_test.c - SM2 identities (tsa/token_sm2.c through the fast path
 * of token_fast.c) and the SM2 checks of ledger/sm2.c they are verified with:
 * tokens for SM3 and SHA-256 imprints carry digestAlgorithm sm3 and
 * signatureAlgorithm SM2-with-SM3 (exact DER, parameters absent) and verify
 * with sm2_signer_verify and the default identifier; an independent check
 * recomputes the signature over the signed attributes with EVP_DigestVerify.
 * Negative twins: another identifier, a flipped signature byte, a changed
 * TSTInfo (messageDigest), an ECDSA token (not SM2) are refused; a
 * configured tsa.sm2_id verifies with that identifier only.  OpenSSL's CMS
 * cannot sign with SM2 (the reason for token_sm2.c): the reference path
 * fails.  Configuration errors: signing_digest sha256, rsa_pss, an empty or
 * 65-byte sm2_id.  SM2-signed certificates verify only after
 * sm2_cert_default_id.  A library that cannot fetch SM3 refuses SM3 imprints
 * as unknown (badAlg).  Allocation failure at every step of tsa_new.
 */
#include "tests/unit/tsa/tsa_fixture.h"
/* after the fixture, which sets the feature macros */
#include "ledger/sm2.h"
#include "tsa/token_int.h"

#include <openssl/pkcs7.h>

/* Where needle starts in hay, or NULL. */
static uint8_t *fx_memmem(uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
    for (size_t i = 0; m <= n && i <= n - m; i++) {
        if (memcmp(hay + i, needle, m) == 0) {
            return hay + i;
        }
    }
    return NULL;
}

static PKCS7 *p7_of(const nt_buf *token)
{
    const unsigned char *p = token->ptr;
    PKCS7 *p7 = d2i_PKCS7(NULL, &p, (long)token->len);
    REQUIRE(p7 != NULL && p == token->ptr + token->len);
    return p7;
}

static PKCS7_SIGNER_INFO *si_of(PKCS7 *p7)
{
    STACK_OF(PKCS7_SIGNER_INFO) *sis = PKCS7_get_signer_info(p7);
    REQUIRE(sis != NULL && sk_PKCS7_SIGNER_INFO_num(sis) == 1);
    return sk_PKCS7_SIGNER_INFO_value(sis, 0);
}

/* sm2_signer_verify of a DER token with `id` (NULL: default). */
static int token_verify(const nt_buf *token, X509 *cert, const char *id)
{
    PKCS7 *p7 = p7_of(token);
    nt_bytes content;
    int rc = sm2_econtent(&content, p7);
    if (rc == 0) {
        rc = sm2_signer_verify(si_of(p7), cert, content, id);
    }
    PKCS7_free(p7);
    return rc;
}

/* One granted token for an imprint of `nid` (certReq set), into tok. */
static void issue(nt_buf *tok, tsa *t, int nid)
{
    fx_req o = fx_req_default();
    nt_buf req = NT_BUF_INIT;
    tsa_result r;

    o.nid = nid;
    fx_request(&req, NULL, &o);
    tsa_result_init(&r);
    REQUIRE(tsa_respond(&r, t, nt_buf_bytes(&req)) == 0);
    CHECK(r.granted);
    REQUIRE(r.granted);
    CHECK(nid != NID_sm3 || r.alg == RECORD_ALG_SM3);
    REQUIRE(nt_buf_set(tok, r.token.ptr, r.token.len) == 0);
    tsa_result_dispose(&r);
    nt_buf_dispose(&req);
}

/* Independent of ledger/sm2.c: EVP_DigestVerify over the re-encoded signed attributes. */
static int raw_verify(const nt_buf *token, X509 *cert, const char *id)
{
    PKCS7 *p7 = p7_of(token);
    PKCS7_SIGNER_INFO *si = si_of(p7);
    unsigned char *attrs = NULL;
    int alen =
        ASN1_item_i2d((ASN1_VALUE *)si->auth_attr, &attrs, ASN1_ITEM_rptr(PKCS7_ATTR_VERIFY));
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_pkey(NULL, X509_get0_pubkey(cert), NULL);
    int ok;

    REQUIRE(alen > 0 && m != NULL && pc != NULL);
    REQUIRE(EVP_PKEY_CTX_set1_id(pc, id, (int)strlen(id)) == 1);
    EVP_MD_CTX_set_pkey_ctx(m, pc);
    REQUIRE(EVP_DigestVerifyInit(m, NULL, EVP_sm3(), NULL, X509_get0_pubkey(cert)) == 1);
    ok = EVP_DigestVerify(m, ASN1_STRING_get0_data(si->enc_digest),
                          (size_t)ASN1_STRING_length(si->enc_digest), attrs, (size_t)alen) == 1;
    ERR_clear_error();
    EVP_MD_CTX_free(m);
    EVP_PKEY_CTX_free(pc);
    OPENSSL_free(attrs);
    PKCS7_free(p7);
    return ok;
}

static void test_tokens(void)
{
    fx_pki pki;
    tsa_config cfg;
    tsa *t = NULL;
    nt_buf tok = NT_BUF_INIT, bad = NT_BUF_INIT;
    X509 *cert;
    static const uint8_t dig_alg[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x81,
                                      0x1c, 0xcf, 0x55, 0x01, 0x83, 0x11};
    static const uint8_t sig_alg[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x81,
                                      0x1c, 0xcf, 0x55, 0x01, 0x83, 0x75};

    fx_pki_make(&pki, CERTS_KEY_SM2);
    cert = pki.signer->cert;
    CHECK(sm2_key_is(pki.signer->key));
    fx_config(&cfg);
    cfg.allow_unsynced_clock = 1;
    REQUIRE(tsa_new(&t, &cfg, pki.signer) == 0);
    for (int round = 0; round < 2; round++) {
        issue(&tok, t, round == 0 ? NID_sm3 : NID_sha256);
        CHECK(fx_memmem(tok.ptr, tok.len, dig_alg, sizeof(dig_alg)) != NULL);
        CHECK(fx_memmem(tok.ptr, tok.len, sig_alg, sizeof(sig_alg)) != NULL);
        CHECK_OK(token_verify(&tok, cert, NULL));
        CHECK(raw_verify(&tok, cert, SM2_DEFAULT_ID));
        /* twins: another identifier, a flipped signature byte, a changed TSTInfo */
        CHECK_ERR(token_verify(&tok, cert, "another id"), NT_EVERIFY);
        CHECK(!raw_verify(&tok, cert, "another id"));
        REQUIRE(nt_buf_set(&bad, tok.ptr, tok.len) == 0);
        bad.ptr[bad.len - 1] ^= 1; /* the signature is the last field */
        CHECK_ERR(token_verify(&bad, cert, NULL), NT_EVERIFY);
        CHECK(strstr(nt_error_last(), "signature does not verify") != NULL);
        REQUIRE(nt_buf_set(&bad, tok.ptr, tok.len) == 0);
        {
            uint8_t *v = fx_memmem(bad.ptr, bad.len, (const uint8_t *)"\x02\x01\x01\x06", 4);
            REQUIRE(v != NULL); /* TSTInfo: version 1, then the policy OID */
            v[2] = 2;           /* version 2: the TSTInfo no longer has its messageDigest */
        }
        CHECK_ERR(token_verify(&bad, cert, NULL), NT_EVERIFY);
        CHECK(strstr(nt_error_last(), "messageDigest") != NULL);
    }
    tsa_free(t);
    t = NULL;

    /* a configured identifier: that one verifies, the default does not */
    cfg.sm2_id = "notarium-test-signer";
    REQUIRE(tsa_new(&t, &cfg, pki.signer) == 0);
    issue(&tok, t, NID_sm3);
    CHECK_OK(token_verify(&tok, cert, "notarium-test-signer"));
    CHECK_ERR(token_verify(&tok, cert, NULL), NT_EVERIFY);
    tsa_free(t);
    nt_buf_dispose(&tok);
    nt_buf_dispose(&bad);
    fx_pki_free(&pki);
}

/* OpenSSL's CMS cannot sign with SM2: why token_sm2.c exists (docs/KEYS.md). */
static void test_cms_cannot_sign(void)
{
    fx_pki pki;
    BIO *in;
    CMS_ContentInfo *cms;
    int flags = CMS_BINARY | CMS_PARTIAL;

    fx_pki_make(&pki, CERTS_KEY_SM2);
    in = BIO_new_mem_buf("tst", 3);
    REQUIRE(in != NULL);
    cms = CMS_sign(NULL, NULL, NULL, NULL, flags);
    REQUIRE(cms != NULL);
    CHECK(CMS_add1_signer(cms, pki.signer->cert, pki.signer->key, EVP_sm3(), 0) != NULL);
    CHECK(CMS_final(cms, in, NULL, CMS_BINARY) != 1 || i2d_CMS_ContentInfo(cms, NULL) <= 0);
    ERR_clear_error();
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    fx_pki_free(&pki);
}

static void test_config_errors(void)
{
    fx_pki pki, ec;
    tsa_config cfg;
    tsa *t = NULL;
    char long_id[SM2_MAX_ID + 2];
    nt_buf tok = NT_BUF_INIT;
    PKCS7 *p7;
    nt_bytes content;

    fx_pki_make(&pki, CERTS_KEY_SM2);
    fx_config(&cfg);
    cfg.signing_digest = "sha256";
    CHECK_ERR(tsa_new(&t, &cfg, pki.signer), NT_EINVAL);
    CHECK(strstr(nt_error_last(), "an SM2 key signs with SM3") != NULL && t == NULL);
    cfg.signing_digest = "sm3";
    CHECK_OK(tsa_new(&t, &cfg, pki.signer));
    tsa_free(t);
    t = NULL;
    cfg.signing_digest = NULL;
    cfg.rsa_pss = 1;
    CHECK_ERR(tsa_new(&t, &cfg, pki.signer), NT_EINVAL);
    cfg.rsa_pss = 0;
    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    cfg.sm2_id = long_id;
    CHECK_ERR(tsa_new(&t, &cfg, pki.signer), NT_EINVAL);
    CHECK(strstr(nt_error_last(), "sm2_id") != NULL);
    cfg.sm2_id = "";
    CHECK_ERR(tsa_new(&t, &cfg, pki.signer), NT_EINVAL);
    long_id[SM2_MAX_ID] = '\0'; /* twin: 64 bytes is fine */
    cfg.sm2_id = long_id;
    CHECK_OK(tsa_new(&t, &cfg, pki.signer));
    tsa_free(t);
    t = NULL;

    /* an ECDSA token is not an SM2 signer info */
    fx_pki_make(&ec, CERTS_KEY_EC_P256);
    fx_config(&cfg);
    cfg.allow_unsynced_clock = 1;
    cfg.signing_digest = "sm3"; /* SM3 signatures are for SM2 keys only */
    CHECK_ERR(tsa_new(&t, &cfg, ec.signer), NT_EINVAL);
    CHECK(strstr(nt_error_last(), "unsupported signing_digest sm3") != NULL && t == NULL);
    cfg.signing_digest = NULL;
    REQUIRE(tsa_new(&t, &cfg, ec.signer) == 0);
    issue(&tok, t, NID_sha256);
    p7 = p7_of(&tok);
    CHECK(!sm2_signer_info_is(si_of(p7)));
    REQUIRE(sm2_econtent(&content, p7) == 0);
    CHECK_ERR(sm2_signer_verify(si_of(p7), ec.signer->cert, content, NULL), NT_EINVAL);
    CHECK_ERR(sm2_econtent(&content, NULL), NT_EINVAL);
    PKCS7_free(p7);
    tsa_free(t);
    nt_buf_dispose(&tok);
    fx_pki_free(&ec);
    fx_pki_free(&pki);
}

/* An SM2-signed certificate verifies only with the identifier set (certs load sets it). */
static void test_cert_id(void)
{
    fx_pki pki;
    X509 *copy;
    EVP_PKEY *ca_pub;
    unsigned char *der = NULL;
    const unsigned char *p;
    int len;
    STACK_OF(X509) *ca = NULL;

    fx_pki_make(&pki, CERTS_KEY_SM2);
    REQUIRE(certs_load_pem_certs(&ca, pki.ca_path) == 0);
    ca_pub = X509_get0_pubkey(sk_X509_value(ca, 0));
    CHECK(X509_verify(pki.signer->cert, ca_pub) == 1); /* loaded: the id is set */
    len = i2d_X509(pki.signer->cert, &der);
    p = der;
    copy = d2i_X509(NULL, &p, len);
    REQUIRE(copy != NULL);
    CHECK(X509_verify(copy, ca_pub) != 1); /* a bare parse: no identifier, no verification */
    ERR_clear_error();
    CHECK_OK(sm2_cert_default_id(copy));
    CHECK(X509_verify(copy, ca_pub) == 1);
    CHECK_OK(sm2_cert_default_id(copy)); /* idempotent */
    X509_free(copy);
    OPENSSL_free(der);
    sk_X509_pop_free(ca, X509_free);
    fx_pki_free(&pki);
}

/*
 * A library without SM3: the default properties point at no provider, so no
 * digest can be fetched (as in a no-sm3 build).  An SM3 request is then
 * badAlg "unknown imprint algorithm 1.2.156.10197.1.401", like any unknown
 * OID; twin: with the properties restored it is granted.
 */
static void test_no_sm3(void)
{
    fx_pki pki;
    tsa_config cfg;
    tsa *t = NULL;
    fx_req o = fx_req_default();
    nt_buf req = NT_BUF_INIT;
    tsa_result r;

    fx_pki_make(&pki, CERTS_KEY_EC_P256);
    fx_config(&cfg);
    cfg.allow_unsynced_clock = 1;
    REQUIRE(tsa_new(&t, &cfg, pki.signer) == 0);
    o.nid = NID_sm3;
    fx_request(&req, NULL, &o);
    tsa_result_init(&r);
    REQUIRE(EVP_set_default_properties(NULL, "provider=notarium-none") == 1);
    CHECK_OK(tsa_respond(&r, t, nt_buf_bytes(&req)));
    REQUIRE(EVP_set_default_properties(NULL, "") == 1);
    CHECK(!r.granted && r.fail == TSA_FAIL_BAD_ALG);
    CHECK_STR(r.reason, "unknown imprint algorithm 1.2.156.10197.1.401");
    CHECK_OK(tsa_respond(&r, t, nt_buf_bytes(&req)));
    CHECK(r.granted && r.alg == RECORD_ALG_SM3);
    tsa_result_dispose(&r);
    nt_buf_dispose(&req);
    tsa_free(t);
    fx_pki_free(&pki);
}

static void test_alloc_failures(void)
{
    fx_pki pki;
    tsa_config cfg;
    tsa *t = NULL;
    int ok = 0;

    fx_pki_make(&pki, CERTS_KEY_SM2);
    fx_config(&cfg);
    for (unsigned long n = 1; n < 200 && !ok; n++) {
        int rc;
        nt_mem_fail_after(n);
        rc = tsa_new(&t, &cfg, pki.signer);
        nt_mem_fail_after(0);
        ok = rc == 0;
        CHECK(rc == 0 || (rc == NT_ENOMEM && t == NULL));
    }
    CHECK(ok);
    tsa_free(t);
    fx_pki_free(&pki);
}

int main(void)
{
    nt_log_set_level(NT_LOG_WARN);
    test_tokens();
    test_cms_cannot_sign();
    test_config_errors();
    test_cert_id();
    test_no_sm3();
    test_alloc_failures();
    return TEST_END();
}
