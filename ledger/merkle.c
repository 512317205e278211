/*
 * merkle.c - RFC 9162 Merkle tree hashing, the growing right edge (frontier),
 * proof generation from stored complete-subtree hashes and proof
 * verification.  Part of the pure `nt_merkle` library: no I/O, no storage; the
 * ledger store, the git mirror, the auditor and the offline verifier all hash
 * through this one file.
 */
/*
 * Why the low-level SHA-256 API: merkle_leaf_hash / merkle_node_hash are
 * declared void because hashing must not fail; SHA256_Init/Update/Final keep
 * their state on the stack and never allocate, whereas an EVP_MD_CTX could
 * fail for lack of memory.  OpenSSL 3 marks them deprecated, hence the
 * explicit opt-in below (the functions remain part of OpenSSL 3.x).
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "ledger/merkle.h"

#include <openssl/sha.h>
#include <string.h>

/* ------------------------------------------------------------------ hashing */

void merkle_leaf_hash(uint8_t out[MERKLE_HASH_SIZE], const uint8_t *leaf, size_t len)
{
    /* RFC 9162 2.1.1: MTH({d(0)}) = HASH(0x00 || d(0)). */
    static const uint8_t prefix = 0x00;
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, &prefix, 1);
    if (len > 0) {
        SHA256_Update(&ctx, leaf, len);
    }
    SHA256_Final(out, &ctx);
    nt_wipe(&ctx, sizeof(ctx));
}

void merkle_node_hash(uint8_t out[MERKLE_HASH_SIZE], const uint8_t left[MERKLE_HASH_SIZE],
                      const uint8_t right[MERKLE_HASH_SIZE])
{
    /* RFC 9162 2.1.1: MTH(D[n]) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n])).  The inputs may
     * alias out, so they are copied first. */
    uint8_t in[1 + 2 * MERKLE_HASH_SIZE];
    in[0] = 0x01;
    memcpy(in + 1, left, MERKLE_HASH_SIZE);
    memcpy(in + 1 + MERKLE_HASH_SIZE, right, MERKLE_HASH_SIZE);
    SHA256(in, sizeof(in), out);
}

void merkle_empty_root(uint8_t out[MERKLE_HASH_SIZE])
{
    /* RFC 9162 2.1.1: "The hash of an empty list is the hash of an empty string: MTH({}) = HASH()."
     */
    SHA256((const uint8_t *)"", 0, out);
}

/* Largest power of two strictly less than n (n >= 2). */
static uint64_t split_point(uint64_t n)
{
    uint64_t k = 1;
    while (k << 1 < n) {
        k <<= 1;
    }
    return k;
}

static unsigned bit_length(uint64_t v)
{
    unsigned n = 0;
    while (v != 0) {
        n++;
        v >>= 1;
    }
    return n;
}

static unsigned popcount64(uint64_t v)
{
    unsigned n = 0;
    while (v != 0) {
        v &= v - 1;
        n++;
    }
    return n;
}

static unsigned trailing_zeros(uint64_t v)
{
    unsigned n = 0;
    while (v != 0 && (v & 1) == 0) {
        v >>= 1;
        n++;
    }
    return n;
}

