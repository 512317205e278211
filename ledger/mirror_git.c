/*
 * mirror_git.c - the mirror's libgit2 glue (nt_mirror library): opening and
 * creating the repository, reading HEAD's checkpoint, pushing, and the git
 * operations the auditor needs (ledger__git_*).  One of the two files that
 * include <git2.h> (with mirror_write.c), so that libgit2's error codes and
 * object model stop here (translated to NT_E*).  The layout is pinned in
 * docs/MIRROR.md; the public contract is ledger/mirror.h.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include "ledger/mirror.h"
#include "ledger/mirror_git_int.h"
#include "ledger/mirror_int.h"

#include <errno.h>
#include <ftw.h>
#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ libgit2 glue */

/* libgit2's codes end here: GIT_ENOTFOUND -> NT_ENOTFOUND, the rest -> NT_EIO. */
int ledger__git_fail(int gerr, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    const git_error *e = git_error_last();
    int code = gerr == GIT_ENOTFOUND ? NT_ENOTFOUND : NT_EIO;
    return nt_error_set(code, "%s: %s", what,
                        e != NULL && e->message != NULL ? e->message : "libgit2 error");
}

static pthread_once_t git_once = PTHREAD_ONCE_INIT;
static void git_init_once(void)
{
    /* Initialised once for the process and never shut down: the server, the
     * auditor and the tests may each use libgit2 from several places. */
    git_libgit2_init();
}
void ledger__git_ready(void)
{
    pthread_once(&git_once, git_init_once);
}

void ledger__oid_hex(char out[2 * MIRROR_OID_SIZE + 1], const uint8_t id[MIRROR_OID_SIZE])
{
    nt_hex_fill(out, id, MIRROR_OID_SIZE);
}

/*
 * Open the bare repository at path, creating it (HEAD -> main) when absent.
 * libgit2 creates directories 0777 and refs 0666 minus the umask (its object
 * modes are fixed only for files, 0444), and its one way to choose
 * (core.sharedRepository) is for sharing, not for tightening; so the umask
 * gets 022 added here, never a bit removed: nothing of the mirror is group-
 * or world-writable, whatever umask the server was started with.
 */
int ledger__repo_open(git_repository **out, const char *path)
{
    int error = 0;
    mode_t mask = umask(077); /* the probe tightens, never loosens, for an instant */
    umask(mask | 022);
    ledger__git_ready();
    if (git_repository_open_bare(out, path) == 0) {
        return 0;
    }
    NT_ENSURE(!nt_path_exists(path) || rmdir(path) == 0 || errno != ENOTEMPTY, NT_EINVAL,
              "mirror: %s exists and is not a git repository", path);
    git_repository_init_options opts;
    git_repository_init_options_init(&opts, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
    opts.flags =
        GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH | GIT_REPOSITORY_INIT_NO_REINIT;
    opts.initial_head = "main";
    opts.description = "Notarium ledger mirror (C2SP tlog-tiles layout)";
    GIT_TRY(git_repository_init_ext(out, path, &opts), "mirror: cannot create %s", path);
done:
    return error;
}

int ledger__empty_tree(git_tree **out, git_repository *repo)
{
    int error = 0;
    git_treebuilder *tb = NULL;
    git_oid id;
    GIT_TRY(git_treebuilder_new(&tb, repo, NULL), "empty tree");
    GIT_TRY(git_treebuilder_write(&id, tb), "empty tree");
    GIT_TRY(git_tree_lookup(out, repo, &id), "empty tree");
done:
    git_treebuilder_free(tb);
    return error;
}

void ledger__repo_free(git_repository *repo)
{
    git_repository_free(repo);
}

void ledger__head_dispose(ledger__head *h)
{
    nt_buf_dispose(&h->note);
}

static int blob_read_at(nt_buf *out, git_repository *repo, git_tree *tree, const char *path)
{
    int error = 0;
    git_tree_entry *entry = NULL;
    git_blob *blob = NULL;
    int rc = git_tree_entry_bypath(&entry, tree, path);
    if (rc == GIT_ENOTFOUND) {
        error = nt_error_set(NT_ENOTFOUND, "%s: no such file", path);
        goto done;
    }
    GIT_TRY(rc, "%s", path);
    NT_ENSURE(git_tree_entry_type(entry) == GIT_OBJECT_BLOB, NT_EINVAL, "%s: not a file", path);
    GIT_TRY(git_blob_lookup(&blob, repo, git_tree_entry_id(entry)), "%s", path);
    NT_TRY(nt_buf_set(out, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob)));
done:
    git_blob_free(blob);
    git_tree_entry_free(entry);
    return error;
}

