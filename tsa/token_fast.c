/*
 * token_fast.c - the token fast path of the TSA core (nt_tsa_core): the
 * TimeStampResp, its CMS SignedData, the signed attributes and the TSTInfo
 * written directly as DER, for the profile of docs/TOKEN-PROFILE.md.
 *
 * Why: through the CMS API a token cost about three bare signatures (an
 * ASN.1 object tree built, encoded, the certificate set sorted, decoded
 * again to put the signer first, a signing context set up per token).  Here
 * everything that is the same for every token (signer identifier,
 * algorithm identifiers, the signingCertificateV2 attribute, policy,
 * accuracy, TSA name, the certificates' DER in our order) is encoded once in
 * tsa__fast_new, and a token is: the TSTInfo written into a stack buffer,
 * its digest, the four signed attributes (three small ones written per
 * token, sorted as DER SET OF), their digest, one EVP_PKEY_sign on a signing
 * context kept from token to token, and the SignedData written back to
 * front (contents before their headers) straight into the response buffer.
 * The signatureAlgorithm identifier is taken from one token made by the CMS
 * reference path at start-up, so both paths name the algorithm (RSASSA-PSS
 * parameters included) with the same bytes.  tests/unit/tsa/token_fast_test.c
 * checks both paths against each other and against OpenSSL's verifiers.
 */
#include "tsa/token_int.h"

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#define FAST_SLOTS      16    /* signing contexts kept; more threads make temporary ones */
#define FAST_TST_MAX    4096u /* scratch for one TSTInfo */
#define FAST_ATTRS_MAX  4096u /* scratch for the signed attributes */
#define FAST_ATTR_SMALL 128u  /* one of the three per-token attributes */

/* A signing context: taken by one thread at a time (busy), created on first use. */
typedef struct fast_slot {
    atomic_flag busy;
    EVP_PKEY_CTX *pctx; /* EVP_PKEY_sign_init'ed, padding and digest set */
    EVP_MD_CTX *mctx;
} fast_slot;

struct tsa__fast {
    nt_buf sid;      /* IssuerAndSerialNumber of the TSA certificate */
    nt_buf dig_alg;  /* AlgorithmIdentifier of the signature digest */
    nt_buf sig_alg;  /* signatureAlgorithm, as the CMS code writes it */
    nt_buf ct_attr;  /* Attribute contentType = id-ct-TSTInfo */
    nt_buf ess_attr; /* Attribute signingCertificateV2 */
    nt_buf oid_st;   /* OID TLVs: signingTime, messageDigest, id-ct-TSTInfo, id-signedData */
    nt_buf oid_md;
    nt_buf oid_tst;
    nt_buf oid_sd;
    nt_buf policy;   /* the configured policy OID TLV */
    nt_buf accuracy; /* Accuracy TLV; empty when omitted */
    nt_buf tsa_name; /* [0] EXPLICIT GeneralName TLV; empty when omitted */
    size_t sig_max;  /* EVP_PKEY_get_size */
    size_t resp_max; /* bound on a TimeStampResp with certificates */
    fast_slot slots[FAST_SLOTS];
};

/* ---------------------------------------------------------- DER, back to front */

/* Writes go downwards from the end of [lo, p): contents first, then their header. */
typedef struct dw {
    uint8_t *lo;
    uint8_t *p;
    const char *what; /* for the overflow message */
} dw;

static void dw_init(dw *w, uint8_t *buf, size_t cap, const char *what)
{
    w->lo = buf;
    w->p = buf + cap;
    w->what = what;
}

/* NT_ERANGE unless `len` more bytes fit below w->p. */
static int dw_room(const dw *w, size_t len)
{
    if ((size_t)(w->p - w->lo) < len) {
        return nt_error_set(NT_ERANGE,
                            "token: %s does not fit its buffer (%zu bytes left, %zu needed)",
                            w->what, (size_t)(w->p - w->lo), len);
    }
    return 0;
}

static int dw_put(dw *w, const void *data, size_t len)
{
    int error = dw_room(w, len);
    if (error < 0) {
        return error;
    }
    w->p -= len;
    if (len > 0) {
        memcpy(w->p, data, len);
    }
    return 0;
}

static int dw_bytes(dw *w, const nt_buf *b)
{
    return dw_put(w, b->ptr, b->len);
}

