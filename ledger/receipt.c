/*
 * receipt.c - the receipt JSON codec described in receipt.h and
 * docs/FORMATS.md, on jansson.  Part of the pure `nt_merkle` library so that
 * the server that writes receipts and the offline verifier that reads them
 * share one codec.
 *
 * The decoder checks syntax and shape only (types, base64, sizes, limits) and
 * names the member that is wrong; the cryptography is the verifier's job.
 * Encoding applies the same shape rules, so the server cannot emit a receipt
 * that its own verifier would refuse to read.
 */
#include "ledger/receipt.h"

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

/* Text members must be non-empty UTF-8 without NUL (jansson checks the UTF-8). */
static int check_text_member(const char *member, const nt_buf *b)
{
    if (b->len == 0) {
        return nt_error_set(NT_EINVAL, "%s: empty", member);
    }
    if (memchr(b->ptr, '\0', b->len) != NULL) {
        return nt_error_set(NT_EINVAL, "%s: contains a NUL byte", member);
    }
    return 0;
}

/* A new JSON string holding base64(data); NULL only when out of memory. */
static json_t *b64_string(const uint8_t *data, size_t len)
{
    nt_buf b = NT_BUF_INIT;
    json_t *s = NULL;
    if (nt_base64_encode(&b, data, len) == 0) {
        s = json_stringn(b.len > 0 ? (const char *)b.ptr : "", b.len);
    }
    nt_buf_dispose(&b);
    return s;
}

/* json_object_set_new that reports failure (it steals `value` either way); a NULL value is
 * a failed allocation upstream. */
static int set_member(json_t *obj, const char *key, json_t *value)
{
    if (value == NULL) {
        return nt_error_set(NT_ENOMEM, "receipt: out of memory");
    }
    if (json_object_set_new(obj, key, value) != 0) {
        return nt_error_set(NT_ENOMEM, "receipt: out of memory");
    }
    return 0;
}

static int append_item(json_t *arr, json_t *value)
{
    if (value == NULL) {
        return nt_error_set(NT_ENOMEM, "receipt: out of memory");
    }
    if (json_array_append_new(arr, value) != 0) {
        return nt_error_set(NT_ENOMEM, "receipt: out of memory");
    }
    return 0;
}

/*
 * Pretty-printed, a newline appears only between members (newlines inside strings are
 * escaped), so "\n  \"certificates\": []" occurs exactly once in the text of a receipt
 * encoded without certificates: the place where certs_text goes.
 */
#define CERTS_MEMBER "\n  \"certificates\": "

static int put_with_certs_text(nt_buf *out, const char *text, nt_bytes certs_text)
{
    const char *at = strstr(text, CERTS_MEMBER "[]");
    size_t head;
    int error = 0;

    NT_ENSURE(at != NULL, NT_ERROR, "receipt: no certificates member");
    head = (size_t)(at - text) + strlen(CERTS_MEMBER);
    NT_TRY(nt_buf_put(out, text, head));
    NT_TRY(nt_buf_put(out, certs_text.ptr, certs_text.len));
    NT_TRY(nt_buf_puts(out, at + strlen(CERTS_MEMBER) + 2));
done:
    return error;
}

int receipt_certs_text(nt_buf *out, const nt_buf *certs, size_t count)
{
    json_t *root = json_object(), *arr = json_array();
    nt_buf dump = NT_BUF_INIT;
    const char *text, *at;
    size_t len;
    int error = 0;

    NT_ENSURE(count <= RECEIPT_MAX_CERTS, NT_EINVAL, "certificates: more than %d",
              RECEIPT_MAX_CERTS);
    NT_ENSURE(root != NULL && arr != NULL, NT_ENOMEM, "receipt: out of memory");
    for (size_t i = 0; i < count; i++) {
        NT_ENSURE(certs[i].len > 0, NT_EINVAL, "certificates[%zu]: empty", i);
        NT_TRY(append_item(arr, b64_string(certs[i].ptr, certs[i].len)));
    }
    /* Two members, so that the array is written at the depth and with the lead-in it has in
     * a receipt: "{\n  \"version\": 1,\n  \"certificates\": [...]\n}". */
    NT_TRY(set_member(root, "version", json_integer(RECEIPT_VERSION)));
    NT_TRY(set_member(root, "certificates", arr));
    arr = NULL;
    NT_TRY(nt_json_dump(&dump, root, JSON_INDENT(2) | JSON_PRESERVE_ORDER));
    text = nt_buf_cstr(&dump);
    at = strstr(text, CERTS_MEMBER);
    len = strlen(text);
    NT_ENSURE(at != NULL && len >= 2 && memcmp(text + len - 2, "\n}", 2) == 0, NT_ERROR,
              "receipt: unexpected certificates text");
    at += strlen(CERTS_MEMBER);
    NT_TRY(nt_buf_put(out, at, (size_t)(text + len - 2 - at)));
done:
    nt_buf_dispose(&dump);
    json_decref(root);
    json_decref(arr);
    return error;
}

