/*
 * main.c - the `notarium` command: a thin dispatcher of subcommands to the
 * cmd_*.c files (serve, pki, ledger, apikey here; verify, verify-report and
 * audit from other components, linked only when they exist: they are weak
 * symbols, so this file builds before them).  Each cmd_x(argc, argv) gets
 * argv[0] = the subcommand's name and returns the process exit code.
 */
#include "util/util.h"

#include <stdio.h>
#include <string.h>

int cmd_serve(int argc, char **argv);
int cmd_pki(int argc, char **argv);
int cmd_ledger(int argc, char **argv);
int cmd_apikey(int argc, char **argv);
int cmd_verify(int argc, char **argv) __attribute__((weak));
int cmd_verify_report(int argc, char **argv) __attribute__((weak));
int cmd_audit(int argc, char **argv) __attribute__((weak));

static void usage(FILE *f)
{
    fprintf(f,
            "usage: notarium <command> [options]\n"
            "\n"
            "commands:\n"
            "  serve [--demo] --data DIR [--config FILE] [--listen ADDR:PORT] [--port-file FILE]\n"
            "        [--threads N] [--log-level debug|info|warn|error]\n"
            "                         run the time-stamping server\n"
            "  pki init DIR [--key-type ec-p256|ec-p384|rsa-2048|rsa-3072|rsa-4096]\n"
            "        [--origin ORIGIN] [--days N] [--force]\n"
            "                         create a development PKI and log key\n"
            "  ledger info|get INDEX|proof inclusion I S|proof consistency A B --data DIR\n"
            "  ledger check-consistency --log-key VKEY OLD_CHECKPOINT NEW_CHECKPOINT PROOF.json\n"
            "                         read the ledger; check a consistency proof offline\n"
            "  apikey new [--id ID]   make an API key and its configuration entry\n"
            "%s%s%s"
            "  version                print the version\n"
            "  help                   this text\n",
            cmd_verify != NULL ? "  verify ...             verify a receipt offline\n" : "",
            cmd_verify_report != NULL ? "  verify-report ...      render a verification report\n"
                                      : "",
            cmd_audit != NULL ? "  audit ...              replay and audit a ledger mirror\n" : "");
}

int main(int argc, char **argv)
{
    const char *cmd;

    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    cmd = argv[1];
    if (strcmp(cmd, "serve") == 0) {
        return cmd_serve(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "pki") == 0) {
        return cmd_pki(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "ledger") == 0) {
        return cmd_ledger(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "apikey") == 0) {
        return cmd_apikey(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "verify") == 0 && cmd_verify != NULL) {
        return cmd_verify(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "verify-report") == 0 && cmd_verify_report != NULL) {
        return cmd_verify_report(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "audit") == 0 && cmd_audit != NULL) {
        return cmd_audit(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("notarium %s\n", NT_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "notarium: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
