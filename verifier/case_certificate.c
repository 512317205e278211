/*
 * case_certificate.c - the preservation certificate (issue 11): a short
 * statement, built from a verified and sealed case, of the case id, the
 * documents' digests, the event timeline, the ledger positions and the
 * checkpoint, as deterministic JSON (docs/REPORT.md "Preservation
 * certificate") and as a PDF (en/zh).  Signing and time-stamping are those of
 * signed reports (sign.c: verifier_report_sign, verifier_report_timestamp),
 * so `notarium verify-report` checks a certificate offline as it checks a
 * report.  Part of nt_verifier.
 *
 * Why only from a PASSED, sealed case: the certificate asserts that the
 * process is complete and anchored; issuing one for a chain that does not
 * verify, or that may still grow, would certify what is not established.
 */
#include "verifier/case_int.h"

#include "ledger/note.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#define CERT_TYPE "notarium.preservation-certificate"

static const char statement_en[] =
    "The documents and events listed here were time-stamped at the times shown by a "
    "time-stamping authority certified by the trust anchor named, and recorded in the "
    "append-only ledger at the positions shown, under the checkpoint shown; the events form one "
    "complete chain from seq 1 to the case.completed event that sealed the case. Personal data "
    "is held in the ledger only as salted commitments.";
static const char statement_zh[] =
    "本证书所列文件及事件已由受所列信任锚认证的时间戳机构在所示时间加盖时间戳，并记录于只增账本的"
    "所示位置，以所示检查点为证；各事件构成一条从 seq 1 至封存本案的 case.completed "
    "事件的完整链条。"
    "个人数据在账本中仅以加盐承诺值的形式保存。";

static int put(json_t *obj, const char *key, json_t *value)
{
    if (value == NULL || json_object_set_new(obj, key, value) < 0) {
        return nt_error_set(NT_ENOMEM, "certificate: out of memory");
    }
    return 0;
}

/* Tree size and root (hex) of the case's checkpoint. */
static int checkpoint_of(const verifier_case_report *r, uint64_t *size, char root[65])
{
    int error = 0;
    checkpoint cp;
    const char *text = nt_buf_cstr(&r->checkpoint);
    const char *end = strstr(text, "\n\n");
    NT_ENSURE(end != NULL, NT_EINVAL, "certificate: the checkpoint is not a signed note");
    NT_TRY(checkpoint_parse(&cp, text, (size_t)(end - text) + 1));
    *size = cp.size;
    nt_hex_fill(root, cp.root, 32);
done:
    return error;
}

static void certificate_id(char out[40], const verifier_case_report *r, const char *issued)
{
    uint8_t md[32];
    char hex[33];
    nt_buf seed = NT_BUF_INIT;
    if (nt_buf_printf(&seed, "certificate|%s|%s|%s", r->bundle.sha256, issued, r->report_id) == 0) {
        SHA256(seed.ptr, seed.len, md);
    } else {
        memset(md, 0, sizeof(md));
    }
    nt_buf_dispose(&seed);
    nt_hex_fill(hex, md, 16);
    snprintf(out, 40, "NTP-%.8s-%.8s-%.8s", hex, hex + 8, hex + 16);
}

/* Every artifact digest once, with the events that carry it. */
static json_t *documents_json(const verifier_case_report *r)
{
    json_t *docs = json_array();
    for (size_t i = 0; docs != NULL && i < r->event_count; i++) {
        const event_body *b = &r->events[i].body;
        for (size_t a = 0; a < b->artifact_count; a++) {
            const event_body_artifact *art = &b->artifacts[a];
            nt_buf d = NT_BUF_INIT;
            json_t *found = NULL, *item;
            size_t k;
            if (nt_buf_printf(&d, "%s:", record_alg_name(art->alg)) < 0 ||
                nt_hex_encode(&d, art->digest.ptr, art->digest.len) < 0) {
                nt_buf_dispose(&d);
                json_decref(docs);
                return NULL;
            }
            json_array_foreach (docs, k, item) {
                if (strcmp(json_string_value(json_object_get(item, "digest")), nt_buf_cstr(&d)) ==
                    0) {
                    found = item;
                }
            }
            if (found == NULL) {
                found = json_pack(
                    "{s:s,s:o,s:[]}", "digest", nt_buf_cstr(&d), "name",
                    art->has_name ? json_string(nt_buf_cstr(&art->name)) : json_null(), "events");
                if (found == NULL || json_array_append_new(docs, found) < 0) {
                    nt_buf_dispose(&d);
                    json_decref(docs);
                    return NULL;
                }
            }
            json_t *evs = json_object_get(found, "events");
            json_t *last = json_array_get(evs, json_array_size(evs) - 1);
            if (last == NULL || (uint64_t)json_integer_value(last) != b->seq) {
                json_array_append_new(evs, json_integer((json_int_t)b->seq));
            }
            nt_buf_dispose(&d);
        }
    }
    return docs;
}

