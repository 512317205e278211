/*
 * main.c - the standalone offline verifier `notarium-verify`: the same
 * command line as `notarium verify`, built from nt_verifier alone so that a
 * court's expert needs only OpenSSL, jansson and (for PDF) cairo + pango.
 *   notarium-verify [verify] OPTIONS...        see docs/REPORT.md
 *   notarium-verify report OPTIONS...          same as `notarium verify-report`
 */
#include "verifier/verifier.h"

#include <string.h>

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "report") == 0) {
        return verifier_cli_verify_report(argc - 1, argv + 1, "notarium-verify report");
    }
    if (argc >= 2 && strcmp(argv[1], "verify") == 0) {
        return verifier_cli_verify(argc - 1, argv + 1, "notarium-verify");
    }
    return verifier_cli_verify(argc, argv, "notarium-verify");
}
