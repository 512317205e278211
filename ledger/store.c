/*
 * store.c - the ledger's LMDB store and its sequencer (implements
 * ledger/ledger.h).  It is the only file of the project that includes
 * <lmdb.h>: every LMDB code is translated to an NT_E* code here.  One
 * sequencer thread takes queued appends in batches and writes each batch in
 * one write transaction (leaves, metadata, digest index, every subtree hash
 * the batch completes, the new head and a checkpoint signed for it); the
 * append callbacks run only after that transaction is committed with fsync.
 * Readers use their own read transactions and never wait for the sequencer.
 * ledger_open_readonly gives a handle without sequencer or lock, so that
 * another process (the CLI) can read a ledger the server holds: LMDB lets
 * readers of other processes run beside the one writer.
 *
 * Named databases of the environment (format version 1):
 *   "leaves"      u64be index                   -> leaf bytes
 *   "metadata"    u64be index                   -> metadata bytes (leaves that have any)
 *   "owners"      u64be index                   -> who appended the leaf (ledger_append_full_async)
 *   "nodes"       level byte || u64be index     -> 32-byte complete-subtree hash
 *   "digests"     alg byte || digest            -> u64be index (DUPSORT|DUPFIXED)
 *   "checkpoints" u64be tree size               -> signed checkpoint note
 *   "meta"        "version" (u32be) "origin" "size" (u64be) "root" (32 bytes)
 *                 "gentime" (u64be ns, the genTime high-water mark; absent before any
 *                 timed append, and in ledgers written before it existed)
 * A leaf that commits to metadata but has no "metadata" entry had its metadata
 * lost: only a restore (opts->restore) writes such leaves.
 */
#include "ledger/ledger.h"
#include "ledger/ledger_int.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORE_FORMAT_VERSION 1u
#define STORE_DEFAULT_MAP_SIZE ((size_t)64 << 30)
#define STORE_DEFAULT_BATCH_MAX 512u
#define STORE_DEFAULT_WINDOW_US 1000u
#define STORE_DEFAULT_QUEUE_MAX 8192u
#define STORE_DEFAULT_QUEUE_BYTES ((size_t)256 << 20)
/* A write transaction keeps its dirty pages in memory: cap the bytes per batch. */
#define STORE_BATCH_BYTES_MAX ((size_t)64 << 20)
#define STORE_MAX_READERS 1024u
#define STORE_MIN_GAP_NS 20000u
#define STORE_NODE_KEY_SIZE 9
/* While the store is full, one probe batch is let through after this back-off,
 * doubling up to STORE_FULL_RETRY_MAX_MS (see ledger_append_async). */
#define STORE_FULL_RETRY_MS 1000u
#define STORE_FULL_RETRY_MAX_MS 30000u

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
    size_t bytes; /* leaf_len + meta_len, for the queue's byte bound */
} store_entry;

struct ledger {
    int readonly; /* opened by ledger_open_readonly: no sequencer, no lock, no key */
    int restore;  /* opts->restore: leaves may come without their metadata */
    int lock_fd;  /* flock'd "sequencer.lock": one sequencer per ledger; -1 when read-only */
    MDB_env *env;
    MDB_dbi db_leaves, db_metadata, db_nodes, db_digests, db_checkpoints, db_meta;
    MDB_dbi db_owners;
    int has_owners; /* 0: a reader of a ledger written before "owners" existed */
    char *origin;
    EVP_PKEY *key;
    unsigned batch_max;
    uint64_t window_ns;
    uint64_t gap_ns; /* end the batch window early after this long without a new entry */
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
    uint64_t batch_since_ns; /* enqueue time of the oldest entry of the batch being written */
    char last_error[256];

    /* Owned by the sequencer thread alone (and by ledger_open before it starts). */
    merkle_frontier frontier;
    store_entry **batch;
};

/* ------------------------------------------------------------------ LMDB codes */

static int store_err(int rc, const char *what)
{
    switch (rc) {
    case MDB_MAP_FULL:
        return nt_error_set(NT_EFULL, "%s: LMDB map full", what);
    case ENOSPC:
        return nt_error_set(NT_EFULL, "%s: no space left on device", what);
    case MDB_NOTFOUND:
        return nt_error_set(NT_ENOTFOUND, "%s: not found", what);
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_INCOMPATIBLE:
    case MDB_KEYEXIST:
        return nt_error_set(NT_ECORRUPT, "%s: %s", what, mdb_strerror(rc));
    case MDB_VERSION_MISMATCH:
        return nt_error_set(NT_EUNSUPPORTED, "%s: %s", what, mdb_strerror(rc));
    case MDB_READERS_FULL:
    case MDB_MAP_RESIZED:
        return nt_error_set(NT_EBUSY, "%s: %s", what, mdb_strerror(rc));
    case MDB_TXN_FULL:
    case MDB_BAD_VALSIZE:
        return nt_error_set(NT_ERANGE, "%s: %s", what, mdb_strerror(rc));
    case ENOMEM:
        return nt_error_set(NT_ENOMEM, "%s: %s", what, mdb_strerror(rc));
    default:
        return nt_error_set(NT_EIO, "%s: %s", what, mdb_strerror(rc));
    }
}

#define STORE_MDB(expr, what)                                                                   \
    do {                                                                                        \
        int mdb_rc_ = (expr);                                                                   \
        if (mdb_rc_ != 0) {                                                                     \
            error = store_err(mdb_rc_, (what));                                                 \
            goto done;                                                                          \
        }                                                                                       \
    } while (0)

static MDB_val store_val(const void *p, size_t len)
{
    MDB_val v;
    v.mv_data = (void *)(uintptr_t)p;
    v.mv_size = len;
    return v;
}