static json_t *events_json(const verifier_case_report *r)
{
    json_t *evs = json_array();
    for (size_t i = 0; evs != NULL && i < r->event_count; i++) {
        const case_event_info *e = &r->events[i];
        if (json_array_append_new(
                evs, json_pack("{s:I,s:s,s:s,s:s,s:I,s:s}", "seq", (json_int_t)e->seq, "kind",
                               e->body.kind, "gen_time", nt_buf_cstr(&e->gen_time), "tsa_serial",
                               nt_buf_cstr(&e->tsa_serial), "leaf_index", (json_int_t)e->leaf_index,
                               "leaf_hash", e->leaf_hash)) < 0) {
            json_decref(evs);
            return NULL;
        }
    }
    return evs;
}

int verifier_case_certificate(nt_buf *out, const verifier_case_report *r, time_t issued_at)
{
    int error = 0;
    json_t *root = NULL;
    char *text = NULL, issued[32], id[40], cp_root[65];
    uint64_t tree_size = 0;

    NT_ENSURE(r->indication == VERIFIER_PASSED, NT_EINVAL,
              "no certificate: the case does not verify (%s %s)",
              verifier_indication_name(r->indication), r->sub != NULL ? r->sub : "");
    NT_ENSURE(r->sealed, NT_EINVAL, "no certificate: the case is not sealed (no case.completed)");
    NT_TRY(checkpoint_of(r, &tree_size, cp_root));
    verifier__time_text(issued, (int64_t)issued_at);
    certificate_id(id, r, issued);
    NT_ENSURE((root = json_object()) != NULL, NT_ENOMEM, "certificate: out of memory");
    NT_TRY(put(root, "type", json_string(CERT_TYPE)));
    NT_TRY(put(root, "version", json_integer(1)));
    NT_TRY(put(root, "certificate_id", json_string(id)));
    NT_TRY(put(root, "issued_at", json_string(issued)));
    NT_TRY(put(root, "tenant", json_string(nt_buf_cstr(&r->tenant))));
    NT_TRY(put(root, "case", json_string(nt_buf_cstr(&r->case_id))));
    NT_TRY(put(root, "sealed", json_true()));
    NT_TRY(put(root, "documents", documents_json(r)));
    NT_TRY(put(root, "events", events_json(r)));
    NT_TRY(put(root, "ledger",
               json_pack("{s:s,s:I,s:s,s:s}", "origin", nt_buf_cstr(&r->origin), "tree_size",
                         (json_int_t)tree_size, "root", cp_root, "checkpoint",
                         nt_buf_cstr(&r->checkpoint))));
    NT_TRY(put(root, "tsa",
               r->have_tsa
                   ? json_pack("{s:s,s:s,s:s}", "subject", nt_buf_cstr(&r->tsa.subject), "issuer",
                               nt_buf_cstr(&r->tsa.issuer), "sha256", r->tsa.sha256)
                   : json_null()));
    NT_TRY(put(root, "verification",
               json_pack("{s:s,s:s,s:s,s:s,s:s}", "report_id", r->report_id, "verified_at",
                         r->now_text, "bundle_sha256", r->bundle.sha256, "trust_sha256",
                         r->trust.sha256, "log_key_sha256", r->log_key.sha256)));
    NT_TRY(put(root, "statement", json_string(statement_en)));
    NT_TRY(put(root, "statement_zh", json_string(statement_zh)));
    text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    NT_ENSURE(text != NULL, NT_ENOMEM, "certificate: cannot serialise");
    NT_TRY(nt_buf_puts(out, text));
    NT_TRY(nt_buf_putc(out, '\n'));
done:
    free(text);
    json_decref(root);
    return error;
}

/* ------------------------------------------------------------------ PDF */

#ifdef NT_VERIFIER_PDF

#include <glib.h>

typedef struct cert_ctx {
    const verifier_case_report *r;
    const char *issued;
    const char *id;
} cert_ctx;

