/*
 * cmd_verify.c - `notarium verify` and `notarium verify-report`: thin
 * wrappers over the command lines in nt_verifier (verifier/cli.c), which the
 * standalone `notarium-verify` shares.  tools/main.c dispatches here through
 * weak symbols; argv[0] is the subcommand name, options follow.
 */
#include "verifier/verifier.h"

int cmd_verify(int argc, char **argv);
int cmd_verify_report(int argc, char **argv);

int cmd_verify(int argc, char **argv)
{
    return verifier_cli_verify(argc, argv, "notarium verify");
}

int cmd_verify_report(int argc, char **argv)
{
    return verifier_cli_verify_report(argc, argv, "notarium verify-report");
}
