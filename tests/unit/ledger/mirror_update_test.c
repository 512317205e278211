/*
 * mirror_update_test.c - the git mirror (ledger/mirror.c): the exact
 * tlog-tiles layout of each commit as plain git sees it, tile bytes against
 * hashes computed here, one commit per checkpoint, refusal to mirror another
 * log, a leaf at the 65,535-byte limit (and the ledger refusing one byte
 * more, so the mirror never meets it), pushes (and the refused non-fast-forward one),
 * the mirror thread with a remote that goes away and comes back, a branch
 * moved under the running mirror (refused), the modes under umask 000, and
 * the tiles as loose objects written by mirror_blob.c (a write that fails).
 */
#include "tests/unit/ledger/mirror_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static void check_files(const char *repo, const char *want)
{
    nt_buf out = NT_BUF_INIT;
    CHECK(fix_sh_out(&out, "git -C '%s' ls-tree -r --name-only main | tr '\\n' ' '", repo) == 0);
    CHECK_STR(nt_buf_cstr(&out), want);
    if (strcmp(nt_buf_cstr(&out), want) != 0) {
        fprintf(stderr, "  got:  %s\n  want: %s\n", nt_buf_cstr(&out), want);
    }
    nt_buf_dispose(&out);
}

static void test_layout(void)
{
    fixture f;
    fix_open(&f);
    uint64_t size = 99;
    CHECK_OK(mirror_update(&size, f.mirror_path, f.l));
    CHECK(size == 0);
    check_files(f.mirror_path, "checkpoint ");

    fix_append(&f, 1, 300);
    CHECK_OK(mirror_update(&size, f.mirror_path, f.l));
    CHECK(size == 300);
    check_files(f.mirror_path, "checkpoint tile/0/000 tile/0/001.p/44 tile/1/000.p/1 "
                               "tile/entries/000 tile/entries/001.p/44 ");

    /* The level-0 tile holds the leaf hashes, the bundle the uint16-prefixed leaves. */
    nt_buf out = NT_BUF_INIT, leaf = NT_BUF_INIT, want = NT_BUF_INIT, bundle = NT_BUF_INIT;
    for (uint64_t i = 256; i < 300; i++) {
        uint8_t h[32];
        fix_leaf(&leaf, 1, i, 40 + (size_t)(i % 7));
        merkle_leaf_hash(h, leaf.ptr, leaf.len);
        REQUIRE(nt_buf_put(&want, h, 32) == 0);
        REQUIRE(nt_buf_put_u16be(&bundle, (uint16_t)leaf.len) == 0);
        REQUIRE(nt_buf_put(&bundle, leaf.ptr, leaf.len) == 0);
    }
    CHECK(fix_sh_out(&out, "git -C '%s' cat-file blob main:tile/0/001.p/44", f.mirror_path) == 0);
    CHECK(out.len == want.len && memcmp(out.ptr, want.ptr, want.len) == 0);
    CHECK(fix_sh_out(&out, "git -C '%s' cat-file blob main:tile/entries/001.p/44", f.mirror_path) ==
          0);
    CHECK(out.len == bundle.len && memcmp(out.ptr, bundle.ptr, bundle.len) == 0);
    /* The level-1 partial tile holds the root of the first 256 leaves. */
    uint8_t h8[32];
    CHECK_OK(ledger_hash_get(h8, f.l, 8, 0));
    CHECK(fix_sh_out(&out, "git -C '%s' cat-file blob main:tile/1/000.p/1", f.mirror_path) == 0);
    CHECK(out.len == 32 && memcmp(out.ptr, h8, 32) == 0);
    /* The checkpoint file is the ledger's signed note. */
    nt_buf note = NT_BUF_INIT;
    CHECK_OK(ledger_checkpoint_latest(&note, f.l));
    CHECK(fix_sh_out(&out, "git -C '%s' cat-file blob main:checkpoint", f.mirror_path) == 0);
    CHECK(out.len == note.len && memcmp(out.ptr, note.ptr, note.len) == 0);

    /* No growth, no commit. */
    CHECK_OK(mirror_update(&size, f.mirror_path, f.l));
    CHECK(fix_sh_out(&out, "git -C '%s' rev-list --count main", f.mirror_path) == 0);
    CHECK_STR(nt_buf_cstr(&out), "2\n");

    /* Partial tiles are replaced: 512 leaves = two full tiles, a level-1 partial of 2. */
    fix_append(&f, 1, 212);
    CHECK_OK(mirror_update(&size, f.mirror_path, f.l));
    CHECK(size == 512);
    check_files(f.mirror_path, "checkpoint tile/0/000 tile/0/001 tile/1/000.p/2 "
                               "tile/entries/000 tile/entries/001 ");
    CHECK(fix_sh_out(&out, "git -C '%s' rev-list --count main", f.mirror_path) == 0);
    CHECK_STR(nt_buf_cstr(&out), "3\n");
    /* Unchanged subtrees are reused: tile/0/000 is the same object in both commits. */
    nt_buf a = NT_BUF_INIT;
    CHECK(fix_sh_out(&out, "git -C '%s' rev-parse main:tile/0/000", f.mirror_path) == 0);
    CHECK(fix_sh_out(&a, "git -C '%s' rev-parse main~1:tile/0/000", f.mirror_path) == 0);
    CHECK_STR(nt_buf_cstr(&out), nt_buf_cstr(&a));
    /* The commit message carries the chain trailers. */
    CHECK(fix_sh_out(&out,
                     "git -C '%s' log -1 --format=%%B main | grep -c "
                     "'^Previous-Tree-Size: 300$'",
                     f.mirror_path) == 0);
    /* A plain git fsck finds a sound repository. */
    CHECK(fix_sh("git -C '%s' fsck --strict --no-progress >/dev/null", f.mirror_path) == 0);

    uint64_t hs;
    uint8_t root[32];
    ledger_info info;
    CHECK_OK(mirror_head_get(&hs, root, f.mirror_path));
    CHECK_OK(ledger_info_get(&info, f.l));
    CHECK(hs == 512 && memcmp(root, info.root, 32) == 0);
    /* negative twin: no repository */
    char nowhere[400];
    snprintf(nowhere, sizeof(nowhere), "%s/nothing", f.dir);
    CHECK_ERR(mirror_head_get(&hs, root, nowhere), NT_ENOTFOUND);

    nt_buf_dispose(&out);
    nt_buf_dispose(&a);
    nt_buf_dispose(&leaf);
    nt_buf_dispose(&want);
    nt_buf_dispose(&bundle);
    nt_buf_dispose(&note);
    fix_close(&f);
    fix_sh("rm -rf '%s'", f.dir);
}

