/*
 * store_index.c - the ledger's digest index (alg byte || digest -> the indexes of
 * the leaves with that digest), kept in its own LMDB environment, "index/" in
 * the ledger's directory, and written by its own thread.
 *
 * Why not in the sequencer's transaction: a digest is random, so every leaf
 * dirtied a random page of a B-tree that grows with the ledger; on the one
 * serial stage of the server (commit, fsync, acknowledgement) that was the
 * largest part of the page writes (docs/PERFORMANCE.md, "Third round").  The
 * index holds nothing the leaves do not, so it can lag them: the sequencer
 * hands each committed batch's digests to the indexer (store__index_push), which
 * writes them in larger transactions of its own, and until they are written a
 * lookup also reads the queue.  A digest is therefore found from the moment
 * its leaf is committed, before the append is acknowledged.
 *
 * The index environment stores "upto" (u64be): every leaf below it is indexed.
 * It is opened with MDB_NOMETASYNC: a crash may lose its last transactions
 * but never its integrity, and ledger_open indexes the leaves from "upto" to
 * the head before the sequencer starts.  A ledger written before this file
 * has its index in the main environment's "digests" database: ledger_open
 * copies it over in key order, then empties it.
 */
#include "ledger/store_int.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* The indexer lets digests gather this long before a transaction, and retries a
 * failed one after STORE_INDEX_RETRY_MS.  Measured at 64 connections (P-256,
 * docs/PERFORMANCE.md, "Third round"): 18,400-19,100 tokens/s with 20 ms
 * transactions, 20,300-20,400 with one a second, 21,700-22,100 with no index
 * writes at all; the longer the gather, the fewer pages a digest costs.  Lookups
 * scan what has gathered: ~20,000 digests at full speed, tens of microseconds. */
#define STORE_INDEX_GATHER_MS 1000
#define STORE_INDEX_RETRY_MS  1000
/* The indexer's nice value: nothing waits for it. */
#define STORE_INDEX_NICE 10
/* Leaves indexed per transaction when catching up at open. */
#define STORE_INDEX_CATCHUP_TXN 65536u
/* Digests per write transaction at most.  LMDB holds a transaction's dirty pages in
 * memory and keeps them for reuse as long as the environment is open; a random digest
 * dirties about a page once the index is large, so a second's digests (~20,000) in one
 * transaction kept ~80 MB for good (soak: anonymous memory 53 -> 140 MB).  4,096: ~20 MB. */
#define STORE_INDEX_TXN_MAX 4096u
/* Entries copied per transaction when moving an old index (in key order: ~45 a page). */
#define STORE_INDEX_MIGRATE_TXN 65536u

typedef struct index_item {
    uint64_t index;
    uint8_t klen;
    uint8_t ad[1 + RECORD_MAX_DIGEST]; /* alg byte || digest */
} index_item;

typedef struct index_vec {
    index_item *v;
    size_t n, cap;
} index_vec;

struct store_index {
    MDB_env *env;
    MDB_dbi db_digests, db_meta;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int thread_started;
    int closing;
    int flush;         /* a flusher waits: write now (mu) */
    uint64_t attempts; /* transactions tried, written or not (mu) */
    int broken;        /* a push failed: nothing more is written, ledger_open catches up (mu) */
    index_vec queue;   /* pushed, not yet taken by the indexer (mu) */
    index_vec writing; /* taken by the indexer, not yet committed (mu) */
};

static int index_vec_add(index_vec *q, uint8_t alg, const uint8_t *digest, size_t len,
                         uint64_t index)
{
    if (q->n == q->cap) {
        size_t ncap = q->cap ? q->cap * 2 : 256;
        index_item *p = nt_reallocarray(q->v, ncap, sizeof(*p));
        if (p == NULL) {
            return nt_error_set(NT_ENOMEM, "out of memory");
        }
        q->v = p;
        q->cap = ncap;
    }
    index_item *it = &q->v[q->n++];
    it->index = index;
    it->klen = (uint8_t)(1 + len);
    it->ad[0] = alg;
    memcpy(it->ad + 1, digest, len);
    return 0;
}

/* ------------------------------------------------------------------ environment */