/* Prepend `tag` and the DER length (X.690 8.1.3, shortest form) of [w->p, mark). */
static int dw_wrap(dw *w, uint8_t tag, const uint8_t *mark)
{
    uint8_t hdr[2 + sizeof(size_t)];
    size_t len = (size_t)(mark - w->p), n = sizeof(hdr), k = 0;

    if (len < 0x80) {
        hdr[--n] = (uint8_t)len;
    } else {
        for (; len > 0; len >>= 8, k++) {
            hdr[--n] = (uint8_t)(len & 0xff);
        }
        hdr[--n] = (uint8_t)(0x80u | k);
    }
    hdr[--n] = tag;
    return dw_put(w, hdr + n, sizeof(hdr) - n);
}

/* A non-negative INTEGER from big-endian magnitude bytes (leading zeros dropped). */
static int dw_uint(dw *w, const uint8_t *mag, size_t len)
{
    int error = 0;
    const uint8_t *mark = w->p;
    static const uint8_t zero = 0;

    while (len > 1 && mag[0] == 0) {
        mag++;
        len--;
    }
    NT_TRY(dw_put(w, mag, len));
    if (len == 0 || (mag[0] & 0x80) != 0) {
        NT_TRY(dw_put(w, &zero, 1));
    }
    NT_TRY(dw_wrap(w, 0x02, mark));
done:
    return error;
}

/* An OpenSSL object's DER (i2d into place: no allocation when *pp is set). */
static int dw_i2d_integer(dw *w, const ASN1_INTEGER *v)
{
    int len = i2d_ASN1_INTEGER(v, NULL);
    unsigned char *q;

    if (len <= 0) {
        return nt_error_ossl("cannot encode the nonce");
    }
    if (dw_room(w, (size_t)len) < 0) {
        return NT_ERANGE;
    }
    w->p -= len;
    q = w->p;
    if (i2d_ASN1_INTEGER(v, &q) != len) {
        return nt_error_ossl("cannot encode the nonce");
    }
    return 0;
}

static int dw_oid(dw *w, const ASN1_OBJECT *obj)
{
    int error = 0;
    const uint8_t *mark = w->p;
    size_t len = OBJ_length(obj);

    NT_ENSURE(len > 0 && OBJ_get0_data(obj) != NULL, NT_EINVAL, "token: empty OID");
    NT_TRY(dw_put(w, OBJ_get0_data(obj), len));
    NT_TRY(dw_wrap(w, 0x06, mark));
done:
    return error;
}

/* ---------------------------------------------------------- the TSTInfo */

/*
 * MessageImprint, copied field by field: request.c lets through absent or
 * NULL algorithm parameters only, and both are written as received.
 */
static int dw_imprint(dw *w, const TS_MSG_IMPRINT *imprint)
{
    int error = 0;
    const uint8_t *mark = w->p, *alg_mark, *msg_mark;
    const ASN1_OBJECT *obj = NULL;
    const void *pval = NULL;
    int ptype = V_ASN1_UNDEF;
    static const uint8_t null_der[2] = {0x05, 0x00};
    const ASN1_OCTET_STRING *msg = TS_MSG_IMPRINT_get_msg((TS_MSG_IMPRINT *)imprint);

    X509_ALGOR_get0(&obj, &ptype, &pval, TS_MSG_IMPRINT_get_algo((TS_MSG_IMPRINT *)imprint));
    NT_ENSURE(obj != NULL && msg != NULL, NT_EINVAL, "token: incomplete imprint");
    NT_ENSURE(ptype == V_ASN1_UNDEF || ptype == V_ASN1_NULL, NT_EINVAL,
              "token: imprint algorithm parameters other than absent or NULL");
    msg_mark = w->p;
    NT_TRY(dw_put(w, ASN1_STRING_get0_data(msg), (size_t)ASN1_STRING_length(msg)));
    NT_TRY(dw_wrap(w, 0x04, msg_mark));
    alg_mark = w->p;
    if (ptype == V_ASN1_NULL) {
        NT_TRY(dw_put(w, null_der, sizeof(null_der)));
    }
    NT_TRY(dw_oid(w, obj));
    NT_TRY(dw_wrap(w, 0x30, alg_mark));
    NT_TRY(dw_wrap(w, 0x30, mark));
done:
    return error;
}

