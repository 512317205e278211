/*
 * audit_tokens_test.c - the auditor's token checks (ledger/audit.c, --trust):
 * real RFC 3161 tokens made by an independent TSA (`openssl ts -reply`, under
 * faketime for the old ones) are put into leaves, mirrored, and audited.
 * Positive cases and their twins: tokens with and without certificates (the
 * latter helped by a TSA certificate in --trust, and refused without it), an
 * expired TSA certificate that still verifies its old tokens and fails a token
 * made after it expired, the wrong anchor, a leaf digest that is not the
 * token's imprint, and a flipped signature byte at two entries of a run longer
 * than the worker pool's queue, where the lower entry must be reported every
 * time (with one worker and with several); allocation failure in a worker's
 * token check is NT_ENOMEM, not a failed check.
 */
#include "ledger/audit.h"
#include "tests/unit/ledger/mirror_fixture.h"

#include <stdio.h>
#include <stdlib.h>

#define KINDS 8

typedef struct pki {
    char dir[300];
    char trust[400];     /* ca.pem */
    char trust_tsa[400]; /* ca.pem + tsa.pem */
    char trust_other[400];
    uint8_t digest[KINDS][32];
    nt_buf good[KINDS]; /* tsa.pem, with its certificate, digest k */
    nt_buf nocert;      /* tsa.pem, no certificate, digest 0 */
    nt_buf old_then;    /* old.pem (valid January 2020 only), made 2020-01-10, digest 0 */
    nt_buf old_now;     /* old.pem, made now (after it expired), digest 0 */
} pki;

static void mint(nt_buf *out, const pki *p, unsigned k, const char *signer, int cert,
                 const char *when)
{
    nt_buf hex = NT_BUF_INIT;
    REQUIRE(nt_hex_encode(&hex, p->digest[k], sizeof(p->digest[k])) == 0); /* NUL-terminated */
    REQUIRE(fix_sh("cd '%s' && openssl ts -query -digest %s -sha256 %s -out q.tsq 2>/dev/null && "
                   "%s%s%s openssl ts -reply -config ts.cnf -queryfile q.tsq -signer %s "
                   "-inkey tsa.key -token_out -out tok.der >/dev/null 2>&1",
                   p->dir, (const char *)hex.ptr, cert ? "-cert" : "",
                   when != NULL ? "faketime '" : "", when != NULL ? when : "",
                   when != NULL ? "'" : "", signer) == 0);
    nt_buf_dispose(&hex);
    char path[400];
    snprintf(path, sizeof(path), "%s/tok.der", p->dir);
    REQUIRE(nt_file_read(out, path, 1u << 20) == 0);
}

static void pki_make(pki *p, const char *base)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->dir, sizeof(p->dir), "%s/pki", base);
    snprintf(p->trust, sizeof(p->trust), "%s/ca.pem", p->dir);
    snprintf(p->trust_tsa, sizeof(p->trust_tsa), "%s/ca-tsa.pem", p->dir);
    snprintf(p->trust_other, sizeof(p->trust_other), "%s/other.pem", p->dir);
    /* The CA is valid from 2019, so the old TSA certificate (January 2020) chains to it. */
    REQUIRE(
        fix_sh("(mkdir -p '%s' && cd '%s' && ec='-newkey ec -pkeyopt ec_paramgen_curve:P-256 "
               "-nodes' && ca='-addext basicConstraints=critical,CA:TRUE -addext "
               "keyUsage=critical,keyCertSign' && "
               "faketime '2019-06-01 00:00:00' openssl req -x509 $ec -keyout ca.key -out ca.pem "
               "-subj '/CN=Audit Test CA' -days 7300 $ca && "
               "openssl req -x509 $ec -keyout other.key -out other.pem -subj '/CN=Audit Test CA' "
               "-days 7300 $ca && "
               "openssl req -new $ec -keyout tsa.key -out tsa.csr -subj '/CN=Audit Test TSA' && "
               "printf 'extendedKeyUsage=critical,timeStamping\\nbasicConstraints=CA:FALSE\\n"
               "keyUsage=critical,digitalSignature\\n' >ext.cnf && "
               "openssl x509 -req -in tsa.csr -CA ca.pem -CAkey ca.key -set_serial 2 -days 3650 "
               "-extfile ext.cnf -out tsa.pem && "
               "faketime '2020-01-01 00:00:00' openssl x509 -req -in tsa.csr -CA ca.pem -CAkey "
               "ca.key -set_serial 3 -days 30 -extfile ext.cnf -out old.pem && "
               "cat ca.pem tsa.pem >ca-tsa.pem && echo 01 >serial && "
               "printf '[tsa]\\ndefault_tsa=t\\n[t]\\nserial=%s/serial\\ncrypto_device=builtin\\n"
               "signer_digest=sha256\\ndefault_policy=1.2.3.4.1\\ndigests=sha256\\n"
               "ess_cert_id_alg=sha256\\ness_cert_id_chain=no\\n' \"$PWD\" >ts.cnf)"
               " >/dev/null 2>&1",
               p->dir, p->dir, "%s") == 0);
    for (unsigned k = 0; k < KINDS; k++) {
        uint8_t in[4] = {'t', 'o', 'k', (uint8_t)k};
        REQUIRE(EVP_Digest(in, sizeof(in), p->digest[k], NULL, EVP_sha256(), NULL) == 1);
        mint(&p->good[k], p, k, "tsa.pem", 1, NULL);
    }
    mint(&p->nocert, p, 0, "tsa.pem", 0, NULL);
    mint(&p->old_then, p, 0, "old.pem", 1, "2020-01-10 00:00:00");
    mint(&p->old_now, p, 0, "old.pem", 1, NULL);
}

