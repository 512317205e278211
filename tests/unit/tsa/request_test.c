/*
 * request_test.c - tsa/request.c: every way a TimeStampReq is refused, each
 * with its PKIFailureInfo bit and statusString, next to its accepted twin;
 * real requests made by the `openssl ts -query` command are granted; the
 * stats counters follow; allocation failure at every point is survived.
 */
#include "tests/unit/tsa/tsa_fixture.h"

static nt_clock_sync sync_state = NT_CLOCK_SYNCED;

/* Answer der and check the outcome: granted (fail NONE) or the one failure bit. */
static void expect(tsa *t, nt_bytes der, tsa_fail want, const char *reason_part, int line)
{
    tsa_result r;
    unsigned long bits = 0;
    char text[200];
    int status;

    tsa_result_init(&r);
    CHECK_OK(tsa_respond(&r, t, der));
    status = fx_status(nt_buf_bytes(&r.response), &bits, text, sizeof(text));
    if (want == TSA_FAIL_NONE) {
        CHECK(r.granted == 1 && r.fail == TSA_FAIL_NONE && r.token.len > 0);
        CHECK(status == 0 && bits == 0 && text[0] == '\0');
    } else {
        CHECK(r.granted == 0 && r.fail == want && r.token.len == 0 && r.serial.len == 0);
        CHECK(status == 2 && bits == (1ul << want));
        CHECK(reason_part == NULL || strstr(r.reason, reason_part) != NULL);
        CHECK(strcmp(text, r.reason) == 0);
    }
    if (r.fail != want || (reason_part != NULL && strstr(r.reason, reason_part) == NULL)) {
        fprintf(stderr, "  line %d: wanted %s (%s), got %s: %s\n", line, tsa_fail_name(want),
                reason_part != NULL ? reason_part : "", tsa_fail_name(r.fail), r.reason);
    }
    tsa_result_dispose(&r);
}
#define EXPECT(t, der, want, part) expect((t), (der), (want), (part), __LINE__)

static void expect_req(tsa *t, const fx_req *o, tsa_fail want, const char *part, int line)
{
    nt_buf der = NT_BUF_INIT;
    fx_request(&der, NULL, o);
    expect(t, nt_buf_bytes(&der), want, part, line);
    nt_buf_dispose(&der);
}
#define EXPECT_REQ(t, o, want, part) expect_req((t), (o), (want), (part), __LINE__)

