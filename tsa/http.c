/*
 * http.c - the daemon's HTTP front end on libmicrohttpd; the only file that
 * includes <microhttpd.h>.  It routes requests, enforces the HTTP rules
 * (methods, media types, body size, API keys), and runs the one asynchronous
 * path of the server: a granted token or evidence record is queued on the
 * ledger and its connection SUSPENDED until the sequencer's callback resumes
 * it, so that no worker thread ever waits for an fsync and a token leaves the
 * server only after its leaf is committed (BRIEF invariant 1).
 */
#include "tsa/server_int.h"

#include <microhttpd.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#define TSA_REPLY_TYPE "application/timestamp-reply"

struct server_http {
    struct MHD_Daemon *daemon;
    server *s;
    int quiesced;
};

typedef enum http_route {
    ROUTE_NONE = 0,
    ROUTE_TSA,
    ROUTE_EVIDENCE,
    ROUTE_HEALTHZ,
    ROUTE_METRICS,
    ROUTE_CHECKPOINT,
    ROUTE_RECEIPT,
    ROUTE_RECEIPTS,
    ROUTE_PROOF_INCLUSION,
    ROUTE_PROOF_CONSISTENCY,
    ROUTE_VERIFY,
    ROUTE_VERIFY_REPORT,        /* web.c */
    ROUTE_TRUST,                /* web.c */
    ROUTE_WEB,                  /* web.c: the page's files; GET / when the page is on */
} http_route;

typedef struct http_req {
    server *s;
    struct MHD_Connection *conn;
    uint64_t start_ns;
    http_route route;
    char method[12];
    char path[160];
    nt_buf body;
    uint64_t bytes_in;          /* request body bytes received (logged) */
    int too_large;
    int replied;
    int suspended;              /* waiting for the ledger's callback */
    int append_error;           /* written by the callback before it resumes us */
    uint64_t append_index;
    tsa_result result;          /* /tsa and /v1/evidence */
    server_evidence evidence;
    /* for the request log */
    int has_alg;
    record_alg alg;
    tsa_fail fail;
    int64_t leaf;
} http_req;

/* ------------------------------------------------------------------ helpers */

static void log_json_escape(nt_buf *out, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            nt_buf_putc(out, '\\');
            nt_buf_putc(out, c);
        } else if (c < 0x20 || c >= 0x7f) {
            nt_buf_printf(out, "\\u%04x", c);
        } else {
            nt_buf_putc(out, c);
        }
    }
}

static void request_log(http_req *q, unsigned status, size_t bytes_out)
{
    nt_buf f = NT_BUF_INIT;
    uint64_t ns = nt_mono_ns() - q->start_ns;
    nt_log_level level = status >= 500 ? NT_LOG_WARN : NT_LOG_INFO;

    server_metrics_request(q->s, status, ns);
    if (level < nt_log_get_level()) {
        return;
    }
    nt_buf_puts(&f, "\"method\":\"");
    log_json_escape(&f, q->method);
    nt_buf_puts(&f, "\",\"path\":\"");
    log_json_escape(&f, q->path);
    nt_buf_printf(&f, "\",\"status\":%u", status);
    if (q->has_alg) {
        nt_buf_printf(&f, ",\"alg\":\"%s\"", record_alg_name(q->alg) ? record_alg_name(q->alg)
                                                                      : "unknown");
    }
    if (q->fail != TSA_FAIL_NONE) {
        nt_buf_printf(&f, ",\"fail\":\"%s\"", tsa_fail_name(q->fail));
    }
    nt_buf_printf(&f, ",\"latency_ms\":%.3f,\"bytes_in\":%llu,\"bytes_out\":%zu",
                  (double)ns / 1e6, (unsigned long long)q->bytes_in, bytes_out);
    if (q->leaf >= 0) {
        nt_buf_printf(&f, ",\"leaf\":%lld", (long long)q->leaf);
    }
    if (q->leaf >= 0 && q->result.granted && q->result.serial.len > 0) {
        nt_buf_puts(&f, ",\"serial\":\"");
        nt_hex_encode(&f, q->result.serial.ptr, q->result.serial.len);
        nt_buf_putc(&f, '"');
    }
    nt_log(level, nt_buf_cstr(&f), "request");
    nt_buf_dispose(&f);
}

