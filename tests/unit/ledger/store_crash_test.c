/*
 * store_crash_test.c - invariant 1 of the product brief ("nothing
 * acknowledged is ever lost") for the ledger store: a forked child appends
 * from several threads and reports every acknowledged index over a pipe; the
 * parent kills it with SIGKILL at a random moment, reopens the ledger and
 * checks that every acknowledged leaf is present and unchanged, that the tree
 * verifies against its signed checkpoint, and that the new head is consistent
 * with the head before the crash.  Several rounds on one ledger.  The digest
 * index (its own environment, written behind the leaves) is caught up by the
 * reopen: every leaf of the tree is found by its digest.
 */
#include "tests/unit/ledger/store_fixture.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS   5
#define THREADS  3
#define MAX_ACKS 4096

typedef struct ack {
    uint64_t index;
    uint64_t seed;
} ack;

static ledger_options crash_opts(const char *dir)
{
    ledger_options o = fix_store_opts(dir);
    o.batch_window_us = 200;
    o.batch_max = 16;
    return o;
}

/* ------------------------------------------------------------------ child */

typedef struct child_thread {
    ledger *l;
    int fd;
    uint64_t first_seed;
} child_thread;

static void *child_thread_main(void *arg)
{
    child_thread *c = arg;
    for (uint64_t i = 0;; i++) {
        ack a;
        a.seed = c->first_seed + i;
        if (fix_append(&a.index, c->l, a.seed) != 0) {
            _exit(3);
        }
        /* 16 bytes < PIPE_BUF: the write is atomic, threads never interleave */
        if (write(c->fd, &a, sizeof(a)) != (ssize_t)sizeof(a)) {
            _exit(4);
        }
    }
    return NULL;
}

static void child_main(const char *dir, int round, int fd)
{
    ledger *l = NULL;
    ledger_options o = crash_opts(dir);
    child_thread ct[THREADS];
    pthread_t th[THREADS];

    if (ledger_open(&l, &o) != 0) {
        _exit(2);
    }
    for (int t = 0; t < THREADS; t++) {
        ct[t].l = l;
        ct[t].fd = fd;
        ct[t].first_seed = (uint64_t)round * 1000000u + (uint64_t)t * 10000u;
        if (pthread_create(&th[t], NULL, child_thread_main, &ct[t]) != 0) {
            _exit(5);
        }
    }
    for (;;) {
        pause(); /* until SIGKILL */
    }
}

/* ------------------------------------------------------------------ parent */

static int read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, (uint8_t *)buf + got, len - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return got == 0 ? 0 : -1;
        }
        got += (size_t)n;
    }
    return 1;
}

/* Run one child, kill it after `want` acknowledgements plus a random delay. */
static size_t run_child(ack *acks, size_t cap, const char *dir, int round, size_t want,
                        unsigned delay_us)
{
    int p[2];
    pid_t pid;
    size_t n = 0;
    int status = 0, rc;

    REQUIRE(pipe(p) == 0);
    fflush(NULL);
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        child_main(dir, round, p[1]);
        _exit(1);
    }
    close(p[1]);
    while (n < want && n < cap && (rc = read_full(p[0], &acks[n], sizeof(ack))) == 1) {
        n++;
    }
    if (delay_us > 0) {
        usleep(delay_us);
    }
    REQUIRE(kill(pid, SIGKILL) == 0);
    REQUIRE(waitpid(pid, &status, 0) == pid);
    /* a child that died on its own (exit code) failed: it must have been killed */
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* acknowledgements written before the kill count too */
    while (n < cap && (rc = read_full(p[0], &acks[n], sizeof(ack))) == 1) {
        n++;
    }
    close(p[0]);
    return n;
}

