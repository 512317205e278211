/*
 * verify_case.c - verification of an evidence bundle (docs/REPORT.md "Case
 * report"): the inputs read, the bundle parsed (bundle.c), every event
 * verified as a receipt, then the case checks of verify_case_checks.c, and
 * the overall indication.  Part of nt_verifier; report_case.c renders it.
 *
 * Why a receipt per event: an event of a bundle is exactly a receipt (leaf,
 * token, proof, checkpoint, certificates, the body as metadata) whose
 * document digest is SHA-256(body).  Building that receipt and running the
 * single-receipt verifier on it reuses every check (token, signature and
 * chain at genTime, revocation-free ledger step, checkpoint signature) with
 * its sub-indications, instead of a second copy that would drift.
 */
#include "verifier/case_int.h"

#include "ledger/merkle.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

/* ------------------------------------------------------------------ helpers */

const char *verifier__case_check_name(case_check_id id)
{
    static const char *const names[CASE_CHECK_COUNT] = {
        "bundle", "events", "bodies", "case", "chain", "time", "seal", "documents", "disclosures",
    };
    return (unsigned)id < CASE_CHECK_COUNT ? names[id] : "unknown";
}

int verifier__case_detail(verifier_case_report *r, case_check_id id, const char *code,
                          const char *en, const char *zh, ...)
{
    va_list ap;
    va_start(ap, zh);
    int error = verifier__result_vdetail(&r->checks[id], code, en, zh, ap);
    va_end(ap);
    return error;
}

void verifier__case_set(verifier_case_report *r, case_check_id id, verifier_status s,
                        const char *sub)
{
    verifier__result_set(&r->checks[id], s, sub);
}

static int case_limit(verifier_case_report *r, const char *text)
{
    int error = nt_buf_puts(&r->limits, text);
    return error < 0 ? error : nt_buf_putc(&r->limits, '\n');
}

/* ------------------------------------------------------------------ events */

/* The first detail line of the first step that did not pass: why an event failed. */
static const char *event_reason(const verifier_report *er, size_t *len)
{
    for (int id = 0; id < VERIFIER_STEP_COUNT; id++) {
        const verifier_step_result *st = &er->steps[id];
        if (st->status == VERIFIER_STEP_FAILED || (st->status == VERIFIER_STEP_INDETERMINATE &&
                                                   st->sub != NULL && id != VERIFIER_STEP_MIRROR)) {
            size_t pos = 0, n = 0;
            const char *line = NULL, *last = "";
            while (verifier__next_line(&st->details, &pos, &line, &n)) {
                last = line;
                *len = n;
            }
            return last;
        }
    }
    *len = 0;
    return "";
}

