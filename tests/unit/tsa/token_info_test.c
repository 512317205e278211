/*
 * token_info_test.c - tsa_token_info (tsa/token_info.c): the genTime (with
 * its fraction, under an injected clock) and the serial's boot epoch of
 * tokens the tsa issued, for a full-length serial and one whose leading zero
 * bytes were dropped; and the refusals (not a token, empty, truncated).
 */
#include "tests/unit/tsa/tsa_fixture.h"

static nt_clock_sync sync_state = NT_CLOCK_SYNCED;

static void check_one(const certs_signer *signer, uint16_t node, uint32_t epoch)
{
    static const uint8_t d[32] = {9, 8, 7};
    tsa_config cfg;
    tsa *t = NULL;
    tsa_result r;
    fx_clock clk;
    uint64_t gen = 0;
    uint32_t got = 0;

    fx_config(&cfg);
    cfg.node_id = node;
    cfg.boot_epoch = epoch;
    cfg.precision_digits = 3;
    clk.now.tv_sec = 1796191761;
    clk.now.tv_nsec = 923456789;
    nt_clock_set_source(fx_clock_fn, &clk);
    REQUIRE(tsa_new(&t, &cfg, signer) == 0);
    tsa_result_init(&r);
    REQUIRE(tsa_issue_digest(&r, t, RECORD_ALG_SHA256, NT_BYTES(d, sizeof(d))) == 0 && r.granted);
    CHECK_OK(tsa_token_info(&gen, &got, nt_buf_bytes(&r.token)));
    CHECK(gen == 1796191761923000000ull);
    CHECK(got == epoch);
    /* negative twins: the response (not the token), a truncated token, nothing */
    CHECK_ERR(tsa_token_info(&gen, &got, nt_buf_bytes(&r.response)), NT_EINVAL);
    CHECK_ERR(tsa_token_info(&gen, &got, NT_BYTES(r.token.ptr, r.token.len - 1)), NT_EINVAL);
    CHECK_ERR(tsa_token_info(&gen, &got, NT_BYTES(NULL, 0)), NT_EINVAL);
    tsa_result_dispose(&r);
    tsa_free(t);
    nt_clock_set_source(NULL, NULL);
}

int main(void)
{
    fx_pki pki;

    nt_log_set_level(NT_LOG_NONE);
    nt_clock_set_sync_source(fx_sync_fn, &sync_state);
    fx_pki_make(&pki, CERTS_KEY_EC_P256);
    check_one(pki.signer, 0x1234, 0xa1b2c3d4u);
    check_one(pki.signer, 0, 7); /* short serial: leading zero bytes dropped */
    nt_clock_set_sync_source(NULL, NULL);
    fx_pki_free(&pki);
    return TEST_END();
}
