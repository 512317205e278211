/*
 * server_cases_cert.c - GET /v1/cases/<case>/certificate?lang=en|zh&format=json|pdf
 * (issue 11, docs/HTTP-API.md), on the read pool.  The case is looked up
 * under the API key's tenant as for /bundle (the same 404 for absent and
 * not-yours); a sealed case's bundle is verified with this server's own
 * anchors (its TSA root and log key, as POST /v1/verify does), and the
 * certificate of the verifier (verifier_case_certificate) is
 *
 * - format=json: signed with the "cases" key exactly as `notarium case
 *   certificate` signs (verifier_report_sign), and time-stamped by this
 *   server: the TimeStampReq of verifier_report_timestamp_request is
 *   answered by the default identity's TSA core, its kind-0x01 leaf appended
 *   to the ledger like every token the server issues, and only once that
 *   leaf is committed is the token attached (verifier_report_timestamp_attach)
 *   and the answer sent.  `notarium verify-report` checks it offline.
 * - format=pdf: the same certificate rendered for people (en or zh).
 */
#include "tsa/server_cases_int.h"
#include "verifier/verifier.h"

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define CERT_KEY_MAX (1u << 20)

/* The key file's mode, as for every private key: group and others have no access. */
static int key_mode_check(const server_config *cfg)
{
    nt_buf key = NT_BUF_INIT;
    char why[512];
    int error = nt_file_read_private(&key, cfg->cases_certificate_key, CERT_KEY_MAX);

    nt_buf_dispose_secret(&key);
    if (error < 0) {
        snprintf(why, sizeof(why), "%s", nt_error_last());
        return nt_error_set(error, "cases.certificate_key: %s", why);
    }
    return 0;
}

int server__cases_signer_check(const server_config *cfg)
{
    nt_buf key = NT_BUF_INIT, pem = NT_BUF_INIT;
    BIO *kb = NULL, *cb = NULL;
    EVP_PKEY *pkey = NULL;
    X509 *x = NULL;
    int error = 0;

    if (cfg->cases_certificate_cert == NULL) {
        return 0;
    }
    NT_TRY(key_mode_check(cfg));
    NT_TRY(nt_file_read_private(&key, cfg->cases_certificate_key, CERT_KEY_MAX));
    NT_TRY(nt_file_read(&pem, cfg->cases_certificate_cert, CERT_KEY_MAX));
    NT_ENSURE((kb = BIO_new_mem_buf(key.ptr, (int)key.len)) != NULL &&
                  (cb = BIO_new_mem_buf(pem.ptr, (int)pem.len)) != NULL,
              NT_ENOMEM, "out of memory");
    pkey = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
    x = PEM_read_bio_X509(cb, NULL, NULL, NULL);
    ERR_clear_error();
    NT_ENSURE(pkey != NULL, NT_EINVAL, "cases.certificate_key: %s: not a PEM private key",
              cfg->cases_certificate_key);
    NT_ENSURE(x != NULL, NT_EINVAL, "cases.certificate_cert: %s: not a PEM certificate",
              cfg->cases_certificate_cert);
    NT_ENSURE(X509_check_private_key(x, pkey) == 1, NT_EINVAL,
              "cases.certificate_key: %s is not the key of cases.certificate_cert %s",
              cfg->cases_certificate_key, cfg->cases_certificate_cert);
done:
    ERR_clear_error();
    X509_free(x);
    EVP_PKEY_free(pkey);
    BIO_free(kb);
    BIO_free(cb);
    nt_buf_dispose_secret(&key);
    nt_buf_dispose(&pem);
    return error;
}

/* Answer `tsq` with the default identity and anchor the token in the ledger: 0 with the
 * TimeStampResp in *res and the leaf's index, or -1 with `r` filled. */
static int stamp(tsa_result *res, uint64_t *index, server_reply *r, server *s, nt_bytes tsq)
{
    server_live *lv = server__live_acquire(s);
    nt_buf leaf = NT_BUF_INIT;
    record rec;
    uint64_t ns;
    int rc = tsa_respond(res, lv->ids[lv->dflt].tsa, tsq);

    server__live_release(lv);
    if (rc == 0 && !res->granted && res->fail == TSA_FAIL_TIME_NOT_AVAILABLE) {
        server_reply_error(r, 503, "time_not_available", NULL, "cannot time-stamp now: %s",
                           res->reason);
        r->retry_after = 1;
        return -1;
    }
    if (rc < 0 || !res->granted) {
        server_reply_error(r, 500, "internal_error", NULL, "time-stamp: %s",
                           rc < 0 ? nt_error_last() : res->reason);
        return -1;
    }
    memset(&rec, 0, sizeof(rec));
    rec.kind = RECORD_KIND_TIMESTAMP;
    rec.alg = res->alg;
    rec.digest = nt_buf_bytes(&res->digest);
    rec.label = NT_BYTES("", 0);
    rec.token = nt_buf_bytes(&res->token);
    ns = (uint64_t)res->gen_time.tv_sec * 1000000000u + (uint64_t)res->gen_time.tv_nsec;
    rc = record_encode(&leaf, &rec);
    if (rc == 0) {
        rc = ledger_append_full(index, s->ledger, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0),
                                NT_BYTES(NULL, 0), ns);
    }
    nt_buf_dispose(&leaf);
    if (rc < 0) {
        /* nothing was handed out: the token not anchored is dropped */
        server_reply_error(r, 503, "ledger_unavailable", NULL,
                           "the time-stamp could not be recorded in the ledger, retry later");
        r->retry_after = 1;
        return -1;
    }
    atomic_fetch_add(&s->metrics.tokens_granted, 1);
    return 0;
}

