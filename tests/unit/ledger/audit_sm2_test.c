/*
 * audit_sm2_test.c - the auditor (`notarium audit --trust`, ledger/audit_tokens.c)
 * on SM2 tokens (GB/T 20520 profile), which OpenSSL's PKCS7 code cannot check:
 * tokens of an SM2 identity of our TSA core (SM3 and SHA-256 imprints) in
 * leaves with the matching digest algorithm pass against the SM2 root; the
 * twins fail: a flipped signature byte, a changed TSTInfo (its messageDigest
 * no longer matches), and another SM2 root.
 */
#include "tests/unit/ledger/mirror_fixture.h"
/* after the fixture, which sets the feature macros */
#include "certs/certs.h"
#include "ledger/audit.h"
#include "tsa/tsa.h"

#include <stdio.h>

/* the three leaves: SM3, SHA-256 and SM3 imprints */
static const record_alg leaf_algs[3] = {RECORD_ALG_SM3, RECORD_ALG_SHA256, RECORD_ALG_SM3};
static const uint8_t leaf_digs[3][32] = {{1}, {2}, {3}};

typedef struct sm2_pki {
    char dir[300];
    char ca[400];
    char other_ca[400];
    certs_signer *signer;
} sm2_pki;

static void pki_init_at(const char *dir)
{
    certs_pki_options o = {0};
    o.dir = dir;
    o.tsa_key = CERTS_KEY_SM2;
    o.log_origin = "audit.sm2.test/log";
    REQUIRE(certs_pki_init(&o) == 0);
}

/* One granted token for `digest` (algorithm alg) into out. */
static void mint(nt_buf *out, tsa *t, record_alg alg, const uint8_t *digest)
{
    tsa_result r;
    tsa_result_init(&r);
    REQUIRE(tsa_issue_digest(&r, t, alg, NT_BYTES(digest, 32)) == 0 && r.granted);
    REQUIRE(nt_buf_set(out, r.token.ptr, r.token.len) == 0);
    tsa_result_dispose(&r);
}

static void append(fixture *f, size_t n, const nt_buf *tokens, const record_alg *algs,
                   const uint8_t (*digests)[32])
{
    nt_buf leaf = NT_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        record r = {0};
        uint64_t index;
        r.kind = RECORD_KIND_TIMESTAMP;
        r.alg = algs[i];
        r.digest = NT_BYTES(digests[i], 32);
        r.token = nt_buf_bytes(&tokens[i]);
        nt_buf_clear(&leaf);
        REQUIRE(record_encode(&leaf, &r) == 0);
        REQUIRE(ledger_append(&index, f->l, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0)) == 0);
    }
    nt_buf_dispose(&leaf);
    REQUIRE(mirror_update(NULL, f->mirror_path, f->l) == 0);
}

static int audit_with(audit_result *res, const fixture *f, const char *trust)
{
    audit_options o = {0};
    o.source = f->mirror_path;
    o.vkey = nt_buf_cstr((nt_buf *)&f->vkey);
    o.trust_path = trust;
    nt_error_clear();
    return audit_run(res, &o);
}

/* Three good tokens, token `bad` (0..2) replaced by `repl` when repl != NULL. */
static int run(audit_result *res, const nt_buf *toks, const nt_buf *repl, size_t bad,
               const char *trust)
{
    nt_buf use[3];
    fixture f;
    int rc;

    for (size_t i = 0; i < 3; i++) {
        use[i] = repl != NULL && i == bad ? *repl : toks[i];
    }
    fix_open(&f);
    append(&f, 3, use, leaf_algs, leaf_digs);
    rc = audit_with(res, &f, trust);
    fix_close(&f);
    fix_sh("rm -rf '%s'", f.dir);
    return rc;
}

int main(void)
{
    char base[256];
    sm2_pki p;
    tsa_config cfg;
    tsa *t = NULL;
    nt_buf toks[3] = {NT_BUF_INIT, NT_BUF_INIT, NT_BUF_INIT}, bad = NT_BUF_INIT;
    audit_result res;
    char cert[400], key[400], other[300];

    nt_log_set_level(NT_LOG_WARN);
    REQUIRE(test_tmpdir(base, sizeof(base)) != NULL);
    memset(&p, 0, sizeof(p));
    snprintf(p.dir, sizeof(p.dir), "%s/pki", base);
    snprintf(other, sizeof(other), "%s/other", base);
    pki_init_at(p.dir);
    pki_init_at(other);
    snprintf(p.ca, sizeof(p.ca), "%s/ca.pem", p.dir);
    snprintf(p.other_ca, sizeof(p.other_ca), "%s/ca.pem", other);
    snprintf(cert, sizeof(cert), "%s/tsa.pem", p.dir);
    snprintf(key, sizeof(key), "%s/tsa.key", p.dir);
    REQUIRE(certs_signer_load_pem(&p.signer, cert, key, NULL, p.ca) == 0);
    tsa_config_init(&cfg);
    cfg.policy = "1.3.6.1.4.1.99999.1.1";
    cfg.allow_unsynced_clock = 1;
    REQUIRE(tsa_new(&t, &cfg, p.signer) == 0);
    for (size_t i = 0; i < 3; i++) {
        mint(&toks[i], t, leaf_algs[i], leaf_digs[i]);
    }

    CHECK_OK(run(&res, toks, NULL, 0, p.ca));
    CHECK(res.leaves == 3 && res.tokens == 3);
    /* twin: another SM2 root */
    CHECK_ERR(run(&res, toks, NULL, 0, p.other_ca), NT_EVERIFY);
    CHECK(strstr(nt_error_last(), "entry 0: the token's signature does not verify") != NULL);
    /* twin: the signature's last byte */
    REQUIRE(nt_buf_set(&bad, toks[1].ptr, toks[1].len) == 0);
    bad.ptr[bad.len - 1] ^= 1;
    CHECK_ERR(run(&res, toks, &bad, 1, p.ca), NT_EVERIFY);
    CHECK(strstr(nt_error_last(), "entry 1:") != NULL &&
          strstr(nt_error_last(), "SM2 signer info: the signature does not verify") != NULL);
    /* twin: the TSTInfo's version byte (content changed, messageDigest no longer matches) */
    REQUIRE(nt_buf_set(&bad, toks[2].ptr, toks[2].len) == 0);
    for (size_t i = 0; i + 4 <= bad.len; i++) {
        if (memcmp(bad.ptr + i, "\x02\x01\x01\x06", 4) == 0) {
            bad.ptr[i + 2] = 2;
            break;
        }
    }
    CHECK_ERR(run(&res, toks, &bad, 2, p.ca), NT_EVERIFY);
    CHECK(strstr(nt_error_last(), "entry 2:") != NULL &&
          strstr(nt_error_last(), "messageDigest") != NULL);

    for (size_t i = 0; i < 3; i++) {
        nt_buf_dispose(&toks[i]);
    }
    nt_buf_dispose(&bad);
    tsa_free(t);
    certs_signer_free(p.signer);
    fix_sh("rm -rf '%s'", base);
    return TEST_END();
}
