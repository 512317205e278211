/*
 * store_test.c - the LMDB ledger store and its sequencer (ledger/store.c)
 * against naive recomputation: appends from several producer threads across
 * many batches, proofs, checkpoints verified with the log's vkey, reopen,
 * digest lookup, receipts, queue-full, map-full, wrong origin and a
 * corrupted store.  Each positive case has its negative twin.  The crash
 * test lives in store_crash_test.c.  The tests open their ledgers with a
 * 64 MiB map (FIX_MAP_SIZE) rather than the 64 GiB default, which valgrind
 * cannot reserve (its address-space manager refuses the mmap with EINVAL);
 * test_default_map checks the default itself, except under valgrind.
 */
#include "tests/unit/ledger/store_fixture.h"
#include "tests/unit/ledger/store_raw.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define TEST_UNDER_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#endif
#endif
#ifndef TEST_UNDER_VALGRIND
#define TEST_UNDER_VALGRIND() 0
#endif

static ledger_options fix_opts(const char *dir)
{
    ledger_options o = fix_store_opts(dir);
    o.batch_max = 32;
    return o;
}

/* The latest checkpoint must verify with the vkey and describe size/root. */
static void check_latest(ledger *l, uint64_t size, const uint8_t root[32])
{
    nt_buf note = NT_BUF_INIT;
    checkpoint c;
    CHECK_OK(ledger_checkpoint_latest(&note, l));
    CHECK_OK(checkpoint_open(&c, (const char *)note.ptr, note.len, &fix_g.vkey, 0));
    CHECK(c.size == size);
    CHECK_MEM(c.root, root, 32);
    CHECK_STR(c.origin, FIX_ORIGIN);
    nt_buf_dispose(&note);
}

static void test_empty_and_options(void)
{
    char dir[256];
    ledger *l = NULL;
    ledger_options o;
    ledger_info info;
    nt_buf b = NT_BUF_INIT, note = NT_BUF_INIT;
    uint8_t empty[32], h[32];
    EVP_PKEY *x25519;
    uint64_t idx = 0;

    REQUIRE(test_tmpdir(dir, sizeof(dir)) != NULL);
    o = fix_opts(dir);

    /* bad options */
    o.origin = NULL;
    CHECK_ERR(ledger_open(&l, &o), NT_EINVAL);
    o.origin = "has space";
    CHECK_ERR(ledger_open(&l, &o), NT_EINVAL);
    o.origin = "a+b";
    CHECK_ERR(ledger_open(&l, &o), NT_EINVAL);
    o.origin = "a\xc2\xa0"
               "b"; /* U+00A0, a Unicode space */
    CHECK_ERR(ledger_open(&l, &o), NT_EINVAL);
    CHECK(strstr(nt_error_last(), "key name") != NULL);
    o.origin = "a\xff";
    CHECK_ERR(ledger_open(&l, &o), NT_EINVAL);
    o.origin = FIX_ORIGIN;
    x25519 = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    REQUIRE(x25519 != NULL);
    o.log_key = x25519;
    CHECK_ERR(ledger_open(&l, &o), NT_EINVAL);
    o.log_key = NULL;
    CHECK_ERR(ledger_open(&l, &o), NT_EINVAL);
    EVP_PKEY_free(x25519);
    o.log_key = fix_g.key;
    o.path = NULL;
    CHECK_ERR(ledger_open(&l, &o), NT_EINVAL);
    CHECK(l == NULL);
    o.path = dir;

    CHECK_OK(ledger_open(&l, &o));
    REQUIRE(l != NULL);
    CHECK_STR(ledger_origin(l), FIX_ORIGIN);
    {
        /* one handle per ledger; the twin (open after close) is every reopen below */
        ledger *l2 = NULL;
        CHECK_ERR(ledger_open(&l2, &o), NT_EBUSY);
        CHECK(l2 == NULL);
    }
    merkle_empty_root(empty);
    CHECK_OK(ledger_info_get(&info, l));
    CHECK(info.size == 0 && info.batches == 0 && info.full == 0 && info.queue_depth == 0);
    CHECK(info.commit_sum_ns == 0 && info.commit_buckets[0] == 0);
    CHECK_MEM(info.root, empty, 32);
    CHECK(info.map_size == FIX_MAP_SIZE);
    CHECK(info.map_used > 0 && info.map_used < info.map_size);
    check_latest(l, 0, empty);
    CHECK_OK(ledger_checkpoint_at(&note, l, 0));
    CHECK_ERR(ledger_checkpoint_at(&note, l, 1), NT_ENOTFOUND);
    CHECK_ERR(ledger_leaf_get(&b, NULL, l, 0), NT_ENOTFOUND);
    CHECK_ERR(ledger_hash_get(h, l, 0, 0), NT_ENOTFOUND);
    CHECK_ERR(ledger_proof_inclusion(&b, l, 0, 0), NT_EINVAL);
    CHECK_OK(ledger_proof_consistency(&b, l, 0, 0));
    CHECK(b.len == 0);
    CHECK_ERR(ledger_proof_consistency(&b, l, 0, 1), NT_EINVAL);

    /* a leaf that is not a record, and a truncated one */
    CHECK_ERR(ledger_append(&idx, l, NT_BYTES("garbage", 7), NT_BYTES(NULL, 0)), NT_EINVAL);
    fix_leaf(&b, 3);
    CHECK_ERR(ledger_append(&idx, l, NT_BYTES(b.ptr, b.len - 1), NT_BYTES(NULL, 0)), NT_EINVAL);
    CHECK_ERR(ledger_append(&idx, l, NT_BYTES(NULL, 0), NT_BYTES(NULL, 0)), NT_EINVAL);
    CHECK_OK(ledger_append(&idx, l, nt_buf_bytes(&b), NT_BYTES(NULL, 0)));
    CHECK(idx == 0);
    CHECK_OK(ledger_info_get(&info, l));
    CHECK(info.size == 1 && info.batches == 1 && info.appends_failed == 0);
    ledger_close(l);
    ledger_close(NULL);
    nt_buf_dispose(&b);
    nt_buf_dispose(&note);
    fix_rm_rf(dir);
}