static void test_der_strictness(tsa *t)
{
    nt_buf der = NT_BUF_INIT, bad = NT_BUF_INIT;
    fx_req o = fx_req_default();

    fx_request(&der, NULL, &o);
    EXPECT(t, nt_buf_bytes(&der), TSA_FAIL_NONE, NULL);

    /* truncated at every length */
    for (size_t n = 0; n < der.len; n++) {
        tsa_result r;
        tsa_result_init(&r);
        CHECK_OK(tsa_respond(&r, t, NT_BYTES(der.ptr, n)));
        CHECK(!r.granted && r.fail == TSA_FAIL_BAD_DATA_FORMAT);
        tsa_result_dispose(&r);
    }
    EXPECT(t, NT_BYTES(NULL, 0), TSA_FAIL_BAD_DATA_FORMAT, "empty");

    /* trailing garbage */
    REQUIRE(nt_buf_set(&bad, der.ptr, der.len) == 0 && nt_buf_putc(&bad, 0) == 0);
    EXPECT(t, nt_buf_bytes(&bad), TSA_FAIL_BAD_DATA_FORMAT, "trailing");
    REQUIRE(nt_buf_put(&bad, der.ptr, der.len) == 0);
    EXPECT(t, nt_buf_bytes(&bad), TSA_FAIL_BAD_DATA_FORMAT, "trailing");

    /* BER, not DER: the outer length in long form (0x81 n) */
    REQUIRE(der.ptr[1] < 0x80);
    nt_buf_clear(&bad);
    REQUIRE(nt_buf_putc(&bad, 0x30) == 0 && nt_buf_putc(&bad, 0x81) == 0 &&
            nt_buf_put(&bad, der.ptr + 1, der.len - 1) == 0);
    EXPECT(t, nt_buf_bytes(&bad), TSA_FAIL_BAD_DATA_FORMAT, "not DER");

    /* BER, not DER: certReq FALSE spelled out (DER omits a DEFAULT value) */
    {
        fx_req n = fx_req_default();
        n.cert_req = 0;
        n.nonce_bytes = 0;
        fx_request(&der, NULL, &n);
        EXPECT(t, nt_buf_bytes(&der), TSA_FAIL_NONE, NULL);
        REQUIRE(der.ptr[1] < 0x7d);
        nt_buf_clear(&bad);
        REQUIRE(nt_buf_putc(&bad, 0x30) == 0 && nt_buf_putc(&bad, (uint8_t)(der.ptr[1] + 3)) == 0 &&
                nt_buf_put(&bad, der.ptr + 2, der.len - 2) == 0 &&
                nt_buf_put(&bad, "\x01\x01\x00", 3) == 0);
        EXPECT(t, nt_buf_bytes(&bad), TSA_FAIL_BAD_DATA_FORMAT, "not DER");
    }

    /* not a TimeStampReq at all */
    EXPECT(t, NT_BYTES("\x30\x03\x02\x01\x01", 5), TSA_FAIL_BAD_DATA_FORMAT, "not a DER");
    EXPECT(t, NT_BYTES("GET / HTTP/1.1\r\n\r\n", 18), TSA_FAIL_BAD_DATA_FORMAT, NULL);

    /* oversize: refused before parsing */
    nt_buf_clear(&bad);
    for (unsigned i = 0; i <= TSA_MAX_REQUEST_DER; i++) {
        REQUIRE(nt_buf_putc(&bad, 0x30) == 0);
    }
    EXPECT(t, nt_buf_bytes(&bad), TSA_FAIL_BAD_DATA_FORMAT, "larger than");

    nt_buf_dispose(&der);
    nt_buf_dispose(&bad);
}

/*
 * A TimeStampReq written byte by byte: version 1, a SHA-256 imprint of `hash`
 * (alg_hex replaces the AlgorithmIdentifier + hashedMessage when not NULL),
 * then `tail_hex` (reqPolicy, nonce, certReq, extensions as raw TLVs).
 */
static void req_hex(nt_buf *out, const char *imprint_hex, const char *tail_hex)
{
    static const char hash[] = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    nt_buf body = NT_BUF_INIT, hex = NT_BUF_INIT;
    REQUIRE(nt_buf_puts(&hex, "020101") == 0);
    if (imprint_hex != NULL) {
        REQUIRE(nt_buf_puts(&hex, imprint_hex) == 0);
    } else {
        REQUIRE(nt_buf_puts(&hex, "3031300d06096086480165030402010500"
                                  "0420") == 0);
        REQUIRE(nt_buf_puts(&hex, hash) == 0);
    }
    REQUIRE(nt_buf_puts(&hex, tail_hex) == 0);
    REQUIRE(nt_hex_decode(&body, (const char *)hex.ptr, hex.len) == 0);
    REQUIRE(body.len < 128);
    nt_buf_clear(out);
    REQUIRE(nt_buf_putc(out, 0x30) == 0 && nt_buf_putc(out, (uint8_t)body.len) == 0 &&
            nt_buf_put(out, body.ptr, body.len) == 0);
    nt_buf_dispose(&body);
    nt_buf_dispose(&hex);
}

static void expect_hex(tsa *t, const char *imprint_hex, const char *tail_hex, tsa_fail want,
                       const char *part, int line)
{
    nt_buf der = NT_BUF_INIT;
    req_hex(&der, imprint_hex, tail_hex);
    expect(t, nt_buf_bytes(&der), want, part, line);
    nt_buf_dispose(&der);
}
#define EXPECT_HEX(t, imp, tail, want, part)                                                       \
    expect_hex((t), (imp), (tail), (want), (part), __LINE__)

/* The accepted extension 1.3.6.1.4.1.99999.2.1 with `critical` ("" = absent) and value NULL. */
#define EXT_OID "060a2b06010401868d1f0201"

