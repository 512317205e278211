/*
 * event_parse.c - the strict case-event body parser and the attribute
 * commitment of event.h (docs/FORMATS.md "Case events").  Part of the pure
 * `nt_merkle` library; the verifier checks bundles with it, the server checks
 * what it builds.  (The body *builder* lives in event.c.)
 *
 * Why strict: a body is hashed into the ledger as given, so any leniency here
 * (an ignored member, a second "seq") would let two readers see two different
 * events behind one leaf.  Every refusal names the member.
 */
#include "ledger/event.h"

#include <jansson.h>
#include <string.h>

#include <openssl/evp.h>

/* 1 when every byte of s[0..len) is in `set` and len is in [1, max]. */
static int charset_ok(const char *s, size_t len, size_t max, const char *set)
{
    if (len == 0 || len > max) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\0' || strchr(set, s[i]) == NULL) {
            return 0;
        }
    }
    return 1;
}

const event_body_attribute *event_body_attribute_find(const event_body *b, const char *name)
{
    for (size_t i = 0; i < b->attribute_count; i++) {
        if (strcmp(b->attributes[i].name, name) == 0) {
            return &b->attributes[i];
        }
    }
    return NULL;
}

void event_body_init(event_body *b)
{
    memset(b, 0, sizeof(*b));
}

void event_body_dispose(event_body *b)
{
    if (b == NULL) {
        return;
    }
    for (size_t i = 0; i < EVENT_MAX_ARTIFACTS; i++) {
        nt_buf_dispose(&b->artifacts[i].digest);
        nt_buf_dispose(&b->artifacts[i].name);
        nt_buf_dispose(&b->artifacts[i].role);
    }
    event_body_init(b);
}

int event_commitment(uint8_t out[32], const char *name, const uint8_t salt[EVENT_SALT_SIZE],
                     const uint8_t *value, size_t value_len)
{
    static const char domain[] = "notarium.attribute.v1";
    static const uint8_t zero = 0;
    int error = 0;
    EVP_MD_CTX *ctx = NULL;
    NT_ENSURE(event_attr_name_valid(name, strlen(name)), NT_EINVAL,
              "attribute name: not 1..64 of [a-z0-9._-] starting with a letter");
    NT_ENSURE(value_len >= 1 && value_len <= EVENT_VALUE_MAX, NT_EINVAL,
              "attribute value: %zu bytes, not 1..%u", value_len, EVENT_VALUE_MAX);
    NT_ENSURE(nt_utf8_valid(value, value_len), NT_EINVAL, "attribute value: not UTF-8");
    NT_OSSL_PTR(ctx = EVP_MD_CTX_new(), "EVP_MD_CTX_new");
    NT_OSSL(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), "sha256");
    NT_OSSL(EVP_DigestUpdate(ctx, domain, sizeof(domain) - 1), "sha256");
    NT_OSSL(EVP_DigestUpdate(ctx, &zero, 1), "sha256");
    NT_OSSL(EVP_DigestUpdate(ctx, name, strlen(name)), "sha256");
    NT_OSSL(EVP_DigestUpdate(ctx, &zero, 1), "sha256");
    NT_OSSL(EVP_DigestUpdate(ctx, salt, EVENT_SALT_SIZE), "sha256");
    NT_OSSL(EVP_DigestUpdate(ctx, value, value_len), "sha256");
    NT_OSSL(EVP_DigestFinal_ex(ctx, out, NULL), "sha256");
done:
    EVP_MD_CTX_free(ctx);
    return error;
}

/* ------------------------------------------------------------------ parse */

/* 64 lowercase hex characters into 32 bytes. */
static int hex32(uint8_t out[32], json_t *v, const char *member)
{
    int error = 0;
    nt_buf b = NT_BUF_INIT;
    NT_ENSURE(json_is_string(v), NT_EINVAL, "%s: not a string", member);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    NT_ENSURE(n == 64 && charset_ok(s, n, 64, "0123456789abcdef"), NT_EINVAL,
              "%s: not 64 lowercase hex characters", member);
    NT_TRY(nt_hex_decode(&b, s, n));
    memcpy(out, b.ptr, 32);
done:
    nt_buf_dispose(&b);
    return error;
}

