/*
 * serial_test.c - tsa/serial.c: the serial number's structure; 1000 tokens
 * from 8 threads with unique serials, and a second tsa with boot_epoch + 1
 * that never repeats one (the twin: the same boot_epoch does repeat the
 * structural part, so the check can fail); genTime monotonic under an
 * injected clock stepped backwards, with and without ordering, and the
 * start-up floor; the clock policy (unsynchronised -> timeNotAvailable
 * unless allowed) and an unreadable clock (systemFailure).
 */
#include "tests/unit/tsa/tsa_fixture.h"

#include <pthread.h>

static nt_clock_sync sync_state = NT_CLOCK_SYNCED;

/* Issue one token for a fixed SHA-256 digest; returns the result (caller disposes). */
static void issue(tsa_result *r, tsa *t)
{
    static const uint8_t d[32] = {1, 2, 3};
    CHECK_OK(tsa_issue_digest(r, t, RECORD_ALG_SHA256, NT_BYTES(d, sizeof(d))));
}

static void test_structure(const certs_signer *signer)
{
    tsa_config cfg;
    tsa *t = NULL;
    tsa_result r;

    fx_config(&cfg);
    cfg.node_id = 0x1234;
    cfg.boot_epoch = 0xa1b2c3d4u;
    REQUIRE(tsa_new(&t, &cfg, signer) == 0);
    tsa_result_init(&r);
    for (uint64_t i = 1; i <= 3; i++) {
        issue(&r, t);
        REQUIRE(r.granted);
        CHECK(r.serial.len == TSA_SERIAL_BYTES);
        CHECK(r.serial.len == TSA_SERIAL_BYTES &&
              memcmp(r.serial.ptr, "\x12\x34\xa1\xb2\xc3\xd4", 6) == 0);
        CHECK(r.serial.len == TSA_SERIAL_BYTES && nt_load_u64be(r.serial.ptr + 6) == i);
        CHECK((r.serial.ptr[0] & 0x80) == 0); /* positive, at most 144 bits */
    }
    tsa_free(t);
    t = NULL;

    /* node 0, epoch 0: leading zero bytes dropped, still positive and non-zero */
    fx_config(&cfg);
    REQUIRE(tsa_new(&t, &cfg, signer) == 0);
    issue(&r, t);
    REQUIRE(r.granted);
    CHECK(r.serial.len > 4 && r.serial.len < TSA_SERIAL_BYTES && r.serial.ptr[0] != 0);
    {
        TS_TST_INFO *tst = fx_tstinfo(nt_buf_bytes(&r.response));
        BIGNUM *bn = tst != NULL ? ASN1_INTEGER_to_BN(TS_TST_INFO_get_serial(tst), NULL) : NULL;
        CHECK(bn != NULL && !BN_is_negative(bn) && !BN_is_zero(bn) && BN_num_bits(bn) <= 160);
        BN_free(bn);
        TS_TST_INFO_free(tst);
    }
    tsa_result_dispose(&r);
    tsa_free(t);
}

#define THREADS    8
#define PER_THREAD 125

typedef struct worker {
    tsa *t;
    uint8_t serials[PER_THREAD][TSA_SERIAL_BYTES]; /* left-padded to full width */
    int ok;
} worker;

static void *worker_run(void *arg)
{
    worker *w = arg;
    tsa_result r;
    struct timespec prev = {0, 0};

    tsa_result_init(&r);
    w->ok = 1;
    for (int i = 0; i < PER_THREAD; i++) {
        static const uint8_t d[32] = {9};
        if (tsa_issue_digest(&r, w->t, RECORD_ALG_SHA256, NT_BYTES(d, sizeof(d))) != 0 ||
            !r.granted || r.serial.len > TSA_SERIAL_BYTES) {
            w->ok = 0;
            break;
        }
        memset(w->serials[i], 0, TSA_SERIAL_BYTES);
        memcpy(w->serials[i] + TSA_SERIAL_BYTES - r.serial.len, r.serial.ptr, r.serial.len);
        /* this thread's genTimes never go backwards */
        if (r.gen_time.tv_sec < prev.tv_sec ||
            (r.gen_time.tv_sec == prev.tv_sec && r.gen_time.tv_nsec < prev.tv_nsec)) {
            w->ok = 0;
        }
        prev = r.gen_time;
    }
    tsa_result_dispose(&r);
    return NULL;
}

static int cmp_prefix14(const void *a, const void *b)
{
    return memcmp(a, b, 14);
}

static int cmp_full(const void *a, const void *b)
{
    return memcmp(a, b, TSA_SERIAL_BYTES);
}

