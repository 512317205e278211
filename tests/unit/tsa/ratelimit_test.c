/*
 * ratelimit_test.c - unit tests of tsa/ratelimit.c with an injected clock:
 * the bucket arithmetic (refill, burst, Retry-After rounding, the clock going
 * backwards), the client address key (IPv4, IPv6 /64), the limiter (per
 * address, per key, per tenant shared by keys, overrides, tokens given back
 * when a later scope refuses, full buckets dropped, eviction in a full
 * table, many threads), its /metrics text and the 429 replies (DER rejection
 * for /tsa without failInfo, JSON for the others).  Links nt_tsa.
 */
#include "tests/unit/test.h"
#include "tsa/server_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ts.h>
#include <pthread.h>

#define S                   1000000000ull
#define MS                  1000000ull
#define T0                  (100000 * S) /* an arbitrary start on the monotonic clock */
#define LIMITER_WAYS_TESTED 8            /* ratelimit.c's LIMITER_WAYS */
#define H32                 "00000000000000000000000000000000"
#define KEY(id, tenant)                                                                            \
    "{\"id\": \"" id "\", \"tenant\": \"" tenant "\", \"salt\": \"0011223344556677\", "            \
    "\"sha256\": \"" H32 H32 "\"}"

static server_config *config(const char *limits)
{
    server_config *cfg = NULL;
    nt_buf j = NT_BUF_INIT;
    nt_buf_printf(&j,
                  "{\"tsa\": {\"policy\": \"1.2.3\"}, \"ledger\": {\"origin\": \"x.example/l\"},"
                  " \"api_keys\": [" KEY("a1", "ta") ", " KEY("a2", "ta") ", " KEY(
                      "b1", "tb") "],"
                                  " \"limits\": %s}",
                  limits);
    CHECK_OK(server_config_parse(&cfg, nt_buf_cstr(&j), j.len, "/srv/notarium"));
    nt_buf_dispose(&j);
    return cfg;
}

static void addr4(uint8_t out[16], const char *text)
{
    struct sockaddr_in in;
    memset(&in, 0, sizeof(in));
    in.sin_family = AF_INET;
    inet_pton(AF_INET, text, &in.sin_addr);
    CHECK(server__limit_address(out, (struct sockaddr *)&in) == 0);
}

/* ------------------------------------------------------------------ arithmetic */

static void test_bucket(void)
{
    uint64_t tat = 0, retry = 0, now = T0, interval = S / 10; /* 10/s */

    /* burst 3: three at once, the fourth waits one interval */
    for (int i = 0; i < 3; i++) {
        CHECK(server__bucket_take(&tat, now, interval, 3, &retry) == 0);
        CHECK(retry == 0);
    }
    CHECK(server__bucket_take(&tat, now, interval, 3, &retry) == 1);
    CHECK(retry == interval);
    /* a refusal takes nothing: still one interval from now */
    CHECK(server__bucket_take(&tat, now, interval, 3, &retry) == 1);
    CHECK(retry == interval);
    /* 40 ms later: 60 ms to go */
    CHECK(server__bucket_take(&tat, now + 40 * MS, interval, 3, &retry) == 1);
    CHECK(retry == 60 * MS);
    /* refill: after one interval exactly one more, then refused again */
    now += interval;
    CHECK(server__bucket_take(&tat, now, interval, 3, &retry) == 0);
    CHECK(server__bucket_take(&tat, now, interval, 3, &retry) == 1);
    /* a long idle time refills to the burst, never beyond */
    now += 3600 * S;
    for (int i = 0; i < 3; i++) {
        CHECK(server__bucket_take(&tat, now, interval, 3, &retry) == 0);
    }
    CHECK(server__bucket_take(&tat, now, interval, 3, &retry) == 1);
    /* a steady rate at exactly the limit is always served */
    for (int i = 1; i <= 100; i++) {
        CHECK(server__bucket_take(&tat, now + (uint64_t)i * interval, interval, 3, &retry) == 0);
    }
    /* burst 1, 1/s */
    tat = 0;
    CHECK(server__bucket_take(&tat, T0, S, 1, &retry) == 0);
    CHECK(server__bucket_take(&tat, T0 + 1, S, 1, &retry) == 1);
    CHECK(retry == S - 1);
    CHECK(server__bucket_take(&tat, T0 + S, S, 1, &retry) == 0);
}

