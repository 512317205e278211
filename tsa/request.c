/*
 * request.c - the checks on an incoming RFC 3161 TimeStampReq and
 * tsa_respond, the request -> response entry point of the TSA core.  Every
 * way a request can be refused is here, each mapped to one PKIFailureInfo
 * bit and one statusString; docs/TOKEN-PROFILE.md lists them all.  Parsing
 * is OpenSSL's d2i_TS_REQ, made strict: one DER encoding, nothing after it.
 */
#include "tsa/core_int.h"

#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

/*
 * The imprint algorithms we know.  The table is ours (not record.c's) because
 * acceptance is a TSA decision; the ids are record.h's.  MD5 and SHA-1 are
 * here so they can be named in the rejection and accepted when configured.
 */
static const tsa__alg ALGS[] = {
    {RECORD_ALG_SHA256, NID_sha256, 32, "sha256"},
    {RECORD_ALG_SHA384, NID_sha384, 48, "sha384"},
    {RECORD_ALG_SHA512, NID_sha512, 64, "sha512"},
    {RECORD_ALG_SHA3_256, NID_sha3_256, 32, "sha3-256"},
    {RECORD_ALG_SHA3_384, NID_sha3_384, 48, "sha3-384"},
    {RECORD_ALG_SHA3_512, NID_sha3_512, 64, "sha3-512"},
    {RECORD_ALG_SHA1, NID_sha1, 20, "sha1"},
    {RECORD_ALG_MD5, NID_md5, 16, "md5"},
};

const tsa__alg *tsa__alg_by_nid(int nid)
{
    for (size_t i = 0; i < NT_ARRAY_LEN(ALGS); i++) {
        if (ALGS[i].nid == nid) {
            return &ALGS[i];
        }
    }
    return NULL;
}

const tsa__alg *tsa__alg_by_id(record_alg alg)
{
    for (size_t i = 0; i < NT_ARRAY_LEN(ALGS); i++) {
        if (ALGS[i].alg == alg) {
            return &ALGS[i];
        }
    }
    return NULL;
}

int tsa__alg_allowed(const tsa *t, const tsa__alg *a)
{
    switch (a->alg) {
    case RECORD_ALG_SHA1:
        return t->cfg.allow_sha1 != 0;
    case RECORD_ALG_MD5:
        return t->cfg.allow_md5 != 0;
    default:
        return 1;
    }
}

/* An OID as dotted text for a statusString (truncated if absurdly long). */
static void oid_text(char *out, size_t cap, const ASN1_OBJECT *obj)
{
    if (obj == NULL || OBJ_obj2txt(out, (int)cap, obj, 1) <= 0) {
        snprintf(out, cap, "?");
    }
}

/*
 * The checks after decoding, in the order docs/TOKEN-PROFILE.md lists them.
 * Returns TSA_FAIL_NONE with *alg_out set, or the failure bit with `reason`.
 */
