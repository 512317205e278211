/*
 * receipt.c - the receipt JSON codec described in receipt.h and
 * docs/FORMATS.md: the decoder on jansson, the encoder writing the text
 * directly (jansson's layout, byte for byte).  Part of the pure `nt_merkle`
 * library so that the server that writes receipts and the offline verifier
 * that reads them share one codec.
 *
 * The decoder checks syntax and shape only (types, base64, sizes, limits) and
 * names the member that is wrong; the cryptography is the verifier's job.
 * Encoding applies the same shape rules, so the server cannot emit a receipt
 * that its own verifier would refuse to read.
 */
#include "ledger/receipt.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* JSON numbers are exact up to 2^53 in every common reader. */
#define RECEIPT_MAX_INT ((uint64_t)1 << 53)

void receipt_init(receipt *r)
{
    memset(r, 0, sizeof(*r));
    r->version = RECEIPT_VERSION;
}

void receipt_dispose(receipt *r)
{
    if (r == NULL) {
        return;
    }
    nt_buf_dispose(&r->origin);
    nt_buf_dispose(&r->leaf);
    nt_buf_dispose(&r->token);
    nt_buf_dispose(&r->proof);
    nt_buf_dispose(&r->checkpoint);
    for (size_t i = 0; i < RECEIPT_MAX_CERTS; i++) {
        nt_buf_dispose(&r->certs[i]);
    }
    nt_buf_dispose(&r->metadata);
    receipt_init(r);
}

/* ------------------------------------------------------------------ encode */

/* Text members must be non-empty, strict UTF-8, without NUL. */
static int check_text_member(const char *member, const nt_buf *b)
{
    if (b->len == 0) {
        return nt_error_set(NT_EINVAL, "%s: empty", member);
    }
    if (memchr(b->ptr, '\0', b->len) != NULL) {
        return nt_error_set(NT_EINVAL, "%s: contains a NUL byte", member);
    }
    if (!nt_utf8_valid(b->ptr, b->len)) {
        return nt_error_set(NT_EINVAL, "%s: not valid UTF-8", member);
    }
    return 0;
}

/*
 * The receipt is written directly, not through a jansson tree: it is the reply of every
 * POST /v1/evidence, where building and dumping the tree cost more than the token's
 * signature (docs/PERFORMANCE.md).  The text is byte for byte what jansson writes with
 * JSON_INDENT(2) | JSON_PRESERVE_ORDER (ledger/receipt_test.c compares the two on many
 * receipts): members on their own lines, "key": value, two spaces per level, an empty
 * array as [].
 */

/* base64(data) as a JSON string (the alphabet needs no escaping). */
static int put_b64(nt_buf *out, const uint8_t *data, size_t len)
{
    int error = 0;
    NT_TRY(nt_buf_putc(out, '"'));
    NT_TRY(nt_base64_encode(out, data, len));
    NT_TRY(nt_buf_putc(out, '"'));
done:
    return error;
}

/* An array of base64 strings at the given depth (its items one deeper). */
static int put_b64_array(nt_buf *out, const uint8_t *const *items, const size_t *lens, size_t count,
                         int depth)
{
    int error = 0;
    if (count == 0) {
        return nt_buf_puts(out, "[]");
    }
    NT_TRY(nt_buf_putc(out, '['));
    for (size_t i = 0; i < count; i++) {
        NT_TRY(nt_buf_puts(out, i == 0 ? "\n" : ",\n"));
        NT_TRY(nt_buf_printf(out, "%*s", 2 * (depth + 1), ""));
        NT_TRY(put_b64(out, items[i], lens[i]));
    }
    NT_TRY(nt_buf_printf(out, "\n%*s]", 2 * depth, ""));
done:
    return error;
}

static int put_certs_array(nt_buf *out, const nt_buf *certs, size_t count)
{
    const uint8_t *items[RECEIPT_MAX_CERTS];
    size_t lens[RECEIPT_MAX_CERTS];
    for (size_t i = 0; i < count; i++) {
        items[i] = certs[i].ptr;
        lens[i] = certs[i].len;
    }
    return put_b64_array(out, items, lens, count, 1);
}