int ledger__head_read(ledger__head *h, git_repository *repo)
{
    int error = 0;
    git_commit *commit = NULL;
    git_tree *tree = NULL;
    h->present = 0;
    int rc = git_reference_name_to_id(&h->commit, repo, MIRROR_BRANCH);
    if (rc == GIT_ENOTFOUND) {
        memset(&h->cp, 0, sizeof(h->cp));
        merkle_empty_root(h->cp.root);
        goto done;
    }
    GIT_TRY(rc, "mirror: reading %s", MIRROR_BRANCH);
    GIT_TRY(git_commit_lookup(&commit, repo, &h->commit), "mirror: HEAD commit");
    GIT_TRY(git_commit_tree(&tree, commit), "mirror: HEAD tree");
    git_oid_cpy(&h->tree, git_tree_id(tree));
    NT_TRY(blob_read_at(&h->note, repo, tree, "checkpoint"));
    NT_TRY(ledger__note_checkpoint_parse(&h->cp, (const char *)h->note.ptr, h->note.len));
    h->present = 1;
done:
    git_tree_free(tree);
    git_commit_free(commit);
    return error;
}
int mirror_head_get(uint64_t *size_out, uint8_t root_out[32], const char *path)
{
    int error = 0;
    git_repository *repo = NULL;
    ledger__head head = {0};
    ledger__git_ready();
    int rc = git_repository_open_bare(&repo, path);
    NT_ENSURE(rc == 0, NT_ENOTFOUND, "mirror: no repository at %s", path);
    NT_TRY(ledger__head_read(&head, repo));
    *size_out = head.cp.size;
    if (root_out != NULL) {
        memcpy(root_out, head.cp.root, 32);
    }
done:
    ledger__head_dispose(&head);
    git_repository_free(repo);
    return error;
}

/* ------------------------------------------------------------------ pushing */

typedef struct push_ctx {
    char rejected[256];
    unsigned cred_attempts;
} push_ctx;

static int push_ref_cb(const char *refname, const char *status, void *data)
{
    push_ctx *p = data;
    if (status != NULL) {
        snprintf(p->rejected, sizeof(p->rejected), "%s rejected: %s", refname, status);
    }
    return 0;
}

static int push_cred_cb(git_credential **out, const char *url, const char *username,
                        unsigned int allowed, void *payload)
{
    push_ctx *p = payload;
    (void)url;
    /* One attempt with the ssh agent; libgit2 would otherwise ask forever. */
    if (p->cred_attempts++ > 0) {
        return GIT_EUSER;
    }
    if ((allowed & GIT_CREDENTIAL_SSH_KEY) != 0) {
        return git_credential_ssh_key_from_agent(out, username != NULL ? username : "git");
    }
    return GIT_PASSTHROUGH;
}

/*
 * An anonymous remote for one push or fetch.  GIT_REMOTE_CREATE_SKIP_INSTEADOF:
 * libgit2 1.5's url.*.insteadOf lookup (what git_remote_create_anonymous does)
 * leaks a pcre2 block per config entry on every call, which a server pushing
 * every second cannot afford; our remotes are URLs the operator wrote in full.
 */
static int remote_open(git_remote **out, git_repository *repo, const char *url)
{
    git_remote_create_options o;
    git_remote_create_options_init(&o, GIT_REMOTE_CREATE_OPTIONS_VERSION);
    o.repository = repo;
    o.name = NULL;
    o.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
    return git_remote_create_with_opts(out, url, &o);
}

