/*
 * store_read.c - the ledger's reads (see store.c): head, checkpoints, leaves,
 * owners, subtree hashes, proofs, the digest index, receipts and the read
 * snapshots of ledger_int.h.  Readers use their own read transactions and
 * never wait for the sequencer.
 */
#include "ledger/ledger_int.h"
#include "ledger/store_int.h"

#include <string.h>

/* ------------------------------------------------------------------ reads */

int ledger_info_get(ledger_info *out, ledger *l)
{
    int error = 0;
    MDB_envinfo ei;
    MDB_stat st;

    memset(out, 0, sizeof(*out));
    STORE_MDB(mdb_env_info(l->env, &ei), "mdb_env_info");
    STORE_MDB(mdb_env_stat(l->env, &st), "mdb_env_stat");
    out->map_size = ei.me_mapsize;
    out->map_used = (ei.me_last_pgno + 1) * (size_t)st.ms_psize;
    if (l->readonly) {
        /* No sequencer here: the head is whatever another process committed last. */
        MDB_txn *txn = NULL;
        NT_TRY(store__read_begin(&txn, l));
        error = store__head_read(&out->size, out->root, txn, l);
        if (error == 0) {
            error = store__gen_hw_read(&out->gen_time_hw_ns, txn, l);
        }
        mdb_txn_abort(txn);
        goto done;
    }
    pthread_mutex_lock(&l->mu);
    out->size = l->size;
    memcpy(out->root, l->root, sizeof(out->root));
    out->gen_time_hw_ns = l->gen_hw_ns;
    out->queue_depth = l->ring_count;
    out->batches = l->batches;
    memcpy(out->commit_buckets, l->commit_buckets, sizeof(out->commit_buckets));
    out->commit_sum_ns = l->commit_sum_ns;
    out->appends_failed = l->appends_failed;
    out->full = l->full;
    if (l->full && l->full_retry_at_ns != UINT64_MAX) {
        uint64_t now = nt_mono_ns();
        out->full_retry_in_ms =
            now >= l->full_retry_at_ns ? 0 : (l->full_retry_at_ns - now + 999999u) / 1000000u;
    }
    out->oldest_pending_ns = l->batch_since_ns != 0 ? l->batch_since_ns
                             : l->ring_count > 0    ? l->ring[l->ring_head]->enqueued_ns
                                                    : 0;
    pthread_mutex_unlock(&l->mu);
done:
    return error;
}

int ledger_checkpoint_latest(nt_buf *out, ledger *l)
{
    int error = 0;
    MDB_txn *txn = NULL;
    uint64_t size = 0;

    NT_TRY(store__read_begin(&txn, l));
    NT_TRY(store__head_read(&size, NULL, txn, l));
    error = store__checkpoint_read(out, txn, l, size);
    if (error == NT_ENOTFOUND) {
        error = nt_error_set(NT_ECORRUPT, "no checkpoint stored for the head");
    }
done:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return error;
}

int ledger_checkpoint_at(nt_buf *out, ledger *l, uint64_t size)
{
    int error = 0;
    MDB_txn *txn = NULL;

    NT_TRY(store__read_begin(&txn, l));
    NT_TRY(store__checkpoint_read(out, txn, l, size));
done:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return error;
}

/* Leaf (and metadata) of `index` inside txn; metadata_out cleared when the leaf has none;
 * *stored_out (may be NULL) says whether a metadata entry exists. */
static int store_leaf_read(nt_buf *leaf_out, nt_buf *metadata_out, int *stored_out, MDB_txn *txn,
                           ledger *l, uint64_t index)
{
    int error = 0;
    uint8_t key[8];
    MDB_val k, v;
    int rc;

    nt_store_u64be(key, index);
    k = store__val(key, sizeof(key));
    rc = mdb_get(txn, l->db_leaves, &k, &v);
    if (rc == MDB_NOTFOUND) {
        return nt_error_set(NT_ENOTFOUND, "no leaf %llu", (unsigned long long)index);
    }
    STORE_MDB(rc, "read leaf");
    NT_TRY(nt_buf_set(leaf_out, v.mv_data, v.mv_size));
    if (metadata_out != NULL) {
        nt_buf_clear(metadata_out);
        rc = mdb_get(txn, l->db_metadata, &k, &v);
        if (rc != MDB_NOTFOUND) {
            STORE_MDB(rc, "read metadata");
            NT_TRY(nt_buf_set(metadata_out, v.mv_data, v.mv_size));
        }
        if (stored_out != NULL) {
            *stored_out = rc != MDB_NOTFOUND;
        }
    }
done:
    return error;
}