int merkle_root_naive(uint8_t out[MERKLE_HASH_SIZE], const uint8_t *leaf_hashes, uint64_t n)
{
    /* Fold level by level: pairs are hashed, an odd last node moves up unchanged.  This gives
     * exactly MTH because the RFC's split point k (largest power of two < n) makes the left
     * part complete, so the right edge is the only place an unpaired node appears. */
    int error = 0;
    uint8_t *level = NULL;
    size_t bytes;

    if (n == 0) {
        merkle_empty_root(out);
        return 0;
    }
    NT_ENSURE(n <= SIZE_MAX / MERKLE_HASH_SIZE, NT_ERANGE, "merkle_root_naive: %llu leaves",
              (unsigned long long)n);
    NT_TRY(nt_size_mul(&bytes, (size_t)n, MERKLE_HASH_SIZE));
    level = nt_malloc(bytes);
    NT_ENSURE(level != NULL, NT_ENOMEM, "merkle_root_naive: out of memory");
    memcpy(level, leaf_hashes, bytes);
    while (n > 1) {
        uint64_t next = 0;
        for (uint64_t i = 0; i + 1 < n; i += 2) {
            merkle_node_hash(level + next * MERKLE_HASH_SIZE, level + i * MERKLE_HASH_SIZE,
                             level + (i + 1) * MERKLE_HASH_SIZE);
            next++;
        }
        if (n % 2 == 1) {
            memmove(level + next * MERKLE_HASH_SIZE, level + (n - 1) * MERKLE_HASH_SIZE,
                    MERKLE_HASH_SIZE);
            next++;
        }
        n = next;
    }
    memcpy(out, level, MERKLE_HASH_SIZE);

done:
    nt_free(level);
    return error;
}

/* ------------------------------------------------------------------ frontier */

void merkle_frontier_init(merkle_frontier *f)
{
    memset(f, 0, sizeof(*f));
}

int merkle_frontier_append(merkle_frontier *f, const uint8_t leaf_hash[MERKLE_HASH_SIZE],
                           merkle_node_fn fn, void *ctx)
{
    int error = 0;
    uint8_t h[MERKLE_HASH_SIZE];
    uint64_t index = f->size;
    unsigned level = 0;

    NT_ENSURE(f->size < ((uint64_t)1 << 63), NT_ERANGE, "merkle frontier is full");
    memcpy(h, leaf_hash, MERKLE_HASH_SIZE);
    if (fn != NULL) {
        NT_TRY(fn(ctx, 0, index, h));
    }
    /* Every trailing one bit of the old size is a complete subtree immediately to the left of
     * the new leaf; merging with it completes the next larger subtree.  Those subtrees are the
     * smallest entries of the stack, so they are popped from stack[0]. */
    while ((f->size >> level) & 1) {
        NT_ENSURE(f->depth > 0, NT_ECORRUPT, "merkle frontier inconsistent with its size");
        merkle_node_hash(h, f->stack[0], h);
        f->depth--;
        memmove(f->stack[0], f->stack[1], (size_t)f->depth * MERKLE_HASH_SIZE);
        /* keep unused slots zero, so equal frontiers compare equal byte for byte */
        memset(f->stack[f->depth], 0, MERKLE_HASH_SIZE);
        level++;
        index >>= 1;
        if (fn != NULL) {
            NT_TRY(fn(ctx, level, index, h));
        }
    }
    NT_ENSURE(f->depth < MERKLE_MAX_LEVEL, NT_ECORRUPT, "merkle frontier too deep");
    memmove(f->stack[1], f->stack[0], (size_t)f->depth * MERKLE_HASH_SIZE);
    memcpy(f->stack[0], h, MERKLE_HASH_SIZE);
    f->depth++;
    f->size++;

done:
    return error;
}

void merkle_frontier_root(uint8_t out[MERKLE_HASH_SIZE], const merkle_frontier *f)
{
    /* MTH of a tree splits at the largest complete left subtree, recursively, so the root is
     * the right-to-left fold of the complete subtrees: node(big, node(..., node(s1, s0))). */
    uint8_t h[MERKLE_HASH_SIZE];
    if (f->depth == 0) {
        merkle_empty_root(out);
        return;
    }
    memcpy(h, f->stack[0], MERKLE_HASH_SIZE);
    for (unsigned i = 1; i < f->depth; i++) {
        merkle_node_hash(h, f->stack[i], h);
    }
    memcpy(out, h, MERKLE_HASH_SIZE);
}

