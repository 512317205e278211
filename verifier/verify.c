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

#include "ledger/merkle.h"
#include "ledger/note.h"
#include "ledger/receipt.h"
#include "ledger/record.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define MAX_INPUT_FILE (64u * 1024u * 1024u)
#define READ_CHUNK     (1u << 20)

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

/* One line: a newline inside an argument (an error text) must not split it. */
static int put_line(nt_buf *lines, const char *text)
{
    int error = 0;
    for (const char *p = text; *p != '\0'; p++) {
        NT_TRY(nt_buf_putc(lines, *p == '\n' || *p == '\r' ? ' ' : (uint8_t)*p));
    }
    NT_TRY(nt_buf_putc(lines, '\n'));
done:
    return error;
}

int verifier__detail_text(verifier_report *r, verifier_step_id id, const char *code, const char *en,
                          const char *zh)
{
    int error = 0;
    verifier_step_result *st = &r->steps[id];
    NT_TRY(put_line(&st->details, en));
    NT_TRY(put_line(&st->details_zh, zh));
    NT_TRY(put_line(&st->codes, code));
done:
    return error;
}

int verifier__detail(verifier_report *r, verifier_step_id id, const char *code, const char *en,
                     const char *zh, ...)
{
    int error = 0;
    va_list ap, aq;
    nt_buf e = NT_BUF_INIT, z = NT_BUF_INIT;
    va_start(ap, zh);
    va_copy(aq, ap);
    error = nt_buf_vprintf(&e, en, ap);
    if (error == 0) {
        error = nt_buf_vprintf(&z, zh, aq);
    }
    va_end(aq);
    va_end(ap);
    if (error == 0) {
        error = verifier__detail_text(r, id, code, nt_buf_cstr(&e), nt_buf_cstr(&z));
    }
    nt_buf_dispose(&e);
    nt_buf_dispose(&z);
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
    verifier_step_result *st = &r->steps[id];
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

static void cert_info_dispose(verifier_cert_info *c)
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
        cert_info_dispose(&r->anchors[i]);
    }
    for (size_t i = 0; i < VERIFIER_MAX_CHAIN; i++) {
        cert_info_dispose(&r->chain[i]);
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

/* ------------------------------------------------------------------ inputs */

static void hex_lower(char *out, const uint8_t *data, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex[data[i] >> 4];
        out[2 * i + 1] = hex[data[i] & 15];
    }
    out[2 * len] = '\0';
}

static void sha256_hex(char out[65], const uint8_t *data, size_t len)
{
    uint8_t md[32];
    SHA256(data, len, md);
    hex_lower(out, md, sizeof(md));
}

/* Load an input given as bytes or as a file, recording its name, size and SHA-256. */
static int input_load(nt_buf *data, verifier_input *info, const char *path, nt_bytes bytes,
                      const char *what)
{
    int error = 0;
    if (bytes.ptr != NULL) {
        NT_TRY(nt_buf_set(data, bytes.ptr, bytes.len));
        NT_TRY(nt_buf_set(&info->name, "(inline)", 8));
    } else {
        NT_ENSURE(path != NULL, NT_EINVAL, "no %s given", what);
        error = nt_file_read(data, path, MAX_INPUT_FILE);
        if (error < 0) {
            error = nt_error_set(error == NT_ERANGE ? NT_ERANGE : NT_EIO, "%s %s: %s", what, path,
                                 nt_error_last());
            goto done;
        }
        NT_TRY(nt_buf_set(&info->name, path, strlen(path)));
    }
    info->present = 1;
    info->size = data->len;
    sha256_hex(info->sha256, data->ptr != NULL ? data->ptr : (const uint8_t *)"", data->len);
done:
    return error;
}

int verifier__asn1_int_hex(nt_buf *out, const ASN1_INTEGER *v)
{
    int error = 0;
    BIGNUM *bn = NULL;
    char *hex = NULL;
    NT_OSSL_PTR(bn = ASN1_INTEGER_to_BN(v, NULL), "integer");
    NT_OSSL_PTR(hex = BN_bn2hex(bn), "integer hex");
    for (char *p = hex; *p != '\0'; p++) {
        if (*p >= 'A' && *p <= 'F') {
            *p = (char)(*p - 'A' + 'a');
        }
    }
    NT_TRY(nt_buf_set(out, hex, strlen(hex)));
done:
    BN_free(bn);
    OPENSSL_free(hex);
    return error;
}

