/*
 * report_case_pdf.c - the case report as a PDF for people, in English or
 * Chinese (docs/REPORT.md "Case report"): the result, the case, the inputs,
 * the timeline as a table (seq, time, kind, documents, who: disclosed
 * attributes only), every check with its details, the conclusion, what is
 * not established and how to repeat it.  Part of nt_verifier; the page
 * machinery is report_pdf.c's (verifier__pdf_*).
 */
#include "verifier/case_int.h"

#include <string.h>

#ifdef NT_VERIFIER_PDF

#include <glib.h>

enum { ST_TITLE, ST_H1, ST_BODY, ST_MONO, ST_SMALL };

typedef struct ctr {
    const char *key, *en, *zh;
} ctr;

static const ctr case_strings[] = {
    {"title", "Certification report: verification of a signing process (evidence chain)",
     "认证报告：签署流程（证据链）验证"},
    {"report_id", "Report ID", "报告编号"},
    {"verification_time", "Verification time", "验证时间"},
    {"verifier", "Verifier", "验证程序"},
    {"indication", "Result", "结论"},
    {"subindication", "Sub-indication", "子结论"},
    {"case", "1. The case", "一、案件"},
    {"tenant", "Tenant (platform)", "租户（平台）"},
    {"case_id", "Case ID", "案件编号"},
    {"events", "Events", "事件数"},
    {"sealed", "Sealed (case.completed)", "已封存（case.completed）"},
    {"yes", "yes", "是"},
    {"no", "no", "否"},
    {"unknown", "not established", "未确立"},
    {"log", "Ledger", "账本"},
    {"checkpoint", "Checkpoint", "检查点"},
    {"tsa", "Time-stamping authority", "时间戳机构"},
    {"inputs", "2. What was examined", "二、所检查的材料"},
    {"bundle", "Evidence bundle", "证据包"},
    {"trust", "Trust anchors", "信任锚"},
    {"log_key", "Log key", "日志公钥"},
    {"disclosures", "Disclosures", "属性披露"},
    {"document", "Document", "文件"},
    {"claimed_by", "claimed by event(s)", "对应事件"},
    {"not_claimed", "NOT an artifact of the case", "并非本案工件"},
    {"timeline", "3. Timeline", "三、时间线"},
    {"col_seq", "Seq", "序号"},
    {"col_time", "Time (genTime, UTC)", "时间（genTime，UTC）"},
    {"col_kind", "Event", "事件"},
    {"col_docs", "Documents", "文件"},
    {"col_who", "Who (disclosed attributes)", "主体（已披露属性）"},
    {"col_result", "Result", "结果"},
    {"committed", "committed, not disclosed", "已承诺，未披露"},
    {"checks", "4. Checks", "四、检查项目"},
    {"check_bundle", "Bundle format", "证据包格式"},
    {"check_events", "Every event (token, signature, leaf, inclusion)",
     "每个事件（令牌、签名、叶子、包含证明）"},
    {"check_bodies", "Event bodies and leaves", "事件正文与叶子"},
    {"check_case", "Same tenant and case", "同一租户与案件"},
    {"check_chain", "Chain: completeness and order", "链：完整性与顺序"},
    {"check_time", "Time never decreases", "时间不倒退"},
    {"check_seal", "Seal", "封存"},
    {"check_documents", "Documents", "文件"},
    {"check_disclosures", "Disclosed attributes", "披露的属性"},
    {"conclusion", "5. Conclusion", "五、结论"},
    {"limits", "6. What this report does not establish", "六、本报告未能确立的事项"},
    {"yourself", "7. Verify it yourself", "七、自行验证"},
    {"yourself_text",
     "Anyone can repeat this verification offline with the same files and the open-source "
     "verifier:",
     "任何人均可使用相同文件及开源验证程序离线重复本次验证："},
    {"PASSED", "PASSED", "通过（PASSED）"},
    {"FAILED", "FAILED", "未通过（FAILED）"},
    {"INDETERMINATE", "INDETERMINATE", "不确定（INDETERMINATE）"},
    {"NOT_RUN", "NOT RUN", "未执行（NOT_RUN）"},
    {"who the parties are beyond the attributes disclosed",
     "who the parties are beyond the attributes disclosed", "除已披露属性之外的当事人身份"},
    {"the truth or legal validity of the documents' content",
     "the truth or legal validity of the documents' content", "文件内容的真实性或法律效力"},
    {"no document was compared with the case's artifacts",
     "no document was compared with the case's artifacts", "未将任何文件与本案工件进行比对"},
};