/* A lookup that turns "not found" into a corruption-flavoured message naming the node. */
static int get_node(uint8_t out[MERKLE_HASH_SIZE], merkle_hash_fn get, void *ctx, unsigned level,
                    uint64_t index)
{
    int rc = get(out, ctx, level, index);
    if (rc == NT_ENOTFOUND) {
        return nt_error_set(NT_ENOTFOUND, "merkle: no stored hash for level %u index %llu", level,
                            (unsigned long long)index);
    }
    if (rc < 0) {
        return rc;
    }
    return 0;
}

int merkle_frontier_load(merkle_frontier *f, merkle_hash_fn get, void *ctx, uint64_t size)
{
    int error = 0;
    merkle_frontier tmp;
    uint64_t start = 0;
    unsigned n;

    NT_ENSURE(size < ((uint64_t)1 << 63), NT_ERANGE, "merkle frontier size out of range");
    merkle_frontier_init(&tmp);
    n = popcount64(size);
    tmp.depth = n;
    tmp.size = size;
    /* Set bits from the highest (leftmost, largest subtree -> stack[depth-1]) down. */
    for (int level = MERKLE_MAX_LEVEL - 1; level >= 0; level--) {
        uint64_t width = (uint64_t)1 << level;
        if ((size & width) == 0) {
            continue;
        }
        n--;
        NT_TRY(get_node(tmp.stack[n], get, ctx, (unsigned)level, start >> level));
        start += width;
    }
    *f = tmp;

done:
    return error;
}

/* ------------------------------------------------------------------ range roots */

/*
 * MTH(D[start:start+n]) by the RFC's recursion.  A range whose start is a multiple of its
 * (power of two) width is one stored node; the RFC's split point keeps aligned ranges aligned,
 * so for the ranges proofs use (start a multiple of a power of two >= n) this costs one lookup
 * per set bit of n.  Unaligned ranges are still answered correctly, only with more lookups.
 * Recursion depth is at most 64 + 64.
 */
static int range_root(uint8_t out[MERKLE_HASH_SIZE], merkle_hash_fn get, void *ctx, uint64_t start,
                      uint64_t n)
{
    int error = 0;
    uint8_t left[MERKLE_HASH_SIZE], right[MERKLE_HASH_SIZE];
    uint64_t k;

    if ((n & (n - 1)) == 0 && (start & (n - 1)) == 0) {
        unsigned level = trailing_zeros(n);
        return get_node(out, get, ctx, level, start >> level);
    }
    k = split_point(n);
    NT_TRY(range_root(left, get, ctx, start, k));
    NT_TRY(range_root(right, get, ctx, start + k, n - k));
    merkle_node_hash(out, left, right);

done:
    return error;
}

int merkle_range_root(uint8_t out[MERKLE_HASH_SIZE], merkle_hash_fn get, void *ctx, uint64_t start,
                      uint64_t end)
{
    if (start > end || end > ((uint64_t)1 << 63)) {
        return nt_error_set(NT_EINVAL, "merkle range [%llu, %llu) is invalid",
                            (unsigned long long)start, (unsigned long long)end);
    }
    if (start == end) {
        merkle_empty_root(out);
        return 0;
    }
    return range_root(out, get, ctx, start, end - start);
}

/* ------------------------------------------------------------------ proof generation */

/* Append `count` hashes held top-down in `path` to out bottom-up (proof order). */
static int put_reversed(nt_buf *out, uint8_t (*path)[MERKLE_HASH_SIZE], unsigned count)
{
    int error = 0;
    size_t need = (size_t)count * MERKLE_HASH_SIZE;
    NT_TRY(nt_buf_grow(out, need));
    for (unsigned i = count; i > 0; i--) {
        NT_TRY(nt_buf_put(out, path[i - 1], MERKLE_HASH_SIZE));
    }

done:
    return error;
}

