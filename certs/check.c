/*
 * check.c - the start-up checks of certs.h (certs_signer_check): refuse a TSA
 * key and certificate that a relying party would reject, before the server
 * issues a single token with them.  Each refusal is one line the operator
 * reads at start-up; the wording is part of the contract in certs.h.  All
 * findings are collected (certs_signer_inspect, for `notarium pki check`);
 * certs_signer_check reports the first defect.
 */
#include "certs/certs.h"
#include "ledger/sm2.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Render an ASN1_TIME as RFC 3339 UTC seconds ("2026-01-01T00:00:00Z"). */
static void time_text(char *buf, size_t cap, const ASN1_TIME *t)
{
    struct tm tm;
    if (t == NULL || !ASN1_TIME_to_tm(t, &tm) ||
        strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(buf, cap, "(unreadable time)");
        ERR_clear_error();
    }
}

static int check_validity(X509 *cert, time_t now)
{
    char when[64];
    const ASN1_TIME *nb = X509_get0_notBefore(cert), *na = X509_get0_notAfter(cert);
    /* X509_cmp_time: -1 if the time is before `now`, 1 if after, 0 on error. */
    int cmp_after = X509_cmp_time(na, &now);
    int cmp_before = X509_cmp_time(nb, &now);
    if (cmp_after == 0 || cmp_before == 0) {
        ERR_clear_error();
        return nt_error_set(NT_EINVAL, "certificate validity dates are malformed");
    }
    if (cmp_after < 0) {
        time_text(when, sizeof(when), na);
        return nt_error_set(NT_EINVAL, "certificate expired on %s", when);
    }
    if (cmp_before > 0) {
        time_text(when, sizeof(when), nb);
        return nt_error_set(NT_EINVAL, "certificate not yet valid until %s", when);
    }
    return 0;
}

/*
 * RFC 3161 §2.3: "The corresponding certificate MUST contain only one instance
 * of the extended key usage field extension as defined in [RFC2459] Section
 * 4.2.1.13 with KeyPurposeID having value: id-kp-timeStamping.  This extension
 * MUST be critical."
 */
static int check_eku(X509 *cert)
{
    int pos = X509_get_ext_by_NID(cert, NID_ext_key_usage, -1);
    X509_EXTENSION *ext;
    EXTENDED_KEY_USAGE *eku = NULL;
    int error = 0;

    if (pos < 0) {
        return nt_error_set(NT_EINVAL, "extendedKeyUsage is missing");
    }
    ext = X509_get_ext(cert, pos);
    if (!X509_EXTENSION_get_critical(ext)) {
        return nt_error_set(NT_EINVAL, "extendedKeyUsage is not critical");
    }
    /* "only one instance": a second extension, or a second purpose in it, is refused. */
    if (X509_get_ext_by_NID(cert, NID_ext_key_usage, pos) >= 0) {
        return nt_error_set(NT_EINVAL, "extendedKeyUsage must be timeStamping only");
    }
    eku = X509V3_EXT_d2i(ext);
    if (eku == NULL || sk_ASN1_OBJECT_num(eku) != 1 ||
        OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)) != NID_time_stamp) {
        error = nt_error_set(NT_EINVAL, "extendedKeyUsage must be timeStamping only");
    }
    EXTENDED_KEY_USAGE_free(eku);
    ERR_clear_error();
    return error;
}

/*
 * A TSA key signs tokens and nothing else: RFC 3161 §2.1 (7), the TSA is
 * required to "sign each time-stamp token using a key generated exclusively for
 * this purpose and have this property of the key indicated on the corresponding
 * certificate".  Key usage is checked for what would let the
 * key sign certificates or CRLs before what is missing, so a CA-like profile is
 * named as such.  An absent keyUsage extension permits everything, so it fails
 * as lacking digitalSignature too.
 */