static int index_upto_read(uint64_t *out, MDB_txn *txn, const store_index *x)
{
    MDB_val k = store__val("upto", 4), v;
    int rc = mdb_get(txn, x->db_meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        *out = 0;
        return 0;
    }
    if (rc != 0) {
        return store__err(rc, "digest index: upto");
    }
    if (v.mv_size != 8) {
        return nt_error_set(NT_ECORRUPT, "digest index: upto has %zu bytes", v.mv_size);
    }
    *out = nt_load_u64be(v.mv_data);
    return 0;
}

static int index_upto_put(MDB_txn *txn, const store_index *x, uint64_t upto)
{
    uint8_t word[8];
    nt_store_u64be(word, upto);
    MDB_val k = store__val("upto", 4), v = store__val(word, 8);
    int rc = mdb_put(txn, x->db_meta, &k, &v, 0);
    return rc == 0 ? 0 : store__err(rc, "digest index: store upto");
}

/* Commit *txn (which is then NULL, committed or not). */
static int index_commit(MDB_txn **txn, const char *what)
{
    int rc = mdb_txn_commit(*txn);
    *txn = NULL;
    return rc == 0 ? 0 : store__err(rc, what);
}

/* The items (in leaf order) in transactions of STORE_INDEX_TXN_MAX at most, each
 * ending with "upto" = its last item's index + 1: every leaf below it is indexed. */
static int index_write(store_index *x, const index_item *items, size_t n)
{
    int error = 0;
    MDB_txn *txn = NULL;
    uint8_t word[8];
    MDB_val k, v;

    for (size_t at = 0; at < n; at += STORE_INDEX_TXN_MAX) {
        size_t end = n - at > STORE_INDEX_TXN_MAX ? at + STORE_INDEX_TXN_MAX : n;
        STORE_MDB(mdb_txn_begin(x->env, NULL, 0, &txn), "digest index: begin write transaction");
        for (size_t i = at; i < end; i++) {
            nt_store_u64be(word, items[i].index);
            k = store__val(items[i].ad, items[i].klen);
            v = store__val(word, 8);
            STORE_MDB(mdb_put(txn, x->db_digests, &k, &v, 0), "digest index: store digest");
        }
        NT_TRY(index_upto_put(txn, x, items[end - 1].index + 1));
        NT_TRY(index_commit(&txn, "digest index: commit"));
    }
done:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return error;
}

static int index_env_open(store_index *x, const char *dir, size_t map_size, int readonly)
{
    int error = 0;
    MDB_txn *txn = NULL;
    unsigned create = readonly ? 0 : MDB_CREATE;

    STORE_MDB(mdb_env_create(&x->env), "digest index: mdb_env_create");
    STORE_MDB(mdb_env_set_maxdbs(x->env, 4), "digest index: mdb_env_set_maxdbs");
    STORE_MDB(mdb_env_set_maxreaders(x->env, 1024), "digest index: mdb_env_set_maxreaders");
    if (map_size != 0) {
        STORE_MDB(mdb_env_set_mapsize(x->env, map_size), "digest index: mdb_env_set_mapsize");
    }
    /* MDB_NOMETASYNC: one fsync per transaction; a crash may undo the last ones, which
     * ledger_open indexes again ("upto"). */
    error = mdb_env_open(x->env, dir, MDB_NOTLS | (readonly ? MDB_RDONLY : MDB_NOMETASYNC), 0600);
    if (error != 0) {
        error = store__err(error, dir);
        goto done;
    }
    STORE_MDB(mdb_txn_begin(x->env, NULL, readonly ? MDB_RDONLY : 0, &txn),
              "digest index: begin transaction");
    STORE_MDB(mdb_dbi_open(txn, "digests", create | MDB_DUPSORT | MDB_DUPFIXED, &x->db_digests),
              "digest index: open digests");
    STORE_MDB(mdb_dbi_open(txn, "meta", create, &x->db_meta), "digest index: open meta");
    /* Committed, not aborted: the database handles stay valid (lmdb.h, mdb_dbi_open). */
    NT_TRY(index_commit(&txn, "digest index: commit"));
done:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return error;
}

/* ------------------------------------------------------------------ open: migrate, catch up */

/*
 * A ledger written before the index had its own environment: copy the main
 * environment's "digests" over, then empty it.  Nothing to do when it is empty.
 * Into an empty index (the upgrade), in key order (MDB_APPENDDUP: each key's
 * indexes are appended, already in order), with upto = the head: the old index
 * held every leaf.  Into an index that has entries (an older version ran again
 * meanwhile and wrote its digests to the main environment), merged, with upto
 * left as it is: the catch-up at open then indexes the leaves from there.
 */
