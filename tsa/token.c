/*
 * token.c - the TSA object and token issuance: TSTInfo (RFC 3161 2.4.2)
 * signed as CMS SignedData (RFC 5652) with the RFC 5816 ESSCertIDv2
 * signing-certificate attribute.  Part of the TSA core (nt_tsa_core).
 *
 * Why the CMS API and not TS_RESP_CTX: TS_RESP_CTX signs through PKCS7,
 * which cannot produce RSASSA-PSS signatures, and it reads the clock and
 * makes the serial itself (through callbacks), while we need the monotonic
 * genTime and structured serial of serial.c.  With CMS we build exactly the
 * profile of docs/TOKEN-PROFILE.md.  Everything that is the same for every
 * token (policy OID, ESSCertIDv2 DER, TSA name, accuracy, digest) is built
 * once in tsa_new; signing touches only per-request objects and the shared,
 * read-only EVP_PKEY, so threads sign in parallel without any lock of ours.
 *
 * Tokens are issued by the direct DER writer of token_fast.c whenever
 * tsa_new could set it up (every supported key type); the CMS code here is
 * the reference it is tested against (tsa__token_reference, token_int.h)
 * and the fallback for a TSA whose name or certificate is too large for it.
 */
#include "tsa/token_int.h"

#include "ledger/sm2.h"

#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <string.h>

void tsa_config_init(tsa_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->precision_digits = 3;
    cfg->accuracy_ms = 1000;
}

static void tsa_objects_free(tsa *t)
{
    ASN1_OBJECT_free(t->policy);
    for (size_t i = 0; i < t->accepted_policy_count; i++) {
        ASN1_OBJECT_free(t->accepted_policies[i]);
    }
    for (size_t i = 0; i < t->accepted_extension_count; i++) {
        ASN1_OBJECT_free(t->accepted_extensions[i]);
    }
}

void tsa_free(tsa *t)
{
    if (t == NULL) {
        return;
    }
    tsa_objects_free(t);
    EVP_MD_free(t->sign_md);
    GENERAL_NAME_free(t->tsa_name);
    TS_ACCURACY_free(t->accuracy);
    nt_buf_dispose(&t->ess_v2);
    nt_buf_dispose(&t->sm2_id);
    sk_X509_pop_free(t->embed, X509_free);
    nt_buf_dispose(&t->embed_der);
    tsa__fast_free(t->fast);
    if (t->seq != NULL && atomic_fetch_sub(&t->seq->refs, 1) == 1) {
        nt_free(t->seq);
    }
    nt_free(t);
}

const certs_signer *tsa_signer(const tsa *t)
{
    return t->signer;
}

static int parse_oid(ASN1_OBJECT **out, const char *what, const char *text)
{
    char canonical[256];
    int n;

    /* no_name = 1: only dotted numbers, so "sha256" is not mistaken for an OID */
    *out = text != NULL ? OBJ_txt2obj(text, 1) : NULL;
    /* OBJ_txt2obj is lenient ("1.2..3" is 1.2.0.3, "1.2.3." is 1.2.3, blanks and leading
     * zeros pass): a typo would silently become another policy in every token.  Only the
     * canonical dotted form, which prints back unchanged, is accepted. */
    if (*out != NULL) {
        n = OBJ_obj2txt(canonical, sizeof(canonical), *out, 1);
        if (n <= 0 || (size_t)n >= sizeof(canonical) || strcmp(canonical, text) != 0) {
            ASN1_OBJECT_free(*out);
            *out = NULL;
        }
    }
    if (*out == NULL) {
        ERR_clear_error();
        return nt_error_set(NT_EINVAL, "%s %s is not a dotted OID", what,
                            text != NULL ? text : "(null)");
    }
    return 0;
}

