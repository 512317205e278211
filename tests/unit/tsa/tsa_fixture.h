/*
 * tsa_fixture.h - shared by the TSA core's unit tests (tests/unit/tsa/):
 * a development PKI per key type made with certs_pki_init in a temporary
 * directory, TimeStampReq building through OpenSSL's own TS API (so our
 * parser is tested against an independent encoder), the two independent
 * verifiers (TS_RESP_verify_response and the `openssl ts -verify` command),
 * an injectable clock and clock-sync probe, and clean-up.
 */
#ifndef NT_TSA_FIXTURE_H
#define NT_TSA_FIXTURE_H

#include "tests/unit/certs/certs_fixture.h" /* fx_rm_rf, fx_run */
#include "tsa/tsa.h"

#include <ftw.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ts.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

#define FX_POLICY  "1.3.6.1.4.1.99999.1.1"
#define FX_POLICY2 "1.3.6.1.4.1.99999.1.2"

/* One development PKI: dir/{ca.pem,tsa.pem,tsa.key,...} and the loaded signer. */
typedef struct fx_pki {
    char dir[512];
    char ca_path[600];
    char tsa_path[600];
    certs_signer *signer;
} fx_pki;

static NT_UNUSED void fx_pki_make(fx_pki *p, certs_key_type type)
{
    certs_pki_options o;
    char key[600];

    memset(p, 0, sizeof(*p));
    REQUIRE(test_tmpdir(p->dir, sizeof(p->dir)) != NULL);
    memset(&o, 0, sizeof(o));
    o.dir = p->dir;
    o.tsa_key = type;
    o.log_origin = "test.notarium.example/log";
    REQUIRE(certs_pki_init(&o) == 0);
    snprintf(p->ca_path, sizeof(p->ca_path), "%s/ca.pem", p->dir);
    snprintf(p->tsa_path, sizeof(p->tsa_path), "%s/tsa.pem", p->dir);
    snprintf(key, sizeof(key), "%s/tsa.key", p->dir);
    REQUIRE(certs_signer_load_pem(&p->signer, p->tsa_path, key, NULL, p->ca_path) == 0);
}

static NT_UNUSED void fx_pki_free(fx_pki *p)
{
    certs_signer_free(p->signer);
    p->signer = NULL;
    if (p->dir[0] != '\0') {
        fx_rm_rf(p->dir);
    }
}

static NT_UNUSED void fx_config(tsa_config *cfg)
{
    tsa_config_init(cfg);
    cfg->policy = FX_POLICY;
    cfg->allow_unsynced_clock = 0;
}

/* What to put into a TimeStampReq. */
typedef struct fx_req {
    int nid;            /* imprint algorithm; 0 = sha256 */
    int digest_len;     /* -1 = the algorithm's size */
    int params;         /* 0 absent, 1 NULL, 2 an INTEGER (invalid) */
    long version;       /* 0 = 1 */
    const char *policy; /* NULL = none */
    int nonce_bytes;    /* 0 = no nonce */
    int cert_req;
    const char *ext_oid; /* one extension with this OID, NULL = none */
} fx_req;

static NT_UNUSED fx_req fx_req_default(void)
{
    fx_req r;
    memset(&r, 0, sizeof(r));
    r.nid = NID_sha256;
    r.digest_len = -1;
    r.nonce_bytes = 8;
    r.cert_req = 1;
    return r;
}

