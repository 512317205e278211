/*
 * server_reload.c - server_reload (SIGHUP, `notarium reload`): re-read the
 * configuration file and swap in its signing identities and API keys without
 * stopping (docs/OPERATING.md, "Reloading").  Everything is loaded and checked
 * beside the running set; only a new set that passed every check (syntax,
 * keys, certificates, chains, the certificate leaves in the ledger) is
 * published, so a bad configuration changes nothing.  Requests in flight keep
 * the set they began with (server_identity.c).
 */
#include "tsa/server_int.h"

#include <stdio.h>
#include <string.h>

static int str_differs(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

/* Log every setting that only a restart changes; keep the running value where the new
 * tsa objects depend on it. */
static void report_ignored(server_config *nc, const server_config *c)
{
    const char *ignored[24];
    size_t n = 0;

#define IGNORED(cond, name)                                                                        \
    do {                                                                                           \
        if ((cond) && n < NT_ARRAY_LEN(ignored)) {                                                 \
            ignored[n++] = (name);                                                                 \
        }                                                                                          \
    } while (0)
    IGNORED(str_differs(nc->listen, c->listen), "listen");
    IGNORED(nc->threads != c->threads, "threads");
    IGNORED(nc->max_body != c->max_body, "max_body");
    IGNORED(nc->log_level != c->log_level, "log_level");
    IGNORED(str_differs(nc->user, c->user), "user");
    IGNORED(str_differs(nc->ledger_path, c->ledger_path), "ledger.path");
    IGNORED(str_differs(nc->ledger_origin, c->ledger_origin), "ledger.origin");
    IGNORED(str_differs(nc->ledger_log_key, c->ledger_log_key), "ledger.log_key");
    IGNORED(nc->ledger_map_size_mb != c->ledger_map_size_mb ||
                nc->ledger_batch_max != c->ledger_batch_max ||
                nc->ledger_batch_window_us != c->ledger_batch_window_us ||
                nc->ledger_queue_max != c->ledger_queue_max ||
                nc->ledger_no_sync != c->ledger_no_sync,
            "ledger.*");
    IGNORED(str_differs(nc->mirror_path, c->mirror_path) ||
                nc->mirror_interval_ms != c->mirror_interval_ms ||
                nc->mirror_remote_count != c->mirror_remote_count,
            "mirror.*");
    IGNORED(nc->http_max_connections != c->http_max_connections ||
                nc->http_max_per_address != c->http_max_per_address ||
                nc->http_reserved != c->http_reserved ||
                nc->http_request_timeout_ms != c->http_request_timeout_ms ||
                nc->http_drain_timeout_ms != c->http_drain_timeout_ms ||
                nc->http_commit_stall_ms != c->http_commit_stall_ms,
            "http.*");
    IGNORED(nc->tsa.node_id != c->tsa.node_id, "tsa.node_id");
    IGNORED(nc->tsa.precision_digits != c->tsa.precision_digits, "tsa.precision");
    IGNORED(nc->web_verify_page != c->web_verify_page ||
                str_differs(nc->web_report_trust, c->web_report_trust),
            "web.*");
    IGNORED(nc->evidence_max_metadata_bytes != c->evidence_max_metadata_bytes, "evidence.*");
    IGNORED(str_differs(nc->cases_certificate_cert, c->cases_certificate_cert) ||
                str_differs(nc->cases_certificate_key, c->cases_certificate_key) ||
                str_differs(nc->cases_certificate_chain, c->cases_certificate_chain),
            "cases.*");
    IGNORED(nc->tsa_record_certificates != c->tsa_record_certificates, "tsa.record_certificates");
#undef IGNORED
    nc->tsa_record_certificates = c->tsa_record_certificates;
    /* one sequence of serials and genTimes across old and new identities */
    nc->tsa.node_id = c->tsa.node_id;
    nc->tsa.precision_digits = c->tsa.precision_digits;
    for (size_t i = 0; i < n; i++) {
        nt_log_warn("reload: %s changed: ignored until restart", ignored[i]);
    }
}

static int config_path(nt_buf *out, const server *s)
{
    if (s->config_path[0] != '\0') {
        return nt_buf_puts(out, s->config_path);
    }
    return nt_path_join(out, s->cfg->data_dir, "config.json");
}

static void names(char *out, size_t cap, const server_live *lv)
{
    size_t at = 0;
    out[0] = '\0';
    for (size_t i = 0; i < lv->count && at < cap; i++) {
        int n = snprintf(out + at, cap - at, "%s%s%s", i > 0 ? ", " : "", lv->ids[i].name,
                         lv->ids[i].is_default ? " (default)" : "");
        at += n > 0 ? (size_t)n : 0;
    }
}

static int reload_locked(server *s)
{
    nt_buf path = NT_BUF_INIT;
    server_config *nc = NULL;
    server_live *lv = NULL, *cur = NULL;
    char list[512];
    int error = 0;

    NT_TRY(config_path(&path, s));
    NT_TRY(server_config_load(&nc, nt_buf_cstr(&path), s->cfg->data_dir));
    report_ignored(nc, s->cfg);
    error = server__live_load(&lv, s, nc, nc); /* takes nc, also on failure */
    nc = NULL;
    NT_TRY(error);
    cur = server__live_acquire(s);
    NT_TRY(server__live_start(lv, s, cur->ids[cur->dflt].tsa));
    NT_TRY(server__certs_record(s, lv));
    names(list, sizeof(list), lv);
    nt_log_info("reload: %s: now signing with %s; %zu API keys", nt_buf_cstr(&path), list,
                lv->cfg->api_key_count);
    server__live_publish(s, lv);
    lv = NULL;
    /* the HTTPS credentials (tsa/http_tls.c), re-read from their files */
    if (s->tls != NULL && server_tls_reload(s) < 0) {
        nt_log_error("reload: identities and API keys reloaded, but not the TLS certificate: %s",
                     nt_error_last());
    }
done:
    server__live_release(cur);
    server__live_release(lv);
    server_config_free(nc);
    nt_buf_dispose(&path);
    return error;
}

int server_reload(server *s)
{
    int error;

    pthread_mutex_lock(&s->reload_lock);
    error = reload_locked(s);
    pthread_mutex_unlock(&s->reload_lock);
    if (error < 0) {
        nt_log_error("reload refused: %s; the running configuration keeps serving",
                     nt_error_last());
    }
    return error;
}
