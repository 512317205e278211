/*
 * report_case_json.c - renders a verifier_case_report as the JSON case
 * report that docs/REPORT.md "Case report" documents member by member.
 * Part of nt_verifier.  Deterministic like report_json.c: insertion order,
 * no floating point, so a case report can be hashed, signed and compared.
 */
#include "verifier/case_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

const char *verifier__case_conclusion(const verifier_case_report *r, const char *lang)
{
    int zh = lang != NULL && strcmp(lang, "zh") == 0;
    switch (r->indication) {
    case VERIFIER_PASSED:
        if (r->sealed) {
            return zh ? "本案每个事件均由受指定信任锚认证的时间戳机构加盖时间戳，并以指定日志公钥"
                        "记录于账本；各事件构成一条从 seq 1 至封存本案的 case.completed 事件的"
                        "完整链条。"
                      : "Every event of the case is time-stamped by a TSA certified by a pinned "
                        "trust anchor and recorded in the ledger under the pinned log key; the "
                        "events form one unbroken chain from seq 1 to the case.completed event "
                        "that seals it.";
        }
        return zh ? "所示每个事件均由受指定信任锚认证的时间戳机构加盖时间戳，并以指定日志公钥记录"
                    "于账本；各事件构成一条从 seq 1 至所示最后一个事件的完整链条。本案未封存："
                    "其后如有事件，不在本报告范围内。"
                  : "Every event shown is time-stamped by a TSA certified by a pinned trust anchor "
                    "and recorded in the ledger under the pinned log key; the events form one "
                    "unbroken chain from seq 1 to the last event shown. The case is not sealed: "
                    "later events, if any, are not covered.";
    case VERIFIER_FAILED:
        return zh ? "验证未通过：至少一项检查证明该证据包不支持所主张的事实（见未通过的检查）。"
                  : "The verification FAILED: at least one check proved that the bundle does not "
                    "support the claim (see the failed check).";
    case VERIFIER_INDETERMINATE:
        break;
    }
    return zh ? "验证结论不确定：某项检查未能完成（见该检查），所主张的事实既未得到证明，也未被"
                "否定。"
              : "The verification is INDETERMINATE: a check could not be completed (see the "
                "check), so the claim is neither proven nor refuted.";
}

static int put_inputs(json_t *root, const verifier_case_report *r)
{
    int error = 0;
    json_t *in = NULL, *docs = NULL;
    NT_ENSURE((in = json_object()) != NULL && (docs = json_array()) != NULL, NT_ENOMEM,
              "report: out of memory");
    NT_TRY(verifier__json_put(in, "bundle", verifier__json_input(&r->bundle)));
    NT_TRY(verifier__json_put(in, "trust", verifier__json_input(&r->trust)));
    NT_TRY(verifier__json_put(in, "log_key", verifier__json_input(&r->log_key)));
    NT_TRY(verifier__json_put(in, "disclosures", verifier__json_input(&r->disclose)));
    for (size_t i = 0; i < r->document_count; i++) {
        const case_document *d = &r->documents[i];
        json_t *claimed = json_array();
        const char *p = nt_buf_cstr(&d->claimed_by);
        while (claimed != NULL && *p != '\0') {
            char *end = NULL;
            unsigned long long seq = strtoull(p, &end, 10);
            if (json_array_append_new(claimed, json_integer((json_int_t)seq)) < 0) {
                json_decref(claimed);
                claimed = NULL;
                break;
            }
            p = *end == ',' ? end + 1 : end;
        }
        NT_TRY(verifier__json_push(docs,
                                   json_pack("{s:o,s:s,s:s,s:o}", "name",
                                             d->path != NULL ? json_string(d->path) : json_null(),
                                             "algorithm", nt_buf_cstr(&d->alg), "digest",
                                             nt_buf_cstr(&d->digest), "claimed_by", claimed)));
    }
    NT_TRY(verifier__json_put(in, "documents", docs));
    docs = NULL;
    NT_TRY(verifier__json_put(root, "inputs", in));
    in = NULL;
done:
    json_decref(in);
    json_decref(docs);
    return error;
}

static json_t *event_json(const case_event_info *e)
{
    json_t *o = json_object(), *arts = json_array(), *who = json_array();
    if (o == NULL || arts == NULL || who == NULL) {
        goto fail;
    }
    for (size_t a = 0; e->body_ok && a < e->body.artifact_count; a++) {
        const event_body_artifact *art = &e->body.artifacts[a];
        nt_buf d = NT_BUF_INIT;
        int bad = nt_buf_printf(&d, "%s:", record_alg_name(art->alg)) < 0 ||
                  nt_hex_encode(&d, art->digest.ptr, art->digest.len) < 0;
        json_t *item =
            bad ? NULL
                : json_pack("{s:s,s:o,s:o}", "digest", nt_buf_cstr(&d), "name",
                            art->has_name ? json_string(nt_buf_cstr(&art->name)) : json_null(),
                            "role",
                            art->has_role ? json_string(nt_buf_cstr(&art->role)) : json_null());
        nt_buf_dispose(&d);
        if (verifier__json_push(arts, item) < 0) {
            goto fail;
        }
    }
    for (size_t a = 0; e->body_ok && a < e->body.attribute_count; a++) {
        json_t *value = e->disclosed[a]
                            ? json_stringn((const char *)e->values[a].ptr, e->values[a].len)
                            : json_null();
        if (verifier__json_push(who,
                                json_pack("{s:s,s:b,s:o}", "attribute", e->body.attributes[a].name,
                                          "disclosed", e->disclosed[a], "value", value)) < 0) {
            goto fail;
        }
    }
    if (verifier__json_put(o, "seq", json_integer((json_int_t)e->seq)) < 0 ||
        verifier__json_put(o, "leaf_index", json_integer((json_int_t)e->leaf_index)) < 0 ||
        verifier__json_put(o, "leaf_hash", json_string(e->leaf_hash)) < 0 ||
        verifier__json_put(o, "gen_time",
                           e->gen_time.len > 0 ? json_string(nt_buf_cstr(&e->gen_time))
                                               : json_null()) < 0 ||
        verifier__json_put(o, "tsa_serial",
                           e->tsa_serial.len > 0 ? json_string(nt_buf_cstr(&e->tsa_serial))
                                                 : json_null()) < 0 ||
        verifier__json_put(o, "kind", e->body_ok ? json_string(e->body.kind) : json_null()) < 0 ||
        verifier__json_put(o, "documents", arts) < 0) {
        arts = NULL;
        goto fail;
    }
    arts = NULL;
    if (verifier__json_put(o, "attributes", who) < 0) {
        who = NULL;
        goto fail;
    }
    who = NULL;
    if (verifier__json_put(o, "result", json_string(verifier_indication_name(e->indication))) < 0 ||
        verifier__json_put(o, "subindication",
                           e->indication != VERIFIER_PASSED && e->sub != NULL ? json_string(e->sub)
                                                                              : json_null()) < 0) {
        goto fail;
    }
    return o;
fail:
    json_decref(o);
    json_decref(arts);
    json_decref(who);
    return NULL;
}

