/*
 * store_cases_test.c - the case records of the ledger store (ledger/store_cases.c,
 * ledger.h "cases"): a chain of events gives the head, the event list and the event
 * keys, with the body as the leaf's metadata and the tenant as its owner; and the
 * abort path that makes "a leaf without its case entry, or the reverse" impossible:
 * a case event the write transaction refuses (wrong seq, wrong prev, sealed case,
 * used event key, genTime going back) fails its whole batch, so neither its leaf nor
 * any record, nor the other leaves of that batch, are written; the next batch
 * commits normally (the two appends are made to share a batch by holding the sequencer in
 * the callback of a third).  A read-only handle reads the records beside the writer.
 */
#include "tests/unit/ledger/store_fixture.h"

#include "ledger/event.h"

#include <pthread.h>

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int left;
    int errors[8];
    uint64_t index[8];
} waiter;

typedef struct slot {
    waiter *w;
    int i;
} slot;

static void on_done(void *ctx, int error, uint64_t index)
{
    slot *s = ctx;
    pthread_mutex_lock(&s->w->mu);
    s->w->errors[s->i] = error;
    s->w->index[s->i] = index;
    s->w->left--;
    pthread_cond_signal(&s->w->cv);
    pthread_mutex_unlock(&s->w->mu);
}

static void wait_all(waiter *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->left > 0) {
        pthread_cond_wait(&w->cv, &w->mu);
    }
    pthread_mutex_unlock(&w->mu);
}

/* A case event of (tenant, case, seq) and its body, built as the server builds them. */
typedef struct ev {
    nt_buf body, leaf;
    uint8_t hash[32]; /* leaf hash */
    ledger_case_append a;
} ev;

static void ev_make(ev *e, const char *tenant, const char *case_id, uint64_t seq,
                    const uint8_t *prev, const char *kind, const char *key)
{
    event_fields f;
    record r;
    uint8_t digest[32], token[40];

    memset(e, 0, sizeof(*e));
    memset(&f, 0, sizeof(f));
    f.tenant = tenant;
    f.case_id = case_id;
    f.seq = seq;
    f.prev = prev;
    f.kind = kind;
    REQUIRE(event_body_build(&e->body, &f) == 0);
    fix_sha256(digest, e->body.ptr, e->body.len);
    memset(token, (int)seq, sizeof(token));
    token[0] = 0x30;
    memset(&r, 0, sizeof(r));
    r.kind = RECORD_KIND_CASE_EVENT;
    r.alg = RECORD_ALG_SHA256;
    r.digest = NT_BYTES(digest, 32);
    r.label = NT_BYTES(kind, strlen(kind));
    r.token = NT_BYTES(token, sizeof(token));
    r.has_metadata = 1;
    memcpy(r.metadata_hash, digest, 32);
    REQUIRE(record_encode(&e->leaf, &r) == 0);
    merkle_leaf_hash(e->hash, e->leaf.ptr, e->leaf.len);
    e->a.tenant = tenant;
    e->a.case_id = case_id;
    e->a.event_key = key;
    e->a.seq = seq;
    e->a.prev = prev;
    e->a.seals = strcmp(kind, "case.completed") == 0;
    memset(e->a.request_hash, (int)seq, 32);
}

static void ev_dispose(ev *e)
{
    nt_buf_dispose(&e->body);
    nt_buf_dispose(&e->leaf);
}

/* Append one event and wait: its code (index in *index). */
static int ev_append(uint64_t *index, ledger *l, ev *e, uint64_t gen_ns)
{
    waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 1, {0}, {0}};
    slot s = {&w, 0};
    int rc = ledger_append_case_async(l, nt_buf_bytes(&e->leaf), nt_buf_bytes(&e->body), &e->a,
                                      gen_ns, on_done, &s);
    if (rc != 0) {
        return rc;
    }
    wait_all(&w);
    *index = w.index[0];
    return w.errors[0];
}

static void check_head(ledger *l, const char *tenant, const char *case_id, uint64_t seq,
                       const ev *last, uint64_t last_index, int sealed)
{
    ledger_case_head h;
    CHECK_OK(ledger_case_head_get(&h, l, tenant, case_id));
    CHECK(h.seq == seq && h.last_index == last_index && h.sealed == sealed);
    CHECK_MEM(h.last_hash, last->hash, 32);
}

