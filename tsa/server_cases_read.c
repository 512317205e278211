/*
 * server_cases_read.c - GET /v1/cases/<case> and GET /v1/cases/<case>/bundle,
 * run on the read pool (http_async.c).  A case is looked up under the tenant
 * of the API key only, so a case of another tenant and a case that does not
 * exist take the same path and get the same 404, byte for byte.
 */
#include "tsa/server_cases_int.h"

#include <string.h>

#define CASE_PAGE_DEFAULT 100u
#define CASE_PAGE_MAX     1000u

static void case_not_found(server_reply *r)
{
    server_reply_error(r, 404, "case_not_found", NULL, "no such case");
}

int server__case_head(ledger_case_head *h, server_reply *r, server *s, const char *case_id,
                      const char *tenant)
{
    int rc;
    if (case_id == NULL || !event_case_valid(case_id, strlen(case_id))) {
        server_reply_error(r, 400, "invalid_case", "case",
                           "the case id must be 1..128 of [A-Za-z0-9._:-]");
        return -1;
    }
    if (tenant == NULL || !event_tenant_valid(tenant, strlen(tenant))) {
        case_not_found(r);
        return -1;
    }
    rc = ledger_case_head_get(h, s->ledger, tenant, case_id);
    if (rc == NT_ENOTFOUND) {
        case_not_found(r);
        return -1;
    }
    if (rc < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "case: %s", nt_error_last());
        return -1;
    }
    return 0;
}

static int query_u64(uint64_t *out, server_reply *r, const char *text, const char *name,
                     uint64_t def, uint64_t min, uint64_t max)
{
    *out = def;
    if (text == NULL) {
        return 0;
    }
    if (nt_parse_u64(out, text, strlen(text)) < 0 || *out < min || *out > max) {
        server_reply_error(r, 400, "invalid_parameter", name, "%s must be an integer %llu..%llu",
                           name, (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    return 0;
}

/* One event of the list: seq, kind, genTime, leaf index, receipt. */
static int case_event_json(nt_buf *out, server *s, uint64_t seq, uint64_t index, const char *tenant)
{
    int error = 0;
    nt_buf leaf = NT_BUF_INIT, when = NT_BUF_INIT;
    record rec;
    uint64_t gen_ns = 0;
    uint32_t epoch;
    struct timespec ts;

    NT_TRY(ledger_leaf_get(&leaf, NULL, s->ledger, index));
    NT_TRY(record_decode(&rec, leaf.ptr, leaf.len));
    NT_TRY(tsa_token_info(&gen_ns, &epoch, rec.token));
    ts.tv_sec = (time_t)(gen_ns / 1000000000u);
    ts.tv_nsec = (long)(gen_ns % 1000000000u);
    NT_TRY(nt_time_rfc3339(&when, &ts, 6));
    /* the label is the event kind: [a-z0-9._-] */
    NT_TRY(nt_buf_printf(out,
                         "{\"seq\": %llu, \"kind\": \"%.*s\", \"gen_time\": \"%s\", "
                         "\"leaf_index\": %llu,\n\"receipt\": ",
                         (unsigned long long)seq, (int)rec.label.len, (const char *)rec.label.ptr,
                         nt_buf_cstr(&when), (unsigned long long)index));
    NT_TRY(server_receipt_json(out, s, index, tenant));
    NT_TRY(nt_buf_puts(out, "}"));
done:
    nt_buf_dispose(&leaf);
    nt_buf_dispose(&when);
    return error;
}

void server_get_case(server_reply *r, server *s, const char *case_id, const char *tenant,
                     const char *limit_text, const char *cursor_text)
{
    ledger_case_head h;
    uint64_t limit, cursor, *indexes = NULL;
    size_t n = 0;
    nt_buf body = NT_BUF_INIT;
    char hex[65];
    int e = 0;

    if (server__case_head(&h, r, s, case_id, tenant) < 0 ||
        query_u64(&limit, r, limit_text, "limit", CASE_PAGE_DEFAULT, 1, CASE_PAGE_MAX) < 0 ||
        query_u64(&cursor, r, cursor_text, "cursor", 1, 1, UINT64_MAX - 1) < 0) {
        return;
    }
    if ((indexes = nt_calloc((size_t)limit, sizeof(*indexes))) == NULL) {
        server_reply_error(r, 500, "internal_error", NULL, "out of memory");
        return;
    }
    if (ledger_case_events(indexes, &n, s->ledger, tenant, case_id, cursor, (size_t)limit) < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "case events: %s", nt_error_last());
        goto done;
    }
    nt_hex_fill(hex, h.last_hash, 32);
    hex[64] = '\0';
    e |= nt_buf_printf(&body,
                       "{\"tenant\": \"%s\", \"case\": \"%s\", \"sealed\": %s, \"event_count\": "
                       "%llu,\n\"head\": {\"seq\": %llu, \"leaf_index\": %llu, \"leaf_hash\": "
                       "\"%s\"},\n\"events\": [",
                       tenant, case_id, h.sealed ? "true" : "false", (unsigned long long)h.seq,
                       (unsigned long long)h.seq, (unsigned long long)h.last_index, hex);
    for (size_t i = 0; i < n && e == 0; i++) {
        e |= nt_buf_puts(&body, i > 0 ? ",\n" : "\n");
        e |= case_event_json(&body, s, cursor + i, indexes[i], tenant);
    }
    e |= nt_buf_puts(&body, "]");
    if (e == 0 && n > 0 && cursor + n <= h.seq) {
        e |= nt_buf_printf(&body, ",\n\"next_cursor\": \"%llu\"", (unsigned long long)(cursor + n));
    }
    e |= nt_buf_puts(&body, "}\n");
    if (e != 0) {
        server_reply_error(r, 500, "internal_error", NULL, "case: %s", nt_error_last());
        goto done;
    }
    server_reply_take(r, &body, "application/json");
done:
    nt_free(indexes);
    nt_buf_dispose(&body);
}

int server__case_bundle(nt_buf *out, server *s, const char *tenant, const char *case_id)
{
    nt_bytes certs[RECEIPT_MAX_CERTS];
    server_live *lv;
    size_t n = 0;
    int rc;

    /* The chains of the identities in force (the tokens carry their own signer's, since
     * events are issued with certReq); at most RECEIPT_MAX_CERTS. */
    lv = server__live_acquire(s);
    for (size_t k = 0; k < lv->count; k++) {
        for (size_t i = 0; i < lv->ids[k].cert_count && n < RECEIPT_MAX_CERTS; i++) {
            certs[n++] = nt_buf_bytes(&lv->ids[k].cert_der[i]);
        }
    }
    rc = ledger_case_bundle(out, s->ledger, tenant, case_id, certs, n);
    server__live_release(lv);
    return rc;
}

void server_get_case_bundle(server_reply *r, server *s, const char *case_id, const char *tenant)
{
    ledger_case_head h;
    nt_buf body = NT_BUF_INIT;

    if (server__case_head(&h, r, s, case_id, tenant) < 0) {
        return;
    }
    if (server__case_bundle(&body, s, tenant, case_id) < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "bundle: %s", nt_error_last());
        nt_buf_dispose(&body);
        return;
    }
    server_reply_take(r, &body, "application/vnd.notarium.case-bundle+json");
    nt_buf_dispose(&body);
}
