/*
 * server.c - the daemon's assembly and its HTTP-independent request handlers.
 * server_new ties the signer (certs), the RFC 3161 core (tsa) and the ledger
 * together and hands a listening socket to http.c; the handlers here build
 * the JSON / text replies of /healthz, /metrics, /v1/... so that they can be
 * read and tested without libmicrohttpd.
 */
#include "tsa/server_int.h"
#include "verifier/verifier.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/sha.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/resource.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif
#include <sys/socket.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

const unsigned server_metric_codes[SERVER_CODE_SLOTS] = {200, 201, 400, 401, 404, 405, 411,
                                                         413, 415, 500, 503, 408, 431, 414};
const double server_latency_bounds[SERVER_LATENCY_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};

/* The PKIFailureInfo bits tsa.h names, for /metrics. */
static const tsa_fail known_fails[] = {
    TSA_FAIL_BAD_ALG,           TSA_FAIL_BAD_REQUEST,           TSA_FAIL_BAD_DATA_FORMAT,
    TSA_FAIL_TIME_NOT_AVAILABLE, TSA_FAIL_UNACCEPTED_POLICY,    TSA_FAIL_UNACCEPTED_EXTENSION,
    TSA_FAIL_ADD_INFO_NOT_AVAILABLE, TSA_FAIL_SYSTEM_FAILURE};

/* ------------------------------------------------------------------ replies */

void server_reply_init(server_reply *r)
{
    memset(r, 0, sizeof(*r));
    r->status = 500;
    r->content_type = "application/json";
}

void server_reply_dispose(server_reply *r)
{
    if (r != NULL) {
        nt_buf_dispose(&r->body);
    }
}

/* JSON text of a C string, appended (quotes included). */
static int json_quote(nt_buf *out, const char *s)
{
    json_t *j = json_string(s != NULL ? s : "");
    char *text;
    int error;
    if (j == NULL) {
        /* not UTF-8: drop to a safe placeholder rather than emit invalid JSON */
        return nt_buf_puts(out, "\"(invalid UTF-8)\"");
    }
    text = json_dumps(j, JSON_ENCODE_ANY);
    json_decref(j);
    if (text == NULL) {
        return nt_error_set(NT_ENOMEM, "out of memory");
    }
    error = nt_buf_puts(out, text);
    free(text);
    return error;
}

void server_reply_error(server_reply *r, unsigned status, const char *code, const char *field,
                        const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->status = status;
    r->content_type = "application/json";
    nt_buf_clear(&r->body);
    if (nt_buf_puts(&r->body, "{\"error\":") < 0 || json_quote(&r->body, code) < 0 ||
        nt_buf_puts(&r->body, ",\"message\":") < 0 || json_quote(&r->body, msg) < 0 ||
        (field != NULL &&
         (nt_buf_puts(&r->body, ",\"field\":") < 0 || json_quote(&r->body, field) < 0)) ||
        nt_buf_puts(&r->body, "}\n") < 0) {
        nt_buf_clear(&r->body);
    }
}

static void reply_json(server_reply *r, unsigned status, json_t *j)
{
    char *text = j != NULL ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    if (text == NULL) {
        server_reply_error(r, 500, "internal_error", NULL, "out of memory");
        return;
    }
    nt_buf_clear(&r->body);
    if (nt_buf_puts(&r->body, text) < 0 || nt_buf_putc(&r->body, '\n') < 0) {
        free(text);
        server_reply_error(r, 500, "internal_error", NULL, "out of memory");
        return;
    }
    free(text);
    r->status = status;
    r->content_type = "application/json";
}

void server_reply_json(server_reply *r, unsigned status, json_t *j)
{
    reply_json(r, status, j);
}

/* ------------------------------------------------------------------ healthz / metrics */

static const char *tsa_key_type_name(EVP_PKEY *key)
{
    char group[64];
    size_t len = 0;
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC:
        if (EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof(group), &len) == 1) {
            if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
                return "ec-p256";
            }
            if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) {
                return "ec-p384";
            }
        }
        return "ec";
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:
        switch (EVP_PKEY_get_bits(key)) {
        case 2048: return "rsa-2048";
        case 3072: return "rsa-3072";
        case 4096: return "rsa-4096";
        default: return "rsa";
        }
    case EVP_PKEY_ED25519:
        return "ed25519";
    default:
        return "unknown";
    }
}

static json_t *cert_subject_json(X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    json_t *j = NULL;
    char *data = NULL;
    long n;
    if (bio == NULL) {
        return NULL;
    }
    if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
        n = BIO_get_mem_data(bio, &data);
        j = json_stringn(data, n > 0 ? (size_t)n : 0);
    }
    BIO_free(bio);
    return j;
}

/*
 * mirror_status_get's sizes are those of the mirror thread's last look, up to
 * one interval old; lag is measured against the ledger as it is now, so that
 * a mirror that stopped looking cannot read as up to date.
 */
static void mirror_lag_now(mirror_status *st, uint64_t ledger_size)
{
    if (ledger_size < st->ledger_size) {
        ledger_size = st->ledger_size;
    }
    st->ledger_size = ledger_size;
    st->entries_behind = ledger_size > st->mirrored_size ? ledger_size - st->mirrored_size : 0;
    for (size_t i = 0; i < st->remote_count; i++) {
        mirror_remote_status *m = &st->remotes[i];
        m->entries_behind = ledger_size > m->pushed_size ? ledger_size - m->pushed_size : 0;
    }
}

/* Control and non-ASCII bytes (a path from the command line, a libgit2 message) as '?':
 * json_pack refuses invalid UTF-8, and one bad byte must not cost the whole /healthz. */
static void printable(char *text)
{
    for (; *text != '\0'; text++) {
        if ((unsigned char)*text < 0x20 || (unsigned char)*text >= 0x7f) {
            *text = '?';
        }
    }
}

/* The mirror's state for /healthz: null when the server runs without one. */
static json_t *mirror_json(server *s, uint64_t ledger_size)
{
    mirror_status st;
    json_t *j, *remotes;
    char url[sizeof(st.remotes[0].url) + 8], err[sizeof(st.remotes[0].last_error) + 64];

    if (s->mirror == NULL) {
        return json_null();
    }
    if (mirror_status_get(&st, s->mirror) < 0) {
        return json_null();
    }
    mirror_lag_now(&st, ledger_size);
    remotes = json_array();
    for (size_t i = 0; remotes != NULL && i < st.remote_count; i++) {
        const mirror_remote_status *m = &st.remotes[i];
        nt_url_redact(url, sizeof(url), m->url);
        nt_url_redact_in(err, sizeof(err), m->last_error, m->url);
        printable(url);
        printable(err);
        if (json_array_append_new(
                remotes,
                json_pack("{s:s, s:I, s:I, s:f, s:I, s:I, s:I, s:f, s:s, s:I, s:f, s:f}", "url", url,
                          "pushed_size", (json_int_t)m->pushed_size, "entries_behind",
                          (json_int_t)m->entries_behind, "seconds_behind", m->seconds_behind,
                          "pushes", (json_int_t)m->pushes, "failures", (json_int_t)m->failures,
                          "consecutive_failures", (json_int_t)m->consecutive_failures,
                          "retry_in_s", m->retry_in_s, "last_error", err, "attempts",
                          (json_int_t)m->attempts, "pushing_s", m->pushing_s,
                          "last_success_s", m->last_success_s)) < 0) {
            json_decref(remotes);
            remotes = NULL;
        }
    }
    printable(st.last_error);
    j = json_pack("{s:s, s:I, s:I, s:I, s:f, s:I, s:s, s:o*}", "path", s->cfg->mirror_path,
                  "ledger_size", (json_int_t)st.ledger_size, "size", (json_int_t)st.mirrored_size,
                  "entries_behind", (json_int_t)st.entries_behind, "seconds_behind",
                  st.seconds_behind, "commits", (json_int_t)st.commits, "last_error",
                  st.last_error, "remotes", remotes);
    mirror_status_dispose(&st);
    return j != NULL ? j : json_pack("{s:s}", "last_error", "mirror status not encodable");
}

