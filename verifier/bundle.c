/*
 * bundle.c - the strict readers of the evidence bundle (docs/FORMATS.md
 * "Evidence bundle") and of the disclosures file (docs/FORMATS.md
 * "Disclosures"), for verify_case.c.  Part of nt_verifier.
 *
 * Shape only: every member present, of its type, base64 and sizes right,
 * nothing unknown, no duplicate; each refusal names the member
 * ("events[3].proof.hashes[1]: not 32 bytes of base64").  What the bytes
 * prove is verify_case.c's business.
 */
#include "verifier/case_int.h"

#include <jansson.h>
#include <string.h>

#define CASE_MAX_INT ((uint64_t)1 << 53)

/* ------------------------------------------------------------------ members */

/* Every member of obj is one of `names` (NULL-terminated). */
static int only_members(json_t *obj, const char *const *names, const char *where)
{
    const char *key;
    json_t *v;
    json_object_foreach (obj, key, v) {
        int known = 0;
        for (const char *const *n = names; *n != NULL; n++) {
            known |= strcmp(key, *n) == 0;
        }
        if (!known) {
            return nt_error_set(NT_EINVAL, "%s%s%.64s: unknown member", where,
                                where[0] != '\0' ? "." : "", key);
        }
    }
    return 0;
}

static int member(json_t **out, json_t *obj, const char *key, const char *where)
{
    *out = json_object_get(obj, key);
    if (*out == NULL) {
        return nt_error_set(NT_EINVAL, "%s%s%s: missing", where, where[0] != '\0' ? "." : "", key);
    }
    return 0;
}

static int get_uint(uint64_t *out, json_t *v, const char *name)
{
    if (!json_is_integer(v)) {
        return nt_error_set(NT_EINVAL, "%s: not an integer", name);
    }
    json_int_t i = json_integer_value(v);
    if (i < 0 || (uint64_t)i > CASE_MAX_INT) {
        return nt_error_set(NT_EINVAL, "%s: out of range", name);
    }
    *out = (uint64_t)i;
    return 0;
}

/* Non-empty text without NUL into out. */
static int get_text(nt_buf *out, json_t *v, const char *name)
{
    if (!json_is_string(v)) {
        return nt_error_set(NT_EINVAL, "%s: not a string", name);
    }
    size_t n = json_string_length(v);
    if (n == 0 || strlen(json_string_value(v)) != n) {
        return nt_error_set(NT_EINVAL, "%s: empty or with a NUL character", name);
    }
    return nt_buf_set(out, json_string_value(v), n);
}

static int get_b64(nt_buf *out, json_t *v, const char *name)
{
    if (!json_is_string(v)) {
        return nt_error_set(NT_EINVAL, "%s: not a string", name);
    }
    nt_buf_clear(out);
    int error = nt_base64_decode(out, json_string_value(v), json_string_length(v));
    if (error == NT_ENOMEM) {
        return error;
    }
    if (error < 0 || out->len == 0) {
        return nt_error_set(NT_EINVAL, "%s: not base64 of at least one byte", name);
    }
    return 0;
}

/* ------------------------------------------------------------------ bundle */

void verifier__bundle_dispose(case_bundle *b)
{
    if (b == NULL) {
        return;
    }
    nt_buf_dispose(&b->tenant);
    nt_buf_dispose(&b->case_id);
    nt_buf_dispose(&b->exported_at);
    nt_buf_dispose(&b->origin);
    nt_buf_dispose(&b->checkpoint);
    for (size_t i = 0; i < RECEIPT_MAX_CERTS; i++) {
        nt_buf_dispose(&b->certs[i]);
    }
    for (size_t i = 0; i < b->event_count; i++) {
        case_bundle_event *e = &b->events[i];
        nt_buf_dispose(&e->leaf);
        nt_buf_dispose(&e->token);
        nt_buf_dispose(&e->proof);
        nt_buf_dispose(&e->body);
    }
    nt_free(b->events);
    memset(b, 0, sizeof(*b));
}