static int store_read_begin(MDB_txn **out, ledger *l)
{
    int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, out);
    if (rc != 0) {
        *out = NULL;
        if (rc == MDB_MAP_RESIZED) {
            /* Only a read-only handle sees this: the writer was restarted with a
             * larger map.  Adopting it needs no transaction open in this process,
             * which a shared handle cannot promise: reopen instead. */
            return nt_error_set(NT_EBUSY, "begin read transaction: the ledger's map was "
                                "enlarged by its writer; reopen the ledger");
        }
        return store_err(rc, "begin read transaction");
    }
    return 0;
}

/* ------------------------------------------------------------------ meta DB */

static int store_meta_get(MDB_val *out, MDB_txn *txn, ledger *l, const char *name)
{
    MDB_val k = store_val(name, strlen(name));
    int rc = mdb_get(txn, l->db_meta, &k, out);
    if (rc != 0) {
        return store_err(rc, name);
    }
    return 0;
}

static int store_meta_put(MDB_txn *txn, ledger *l, const char *name, const void *data,
                          size_t len)
{
    MDB_val k = store_val(name, strlen(name));
    MDB_val v = store_val(data, len);
    int rc = mdb_put(txn, l->db_meta, &k, &v, 0);
    if (rc != 0) {
        return store_err(rc, "store tree head");
    }
    return 0;
}

/* The committed head as stored: size and root. */
static int store_head_read(uint64_t *size_out, uint8_t root_out[MERKLE_HASH_SIZE], MDB_txn *txn,
                           ledger *l)
{
    int error = 0;
    MDB_val v;

    NT_TRY(store_meta_get(&v, txn, l, "size"));
    NT_ENSURE(v.mv_size == 8, NT_ECORRUPT, "stored tree size has %zu bytes", v.mv_size);
    *size_out = nt_load_u64be(v.mv_data);
    if (root_out != NULL) {
        NT_TRY(store_meta_get(&v, txn, l, "root"));
        NT_ENSURE(v.mv_size == MERKLE_HASH_SIZE, NT_ECORRUPT, "stored root has %zu bytes",
                  v.mv_size);
        memcpy(root_out, v.mv_data, MERKLE_HASH_SIZE);
    }
done:
    if (error == NT_ENOTFOUND) {
        error = nt_error_set(NT_ECORRUPT, "stored tree head missing");
    }
    return error;
}

/* ------------------------------------------------------------------ subtree hashes */

static void store_node_key(uint8_t key[STORE_NODE_KEY_SIZE], unsigned level, uint64_t index)
{
    key[0] = (uint8_t)level;
    nt_store_u64be(key + 1, index);
}

typedef struct store_hash_ctx {
    MDB_txn *txn;
    ledger *l;
} store_hash_ctx;

/* merkle_hash_fn over one transaction. */
static int store_hash_read(uint8_t out[MERKLE_HASH_SIZE], void *ctx, unsigned level,
                           uint64_t index)
{
    store_hash_ctx *c = ctx;
    uint8_t key[STORE_NODE_KEY_SIZE];
    MDB_val k, v;
    int rc;

    if (level >= MERKLE_MAX_LEVEL) {
        return nt_error_set(NT_EINVAL, "subtree level %u out of range", level);
    }
    store_node_key(key, level, index);
    k = store_val(key, sizeof(key));
    rc = mdb_get(c->txn, c->l->db_nodes, &k, &v);
    if (rc != 0) {
        return store_err(rc, "subtree hash");
    }
    if (v.mv_size != MERKLE_HASH_SIZE) {
        return nt_error_set(NT_ECORRUPT, "subtree hash (%u, %llu) has %zu bytes", level,
                            (unsigned long long)index, v.mv_size);
    }
    memcpy(out, v.mv_data, MERKLE_HASH_SIZE);
    return 0;
}

/* merkle_node_fn: persist every subtree an append completes. */
static int store_hash_write(void *ctx, unsigned level, uint64_t index,
                            const uint8_t hash[MERKLE_HASH_SIZE])
{
    store_hash_ctx *c = ctx;
    uint8_t key[STORE_NODE_KEY_SIZE];
    MDB_val k, v;
    int rc;

    store_node_key(key, level, index);
    k = store_val(key, sizeof(key));
    v = store_val(hash, MERKLE_HASH_SIZE);
    /* A node is written once, when completed; finding it already there means the
     * stored tree and the head disagree. */
    rc = mdb_put(c->txn, c->l->db_nodes, &k, &v, MDB_NOOVERWRITE);
    if (rc != 0) {
        return store_err(rc, "store subtree hash");
    }
    return 0;
}

/* Rebuild the frontier for the stored head and check it against the stored root. */
static int store_frontier_verify(merkle_frontier *f, uint8_t root_out[MERKLE_HASH_SIZE],
                                 uint64_t *size_out, MDB_txn *txn, ledger *l)
{
    int error = 0;
    uint64_t size = 0;
    uint8_t stored[MERKLE_HASH_SIZE], computed[MERKLE_HASH_SIZE];
    store_hash_ctx hc = {txn, l};

    NT_TRY(store_head_read(&size, stored, txn, l));
    error = merkle_frontier_load(f, store_hash_read, &hc, size);
    if (error == NT_ENOTFOUND) {
        error = nt_error_set(NT_ECORRUPT, "a subtree hash of the stored tree (size %llu) is "
                             "missing", (unsigned long long)size);
    }
    NT_TRY(error);
    merkle_frontier_root(computed, f);
    NT_ENSURE(memcmp(computed, stored, MERKLE_HASH_SIZE) == 0, NT_ECORRUPT,
              "stored root does not match the root recomputed from the stored subtree hashes "
              "(tree size %llu)", (unsigned long long)size);
    memcpy(root_out, stored, MERKLE_HASH_SIZE);
    *size_out = size;
done:
    return error;
}

/* ------------------------------------------------------------------ checkpoints */