/* Seconds the oldest uncommitted append has waited (0 when none). */
static double commit_pending_s(const ledger_info *info)
{
    uint64_t now = nt_mono_ns();
    return info->oldest_pending_ns != 0 && now > info->oldest_pending_ns
               ? (double)(now - info->oldest_pending_ns) / 1e9
               : 0.0;
}

/*
 * Answers from memory only (ledger_info_get takes no LMDB transaction), so it
 * answers on a stalled disk too, and says so: not ready once a commit has been
 * pending for more than http.commit_stall_ms.
 */
void server_get_healthz(server_reply *r, server *s)
{
    const char *reason = NULL;
    double pending_s;
    nt_clock_status clk = {NT_CLOCK_UNKNOWN, -1, -1};
    ledger_info info;
    nt_buf not_after = NT_BUF_INIT;
    time_t na = 0, now = time(NULL);
    int ready, clock_ok, cert_ok;
    json_t *j;

    memset(&info, 0, sizeof(info));
    if (ledger_info_get(&info, s->ledger) < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "ledger: %s", nt_error_last());
        return;
    }
    if (tsa_clock_status(&clk, s->tsa) < 0) {
        clk.sync = NT_CLOCK_UNKNOWN;
    }
    clock_ok = clk.sync == NT_CLOCK_SYNCED || s->cfg->tsa.allow_unsynced_clock;
    if (certs_cert_not_after(&na, s->signer->cert) == 0) {
        struct timespec ts = {na, 0};
        nt_time_rfc3339(&not_after, &ts, 0);
    }
    cert_ok = na > now;
    pending_s = commit_pending_s(&info);
    if (atomic_load(&s->stopping)) {
        reason = "shutting down";
    } else if (pending_s * 1000.0 > (double)s->cfg->http_commit_stall_ms) {
        reason = "a ledger commit has been pending longer than http.commit_stall_ms "
                 "(stalled disk?)";
    } else if (info.full) {
        reason = "ledger storage is full";
    } else if (!clock_ok) {
        reason = "clock not synchronised";
    } else if (!cert_ok) {
        reason = "TSA certificate expired";
    }
    ready = reason == NULL;
    j = json_pack("{s:b, s:s?, s:{s:s, s:I, s:b}, s:{s:s}, s:{s:o, s:s, s:I},"
                  " s:{s:s, s:I, s:I, s:b, s:I, s:f}, s:I}",
                  "ready", ready, "reason", reason,
                  "clock", "state", nt_clock_sync_name(clk.sync), "max_error_us",
                  (json_int_t)clk.max_error_us, "allow_unsynced", s->cfg->tsa.allow_unsynced_clock,
                  "key", "type", s->key_type,
                  "certificate", "subject", cert_subject_json(s->signer->cert), "not_after",
                  nt_buf_cstr(&not_after), "days_left", (json_int_t)((na - now) / 86400),
                  "ledger", "origin", ledger_origin(s->ledger), "size", (json_int_t)info.size,
                  "queue_depth", (json_int_t)info.queue_depth, "full", info.full,
                  "full_retry_in_ms", (json_int_t)info.full_retry_in_ms,
                  "commit_pending_s", pending_s, "boot_epoch", (json_int_t)s->boot_epoch);
    /* The mirror never affects readiness: issuance does not depend on it. */
    if (j != NULL && json_object_set_new(j, "mirror", mirror_json(s, info.size)) < 0) {
        json_decref(j);
        j = NULL;
    }
    nt_buf_dispose(&not_after);
    reply_json(r, ready ? 200 : 503, j);
    if (!ready) {
        r->retry_after = 5;
    }
}

void server_metrics_request(server *s, unsigned status, uint64_t latency_ns)
{
    size_t slot = SERVER_CODE_SLOTS, b;
    double sec = (double)latency_ns / 1e9;

    for (size_t i = 0; i < SERVER_CODE_SLOTS; i++) {
        if (server_metric_codes[i] == status) {
            slot = i;
            break;
        }
    }
    atomic_fetch_add(&s->metrics.requests[slot], 1);
    for (b = 0; b < SERVER_LATENCY_BUCKETS && sec > server_latency_bounds[b]; b++) {
    }
    atomic_fetch_add(&s->metrics.latency_buckets[b], 1);
    atomic_fetch_add(&s->metrics.latency_count, 1);
    atomic_fetch_add(&s->metrics.latency_sum_us, latency_ns / 1000);
    server__keys_tick(s);
}

/* A Prometheus label value: backslash, double quote and newline escaped. */
int server__label_value(nt_buf *b, const char *v)
{
    int e = 0;
    for (; *v != '\0' && e == 0; v++) {
        switch (*v) {
        case '\\': e = nt_buf_puts(b, "\\\\"); break;
        case '"': e = nt_buf_puts(b, "\\\""); break;
        case '\n': e = nt_buf_puts(b, "\\n"); break;
        default: e = nt_buf_putc(b, *v); break;
        }
    }
    return e;
}

/* One per-remote sample: `name{remote="URL"} value`. */
static int remote_sample(nt_buf *b, const char *name, const char *url, const char *value)
{
    int e = 0;
    e |= nt_buf_printf(b, "%s{remote=\"", name);
    e |= server__label_value(b, url);
    e |= nt_buf_printf(b, "\"} %s\n", value);
    return e;
}

