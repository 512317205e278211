/*
 * check.c - ledger_check (ledger/ledger.h): recompute the whole ledger from
 * its leaves and compare it with what is stored, for `notarium ledger check`
 * and `serve --check-ledger` (issue 13 item 11: a flipped bit in a stored
 * leaf or metadata went unnoticed, since the start-up check only compares
 * the stored root with the stored subtree hashes).  It reads through a
 * store snapshot (ledger_int.h), so it sees one committed state and never
 * touches LMDB itself.
 *
 * Problems are reported where they start: a subtree hash that differs only
 * because a leaf below it differs is counted as a consequence, not listed,
 * so a flipped leaf gives "leaf i" (and the head's root), not a line per
 * level above it.
 */
#include "ledger/ledger.h"
#include "ledger/ledger_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define CHECK_DEFAULT_PROBLEMS 20u
#define CHECK_PROGRESS_EVERY   65536u

typedef struct check_ctx {
    ledger_check_result *r;
    const ledger_check_options *o;
    ledger *l;
    ledger__snap *snap;
    size_t max;
    uint64_t size; /* the stored head */
    uint8_t stored_root[MERKLE_HASH_SIZE];
    uint64_t next;       /* the next leaf index the tree expects */
    int broken;          /* a leaf is missing: the tree cannot be recomputed past it */
    int head_checkpoint; /* the head's checkpoint was found */
    merkle_frontier f;
    /* Per level, whether each of the last two completed subtrees differed from the stored
     * hash (bit 0 the latest): they are the children of the next one completed above. */
    uint8_t differs[MERKLE_MAX_LEVEL];
} check_ctx;

/* Lowercase hex of a hash for a problem message (borrowed from `buf`, "?" without memory). */
static const char *check_hex(nt_buf *buf, const uint8_t h[MERKLE_HASH_SIZE])
{
    nt_buf_clear(buf);
    return nt_hex_encode(buf, h, MERKLE_HASH_SIZE) == 0 ? nt_buf_cstr(buf) : "?";
}

static void check_problem(check_ctx *c, const char *what, unsigned level, uint64_t index,
                          const char *fmt, ...) NT_PRINTF(5, 6);

static void check_problem(check_ctx *c, const char *what, unsigned level, uint64_t index,
                          const char *fmt, ...)
{
    ledger_check_problem *p;
    va_list ap;

    c->r->problem_count++;
    if (c->r->kept >= c->max) {
        return;
    }
    p = &c->r->problems[c->r->kept++];
    snprintf(p->what, sizeof(p->what), "%s", what);
    p->level = level;
    p->index = index;
    va_start(ap, fmt);
    vsnprintf(p->message, sizeof(p->message), fmt, ap);
    va_end(ap);
}

/* merkle_node_fn: every subtree the recomputed tree completes, against the stored one. */
static int check_node(void *ctx, unsigned level, uint64_t index,
                      const uint8_t hash[MERKLE_HASH_SIZE])
{
    check_ctx *c = ctx;
    uint8_t stored[MERKLE_HASH_SIZE];
    int differs, explained = level > 0 && (c->differs[level - 1] & 3) != 0;
    int rc = ledger__snap_hash(stored, c->snap, level, index);

    if (rc < 0 && rc != NT_ENOTFOUND && rc != NT_ECORRUPT) {
        return rc;
    }
    c->r->subtrees++;
    differs = rc < 0 || memcmp(stored, hash, MERKLE_HASH_SIZE) != 0;
    if (differs && !explained) {
        nt_buf a = NT_BUF_INIT, b = NT_BUF_INIT;
        if (rc < 0) {
            check_problem(c, level == 0 ? "leaf" : "subtree", level, index,
                          "%s hash (level %u, index %llu) unreadable: %s",
                          level == 0 ? "leaf" : "subtree", level, (unsigned long long)index,
                          nt_error_last());
        } else if (level == 0) {
            check_problem(c, "leaf", 0, index,
                          "leaf %llu: its bytes hash to %s, the stored leaf hash is %s",
                          (unsigned long long)index, check_hex(&a, hash), check_hex(&b, stored));
        } else {
            check_problem(c, "subtree", level, index,
                          "subtree hash (level %u, index %llu, leaves %llu..%llu): stored %s, "
                          "recomputed from the leaves %s",
                          level, (unsigned long long)index, (unsigned long long)(index << level),
                          (unsigned long long)(((index + 1) << level) - 1), check_hex(&b, stored),
                          check_hex(&a, hash));
        }
        nt_buf_dispose(&a);
        nt_buf_dispose(&b);
    }
    c->differs[level] = (uint8_t)(((c->differs[level] << 1) | (differs ? 1 : 0)) & 3);
    return 0;
}

