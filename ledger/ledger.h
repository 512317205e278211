/*
 * ledger.h - the append-only ledger: leaves in LMDB, appended by one
 * sequencer thread that group-commits, signed checkpoints, proofs, lookups by
 * digest, and receipts.  Builds on the pure nt_merkle library (merkle.h,
 * record.h, note.h, receipt.h, event.h); store.c, store_seq.c, store_read.c and
 * store_cases.c are the only files that include <lmdb.h>.
 *
 * Durability: an append's callback runs only after the write transaction that
 * holds its leaf, every completed subtree hash, the new tree head and the
 * checkpoint signed for it has been committed with fsync.  A crash at any
 * instant leaves the state of the last committed batch.
 *
 * Thread safety: every function may be called from any thread once
 * ledger_open (or ledger_open_readonly) has returned; reads use their own LMDB read transactions
 * and never wait for the sequencer.
 */
#ifndef LEDGER_LEDGER_H
#define LEDGER_LEDGER_H

#include "ledger/merkle.h"
#include "ledger/note.h"
#include "ledger/receipt.h"
#include "ledger/record.h"
#include "util/util.h"

#include <openssl/evp.h>

typedef struct ledger ledger;

typedef struct ledger_options {
    const char *path;         /* directory of the LMDB environment (created if missing) */
    size_t map_size;          /* LMDB map size in bytes; 0 = 64 GiB */
    const char *origin;       /* checkpoint origin line / log key name */
    EVP_PKEY *log_key;        /* Ed25519 signing key; ledger_open takes its own reference */
    unsigned batch_max;       /* leaves per write transaction at most; 0 = 512 */
    unsigned batch_window_us; /* how long the sequencer waits to fill a batch; 0 = 1000; the wait
                                 ends early once no append arrived for window/20 (>= 20 us),
                                 and a lone append after a lone batch does not wait at all;
                                 producers at work hold it up to 4 windows
                                 (ledger_produce_begin), see docs/PERFORMANCE.md "Ledger" */
    unsigned queue_max;       /* queued appends at most before NT_EBUSY; 0 = 8192 */
    int no_sync;              /* 1 = MDB_NOSYNC: benchmarks only, never the default */
    size_t queue_bytes_max; /* queued leaf + metadata bytes at most before NT_EBUSY; 0 = 256 MiB */
    unsigned full_retry_ms; /* after a batch failed with NT_EFULL, appends are refused for this
                               long, then one probe is let through; the back-off doubles with
                               every failed probe up to 30 s; 0 = 1000 */
    int restore;            /* 1 = rebuilding from the mirror (mirror_restore) only: every
                               append must come without metadata, and a leaf that commits
                               to metadata is stored with its metadata marked missing */
} ledger_options;

/*
 * Open (creating if needed) the ledger at opts->path and start its sequencer.
 * On open it checks the stored head: the root recomputed from the stored
 * subtree hashes must equal the stored root, and the leaves must end at the
 * stored size (NT_ECORRUPT otherwise), and the origin must match the stored
 * one (NT_EINVAL).  An empty ledger gets a signed checkpoint of size 0.
 * Other codes: NT_EINVAL for bad options (no path, origin not a valid key
 * name, key not Ed25519), NT_EBUSY when the ledger is already open (in this
 * or another process: one sequencer per ledger), NT_EUNSUPPORTED for an
 * unknown store format version, NT_EIO / NT_ENOMEM.  The returned handle is
 * freed by ledger_close.
 */
int ledger_open(ledger **out, const ledger_options *opts);

/*
 * Open an existing ledger at opts->path for reading only, while another
 * process (the server) may hold it with ledger_open and keep appending.  No
 * sequencer, no "sequencer.lock", no signing key (opts->log_key and the
 * batch / queue / map options are ignored); the LMDB environment is opened
 * MDB_RDONLY with the map size its writer stored.  The stored head is
 * checked as ledger_open checks it, and the origin must match (NT_EINVAL).
 * Every read function works and each read sees the latest batch committed
 * when it began (ledger_info_get reports the committed head; queue_depth,
 * batches and appends_failed are 0); ledger_append_async and ledger_append
 * return NT_ESTATE.  Codes: NT_ENOTFOUND when opts->path holds no ledger
 * (missing directory or data.mdb, or not our format), NT_EINVAL for a bad
 * path or origin, NT_ECORRUPT, NT_EUNSUPPORTED, NT_EIO (e.g. lock.mdb not
 * writable: LMDB readers register in it).  A read returns NT_EBUSY if the
 * writer was restarted with a larger map since: close and reopen.  lmdb.h
 * forbids opening one environment twice in a process, so do not combine
 * this with ledger_open on the same path in one process.  Freed by
 * ledger_close; thread safety as for ledger_open.
 */
