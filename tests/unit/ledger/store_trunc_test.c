/*
 * store_trunc_test.c - a truncated data.mdb (ledger/store.c, issue 13 item
 * 11).  LMDB maps the file, and a page past its end is SIGBUS on first read:
 * `notarium serve` and `notarium ledger info` crashed.  ledger_open and
 * ledger_open_readonly now compare the file's size with what the newest meta
 * page says is in use and refuse with NT_ECORRUPT and a message naming the
 * file and both sizes.  Its twin: a healthy ledger is never refused; after
 * every batch of a run with batches of 1..24 leaves, small and large (overflow
 * pages) leaves and metadata, the file covers the used pages.
 */
#include "tests/unit/ledger/store_fixture.h"

#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static EVP_PKEY *g_key;
static atomic_int g_done;

static ledger_options opts(const char *dir)
{
    ledger_options o = fix_ledger_options(dir, g_key, (size_t)256 << 20);
    o.batch_window_us = 2000;
    return o;
}

static void count_done(void *ctx, int error, uint64_t index)
{
    (void)ctx;
    (void)index;
    CHECK(error == 0);
    atomic_fetch_add(&g_done, 1);
}

static uint64_t file_size(const char *dir)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    REQUIRE(stat(path, &st) == 0);
    return (uint64_t)st.st_size;
}

static void truncate_to(const char *dir, uint64_t size)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    REQUIRE(truncate(path, (off_t)size) == 0);
}

/* Appends in bursts; after each batch the file must cover every used page. */
static uint64_t fill_checked(ledger *l, const char *dir)
{
    nt_buf leaf = NT_BUF_INIT, meta = NT_BUF_INIT;
    uint64_t seed = 0, want = 0;
    ledger_info info;

    for (int round = 0; round < 150; round++) {
        int k = 1 + (round * 7) % 24;
        for (int i = 0; i < k; i++, seed++) {
            size_t token = seed % 13 == 0 ? 30000 : 64 + (size_t)(seed * 37 % 900);
            fix_leaf_ex(&leaf, seed, seed, token, fix_has_meta(seed));
            nt_buf_clear(&meta);
            if (fix_has_meta(seed)) {
                fix_meta(&meta, seed);
            }
            REQUIRE(ledger_append_async(l, nt_buf_bytes(&leaf), nt_buf_bytes(&meta), count_done,
                                        NULL) == 0);
        }
        want += (uint64_t)k;
        for (int spin = 0; atomic_load(&g_done) < (int)want && spin < 30000; spin++) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        REQUIRE(atomic_load(&g_done) == (int)want);
        REQUIRE(ledger_info_get(&info, l) == 0);
        CHECK(file_size(dir) >= info.map_used);
    }
    nt_buf_dispose(&leaf);
    nt_buf_dispose(&meta);
    return want;
}

static void test_truncated(void)
{
    char dir[256];
    ledger *l = NULL;
    ledger_options o;
    ledger_info info;
    uint64_t n, full_size;
    char want[64];

    REQUIRE(test_tmpdir(dir, sizeof(dir)) != NULL);
    o = opts(dir);
    CHECK_OK(ledger_open(&l, &o));
    REQUIRE(l != NULL);
    n = fill_checked(l, dir);
    ledger_close(l);
    l = NULL;

    /* healthy: both opens work and see every leaf */
    CHECK_OK(ledger_open_readonly(&l, &o));
    REQUIRE(l != NULL);
    CHECK_OK(ledger_info_get(&info, l));
    CHECK(info.size == n);
    ledger_close(l);
    l = NULL;
    CHECK_OK(ledger_open(&l, &o));
    REQUIRE(l != NULL);
    CHECK_OK(ledger_info_get(&info, l));
    ledger_close(l);
    l = NULL;
    full_size = file_size(dir);
    REQUIRE(full_size >= info.map_used && info.map_used > 3 * 4096);

    /* one page short: refused by both opens, naming the file and both sizes */
    truncate_to(dir, info.map_used - 4096);
    snprintf(want, sizeof(want), "has %llu bytes", (unsigned long long)(info.map_used - 4096));
    CHECK_ERR(ledger_open_readonly(&l, &o), NT_ECORRUPT);
    CHECK(l == NULL);
    CHECK(strstr(nt_error_last(), "data.mdb is truncated") != NULL);
    CHECK(strstr(nt_error_last(), want) != NULL);
    snprintf(want, sizeof(want), "says %llu bytes", (unsigned long long)info.map_used);
    CHECK(strstr(nt_error_last(), want) != NULL);
    CHECK_ERR(ledger_open(&l, &o), NT_ECORRUPT);
    CHECK(l == NULL);
    CHECK(strstr(nt_error_last(), "data.mdb is truncated") != NULL);

    /* cut to half: the same */
    truncate_to(dir, full_size / 2);
    CHECK_ERR(ledger_open_readonly(&l, &o), NT_ECORRUPT);
    CHECK_ERR(ledger_open(&l, &o), NT_ECORRUPT);

    /* too short even for the meta pages: LMDB itself refuses (no SIGBUS either) */
    truncate_to(dir, 4096);
    CHECK(ledger_open_readonly(&l, &o) < 0);
    CHECK(l == NULL);
    CHECK(ledger_open(&l, &o) < 0);
    CHECK(l == NULL);
    fix_rm_rf(dir);
}

int main(void)
{
    g_key = fix_key();
    test_truncated();
    EVP_PKEY_free(g_key);
    return TEST_END();
}
