/*
 * audit_tokens.c - the auditor's token checks (nt_mirror library): each
 * token's CMS signature, ESS signing-certificate attribute and signer chain
 * against the --trust anchors, verified by a pool of worker threads and
 * merged back in entry order (audit.c submits, audit_int.h is the contract).
 */
#include "ledger/audit_int.h"
#include "ledger/sm2.h"

#include <inttypes.h>
#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ tokens
 *
 * Why not TS_RESP_verify_token per token: it parses the certificates every
 * token carries (in OpenSSL 3.0 each public key goes through the provider
 * decoder framework, by far the dominant cost) and rebuilds and re-verifies
 * the certificate chain every time, about 1,700 tokens/s on one core.  A TSA
 * signs millions of tokens with the same few certificates, so here:
 *
 *  - the `certificates` field is cut out of the token's DER before parsing,
 *    and parsed once per distinct byte string;
 *  - the chain of each distinct signer certificate (with those certificates)
 *    is validated once, against the --trust anchors parsed once, for the
 *    time-stamping purpose and without a time check; what stays per token is
 *    the check that genTime lies in every certificate's validity period (the
 *    same verdict X509_verify_cert would give at genTime), the ESS
 *    signing-certificate attribute, and the CMS signature itself;
 *  - tokens are verified by a pool of worker threads, one per core, each with
 *    its own cache; the replay collects the results in entry order, so the
 *    first failure reported is the lowest entry that fails, every run.
 *
 * The per-token checks are those TS_RESP_verify_token makes with
 * TS_VFY_SIGNATURE: exactly one SignerInfo, the signer's chain to an anchor
 * with the timestamping purpose, RFC 5035/2634 signing-certificate(-v2)
 * matching the chain, and the signature over the signed attributes whose
 * messageDigest covers the TSTInfo.
 */

#define SIGNER_CACHE_MAX 16
#define AUDIT_TRUST_MAX  (16u << 20) /* a --trust PEM bundle */
#define POOL_SLOTS       1024u
#define POOL_MAX_WORKERS 64
/* A signer certificate whose chain to an anchor verified, with the certificates it came with. */
typedef struct signer_entry {
    nt_buf certs_der;             /* the token's certificates field, byte for byte */
    STACK_OF(X509) * chain;       /* verified chain, signer first */
    time_t not_before, not_after; /* the intersection of the chain's validity periods */
} signer_entry;

/* What the --trust file gave: shared read-only by the workers. */
struct audit__trust {
    X509_STORE *store;      /* the self-signed anchors */
    STACK_OF(X509) * extra; /* the other certificates: chain helpers */
};

/* One worker's verifier: its own cache, so workers never lock each other. */
typedef struct token_verifier {
    const audit__trust *trust;
    signer_entry cache[SIGNER_CACHE_MAX];
    size_t cached;
    nt_buf stripped;
} token_verifier;

static void token_verifier_dispose(token_verifier *tv)
{
    for (size_t i = 0; i < tv->cached; i++) {
        nt_buf_dispose(&tv->cache[i].certs_der);
        sk_X509_pop_free(tv->cache[i].chain, X509_free);
    }
    tv->cached = 0;
    nt_buf_dispose(&tv->stripped);
}

/* A failure reason, truncated to fit (a reason is for people, not parsed). */
static void whyf(char *why, size_t len, const char *fmt, ...) NT_PRINTF(3, 4);
static void whyf(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
}

static void ossl_why(char *why, size_t len, const char *what)
{
    char buf[256];
    unsigned long e = ERR_peek_last_error();
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    whyf(why, len, "%s%s%s", what, e != 0 ? ": " : "", e != 0 ? buf : "");
}

static int asn1_time_t(time_t *out, const ASN1_TIME *t)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        return NT_EINVAL;
    }
    *out = timegm(&tm);
    return 0;
}

