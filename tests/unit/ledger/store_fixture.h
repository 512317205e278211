/*
 * store_fixture.h - the one fixture of the ledger store tests (store_test.c,
 * store_ro_test.c, store_crash_test.c, store_alloc_test.c): the log key and its
 * verifier, the ledger options they open with, deterministic
 * leaves built with record_encode (a fake token is enough for the store), and
 * naive roots recomputed from leaf bytes to check the store against.
 */
#ifndef NT_TESTS_STORE_FIXTURE_H
#define NT_TESTS_STORE_FIXTURE_H

#include "ledger/ledger.h"
#include "tests/unit/test.h"

#include <openssl/evp.h>
#include <pthread.h>

#define FIX_ORIGIN "example.test/notarium-store"

static inline EVP_PKEY *fix_key(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    REQUIRE(k != NULL);
    return k;
}

static inline void fix_verifier(note_verifier *v, const char *origin, EVP_PKEY *key)
{
    nt_buf vk = NT_BUF_INIT;
    REQUIRE(note_vkey_format(&vk, origin, key) == 0);
    REQUIRE(note_vkey_parse(v, (const char *)vk.ptr, vk.len) == 0);
    nt_buf_dispose(&vk);
}

/*
 * The store tests' 64 MiB map, far more than they write: the 64 GiB default cannot be
 * reserved under valgrind (store_test checks the default itself).
 */
#define FIX_MAP_SIZE ((size_t)64 << 20)

/* The test process's log key and its verifier: fix_store_setup() first, _teardown() last. */
typedef struct fix_store {
    EVP_PKEY *key;
    note_verifier vkey;
} fix_store;
static NT_UNUSED fix_store fix_g;

static inline void fix_store_setup(void)
{
    fix_g.key = fix_key();
    fix_verifier(&fix_g.vkey, FIX_ORIGIN, fix_g.key);
}

static inline void fix_store_teardown(void)
{
    EVP_PKEY_free(fix_g.key);
    fix_g.key = NULL;
}

/* Options for a ledger at `dir` signed by `key` with a `map_size` map (the rest default). */
static inline ledger_options fix_ledger_options(const char *dir, EVP_PKEY *key, size_t map_size)
{
    ledger_options o;
    memset(&o, 0, sizeof(o));
    o.path = dir;
    o.origin = FIX_ORIGIN;
    o.log_key = key;
    o.map_size = map_size;
    return o;
}

/* Options for a ledger at `dir` under FIX_ORIGIN with the test key; tests adjust fields. */
static inline ledger_options fix_store_opts(const char *dir)
{
    ledger_options o = fix_ledger_options(dir, fix_g.key, FIX_MAP_SIZE);
    o.batch_window_us = 300;
    return o;
}

static inline void fix_sha256(uint8_t out[32], const void *data, size_t len)
{
    REQUIRE(EVP_Digest(data, len, out, NULL, EVP_sha256(), NULL) == 1);
}

/* Metadata bytes of leaf `seed` (only some seeds have metadata). */
static inline int fix_has_meta(uint64_t seed)
{
    return seed % 5 == 1;
}

static inline void fix_meta(nt_buf *out, uint64_t seed)
{
    nt_buf_clear(out);
    REQUIRE(nt_buf_printf(out, "{\"seed\":%llu,\"kind\":\"contract.signed\"}",
                          (unsigned long long)seed) == 0);
}

/*
 * The leaf for `seed`: digest SHA-256(digest_seed) (so two leaves can share a
 * digest), a fake token of token_len bytes derived from the seed, and the hash
 * of fix_meta(seed) when with_meta.
 */
