/*
 * report_pdf.c - renders a verifier_report as a PDF for people (English or
 * Chinese), with cairo (PDF surface) and pango (text layout, font fallback).
 * Part of nt_verifier; compiled only when pangocairo was found at build time
 * (NT_VERIFIER_PDF), otherwise verifier_report_pdf says NT_EUNSUPPORTED.
 *
 * Why cairo + pango rather than writing PDF operators by hand: Chinese text
 * and CJK names in certificates need real shaping, font fallback (fontconfig)
 * and embedded font subsets with ToUnicode maps, so that the PDF both renders
 * and can be searched and extracted (pdftotext).  docs/VERIFIER.md says more.
 */
#include "verifier/verifier_int.h"

#include <stdarg.h>
#include <string.h>

#ifdef NT_VERIFIER_PDF

#include <cairo-pdf.h>
#include <cairo.h>
#include <pango/pangocairo.h>

#define PAGE_W 595.0 /* A4 in points */
#define PAGE_H 842.0
#define MARGIN 50.0
#define FOOTER 30.0

typedef struct tr {
    const char *key;
    const char *en;
    const char *zh;
} tr;

static const tr strings[] = {
    {"title", "Certification report: time-stamp and ledger verification",
     "认证报告：时间戳与账本验证"},
    {"report_id", "Report ID", "报告编号"},
    {"verification_time", "Verification time", "验证时间"},
    {"verifier", "Verifier", "验证程序"},
    {"indication", "Result", "结论"},
    {"subindication", "Sub-indication", "子结论"},
    {"evidence", "1. The evidence", "一、被验证的证据"},
    {"file", "File", "文件"},
    {"size", "Size (bytes)", "大小（字节）"},
    {"digest", "Digest", "摘要"},
    {"supplied", "(digest supplied; the document itself was not examined)",
     "（仅提供摘要，未检查文件本身）"},
    {"timestamp", "2. The time-stamp (RFC 3161)", "二、时间戳（RFC 3161）"},
    {"gen_time", "Time (genTime)", "时间（genTime）"},
    {"accuracy", "Accuracy", "精度"},
    {"policy", "Policy", "策略"},
    {"serial", "Serial number", "序列号"},
    {"tsa_name", "TSA name", "时间戳机构名称"},
    {"qualified", "Qualified TSU (ETSI EN 319 422 statement in the certificate)",
     "合格时间戳单元（证书中的 ETSI EN 319 422 声明）"},
    {"qualified_yes", "yes", "是"},
    {"qualified_no", "no", "否"},
    {"imprint", "Message imprint", "消息摘要"},
    {"chain", "Certificate chain", "证书链"},
    {"subject", "Subject", "主体"},
    {"issuer", "Issuer", "颁发者"},
    {"fingerprint", "SHA-256 fingerprint", "SHA-256 指纹"},
    {"validity", "Valid", "有效期"},
    {"anchor", "(trust anchor)", "（信任锚）"},
    {"ledger", "3. The ledger position", "三、账本位置"},
    {"origin", "Log origin", "日志名称"},
    {"leaf_index", "Leaf index", "叶子序号"},
    {"tree_size", "Tree size", "树大小"},
    {"root", "Root hash", "根哈希"},
    {"checkpoint", "Signed checkpoint", "签名检查点"},
    {"mirror", "Mirror", "镜像"},
    {"commit", "First commit", "首次提交"},
    {"steps", "4. Checks performed", "四、已执行的检查"},
    {"conclusion", "5. Conclusion", "五、结论"},
    {"limits", "6. What this report does not establish", "六、本报告不能证明的事项"},
    {"yourself", "7. Verify it yourself", "七、自行验证"},
    {"yourself_text",
     "Anyone can repeat this verification offline with the same files and the free, "
     "open-source verifier:",
     "任何人都可以使用相同的文件和免费开源的验证程序离线重复本验证："},
    {"inputs", "Inputs examined (SHA-256)", "所检查的输入（SHA-256）"},
    {"receipt", "Receipt", "回执"},
    {"trust", "Trust anchors", "信任锚"},
    {"log_key", "Log key", "日志公钥"},
    {"page", "page", "第"},
    {"none", "(none)", "（无）"},
    {"PASSED", "PASSED", "通过（PASSED）"},
    {"FAILED", "FAILED", "失败（FAILED）"},
    {"INDETERMINATE", "INDETERMINATE", "无法确定（INDETERMINATE）"},
    {"NOT_RUN", "NOT RUN", "未执行（NOT_RUN）"},
    {"step_inputs", "Inputs identified", "输入文件识别"},
    {"step_digest", "Document digest equals the time-stamped digest", "文件摘要与时间戳摘要一致"},
    {"step_token", "Time-stamp token well-formed", "时间戳令牌格式正确"},
    {"step_signature", "TSA signature and certificate chain (as of genTime)",
     "时间戳机构签名及证书链（以 genTime 为准）"},
    {"step_revocation", "Certificate revocation (CRL)", "证书吊销状态（CRL）"},
    {"step_ledger", "Ledger inclusion and signed checkpoint", "账本包含证明及签名检查点"},
    {"step_mirror", "Independent git mirror", "独立 git 镜像"},
    {"concl_PASSED",
     "The document examined existed, unchanged, no later than the time shown above. The "
     "time-stamp was issued by a time-stamping authority certified by the trust anchor given, "
     "and it is recorded in the append-only ledger signed by the pinned log key.",
     "所检查的文件最迟在上述时间已经存在且此后未被修改。该时间戳由经所给信任锚认证的时间戳机构签发"
     "，"
     "并已记录在由指定日志公钥签名的只追加账本中。"},
    {"concl_FAILED",
     "The verification FAILED: at least one check proves that this evidence does not support "
     "the claim. See the failed check above.",
     "验证失败：至少一项检查证明该证据不能支持所主张的事实，详见上方失败的检查项。"},
    {"concl_INDETERMINATE",
     "The verification is INDETERMINATE: no check failed, but at least one could not be "
     "completed with the evidence and trust anchors given. See the check above.",
     "验证结果无法确定：没有检查项失败，但至少一项检查无法依据所提供的证据和信任锚完成，详见上方检"
     "查项。"},
    {"who created, signed or agreed to the document",
     "who created, signed or agreed to the document", "文件由谁创建、签署或同意"},
    {"that the document did not exist before genTime",
     "that the document did not exist before genTime", "文件在 genTime 之前不存在"},
    {"the truth or legal validity of the document's content",
     "the truth or legal validity of the document's content", "文件内容的真实性或法律效力"},
    {"revocation not checked", "revocation not checked (no CRL given)",
     "未检查证书吊销状态（未提供 CRL）"},
    {"the checkpoint was not compared with an independent mirror",
     "the checkpoint was not compared with an independent mirror", "检查点未与独立镜像比对"},
    {"the document itself was not examined: its digest was supplied",
     "the document itself was not examined: its digest was supplied",
     "未检查文件本身：仅提供了其摘要"},
    {"revocation of the TSA certificate not checked",
     "revocation of the TSA certificate not checked", "未检查时间戳机构证书的吊销状态"},
    {"revocation of CA certificates not checked", "revocation of CA certificates not checked",
     "未检查 CA 证书的吊销状态"},
    {"the checkpoint was not corroborated by the mirror",
     "the checkpoint was not corroborated by the mirror", "检查点未得到镜像的佐证"},
    {"the digest algorithm is weak (collisions are feasible)",
     "the digest algorithm is weak (collisions are feasible)", "摘要算法强度不足（已可构造碰撞）"},
    {"the receipt withholds the evidence metadata: it was not checked",
     "the receipt withholds the evidence metadata: it was not checked",
     "回执未包含证据元数据：未予核对"},
    {"the qualified status of the TSU on an EU trusted list was not checked",
     "the qualified status of the TSU on an EU trusted list was not checked",
     "未核对该时间戳单元在欧盟可信列表中的合格状态"},
    {"the log lost the evidence metadata (restored from its mirror): it was not checked",
     "the log lost the evidence metadata (restored from its mirror): it was not checked",
     "日志（从镜像恢复）已丢失证据元数据：未予核对"},
};

