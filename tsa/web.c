/*
 * web.c - the verification page for courts and arbitrators
 * (docs/VERIFY-PAGE.md): the static files of tsa/web/, compiled into the
 * binary at build time (cmake/embed.cmake writes web_assets.c into the build
 * tree), served with a strict Content-Security-Policy; GET /v1/trust, the
 * anchors POST /v1/verify checks against, so the page can show them; POST
 * /v1/verify-report, the check `notarium verify-report` runs, for a signed
 * report dropped on the page; and the PDF rendering of POST /v1/verify.
 * MHD-free like server*.c: http.c routes here and turns the server_reply into
 * a response.  The document itself never reaches this file: the page hashes
 * it in the browser and sends only the digest.
 */
#include "tsa/server_int.h"
#include "tsa/web_int.h"
#include "verifier/verifier.h"

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <string.h>

/*
 * Sent with every page file.  No inline script or style anywhere (the page
 * loads verify.js and verify.css from here), no third-party origin, no
 * framing, no referrer; the browser fetches only from this server.
 */
const char *const server_web_headers[] = {
    "Content-Security-Policy",
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options",
    "nosniff",
    "Referrer-Policy",
    "no-referrer",
    "X-Frame-Options",
    "DENY",
    NULL,
};

/* ------------------------------------------------------------------ static files */

void server_web_get(server_reply *r, server *s, const char *url)
{
    const char *name = NULL;

    if (!s->cfg->web_verify_page) {
        server_reply_error(r, 404, "not_found", NULL, "the verification page is switched off");
        return;
    }
    if (strcmp(url, "/") == 0) {
        name = "index.html";
    } else if (strcmp(url, "/verify") == 0) {
        name = "verify.html";
    } else if (strncmp(url, "/web/", 5) == 0) {
        name = url + 5;
    }
    for (size_t i = 0; name != NULL && i < web_asset_count; i++) {
        const web_asset *a = &web_assets[i];
        /* The HTML pages are served at / and /verify only. */
        if (strcmp(a->name, name) != 0 || (name == url + 5 && strstr(name, ".html") != NULL)) {
            continue;
        }
        nt_buf_clear(&r->body);
        if (nt_buf_set(&r->body, a->data, a->len) < 0) {
            server_reply_error(r, 500, "internal_error", NULL, "out of memory");
            return;
        }
        r->status = 200;
        r->content_type = a->type;
        r->web = 1;
        return;
    }
    server_reply_error(r, 404, "not_found", NULL, "no such resource");
}

/* ------------------------------------------------------------------ GET /v1/trust */

/* {subject, sha256, pem} of every certificate in `pem`, appended to `arr`. */
static int certs_json(json_t *arr, nt_bytes pem)
{
    STACK_OF(X509) *certs = NULL;
    BIO *out = NULL;
    X509 *x = NULL;
    nt_buf fp = NT_BUF_INIT;
    char *text = NULL;
    long len;
    int error = 0;

    if (pem.len == 0) {
        return 0;
    }
    NT_TRY(nt_x509_pem_certs(&certs, pem, "trust certificates")); /* util/x509.c */
    while ((x = sk_X509_shift(certs)) != NULL) {
        nt_buf_clear(&fp);
        NT_TRY(certs_cert_fingerprint(&fp, x));
        NT_ENSURE((out = BIO_new(BIO_s_mem())) != NULL, NT_ENOMEM, "out of memory");
        /* X509_NAME_print_ex: -1 on error, else the byte count (0 for an empty name). */
        NT_OSSL(X509_NAME_print_ex(out, X509_get_subject_name(x), 0,
                                   XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) +
                    1,
                "subject");
        NT_OSSL(PEM_write_bio_X509(out, x), "PEM");
        len = BIO_get_mem_data(out, &text);
        {
            /* The subject, then the PEM text (it starts at "-----BEGIN").  A memory BIO's
             * data is not NUL-terminated: search its `len` bytes only. */
            static const char mark[] = "-----BEGIN";
            const char *begin = NULL;
            for (long i = 0; text != NULL && i + (long)sizeof(mark) - 1 <= len; i++) {
                if (memcmp(text + i, mark, sizeof(mark) - 1) == 0) {
                    begin = text + i;
                    break;
                }
            }
            NT_ENSURE(begin != NULL, NT_ECRYPTO, "cannot encode a certificate");
            NT_ENSURE(json_array_append_new(arr, json_pack("{s:s%, s:s, s:s%}", "subject", text,
                                                           (size_t)(begin - text), "sha256",
                                                           nt_buf_cstr(&fp), "pem", begin,
                                                           (size_t)(len - (begin - text)))) == 0,
                      NT_ENOMEM, "out of memory");
        }
        BIO_free(out);
        out = NULL;
        X509_free(x);
        x = NULL;
    }
done:
    X509_free(x);
    sk_X509_pop_free(certs, X509_free);
    BIO_free(out);
    nt_buf_dispose(&fp);
    return error;
}

