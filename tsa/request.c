/*
 * request.c - the checks on an incoming RFC 3161 TimeStampReq and
 * tsa_respond, the request -> response entry point of the TSA core.  Every
 * way a request can be refused is here, each mapped to one PKIFailureInfo
 * bit and one statusString; docs/TOKEN-PROFILE.md lists them all.  Parsing
 * is OpenSSL's d2i_TS_REQ, made strict: the raw bytes are checked against
 * DER's rules (X.690 10, 11), nothing may follow them.
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
    {RECORD_ALG_SM3, NID_sm3, 32, "sm3"}, /* OID 1.2.156.10197.1.401, where OpenSSL has it */
};

const tsa__alg *tsa__alg_by_nid(int nid)
{
    for (size_t i = 0; i < NT_ARRAY_LEN(ALGS); i++) {
        if (ALGS[i].nid == nid && record_alg_available(ALGS[i].alg)) {
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

/* ------------------------------------------------------------------ strict DER */

/*
 * TOKEN-PROFILE.md promises that a request has exactly one accepted byte
 * string.  A round trip through d2i/i2d cannot check that alone: OpenSSL keeps
 * a BOOLEAN's content byte and an empty SEQUENCE OF as read and writes them
 * back unchanged.  So the raw bytes are walked and the DER rules a
 * TimeStampReq can break are checked here, each beside its clause.
 */
#define DER_MAX_DEPTH 16

typedef struct der_tlv {
    uint8_t tag;
    const uint8_t *ptr; /* contents */
    size_t len;
} der_tlv;

/* One TLV header at *p (before end), DER's rules for tags and lengths; advances *p. */
static int der_next(der_tlv *out, const uint8_t **p, const uint8_t *end, char *reason, size_t cap)
{
    size_t len = 0, n;

    if (end - *p < 2) {
        snprintf(reason, cap, "request is not DER-encoded: truncated");
        return -1;
    }
    out->tag = *(*p)++;
    /* X.690 8.1.2.4: tag numbers up to 30 use one octet; a TimeStampReq has no others. */
    if ((out->tag & 0x1f) == 0x1f) {
        snprintf(reason, cap, "request is not DER-encoded: unexpected high tag number");
        return -1;
    }
    n = *(*p)++;
    if (n == 0x80) {
        /* X.690 10.1: "The definite form of length encoding shall be used" */
        snprintf(reason, cap, "request is not DER-encoded: indefinite length");
        return -1;
    }
    if (n & 0x80) {
        n &= 0x7f;
        if (n > 2 || (size_t)(end - *p) < n || **p == 0) {
            snprintf(reason, cap, "request is not DER-encoded: bad length octets");
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            len = len << 8 | *(*p)++;
        }
        /* X.690 10.1: "... encoded in the minimum number of octets" */
        if (len < 0x80) {
            snprintf(reason, cap, "request is not DER-encoded: long-form length %zu", len);
            return -1;
        }
    } else {
        len = n;
    }
    if ((size_t)(end - *p) < len) {
        snprintf(reason, cap, "request is not DER-encoded: length beyond the data");
        return -1;
    }
    out->ptr = *p;
    out->len = len;
    *p += len;
    return 0;
}

/* The contents of `v` (and everything inside it) follow DER's encoding rules. */
static int der_value(const der_tlv *v, unsigned depth, char *reason, size_t cap)
{
    const uint8_t *c = v->ptr;

    if (v->tag & 0x20) {
        const uint8_t *p = v->ptr, *end = v->ptr + v->len;
        der_tlv child;
        /* X.690 10.2: string types use the primitive form; SEQUENCE, SET and
         * context tags are the only constructed ones a TimeStampReq has. */
        if ((v->tag & 0xc0) == 0 && v->tag != 0x30 && v->tag != 0x31) {
            snprintf(reason, cap, "request is not DER-encoded: constructed string (tag 0x%02x)",
                     v->tag);
            return -1;
        }
        if (depth >= DER_MAX_DEPTH) {
            snprintf(reason, cap, "request is not DER-encoded: nested too deeply");
            return -1;
        }
        while (p < end) {
            if (der_next(&child, &p, end, reason, cap) < 0 ||
                der_value(&child, depth + 1, reason, cap) < 0) {
                return -1;
            }
        }
        return 0;
    }
    switch (v->tag) {
    case 0x01:
        /* X.690 11.1: "If the encoding represents the boolean value TRUE, its
         * single contents octet shall have all eight bits set to one." */
        if (v->len != 1 || (c[0] != 0x00 && c[0] != 0xff)) {
            snprintf(reason, cap, "request is not DER-encoded: a BOOLEAN is 00 or ff");
            return -1;
        }
        return 0;
    case 0x02:
        /* X.690 8.3.2: the first nine bits of an INTEGER are not all ones or all zeros. */
        if (v->len == 0 ||
            (v->len > 1 && ((c[0] == 0x00 && !(c[1] & 0x80)) || (c[0] == 0xff && (c[1] & 0x80))))) {
            snprintf(reason, cap, "request is not DER-encoded: INTEGER not minimal");
            return -1;
        }
        return 0;
    case 0x05:
        /* X.690 8.8.2: "The contents octets shall not contain any octets." */
        if (v->len != 0) {
            snprintf(reason, cap, "request is not DER-encoded: NULL with contents");
            return -1;
        }
        return 0;
    case 0x06:
        /* X.690 8.19.2: subidentifiers in the fewest octets (no leading 0x80). */
        for (size_t i = 0; i < v->len; i++) {
            if ((i == 0 || !(c[i - 1] & 0x80)) && c[i] == 0x80) {
                snprintf(reason, cap, "request is not DER-encoded: OID not minimal");
                return -1;
            }
        }
        if (v->len == 0 || (c[v->len - 1] & 0x80)) {
            snprintf(reason, cap, "request is not DER-encoded: malformed OID");
            return -1;
        }
        return 0;
    default:
        return 0; /* OCTET STRING and context-specific primitives: opaque contents */
    }
}

/*
 * TimeStampReq ::= SEQUENCE { version, messageImprint, reqPolicy OPTIONAL,
 * nonce OPTIONAL, certReq BOOLEAN DEFAULT FALSE, extensions [0] IMPLICIT
 * Extensions OPTIONAL } (RFC 3161 2.4.1).  After the universal rules, the
 * ones of this structure: X.690 11.5, "The encoding of a set value or
 * sequence value shall not include an encoding for any component value which
 * is equal to its default value" (certReq FALSE, Extension.critical FALSE),
 * and RFC 5280 4.1, Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension.
 */
static int request_der_check(nt_bytes der, char *reason, size_t cap)
{
    const uint8_t *p = der.ptr, *end = der.ptr + der.len, *q;
    der_tlv top, field, ext, item;

    if (der_next(&top, &p, end, reason, cap) < 0 || der_value(&top, 0, reason, cap) < 0) {
        return -1;
    }
    for (p = top.ptr, end = top.ptr + top.len; p < end;) {
        if (der_next(&field, &p, end, reason, cap) < 0) {
            return -1;
        }
        if (field.tag == 0x01 && field.ptr[0] == 0x00) {
            snprintf(reason, cap,
                     "request is not DER-encoded: certReq FALSE is the DEFAULT "
                     "and must be omitted");
            return -1;
        }
        if (field.tag != 0xa0) {
            continue;
        }
        if (field.len == 0) {
            snprintf(reason, cap, "request is not DER-encoded: empty extensions (SIZE 1..MAX)");
            return -1;
        }
        for (q = field.ptr; q < field.ptr + field.len;) {
            const uint8_t *r;
            if (der_next(&ext, &q, field.ptr + field.len, reason, cap) < 0) {
                return -1;
            }
            for (r = ext.ptr; r < ext.ptr + ext.len;) {
                if (der_next(&item, &r, ext.ptr + ext.len, reason, cap) < 0) {
                    return -1;
                }
                if (item.tag == 0x01 && item.ptr[0] == 0x00) {
                    snprintf(reason, cap,
                             "request is not DER-encoded: Extension critical "
                             "FALSE is the DEFAULT and must be omitted");
                    return -1;
                }
            }
        }
    }
    return 0;
}

/*
 * Decode strictly: d2i_TS_REQ accepts BER (indefinite lengths, long-form
 * small lengths, an explicit certReq FALSE) and stops before trailing bytes.
 * We want exactly one byte string per request: the input must be all
 * consumed, follow DER's rules (request_der_check) and, as a last net, equal
 * its own re-encoding.
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
    if (request_der_check(der, reason, cap) < 0) {
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