static int put_case(json_t *root, const verifier_case_report *r)
{
    int error = 0;
    json_t *tl = NULL, *checks = NULL;
    int established = r->checks[CASE_CHECK_SEAL].status == VERIFIER_STEP_PASSED;
    if (r->checks[CASE_CHECK_BUNDLE].status != VERIFIER_STEP_PASSED) {
        NT_TRY(verifier__json_put(root, "case", json_null()));
    } else {
        NT_TRY(verifier__json_put(
            root, "case",
            json_pack("{s:s,s:s,s:I,s:o,s:s,s:s}", "tenant", nt_buf_cstr(&r->tenant), "case",
                      nt_buf_cstr(&r->case_id), "events", (json_int_t)r->event_count, "sealed",
                      established ? json_boolean(r->sealed) : json_null(), "log_origin",
                      nt_buf_cstr(&r->origin), "checkpoint", nt_buf_cstr(&r->checkpoint))));
    }
    NT_ENSURE((tl = json_array()) != NULL && (checks = json_array()) != NULL, NT_ENOMEM,
              "report: out of memory");
    for (size_t i = 0; i < r->event_count; i++) {
        NT_TRY(verifier__json_push(tl, event_json(&r->events[i])));
    }
    NT_TRY(verifier__json_put(root, "timeline", tl));
    tl = NULL;
    for (int i = 0; i < CASE_CHECK_COUNT; i++) {
        const verifier_step_result *st = &r->checks[i];
        int optional = i == CASE_CHECK_DOCUMENTS || i == CASE_CHECK_DISCLOSURES;
        NT_TRY(verifier__json_push(
            checks, json_pack("{s:i,s:s,s:b,s:s,s:o,s:o,s:o}", "check", i + 1, "name",
                              verifier__case_check_name((case_check_id)i), "mandatory", !optional,
                              "result", verifier_status_name(st->status), "subindication",
                              st->sub != NULL ? json_string(st->sub) : json_null(), "details",
                              verifier__json_lines(&st->details), "detail_codes",
                              verifier__json_lines(&st->codes))));
    }
    NT_TRY(verifier__json_put(root, "checks", checks));
    checks = NULL;
done:
    json_decref(tl);
    json_decref(checks);
    return error;
}

int verifier_case_report_json(nt_buf *out, const verifier_case_report *r)
{
    int error = 0;
    json_t *root = NULL;
    char *text = NULL;

    NT_ENSURE((root = json_object()) != NULL, NT_ENOMEM, "report: out of memory");
    NT_TRY(verifier__json_put(root, "report_version", json_integer(1)));
    NT_TRY(verifier__json_put(root, "report_type", json_string("case")));
    NT_TRY(verifier__json_put(root, "report_id", json_string(r->report_id)));
    NT_TRY(verifier__json_put(
        root, "verifier", json_pack("{s:s,s:s}", "name", VERIFIER_NAME, "version", NT_VERSION)));
    NT_TRY(verifier__json_put(root, "verification_time", json_string(r->now_text)));
    NT_TRY(verifier__json_put(root, "indication",
                              json_string(verifier_indication_name(r->indication))));
    NT_TRY(verifier__json_put(
        root, "subindication",
        r->indication != VERIFIER_PASSED && r->sub != NULL ? json_string(r->sub) : json_null()));
    NT_TRY(verifier__json_put(root, "conclusion", json_string(verifier__case_conclusion(r, "en"))));
    NT_TRY(put_inputs(root, r));
    NT_TRY(verifier__json_put(
        root, "tsa",
        r->have_tsa ? json_pack("{s:s,s:s,s:s}", "subject", nt_buf_cstr(&r->tsa.subject), "issuer",
                                nt_buf_cstr(&r->tsa.issuer), "sha256", r->tsa.sha256)
                    : json_null()));
    NT_TRY(put_case(root, r));
    NT_TRY(verifier__json_put(root, "not_established", verifier__json_lines(&r->limits)));
    NT_TRY(verifier__json_put(root, "verify_yourself", json_string(nt_buf_cstr(&r->command_line))));

    text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    NT_ENSURE(text != NULL, NT_ENOMEM, "report: cannot serialise");
    NT_TRY(nt_buf_puts(out, text));
    NT_TRY(nt_buf_putc(out, '\n'));
done:
    free(text);
    json_decref(root);
    return error;
}
