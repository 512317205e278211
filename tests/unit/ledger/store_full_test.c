/*
 * store_full_test.c - recovery from a full store (ledger/store.c, issue 13
 * item 7).  A 1 MiB map is filled with 60 KB leaves until a batch fails with
 * NT_EFULL.  Then: appends are refused (NT_EFULL) without touching the store
 * while the back-off runs; after it one append goes in as a probe; a probe
 * that fails again doubles the back-off (a map configured too small stays full
 * but costs one batch per back-off); a probe that fits commits, clears the full
 * state, and appends flow again with the next index and a root that matches
 * the leaves.  Before the fix the full state stayed until a restart.
 */
#include "tests/unit/ledger/store_fixture.h"

#include <time.h>

static EVP_PKEY *g_key;

#define BIG_LEAF 60000u

static ledger_options opts(const char *dir, unsigned retry_ms)
{
    ledger_options o = fix_ledger_options(dir, g_key, 1u << 20);
    o.full_retry_ms = retry_ms;
    return o;
}

/* A fresh 1 MiB ledger with the given back-off, filled until a batch fails; its size. */
static uint64_t fill(ledger *l, uint64_t seed0);
static ledger *open_full(char dir[256], unsigned retry_ms, uint64_t *size_out)
{
    ledger *l = NULL;
    ledger_options o;
    REQUIRE(test_tmpdir(dir, 256) != NULL);
    o = opts(dir, retry_ms);
    REQUIRE(ledger_open(&l, &o) == 0 && l != NULL);
    *size_out = fill(l, 0);
    return l;
}

static void nap_ms(unsigned ms)
{
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

static ledger_info info_of(ledger *l)
{
    ledger_info info;
    REQUIRE(ledger_info_get(&info, l) == 0);
    return info;
}

/* Append 60 KB leaves until one fails; returns the committed size. */
static uint64_t fill(ledger *l, uint64_t seed0)
{
    uint64_t idx = 0;
    int rc = 0;
    for (uint64_t i = 0; i < 40 && rc == 0; i++) {
        rc = fix_append_sized(&idx, l, seed0 + i, BIG_LEAF);
    }
    CHECK(rc == NT_EFULL);
    CHECK(strstr(nt_error_last(), "full") != NULL);
    return info_of(l).size;
}

/* Try big appends until one is let through as the probe (appends_failed grows); bounded. */
static int probe_big(ledger *l, uint64_t seed)
{
    uint64_t failed = info_of(l).appends_failed, idx = 0;
    for (int i = 0; i < 1000; i++) {
        int rc = fix_append_sized(&idx, l, seed, BIG_LEAF);
        if (rc != NT_EFULL || info_of(l).appends_failed > failed) {
            return rc;
        }
        nap_ms(10);
    }
    return NT_ERROR;
}

/* The root the store reports must be the root of the leaves it holds. */
static void check_root(ledger *l)
{
    ledger_info info = info_of(l);
    uint8_t root[32];
    uint8_t *hashes = fix_stored_hashes(l, info.size);
    REQUIRE(merkle_root_naive(root, hashes, info.size) == 0);
    CHECK_MEM(info.root, root, 32);
    nt_free(hashes);
}

/* While the back-off runs, appends are refused at once and never reach the store. */
static void test_refused_during_backoff(void)
{
    char dir[256];
    ledger *l;
    ledger_options o;
    ledger_info info;
    uint64_t idx = 0, size;

    /* ten minutes: nothing in this test reaches the probe */
    l = open_full(dir, 600000, &size);
    o = opts(dir, 600000);
    info = info_of(l);
    CHECK(info.full == 1);
    CHECK(info.full_retry_in_ms > 500000 && info.full_retry_in_ms <= 600000);
    CHECK_ERR(fix_append_sized(&idx, l, 100, 100), NT_EFULL);
    CHECK(strstr(nt_error_last(), "next retry in") != NULL);
    CHECK(info_of(l).appends_failed == info.appends_failed);
    CHECK(info_of(l).size == size);
    ledger_close(l);
    /* A restart starts without the state (the first batch will tell). */
    CHECK_OK(ledger_open(&l, &o));
    REQUIRE(l != NULL);
    CHECK(info_of(l).full == 0 && info_of(l).size == size);
    ledger_close(l);
    fix_rm_rf(dir);
}

static void test_probe_and_recover(void)
{
    char dir[256];
    ledger *l;
    ledger_info info;
    uint64_t idx = 0, size;
    int rc = NT_EFULL;

    l = open_full(dir, 300, &size);
    info = info_of(l);
    CHECK(info.full == 1 && info.full_retry_in_ms <= 300);

    /* The map is still too small for a big leaf: the probe fails, the back-off doubles. */
    CHECK_ERR(probe_big(l, 500), NT_EFULL);
    info = info_of(l);
    CHECK(info.full == 1);
    CHECK(info.full_retry_in_ms > 300 && info.full_retry_in_ms <= 600);
    CHECK(info.size == size);

    /* A small leaf fits: the first probe commits, the state clears, appends flow. */
    for (int i = 0; i < 1000 && rc == NT_EFULL; i++) {
        rc = fix_append_sized(&idx, l, 1000, 100);
        if (rc == NT_EFULL) {
            nap_ms(10);
        }
    }
    CHECK_OK(rc);
    CHECK(idx == size);
    info = info_of(l);
    CHECK(info.full == 0 && info.full_retry_in_ms == 0 && info.size == size + 1);
    CHECK_OK(fix_append_sized(&idx, l, 1001, 100));
    CHECK(idx == size + 1);
    check_root(l);
    ledger_close(l);
    fix_rm_rf(dir);
}

int main(void)
{
    g_key = fix_key();
    test_refused_during_backoff();
    test_probe_and_recover();
    EVP_PKEY_free(g_key);
    return TEST_END();
}