int receipt_encode(nt_buf *out, const receipt *r)
{
    nt_buf text = NT_BUF_INIT;
    int error = 0;
    json_t *root = NULL, *log = NULL, *leaf = NULL, *proof = NULL, *hashes = NULL, *certs = NULL;
    json_t *text_member;
    size_t count;

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

    /* jansson keeps insertion order: the members come out in the documented order. */
    root = json_object();
    log = json_object();
    leaf = json_object();
    proof = json_object();
    hashes = json_array();
    certs = json_array();
    NT_ENSURE(root != NULL && log != NULL && leaf != NULL && proof != NULL && hashes != NULL &&
                  certs != NULL,
              NT_ENOMEM, "receipt: out of memory");

    NT_TRY(set_member(root, "version", json_integer(RECEIPT_VERSION)));
    text_member = json_stringn((const char *)r->origin.ptr, r->origin.len);
    NT_ENSURE(text_member != NULL, NT_EINVAL, "log.origin: not valid UTF-8");
    NT_TRY(set_member(log, "origin", text_member));
    NT_TRY(set_member(root, "log", log));
    log = NULL;
    NT_TRY(set_member(leaf, "index", json_integer((json_int_t)r->leaf_index)));
    NT_TRY(set_member(leaf, "data", b64_string(r->leaf.ptr, r->leaf.len)));
    NT_TRY(set_member(root, "leaf", leaf));
    leaf = NULL;
    NT_TRY(set_member(root, "token", b64_string(r->token.ptr, r->token.len)));
    NT_TRY(set_member(proof, "tree_size", json_integer((json_int_t)r->tree_size)));
    for (size_t i = 0; i < count; i++) {
        NT_TRY(append_item(hashes, b64_string(r->proof.ptr + i * 32, 32)));
    }
    NT_TRY(set_member(proof, "hashes", hashes));
    hashes = NULL;
    NT_TRY(set_member(root, "proof", proof));
    proof = NULL;
    text_member = json_stringn((const char *)r->checkpoint.ptr, r->checkpoint.len);
    NT_ENSURE(text_member != NULL, NT_EINVAL, "checkpoint: not valid UTF-8");
    NT_TRY(set_member(root, "checkpoint", text_member));
    for (size_t i = 0; i < r->cert_count; i++) {
        NT_TRY(append_item(certs, b64_string(r->certs[i].ptr, r->certs[i].len)));
    }
    NT_TRY(set_member(root, "certificates", certs));
    certs = NULL;
    NT_ENSURE(!(r->has_metadata && r->metadata_withheld), NT_EINVAL,
              "metadata: both given and withheld");
    if (r->has_metadata) {
        NT_TRY(set_member(root, "metadata", b64_string(r->metadata.ptr, r->metadata.len)));
    } else if (r->metadata_missing) {
        NT_TRY(set_member(root, "metadata_missing", json_true()));
    } else if (r->metadata_withheld) {
        NT_TRY(set_member(root, "metadata_withheld", json_true()));
    }

    if (r->certs_text.len > 0) {
        NT_ENSURE(r->cert_count == 0, NT_EINVAL, "certificates: both certs and certs_text given");
        NT_TRY(nt_json_dump(&text, root, JSON_INDENT(2) | JSON_PRESERVE_ORDER));
        NT_TRY(put_with_certs_text(out, nt_buf_cstr(&text), r->certs_text));
    } else {
        NT_TRY(nt_json_dump(out, root, JSON_INDENT(2) | JSON_PRESERVE_ORDER));
    }
    NT_TRY(nt_buf_putc(out, '\n'));

done:
    json_decref(root);
    json_decref(log);
    json_decref(leaf);
    json_decref(proof);
    json_decref(hashes);
    json_decref(certs);
    nt_buf_dispose(&text);
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
