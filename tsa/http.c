/*
 * http.c - the daemon's HTTP front end on libmicrohttpd (with http_async.c
 * the only files that include <microhttpd.h>, see http_int.h).  It starts
 * and stops the daemon, routes requests and enforces the HTTP rules: framing
 * and Host (RFC 9112), methods, media types, body size, API keys, and the
 * connection limits whose accounting lives in http_guard.c.  Requests
 * answered later (ledger appends and reads) go to http_async.c.
 */
#include "tsa/http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

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

/* Decimal digits without printf: the access log line is on every request's path. */
static void log_put_u64(nt_buf *out, uint64_t v)
{
    char d[20];
    size_t n = 0;
    do {
        d[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0) {
        nt_buf_putc(out, (uint8_t)d[--n]);
    }
}

/*
 * The access log line, built without printf (profiled: ~15,000 instructions
 * per request with nt_buf_printf, most of it "%.3f"); same fields, same text:
 * latency_ms keeps three decimals (rounded to the microsecond).
 */
static void request_log(http_req *q, unsigned status, size_t bytes_out)
{
    nt_buf f = NT_BUF_INIT;
    uint64_t ns = nt_mono_ns() - q->start_ns;
    uint64_t us = (ns + 500) / 1000;
    nt_log_level level = status >= 500 ? NT_LOG_WARN : NT_LOG_INFO;

    server_metrics_request(q->s, status, ns);
    if (level < nt_log_get_level()) {
        return;
    }
    nt_buf_grow(&f, 256);
    nt_buf_puts(&f, "\"method\":\"");
    log_json_escape(&f, q->method);
    nt_buf_puts(&f, "\",\"path\":\"");
    log_json_escape(&f, q->path);
    nt_buf_puts(&f, "\",\"status\":");
    log_put_u64(&f, status);
    if (q->has_alg) {
        nt_buf_puts(&f, ",\"alg\":\"");
        nt_buf_puts(&f, record_alg_name(q->alg) ? record_alg_name(q->alg) : "unknown");
        nt_buf_putc(&f, '"');
    }
    if (q->fail != TSA_FAIL_NONE) {
        nt_buf_puts(&f, ",\"fail\":\"");
        nt_buf_puts(&f, tsa_fail_name(q->fail));
        nt_buf_putc(&f, '"');
    }
    nt_buf_puts(&f, ",\"latency_ms\":");
    log_put_u64(&f, us / 1000);
    nt_buf_putc(&f, '.');
    nt_buf_putc(&f, (uint8_t)('0' + us / 100 % 10));
    nt_buf_putc(&f, (uint8_t)('0' + us / 10 % 10));
    nt_buf_putc(&f, (uint8_t)('0' + us % 10));
    nt_buf_puts(&f, ",\"bytes_in\":");
    log_put_u64(&f, q->bytes_in);
    nt_buf_puts(&f, ",\"bytes_out\":");
    log_put_u64(&f, bytes_out);
    if (q->leaf >= 0) {
        nt_buf_puts(&f, ",\"leaf\":");
        log_put_u64(&f, (uint64_t)q->leaf);
    }
    if (q->leaf >= 0 && q->result.granted && q->result.serial.len > 0) {
        nt_buf_puts(&f, ",\"serial\":\"");
        nt_hex_encode(&f, q->result.serial.ptr, q->result.serial.len);
        nt_buf_putc(&f, '"');
    }
    nt_log(level, nt_buf_cstr(&f), "request");
    nt_buf_dispose(&f);
}

enum MHD_Result http__send_reply(http_req *q, server_reply *r)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    char num[24];

    resp = MHD_create_response_from_buffer(
        r->body.len, r->body.ptr != NULL ? r->body.ptr : (void *)"", MHD_RESPMEM_MUST_COPY);
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

enum MHD_Result http__send_error(http_req *q, unsigned status, const char *code, const char *field,
                                 const char *msg)
{
    server_reply r;
    enum MHD_Result ret;
    server_reply_init(&r);
    server_reply_error(&r, status, code, field, "%s", msg);
    if (status == 405) {
        r.allow =
            (q->route == ROUTE_TSA || q->route == ROUTE_EVIDENCE || q->route == ROUTE_VERIFY ||
             q->route == ROUTE_VERIFY_REPORT || q->route == ROUTE_CASE_EVENTS)
                ? "POST"
                : "GET, HEAD";
    }
    if (status == 503) {
        r.retry_after = 1;
    }
    if (status == 401) {
        r.www_authenticate = 1;
    }
    ret = http__send_reply(q, &r);
    server_reply_dispose(&r);
    return ret;
}

enum MHD_Result http__send_tsa_rejection(http_req *q, unsigned status, tsa_fail fail,
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
    ret = http__send_reply(q, &r);
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

/*
 * The request's API key into q->key.  NULL when it is good (or absent and not
 * `required`), else the reason for a 401: a header that is present is always
 * checked, so a wrong key never reads as "no key".  A client certificate mapped
 * by tls.clients authenticates as its key entry; an Authorization header on
 * the same connection must then name that same entry.
 */
static const char *request_key(http_req *q, int required)
{
    size_t len = 0;
    const char *value =
        MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const server_api_key *cert_key = q->hconn != NULL ? q->hconn->client_key : NULL;
    const char *key;

    if (cert_key != NULL) {
        /* tls.clients map to an entry of the configuration as started; the request uses the
         * entry of that id in the API keys in force (a reload may have changed its tenant). */
        cert_key = server_api_key_by_id(q->live->cfg, cert_key->id);
        if (cert_key == NULL) {
            return "the API key the client certificate is mapped to was removed by a reload";
        }
    }
    q->key = cert_key;
    if (value == NULL && (cert_key != NULL || !required)) {
        return NULL;
    }
    key = bearer_token(value, &len);
    if (key == NULL) {
        return "an 'Authorization: Bearer <API key>' header is required";
    }
    q->key = server_api_key_check(q->live->cfg, key, len);
    if (q->key == NULL) {
        return "unknown API key";
    }
    if (cert_key != NULL && strcmp(q->key->id, cert_key->id) != 0) {
        q->key = NULL;
        return "the API key is not the one the client certificate is mapped to";
    }
    return NULL;
}

const char *http__key_id(const http_req *q)
{
    return q->key != NULL ? q->key->id : NULL;
}

const char *http__tenant(const http_req *q)
{
    return q->key != NULL ? q->key->tenant : NULL;
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
    if (strcmp(url, "/v1/certs") == 0 || strncmp(url, "/v1/certs/", 10) == 0) {
        return ROUTE_CERTS;
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
    switch (server_case_path(NULL, url)) {
    case 1:
        return ROUTE_CASE;
    case 2:
        return ROUTE_CASE_EVENTS;
    case 3:
        return ROUTE_CASE_BUNDLE;
    case 4:
        return ROUTE_CASE_CERT;
    default:
        return ROUTE_NONE;
    }
}

const char *http__arg(http_req *q, const char *name)
{
    return MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, name);
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
        server_post_verify(&r, q->s, nt_buf_bytes(&q->body), http__arg(q, "format"),
                           http__arg(q, "lang"));
    }
    ret = http__send_reply(q, &r);
    server_reply_dispose(&r);
    return ret;
}

/* ------------------------------------------------------------------ dispatch */

/* /healthz and /metrics answer from memory, here; ledger reads go to the read pool. */
static enum MHD_Result handle_get(http_req *q, const char *url)
{
    server_reply r;
    enum MHD_Result ret;

    switch (q->route) {
    case ROUTE_CHECKPOINT:
    case ROUTE_RECEIPT:
    case ROUTE_RECEIPTS:
    case ROUTE_PROOF_INCLUSION:
    case ROUTE_PROOF_CONSISTENCY:
    case ROUTE_CASE:
    case ROUTE_CASE_BUNDLE:
    case ROUTE_CASE_CERT:
        return http__handle_read(q, url);
    default:
        break;
    }
    server_reply_init(&r);
    if (q->route == ROUTE_HEALTHZ) {
        server_get_healthz(&r, q->s);
    } else if (q->route == ROUTE_METRICS) {
        server_get_metrics(&r, q->s);
    } else if (q->route == ROUTE_TRUST) {
        server_get_trust(&r, q->s);
    } else if (q->route == ROUTE_CERTS) {
        server_get_certs(&r, q->s, url,
                         MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "Accept"));
    } else if (q->route == ROUTE_WEB) {
        server_web_get(&r, q->s, url);
    } else {
        server_reply_error(&r, 404, "not_found", NULL, "no such resource");
    }
    ret = http__send_reply(q, &r);
    server_reply_dispose(&r);
    return ret;
}