static void test_chain(ledger *l)
{
    ev e1, e2, e3;
    uint64_t i1, i2, i3, idx[4], seq;
    size_t n;
    uint8_t hash[32];
    nt_buf leaf = NT_BUF_INIT, meta = NT_BUF_INIT, owner = NT_BUF_INIT;
    ledger_case_head h;

    CHECK_ERR(ledger_case_head_get(&h, l, "acme", "c1"), NT_ENOTFOUND);
    ev_make(&e1, "acme", "c1", 1, NULL, "document.uploaded", "k1");
    CHECK_OK(ev_append(&i1, l, &e1, 1000));
    check_head(l, "acme", "c1", 1, &e1, i1, 0);
    ev_make(&e2, "acme", "c1", 2, e1.hash, "document.signed", "k2");
    CHECK_OK(ev_append(&i2, l, &e2, 2000));
    ev_make(&e3, "acme", "c1", 3, e2.hash, "case.completed", "k3");
    CHECK_OK(ev_append(&i3, l, &e3, 2000)); /* an equal genTime is not going back */
    check_head(l, "acme", "c1", 3, &e3, i3, 1);
    CHECK_OK(ledger_case_head_get(&h, l, "acme", "c1"));
    CHECK(h.gen_time_ns == 2000);
    CHECK_OK(ledger_case_events(idx, &n, l, "acme", "c1", 1, 4));
    CHECK(n == 3 && idx[0] == i1 && idx[1] == i2 && idx[2] == i3);
    CHECK_OK(ledger_case_events(idx, &n, l, "acme", "c1", 3, 4));
    CHECK(n == 1 && idx[0] == i3);
    CHECK_OK(ledger_case_events(idx, &n, l, "acme", "c1", 4, 4));
    CHECK(n == 0);
    CHECK_OK(ledger_case_key_get(&seq, hash, l, "acme", "c1", "k2"));
    CHECK(seq == 2 && hash[0] == 2);
    CHECK_ERR(ledger_case_key_get(&seq, hash, l, "acme", "c1", "k9"), NT_ENOTFOUND);
    /* scoped by tenant: the same case id elsewhere is another case */
    CHECK_ERR(ledger_case_head_get(&h, l, "other", "c1"), NT_ENOTFOUND);
    CHECK_ERR(ledger_case_key_get(&seq, hash, l, "other", "c1", "k2"), NT_ENOTFOUND);
    /* the body is the leaf's metadata, the tenant its owner */
    CHECK_OK(ledger_leaf_get(&leaf, &meta, l, i2));
    CHECK(meta.len == e2.body.len && memcmp(meta.ptr, e2.body.ptr, meta.len) == 0);
    CHECK_OK(ledger_owner_get(&owner, l, i2));
    CHECK(owner.len == 4 && memcmp(owner.ptr, "acme", 4) == 0);
    nt_buf_dispose(&leaf);
    nt_buf_dispose(&meta);
    nt_buf_dispose(&owner);
    ev_dispose(&e1);
    ev_dispose(&e2);
    ev_dispose(&e3);
}

/* A callback that holds the sequencer thread until released: appends queued meanwhile
 * pile up and go into the next batch together (the sequencer commits a lone entry at once,
 * so two appends queued back to back are not otherwise sure to share a batch). */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int inside, open;
} gate;