/* Build with OpenSSL's TS API; DER into der, the object into *req_out (may be NULL). */
static NT_UNUSED void fx_request(nt_buf *der, TS_REQ **req_out, const fx_req *o)
{
    TS_REQ *req = TS_REQ_new();
    TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
    X509_ALGOR *algo = X509_ALGOR_new();
    unsigned char digest[128];
    unsigned char *p = NULL;
    int nid = o->nid != 0 ? o->nid : NID_sha256;
    int len = o->digest_len;
    int n;

    REQUIRE(req != NULL && mi != NULL && algo != NULL);
    if (len < 0) {
        const EVP_MD *md = EVP_get_digestbynid(nid);
        len = md != NULL ? EVP_MD_get_size(md) : 32;
    }
    REQUIRE(len <= (int)sizeof(digest));
    REQUIRE(RAND_bytes(digest, (int)sizeof(digest)) == 1);
    REQUIRE(TS_REQ_set_version(req, o->version != 0 ? o->version : 1) == 1);
    if (o->params == 2) {
        ASN1_INTEGER *i = ASN1_INTEGER_new();
        REQUIRE(i != NULL && ASN1_INTEGER_set(i, 7) == 1);
        REQUIRE(X509_ALGOR_set0(algo, OBJ_nid2obj(nid), V_ASN1_INTEGER, i) == 1);
    } else {
        REQUIRE(X509_ALGOR_set0(algo, OBJ_nid2obj(nid), o->params == 1 ? V_ASN1_NULL : V_ASN1_UNDEF,
                                NULL) == 1);
    }
    REQUIRE(TS_MSG_IMPRINT_set_algo(mi, algo) == 1);
    REQUIRE(TS_MSG_IMPRINT_set_msg(mi, digest, len) == 1);
    REQUIRE(TS_REQ_set_msg_imprint(req, mi) == 1);
    if (o->policy != NULL) {
        ASN1_OBJECT *pol = OBJ_txt2obj(o->policy, 1);
        REQUIRE(pol != NULL && TS_REQ_set_policy_id(req, pol) == 1);
        ASN1_OBJECT_free(pol);
    }
    if (o->nonce_bytes > 0) {
        unsigned char nb[128];
        BIGNUM *bn;
        ASN1_INTEGER *nonce;
        REQUIRE(o->nonce_bytes <= (int)sizeof(nb));
        REQUIRE(RAND_bytes(nb, o->nonce_bytes) == 1);
        nb[0] |= 0x80; /* exactly nonce_bytes of magnitude */
        bn = BN_bin2bn(nb, o->nonce_bytes, NULL);
        nonce = BN_to_ASN1_INTEGER(bn, NULL);
        REQUIRE(nonce != NULL && TS_REQ_set_nonce(req, nonce) == 1);
        ASN1_INTEGER_free(nonce);
        BN_free(bn);
    }
    REQUIRE(TS_REQ_set_cert_req(req, o->cert_req) == 1);
    if (o->ext_oid != NULL) {
        ASN1_OBJECT *obj = OBJ_txt2obj(o->ext_oid, 1);
        ASN1_OCTET_STRING *val = ASN1_OCTET_STRING_new();
        X509_EXTENSION *ext;
        REQUIRE(obj != NULL && val != NULL &&
                ASN1_OCTET_STRING_set(val, (const unsigned char *)"\x05\x00", 2) == 1);
        ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, val);
        REQUIRE(ext != NULL && TS_REQ_add_ext(req, ext, -1) == 1);
        X509_EXTENSION_free(ext);
        ASN1_OCTET_STRING_free(val);
        ASN1_OBJECT_free(obj);
    }
    n = i2d_TS_REQ(req, &p);
    REQUIRE(n > 0);
    nt_buf_clear(der);
    REQUIRE(nt_buf_put(der, p, (size_t)n) == 0);
    OPENSSL_free(p);
    X509_ALGOR_free(algo);
    TS_MSG_IMPRINT_free(mi);
    if (req_out != NULL) {
        *req_out = req;
    } else {
        TS_REQ_free(req);
    }
}

/*
 * Independent oracle 1: OpenSSL's TS verifier, with everything the request
 * implies (version, imprint, nonce, policy when asked) plus signature,
 * signer chain to the CA file, and the ESS signing-certificate binding.
 * `untrusted` supplies the TSA certificate when the token carries none.
 * Returns 1 when it verifies.
 */
static NT_UNUSED int fx_ts_verify_flags(nt_bytes resp_der, TS_REQ *req, const char *ca_path,
                                        X509 *untrusted, int signature)
{
    const unsigned char *p = resp_der.ptr;
    TS_RESP *resp = d2i_TS_RESP(NULL, &p, (long)resp_der.len);
    TS_VERIFY_CTX *ctx = NULL;
    X509_STORE *store = NULL;
    int ok = 0;

    if (resp == NULL) {
        goto done;
    }
    ctx = TS_REQ_to_TS_VERIFY_CTX(req, NULL);
    store = X509_STORE_new();
    if (ctx == NULL || store == NULL || X509_STORE_load_file(store, ca_path) != 1) {
        X509_STORE_free(store);
        goto done;
    }
    TS_VERIFY_CTX_set_store(ctx, store); /* the context owns it (OpenSSL 3.0) */
    /* TS_REQ_to_TS_VERIFY_CTX leaves the signature check out; put it back */
    if (signature) {
        TS_VERIFY_CTX_add_flags(ctx, TS_VFY_SIGNATURE);
    }
    if (untrusted != NULL) {
        STACK_OF(X509) *certs = sk_X509_new_null();
        X509_up_ref(untrusted);
        sk_X509_push(certs, untrusted);
        TS_VERIFY_CTX_set_certs(ctx, certs);
    }
    ok = TS_RESP_verify_response(ctx, resp) == 1;
done:
    ERR_clear_error();
    TS_VERIFY_CTX_free(ctx);
    TS_RESP_free(resp);
    return ok;
}

static NT_UNUSED int fx_ts_verify(nt_bytes resp_der, TS_REQ *req, const char *ca_path,
                                  X509 *untrusted)
{
    return fx_ts_verify_flags(resp_der, req, ca_path, untrusted, 1);
}

/*
 * The signature alone, through the CMS API: for RSASSA-PSS tokens, which
 * OpenSSL 3.0's TS verifier cannot check (it verifies through PKCS7, which
 * knows only PKCS#1 v1.5).  The chain must reach ca_path with the
 * timeStamping purpose.  Returns 1 when it verifies.
 */
