/*
 * audit_tamper_test.c - the auditor (ledger/audit.c) on mirrors written by
 * ledger/mirror.c: a clean mirror passes (directly and through a file://
 * clone, fully and incrementally with a state file), and each tampering the
 * issue names fails with a precise message: a flipped byte in an entry
 * bundle, in a hash tile (new and old), a checkpoint with a bad signature, a
 * dropped commit, a fork and a rollback seen through one state file, a wrong
 * log key, tokens that do not verify against --trust.  Tampering is done with
 * plain git plumbing, as an attacker with write access to a copy would.
 */
#include "ledger/audit.h"
#include "tests/unit/ledger/mirror_fixture.h"

#include <stdio.h>

static int audit(audit_result *res, const char *source, const char *vkey, const char *state)
{
    audit_options o = {0};
    o.source = source;
    o.vkey = vkey;
    o.state_path = state;
    return audit_run(res, &o);
}

/* Expect NT_EVERIFY and a message containing every one of the NULL-terminated needles. */
static void expect_fail(const char *source, const char *vkey, const char *state, ...)
{
    audit_result res;
    int rc = audit(&res, source, vkey, state);
    CHECK_ERR(rc, NT_EVERIFY);
    va_list ap;
    va_start(ap, state);
    for (const char *needle = va_arg(ap, const char *); needle != NULL;
         needle = va_arg(ap, const char *)) {
        CHECK(strstr(nt_error_last(), needle) != NULL);
        if (strstr(nt_error_last(), needle) == NULL) {
            fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", nt_error_last(), needle);
        }
    }
    va_end(ap);
}

/* Copy a mirror, so every tamper test starts from the clean one. */
static void copy_repo(char *out, size_t cap, const fixture *f, const char *name)
{
    snprintf(out, cap, "%s/%s", f->dir, name);
    REQUIRE(fix_sh("rm -rf '%s' && cp -a '%s' '%s'", out, f->mirror_path, out) == 0);
}

/* Replace `path` in main's tree with `data` and re-create main's commit with the same
 * message and parent (what a forger with push access would do). */
static void rewrite_head(const fixture *f, const char *repo, const char *path, const nt_buf *data)
{
    char file[400];
    snprintf(file, sizeof(file), "%s/tampered.bin", f->dir);
    REQUIRE(nt_file_write_atomic(file, data->ptr, data->len, 0600) == 0);
    REQUIRE(fix_sh("cd '%s' && export GIT_INDEX_FILE='%s/idx' && rm -f \"$GIT_INDEX_FILE\" && "
                   "git read-tree main && h=$(git hash-object -w '%s') && "
                   "git update-index --add --cacheinfo 100644,$h,'%s' && t=$(git write-tree) && "
                   "git log -1 --format=%%B main > '%s/msg' && "
                   "c=$(git commit-tree $t -p main~1 -F '%s/msg') && "
                   "git update-ref refs/heads/main $c",
                   repo, f->dir, file, path, f->dir, f->dir) == 0);
}

static void flip(const fixture *f, const char *repo, const char *path, size_t offset)
{
    nt_buf blob = NT_BUF_INIT;
    REQUIRE(fix_sh_out(&blob, "git -C '%s' cat-file blob main:'%s'", repo, path) == 0);
    REQUIRE(offset < blob.len);
    blob.ptr[offset] ^= 0x01;
    rewrite_head(f, repo, path, &blob);
    nt_buf_dispose(&blob);
}