/* The signature digest: configured, or by key (P-384 -> SHA-384, else SHA-256). */
static int pick_digest(tsa *t, const tsa_config *cfg, EVP_PKEY *key)
{
    int error = 0;
    const char *name = cfg->signing_digest;
    int base = EVP_PKEY_get_base_id(key);

    if (base == EVP_PKEY_EC) {
        char group[64] = "";
        size_t glen = 0;
        NT_OSSL(EVP_PKEY_get_group_name(key, group, sizeof(group), &glen),
                "cannot read the EC key's curve");
        if (strcmp(group, "prime256v1") != 0 && strcmp(group, "secp384r1") != 0) {
            NT_ENSURE(0, NT_EINVAL, "unsupported EC curve %s (P-256 or P-384)", group);
        }
        if (name == NULL) {
            name = strcmp(group, "secp384r1") == 0 ? "sha384" : "sha256";
        }
        NT_ENSURE(!cfg->rsa_pss, NT_EINVAL, "rsa_pss needs an RSA key");
    } else if (base == EVP_PKEY_RSA) {
        NT_ENSURE(EVP_PKEY_get_bits(key) >= 2048, NT_EINVAL, "RSA key shorter than 2048 bits");
        if (name == NULL) {
            name = "sha256";
        }
        t->sign_pss = cfg->rsa_pss != 0;
    } else if (sm2_key_is(key)) {
        /* GB/T 35275: SM2 signs with SM3 (token_sm2.c) */
        NT_ENSURE(name == NULL || strcmp(name, "sm3") == 0, NT_EINVAL,
                  "an SM2 key signs with SM3, not signing_digest %s", name);
        NT_ENSURE(!cfg->rsa_pss, NT_EINVAL, "rsa_pss needs an RSA key");
        name = cfg->sm2_id != NULL ? cfg->sm2_id : SM2_DEFAULT_ID;
        NT_ENSURE(strlen(name) >= 1 && strlen(name) <= SM2_MAX_ID, NT_EINVAL,
                  "sm2_id must be 1..%u bytes", SM2_MAX_ID);
        NT_TRY(nt_buf_set(&t->sm2_id, name, strlen(name)));
        name = "sm3";
        t->sign_sm2 = 1;
    } else {
        NT_ENSURE(0, NT_EINVAL, "unsupported key type (EC P-256/P-384, RSA or SM2)");
    }
    NT_ENSURE(strcmp(name, "sha256") == 0 || strcmp(name, "sha384") == 0 ||
                  strcmp(name, "sha512") == 0 || t->sign_sm2,
              NT_EINVAL, "unsupported signing_digest %s (sha256, sha384, sha512)", name);
    NT_OSSL_PTR(t->sign_md = EVP_MD_fetch(NULL, name, NULL), "cannot fetch %s", name);
done:
    return error;
}

/* RFC 5816: SigningCertificateV2 with one ESSCertIDv2 (SHA-256, issuerSerial). */
static int build_ess(tsa *t, X509 *cert)
{
    int error = 0;
    ESS_SIGNING_CERT_V2 *sc = NULL;
    unsigned char *der = NULL;
    int len;

    NT_OSSL_PTR(sc = OSSL_ESS_signing_cert_v2_new_init(EVP_sha256(), cert, NULL, 1),
                "cannot build SigningCertificateV2");
    len = i2d_ESS_SIGNING_CERT_V2(sc, &der);
    NT_OSSL(len, "cannot encode SigningCertificateV2");
    NT_TRY(nt_buf_set(&t->ess_v2, der, (size_t)len));
done:
    OPENSSL_free(der);
    ESS_SIGNING_CERT_V2_free(sc);
    return error;
}

static int build_accuracy(tsa *t, unsigned ms)
{
    int error = 0;
    ASN1_INTEGER *v = NULL;

    if (ms == 0) {
        return 0;
    }
    NT_OSSL_PTR(t->accuracy = TS_ACCURACY_new(), "TS_ACCURACY_new");
    NT_OSSL_PTR(v = ASN1_INTEGER_new(), "ASN1_INTEGER_new");
    /* Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL, millis [0] INTEGER
     * (1..999) OPTIONAL, micros [1] INTEGER (1..999) OPTIONAL }: zero parts
     * are left out (a 0 millis would even be out of range). */
    if (ms / 1000 > 0) {
        NT_OSSL(ASN1_INTEGER_set_uint64(v, ms / 1000), "accuracy seconds");
        NT_OSSL(TS_ACCURACY_set_seconds(t->accuracy, v), "accuracy seconds");
    }
    if (ms % 1000 > 0) {
        NT_OSSL(ASN1_INTEGER_set_uint64(v, ms % 1000), "accuracy millis");
        NT_OSSL(TS_ACCURACY_set_millis(t->accuracy, v), "accuracy millis");
    }
done:
    ASN1_INTEGER_free(v);
    return error;
}