static int mirror_metrics(nt_buf *b, server *s, uint64_t ledger_size)
{
    mirror_status st;
    char url[sizeof(st.remotes[0].url) + 8], value[32];
    int e = 0;

    if (s->mirror == NULL) {
        return 0;
    }
    if (mirror_status_get(&st, s->mirror) < 0) {
        return -1;
    }
    mirror_lag_now(&st, ledger_size);
    e |= nt_buf_puts(b, "# HELP notarium_mirror_size Tree size of the git mirror's HEAD "
                        "checkpoint.\n# TYPE notarium_mirror_size gauge\n");
    e |= nt_buf_printf(b, "notarium_mirror_size %llu\n", (unsigned long long)st.mirrored_size);
    e |= nt_buf_puts(b, "# HELP notarium_mirror_entries_behind Ledger entries not yet committed "
                        "to the git mirror.\n# TYPE notarium_mirror_entries_behind gauge\n");
    e |= nt_buf_printf(b, "notarium_mirror_entries_behind %llu\n",
                       (unsigned long long)st.entries_behind);
    e |= nt_buf_puts(b, "# HELP notarium_mirror_seconds_behind Age of the oldest ledger growth "
                        "the git mirror lacks (0 when up to date).\n"
                        "# TYPE notarium_mirror_seconds_behind gauge\n");
    e |= nt_buf_printf(b, "notarium_mirror_seconds_behind %.3f\n", st.seconds_behind);
    e |= nt_buf_puts(b, "# HELP notarium_mirror_commits_total Mirror commits written since "
                        "start.\n# TYPE notarium_mirror_commits_total counter\n");
    e |= nt_buf_printf(b, "notarium_mirror_commits_total %llu\n", (unsigned long long)st.commits);
    e |= nt_buf_puts(b, "# HELP notarium_mirror_error 1 while the last mirror commit failed.\n"
                        "# TYPE notarium_mirror_error gauge\n");
    e |= nt_buf_printf(b, "notarium_mirror_error %d\n", st.last_error[0] != '\0' ? 1 : 0);
    if (st.remote_count > 0) {
        static const struct {
            const char *name, *type, *help;
        } fams[] = {
            {"notarium_mirror_remote_entries_behind", "gauge",
             "Ledger entries the remote lacks (ledger size - size last pushed)."},
            {"notarium_mirror_remote_seconds_behind", "gauge",
             "Age of the oldest ledger growth the remote lacks (0 when up to date)."},
            {"notarium_mirror_remote_failures_total", "counter", "Failed pushes since start."},
            {"notarium_mirror_remote_pushes_total", "counter", "Successful pushes since start."},
        };
        for (size_t f = 0; f < NT_ARRAY_LEN(fams); f++) {
            e |= nt_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", fams[f].name, fams[f].help,
                               fams[f].name, fams[f].type);
            for (size_t i = 0; i < st.remote_count; i++) {
                const mirror_remote_status *m = &st.remotes[i];
                nt_url_redact(url, sizeof(url), m->url);
                switch (f) {
                case 0:
                    snprintf(value, sizeof(value), "%llu", (unsigned long long)m->entries_behind);
                    break;
                case 1: snprintf(value, sizeof(value), "%.3f", m->seconds_behind); break;
                case 2:
                    snprintf(value, sizeof(value), "%llu", (unsigned long long)m->failures);
                    break;
                default:
                    snprintf(value, sizeof(value), "%llu", (unsigned long long)m->pushes);
                    break;
                }
                e |= remote_sample(b, fams[f].name, url, value);
            }
        }
    }
    mirror_status_dispose(&st);
    return e != 0 ? -1 : 0;
}

void server_get_metrics(server_reply *r, server *s)
{
    server_metrics *m = &s->metrics;
    nt_clock_status clk = {NT_CLOCK_UNKNOWN, -1, -1};
    ledger_info info;
    nt_buf *b = &r->body;
    uint64_t cum = 0;
    int e = 0;

    memset(&info, 0, sizeof(info));
    if (ledger_info_get(&info, s->ledger) < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "ledger: %s", nt_error_last());
        return;
    }
    tsa_clock_status(&clk, s->tsa);
    nt_buf_clear(b);
    e |= nt_buf_puts(b, "# HELP notarium_tokens_total RFC 3161 and evidence responses sent, by "
                        "status (granted or PKIFailureInfo name).\n"
                        "# TYPE notarium_tokens_total counter\n");
    e |= nt_buf_printf(b, "notarium_tokens_total{status=\"granted\"} %llu\n",
                       (unsigned long long)atomic_load(&m->tokens_granted));
    for (size_t i = 0; i < NT_ARRAY_LEN(known_fails); i++) {
        e |= nt_buf_printf(b, "notarium_tokens_total{status=\"%s\"} %llu\n",
                           tsa_fail_name(known_fails[i]),
                           (unsigned long long)atomic_load(&m->tokens_rejected[known_fails[i]]));
    }
    e |= nt_buf_puts(b, "# HELP notarium_evidence_created_total Evidence records committed.\n"
                        "# TYPE notarium_evidence_created_total counter\n");
    e |= nt_buf_printf(b, "notarium_evidence_created_total %llu\n",
                       (unsigned long long)atomic_load(&m->evidence_created));
    e |= nt_buf_puts(b, "# HELP notarium_http_requests_total HTTP requests answered, by status "
                        "code.\n# TYPE notarium_http_requests_total counter\n");
    for (size_t i = 0; i < SERVER_CODE_SLOTS; i++) {
        e |= nt_buf_printf(b, "notarium_http_requests_total{code=\"%u\"} %llu\n",
                           server_metric_codes[i],
                           (unsigned long long)atomic_load(&m->requests[i]));
    }
    e |= nt_buf_printf(b, "notarium_http_requests_total{code=\"other\"} %llu\n",
                       (unsigned long long)atomic_load(&m->requests[SERVER_CODE_SLOTS]));
    e |= nt_buf_puts(b, "# HELP notarium_http_request_duration_seconds Time from the first byte "
                        "of a request to its response being queued.\n"
                        "# TYPE notarium_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i <= SERVER_LATENCY_BUCKETS; i++) {
        cum += atomic_load(&m->latency_buckets[i]);
        if (i < SERVER_LATENCY_BUCKETS) {
            e |= nt_buf_printf(b, "notarium_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                               server_latency_bounds[i], (unsigned long long)cum);
        } else {
            e |= nt_buf_printf(b, "notarium_http_request_duration_seconds_bucket{le=\"+Inf\"} "
                                  "%llu\n", (unsigned long long)cum);
        }
    }
    e |= nt_buf_printf(b, "notarium_http_request_duration_seconds_sum %.6f\n",
                       (double)atomic_load(&m->latency_sum_us) / 1e6);
    e |= nt_buf_printf(b, "notarium_http_request_duration_seconds_count %llu\n",
                       (unsigned long long)atomic_load(&m->latency_count));
    e |= nt_buf_puts(b, "# HELP notarium_overload_total Requests shed with 503 because the ledger "
                        "queue was full.\n# TYPE notarium_overload_total counter\n");
    e |= nt_buf_printf(b, "notarium_overload_total %llu\n",
                       (unsigned long long)atomic_load(&m->overloaded));
    e |= nt_buf_puts(b, "# HELP notarium_clock_synchronised 1 when the kernel reports the clock "
                        "synchronised, 0 when not, -1 when unknown.\n"
                        "# TYPE notarium_clock_synchronised gauge\n");
    e |= nt_buf_printf(b, "notarium_clock_synchronised %d\n",
                       clk.sync == NT_CLOCK_SYNCED ? 1 : clk.sync == NT_CLOCK_UNSYNCED ? 0 : -1);
    e |= nt_buf_puts(b, "# HELP notarium_clock_max_error_seconds Kernel's maximum clock error "
                        "estimate.\n# TYPE notarium_clock_max_error_seconds gauge\n");
    e |= nt_buf_printf(b, "notarium_clock_max_error_seconds %.6f\n",
                       clk.max_error_us < 0 ? -1.0 : (double)clk.max_error_us / 1e6);
    e |= nt_buf_puts(b, "# HELP notarium_ledger_size Committed leaves.\n"
                        "# TYPE notarium_ledger_size gauge\n");
    e |= nt_buf_printf(b, "notarium_ledger_size %llu\n", (unsigned long long)info.size);
    e |= nt_buf_puts(b, "# HELP notarium_ledger_queue_depth Appends waiting for the sequencer.\n"
                        "# TYPE notarium_ledger_queue_depth gauge\n");
    e |= nt_buf_printf(b, "notarium_ledger_queue_depth %llu\n",
                       (unsigned long long)info.queue_depth);
    e |= nt_buf_puts(b, "# HELP notarium_ledger_batches_total Write transactions committed since "
                        "start.\n# TYPE notarium_ledger_batches_total counter\n");
    e |= nt_buf_printf(b, "notarium_ledger_batches_total %llu\n", (unsigned long long)info.batches);
    e |= nt_buf_puts(b, "# HELP notarium_ledger_appends_failed_total Appends that failed since "
                        "start.\n# TYPE notarium_ledger_appends_failed_total counter\n");
    e |= nt_buf_printf(b, "notarium_ledger_appends_failed_total %llu\n",
                       (unsigned long long)info.appends_failed);
    e |= nt_buf_puts(b, "# HELP notarium_ledger_full 1 after the ledger map filled up.\n"
                        "# TYPE notarium_ledger_full gauge\n");
    e |= nt_buf_printf(b, "notarium_ledger_full %d\n", info.full ? 1 : 0);
    e |= nt_buf_puts(b, "# HELP notarium_ledger_commit_pending_seconds Age of the oldest append "
                        "not yet committed (0 when none).\n"
                        "# TYPE notarium_ledger_commit_pending_seconds gauge\n");
    e |= nt_buf_printf(b, "notarium_ledger_commit_pending_seconds %.3f\n",
                       commit_pending_s(&info));
    if (s->guard != NULL) {
        e |= nt_buf_printf(b, "# HELP notarium_http_connections Open HTTP connections.\n"
                              "# TYPE notarium_http_connections gauge\n"
                              "notarium_http_connections %u\n"
                              "# HELP notarium_http_deadline_closed_total Connections ended "
                              "because their request did not arrive in time.\n"
                              "# TYPE notarium_http_deadline_closed_total counter\n"
                              "notarium_http_deadline_closed_total %llu\n",
                       server_guard_open_count(s->guard),
                       (unsigned long long)server_guard_ended_total(s->guard));
    }
    e |= nt_buf_puts(b, "# HELP notarium_ledger_map_bytes LMDB map size and bytes in use.\n"
                        "# TYPE notarium_ledger_map_bytes gauge\n");
    e |= nt_buf_printf(b, "notarium_ledger_map_bytes{kind=\"size\"} %zu\n", info.map_size);
    e |= nt_buf_printf(b, "notarium_ledger_map_bytes{kind=\"used\"} %zu\n", info.map_used);
    e |= nt_buf_puts(b, "# HELP notarium_boot_epoch Start counter (part of every serial number).\n"
                        "# TYPE notarium_boot_epoch gauge\n");
    e |= nt_buf_printf(b, "notarium_boot_epoch %u\n", s->boot_epoch);
    e |= mirror_metrics(b, s, info.size);
    e |= server__keys_metrics(b, s);
    if (e != 0) {
        server_reply_error(r, 500, "internal_error", NULL, "out of memory");
        return;
    }
    r->status = 200;
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

/* ------------------------------------------------------------------ /v1 reads */

void server_get_checkpoint(server_reply *r, server *s)
{
    if (ledger_checkpoint_latest(&r->body, s->ledger) < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "checkpoint: %s", nt_error_last());
        return;
    }
    r->status = 200;
    r->content_type = "text/plain; charset=utf-8";
}