static enum MHD_Result send_reply(http_req *q, server_reply *r)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    char num[24];

    resp = MHD_create_response_from_buffer(r->body.len, r->body.ptr != NULL ? r->body.ptr : (void *)"",
                                           MHD_RESPMEM_MUST_COPY);
    if (resp == NULL) {
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (r->allow != NULL) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    }
    if (r->retry_after > 0) {
        snprintf(num, sizeof(num), "%u", r->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, num);
    }
    if (r->www_authenticate) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"notarium\"");
    }
    if (r->location[0] != '\0') {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
    }
    if (r->close) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    }
    for (const char *const *h = server_web_headers; r->web && *h != NULL; h += 2) {
        MHD_add_response_header(resp, h[0], h[1]);
    }
    ret = MHD_queue_response(q->conn, r->status, resp);
    MHD_destroy_response(resp);
    q->replied = 1;
    request_log(q, r->status, r->body.len);
    return ret;
}

static enum MHD_Result send_error(http_req *q, unsigned status, const char *code,
                                  const char *field, const char *msg)
{
    server_reply r;
    enum MHD_Result ret;
    server_reply_init(&r);
    server_reply_error(&r, status, code, field, "%s", msg);
    if (status == 405) {
        r.allow = (q->route == ROUTE_TSA || q->route == ROUTE_EVIDENCE ||
                   q->route == ROUTE_VERIFY || q->route == ROUTE_VERIFY_REPORT)
                      ? "POST"
                      : "GET, HEAD";
    }
    if (status == 503) {
        r.retry_after = 1;
    }
    if (status == 401) {
        r.www_authenticate = 1;
    }
    ret = send_reply(q, &r);
    server_reply_dispose(&r);
    return ret;
}

/* An RFC 3161 rejection with HTTP `status` (200, or 503 for our own failures). */
static enum MHD_Result send_tsa_rejection(http_req *q, unsigned status, tsa_fail fail,
                                          const char *text)
{
    server_reply r;
    enum MHD_Result ret;
    server_reply_init(&r);
    if (tsa_response_rejection(&r.body, fail, text) < 0) {
        server_reply_error(&r, 500, "internal_error", NULL, "cannot encode a rejection: %s",
                           nt_error_last());
    } else {
        r.status = status;
        r.content_type = TSA_REPLY_TYPE;
        if (status == 503) {
            r.retry_after = 1;
        }
        q->fail = fail;
        atomic_fetch_add(&q->s->metrics.tokens_rejected[fail], 1);
    }
    ret = send_reply(q, &r);
    server_reply_dispose(&r);
    return ret;
}

/* Media type of a Content-Type value is one of `types` (case-insensitive, parameters ignored). */
static int media_type_is(const char *value, const char *const *types, size_t n)
{
    size_t len;
    if (value == NULL) {
        return 0;
    }
    while (*value == ' ' || *value == '\t') {
        value++;
    }
    len = strcspn(value, "; \t");
    for (size_t i = 0; i < n; i++) {
        if (strlen(types[i]) == len && strncasecmp(value, types[i], len) == 0) {
            return 1;
        }
    }
    return 0;
}

/* "Bearer <key>" -> the key (borrowed, trailing blanks excluded via *len). */
static const char *bearer_token(const char *value, size_t *len)
{
    size_t n;
    if (value == NULL || strncasecmp(value, "Bearer", 6) != 0 ||
        (value[6] != ' ' && value[6] != '\t')) {
        return NULL;
    }
    value += 6;
    while (*value == ' ' || *value == '\t') {
        value++;
    }
    n = strlen(value);
    while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t')) {
        n--;
    }
    *len = n;
    return n > 0 ? value : NULL;
}

static http_route route_of(const char *url)
{
    if (strcmp(url, "/tsa") == 0 || strcmp(url, "/") == 0) {
        return ROUTE_TSA;
    }
    if (strcmp(url, "/v1/evidence") == 0) {
        return ROUTE_EVIDENCE;
    }
    if (strcmp(url, "/v1/verify") == 0) {
        return ROUTE_VERIFY;
    }
    if (strcmp(url, "/v1/verify-report") == 0) {
        return ROUTE_VERIFY_REPORT;
    }
    if (strcmp(url, "/v1/trust") == 0) {
        return ROUTE_TRUST;
    }
    if (strcmp(url, "/verify") == 0 || strncmp(url, "/web/", 5) == 0) {
        return ROUTE_WEB;
    }
    if (strcmp(url, "/healthz") == 0) {
        return ROUTE_HEALTHZ;
    }
    if (strcmp(url, "/metrics") == 0) {
        return ROUTE_METRICS;
    }
    if (strcmp(url, "/v1/checkpoint") == 0) {
        return ROUTE_CHECKPOINT;
    }
    if (strncmp(url, "/v1/receipt/", 12) == 0 && url[12] != '\0' && strchr(url + 12, '/') == NULL) {
        return ROUTE_RECEIPT;
    }
    if (strcmp(url, "/v1/receipts") == 0) {
        return ROUTE_RECEIPTS;
    }
    if (strcmp(url, "/v1/proof/inclusion") == 0) {
        return ROUTE_PROOF_INCLUSION;
    }
    if (strcmp(url, "/v1/proof/consistency") == 0) {
        return ROUTE_PROOF_CONSISTENCY;
    }
    return ROUTE_NONE;
}