static int index_migrate(store_index *x, ledger *l, uint64_t head)
{
    int error = 0;
    MDB_txn *mtxn = NULL, *itxn = NULL;
    MDB_cursor *cur = NULL;
    MDB_stat st, ist;
    MDB_val k, v;
    unsigned flags;
    int rc;

    STORE_MDB(mdb_txn_begin(l->env, NULL, 0, &mtxn), "begin write transaction");
    STORE_MDB(mdb_stat(mtxn, l->db_digests, &st), "digest index: stat");
    if (st.ms_entries == 0) {
        goto done;
    }
    nt_log(NT_LOG_INFO, NULL, "ledger: moving the digest index (%llu entries) to index/",
           (unsigned long long)st.ms_entries);
    STORE_MDB(mdb_txn_begin(x->env, NULL, 0, &itxn), "digest index: begin write transaction");
    STORE_MDB(mdb_stat(itxn, x->db_digests, &ist), "digest index: stat");
    flags = ist.ms_entries == 0 ? MDB_APPENDDUP : 0;
    STORE_MDB(mdb_cursor_open(mtxn, l->db_digests, &cur), "digest index: cursor");
    size_t copied = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        STORE_MDB(mdb_put(itxn, x->db_digests, &k, &v, flags), "digest index: copy");
        if (++copied % STORE_INDEX_MIGRATE_TXN == 0) {
            /* One transaction for millions of entries would outgrow LMDB's dirty page
             * limit (MDB_TXN_FULL).  A crash between two leaves "upto" unset, and the
             * old index in place: the next open merges it again and indexes from 0. */
            NT_TRY(index_commit(&itxn, "digest index: commit"));
            STORE_MDB(mdb_txn_begin(x->env, NULL, 0, &itxn),
                      "digest index: begin write transaction");
        }
    }
    if (rc != MDB_NOTFOUND) {
        error = store__err(rc, "digest index: read the old index");
        goto done;
    }
    mdb_cursor_close(cur);
    cur = NULL;
    if (ist.ms_entries == 0) {
        NT_TRY(index_upto_put(itxn, x, head));
    }
    NT_TRY(index_commit(&itxn, "digest index: commit"));
    /* Durable before the old copy goes: a crash in between only copies it again. */
    STORE_MDB(mdb_env_sync(x->env, 1), "digest index: sync");
    STORE_MDB(mdb_drop(mtxn, l->db_digests, 0), "digest index: empty the old index");
    NT_TRY(index_commit(&mtxn, "commit"));
done:
    mdb_cursor_close(cur);
    if (itxn != NULL) {
        mdb_txn_abort(itxn);
    }
    if (mtxn != NULL) {
        mdb_txn_abort(mtxn);
    }
    return error;
}

/* fn(ctx, index, record) for each leaf [from, head) of txn (the main environment), in
 * order, until fn returns nonzero (1: stop, negative: an error to return). */
typedef int (*index_leaf_fn)(void *ctx, uint64_t index, const record *rec);

static int index_walk(ledger *l, MDB_txn *txn, uint64_t from, uint64_t head, index_leaf_fn fn,
                      void *ctx)
{
    int error = 0;
    MDB_cursor *cur = NULL;
    uint8_t start[8];
    MDB_val k, v;
    record rec;
    int rc;

    nt_store_u64be(start, from);
    k = store__val(start, 8);
    STORE_MDB(mdb_cursor_open(txn, l->db_leaves, &cur), "digest index: leaf cursor");
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t index = k.mv_size == 8 ? nt_load_u64be(k.mv_data) : UINT64_MAX;
        if (index >= head) {
            break;
        }
        NT_ENSURE(record_decode(&rec, v.mv_data, v.mv_size) == 0, NT_ECORRUPT,
                  "stored leaf %llu does not decode", (unsigned long long)index);
        int r = fn(ctx, index, &rec);
        if (r != 0) {
            error = r < 0 ? r : 0;
            goto done;
        }
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        error = store__err(rc, "digest index: read leaves");
    }
done:
    mdb_cursor_close(cur);
    return error;
}

typedef struct catch_up_ctx {
    store_index *x;
    index_vec items;
} catch_up_ctx;