static int check_ku(X509 *cert)
{
    uint32_t flags = X509_get_extension_flags(cert);
    uint32_t ku = X509_get_key_usage(cert);
    if ((flags & EXFLAG_KUSAGE) == 0) {
        return nt_error_set(NT_EINVAL, "keyUsage lacks digitalSignature");
    }
    if (ku & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) {
        return nt_error_set(NT_EINVAL, "keyUsage allows keyCertSign/cRLSign");
    }
    if ((ku & KU_DIGITAL_SIGNATURE) == 0) {
        return nt_error_set(NT_EINVAL, "keyUsage lacks digitalSignature");
    }
    /* keyEncipherment, keyAgreement...: OpenSSL's timestampsign purpose (and so `openssl ts
     * -verify`) rejects any bit beyond these two, so relying parties would reject our tokens. */
    if (ku & ~(uint32_t)(KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION)) {
        return nt_error_set(NT_EINVAL, "keyUsage must be digitalSignature/nonRepudiation only");
    }
    return 0;
}

/* RSA of at least 2048 bits, ECDSA on P-256 / P-384 (what RFC 3161 verifiers accept), or SM2
 * (GB/T 20520; docs/KEYS.md says which verifiers accept it). */
static int check_key_type(EVP_PKEY *key)
{
    char group[64] = "";
    size_t glen = 0;

    if (EVP_PKEY_is_a(key, "RSA")) {
        if (EVP_PKEY_get_bits(key) >= 2048 && EVP_PKEY_get_bits(key) <= 16384) {
            return 0;
        }
    } else if (sm2_key_is(key)) {
        return 0;
    } else if (EVP_PKEY_is_a(key, "EC")) {
        if (EVP_PKEY_get_group_name(key, group, sizeof(group), &glen) &&
            (strcmp(group, "prime256v1") == 0 || strcmp(group, "secp384r1") == 0 ||
             strcmp(group, "P-256") == 0 || strcmp(group, "P-384") == 0)) {
            return 0;
        }
    }
    ERR_clear_error();
    return nt_error_set(NT_EINVAL, "unsupported key type");
}

/* ------------------------------------------------------------------ findings */

static NT_PRINTF(3, 4) void finding_add(certs_findings *f, certs_severity sev, const char *fmt, ...)
{
    va_list ap;
    if (f->count == CERTS_FINDINGS_MAX) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(f->item[f->count].text, sizeof(f->item[f->count].text), fmt, ap);
    va_end(ap);
    f->item[f->count].severity = sev;
    f->count++;
    if (sev == CERTS_DEFECT) {
        f->defects++;
    }
}

/* A check's refusal (its nt_error_last text) as a defect. */
static void finding_from(certs_findings *f, int rc)
{
    if (rc < 0) {
        finding_add(f, CERTS_DEFECT, "%s", nt_error_last());
    }
}

/* The TSA certificate's own dates are reported by check_validity: not twice. */
static int chain_cb(int ok, X509_STORE_CTX *ctx)
{
    int e = X509_STORE_CTX_get_error(ctx);
    if (!ok && X509_STORE_CTX_get_error_depth(ctx) == 0 &&
        (e == X509_V_ERR_CERT_NOT_YET_VALID || e == X509_V_ERR_CERT_HAS_EXPIRED)) {
        return 1;
    }
    return ok;
}

/*
 * The chain, when it ends at a self-signed root: signatures, validity and
 * CA constraints of every link (OpenSSL's path validation at `now`).  The TSA
 * certificate's own profile is judged by the checks above, so no purpose is
 * asked for here (a wrong EKU would otherwise be reported twice).
 */