static const char *arg(http_req *q, const char *name)
{
    return MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* ------------------------------------------------------------------ the ledger round trip */

static void on_appended(void *ctx, int error, uint64_t index)
{
    http_req *q = ctx;
    server *s = q->s;
    struct MHD_Connection *conn = q->conn;

    q->append_error = error;
    q->append_index = index;
    /* After this call the worker may free q: touch only the copies. */
    MHD_resume_connection(conn);
    atomic_fetch_sub(&s->pending, 1);
}

/*
 * Queue the leaf and suspend.  The connection is suspended BEFORE the append
 * is queued, so the callback (on the sequencer thread) can never resume a
 * connection that is not suspended yet.
 */
static enum MHD_Result append_and_suspend(http_req *q, nt_bytes leaf, nt_bytes metadata)
{
    server *s = q->s;
    int rc;

    atomic_fetch_add(&s->pending, 1);
    if (atomic_load(&s->stopping)) {
        atomic_fetch_sub(&s->pending, 1);
        q->append_error = NT_ESTATE; /* the caller answers at once */
        q->suspended = 0;
        return MHD_YES;
    }
    q->suspended = 1;
    MHD_suspend_connection(q->conn);
    /* The genTime goes with the leaf: the ledger keeps its durable high-water mark. */
    rc = ledger_append_timed_async(s->ledger, leaf, metadata,
                                   (uint64_t)q->result.gen_time.tv_sec * 1000000000u +
                                       (uint64_t)q->result.gen_time.tv_nsec,
                                   on_appended, q);
    if (rc < 0) {
        /* The callback will not run: resume ourselves with the error. */
        q->append_error = rc;
        atomic_fetch_sub(&s->pending, 1);
        MHD_resume_connection(q->conn);
    }
    return MHD_YES;
}

static const char *append_error_text(int error)
{
    switch (error) {
    case NT_EBUSY: return "server overloaded: the ledger queue is full, retry later";
    case NT_EFULL: return "ledger storage is full";
    case NT_ESTATE: return "server shutting down";
    default: return "ledger write failed";
    }
}

static enum MHD_Result finish_append(http_req *q)
{
    server *s = q->s;
    server_reply r;
    enum MHD_Result ret;

    if (q->append_error == NT_EBUSY) {
        atomic_fetch_add(&s->metrics.overloaded, 1);
    }
    if (q->append_error < 0) {
        nt_log(q->append_error == NT_EBUSY ? NT_LOG_DEBUG : NT_LOG_ERROR, NULL,
               "append failed: %s (%s)", nt_error_name(q->append_error),
               append_error_text(q->append_error));
        if (q->route == ROUTE_TSA) {
            /* Never the token: a systemFailure rejection instead (invariant 1). */
            return send_tsa_rejection(q, 503, TSA_FAIL_SYSTEM_FAILURE,
                                      append_error_text(q->append_error));
        }
        return send_error(q, 503,
                          q->append_error == NT_EBUSY   ? "overloaded"
                          : q->append_error == NT_EFULL ? "ledger_full"
                                                        : "ledger_unavailable",
                          NULL, append_error_text(q->append_error));
    }
    q->leaf = (int64_t)q->append_index;
    server_reply_init(&r);
    if (q->route == ROUTE_TSA) {
        r.status = 200;
        r.content_type = TSA_REPLY_TYPE;
        /* The reply is built from the granted response, sent only now. */
        if (nt_buf_set(&r.body, q->result.response.ptr, q->result.response.len) < 0) {
            server_reply_error(&r, 500, "internal_error", NULL, "out of memory");
        } else {
            atomic_fetch_add(&s->metrics.tokens_granted, 1);
        }
    } else {
        server_evidence_created(&r, s, q->append_index);
        if (r.status == 201) {
            atomic_fetch_add(&s->metrics.evidence_created, 1);
        }
    }
    ret = send_reply(q, &r);
    server_reply_dispose(&r);
    return ret;
}

/* ------------------------------------------------------------------ POST handlers */

static enum MHD_Result handle_tsa(http_req *q)
{
    server *s = q->s;
    nt_buf leaf = NT_BUF_INIT;
    record rec;
    enum MHD_Result ret;
    server_reply r;

    tsa_result_init(&q->result);
    if (tsa_respond(&q->result, s->tsa, nt_buf_bytes(&q->body)) < 0) {
        return send_error(q, 500, "internal_error", NULL, nt_error_last());
    }
    if (q->result.digest.len > 0) {
        q->has_alg = 1;
        q->alg = q->result.alg;
    }
    if (!q->result.granted) {
        /* RFC 3161 2.4.2: a rejection is a well-formed TimeStampResp: HTTP 200. */
        unsigned status = q->result.fail == TSA_FAIL_SYSTEM_FAILURE ? 500 : 200;
        q->fail = q->result.fail;
        atomic_fetch_add(&s->metrics.tokens_rejected[q->result.fail & 31], 1);
        server_reply_init(&r);
        r.status = status;
        r.content_type = TSA_REPLY_TYPE;
        if (nt_buf_set(&r.body, q->result.response.ptr, q->result.response.len) < 0) {
            server_reply_error(&r, 500, "internal_error", NULL, "out of memory");
        }
        ret = send_reply(q, &r);
        server_reply_dispose(&r);
        return ret;
    }
    memset(&rec, 0, sizeof(rec));
    rec.kind = RECORD_KIND_TIMESTAMP;
    rec.alg = q->result.alg;
    rec.digest = nt_buf_bytes(&q->result.digest);
    rec.label = NT_BYTES("", 0);
    rec.token = nt_buf_bytes(&q->result.token);
    if (record_encode(&leaf, &rec) < 0) {
        nt_buf_dispose(&leaf);
        return send_tsa_rejection(q, 500, TSA_FAIL_SYSTEM_FAILURE, "cannot encode the leaf");
    }
    ret = append_and_suspend(q, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0));
    nt_buf_dispose(&leaf);
    if (!q->suspended && q->append_error < 0) {
        return finish_append(q);
    }
    return ret;
}