/* The mirror refuses another log's repository and leaves it untouched. */
static void test_refuse_other_log(void)
{
    fixture a, b;
    fix_open(&a);
    fix_open(&b);
    fix_append(&a, 1, 10);
    fix_append(&b, 2, 20);
    CHECK_OK(mirror_update(NULL, a.mirror_path, a.l));
    CHECK_ERR(mirror_update(NULL, a.mirror_path, b.l), NT_ECORRUPT);
    CHECK(strstr(nt_error_last(), "not a prefix") != NULL);
    uint64_t hs;
    CHECK_OK(mirror_head_get(&hs, NULL, a.mirror_path));
    CHECK(hs == 10);
    /* a ledger behind the mirror is refused too */
    fixture c;
    fix_open(&c);
    fix_append(&c, 1, 5);
    CHECK_ERR(mirror_update(NULL, a.mirror_path, c.l), NT_ECORRUPT);
    fix_close(&a);
    fix_close(&b);
    fix_close(&c);
    fix_sh("rm -rf '%s' '%s' '%s'", a.dir, b.dir, c.dir);
}

/*
 * A leaf that an entry bundle cannot hold (over 65,535 bytes) never reaches the
 * mirror: record_encode refuses to build it and the ledger refuses a hand-built
 * one, so the mirror keeps advancing; a leaf of exactly 65,535 bytes mirrors and
 * comes back byte for byte from the bundle.
 */