static int catch_up_leaf(void *ctx, uint64_t index, const record *rec)
{
    catch_up_ctx *c = ctx;
    int error =
        index_vec_add(&c->items, (uint8_t)rec->alg, rec->digest.ptr, rec->digest.len, index);
    if (error == 0 && c->items.n == STORE_INDEX_CATCHUP_TXN) {
        error = index_write(c->x, c->items.v, c->items.n);
        c->items.n = 0;
    }
    return error;
}

/* Index the leaves [upto, head) from the main environment, in transactions of
 * STORE_INDEX_CATCHUP_TXN leaves. */
static int index_catch_up(store_index *x, ledger *l, uint64_t upto, uint64_t head)
{
    int error = 0;
    MDB_txn *mtxn = NULL;
    catch_up_ctx c = {x, {0}};

    if (upto >= head) {
        return 0;
    }
    nt_log(NT_LOG_INFO, NULL, "ledger: indexing the digests of leaves %llu to %llu",
           (unsigned long long)upto, (unsigned long long)head - 1);
    NT_TRY(store__read_begin(&mtxn, l));
    NT_TRY(index_walk(l, mtxn, upto, head, catch_up_leaf, &c));
    NT_TRY(index_write(x, c.items.v, c.items.n));
done:
    if (mtxn != NULL) {
        mdb_txn_abort(mtxn);
    }
    nt_free(c.items.v);
    return error;
}

/* An index ahead of the ledger (an older data.mdb put back under a newer index/)
 * describes other leaves: empty it, so that it is built again from the leaves. */
static int index_reset_if_ahead(uint64_t *upto, store_index *x, uint64_t head)
{
    int error = 0;
    MDB_txn *txn = NULL;

    if (*upto <= head) {
        return 0;
    }
    nt_log(NT_LOG_WARN, NULL,
           "ledger: the digest index covers %llu leaves but the ledger has %llu; rebuilding it",
           (unsigned long long)*upto, (unsigned long long)head);
    STORE_MDB(mdb_txn_begin(x->env, NULL, 0, &txn), "digest index: begin write transaction");
    STORE_MDB(mdb_drop(txn, x->db_digests, 0), "digest index: empty");
    NT_TRY(index_upto_put(txn, x, 0));
    NT_TRY(index_commit(&txn, "digest index: commit"));
    *upto = 0;
done:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return error;
}

/* ------------------------------------------------------------------ the indexer thread */

