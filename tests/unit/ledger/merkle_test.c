/*
 * merkle_test.c - RFC 9162 hashing, frontier, range roots, proof generation
 * and verification in ledger/merkle.c.  Oracles: the published test vectors
 * in tests/vectors/merkle (read at run time), and a naive recursive
 * transcription of RFC 9162 2.1.1-2.1.4.1 over a table of every MTH(D[a:b]),
 * against which every generated proof for small trees is compared.  Every
 * accepted proof has tampered twins that must be rejected.
 */
#include "tests/unit/test.h"

#include "ledger/merkle.h"

#include <dirent.h>
#include <jansson.h>
#include <sys/stat.h>

#define H     MERKLE_HASH_SIZE
#define MAX_N 300 /* exhaustive inclusion proofs up to this size */
#define MAX_C 130 /* exhaustive consistency proofs up to this size */

/* ------------------------------------------------------------------ an in-memory node store */

typedef struct store {
    uint8_t (*nodes[MERKLE_MAX_LEVEL])[H]; /* nodes[level][index] */
    uint64_t count[MERKLE_MAX_LEVEL];
    unsigned long lookups;
    unsigned long callbacks;
    int fail_at; /* make the node callback fail at this callback number (0: never) */
} store;

static int store_put(void *ctx, unsigned level, uint64_t index, const uint8_t hash[H])
{
    store *s = ctx;
    s->callbacks++;
    if (s->fail_at != 0 && s->callbacks == (unsigned long)s->fail_at) {
        return nt_error_set(NT_EIO, "injected callback failure");
    }
    if (level >= MERKLE_MAX_LEVEL || index != s->count[level]) {
        /* subtrees of one level must complete left to right, each exactly once */
        return nt_error_set(NT_ECORRUPT, "node %u/%llu out of order", level,
                            (unsigned long long)index);
    }
    void *grown = nt_reallocarray(s->nodes[level], s->count[level] + 1, H);
    if (grown == NULL) {
        return NT_ENOMEM;
    }
    s->nodes[level] = grown;
    memcpy(s->nodes[level][index], hash, H);
    s->count[level]++;
    return 0;
}

static int store_get(uint8_t out[H], void *ctx, unsigned level, uint64_t index)
{
    store *s = ctx;
    s->lookups++;
    if (level >= MERKLE_MAX_LEVEL || index >= s->count[level]) {
        return NT_ENOTFOUND;
    }
    memcpy(out, s->nodes[level][index], H);
    return 0;
}

static void store_free(store *s)
{
    for (unsigned i = 0; i < MERKLE_MAX_LEVEL; i++) {
        nt_free(s->nodes[i]);
    }
}

/* A source for trees far too large to build, yet internally consistent: every leaf is the
 * same, so every complete subtree of one level has the same hash, C(k) = node(C(k-1), C(k-1)). */
static int uniform_get(uint8_t out[H], void *ctx, unsigned level, uint64_t index)
{
    unsigned long *lookups = ctx;
    (void)index;
    (*lookups)++;
    merkle_leaf_hash(out, (const uint8_t *)"same", 4);
    for (unsigned k = 0; k < level; k++) {
        merkle_node_hash(out, out, out);
    }
    return 0;
}

static int failing_get(uint8_t out[H], void *ctx, unsigned level, uint64_t index)
{
    (void)out, (void)ctx, (void)level, (void)index;
    return nt_error_set(NT_EIO, "injected lookup failure");
}

/* ------------------------------------------------------------------ the naive oracle */

static uint8_t leaves[MAX_N][H];
/* mth[a][b] = MTH(D[a:b]) for 0 <= a < b <= MAX_N */
static uint8_t (*mth)[MAX_N + 1][H];

static uint64_t largest_pow2_below(uint64_t n)
{
    uint64_t k = 1;
    while (k * 2 < n) {
        k *= 2;
    }
    return k;
}