static void pki_dispose(pki *p)
{
    for (unsigned k = 0; k < KINDS; k++) {
        nt_buf_dispose(&p->good[k]);
    }
    nt_buf_dispose(&p->nocert);
    nt_buf_dispose(&p->old_then);
    nt_buf_dispose(&p->old_now);
}

/* Leaf i carries tokens[i] (borrowed) over digests[i]. */
static void append_tokens(fixture *f, size_t n, const nt_buf *const *tokens,
                          const uint8_t *const *digests)
{
    nt_buf leaf = NT_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        record r = {0};
        r.kind = RECORD_KIND_TIMESTAMP;
        r.alg = RECORD_ALG_SHA256;
        r.digest = NT_BYTES(digests[i], 32);
        r.token = nt_buf_bytes(tokens[i]);
        nt_buf_clear(&leaf);
        REQUIRE(record_encode(&leaf, &r) == 0);
        uint64_t index;
        REQUIRE(ledger_append(&index, f->l, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0)) == 0);
    }
    nt_buf_dispose(&leaf);
    REQUIRE(mirror_update(NULL, f->mirror_path, f->l) == 0);
}

static int audit_trust(audit_result *res, const fixture *f, const char *trust)
{
    audit_options o = {0};
    o.source = f->mirror_path;
    o.vkey = nt_buf_cstr((nt_buf *)&f->vkey);
    o.trust_path = trust;
    nt_error_clear();
    return audit_run(res, &o);
}

static void expect_token_fail(const fixture *f, const char *trust, const char *a, const char *b)
{
    audit_result res;
    CHECK_ERR(audit_trust(&res, f, trust), NT_EVERIFY);
    int ok = strstr(nt_error_last(), a) != NULL && (b == NULL || strstr(nt_error_last(), b));
    CHECK(ok);
    if (!ok) {
        fprintf(stderr, "  message \"%s\" lacks \"%s\" / \"%s\"\n", nt_error_last(), a,
                b != NULL ? b : "");
    }
}

/* Many leaves (more than the pool's queue), every kind of good token; then two bad ones. */
static void test_many(const pki *p)
{
    enum { N = 1500 };
    const nt_buf **toks = nt_calloc(N, sizeof(*toks));
    const uint8_t **digs = nt_calloc(N, sizeof(*digs));
    REQUIRE(toks != NULL && digs != NULL);
    for (size_t i = 0; i < N; i++) {
        toks[i] = &p->good[i % KINDS];
        digs[i] = p->digest[i % KINDS];
    }
    fixture f;
    fix_open(&f);
    append_tokens(&f, N, toks, digs);
    audit_result res;
    CHECK_OK(audit_trust(&res, &f, p->trust));
    CHECK(res.leaves == N && res.tokens == N);
    /* the twin without --trust checks nothing */
    CHECK_OK(audit_trust(&res, &f, NULL));
    CHECK(res.tokens == 0);
    /* the wrong anchor: the first entry fails */
    expect_token_fail(&f, p->trust_other, "entry 0: the token's signature does not verify",
                      "certificate verify error");
    fix_close(&f);
    fix_sh("rm -rf '%s'", f.dir);

    /* the same run with a flipped signature byte at entries 1100 and 1300 */
    nt_buf bad = NT_BUF_INIT;
    REQUIRE(nt_buf_set(&bad, p->good[1100 % KINDS].ptr, p->good[1100 % KINDS].len) == 0);
    bad.ptr[bad.len - 1] ^= 0x01;
    toks[1100] = &bad;
    toks[1300] = &bad;
    digs[1300] = p->digest[1100 % KINDS];
    fixture g;
    fix_open(&g);
    append_tokens(&g, N, toks, digs);
    for (int run = 0; run < 3; run++) {
        /* one worker, two, the default: the lowest failing entry, always */
        setenv("NT_AUDIT_THREADS", run == 0 ? "1" : run == 1 ? "2" : "", 1);
        expect_token_fail(&g, p->trust, "entry 1100: the token's signature does not verify",
                          "bad signature");
    }
    unsetenv("NT_AUDIT_THREADS");
    fix_close(&g);
    fix_sh("rm -rf '%s'", g.dir);
    nt_buf_dispose(&bad);
    nt_free(toks);
    nt_free(digs);
}