int receipt_certs_text(nt_buf *out, const nt_buf *certs, size_t count)
{
    int error = 0;
    NT_ENSURE(count <= RECEIPT_MAX_CERTS, NT_EINVAL, "certificates: more than %d",
              RECEIPT_MAX_CERTS);
    for (size_t i = 0; i < count; i++) {
        NT_ENSURE(certs[i].len > 0, NT_EINVAL, "certificates[%zu]: empty", i);
    }
    NT_TRY(put_certs_array(out, certs, count));
done:
    return error;
}

int receipt_encode(nt_buf *out, const receipt *r)
{
    const uint8_t *hashes[RECEIPT_MAX_PROOF];
    size_t hash_lens[RECEIPT_MAX_PROOF];
    size_t count, had = out->len;
    int error = 0;

    NT_ENSURE(r->version == RECEIPT_VERSION, NT_EINVAL, "version: %d is not %d", r->version,
              RECEIPT_VERSION);
    NT_TRY(check_text_member("log.origin", &r->origin));
    NT_ENSURE(r->leaf_index < RECEIPT_MAX_INT, NT_EINVAL, "leaf.index: beyond 2^53");
    NT_ENSURE(r->leaf.len > 0, NT_EINVAL, "leaf.data: empty");
    NT_ENSURE(r->token.len > 0, NT_EINVAL, "token: empty");
    NT_ENSURE(r->tree_size <= RECEIPT_MAX_INT, NT_EINVAL, "proof.tree_size: beyond 2^53");
    NT_ENSURE(r->leaf_index < r->tree_size, NT_EINVAL, "leaf.index: not below proof.tree_size");
    NT_ENSURE(r->proof.len % 32 == 0, NT_EINVAL, "proof.hashes: not a whole number of hashes");
    count = r->proof.len / 32;
    NT_ENSURE(count <= RECEIPT_MAX_PROOF, NT_EINVAL, "proof.hashes: more than %d",
              RECEIPT_MAX_PROOF);
    NT_TRY(check_text_member("checkpoint", &r->checkpoint));
    NT_ENSURE(r->cert_count <= RECEIPT_MAX_CERTS, NT_EINVAL, "certificates: more than %d",
              RECEIPT_MAX_CERTS);
    for (size_t i = 0; i < r->cert_count; i++) {
        NT_ENSURE(r->certs[i].len > 0, NT_EINVAL, "certificates[%zu]: empty", i);
    }
    NT_ENSURE(r->certs_text.len == 0 || r->cert_count == 0, NT_EINVAL,
              "certificates: both certs and certs_text given");
    NT_ENSURE(!(r->has_metadata && r->metadata_withheld), NT_EINVAL,
              "metadata: both given and withheld");
    for (size_t i = 0; i < count; i++) {
        hashes[i] = r->proof.ptr + i * 32;
        hash_lens[i] = 32;
    }

    /* The members in the documented order (receipt.h). */
    NT_TRY(nt_buf_printf(out,
                         "{\n  \"version\": %d,\n  \"log\": {\n    \"origin\": ", RECEIPT_VERSION));
    NT_TRY(nt_json_put_string(out, r->origin.ptr, r->origin.len));
    NT_TRY(nt_buf_printf(
        out, "\n  },\n  \"leaf\": {\n    \"index\": %" PRIu64 ",\n    \"data\": ", r->leaf_index));
    NT_TRY(put_b64(out, r->leaf.ptr, r->leaf.len));
    NT_TRY(nt_buf_puts(out, "\n  },\n  \"token\": "));
    NT_TRY(put_b64(out, r->token.ptr, r->token.len));
    NT_TRY(nt_buf_printf(
        out, ",\n  \"proof\": {\n    \"tree_size\": %" PRIu64 ",\n    \"hashes\": ", r->tree_size));
    NT_TRY(put_b64_array(out, hashes, hash_lens, count, 2));
    NT_TRY(nt_buf_puts(out, "\n  },\n  \"checkpoint\": "));
    NT_TRY(nt_json_put_string(out, r->checkpoint.ptr, r->checkpoint.len));
    NT_TRY(nt_buf_puts(out, ",\n  \"certificates\": "));
    if (r->certs_text.len > 0) {
        NT_TRY(nt_buf_put(out, r->certs_text.ptr, r->certs_text.len));
    } else {
        NT_TRY(put_certs_array(out, r->certs, r->cert_count));
    }
    if (r->has_metadata) {
        NT_TRY(nt_buf_puts(out, ",\n  \"metadata\": "));
        NT_TRY(put_b64(out, r->metadata.ptr, r->metadata.len));
    } else if (r->metadata_missing) {
        NT_TRY(nt_buf_puts(out, ",\n  \"metadata_missing\": true"));
    } else if (r->metadata_withheld) {
        NT_TRY(nt_buf_puts(out, ",\n  \"metadata_withheld\": true"));
    }
    NT_TRY(nt_buf_puts(out, "\n}\n"));
done:
    if (error < 0) {
        out->len = had; /* nothing half-written stays */
        if (out->ptr != NULL) {
            out->ptr[had] = 0;
        }
    }
    return error;
}

