/*
 * report_json.c - renders a verifier_report as the JSON certification report
 * that docs/REPORT.md documents member by member.  Part of nt_verifier.
 *
 * Why jansson with insertion order and no floating point: the report must be
 * byte-for-byte reproducible (same inputs and verification time, same
 * bytes), so that a report can itself be hashed, signed and compared.
 */
#include "verifier/verifier_int.h"

#include <jansson.h>
#include <string.h>

static json_t *str_or_null(const nt_buf *b)
{
    return b->len > 0 ? json_stringn((const char *)b->ptr, b->len) : json_null();
}

json_t *verifier__json_lines(const nt_buf *lines)
{
    json_t *a = json_array();
    size_t pos = 0;
    const char *line;
    size_t len;
    while (a != NULL && verifier__next_line(lines, &pos, &line, &len)) {
        if (json_array_append_new(a, json_stringn(line, len)) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *verifier__json_input(const verifier_input *in)
{
    if (!in->present) {
        return json_null();
    }
    return json_pack("{s:s%,s:I,s:s}", "name", (const char *)in->name.ptr, in->name.len, "size",
                     (json_int_t)in->size, "sha256", in->sha256);
}

static json_t *cert_json(const verifier_cert_info *c)
{
    return json_pack("{s:s%,s:s%,s:s%,s:s,s:s,s:s,s:b}", "subject", nt_buf_cstr(&c->subject),
                     c->subject.len, "issuer", nt_buf_cstr(&c->issuer), c->issuer.len, "serial",
                     nt_buf_cstr(&c->serial), c->serial.len, "sha256", c->sha256, "not_before",
                     c->not_before, "not_after", c->not_after, "trust_anchor", c->is_anchor);
}

/* Append to an object; takes the value's reference; NT_ENOMEM on failure (value NULL included). */
int verifier__json_put(json_t *obj, const char *key, json_t *value)
{
    if (value == NULL || json_object_set_new(obj, key, value) < 0) {
        return nt_error_set(NT_ENOMEM, "report: out of memory");
    }
    return 0;
}

int verifier__json_push(json_t *arr, json_t *value)
{
    if (value == NULL || json_array_append_new(arr, value) < 0) {
        return nt_error_set(NT_ENOMEM, "report: out of memory");
    }
    return 0;
}

static const char *conclusion_en(const verifier_report *r)
{
    switch (r->indication) {
    case VERIFIER_PASSED:
        return "The examined document existed, unchanged, no later than the time-stamp's genTime; "
               "the time-stamp was issued by a TSA certified by a pinned trust anchor and is "
               "recorded in the ledger under the pinned log key.";
    case VERIFIER_FAILED:
        return "The verification FAILED: at least one check proved that the evidence does not "
               "support the claim (see the failed step).";
    case VERIFIER_INDETERMINATE:
        break;
    }
    return "The verification is INDETERMINATE: no check failed, but at least one could not be "
           "completed with the evidence and trust anchors given (see the step).";
}

const char *verifier__conclusion_en(const verifier_report *r);
const char *verifier__conclusion_en(const verifier_report *r)
{
    return conclusion_en(r);
}

/* A member holding an array of certificates. */
static int put_certs(json_t *obj, const char *key, const verifier_cert_info *certs, size_t n)
{
    int error = 0;
    json_t *a = json_array();
    NT_ENSURE(a != NULL, NT_ENOMEM, "report: out of memory");
    for (size_t i = 0; i < n; i++) {
        NT_TRY(verifier__json_push(a, cert_json(&certs[i])));
    }
    error = verifier__json_put(obj, key, a); /* takes a, also on failure */
    a = NULL;
done:
    json_decref(a);
    return error;
}

/* "inputs": what was examined, each file by its SHA-256. */
static int put_inputs(json_t *root, const verifier_report *r)
{
    int error = 0;
    json_t *o = NULL, *a = NULL;

    NT_ENSURE((o = json_object()) != NULL, NT_ENOMEM, "report: out of memory");
    NT_TRY(verifier__json_put(o, "document", verifier__json_input(&r->document)));
    NT_TRY(verifier__json_put(o, "digest_supplied", json_boolean(r->digest_supplied)));
    NT_TRY(verifier__json_put(o, "receipt", verifier__json_input(&r->receipt)));
    NT_TRY(verifier__json_put(o, "trust_anchors", verifier__json_input(&r->trust)));
    NT_TRY(verifier__json_put(o, "log_key", verifier__json_input(&r->log_key)));
    NT_ENSURE((a = json_array()) != NULL, NT_ENOMEM, "report: out of memory");
    for (size_t i = 0; i < r->crl_count; i++) {
        NT_TRY(verifier__json_push(a, verifier__json_input(&r->crls[i])));
    }
    error = verifier__json_put(o, "crls", a); /* takes it, also on failure */
    a = NULL;
    NT_TRY(error);
    NT_TRY(verifier__json_put(o, "mirror",
                              r->mirror_requested
                                  ? json_pack("{s:s,s:b}", "source", nt_buf_cstr(&r->mirror_source),
                                              "remote", r->mirror_remote)
                                  : json_null()));
    NT_TRY(verifier__json_put(o, "network_used",
                              json_boolean(r->mirror_requested && r->mirror_remote)));
    error = verifier__json_put(root, "inputs", o); /* takes it, also on failure */
    o = NULL;
done:
    json_decref(o);
    json_decref(a);
    return error;
}

/* "trust": the pinned TSA roots and log key. */
static int put_trust(json_t *root, const verifier_report *r)
{
    int error = 0;
    json_t *o = NULL;

    NT_ENSURE((o = json_object()) != NULL, NT_ENOMEM, "report: out of memory");
    NT_TRY(put_certs(o, "tsa_roots", r->anchors, r->anchor_count));
    NT_TRY(verifier__json_put(o, "log_key",
                              json_pack("{s:s,s:s,s:s}", "name", nt_buf_cstr(&r->log_name),
                                        "key_id", "", "vkey", nt_buf_cstr(&r->log_vkey))));
    {
        char kid[16];
        snprintf(kid, sizeof(kid), "%08x", (unsigned)r->log_key_id);
        NT_TRY(verifier__json_put(json_object_get(o, "log_key"), "key_id", json_string(kid)));
    }
    error = verifier__json_put(root, "trust", o); /* takes it, also on failure */
    o = NULL;
done:
    json_decref(o);
    return error;
}

/* "timestamp": the token's fields and the signer's chain (null without a token). */
static int put_timestamp(json_t *root, const verifier_report *r)
{
    int error = 0;
    json_t *o = NULL;

    if (r->have_token) {
        NT_ENSURE((o = json_object()) != NULL, NT_ENOMEM, "report: out of memory");
        NT_TRY(verifier__json_put(o, "gen_time", json_string(nt_buf_cstr(&r->gen_time))));
        NT_TRY(verifier__json_put(
            o, "accuracy",
            r->have_accuracy
                ? json_pack("{s:I,s:I,s:I}", "seconds", (json_int_t)r->acc_seconds, "millis",
                            (json_int_t)r->acc_millis, "micros", (json_int_t)r->acc_micros)
                : json_null()));
        NT_TRY(verifier__json_put(o, "policy", json_string(nt_buf_cstr(&r->policy))));
        NT_TRY(verifier__json_put(o, "serial", json_string(nt_buf_cstr(&r->serial))));
        NT_TRY(verifier__json_put(o, "nonce", str_or_null(&r->nonce)));
        NT_TRY(verifier__json_put(o, "ordering", json_boolean(r->ordering)));
        NT_TRY(verifier__json_put(o, "tsa_name", str_or_null(&r->tsa_name)));
        NT_TRY(verifier__json_put(o, "message_imprint",
                                  json_pack("{s:s,s:s}", "algorithm", nt_buf_cstr(&r->imprint_alg),
                                            "digest", nt_buf_cstr(&r->imprint))));
        NT_TRY(verifier__json_put(o, "signer_identified_by", str_or_null(&r->ess_version)));
        NT_TRY(verifier__json_put(o, "chain_verified", json_boolean(r->chain_verified)));
        NT_TRY(verifier__json_put(o, "qualified_tsu", json_boolean(r->qualified_tsu)));
        NT_TRY(put_certs(o, "chain", r->chain, r->chain_count));
        error = verifier__json_put(root, "timestamp", o); /* takes it, also on failure */
        o = NULL;
    } else {
        NT_TRY(verifier__json_put(root, "timestamp", json_null()));
    }
done:
    json_decref(o);
    return error;
}

/* "steps": each step's result, sub-indication, details and their codes. */
static int put_steps(json_t *root, const verifier_report *r)
{
    int error = 0;
    json_t *a = NULL;

    NT_ENSURE((a = json_array()) != NULL, NT_ENOMEM, "report: out of memory");
    for (int i = 0; i < VERIFIER_STEP_COUNT; i++) {
        const verifier_step_result *st = &r->steps[i];
        int optional = i == VERIFIER_STEP_REVOCATION || i == VERIFIER_STEP_MIRROR;
        /* details in English, detail_codes language-neutral: one code per detail line */
        NT_TRY(verifier__json_push(
            a, json_pack("{s:i,s:s,s:b,s:s,s:o,s:o,s:o}", "step", i + 1, "name",
                         verifier_step_name((verifier_step_id)i), "mandatory", !optional, "result",
                         verifier_status_name(st->status), "subindication",
                         st->sub != NULL ? json_string(st->sub) : json_null(), "details",
                         verifier__json_lines(&st->details), "detail_codes",
                         verifier__json_lines(&st->codes))));
    }
    error = verifier__json_put(root, "steps", a); /* takes it, also on failure */
    a = NULL;
done:
    json_decref(a);
    return error;
}

int verifier_report_json(nt_buf *out, const verifier_report *r)
{
    int error = 0;
    json_t *root = NULL;

    root = json_object();
    NT_ENSURE(root != NULL, NT_ENOMEM, "report: out of memory");
    NT_TRY(verifier__json_put(root, "report_version", json_integer(1)));
    NT_TRY(verifier__json_put(root, "report_id", json_string(r->report_id)));
    NT_TRY(verifier__json_put(
        root, "verifier", json_pack("{s:s,s:s}", "name", VERIFIER_NAME, "version", NT_VERSION)));
    NT_TRY(verifier__json_put(root, "verification_time", json_string(r->now_text)));
    NT_TRY(verifier__json_put(root, "indication",
                              json_string(verifier_indication_name(r->indication))));
    NT_TRY(verifier__json_put(
        root, "subindication",
        r->indication != VERIFIER_PASSED && r->sub != NULL ? json_string(r->sub) : json_null()));
    NT_TRY(verifier__json_put(root, "conclusion", json_string(conclusion_en(r))));

    NT_TRY(put_inputs(root, r));
    NT_TRY(put_trust(root, r));
    /* evidence */
    NT_TRY(verifier__json_put(root, "evidence",
                              json_pack("{s:o,s:o,s:s}", "digest_algorithm",
                                        str_or_null(&r->evidence_alg), "digest",
                                        str_or_null(&r->evidence_digest), "source",
                                        r->digest_supplied ? "supplied" : "document")));

    NT_TRY(put_timestamp(root, r));
    /* ledger */
    if (r->have_ledger) {
        NT_TRY(verifier__json_put(
            root, "ledger",
            json_pack("{s:s,s:I,s:I,s:o,s:s,s:s}", "origin", nt_buf_cstr(&r->origin), "leaf_index",
                      (json_int_t)r->leaf_index, "tree_size", (json_int_t)r->tree_size, "root",
                      str_or_null(&r->root), "leaf_hash", nt_buf_cstr(&r->leaf_hash), "checkpoint",
                      nt_buf_cstr(&r->checkpoint))));
    } else {
        NT_TRY(verifier__json_put(root, "ledger", json_null()));
    }

    /* mirror */
    if (r->mirror_requested) {
        NT_TRY(verifier__json_put(
            root, "mirror",
            json_pack("{s:s,s:b,s:o,s:o,s:o}", "source", nt_buf_cstr(&r->mirror_source), "remote",
                      r->mirror_remote, "commit", str_or_null(&r->mirror_commit), "commit_time",
                      str_or_null(&r->mirror_commit_time), "checkpoint_size",
                      r->mirror_commit.len > 0 ? json_integer((json_int_t)r->mirror_checkpoint_size)
                                               : json_null())));
    } else {
        NT_TRY(verifier__json_put(root, "mirror", json_null()));
    }

    NT_TRY(put_steps(root, r));
    NT_TRY(verifier__json_put(root, "not_established", verifier__json_lines(&r->limits)));
    NT_TRY(verifier__json_put(root, "verify_yourself", json_string(nt_buf_cstr(&r->command_line))));

    NT_TRY(nt_json_dump(out, root, JSON_INDENT(2) | JSON_PRESERVE_ORDER));
    NT_TRY(nt_buf_putc(out, '\n'));
done:
    json_decref(root);
    return error;
}