/* The event as a receipt (the body as its metadata), verified with the single-receipt verifier. */
static int event_verify(verifier_case_report *r, case_event_info *info, const case_bundle *b,
                        const case_bundle_event *e, const verifier_case_options *o,
                        const nt_buf *trust, const nt_buf *log_key)
{
    int error = 0;
    receipt rc;
    nt_buf json = NT_BUF_INIT, digest = NT_BUF_INIT;
    verifier_report *er = NULL;
    verifier_options vo;
    uint8_t md[32], lh[32];

    receipt_init(&rc);
    memset(&vo, 0, sizeof(vo));
    NT_TRY(nt_buf_set(&rc.origin, b->origin.ptr, b->origin.len));
    rc.leaf_index = e->leaf_index;
    NT_TRY(nt_buf_set(&rc.leaf, e->leaf.ptr, e->leaf.len));
    NT_TRY(nt_buf_set(&rc.token, e->token.ptr, e->token.len));
    rc.tree_size = e->tree_size;
    NT_TRY(nt_buf_set(&rc.proof, e->proof.ptr, e->proof.len));
    NT_TRY(nt_buf_set(&rc.checkpoint, b->checkpoint.ptr, b->checkpoint.len));
    for (size_t i = 0; i < b->cert_count; i++) {
        NT_TRY(nt_buf_set(&rc.certs[i], b->certs[i].ptr, b->certs[i].len));
    }
    rc.cert_count = b->cert_count;
    rc.has_metadata = 1;
    NT_TRY(nt_buf_set(&rc.metadata, e->body.ptr, e->body.len));
    NT_TRY(receipt_encode(&json, &rc));

    SHA256(e->body.ptr, e->body.len, md);
    NT_TRY(nt_buf_puts(&digest, "sha256:"));
    char hex[65];
    nt_hex_fill(hex, md, 32);
    NT_TRY(nt_buf_puts(&digest, hex));
    vo.digest = nt_buf_cstr(&digest);
    vo.receipt = nt_buf_bytes(&json);
    vo.trust = nt_buf_bytes(trust);
    vo.log_key = nt_buf_bytes(log_key);
    vo.trust_path = o->trust_path;
    vo.log_key_path = o->log_key_path;
    vo.now = r->now;
    vo.command_line = "";
    NT_TRY(verifier_run(&er, &vo));

    info->seq = e->seq;
    info->leaf_index = e->leaf_index;
    merkle_leaf_hash(lh, e->leaf.ptr, e->leaf.len);
    nt_hex_fill(info->leaf_hash, lh, 32);
    info->indication = er->indication;
    info->sub = er->sub;
    NT_TRY(nt_buf_set(&info->gen_time, er->gen_time.ptr, er->gen_time.len));
    NT_TRY(nt_buf_set(&info->tsa_serial, er->serial.ptr, er->serial.len));
    if (!r->have_tsa && er->chain_verified && er->chain_count > 0) {
        verifier_cert_info *c = &er->chain[0];
        r->tsa = *c; /* moved: er's copy is cleared below */
        memset(c, 0, sizeof(*c));
        r->have_tsa = 1;
    }
    if (er->indication == VERIFIER_PASSED) {
        NT_TRY(verifier__case_detail(
            r, CASE_CHECK_EVENTS, "case.event_ok",
            "event seq %llu (leaf %llu): token, signature, leaf and inclusion verified; genTime %s",
            "事件 seq %llu（叶子 %llu）：令牌、签名、叶子及包含证明均已验证；genTime %s",
            (unsigned long long)e->seq, (unsigned long long)e->leaf_index,
            nt_buf_cstr(&info->gen_time)));
    } else {
        size_t n = 0;
        const char *why = event_reason(er, &n);
        verifier__case_set(r, CASE_CHECK_EVENTS,
                           er->indication == VERIFIER_FAILED ? VERIFIER_STEP_FAILED
                                                             : VERIFIER_STEP_INDETERMINATE,
                           er->sub);
        NT_TRY(verifier__case_detail(
            r, CASE_CHECK_EVENTS, "case.event_not_ok", "event seq %llu (leaf %llu): %s %s: %.*s",
            "事件 seq %llu（叶子 %llu）：%s %s：%.*s", (unsigned long long)e->seq,
            (unsigned long long)e->leaf_index, verifier_indication_name(er->indication),
            er->sub != NULL ? er->sub : "", (int)n, why));
    }
done:
    verifier_report_free(er);
    receipt_dispose(&rc);
    nt_buf_dispose(&json);
    nt_buf_dispose(&digest);
    return error;
}

/* ------------------------------------------------------------------ run */

static void conclude(verifier_case_report *r)
{
    r->indication = VERIFIER_PASSED;
    r->sub = NULL;
    for (int id = 0; id < CASE_CHECK_COUNT; id++) {
        if (r->checks[id].status == VERIFIER_STEP_FAILED) {
            r->indication = VERIFIER_FAILED;
            r->sub = r->checks[id].sub;
            return;
        }
    }
    for (int id = 0; id < CASE_CHECK_COUNT; id++) {
        const verifier_step_result *st = &r->checks[id];
        int optional = id == CASE_CHECK_DOCUMENTS || id == CASE_CHECK_DISCLOSURES;
        if (st->status == VERIFIER_STEP_INDETERMINATE ||
            (!optional && st->status != VERIFIER_STEP_PASSED)) {
            r->indication = VERIFIER_INDETERMINATE;
            r->sub = st->sub;
            return;
        }
    }
}

static int report_id(verifier_case_report *r)
{
    int error = 0;
    nt_buf seed = NT_BUF_INIT;
    uint8_t md[32];
    char hex[33];
    NT_TRY(nt_buf_printf(&seed, "case|%s|%s|%s|%s|%s|%d", r->now_text, r->bundle.sha256,
                         r->trust.sha256, r->log_key.sha256, r->disclose.sha256,
                         (int)r->indication));
    for (size_t i = 0; i < r->document_count; i++) {
        NT_TRY(nt_buf_printf(&seed, "|%s:%s", nt_buf_cstr(&r->documents[i].alg),
                             nt_buf_cstr(&r->documents[i].digest)));
    }
    SHA256(seed.ptr, seed.len, md);
    nt_hex_fill(hex, md, 16);
    snprintf(r->report_id, sizeof(r->report_id), "NTC-%.8s-%.8s-%.8s", hex, hex + 8, hex + 16);
done:
    nt_buf_dispose(&seed);
    return error;
}

