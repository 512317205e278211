/*
 * server_cases.c - POST /v1/cases/<case>/events (issue 11), without
 * libmicrohttpd: the request parsed and checked, the per-case turn (the
 * appends of one case run one at a time, each built only once the previous
 * one is committed, so that its seq and prev are those of the committed
 * head), the event prepared (idempotency, head, body, token, leaf) and the
 * replies.  http_async.c suspends the connection around the waits.  Attribute
 * values are hashed into their commitments while the request is parsed and
 * wiped: they are never stored, logged or echoed.
 */
#include "tsa/server_cases_int.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ routes */

int server_case_path(char case_out[132], const char *url)
{
    static const char prefix[] = "/v1/cases/";
    const char *id, *slash;
    size_t n;
    int kind;

    if (strncmp(url, prefix, sizeof(prefix) - 1) != 0) {
        return 0;
    }
    id = url + sizeof(prefix) - 1;
    slash = strchr(id, '/');
    n = slash != NULL ? (size_t)(slash - id) : strlen(id);
    if (n == 0) {
        return 0;
    }
    if (slash == NULL) {
        kind = 1;
    } else if (strcmp(slash, "/events") == 0) {
        kind = 2;
    } else if (strcmp(slash, "/bundle") == 0) {
        kind = 3;
    } else if (strcmp(slash, "/certificate") == 0) {
        kind = 4;
    } else {
        return 0;
    }
    if (case_out != NULL) {
        /* longer than a case id can be: kept one byte too long, so the check refuses it */
        n = n > 129 ? 129 : n;
        memcpy(case_out, id, n);
        case_out[n] = '\0';
    }
    return kind;
}

/* ------------------------------------------------------------------ the table */

int server_cases_new(server_cases **out)
{
    server_cases *c = nt_calloc(1, sizeof(*c));
    *out = NULL;
    if (c == NULL) {
        return nt_error_set(NT_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return 0;
}

void server_cases_free(server_cases *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < CASE_BUCKETS; i++) {
        while (c->buckets[i] != NULL) {
            server_case_slot *slot = c->buckets[i];
            c->buckets[i] = slot->next;
            while (slot->head != NULL) {
                case_waiter *w = slot->head;
                slot->head = w->next;
                nt_free(w);
            }
            nt_free(slot);
        }
    }
    pthread_mutex_destroy(&c->mu);
    nt_free(c);
}

static size_t case_bucket(const char *key, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (uint8_t)key[i]) * 16777619u;
    }
    return h % CASE_BUCKETS;
}

int server_case_enter(server_reply *r, server *s, server_case_req *c, server_case_wake_fn wake,
                      void *ctx)
{
    server_cases *t = s->cases;
    char id[sizeof(((server_case_slot *)0)->ident)];
    size_t tl = strlen(c->tenant), cl = strlen(c->case_id), b;
    server_case_slot *slot;
    case_waiter *w = NULL;
    int rc = -1;

    memcpy(id, c->tenant, tl + 1);
    memcpy(id + tl + 1, c->case_id, cl + 1);
    b = case_bucket(id, tl + 1 + cl);
    pthread_mutex_lock(&t->mu);
    for (slot = t->buckets[b]; slot != NULL; slot = slot->next) {
        if (slot->ident_len == tl + 1 + cl && memcmp(slot->ident, id, tl + 1 + cl) == 0) {
            break;
        }
    }
    if (slot == NULL) {
        if ((slot = nt_calloc(1, sizeof(*slot))) == NULL) {
            server_reply_error(r, 500, "internal_error", NULL, "out of memory");
            goto done;
        }
        memcpy(slot->ident, id, tl + 1 + cl + 1);
        slot->ident_len = tl + 1 + cl;
        slot->next = t->buckets[b];
        t->buckets[b] = slot;
        c->slot = slot;
        rc = 1;
        goto done;
    }
    if (slot->waiting >= CASE_WAITING_MAX) {
        server_reply_error(r, 503, "case_busy", NULL,
                           "%u appends to this case are already waiting, retry later",
                           slot->waiting);
        r->retry_after = 1;
        goto done;
    }
    if ((w = nt_calloc(1, sizeof(*w))) == NULL) {
        server_reply_error(r, 500, "internal_error", NULL, "out of memory");
        goto done;
    }
    w->wake = wake;
    w->ctx = ctx;
    if (slot->tail != NULL) {
        slot->tail->next = w;
    } else {
        slot->head = w;
    }
    slot->tail = w;
    slot->waiting++;
    c->slot = slot;
    rc = 0;
done:
    pthread_mutex_unlock(&t->mu);
    return rc;
}

