/*
 * store_index_test.c - the digest index in its own environment (ledger/store_index.c).
 * A digest is found from the moment its append is acknowledged (before the
 * indexer has written it) and after; a check through the writer's handle
 * finds every digest; several leaves with one digest page
 * correctly across the queue and the environment; ledger_close writes the
 * queue; a reopen indexes what the index lacks (index/ removed, or "upto"
 * set back); an index ahead of the ledger is rebuilt (an entry it alone held
 * is gone); a ledger whose index is the main environment's old "digests" has
 * it moved to index/ (an entry only the old index held is found afterwards)
 * and the old one emptied; digests an older version wrote there after that
 * are merged in without losing the index's own.  Many digests at once go in
 * several transactions (LMDB holds a transaction's dirty pages in memory):
 * 10,000 leaves gathered at close are all indexed with "upto" at the end, and an
 * old index of more than one copying transaction's entries moves whole.
 */
#include "tests/unit/ledger/store_fixture.h"
#include "tests/unit/ledger/store_raw.h"

#include <time.h>

#define N_LEAVES 300u
#define N_MANY   10000u /* more than one index transaction (STORE_INDEX_TXN_MAX, 4,096) */
#define N_OLD    70000u /* more than one copying transaction (STORE_INDEX_MIGRATE_TXN) */

static void digest_of(uint8_t d[32], uint64_t seed)
{
    uint8_t s[8];
    nt_store_u64be(s, seed);
    fix_sha256(d, s, sizeof(s));
}

/* The indexes of digest SHA-256(seed) from `from`, at most max. */
static size_t find(uint64_t *out, size_t cap, ledger *l, uint64_t seed, uint64_t from, size_t max)
{
    uint8_t d[32];
    uint64_t *found = NULL;
    size_t n = 0;
    digest_of(d, seed);
    CHECK_OK(ledger_find_digest_from(&found, &n, l, RECORD_ALG_SHA256, NT_BYTES(d, 32), from, max));
    CHECK(n <= max && n <= cap);
    CHECK((n == 0) == (found == NULL));
    for (size_t i = 0; i < n && i < cap; i++) {
        out[i] = found[i];
        CHECK(i == 0 || found[i] > found[i - 1]);
    }
    nt_free(found);
    return n;
}

/* Leaf i (< n) by its digest SHA-256(i); digest 7 has `sevens` leaves. */
static void expect_all(ledger *l, uint64_t n, size_t sevens)
{
    uint64_t got[2];
    for (uint64_t i = 0; i < n; i++) {
        size_t k = find(got, 2, l, i, 0, 2);
        CHECK(k == (i == 7 && sevens > 1 ? 2u : 1u) && got[0] == i);
    }
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Entries of a named DB of the environment at dir (0 when the DB is missing). */
static size_t raw_count(const char *dir, const char *db)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_stat st = {0};
    REQUIRE(mdb_env_create(&env) == 0);
    REQUIRE(mdb_env_set_maxdbs(env, 16) == 0);
    REQUIRE(mdb_env_open(env, dir, MDB_RDONLY, 0600) == 0);
    REQUIRE(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0);
    if (mdb_dbi_open(txn, db, 0, &dbi) == 0) {
        REQUIRE(mdb_stat(txn, dbi, &st) == 0);
    }
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return st.ms_entries;
}

static void index_path(char *out, size_t cap, const char *dir)
{
    snprintf(out, cap, "%s/index", dir);
}

static void test_visible_at_once(const char *dir)
{
    ledger *l = NULL;
    ledger_options o = fix_store_opts(dir);
    uint64_t index, got[16];

    CHECK_OK(ledger_open(&l, &o));
    /* each digest right after its acknowledgement: from the indexer's queue */
    for (uint64_t i = 0; i < N_LEAVES; i++) {
        CHECK_OK(fix_append(&index, l, i));
        CHECK(index == i);
        CHECK(find(got, 2, l, i, 0, 2) == 1 && got[0] == i);
    }
    /* a check through the writer's handle at once: it has the queue written first
     * (store__index_flush) and finds every digest */
    fix_check_clean(l, N_LEAVES);
    sleep_ms(100); /* the indexer has written them: from the environment */
    expect_all(l, N_LEAVES, 1);
    CHECK(find(got, 2, l, N_LEAVES + 7, 0, 2) == 0);

    /* five leaves with digest SHA-256(7) in the environment, five more in the queue */
    nt_buf leaf = NT_BUF_INIT;
    for (uint64_t k = 0; k < 10; k++) {
        if (k == 5) {
            sleep_ms(100);
        }
        fix_leaf_ex(&leaf, 1000 + k, 7, 40, 0);
        CHECK_OK(ledger_append(&index, l, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0)));
    }
    nt_buf_dispose(&leaf);
    CHECK(find(got, 16, l, 7, 0, 16) == 11); /* leaf 7 and the ten */
    CHECK(got[0] == 7 && got[1] == N_LEAVES && got[10] == N_LEAVES + 9);
    CHECK(find(got, 16, l, 7, N_LEAVES + 3, 4) == 4); /* a page across both */
    CHECK(got[0] == N_LEAVES + 3 && got[3] == N_LEAVES + 6);
    CHECK(find(got, 16, l, 7, N_LEAVES + 9, 4) == 1 && got[0] == N_LEAVES + 9);
    CHECK(find(got, 16, l, 7, N_LEAVES + 10, 4) == 0);
    /* close writes the queue: nothing is left to catch up (checked below by "upto") */
    ledger_close(l);
}