int ledger_open_readonly(ledger **out, const ledger_options *opts);

/* Stop accepting appends, finish queued ones, stop the sequencer, close (a read-only
 * handle: just close).  NULL ok. */
void ledger_close(ledger *l);

/*
 * Called once per append from the sequencer thread: error 0 and the leaf's
 * index after the durable commit, or a negative code (NT_EFULL when the map is
 * full, NT_EIO, NT_ESTATE when closing) and nothing written.  Must not block.
 */
typedef void (*ledger_done_fn)(void *ctx, int error, uint64_t index);

/*
 * Queue a leaf (and its metadata bytes, which may be empty) for appending.
 * Both are copied.  NT_EBUSY (callback not called) when the queue is full;
 * NT_ESTATE when the ledger is closing; NT_EFULL while the store is known to
 * be full: after a batch failed for lack of space (LMDB map full, or ENOSPC
 * from the file system) appends are refused for a back-off (full_retry_ms,
 * doubling to 30 s), then one append goes in as a probe; the first batch that
 * commits clears the state, so freed disk space needs no restart.  The leaf must decode with
 * record_decode (NT_EINVAL otherwise), and the metadata must match it: when the record has
 * metadata, SHA-256 of `metadata` must equal its metadata hash; when it has none, `metadata` must
 * be empty (NT_EINVAL otherwise).  On any non-zero return the callback is
 * never called; on 0 it is called exactly once.
 */
int ledger_append_async(ledger *l, nt_bytes leaf, nt_bytes metadata, ledger_done_fn fn, void *ctx);

/* Longest owner label ledger_append_full_async takes, bytes. */
#define LEDGER_OWNER_MAX 64

/*
 * ledger_append_async with what the ledger keeps beside the leaf, outside it:
 *
 * - `owner` (0..LEDGER_OWNER_MAX opaque bytes; the server gives the API key
 *   id that wrote an evidence record) is committed in the same write
 *   transaction, in no hash, no checkpoint and no mirror, so the leaf bytes do
 *   not depend on it.  Empty = no owner.  NT_EINVAL for an over-long owner.
 * - `gen_time_ns`, the genTime of the leaf's token (nanoseconds since the Unix
 *   epoch; 0 = unknown): the ledger's durable genTime high-water mark
 *   (ledger_info.gen_time_hw_ns) is raised to it in the same write
 *   transaction as the leaf.  Leaves are committed in queue order, which
 *   under concurrency is not genTime order: the mark is the maximum.
 *
 * ledger_append_async(l, leaf, metadata, fn, ctx) is this with no owner and 0.
 */
int ledger_append_full_async(ledger *l, nt_bytes leaf, nt_bytes metadata, nt_bytes owner,
                             uint64_t gen_time_ns, ledger_done_fn fn, void *ctx);

/*
 * A producer says when it is at work on an append (ledger_produce_begin:
 * signing the token whose leaf follows, say) and when it is done
 * (ledger_produce_end: its append is queued, or given up).  Once any producer
 * has said so, the group commit keeps a batch open while one is at work
 * until it has 16 appends or its oldest is 4 x batch_window_us old, where it
 * would otherwise end the batch at the first pause between appends
 * (batch_window_us / 20, at least 20 us) or after one window: under load
 * with slow signatures (RSA, ~0.3 ms) batches grow and the commit's fixed
 * cost is paid less often.  With none at work the pause ends the batch as
 * before, and a lone append with no other producer at work still goes at
 * once.  The calls pair, from any thread.
 */
void ledger_produce_begin(ledger *l);
void ledger_produce_end(ledger *l);