int ledger_leaf_get(nt_buf *leaf_out, nt_buf *metadata_out, ledger *l, uint64_t index)
{
    int error = 0;
    MDB_txn *txn = NULL;

    NT_TRY(store__read_begin(&txn, l));
    NT_TRY(store_leaf_read(leaf_out, metadata_out, NULL, txn, l, index));
done:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return error;
}

int ledger_owner_get(nt_buf *owner_out, ledger *l, uint64_t index)
{
    int error = 0;
    MDB_txn *txn = NULL;
    uint8_t key[8];
    MDB_val k, v;
    int rc;

    nt_buf_clear(owner_out);
    if (!l->has_owners) {
        return nt_error_set(NT_ENOTFOUND, "no owner recorded for leaf %llu",
                            (unsigned long long)index);
    }
    NT_TRY(store__read_begin(&txn, l));
    nt_store_u64be(key, index);
    k = store__val(key, sizeof(key));
    rc = mdb_get(txn, l->db_owners, &k, &v);
    if (rc == MDB_NOTFOUND) {
        error = nt_error_set(NT_ENOTFOUND, "no owner recorded for leaf %llu",
                             (unsigned long long)index);
        goto done;
    }
    STORE_MDB(rc, "read owner");
    NT_TRY(nt_buf_set(owner_out, v.mv_data, v.mv_size));
done:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return error;
}

int ledger_hash_get(uint8_t out[32], ledger *l, unsigned level, uint64_t index)
{
    int error = 0;
    MDB_txn *txn = NULL;
    store_hash_ctx hc;

    NT_TRY(store__read_begin(&txn, l));
    hc.txn = txn;
    hc.l = l;
    error = store__hash_read(out, &hc, level, index);
    if (error == NT_ENOTFOUND) {
        error = nt_error_set(NT_ENOTFOUND, "no complete subtree at level %u index %llu", level,
                             (unsigned long long)index);
    }
done:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return error;
}

/* A stored subtree missing inside the committed tree is corruption, not "not found". */
static int store_proof_error(int error)
{
    if (error == NT_ENOTFOUND) {
        return nt_error_set(NT_ECORRUPT, "a subtree hash inside the committed tree is missing");
    }
    return error;
}

/* An inclusion proof of leaf a in the tree of size b, or (consistency) a
 * consistency proof from size a to size b, read in one transaction. */
static int store_proof(nt_buf *out, ledger *l, int consistency, uint64_t a, uint64_t b)
{
    int error = 0;
    MDB_txn *txn = NULL;
    uint64_t head = 0;
    store_hash_ctx hc;

    nt_buf_clear(out);
    NT_TRY(store__read_begin(&txn, l));
    NT_TRY(store__head_read(&head, NULL, txn, l));
    hc.txn = txn;
    hc.l = l;
    if (consistency) {
        NT_ENSURE(a <= b && b <= head, NT_EINVAL,
                  "no consistency proof from %llu to %llu (committed size %llu)",
                  (unsigned long long)a, (unsigned long long)b, (unsigned long long)head);
        error = merkle_proof_consistency(out, store__hash_read, &hc, a, b);
    } else {
        NT_ENSURE(a < b && b <= head, NT_EINVAL,
                  "no inclusion proof of leaf %llu in a tree of %llu (committed size %llu)",
                  (unsigned long long)a, (unsigned long long)b, (unsigned long long)head);
        error = merkle_proof_inclusion(out, store__hash_read, &hc, a, b);
    }
    NT_TRY(store_proof_error(error));
done:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return error;
}

int ledger_proof_inclusion(nt_buf *out, ledger *l, uint64_t index, uint64_t size)
{
    return store_proof(out, l, 0, index, size);
}

int ledger_proof_consistency(nt_buf *out, ledger *l, uint64_t from, uint64_t to)
{
    return store_proof(out, l, 1, from, to);
}

int ledger_find_digest(uint64_t **indexes_out, size_t *count_out, ledger *l, record_alg alg,
                       nt_bytes digest, size_t max)
{
    return ledger_find_digest_from(indexes_out, count_out, l, alg, digest, 0, max);
}