/* TSTInfo (RFC 3161 2.4.2), fields in reverse order; same values as token.c's build_tstinfo. */
static int dw_tstinfo(dw *w, const tsa *t, const tsa__token_in *in)
{
    int error = 0;
    const tsa__fast *f = t->fast;
    const uint8_t *mark = w->p, *m;
    static const uint8_t version[3] = {0x02, 0x01, 0x01}, ordering[3] = {0x01, 0x01, 0xff};
    char when[40];

    NT_TRY(dw_bytes(w, &f->tsa_name));
    if (in->nonce != NULL) {
        NT_TRY(dw_i2d_integer(w, in->nonce));
    }
    if (t->cfg.ordering) {
        NT_TRY(dw_put(w, ordering, sizeof(ordering))); /* DEFAULT FALSE: only TRUE is written */
    }
    NT_TRY(dw_bytes(w, &f->accuracy));
    NT_TRY(tsa__gen_time_string(when, sizeof(when), &in->gen, t->cfg.precision_digits));
    m = w->p;
    NT_TRY(dw_put(w, when, strlen(when)));
    NT_TRY(dw_wrap(w, 0x18, m)); /* GeneralizedTime */
    NT_TRY(dw_uint(w, in->serial, TSA_SERIAL_BYTES));
    NT_TRY(dw_imprint(w, in->imprint));
    if (in->policy != NULL) {
        NT_TRY(dw_oid(w, in->policy));
    } else {
        NT_TRY(dw_bytes(w, &f->policy));
    }
    NT_TRY(dw_put(w, version, sizeof(version)));
    NT_TRY(dw_wrap(w, 0x30, mark));
done:
    return error;
}

/* ---------------------------------------------------------- signed attributes */

/* Attribute ::= SEQUENCE { attrType OID, attrValues SET { value } }, value already written. */
static int dw_attr_close(dw *w, const nt_buf *oid_tlv, const uint8_t *value_mark,
                         const uint8_t *mark)
{
    int error = 0;
    NT_TRY(dw_wrap(w, 0x31, value_mark));
    NT_TRY(dw_bytes(w, oid_tlv));
    NT_TRY(dw_wrap(w, 0x30, mark));
done:
    return error;
}