static void test_crash_rounds(void)
{
    char dir[256];
    static ack acks[MAX_ACKS];
    ledger *l = NULL;
    ledger_options o;
    ledger_info info;
    nt_buf leaf = NT_BUF_INIT, meta = NT_BUF_INIT, want = NT_BUF_INIT, wantm = NT_BUF_INIT;
    nt_buf note = NT_BUF_INIT, proof = NT_BUF_INIT;
    uint64_t prev_size = 0;
    uint8_t prev_root[32];
    size_t total_acks = 0;

    REQUIRE(test_tmpdir(dir, sizeof(dir)) != NULL);
    o = crash_opts(dir);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    merkle_empty_root(prev_root);

    for (int round = 1; round <= ROUNDS; round++) {
        size_t wanted = 5 + (size_t)(rand() % 60);
        unsigned delay = (unsigned)(rand() % 4000);
        size_t n = run_child(acks, MAX_ACKS, dir, round, wanted, delay);
        uint8_t *hashes, root[32];
        checkpoint c;

        CHECK(n >= wanted);
        total_acks += n;

        CHECK_OK(ledger_open(&l, &o));
        REQUIRE(l != NULL);
        CHECK_OK(ledger_info_get(&info, l));
        CHECK(info.size >= prev_size + n);
        for (size_t i = 0; i < n; i++) {
            CHECK(acks[i].index < info.size);
            CHECK(acks[i].index >= prev_size);
            CHECK_OK(ledger_leaf_get(&leaf, &meta, l, acks[i].index));
            fix_leaf(&want, acks[i].seed);
            CHECK(leaf.len == want.len && memcmp(leaf.ptr, want.ptr, want.len) == 0);
            if (fix_has_meta(acks[i].seed)) {
                fix_meta(&wantm, acks[i].seed);
                CHECK(meta.len == wantm.len && memcmp(meta.ptr, wantm.ptr, wantm.len) == 0);
            } else {
                CHECK(meta.len == 0);
            }
        }
        /* the whole tree against a naive recomputation and its signed checkpoint */
        hashes = fix_stored_hashes(l, info.size);
        REQUIRE(merkle_root_naive(root, hashes, info.size) == 0);
        CHECK_MEM(info.root, root, 32);
        CHECK_OK(ledger_checkpoint_latest(&note, l));
        CHECK_OK(checkpoint_open(&c, (const char *)note.ptr, note.len, &fix_g.vkey, 0));
        CHECK(c.size == info.size);
        CHECK_MEM(c.root, root, 32);
        CHECK_ERR(ledger_leaf_get(&leaf, NULL, l, info.size), NT_ENOTFOUND);
        /* every leaf of this round by its digest, including those the child's indexer
         * had not written when it was killed */
        for (uint64_t i = prev_size; i < info.size; i++) {
            record rec;
            uint64_t *found = NULL;
            size_t count = 0;
            CHECK_OK(ledger_leaf_get(&leaf, NULL, l, i));
            REQUIRE(record_decode(&rec, leaf.ptr, leaf.len) == 0);
            CHECK_OK(ledger_find_digest_from(&found, &count, l, rec.alg, rec.digest, i, 1));
            CHECK(count == 1 && found != NULL && found[0] == i);
            nt_free(found);
        }
        /* append-only across the crash */
        CHECK_OK(ledger_proof_consistency(&proof, l, prev_size, info.size));
        CHECK_OK(
            merkle_verify_consistency(prev_size, info.size, prev_root, root, proof.ptr, proof.len));
        if (prev_size > 0 && info.size > prev_size) {
            uint8_t other[32];
            memcpy(other, prev_root, 32);
            other[0] ^= 1;
            CHECK_ERR(
                merkle_verify_consistency(prev_size, info.size, other, root, proof.ptr, proof.len),
                NT_EVERIFY);
        }
        nt_free(hashes);
        prev_size = info.size;
        memcpy(prev_root, root, 32);
        ledger_close(l);
        l = NULL;
    }
    CHECK(total_acks >= ROUNDS * 5);
    nt_buf_dispose(&leaf);
    nt_buf_dispose(&meta);
    nt_buf_dispose(&want);
    nt_buf_dispose(&wantm);
    nt_buf_dispose(&note);
    nt_buf_dispose(&proof);
    fix_rm_rf(dir);
}

int main(void)
{
    nt_log_set_level(NT_LOG_NONE);
    fix_store_setup();
    test_crash_rounds();
    fix_store_teardown();
    return TEST_END();
}