static const char *T(const char *lang, const char *key)
{
    for (size_t i = 0; i < NT_ARRAY_LEN(strings); i++) {
        if (strcmp(strings[i].key, key) == 0) {
            return strcmp(lang, "zh") == 0 ? strings[i].zh : strings[i].en;
        }
    }
    return key;
}

typedef struct pdf {
    cairo_t *cr;
    cairo_surface_t *surface;
    const char *lang;
    const verifier_report *r;
    const char *report_id; /* in every footer */
    double y;
    int page;
    const char *sans;
    const char *mono;
} pdf;

/* A layout in `family` at `size` points (the layout keeps its own copy of the font). */
static PangoLayout *layout_new(pdf *p, const char *family, double size, int bold)
{
    PangoLayout *l = pango_cairo_create_layout(p->cr);
    PangoFontDescription *fd = pango_font_description_from_string(family);
    pango_font_description_set_absolute_size(fd, size * PANGO_SCALE);
    if (bold) {
        pango_font_description_set_weight(fd, PANGO_WEIGHT_BOLD);
    }
    pango_layout_set_font_description(l, fd);
    pango_font_description_free(fd);
    return l;
}

static void footer(pdf *p)
{
    PangoLayout *l = layout_new(p, p->sans, 8, 0);
    char text[160];
    if (strcmp(p->lang, "zh") == 0) {
        snprintf(text, sizeof(text), "%s · %s %d 页", p->report_id, T(p->lang, "page"), p->page);
    } else {
        snprintf(text, sizeof(text), "%s · %s %d", p->report_id, T(p->lang, "page"), p->page);
    }
    pango_layout_set_text(l, text, -1);
    cairo_move_to(p->cr, MARGIN, PAGE_H - MARGIN + 10);
    cairo_set_source_rgb(p->cr, 0.4, 0.4, 0.4);
    pango_cairo_show_layout(p->cr, l);
    cairo_set_source_rgb(p->cr, 0, 0, 0);
    g_object_unref(l);
}