static inline void fix_leaf_ex(nt_buf *out, uint64_t seed, uint64_t digest_seed, size_t token_len,
                               int with_meta)
{
    uint8_t s[8], digest[32];
    nt_buf token = NT_BUF_INIT, meta = NT_BUF_INIT;
    record r;

    nt_store_u64be(s, digest_seed);
    fix_sha256(digest, s, sizeof(s));
    REQUIRE(nt_buf_grow(&token, token_len) == 0);
    for (size_t i = 0; i < token_len; i++) {
        token.ptr[i] = (uint8_t)((seed * 131u + i * 7u) ^ (seed >> 8));
    }
    token.len = token_len;
    if (token_len > 0) {
        token.ptr[0] = 0x30; /* looks like DER; the store does not care */
    }
    memset(&r, 0, sizeof(r));
    r.kind = RECORD_KIND_TIMESTAMP;
    r.alg = RECORD_ALG_SHA256;
    r.digest = NT_BYTES(digest, sizeof(digest));
    r.label = NT_BYTES(NULL, 0);
    r.token = nt_buf_bytes(&token);
    r.has_metadata = with_meta;
    if (r.has_metadata) {
        fix_meta(&meta, seed);
        fix_sha256(r.metadata_hash, meta.ptr, meta.len);
    }
    nt_buf_clear(out);
    REQUIRE(record_encode(out, &r) == 0);
    nt_buf_dispose(&token);
    nt_buf_dispose(&meta);
}

/* Leaf `seed` as fix_append appends it (metadata when fix_has_meta(seed)). */
static inline void fix_leaf(nt_buf *out, uint64_t seed)
{
    fix_leaf_ex(out, seed, seed, 64 + (size_t)(seed % 97), fix_has_meta(seed));
}

/* A leaf without metadata. */
static inline void fix_leaf_plain(nt_buf *out, uint64_t seed, size_t token_len)
{
    fix_leaf_ex(out, seed, seed, token_len, 0);
}

/* Append leaf `seed` (with its metadata) and return the call's code. */
static inline int fix_append_sized(uint64_t *index, ledger *l, uint64_t seed, size_t token_len)
{
    nt_buf leaf = NT_BUF_INIT, meta = NT_BUF_INIT;
    int rc;
    fix_leaf_ex(&leaf, seed, seed, token_len, fix_has_meta(seed));
    if (fix_has_meta(seed)) {
        fix_meta(&meta, seed);
    }
    rc = ledger_append(index, l, nt_buf_bytes(&leaf), nt_buf_bytes(&meta));
    nt_buf_dispose(&leaf);
    nt_buf_dispose(&meta);
    return rc;
}

static inline int fix_append(uint64_t *index, ledger *l, uint64_t seed)
{
    return fix_append_sized(index, l, seed, 64 + (size_t)(seed % 97));
}

/* Leaf hashes of leaves 0..n-1 as stored (n*32 bytes, caller frees with nt_free). */
static inline uint8_t *fix_stored_hashes(ledger *l, uint64_t n)
{
    uint8_t *h = nt_calloc(n ? n : 1, 32);
    nt_buf leaf = NT_BUF_INIT;
    REQUIRE(h != NULL);
    for (uint64_t i = 0; i < n; i++) {
        REQUIRE(ledger_leaf_get(&leaf, NULL, l, i) == 0);
        merkle_leaf_hash(h + i * 32, leaf.ptr, leaf.len);
    }
    nt_buf_dispose(&leaf);
    return h;
}

/* ledger_check on l with the test's log key: n leaves, no problem. */
static inline void fix_check_clean(ledger *l, uint64_t n)
{
    ledger_check_options co;
    ledger_check_result cr;
    memset(&co, 0, sizeof(co));
    co.log_vkey = &fix_g.vkey;
    CHECK_OK(ledger_check(&cr, l, &co));
    CHECK(cr.leaves == n && cr.problem_count == 0);
    ledger_check_result_dispose(&cr);
}

static inline void fix_rm_rf(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", dir);
    }
}

/* Counts async appends down to 0 (`left`), and those that failed; fix_on_done is their
 * ledger_done_fn.  fix_waiter_wait waits for left to reach 0. */
typedef struct fix_waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int left, failed;
} fix_waiter;

static NT_UNUSED void fix_on_done(void *ctx, int error, uint64_t index)
{
    fix_waiter *w = ctx;
    (void)index;
    pthread_mutex_lock(&w->mu);
    w->left--;
    w->failed += error != 0;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Wait until every append of w is done; returns how long that took (ns). */
static NT_UNUSED uint64_t fix_waiter_wait(fix_waiter *w)
{
    uint64_t t0 = nt_mono_ns();
    pthread_mutex_lock(&w->mu);
    while (w->left > 0) {
        pthread_cond_wait(&w->cv, &w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return nt_mono_ns() - t0;
}

#endif