/* First call for a request: everything decidable from the headers alone. */
static enum MHD_Result begin(http_req *q, const char *url, const char *method)
{
    server *s = q->s;
    int is_post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    int is_get =
        strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    const char *value;
    enum MHD_Result ret;

    if (q->route == ROUTE_NONE) {
        return http__send_error(q, 404, "not_found", NULL, "no such resource");
    }
    if (is_get && strcmp(url, "/") == 0 && s->cfg->web_verify_page) {
        q->route = ROUTE_WEB; /* POST / stays the RFC 3161 endpoint */
    }
    (void)server_case_path(q->case_id, url);
    if (q->route == ROUTE_TSA || q->route == ROUTE_EVIDENCE || q->route == ROUTE_VERIFY ||
        q->route == ROUTE_VERIFY_REPORT || q->route == ROUTE_CASE_EVENTS) {
        static const char *const tsa_types[] = {"application/timestamp-query",
                                                "application/timestamp-request"};
        static const char *const json_types[] = {"application/json"};
        uint64_t declared;

        if (!is_post) {
            return http__send_error(q, 405, "method_not_allowed", NULL, "use POST");
        }
        /* /tsa: a key is optional (per_key limits); one presented is checked. */
        if ((q->route == ROUTE_EVIDENCE || q->route == ROUTE_CASE_EVENTS ||
             q->route == ROUTE_TSA) &&
            (value = request_key(q, q->route != ROUTE_TSA)) != NULL) {
            return http__send_error(q, 401, "unauthorized", NULL, value);
        }
        if (http__over_limit(q, &ret)) {
            return ret;
        }
        value = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        if (q->route == ROUTE_TSA ? !media_type_is(value, tsa_types, 2)
                                  : !media_type_is(value, json_types, 1)) {
            return http__send_error(q, 415, "unsupported_media_type", NULL,
                                    q->route == ROUTE_TSA
                                        ? "Content-Type must be application/timestamp-query"
                                        : "Content-Type must be application/json");
        }
        value =
            MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (value != NULL && nt_parse_u64(&declared, value, strlen(value)) == 0 &&
            declared > s->cfg->max_body) {
            return http__send_error(q, 413, "body_too_large", NULL,
                                    "the request body is too large");
        }
        return MHD_YES; /* read the body */
    }
    if (!is_get) {
        return http__send_error(q, 405, "method_not_allowed", NULL, "use GET");
    }
    /* Receipts: a key is optional, and shows the metadata that key wrote; cases need one. */
    int is_case =
        q->route == ROUTE_CASE || q->route == ROUTE_CASE_BUNDLE || q->route == ROUTE_CASE_CERT;
    if ((q->route == ROUTE_RECEIPT || q->route == ROUTE_RECEIPTS || is_case) &&
        (value = request_key(q, is_case)) != NULL) {
        return http__send_error(q, 401, "unauthorized", NULL, value);
    }
    return handle_get(q, url);
}