static void oracle_build(void)
{
    mth = calloc(MAX_N + 1, sizeof(*mth));
    REQUIRE(mth != NULL);
    for (int i = 0; i < MAX_N; i++) {
        char text[32];
        int len = snprintf(text, sizeof(text), "leaf %d", i);
        merkle_leaf_hash(leaves[i], (const uint8_t *)text, (size_t)len);
    }
    /* by increasing width, straight from RFC 9162 2.1.1 */
    for (int w = 1; w <= MAX_N; w++) {
        for (int a = 0; a + w <= MAX_N; a++) {
            if (w == 1) {
                memcpy(mth[a][a + 1], leaves[a], H);
            } else {
                int k = (int)largest_pow2_below((uint64_t)w);
                merkle_node_hash(mth[a][a + w], mth[a][a + k], mth[a + k][a + w]);
            }
        }
    }
}

/* RFC 9162 2.1.3.1 PATH(m, D[a:b]), appended. */
static void oracle_path(nt_buf *out, uint64_t m, uint64_t a, uint64_t b)
{
    uint64_t n = b - a;
    if (n <= 1) {
        return;
    }
    uint64_t k = largest_pow2_below(n);
    if (m < k) {
        oracle_path(out, m, a, a + k);
        REQUIRE(nt_buf_put(out, mth[a + k][b], H) == 0);
    } else {
        oracle_path(out, m - k, a + k, b);
        REQUIRE(nt_buf_put(out, mth[a][a + k], H) == 0);
    }
}

/* RFC 9162 2.1.4.1 SUBPROOF(m, D[a:b], flag), appended. */
static void oracle_subproof(nt_buf *out, uint64_t m, uint64_t a, uint64_t b, int flag)
{
    uint64_t n = b - a;
    if (m == n) {
        if (!flag) {
            REQUIRE(nt_buf_put(out, mth[a][b], H) == 0);
        }
        return;
    }
    uint64_t k = largest_pow2_below(n);
    if (m <= k) {
        oracle_subproof(out, m, a, a + k, flag);
        REQUIRE(nt_buf_put(out, mth[a + k][b], H) == 0);
    } else {
        oracle_subproof(out, m - k, a + k, b, 0);
        REQUIRE(nt_buf_put(out, mth[a][a + k], H) == 0);
    }
}

static store tree; /* holds MAX_N leaves, built through the frontier */

/* ------------------------------------------------------------------ tests */

static void test_hash_basics(void)
{
    /* SHA-256("") and RFC 6962's leaf/node domain separation, checked against known values
     * (the empty root and the leaf hash of the empty leaf appear in the vectors as well). */
    static const char *empty_hex =
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    static const char *leaf0_hex =
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d";
    nt_buf hex = NT_BUF_INIT;
    uint8_t h[H], l[H], r[H], n1[H], n2[H];

    merkle_empty_root(h);
    CHECK_OK(nt_hex_encode(&hex, h, H));
    CHECK_STR(nt_buf_cstr(&hex), empty_hex);
    nt_buf_clear(&hex);
    merkle_leaf_hash(h, (const uint8_t *)"", 0);
    CHECK_OK(nt_hex_encode(&hex, h, H));
    CHECK_STR(nt_buf_cstr(&hex), leaf0_hex);
    nt_buf_clear(&hex);
    /* negative twins: a leaf is not hashed like a bare string, a node is order-sensitive */
    merkle_empty_root(l);
    CHECK(memcmp(h, l, H) != 0);
    merkle_leaf_hash(l, (const uint8_t *)"a", 1);
    merkle_leaf_hash(r, (const uint8_t *)"b", 1);
    merkle_node_hash(n1, l, r);
    merkle_node_hash(n2, r, l);
    CHECK(memcmp(n1, n2, H) != 0);
    /* aliasing output and input is allowed */
    memcpy(n2, l, H);
    merkle_node_hash(n2, n2, r);
    CHECK_MEM(n1, n2, H);
    nt_buf_dispose(&hex);
}