static enum MHD_Result handle_evidence(http_req *q)
{
    server *s = q->s;
    server_evidence *e = &q->evidence;
    server_reply r;
    nt_buf leaf = NT_BUF_INIT;
    record rec;
    enum MHD_Result ret;

    server_reply_init(&r);
    if (server_evidence_parse(e, &r, s, nt_buf_bytes(&q->body)) < 0) {
        ret = send_reply(q, &r);
        server_reply_dispose(&r);
        return ret;
    }
    server_reply_dispose(&r);
    q->has_alg = 1;
    q->alg = e->alg;
    tsa_result_init(&q->result);
    if (tsa_issue_digest(&q->result, s->tsa, e->alg, nt_buf_bytes(&e->digest)) < 0) {
        return send_error(q, 500, "internal_error", NULL, nt_error_last());
    }
    if (!q->result.granted) {
        q->fail = q->result.fail;
        switch (q->result.fail) {
        case TSA_FAIL_TIME_NOT_AVAILABLE:
            return send_error(q, 503, "time_not_available", NULL, q->result.reason);
        case TSA_FAIL_BAD_ALG:
            return send_error(q, 400, "algorithm_not_accepted", "digest", q->result.reason);
        case TSA_FAIL_BAD_DATA_FORMAT:
        case TSA_FAIL_BAD_REQUEST:
            return send_error(q, 400, "invalid_digest", "digest", q->result.reason);
        default:
            return send_error(q, 500, "issue_failed", NULL, q->result.reason);
        }
    }
    memset(&rec, 0, sizeof(rec));
    rec.kind = RECORD_KIND_EVIDENCE;
    rec.alg = e->alg;
    rec.digest = nt_buf_bytes(&e->digest);
    rec.label = NT_BYTES(e->kind, strlen(e->kind));
    rec.token = nt_buf_bytes(&q->result.token);
    if (e->has_metadata) {
        rec.has_metadata = 1;
        SHA256(e->metadata.ptr, e->metadata.len, rec.metadata_hash);
    }
    if (record_encode(&leaf, &rec) < 0) {
        nt_buf_dispose(&leaf);
        return send_error(q, 500, "internal_error", NULL, "cannot encode the leaf");
    }
    ret = append_and_suspend(q, nt_buf_bytes(&leaf), nt_buf_bytes(&e->metadata));
    nt_buf_dispose(&leaf);
    if (!q->suspended && q->append_error < 0) {
        return finish_append(q);
    }
    return ret;
}