/* Blocking form of ledger_append_async, for tools and tests: returns once the leaf is
 * durably committed (0 and *index_out set) or the append failed (its code).  Must not be
 * called from a ledger_done_fn. */
int ledger_append(uint64_t *index_out, ledger *l, nt_bytes leaf, nt_bytes metadata);
/* The same for ledger_append_full_async (owner, genTime): the server's own leaves that must be
 * committed before it answers (certificate leaves, a preservation certificate's token). */
int ledger_append_full(uint64_t *index_out, ledger *l, nt_bytes leaf, nt_bytes metadata,
                       nt_bytes owner, uint64_t gen_time_ns);

/* The commit-duration histogram of ledger_info: upper bounds in ns (+Inf implicit). */
#define LEDGER_COMMIT_BUCKETS 12
extern const uint64_t ledger_commit_bounds_ns[LEDGER_COMMIT_BUCKETS];

typedef struct ledger_info {
    uint64_t size;              /* committed leaves */
    uint8_t root[32];           /* root of the committed tree */
    uint64_t gen_time_hw_ns;    /* the largest genTime ever committed with a timed append (ns since
                                   the epoch); 0 when none (or a ledger older than the mark) */
    uint64_t queue_depth;       /* appends waiting */
    uint64_t batches;           /* write transactions committed since open */
    uint64_t appends_failed;    /* appends that failed since open */
    size_t map_size;            /* bytes */
    size_t map_used;            /* bytes in use (last page number * page size) */
    int full;                   /* 1 after a map-full or disk-full failure, until a batch commits
                                   again (ledger_append_async retries with back-off) */
    uint64_t full_retry_in_ms;  /* while full: time until the next probe may go in (0 = now or
                                   a probe is in flight) */
    uint64_t oldest_pending_ns; /* nt_mono_ns() when the oldest append not yet answered was
                                   queued (queued or in the commit now running); 0 = none */
    /* How long the committed batches took to write (leaves, tree, checkpoint, both fsyncs),
     * since open: per bucket of ledger_commit_bounds_ns (not cumulative), and their sum. */
    uint64_t commit_buckets[LEDGER_COMMIT_BUCKETS + 1];
    uint64_t commit_sum_ns;
} ledger_info;

/* On a ledger opened with ledger_open it takes no LMDB transaction and never waits for a
 * commit in progress (it answers from what the sequencer publishes), so it is safe for
 * health checks on a stalled disk; a read-only handle reads the head in a transaction. */
int ledger_info_get(ledger_info *out, ledger *l);

/* The origin string.  Borrowed, valid until ledger_close. */
const char *ledger_origin(const ledger *l);

/* The latest signed checkpoint note (replaces out's contents). */
int ledger_checkpoint_latest(nt_buf *out, ledger *l);
/* The signed checkpoint stored for exactly `size` (every committed batch stores one); NT_ENOTFOUND.
 */
int ledger_checkpoint_at(nt_buf *out, ledger *l, uint64_t size);

/* Leaf bytes and (if metadata_out is not NULL) metadata bytes of leaf `index`; NT_ENOTFOUND. */
int ledger_leaf_get(nt_buf *leaf_out, nt_buf *metadata_out, ledger *l, uint64_t index);

/*
 * The owner recorded for leaf `index` by ledger_append_full_async (replaces
 * owner_out's contents).  NT_ENOTFOUND when none was recorded (appended
 * without an owner, or by a version that kept none).
 */
int ledger_owner_get(nt_buf *owner_out, ledger *l, uint64_t index);

/* Hash of the complete subtree at `level` covering [index << level, (index+1) << level);
 * NT_ENOTFOUND. */
int ledger_hash_get(uint8_t out[32], ledger *l, unsigned level, uint64_t index);

/* RFC 9162 proofs against committed sizes (replace out's contents); NT_EINVAL for bad sizes. */
int ledger_proof_inclusion(nt_buf *out, ledger *l, uint64_t index, uint64_t size);
int ledger_proof_consistency(nt_buf *out, ledger *l, uint64_t from, uint64_t to);

/*
 * Indexes of the leaves whose digest is (alg, digest), ascending, at most
 * `max`.  *indexes_out is allocated (free with nt_free), NULL when none; no
 * match is not an error (0 with *count_out 0).  NT_EINVAL for an empty or
 * over-long digest.
 */