static int build_tsa_name(tsa *t, X509 *cert)
{
    int error = 0;
    X509_NAME *name = NULL;
    unsigned char *der = NULL;

    NT_OSSL_PTR(name = X509_NAME_dup(X509_get_subject_name(cert)), "X509_NAME_dup");
    NT_OSSL_PTR(t->tsa_name = GENERAL_NAME_new(), "GENERAL_NAME_new");
    GENERAL_NAME_set0_value(t->tsa_name, GEN_DIRNAME, name);
    name = NULL;
    /* Encode once now: X509_NAME caches its encoding on first use, and we
     * want that write to happen here, not concurrently in signing threads. */
    NT_OSSL(i2d_GENERAL_NAME(t->tsa_name, &der), "cannot encode the TSA name");
done:
    OPENSSL_free(der);
    X509_NAME_free(name);
    return error;
}

/* The certificates a certReq TRUE token carries, and their DER in that order. */
static int build_embed(tsa *t, const certs_signer *signer)
{
    int error = 0;

    NT_OSSL_PTR(t->embed = sk_X509_new_null(), "out of memory");
    for (int i = -1; i < sk_X509_num(signer->chain); i++) {
        X509 *c = i < 0 ? signer->cert : sk_X509_value(signer->chain, i);
        unsigned char *der = NULL;
        int len, dup = 0;
        for (int j = 0; j < sk_X509_num(t->embed); j++) {
            dup |= X509_cmp(sk_X509_value(t->embed, j), c) == 0;
        }
        if (dup) {
            continue;
        }
        /* Fill OpenSSL's per-certificate caches (hash, extensions, encoding)
         * now, under its own lock, not on the first concurrent requests. */
        X509_check_purpose(c, -1, 0);
        len = i2d_X509(c, &der);
        NT_OSSL(len, "cannot encode a certificate");
        error = nt_buf_put(&t->embed_der, der, (size_t)len);
        OPENSSL_free(der);
        NT_TRY(error);
        NT_OSSL(X509_up_ref(c), "X509_up_ref");
        if (!sk_X509_push(t->embed, c)) {
            X509_free(c);
            NT_OSSL(0, "out of memory");
        }
    }
done:
    return error;
}

int tsa_new(tsa **out, const tsa_config *cfg, const certs_signer *signer)
{
    return tsa_new_shared(out, cfg, signer, NULL);
}