/* signingTime = genTime to the second, as ASN1_TIME_set writes it (UTCTime 1950..2049). */
static int dw_signing_time(dw *w, const tsa__fast *f, time_t sec)
{
    int error = 0;
    const uint8_t *mark = w->p, *m;
    struct tm tm;
    char text[24];
    int year, n;

    NT_ENSURE(gmtime_r(&sec, &tm) != NULL, NT_EINVAL, "signingTime out of range");
    year = tm.tm_year + 1900;
    NT_ENSURE(year >= 0 && year <= 9999, NT_EINVAL, "signingTime out of range");
    if (year >= 1950 && year < 2050) {
        n = snprintf(text, sizeof(text), "%02d%02d%02d%02d%02d%02dZ", year % 100, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    } else {
        n = snprintf(text, sizeof(text), "%04d%02d%02d%02d%02d%02dZ", year, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    }
    NT_ENSURE(n > 0 && (size_t)n < sizeof(text), NT_ERANGE, "signingTime does not fit");
    m = w->p;
    NT_TRY(dw_put(w, text, (size_t)n));
    NT_TRY(dw_wrap(w, year >= 1950 && year < 2050 ? 0x17 : 0x18, m));
    NT_TRY(dw_attr_close(w, &f->oid_st, m, mark));
done:
    return error;
}

static int dw_message_digest(dw *w, const tsa__fast *f, const uint8_t *md, size_t md_len)
{
    int error = 0;
    const uint8_t *mark = w->p, *m = w->p;
    NT_TRY(dw_put(w, md, md_len));
    NT_TRY(dw_wrap(w, 0x04, m));
    NT_TRY(dw_attr_close(w, &f->oid_md, m, mark));
done:
    return error;
}

/* DER SET OF order as OpenSSL's encoder sorts it: bytes, then length (X.690 11.6). */
static int der_cmp(nt_bytes a, nt_bytes b)
{
    int c = memcmp(a.ptr, b.ptr, a.len < b.len ? a.len : b.len);
    if (c != 0) {
        return c;
    }
    return a.len < b.len ? -1 : a.len > b.len;
}

/*
 * The four signed attributes, sorted, written as the contents of a SET OF
 * into `w` (whose buffer ends where they end); *content points at them.
 * Their "0x31 length" header is written too, so [w->p, end) is exactly what
 * is digested and signed (RFC 5652 5.4: the DER of the SET OF, not of [0]).
 */
static int dw_signed_attrs(dw *w, const uint8_t **content, const tsa__fast *f,
                           const struct timespec *gen, const uint8_t *md, size_t md_len)
{
    int error = 0;
    uint8_t st_buf[FAST_ATTR_SMALL], md_buf[FAST_ATTR_SMALL];
    dw st, mdw;
    nt_bytes a[4], tmp;
    const uint8_t *mark = w->p;

    dw_init(&st, st_buf, sizeof(st_buf), "signingTime");
    dw_init(&mdw, md_buf, sizeof(md_buf), "messageDigest");
    NT_TRY(dw_signing_time(&st, f, gen->tv_sec));
    NT_TRY(dw_message_digest(&mdw, f, md, md_len));
    a[0] = nt_buf_bytes(&f->ct_attr);
    a[1] = NT_BYTES(st.p, (size_t)(st_buf + sizeof(st_buf) - st.p));
    a[2] = NT_BYTES(mdw.p, (size_t)(md_buf + sizeof(md_buf) - mdw.p));
    a[3] = nt_buf_bytes(&f->ess_attr);
    for (size_t i = 1; i < NT_ARRAY_LEN(a); i++) { /* insertion sort of four */
        for (size_t j = i; j > 0 && der_cmp(a[j - 1], a[j]) > 0; j--) {
            tmp = a[j];
            a[j] = a[j - 1];
            a[j - 1] = tmp;
        }
    }
    for (size_t i = NT_ARRAY_LEN(a); i > 0; i--) {
        NT_TRY(dw_put(w, a[i - 1].ptr, a[i - 1].len));
    }
    *content = w->p;
    NT_TRY(dw_wrap(w, 0x31, mark));
done:
    return error;
}

/* ---------------------------------------------------------- signing contexts */

static int slot_init(fast_slot *s, const tsa *t)
{
    int error = 0;
    EVP_PKEY *key = t->signer->key;

    if (s->mctx == NULL) {
        NT_OSSL_PTR(s->mctx = EVP_MD_CTX_new(), "EVP_MD_CTX_new");
    }
    if (s->pctx != NULL || t->sign_sm2) { /* SM2: tsa__sm2_sign makes its own */
        return 0;
    }
    NT_OSSL_PTR(s->pctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL), "EVP_PKEY_CTX_new");
    NT_OSSL(EVP_PKEY_sign_init(s->pctx), "EVP_PKEY_sign_init");
    /* what CMS's EVP_DigestSign does: PKCS#1 v1.5 puts a DigestInfo around the digest */
    NT_OSSL(EVP_PKEY_CTX_set_signature_md(s->pctx, t->sign_md), "signature digest");
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
        if (t->sign_pss) {
            /* RFC 4055 profile, as token.c sets it: MGF1 with the hash, salt = hash length */
            NT_OSSL(EVP_PKEY_CTX_set_rsa_padding(s->pctx, RSA_PKCS1_PSS_PADDING), "PSS padding");
            NT_OSSL(EVP_PKEY_CTX_set_rsa_pss_saltlen(s->pctx, RSA_PSS_SALTLEN_DIGEST), "PSS salt");
            NT_OSSL(EVP_PKEY_CTX_set_rsa_mgf1_md(s->pctx, t->sign_md), "PSS MGF1");
        } else {
            NT_OSSL(EVP_PKEY_CTX_set_rsa_padding(s->pctx, RSA_PKCS1_PADDING), "PKCS#1 padding");
        }
    }
done:
    if (error < 0) {
        EVP_PKEY_CTX_free(s->pctx);
        s->pctx = NULL;
    }
    return error;
}

static void slot_dispose(fast_slot *s)
{
    EVP_PKEY_CTX_free(s->pctx);
    EVP_MD_CTX_free(s->mctx);
    s->pctx = NULL;
    s->mctx = NULL;
}

/* A free slot (busy set), or NULL when every one is taken. */
static fast_slot *slot_take(tsa__fast *f)
{
    for (size_t i = 0; i < FAST_SLOTS; i++) {
        if (!atomic_flag_test_and_set_explicit(&f->slots[i].busy, memory_order_acquire)) {
            return &f->slots[i];
        }
    }
    return NULL;
}