/*
 * Receipts repeat the same certificates, and base64 + JSON escaping of them
 * was about a quarter of an evidence receipt's server CPU.  receipt_encode
 * writes the member, pretty-printed, as "\n  \"certificates\": [...]" (or
 * "[]" when empty): a newline only appears there between members, since
 * newlines inside strings are escaped, so the text "...\": []" of a receipt
 * encoded without certificates has exactly one place where receipt_encode's
 * own text of the array, made once at start-up by receipt_certs_cache, goes.
 * The bytes are those receipt_encode would write with the certificates.
 */
#define RECEIPT_CERTS_MEMBER "\n  \"certificates\": "

static int receipt_with_certs(nt_buf *out, server *s, receipt *rc)
{
    nt_buf text = NT_BUF_INIT;
    const char *at;
    size_t head;
    int error = 0;

    rc->cert_count = 0;
    NT_TRY(receipt_encode(&text, rc));
    at = strstr(nt_buf_cstr(&text), RECEIPT_CERTS_MEMBER "[]");
    NT_ENSURE(at != NULL, NT_ERROR, "receipt: no certificates member");
    head = (size_t)(at - (const char *)text.ptr) + strlen(RECEIPT_CERTS_MEMBER);
    NT_TRY(nt_buf_put(out, text.ptr, head));
    NT_TRY(nt_buf_put(out, s->receipt_certs.ptr, s->receipt_certs.len));
    NT_TRY(nt_buf_put(out, text.ptr + head + 2, text.len - head - 2));
done:
    nt_buf_dispose(&text);
    return error;
}

/* The receipt's certificates: the TSA certificate and its chain (cert_ders). */
static int receipt_certs_set(receipt *rc, const server *s)
{
    int error = 0;
    for (size_t i = 0; i < s->cert_count && i < RECEIPT_MAX_CERTS; i++) {
        NT_TRY(nt_buf_set(&rc->certs[i], s->cert_der[i].ptr, s->cert_der[i].len));
        rc->cert_count = i + 1;
    }
done:
    return error;
}

/* receipt_encode's text of the "certificates" array, from a receipt that ends with it. */
static int receipt_certs_cache(server *s)
{
    receipt rc;
    nt_buf text = NT_BUF_INIT;
    const char *at, *end;
    int error = 0;

    receipt_init(&rc);
    if (s->cert_count == 0) {
        goto done; /* nothing to cache: receipts are encoded whole */
    }
    NT_TRY(nt_buf_puts(&rc.origin, "cache.example/log"));
    NT_TRY(nt_buf_puts(&rc.checkpoint, "cache.example/log\n1\n\n"));
    NT_TRY(nt_buf_set(&rc.leaf, "l", 1));
    NT_TRY(nt_buf_set(&rc.token, "t", 1));
    rc.tree_size = 1;
    NT_TRY(receipt_certs_set(&rc, s));
    NT_TRY(receipt_encode(&text, &rc));
    at = strstr(nt_buf_cstr(&text), RECEIPT_CERTS_MEMBER "[");
    end = nt_buf_cstr(&text) + text.len;
    /* No metadata: the member is the last one, followed by "\n}\n". */
    NT_ENSURE(at != NULL && text.len >= 4 && memcmp(end - 3, "\n}\n", 3) == 0 && end[-4] == ']',
              NT_ERROR, "receipt: unexpected certificates text");
    at += strlen(RECEIPT_CERTS_MEMBER);
    NT_TRY(nt_buf_set(&s->receipt_certs, at, (size_t)(end - 3 - at)));
done:
    nt_buf_dispose(&text);
    receipt_dispose(&rc);
    return error;
}

