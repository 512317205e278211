/*
 * verify_revocation.c - step 5 of docs/REPORT.md: the verified chain checked
 * against the CRLs given with --crl.  A revocation before genTime fails; one
 * after genTime for key compromise (or no reason) leaves the token without
 * proof of existence (REVOKED_NO_POE).  Part of nt_verifier, run by
 * verify.c after the signature step.
 */
#include "verifier/verifier_int.h"

#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

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

int verifier__step_revocation(vctx *v)
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
        NT_TRY(verifier__input_load(&data, &r->crls[i], o->crl_paths[i], NT_BYTES(NULL, 0), "CRL"));
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
