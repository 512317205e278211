/*
 * cmd_int.h - helpers shared by the `notarium` subcommands (tools/cmd_*.c).
 */
#ifndef TOOLS_CMD_INT_H
#define TOOLS_CMD_INT_H

#include "ledger/ledger.h"
#include "tsa/server.h"

/*
 * The configuration of a data directory (`config`, or data/config.json when NULL) into *cfg
 * and its ledger opened read-only into *out (it may run beside a live server).  NT_EINVAL
 * without a data directory; the codes of server_config_load and ledger_open_readonly.  Both
 * outputs are the caller's, also when the second step fails.
 */
int cmd_open_ledger(ledger **out, server_config **cfg, const char *data, const char *config);

#endif