/* format=json: sign, time-stamp, answer {"certificate", "signature", "timestamp"}. */
static void reply_signed(server_reply *r, server *s, const nt_buf *cert)
{
    const server_config *cfg = s->cfg;
    nt_buf sig = NT_BUF_INIT, tsq = NT_BUF_INIT, stamped = NT_BUF_INIT, b64 = NT_BUF_INIT;
    tsa_result res;
    uint64_t index = 0;
    json_t *out;

    tsa_result_init(&res);
    if (key_mode_check(cfg) < 0 ||
        verifier_report_sign(&sig, nt_buf_bytes(cert), cfg->cases_certificate_key,
                             cfg->cases_certificate_cert, cfg->cases_certificate_chain) < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "signing: %s", nt_error_last());
        goto done;
    }
    if (verifier_report_timestamp_request(&tsq, nt_buf_bytes(&sig)) < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "time-stamp: %s", nt_error_last());
        goto done;
    }
    if (stamp(&res, &index, r, s, nt_buf_bytes(&tsq)) < 0) {
        goto done;
    }
    if (verifier_report_timestamp_attach(&stamped, nt_buf_bytes(&sig), nt_buf_bytes(&tsq),
                                         nt_buf_bytes(&res.response)) < 0 ||
        nt_base64_encode(&b64, stamped.ptr, stamped.len) < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "time-stamp: %s", nt_error_last());
        goto done;
    }
    out = json_pack("{s:s%, s:s%, s:{s:I}}", "certificate", (const char *)cert->ptr, cert->len,
                    "signature", (const char *)b64.ptr, b64.len, "timestamp", "leaf_index",
                    (json_int_t)index);
    if (out == NULL) {
        server_reply_error(r, 500, "internal_error", NULL, "out of memory");
        goto done;
    }
    server_reply_json(r, 200, out);
done:
    tsa_result_dispose(&res);
    nt_buf_dispose(&sig);
    nt_buf_dispose(&tsq);
    nt_buf_dispose(&stamped);
    nt_buf_dispose(&b64);
}

/* 0 with *lang and *pdf, or -1 with `r` filled (400, 501). */
static int cert_options(const char **lang, int *pdf, server_reply *r, server *s, const char *format)
{
    *lang = *lang != NULL ? *lang : "en";
    if (strcmp(*lang, "en") != 0 && strcmp(*lang, "zh") != 0) {
        server_reply_error(r, 400, "invalid_lang", "lang", "lang must be en or zh");
        return -1;
    }
    if (format != NULL && strcmp(format, "json") != 0 && strcmp(format, "pdf") != 0) {
        server_reply_error(r, 400, "invalid_format", "format", "format must be json or pdf");
        return -1;
    }
    *pdf = format != NULL && strcmp(format, "pdf") == 0;
    if (*pdf && !verifier_pdf_supported()) {
        server_reply_error(r, 501, "pdf_unsupported", "format",
                           "this server was built without PDF reports");
        return -1;
    }
    if (s->cfg->cases_certificate_cert == NULL) {
        server_reply_error(r, 501, "certificate_not_configured", NULL,
                           "this server issues no case certificates (no \"cases\" signer)");
        return -1;
    }
    return 0;
}

void server_get_case_certificate(server_reply *r, server *s, const char *case_id,
                                 const char *tenant, const char *lang, const char *format)
{
    ledger_case_head h;
    verifier_case_options o;
    verifier_case_report *rep = NULL;
    nt_buf bundle = NT_BUF_INIT, cert = NT_BUF_INIT;
    struct timespec now;
    int pdf = 0, entered = 0;

    memset(&o, 0, sizeof(o));
    if (cert_options(&lang, &pdf, r, s, format) < 0 ||
        server__case_head(&h, r, s, case_id, tenant) < 0) {
        goto done;
    }
    if (!h.sealed) {
        server_reply_error(r, 409, "case_not_sealed", NULL,
                           "the case's last event is not case.completed");
        goto done;
    }
    /* Verification is CPU work: the cap of POST /v1/verify. */
    entered = 1;
    if (atomic_fetch_add(&s->verifying, 1) >= s->verify_max) {
        server_reply_error(r, 503, "overloaded", NULL, "%u verifications are running, retry later",
                           s->verify_max);
        r->retry_after = 1;
        goto done;
    }
    if (server__case_bundle(&bundle, s, tenant, case_id) < 0 || nt_clock_now(&now) < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "bundle: %s", nt_error_last());
        goto done;
    }
    o.bundle = nt_buf_bytes(&bundle);
    o.trust = nt_buf_bytes(&s->trust_pem);
    o.log_key = nt_buf_bytes(&s->log_vkey);
    o.now = now.tv_sec;
    if (verifier_case_run(&rep, &o) < 0 || verifier_case_certificate(&cert, rep, now.tv_sec) < 0) {
        /* the server's own records do not verify with its own anchors */
        server_reply_error(r, 500, "internal_error", NULL, "the case does not verify: %s",
                           nt_error_last());
        goto done;
    }
    if (!pdf) {
        reply_signed(r, s, &cert);
        goto done;
    }
    nt_buf_clear(&cert);
    if (verifier_case_certificate_pdf(&cert, NULL, rep, now.tv_sec, lang) < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "pdf: %s", nt_error_last());
        goto done;
    }
    server_reply_take(r, &cert, "application/pdf");
done:
    if (entered) {
        atomic_fetch_sub(&s->verifying, 1);
    }
    verifier_case_report_free(rep);
    nt_buf_dispose(&bundle);
    nt_buf_dispose(&cert);
}