static void new_page(pdf *p)
{
    footer(p);
    cairo_show_page(p->cr);
    p->page++;
    p->y = MARGIN;
}

enum style { ST_TITLE, ST_H1, ST_BODY, ST_MONO, ST_SMALL };

/* Lay out one block of pango markup, starting a new page when it does not fit. */
static void block(pdf *p, enum style st, const char *markup, double indent)
{
    double size = st == ST_TITLE ? 16 : st == ST_H1 ? 12.5 : st == ST_SMALL ? 8 : 9.5;
    PangoLayout *l =
        layout_new(p, st == ST_MONO ? p->mono : p->sans, size, st == ST_TITLE || st == ST_H1);
    pango_layout_set_width(l, (int)((PAGE_W - 2 * MARGIN - indent) * PANGO_SCALE));
    pango_layout_set_wrap(l, PANGO_WRAP_WORD_CHAR);
    pango_layout_set_markup(l, markup, -1);
    int w = 0, h = 0;
    pango_layout_get_size(l, &w, &h);
    double hh = (double)h / PANGO_SCALE;
    double before = st == ST_H1 ? 10 : st == ST_TITLE ? 0 : 2;
    if (p->y + before + hh > PAGE_H - MARGIN - FOOTER && p->y > MARGIN) {
        new_page(p);
    } else {
        p->y += before;
    }
    cairo_move_to(p->cr, MARGIN + indent, p->y);
    pango_cairo_show_layout(p->cr, l);
    p->y += hh + (st == ST_TITLE ? 8 : 2);
    g_object_unref(l);
}

/* A block of markup whose %s arguments are escaped (g_markup_printf_escaped). */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 4, 5)))
#endif
static void
blockf(pdf *p, enum style st, double indent, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = g_markup_vprintf_escaped(fmt, ap);
    va_end(ap);
    block(p, st, m, indent);
    g_free(m);
}

static void text(pdf *p, enum style st, const char *plain, double indent)
{
    blockf(p, st, indent, "%s", plain);
}

static void kv(pdf *p, const char *key, const char *value, int mono)
{
    const char *k = T(p->lang, key);
    const char *v = value != NULL && value[0] != '\0' ? value : T(p->lang, "none");
    if (mono) {
        blockf(p, ST_BODY, 0, "<b>%s</b>: <tt>%s</tt>", k, v);
    } else {
        blockf(p, ST_BODY, 0, "<b>%s</b>: %s", k, v);
    }
}