static int digest(uint8_t *out, unsigned *out_len, EVP_MD_CTX *mctx, const EVP_MD *md,
                  const uint8_t *data, size_t len)
{
    int error = 0;
    NT_OSSL(EVP_DigestInit_ex2(mctx, md, NULL), "EVP_DigestInit");
    NT_OSSL(EVP_DigestUpdate(mctx, data, len), "EVP_DigestUpdate");
    NT_OSSL(EVP_DigestFinal_ex(mctx, out, out_len), "EVP_DigestFinal");
done:
    return error;
}

/* ---------------------------------------------------------- one token */

/* SignedData around tst, back to front into w; *token_start is where the ContentInfo starts. */
static int dw_token(dw *w, const tsa *t, const tsa__token_in *in, nt_bytes tst,
                    nt_bytes attrs_content, const uint8_t *sig, size_t sig_len)
{
    int error = 0;
    const tsa__fast *f = t->fast;
    const uint8_t *ci = w->p, *m, *m2, *sd, *ctx0, *sis, *si;
    static const uint8_t v1[3] = {0x02, 0x01, 0x01}, v3[3] = {0x02, 0x01, 0x03};

    ctx0 = w->p;
    sd = w->p;
    sis = w->p;
    si = w->p;
    m = w->p;
    NT_TRY(dw_put(w, sig, sig_len));
    NT_TRY(dw_wrap(w, 0x04, m));
    NT_TRY(dw_bytes(w, &f->sig_alg));
    m = w->p;
    NT_TRY(dw_put(w, attrs_content.ptr, attrs_content.len));
    NT_TRY(dw_wrap(w, 0xa0, m)); /* signedAttrs [0] IMPLICIT */
    NT_TRY(dw_bytes(w, &f->dig_alg));
    NT_TRY(dw_bytes(w, &f->sid));
    NT_TRY(dw_put(w, v1, sizeof(v1)));
    NT_TRY(dw_wrap(w, 0x30, si));
    NT_TRY(dw_wrap(w, 0x31, sis));
    if (in->cert_req) {
        /* signer first, then its chain: ours is the order (docs/TOKEN-PROFILE.md 6) */
        m = w->p;
        NT_TRY(dw_bytes(w, &t->embed_der));
        NT_TRY(dw_wrap(w, 0xa0, m));
    }
    m = w->p;
    m2 = w->p;
    NT_TRY(dw_put(w, tst.ptr, tst.len));
    NT_TRY(dw_wrap(w, 0x04, m2));
    NT_TRY(dw_wrap(w, 0xa0, m2));
    NT_TRY(dw_bytes(w, &f->oid_tst));
    NT_TRY(dw_wrap(w, 0x30, m)); /* encapContentInfo */
    m = w->p;
    NT_TRY(dw_bytes(w, &f->dig_alg));
    NT_TRY(dw_wrap(w, 0x31, m)); /* digestAlgorithms */
    NT_TRY(dw_put(w, v3, sizeof(v3)));
    NT_TRY(dw_wrap(w, 0x30, sd));
    NT_TRY(dw_wrap(w, 0xa0, ctx0));
    NT_TRY(dw_bytes(w, &f->oid_sd));
    NT_TRY(dw_wrap(w, 0x30, ci));
done:
    return error;
}

