/*
 * verify_report_sig_fuzz.c - fuzz target for the report signature code of the
 * verifier (verifier/sign.c), which reads a detached CMS signature handed over
 * with a report (`verify-report`, POST /v1/verify-report) and the
 * TimeStampResp a TSA sends back for it (`--tsa`).  The first input byte picks
 * the path, the rest is the outside bytes:
 *   even: the bytes as the report's signature, through
 *         verifier_report_signature_verify_pem and verifier_report_timestamp_request;
 *   odd:  the bytes as the TSA's answer to the request for a genuine signature,
 *         through verifier_report_timestamp_attach.
 * Invariants: only the documented codes come back; random bytes never verify;
 * an answer that attaches leaves a signature that cannot be stamped again.
 * A root, a signer and a signature are made once per process (files in a
 * temporary directory, as verifier_report_sign reads them).  With
 * NT_FUZZ_SEED_DIR set, the first run writes seeds there (tests/fuzz/corpus/
 * verify_report_sig/ came from it).
 */
#include "tests/fixture/fixture.h"
#include "verifier/verifier.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char g_report[] = "{\"indication\":\"PASSED\",\"fuzz\":true}\n";
static nt_buf g_trust = NT_BUF_INIT, g_sig = NT_BUF_INIT, g_tsq = NT_BUF_INIT;

static void seed(const char *dir, const char *name, uint8_t mode, const nt_buf *body)
{
    nt_buf path = NT_BUF_INIT, bytes = NT_BUF_INIT;
    if (nt_buf_printf(&path, "%s/%s", dir, name) < 0 || nt_buf_putc(&bytes, mode) < 0 ||
        nt_buf_put(&bytes, body->ptr, body->len) < 0 ||
        nt_file_write_atomic(nt_buf_cstr(&path), bytes.ptr, bytes.len, 0644) < 0) {
        abort();
    }
    nt_buf_dispose(&path);
    nt_buf_dispose(&bytes);
}

static void fuzz_init(void)
{
    static int done;
    char dir[] = "/tmp/nt-fuzz-report-sig-XXXXXX";
    char key[64], cert[64];
    fx_pki pki;
    time_t now = 1767225600; /* fixed: 2026-01-01 */
    if (done) {
        return;
    }
    done = 1;
    if (mkdtemp(dir) == NULL) {
        abort();
    }
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    /* the TSA certificate of the fixture PKI signs the report (any leaf would do) */
    if (fx_pki_new(&pki, "Fuzz Root", "Fuzz Signer", now - FX_DAY, now + 3650 * FX_DAY) < 0 ||
        fx_pem_cert(&g_trust, pki.root) < 0 ||
        fx_write_key_cert(key, cert, pki.tsa_key, pki.tsa) < 0 ||
        verifier_report_sign(&g_sig, NT_BYTES(g_report, sizeof(g_report) - 1), key, cert, NULL) <
            0 ||
        verifier_report_timestamp_request(&g_tsq, nt_buf_bytes(&g_sig)) < 0) {
        abort();
    }
    const char *seeds = getenv("NT_FUZZ_SEED_DIR");
    if (seeds != NULL) {
        nt_buf tsr = NT_BUF_INIT, stamped = NT_BUF_INIT;
        if (fx_ts_respond(&tsr, pki.tsa_key, pki.tsa, g_tsq.ptr, g_tsq.len, now, NID_sha256) < 0 ||
            verifier_report_timestamp_attach(&stamped, nt_buf_bytes(&g_sig), nt_buf_bytes(&g_tsq),
                                             nt_buf_bytes(&tsr)) < 0) {
            abort();
        }
        seed(seeds, "signature", 0, &g_sig);
        seed(seeds, "signature_stamped", 0, &stamped);
        seed(seeds, "answer_other_request", 1, &tsr); /* the nonce differs in every process */
        nt_buf_clear(&tsr);
        if (fx_ts_respond(&tsr, pki.tsa_key, pki.tsa, g_tsq.ptr, g_tsq.len, now, NID_sha512) < 0) {
            abort();
        }
        seed(seeds, "answer_rejection", 1, &tsr);
        nt_buf_dispose(&tsr);
        nt_buf_dispose(&stamped);
    }
    unlink(key);
    unlink(cert);
    rmdir(dir);
    fx_pki_dispose(&pki);
}

static int documented(int rc)
{
    return rc == 0 || rc == NT_EVERIFY || rc == NT_EINVAL || rc == NT_ENOMEM || rc == NT_ECRYPTO;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nt_buf out = NT_BUF_INIT, again = NT_BUF_INIT;
    verifier_report_sig_info info = {0};
    fuzz_init();
    if (size == 0) {
        return 0;
    }
    nt_bytes in = NT_BYTES(data + 1, size - 1);
    if (data[0] % 2 == 0) {
        int rc = verifier_report_signature_verify_pem(
            &info, NT_BYTES(g_report, sizeof(g_report) - 1), in, nt_buf_bytes(&g_trust));
        /* only the genuine signature verifies (a random one would be a forgery) */
        if (!documented(rc) ||
            (rc == 0 && (in.len != g_sig.len || memcmp(in.ptr, g_sig.ptr, in.len) != 0))) {
            abort();
        }
        if (!documented(verifier_report_timestamp_request(&out, in))) {
            abort();
        }
    } else {
        int rc =
            verifier_report_timestamp_attach(&out, nt_buf_bytes(&g_sig), nt_buf_bytes(&g_tsq), in);
        if (!documented(rc)) {
            abort();
        }
        if (rc == 0 && verifier_report_timestamp_request(&again, nt_buf_bytes(&out)) != NT_EINVAL) {
            abort(); /* attached: a second time-stamp is refused */
        }
    }
    verifier_report_sig_info_dispose(&info);
    nt_buf_dispose(&out);
    nt_buf_dispose(&again);
    return 0;
}