int ledger_find_digest(uint64_t **indexes_out, size_t *count_out, ledger *l, record_alg alg,
                       nt_bytes digest, size_t max);

/*
 * ledger_find_digest from a position: only indexes >= `from`.  The lookup
 * seeks to `from` in the digest index (no scan of the earlier matches), so
 * its work is bounded by `max` whatever the number of matches: page through
 * them with from = last index returned + 1.
 */
int ledger_find_digest_from(uint64_t **indexes_out, size_t *count_out, ledger *l, record_alg alg,
                            nt_bytes digest, uint64_t from, size_t max);

/*
 * Fill a receipt for leaf `index` proven against the latest checkpoint
 * (everything but `certs`, which the caller adds).  `r` must be initialised;
 * its buffers are replaced.  A leaf restored from the mirror whose metadata
 * was lost gets has_metadata 0 and metadata_missing 1.  NT_ENOTFOUND when the
 * leaf is not committed.
 */
int ledger_receipt_fill(receipt *r, ledger *l, uint64_t index);

/*
 * Whole-ledger integrity check (check.c), for `notarium ledger check` and
 * `serve --check-ledger`.  In one read transaction (so it runs beside a
 * live writer, also through a ledger_open_readonly handle) it streams every
 * leaf and: decodes it; recomputes its leaf hash and, with a Merkle frontier,
 * every complete subtree hash, each compared with the stored one; checks the
 * stored metadata against the leaf's metadata hash (and that leaves without
 * metadata have none); checks the digest index entry; then the stored head
 * (size, and root against the root recomputed from the leaves), the number of
 * stored subtree hashes, that no checkpoint is stored beyond the head, and the
 * head's checkpoint: signature, origin, size and root (every stored
 * checkpoint with all_checkpoints).  Cost:
 * one pass over the leaves, O(1) lookups per leaf (docs/PERFORMANCE.md).
 */
typedef struct ledger_check_options {
    const note_verifier *log_vkey; /* the log's key: checkpoint signatures; required */
    int all_checkpoints;           /* 1 = check every stored checkpoint (signature, size, root),
                                      not only the head's (one Ed25519 verification per batch) */
    size_t max_problems;           /* problems kept in the result (all are counted); 0 = 20 */
    /* Called every 65,536 leaves and at the end, from the calling thread; may be NULL. */
    void (*progress)(void *ctx, uint64_t leaves_done, uint64_t leaves_total);
    void *progress_ctx;
} ledger_check_options;

typedef struct ledger_check_problem {
    char what[16];     /* "leaf", "metadata", "subtree", "digest-index", "head", "checkpoint" */
    unsigned level;    /* subtree level ("subtree"; 0 otherwise) */
    uint64_t index;    /* leaf index, subtree index at `level`, or a tree size ("head",
                          "checkpoint") */
    char message[256]; /* what is wrong, with the index and the values found */
} ledger_check_problem;

typedef struct ledger_check_result {
    uint64_t size;                  /* the stored head's tree size */
    uint64_t leaves, metadata;      /* rows read */
    uint64_t subtrees;              /* stored subtree hashes compared */
    uint64_t checkpoints;           /* checkpoints checked (signature, size, root) */
    uint64_t problem_count;         /* all problems found; 0 = the ledger is intact */
    size_t kept;                    /* problems[0 .. kept): the first ones, in scan order */
    ledger_check_problem *problems; /* owned; ledger_check_result_dispose frees it */
} ledger_check_result;

/*
 * Run the check.  0 when it ran to the end, whatever it found (see
 * out->problem_count); a negative code when it could not (NT_EINVAL without a
 * vkey, NT_EIO / NT_ENOMEM / NT_EBUSY from the store).  `out` is overwritten;
 * dispose it in both cases.
 */
int ledger_check(ledger_check_result *out, ledger *l, const ledger_check_options *opts);
void ledger_check_result_dispose(ledger_check_result *r);

/* ------------------------------------------------------------------ cases (issue 11) */

