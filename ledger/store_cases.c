/*
 * store_cases.c - the case records of the ledger (ledger.h "cases"): one of
 * the store files with <lmdb.h>.  The sequencer writes them in the batch's
 * write transaction with the leaf (store__case_put, called from
 * store_batch_write), so a leaf never exists without its case entry nor the
 * reverse.  Databases (keys: tenant and case never contain a NUL byte):
 *
 *   "cases"       tenant 0x00 case               -> head: u64be seq, u64be leaf index,
 *                                                   32-byte leaf hash, sealed byte,
 *                                                   u64be genTime ns (57 bytes)
 *   "case_events" tenant 0x00 case 0x00 u64be seq -> u64be leaf index
 *   "case_keys"   tenant 0x00 case 0x00 event key -> u64be seq, 32-byte request hash
 *
 * The queued record (store__case_encode) is: u8 tenant length, tenant, u8
 * case length, case, u8 key length, key, u64be seq, seals byte, prev flag
 * byte, 32 bytes prev (zero when none), 32 bytes request hash.
 */
#include "ledger/store_int.h"

#include "ledger/event.h"

#include <string.h>

#define CASE_HEAD_SIZE 57u
#define CASE_KEY_MAX   (EVENT_TENANT_MAX + 1 + EVENT_CASE_MAX + 1 + LEDGER_EVENT_KEY_MAX)

/* ------------------------------------------------------------------ open */

int store__cases_open(MDB_txn *txn, ledger *l, unsigned create)
{
    int error = 0;
    const char *names[3] = {"cases", "case_events", "case_keys"};
    MDB_dbi *dbis[3] = {&l->db_cases, &l->db_case_events, &l->db_case_keys};

    l->has_cases = 0;
    for (int i = 0; i < 3; i++) {
        int rc = mdb_dbi_open(txn, names[i], create, dbis[i]);
        if (rc == MDB_NOTFOUND && create == 0) {
            return 0; /* a ledger written before cases existed: it has none */
        }
        STORE_MDB(rc, names[i]);
    }
    l->has_cases = 1;
done:
    return error;
}

/* ------------------------------------------------------------------ keys */

/* tenant 0x00 case [0x00 tail] into key; its length. */
static size_t case_key(uint8_t key[CASE_KEY_MAX], nt_bytes tenant, nt_bytes case_id, nt_bytes tail)
{
    size_t n = 0;
    memcpy(key, tenant.ptr, tenant.len);
    n += tenant.len;
    key[n++] = 0;
    memcpy(key + n, case_id.ptr, case_id.len);
    n += case_id.len;
    if (tail.len > 0) {
        key[n++] = 0;
        memcpy(key + n, tail.ptr, tail.len);
        n += tail.len;
    }
    return n;
}

static int names_check(const char *tenant, const char *case_id)
{
    int error = 0;
    NT_ENSURE(tenant != NULL && strlen(tenant) >= 1 && strlen(tenant) <= EVENT_TENANT_MAX,
              NT_EINVAL, "case tenant: must be 1..%u bytes", EVENT_TENANT_MAX);
    NT_ENSURE(case_id != NULL && strlen(case_id) >= 1 && strlen(case_id) <= EVENT_CASE_MAX,
              NT_EINVAL, "case id: must be 1..%u bytes", EVENT_CASE_MAX);
done:
    return error;
}

/* ------------------------------------------------------------------ the queued record */

typedef struct case_rec {
    nt_bytes tenant, case_id, key;
    uint64_t seq;
    int seals, has_prev;
    const uint8_t *prev, *request_hash;
} case_rec;

static int case_rec_encode(nt_buf *out, const ledger_case_append *c)
{
    int error = 0;
    uint8_t zero[32] = {0};

    NT_TRY(names_check(c->tenant, c->case_id));
    NT_ENSURE(c->event_key != NULL && strlen(c->event_key) >= 1 &&
                  strlen(c->event_key) <= LEDGER_EVENT_KEY_MAX,
              NT_EINVAL, "event key: must be 1..%d bytes", LEDGER_EVENT_KEY_MAX);
    NT_ENSURE(c->seq >= 1 && (c->seq == 1) == (c->prev == NULL), NT_EINVAL,
              "case event: seq %llu with%s prev", (unsigned long long)c->seq,
              c->prev == NULL ? "out" : "");
    NT_TRY(nt_buf_putc(out, (uint8_t)strlen(c->tenant)));
    NT_TRY(nt_buf_puts(out, c->tenant));
    NT_TRY(nt_buf_putc(out, (uint8_t)strlen(c->case_id)));
    NT_TRY(nt_buf_puts(out, c->case_id));
    NT_TRY(nt_buf_putc(out, (uint8_t)strlen(c->event_key)));
    NT_TRY(nt_buf_puts(out, c->event_key));
    NT_TRY(nt_buf_put_u64be(out, c->seq));
    NT_TRY(nt_buf_putc(out, c->seals ? 1 : 0));
    NT_TRY(nt_buf_putc(out, c->prev != NULL ? 1 : 0));
    NT_TRY(nt_buf_put(out, c->prev != NULL ? c->prev : zero, 32));
    NT_TRY(nt_buf_put(out, c->request_hash, 32));
done:
    return error;
}

