/*
 * verify.c - the verification itself: reads the inputs, runs the steps of
 * docs/REPORT.md in order (inputs, digest, token, signature, revocation,
 * ledger, mirror) and derives the overall indication.  Part of nt_verifier;
 * the report it fills is rendered by report_json.c and report_pdf.c.
 *
 * Why the checks are done by hand instead of TS_RESP_verify_token: a court
 * report must say *which* check failed (signature bytes, signer
 * identification, chain, key usage) with the ETSI EN 319 102-1
 * sub-indication for it, and the chain must be validated as of genTime, not
 * as of today.  OpenSSL still does every piece of cryptography.
 */
#include "verifier/verifier_int.h"

#include "ledger/note.h"
#include "ledger/receipt.h"
#include "ledger/record.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/sha.h>
#include <openssl/ts.h>
#include <openssl/x509.h>

/* ------------------------------------------------------------------ run */

static int load_anchors(vctx *v, const nt_buf *pem)
{
    int error = 0;
    verifier_report *r = v->r;
    nt_buf name = NT_BUF_INIT;
    NT_TRY(nt_buf_printf(&name, "--trust %s", nt_buf_cstr(&r->trust.name)));
    NT_TRY(nt_x509_pem_certs(&v->anchors, nt_buf_bytes(pem), nt_buf_cstr(&name))); /* util */
    for (int i = 0; i < sk_X509_num(v->anchors) && r->anchor_count < VERIFIER_MAX_ANCHORS; i++) {
        r->anchors[r->anchor_count].is_anchor = 1;
        NT_TRY(
            verifier__cert_info_fill(&r->anchors[r->anchor_count++], sk_X509_value(v->anchors, i)));
    }
done:
    nt_buf_dispose(&name);
    return error;
}

static void conclude(verifier_report *r)
{
    static const verifier_step_id mandatory[] = {VERIFIER_STEP_INPUTS, VERIFIER_STEP_DIGEST,
                                                 VERIFIER_STEP_TOKEN, VERIFIER_STEP_SIGNATURE,
                                                 VERIFIER_STEP_LEDGER};
    r->indication = VERIFIER_PASSED;
    r->sub = NULL;
    for (int id = 0; id < VERIFIER_STEP_COUNT; id++) {
        if (r->steps[id].status == VERIFIER_STEP_FAILED) {
            r->indication = VERIFIER_FAILED;
            r->sub = r->steps[id].sub;
            return;
        }
    }
    for (int id = 0; id < VERIFIER_STEP_COUNT; id++) {
        const verifier_step_result *st = &r->steps[id];
        int is_mandatory = 0;
        for (size_t k = 0; k < NT_ARRAY_LEN(mandatory); k++) {
            is_mandatory |= (int)mandatory[k] == id;
        }
        /* Optional steps block PASSED only when they found a reason for doubt. */
        int blocks = is_mandatory ? st->status != VERIFIER_STEP_PASSED
                                  : (st->status == VERIFIER_STEP_INDETERMINATE && st->sub != NULL &&
                                     strcmp(st->sub, "REVOKED_NO_POE") == 0);
        if (blocks) {
            r->indication = VERIFIER_INDETERMINATE;
            r->sub = st->sub;
            return;
        }
    }
}

static int report_id(verifier_report *r)
{
    int error = 0;
    nt_buf seed = NT_BUF_INIT;
    uint8_t md[32];
    NT_TRY(nt_buf_printf(&seed, "%s|%s|%s|%s|%s|%s|%s|%d", r->now_text, r->receipt.sha256,
                         r->trust.sha256, r->log_key.sha256, nt_buf_cstr(&r->evidence_alg),
                         nt_buf_cstr(&r->evidence_digest), r->document.sha256, (int)r->indication));
    SHA256(seed.ptr, seed.len, md);
    char hex[33];
    nt_hex_fill(hex, md, 16);
    snprintf(r->report_id, sizeof(r->report_id), "NTV-%.8s-%.8s-%.8s", hex, hex + 8, hex + 16);
done:
    nt_buf_dispose(&seed);
    return error;
}