int tsa__token_fast(nt_buf *response, nt_buf *token, tsa *t, const tsa__token_in *in)
{
    int error = 0;
    tsa__fast *f = t->fast;
    fast_slot tmp_slot, *slot = NULL;
    uint8_t tst_buf[FAST_TST_MAX], attrs_buf[FAST_ATTRS_MAX];
    uint8_t md[EVP_MAX_MD_SIZE], sig_buf[1024], *sig = sig_buf;
    unsigned md_len = 0;
    size_t sig_len = 0, resp_len, tok_len;
    const uint8_t *attrs_content = NULL, *end;
    nt_bytes tst;
    static const uint8_t granted[5] = {0x30, 0x03, 0x02, 0x01, 0x00};
    dw w;

    memset(&tmp_slot, 0, sizeof(tmp_slot));
    NT_ENSURE(f != NULL, NT_ESTATE, "token fast path not set up");
    if ((slot = slot_take(f)) == NULL) {
        slot = &tmp_slot; /* more signing threads than slots: a context for this token only */
    }
    NT_TRY(slot_init(slot, t));

    /* TSTInfo and its digest (the messageDigest attribute) */
    dw_init(&w, tst_buf, sizeof(tst_buf), "TSTInfo");
    NT_TRY(dw_tstinfo(&w, t, in));
    tst = NT_BYTES(w.p, (size_t)(tst_buf + sizeof(tst_buf) - w.p));
    NT_TRY(digest(md, &md_len, slot->mctx, t->sign_md, tst.ptr, tst.len));

    /* signed attributes, their digest, the signature */
    dw_init(&w, attrs_buf, sizeof(attrs_buf), "signed attributes");
    NT_TRY(dw_signed_attrs(&w, &attrs_content, f, &in->gen, md, md_len));
    end = attrs_buf + sizeof(attrs_buf);
    if (f->sig_max > sizeof(sig_buf)) {
        NT_ENSURE((sig = nt_malloc(f->sig_max)) != NULL, NT_ENOMEM, "out of memory");
    }
    sig_len = f->sig_max;
    if (t->sign_sm2) { /* SM2 hashes Z and the attributes itself */
        NT_TRY(tsa__sm2_sign(sig, &sig_len, t, w.p, (size_t)(end - w.p)));
    } else {
        NT_TRY(digest(md, &md_len, slot->mctx, t->sign_md, w.p, (size_t)(end - w.p)));
        NT_OSSL(EVP_PKEY_sign(slot->pctx, sig, &sig_len, md, md_len), "token signing failed");
    }

    /* the whole response, back to front, then moved to the buffer's start */
    nt_buf_clear(response);
    NT_TRY(nt_buf_grow(response, f->resp_max));
    dw_init(&w, response->ptr, f->resp_max, "TimeStampResp");
    NT_TRY(dw_token(&w, t, in, tst, NT_BYTES(attrs_content, (size_t)(end - attrs_content)), sig,
                    sig_len));
    tok_len = (size_t)(response->ptr + f->resp_max - w.p);
    NT_TRY(dw_put(&w, granted, sizeof(granted)));
    NT_TRY(dw_wrap(&w, 0x30, response->ptr + f->resp_max));
    resp_len = (size_t)(response->ptr + f->resp_max - w.p);
    memmove(response->ptr, w.p, resp_len);
    response->len = resp_len;
    response->ptr[resp_len] = 0;
    NT_TRY(nt_buf_set(token, response->ptr + resp_len - tok_len, tok_len));
done:
    if (sig != sig_buf) {
        nt_free(sig);
    }
    if (slot == &tmp_slot) {
        slot_dispose(&tmp_slot);
    } else if (slot != NULL) {
        atomic_flag_clear_explicit(&slot->busy, memory_order_release);
    }
    if (error < 0) {
        nt_buf_clear(response);
        nt_buf_clear(token);
    }
    return error;
}

/* ---------------------------------------------------------- set-up */

/* An OpenSSL i2d result into out (replaced). */
static int put_i2d(nt_buf *out, int len, unsigned char *der, const char *what)
{
    int error = 0;
    NT_OSSL(len, "cannot encode %s", what);
    NT_TRY(nt_buf_set(out, der, (size_t)len));
done:
    OPENSSL_free(der);
    return error;
}

static int oid_tlv(nt_buf *out, int nid)
{
    unsigned char *der = NULL;
    int len = i2d_ASN1_OBJECT(OBJ_nid2obj(nid), &der);
    return put_i2d(out, len, der, "an OID");
}

/* TLV(tag, a || b) into out (replaced). */
static int tlv2(nt_buf *out, uint8_t tag, nt_bytes a, nt_bytes b)
{
    int error = 0;
    size_t cap;
    dw w;

    NT_TRY(nt_size_add(&cap, a.len, b.len));
    NT_TRY(nt_size_add(&cap, cap, 16));
    nt_buf_clear(out);
    NT_TRY(nt_buf_grow(out, cap));
    dw_init(&w, out->ptr, cap, "constant");
    NT_TRY(dw_put(&w, b.ptr, b.len));
    NT_TRY(dw_put(&w, a.ptr, a.len));
    NT_TRY(dw_wrap(&w, tag, out->ptr + cap));
    out->len = (size_t)(out->ptr + cap - w.p);
    memmove(out->ptr, w.p, out->len);
    out->ptr[out->len] = 0;
done:
    return error;
}