/*
 * map_size 0 means the documented 64 GiB default (ledger.h); every other test
 * passes FIX_MAP_SIZE, whose twin is the check in test_empty_and_options.
 */
static void test_default_map(void)
{
    char dir[256];
    ledger *l = NULL;
    ledger_options o;
    ledger_info info;
    uint64_t idx = 1;

    if (TEST_UNDER_VALGRIND()) {
        fprintf(stderr, "store_test: under valgrind: the 64 GiB default map is not checked\n");
        return;
    }
    REQUIRE(test_tmpdir(dir, sizeof(dir)) != NULL);
    o = fix_opts(dir);
    o.map_size = 0;
    CHECK_OK(ledger_open(&l, &o));
    REQUIRE(l != NULL);
    CHECK_OK(ledger_info_get(&info, l));
    CHECK(info.map_size == (size_t)64 << 30);
    CHECK_OK(fix_append(&idx, l, 1));
    CHECK(idx == 0);
    CHECK_OK(ledger_info_get(&info, l));
    CHECK(info.size == 1 && info.map_used > 0 && info.map_used < info.map_size);
    ledger_close(l);
    fix_rm_rf(dir);
}

/* ------------------------------------------------------------------ many producers */

#define PRODUCERS    4
#define PER_PRODUCER 75
#define TOTAL        (PRODUCERS * PER_PRODUCER)

typedef struct producer {
    ledger *l;
    unsigned id;
    uint64_t index[PER_PRODUCER];
    int failures;
} producer;

static void *producer_main(void *arg)
{
    producer *p = arg;
    for (unsigned i = 0; i < PER_PRODUCER; i++) {
        uint64_t seed = (uint64_t)p->id * 1000u + i;
        if (fix_append(&p->index[i], p->l, seed) != 0) {
            p->failures++;
            p->index[i] = UINT64_MAX;
        }
    }
    return NULL;
}

typedef struct reader {
    ledger *l;
    atomic_int stop;
    int rounds;
    int failures;
} reader;

/* Reads while the sequencer writes: every latest checkpoint must verify and
 * prove its newest leaf. */
static void *reader_main(void *arg)
{
    reader *r = arg;
    nt_buf note = NT_BUF_INIT, proof = NT_BUF_INIT, leaf = NT_BUF_INIT;
    while (!atomic_load(&r->stop)) {
        checkpoint c;
        uint8_t lh[32];
        r->rounds++;
        if (ledger_checkpoint_latest(&note, r->l) != 0 ||
            checkpoint_open(&c, (const char *)note.ptr, note.len, &fix_g.vkey, 0) != 0) {
            r->failures++;
            continue;
        }
        if (c.size == 0) {
            continue;
        }
        if (ledger_proof_inclusion(&proof, r->l, c.size - 1, c.size) != 0 ||
            ledger_leaf_get(&leaf, NULL, r->l, c.size - 1) != 0) {
            r->failures++;
            continue;
        }
        merkle_leaf_hash(lh, leaf.ptr, leaf.len);
        if (merkle_verify_inclusion(lh, c.size - 1, c.size, proof.ptr, proof.len, c.root) != 0) {
            r->failures++;
        }
    }
    nt_buf_dispose(&note);
    nt_buf_dispose(&proof);
    nt_buf_dispose(&leaf);
    return NULL;
}

static const uint64_t probe_sizes[] = {1,  2,  3,  4,   5,   7,   8,   9,    16,
                                       17, 31, 64, 100, 255, 256, 257, TOTAL};

static void check_proofs(ledger *l, const uint8_t *hashes, uint64_t n)
{
    nt_buf proof = NT_BUF_INIT;
    uint8_t root_a[32], root_b[32];

    for (size_t a = 0; a < NT_ARRAY_LEN(probe_sizes); a++) {
        uint64_t s = probe_sizes[a];
        uint64_t idxs[3] = {0, s / 2, s - 1};
        if (s > n) {
            continue;
        }
        REQUIRE(merkle_root_naive(root_a, hashes, s) == 0);
        for (int i = 0; i < 3; i++) {
            CHECK_OK(ledger_proof_inclusion(&proof, l, idxs[i], s));
            CHECK_OK(merkle_verify_inclusion(hashes + idxs[i] * 32, idxs[i], s, proof.ptr,
                                             proof.len, root_a));
            if (proof.len > 0) {
                proof.ptr[proof.len / 2] ^= 1;
                CHECK_ERR(merkle_verify_inclusion(hashes + idxs[i] * 32, idxs[i], s, proof.ptr,
                                                  proof.len, root_a),
                          NT_EVERIFY);
            }
        }
        CHECK_ERR(ledger_proof_inclusion(&proof, l, s, s), NT_EINVAL);
        for (size_t b = a; b < NT_ARRAY_LEN(probe_sizes); b++) {
            uint64_t t = probe_sizes[b];
            if (t > n) {
                continue;
            }
            REQUIRE(merkle_root_naive(root_b, hashes, t) == 0);
            CHECK_OK(ledger_proof_consistency(&proof, l, s, t));
            CHECK_OK(merkle_verify_consistency(s, t, root_a, root_b, proof.ptr, proof.len));
            if (proof.len > 0) {
                proof.ptr[0] ^= 0x80;
                CHECK(merkle_verify_consistency(s, t, root_a, root_b, proof.ptr, proof.len) != 0);
            }
            if (s < t) {
                CHECK_ERR(ledger_proof_consistency(&proof, l, t, s), NT_EINVAL);
            }
        }
    }
    CHECK_ERR(ledger_proof_inclusion(&proof, l, 0, n + 1), NT_EINVAL);
    CHECK_ERR(ledger_proof_consistency(&proof, l, 1, n + 1), NT_EINVAL);
    nt_buf_dispose(&proof);
}

