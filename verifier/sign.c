/*
 * sign.c - a detached CMS signature over the JSON report, so that a report
 * handed to a court is itself evidence (who produced it, unaltered), its
 * RFC 3161 time-stamp (when it was produced), and the check of both
 * (`notarium verify-report`).  Part of nt_verifier.
 *
 * The signature is over the exact bytes of the JSON file (CMS_BINARY: no
 * MIME canonicalisation), DER, with the signer's certificate included.  The
 * time-stamp follows RFC 3161 Appendix A and CAdES-T (ETSI EN 319 122-1
 * 5.3): "the value of messageImprint field within TimeStampToken shall be a
 * hash of the value of signature field within SignerInfo", and the token is
 * the unsigned attribute id-aa-timeStampToken of that SignerInfo, so adding
 * it does not touch what was signed.
 */
#include "verifier/verifier_int.h"

#include <limits.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ts.h>
#include <openssl/x509.h>

#define PEM_FILE_MAX (16u << 20)

static int pem_certs(STACK_OF(X509) * *out, const char *path)
{
    int error = 0;
    nt_buf data = NT_BUF_INIT;
    NT_TRY(nt_file_read(&data, path, PEM_FILE_MAX));
    NT_TRY(nt_x509_pem_certs(out, nt_buf_bytes(&data), path)); /* util/x509.c */
done:
    nt_buf_dispose(&data);
    return error;
}

/* Append the DER of `cms` to `out`. */
static int cms_der_put(nt_buf *out, CMS_ContentInfo *cms)
{
    int error = 0;
    unsigned char *der = NULL;
    int len = i2d_CMS_ContentInfo(cms, &der);
    NT_OSSL(len, "i2d_CMS_ContentInfo");
    NT_TRY(nt_buf_put(out, der, (size_t)len));
done:
    OPENSSL_free(der);
    return error;
}

/* A check OpenSSL refused: its reason goes into the message, NT_EVERIFY is returned. */
static int ossl_refused(const char *what)
{
    (void)nt_error_ossl("%s", what);
    return NT_EVERIFY;
}

int verifier_report_sign(nt_buf *out, nt_bytes report_json, const char *key_path,
                         const char *cert_path, const char *chain_path)
{
    int error = 0;
    nt_buf keypem = NT_BUF_INIT;
    BIO *kb = NULL, *in = NULL;
    EVP_PKEY *key = NULL;
    STACK_OF(X509) *certs = NULL, *chain = NULL;
    CMS_ContentInfo *cms = NULL;

    NT_TRY(nt_file_read(&keypem, key_path, 1u << 20));
    NT_OSSL_PTR(kb = BIO_new_mem_buf(keypem.ptr, (int)keypem.len), "BIO");
    NT_OSSL_PTR(key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL), "--sign-key %s", key_path);
    NT_TRY(pem_certs(&certs, cert_path));
    if (chain_path != NULL) {
        NT_TRY(pem_certs(&chain, chain_path));
    }
    for (int i = 1; i < sk_X509_num(certs); i++) {
        if (chain == NULL) {
            NT_OSSL_PTR(chain = sk_X509_new_null(), "stack");
        }
        NT_OSSL(X509_add_cert(chain, sk_X509_value(certs, i), X509_ADD_FLAG_UP_REF), "stack");
    }
    NT_OSSL_PTR(in = BIO_new_mem_buf(report_json.ptr, (int)report_json.len), "BIO");
    NT_OSSL_PTR(cms = CMS_sign(sk_X509_value(certs, 0), key, chain, in, CMS_DETACHED | CMS_BINARY),
                "CMS_sign");
    NT_TRY(cms_der_put(out, cms));
done:
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    BIO_free(kb);
    EVP_PKEY_free(key);
    sk_X509_pop_free(certs, X509_free);
    sk_X509_pop_free(chain, X509_free);
    nt_buf_dispose_secret(&keypem);
    return error;
}

/* ------------------------------------------------------------------ time-stamp */

static int cms_parse(CMS_ContentInfo **out, CMS_SignerInfo **si_out, nt_bytes der)
{
    int error = 0;
    const unsigned char *p = der.ptr;
    *out = d2i_CMS_ContentInfo(NULL, &p, (long)der.len);
    if (*out == NULL || p != der.ptr + der.len) {
        ERR_clear_error();
        NT_ENSURE(0, NT_EINVAL, "the signature is not a DER CMS ContentInfo");
    }
    STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(*out);
    NT_ENSURE(sis != NULL && sk_CMS_SignerInfo_num(sis) == 1, NT_EINVAL,
              "a report signature has exactly one SignerInfo");
    *si_out = sk_CMS_SignerInfo_value(sis, 0);
done:
    if (error < 0) {
        CMS_ContentInfo_free(*out);
        *out = NULL;
    }
    return error;
}

