/*
 * server_api.c - the /v1 API's reads and access rule: who may read evidence
 * metadata (only the API key that wrote it), the paged GET /v1/receipts, the
 * checkpoint, receipts and proofs.  MHD-free like the other server*.c;
 * http.c resolves the caller's API key and calls these.
 */
#include "tsa/server_int.h"

#include <jansson.h>
#include <string.h>

/* ------------------------------------------------------------------ metadata */

/*
 * Evidence metadata holds personal data (an IBAN, an e-mail address): a
 * receipt carries it only for the tenant of the API key that wrote it (every key of
 * that tenant), recorded as the leaf's owner when it was appended.  Anyone else gets the receipt
 * with "metadata_withheld": true; it still proves the token and the inclusion, since the leaf
 * commits to the metadata's hash, not to its bytes.
 */
int server_metadata_filter(receipt *rc, server *s, const char *reader)
{
    nt_buf owner = NT_BUF_INIT;
    int visible = 0, error = 0;

    if (!rc->has_metadata) {
        return 0;
    }
    if (reader != NULL && reader[0] != '\0') {
        error = ledger_owner_get(&owner, s->ledger, rc->leaf_index);
        if (error == NT_ENOTFOUND) {
            error = 0; /* no owner recorded (an older ledger): nobody reads it over HTTP */
        }
        NT_TRY(error);
        visible = owner.len == strlen(reader) && memcmp(owner.ptr, reader, owner.len) == 0;
    }
    if (!visible) {
        rc->has_metadata = 0;
        nt_buf_dispose_secret(&rc->metadata);
        rc->metadata_withheld = 1;
    }
done:
    nt_buf_dispose(&owner);
    return error;
}

/* ------------------------------------------------------------------ GET /v1/receipts */

/* A query parameter: absent = dflt; else a decimal integer in [min, max], or a 400 reply. */
static int query_u64(uint64_t *out, server_reply *r, const char *text, const char *name,
                     uint64_t dflt, uint64_t min, uint64_t max)
{
    if (text == NULL) {
        *out = dflt;
        return 0;
    }
    if (nt_parse_u64(out, text, strlen(text)) < 0 || *out < min || *out > max) {
        server_reply_error(r, 400, "invalid_parameter", name,
                           "parameter '%s' must be a decimal integer from %llu to %llu", name,
                           (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    return 0;
}

void server_get_receipts(server_reply *r, server *s, const char *digest_text,
                         const char *limit_text, const char *cursor_text, const char *reader)
{
    nt_buf digest = NT_BUF_INIT, body = NT_BUF_INIT;
    uint64_t *indexes = NULL, limit, cursor;
    size_t count = 0;
    record_alg alg;
    int e = 0;

    if (server_digest_parse(&alg, &digest, r, digest_text, "digest") < 0 ||
        query_u64(&limit, r, limit_text, "limit", SERVER_RECEIPTS_DEFAULT, 1, SERVER_RECEIPTS_MAX) <
            0 ||
        query_u64(&cursor, r, cursor_text, "cursor", 0, 0, UINT64_MAX) < 0) {
        goto done;
    }
    /* One more than the page: whether another page exists, and where it starts. */
    if (ledger_find_digest_from(&indexes, &count, s->ledger, alg, nt_buf_bytes(&digest), cursor,
                                (size_t)limit + 1) < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "lookup: %s", nt_error_last());
        goto done;
    }
    /* receipt_encode's text is a JSON object: the list is their concatenation. */
    e |= nt_buf_puts(&body, "{\"receipts\": [");
    for (size_t i = 0; i < count && i < limit && e == 0; i++) {
        if (i > 0) {
            e |= nt_buf_puts(&body, ",\n");
        }
        e |= server_receipt_json(&body, s, indexes[i], reader);
    }
    e |= nt_buf_puts(&body, "]");
    if (count > limit) {
        e |= nt_buf_printf(&body, ",\n\"next_cursor\": \"%llu\"",
                           (unsigned long long)indexes[limit]);
    }
    e |= nt_buf_puts(&body, "}\n");
    if (e != 0) {
        server_reply_error(r, 500, "internal_error", NULL, "receipt: %s", nt_error_last());
        goto done;
    }
    server_reply_take(r, &body, "application/json");
done:
    nt_free(indexes);
    nt_buf_dispose(&digest);
    nt_buf_dispose(&body);
}

/* ------------------------------------------------------------------ /v1 reads */

void server_get_checkpoint(server_reply *r, server *s)
{
    if (ledger_checkpoint_latest(&r->body, s->ledger) < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "checkpoint: %s", nt_error_last());
        return;
    }
    r->status = 200;
    r->content_type = "text/plain; charset=utf-8";
}

int server_receipt_json(nt_buf *out, server *s, uint64_t index, const char *reader)
{
    receipt rc;
    int error = 0;

    receipt_init(&rc);
    NT_TRY(ledger_receipt_fill(&rc, s->ledger, index));
    NT_TRY(server_metadata_filter(&rc, s, reader));
    /* The chain of the certificate that signed this token (server_certs.c), rendered once
     * per certificate: base64 + JSON of certificates was a quarter of a receipt's CPU. */
    rc.certs_text = server__certs_for_token(s, nt_buf_bytes(&rc.token));
    NT_TRY(receipt_encode(out, &rc));
done:
    receipt_dispose(&rc);
    return error;
}

static int parse_index(uint64_t *out, const char *text)
{
    return text != NULL && nt_parse_u64(out, text, strlen(text)) == 0 ? 0 : -1;
}

static int ledger_size(uint64_t *out, server_reply *r, server *s)
{
    ledger_info info;
    if (ledger_info_get(&info, s->ledger) < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "ledger: %s", nt_error_last());
        return -1;
    }
    *out = info.size;
    return 0;
}