int server_receipt_json(nt_buf *out, server *s, uint64_t index, const char *reader)
{
    receipt rc;
    int error = 0;

    receipt_init(&rc);
    NT_TRY(ledger_receipt_fill(&rc, s->ledger, index));
    NT_TRY(server_metadata_filter(&rc, s, reader));
    if (s->receipt_certs.len > 0) {
        NT_TRY(receipt_with_certs(out, s, &rc));
    } else {
        NT_TRY(receipt_certs_set(&rc, s));
        NT_TRY(receipt_encode(out, &rc));
    }
done:
    receipt_dispose(&rc);
    return error;
}

static int parse_index(uint64_t *out, const char *text)
{
    return text != NULL && nt_parse_u64(out, text, strlen(text)) == 0 ? 0 : -1;
}

static int ledger_size(uint64_t *out, server_reply *r, server *s)
{
    ledger_info info;
    if (ledger_info_get(&info, s->ledger) < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "ledger: %s", nt_error_last());
        return -1;
    }
    *out = info.size;
    return 0;
}

void server_get_receipt(server_reply *r, server *s, const char *index_text, const char *reader)
{
    uint64_t index, size;
    int rc;

    if (parse_index(&index, index_text) < 0) {
        server_reply_error(r, 400, "invalid_index", "index",
                           "the leaf index must be a decimal integer");
        return;
    }
    if (ledger_size(&size, r, s) < 0) {
        return;
    }
    if (index >= size) {
        server_reply_error(r, 404, "not_found", "index", "no leaf %llu (the tree has %llu)",
                           (unsigned long long)index, (unsigned long long)size);
        return;
    }
    nt_buf_clear(&r->body);
    rc = server_receipt_json(&r->body, s, index, reader);
    if (rc == NT_ENOTFOUND) {
        server_reply_error(r, 404, "not_found", "index", "no leaf %llu",
                           (unsigned long long)index);
        return;
    }
    if (rc < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "receipt: %s", nt_error_last());
        return;
    }
    r->status = 200;
    r->content_type = "application/json";
}

int server_digest_parse(record_alg *alg, nt_buf *digest, server_reply *r, const char *text,
                        const char *field)
{
    const char *colon;
    char name[16];
    size_t want;

    if (text == NULL || text[0] == '\0') {
        server_reply_error(r, 400, "missing_member", field, "a digest \"<alg>:<hex>\" is required");
        return -1;
    }
    colon = strchr(text, ':');
    if (colon == NULL || colon == text || (size_t)(colon - text) >= sizeof(name)) {
        server_reply_error(r, 400, "invalid_digest", field,
                           "the digest must be written \"<alg>:<hex>\", e.g. \"sha256:...\"");
        return -1;
    }
    memcpy(name, text, (size_t)(colon - text));
    name[colon - text] = '\0';
    if (record_alg_from_name(alg, name) < 0) {
        server_reply_error(r, 400, "unknown_algorithm", field, "unknown digest algorithm '%s'",
                           name);
        return -1;
    }
    nt_buf_clear(digest);
    if (nt_hex_decode(digest, colon + 1, strlen(colon + 1)) < 0) {
        server_reply_error(r, 400, "invalid_digest", field, "the digest value is not hex");
        return -1;
    }
    want = record_alg_size(*alg);
    if (digest->len != want) {
        server_reply_error(r, 400, "invalid_digest_length", field,
                           "a %s digest is %zu bytes, got %zu", record_alg_name(*alg), want,
                           digest->len);
        return -1;
    }
    return 0;
}

