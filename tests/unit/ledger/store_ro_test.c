/*
 * store_ro_test.c - ledger_open_readonly (ledger/store.c): a read-only
 * handle beside a live writer in another process, as `notarium ledger` runs
 * beside the server.  lmdb.h forbids opening one environment twice in a
 * process and using an environment across fork(), so the writer lives in a
 * forked child that opens its ledger after the fork and takes commands over
 * a pipe; the parent only ever opens the ledger read-only.  Checked against
 * roots recomputed from the leaves the fixture builds: reads see every batch
 * the writer committed (also ones committed after the read-only open),
 * checkpoints verify with the log's vkey, proofs verify, a digest the writer has
 * not indexed yet is found and a check passes; appends through the
 * read-only handle are refused; a wrong origin, a missing directory, a
 * directory without a ledger and a second writer are refused.
 */
#include "tests/unit/ledger/store_fixture.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define FIRST  5u /* leaves the writer appends before the reader opens */
#define SECOND 6u /* leaves appended while the reader is open */

static ledger_options fix_opts(const char *dir, const char *origin)
{
    ledger_options o = fix_store_opts(dir);
    o.origin = origin;
    return o;
}

static int write_byte(int fd, char c)
{
    ssize_t n;
    do {
        n = write(fd, &c, 1);
    } while (n < 0 && errno == EINTR);
    return n == 1 ? 0 : -1;
}

static char read_byte(int fd)
{
    char c = 0;
    ssize_t n;
    do {
        n = read(fd, &c, 1);
    } while (n < 0 && errno == EINTR);
    return n == 1 ? c : 0;
}

/* The writer: 'a' after FIRST appends, 'b' after SECOND more on command 'm',
 * 'c' after closing on command 'q'.  Exit status 0 only if all went well. */
static void writer_main(const char *dir, int cmd_fd, int ack_fd)
{
    ledger *l = NULL;
    ledger_options o = fix_opts(dir, FIX_ORIGIN);
    uint64_t idx = 0;

    if (ledger_open(&l, &o) != 0) {
        fprintf(stderr, "writer: %s\n", nt_error_last());
        _exit(2);
    }
    for (uint64_t i = 0; i < FIRST; i++) {
        if (fix_append(&idx, l, i) != 0 || idx != i) {
            _exit(3);
        }
    }
    if (write_byte(ack_fd, 'a') != 0 || read_byte(cmd_fd) != 'm') {
        _exit(4);
    }
    for (uint64_t i = FIRST; i < FIRST + SECOND; i++) {
        if (fix_append(&idx, l, i) != 0 || idx != i) {
            _exit(5);
        }
    }
    if (write_byte(ack_fd, 'b') != 0 || read_byte(cmd_fd) != 'q') {
        _exit(6);
    }
    ledger_close(l);
    _exit(write_byte(ack_fd, 'c') == 0 ? 0 : 7);
}

/* Root of leaves 0..n-1 recomputed from the fixture's leaf bytes, not the store. */
static void naive_root(uint8_t out[32], uint64_t n)
{
    uint8_t *h = nt_calloc(n ? n : 1, 32);
    nt_buf leaf = NT_BUF_INIT;
    REQUIRE(h != NULL);
    for (uint64_t i = 0; i < n; i++) {
        fix_leaf(&leaf, i);
        merkle_leaf_hash(h + i * 32, leaf.ptr, leaf.len);
    }
    REQUIRE(merkle_root_naive(out, h, n) == 0);
    nt_buf_dispose(&leaf);
    nt_free(h);
}

static void never_called(void *ctx, int error, uint64_t index)
{
    (void)error;
    (void)index;
    *(int *)ctx = 1;
}

