/*
 * verify_bundle_fuzz.c - fuzz target for the verifier's handling of an
 * evidence bundle from outside: the input is a bundle (JSON) run through
 * verifier_case_run (bundle reader, every event as a receipt view, body
 * parser, the case checks) and rendered to JSON.  A fixed trust anchor and
 * log key are minted once; no document or disclosure is read.  Invariant:
 * a report always comes back (a malformed bundle is a FAILED report), with
 * an indication, and its JSON renders.
 */
#include "tests/fixture/fixture.h"
#include "verifier/verifier.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static nt_buf g_trust = NT_BUF_INIT;
static nt_buf g_vkey = NT_BUF_INIT;

static void fuzz_init(void)
{
    static int done;
    if (done) {
        return;
    }
    done = 1;
    if (fx_fuzz_anchors(&g_trust, &g_vkey, "notarium.test/cases") < 0) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    verifier_case_options o;
    verifier_case_report *r = NULL;
    nt_buf json = NT_BUF_INIT;
    fuzz_init();
    memset(&o, 0, sizeof(o));
    o.bundle = NT_BYTES(size > 0 ? data : (const uint8_t *)"", size);
    o.trust = nt_buf_bytes(&g_trust);
    o.log_key = nt_buf_bytes(&g_vkey);
    o.now = 1767225600;
    int rc = verifier_case_run(&r, &o);
    if (rc == NT_ENOMEM) {
        return 0;
    }
    if (rc != 0 || r == NULL || verifier_case_report_json(&json, r) != 0 || json.len == 0) {
        abort();
    }
    if (verifier_case_report_indication(r) == VERIFIER_PASSED) {
        abort(); /* nothing signed by the fixed keys can be in the corpus or be found */
    }
    verifier_case_report_free(r);
    nt_buf_dispose(&json);
    return 0;
}
