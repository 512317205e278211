/*
 * store_seq.c - the ledger's sequencer and appends (see store.c).  One
 * sequencer thread takes queued appends in batches and writes each batch in
 * one write transaction (leaves, metadata, every subtree hash the batch
 * completes, the new head and a checkpoint signed for it); the append
 * callbacks run only after that transaction is committed with fsync.  The
 * batch's digests then go to the digest index's own thread (store_index.c).
 */
#include "ledger/store_int.h"

#include <errno.h>
#include <string.h>

/* ------------------------------------------------------------------ sequencer */

static void store_deadline(struct timespec *ts, uint64_t mono_ns)
{
    ts->tv_sec = (time_t)(mono_ns / 1000000000u);
    ts->tv_nsec = (long)(mono_ns % 1000000000u);
}

/*
 * After a failed batch while the store is (or just became) full: refuse
 * appends for the back-off, which doubles with every failed probe up to the
 * maximum.  Space can come back without a restart (files deleted on the
 * disk), so the state is never permanent; a map configured too small stays
 * full, and then costs one failed batch per maximum back-off.  mu held.
 */
static void store_full_backoff(ledger *l)
{
    if (!l->full) {
        l->full = 1;
        l->full_retry_ns = l->full_retry_min_ns;
    } else if (l->full_retry_at_ns == UINT64_MAX) {
        /* the probe failed */
        l->full_retry_ns = l->full_retry_ns < l->full_retry_max_ns / 2 ? l->full_retry_ns * 2
                                                                       : l->full_retry_max_ns;
    } else {
        return; /* appends queued before the store filled: the schedule stands */
    }
    l->full_retry_at_ns = nt_mono_ns() + l->full_retry_ns;
}

/*
 * Write one batch in one write transaction.  On success l->frontier describes
 * the new head; on failure the transaction is aborted and the caller reloads
 * the frontier.
 */
static int store_batch_write(uint8_t root_out[MERKLE_HASH_SIZE], uint64_t *gen_hw_out, ledger *l,
                             size_t n)
{
    int error = 0;
    MDB_txn *txn = NULL;
    store_hash_ctx hc;
    uint64_t index = l->frontier.size;
    uint64_t gen_hw = *gen_hw_out;
    uint8_t key[8], word[8];
    MDB_val k, v;

    STORE_MDB(mdb_txn_begin(l->env, NULL, 0, &txn), "begin write transaction");
    hc.txn = txn;
    hc.l = l;
    for (size_t i = 0; i < n; i++, index++) {
        const store_entry *e = l->batch[i];

        nt_store_u64be(key, index);
        k = store__val(key, sizeof(key));
        /* Indexes only grow: MDB_APPEND fills pages sequentially, and a key that is
         * not past the last one (MDB_KEYEXIST) means the store is inconsistent. */
        v = store__val(e->leaf, e->leaf_len);
        STORE_MDB(mdb_put(txn, l->db_leaves, &k, &v, MDB_APPEND), "store leaf");
        if (e->has_metadata) {
            v = store__val(e->meta, e->meta_len);
            STORE_MDB(mdb_put(txn, l->db_metadata, &k, &v, MDB_APPEND), "store metadata");
        }
        if (e->owner_len > 0) {
            v = store__val(e->owner, e->owner_len);
            STORE_MDB(mdb_put(txn, l->db_owners, &k, &v, MDB_APPEND), "store owner");
        }
        if (e->case_rec_len > 0) {
            /* A case event's head, event and key go in with its leaf, or nothing does. */
            NT_TRY(store__case_put(txn, l, NT_BYTES(e->case_rec, e->case_rec_len), index,
                                   e->leaf_hash, e->gen_ns));
        }
        NT_TRY(merkle_frontier_append(&l->frontier, e->leaf_hash, store__hash_write, &hc));
        if (e->gen_ns > gen_hw) {
            gen_hw = e->gen_ns;
        }
    }
    merkle_frontier_root(root_out, &l->frontier);
    nt_store_u64be(word, index);
    NT_TRY(store__meta_put(txn, l, "size", word, 8));
    NT_TRY(store__meta_put(txn, l, "root", root_out, MERKLE_HASH_SIZE));
    NT_TRY(store__checkpoint_put(txn, l, index, root_out));
    /* Leaves are not in genTime order under concurrency: the mark is the maximum ever
     * committed, so a restart never issues a genTime below one already issued. */
    if (gen_hw > *gen_hw_out) {
        nt_store_u64be(word, gen_hw);
        NT_TRY(store__meta_put(txn, l, "gentime", word, 8));
    }
    /* The commit writes the pages and fsyncs (unless no_sync): only after it returns
     * may anyone learn an index. */
    error = mdb_txn_commit(txn);
    txn = NULL;
    if (error != 0) {
        error = store__err(error, "commit batch");
        goto done;
    }
    *gen_hw_out = gen_hw;
done:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return error;
}

