/*
 * report_sig_test.c - the signed and time-stamped report (verifier/sign.c):
 * a report signature time-stamped as CAdES-T / RFC 3161 Appendix A verifies
 * against the signer's and the TSA's roots, and each twin fails: the report
 * altered, either root missing, a response to another request, a TSA
 * rejection, a token moved onto another signature, a second time-stamp.
 * Validity is judged at genTime: certificates that expired after the
 * time-stamp still pass, the same signature without it does not.  The TSA
 * is OpenSSL's TS_RESP_CTX (tests/fixture/fixture.h), not our server.
 */
#include "tests/fixture/fixture.h"
#include "tests/unit/test.h"
#include "verifier/verifier.h"

#include <openssl/cms.h>

static char g_dir[256];
static const char g_json[] = "{\n  \"report_version\": 1,\n  \"indication\": \"PASSED\"\n}\n";

typedef struct signer {
    fx_pki pki; /* pki.tsa / pki.tsa_key sign the report */
    char key[600], cert[600], roots[600];
} signer;

static void signer_new(signer *s, const char *name, time_t nb, time_t na)
{
    nt_buf pem = NT_BUF_INIT;
    char root_cn[64];
    snprintf(root_cn, sizeof(root_cn), "%s Root", name);
    REQUIRE(fx_pki_new(&s->pki, root_cn, name, nb, na) == 0);
    snprintf(s->key, sizeof(s->key), "%s/%s.key", g_dir, name);
    snprintf(s->cert, sizeof(s->cert), "%s/%s.pem", g_dir, name);
    snprintf(s->roots, sizeof(s->roots), "%s/%s-root.pem", g_dir, name);
    REQUIRE(fx_write_key_cert(s->key, s->cert, s->pki.tsa_key, s->pki.tsa) == 0);
    REQUIRE(fx_pem_cert(&pem, s->pki.root) == 0);
    REQUIRE(nt_file_write_atomic(s->roots, pem.ptr, pem.len, 0600) == 0);
    nt_buf_dispose(&pem);
}

/* A PEM file holding both roots. */
static void roots_both(char *out, size_t cap, const signer *a, const signer *b)
{
    nt_buf x = NT_BUF_INIT, y = NT_BUF_INIT;
    snprintf(out, cap, "%s/both-%p.pem", g_dir, (const void *)a);
    REQUIRE(nt_file_read(&x, a->roots, 1u << 20) == 0 && nt_file_read(&y, b->roots, 1u << 20) == 0);
    REQUIRE(nt_buf_put(&x, y.ptr, y.len) == 0);
    REQUIRE(nt_file_write_atomic(out, x.ptr, x.len, 0600) == 0);
    nt_buf_dispose(&x);
    nt_buf_dispose(&y);
}

/* Sign g_json with s, time-stamp it by tsa at gen (imprint algorithm accepted: alg). */
static int stamp(nt_buf *out, nt_buf *sig, const signer *s, const signer *tsa, time_t gen, int alg)
{
    nt_buf tsq = NT_BUF_INIT, tsr = NT_BUF_INIT;
    int rc = verifier_report_sign(sig, NT_BYTES(g_json, strlen(g_json)), s->key, s->cert, NULL);
    if (rc == 0) {
        rc = verifier_report_timestamp_request(&tsq, nt_buf_bytes(sig));
    }
    if (rc == 0) {
        rc = fx_ts_respond(&tsr, tsa->pki.tsa_key, tsa->pki.tsa, tsq.ptr, tsq.len, gen, alg);
    }
    if (rc == 0) {
        rc = verifier_report_timestamp_attach(out, nt_buf_bytes(sig), nt_buf_bytes(&tsq),
                                              nt_buf_bytes(&tsr));
    }
    nt_buf_dispose(&tsq);
    nt_buf_dispose(&tsr);
    return rc;
}

static int check(verifier_report_sig_info *info, const char *json, nt_bytes sig, const char *roots)
{
    return verifier_report_signature_verify(info, NT_BYTES(json, strlen(json)), sig, roots);
}

