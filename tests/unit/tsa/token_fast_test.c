/*
 * token_fast_test.c - tsa/token_fast.c against the CMS reference path of
 * tsa/token.c (tsa/token_int.h): for every TSA key type (EC P-256, P-384,
 * RSA-2048 PKCS#1 v1.5 and RSASSA-PSS), four configurations (accuracy,
 * precision, ordering, TSA name, accepted policy) and many random requests
 * (imprint algorithm and parameters, nonce size and sign, certReq, policy)
 * with a fixed serial and genTime, both paths must give tokens that
 * OpenSSL's verifiers accept (TS_RESP_verify_response, CMS_verify), the
 * same TSTInfo bytes, the same signed attributes, certificates, signer and
 * algorithm identifiers (PKCS#1 v1.5, being deterministic: the same token
 * byte for byte).  Negative twins: one flipped byte in the TSTInfo or the
 * signature of a fast token fails verification.  Error paths: allocation
 * failure at every step, a TSTInfo that outgrows its buffer (NT_ERANGE), a
 * signing failure (NT_ECRYPTO, systemFailure through tsa_respond).
 */
#include "tests/unit/tsa/tsa_fixture.h"
#include "tsa/token_int.h"

#include <openssl/cms.h>

#define RUNS_PER_CONFIG 20

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static CMS_ContentInfo *cms_of(const nt_buf *token)
{
    const unsigned char *p = token->ptr;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)token->len);
    REQUIRE(cms != NULL && p == token->ptr + token->len);
    return cms;
}

/* 1 when two i2d results are equal (both freed). */
static int same_der(unsigned char *a, int la, unsigned char *b, int lb)
{
    int same = la > 0 && la == lb && memcmp(a, b, (size_t)la) == 0;
    OPENSSL_free(a);
    OPENSSL_free(b);
    return same;
}

static int same_attr(X509_ATTRIBUTE *x, X509_ATTRIBUTE *y)
{
    unsigned char *a = NULL, *b = NULL;
    int la = i2d_X509_ATTRIBUTE(x, &a), lb = i2d_X509_ATTRIBUTE(y, &b);
    return same_der(a, la, b, lb);
}

static int same_algor(X509_ALGOR *x, X509_ALGOR *y)
{
    unsigned char *a = NULL, *b = NULL;
    int la = i2d_X509_ALGOR(x, &a), lb = i2d_X509_ALGOR(y, &b);
    return same_der(a, la, b, lb);
}

/* Where needle starts in hay, or NULL. */
static uint8_t *find(uint8_t *hay, size_t hay_len, const uint8_t *needle, size_t len)
{
    for (size_t i = 0; len > 0 && i + len <= hay_len; i++) {
        if (memcmp(hay + i, needle, len) == 0) {
            return hay + i;
        }
    }
    return NULL;
}

