/*
 * mirror.c - the git mirror of the ledger (nt_mirror library), and the git
 * operations the auditor needs: the only file that includes <git2.h>, so that
 * libgit2's error codes and object model stop here (translated to NT_E*).
 * The layout it writes is pinned in docs/MIRROR.md; the public contract is
 * ledger/mirror.h, the shared tile geometry ledger/mirror_int.h.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include "ledger/mirror.h"
#include "ledger/mirror_int.h"

#include <errno.h>
#include <ftw.h>
#include <git2.h>
#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIRROR_BRANCH "refs/heads/main"
#define MIRROR_SIG_NAME "Notarium mirror"
#define MIRROR_SIG_EMAIL "mirror@notarium.invalid"

/* ------------------------------------------------------------------ geometry */

static int tile_index_put(nt_buf *out, uint64_t index)
{
    /* tlog-tiles: "zero-padded 3-digit path elements. All but the last path
     * element MUST begin with an x." (1234067 -> x001/x234/067) */
    unsigned groups[8];
    int n = 0;
    do {
        groups[n++] = (unsigned)(index % 1000);
        index /= 1000;
    } while (index > 0);
    int error = 0;
    for (int i = n - 1; i >= 0; i--) {
        NT_TRY(nt_buf_printf(out, i > 0 ? "x%03u/" : "%03u", groups[i]));
    }
done:
    return error;
}

int ledger__tile_path(nt_buf *out, int level, uint64_t index, unsigned width)
{
    int error = 0;
    NT_ENSURE(level < MIRROR_MAX_LEVELS && width <= MIRROR_PARTIAL_DIR, NT_EINVAL,
              "tile path: level %d width %u out of range", level, width);
    if (level < 0) {
        NT_TRY(nt_buf_puts(out, "tile/entries/"));
    } else {
        NT_TRY(nt_buf_printf(out, "tile/%d/", level));
    }
    NT_TRY(tile_index_put(out, index));
    if (width == MIRROR_PARTIAL_DIR) {
        NT_TRY(nt_buf_puts(out, ".p"));
    } else if (width > 0) {
        NT_TRY(nt_buf_printf(out, ".p/%u", width));
    }
done:
    return error;
}

void ledger__tile_count(uint64_t *full_out, unsigned *partial_width_out, uint64_t size,
                        unsigned level)
{
    uint64_t units = size;
    for (unsigned i = 0; i < level && units > 0; i++) {
        units /= MIRROR_TILE_WIDTH;
    }
    *full_out = units / MIRROR_TILE_WIDTH;
    *partial_width_out = (unsigned)(units % MIRROR_TILE_WIDTH);
}

int ledger__tile_changes(uint64_t from, uint64_t to, ledger__tile_fn fn, void *ctx)
{
    int error = 0;
    NT_ENSURE(from <= to, NT_EINVAL, "tile changes: %" PRIu64 " > %" PRIu64, from, to);
    for (int level = -1; level < MIRROR_MAX_LEVELS; level++) {
        unsigned tl = level < 0 ? 0 : (unsigned)level;
        uint64_t full_from, full_to;
        unsigned w_from, w_to;
        ledger__tile_count(&full_from, &w_from, from, tl);
        ledger__tile_count(&full_to, &w_to, to, tl);
        if (full_to == 0 && w_to == 0) {
            break; /* no tile at this level, nor above */
        }
        if (full_from == full_to && w_from == w_to) {
            continue;
        }
        if (w_from > 0) {
            if (full_to == full_from && w_to > 0) {
                NT_TRY(fn(ctx, 0, level, full_from, w_from));
            } else {
                NT_TRY(fn(ctx, 0, level, full_from, MIRROR_PARTIAL_DIR));
            }
        }
        for (uint64_t n = full_from; n < full_to; n++) {
            NT_TRY(fn(ctx, 1, level, n, 0));
        }
        if (w_to > 0) {
            NT_TRY(fn(ctx, 1, level, full_to, w_to));
        }
    }
done:
    return error;
}