static void cert(pdf *p, const verifier_cert_info *c, size_t i)
{
    char line[1024];
    snprintf(line, sizeof(line), "[%zu] %s %s", i, nt_buf_cstr(&c->subject),
             c->is_anchor ? T(p->lang, "anchor") : "");
    text(p, ST_BODY, line, 10);
    snprintf(line, sizeof(line), "%s: %s", T(p->lang, "issuer"), nt_buf_cstr(&c->issuer));
    text(p, ST_SMALL, line, 24);
    snprintf(line, sizeof(line), "%s: %s … %s   %s: %s", T(p->lang, "validity"), c->not_before,
             c->not_after, T(p->lang, "serial"), nt_buf_cstr(&c->serial));
    text(p, ST_SMALL, line, 24);
    snprintf(line, sizeof(line), "%s: %s", T(p->lang, "fingerprint"), c->sha256);
    text(p, ST_SMALL, line, 24);
}

/* The title block: report ID, time, verifier and the result. */
static void render_head(pdf *p)
{
    const verifier_report *r = p->r;
    const char *lang = p->lang;
    char buf[512];

    text(p, ST_TITLE, T(lang, "title"), 0);
    kv(p, "report_id", r->report_id, 1);
    kv(p, "verification_time", r->now_text, 0);
    snprintf(buf, sizeof(buf), "%s %s", VERIFIER_NAME, NT_VERSION);
    kv(p, "verifier", buf, 0);
    const char *color = r->indication == VERIFIER_PASSED   ? "#006400"
                        : r->indication == VERIFIER_FAILED ? "#b00000"
                                                           : "#a06000";
    blockf(p, ST_BODY, 0,
           "<b>%s</b>: <span foreground=\"%s\" weight=\"bold\" size=\"large\">%s</span>",
           T(lang, "indication"), color, T(lang, verifier_indication_name(r->indication)));
    if (r->indication != VERIFIER_PASSED && r->sub != NULL) {
        kv(p, "subindication", r->sub, 1);
    }
}

/* 1. The evidence: the document or supplied digest, and every input by its SHA-256. */
static void render_evidence(pdf *p)
{
    const verifier_report *r = p->r;
    const char *lang = p->lang;
    char buf[512];

    text(p, ST_H1, T(lang, "evidence"), 0);
    if (r->document.present) {
        kv(p, "file", nt_buf_cstr(&r->document.name), 0);
        snprintf(buf, sizeof(buf), "%llu", (unsigned long long)r->document.size);
        kv(p, "size", buf, 0);
    } else if (r->digest_supplied) {
        text(p, ST_BODY, T(lang, "supplied"), 0);
    }
    snprintf(buf, sizeof(buf), "%s:%s", nt_buf_cstr(&r->evidence_alg),
             nt_buf_cstr(&r->evidence_digest));
    kv(p, "digest", buf, 1);
    text(p, ST_SMALL, T(lang, "inputs"), 0);
    const struct {
        const char *key;
        const verifier_input *in;
    } ins[] = {{"receipt", &r->receipt}, {"trust", &r->trust}, {"log_key", &r->log_key}};
    for (size_t i = 0; i < NT_ARRAY_LEN(ins); i++) {
        snprintf(buf, sizeof(buf), "%s: %s  %s", T(lang, ins[i].key), nt_buf_cstr(&ins[i].in->name),
                 ins[i].in->sha256);
        text(p, ST_SMALL, buf, 10);
    }
    for (size_t i = 0; i < r->crl_count; i++) {
        snprintf(buf, sizeof(buf), "CRL: %s  %s", nt_buf_cstr(&r->crls[i].name), r->crls[i].sha256);
        text(p, ST_SMALL, buf, 10);
    }
}