/* Everything but the signature value is the same in both tokens. */
static void compare_tokens(const nt_buf *fast, const nt_buf *ref, const certs_signer *signer,
                           int cert_req, int deterministic)
{
    CMS_ContentInfo *a = cms_of(fast), *b = cms_of(ref);
    ASN1_OCTET_STRING **ca = CMS_get0_content(a), **cb = CMS_get0_content(b);
    CMS_SignerInfo *sa = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(a), 0);
    CMS_SignerInfo *sb = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(b), 0);
    STACK_OF(X509) *xa = CMS_get1_certs(a), *xb = CMS_get1_certs(b);
    X509_ALGOR *da, *db, *ga, *gb;

    CHECK(OBJ_obj2nid(CMS_get0_eContentType(a)) == NID_id_smime_ct_TSTInfo);
    /* the TSTInfo, byte for byte */
    REQUIRE(ca != NULL && cb != NULL && *ca != NULL && *cb != NULL);
    CHECK(ASN1_STRING_cmp(*ca, *cb) == 0);
    /* one signer each, the TSA certificate, same attributes in the same (DER) order */
    CHECK(sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(a)) == 1);
    REQUIRE(sa != NULL && sb != NULL);
    CHECK(CMS_SignerInfo_cert_cmp(sa, signer->cert) == 0);
    CHECK(CMS_signed_get_attr_count(sa) == 4 && CMS_signed_get_attr_count(sb) == 4);
    for (int i = 0; i < CMS_signed_get_attr_count(sb); i++) {
        CHECK(same_attr(CMS_signed_get_attr(sa, i), CMS_signed_get_attr(sb, i)));
    }
    CHECK(CMS_unsigned_get_attr_count(sa) <= 0);
    CMS_SignerInfo_get0_algs(sa, NULL, NULL, &da, &ga);
    CMS_SignerInfo_get0_algs(sb, NULL, NULL, &db, &gb);
    CHECK(same_algor(da, db));
    CHECK(same_algor(ga, gb));
    /* certificates: present exactly when asked, the same ones, the TSA's first */
    CHECK((xa != NULL) == (cert_req != 0) && (xb != NULL) == (cert_req != 0));
    if (xa != NULL && xb != NULL) {
        CHECK(sk_X509_num(xa) == sk_X509_num(xb));
        for (int i = 0; i < sk_X509_num(xa) && i < sk_X509_num(xb); i++) {
            CHECK(X509_cmp(sk_X509_value(xa, i), sk_X509_value(xb, i)) == 0);
        }
        CHECK(X509_cmp(sk_X509_value(xa, 0), signer->cert) == 0);
    }
    if (deterministic) {
        CHECK(fast->len == ref->len && memcmp(fast->ptr, ref->ptr, fast->len) == 0);
    }
    sk_X509_pop_free(xa, X509_free);
    sk_X509_pop_free(xb, X509_free);
    CMS_ContentInfo_free(a);
    CMS_ContentInfo_free(b);
}

/*
 * TS verifier (fields always, signature unless PSS) and CMS verifier
 * (signature, chain).  pss == 2: RSASSA-PSS with a TSA name, whose check
 * against the signer OpenSSL 3.0's TS verifier makes only after its own
 * (PKCS#1-only) signature check: CMS verifier alone.
 */
static int verifies(const nt_buf *token, TS_REQ *q, const fx_pki *pki, int cert_req, int pss)
{
    nt_buf resp = NT_BUF_INIT;
    X509 *untrusted = cert_req ? NULL : pki->signer->cert;
    int ok;

    REQUIRE(tsa_response_granted(&resp, nt_buf_bytes(token)) == 0);
    ok = (pss == 2 || fx_ts_verify_flags(nt_buf_bytes(&resp), q, pki->ca_path, untrusted, !pss)) &&
         fx_cms_verify(nt_buf_bytes(token), pki->ca_path, untrusted);
    nt_buf_dispose(&resp);
    return ok;
}

static const int NIDS[] = {NID_sha256,   NID_sha384,   NID_sha512, NID_sha3_256,
                           NID_sha3_384, NID_sha3_512, NID_sha1,   NID_md5};

/* A random request, decoded, and the token inputs around it (fixed serial and genTime). */
static TS_REQ *random_input(tsa__token_in *in, ASN1_INTEGER **neg, const tsa_config *cfg)
{
    fx_req o = fx_req_default();
    nt_buf der = NT_BUF_INIT;
    TS_REQ *q = NULL;
    uint64_t r = rng();
    uint64_t unit = 1;

    o.nid = NIDS[r % NT_ARRAY_LEN(NIDS)];
    o.params = (int)((r >> 8) % 2);
    o.nonce_bytes = (int)((r >> 16) % 33);
    o.cert_req = (int)((r >> 24) % 2);
    o.policy = (r >> 32) % 3 == 0   ? NULL
               : (r >> 32) % 3 == 1 ? FX_POLICY
                                    : cfg->accepted_policies[0];
    fx_request(&der, &q, &o);
    nt_buf_dispose(&der);
    memset(in, 0, sizeof(*in));
    in->imprint = TS_REQ_get_msg_imprint(q);
    in->policy = TS_REQ_get_policy_id(q);
    in->nonce = TS_REQ_get_nonce(q);
    in->cert_req = o.cert_req;
    *neg = NULL;
    if ((r >> 40) % 5 == 0) { /* a negative nonce is echoed as sent */
        REQUIRE((*neg = ASN1_INTEGER_new()) != NULL);
        REQUIRE(ASN1_INTEGER_set_int64(*neg, -(int64_t)((r >> 44) % 100000 + 1)) == 1);
        REQUIRE(TS_REQ_set_nonce(q, *neg) == 1);
        in->nonce = *neg;
    }
    REQUIRE(RAND_bytes(in->serial, TSA_SERIAL_BYTES) == 1);
    in->serial[0] &= 0x7f;
    for (size_t i = 0; i < (size_t)((r >> 48) % 8); i++) {
        in->serial[i] = 0; /* short serials too */
    }
    if ((r >> 52) % 4 == 0) {
        in->serial[(r >> 48) % 8] = 0xff; /* a first byte with the top bit: 00 pad */
    }
    /* 1970..2100: UTCTime and GeneralizedTime signingTimes */
    in->gen.tv_sec = (time_t)(rng() % 4102444800ull);
    for (int i = cfg->precision_digits; i < 9; i++) {
        unit *= 10;
    }
    in->gen.tv_nsec = (long)(rng() % 1000000000ull / unit * unit);
    return q;
}