int tsa_new_shared(tsa **out, const tsa_config *cfg, const certs_signer *signer, const tsa *sibling)
{
    int error = 0;
    tsa *t = NULL;

    *out = NULL;
    NT_ENSURE(cfg != NULL && signer != NULL && signer->key != NULL && signer->cert != NULL,
              NT_EINVAL, "tsa_new: configuration and signer are required");
    NT_ENSURE(cfg->policy != NULL, NT_EINVAL, "tsa: a policy OID is required");
    NT_ENSURE(cfg->precision_digits >= 0 && cfg->precision_digits <= 6, NT_EINVAL,
              "tsa: precision_digits must be 0..6, not %d", cfg->precision_digits);
    NT_ENSURE(cfg->accepted_policy_count <= TSA_MAX_POLICIES &&
                  cfg->accepted_extension_count <= TSA_MAX_EXTENSIONS,
              NT_EINVAL, "tsa: too many accepted policies or extensions");
    NT_ENSURE(cfg->node_id <= 0x7fff, NT_EINVAL, "tsa: node_id %u above 32767",
              (unsigned)cfg->node_id);
    NT_ENSURE(cfg->accuracy_ms <= 3600u * 1000u, NT_EINVAL, "tsa: accuracy above one hour");

    NT_ENSURE((t = nt_calloc(1, sizeof(*t))) != NULL, NT_ENOMEM, "out of memory");
    t->cfg = *cfg;
    /* the caller's strings are parsed below and not kept */
    t->cfg.policy = NULL;
    t->cfg.signing_digest = NULL;
    t->cfg.sm2_id = NULL;
    memset(t->cfg.accepted_policies, 0, sizeof(t->cfg.accepted_policies));
    memset(t->cfg.accepted_extensions, 0, sizeof(t->cfg.accepted_extensions));
    t->signer = signer;

    NT_TRY(parse_oid(&t->policy, "policy", cfg->policy));
    for (size_t i = 0; i < cfg->accepted_policy_count; i++) {
        NT_TRY(parse_oid(&t->accepted_policies[i], "accepted policy", cfg->accepted_policies[i]));
        t->accepted_policy_count++;
    }
    for (size_t i = 0; i < cfg->accepted_extension_count; i++) {
        NT_TRY(parse_oid(&t->accepted_extensions[i], "accepted extension",
                         cfg->accepted_extensions[i]));
        t->accepted_extension_count++;
    }

    NT_ENSURE(X509_check_private_key(signer->cert, signer->key) == 1, NT_EINVAL,
              "private key does not match the certificate");
    ERR_clear_error();
    NT_TRY(pick_digest(t, cfg, signer->key));
    NT_TRY(build_ess(t, signer->cert));
    NT_TRY(build_accuracy(t, cfg->accuracy_ms));
    if (cfg->include_tsa_name) {
        NT_TRY(build_tsa_name(t, signer->cert));
    }
    NT_TRY(build_embed(t, signer));

    t->unit_ns = 1;
    for (int i = cfg->precision_digits; i < 9; i++) {
        t->unit_ns *= 10;
    }
    if (sibling != NULL) {
        NT_ENSURE(sibling->unit_ns == t->unit_ns && sibling->cfg.node_id == cfg->node_id &&
                      sibling->cfg.boot_epoch == cfg->boot_epoch,
                  NT_EINVAL, "tsa: a sibling must have the same precision, node and boot epoch");
        t->seq = sibling->seq;
        atomic_fetch_add(&t->seq->refs, 1);
    } else {
        NT_ENSURE((t->seq = nt_calloc(1, sizeof(*t->seq))) != NULL, NT_ENOMEM, "out of memory");
        atomic_init(&t->seq->serial_counter, 0);
        atomic_init(&t->seq->last_gen_ns, 0);
        atomic_init(&t->seq->refs, 1);
    }
    atomic_init(&t->stat_granted, 0);
    for (size_t i = 0; i < NT_ARRAY_LEN(t->stat_rejected); i++) {
        atomic_init(&t->stat_rejected[i], 0);
    }
    atomic_init(&t->clock_sync, (int)NT_CLOCK_UNKNOWN);
    atomic_init(&t->clock_max_error_us, -1L);
    atomic_init(&t->clock_est_error_us, -1L);
    /* the fast path needs everything above; without it, tokens take the CMS path */
    error = tsa__fast_new(&t->fast, t);
    if (error == NT_EUNSUPPORTED && !t->sign_sm2) { /* SM2 has no CMS path (token_sm2.c) */
        nt_log_info("tsa: %s; tokens are built through OpenSSL's CMS code", nt_error_last());
        error = 0;
    }
    NT_TRY(error);

    *out = t;
    t = NULL;
done:
    tsa_free(t);
    return error;
}

/*
 * RFC 3161 2.4.2: "The GeneralizedTime syntax can include fraction-of-second
 * details.  Such syntax, without the restrictions from [RFC 2459] Section
 * 4.1.2.5.2, where GeneralizedTime is limited to represent the time with a
 * granularity of one second, may be used here."  and, for its DER encoding:
 * "The encoding MUST terminate with a "Z" (which means "Zulu" time).  The
 * decimal point element, if present, MUST be the point option ".".  The
 * fractional-seconds elements, if present, MUST omit all trailing zeros; if
 * the elements correspond to 0, they MUST be wholly omitted, and the decimal
 * point element also MUST be omitted."
 * So: YYYYMMDDhhmmss[.f+]Z, the fraction cut (not rounded) to `digits`, then
 * stripped of trailing zeros, with no '.' when nothing is left.
 */
