/*
 * cmd_common.c - what several `notarium` subcommands share (tools/cmd_int.h).
 */
#include "tools/cmd_int.h"

#include <string.h>

int cmd_open_ledger(ledger **out, server_config **cfg, const char *data, const char *config)
{
    nt_buf path = NT_BUF_INIT;
    ledger_options lo;
    int error = 0;

    NT_ENSURE(data != NULL, NT_EINVAL, "--data DIR is required");
    if (config == NULL) {
        NT_TRY(nt_path_join(&path, data, "config.json"));
    } else {
        NT_TRY(nt_buf_puts(&path, config));
    }
    NT_TRY(server_config_load(cfg, nt_buf_cstr(&path), data));
    memset(&lo, 0, sizeof(lo));
    lo.path = (*cfg)->ledger_path;
    lo.origin = (*cfg)->ledger_origin;
    NT_TRY(ledger_open_readonly(out, &lo));
done:
    nt_buf_dispose(&path);
    return error;
}