static void check_chain(certs_findings *f, const certs_signer *s, time_t now)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    int roots = 0;

    if (store == NULL || ctx == NULL || untrusted == NULL) {
        finding_add(f, CERTS_DEFECT, "out of memory checking the chain");
        goto done;
    }
    for (int i = 0; s->chain != NULL && i < sk_X509_num(s->chain); i++) {
        X509 *c = sk_X509_value(s->chain, i);
        int ok = X509_check_issued(c, c) == X509_V_OK ? X509_STORE_add_cert(store, c)
                                                      : sk_X509_push(untrusted, c) > 0;
        roots += X509_check_issued(c, c) == X509_V_OK;
        if (!ok) {
            finding_add(f, CERTS_DEFECT, "out of memory checking the chain");
            goto done;
        }
    }
    if (roots == 0) {
        finding_add(f, CERTS_NOTE, "chain not verified: it holds no self-signed root");
        goto done;
    }
    if (!X509_STORE_CTX_init(ctx, store, s->cert, untrusted)) {
        finding_add(f, CERTS_DEFECT, "out of memory checking the chain");
        goto done;
    }
    X509_STORE_CTX_set_time(ctx, 0, now);
    X509_STORE_CTX_set_verify_cb(ctx, chain_cb);
    if (X509_verify_cert(ctx) != 1) {
        int err = X509_STORE_CTX_get_error(ctx);
        X509 *at = X509_STORE_CTX_get_current_cert(ctx);
        char name[256] = "?";
        if (at != NULL) {
            X509_NAME_oneline(X509_get_subject_name(at), name, sizeof(name));
        }
        finding_add(f, CERTS_DEFECT, "chain does not verify: %s (at %s)",
                    X509_verify_cert_error_string(err), name);
    }
done:
    ERR_clear_error();
    sk_X509_free(untrusted);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
}

/* Days left for one certificate: a warning under CERTS_EXPIRY_WARN_DAYS (expiry itself is a
 * defect found elsewhere). */
static void check_days_left(certs_findings *f, X509 *cert, const char *role, time_t now)
{
    char when[64];
    nt_buf subject = NT_BUF_INIT;
    time_t na;
    long long days;

    if (certs_cert_not_after(&na, cert) < 0 || na <= now) {
        return;
    }
    days = (long long)((na - now) / 86400);
    time_text(when, sizeof(when), X509_get0_notAfter(cert));
    if (certs_cert_subject(&subject, cert) < 0) {
        nt_buf_clear(&subject);
    }
    if (days < CERTS_EXPIRY_WARN_DAYS) {
        finding_add(f, CERTS_WARNING, "%s certificate %s expires in %lld days, on %s", role,
                    nt_buf_cstr(&subject), days, when);
    } else if (strcmp(role, "TSA") == 0) {
        finding_add(f, CERTS_NOTE, "TSA certificate %s valid until %s (%lld days left)",
                    nt_buf_cstr(&subject), when, days);
    }
    nt_buf_dispose(&subject);
}

int certs_signer_inspect(certs_findings *out, const certs_signer *s, time_t now)
{
    X509 *cert;
    int error = 0;

    memset(out, 0, sizeof(*out));
    NT_ENSURE(s != NULL && s->cert != NULL && s->key != NULL, NT_EINVAL,
              "no TSA certificate or key loaded");
    cert = s->cert;
    finding_from(out, check_validity(cert, now));
    finding_from(out, check_eku(cert));
    finding_from(out, check_ku(cert));
    if (X509_get_extension_flags(cert) & EXFLAG_CA) {
        finding_add(out, CERTS_DEFECT, "certificate is a CA");
    }
    if (X509_check_private_key(cert, s->key) != 1) {
        ERR_clear_error();
        finding_add(out, CERTS_DEFECT, "private key does not match the certificate");
    }
    finding_from(out, check_key_type(s->key));
    /* After the specific reasons: a certificate whose extensions do not decode (or
     * repeat) is refused rather than half-understood. */
    if (X509_get_extension_flags(cert) & EXFLAG_INVALID) {
        finding_add(out, CERTS_DEFECT, "certificate extensions are malformed");
    }
    check_chain(out, s, now);
    check_days_left(out, cert, "TSA", now);
    for (int i = 0; s->chain != NULL && i < sk_X509_num(s->chain); i++) {
        check_days_left(out, sk_X509_value(s->chain, i), "chain", now);
    }
    nt_error_clear();
done:
    return error;
}

int certs_signer_check(const certs_signer *s, time_t now)
{
    certs_findings f;
    int error = 0;

    NT_TRY(certs_signer_inspect(&f, s, now));
    for (size_t i = 0; i < f.count; i++) {
        if (f.item[i].severity == CERTS_DEFECT) {
            return nt_error_set(NT_EINVAL, "%s", f.item[i].text);
        }
    }
done:
    return error;
}