static void test_retry_rounding(void)
{
    CHECK(server__retry_after_s(0) == 1);
    CHECK(server__retry_after_s(1) == 1);
    CHECK(server__retry_after_s(S) == 1);
    CHECK(server__retry_after_s(S + 1) == 2);
    CHECK(server__retry_after_s(2 * S - 1) == 2);
    CHECK(server__retry_after_s(2 * S) == 2);
    CHECK(server__retry_after_s(1000000 * S) == 86400);
}

static void test_clock_backwards(void)
{
    uint64_t tat = 0, retry = 0, interval = S; /* 1/s, burst 2 */

    CHECK(server__bucket_take(&tat, T0, interval, 2, &retry) == 0);
    CHECK(server__bucket_take(&tat, T0, interval, 2, &retry) == 0);
    CHECK(server__bucket_take(&tat, T0, interval, 2, &retry) == 1);
    /* the clock jumps back an hour: the bucket is empty, but a refusal waits one
     * interval at most (no huge Retry-After, no unsigned wrap-around) */
    CHECK(server__bucket_take(&tat, T0 - 3600 * S, interval, 2, &retry) == 1);
    CHECK(retry == interval);
    CHECK(server__bucket_take(&tat, T0 - 3600 * S + interval, interval, 2, &retry) == 0);
    /* and going back to time 0 does not wrap */
    tat = T0 + 5 * S;
    CHECK(server__bucket_take(&tat, 0, interval, 2, &retry) == 1);
    CHECK(retry == interval);
}

static void test_address(void)
{
    uint8_t a[16], b[16];
    struct sockaddr_in6 in6;
    struct sockaddr_un {
        sa_family_t family;
    } other = {AF_UNIX};

    addr4(a, "192.0.2.7");
    CHECK(a[10] == 0xff && a[11] == 0xff && a[12] == 192 && a[15] == 7 && a[0] == 0);
    /* an IPv6 client is its /64 */
    memset(&in6, 0, sizeof(in6));
    in6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "2001:db8:1:2:aaaa:bbbb:cccc:dddd", &in6.sin6_addr);
    CHECK(server__limit_address(a, (struct sockaddr *)&in6) == 0);
    inet_pton(AF_INET6, "2001:db8:1:2::1", &in6.sin6_addr);
    CHECK(server__limit_address(b, (struct sockaddr *)&in6) == 0);
    CHECK_MEM(a, b, 16);
    inet_pton(AF_INET6, "2001:db8:1:3::1", &in6.sin6_addr);
    CHECK(server__limit_address(b, (struct sockaddr *)&in6) == 0);
    CHECK(memcmp(a, b, 16) != 0);
    /* a v4-mapped address keeps all its bits, and equals the IPv4 one */
    inet_pton(AF_INET6, "::ffff:192.0.2.7", &in6.sin6_addr);
    CHECK(server__limit_address(a, (struct sockaddr *)&in6) == 0);
    addr4(b, "192.0.2.7");
    CHECK_MEM(a, b, 16);
    CHECK(server__limit_address(a, (struct sockaddr *)&other) == NT_EINVAL);
    CHECK(server__limit_address(a, NULL) == NT_EINVAL);
    CHECK(a[0] == 0 && a[10] == 0 && a[15] == 0); /* zeroed: one shared bucket */
}

/* ------------------------------------------------------------------ limiter */

static int take(server_limiter *l, unsigned cls, const char *ip, const server_api_key *key,
                uint64_t now, server_limit_verdict *v)
{
    uint8_t a[16];
    addr4(a, ip);
    return server_limiter_take(v, l, cls, a, key, now);
}

