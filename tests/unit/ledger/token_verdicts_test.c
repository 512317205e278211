/*
 * token_verdicts_test.c - a differential test of the two RFC 3161 token
 * verifiers, kept separate on purpose: the auditor's (ledger/audit_tokens.c,
 * fast, cached, through its worker pool) and the offline verifier's
 * (verifier/verify_*.c, through verifier_run with a receipt around the
 * token).  Both get the same tokens (minted by OpenSSL's TS_RESP_CTX, see
 * tests/fixture/fixture.h), the same leaf digest and the same trust anchors,
 * and must give the same verdict: good P-256 and RSA tokens, an old token of
 * a certificate expired since, a flipped signature byte, a wrong imprint, a
 * signer under another root, a token carrying another certificate than its signer's, a
 * certificate expired (or not yet valid) at genTime, a signer
 * without the timeStamping EKU, a truncated token, trailing garbage.  And both
 * refuse a trust bundle with a damaged certificate.  Each
 * case also states the verdict both must reach, so a shared blind spot fails
 * too.
 */
#include "ledger/audit_int.h"
#include "tests/fixture/fixture.h"
#include "tests/unit/test.h"
#include "verifier/verifier.h"

#include <openssl/rsa.h>
#include <openssl/sha.h>

#define ORIGIN "test.notarium.example/verdicts"

typedef struct world {
    char dir[512];
    char trust_path[600];
    fx_pki ec; /* the root and a P-256 TSA valid for ten years around now */
    EVP_PKEY *rsa_key;
    X509 *rsa_tsa;    /* an RSA-2048 TSA under the same root */
    X509 *expired;    /* P-256 TSA (ec.tsa_key) valid [now-20d, now-10d] */
    X509 *no_eku;     /* a certificate of ec.tsa_key without the timeStamping EKU */
    fx_pki other;     /* another root and TSA */
    nt_buf trust_pem; /* ec.root */
    uint8_t digest[32], other_digest[32];
    time_t now;
} world;

static void world_make(world *w)
{
    memset(w, 0, sizeof(*w));
    w->now = time(NULL);
    REQUIRE(test_tmpdir(w->dir, sizeof(w->dir)) != NULL);
    snprintf(w->trust_path, sizeof(w->trust_path), "%s/trust.pem", w->dir);
    REQUIRE(fx_pki_new(&w->ec, "Verdicts Root", "Verdicts TSA", w->now - 3650 * FX_DAY,
                       w->now + 3650 * FX_DAY) == 0);
    REQUIRE((w->rsa_key = EVP_RSA_gen(2048)) != NULL);
    REQUIRE(fx_cert(&w->rsa_tsa, w->rsa_key, w->ec.root, w->ec.root_key, "Verdicts RSA TSA", 0,
                    w->now - 3650 * FX_DAY, w->now + 3650 * FX_DAY, 3) == 0);
    REQUIRE(fx_cert(&w->expired, w->ec.tsa_key, w->ec.root, w->ec.root_key, "Verdicts Old TSA", 0,
                    w->now - 20 * FX_DAY, w->now - 10 * FX_DAY, 4) == 0);
    REQUIRE(fx_pki_new(&w->other, "Other Root", "Other TSA", w->now - 3650 * FX_DAY,
                       w->now + 3650 * FX_DAY) == 0);
    /* the CA profile: no extended key usage at all */
    REQUIRE(fx_cert(&w->no_eku, w->ec.tsa_key, w->ec.root, w->ec.root_key, "Verdicts TSA", 1,
                    w->now - 3650 * FX_DAY, w->now + 3650 * FX_DAY, 5) == 0);
    REQUIRE(fx_pem_cert(&w->trust_pem, w->ec.root) == 0);
    REQUIRE(nt_file_write_atomic(w->trust_path, w->trust_pem.ptr, w->trust_pem.len, 0600) == 0);
    SHA256((const uint8_t *)"the contract", 12, w->digest);
    SHA256((const uint8_t *)"another contract", 16, w->other_digest);
}

