/*
 * verify_case_checks.c - the case checks of docs/REPORT.md "Case report"
 * that follow the per-event verification: bodies, case, chain, time, seal,
 * documents, disclosures.  Part of nt_verifier, called by verify_case.c.
 *
 * Each check records one line per finding and stops at the first failure:
 * the sub-indication names the first thing that is wrong, in the order a
 * reader would look (a spliced event is WRONG_CASE before it is a broken
 * link; swapped events are CHAIN_ORDER before their genTimes go backwards).
 */
#include "verifier/case_int.h"

#include <string.h>

#include <openssl/evp.h>

/* ------------------------------------------------------------------ documents */

int verifier__case_documents_load(verifier_case_report *r, const verifier_case_options *o)
{
    int error = 0;
    for (size_t i = 0; i < o->document_count; i++) {
        case_document *d = &r->documents[r->document_count++];
        unsigned n = 0;
        d->path = o->document_paths[i];
        NT_TRY(verifier__document_hash(&d->input, d->md[RECORD_ALG_SHA256], &n, d->path, NULL));
        d->have_md[RECORD_ALG_SHA256] = 1;
        NT_TRY(nt_buf_puts(&d->alg, "sha256"));
        NT_TRY(nt_buf_puts(&d->digest, d->input.sha256));
    }
    for (size_t i = 0; i < o->digest_count; i++) {
        case_document *d = &r->documents[r->document_count++];
        record_alg alg;
        nt_buf md = NT_BUF_INIT;
        if (record_digest_parse(&alg, &md, o->document_digests[i]) < 0 ||
            (unsigned)alg >= CASE_ALG_SLOTS) {
            error = nt_error_set(NT_EINVAL, "document digest %zu: %s", i, nt_error_last());
            nt_buf_dispose(&md);
            goto done;
        }
        memcpy(d->md[alg], md.ptr, md.len);
        d->have_md[alg] = 1;
        error = nt_buf_puts(&d->alg, record_alg_name(alg));
        if (error == 0) {
            error = nt_hex_encode(&d->digest, md.ptr, md.len);
        }
        nt_buf_dispose(&md);
        NT_TRY(error);
    }
done:
    return error;
}

/* The document's digest with `alg`, hashing the file again for another algorithm; NULL when a
 * digest was given with another algorithm (it cannot match). */
static int document_md(const uint8_t **out, case_document *d, record_alg alg)
{
    int error = 0;
    *out = NULL;
    if ((unsigned)alg >= CASE_ALG_SLOTS) {
        return 0;
    }
    if (!d->have_md[alg] && d->path != NULL) {
        unsigned n = 0;
        verifier_input tmp = {0};
        const EVP_MD *md = EVP_get_digestbynid(record_alg_nid(alg));
        if (md == NULL) {
            return 0; /* not in this OpenSSL (SM3): this artifact cannot be compared */
        }
        error = verifier__document_hash(&tmp, d->md[alg], &n, d->path, md);
        nt_buf_dispose(&tmp.name);
        NT_TRY(error);
        d->have_md[alg] = 1;
    }
    if (d->have_md[alg]) {
        *out = d->md[alg];
    }
done:
    return error;
}