void server_case_leave(server *s, server_case_req *c)
{
    server_cases *t = s->cases;
    server_case_slot *slot = c != NULL ? c->slot : NULL;

    if (slot == NULL) {
        return;
    }
    c->slot = NULL;
    pthread_mutex_lock(&t->mu);
    /* The turn goes to the first waiter still there (a waiter answered by a shutdown is not). */
    while (slot->head != NULL) {
        case_waiter *w = slot->head;
        int taken;
        slot->head = w->next;
        if (slot->head == NULL) {
            slot->tail = NULL;
        }
        slot->waiting--;
        taken = w->wake(w->ctx);
        nt_free(w);
        if (taken) {
            pthread_mutex_unlock(&t->mu);
            return;
        }
    }
    size_t b = case_bucket(slot->ident, slot->ident_len);
    for (server_case_slot **p = &t->buckets[b]; *p != NULL; p = &(*p)->next) {
        if (*p == slot) {
            *p = slot->next;
            break;
        }
    }
    pthread_mutex_unlock(&t->mu);
    nt_free(slot);
}

/* ------------------------------------------------------------------ parsing */

/* SHA-256("notarium.attribute.v1" || 0x00 || name || 0x00 || salt || value), FORMATS.md. */
static void case_commit(uint8_t out[32], const char *name, const uint8_t salt[32],
                        const char *value, size_t value_len)
{
    static const char tag[] = "notarium.attribute.v1";
    uint8_t buf[sizeof(tag) + EVENT_ATTR_NAME_MAX + 1 + 32 + EVENT_VALUE_MAX];
    size_t n = 0, nl = strlen(name);

    memcpy(buf, tag, sizeof(tag)); /* with its NUL: the 0x00 separator */
    n += sizeof(tag);
    memcpy(buf + n, name, nl + 1);
    n += nl + 1;
    memcpy(buf + n, salt, 32);
    n += 32;
    memcpy(buf + n, value, value_len); /* value_len <= EVENT_VALUE_MAX, name <= 64: checked */
    n += value_len;
    SHA256(buf, n, out);
    OPENSSL_cleanse(buf, n);
}

static int hex32(uint8_t out[32], const char *text)
{
    nt_buf b = NT_BUF_INIT;
    int ok = text != NULL && strlen(text) == 64 && nt_hex_decode(&b, text, 64) == 0 && b.len == 32;
    if (ok) {
        memcpy(out, b.ptr, 32);
    }
    nt_buf_dispose_secret(&b);
    return ok;
}

