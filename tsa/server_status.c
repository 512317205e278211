/*
 * server_status.c - GET /healthz (JSON: readiness, certificate, ledger, mirror)
 * and GET /metrics (Prometheus text), with the request counters http.c feeds.
 */
#include "tsa/server_int.h"

#include <jansson.h>
#include <openssl/x509.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

const unsigned server_metric_codes[SERVER_CODE_SLOTS] = {200, 201, 400, 401, 404, 405, 411, 413,
                                                         415, 500, 503, 408, 431, 414, 429};
const double server_latency_bounds[SERVER_LATENCY_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};

/* The PKIFailureInfo bits tsa.h names, for /metrics. */
static const tsa_fail known_fails[] = {TSA_FAIL_BAD_ALG,
                                       TSA_FAIL_BAD_REQUEST,
                                       TSA_FAIL_BAD_DATA_FORMAT,
                                       TSA_FAIL_TIME_NOT_AVAILABLE,
                                       TSA_FAIL_UNACCEPTED_POLICY,
                                       TSA_FAIL_UNACCEPTED_EXTENSION,
                                       TSA_FAIL_ADD_INFO_NOT_AVAILABLE,
                                       TSA_FAIL_SYSTEM_FAILURE};

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
                json_pack("{s:s, s:I, s:I, s:f, s:I, s:I, s:I, s:f, s:s, s:I, s:f, s:f}", "url",
                          url, "pushed_size", (json_int_t)m->pushed_size, "entries_behind",
                          (json_int_t)m->entries_behind, "seconds_behind", m->seconds_behind,
                          "pushes", (json_int_t)m->pushes, "failures", (json_int_t)m->failures,
                          "consecutive_failures", (json_int_t)m->consecutive_failures, "retry_in_s",
                          m->retry_in_s, "last_error", err, "attempts", (json_int_t)m->attempts,
                          "pushing_s", m->pushing_s, "last_success_s", m->last_success_s)) < 0) {
            json_decref(remotes);
            remotes = NULL;
        }
    }
    printable(st.last_error);
    j = json_pack("{s:s, s:I, s:I, s:I, s:f, s:I, s:s, s:o*}", "path", s->cfg->mirror_path,
                  "ledger_size", (json_int_t)st.ledger_size, "size", (json_int_t)st.mirrored_size,
                  "entries_behind", (json_int_t)st.entries_behind, "seconds_behind",
                  st.seconds_behind, "commits", (json_int_t)st.commits, "last_error", st.last_error,
                  "remotes", remotes);
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
    server_live *lv;
    const server_identity *d;

    memset(&info, 0, sizeof(info));
    if (ledger_info_get(&info, s->ledger) < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "ledger: %s", nt_error_last());
        return;
    }
    lv = server__live_acquire(s);
    d = &lv->ids[lv->dflt]; /* "key" and "certificate": the default identity's */
    if (tsa_clock_status(&clk, d->tsa) < 0) {
        clk.sync = NT_CLOCK_UNKNOWN;
    }
    clock_ok = clk.sync == NT_CLOCK_SYNCED || s->cfg->tsa.allow_unsynced_clock;
    if (certs_cert_not_after(&na, d->signer->cert) == 0) {
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
                  " s:{s:s, s:I, s:I, s:I, s:b, s:I, s:f}, s:I}",
                  "ready", ready, "reason", reason, "clock", "state", nt_clock_sync_name(clk.sync),
                  "max_error_us", (json_int_t)clk.max_error_us, "allow_unsynced",
                  s->cfg->tsa.allow_unsynced_clock, "key", "type", d->key_type, "certificate",
                  "subject", cert_subject_json(d->signer->cert), "not_after",
                  nt_buf_cstr(&not_after), "days_left", (json_int_t)((na - now) / 86400), "ledger",
                  "origin", ledger_origin(s->ledger), "size", (json_int_t)info.size, "queue_depth",
                  (json_int_t)info.queue_depth, "requests_waiting",
                  (json_int_t)atomic_load(&s->pending), "full", info.full, "full_retry_in_ms",
                  (json_int_t)info.full_retry_in_ms, "commit_pending_s", pending_s, "boot_epoch",
                  (json_int_t)s->boot_epoch);
    /* The mirror never affects readiness: issuance does not depend on it. */
    if (j != NULL && (json_object_set_new(j, "mirror", mirror_json(s, info.size)) < 0 ||
                      json_object_set_new(j, "identities", server__live_json(lv)) < 0)) {
        json_decref(j);
        j = NULL;
    }
    server__live_release(lv);
    nt_buf_dispose(&not_after);
    server_reply_json(r, ready ? 200 : 503, j);
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
        case '\\':
            e = nt_buf_puts(b, "\\\\");
            break;
        case '"':
            e = nt_buf_puts(b, "\\\"");
            break;
        case '\n':
            e = nt_buf_puts(b, "\\n");
            break;
        default:
            e = nt_buf_putc(b, *v);
            break;
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
    if ((e = mirror_status_get(&st, s->mirror)) < 0) {
        return e;
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
                case 1:
                    snprintf(value, sizeof(value), "%.3f", m->seconds_behind);
                    break;
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

/* One gauge or counter without labels: its HELP, TYPE and sample lines. */
typedef struct {
    const char *name;
    const char *type;
    const char *help;
    char value[32];
} metric_row;

static int metric_rows(nt_buf *b, const metric_row *rows, size_t n)
{
    int e = 0;
    for (size_t i = 0; i < n; i++) {
        e |= nt_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %s\n", rows[i].name, rows[i].help,
                           rows[i].name, rows[i].type, rows[i].name, rows[i].value);
    }
    return e;
}