/* 2. The time-stamp's fields and the signer's certificate chain. */
static void render_timestamp(pdf *p)
{
    const verifier_report *r = p->r;
    const char *lang = p->lang;
    char buf[512];

    text(p, ST_H1, T(lang, "timestamp"), 0);
    if (r->have_token) {
        kv(p, "gen_time", nt_buf_cstr(&r->gen_time), 0);
        if (r->have_accuracy) {
            snprintf(buf, sizeof(buf), "± %ld s %ld ms %ld µs", r->acc_seconds, r->acc_millis,
                     r->acc_micros);
            kv(p, "accuracy", buf, 0);
        }
        kv(p, "policy", nt_buf_cstr(&r->policy), 0);
        kv(p, "serial", nt_buf_cstr(&r->serial), 1);
        kv(p, "tsa_name", nt_buf_cstr(&r->tsa_name), 0);
        kv(p, "qualified", T(lang, r->qualified_tsu ? "qualified_yes" : "qualified_no"), 0);
        snprintf(buf, sizeof(buf), "%s:%s", nt_buf_cstr(&r->imprint_alg), nt_buf_cstr(&r->imprint));
        kv(p, "imprint", buf, 1);
        text(p, ST_BODY, T(lang, "chain"), 0);
        for (size_t i = 0; i < r->chain_count; i++) {
            cert(p, &r->chain[i], i);
        }
    } else {
        text(p, ST_BODY, T(lang, "none"), 0);
    }
}

/* 3. The ledger position, the signed checkpoint and the mirror. */
static void render_ledger(pdf *p)
{
    const verifier_report *r = p->r;
    const char *lang = p->lang;
    char buf[512];

    text(p, ST_H1, T(lang, "ledger"), 0);
    if (r->have_ledger) {
        kv(p, "origin", nt_buf_cstr(&r->origin), 0);
        snprintf(buf, sizeof(buf), "%llu", (unsigned long long)r->leaf_index);
        kv(p, "leaf_index", buf, 0);
        snprintf(buf, sizeof(buf), "%llu", (unsigned long long)r->tree_size);
        kv(p, "tree_size", buf, 0);
        kv(p, "root", nt_buf_cstr(&r->root), 1);
        /* label and note in one block, so that a page break never separates them */
        blockf(p, ST_BODY, 0, "<b>%s</b>:\n<tt>%s</tt>", T(lang, "checkpoint"),
               nt_buf_cstr(&r->checkpoint));
        if (r->mirror_requested) {
            kv(p, "mirror", nt_buf_cstr(&r->mirror_source), 0);
            if (r->mirror_commit.len > 0) {
                snprintf(buf, sizeof(buf), "%s (%s)", nt_buf_cstr(&r->mirror_commit),
                         nt_buf_cstr(&r->mirror_commit_time));
                kv(p, "commit", buf, 1);
            }
        }
    } else {
        text(p, ST_BODY, T(lang, "none"), 0);
    }
}

/* 4. Each check with its result and detail lines (in the report's language). */
static void render_steps(pdf *p)
{
    const verifier_report *r = p->r;
    const char *lang = p->lang;

    text(p, ST_H1, T(lang, "steps"), 0);
    for (int i = 0; i < VERIFIER_STEP_COUNT; i++) {
        const verifier_step_result *st = &r->steps[i];
        char key[32];
        snprintf(key, sizeof(key), "step_%s", verifier_step_name((verifier_step_id)i));
        blockf(p, ST_BODY, 0, "<b>%d. %s</b> — %s%s%s", i + 1, T(lang, key),
               T(lang, verifier_status_name(st->status)), st->sub != NULL ? " · " : "",
               st->sub != NULL ? st->sub : "");
        size_t pos = 0;
        const char *line;
        size_t len;
        const nt_buf *details = strcmp(lang, "zh") == 0 ? &st->details_zh : &st->details;
        while (verifier__next_line(details, &pos, &line, &len)) {
            char *d = g_strndup(line, len);
            text(p, ST_SMALL, d, 14);
            g_free(d);
        }
    }
}