static int parse_artifact(server_reply *r, case_art *a, json_t *v, size_t i)
{
    char field[48];
    const char *key;
    json_t *m;
    record_alg alg;
    nt_buf digest = NT_BUF_INIT;
    int rc = -1;

    snprintf(field, sizeof(field), "artifacts[%zu]", i);
    if (!json_is_object(v)) {
        server_reply_error(r, 400, "invalid_artifact", field, "%s must be an object", field);
        return -1;
    }
    json_object_foreach (v, key, m) {
        if (strcmp(key, "digest") != 0 && strcmp(key, "name") != 0 && strcmp(key, "role") != 0) {
            server_reply_error(r, 400, "unknown_member", field, "%s: unknown member '%s'", field,
                               key);
            return -1;
        }
    }
    snprintf(field, sizeof(field), "artifacts[%zu].digest", i);
    m = json_object_get(v, "digest");
    if (!json_is_string(m) || json_string_length(m) >= sizeof(a->digest)) {
        server_reply_error(r, 400, m == NULL ? "missing_member" : "invalid_digest", field,
                           "%s must be a string \"<alg>:<hex>\"", field);
        return -1;
    }
    if (server_digest_parse(&alg, &digest, r, json_string_value(m), field) < 0) {
        goto done;
    }
    if (alg == RECORD_ALG_SHA1 || alg == RECORD_ALG_MD5) {
        server_reply_error(r, 400, "algorithm_not_accepted", field,
                           "%s: %s digests are not accepted in events", field,
                           record_alg_name(alg));
        goto done;
    }
    snprintf(a->digest, sizeof(a->digest), "%s", json_string_value(m));
    snprintf(field, sizeof(field), "artifacts[%zu].name", i);
    if ((m = json_object_get(v, "name")) != NULL) {
        if (!json_is_string(m) || json_string_length(m) == 0 ||
            json_string_length(m) > EVENT_ARTIFACT_NAME_MAX ||
            strlen(json_string_value(m)) != json_string_length(m)) {
            server_reply_error(r, 400, "invalid_name", field, "%s must be 1..%u bytes of UTF-8",
                               field, EVENT_ARTIFACT_NAME_MAX);
            goto done;
        }
        snprintf(a->name, sizeof(a->name), "%s", json_string_value(m));
        a->has_name = 1;
    }
    snprintf(field, sizeof(field), "artifacts[%zu].role", i);
    if ((m = json_object_get(v, "role")) != NULL) {
        if (!json_is_string(m) || !event_role_valid(json_string_value(m), json_string_length(m))) {
            server_reply_error(r, 400, "invalid_role", field, "%s must be 1..%u of [a-z0-9._-]",
                               field, EVENT_ROLE_MAX);
            goto done;
        }
        snprintf(a->role, sizeof(a->role), "%s", json_string_value(m));
        a->has_role = 1;
    }
    rc = 0;
done:
    nt_buf_dispose(&digest);
    return rc;
}

/* One attribute: {"commitment": hex} or {"value": text, "salt": optional hex}. */
static int parse_attribute(server_reply *r, case_attr *a, const char *name, json_t *v)
{
    char field[80];
    const char *key;
    json_t *m, *value;
    int rc = -1;

    snprintf(field, sizeof(field), "attributes.%s", name);
    if (!event_attr_name_valid(name, strlen(name))) {
        server_reply_error(r, 400, "invalid_attribute_name", "attributes",
                           "attribute name '%.64s' is not 1..64 of [a-z0-9._-] starting with a "
                           "letter",
                           name);
        return -1;
    }
    snprintf(a->name, sizeof(a->name), "%s", name);
    if (!json_is_object(v)) {
        server_reply_error(r, 400, "invalid_attribute", field,
                           "%s must be {\"commitment\": hex} or {\"value\": ..., \"salt\": hex}",
                           field);
        return -1;
    }
    json_object_foreach (v, key, m) {
        if (strcmp(key, "commitment") != 0 && strcmp(key, "value") != 0 &&
            strcmp(key, "salt") != 0) {
            server_reply_error(r, 400, "unknown_member", field, "%s: unknown member '%s'", field,
                               key);
            return -1;
        }
    }
    m = json_object_get(v, "commitment");
    value = json_object_get(v, "value");
    if ((m != NULL) == (value != NULL) || (m != NULL && json_object_get(v, "salt") != NULL)) {
        server_reply_error(r, 400, "invalid_attribute", field,
                           "%s needs either \"commitment\" or \"value\" (with an optional "
                           "\"salt\")",
                           field);
        return -1;
    }
    if (m != NULL) {
        if (!json_is_string(m) || !hex32(a->commitment, json_string_value(m))) {
            server_reply_error(r, 400, "invalid_commitment", field,
                               "%s.commitment must be 64 hex characters", field);
            return -1;
        }
        return 0;
    }
    if (!json_is_string(value) || json_string_length(value) == 0 ||
        json_string_length(value) > EVENT_VALUE_MAX) {
        server_reply_error(r, 400,
                           json_is_string(value) && json_string_length(value) > 0 ? "value_too_long"
                                                                                  : "invalid_value",
                           field, "%s.value must be a string of 1..%u bytes", field,
                           EVENT_VALUE_MAX);
        goto done;
    }
    if ((m = json_object_get(v, "salt")) != NULL) {
        if (!json_is_string(m) || !hex32(a->salt, json_string_value(m))) {
            server_reply_error(r, 400, "invalid_salt", field,
                               "%s.salt must be 64 hex characters (32 bytes)", field);
            goto done;
        }
    } else {
        if (RAND_bytes(a->salt, 32) != 1) {
            server_reply_error(r, 500, "internal_error", NULL, "no random salt");
            goto done;
        }
        a->server_salt = 1;
    }
    case_commit(a->commitment, a->name, a->salt, json_string_value(value),
                json_string_length(value));
    rc = 0;
done:
    return rc;
}