/* ------------------------------------------------------------------ decode */

static int get_object(json_t **out, json_t *obj, const char *key, const char *member)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        return nt_error_set(NT_EINVAL, "%s: missing", member);
    }
    if (!json_is_object(v)) {
        return nt_error_set(NT_EINVAL, "%s: not an object", member);
    }
    *out = v;
    return 0;
}

static int get_uint(uint64_t *out, json_t *obj, const char *key, const char *member)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        return nt_error_set(NT_EINVAL, "%s: missing", member);
    }
    if (!json_is_integer(v)) {
        return nt_error_set(NT_EINVAL, "%s: not an integer", member);
    }
    json_int_t i = json_integer_value(v);
    if (i < 0 || (uint64_t)i > RECEIPT_MAX_INT) {
        return nt_error_set(NT_EINVAL, "%s: out of range", member);
    }
    *out = (uint64_t)i;
    return 0;
}

/* A text member: non-empty string without NUL, copied NUL-terminated into out. */
static int get_text(nt_buf *out, json_t *obj, const char *key, const char *member)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        return nt_error_set(NT_EINVAL, "%s: missing", member);
    }
    if (!json_is_string(v)) {
        return nt_error_set(NT_EINVAL, "%s: not a string", member);
    }
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (len == 0) {
        return nt_error_set(NT_EINVAL, "%s: empty", member);
    }
    if (memchr(s, '\0', len) != NULL) {
        return nt_error_set(NT_EINVAL, "%s: contains a NUL character", member);
    }
    return nt_buf_set(out, s, len);
}

/* A base64 member decoded into out (replacing it); `nonempty` rejects "". */
static int decode_b64(nt_buf *out, json_t *v, const char *member, int nonempty)
{
    int error;
    if (v == NULL) {
        return nt_error_set(NT_EINVAL, "%s: missing", member);
    }
    if (!json_is_string(v)) {
        return nt_error_set(NT_EINVAL, "%s: not a string", member);
    }
    nt_buf_clear(out);
    error = nt_base64_decode(out, json_string_value(v), json_string_length(v));
    if (error == NT_ENOMEM) {
        return error;
    }
    if (error < 0) {
        return nt_error_set(NT_EINVAL, "%s: not base64", member);
    }
    if (nonempty && out->len == 0) {
        return nt_error_set(NT_EINVAL, "%s: empty", member);
    }
    return 0;
}