static void test_frontier_and_roots(void)
{
    merkle_frontier f, g;
    uint8_t root[H], naive[H], empty[H];
    int ok_roots = 1, ok_naive = 1, ok_load = 1;

    merkle_empty_root(empty);

    merkle_frontier_init(&f);
    merkle_frontier_root(root, &f);
    merkle_empty_root(naive);
    CHECK_MEM(root, naive, H);
    CHECK_OK(merkle_root_naive(root, NULL, 0));
    CHECK_MEM(root, naive, H);

    for (int n = 1; n <= MAX_N; n++) {
        CHECK_OK(merkle_frontier_append(&f, leaves[n - 1], store_put, &tree));
        merkle_frontier_root(root, &f);
        ok_roots &= memcmp(root, mth[0][n], H) == 0;
        REQUIRE(merkle_root_naive(naive, leaves[0], (uint64_t)n) == 0);
        ok_naive &= memcmp(naive, mth[0][n], H) == 0;
    }
    CHECK(ok_roots);
    CHECK(ok_naive);
    CHECK(f.size == MAX_N);
    /* one callback per complete subtree: 2n - popcount(n) */
    CHECK(tree.callbacks == 2 * MAX_N - (unsigned long)__builtin_popcount(MAX_N));
    CHECK(tree.count[0] == MAX_N && tree.count[8] == 1);

    for (uint64_t n = 0; n <= MAX_N; n++) {
        tree.lookups = 0;
        if (merkle_frontier_load(&g, store_get, &tree, n) != 0) {
            ok_load = 0;
            continue;
        }
        merkle_frontier_root(root, &g);
        ok_load &= g.size == n && g.depth == (unsigned)__builtin_popcountll(n);
        ok_load &= memcmp(root, n == 0 ? empty : mth[0][n], H) == 0;
        ok_load &= tree.lookups == (unsigned long)__builtin_popcountll(n);
    }
    CHECK(ok_load);
    /* a loaded frontier keeps growing exactly like the original */
    REQUIRE(merkle_frontier_load(&g, store_get, &tree, 100) == 0);
    merkle_frontier_init(&f);
    for (int i = 0; i < 100; i++) {
        REQUIRE(merkle_frontier_append(&f, leaves[i], NULL, NULL) == 0);
    }
    CHECK(memcmp(&f, &g, sizeof(f)) == 0);
    CHECK_OK(merkle_frontier_append(&g, leaves[100], NULL, NULL));
    merkle_frontier_root(root, &g);
    CHECK_MEM(root, mth[0][101], H);

    /* negative twins: beyond the stored nodes, a failing source, a failing callback */
    CHECK_ERR(merkle_frontier_load(&g, store_get, &tree, MAX_N + 1), NT_ENOTFOUND);
    CHECK_ERR(merkle_frontier_load(&g, failing_get, NULL, 5), NT_EIO);
    {
        store s;
        memset(&s, 0, sizeof(s));
        s.fail_at = 4; /* callbacks: leaf 0; leaf 1, node 1/0; leaf 2 (fails) */
        merkle_frontier_init(&f);
        CHECK_OK(merkle_frontier_append(&f, leaves[0], store_put, &s));
        CHECK_OK(merkle_frontier_append(&f, leaves[1], store_put, &s));
        CHECK_ERR(merkle_frontier_append(&f, leaves[2], store_put, &s), NT_EIO);
        store_free(&s);
    }
}

static void test_range_root(void)
{
    uint8_t root[H];
    int ok = 1, ok_cost = 1;
    /* every range of the first 64 leaves, aligned or not */
    for (uint64_t a = 0; a < 64; a++) {
        for (uint64_t b = a + 1; b <= 64; b++) {
            ok &= merkle_range_root(root, store_get, &tree, a, b) == 0 &&
                  memcmp(root, mth[a][b], H) == 0;
        }
    }
    /* aligned ranges of the whole tree, at one lookup per set bit of the width */
    for (uint64_t w = 1; w <= MAX_N; w++) {
        uint64_t align = 1;
        while (align < w) {
            align *= 2;
        }
        for (uint64_t a = 0; a + w <= MAX_N; a += align) {
            tree.lookups = 0;
            ok &= merkle_range_root(root, store_get, &tree, a, a + w) == 0 &&
                  memcmp(root, mth[a][a + w], H) == 0;
            ok_cost &= tree.lookups == (unsigned long)__builtin_popcountll(w);
        }
    }
    CHECK(ok);
    CHECK(ok_cost);
    CHECK_OK(merkle_range_root(root, store_get, &tree, 7, 7));
    uint8_t empty[H];
    merkle_empty_root(empty);
    CHECK_MEM(root, empty, H);
    CHECK_ERR(merkle_range_root(root, store_get, &tree, 8, 7), NT_EINVAL);
    CHECK_ERR(merkle_range_root(root, store_get, &tree, 0, MAX_N + 1), NT_ENOTFOUND);
}