static void test_scopes(void)
{
    server_config *cfg = config("{\"tsa\": {\"per_address\": {\"rate\": 2, \"burst\": 4},"
                                "          \"per_key\": {\"rate\": 1, \"burst\": 2},"
                                "          \"per_tenant\": {\"rate\": 1, \"burst\": 3}},"
                                " \"verify\": {\"per_address\": {\"rate\": 1}}}");
    server_limiter *l = NULL;
    server_limit_verdict v;
    const server_api_key *a1, *a2, *b1;

    if (cfg == NULL) {
        return;
    }
    a1 = &cfg->api_keys[0];
    a2 = &cfg->api_keys[1];
    b1 = &cfg->api_keys[2];
    CHECK_OK(server_limiter_new(&l, cfg));
    /* per_address: anonymous clients, 4 at once from one address */
    for (int i = 0; i < 4; i++) {
        CHECK(take(l, SERVER_LIMIT_TSA, "10.0.0.1", NULL, T0, &v) == 0);
    }
    CHECK(take(l, SERVER_LIMIT_TSA, "10.0.0.1", NULL, T0, &v) == 1);
    CHECK(v.scope == SERVER_LIMIT_PER_ADDRESS && v.retry_after_s == 1 && v.retry_ns == S / 2);
    /* another address is another bucket */
    CHECK(take(l, SERVER_LIMIT_TSA, "10.0.0.2", NULL, T0, &v) == 0);
    /* a request with a key is not its address's: 10.0.0.1 is empty, a1 passes */
    CHECK(take(l, SERVER_LIMIT_TSA, "10.0.0.1", a1, T0, &v) == 0);
    /* per_key: a1 has one more (burst 2), then its key refuses */
    CHECK(take(l, SERVER_LIMIT_TSA, "10.0.1.2", a1, T0, &v) == 0);
    CHECK(take(l, SERVER_LIMIT_TSA, "10.0.1.3", a1, T0, &v) == 1);
    CHECK(v.scope == SERVER_LIMIT_PER_KEY && v.retry_ns == S);
    /* per_tenant: a2 shares tenant ta (3 at once, 2 used): one more, then the tenant
     * refuses, again and again, and says so each time: the token a2's key gave for each
     * refused request was given back (else its key, burst 2, would be the one refusing) */
    CHECK(take(l, SERVER_LIMIT_TSA, "10.0.1.4", a2, T0, &v) == 0);
    for (int i = 0; i < 4; i++) {
        CHECK(take(l, SERVER_LIMIT_TSA, "10.0.1.5", a2, T0, &v) == 1);
        CHECK(v.scope == SERVER_LIMIT_PER_TENANT && v.retry_after_s == 1);
    }
    /* a second later the tenant has one token, and a2's key still has its second */
    CHECK(take(l, SERVER_LIMIT_TSA, "10.0.1.5", a2, T0 + S, &v) == 0);
    CHECK(take(l, SERVER_LIMIT_TSA, "10.0.1.5", a2, T0 + S, &v) == 1);
    CHECK(v.scope == SERVER_LIMIT_PER_TENANT);
    /* tenant tb is untouched */
    CHECK(take(l, SERVER_LIMIT_TSA, "10.0.1.1", b1, T0, &v) == 0);
    /* evidence has no limits configured; verify per address only, keys ignored */
    for (int i = 0; i < 100; i++) {
        CHECK(take(l, SERVER_LIMIT_EVIDENCE, "10.0.0.1", a1, T0, &v) == 0);
    }
    CHECK(take(l, SERVER_LIMIT_VERIFY, "10.0.0.1", a1, T0, &v) == 0);
    CHECK(take(l, SERVER_LIMIT_VERIFY, "10.0.0.1", b1, T0, &v) == 1);
    CHECK(v.scope == SERVER_LIMIT_PER_ADDRESS);
    server_limiter_free(l);
    server_config_free(cfg);
}