/* The request: v1, SHA-256 of the SignerInfo's signature value, a nonce, certReq. */
static void test_request(void)
{
    signer a;
    nt_buf sig = NT_BUF_INIT, tsq = NT_BUF_INIT, tsq2 = NT_BUF_INIT;
    time_t now = time(NULL);
    signer_new(&a, "Req Signer", now - FX_DAY, now + FX_DAY);
    REQUIRE(verifier_report_sign(&sig, NT_BYTES(g_json, strlen(g_json)), a.key, a.cert, NULL) == 0);
    CHECK_OK(verifier_report_timestamp_request(&tsq, nt_buf_bytes(&sig)));
    CHECK_OK(verifier_report_timestamp_request(&tsq2, nt_buf_bytes(&sig)));

    /* independently: OpenSSL's CMS parser, the signature value, its SHA-256 */
    const unsigned char *p = sig.ptr;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)sig.len);
    REQUIRE(cms != NULL);
    CMS_SignerInfo *si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
    ASN1_OCTET_STRING *sv = CMS_SignerInfo_get0_signature(si);
    uint8_t md[32];
    SHA256(ASN1_STRING_get0_data(sv), (size_t)ASN1_STRING_length(sv), md);
    p = tsq.ptr;
    TS_REQ *req = d2i_TS_REQ(NULL, &p, (long)tsq.len);
    REQUIRE(req != NULL);
    TS_MSG_IMPRINT *mi = TS_REQ_get_msg_imprint(req);
    const ASN1_OBJECT *alg = NULL;
    X509_ALGOR_get0(&alg, NULL, NULL, TS_MSG_IMPRINT_get_algo(mi));
    CHECK(OBJ_obj2nid(alg) == NID_sha256);
    CHECK(ASN1_STRING_length(TS_MSG_IMPRINT_get_msg(mi)) == 32 &&
          memcmp(ASN1_STRING_get0_data(TS_MSG_IMPRINT_get_msg(mi)), md, 32) == 0);
    CHECK(TS_REQ_get_version(req) == 1);
    CHECK(TS_REQ_get_cert_req(req) == 1);
    CHECK(TS_REQ_get_nonce(req) != NULL);
    /* twin: a fresh nonce each time, so a replayed answer cannot be attached */
    CHECK(tsq.len != tsq2.len || memcmp(tsq.ptr, tsq2.ptr, tsq.len) != 0);
    /* twin: not a signature */
    nt_buf junk = NT_BUF_INIT;
    CHECK_ERR(verifier_report_timestamp_request(&junk, NT_BYTES("\x30\x03\x02\x01\x01", 5)),
              NT_EINVAL);
    CHECK(junk.len == 0);

    TS_REQ_free(req);
    CMS_ContentInfo_free(cms);
    nt_buf_dispose(&sig);
    nt_buf_dispose(&tsq);
    nt_buf_dispose(&tsq2);
    fx_pki_dispose(&a.pki);
}

