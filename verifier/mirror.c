/*
 * mirror.c - optional corroboration of a checkpoint against the ledger's git
 * mirror (C2SP tlog-tiles layout, one commit per mirrored checkpoint).  Part
 * of nt_verifier.
 *
 * Why the `git` command and not libgit2: the verifier must build and run
 * where only OpenSSL and jansson are available; every expert's machine has
 * git, and reading a few blobs through `git show` is all that is needed.  The
 * program is started with posix_spawnp and an argument vector (never a
 * shell), with GIT_TERMINAL_PROMPT=0.  A local path is read in place; only a
 * URL (containing "://" or of the scp form host:path) is cloned, and the
 * report says so, because that is the only network access the verifier makes.
 */
#define _XOPEN_SOURCE 700 /* nftw */

#include "verifier/verifier_int.h"

#include "ledger/merkle.h"
#include "ledger/note.h"
#include "ledger/tiles.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define GIT_MAX_OUTPUT   (8u * 1024u * 1024u)
#define MIRROR_MAX_TILES 4096u

/* Run git with argv (argv[0] ignored, replaced by `git`); stdout into out. Returns exit status or
 * <0. */
static int git_run(nt_buf *out, const char *git, const char *const *argv)
{
    int error = 0;
    int pipefd[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    int fa_init = 0;
    pid_t pid = -1;
    char *args[24];
    size_t n = 0;
    uint8_t chunk[65536];
    char **envp = NULL;

    nt_buf_clear(out);
    args[n++] = (char *)git;
    for (size_t i = 1; argv[i] != NULL && n + 1 < NT_ARRAY_LEN(args); i++) {
        args[n++] = (char *)argv[i];
    }
    args[n] = NULL;
    NT_ENSURE(pipe(pipefd) == 0, NT_EIO, "pipe: %s", strerror(errno));
    NT_ENSURE(posix_spawn_file_actions_init(&fa) == 0, NT_ENOMEM, "spawn actions");
    fa_init = 1;
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_addclose(&fa, pipefd[0]);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", 01 /* O_WRONLY */, 0);
    /* The child's environment: ours plus GIT_TERMINAL_PROMPT=0 (never ask for a password). */
    size_t nenv = 0;
    while (environ[nenv] != NULL) {
        nenv++;
    }
    NT_ENSURE((envp = nt_calloc(nenv + 2, sizeof(*envp))) != NULL, NT_ENOMEM, "out of memory");
    for (size_t i = 0; i < nenv; i++) {
        envp[i] = environ[i];
    }
    envp[nenv] = (char *)"GIT_TERMINAL_PROMPT=0";
    int rc = posix_spawnp(&pid, git, &fa, NULL, args, envp);
    NT_ENSURE(rc == 0, NT_EIO, "cannot run %s: %s", git, strerror(rc));
    close(pipefd[1]);
    pipefd[1] = -1;
    for (;;) {
        ssize_t got = read(pipefd[0], chunk, sizeof(chunk));
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            break;
        }
        if (out->len + (size_t)got <= GIT_MAX_OUTPUT) {
            NT_TRY(nt_buf_put(out, chunk, (size_t)got));
        }
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    pid = -1;
    error = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
done:
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    if (fa_init) {
        posix_spawn_file_actions_destroy(&fa);
    }
    nt_free(envp);
    for (int i = 0; i < 2; i++) {
        if (pipefd[i] >= 0) {
            close(pipefd[i]);
        }
    }
    return error;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int is_remote(const char *m)
{
    if (strstr(m, "://") != NULL) {
        return strncmp(m, "file://", 7) != 0;
    }
    const char *colon = strchr(m, ':');
    const char *slash = strchr(m, '/');
    /* scp-like "host:path" (a colon before any slash) */
    return colon != NULL && (slash == NULL || colon < slash) && colon != m;
}

/* "<commit>:tile/0/x001/234[.p/W]" (ledger/tiles.h). */
static int tile_path(nt_buf *out, const char *commit, uint64_t n, unsigned width)
{
    nt_buf_clear(out);
    int error = nt_buf_printf(out, "%s:", commit);
    return error < 0 ? error : tiles_path(out, 0, n, width);
}

/* Why a later checkpoint was not proven consistent, in both report languages. */
typedef struct why_text {
    const char *en;
    const char *zh;
} why_text;

static const why_text WHY_TOO_LARGE = {"the later checkpoint's tree is too large to recompute here",
                                       "较新检查点的树过大，无法在此重新计算"};
static const why_text WHY_NO_TILE = {"the mirror lacks a level-0 tile needed to recompute the tree",
                                     "镜像缺少重新计算树所需的 0 层瓦片"};
static const why_text WHY_BAD_TILES = {"the mirror's tiles do not hash to its own checkpoint",
                                       "镜像瓦片的哈希与其自身的检查点不符"};
static const why_text WHY_NOT_PREFIX = {
    "the mirror's tree does not contain the receipt's tree as a prefix",
    "镜像的树不以回执所对应的树为前缀"};

/*
 * Prove a later checkpoint (size2, root2) consistent with (size1, root1)
 * from the level-0 tiles of that commit: both roots are recomputed from the
 * same leaf hashes.  1 proven, 0 not proven (reason in *why), <0 error.
 */
static int tiles_consistent(const char *git, const char *repo, const char *commit, uint64_t size1,
                            const uint8_t root1[32], uint64_t size2, const uint8_t root2[32],
                            const why_text **why)
{
    int error = 0;
    nt_buf hashes = NT_BUF_INIT, path = NT_BUF_INIT, blob = NT_BUF_INIT;
    uint8_t r1[32], r2[32];
    uint64_t tiles;
    unsigned partial;
    tiles_count(&tiles, &partial, size2, 0);
    tiles += partial > 0;
    if (tiles > MIRROR_MAX_TILES) {
        *why = &WHY_TOO_LARGE;
        goto done;
    }
    for (uint64_t t = 0; t < tiles; t++) {
        unsigned width = t + 1 < tiles || partial == 0 ? 0 : partial;
        NT_TRY(tile_path(&path, commit, t, width));
        const char *argv[] = {"git", "-C", repo, "show", nt_buf_cstr(&path), NULL};
        int rc = git_run(&blob, git, argv);
        NT_TRY(rc < 0 ? rc : 0);
        size_t want = (width == 0 ? TILES_WIDTH : width) * 32u;
        if (rc != 0 || blob.len != want) {
            *why = &WHY_NO_TILE;
            goto done;
        }
        NT_TRY(nt_buf_put(&hashes, blob.ptr, blob.len));
    }
    NT_TRY(merkle_root_naive(r1, hashes.ptr, size1));
    NT_TRY(merkle_root_naive(r2, hashes.ptr, size2));
    if (memcmp(r2, root2, 32) != 0) {
        *why = &WHY_BAD_TILES;
        goto done;
    }
    if (memcmp(r1, root1, 32) != 0) {
        *why = &WHY_NOT_PREFIX;
        error = 0;
        goto done;
    }
    error = 1;
done:
    nt_buf_dispose(&hashes);
    nt_buf_dispose(&path);
    nt_buf_dispose(&blob);
    return error;
}

/* What walking the mirror's checkpoint history needs. */
typedef struct mirror_walk {
    verifier_report *r;
    const char *git, *repo;
    const struct note_verifier *v;
    uint64_t size; /* the receipt's checkpoint */
    const uint8_t *root;
    char later_commit[48]; /* the first later checkpoint tried */
    nt_buf note, spec;
} mirror_walk;

/*
 * One commit of the mirror's checkpoint history: the checkpoint it holds
 * compared with the receipt's; *found set when that settles the step.
 */
static int mirror_commit(mirror_walk *w, const char *commit, long long ctime, int *found)
{
    int error = 0;
    verifier_report *r = w->r;
    const verifier_step_id S = VERIFIER_STEP_MIRROR;
    char when[32];

    nt_buf_clear(&w->spec);
    NT_TRY(nt_buf_printf(&w->spec, "%s:checkpoint", commit));
    const char *sargv[] = {"git", "-C", w->repo, "show", nt_buf_cstr(&w->spec), NULL};
    int rc = git_run(&w->note, w->git, sargv);
    NT_TRY(rc < 0 ? rc : 0);
    size_t body = 0;
    checkpoint cp;
    if (rc != 0 || note_verify(&body, (const char *)w->note.ptr, w->note.len, w->v) < 0 ||
        checkpoint_parse(&cp, (const char *)w->note.ptr, body) < 0 ||
        strcmp(cp.origin, w->v->name) != 0) {
        return 0; /* not signed by the pinned key: not evidence either way */
    }
    if (cp.size == w->size && memcmp(cp.root, w->root, 32) != 0) {
        verifier__step_set(r, S, VERIFIER_STEP_FAILED, "SPLIT_VIEW");
        error = verifier__detail(r, S, "mirror.split_view",
                                 "commit %s holds a different checkpoint signed by the log "
                                 "key for the same tree size %llu: the log equivocated",
                                 "提交 %s 含有另一个由该日志公钥签名、树大小同为 %llu "
                                 "的检查点：该日志出现了分叉（equivocation）",
                                 commit, (unsigned long long)w->size);
        *found = 1;
        goto done;
    }
    if (cp.size == w->size || (cp.size > w->size && w->later_commit[0] == '\0')) {
        int proven = cp.size == w->size;
        const why_text *why = &WHY_NO_TILE;
        if (!proven) {
            snprintf(w->later_commit, sizeof(w->later_commit), "%s", commit);
            int t =
                tiles_consistent(w->git, w->repo, commit, w->size, w->root, cp.size, cp.root, &why);
            NT_TRY(t < 0 ? t : 0);
            proven = t == 1;
            if (why == &WHY_NOT_PREFIX) {
                /* The tiles hash to a tree the log key signed, and that tree's prefix of the
                 * receipt's size has another root than the one the log key signed for the
                 * receipt: two signed views that cannot both hold.  That is proof of a fork,
                 * not a mere lack of corroboration. */
                verifier__step_set(r, S, VERIFIER_STEP_FAILED, "SPLIT_VIEW");
                error = verifier__detail(
                    r, S, "mirror.fork",
                    "the later checkpoint (size %llu) in commit %s is signed by the log key "
                    "and its tiles give another root for tree size %llu: the log forked",
                    "较新的检查点（树大小 %llu，提交 %s）由该日志公钥签名，其瓦片给出的树大小 "
                    "%llu 的根哈希与回执的不同：该日志出现了分叉",
                    (unsigned long long)cp.size, commit, (unsigned long long)w->size);
                *found = 1;
                goto done;
            }
            if (!proven) {
                nt_buf en = NT_BUF_INIT, zh = NT_BUF_INIT;
                error = nt_buf_printf(&en, "later checkpoint (size %llu) in commit %s: %s",
                                      (unsigned long long)cp.size, commit, why->en);
                if (error == 0) {
                    error = nt_buf_printf(&zh, "较新的检查点（树大小 %llu，提交 %s）：%s",
                                          (unsigned long long)cp.size, commit, why->zh);
                }
                if (error == 0) {
                    error = verifier__detail_text(r, S, "mirror.later_unproven", nt_buf_cstr(&en),
                                                  nt_buf_cstr(&zh));
                }
                nt_buf_dispose(&en);
                nt_buf_dispose(&zh);
                goto done;
            }
        }
        verifier__time_text(when, (int64_t)ctime);
        error = nt_buf_puts(&r->mirror_commit, commit);
        error = error < 0 ? error : nt_buf_puts(&r->mirror_commit_time, when);
        r->mirror_checkpoint_size = cp.size;
        verifier__step_set(r, S, VERIFIER_STEP_PASSED, NULL);
        if (error == 0) {
            error = cp.size == w->size
                        ? verifier__detail(r, S, "mirror.found",
                                           "the checkpoint is in the mirror's history: first "
                                           "in commit %s, committed %s",
                                           "该检查点在镜像的历史中：首次出现于提交 %s，提交时间 %s",
                                           commit, when)
                        : verifier__detail(r, S, "mirror.later_proven",
                                           "a later checkpoint (size %llu, commit %s, "
                                           "committed %s) is proven consistent with it by "
                                           "recomputing both roots from the mirror's tiles",
                                           "一个较新的检查点（树大小 %llu，提交 %s，提交时间 "
                                           "%s）经由镜像的瓦片重新计算两个根哈希，被证明与之一致",
                                           (unsigned long long)cp.size, commit, when);
        }
        *found = 1;
    }
done:
    return error;
}

/*
 * The mirror as a local repository: a remote one is cloned bare into `tmp`
 * (created here).  1 when it cannot be read (the step is then INDETERMINATE).
 */
static int mirror_open(const char **repo_out, char tmp[64], verifier_report *r,
                       const verifier_options *opts, const char *git, nt_buf *out)
{
    int error = 0;
    const verifier_step_id S = VERIFIER_STEP_MIRROR;
    const char *repo = opts->mirror;

    r->mirror_remote = is_remote(opts->mirror);
    if (r->mirror_remote) {
        const char *base = getenv("TMPDIR");
        snprintf(tmp, 64, "%s/ntv-mirror-XXXXXX",
                 base != NULL && strlen(base) < 40 ? base : "/tmp");
        NT_ENSURE(mkdtemp(tmp) != NULL, NT_EIO, "mkdtemp: %s", strerror(errno));
        const char *argv[] = {"git", "clone", "--bare", "--quiet", "--", opts->mirror, tmp, NULL};
        int rc = git_run(out, git, argv);
        NT_TRY(rc < 0 ? rc : 0);
        NT_TRY(verifier__detail(r, S, "mirror.cloned", "network used: cloned %s",
                                "使用了网络：已克隆 %s", opts->mirror));
        if (rc != 0) {
            verifier__step_set(r, S, VERIFIER_STEP_INDETERMINATE, "MIRROR_UNAVAILABLE");
            NT_TRY(verifier__detail(r, S, "mirror.clone_failed", "git clone failed (exit %d)",
                                    "git clone 失败（退出码 %d）", rc));
            return 1;
        }
        repo = tmp;
    } else if (strncmp(repo, "file://", 7) == 0) {
        repo += 7;
    }
    *repo_out = repo;
done:
    return error;
}

int verifier__mirror_check(verifier_report *r, const verifier_options *opts,
                           const struct note_verifier *v, uint64_t size, const uint8_t root[32])
{
    int error = 0;
    const char *git = opts->git_command != NULL ? opts->git_command : "git";
    char tmp[64] = "";
    const char *repo = NULL;
    nt_buf out = NT_BUF_INIT;
    const verifier_step_id S = VERIFIER_STEP_MIRROR;
    mirror_walk w = {.r = r, .git = git, .v = v, .size = size, .root = root};

    int opened = mirror_open(&repo, tmp, r, opts, git, &out);
    NT_TRY(opened < 0 ? opened : 0);
    if (opened == 1) {
        goto done;
    }
    w.repo = repo;
    const char *argv[] = {"git",  "-C", repo,         "log", "--reverse", "--format=%H %ct",
                          "HEAD", "--", "checkpoint", NULL};
    int rc = git_run(&out, git, argv);
    NT_TRY(rc < 0 ? rc : 0);
    if (rc != 0) {
        verifier__step_set(r, S, VERIFIER_STEP_INDETERMINATE, "MIRROR_UNAVAILABLE");
        NT_TRY(verifier__detail(r, S, "mirror.unreadable",
                                "%s is not a readable git repository (git exit %d)",
                                "%s 不是可读取的 git 仓库（git 退出码 %d）", repo, rc));
        goto done;
    }
    nt_buf list = NT_BUF_INIT;
    NT_TRY(nt_buf_set(&list, out.ptr, out.len));
    size_t pos = 0, seen = 0;
    const char *line;
    size_t len;
    int found = 0;
    while (!found && verifier__next_line(&list, &pos, &line, &len)) {
        char commit[48];
        long long ctime = 0;
        if (len < 42 || len > 80 || sscanf(line, "%47s %lld", commit, &ctime) != 2) {
            continue;
        }
        seen++;
        error = mirror_commit(&w, commit, ctime, &found);
        if (error < 0) {
            break;
        }
    }
    nt_buf_dispose(&list);
    NT_TRY(error);
    if (!found) {
        verifier__step_set(r, S, VERIFIER_STEP_INDETERMINATE, "CHECKPOINT_NOT_IN_MIRROR");
        NT_TRY(verifier__detail(
            r, S, "mirror.not_found",
            "none of the %zu checkpoint commit(s) in the mirror holds this "
            "checkpoint or a later one proven consistent with it",
            "镜像中的 %zu 个检查点提交均不含此检查点，也不含经证明与之一致的较新检查点", seen));
        NT_TRY(verifier__limit(r, "the checkpoint was not corroborated by the mirror"));
    }
done:
    if (tmp[0] != '\0') {
        nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    nt_buf_dispose(&out);
    nt_buf_dispose(&w.note);
    nt_buf_dispose(&w.spec);
    return error;
}