static int repo_push(git_repository *repo, const char *url)
{
    int error = 0;
    git_remote *remote = NULL;
    push_ctx p = {{0}, 0};
    /* No '+': never a forced push; libgit2 refuses a non-fast-forward update. */
    char *spec = (char *)MIRROR_BRANCH ":" MIRROR_BRANCH;
    git_strarray refspecs = {&spec, 1};
    git_push_options opts;
    git_push_options_init(&opts, GIT_PUSH_OPTIONS_VERSION);
    opts.callbacks.push_update_reference = push_ref_cb;
    opts.callbacks.credentials = push_cred_cb;
    opts.callbacks.payload = &p;
    GIT_TRY(remote_open(&remote, repo, url), "push to %s", url);
    int rc = git_remote_push(remote, &refspecs, &opts);
    if (rc < 0) {
        const git_error *e = git_error_last();
        const char *m = e != NULL && e->message != NULL ? e->message : "libgit2 error";
        int code = strstr(m, "fastforward") != NULL || strstr(m, "fast-forward") != NULL ||
                           strstr(m, "not present locally") != NULL
                       ? NT_EVERIFY
                       : NT_EIO;
        error = nt_error_set(code, "push to %s: %s", url, m);
        goto done;
    }
    NT_ENSURE(p.rejected[0] == '\0', NT_EVERIFY, "push to %s: %s", url, p.rejected);
done:
    git_remote_free(remote);
    return error;
}

int mirror_push(const char *path, const char *url)
{
    int error = 0;
    git_repository *repo = NULL;
    ledger__git_ready();
    GIT_TRY(git_repository_open_bare(&repo, path), "mirror: opening %s", path);
    NT_TRY(repo_push(repo, url));
done:
    git_repository_free(repo);
    return error;
}
/* ------------------------------------------------------------------ git for the audit */

struct ledger__git {
    git_repository *repo;
    git_odb *odb;
    git_odb_backend *mempack; /* owned by odb once added */
    char *tmpdir;             /* temporary clone, removed on close */
};

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int fetch_into(git_repository *repo, const char *url)
{
    int error = 0;
    git_remote *remote = NULL;
    /* Forced on purpose: a rewritten history must reach the auditor to be reported. */
    char *spec = "+" MIRROR_BRANCH ":" MIRROR_BRANCH;
    git_strarray refspecs = {&spec, 1};
    git_fetch_options opts;
    git_fetch_options_init(&opts, GIT_FETCH_OPTIONS_VERSION);
    opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
    GIT_TRY(remote_open(&remote, repo, url), "audit: remote %s", url);
    GIT_TRY(git_remote_fetch(remote, &refspecs, &opts, NULL), "audit: fetching %s", url);
done:
    git_remote_free(remote);
    return error;
}