static int metrics_tokens(nt_buf *b, server_metrics *m)
{
    int e = 0;
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
    return e;
}

/* A Prometheus histogram from per-bucket counts (not cumulative; the last one is +Inf). */
static int metric_histogram(nt_buf *b, const char *name, const char *help, const double *bounds,
                            const uint64_t *buckets, size_t n, double sum, uint64_t count)
{
    uint64_t cum = 0;
    int e = nt_buf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (size_t i = 0; i <= n; i++) {
        cum += buckets[i];
        if (i < n) {
            e |= nt_buf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
                               (unsigned long long)cum);
        } else {
            e |= nt_buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
        }
    }
    e |= nt_buf_printf(b, "%s_sum %.6f\n%s_count %llu\n", name, sum, name,
                       (unsigned long long)count);
    return e;
}

/* The ledger's commit durations (ledger_info). */
static int metrics_commits(nt_buf *b, const ledger_info *info)
{
    double bounds[LEDGER_COMMIT_BUCKETS];
    uint64_t count = 0;
    for (size_t i = 0; i < LEDGER_COMMIT_BUCKETS; i++) {
        bounds[i] = (double)ledger_commit_bounds_ns[i] / 1e9;
    }
    for (size_t i = 0; i <= LEDGER_COMMIT_BUCKETS; i++) {
        count += info->commit_buckets[i];
    }
    return metric_histogram(b, "notarium_ledger_commit_seconds",
                            "Time a committed batch took to write: its leaves, the tree, the "
                            "checkpoint and the fsyncs.",
                            bounds, info->commit_buckets, LEDGER_COMMIT_BUCKETS,
                            (double)info->commit_sum_ns / 1e9, count);
}

static int metrics_http(nt_buf *b, server_metrics *m)
{
    int e = 0;
    e |= nt_buf_puts(b, "# HELP notarium_http_requests_total HTTP requests answered, by status "
                        "code.\n# TYPE notarium_http_requests_total counter\n");
    for (size_t i = 0; i < SERVER_CODE_SLOTS; i++) {
        e |=
            nt_buf_printf(b, "notarium_http_requests_total{code=\"%u\"} %llu\n",
                          server_metric_codes[i], (unsigned long long)atomic_load(&m->requests[i]));
    }
    e |= nt_buf_printf(b, "notarium_http_requests_total{code=\"other\"} %llu\n",
                       (unsigned long long)atomic_load(&m->requests[SERVER_CODE_SLOTS]));
    uint64_t buckets[SERVER_LATENCY_BUCKETS + 1];
    for (size_t i = 0; i <= SERVER_LATENCY_BUCKETS; i++) {
        buckets[i] = atomic_load(&m->latency_buckets[i]);
    }
    e |= metric_histogram(b, "notarium_http_request_duration_seconds",
                          "Time from the first byte of a request to its response being queued.",
                          server_latency_bounds, buckets, SERVER_LATENCY_BUCKETS,
                          (double)atomic_load(&m->latency_sum_us) / 1e6,
                          atomic_load(&m->latency_count));
    return e;
}

#define ROW_U64(row, v) snprintf((row).value, sizeof((row).value), "%llu", (unsigned long long)(v))

