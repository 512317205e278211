/*
 * server_evidence.c - POST /v1/evidence: the JSON body parsed into a record
 * (digest, metadata) and the 201 reply with the new entry's receipt.
 */
#include "tsa/server_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void server_evidence_init(server_evidence *e)
{
    memset(e, 0, sizeof(*e));
}

void server_evidence_dispose(server_evidence *e)
{
    if (e != NULL) {
        nt_buf_dispose(&e->digest);
        nt_buf_dispose(&e->metadata);
    }
}

int server_evidence_parse(server_evidence *e, server_reply *r, server *s, nt_bytes body)
{
    static const char *const members[] = {"digest", "kind", "metadata", NULL};
    json_t *root, *v;
    int rc = -1;

    if (server_json_body(&root, r, body, members) < 0) {
        return -1;
    }
    v = json_object_get(root, "digest");
    if (v == NULL || !json_is_string(v)) {
        server_reply_error(r, 400, v == NULL ? "missing_member" : "invalid_digest", "digest",
                           "\"digest\" must be a string \"<alg>:<hex>\"");
        goto done;
    }
    if (server_digest_parse(&e->alg, &e->digest, r, json_string_value(v), "digest") < 0) {
        goto done;
    }
    if ((e->alg == RECORD_ALG_SHA1 && !s->cfg->tsa.allow_sha1) ||
        (e->alg == RECORD_ALG_MD5 && !s->cfg->tsa.allow_md5)) {
        server_reply_error(r, 400, "algorithm_not_accepted", "digest",
                           "%s digests are not accepted by this server", record_alg_name(e->alg));
        goto done;
    }
    v = json_object_get(root, "kind");
    if (v == NULL || !json_is_string(v) ||
        !server_name_valid(json_string_value(v), json_string_length(v))) {
        server_reply_error(r, 400, v == NULL ? "missing_member" : "invalid_kind", "kind",
                           "\"kind\" must be 1..64 characters of [A-Za-z0-9._-]");
        goto done;
    }
    memcpy(e->kind, json_string_value(v), json_string_length(v) + 1);
    v = json_object_get(root, "metadata");
    if (v != NULL) {
        if (!json_is_object(v)) {
            server_reply_error(r, 400, "invalid_metadata", "metadata",
                               "\"metadata\" must be a JSON object");
            goto done;
        }
        /* The leaf commits to SHA-256 of exactly these bytes (docs/HTTP-API.md). */
        nt_buf_clear(&e->metadata);
        if (nt_json_dump(&e->metadata, v, JSON_COMPACT | JSON_SORT_KEYS) < 0) {
            server_reply_error(r, 500, "internal_error", NULL, "out of memory");
            goto done;
        }
        if (e->metadata.len > s->cfg->evidence_max_metadata_bytes) {
            server_reply_error(r, 400, "metadata_too_large", "metadata",
                               "metadata is %zu bytes once serialised, at most %zu are accepted",
                               e->metadata.len, s->cfg->evidence_max_metadata_bytes);
            nt_buf_clear(&e->metadata);
            goto done;
        }
        e->has_metadata = 1;
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
}

void server_evidence_created(server_reply *r, server *s, uint64_t index, const char *reader)
{
    nt_buf_clear(&r->body);
    if (server_receipt_json(&r->body, s, index, reader) < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "receipt: %s", nt_error_last());
        return;
    }
    r->status = 201;
    r->content_type = "application/json";
    snprintf(r->location, sizeof(r->location), "/v1/receipt/%llu", (unsigned long long)index);
}