static int cert_matches(X509 *x, const PKCS7_ISSUER_AND_SERIAL *ias)
{
    return X509_NAME_cmp(X509_get_issuer_name(x), ias->issuer) == 0 &&
           ASN1_INTEGER_cmp(X509_get0_serialNumber(x), ias->serial) == 0;
}

/* Parse the certificates field (each a plain Certificate), or take the whole token's:
 * NT_EVERIFY when they do not parse, NT_ENOMEM when the stack cannot be built. */
static int certs_parse(STACK_OF(X509) * *out, nt_bytes der, PKCS7 *whole)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    if (sk == NULL) {
        return nt_error_set(NT_ENOMEM, "out of memory (certificate stack)");
    }
    if (whole != NULL) {
        STACK_OF(X509) *in = whole->d.sign->cert;
        for (int i = 0; in != NULL && i < sk_X509_num(in); i++) {
            X509 *x = sk_X509_value(in, i);
            if (!X509_up_ref(x) || !sk_X509_push(sk, x)) {
                sk_X509_pop_free(sk, X509_free);
                return nt_error_set(NT_ENOMEM, "out of memory (certificate stack)");
            }
        }
    }
    for (size_t off = 0; off < der.len;) {
        uint8_t tag;
        size_t h, n;
        const unsigned char *p = der.ptr + off;
        if (audit__der_tlv(der.ptr + off, der.len - off, &tag, &h, &n) < 0 || tag != 0x30) {
            sk_X509_pop_free(sk, X509_free);
            return NT_EVERIFY;
        }
        X509 *x = d2i_X509(NULL, &p, (long)(h + n));
        if (x == NULL || p != der.ptr + off + h + n || !sk_X509_push(sk, x)) {
            X509_free(x);
            sk_X509_pop_free(sk, X509_free);
            return NT_EVERIFY;
        }
        off += h + n;
    }
    if (sm2_certs_default_id(sk) < 0) { /* SM2-signed certificates: ledger/sm2.h */
        sk_X509_pop_free(sk, X509_free);
        return NT_ENOMEM;
    }
    *out = sk;
    return 0;
}

/*
 * Validate the chain of the signer named by `ias` among `certs` and the trust
 * file's other certificates; on success fill `e` (chain and validity window).
 * NT_EVERIFY with `why` when it does not validate, NT_ENOMEM when out of memory.
 */