int ledger_find_digest_from(uint64_t **indexes_out, size_t *count_out, ledger *l, record_alg alg,
                            nt_bytes digest, uint64_t from, size_t max)
{
    int error = 0;
    MDB_txn *txn = NULL;
    uint8_t dkey[1 + RECORD_MAX_DIGEST];

    *indexes_out = NULL;
    *count_out = 0;
    NT_ENSURE(digest.len > 0 && digest.len <= RECORD_MAX_DIGEST && digest.ptr != NULL, NT_EINVAL,
              "digest length %zu out of range", digest.len);
    NT_ENSURE((unsigned)alg <= 0xff, NT_EINVAL, "digest algorithm out of range");
    if (max == 0) {
        goto done;
    }
    dkey[0] = (uint8_t)alg;
    memcpy(dkey + 1, digest.ptr, digest.len);
    if (l->readonly) {
        NT_TRY(store__read_begin(&txn, l));
    }
    NT_TRY(store__index_find(indexes_out, count_out, l, txn, dkey, 1 + digest.len, from, max));
done:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return error;
}

int ledger_receipt_fill(receipt *r, ledger *l, uint64_t index)
{
    int error = 0;
    MDB_txn *txn = NULL;
    uint64_t head = 0;
    record rec;
    store_hash_ctx hc;
    int stored = 0;

    NT_TRY(store__read_begin(&txn, l));
    /* One read transaction: leaf, proof and checkpoint all describe the same head. */
    NT_TRY(store__head_read(&head, NULL, txn, l));
    NT_TRY(store_leaf_read(&r->leaf, &r->metadata, &stored, txn, l, index));
    NT_ENSURE(index < head, NT_ECORRUPT, "leaf %llu stored beyond the head",
              (unsigned long long)index);
    error = record_decode(&rec, r->leaf.ptr, r->leaf.len);
    NT_ENSURE(error == 0, NT_ECORRUPT, "stored leaf %llu does not decode",
              (unsigned long long)index);
    NT_TRY(nt_buf_set(&r->token, rec.token.ptr, rec.token.len));
    /* Metadata lost in a restore: say so instead of sending bytes that do not hash right. */
    r->has_metadata = rec.has_metadata && stored;
    r->metadata_missing = rec.has_metadata && !stored;
    nt_buf_clear(&r->proof);
    hc.txn = txn;
    hc.l = l;
    NT_TRY(
        store_proof_error(merkle_proof_inclusion(&r->proof, store__hash_read, &hc, index, head)));
    nt_buf_clear(&r->checkpoint);
    error = store__checkpoint_read(&r->checkpoint, txn, l, head);
    if (error == NT_ENOTFOUND) {
        error = nt_error_set(NT_ECORRUPT, "no checkpoint stored for the head");
    }
    NT_TRY(error);
    NT_TRY(nt_buf_set(&r->origin, l->origin, strlen(l->origin)));
    r->version = RECEIPT_VERSION;
    r->leaf_index = index;
    r->tree_size = head;
done:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return error;
}

/* ------------------------------------------------------------------ snapshots (ledger_int.h) */

struct ledger__snap {
    ledger *l;
    MDB_txn *txn;
    MDB_txn *itxn;       /* the digest index's (store_index.c); NULL without index/ */
    uint64_t upto;       /* leaves below it are in the digest index */
    MDB_cursor *digests; /* opened on first use: one lookup per leaf in a check */
    store_hash_ctx hc;
};

int ledger__snap_begin(ledger__snap **out, ledger *l)
{
    int error = 0;
    ledger__snap *s = nt_calloc(1, sizeof(*s));

    *out = NULL;
    NT_ENSURE(s != NULL, NT_ENOMEM, "out of memory");
    /* The index's snapshot first (it has its queue written first): every leaf below its
     * upto is below the main snapshot's head. */
    NT_TRY(store__index_snap_begin(&s->itxn, &s->upto, l));
    NT_TRY(store__read_begin(&s->txn, l));
    s->l = l;
    s->hc.txn = s->txn;
    s->hc.l = l;
    *out = s;
    s = NULL;
done:
    if (s != NULL && s->itxn != NULL) {
        mdb_txn_abort(s->itxn);
    }
    nt_free(s);
    return error;
}

void ledger__snap_end(ledger__snap *s)
{
    if (s != NULL) {
        mdb_cursor_close(s->digests);
        if (s->itxn != NULL) {
            mdb_txn_abort(s->itxn);
        }
        mdb_txn_abort(s->txn);
        nt_free(s);
    }
}