static void test_overrides(void)
{
    server_config *cfg = config(
        "{\"tsa\": {\"per_key\": {\"rate\": 1, \"burst\": 1}, \"per_tenant\": {\"rate\": 1000}},"
        " \"overrides\": [{\"key_id\": \"a1\", \"tsa\": {\"rate\": 50, \"burst\": 5}},"
        "                 {\"tenant\": \"tb\", \"tsa\": {\"rate\": 1, \"burst\": 1}},"
        "                 {\"key_id\": \"b1\", \"tsa\": null}]}");
    server_limiter *l = NULL;
    server_limit_verdict v;

    if (cfg == NULL) {
        return;
    }
    CHECK_OK(server_limiter_new(&l, cfg));
    /* a1: 5 at once instead of 1 */
    for (int i = 0; i < 5; i++) {
        CHECK(take(l, SERVER_LIMIT_TSA, "10.0.0.1", &cfg->api_keys[0], T0, &v) == 0);
    }
    CHECK(take(l, SERVER_LIMIT_TSA, "10.0.0.1", &cfg->api_keys[0], T0, &v) == 1);
    CHECK(v.scope == SERVER_LIMIT_PER_KEY && v.retry_ns == S / 50);
    /* a2: the default per_key */
    CHECK(take(l, SERVER_LIMIT_TSA, "10.0.0.1", &cfg->api_keys[1], T0, &v) == 0);
    CHECK(take(l, SERVER_LIMIT_TSA, "10.0.0.1", &cfg->api_keys[1], T0, &v) == 1);
    /* b1: its key is unlimited (null), its tenant tb is 1/s */
    CHECK(take(l, SERVER_LIMIT_TSA, "10.0.0.1", &cfg->api_keys[2], T0, &v) == 0);
    CHECK(take(l, SERVER_LIMIT_TSA, "10.0.0.1", &cfg->api_keys[2], T0, &v) == 1);
    CHECK(v.scope == SERVER_LIMIT_PER_TENANT);
    server_limiter_free(l);
    server_config_free(cfg);
}

