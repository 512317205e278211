/*
 * cmd_serve.c - `notarium serve`: parse the command line, prepare a demo data
 * directory when asked, load the configuration and run the daemon
 * (tsa/server.h) until SIGTERM or SIGINT; SIGHUP reloads (server_reload).  Signals are blocked
 * before any thread starts and taken with sigwait here, so no handler ever runs inside a worker
 * thread.  Started as root it binds, then drops to the configured user before anything is opened
 * for writing (serve_privs.c), and it tells systemd when it is ready and when it stops
 * (serve_notify.c).
 */
#include "tools/serve_int.h"
#include "tsa/server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cmd_serve(int argc, char **argv);
int cmd_ledger_check_config(const server_config *cfg, const char *vkey_path, int all_checkpoints,
                            size_t max_problems); /* cmd_ledger_check.c */

static void serve_usage(void)
{
    fprintf(stderr,
            "usage: notarium serve [--demo] --data DIR [--config FILE] [--listen ADDR:PORT]\n"
            "                      [--port-file FILE] [--threads N] [--check-ledger]\n"
            "                      [--user NAME] [--allow-root]\n"
            "                      [--log-level debug|info|warn|error]\n"
            "                      [--mirror-remote URL ...] [--allow-new-ledger]\n");
}

#ifdef NT_TEST_HOOKS
/*
 * Test-only hook (docs/OPERATING.md): NOTARIUM_TEST_CLOCK_SYNC=synced|unsynced
 * replaces the kernel's clock synchronisation state.  Compiled only with
 * -DNT_TEST_HOOKS=ON (test builds); a production binary has no way round the
 * unsynchronised-clock refusal but the configuration's allow_unsynced_clock.
 */
static int fake_sync(nt_clock_status *out, void *ctx)
{
    out->sync = ctx != NULL ? NT_CLOCK_SYNCED : NT_CLOCK_UNSYNCED;
    out->max_error_us = ctx != NULL ? 1000 : 16000000;
    out->est_error_us = ctx != NULL ? 100 : 16000000;
    return 0;
}

static int apply_test_clock_hook(void)
{
    static int synced_marker;
    const char *v = getenv("NOTARIUM_TEST_CLOCK_SYNC");
    if (v == NULL || v[0] == '\0') {
        return 0;
    }
    if (strcmp(v, "synced") == 0) {
        nt_clock_set_sync_source(fake_sync, &synced_marker);
    } else if (strcmp(v, "unsynced") == 0) {
        nt_clock_set_sync_source(fake_sync, NULL);
    } else {
        fprintf(stderr, "notarium serve: NOTARIUM_TEST_CLOCK_SYNC must be synced or unsynced\n");
        return NT_EINVAL;
    }
    nt_log_warn("test hook: clock synchronisation forced to '%s' (NOTARIUM_TEST_CLOCK_SYNC)", v);
    return 0;
}

#else
static int apply_test_clock_hook(void)
{
    return 0;
}

#endif

static void print_demo_help(const char *data, const char *addr)
{
    char self[1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        snprintf(self, sizeof(self), "notarium");
    } else {
        self[n] = '\0';
    }
    printf(
        "\nNotarium demo server listening on http://%s\n"
        "Data directory: %s   (API key: %s/demo-api-key, trust anchor: %s/pki/ca.pem)\n\n"
        "# Time-stamp a file with RFC 3161 and verify the token:\n"
        "echo 'hello' > doc.txt\n"
        "openssl ts -query -data doc.txt -sha256 -cert -out doc.tsq\n"
        "curl -sS -H 'Content-Type: application/timestamp-query' --data-binary @doc.tsq "
        "http://%s/tsa -o doc.tsr\n"
        "openssl ts -verify -data doc.txt -in doc.tsr -CAfile %s/pki/ca.pem\n\n"
        "# Record evidence (JSON API) and get its receipt:\n"
        "curl -sS -H \"Authorization: Bearer $(cat %s/demo-api-key)\" "
        "-H 'Content-Type: application/json' \\\n"
        "  -d '{\"digest\":\"sha256:'\"$(sha256sum doc.txt | cut -d' ' -f1)\"'\","
        "\"kind\":\"contract.signed\",\"metadata\":{\"signer\":\"alice\"}}' "
        "http://%s/v1/evidence\n\n"
        "# Find the receipt of the time-stamped file:\n"
        "curl -sS \"http://%s/v1/receipts?digest=sha256:$(sha256sum doc.txt | cut -d' ' -f1)\"\n\n",
        addr, data, data, data, addr, data, data, addr, addr);
    printf("# Keep that receipt and verify it offline into a certification report (JSON + PDF):\n"
           "curl -sS \"http://%s/v1/receipts?digest=sha256:$(sha256sum doc.txt | cut -d' ' -f1)\" "
           "| jq '.receipts[0]' > doc.receipt.json\n"
           "%s verify --document doc.txt --receipt doc.receipt.json \\\n"
           "  --trust %s/pki/ca.pem --log-key %s/pki/log.vkey "
           "--report-json report.json --report-pdf report.pdf\n\n",
           addr, self, data, data);
    fflush(stdout);
}