/* The framing and Host headers of one request, as counted by header_scan. */
typedef struct http_framing {
    unsigned content_lengths;
    int lengths_differ;
    const char *first_length;
    unsigned transfer_encodings;
    unsigned hosts;
} http_framing;

static enum MHD_Result header_scan(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    http_framing *f = cls;
    (void)kind;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        if (f->content_lengths++ == 0) {
            f->first_length = value;
        } else if (value == NULL || f->first_length == NULL ||
                   strcmp(value, f->first_length) != 0) {
            f->lengths_differ = 1;
        }
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        f->transfer_encodings++;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0) {
        f->hosts++;
    }
    return MHD_YES;
}

/*
 * RFC 9112: a request whose body length is ambiguous (section 6.3: differing
 * Content-Length values, or Content-Length with Transfer-Encoding) gets 400
 * and the connection is closed, so that no proxy in front of us and we can
 * disagree on where the next request starts (request smuggling); HTTP/1.1
 * needs exactly one Host (section 3.2).  A percent-encoded NUL would end
 * the decoded path early (/v1/receipt/1%00x read as /v1/receipt/1).
 * NULL when the request is acceptable, else the reason.
 */
static const char *request_refusal(http_req *q, const char *version)
{
    http_framing f;

    memset(&f, 0, sizeof(f));
    if (q->nul_in_target) {
        return "the request target contains a percent-encoded NUL (%00)";
    }
    MHD_get_connection_values(q->conn, MHD_HEADER_KIND, header_scan, &f);
    if (f.lengths_differ) {
        return "conflicting Content-Length headers";
    }
    if (f.content_lengths > 0 && f.transfer_encodings > 0) {
        return "both Content-Length and Transfer-Encoding";
    }
    if (f.hosts > 1) {
        return "more than one Host header";
    }
    if (f.hosts == 0 && strcmp(version, MHD_HTTP_VERSION_1_1) == 0) {
        return "an HTTP/1.1 request needs a Host header";
    }
    return NULL;
}