int tsa__gen_time_string(char *out, size_t cap, const struct timespec *ts, int digits)
{
    struct tm tm;
    time_t sec = ts->tv_sec;
    char frac[16];
    int n, flen = 0;

    if (gmtime_r(&sec, &tm) == NULL || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 1) {
        return nt_error_set(NT_EINVAL, "genTime out of range");
    }
    if (digits > 0) {
        long v = ts->tv_nsec;
        for (int i = digits; i < 9; i++) {
            v /= 10;
        }
        snprintf(frac, sizeof(frac), "%0*ld", digits, v);
        flen = digits;
        while (flen > 0 && frac[flen - 1] == '0') {
            flen--;
        }
        frac[flen] = '\0';
    }
    n = snprintf(out, cap, "%04d%02d%02d%02d%02d%02d%s%sZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, flen > 0 ? "." : "",
                 flen > 0 ? frac : "");
    if (n < 0 || (size_t)n >= cap) {
        return nt_error_set(NT_ERANGE, "genTime does not fit");
    }
    return 0;
}

/* TSTInfo, DER, into out. */
static int build_tstinfo(nt_buf *out, const tsa *t, const TS_MSG_IMPRINT *imprint,
                         const ASN1_OBJECT *policy, const ASN1_INTEGER *nonce,
                         const uint8_t serial[TSA_SERIAL_BYTES], const struct timespec *gen)
{
    int error = 0;
    TS_TST_INFO *tst = NULL;
    ASN1_INTEGER *sn = NULL;
    ASN1_GENERALIZEDTIME *gt = NULL;
    BIGNUM *bn = NULL;
    unsigned char *der = NULL;
    char when[40];
    int len;

    NT_OSSL_PTR(tst = TS_TST_INFO_new(), "TS_TST_INFO_new");
    /* version INTEGER { v1(1) } */
    NT_OSSL(TS_TST_INFO_set_version(tst, 1), "TSTInfo version");
    /* the set functions copy; the casts only drop const from OpenSSL's prototypes */
    NT_OSSL(TS_TST_INFO_set_policy_id(tst, (ASN1_OBJECT *)(policy != NULL ? policy : t->policy)),
            "TSTInfo policy");
    /* RFC 3161: "The messageImprint MUST have the same value as the similar
     * field in TimeStampReq" - copied whole, parameters included. */
    NT_OSSL(TS_TST_INFO_set_msg_imprint(tst, (TS_MSG_IMPRINT *)imprint), "TSTInfo imprint");
    NT_OSSL_PTR(bn = BN_bin2bn(serial, TSA_SERIAL_BYTES, NULL), "serial");
    NT_OSSL_PTR(sn = BN_to_ASN1_INTEGER(bn, NULL), "serial");
    NT_OSSL(TS_TST_INFO_set_serial(tst, sn), "TSTInfo serialNumber");
    NT_TRY(tsa__gen_time_string(when, sizeof(when), gen, t->cfg.precision_digits));
    NT_OSSL_PTR(gt = ASN1_GENERALIZEDTIME_new(), "ASN1_GENERALIZEDTIME_new");
    NT_OSSL(ASN1_STRING_set(gt, when, (int)strlen(when)), "genTime");
    NT_OSSL(TS_TST_INFO_set_time(tst, gt), "TSTInfo genTime");
    if (t->accuracy != NULL) {
        NT_OSSL(TS_TST_INFO_set_accuracy(tst, t->accuracy), "TSTInfo accuracy");
    }
    if (t->cfg.ordering) {
        /* DEFAULT FALSE: only a TRUE is encoded */
        NT_OSSL(TS_TST_INFO_set_ordering(tst, 1), "TSTInfo ordering");
    }
    if (nonce != NULL) {
        /* RFC 3161: "The nonce field MUST be present if it was present in
         * the TimeStampReq.  In such a case it MUST equal the value provided
         * in the TimeStampReq structure." */
        NT_OSSL(TS_TST_INFO_set_nonce(tst, nonce), "TSTInfo nonce");
    }
    if (t->tsa_name != NULL) {
        NT_OSSL(TS_TST_INFO_set_tsa(tst, t->tsa_name), "TSTInfo tsa");
    }
    len = i2d_TS_TST_INFO(tst, &der);
    NT_OSSL(len, "cannot encode TSTInfo");
    NT_TRY(nt_buf_set(out, der, (size_t)len));
done:
    OPENSSL_free(der);
    ASN1_GENERALIZEDTIME_free(gt);
    ASN1_INTEGER_free(sn);
    BN_free(bn);
    TS_TST_INFO_free(tst);
    return error;
}