/* Views into rec (built by case_rec_encode in this process: lengths are trusted). */
static void case_rec_decode(case_rec *r, nt_bytes rec)
{
    const uint8_t *p = rec.ptr;
    r->tenant = NT_BYTES(p + 1, p[0]);
    p += 1 + p[0];
    r->case_id = NT_BYTES(p + 1, p[0]);
    p += 1 + p[0];
    r->key = NT_BYTES(p + 1, p[0]);
    p += 1 + p[0];
    r->seq = nt_load_u64be(p);
    r->seals = p[8];
    r->has_prev = p[9];
    r->prev = p + 10;
    r->request_hash = p + 42;
}

int ledger_append_case_async(ledger *l, nt_bytes leaf, nt_bytes body, const ledger_case_append *c,
                             uint64_t gen_time_ns, ledger_done_fn fn, void *ctx)
{
    int error = 0;
    nt_buf rec = NT_BUF_INIT;
    record r;

    NT_ENSURE(l != NULL && c != NULL, NT_EINVAL, "ledger_append_case_async: bad arguments");
    NT_ENSURE(l->has_cases, NT_ESTATE, "this ledger has no case databases");
    NT_TRY(record_decode(&r, leaf.ptr, leaf.len));
    NT_ENSURE(r.kind == RECORD_KIND_CASE_EVENT, NT_EINVAL, "a case event needs a kind 0x03 leaf");
    NT_TRY(case_rec_encode(&rec, c));
    NT_TRY(store__append(l, leaf, body, NT_BYTES(c->tenant, strlen(c->tenant)), gen_time_ns,
                         nt_buf_bytes(&rec), fn, ctx));
done:
    nt_buf_dispose(&rec);
    return error;
}

/* ------------------------------------------------------------------ the write */

int store__case_put(MDB_txn *txn, ledger *l, nt_bytes case_rec_bytes, uint64_t index,
                    const uint8_t leaf_hash[MERKLE_HASH_SIZE], uint64_t gen_ns)
{
    int error = 0;
    case_rec c;
    uint8_t key[CASE_KEY_MAX], head[CASE_HEAD_SIZE], seqb[8], val[40];
    size_t klen;
    MDB_val k, v;
    int rc;
    uint64_t head_seq = 0, head_gen = 0;

    case_rec_decode(&c, case_rec_bytes);
    klen = case_key(key, c.tenant, c.case_id, NT_BYTES(NULL, 0));
    k = store__val(key, klen);
    rc = mdb_get(txn, l->db_cases, &k, &v);
    if (rc != MDB_NOTFOUND) {
        STORE_MDB(rc, "read case head");
        NT_ENSURE(v.mv_size == CASE_HEAD_SIZE, NT_ECORRUPT, "case head has %zu bytes", v.mv_size);
        memcpy(head, v.mv_data, CASE_HEAD_SIZE);
        head_seq = nt_load_u64be(head);
        head_gen = nt_load_u64be(head + 49);
        NT_ENSURE(head[48] == 0, NT_ESTATE, "case %.*s is sealed", (int)c.case_id.len,
                  (const char *)c.case_id.ptr);
        NT_ENSURE(c.has_prev && memcmp(c.prev, head + 16, 32) == 0, NT_ESTATE,
                  "case event: prev is not the leaf hash of the case's last event");
    }
    NT_ENSURE(c.seq == head_seq + 1, NT_ESTATE, "case event: seq %llu, the case is at %llu",
              (unsigned long long)c.seq, (unsigned long long)head_seq);
    NT_ENSURE(gen_ns == 0 || gen_ns >= head_gen, NT_ESTATE,
              "case event: genTime before the case's last event");

    /* the event key first: an existing one fails the batch before anything is written */
    klen = case_key(key, c.tenant, c.case_id, c.key);
    k = store__val(key, klen);
    nt_store_u64be(val, c.seq);
    memcpy(val + 8, c.request_hash, 32);
    v = store__val(val, sizeof(val));
    rc = mdb_put(txn, l->db_case_keys, &k, &v, MDB_NOOVERWRITE);
    NT_ENSURE(rc != MDB_KEYEXIST, NT_ESTATE, "case event: event key already used");
    STORE_MDB(rc, "store case event key");

    nt_store_u64be(seqb, c.seq);
    klen = case_key(key, c.tenant, c.case_id, NT_BYTES(seqb, 8));
    k = store__val(key, klen);
    nt_store_u64be(val, index);
    v = store__val(val, 8);
    STORE_MDB(mdb_put(txn, l->db_case_events, &k, &v, MDB_NOOVERWRITE), "store case event");

    nt_store_u64be(head, c.seq);
    nt_store_u64be(head + 8, index);
    memcpy(head + 16, leaf_hash, 32);
    head[48] = c.seals ? 1 : 0;
    nt_store_u64be(head + 49, gen_ns > head_gen ? gen_ns : head_gen);
    klen = case_key(key, c.tenant, c.case_id, NT_BYTES(NULL, 0));
    k = store__val(key, klen);
    v = store__val(head, CASE_HEAD_SIZE);
    STORE_MDB(mdb_put(txn, l->db_cases, &k, &v, 0), "store case head");
done:
    return error;
}