/* After a failed batch: the frontier is back to the last committed head. */
static int store_frontier_reload(ledger *l)
{
    int error = 0;
    MDB_txn *txn = NULL;
    uint64_t size = 0;
    uint8_t root[MERKLE_HASH_SIZE];

    NT_TRY(store__read_begin(&txn, l));
    NT_TRY(store__frontier_verify(&l->frontier, root, &size, txn, l));
done:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return error;
}

const uint64_t ledger_commit_bounds_ns[LEDGER_COMMIT_BUCKETS] = {
    250000,   500000,   1000000,   2500000,   5000000,    10000000,
    25000000, 50000000, 100000000, 250000000, 1000000000, 2500000000};

static void store_batch_run(ledger *l, size_t n)
{
    int error;
    uint64_t first = l->frontier.size;
    uint64_t gen_hw, took_ns = 0;
    uint8_t root[MERKLE_HASH_SIZE];

    pthread_mutex_lock(&l->mu);
    error = l->fatal;
    gen_hw = l->gen_hw_ns;
    pthread_mutex_unlock(&l->mu);
    if (error == 0) {
        uint64_t t0 = nt_mono_ns();
        error = store_batch_write(root, &gen_hw, l, n);
        took_ns = nt_mono_ns() - t0;
    }
    if (error == 0) {
        /* Before the acknowledgements: a digest is found as soon as anyone learns its index. */
        store__index_push(l, l->batch, n, first);
    }

    pthread_mutex_lock(&l->mu);
    if (error == 0) {
        l->gen_hw_ns = gen_hw;
        l->size = l->frontier.size;
        memcpy(l->root, root, sizeof(root));
        l->batches++;
        size_t b = 0;
        while (b < LEDGER_COMMIT_BUCKETS && took_ns > ledger_commit_bounds_ns[b]) {
            b++;
        }
        l->commit_buckets[b]++;
        l->commit_sum_ns += took_ns;
        l->full = 0; /* space came back (or was never short): appends flow again */
    } else {
        l->appends_failed += n;
        if (error == NT_EFULL || l->full) {
            store_full_backoff(l);
        }
        if (l->fatal == 0) {
            snprintf(l->last_error, sizeof(l->last_error), "%s", nt_error_last());
        }
    }
    pthread_mutex_unlock(&l->mu);

    if (error != 0 && l->fatal == 0) {
        nt_log(NT_LOG_ERROR, NULL, "ledger: batch of %zu appends failed: %s", n, l->last_error);
        int rc = store_frontier_reload(l);
        if (rc != 0) {
            nt_log(NT_LOG_ERROR, NULL, "ledger: cannot reload the tree head, appends stop: %s",
                   nt_error_last());
            pthread_mutex_lock(&l->mu);
            l->fatal = rc;
            pthread_mutex_unlock(&l->mu);
        }
    }

    for (size_t i = 0; i < n; i++) {
        store_entry *e = l->batch[i];
        e->fn(e->ctx, error, error == 0 ? first + i : 0);
        nt_free(e);
        l->batch[i] = NULL;
    }
}