/* A string member copied into a fixed array after `valid` accepts it. */
static int text_member(char *out, size_t cap, json_t *v, const char *member,
                       int (*valid)(const char *, size_t), const char *what)
{
    int error = 0;
    NT_ENSURE(json_is_string(v), NT_EINVAL, "%s: not a string", member);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    NT_ENSURE(n < cap && strlen(s) == n && valid(s, n), NT_EINVAL, "%s: not %s", member, what);
    memcpy(out, s, n + 1);
done:
    return error;
}

static int parse_artifact(event_body_artifact *a, json_t *obj, size_t i)
{
    int error = 0;
    char member[64];
    const char *key;
    json_t *v;
    snprintf(member, sizeof(member), "artifacts[%zu]", i);
    NT_ENSURE(json_is_object(obj), NT_EINVAL, "%s: not an object", member);
    NT_ENSURE(json_object_get(obj, "digest") != NULL, NT_EINVAL, "%s.digest: missing", member);
    json_object_foreach (obj, key, v) {
        if (strcmp(key, "digest") == 0) {
            NT_ENSURE(json_is_string(v), NT_EINVAL, "%s.digest: not a string", member);
            const char *s = json_string_value(v);
            NT_ENSURE(strlen(s) == json_string_length(v), NT_EINVAL, "%s.digest: NUL byte", member);
            if (record_digest_parse(&a->alg, &a->digest, s) < 0) {
                NT_TRY(nt_error_set(NT_EINVAL, "%s.digest: %s", member, nt_error_last()));
            }
            NT_ENSURE(a->alg != RECORD_ALG_SHA1 && a->alg != RECORD_ALG_MD5, NT_EINVAL,
                      "%s.digest: %s is not allowed in events", member, record_alg_name(a->alg));
        } else if (strcmp(key, "name") == 0) {
            NT_ENSURE(json_is_string(v), NT_EINVAL, "%s.name: not a string", member);
            size_t n = json_string_length(v);
            NT_ENSURE(n >= 1 && n <= EVENT_ARTIFACT_NAME_MAX && strlen(json_string_value(v)) == n,
                      NT_EINVAL, "%s.name: not 1..255 bytes of UTF-8 without NUL", member);
            NT_TRY(nt_buf_set(&a->name, json_string_value(v), n));
            a->has_name = 1;
        } else if (strcmp(key, "role") == 0) {
            NT_ENSURE(json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v) &&
                          event_role_valid(json_string_value(v), json_string_length(v)),
                      NT_EINVAL, "%s.role: not 1..32 of [a-z0-9._-]", member);
            NT_TRY(nt_buf_puts(&a->role, json_string_value(v)));
            a->has_role = 1;
        } else {
            NT_TRY(nt_error_set(NT_EINVAL, "%s.%s: unknown member", member, key));
        }
    }
done:
    return error;
}

static int parse_artifacts(event_body *b, json_t *arr)
{
    int error = 0;
    size_t i;
    json_t *v;
    NT_ENSURE(json_is_array(arr), NT_EINVAL, "artifacts: not an array");
    NT_ENSURE(json_array_size(arr) <= EVENT_MAX_ARTIFACTS, NT_EINVAL, "artifacts: more than %u",
              EVENT_MAX_ARTIFACTS);
    json_array_foreach (arr, i, v) {
        NT_TRY(parse_artifact(&b->artifacts[i], v, i));
        b->artifact_count = i + 1;
    }
done:
    return error;
}