int receipt_decode(receipt *out, const char *json, size_t len)
{
    int error = 0;
    json_t *root = NULL, *log = NULL, *leaf = NULL, *proof = NULL, *v, *item;
    json_error_t jerr;
    receipt r;
    nt_buf h = NT_BUF_INIT;
    size_t i;

    receipt_init(&r);
    receipt_init(out);
    NT_ENSURE(json != NULL, NT_EINVAL, "receipt: missing");
    NT_ENSURE(len <= RECEIPT_MAX_SIZE, NT_EINVAL, "receipt: larger than %u bytes",
              RECEIPT_MAX_SIZE);
    /* Duplicate members would let two readers see two different receipts: refused. */
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    NT_ENSURE(root != NULL, NT_EINVAL, "receipt: invalid JSON at line %d column %d: %s", jerr.line,
              jerr.column, jerr.text);
    NT_ENSURE(json_is_object(root), NT_EINVAL, "receipt: not a JSON object");

    v = json_object_get(root, "version");
    NT_ENSURE(v != NULL, NT_EINVAL, "version: missing");
    NT_ENSURE(json_is_integer(v), NT_EINVAL, "version: not an integer");
    NT_ENSURE(json_integer_value(v) == RECEIPT_VERSION, NT_EINVAL, "version: %lld is not %d",
              (long long)json_integer_value(v), RECEIPT_VERSION);
    r.version = RECEIPT_VERSION;

    NT_TRY(get_object(&log, root, "log", "log"));
    NT_TRY(get_text(&r.origin, log, "origin", "log.origin"));
    NT_ENSURE(memchr(r.origin.ptr, '\n', r.origin.len) == NULL, NT_EINVAL,
              "log.origin: contains a newline");

    NT_TRY(get_object(&leaf, root, "leaf", "leaf"));
    NT_TRY(get_uint(&r.leaf_index, leaf, "index", "leaf.index"));
    NT_TRY(decode_b64(&r.leaf, json_object_get(leaf, "data"), "leaf.data", 1));

    NT_TRY(decode_b64(&r.token, json_object_get(root, "token"), "token", 1));

    NT_TRY(get_object(&proof, root, "proof", "proof"));
    NT_TRY(get_uint(&r.tree_size, proof, "tree_size", "proof.tree_size"));
    NT_ENSURE(r.leaf_index < r.tree_size, NT_EINVAL, "leaf.index: not below proof.tree_size");
    v = json_object_get(proof, "hashes");
    NT_ENSURE(v != NULL, NT_EINVAL, "proof.hashes: missing");
    NT_ENSURE(json_is_array(v), NT_EINVAL, "proof.hashes: not an array");
    NT_ENSURE(json_array_size(v) <= RECEIPT_MAX_PROOF, NT_EINVAL, "proof.hashes: more than %d",
              RECEIPT_MAX_PROOF);
    json_array_foreach (v, i, item) {
        char member[48];
        snprintf(member, sizeof(member), "proof.hashes[%zu]", i);
        error = decode_b64(&h, item, member, 1);
        if (error == 0 && h.len != 32) {
            error = nt_error_set(NT_EINVAL, "%s: not 32 bytes of base64", member);
        } else if (error == NT_EINVAL) {
            error = nt_error_set(NT_EINVAL, "%s: not 32 bytes of base64", member);
        }
        NT_TRY(error);
        NT_TRY(nt_buf_put(&r.proof, h.ptr, 32));
    }

    NT_TRY(get_text(&r.checkpoint, root, "checkpoint", "checkpoint"));

    v = json_object_get(root, "certificates");
    NT_ENSURE(v != NULL, NT_EINVAL, "certificates: missing");
    NT_ENSURE(json_is_array(v), NT_EINVAL, "certificates: not an array");
    NT_ENSURE(json_array_size(v) <= RECEIPT_MAX_CERTS, NT_EINVAL, "certificates: more than %d",
              RECEIPT_MAX_CERTS);
    json_array_foreach (v, i, item) {
        char member[48];
        snprintf(member, sizeof(member), "certificates[%zu]", i);
        NT_TRY(decode_b64(&r.certs[i], item, member, 1));
        r.cert_count = i + 1;
    }

    v = json_object_get(root, "metadata");
    if (v != NULL) {
        /* empty metadata is legitimate: its SHA-256 is still committed in the leaf */
        NT_TRY(decode_b64(&r.metadata, v, "metadata", 0));
        r.has_metadata = 1;
    }
    v = json_object_get(root, "metadata_withheld");
    if (v != NULL) {
        NT_ENSURE(json_is_true(v), NT_EINVAL, "metadata_withheld: not true");
        NT_ENSURE(!r.has_metadata, NT_EINVAL, "metadata_withheld: beside metadata");
        r.metadata_withheld = 1;
    }
    v = json_object_get(root, "metadata_missing");
    if (v != NULL) {
        NT_ENSURE(json_is_true(v) && !r.has_metadata && !r.metadata_withheld, NT_EINVAL,
                  "metadata_missing: must be true, and only without metadata or metadata_withheld");
        r.metadata_missing = 1;
    }
    *out = r;
    receipt_init(&r);

done:
    json_decref(root);
    nt_buf_dispose(&h);
    receipt_dispose(&r);
    return error;
}