static int cert_info_fill(verifier_cert_info *c, X509 *x)
{
    int error = 0;
    BIO *bio = NULL;
    uint8_t md[32];
    unsigned mdlen = 0;
    const unsigned long flags = XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;

    for (int pass = 0; pass < 2; pass++) {
        NT_OSSL_PTR(bio = BIO_new(BIO_s_mem()), "BIO_new");
        X509_NAME_print_ex(bio, pass == 0 ? X509_get_subject_name(x) : X509_get_issuer_name(x), 0,
                           flags);
        char *p = NULL;
        long n = BIO_get_mem_data(bio, &p);
        NT_TRY(nt_buf_set(pass == 0 ? &c->subject : &c->issuer, p != NULL ? p : "",
                          n > 0 ? (size_t)n : 0));
        BIO_free(bio);
        bio = NULL;
    }
    NT_TRY(verifier__asn1_int_hex(&c->serial, X509_get0_serialNumber(x)));
    NT_OSSL(X509_digest(x, EVP_sha256(), md, &mdlen), "certificate digest");
    hex_lower(c->sha256, md, 32);
    struct tm tm;
    const ASN1_TIME *times[2] = {X509_get0_notBefore(x), X509_get0_notAfter(x)};
    char *outs[2] = {c->not_before, c->not_after};
    for (int i = 0; i < 2; i++) {
        /* A malformed time is the certificate's defect, reported by the step that judges it. */
        if (ASN1_TIME_to_tm(times[i], &tm) != 1) {
            ERR_clear_error();
            snprintf(outs[i], 32, "(malformed)");
            continue;
        }
        strftime(outs[i], 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
done:
    BIO_free(bio);
    return error;
}

/* Parse "ALG:HEX". */
static int digest_parse(record_alg *alg, nt_buf *digest, const char *text)
{
    int error = 0;
    char name[32];
    const char *colon = strchr(text, ':');
    NT_ENSURE(colon != NULL && (size_t)(colon - text) < sizeof(name), NT_EINVAL,
              "--digest: expected ALG:HEX, e.g. sha256:9f86...");
    memcpy(name, text, (size_t)(colon - text));
    name[colon - text] = '\0';
    NT_TRY(record_alg_from_name(alg, name));
    error = nt_hex_decode(digest, colon + 1, strlen(colon + 1));
    NT_ENSURE(error == 0, NT_EINVAL, "--digest: the value is not hex");
    NT_ENSURE(digest->len == record_alg_size(*alg), NT_EINVAL,
              "--digest: %s digests are %zu bytes, got %zu", name, record_alg_size(*alg),
              digest->len);
done:
    return error;
}

/*
 * Hash the document streamed, with the token's algorithm and (for the
 * inputs step) SHA-256 in the same pass, so a multi-GB file is read once.
 */
static int document_hash(verifier_input *info, uint8_t *md, unsigned *md_len, const char *path,
                         const EVP_MD *alg)
{
    int error = 0;
    int fd = -1;
    uint8_t *chunk = NULL;
    EVP_MD_CTX *c256 = NULL, *calg = NULL;
    uint8_t d256[32];
    unsigned n256 = 0;
    uint64_t total = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    NT_ENSURE(fd >= 0, NT_EIO, "document %s: %s", path, strerror(errno));
#ifdef POSIX_FADV_SEQUENTIAL
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    NT_ENSURE((chunk = nt_malloc(READ_CHUNK)) != NULL, NT_ENOMEM, "out of memory");
    NT_OSSL_PTR(c256 = EVP_MD_CTX_new(), "EVP_MD_CTX_new");
    NT_OSSL(EVP_DigestInit_ex(c256, EVP_sha256(), NULL), "sha256 init");
    if (alg != NULL && EVP_MD_get_type(alg) != NID_sha256) {
        NT_OSSL_PTR(calg = EVP_MD_CTX_new(), "EVP_MD_CTX_new");
        NT_OSSL(EVP_DigestInit_ex(calg, alg, NULL), "digest init");
    }
    for (;;) {
        ssize_t n = read(fd, chunk, READ_CHUNK);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        NT_ENSURE(n >= 0, NT_EIO, "document %s: %s", path, strerror(errno));
        if (n == 0) {
            break;
        }
        total += (uint64_t)n;
        NT_OSSL(EVP_DigestUpdate(c256, chunk, (size_t)n), "digest");
        if (calg != NULL) {
            NT_OSSL(EVP_DigestUpdate(calg, chunk, (size_t)n), "digest");
        }
    }
    NT_OSSL(EVP_DigestFinal_ex(c256, d256, &n256), "digest");
    hex_lower(info->sha256, d256, 32);
    info->size = total;
    info->present = 1;
    NT_TRY(nt_buf_set(&info->name, path, strlen(path)));
    if (calg != NULL) {
        NT_OSSL(EVP_DigestFinal_ex(calg, md, md_len), "digest");
    } else {
        memcpy(md, d256, 32);
        *md_len = 32;
    }
done:
    if (fd >= 0) {
        close(fd);
    }
    nt_free(chunk);
    EVP_MD_CTX_free(c256);
    EVP_MD_CTX_free(calg);
    return error;
}

/* ------------------------------------------------------------------ token */

typedef struct vctx {
    verifier_report *r;
    const verifier_options *opts;
    receipt rc;
    int have_receipt;
    PKCS7 *p7;
    TS_TST_INFO *tst;
    record_alg imprint_alg;
    nt_buf imprint;
    STACK_OF(X509) * pool; /* token certificates + receipt certificates */
    STACK_OF(X509) * anchors;
    STACK_OF(X509) * chain; /* verified path, signer first */
    X509 *signer;           /* borrowed from pool */
    int64_t gen_time;
} vctx;

int verifier__gen_time(nt_buf *out, int64_t *unix_out, const ASN1_GENERALIZEDTIME *gt)
{
    int error = 0;
    struct tm tm;
    const char *s = (const char *)ASN1_STRING_get0_data(gt);
    int len = ASN1_STRING_length(gt);
    NT_ENSURE(s != NULL && len >= 15 && s[len - 1] == 'Z', NT_EINVAL,
              "genTime is not a UTC GeneralizedTime");
    NT_ENSURE(ASN1_TIME_to_tm(gt, &tm) == 1, NT_EINVAL, "genTime is malformed");
    *unix_out = (int64_t)timegm(&tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    NT_TRY(nt_buf_puts(out, base));
    if (len > 15 && s[14] == '.') {
        for (int i = 15; i < len - 1; i++) {
            NT_ENSURE(s[i] >= '0' && s[i] <= '9', NT_EINVAL, "genTime fraction is malformed");
        }
        NT_TRY(nt_buf_put(out, s + 14, (size_t)(len - 15)));
    }
    NT_TRY(nt_buf_putc(out, 'Z'));
done:
    return error;
}

static long asn1_long(const ASN1_INTEGER *i)
{
    return i != NULL ? ASN1_INTEGER_get(i) : 0;
}

static int step_token(vctx *v)
{
    int error = 0;
    verifier_report *r = v->r;
    const unsigned char *p = v->rc.token.ptr;
    char oid[128];
    BIO *bio = NULL;

    v->p7 = d2i_PKCS7(NULL, &p, (long)v->rc.token.len);
    if (v->p7 == NULL || p != v->rc.token.ptr + v->rc.token.len) {
        ERR_clear_error();
        verifier__step_set(r, VERIFIER_STEP_TOKEN, VERIFIER_STEP_FAILED, "FORMAT_FAILURE");
        return verifier__detail(r, VERIFIER_STEP_TOKEN, "token.not_der_cms",
                                "the token is not a DER CMS ContentInfo",
                                "令牌不是 DER 编码的 CMS ContentInfo");
    }
    if (!PKCS7_type_is_signed(v->p7)) {
        verifier__step_set(r, VERIFIER_STEP_TOKEN, VERIFIER_STEP_FAILED, "FORMAT_FAILURE");
        return verifier__detail(r, VERIFIER_STEP_TOKEN, "token.not_signed_data",
                                "the token is not a CMS SignedData", "令牌不是 CMS SignedData");
    }
    v->tst = PKCS7_to_TS_TST_INFO(v->p7);
    if (v->tst == NULL) {
        ERR_clear_error();
        verifier__step_set(r, VERIFIER_STEP_TOKEN, VERIFIER_STEP_FAILED, "FORMAT_FAILURE");
        return verifier__detail(r, VERIFIER_STEP_TOKEN, "token.no_tstinfo",
                                "the token does not encapsulate a TSTInfo (id-ct-TSTInfo)",
                                "令牌未封装 TSTInfo（id-ct-TSTInfo）");
    }
    /* RFC 3161 2.4.2: "version INTEGER { v1(1) }" */
    if (TS_TST_INFO_get_version(v->tst) != 1) {
        verifier__step_set(r, VERIFIER_STEP_TOKEN, VERIFIER_STEP_FAILED, "FORMAT_FAILURE");
        return verifier__detail(r, VERIFIER_STEP_TOKEN, "token.bad_version",
                                "TSTInfo version is %ld, not 1", "TSTInfo 版本为 %ld，而非 1",
                                TS_TST_INFO_get_version(v->tst));
    }
    if (verifier__gen_time(&r->gen_time, &v->gen_time, TS_TST_INFO_get_time(v->tst)) < 0) {
        verifier__step_set(r, VERIFIER_STEP_TOKEN, VERIFIER_STEP_FAILED, "FORMAT_FAILURE");
        return verifier__detail(r, VERIFIER_STEP_TOKEN, "token.bad_gen_time", "%s",
                                "genTime 格式错误：%s", nt_error_last());
    }
    OBJ_obj2txt(oid, sizeof(oid), TS_TST_INFO_get_policy_id(v->tst), 1);
    NT_TRY(nt_buf_puts(&r->policy, oid));
    NT_TRY(verifier__asn1_int_hex(&r->serial, TS_TST_INFO_get_serial(v->tst)));
    if (TS_TST_INFO_get_nonce(v->tst) != NULL) {
        NT_TRY(verifier__asn1_int_hex(&r->nonce, TS_TST_INFO_get_nonce(v->tst)));
    }
    r->ordering = TS_TST_INFO_get_ordering(v->tst);
    TS_ACCURACY *acc = TS_TST_INFO_get_accuracy(v->tst);
    if (acc != NULL) {
        r->have_accuracy = 1;
        r->acc_seconds = asn1_long(TS_ACCURACY_get_seconds(acc));
        r->acc_millis = asn1_long(TS_ACCURACY_get_millis(acc));
        r->acc_micros = asn1_long(TS_ACCURACY_get_micros(acc));
    }
    GENERAL_NAME *tsa = TS_TST_INFO_get_tsa(v->tst);
    if (tsa != NULL) {
        NT_OSSL_PTR(bio = BIO_new(BIO_s_mem()), "BIO_new");
        if (tsa->type == GEN_DIRNAME) {
            X509_NAME_print_ex(bio, tsa->d.directoryName, 0,
                               XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
        } else {
            GENERAL_NAME_print(bio, tsa);
        }
        char *txt = NULL;
        long n = BIO_get_mem_data(bio, &txt);
        NT_TRY(nt_buf_set(&r->tsa_name, txt != NULL ? txt : "", n > 0 ? (size_t)n : 0));
    }
    TS_MSG_IMPRINT *mi = TS_TST_INFO_get_msg_imprint(v->tst);
    const ASN1_OBJECT *aobj = NULL;
    X509_ALGOR_get0(&aobj, NULL, NULL, TS_MSG_IMPRINT_get_algo(mi));
    ASN1_OCTET_STRING *hm = TS_MSG_IMPRINT_get_msg(mi);
    NT_TRY(nt_buf_set(&v->imprint, ASN1_STRING_get0_data(hm), (size_t)ASN1_STRING_length(hm)));
    NT_TRY(nt_hex_encode(&r->imprint, v->imprint.ptr, v->imprint.len));
    if (record_alg_from_nid(&v->imprint_alg, OBJ_obj2nid(aobj)) < 0 ||
        record_alg_size(v->imprint_alg) != v->imprint.len) {
        OBJ_obj2txt(oid, sizeof(oid), aobj, 1);
        NT_TRY(nt_buf_puts(&r->imprint_alg, oid));
        verifier__step_set(r, VERIFIER_STEP_TOKEN, VERIFIER_STEP_FAILED, "FORMAT_FAILURE");
        error = verifier__detail(r, VERIFIER_STEP_TOKEN, "token.bad_imprint_alg",
                                 "messageImprint algorithm %s is unknown or its length is wrong",
                                 "messageImprint 的算法 %s 未知，或摘要长度错误", oid);
        goto done;
    }
    NT_TRY(nt_buf_puts(&r->imprint_alg, record_alg_name(v->imprint_alg)));
    r->have_token = 1;
    verifier__step_set(r, VERIFIER_STEP_TOKEN, VERIFIER_STEP_PASSED, NULL);
    NT_TRY(verifier__detail(r, VERIFIER_STEP_TOKEN, "token.parsed",
                            "CMS SignedData with TSTInfo v1: genTime %s, policy %s, serial %s",
                            "CMS SignedData，含 TSTInfo v1：genTime %s，策略 %s，序列号 %s",
                            nt_buf_cstr(&r->gen_time), oid, nt_buf_cstr(&r->serial)));
    NT_TRY(verifier__detail(r, VERIFIER_STEP_TOKEN, "token.imprint", "messageImprint %s:%s",
                            "消息摘要（messageImprint）%s:%s", nt_buf_cstr(&r->imprint_alg),
                            nt_buf_cstr(&r->imprint)));
    if (v->imprint_alg == RECORD_ALG_SHA1 || v->imprint_alg == RECORD_ALG_MD5) {
        NT_TRY(verifier__detail(r, VERIFIER_STEP_TOKEN, "token.weak_alg",
                                "warning: %s is no longer collision resistant",
                                "警告：%s 已不再具备抗碰撞性", nt_buf_cstr(&r->imprint_alg)));
        NT_TRY(verifier__limit(r, "the digest algorithm is weak (collisions are feasible)"));
    }
done:
    BIO_free(bio);
    return error;
}

/* ------------------------------------------------------------------ digest */

static int step_digest(vctx *v, const record_alg *sup_alg, const nt_buf *sup_digest)
{
    int error = 0;
    verifier_report *r = v->r;
    const verifier_options *o = v->opts;
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;

    if (o->digest != NULL) {
        r->digest_supplied = 1;
        NT_TRY(nt_buf_puts(&r->evidence_alg, record_alg_name(*sup_alg)));
        NT_TRY(nt_hex_encode(&r->evidence_digest, sup_digest->ptr, sup_digest->len));
        NT_TRY(verifier__limit(r, "the document itself was not examined: its digest was supplied"));
        if (!r->have_token) {
            return 0;
        }
        if (*sup_alg != v->imprint_alg) {
            verifier__step_set(r, VERIFIER_STEP_DIGEST, VERIFIER_STEP_FAILED, "HASH_FAILURE");
            return verifier__detail(r, VERIFIER_STEP_DIGEST, "digest.alg_mismatch",
                                    "the supplied digest is %s, the token's imprint is %s",
                                    "所提供的摘要为 %s 算法，而时间戳令牌的摘要为 %s 算法",
                                    record_alg_name(*sup_alg), nt_buf_cstr(&r->imprint_alg));
        }
        memcpy(md, sup_digest->ptr, sup_digest->len);
        md_len = (unsigned)sup_digest->len;
    } else {
        const EVP_MD *alg = NULL;
        if (r->have_token) {
            alg = EVP_get_digestbynid(record_alg_nid(v->imprint_alg));
        }
        NT_TRY(document_hash(&r->document, md, &md_len, o->document_path, alg));
        if (!r->have_token) {
            NT_TRY(nt_buf_puts(&r->evidence_alg, "sha256"));
            NT_TRY(nt_buf_puts(&r->evidence_digest, r->document.sha256));
            return 0;
        }
        NT_TRY(nt_buf_puts(&r->evidence_alg, record_alg_name(v->imprint_alg)));
        NT_TRY(nt_hex_encode(&r->evidence_digest, md, md_len));
    }
    if (md_len == v->imprint.len && memcmp(md, v->imprint.ptr, md_len) == 0) {
        verifier__step_set(r, VERIFIER_STEP_DIGEST, VERIFIER_STEP_PASSED, NULL);
        if (o->digest != NULL) {
            NT_TRY(verifier__detail(r, VERIFIER_STEP_DIGEST, "digest.match_supplied",
                                    "%s of the supplied digest equals the token's messageImprint",
                                    "所提供的 %s 摘要与时间戳令牌的 messageImprint 一致",
                                    nt_buf_cstr(&r->evidence_alg)));
        } else {
            NT_TRY(verifier__detail(r, VERIFIER_STEP_DIGEST, "digest.match_document",
                                    "%s of the document equals the token's messageImprint",
                                    "文件的 %s 摘要与时间戳令牌的 messageImprint 一致",
                                    nt_buf_cstr(&r->evidence_alg)));
        }
    } else {
        verifier__step_set(r, VERIFIER_STEP_DIGEST, VERIFIER_STEP_FAILED, "HASH_FAILURE");
        NT_TRY(verifier__detail(r, VERIFIER_STEP_DIGEST, "digest.mismatch",
                                "%s of the document is %s, the token's messageImprint is %s",
                                "文件的 %s 摘要为 %s，而时间戳令牌的 messageImprint 为 %s",
                                nt_buf_cstr(&r->evidence_alg), nt_buf_cstr(&r->evidence_digest),
                                nt_buf_cstr(&r->imprint)));
    }
done:
    return error;
}

/* ------------------------------------------------------------------ signature */

static int chain_record(vctx *v, STACK_OF(X509) * certs, int verified)
{
    int error = 0;
    verifier_report *r = v->r;
    for (size_t i = 0; i < r->chain_count; i++) {
        cert_info_dispose(&r->chain[i]);
    }
    r->chain_count = 0;
    for (int i = 0; i < sk_X509_num(certs) && r->chain_count < VERIFIER_MAX_CHAIN; i++) {
        X509 *x = sk_X509_value(certs, i);
        verifier_cert_info *c = &r->chain[r->chain_count++];
        NT_TRY(cert_info_fill(c, x));
        for (int j = 0; j < sk_X509_num(v->anchors); j++) {
            if (X509_cmp(x, sk_X509_value(v->anchors, j)) == 0) {
                c->is_anchor = 1;
            }
        }
    }
    r->chain_verified = verified;
done:
    return error;
}

/* Decode a signed attribute holding a SEQUENCE with the given d2i. */
static ASN1_TYPE *signed_attr(PKCS7_SIGNER_INFO *si, int nid)
{
    ASN1_TYPE *t = PKCS7_get_signed_attribute(si, nid);
    return t != NULL && t->type == V_ASN1_SEQUENCE ? t : NULL;
}

static int check_signer_identification(vctx *v, PKCS7_SIGNER_INFO *si)
{
    int error = 0;
    verifier_report *r = v->r;
    ESS_SIGNING_CERT *ss = NULL;
    ESS_SIGNING_CERT_V2 *ss2 = NULL;
    STACK_OF(X509) *chain = NULL;

    ASN1_TYPE *a2 = signed_attr(si, NID_id_smime_aa_signingCertificateV2);
    ASN1_TYPE *a1 = signed_attr(si, NID_id_smime_aa_signingCertificate);
    if (a2 != NULL) {
        const unsigned char *p = a2->value.sequence->data;
        ss2 = d2i_ESS_SIGNING_CERT_V2(NULL, &p, a2->value.sequence->length);
    }
    if (a1 != NULL) {
        const unsigned char *p = a1->value.sequence->data;
        ss = d2i_ESS_SIGNING_CERT(NULL, &p, a1->value.sequence->length);
    }
    /*
     * RFC 3161 2.4.1 / RFC 5816 2.2.1: the signing certificate "MUST be
     * identified by an ESSCertID or ESSCertIDv2 attribute".
     */
    if (ss == NULL && ss2 == NULL) {
        ERR_clear_error();
        verifier__step_set(r, VERIFIER_STEP_SIGNATURE, VERIFIER_STEP_INDETERMINATE,
                           "NO_SIGNING_CERTIFICATE_FOUND");
        error = verifier__detail(r, VERIFIER_STEP_SIGNATURE, "signature.no_ess",
                                 "no signingCertificate (ESSCertID) or signingCertificateV2 "
                                 "(ESSCertIDv2) attribute identifies the signer",
                                 "没有 signingCertificate（ESSCertID）或 "
                                 "signingCertificateV2（ESSCertIDv2）属性标识签名者");
        goto done;
    }
    NT_TRY(nt_buf_puts(&r->ess_version, ss2 != NULL ? "ESSCertIDv2" : "ESSCertID"));
    NT_OSSL_PTR(chain = sk_X509_new_null(), "stack");
    NT_OSSL(sk_X509_push(chain, v->signer), "stack");
    if (OSSL_ESS_check_signing_certs(ss, ss2, chain, 1) <= 0) {
        ERR_clear_error();
        verifier__step_set(r, VERIFIER_STEP_SIGNATURE, VERIFIER_STEP_INDETERMINATE,
                           "NO_SIGNING_CERTIFICATE_FOUND");
        error = verifier__detail(r, VERIFIER_STEP_SIGNATURE, "signature.ess_mismatch",
                                 "the %s attribute does not match the signer's certificate",
                                 "%s 属性与签名者的证书不符", nt_buf_cstr(&r->ess_version));
        goto done;
    }
    NT_TRY(verifier__detail(r, VERIFIER_STEP_SIGNATURE, "signature.ess_ok",
                            "signer identified by %s (hash of the certificate matches)",
                            "签名者由 %s 标识（证书哈希一致）", nt_buf_cstr(&r->ess_version)));
done:
    ESS_SIGNING_CERT_free(ss);
    ESS_SIGNING_CERT_V2_free(ss2);
    sk_X509_free(chain);
    return error;
}

static int check_cms_signature(vctx *v, PKCS7_SIGNER_INFO *si, int *ok)
{
    int error = 0;
    BIO *bio = NULL;
    char buf[4096];
    *ok = 0;
    /* The content is read through the digest BIOs PKCS7_dataInit sets up. */
    bio = PKCS7_dataInit(v->p7, NULL);
    if (bio != NULL) {
        while (BIO_read(bio, buf, sizeof(buf)) > 0) {
        }
        *ok = PKCS7_signatureVerify(bio, v->p7, si, v->signer) > 0;
    }
    ERR_clear_error();
    if (!*ok) {
        verifier__step_set(v->r, VERIFIER_STEP_SIGNATURE, VERIFIER_STEP_FAILED,
                           "SIG_CRYPTO_FAILURE");
        NT_TRY(verifier__detail(v->r, VERIFIER_STEP_SIGNATURE, "signature.crypto_failure",
                                "the CMS signature (or its messageDigest attribute) does not "
                                "verify with the signer's public key",
                                "CMS 签名（或其 messageDigest 属性）无法用签名者的公钥验证"));
    } else {
        NT_TRY(verifier__detail(v->r, VERIFIER_STEP_SIGNATURE, "signature.crypto_ok",
                                "CMS signature and messageDigest verified with the signer's key",
                                "已用签名者的公钥验证 CMS 签名及 messageDigest"));
    }
done:
    BIO_free_all(bio);
    return error;
}

static int check_chain(vctx *v)
{
    int error = 0;
    verifier_report *r = v->r;
    X509_STORE *store = NULL;
    X509_STORE_CTX *ctx = NULL;
    STACK_OF(X509) *built = NULL;
    char when[32];

    NT_OSSL_PTR(store = X509_STORE_new(), "X509_STORE_new");
    for (int i = 0; i < sk_X509_num(v->anchors); i++) {
        NT_OSSL(X509_STORE_add_cert(store, sk_X509_value(v->anchors, i)), "trust anchor");
    }
    NT_OSSL_PTR(ctx = X509_STORE_CTX_new(), "X509_STORE_CTX_new");
    NT_OSSL(X509_STORE_CTX_init(ctx, store, v->signer, v->pool), "X509_STORE_CTX_init");
    /* The chain is judged as of genTime: a TSA certificate that expired later still counts. */
    X509_STORE_CTX_set_time(ctx, 0, (time_t)v->gen_time);
    verifier__time_text(when, v->gen_time);
    if (X509_verify_cert(ctx) == 1) {
        built = X509_STORE_CTX_get1_chain(ctx);
        NT_OSSL_PTR(built, "chain");
        NT_TRY(chain_record(v, built, 1));
        v->chain = built;
        built = NULL;
        NT_TRY(verifier__detail(r, VERIFIER_STEP_SIGNATURE, "signature.chain_ok",
                                "certificate chain of %d certificate(s) built to a trust anchor "
                                "and valid at genTime %s",
                                "由 %d 张证书组成的证书链已构建至信任锚，且在 genTime %s 时有效",
                                sk_X509_num(v->chain), when));
    } else {
        int e = X509_STORE_CTX_get_error(ctx);
        int depth = X509_STORE_CTX_get_error_depth(ctx);
        const char *sub = "CERTIFICATE_CHAIN_GENERAL_FAILURE";
        verifier_status st = VERIFIER_STEP_INDETERMINATE;
        switch (e) {
        case X509_V_ERR_CERT_HAS_EXPIRED:
            /* ETSI EN 319 102-1: genTime is the proof of existence; invalid then = FAILED. */
            sub = "EXPIRED";
            st = VERIFIER_STEP_FAILED;
            break;
        case X509_V_ERR_CERT_NOT_YET_VALID:
            sub = "NOT_YET_VALID";
            st = VERIFIER_STEP_FAILED;
            break;
        case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
        case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
            sub = "FORMAT_FAILURE"; /* a CA certificate's validity is not a valid time */
            st = VERIFIER_STEP_FAILED;
            break;
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
            sub = "NO_CERTIFICATE_CHAIN_FOUND";
            break;
        default:
            break;
        }
        verifier__step_set(r, VERIFIER_STEP_SIGNATURE, st, sub);
        NT_TRY(verifier__detail(r, VERIFIER_STEP_SIGNATURE, "signature.chain_invalid",
                                "certificate chain not valid at genTime %s: %s (depth %d)",
                                "证书链在 genTime %s 时无效：%s（深度 %d）", when,
                                X509_verify_cert_error_string(e), depth));
        STACK_OF(X509) *partial = X509_STORE_CTX_get1_chain(ctx);
        if (partial != NULL) {
            error = chain_record(v, partial, 0);
            sk_X509_pop_free(partial, X509_free);
            NT_TRY(error);
        }
    }
done:
    ERR_clear_error();
    sk_X509_pop_free(built, X509_free);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return error;
}

static int check_key_usage(vctx *v)
{
    int error = 0;
    verifier_report *r = v->r;
    X509 *x = v->signer;
    /*
     * RFC 3161 2.3: "The corresponding certificate MUST contain only one
     * instance of the extended key usage field extension ... with KeyPurposeID
     * having value: id-kp-timeStamping.  This extension MUST be critical."
     */
    int loc = X509_get_ext_by_NID(x, NID_ext_key_usage, -1);
    uint32_t xku = X509_get_extended_key_usage(x);
    if (loc < 0) {
        verifier__step_set(r, VERIFIER_STEP_SIGNATURE, VERIFIER_STEP_INDETERMINATE,
                           "CHAIN_CONSTRAINTS_FAILURE");
        NT_TRY(verifier__detail(r, VERIFIER_STEP_SIGNATURE, "signature.no_eku",
                                "the TSA certificate has no extendedKeyUsage extension",
                                "时间戳机构证书没有 extendedKeyUsage（扩展密钥用法）扩展"));
    } else if (!X509_EXTENSION_get_critical(X509_get_ext(x, loc)) ||
               X509_get_ext_by_NID(x, NID_ext_key_usage, loc) >= 0 || xku != XKU_TIMESTAMP) {
        verifier__step_set(r, VERIFIER_STEP_SIGNATURE, VERIFIER_STEP_INDETERMINATE,
                           "CHAIN_CONSTRAINTS_FAILURE");
        NT_TRY(verifier__detail(r, VERIFIER_STEP_SIGNATURE, "signature.bad_eku",
                                "extendedKeyUsage must be critical and timeStamping only",
                                "extendedKeyUsage 必须是关键扩展，且仅含 timeStamping"));
    } else {
        NT_TRY(verifier__detail(r, VERIFIER_STEP_SIGNATURE, "signature.eku_ok",
                                "extendedKeyUsage: timeStamping only, critical",
                                "extendedKeyUsage：仅 timeStamping，关键扩展"));
    }
    if (X509_get_extension_flags(x) & EXFLAG_KUSAGE) {
        uint32_t ku = X509_get_key_usage(x);
        if ((ku & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION)) == 0 ||
            (ku & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) != 0) {
            verifier__step_set(r, VERIFIER_STEP_SIGNATURE, VERIFIER_STEP_INDETERMINATE,
                               "CHAIN_CONSTRAINTS_FAILURE");
            NT_TRY(verifier__detail(r, VERIFIER_STEP_SIGNATURE, "signature.bad_ku",
                                    "keyUsage must allow digitalSignature or nonRepudiation and "
                                    "not keyCertSign/cRLSign",
                                    "keyUsage 必须允许 digitalSignature 或 "
                                    "nonRepudiation，且不得含 keyCertSign/cRLSign"));
        } else {
            NT_TRY(verifier__detail(r, VERIFIER_STEP_SIGNATURE, "signature.ku_ok",
                                    "keyUsage allows signing", "keyUsage 允许签名"));
        }
    }
done:
    return error;
}

static int step_signature(vctx *v)
{
    int error = 0;
    verifier_report *r = v->r;
    STACK_OF(PKCS7_SIGNER_INFO) *sinfos = PKCS7_get_signer_info(v->p7);
    STACK_OF(X509) *tcerts = v->p7->d.sign->cert;
    int ok = 0;

    NT_OSSL_PTR(v->pool = sk_X509_new_null(), "stack");
    for (int i = 0; i < sk_X509_num(tcerts); i++) {
        NT_OSSL(X509_add_cert(v->pool, sk_X509_value(tcerts, i),
                              X509_ADD_FLAG_UP_REF | X509_ADD_FLAG_NO_DUP),
                "certificate");
    }
    for (size_t i = 0; i < v->rc.cert_count; i++) {
        const unsigned char *p = v->rc.certs[i].ptr;
        X509 *x = d2i_X509(NULL, &p, (long)v->rc.certs[i].len);
        if (x == NULL) {
            ERR_clear_error();
            NT_TRY(verifier__detail(r, VERIFIER_STEP_SIGNATURE, "signature.bad_receipt_cert",
                                    "receipt certificate %zu is not DER X.509; ignored",
                                    "回执中的第 %zu 张证书不是 DER 编码的 X.509 证书，已忽略", i));
            continue;
        }
        /* X509_ADD_FLAG_NO_DUP would keep neither the duplicate nor free it: check here. */
        int dup = 0;
        for (int j = 0; j < sk_X509_num(v->pool) && !dup; j++) {
            dup = X509_cmp(sk_X509_value(v->pool, j), x) == 0;
        }
        if (dup) {
            X509_free(x);
            continue;
        }
        if (sk_X509_push(v->pool, x) <= 0) {
            X509_free(x);
            NT_TRY(nt_error_ossl("certificate"));
        }
    }
    if (sinfos == NULL || sk_PKCS7_SIGNER_INFO_num(sinfos) != 1) {
        verifier__step_set(r, VERIFIER_STEP_SIGNATURE, VERIFIER_STEP_FAILED, "FORMAT_FAILURE");
        error = verifier__detail(r, VERIFIER_STEP_SIGNATURE, "signature.signer_count",
                                 "a time-stamp token must have exactly one SignerInfo",
                                 "时间戳令牌必须恰好包含一个 SignerInfo");
        goto done;
    }
    PKCS7_SIGNER_INFO *si = sk_PKCS7_SIGNER_INFO_value(sinfos, 0);
    PKCS7_ISSUER_AND_SERIAL *ias = si->issuer_and_serial;
    v->signer = X509_find_by_issuer_and_serial(v->pool, ias->issuer, ias->serial);
    if (v->signer == NULL) {
        verifier__step_set(r, VERIFIER_STEP_SIGNATURE, VERIFIER_STEP_INDETERMINATE,
                           "NO_SIGNING_CERTIFICATE_FOUND");
        error = verifier__detail(r, VERIFIER_STEP_SIGNATURE, "signature.no_signer_cert",
                                 "the signer's certificate is neither in the token nor in the "
                                 "receipt",
                                 "签名者的证书既不在令牌中，也不在回执中");
        goto done;
    }
    {
        STACK_OF(X509) *one = sk_X509_new_null();
        NT_OSSL_PTR(one, "stack");
        if (sk_X509_push(one, v->signer) <= 0) {
            sk_X509_free(one);
            NT_TRY(nt_error_ossl("stack"));
        }
        error = chain_record(v, one, 0);
        sk_X509_free(one);
        NT_TRY(error);
    }
    if (strcmp(r->chain[0].not_before, "(malformed)") == 0 ||
        strcmp(r->chain[0].not_after, "(malformed)") == 0) {
        /* RFC 5280 4.1.2.5: UTCTime YYMMDDHHMMSSZ / GeneralizedTime YYYYMMDDHHMMSSZ. */
        verifier__step_set(r, VERIFIER_STEP_SIGNATURE, VERIFIER_STEP_FAILED, "FORMAT_FAILURE");
        error = verifier__detail(r, VERIFIER_STEP_SIGNATURE, "signature.bad_cert_validity",
                                 "the TSA certificate's validity (notBefore / notAfter) is not a "
                                 "valid time",
                                 "时间戳机构证书的有效期（notBefore / notAfter）不是有效的时间");
        goto done;
    }
    NT_TRY(check_cms_signature(v, si, &ok));
    if (!ok) {
        goto done;
    }
    NT_TRY(check_signer_identification(v, si));
    NT_TRY(check_chain(v));
    NT_TRY(check_key_usage(v));
    verifier__step_set(r, VERIFIER_STEP_SIGNATURE, VERIFIER_STEP_PASSED, NULL);
done:
    return error;
}

/* ------------------------------------------------------------------ revocation */

static int crl_load(X509_CRL **out, const nt_buf *data)
{
    BIO *bio = BIO_new_mem_buf(data->ptr, (int)data->len);
    if (bio == NULL) {
        return nt_error_ossl("BIO");
    }
    *out = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
    if (*out == NULL) {
        const unsigned char *p = data->ptr;
        ERR_clear_error();
        *out = d2i_X509_CRL(NULL, &p, (long)data->len);
    }
    BIO_free(bio);
    ERR_clear_error();
    return *out != NULL ? 0 : nt_error_set(NT_EINVAL, "not a PEM or DER CRL");
}

static int64_t asn1_time_unix(const ASN1_TIME *t)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        return 0;
    }
    return (int64_t)timegm(&tm);
}

static int step_revocation(vctx *v)
{
    int error = 0;
    verifier_report *r = v->r;
    const verifier_options *o = v->opts;
    X509_CRL *crls[VERIFIER_MAX_CRLS] = {0};
    size_t ncrl = 0;
    nt_buf data = NT_BUF_INIT;
    char when[32];

    if (o->crl_count == 0) {
        NT_TRY(verifier__detail(r, VERIFIER_STEP_REVOCATION, "revocation.no_data",
                                "no revocation data given (--crl)", "未提供吊销数据（--crl）"));
        NT_TRY(verifier__limit(r, "revocation not checked"));
        goto done;
    }
    for (size_t i = 0; i < o->crl_count && i < VERIFIER_MAX_CRLS; i++) {
        NT_TRY(input_load(&data, &r->crls[i], o->crl_paths[i], NT_BYTES(NULL, 0), "CRL"));
        r->crl_count = i + 1;
        if (crl_load(&crls[ncrl], &data) == 0) {
            ncrl++;
        } else {
            NT_TRY(verifier__detail(r, VERIFIER_STEP_REVOCATION, "revocation.not_crl",
                                    "%s is not a CRL; ignored", "%s 不是 CRL，已忽略",
                                    o->crl_paths[i]));
        }
    }
    if (v->chain == NULL) {
        NT_TRY(verifier__detail(r, VERIFIER_STEP_REVOCATION, "revocation.no_chain",
                                "no verified certificate chain to check against the CRLs",
                                "没有已验证的证书链可与 CRL 核对"));
        NT_TRY(verifier__limit(r, "revocation not checked"));
        goto done;
    }
    int n = sk_X509_num(v->chain);
    for (int i = 0; i + 1 < n; i++) {
        X509 *cert = sk_X509_value(v->chain, i);
        X509 *issuer = sk_X509_value(v->chain, i + 1);
        EVP_PKEY *ikey = X509_get0_pubkey(issuer);
        X509_CRL *crl = NULL;
        for (size_t k = 0; k < ncrl && crl == NULL; k++) {
            if (X509_NAME_cmp(X509_CRL_get_issuer(crls[k]), X509_get_subject_name(issuer)) == 0 &&
                ikey != NULL && X509_CRL_verify(crls[k], ikey) == 1) {
                crl = crls[k];
            }
        }
        ERR_clear_error();
        if (crl == NULL) {
            NT_TRY(verifier__detail(r, VERIFIER_STEP_REVOCATION, "revocation.no_issuer_crl",
                                    "certificate %d (%s): no CRL from its issuer was given",
                                    "证书 %d（%s）：未提供其颁发者的 CRL", i,
                                    i == 0 ? "TSA" : "CA"));
            if (i == 0) {
                verifier__step_set(r, VERIFIER_STEP_REVOCATION, VERIFIER_STEP_INDETERMINATE,
                                   "TRY_LATER");
                NT_TRY(verifier__limit(r, "revocation of the TSA certificate not checked"));
            } else {
                NT_TRY(verifier__limit(r, "revocation of CA certificates not checked"));
            }
            continue;
        }
        verifier__time_text(when, asn1_time_unix(X509_CRL_get0_lastUpdate(crl)));
        X509_REVOKED *rev = NULL;
        if (X509_CRL_get0_by_cert(crl, &rev, cert) == 1 && rev != NULL) {
            int64_t rt = asn1_time_unix(X509_REVOKED_get0_revocationDate(rev));
            char rtext[32];
            verifier__time_text(rtext, rt);
            int crit = 0;
            ASN1_ENUMERATED *reason = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, &crit, NULL);
            long why = reason != NULL ? ASN1_ENUMERATED_get(reason) : -1;
            ASN1_ENUMERATED_free(reason);
            if (rt <= v->gen_time) {
                verifier__step_set(r, VERIFIER_STEP_REVOCATION, VERIFIER_STEP_FAILED, "REVOKED");
                NT_TRY(verifier__detail(r, VERIFIER_STEP_REVOCATION, "revocation.revoked",
                                        "certificate %d revoked on %s, before genTime",
                                        "证书 %d 已于 %s 被吊销，早于 genTime", i, rtext));
            } else if (why < 0 || why == 0 || why == 1 || why == 2) {
                /* unspecified / keyCompromise / cACompromise: the key may have signed the past. */
                verifier__step_set(r, VERIFIER_STEP_REVOCATION, VERIFIER_STEP_INDETERMINATE,
                                   "REVOKED_NO_POE");
                NT_TRY(verifier__detail(
                    r, VERIFIER_STEP_REVOCATION, "revocation.revoked_no_poe",
                    "certificate %d revoked on %s, after genTime, reason %ld "
                    "(key compromise or unspecified): no independent proof "
                    "that the token existed before",
                    "证书 %d 已于 %s 被吊销，晚于 genTime，原因代码 "
                    "%ld（密钥泄露或未说明）：没有独立证据证明令牌在吊销之前已经存在",
                    i, rtext, why));
            } else {
                verifier__step_set(r, VERIFIER_STEP_REVOCATION, VERIFIER_STEP_PASSED, NULL);
                NT_TRY(verifier__detail(
                    r, VERIFIER_STEP_REVOCATION, "revocation.revoked_later",
                    "certificate %d revoked on %s, after genTime, reason %ld "
                    "(not a key compromise)",
                    "证书 %d 已于 %s 被吊销，晚于 genTime，原因代码 %ld（非密钥泄露）", i, rtext,
                    why));
            }
        } else {
            verifier__step_set(r, VERIFIER_STEP_REVOCATION, VERIFIER_STEP_PASSED, NULL);
            NT_TRY(verifier__detail(r, VERIFIER_STEP_REVOCATION, "revocation.not_revoked",
                                    "certificate %d not revoked in the CRL issued %s",
                                    "证书 %d 未在 %s 签发的 CRL 中被吊销", i, when));
        }
    }
done:
    for (size_t k = 0; k < ncrl; k++) {
        X509_CRL_free(crls[k]);
    }
    nt_buf_dispose(&data);
    return error;
}