static void test_roundtrip_and_twins(void)
{
    signer a, t;
    char both[700];
    time_t now = time(NULL);
    nt_buf sig = NT_BUF_INIT, stamped = NT_BUF_INIT, again = NT_BUF_INIT,
           signer_subject = NT_BUF_INIT;
    verifier_report_sig_info info = {0};

    signer_new(&a, "Report Signer", now - FX_DAY, now + FX_DAY);
    signer_new(&t, "Stamp TSA", now - FX_DAY, now + FX_DAY);
    roots_both(both, sizeof(both), &a, &t);
    REQUIRE(stamp(&stamped, &sig, &a, &t, now - 60, NID_sha256) == 0);
    CHECK(stamped.len > sig.len);

    CHECK_OK(check(&info, g_json, nt_buf_bytes(&stamped), both));
    CHECK(info.timestamped == 1);
    CHECK(strstr(nt_buf_cstr(&info.signer), "Report Signer") != NULL);
    CHECK(strstr(nt_buf_cstr(&info.ts_tsa), "Stamp TSA") != NULL);
    CHECK(strcmp(nt_buf_cstr(&info.ts_serial), "01234567") == 0);
    char want[40];
    verifier_report_sig_info_dispose(&info);
    {
        struct tm tm;
        time_t g = now - 60;
        gmtime_r(&g, &tm);
        strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    CHECK_OK(check(&info, g_json, nt_buf_bytes(&stamped), both));
    CHECK(strcmp(nt_buf_cstr(&info.ts_gen_time), want) == 0);
    verifier_report_sig_info_dispose(&info);
    /* the older entry point accepts it too */
    CHECK_OK(verifier_report_signature_check(&signer_subject, NT_BYTES(g_json, strlen(g_json)),
                                             nt_buf_bytes(&stamped), both));
    CHECK(strstr(nt_buf_cstr(&signer_subject), "Report Signer") != NULL);
    /* the plain signature verifies, not time-stamped */
    CHECK_OK(check(&info, g_json, nt_buf_bytes(&sig), both));
    CHECK(info.timestamped == 0);
    verifier_report_sig_info_dispose(&info);

    /* twin: the report altered */
    char forged[sizeof(g_json)];
    memcpy(forged, g_json, sizeof(g_json));
    memcpy(strstr(forged, "PASSED"), "FAILED", 6);
    CHECK_ERR(check(&info, forged, nt_buf_bytes(&stamped), both), NT_EVERIFY);
    verifier_report_sig_info_dispose(&info);
    /* twin: the TSA's root missing, then the signer's */
    CHECK_ERR(check(NULL, g_json, nt_buf_bytes(&stamped), a.roots), NT_EVERIFY);
    CHECK(strstr(nt_error_last(), "time-stamp") != NULL);
    CHECK_ERR(check(NULL, g_json, nt_buf_bytes(&stamped), t.roots), NT_EVERIFY);
    CHECK(strstr(nt_error_last(), "report signature") != NULL);
    /* twin: one flipped byte in the token's signature (the last bytes of the DER) */
    nt_buf bad = NT_BUF_INIT;
    REQUIRE(nt_buf_set(&bad, stamped.ptr, stamped.len) == 0);
    bad.ptr[bad.len - 3] ^= 0x01;
    CHECK(check(NULL, g_json, nt_buf_bytes(&bad), both) < 0);
    nt_buf_dispose(&bad);
    /* twin: a second time-stamp is refused, on request and on attach */
    CHECK_ERR(verifier_report_timestamp_request(&again, nt_buf_bytes(&stamped)), NT_EINVAL);

    /* the roots as PEM text (POST /v1/verify-report): the same answers as the file */
    nt_buf pem = NT_BUF_INIT;
    REQUIRE(nt_file_read(&pem, both, 1u << 20) == 0);
    CHECK_OK(verifier_report_signature_verify_pem(&info, NT_BYTES(g_json, strlen(g_json)),
                                                  nt_buf_bytes(&stamped), nt_buf_bytes(&pem)));
    CHECK(info.timestamped == 1 && strstr(nt_buf_cstr(&info.signer), "Report Signer") != NULL);
    verifier_report_sig_info_dispose(&info);
    CHECK_ERR(verifier_report_signature_verify_pem(NULL, NT_BYTES(forged, strlen(forged)),
                                                   nt_buf_bytes(&stamped), nt_buf_bytes(&pem)),
              NT_EVERIFY);
    REQUIRE(nt_file_read(&pem, a.roots, 1u << 20) == 0);
    CHECK_ERR(verifier_report_signature_verify_pem(NULL, NT_BYTES(g_json, strlen(g_json)),
                                                   nt_buf_bytes(&stamped), nt_buf_bytes(&pem)),
              NT_EVERIFY);
    CHECK_ERR(verifier_report_signature_verify_pem(NULL, NT_BYTES(g_json, strlen(g_json)),
                                                   nt_buf_bytes(&stamped), NT_BYTES("x", 1)),
              NT_EINVAL);
    CHECK(strstr(nt_error_last(), "no PEM certificate") != NULL);
    nt_buf_dispose(&pem);

    verifier_report_sig_info_dispose(&info);
    nt_buf_dispose(&sig);
    nt_buf_dispose(&stamped);
    nt_buf_dispose(&again);
    nt_buf_dispose(&signer_subject);
    fx_pki_dispose(&a.pki);
    fx_pki_dispose(&t.pki);
}

/* Answers that must not be attached. */
static void test_attach_refusals(void)
{
    signer a, t;
    time_t now = time(NULL);
    nt_buf sig = NT_BUF_INIT, sig2 = NT_BUF_INIT, tsq = NT_BUF_INIT, tsq2 = NT_BUF_INIT;
    nt_buf tsr = NT_BUF_INIT, tsr2 = NT_BUF_INIT, out = NT_BUF_INIT, rej = NT_BUF_INIT;
    const char other[] = "{\"another\": \"report\"}\n";

    signer_new(&a, "Attach Signer", now - FX_DAY, now + FX_DAY);
    signer_new(&t, "Attach TSA", now - FX_DAY, now + FX_DAY);
    REQUIRE(verifier_report_sign(&sig, NT_BYTES(g_json, strlen(g_json)), a.key, a.cert, NULL) == 0);
    REQUIRE(verifier_report_sign(&sig2, NT_BYTES(other, strlen(other)), a.key, a.cert, NULL) == 0);
    REQUIRE(verifier_report_timestamp_request(&tsq, nt_buf_bytes(&sig)) == 0);
    REQUIRE(verifier_report_timestamp_request(&tsq2, nt_buf_bytes(&sig)) == 0);
    REQUIRE(fx_ts_respond(&tsr, t.pki.tsa_key, t.pki.tsa, tsq.ptr, tsq.len, now, NID_sha256) == 0);
    REQUIRE(fx_ts_respond(&tsr2, t.pki.tsa_key, t.pki.tsa, tsq2.ptr, tsq2.len, now, NID_sha256) ==
            0);

    /* positive: the answer to this request */
    CHECK_OK(verifier_report_timestamp_attach(&out, nt_buf_bytes(&sig), nt_buf_bytes(&tsq),
                                              nt_buf_bytes(&tsr)));
    /* an answer to another request (other nonce) */
    nt_buf_clear(&out);
    CHECK_ERR(verifier_report_timestamp_attach(&out, nt_buf_bytes(&sig), nt_buf_bytes(&tsq),
                                               nt_buf_bytes(&tsr2)),
              NT_EVERIFY);
    CHECK(out.len == 0);
    /* the request of another signature */
    CHECK_ERR(verifier_report_timestamp_attach(&out, nt_buf_bytes(&sig2), nt_buf_bytes(&tsq),
                                               nt_buf_bytes(&tsr)),
              NT_EINVAL);
    /* a rejection: this TSA takes SHA-512 imprints only */
    REQUIRE(fx_ts_respond(&rej, t.pki.tsa_key, t.pki.tsa, tsq.ptr, tsq.len, now, NID_sha512) == 0);
    CHECK_ERR(verifier_report_timestamp_attach(&out, nt_buf_bytes(&sig), nt_buf_bytes(&tsq),
                                               nt_buf_bytes(&rej)),
              NT_EVERIFY);
    /* not DER at all; truncated */
    CHECK_ERR(verifier_report_timestamp_attach(&out, nt_buf_bytes(&sig), nt_buf_bytes(&tsq),
                                               NT_BYTES("<html>", 6)),
              NT_EVERIFY);
    CHECK_ERR(verifier_report_timestamp_attach(&out, nt_buf_bytes(&sig), nt_buf_bytes(&tsq),
                                               NT_BYTES(tsr.ptr, tsr.len - 1)),
              NT_EVERIFY);
    CHECK_ERR(verifier_report_timestamp_attach(&out, nt_buf_bytes(&sig), NT_BYTES("x", 1),
                                               nt_buf_bytes(&tsr)),
              NT_EINVAL);
    CHECK(out.len == 0);

    /* a token moved onto another signature: attached by hand, refused by the check */
    {
        const unsigned char *p = sig2.ptr;
        CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)sig2.len);
        REQUIRE(cms != NULL);
        CMS_SignerInfo *si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
        p = tsr.ptr;
        TS_RESP *resp = d2i_TS_RESP(NULL, &p, (long)tsr.len);
        REQUIRE(resp != NULL);
        unsigned char *tok = NULL, *der = NULL;
        int toklen = i2d_PKCS7(TS_RESP_get_token(resp), &tok);
        REQUIRE(toklen > 0);
        REQUIRE(CMS_unsigned_add1_attr_by_NID(si, NID_id_smime_aa_timeStampToken, V_ASN1_SEQUENCE,
                                              tok, toklen) == 1);
        int len = i2d_CMS_ContentInfo(cms, &der);
        REQUIRE(len > 0);
        char both[700];
        roots_both(both, sizeof(both), &a, &t);
        CHECK_ERR(verifier_report_signature_verify(NULL, NT_BYTES(other, strlen(other)),
                                                   NT_BYTES(der, (size_t)len), both),
                  NT_EVERIFY);
        CHECK(strstr(nt_error_last(), "messageImprint") != NULL);
        OPENSSL_free(der);
        OPENSSL_free(tok);
        TS_RESP_free(resp);
        CMS_ContentInfo_free(cms);
    }

    nt_buf *bufs[] = {&sig, &sig2, &tsq, &tsq2, &tsr, &tsr2, &out, &rej};
    for (size_t i = 0; i < NT_ARRAY_LEN(bufs); i++) {
        nt_buf_dispose(bufs[i]);
    }
    fx_pki_dispose(&a.pki);
    fx_pki_dispose(&t.pki);
}

