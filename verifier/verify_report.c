/*
 * verify_report.c - the report object of nt_verifier: the names of steps,
 * statuses and indications, the helpers every step uses to record its
 * outcome and detail lines (in English, Chinese and as message codes), and
 * the report's accessors and destructor.  The steps (verify_*.c) fill the
 * report, report_json.c and report_pdf.c render it.
 */
#include "verifier/verifier_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------ names */

const char *verifier_step_name(verifier_step_id id)
{
    static const char *const names[VERIFIER_STEP_COUNT] = {
        "inputs", "digest", "token", "signature", "revocation", "ledger", "mirror",
    };
    return (unsigned)id < VERIFIER_STEP_COUNT ? names[id] : "unknown";
}

const char *verifier_status_name(verifier_status s)
{
    switch (s) {
    case VERIFIER_STEP_PASSED:
        return "PASSED";
    case VERIFIER_STEP_FAILED:
        return "FAILED";
    case VERIFIER_STEP_INDETERMINATE:
        return "INDETERMINATE";
    case VERIFIER_STEP_NOT_RUN:
        return "NOT_RUN";
    }
    return "NOT_RUN";
}

const char *verifier_indication_name(verifier_indication i)
{
    switch (i) {
    case VERIFIER_PASSED:
        return "PASSED";
    case VERIFIER_FAILED:
        return "FAILED";
    case VERIFIER_INDETERMINATE:
        return "INDETERMINATE";
    }
    return "INDETERMINATE";
}

/* ------------------------------------------------------------------ report helpers */

/*
 * One line: a newline inside an argument (an error text) must not split it, and a byte
 * that is not UTF-8 becomes U+FFFD.  Error texts can quote the input: jansson's "near
 * '...'" cuts a receipt's bytes where it stopped, even inside a character, and a report
 * (JSON, PDF) must render whatever it was given.
 */
static int put_line(nt_buf *lines, const char *text)
{
    int error = 0;
    const uint8_t *p = (const uint8_t *)text;
    size_t left = strlen(text);
    while (left > 0) {
        uint32_t cp;
        size_t n = nt_utf8_next(&cp, p, left);
        if (n == 0) {
            NT_TRY(nt_buf_put(lines, "\xef\xbf\xbd", 3)); /* U+FFFD for one bad byte */
            n = 1;
        } else if (cp == '\n' || cp == '\r') {
            NT_TRY(nt_buf_putc(lines, ' '));
        } else {
            NT_TRY(nt_buf_put(lines, p, n));
        }
        p += n;
        left -= n;
    }
    NT_TRY(nt_buf_putc(lines, '\n'));
done:
    return error;
}

int verifier__detail_text(verifier_report *r, verifier_step_id id, const char *code, const char *en,
                          const char *zh)
{
    return verifier__result_text(&r->steps[id], code, en, zh);
}

int verifier__result_text(verifier_step_result *st, const char *code, const char *en,
                          const char *zh)
{
    int error = 0;
    NT_TRY(put_line(&st->details, en));
    NT_TRY(put_line(&st->details_zh, zh));
    NT_TRY(put_line(&st->codes, code));
done:
    return error;
}

int verifier__result_vdetail(verifier_step_result *st, const char *code, const char *en,
                             const char *zh, va_list ap)
{
    int error = 0;
    va_list aq;
    nt_buf e = NT_BUF_INIT, z = NT_BUF_INIT;
    va_copy(aq, ap);
    error = nt_buf_vprintf(&e, en, ap);
    if (error == 0) {
        error = nt_buf_vprintf(&z, zh, aq);
    }
    va_end(aq);
    if (error == 0) {
        error = verifier__result_text(st, code, nt_buf_cstr(&e), nt_buf_cstr(&z));
    }
    nt_buf_dispose(&e);
    nt_buf_dispose(&z);
    return error;
}

int verifier__detail(verifier_report *r, verifier_step_id id, const char *code, const char *en,
                     const char *zh, ...)
{
    va_list ap;
    va_start(ap, zh);
    int error = verifier__result_vdetail(&r->steps[id], code, en, zh, ap);
    va_end(ap);
    return error;
}

static int status_rank(verifier_status s)
{
    /* NOT_RUN < PASSED < INDETERMINATE < FAILED: a step keeps its worst outcome. */
    switch (s) {
    case VERIFIER_STEP_NOT_RUN:
        return 0;
    case VERIFIER_STEP_PASSED:
        return 1;
    case VERIFIER_STEP_INDETERMINATE:
        return 2;
    case VERIFIER_STEP_FAILED:
        return 3;
    }
    return 0;
}