static int command_line_build(verifier_report *r, const verifier_options *o)
{
    int error = 0;
    if (o->command_line != NULL) {
        return nt_buf_puts(&r->command_line, o->command_line);
    }
    NT_TRY(nt_buf_puts(&r->command_line, VERIFIER_NAME));
    if (o->document_path != NULL) {
        NT_TRY(nt_buf_printf(&r->command_line, " --document '%s'", o->document_path));
    } else {
        NT_TRY(nt_buf_printf(&r->command_line, " --digest %s:%s", nt_buf_cstr(&r->evidence_alg),
                             nt_buf_cstr(&r->evidence_digest)));
    }
    NT_TRY(nt_buf_printf(&r->command_line, " --receipt '%s' --trust '%s' --log-key '%s'",
                         o->receipt_path != NULL ? o->receipt_path : "RECEIPT.json",
                         o->trust_path != NULL ? o->trust_path : "TSA-ROOTS.pem",
                         o->log_key_path != NULL ? o->log_key_path : "LOG.vkey"));
    for (size_t i = 0; i < o->crl_count; i++) {
        NT_TRY(nt_buf_printf(&r->command_line, " --crl '%s'", o->crl_paths[i]));
    }
    if (o->mirror != NULL) {
        NT_TRY(nt_buf_printf(&r->command_line, " --mirror '%s'", o->mirror));
    }
done:
    return error;
}

/* Step 1: everything examined is identified by its SHA-256; the receipt's bytes go to `data`. */
static int step_inputs(vctx *v, nt_buf *data, note_verifier *nv)
{
    int error = 0;
    verifier_report *r = v->r;
    nt_buf trust = NT_BUF_INIT, vkey = NT_BUF_INIT;

    NT_TRY(verifier__input_load(data, &r->receipt, v->opts->receipt_path, v->opts->receipt,
                                "receipt"));
    NT_TRY(verifier__input_load(&trust, &r->trust, v->opts->trust_path, v->opts->trust,
                                "trust anchors"));
    NT_TRY(verifier__input_load(&vkey, &r->log_key, v->opts->log_key_path, v->opts->log_key,
                                "log key"));
    NT_TRY(load_anchors(v, &trust));
    if (note_vkey_parse(nv, (const char *)vkey.ptr, vkey.len) < 0) {
        error = nt_error_set(NT_EINVAL, "--log-key: not a C2SP vkey: %s", nt_error_last());
        goto done;
    }
    {
        const char *end = memchr(vkey.ptr, '\n', vkey.len);
        size_t n = end != NULL ? (size_t)(end - (const char *)vkey.ptr) : vkey.len;
        NT_TRY(nt_buf_set(&r->log_vkey, vkey.ptr, n));
    }
    NT_TRY(nt_buf_puts(&r->log_name, nv->name));
    r->log_key_id = nv->key_id;
    r->mirror_requested = v->opts->mirror != NULL;
    if (v->opts->mirror != NULL) {
        NT_TRY(nt_buf_puts(&r->mirror_source, v->opts->mirror));
    }
    verifier__step_set(r, VERIFIER_STEP_INPUTS, VERIFIER_STEP_PASSED, NULL);
    NT_TRY(verifier__detail(r, VERIFIER_STEP_INPUTS, "inputs.receipt",
                            "receipt %s: %llu bytes, sha256 %s", "回执 %s：%llu 字节，sha256 %s",
                            nt_buf_cstr(&r->receipt.name), (unsigned long long)r->receipt.size,
                            r->receipt.sha256));
    NT_TRY(verifier__detail(r, VERIFIER_STEP_INPUTS, "inputs.trust",
                            "trust anchors %s: %zu certificate(s), sha256 %s",
                            "信任锚 %s：%zu 张证书，sha256 %s", nt_buf_cstr(&r->trust.name),
                            r->anchor_count, r->trust.sha256));
    NT_TRY(verifier__detail(r, VERIFIER_STEP_INPUTS, "inputs.log_key", "log key %s: %s, sha256 %s",
                            "日志公钥 %s：%s，sha256 %s", nt_buf_cstr(&r->log_key.name),
                            nt_buf_cstr(&r->log_vkey), r->log_key.sha256));
done:
    nt_buf_dispose(&trust);
    nt_buf_dispose(&vkey);
    return error;
}

/* What the report says it did not examine: no mirror, and what a time-stamp never proves. */
static int note_limits(verifier_report *r, const verifier_options *opts)
{
    int error = 0;
    if (opts->mirror == NULL) {
        NT_TRY(verifier__detail(r, VERIFIER_STEP_MIRROR, "mirror.none",
                                "no mirror given (--mirror)", "未提供镜像（--mirror）"));
        NT_TRY(verifier__limit(r, "the checkpoint was not compared with an independent mirror"));
    } else if (r->steps[VERIFIER_STEP_MIRROR].status == VERIFIER_STEP_NOT_RUN &&
               r->steps[VERIFIER_STEP_MIRROR].details.len == 0) {
        NT_TRY(verifier__detail(r, VERIFIER_STEP_MIRROR, "mirror.no_checkpoint",
                                "not run: the ledger step did not establish a checkpoint",
                                "未执行：账本检查未能确立检查点"));
    }
    NT_TRY(verifier__limit(r, "who created, signed or agreed to the document"));
    NT_TRY(verifier__limit(r, "that the document did not exist before genTime"));
    NT_TRY(verifier__limit(r, "the truth or legal validity of the document's content"));
done:
    return error;
}