static int signer_validate(signer_entry *e, char *why, size_t whylen, const audit__trust *trust,
                           STACK_OF(X509) * certs, const PKCS7_ISSUER_AND_SERIAL *ias)
{
    int ok = NT_EVERIFY;
    X509 *signer = NULL;
    STACK_OF(X509) *untrusted = NULL;
    X509_STORE_CTX *ctx = NULL;
    for (int i = 0; signer == NULL && i < sk_X509_num(certs); i++) {
        signer = cert_matches(sk_X509_value(certs, i), ias) ? sk_X509_value(certs, i) : NULL;
    }
    for (int i = 0; signer == NULL && i < sk_X509_num(trust->extra); i++) {
        signer = cert_matches(sk_X509_value(trust->extra, i), ias) ? sk_X509_value(trust->extra, i)
                                                                   : NULL;
    }
    if (signer == NULL) {
        whyf(why, whylen, "the signer's certificate is neither in the token nor in --trust");
        goto done;
    }
    untrusted = sk_X509_dup(trust->extra);
    ctx = X509_STORE_CTX_new();
    if (untrusted == NULL || ctx == NULL) {
        ERR_clear_error();
        ok = nt_error_set(NT_ENOMEM, "out of memory (certificate chain)");
        goto done;
    }
    for (int i = 0; i < sk_X509_num(certs); i++) {
        if (!sk_X509_push(untrusted, sk_X509_value(certs, i))) {
            ERR_clear_error();
            ok = nt_error_set(NT_ENOMEM, "out of memory (certificate chain)");
            goto done;
        }
    }
    if (X509_STORE_CTX_init(ctx, trust->store, signer, untrusted) != 1) {
        ossl_why(why, whylen, "X509_STORE_CTX_init");
        goto done;
    }
    /* OpenSSL's ts_verify_cert does the same: the TSA certificate must be fit for
     * time-stamping (RFC 3161 2.3: extended key usage id-kp-timeStamping, critical). */
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_TIMESTAMP_SIGN);
    X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_NO_CHECK_TIME);
    if (X509_verify_cert(ctx) != 1) {
        ERR_clear_error();
        whyf(why, whylen, "certificate verify error: %s",
             X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        goto done;
    }
    e->chain = X509_STORE_CTX_get1_chain(ctx);
    if (e->chain == NULL) {
        ossl_why(why, whylen, "X509_STORE_CTX_get1_chain");
        goto done;
    }
    e->not_before = 0;
    e->not_after = (time_t)INT64_MAX;
    for (int i = 0; i < sk_X509_num(e->chain); i++) {
        X509 *x = sk_X509_value(e->chain, i);
        time_t nb, na;
        if (asn1_time_t(&nb, X509_get0_notBefore(x)) < 0 ||
            asn1_time_t(&na, X509_get0_notAfter(x)) < 0) {
            whyf(why, whylen, "a certificate of the chain has an unreadable validity period");
            goto done;
        }
        e->not_before = nb > e->not_before ? nb : e->not_before;
        e->not_after = na < e->not_after ? na : e->not_after;
    }
    ok = 0;
done:
    if (ok < 0 && e->chain != NULL) {
        sk_X509_pop_free(e->chain, X509_free);
        e->chain = NULL;
    }
    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted);
    return ok;
}

/* The ESS signing-certificate attribute(s) must name the signer (and only chain members). */
static int ess_check(char *why, size_t whylen, PKCS7_SIGNER_INFO *si, STACK_OF(X509) * chain)
{
    ESS_SIGNING_CERT *ss = NULL;
    ESS_SIGNING_CERT_V2 *ssv2 = NULL;
    ASN1_TYPE *a = PKCS7_get_signed_attribute(si, NID_id_smime_aa_signingCertificate);
    if (a != NULL && a->type == V_ASN1_SEQUENCE) {
        const unsigned char *p = a->value.sequence->data;
        ss = d2i_ESS_SIGNING_CERT(NULL, &p, a->value.sequence->length);
    }
    a = PKCS7_get_signed_attribute(si, NID_id_smime_aa_signingCertificateV2);
    if (a != NULL && a->type == V_ASN1_SEQUENCE) {
        const unsigned char *p = a->value.sequence->data;
        ssv2 = d2i_ESS_SIGNING_CERT_V2(NULL, &p, a->value.sequence->length);
    }
    int ok = OSSL_ESS_check_signing_certs(ss, ssv2, chain, 1) > 0 ? 0 : -1;
    if (ok < 0) {
        ossl_why(why, whylen, "the signing-certificate attribute does not match the signer");
    }
    ESS_SIGNING_CERT_free(ss);
    ESS_SIGNING_CERT_V2_free(ssv2);
    return ok;
}

/*
 * The signer entry of a token whose certificates field is `certs_der` (`whole`:
 * the token parsed whole, its certificates not cut out; never cached) and
 * whose SignerInfo is `si`: from tv's cache, or parsed and validated into
 * *tmp and cached when there is room.  NT_EVERIFY with `why` (prefixed by
 * `sig`) when it does not validate; NT_ENOMEM when out of memory.
 */