static int parse_event_key(server_reply *r, server_case_req *c, json_t *v, const char *header)
{
    const char *body_key = NULL;
    if (v != NULL) {
        if (!json_is_string(v) || !event_case_valid(json_string_value(v), json_string_length(v))) {
            server_reply_error(r, 400, "invalid_event_key", "event_key",
                               "event_key must be 1..128 of [A-Za-z0-9._:-]");
            return -1;
        }
        body_key = json_string_value(v);
    }
    if (header != NULL && !event_case_valid(header, strlen(header))) {
        server_reply_error(r, 400, "invalid_event_key", "Idempotency-Key",
                           "the Idempotency-Key header must be 1..128 of [A-Za-z0-9._:-]");
        return -1;
    }
    if (body_key != NULL && header != NULL && strcmp(body_key, header) != 0) {
        server_reply_error(r, 400, "event_key_conflict", "event_key",
                           "event_key and the Idempotency-Key header differ");
        return -1;
    }
    if (body_key == NULL && header == NULL) {
        server_reply_error(r, 400, "missing_event_key", "event_key",
                           "an event key is required: \"event_key\" or an Idempotency-Key header");
        return -1;
    }
    snprintf(c->event_key, sizeof(c->event_key), "%s", body_key != NULL ? body_key : header);
    return 0;
}

/* The request hash: what a retry must repeat (docs/HTTP-API.md "Idempotent retries"). */
static int request_hash(server_case_req *c, json_t *artifacts)
{
    json_t *o = json_object(), *at = json_object();
    char hex[65];
    char *text = NULL;
    int error = 0;

    NT_ENSURE(o != NULL && at != NULL, NT_ENOMEM, "out of memory");
    for (size_t i = 0; i < c->attr_count; i++) {
        nt_hex_fill(hex, c->attrs[i].commitment, 32);
        hex[64] = '\0';
        /* a value the server salts gets another commitment on every try: only the name counts */
        NT_ENSURE(
            json_object_set_new(at, c->attrs[i].name,
                                json_string(c->attrs[i].server_salt ? "server-salted" : hex)) == 0,
            NT_ENOMEM, "out of memory");
    }
    NT_ENSURE(json_object_set_new(o, "kind", json_string(c->kind)) == 0 &&
                  json_object_set(o, "artifacts", artifacts != NULL ? artifacts : json_null()) ==
                      0 &&
                  json_object_set(o, "attributes", at) == 0,
              NT_ENOMEM, "out of memory");
    text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    NT_ENSURE(text != NULL, NT_ENOMEM, "out of memory");
    SHA256((const uint8_t *)text, strlen(text), c->request_hash);
done:
    free(text);
    json_decref(o);
    json_decref(at);
    return error;
}