/* Run THREADS x PER_THREAD issues on t, appending serials to all[*n]. */
static void run_threads(tsa *t, uint8_t (*all)[TSA_SERIAL_BYTES], size_t *n)
{
    static worker w[THREADS];
    pthread_t th[THREADS];

    for (int i = 0; i < THREADS; i++) {
        w[i].t = t;
        REQUIRE(pthread_create(&th[i], NULL, worker_run, &w[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        REQUIRE(pthread_join(th[i], NULL) == 0);
        CHECK(w[i].ok);
        memcpy(all[*n], w[i].serials, sizeof(w[i].serials));
        *n += PER_THREAD;
    }
}

/* Number of adjacent equal entries after sorting by cmp. */
static size_t dupes(uint8_t (*all)[TSA_SERIAL_BYTES], size_t n,
                    int (*cmp)(const void *, const void *))
{
    size_t d = 0;
    qsort(all, n, TSA_SERIAL_BYTES, cmp);
    for (size_t i = 1; i < n; i++) {
        d += cmp(all[i - 1], all[i]) == 0;
    }
    return d;
}

static void test_unique_across_threads_and_restarts(const certs_signer *signer)
{
    static uint8_t all[3 * THREADS * PER_THREAD][TSA_SERIAL_BYTES];
    static uint8_t copy[3 * THREADS * PER_THREAD][TSA_SERIAL_BYTES];
    tsa_config cfg;
    tsa *t1 = NULL, *t2 = NULL, *t3 = NULL;
    tsa_stats st;
    size_t n = 0, n2;

    fx_config(&cfg);
    cfg.node_id = 7;
    cfg.boot_epoch = 41;
    REQUIRE(tsa_new(&t1, &cfg, signer) == 0);
    run_threads(t1, all, &n);
    CHECK(n == 1000);
    tsa_stats_get(&st, t1);
    CHECK(st.granted == 1000);
    memcpy(copy, all, n * TSA_SERIAL_BYTES);
    CHECK(dupes(copy, n, cmp_full) == 0);
    memcpy(copy, all, n * TSA_SERIAL_BYTES);
    CHECK(dupes(copy, n, cmp_prefix14) == 0);

    /* "restart": boot_epoch + 1, the counter starts again at 1 */
    cfg.boot_epoch = 42;
    REQUIRE(tsa_new(&t2, &cfg, signer) == 0);
    run_threads(t2, all, &n);
    CHECK(n == 2000);
    n2 = n;
    memcpy(copy, all, n * TSA_SERIAL_BYTES);
    CHECK(dupes(copy, n, cmp_full) == 0);
    memcpy(copy, all, n * TSA_SERIAL_BYTES);
    CHECK(dupes(copy, n, cmp_prefix14) == 0); /* not even the structure repeats */

    /* twin: a restart that forgot to bump boot_epoch repeats every structural
     * prefix (only the random tail differs) - the check above can fail */
    REQUIRE(tsa_new(&t3, &cfg, signer) == 0);
    run_threads(t3, all, &n);
    memcpy(copy, all, n * TSA_SERIAL_BYTES);
    CHECK(dupes(copy, n, cmp_prefix14) == n - n2);

    tsa_free(t1);
    tsa_free(t2);
    tsa_free(t3);
}

static void gen_string(char *out, size_t cap, tsa *t, tsa_fail *fail)
{
    tsa_result r;
    tsa_result_init(&r);
    issue(&r, t);
    *fail = r.fail;
    out[0] = '\0';
    if (r.granted) {
        fx_gentime(out, cap, nt_buf_bytes(&r.response));
    }
    tsa_result_dispose(&r);
}

static void test_monotonic(const certs_signer *signer)
{
    fx_clock clk = {{1700000000, 500000000}};
    tsa_config cfg;
    tsa *t = NULL;
    char g[40];
    tsa_fail f;

    nt_clock_set_source(fx_clock_fn, &clk);

    /* precision 3, accuracy 1 s: lead bound 1 s */
    fx_config(&cfg);
    REQUIRE(tsa_new(&t, &cfg, signer) == 0);
    gen_string(g, sizeof(g), t, &f);
    CHECK_STR(g, "20231114221320.5Z");
    gen_string(g, sizeof(g), t, &f); /* same clock reading: one unit later */
    CHECK_STR(g, "20231114221320.501Z");
    clk.now.tv_sec -= 10; /* stepped back 10 s: beyond the lead, the last genTime again */
    gen_string(g, sizeof(g), t, &f);
    CHECK(f == TSA_FAIL_NONE);
    CHECK_STR(g, "20231114221320.501Z");
    clk.now.tv_sec += 10;
    clk.now.tv_nsec = 0; /* stepped back 0.5 s: within the lead, one unit later */
    gen_string(g, sizeof(g), t, &f);
    CHECK_STR(g, "20231114221320.502Z");
    clk.now.tv_sec += 2; /* forward: the clock again */
    clk.now.tv_nsec = 250000000;
    gen_string(g, sizeof(g), t, &f);
    CHECK_STR(g, "20231114221322.25Z");
    /* floor from the ledger at start-up: later than the clock -> used */
    {
        struct timespec floor = {1700000100, 123456789};
        tsa_gen_time_floor(t, &floor);
        gen_string(g, sizeof(g), t, &f);
        CHECK_STR(g, "20231114221500.124Z"); /* rounded up to the precision grid */
        floor.tv_sec = 1600000000;           /* twin: an earlier floor changes nothing */
        tsa_gen_time_floor(t, &floor);
        gen_string(g, sizeof(g), t, &f);
        CHECK_STR(g, "20231114221500.124Z");
    }
    tsa_free(t);
    t = NULL;

    /* ordering TRUE: equal genTimes are not allowed -> timeNotAvailable */
    clk.now.tv_sec = 1700000000;
    clk.now.tv_nsec = 500000000;
    fx_config(&cfg);
    cfg.ordering = 1;
    REQUIRE(tsa_new(&t, &cfg, signer) == 0);
    gen_string(g, sizeof(g), t, &f);
    CHECK_STR(g, "20231114221320.5Z");
    clk.now.tv_sec -= 10;
    gen_string(g, sizeof(g), t, &f);
    CHECK(f == TSA_FAIL_TIME_NOT_AVAILABLE && g[0] == '\0');
    clk.now.tv_sec += 11; /* the clock has caught up */
    gen_string(g, sizeof(g), t, &f);
    CHECK(f == TSA_FAIL_NONE);
    CHECK_STR(g, "20231114221321.5Z");
    tsa_free(t);
    t = NULL;

    /* precision 0, accuracy 0: the lead bound is one unit (1 s) */
    clk.now.tv_sec = 1700000000;
    clk.now.tv_nsec = 700000000;
    fx_config(&cfg);
    cfg.precision_digits = 0;
    cfg.accuracy_ms = 0;
    REQUIRE(tsa_new(&t, &cfg, signer) == 0);
    gen_string(g, sizeof(g), t, &f);
    CHECK_STR(g, "20231114221320Z");
    gen_string(g, sizeof(g), t, &f);
    CHECK_STR(g, "20231114221321Z");
    gen_string(g, sizeof(g), t, &f); /* 2 s ahead would exceed the bound: equal */
    CHECK_STR(g, "20231114221321Z");
    clk.now.tv_sec -= 3600;
    gen_string(g, sizeof(g), t, &f);
    CHECK_STR(g, "20231114221321Z");
    tsa_free(t);

    nt_clock_set_source(NULL, NULL);
}

static int broken_clock(struct timespec *out, void *ctx)
{
    (void)out;
    (void)ctx;
    return nt_error_set(NT_EIO, "no clock");
}

static void test_clock_policy(const certs_signer *signer)
{
    tsa_config cfg;
    tsa *t = NULL, *t_allow = NULL;
    tsa_result r;
    nt_clock_status st;

    fx_config(&cfg);
    REQUIRE(tsa_new(&t, &cfg, signer) == 0);
    cfg.allow_unsynced_clock = 1;
    REQUIRE(tsa_new(&t_allow, &cfg, signer) == 0);
    tsa_result_init(&r);

    sync_state = NT_CLOCK_UNSYNCED;
    issue(&r, t);
    CHECK(!r.granted && r.fail == TSA_FAIL_TIME_NOT_AVAILABLE);
    CHECK(strstr(r.reason, "not synchronised") != NULL);
    {
        unsigned long bits;
        CHECK(fx_status(nt_buf_bytes(&r.response), &bits, NULL, 0) == 2 &&
              bits == 1ul << TSA_FAIL_TIME_NOT_AVAILABLE);
    }
    CHECK_OK(tsa_clock_status(&st, t));
    CHECK(st.sync == NT_CLOCK_UNSYNCED && st.max_error_us == 1000);
    issue(&r, t_allow); /* allowed by the operator */
    CHECK(r.granted);

    sync_state = NT_CLOCK_UNKNOWN; /* not known to be unsynchronised: issued */
    issue(&r, t);
    CHECK(r.granted);
    sync_state = NT_CLOCK_SYNCED;
    issue(&r, t);
    CHECK(r.granted);
    CHECK_OK(tsa_clock_status(&st, t));
    CHECK(st.sync == NT_CLOCK_SYNCED);

    /* a clock that cannot be read: systemFailure, generic statusString */
    nt_clock_set_source(broken_clock, NULL);
    issue(&r, t);
    CHECK(!r.granted && r.fail == TSA_FAIL_SYSTEM_FAILURE);
    {
        unsigned long bits;
        char text[64];
        CHECK(fx_status(nt_buf_bytes(&r.response), &bits, text, sizeof(text)) == 2);
        CHECK(bits == 1ul << TSA_FAIL_SYSTEM_FAILURE);
        CHECK_STR(text, "internal error");
    }
    nt_clock_set_source(NULL, NULL);

    tsa_result_dispose(&r);
    tsa_free(t);
    tsa_free(t_allow);
}

int main(void)
{
    fx_pki pki;

    nt_log_set_level(NT_LOG_NONE);
    nt_clock_set_sync_source(fx_sync_fn, &sync_state);
    fx_pki_make(&pki, CERTS_KEY_EC_P256);

    test_structure(pki.signer);
    test_unique_across_threads_and_restarts(pki.signer);
    test_monotonic(pki.signer);
    test_clock_policy(pki.signer);

    nt_clock_set_sync_source(NULL, NULL);
    fx_pki_free(&pki);
    return TEST_END();
}