static void test_table_bounded(void)
{
    server_config *cfg =
        config("{\"max_buckets\": 64, \"tsa\": {\"per_address\": {\"rate\": 1, \"burst\": 2}}}");
    server_limiter *l = NULL;
    server_limit_verdict v;
    nt_buf m = NT_BUF_INIT;
    char ip[32];

    if (cfg == NULL) {
        return;
    }
    CHECK_OK(server_limiter_new(&l, cfg));
    /* 10000 addresses, one request each: the table never holds more than 64 */
    for (unsigned i = 0; i < 10000; i++) {
        snprintf(ip, sizeof(ip), "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
        CHECK(take(l, SERVER_LIMIT_TSA, ip, NULL, T0, &v) == 0);
        CHECK(server_limiter_tracked(l) <= 64);
    }
    CHECK(server_limiter_tracked(l) == 64);
    CHECK_OK(server_limiter_metrics(&m, l));
    CHECK(strstr(nt_buf_cstr(&m), "notarium_rate_limit_buckets_max 64\n") != NULL);
    CHECK(strstr(nt_buf_cstr(&m), "notarium_rate_limit_evictions_total 9936\n") != NULL);
    /* those buckets refill: two seconds later each is full, and a visit to its set drops
     * the full ones there (a full bucket and no bucket are the same) */
    CHECK(take(l, SERVER_LIMIT_TSA, "11.0.0.1", NULL, T0 + 2 * S, &v) == 0);
    CHECK(server_limiter_tracked(l) == 64 - LIMITER_WAYS_TESTED + 1);
    nt_buf_dispose(&m);
    server_limiter_free(l);
    server_config_free(cfg);
}

/* An eviction loses the least: in a full set the bucket closest to full goes. */
static void test_eviction_order(void)
{
    server_config *cfg =
        config("{\"max_buckets\": 64, \"tsa\": {\"per_address\": {\"rate\": 1, \"burst\": 1}}}");
    server_limiter *l = NULL;
    server_limit_verdict v;
    char ip[32];
    unsigned before, after;

    if (cfg == NULL) {
        return;
    }
    CHECK_OK(server_limiter_new(&l, cfg));
    /* the victim is emptied last, so it is the farthest from full in every set */
    for (unsigned i = 0; i < 64 * 4; i++) {
        snprintf(ip, sizeof(ip), "10.1.%u.%u", i >> 8, i & 255);
        take(l, SERVER_LIMIT_TSA, ip, NULL, T0 + i, &v);
    }
    CHECK(take(l, SERVER_LIMIT_TSA, "10.9.9.9", NULL, T0 + 1000, &v) == 0);
    before = (unsigned)take(l, SERVER_LIMIT_TSA, "10.9.9.9", NULL, T0 + 1000, &v);
    for (unsigned i = 0; i < 64 * 4; i++) {
        snprintf(ip, sizeof(ip), "10.2.%u.%u", i >> 8, i & 255);
        take(l, SERVER_LIMIT_TSA, ip, NULL, T0 + 999, &v);
    }
    after = (unsigned)take(l, SERVER_LIMIT_TSA, "10.9.9.9", NULL, T0 + 1000, &v);
    CHECK(before == 1);
    CHECK(after == 1); /* still refused: its bucket was not the one evicted */
    server_limiter_free(l);
    server_config_free(cfg);
}

/* One thread, a new address per request (the table full, evicting): time per take. */
static void test_many_addresses_timed(void)
{
    server_config *cfg = config("{\"tsa\": {\"per_address\": {\"rate\": 10, \"burst\": 20}}}");
    server_limiter *l = NULL;
    server_limit_verdict v;
    uint8_t a[16] = {0};
    uint64_t t0;
    unsigned refused = 0;

    if (cfg == NULL) {
        return;
    }
    CHECK_OK(server_limiter_new(&l, cfg));
    t0 = nt_mono_ns();
    for (uint32_t i = 0; i < 200000; i++) {
        memcpy(a + 12, &i, 4);
        refused += (unsigned)server_limiter_take(&v, l, SERVER_LIMIT_TSA, a, NULL, T0 + i);
    }
    printf("ratelimit_test: 200000 takes, one new address each, 65536 buckets: %.0f ns per "
           "take\n",
           (double)(nt_mono_ns() - t0) / 2e5);
    CHECK(refused == 0);
    CHECK(server_limiter_tracked(l) <= 65536);
    server_limiter_free(l);
    server_config_free(cfg);
}

typedef struct {
    server_limiter *l;
    const server_config *cfg;
    unsigned allowed;
} thread_arg;

static void *hammer(void *p)
{
    thread_arg *a = p;
    server_limit_verdict v;
    uint8_t addr[16];
    addr4(addr, "10.0.0.1");
    for (int i = 0; i < 20000; i++) {
        if (server_limiter_take(&v, a->l, SERVER_LIMIT_EVIDENCE, addr, &a->cfg->api_keys[0], T0) ==
            0) {
            a->allowed++;
        }
    }
    return NULL;
}

/* Four threads on one key at one instant: exactly burst requests pass.  The time per take
 * is printed (information for docs/PERFORMANCE.md, not a check). */
static void test_threads(void)
{
    uint64_t t0;
    server_config *cfg = config("{\"evidence\": {\"per_key\": {\"rate\": 10, \"burst\": 1000}}}");
    server_limiter *l = NULL;
    pthread_t t[4];
    thread_arg a[4];
    unsigned total = 0;

    if (cfg == NULL) {
        return;
    }
    CHECK_OK(server_limiter_new(&l, cfg));
    t0 = nt_mono_ns();
    for (int i = 0; i < 4; i++) {
        a[i] = (thread_arg){l, cfg, 0};
        pthread_create(&t[i], NULL, hammer, &a[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        total += a[i].allowed;
    }
    printf("ratelimit_test: 4 threads x 20000 takes on one key: %.0f ns per take\n",
           (double)(nt_mono_ns() - t0) / 80000.0);
    CHECK(total == 1000);
    server_limiter_free(l);
    server_config_free(cfg);
}

/* ------------------------------------------------------------------ replies and metrics */

static void test_replies(void)
{
    server_limit_verdict v = {SERVER_LIMIT_PER_KEY, S + 1, 2};
    server_reply r;
    const unsigned char *p;
    TS_RESP *resp;
    json_t *j;

    server_reply_init(&r);
    server_limit_reply(&r, SERVER_LIMIT_TSA, &v);
    CHECK(r.status == 429 && r.retry_after == 2);
    CHECK_STR(r.content_type, "application/timestamp-reply");
    p = r.body.ptr;
    resp = d2i_TS_RESP(NULL, &p, (long)r.body.len);
    CHECK(resp != NULL);
    if (resp != NULL) {
        TS_STATUS_INFO *si = TS_RESP_get_status_info(resp);
        CHECK(ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(si)) == 2); /* rejection */
        CHECK(TS_STATUS_INFO_get0_failure_info(si) == NULL);
        CHECK(TS_RESP_get_token(resp) == NULL);
        const STACK_OF(ASN1_UTF8STRING) *text = TS_STATUS_INFO_get0_text(si);
        CHECK(text != NULL && sk_ASN1_UTF8STRING_num(text) == 1);
        if (text != NULL && sk_ASN1_UTF8STRING_num(text) == 1) {
            const ASN1_UTF8STRING *t = sk_ASN1_UTF8STRING_value(text, 0);
            CHECK(strncmp((const char *)ASN1_STRING_get0_data(t),
                          "rate limited (tsa per_key), retry after 2 s",
                          (size_t)ASN1_STRING_length(t)) == 0);
        }
        TS_RESP_free(resp);
    }
    server_reply_dispose(&r);

    server_reply_init(&r);
    v.scope = SERVER_LIMIT_PER_TENANT;
    server_limit_reply(&r, SERVER_LIMIT_EVIDENCE, &v);
    CHECK(r.status == 429 && r.retry_after == 2);
    j = json_loadb((const char *)r.body.ptr, r.body.len, 0, NULL);
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "error")), "rate_limited");
    CHECK_STR(json_string_value(json_object_get(j, "limit")), "per_tenant");
    CHECK_STR(json_string_value(json_object_get(j, "route")), "evidence");
    CHECK(json_integer_value(json_object_get(j, "retry_after")) == 2);
    json_decref(j);
    server_reply_dispose(&r);
}