/* The report signers' roots (web.report_trust), appended to out; nothing when unset. */
static int report_roots(nt_buf *out, server *s)
{
    nt_buf pem = NT_BUF_INIT;
    int error = 0;
    if (s->cfg->web_report_trust != NULL) {
        NT_TRY(nt_file_read(&pem, s->cfg->web_report_trust, 16u << 20));
        NT_TRY(nt_buf_putc(out, '\n'));
        NT_TRY(nt_buf_put(out, pem.ptr, pem.len));
    }
done:
    nt_buf_dispose(&pem);
    return error;
}

void server_get_trust(server_reply *r, server *s)
{
    json_t *root = NULL, *roots = NULL, *signers = NULL;
    nt_buf extra = NT_BUF_INIT, vkey = NT_BUF_INIT;
    int error = 0;

    NT_ENSURE((roots = json_array()) != NULL && (signers = json_array()) != NULL, NT_ENOMEM,
              "out of memory");
    NT_TRY(certs_json(roots, nt_buf_bytes(&s->trust_pem)));
    NT_TRY(report_roots(&extra, s));
    NT_TRY(certs_json(signers, nt_buf_bytes(&extra)));
    NT_TRY(nt_buf_set(&vkey, s->log_vkey.ptr, s->log_vkey.len));
    while (vkey.len > 0 && vkey.ptr[vkey.len - 1] == '\n') {
        vkey.ptr[--vkey.len] = '\0';
    }
    root = json_pack("{s:o, s:{s:s, s:s}, s:o, s:b}", "tsa_roots", roots, "log_key", "origin",
                     ledger_origin(s->ledger), "vkey", nt_buf_cstr(&vkey), "report_roots", signers,
                     "pdf", verifier_pdf_supported());
    roots = signers = NULL;
    NT_ENSURE(root != NULL, NT_ENOMEM, "out of memory");
    server_reply_json(r, 200, root);
    root = NULL;
done:
    if (error < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "trust anchors: %s", nt_error_last());
    }
    json_decref(root);
    json_decref(roots);
    json_decref(signers);
    nt_buf_dispose(&extra);
    nt_buf_dispose(&vkey);
}

/* ------------------------------------------------------------------ POST /v1/verify,
 * /v1/verify-report */

int server_verify_enter(struct json_t **out, server_reply *r, server *s, nt_bytes body,
                        const char *member1, const char *member2)
{
    const char *const members[] = {member1, member2, NULL};

    *out = NULL;
    /* Verification is CPU work on an HTTP worker: keep workers free for issuance. */
    if (atomic_fetch_add(&s->verifying, 1) >= s->verify_max) {
        server_reply_error(r, 503, "overloaded", NULL, "%u verifications are running, retry later",
                           s->verify_max);
        r->retry_after = 1;
        return NT_EBUSY;
    }
    if (server_json_body(out, r, body, members) < 0) { /* server_body.c */
        return NT_EINVAL;
    }
    return 0;
}

/* ------------------------------------------------------------------ POST /v1/verify?format=pdf */

int server_web_pdf(server_reply *r, const verifier_report *rep, const char *lang)
{
    nt_buf pdf = NT_BUF_INIT;

    lang = lang != NULL ? lang : "en";
    if (strcmp(lang, "en") != 0 && strcmp(lang, "zh") != 0) {
        server_reply_error(r, 400, "invalid_lang", "lang", "lang must be en or zh");
        return NT_EINVAL;
    }
    if (!verifier_pdf_supported()) {
        server_reply_error(r, 501, "pdf_unsupported", "format",
                           "this server was built without PDF reports");
        return NT_EUNSUPPORTED;
    }
    if (verifier_report_pdf_buf(&pdf, rep, lang) < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "pdf: %s", nt_error_last());
        nt_buf_dispose(&pdf);
        return NT_EIO;
    }
    server_reply_take(r, &pdf, "application/pdf");
    return 0;
}

