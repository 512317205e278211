/*
 * store.c - the ledger's LMDB store (implements ledger/ledger.h together with
 * store_seq.c, the sequencer and appends, store_read.c, the reads and the
 * snapshots of ledger_int.h, store_index.c, the digest index, and
 * store_cases.c; store_int.h is their private header).  These files are the
 * only ones of the project that include <lmdb.h>: every
 * LMDB code is translated to an NT_E* code here (store__err).  This file: the
 * LMDB codes, the meta DB, subtree hashes, checkpoints, open and close.  One
 * sequencer thread takes queued appends in batches and writes each batch in
 * one write transaction (leaves, metadata, every subtree hash the batch
 * completes, the new head and a checkpoint signed for it); the append
 * callbacks run only after that transaction is committed with fsync.  The
 * digest index has its own environment and thread (store_index.c).
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
 *   "digests"     alg byte || digest            -> u64be index (DUPSORT|DUPFIXED): the
 *                 digest index of ledgers written before index/ (store_index.c) held it;
 *                 emptied when a writer moves it there
 *   "checkpoints" u64be tree size               -> signed checkpoint note
 *   "cases", "case_events", "case_keys": the heads, event lists and event keys of
 *                 the cases (store_cases.c describes the keys and values)
 *   "meta"        "version" (u32be) "origin" "size" (u64be) "root" (32 bytes)
 *                 "gentime" (u64be ns, the genTime high-water mark; absent before any
 *                 timed append, and in ledgers written before it existed)
 * A leaf that commits to metadata but has no "metadata" entry had its metadata
 * lost: only a restore (opts->restore) writes such leaves.
 */
#include "ledger/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORE_FORMAT_VERSION      1u
#define STORE_DEFAULT_MAP_SIZE    ((size_t)64 << 30)
#define STORE_DEFAULT_BATCH_MAX   512u
#define STORE_DEFAULT_WINDOW_US   1000u
#define STORE_DEFAULT_QUEUE_MAX   8192u
#define STORE_DEFAULT_QUEUE_BYTES ((size_t)256 << 20)
#define STORE_MAX_READERS         1024u
#define STORE_MIN_GAP_NS          20000u
#define STORE_NODE_KEY_SIZE       9
/* While the store is full, one probe batch is let through after this back-off,
 * doubling up to STORE_FULL_RETRY_MAX_MS (see ledger_append_async). */
#define STORE_FULL_RETRY_MS     1000u
#define STORE_FULL_RETRY_MAX_MS 30000u

/* ------------------------------------------------------------------ LMDB codes */

int store__err(int rc, const char *what)
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

MDB_val store__val(const void *p, size_t len)
{
    MDB_val v;
    v.mv_data = (void *)(uintptr_t)p;
    v.mv_size = len;
    return v;
}

int store__read_begin(MDB_txn **out, ledger *l)
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
        return store__err(rc, "begin read transaction");
    }
    return 0;
}

/* ------------------------------------------------------------------ meta DB */

static int store_meta_get(MDB_val *out, MDB_txn *txn, ledger *l, const char *name)
{
    MDB_val k = store__val(name, strlen(name));
    int rc = mdb_get(txn, l->db_meta, &k, out);
    if (rc != 0) {
        return store__err(rc, name);
    }
    return 0;
}

int store__meta_put(MDB_txn *txn, ledger *l, const char *name, const void *data, size_t len)
{
    MDB_val k = store__val(name, strlen(name));
    MDB_val v = store__val(data, len);
    int rc = mdb_put(txn, l->db_meta, &k, &v, 0);
    if (rc != 0) {
        return store__err(rc, "store tree head");
    }
    return 0;
}