/* ------------------------------------------------------------------ ledger */

static int ledger_fail(verifier_report *r, const char *sub, const char *code, const char *en,
                       const char *zh)
{
    verifier__step_set(r, VERIFIER_STEP_LEDGER, VERIFIER_STEP_FAILED, sub);
    return verifier__detail_text(r, VERIFIER_STEP_LEDGER, code, en, zh);
}

static int step_ledger(vctx *v, const note_verifier *nv)
{
    int error = 0;
    verifier_report *r = v->r;
    record rec;
    checkpoint cp;
    size_t body_len = 0;
    uint8_t leaf_hash[MERKLE_HASH_SIZE];

    r->have_ledger = 1;
    r->leaf_index = v->rc.leaf_index;
    r->tree_size = v->rc.tree_size;
    NT_TRY(nt_buf_puts(&r->origin, nt_buf_cstr(&v->rc.origin)));
    NT_TRY(nt_buf_set(&r->checkpoint, v->rc.checkpoint.ptr, v->rc.checkpoint.len));
    merkle_leaf_hash(leaf_hash, v->rc.leaf.ptr, v->rc.leaf.len);
    NT_TRY(nt_hex_encode(&r->leaf_hash, leaf_hash, sizeof(leaf_hash)));

    if (record_decode(&rec, v->rc.leaf.ptr, v->rc.leaf.len) < 0) {
        nt_buf msg = NT_BUF_INIT, zh = NT_BUF_INIT;
        error =
            nt_buf_printf(&msg, "the leaf is not a canonical Notarium record: %s", nt_error_last());
        if (error == 0) {
            error = nt_buf_printf(&zh, "叶子不是规范的 Notarium 记录：%s", nt_error_last());
        }
        if (error == 0) {
            error = ledger_fail(r, "LEAF_FORMAT_FAILURE", "ledger.leaf_format", nt_buf_cstr(&msg),
                                nt_buf_cstr(&zh));
        }
        nt_buf_dispose(&msg);
        nt_buf_dispose(&zh);
        goto done;
    }
    if (rec.token.len != v->rc.token.len ||
        memcmp(rec.token.ptr, v->rc.token.ptr, rec.token.len) != 0) {
        error = ledger_fail(r, "LEAF_MISMATCH", "ledger.leaf_token_mismatch",
                            "the leaf does not commit to this token", "叶子未承诺该令牌");
        goto done;
    }
    if (v->tst != NULL && (rec.alg != v->imprint_alg || rec.digest.len != v->imprint.len ||
                           memcmp(rec.digest.ptr, v->imprint.ptr, v->imprint.len) != 0)) {
        error = ledger_fail(r, "LEAF_MISMATCH", "ledger.leaf_digest_mismatch",
                            "the leaf's digest differs from the token's messageImprint",
                            "叶子中的摘要与时间戳令牌的 messageImprint 不同");
        goto done;
    }
    /* A receipt may withhold the metadata (HTTP-API.md), or say the log lost it (a restore
     * from the mirror): the leaf still commits to its hash, and everything else holds. */
    if (rec.has_metadata !=
        (v->rc.has_metadata || v->rc.metadata_withheld || v->rc.metadata_missing)) {
        error = ledger_fail(r, "LEAF_MISMATCH", "ledger.metadata_flag_mismatch",
                            "the receipt's metadata and the leaf's metadata flag disagree",
                            "回执中的元数据与叶子的元数据标志不一致");
        goto done;
    }
    if (v->rc.has_metadata) {
        uint8_t mh[32];
        SHA256(v->rc.metadata.ptr != NULL ? v->rc.metadata.ptr : (const uint8_t *)"",
               v->rc.metadata.len, mh);
        if (memcmp(mh, rec.metadata_hash, 32) != 0) {
            error = ledger_fail(r, "LEAF_MISMATCH", "ledger.metadata_mismatch",
                                "the receipt's metadata does not hash to the leaf's metadata hash",
                                "回执中元数据的哈希与叶子记录的元数据哈希不符");
            goto done;
        }
    }
    if (v->rc.metadata_withheld) {
        NT_TRY(verifier__detail(r, VERIFIER_STEP_LEDGER, "ledger.leaf_ok_metadata_withheld",
                                "leaf %llu commits to this token and to %s:%s; its metadata is "
                                "withheld from this receipt and was not checked",
                                "叶子 %llu 承诺了该令牌及摘要 %s:%s；其元数据未包含在本回执中，未予核对",
                                (unsigned long long)v->rc.leaf_index, record_alg_name(rec.alg),
                                nt_buf_cstr(&r->imprint)));
        NT_TRY(verifier__limit(r, "the receipt withholds the evidence metadata: it was not checked"));
    } else if (v->rc.metadata_missing) {
        NT_TRY(verifier__detail(r, VERIFIER_STEP_LEDGER, "ledger.leaf_ok_metadata_missing",
                                "leaf %llu commits to this token and to %s:%s; its metadata was "
                                "lost by the log (restored from its mirror) and is not checked",
                                "叶子 %llu 承诺了该令牌及摘要 %s:%s；其元数据已在日志恢复时丢失，未予核对",
                                (unsigned long long)v->rc.leaf_index, record_alg_name(rec.alg),
                                nt_buf_cstr(&r->imprint)));
        NT_TRY(verifier__limit(r, "the log lost the evidence metadata (restored from its mirror): "
                                  "it was not checked"));
    } else if (rec.has_metadata) {
        NT_TRY(verifier__detail(r, VERIFIER_STEP_LEDGER, "ledger.leaf_ok_metadata",
                                "leaf %llu commits to this token and to %s:%s and its metadata",
                                "叶子 %llu 承诺了该令牌、摘要 %s:%s 及其元数据",
                                (unsigned long long)v->rc.leaf_index, record_alg_name(rec.alg),
                                nt_buf_cstr(&r->imprint)));
    } else {
        NT_TRY(verifier__detail(r, VERIFIER_STEP_LEDGER, "ledger.leaf_ok",
                                "leaf %llu commits to this token and to %s:%s",
                                "叶子 %llu 承诺了该令牌及摘要 %s:%s",
                                (unsigned long long)v->rc.leaf_index, record_alg_name(rec.alg),
                                nt_buf_cstr(&r->imprint)));
    }

    if (strcmp(nt_buf_cstr(&v->rc.origin), nv->name) != 0) {
        nt_buf msg = NT_BUF_INIT, zh = NT_BUF_INIT;
        error = nt_buf_printf(&msg, "the receipt is from log \"%s\", the pinned log key is \"%s\"",
                              nt_buf_cstr(&v->rc.origin), nv->name);
        if (error == 0) {
            error = nt_buf_printf(&zh, "该回执来自日志“%s”，而指定的日志公钥属于“%s”",
                                  nt_buf_cstr(&v->rc.origin), nv->name);
        }
        if (error == 0) {
            error = ledger_fail(r, "LOG_MISMATCH", "ledger.log_mismatch", nt_buf_cstr(&msg),
                                nt_buf_cstr(&zh));
        }
        nt_buf_dispose(&msg);
        nt_buf_dispose(&zh);
        goto done;
    }
    int vr = note_verify(&body_len, (const char *)v->rc.checkpoint.ptr, v->rc.checkpoint.len, nv);
    if (vr == NT_EVERIFY) {
        error = ledger_fail(r, "CHECKPOINT_SIGNATURE_FAILURE", "ledger.checkpoint_signature",
                            "the checkpoint carries no valid signature by the pinned log key",
                            "检查点没有指定日志公钥的有效签名");
        goto done;
    }
    if (vr < 0 || checkpoint_parse(&cp, (const char *)v->rc.checkpoint.ptr, body_len) < 0) {
        error = ledger_fail(r, "CHECKPOINT_FORMAT_FAILURE", "ledger.checkpoint_format",
                            "the checkpoint is not a well-formed signed note",
                            "检查点不是格式正确的签名注记（signed note）");
        goto done;
    }
    NT_TRY(nt_hex_encode(&r->root, cp.root, sizeof(cp.root)));
    if (strcmp(cp.origin, nv->name) != 0) {
        error = ledger_fail(r, "LOG_MISMATCH", "ledger.checkpoint_origin",
                            "the checkpoint's origin is not the pinned log's name",
                            "检查点的 origin 不是指定日志的名称");
        goto done;
    }
    NT_TRY(verifier__detail(r, VERIFIER_STEP_LEDGER, "ledger.checkpoint_ok",
                            "checkpoint signed by the pinned log key %s+%08x: size %llu",
                            "检查点由指定的日志公钥 %s+%08x 签名：树大小 %llu", nv->name,
                            (unsigned)nv->key_id, (unsigned long long)cp.size));
    if (cp.size != v->rc.tree_size) {
        error = ledger_fail(r, "CHECKPOINT_MISMATCH", "ledger.tree_size_mismatch",
                            "the inclusion proof is for another tree size than the checkpoint's",
                            "包含证明针对的树大小与检查点的不同");
        goto done;
    }
    int ir = merkle_verify_inclusion(leaf_hash, v->rc.leaf_index, v->rc.tree_size, v->rc.proof.ptr,
                                     v->rc.proof.len, cp.root);
    if (ir < 0) {
        error = ledger_fail(r, "INCLUSION_PROOF_FAILURE", "ledger.inclusion_failure",
                            "the inclusion proof does not lead from this leaf at this index to "
                            "the checkpoint's root",
                            "包含证明无法从该序号处的该叶子推导出检查点的根哈希");
        goto done;
    }
    NT_TRY(verifier__detail(r, VERIFIER_STEP_LEDGER, "ledger.inclusion_ok",
                            "inclusion proof (%zu hashes) leads to the checkpoint's root %s",
                            "包含证明（%zu 个哈希）通向检查点的根哈希 %s", v->rc.proof.len / 32,
                            nt_buf_cstr(&r->root)));
    verifier__step_set(r, VERIFIER_STEP_LEDGER, VERIFIER_STEP_PASSED, NULL);

    if (v->opts->mirror != NULL) {
        NT_TRY(verifier__mirror_check(r, v->opts, nv, cp.size, cp.root));
    }
done:
    return error;
}

