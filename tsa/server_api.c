/*
 * server_api.c - the /v1 API's reads and access rule: who may read evidence
 * metadata (only the API key that wrote it), the paged GET /v1/receipts, the
 * checkpoint, receipts and proofs, and the parsing of JSON request bodies with
 * a message that says what is wrong.  MHD-free like the other server*.c;
 * http.c resolves the caller's API key and calls these.
 */
#include "tsa/server_int.h"

#include <jansson.h>
#include <string.h>

/* ------------------------------------------------------------------ JSON bodies */

static const char *json_type_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    default:
        return "an object";
    }
}

int server_json_object(json_t **out, server_reply *r, nt_bytes body)
{
    json_error_t jerr;
    json_t *root;
    size_t i = 0;

    *out = NULL;
    while (i < body.len && (body.ptr[i] == ' ' || body.ptr[i] == '\t' || body.ptr[i] == '\r' ||
                            body.ptr[i] == '\n')) {
        i++;
    }
    if (i == body.len) {
        /* jansson would say "wrong arguments" (no buffer) or "end of file" */
        server_reply_error(r, 400, "empty_body", NULL,
                           "the body is empty; a JSON object is expected");
        return -1;
    }
    /* JSON_DECODE_ANY: a scalar body is named as such, not as a syntax error */
    root = json_loadb((const char *)body.ptr, body.len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                      &jerr);
    if (root == NULL) {
        if (jerr.line > 0) {
            server_reply_error(r, 400, "malformed_json", NULL,
                               "the body is not valid JSON: %s (line %d, column %d)", jerr.text,
                               jerr.line, jerr.column);
        } else {
            server_reply_error(r, 400, "malformed_json", NULL, "the body is not valid JSON: %s",
                               jerr.text);
        }
        return -1;
    }
    if (!json_is_object(root)) {
        server_reply_error(r, 400, "malformed_json", NULL, "the body must be a JSON object, not %s",
                           json_type_name(root));
        json_decref(root);
        return -1;
    }
    *out = root;
    return 0;
}

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

static json_t *hashes_json(const nt_buf *proof)
{
    json_t *arr = json_array();
    nt_buf b64 = NT_BUF_INIT;
    for (size_t off = 0; arr != NULL && off + 32 <= proof->len; off += 32) {
        nt_buf_clear(&b64);
        if (nt_base64_encode(&b64, proof->ptr + off, 32) < 0 ||
            json_array_append_new(arr, json_string(nt_buf_cstr(&b64))) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    nt_buf_dispose(&b64);
    return arr;
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

void server_get_proof_inclusion(server_reply *r, server *s, const char *index_text,
                                const char *size_text)
{
    uint64_t index, size, tree;
    nt_buf proof = NT_BUF_INIT;

    if (two_params(&index, &size, &tree, r, s, index_text, "index", size_text, "size") < 0) {
        return;
    }
    if (size > tree) {
        server_reply_error(r, 400, "size_beyond_tree", "size",
                           "size %llu is beyond the tree (%llu leaves)", (unsigned long long)size,
                           (unsigned long long)tree);
    } else if (index >= size) {
        server_reply_error(r, 400, "index_out_of_range", "index",
                           "index %llu is not below size %llu", (unsigned long long)index,
                           (unsigned long long)size);
    } else if (ledger_proof_inclusion(&proof, s->ledger, index, size) < 0) {
        server_reply_error(r, nt_error_code() == NT_EINVAL ? 400 : 500, "proof_failed", NULL, "%s",
                           nt_error_last());
    } else {
        server_reply_json(r, 200,
                          json_pack("{s:I, s:I, s:o}", "index", (json_int_t)index, "tree_size",
                                    (json_int_t)size, "hashes", hashes_json(&proof)));
    }
    nt_buf_dispose(&proof);
}

void server_get_proof_consistency(server_reply *r, server *s, const char *from_text,
                                  const char *to_text)
{
    uint64_t from, to, tree;
    nt_buf proof = NT_BUF_INIT;

    if (two_params(&from, &to, &tree, r, s, from_text, "from", to_text, "to") < 0) {
        return;
    }
    if (to > tree) {
        server_reply_error(r, 400, "size_beyond_tree", "to",
                           "size %llu is beyond the tree (%llu leaves)", (unsigned long long)to,
                           (unsigned long long)tree);
    } else if (from > to) {
        server_reply_error(r, 400, "invalid_range", "from", "from %llu is larger than to %llu",
                           (unsigned long long)from, (unsigned long long)to);
    } else if (ledger_proof_consistency(&proof, s->ledger, from, to) < 0) {
        server_reply_error(r, nt_error_code() == NT_EINVAL ? 400 : 500, "proof_failed", NULL, "%s",
                           nt_error_last());
    } else {
        server_reply_json(r, 200,
                          json_pack("{s:I, s:I, s:o}", "from", (json_int_t)from, "to",
                                    (json_int_t)to, "hashes", hashes_json(&proof)));
    }
    nt_buf_dispose(&proof);
}