/* What a reader must see of a ledger of n leaves. */
static void check_reads(ledger *ro, uint64_t n)
{
    ledger_info info;
    nt_buf note = NT_BUF_INIT, leaf = NT_BUF_INIT, meta = NT_BUF_INIT, want = NT_BUF_INIT;
    nt_buf wantm = NT_BUF_INIT, proof = NT_BUF_INIT;
    checkpoint c;
    uint8_t root[32], lh[32];
    uint64_t *found = NULL;
    size_t count = 0;
    receipt r;

    naive_root(root, n);
    CHECK_OK(ledger_info_get(&info, ro));
    CHECK(info.size == n);
    CHECK_MEM(info.root, root, 32);
    CHECK(info.queue_depth == 0 && info.full == 0);
    CHECK(info.map_size == FIX_MAP_SIZE); /* the writer's map, adopted */
    CHECK(info.map_used > 0 && info.map_used <= info.map_size);

    CHECK_OK(ledger_checkpoint_latest(&note, ro));
    CHECK_OK(checkpoint_open(&c, (const char *)note.ptr, note.len, &fix_g.vkey, 0));
    CHECK(c.size == n);
    CHECK_MEM(c.root, root, 32);
    CHECK_OK(ledger_checkpoint_at(&note, ro, n));
    CHECK_ERR(ledger_checkpoint_at(&note, ro, n + 1), NT_ENOTFOUND);

    for (uint64_t i = 0; i < n; i++) {
        CHECK_OK(ledger_leaf_get(&leaf, &meta, ro, i));
        fix_leaf(&want, i);
        CHECK(leaf.len == want.len && memcmp(leaf.ptr, want.ptr, want.len) == 0);
        if (fix_has_meta(i)) {
            fix_meta(&wantm, i);
            CHECK(meta.len == wantm.len && memcmp(meta.ptr, wantm.ptr, wantm.len) == 0);
        } else {
            CHECK(meta.len == 0);
        }
        CHECK_OK(ledger_proof_inclusion(&proof, ro, i, n));
        merkle_leaf_hash(lh, want.ptr, want.len);
        CHECK_OK(merkle_verify_inclusion(lh, i, n, proof.ptr, proof.len, root));
        /* negative twin: the proof does not prove the neighbour */
        if (n > 1) {
            fix_leaf(&want, (i + 1) % n);
            merkle_leaf_hash(lh, want.ptr, want.len);
            CHECK_ERR(merkle_verify_inclusion(lh, i, n, proof.ptr, proof.len, root), NT_EVERIFY);
        }
    }
    CHECK_ERR(ledger_leaf_get(&leaf, NULL, ro, n), NT_ENOTFOUND);
    CHECK_ERR(ledger_proof_inclusion(&proof, ro, 0, n + 1), NT_EINVAL);
    CHECK_ERR(ledger_proof_consistency(&proof, ro, 1, n + 1), NT_EINVAL);

    /* digest lookup: leaf n-1's digest is SHA-256 of its seed */
    {
        uint8_t s[8], d[32];
        nt_store_u64be(s, n - 1);
        fix_sha256(d, s, sizeof(s));
        CHECK_OK(ledger_find_digest(&found, &count, ro, RECORD_ALG_SHA256, NT_BYTES(d, 32), 4));
        CHECK(count == 1 && found != NULL && found[0] == n - 1);
        nt_free(found);
        found = NULL;
        d[0] ^= 1;
        CHECK_OK(ledger_find_digest(&found, &count, ro, RECORD_ALG_SHA256, NT_BYTES(d, 32), 4));
        CHECK(count == 0 && found == NULL);
    }

    /* A check beside the writer: leaves its indexer has not written yet are not looked
     * up in the index (they are not missing from it) */
    fix_check_clean(ro, n);

    receipt_init(&r);
    CHECK_OK(ledger_receipt_fill(&r, ro, n - 1));
    CHECK(r.tree_size == n && r.leaf_index == n - 1);
    CHECK(r.origin.len == strlen(FIX_ORIGIN) &&
          memcmp(r.origin.ptr, FIX_ORIGIN, r.origin.len) == 0);
    CHECK_ERR(ledger_receipt_fill(&r, ro, n), NT_ENOTFOUND);
    receipt_dispose(&r);

    nt_buf_dispose(&note);
    nt_buf_dispose(&leaf);
    nt_buf_dispose(&meta);
    nt_buf_dispose(&want);
    nt_buf_dispose(&wantm);
    nt_buf_dispose(&proof);
}