/* ------------------------------------------------------------------ run */

static int load_anchors(vctx *v, const nt_buf *pem)
{
    int error = 0;
    verifier_report *r = v->r;
    BIO *bio = NULL;
    X509 *x = NULL;
    NT_OSSL_PTR(v->anchors = sk_X509_new_null(), "stack");
    NT_OSSL_PTR(bio = BIO_new_mem_buf(pem->ptr, (int)pem->len), "BIO");
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (r->anchor_count < VERIFIER_MAX_ANCHORS) {
            r->anchors[r->anchor_count].is_anchor = 1;
            NT_TRY(cert_info_fill(&r->anchors[r->anchor_count++], x));
        }
        if (sk_X509_push(v->anchors, x) <= 0) {
            X509_free(x);
            NT_TRY(nt_error_ossl("stack"));
        }
        x = NULL;
    }
    ERR_clear_error();
    NT_ENSURE(sk_X509_num(v->anchors) > 0, NT_EINVAL, "--trust: no PEM certificate in %s",
              nt_buf_cstr(&r->trust.name));
done:
    BIO_free(bio);
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
    hex_lower(hex, md, 16);
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

int verifier_run(verifier_report **out, const verifier_options *opts)
{
    int error = 0;
    verifier_report *r = NULL;
    vctx v;
    nt_buf data = NT_BUF_INIT, trust = NT_BUF_INIT, vkey = NT_BUF_INIT, sup = NT_BUF_INIT;
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
        NT_TRY(digest_parse(&sup_alg, &sup, opts->digest));
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

    /* Step 1: everything examined is identified by its SHA-256. */
    NT_TRY(input_load(&data, &r->receipt, opts->receipt_path, opts->receipt, "receipt"));
    NT_TRY(input_load(&trust, &r->trust, opts->trust_path, opts->trust, "trust anchors"));
    NT_TRY(input_load(&vkey, &r->log_key, opts->log_key_path, opts->log_key, "log key"));
    NT_TRY(load_anchors(&v, &trust));
    if (note_vkey_parse(&nv, (const char *)vkey.ptr, vkey.len) < 0) {
        error = nt_error_set(NT_EINVAL, "--log-key: not a C2SP vkey: %s", nt_error_last());
        goto done;
    }
    {
        const char *end = memchr(vkey.ptr, '\n', vkey.len);
        size_t n = end != NULL ? (size_t)(end - (const char *)vkey.ptr) : vkey.len;
        NT_TRY(nt_buf_set(&r->log_vkey, vkey.ptr, n));
    }
    NT_TRY(nt_buf_puts(&r->log_name, nv.name));
    r->log_key_id = nv.key_id;
    r->mirror_requested = opts->mirror != NULL;
    if (opts->mirror != NULL) {
        NT_TRY(nt_buf_puts(&r->mirror_source, opts->mirror));
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

    /* Step 3 is parsed first: the document is hashed with the token's algorithm. */
    if (receipt_decode(&v.rc, (const char *)data.ptr, data.len) < 0) {
        verifier__step_set(r, VERIFIER_STEP_TOKEN, VERIFIER_STEP_FAILED, "FORMAT_FAILURE");
        NT_TRY(verifier__detail(r, VERIFIER_STEP_TOKEN, "token.bad_receipt",
                                "the receipt is not a Notarium receipt: %s",
                                "该回执不是 Notarium 回执：%s", nt_error_last()));
    } else {
        v.have_receipt = 1;
        NT_TRY(step_token(&v));
    }
    NT_TRY(step_digest(&v, &sup_alg, &sup));
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
        NT_TRY(step_signature(&v));
    }
    NT_TRY(step_revocation(&v));
    for (size_t i = 0; i < r->crl_count; i++) {
        NT_TRY(verifier__detail(r, VERIFIER_STEP_INPUTS, "inputs.crl",
                                "CRL %s: %llu bytes, sha256 %s", "CRL %s：%llu 字节，sha256 %s",
                                nt_buf_cstr(&r->crls[i].name), (unsigned long long)r->crls[i].size,
                                r->crls[i].sha256));
    }
    if (v.have_receipt) {
        NT_TRY(step_ledger(&v, &nv));
    }
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
    nt_buf_dispose(&trust);
    nt_buf_dispose(&vkey);
    nt_buf_dispose(&sup);
    return error;
}