static tsa_fail request_check(const tsa__alg **alg_out, const ASN1_OBJECT **policy_out,
                              const tsa *t, TS_REQ *req, char *reason, size_t cap)
{
    char oid[96];
    const TS_MSG_IMPRINT *imprint = TS_REQ_get_msg_imprint(req);
    const X509_ALGOR *algor = TS_MSG_IMPRINT_get_algo((TS_MSG_IMPRINT *)imprint);
    const ASN1_OCTET_STRING *msg = TS_MSG_IMPRINT_get_msg((TS_MSG_IMPRINT *)imprint);
    const ASN1_OBJECT *alg_obj = NULL;
    const ASN1_OBJECT *policy = TS_REQ_get_policy_id(req);
    const ASN1_INTEGER *nonce = TS_REQ_get_nonce(req);
    const STACK_OF(X509_EXTENSION) *exts = TS_REQ_get_exts(req);
    const void *pval = NULL;
    const tsa__alg *a;
    int ptype = V_ASN1_UNDEF;
    long version = TS_REQ_get_version(req);

    /* RFC 3161 2.4.1: "The version field (currently v1) describes the version
     * of the time-stamp request." */
    if (version != 1) {
        snprintf(reason, cap, "unsupported request version %ld", version);
        return TSA_FAIL_BAD_REQUEST;
    }

    /* RFC 3161 2.4.1: "If the TSA does not recognize the hash algorithm or
     * knows that the hash algorithm is weak (a decision left to the discretion
     * of each individual TSA), then the TSA SHOULD refuse to provide the
     * time-stamp token by returning a pkiStatusInfo of 'bad_alg'." */
    X509_ALGOR_get0(&alg_obj, &ptype, &pval, algor);
    a = tsa__alg_by_nid(OBJ_obj2nid(alg_obj));
    if (a == NULL) {
        oid_text(oid, sizeof(oid), alg_obj);
        snprintf(reason, cap, "unknown imprint algorithm %s", oid);
        return TSA_FAIL_BAD_ALG;
    }
    if (!tsa__alg_allowed(t, a)) {
        snprintf(reason, cap, "imprint algorithm %s is not accepted", a->name);
        return TSA_FAIL_BAD_ALG;
    }
    /* RFC 5754 / RFC 3370: parameters absent or NULL; anything else is not
     * the algorithm we think it is. */
    if (ptype != V_ASN1_UNDEF && ptype != V_ASN1_NULL) {
        snprintf(reason, cap, "imprint algorithm %s has parameters", a->name);
        return TSA_FAIL_BAD_ALG;
    }
    /* RFC 3161 2.4.1: "The hash is represented as an OCTET STRING.  Its
     * length MUST match the length of the hash value for that algorithm
     * (e.g., 20 bytes for SHA-1 or 16 bytes for MD5)."  The RFC names no
     * failure bit; badDataFormat ("the data submitted has the wrong format")
     * is what most TSAs send, and the algorithm itself is fine. */
    if ((size_t)ASN1_STRING_length(msg) != a->size) {
        snprintf(reason, cap, "imprint length %d does not match %s (%zu bytes)",
                 ASN1_STRING_length(msg), a->name, a->size);
        return TSA_FAIL_BAD_DATA_FORMAT;
    }

    /* RFC 3161 2.4.1: "The reqPolicy field, if included, indicates the TSA
     * policy under which the TimeStampToken SHOULD be provided."  2.4.2:
     * "unacceptedPolicy (15) -- the requested TSA policy is not supported by
     * the TSA".  We issue under the requested policy or not at all. */
    if (policy != NULL) {
        int ok = OBJ_cmp(policy, t->policy) == 0;
        for (size_t i = 0; !ok && i < t->accepted_policy_count; i++) {
            ok = OBJ_cmp(policy, t->accepted_policies[i]) == 0;
        }
        if (!ok) {
            oid_text(oid, sizeof(oid), policy);
            snprintf(reason, cap, "policy %s is not accepted", oid);
            return TSA_FAIL_UNACCEPTED_POLICY;
        }
    }

    /* RFC 3161 2.4.1: "If an extension, whether it is marked critical or not
     * critical, is used by a requester but is not recognized by a time-stamping
     * server, the server SHALL not issue a token and SHALL return a failure
     * (unacceptedExtension)." */
    for (int i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
        const ASN1_OBJECT *ext_obj = X509_EXTENSION_get_object(sk_X509_EXTENSION_value(exts, i));
        int ok = 0;
        for (size_t j = 0; !ok && j < t->accepted_extension_count; j++) {
            ok = OBJ_cmp(ext_obj, t->accepted_extensions[j]) == 0;
        }
        if (!ok) {
            oid_text(oid, sizeof(oid), ext_obj);
            snprintf(reason, cap, "extension %s is not accepted", oid);
            return TSA_FAIL_UNACCEPTED_EXTENSION;
        }
    }

    /* The nonce is echoed unchanged; only its size is bounded (our choice). */
    if (nonce != NULL && (size_t)ASN1_STRING_length(nonce) > TSA_MAX_NONCE_BYTES) {
        snprintf(reason, cap, "nonce longer than %u bytes", TSA_MAX_NONCE_BYTES);
        return TSA_FAIL_BAD_REQUEST;
    }

    *alg_out = a;
    *policy_out = policy;
    return TSA_FAIL_NONE;
}