static void test_key(certs_key_type type, int pss, const char *label)
{
    fx_pki pki;
    size_t runs = 0;

    fx_pki_make(&pki, type);
    for (int c = 0; c < 4; c++) {
        tsa_config cfg;
        tsa *t = NULL;
        fx_config(&cfg);
        cfg.rsa_pss = pss;
        cfg.allow_sha1 = cfg.allow_md5 = 1;
        cfg.accepted_policies[0] = FX_POLICY2;
        cfg.accepted_policy_count = 1;
        cfg.include_tsa_name = c % 2;
        cfg.ordering = c == 1;
        cfg.accuracy_ms = c == 0 ? 1000 : c == 1 ? 1500 : c == 2 ? 0 : 250;
        cfg.precision_digits = c == 0 ? 3 : c == 1 ? 6 : c == 2 ? 0 : 1;
        REQUIRE(tsa_new(&t, &cfg, pki.signer) == 0);
        REQUIRE(t->fast != NULL);
        /* the oracle's mode (see verifies) */
        int mode = pss && cfg.include_tsa_name ? 2 : pss;
        for (int i = 0; i < RUNS_PER_CONFIG; i++, runs++) {
            tsa__token_in in;
            ASN1_INTEGER *neg = NULL;
            TS_REQ *q = random_input(&in, &neg, &cfg);
            nt_buf fast = NT_BUF_INIT, resp = NT_BUF_INIT, ref = NT_BUF_INIT;
            CHECK_OK(tsa__token_fast(&resp, &fast, t, &in));
            CHECK_OK(tsa__token_reference(&ref, t, &in));
            /* the response is the granted status around the same token bytes */
            CHECK(resp.len == fast.len + 9 && resp.len > 9 &&
                  memcmp(resp.ptr + 9, fast.ptr, fast.len) == 0);
            CHECK(verifies(&fast, q, &pki, in.cert_req, mode));
            CHECK(verifies(&ref, q, &pki, in.cert_req, mode));
            compare_tokens(&fast, &ref, pki.signer, in.cert_req,
                           type != CERTS_KEY_EC_P256 && type != CERTS_KEY_EC_P384 && !pss);
            /* negative twins: a byte flipped in the TSTInfo, then in the signature */
            {
                CMS_ContentInfo *cms = cms_of(&fast);
                ASN1_OCTET_STRING **ec = CMS_get0_content(cms);
                const uint8_t *tst = ASN1_STRING_get0_data(*ec);
                size_t tst_len = (size_t)ASN1_STRING_length(*ec), off;
                uint8_t *at = find(fast.ptr, fast.len, tst, tst_len);
                REQUIRE(at != NULL);
                off = (size_t)(at - fast.ptr) + 2 + rng() % (tst_len - 2);
                CMS_ContentInfo_free(cms);
                fast.ptr[off] ^= 0x01;
                CHECK(!verifies(&fast, q, &pki, in.cert_req, mode));
                fast.ptr[off] ^= 0x01;
                fast.ptr[fast.len - 1 - rng() % 8] ^= 0x40;
                CHECK(!verifies(&fast, q, &pki, in.cert_req, mode));
            }
            nt_buf_dispose(&fast);
            nt_buf_dispose(&resp);
            nt_buf_dispose(&ref);
            ASN1_INTEGER_free(neg);
            TS_REQ_free(q);
        }
        tsa_free(t);
    }
    printf("%s: %zu random requests, both paths\n", label, runs);
    fx_pki_free(&pki);
}