/* Tokens without certificates need the TSA certificate in --trust. */
static void test_no_certificates(const pki *p)
{
    const nt_buf *toks[3] = {&p->good[0], &p->nocert, &p->good[1]};
    const uint8_t *digs[3] = {p->digest[0], p->digest[0], p->digest[1]};
    fixture f;
    fix_open(&f);
    append_tokens(&f, 3, toks, digs);
    audit_result res;
    CHECK_OK(audit_trust(&res, &f, p->trust_tsa));
    CHECK(res.tokens == 3);
    expect_token_fail(&f, p->trust, "entry 1: the token's signature does not verify",
                      "neither in the token nor in --trust");
    fix_close(&f);
    fix_sh("rm -rf '%s'", f.dir);
}

/* Validity is judged at genTime: an expired certificate still verifies its old tokens. */
static void test_expired_certificate(const pki *p)
{
    const nt_buf *toks[3] = {&p->good[0], &p->old_then, &p->good[2]};
    const uint8_t *digs[3] = {p->digest[0], p->digest[0], p->digest[2]};
    fixture f;
    fix_open(&f);
    append_tokens(&f, 3, toks, digs);
    audit_result res;
    CHECK_OK(audit_trust(&res, &f, p->trust));
    CHECK(res.tokens == 3);
    /* made with the same certificate after it expired */
    const nt_buf *toks2[2] = {&p->old_then, &p->old_now};
    append_tokens(&f, 2, toks2, digs);
    expect_token_fail(&f, p->trust, "entry 4: the token's signature does not verify",
                      "certificate has expired at the token's genTime");
    fix_close(&f);
    fix_sh("rm -rf '%s'", f.dir);
}

/*
 * Out of memory in a worker's token check is NT_ENOMEM (exit 2: the audit could not be
 * done), never NT_EVERIFY ("FAILED": tampering).  Every allocation from the n-th on fails,
 * for each n until the audit passes; with one worker, some n hit the worker's token check
 * first, and its code and message must reach the caller whole.
 */
static void test_alloc_failure(const pki *p)
{
    const nt_buf *toks[3] = {&p->good[0], &p->good[1], &p->good[2]};
    const uint8_t *digs[3] = {p->digest[0], p->digest[1], p->digest[2]};
    fixture f;
    fix_open(&f);
    append_tokens(&f, 3, toks, digs);
    setenv("NT_AUDIT_THREADS", "1", 1);
    unsigned long n;
    int worker_enomem = 0, everify = 0;
    for (n = 1; n < 100000; n++) {
        audit_result res;
        nt_mem_fail_after(n);
        int rc = audit_trust(&res, &f, p->trust);
        nt_mem_fail_after(0);
        if (rc == 0) {
            CHECK(res.tokens == 3);
            break;
        }
        if (rc != NT_ENOMEM) {
            everify++;
            fprintf(stderr, "  allocation %lu: %s (%d): %s\n", n, nt_error_name(rc), rc,
                    nt_error_last());
            continue;
        }
        worker_enomem += strstr(nt_error_last(), ": entry ") != NULL &&
                         strstr(nt_error_last(), "out of memory") != NULL;
    }
    unsetenv("NT_AUDIT_THREADS");
    CHECK(n < 100000);        /* it passes once allocations succeed */
    CHECK(everify == 0);      /* no allocation failure is reported as anything but NT_ENOMEM */
    CHECK(worker_enomem > 0); /* and some came from the worker's token check */
    fprintf(stderr, "  alloc failure: %lu allocations, %d in a token check\n", n - 1,
            worker_enomem);
    fix_close(&f);
    fix_sh("rm -rf '%s'", f.dir);
}

/* The token must be for the leaf's digest. */
static void test_imprint(const pki *p)
{
    const nt_buf *toks[2] = {&p->good[0], &p->good[1]};
    const uint8_t *digs[2] = {p->digest[0], p->digest[2]};
    fixture f;
    fix_open(&f);
    append_tokens(&f, 1, toks, digs);
    audit_result res;
    CHECK_OK(audit_trust(&res, &f, p->trust));
    append_tokens(&f, 1, toks + 1, digs + 1);
    expect_token_fail(&f, p->trust, "entry 1: the token's message imprint is not the leaf's", NULL);
    fix_close(&f);
    fix_sh("rm -rf '%s'", f.dir);
}

int main(void)
{
    char base[256];
    REQUIRE(test_tmpdir(base, sizeof(base)) != NULL);
    pki p;
    pki_make(&p, base);
    test_many(&p);
    test_no_certificates(&p);
    test_expired_certificate(&p);
    test_imprint(&p);
    test_alloc_failure(&p);
    pki_dispose(&p);
    fix_sh("rm -rf '%s'", base);
    return TEST_END();
}