static void render_cert(struct pdf *p, const void *ctx)
{
    const cert_ctx *c = ctx;
    const verifier_case_report *r = c->r;
    int zh = strcmp(verifier__pdf_lang(p), "zh") == 0;
    static const double widths[] = {30, 120, 110, 60, 175};
    verifier__pdf_blockf(
        p, 0, 0, "%s", zh ? "存证证书（案件证据链）" : "Preservation certificate (evidence chain)");
    verifier__pdf_blockf(p, 2, 0, "<b>%s</b>: <tt>%s</tt>", zh ? "证书编号" : "Certificate ID",
                         c->id);
    verifier__pdf_blockf(p, 2, 0, "<b>%s</b>: %s", zh ? "签发时间" : "Issued at", c->issued);
    verifier__pdf_blockf(p, 2, 0, "<b>%s</b>: <tt>%s</tt>",
                         zh ? "租户（平台）" : "Tenant (platform)", nt_buf_cstr(&r->tenant));
    verifier__pdf_blockf(p, 2, 0, "<b>%s</b>: <tt>%s</tt>", zh ? "案件编号" : "Case ID",
                         nt_buf_cstr(&r->case_id));
    if (r->have_tsa) {
        verifier__pdf_blockf(p, 2, 0, "<b>%s</b>: %s",
                             zh ? "时间戳机构" : "Time-stamping authority",
                             nt_buf_cstr(&r->tsa.subject));
    }
    verifier__pdf_blockf(p, 1, 0, "%s", zh ? "事件" : "Events");
    const char *head[5] = {zh ? "序号" : "Seq", zh ? "时间（genTime）" : "Time (genTime)",
                           zh ? "事件" : "Event", zh ? "账本位置" : "Leaf",
                           zh ? "叶子哈希" : "Leaf hash"};
    verifier__pdf_row(p, head, widths, 5, 1);
    for (size_t i = 0; i < r->event_count; i++) {
        const case_event_info *e = &r->events[i];
        char seq[24], idx[24];
        snprintf(seq, sizeof(seq), "%llu", (unsigned long long)e->seq);
        snprintf(idx, sizeof(idx), "%llu", (unsigned long long)e->leaf_index);
        char *t = g_markup_escape_text(nt_buf_cstr(&e->gen_time), -1);
        char *k = g_markup_escape_text(e->body.kind, -1);
        char *h = g_markup_printf_escaped("<tt>%s</tt>", e->leaf_hash);
        const char *cells[5] = {seq, t, k, idx, h};
        verifier__pdf_row(p, cells, widths, 5, 0);
        g_free(t);
        g_free(k);
        g_free(h);
    }
    verifier__pdf_blockf(p, 1, 0, "%s", zh ? "文件摘要" : "Documents' digests");
    for (size_t i = 0; i < r->event_count; i++) {
        const event_body *b = &r->events[i].body;
        for (size_t a = 0; a < b->artifact_count; a++) {
            nt_buf d = NT_BUF_INIT;
            (void)nt_hex_encode(&d, b->artifacts[a].digest.ptr, b->artifacts[a].digest.len);
            verifier__pdf_blockf(p, 4, 6, "seq %llu %s: %s:%s", (unsigned long long)b->seq,
                                 b->artifacts[a].has_name ? nt_buf_cstr(&b->artifacts[a].name) : "",
                                 record_alg_name(b->artifacts[a].alg), nt_buf_cstr(&d));
            nt_buf_dispose(&d);
        }
    }
    verifier__pdf_blockf(p, 1, 0, "%s", zh ? "账本检查点" : "Ledger checkpoint");
    verifier__pdf_blockf(p, 3, 6, "%s", nt_buf_cstr(&r->checkpoint));
    verifier__pdf_blockf(p, 1, 0, "%s", zh ? "声明" : "Statement");
    verifier__pdf_blockf(p, 2, 0, "%s", zh ? statement_zh : statement_en);
    verifier__pdf_blockf(
        p, 2, 0, "%s",
        zh ? "本证书的 JSON 文本附有分离式签名（.p7s），可用 notarium verify-report 离线核验；"
             "证据链可用 notarium verify --bundle 离线重新验证。"
           : "The JSON text of this certificate carries a detached signature (.p7s): check it "
             "offline with notarium verify-report; re-verify the chain offline with notarium "
             "verify --bundle.");
    verifier__pdf_footer(p);
}

int verifier_case_certificate_pdf(nt_buf *out, const char *path, const verifier_case_report *r,
                                  time_t issued_at, const char *lang)
{
    int error = 0;
    char issued[32], id[40];
    NT_ENSURE(r->indication == VERIFIER_PASSED && r->sealed, NT_EINVAL,
              "no certificate: the case does not verify or is not sealed");
    lang = lang != NULL ? lang : "en";
    verifier__time_text(issued, (int64_t)issued_at);
    certificate_id(id, r, issued);
    cert_ctx c = {r, issued, id};
    error = verifier__pdf_render(out, path, lang,
                                 strcmp(lang, "zh") == 0 ? "存证证书" : "Preservation certificate",
                                 id, issued_at, render_cert, &c);
done:
    return error;
}

#else

int verifier_case_certificate_pdf(nt_buf *out, const char *path, const verifier_case_report *r,
                                  time_t issued_at, const char *lang)
{
    (void)out;
    (void)path;
    (void)r;
    (void)issued_at;
    (void)lang;
    return nt_error_set(NT_EUNSUPPORTED, "this verifier was built without PDF support "
                                         "(cairo + pango not found)");
}

#endif
