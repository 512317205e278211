/*
 * store_alloc_test.c - allocation failure injection (nt_mem_fail_after) for
 * the ledger store: ledger_open fails cleanly at every allocation point
 * (NT_ENOMEM, nothing leaked, the ledger still opens afterwards), and an
 * append whose allocations fail, in the caller or in the sequencer, either
 * commits completely or leaves nothing: the tree always matches a naive
 * recomputation and its signed checkpoint.
 */
#include "tests/unit/ledger/store_fixture.h"

static ledger_options alloc_opts(const char *dir)
{
    ledger_options o = fix_store_opts(dir);
    o.batch_window_us = 100;
    return o;
}

static void check_tree(ledger *l)
{
    ledger_info info;
    nt_buf note = NT_BUF_INIT;
    checkpoint c;
    uint8_t *hashes, root[32];

    CHECK_OK(ledger_info_get(&info, l));
    hashes = fix_stored_hashes(l, info.size);
    REQUIRE(merkle_root_naive(root, hashes, info.size) == 0);
    CHECK_MEM(info.root, root, 32);
    CHECK_OK(ledger_checkpoint_latest(&note, l));
    CHECK_OK(checkpoint_open(&c, (const char *)note.ptr, note.len, &fix_g.vkey, 0));
    CHECK(c.size == info.size);
    CHECK_MEM(c.root, root, 32);
    nt_buf_dispose(&note);
    nt_free(hashes);
}

static void test_open_failures(void)
{
    char dir[256];
    ledger *l = NULL;
    ledger_options o;
    int failures = 0, opened = 0;

    REQUIRE(test_tmpdir(dir, sizeof(dir)) != NULL);
    o = alloc_opts(dir);
    /* first on a fresh directory (creation), then on an existing ledger */
    for (int pass = 0; pass < 2; pass++) {
        opened = 0;
        for (unsigned long n = 1; n < 500 && !opened; n++) {
            int rc;
            nt_mem_fail_after(n);
            rc = ledger_open(&l, &o);
            nt_mem_fail_after(0);
            if (rc == 0) {
                opened = 1;
                check_tree(l);
                ledger_close(l);
                l = NULL;
            } else {
                CHECK_ERR(rc, NT_ENOMEM);
                CHECK(l == NULL);
                failures++;
            }
        }
        CHECK(opened);
    }
    CHECK(failures >= 4);
    fix_rm_rf(dir);
}

static void test_append_failures(void)
{
    char dir[256];
    ledger *l = NULL;
    ledger_options o;
    uint64_t idx = 0, seed = 1;
    int ok = 0, failed = 0;
    ledger_info before, after;
    nt_buf leaf = NT_BUF_INIT, meta = NT_BUF_INIT;

    REQUIRE(test_tmpdir(dir, sizeof(dir)) != NULL);
    o = alloc_opts(dir);
    CHECK_OK(ledger_open(&l, &o));
    REQUIRE(l != NULL);
    for (unsigned long n = 1; n < 40; n++, seed++) {
        int rc;
        CHECK_OK(ledger_info_get(&before, l));
        fix_leaf(&leaf, seed);
        nt_buf_clear(&meta);
        if (fix_has_meta(seed)) {
            fix_meta(&meta, seed);
        }
        nt_mem_fail_after(n);
        rc = ledger_append(&idx, l, nt_buf_bytes(&leaf), nt_buf_bytes(&meta));
        nt_mem_fail_after(0);
        CHECK_OK(ledger_info_get(&after, l));
        if (rc == 0) {
            ok++;
            CHECK(idx == before.size && after.size == before.size + 1);
        } else {
            /* the store's own failure code, and nothing of it stored */
            CHECK(rc == NT_ENOMEM);
            failed++;
            CHECK(after.size == before.size);
            CHECK(after.full == 0);
        }
        check_tree(l);
    }
    CHECK(ok > 0 && failed > 0);
    /* some failures hit the caller (the queue entry), some the sequencer (the batch) */
    CHECK_OK(ledger_info_get(&after, l));
    CHECK(after.appends_failed > 0 && after.appends_failed < (uint64_t)failed);
    /* twin: without injection every append succeeds and the ledger reopens intact */
    CHECK_OK(fix_append(&idx, l, 999));
    CHECK_OK(ledger_info_get(&before, l));
    ledger_close(l);
    l = NULL;
    CHECK_OK(ledger_open(&l, &o));
    REQUIRE(l != NULL);
    CHECK_OK(ledger_info_get(&after, l));
    CHECK(after.size == before.size);
    CHECK_MEM(after.root, before.root, 32);
    check_tree(l);
    ledger_close(l);
    nt_buf_dispose(&leaf);
    nt_buf_dispose(&meta);
    fix_rm_rf(dir);
}

int main(void)
{
    nt_log_set_level(NT_LOG_NONE);
    fix_store_setup();
    test_open_failures();
    test_append_failures();
    fix_store_teardown();
    return TEST_END();
}