static void index_deadline(struct timespec *ts, unsigned ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *index_main(void *arg)
{
    store_index *x = arg;
    struct timespec ts;

    nt_thread_name("nt-index");
    /* Nothing waits for the index: issuance gets the CPU first (as the mirror's). */
    (void)nt_thread_nice(STORE_INDEX_NICE);

    pthread_mutex_lock(&x->mu);
    for (;;) {
        while (x->queue.n == 0 && !x->closing) {
            pthread_cond_wait(&x->cv, &x->mu);
        }
        if (x->queue.n == 0) {
            break; /* closing and drained */
        }
        if (x->broken) {
            x->queue.n = 0; /* "upto" stays below the lost digest */
            continue;
        }
        if (!x->closing) {
            /* Let a few batches gather: fewer, larger transactions. */
            index_deadline(&ts, STORE_INDEX_GATHER_MS);
            while (!x->closing && !x->flush && pthread_cond_timedwait(&x->cv, &x->mu, &ts) == 0) {
            }
        }
        index_vec taken = x->queue;
        x->queue = x->writing; /* the empty vector, its buffer reused */
        x->writing = taken;
        pthread_mutex_unlock(&x->mu);

        int error = index_write(x, taken.v, taken.n);

        pthread_mutex_lock(&x->mu);
        x->attempts++;
        pthread_cond_broadcast(&x->cv); /* a flusher may wait */
        if (error == 0 || x->broken) {
            x->writing.n = 0;
            continue;
        }
        nt_log(NT_LOG_ERROR, NULL, "ledger: digest index: %s (retrying)", nt_error_last());
        /* Keep them, in order, ahead of what came since. */
        for (size_t i = 0; i < x->queue.n && error == 0; i++) {
            const index_item *it = &x->queue.v[i];
            error = index_vec_add(&x->writing, it->ad[0], it->ad + 1, it->klen - 1u, it->index);
        }
        if (error == 0) {
            index_vec t = x->queue;
            x->queue = x->writing;
            x->writing = t;
            x->writing.n = 0;
        } else {
            x->broken = 1; /* out of memory: nothing more is written, as after a failed push */
            x->writing.n = 0;
        }
        if (x->closing) {
            /* Not written: ledger_open indexes them again from "upto". */
            x->queue.n = 0;
            break;
        }
        index_deadline(&ts, STORE_INDEX_RETRY_MS);
        (void)pthread_cond_timedwait(&x->cv, &x->mu, &ts);
    }
    pthread_mutex_unlock(&x->mu);
    return NULL;
}

/* ------------------------------------------------------------------ interface */

static void index_free(store_index *x, int sync_init)
{
    if (x == NULL) {
        return;
    }
    if (sync_init) {
        pthread_cond_destroy(&x->cv);
        pthread_mutex_destroy(&x->mu);
    }
    if (x->env != NULL) {
        mdb_env_close(x->env);
    }
    nt_free(x->queue.v);
    nt_free(x->writing.v);
    nt_free(x);
}

int store__index_open(ledger *l, const char *ledger_dir, size_t map_size)
{
    int error = 0;
    store_index *x = NULL;
    nt_buf dir = NT_BUF_INIT;
    pthread_condattr_t ca;
    int sync_init = 0;
    uint64_t upto = 0;
    MDB_txn *txn = NULL;

    NT_TRY(nt_path_join(&dir, ledger_dir, "index"));
    NT_TRY(nt_mkdir_p(nt_buf_cstr(&dir), 0700));
    x = nt_calloc(1, sizeof(*x));
    NT_ENSURE(x != NULL, NT_ENOMEM, "out of memory");
    NT_ENSURE(pthread_condattr_init(&ca) == 0, NT_ERROR, "pthread_condattr_init");
    (void)pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int ok = pthread_mutex_init(&x->mu, NULL) == 0 && pthread_cond_init(&x->cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
    NT_ENSURE(ok, NT_ERROR, "digest index: pthread init");
    sync_init = 1;
    NT_TRY(index_env_open(x, nt_buf_cstr(&dir), map_size, 0));

    NT_TRY(index_migrate(x, l, l->size));
    STORE_MDB(mdb_txn_begin(x->env, NULL, MDB_RDONLY, &txn), "digest index: begin transaction");
    NT_TRY(index_upto_read(&upto, txn, x));
    mdb_txn_abort(txn);
    txn = NULL;
    NT_TRY(index_reset_if_ahead(&upto, x, l->size));
    NT_TRY(index_catch_up(x, l, upto, l->size));

    NT_ENSURE(pthread_create(&x->thread, NULL, index_main, x) == 0, NT_ERROR,
              "could not start the digest index thread");
    x->thread_started = 1;
    l->index = x;
    x = NULL;
done:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    index_free(x, sync_init);
    nt_buf_dispose(&dir);
    return error;
}

int store__index_open_readonly(ledger *l, const char *ledger_dir)
{
    int error = 0;
    store_index *x = NULL;
    nt_buf dir = NT_BUF_INIT, data = NT_BUF_INIT;
    struct stat st;

    NT_TRY(nt_path_join(&dir, ledger_dir, "index"));
    NT_TRY(nt_path_join(&data, nt_buf_cstr(&dir), "data.mdb"));
    if (stat(nt_buf_cstr(&data), &st) != 0) {
        goto done; /* never opened by a writer of this version: the old index is in place */
    }
    x = nt_calloc(1, sizeof(*x));
    NT_ENSURE(x != NULL, NT_ENOMEM, "out of memory");
    NT_TRY(index_env_open(x, nt_buf_cstr(&dir), 0, 1));
    l->index = x;
    x = NULL;
done:
    index_free(x, 0);
    nt_buf_dispose(&dir);
    nt_buf_dispose(&data);
    return error;
}

void store__index_close(ledger *l)
{
    store_index *x = l->index;
    if (x == NULL) {
        return;
    }
    if (x->thread_started) {
        pthread_mutex_lock(&x->mu);
        x->closing = 1;
        pthread_cond_broadcast(&x->cv);
        pthread_mutex_unlock(&x->mu);
        pthread_join(x->thread, NULL);
        /* The last transaction's meta page too: the next open has nothing to catch up. */
        (void)mdb_env_sync(x->env, 1);
    }
    index_free(x, x->thread_started);
    l->index = NULL;
}

void store__index_push(ledger *l, store_entry *const *batch, size_t n, uint64_t first)
{
    int error = 0;
    store_index *x = l->index;

    pthread_mutex_lock(&x->mu);
    /* Only an idle indexer waits for a push; a gathering one wakes on its own. */
    int wake = x->queue.n == 0;
    for (size_t i = 0; i < n && error == 0 && !x->broken; i++) {
        error = index_vec_add(&x->queue, (uint8_t)batch[i]->alg, batch[i]->digest,
                              batch[i]->digest_len, first + i);
    }
    if (error != 0) {
        /* A digest missing from the queue must not be skipped by a later "upto": stop
         * writing; the next ledger_open indexes from the last "upto". */
        x->broken = 1;
        nt_log(NT_LOG_ERROR, NULL,
               "ledger: digest index: %s; lookups miss new leaves until the next start",
               nt_error_last());
    }
    if (wake) {
        pthread_cond_broadcast(&x->cv); /* the indexer, and not only a waiting flusher */
    }
    pthread_mutex_unlock(&x->mu);
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void index_queued(uint64_t *found, size_t *count, size_t cap, const index_vec *q,
                         const uint8_t *want, size_t klen, uint64_t from)
{
    for (size_t i = 0; i < q->n && *count < cap; i++) {
        const index_item *it = &q->v[i];
        if (it->index >= from && it->klen == klen && memcmp(it->ad, want, klen) == 0) {
            found[(*count)++] = it->index;
        }
    }
}

typedef struct tail_ctx {
    uint64_t *found;
    size_t *count, cap;
    const uint8_t *want;
    size_t klen;
} tail_ctx;

static int tail_leaf(void *ctx, uint64_t index, const record *rec)
{
    tail_ctx *t = ctx;
    if ((uint8_t)rec->alg == t->want[0] && rec->digest.len == t->klen - 1 &&
        memcmp(rec->digest.ptr, t->want + 1, t->klen - 1) == 0) {
        t->found[(*t->count)++] = index;
    }
    return *t->count < t->cap ? 0 : 1;
}

/*
 * A read-only handle (another process, which cannot see the writer's queue): the
 * leaves [max(upto, from), head of main_txn) are not indexed yet; compare their
 * digests directly.  About a second of appends while the writer runs.
 */
static int index_scan_tail(uint64_t *found, size_t *count, size_t cap, store_index *x,
                           MDB_txn *itxn, ledger *l, MDB_txn *main_txn, const uint8_t *want,
                           size_t klen, uint64_t from)
{
    int error = 0;
    uint64_t upto = 0, head = 0;
    tail_ctx t = {found, count, cap, want, klen};

    if (*count >= cap) {
        return 0;
    }
    NT_TRY(index_upto_read(&upto, itxn, x));
    NT_TRY(store__head_read(&head, NULL, main_txn, l));
    NT_TRY(index_walk(l, main_txn, upto > from ? upto : from, head, tail_leaf, &t));
done:
    return error;
}

int store__index_find(uint64_t **out, size_t *count_out, ledger *l, MDB_txn *main_txn,
                      const uint8_t *key, size_t klen, uint64_t from, size_t max)
{
    int error = 0;
    store_index *x = l->index;
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    uint64_t *found = NULL;
    size_t count = 0, queued = 0, cap;
    uint8_t start[8];
    MDB_val k, v;
    int rc;

    *out = NULL;
    *count_out = 0;
    /* The queue first, then the environment: a digest the indexer commits in between
     * is seen twice (removed below), never missed. */
    if (x != NULL && !l->readonly) {
        pthread_mutex_lock(&x->mu);
        queued = x->queue.n + x->writing.n;
        cap = queued < max ? queued : max;
        found = nt_calloc(cap + max + 1, sizeof(*found));
        if (found != NULL) {
            index_queued(found, &count, cap, &x->writing, key, klen, from);
            index_queued(found, &count, cap, &x->queue, key, klen, from);
        }
        pthread_mutex_unlock(&x->mu);
    } else {
        /* room for the index's max and as many from the unindexed tail */
        found = nt_calloc(2 * max + 1, sizeof(*found));
    }
    NT_ENSURE(found != NULL, NT_ENOMEM, "out of memory");
    queued = count;

    if (x != NULL) {
        STORE_MDB(mdb_txn_begin(x->env, NULL, MDB_RDONLY, &txn), "digest index: begin");
        STORE_MDB(mdb_cursor_open(txn, x->db_digests, &cur), "digest index: cursor");
    } else {
        /* A read-only handle of a ledger no writer of this version has opened. */
        STORE_MDB(mdb_cursor_open(main_txn, l->db_digests, &cur), "digest index: cursor");
    }
    k = store__val(key, klen);
    /* The duplicates are u64be indexes, sorted as numbers: seek to the first >= from. */
    nt_store_u64be(start, from);
    v = store__val(start, sizeof(start));
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_GET_BOTH_RANGE); rc == 0 && count < queued + max;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
        NT_ENSURE(v.mv_size == 8, NT_ECORRUPT, "digest index entry has %zu bytes", v.mv_size);
        found[count++] = nt_load_u64be(v.mv_data);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        error = store__err(rc, "read digest index");
        goto done;
    }
    if (x != NULL && l->readonly) {
        size_t before = count;
        NT_TRY(index_scan_tail(found, &count, before + max, x, txn, l, main_txn, key, klen, from));
    }
    qsort(found, count, sizeof(*found), u64_cmp);
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        if (n == 0 || found[n - 1] != found[i]) {
            found[n++] = found[i];
        }
    }
    if (n > 0) {
        *count_out = n < max ? n : max;
        *out = found;
        found = NULL;
    }
done:
    mdb_cursor_close(cur);
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    nt_free(found);
    return error;
}