static void world_dispose(world *w)
{
    fx_pki_dispose(&w->ec);
    fx_pki_dispose(&w->other);
    EVP_PKEY_free(w->rsa_key);
    X509_free(w->rsa_tsa);
    X509_free(w->expired);
    X509_free(w->no_eku);
    nt_buf_dispose(&w->trust_pem);
}

/* The auditor's verdict on one leaf (digest, token): 1 pass, 0 fail, -1 could not check. */
static int audit_verdict(const world *w, const uint8_t *digest, nt_bytes token)
{
    audit__trust *trust = NULL;
    audit__pool *pool = NULL;
    record rec;
    int rc, verdict = -1;
    memset(&rec, 0, sizeof(rec));
    rec.kind = RECORD_KIND_TIMESTAMP;
    rec.alg = RECORD_ALG_SHA256;
    rec.digest = NT_BYTES(digest, 32);
    rec.token = token;
    if (audit__trust_load(&trust, w->trust_path) < 0 || audit__pool_start(&pool, trust) < 0) {
        goto done;
    }
    rc = audit__pool_submit(pool, "000000000000", 0, &rec);
    if (rc == 0) {
        rc = audit__pool_drain(pool);
    }
    verdict = rc == 0 ? 1 : rc == NT_EVERIFY ? 0 : -1;
done:
    audit__pool_stop(pool);
    audit__trust_free(trust);
    return verdict;
}

/* The offline verifier's verdict on a one-leaf log holding (digest, token). */
static int verifier_verdict(const world *w, const uint8_t *digest, nt_bytes token, const char **sub)
{
    fx_log log;
    receipt r;
    nt_buf leaf = NT_BUF_INIT, json = NT_BUF_INIT, vkey = NT_BUF_INIT, hex = NT_BUF_INIT;
    nt_buf dig = NT_BUF_INIT;
    verifier_options o;
    verifier_report *rep = NULL;
    int verdict = -1;

    receipt_init(&r);
    memset(&o, 0, sizeof(o));
    *sub = NULL;
    if (fx_log_new(&log, ORIGIN) < 0 ||
        fx_leaf(&leaf, RECORD_ALG_SHA256, digest, 32, token, NT_BYTES(NULL, 0)) < 0 ||
        fx_log_append(&log, leaf.ptr, leaf.len) < 0 ||
        /* no certificate in the receipt: both judge the token's own certificates */
        fx_log_receipt(&r, &log, 0, leaf.ptr, leaf.len, token, NULL) < 0 ||
        receipt_encode(&json, &r) < 0 || fx_log_vkey(&vkey, &log) < 0 ||
        nt_hex_encode(&hex, digest, 32) < 0 ||
        nt_buf_printf(&dig, "sha256:%s", nt_buf_cstr(&hex)) < 0) {
        goto done;
    }
    o.digest = nt_buf_cstr(&dig);
    o.receipt = nt_buf_bytes(&json);
    o.trust = nt_buf_bytes(&w->trust_pem);
    o.log_key = nt_buf_bytes(&vkey);
    o.now = w->now;
    o.command_line = "token_verdicts_test";
    if (verifier_run(&rep, &o) < 0) {
        goto done;
    }
    verdict = verifier_report_indication(rep) == VERIFIER_PASSED ? 1 : 0;
    *sub = verifier_report_subindication(rep);
done:
    verifier_report_free(rep);
    receipt_dispose(&r);
    fx_log_dispose(&log);
    nt_buf_dispose(&leaf);
    nt_buf_dispose(&json);
    nt_buf_dispose(&vkey);
    nt_buf_dispose(&hex);
    nt_buf_dispose(&dig);
    return verdict;
}

static void expect(const world *w, const char *name, const uint8_t *digest, nt_bytes token,
                   int want)
{
    const char *sub = NULL;
    int a = audit_verdict(w, digest, token);
    int v = verifier_verdict(w, digest, token, &sub);
    CHECK(a == want);
    CHECK(v == want);
    if (getenv("NT_TEST_VERBOSE") != NULL || a != want || v != want) {
        fprintf(stderr, "  case '%s': want %s, audit %d, verifier %d (%s): %s\n", name,
                want ? "pass" : "fail", a, v, sub != NULL ? sub : "-", nt_error_last());
    }
}

