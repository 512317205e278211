/*
 * main.c - the `notarium` command: a thin dispatcher of subcommands to the
 * cmd_*.c files (serve, pki, ledger, case, apikey, verify, verify-report, audit).
 * Each cmd_x(argc, argv) gets
 * argv[0] = the subcommand's name and returns the process exit code.
 */
#include "util/util.h"

#include <stdio.h>
#include <string.h>

int cmd_serve(int argc, char **argv);
int cmd_reload(int argc, char **argv);
int cmd_pki(int argc, char **argv);
int cmd_ledger(int argc, char **argv);
int cmd_apikey(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_verify_report(int argc, char **argv);
int cmd_case_certificate(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_case(int argc, char **argv);

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: notarium <command> [options]\n"
        "\n"
        "commands:\n"
        "  serve [--demo] --data DIR [--config FILE] [--listen ADDR:PORT] [--port-file FILE]\n"
        "        [--threads N] [--log-level debug|info|warn|error] [--check-ledger]\n"
        "        [--user NAME] [--allow-root]\n"
        "                         run the time-stamping server\n"
        "  reload --data DIR        make the server on DIR re-read its keys, certificates and\n"
        "                         API keys (SIGHUP; refused changes leave it as it was)\n"
        "  pki init DIR [--key-type ec-p256|ec-p384|rsa-2048|rsa-3072|rsa-4096|sm2]\n"
        "        [--origin ORIGIN] [--days N] [--force]\n"
        "                         create a development PKI and log key\n"
        "  pki check --cert C --key K|pkcs11:URI [--chain CH] [--passphrase-file F]\n"
        "        [--pkcs11-module LIB --pin-file F|--pin-env VAR]\n"
        "                         the start-up checks of a certificate and key\n"
        "  ledger info|get INDEX|proof inclusion I S|proof consistency A B --data DIR\n"
        "  ledger check-consistency --log-key VKEY OLD_CHECKPOINT NEW_CHECKPOINT PROOF.json\n"
        "                         read the ledger; check a consistency proof offline\n"
        "  ledger check --data DIR [--log-key VKEY] [--all-checkpoints] [--max-problems N]\n"
        "                         recompute the whole ledger from its leaves and compare\n"
        "  case show|export --data DIR --tenant T --case C [--out FILE]\n"
        "                         a case's events; its evidence bundle\n"
        "  case certificate ...   the signed preservation certificate of a sealed case bundle\n"
        "  apikey new [--id ID]   make an API key and its configuration entry\n"
        "  verify ...             verify a document and its receipt offline (report: JSON, PDF)\n"
        "  verify-report ...      check a signed (and time-stamped) verification report\n"
        "  audit ...              replay and audit a ledger mirror\n"
        "  version                print the version\n"
        "  help                   this text\n");
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
    if (strcmp(cmd, "reload") == 0) {
        return cmd_reload(argc - 1, argv + 1);
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
    if (strcmp(cmd, "verify") == 0) {
        return cmd_verify(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "verify-report") == 0) {
        return cmd_verify_report(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "case") == 0 && argc >= 3 && strcmp(argv[2], "certificate") == 0) {
        return cmd_case_certificate(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "case") == 0) {
        return cmd_case(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "audit") == 0) {
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