static const char *CT(const char *lang, const char *key)
{
    for (size_t i = 0; i < NT_ARRAY_LEN(case_strings); i++) {
        if (strcmp(case_strings[i].key, key) == 0) {
            return strcmp(lang, "zh") == 0 ? case_strings[i].zh : case_strings[i].en;
        }
    }
    return key;
}

static void kv(struct pdf *p, const char *key, const char *value, int mono)
{
    const char *lang = verifier__pdf_lang(p);
    if (mono) {
        verifier__pdf_blockf(p, ST_BODY, 0, "<b>%s</b>: <tt>%s</tt>", CT(lang, key), value);
    } else {
        verifier__pdf_blockf(p, ST_BODY, 0, "<b>%s</b>: %s", CT(lang, key), value);
    }
}

static void render_head(struct pdf *p, const verifier_case_report *r)
{
    const char *lang = verifier__pdf_lang(p);
    verifier__pdf_blockf(p, ST_TITLE, 0, "%s", CT(lang, "title"));
    kv(p, "report_id", r->report_id, 1);
    kv(p, "verification_time", r->now_text, 0);
    kv(p, "verifier", VERIFIER_NAME " " NT_VERSION, 0);
    const char *color = r->indication == VERIFIER_PASSED   ? "#006400"
                        : r->indication == VERIFIER_FAILED ? "#b00000"
                                                           : "#a06000";
    verifier__pdf_blockf(
        p, ST_BODY, 0,
        "<b>%s</b>: <span foreground=\"%s\" weight=\"bold\" size=\"large\">%s</span>",
        CT(lang, "indication"), color, CT(lang, verifier_indication_name(r->indication)));
    if (r->indication != VERIFIER_PASSED && r->sub != NULL) {
        kv(p, "subindication", r->sub, 1);
    }
}

static void render_case(struct pdf *p, const verifier_case_report *r)
{
    const char *lang = verifier__pdf_lang(p);
    char buf[64];
    verifier__pdf_blockf(p, ST_H1, 0, "%s", CT(lang, "case"));
    if (r->checks[CASE_CHECK_BUNDLE].status != VERIFIER_STEP_PASSED) {
        kv(p, "bundle", CT(lang, "FAILED"), 0);
        return;
    }
    kv(p, "tenant", nt_buf_cstr(&r->tenant), 1);
    kv(p, "case_id", nt_buf_cstr(&r->case_id), 1);
    snprintf(buf, sizeof(buf), "%zu", r->event_count);
    kv(p, "events", buf, 0);
    kv(p, "sealed",
       CT(lang, r->checks[CASE_CHECK_SEAL].status != VERIFIER_STEP_PASSED ? "unknown"
                : r->sealed                                               ? "yes"
                                                                          : "no"),
       0);
    kv(p, "log", nt_buf_cstr(&r->origin), 1);
    if (r->have_tsa) {
        kv(p, "tsa", nt_buf_cstr(&r->tsa.subject), 0);
    }
    verifier__pdf_blockf(p, ST_BODY, 0, "<b>%s</b>:", CT(lang, "checkpoint"));
    verifier__pdf_blockf(p, ST_MONO, 6, "%s", nt_buf_cstr(&r->checkpoint));
}

static void input_line(struct pdf *p, const char *key, const verifier_input *in)
{
    if (in->present) {
        verifier__pdf_blockf(p, ST_SMALL, 6, "%s: %s (%llu B) sha256 %s",
                             CT(verifier__pdf_lang(p), key), nt_buf_cstr(&in->name),
                             (unsigned long long)in->size, in->sha256);
    }
}