/* Wait until everything queued so far is written (a check looks up every leaf: not
 * through the queue), for two index transactions at most. */
static void index_flush(ledger *l)
{
    store_index *x = l->index;
    if (x == NULL || l->readonly) {
        return;
    }
    pthread_mutex_lock(&x->mu);
    /* Two transactions at most (the one under way, then the rest): an index that cannot
     * be written (a full disk) is not waited for; lookups then read the queue. */
    uint64_t until = x->attempts + 2;
    while ((x->queue.n > 0 || x->writing.n > 0) && !x->broken && !x->closing &&
           x->attempts < until) {
        x->flush = 1;
        pthread_cond_broadcast(&x->cv);
        pthread_cond_wait(&x->cv, &x->mu);
    }
    x->flush = 0;
    pthread_mutex_unlock(&x->mu);
}

int store__index_snap_begin(MDB_txn **itxn, uint64_t *upto, ledger *l)
{
    int error = 0;
    store_index *x = l->index;

    *itxn = NULL;
    *upto = 0;
    if (x == NULL) {
        return 0;
    }
    index_flush(l);
    STORE_MDB(mdb_txn_begin(x->env, NULL, MDB_RDONLY, itxn), "digest index: begin");
    error = index_upto_read(upto, *itxn, x);
done:
    if (error != 0 && *itxn != NULL) {
        mdb_txn_abort(*itxn);
        *itxn = NULL;
    }
    return error;
}