/* cms_parse for a signature about to be time-stamped: it must not carry a time-stamp yet. */
static int cms_parse_unstamped(CMS_ContentInfo **out, CMS_SignerInfo **si_out, nt_bytes der)
{
    int error = 0;
    NT_TRY(cms_parse(out, si_out, der));
    NT_ENSURE(CMS_unsigned_get_attr_by_NID(*si_out, NID_id_smime_aa_timeStampToken, -1) < 0,
              NT_EINVAL, "the signature already carries a time-stamp");
done:
    return error;
}

/* The hash of the SignerInfo's signature value: the imprint a time-stamp covers. */
static int signature_imprint(uint8_t *md, unsigned *md_len, CMS_SignerInfo *si, const EVP_MD *alg)
{
    int error = 0;
    ASN1_OCTET_STRING *sv = CMS_SignerInfo_get0_signature(si);
    NT_ENSURE(sv != NULL && ASN1_STRING_length(sv) > 0, NT_EINVAL,
              "the SignerInfo has no signature");
    NT_OSSL(EVP_Digest(ASN1_STRING_get0_data(sv), (size_t)ASN1_STRING_length(sv), md, md_len, alg,
                       NULL),
            "digest");
done:
    return error;
}

int verifier_report_timestamp_request(nt_buf *tsq_out, nt_bytes signature_der)
{
    int error = 0;
    CMS_ContentInfo *cms = NULL;
    CMS_SignerInfo *si = NULL;
    TS_REQ *req = NULL;
    TS_MSG_IMPRINT *mi = NULL;
    X509_ALGOR *algor = NULL;
    BIGNUM *bn = NULL;
    ASN1_INTEGER *nonce = NULL;
    unsigned char *der = NULL;
    uint8_t md[EVP_MAX_MD_SIZE], rnd[8];
    unsigned md_len = 0;

    NT_TRY(cms_parse_unstamped(&cms, &si, signature_der));
    NT_TRY(signature_imprint(md, &md_len, si, EVP_sha256()));
    NT_OSSL_PTR(req = TS_REQ_new(), "TS_REQ_new");
    /* RFC 3161 2.4.1: "version INTEGER { v1(1) }" */
    NT_OSSL(TS_REQ_set_version(req, 1), "TimeStampReq version");
    NT_OSSL_PTR(mi = TS_MSG_IMPRINT_new(), "messageImprint");
    NT_OSSL_PTR(algor = X509_ALGOR_new(), "algorithm");
    NT_OSSL(X509_ALGOR_set0(algor, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, NULL), "algorithm");
    NT_OSSL(TS_MSG_IMPRINT_set_algo(mi, algor), "messageImprint");
    NT_OSSL(TS_MSG_IMPRINT_set_msg(mi, md, (int)md_len), "messageImprint");
    NT_OSSL(TS_REQ_set_msg_imprint(req, mi), "messageImprint");
    /* RFC 3161 2.4.1: the nonce "allows the client to verify the timeliness of the response". */
    NT_OSSL(RAND_bytes(rnd, sizeof(rnd)), "nonce");
    NT_OSSL_PTR(bn = BN_bin2bn(rnd, sizeof(rnd), NULL), "nonce");
    NT_OSSL_PTR(nonce = BN_to_ASN1_INTEGER(bn, NULL), "nonce");
    NT_OSSL(TS_REQ_set_nonce(req, nonce), "nonce");
    /* The TSA's certificate in the token, so the reader can build its chain. */
    NT_OSSL(TS_REQ_set_cert_req(req, 1), "certReq");
    int len = i2d_TS_REQ(req, &der);
    NT_OSSL(len, "i2d_TS_REQ");
    NT_TRY(nt_buf_put(tsq_out, der, (size_t)len));
done:
    OPENSSL_free(der);
    ASN1_INTEGER_free(nonce);
    BN_free(bn);
    X509_ALGOR_free(algor);
    TS_MSG_IMPRINT_free(mi);
    TS_REQ_free(req);
    CMS_ContentInfo_free(cms);
    return error;
}