static void render_inputs(struct pdf *p, const verifier_case_report *r)
{
    const char *lang = verifier__pdf_lang(p);
    verifier__pdf_blockf(p, ST_H1, 0, "%s", CT(lang, "inputs"));
    input_line(p, "bundle", &r->bundle);
    input_line(p, "trust", &r->trust);
    input_line(p, "log_key", &r->log_key);
    input_line(p, "disclosures", &r->disclose);
    for (size_t i = 0; i < r->document_count; i++) {
        const case_document *d = &r->documents[i];
        verifier__pdf_blockf(p, ST_SMALL, 6, "%s: %s %s:%s — %s %s", CT(lang, "document"),
                             d->path != NULL ? d->path : "", nt_buf_cstr(&d->alg),
                             nt_buf_cstr(&d->digest),
                             CT(lang, d->claimed_by.len > 0 ? "claimed_by" : "not_claimed"),
                             nt_buf_cstr(&d->claimed_by));
    }
}

static void render_timeline(struct pdf *p, const verifier_case_report *r)
{
    static const double widths[] = {26, 106, 84, 116, 110, 53};
    const char *lang = verifier__pdf_lang(p);
    const char *head[6];
    static const char *const keys[] = {"col_seq",  "col_time", "col_kind",
                                       "col_docs", "col_who",  "col_result"};
    verifier__pdf_blockf(p, ST_H1, 0, "%s", CT(lang, "timeline"));
    for (size_t i = 0; i < 6; i++) {
        head[i] = CT(lang, keys[i]);
    }
    verifier__pdf_row(p, head, widths, 6, 1);
    for (size_t i = 0; i < r->event_count; i++) {
        const case_event_info *e = &r->events[i];
        GString *docs = g_string_new(NULL), *who = g_string_new(NULL);
        for (size_t a = 0; e->body_ok && a < e->body.artifact_count; a++) {
            const event_body_artifact *art = &e->body.artifacts[a];
            nt_buf hex = NT_BUF_INIT;
            (void)nt_hex_encode(&hex, art->digest.ptr, art->digest.len < 8 ? art->digest.len : 8);
            char *m = g_markup_printf_escaped(
                "%s%s%s%s <tt>%s:%s…</tt>\n", art->has_name ? nt_buf_cstr(&art->name) : "",
                art->has_role ? " (" : "", art->has_role ? nt_buf_cstr(&art->role) : "",
                art->has_role ? ")" : "", record_alg_name(art->alg), nt_buf_cstr(&hex));
            g_string_append(docs, m);
            g_free(m);
            nt_buf_dispose(&hex);
        }
        for (size_t a = 0; e->body_ok && a < e->body.attribute_count; a++) {
            char *m = e->disclosed[a]
                          ? g_markup_printf_escaped("%s: %s\n", e->body.attributes[a].name,
                                                    nt_buf_cstr(&e->values[a]))
                          : g_markup_printf_escaped("%s: <i>%s</i>\n", e->body.attributes[a].name,
                                                    CT(lang, "committed"));
            g_string_append(who, m);
            g_free(m);
        }
        char seq[24];
        snprintf(seq, sizeof(seq), "%llu", (unsigned long long)e->seq);
        char *t = g_markup_escape_text(nt_buf_cstr(&e->gen_time), -1);
        char *k = g_markup_escape_text(e->body_ok ? e->body.kind : "?", -1);
        char *res =
            g_markup_printf_escaped("%s%s%s", CT(lang, verifier_indication_name(e->indication)),
                                    e->indication != VERIFIER_PASSED && e->sub ? "\n" : "",
                                    e->indication != VERIFIER_PASSED && e->sub ? e->sub : "");
        const char *cells[6] = {seq, t, k, docs->str, who->str, res};
        verifier__pdf_row(p, cells, widths, 6, 0);
        g_free(t);
        g_free(k);
        g_free(res);
        g_string_free(docs, TRUE);
        g_string_free(who, TRUE);
    }
}