/*
 * Issue 13 item 9: encodings OpenSSL's d2i takes and its i2d writes back
 * unchanged, so that a round trip cannot see them.  X.690 11.1: a BOOLEAN
 * TRUE is 0xFF; 11.5: a DEFAULT value is not encoded; 8.3.2: INTEGER
 * minimal; 10.1: definite, minimal lengths; 10.2: strings primitive; RFC
 * 5280 4.1: Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension.
 */
static void test_der_checked(tsa *t)
{
    EXPECT_HEX(t, NULL, "", TSA_FAIL_NONE, NULL);
    /* certReq: TRUE is ff; 01 and 7f are BER; FALSE is the DEFAULT */
    EXPECT_HEX(t, NULL, "0101ff", TSA_FAIL_NONE, NULL);
    EXPECT_HEX(t, NULL, "010101", TSA_FAIL_BAD_DATA_FORMAT,
               "not DER-encoded: a BOOLEAN is 00 or ff");
    EXPECT_HEX(t, NULL, "01017f", TSA_FAIL_BAD_DATA_FORMAT,
               "not DER-encoded: a BOOLEAN is 00 or ff");
    EXPECT_HEX(t, NULL, "010100", TSA_FAIL_BAD_DATA_FORMAT, "certReq FALSE");
    EXPECT_HEX(t, NULL, "010200ff", TSA_FAIL_BAD_DATA_FORMAT, NULL);
    /* extensions: none is fine, an empty [0] is not SIZE (1..MAX) */
    EXPECT_HEX(t, NULL, "a000", TSA_FAIL_BAD_DATA_FORMAT, "empty extensions");
    EXPECT_HEX(t, NULL, "0101ffa000", TSA_FAIL_BAD_DATA_FORMAT, "empty extensions");
    /* Extension.critical: the same BOOLEAN rules */
    EXPECT_HEX(t, NULL,
               "a012"
               "3010" EXT_OID "04020500",
               TSA_FAIL_NONE, NULL);
    EXPECT_HEX(t, NULL,
               "a015"
               "3013" EXT_OID "0101ff"
               "04020500",
               TSA_FAIL_NONE, NULL);
    EXPECT_HEX(t, NULL,
               "a015"
               "3013" EXT_OID "010101"
               "04020500",
               TSA_FAIL_BAD_DATA_FORMAT, "a BOOLEAN is 00 or ff");
    EXPECT_HEX(t, NULL,
               "a015"
               "3013" EXT_OID "010100"
               "04020500",
               TSA_FAIL_BAD_DATA_FORMAT, "critical FALSE");
    /* nonce: minimal INTEGER (a leading 00 only before a high bit) */
    EXPECT_HEX(t, NULL, "020105", TSA_FAIL_NONE, NULL);
    EXPECT_HEX(t, NULL, "02020080", TSA_FAIL_NONE, NULL);
    EXPECT_HEX(t, NULL, "02020005", TSA_FAIL_BAD_DATA_FORMAT, NULL);
    EXPECT_HEX(t, NULL, "0202ff85", TSA_FAIL_BAD_DATA_FORMAT, NULL);
    EXPECT_HEX(t, NULL,
               "020105"
               "0101ff",
               TSA_FAIL_NONE, NULL);
    /* lengths: long form for a short length, inside the request */
    EXPECT_HEX(t,
               "308131300d06096086480165030402010500"
               "04209f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
               "", TSA_FAIL_BAD_DATA_FORMAT, "not DER");
    /* hashedMessage as a constructed OCTET STRING (BER only) */
    EXPECT_HEX(t,
               "3033300d06096086480165030402010500"
               "2422"
               "04209f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
               "", TSA_FAIL_BAD_DATA_FORMAT, NULL);
    /* algorithm NULL parameters with content, a padded OID subidentifier */
    EXPECT_HEX(t,
               "3032300e0609608648016503040201050100"
               "04209f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
               "", TSA_FAIL_BAD_DATA_FORMAT, NULL);
    EXPECT_HEX(t, NULL, "06042a800301", TSA_FAIL_BAD_DATA_FORMAT, NULL);
}