int verifier_run(verifier_report **out, const verifier_options *opts)
{
    int error = 0;
    verifier_report *r = NULL;
    vctx v;
    nt_buf data = NT_BUF_INIT, sup = NT_BUF_INIT;
    record_alg sup_alg = RECORD_ALG_SHA256;
    note_verifier nv;

    *out = NULL;
    memset(&v, 0, sizeof(v));
    receipt_init(&v.rc);
    NT_ENSURE((opts->document_path != NULL) != (opts->digest != NULL), NT_EINVAL,
              "give exactly one of --document and --digest");
    NT_ENSURE(opts->crl_count <= VERIFIER_MAX_CRLS, NT_ERANGE, "at most %d CRLs",
              VERIFIER_MAX_CRLS);
    if (opts->digest != NULL) {
        NT_TRY(verifier__digest_parse(&sup_alg, &sup, opts->digest));
    }
    NT_ENSURE((r = nt_calloc(1, sizeof(*r))) != NULL, NT_ENOMEM, "out of memory");
    for (int i = 0; i < VERIFIER_STEP_COUNT; i++) {
        r->steps[i].status = VERIFIER_STEP_NOT_RUN;
    }
    v.r = r;
    v.opts = opts;
    if (opts->now != 0) {
        r->now = opts->now;
    } else {
        struct timespec ts;
        NT_TRY(nt_clock_now(&ts));
        r->now = ts.tv_sec;
    }
    verifier__time_text(r->now_text, (int64_t)r->now);

    NT_TRY(step_inputs(&v, &data, &nv));

    /* Step 3 is parsed first: the document is hashed with the token's algorithm. */
    if (receipt_decode(&v.rc, (const char *)data.ptr, data.len) < 0) {
        verifier__step_set(r, VERIFIER_STEP_TOKEN, VERIFIER_STEP_FAILED, "FORMAT_FAILURE");
        NT_TRY(verifier__detail(r, VERIFIER_STEP_TOKEN, "token.bad_receipt",
                                "the receipt is not a Notarium receipt: %s",
                                "该回执不是 Notarium 回执：%s", nt_error_last()));
    } else {
        v.have_receipt = 1;
        NT_TRY(verifier__step_token(&v));
    }
    NT_TRY(verifier__step_digest(&v, &sup_alg, &sup));
    if (r->document.present) {
        NT_TRY(verifier__detail(r, VERIFIER_STEP_INPUTS, "inputs.document",
                                "document %s: %llu bytes, sha256 %s",
                                "文件 %s：%llu 字节，sha256 %s", nt_buf_cstr(&r->document.name),
                                (unsigned long long)r->document.size, r->document.sha256));
    } else {
        NT_TRY(verifier__detail(r, VERIFIER_STEP_INPUTS, "inputs.digest", "digest supplied: %s:%s",
                                "所提供的摘要：%s:%s", nt_buf_cstr(&r->evidence_alg),
                                nt_buf_cstr(&r->evidence_digest)));
    }
    if (v.tst != NULL && r->have_token) {
        NT_TRY(verifier__step_signature(&v));
    }
    NT_TRY(verifier__step_revocation(&v));
    for (size_t i = 0; i < r->crl_count; i++) {
        NT_TRY(verifier__detail(r, VERIFIER_STEP_INPUTS, "inputs.crl",
                                "CRL %s: %llu bytes, sha256 %s", "CRL %s：%llu 字节，sha256 %s",
                                nt_buf_cstr(&r->crls[i].name), (unsigned long long)r->crls[i].size,
                                r->crls[i].sha256));
    }
    if (v.have_receipt) {
        NT_TRY(verifier__step_ledger(&v, &nv));
    }
    NT_TRY(note_limits(r, opts));
    conclude(r);
    NT_TRY(command_line_build(r, opts));
    NT_TRY(report_id(r));
    *out = r;
    r = NULL;
done:
    verifier_report_free(r);
    receipt_dispose(&v.rc);
    PKCS7_free(v.p7);
    TS_TST_INFO_free(v.tst);
    nt_buf_dispose(&v.imprint);
    sk_X509_pop_free(v.pool, X509_free);
    sk_X509_pop_free(v.anchors, X509_free);
    sk_X509_pop_free(v.chain, X509_free);
    nt_buf_dispose(&data);
    nt_buf_dispose(&sup);
    return error;
}