static void check_subtrees(ledger *l, const uint8_t *hashes, uint64_t n)
{
    uint8_t h[32], want[32];
    for (uint64_t i = 0; i < n; i += 37) {
        CHECK_OK(ledger_hash_get(h, l, 0, i));
        CHECK_MEM(h, hashes + i * 32, 32);
    }
    CHECK_OK(ledger_hash_get(h, l, 4, 3));
    REQUIRE(merkle_root_naive(want, hashes + 48 * 32, 16) == 0);
    CHECK_MEM(h, want, 32);
    CHECK_OK(ledger_hash_get(h, l, 8, 0));
    REQUIRE(merkle_root_naive(want, hashes, 256) == 0);
    CHECK_MEM(h, want, 32);
    /* incomplete or beyond the tree */
    CHECK_ERR(ledger_hash_get(h, l, 8, 1), NT_ENOTFOUND);
    CHECK_ERR(ledger_hash_get(h, l, 9, 0), NT_ENOTFOUND);
    CHECK_ERR(ledger_hash_get(h, l, 0, n), NT_ENOTFOUND);
    CHECK_ERR(ledger_hash_get(h, l, 70, 0), NT_EINVAL);
}

/* Every stored checkpoint verifies and commits to the naive root of its size. */
static void check_checkpoints(ledger *l, const uint8_t *hashes, uint64_t n, uint64_t batches)
{
    nt_buf note = NT_BUF_INIT;
    uint64_t found = 0;
    uint8_t root[32];
    for (uint64_t s = 0; s <= n + 1; s++) {
        checkpoint c;
        int rc = ledger_checkpoint_at(&note, l, s);
        if (rc == NT_ENOTFOUND) {
            continue;
        }
        CHECK_OK(rc);
        found++;
        CHECK_OK(checkpoint_open(&c, (const char *)note.ptr, note.len, &fix_g.vkey, 0));
        CHECK(c.size == s);
        REQUIRE(merkle_root_naive(root, hashes, s) == 0);
        CHECK_MEM(c.root, root, 32);
        /* tampered note: the signature no longer verifies */
        note.ptr[note.len / 3] ^= 0x01;
        CHECK(checkpoint_open(&c, (const char *)note.ptr, note.len, &fix_g.vkey, 0) != 0);
    }
    CHECK(found == batches + 1);
    CHECK(found >= 2);
    nt_buf_dispose(&note);
}

static void check_digest_lookup(ledger *l, const producer *prod)
{
    uint64_t *idx = NULL, got = 0;
    size_t count = 99;
    uint8_t s[8], digest[32];
    nt_buf leaf = NT_BUF_INIT;

    /* leaf seed 1000 (producer 1, first append) */
    nt_store_u64be(s, 1000);
    fix_sha256(digest, s, sizeof(s));
    CHECK_OK(ledger_find_digest(&idx, &count, l, RECORD_ALG_SHA256, NT_BYTES(digest, 32), 10));
    CHECK(count == 1 && idx != NULL && idx[0] == prod[1].index[0]);
    nt_free(idx);

    /* a second leaf with the same digest (different token) */
    fix_leaf_ex(&leaf, 999999, 1000, 40, 0);
    CHECK_OK(ledger_append(&got, l, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0)));
    CHECK_OK(ledger_find_digest(&idx, &count, l, RECORD_ALG_SHA256, NT_BYTES(digest, 32), 10));
    CHECK(count == 2 && idx != NULL && idx[0] == prod[1].index[0] && idx[1] == got);
    nt_free(idx);
    CHECK_OK(ledger_find_digest(&idx, &count, l, RECORD_ALG_SHA256, NT_BYTES(digest, 32), 1));
    CHECK(count == 1 && idx != NULL && idx[0] == prod[1].index[0]);
    nt_free(idx);

    /* not found: unknown digest, same bytes under another algorithm, truncated digest */
    nt_store_u64be(s, 123456789);
    fix_sha256(digest, s, sizeof(s));
    CHECK_OK(ledger_find_digest(&idx, &count, l, RECORD_ALG_SHA256, NT_BYTES(digest, 32), 10));
    CHECK(count == 0 && idx == NULL);
    nt_store_u64be(s, 1000);
    fix_sha256(digest, s, sizeof(s));
    CHECK_OK(ledger_find_digest(&idx, &count, l, RECORD_ALG_SHA3_256, NT_BYTES(digest, 32), 10));
    CHECK(count == 0 && idx == NULL);
    CHECK_OK(ledger_find_digest(&idx, &count, l, RECORD_ALG_SHA256, NT_BYTES(digest, 31), 10));
    CHECK(count == 0 && idx == NULL);
    CHECK_ERR(ledger_find_digest(&idx, &count, l, RECORD_ALG_SHA256, NT_BYTES(digest, 0), 10),
              NT_EINVAL);
    CHECK_ERR(ledger_find_digest(&idx, &count, l, RECORD_ALG_SHA256, NT_BYTES(digest, 65), 10),
              NT_EINVAL);
    nt_buf_dispose(&leaf);
}

