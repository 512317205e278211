/*
 * verify_token.c - steps 3 and 2 of docs/REPORT.md: the token parsed (a CMS
 * SignedData holding an RFC 3161 TSTInfo, its fields copied into the report)
 * and the document's digest (or the supplied one) compared with the token's
 * messageImprint.  Part of nt_verifier; verify.c runs the token step first
 * because the document is hashed with the token's algorithm.
 */
#include "verifier/verifier_int.h"

#include "ledger/record.h"

#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* ------------------------------------------------------------------ token */

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

int verifier__step_token(vctx *v)
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

int verifier__step_digest(vctx *v, const record_alg *sup_alg, const nt_buf *sup_digest)
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
        NT_TRY(verifier__document_hash(&r->document, md, &md_len, o->document_path, alg));
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