static int check_documents(verifier_case_report *r)
{
    int error = 0;
    for (size_t i = 0; i < r->document_count; i++) {
        case_document *d = &r->documents[i];
        const char *name = d->path != NULL ? d->path : "(digest)";
        for (size_t k = 0; k < r->event_count; k++) {
            const case_event_info *e = &r->events[k];
            for (size_t a = 0; e->body_ok && a < e->body.artifact_count; a++) {
                const event_body_artifact *art = &e->body.artifacts[a];
                const uint8_t *md = NULL;
                NT_TRY(document_md(&md, d, art->alg));
                if (md == NULL || memcmp(md, art->digest.ptr, art->digest.len) != 0) {
                    continue;
                }
                NT_TRY(nt_buf_printf(&d->claimed_by, "%s%llu", d->claimed_by.len > 0 ? "," : "",
                                     (unsigned long long)e->seq));
                NT_TRY(verifier__case_detail(
                    r, CASE_CHECK_DOCUMENTS, "case.document_claimed",
                    "document %s (%s:%s) is artifact %zu of event seq %llu (%s)%s%s",
                    "文件 %1$s（%2$s:%3$s）是事件 seq %5$llu（%6$s）的第 %4$zu 个工件%7$s%8$s",
                    name, nt_buf_cstr(&d->alg), nt_buf_cstr(&d->digest), a + 1,
                    (unsigned long long)e->seq, e->body.kind, art->has_name ? ": " : "",
                    art->has_name ? nt_buf_cstr(&art->name) : ""));
                break;
            }
        }
        if (d->claimed_by.len == 0) {
            verifier__case_set(r, CASE_CHECK_DOCUMENTS, VERIFIER_STEP_FAILED,
                               "DOCUMENT_NOT_IN_CASE");
            NT_TRY(verifier__case_detail(
                r, CASE_CHECK_DOCUMENTS, "case.document_not_in_case",
                "document %s (%s:%s) is not an artifact of any event of the case",
                "文件 %s（%s:%s）不是本案任何事件的工件", name, nt_buf_cstr(&d->alg),
                nt_buf_cstr(&d->digest)));
        }
    }
    verifier__case_set(r, CASE_CHECK_DOCUMENTS, VERIFIER_STEP_PASSED, NULL);
done:
    return error;
}

/* ------------------------------------------------------------------ disclosures */

static int check_disclosures(verifier_case_report *r, const case_disclosures *dis)
{
    int error = 0;
    for (size_t i = 0; i < dis->count; i++) {
        const case_disclosure *d = &dis->items[i];
        case_event_info *e = NULL;
        for (size_t k = 0; k < r->event_count; k++) {
            if (r->events[k].body_ok && r->events[k].body.seq == d->seq) {
                e = &r->events[k];
                break;
            }
        }
        const event_body_attribute *a =
            e != NULL ? event_body_attribute_find(&e->body, d->attribute) : NULL;
        uint8_t c[32];
        int match = 0;
        if (a != NULL &&
            event_commitment(c, d->attribute, d->salt, d->value.ptr, d->value.len) == 0) {
            match = memcmp(c, a->commitment, 32) == 0;
        }
        if (!match) {
            verifier__case_set(r, CASE_CHECK_DISCLOSURES, VERIFIER_STEP_FAILED,
                               "DISCLOSURE_MISMATCH");
            NT_TRY(verifier__case_detail(
                r, CASE_CHECK_DISCLOSURES, "case.disclosure_mismatch",
                "disclosure %zu: attribute \"%s\" of event seq %llu %s",
                "披露 %1$zu：事件 seq %3$llu 的属性“%2$s”%4$s", i, d->attribute,
                (unsigned long long)d->seq,
                e == NULL   ? "(no such event in the bundle)"
                : a == NULL ? "(no such attribute in the event)"
                            : "does not match its commitment (wrong value or salt)"));
            continue;
        }
        size_t ai = (size_t)(a - e->body.attributes);
        NT_TRY(nt_buf_set(&e->values[ai], d->value.ptr, d->value.len));
        e->disclosed[ai] = 1;
        NT_TRY(verifier__case_detail(r, CASE_CHECK_DISCLOSURES, "case.disclosure_ok",
                                     "disclosure %zu: attribute \"%s\" of event seq %llu matches "
                                     "its commitment",
                                     "披露 %1$zu：事件 seq %3$llu 的属性“%2$s”与其承诺值相符", i,
                                     d->attribute, (unsigned long long)d->seq));
    }
    verifier__case_set(r, CASE_CHECK_DISCLOSURES, VERIFIER_STEP_PASSED, NULL);
done:
    return error;
}

/* ------------------------------------------------------------------ bodies */

