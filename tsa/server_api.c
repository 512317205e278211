/*
 * server_api.c - the /v1 API's access rule and bounded reads, beside
 * server.c's handlers: who may read evidence metadata (only the API key that
 * wrote it), the paged GET /v1/receipts, and the parsing of JSON request
 * bodies with a message that says what is wrong.  MHD-free like server.c;
 * http.c resolves the caller's API key and calls these.
 */
#include "tsa/server_int.h"

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
 * receipt carries it only for the API key that wrote it, recorded as the
 * leaf's owner when it was appended.  Anyone else gets the receipt with
 * "metadata_withheld": true; it still proves the token and the inclusion,
 * since the leaf commits to the metadata's hash, not to its bytes.
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
    nt_buf_dispose(&r->body);
    r->body = body;
    body = (nt_buf)NT_BUF_INIT;
    r->status = 200;
    r->content_type = "application/json";
done:
    nt_free(indexes);
    nt_buf_dispose(&digest);
    nt_buf_dispose(&body);
}