/* ------------------------------------------------------------------ reads */

/* A read transaction, or NT_ENOTFOUND when the ledger has no case databases. */
static int cases_read_begin(MDB_txn **out, ledger *l, const char *tenant, const char *case_id)
{
    int error = 0;
    *out = NULL;
    NT_TRY(names_check(tenant, case_id));
    NT_ENSURE(l->has_cases, NT_ENOTFOUND, "no such case");
    NT_TRY(store__read_begin(out, l));
done:
    return error;
}

int ledger_case_head_get(ledger_case_head *out, ledger *l, const char *tenant, const char *case_id)
{
    int error = 0;
    MDB_txn *txn = NULL;
    uint8_t key[CASE_KEY_MAX];
    MDB_val k, v;
    int rc;

    memset(out, 0, sizeof(*out));
    NT_TRY(cases_read_begin(&txn, l, tenant, case_id));
    k = store__val(key, case_key(key, NT_BYTES(tenant, strlen(tenant)),
                                 NT_BYTES(case_id, strlen(case_id)), NT_BYTES(NULL, 0)));
    rc = mdb_get(txn, l->db_cases, &k, &v);
    NT_ENSURE(rc != MDB_NOTFOUND, NT_ENOTFOUND, "no such case");
    STORE_MDB(rc, "read case head");
    NT_ENSURE(v.mv_size == CASE_HEAD_SIZE, NT_ECORRUPT, "case head has %zu bytes", v.mv_size);
    out->seq = nt_load_u64be(v.mv_data);
    out->last_index = nt_load_u64be((const uint8_t *)v.mv_data + 8);
    memcpy(out->last_hash, (const uint8_t *)v.mv_data + 16, 32);
    out->sealed = ((const uint8_t *)v.mv_data)[48] != 0;
    out->gen_time_ns = nt_load_u64be((const uint8_t *)v.mv_data + 49);
done:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return error;
}

int ledger_case_events(uint64_t *indexes_out, size_t *count_out, ledger *l, const char *tenant,
                       const char *case_id, uint64_t from_seq, size_t max)
{
    int error = 0;
    MDB_txn *txn = NULL;
    uint8_t key[CASE_KEY_MAX], seqb[8];
    MDB_val k, v;
    size_t n = 0;
    int rc;

    *count_out = 0;
    NT_ENSURE(from_seq >= 1, NT_EINVAL, "case events: from_seq must be >= 1");
    error = cases_read_begin(&txn, l, tenant, case_id);
    if (error == NT_ENOTFOUND) {
        error = 0; /* no case databases: no events */
        goto done;
    }
    NT_TRY(error);
    /* The events of a case are consecutive seqs: one lookup each. */
    for (uint64_t seq = from_seq; n < max; seq++, n++) {
        nt_store_u64be(seqb, seq);
        k = store__val(key, case_key(key, NT_BYTES(tenant, strlen(tenant)),
                                     NT_BYTES(case_id, strlen(case_id)), NT_BYTES(seqb, 8)));
        rc = mdb_get(txn, l->db_case_events, &k, &v);
        if (rc == MDB_NOTFOUND) {
            break;
        }
        STORE_MDB(rc, "read case event");
        NT_ENSURE(v.mv_size == 8, NT_ECORRUPT, "case event entry has %zu bytes", v.mv_size);
        indexes_out[n] = nt_load_u64be(v.mv_data);
    }
    *count_out = n;
done:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return error;
}

int ledger_case_key_get(uint64_t *seq_out, uint8_t hash_out[32], ledger *l, const char *tenant,
                        const char *case_id, const char *event_key)
{
    int error = 0;
    MDB_txn *txn = NULL;
    uint8_t key[CASE_KEY_MAX];
    MDB_val k, v;
    int rc;

    NT_ENSURE(event_key != NULL && strlen(event_key) >= 1 &&
                  strlen(event_key) <= LEDGER_EVENT_KEY_MAX,
              NT_EINVAL, "event key: must be 1..%d bytes", LEDGER_EVENT_KEY_MAX);
    NT_TRY(cases_read_begin(&txn, l, tenant, case_id));
    k = store__val(key, case_key(key, NT_BYTES(tenant, strlen(tenant)),
                                 NT_BYTES(case_id, strlen(case_id)),
                                 NT_BYTES(event_key, strlen(event_key))));
    rc = mdb_get(txn, l->db_case_keys, &k, &v);
    NT_ENSURE(rc != MDB_NOTFOUND, NT_ENOTFOUND, "event key not used");
    STORE_MDB(rc, "read case event key");
    NT_ENSURE(v.mv_size == 40, NT_ECORRUPT, "case event key entry has %zu bytes", v.mv_size);
    *seq_out = nt_load_u64be(v.mv_data);
    memcpy(hash_out, (const uint8_t *)v.mv_data + 8, 32);
done:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return error;
}