static NT_UNUSED int fx_cms_verify(nt_bytes token, const char *ca_path, X509 *untrusted)
{
    const unsigned char *p = token.ptr;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)token.len);
    X509_STORE *store = X509_STORE_new();
    STACK_OF(X509) *certs = sk_X509_new_null();
    int ok = 0;

    if (cms != NULL && store != NULL && certs != NULL &&
        X509_STORE_load_file(store, ca_path) == 1) {
        X509_STORE_set_purpose(store, X509_PURPOSE_TIMESTAMP_SIGN);
        if (untrusted != NULL) {
            sk_X509_push(certs, untrusted);
        }
        ok = CMS_verify(cms, certs, store, NULL, NULL, CMS_BINARY) == 1;
    }
    ERR_clear_error();
    sk_X509_free(certs);
    X509_STORE_free(store);
    CMS_ContentInfo_free(cms);
    return ok;
}

/* Write bytes to dir/name; returns the path in a static buffer (one live at a time). */
static NT_UNUSED const char *fx_write(const char *dir, const char *name, nt_bytes b)
{
    static char path[700];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    REQUIRE(f != NULL);
    REQUIRE(b.len == 0 || fwrite(b.ptr, 1, b.len, f) == b.len);
    REQUIRE(fclose(f) == 0);
    return path;
}

/*
 * Independent oracle 2: the `openssl ts -verify` command on files.  Returns
 * its exit status (0 = "Verification: OK"); the output goes into out.
 */
static NT_UNUSED int fx_cli_verify(nt_buf *out, const fx_pki *pki, nt_bytes req_der,
                                   nt_bytes resp_der, int with_untrusted)
{
    char req_path[700], resp_path[700];
    snprintf(req_path, sizeof(req_path), "%s", fx_write(pki->dir, "q.tsq", req_der));
    snprintf(resp_path, sizeof(resp_path), "%s", fx_write(pki->dir, "r.tsr", resp_der));
    return fx_run(out, "openssl ts -verify -queryfile '%s' -in '%s' -CAfile '%s'%s%s%s", req_path,
                  resp_path, pki->ca_path, with_untrusted ? " -untrusted '" : "",
                  with_untrusted ? pki->tsa_path : "", with_untrusted ? "'" : "");
}

/* An injectable clock: a fixed time the test moves by hand. */
typedef struct fx_clock {
    struct timespec now;
} fx_clock;

static NT_UNUSED int fx_clock_fn(struct timespec *out, void *ctx)
{
    *out = ((fx_clock *)ctx)->now;
    return 0;
}

/* An injectable synchronisation probe. */
static NT_UNUSED int fx_sync_fn(nt_clock_status *out, void *ctx)
{
    out->sync = *(nt_clock_sync *)ctx;
    out->max_error_us = 1000;
    out->est_error_us = 100;
    return 0;
}

/* Decode a granted response's TSTInfo (caller frees). */
static NT_UNUSED TS_TST_INFO *fx_tstinfo(nt_bytes resp_der)
{
    const unsigned char *p = resp_der.ptr;
    TS_RESP *resp = d2i_TS_RESP(NULL, &p, (long)resp_der.len);
    TS_TST_INFO *tst = NULL;
    if (resp != NULL && TS_RESP_get_tst_info(resp) != NULL) {
        tst = TS_TST_INFO_dup(TS_RESP_get_tst_info(resp));
    }
    TS_RESP_free(resp);
    return tst;
}

/* The genTime string of a granted response ("" if none). */
static NT_UNUSED void fx_gentime(char *out, size_t cap, nt_bytes resp_der)
{
    TS_TST_INFO *tst = fx_tstinfo(resp_der);
    out[0] = '\0';
    if (tst != NULL) {
        const ASN1_GENERALIZEDTIME *gt = TS_TST_INFO_get_time(tst);
        snprintf(out, cap, "%.*s", ASN1_STRING_length(gt), (const char *)ASN1_STRING_get0_data(gt));
    }
    TS_TST_INFO_free(tst);
}

/* Status and failure bits of any response; fail_bits = OR of 1 << bit. */
static NT_UNUSED int fx_status(nt_bytes resp_der, unsigned long *fail_bits, char *text, size_t cap)
{
    const unsigned char *p = resp_der.ptr;
    TS_RESP *resp = d2i_TS_RESP(NULL, &p, (long)resp_der.len);
    int status = -1;
    *fail_bits = 0;
    if (text != NULL) {
        text[0] = '\0';
    }
    if (resp != NULL && p == resp_der.ptr + resp_der.len) {
        TS_STATUS_INFO *si = TS_RESP_get_status_info(resp);
        const ASN1_BIT_STRING *fi = TS_STATUS_INFO_get0_failure_info(si);
        const STACK_OF(ASN1_UTF8STRING) *txt = TS_STATUS_INFO_get0_text(si);
        status = (int)ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(si));
        for (int b = 0; fi != NULL && b < 32; b++) {
            if (ASN1_BIT_STRING_get_bit(fi, b)) {
                *fail_bits |= 1ul << b;
            }
        }
        if (text != NULL && txt != NULL && sk_ASN1_UTF8STRING_num(txt) > 0) {
            ASN1_UTF8STRING *s = sk_ASN1_UTF8STRING_value(txt, 0);
            snprintf(text, cap, "%.*s", ASN1_STRING_length(s),
                     (const char *)ASN1_STRING_get0_data(s));
        }
    }
    TS_RESP_free(resp);
    return status;
}

#endif