/* Enter one DER TLV at *p (bounded by end): content start and length. */
static int der_enter(const unsigned char **p, const unsigned char *end, long *len, int *tag)
{
    int xclass = 0;
    const unsigned char *q = *p;
    if (end <= q || (ASN1_get_object(&q, len, tag, &xclass, end - q) & 0x80) != 0 ||
        *len > end - q) {
        ERR_clear_error();
        return nt_error_set(NT_ECRYPTO, "unexpected token encoding");
    }
    *p = q;
    return 0;
}

/*
 * The certificates field is a SET OF, so OpenSSL's DER encoder sorts it, and
 * the TSA certificate may land after its issuer.  RFC 3161 only requires the
 * certificate to be present, but verifiers exist that take the first
 * certificate as the signer's, and OpenSSL's own TSA (PKCS7, SEQUENCE OF
 * semantics) writes signer first.  So we put the same certificates back in
 * our order: the field's length does not change, nothing signed is touched
 * (certificates are outside signedAttrs), and we check that the field holds
 * exactly our certificates before overwriting it.
 */
static int certs_signer_first(nt_buf *token, const tsa *t)
{
    int error = 0;
    const unsigned char *p = token->ptr, *end = token->ptr + token->len;
    long len = 0;
    int tag = 0;
    size_t off = 0, count = 0;

    NT_TRY(der_enter(&p, end, &len, &tag)); /* ContentInfo */
    NT_TRY(der_enter(&p, end, &len, &tag)); /* contentType */
    p += len;
    NT_TRY(der_enter(&p, end, &len, &tag)); /* [0] EXPLICIT */
    NT_TRY(der_enter(&p, end, &len, &tag)); /* SignedData */
    for (int i = 0; i < 3; i++) {           /* version, digestAlgorithms, encap */
        NT_TRY(der_enter(&p, end, &len, &tag));
        p += len;
    }
    NT_ENSURE(p < end && *p == 0xa0, NT_ECRYPTO, "token has no certificates field");
    NT_TRY(der_enter(&p, end, &len, &tag)); /* [0] IMPLICIT CertificateSet */
    NT_ENSURE((size_t)len == t->embed_der.len, NT_ECRYPTO, "unexpected certificates field");
    /* every element must be one of ours (the lengths already add up) */
    for (const unsigned char *e = p; e < p + len; count++) {
        const unsigned char *c = e;
        long clen = 0;
        int found = 0;
        NT_TRY(der_enter(&c, p + len, &clen, &tag));
        size_t elen = (size_t)(c + clen - e);
        off = 0;
        for (int i = 0; i < sk_X509_num(t->embed); i++) {
            const unsigned char *mine = t->embed_der.ptr + off;
            const unsigned char *m = mine;
            long mlen = 0;
            NT_TRY(der_enter(&m, t->embed_der.ptr + t->embed_der.len, &mlen, &tag));
            size_t mtotal = (size_t)(m + mlen - mine);
            found |= mtotal == elen && memcmp(mine, e, elen) == 0;
            off += mtotal;
        }
        NT_ENSURE(found, NT_ECRYPTO, "unexpected certificate in the token");
        e += elen;
    }
    NT_ENSURE(count == (size_t)sk_X509_num(t->embed), NT_ECRYPTO, "unexpected certificates");
    memcpy(token->ptr + (p - token->ptr), t->embed_der.ptr, t->embed_der.len);
done:
    return error;
}

/*
 * SignedData over the TSTInfo.  Signed attributes: contentType and
 * messageDigest (added by CMS_final), signingTime (= genTime to the second:
 * OpenSSL adds a signingTime of its own clock reading when none is present,
 * so we set one that cannot disagree with genTime) and signingCertificateV2.
 */
