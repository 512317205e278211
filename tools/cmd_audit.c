/*
 * cmd_audit.c - `notarium audit`: replay a git mirror of the ledger (a clone
 * of a remote, or a local repository) and check every entry, tile, checkpoint
 * and commit with the engine in ledger/audit.c.  Thin: arguments, the vkey
 * file, the progress switch, and the exit codes pinned in docs/MIRROR.md
 * (0 everything holds, 1 a check failed, 2 usage, 3 the audit could not run).
 */
#include "ledger/audit.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int cmd_audit(int argc, char **argv);

static void audit_usage(FILE *f)
{
    fprintf(f, "usage: notarium audit --log-key VKEY|FILE [--trust CA.pem] [--state FILE]\n"
               "                      [--cache DIR] [--progress|--no-progress]\n"
               "                      <git url or path>\n");
}

int cmd_audit(int argc, char **argv)
{
    audit_options o = {0};
    const char *log_key = NULL;
    int progress = isatty(2);
    nt_buf vkey = NT_BUF_INIT;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--log-key") == 0 && v != NULL) {
            log_key = v;
            i++;
        } else if (strcmp(argv[i], "--trust") == 0 && v != NULL) {
            o.trust_path = v;
            i++;
        } else if (strcmp(argv[i], "--state") == 0 && v != NULL) {
            o.state_path = v;
            i++;
        } else if (strcmp(argv[i], "--cache") == 0 && v != NULL) {
            o.cache_path = v;
            i++;
        } else if (strcmp(argv[i], "--progress") == 0) {
            progress = 1;
        } else if (strcmp(argv[i], "--no-progress") == 0) {
            progress = 0;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            audit_usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' || o.source != NULL) {
            audit_usage(stderr);
            return 2;
        } else {
            o.source = argv[i];
        }
    }
    if (log_key == NULL || o.source == NULL) {
        audit_usage(stderr);
        return 2;
    }
    /* The vkey itself ("name+id+key") or a file holding it. */
    if (strchr(log_key, '+') == NULL || nt_path_exists(log_key)) {
        if (nt_file_read(&vkey, log_key, 4096) < 0) {
            fprintf(stderr, "audit: --log-key %s: %s\n", log_key, nt_error_last());
            return 2;
        }
        o.vkey = nt_buf_cstr(&vkey);
    } else {
        o.vkey = log_key;
    }
    o.progress = progress;
    audit_result r;
    int error = audit_run(&r, &o);
    nt_buf_dispose(&vkey);
    if (error == NT_EVERIFY) {
        fprintf(stderr, "audit: FAILED: %s\n", nt_error_last());
        return 1;
    }
    if (error < 0) {
        fprintf(stderr, "audit: error: %s\n", nt_error_last());
        return 3;
    }
    nt_buf root = NT_BUF_INIT;
    nt_base64_encode(&root, r.root, sizeof(r.root));
    printf("audit: OK: tree size %llu, root %s\n", (unsigned long long)r.size, nt_buf_cstr(&root));
    printf("audit: this run: %llu checkpoints, %llu leaves, %llu tiles and bundles, %llu token "
           "signatures%s in %.2f s",
           (unsigned long long)r.checkpoints, (unsigned long long)r.leaves,
           (unsigned long long)r.tiles, (unsigned long long)r.tokens,
           o.trust_path == NULL ? " (no --trust: not checked)" : "", r.seconds);
    if (r.resumed_size > 0) {
        printf(", resumed from the verified size %llu", (unsigned long long)r.resumed_size);
    }
    printf("\n");
    nt_buf_dispose(&root);
    return 0;
}