/* Tampered twins of a valid inclusion proof: every one must be rejected. */
static int inclusion_twins(uint64_t index, uint64_t size, const nt_buf *proof)
{
    int ok = 1;
    size_t count = proof->len / H;
    uint8_t *copy = nt_malloc(proof->len + H);
    REQUIRE(copy != NULL);
    const uint8_t *leaf = leaves[index];
    const uint8_t *root = mth[0][size];

    if (count > 0) {
        /* a flipped bit in one hash */
        memcpy(copy, proof->ptr, proof->len);
        copy[((index + size) % count) * H + (size % H)] ^= 0x01;
        ok &= merkle_verify_inclusion(leaf, index, size, copy, proof->len, root) == NT_EVERIFY;
        /* truncated */
        ok &= merkle_verify_inclusion(leaf, index, size, proof->ptr, proof->len - H, root) < 0;
        /* a byte short of a whole hash */
        ok &= merkle_verify_inclusion(leaf, index, size, proof->ptr, proof->len - 1, root) ==
              NT_EINVAL;
    }
    if (count > 1) {
        /* reordered: swap the first two hashes (they differ: distinct subtrees) */
        memcpy(copy, proof->ptr + H, H);
        memcpy(copy + H, proof->ptr, H);
        memcpy(copy + 2 * H, proof->ptr + 2 * H, proof->len - 2 * H);
        ok &= merkle_verify_inclusion(leaf, index, size, copy, proof->len, root) == NT_EVERIFY;
    }
    /* extended by one hash */
    memcpy(copy, proof->ptr, proof->len);
    memcpy(copy + proof->len, root, H);
    ok &= merkle_verify_inclusion(leaf, index, size, copy, proof->len + H, root) < 0;
    /* wrong index, wrong leaf, wrong root, wrong size */
    if (size > 1) {
        uint64_t other = index == 0 ? 1 : index - 1;
        ok &= merkle_verify_inclusion(leaf, other, size, proof->ptr, proof->len, root) < 0;
        ok &= merkle_verify_inclusion(leaves[other], index, size, proof->ptr, proof->len, root) ==
              NT_EVERIFY;
        ok &= merkle_verify_inclusion(leaf, index, size, proof->ptr, proof->len,
                                      mth[0][size - 1]) == NT_EVERIFY;
    }
    if (size < MAX_N) {
        /* (the same root with a larger size can verify: only the signed checkpoint binds a
         * root to its size; the larger tree's own root must not) */
        ok &= merkle_verify_inclusion(leaf, index, size + 1, proof->ptr, proof->len,
                                      mth[0][size + 1]) < 0;
    }
    ok &= merkle_verify_inclusion(leaf, size, size, proof->ptr, proof->len, root) == NT_EINVAL;
    nt_free(copy);
    return ok;
}

static void test_inclusion_exhaustive(void)
{
    nt_buf got = NT_BUF_INIT, want = NT_BUF_INIT;
    int ok_match = 1, ok_verify = 1, ok_twins = 1, ok_cost = 1;
    unsigned long proofs = 0;

    for (uint64_t size = 1; size <= MAX_N; size++) {
        for (uint64_t index = 0; index < size; index++) {
            nt_buf_clear(&got);
            nt_buf_clear(&want);
            tree.lookups = 0;
            if (merkle_proof_inclusion(&got, store_get, &tree, index, size) != 0) {
                ok_match = 0;
                continue;
            }
            /* O(log n): at most two lookups per level */
            ok_cost &= tree.lookups <= 2 * 9;
            oracle_path(&want, index, 0, size);
            ok_match &=
                got.len == want.len && (got.len == 0 || memcmp(got.ptr, want.ptr, got.len) == 0);
            ok_verify &= merkle_verify_inclusion(leaves[index], index, size, got.ptr, got.len,
                                                 mth[0][size]) == 0;
            /* tampered twins for every proof of small trees, a spread sample above (runtime) */
            if (size <= 100 || index % 8 == size % 8) {
                ok_twins &= inclusion_twins(index, size, &got);
            }
            proofs++;
        }
    }
    CHECK(proofs == MAX_N * (MAX_N + 1) / 2);
    CHECK(ok_match);
    CHECK(ok_verify);
    CHECK(ok_twins);
    CHECK(ok_cost);
    /* negative twins of generation */
    CHECK_ERR(merkle_proof_inclusion(&got, store_get, &tree, 5, 5), NT_EINVAL);
    CHECK_ERR(merkle_proof_inclusion(&got, store_get, &tree, 0, 0), NT_EINVAL);
    CHECK_ERR(merkle_proof_inclusion(&got, store_get, &tree, 0, MAX_N + 7), NT_ENOTFOUND);
    CHECK_ERR(merkle_proof_inclusion(&got, failing_get, NULL, 3, 10), NT_EIO);
    nt_buf_dispose(&got);
    nt_buf_dispose(&want);
}