void *store__sequencer_main(void *arg)
{
    ledger *l = arg;

    nt_thread_name("nt-sequencer");
    pthread_mutex_lock(&l->mu);
    for (;;) {
        size_t n = 0, bytes = 0;

        while (l->ring_count == 0 && !l->closing) {
            pthread_cond_wait(&l->work_cv, &l->mu);
        }
        if (l->ring_count == 0) {
            break; /* closing and drained */
        }
        /* Group commit: give producers until the oldest entry is window_ns old to
         * fill the batch, but stop as soon as they pause for gap_ns: a producer
         * waiting for its own acknowledgement cannot add to the batch, so at low
         * load a full window would only add latency (measured: 1 in flight,
         * 1.75 ms per append with a plain 1 ms window).  Entries that piled up
         * during the previous commit are already old enough and go at once.
         *
         * Producers that say when they are at work (ledger_produce_begin/end:
         * the server's request handlers) are waited for instead while one is,
         * until the batch has STORE_HOLD_ENTRIES or its oldest entry is hold_ns
         * old: an RSA signature (~0.3 ms) is longer than the gap, and by pauses
         * alone an RSA batch held ~3 leaves, so the commit's fixed cost (two
         * fsyncs, the checkpoint signature: ~190 us of the sequencer's CPU) was
         * paid every ~3 tokens and taken from the signing.  Once none is at
         * work the pause rule applies again (committing at once instead
         * measured +6-11 % at 16 connections and -3 % at 256: docs/PERFORMANCE.md,
         * "Fourth round").
         *
         * Adaptive: a lone entry after a lone batch, with no other producer at
         * work, is a client on its own (idle server, or one request at a time):
         * nobody else is coming, so it is committed at once instead of waiting
         * for the gap.  As soon as entries pile up during a commit (busy),
         * batches grow past one and the window applies again. */
        int announced = atomic_load(&l->announced);
        int alone = l->ring_count == 1 && l->last_batch_n <= 1 &&
                    (!announced || atomic_load(&l->producing) <= 1);
        while (!alone) {
            struct timespec ts;
            uint64_t now = nt_mono_ns();
            uint64_t full = l->ring[l->ring_head]->enqueued_ns + l->window_ns;
            uint64_t until;
            /* Before reading `producing`: a producer that ends after the read sees it and
             * wakes this wait (ledger_produce_end). */
            atomic_store(&l->seq_waiting, 1);
            if (announced && atomic_load(&l->producing) > 0) {
                if (l->ring_count >= STORE_HOLD_ENTRIES) {
                    break;
                }
                until = l->ring[l->ring_head]->enqueued_ns + l->hold_ns;
            } else {
                uint64_t idle = l->last_enqueue_ns + l->gap_ns;
                until = idle < full ? idle : full;
            }
            if (l->ring_count >= l->batch_max || l->closing || now >= until) {
                break;
            }
            store_deadline(&ts, until);
            pthread_cond_timedwait(&l->work_cv, &l->mu, &ts);
        }
        atomic_store(&l->seq_waiting, 0);
        while (n < l->batch_max && l->ring_count > 0) {
            store_entry *e = l->ring[l->ring_head];
            if (n > 0 && bytes + e->bytes > STORE_BATCH_BYTES_MAX) {
                break;
            }
            l->batch[n++] = e;
            bytes += e->bytes;
            l->ring[l->ring_head] = NULL;
            l->ring_head = (l->ring_head + 1) % l->queue_max;
            l->ring_count--;
            l->ring_bytes -= e->bytes;
        }
        l->batch_since_ns = n > 0 ? l->batch[0]->enqueued_ns : 0;
        l->last_batch_n = n;
        pthread_mutex_unlock(&l->mu);
        store_batch_run(l, n);
        pthread_mutex_lock(&l->mu);
        l->batch_since_ns = 0;
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* ------------------------------------------------------------------ producers */

void ledger_produce_begin(ledger *l)
{
    if (!atomic_load_explicit(&l->announced, memory_order_relaxed)) {
        atomic_store(&l->announced, 1);
    }
    atomic_fetch_add(&l->producing, 1);
}

void ledger_produce_end(ledger *l)
{
    /* The last one out wakes a sequencer that holds a batch open for producers; the
     * sequencer sets seq_waiting before it reads `producing`, this reads seq_waiting
     * after lowering it, so one of the two sees the other. */
    if (atomic_fetch_sub(&l->producing, 1) == 1 && atomic_load(&l->seq_waiting)) {
        pthread_mutex_lock(&l->mu);
        pthread_cond_signal(&l->work_cv);
        pthread_mutex_unlock(&l->mu);
    }
}

/* ------------------------------------------------------------------ appends */

static int store_entry_new(store_entry **out, const ledger *l, nt_bytes leaf, nt_bytes metadata,
                           nt_bytes owner, nt_bytes case_rec)
{
    int error = 0;
    store_entry *e = NULL;
    record r;
    size_t total;
    uint8_t *p;
    uint8_t mh[32];

    *out = NULL;
    NT_TRY(record_decode(&r, leaf.ptr, leaf.len));
    if (l->restore) {
        /* The mirror holds no metadata: such a leaf is stored without it (missing). */
        NT_ENSURE(metadata.len == 0, NT_EINVAL, "a restore appends leaves without metadata");
        r.has_metadata = 0;
    } else if (r.has_metadata) {
        NT_OSSL(EVP_Digest(metadata.ptr != NULL ? metadata.ptr : (const uint8_t *)"", metadata.len,
                           mh, NULL, EVP_sha256(), NULL),
                "SHA-256 of metadata");
        NT_ENSURE(memcmp(mh, r.metadata_hash, sizeof(mh)) == 0, NT_EINVAL,
                  "metadata does not match the leaf's metadata hash");
    } else {
        NT_ENSURE(metadata.len == 0, NT_EINVAL, "metadata given for a leaf that commits to none");
    }
    NT_ENSURE(r.digest.len > 0 && r.digest.len <= RECORD_MAX_DIGEST, NT_EINVAL,
              "leaf digest length %zu out of range", r.digest.len);
    NT_TRY(nt_size_add(&total, sizeof(*e), leaf.len));
    NT_TRY(nt_size_add(&total, total, metadata.len));
    NT_TRY(nt_size_add(&total, total, owner.len));
    NT_TRY(nt_size_add(&total, total, case_rec.len));
    e = nt_malloc(total);
    NT_ENSURE(e != NULL, NT_ENOMEM, "out of memory");
    memset(e, 0, sizeof(*e));
    p = (uint8_t *)(e + 1);
    memcpy(p, leaf.ptr, leaf.len);
    e->leaf = p;
    e->leaf_len = leaf.len;
    e->alg = r.alg;
    e->digest = p + (r.digest.ptr - leaf.ptr);
    e->digest_len = r.digest.len;
    e->has_metadata = r.has_metadata;
    e->meta = p + leaf.len;
    e->meta_len = metadata.len;
    if (metadata.len > 0) {
        memcpy(p + leaf.len, metadata.ptr, metadata.len);
    }
    e->owner = p + leaf.len + metadata.len;
    e->owner_len = owner.len;
    if (owner.len > 0) {
        memcpy(p + leaf.len + metadata.len, owner.ptr, owner.len);
    }
    if (case_rec.len > 0) {
        uint8_t *c = p + leaf.len + metadata.len + owner.len;
        memcpy(c, case_rec.ptr, case_rec.len);
        e->case_rec = c;
        e->case_rec_len = case_rec.len;
    }
    e->bytes = leaf.len + metadata.len + owner.len + case_rec.len;
    merkle_leaf_hash(e->leaf_hash, e->leaf, e->leaf_len);
    *out = e;
done:
    if (error == NT_ERANGE) {
        error = nt_error_set(NT_EINVAL, "leaf too large");
    }
    return error;
}

int ledger_append_async(ledger *l, nt_bytes leaf, nt_bytes metadata, ledger_done_fn fn, void *ctx)
{
    return ledger_append_full_async(l, leaf, metadata, NT_BYTES(NULL, 0), 0, fn, ctx);
}

int ledger_append_full_async(ledger *l, nt_bytes leaf, nt_bytes metadata, nt_bytes owner,
                             uint64_t gen_time_ns, ledger_done_fn fn, void *ctx)
{
    return store__append(l, leaf, metadata, owner, gen_time_ns, NT_BYTES(NULL, 0), fn, ctx);
}

int store__append(ledger *l, nt_bytes leaf, nt_bytes metadata, nt_bytes owner, uint64_t gen_time_ns,
                  nt_bytes case_rec, ledger_done_fn fn, void *ctx)
{
    int error = 0;
    store_entry *e = NULL;
    int locked = 0;

    NT_ENSURE(l != NULL && fn != NULL && (leaf.ptr != NULL || leaf.len == 0) &&
                  (metadata.ptr != NULL || metadata.len == 0) &&
                  (owner.ptr != NULL || owner.len == 0),
              NT_EINVAL, "ledger_append_async: bad arguments");
    NT_ENSURE(owner.len <= LEDGER_OWNER_MAX, NT_EINVAL, "owner longer than %d bytes",
              LEDGER_OWNER_MAX);
    NT_ENSURE(!l->readonly, NT_ESTATE,
              "the ledger was opened read-only: appends go through the process that holds it "
              "(the server)");
    NT_TRY(store_entry_new(&e, l, leaf, metadata, owner, case_rec));
    e->gen_ns = gen_time_ns;
    e->fn = fn;
    e->ctx = ctx;

    pthread_mutex_lock(&l->mu);
    locked = 1;
    NT_ENSURE(!l->closing, NT_ESTATE, "ledger is closing");
    NT_ENSURE(l->fatal == 0, l->fatal, "ledger stopped appending: %s", l->last_error);
    if (l->full) {
        uint64_t now = nt_mono_ns();
        NT_ENSURE(now >= l->full_retry_at_ns, NT_EFULL,
                  "ledger store is full (next retry in %llu ms): %s",
                  l->full_retry_at_ns == UINT64_MAX
                      ? 0ull
                      : (unsigned long long)((l->full_retry_at_ns - now) / 1000000u),
                  l->last_error);
    }
    NT_ENSURE(l->ring_count < l->queue_max, NT_EBUSY, "ledger append queue full (%zu)",
              l->queue_max);
    NT_ENSURE(l->ring_count == 0 || l->ring_bytes + e->bytes <= l->queue_bytes_max, NT_EBUSY,
              "ledger append queue full (%zu bytes)", l->ring_bytes);
    if (l->full) {
        /* This append is the probe: the rest wait until its batch tells. */
        l->full_retry_at_ns = UINT64_MAX;
    }
    e->enqueued_ns = nt_mono_ns();
    l->last_enqueue_ns = e->enqueued_ns;
    l->ring[(l->ring_head + l->ring_count) % l->queue_max] = e;
    l->ring_count++;
    l->ring_bytes += e->bytes;
    /* Wake the sequencer for the first entry and when a batch is complete (or long
     * enough to stop holding it for producers at work). */
    if (l->ring_count == 1 || l->ring_count >= l->batch_max ||
        l->ring_count == STORE_HOLD_ENTRIES) {
        pthread_cond_signal(&l->work_cv);
    }
    e = NULL;
done:
    if (locked) {
        pthread_mutex_unlock(&l->mu);
    }
    nt_free(e);
    return error;
}

typedef struct store_waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    int error;
    uint64_t index;
} store_waiter;

static void store_waiter_done(void *ctx, int error, uint64_t index)
{
    store_waiter *w = ctx;
    pthread_mutex_lock(&w->mu);
    w->error = error;
    w->index = index;
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int ledger_append(uint64_t *index_out, ledger *l, nt_bytes leaf, nt_bytes metadata)
{
    return ledger_append_full(index_out, l, leaf, metadata, NT_BYTES(NULL, 0), 0);
}

int ledger_append_full(uint64_t *index_out, ledger *l, nt_bytes leaf, nt_bytes metadata,
                       nt_bytes owner, uint64_t gen_time_ns)
{
    int error = 0;
    store_waiter w;

    memset(&w, 0, sizeof(w));
    NT_ENSURE(pthread_mutex_init(&w.mu, NULL) == 0, NT_ERROR, "pthread_mutex_init");
    if (pthread_cond_init(&w.cv, NULL) != 0) {
        pthread_mutex_destroy(&w.mu);
        return nt_error_set(NT_ERROR, "pthread_cond_init");
    }
    error = ledger_append_full_async(l, leaf, metadata, owner, gen_time_ns, store_waiter_done, &w);
    if (error == 0) {
        pthread_mutex_lock(&w.mu);
        while (!w.done) {
            pthread_cond_wait(&w.cv, &w.mu);
        }
        pthread_mutex_unlock(&w.mu);
        error = w.error;
        if (error == 0) {
            if (index_out != NULL) {
                *index_out = w.index;
            }
        } else {
            char msg[256];
            pthread_mutex_lock(&l->mu);
            snprintf(msg, sizeof(msg), "%s", l->last_error);
            pthread_mutex_unlock(&l->mu);
            nt_error_set(error, "ledger append failed: %s", msg);
        }
    }
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
done:
    return error;
}