static int signer_find(signer_entry **out, signer_entry *tmp, char *why, size_t whylen,
                       token_verifier *tv, nt_bytes certs_der, PKCS7 *whole, PKCS7_SIGNER_INFO *si,
                       const char *sig)
{
    int ok = NT_EVERIFY, rc;
    STACK_OF(X509) *certs = NULL;
    char inner[256];
    for (size_t i = 0; whole == NULL && i < tv->cached; i++) {
        signer_entry *c = &tv->cache[i];
        if (c->certs_der.len == certs_der.len &&
            (certs_der.len == 0 || memcmp(c->certs_der.ptr, certs_der.ptr, certs_der.len) == 0) &&
            cert_matches(sk_X509_value(c->chain, 0), si->issuer_and_serial)) {
            *out = c;
            return 0;
        }
    }
    rc = certs_parse(&certs, certs_der, whole);
    if (rc < 0 && rc != NT_EVERIFY) {
        ok = rc;
        goto done;
    }
    if (rc < 0) {
        ERR_clear_error();
        whyf(why, whylen, "%s: its certificates cannot be parsed", sig);
        goto done;
    }
    rc = signer_validate(tmp, inner, sizeof(inner), tv->trust, certs, si->issuer_and_serial);
    if (rc < 0 && rc != NT_EVERIFY) {
        ok = rc;
        goto done;
    }
    if (rc < 0) {
        whyf(why, whylen, "%s: %s", sig, inner);
        goto done;
    }
    *out = tmp;
    if (whole == NULL && tv->cached < SIGNER_CACHE_MAX &&
        nt_buf_set(&tv->cache[tv->cached].certs_der, certs_der.ptr, certs_der.len) == 0) {
        tv->cache[tv->cached].chain = tmp->chain;
        tv->cache[tv->cached].not_before = tmp->not_before;
        tv->cache[tv->cached].not_after = tmp->not_after;
        tmp->chain = NULL;
        *out = &tv->cache[tv->cached++];
    }
    ok = 0;
done:
    sk_X509_pop_free(certs, X509_free);
    return ok;
}

/*
 * Verify one token against the leaf's digest; 0, NT_EVERIFY with `why` (no
 * entry prefix) filled when a check fails, or another code (NT_ENOMEM) with the
 * thread's error message when the check could not be made.  Thread-safe across
 * verifiers sharing one audit__trust.
 */
