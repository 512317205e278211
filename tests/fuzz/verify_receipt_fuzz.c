/*
 * verify_receipt_fuzz.c - fuzz target for the verifier's handling of
 * outside bytes: the input is a receipt (JSON) run through every step of
 * verifier_run (receipt codec, DER token, CMS, leaf record, signed note,
 * inclusion proof) and rendered to JSON.  A fixed trust anchor and log key
 * are minted once; the digest is supplied, so no file is read.
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
    if (fx_fuzz_anchors(&g_trust, &g_vkey, "notarium.test/log") < 0) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    verifier_options o;
    verifier_report *r = NULL;
    nt_buf json = NT_BUF_INIT;
    fuzz_init();
    memset(&o, 0, sizeof(o));
    o.digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    o.receipt = NT_BYTES(size > 0 ? data : (const uint8_t *)"", size);
    o.trust = nt_buf_bytes(&g_trust);
    o.log_key = nt_buf_bytes(&g_vkey);
    o.now = 1767225600;
    if (verifier_run(&r, &o) == 0) {
        if (verifier_report_json(&json, r) < 0 ||
            verifier_report_indication(r) == VERIFIER_PASSED) {
            abort(); /* a random receipt never proves this digest under these anchors */
        }
    }
    verifier_report_free(r);
    nt_buf_dispose(&json);
    return 0;
}
