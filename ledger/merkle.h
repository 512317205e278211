/*
 * merkle.h - RFC 9162 Merkle tree hashing and proofs, pure: no I/O, no
 * storage.  Part of the `nt_merkle` library, which the ledger, the git mirror,
 * the auditor and the offline verifier all share, so that every one of them
 * computes exactly the same hashes.
 *
 *   leaf hash = SHA-256(0x00 || leaf bytes)
 *   node hash = SHA-256(0x01 || left || right)
 *   root of the empty tree = SHA-256("")
 *
 * Proofs are passed as the concatenation of their 32-byte hashes, in the
 * order RFC 9162 section 2.1.3 / 2.1.4 defines.
 *
 * Thread safety: every function is reentrant.
 */
#ifndef LEDGER_MERKLE_H
#define LEDGER_MERKLE_H

#include "util/util.h"

#define MERKLE_HASH_SIZE 32
/* Deepest tree handled: 2^63 leaves. */
#define MERKLE_MAX_LEVEL 64

void merkle_leaf_hash(uint8_t out[MERKLE_HASH_SIZE], const uint8_t *leaf, size_t len);
void merkle_node_hash(uint8_t out[MERKLE_HASH_SIZE], const uint8_t left[MERKLE_HASH_SIZE],
                      const uint8_t right[MERKLE_HASH_SIZE]);
void merkle_empty_root(uint8_t out[MERKLE_HASH_SIZE]);

/*
 * Naive root of `n` leaf hashes (leaf_hashes holds n*32 bytes): MTH of
 * RFC 9162 section 2.1.1, computed iteratively.  For tests, tiles and replay.
 */
int merkle_root_naive(uint8_t out[MERKLE_HASH_SIZE], const uint8_t *leaf_hashes, uint64_t n);

/*
 * The right edge of a growing tree: for every set bit k of `size`, the root of
 * the complete subtree of 2^k leaves that bit stands for.  Appending a leaf
 * costs O(1) amortised hashes; the root costs O(log n).
 *
 * stack[0] is the smallest (rightmost) subtree, stack[depth-1] the largest.
 */
typedef struct merkle_frontier {
    uint64_t size;
    unsigned depth;
    uint8_t stack[MERKLE_MAX_LEVEL][MERKLE_HASH_SIZE];
} merkle_frontier;

/*
 * Called for every complete subtree that an append completes, the leaf itself
 * included (level 0): it covers leaves [index << level, (index + 1) << level).
 * A storage layer persists these to answer proofs in O(log n) lookups.  A
 * negative return aborts the append (the frontier is then unspecified:
 * reload it).
 */
typedef int (*merkle_node_fn)(void *ctx, unsigned level, uint64_t index,
                              const uint8_t hash[MERKLE_HASH_SIZE]);

void merkle_frontier_init(merkle_frontier *f);
int merkle_frontier_append(merkle_frontier *f, const uint8_t leaf_hash[MERKLE_HASH_SIZE],
                           merkle_node_fn fn, void *ctx);
/* Root of the tree the frontier describes (the empty root when size is 0). */
void merkle_frontier_root(uint8_t out[MERKLE_HASH_SIZE], const merkle_frontier *f);

/*
 * Source of stored complete-subtree hashes: the hash of the complete subtree
 * at `level` covering leaves [index << level, (index + 1) << level).  Return
 * 0, NT_ENOTFOUND, or another negative code.
 */
typedef int (*merkle_hash_fn)(uint8_t out[MERKLE_HASH_SIZE], void *ctx, unsigned level,
                              uint64_t index);

/* Rebuild a frontier for `size` leaves from stored subtree hashes (O(log n) lookups). */
int merkle_frontier_load(merkle_frontier *f, merkle_hash_fn get, void *ctx, uint64_t size);

/*
 * Root of leaves [start, end) (not necessarily complete) from stored hashes: MTH(D[start:end]).
 * O(log n) lookups when start is a multiple of a power of two >= end - start (every range a
 * proof or a tile needs); other ranges are still correct but cost more lookups.  start == end
 * gives the empty root; NT_EINVAL if start > end; the source's error (e.g. NT_ENOTFOUND) as is.
 */
int merkle_range_root(uint8_t out[MERKLE_HASH_SIZE], merkle_hash_fn get, void *ctx, uint64_t start,
                      uint64_t end);

/*
 * RFC 9162 2.1.3.1 inclusion proof of leaf `index` in the tree of `size`
 * leaves, appended to out as 32-byte hashes.  NT_EINVAL unless index < size.
 */
int merkle_proof_inclusion(nt_buf *out, merkle_hash_fn get, void *ctx, uint64_t index,
                           uint64_t size);

/*
 * RFC 9162 2.1.4.1 consistency proof between sizes `from` and `to`, appended
 * to out.  Empty when from == to or from == 0.  NT_EINVAL when from > to.
 */
int merkle_proof_consistency(nt_buf *out, merkle_hash_fn get, void *ctx, uint64_t from,
                             uint64_t to);

/*
 * RFC 9162 2.1.3.2: 0 if `proof` proves `leaf_hash` at `index` in the tree of
 * `size` leaves with root `root`; NT_EVERIFY if it does not; NT_EINVAL for a
 * proof of the wrong shape (length not a multiple of 32, index >= size, ...).
 */
int merkle_verify_inclusion(const uint8_t leaf_hash[MERKLE_HASH_SIZE], uint64_t index,
                            uint64_t size, const uint8_t *proof, size_t proof_len,
                            const uint8_t root[MERKLE_HASH_SIZE]);

/* The root an inclusion proof leads to (same checks of shape as above; the
 * number of hashes must be exactly the one (index, size) implies, else NT_EINVAL). */
int merkle_root_from_inclusion(uint8_t out[MERKLE_HASH_SIZE],
                               const uint8_t leaf_hash[MERKLE_HASH_SIZE], uint64_t index,
                               uint64_t size, const uint8_t *proof, size_t proof_len);

/*
 * RFC 9162 2.1.4.2: 0 if `proof` proves the tree of size2 with root2 extends
 * the tree of size1 with root1; NT_EVERIFY / NT_EINVAL otherwise.  size1 == 0
 * requires an empty proof and root1 == the empty root (SHA-256(""));
 * size1 == size2 requires an empty proof and equal roots.  A proof with the
 * wrong number of hashes is rejected (NT_EINVAL or NT_EVERIFY).
 */
int merkle_verify_consistency(uint64_t size1, uint64_t size2, const uint8_t root1[MERKLE_HASH_SIZE],
                              const uint8_t root2[MERKLE_HASH_SIZE], const uint8_t *proof,
                              size_t proof_len);

#endif
