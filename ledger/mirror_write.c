/*
 * mirror_write.c - the mirror writer (nt_mirror library): the tile geometry
 * and one git commit per mirrored checkpoint, reusing unchanged subtrees
 * (mirror_update, and each cycle of the mirror thread).  Includes <git2.h>
 * (with mirror_git.c, the only files that do).  The layout it writes is
 * pinned in docs/MIRROR.md.
 */
#include "ledger/mirror.h"
#include "ledger/mirror_git_int.h"
#include "ledger/mirror_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIRROR_SIG_NAME  "Notarium mirror"
#define MIRROR_SIG_EMAIL "mirror@notarium.invalid"

/* The length of a signed note's body: up to and including the newline before the
 * blank line; 0 if there is none. */
static size_t note_body_len(const char *note, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (note[i] == '\n' && note[i + 1] == '\n') {
            return i + 1;
        }
    }
    return 0;
}

int ledger__note_checkpoint_parse(checkpoint *out, const char *note, size_t len)
{
    size_t body = note_body_len(note, len);
    if (body == 0) {
        return nt_error_set(NT_EINVAL, "checkpoint note has no blank line");
    }
    return checkpoint_parse(out, note, body);
}

static int ledger_hash_cb(uint8_t out[MERKLE_HASH_SIZE], void *ctx, unsigned level, uint64_t index)
{
    return ledger_hash_get(out, (ledger *)ctx, level, index);
}

/* ------------------------------------------------------------------ writing commits */

typedef struct update_ctx {
    git_repository *repo;
    ledger *l;
    ledger__blobs *blobs;
    git_tree_update *updates;
    size_t count;
    size_t cap;
    nt_buf paths; /* NUL-separated; offsets in path_off */
    size_t *path_off;
    nt_buf data; /* scratch for tile / bundle bytes */
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
        NT_TRY(tiles_path(&u->paths, level, index, width));
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
    unsigned count = width == 0 ? TILES_WIDTH : width;
    nt_buf_clear(&u->data);
    if (level < 0) {
        for (unsigned i = 0; i < count; i++) {
            uint64_t leaf_index = index * TILES_WIDTH + i;
            NT_TRY(ledger_leaf_get(&u->leaf, NULL, u->l, leaf_index));
            /* tlog-tiles: "Entry bundles are sequences of big-endian uint16
             * length-prefixed log entries."  record_decode (which the ledger runs on
             * every append) already refuses leaves over RECORD_MAX_LEAF, so this only
             * guards against a ledger written by an older version. */
            NT_ENSURE(u->leaf.len <= MIRROR_MAX_LEAF, NT_ERANGE,
                      "mirror: leaf %" PRIu64 " is %zu bytes; an entry bundle holds at most %u",
                      leaf_index, u->leaf.len, MIRROR_MAX_LEAF);
            NT_TRY(tiles_bundle_put(&u->data, u->leaf.ptr, u->leaf.len));
        }
    } else {
        NT_TRY(nt_buf_grow(&u->data, (size_t)count * MERKLE_HASH_SIZE));
        for (unsigned i = 0; i < count; i++) {
            uint8_t h[MERKLE_HASH_SIZE];
            NT_TRY(
                ledger_hash_get(h, u->l, (unsigned)level * TILES_HEIGHT, index * TILES_WIDTH + i));
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
    NT_TRY(ledger__blob_write(&id, u->blobs, u->data.ptr, u->data.len));
    NT_TRY(update_add(u, GIT_TREE_UPDATE_UPSERT, &id, level, index, width));
done:
    return error;
}

static void update_dispose(update_ctx *u)
{
    ledger__blobs_free(u->blobs);
    nt_free(u->updates);
    nt_free(u->path_off);
    nt_buf_dispose(&u->paths);
    nt_buf_dispose(&u->data);
    nt_buf_dispose(&u->leaf);
}

/* The commit message: a title and trailers the auditor checks (docs/MIRROR.md). */
static int message_build(nt_buf *out, const checkpoint *cp, const ledger__head *prev)
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
        NT_TRY(nt_buf_printf(
            out, "Previous-Tree-Size: %" PRIu64 "\nPrevious-Checkpoint: ", prev->cp.size));
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
int ledger__repo_update(uint64_t *size_out, git_repository *repo, ledger *l,
                        uint8_t last[MIRROR_OID_SIZE])
{
    int error = 0;
    ledger__head head = {0};
    nt_buf note = NT_BUF_INIT, msg = NT_BUF_INIT;
    update_ctx u = {0};
    git_tree *base = NULL, *tree = NULL;
    git_commit *parent = NULL;
    git_signature *sig = NULL;
    checkpoint cp;
    uint8_t root[MERKLE_HASH_SIZE];

    git_oid last_id;
    NT_TRY(ledger__head_read(&head, repo));
    if (last != NULL) {
        git_oid_fromraw(&last_id, last);
    }
    if (last != NULL && !git_oid_is_zero(&last_id) &&
        (!head.present || !git_oid_equal(&head.commit, &last_id))) {
        char want[GIT_OID_HEXSZ + 1], have[GIT_OID_HEXSZ + 1] = "(none)";
        git_oid_tostr(want, sizeof(want), &last_id);
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
                  "mirror: HEAD checkpoint is for log \"%s\", the ledger is \"%s\"", head.cp.origin,
                  ledger_origin(l));
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
    NT_TRY(ledger__note_checkpoint_parse(&cp, (const char *)note.ptr, note.len));
    if (head.present && cp.size <= head.cp.size) {
        if (size_out != NULL) {
            *size_out = head.cp.size;
        }
        if (last != NULL) {
            memcpy(last, head.commit.id, MIRROR_OID_SIZE);
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
              " does not match its stored hashes",
              cp.size);

    u.repo = repo;
    u.l = l;
    NT_TRY(ledger__blobs_new(&u.blobs, repo));
    NT_TRY(tiles_changes(head.present ? head.cp.size : 0, cp.size, update_tile_cb, &u));
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
        NT_TRY(ledger__empty_tree(&base, repo));
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
        memcpy(last, commit_id.id, MIRROR_OID_SIZE);
    }
done:
    git_signature_free(sig);
    git_commit_free(parent);
    git_tree_free(tree);
    git_tree_free(base);
    update_dispose(&u);
    nt_buf_dispose(&msg);
    nt_buf_dispose(&note);
    ledger__head_dispose(&head);
    return error;
}

int mirror_update(uint64_t *size_out, const char *path, ledger *l)
{
    int error = 0;
    git_repository *repo = NULL;
    NT_ENSURE(path != NULL && l != NULL, NT_EINVAL, "mirror_update: path and ledger required");
    NT_TRY(ledger__repo_open(&repo, path));
    NT_TRY(ledger__repo_update(size_out, repo, l, NULL));
done:
    git_repository_free(repo);
    return error;
}
