/*
 * receipt_proof.c - the JSON document of one Merkle proof, as GET
 * /v1/proof/inclusion and /v1/proof/consistency serve it and `notarium ledger
 * proof` prints it (docs/HTTP-API.md).  One writer for both, beside the
 * receipt codec whose "proof" member has the same hashes.
 */
#include "ledger/receipt.h"

#include <jansson.h>

/* JSON numbers are exact up to 2^53 in every common reader (receipt.c says the same). */
#define PROOF_MAX_INT ((uint64_t)1 << 53)

int receipt_proof_encode(nt_buf *out, receipt_proof_kind kind, uint64_t a, uint64_t b,
                         nt_bytes proof)
{
    int error = 0;
    json_t *root = NULL, *hashes = NULL;
    nt_buf b64 = NT_BUF_INIT;
    int inclusion = kind == RECEIPT_PROOF_INCLUSION;

    NT_ENSURE(kind == RECEIPT_PROOF_INCLUSION || kind == RECEIPT_PROOF_CONSISTENCY, NT_EINVAL,
              "proof: unknown kind %d", (int)kind);
    NT_ENSURE(a <= PROOF_MAX_INT && b <= PROOF_MAX_INT, NT_EINVAL,
              "proof: a tree size beyond 2^53");
    NT_ENSURE(proof.len % 32 == 0, NT_EINVAL, "proof: not a whole number of hashes");
    NT_ENSURE((hashes = json_array()) != NULL, NT_ENOMEM, "proof: out of memory");
    for (size_t off = 0; off < proof.len; off += 32) {
        nt_buf_clear(&b64);
        NT_TRY(nt_base64_encode(&b64, proof.ptr + off, 32));
        NT_ENSURE(json_array_append_new(hashes, json_string(nt_buf_cstr(&b64))) == 0, NT_ENOMEM,
                  "proof: out of memory");
    }
    /* "o" steals `hashes` even when json_pack fails */
    root = json_pack("{s:I, s:I, s:o}", inclusion ? "index" : "from", (json_int_t)a,
                     inclusion ? "tree_size" : "to", (json_int_t)b, "hashes", hashes);
    hashes = NULL;
    NT_ENSURE(root != NULL, NT_ENOMEM, "proof: out of memory");
    NT_TRY(nt_json_dump(out, root, JSON_INDENT(2) | JSON_PRESERVE_ORDER));
    NT_TRY(nt_buf_putc(out, '\n'));
done:
    json_decref(root);
    json_decref(hashes);
    nt_buf_dispose(&b64);
    return error;
}
