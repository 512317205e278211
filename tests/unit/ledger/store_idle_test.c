/*
 * store_idle_test.c - the adaptive group commit of the ledger's sequencer
 * (ledger/store_seq.c): an append that arrives alone, after a batch of one
 * (an idle server, or a client sending one request at a time), is committed
 * at once and does not wait for the batch window or its early end; appends
 * that pile up while a batch is being written still go together in one batch.
 *
 * Producers that say when they are at work (ledger_produce_begin/end) keep
 * a batch open while one is, past the pauses that end it otherwise, and once
 * none is the batch is committed at once, without waiting for a pause.
 *
 * The window here is 2 s, so its early end (window/20) is 100 ms: before the
 * adaptive rule every lone append waited at least 100 ms, so ten of them took
 * at least a second.  Now they take ten commits (fsync'd, a few ms each on an
 * ordinary disk; the bound leaves a shared machine's disk 50 ms per commit).
 */
#include "tests/unit/ledger/store_fixture.h"

#include <pthread.h>
#include <unistd.h>

#define IDLE_WINDOW_US 2000000u /* early end of the window: 100 ms */
#define IDLE_APPENDS   10
#define IDLE_BOUND_NS  (IDLE_APPENDS * 50000000ull) /* half the early end, per append */
#define BURST          64
/* The producers' test: a 20 s window, whose early end (1 s) would split the batch
 * were it not held; once released it must commit well inside the window (and the
 * 80 s hold). */
#define PROD_WINDOW_US 20000000u
#define PROD_PAUSE_US  1200000u      /* longer than the early end */
#define PROD_PROMPT_NS 5000000000ull /* the early end, and 4 s for a slow disk */
#define PROD_HOLD      16            /* STORE_HOLD_ENTRIES (ledger/store_int.h) */

static int waiter_left(fix_waiter *w)
{
    int left;
    pthread_mutex_lock(&w->mu);
    left = w->left;
    pthread_mutex_unlock(&w->mu);
    return left;
}

static void append_one(ledger *l, uint64_t seed, fix_waiter *w)
{
    nt_buf leaf = NT_BUF_INIT;
    fix_leaf_plain(&leaf, seed, 40);
    REQUIRE(ledger_append_full_async(l, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0), NT_BYTES(NULL, 0),
                                     0, fix_on_done, w) == 0);
    nt_buf_dispose(&leaf);
}

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

    REQUIRE(test_tmpdir(dir, sizeof(dir)) != NULL);
    o = fix_store_opts(dir);
    o.batch_window_us = IDLE_WINDOW_US;
    CHECK_OK(ledger_open(&l, &o));
    CHECK_OK(ledger_info_get(&before, l));
    for (uint64_t i = 0; i < BURST; i++) {
        append_one(l, i, &w);
    }
    (void)fix_waiter_wait(&w);
    CHECK(w.failed == 0);
    CHECK_OK(ledger_info_get(&after, l));
    CHECK(after.size == BURST);
    CHECK(after.batches - before.batches <= 2);
    ledger_close(l);
    fix_rm_rf(dir);
}

/*
 * Two producers at work (a lone leaf whose own producer is the only one at
 * work would go at once): fifteen leaves wait past the pause that would end
 * an unannounced batch, the sixteenth releases them all in one batch; one
 * more waits again, and once the last producer is done it goes after the
 * usual pause (1 s here): the end wakes the sequencer, which would otherwise
 * sleep until the hold (4 windows, 80 s) is over.
 */
static void test_producers_hold_the_batch(void)
{
    char dir[256];
    ledger *l = NULL;
    ledger_options o;
    ledger_info before, after;
    fix_waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PROD_HOLD, 0};
    fix_waiter last = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 1, 0};
    uint64_t took;

    REQUIRE(test_tmpdir(dir, sizeof(dir)) != NULL);
    o = fix_store_opts(dir);
    o.batch_window_us = PROD_WINDOW_US;
    CHECK_OK(ledger_open(&l, &o));
    CHECK_OK(ledger_info_get(&before, l));

    ledger_produce_begin(l);
    ledger_produce_begin(l);
    for (uint64_t i = 0; i + 1 < PROD_HOLD; i++) {
        append_one(l, i, &w);
    }
    usleep(PROD_PAUSE_US);
    CHECK(waiter_left(&w) == PROD_HOLD); /* held while producers are at work */
    append_one(l, PROD_HOLD - 1, &w);
    took = fix_waiter_wait(&w);
    CHECK(took < PROD_PROMPT_NS);
    CHECK(w.failed == 0);
    CHECK_OK(ledger_info_get(&after, l));
    CHECK(after.size == PROD_HOLD);
    CHECK(after.batches - before.batches == 1);

    append_one(l, PROD_HOLD, &last);
    usleep(PROD_PAUSE_US);
    CHECK(waiter_left(&last) == 1);
    ledger_produce_end(l);
    ledger_produce_end(l);
    took = fix_waiter_wait(&last);
    if (took >= PROD_PROMPT_NS) {
        fprintf(stderr, "the held batch took %llu ms after its last producer\n",
                (unsigned long long)(took / 1000000u));
    }
    CHECK(took < PROD_PROMPT_NS);
    CHECK(last.failed == 0);
    CHECK_OK(ledger_info_get(&after, l));
    CHECK(after.size == PROD_HOLD + 1);
    CHECK(after.batches - before.batches == 2);
    ledger_close(l);
    fix_rm_rf(dir);
}

int main(void)
{
    nt_log_set_level(NT_LOG_NONE);
    fix_store_setup();
    test_lone_appends_commit_at_once();
    test_burst_still_batches();
    test_producers_hold_the_batch();
    fix_store_teardown();
    return TEST_END();
}