static int check_bodies(verifier_case_report *r, const case_bundle *b, int *all_ok)
{
    int error = 0;
    *all_ok = 1;
    for (size_t i = 0; i < b->event_count; i++) {
        const case_bundle_event *be = &b->events[i];
        case_event_info *e = &r->events[i];
        record rec;
        const char *why = NULL;
        if (event_body_parse(&e->body, be->body.ptr, be->body.len) < 0) {
            why = nt_error_last();
        } else if (e->body.seq != be->seq) {
            why = "the body's seq differs from the event's seq in the bundle";
        } else if (record_decode(&rec, be->leaf.ptr, be->leaf.len) < 0) {
            why = "the leaf is not a canonical record";
        } else if (rec.kind != RECORD_KIND_CASE_EVENT || rec.alg != RECORD_ALG_SHA256) {
            why = "the leaf is not a case event (kind 0x03, sha256)";
        } else if (rec.label.len != strlen(e->body.kind) ||
                   memcmp(rec.label.ptr, e->body.kind, rec.label.len) != 0) {
            why = "the leaf's label is not the body's kind";
        }
        if (why != NULL) {
            *all_ok = 0;
            event_body_dispose(&e->body);
            verifier__case_set(r, CASE_CHECK_BODIES, VERIFIER_STEP_FAILED,
                               strncmp(why, "the leaf", 8) != 0 ? "FORMAT_FAILURE"
                                                                : "LEAF_MISMATCH");
            NT_TRY(verifier__case_detail(
                r, CASE_CHECK_BODIES, "case.body_bad", "events[%zu] (seq %llu): %s",
                "events[%zu]（seq %llu）：%s", i, (unsigned long long)be->seq, why));
            continue;
        }
        e->body_ok = 1;
        NT_TRY(nt_buf_puts(&e->kind, e->body.kind));
    }
    if (*all_ok) {
        verifier__case_set(r, CASE_CHECK_BODIES, VERIFIER_STEP_PASSED, NULL);
        NT_TRY(verifier__case_detail(r, CASE_CHECK_BODIES, "case.bodies_ok",
                                     "%zu event bodies parse; each leaf is a case event labelled "
                                     "with its kind",
                                     "%zu 个事件正文均可解析；每个叶子均为以其类型为标签的案件事件",
                                     b->event_count));
    }
done:
    return error;
}

/* ------------------------------------------------------------------ case, chain */

static int check_case(verifier_case_report *r)
{
    int error = 0;
    for (size_t i = 0; i < r->event_count; i++) {
        const event_body *eb = &r->events[i].body;
        if (strcmp(eb->tenant, nt_buf_cstr(&r->tenant)) != 0 ||
            strcmp(eb->case_id, nt_buf_cstr(&r->case_id)) != 0) {
            verifier__case_set(r, CASE_CHECK_CASE, VERIFIER_STEP_FAILED, "WRONG_CASE");
            NT_TRY(verifier__case_detail(
                r, CASE_CHECK_CASE, "case.wrong_case",
                "event seq %llu belongs to case \"%s\" of tenant \"%s\", not to this case",
                "事件 seq %1$llu 属于租户“%3$s”的案件“%2$s”，不属于本案",
                (unsigned long long)eb->seq, eb->case_id, eb->tenant));
            goto done;
        }
    }
    verifier__case_set(r, CASE_CHECK_CASE, VERIFIER_STEP_PASSED, NULL);
    NT_TRY(verifier__case_detail(
        r, CASE_CHECK_CASE, "case.case_ok", "every event names tenant \"%s\" and case \"%s\"",
        "每个事件均指明租户“%s”和案件“%s”", nt_buf_cstr(&r->tenant), nt_buf_cstr(&r->case_id)));
done:
    return error;
}

/* Both sequence numbers of a chain finding, for its detail line. */
#define chain_fail(r, sub, code, en, zh, a, b)                                                     \
    (verifier__case_set((r), CASE_CHECK_CHAIN, VERIFIER_STEP_FAILED, (sub)),                       \
     verifier__case_detail((r), CASE_CHECK_CHAIN, (code), en, zh, (a), (b)))