/* A JSON error that also closes the connection (framing errors, shutdown, overload). */
static enum MHD_Result send_error_close(http_req *q, unsigned status, const char *code,
                                        const char *msg)
{
    server_reply r;
    enum MHD_Result ret;
    server_reply_init(&r);
    server_reply_error(&r, status, code, NULL, "%s", msg);
    if (status == 503) {
        r.retry_after = 1;
    }
    r.close = 1;
    ret = http__send_reply(q, &r);
    server_reply_dispose(&r);
    return ret;
}

static http_req *req_new(const http_daemon_ctx *d)
{
    server *s = d->s;
    http_req *q = nt_calloc(1, sizeof(*q));
    if (q == NULL) {
        return NULL;
    }
    q->s = s;
    q->listener = d->listener;
    q->worker = d->worker;
    q->live = server__live_acquire(s); /* for the request's whole life (server_identity.c) */
    q->start_ns = nt_mono_ns();
    q->fail = TSA_FAIL_NONE;
    q->leaf = -1;
    tsa_result_init(&q->result);
    server_evidence_init(&q->evidence);
    server_reply_init(&q->read_reply);
    /* Counted before `stopping` is read: server_shutdown waits for it (seq_cst). */
    atomic_fetch_add(&s->active, 1);
    return q;
}

/* Called by MHD with the raw request target, before it is decoded: the request starts. */
void *http__on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    http_req *q = req_new(cls);
    (void)conn;
    if (q != NULL && uri != NULL && strstr(uri, "%00") != NULL) {
        q->nul_in_target = 1;
    }
    return q;
}

static http_conn *hconn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

/*
 * The listeners' split: the admin listener answers /metrics and /healthz only,
 * and once it exists the public ones answer 404 for /metrics.  An HTTPS
 * listener with client_auth required serves nobody without a mapped
 * certificate (the handshake refuses them; this is the second lock).
 */
static int listener_refused(enum MHD_Result *ret, http_req *q)
{
    const server_config *cfg = q->s->cfg;
    if (q->listener == HTTP_LISTENER_ADMIN && q->route != ROUTE_METRICS &&
        q->route != ROUTE_HEALTHZ) {
        *ret = http__send_error(q, 404, "not_found", NULL,
                                "the admin listener serves /metrics and /healthz only");
        return 1;
    }
    if (q->listener != HTTP_LISTENER_ADMIN && q->route == ROUTE_METRICS &&
        cfg->admin_listen != NULL) {
        *ret = http__send_error(q, 404, "not_found", NULL, "no such resource");
        return 1;
    }
    if (q->listener == HTTP_LISTENER_TLS && cfg->tls_client_auth == SERVER_TLS_CLIENT_REQUIRED &&
        (q->hconn == NULL || q->hconn->client_key == NULL)) {
        *ret = http__send_error(q, 403, "client_certificate_required", NULL,
                                "this listener requires a mapped client certificate");
        return 1;
    }
    return 0;
}

