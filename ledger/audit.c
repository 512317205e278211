/*
 * audit.c - `notarium audit`'s engine (nt_mirror library): replays a git
 * mirror of the ledger (ledger/mirror.h, docs/MIRROR.md) from its first
 * commit, rebuilding every leaf hash, tile and root, and checks them against
 * the signed checkpoints, the stored tiles, the commit chain and (optionally)
 * the TSA trust anchors; a state file makes the next run incremental and
 * catches forks and rollbacks.  Git access goes through mirror_int.h (only
 * mirror_git.c, mirror_write.c and mirror_blob.c include <git2.h>); no trust is placed in the
 * mirror's server.  Token signatures (--trust) are checked by the worker pool
 * of audit_tokens.c (audit_int.h), in parallel with the replay, and merged
 * back in entry order.
 */
#include "ledger/audit.h"
#include "ledger/audit_int.h"
#include "ledger/mirror.h"
#include "ledger/mirror_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STATE_MAGIC      "notarium-audit-state 1"
#define STATE_MAX        (64u * 1024u)
#define PROGRESS_WIDTH   24u
#define SAVE_INTERVAL_MS 5000u

typedef struct tile_level {
    uint8_t h[TILES_WIDTH][MERKLE_HASH_SIZE];
    unsigned count;
} tile_level;

typedef struct audit_state {
    int present;
    char vkey_name[NOTE_MAX_NAME + 1];
    uint32_t key_id;
    uint64_t size;
    uint8_t root[32];
    uint8_t commit[MIRROR_OID_SIZE];
    uint8_t tree[MIRROR_OID_SIZE];
    merkle_frontier frontier;
} audit_state;

typedef struct replay {
    const audit_options *opts;
    audit_result *res;
    ledger__git *g;
    note_verifier v;
    merkle_frontier f;
    tile_level lv[TILES_MAX_LEVELS];
    uint64_t size;          /* leaves replayed so far */
    audit_state state;      /* what the state file says was verified before */
    int state_root_seen;    /* the replay passed state.size and matched its root */
    const char *commit_hex; /* commit being checked, for messages */
    /* token checks (with --trust) */
    audit__trust *trust;
    audit__pool *pool;
    /* progress */
    uint64_t progress_total, progress_base, last_progress_ns, start_ns, replay_ns;
    nt_buf blob, tile, path;
} replay;

/* Prefix every failure with the commit it was found in, keeping the lower-level detail. */
static int fail(replay *r, const char *fmt, ...) NT_PRINTF(2, 3);
static int fail(replay *r, const char *fmt, ...)
{
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return nt_error_set(NT_EVERIFY, "commit %.12s: %s", r->commit_hex != NULL ? r->commit_hex : "-",
                        what);
}

static int noop_node(void *ctx, unsigned level, uint64_t index, const uint8_t h[MERKLE_HASH_SIZE])
{
    (void)ctx;
    (void)level;
    (void)index;
    (void)h;
    return 0;
}

/* ------------------------------------------------------------------ state file */