static int consistency_twins(uint64_t m, uint64_t n, const nt_buf *proof)
{
    int ok = 1;
    size_t count = proof->len / H;
    const uint8_t *r1 = mth[0][m], *r2 = mth[0][n];
    uint8_t *copy = nt_malloc(proof->len + H);
    REQUIRE(copy != NULL);

    for (size_t i = 0; i < count; i++) {
        memcpy(copy, proof->ptr, proof->len);
        copy[i * H + (m + n) % H] ^= 0x80;
        ok &= merkle_verify_consistency(m, n, r1, r2, copy, proof->len) == NT_EVERIFY;
    }
    if (count > 0) {
        ok &= merkle_verify_consistency(m, n, r1, r2, proof->ptr, proof->len - H) < 0;
        ok &= merkle_verify_consistency(m, n, r1, r2, proof->ptr, proof->len - 1) == NT_EINVAL;
    }
    if (count > 1) {
        memcpy(copy, proof->ptr + H, H);
        memcpy(copy + H, proof->ptr, H);
        memcpy(copy + 2 * H, proof->ptr + 2 * H, proof->len - 2 * H);
        ok &= merkle_verify_consistency(m, n, r1, r2, copy, proof->len) == NT_EVERIFY;
        /* reversed order entirely */
        for (size_t i = 0; i < count; i++) {
            memcpy(copy + i * H, proof->ptr + (count - 1 - i) * H, H);
        }
        ok &= merkle_verify_consistency(m, n, r1, r2, copy, proof->len) == NT_EVERIFY;
    }
    memcpy(copy, proof->ptr, proof->len);
    memcpy(copy + proof->len, r2, H);
    ok &= merkle_verify_consistency(m, n, r1, r2, copy, proof->len + H) < 0;
    /* wrong roots, swapped roots, wrong sizes */
    ok &= merkle_verify_consistency(m, n, mth[0][m + 1], r2, proof->ptr, proof->len) < 0;
    ok &= merkle_verify_consistency(m, n, r1, mth[0][n - 1], proof->ptr, proof->len) < 0;
    ok &= merkle_verify_consistency(m, n, r2, r1, proof->ptr, proof->len) < 0;
    if (m + 1 < n) {
        ok &= merkle_verify_consistency(m + 1, n, mth[0][m + 1], r2, proof->ptr, proof->len) < 0;
    }
    if (n < MAX_N) {
        ok &= merkle_verify_consistency(m, n + 1, r1, mth[0][n + 1], proof->ptr, proof->len) < 0;
    }
    nt_free(copy);
    return ok;
}