static void check_receipt(ledger *l, uint64_t index, uint64_t seed)
{
    receipt r, back;
    nt_buf json = NT_BUF_INIT, leaf = NT_BUF_INIT, meta = NT_BUF_INIT;
    checkpoint c;
    record rec;
    uint8_t lh[32];
    ledger_info info;

    receipt_init(&r);
    receipt_init(&back);
    fix_leaf(&leaf, seed);
    REQUIRE(fix_has_meta(seed));
    fix_meta(&meta, seed);
    CHECK_OK(ledger_receipt_fill(&r, l, index));
    CHECK_OK(ledger_info_get(&info, l));
    CHECK(r.version == RECEIPT_VERSION);
    CHECK_STR(nt_buf_cstr(&r.origin), FIX_ORIGIN);
    CHECK(r.leaf_index == index && r.tree_size == info.size);
    CHECK(r.leaf.len == leaf.len && memcmp(r.leaf.ptr, leaf.ptr, leaf.len) == 0);
    REQUIRE(record_decode(&rec, leaf.ptr, leaf.len) == 0);
    CHECK(r.token.len == rec.token.len && memcmp(r.token.ptr, rec.token.ptr, rec.token.len) == 0);
    CHECK(r.has_metadata == 1);
    CHECK(r.metadata.len == meta.len && memcmp(r.metadata.ptr, meta.ptr, meta.len) == 0);
    CHECK(r.cert_count == 0);
    CHECK_OK(checkpoint_open(&c, (const char *)r.checkpoint.ptr, r.checkpoint.len, &fix_g.vkey, 0));
    CHECK(c.size == r.tree_size);
    merkle_leaf_hash(lh, r.leaf.ptr, r.leaf.len);
    CHECK_OK(merkle_verify_inclusion(lh, index, r.tree_size, r.proof.ptr, r.proof.len, c.root));
    /* the proof does not prove a neighbour */
    CHECK_ERR(merkle_verify_inclusion(lh, index ^ 1, r.tree_size, r.proof.ptr, r.proof.len, c.root),
              NT_EVERIFY);

    /* survives the JSON codec */
    CHECK_OK(receipt_encode(&json, &r));
    CHECK_OK(receipt_decode(&back, (const char *)json.ptr, json.len));
    CHECK(back.leaf_index == index && back.tree_size == r.tree_size);
    CHECK(back.proof.len == r.proof.len && memcmp(back.proof.ptr, r.proof.ptr, r.proof.len) == 0);

    /* a leaf without metadata */
    CHECK_OK(ledger_receipt_fill(&r, l, 0));
    CHECK(r.leaf_index == 0);
    REQUIRE(record_decode(&rec, r.leaf.ptr, r.leaf.len) == 0);
    CHECK(r.has_metadata == rec.has_metadata);
    CHECK(rec.has_metadata || r.metadata.len == 0);

    CHECK_ERR(ledger_receipt_fill(&r, l, info.size), NT_ENOTFOUND);
    receipt_dispose(&r);
    receipt_dispose(&back);
    nt_buf_dispose(&json);
    nt_buf_dispose(&leaf);
    nt_buf_dispose(&meta);
}

static void check_metadata_rules(ledger *l)
{
    nt_buf leaf = NT_BUF_INIT, meta = NT_BUF_INIT, got = NT_BUF_INIT, gotm = NT_BUF_INIT;
    uint64_t idx = 0;
    ledger_info before, after;

    CHECK_OK(ledger_info_get(&before, l));
    fix_leaf(&leaf, 501); /* has metadata */
    REQUIRE(fix_has_meta(501));
    fix_meta(&meta, 502);
    CHECK_ERR(ledger_append(&idx, l, nt_buf_bytes(&leaf), nt_buf_bytes(&meta)), NT_EINVAL);
    CHECK_ERR(ledger_append(&idx, l, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0)), NT_EINVAL);
    fix_leaf(&leaf, 500); /* has none */
    REQUIRE(!fix_has_meta(500));
    CHECK_ERR(ledger_append(&idx, l, nt_buf_bytes(&leaf), nt_buf_bytes(&meta)), NT_EINVAL);
    CHECK_OK(ledger_info_get(&after, l));
    CHECK(after.size == before.size && after.appends_failed == before.appends_failed);

    /* the twin: matching metadata is accepted and read back */
    CHECK_OK(fix_append(&idx, l, 501));
    fix_meta(&meta, 501);
    CHECK_OK(ledger_leaf_get(&got, &gotm, l, idx));
    fix_leaf(&leaf, 501);
    CHECK(got.len == leaf.len && memcmp(got.ptr, leaf.ptr, leaf.len) == 0);
    CHECK(gotm.len == meta.len && memcmp(gotm.ptr, meta.ptr, meta.len) == 0);
    nt_buf_dispose(&leaf);
    nt_buf_dispose(&meta);
    nt_buf_dispose(&got);
    nt_buf_dispose(&gotm);
}