static json_t *hashes_json(const nt_buf *proof)
{
    json_t *arr = json_array();
    nt_buf b64 = NT_BUF_INIT;
    for (size_t off = 0; arr != NULL && off + 32 <= proof->len; off += 32) {
        nt_buf_clear(&b64);
        if (nt_base64_encode(&b64, proof->ptr + off, 32) < 0 ||
            json_array_append_new(arr, json_string(nt_buf_cstr(&b64))) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    nt_buf_dispose(&b64);
    return arr;
}

static int two_params(uint64_t *a, uint64_t *b, uint64_t *size, server_reply *r, server *s,
                      const char *a_text, const char *a_name, const char *b_text,
                      const char *b_name)
{
    if (a_text == NULL || b_text == NULL) {
        const char *missing = a_text == NULL ? a_name : b_name;
        server_reply_error(r, 400, "missing_parameter", missing, "parameter '%s' is required",
                           missing);
        return -1;
    }
    const char *bad = parse_index(a, a_text) < 0 ? a_name
                      : parse_index(b, b_text) < 0 ? b_name
                                                   : NULL;
    if (bad != NULL) {
        server_reply_error(r, 400, "invalid_parameter", bad,
                           "parameter '%s' must be a decimal integer", bad);
        return -1;
    }
    return ledger_size(size, r, s);
}

void server_get_proof_inclusion(server_reply *r, server *s, const char *index_text,
                                const char *size_text)
{
    uint64_t index, size, tree;
    nt_buf proof = NT_BUF_INIT;

    if (two_params(&index, &size, &tree, r, s, index_text, "index", size_text, "size") < 0) {
        return;
    }
    if (size > tree) {
        server_reply_error(r, 400, "size_beyond_tree", "size",
                           "size %llu is beyond the tree (%llu leaves)", (unsigned long long)size,
                           (unsigned long long)tree);
    } else if (index >= size) {
        server_reply_error(r, 400, "index_out_of_range", "index",
                           "index %llu is not below size %llu", (unsigned long long)index,
                           (unsigned long long)size);
    } else if (ledger_proof_inclusion(&proof, s->ledger, index, size) < 0) {
        server_reply_error(r, nt_error_code() == NT_EINVAL ? 400 : 500, "proof_failed", NULL,
                           "%s", nt_error_last());
    } else {
        reply_json(r, 200, json_pack("{s:I, s:I, s:o}", "index", (json_int_t)index, "tree_size",
                                     (json_int_t)size, "hashes", hashes_json(&proof)));
    }
    nt_buf_dispose(&proof);
}

void server_get_proof_consistency(server_reply *r, server *s, const char *from_text,
                                  const char *to_text)
{
    uint64_t from, to, tree;
    nt_buf proof = NT_BUF_INIT;

    if (two_params(&from, &to, &tree, r, s, from_text, "from", to_text, "to") < 0) {
        return;
    }
    if (to > tree) {
        server_reply_error(r, 400, "size_beyond_tree", "to",
                           "size %llu is beyond the tree (%llu leaves)", (unsigned long long)to,
                           (unsigned long long)tree);
    } else if (from > to) {
        server_reply_error(r, 400, "invalid_range", "from", "from %llu is larger than to %llu",
                           (unsigned long long)from, (unsigned long long)to);
    } else if (ledger_proof_consistency(&proof, s->ledger, from, to) < 0) {
        server_reply_error(r, nt_error_code() == NT_EINVAL ? 400 : 500, "proof_failed", NULL,
                           "%s", nt_error_last());
    } else {
        reply_json(r, 200, json_pack("{s:I, s:I, s:o}", "from", (json_int_t)from, "to",
                                     (json_int_t)to, "hashes", hashes_json(&proof)));
    }
    nt_buf_dispose(&proof);
}

/* ------------------------------------------------------------------ evidence */

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
    json_t *root, *v;
    const char *key;
    char *meta = NULL;
    int rc = -1;

    if (server_json_object(&root, r, body) < 0) {
        return -1;
    }
    json_object_foreach(root, key, v) {
        if (strcmp(key, "digest") != 0 && strcmp(key, "kind") != 0 &&
            strcmp(key, "metadata") != 0) {
            server_reply_error(r, 400, "unknown_member", key, "unknown member '%s'", key);
            goto done;
        }
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
                           "%s digests are not accepted by this server",
                           record_alg_name(e->alg));
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
        meta = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
        if (meta == NULL) {
            server_reply_error(r, 500, "internal_error", NULL, "out of memory");
            goto done;
        }
        if (strlen(meta) > s->cfg->evidence_max_metadata_bytes) {
            server_reply_error(r, 400, "metadata_too_large", "metadata",
                               "metadata is %zu bytes once serialised, at most %zu are accepted",
                               strlen(meta), s->cfg->evidence_max_metadata_bytes);
            goto done;
        }
        if (nt_buf_set(&e->metadata, meta, strlen(meta)) < 0) {
            server_reply_error(r, 500, "internal_error", NULL, "out of memory");
            goto done;
        }
        e->has_metadata = 1;
    }
    rc = 0;
done:
    free(meta);
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

/* ------------------------------------------------------------------ POST /v1/verify */

/*
 * The same check `notarium verify --digest` runs offline, for platforms that
 * want it online.  The trust anchors are this server's own (its TSA root and
 * its log key), so the report says "genuine and from this server"; a court
 * should still verify offline against anchors it pinned itself.  The body
 * cannot name other anchors, a mirror or CRL files: the server reads nothing
 * a caller chooses.
 */
void server_post_verify(server_reply *r, server *s, nt_bytes body, const char *format,
                        const char *lang)
{
    json_t *root = NULL, *v;
    nt_buf receipt_text = NT_BUF_INIT, digest = NT_BUF_INIT, report = NT_BUF_INIT;
    verifier_options vo;
    verifier_report *rep = NULL;
    record_alg alg;
    int e = 0;

    if (server_verify_enter(&root, r, s, body, "receipt", "digest") < 0) { /* web.c */
        goto done;
    }
    v = json_object_get(root, "receipt");
    if (v == NULL) {
        server_reply_error(r, 400, "missing_member", "receipt",
                           "\"receipt\" (the receipt object, or its JSON text) is required");
        goto done;
    }
    if (json_is_object(v)) {
        /* Members keep their order; the report hashes these re-serialised bytes. */
        char *text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
        e = text != NULL ? nt_buf_puts(&receipt_text, text) : NT_ENOMEM;
        free(text);
    } else if (json_is_string(v)) {
        e = nt_buf_set(&receipt_text, json_string_value(v), json_string_length(v));
    } else {
        server_reply_error(r, 400, "invalid_receipt", "receipt",
                           "\"receipt\" must be a receipt object or its JSON text");
        goto done;
    }
    if (e < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "out of memory");
        goto done;
    }
    v = json_object_get(root, "digest");
    if (v == NULL || !json_is_string(v)) {
        server_reply_error(r, 400, v == NULL ? "missing_member" : "invalid_digest", "digest",
                           "\"digest\" must be a string \"<alg>:<hex>\"");
        goto done;
    }
    if (server_digest_parse(&alg, &digest, r, json_string_value(v), "digest") < 0) {
        goto done;
    }
    memset(&vo, 0, sizeof(vo));
    vo.digest = json_string_value(v);
    vo.receipt = nt_buf_bytes(&receipt_text);
    vo.trust = nt_buf_bytes(&s->trust_pem);
    vo.log_key = nt_buf_bytes(&s->log_vkey);
    vo.command_line = NULL; /* the report rebuilds it with placeholder file names */
    if (verifier_run(&rep, &vo) < 0) {
        if (nt_error_code() == NT_EINVAL) {
            server_reply_error(r, 400, "invalid_input", NULL, "%s", nt_error_last());
        } else {
            server_reply_error(r, 500, "internal_error", NULL, "verify: %s", nt_error_last());
        }
        goto done;
    }
    if (format != NULL && strcmp(format, "json") != 0) {
        if (strcmp(format, "pdf") != 0) {
            server_reply_error(r, 400, "invalid_format", "format", "format must be json or pdf");
        } else {
            server_web_pdf(r, rep, lang); /* web.c */
        }
        goto done;
    }
    if (verifier_report_json(&report, rep) < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "report: %s", nt_error_last());
        goto done;
    }
    nt_buf_dispose(&r->body);
    r->body = report;
    report = (nt_buf)NT_BUF_INIT;
    r->status = 200;
    r->content_type = "application/json";
done:
    atomic_fetch_sub(&s->verifying, 1);
    verifier_report_free(rep);
    nt_buf_dispose(&report);
    nt_buf_dispose(&receipt_text);
    nt_buf_dispose(&digest);
    json_decref(root);
}

/* ------------------------------------------------------------------ assembly */

/*
 * Serial numbers embed a boot epoch that must grow at every start (tsa.h):
 * read, increment and durably rewrite it before the first token.
 */
static int boot_epoch_next(uint32_t *out, const char *data_dir)
{
    return server__boot_epoch_set(out, data_dir, 1, 0);
}

/* The receipts' certificates: the one list certs_signer_receipt_ders builds. */
static int cert_ders(server *s)
{
    return certs_signer_receipt_ders(s->cert_der, &s->cert_count, RECEIPT_MAX_CERTS, s->signer);
}

/*
 * The anchors POST /v1/verify checks against: the last certificate of the
 * configured chain (the root, in the usual chain file) or, without a chain,
 * the TSA certificate itself; and the log's vkey under the ledger's origin.
 */
static int verify_anchors(server *s)
{
    int n = s->signer->chain != NULL ? sk_X509_num(s->signer->chain) : 0;
    X509 *root = n > 0 ? sk_X509_value(s->signer->chain, n - 1) : s->signer->cert;
    BIO *bio = NULL;
    char *data = NULL;
    long len;
    int error = 0;

    NT_ENSURE((bio = BIO_new(BIO_s_mem())) != NULL, NT_ENOMEM, "out of memory");
    NT_OSSL(PEM_write_bio_X509(bio, root), "cannot encode the trust anchor");
    len = BIO_get_mem_data(bio, &data);
    NT_ENSURE(len > 0, NT_ECRYPTO, "cannot encode the trust anchor");
    NT_TRY(nt_buf_set(&s->trust_pem, data, (size_t)len));
    NT_TRY(note_vkey_format(&s->log_vkey, ledger_origin(s->ledger), s->log_key));
done:
    BIO_free(bio);
    return error;
}