int verifier_report_timestamp_attach(nt_buf *out, nt_bytes signature_der, nt_bytes tsq,
                                     nt_bytes tsr)
{
    int error = 0;
    CMS_ContentInfo *cms = NULL;
    CMS_SignerInfo *si = NULL;
    TS_REQ *req = NULL;
    TS_RESP *resp = NULL;
    TS_VERIFY_CTX *vc = NULL;
    unsigned char *tok = NULL;
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    const unsigned char *p;

    NT_TRY(cms_parse_unstamped(&cms, &si, signature_der));
    p = tsq.ptr;
    req = d2i_TS_REQ(NULL, &p, (long)tsq.len);
    ERR_clear_error();
    NT_ENSURE(req != NULL && p == tsq.ptr + tsq.len, NT_EINVAL, "not a DER TimeStampReq");
    p = tsr.ptr;
    resp = d2i_TS_RESP(NULL, &p, (long)tsr.len);
    if (resp == NULL || p != tsr.ptr + tsr.len) {
        ERR_clear_error();
        NT_ENSURE(0, NT_EVERIFY, "the TSA's answer is not a DER TimeStampResp");
    }
    /* The request must be the one for this signature. */
    NT_TRY(signature_imprint(md, &md_len, si, EVP_sha256()));
    ASN1_OCTET_STRING *want = TS_MSG_IMPRINT_get_msg(TS_REQ_get_msg_imprint(req));
    NT_ENSURE((size_t)ASN1_STRING_length(want) == md_len &&
                  memcmp(ASN1_STRING_get0_data(want), md, md_len) == 0,
              NT_EINVAL, "the TimeStampReq is not for this signature");
    /*
     * Status granted, TSTInfo v1, imprint and nonce as requested (RFC 3161
     * 2.4.2: the nonce "MUST be present if it was present in the
     * TimeStampReq").  The TSA's signature is the reader's business
     * (verify-report, against the reader's trust anchors).
     */
    NT_OSSL_PTR(vc = TS_REQ_to_TS_VERIFY_CTX(req, NULL), "TS_VERIFY_CTX");
    TS_VERIFY_CTX_set_flags(vc, TS_VFY_VERSION | TS_VFY_IMPRINT | TS_VFY_NONCE);
    if (TS_RESP_verify_response(vc, resp) != 1) {
        error = ossl_refused("the TSA did not grant a time-stamp for this request");
        goto done;
    }
    int toklen = i2d_PKCS7(TS_RESP_get_token(resp), &tok);
    NT_OSSL(toklen, "i2d_PKCS7");
    NT_OSSL(CMS_unsigned_add1_attr_by_NID(si, NID_id_smime_aa_timeStampToken, V_ASN1_SEQUENCE, tok,
                                          toklen),
            "adding the time-stamp attribute");
    NT_TRY(cms_der_put(out, cms));
done:
    OPENSSL_free(tok);
    TS_VERIFY_CTX_free(vc);
    TS_RESP_free(resp);
    TS_REQ_free(req);
    CMS_ContentInfo_free(cms);
    return error;
}

int verifier_report_timestamp(nt_buf *out, nt_bytes signature_der, const char *tsa_url,
                              const char *tsa_ca_file)
{
    int error = 0;
    nt_buf tsq = NT_BUF_INIT, tsr = NT_BUF_INIT;
    /* Refuse a bad URL before any work. */
    NT_TRY(verifier__url_check(tsa_url));
    NT_TRY(verifier_report_timestamp_request(&tsq, signature_der));
    /* RFC 3161 3.4: "application/timestamp-query" out, "application/timestamp-reply" back. */
    NT_TRY(verifier__http_post(&tsr, tsa_url, "application/timestamp-query", nt_buf_bytes(&tsq),
                               "application/timestamp-reply", tsa_ca_file));
    NT_TRY(verifier_report_timestamp_attach(out, signature_der, nt_buf_bytes(&tsq),
                                            nt_buf_bytes(&tsr)));
done:
    nt_buf_dispose(&tsq);
    nt_buf_dispose(&tsr);
    return error;
}

/* ------------------------------------------------------------------ check */

void verifier_report_sig_info_dispose(verifier_report_sig_info *info)
{
    if (info == NULL) {
        return;
    }
    nt_buf_dispose(&info->signer);
    nt_buf_dispose(&info->ts_gen_time);
    nt_buf_dispose(&info->ts_tsa);
    nt_buf_dispose(&info->ts_serial);
    info->timestamped = 0;
}

static int store_of(X509_STORE **out, STACK_OF(X509) * roots, int64_t at)
{
    int error = 0;
    NT_OSSL_PTR(*out = X509_STORE_new(), "X509_STORE_new");
    for (int i = 0; i < sk_X509_num(roots); i++) {
        NT_OSSL(X509_STORE_add_cert(*out, sk_X509_value(roots, i)), "trust");
    }
    if (at != 0) {
        X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(*out), (time_t)at);
    }