static void test_many_and_reopen(void)
{
    char dir[256];
    ledger *l = NULL;
    ledger_options o;
    ledger_info info, info2;
    producer prod[PRODUCERS];
    pthread_t th[PRODUCERS], rth;
    reader rd;
    uint8_t *hashes;
    unsigned char seen[TOTAL];
    nt_buf leaf = NT_BUF_INIT, meta = NT_BUF_INIT, want = NT_BUF_INIT, wantm = NT_BUF_INIT;
    nt_buf note = NT_BUF_INIT, note2 = NT_BUF_INIT, proof = NT_BUF_INIT;
    uint64_t size1, idx = 0;
    uint8_t root1[32];

    REQUIRE(test_tmpdir(dir, sizeof(dir)) != NULL);
    o = fix_opts(dir);
    CHECK_OK(ledger_open(&l, &o));
    REQUIRE(l != NULL);

    memset(&rd, 0, sizeof(rd));
    rd.l = l;
    REQUIRE(pthread_create(&rth, NULL, reader_main, &rd) == 0);
    for (unsigned t = 0; t < PRODUCERS; t++) {
        memset(&prod[t], 0, sizeof(prod[t]));
        prod[t].l = l;
        prod[t].id = t;
        REQUIRE(pthread_create(&th[t], NULL, producer_main, &prod[t]) == 0);
    }
    for (unsigned t = 0; t < PRODUCERS; t++) {
        pthread_join(th[t], NULL);
        CHECK(prod[t].failures == 0);
    }
    atomic_store(&rd.stop, 1);
    pthread_join(rth, NULL);
    CHECK(rd.failures == 0);
    CHECK(rd.rounds > 0);

    CHECK_OK(ledger_info_get(&info, l));
    CHECK(info.size == TOTAL);
    CHECK(info.batches >= 2 && info.batches <= TOTAL);
    CHECK(info.appends_failed == 0 && info.queue_depth == 0);
    /* every committed batch has its duration in the histogram */
    uint64_t timed = 0;
    for (size_t i = 0; i <= LEDGER_COMMIT_BUCKETS; i++) {
        timed += info.commit_buckets[i];
    }
    CHECK(timed == info.batches && info.commit_sum_ns > 0);

    /* every acknowledged index holds exactly its leaf; the indexes are 0..TOTAL-1 */
    memset(seen, 0, sizeof(seen));
    for (unsigned t = 0; t < PRODUCERS; t++) {
        for (unsigned i = 0; i < PER_PRODUCER; i++) {
            uint64_t seed = (uint64_t)t * 1000u + i, ix = prod[t].index[i];
            REQUIRE(ix < TOTAL);
            CHECK(!seen[ix]);
            seen[ix] = 1;
            CHECK_OK(ledger_leaf_get(&leaf, &meta, l, ix));
            fix_leaf(&want, seed);
            CHECK(leaf.len == want.len && memcmp(leaf.ptr, want.ptr, want.len) == 0);
            if (fix_has_meta(seed)) {
                fix_meta(&wantm, seed);
                CHECK(meta.len == wantm.len && memcmp(meta.ptr, wantm.ptr, wantm.len) == 0);
            } else {
                CHECK(meta.len == 0);
            }
            /* each producer's appends are ordered */
            if (i > 0) {
                CHECK(prod[t].index[i - 1] < ix);
            }
        }
    }
    CHECK_ERR(ledger_leaf_get(&leaf, &meta, l, TOTAL), NT_ENOTFOUND);

    hashes = fix_stored_hashes(l, TOTAL);
    {
        uint8_t root[32];
        REQUIRE(merkle_root_naive(root, hashes, TOTAL) == 0);
        CHECK_MEM(info.root, root, 32);
        check_latest(l, TOTAL, root);
    }
    check_proofs(l, hashes, TOTAL);
    check_subtrees(l, hashes, TOTAL);
    check_checkpoints(l, hashes, TOTAL, info.batches);
    check_receipt(l, prod[2].index[1], 2001);
    check_digest_lookup(l, prod);
    check_metadata_rules(l);
    nt_free(hashes);

    /* reopen: everything is kept and the new head extends the old one */
    CHECK_OK(ledger_info_get(&info, l));
    size1 = info.size;
    memcpy(root1, info.root, 32);
    CHECK_OK(ledger_checkpoint_latest(&note, l));
    ledger_close(l);
    l = NULL;

    o.origin = "example.test/another-log";
    CHECK_ERR(ledger_open(&l, &o), NT_EINVAL);
    CHECK(l == NULL);
    o.origin = FIX_ORIGIN;
    CHECK_OK(ledger_open(&l, &o));
    REQUIRE(l != NULL);
    CHECK_OK(ledger_info_get(&info2, l));
    CHECK(info2.size == size1 && info2.batches == 0);
    CHECK_MEM(info2.root, root1, 32);
    CHECK_OK(ledger_checkpoint_latest(&note2, l));
    CHECK(note.len == note2.len && memcmp(note.ptr, note2.ptr, note.len) == 0);
    for (uint64_t i = 0; i < 10; i++) {
        CHECK_OK(fix_append(&idx, l, 7000 + i));
        CHECK(idx == size1 + i);
    }
    CHECK_OK(ledger_info_get(&info2, l));
    CHECK(info2.size == size1 + 10);
    CHECK_OK(ledger_proof_consistency(&proof, l, size1, info2.size));
    CHECK_OK(merkle_verify_consistency(size1, info2.size, root1, info2.root, proof.ptr, proof.len));
    CHECK_OK(ledger_checkpoint_at(&note2, l, size1));
    CHECK(note.len == note2.len && memcmp(note.ptr, note2.ptr, note.len) == 0);
    hashes = fix_stored_hashes(l, info2.size);
    {
        uint8_t root[32];
        REQUIRE(merkle_root_naive(root, hashes, info2.size) == 0);
        CHECK_MEM(info2.root, root, 32);
        check_latest(l, info2.size, root);
        /* an unrelated root is not consistent */
        root[5] ^= 1;
        CHECK(merkle_verify_consistency(size1, info2.size, root1, root, proof.ptr, proof.len) != 0);
    }
    nt_free(hashes);
    ledger_close(l);

    nt_buf_dispose(&leaf);
    nt_buf_dispose(&meta);
    nt_buf_dispose(&want);
    nt_buf_dispose(&wantm);
    nt_buf_dispose(&note);
    nt_buf_dispose(&note2);
    nt_buf_dispose(&proof);
    fix_rm_rf(dir);
}

/* ------------------------------------------------------------------ queue full */

/* A callback that holds the sequencer until the test opens the gate. */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int entered;
    int open;
    int done;
    int errors[64];
    int codes_seen;
} gate;

static void gate_init(gate *g)
{
    memset(g, 0, sizeof(*g));
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
}