static void test_fields(tsa *t, tsa *t_weak)
{
    fx_req o;

    /* version */
    o = fx_req_default();
    o.version = 2;
    EXPECT_REQ(t, &o, TSA_FAIL_BAD_REQUEST, "version 2");
    o.version = 1;
    EXPECT_REQ(t, &o, TSA_FAIL_NONE, NULL);

    /* SHA-1 and MD5: refused by default, accepted when allowed */
    o = fx_req_default();
    o.nid = NID_sha1;
    EXPECT_REQ(t, &o, TSA_FAIL_BAD_ALG, "sha1");
    EXPECT_REQ(t_weak, &o, TSA_FAIL_NONE, NULL);
    o.nid = NID_md5;
    EXPECT_REQ(t, &o, TSA_FAIL_BAD_ALG, "md5");
    EXPECT_REQ(t_weak, &o, TSA_FAIL_NONE, NULL);

    /* SM3 (1.2.156.10197.1.401): accepted with an ECDSA identity too; 32 bytes exactly */
    o = fx_req_default();
    o.nid = NID_sm3;
    EXPECT_REQ(t, &o, TSA_FAIL_NONE, NULL);
    o.digest_len = 31;
    EXPECT_REQ(t, &o, TSA_FAIL_BAD_DATA_FORMAT, "does not match sm3 (32 bytes)");

    /* unknown algorithm OIDs: a signature algorithm, a made-up arc, SHA-224 */
    o = fx_req_default();
    o.nid = NID_sha256WithRSAEncryption;
    o.digest_len = 32;
    EXPECT_REQ(t, &o, TSA_FAIL_BAD_ALG, "unknown imprint algorithm 1.2.840.113549.1.1.11");
    o.nid = NID_sha224;
    o.digest_len = 28;
    EXPECT_REQ(t, &o, TSA_FAIL_BAD_ALG, "unknown");
    o.nid = OBJ_create("1.3.6.1.4.1.99999.7.7", "nt-test-hash", "nt test hash");
    REQUIRE(o.nid != NID_undef);
    o.digest_len = 32;
    EXPECT_REQ(t, &o, TSA_FAIL_BAD_ALG, "1.3.6.1.4.1.99999.7.7");

    /* parameters: absent and NULL accepted, anything else refused */
    o = fx_req_default();
    o.params = 0;
    EXPECT_REQ(t, &o, TSA_FAIL_NONE, NULL);
    o.params = 1;
    EXPECT_REQ(t, &o, TSA_FAIL_NONE, NULL);
    o.params = 2;
    EXPECT_REQ(t, &o, TSA_FAIL_BAD_ALG, "parameters");

    /* imprint length must be the algorithm's */
    o = fx_req_default();
    o.digest_len = 31;
    EXPECT_REQ(t, &o, TSA_FAIL_BAD_DATA_FORMAT, "imprint length 31");
    o.digest_len = 33;
    EXPECT_REQ(t, &o, TSA_FAIL_BAD_DATA_FORMAT, "imprint length 33");
    o.digest_len = 0;
    EXPECT_REQ(t, &o, TSA_FAIL_BAD_DATA_FORMAT, "imprint length 0");
    o.nid = NID_sha512;
    o.digest_len = 32;
    EXPECT_REQ(t, &o, TSA_FAIL_BAD_DATA_FORMAT, "sha512");
    o.digest_len = 64;
    EXPECT_REQ(t, &o, TSA_FAIL_NONE, NULL);

    /* policy: default, accepted, unaccepted */
    o = fx_req_default();
    o.policy = FX_POLICY;
    EXPECT_REQ(t, &o, TSA_FAIL_NONE, NULL);
    o.policy = FX_POLICY2;
    EXPECT_REQ(t, &o, TSA_FAIL_NONE, NULL);
    o.policy = "1.3.6.1.4.1.99999.1.3";
    EXPECT_REQ(t, &o, TSA_FAIL_UNACCEPTED_POLICY, "policy 1.3.6.1.4.1.99999.1.3");
    o.policy = FX_POLICY2;
    EXPECT_REQ(t_weak, &o, TSA_FAIL_UNACCEPTED_POLICY, "policy"); /* not configured there */

    /* extensions: only the configured one */
    o = fx_req_default();
    o.ext_oid = "1.3.6.1.4.1.99999.2.1";
    EXPECT_REQ(t, &o, TSA_FAIL_NONE, NULL);
    o.ext_oid = "1.3.6.1.4.1.99999.2.2";
    EXPECT_REQ(t, &o, TSA_FAIL_UNACCEPTED_EXTENSION, "extension 1.3.6.1.4.1.99999.2.2");
    o.ext_oid = "1.3.6.1.4.1.99999.2.1";
    EXPECT_REQ(t_weak, &o, TSA_FAIL_UNACCEPTED_EXTENSION, NULL);

    /* nonce: up to 32 bytes */
    o = fx_req_default();
    o.nonce_bytes = 32;
    EXPECT_REQ(t, &o, TSA_FAIL_NONE, NULL);
    o.nonce_bytes = 33;
    EXPECT_REQ(t, &o, TSA_FAIL_BAD_REQUEST, "nonce");
    o.nonce_bytes = 1;
    EXPECT_REQ(t, &o, TSA_FAIL_NONE, NULL);
}