static int state_load(audit_state *s, const char *path, const note_verifier *v)
{
    int error = 0;
    nt_buf text = NT_BUF_INIT, tmp = NT_BUF_INIT;
    memset(s, 0, sizeof(*s));
    if (!nt_path_exists(path)) {
        return 0;
    }
    NT_TRY(nt_file_read(&text, path, STATE_MAX));
    char *save = NULL;
    int magic = 0, have_size = 0, have_root = 0, have_commit = 0, have_tree = 0;
    for (char *line = strtok_r((char *)text.ptr, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *val = strchr(line, ' ');
        if (strcmp(line, STATE_MAGIC) == 0) {
            magic = 1;
            continue;
        }
        NT_ENSURE(val != NULL, NT_EINVAL, "state file %s: malformed line \"%.40s\"", path, line);
        *val++ = '\0';
        nt_buf_clear(&tmp);
        if (strcmp(line, "log") == 0) {
            unsigned id;
            char name[NOTE_MAX_NAME + 1];
            NT_ENSURE(sscanf(val, "%255s %8x", name, &id) == 2, NT_EINVAL,
                      "state file %s: bad log line", path);
            snprintf(s->vkey_name, sizeof(s->vkey_name), "%s", name);
            s->key_id = id;
        } else if (strcmp(line, "size") == 0) {
            NT_TRY(nt_parse_u64(&s->size, val, strlen(val)));
            have_size = 1;
        } else if (strcmp(line, "root") == 0 || strcmp(line, "commit") == 0 ||
                   strcmp(line, "tree") == 0 || strcmp(line, "frontier") == 0) {
            NT_TRY(nt_hex_decode(&tmp, val, strlen(val)));
            if (strcmp(line, "root") == 0) {
                NT_ENSURE(tmp.len == 32, NT_EINVAL, "state file %s: bad root", path);
                memcpy(s->root, tmp.ptr, 32);
                have_root = 1;
            } else if (strcmp(line, "frontier") == 0) {
                NT_ENSURE(tmp.len == 32 && s->frontier.depth < MERKLE_MAX_LEVEL, NT_EINVAL,
                          "state file %s: bad frontier", path);
                memcpy(s->frontier.stack[s->frontier.depth++], tmp.ptr, 32);
            } else {
                NT_ENSURE(tmp.len == MIRROR_OID_SIZE, NT_EINVAL, "state file %s: bad %s", path,
                          line);
                memcpy(strcmp(line, "commit") == 0 ? s->commit : s->tree, tmp.ptr, MIRROR_OID_SIZE);
                *(strcmp(line, "commit") == 0 ? &have_commit : &have_tree) = 1;
            }
        }
        /* unknown keys are ignored, so later versions can add some */
    }
    NT_ENSURE(magic && have_size && have_root && have_commit && have_tree, NT_EINVAL,
              "state file %s: not a notarium audit state (missing fields)", path);
    NT_ENSURE(strcmp(s->vkey_name, v->name) == 0 && s->key_id == v->key_id, NT_EINVAL,
              "state file %s is for log %s+%08x, not %s+%08x", path, s->vkey_name, s->key_id,
              v->name, v->key_id);
    s->frontier.size = s->size;
    uint8_t root[32];
    merkle_frontier_root(root, &s->frontier);
    NT_ENSURE((unsigned)__builtin_popcountll(s->size) == s->frontier.depth &&
                  memcmp(root, s->root, 32) == 0,
              NT_EINVAL, "state file %s is damaged: its frontier does not give its root", path);
    s->present = 1;
done:
    nt_buf_dispose(&tmp);
    nt_buf_dispose(&text);
    return error;
}

static int state_save(const char *path, const note_verifier *v, const merkle_frontier *f,
                      const uint8_t commit[MIRROR_OID_SIZE], const uint8_t tree[MIRROR_OID_SIZE])
{
    int error = 0;
    nt_buf out = NT_BUF_INIT;
    uint8_t root[32];
    merkle_frontier_root(root, f);
    NT_TRY(nt_buf_printf(&out, "%s\nlog %s %08x\nsize %" PRIu64 "\nroot ", STATE_MAGIC, v->name,
                         v->key_id, f->size));
    NT_TRY(nt_hex_encode(&out, root, 32));
    NT_TRY(nt_buf_puts(&out, "\ncommit "));
    NT_TRY(nt_hex_encode(&out, commit, MIRROR_OID_SIZE));
    NT_TRY(nt_buf_puts(&out, "\ntree "));
    NT_TRY(nt_hex_encode(&out, tree, MIRROR_OID_SIZE));
    NT_TRY(nt_buf_putc(&out, '\n'));
    for (unsigned i = 0; i < f->depth; i++) {
        NT_TRY(nt_buf_puts(&out, "frontier "));
        NT_TRY(nt_hex_encode(&out, f->stack[i], 32));
        NT_TRY(nt_buf_putc(&out, '\n'));
    }
    NT_TRY(nt_file_write_atomic(path, out.ptr, out.len, 0600));
done:
    nt_buf_dispose(&out);
    return error;
}

/* ------------------------------------------------------------------ replay */

/*
 * The progress bar (stderr, for a TTY): rewritten in place at most 5 times a
 * second, fixed width so a shorter update leaves nothing behind, e.g.
 *   audit: [##########..............]  42.0%    420000/1000000 leaves   21034 leaves/s  ETA 27s
 */
static void progress(replay *r, int last)
{
    if (!r->opts->progress) {
        return;
    }
    uint64_t now = nt_mono_ns();
    if (!last && now - r->last_progress_ns < 200000000u) {
        return;
    }
    r->last_progress_ns = now;
    uint64_t done = r->size - r->progress_base;
    double secs = (double)(now - r->replay_ns) / 1e9;
    double frac = r->progress_total > 0 ? (double)done / (double)r->progress_total : 1.0;
    frac = frac > 1.0 ? 1.0 : frac;
    double rate = secs > 0 ? (double)done / secs : 0.0;
    char bar[PROGRESS_WIDTH + 1], eta[32];
    unsigned fill = (unsigned)(frac * PROGRESS_WIDTH + 0.5);
    for (unsigned i = 0; i < PROGRESS_WIDTH; i++) {
        bar[i] = i < fill ? '#' : '.';
    }
    bar[PROGRESS_WIDTH] = '\0';
    if (last) {
        snprintf(eta, sizeof(eta), "%6.1fs", secs);
    } else if (rate > 0 && done < r->progress_total) {
        snprintf(eta, sizeof(eta), "ETA %.0fs", (double)(r->progress_total - done) / rate);
    } else {
        snprintf(eta, sizeof(eta), "ETA ?");
    }
    fprintf(stderr, "\raudit: [%s] %5.1f%% %9" PRIu64 "/%" PRIu64 " leaves %7.0f leaves/s  %-10s%s",
            bar, 100.0 * frac, done, r->progress_total, rate, eta, last ? "\n" : "");
    fflush(stderr);
}

static int tile_read(replay *r, const uint8_t tree[MIRROR_OID_SIZE], int level, uint64_t index,
                     unsigned width)
{
    int error = 0;
    nt_buf_clear(&r->path);
    NT_TRY(tiles_path(&r->path, level, index, width));
    int rc = ledger__git_blob_read(level < 0 ? &r->blob : &r->tile, r->g, tree,
                                   (const char *)r->path.ptr);
    if (rc == NT_ENOTFOUND) {
        error = fail(r, "%s is missing", (const char *)r->path.ptr);
        goto done;
    }
    NT_TRY(rc);
    if (level >= 0) {
        size_t want = (size_t)(width == 0 ? TILES_WIDTH : width) * MERKLE_HASH_SIZE;
        NT_ENSURE(r->tile.len == want, NT_EVERIFY, "commit %.12s: %s is %zu bytes, expected %zu",
                  r->commit_hex, (const char *)r->path.ptr, r->tile.len, want);
    }
done:
    return error;
}

/* A tile at level >= 1 is complete or is the partial one: compare it with the rebuilt one. */
static int tile_compare(replay *r, const uint8_t tree[MIRROR_OID_SIZE], unsigned level,
                        uint64_t index, unsigned width)
{
    int error = 0;
    NT_TRY(tile_read(r, tree, (int)level, index, width));
    unsigned n = width == 0 ? TILES_WIDTH : width;
    for (unsigned i = 0; i < n; i++) {
        if (memcmp(r->tile.ptr + (size_t)i * 32, r->lv[level].h[i], 32) != 0) {
            char found[65], want[65];
            nt_hex_fill(found, r->tile.ptr + (size_t)i * 32, MERKLE_HASH_SIZE);
            nt_hex_fill(want, r->lv[level].h[i], MERKLE_HASH_SIZE);
            error = fail(r, "%s: hash %u is %s, rebuilt from the entries %s",
                         (const char *)r->path.ptr, i, found, want);
            goto done;
        }
    }
    r->res->tiles++;
done:
    return error;
}

/* Push a complete-tile hash up the levels, checking each level >= 1 tile that fills. */
static int carry(replay *r, const uint8_t tree[MIRROR_OID_SIZE])
{
    int error = 0;
    for (unsigned level = 0; level + 1 < TILES_MAX_LEVELS; level++) {
        if (r->lv[level].count < TILES_WIDTH) {
            break;
        }
        if (level > 0) {
            uint64_t full;
            unsigned w;
            tiles_count(&full, &w, r->size, level);
            NT_TRY(tile_compare(r, tree, level, full - 1, 0));
        }
        uint8_t h[32];
        NT_TRY(merkle_root_naive(h, &r->lv[level].h[0][0], TILES_WIDTH));
        r->lv[level].count = 0;
        memcpy(r->lv[level + 1].h[r->lv[level + 1].count++], h, 32);
    }
done:
    return error;
}

static int leaf_add(replay *r, const uint8_t *leaf, size_t len, const uint8_t hash[32])
{
    int error = 0;
    record rec;
    uint64_t index = r->size;
    if (record_decode(&rec, leaf, len) < 0) {
        error =
            fail(r, "entry %" PRIu64 " is not a canonical leaf record: %s", index, nt_error_last());
        goto done;
    }
    if (r->pool != NULL && rec.kind == RECORD_KIND_CERTIFICATE) {
        /* a signing certificate (docs/FORMATS.md, kind 0x04): the tokens after it may
         * carry no certificate; the workers are idle while the chain helpers grow */
        NT_TRY(audit__pool_drain(r->pool));
        NT_TRY(audit__trust_add_token_certs(r->trust, rec.token));
    }
    if (r->pool != NULL) {
        NT_TRY(audit__pool_submit(r->pool, r->commit_hex, index, &rec));
    }
    NT_TRY(merkle_frontier_append(&r->f, hash, noop_node, NULL));
    memcpy(r->lv[0].h[r->lv[0].count++], hash, 32);
    r->size++;
    r->res->leaves++;
    if (r->state.present && r->size == r->state.size) {
        uint8_t root[32];
        merkle_frontier_root(root, &r->f);
        if (memcmp(root, r->state.root, 32) != 0) {
            char was[65], now[65];
            nt_hex_fill(was, r->state.root, MERKLE_HASH_SIZE);
            nt_hex_fill(now, root, MERKLE_HASH_SIZE);
            error = fail(r,
                         "fork: the tree of size %" PRIu64 " verified before had root %s, "
                         "this mirror's entries give %s",
                         r->state.size, was, now);
            goto done;
        }
        r->state_root_seen = 1;
    }
done:
    return error;
}

/* Leaves [from, to) from the entry bundles of `tree`, each against the level-0 tile. */
static int leaves_replay(replay *r, const uint8_t tree[MIRROR_OID_SIZE], uint64_t from, uint64_t to)
{
    int error = 0;
    char bundle_path[256], tile_path[256];
    for (uint64_t b = from / TILES_WIDTH; b * TILES_WIDTH < to; b++) {
        uint64_t start = b * TILES_WIDTH;
        unsigned n = to - start >= TILES_WIDTH ? TILES_WIDTH : (unsigned)(to - start);
        unsigned width = n == TILES_WIDTH ? 0 : n;
        unsigned known = from > start ? (unsigned)(from - start) : 0;
        NT_TRY(tile_read(r, tree, -1, b, width));
        snprintf(bundle_path, sizeof(bundle_path), "%s", (const char *)r->path.ptr);
        NT_TRY(tile_read(r, tree, 0, b, width));
        snprintf(tile_path, sizeof(tile_path), "%s", (const char *)r->path.ptr);
        size_t pos = 0;
        for (unsigned j = 0; j < n; j++) {
            uint64_t index = start + j;
            nt_bytes leaf;
            if (tiles_bundle_next(&leaf, r->blob.ptr, r->blob.len, &pos) < 0) {
                error = fail(r, "%s: entry %u (leaf %" PRIu64 ") runs past the end of the bundle",
                             bundle_path, j, index);
                goto done;
            }
            uint8_t h[32];
            merkle_leaf_hash(h, leaf.ptr, leaf.len);
            const uint8_t *stored = r->tile.ptr + (size_t)j * 32;
            char a[65], b2[65];
            if (j < known) {
                /* seen at an earlier checkpoint: must not have changed */
                if (memcmp(h, r->lv[0].h[j], 32) != 0) {
                    nt_hex_fill(a, h, MERKLE_HASH_SIZE);
                    nt_hex_fill(b2, r->lv[0].h[j], MERKLE_HASH_SIZE);
                    error = fail(r,
                                 "%s: entry %u (leaf %" PRIu64 ") changed since the previous "
                                 "checkpoint: hash %s, was %s",
                                 bundle_path, j, index, a, b2);
                    goto done;
                }
                if (memcmp(stored, r->lv[0].h[j], 32) != 0) {
                    nt_hex_fill(a, stored, MERKLE_HASH_SIZE);
                    nt_hex_fill(b2, r->lv[0].h[j], MERKLE_HASH_SIZE);
                    error = fail(r, "%s: hash %u (leaf %" PRIu64 ") is %s, was %s", tile_path, j,
                                 index, a, b2);
                    goto done;
                }
                continue;
            }
            if (memcmp(stored, h, 32) != 0) {
                nt_hex_fill(a, h, MERKLE_HASH_SIZE);
                nt_hex_fill(b2, stored, MERKLE_HASH_SIZE);
                error = fail(r,
                             "entry %" PRIu64 ": %s entry %u hashes to %s, but %s has %s at "
                             "position %u",
                             index, bundle_path, j, a, tile_path, b2, j);
                goto done;
            }
            NT_TRY(leaf_add(r, leaf.ptr, leaf.len, h));
        }
        if (pos != r->blob.len) {
            error =
                fail(r, "%s: %zu bytes after its %u entries", bundle_path, r->blob.len - pos, n);
            goto done;
        }
        r->res->tiles += 2;
        NT_TRY(carry(r, tree));
        progress(r, 0);
    }
done:
    return error;
}

typedef struct path_lists {
    nt_buf *keep, *drop;
} path_lists;

static int path_collect(void *ctx, int upsert, int level, uint64_t index, unsigned width)
{
    path_lists *ls = ctx;
    nt_buf *b = upsert ? ls->keep : ls->drop;
    int error = tiles_path(b, level, index, width);
    return error < 0 ? error : nt_buf_putc(b, 0);
}

/* The value of trailer `key` in a commit message (borrowed up to the line end), or NULL. */
static const char *trailer(const char *msg, const char *key, size_t *len)
{
    size_t klen = strlen(key);
    for (const char *line = msg; line != NULL && *line != '\0';) {
        const char *nl = strchr(line, '\n');
        size_t ll = nl != NULL ? (size_t)(nl - line) : strlen(line);
        if (ll > klen + 1 && strncmp(line, key, klen) == 0 && line[klen] == ':' &&
            line[klen + 1] == ' ') {
            *len = ll - klen - 2;
            return line + klen + 2;
        }
        line = nl != NULL ? nl + 1 : NULL;
    }
    return NULL;
}

static int trailer_eq(const char *msg, const char *key, const char *want)
{
    size_t len;
    const char *v = trailer(msg, key, &len);
    return v != NULL && len == strlen(want) && memcmp(v, want, len) == 0;
}

/* The chain: the commit says which checkpoint it follows (docs/MIRROR.md).  NT_EVERIFY
 * when its trailers disagree with its checkpoint `cp` or with its parent's. */
static int chain_check(replay *r, const ledger__git_commit *c, const checkpoint *cp,
                       uint64_t prev_size, const nt_buf *prev_note)
{
    int error = 0;
    nt_buf want = NT_BUF_INIT;

    NT_TRY(nt_buf_printf(&want, "%" PRIu64, cp->size));
    if (!trailer_eq(c->message, "Tree-Size", (const char *)want.ptr)) {
        error =
            fail(r, "the commit message's Tree-Size is not the checkpoint's %" PRIu64, cp->size);
        goto done;
    }
    nt_buf_clear(&want);
    NT_TRY(nt_base64_encode(&want, cp->root, 32));
    if (!trailer_eq(c->message, "Root", (const char *)want.ptr)) {
        error = fail(r, "the commit message's Root is not the checkpoint's root");
        goto done;
    }
    size_t tlen;
    const char *said = trailer(c->message, "Previous-Tree-Size", &tlen);
    if (prev_note == NULL) {
        if (said != NULL) {
            error = fail(r,
                         "the first commit says it follows a checkpoint of size %.*s: the "
                         "commits before it were dropped",
                         (int)tlen, said);
            goto done;
        }
    } else {
        nt_buf_clear(&want);
        NT_TRY(nt_buf_printf(&want, "%" PRIu64, prev_size));
        if (said == NULL || !trailer_eq(c->message, "Previous-Tree-Size", (const char *)want.ptr)) {
            error = fail(r,
                         "checkpoint of size %" PRIu64 " says it follows size %.*s, but its "
                         "parent holds size %" PRIu64 ": a commit was dropped or reordered",
                         cp->size, said != NULL ? (int)tlen : 4, said != NULL ? said : "none",
                         prev_size);
            goto done;
        }
        uint8_t d[32];
        EVP_Digest(prev_note->ptr, prev_note->len, d, NULL, EVP_sha256(), NULL);
        nt_buf_clear(&want);
        NT_TRY(nt_hex_encode(&want, d, 32));
        if (!trailer_eq(c->message, "Previous-Checkpoint", (const char *)want.ptr)) {
            error = fail(r, "Previous-Checkpoint is not the SHA-256 of the parent's checkpoint "
                            "file: a commit was replaced");
            goto done;
        }
    }
done:
    nt_buf_dispose(&want);
    return error;
}

static int commit_check(replay *r, const ledger__git_commit *c, const ledger__git_commit *prev,
                        uint64_t prev_size, const nt_buf *prev_note, nt_buf *note_out)
{
    int error = 0;
    checkpoint cp;
    nt_buf keep = NT_BUF_INIT, drop = NT_BUF_INIT;

    if (prev_note == NULL && c->parent_count != 0) {
        error = fail(r, "the first commit of main has a parent");
        goto done;
    }
    int rc = ledger__git_blob_read(note_out, r->g, c->tree, "checkpoint");
    if (rc == NT_ENOTFOUND) {
        error = fail(r, "no checkpoint file");
        goto done;
    }
    NT_TRY(rc);
    rc = checkpoint_open(&cp, (const char *)note_out->ptr, note_out->len, &r->v, 0);
    NT_TRY(rc == NT_ENOMEM ? rc : 0); /* out of memory says nothing about the checkpoint */
    if (rc < 0) {
        checkpoint unsigned_cp;
        nt_error_state why;
        nt_error_state_capture(&why, rc); /* checkpoint_open's message, for the report */
        int parsed = ledger__note_checkpoint_parse(&unsigned_cp, (const char *)note_out->ptr,
                                                   note_out->len) == 0;
        nt_error_state_restore(&why);
        if (rc == NT_EVERIFY && parsed) {
            error = fail(r, "checkpoint of size %" PRIu64 ": no valid signature by %s+%08x",
                         unsigned_cp.size, r->v.name, r->v.key_id);
        } else {
            error = fail(r, "checkpoint file is not a valid signed checkpoint of %s: %s", r->v.name,
                         nt_error_last());
        }
        goto done;
    }
    if (prev_note != NULL && cp.size <= prev_size) {
        error = fail(r, "checkpoint size %" PRIu64 " does not grow from the previous %" PRIu64,
                     cp.size, prev_size);
        goto done;
    }

    NT_TRY(chain_check(r, c, &cp, prev_size, prev_note));

    NT_TRY(leaves_replay(r, c->tree, prev_size, cp.size));
    for (unsigned level = 1; level < TILES_MAX_LEVELS; level++) {
        uint64_t full;
        unsigned w;
        tiles_count(&full, &w, cp.size, level);
        if (w > 0) {
            NT_TRY(tile_compare(r, c->tree, level, full, w));
        }
    }
    uint8_t root[32];
    merkle_frontier_root(root, &r->f);
    if (memcmp(root, cp.root, 32) != 0) {
        char a[65], b[65];
        nt_hex_fill(a, cp.root, MERKLE_HASH_SIZE);
        nt_hex_fill(b, root, MERKLE_HASH_SIZE);
        error =
            fail(r, "checkpoint of size %" PRIu64 ": signed root %s, but the entries rebuild %s",
                 cp.size, a, b);
        goto done;
    }

    /* Nothing else in the tree changed: rebuild it from the previous one and compare. */
    path_lists ls = {&keep, &drop};
    NT_TRY(tiles_changes(prev_size, cp.size, path_collect, &ls));
    NT_TRY(nt_buf_put(&keep, "checkpoint", sizeof("checkpoint")));
    rc = ledger__git_tree_expect(r->g, prev != NULL ? prev->tree : NULL, c->tree, &keep, &drop);
    if (rc == NT_EVERIFY) {
        error = fail(r, "checkpoint of size %" PRIu64 ": %s", cp.size, nt_error_last());
        goto done;
    }
    NT_TRY(rc);
done:
    if (error == 0) {
        r->res->checkpoints++;
        memcpy(r->res->root, cp.root, 32);
        r->res->size = cp.size;
    }
    nt_buf_dispose(&keep);
    nt_buf_dispose(&drop);
    return error;
}

/* Resume from the state's commit: its frontier, and the partial tiles of its tree. */
static int resume_load(replay *r, const ledger__git_commit *c, nt_buf *note)
{
    int error = 0;
    checkpoint cp;
    NT_TRY(ledger__git_blob_read(note, r->g, c->tree, "checkpoint"));
    NT_ENSURE(ledger__note_checkpoint_parse(&cp, (const char *)note->ptr, note->len) == 0 &&
                  cp.size == r->state.size && memcmp(cp.root, r->state.root, 32) == 0,
              NT_EINVAL, "state file: commit %.12s does not hold the checkpoint it recorded",
              r->commit_hex);
    r->f = r->state.frontier;
    r->size = r->state.size;
    for (unsigned level = 0; level < TILES_MAX_LEVELS; level++) {
        uint64_t full;
        unsigned w;
        tiles_count(&full, &w, r->size, level);
        if (w == 0) {
            continue;
        }
        NT_TRY(tile_read(r, c->tree, (int)level, full, w));
        memcpy(r->lv[level].h, r->tile.ptr, (size_t)w * 32);
        r->lv[level].count = w;
    }
done:
    return error;
}

/* The progress bar's total: the entries between what is verified and the head's checkpoint. */
static int progress_init(replay *r, const ledger__git_commit *head, nt_buf *note,
                         char hex[2 * MIRROR_OID_SIZE + 1])
{
    int error = 0;
    checkpoint cp;
    ledger__oid_hex(hex, head->id);
    r->commit_hex = hex;
    NT_TRY(ledger__git_blob_read(note, r->g, head->tree, "checkpoint"));
    if (ledger__note_checkpoint_parse(&cp, (const char *)note->ptr, note->len) == 0 &&
        cp.size > r->size) {
        r->progress_total = cp.size - r->size;
    }
    r->progress_base = r->size;
done:
    return error;
}

/* The state's commit is not in the history of main (whose head is `head`): NT_EVERIFY
 * saying whether the tree it recorded was lost (rollback) or only its commit (rewrite). */
static int state_lost(replay *r, const ledger__git_commit *head)
{
    char was[2 * MIRROR_OID_SIZE + 1], hex[2 * MIRROR_OID_SIZE + 1];
    ledger__oid_hex(was, r->state.commit);
    ledger__oid_hex(hex, head->id);
    if (!r->state_root_seen) {
        return nt_error_set(NT_EVERIFY,
                            "rollback: main (commit %.12s) holds %" PRIu64 " entries, but a "
                            "tree of %" PRIu64 " entries (commit %.12s) was verified before; "
                            "this mirror does not extend it",
                            hex, r->res->size, r->state.size, was);
    }
    return nt_error_set(NT_EVERIFY,
                        "history rewritten: commit %.12s (checkpoint of size %" PRIu64
                        ") verified before is no longer in the history of main "
                        "(commit %.12s); the entries up to that size are unchanged",
                        was, r->state.size, hex);
}

/* End of a run: the wall time and tokens verified into the result, everything freed.  NULL ok. */
static void replay_free(replay *r, int error)
{
    if (r == NULL) {
        return;
    }
    r->res->seconds = (double)(nt_mono_ns() - r->start_ns) / 1e9;
    if (error < 0 && r->opts->progress && r->last_progress_ns != 0) {
        fputc('\n', stderr);
    }
    if (r->pool != NULL) {
        r->res->tokens = audit__pool_finish(r->pool);
    }
    audit__pool_stop(r->pool);
    audit__trust_free(r->trust);
    ledger__git_close(r->g);
    nt_buf_dispose(&r->blob);
    nt_buf_dispose(&r->tile);
    nt_buf_dispose(&r->path);
    nt_free(r);
}

int audit_run(audit_result *out, const audit_options *opts)
{
    int error = 0;
    replay *r = NULL;
    ledger__git_commit *list = NULL;
    size_t n = 0;
    nt_buf cache = NT_BUF_INIT, note_a = NT_BUF_INIT, note_b = NT_BUF_INIT;
    nt_buf *note = &note_a, *prev_note = NULL;
    char hex[2 * MIRROR_OID_SIZE + 1];
    int resumed = 0;

    memset(out, 0, sizeof(*out));
    NT_ENSURE(opts != NULL && opts->source != NULL && opts->vkey != NULL, NT_EINVAL,
              "audit: a source and the log's vkey are required");
    r = nt_calloc(1, sizeof(*r));
    NT_ENSURE(r != NULL, NT_ENOMEM, "out of memory");
    r->opts = opts;
    r->res = out;
    r->start_ns = nt_mono_ns();
    merkle_frontier_init(&r->f);
    NT_TRY(note_vkey_parse(&r->v, opts->vkey, strlen(opts->vkey)));
    if (opts->trust_path != NULL) {
        NT_TRY(audit__trust_load(&r->trust, opts->trust_path));
        NT_TRY(audit__pool_start(&r->pool, r->trust));
    }
    if (opts->state_path != NULL) {
        NT_TRY(state_load(&r->state, opts->state_path, &r->v));
    }
    const char *cache_path = opts->cache_path;
    if (cache_path == NULL && opts->state_path != NULL) {
        NT_TRY(nt_buf_printf(&cache, "%s.git", opts->state_path));
        cache_path = (const char *)cache.ptr;
    }
    NT_TRY(ledger__git_open(&r->g, opts->source, cache_path));
    NT_TRY(ledger__git_history(&list, &n, r->g));
    NT_ENSURE(n > 0, NT_EVERIFY, "%s: no commit on refs/heads/main", opts->source);

    size_t start = 0;
    const ledger__git_commit *prev = NULL;
    uint64_t prev_size = 0;
    if (r->state.present) {
        for (size_t i = 0; i < n; i++) {
            if (memcmp(list[i].id, r->state.commit, MIRROR_OID_SIZE) == 0) {
                ledger__oid_hex(hex, list[i].id);
                r->commit_hex = hex;
                NT_TRY(resume_load(r, &list[i], &note_b));
                prev_note = &note_b;
                prev = &list[i];
                prev_size = r->state.size;
                start = i + 1;
                resumed = 1;
                r->state_root_seen = 1;
                out->resumed_size = r->state.size;
                break;
            }
        }
    }
    NT_TRY(progress_init(r, &list[n - 1], note, hex));
    uint64_t last_save = nt_mono_ns();
    uint64_t save_ns = opts->save_interval_ms < 0    ? 0
                       : opts->save_interval_ms == 0 ? (uint64_t)SAVE_INTERVAL_MS * 1000000u
                                                     : (uint64_t)opts->save_interval_ms * 1000000u;
    r->replay_ns = last_save;
    for (size_t i = start; i < n; i++) {
        ledger__oid_hex(hex, list[i].id);
        r->commit_hex = hex;
        int rc = commit_check(r, &list[i], prev, prev_size, prev_note, note);
        if (rc < 0) {
            /* a token queued before this point that failed comes first, as it would
             * in a sequential replay */
            int te = audit__pool_drain(r->pool);
            NT_TRY(te < 0 ? te : rc);
        }
        prev = &list[i];
        prev_size = out->size;
        nt_buf *t = prev_note != NULL ? prev_note : &note_b;
        prev_note = note;
        note = t;
        if (opts->state_path != NULL && (!r->state.present || resumed) &&
            nt_mono_ns() - last_save >= save_ns) {
            /* resumable: an interrupted run continues from here next time */
            NT_TRY(audit__pool_drain(r->pool));
            NT_TRY(state_save(opts->state_path, &r->v, &r->f, list[i].id, list[i].tree));
            last_save = nt_mono_ns();
        }
    }
    NT_TRY(audit__pool_drain(r->pool));
    progress(r, 1);
    if (start == n) {
        out->size = r->state.size;
        memcpy(out->root, r->state.root, 32);
    }
    if (r->state.present && !resumed) {
        error = state_lost(r, &list[n - 1]);
        goto done;
    }
    if (opts->state_path != NULL) {
        NT_TRY(state_save(opts->state_path, &r->v, &r->f, list[n - 1].id, list[n - 1].tree));
    }
done:
    replay_free(r, error);
    ledger__git_history_free(list, n);
    nt_buf_dispose(&cache);
    nt_buf_dispose(&note_a);
    nt_buf_dispose(&note_b);
    return error;
}
