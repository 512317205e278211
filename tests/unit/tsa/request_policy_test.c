/*
 * request_policy_test.c - what several signing identities rest on in the TSA
 * core: tsa_request_policy (tsa/request_policy.c) reads a request's reqPolicy
 * ("" without one, for garbage, a truncated or an over-long request), and
 * tsa_new_shared (tsa/token.c) gives identities one sequence: serials of two
 * sibling tsa objects (EC and RSA keys) never repeat, genTime never runs
 * backwards from one to the other, the sequence outlives the first sibling,
 * and a sibling of another boot epoch or precision is refused.  The twin: two
 * tsa objects made apart do repeat the structural part of the serial.
 */
#include "tests/unit/tsa/tsa_fixture.h"

static void test_request_policy(void)
{
    nt_buf der = NT_BUF_INIT;
    fx_req o = fx_req_default();
    char out[128];

    o.policy = FX_POLICY2;
    fx_request(&der, NULL, &o);
    tsa_request_policy(out, sizeof(out), nt_buf_bytes(&der));
    CHECK_STR(out, FX_POLICY2);
    /* too small a buffer: nothing rather than a cut OID */
    tsa_request_policy(out, 8, nt_buf_bytes(&der));
    CHECK_STR(out, "");
    /* truncated: no policy (tsa_respond answers it) */
    tsa_request_policy(out, sizeof(out), NT_BYTES(der.ptr, der.len - 1));
    CHECK_STR(out, "");
    nt_buf_clear(&der);

    o.policy = NULL;
    fx_request(&der, NULL, &o);
    strcpy(out, "x");
    tsa_request_policy(out, sizeof(out), nt_buf_bytes(&der));
    CHECK_STR(out, "");
    tsa_request_policy(out, sizeof(out), NT_BYTES("garbage", 7));
    CHECK_STR(out, "");
    tsa_request_policy(out, sizeof(out), NT_BYTES(NULL, 0));
    CHECK_STR(out, "");
    nt_buf_dispose(&der);
}

static void issue(tsa_result *r, tsa *t, uint8_t serial[TSA_SERIAL_BYTES], uint64_t *ns)
{
    static const uint8_t d[32] = {9, 8, 7};
    tsa_result_init(r);
    CHECK_OK(tsa_issue_digest(r, t, RECORD_ALG_SHA256, NT_BYTES(d, sizeof(d))));
    REQUIRE(r->granted && r->serial.len <= TSA_SERIAL_BYTES);
    memset(serial, 0, TSA_SERIAL_BYTES);
    memcpy(serial + TSA_SERIAL_BYTES - r->serial.len, r->serial.ptr, r->serial.len);
    *ns = (uint64_t)r->gen_time.tv_sec * 1000000000u + (uint64_t)r->gen_time.tv_nsec;
    tsa_result_dispose(r);
}

static void test_shared(const certs_signer *ec, const certs_signer *rsa)
{
    tsa_config cfg;
    tsa *a = NULL, *b = NULL, *c = NULL, *x = NULL;
    tsa_result r;
    uint8_t s[40][TSA_SERIAL_BYTES], sx[TSA_SERIAL_BYTES];
    uint64_t ns, last = 0;
    struct timespec floor = {4000000000, 0}; /* far ahead: every genTime must follow it */

    fx_config(&cfg);
    cfg.boot_epoch = 5;
    REQUIRE(tsa_new(&a, &cfg, ec) == 0);
    cfg.policy = FX_POLICY2;
    REQUIRE(tsa_new_shared(&b, &cfg, rsa, a) == 0);
    tsa_gen_time_floor(a, &floor); /* raised on one, seen by the other */
    for (size_t i = 0; i < 40; i++) {
        issue(&r, i % 2 ? b : a, s[i], &ns);
        CHECK(ns > last || (ns == last && !cfg.ordering));
        CHECK(ns >= (uint64_t)floor.tv_sec * 1000000000u);
        last = ns;
        for (size_t j = 0; j < i; j++) {
            CHECK(memcmp(s[i], s[j], TSA_SERIAL_BYTES) != 0);
        }
    }
    /* the sequence outlives its first tsa */
    tsa_free(a);
    issue(&r, b, sx, &ns);
    CHECK(ns >= last);
    for (size_t j = 0; j < 40; j++) {
        CHECK(memcmp(sx, s[j], 14) != 0); /* node, epoch and counter differ */
    }
    /* refused: another boot epoch or precision would break the one sequence */
    cfg.boot_epoch = 6;
    CHECK_ERR(tsa_new_shared(&c, &cfg, ec, b), NT_EINVAL);
    CHECK(c == NULL);
    cfg.boot_epoch = 5;
    cfg.precision_digits = 6;
    CHECK_ERR(tsa_new_shared(&c, &cfg, ec, b), NT_EINVAL);
    cfg.precision_digits = 3;

    /* the twin: made apart, the structural part (node, epoch, counter) repeats */
    REQUIRE(tsa_new(&x, &cfg, ec) == 0);
    issue(&r, x, sx, &ns);
    CHECK(memcmp(sx, s[0], 14) == 0);
    tsa_free(x);
    tsa_free(b);
}

static nt_clock_sync sync_state = NT_CLOCK_SYNCED;

int main(void)
{
    fx_pki ec, rsa;

    nt_log_set_level(NT_LOG_NONE);
    nt_clock_set_sync_source(fx_sync_fn, &sync_state);
    fx_pki_make(&ec, CERTS_KEY_EC_P256);
    fx_pki_make(&rsa, CERTS_KEY_RSA2048);
    test_request_policy();
    test_shared(ec.signer, rsa.signer);
    fx_pki_free(&ec);
    fx_pki_free(&rsa);
    nt_clock_set_sync_source(NULL, NULL);
    return TEST_END();
}