static int store_checkpoint_put(MDB_txn *txn, ledger *l, uint64_t size,
                                const uint8_t root[MERKLE_HASH_SIZE])
{
    int error = 0;
    checkpoint c;
    nt_buf note = NT_BUF_INIT;
    uint8_t key[8];
    MDB_val k, v;
    int rc;

    memset(&c, 0, sizeof(c));
    memcpy(c.origin, l->origin, strlen(l->origin) + 1);
    c.size = size;
    memcpy(c.root, root, MERKLE_HASH_SIZE);
    NT_TRY(checkpoint_sign(&note, &c, l->key));
    nt_store_u64be(key, size);
    k = store_val(key, sizeof(key));
    v = store_val(note.ptr, note.len);
    rc = mdb_put(txn, l->db_checkpoints, &k, &v, 0);
    STORE_MDB(rc, "store checkpoint");
done:
    nt_buf_dispose(&note);
    return error;
}

static int store_checkpoint_read(nt_buf *out, MDB_txn *txn, ledger *l, uint64_t size)
{
    int error = 0;
    uint8_t key[8];
    MDB_val k, v;
    int rc;

    nt_store_u64be(key, size);
    k = store_val(key, sizeof(key));
    rc = mdb_get(txn, l->db_checkpoints, &k, &v);
    if (rc == MDB_NOTFOUND) {
        return nt_error_set(NT_ENOTFOUND, "no checkpoint stored for tree size %llu",
                            (unsigned long long)size);
    }
    STORE_MDB(rc, "read checkpoint");
    NT_TRY(nt_buf_set(out, v.mv_data, v.mv_size));
done:
    return error;
}

/* ------------------------------------------------------------------ open */

static int store_dbi_open(MDB_dbi *out, MDB_txn *txn, const char *name, unsigned flags)
{
    int rc = mdb_dbi_open(txn, name, flags, out);
    if (rc != 0) {
        return store_err(rc, name);
    }
    return 0;
}

/* Every named database; `create` is MDB_CREATE for the writer, 0 for a reader. */
static int store_dbis_open(MDB_txn *txn, ledger *l, unsigned create)
{
    int error = 0;
    NT_TRY(store_dbi_open(&l->db_leaves, txn, "leaves", create));
    NT_TRY(store_dbi_open(&l->db_metadata, txn, "metadata", create));
    NT_TRY(store_dbi_open(&l->db_nodes, txn, "nodes", create));
    NT_TRY(store_dbi_open(&l->db_digests, txn, "digests", create | MDB_DUPSORT | MDB_DUPFIXED));
    NT_TRY(store_dbi_open(&l->db_checkpoints, txn, "checkpoints", create));
    NT_TRY(store_dbi_open(&l->db_meta, txn, "meta", create));
    /* Added after format version 1 shipped: a reader of an older ledger sees no owners. */
    error = store_dbi_open(&l->db_owners, txn, "owners", create);
    l->has_owners = error == 0;
    if (error == NT_ENOTFOUND && create == 0) {
        error = 0;
    }
done:
    return error;
}

/* The stored format version (found in `v`) and origin must be ours. */
static int store_identity_check(MDB_txn *txn, ledger *l, const MDB_val *version)
{
    int error = 0;
    MDB_val v;
    size_t origin_len = strlen(l->origin);

    NT_ENSURE(version->mv_size == 4, NT_ECORRUPT, "stored format version has %zu bytes",
              version->mv_size);
    NT_ENSURE(nt_load_u32be(version->mv_data) == STORE_FORMAT_VERSION, NT_EUNSUPPORTED,
              "ledger format version %u is not supported (this build reads %u)",
              nt_load_u32be(version->mv_data), STORE_FORMAT_VERSION);
    error = store_meta_get(&v, txn, l, "origin");
    NT_ENSURE(error == 0, NT_ECORRUPT, "stored origin missing");
    NT_ENSURE(v.mv_size == origin_len && memcmp(v.mv_data, l->origin, origin_len) == 0,
              NT_EINVAL, "origin \"%s\" does not match the ledger's stored origin \"%.*s\"",
              l->origin, (int)(v.mv_size > 255 ? 255 : v.mv_size), (const char *)v.mv_data);
done:
    return error;
}

/* The genTime high-water mark; 0 when none is stored. */
static int store_gen_hw_read(uint64_t *out, MDB_txn *txn, ledger *l)
{
    int error = 0;
    MDB_val v;

    *out = 0;
    error = store_meta_get(&v, txn, l, "gentime");
    if (error == NT_ENOTFOUND) {
        return 0;
    }
    NT_TRY(error);
    NT_ENSURE(v.mv_size == 8, NT_ECORRUPT, "stored genTime mark has %zu bytes", v.mv_size);
    *out = nt_load_u64be(v.mv_data);
done:
    return error;
}

/* The leaves must end exactly at the stored size. */
static int store_leaves_check(MDB_txn *txn, ledger *l, uint64_t size)
{
    int error = 0;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc;

    STORE_MDB(mdb_cursor_open(txn, l->db_leaves, &cur), "open leaves cursor");
    rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    if (rc == MDB_NOTFOUND) {
        NT_ENSURE(size == 0, NT_ECORRUPT, "tree size %llu but no leaves stored",
                  (unsigned long long)size);
        goto done;
    }
    STORE_MDB(rc, "read last leaf");
    NT_ENSURE(k.mv_size == 8 && size > 0 && nt_load_u64be(k.mv_data) == size - 1, NT_ECORRUPT,
              "stored leaves do not end at the stored tree size %llu", (unsigned long long)size);
done:
    mdb_cursor_close(cur);
    return error;
}