/* The label-free counters and gauges, in the order /metrics has always listed them. */
static int metrics_scalars(nt_buf *b, server *s, const ledger_info *info,
                           const nt_clock_status *clk)
{
    server_metrics *m = &s->metrics;
    metric_row rows[] = {
        {"notarium_overload_total", "counter",
         "Requests shed with 503 because the ledger queue was full.", ""},
        {"notarium_clock_synchronised", "gauge",
         "1 when the kernel reports the clock synchronised, 0 when not, -1 when unknown.", ""},
        {"notarium_clock_max_error_seconds", "gauge", "Kernel's maximum clock error estimate.", ""},
        {"notarium_ledger_size", "gauge", "Committed leaves.", ""},
        {"notarium_ledger_queue_depth", "gauge", "Appends waiting for the sequencer.", ""},
        {"notarium_ledger_batches_total", "counter", "Write transactions committed since start.",
         ""},
        {"notarium_ledger_appends_failed_total", "counter", "Appends that failed since start.", ""},
        {"notarium_ledger_full", "gauge", "1 after the ledger map filled up.", ""},
        {"notarium_ledger_commit_pending_seconds", "gauge",
         "Age of the oldest append not yet committed (0 when none).", ""},
    };
    ROW_U64(rows[0], atomic_load(&m->overloaded));
    snprintf(rows[1].value, sizeof(rows[1].value), "%d",
             clk->sync == NT_CLOCK_SYNCED     ? 1
             : clk->sync == NT_CLOCK_UNSYNCED ? 0
                                              : -1);
    snprintf(rows[2].value, sizeof(rows[2].value), "%.6f",
             clk->max_error_us < 0 ? -1.0 : (double)clk->max_error_us / 1e6);
    ROW_U64(rows[3], info->size);
    ROW_U64(rows[4], info->queue_depth);
    ROW_U64(rows[5], info->batches);
    ROW_U64(rows[6], info->appends_failed);
    snprintf(rows[7].value, sizeof(rows[7].value), "%d", info->full ? 1 : 0);
    snprintf(rows[8].value, sizeof(rows[8].value), "%.3f", commit_pending_s(info));
    return metric_rows(b, rows, NT_ARRAY_LEN(rows));
}

void server_get_metrics(server_reply *r, server *s)
{
    server_metrics *m = &s->metrics;
    nt_clock_status clk = {NT_CLOCK_UNKNOWN, -1, -1};
    ledger_info info;
    nt_buf *b = &r->body;
    int e = 0;

    memset(&info, 0, sizeof(info));
    if (ledger_info_get(&info, s->ledger) < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "ledger: %s", nt_error_last());
        return;
    }
    {
        server_live *lv = server__live_acquire(s);
        tsa_clock_status(&clk, lv->ids[lv->dflt].tsa);
        server__live_release(lv);
    }
    nt_buf_clear(b);
    e |= metrics_tokens(b, m);
    e |= nt_buf_printf(b,
                       "# HELP notarium_evidence_created_total Evidence records committed.\n"
                       "# TYPE notarium_evidence_created_total counter\n"
                       "notarium_evidence_created_total %llu\n",
                       (unsigned long long)atomic_load(&m->evidence_created));
    e |= metrics_http(b, m);
    e |= metrics_scalars(b, s, &info, &clk);
    e |= metrics_commits(b, &info);
    if (s->tls != NULL) {
        e |= nt_buf_printf(b,
                           "# HELP notarium_tls_client_refused_total TLS handshakes refused for "
                           "the client certificate (bad, unmapped, or none where required).\n"
                           "# TYPE notarium_tls_client_refused_total counter\n"
                           "notarium_tls_client_refused_total %llu\n",
                           (unsigned long long)atomic_load(&m->tls_client_refused));
    }
    if (s->guard != NULL) {
        e |= nt_buf_printf(b,
                           "# HELP notarium_http_connections Open HTTP connections.\n"
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
    e |= nt_buf_printf(b,
                       "# HELP notarium_boot_epoch Start counter (part of every serial "
                       "number).\n# TYPE notarium_boot_epoch gauge\n"
                       "notarium_boot_epoch %u\n",
                       s->boot_epoch);
    e |= mirror_metrics(b, s, info.size);
    e |= server__keys_metrics(b, s);
    if (s->limiter != NULL) {
        e |= server_limiter_metrics(b, s->limiter);
    }
    if (e != 0) {
        server_reply_error(r, 500, "internal_error", NULL, "out of memory");
        return;
    }
    r->status = 200;
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