static void test_beside_writer(void)
{
    char dir[256], empty[256];
    int cmd[2], ack[2], status = 0, called = 0;
    pid_t pid;
    ledger *ro = NULL, *w = NULL;
    ledger_options o;
    nt_buf leaf = NT_BUF_INIT, note1 = NT_BUF_INIT, note2 = NT_BUF_INIT, proof = NT_BUF_INIT;
    checkpoint c1, c2;
    uint64_t idx = 0;

    REQUIRE(test_tmpdir(dir, sizeof(dir)) != NULL);
    REQUIRE(test_tmpdir(empty, sizeof(empty)) != NULL);

    /* Nothing there yet: not found, and nothing is created. */
    o = fix_opts(dir, FIX_ORIGIN);
    CHECK_ERR(ledger_open_readonly(&ro, &o), NT_ENOTFOUND);
    CHECK(ro == NULL);
    o = fix_opts(empty, FIX_ORIGIN);
    CHECK_ERR(ledger_open_readonly(&ro, &o), NT_ENOTFOUND);
    {
        char missing[300];
        snprintf(missing, sizeof(missing), "%s/no/such/dir", empty);
        o = fix_opts(missing, FIX_ORIGIN);
        CHECK_ERR(ledger_open_readonly(&ro, &o), NT_ENOTFOUND);
        CHECK(access(missing, F_OK) != 0);
    }
    o = fix_opts(NULL, FIX_ORIGIN);
    CHECK_ERR(ledger_open_readonly(&ro, &o), NT_EINVAL);
    o = fix_opts(dir, "has space");
    CHECK_ERR(ledger_open_readonly(&ro, &o), NT_EINVAL);
    o = fix_opts(dir, "a\xc2\xa0"
                      "b"); /* U+00A0: no key name, refused before the lookup */
    CHECK_ERR(ledger_open_readonly(&ro, &o), NT_EINVAL);

    REQUIRE(pipe(cmd) == 0 && pipe(ack) == 0);
    fflush(NULL);
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        close(cmd[1]);
        close(ack[0]);
        writer_main(dir, cmd[0], ack[1]);
        _exit(1);
    }
    close(cmd[0]);
    close(ack[1]);
    REQUIRE(read_byte(ack[0]) == 'a');

    /* The writer holds the ledger: a second writer is refused, a reader is not. */
    o = fix_opts(dir, FIX_ORIGIN);
    CHECK_ERR(ledger_open(&w, &o), NT_EBUSY);
    CHECK(w == NULL);
    o = fix_opts(dir, "example.test/other-log");
    CHECK_ERR(ledger_open_readonly(&ro, &o), NT_EINVAL);
    CHECK(ro == NULL);
    o = fix_opts(dir, FIX_ORIGIN);
    o.log_key = NULL; /* a reader needs no signing key */
    o.map_size = 0;
    CHECK_OK(ledger_open_readonly(&ro, &o));
    REQUIRE(ro != NULL);
    CHECK_STR(ledger_origin(ro), FIX_ORIGIN);
    check_reads(ro, FIRST);
    CHECK_OK(ledger_checkpoint_latest(&note1, ro));

    /* Appends are refused and the callback never runs. */
    fix_leaf(&leaf, 100);
    CHECK_ERR(ledger_append(&idx, ro, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0)), NT_ESTATE);
    CHECK(strstr(nt_error_last(), "read-only") != NULL);
    CHECK_ERR(
        ledger_append_async(ro, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0), never_called, &called),
        NT_ESTATE);
    CHECK(called == 0);

    /* Batches the writer commits after the open are seen by later reads. */
    REQUIRE(write_byte(cmd[1], 'm') == 0);
    REQUIRE(read_byte(ack[0]) == 'b');
    check_reads(ro, FIRST + SECOND);
    CHECK_OK(ledger_checkpoint_latest(&note2, ro));
    CHECK_OK(checkpoint_open(&c1, (const char *)note1.ptr, note1.len, &fix_g.vkey, 0));
    CHECK_OK(checkpoint_open(&c2, (const char *)note2.ptr, note2.len, &fix_g.vkey, 0));
    CHECK_OK(ledger_proof_consistency(&proof, ro, c1.size, c2.size));
    CHECK_OK(merkle_verify_consistency(c1.size, c2.size, c1.root, c2.root, proof.ptr, proof.len));
    CHECK(merkle_verify_consistency(c1.size, c2.size, c2.root, c1.root, proof.ptr, proof.len) != 0);

    /* The reader outlives the writer. */
    REQUIRE(write_byte(cmd[1], 'q') == 0);
    CHECK(read_byte(ack[0]) == 'c');
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    check_reads(ro, FIRST + SECOND);
    ledger_close(ro);
    ro = NULL;

    /* A fresh reader of the closed ledger, then a wrong origin again. */
    o = fix_opts(dir, FIX_ORIGIN);
    CHECK_OK(ledger_open_readonly(&ro, &o));
    if (ro != NULL) {
        check_reads(ro, FIRST + SECOND);
    }
    ledger_close(ro);
    ledger_close(NULL);

    close(cmd[1]);
    close(ack[0]);
    nt_buf_dispose(&leaf);
    nt_buf_dispose(&note1);
    nt_buf_dispose(&note2);
    nt_buf_dispose(&proof);
    fix_rm_rf(dir);
    fix_rm_rf(empty);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    fix_store_setup();
    test_beside_writer();
    fix_store_teardown();
    return TEST_END();
}