static void mint(nt_buf *out, EVP_PKEY *key, X509 *cert, const uint8_t *digest, time_t gen)
{
    nt_buf_clear(out);
    REQUIRE(fx_token(out, key, cert, NULL, NID_sha256, digest, 32, gen) == 0);
}

/* `tok` with its certificates replaced by `cert` alone (signature and ESS attribute unchanged). */
static void swap_cert(nt_buf *out, const nt_buf *tok, X509 *cert)
{
    const unsigned char *p = tok->ptr;
    unsigned char *der = NULL;
    PKCS7 *p7 = d2i_PKCS7(NULL, &p, (long)tok->len);
    int len;
    REQUIRE(p7 != NULL && PKCS7_type_is_signed(p7));
    sk_X509_pop_free(p7->d.sign->cert, X509_free);
    p7->d.sign->cert = NULL;
    REQUIRE(PKCS7_add_certificate(p7, cert) == 1);
    REQUIRE((len = i2d_PKCS7(p7, &der)) > 0);
    REQUIRE(nt_buf_set(out, der, (size_t)len) == 0);
    OPENSSL_free(der);
    PKCS7_free(p7);
}

/*
 * A token whose signer certificate lacks the timeStamping EKU.  TS_RESP_CTX refuses such a
 * signer, so the token is made by a good certificate of the same key, and its signature, ESS
 * attribute and embedded certificate then redone for the bad one: PKCS7 by hand.
 */
static void mint_by_hand(nt_buf *out, world *w, const uint8_t *digest, X509 *cert)
{
    nt_buf good = NT_BUF_INIT;
    const unsigned char *p;
    PKCS7 *old = NULL, *p7 = NULL;
    TS_TST_INFO *tst = NULL;
    PKCS7_SIGNER_INFO *si;
    ESS_SIGNING_CERT_V2 *ess = NULL;
    ASN1_STRING *seq = NULL;
    unsigned char *der = NULL, *ess_der = NULL;
    BIO *bio = NULL;
    int len;

    mint(&good, w->ec.tsa_key, w->ec.tsa, digest, w->now - 60);
    p = good.ptr;
    REQUIRE((old = d2i_PKCS7(NULL, &p, (long)good.len)) != NULL);
    REQUIRE((tst = PKCS7_to_TS_TST_INFO(old)) != NULL);
    REQUIRE((len = i2d_TS_TST_INFO(tst, &der)) > 0);
    /* the same SignedData as ts_RESP_sign builds, signed as `cert` (of ec.tsa_key) */
    REQUIRE((p7 = PKCS7_new()) != NULL && PKCS7_set_type(p7, NID_pkcs7_signed) == 1);
    REQUIRE(ASN1_INTEGER_set(p7->d.sign->version, 3) == 1);
    REQUIRE(PKCS7_add_certificate(p7, cert) == 1);
    REQUIRE((si = PKCS7_add_signature(p7, cert, w->ec.tsa_key, EVP_sha256())) != NULL);
    REQUIRE(PKCS7_add_signed_attribute(si, NID_pkcs9_contentType, V_ASN1_OBJECT,
                                       OBJ_nid2obj(NID_id_smime_ct_TSTInfo)) == 1);
    REQUIRE((ess = OSSL_ESS_signing_cert_v2_new_init(EVP_sha256(), cert, NULL, 0)) != NULL);
    int ess_len = i2d_ESS_SIGNING_CERT_V2(ess, &ess_der);
    REQUIRE(ess_len > 0 && (seq = ASN1_STRING_new()) != NULL &&
            ASN1_STRING_set(seq, ess_der, ess_len) == 1);
    REQUIRE(PKCS7_add_signed_attribute(si, NID_id_smime_aa_signingCertificateV2, V_ASN1_SEQUENCE,
                                       seq) == 1);
    seq = NULL; /* owned by the attribute */
    {
        PKCS7 *content = PKCS7_new();
        ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
        REQUIRE(content != NULL && os != NULL);
        REQUIRE(PKCS7_set_content(p7, content) == 1);
        content->type = OBJ_nid2obj(NID_id_smime_ct_TSTInfo);
        content->d.other = ASN1_TYPE_new();
        REQUIRE(content->d.other != NULL);
        ASN1_TYPE_set(content->d.other, V_ASN1_OCTET_STRING, os);
    }
    REQUIRE((bio = PKCS7_dataInit(p7, NULL)) != NULL);
    REQUIRE(BIO_write(bio, der, len) == len);
    REQUIRE(PKCS7_dataFinal(p7, bio) == 1);
    OPENSSL_free(der);
    der = NULL;
    REQUIRE((len = i2d_PKCS7(p7, &der)) > 0);
    nt_buf_clear(out);
    REQUIRE(nt_buf_put(out, der, (size_t)len) == 0);
    OPENSSL_free(der);
    OPENSSL_free(ess_der);
    ESS_SIGNING_CERT_V2_free(ess);
    BIO_free_all(bio);
    PKCS7_free(p7);
    PKCS7_free(old);
    TS_TST_INFO_free(tst);
    nt_buf_dispose(&good);
}

