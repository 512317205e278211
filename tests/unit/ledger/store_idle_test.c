/*
 * store_idle_test.c - the adaptive group commit of the ledger's sequencer
 * (ledger/store_seq.c): an append that arrives alone, after a batch of one
 * (an idle server, or a client sending one request at a time), is committed
 * at once and does not wait for the batch window or its early end; appends
 * that pile up while a batch is being written still go together in one batch.
 *
 * The window here is 2 s, so its early end (window/20) is 100 ms: before the
 * adaptive rule every lone append waited at least 100 ms, so ten of them took
 * at least a second.  Now they take ten commits (fsync'd, a few ms each on an
 * ordinary disk; the bound leaves a shared machine's disk 50 ms per commit).
 */
#include "tests/unit/ledger/store_fixture.h"

#include <pthread.h>

#define IDLE_WINDOW_US 2000000u /* early end of the window: 100 ms */
#define IDLE_APPENDS   10
#define IDLE_BOUND_NS  (IDLE_APPENDS * 50000000ull) /* half the early end, per append */
#define BURST          64

static void test_lone_appends_commit_at_once(void)
{
    char dir[256];
    ledger *l = NULL;
    ledger_options o;
    ledger_info info;
    uint64_t index, t0, took;

    REQUIRE(test_tmpdir(dir, sizeof(dir)) != NULL);
    o = fix_store_opts(dir);
    o.batch_window_us = IDLE_WINDOW_US;
    CHECK_OK(ledger_open(&l, &o));
    t0 = nt_mono_ns();
    for (uint64_t i = 0; i < IDLE_APPENDS; i++) {
        CHECK_OK(fix_append(&index, l, i));
        CHECK(index == i);
    }
    took = nt_mono_ns() - t0;
    if (took >= IDLE_BOUND_NS) {
        fprintf(stderr, "%d lone appends took %llu ms (bound %llu ms)\n", IDLE_APPENDS,
                (unsigned long long)(took / 1000000u),
                (unsigned long long)(IDLE_BOUND_NS / 1000000u));
    }
    CHECK(took < IDLE_BOUND_NS);
    CHECK_OK(ledger_info_get(&info, l));
    CHECK(info.size == IDLE_APPENDS);
    ledger_close(l);
    fix_rm_rf(dir);
}

/* A burst queued while the sequencer writes is still one batch (or two: the
 * first append may go alone, the rest pile up behind its commit). */
static void test_burst_still_batches(void)
{
    char dir[256];
    ledger *l = NULL;
    ledger_options o;
    ledger_info before, after;
    fix_waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, BURST, 0};
    nt_buf leaf = NT_BUF_INIT;

    REQUIRE(test_tmpdir(dir, sizeof(dir)) != NULL);
    o = fix_store_opts(dir);
    o.batch_window_us = IDLE_WINDOW_US;
    CHECK_OK(ledger_open(&l, &o));
    CHECK_OK(ledger_info_get(&before, l));
    for (int i = 0; i < BURST; i++) {
        fix_leaf_plain(&leaf, (uint64_t)i, 40);
        REQUIRE(ledger_append_full_async(l, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0),
                                         NT_BYTES(NULL, 0), 0, fix_on_done, &w) == 0);
    }
    pthread_mutex_lock(&w.mu);
    while (w.left > 0) {
        pthread_cond_wait(&w.cv, &w.mu);
    }
    pthread_mutex_unlock(&w.mu);
    CHECK(w.failed == 0);
    CHECK_OK(ledger_info_get(&after, l));
    CHECK(after.size == BURST);
    CHECK(after.batches - before.batches <= 2);
    nt_buf_dispose(&leaf);
    ledger_close(l);
    fix_rm_rf(dir);
}

int main(void)
{
    nt_log_set_level(NT_LOG_NONE);
    fix_store_setup();
    test_lone_appends_commit_at_once();
    test_burst_still_batches();
    fix_store_teardown();
    return TEST_END();
}