static void render_checks(struct pdf *p, const verifier_case_report *r)
{
    const char *lang = verifier__pdf_lang(p);
    verifier__pdf_blockf(p, ST_H1, 0, "%s", CT(lang, "checks"));
    for (int i = 0; i < CASE_CHECK_COUNT; i++) {
        const verifier_step_result *st = &r->checks[i];
        char key[40];
        snprintf(key, sizeof(key), "check_%s", verifier__case_check_name((case_check_id)i));
        verifier__pdf_blockf(p, ST_BODY, 0, "<b>%d. %s</b> — %s%s%s", i + 1, CT(lang, key),
                             CT(lang, verifier_status_name(st->status)),
                             st->sub != NULL ? " · " : "", st->sub != NULL ? st->sub : "");
        size_t pos = 0, len;
        const char *line;
        const nt_buf *details = strcmp(lang, "zh") == 0 ? &st->details_zh : &st->details;
        while (verifier__next_line(details, &pos, &line, &len)) {
            char *d = g_strndup(line, len);
            verifier__pdf_blockf(p, ST_SMALL, 14, "%s", d);
            g_free(d);
        }
    }
}

static void render_end(struct pdf *p, const verifier_case_report *r)
{
    const char *lang = verifier__pdf_lang(p);
    verifier__pdf_blockf(p, ST_H1, 0, "%s", CT(lang, "conclusion"));
    verifier__pdf_blockf(p, ST_BODY, 0, "%s", verifier__case_conclusion(r, lang));
    verifier__pdf_blockf(p, ST_H1, 0, "%s", CT(lang, "limits"));
    size_t pos = 0, len;
    const char *line;
    while (verifier__next_line(&r->limits, &pos, &line, &len)) {
        char *d = g_strndup(line, len);
        static const char unsealed[] = "the case is not sealed: completeness is proven only up "
                                       "to the last event shown (seq ";
        if (strcmp(lang, "zh") == 0 && strncmp(d, unsealed, sizeof(unsealed) - 1) == 0) {
            /* the one limit with a number in it */
            const char *num = d + sizeof(unsealed) - 1;
            char *seq = g_strndup(num, strspn(num, "0123456789")); /* no %.*s in glib's */
            verifier__pdf_blockf(p, ST_BODY, 6,
                                 "• 本案未封存：完整性仅证明至所示最后一个事件（seq %s）", seq);
            g_free(seq);
        } else {
            verifier__pdf_blockf(p, ST_BODY, 6, "• %s", CT(lang, d));
        }
        g_free(d);
    }
    verifier__pdf_blockf(p, ST_H1, 0, "%s", CT(lang, "yourself"));
    verifier__pdf_blockf(p, ST_BODY, 0, "%s", CT(lang, "yourself_text"));
    verifier__pdf_blockf(p, ST_MONO, 6, "%s", nt_buf_cstr(&r->command_line));
    verifier__pdf_footer(p);
}

static void render(struct pdf *p, const void *ctx)
{
    const verifier_case_report *r = ctx;
    render_head(p, r);
    render_case(p, r);
    render_inputs(p, r);
    render_timeline(p, r);
    render_checks(p, r);
    render_end(p, r);
}

static int case_pdf(nt_buf *out, const char *path, const verifier_case_report *r, const char *lang)
{
    lang = lang != NULL ? lang : "en";
    return verifier__pdf_render(out, path, lang, CT(lang, "title"), r->report_id, r->now, render,
                                r);
}

int verifier_case_report_pdf(const verifier_case_report *r, const char *path, const char *lang)
{
    return case_pdf(NULL, path, r, lang);
}

int verifier_case_report_pdf_buf(nt_buf *out, const verifier_case_report *r, const char *lang)
{
    return case_pdf(out, NULL, r, lang);
}

#else

int verifier_case_report_pdf(const verifier_case_report *r, const char *path, const char *lang)
{
    (void)r;
    (void)path;
    (void)lang;
    return nt_error_set(NT_EUNSUPPORTED, "this verifier was built without PDF support "
                                         "(cairo + pango not found)");
}

int verifier_case_report_pdf_buf(nt_buf *out, const verifier_case_report *r, const char *lang)
{
    (void)out;
    return verifier_case_report_pdf(r, "(memory)", lang);
}

#endif
