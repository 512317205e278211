/*
 * store_int.h - private to the ledger store (store.c, store_seq.c,
 * store_read.c, store_index.c, store_cases.c, the only files with <lmdb.h>):
 * the handle, a queued append and the store__ helpers shared between them.  See store.c for
 * the named databases and their layout.
 */
#ifndef LEDGER_STORE_INT_H
#define LEDGER_STORE_INT_H

#include "ledger/ledger.h"

#include <lmdb.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>

/* While producers are at work (ledger_produce_begin) the sequencer holds a batch
 * until it has this many entries, or its oldest is STORE_HOLD_WINDOWS batch
 * windows old (store_seq.c; measured with RSA-2048 at 64 connections, ~8 and
 * 16 leaves a batch: 5,390-5,514 and 5,719-6,019 tokens/s; 32: 5,892). */
#define STORE_HOLD_ENTRIES 16u
#define STORE_HOLD_WINDOWS 4u

/* A write transaction keeps its dirty pages in memory: cap the bytes per batch. */
#define STORE_BATCH_BYTES_MAX ((size_t)64 << 20)

/* One queued append; the leaf and metadata bytes follow the struct. */
typedef struct store_entry {
    ledger_done_fn fn;
    void *ctx;
    uint64_t enqueued_ns;
    uint64_t gen_ns; /* genTime of the leaf's token (0 = not given) */
    record_alg alg;
    const uint8_t *digest; /* points into leaf */
    size_t digest_len;
    int has_metadata;
    const uint8_t *owner; /* owner_len bytes after the metadata; 0 = none */
    size_t owner_len;
    const uint8_t *leaf;
    size_t leaf_len;
    const uint8_t *meta;
    size_t meta_len;
    size_t bytes;            /* leaf_len + meta_len, for the queue's byte bound */
    const uint8_t *case_rec; /* store__case_encode's record after the owner; NULL = none */
    size_t case_rec_len;
    /* RFC 6962 hash of the leaf, computed by the appending thread: the sequencer is the one
     * serial stage, and the hash (of ~1.6 KB) does not depend on the leaf's position. */
    uint8_t leaf_hash[MERKLE_HASH_SIZE];
} store_entry;

typedef struct store_index store_index; /* store_index.c */

struct ledger {
    int readonly; /* opened by ledger_open_readonly: no sequencer, no lock, no key */
    int restore;  /* opts->restore: leaves may come without their metadata */
    int lock_fd;  /* flock'd "sequencer.lock": one sequencer per ledger; -1 when read-only */
    MDB_env *env;
    MDB_dbi db_leaves, db_metadata, db_nodes, db_digests, db_checkpoints, db_meta;
    MDB_dbi db_owners;
    int has_owners; /* 0: a reader of a ledger written before "owners" existed */
    MDB_dbi db_cases, db_case_events, db_case_keys; /* store_cases.c */
    int has_cases; /* 0: a reader of a ledger written before cases existed */
    /* The digest index's environment and thread (store_index.c); NULL in a read-only
     * handle of a ledger whose index is still the main environment's "digests". */
    store_index *index;
    char *origin;
    EVP_PKEY *key;
    unsigned batch_max;
    uint64_t window_ns;
    uint64_t gap_ns;  /* end the batch window early after this long without a new entry */
    uint64_t hold_ns; /* the longest a batch is held for producers at work */
    size_t queue_max;
    size_t queue_bytes_max;

    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* the sequencer waits here for entries or close */
    pthread_t thread;
    int thread_started;
    /* Everything below up to `frontier` is guarded by mu. */
    store_entry **ring;
    size_t ring_head, ring_count, ring_bytes;
    uint64_t last_enqueue_ns;
    int closing;
    int full;
    uint64_t full_retry_ns;    /* the current back-off while full */
    uint64_t full_retry_at_ns; /* monotonic time at which the next probe may go in */
    uint64_t full_retry_min_ns, full_retry_max_ns;
    int fatal; /* a negative code once the in-memory frontier could not be rebuilt */
    uint64_t size;
    uint8_t root[MERKLE_HASH_SIZE];
    uint64_t gen_hw_ns; /* committed genTime high-water mark */
    uint64_t batches, appends_failed;
    uint64_t commit_buckets[LEDGER_COMMIT_BUCKETS + 1], commit_sum_ns; /* ledger_info's */
    uint64_t batch_since_ns; /* enqueue time of the oldest entry of the batch being written */
    size_t last_batch_n;     /* entries in the last batch written (adaptive group commit) */
    /* ledger_produce_begin/end: producers at work, whether any ever said so, and whether
     * the sequencer waits for them (outside mu: the producers touch them per request). */
    atomic_uint producing;
    atomic_int announced;
    atomic_int seq_waiting;
    char last_error[256];

    /* Owned by the sequencer thread alone (and by ledger_open before it starts). */
    merkle_frontier frontier;
    store_entry **batch;
};