int ledger__git_open(ledger__git **out, const char *source, const char *cache)
{
    int error = 0;
    ledger__git *g = NULL;
    char tmpl[4096];
    *out = NULL;
    ledger__git_ready();
    g = nt_calloc(1, sizeof(*g));
    NT_ENSURE(g != NULL, NT_ENOMEM, "out of memory");
    int local = strstr(source, "://") == NULL &&
                git_repository_open_ext(&g->repo, source, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) == 0;
    if (!local) {
        const char *dir = cache;
        if (dir == NULL) {
            const char *base = getenv("TMPDIR");
            int n = snprintf(tmpl, sizeof(tmpl), "%s/notarium-audit-XXXXXX",
                             base != NULL ? base : "/tmp");
            NT_ENSURE(n > 0 && (size_t)n < sizeof(tmpl), NT_EINVAL, "audit: TMPDIR is too long");
            NT_ENSURE(mkdtemp(tmpl) != NULL, NT_EIO, "audit: cannot create a temporary directory");
            g->tmpdir = nt_strdup(tmpl);
            NT_ENSURE(g->tmpdir != NULL, NT_ENOMEM, "out of memory");
            dir = tmpl;
        }
        if (git_repository_open_bare(&g->repo, dir) != 0) {
            git_repository_init_options io;
            git_repository_init_options_init(&io, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
            io.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
            io.initial_head = "main";
            GIT_TRY(git_repository_init_ext(&g->repo, dir, &io), "audit: cannot create %s", dir);
        }
        NT_TRY(fetch_into(g->repo, source));
    }
    GIT_TRY(git_repository_odb(&g->odb, g->repo), "audit: object database");
    GIT_TRY(git_mempack_new(&g->mempack), "audit: in-memory objects");
    int rc = git_odb_add_backend(g->odb, g->mempack, 1000);
    if (rc < 0) {
        g->mempack->free(g->mempack);
        g->mempack = NULL;
        GIT_TRY(rc, "audit: in-memory objects");
    }
    *out = g;
    g = NULL;
done:
    ledger__git_close(g);
    return error;
}

void ledger__git_close(ledger__git *g)
{
    if (g == NULL) {
        return;
    }
    git_odb_free(g->odb);
    git_repository_free(g->repo);
    if (g->tmpdir != NULL) {
        nftw(g->tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
        nt_free(g->tmpdir);
    }
    nt_free(g);
}

void ledger__git_history_free(ledger__git_commit *list, size_t count)
{
    for (size_t i = 0; list != NULL && i < count; i++) {
        nt_free(list[i].message);
    }
    nt_free(list);
}

int ledger__git_history(ledger__git_commit **list_out, size_t *count_out, ledger__git *g)
{
    int error = 0;
    ledger__git_commit *list = NULL;
    size_t count = 0, cap = 0;
    git_commit *c = NULL;
    git_oid id;
    *list_out = NULL;
    *count_out = 0;
    int rc = git_reference_name_to_id(&id, g->repo, MIRROR_BRANCH);
    if (rc == GIT_ENOTFOUND) {
        goto done;
    }
    GIT_TRY(rc, "audit: %s", MIRROR_BRANCH);
    for (;;) {
        GIT_TRY(git_commit_lookup(&c, g->repo, &id), "audit: commit");
        if (count == cap) {
            cap = cap == 0 ? 256 : cap * 2;
            ledger__git_commit *nl = nt_reallocarray(list, cap, sizeof(*nl));
            NT_ENSURE(nl != NULL, NT_ENOMEM, "out of memory");
            list = nl;
        }
        ledger__git_commit *e = &list[count];
        memset(e, 0, sizeof(*e));
        memcpy(e->id, git_commit_id(c)->id, MIRROR_OID_SIZE);
        memcpy(e->tree, git_commit_tree_id(c)->id, MIRROR_OID_SIZE);
        e->parent_count = git_commit_parentcount(c);
        const char *msg = git_commit_message_raw(c);
        e->message = nt_strdup(msg != NULL ? msg : "");
        NT_ENSURE(e->message != NULL, NT_ENOMEM, "out of memory");
        count++;
        if (e->parent_count == 0) {
            break;
        }
        git_oid_cpy(&id, git_commit_parent_id(c, 0));
        git_commit_free(c);
        c = NULL;
    }
    /* oldest first */
    for (size_t i = 0; i < count / 2; i++) {
        ledger__git_commit t = list[i];
        list[i] = list[count - 1 - i];
        list[count - 1 - i] = t;
    }
done:
    git_commit_free(c);
    if (error < 0) {
        ledger__git_history_free(list, count);
    } else {
        *list_out = list;
        *count_out = count;
    }
    return error;
}

int ledger__git_blob_read(nt_buf *out, ledger__git *g, const uint8_t tree_id[MIRROR_OID_SIZE],
                          const char *path)
{
    int error = 0;
    git_tree *tree = NULL;
    git_oid id;
    git_oid_fromraw(&id, tree_id);
    GIT_TRY(git_tree_lookup(&tree, g->repo, &id), "audit: tree");
    NT_TRY(blob_read_at(out, g->repo, tree, path));
done:
    git_tree_free(tree);
    return error;
}

static int path_list_next(const nt_buf *b, size_t *off, const char **path)
{
    if (b == NULL || *off >= b->len) {
        return 0;
    }
    *path = (const char *)b->ptr + *off;
    *off += strlen(*path) + 1;
    return 1;
}

int ledger__git_tree_expect(ledger__git *g, const uint8_t *base_id,
                            const uint8_t actual_id[MIRROR_OID_SIZE], const nt_buf *keep,
                            const nt_buf *drop)
{
    int error = 0;
    git_tree *base = NULL, *actual = NULL, *expected = NULL;
    git_tree_entry *entry = NULL;
    git_tree_update *updates = NULL;
    git_diff *diff = NULL;
    size_t n = 0, off = 0;
    const char *path;
    git_oid id, expected_id;

    git_oid_fromraw(&id, actual_id);
    GIT_TRY(git_tree_lookup(&actual, g->repo, &id), "audit: tree");
    if (base_id != NULL) {
        git_oid_fromraw(&id, base_id);
        GIT_TRY(git_tree_lookup(&base, g->repo, &id), "audit: tree");
    } else {
        NT_TRY(ledger__empty_tree(&base, g->repo));
    }
    while (path_list_next(keep, &off, &path)) {
        n++;
    }
    off = 0;
    while (path_list_next(drop, &off, &path)) {
        n++;
    }
    updates = nt_calloc(n > 0 ? n : 1, sizeof(*updates));
    NT_ENSURE(updates != NULL, NT_ENOMEM, "out of memory");
    n = 0;
    off = 0;
    while (path_list_next(drop, &off, &path)) {
        updates[n].action = GIT_TREE_UPDATE_REMOVE;
        updates[n++].path = path;
    }
    off = 0;
    while (path_list_next(keep, &off, &path)) {
        int rc = git_tree_entry_bypath(&entry, actual, path);
        NT_ENSURE(rc == 0, NT_EVERIFY, "%s is missing", path);
        updates[n].action = GIT_TREE_UPDATE_UPSERT;
        git_oid_cpy(&updates[n].id, git_tree_entry_id(entry));
        updates[n].filemode = git_tree_entry_filemode(entry);
        updates[n++].path = path;
        git_tree_entry_free(entry);
        entry = NULL;
    }
    GIT_TRY(git_tree_create_updated(&expected_id, g->repo, base, n, updates),
            "audit: rebuilding the expected tree");
    if (git_oid_equal(&expected_id, git_tree_id(actual))) {
        goto done;
    }
    GIT_TRY(git_tree_lookup(&expected, g->repo, &expected_id), "audit: tree");
    GIT_TRY(git_diff_tree_to_tree(&diff, g->repo, expected, actual, NULL), "audit: diff");
    if (git_diff_num_deltas(diff) == 0) {
        error = nt_error_set(NT_EVERIFY, "the tree differs from the expected one (modes)");
        goto done;
    }
    const git_diff_delta *d = git_diff_get_delta(diff, 0);
    switch (d->status) {
    case GIT_DELTA_ADDED:
        error = nt_error_set(NT_EVERIFY, "unexpected file %s", d->new_file.path);
        break;
    case GIT_DELTA_DELETED:
        error = nt_error_set(NT_EVERIFY, "%s is missing (it was there at the previous checkpoint)",
                             d->old_file.path);
        break;
    default:
        error = nt_error_set(NT_EVERIFY,
                             "%s differs from the copy verified at the previous "
                             "checkpoint",
                             d->new_file.path);
        break;
    }
done:
    git_diff_free(diff);
    git_tree_entry_free(entry);
    nt_free(updates);
    git_tree_free(expected);
    git_tree_free(actual);
    git_tree_free(base);
    if (g->mempack != NULL) {
        git_mempack_reset(g->mempack);
    }
    return error;
}