static int parse_attributes(event_body *b, json_t *obj)
{
    int error = 0;
    const char *key;
    json_t *v;
    char member[96];
    NT_ENSURE(json_is_object(obj), NT_EINVAL, "attributes: not an object");
    NT_ENSURE(json_object_size(obj) <= EVENT_MAX_ATTRIBUTES, NT_EINVAL, "attributes: more than %u",
              EVENT_MAX_ATTRIBUTES);
    json_object_foreach (obj, key, v) {
        NT_ENSURE(event_attr_name_valid(key, strlen(key)), NT_EINVAL,
                  "attributes: \"%.64s\" is not a name (1..64 of [a-z0-9._-], starting with a "
                  "letter)",
                  key);
        snprintf(member, sizeof(member), "attributes.%s", key);
        event_body_attribute *a = &b->attributes[b->attribute_count];
        NT_TRY(hex32(a->commitment, v, member));
        memcpy(a->name, key, strlen(key) + 1);
        b->attribute_count++;
    }
done:
    return error;
}

static int parse_seq_prev(event_body *b, json_t *root)
{
    int error = 0;
    json_t *seq = json_object_get(root, "seq"), *prev = json_object_get(root, "prev");
    NT_ENSURE(json_is_integer(seq), NT_EINVAL, "seq: not an integer");
    json_int_t n = json_integer_value(seq);
    NT_ENSURE(n >= 1 && (uint64_t)n <= EVENT_MAX_SEQ, NT_EINVAL, "seq: not 1..2^53");
    b->seq = (uint64_t)n;
    if (b->seq == 1) {
        NT_ENSURE(json_is_null(prev), NT_EINVAL, "prev: must be null when seq is 1");
    } else {
        NT_ENSURE(!json_is_null(prev), NT_EINVAL, "prev: null, but seq is %llu",
                  (unsigned long long)b->seq);
        NT_TRY(hex32(b->prev, prev, "prev"));
        b->has_prev = 1;
    }
done:
    return error;
}

int event_body_parse(event_body *out, const uint8_t *body, size_t len)
{
    static const char *const members[] = {"artifacts", "attributes", "case",   "kind",
                                          "prev",      "seq",        "tenant", "type"};
    int error = 0;
    json_t *root = NULL;
    json_error_t jerr;
    const char *key;
    json_t *v;

    event_body_init(out);
    NT_ENSURE(len <= EVENT_MAX_BODY, NT_EINVAL, "body: %zu bytes, more than %u", len,
              EVENT_MAX_BODY);
    root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
    NT_ENSURE(root != NULL, NT_EINVAL, "body: not JSON: %s (line %d column %d)", jerr.text,
              jerr.line, jerr.column);
    NT_ENSURE(json_is_object(root), NT_EINVAL, "body: not a JSON object");
    json_object_foreach (root, key, v) {
        int known = 0;
        for (size_t i = 0; i < NT_ARRAY_LEN(members); i++) {
            known |= strcmp(key, members[i]) == 0;
        }
        NT_ENSURE(known, NT_EINVAL, "%.64s: unknown member", key);
    }
    for (size_t i = 0; i < NT_ARRAY_LEN(members); i++) {
        NT_ENSURE(json_object_get(root, members[i]) != NULL, NT_EINVAL, "%s: missing", members[i]);
    }
    v = json_object_get(root, "type");
    NT_ENSURE(json_is_string(v) && strcmp(json_string_value(v), EVENT_TYPE) == 0 &&
                  json_string_length(v) == strlen(EVENT_TYPE),
              NT_EINVAL, "type: not \"%s\"", EVENT_TYPE);
    NT_TRY(text_member(out->tenant, sizeof(out->tenant), json_object_get(root, "tenant"), "tenant",
                       event_tenant_valid, "1..64 of [A-Za-z0-9._-]"));
    NT_TRY(text_member(out->case_id, sizeof(out->case_id), json_object_get(root, "case"), "case",
                       event_case_valid, "1..128 of [A-Za-z0-9._:-]"));
    NT_TRY(parse_seq_prev(out, root));
    NT_TRY(text_member(out->kind, sizeof(out->kind), json_object_get(root, "kind"), "kind",
                       event_kind_valid, "a documented kind or x- + 1..62 of [a-z0-9._-]"));
    NT_TRY(parse_artifacts(out, json_object_get(root, "artifacts")));
    NT_TRY(parse_attributes(out, json_object_get(root, "attributes")));
done:
    json_decref(root);
    if (error < 0) {
        event_body_dispose(out);
    }
    return error;
}