static int command_line_build(verifier_case_report *r, const verifier_case_options *o)
{
    int error = 0;
    if (o->command_line != NULL) {
        return nt_buf_puts(&r->command_line, o->command_line);
    }
    NT_TRY(nt_buf_printf(&r->command_line, "%s --bundle '%s' --trust '%s' --log-key '%s'",
                         VERIFIER_NAME, o->bundle_path != NULL ? o->bundle_path : "CASE.bundle",
                         o->trust_path != NULL ? o->trust_path : "TSA-ROOTS.pem",
                         o->log_key_path != NULL ? o->log_key_path : "LOG.vkey"));
    for (size_t i = 0; i < o->document_count; i++) {
        NT_TRY(nt_buf_printf(&r->command_line, " --document '%s'", o->document_paths[i]));
    }
    if (o->disclose_path != NULL || o->disclose.ptr != NULL) {
        NT_TRY(nt_buf_printf(&r->command_line, " --disclose '%s'",
                             o->disclose_path != NULL ? o->disclose_path : "DISCLOSURES.json"));
    }
done:
    return error;
}

/* The events as receipts, then every case check. */
static int verify_bundle(verifier_case_report *r, const case_bundle *b, const case_disclosures *dis,
                         const verifier_case_options *o, const nt_buf *trust, const nt_buf *log_key)
{
    int error = 0;
    NT_TRY(nt_buf_set(&r->tenant, b->tenant.ptr, b->tenant.len));
    NT_TRY(nt_buf_set(&r->case_id, b->case_id.ptr, b->case_id.len));
    NT_TRY(nt_buf_set(&r->origin, b->origin.ptr, b->origin.len));
    NT_TRY(nt_buf_set(&r->checkpoint, b->checkpoint.ptr, b->checkpoint.len));
    r->sealed_claimed = b->sealed;
    NT_ENSURE((r->events = nt_calloc(b->event_count, sizeof(*r->events))) != NULL, NT_ENOMEM,
              "out of memory");
    r->event_count = b->event_count;
    verifier__case_set(r, CASE_CHECK_EVENTS, VERIFIER_STEP_PASSED, NULL);
    for (size_t i = 0; i < b->event_count; i++) {
        NT_TRY(event_verify(r, &r->events[i], b, &b->events[i], o, trust, log_key));
    }
    NT_TRY(verifier__case_checks(r, b, dis));
done:
    return error;
}

static int load_inputs(verifier_case_report *r, const verifier_case_options *o, nt_buf *bundle,
                       nt_buf *trust, nt_buf *vkey, case_disclosures *dis)
{
    int error = 0;
    nt_buf d = NT_BUF_INIT;
    NT_TRY(verifier__input_load(bundle, &r->bundle, o->bundle_path, o->bundle, "bundle"));
    NT_TRY(verifier__input_load(trust, &r->trust, o->trust_path, o->trust, "trust anchors"));
    NT_TRY(verifier__input_load(vkey, &r->log_key, o->log_key_path, o->log_key, "log key"));
    if (o->disclose_path != NULL || o->disclose.ptr != NULL) {
        NT_TRY(
            verifier__input_load(&d, &r->disclose, o->disclose_path, o->disclose, "disclosures"));
        if (verifier__disclosures_parse(dis, (const char *)d.ptr, d.len) < 0) {
            error = nt_error_set(NT_EINVAL, "--disclose: %s", nt_error_last());
            goto done;
        }
        r->disclosure_count = dis->count;
    }
    NT_TRY(verifier__case_documents_load(r, o));
done:
    nt_buf_dispose_secret(&d);
    return error;
}