int cmd_serve(int argc, char **argv)
{
    const char *data = NULL, *config_path = NULL, *level_name = NULL, *user = NULL;
    server_options opts = {NULL, -1, NULL, 0, 0, -1, 0, -1, 0, -1, NULL};
    server_config *cfg = NULL;
    server *s = NULL;
    nt_buf path = NT_BUF_INIT;
    nt_log_level level;
    sigset_t set;
    int demo = 0, status = 1, sig = 0, check_ledger = 0, allow_root = 0, new_rc;
    char state[160];
    const char *remotes[SERVER_MAX_REMOTES];
    size_t remote_count = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--demo") == 0) {
            demo = 1;
            continue;
        }
        if (strcmp(a, "--check-ledger") == 0) {
            check_ledger = 1;
            continue;
        }
        if (strcmp(a, "--allow-new-ledger") == 0) {
            opts.allow_new_ledger = 1; /* server_ledger_guard: loud in the log */
            continue;
        }
        if (strcmp(a, "--allow-root") == 0) {
            allow_root = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            serve_usage();
            return 0;
        }
        if (v == NULL) {
            fprintf(stderr, "notarium serve: unknown option or missing value: %s\n", a);
            serve_usage();
            return 2;
        }
        if (strcmp(a, "--data") == 0) {
            data = v;
        } else if (strcmp(a, "--config") == 0) {
            config_path = v;
        } else if (strcmp(a, "--listen") == 0) {
            opts.listen = v;
        } else if (strcmp(a, "--user") == 0) {
            user = v;
        } else if (strcmp(a, "--port-file") == 0) {
            opts.port_file = v;
        } else if (strcmp(a, "--threads") == 0) {
            uint64_t n;
            if (nt_parse_u64(&n, v, strlen(v)) < 0 || n > 1024) {
                fprintf(stderr, "notarium serve: --threads must be 0..1024\n");
                return 2;
            }
            opts.threads = (int)n;
        } else if (strcmp(a, "--log-level") == 0) {
            level_name = v;
        } else if (strcmp(a, "--mirror-remote") == 0) {
            if (remote_count == SERVER_MAX_REMOTES) {
                fprintf(stderr, "notarium serve: at most %d --mirror-remote\n", SERVER_MAX_REMOTES);
                return 2;
            }
            remotes[remote_count++] = v; /* appended to the config's mirror.remotes */
        } else {
            fprintf(stderr, "notarium serve: unknown option %s\n", a);
            serve_usage();
            return 2;
        }
        i++;
    }
    if (data == NULL) {
        fprintf(stderr, "notarium serve: --data DIR is required\n");
        serve_usage();
        return 2;
    }
    if (level_name != NULL) {
        if (nt_log_level_parse(&level, level_name) < 0) {
            fprintf(stderr, "notarium serve: --log-level must be debug, info, warn or error\n");
            return 2;
        }
        nt_log_set_level(level);
    }
    if (opts.listen != NULL) {
        nt_buf host = NT_BUF_INIT;
        uint16_t port;
        int rc = server_listen_parse(&host, &port, opts.listen);
        nt_buf_dispose(&host);
        if (rc < 0) {
            fprintf(stderr, "notarium serve: --%s\n", nt_error_last());
            return 2;
        }
    }
    if (apply_test_clock_hook() < 0) {
        return 2;
    }
    if (demo && user != NULL && geteuid() == 0) {
        /* The demo directory would be made by root, unreadable to the user. */
        fprintf(stderr, "notarium serve: --demo with --user: run the demo as that user instead "
                        "(e.g. runuser -u NAME -- notarium serve --demo ...)\n");
        return 2;
    }
    if (demo && server_demo_prepare(data) < 0) {
        fprintf(stderr, "notarium serve: demo set-up failed: %s\n", nt_error_last());
        goto done;
    }
    if (config_path == NULL) {
        if (nt_path_join(&path, data, "config.json") < 0) {
            goto done;
        }
        config_path = nt_buf_cstr(&path);
    }
    if (!nt_path_exists(config_path)) {
        fprintf(stderr, "notarium serve: no configuration file %s (write one, or use --demo)\n",
                config_path);
        goto done;
    }
    if (server_config_load(&cfg, config_path, data) < 0) {
        fprintf(stderr, "notarium serve: %s\n", nt_error_last());
        goto done;
    }
    if (cfg->mirror_remote_count + remote_count > SERVER_MAX_REMOTES) {
        fprintf(stderr, "notarium serve: more than %d mirror remotes (config + --mirror-remote)\n",
                SERVER_MAX_REMOTES);
        goto done;
    }
    for (size_t i = 0; i < remote_count; i++) {
        if ((cfg->mirror_remotes[cfg->mirror_remote_count] = nt_strdup(remotes[i])) == NULL) {
            goto done;
        }
        cfg->mirror_remote_count++;
    }
    if (level_name == NULL) {
        nt_log_set_level(cfg->log_level);
    }
    /* Bind, then drop root: before the ledger check, the keys and the data directory. */
    if (serve_privs_start(&opts, cfg, user, demo || allow_root) < 0) {
        fprintf(stderr, "notarium serve: %s\n", nt_error_last());
        goto done;
    }
    /* Before the server holds the ledger: read-only, as `notarium ledger check` (a new
     * data directory has no ledger yet, and nothing to check). */
    if (check_ledger || cfg->ledger_check_at_start) {
        nt_buf db = NT_BUF_INIT;
        int have = nt_path_join(&db, cfg->ledger_path, "data.mdb") == 0 &&
                   nt_path_exists(nt_buf_cstr(&db));
        nt_buf_dispose(&db);
        if (have && cmd_ledger_check_config(cfg, NULL, 0, 0) != 0) {
            fprintf(stderr, "notarium serve: the ledger check failed: not starting "
                            "(docs/OPERATING.md, \"Checking the ledger\")\n");
            goto done;
        }
    }

    /* Block before any thread exists so every thread inherits the mask. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP); /* reload (server_reload) */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    opts.config_path = config_path;
    new_rc = server_new(&s, cfg, &opts);
    /* server_new took the bound sockets, also when it failed */
    opts.has_listen_fd = opts.has_tls_fd = opts.has_admin_fd = 0;
    if (new_rc < 0) {
        fprintf(stderr, "notarium serve: %s\n", nt_error_last());
        goto done;
    }
    /* The ledger is open and the listener up (port file written): ready. */
    snprintf(state, sizeof(state), "READY=1\nSTATUS=listening on %s", server_address(s));
    if (serve_notify(state) < 0) {
        nt_log_warn("systemd notification: %s", nt_error_last());
    }
    if (demo) {
        print_demo_help(data, server_address(s));
    }
    if (serve_pid_write(data) < 0) {
        nt_log_warn("cannot write state/serve.pid (notarium reload needs it): %s", nt_error_last());
    }
    while (sigwait(&set, &sig) != 0 || (sig != SIGINT && sig != SIGTERM)) {
        if (sig == SIGHUP) {
            nt_log_info("received SIGHUP: reloading the configuration");
            serve_notify("RELOADING=1");
            server_reload(s); /* logs the outcome; a refused one changes nothing */
            serve_notify("READY=1");
        }
    }
    serve_pid_remove(data);
    nt_log_info("received %s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    if (serve_notify("STOPPING=1\nSTATUS=stopping: answering queued requests") < 0) {
        nt_log_warn("systemd notification: %s", nt_error_last());
    }
    /* 3: the ledger did not commit within http.drain_timeout_ms (docs/OPERATING.md). */
    status = server_shutdown(s) < 0 ? 3 : 0;
done:
    serve_privs_close(&opts); /* bound, but the start failed before server_new */
    server_free(s);
    server_config_free(cfg);
    nt_buf_dispose(&path);
    return status;
}
