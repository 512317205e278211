/*
 * store_gentime_test.c - two additions to the ledger store (ledger/store.c):
 * the durable genTime high-water mark committed with every batch
 * (ledger_append_full_async, ledger_info.gen_time_hw_ns), and the restore
 * mode whose leaves come without metadata and are stored as "metadata
 * missing" (ledger_options.restore, receipt.metadata_missing).
 */
#include "tests/unit/ledger/store_fixture.h"

#include <pthread.h>

/* Append leaves seed 0..n-1 (no metadata) with the given genTimes, wait for all. */
static void append_timed(ledger *l, const uint64_t *gen, int n)
{
    fix_waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, n, 0};
    nt_buf leaf = NT_BUF_INIT;
    for (int i = 0; i < n; i++) {
        fix_leaf_plain(&leaf, (uint64_t)i + 1000u * gen[i] % 7u, 40);
        REQUIRE(ledger_append_full_async(l, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0),
                                         NT_BYTES(NULL, 0), gen[i], fix_on_done, &w) == 0);
    }
    (void)fix_waiter_wait(&w);
    CHECK(w.failed == 0);
    nt_buf_dispose(&leaf);
}

static void test_gen_time_mark(void)
{
    char dir[256];
    ledger *l = NULL;
    ledger_options o;
    ledger_info info;
    /* Out of genTime order, as concurrent requests commit them; the last is not the max. */
    const uint64_t gen[] = {5000, 9000, 7000, 3000, 8999, 100, 0, 4000, 2000};
    const uint64_t later[] = {6000, 8000};
    uint64_t idx;

    REQUIRE(test_tmpdir(dir, sizeof(dir)) != NULL);
    o = fix_store_opts(dir);
    o.batch_max = 4;
    REQUIRE(ledger_open(&l, &o) == 0);
    CHECK_OK(ledger_info_get(&info, l));
    CHECK(info.gen_time_hw_ns == 0);
    append_timed(l, gen, (int)NT_ARRAY_LEN(gen));
    CHECK_OK(ledger_info_get(&info, l));
    CHECK(info.gen_time_hw_ns == 9000);
    /* an untimed append leaves the mark alone */
    CHECK_OK(fix_append(&idx, l, 77));
    CHECK_OK(ledger_info_get(&info, l));
    CHECK(info.gen_time_hw_ns == 9000);
    ledger_close(l);

    /* durable: after reopen the mark is the max, not the last leaf's genTime */
    REQUIRE(ledger_open(&l, &o) == 0);
    CHECK_OK(ledger_info_get(&info, l));
    CHECK(info.gen_time_hw_ns == 9000);
    /* later, smaller genTimes never lower it */
    append_timed(l, later, 2);
    CHECK_OK(ledger_info_get(&info, l));
    CHECK(info.gen_time_hw_ns == 9000);
    ledger_close(l);

    /* a read-only handle reads it from the store */
    REQUIRE(ledger_open_readonly(&l, &o) == 0);
    CHECK_OK(ledger_info_get(&info, l));
    CHECK(info.gen_time_hw_ns == 9000);
    CHECK(info.size == NT_ARRAY_LEN(gen) + 1 + 2);
    ledger_close(l);
    fix_rm_rf(dir);
}

static void test_restore_mode(void)
{
    char dir[256];
    ledger *l = NULL;
    ledger_options o;
    nt_buf leaf = NT_BUF_INIT, meta = NT_BUF_INIT, text = NT_BUF_INIT;
    receipt r, back;
    uint64_t idx;

    REQUIRE(test_tmpdir(dir, sizeof(dir)) != NULL);
    o = fix_store_opts(dir);
    o.batch_max = 4;
    receipt_init(&r);
    receipt_init(&back);
    fix_leaf_ex(&leaf, 1, 1, 50, 1); /* commits to metadata */
    fix_meta(&meta, 1);

    /* a normal ledger refuses the leaf without its metadata */
    REQUIRE(ledger_open(&l, &o) == 0);
    CHECK_ERR(ledger_append(&idx, l, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0)), NT_EINVAL);
    ledger_close(l);
    fix_rm_rf(dir);

    o.restore = 1;
    REQUIRE(ledger_open(&l, &o) == 0);
    /* a restore never takes metadata (the mirror has none) */
    CHECK_ERR(ledger_append(&idx, l, nt_buf_bytes(&leaf), nt_buf_bytes(&meta)), NT_EINVAL);
    CHECK_OK(ledger_append(&idx, l, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0)));
    CHECK(idx == 0);
    fix_leaf_plain(&leaf, 2, 50);
    CHECK_OK(ledger_append(&idx, l, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0)));
    ledger_close(l);

    /* reopened normally: leaf 0's receipt says its metadata is missing, leaf 1's does not */
    o.restore = 0;
    REQUIRE(ledger_open(&l, &o) == 0);
    CHECK_OK(ledger_receipt_fill(&r, l, 0));
    CHECK(r.has_metadata == 0 && r.metadata_missing == 1);
    CHECK_OK(receipt_encode(&text, &r));
    CHECK(strstr(nt_buf_cstr(&text), "\"metadata_missing\": true") != NULL);
    CHECK_OK(receipt_decode(&back, (const char *)text.ptr, text.len));
    CHECK(back.metadata_missing == 1 && back.has_metadata == 0);
    receipt_dispose(&back);
    CHECK_OK(ledger_receipt_fill(&r, l, 1));
    CHECK(r.has_metadata == 0 && r.metadata_missing == 0);
    nt_buf_clear(&text);
    CHECK_OK(receipt_encode(&text, &r));
    CHECK(strstr(nt_buf_cstr(&text), "metadata_missing") == NULL);
    ledger_close(l);

    /* the decoder refuses metadata_missing that is not true, or beside metadata */
    CHECK_ERR(receipt_decode(&back, "{}", 2), NT_EINVAL);
    {
        nt_buf bad = NT_BUF_INIT;
        const char *p = strstr(nt_buf_cstr(&text), "\n}");
        REQUIRE(p != NULL);
        REQUIRE(nt_buf_set(&bad, text.ptr, (size_t)(p - (const char *)text.ptr)) == 0);
        REQUIRE(nt_buf_puts(&bad, ",\n\"metadata_missing\": false\n}\n") == 0);
        CHECK_ERR(receipt_decode(&back, (const char *)bad.ptr, bad.len), NT_EINVAL);
        nt_buf_clear(&bad);
        REQUIRE(nt_buf_set(&bad, text.ptr, (size_t)(p - (const char *)text.ptr)) == 0);
        REQUIRE(nt_buf_puts(&bad, ",\n\"metadata\": \"\", \"metadata_missing\": true\n}\n") == 0);
        CHECK_ERR(receipt_decode(&back, (const char *)bad.ptr, bad.len), NT_EINVAL);
        nt_buf_dispose(&bad);
    }
    receipt_dispose(&r);
    nt_buf_dispose(&leaf);
    nt_buf_dispose(&meta);
    nt_buf_dispose(&text);
    fix_rm_rf(dir);
}

int main(void)
{
    nt_log_set_level(NT_LOG_NONE);
    fix_store_setup();
    test_gen_time_mark();
    test_restore_mode();
    fix_store_teardown();
    return TEST_END();
}