static void check_metadata(check_ctx *c, uint64_t index, const record *rec, const nt_bytes *meta)
{
    uint8_t mh[MERKLE_HASH_SIZE];

    if (!rec->has_metadata) {
        if (meta != NULL) {
            check_problem(c, "metadata", 0, index,
                          "metadata %llu: %zu bytes stored for a leaf that commits to none",
                          (unsigned long long)index, meta->len);
        }
        return;
    }
    if (meta == NULL) {
        check_problem(c, "metadata", 0, index,
                      "metadata %llu: missing, but the leaf commits to metadata",
                      (unsigned long long)index);
        return;
    }
    if (EVP_Digest(meta->len > 0 ? meta->ptr : (const uint8_t *)"", meta->len, mh, NULL,
                   EVP_sha256(), NULL) != 1 ||
        memcmp(mh, rec->metadata_hash, sizeof(mh)) != 0) {
        check_problem(c, "metadata", 0, index,
                      "metadata %llu: SHA-256 of the %zu stored bytes differs from the leaf's "
                      "metadata hash",
                      (unsigned long long)index, meta->len);
    }
}

/* ledger__row_fn over the leaves (joined with their metadata). */
static int check_leaf(void *ctx, uint64_t index, nt_bytes leaf, int has_leaf, const nt_bytes *meta)
{
    check_ctx *c = ctx;
    record rec;
    uint8_t h[MERKLE_HASH_SIZE];
    int rc;

    if (!has_leaf) {
        c->r->metadata++;
        check_problem(c, "metadata", 0, index, "metadata %llu: stored without a leaf",
                      (unsigned long long)index);
        return 0;
    }
    c->r->leaves++;
    c->r->metadata += meta != NULL;
    if (index == UINT64_MAX || index >= c->size) {
        check_problem(c, "leaf", 0, index,
                      "a leaf is stored at %s %llu, beyond the head (size %llu)",
                      index == UINT64_MAX ? "a malformed key," : "index", (unsigned long long)index,
                      (unsigned long long)c->size);
        return 0;
    }
    if (index != c->next && !c->broken) {
        check_problem(c, "leaf", 0, c->next,
                      "leaves %llu..%llu are missing: the tree cannot be recomputed past %llu",
                      (unsigned long long)c->next, (unsigned long long)index - 1,
                      (unsigned long long)c->next);
        c->broken = 1;
    }
    c->next = index + 1;
    rc = record_decode(&rec, leaf.ptr, leaf.len);
    if (rc < 0) {
        check_problem(c, "leaf", 0, index, "leaf %llu: does not decode: %s",
                      (unsigned long long)index, nt_error_last());
    } else {
        check_metadata(c, index, &rec, meta);
        rc = ledger__snap_digest_has(c->snap, rec.alg, rec.digest, index);
        if (rc == NT_ENOTFOUND || rc == NT_EINVAL) {
            check_problem(c, "digest-index", 0, index,
                          "leaf %llu: its digest is not in the digest index",
                          (unsigned long long)index);
        } else if (rc < 0) {
            return rc;
        }
    }
    if (!c->broken) {
        merkle_leaf_hash(h, leaf.ptr, leaf.len);
        rc = merkle_frontier_append(&c->f, h, check_node, c);
        if (rc < 0) {
            return rc;
        }
    }
    if (c->o->progress != NULL && c->r->leaves % CHECK_PROGRESS_EVERY == 0) {
        c->o->progress(c->o->progress_ctx, c->r->leaves, c->size);
    }
    return 0;
}

/* ledger__row_fn over the stored checkpoints: the head's one, or all with all_checkpoints. */
static int check_checkpoint(void *ctx, uint64_t size, nt_bytes note, int has_value,
                            const nt_bytes *unused)
{
    check_ctx *c = ctx;
    checkpoint cp;
    uint8_t root[MERKLE_HASH_SIZE];
    nt_buf a = NT_BUF_INIT, b = NT_BUF_INIT;
    int rc;

    (void)has_value;
    (void)unused;
    if (size == UINT64_MAX || size > c->size) {
        check_problem(c, "checkpoint", 0, size,
                      "a checkpoint is stored for tree size %llu, beyond the head (size %llu)",
                      (unsigned long long)size, (unsigned long long)c->size);
        return 0;
    }
    if (size != c->size && !c->o->all_checkpoints) {
        return 0;
    }
    c->r->checkpoints++;
    c->head_checkpoint |= size == c->size;
    if (checkpoint_open(&cp, (const char *)note.ptr, note.len, c->o->log_vkey, 0) < 0) {
        check_problem(c, "checkpoint", 0, size, "checkpoint %llu: %s", (unsigned long long)size,
                      nt_error_last());
        return 0;
    }
    if (cp.size != size || strcmp(cp.origin, ledger_origin(c->l)) != 0) {
        check_problem(c, "checkpoint", 0, size,
                      "checkpoint %llu: stored for size %llu but says size %llu, origin \"%s\"",
                      (unsigned long long)size, (unsigned long long)size,
                      (unsigned long long)cp.size, cp.origin);
        return 0;
    }
    if (size == c->size) {
        /* Against the stored head; the head against the leaves is the head's own problem. */
        memcpy(root, c->stored_root, MERKLE_HASH_SIZE);
    } else {
        /* Stored subtree hashes, each already compared with the recomputed tree. */
        rc = merkle_range_root(root, ledger__snap_hash, c->snap, 0, size);
        if (rc == NT_ENOTFOUND || rc == NT_ECORRUPT) {
            return 0; /* reported by the leaf pass */
        }
        if (rc < 0) {
            return rc;
        }
    }
    if (memcmp(root, cp.root, MERKLE_HASH_SIZE) != 0) {
        check_problem(c, "checkpoint", 0, size, "checkpoint %llu: root %s, the stored tree's is %s",
                      (unsigned long long)size, check_hex(&a, cp.root), check_hex(&b, root));
    }
    nt_buf_dispose(&a);
    nt_buf_dispose(&b);
    return 0;
}