/* Nice value of the mirror thread: issuance gets the CPU first, the mirror the slack. */
#define SERVER_MIRROR_NICE 10

typedef struct mirror_launch {
    server *s;
    const mirror_options *mo;
    int error;
    char msg[512];
} mirror_launch;

/*
 * mirror_start from a short-lived thread whose nice value is raised first:
 * on Linux nice is a property of each thread and a thread created by it
 * inherits it, so the mirror thread runs at a lower priority while this
 * process's other threads keep theirs (an unprivileged process could not
 * lower the value again had the main thread raised its own).  Its commits
 * (tile hashing, zlib) then yield the CPU to the HTTP workers and the
 * sequencer under load, and catch up in the slack.  Elsewhere, where nice
 * is per process, the priority is left alone.
 */
static void *mirror_launch_main(void *arg)
{
    mirror_launch *ml = arg;
#if defined(__linux__)
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), SERVER_MIRROR_NICE) != 0) {
        nt_log_debug("mirror: cannot lower the mirror thread's priority: %s", strerror(errno));
    }
#endif
    ml->error = mirror_start(&ml->s->mirror, ml->s->ledger, ml->mo);
    if (ml->error < 0) {
        /* The message is thread-local: carry it to the caller. */
        snprintf(ml->msg, sizeof(ml->msg), "%s", nt_error_last());
    }
    return NULL;
}

/* Start the git mirror (docs/MIRROR.md) unless the configuration disables it. */
static int mirror_begin(server *s)
{
    const server_config *c = s->cfg;
    mirror_options mo;
    int error = 0;

    if (c->mirror_path == NULL) {
        NT_ENSURE(c->mirror_remote_count == 0, NT_EINVAL,
                  "mirror remotes given, but the mirror is disabled (mirror.path is null)");
        return 0;
    }
    memset(&mo, 0, sizeof(mo));
    mo.path = c->mirror_path;
    mo.interval_ms = c->mirror_interval_ms;
    mo.remotes = (const char *const *)c->mirror_remotes;
    mo.remote_count = c->mirror_remote_count;
    mo.retry_min_ms = c->mirror_retry_min_ms;
    mo.retry_max_ms = c->mirror_retry_max_ms;
    mo.push_timeout_ms = c->mirror_push_timeout_ms;
    mo.stop_timeout_ms = c->mirror_stop_timeout_ms;
    {
        mirror_launch ml = {s, &mo, 0, ""};
        pthread_t t;
        if (pthread_create(&t, NULL, mirror_launch_main, &ml) == 0) {
            pthread_join(t, NULL);
            error = ml.error;
            if (error < 0) {
                nt_error_set(error, "%s", ml.msg);
            }
        } else {
            error = mirror_start(&s->mirror, s->ledger, &mo);
        }
    }
    if (error < 0) {
        char reason[400];
        const char *msg = nt_error_last();
        snprintf(reason, sizeof(reason), "%s",
                 strncmp(msg, "mirror: ", 8) == 0 ? msg + 8 : msg);
        error = nt_error_set(error, "git mirror %s: %s", c->mirror_path, reason);
    }
done:
    return error;
}

/*
 * Time never runs backwards across a restart (BRIEF invariant 3): raise the
 * tsa's last genTime to the ledger's durable genTime high-water mark (the
 * largest genTime ever committed; leaves are not in genTime order), or for a
 * ledger written before the mark existed, to the newest leaf's genTime.
 */
static void gen_time_floor_from_ledger(server *s)
{
    ledger_info info;
    nt_buf leaf = NT_BUF_INIT;
    record rec;
    uint64_t ns = 0;
    uint32_t epoch;
    struct timespec ts;

    if (ledger_info_get(&info, s->ledger) < 0 || info.size == 0) {
        goto done;
    }
    ns = info.gen_time_hw_ns;
    if (ns == 0 && (ledger_leaf_get(&leaf, NULL, s->ledger, info.size - 1) < 0 ||
                    record_decode(&rec, leaf.ptr, leaf.len) < 0 ||
                    tsa_token_info(&ns, &epoch, rec.token) < 0)) {
        goto done;
    }
    ts.tv_sec = (time_t)(ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    tsa_gen_time_floor(s->tsa, &ts);
done:
    nt_buf_dispose(&leaf);
}

/* The address a listening socket is bound to, "ADDR:PORT" or "[V6]:PORT". */
static int sock_address(char *out, size_t size, int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[NI_MAXHOST], port[NI_MAXSERV];
    int rc;

    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        return nt_error_set(NT_EIO, "getsockname: %s", strerror(errno));
    }
    rc = getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
                     NI_NUMERICHOST | NI_NUMERICSERV);
    if (rc != 0) {
        return nt_error_set(NT_EIO, "getnameinfo: %s", gai_strerror(rc));
    }
    snprintf(out, size, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
    return 0;
}

int server_listen_open(int *fd_out, char *addr_out, size_t addr_size, const char *listen_spec)
{
    struct addrinfo hints, *res = NULL;
    nt_buf host = NT_BUF_INIT;
    char port_text[8];
    uint16_t port;
    int fd = -1, one = 1, rc, error = 0;

    NT_TRY(server_listen_parse(&host, &port, listen_spec));
    snprintf(port_text, sizeof(port_text), "%u", (unsigned)port);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(nt_buf_cstr(&host), port_text, &hints, &res);
    NT_ENSURE(rc == 0 && res != NULL, NT_EINVAL, "listen: cannot resolve '%s': %s",
              nt_buf_cstr(&host), gai_strerror(rc));
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    NT_ENSURE(fd >= 0, NT_EIO, "socket: %s", strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    NT_ENSURE(bind(fd, res->ai_addr, res->ai_addrlen) == 0, NT_EIO, "cannot listen on %s: %s",
              listen_spec, strerror(errno));
    NT_ENSURE(listen(fd, 4096) == 0, NT_EIO, "listen: %s", strerror(errno));
    NT_TRY(sock_address(addr_out, addr_size, fd));
    *fd_out = fd;
    fd = -1;
done:
    if (res != NULL) {
        freeaddrinfo(res);
    }
    if (fd >= 0) {
        close(fd);
    }
    nt_buf_dispose(&host);
    return error;
}

static unsigned cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 && n < 1024 ? (unsigned)n : 1;
}

