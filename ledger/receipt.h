/*
 * receipt.h - the receipt: one self-contained JSON document per leaf, enough
 * to verify offline with the document, the TSA root certificate and the log's
 * vkey.  Part of the pure `nt_merkle` library (it links jansson), so that the
 * server that writes receipts and the verifier that reads them share one codec.
 *
 *   { "version": 1,
 *     "log":   { "origin": "<checkpoint origin>" },
 *     "leaf":  { "index": <int>, "data": "<base64 leaf bytes>" },
 *     "token": "<base64 DER TimeStampToken, the same bytes as inside the leaf>",
 *     "proof": { "tree_size": <int>, "hashes": ["<base64 32 bytes>", ...] },
 *     "checkpoint": "<signed note text the proof is against>",
 *     "certificates": ["<base64 DER>", ...],      TSA certificate first, then its chain
 *     "metadata": "<base64 of the exact metadata bytes>"   only when the leaf has metadata
 *     "metadata_withheld": true     instead of "metadata", when the leaf has metadata
 *                                   that this receipt's reader may not see
 *     "metadata_missing": true      instead of "metadata", when the leaf commits to metadata
 *                                   that the ledger lost (restored from the mirror, which
 *                                   holds none); at most one of the three is present
 *   }
 *
 * A receipt with metadata withheld still proves the token and the leaf's
 * inclusion (the leaf commits to the metadata's SHA-256, not to its bytes);
 * it proves nothing about the metadata.
 *
 * Integers are JSON numbers (exact up to 2^53).  Unknown members are ignored
 * by the decoder, so later versions may add members.
 */
#ifndef LEDGER_RECEIPT_H
#define LEDGER_RECEIPT_H

#include "util/util.h"

#define RECEIPT_VERSION   1
#define RECEIPT_MAX_SIZE  (32u * 1024u * 1024u)
#define RECEIPT_MAX_PROOF 64
#define RECEIPT_MAX_CERTS 16

/* A receipt in memory.  Every buffer is owned; release with receipt_dispose. */
typedef struct receipt {
    int version;
    nt_buf origin; /* NUL-terminated text */
    uint64_t leaf_index;
    nt_buf leaf;  /* leaf bytes */
    nt_buf token; /* DER TimeStampToken */
    uint64_t tree_size;
    nt_buf proof;      /* n * 32 bytes */
    nt_buf checkpoint; /* signed note text, NUL-terminated */
    nt_buf certs[RECEIPT_MAX_CERTS];
    size_t cert_count;
    int has_metadata;
    nt_buf metadata;
    int metadata_withheld; /* the leaf has metadata, left out of this receipt (has_metadata 0) */
    int metadata_missing;  /* the leaf commits to metadata the ledger no longer has (restore) */
    nt_bytes certs_text;   /* encode only, borrowed: when not empty, the "certificates" array as
                              receipt_certs_text made it, written instead of certs[] (a server
                              renders each signer's chain once, not per receipt) */
} receipt;

void receipt_init(receipt *r);
void receipt_dispose(receipt *r);

/*
 * Append the JSON text (pretty-printed, 2-space indent, members in the order above, one
 * final newline).  The same shape rules as receipt_decode apply (NT_EINVAL naming the member):
 * non-empty origin / leaf / token / checkpoint, leaf_index < tree_size <= 2^53, proof a whole
 * number of hashes (at most RECEIPT_MAX_PROOF), cert_count <= RECEIPT_MAX_CERTS.
 */
int receipt_encode(nt_buf *out, const receipt *r);

/*
 * The text receipt_encode writes for the "certificates" array of certs[0..count) (the value
 * only, "[ ... ]"), appended to out, for receipt.certs_text.  NT_EINVAL for more than
 * RECEIPT_MAX_CERTS or an empty certificate.
 */
int receipt_certs_text(nt_buf *out, const nt_buf *certs, size_t count);

/*
 * Parse JSON text.  Strict about what it needs: NT_EINVAL with a message
 * naming the member ("proof.hashes[2]: not 32 bytes of base64") for a
 * missing, mistyped or malformed member.  Checks only syntax and shape, not
 * the cryptography (that is the verifier's job).  Also refused: duplicate members, trailing
 * bytes, more than RECEIPT_MAX_PROOF hashes or RECEIPT_MAX_CERTS certificates, integers beyond
 * 2^53, leaf.index >= proof.tree_size.  `metadata` may be "" (empty metadata bytes);
 * `metadata_withheld` must be true when present, and not beside `metadata`.
 *
 * *out is overwritten (receipt_init'd first, so dispose a reused receipt before); on failure
 * it is left empty.  On success the caller owns its buffers: receipt_dispose.
 */
int receipt_decode(receipt *out, const char *json, size_t len);

/* ------------------------------------------------------------------ proof documents */

typedef enum receipt_proof_kind {
    RECEIPT_PROOF_INCLUSION = 0,   /* {"index", "tree_size", "hashes"} */
    RECEIPT_PROOF_CONSISTENCY = 1, /* {"from", "to", "hashes"} */
} receipt_proof_kind;

/*
 * Append the JSON document of one Merkle proof, as GET /v1/proof/inclusion and
 * /v1/proof/consistency serve it and `notarium ledger proof` prints it
 * (receipt_proof.c): {"index": a, "tree_size": b, "hashes": [...]} or
 * {"from": a, "to": b, "hashes": [...]}, each hash of `proof` (concatenated
 * 32-byte hashes) in base64, pretty-printed with a 2-space indent and one
 * final newline.  NT_EINVAL for a proof that is not a whole number of hashes,
 * a number beyond 2^53 or an unknown kind; NT_ENOMEM.
 */
int receipt_proof_encode(nt_buf *out, receipt_proof_kind kind, uint64_t a, uint64_t b,
                         nt_bytes proof);

#endif