done:
    return error;
}

static int subject_line(nt_buf *out, X509 *x)
{
    char *s = X509_NAME_oneline(X509_get_subject_name(x), NULL, 0);
    if (s == NULL) {
        return nt_error_ossl("subject");
    }
    int error = nt_buf_puts(out, s);
    OPENSSL_free(s);
    return error;
}

/* One id-aa-timeStampToken value: the token over this SignerInfo's signature. */
static int token_check(int64_t *gen_out, verifier_report_sig_info *info, const ASN1_TYPE *value,
                       CMS_SignerInfo *si, STACK_OF(X509) * roots)
{
    int error = 0;
    PKCS7 *p7 = NULL;
    TS_TST_INFO *tst = NULL;
    X509_STORE *store = NULL;
    TS_VERIFY_CTX *vc = NULL;
    STACK_OF(X509) *signers = NULL;
    nt_buf when = NT_BUF_INIT;
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;

    NT_ENSURE(value != NULL && value->type == V_ASN1_SEQUENCE, NT_EVERIFY,
              "the time-stamp attribute does not hold a TimeStampToken");
    const unsigned char *p = value->value.sequence->data;
    long n = value->value.sequence->length;
    p7 = d2i_PKCS7(NULL, &p, n);
    if (p7 == NULL || p != value->value.sequence->data + n) {
        ERR_clear_error();
        NT_ENSURE(0, NT_EVERIFY, "the time-stamp attribute does not hold a DER TimeStampToken");
    }
    tst = PKCS7_to_TS_TST_INFO(p7);
    if (tst == NULL) {
        ERR_clear_error();
        NT_ENSURE(0, NT_EVERIFY, "the time-stamp token does not encapsulate a TSTInfo");
    }
    TS_MSG_IMPRINT *mi = TS_TST_INFO_get_msg_imprint(tst);
    const ASN1_OBJECT *aobj = NULL;
    X509_ALGOR_get0(&aobj, NULL, NULL, TS_MSG_IMPRINT_get_algo(mi));
    int nid = OBJ_obj2nid(aobj);
    NT_ENSURE(nid == NID_sha256 || nid == NID_sha384 || nid == NID_sha512, NT_EVERIFY,
              "the time-stamp's imprint algorithm is not SHA-256, SHA-384 or SHA-512");
    NT_TRY(signature_imprint(md, &md_len, si, EVP_get_digestbynid(nid)));
    ASN1_OCTET_STRING *hm = TS_MSG_IMPRINT_get_msg(mi);
    NT_ENSURE((size_t)ASN1_STRING_length(hm) == md_len &&
                  memcmp(ASN1_STRING_get0_data(hm), md, md_len) == 0,
              NT_EVERIFY,
              "the time-stamp's messageImprint is not the hash of this signature value");
    error = verifier__gen_time(&when, gen_out, TS_TST_INFO_get_time(tst));
    NT_ENSURE(error == 0, NT_EVERIFY, "the time-stamp's %s", nt_error_last());
    /*
     * The TSA's signature, ESSCertID and chain to a --trust root for the
     * timeStamping purpose, judged at genTime: a TSA certificate that expired
     * after it still vouches for what it signed then.
     */
    NT_TRY(store_of(&store, roots, *gen_out));
    NT_OSSL_PTR(vc = TS_VERIFY_CTX_new(), "TS_VERIFY_CTX_new");
    TS_VERIFY_CTX_set_flags(vc, TS_VFY_VERSION | TS_VFY_SIGNATURE);
    TS_VERIFY_CTX_set_store(vc, store);
    store = NULL; /* owned by vc now */
    if (TS_RESP_verify_token(vc, p7) != 1) {
        error = ossl_refused("the time-stamp on the report signature does not verify");
        goto done;
    }
    if (info != NULL && !info->timestamped) {
        info->timestamped = 1;
        NT_TRY(nt_buf_set(&info->ts_gen_time, when.ptr, when.len));
        signers = PKCS7_get0_signers(p7, NULL, 0);
        if (signers != NULL && sk_X509_num(signers) > 0) {
            NT_TRY(subject_line(&info->ts_tsa, sk_X509_value(signers, 0)));
        }
        ERR_clear_error();
        NT_TRY(verifier__asn1_int_hex(&info->ts_serial, TS_TST_INFO_get_serial(tst)));
    }
done:
    sk_X509_free(signers);
    nt_buf_dispose(&when);
    TS_VERIFY_CTX_free(vc);
    X509_STORE_free(store);
    TS_TST_INFO_free(tst);
    PKCS7_free(p7);
    return error;
}