static int token_verify(char *why, size_t whylen, token_verifier *tv, const uint8_t *tok,
                        size_t len, record_alg alg, const uint8_t *digest, size_t dlen)
{
    int ok = NT_EVERIFY, whole = 0, rc;
    nt_bytes certs_der;
    PKCS7 *p7 = NULL;
    TS_TST_INFO *tst = NULL;
    signer_entry tmp, *e = NULL;
    BIO *bio = NULL;
    memset(&tmp, 0, sizeof(tmp));

    int stripped = 0;
    rc = audit__token_split(&certs_der, &stripped, &tv->stripped, tok, len);
    if (rc < 0) {
        ok = rc;
        goto done;
    }
    if (rc > 0) {
        whole = 1; /* not laid out as we expect: let OpenSSL parse it all */
        certs_der = NT_BYTES(NULL, 0);
    }
    const unsigned char *p = stripped ? tv->stripped.ptr : tok;
    const unsigned char *end = p + (stripped ? tv->stripped.len : len);
    p7 = d2i_PKCS7(NULL, &p, (long)(end - p));
    if (p7 == NULL || p != end || (whole && p != tok + len)) {
        ERR_clear_error();
        whyf(why, whylen, "the token is not one DER ContentInfo");
        goto done;
    }
    tst = PKCS7_to_TS_TST_INFO(p7);
    if (tst == NULL) {
        ERR_clear_error();
        whyf(why, whylen, "the token holds no TSTInfo");
        goto done;
    }
    TS_MSG_IMPRINT *mi = TS_TST_INFO_get_msg_imprint(tst);
    ASN1_OCTET_STRING *md = TS_MSG_IMPRINT_get_msg(mi);
    if (OBJ_obj2nid(TS_MSG_IMPRINT_get_algo(mi)->algorithm) != record_alg_nid(alg) ||
        (size_t)ASN1_STRING_length(md) != dlen ||
        memcmp(ASN1_STRING_get0_data(md), digest, dlen) != 0) {
        whyf(why, whylen, "the token's message imprint is not the leaf's digest");
        goto done;
    }
    const char *sig = "the token's signature does not verify against --trust";
    STACK_OF(PKCS7_SIGNER_INFO) *sis = PKCS7_get_signer_info(p7);
    if (sis == NULL || sk_PKCS7_SIGNER_INFO_num(sis) != 1) {
        whyf(why, whylen, "%s: it must have exactly one signer", sig);
        goto done;
    }
    PKCS7_SIGNER_INFO *si = sk_PKCS7_SIGNER_INFO_value(sis, 0);
    time_t gen;
    if (asn1_time_t(&gen, TS_TST_INFO_get_time(tst)) < 0) {
        whyf(why, whylen, "the token's genTime cannot be read");
        goto done;
    }

    rc = signer_find(&e, &tmp, why, whylen, tv, certs_der, whole ? p7 : NULL, si, sig);
    if (rc < 0) {
        ok = rc;
        goto done;
    }
    /* Certificates expire; a token is judged at the time it states it was made
     * (what X509_verify_cert would decide with the verification time = genTime). */
    if (gen < e->not_before || gen > e->not_after) {
        whyf(why, whylen, "%s: certificate verify error: %s at the token's genTime", sig,
             gen < e->not_before ? "certificate is not yet valid" : "certificate has expired");
        goto done;
    }
    char inner[256];
    if (ess_check(inner, sizeof(inner), si, e->chain) < 0) {
        whyf(why, whylen, "%s: %s", sig, inner);
        goto done;
    }
    if (sm2_signer_info_is(si)) { /* OpenSSL's PKCS7 code cannot check SM2: ledger/sm2.h */
        nt_bytes content;
        rc = sm2_econtent(&content, p7);
        if (rc == 0) {
            rc = sm2_signer_verify(si, sk_X509_value(e->chain, 0), content, NULL);
        }
        if (rc == NT_EVERIFY || rc == NT_EINVAL) {
            whyf(why, whylen, "%s: %s", sig, nt_error_last());
            nt_error_clear();
        }
        ok = rc == NT_EVERIFY || rc == NT_EINVAL ? NT_EVERIFY : rc;
        goto done;
    }
    bio = PKCS7_dataInit(p7, NULL);
    if (bio == NULL) {
        ossl_why(inner, sizeof(inner), "PKCS7_dataInit");
        whyf(why, whylen, "%s: %s", sig, inner);
        goto done;
    }
    char buf[4096];
    while (BIO_read(bio, buf, sizeof(buf)) > 0) {
    }
    if (PKCS7_signatureVerify(bio, p7, si, sk_X509_value(e->chain, 0)) != 1) {
        ossl_why(inner, sizeof(inner), "bad signature");
        whyf(why, whylen, "%s: %s", sig, inner);
        goto done;
    }
    ok = 0;
done:
    BIO_free_all(bio);
    sk_X509_pop_free(tmp.chain, X509_free);
    TS_TST_INFO_free(tst);
    PKCS7_free(p7);
    return ok;
}