/* Create the stored state of an empty ledger, or validate the existing one. */
static int store_init(ledger *l)
{
    int error = 0;
    MDB_txn *txn = NULL;
    MDB_val v;
    uint8_t word[8];
    uint8_t root[MERKLE_HASH_SIZE];
    uint64_t size = 0;
    size_t origin_len = strlen(l->origin);

    STORE_MDB(mdb_txn_begin(l->env, NULL, 0, &txn), "begin write transaction");
    NT_TRY(store_dbis_open(txn, l, MDB_CREATE));

    error = store_meta_get(&v, txn, l, "version");
    if (error == NT_ENOTFOUND) {
        /* A new ledger: the empty tree and its signed checkpoint of size 0. */
        error = 0;
        nt_store_u64be(word, STORE_FORMAT_VERSION);
        NT_TRY(store_meta_put(txn, l, "version", word + 4, 4));
        NT_TRY(store_meta_put(txn, l, "origin", l->origin, origin_len));
        nt_store_u64be(word, 0);
        NT_TRY(store_meta_put(txn, l, "size", word, 8));
        merkle_empty_root(root);
        NT_TRY(store_meta_put(txn, l, "root", root, sizeof(root)));
        NT_TRY(store_checkpoint_put(txn, l, 0, root));
        merkle_frontier_init(&l->frontier);
        size = 0;
    } else {
        NT_TRY(error);
        NT_TRY(store_identity_check(txn, l, &v));
        NT_TRY(store_frontier_verify(&l->frontier, root, &size, txn, l));
        NT_TRY(store_leaves_check(txn, l, size));
        NT_TRY(store_gen_hw_read(&l->gen_hw_ns, txn, l));
        nt_store_u64be(word, size);
        v = store_val(word, 8);
        NT_ENSURE(mdb_get(txn, l->db_checkpoints, &v, &v) == 0, NT_ECORRUPT,
                  "no checkpoint stored for the head (size %llu)", (unsigned long long)size);
    }
    STORE_MDB(mdb_txn_commit(txn), "commit");
    txn = NULL;
    l->size = size;
    memcpy(l->root, root, sizeof(root));
done:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return error;
}

static int store_origin_check(const char *origin)
{
    /* The origin names the log key in every checkpoint: the signed-note key name rules. */
    if (origin == NULL) {
        return nt_error_set(NT_EINVAL, "ledger origin: missing");
    }
    return note_name_check(origin, strlen(origin));
}

/*
 * One ledger handle per directory, machine-wide.  Two sequencers would each
 * keep a frontier the other invalidates, and lmdb.h forbids opening one
 * environment twice in a process ("close()ing it breaks flock() advisory
 * locking").  A separate file is locked so that closing it never touches
 * LMDB's own locks on lock.mdb; flock is per open file description, so a
 * second handle in the same process is refused too.
 */