static int check_chain(verifier_case_report *r)
{
    int error = 0;
    for (size_t i = 0; i < r->event_count; i++) {
        const event_body *eb = &r->events[i].body;
        uint64_t want = (uint64_t)i + 1;
        if (eb->seq != want) {
            int later = 0;
            for (size_t k = i + 1; k < r->event_count; k++) {
                later |= r->events[k].body.seq == want;
            }
            if (later || eb->seq < want) {
                error = chain_fail(r, "CHAIN_ORDER", "case.chain_order",
                                   "events out of order: position %llu holds seq %llu",
                                   "事件顺序错误：第 %llu 位为 seq %llu", (unsigned long long)want,
                                   (unsigned long long)eb->seq);
            } else {
                error = chain_fail(r, "CHAIN_GAP", "case.chain_gap",
                                   "chain broken at seq %llu: the next event shown is seq %llu",
                                   "链在 seq %llu 处断开：所示的下一个事件为 seq %llu",
                                   (unsigned long long)want, (unsigned long long)eb->seq);
            }
            goto done;
        }
        if (i > 0) {
            uint8_t prev[32];
            nt_buf h = NT_BUF_INIT;
            NT_TRY(nt_hex_decode(&h, r->events[i - 1].leaf_hash, 64));
            memcpy(prev, h.ptr, 32);
            nt_buf_dispose(&h);
            if (memcmp(prev, eb->prev, 32) != 0) {
                error =
                    chain_fail(r, "CHAIN_LINK_FAILURE", "case.chain_link",
                               "chain broken at seq %llu: prev is not the leaf hash of seq %llu",
                               "链在 seq %llu 处断开：prev 不是 seq %llu 的叶子哈希",
                               (unsigned long long)eb->seq, (unsigned long long)eb->seq - 1);
                goto done;
            }
        }
    }
    verifier__case_set(r, CASE_CHECK_CHAIN, VERIFIER_STEP_PASSED, NULL);
    NT_TRY(verifier__case_detail(r, CASE_CHECK_CHAIN, "case.chain_ok",
                                 "seq 1..%zu without a gap, each event linked to the leaf hash of "
                                 "the one before",
                                 "seq 1..%zu 连续无缺，每个事件均链接到前一事件的叶子哈希",
                                 r->event_count));
done:
    return error;
}

/* ------------------------------------------------------------------ time, seal */

/* Compare two RFC 3339 UTC times of the verifier ("YYYY-MM-DDThh:mm:ss[.f*]Z"), fractions kept. */
static int time_cmp(const char *a, const char *b)
{
    int c = strncmp(a, b, 19);
    if (c != 0) {
        return c;
    }
    a += 19;
    b += 19;
    a += *a == '.';
    b += *b == '.';
    while ((*a >= '0' && *a <= '9') || (*b >= '0' && *b <= '9')) {
        char x = *a >= '0' && *a <= '9' ? *a++ : '0';
        char y = *b >= '0' && *b <= '9' ? *b++ : '0';
        if (x != y) {
            return x < y ? -1 : 1;
        }
    }
    return 0;
}

static int check_time(verifier_case_report *r)
{
    int error = 0;
    for (size_t i = 0; i < r->event_count; i++) {
        if (r->events[i].gen_time.len < 20) {
            NT_TRY(verifier__case_detail(r, CASE_CHECK_TIME, "case.time_unknown",
                                         "not run: the genTime of event seq %llu is not known",
                                         "未执行：事件 seq %llu 的 genTime 未知",
                                         (unsigned long long)r->events[i].seq));
            goto done;
        }
    }
    for (size_t i = 1; i < r->event_count; i++) {
        const case_event_info *p = &r->events[i - 1], *e = &r->events[i];
        if (time_cmp(nt_buf_cstr(&e->gen_time), nt_buf_cstr(&p->gen_time)) < 0) {
            verifier__case_set(r, CASE_CHECK_TIME, VERIFIER_STEP_FAILED, "TIME_ORDER_FAILURE");
            NT_TRY(verifier__case_detail(
                r, CASE_CHECK_TIME, "case.time_backwards",
                "genTime goes backwards: seq %llu at %s, after seq %llu at %s",
                "genTime 倒退：seq %llu 为 %s，晚于 seq %llu（%s）", (unsigned long long)e->seq,
                nt_buf_cstr(&e->gen_time), (unsigned long long)p->seq, nt_buf_cstr(&p->gen_time)));
            goto done;
        }
    }
    verifier__case_set(r, CASE_CHECK_TIME, VERIFIER_STEP_PASSED, NULL);
    NT_TRY(verifier__case_detail(
        r, CASE_CHECK_TIME, "case.time_ok", "genTime never decreases, from %s to %s",
        "genTime 从未倒退：从 %s 至 %s", nt_buf_cstr(&r->events[0].gen_time),
        nt_buf_cstr(&r->events[r->event_count - 1].gen_time)));
done:
    return error;
}

