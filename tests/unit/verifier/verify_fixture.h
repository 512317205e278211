/*
 * verify_fixture.h - shared by the verifier's unit tests (tests/unit/verifier/):
 * one verifier run reduced to what the tests compare, the indication and the
 * sub-indication.  Header-only, a static helper, included once per test
 * executable.
 */
#ifndef NT_VERIFY_FIXTURE_H
#define NT_VERIFY_FIXTURE_H

#include "tests/unit/test.h"
#include "verifier/verifier.h"

/* Run the verifier and return the indication; *sub gets the sub-indication
 * ("" for none; "ERROR" and -1 when verifier_run itself failed).  *sub points
 * to a static buffer, valid until the next call. */
static NT_UNUSED verifier_indication vfx_run(const verifier_options *o, const char **sub)
{
    static char subbuf[64];
    verifier_report *r = NULL;
    int rc = verifier_run(&r, o);
    if (rc != 0) {
        fprintf(stderr, "verifier_run: %s\n", nt_error_last());
        *sub = "ERROR";
        return (verifier_indication)-1;
    }
    const char *s = verifier_report_subindication(r);
    snprintf(subbuf, sizeof(subbuf), "%s", s != NULL ? s : "");
    *sub = subbuf;
    verifier_indication ind = verifier_report_indication(r);
    verifier_report_free(r);
    return ind;
}

#endif