static void gate_dispose(gate *g)
{
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

static void gate_hold(void *ctx, int error, uint64_t index)
{
    gate *g = ctx;
    (void)index;
    pthread_mutex_lock(&g->mu);
    g->entered = 1;
    g->errors[g->done++ % 64] = error;
    pthread_cond_broadcast(&g->cv);
    while (!g->open) {
        pthread_cond_wait(&g->cv, &g->mu);
    }
    pthread_mutex_unlock(&g->mu);
}

static void gate_count(void *ctx, int error, uint64_t index)
{
    gate *g = ctx;
    (void)index;
    pthread_mutex_lock(&g->mu);
    g->errors[g->done++ % 64] = error;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void gate_wait_entered(gate *g)
{
    pthread_mutex_lock(&g->mu);
    while (!g->entered) {
        pthread_cond_wait(&g->cv, &g->mu);
    }
    pthread_mutex_unlock(&g->mu);
}

/* Open the gate and wait for n callbacks (at most 60 s: a lost callback fails the test). */
static void gate_open_and_wait(gate *g, int n)
{
    struct timespec deadline;
    int timed_out = 0;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 60;
    pthread_mutex_lock(&g->mu);
    g->open = 1;
    pthread_cond_broadcast(&g->cv);
    while (g->done < n && !timed_out) {
        timed_out = pthread_cond_timedwait(&g->cv, &g->mu, &deadline) != 0 && g->done < n;
    }
    pthread_mutex_unlock(&g->mu);
    REQUIRE(!timed_out);
}

/* Queue an append whose callback counts; `accepted` counts the appends queued. */
static int gate_push(ledger *l, const nt_buf *leaf, gate *g, int *accepted)
{
    int rc = ledger_append_async(l, nt_buf_bytes(leaf), NT_BYTES(NULL, 0), gate_count, g);
    if (rc == 0) {
        (*accepted)++;
    }
    return rc;
}

static void test_queue_full(void)
{
    char dir[256];
    ledger *l = NULL;
    ledger_options o;
    ledger_info info;
    gate g;
    nt_buf leaf = NT_BUF_INIT;
    uint64_t idx = 0;
    int accepted = 1;

    REQUIRE(test_tmpdir(dir, sizeof(dir)) != NULL);
    o = fix_opts(dir);
    o.queue_max = 4;
    o.queue_bytes_max = 3 * 1100;
    CHECK_OK(ledger_open(&l, &o));
    REQUIRE(l != NULL);
    gate_init(&g);

    fix_leaf_plain(&leaf, 10, 50);
    CHECK_OK(ledger_append_async(l, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0), gate_hold, &g));
    gate_wait_entered(&g); /* the sequencer is now stuck in our callback */
    for (int i = 0; i < 4; i++) {
        fix_leaf_plain(&leaf, 20 + (uint64_t)i, 50);
        CHECK_OK(gate_push(l, &leaf, &g, &accepted));
    }
    fix_leaf_plain(&leaf, 30, 50);
    CHECK_ERR(gate_push(l, &leaf, &g, &accepted), NT_EBUSY);
    CHECK_OK(ledger_info_get(&info, l));
    CHECK(info.queue_depth == 4);
    gate_open_and_wait(&g, accepted);
    CHECK(accepted == 5);
    for (int i = 0; i < 5; i++) {
        CHECK(g.errors[i] == 0);
    }
    /* twin: with room again the same append goes through */
    CHECK_OK(ledger_append(&idx, l, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0)));
    CHECK(idx == 5);
    gate_dispose(&g);

    /* the byte bound: three ~1 KB leaves fit in 3300 bytes, a fourth does not */
    gate_init(&g);
    accepted = 1;
    CHECK_OK(ledger_append_async(l, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0), gate_hold, &g));
    gate_wait_entered(&g);
    for (int i = 0; i < 3; i++) {
        fix_leaf_plain(&leaf, 40 + (uint64_t)i, 1000);
        CHECK_OK(gate_push(l, &leaf, &g, &accepted));
    }
    CHECK_ERR(gate_push(l, &leaf, &g, &accepted), NT_EBUSY);
    gate_open_and_wait(&g, accepted);
    CHECK(accepted == 4);
    CHECK_OK(ledger_info_get(&info, l));
    CHECK(info.size == 10 && info.appends_failed == 0);
    gate_dispose(&g);

    /* closing: queued appends are finished, later ones refused */
    ledger_close(l);
    nt_buf_dispose(&leaf);
    fix_rm_rf(dir);
}

/* ------------------------------------------------------------------ map full */

static void test_map_full(void)
{
    char dir[256];
    ledger *l = NULL;
    ledger_options o;
    ledger_info info, before;
    gate g;
    nt_buf leaf = NT_BUF_INIT, b = NT_BUF_INIT;
    uint64_t idx = 0, *found = NULL;
    size_t count = 0;
    uint8_t *hashes, root[32], s[8], digest[32];
    uint64_t n;
    int burst = 40, accepted = 1;

    REQUIRE(test_tmpdir(dir, sizeof(dir)) != NULL);
    o = fix_opts(dir);
    o.map_size = 1u << 20;
    o.batch_max = 64;
    o.full_retry_ms = 600000; /* no probe within this test: refusals stay deterministic */
    CHECK_OK(ledger_open(&l, &o));
    REQUIRE(l != NULL);

    /* fill to about 60% with 8 KB leaves */
    for (uint64_t i = 0;; i++) {
        CHECK_OK(ledger_info_get(&info, l));
        if (info.map_used > (info.map_size / 10) * 6 || i > 200) {
            break;
        }
        CHECK_OK(fix_append_sized(&idx, l, i, 8000));
    }
    REQUIRE(info.map_used > (info.map_size / 10) * 6);
    CHECK(info.map_size == 1u << 20 && info.full == 0);
    before = info;

    /* hold the sequencer, queue a burst far larger than the space left: one batch */
    gate_init(&g);
    fix_leaf_plain(&leaf, 900, 100);
    CHECK_OK(ledger_append_async(l, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0), gate_hold, &g));
    gate_wait_entered(&g);
    for (int i = 0; i < burst; i++) {
        fix_leaf_plain(&leaf, 1000 + (uint64_t)i, 16000);
        CHECK_OK(gate_push(l, &leaf, &g, &accepted));
    }
    gate_open_and_wait(&g, accepted);
    CHECK(accepted == 1 + burst);
    CHECK(g.errors[0] == 0);
    for (int i = 1; i <= burst; i++) {
        CHECK(g.errors[i] == NT_EFULL);
    }
    gate_dispose(&g);

    /* nothing of the failed batch remains; reads keep working */
    CHECK_OK(ledger_info_get(&info, l));
    n = before.size + 1;
    CHECK(info.size == n);
    CHECK(info.full == 1);
    CHECK(info.appends_failed == (uint64_t)burst);
    CHECK_ERR(ledger_leaf_get(&b, NULL, l, n), NT_ENOTFOUND);
    CHECK_ERR(ledger_hash_get(root, l, 0, n), NT_ENOTFOUND);
    CHECK_ERR(ledger_checkpoint_at(&b, l, n + 1), NT_ENOTFOUND);
    nt_store_u64be(s, 1000);
    fix_sha256(digest, s, sizeof(s));
    CHECK_OK(ledger_find_digest(&found, &count, l, RECORD_ALG_SHA256, NT_BYTES(digest, 32), 4));
    CHECK(count == 0 && found == NULL);
    hashes = fix_stored_hashes(l, n);
    REQUIRE(merkle_root_naive(root, hashes, n) == 0);
    CHECK_MEM(info.root, root, 32);
    check_latest(l, n, root);
    check_proofs(l, hashes, n);
    nt_free(hashes);

    /* appends keep failing cleanly */
    fix_leaf_plain(&leaf, 2000, 100);
    CHECK_ERR(gate_push(l, &leaf, &g, &accepted), NT_EFULL);
    CHECK_ERR(ledger_append(&idx, l, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0)), NT_EFULL);
    ledger_close(l);
    l = NULL;

    /* reopen with the same map: intact; with a larger map: appends work again */
    CHECK_OK(ledger_open(&l, &o));
    REQUIRE(l != NULL);
    CHECK_OK(ledger_info_get(&info, l));
    CHECK(info.size == n && info.full == 0);
    ledger_close(l);
    l = NULL;
    o.map_size = 4u << 20;
    CHECK_OK(ledger_open(&l, &o));
    REQUIRE(l != NULL);
    CHECK_OK(ledger_append(&idx, l, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0)));
    CHECK(idx == n);
    fix_leaf_plain(&leaf, 1000, 16000);
    CHECK_OK(ledger_append(&idx, l, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0)));
    CHECK(idx == n + 1);
    CHECK_OK(ledger_info_get(&info, l));
    hashes = fix_stored_hashes(l, info.size);
    REQUIRE(merkle_root_naive(root, hashes, info.size) == 0);
    CHECK_MEM(info.root, root, 32);
    check_latest(l, info.size, root);
    nt_free(hashes);
    ledger_close(l);
    nt_buf_dispose(&leaf);
    nt_buf_dispose(&b);
    fix_rm_rf(dir);
}