/*
 * A case is the chain of events one tenant appends under one case id
 * (ledger/event.h, docs/FORMATS.md "Case events").  Beside each event's leaf
 * (record kind 0x03, its body as metadata, the tenant as owner) the ledger
 * keeps, in the SAME write transaction as the leaf, so that a crash can never
 * leave one without the other:
 *
 * - the case's head: last seq, last leaf index and leaf hash, sealed, last genTime;
 * - the event list: seq -> leaf index;
 * - the event key: (tenant, case, event key) -> seq and the hash of the request
 *   (idempotent retries; the server decides what the hash covers).
 *
 * The write transaction checks the record against the stored head before it
 * writes anything: seq must be head.seq + 1 (1 for a new case), prev the
 * head's leaf hash, the case not sealed, the event key unused, genTime not
 * below the head's.  A record that fails fails its whole batch (every append
 * of the batch gets the error, nothing is written) -- the caller is expected
 * to serialise the appends of one case (the server does: tsa/server_cases.c),
 * so this is a guard, not a path taken in normal operation.
 */
#define LEDGER_EVENT_KEY_MAX 128 /* bytes of an event key */

typedef struct ledger_case_append {
    const char *tenant;       /* 1..64 bytes, no NUL */
    const char *case_id;      /* 1..128 bytes */
    const char *event_key;    /* 1..LEDGER_EVENT_KEY_MAX bytes */
    uint64_t seq;             /* 1.. */
    const uint8_t *prev;      /* 32 bytes, the leaf hash of seq - 1; NULL iff seq == 1 */
    int seals;                /* 1: this event (case.completed) seals the case */
    uint8_t request_hash[32]; /* stored with the event key, returned by ledger_case_key_get */
} ledger_case_append;

/*
 * Queue a case event: `leaf` (kind 0x03), `body` its metadata (the event
 * body), owner = c->tenant, gen_time_ns as ledger_append_full_async; the
 * case records are written with the leaf (above).  NT_EINVAL for a bad
 * record (lengths, prev given iff seq > 1) or a leaf that is not kind 0x03;
 * otherwise as ledger_append_full_async.  `c` is copied.
 */
int ledger_append_case_async(ledger *l, nt_bytes leaf, nt_bytes body, const ledger_case_append *c,
                             uint64_t gen_time_ns, ledger_done_fn fn, void *ctx);

typedef struct ledger_case_head {
    uint64_t seq;          /* events in the case (the last seq) */
    uint64_t last_index;   /* leaf index of the last event */
    uint8_t last_hash[32]; /* its leaf hash (the next event's prev) */
    int sealed;            /* the last event sealed the case */
    uint64_t gen_time_ns;  /* genTime of the last event's token, ns since the epoch */
} ledger_case_head;

/* The committed head of (tenant, case_id); NT_ENOTFOUND when the case has no event. */
int ledger_case_head_get(ledger_case_head *out, ledger *l, const char *tenant, const char *case_id);

/*
 * Leaf indexes of the events from_seq, from_seq + 1, ... of the case, at most
 * `max`, into indexes_out[0 .. *count_out) (seq order).  Fewer when the case
 * has fewer; none is not an error.  from_seq >= 1.
 */
int ledger_case_events(uint64_t *indexes_out, size_t *count_out, ledger *l, const char *tenant,
                       const char *case_id, uint64_t from_seq, size_t max);

/* The seq and request hash stored for an event key of the case; NT_ENOTFOUND when unused. */
int ledger_case_key_get(uint64_t *seq_out, uint8_t hash_out[32], ledger *l, const char *tenant,
                        const char *case_id, const char *event_key);

/*
 * The evidence bundle of a case (docs/FORMATS.md "Evidence bundle"), its
 * whole text (pretty-printed JSON, final newline) into *out (replaced): every
 * event of the case with its leaf, token, body and inclusion proof against
 * the latest checkpoint (an event is committed with a checkpoint that holds
 * it, so the latest always holds every event read); certificates: `certs`
 * (the server passes its TSA chain; may be 0 of them) and every certificate
 * the tokens carry, de-duplicated, in that order.  NT_ENOTFOUND when the
 * case has no event; NT_ECORRUPT when a case record and its leaf disagree.
 * Works on a read-only handle (notarium case export).
 */
int ledger_case_bundle(nt_buf *out, ledger *l, const char *tenant, const char *case_id,
                       const nt_bytes *certs, size_t cert_count);

#endif