static void set_upto(const char *dir, uint64_t upto)
{
    char ipath[512];
    uint8_t word[8];
    index_path(ipath, sizeof(ipath), dir);
    nt_store_u64be(word, upto);
    raw_put(ipath, "meta", "upto", 4, word, 8);
}

static uint64_t get_upto(const char *dir)
{
    char ipath[512];
    nt_buf v = NT_BUF_INIT;
    index_path(ipath, sizeof(ipath), dir);
    raw_get(ipath, "meta", "upto", 4, &v);
    REQUIRE(v.len == 8);
    uint64_t u = nt_load_u64be(v.ptr);
    nt_buf_dispose(&v);
    return u;
}

static void test_reopen(const char *dir)
{
    ledger *l = NULL;
    ledger_options o = fix_store_opts(dir);
    char ipath[512], cmd[600];
    uint8_t d[33], word[8];
    uint64_t got[2];
    const uint64_t total = N_LEAVES + 10;

    index_path(ipath, sizeof(ipath), dir);
    CHECK(get_upto(dir) == total);

    /* the index lost its last transactions (a crash): "upto" back to 100, and the
     * entries of leaves 100.. deleted */
    for (uint64_t i = 100; i < N_LEAVES; i++) {
        d[0] = (uint8_t)RECORD_ALG_SHA256;
        digest_of(d + 1, i);
        raw_put(ipath, "digests", d, 33, NULL, 0);
    }
    set_upto(dir, 100);
    CHECK_OK(ledger_open(&l, &o));
    expect_all(l, N_LEAVES, 11);
    ledger_close(l);
    CHECK(get_upto(dir) == total);

    /* index/ removed: built again from the leaves */
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ipath);
    REQUIRE(system(cmd) == 0);
    CHECK_OK(ledger_open(&l, &o));
    expect_all(l, N_LEAVES, 11);
    ledger_close(l);

    /* an index ahead of the ledger describes other leaves: rebuilt; an entry only it
     * held (digest SHA-256(5000) -> 3) is gone */
    d[0] = (uint8_t)RECORD_ALG_SHA256;
    digest_of(d + 1, 5000);
    nt_store_u64be(word, 3);
    raw_put(ipath, "digests", d, 33, word, 8);
    set_upto(dir, total + 50);
    CHECK_OK(ledger_open(&l, &o));
    CHECK(find(got, 2, l, 5000, 0, 2) == 0);
    expect_all(l, N_LEAVES, 11);
    ledger_close(l);
    CHECK(get_upto(dir) == total);
}

/* n entries key -> 0..n-1 (big-endian) into a named DUPSORT DB, in one transaction. */
static void raw_put_dups(const char *dir, const char *db, const uint8_t *key, size_t klen,
                         uint64_t n)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    uint8_t word[8];
    MDB_val k = {klen, (void *)(uintptr_t)key}, v = {8, word};

    REQUIRE(mdb_env_create(&env) == 0);
    REQUIRE(mdb_env_set_maxdbs(env, 16) == 0);
    REQUIRE(mdb_env_open(env, dir, 0, 0600) == 0);
    REQUIRE(mdb_txn_begin(env, NULL, 0, &txn) == 0);
    REQUIRE(mdb_dbi_open(txn, db, 0, &dbi) == 0);
    for (uint64_t i = 0; i < n; i++) {
        nt_store_u64be(word, i);
        REQUIRE(mdb_put(txn, dbi, &k, &v, 0) == 0);
    }
    REQUIRE(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
}

