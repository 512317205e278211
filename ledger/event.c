/*
 * event.c - builds the canonical body of a case event (event.h,
 * docs/FORMATS.md "Case events").  jansson serialises it with JSON_COMPACT |
 * JSON_SORT_KEYS, which is the definition of the bytes: verifiers hash what
 * they are given and never re-serialise, so this is the only place that must
 * produce them.
 */
#include "ledger/event.h"

#include "ledger/record.h"

#include <jansson.h>
#include <string.h>

static const char *const event_kinds[] = {
    "document.uploaded", "identity.verified", "intent.confirmed", "document.signed",
    "document.sent",     "document.viewed",   "document.stored",  "case.completed",
};

static int chars_in(const char *s, size_t n, size_t min, size_t max, const char *extra, int upper)
{
    if (s == NULL || n < min || n > max) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (upper && c >= 'A' && c <= 'Z') ||
            (c != '\0' && strchr(extra, c) != NULL)) {
            continue;
        }
        return 0;
    }
    return 1;
}

int event_tenant_valid(const char *s, size_t n)
{
    return chars_in(s, n, 1, EVENT_TENANT_MAX, "._-", 1);
}

int event_case_valid(const char *s, size_t n)
{
    return chars_in(s, n, 1, EVENT_CASE_MAX, "._:-", 1);
}

int event_role_valid(const char *s, size_t n)
{
    return chars_in(s, n, 1, EVENT_ROLE_MAX, "._-", 0);
}

int event_attr_name_valid(const char *s, size_t n)
{
    return chars_in(s, n, 1, EVENT_ATTR_NAME_MAX, "._-", 0) && s[0] >= 'a' && s[0] <= 'z';
}

int event_kind_valid(const char *s, size_t n)
{
    if (s == NULL) {
        return 0;
    }
    for (size_t i = 0; i < sizeof(event_kinds) / sizeof(event_kinds[0]); i++) {
        if (strlen(event_kinds[i]) == n && memcmp(event_kinds[i], s, n) == 0) {
            return 1;
        }
    }
    return n > 2 && s[0] == 'x' && s[1] == '-' && chars_in(s + 2, n - 2, 1, 62, "._-", 0);
}

/* A new reference to the artifact object, or NULL with the error set. */
static json_t *artifact_json(const event_artifact *a, size_t i)
{
    record_alg alg;
    nt_buf digest = NT_BUF_INIT, text = NT_BUF_INIT;
    json_t *o = NULL;

    if (a->digest == NULL || record_digest_parse(&alg, &digest, a->digest) < 0) {
        nt_error_set(NT_EINVAL, "artifacts[%zu].digest: %s", i,
                     a->digest == NULL ? "missing" : nt_error_last());
        goto done;
    }
    if (nt_buf_printf(&text, "%s:", record_alg_name(alg)) < 0 ||
        nt_hex_encode(&text, digest.ptr, digest.len) < 0) {
        goto done;
    }
    if (a->name != NULL && (strlen(a->name) == 0 || strlen(a->name) > EVENT_ARTIFACT_NAME_MAX ||
                            !nt_utf8_valid((const uint8_t *)a->name, strlen(a->name)))) {
        nt_error_set(NT_EINVAL, "artifacts[%zu].name: must be 1..%u bytes of UTF-8", i,
                     EVENT_ARTIFACT_NAME_MAX);
        goto done;
    }
    if (a->role != NULL && !event_role_valid(a->role, strlen(a->role))) {
        nt_error_set(NT_EINVAL, "artifacts[%zu].role: must be 1..%u of [a-z0-9._-]", i,
                     EVENT_ROLE_MAX);
        goto done;
    }
    o = json_object();
    if (o == NULL || json_object_set_new(o, "digest", json_string(nt_buf_cstr(&text))) < 0 ||
        (a->name != NULL && json_object_set_new(o, "name", json_string(a->name)) < 0) ||
        (a->role != NULL && json_object_set_new(o, "role", json_string(a->role)) < 0)) {
        json_decref(o);
        o = NULL;
        nt_error_set(NT_ENOMEM, "out of memory");
    }
done:
    nt_buf_dispose(&digest);
    nt_buf_dispose(&text);
    return o;
}