static int store_lock(ledger *l, const char *dir)
{
    int error = 0;
    nt_buf path = NT_BUF_INIT;

    NT_TRY(nt_path_join(&path, dir, "sequencer.lock"));
    l->lock_fd = open(nt_buf_cstr(&path), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    NT_ENSURE(l->lock_fd >= 0, NT_EIO, "%s: %s", nt_buf_cstr(&path), strerror(errno));
    if (flock(l->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        error = nt_error_set(errno == EWOULDBLOCK ? NT_EBUSY : NT_EIO,
                             "%s: the ledger is already open (%s)", dir, strerror(errno));
        goto done;
    }
done:
    nt_buf_dispose(&path);
    return error;
}

/*
 * A data.mdb shorter than the pages its newest meta page says are in use is
 * mapped past its end, and the first read of such a page is SIGBUS, not an
 * error code (a truncated copy or restore, a file system that lost its tail).
 * mdb_env_open reads the two meta pages with pread (and fails cleanly when the
 * file cannot hold them), and mdb_env_info / mdb_env_stat read only those, so
 * this runs before any page of the tree is touched.  LMDB writes a commit's
 * pages before its meta page, so a reader beside a live writer sees a file at
 * least as long.  One caveat: mdb_page_flush skips "loose" pages (allocated
 * and freed within the same transaction, left on the free list unwritten), so
 * if those were a commit's last pages the file could end short of last_pgno
 * though healthy.  Not seen in store_trunc_test (size checked after each of
 * 150 mixed batches); if it ever shows, allow a few pages of slack here.
 */
static int store_file_check(ledger *l, const char *dir)
{
    int error = 0;
    MDB_envinfo ei;
    MDB_stat st;
    struct stat sb;
    int fd = -1;
    uint64_t need;

    STORE_MDB(mdb_env_get_fd(l->env, &fd), "mdb_env_get_fd");
    NT_ENSURE(fstat(fd, &sb) == 0, NT_EIO, "%s/data.mdb: %s", dir, strerror(errno));
    STORE_MDB(mdb_env_info(l->env, &ei), "mdb_env_info");
    STORE_MDB(mdb_env_stat(l->env, &st), "mdb_env_stat");
    need = ((uint64_t)ei.me_last_pgno + 1) * st.ms_psize;
    NT_ENSURE((uint64_t)sb.st_size >= need, NT_ECORRUPT,
              "%s/data.mdb is truncated: the file has %llu bytes but its meta page says %llu "
              "bytes (%llu pages of %u) are in use; restore the ledger (docs/OPERATING.md)",
              dir, (unsigned long long)sb.st_size, (unsigned long long)need,
              (unsigned long long)ei.me_last_pgno + 1, st.ms_psize);
done:
    return error;
}

static void *store_sequencer_main(void *arg);

int ledger_open(ledger **out, const ledger_options *opts)
{
    int error = 0;
    ledger *l = NULL;
    pthread_condattr_t ca;
    int ca_init = 0, mu_init = 0, cv_init = 0;
    unsigned flags = MDB_NOTLS;

    *out = NULL;
    NT_ENSURE(opts != NULL && opts->path != NULL && opts->path[0] != '\0', NT_EINVAL,
              "ledger path missing");
    NT_TRY(store_origin_check(opts->origin));
    NT_ENSURE(opts->log_key != NULL && EVP_PKEY_is_a(opts->log_key, "ED25519"), NT_EINVAL,
              "the ledger's log key must be an Ed25519 key");

    l = nt_calloc(1, sizeof(*l));
    NT_ENSURE(l != NULL, NT_ENOMEM, "out of memory");
    l->lock_fd = -1;
    l->restore = opts->restore;
    l->batch_max = opts->batch_max ? opts->batch_max : STORE_DEFAULT_BATCH_MAX;
    l->window_ns = (uint64_t)(opts->batch_window_us ? opts->batch_window_us
                                                    : STORE_DEFAULT_WINDOW_US) * 1000u;
    l->gap_ns = l->window_ns / 20 > STORE_MIN_GAP_NS ? l->window_ns / 20 : STORE_MIN_GAP_NS;
    l->queue_max = opts->queue_max ? opts->queue_max : STORE_DEFAULT_QUEUE_MAX;
    l->queue_bytes_max = opts->queue_bytes_max ? opts->queue_bytes_max
                                               : STORE_DEFAULT_QUEUE_BYTES;
    l->full_retry_min_ns = (uint64_t)(opts->full_retry_ms ? opts->full_retry_ms
                                                          : STORE_FULL_RETRY_MS) * 1000000u;
    l->full_retry_max_ns = (uint64_t)STORE_FULL_RETRY_MAX_MS * 1000000u;
    if (l->full_retry_max_ns < l->full_retry_min_ns) {
        l->full_retry_max_ns = l->full_retry_min_ns;
    }
    l->origin = nt_strdup(opts->origin);
    NT_ENSURE(l->origin != NULL, NT_ENOMEM, "out of memory");
    l->ring = nt_calloc(l->queue_max, sizeof(*l->ring));
    l->batch = nt_calloc(l->batch_max, sizeof(*l->batch));
    NT_ENSURE(l->ring != NULL && l->batch != NULL, NT_ENOMEM, "out of memory");
    NT_OSSL(EVP_PKEY_up_ref(opts->log_key), "EVP_PKEY_up_ref");
    l->key = opts->log_key;

    NT_ENSURE(pthread_mutex_init(&l->mu, NULL) == 0, NT_ERROR, "pthread_mutex_init");
    mu_init = 1;
    NT_ENSURE(pthread_condattr_init(&ca) == 0, NT_ERROR, "pthread_condattr_init");
    ca_init = 1;
    NT_ENSURE(pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0, NT_ERROR,
              "pthread_condattr_setclock");
    NT_ENSURE(pthread_cond_init(&l->work_cv, &ca) == 0, NT_ERROR, "pthread_cond_init");
    cv_init = 1;

    NT_TRY(nt_mkdir_p(opts->path, 0700));
    NT_TRY(store_lock(l, opts->path));
    STORE_MDB(mdb_env_create(&l->env), "mdb_env_create");
    STORE_MDB(mdb_env_set_maxdbs(l->env, 8), "mdb_env_set_maxdbs");
    STORE_MDB(mdb_env_set_maxreaders(l->env, STORE_MAX_READERS), "mdb_env_set_maxreaders");
    STORE_MDB(mdb_env_set_mapsize(l->env, opts->map_size ? opts->map_size
                                                         : STORE_DEFAULT_MAP_SIZE),
              "mdb_env_set_mapsize");
    /* MDB_NOTLS: read transactions are begun on request threads and belong to the
     * transaction, not the thread.  MDB_NOSYNC only when asked (benchmarks): without
     * fsync a commit is not durable and invariant 1 would not hold. */
    if (opts->no_sync) {
        flags |= MDB_NOSYNC;
    }
    error = mdb_env_open(l->env, opts->path, flags, 0600);
    if (error != 0) {
        error = store_err(error, opts->path);
        goto done;
    }
    NT_TRY(store_file_check(l, opts->path));
    NT_TRY(store_init(l));

    NT_ENSURE(pthread_create(&l->thread, NULL, store_sequencer_main, l) == 0, NT_ERROR,
              "could not start the ledger sequencer thread");
    l->thread_started = 1;
    *out = l;
    l = NULL;
done:
    if (ca_init) {
        pthread_condattr_destroy(&ca);
    }
    if (l != NULL) {
        if (cv_init) {
            pthread_cond_destroy(&l->work_cv);
        }
        if (mu_init) {
            pthread_mutex_destroy(&l->mu);
        }
        if (l->env != NULL) {
            mdb_env_close(l->env);
        }
        if (l->lock_fd >= 0) {
            close(l->lock_fd);
        }
        EVP_PKEY_free(l->key);
        nt_free(l->ring);
        nt_free(l->batch);
        nt_free(l->origin);
        nt_free(l);
    }
    return error;
}

/*
 * The read-only twin of store_init: the same checks of the stored state, in one
 * read transaction, without creating anything.  The transaction is committed,
 * not aborted, so the database handles it opened stay valid for the
 * environment (lmdb.h, mdb_dbi_open).
 */
static int store_init_readonly(ledger *l)
{
    int error = 0;
    MDB_txn *txn = NULL;
    MDB_val v;
    uint64_t size = 0;
    uint8_t root[MERKLE_HASH_SIZE];

    NT_TRY(store_read_begin(&txn, l));
    error = store_dbis_open(txn, l, 0);
    if (error == NT_ENOTFOUND) {
        error = nt_error_set(NT_ENOTFOUND, "not a ledger (a named database is missing)");
    }
    NT_TRY(error);
    error = store_meta_get(&v, txn, l, "version");
    if (error == NT_ENOTFOUND) {
        error = nt_error_set(NT_ENOTFOUND, "not a ledger (no format version stored)");
    }
    NT_TRY(error);
    NT_TRY(store_identity_check(txn, l, &v));
    NT_TRY(store_frontier_verify(&l->frontier, root, &size, txn, l));
    NT_TRY(store_leaves_check(txn, l, size));
    STORE_MDB(mdb_txn_commit(txn), "end read transaction");
    txn = NULL;
    l->size = size;
    memcpy(l->root, root, sizeof(root));
done:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return error;
}

int ledger_open_readonly(ledger **out, const ledger_options *opts)
{
    int error = 0;
    ledger *l = NULL;
    nt_buf data = NT_BUF_INIT;
    struct stat st;
    int mu_init = 0, cv_init = 0, dead = 0;

    *out = NULL;
    NT_ENSURE(opts != NULL && opts->path != NULL && opts->path[0] != '\0', NT_EINVAL,
              "ledger path missing");
    NT_TRY(store_origin_check(opts->origin));
    /* mdb_env_open would create nothing here but fail with a bare ENOENT: say which. */
    NT_TRY(nt_path_join(&data, opts->path, "data.mdb"));
    if (stat(nt_buf_cstr(&data), &st) != 0) {
        error = nt_error_set(errno == ENOENT || errno == ENOTDIR ? NT_ENOTFOUND : NT_EIO,
                             "%s: no ledger here (%s)", opts->path, strerror(errno));
        goto done;
    }

    l = nt_calloc(1, sizeof(*l));
    NT_ENSURE(l != NULL, NT_ENOMEM, "out of memory");
    l->readonly = 1;
    l->lock_fd = -1;
    l->origin = nt_strdup(opts->origin);
    NT_ENSURE(l->origin != NULL, NT_ENOMEM, "out of memory");
    /* ledger_close is shared with the writer: it takes mu and signals work_cv. */
    NT_ENSURE(pthread_mutex_init(&l->mu, NULL) == 0, NT_ERROR, "pthread_mutex_init");
    mu_init = 1;
    NT_ENSURE(pthread_cond_init(&l->work_cv, NULL) == 0, NT_ERROR, "pthread_cond_init");
    cv_init = 1;

    STORE_MDB(mdb_env_create(&l->env), "mdb_env_create");
    STORE_MDB(mdb_env_set_maxdbs(l->env, 8), "mdb_env_set_maxdbs");
    STORE_MDB(mdb_env_set_maxreaders(l->env, STORE_MAX_READERS), "mdb_env_set_maxreaders");
    /* No mdb_env_set_mapsize: LMDB then maps the size the writer stored in the
     * environment.  MDB_RDONLY still registers our readers in lock.mdb, which is
     * what lets the writer (another process) keep the pages we read (lmdb.h: a
     * reader needs write access to the lock file unless MDB_NOLOCK). */
    error = mdb_env_open(l->env, opts->path, MDB_RDONLY | MDB_NOTLS, 0600);
    if (error != 0) {
        error = store_err(error, opts->path);
        goto done;
    }
    /* Reader slots left by crashed processes pin old pages; clearing them is safe
     * at any time (mdb_reader_check). */
    (void)mdb_reader_check(l->env, &dead);
    NT_TRY(store_file_check(l, opts->path));
    NT_TRY(store_init_readonly(l));
    *out = l;
    l = NULL;
done:
    nt_buf_dispose(&data);
    if (l != NULL) {
        if (cv_init) {
            pthread_cond_destroy(&l->work_cv);
        }
        if (mu_init) {
            pthread_mutex_destroy(&l->mu);
        }
        if (l->env != NULL) {
            mdb_env_close(l->env);
        }
        nt_free(l->origin);
        nt_free(l);
    }
    return error;
}

void ledger_close(ledger *l)
{
    if (l == NULL) {
        return;
    }
    pthread_mutex_lock(&l->mu);
    l->closing = 1;
    pthread_cond_broadcast(&l->work_cv);
    pthread_mutex_unlock(&l->mu);
    if (l->thread_started) {
        pthread_join(l->thread, NULL);
    }
    pthread_cond_destroy(&l->work_cv);
    pthread_mutex_destroy(&l->mu);
    mdb_env_close(l->env);
    if (l->lock_fd >= 0) {
        close(l->lock_fd);
    }
    EVP_PKEY_free(l->key);
    nt_free(l->ring);
    nt_free(l->batch);
    nt_free(l->origin);
    nt_free(l);
}

const char *ledger_origin(const ledger *l)
{
    return l->origin;
}

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
    uint8_t key[8], dkey[1 + RECORD_MAX_DIGEST], word[8];
    uint8_t leaf_hash[MERKLE_HASH_SIZE];
    MDB_val k, v;

    STORE_MDB(mdb_txn_begin(l->env, NULL, 0, &txn), "begin write transaction");
    hc.txn = txn;
    hc.l = l;
    for (size_t i = 0; i < n; i++, index++) {
        const store_entry *e = l->batch[i];

        nt_store_u64be(key, index);
        k = store_val(key, sizeof(key));
        /* Indexes only grow: MDB_APPEND fills pages sequentially, and a key that is
         * not past the last one (MDB_KEYEXIST) means the store is inconsistent. */
        v = store_val(e->leaf, e->leaf_len);
        STORE_MDB(mdb_put(txn, l->db_leaves, &k, &v, MDB_APPEND), "store leaf");
        if (e->has_metadata) {
            v = store_val(e->meta, e->meta_len);
            STORE_MDB(mdb_put(txn, l->db_metadata, &k, &v, MDB_APPEND), "store metadata");
        }
        if (e->owner_len > 0) {
            v = store_val(e->owner, e->owner_len);
            STORE_MDB(mdb_put(txn, l->db_owners, &k, &v, MDB_APPEND), "store owner");
        }
        dkey[0] = (uint8_t)e->alg;
        memcpy(dkey + 1, e->digest, e->digest_len);
        k = store_val(dkey, 1 + e->digest_len);
        v = store_val(key, sizeof(key));
        STORE_MDB(mdb_put(txn, l->db_digests, &k, &v, 0), "store digest index");
        merkle_leaf_hash(leaf_hash, e->leaf, e->leaf_len);
        NT_TRY(merkle_frontier_append(&l->frontier, leaf_hash, store_hash_write, &hc));
        if (e->gen_ns > gen_hw) {
            gen_hw = e->gen_ns;
        }
    }
    merkle_frontier_root(root_out, &l->frontier);
    nt_store_u64be(word, index);
    NT_TRY(store_meta_put(txn, l, "size", word, 8));
    NT_TRY(store_meta_put(txn, l, "root", root_out, MERKLE_HASH_SIZE));
    NT_TRY(store_checkpoint_put(txn, l, index, root_out));
    /* Leaves are not in genTime order under concurrency: the mark is the maximum ever
     * committed, so a restart never issues a genTime below one already issued. */
    if (gen_hw > *gen_hw_out) {
        nt_store_u64be(word, gen_hw);
        NT_TRY(store_meta_put(txn, l, "gentime", word, 8));
    }
    /* The commit writes the pages and fsyncs (unless no_sync): only after it returns
     * may anyone learn an index. */
    error = mdb_txn_commit(txn);
    txn = NULL;
    if (error != 0) {
        error = store_err(error, "commit batch");
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

    NT_TRY(store_read_begin(&txn, l));
    NT_TRY(store_frontier_verify(&l->frontier, root, &size, txn, l));
done:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return error;
}

static void store_batch_run(ledger *l, size_t n)
{
    int error;
    uint64_t first = l->frontier.size;
    uint64_t gen_hw;
    uint8_t root[MERKLE_HASH_SIZE];

    pthread_mutex_lock(&l->mu);
    error = l->fatal;
    gen_hw = l->gen_hw_ns;
    pthread_mutex_unlock(&l->mu);
    if (error == 0) {
        error = store_batch_write(root, &gen_hw, l, n);
    }

    pthread_mutex_lock(&l->mu);
    if (error == 0) {
        l->gen_hw_ns = gen_hw;
        l->size = l->frontier.size;
        memcpy(l->root, root, sizeof(root));
        l->batches++;
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
        nt_log(NT_LOG_ERROR, NULL, "ledger: batch of %zu appends failed: %s", n,
               l->last_error);
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

static void *store_sequencer_main(void *arg)
{
    ledger *l = arg;

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
         * during the previous commit are already old enough and go at once. */
        for (;;) {
            struct timespec ts;
            uint64_t now = nt_mono_ns();
            uint64_t full = l->ring[l->ring_head]->enqueued_ns + l->window_ns;
            uint64_t idle = l->last_enqueue_ns + l->gap_ns;
            uint64_t until = idle < full ? idle : full;
            if (l->ring_count >= l->batch_max || l->closing || now >= until) {
                break;
            }
            store_deadline(&ts, until);
            pthread_cond_timedwait(&l->work_cv, &l->mu, &ts);
        }
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
        pthread_mutex_unlock(&l->mu);
        store_batch_run(l, n);
        pthread_mutex_lock(&l->mu);
        l->batch_since_ns = 0;
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* ------------------------------------------------------------------ appends */

static int store_entry_new(store_entry **out, const ledger *l, nt_bytes leaf, nt_bytes metadata,
                           nt_bytes owner)
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
        NT_OSSL(EVP_Digest(metadata.ptr != NULL ? metadata.ptr : (const uint8_t *)"",
                           metadata.len, mh, NULL, EVP_sha256(), NULL),
                "SHA-256 of metadata");
        NT_ENSURE(memcmp(mh, r.metadata_hash, sizeof(mh)) == 0, NT_EINVAL,
                  "metadata does not match the leaf's metadata hash");
    } else {
        NT_ENSURE(metadata.len == 0, NT_EINVAL,
                  "metadata given for a leaf that commits to none");
    }
    NT_ENSURE(r.digest.len > 0 && r.digest.len <= RECORD_MAX_DIGEST, NT_EINVAL,
              "leaf digest length %zu out of range", r.digest.len);
    NT_TRY(nt_size_add(&total, sizeof(*e), leaf.len));
    NT_TRY(nt_size_add(&total, total, metadata.len));
    NT_TRY(nt_size_add(&total, total, owner.len));
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
    e->bytes = leaf.len + metadata.len + owner.len;
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
    NT_TRY(store_entry_new(&e, l, leaf, metadata, owner));
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
    /* Wake the sequencer for the first entry and when a batch is complete. */
    if (l->ring_count == 1 || l->ring_count >= l->batch_max) {
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
    int error = 0;
    store_waiter w;

    memset(&w, 0, sizeof(w));
    NT_ENSURE(pthread_mutex_init(&w.mu, NULL) == 0, NT_ERROR, "pthread_mutex_init");
    if (pthread_cond_init(&w.cv, NULL) != 0) {
        pthread_mutex_destroy(&w.mu);
        return nt_error_set(NT_ERROR, "pthread_cond_init");
    }
    error = ledger_append_async(l, leaf, metadata, store_waiter_done, &w);
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
        NT_TRY(store_read_begin(&txn, l));
        error = store_head_read(&out->size, out->root, txn, l);
        if (error == 0) {
            error = store_gen_hw_read(&out->gen_time_hw_ns, txn, l);
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
    out->appends_failed = l->appends_failed;
    out->full = l->full;
    if (l->full && l->full_retry_at_ns != UINT64_MAX) {
        uint64_t now = nt_mono_ns();
        out->full_retry_in_ms = now >= l->full_retry_at_ns
                                    ? 0
                                    : (l->full_retry_at_ns - now + 999999u) / 1000000u;
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

    NT_TRY(store_read_begin(&txn, l));
    NT_TRY(store_head_read(&size, NULL, txn, l));
    error = store_checkpoint_read(out, txn, l, size);
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

    NT_TRY(store_read_begin(&txn, l));
    NT_TRY(store_checkpoint_read(out, txn, l, size));
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
    k = store_val(key, sizeof(key));
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

    NT_TRY(store_read_begin(&txn, l));
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
    NT_TRY(store_read_begin(&txn, l));
    nt_store_u64be(key, index);
    k = store_val(key, sizeof(key));
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

    NT_TRY(store_read_begin(&txn, l));
    hc.txn = txn;
    hc.l = l;
    error = store_hash_read(out, &hc, level, index);
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

int ledger_proof_inclusion(nt_buf *out, ledger *l, uint64_t index, uint64_t size)
{
    int error = 0;
    MDB_txn *txn = NULL;
    uint64_t head = 0;
    store_hash_ctx hc;

    nt_buf_clear(out);
    NT_TRY(store_read_begin(&txn, l));
    NT_TRY(store_head_read(&head, NULL, txn, l));
    NT_ENSURE(index < size && size <= head, NT_EINVAL,
              "no inclusion proof of leaf %llu in a tree of %llu (committed size %llu)",
              (unsigned long long)index, (unsigned long long)size, (unsigned long long)head);
    hc.txn = txn;
    hc.l = l;
    NT_TRY(store_proof_error(merkle_proof_inclusion(out, store_hash_read, &hc, index, size)));
done:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return error;
}

int ledger_proof_consistency(nt_buf *out, ledger *l, uint64_t from, uint64_t to)
{
    int error = 0;
    MDB_txn *txn = NULL;
    uint64_t head = 0;
    store_hash_ctx hc;

    nt_buf_clear(out);
    NT_TRY(store_read_begin(&txn, l));
    NT_TRY(store_head_read(&head, NULL, txn, l));
    NT_ENSURE(from <= to && to <= head, NT_EINVAL,
              "no consistency proof from %llu to %llu (committed size %llu)",
              (unsigned long long)from, (unsigned long long)to, (unsigned long long)head);
    hc.txn = txn;
    hc.l = l;
    NT_TRY(store_proof_error(merkle_proof_consistency(out, store_hash_read, &hc, from, to)));
done:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return error;
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
    MDB_cursor *cur = NULL;
    uint8_t dkey[1 + RECORD_MAX_DIGEST], start[8];
    uint64_t *found = NULL;
    size_t count = 0, cap = 0;
    MDB_val k, v;
    int rc;

    *indexes_out = NULL;
    *count_out = 0;
    NT_ENSURE(digest.len > 0 && digest.len <= RECORD_MAX_DIGEST && digest.ptr != NULL,
              NT_EINVAL, "digest length %zu out of range", digest.len);
    NT_ENSURE((unsigned)alg <= 0xff, NT_EINVAL, "digest algorithm out of range");
    if (max == 0) {
        goto done;
    }
    dkey[0] = (uint8_t)alg;
    memcpy(dkey + 1, digest.ptr, digest.len);
    k = store_val(dkey, 1 + digest.len);
    /* The duplicates are u64be indexes, sorted as numbers: seek to the first >= from. */
    nt_store_u64be(start, from);
    v = store_val(start, sizeof(start));

    NT_TRY(store_read_begin(&txn, l));
    STORE_MDB(mdb_cursor_open(txn, l->db_digests, &cur), "open digest cursor");
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_GET_BOTH_RANGE); rc == 0 && count < max;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
        NT_ENSURE(v.mv_size == 8, NT_ECORRUPT, "digest index entry has %zu bytes", v.mv_size);
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            uint64_t *p;
            if (ncap > max) {
                ncap = max;
            }
            p = nt_reallocarray(found, ncap, sizeof(*found));
            NT_ENSURE(p != NULL, NT_ENOMEM, "out of memory");
            found = p;
            cap = ncap;
        }
        found[count++] = nt_load_u64be(v.mv_data);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        error = store_err(rc, "read digest index");
        goto done;
    }
    if (count > 0) {
        *indexes_out = found;
        *count_out = count;
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

int ledger_receipt_fill(receipt *r, ledger *l, uint64_t index)
{
    int error = 0;
    MDB_txn *txn = NULL;
    uint64_t head = 0;
    record rec;
    store_hash_ctx hc;
    int stored = 0;

    NT_TRY(store_read_begin(&txn, l));
    /* One read transaction: leaf, proof and checkpoint all describe the same head. */
    NT_TRY(store_head_read(&head, NULL, txn, l));
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
    NT_TRY(store_proof_error(merkle_proof_inclusion(&r->proof, store_hash_read, &hc, index,
                                                    head)));
    nt_buf_clear(&r->checkpoint);
    error = store_checkpoint_read(&r->checkpoint, txn, l, head);
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
    MDB_cursor *digests; /* opened on first use: one lookup per leaf in a check */
    store_hash_ctx hc;
};

int ledger__snap_begin(ledger__snap **out, ledger *l)
{
    int error = 0;
    ledger__snap *s = nt_calloc(1, sizeof(*s));

    *out = NULL;
    NT_ENSURE(s != NULL, NT_ENOMEM, "out of memory");
    NT_TRY(store_read_begin(&s->txn, l));
    s->l = l;
    s->hc.txn = s->txn;
    s->hc.l = l;
    *out = s;
    s = NULL;
done:
    nt_free(s);
    return error;
}

void ledger__snap_end(ledger__snap *s)
{
    if (s != NULL) {
        mdb_cursor_close(s->digests);
        mdb_txn_abort(s->txn);
        nt_free(s);
    }
}

int ledger__snap_head(uint64_t *size_out, uint8_t root_out[MERKLE_HASH_SIZE], ledger__snap *s)
{
    return store_head_read(size_out, root_out, s->txn, s->l);
}

int ledger__snap_hash(uint8_t out[MERKLE_HASH_SIZE], void *snap, unsigned level, uint64_t index)
{
    return store_hash_read(out, &((ledger__snap *)snap)->hc, level, index);
}

int ledger__snap_digest_has(ledger__snap *s, record_alg alg, nt_bytes digest, uint64_t index)
{
    uint8_t dkey[1 + RECORD_MAX_DIGEST], word[8];
    MDB_val k, v;
    int rc = 0;

    if (digest.len == 0 || digest.len > RECORD_MAX_DIGEST || (unsigned)alg > 0xff) {
        return nt_error_set(NT_EINVAL, "digest out of range");
    }
    dkey[0] = (uint8_t)alg;
    memcpy(dkey + 1, digest.ptr, digest.len);
    nt_store_u64be(word, index);
    k = store_val(dkey, 1 + digest.len);
    v = store_val(word, sizeof(word));
    if (s->digests == NULL) {
        rc = mdb_cursor_open(s->txn, s->l->db_digests, &s->digests);
    }
    if (rc == 0) {
        rc = mdb_cursor_get(s->digests, &k, &v, MDB_GET_BOTH);
    }
    return rc == 0 ? 0 : store_err(rc, "digest index");
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