/* The alg and digest of a refused request are still reported. */
static void test_result_fields(tsa *t)
{
    tsa_result r;
    nt_buf der = NT_BUF_INIT;
    fx_req o = fx_req_default();
    TS_REQ *q = NULL;

    tsa_result_init(&r);
    o.nid = NID_sha384;
    o.policy = "1.2.3.4";
    fx_request(&der, &q, &o);
    CHECK_OK(tsa_respond(&r, t, nt_buf_bytes(&der)));
    CHECK(!r.granted && r.fail == TSA_FAIL_UNACCEPTED_POLICY);
    CHECK(r.alg == RECORD_ALG_SHA384 && r.digest.len == 48);
    {
        const ASN1_OCTET_STRING *msg = TS_MSG_IMPRINT_get_msg(TS_REQ_get_msg_imprint(q));
        CHECK(r.digest.len == 48 && memcmp(r.digest.ptr, ASN1_STRING_get0_data(msg), 48) == 0);
    }
    TS_REQ_free(q);
    /* a reused result is reset: a rejection after a grant leaves no token */
    o = fx_req_default();
    fx_request(&der, NULL, &o);
    CHECK_OK(tsa_respond(&r, t, nt_buf_bytes(&der)));
    CHECK(r.granted && r.token.len > 0 && r.serial.len > 0);
    CHECK_OK(tsa_respond(&r, t, NT_BYTES("\x30\x00", 2)));
    CHECK(!r.granted && r.token.len == 0 && r.serial.len == 0 && r.digest.len == 0);
    tsa_result_dispose(&r);
    tsa_result_dispose(&r);
    tsa_result_dispose(NULL);
    nt_buf_dispose(&der);
}

/* Requests made by the real `openssl ts -query` command. */
static void test_openssl_queries(tsa *t, const char *dir)
{
    static const char *const algs[] = {"sha256",   "sha384",   "sha512", "sha3-256",
                                       "sha3-384", "sha3-512", "sm3"};
    nt_buf out = NT_BUF_INIT, der = NT_BUF_INIT;
    char path[700];

    snprintf(path, sizeof(path), "%s/q.tsq", dir);
    for (size_t i = 0; i < NT_ARRAY_LEN(algs); i++) {
        for (int cert = 0; cert < 2; cert++) {
            int rc = fx_run(&out, "printf 'document %zu' | openssl ts -query -%s%s%s -out '%s'", i,
                            algs[i], cert ? " -cert" : "", i % 2 ? " -no_nonce" : "", path);
            REQUIRE(rc == 0);
            REQUIRE(nt_file_read(&der, path, 1 << 16) == 0);
            EXPECT(t, nt_buf_bytes(&der), TSA_FAIL_NONE, NULL);
        }
    }
    /* twin: the command's SHA-1 request is refused by default */
    REQUIRE(fx_run(&out, "printf doc | openssl ts -query -sha1 -out '%s'", path) == 0);
    REQUIRE(nt_file_read(&der, path, 1 << 16) == 0);
    EXPECT(t, nt_buf_bytes(&der), TSA_FAIL_BAD_ALG, "sha1");
    /* and with a policy it does not know */
    REQUIRE(fx_run(&out, "printf doc | openssl ts -query -tspolicy 1.2.3.4.5 -out '%s'", path) ==
            0);
    REQUIRE(nt_file_read(&der, path, 1 << 16) == 0);
    EXPECT(t, nt_buf_bytes(&der), TSA_FAIL_UNACCEPTED_POLICY, "1.2.3.4.5");
    nt_buf_dispose(&out);
    nt_buf_dispose(&der);
}