/* The committed head as stored: size and root. */
int store__head_read(uint64_t *size_out, uint8_t root_out[MERKLE_HASH_SIZE], MDB_txn *txn,
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

/* merkle_hash_fn over one transaction. */
int store__hash_read(uint8_t out[MERKLE_HASH_SIZE], void *ctx, unsigned level, uint64_t index)
{
    store_hash_ctx *c = ctx;
    uint8_t key[STORE_NODE_KEY_SIZE];
    MDB_val k, v;
    int rc;

    if (level >= MERKLE_MAX_LEVEL) {
        return nt_error_set(NT_EINVAL, "subtree level %u out of range", level);
    }
    store_node_key(key, level, index);
    k = store__val(key, sizeof(key));
    rc = mdb_get(c->txn, c->l->db_nodes, &k, &v);
    if (rc != 0) {
        return store__err(rc, "subtree hash");
    }
    if (v.mv_size != MERKLE_HASH_SIZE) {
        return nt_error_set(NT_ECORRUPT, "subtree hash (%u, %llu) has %zu bytes", level,
                            (unsigned long long)index, v.mv_size);
    }
    memcpy(out, v.mv_data, MERKLE_HASH_SIZE);
    return 0;
}

/* merkle_node_fn: persist every subtree an append completes. */
int store__hash_write(void *ctx, unsigned level, uint64_t index,
                      const uint8_t hash[MERKLE_HASH_SIZE])
{
    store_hash_ctx *c = ctx;
    uint8_t key[STORE_NODE_KEY_SIZE];
    MDB_val k, v;
    int rc;

    store_node_key(key, level, index);
    k = store__val(key, sizeof(key));
    v = store__val(hash, MERKLE_HASH_SIZE);
    /* A node is written once, when completed; finding it already there means the
     * stored tree and the head disagree. */
    rc = mdb_put(c->txn, c->l->db_nodes, &k, &v, MDB_NOOVERWRITE);
    if (rc != 0) {
        return store__err(rc, "store subtree hash");
    }
    return 0;
}

/* Rebuild the frontier for the stored head and check it against the stored root. */
int store__frontier_verify(merkle_frontier *f, uint8_t root_out[MERKLE_HASH_SIZE],
                           uint64_t *size_out, MDB_txn *txn, ledger *l)
{
    int error = 0;
    uint64_t size = 0;
    uint8_t stored[MERKLE_HASH_SIZE], computed[MERKLE_HASH_SIZE];
    store_hash_ctx hc = {txn, l};

    NT_TRY(store__head_read(&size, stored, txn, l));
    error = merkle_frontier_load(f, store__hash_read, &hc, size);
    if (error == NT_ENOTFOUND) {
        error = nt_error_set(NT_ECORRUPT,
                             "a subtree hash of the stored tree (size %llu) is "
                             "missing",
                             (unsigned long long)size);
    }
    NT_TRY(error);
    merkle_frontier_root(computed, f);
    NT_ENSURE(memcmp(computed, stored, MERKLE_HASH_SIZE) == 0, NT_ECORRUPT,
              "stored root does not match the root recomputed from the stored subtree hashes "
              "(tree size %llu)",
              (unsigned long long)size);
    memcpy(root_out, stored, MERKLE_HASH_SIZE);
    *size_out = size;
done:
    return error;
}

/* ------------------------------------------------------------------ checkpoints */

int store__checkpoint_put(MDB_txn *txn, ledger *l, uint64_t size,
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
    k = store__val(key, sizeof(key));
    v = store__val(note.ptr, note.len);
    rc = mdb_put(txn, l->db_checkpoints, &k, &v, 0);
    STORE_MDB(rc, "store checkpoint");
done:
    nt_buf_dispose(&note);
    return error;
}

int store__checkpoint_read(nt_buf *out, MDB_txn *txn, ledger *l, uint64_t size)
{
    int error = 0;
    uint8_t key[8];
    MDB_val k, v;
    int rc;

    nt_store_u64be(key, size);
    k = store__val(key, sizeof(key));
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
        return store__err(rc, name);
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
    NT_TRY(error);
    error = store__cases_open(txn, l, create);
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
    NT_ENSURE(v.mv_size == origin_len && memcmp(v.mv_data, l->origin, origin_len) == 0, NT_EINVAL,
              "origin \"%s\" does not match the ledger's stored origin \"%.*s\"", l->origin,
              (int)(v.mv_size > 255 ? 255 : v.mv_size), (const char *)v.mv_data);
done:
    return error;
}

/* The genTime high-water mark; 0 when none is stored. */
int store__gen_hw_read(uint64_t *out, MDB_txn *txn, ledger *l)
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
        NT_TRY(store__meta_put(txn, l, "version", word + 4, 4));
        NT_TRY(store__meta_put(txn, l, "origin", l->origin, origin_len));
        nt_store_u64be(word, 0);
        NT_TRY(store__meta_put(txn, l, "size", word, 8));
        merkle_empty_root(root);
        NT_TRY(store__meta_put(txn, l, "root", root, sizeof(root)));
        NT_TRY(store__checkpoint_put(txn, l, 0, root));
        merkle_frontier_init(&l->frontier);
        size = 0;
    } else {
        NT_TRY(error);
        NT_TRY(store_identity_check(txn, l, &v));
        NT_TRY(store__frontier_verify(&l->frontier, root, &size, txn, l));
        NT_TRY(store_leaves_check(txn, l, size));
        NT_TRY(store__gen_hw_read(&l->gen_hw_ns, txn, l));
        nt_store_u64be(word, size);
        v = store__val(word, 8);
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

/* The batching, queue and back-off settings of opts (0 = default), the origin,
 * the queue and batch arrays and a reference to the log key. */
static int store_options_apply(ledger *l, const ledger_options *opts)
{
    int error = 0;

    l->restore = opts->restore;
    l->batch_max = opts->batch_max ? opts->batch_max : STORE_DEFAULT_BATCH_MAX;
    l->window_ns =
        (uint64_t)(opts->batch_window_us ? opts->batch_window_us : STORE_DEFAULT_WINDOW_US) * 1000u;
    l->gap_ns = l->window_ns / 20 > STORE_MIN_GAP_NS ? l->window_ns / 20 : STORE_MIN_GAP_NS;
    l->hold_ns = l->window_ns * STORE_HOLD_WINDOWS;
    l->queue_max = opts->queue_max ? opts->queue_max : STORE_DEFAULT_QUEUE_MAX;
    l->queue_bytes_max = opts->queue_bytes_max ? opts->queue_bytes_max : STORE_DEFAULT_QUEUE_BYTES;
    l->full_retry_min_ns =
        (uint64_t)(opts->full_retry_ms ? opts->full_retry_ms : STORE_FULL_RETRY_MS) * 1000000u;
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
done:
    return error;
}

/* mdb_env_create with the limits of every handle; map_size 0 leaves the map size
 * alone (a reader then maps the size the writer stored in the environment). */
static int store_env_create(ledger *l, size_t map_size)
{
    int error = 0;

    STORE_MDB(mdb_env_create(&l->env), "mdb_env_create");
    STORE_MDB(mdb_env_set_maxdbs(l->env, 16), "mdb_env_set_maxdbs");
    STORE_MDB(mdb_env_set_maxreaders(l->env, STORE_MAX_READERS), "mdb_env_set_maxreaders");
    if (map_size != 0) {
        STORE_MDB(mdb_env_set_mapsize(l->env, map_size), "mdb_env_set_mapsize");
    }
done:
    return error;
}

/* The writer's environment: directory, sequencer lock, LMDB environment, and the
 * stored state created or validated. */
static int store_env_open(ledger *l, const ledger_options *opts)
{
    int error = 0;
    unsigned flags = MDB_NOTLS;

    NT_TRY(nt_mkdir_p(opts->path, 0700));
    NT_TRY(store_lock(l, opts->path));
    NT_TRY(store_env_create(l, opts->map_size ? opts->map_size : STORE_DEFAULT_MAP_SIZE));
    /* MDB_NOTLS: read transactions are begun on request threads and belong to the
     * transaction, not the thread.  MDB_NOSYNC only when asked (benchmarks): without
     * fsync a commit is not durable and invariant 1 would not hold. */
    if (opts->no_sync) {
        flags |= MDB_NOSYNC;
    }
    error = mdb_env_open(l->env, opts->path, flags, 0600);
    if (error != 0) {
        error = store__err(error, opts->path);
        goto done;
    }
    NT_TRY(store_file_check(l, opts->path));
    NT_TRY(store_init(l));
done:
    return error;
}

/* Free a handle (its sequencer stopped, or its open failed); mu_init / cv_init: whether
 * mu / work_cv exist. */
static void store_discard(ledger *l, int mu_init, int cv_init)
{
    if (l == NULL) {
        return;
    }
    if (cv_init) {
        pthread_cond_destroy(&l->work_cv);
    }
    if (mu_init) {
        pthread_mutex_destroy(&l->mu);
    }
    store__index_close(l);
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

int ledger_open(ledger **out, const ledger_options *opts)
{
    int error = 0;
    ledger *l = NULL;
    pthread_condattr_t ca;
    int ca_init = 0, mu_init = 0, cv_init = 0;

    *out = NULL;
    NT_ENSURE(opts != NULL && opts->path != NULL && opts->path[0] != '\0', NT_EINVAL,
              "ledger path missing");
    NT_TRY(store_origin_check(opts->origin));
    NT_ENSURE(opts->log_key != NULL && EVP_PKEY_is_a(opts->log_key, "ED25519"), NT_EINVAL,
              "the ledger's log key must be an Ed25519 key");

    l = nt_calloc(1, sizeof(*l));
    NT_ENSURE(l != NULL, NT_ENOMEM, "out of memory");
    l->lock_fd = -1;
    NT_TRY(store_options_apply(l, opts));

    NT_ENSURE(pthread_mutex_init(&l->mu, NULL) == 0, NT_ERROR, "pthread_mutex_init");
    mu_init = 1;
    NT_ENSURE(pthread_condattr_init(&ca) == 0, NT_ERROR, "pthread_condattr_init");
    ca_init = 1;
    NT_ENSURE(pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0, NT_ERROR,
              "pthread_condattr_setclock");
    NT_ENSURE(pthread_cond_init(&l->work_cv, &ca) == 0, NT_ERROR, "pthread_cond_init");
    cv_init = 1;

    NT_TRY(store_env_open(l, opts));
    NT_TRY(
        store__index_open(l, opts->path, opts->map_size ? opts->map_size : STORE_DEFAULT_MAP_SIZE));
    NT_ENSURE(pthread_create(&l->thread, NULL, store__sequencer_main, l) == 0, NT_ERROR,
              "could not start the ledger sequencer thread");
    l->thread_started = 1;
    *out = l;
    l = NULL;
done:
    if (ca_init) {
        pthread_condattr_destroy(&ca);
    }
    store_discard(l, mu_init, cv_init);
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

    NT_TRY(store__read_begin(&txn, l));
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
    NT_TRY(store__frontier_verify(&l->frontier, root, &size, txn, l));
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

    /* No map size: LMDB then maps the size the writer stored in the environment. */
    NT_TRY(store_env_create(l, 0));
    /* MDB_RDONLY still registers our readers in lock.mdb, which is what lets the
     * writer (another process) keep the pages we read (lmdb.h: a reader needs write
     * access to the lock file unless MDB_NOLOCK). */
    error = mdb_env_open(l->env, opts->path, MDB_RDONLY | MDB_NOTLS, 0600);
    if (error != 0) {
        error = store__err(error, opts->path);
        goto done;
    }
    /* Reader slots left by crashed processes pin old pages; clearing them is safe
     * at any time (mdb_reader_check). */
    (void)mdb_reader_check(l->env, &dead);
    NT_TRY(store_file_check(l, opts->path));
    NT_TRY(store_init_readonly(l));
    NT_TRY(store__index_open_readonly(l, opts->path));
    *out = l;
    l = NULL;
done:
    nt_buf_dispose(&data);
    store_discard(l, mu_init, cv_init);
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
    store_discard(l, 1, 1);
}

const char *ledger_origin(const ledger *l)
{
    return l->origin;
}