static void on_gate(void *ctx, int error, uint64_t index)
{
    gate *g = ctx;
    (void)error;
    (void)index;
    pthread_mutex_lock(&g->mu);
    g->inside = 1;
    pthread_cond_broadcast(&g->cv);
    while (!g->open) {
        pthread_cond_wait(&g->cv, &g->mu);
    }
    g->inside = 2;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/*
 * Queue a good plain leaf and `bad` in one batch (behind a gate): both fail with
 * NT_ESTATE, the tree and the records do not move; then the plain leaf alone commits.
 */
static void refused_batch(ledger *l, ev *bad, uint64_t gen_ns, const char *what)
{
    waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 2, {0}, {0}};
    slot s0 = {&w, 0}, s1 = {&w, 1};
    nt_buf plain = NT_BUF_INIT;
    ledger_info before, after;
    ledger_case_head h0, h1;
    uint64_t seq, idx;
    uint8_t hash[32];
    int had = ledger_case_head_get(&h0, l, bad->a.tenant, bad->a.case_id);

    gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    nt_buf blocker = NT_BUF_INIT;

    fprintf(stderr, "  refused batch: %s\n", what);
    CHECK_OK(ledger_info_get(&before, l));
    fix_leaf_plain(&blocker, 9000 + before.size, 40);
    REQUIRE(ledger_append_full_async(l, nt_buf_bytes(&blocker), NT_BYTES(NULL, 0),
                                     NT_BYTES(NULL, 0), 0, on_gate, &g) == 0);
    pthread_mutex_lock(&g.mu);
    while (!g.inside) {
        pthread_cond_wait(&g.cv, &g.mu);
    }
    pthread_mutex_unlock(&g.mu);
    /* the blocker is committed; the sequencer waits in its callback */
    CHECK_OK(ledger_info_get(&before, l));
    fix_leaf_plain(&plain, 7000 + before.size, 48);
    CHECK_OK(ledger_append_full_async(l, nt_buf_bytes(&plain), NT_BYTES(NULL, 0), NT_BYTES(NULL, 0),
                                      0, on_done, &s0));
    CHECK_OK(ledger_append_case_async(l, nt_buf_bytes(&bad->leaf), nt_buf_bytes(&bad->body),
                                      &bad->a, gen_ns, on_done, &s1));
    pthread_mutex_lock(&g.mu);
    g.open = 1;
    pthread_cond_broadcast(&g.cv);
    while (g.inside != 2) {
        pthread_cond_wait(&g.cv, &g.mu);
    }
    pthread_mutex_unlock(&g.mu);
    nt_buf_dispose(&blocker);
    wait_all(&w);
    CHECK(w.errors[0] == NT_ESTATE && w.errors[1] == NT_ESTATE);
    if (w.errors[0] != NT_ESTATE || w.errors[1] != NT_ESTATE) {
        fprintf(stderr, "  codes %d %d, indexes %llu %llu\n", w.errors[0], w.errors[1],
                (unsigned long long)w.index[0], (unsigned long long)w.index[1]);
    }
    CHECK_OK(ledger_info_get(&after, l));
    CHECK(after.size == before.size);
    CHECK_MEM(after.root, before.root, 32);
    CHECK(ledger_case_head_get(&h1, l, bad->a.tenant, bad->a.case_id) == had);
    if (had == 0) {
        CHECK(h1.seq == h0.seq && memcmp(h1.last_hash, h0.last_hash, 32) == 0 &&
              h1.sealed == h0.sealed);
    }
    if (bad->a.seq > (had == 0 ? h0.seq : 0)) {
        /* no event entry was written for the refused seq (unless it exists already) */
        size_t n = 9;
        CHECK_OK(ledger_case_events(&idx, &n, l, bad->a.tenant, bad->a.case_id, bad->a.seq, 1));
        CHECK(n == 0);
    }
    if (strcmp(bad->a.event_key, "k1") != 0) {
        CHECK_ERR(
            ledger_case_key_get(&seq, hash, l, bad->a.tenant, bad->a.case_id, bad->a.event_key),
            NT_ENOTFOUND);
    }
    /* the store goes on: the plain leaf alone commits */
    CHECK_OK(ledger_append(&idx, l, nt_buf_bytes(&plain), NT_BYTES(NULL, 0)));
    CHECK(idx == before.size);
    nt_buf_dispose(&plain);
}