static void test_consistency_exhaustive(void)
{
    nt_buf got = NT_BUF_INIT, want = NT_BUF_INIT;
    int ok_match = 1, ok_verify = 1, ok_twins = 1, ok_cost = 1;
    uint8_t empty[H];
    merkle_empty_root(empty);

    for (uint64_t n = 1; n <= MAX_C; n++) {
        for (uint64_t m = 1; m < n; m++) {
            nt_buf_clear(&got);
            nt_buf_clear(&want);
            tree.lookups = 0;
            if (merkle_proof_consistency(&got, store_get, &tree, m, n) != 0) {
                ok_match = 0;
                continue;
            }
            ok_cost &= tree.lookups <= 3 * 8;
            oracle_subproof(&want, m, 0, n, 1);
            ok_match &=
                got.len == want.len && got.len > 0 && memcmp(got.ptr, want.ptr, got.len) == 0;
            ok_verify &=
                merkle_verify_consistency(m, n, mth[0][m], mth[0][n], got.ptr, got.len) == 0;
            if (n <= 64 || m % 4 == n % 4) {
                ok_twins &= consistency_twins(m, n, &got);
            }
        }
        /* from == to and from == 0: empty proofs */
        nt_buf_clear(&got);
        ok_match &= merkle_proof_consistency(&got, store_get, &tree, n, n) == 0 && got.len == 0;
        ok_match &= merkle_proof_consistency(&got, store_get, &tree, 0, n) == 0 && got.len == 0;
        ok_verify &= merkle_verify_consistency(n, n, mth[0][n], mth[0][n], NULL, 0) == 0;
        ok_verify &= merkle_verify_consistency(0, n, empty, mth[0][n], NULL, 0) == 0;
        /* their twins */
        ok_twins &=
            merkle_verify_consistency(n, n, mth[0][n], mth[0][n], mth[0][n], H) == NT_EINVAL;
        ok_twins &= merkle_verify_consistency(n, n, mth[0][n], empty, NULL, 0) == NT_EVERIFY;
        ok_twins &= merkle_verify_consistency(0, n, mth[0][n], mth[0][n], NULL, 0) == NT_EVERIFY;
        ok_twins &= merkle_verify_consistency(0, n, empty, mth[0][n], empty, H) == NT_EINVAL;
        ok_twins &= merkle_verify_consistency(n, n - 1, mth[0][n], mth[0][n], NULL, 0) == NT_EINVAL;
        if (n > 1) {
            /* an empty proof for different non-zero sizes */
            ok_twins &= merkle_verify_consistency(1, n, mth[0][1], mth[0][n], NULL, 0) == NT_EINVAL;
        }
    }
    CHECK(ok_match);
    CHECK(ok_verify);
    CHECK(ok_twins);
    CHECK(ok_cost);
    CHECK_OK(merkle_verify_consistency(0, 0, empty, empty, NULL, 0));
    CHECK_ERR(merkle_proof_consistency(&got, store_get, &tree, 9, 8), NT_EINVAL);
    CHECK_ERR(merkle_proof_consistency(&got, store_get, &tree, 3, MAX_N + 9), NT_ENOTFOUND);
    CHECK_ERR(merkle_proof_consistency(&got, failing_get, NULL, 3, 10), NT_EIO);
    nt_buf_dispose(&got);
    nt_buf_dispose(&want);
}

static void test_huge_tree(void)
{
    /* A tree far too large to build, of identical leaves: 64-bit index arithmetic and the
     * O(log n) lookup bound are what is tested here. */
    unsigned long lookups = 0;
    uint64_t size = ((uint64_t)1 << 62) + ((uint64_t)1 << 40) + 12345;
    uint64_t index = ((uint64_t)1 << 62) + 777;
    uint64_t old = ((uint64_t)1 << 61) + 3;
    uint8_t root[H], oldroot[H], leaf[H];
    nt_buf proof = NT_BUF_INIT;
    merkle_frontier f;

    CHECK_OK(merkle_range_root(root, uniform_get, &lookups, 0, size));
    CHECK_OK(merkle_range_root(oldroot, uniform_get, &lookups, 0, old));
    CHECK_OK(uniform_get(leaf, &lookups, 0, index));
    lookups = 0;
    CHECK_OK(merkle_proof_inclusion(&proof, uniform_get, &lookups, index, size));
    CHECK(lookups <= 2 * 64);
    CHECK_OK(merkle_verify_inclusion(leaf, index, size, proof.ptr, proof.len, root));
    leaf[0] ^= 1;
    CHECK_ERR(merkle_verify_inclusion(leaf, index, size, proof.ptr, proof.len, root), NT_EVERIFY);
    nt_buf_clear(&proof);
    lookups = 0;
    CHECK_OK(merkle_proof_consistency(&proof, uniform_get, &lookups, old, size));
    CHECK(lookups <= 3 * 64);
    CHECK_OK(merkle_verify_consistency(old, size, oldroot, root, proof.ptr, proof.len));
    CHECK(merkle_verify_consistency(old + 1, size, oldroot, root, proof.ptr, proof.len) < 0);
    lookups = 0;
    CHECK_OK(merkle_frontier_load(&f, uniform_get, &lookups, size));
    CHECK(lookups == (unsigned long)__builtin_popcountll(size));
    merkle_frontier_root(leaf, &f);
    CHECK_MEM(leaf, root, H);
    /* sizes beyond 2^63 are refused */
    CHECK_ERR(merkle_frontier_load(&f, uniform_get, &lookups, (uint64_t)1 << 63), NT_ERANGE);
    nt_buf_dispose(&proof);
}