static int check_seal(verifier_case_report *r)
{
    int error = 0;
    size_t n = r->event_count;
    for (size_t i = 0; i + 1 < n; i++) {
        if (strcmp(r->events[i].body.kind, EVENT_KIND_COMPLETED) == 0) {
            verifier__case_set(r, CASE_CHECK_SEAL, VERIFIER_STEP_FAILED, "EVENT_AFTER_COMPLETION");
            NT_TRY(verifier__case_detail(
                r, CASE_CHECK_SEAL, "case.after_completion",
                "event seq %llu follows case.completed at seq %llu: a sealed case has no later "
                "event",
                "事件 seq %llu 位于 seq %llu 的 case.completed 之后：已封存的案件不得再有事件",
                (unsigned long long)r->events[i + 1].body.seq,
                (unsigned long long)r->events[i].body.seq));
            goto done;
        }
    }
    r->sealed = strcmp(r->events[n - 1].body.kind, EVENT_KIND_COMPLETED) == 0;
    if (r->sealed != r->sealed_claimed) {
        verifier__case_set(r, CASE_CHECK_SEAL, VERIFIER_STEP_FAILED, "SEAL_MISMATCH");
        NT_TRY(verifier__case_detail(
            r, CASE_CHECK_SEAL, "case.seal_mismatch",
            "the bundle says sealed %s, but its last event (seq %llu) is %s",
            "证据包声明 sealed 为 %s，但其最后一个事件（seq %llu）为 %s",
            r->sealed_claimed ? "true" : "false", (unsigned long long)r->events[n - 1].body.seq,
            r->events[n - 1].body.kind));
        goto done;
    }
    verifier__case_set(r, CASE_CHECK_SEAL, VERIFIER_STEP_PASSED, NULL);
    if (r->sealed) {
        NT_TRY(verifier__case_detail(r, CASE_CHECK_SEAL, "case.sealed",
                                     "sealed by case.completed at seq %llu: the case is complete",
                                     "已由 seq %llu 的 case.completed 封存：案件完整",
                                     (unsigned long long)r->events[n - 1].body.seq));
    } else {
        NT_TRY(verifier__case_detail(r, CASE_CHECK_SEAL, "case.not_sealed",
                                     "not sealed: events after seq %llu, if any, are not shown",
                                     "未封存：seq %llu 之后如有事件，未予展示",
                                     (unsigned long long)r->events[n - 1].body.seq));
        NT_TRY(nt_buf_printf(&r->limits,
                             "the case is not sealed: completeness is proven only up to the last "
                             "event shown (seq %llu)\n",
                             (unsigned long long)r->events[n - 1].body.seq));
    }
done:
    return error;
}

int verifier__case_checks(verifier_case_report *r, const case_bundle *b,
                          const case_disclosures *dis)
{
    int error = 0, bodies_ok = 0;
    NT_TRY(check_bodies(r, b, &bodies_ok));
    if (bodies_ok) {
        NT_TRY(check_case(r));
        NT_TRY(check_chain(r));
        NT_TRY(check_time(r));
        NT_TRY(check_seal(r));
    } else {
        for (int id = CASE_CHECK_CASE; id <= CASE_CHECK_SEAL; id++) {
            NT_TRY(verifier__case_detail(r, (case_check_id)id, "case.no_bodies",
                                         "not run: not every event body could be read",
                                         "未执行：并非所有事件正文均可读取"));
        }
    }
    if (r->document_count > 0) {
        NT_TRY(check_documents(r));
    } else {
        NT_TRY(verifier__case_detail(r, CASE_CHECK_DOCUMENTS, "case.no_documents",
                                     "no document given (--document)", "未提供文件（--document）"));
        NT_TRY(nt_buf_puts(&r->limits, "no document was compared with the case's artifacts\n"));
    }
    if (dis->count > 0) {
        NT_TRY(check_disclosures(r, dis));
    } else {
        NT_TRY(verifier__case_detail(r, CASE_CHECK_DISCLOSURES, "case.no_disclosures",
                                     "no attribute disclosed (--disclose)",
                                     "未披露任何属性（--disclose）"));
    }
done:
    return error;
}