/* ------------------------------------------------------------------ POST /v1/verify-report */

/* A string member of `o`, or NULL. */
static const char *str_member(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* What the signed report itself concluded (null when it is not a report). */
static json_t *report_summary(nt_bytes report)
{
    json_t *rep = json_loadb((const char *)report.ptr, report.len, 0, NULL);
    json_t *out = NULL, *ts, *ev;

    if (rep != NULL && json_is_object(rep) && str_member(rep, "indication") != NULL) {
        ts = json_object_get(rep, "timestamp");
        ev = json_object_get(rep, "evidence");
        out = json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "report_id",
                        json_object_get(rep, "report_id"), "verification_time",
                        json_object_get(rep, "verification_time"), "indication",
                        json_object_get(rep, "indication"), "subindication",
                        json_object_get(rep, "subindication"), "conclusion",
                        json_object_get(rep, "conclusion"), "digest", json_object_get(ev, "digest"),
                        "digest_algorithm", json_object_get(ev, "digest_algorithm"), "gen_time",
                        json_object_get(ts, "gen_time"));
    }
    json_decref(rep);
    return out != NULL ? out : json_null();
}

/*
 * {"report": "<the report's JSON text, exactly as signed>",
 *  "signature": "<base64 of the detached CMS signature (.p7s)>"}
 * checked against this server's TSA root plus web.report_trust.  200 with
 * {"valid": ...} whatever the outcome; 400 for a malformed body; 503 beyond
 * the verification cap shared with POST /v1/verify.
 */
void server_post_verify_report(server_reply *r, server *s, nt_bytes body)
{
    json_t *root = NULL, *out = NULL;
    const char *report, *sig64;
    nt_buf sig = NT_BUF_INIT, trust = NT_BUF_INIT;
    verifier_report_sig_info info;
    int rc;

    memset(&info, 0, sizeof(info));
    if (server_verify_enter(&root, r, s, body, "report", "signature") < 0) {
        goto done;
    }
    if ((report = str_member(root, "report")) == NULL) {
        server_reply_error(r, 400, "missing_member", "report",
                           "\"report\" (the report's JSON text) is required");
        goto done;
    }
    if ((sig64 = str_member(root, "signature")) == NULL ||
        nt_base64_decode(&sig, sig64, strlen(sig64)) < 0) {
        server_reply_error(r, 400, "invalid_signature", "signature",
                           "\"signature\" must be the base64 of the .p7s file");
        goto done;
    }
    if (nt_buf_set(&trust, s->trust_pem.ptr, s->trust_pem.len) < 0 || report_roots(&trust, s) < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "report roots: %s", nt_error_last());
        goto done;
    }
    nt_bytes rb = NT_BYTES(report, json_string_length(json_object_get(root, "report")));
    rc = verifier_report_signature_verify_pem(&info, rb, nt_buf_bytes(&sig), nt_buf_bytes(&trust));
    if (rc < 0 && rc != NT_EVERIFY && rc != NT_EINVAL) {
        server_reply_error(r, 500, "internal_error", NULL, "verify-report: %s", nt_error_last());
        goto done;
    }
    out = json_pack(
        "{s:b, s:s?, s:s?, s:b, s:o, s:o}", "valid", rc == 0, "reason",
        rc == 0 ? NULL : nt_error_last(), "signer", rc == 0 ? nt_buf_cstr(&info.signer) : NULL,
        "timestamped", rc == 0 && info.timestamped, "timestamp",
        rc == 0 && info.timestamped
            ? json_pack("{s:s, s:s, s:s}", "gen_time", nt_buf_cstr(&info.ts_gen_time), "tsa",
                        nt_buf_cstr(&info.ts_tsa), "serial", nt_buf_cstr(&info.ts_serial))
            : json_null(),
        "report", report_summary(rb));
    if (out == NULL) {
        server_reply_error(r, 500, "internal_error", NULL, "out of memory");
        goto done;
    }
    server_reply_json(r, 200, out);
done:
    atomic_fetch_sub(&s->verifying, 1);
    verifier_report_sig_info_dispose(&info);
    nt_buf_dispose(&sig);
    nt_buf_dispose(&trust);
    json_decref(root);
}