/*
 * Decode strictly: d2i_TS_REQ accepts BER (indefinite lengths, long-form
 * small lengths, an explicit certReq FALSE) and stops before trailing bytes.
 * We want exactly one byte string per request, so the input must be all
 * consumed and must equal its own re-encoding.
 */
static tsa_fail request_decode(TS_REQ **out, nt_bytes der, char *reason, size_t cap)
{
    const unsigned char *p = der.ptr;
    unsigned char *re = NULL;
    TS_REQ *req = NULL;
    tsa_fail fail = TSA_FAIL_NONE;
    int re_len;

    *out = NULL;
    if (der.len == 0 || der.ptr == NULL) {
        snprintf(reason, cap, "empty request");
        return TSA_FAIL_BAD_DATA_FORMAT;
    }
    if (der.len > TSA_MAX_REQUEST_DER) {
        snprintf(reason, cap, "request larger than %u bytes", TSA_MAX_REQUEST_DER);
        return TSA_FAIL_BAD_DATA_FORMAT;
    }
    req = d2i_TS_REQ(NULL, &p, (long)der.len);
    if (req == NULL) {
        snprintf(reason, cap, "request is not a DER TimeStampReq");
        fail = TSA_FAIL_BAD_DATA_FORMAT;
        goto done;
    }
    if (p != der.ptr + der.len) {
        snprintf(reason, cap, "trailing bytes after the TimeStampReq (%zu)",
                 (size_t)(der.ptr + der.len - p));
        fail = TSA_FAIL_BAD_DATA_FORMAT;
        goto done;
    }
    re_len = i2d_TS_REQ(req, &re);
    if (re_len < 0 || (size_t)re_len != der.len || memcmp(re, der.ptr, der.len) != 0) {
        snprintf(reason, cap, "request is not DER-encoded");
        fail = TSA_FAIL_BAD_DATA_FORMAT;
        goto done;
    }
    *out = req;
    req = NULL;
done:
    OPENSSL_free(re);
    TS_REQ_free(req);
    ERR_clear_error(); /* a parse failure must not leak into the next request */
    return fail;
}

int tsa_respond(tsa_result *out, tsa *t, nt_bytes request_der)
{
    int error = 0;
    TS_REQ *req = NULL;
    const tsa__alg *alg = NULL;
    const ASN1_OBJECT *policy = NULL;
    const TS_MSG_IMPRINT *imprint;
    const ASN1_OCTET_STRING *msg;
    char reason[sizeof(out->reason)];
    tsa_fail fail;

    tsa_result_dispose(out);
    fail = request_decode(&req, request_der, reason, sizeof(reason));
    if (fail != TSA_FAIL_NONE) {
        error = tsa__reject(out, t, fail, "%s", reason);
        goto done;
    }
    /* what was asked, for the caller's logs and ledger, even if refused */
    imprint = TS_REQ_get_msg_imprint(req);
    msg = TS_MSG_IMPRINT_get_msg((TS_MSG_IMPRINT *)imprint);
    {
        const ASN1_OBJECT *obj = NULL;
        const tsa__alg *known;
        X509_ALGOR_get0(&obj, NULL, NULL, TS_MSG_IMPRINT_get_algo((TS_MSG_IMPRINT *)imprint));
        known = tsa__alg_by_nid(OBJ_obj2nid(obj));
        if (known != NULL) {
            out->alg = known->alg;
        }
    }
    NT_TRY(nt_buf_set(&out->digest, ASN1_STRING_get0_data(msg), (size_t)ASN1_STRING_length(msg)));

    fail = request_check(&alg, &policy, t, req, reason, sizeof(reason));
    if (fail != TSA_FAIL_NONE) {
        error = tsa__reject(out, t, fail, "%s", reason);
        goto done;
    }
    error =
        tsa__issue(out, t, imprint, alg, policy, TS_REQ_get_nonce(req), TS_REQ_get_cert_req(req));
done:
    TS_REQ_free(req);
    return error;
}