/* ------------------------------------------------------------------ published vectors */

typedef struct vector_stats {
    unsigned files, accepted, rejected, shape_rejected, skipped, mismatched;
} vector_stats;

/* Decode a base64 JSON string; -1 when the member is not a string or not base64. */
static int b64_member(nt_buf *out, json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    nt_buf_clear(out);
    if (!json_is_string(v)) {
        return -1;
    }
    return nt_base64_decode(out, json_string_value(v), json_string_length(v)) == 0 ? 0 : -1;
}

/* Concatenate the proof array (null means empty). */
static int proof_member(nt_buf *out, json_t *obj)
{
    json_t *arr = json_object_get(obj, "proof");
    nt_buf tmp = NT_BUF_INIT;
    size_t i;
    json_t *v;
    nt_buf_clear(out);
    if (json_is_null(arr) || arr == NULL) {
        return 0;
    }
    if (!json_is_array(arr)) {
        return -1;
    }
    json_array_foreach (arr, i, v) {
        size_t before = tmp.len;
        if (!json_is_string(v) ||
            nt_base64_decode(&tmp, json_string_value(v), json_string_length(v)) != 0) {
            nt_buf_dispose(&tmp);
            return -1;
        }
        if (tmp.len - before != H) {
            /* a proof element that is not one hash: our receipts cannot carry it */
            nt_buf_dispose(&tmp);
            return 1;
        }
    }
    if (tmp.len > 0) {
        REQUIRE(nt_buf_put(out, tmp.ptr, tmp.len) == 0);
    }
    nt_buf_dispose(&tmp);
    return 0;
}

/* A JSON number as int64, saturating: what does not fit is out of every range anyway. */
static json_int_t num_member(json_t *v)
{
    if (json_is_integer(v)) {
        return json_integer_value(v);
    }
    double d = json_number_value(v);
    if (d >= 9.2e18) {
        return INT64_MAX;
    }
    if (d <= -9.2e18) {
        return INT64_MIN;
    }
    return (json_int_t)d;
}