static int parse_members(server_reply *r, server_case_req *c, json_t *root)
{
    const char *key;
    json_t *v;
    size_t i;

    v = json_object_get(root, "kind");
    if (!json_is_string(v) || !event_kind_valid(json_string_value(v), json_string_length(v))) {
        server_reply_error(r, 400, v == NULL ? "missing_member" : "invalid_kind", "kind",
                           "\"kind\" must be an event kind of docs/FORMATS.md or x-<1..62 of "
                           "[a-z0-9._-]>");
        return -1;
    }
    snprintf(c->kind, sizeof(c->kind), "%s", json_string_value(v));
    if ((v = json_object_get(root, "artifacts")) != NULL) {
        if (!json_is_array(v)) {
            server_reply_error(r, 400, "invalid_artifacts", "artifacts",
                               "\"artifacts\" must be an array");
            return -1;
        }
        if (json_array_size(v) > EVENT_MAX_ARTIFACTS) {
            server_reply_error(r, 400, "too_many_artifacts", "artifacts",
                               "%zu artifacts, at most %u", json_array_size(v),
                               EVENT_MAX_ARTIFACTS);
            return -1;
        }
        for (i = 0; i < json_array_size(v); i++) {
            if (parse_artifact(r, &c->arts[i], json_array_get(v, i), i) < 0) {
                return -1;
            }
        }
        c->art_count = i;
    }
    if ((v = json_object_get(root, "attributes")) != NULL) {
        json_t *m;
        if (!json_is_object(v)) {
            server_reply_error(r, 400, "invalid_attributes", "attributes",
                               "\"attributes\" must be an object");
            return -1;
        }
        if (json_object_size(v) > EVENT_MAX_ATTRIBUTES) {
            server_reply_error(r, 400, "too_many_attributes", "attributes",
                               "%zu attributes, at most %u", json_object_size(v),
                               EVENT_MAX_ATTRIBUTES);
            return -1;
        }
        json_object_foreach (v, key, m) {
            if (parse_attribute(r, &c->attrs[c->attr_count], key, m) < 0) {
                return -1;
            }
            c->attr_count++;
        }
    }
    return 0;
}

/* Wipe every attribute value of the parsed request before jansson frees it. */
static void wipe_values(json_t *root)
{
    json_t *attrs = json_object_get(root, "attributes"), *m, *v;
    const char *key;
    if (!json_is_object(attrs)) {
        return;
    }
    json_object_foreach (attrs, key, m) {
        if (json_is_object(m) && json_is_string(v = json_object_get(m, "value"))) {
            nt_wipe((char *)(uintptr_t)json_string_value(v), json_string_length(v));
        }
    }
}

int server_case_parse(server_case_req **out, server_reply *r, server *s, const char *tenant,
                      const char *case_id, nt_bytes body, const char *idem_header)
{
    static const char *const members[] = {"event_key", "kind", "artifacts", "attributes", NULL};
    server_case_req *c = NULL;
    json_t *root = NULL;
    int rc = -1;

    (void)s;
    *out = NULL;
    if (!event_case_valid(case_id, strlen(case_id))) {
        server_reply_error(r, 400, "invalid_case", "case",
                           "the case id must be 1..128 of [A-Za-z0-9._:-]");
        return -1;
    }
    if (tenant == NULL || !event_tenant_valid(tenant, strlen(tenant))) {
        server_reply_error(r, 403, "no_tenant", NULL, "this API key has no valid tenant");
        return -1;
    }
    if ((c = nt_calloc(1, sizeof(*c))) == NULL) {
        server_reply_error(r, 500, "internal_error", NULL, "out of memory");
        return -1;
    }
    tsa_result_init(&c->result);
    snprintf(c->tenant, sizeof(c->tenant), "%s", tenant);
    snprintf(c->case_id, sizeof(c->case_id), "%s", case_id);
    if (server_json_body(&root, r, body, members) < 0 || parse_members(r, c, root) < 0 ||
        parse_event_key(r, c, json_object_get(root, "event_key"), idem_header) < 0) {
        goto done;
    }
    if (request_hash(c, json_object_get(root, "artifacts")) < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "out of memory");
        goto done;
    }
    *out = c;
    c = NULL;
    rc = 0;
done:
    if (root != NULL) {
        wipe_values(root);
        json_decref(root);
    }
    server_case_req_free(c);
    return rc;
}

void server_case_req_free(server_case_req *c)
{
    if (c != NULL) {
        nt_buf_dispose(&c->body);
        nt_buf_dispose(&c->leaf);
        tsa_result_dispose(&c->result);
        OPENSSL_cleanse(c->attrs, sizeof(c->attrs));
        nt_free(c);
    }
}