/*
 * A trust bundle whose second certificate is damaged: both refuse it by name (util/x509.c)
 * instead of trusting the first certificate alone, as their PEM loops once did.
 */
static void test_damaged_trust(world *w)
{
    nt_buf pem = NT_BUF_INIT, path = NT_BUF_INIT, json = NT_BUF_INIT, vkey = NT_BUF_INIT;
    audit__trust *trust = NULL;
    verifier_report *rep = NULL;
    verifier_options o;
    fx_log log;
    receipt r;
    nt_buf leaf = NT_BUF_INIT, tok = NT_BUF_INIT;
    char *body;

    REQUIRE(nt_buf_set(&pem, w->trust_pem.ptr, w->trust_pem.len) == 0);
    REQUIRE(fx_pem_cert(&pem, w->ec.tsa) == 0);
    body = strstr((char *)pem.ptr + w->trust_pem.len, "-----BEGIN CERTIFICATE-----\n");
    REQUIRE(body != NULL);
    body[60] = '*';
    REQUIRE(nt_buf_printf(&path, "%s/damaged.pem", w->dir) == 0);
    REQUIRE(nt_file_write_atomic(nt_buf_cstr(&path), pem.ptr, pem.len, 0600) == 0);
    CHECK_ERR(audit__trust_load(&trust, nt_buf_cstr(&path)), NT_EINVAL);
    CHECK(strstr(nt_error_last(), "--trust ") != NULL &&
          strstr(nt_error_last(), "malformed certificate") != NULL);
    audit__trust_free(trust);

    receipt_init(&r);
    memset(&o, 0, sizeof(o));
    mint(&tok, w->ec.tsa_key, w->ec.tsa, w->digest, w->now - 60);
    REQUIRE(fx_log_new(&log, ORIGIN) == 0);
    REQUIRE(fx_leaf(&leaf, RECORD_ALG_SHA256, w->digest, 32, nt_buf_bytes(&tok),
                    NT_BYTES(NULL, 0)) == 0);
    REQUIRE(fx_log_append(&log, leaf.ptr, leaf.len) == 0);
    REQUIRE(fx_log_receipt(&r, &log, 0, leaf.ptr, leaf.len, nt_buf_bytes(&tok), NULL) == 0);
    REQUIRE(receipt_encode(&json, &r) == 0 && fx_log_vkey(&vkey, &log) == 0);
    o.digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    o.receipt = nt_buf_bytes(&json);
    o.trust = nt_buf_bytes(&pem);
    o.log_key = nt_buf_bytes(&vkey);
    o.now = w->now;
    CHECK_ERR(verifier_run(&rep, &o), NT_EINVAL);
    CHECK(strstr(nt_error_last(), "--trust ") != NULL &&
          strstr(nt_error_last(), "malformed certificate") != NULL);
    /* positive twin: the undamaged bundle is read by both */
    REQUIRE(nt_buf_set(&pem, w->trust_pem.ptr, w->trust_pem.len) == 0);
    REQUIRE(fx_pem_cert(&pem, w->ec.tsa) == 0);
    REQUIRE(nt_file_write_atomic(nt_buf_cstr(&path), pem.ptr, pem.len, 0600) == 0);
    CHECK_OK(audit__trust_load(&trust, nt_buf_cstr(&path)));
    audit__trust_free(trust);
    o.trust = nt_buf_bytes(&pem);
    CHECK_OK(verifier_run(&rep, &o));
    verifier_report_free(rep);

    receipt_dispose(&r);
    fx_log_dispose(&log);
    nt_buf_dispose(&pem);
    nt_buf_dispose(&path);
    nt_buf_dispose(&json);
    nt_buf_dispose(&vkey);
    nt_buf_dispose(&leaf);
    nt_buf_dispose(&tok);
}