int verifier_case_run(verifier_case_report **out, const verifier_case_options *o)
{
    int error = 0;
    verifier_case_report *r = NULL;
    nt_buf data = NT_BUF_INIT, trust = NT_BUF_INIT, vkey = NT_BUF_INIT;
    case_bundle b;
    case_disclosures dis = {0};

    memset(&b, 0, sizeof(b));
    *out = NULL;
    NT_ENSURE(o->document_count <= VERIFIER_MAX_DOCUMENTS &&
                  o->digest_count <= VERIFIER_MAX_DOCUMENTS &&
                  o->document_count + o->digest_count <= VERIFIER_MAX_DOCUMENTS,
              NT_EINVAL, "at most %d documents", VERIFIER_MAX_DOCUMENTS);
    NT_ENSURE((r = nt_calloc(1, sizeof(*r))) != NULL, NT_ENOMEM, "out of memory");
    for (int i = 0; i < CASE_CHECK_COUNT; i++) {
        r->checks[i].status = VERIFIER_STEP_NOT_RUN;
    }
    if (o->now != 0) {
        r->now = o->now;
    } else {
        struct timespec ts;
        NT_TRY(nt_clock_now(&ts));
        r->now = ts.tv_sec;
    }
    verifier__time_text(r->now_text, (int64_t)r->now);
    NT_TRY(load_inputs(r, o, &data, &trust, &vkey, &dis));

    if (verifier__bundle_parse(&b, (const char *)data.ptr, data.len) < 0) {
        verifier__case_set(r, CASE_CHECK_BUNDLE, VERIFIER_STEP_FAILED, "FORMAT_FAILURE");
        NT_TRY(verifier__case_detail(r, CASE_CHECK_BUNDLE, "case.bundle_format",
                                     "the bundle is not a Notarium case bundle: %s",
                                     "该证据包不是 Notarium 案件证据包：%s", nt_error_last()));
    } else {
        verifier__case_set(r, CASE_CHECK_BUNDLE, VERIFIER_STEP_PASSED, NULL);
        NT_TRY(verifier__case_detail(
            r, CASE_CHECK_BUNDLE, "case.bundle_ok",
            "bundle %s: %llu bytes, sha256 %s; case \"%s\" of tenant \"%s\", %zu event(s), "
            "log \"%s\"",
            "证据包 %1$s：%2$llu 字节，sha256 %3$s；租户“%5$s”的案件“%4$s”，%6$zu "
            "个事件，日志“%7$s”",
            nt_buf_cstr(&r->bundle.name), (unsigned long long)r->bundle.size, r->bundle.sha256,
            nt_buf_cstr(&b.case_id), nt_buf_cstr(&b.tenant), b.event_count,
            nt_buf_cstr(&b.origin)));
        NT_TRY(verify_bundle(r, &b, &dis, o, &trust, &vkey));
    }
    NT_TRY(case_limit(r, "who the parties are beyond the attributes disclosed"));
    NT_TRY(case_limit(r, "the truth or legal validity of the documents' content"));
    conclude(r);
    NT_TRY(command_line_build(r, o));
    NT_TRY(report_id(r));
    *out = r;
    r = NULL;
done:
    verifier_case_report_free(r);
    verifier__bundle_dispose(&b);
    verifier__disclosures_dispose(&dis);
    nt_buf_dispose(&data);
    nt_buf_dispose(&trust);
    nt_buf_dispose(&vkey);
    return error;
}

/* ------------------------------------------------------------------ accessors */

void verifier_case_report_free(verifier_case_report *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < CASE_CHECK_COUNT; i++) {
        nt_buf_dispose(&r->checks[i].details);
        nt_buf_dispose(&r->checks[i].details_zh);
        nt_buf_dispose(&r->checks[i].codes);
    }
    verifier_input *ins[] = {&r->bundle, &r->trust, &r->log_key, &r->disclose};
    for (size_t i = 0; i < NT_ARRAY_LEN(ins); i++) {
        nt_buf_dispose(&ins[i]->name);
    }
    nt_buf *bufs[] = {&r->tenant, &r->case_id, &r->origin,      &r->checkpoint,
                      &r->root,   &r->limits,  &r->command_line};
    for (size_t i = 0; i < NT_ARRAY_LEN(bufs); i++) {
        nt_buf_dispose(bufs[i]);
    }
    verifier__cert_info_dispose(&r->tsa);
    for (size_t i = 0; i < r->event_count; i++) {
        case_event_info *e = &r->events[i];
        nt_buf_dispose(&e->gen_time);
        nt_buf_dispose(&e->tsa_serial);
        nt_buf_dispose(&e->kind);
        for (size_t k = 0; k < EVENT_MAX_ATTRIBUTES; k++) {
            nt_buf_dispose_secret(&e->values[k]);
        }
        event_body_dispose(&e->body);
    }
    nt_free(r->events);
    for (size_t i = 0; i < VERIFIER_MAX_DOCUMENTS; i++) {
        nt_buf_dispose(&r->documents[i].input.name);
        nt_buf_dispose(&r->documents[i].alg);
        nt_buf_dispose(&r->documents[i].digest);
        nt_buf_dispose(&r->documents[i].claimed_by);
    }
    nt_free(r);
}

verifier_indication verifier_case_report_indication(const verifier_case_report *r)
{
    return r->indication;
}

const char *verifier_case_report_subindication(const verifier_case_report *r)
{
    return r->indication == VERIFIER_PASSED ? NULL : r->sub;
}

int verifier_case_report_exit_code(const verifier_case_report *r)
{
    return (int)r->indication;
}
