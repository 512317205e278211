/*
 * verify_signature.c - step 4 of docs/REPORT.md: the token's signature.  The
 * signer's certificate is found (in the token or the receipt), the CMS
 * signature verified, the signer identified by ESSCertID(v2), the chain built
 * to a trust anchor as of genTime, and the TSA certificate's key usages
 * checked (RFC 3161 2.3), each failure with its ETSI EN 319 102-1
 * sub-indication.  Part of nt_verifier, run by verify.c after the token step.
 */
#include "ledger/qc.h"
#include "ledger/sm2.h"
#include "verifier/verifier_int.h"

#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* ------------------------------------------------------------------ signature */

static int chain_record(vctx *v, STACK_OF(X509) * certs, int verified)
{
    int error = 0;
    verifier_report *r = v->r;
    for (size_t i = 0; i < r->chain_count; i++) {
        verifier__cert_info_dispose(&r->chain[i]);
    }
    r->chain_count = 0;
    for (int i = 0; i < sk_X509_num(certs) && r->chain_count < VERIFIER_MAX_CHAIN; i++) {
        X509 *x = sk_X509_value(certs, i);
        verifier_cert_info *c = &r->chain[r->chain_count++];
        NT_TRY(verifier__cert_info_fill(c, x));
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
    if (sm2_signer_info_is(si)) {
        /* OpenSSL's PKCS7 code checks SM2 without the Z value: ledger/sm2.h does it */
        nt_bytes content;
        *ok = sm2_econtent(&content, v->p7) == 0 &&
              sm2_signer_verify(si, v->signer, content, NULL) == 0;
        nt_error_clear();
        goto judged;
    }
    /* The content is read through the digest BIOs PKCS7_dataInit sets up. */
    bio = PKCS7_dataInit(v->p7, NULL);
    if (bio != NULL) {
        while (BIO_read(bio, buf, sizeof(buf)) > 0) {
        }
        *ok = PKCS7_signatureVerify(bio, v->p7, si, v->signer) > 0;
    }
judged:
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

    /* SM2-signed certificates verify only with their signer's identifier (ledger/sm2.h) */
    NT_TRY(sm2_certs_default_id(v->anchors));
    NT_TRY(sm2_certs_default_id(v->pool));
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

/* ETSI EN 319 422: does the signer's certificate declare a qualified TSU (ledger/qc.h)? */
static int check_qualified(vctx *v)
{
    int error = 0, q = 0;

    if (qc_tsu_qualified(&q, v->signer) < 0) {
        nt_error_clear();
        NT_TRY(
            verifier__detail(v->r, VERIFIER_STEP_SIGNATURE, "signature.qc_malformed",
                             "the TSA certificate's qcStatements extension is malformed; the "
                             "TSU is not taken as qualified",
                             "时间戳机构证书的 qcStatements 扩展格式错误，不视为合格时间戳单元"));
    } else if (q) {
        NT_TRY(verifier__detail(v->r, VERIFIER_STEP_SIGNATURE, "signature.qualified_tsu",
                                "the TSA certificate declares a qualified TSU (ETSI EN 319 422 "
                                "esi4-qtstStatement-1)",
                                "时间戳机构证书声明其为合格时间戳单元（ETSI EN 319 422 "
                                "esi4-qtstStatement-1）"));
        NT_TRY(verifier__limit(v->r, "the qualified status of the TSU on an EU trusted list was "
                                     "not checked"));
    }
    v->r->qualified_tsu = q;
done:
    return error;
}

int verifier__step_signature(vctx *v)
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
    NT_TRY(check_qualified(v));
    NT_TRY(check_signer_identification(v, si));
    NT_TRY(check_chain(v));
    NT_TRY(check_key_usage(v));
    verifier__step_set(r, VERIFIER_STEP_SIGNATURE, VERIFIER_STEP_PASSED, NULL);
done:
    return error;
}