/*
 * CAdES-T: certificates that expired after the time-stamp still vouch for
 * the signature it covers; without the time-stamp they do not.
 */
static void test_validity_at_gen_time(void)
{
    signer a, t;
    char both[700];
    time_t now = time(NULL);
    nt_buf sig = NT_BUF_INIT, stamped = NT_BUF_INIT, late_sig = NT_BUF_INIT, late = NT_BUF_INIT;
    verifier_report_sig_info info = {0};

    /* both certificates valid from 10 days ago to 5 days ago */
    signer_new(&a, "Old Signer", now - 10 * FX_DAY, now - 5 * FX_DAY);
    signer_new(&t, "Old TSA", now - 10 * FX_DAY, now - 5 * FX_DAY);
    roots_both(both, sizeof(both), &a, &t);
    REQUIRE(stamp(&stamped, &sig, &a, &t, now - 7 * FX_DAY, NID_sha256) == 0);
    CHECK_OK(check(&info, g_json, nt_buf_bytes(&stamped), both));
    CHECK(info.timestamped == 1);
    verifier_report_sig_info_dispose(&info);
    /* twin: the same signature without its time-stamp, judged now */
    CHECK_ERR(check(NULL, g_json, nt_buf_bytes(&sig), both), NT_EVERIFY);
    /* twin: a time-stamp dated after the certificates expired */
    REQUIRE(stamp(&late, &late_sig, &a, &t, now - 2 * FX_DAY, NID_sha256) == 0);
    CHECK_ERR(check(NULL, g_json, nt_buf_bytes(&late), both), NT_EVERIFY);

    nt_buf_dispose(&sig);
    nt_buf_dispose(&stamped);
    nt_buf_dispose(&late_sig);
    nt_buf_dispose(&late);
    fx_pki_dispose(&a.pki);
    fx_pki_dispose(&t.pki);
}

/* No network without a valid http(s):// URL: refused before anything is sent. */
static void test_timestamp_url_refused(void)
{
    nt_buf out = NT_BUF_INIT;
    CHECK_ERR(verifier_report_timestamp(&out, NT_BYTES("x", 1), "ftp://tsa.example/", NULL),
              NT_EINVAL);
    CHECK_ERR(verifier_report_timestamp(&out, NT_BYTES("x", 1), "file:///etc/passwd", NULL),
              NT_EINVAL);
    CHECK_ERR(verifier_report_timestamp(&out, NT_BYTES("x", 1), "https://u:pw@tsa.example/", NULL),
              NT_EINVAL);
    CHECK(out.len == 0);
}

int main(void)
{
    REQUIRE(test_tmpdir(g_dir, sizeof(g_dir)) != NULL);
    test_request();
    test_roundtrip_and_twins();
    test_attach_refusals();
    test_validity_at_gen_time();
    test_timestamp_url_refused();
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", g_dir);
    }
    return TEST_END();
}