/* Attribute { oid, SET { value } } into out. */
static int attr_const(nt_buf *out, int nid, nt_bytes value)
{
    int error = 0;
    nt_buf oid = NT_BUF_INIT, set = NT_BUF_INIT;
    NT_TRY(oid_tlv(&oid, nid));
    NT_TRY(tlv2(&set, 0x31, value, NT_BYTES(NULL, 0)));
    NT_TRY(tlv2(out, 0x30, nt_buf_bytes(&oid), nt_buf_bytes(&set)));
done:
    nt_buf_dispose(&oid);
    nt_buf_dispose(&set);
    return error;
}

/*
 * The digest and signature AlgorithmIdentifiers from one token of the
 * reference path: the same bytes the CMS code writes, RSASSA-PSS
 * parameters included, without a copy of its rules here.
 */
static int algs_from_reference(tsa__fast *f, const tsa *t)
{
    int error = 0;
    tsa__token_in in;
    TS_MSG_IMPRINT *imprint = NULL;
    X509_ALGOR *algor = NULL, *dig = NULL, *sig = NULL;
    CMS_ContentInfo *cms = NULL;
    CMS_SignerInfo *si;
    nt_buf token = NT_BUF_INIT;
    const unsigned char *p;
    unsigned char zero[32] = {0}, *der = NULL;
    int len;

    memset(&in, 0, sizeof(in));
    in.serial[TSA_SERIAL_BYTES - 1] = 1;
    in.gen.tv_sec = 1700000000;
    NT_OSSL_PTR(imprint = TS_MSG_IMPRINT_new(), "TS_MSG_IMPRINT_new");
    NT_OSSL_PTR(algor = X509_ALGOR_new(), "X509_ALGOR_new");
    NT_OSSL(X509_ALGOR_set0(algor, OBJ_nid2obj(NID_sha256), V_ASN1_UNDEF, NULL), "imprint");
    NT_OSSL(TS_MSG_IMPRINT_set_algo(imprint, algor), "imprint");
    NT_OSSL(TS_MSG_IMPRINT_set_msg(imprint, zero, (int)sizeof(zero)), "imprint");
    in.imprint = imprint;
    NT_TRY(tsa__token_reference(&token, t, &in));
    p = token.ptr;
    NT_OSSL_PTR(cms = d2i_CMS_ContentInfo(NULL, &p, (long)token.len), "reference token");
    NT_OSSL_PTR(si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0), "reference signer");
    CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, &sig);
    NT_ENSURE(dig != NULL && sig != NULL, NT_ECRYPTO, "reference token without algorithms");
    len = i2d_X509_ALGOR(dig, &der);
    NT_TRY(put_i2d(&f->dig_alg, len, der, "digestAlgorithm"));
    der = NULL;
    len = i2d_X509_ALGOR(sig, &der);
    NT_TRY(put_i2d(&f->sig_alg, len, der, "signatureAlgorithm"));
done:
    CMS_ContentInfo_free(cms);
    nt_buf_dispose(&token);
    X509_ALGOR_free(algor);
    TS_MSG_IMPRINT_free(imprint);
    return error;
}

/* The most a TSTInfo of this tsa can take, apart from the request's imprint and nonce. */
static size_t policy_max(const tsa *t)
{
    size_t m = OBJ_length(t->policy);
    for (size_t i = 0; i < t->accepted_policy_count; i++) {
        size_t l = OBJ_length(t->accepted_policies[i]);
        m = l > m ? l : m;
    }
    return m;
}

