/*
 * response_test.c - tsa/response.c: TimeStampResp encoding checked by
 * OpenSSL's decoder (d2i_TS_RESP) and against exact DER bytes: every
 * failure bit alone with its statusString, a rejection without text, the
 * granted wrapper around a token, and the names of the failure bits; the
 * negative twins are a token that is not a ContentInfo and out-of-range bits.
 */
#include "tests/unit/tsa/tsa_fixture.h"

static const tsa_fail ALL_FAILS[] = {
    TSA_FAIL_BAD_ALG,
    TSA_FAIL_BAD_REQUEST,
    TSA_FAIL_BAD_DATA_FORMAT,
    TSA_FAIL_TIME_NOT_AVAILABLE,
    TSA_FAIL_UNACCEPTED_POLICY,
    TSA_FAIL_UNACCEPTED_EXTENSION,
    TSA_FAIL_ADD_INFO_NOT_AVAILABLE,
    TSA_FAIL_SYSTEM_FAILURE,
};

static void test_rejections(void)
{
    nt_buf out = NT_BUF_INIT;
    unsigned long bits;
    char text[200];

    for (size_t i = 0; i < NT_ARRAY_LEN(ALL_FAILS); i++) {
        CHECK_OK(tsa_response_rejection(&out, ALL_FAILS[i], "some reason"));
        CHECK(fx_status(nt_buf_bytes(&out), &bits, text, sizeof(text)) == 2);
        CHECK(bits == 1ul << ALL_FAILS[i]);
        CHECK_STR(text, "some reason");
    }
    /* exact DER for badAlg (bit 0) and systemFailure (bit 25, 4th octet) */
    CHECK_OK(tsa_response_rejection(&out, TSA_FAIL_BAD_ALG, "x"));
    CHECK(out.len == 16);
    CHECK_MEM(out.ptr, "\x30\x0e\x30\x0c\x02\x01\x02\x30\x03\x0c\x01x\x03\x02\x07\x80", 16);
    CHECK_OK(tsa_response_rejection(&out, TSA_FAIL_SYSTEM_FAILURE, NULL));
    CHECK(out.len == 14);
    CHECK_MEM(out.ptr, "\x30\x0c\x30\x0a\x02\x01\x02\x03\x05\x06\x00\x00\x00\x40", 14);
    /* no failure bit, no text: a bare rejection */
    CHECK_OK(tsa_response_rejection(&out, TSA_FAIL_NONE, ""));
    CHECK(out.len == 7 && memcmp(out.ptr, "\x30\x05\x30\x03\x02\x01\x02", 7) == 0);
    CHECK(fx_status(nt_buf_bytes(&out), &bits, text, sizeof(text)) == 2 && bits == 0);
    /* non-ASCII text is made printable, long text gets a long-form length */
    {
        char long_text[300];
        memset(long_text, 'a', sizeof(long_text) - 1);
        long_text[sizeof(long_text) - 1] = '\0';
        long_text[3] = '\n';
        CHECK_OK(tsa_response_rejection(&out, TSA_FAIL_BAD_REQUEST, long_text));
        CHECK(fx_status(nt_buf_bytes(&out), &bits, text, sizeof(text)) == 2);
        CHECK(bits == 1ul << TSA_FAIL_BAD_REQUEST);
        CHECK(strncmp(text, "aaa?aaaa", 8) == 0);
    }
    /* out of range bit: refused */
    CHECK_ERR(tsa_response_rejection(&out, (tsa_fail)40, "x"), NT_EINVAL);
    nt_buf_dispose(&out);
}

static void test_granted(void)
{
    nt_buf out = NT_BUF_INIT;
    unsigned long bits;
    fx_pki pki;
    tsa_config cfg;
    tsa *t = NULL;
    tsa_result r;
    nt_buf req = NT_BUF_INIT;
    fx_req o = fx_req_default();
    static nt_clock_sync synced = NT_CLOCK_SYNCED;

    /* a real token, wrapped again: the same bytes as tsa_respond's response */
    nt_clock_set_sync_source(fx_sync_fn, &synced);
    fx_pki_make(&pki, CERTS_KEY_EC_P256);
    fx_config(&cfg);
    REQUIRE(tsa_new(&t, &cfg, pki.signer) == 0);
    tsa_result_init(&r);
    fx_request(&req, NULL, &o);
    CHECK_OK(tsa_respond(&r, t, nt_buf_bytes(&req)));
    REQUIRE(r.granted);
    CHECK_OK(tsa_response_granted(&out, nt_buf_bytes(&r.token)));
    CHECK(out.len == r.response.len && memcmp(out.ptr, r.response.ptr, out.len) == 0);
    CHECK(fx_status(nt_buf_bytes(&out), &bits, NULL, 0) == 0 && bits == 0);
    /* PKIStatusInfo is exactly { granted }: no statusString, no failInfo */
    CHECK(out.len > 9 && memcmp(out.ptr + 4, "\x30\x03\x02\x01\x00", 5) == 0);
    CHECK(out.len - 9 == r.token.len && memcmp(out.ptr + 9, r.token.ptr, r.token.len) == 0);
    {
        TS_TST_INFO *tst = fx_tstinfo(nt_buf_bytes(&out));
        CHECK(tst != NULL);
        TS_TST_INFO_free(tst);
    }
    /* twin: not a ContentInfo */
    CHECK_ERR(tsa_response_granted(&out, NT_BYTES("\x04\x01\x00", 3)), NT_EINVAL);
    CHECK_ERR(tsa_response_granted(&out, NT_BYTES(NULL, 0)), NT_EINVAL);
    tsa_result_dispose(&r);
    nt_buf_dispose(&req);
    nt_buf_dispose(&out);
    tsa_free(t);
    fx_pki_free(&pki);
    nt_clock_set_sync_source(NULL, NULL);
}

static void test_names(void)
{
    CHECK_STR(tsa_fail_name(TSA_FAIL_NONE), "none");
    CHECK_STR(tsa_fail_name(TSA_FAIL_BAD_ALG), "badAlg");
    CHECK_STR(tsa_fail_name(TSA_FAIL_BAD_REQUEST), "badRequest");
    CHECK_STR(tsa_fail_name(TSA_FAIL_BAD_DATA_FORMAT), "badDataFormat");
    CHECK_STR(tsa_fail_name(TSA_FAIL_TIME_NOT_AVAILABLE), "timeNotAvailable");
    CHECK_STR(tsa_fail_name(TSA_FAIL_UNACCEPTED_POLICY), "unacceptedPolicy");
    CHECK_STR(tsa_fail_name(TSA_FAIL_UNACCEPTED_EXTENSION), "unacceptedExtension");
    CHECK_STR(tsa_fail_name(TSA_FAIL_ADD_INFO_NOT_AVAILABLE), "addInfoNotAvailable");
    CHECK_STR(tsa_fail_name(TSA_FAIL_SYSTEM_FAILURE), "systemFailure");
    CHECK_STR(tsa_fail_name((tsa_fail)3), "unknown");
}

int main(void)
{
    nt_log_set_level(NT_LOG_NONE);
    test_rejections();
    test_granted();
    test_names();
    return TEST_END();
}