static void test_stats(const certs_signer *signer)
{
    tsa_config cfg;
    tsa *t = NULL;
    tsa_stats st;
    tsa_result r;
    nt_buf der = NT_BUF_INIT;
    fx_req o = fx_req_default();

    fx_config(&cfg);
    REQUIRE(tsa_new(&t, &cfg, signer) == 0);
    tsa_result_init(&r);
    fx_request(&der, NULL, &o);
    CHECK_OK(tsa_respond(&r, t, nt_buf_bytes(&der)));
    CHECK_OK(tsa_respond(&r, t, nt_buf_bytes(&der)));
    CHECK_OK(tsa_respond(&r, t, NT_BYTES("x", 1)));
    o.nid = NID_md5;
    fx_request(&der, NULL, &o);
    CHECK_OK(tsa_respond(&r, t, nt_buf_bytes(&der)));
    tsa_stats_get(&st, t);
    CHECK(st.granted == 2);
    CHECK(st.rejected[TSA_FAIL_BAD_DATA_FORMAT] == 1 && st.rejected[TSA_FAIL_BAD_ALG] == 1);
    CHECK(st.rejected[TSA_FAIL_BAD_REQUEST] == 0);
    tsa_result_dispose(&r);
    nt_buf_dispose(&der);
    tsa_free(t);
}

/*
 * Allocation failure at every point of a request: the answer is a response
 * (granted, or a systemFailure rejection) or NT_ENOMEM when not even the
 * rejection could be allocated - never a crash or a leak (ASan build).
 */
static void test_alloc_failures(tsa *t)
{
    nt_buf der = NT_BUF_INIT;
    fx_req o = fx_req_default();
    int failed = 0, completed = 0;

    fx_request(&der, NULL, &o);
    for (unsigned long n = 1; n < 1000 && !completed; n++) {
        tsa_result r;
        int rc;
        unsigned long attempted;

        tsa_result_init(&r);
        nt_mem_fail_after(n);
        rc = tsa_respond(&r, t, nt_buf_bytes(&der));
        attempted = nt_mem_fail_after(0);
        CHECK(rc == 0 || rc == NT_ENOMEM);
        if (rc == 0) {
            CHECK(r.response.len > 0);
            CHECK(r.granted || r.fail == TSA_FAIL_SYSTEM_FAILURE);
        }
        failed += rc != 0 || !r.granted;
        completed = attempted < n; /* nothing failed this time: every point was tried */
        CHECK(!completed || (rc == 0 && r.granted));
        tsa_result_dispose(&r);
    }
    CHECK(completed && failed > 0);
    nt_buf_dispose(&der);
}

int main(void)
{
    fx_pki pki;
    tsa_config cfg;
    tsa *t = NULL, *t_weak = NULL;

    nt_log_set_level(NT_LOG_NONE);
    nt_clock_set_sync_source(fx_sync_fn, &sync_state);
    fx_pki_make(&pki, CERTS_KEY_EC_P256);

    fx_config(&cfg);
    cfg.accepted_policies[0] = FX_POLICY2;
    cfg.accepted_policy_count = 1;
    cfg.accepted_extensions[0] = "1.3.6.1.4.1.99999.2.1";
    cfg.accepted_extension_count = 1;
    REQUIRE(tsa_new(&t, &cfg, pki.signer) == 0);
    fx_config(&cfg);
    cfg.allow_sha1 = 1;
    cfg.allow_md5 = 1;
    REQUIRE(tsa_new(&t_weak, &cfg, pki.signer) == 0);

    test_der_strictness(t);
    test_der_checked(t);
    test_fields(t, t_weak);
    test_result_fields(t);
    test_openssl_queries(t, pki.dir);
    test_stats(pki.signer);
    test_alloc_failures(t);

    tsa_free(t);
    tsa_free(t_weak);
    nt_clock_set_sync_source(NULL, NULL);
    fx_pki_free(&pki);
    return TEST_END();
}