/* On an LMDB error: error = store__err(rc, what) and goto done. */
#define STORE_MDB(expr, what)                                                                      \
    do {                                                                                           \
        int mdb_rc_ = (expr);                                                                      \
        if (mdb_rc_ != 0) {                                                                        \
            error = store__err(mdb_rc_, (what));                                                   \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

typedef struct store_hash_ctx {
    MDB_txn *txn;
    ledger *l;
} store_hash_ctx;

/* ------------------------------------------------------------------ store.c */

/* An LMDB return code as an NT_E* code with an error message naming `what`. */
int store__err(int rc, const char *what);

/* An MDB_val over p[0..len) (LMDB does not write through it). */
MDB_val store__val(const void *p, size_t len);

/* A read transaction (NT_EBUSY when a writer of another process enlarged the map). */
int store__read_begin(MDB_txn **out, ledger *l);

/* Store one "meta" DB value. */
int store__meta_put(MDB_txn *txn, ledger *l, const char *name, const void *data, size_t len);

/* The committed head as stored: size and root. */
int store__head_read(uint64_t *size_out, uint8_t root_out[MERKLE_HASH_SIZE], MDB_txn *txn,
                     ledger *l);

/* merkle_hash_fn over one transaction. */
int store__hash_read(uint8_t out[MERKLE_HASH_SIZE], void *ctx, unsigned level, uint64_t index);

/* merkle_node_fn: persist every subtree an append completes. */
int store__hash_write(void *ctx, unsigned level, uint64_t index,
                      const uint8_t hash[MERKLE_HASH_SIZE]);

/* Rebuild the frontier for the stored head and check it against the stored root. */
int store__frontier_verify(merkle_frontier *f, uint8_t root_out[MERKLE_HASH_SIZE],
                           uint64_t *size_out, MDB_txn *txn, ledger *l);

/* Sign the checkpoint of (size, root) with the ledger's key and store it. */
int store__checkpoint_put(MDB_txn *txn, ledger *l, uint64_t size,
                          const uint8_t root[MERKLE_HASH_SIZE]);

/* The stored checkpoint note of tree size `size` (NT_ENOTFOUND when none). */
int store__checkpoint_read(nt_buf *out, MDB_txn *txn, ledger *l, uint64_t size);

/* The genTime high-water mark; 0 when none is stored. */
int store__gen_hw_read(uint64_t *out, MDB_txn *txn, ledger *l);

/* ------------------------------------------------------------------ store_seq.c */

/* The sequencer thread (started by ledger_open): `arg` is the ledger. */
void *store__sequencer_main(void *arg);

/* ledger_append_full_async with a case record (store__case_encode's bytes, copied; empty =
 * none) that the batch writes with store__case_put. */
int store__append(ledger *l, nt_bytes leaf, nt_bytes metadata, nt_bytes owner, uint64_t gen_time_ns,
                  nt_bytes case_rec, ledger_done_fn fn, void *ctx);

/* ------------------------------------------------------------------ store_cases.c */

/* Open the three case databases (create: MDB_CREATE for the writer, 0 for a reader, who
 * then sees has_cases 0 on a ledger written before cases existed). */
int store__cases_open(MDB_txn *txn, ledger *l, unsigned create);

/* In the batch's write transaction, for the leaf at `index`: check the case record against
 * the stored head (next seq, prev, not sealed, event key unused, genTime not below the
 * head's) and write the head, the event and the event key.  Any failure aborts the batch. */
int store__case_put(MDB_txn *txn, ledger *l, nt_bytes case_rec, uint64_t index,
                    const uint8_t leaf_hash[MERKLE_HASH_SIZE], uint64_t gen_ns);

/* ------------------------------------------------------------------ store_index.c */

/* Open (creating) the digest index of a writer, move an old index over, index the
 * leaves up to l->size that it lacks, and start its thread. */
int store__index_open(ledger *l, const char *ledger_dir, size_t map_size);

/* Open the digest index for reading, when a writer of this version made one. */
int store__index_open_readonly(ledger *l, const char *ledger_dir);

/* Write what is queued, stop the thread, close (no-op when there is no index). */
void store__index_close(ledger *l);

/* Queue the digests of a committed batch whose first leaf is `first`. */
void store__index_push(ledger *l, store_entry *const *batch, size_t n, uint64_t first);

/* The indexes >= from of the leaves whose alg byte || digest is key[0..klen), at most
 * max, ascending, in *out (freed by the caller; NULL when none).  main_txn: a read
 * transaction of the main environment, needed by a read-only handle (l->readonly):
 * it reads the old "digests" when there is no index/, and the leaves not indexed yet. */
int store__index_find(uint64_t **out, size_t *count_out, ledger *l, MDB_txn *main_txn,
                      const uint8_t *key, size_t klen, uint64_t from, size_t max);

/* For a snapshot (a check): the queue written first (two index transactions at most), then a read
 * transaction of the index (*itxn, NULL when there is no index/) and its "upto". */
int store__index_snap_begin(MDB_txn **itxn, uint64_t *upto, ledger *l);

/* 0 when leaf `index` is in the index under key, or (a read-only handle) at or above
 * upto, not indexed yet; NT_ENOTFOUND when it is missing.  main_txn, itxn and upto:
 * the snapshot's; *cur: its cursor (NULL at first, opened here, closed by the caller). */
int store__index_has(ledger *l, MDB_cursor **cur, MDB_txn *main_txn, MDB_txn *itxn, uint64_t upto,
                     const uint8_t *key, size_t klen, uint64_t index);

#endif