static void test_long_leaf(void)
{
    fixture f;
    fix_open(&f);
    fix_append(&f, 1, 3);
    CHECK_OK(mirror_update(NULL, f.mirror_path, f.l));

    /* the longest leaf: 4 + 32 + 1 + 4 + T + 1 = 65535 */
    size_t tlen = RECORD_MAX_LEAF - 42;
    uint8_t *tok = nt_calloc(1, tlen + 1);
    REQUIRE(tok != NULL);
    uint8_t digest[32] = {7};
    record r = {0};
    r.kind = RECORD_KIND_TIMESTAMP;
    r.alg = RECORD_ALG_SHA256;
    r.digest = NT_BYTES(digest, 32);
    r.token = NT_BYTES(tok, tlen + 1);
    nt_buf leaf = NT_BUF_INIT;
    CHECK_ERR(record_encode(&leaf, &r), NT_EINVAL);
    /* built by hand, one byte over: the ledger does not take it */
    REQUIRE(nt_buf_put(&leaf, "\x01\x01\x01\x20", 4) == 0);
    REQUIRE(nt_buf_put(&leaf, digest, 32) == 0);
    REQUIRE(nt_buf_putc(&leaf, 0) == 0);
    REQUIRE(nt_buf_put_u32be(&leaf, (uint32_t)(tlen + 1)) == 0);
    REQUIRE(nt_buf_put(&leaf, tok, tlen + 1) == 0);
    REQUIRE(nt_buf_putc(&leaf, 0) == 0);
    REQUIRE(leaf.len == RECORD_MAX_LEAF + 1u);
    uint64_t index;
    CHECK_ERR(ledger_append(&index, f.l, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0)), NT_EINVAL);
    CHECK(strstr(nt_error_last(), "record length") != NULL);
    /* the twin at the limit goes in, and the mirror advances over it */
    r.token = NT_BYTES(tok, tlen);
    nt_buf_clear(&leaf);
    REQUIRE(record_encode(&leaf, &r) == 0);
    REQUIRE(leaf.len == RECORD_MAX_LEAF);
    CHECK_OK(ledger_append(&index, f.l, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0)));
    CHECK(index == 3);
    fix_append(&f, 2, 1);
    uint64_t size = 0, hs = 0;
    CHECK_OK(mirror_update(&size, f.mirror_path, f.l));
    CHECK_OK(mirror_head_get(&hs, NULL, f.mirror_path));
    CHECK(size == 5 && hs == 5);
    /* git sees the bundle: its 4th entry is framed with length 0xffff */
    nt_buf out = NT_BUF_INIT;
    CHECK(fix_sh_out(&out, "git -C '%s' cat-file blob main:tile/entries/000.p/5 | wc -c",
                     f.mirror_path) == 0);
    CHECK(strtoull(nt_buf_cstr(&out), NULL, 10) > RECORD_MAX_LEAF + 2u);
    nt_buf_dispose(&out);
    nt_free(tok);
    nt_buf_dispose(&leaf);
    fix_close(&f);
    fix_sh("rm -rf '%s'", f.dir);
}

static void test_push(void)
{
    fixture f, g;
    fix_open(&f);
    fix_open(&g);
    fix_append(&f, 1, 50);
    fix_append(&g, 2, 50);
    CHECK_OK(mirror_update(NULL, f.mirror_path, f.l));
    CHECK_OK(mirror_update(NULL, g.mirror_path, g.l));
    char remote[400], url[420];
    snprintf(remote, sizeof(remote), "%s/remote.git", f.dir);
    /* negative twin first: the remote does not exist */
    CHECK_ERR(mirror_push(f.mirror_path, remote), NT_EIO);
    REQUIRE(fix_sh("git init -q --bare '%s'", remote) == 0);
    CHECK_OK(mirror_push(f.mirror_path, remote));
    nt_buf a = NT_BUF_INIT, b = NT_BUF_INIT;
    CHECK(fix_sh_out(&a, "git -C '%s' rev-parse main", f.mirror_path) == 0);
    CHECK(fix_sh_out(&b, "git -C '%s' rev-parse main", remote) == 0);
    CHECK_STR(nt_buf_cstr(&a), nt_buf_cstr(&b));
    /* file:// works too, and an up-to-date push is a no-op */
    snprintf(url, sizeof(url), "file://%s", remote);
    fix_append(&f, 1, 10);
    CHECK_OK(mirror_update(NULL, f.mirror_path, f.l));
    CHECK_OK(mirror_push(f.mirror_path, url));
    CHECK_OK(mirror_push(f.mirror_path, url));
    uint64_t hs;
    CHECK_OK(mirror_head_get(&hs, NULL, remote));
    CHECK(hs == 60);
    /* another history is never force-pushed over it */
    CHECK_ERR(mirror_push(g.mirror_path, remote), NT_EVERIFY);
    CHECK(fix_sh_out(&b, "git -C '%s' rev-parse main", remote) == 0);
    CHECK(fix_sh_out(&a, "git -C '%s' rev-parse main", f.mirror_path) == 0);
    CHECK_STR(nt_buf_cstr(&a), nt_buf_cstr(&b));
    nt_buf_dispose(&a);
    nt_buf_dispose(&b);
    fix_close(&f);
    fix_close(&g);
    fix_sh("rm -rf '%s' '%s'", f.dir, g.dir);
}