static int sign_tstinfo(nt_buf *out, const tsa *t, nt_bytes tst, int cert_req,
                        const struct timespec *gen)
{
    int error = 0;
    const unsigned flags = CMS_PARTIAL | CMS_BINARY | CMS_NOCERTS | CMS_NOSMIMECAP;
    CMS_ContentInfo *cms = NULL;
    CMS_SignerInfo *si;
    ASN1_TIME *st = NULL;
    BIO *in = NULL;
    unsigned char *der = NULL;
    int len;

    NT_OSSL_PTR(cms = CMS_sign(NULL, NULL, NULL, NULL, flags), "CMS_sign");
    /* RFC 3161 2.4.2: eContentType "id-ct-TSTInfo" */
    NT_OSSL(CMS_set1_eContentType(cms, OBJ_nid2obj(NID_id_smime_ct_TSTInfo)), "eContentType");
    /* issuerAndSerialNumber as signer identifier (CMS_USE_KEYID not set):
     * what every RFC 3161 verifier, including OpenSSL's PKCS7-based one, reads */
    NT_OSSL_PTR(si = CMS_add1_signer(cms, t->signer->cert, t->signer->key, t->sign_md,
                                     flags | CMS_KEY_PARAM),
                "CMS_add1_signer");
    NT_OSSL_PTR(st = ASN1_TIME_set(NULL, gen->tv_sec), "signingTime");
    NT_OSSL(CMS_signed_add1_attr_by_NID(si, NID_pkcs9_signingTime, st->type, st, -1),
            "signingTime");
    /* RFC 3161 names the TSA certificate through the ESSCertID of a
     * SigningCertificate attribute; RFC 5816 allows SigningCertificateV2
     * (ESSCertIDv2, here SHA-256 + issuerSerial) in its place, so that the
     * binding does not rest on SHA-1. */
    NT_OSSL(CMS_signed_add1_attr_by_NID(si, NID_id_smime_aa_signingCertificateV2, V_ASN1_SEQUENCE,
                                        t->ess_v2.ptr, (int)t->ess_v2.len),
            "signingCertificateV2");
    if (t->sign_pss) {
        EVP_PKEY_CTX *pctx = CMS_SignerInfo_get0_pkey_ctx(si);
        NT_ENSURE(pctx != NULL, NT_ECRYPTO, "no signing context for RSASSA-PSS");
        /* RFC 4055 profile: MGF1 with the signature hash, salt = hash length */
        NT_OSSL(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), "PSS padding");
        NT_OSSL(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST), "PSS salt");
        NT_OSSL(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, t->sign_md), "PSS MGF1");
    }
    /* RFC 3161 2.4.1: "If the certReq field is present and set to true, the
     * TSA's public key certificate that is referenced by the ESSCertID
     * identifier inside a SigningCertificate attribute in the response MUST
     * be provided by the TSA in the certificates field ...  If the certReq
     * field is missing or if the certReq field is present and set to false
     * then the certificates field from the SignedData structure MUST not be
     * present in the response." */
    if (cert_req) {
        for (int i = 0; i < sk_X509_num(t->embed); i++) {
            NT_OSSL(CMS_add1_cert(cms, sk_X509_value(t->embed, i)), "adding a certificate");
        }
    }
    NT_OSSL_PTR(in = BIO_new_mem_buf(tst.ptr, (int)tst.len), "BIO_new_mem_buf");
    NT_OSSL(CMS_final(cms, in, NULL, CMS_BINARY), "CMS signing failed");
    len = i2d_CMS_ContentInfo(cms, &der);
    NT_OSSL(len, "cannot encode the token");
    NT_TRY(nt_buf_set(out, der, (size_t)len));
    if (cert_req) {
        NT_TRY(certs_signer_first(out, t));
    }
done:
    OPENSSL_free(der);
    BIO_free(in);
    ASN1_TIME_free(st);
    CMS_ContentInfo_free(cms);
    return error;
}

int tsa__token_reference(nt_buf *token, const tsa *t, const tsa__token_in *in)
{
    int error = 0;
    nt_buf tst = NT_BUF_INIT;

    NT_TRY(build_tstinfo(&tst, t, in->imprint, in->policy, in->nonce, in->serial, &in->gen));
    NT_TRY(sign_tstinfo(token, t, nt_buf_bytes(&tst), in->cert_req, &in->gen));
done:
    nt_buf_dispose(&tst);
    return error;
}