static void test_abort_path(ledger *l)
{
    ev a1, a2, bad;
    uint64_t i;
    uint8_t wrong[32];

    ev_make(&a1, "acme", "c2", 1, NULL, "document.uploaded", "k1");
    CHECK_OK(ev_append(&i, l, &a1, 5000));
    ev_make(&a2, "acme", "c2", 2, a1.hash, "document.viewed", "k2");

    ev_make(&bad, "acme", "c2", 3, a1.hash, "document.viewed", "k3"); /* a gap */
    refused_batch(l, &bad, 6000, "seq 3 after 1");
    ev_dispose(&bad);
    ev_make(&bad, "acme", "c2", 1, NULL, "document.viewed", "k4"); /* seq 1 again */
    refused_batch(l, &bad, 6000, "seq 1 again");
    ev_dispose(&bad);
    memset(wrong, 9, sizeof(wrong));
    ev_make(&bad, "acme", "c2", 2, wrong, "document.viewed", "k5"); /* prev not the head */
    refused_batch(l, &bad, 6000, "wrong prev");
    ev_dispose(&bad);
    ev_make(&bad, "acme", "c2", 2, a1.hash, "document.viewed", "k1"); /* key used */
    refused_batch(l, &bad, 6000, "event key used");
    ev_dispose(&bad);
    ev_make(&bad, "acme", "c2", 2, a1.hash, "document.viewed", "k6"); /* genTime back */
    refused_batch(l, &bad, 4999, "genTime before the head's");
    ev_dispose(&bad);
    ev_make(&bad, "acme", "c1", 4, wrong, "document.viewed", "k7"); /* c1 is sealed */
    {
        ledger_case_head h;
        CHECK_OK(ledger_case_head_get(&h, l, "acme", "c1"));
        bad.a.prev = h.last_hash;
        refused_batch(l, &bad, 9000, "sealed case");
    }
    ev_dispose(&bad);
    /* and the good next event still goes in */
    CHECK_OK(ev_append(&i, l, &a2, 6000));
    check_head(l, "acme", "c2", 2, &a2, i, 0);
    ev_dispose(&a1);
    ev_dispose(&a2);
}

static void test_bad_arguments(ledger *l)
{
    ev e;
    nt_buf plain = NT_BUF_INIT;
    uint64_t i;

    ev_make(&e, "acme", "c3", 1, NULL, "document.uploaded", "k1");
    e.a.event_key = "";
    CHECK_ERR(ev_append(&i, l, &e, 0), NT_EINVAL);
    e.a.event_key = "k1";
    e.a.prev = e.hash; /* seq 1 with a prev */
    CHECK_ERR(ev_append(&i, l, &e, 0), NT_EINVAL);
    e.a.prev = NULL;
    e.a.tenant = "";
    CHECK_ERR(ev_append(&i, l, &e, 0), NT_EINVAL);
    e.a.tenant = "acme";
    /* a leaf that is not kind 0x03 */
    fix_leaf_plain(&plain, 99, 40);
    {
        waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 1, {0}, {0}};
        slot s = {&w, 0};
        CHECK_ERR(ledger_append_case_async(l, nt_buf_bytes(&plain), NT_BYTES(NULL, 0), &e.a, 0,
                                           on_done, &s),
                  NT_EINVAL);
    }
    nt_buf_dispose(&plain);
    ev_dispose(&e);
}

int main(void)
{
    char dir[256];
    ledger *l = NULL, *ro = NULL;
    ledger_options o;
    ledger_case_head h;

    fix_store_setup();
    REQUIRE(test_tmpdir(dir, sizeof(dir)) != NULL);
    o = fix_store_opts(dir);
    o.batch_window_us = 20000; /* appends that piled up behind the gate share a batch */
    REQUIRE(ledger_open(&l, &o) == 0);
    test_chain(l);
    test_abort_path(l);
    test_bad_arguments(l);
    /* a read-only handle beside the writer sees the records */
    REQUIRE(ledger_open_readonly(&ro, &o) == 0);
    CHECK_OK(ledger_case_head_get(&h, ro, "acme", "c1"));
    CHECK(h.seq == 3 && h.sealed);
    CHECK_OK(ledger_case_head_get(&h, ro, "acme", "c2"));
    CHECK(h.seq == 2);
    ledger_close(ro);
    ledger_close(l);
    /* and they survive a reopen */
    REQUIRE(ledger_open(&l, &o) == 0);
    CHECK_OK(ledger_case_head_get(&h, l, "acme", "c2"));
    CHECK(h.seq == 2 && !h.sealed);
    ledger_close(l);
    fix_rm_rf(dir);
    fix_store_teardown();
    return TEST_END();
}