int main(void)
{
    world w;
    nt_buf tok = NT_BUF_INIT, bad = NT_BUF_INIT;
    setenv("NT_AUDIT_THREADS", "1", 1);
    world_make(&w);

    /* good tokens */
    mint(&tok, w.ec.tsa_key, w.ec.tsa, w.digest, w.now - 60);
    expect(&w, "good P-256", w.digest, nt_buf_bytes(&tok), 1);
    mint(&bad, w.rsa_key, w.rsa_tsa, w.digest, w.now - 60);
    expect(&w, "good RSA", w.digest, nt_buf_bytes(&bad), 1);
    mint(&bad, w.ec.tsa_key, w.expired, w.digest, w.now - 15 * FX_DAY);
    expect(&w, "made while its certificate was valid, expired since", w.digest, nt_buf_bytes(&bad),
           1);

    /* the same token, damaged */
    REQUIRE(nt_buf_set(&bad, tok.ptr, tok.len) == 0);
    bad.ptr[bad.len - 1] ^= 0x01; /* the last byte of the signature */
    expect(&w, "flipped signature byte", w.digest, nt_buf_bytes(&bad), 0);
    expect(&w, "wrong imprint", w.other_digest, nt_buf_bytes(&tok), 0);
    expect(&w, "truncated", w.digest, NT_BYTES(tok.ptr, tok.len - 7), 0);
    expect(&w, "truncated to its first half", w.digest, NT_BYTES(tok.ptr, tok.len / 2), 0);
    REQUIRE(nt_buf_set(&bad, tok.ptr, tok.len) == 0 && nt_buf_put(&bad, "\x00\x00", 2) == 0);
    expect(&w, "trailing garbage", w.digest, nt_buf_bytes(&bad), 0);

    /* the wrong signer */
    swap_cert(&bad, &tok, w.rsa_tsa);
    expect(&w, "carrying another certificate than its signer's", w.digest, nt_buf_bytes(&bad), 0);
    mint(&bad, w.other.tsa_key, w.other.tsa, w.digest, w.now - 60);
    expect(&w, "signer under another root", w.digest, nt_buf_bytes(&bad), 0);
    mint(&bad, w.ec.tsa_key, w.expired, w.digest, w.now - 5 * FX_DAY);
    expect(&w, "certificate expired at genTime", w.digest, nt_buf_bytes(&bad), 0);
    mint(&bad, w.ec.tsa_key, w.expired, w.digest, w.now - 25 * FX_DAY);
    expect(&w, "certificate not yet valid at genTime", w.digest, nt_buf_bytes(&bad), 0);
    mint_by_hand(&bad, &w, w.digest, w.ec.tsa); /* positive twin: the hand-made token is sound */
    expect(&w, "made by hand, good signer", w.digest, nt_buf_bytes(&bad), 1);
    mint_by_hand(&bad, &w, w.digest, w.no_eku);
    expect(&w, "signer without the timeStamping EKU", w.digest, nt_buf_bytes(&bad), 0);

    test_damaged_trust(&w);

    nt_buf_dispose(&tok);
    nt_buf_dispose(&bad);
    world_dispose(&w);
    return TEST_END();
}