static int trust_load(audit__trust *t, const char *path)
{
    int error = 0;
    nt_buf pem = NT_BUF_INIT, name = NT_BUF_INIT;
    STACK_OF(X509) *certs = NULL;
    X509 *cert = NULL;
    size_t anchors = 0;
    NT_TRY(nt_buf_printf(&name, "--trust %s", path));
    NT_TRY(nt_file_read(&pem, path, AUDIT_TRUST_MAX));
    NT_TRY(nt_x509_pem_certs(&certs, nt_buf_bytes(&pem), nt_buf_cstr(&name))); /* util/x509.c */
    NT_OSSL_PTR(t->store = X509_STORE_new(), "X509_STORE_new");
    NT_OSSL_PTR(t->extra = sk_X509_new_null(), "sk_X509_new_null");
    while ((cert = sk_X509_shift(certs)) != NULL) {
        NT_TRY(sm2_cert_default_id(cert));
        /* Self-signed certificates are the anchors; the others (a TSA certificate,
         * intermediates) only help build chains for tokens that carry no certificates. */
        if (X509_check_issued(cert, cert) == X509_V_OK) {
            NT_OSSL(X509_STORE_add_cert(t->store, cert), "--trust %s", path);
            X509_free(cert);
            anchors++;
        } else {
            NT_OSSL(sk_X509_push(t->extra, cert), "sk_X509_push");
        }
        cert = NULL;
    }
    NT_ENSURE(anchors > 0, NT_EINVAL, "--trust %s: no self-signed (root) certificate in it", path);
done:
    X509_free(cert);
    sk_X509_pop_free(certs, X509_free);
    nt_buf_dispose(&pem);
    nt_buf_dispose(&name);
    return error;
}

static void trust_dispose(audit__trust *t)
{
    X509_STORE_free(t->store);
    sk_X509_pop_free(t->extra, X509_free);
    t->store = NULL;
    t->extra = NULL;
}

/* ------------------------------------------------------------------ the worker pool */

typedef struct token_job {
    uint64_t index;  /* leaf index */
    char commit[13]; /* the commit it was read from, for the message */
    record_alg alg;
    uint8_t digest[RECORD_MAX_DIGEST];
    size_t dlen;
    nt_buf token;       /* a copy: the bundle buffer moves on */
    int done, failed;   /* failed: token_verify's code (0, NT_EVERIFY, NT_ENOMEM ...) */
    char why[512];      /* NT_EVERIFY: the check that failed */
    nt_error_state err; /* any other code: the worker's error, carried whole */
} token_job;

struct audit__pool {
    pthread_mutex_t mu;
    pthread_cond_t work;     /* workers wait for jobs */
    pthread_cond_t finished; /* the replay waits for results */
    token_job *slots;        /* POOL_SLOTS, a ring indexed by job number */
    uint64_t submitted, claimed, harvested;
    int stop;
    unsigned nworkers, next_id;
    pthread_t threads[POOL_MAX_WORKERS];
    token_verifier verifiers[POOL_MAX_WORKERS];
    uint64_t verified; /* tokens that verified, counted at harvest */
    int failed;        /* a harvested job failed: first_fail holds it */
    token_job first_fail;
};