static int parse_proof(case_bundle_event *e, json_t *proof, const char *where)
{
    static const char *const names[] = {"tree_size", "hashes", NULL};
    int error = 0;
    char name[160];
    json_t *v, *item;
    size_t i;
    nt_buf h = NT_BUF_INIT;
    NT_ENSURE(json_is_object(proof), NT_EINVAL, "%s: not an object", where);
    NT_TRY(only_members(proof, names, where));
    NT_TRY(member(&v, proof, "tree_size", where));
    snprintf(name, sizeof(name), "%s.tree_size", where);
    NT_TRY(get_uint(&e->tree_size, v, name));
    NT_TRY(member(&v, proof, "hashes", where));
    NT_ENSURE(json_is_array(v), NT_EINVAL, "%s.hashes: not an array", where);
    NT_ENSURE(json_array_size(v) <= RECEIPT_MAX_PROOF, NT_EINVAL, "%s.hashes: more than %d", where,
              RECEIPT_MAX_PROOF);
    json_array_foreach (v, i, item) {
        snprintf(name, sizeof(name), "%s.hashes[%zu]", where, i);
        error = get_b64(&h, item, name);
        if (error == NT_EINVAL || (error == 0 && h.len != 32)) {
            error = nt_error_set(NT_EINVAL, "%s: not 32 bytes of base64", name);
        }
        NT_TRY(error);
        NT_TRY(nt_buf_put(&e->proof, h.ptr, 32));
    }
done:
    nt_buf_dispose(&h);
    return error;
}

static int parse_event(case_bundle_event *e, json_t *obj, size_t idx)
{
    static const char *const names[] = {"seq", "leaf", "token", "proof", "body", NULL};
    static const char *const leaf_names[] = {"index", "data", NULL};
    int error = 0;
    char where[48], name[96];
    json_t *v, *leaf;
    snprintf(where, sizeof(where), "events[%zu]", idx);
    NT_ENSURE(json_is_object(obj), NT_EINVAL, "%s: not an object", where);
    NT_TRY(only_members(obj, names, where));
    NT_TRY(member(&v, obj, "seq", where));
    snprintf(name, sizeof(name), "%s.seq", where);
    NT_TRY(get_uint(&e->seq, v, name));
    NT_ENSURE(e->seq >= 1, NT_EINVAL, "%s: 0", name);
    NT_TRY(member(&leaf, obj, "leaf", where));
    snprintf(name, sizeof(name), "%s.leaf", where);
    NT_ENSURE(json_is_object(leaf), NT_EINVAL, "%s: not an object", name);
    NT_TRY(only_members(leaf, leaf_names, name));
    NT_TRY(member(&v, leaf, "index", name));
    snprintf(name, sizeof(name), "%s.leaf.index", where);
    NT_TRY(get_uint(&e->leaf_index, v, name));
    snprintf(name, sizeof(name), "%s.leaf", where);
    NT_TRY(member(&v, leaf, "data", name));
    snprintf(name, sizeof(name), "%s.leaf.data", where);
    NT_TRY(get_b64(&e->leaf, v, name));
    NT_TRY(member(&v, obj, "token", where));
    snprintf(name, sizeof(name), "%s.token", where);
    NT_TRY(get_b64(&e->token, v, name));
    NT_TRY(member(&v, obj, "proof", where));
    snprintf(name, sizeof(name), "%s.proof", where);
    NT_TRY(parse_proof(e, v, name));
    NT_ENSURE(e->leaf_index < e->tree_size, NT_EINVAL, "%s.leaf.index: not below proof.tree_size",
              where);
    NT_TRY(member(&v, obj, "body", where));
    snprintf(name, sizeof(name), "%s.body", where);
    NT_TRY(get_b64(&e->body, v, name));
done:
    return error;
}