int server_new(server **out, const server_config *cfg, const server_options *opts)
{
    server *s = NULL;
    tsa_config tc;
    ledger_options lo;
    nt_buf line = NT_BUF_INIT;
    int fd = -1, error = 0, allow_new;
    unsigned threads;
    ledger_info head;

    *out = NULL;
    if (opts != NULL && opts->has_listen_fd) {
        fd = opts->listen_fd; /* ours from here on, also on failure */
    }
    NT_ENSURE((s = nt_calloc(1, sizeof(*s))) != NULL, NT_ENOMEM, "out of memory");
    s->cfg = cfg;

    NT_TRY(server__keys_load(s)); /* signer + checks, log key (server_keys.c) */
    snprintf(s->key_type, sizeof(s->key_type), "%s", tsa_key_type_name(s->signer->key));
    NT_TRY(cert_ders(s));
    NT_TRY(receipt_certs_cache(s));
    allow_new = opts != NULL && opts->allow_new_ledger;
    NT_TRY(server_ledger_guard(cfg, allow_new));

    memset(&lo, 0, sizeof(lo));
    lo.path = cfg->ledger_path;
    NT_ENSURE(cfg->ledger_map_size_mb <= SIZE_MAX / (1024 * 1024), NT_ERANGE,
              "ledger.map_size_mb too large");
    lo.map_size = (size_t)cfg->ledger_map_size_mb * 1024 * 1024;
    lo.origin = cfg->ledger_origin;
    lo.log_key = s->log_key;
    lo.batch_max = cfg->ledger_batch_max;
    lo.batch_window_us = cfg->ledger_batch_window_us;
    lo.queue_max = cfg->ledger_queue_max;
    lo.no_sync = cfg->ledger_no_sync;
    lo.full_retry_ms = cfg->ledger_full_retry_ms;
    NT_TRY(nt_mkdir_p(cfg->ledger_path, 0700));
    NT_TRY(ledger_open(&s->ledger, &lo));
    NT_TRY(ledger_info_get(&head, s->ledger));
    NT_TRY(server_ledger_guard_head(cfg, head.size, head.root, allow_new));
    /* The epoch is bumped once the ledger exists: a first start that fails before
     * must not leave a boot epoch without a ledger (server_ledger_guard would then
     * refuse every later start). */
    NT_TRY(boot_epoch_next(&s->boot_epoch, cfg->data_dir));
    tc = cfg->tsa;
    tc.boot_epoch = s->boot_epoch;
    NT_TRY(tsa_new(&s->tsa, &tc, s->signer));
    gen_time_floor_from_ledger(s);

    NT_TRY(verify_anchors(s));
    /*
     * The mirror thread reads the ledger through its own read transactions
     * and never waits for the sequencer: it cannot slow issuance down.  Its
     * first commit runs here, so a wrong repository stops the start.
     */
    NT_TRY(mirror_begin(s));

    if (fd >= 0) {
        NT_TRY(sock_address(s->address, sizeof(s->address), fd));
    } else {
        NT_TRY(server_listen_open(&fd, s->address, sizeof(s->address),
                                  opts != NULL && opts->listen != NULL ? opts->listen
                                                                       : cfg->listen));
    }
    threads = opts != NULL && opts->threads >= 0 ? (unsigned)opts->threads : cfg->threads;
    if (threads == 0) {
        threads = cpu_count();
    }
    s->verify_max = threads > 1 ? threads / 2 : 1;
    NT_TRY(server_http_start(&s->http, s, fd, threads));
    fd = -1; /* owned by the HTTP daemon now */

    if (opts != NULL && opts->port_file != NULL) {
        NT_TRY(nt_buf_printf(&line, "%s\n", s->address));
        NT_TRY(nt_file_write_atomic(opts->port_file, line.ptr, line.len, 0644));
    }
    nt_log(NT_LOG_INFO, NULL,
           "listening on %s (%u threads, key %s, boot epoch %u, ledger %s)", s->address, threads,
           s->key_type, s->boot_epoch, cfg->ledger_path);
    *out = s;
    s = NULL;
done:
    if (fd >= 0) {
        close(fd);
    }
    nt_buf_dispose(&line);
    server_free(s);
    return error;
}

const char *server_address(const server *s)
{
    return s->address;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

int server_shutdown(server *s)
{
    int started;
    if (s == NULL || s->shut_down) {
        return s != NULL && s->stuck ? NT_EBUSY : 0;
    }
    s->shut_down = 1;
    started = s->http != NULL;
    atomic_store(&s->stopping, 1);
    if (s->http != NULL) {
        uint64_t deadline;
        server_http_quiesce(s->http);
        /*
         * Requests whose leaves are queued stay suspended until the sequencer
         * commits them, and their clients deserve their tokens.  On a stalled
         * disk that never happens: after http.drain_timeout_ms they are
         * answered 503 (systemFailure: nothing issued) and resumed, because
         * libmicrohttpd aborts when stopped with suspended connections.
         */
        deadline = nt_mono_ns() + (uint64_t)s->cfg->http_drain_timeout_ms * 1000000ull;
        while (atomic_load(&s->pending) > 0 && nt_mono_ns() < deadline) {
            sleep_ms(2);
        }
        if (atomic_load(&s->pending) > 0) {
            s->stuck = 1;
            nt_log_error("shutdown: the ledger did not commit within %u ms (stalled disk?): "
                         "%u waiting requests answered 503, nothing was issued to them",
                         s->cfg->http_drain_timeout_ms, server_http_abandon(s->http));
        }
        /* Let resumed connections send their answers. */
        deadline = nt_mono_ns() + 3ull * 1000000000ull;
        while (atomic_load(&s->active) > 0 && nt_mono_ns() < deadline) {
            sleep_ms(2);
        }
        server_http_stop(s->http);
        s->http = NULL;
    }
    if (s->stuck) {
        /* The sequencer is inside a commit that does not return: closing the ledger would
         * wait for it for ever.  The process exits instead; LMDB keeps the last committed
         * batch, as after a crash.  The mirror is left too (its last commit may be behind
         * the ledger; it catches up at the next start). */
        nt_log_error("stopped without closing the ledger");
        return nt_error_set(NT_EBUSY, "the ledger did not commit within http.drain_timeout_ms");
    }
    /* Every request is answered: the mirror's last commit holds every token sent. */
    mirror_stop(s->mirror);
    s->mirror = NULL;
    if (started) {
        ledger_info head;
        if (ledger_info_get(&head, s->ledger) < 0 ||
            server_ledger_mark(s->cfg, head.size, head.root) < 0) {
            nt_log_warn("cannot record the ledger head in state/ledger: %s", nt_error_last());
        }
    }
    ledger_close(s->ledger);
    s->ledger = NULL;
    if (started) {
        nt_log_info("stopped");
    }
    return 0;
}

void server_free(server *s)
{
    if (s == NULL) {
        return;
    }
    server_shutdown(s);
    if (s->stuck) {
        return; /* the sequencer may still call back into nothing of ours, but never free */
    }
    tsa_free(s->tsa);
    server__keys_free(s);
    certs_signer_free(s->signer);
    EVP_PKEY_free(s->log_key);
    for (size_t i = 0; i < RECEIPT_MAX_CERTS; i++) {
        nt_buf_dispose(&s->cert_der[i]);
    }
    nt_buf_dispose(&s->receipt_certs);
    nt_buf_dispose(&s->trust_pem);
    nt_buf_dispose(&s->log_vkey);
    nt_free(s);
}