void server_get_receipt(server_reply *r, server *s, const char *index_text, const char *reader)
{
    uint64_t index, size;
    int rc;

    if (parse_index(&index, index_text) < 0) {
        server_reply_error(r, 400, "invalid_index", "index",
                           "the leaf index must be a decimal integer");
        return;
    }
    if (ledger_size(&size, r, s) < 0) {
        return;
    }
    if (index >= size) {
        server_reply_error(r, 404, "not_found", "index", "no leaf %llu (the tree has %llu)",
                           (unsigned long long)index, (unsigned long long)size);
        return;
    }
    nt_buf_clear(&r->body);
    rc = server_receipt_json(&r->body, s, index, reader);
    if (rc == NT_ENOTFOUND) {
        server_reply_error(r, 404, "not_found", "index", "no leaf %llu", (unsigned long long)index);
        return;
    }
    if (rc < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "receipt: %s", nt_error_last());
        return;
    }
    r->status = 200;
    r->content_type = "application/json";
}

int server_digest_parse(record_alg *alg, nt_buf *digest, server_reply *r, const char *text,
                        const char *field)
{
    int error;

    if (text == NULL || text[0] == '\0') {
        server_reply_error(r, 400, "missing_member", field, "a digest \"<alg>:<hex>\" is required");
        return -1;
    }
    error = record_digest_parse(alg, digest, text);
    if (error < 0) {
        server_reply_error(r, 400,
                           error == NT_EUNSUPPORTED ? "unknown_algorithm"
                           : error == NT_ERANGE     ? "invalid_digest_length"
                                                    : "invalid_digest",
                           field, "%s", nt_error_last());
        return -1;
    }
    return 0;
}

/* The proof document (ledger/receipt_proof.c, shared with `notarium ledger proof`) as the reply. */
static void reply_proof(server_reply *r, receipt_proof_kind kind, uint64_t a, uint64_t b,
                        const nt_buf *proof)
{
    nt_buf body = NT_BUF_INIT;
    if (receipt_proof_encode(&body, kind, a, b, nt_buf_bytes(proof)) < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "%s", nt_error_last());
    } else {
        server_reply_take(r, &body, "application/json");
    }
    nt_buf_dispose(&body);
}

static int two_params(uint64_t *a, uint64_t *b, uint64_t *size, server_reply *r, server *s,
                      const char *a_text, const char *a_name, const char *b_text,
                      const char *b_name)
{
    if (a_text == NULL || b_text == NULL) {
        const char *missing = a_text == NULL ? a_name : b_name;
        server_reply_error(r, 400, "missing_parameter", missing, "parameter '%s' is required",
                           missing);
        return -1;
    }
    const char *bad = parse_index(a, a_text) < 0   ? a_name
                      : parse_index(b, b_text) < 0 ? b_name
                                                   : NULL;
    if (bad != NULL) {
        server_reply_error(r, 400, "invalid_parameter", bad,
                           "parameter '%s' must be a decimal integer", bad);
        return -1;
    }
    return ledger_size(size, r, s);
}

/* GET /v1/proof/inclusion (index, size) and /v1/proof/consistency (from, to): one handler. */
static void get_proof(server_reply *r, server *s, receipt_proof_kind kind, const char *a_text,
                      const char *b_text)
{
    int inclusion = kind == RECEIPT_PROOF_INCLUSION;
    const char *a_name = inclusion ? "index" : "from", *b_name = inclusion ? "size" : "to";
    uint64_t a, b, tree;
    nt_buf proof = NT_BUF_INIT;

    if (two_params(&a, &b, &tree, r, s, a_text, a_name, b_text, b_name) < 0) {
        return;
    }
    if (b > tree) {
        server_reply_error(r, 400, "size_beyond_tree", b_name,
                           "size %llu is beyond the tree (%llu leaves)", (unsigned long long)b,
                           (unsigned long long)tree);
    } else if (inclusion && a >= b) {
        server_reply_error(r, 400, "index_out_of_range", "index",
                           "index %llu is not below size %llu", (unsigned long long)a,
                           (unsigned long long)b);
    } else if (!inclusion && a > b) {
        server_reply_error(r, 400, "invalid_range", "from", "from %llu is larger than to %llu",
                           (unsigned long long)a, (unsigned long long)b);
    } else if ((inclusion ? ledger_proof_inclusion(&proof, s->ledger, a, b)
                          : ledger_proof_consistency(&proof, s->ledger, a, b)) < 0) {
        server_reply_error(r, nt_error_code() == NT_EINVAL ? 400 : 500, "proof_failed", NULL, "%s",
                           nt_error_last());
    } else {
        reply_proof(r, kind, a, b, &proof);
    }
    nt_buf_dispose(&proof);
}

void server_get_proof_inclusion(server_reply *r, server *s, const char *index_text,
                                const char *size_text)
{
    get_proof(r, s, RECEIPT_PROOF_INCLUSION, index_text, size_text);
}

void server_get_proof_consistency(server_reply *r, server *s, const char *from_text,
                                  const char *to_text)
{
    get_proof(r, s, RECEIPT_PROOF_CONSISTENCY, from_text, to_text);
}