static int parse_head(case_bundle *b, json_t *root)
{
    int error = 0;
    json_t *v, *log;
    NT_TRY(member(&v, root, "format", ""));
    NT_ENSURE(json_is_string(v) && strcmp(json_string_value(v), CASE_BUNDLE_FORMAT) == 0 &&
                  json_string_length(v) == strlen(CASE_BUNDLE_FORMAT),
              NT_EINVAL, "format: not \"%s\"", CASE_BUNDLE_FORMAT);
    NT_TRY(member(&v, root, "version", ""));
    NT_ENSURE(json_is_integer(v) && json_integer_value(v) == CASE_BUNDLE_VERSION, NT_EINVAL,
              "version: not %d", CASE_BUNDLE_VERSION);
    NT_TRY(member(&v, root, "tenant", ""));
    NT_TRY(get_text(&b->tenant, v, "tenant"));
    NT_ENSURE(event_tenant_valid(nt_buf_cstr(&b->tenant), b->tenant.len), NT_EINVAL,
              "tenant: not 1..64 of [A-Za-z0-9._-]");
    NT_TRY(member(&v, root, "case", ""));
    NT_TRY(get_text(&b->case_id, v, "case"));
    NT_ENSURE(event_case_valid(nt_buf_cstr(&b->case_id), b->case_id.len), NT_EINVAL,
              "case: not 1..128 of [A-Za-z0-9._:-]");
    NT_TRY(member(&v, root, "sealed", ""));
    NT_ENSURE(json_is_boolean(v), NT_EINVAL, "sealed: not a boolean");
    b->sealed = json_is_true(v);
    NT_TRY(member(&v, root, "exported_at", ""));
    NT_TRY(get_text(&b->exported_at, v, "exported_at"));
    NT_TRY(member(&log, root, "log", ""));
    NT_ENSURE(json_is_object(log), NT_EINVAL, "log: not an object");
    {
        static const char *const names[] = {"origin", NULL};
        NT_TRY(only_members(log, names, "log"));
    }
    NT_TRY(member(&v, log, "origin", "log"));
    NT_TRY(get_text(&b->origin, v, "log.origin"));
    NT_ENSURE(memchr(b->origin.ptr, '\n', b->origin.len) == NULL, NT_EINVAL,
              "log.origin: contains a newline");
    NT_TRY(member(&v, root, "checkpoint", ""));
    NT_TRY(get_text(&b->checkpoint, v, "checkpoint"));
done:
    return error;
}

int verifier__bundle_parse(case_bundle *out, const char *json, size_t len)
{
    static const char *const names[] = {"format", "version",      "tenant", "case",
                                        "sealed", "exported_at",  "log",    "checkpoint",
                                        "events", "certificates", NULL};
    int error = 0;
    json_t *root = NULL, *v, *item;
    json_error_t jerr;
    size_t i;
    case_bundle b;

    memset(&b, 0, sizeof(b));
    memset(out, 0, sizeof(*out));
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    NT_ENSURE(root != NULL, NT_EINVAL, "bundle: invalid JSON at line %d column %d: %s", jerr.line,
              jerr.column, jerr.text);
    NT_ENSURE(json_is_object(root), NT_EINVAL, "bundle: not a JSON object");
    NT_TRY(only_members(root, names, ""));
    NT_TRY(parse_head(&b, root));
    NT_TRY(member(&v, root, "certificates", ""));
    NT_ENSURE(json_is_array(v), NT_EINVAL, "certificates: not an array");
    NT_ENSURE(json_array_size(v) <= RECEIPT_MAX_CERTS, NT_EINVAL, "certificates: more than %d",
              RECEIPT_MAX_CERTS);
    json_array_foreach (v, i, item) {
        char name[48];
        snprintf(name, sizeof(name), "certificates[%zu]", i);
        NT_TRY(get_b64(&b.certs[i], item, name));
        b.cert_count = i + 1;
    }
    NT_TRY(member(&v, root, "events", ""));
    NT_ENSURE(json_is_array(v), NT_EINVAL, "events: not an array");
    NT_ENSURE(json_array_size(v) >= 1 && json_array_size(v) <= CASE_MAX_EVENTS, NT_EINVAL,
              "events: not 1..%d events", CASE_MAX_EVENTS);
    NT_ENSURE((b.events = nt_calloc(json_array_size(v), sizeof(*b.events))) != NULL, NT_ENOMEM,
              "out of memory");
    json_array_foreach (v, i, item) {
        b.event_count = i + 1;
        NT_TRY(parse_event(&b.events[i], item, i));
    }
    *out = b;
    memset(&b, 0, sizeof(b));
done:
    json_decref(root);
    verifier__bundle_dispose(&b);
    return error;
}

/* ------------------------------------------------------------------ disclosures */

