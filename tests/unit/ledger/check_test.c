/*
 * check_test.c - ledger_check (ledger/check.c, issue 13 item 11): a ledger of
 * 300 leaves (every fifth with metadata) is intact; then one record at a time
 * is corrupted behind the store's back (store_raw.h) and restored: a bit
 * flipped in a leaf, in its metadata, in a stored subtree hash, in a stored
 * leaf hash, in the head's checkpoint; metadata for a leaf that commits to
 * none; a deleted leaf and a deleted digest index entry.  Each is found with
 * its index as the first problem, and the open-time check (ledger_open_readonly)
 * does not notice any of them, which is why the check exists.
 */
#include "tests/unit/ledger/store_fixture.h"
#include "tests/unit/ledger/store_raw.h"

#define N 300u

static EVP_PKEY *g_key;
static note_verifier g_vkey;
static uint64_t g_progress_done, g_progress_total;

static ledger_options opts(const char *dir)
{
    ledger_options o = fix_ledger_options(dir, g_key, (size_t)64 << 20);
    o.batch_max = 16;
    return o;
}

static void progress(void *ctx, uint64_t done, uint64_t total)
{
    (void)ctx;
    g_progress_done = done;
    g_progress_total = total;
}

/* Open read-only (as the CLI does) and check. */
static void run_check(ledger_check_result *r, const char *dir, size_t max)
{
    ledger *l = NULL;
    ledger_options o = opts(dir);
    ledger_check_options co;

    o.log_key = NULL;
    memset(&co, 0, sizeof(co));
    co.log_vkey = &g_vkey;
    co.max_problems = max;
    co.progress = progress;
    REQUIRE(ledger_open_readonly(&l, &o) == 0);
    CHECK_OK(ledger_check(r, l, &co));
    ledger_close(l);
}

static void expect_clean(const char *dir)
{
    ledger_check_result r;
    run_check(&r, dir, 0);
    CHECK(r.problem_count == 0 && r.kept == 0);
    CHECK(r.size == N && r.leaves == N && r.metadata == N / 5);
    CHECK(r.checkpoints == 1);
    CHECK(g_progress_done == N && g_progress_total == N);
    ledger_check_result_dispose(&r);
}

/* The first problem must be `what` at `index` (and `level`), and the count as given. */
static void expect_first(const char *dir, const char *what, unsigned level, uint64_t index,
                         uint64_t count)
{
    ledger_check_result r;
    run_check(&r, dir, 5);
    CHECK(r.problem_count == count);
    REQUIRE(r.kept >= 1);
    CHECK_STR(r.problems[0].what, what);
    CHECK(r.problems[0].index == index);
    CHECK(r.problems[0].level == level);
    if (r.problem_count != count || strcmp(r.problems[0].what, what) != 0 ||
        r.problems[0].index != index) {
        for (size_t i = 0; i < r.kept; i++) {
            fprintf(stderr, "  problem %s %u/%llu: %s\n", r.problems[i].what, r.problems[i].level,
                    (unsigned long long)r.problems[i].index, r.problems[i].message);
        }
    }
    ledger_check_result_dispose(&r);
}

/* Flip one bit of a stored record, run `expect_first`, put the record back. */
static void flip(const char *dir, const char *db, const uint8_t *key, size_t klen, size_t at,
                 const char *what, unsigned level, uint64_t index, uint64_t count)
{
    nt_buf orig = NT_BUF_INIT, bad = NT_BUF_INIT;
    raw_get(dir, db, key, klen, &orig);
    REQUIRE(nt_buf_set(&bad, orig.ptr, orig.len) == 0);
    REQUIRE(at < bad.len);
    bad.ptr[at] ^= 0x10;
    raw_put(dir, db, key, klen, bad.ptr, bad.len);
    expect_first(dir, what, level, index, count);
    raw_put(dir, db, key, klen, orig.ptr, orig.len);
    expect_clean(dir);
    nt_buf_dispose(&orig);
    nt_buf_dispose(&bad);
}