/* First call for a request: its headers are complete. */
static enum MHD_Result first_call(http_req *q, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version)
{
    server *s = q->s;
    const char *why;
    enum MHD_Result ret;

    q->begun = 1;
    q->conn = conn;
    q->route = route_of(url);
    q->hconn = hconn_of(conn);
    q->guard_conn = q->hconn != NULL ? q->hconn->guard : NULL;
    snprintf(q->method, sizeof(q->method), "%s", method);
    snprintf(q->path, sizeof(q->path), "%s", url);
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
        server_guard_reading(s->guard, q->guard_conn, 0); /* no body follows */
    }
    if ((why = request_refusal(q, version)) != NULL) {
        return send_error_close(q, 400, "bad_request", why);
    }
    if (atomic_load(&s->stopping)) {
        return send_error_close(q, 503, "shutting_down", "the server is shutting down");
    }
    if (q->route != ROUTE_HEALTHZ && q->route != ROUTE_METRICS && server_guard_pressed(s->guard)) {
        return send_error_close(q, 503, "too_many_connections",
                                "the server is at its connection limit, retry later");
    }
    if (listener_refused(&ret, q)) {
        return ret;
    }
    return begin(q, url, method);
}

enum MHD_Result http__on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version, const char *upload_data,
                                size_t *upload_data_size, void **con_cls)
{
    const http_daemon_ctx *d = cls;
    server *s = d->s;
    http_req *q = *con_cls;

    if (q == NULL) {
        if ((q = req_new(d)) == NULL) {
            return MHD_NO;
        }
        *con_cls = q;
    }
    if (!q->begun) {
        return first_call(q, conn, url, method, version);
    }
    if (q->replied) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (q->suspended) {
        return http__resumed(q);
    }
    if (*upload_data_size > 0) {
        size_t total;
        if (q->limited) {
            /* refused already: the body is read only to keep the connection */
        } else if (q->too_large || nt_size_add(&total, q->body.len, *upload_data_size) < 0 ||
                   total > s->cfg->max_body) {
            q->too_large = 1; /* keep reading (and dropping) so the 413 can be sent */
        } else if (nt_buf_put(&q->body, upload_data, *upload_data_size) < 0) {
            return MHD_NO;
        }
        q->bytes_in += *upload_data_size;
        *upload_data_size = 0;
        return MHD_YES;
    }
    server_guard_reading(s->guard, q->guard_conn, 0); /* the body is complete */
    if (q->limited) {
        return http__send_limited(q);
    }
    if (q->too_large) {
        return http__send_error(q, 413, "body_too_large", NULL, "the request body is too large");
    }
    if (q->route == ROUTE_VERIFY || q->route == ROUTE_VERIFY_REPORT) {
        return handle_verify(q);
    }
    /* The group commit holds its batch open while a request is on its way to the ledger
     * (ledger_produce_begin): signing a token takes longer than a pause. */
    enum MHD_Result ret;
    ledger_produce_begin(s->ledger);
    if (q->route == ROUTE_CASE_EVENTS) {
        ret = http__handle_case_append(q);
    } else {
        ret = q->route == ROUTE_TSA ? http__handle_tsa(q) : http__handle_evidence(q);
    }
    ledger_produce_end(s->ledger);
    return ret;
}

void http__on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
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
    if (q->begun) {
        /* The next request on this connection has the whole deadline again. */
        server_guard_reading(s->guard, q->guard_conn, 1);
    }
    tsa_result_dispose(&q->result);
    server_evidence_dispose(&q->evidence);
    server_case_leave(s, q->cse); /* a turn still held (a shutdown answered it) passes on */
    server_case_req_free(q->cse);
    server_reply_dispose(&q->read_reply);
    nt_buf_dispose(&q->body);
    server__live_release(q->live);
    nt_free(q);
    *con_cls = NULL;
    atomic_fetch_sub(&s->active, 1);
}