void verifier__disclosures_dispose(case_disclosures *d)
{
    if (d == NULL) {
        return;
    }
    for (size_t i = 0; i < d->count; i++) {
        nt_buf_dispose_secret(&d->items[i].value);
        nt_wipe(d->items[i].salt, sizeof(d->items[i].salt));
    }
    nt_free(d->items);
    memset(d, 0, sizeof(*d));
}

static int parse_disclosure(case_disclosure *d, json_t *obj, size_t idx)
{
    static const char *const names[] = {"seq", "attribute", "value", "salt", NULL};
    int error = 0;
    char where[48], name[80];
    json_t *v;
    nt_buf salt = NT_BUF_INIT;
    snprintf(where, sizeof(where), "disclosures[%zu]", idx);
    NT_ENSURE(json_is_object(obj), NT_EINVAL, "%s: not an object", where);
    NT_TRY(only_members(obj, names, where));
    NT_TRY(member(&v, obj, "seq", where));
    snprintf(name, sizeof(name), "%s.seq", where);
    NT_TRY(get_uint(&d->seq, v, name));
    NT_ENSURE(d->seq >= 1, NT_EINVAL, "%s: 0", name);
    NT_TRY(member(&v, obj, "attribute", where));
    NT_ENSURE(json_is_string(v) && json_string_length(v) <= EVENT_ATTR_NAME_MAX &&
                  strlen(json_string_value(v)) == json_string_length(v) &&
                  event_attr_name_valid(json_string_value(v), json_string_length(v)),
              NT_EINVAL, "%s.attribute: not an attribute name", where);
    memcpy(d->attribute, json_string_value(v), json_string_length(v) + 1);
    NT_TRY(member(&v, obj, "value", where));
    NT_ENSURE(json_is_string(v) && json_string_length(v) >= 1 &&
                  json_string_length(v) <= EVENT_VALUE_MAX,
              NT_EINVAL, "%s.value: not a string of 1..%d bytes", where, EVENT_VALUE_MAX);
    NT_TRY(nt_buf_set(&d->value, json_string_value(v), json_string_length(v)));
    NT_TRY(member(&v, obj, "salt", where));
    NT_ENSURE(json_is_string(v) && json_string_length(v) == 2 * EVENT_SALT_SIZE &&
                  nt_hex_decode(&salt, json_string_value(v), json_string_length(v)) == 0 &&
                  salt.len == EVENT_SALT_SIZE,
              NT_EINVAL, "%s.salt: not 64 hex characters", where);
    memcpy(d->salt, salt.ptr, EVENT_SALT_SIZE);
done:
    nt_buf_dispose_secret(&salt);
    return error;
}

int verifier__disclosures_parse(case_disclosures *out, const char *json, size_t len)
{
    static const char *const names[] = {"disclosures", NULL};
    int error = 0;
    json_t *root = NULL, *arr, *item;
    json_error_t jerr;
    size_t i;
    case_disclosures d = {0};

    memset(out, 0, sizeof(*out));
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    NT_ENSURE(root != NULL, NT_EINVAL, "disclosures file: invalid JSON at line %d column %d: %s",
              jerr.line, jerr.column, jerr.text);
    NT_ENSURE(json_is_object(root), NT_EINVAL, "disclosures file: not a JSON object");
    NT_TRY(only_members(root, names, ""));
    NT_TRY(member(&arr, root, "disclosures", ""));
    NT_ENSURE(json_is_array(arr), NT_EINVAL, "disclosures: not an array");
    NT_ENSURE(json_array_size(arr) <= CASE_MAX_DISCLOSURES, NT_EINVAL, "disclosures: more than %d",
              CASE_MAX_DISCLOSURES);
    if (json_array_size(arr) > 0) {
        NT_ENSURE((d.items = nt_calloc(json_array_size(arr), sizeof(*d.items))) != NULL, NT_ENOMEM,
                  "out of memory");
    }
    json_array_foreach (arr, i, item) {
        d.count = i + 1;
        NT_TRY(parse_disclosure(&d.items[i], item, i));
    }
    *out = d;
    memset(&d, 0, sizeof(d));
done:
    json_decref(root);
    verifier__disclosures_dispose(&d);
    return error;
}