size_t ledger__note_body_len(const char *note, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (note[i] == '\n' && note[i + 1] == '\n') {
            return i + 1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ libgit2 glue */

static int git_fail(int gerr, const char *fmt, ...) NT_PRINTF(2, 3);

/* libgit2's codes end here: GIT_ENOTFOUND -> NT_ENOTFOUND, the rest -> NT_EIO. */
static int git_fail(int gerr, const char *fmt, ...)
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

#define GIT_TRY(expr, ...)                                                                      \
    do {                                                                                        \
        int git_rc_ = (expr);                                                                   \
        if (git_rc_ < 0) {                                                                      \
            error = git_fail(git_rc_, __VA_ARGS__);                                             \
            goto done;                                                                          \
        }                                                                                       \
    } while (0)

static pthread_once_t git_once = PTHREAD_ONCE_INIT;
static void git_init_once(void)
{
    /* Initialised once for the process and never shut down: the server, the
     * auditor and the tests may each use libgit2 from several places. */
    git_libgit2_init();
}
static void git_ready(void)
{
    pthread_once(&git_once, git_init_once);
}

void ledger__hex(char *out, const uint8_t *data, size_t len)
{
    nt_hex_fill(out, data, len);
}

void ledger__oid_hex(char out[2 * MIRROR_OID_SIZE + 1], const uint8_t id[MIRROR_OID_SIZE])
{
    ledger__hex(out, id, MIRROR_OID_SIZE);
}

/*
 * Open the bare repository at path, creating it (HEAD -> main) when absent.
 * libgit2 creates directories 0777 and refs 0666 minus the umask (its object
 * modes are fixed only for files, 0444), and its one way to choose
 * (core.sharedRepository) is for sharing, not for tightening; so the umask
 * gets 022 added here, never a bit removed: nothing of the mirror is group-
 * or world-writable, whatever umask the server was started with.
 */
static int repo_open_or_create(git_repository **out, const char *path)
{
    int error = 0;
    mode_t mask = umask(077); /* the probe tightens, never loosens, for an instant */
    umask(mask | 022);
    git_ready();
    if (git_repository_open_bare(out, path) == 0) {
        return 0;
    }
    NT_ENSURE(!nt_path_exists(path) || rmdir(path) == 0 || errno != ENOTEMPTY, NT_EINVAL,
              "mirror: %s exists and is not a git repository", path);
    git_repository_init_options opts;
    git_repository_init_options_init(&opts, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
    opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH |
                 GIT_REPOSITORY_INIT_NO_REINIT;
    opts.initial_head = "main";
    opts.description = "Notarium ledger mirror (C2SP tlog-tiles layout)";
    GIT_TRY(git_repository_init_ext(out, path, &opts), "mirror: cannot create %s", path);
done:
    return error;
}

/* Parse the checkpoint body of a signed note. */
static int note_checkpoint_parse(checkpoint *out, const char *note, size_t len)
{
    size_t body = ledger__note_body_len(note, len);
    if (body == 0) {
        return nt_error_set(NT_EINVAL, "checkpoint note has no blank line");
    }
    return checkpoint_parse(out, note, body);
}

typedef struct head_state {
    int present;
    git_oid commit;
    git_oid tree;
    checkpoint cp;
    nt_buf note;
} head_state;

static void head_state_dispose(head_state *h)
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

static int head_read(head_state *h, git_repository *repo)
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
    NT_TRY(note_checkpoint_parse(&h->cp, (const char *)h->note.ptr, h->note.len));
    h->present = 1;
done:
    git_tree_free(tree);
    git_commit_free(commit);
    return error;
}

static int ledger_hash_cb(uint8_t out[MERKLE_HASH_SIZE], void *ctx, unsigned level, uint64_t index)
{
    return ledger_hash_get(out, (ledger *)ctx, level, index);
}

/* ------------------------------------------------------------------ writing commits */

typedef struct update_ctx {
    git_repository *repo;
    ledger *l;
    git_tree_update *updates;
    size_t count;
    size_t cap;
    nt_buf paths;       /* NUL-separated; offsets in path_off */
    size_t *path_off;
    nt_buf data;        /* scratch for tile / bundle bytes */
    nt_buf leaf;
} update_ctx;

static int update_add(update_ctx *u, git_tree_update_t action, const git_oid *id, int level,
                      uint64_t index, unsigned width)
{
    int error = 0;
    if (u->count == u->cap) {
        size_t cap = u->cap == 0 ? 64 : u->cap * 2;
        git_tree_update *nu = nt_reallocarray(u->updates, cap, sizeof(*nu));
        NT_ENSURE(nu != NULL, NT_ENOMEM, "out of memory");
        u->updates = nu;
        size_t *no = nt_reallocarray(u->path_off, cap, sizeof(*no));
        NT_ENSURE(no != NULL, NT_ENOMEM, "out of memory");
        u->path_off = no;
        u->cap = cap;
    }
    u->path_off[u->count] = u->paths.len;
    if (level == INT32_MIN) {
        NT_TRY(nt_buf_puts(&u->paths, "checkpoint"));
    } else {
        NT_TRY(ledger__tile_path(&u->paths, level, index, width));
    }
    NT_TRY(nt_buf_putc(&u->paths, 0));
    git_tree_update *up = &u->updates[u->count++];
    memset(up, 0, sizeof(*up));
    up->action = action;
    if (id != NULL) {
        git_oid_cpy(&up->id, id);
    }
    up->filemode = GIT_FILEMODE_BLOB;
done:
    return error;
}

static int tile_build(update_ctx *u, int level, uint64_t index, unsigned width)
{
    int error = 0;
    unsigned count = width == 0 ? MIRROR_TILE_WIDTH : width;
    nt_buf_clear(&u->data);
    if (level < 0) {
        for (unsigned i = 0; i < count; i++) {
            uint64_t leaf_index = index * MIRROR_TILE_WIDTH + i;
            NT_TRY(ledger_leaf_get(&u->leaf, NULL, u->l, leaf_index));
            /* tlog-tiles: "Entry bundles are sequences of big-endian uint16
             * length-prefixed log entries."  record_decode (which the ledger runs on
             * every append) already refuses leaves over RECORD_MAX_LEAF, so this only
             * guards against a ledger written by an older version. */
            NT_ENSURE(u->leaf.len <= MIRROR_MAX_LEAF, NT_ERANGE,
                      "mirror: leaf %" PRIu64 " is %zu bytes; an entry bundle holds at most %u",
                      leaf_index, u->leaf.len, MIRROR_MAX_LEAF);
            NT_TRY(nt_buf_put_u16be(&u->data, (uint16_t)u->leaf.len));
            NT_TRY(nt_buf_put(&u->data, u->leaf.ptr, u->leaf.len));
        }
    } else {
        NT_TRY(nt_buf_grow(&u->data, (size_t)count * MERKLE_HASH_SIZE));
        for (unsigned i = 0; i < count; i++) {
            uint8_t h[MERKLE_HASH_SIZE];
            NT_TRY(ledger_hash_get(h, u->l, (unsigned)level * MIRROR_TILE_HEIGHT,
                                   index * MIRROR_TILE_WIDTH + i));
            NT_TRY(nt_buf_put(&u->data, h, sizeof(h)));
        }
    }
done:
    return error;
}

static int update_tile_cb(void *ctx, int upsert, int level, uint64_t index, unsigned width)
{
    update_ctx *u = ctx;
    int error = 0;
    if (!upsert) {
        return update_add(u, GIT_TREE_UPDATE_REMOVE, NULL, level, index, width);
    }
    NT_TRY(tile_build(u, level, index, width));
    git_oid id;
    GIT_TRY(git_blob_create_from_buffer(&id, u->repo, u->data.ptr, u->data.len),
            "mirror: writing a tile");
    NT_TRY(update_add(u, GIT_TREE_UPDATE_UPSERT, &id, level, index, width));
done:
    return error;
}

static void update_dispose(update_ctx *u)
{
    nt_free(u->updates);
    nt_free(u->path_off);
    nt_buf_dispose(&u->paths);
    nt_buf_dispose(&u->data);
    nt_buf_dispose(&u->leaf);
}

static int empty_tree(git_tree **out, git_repository *repo)
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

/* The commit message: a title and trailers the auditor checks (docs/MIRROR.md). */
static int message_build(nt_buf *out, const checkpoint *cp, const head_state *prev)
{
    int error = 0;
    NT_TRY(nt_buf_printf(out, "%s %" PRIu64 "\n\nTree-Size: %" PRIu64 "\nRoot: ", cp->origin,
                         cp->size, cp->size));
    NT_TRY(nt_base64_encode(out, cp->root, sizeof(cp->root)));
    NT_TRY(nt_buf_putc(out, '\n'));
    if (prev->present) {
        uint8_t digest[32];
        NT_OSSL(EVP_Digest(prev->note.ptr, prev->note.len, digest, NULL, EVP_sha256(), NULL),
                "sha256");
        NT_TRY(nt_buf_printf(out, "Previous-Tree-Size: %" PRIu64 "\nPrevious-Checkpoint: ",
                             prev->cp.size));
        NT_TRY(nt_hex_encode(out, digest, sizeof(digest)));
        NT_TRY(nt_buf_putc(out, '\n'));
    }
done:
    return error;
}

/*
 * One mirror step on an open repository: commit the ledger's latest checkpoint
 * if newer.  `last` (NULL for a one-shot update) is the commit this mirror
 * wrote or found last, all zero before the first step: a branch that moved
 * since (reset to an older commit, say) is refused, so that the next commit
 * never silently drops the history after it.  *last is updated.
 */
static int repo_update(uint64_t *size_out, git_repository *repo, ledger *l, git_oid *last)
{
    int error = 0;
    head_state head = {0};
    nt_buf note = NT_BUF_INIT, msg = NT_BUF_INIT;
    update_ctx u = {0};
    git_tree *base = NULL, *tree = NULL;
    git_commit *parent = NULL;
    git_signature *sig = NULL;
    checkpoint cp;
    uint8_t root[MERKLE_HASH_SIZE];

    NT_TRY(head_read(&head, repo));
    if (last != NULL && !git_oid_is_zero(last) &&
        (!head.present || !git_oid_equal(&head.commit, last))) {
        char want[GIT_OID_HEXSZ + 1], have[GIT_OID_HEXSZ + 1] = "(none)";
        git_oid_tostr(want, sizeof(want), last);
        if (head.present) {
            git_oid_tostr(have, sizeof(have), &head.commit);
        }
        error = nt_error_set(NT_ECORRUPT,
                             "mirror: %s is at %s, not at %s (written last): moved by someone "
                             "else; no commit until it is back",
                             MIRROR_BRANCH, have, want);
        goto done;
    }
    if (head.present) {
        /* Never rewrite history: HEAD must be a prefix of this ledger. */
        ledger_info info;
        NT_TRY(ledger_info_get(&info, l));
        NT_ENSURE(head.cp.size <= info.size, NT_ECORRUPT,
                  "mirror: HEAD checkpoint has %" PRIu64 " entries, the ledger only %" PRIu64,
                  head.cp.size, info.size);
        NT_ENSURE(strcmp(head.cp.origin, ledger_origin(l)) == 0, NT_ECORRUPT,
                  "mirror: HEAD checkpoint is for log \"%s\", the ledger is \"%s\"",
                  head.cp.origin, ledger_origin(l));
        if (head.cp.size == 0) {
            merkle_empty_root(root);
        } else {
            NT_TRY(merkle_range_root(root, ledger_hash_cb, l, 0, head.cp.size));
        }
        NT_ENSURE(memcmp(root, head.cp.root, sizeof(root)) == 0, NT_ECORRUPT,
                  "mirror: HEAD checkpoint (size %" PRIu64 ") is not a prefix of the ledger",
                  head.cp.size);
    }

    NT_TRY(ledger_checkpoint_latest(&note, l));
    NT_TRY(note_checkpoint_parse(&cp, (const char *)note.ptr, note.len));
    if (head.present && cp.size <= head.cp.size) {
        if (size_out != NULL) {
            *size_out = head.cp.size;
        }
        if (last != NULL) {
            git_oid_cpy(last, &head.commit);
        }
        goto done;
    }
    if (cp.size == 0) {
        merkle_empty_root(root);
    } else {
        NT_TRY(merkle_range_root(root, ledger_hash_cb, l, 0, cp.size));
    }
    NT_ENSURE(memcmp(root, cp.root, sizeof(root)) == 0, NT_ECORRUPT,
              "mirror: the ledger's checkpoint root for size %" PRIu64
              " does not match its stored hashes", cp.size);

    u.repo = repo;
    u.l = l;
    NT_TRY(ledger__tile_changes(head.present ? head.cp.size : 0, cp.size, update_tile_cb, &u));
    git_oid cp_id;
    GIT_TRY(git_blob_create_from_buffer(&cp_id, repo, note.ptr, note.len), "mirror: checkpoint");
    NT_TRY(update_add(&u, GIT_TREE_UPDATE_UPSERT, &cp_id, INT32_MIN, 0, 0));
    for (size_t i = 0; i < u.count; i++) {
        u.updates[i].path = (const char *)u.paths.ptr + u.path_off[i];
    }

    if (head.present) {
        GIT_TRY(git_tree_lookup(&base, repo, &head.tree), "mirror: HEAD tree");
        GIT_TRY(git_commit_lookup(&parent, repo, &head.commit), "mirror: HEAD commit");
    } else {
        NT_TRY(empty_tree(&base, repo));
    }
    git_oid tree_id, commit_id;
    GIT_TRY(git_tree_create_updated(&tree_id, repo, base, u.count, u.updates),
            "mirror: building the tree for size %" PRIu64, cp.size);
    GIT_TRY(git_tree_lookup(&tree, repo, &tree_id), "mirror: new tree");
    NT_TRY(message_build(&msg, &cp, &head));
    GIT_TRY(git_signature_now(&sig, MIRROR_SIG_NAME, MIRROR_SIG_EMAIL), "mirror: signature");
    const git_commit *parents[1] = {parent};
    GIT_TRY(git_commit_create(&commit_id, repo, MIRROR_BRANCH, sig, sig, NULL,
                              (const char *)msg.ptr, tree, parent != NULL ? 1 : 0, parents),
            "mirror: committing size %" PRIu64, cp.size);
    if (size_out != NULL) {
        *size_out = cp.size;
    }
    if (last != NULL) {
        git_oid_cpy(last, &commit_id);
    }
done:
    git_signature_free(sig);
    git_commit_free(parent);
    git_tree_free(tree);
    git_tree_free(base);
    update_dispose(&u);
    nt_buf_dispose(&msg);
    nt_buf_dispose(&note);
    head_state_dispose(&head);
    return error;
}

int mirror_update(uint64_t *size_out, const char *path, ledger *l)
{
    int error = 0;
    git_repository *repo = NULL;
    NT_ENSURE(path != NULL && l != NULL, NT_EINVAL, "mirror_update: path and ledger required");
    NT_TRY(repo_open_or_create(&repo, path));
    NT_TRY(repo_update(size_out, repo, l, NULL));
done:
    git_repository_free(repo);
    return error;
}

int mirror_head_get(uint64_t *size_out, uint8_t root_out[32], const char *path)
{
    int error = 0;
    git_repository *repo = NULL;
    head_state head = {0};
    git_ready();
    int rc = git_repository_open_bare(&repo, path);
    NT_ENSURE(rc == 0, NT_ENOTFOUND, "mirror: no repository at %s", path);
    NT_TRY(head_read(&head, repo));
    *size_out = head.cp.size;
    if (root_out != NULL) {
        memcpy(root_out, head.cp.root, 32);
    }
done:
    head_state_dispose(&head);
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
    git_ready();
    GIT_TRY(git_repository_open_bare(&repo, path), "mirror: opening %s", path);
    NT_TRY(repo_push(repo, url));
done:
    git_repository_free(repo);
    return error;
}

/* ------------------------------------------------------------------ the thread */

struct mirror {
    ledger *l;
    git_repository *repo;
    unsigned interval_ms, stop_timeout_ms;
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cond;       /* wakes the thread */
    pthread_cond_t done_cond;  /* wakes mirror_sync callers */
    int stopping;
    uint64_t sync_req, sync_done;
    int sync_error;
    git_oid last_commit;       /* the commit written (or found at start) last; mirror thread only */
    /* status, under mu */
    uint64_t ledger_size, mirrored_size, commits;
    char last_error[256];
    ledger__growth growth;     /* when the ledger grew, for the lag */
    /* one push worker per remote (mirror_push.c); the array is fixed after start */
    ledger__pusher **pushers;
    uint64_t *push_ticket;     /* under mu: each remote's ticket of the last forced cycle */
    size_t remote_count;
};

/* Forget the growth every copy has caught up with.  Under mu. */
static void growth_trim(mirror *m)
{
    uint64_t low = m->mirrored_size, next_try;
    for (size_t i = 0; i < m->remote_count; i++) {
        mirror_remote_status rs;
        ledger__pusher_status(&rs, &next_try, m->pushers[i]);
        low = rs.pushed_size < low ? rs.pushed_size : low;
    }
    ledger__growth_trim(&m->growth, low);
}

/* The ledger's size as it is now, noted with the time it was first seen. */
static int mirror_observe(mirror *m)
{
    ledger_info info;
    int error = ledger_info_get(&info, m->l);
    if (error == 0) {
        pthread_mutex_lock(&m->mu);
        if (info.size > m->ledger_size) {
            m->ledger_size = info.size;
        }
        ledger__growth_note(&m->growth, info.size, nt_mono_ns());
        pthread_mutex_unlock(&m->mu);
    }
    return error;
}

/*
 * One cycle of the mirror thread: the local commit, then the new size handed
 * to every remote's push worker (which pushes on its own thread: a remote
 * that never answers delays nothing here).  `force` also asks every remote
 * that is behind for an attempt now, back-off ignored, and records the
 * tickets mirror_sync waits for.
 */
static int mirror_cycle(mirror *m, int force)
{
    uint64_t mirrored = 0;
    int error = mirror_observe(m);
    if (error == 0) {
        error = repo_update(&mirrored, m->repo, m->l, &m->last_commit);
    }
    pthread_mutex_lock(&m->mu);
    if (error < 0) {
        if (strcmp(m->last_error, nt_error_last()) != 0) {
            nt_log_error("mirror: %s", nt_error_last());
        }
        snprintf(m->last_error, sizeof(m->last_error), "%s", nt_error_last());
    } else {
        m->last_error[0] = '\0';
        if (mirrored > m->mirrored_size) {
            m->commits++;
        }
        m->mirrored_size = mirrored;
    }
    mirrored = m->mirrored_size;
    for (size_t i = 0; i < m->remote_count; i++) {
        uint64_t ticket = ledger__pusher_request(m->pushers[i], mirrored, force);
        if (force) {
            m->push_ticket[i] = ticket;
        }
    }
    growth_trim(m);
    pthread_mutex_unlock(&m->mu);
    return error;
}

static void *mirror_main(void *arg)
{
    mirror *m = arg;
    pthread_mutex_lock(&m->mu);
    while (!m->stopping) {
        if (m->sync_req == m->sync_done) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            uint64_t ns = (uint64_t)until.tv_nsec + (uint64_t)m->interval_ms * 1000000u;
            until.tv_sec += (time_t)(ns / 1000000000u);
            until.tv_nsec = (long)(ns % 1000000000u);
            pthread_cond_timedwait(&m->cond, &m->mu, &until);
            if (m->stopping) {
                break;
            }
        }
        uint64_t gen = m->sync_req;
        int force = gen != m->sync_done;
        pthread_mutex_unlock(&m->mu);
        int error = mirror_cycle(m, force);
        pthread_mutex_lock(&m->mu);
        if (gen != m->sync_done) {
            m->sync_done = gen;
            m->sync_error = error;
            pthread_cond_broadcast(&m->done_cond);
        }
    }
    pthread_mutex_unlock(&m->mu);
    mirror_cycle(m, 1);
    return NULL;
}

static void mirror_free(mirror *m)
{
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; m->pushers != NULL && i < m->remote_count; i++) {
        ledger__pusher_free(m->pushers[i]);
    }
    git_repository_free(m->repo);
    nt_free(m->pushers);
    nt_free(m->push_ticket);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cond);
    pthread_cond_destroy(&m->done_cond);
    nt_free(m);
}

