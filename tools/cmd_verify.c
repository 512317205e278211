/*
 * cmd_verify.c - `notarium verify` and `notarium verify-report`: thin
 * wrappers over the command lines in nt_verifier (verifier/cli.c), which the
 * standalone `notarium-verify` shares.  tools/main.c dispatches here through
 * weak symbols; argv[0] is the subcommand name, options follow.
 */
#include "verifier/verifier.h"

int cmd_verify(int argc, char **argv);
int cmd_verify_report(int argc, char **argv);
int cmd_case_certificate(int argc, char **argv);

/*
 * LeakSanitizer hook (used only in sanitizer builds; the same list as
 * verifier/cli/main.c): `notarium verify --report-pdf` loads fontconfig,
 * pango and cairo, whose process-wide font caches are never freed; those
 * are not our leaks.  The hook is process-wide, but no other part of
 * `notarium` uses these libraries, and only frames inside them are matched,
 * so no leak of ours elsewhere is hidden; report_pdf.c releases every layout
 * and font description it creates.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig.so\nleak:libpango\nleak:libcairo.so\nleak:libglib-2.0.so\n"
           "leak:libharfbuzz.so\nleak:libfreetype.so\n";
}

int cmd_verify(int argc, char **argv)
{
    return verifier_cli_verify(argc, argv, "notarium verify");
}

int cmd_verify_report(int argc, char **argv)
{
    return verifier_cli_verify_report(argc, argv, "notarium verify-report");
}

int cmd_case_certificate(int argc, char **argv)
{
    return verifier_cli_case_certificate(argc, argv, "notarium case certificate");
}