int merkle_proof_inclusion(nt_buf *out, merkle_hash_fn get, void *ctx, uint64_t index,
                           uint64_t size)
{
    /*
     * RFC 9162 2.1.3.1:
     *   PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])   for m < k
     *   PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k]) for m >= k
     * Walked from the root down, collecting the sibling at each level, then emitted in
     * reverse (leaf level first).  Each sibling is an aligned range: one lookup, except the
     * first right sibling, which may be the incomplete right edge (one lookup per set bit).
     */
    int error = 0;
    uint8_t path[MERKLE_MAX_LEVEL][MERKLE_HASH_SIZE];
    unsigned count = 0;
    uint64_t lo = 0, hi = size;

    NT_ENSURE(index < size, NT_EINVAL, "inclusion proof: index %llu not below tree size %llu",
              (unsigned long long)index, (unsigned long long)size);
    NT_ENSURE(size <= ((uint64_t)1 << 63), NT_ERANGE, "inclusion proof: tree size too large");
    while (hi - lo > 1) {
        uint64_t k = split_point(hi - lo);
        NT_ENSURE(count < MERKLE_MAX_LEVEL, NT_ECORRUPT, "inclusion proof too deep");
        if (index < lo + k) {
            NT_TRY(range_root(path[count], get, ctx, lo + k, hi - lo - k));
            hi = lo + k;
        } else {
            NT_TRY(range_root(path[count], get, ctx, lo, k));
            lo += k;
        }
        count++;
    }
    NT_TRY(put_reversed(out, path, count));

done:
    return error;
}

int merkle_proof_consistency(nt_buf *out, merkle_hash_fn get, void *ctx, uint64_t from, uint64_t to)
{
    /*
     * RFC 9162 2.1.4.1:
     *   PROOF(m, D[n]) = SUBPROOF(m, D[n], true)
     *   SUBPROOF(m, D[m], true) = {}
     *   SUBPROOF(m, D[m], false) = {MTH(D[m])}
     *   SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])         for m <= k
     *   SUBPROOF(m, D[n], b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k]) for m > k
     */
    int error = 0;
    uint8_t path[MERKLE_MAX_LEVEL + 1][MERKLE_HASH_SIZE];
    unsigned count = 0;
    uint64_t lo = 0, hi = to, m = from;
    int b = 1;

    NT_ENSURE(from <= to, NT_EINVAL, "consistency proof: from %llu is beyond to %llu",
              (unsigned long long)from, (unsigned long long)to);
    NT_ENSURE(to <= ((uint64_t)1 << 63), NT_ERANGE, "consistency proof: tree size too large");
    if (from == 0 || from == to) {
        return 0;
    }
    while (m != hi - lo) {
        uint64_t n = hi - lo;
        uint64_t k = split_point(n);
        NT_ENSURE(count < MERKLE_MAX_LEVEL, NT_ECORRUPT, "consistency proof too deep");
        if (m <= k) {
            NT_TRY(range_root(path[count], get, ctx, lo + k, n - k));
            hi = lo + k;
        } else {
            NT_TRY(range_root(path[count], get, ctx, lo, k));
            lo += k;
            m -= k;
            b = 0;
        }
        count++;
    }
    if (!b) {
        /* The innermost SUBPROOF(m, D[m], false) = {MTH(D[m])} comes first in the proof. */
        NT_TRY(range_root(path[count], get, ctx, lo, hi - lo));
        count++;
        /* path is emitted in reverse, so the last collected element goes out first. */
    }
    NT_TRY(put_reversed(out, path, count));

done:
    return error;
}

/* ------------------------------------------------------------------ verification */