static void test_metrics(void)
{
    server_config *cfg = config("{\"verify\": {\"per_address\": {\"rate\": 1, \"burst\": 1}}}");
    server_limiter *l = NULL;
    server_limit_verdict v;
    nt_buf m = NT_BUF_INIT;

    if (cfg == NULL) {
        return;
    }
    CHECK_OK(server_limiter_new(&l, cfg));
    CHECK(take(l, SERVER_LIMIT_VERIFY, "10.0.0.1", NULL, T0, &v) == 0);
    CHECK(take(l, SERVER_LIMIT_VERIFY, "10.0.0.1", NULL, T0, &v) == 1);
    CHECK(take(l, SERVER_LIMIT_VERIFY, "10.0.0.1", NULL, T0, &v) == 1);
    CHECK_OK(server_limiter_metrics(&m, l));
    CHECK(strstr(nt_buf_cstr(&m),
                 "notarium_rate_limited_total{route=\"verify\",scope=\"per_address\"} 2\n") !=
          NULL);
    CHECK(strstr(nt_buf_cstr(&m),
                 "notarium_rate_limited_total{route=\"tsa\",scope=\"per_key\"} 0\n") != NULL);
    CHECK(strstr(nt_buf_cstr(&m), "notarium_rate_limit_buckets 1\n") != NULL);
    /* no series for a scope a class never applies */
    CHECK(strstr(nt_buf_cstr(&m), "route=\"verify\",scope=\"per_key\"") == NULL);
    CHECK(strstr(nt_buf_cstr(&m), "route=\"evidence\",scope=\"per_address\"") == NULL);
    nt_buf_dispose(&m);
    server_limiter_free(l);
    server_config_free(cfg);
}

int main(void)
{
    test_bucket();
    test_retry_rounding();
    test_clock_backwards();
    test_address();
    test_scopes();
    test_overrides();
    test_table_bounded();
    test_eviction_order();
    test_threads();
    test_many_addresses_timed();
    test_replies();
    test_metrics();
    return TEST_END();
}