/* ------------------------------------------------------------------ corruption */

static void test_corruption(void)
{
    char dir[256];
    ledger *l = NULL;
    ledger_options o;
    nt_buf root = NT_BUF_INIT, bad = NT_BUF_INIT, node = NT_BUF_INIT, size = NT_BUF_INIT;
    uint64_t idx = 0;
    uint8_t nkey[9], skey[8];

    REQUIRE(test_tmpdir(dir, sizeof(dir)) != NULL);
    o = fix_opts(dir);
    CHECK_OK(ledger_open(&l, &o));
    REQUIRE(l != NULL);
    for (uint64_t i = 0; i < 13; i++) {
        CHECK_OK(fix_append(&idx, l, i));
    }
    ledger_close(l);
    l = NULL;

    /* a corrupted stored root */
    raw_get(dir, "meta", "root", 4, &root);
    REQUIRE(root.len == 32);
    REQUIRE(nt_buf_set(&bad, root.ptr, root.len) == 0);
    bad.ptr[7] ^= 0x40;
    raw_put(dir, "meta", "root", 4, bad.ptr, bad.len);
    CHECK_ERR(ledger_open(&l, &o), NT_ECORRUPT);
    CHECK(l == NULL);
    raw_put(dir, "meta", "root", 4, root.ptr, root.len);
    CHECK_OK(ledger_open(&l, &o)); /* twin: the restored root opens */
    ledger_close(l);
    l = NULL;

    /* a corrupted subtree hash (leaves 8..11, level 2) */
    nkey[0] = 2;
    nt_store_u64be(nkey + 1, 2);
    raw_get(dir, "nodes", nkey, sizeof(nkey), &node);
    REQUIRE(nt_buf_set(&bad, node.ptr, node.len) == 0);
    bad.ptr[0] ^= 1;
    raw_put(dir, "nodes", nkey, sizeof(nkey), bad.ptr, bad.len);
    CHECK_ERR(ledger_open(&l, &o), NT_ECORRUPT);
    /* a missing one */
    raw_put(dir, "nodes", nkey, sizeof(nkey), NULL, 0);
    CHECK_ERR(ledger_open(&l, &o), NT_ECORRUPT);
    raw_put(dir, "nodes", nkey, sizeof(nkey), node.ptr, node.len);
    CHECK_OK(ledger_open(&l, &o));
    ledger_close(l);
    l = NULL;

    /* a head that claims fewer leaves than are stored */
    raw_get(dir, "meta", "size", 4, &size);
    nt_store_u64be(skey, 12);
    raw_put(dir, "meta", "size", 4, skey, 8);
    CHECK_ERR(ledger_open(&l, &o), NT_ECORRUPT);
    raw_put(dir, "meta", "size", 4, size.ptr, size.len);

    /* an unknown format version */
    {
        uint8_t v2[4] = {0, 0, 0, 2}, v1[4] = {0, 0, 0, 1};
        raw_put(dir, "meta", "version", 7, v2, 4);
        CHECK_ERR(ledger_open(&l, &o), NT_EUNSUPPORTED);
        raw_put(dir, "meta", "version", 7, v1, 4);
    }
    CHECK_OK(ledger_open(&l, &o));
    CHECK_OK(fix_append(&idx, l, 99));
    CHECK(idx == 13);
    ledger_close(l);

    nt_buf_dispose(&root);
    nt_buf_dispose(&bad);
    nt_buf_dispose(&node);
    nt_buf_dispose(&size);
    fix_rm_rf(dir);
}

/* ------------------------------------------------------------------ owners and paging */