int tsa__fast_new(tsa__fast **out, const tsa *t)
{
    int error = 0;
    tsa__fast *f = NULL;
    X509 *cert = t->signer->cert;
    unsigned char *der = NULL;
    nt_buf name = NT_BUF_INIT, serial = NT_BUF_INIT;
    size_t tst_need, attrs_need, resp;
    int sig_max, len;

    *out = NULL;
    NT_ENSURE((f = nt_calloc(1, sizeof(*f))) != NULL, NT_ENOMEM, "out of memory");
    for (size_t i = 0; i < FAST_SLOTS; i++) {
        atomic_flag_clear(&f->slots[i].busy);
    }
    /* SM2: OpenSSL's CMS cannot sign, so there is no reference token to copy them from */
    NT_TRY(t->sign_sm2 ? tsa__sm2_algs(&f->dig_alg, &f->sig_alg) : algs_from_reference(f, t));
    len = i2d_X509_NAME(X509_get_issuer_name(cert), &der);
    NT_TRY(put_i2d(&name, len, der, "issuer"));
    der = NULL;
    len = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &der);
    NT_TRY(put_i2d(&serial, len, der, "serial"));
    der = NULL;
    NT_TRY(tlv2(&f->sid, 0x30, nt_buf_bytes(&name), nt_buf_bytes(&serial)));
    NT_TRY(oid_tlv(&f->oid_tst, NID_id_smime_ct_TSTInfo));
    NT_TRY(oid_tlv(&f->oid_sd, NID_pkcs7_signed));
    NT_TRY(oid_tlv(&f->oid_st, NID_pkcs9_signingTime));
    NT_TRY(oid_tlv(&f->oid_md, NID_pkcs9_messageDigest));
    NT_TRY(attr_const(&f->ct_attr, NID_pkcs9_contentType, nt_buf_bytes(&f->oid_tst)));
    NT_TRY(
        attr_const(&f->ess_attr, NID_id_smime_aa_signingCertificateV2, nt_buf_bytes(&t->ess_v2)));
    len = i2d_ASN1_OBJECT(t->policy, &der);
    NT_TRY(put_i2d(&f->policy, len, der, "the policy"));
    der = NULL;
    if (t->accuracy != NULL) {
        len = i2d_TS_ACCURACY(t->accuracy, &der);
        NT_TRY(put_i2d(&f->accuracy, len, der, "accuracy"));
        der = NULL;
    }
    if (t->tsa_name != NULL) {
        nt_buf gn = NT_BUF_INIT;
        len = i2d_GENERAL_NAME(t->tsa_name, &der);
        error = put_i2d(&gn, len, der, "the TSA name");
        der = NULL;
        if (error == 0) {
            error = tlv2(&f->tsa_name, 0xa0, nt_buf_bytes(&gn), NT_BYTES(NULL, 0));
        }
        nt_buf_dispose(&gn);
        NT_TRY(error);
    }
    NT_OSSL(sig_max = EVP_PKEY_get_size(t->signer->key), "EVP_PKEY_get_size");
    f->sig_max = (size_t)sig_max;

    /* fixed scratch buffers: refuse (NT_EUNSUPPORTED: the caller keeps the CMS path)
     * a configuration whose TSTInfo or attributes could outgrow them.  Per request:
     * imprint <= 64 bytes + OID, nonce <= 32 bytes magnitude (request.c). */
    tst_need = 128 + policy_max(t) + 64 + 32 + TSA_SERIAL_BYTES + 40 + f->accuracy.len +
               f->tsa_name.len + 128;
    attrs_need = f->ct_attr.len + f->ess_attr.len + 2 * FAST_ATTR_SMALL + 16;
    if (tst_need > FAST_TST_MAX || attrs_need > FAST_ATTRS_MAX) {
        error = nt_error_set(NT_EUNSUPPORTED, "token fast path: TSA name or certificate too large");
        goto done;
    }
    resp = 256 + 2 * f->dig_alg.len + tst_need + t->embed_der.len + f->sid.len + attrs_need +
           f->sig_alg.len + f->sig_max;
    f->resp_max = resp;
    *out = f;
    f = NULL;
done:
    nt_buf_dispose(&name);
    nt_buf_dispose(&serial);
    tsa__fast_free(f);
    return error;
}

void tsa__fast_free(tsa__fast *f)
{
    if (f == NULL) {
        return;
    }
    for (size_t i = 0; i < FAST_SLOTS; i++) {
        slot_dispose(&f->slots[i]);
    }
    nt_buf *bufs[] = {&f->sid,      &f->dig_alg, &f->sig_alg,  &f->ct_attr,
                      &f->ess_attr, &f->oid_st,  &f->oid_md,   &f->oid_tst,
                      &f->oid_sd,   &f->policy,  &f->accuracy, &f->tsa_name};
    for (size_t i = 0; i < NT_ARRAY_LEN(bufs); i++) {
        nt_buf_dispose(bufs[i]);
    }
    nt_free(f);
}