/* 5.-7. Conclusion, what the report does not establish, and how to repeat it. */
static void render_end(pdf *p)
{
    const verifier_report *r = p->r;
    const char *lang = p->lang;
    char buf[512];

    text(p, ST_H1, T(lang, "conclusion"), 0);
    snprintf(buf, sizeof(buf), "concl_%s", verifier_indication_name(r->indication));
    text(p, ST_BODY, T(lang, buf), 0);

    text(p, ST_H1, T(lang, "limits"), 0);
    size_t pos = 0;
    const char *line;
    size_t len;
    while (verifier__next_line(&r->limits, &pos, &line, &len)) {
        char *d = g_strndup(line, len);
        char *item = g_strdup_printf("• %s", T(lang, d));
        text(p, ST_BODY, item, 6);
        g_free(item);
        g_free(d);
    }

    text(p, ST_H1, T(lang, "yourself"), 0);
    text(p, ST_BODY, T(lang, "yourself_text"), 0);
    text(p, ST_MONO, nt_buf_cstr(&r->command_line), 6);
    footer(p);
}

static void render(pdf *p)
{
    render_head(p);
    render_evidence(p);
    render_timestamp(p);
    render_ledger(p);
    render_steps(p);
    render_end(p);
}

int verifier_pdf_supported(void)
{
    return 1;
}

/* cairo's write callback for verifier_report_pdf_buf: append to the nt_buf. */
static cairo_status_t pdf_append(void *closure, const unsigned char *data, unsigned int length)
{
    return nt_buf_put(closure, data, length) < 0 ? CAIRO_STATUS_NO_MEMORY : CAIRO_STATUS_SUCCESS;
}

/*
 * To the file `path`, or (path NULL) appended to `out`: a document titled `title`, every page
 * footed with `report_id`, dated `now`, its content laid out by fn(p, ctx).
 */
static int pdf_render(const char *path, nt_buf *out, const char *lang, const char *title,
                      const char *report_id, time_t now, void (*fn)(pdf *p, const void *ctx),
                      const void *ctx)
{
    int error = 0;
    pdf p;
    memset(&p, 0, sizeof(p));
    if (path == NULL) {
        path = "(memory)";
    }
    lang = lang != NULL ? lang : "en";
    NT_ENSURE(strcmp(lang, "en") == 0 || strcmp(lang, "zh") == 0, NT_EINVAL,
              "--lang: \"%s\" is not one of en, zh", lang);
    p.lang = lang;
    p.report_id = report_id;
    p.page = 1;
    p.y = MARGIN;
    /* Latin text in Noto Sans; CJK (the zh report, CJK names) in Noto Sans CJK via fallback. */
    p.sans = strcmp(lang, "zh") == 0 ? "Noto Sans CJK SC, Noto Sans, DejaVu Sans"
                                     : "Noto Sans, DejaVu Sans, Noto Sans CJK SC";
    p.mono = "DejaVu Sans Mono, Noto Sans Mono CJK SC";
    p.surface = out != NULL ? cairo_pdf_surface_create_for_stream(pdf_append, out, PAGE_W, PAGE_H)
                            : cairo_pdf_surface_create(path, PAGE_W, PAGE_H);
    NT_ENSURE(cairo_surface_status(p.surface) == CAIRO_STATUS_SUCCESS, NT_EIO,
              "cannot create PDF %s: %s", path,
              cairo_status_to_string(cairo_surface_status(p.surface)));
    /* Dates from the verification time, so the same report renders the same. */
    char date[32];
    verifier__time_text(date, (int64_t)now);
    cairo_pdf_surface_set_metadata(p.surface, CAIRO_PDF_METADATA_TITLE, title);
    cairo_pdf_surface_set_metadata(p.surface, CAIRO_PDF_METADATA_CREATOR,
                                   VERIFIER_NAME " " NT_VERSION);
    cairo_pdf_surface_set_metadata(p.surface, CAIRO_PDF_METADATA_SUBJECT, report_id);
    cairo_pdf_surface_set_metadata(p.surface, CAIRO_PDF_METADATA_CREATE_DATE, date);
    cairo_pdf_surface_set_metadata(p.surface, CAIRO_PDF_METADATA_MOD_DATE, date);
    p.cr = cairo_create(p.surface);
    cairo_set_source_rgb(p.cr, 0, 0, 0);
    fn(&p, ctx);
    cairo_show_page(p.cr);
    cairo_destroy(p.cr);
    p.cr = NULL;
    cairo_surface_finish(p.surface);
    NT_ENSURE(cairo_surface_status(p.surface) == CAIRO_STATUS_SUCCESS, NT_EIO,
              "cannot write PDF %s: %s", path,
              cairo_status_to_string(cairo_surface_status(p.surface)));
done:
    if (p.cr != NULL) {
        cairo_destroy(p.cr);
    }
    if (p.surface != NULL) {
        cairo_surface_destroy(p.surface);
    }
    return error;
}