static int fields_check(const event_fields *ev)
{
    int error = 0;
    NT_ENSURE(event_tenant_valid(ev->tenant, ev->tenant ? strlen(ev->tenant) : 0), NT_EINVAL,
              "tenant: must be 1..%u of [A-Za-z0-9._-]", EVENT_TENANT_MAX);
    NT_ENSURE(event_case_valid(ev->case_id, ev->case_id ? strlen(ev->case_id) : 0), NT_EINVAL,
              "case: must be 1..%u of [A-Za-z0-9._:-]", EVENT_CASE_MAX);
    NT_ENSURE(ev->seq >= 1 && ev->seq <= (uint64_t)1 << 53, NT_EINVAL, "seq: must be 1..2^53");
    NT_ENSURE((ev->seq == 1) == (ev->prev == NULL), NT_EINVAL, "prev: null exactly when seq is 1");
    NT_ENSURE(event_kind_valid(ev->kind, ev->kind ? strlen(ev->kind) : 0), NT_EINVAL,
              "kind: not a known event kind nor x-<1..62 of [a-z0-9._-]>");
    NT_ENSURE(ev->artifact_count <= EVENT_MAX_ARTIFACTS, NT_EINVAL, "artifacts: %zu, at most %u",
              ev->artifact_count, EVENT_MAX_ARTIFACTS);
    NT_ENSURE(ev->attribute_count <= EVENT_MAX_ATTRIBUTES, NT_EINVAL, "attributes: %zu, at most %u",
              ev->attribute_count, EVENT_MAX_ATTRIBUTES);
done:
    return error;
}

/* The body object, or NULL with the error set. */
static json_t *body_json(const event_fields *ev)
{
    json_t *o = NULL, *arts = NULL, *attrs = NULL;
    char hex[65];

    if (fields_check(ev) < 0) {
        return NULL;
    }
    if ((o = json_object()) == NULL || (arts = json_array()) == NULL ||
        (attrs = json_object()) == NULL) {
        goto oom;
    }
    for (size_t i = 0; i < ev->artifact_count; i++) {
        json_t *a = artifact_json(&ev->artifacts[i], i);
        if (a == NULL) {
            goto fail;
        }
        if (json_array_append_new(arts, a) < 0) {
            goto oom;
        }
    }
    for (size_t i = 0; i < ev->attribute_count; i++) {
        const event_attribute *at = &ev->attributes[i];
        if (!event_attr_name_valid(at->name, at->name ? strlen(at->name) : 0)) {
            nt_error_set(NT_EINVAL,
                         "attributes.%.64s: bad name (1..64 of [a-z0-9._-], first a letter)",
                         at->name ? at->name : "");
            goto fail;
        }
        if (json_object_get(attrs, at->name) != NULL) {
            nt_error_set(NT_EINVAL, "attributes.%s: given twice", at->name);
            goto fail;
        }
        nt_hex_fill(hex, at->commitment, 32);
        hex[64] = '\0';
        if (json_object_set_new(attrs, at->name, json_string(hex)) < 0) {
            goto oom;
        }
    }
    if (json_object_set_new(o, "type", json_string(EVENT_TYPE)) < 0 ||
        json_object_set_new(o, "tenant", json_string(ev->tenant)) < 0 ||
        json_object_set_new(o, "case", json_string(ev->case_id)) < 0 ||
        json_object_set_new(o, "seq", json_integer((json_int_t)ev->seq)) < 0 ||
        json_object_set_new(o, "kind", json_string(ev->kind)) < 0) {
        goto oom;
    }
    if (ev->prev != NULL) {
        nt_hex_fill(hex, ev->prev, 32);
        hex[64] = '\0';
    }
    if (json_object_set_new(o, "prev", ev->prev != NULL ? json_string(hex) : json_null()) < 0) {
        goto oom;
    }
    if (json_object_set(o, "artifacts", arts) < 0 || json_object_set(o, "attributes", attrs) < 0) {
        goto oom;
    }
    json_decref(arts);
    json_decref(attrs);
    return o;
oom:
    nt_error_set(NT_ENOMEM, "out of memory");
fail:
    json_decref(o);
    json_decref(arts);
    json_decref(attrs);
    return NULL;
}

int event_body_build(nt_buf *out, const event_fields *ev)
{
    int error = 0;
    json_t *o = NULL;
    char *text = NULL;

    NT_ENSURE(out != NULL && ev != NULL, NT_EINVAL, "event_body_build: bad arguments");
    o = body_json(ev);
    if (o == NULL) {
        error = nt_error_code() < 0 ? nt_error_code() : NT_ENOMEM;
        goto done;
    }
    text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    NT_ENSURE(text != NULL, NT_ENOMEM, "out of memory");
    NT_TRY(nt_buf_set(out, text, strlen(text)));
done:
    free(text);
    json_decref(o);
    return error;
}
