/*
 * cmd_restore.c - `notarium ledger restore`: rebuild a lost ledger from a copy
 * of its git mirror (mirror_restore, ledger/mirror.h) and carry the server's
 * state over (tsa_token_info for each token's genTime and boot epoch, the
 * boot epoch and the ledger marker through tsa/server.h), so that the next
 * `notarium serve` continues the same log at the next index.  The drill is in
 * docs/OPERATING.md, "Disaster recovery".
 */
#include "certs/certs.h"
#include "ledger/mirror.h"
#include "tsa/server.h"
#include "tsa/tsa.h"

#include <stdio.h>
#include <string.h>

int cmd_ledger_restore(int argc, char **argv);

static void restore_usage(void)
{
    fprintf(stderr, "usage: notarium ledger restore --from GIT_URL_OR_PATH --data DIR "
                    "[--config FILE] [--log-key VKEY]\n"
                    "  (--log-key defaults to DIR/pki/log.vkey; the log's private key is the "
                    "configuration's ledger.log_key)\n");
}

typedef struct restore_state {
    uint32_t max_epoch;
    uint64_t tokens;
} restore_state;

/* mirror_restore_leaf_fn: the token's genTime, and the largest boot epoch seen. */
static int restore_leaf(uint64_t *gen_out, void *ctx, uint64_t index, const record *rec)
{
    restore_state *st = ctx;
    uint32_t epoch = 0;
    int error = tsa_token_info(gen_out, &epoch, rec->token);
    if (error < 0) {
        return nt_error_set(NT_EVERIFY, "leaf %llu: %s", (unsigned long long)index,
                            nt_error_last());
    }
    if (epoch > st->max_epoch) {
        st->max_epoch = epoch;
    }
    st->tokens++;
    return 0;
}

int cmd_ledger_restore(int argc, char **argv)
{
    const char *from = NULL, *data = NULL, *config = NULL, *vkey_path = NULL;
    server_config *cfg = NULL;
    EVP_PKEY *key = NULL;
    nt_buf path = NT_BUF_INIT, vkey = NT_BUF_INIT;
    mirror_restore_options o;
    mirror_restore_result r;
    restore_state st = {0, 0};
    int status = 1, restored = 0;

    memset(&r, 0, sizeof(r));
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **slot = strcmp(argv[i], "--from") == 0      ? &from
                            : strcmp(argv[i], "--data") == 0    ? &data
                            : strcmp(argv[i], "--config") == 0  ? &config
                            : strcmp(argv[i], "--log-key") == 0 ? &vkey_path
                                                                : NULL;
        if (slot == NULL || v == NULL) {
            restore_usage();
            return 2;
        }
        *slot = v;
        i++;
    }
    if (from == NULL || data == NULL) {
        restore_usage();
        return 2;
    }
    if (config == NULL) {
        if (nt_path_join(&path, data, "config.json") < 0) {
            goto fail;
        }
        config = nt_buf_cstr(&path);
    }
    if (server_config_load(&cfg, config, data) < 0) {
        goto fail;
    }
    nt_buf_clear(&path);
    if (vkey_path == NULL) {
        if (nt_path_join(&path, data, "pki/log.vkey") < 0) {
            goto fail;
        }
        vkey_path = nt_buf_cstr(&path);
    }
    if (nt_file_read(&vkey, vkey_path, 4096) < 0 || nt_buf_putc(&vkey, '\0') < 0 ||
        certs_log_key_load(&key, cfg->ledger_log_key) < 0) {
        goto fail;
    }

    memset(&o, 0, sizeof(o));
    o.source = from;
    o.vkey = nt_buf_cstr(&vkey);
    o.mirror_path = cfg->mirror_path;
    o.ledger.path = cfg->ledger_path;
    o.ledger.origin = cfg->ledger_origin;
    o.ledger.log_key = key;
    o.ledger.map_size = (size_t)cfg->ledger_map_size_mb * 1024 * 1024;
    o.leaf_fn = restore_leaf;
    o.leaf_ctx = &st;
    fprintf(stderr, "notarium ledger restore: auditing %s, then rebuilding %s\n", from,
            cfg->ledger_path);
    if (mirror_restore(&r, &o) < 0) {
        goto fail;
    }
    restored = 1;
    /* The next start bumps the epoch once more: serials stay unique (TOKEN-PROFILE.md). */
    if (server_boot_epoch_raise(data, st.max_epoch) < 0 ||
        server_ledger_mark(cfg, r.size, r.root) < 0) {
        goto fail;
    }
    for (size_t i = 0; i < r.missing_count; i++) {
        printf("metadata missing: leaf %llu\n", (unsigned long long)r.missing[i]);
    }
    {
        nt_buf root = NT_BUF_INIT;
        (void)nt_hex_encode(&root, r.root, 32);
        printf("restored %llu leaves (%llu checkpoints verified), root %s\n"
               "genTime high-water mark %llu.%09llu, boot epoch raised to at least %u\n"
               "metadata missing for %zu leaves (the mirror holds none)\n",
               (unsigned long long)r.size, (unsigned long long)r.audit.checkpoints,
               nt_buf_cstr(&root), (unsigned long long)(r.gen_time_hw_ns / 1000000000u),
               (unsigned long long)(r.gen_time_hw_ns % 1000000000u), st.max_epoch, r.missing_count);
        nt_buf_dispose(&root);
    }
    status = 0;
    goto done;
fail:
    fprintf(stderr, "notarium ledger restore: %s%s\n", nt_error_last(),
            restored ? " (the ledger itself was restored)" : "");
done:
    mirror_restore_result_dispose(&r);
    EVP_PKEY_free(key);
    server_config_free(cfg);
    nt_buf_dispose(&path);
    nt_buf_dispose(&vkey);
    return status;
}