static void *pool_worker(void *arg)
{
    audit__pool *pool = arg;
    nt_thread_name("nt-audit");
    pthread_mutex_lock(&pool->mu);
    unsigned me = pool->next_id++;
    for (;;) {
        while (!pool->stop && pool->claimed == pool->submitted) {
            pthread_cond_wait(&pool->work, &pool->mu);
        }
        if (pool->claimed == pool->submitted) {
            break;
        }
        token_job *j = &pool->slots[pool->claimed++ % POOL_SLOTS];
        pthread_mutex_unlock(&pool->mu);
        int rc = token_verify(j->why, sizeof(j->why), &pool->verifiers[me], j->token.ptr,
                              j->token.len, j->alg, j->digest, j->dlen);
        /* out of memory is not "the token failed": keep the worker's code and message */
        nt_error_state_capture(&j->err, rc < 0 && rc != NT_EVERIFY ? rc : 0);
        pthread_mutex_lock(&pool->mu);
        j->failed = rc;
        j->done = 1;
        pthread_cond_broadcast(&pool->finished);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

void audit__pool_stop(audit__pool *pool)
{
    if (pool == NULL) {
        return;
    }
    pthread_mutex_lock(&pool->mu);
    pool->stop = 1;
    pthread_cond_broadcast(&pool->work);
    pthread_mutex_unlock(&pool->mu);
    for (unsigned i = 0; i < pool->nworkers; i++) {
        pthread_join(pool->threads[i], NULL);
    }
    for (unsigned i = 0; i < POOL_MAX_WORKERS; i++) {
        token_verifier_dispose(&pool->verifiers[i]);
    }
    if (pool->slots != NULL) {
        for (unsigned i = 0; i < POOL_SLOTS; i++) {
            nt_buf_dispose(&pool->slots[i].token);
        }
    }
    nt_free(pool->slots);
    pthread_cond_destroy(&pool->work);
    pthread_cond_destroy(&pool->finished);
    pthread_mutex_destroy(&pool->mu);
    nt_free(pool);
}

/* One worker per online core (NT_AUDIT_THREADS overrides, for measurements). */
int audit__pool_start(audit__pool **out, const audit__trust *trust)
{
    int error = 0;
    audit__pool *pool = nt_calloc(1, sizeof(*pool));
    NT_ENSURE(pool != NULL, NT_ENOMEM, "out of memory");
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->work, NULL);
    pthread_cond_init(&pool->finished, NULL);
    pool->slots = nt_calloc(POOL_SLOTS, sizeof(*pool->slots));
    NT_ENSURE(pool->slots != NULL, NT_ENOMEM, "out of memory");
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    const char *env = getenv("NT_AUDIT_THREADS");
    if (env != NULL && atoi(env) > 0) {
        n = atoi(env);
    }
    n = n < 1 ? 1 : n > POOL_MAX_WORKERS ? POOL_MAX_WORKERS : n;
    for (unsigned i = 0; i < POOL_MAX_WORKERS; i++) {
        pool->verifiers[i].trust = trust;
    }
    pthread_mutex_lock(&pool->mu);
    for (unsigned i = 0; i < (unsigned)n; i++) {
        int rc = pthread_create(&pool->threads[i], NULL, pool_worker, pool);
        if (rc != 0) {
            pthread_mutex_unlock(&pool->mu);
            error = nt_error_set(NT_ENOMEM, "audit: cannot start a token worker: %s", strerror(rc));
            goto done;
        }
        pool->nworkers++;
    }
    pthread_mutex_unlock(&pool->mu);
    *out = pool;
    pool = NULL;
done:
    audit__pool_stop(pool);
    return error;
}

/* Collect finished jobs in submission order (mu held). */
static void pool_harvest_locked(audit__pool *pool)
{
    while (pool->harvested < pool->submitted) {
        token_job *j = &pool->slots[pool->harvested % POOL_SLOTS];
        if (!j->done) {
            break;
        }
        if (j->failed && !pool->failed) {
            pool->failed = 1;
            pool->first_fail.index = j->index;
            pool->first_fail.failed = j->failed;
            pool->first_fail.err = j->err;
            memcpy(pool->first_fail.commit, j->commit, sizeof(j->commit));
            memcpy(pool->first_fail.why, j->why, sizeof(j->why));
        } else if (!j->failed) {
            pool->verified++;
        }
        pool->harvested++;
    }
}

/* The lowest failing entry as the audit's error: NT_EVERIFY, or the worker's own code and
 * message restored (NT_ENOMEM: the audit could not be done, nothing was found wrong); or 0. */
static int pool_error(audit__pool *pool)
{
    if (!pool->failed) {
        return 0;
    }
    if (pool->first_fail.failed != NT_EVERIFY) {
        int code = nt_error_state_restore(&pool->first_fail.err);
        return nt_error_set(code, "commit %.12s: entry %" PRIu64 ": %s", pool->first_fail.commit,
                            pool->first_fail.index, nt_error_last());
    }
    return nt_error_set(NT_EVERIFY, "commit %.12s: entry %" PRIu64 ": %s", pool->first_fail.commit,
                        pool->first_fail.index, pool->first_fail.why);
}

/* Queue one token; NT_EVERIFY as soon as an earlier token is known to have failed. */
int audit__pool_submit(audit__pool *pool, const char *commit_hex, uint64_t index, const record *rec)
{
    int error = 0;
    pthread_mutex_lock(&pool->mu);
    pool_harvest_locked(pool);
    while (!pool->failed && pool->submitted - pool->harvested == POOL_SLOTS) {
        pthread_cond_wait(&pool->finished, &pool->mu);
        pool_harvest_locked(pool);
    }
    if (pool->failed) {
        pthread_mutex_unlock(&pool->mu);
        return pool_error(pool);
    }
    token_job *j = &pool->slots[pool->submitted % POOL_SLOTS];
    pthread_mutex_unlock(&pool->mu);
    /* the slot is ours until `submitted` moves past it */
    j->index = index;
    snprintf(j->commit, sizeof(j->commit), "%.12s", commit_hex);
    j->alg = rec->alg;
    j->dlen = rec->digest.len <= sizeof(j->digest) ? rec->digest.len : sizeof(j->digest);
    memcpy(j->digest, rec->digest.ptr, j->dlen);
    j->done = j->failed = 0;
    j->why[0] = '\0';
    error = nt_buf_set(&j->token, rec->token.ptr, rec->token.len);
    if (error < 0) {
        return error;
    }
    pthread_mutex_lock(&pool->mu);
    pool->submitted++;
    pthread_cond_signal(&pool->work);
    pthread_mutex_unlock(&pool->mu);
    return 0;
}

/* Wait for every queued token and collect the results. */
static void pool_wait(audit__pool *pool)
{
    pthread_mutex_lock(&pool->mu);
    pool_harvest_locked(pool);
    while (pool->harvested < pool->submitted) {
        pthread_cond_wait(&pool->finished, &pool->mu);
        pool_harvest_locked(pool);
    }
    pthread_mutex_unlock(&pool->mu);
}

/* Wait for every queued token; NT_EVERIFY naming the lowest failing entry, else 0. */
int audit__pool_drain(audit__pool *pool)
{
    if (pool == NULL) {
        return 0;
    }
    pool_wait(pool);
    return pool_error(pool);
}

uint64_t audit__pool_finish(audit__pool *pool)
{
    if (pool == NULL) {
        return 0;
    }
    pool_wait(pool);
    return pool->verified;
}

int audit__trust_add_token_certs(audit__trust *t, nt_bytes token)
{
    const unsigned char *p = token.ptr;
    PKCS7 *p7 = d2i_PKCS7(NULL, &p, (long)token.len);
    STACK_OF(X509) *in = p7 != NULL && PKCS7_type_is_signed(p7) ? p7->d.sign->cert : NULL;
    int error = 0;

    /* Chain helpers only, like --trust's non-root certificates: a chain still has to end
     * at an anchor of --trust, so a certificate leaf cannot make anything trusted. */
    for (int i = 0; in != NULL && i < sk_X509_num(in); i++) {
        X509 *x = sk_X509_value(in, i);
        int known = X509_check_issued(x, x) == X509_V_OK;
        for (int j = 0; !known && j < sk_X509_num(t->extra); j++) {
            known = X509_cmp(sk_X509_value(t->extra, j), x) == 0;
        }
        if (!known) {
            NT_OSSL(X509_up_ref(x), "X509_up_ref");
            if (!sk_X509_push(t->extra, x)) {
                X509_free(x);
                NT_ENSURE(0, NT_ENOMEM, "out of memory (certificate stack)");
            }
        }
    }
done:
    ERR_clear_error();
    PKCS7_free(p7);
    return error;
}

int audit__trust_load(audit__trust **out, const char *path)
{
    int error = 0;
    audit__trust *t = nt_calloc(1, sizeof(*t));
    NT_ENSURE(t != NULL, NT_ENOMEM, "out of memory");
    NT_TRY(trust_load(t, path));
    *out = t;
    t = NULL;
done:
    audit__trust_free(t);
    return error;
}

void audit__trust_free(audit__trust *t)
{
    if (t != NULL) {
        trust_dispose(t);
        nt_free(t);
    }
}