static void test_owner_and_paging(void)
{
    char dir[256];
    ledger *l = NULL;
    ledger_options o;
    nt_buf leaf = NT_BUF_INIT, meta = NT_BUF_INIT, owner = NT_BUF_INIT;
    uint64_t *idx = NULL, plain = 0;
    size_t count = 0;
    uint8_t s[8], digest[32];
    char long_owner[LEDGER_OWNER_MAX + 1];
    gate g;

    REQUIRE(test_tmpdir(dir, sizeof(dir)) != NULL);
    o = fix_opts(dir);
    CHECK_OK(ledger_open(&l, &o));
    REQUIRE(l != NULL);
    /* Leaf 0: with metadata and owner "tenant-a"; leaf 1: the same digest, no owner. */
    gate_init(&g);
    g.open = 1;
    fix_leaf_ex(&leaf, 7, 4242, 50, 1);
    fix_meta(&meta, 7);
    CHECK_OK(ledger_append_full_async(l, nt_buf_bytes(&leaf), nt_buf_bytes(&meta),
                                      NT_BYTES("tenant-a", 8), 0, gate_count, &g));
    gate_open_and_wait(&g, 1);
    CHECK(g.errors[0] == 0);
    fix_leaf_ex(&leaf, 8, 4242, 50, 0);
    CHECK_OK(ledger_append(&plain, l, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0)));
    CHECK(plain == 1);
    CHECK_OK(ledger_owner_get(&owner, l, 0));
    CHECK(owner.len == 8 && memcmp(owner.ptr, "tenant-a", 8) == 0);
    CHECK_ERR(ledger_owner_get(&owner, l, 1), NT_ENOTFOUND);
    CHECK(owner.len == 0);
    CHECK_ERR(ledger_owner_get(&owner, l, 2), NT_ENOTFOUND);
    /* An over-long owner is refused and nothing is queued. */
    memset(long_owner, 'x', sizeof(long_owner));
    CHECK_ERR(ledger_append_full_async(l, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0),
                                       NT_BYTES(long_owner, sizeof(long_owner)), 0, gate_count, &g),
              NT_EINVAL);
    /* 40 more leaves with that digest: 42 in all, paged by `from`. */
    for (uint64_t i = 0; i < 40; i++) {
        uint64_t got = 0;
        fix_leaf_ex(&leaf, 100 + i, 4242, 40, 0);
        CHECK_OK(ledger_append(&got, l, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0)));
    }
    ledger_close(l);
    l = NULL;
    /* The owner survives a reopen. */
    CHECK_OK(ledger_open(&l, &o));
    REQUIRE(l != NULL);
    CHECK_OK(ledger_owner_get(&owner, l, 0));
    CHECK(owner.len == 8 && memcmp(owner.ptr, "tenant-a", 8) == 0);
    nt_store_u64be(s, 4242);
    fix_sha256(digest, s, sizeof(s));
    {
        uint64_t from = 0, seen = 0;
        int pages = 0;
        for (;;) {
            CHECK_OK(ledger_find_digest_from(&idx, &count, l, RECORD_ALG_SHA256,
                                             NT_BYTES(digest, 32), from, 10));
            if (count == 0) {
                break;
            }
            for (size_t i = 0; i < count; i++) {
                CHECK(idx[i] == seen);
                seen++;
            }
            from = idx[count - 1] + 1;
            nt_free(idx);
            idx = NULL;
            pages++;
            REQUIRE(pages < 10);
        }
        CHECK(seen == 42 && pages == 5);
    }
    CHECK_OK(
        ledger_find_digest_from(&idx, &count, l, RECORD_ALG_SHA256, NT_BYTES(digest, 32), 17, 3));
    CHECK(count == 3 && idx[0] == 17 && idx[2] == 19);
    nt_free(idx);
    idx = NULL;
    CHECK_OK(ledger_find_digest_from(&idx, &count, l, RECORD_ALG_SHA256, NT_BYTES(digest, 32),
                                     UINT64_MAX, 3));
    CHECK(count == 0 && idx == NULL);
    ledger_close(l);
    l = NULL;

    /* A ledger written before "owners" existed: readers open it and find no owner; the
     * writer adds the database and records owners from then on. */
    {
        MDB_env *env = NULL;
        MDB_txn *txn = NULL;
        MDB_dbi dbi;
        uint64_t got = 0;
        REQUIRE(mdb_env_create(&env) == 0);
        REQUIRE(mdb_env_set_maxdbs(env, 8) == 0);
        REQUIRE(mdb_env_open(env, dir, 0, 0600) == 0);
        REQUIRE(mdb_txn_begin(env, NULL, 0, &txn) == 0);
        REQUIRE(mdb_dbi_open(txn, "owners", 0, &dbi) == 0);
        REQUIRE(mdb_drop(txn, dbi, 1) == 0);
        REQUIRE(mdb_txn_commit(txn) == 0);
        mdb_env_close(env);
        CHECK_OK(ledger_open_readonly(&l, &o));
        REQUIRE(l != NULL);
        CHECK_ERR(ledger_owner_get(&owner, l, 0), NT_ENOTFOUND);
        CHECK_OK(ledger_leaf_get(&leaf, NULL, l, 0));
        ledger_close(l);
        l = NULL;
        CHECK_OK(ledger_open(&l, &o));
        REQUIRE(l != NULL);
        CHECK_ERR(ledger_owner_get(&owner, l, 0), NT_ENOTFOUND);
        g.done = 0;
        fix_leaf_ex(&leaf, 500, 4242, 40, 0);
        CHECK_OK(ledger_append_full_async(l, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0),
                                          NT_BYTES("b", 1), 0, gate_count, &g));
        gate_open_and_wait(&g, 1);
        got = 42;
        CHECK_OK(ledger_owner_get(&owner, l, got));
        CHECK(owner.len == 1 && owner.ptr[0] == 'b');
        ledger_close(l);
    }
    gate_dispose(&g);
    nt_buf_dispose(&leaf);
    nt_buf_dispose(&meta);
    nt_buf_dispose(&owner);
    fix_rm_rf(dir);
}

int main(void)
{
    nt_log_set_level(NT_LOG_NONE);
    fix_store_setup();
    test_empty_and_options();
    test_default_map();
    test_many_and_reopen();
    test_queue_full();
    test_map_full();
    test_corruption();
    test_owner_and_paging();
    fix_store_teardown();
    return TEST_END();
}