static void run_vector(const char *path, const char *kind, vector_stats *st)
{
    json_error_t jerr;
    /* Some vectors carry 2^64 - 1, beyond json_int_t: those files are read as reals. */
    json_t *j = json_load_file(path, 0, &jerr);
    if (j == NULL) {
        j = json_load_file(path, JSON_DECODE_INT_AS_REAL, &jerr);
    }
    nt_buf a = NT_BUF_INIT, b = NT_BUF_INIT, proof = NT_BUF_INIT;
    int want_err, rc;

    if (j == NULL) {
        fprintf(stderr, "%s: %s\n", path, jerr.text);
        st->mismatched++;
        return;
    }
    st->files++;
    want_err = json_is_true(json_object_get(j, "wantErr"));
    rc = proof_member(&proof, j);
    if (rc < 0) {
        fprintf(stderr, "%s: bad proof member\n", path);
        st->mismatched++;
        goto out;
    }
    if (rc > 0) {
        rc = NT_EINVAL;
        st->shape_rejected++;
        goto judge;
    }
    if (strcmp(kind, "inclusion") == 0 || strcmp(kind, "subtreeinclusion") == 0) {
        json_int_t idx = num_member(json_object_get(j, "leafIdx"));
        json_int_t size;
        if (strcmp(kind, "inclusion") == 0) {
            size = num_member(json_object_get(j, "treeSize"));
        } else {
            /* A subtree [start, end) whose start is a multiple of a power of two >= its width
             * is itself a Merkle tree: prove the leaf at idx - start among end - start leaves.
             * Other ranges are not subtrees; that check belongs to the caller, done here. */
            json_int_t start = num_member(json_object_get(j, "start"));
            json_int_t end = num_member(json_object_get(j, "end"));
            json_int_t align = 1;
            while (end - start <= ((json_int_t)1 << 40) && align < end - start) {
                align *= 2;
            }
            if (start < 0 || end <= start || start % align != 0 || idx < start) {
                rc = NT_EINVAL;
                st->shape_rejected++;
                goto judge;
            }
            idx -= start;
            size = end - start;
        }
        if (b64_member(&a, j, "root") != 0 || b64_member(&b, j, "leafHash") != 0 || a.len != H ||
            b.len != H || idx < 0 || size < 0) {
            /* not expressible in our API (roots and leaf hashes are 32-byte arrays) */
            rc = NT_EINVAL;
            st->shape_rejected++;
        } else {
            rc = merkle_verify_inclusion(b.ptr, (uint64_t)idx, (uint64_t)size, proof.ptr, proof.len,
                                         a.ptr);
        }
    } else {
        json_int_t s1 = num_member(json_object_get(j, "size1"));
        json_int_t s2 = num_member(json_object_get(j, "size2"));
        if (b64_member(&a, j, "root1") != 0 || b64_member(&b, j, "root2") != 0 || a.len != H ||
            b.len != H || s1 < 0 || s2 < 0) {
            if (!want_err) {
                /* A "don't care" root of the wrong length that the reference implementation
                 * never looks at: our typed API cannot take it. */
                st->skipped++;
                printf("skipped (root not 32 bytes, expected success): %s\n", path);
                goto out;
            }
            rc = NT_EINVAL;
            st->shape_rejected++;
        } else {
            rc = merkle_verify_consistency((uint64_t)s1, (uint64_t)s2, a.ptr, b.ptr, proof.ptr,
                                           proof.len);
        }
    }
judge:
    if (rc == 0) {
        st->accepted++;
    } else {
        st->rejected++;
    }
    if ((rc == 0) == want_err) {
        st->mismatched++;
        fprintf(stderr, "%s: got %s, wantErr %d\n", path, nt_error_name(rc), want_err);
    }
out:
    json_decref(j);
    nt_buf_dispose(&a);
    nt_buf_dispose(&b);
    nt_buf_dispose(&proof);
}

static void walk(const char *dir, const char *kind, vector_stats *st)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    REQUIRE(d != NULL);
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        struct stat sb;
        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        REQUIRE(stat(path, &sb) == 0);
        if (S_ISDIR(sb.st_mode)) {
            walk(path, kind, st);
        } else if (strstr(e->d_name, ".json") != NULL) {
            run_vector(path, kind, st);
        }
    }
    closedir(d);
}

static void test_vectors(void)
{
    static const char *kinds[] = {"inclusion", "consistency", "subtreeinclusion"};
    for (size_t i = 0; i < NT_ARRAY_LEN(kinds); i++) {
        vector_stats st;
        char rel[128];
        memset(&st, 0, sizeof(st));
        snprintf(rel, sizeof(rel), "merkle/testdata/%s", kinds[i]);
        walk(test_vector_path(rel), kinds[i], &st);
        printf("%s vectors: %u files, %u accepted, %u rejected (%u by shape), %u skipped\n",
               kinds[i], st.files, st.accepted, st.rejected, st.shape_rejected, st.skipped);
        CHECK(st.files >= 90);
        CHECK(st.accepted >= 5);
        CHECK(st.mismatched == 0);
        /* exactly one vector (sizes equal, "don't care" roots) cannot be expressed */
        CHECK(st.skipped == (strcmp(kinds[i], "consistency") == 0 ? 1u : 0u));
    }
}

int main(void)
{
    oracle_build();
    memset(&tree, 0, sizeof(tree));
    test_hash_basics();
    test_frontier_and_roots();
    test_range_root();
    test_inclusion_exhaustive();
    test_consistency_exhaustive();
    test_huge_tree();
    test_vectors();
    store_free(&tree);
    free(mth);
    return TEST_END();
}