/* Allocation failure at every step of tsa_new (fast set-up included) and of a fast token. */
static void test_alloc_failures(void)
{
    fx_pki pki;
    tsa_config cfg;
    tsa *t = NULL;
    tsa__token_in in;
    ASN1_INTEGER *neg = NULL;
    TS_REQ *q;
    unsigned long n;
    int failed = 0, ok = 0;

    fx_pki_make(&pki, CERTS_KEY_EC_P256);
    fx_config(&cfg);
    cfg.include_tsa_name = 1;
    cfg.accepted_policies[0] = FX_POLICY2;
    cfg.accepted_policy_count = 1;
    for (n = 1; n < 200; n++) {
        int rc;
        nt_mem_fail_after(n);
        rc = tsa_new(&t, &cfg, pki.signer);
        nt_mem_fail_after(0);
        if (rc == 0) {
            ok = 1;
            break;
        }
        failed += rc == NT_ENOMEM;
        CHECK(rc == NT_ENOMEM && t == NULL);
    }
    CHECK(ok && failed > 10); /* the fast set-up allocates a dozen buffers */
    REQUIRE(t != NULL);
    q = random_input(&in, &neg, &cfg);
    for (n = 1; n < 10; n++) {
        nt_buf resp = NT_BUF_INIT, tok = NT_BUF_INIT;
        int rc;
        nt_mem_fail_after(n);
        rc = tsa__token_fast(&resp, &tok, t, &in);
        nt_mem_fail_after(0);
        if (rc == 0) {
            CHECK(tok.len > 0 && resp.len == tok.len + 9);
            nt_buf_dispose(&resp);
            nt_buf_dispose(&tok);
            break;
        }
        CHECK_ERR(rc, NT_ENOMEM);
        CHECK(resp.len == 0 && tok.len == 0);
        nt_buf_dispose(&resp);
        nt_buf_dispose(&tok);
    }
    CHECK(n == 3); /* the response buffer, then the token's copy */
    ASN1_INTEGER_free(neg);
    TS_REQ_free(q);
    tsa_free(t);
    fx_pki_free(&pki);
}

/* The DER writer running out of its buffer: NT_ERANGE with a message, nothing returned. */
static void test_overflow(void)
{
    fx_pki pki;
    tsa_config cfg;
    tsa *t = NULL;
    tsa__token_in in;
    ASN1_INTEGER *neg = NULL, *big = NULL;
    TS_REQ *q;
    TS_MSG_IMPRINT *mi;
    static unsigned char huge[5000];
    nt_buf resp = NT_BUF_INIT, tok = NT_BUF_INIT;

    fx_pki_make(&pki, CERTS_KEY_EC_P256);
    fx_config(&cfg);
    cfg.accepted_policies[0] = FX_POLICY2;
    cfg.accepted_policy_count = 1;
    REQUIRE(tsa_new(&t, &cfg, pki.signer) == 0);
    q = random_input(&in, &neg, &cfg);
    /* an imprint far beyond what request.c lets through */
    mi = TS_MSG_IMPRINT_dup(in.imprint);
    REQUIRE(mi != NULL && TS_MSG_IMPRINT_set_msg(mi, huge, (int)sizeof(huge)) == 1);
    in.imprint = mi;
    CHECK_ERR(tsa__token_fast(&resp, &tok, t, &in), NT_ERANGE);
    CHECK(strstr(nt_error_last(), "TSTInfo does not fit") != NULL);
    CHECK(resp.len == 0 && tok.len == 0);
    /* its twin: the same input with a normal imprint signs */
    in.imprint = TS_REQ_get_msg_imprint(q);
    CHECK_OK(tsa__token_fast(&resp, &tok, t, &in));
    /* a nonce beyond the bound, same */
    big = ASN1_INTEGER_new();
    REQUIRE(big != NULL && ASN1_STRING_set(big, huge, (int)sizeof(huge)) == 1);
    huge[0] = 1;
    REQUIRE(ASN1_STRING_set(big, huge, (int)sizeof(huge)) == 1);
    in.nonce = big;
    CHECK_ERR(tsa__token_fast(&resp, &tok, t, &in), NT_ERANGE);
    CHECK(resp.len == 0 && tok.len == 0);
    nt_buf_dispose(&resp);
    nt_buf_dispose(&tok);
    ASN1_INTEGER_free(big);
    TS_MSG_IMPRINT_free(mi);
    ASN1_INTEGER_free(neg);
    TS_REQ_free(q);
    tsa_free(t);
    fx_pki_free(&pki);
}