int store__index_has(ledger *l, MDB_cursor **cur, MDB_txn *main_txn, MDB_txn *itxn, uint64_t upto,
                     const uint8_t *key, size_t klen, uint64_t index)
{
    uint8_t word[8];
    MDB_val k = store__val(key, klen), v;
    uint64_t *found = NULL;
    size_t n = 0;
    int rc = 0, error = 0;

    nt_store_u64be(word, index);
    v = store__val(word, 8);
    if (l->index == NULL || index < upto) {
        /* The old index of the main environment, or the index's own: one cursor for the
         * whole snapshot, always on the same database. */
        if (*cur == NULL) {
            rc = l->index == NULL ? mdb_cursor_open(main_txn, l->db_digests, cur)
                                  : mdb_cursor_open(itxn, l->index->db_digests, cur);
        }
        if (rc == 0) {
            rc = mdb_cursor_get(*cur, &k, &v, MDB_GET_BOTH);
        }
        return rc == 0 ? 0 : store__err(rc, "digest index");
    }
    if (l->readonly) {
        /* Another process's index lags its leaves by what its indexer has not written
         * yet; those leaves are indexed by that process (or its next start). */
        return 0;
    }
    /* Appended since the snapshot began: in the queue (or written since). */
    error = store__index_find(&found, &n, l, main_txn, key, klen, index, 1);
    if (error == 0 && (n == 0 || found[0] != index)) {
        error = nt_error_set(NT_ENOTFOUND, "digest index: leaf %llu not found",
                             (unsigned long long)index);
    }
    nt_free(found);
    return error;
}