static void test_check(void)
{
    char dir[256];
    ledger *l = NULL;
    ledger_options o;
    ledger_check_options co;
    ledger_check_result r;
    uint8_t key[9], node[9], dkey[33];
    uint64_t idx;
    nt_buf leaf = NT_BUF_INIT, meta = NT_BUF_INIT, index_dir = NT_BUF_INIT;
    record rec;

    REQUIRE(test_tmpdir(dir, sizeof(dir)) != NULL);
    o = opts(dir);
    CHECK_OK(ledger_open(&l, &o));
    REQUIRE(l != NULL);
    for (uint64_t i = 0; i < N; i++) {
        CHECK_OK(fix_append(&idx, l, i));
    }
    /* through the writer's own handle too; no vkey is refused */
    memset(&co, 0, sizeof(co));
    CHECK_ERR(ledger_check(&r, l, &co), NT_EINVAL);
    ledger_check_result_dispose(&r);
    co.log_vkey = &g_vkey;
    CHECK_OK(ledger_check(&r, l, &co));
    CHECK(r.problem_count == 0 && r.leaves == N);
    ledger_check_result_dispose(&r);
    ledger_close(l);
    expect_clean(dir);

    /* a bit in leaf 137's token: the leaf, and the head's root recomputed from the leaves */
    nt_store_u64be(key, 137);
    flip(dir, "leaves", key, 8, 60, "leaf", 0, 137, 2);
    /* a bit in leaf 136's metadata (136 % 5 == 1: it has some) */
    nt_store_u64be(key, 136);
    flip(dir, "metadata", key, 8, 3, "metadata", 0, 136, 1);
    /* a bit in a stored subtree hash (level 3, index 5: leaves 40..47) */
    node[0] = 3;
    nt_store_u64be(node + 1, 5);
    flip(dir, "nodes", node, 9, 7, "subtree", 3, 5, 1);
    /* a bit in leaf 20's stored hash (level 0) */
    node[0] = 0;
    nt_store_u64be(node + 1, 20);
    flip(dir, "nodes", node, 9, 0, "leaf", 0, 20, 1);
    /* a bit in the head checkpoint's signature line */
    nt_store_u64be(key, N);
    raw_get(dir, "checkpoints", key, 8, &leaf);
    flip(dir, "checkpoints", key, 8, leaf.len - 5, "checkpoint", 0, N, 1);

    /* metadata stored for leaf 2, which commits to none */
    nt_store_u64be(key, 2);
    raw_put(dir, "metadata", key, 8, "{}", 2);
    expect_first(dir, "metadata", 0, 2, 1);
    raw_put(dir, "metadata", key, 8, NULL, 0);
    expect_clean(dir);

    /* leaf 250's digest index entry deleted (the digest DB, in the index's own environment,
     * is DUPSORT: delete all dups of it) */
    nt_store_u64be(key, 250);
    raw_get(dir, "leaves", key, 8, &leaf);
    REQUIRE(record_decode(&rec, leaf.ptr, leaf.len) == 0);
    dkey[0] = (uint8_t)rec.alg;
    memcpy(dkey + 1, rec.digest.ptr, 32);
    REQUIRE(nt_path_join(&index_dir, dir, "index") == 0);
    raw_put(nt_buf_cstr(&index_dir), "digests", dkey, 33, NULL, 0);
    expect_first(dir, "digest-index", 0, 250, 1);

    /* leaf 50 deleted: the tree cannot be recomputed past it */
    nt_store_u64be(key, 50);
    raw_get(dir, "leaves", key, 8, &leaf);
    raw_put(dir, "leaves", key, 8, NULL, 0);
    expect_first(dir, "leaf", 0, 50, 2); /* 50 missing; the digest entry of 250 still gone */

    /* max_problems bounds what is kept, not what is counted */
    run_check(&r, dir, 1);
    CHECK(r.kept == 1 && r.problem_count == 2);
    ledger_check_result_dispose(&r);
    nt_buf_dispose(&leaf);
    nt_buf_dispose(&index_dir);
    nt_buf_dispose(&meta);
    fix_rm_rf(dir);
}

/* A checkpoint signed by another key: the signature check is real. */
static void test_wrong_key(void)
{
    char dir[256];
    ledger *l = NULL;
    ledger_options o;
    note_verifier other;
    EVP_PKEY *k2 = fix_key();
    ledger_check_options co;
    ledger_check_result r;
    uint64_t idx;

    REQUIRE(test_tmpdir(dir, sizeof(dir)) != NULL);
    o = opts(dir);
    CHECK_OK(ledger_open(&l, &o));
    REQUIRE(l != NULL);
    CHECK_OK(fix_append(&idx, l, 1));
    fix_verifier(&other, FIX_ORIGIN, k2);
    memset(&co, 0, sizeof(co));
    co.log_vkey = &other;
    co.all_checkpoints = 1;
    CHECK_OK(ledger_check(&r, l, &co));
    CHECK(r.checkpoints == 2 && r.problem_count == 2);
    REQUIRE(r.kept == 2);
    CHECK_STR(r.problems[0].what, "checkpoint");
    CHECK(r.problems[0].index == 0 && r.problems[1].index == 1);
    ledger_check_result_dispose(&r);
    co.log_vkey = &g_vkey;
    CHECK_OK(ledger_check(&r, l, &co));
    CHECK(r.checkpoints == 2 && r.problem_count == 0);
    ledger_check_result_dispose(&r);
    ledger_close(l);
    EVP_PKEY_free(k2);
    fix_rm_rf(dir);
}

int main(void)
{
    g_key = fix_key();
    fix_verifier(&g_vkey, FIX_ORIGIN, g_key);
    test_check();
    test_wrong_key();
    EVP_PKEY_free(g_key);
    return TEST_END();
}