/* Complete subtrees of a tree of `size` leaves, the leaves included: what the store keeps. */
static uint64_t check_node_total(uint64_t size)
{
    uint64_t n = 0;
    for (unsigned level = 0; level < MERKLE_MAX_LEVEL && (size >> level) > 0; level++) {
        n += size >> level;
    }
    return n;
}

int ledger_check(ledger_check_result *out, ledger *l, const ledger_check_options *opts)
{
    int error = 0;
    check_ctx c;
    uint8_t root[MERKLE_HASH_SIZE];
    uint64_t nodes = 0;

    memset(out, 0, sizeof(*out));
    memset(&c, 0, sizeof(c));
    NT_ENSURE(l != NULL && opts != NULL && opts->log_vkey != NULL, NT_EINVAL,
              "ledger_check: the log's vkey is required (checkpoint signatures)");
    c.r = out;
    c.o = opts;
    c.l = l;
    c.max = opts->max_problems ? opts->max_problems : CHECK_DEFAULT_PROBLEMS;
    out->problems = nt_calloc(c.max, sizeof(*out->problems));
    NT_ENSURE(out->problems != NULL, NT_ENOMEM, "out of memory");
    merkle_frontier_init(&c.f);

    NT_TRY(ledger__snap_begin(&c.snap, l));
    error = ledger__snap_head(&c.size, c.stored_root, c.snap);
    if (error == NT_ECORRUPT) {
        check_problem(&c, "head", 0, 0, "stored tree head: %s", nt_error_last());
        error = 0;
        goto done;
    }
    NT_TRY(error);
    out->size = c.size;

    NT_TRY(ledger__snap_leaves(c.snap, check_leaf, &c));
    if (c.next < c.size && !c.broken) {
        check_problem(&c, "leaf", 0, c.next,
                      "leaves end at %llu, the head says %llu: leaves %llu..%llu are missing",
                      (unsigned long long)c.next, (unsigned long long)c.size,
                      (unsigned long long)c.next, (unsigned long long)c.size - 1);
        c.broken = 1;
    }
    if (!c.broken) {
        merkle_frontier_root(root, &c.f);
        if (memcmp(root, c.stored_root, MERKLE_HASH_SIZE) != 0) {
            nt_buf a = NT_BUF_INIT, b = NT_BUF_INIT;
            check_problem(&c, "head", 0, c.size,
                          "head (size %llu): stored root %s, root recomputed from the leaves %s",
                          (unsigned long long)c.size, check_hex(&a, c.stored_root),
                          check_hex(&b, root));
            nt_buf_dispose(&a);
            nt_buf_dispose(&b);
        }
    }
    NT_TRY(ledger__snap_node_count(&nodes, c.snap));
    if (nodes != check_node_total(c.size)) {
        check_problem(&c, "subtree", 0, c.size,
                      "%llu subtree hashes stored, a tree of %llu leaves has %llu",
                      (unsigned long long)nodes, (unsigned long long)c.size,
                      (unsigned long long)check_node_total(c.size));
    }
    NT_TRY(ledger__snap_checkpoints(c.snap, check_checkpoint, &c));
    if (!c.head_checkpoint) {
        check_problem(&c, "checkpoint", 0, c.size, "no checkpoint stored for the head (size %llu)",
                      (unsigned long long)c.size);
    }
    if (opts->progress != NULL) {
        opts->progress(opts->progress_ctx, out->leaves, c.size);
    }
done:
    ledger__snap_end(c.snap);
    return error;
}

void ledger_check_result_dispose(ledger_check_result *r)
{
    if (r != NULL) {
        nt_free(r->problems);
        memset(r, 0, sizeof(*r));
    }
}