int ledger__snap_head(uint64_t *size_out, uint8_t root_out[MERKLE_HASH_SIZE], ledger__snap *s)
{
    return store__head_read(size_out, root_out, s->txn, s->l);
}

int ledger__snap_hash(uint8_t out[MERKLE_HASH_SIZE], void *snap, unsigned level, uint64_t index)
{
    return store__hash_read(out, &((ledger__snap *)snap)->hc, level, index);
}

int ledger__snap_digest_has(ledger__snap *s, record_alg alg, nt_bytes digest, uint64_t index)
{
    uint8_t dkey[1 + RECORD_MAX_DIGEST];

    if (digest.len == 0 || digest.len > RECORD_MAX_DIGEST || (unsigned)alg > 0xff) {
        return nt_error_set(NT_EINVAL, "digest out of range");
    }
    dkey[0] = (uint8_t)alg;
    memcpy(dkey + 1, digest.ptr, digest.len);
    return store__index_has(s->l, &s->digests, s->txn, s->itxn, s->upto, dkey, 1 + digest.len,
                            index);
}

/* The u64be index of a leaves / metadata / checkpoints key; UINT64_MAX when malformed. */
static uint64_t store_key_index(const MDB_val *k)
{
    return k->mv_size == 8 ? nt_load_u64be(k->mv_data) : UINT64_MAX;
}

int ledger__snap_leaves(ledger__snap *s, ledger__row_fn fn, void *ctx)
{
    int error = 0;
    MDB_cursor *lc = NULL, *mc = NULL;
    MDB_val lk, lv, mk, mv;
    int lrc, mrc;

    STORE_MDB(mdb_cursor_open(s->txn, s->l->db_leaves, &lc), "open leaves cursor");
    STORE_MDB(mdb_cursor_open(s->txn, s->l->db_metadata, &mc), "open metadata cursor");
    lrc = mdb_cursor_get(lc, &lk, &lv, MDB_FIRST);
    mrc = mdb_cursor_get(mc, &mk, &mv, MDB_FIRST);
    /* A merge join on the index: both databases are in key order. */
    while (lrc == 0 || mrc == 0) {
        uint64_t li = lrc == 0 ? store_key_index(&lk) : UINT64_MAX;
        uint64_t mi = mrc == 0 ? store_key_index(&mk) : UINT64_MAX;
        nt_bytes meta = NT_BYTES(mv.mv_data, mv.mv_size);
        if (lrc == 0 && (mrc != 0 || li < mi || li == UINT64_MAX)) {
            NT_TRY(fn(ctx, li, NT_BYTES(lv.mv_data, lv.mv_size), 1, NULL));
            lrc = mdb_cursor_get(lc, &lk, &lv, MDB_NEXT);
        } else if (lrc == 0 && li == mi) {
            NT_TRY(fn(ctx, li, NT_BYTES(lv.mv_data, lv.mv_size), 1, &meta));
            lrc = mdb_cursor_get(lc, &lk, &lv, MDB_NEXT);
            mrc = mdb_cursor_get(mc, &mk, &mv, MDB_NEXT);
        } else {
            NT_TRY(fn(ctx, mi, NT_BYTES(NULL, 0), 0, &meta)); /* metadata without its leaf */
            mrc = mdb_cursor_get(mc, &mk, &mv, MDB_NEXT);
        }
    }
    if (lrc != MDB_NOTFOUND) {
        STORE_MDB(lrc, "read leaves");
    }
    if (mrc != MDB_NOTFOUND) {
        STORE_MDB(mrc, "read metadata");
    }
done:
    mdb_cursor_close(mc);
    mdb_cursor_close(lc);
    return error;
}

int ledger__snap_checkpoints(ledger__snap *s, ledger__row_fn fn, void *ctx)
{
    int error = 0;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc;

    STORE_MDB(mdb_cursor_open(s->txn, s->l->db_checkpoints, &cur), "open checkpoints cursor");
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        NT_TRY(fn(ctx, store_key_index(&k), NT_BYTES(v.mv_data, v.mv_size), 1, NULL));
    }
    if (rc != MDB_NOTFOUND) {
        STORE_MDB(rc, "read checkpoints");
    }
done:
    mdb_cursor_close(cur);
    return error;
}

int ledger__snap_node_count(uint64_t *out, ledger__snap *s)
{
    int error = 0;
    MDB_stat st;

    STORE_MDB(mdb_stat(s->txn, s->l->db_nodes, &st), "subtree hash count");
    *out = st.ms_entries;
done:
    return error;
}
