/*
 * server_verify.c - POST /v1/verify: the offline verifier run online against
 * this server's own trust anchors.
 */
#include "tsa/server_int.h"
#include "verifier/verifier.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/*
 * The same check `notarium verify --digest` runs offline, for platforms that
 * want it online.  The trust anchors are this server's own (its TSA root and
 * its log key), so the report says "genuine and from this server"; a court
 * should still verify offline against anchors it pinned itself.  The body
 * cannot name other anchors, a mirror or CRL files: the server reads nothing
 * a caller chooses.
 */
void server_post_verify(server_reply *r, server *s, nt_bytes body, const char *format,
                        const char *lang)
{
    json_t *root = NULL, *v;
    nt_buf receipt_text = NT_BUF_INIT, digest = NT_BUF_INIT, report = NT_BUF_INIT;
    verifier_options vo;
    verifier_report *rep = NULL;
    record_alg alg;
    int e = 0;

    if (server_verify_is_case(body)) { /* an evidence bundle: server_verify_case.c */
        server_post_verify_case(r, s, body, format, lang);
        return;
    }
    if (server_verify_enter(&root, r, s, body, "receipt", "digest") < 0) { /* web.c */
        goto done;
    }
    v = json_object_get(root, "receipt");
    if (v == NULL) {
        server_reply_error(r, 400, "missing_member", "receipt",
                           "\"receipt\" (the receipt object, or its JSON text) is required");
        goto done;
    }
    if (json_is_object(v)) {
        /* Members keep their order; the report hashes these re-serialised bytes. */
        e = nt_json_dump(&receipt_text, v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    } else if (json_is_string(v)) {
        e = nt_buf_set(&receipt_text, json_string_value(v), json_string_length(v));
    } else {
        server_reply_error(r, 400, "invalid_receipt", "receipt",
                           "\"receipt\" must be a receipt object or its JSON text");
        goto done;
    }
    if (e < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "out of memory");
        goto done;
    }
    v = json_object_get(root, "digest");
    if (v == NULL || !json_is_string(v)) {
        server_reply_error(r, 400, v == NULL ? "missing_member" : "invalid_digest", "digest",
                           "\"digest\" must be a string \"<alg>:<hex>\"");
        goto done;
    }
    if (server_digest_parse(&alg, &digest, r, json_string_value(v), "digest") < 0) {
        goto done;
    }
    memset(&vo, 0, sizeof(vo));
    vo.digest = json_string_value(v);
    vo.receipt = nt_buf_bytes(&receipt_text);
    vo.trust = nt_buf_bytes(&s->trust_pem);
    vo.log_key = nt_buf_bytes(&s->log_vkey);
    vo.command_line = NULL; /* the report rebuilds it with placeholder file names */
    if (verifier_run(&rep, &vo) < 0) {
        if (nt_error_code() == NT_EINVAL) {
            server_reply_error(r, 400, "invalid_input", NULL, "%s", nt_error_last());
        } else {
            server_reply_error(r, 500, "internal_error", NULL, "verify: %s", nt_error_last());
        }
        goto done;
    }
    if (format != NULL && strcmp(format, "json") != 0) {
        if (strcmp(format, "pdf") != 0) {
            server_reply_error(r, 400, "invalid_format", "format", "format must be json or pdf");
        } else {
            server_web_pdf(r, rep, lang); /* web.c */
        }
        goto done;
    }
    if (verifier_report_json(&report, rep) < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "report: %s", nt_error_last());
        goto done;
    }
    server_reply_take(r, &report, "application/json");
done:
    atomic_fetch_sub(&s->verifying, 1);
    verifier_report_free(rep);
    nt_buf_dispose(&report);
    nt_buf_dispose(&receipt_text);
    nt_buf_dispose(&digest);
    json_decref(root);
}
