/*
 * cmd_ledger_check.c - `notarium ledger check` and the start-up check of
 * `notarium serve --check-ledger` (or "ledger.check_at_start"): open the
 * ledger read-only (so it runs beside a live server), run ledger_check
 * (ledger/ledger.h) and print what it found.  The log's vkey, which the
 * checkpoint signatures need, comes from --log-key, or is derived from the
 * configured private log key.  Exit status: 0 intact, 1 problems found or the
 * check could not run, 2 usage.
 */
#include "certs/certs.h"
#include "ledger/ledger.h"
#include "tsa/server.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int cmd_ledger_check(int argc, char **argv);
int cmd_ledger_check_config(const server_config *cfg, const char *vkey_path, int all_checkpoints,
                            size_t max_problems);

static void check_usage(void)
{
    fprintf(stderr, "usage: notarium ledger check --data DIR [--config FILE] [--log-key VKEY]\n"
                    "                             [--all-checkpoints] [--max-problems N]\n");
}

/* The log's verifier: the vkey file, or derived from the configured private key. */
static int check_vkey(note_verifier *out, const server_config *cfg, const char *vkey_path)
{
    int error = 0;
    nt_buf text = NT_BUF_INIT;
    EVP_PKEY *key = NULL;

    if (vkey_path != NULL) {
        NT_TRY(nt_file_read(&text, vkey_path, 4096));
    } else {
        error = certs_log_key_load(&key, cfg->ledger_log_key);
        NT_ENSURE(error == 0, error, "%s: %s (give the log's vkey with --log-key VKEY)",
                  cfg->ledger_log_key, nt_error_last());
        NT_TRY(note_vkey_format(&text, cfg->ledger_origin, key));
    }
    NT_TRY(note_vkey_parse(out, (const char *)text.ptr, text.len));
done:
    EVP_PKEY_free(key);
    nt_buf_dispose(&text);
    return error;
}

static void check_progress(void *ctx, uint64_t done, uint64_t total)
{
    (void)ctx;
    fprintf(stderr, "\rchecking: %llu of %llu leaves (%.0f%%)", (unsigned long long)done,
            (unsigned long long)total, total > 0 ? 100.0 * (double)done / (double)total : 100.0);
    if (done >= total) {
        fputc('\n', stderr);
    }
}

int cmd_ledger_check_config(const server_config *cfg, const char *vkey_path, int all_checkpoints,
                            size_t max_problems)
{
    ledger *l = NULL;
    ledger_options lo;
    ledger_check_options co;
    ledger_check_result r;
    note_verifier v;
    uint64_t t0 = nt_mono_ns();
    int status = 1;

    memset(&r, 0, sizeof(r));
    memset(&co, 0, sizeof(co));
    if (check_vkey(&v, cfg, vkey_path) < 0) {
        fprintf(stderr, "ledger check: log key: %s\n", nt_error_last());
        goto done;
    }
    memset(&lo, 0, sizeof(lo));
    lo.path = cfg->ledger_path;
    lo.origin = cfg->ledger_origin;
    if (ledger_open_readonly(&l, &lo) < 0) {
        fprintf(stderr, "ledger check: %s\n", nt_error_last());
        goto done;
    }
    co.log_vkey = &v;
    co.all_checkpoints = all_checkpoints;
    co.max_problems = max_problems;
    co.progress = isatty(STDERR_FILENO) ? check_progress : NULL;
    if (ledger_check(&r, l, &co) < 0) {
        fprintf(stderr, "ledger check: could not complete: %s\n", nt_error_last());
        goto done;
    }
    for (size_t i = 0; i < r.kept; i++) {
        const ledger_check_problem *p = &r.problems[i];
        if (strcmp(p->what, "subtree") == 0) {
            printf("PROBLEM subtree level %u index %llu: %s\n", p->level,
                   (unsigned long long)p->index, p->message);
        } else {
            printf("PROBLEM %s %llu: %s\n", p->what, (unsigned long long)p->index, p->message);
        }
    }
    printf("ledger check: %s, size %llu: %llu leaves, %llu metadata, %llu subtree hashes, "
           "%llu checkpoints in %.1f s\n",
           cfg->ledger_origin, (unsigned long long)r.size, (unsigned long long)r.leaves,
           (unsigned long long)r.metadata, (unsigned long long)r.subtrees,
           (unsigned long long)r.checkpoints, (double)(nt_mono_ns() - t0) / 1e9);
    if (r.problem_count > 0) {
        printf("FAILED: %llu problem%s (the first %zu listed)\n",
               (unsigned long long)r.problem_count, r.problem_count == 1 ? "" : "s", r.kept);
        goto done;
    }
    printf("OK: every leaf, metadata, subtree hash and the head match\n");
    status = 0;
done:
    fflush(stdout);
    ledger_check_result_dispose(&r);
    ledger_close(l);
    return status;
}

int cmd_ledger_check(int argc, char **argv)
{
    const char *data = NULL, *config = NULL, *vkey = NULL;
    server_config *cfg = NULL;
    nt_buf path = NT_BUF_INIT;
    uint64_t max = 20;
    int all = 0, status = 2;

    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--all-checkpoints") == 0) {
            all = 1;
            continue;
        }
        if (v == NULL) {
            check_usage();
            goto done;
        }
        if (strcmp(argv[i], "--data") == 0) {
            data = v;
        } else if (strcmp(argv[i], "--config") == 0) {
            config = v;
        } else if (strcmp(argv[i], "--log-key") == 0) {
            vkey = v;
        } else if (strcmp(argv[i], "--max-problems") == 0 &&
                   nt_parse_u64(&max, v, strlen(v)) == 0 && max > 0 && max <= 100000) {
            /* parsed */
        } else {
            check_usage();
            goto done;
        }
        i++;
    }
    if (data == NULL) {
        check_usage();
        goto done;
    }
    status = 1;
    if ((config == NULL && nt_path_join(&path, data, "config.json") < 0) ||
        server_config_load(&cfg, config != NULL ? config : nt_buf_cstr(&path), data) < 0) {
        fprintf(stderr, "notarium ledger check: %s\n", nt_error_last());
        goto done;
    }
    status = cmd_ledger_check_config(cfg, vkey, all, (size_t)max);
done:
    server_config_free(cfg);
    nt_buf_dispose(&path);
    return status;
}
