/*
 * server_verify_case.c - POST /v1/verify with an evidence bundle (issue 11):
 * {"bundle": <object or JSON text>, "disclosures": {"disclosures": [...]},
 * "documents": ["<alg>:<hex>", ...]} checked by the offline verifier's
 * verifier_case_run against this server's own TSA root and log key, answered
 * with the case report (JSON, or PDF with ?format=pdf).  server_verify.c
 * hands a body with a "bundle" member here; docs/HTTP-API.md.
 */
#include "tsa/server_int.h"
#include "verifier/verifier.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

int server_verify_is_case(nt_bytes body)
{
    /* One more parse of the body; the verification that follows costs far more. */
    json_t *root = json_loadb((const char *)body.ptr, body.len, 0, NULL);
    int yes = json_is_object(root) && json_object_get(root, "bundle") != NULL;
    json_decref(root);
    return yes;
}

/* A member given as an object (re-serialised, members in their order) or as JSON text. */
static int text_of(nt_buf *out, server_reply *r, json_t *v, const char *name, int allow_text)
{
    char *text = NULL;
    if (json_is_object(v)) {
        text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        int e = text != NULL ? nt_buf_puts(out, text) : NT_ENOMEM;
        free(text);
        if (e < 0) {
            server_reply_error(r, 500, "internal_error", NULL, "out of memory");
            return e;
        }
        return 0;
    }
    if (allow_text && json_is_string(v)) {
        if (nt_buf_set(out, json_string_value(v), json_string_length(v)) < 0) {
            server_reply_error(r, 500, "internal_error", NULL, "out of memory");
            return NT_ENOMEM;
        }
        return 0;
    }
    server_reply_error(r, 400, "invalid_member", name,
                       allow_text ? "\"%s\" must be an object or its JSON text"
                                  : "\"%s\" must be an object",
                       name);
    return NT_EINVAL;
}

/* The members (server_json_body allowed only these): bundle (required), disclosures, documents. */
static int case_options(verifier_case_options *o, nt_buf *bundle, nt_buf *disc, server_reply *r,
                        json_t *root)
{
    json_t *v;
    size_t i;
    if (text_of(bundle, r, json_object_get(root, "bundle"), "bundle", 1) < 0) {
        return NT_EINVAL;
    }
    o->bundle = nt_buf_bytes(bundle);
    if ((v = json_object_get(root, "disclosures")) != NULL) {
        if (text_of(disc, r, v, "disclosures", 0) < 0) {
            return NT_EINVAL;
        }
        o->disclose = nt_buf_bytes(disc);
    }
    if ((v = json_object_get(root, "documents")) != NULL) {
        if (!json_is_array(v) || json_array_size(v) > VERIFIER_MAX_DOCUMENTS) {
            server_reply_error(r, 400, "invalid_documents", "documents",
                               "\"documents\" must be an array of at most %d \"<alg>:<hex>\"",
                               VERIFIER_MAX_DOCUMENTS);
            return NT_EINVAL;
        }
        json_t *d;
        json_array_foreach (v, i, d) {
            record_alg alg;
            nt_buf md = NT_BUF_INIT;
            char field[32];
            snprintf(field, sizeof(field), "documents[%zu]", i);
            int e = json_is_string(d)
                        ? server_digest_parse(&alg, &md, r, json_string_value(d), field)
                        : (server_reply_error(r, 400, "invalid_digest", field,
                                              "\"%s\" must be a string \"<alg>:<hex>\"", field),
                           -1);
            nt_buf_dispose(&md);
            if (e < 0) {
                return NT_EINVAL;
            }
            o->document_digests[o->digest_count++] = json_string_value(d);
        }
    }
    return 0;
}

void server_post_verify_case(server_reply *r, server *s, nt_bytes body, const char *format,
                             const char *lang)
{
    json_t *root = NULL;
    nt_buf bundle = NT_BUF_INIT, disc = NT_BUF_INIT, out = NT_BUF_INIT;
    verifier_case_options o;
    verifier_case_report *rep = NULL;

    memset(&o, 0, sizeof(o));
    /* Verification is CPU work on an HTTP worker: the same cap as a receipt's. */
    if (atomic_fetch_add(&s->verifying, 1) >= s->verify_max) {
        server_reply_error(r, 503, "overloaded", NULL, "%u verifications are running, retry later",
                           s->verify_max);
        r->retry_after = 1;
        goto done;
    }
    if (format != NULL && strcmp(format, "json") != 0 && strcmp(format, "pdf") != 0) {
        server_reply_error(r, 400, "invalid_format", "format", "format must be json or pdf");
        goto done;
    }
    static const char *const members[] = {"bundle", "disclosures", "documents", NULL};
    if (server_json_body(&root, r, body, members) < 0 ||
        case_options(&o, &bundle, &disc, r, root) < 0) {
        goto done;
    }
    o.trust = nt_buf_bytes(&s->trust_pem);
    o.log_key = nt_buf_bytes(&s->log_vkey);
    if (verifier_case_run(&rep, &o) < 0) {
        if (nt_error_code() == NT_EINVAL) {
            server_reply_error(r, 400, "invalid_input", NULL, "%s", nt_error_last());
        } else {
            server_reply_error(r, 500, "internal_error", NULL, "verify: %s", nt_error_last());
        }
        goto done;
    }
    if (format != NULL && strcmp(format, "pdf") == 0) {
        lang = lang != NULL ? lang : "en";
        if (strcmp(lang, "en") != 0 && strcmp(lang, "zh") != 0) {
            server_reply_error(r, 400, "invalid_lang", "lang", "lang must be en or zh");
        } else if (!verifier_pdf_supported()) {
            server_reply_error(r, 501, "pdf_unsupported", "format",
                               "this server was built without PDF reports");
        } else if (verifier_case_report_pdf_buf(&out, rep, lang) < 0) {
            server_reply_error(r, 500, "internal_error", NULL, "pdf: %s", nt_error_last());
        } else {
            server_reply_take(r, &out, "application/pdf");
        }
        goto done;
    }
    if (verifier_case_report_json(&out, rep) < 0) {
        server_reply_error(r, 500, "internal_error", NULL, "report: %s", nt_error_last());
        goto done;
    }
    server_reply_take(r, &out, "application/json");
done:
    atomic_fetch_sub(&s->verifying, 1);
    verifier_case_report_free(rep);
    nt_buf_dispose(&bundle);
    nt_buf_dispose_secret(&disc);
    nt_buf_dispose(&out);
    json_decref(root);
}
