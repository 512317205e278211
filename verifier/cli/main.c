/*
 * main.c - the standalone offline verifier `notarium-verify`: the same
 * command line as `notarium verify`, built from nt_verifier alone so that a
 * court's expert needs only OpenSSL, jansson and (for PDF) cairo + pango.
 *   notarium-verify [verify] OPTIONS...        see docs/REPORT.md
 *   notarium-verify report OPTIONS...          same as `notarium verify-report`
 *   notarium-verify certificate OPTIONS...     same as `notarium case certificate`
 */
#include "verifier/verifier.h"

#include <string.h>

/*
 * LeakSanitizer hook (used only in sanitizer builds): fontconfig, pango and
 * cairo keep process-wide font caches that they never free; those are not
 * our leaks.  A leak of ours that passes through these libraries would be
 * hidden too, which is why report_pdf.c releases every layout and font
 * description it creates.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig.so\nleak:libpango\nleak:libcairo.so\nleak:libglib-2.0.so\n"
           "leak:libharfbuzz.so\nleak:libfreetype.so\n";
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "report") == 0) {
        return verifier_cli_verify_report(argc - 1, argv + 1, "notarium-verify report");
    }
    if (argc >= 2 && strcmp(argv[1], "certificate") == 0) {
        return verifier_cli_case_certificate(argc - 1, argv + 1, "notarium-verify certificate");
    }
    if (argc >= 2 && strcmp(argv[1], "verify") == 0) {
        return verifier_cli_verify(argc - 1, argv + 1, "notarium-verify");
    }
    return verifier_cli_verify(argc, argv, "notarium-verify");
}
