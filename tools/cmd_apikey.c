/*
 * cmd_apikey.c - `notarium apikey new [--id ID] [--tenant T]`: a fresh API key for
 * POST /v1/evidence.  stdout gets exactly two lines, the clear key and its
 * configuration entry (for "api_keys" in config.json), so scripts can take
 * them apart; the clear key is not stored anywhere by the server.
 */
#include "tsa/server.h"

#include <stdio.h>
#include <string.h>

int cmd_apikey(int argc, char **argv);

int cmd_apikey(int argc, char **argv)
{
    const char *id = "client", *tenant = NULL;
    nt_buf key = NT_BUF_INIT, entry = NT_BUF_INIT;
    int status = 1;

    if (argc < 2 || strcmp(argv[1], "new") != 0) {
        fprintf(stderr, "usage: notarium apikey new [--id ID] [--tenant T]\n");
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--id") == 0 && i + 1 < argc) {
            id = argv[++i];
        } else if (strcmp(argv[i], "--tenant") == 0 && i + 1 < argc) {
            tenant = argv[++i];
        } else {
            fprintf(stderr, "usage: notarium apikey new [--id ID] [--tenant T]\n");
            return 2;
        }
    }
    if (server_api_key_new(&key, &entry, id, tenant) < 0) {
        fprintf(stderr, "notarium apikey: %s\n", nt_error_last());
        goto done;
    }
    printf("%s\n%s\n", nt_buf_cstr(&key), nt_buf_cstr(&entry));
    fprintf(stderr, "line 1: the API key (give it to the client: 'Authorization: Bearer <key>');\n"
                    "line 2: its entry for \"api_keys\" in config.json (restart the server).\n");
    status = 0;
done:
    nt_buf_dispose_secret(&key);
    nt_buf_dispose(&entry);
    return status;
}