/* POST /v1/verify: no API key (it reveals nothing the receipt does not hold). */
static enum MHD_Result handle_verify(http_req *q)
{
    server_reply r;
    enum MHD_Result ret;

    server_reply_init(&r);
    if (q->route == ROUTE_VERIFY_REPORT) {
        server_post_verify_report(&r, q->s, nt_buf_bytes(&q->body));
    } else {
        server_post_verify(&r, q->s, nt_buf_bytes(&q->body), arg(q, "format"), arg(q, "lang"));
    }
    ret = send_reply(q, &r);
    server_reply_dispose(&r);
    return ret;
}

/* ------------------------------------------------------------------ dispatch */

static enum MHD_Result handle_get(http_req *q, const char *url)
{
    server_reply r;
    enum MHD_Result ret;

    server_reply_init(&r);
    switch (q->route) {
    case ROUTE_HEALTHZ: server_get_healthz(&r, q->s); break;
    case ROUTE_METRICS: server_get_metrics(&r, q->s); break;
    case ROUTE_CHECKPOINT: server_get_checkpoint(&r, q->s); break;
    case ROUTE_RECEIPT: server_get_receipt(&r, q->s, url + 12); break;
    case ROUTE_RECEIPTS: server_get_receipts(&r, q->s, arg(q, "digest")); break;
    case ROUTE_PROOF_INCLUSION:
        server_get_proof_inclusion(&r, q->s, arg(q, "index"), arg(q, "size"));
        break;
    case ROUTE_PROOF_CONSISTENCY:
        server_get_proof_consistency(&r, q->s, arg(q, "from"), arg(q, "to"));
        break;
    case ROUTE_TRUST: server_get_trust(&r, q->s); break;
    case ROUTE_WEB: server_web_get(&r, q->s, url); break;
    default: server_reply_error(&r, 404, "not_found", NULL, "no such resource"); break;
    }
    ret = send_reply(q, &r);
    server_reply_dispose(&r);
    return ret;
}

/* First call for a request: everything decidable from the headers alone. */
static enum MHD_Result begin(http_req *q, const char *url, const char *method)
{
    server *s = q->s;
    int is_post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    int is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
                 strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    const char *value;