int merkle_root_from_inclusion(uint8_t out[MERKLE_HASH_SIZE],
                               const uint8_t leaf_hash[MERKLE_HASH_SIZE], uint64_t index,
                               uint64_t size, const uint8_t *proof, size_t proof_len)
{
    uint8_t r[MERKLE_HASH_SIZE];
    uint64_t fn, sn;
    size_t count, want;
    unsigned inner;

    if (index >= size) {
        return nt_error_set(NT_EINVAL, "inclusion proof: index %llu not below tree size %llu",
                            (unsigned long long)index, (unsigned long long)size);
    }
    if (proof_len % MERKLE_HASH_SIZE != 0) {
        return nt_error_set(NT_EINVAL, "inclusion proof: length %zu is not a multiple of 32",
                            proof_len);
    }
    if (proof_len > 0 && proof == NULL) {
        return nt_error_set(NT_EINVAL, "inclusion proof: NULL proof");
    }
    /* The shape is fixed by (index, size): one hash per level where the paths to the leaf and
     * to the last leaf diverge, plus one per complete left subtree above that. */
    count = proof_len / MERKLE_HASH_SIZE;
    inner = bit_length(index ^ (size - 1));
    want = inner + popcount64(index >> inner);
    if (count != want) {
        return nt_error_set(NT_EINVAL,
                            "inclusion proof: %zu hashes, a proof of leaf %llu in %llu has %zu",
                            count, (unsigned long long)index, (unsigned long long)size, want);
    }

    /*
     * RFC 9162 2.1.3.2, step by step:
     *  2. "Set fn to leaf_index and sn to tree_size - 1."
     *  3. "Set r to hash."
     *  4. "For each value p in the inclusion_path array:
     *      a. If sn is 0, then stop the iteration and fail the proof verification.
     *      b. If LSB(fn) is set, or if fn is equal to sn, then:
     *         1. Set r to HASH(0x01 || p || r).
     *         2. If LSB(fn) is not set, then right-shift both fn and sn equally until
     *            either LSB(fn) is set or fn is 0.
     *         Otherwise: Set r to HASH(0x01 || r || p).
     *      c. Finally, right-shift both fn and sn one time."
     *  5. "Compare sn to 0.  Compare r against the root_hash.  If sn is equal to 0 and r and
     *      the root_hash are equal, then the log has proven the inclusion of hash.  Otherwise,
     *      fail the proof verification."
     */
    fn = index;
    sn = size - 1;
    memcpy(r, leaf_hash, MERKLE_HASH_SIZE);
    for (size_t i = 0; i < count; i++) {
        const uint8_t *p = proof + i * MERKLE_HASH_SIZE;
        if (sn == 0) {
            return nt_error_set(NT_EVERIFY, "inclusion proof: too many hashes");
        }
        if ((fn & 1) || fn == sn) {
            merkle_node_hash(r, p, r);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            merkle_node_hash(r, r, p);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0) {
        return nt_error_set(NT_EVERIFY, "inclusion proof: too few hashes");
    }
    memcpy(out, r, MERKLE_HASH_SIZE);
    return 0;
}

int merkle_verify_inclusion(const uint8_t leaf_hash[MERKLE_HASH_SIZE], uint64_t index,
                            uint64_t size, const uint8_t *proof, size_t proof_len,
                            const uint8_t root[MERKLE_HASH_SIZE])
{
    uint8_t r[MERKLE_HASH_SIZE];
    int error = merkle_root_from_inclusion(r, leaf_hash, index, size, proof, proof_len);
    if (error < 0) {
        return error;
    }
    if (memcmp(r, root, MERKLE_HASH_SIZE) != 0) {
        return nt_error_set(NT_EVERIFY, "inclusion proof: computed root does not match");
    }
    return 0;
}

int merkle_verify_consistency(uint64_t size1, uint64_t size2, const uint8_t root1[MERKLE_HASH_SIZE],
                              const uint8_t root2[MERKLE_HASH_SIZE], const uint8_t *proof,
                              size_t proof_len)
{
    uint8_t fr[MERKLE_HASH_SIZE], sr[MERKLE_HASH_SIZE], empty[MERKLE_HASH_SIZE];
    const uint8_t *c;
    uint64_t fn, sn;
    size_t count, i;

    if (size1 > size2) {
        return nt_error_set(NT_EINVAL, "consistency proof: size1 %llu is beyond size2 %llu",
                            (unsigned long long)size1, (unsigned long long)size2);
    }
    if (proof_len % MERKLE_HASH_SIZE != 0) {
        return nt_error_set(NT_EINVAL, "consistency proof: length %zu is not a multiple of 32",
                            proof_len);
    }
    if (proof_len > 0 && proof == NULL) {
        return nt_error_set(NT_EINVAL, "consistency proof: NULL proof");
    }
    count = proof_len / MERKLE_HASH_SIZE;
    if (size1 == size2 || size1 == 0) {
        /* Outside RFC 9162's algorithm (which needs 0 < first < second): nothing is to be
         * proven, so a proof is malformed; the roots must be the ones those sizes imply. */
        if (count != 0) {
            return nt_error_set(NT_EINVAL, "consistency proof: must be empty for sizes %llu, %llu",
                                (unsigned long long)size1, (unsigned long long)size2);
        }
        if (size1 == 0) {
            merkle_empty_root(empty);
            if (memcmp(root1, empty, MERKLE_HASH_SIZE) != 0) {
                return nt_error_set(NT_EVERIFY, "consistency proof: root1 is not the empty root");
            }
        }
        if (size1 == size2 && memcmp(root1, root2, MERKLE_HASH_SIZE) != 0) {
            return nt_error_set(NT_EVERIFY, "consistency proof: equal sizes, different roots");
        }
        return 0;
    }

    /*
     * RFC 9162 2.1.4.2:
     *  1. "If consistency_path is an empty array, stop and fail the proof verification."
     *  2. "If first is an exact power of 2, then prepend first_hash to the consistency_path
     *      array."
     *  3. "Set fn to first - 1 and sn to second - 1."
     *  4. "If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is not set."
     *  5. "Set both fr and sr to the first value in the consistency_path array."
     *  6. "For each subsequent value c in the consistency_path array:
     *      a. If sn is 0, then stop the iteration and fail the proof verification.
     *      b. If LSB(fn) is set, or if fn is equal to sn, then:
     *         1. Set fr to HASH(0x01 || c || fr).
     *         2. Set sr to HASH(0x01 || c || sr).
     *         3. If LSB(fn) is not set, then right-shift both fn and sn equally until either
     *            LSB(fn) is set or fn is 0.
     *         Otherwise: Set sr to HASH(0x01 || sr || c).
     *      c. Finally, right-shift both fn and sn one time."
     *  7. "After completing iterating through the consistency_path array as described above,
     *      verify that the fr calculated is equal to the first_hash supplied, that the sr
     *      calculated is equal to the second_hash supplied, and that sn is 0."
     */
    if (count == 0) {
        return nt_error_set(NT_EINVAL, "consistency proof: empty");
    }
    if (count > 2 * MERKLE_MAX_LEVEL) {
        return nt_error_set(NT_EINVAL, "consistency proof: %zu hashes is too many", count);
    }
    i = 0;
    if ((size1 & (size1 - 1)) == 0) {
        c = root1;
    } else {
        c = proof;
        i = 1;
    }
    fn = size1 - 1;
    sn = size2 - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    memcpy(fr, c, MERKLE_HASH_SIZE);
    memcpy(sr, c, MERKLE_HASH_SIZE);
    for (; i < count; i++) {
        c = proof + i * MERKLE_HASH_SIZE;
        if (sn == 0) {
            return nt_error_set(NT_EVERIFY, "consistency proof: too many hashes");
        }
        if ((fn & 1) || fn == sn) {
            merkle_node_hash(fr, c, fr);
            merkle_node_hash(sr, c, sr);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            merkle_node_hash(sr, sr, c);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0) {
        return nt_error_set(NT_EVERIFY, "consistency proof: too few hashes");
    }
    if (memcmp(fr, root1, MERKLE_HASH_SIZE) != 0) {
        return nt_error_set(NT_EVERIFY, "consistency proof: does not lead to root1");
    }
    if (memcmp(sr, root2, MERKLE_HASH_SIZE) != 0) {
        return nt_error_set(NT_EVERIFY, "consistency proof: does not lead to root2");
    }
    return 0;
}