/*
 * Signing fails: the signer's key is swapped (behind the tsa's back) for a
 * P-384 key before the first token, so the signing context is made with a
 * key whose signatures do not fit the P-256 bound: NT_ECRYPTO, and through
 * tsa_respond a systemFailure rejection.  Twin: the right key signs.
 */
static void test_sign_failure(void)
{
    fx_pki pki, other;
    tsa_config cfg;
    tsa *t = NULL;
    tsa__token_in in;
    ASN1_INTEGER *neg = NULL;
    TS_REQ *q;
    EVP_PKEY *mine;
    nt_buf resp = NT_BUF_INIT, tok = NT_BUF_INIT, req = NT_BUF_INIT;
    fx_req o = fx_req_default();
    tsa_result r;

    fx_pki_make(&pki, CERTS_KEY_EC_P256);
    fx_pki_make(&other, CERTS_KEY_EC_P384);
    fx_config(&cfg);
    cfg.accepted_policies[0] = FX_POLICY2;
    cfg.accepted_policy_count = 1;
    cfg.allow_unsynced_clock = 1;
    REQUIRE(tsa_new(&t, &cfg, pki.signer) == 0);
    q = random_input(&in, &neg, &cfg);
    mine = pki.signer->key;
    pki.signer->key = other.signer->key;
    CHECK_ERR(tsa__token_fast(&resp, &tok, t, &in), NT_ECRYPTO);
    CHECK(strstr(nt_error_last(), "token signing failed") != NULL);
    CHECK(resp.len == 0 && tok.len == 0);
    fx_request(&req, NULL, &o);
    tsa_result_init(&r);
    CHECK_OK(tsa_respond(&r, t, nt_buf_bytes(&req)));
    CHECK(!r.granted && r.fail == TSA_FAIL_SYSTEM_FAILURE);
    tsa_result_dispose(&r);
    pki.signer->key = mine;
    tsa_free(t);
    /* twin: a fresh tsa (fresh signing contexts) with the right key */
    REQUIRE(tsa_new(&t, &cfg, pki.signer) == 0);
    CHECK_OK(tsa__token_fast(&resp, &tok, t, &in));
    CHECK(verifies(&tok, q, &pki, in.cert_req, 0));
    CHECK_OK(tsa_respond(&r, t, nt_buf_bytes(&req)));
    CHECK(r.granted);
    tsa_result_dispose(&r);
    nt_buf_dispose(&req);
    nt_buf_dispose(&resp);
    nt_buf_dispose(&tok);
    ASN1_INTEGER_free(neg);
    TS_REQ_free(q);
    tsa_free(t);
    fx_pki_free(&pki);
    fx_pki_free(&other);
}

int main(void)
{
    nt_log_set_level(NT_LOG_WARN);
    test_key(CERTS_KEY_EC_P256, 0, "ec-p256");
    test_key(CERTS_KEY_EC_P384, 0, "ec-p384");
    test_key(CERTS_KEY_RSA2048, 0, "rsa-2048");
    test_key(CERTS_KEY_RSA2048, 1, "rsa-2048-pss");
    test_alloc_failures();
    test_overflow();
    test_sign_failure();
    return TEST_END();
}