    if (q->route == ROUTE_NONE) {
        return send_error(q, 404, "not_found", NULL, "no such resource");
    }
    if (is_get && strcmp(url, "/") == 0 && s->cfg->web_verify_page) {
        q->route = ROUTE_WEB; /* POST / stays the RFC 3161 endpoint */
    }
    if (q->route == ROUTE_TSA || q->route == ROUTE_EVIDENCE || q->route == ROUTE_VERIFY ||
        q->route == ROUTE_VERIFY_REPORT) {
        static const char *const tsa_types[] = {"application/timestamp-query",
                                                "application/timestamp-request"};
        static const char *const json_types[] = {"application/json"};
        uint64_t declared;

        if (!is_post) {
            return send_error(q, 405, "method_not_allowed", NULL, "use POST");
        }
        if (q->route == ROUTE_EVIDENCE) {
            size_t klen = 0;
            const char *key = bearer_token(
                MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND,
                                            MHD_HTTP_HEADER_AUTHORIZATION),
                &klen);
            if (key == NULL || server_api_key_check(s->cfg, key, klen) == NULL) {
                return send_error(q, 401, "unauthorized", NULL,
                                  key == NULL ? "an 'Authorization: Bearer <API key>' header is "
                                                "required"
                                              : "unknown API key");
            }
        }
        value = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND,
                                            MHD_HTTP_HEADER_CONTENT_TYPE);
        if (q->route == ROUTE_TSA ? !media_type_is(value, tsa_types, 2)
                                  : !media_type_is(value, json_types, 1)) {
            return send_error(q, 415, "unsupported_media_type", NULL,
                              q->route == ROUTE_TSA
                                  ? "Content-Type must be application/timestamp-query"
                                  : "Content-Type must be application/json");
        }
        value = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND,
                                            MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (value != NULL && nt_parse_u64(&declared, value, strlen(value)) == 0 &&
            declared > s->cfg->max_body) {
            return send_error(q, 413, "body_too_large", NULL, "the request body is too large");
        }
        return MHD_YES; /* read the body */
    }
    if (!is_get) {
        return send_error(q, 405, "method_not_allowed", NULL, "use GET");
    }
    return handle_get(q, url);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    server *s = cls;
    http_req *q = *con_cls;

    (void)version;
    if (q == NULL) {
        if ((q = nt_calloc(1, sizeof(*q))) == NULL) {
            return MHD_NO;
        }
        q->s = s;
        q->conn = conn;
        q->start_ns = nt_mono_ns();
        q->route = route_of(url);
        q->fail = TSA_FAIL_NONE;
        q->leaf = -1;
        tsa_result_init(&q->result);
        server_evidence_init(&q->evidence);
        snprintf(q->method, sizeof(q->method), "%s", method);
        snprintf(q->path, sizeof(q->path), "%s", url);
        *con_cls = q;
        /* Counted before `stopping` is read: server_shutdown waits for it (seq_cst). */
        atomic_fetch_add(&s->active, 1);
        if (atomic_load(&s->stopping)) {
            server_reply r;
            enum MHD_Result ret;
            server_reply_init(&r);
            server_reply_error(&r, 503, "shutting_down", NULL, "the server is shutting down");
            r.retry_after = 1;
            r.close = 1;
            ret = send_reply(q, &r);
            server_reply_dispose(&r);
            return ret;
        }
        return begin(q, url, method);
    }
    if (q->replied) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (q->suspended) {
        q->suspended = 0;
        return finish_append(q);
    }
    if (*upload_data_size > 0) {
        size_t total;
        if (q->too_large || nt_size_add(&total, q->body.len, *upload_data_size) < 0 ||
            total > s->cfg->max_body) {
            q->too_large = 1; /* keep reading (and dropping) so the 413 can be sent */
        } else if (nt_buf_put(&q->body, upload_data, *upload_data_size) < 0) {
            return MHD_NO;
        }
        q->bytes_in += *upload_data_size;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (q->too_large) {
        return send_error(q, 413, "body_too_large", NULL, "the request body is too large");
    }
    if (q->route == ROUTE_VERIFY || q->route == ROUTE_VERIFY_REPORT) {
        return handle_verify(q);
    }
    return q->route == ROUTE_TSA ? handle_tsa(q) : handle_evidence(q);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    server *s = cls;
    http_req *q = *con_cls;

    (void)conn;
    if (q == NULL) {
        return;
    }
    if (!q->replied) {
        nt_log(NT_LOG_DEBUG, NULL, "request %s %s ended without a reply (code %d)", q->method,
               q->path, (int)toe);
    }
    tsa_result_dispose(&q->result);
    server_evidence_dispose(&q->evidence);
    nt_buf_dispose(&q->body);
    nt_free(q);
    *con_cls = NULL;
    atomic_fetch_sub(&s->active, 1);
}

static NT_PRINTF(2, 0) void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n') {
        msg[--n] = '\0';
    }
    nt_log(NT_LOG_WARN, NULL, "http: %s", msg);
}

/* Connections need descriptors: raise the soft limit to the hard one (bounded). */
static unsigned connection_limit(void)
{
    struct rlimit rl;
    rlim_t want;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return 1000;
    }
    want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur > 256 ? (unsigned)(rl.rlim_cur - 128) : 128;
}

int server_http_start(struct server_http **out, server *s, int listen_fd, unsigned threads)
{
    struct server_http *h;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;

    *out = NULL;
    if ((h = nt_calloc(1, sizeof(*h))) == NULL) {
        return NT_ENOMEM;
    }
    h->s = s;
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)listen_fd,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(threads > 1 ? threads : 0),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)30, MHD_OPTION_CONNECTION_LIMIT, connection_limit(), MHD_OPTION_END);
    if (h->daemon == NULL) {
        nt_free(h);
        return nt_error_set(NT_EIO, "cannot start the HTTP daemon on %s", s->address);
    }
    *out = h;
    return 0;
}

void server_http_quiesce(struct server_http *h)
{
    MHD_socket fd;
    if (h == NULL || h->quiesced) {
        return;
    }
    h->quiesced = 1;
    fd = MHD_quiesce_daemon(h->daemon);
    if (fd != MHD_INVALID_SOCKET) {
        close(fd);
    }
}

void server_http_stop(struct server_http *h)
{
    if (h == NULL) {
        return;
    }
    server_http_quiesce(h);
    MHD_stop_daemon(h->daemon);
    nt_free(h);
}