int mirror_start(mirror **out, ledger *l, const mirror_options *opts)
{
    int error = 0;
    mirror *m = NULL;
    *out = NULL;
    NT_ENSURE(l != NULL && opts != NULL && opts->path != NULL, NT_EINVAL,
              "mirror_start: ledger and path required");
    NT_ENSURE(opts->remote_count == 0 || opts->remotes != NULL, NT_EINVAL,
              "mirror_start: remotes missing");
    m = nt_calloc(1, sizeof(*m));
    NT_ENSURE(m != NULL, NT_ENOMEM, "out of memory");
    pthread_mutex_init(&m->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&m->done_cond, NULL);
    m->l = l;
    m->interval_ms = opts->interval_ms != 0 ? opts->interval_ms : 1000;
    m->stop_timeout_ms = opts->stop_timeout_ms != 0 ? opts->stop_timeout_ms : 5000;
    ledger__pusher_options po = {
        .repo_path = opts->path,
        .timeout_ms = opts->push_timeout_ms != 0 ? opts->push_timeout_ms : 30000,
        .retry_min_ms = opts->retry_min_ms != 0 ? opts->retry_min_ms : 1000,
        .retry_max_ms = opts->retry_max_ms != 0 ? opts->retry_max_ms : 60000,
    };
    if (po.retry_max_ms < po.retry_min_ms) {
        po.retry_max_ms = po.retry_min_ms;
    }
    for (size_t i = 0; i < opts->remote_count; i++) {
        NT_ENSURE(opts->remotes[i] != NULL &&
                      strlen(opts->remotes[i]) < sizeof(((mirror_remote_status *)0)->url),
                  NT_EINVAL, "mirror: remote %zu missing or too long", i);
    }
    NT_TRY(repo_open_or_create(&m->repo, opts->path));
    /* The first commit runs here so that a wrong repository is refused at start-up. */
    NT_TRY(repo_update(&m->mirrored_size, m->repo, l, &m->last_commit));
    if (opts->remote_count > 0) {
        m->pushers = nt_calloc(opts->remote_count, sizeof(*m->pushers));
        m->push_ticket = nt_calloc(opts->remote_count, sizeof(*m->push_ticket));
        NT_ENSURE(m->pushers != NULL && m->push_ticket != NULL, NT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < opts->remote_count; i++) {
        po.url = opts->remotes[i];
        NT_TRY(ledger__pusher_start(&m->pushers[i], &po));
        m->remote_count = i + 1;
    }
    NT_ENSURE(pthread_create(&m->thread, NULL, mirror_main, m) == 0, NT_ERROR,
              "mirror: cannot start the thread");
    m->thread_started = 1;
    *out = m;
    m = NULL;
done:
    mirror_free(m);
    return error;
}

void mirror_stop(mirror *m)
{
    if (m == NULL) {
        return;
    }
    if (m->thread_started) {
        pthread_mutex_lock(&m->mu);
        m->stopping = 1;
        pthread_cond_broadcast(&m->cond);
        pthread_cond_broadcast(&m->done_cond);
        pthread_mutex_unlock(&m->mu);
        pthread_join(m->thread, NULL);
    }
    /* The last commit is made; every remote gets one bounded try, then is abandoned. */
    uint64_t deadline = nt_mono_ns() + (uint64_t)m->stop_timeout_ms * 1000000u;
    for (size_t i = 0; i < m->remote_count; i++) {
        ledger__pusher_stop(m->pushers[i], deadline);
    }
    mirror_free(m);
}

int mirror_sync(mirror *m)
{
    pthread_mutex_lock(&m->mu);
    uint64_t gen = ++m->sync_req;
    pthread_cond_broadcast(&m->cond);
    while (m->sync_done < gen && !m->stopping) {
        pthread_cond_wait(&m->done_cond, &m->mu);
    }
    int error = m->sync_done >= gen ? m->sync_error : NT_ESTATE;
    char msg[256];
    snprintf(msg, sizeof(msg), "%s", m->last_error);
    pthread_mutex_unlock(&m->mu);
    /* The pushers are fixed after start; each wait is bounded by that remote's time-out. */
    for (size_t i = 0; error != NT_ESTATE && i < m->remote_count; i++) {
        pthread_mutex_lock(&m->mu);
        uint64_t ticket = m->push_ticket[i];
        pthread_mutex_unlock(&m->mu);
        ledger__pusher_wait(m->pushers[i], ticket);
    }
    if (error < 0) {
        nt_error_set(error, "%s", msg[0] != '\0' ? msg : "mirror stopping");
    }
    return error;
}

int mirror_status_get(mirror_status *out, mirror *m)
{
    int error = 0;
    memset(out, 0, sizeof(*out));
    /* A reader notes growth too: lag counts from when the ledger grew, even while the
     * mirror thread is busy (a slow disk under the local commit). */
    (void)mirror_observe(m);
    pthread_mutex_lock(&m->mu);
    uint64_t now = nt_mono_ns();
    out->ledger_size = m->ledger_size;
    out->mirrored_size = m->mirrored_size;
    out->entries_behind = m->ledger_size > m->mirrored_size ? m->ledger_size - m->mirrored_size : 0;
    out->seconds_behind = ledger__growth_lag(&m->growth, m->mirrored_size, now);
    out->commits = m->commits;
    snprintf(out->last_error, sizeof(out->last_error), "%s", m->last_error);
    if (m->remote_count > 0) {
        out->remotes = nt_calloc(m->remote_count, sizeof(*out->remotes));
        if (out->remotes == NULL) {
            error = NT_ENOMEM;
            goto unlock;
        }
        out->remote_count = m->remote_count;
    }
    for (size_t i = 0; i < m->remote_count; i++) {
        mirror_remote_status *s = &out->remotes[i];
        uint64_t next_try;
        ledger__pusher_status(s, &next_try, m->pushers[i]);
        s->entries_behind =
            m->ledger_size > s->pushed_size ? m->ledger_size - s->pushed_size : 0;
        s->seconds_behind = ledger__growth_lag(&m->growth, s->pushed_size, now);
        s->retry_in_s = next_try > now ? (double)(next_try - now) / 1e9 : 0.0;
    }
unlock:
    pthread_mutex_unlock(&m->mu);
    return error;
}

void mirror_status_dispose(mirror_status *s)
{
    if (s != NULL) {
        nt_free(s->remotes);
        s->remotes = NULL;
        s->remote_count = 0;
    }
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
    git_ready();
    g = nt_calloc(1, sizeof(*g));
    NT_ENSURE(g != NULL, NT_ENOMEM, "out of memory");
    int local = strstr(source, "://") == NULL &&
                git_repository_open_ext(&g->repo, source, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) == 0;
    if (!local) {
        const char *dir = cache;
        if (dir == NULL) {
            const char *base = getenv("TMPDIR");
            snprintf(tmpl, sizeof(tmpl), "%s/notarium-audit-XXXXXX", base != NULL ? base : "/tmp");
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
        NT_TRY(empty_tree(&base, g->repo));
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
        error = nt_error_set(NT_EVERIFY, "%s differs from the copy verified at the previous "
                                         "checkpoint", d->new_file.path);
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