static void render_report(pdf *p, const void *ctx)
{
    p->r = ctx;
    render(p);
}

static int pdf_write(const verifier_report *r, const char *path, nt_buf *out, const char *lang)
{
    return pdf_render(path, out, lang, T(lang != NULL ? lang : "en", "title"), r->report_id, r->now,
                      render_report, r);
}

/* ------------------------------------------------------------------ for other reports */

int verifier__pdf_render(nt_buf *out, const char *path, const char *lang, const char *title,
                         const char *report_id, time_t now,
                         void (*fn)(struct pdf *p, const void *ctx), const void *ctx)
{
    return pdf_render(path, out, lang, title, report_id, now, fn, ctx);
}

const char *verifier__pdf_lang(const struct pdf *p)
{
    return p->lang;
}

void verifier__pdf_block(struct pdf *p, int style, const char *markup, double indent)
{
    block(p, (enum style)style, markup, indent);
}

void verifier__pdf_blockf(struct pdf *p, int style, double indent, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = g_markup_vprintf_escaped(fmt, ap);
    va_end(ap);
    block(p, (enum style)style, m, indent);
    g_free(m);
}

void verifier__pdf_footer(struct pdf *p)
{
    footer(p);
}

/* One table row: cells of markup in columns of `widths` points, kept on one page. */
void verifier__pdf_row(struct pdf *p, const char *const *cells, const double *widths, size_t n,
                       int header)
{
    PangoLayout *ls[16];
    double hmax = 0, x = MARGIN;
    n = n < NT_ARRAY_LEN(ls) ? n : NT_ARRAY_LEN(ls);
    for (size_t i = 0; i < n; i++) {
        int w = 0, h = 0;
        ls[i] = layout_new(p, p->sans, 8, header);
        pango_layout_set_width(ls[i], (int)((widths[i] - 4) * PANGO_SCALE));
        pango_layout_set_wrap(ls[i], PANGO_WRAP_WORD_CHAR);
        pango_layout_set_markup(ls[i], cells[i], -1);
        pango_layout_get_size(ls[i], &w, &h);
        hmax = (double)h / PANGO_SCALE > hmax ? (double)h / PANGO_SCALE : hmax;
    }
    if (p->y + hmax + 4 > PAGE_H - MARGIN - FOOTER && p->y > MARGIN) {
        new_page(p);
    }
    for (size_t i = 0; i < n; i++) {
        cairo_move_to(p->cr, x, p->y + 2);
        pango_cairo_show_layout(p->cr, ls[i]);
        x += widths[i];
        g_object_unref(ls[i]);
    }
    p->y += hmax + 4;
    cairo_set_line_width(p->cr, header ? 0.8 : 0.3);
    cairo_move_to(p->cr, MARGIN, p->y);
    cairo_line_to(p->cr, x, p->y);
    cairo_stroke(p->cr);
    p->y += 1;
}

int verifier_report_pdf(const verifier_report *r, const char *path, const char *lang)
{
    return pdf_write(r, path, NULL, lang);
}

int verifier_report_pdf_buf(nt_buf *out, const verifier_report *r, const char *lang)
{
    return pdf_write(r, NULL, out, lang);
}

#else

int verifier_pdf_supported(void)
{
    return 0;
}

int verifier_report_pdf(const verifier_report *r, const char *path, const char *lang)
{
    (void)r;
    (void)path;
    (void)lang;
    return nt_error_set(NT_EUNSUPPORTED, "this verifier was built without PDF support "
                                         "(cairo + pango not found)");
}

int verifier_report_pdf_buf(nt_buf *out, const verifier_report *r, const char *lang)
{
    (void)out;
    return verifier_report_pdf(r, "(memory)", lang);
}

#endif