static void test_thread_remote_down(void)
{
    fixture f;
    fix_open(&f);
    char remote[400], away[400];
    snprintf(remote, sizeof(remote), "%s/remote.git", f.dir);
    snprintf(away, sizeof(away), "%s/remote-away.git", f.dir);
    REQUIRE(fix_sh("git init -q --bare '%s'", remote) == 0);
    const char *remotes[1] = {remote};
    mirror_options o = fix_mirror_options(&f, remotes, 1);
    mirror *m = NULL;
    CHECK_OK(mirror_start(&m, f.l, &o));
    REQUIRE(m != NULL);
    fix_append(&f, 1, 100);
    CHECK_OK(mirror_sync(m));
    mirror_status st;
    CHECK_OK(mirror_status_get(&st, m));
    CHECK(st.ledger_size == 100 && st.mirrored_size == 100 && st.entries_behind == 0);
    CHECK(st.remote_count == 1 && st.remotes[0].pushed_size == 100);
    if (st.remote_count == 1 && st.remotes[0].pushed_size != 100) {
        fprintf(stderr, "  remote: pushed %llu: %s\n",
                (unsigned long long)st.remotes[0].pushed_size, st.remotes[0].last_error);
    }
    CHECK(st.remotes[0].entries_behind == 0 && st.remotes[0].last_error[0] == '\0');
    mirror_status_dispose(&st);

    /* The remote goes away: issuance goes on, the remote falls behind and says why. */
    REQUIRE(rename(remote, away) == 0);
    fix_append(&f, 1, 150);
    CHECK_OK(mirror_sync(m));
    CHECK_OK(mirror_status_get(&st, m));
    CHECK(st.mirrored_size == 250 && st.entries_behind == 0);
    CHECK(st.remotes[0].pushed_size == 100 && st.remotes[0].entries_behind == 150);
    CHECK(st.remotes[0].failures >= 1 && st.remotes[0].last_error[0] != '\0');
    CHECK(st.remotes[0].seconds_behind > 0.0);
    mirror_status_dispose(&st);
    fix_append(&f, 1, 10);

    /* It comes back: the thread catches it up on its own, nothing lost. */
    REQUIRE(rename(away, remote) == 0);
    uint64_t deadline = nt_mono_ns() + 10000000000u;
    uint64_t pushed = 0;
    while (pushed < 260 && nt_mono_ns() < deadline) {
        CHECK_OK(mirror_status_get(&st, m));
        pushed = st.remotes[0].pushed_size;
        mirror_status_dispose(&st);
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    CHECK(pushed == 260);
    mirror_stop(m);
    uint64_t hs;
    CHECK_OK(mirror_head_get(&hs, NULL, remote));
    CHECK(hs == 260);
    fix_close(&f);
    fix_sh("rm -rf '%s'", f.dir);
}

/* Item 13 of issue 13: a branch moved under a running mirror is refused, never built on. */
static void test_thread_branch_moved(void)
{
    fixture f;
    fix_open(&f);
    mirror_options o = fix_mirror_options(&f, NULL, 0);
    mirror *m = NULL;
    nt_buf old = NT_BUF_INIT, last = NT_BUF_INIT, now = NT_BUF_INIT;
    CHECK_OK(mirror_start(&m, f.l, &o));
    REQUIRE(m != NULL);
    fix_append(&f, 1, 10);
    CHECK_OK(mirror_sync(m));
    CHECK(fix_sh_out(&old, "git -C '%s' rev-parse main", f.mirror_path) == 0);
    fix_append(&f, 2, 10);
    CHECK_OK(mirror_sync(m));
    CHECK(fix_sh_out(&last, "git -C '%s' rev-parse main", f.mirror_path) == 0);
    /* positive twin first: an unmoved branch is extended */
    CHECK(strcmp(nt_buf_cstr(&old), nt_buf_cstr(&last)) != 0);

    REQUIRE(fix_sh("git -C '%s' update-ref refs/heads/main %.40s", f.mirror_path,
                   nt_buf_cstr(&old)) == 0);
    fix_append(&f, 3, 10);
    CHECK_ERR(mirror_sync(m), NT_ECORRUPT);
    CHECK(strstr(nt_error_last(), "moved") != NULL);
    mirror_status st;
    CHECK_OK(mirror_status_get(&st, m));
    CHECK(st.mirrored_size == 20 && st.entries_behind == 10 && strstr(st.last_error, "moved"));
    mirror_status_dispose(&st);
    CHECK(fix_sh_out(&now, "git -C '%s' rev-parse main", f.mirror_path) == 0);
    CHECK_STR(nt_buf_cstr(&now), nt_buf_cstr(&old));

    /* Put back, the mirror goes on from its own last commit. */
    REQUIRE(fix_sh("git -C '%s' update-ref refs/heads/main %.40s", f.mirror_path,
                   nt_buf_cstr(&last)) == 0);
    CHECK_OK(mirror_sync(m));
    CHECK(fix_sh("git -C '%s' merge-base --is-ancestor %.40s main", f.mirror_path,
                 nt_buf_cstr(&last)) == 0);
    mirror_stop(m);
    uint64_t hs;
    CHECK_OK(mirror_head_get(&hs, NULL, f.mirror_path));
    CHECK(hs == 30);
    nt_buf_dispose(&old);
    nt_buf_dispose(&last);
    nt_buf_dispose(&now);
    fix_close(&f);
    fix_sh("rm -rf '%s'", f.dir);
}

/* Item 15 of issue 13: under umask 000 nothing of the mirror is group- or world-writable. */
static void test_modes_umask(void)
{
    fixture f;
    fix_open(&f);
    nt_buf out = NT_BUF_INIT;
    mode_t saved = umask(0);
    fix_append(&f, 1, 300);
    CHECK_OK(mirror_update(NULL, f.mirror_path, f.l));
    CHECK(fix_sh_out(&out, "find '%s' -perm /022 | head -3", f.mirror_path) == 0);
    CHECK_STR(nt_buf_cstr(&out), "");
    CHECK(fix_sh_out(&out, "find '%s' -type d | wc -l", f.mirror_path) == 0);
    CHECK(atoi(nt_buf_cstr(&out)) > 3); /* the check above looked at something */
    /* negative twin: the same umask without the mirror's tightening leaves files writable */
    umask(0);
    CHECK(fix_sh("touch '%s/plain' && test -n \"$(find '%s/plain' -perm /022)\"", f.dir, f.dir) ==
          0);
    umask(saved);
    nt_buf_dispose(&out);
    fix_close(&f);
    fix_sh("rm -rf '%s'", f.dir);
}

/*
 * The tiles are written as loose objects by mirror_blob.c, not by libgit2.  A
 * tile that cannot be written (its object directory is a file here) fails the
 * update with NT_EIO naming the path and changes nothing: the branch stays,
 * no temporary file is left.  Once the directories are back the same update
 * commits, and git fsck --strict (which re-hashes and inflates every object)
 * and git's own reading find the objects sound.
 */
static void test_tile_write_fails(void)
{
    fixture f;
    fix_open(&f);
    nt_buf out = NT_BUF_INIT, before = NT_BUF_INIT;
    uint64_t size = 0;
    CHECK_OK(mirror_update(NULL, f.mirror_path, f.l));
    CHECK(fix_sh_out(&before, "git -C '%s' rev-parse main", f.mirror_path) == 0);
    CHECK(fix_sh("cd '%s/objects' && for i in $(seq 0 255); do d=$(printf %%02x $i); "
                 "[ -e $d ] || : >$d; done",
                 f.mirror_path) == 0);
    fix_append(&f, 1, 300);
    CHECK(mirror_update(&size, f.mirror_path, f.l) == NT_EIO);
    CHECK(strstr(nt_error_last(), "/objects/") != NULL);
    CHECK(fix_sh_out(&out, "git -C '%s' rev-parse main", f.mirror_path) == 0);
    CHECK_STR(nt_buf_cstr(&out), nt_buf_cstr(&before));
    CHECK(fix_sh_out(&out, "find '%s/objects' -name '*.tmp.*' | wc -l", f.mirror_path) == 0);
    CHECK_STR(nt_buf_cstr(&out), "0\n");

    CHECK(fix_sh("find '%s/objects' -maxdepth 1 -type f -name '[0-9a-f][0-9a-f]' -delete",
                 f.mirror_path) == 0);
    CHECK_OK(mirror_update(&size, f.mirror_path, f.l));
    CHECK(size == 300);
    CHECK(fix_sh("git -C '%s' fsck --strict --no-progress >/dev/null", f.mirror_path) == 0);
    /* git reads a tile we wrote: the entry bundle of leaves 256-299 */
    CHECK(fix_sh_out(&out, "git -C '%s' cat-file -s main:tile/entries/001.p/44", f.mirror_path) ==
          0);
    CHECK(atoi(nt_buf_cstr(&out)) > 44 * 40);
    /* and the objects are read-only, as git makes them */
    CHECK(fix_sh_out(&out, "find '%s/objects' -type f -perm /222 | head -3", f.mirror_path) == 0);
    CHECK_STR(nt_buf_cstr(&out), "");
    nt_buf_dispose(&out);
    nt_buf_dispose(&before);
    fix_close(&f);
    fix_sh("rm -rf '%s'", f.dir);
}

int main(void)
{
    test_layout();
    test_refuse_other_log();
    test_long_leaf();
    test_push();
    test_thread_remote_down();
    test_thread_branch_moved();
    test_modes_umask();
    test_tile_write_fails();
    return TEST_END();
}