int main(void)
{
    fixture f;
    fix_open(&f);
    const char *vkey = nt_buf_cstr(&f.vkey);
    fix_append(&f, 1, 100);
    CHECK_OK(mirror_update(NULL, f.mirror_path, f.l));
    fix_append(&f, 1, 200);
    CHECK_OK(mirror_update(NULL, f.mirror_path, f.l));
    fix_append(&f, 1, 300);
    CHECK_OK(mirror_update(NULL, f.mirror_path, f.l));

    /* A clean mirror passes: 3 checkpoints, 600 leaves, the ledger's root. */
    audit_result res;
    ledger_info info;
    CHECK_OK(ledger_info_get(&info, f.l));
    CHECK_OK(audit(&res, f.mirror_path, vkey, NULL));
    CHECK(res.size == 600 && res.checkpoints == 3 && res.leaves == 600);
    CHECK(memcmp(res.root, info.root, 32) == 0);
    CHECK(res.resumed_size == 0 && res.tokens == 0);

    /* Wrong log key: every checkpoint is unsigned for it. */
    {
        EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        nt_buf ov = NT_BUF_INIT;
        REQUIRE(other != NULL && note_vkey_format(&ov, FIX_ORIGIN, other) == 0);
        expect_fail(f.mirror_path, nt_buf_cstr(&ov), NULL, "checkpoint of size 100",
                    "no valid signature", NULL);
        nt_buf_dispose(&ov);
        EVP_PKEY_free(other);
    }

    char repo[400];
    /* A flipped byte in an entry bundle. */
    copy_repo(repo, sizeof(repo), &f, "t-bundle.git");
    flip(&f, repo, "tile/entries/002.p/88", 10);
    expect_fail(repo, vkey, NULL, "entry 512", "tile/entries/002.p/88 entry 0 hashes to",
                "tile/0/002.p/88", NULL);
    /* ... in an old, full bundle: it changed after it was verified. */
    copy_repo(repo, sizeof(repo), &f, "t-bundle-old.git");
    flip(&f, repo, "tile/entries/001", 20);
    expect_fail(repo, vkey, NULL,
                "tile/entries/001: entry 0 (leaf 256) changed since the "
                "previous checkpoint",
                NULL);

    /* A flipped byte in a hash tile: a new one, and an old unchanged one. */
    copy_repo(repo, sizeof(repo), &f, "t-tile.git");
    flip(&f, repo, "tile/1/000.p/2", 40);
    expect_fail(repo, vkey, NULL, "tile/1/000.p/2: hash 1 is", "rebuilt from the entries", NULL);
    copy_repo(repo, sizeof(repo), &f, "t-tile-old.git");
    flip(&f, repo, "tile/0/000", 5);
    expect_fail(repo, vkey, NULL, "checkpoint of size 600",
                "tile/0/000 differs from the copy verified at the previous checkpoint", NULL);

    /* An extra file is not allowed either. */
    copy_repo(repo, sizeof(repo), &f, "t-extra.git");
    {
        nt_buf junk = NT_BUF_INIT;
        REQUIRE(nt_buf_puts(&junk, "junk") == 0);
        rewrite_head(&f, repo, "tile/0/999", &junk);
        nt_buf_dispose(&junk);
    }
    expect_fail(repo, vkey, NULL, "unexpected file tile/0/999", NULL);

    /* A checkpoint with a bad signature. */
    copy_repo(repo, sizeof(repo), &f, "t-sig.git");
    {
        nt_buf note = NT_BUF_INIT;
        REQUIRE(fix_sh_out(&note, "git -C '%s' cat-file blob main:checkpoint", repo) == 0);
        REQUIRE(note.len > 20);
        uint8_t *c = &note.ptr[note.len - 10];
        *c = *c == 'A' ? 'B' : 'A';
        rewrite_head(&f, repo, "checkpoint", &note);
        nt_buf_dispose(&note);
    }
    expect_fail(repo, vkey, NULL, "checkpoint of size 600: no valid signature", NULL);

    /* A dropped commit: the head re-parented onto its grandparent, message kept. */
    copy_repo(repo, sizeof(repo), &f, "t-drop.git");
    REQUIRE(fix_sh("cd '%s' && git log -1 --format=%%B main > '%s/msg' && "
                   "c=$(git commit-tree 'main^{tree}' -p main~2 -F '%s/msg') && "
                   "git update-ref refs/heads/main $c",
                   repo, f.dir, f.dir) == 0);
    expect_fail(repo, vkey, NULL, "checkpoint of size 600 says it follows size 300",
                "parent holds size 100", NULL);
    /* ... and the first commit dropped */
    copy_repo(repo, sizeof(repo), &f, "t-drop-first.git");
    REQUIRE(fix_sh("cd '%s' && git log -1 --format=%%B main~1 > '%s/msg' && "
                   "b=$(git commit-tree 'main~1^{tree}' -F '%s/msg') && "
                   "git log -1 --format=%%B main > '%s/msg2' && "
                   "c=$(git commit-tree 'main^{tree}' -p $b -F '%s/msg2') && "
                   "git update-ref refs/heads/main $c",
                   repo, f.dir, f.dir, f.dir, f.dir) == 0);
    expect_fail(repo, vkey, NULL, "first commit says it follows a checkpoint of size 100", NULL);

    /* State: a full run through file:// (a clone), then an incremental one. */
    char state[400], url[420];
    snprintf(state, sizeof(state), "%s/audit.state", f.dir);
    snprintf(url, sizeof(url), "file://%s", f.mirror_path);
    CHECK_OK(audit(&res, url, vkey, state));
    CHECK(res.size == 600 && res.leaves == 600 && res.resumed_size == 0);
    fix_append(&f, 1, 50);
    CHECK_OK(mirror_update(NULL, f.mirror_path, f.l));
    CHECK_OK(audit(&res, url, vkey, state));
    CHECK(res.size == 650 && res.leaves == 50 && res.resumed_size == 600 && res.checkpoints == 1);
    CHECK_OK(audit(&res, url, vkey, state));
    CHECK(res.size == 650 && res.leaves == 0 && res.checkpoints == 0);

    /* A rollback: main reset to an earlier commit. */
    copy_repo(repo, sizeof(repo), &f, "t-rollback.git");
    REQUIRE(fix_sh("git -C '%s' update-ref refs/heads/main main~2", repo) == 0);
    expect_fail(repo, vkey, state, "rollback", "holds 300 entries", "650 entries", NULL);
    /* A rewritten history with the same entries (the dropped commit) is reported too. */
    copy_repo(repo, sizeof(repo), &f, "t-rewrite.git");
    REQUIRE(fix_sh("cd '%s' && git log -1 --format=%%B main > '%s/msg' && "
                   "c=$(git commit-tree 'main^{tree}' -p main~1 -F '%s/msg' -m extra) && "
                   "git update-ref refs/heads/main $c",
                   repo, f.dir, f.dir) == 0);
    expect_fail(repo, vkey, state, "history rewritten", "size 650", NULL);

    /* A fork: a copy of the data directory that diverged. */
    ledger_close(f.l);
    char fork_dir[400], fork_ledger[420], fork_mirror[420];
    snprintf(fork_dir, sizeof(fork_dir), "%s/fork", f.dir);
    snprintf(fork_ledger, sizeof(fork_ledger), "%s/ledger", fork_dir);
    snprintf(fork_mirror, sizeof(fork_mirror), "%s/mirror.git", fork_dir);
    REQUIRE(fix_sh("mkdir -p '%s' && cp -a '%s' '%s' && cp -a '%s' '%s'", fork_dir, f.ledger_path,
                   fork_ledger, f.mirror_path, fork_mirror) == 0);
    fix_open_at(&f, f.ledger_path, f.key);
    fixture b = f;
    fix_open_at(&b, fork_ledger, f.key);
    fix_append(&f, 1, 100); /* A: 750 */
    CHECK_OK(mirror_update(NULL, f.mirror_path, f.l));
    CHECK_OK(audit(&res, f.mirror_path, vkey, state));
    CHECK(res.size == 750);
    fix_append(&b, 2, 50); /* B: 700, smaller than what was verified */
    CHECK_OK(mirror_update(NULL, fork_mirror, b.l));
    {
        audit_result r2;
        CHECK_OK(audit(&r2, fork_mirror, vkey, NULL)); /* self-consistent on its own */
    }
    expect_fail(fork_mirror, vkey, state, "rollback", "holds 700 entries", "750 entries", NULL);
    fix_append(&b, 2, 100); /* B: 800 */
    CHECK_OK(mirror_update(NULL, fork_mirror, b.l));
    expect_fail(fork_mirror, vkey, state, "fork: the tree of size 750 verified before had root",
                NULL);
    /* ... and the state did not move: A still passes. */
    CHECK_OK(audit(&res, f.mirror_path, vkey, state));
    CHECK(res.size == 750 && res.resumed_size == 750);
    ledger_close(b.l);

    /* A damaged state file or one for another log is refused (not a verification result). */
    {
        EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        nt_buf ov = NT_BUF_INIT;
        REQUIRE(other != NULL && note_vkey_format(&ov, FIX_ORIGIN, other) == 0);
        CHECK_ERR(audit(&res, f.mirror_path, nt_buf_cstr(&ov), state), NT_EINVAL);
        CHECK(strstr(nt_error_last(), "is for log") != NULL);
        nt_buf_dispose(&ov);
        EVP_PKEY_free(other);
        REQUIRE(fix_sh("sed -i 's/^root \\(.\\)/root f/' '%s'", state) == 0);
        CHECK_ERR(audit(&res, f.mirror_path, vkey, state), NT_EINVAL);
    }

    /* --trust with filler tokens: each must fail as not a token. */
    {
        char pem[400];
        snprintf(pem, sizeof(pem), "%s/ca.pem", f.dir);
        REQUIRE(fix_sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                       "-keyout '%s/ca.key' -out '%s' -subj /CN=test -days 1 2>/dev/null",
                       f.dir, pem) == 0);
        audit_options o = {0};
        o.source = f.mirror_path;
        o.vkey = vkey;
        o.trust_path = pem;
        CHECK_ERR(audit_run(&res, &o), NT_EVERIFY);
        CHECK(strstr(nt_error_last(), "entry 0: the token is not one DER ContentInfo") != NULL);
        o.trust_path = state; /* not PEM: no anchor */
        CHECK_ERR(audit_run(&res, &o), NT_EINVAL);
    }

    /* negative twins of the arguments */
    CHECK_ERR(audit(&res, f.mirror_path, "not a vkey", NULL), NT_EINVAL);
    {
        char nowhere[400];
        snprintf(nowhere, sizeof(nowhere), "%s/nothing.git", f.dir);
        CHECK(audit(&res, nowhere, vkey, NULL) < 0);
    }

    fix_close(&f);
    fix_sh("rm -rf '%s'", f.dir);
    return TEST_END();
}
