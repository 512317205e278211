/*
 * server_cases_event.c - one event of a case, once the request holds the
 * case's turn (server_cases.c): the idempotent retry, the head, the body, the
 * token and the leaf; then the reply, built from what the ledger committed
 * (the leaf and its body), so that the first answer and a retry's answer are
 * the same but for the salts the server drew (returned once, never kept).
 */
#include "tsa/server_cases_int.h"

#include <jansson.h>
#include <openssl/sha.h>
#include <string.h>

/* ------------------------------------------------------------------ the reply */

/*
 * {"case","seq","leaf":{"index","hash"},"receipt":{...},"attributes":{name:{"commitment"
 * [,"salt"]}}} for the committed event at `index`; salts of `c` (may be NULL) only for
 * the attributes the server salted.
 */
static int event_reply(server_reply *r, server *s, const char *tenant, const char *case_id,
                       uint64_t seq, uint64_t index, const server_case_req *c, unsigned status)
{
    int error = 0;
    nt_buf leaf = NT_BUF_INIT, body = NT_BUF_INIT, out = NT_BUF_INIT;
    uint8_t hash[32];
    char hex[65];
    json_t *ev = NULL, *attrs;
    const char *name;
    json_t *v;
    int first = 1;

    NT_TRY(ledger_leaf_get(&leaf, &body, s->ledger, index));
    merkle_leaf_hash(hash, leaf.ptr, leaf.len);
    nt_hex_fill(hex, hash, 32);
    hex[64] = '\0';
    ev = json_loadb((const char *)body.ptr, body.len, JSON_REJECT_DUPLICATES, NULL);
    NT_ENSURE(ev != NULL, NT_ECORRUPT, "the body of leaf %llu is not JSON",
              (unsigned long long)index);
    /* tenant and case are [A-Za-z0-9._:-]: nothing to escape */
    NT_TRY(nt_buf_printf(&out,
                         "{\"case\": \"%s\", \"seq\": %llu, \"leaf\": {\"index\": %llu, "
                         "\"hash\": \"%s\"},\n\"receipt\": ",
                         case_id, (unsigned long long)seq, (unsigned long long)index, hex));
    NT_TRY(server_receipt_json(&out, s, index, tenant));
    NT_TRY(nt_buf_puts(&out, ",\n\"attributes\": {"));
    attrs = json_object_get(ev, "attributes");
    json_object_foreach (attrs, name, v) {
        NT_TRY(nt_buf_printf(&out, "%s\"%s\": {\"commitment\": \"%s\"", first ? "" : ", ", name,
                             json_string_value(v)));
        first = 0;
        for (size_t i = 0; c != NULL && i < c->attr_count; i++) {
            if (c->attrs[i].server_salt && strcmp(c->attrs[i].name, name) == 0) {
                char salt[65];
                nt_hex_fill(salt, c->attrs[i].salt, 32);
                salt[64] = '\0';
                NT_TRY(nt_buf_printf(&out, ", \"salt\": \"%s\"", salt));
                OPENSSL_cleanse(salt, sizeof(salt));
            }
        }
        NT_TRY(nt_buf_puts(&out, "}"));
    }
    NT_TRY(nt_buf_puts(&out, "}}\n"));
    server_reply_take(r, &out, "application/json");
    r->status = status;
done:
    if (error < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "event reply: %s", nt_error_last());
    }
    json_decref(ev);
    nt_buf_dispose(&leaf);
    nt_buf_dispose(&body);
    nt_buf_dispose_secret(&out);
    return error;
}

/* ------------------------------------------------------------------ prepare */

/* The event key was used: the same request gets the same answer (200), another one 409. */
static int replay(server_reply *r, server *s, server_case_req *c, uint64_t seq,
                  const uint8_t hash[32])
{
    uint64_t index;
    size_t n = 0;

    if (!nt_memeq_ct(hash, c->request_hash, 32)) {
        server_reply_error(r, 409, "event_key_reused", "event_key",
                           "event key '%s' was used for another event of this case (seq %llu)",
                           c->event_key, (unsigned long long)seq);
        return 0;
    }
    if (ledger_case_events(&index, &n, s->ledger, c->tenant, c->case_id, seq, 1) < 0 || n != 1) {
        server_reply_error(r, 500, "internal_error", NULL, "event %llu of the case: %s",
                           (unsigned long long)seq, n == 0 ? "missing" : nt_error_last());
        return 0;
    }
    event_reply(r, s, c->tenant, c->case_id, seq, index, NULL, 200);
    return 0;
}