int tsa__issue(tsa_result *out, tsa *t, const TS_MSG_IMPRINT *imprint, const tsa__alg *alg,
               const ASN1_OBJECT *policy, const ASN1_INTEGER *nonce, int cert_req)
{
    int error = 0;
    char reason[sizeof(out->reason)];
    tsa__token_in in;
    tsa_fail fail;
    size_t skip = 0;

    out->alg = alg->alg;
    memset(&in, 0, sizeof(in));
    in.imprint = imprint;
    in.policy = policy;
    in.nonce = nonce;
    in.cert_req = cert_req;
    fail = tsa__clock_check(t, reason, sizeof(reason));
    if (fail == TSA_FAIL_NONE) {
        fail = tsa__gen_time_next(&in.gen, t, reason, sizeof(reason));
    }
    if (fail != TSA_FAIL_NONE) {
        return tsa__reject(out, t, fail, "%s", reason);
    }
    NT_TRY(tsa__serial_next(in.serial, t));
    if (t->fast != NULL) {
        NT_TRY(tsa__token_fast(&out->response, &out->token, t, &in));
    } else {
        NT_TRY(tsa__token_reference(&out->token, t, &in));
        NT_TRY(tsa_response_granted(&out->response, nt_buf_bytes(&out->token)));
    }
    while (skip + 1 < TSA_SERIAL_BYTES && in.serial[skip] == 0) {
        skip++;
    }
    NT_TRY(nt_buf_set(&out->serial, in.serial + skip, TSA_SERIAL_BYTES - skip));
    out->granted = 1;
    out->fail = TSA_FAIL_NONE;
    out->reason[0] = '\0';
    out->gen_time = in.gen;
    atomic_fetch_add(&t->stat_granted, 1);
done:
    if (error < 0) {
        /* RFC 3161: "systemFailure (25) -- the request cannot be handled due
         * to system failure"; the detail goes to the log, not to the client */
        nt_log_error("time-stamp signing failed: %s", nt_error_last());
        error = tsa__reject(out, t, TSA_FAIL_SYSTEM_FAILURE, "%s", nt_error_last());
    }
    return error;
}

int tsa_issue_digest(tsa_result *out, tsa *t, record_alg alg, nt_bytes digest)
{
    int error = 0;
    const tsa__alg *a = tsa__alg_by_id(alg);
    TS_MSG_IMPRINT *imprint = NULL;
    X509_ALGOR *algor = NULL;

    tsa_result_dispose(out);
    if (a == NULL) {
        return tsa__reject(out, t, TSA_FAIL_BAD_ALG, "unknown digest algorithm %d", (int)alg);
    }
    out->alg = alg;
    NT_TRY(nt_buf_set(&out->digest, digest.ptr, digest.len));
    if (!tsa__alg_allowed(t, a)) {
        return tsa__reject(out, t, TSA_FAIL_BAD_ALG, "imprint algorithm %s is not accepted",
                           a->name);
    }
    if (digest.len != a->size) {
        return tsa__reject(out, t, TSA_FAIL_BAD_DATA_FORMAT,
                           "imprint length %zu does not match %s (%zu bytes)", digest.len, a->name,
                           a->size);
    }
    NT_OSSL_PTR(imprint = TS_MSG_IMPRINT_new(), "TS_MSG_IMPRINT_new");
    NT_OSSL_PTR(algor = X509_ALGOR_new(), "X509_ALGOR_new");
    /* RFC 5754 / RFC 3370: generate SHA-1 and SHA-2 identifiers with absent
     * parameters; MD5 with NULL parameters */
    NT_OSSL(X509_ALGOR_set0(algor, OBJ_nid2obj(a->nid),
                            a->alg == RECORD_ALG_MD5 ? V_ASN1_NULL : V_ASN1_UNDEF, NULL),
            "X509_ALGOR_set0");
    NT_OSSL(TS_MSG_IMPRINT_set_algo(imprint, algor), "TS_MSG_IMPRINT_set_algo");
    NT_OSSL(TS_MSG_IMPRINT_set_msg(imprint, (unsigned char *)digest.ptr, (int)digest.len),
            "TS_MSG_IMPRINT_set_msg");
    error = tsa__issue(out, t, imprint, a, NULL, NULL, 1);
done:
    X509_ALGOR_free(algor);
    TS_MSG_IMPRINT_free(imprint);
    if (error < 0 && out->response.len == 0) {
        error = tsa__reject(out, t, TSA_FAIL_SYSTEM_FAILURE, "%s", nt_error_last());
    }
    return error;
}