void verifier__step_set(verifier_report *r, verifier_step_id id, verifier_status s, const char *sub)
{
    verifier__result_set(&r->steps[id], s, sub);
}

void verifier__result_set(verifier_step_result *st, verifier_status s, const char *sub)
{
    if (status_rank(s) > status_rank(st->status)) {
        st->status = s;
        st->sub = sub;
    } else if (status_rank(s) == status_rank(st->status) && st->sub == NULL) {
        st->sub = sub;
    }
}

int verifier__next_line(const nt_buf *lines, size_t *pos, const char **line, size_t *len)
{
    if (lines->ptr == NULL || *pos >= lines->len) {
        return 0;
    }
    const char *start = (const char *)lines->ptr + *pos;
    const char *nl = memchr(start, '\n', lines->len - *pos);
    size_t n = nl != NULL ? (size_t)(nl - start) : lines->len - *pos;
    *line = start;
    *len = n;
    *pos += n + (nl != NULL ? 1 : 0);
    return 1;
}

int verifier__limit(verifier_report *r, const char *text)
{
    size_t pos = 0;
    const char *line;
    size_t len;
    while (verifier__next_line(&r->limits, &pos, &line, &len)) {
        if (len == strlen(text) && memcmp(line, text, len) == 0) {
            return 0;
        }
    }
    int error = nt_buf_puts(&r->limits, text);
    return error < 0 ? error : nt_buf_putc(&r->limits, '\n');
}

void verifier__time_text(char out[32], int64_t t)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(out, 32, "(time %lld)", (long long)t);
    }
}

void verifier__cert_info_dispose(verifier_cert_info *c)
{
    nt_buf_dispose(&c->subject);
    nt_buf_dispose(&c->issuer);
    nt_buf_dispose(&c->serial);
}

static void input_dispose(verifier_input *in)
{
    nt_buf_dispose(&in->name);
}

void verifier_report_free(verifier_report *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < VERIFIER_STEP_COUNT; i++) {
        nt_buf_dispose(&r->steps[i].details);
        nt_buf_dispose(&r->steps[i].details_zh);
        nt_buf_dispose(&r->steps[i].codes);
    }
    input_dispose(&r->document);
    input_dispose(&r->receipt);
    input_dispose(&r->trust);
    input_dispose(&r->log_key);
    for (size_t i = 0; i < VERIFIER_MAX_CRLS; i++) {
        input_dispose(&r->crls[i]);
    }
    for (size_t i = 0; i < VERIFIER_MAX_ANCHORS; i++) {
        verifier__cert_info_dispose(&r->anchors[i]);
    }
    for (size_t i = 0; i < VERIFIER_MAX_CHAIN; i++) {
        verifier__cert_info_dispose(&r->chain[i]);
    }
    nt_buf *bufs[] = {&r->evidence_alg,
                      &r->evidence_digest,
                      &r->log_vkey,
                      &r->log_name,
                      &r->gen_time,
                      &r->policy,
                      &r->serial,
                      &r->nonce,
                      &r->tsa_name,
                      &r->imprint_alg,
                      &r->imprint,
                      &r->ess_version,
                      &r->origin,
                      &r->root,
                      &r->leaf_hash,
                      &r->checkpoint,
                      &r->mirror_source,
                      &r->mirror_commit,
                      &r->mirror_commit_time,
                      &r->limits,
                      &r->command_line};
    for (size_t i = 0; i < NT_ARRAY_LEN(bufs); i++) {
        nt_buf_dispose(bufs[i]);
    }
    nt_free(r);
}

verifier_indication verifier_report_indication(const verifier_report *r)
{
    return r->indication;
}

const char *verifier_report_subindication(const verifier_report *r)
{
    return r->indication == VERIFIER_PASSED ? NULL : r->sub;
}

verifier_status verifier_report_step(const verifier_report *r, verifier_step_id id)
{
    return (unsigned)id < VERIFIER_STEP_COUNT ? r->steps[id].status : VERIFIER_STEP_NOT_RUN;
}

const char *verifier_report_step_subindication(const verifier_report *r, verifier_step_id id)
{
    return (unsigned)id < VERIFIER_STEP_COUNT ? r->steps[id].sub : NULL;
}

int verifier_report_exit_code(const verifier_report *r)
{
    return (int)r->indication;
}