/* Takes `roots` (freed here). */
static int signature_verify(verifier_report_sig_info *info, nt_bytes report_json,
                            nt_bytes signature_der, STACK_OF(X509) * roots)
{
    int error = 0;
    STACK_OF(X509) *signers = NULL;
    X509_STORE *store = NULL;
    CMS_ContentInfo *cms = NULL;
    CMS_SignerInfo *si = NULL;
    BIO *in = NULL;
    int64_t earliest = 0;

    NT_TRY(cms_parse(&cms, &si, signature_der));
    for (int loc = CMS_unsigned_get_attr_by_NID(si, NID_id_smime_aa_timeStampToken, -1); loc >= 0;
         loc = CMS_unsigned_get_attr_by_NID(si, NID_id_smime_aa_timeStampToken, loc)) {
        X509_ATTRIBUTE *attr = CMS_unsigned_get_attr(si, loc);
        int count = X509_ATTRIBUTE_count(attr);
        NT_ENSURE(count > 0, NT_EVERIFY, "an empty time-stamp attribute");
        for (int i = 0; i < count; i++) {
            int64_t gen = 0;
            NT_TRY(token_check(&gen, info, X509_ATTRIBUTE_get0_type(attr, i), si, roots));
            earliest = earliest == 0 || gen < earliest ? gen : earliest;
        }
    }
    /*
     * The signer's chain is judged when the signature is proven to have
     * existed (the earliest genTime), else now: CAdES-T's point.
     */
    NT_TRY(store_of(&store, roots, earliest));
    NT_OSSL_PTR(in = BIO_new_mem_buf(report_json.ptr, (int)report_json.len), "BIO");
    /* Any purpose: a report signer is not a TLS or S/MIME entity. */
    X509_VERIFY_PARAM_set_purpose(X509_STORE_get0_param(store), X509_PURPOSE_ANY);
    if (CMS_verify(cms, NULL, store, in, NULL, CMS_BINARY) != 1) {
        error = ossl_refused("the report signature does not verify");
        goto done;
    }
    if (info != NULL) {
        signers = CMS_get0_signers(cms);
        if (signers != NULL && sk_X509_num(signers) > 0) {
            NT_TRY(subject_line(&info->signer, sk_X509_value(signers, 0)));
        }
    }
done:
    sk_X509_free(signers);
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    X509_STORE_free(store);
    sk_X509_pop_free(roots, X509_free);
    return error;
}

/* signature_verify against the PEM trust anchors in `trust_pem` (`name` for messages). */
static int signature_verify_pem(verifier_report_sig_info *info, nt_bytes report_json,
                                nt_bytes signature_der, nt_bytes trust_pem, const char *name)
{
    STACK_OF(X509) *roots = NULL;
    int error = nt_x509_pem_certs(&roots, trust_pem, name);
    if (error < 0) {
        sk_X509_pop_free(roots, X509_free);
        return error;
    }
    return signature_verify(info, report_json, signature_der, roots);
}

int verifier_report_signature_verify(verifier_report_sig_info *info, nt_bytes report_json,
                                     nt_bytes signature_der, const char *trust_path)
{
    int error = 0;
    nt_buf data = NT_BUF_INIT;
    NT_TRY(nt_file_read(&data, trust_path, PEM_FILE_MAX));
    NT_TRY(signature_verify_pem(info, report_json, signature_der, nt_buf_bytes(&data), trust_path));
done:
    nt_buf_dispose(&data);
    return error;
}

int verifier_report_signature_verify_pem(verifier_report_sig_info *info, nt_bytes report_json,
                                         nt_bytes signature_der, nt_bytes trust_pem)
{
    return signature_verify_pem(info, report_json, signature_der, trust_pem, "trust anchors");
}

int verifier_report_signature_check(nt_buf *signer_out, nt_bytes report_json,
                                    nt_bytes signature_der, const char *trust_path)
{
    verifier_report_sig_info info;
    memset(&info, 0, sizeof(info));
    int error = verifier_report_signature_verify(&info, report_json, signature_der, trust_path);
    if (error == 0 && signer_out != NULL) {
        error = nt_buf_put(signer_out, info.signer.ptr, info.signer.len);
    }
    verifier_report_sig_info_dispose(&info);
    return error;
}