static int build_leaf(server_reply *r, server *s, server_case_req *c, const ledger_case_head *h)
{
    event_artifact arts[EVENT_MAX_ARTIFACTS];
    event_attribute attrs[EVENT_MAX_ATTRIBUTES];
    event_fields ev;
    uint8_t digest[32];
    record rec;

    for (size_t i = 0; i < c->art_count; i++) {
        arts[i].digest = c->arts[i].digest;
        arts[i].name = c->arts[i].has_name ? c->arts[i].name : NULL;
        arts[i].role = c->arts[i].has_role ? c->arts[i].role : NULL;
    }
    for (size_t i = 0; i < c->attr_count; i++) {
        attrs[i].name = c->attrs[i].name;
        memcpy(attrs[i].commitment, c->attrs[i].commitment, 32);
    }
    memset(&ev, 0, sizeof(ev));
    ev.tenant = c->tenant;
    ev.case_id = c->case_id;
    ev.seq = c->seq;
    ev.prev = c->seq > 1 ? c->prev : NULL;
    ev.kind = c->kind;
    ev.artifacts = arts;
    ev.artifact_count = c->art_count;
    ev.attributes = attrs;
    ev.attribute_count = c->attr_count;
    if (event_body_build(&c->body, &ev) < 0) {
        server_reply_error(r, 400, "invalid_event", NULL, "%s", nt_error_last());
        return 0;
    }
    SHA256(c->body.ptr, c->body.len, digest);
    {
        /* the default identity in force signs events, as it signs evidence */
        server_live *lv = server__live_acquire(s);
        int rc = tsa_issue_digest(&c->result, lv->ids[lv->dflt].tsa, RECORD_ALG_SHA256,
                                  NT_BYTES(digest, 32));
        server__live_release(lv);
        if (rc < 0) {
            server_reply_error(r, 500, "internal_error", NULL, "%s", nt_error_last());
            return 0;
        }
    }
    if (!c->result.granted) {
        server_reply_error(r, c->result.fail == TSA_FAIL_TIME_NOT_AVAILABLE ? 503 : 500,
                           c->result.fail == TSA_FAIL_TIME_NOT_AVAILABLE ? "time_not_available"
                                                                         : "issue_failed",
                           NULL, "%s", c->result.reason);
        return 0;
    }
    c->gen_ns =
        (uint64_t)c->result.gen_time.tv_sec * 1000000000u + (uint64_t)c->result.gen_time.tv_nsec;
    /* Tokens are monotonic server-wide; a case's genTime must never go back either. */
    if (c->gen_ns < h->gen_time_ns) {
        server_reply_error(r, 503, "time_not_available", NULL,
                           "the clock is before the case's last event, retry later");
        r->retry_after = 1;
        return 0;
    }
    memset(&rec, 0, sizeof(rec));
    rec.kind = RECORD_KIND_CASE_EVENT;
    rec.alg = RECORD_ALG_SHA256;
    rec.digest = NT_BYTES(digest, 32);
    rec.label = NT_BYTES(c->kind, strlen(c->kind));
    rec.token = nt_buf_bytes(&c->result.token);
    rec.has_metadata = 1;
    memcpy(rec.metadata_hash, digest, 32);
    if (record_encode(&c->leaf, &rec) < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "cannot encode the leaf: %s",
                           nt_error_last());
        return 0;
    }
    return 1;
}

int server_case_prepare(server_reply *r, server *s, server_case_req *c)
{
    ledger_case_head h;
    uint64_t seq;
    uint8_t hash[32];
    int rc;

    rc = ledger_case_key_get(&seq, hash, s->ledger, c->tenant, c->case_id, c->event_key);
    if (rc == 0) {
        return replay(r, s, c, seq, hash);
    }
    if (rc != NT_ENOTFOUND) {
        server_reply_error(r, 500, "internal_error", NULL, "event key: %s", nt_error_last());
        return 0;
    }
    rc = ledger_case_head_get(&h, s->ledger, c->tenant, c->case_id);
    if (rc == NT_ENOTFOUND) {
        memset(&h, 0, sizeof(h));
    } else if (rc < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "case head: %s", nt_error_last());
        return 0;
    }
    if (h.sealed) {
        server_reply_error(r, 409, "case_sealed", NULL,
                           "the case is completed (case.completed at seq %llu): no event can "
                           "follow",
                           (unsigned long long)h.seq);
        return 0;
    }
    c->seq = h.seq + 1;
    memcpy(c->prev, h.last_hash, 32);
    return build_leaf(r, s, c, &h);
}

int server_case_queue(server *s, server_case_req *c, ledger_done_fn fn, void *ctx)
{
    ledger_case_append a;

    memset(&a, 0, sizeof(a));
    a.tenant = c->tenant;
    a.case_id = c->case_id;
    a.event_key = c->event_key;
    a.seq = c->seq;
    a.prev = c->seq > 1 ? c->prev : NULL;
    a.seals = strcmp(c->kind, "case.completed") == 0;
    memcpy(a.request_hash, c->request_hash, 32);
    return ledger_append_case_async(s->ledger, nt_buf_bytes(&c->leaf), nt_buf_bytes(&c->body), &a,
                                    c->gen_ns, fn, ctx);
}

void server_case_created(server_reply *r, server *s, server_case_req *c, int error, uint64_t index)
{
    if (error < 0) {
        server_reply_error(r, 503,
                           error == NT_EBUSY   ? "overloaded"
                           : error == NT_EFULL ? "ledger_full"
                                               : "ledger_unavailable",
                           NULL, "the ledger did not commit the event (%s), nothing was recorded",
                           nt_error_name(error));
        r->retry_after = 1;
        return;
    }
    event_reply(r, s, c->tenant, c->case_id, c->seq, index, c, 201);
}