/* N_MANY leaves appended at once, their digests still queued when the ledger
 * closes: written in several transactions, each found after a reopen, "upto" at
 * the end. */
static void test_many(const char *dir)
{
    ledger *l = NULL;
    ledger_options o = fix_store_opts(dir);
    fix_waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, (int)N_MANY, 0};
    nt_buf leaf = NT_BUF_INIT;
    uint64_t got[2];

    o.queue_max = 2 * N_MANY; /* all queued at once */
    CHECK_OK(ledger_open(&l, &o));
    for (uint64_t i = 0; i < N_MANY; i++) {
        fix_leaf_plain(&leaf, i, 40);
        REQUIRE(ledger_append_full_async(l, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0),
                                         NT_BYTES(NULL, 0), 0, fix_on_done, &w) == 0);
    }
    (void)fix_waiter_wait(&w);
    CHECK(w.failed == 0);
    nt_buf_dispose(&leaf);
    ledger_close(l);
    CHECK(get_upto(dir) == N_MANY);
    CHECK_OK(ledger_open(&l, &o));
    expect_all(l, N_MANY, 1);
    CHECK(find(got, 2, l, N_MANY, 0, 2) == 0);
    ledger_close(l);
}

/* A ledger from before index/: its index is the main environment's "digests". */
static void test_migrate(const char *dir)
{
    ledger *l = NULL;
    ledger_options o = fix_store_opts(dir);
    char ipath[512], cmd[600];
    uint8_t d[33], word[8];
    uint64_t got[2];

    index_path(ipath, sizeof(ipath), dir);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ipath);
    REQUIRE(system(cmd) == 0);
    for (uint64_t i = 0; i < N_LEAVES; i++) {
        d[0] = (uint8_t)RECORD_ALG_SHA256;
        digest_of(d + 1, i);
        nt_store_u64be(word, i);
        raw_put(dir, "digests", d, 33, word, 8);
    }
    for (uint64_t k = 0; k < 10; k++) { /* the ten later leaves with digest SHA-256(7) */
        digest_of(d + 1, 7);
        nt_store_u64be(word, N_LEAVES + k);
        raw_put(dir, "digests", d, 33, word, 8);
    }
    /* an entry only the old index has: found after the move shows it was copied */
    digest_of(d + 1, 6000);
    nt_store_u64be(word, 4);
    raw_put(dir, "digests", d, 33, word, 8);
    /* and more entries than one copying transaction takes (one digest, N_OLD indexes) */
    digest_of(d + 1, 8000);
    raw_put_dups(dir, "digests", d, 33, N_OLD);
    CHECK(raw_count(dir, "digests") == N_LEAVES + 11 + N_OLD);

    CHECK_OK(ledger_open(&l, &o));
    CHECK(find(got, 2, l, 6000, 0, 2) == 1 && got[0] == 4);
    expect_all(l, N_LEAVES, 11);
    ledger_close(l);
    CHECK(raw_count(dir, "digests") == 0);
    CHECK(raw_count(ipath, "digests") == N_LEAVES + 11 + N_OLD);
    CHECK(get_upto(dir) == N_LEAVES + 10);

    /* An older version ran again (a rollback) and wrote a digest to the main
     * environment, with "upto" behind: the index keeps what it had, the entry is
     * merged in, and the leaves from "upto" on are indexed again. */
    digest_of(d + 1, 7000);
    nt_store_u64be(word, 5);
    raw_put(dir, "digests", d, 33, word, 8);
    set_upto(dir, 100);
    CHECK_OK(ledger_open(&l, &o));
    CHECK(find(got, 2, l, 7000, 0, 2) == 1 && got[0] == 5);
    CHECK(find(got, 2, l, 6000, 0, 2) == 1 && got[0] == 4); /* not emptied by the merge */
    expect_all(l, N_LEAVES, 11);
    ledger_close(l);
    CHECK(raw_count(dir, "digests") == 0);
    CHECK(get_upto(dir) == N_LEAVES + 10);
}

int main(void)
{
    char dir[256];

    nt_log_set_level(NT_LOG_NONE);
    fix_store_setup();
    REQUIRE(test_tmpdir(dir, sizeof(dir)) != NULL);
    test_visible_at_once(dir);
    test_reopen(dir);
    test_migrate(dir);
    fix_rm_rf(dir);
    REQUIRE(test_tmpdir(dir, sizeof(dir)) != NULL);
    test_many(dir);
    fix_rm_rf(dir);
    fix_store_teardown();
    return TEST_END();
}
