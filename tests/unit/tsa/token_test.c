/*
 * token_test.c - tsa/token.c: tokens for every accepted imprint algorithm
 * and every TSA key type (EC P-256, P-384, RSA-2048 PKCS#1 v1.5 and PSS),
 * each checked by two independent verifiers (OpenSSL's TS_RESP_verify_response
 * and the `openssl ts -verify` command), with negative twins (tampered
 * signature, other imprint, other nonce, missing certificate); the token
 * profile field by field: certReq, nonce echo, policy, genTime precision
 * without trailing zeros, accuracy, ordering, tsa name, signed attributes
 * (ESSCertIDv2 = SHA-256 of the certificate, signingTime = genTime),
 * signature algorithms; tsa_issue_digest; tsa_new's configuration checks.
 */
#include "tests/unit/tsa/tsa_fixture.h"

#include <openssl/cms.h>

static nt_clock_sync sync_state = NT_CLOCK_SYNCED;

static CMS_ContentInfo *token_cms(const tsa_result *r)
{
    const unsigned char *p = r->token.ptr;
    return d2i_CMS_ContentInfo(NULL, &p, (long)r->token.len);
}

static CMS_SignerInfo *first_signer(CMS_ContentInfo *cms)
{
    STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
    return sk_CMS_SignerInfo_num(sis) == 1 ? sk_CMS_SignerInfo_value(sis, 0) : NULL;
}

/* t answers req, which it must grant; returns the token's TSTInfo (caller frees). */
static TS_TST_INFO *respond_tst(tsa_result *r, tsa *t, const nt_buf *req)
{
    TS_TST_INFO *tst;
    CHECK_OK(tsa_respond(r, t, nt_buf_bytes(req)));
    REQUIRE(r->granted);
    tst = fx_tstinfo(nt_buf_bytes(&r->response));
    REQUIRE(tst != NULL);
    return tst;
}

/* t answers req, which it must grant; returns the token as CMS (caller frees). */
static CMS_ContentInfo *respond_cms(tsa_result *r, tsa *t, const nt_buf *req)
{
    CMS_ContentInfo *cms;
    CHECK_OK(tsa_respond(r, t, nt_buf_bytes(req)));
    REQUIRE(r->granted);
    cms = token_cms(r);
    REQUIRE(cms != NULL);
    return cms;
}

/* A TSA made from cfg answers req once (granted); returns the TSTInfo. */
static TS_TST_INFO *issue_tst(tsa_result *r, const tsa_config *cfg, const fx_pki *pki,
                              const nt_buf *req)
{
    tsa *t = NULL;
    TS_TST_INFO *tst;
    REQUIRE(tsa_new(&t, cfg, pki->signer) == 0);
    tst = respond_tst(r, t, req);
    tsa_free(t);
    return tst;
}

static const int ALG_NIDS[] = {NID_sha256,   NID_sha384,   NID_sha512, NID_sha3_256,
                               NID_sha3_384, NID_sha3_512, NID_sha1,   NID_md5};

/* Every algorithm x this key type: both oracles accept; the negative twins fail. */
static void test_matrix(const fx_pki *pki, int pss, const char *label)
{
    tsa_config cfg;
    tsa *t = NULL;
    nt_buf req = NT_BUF_INIT, other = NT_BUF_INIT, out = NT_BUF_INIT;
    tsa_result r;

    fx_config(&cfg);
    cfg.rsa_pss = pss;
    cfg.allow_sha1 = 1;
    cfg.allow_md5 = 1;
    REQUIRE(tsa_new(&t, &cfg, pki->signer) == 0);
    tsa_result_init(&r);
    for (size_t i = 0; i < NT_ARRAY_LEN(ALG_NIDS); i++) {
        fx_req o = fx_req_default();
        TS_REQ *q = NULL, *q2 = NULL;
        o.nid = ALG_NIDS[i];
        o.params = (int)(i % 2); /* absent and NULL parameters both accepted */
        fx_request(&req, &q, &o);
        CHECK_OK(tsa_respond(&r, t, nt_buf_bytes(&req)));
        CHECK(r.granted == 1);
        if (!r.granted) {
            fprintf(stderr, "%s %s: %s\n", label, OBJ_nid2sn(o.nid), r.reason);
            TS_REQ_free(q);
            continue;
        }
        if (pss) {
            /* OpenSSL 3.0's TS verifier (PKCS7) cannot check RSASSA-PSS: the
             * fields with it, the signature and chain with CMS_verify */
            CHECK(fx_ts_verify_flags(nt_buf_bytes(&r.response), q, pki->ca_path, NULL, 0));
            CHECK(fx_cms_verify(nt_buf_bytes(&r.token), pki->ca_path, NULL));
        } else {
            CHECK(fx_cms_verify(nt_buf_bytes(&r.token), pki->ca_path, NULL));
            if (!fx_ts_verify(nt_buf_bytes(&r.response), q, pki->ca_path, NULL)) {
                CHECK(0 && "TS_RESP_verify_response rejected our token");
                fprintf(stderr, "  (%s, %s)\n", label, OBJ_nid2sn(o.nid));
            }
            if (fx_cli_verify(&out, pki, nt_buf_bytes(&req), nt_buf_bytes(&r.response), 0) != 0) {
                CHECK(0 && "openssl ts -verify rejected our token");
                fprintf(stderr, "  (%s, %s): %s\n", label, OBJ_nid2sn(o.nid), nt_buf_cstr(&out));
            }
        }
        /* negative twin: the same token for another imprint / nonce */
        fx_request(&other, &q2, &o);
        CHECK(!fx_ts_verify_flags(nt_buf_bytes(&r.response), q2, pki->ca_path, NULL, !pss));
        CHECK(fx_cli_verify(&out, pki, nt_buf_bytes(&other), nt_buf_bytes(&r.response), 0) != 0);
        TS_REQ_free(q2);
        /* negative twin: one flipped bit in the signature (last byte of the token) */
        r.response.ptr[r.response.len - 1] ^= 0x01;
        r.token.ptr[r.token.len - 1] ^= 0x01;
        CHECK(!fx_ts_verify(nt_buf_bytes(&r.response), q, pki->ca_path, NULL));
        CHECK(!fx_cms_verify(nt_buf_bytes(&r.token), pki->ca_path, NULL));
        CHECK(fx_cli_verify(&out, pki, nt_buf_bytes(&req), nt_buf_bytes(&r.response), 0) != 0);
        TS_REQ_free(q);
    }
    tsa_result_dispose(&r);
    nt_buf_dispose(&req);
    nt_buf_dispose(&other);
    nt_buf_dispose(&out);
    tsa_free(t);
}

/* Signature and digest algorithm identifiers of the SignerInfo. */
static void test_sig_algs(const fx_pki *pki, int pss, int want_md, int want_sig)
{
    tsa_config cfg;
    tsa *t = NULL;
    tsa_result r;
    nt_buf req = NT_BUF_INIT;
    fx_req o = fx_req_default();
    CMS_ContentInfo *cms;
    CMS_SignerInfo *si;

    fx_config(&cfg);
    cfg.rsa_pss = pss;
    REQUIRE(tsa_new(&t, &cfg, pki->signer) == 0);
    tsa_result_init(&r);
    fx_request(&req, NULL, &o);
    cms = respond_cms(&r, t, &req);
    si = first_signer(cms);
    REQUIRE(si != NULL);
    {
        X509_ALGOR *dig = NULL, *sig = NULL;
        const ASN1_OBJECT *dobj = NULL, *sobj = NULL;
        CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, &sig);
        X509_ALGOR_get0(&dobj, NULL, NULL, dig);
        X509_ALGOR_get0(&sobj, NULL, NULL, sig);
        CHECK(OBJ_obj2nid(dobj) == want_md);
        CHECK(OBJ_obj2nid(sobj) == want_sig);
        if (OBJ_obj2nid(sobj) != want_sig) {
            fprintf(stderr, "signature algorithm %s, expected %s\n", OBJ_nid2sn(OBJ_obj2nid(sobj)),
                    OBJ_nid2sn(want_sig));
        }
    }
    /* the signature verifies with CMS too (the signer cert is in the token) */
    {
        X509_STORE *store = X509_STORE_new();
        REQUIRE(store != NULL && X509_STORE_load_file(store, pki->ca_path) == 1);
        X509_STORE_set_purpose(store, X509_PURPOSE_TIMESTAMP_SIGN);
        CHECK(CMS_verify(cms, NULL, store, NULL, NULL, CMS_BINARY) == 1);
        X509_STORE_free(store);
        ERR_clear_error();
    }
    CMS_ContentInfo_free(cms);
    tsa_result_dispose(&r);
    nt_buf_dispose(&req);
    tsa_free(t);
}

static void test_cert_req(const fx_pki *pki)
{
    tsa_config cfg;
    tsa *t = NULL;
    tsa_result r;
    nt_buf req = NT_BUF_INIT, out = NT_BUF_INIT;
    fx_req o = fx_req_default();
    TS_REQ *q = NULL;
    CMS_ContentInfo *cms;
    STACK_OF(X509) * certs;

    fx_config(&cfg);
    REQUIRE(tsa_new(&t, &cfg, pki->signer) == 0);
    tsa_result_init(&r);

    /* certReq TRUE: the TSA certificate first, then its chain */
    o.cert_req = 1;
    fx_request(&req, &q, &o);
    cms = respond_cms(&r, t, &req);
    certs = CMS_get1_certs(cms);
    CHECK(sk_X509_num(certs) == 1 + sk_X509_num(pki->signer->chain));
    CHECK(sk_X509_num(certs) >= 1 && X509_cmp(sk_X509_value(certs, 0), pki->signer->cert) == 0);
    sk_X509_pop_free(certs, X509_free);
    CMS_ContentInfo_free(cms);
    TS_REQ_free(q);

    /* certReq FALSE: no certificates field at all; verifies only when the
     * verifier is handed the TSA certificate */
    o.cert_req = 0;
    fx_request(&req, &q, &o);
    cms = respond_cms(&r, t, &req);
    certs = CMS_get1_certs(cms);
    CHECK(certs == NULL || sk_X509_num(certs) == 0);
    sk_X509_pop_free(certs, X509_free);
    CMS_ContentInfo_free(cms);
    CHECK(fx_ts_verify(nt_buf_bytes(&r.response), q, pki->ca_path, pki->signer->cert));
    CHECK(!fx_ts_verify(nt_buf_bytes(&r.response), q, pki->ca_path, NULL));
    CHECK(fx_cli_verify(&out, pki, nt_buf_bytes(&req), nt_buf_bytes(&r.response), 1) == 0);
    CHECK(fx_cli_verify(&out, pki, nt_buf_bytes(&req), nt_buf_bytes(&r.response), 0) != 0);
    TS_REQ_free(q);

    tsa_result_dispose(&r);
    nt_buf_dispose(&req);
    nt_buf_dispose(&out);
    tsa_free(t);
}

static void test_nonce_and_policy(const fx_pki *pki)
{
    tsa_config cfg;
    tsa *t = NULL;
    tsa_result r;
    nt_buf req = NT_BUF_INIT;
    fx_req o = fx_req_default();
    TS_REQ *q = NULL;
    TS_TST_INFO *tst;
    char oid[80];

    fx_config(&cfg);
    cfg.accepted_policies[0] = FX_POLICY2;
    cfg.accepted_policy_count = 1;
    REQUIRE(tsa_new(&t, &cfg, pki->signer) == 0);
    tsa_result_init(&r);

    /* nonce echoed exactly, a 32-byte one too; default policy */
    o.nonce_bytes = 32;
    fx_request(&req, &q, &o);
    tst = respond_tst(&r, t, &req);
    CHECK(TS_TST_INFO_get_nonce(tst) != NULL &&
          ASN1_INTEGER_cmp(TS_TST_INFO_get_nonce(tst), TS_REQ_get_nonce(q)) == 0);
    OBJ_obj2txt(oid, sizeof(oid), TS_TST_INFO_get_policy_id(tst), 1);
    CHECK_STR(oid, FX_POLICY);
    CHECK(TS_TST_INFO_get_version(tst) == 1);
    CHECK(TS_TST_INFO_get_ext_count(tst) == 0);
    TS_TST_INFO_free(tst);
    TS_REQ_free(q);

    /* no nonce asked: none given; accepted policy asked: issued under it */
    o.nonce_bytes = 0;
    o.policy = FX_POLICY2;
    fx_request(&req, &q, &o);
    tst = respond_tst(&r, t, &req);
    CHECK(fx_ts_verify(nt_buf_bytes(&r.response), q, pki->ca_path, NULL));
    CHECK(TS_TST_INFO_get_nonce(tst) == NULL);
    OBJ_obj2txt(oid, sizeof(oid), TS_TST_INFO_get_policy_id(tst), 1);
    CHECK_STR(oid, FX_POLICY2);
    TS_TST_INFO_free(tst);
    TS_REQ_free(q);

    /* the explicit default policy is accepted too */
    o.policy = FX_POLICY;
    fx_request(&req, NULL, &o);
    CHECK_OK(tsa_respond(&r, t, nt_buf_bytes(&req)));
    CHECK(r.granted);

    tsa_result_dispose(&r);
    nt_buf_dispose(&req);
    tsa_free(t);
}

/* genTime for a clock reading and a precision, as a string. */
static void gen_time_for(char *out, size_t cap, const fx_pki *pki, time_t sec, long nsec,
                         int digits)
{
    fx_clock clk = {{sec, nsec}};
    tsa_config cfg;
    tsa *t = NULL;
    tsa_result r;
    nt_buf req = NT_BUF_INIT;
    fx_req o = fx_req_default();

    fx_config(&cfg);
    cfg.precision_digits = digits;
    REQUIRE(tsa_new(&t, &cfg, pki->signer) == 0);
    nt_clock_set_source(fx_clock_fn, &clk);
    tsa_result_init(&r);
    fx_request(&req, NULL, &o);
    CHECK_OK(tsa_respond(&r, t, nt_buf_bytes(&req)));
    CHECK(r.granted);
    fx_gentime(out, cap, nt_buf_bytes(&r.response));
    nt_clock_set_source(NULL, NULL);
    tsa_result_dispose(&r);
    nt_buf_dispose(&req);
    tsa_free(t);
}

static void test_gen_time_precision(const fx_pki *pki)
{
    static const struct {
        long nsec;
        int digits;
        const char *want;
    } cases[] = {
        {123456789, 0, "20231114221320Z"}, /* precision 0: never a fraction */
        {0, 0, "20231114221320Z"},
        {123456789, 3, "20231114221320.123Z"},
        {120000000, 3, "20231114221320.12Z"}, /* trailing zero dropped */
        {100999999, 3, "20231114221320.1Z"},  /* truncated, then stripped */
        {999999, 3, "20231114221320Z"},       /* all-zero fraction: no '.' */
        {0, 3, "20231114221320Z"},
        {123456789, 6, "20231114221320.123456Z"},
        {123450000, 6, "20231114221320.12345Z"},
        {5000, 6, "20231114221320.000005Z"}, /* leading zeros kept */
    };
    char got[64];

    for (size_t i = 0; i < NT_ARRAY_LEN(cases); i++) {
        gen_time_for(got, sizeof(got), pki, 1700000000, cases[i].nsec, cases[i].digits);
        CHECK_STR(got, cases[i].want);
        if (strcmp(got, cases[i].want) != 0) {
            fprintf(stderr, "  nsec %ld digits %d: got %s\n", cases[i].nsec, cases[i].digits, got);
        }
        /* negative twin, stated generally: never "0Z", never ".Z" */
        CHECK(strstr(got, "0Z") == NULL || strchr(got, '.') == NULL);
        CHECK(strstr(got, ".Z") == NULL);
    }
}

static void test_profile_fields(const fx_pki *pki)
{
    tsa_config cfg;
    tsa_result r;
    nt_buf req = NT_BUF_INIT;
    fx_req o = fx_req_default();
    TS_TST_INFO *tst;
    const TS_ACCURACY *acc;

    /* accuracy 1.5 s, ordering, tsa name */
    fx_config(&cfg);
    cfg.accuracy_ms = 1500;
    cfg.ordering = 1;
    cfg.include_tsa_name = 1;
    tsa_result_init(&r);
    fx_request(&req, NULL, &o);
    tst = issue_tst(&r, &cfg, pki, &req);
    acc = TS_TST_INFO_get_accuracy(tst);
    CHECK(acc != NULL && ASN1_INTEGER_get(TS_ACCURACY_get_seconds(acc)) == 1 &&
          ASN1_INTEGER_get(TS_ACCURACY_get_millis(acc)) == 500 &&
          TS_ACCURACY_get_micros(acc) == NULL);
    CHECK(TS_TST_INFO_get_ordering(tst) == 1);
    CHECK(TS_TST_INFO_get_tsa(tst) != NULL && TS_TST_INFO_get_tsa(tst)->type == GEN_DIRNAME &&
          X509_NAME_cmp(TS_TST_INFO_get_tsa(tst)->d.directoryName,
                        X509_get_subject_name(pki->signer->cert)) == 0);
    /* the serial in the result is the token's */
    {
        BIGNUM *a = ASN1_INTEGER_to_BN(TS_TST_INFO_get_serial(tst), NULL);
        BIGNUM *b = BN_bin2bn(r.serial.ptr, (int)r.serial.len, NULL);
        CHECK(a != NULL && b != NULL && BN_cmp(a, b) == 0 && !BN_is_negative(a));
        CHECK(BN_num_bits(a) <= 160);
        BN_free(a);
        BN_free(b);
    }
    TS_TST_INFO_free(tst);

    /* twin: accuracy 250 ms (millis only), no ordering, no tsa name; accuracy 0 omitted */
    fx_config(&cfg);
    cfg.accuracy_ms = 250;
    tst = issue_tst(&r, &cfg, pki, &req);
    acc = TS_TST_INFO_get_accuracy(tst);
    CHECK(acc != NULL && TS_ACCURACY_get_seconds(acc) == NULL &&
          ASN1_INTEGER_get(TS_ACCURACY_get_millis(acc)) == 250);
    CHECK(TS_TST_INFO_get_ordering(tst) == 0);
    CHECK(TS_TST_INFO_get_tsa(tst) == NULL);
    TS_TST_INFO_free(tst);

    fx_config(&cfg);
    cfg.accuracy_ms = 0;
    tst = issue_tst(&r, &cfg, pki, &req);
    CHECK(TS_TST_INFO_get_accuracy(tst) == NULL);
    TS_TST_INFO_free(tst);

    tsa_result_dispose(&r);
    nt_buf_dispose(&req);
}

/* Step into one DER TLV: returns the content pointer, sets *len and *tag. */
static const unsigned char *der_enter(const unsigned char *p, long max, long *len, int *tag)
{
    int xclass = 0;
    if (ASN1_get_object(&p, len, tag, &xclass, max) & 0x80) {
        return NULL;
    }
    return p;
}

/* RFC 5816: signingCertificateV2 holds SHA-256(cert DER) (default hashAlgorithm
 * omitted) and issuerSerial; signingTime equals genTime to the second. */
static void test_signed_attrs(const fx_pki *pki)
{
    tsa_config cfg;
    tsa *t = NULL;
    tsa_result r;
    nt_buf req = NT_BUF_INIT;
    fx_req o = fx_req_default();
    CMS_ContentInfo *cms;
    CMS_SignerInfo *si;
    ASN1_STRING *ess;
    unsigned char want[32], other[32];
    unsigned int wlen = 0, olen = 0;

    fx_config(&cfg);
    REQUIRE(tsa_new(&t, &cfg, pki->signer) == 0);
    tsa_result_init(&r);
    fx_request(&req, NULL, &o);
    cms = respond_cms(&r, t, &req);
    si = first_signer(cms);
    REQUIRE(si != NULL);
    CHECK(OBJ_obj2nid(CMS_get0_eContentType(cms)) == NID_id_smime_ct_TSTInfo);

    /* exactly: contentType, messageDigest, signingTime, signingCertificateV2 */
    CHECK(CMS_signed_get_attr_count(si) == 4);
    CHECK(CMS_signed_get_attr_by_NID(si, NID_pkcs9_contentType, -1) >= 0);
    CHECK(CMS_signed_get_attr_by_NID(si, NID_pkcs9_messageDigest, -1) >= 0);
    CHECK(CMS_signed_get_attr_by_NID(si, NID_id_smime_aa_signingCertificate, -1) < 0);
    CHECK(CMS_unsigned_get_attr_count(si) <= 0);

    ess = CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_id_smime_aa_signingCertificateV2), -3,
                                      V_ASN1_SEQUENCE);
    REQUIRE(ess != NULL);
    REQUIRE(X509_digest(pki->signer->cert, EVP_sha256(), want, &wlen) == 1 && wlen == 32);
    REQUIRE(X509_digest(sk_X509_value(pki->signer->chain, 0), EVP_sha256(), other, &olen) == 1);
    {
        const unsigned char *p = ASN1_STRING_get0_data(ess);
        long len = ASN1_STRING_length(ess), l2 = 0, l3 = 0, l4 = 0;
        int tag = 0;
        /* SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2, ... } */
        p = der_enter(p, len, &l2, &tag);
        REQUIRE(p != NULL && tag == V_ASN1_SEQUENCE);
        p = der_enter(p, l2, &l3, &tag);
        REQUIRE(p != NULL && tag == V_ASN1_SEQUENCE);
        /* ESSCertIDv2 ::= SEQUENCE { hashAlgorithm DEFAULT sha256, certHash, issuerSerial } */
        p = der_enter(p, l3, &l4, &tag);
        REQUIRE(p != NULL && tag == V_ASN1_SEQUENCE);
        {
            const unsigned char *q = p;
            long hl = 0;
            const unsigned char *h = der_enter(q, l4, &hl, &tag);
            REQUIRE(h != NULL);
            CHECK(tag == V_ASN1_OCTET_STRING && hl == 32);
            CHECK(hl == 32 && memcmp(h, want, 32) == 0);
            CHECK(hl == 32 && memcmp(h, other, 32) != 0); /* twin: not the CA's hash */
            /* issuerSerial follows */
            {
                long il = 0;
                const unsigned char *is = der_enter(h + hl, l4 - (long)(h + hl - p), &il, &tag);
                CHECK(is != NULL && tag == V_ASN1_SEQUENCE && il > 0);
            }
        }
    }
    /* signingTime = genTime (seconds) */
    {
        int idx = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
        X509_ATTRIBUTE *a = idx >= 0 ? CMS_signed_get_attr(si, idx) : NULL;
        ASN1_TYPE *v = a != NULL ? X509_ATTRIBUTE_get0_type(a, 0) : NULL;
        ASN1_TIME *gen = ASN1_TIME_new();
        int day = 0, sec = 1;
        REQUIRE(v != NULL && (v->type == V_ASN1_UTCTIME || v->type == V_ASN1_GENERALIZEDTIME));
        REQUIRE(gen != NULL && ASN1_TIME_set(gen, r.gen_time.tv_sec) != NULL);
        CHECK(ASN1_TIME_diff(&day, &sec, gen, (ASN1_TIME *)v->value.asn1_string) == 1);
        CHECK(day == 0 && sec == 0);
        ASN1_TIME_free(gen);
    }
    CMS_ContentInfo_free(cms);
    tsa_result_dispose(&r);
    nt_buf_dispose(&req);
    tsa_free(t);
}

static void test_issue_digest(const fx_pki *pki)
{
    tsa_config cfg;
    tsa *t = NULL;
    tsa_result r;
    uint8_t d[64];
    const unsigned char *p;
    TS_RESP *resp;

    fx_config(&cfg);
    REQUIRE(tsa_new(&t, &cfg, pki->signer) == 0);
    tsa_result_init(&r);
    REQUIRE(RAND_bytes(d, sizeof(d)) == 1);

    CHECK_OK(tsa_issue_digest(&r, t, RECORD_ALG_SHA384, NT_BYTES(d, 48)));
    CHECK(r.granted && r.alg == RECORD_ALG_SHA384 && r.digest.len == 48);
    p = r.response.ptr;
    resp = d2i_TS_RESP(NULL, &p, (long)r.response.len);
    REQUIRE(resp != NULL);
    for (int round = 0; round < 2; round++) {
        TS_VERIFY_CTX *ctx = TS_VERIFY_CTX_new();
        X509_STORE *store = X509_STORE_new();
        uint8_t want[48];
        memcpy(want, d, sizeof(want));
        want[0] ^= (uint8_t)round; /* round 1: the negative twin, another digest */
        REQUIRE(ctx != NULL && store != NULL && X509_STORE_load_file(store, pki->ca_path) == 1);
        TS_VERIFY_CTX_set_store(ctx, store);
        TS_VERIFY_CTX_set_flags(ctx,
                                TS_VFY_VERSION | TS_VFY_SIGNATURE | TS_VFY_SIGNER | TS_VFY_IMPRINT);
        TS_VERIFY_CTX_set_imprint(ctx, OPENSSL_memdup(want, sizeof(want)), sizeof(want));
        CHECK((TS_RESP_verify_response(ctx, resp) == 1) == (round == 0));
        ERR_clear_error();
        TS_VERIFY_CTX_free(ctx);
    }
    TS_RESP_free(resp);

    /* the same rules as for requests */
    CHECK_OK(tsa_issue_digest(&r, t, RECORD_ALG_SHA256, NT_BYTES(d, 31)));
    CHECK(!r.granted && r.fail == TSA_FAIL_BAD_DATA_FORMAT && r.token.len == 0);
    CHECK_OK(tsa_issue_digest(&r, t, RECORD_ALG_SHA1, NT_BYTES(d, 20)));
    CHECK(!r.granted && r.fail == TSA_FAIL_BAD_ALG);
    CHECK_OK(tsa_issue_digest(&r, t, (record_alg)99, NT_BYTES(d, 32)));
    CHECK(!r.granted && r.fail == TSA_FAIL_BAD_ALG);
    CHECK(r.response.len > 0);

    tsa_result_dispose(&r);
    tsa_free(t);
}

static void test_config_checks(const fx_pki *ec, const fx_pki *rsa)
{
    tsa_config cfg;
    tsa *t = NULL;
    certs_signer mixed;

    fx_config(&cfg);
    CHECK_OK(tsa_new(&t, &cfg, ec->signer));
    CHECK(t != NULL && tsa_signer(t) == ec->signer);
    tsa_free(t);
    t = NULL;
    tsa_free(NULL);

    fx_config(&cfg);
    cfg.policy = NULL;
    CHECK_ERR(tsa_new(&t, &cfg, ec->signer), NT_EINVAL);
    cfg.policy = "not-an-oid";
    CHECK_ERR(tsa_new(&t, &cfg, ec->signer), NT_EINVAL);
    fx_config(&cfg);
    cfg.accepted_policies[0] = "sha256";
    cfg.accepted_policy_count = 1;
    CHECK_ERR(tsa_new(&t, &cfg, ec->signer), NT_EINVAL);
    fx_config(&cfg);
    cfg.precision_digits = 7;
    CHECK_ERR(tsa_new(&t, &cfg, ec->signer), NT_EINVAL);
    cfg.precision_digits = -1;
    CHECK_ERR(tsa_new(&t, &cfg, ec->signer), NT_EINVAL);
    fx_config(&cfg);
    cfg.node_id = 32768;
    CHECK_ERR(tsa_new(&t, &cfg, ec->signer), NT_EINVAL);
    fx_config(&cfg);
    cfg.rsa_pss = 1;
    CHECK_ERR(tsa_new(&t, &cfg, ec->signer), NT_EINVAL);
    CHECK_OK(tsa_new(&t, &cfg, rsa->signer));
    tsa_free(t);
    t = NULL;
    fx_config(&cfg);
    cfg.signing_digest = "md5";
    CHECK_ERR(tsa_new(&t, &cfg, ec->signer), NT_EINVAL);
    cfg.signing_digest = "sha512";
    CHECK_OK(tsa_new(&t, &cfg, ec->signer));
    tsa_free(t);
    t = NULL;
    /* a key that does not match the certificate */
    fx_config(&cfg);
    mixed = *ec->signer;
    mixed.key = rsa->signer->key;
    CHECK_ERR(tsa_new(&t, &cfg, &mixed), NT_EINVAL);
    CHECK(t == NULL);
}

int main(void)
{
    fx_pki p256, p384, rsa;

    nt_log_set_level(NT_LOG_NONE);
    nt_clock_set_sync_source(fx_sync_fn, &sync_state);
    fx_pki_make(&p256, CERTS_KEY_EC_P256);
    fx_pki_make(&p384, CERTS_KEY_EC_P384);
    fx_pki_make(&rsa, CERTS_KEY_RSA2048);

    test_matrix(&p256, 0, "ec-p256");
    test_matrix(&p384, 0, "ec-p384");
    test_matrix(&rsa, 0, "rsa-2048");
    test_matrix(&rsa, 1, "rsa-2048-pss");
    test_sig_algs(&p256, 0, NID_sha256, NID_ecdsa_with_SHA256);
    test_sig_algs(&p384, 0, NID_sha384, NID_ecdsa_with_SHA384);
    test_sig_algs(&rsa, 0, NID_sha256, NID_rsaEncryption);
    test_sig_algs(&rsa, 1, NID_sha256, NID_rsassaPss);
    test_cert_req(&p256);
    test_nonce_and_policy(&p256);
    test_gen_time_precision(&p256);
    test_profile_fields(&p256);
    test_signed_attrs(&p256);
    test_signed_attrs(&rsa);
    test_issue_digest(&p384);
    test_config_checks(&p256, &rsa);

    nt_clock_set_sync_source(NULL, NULL);
    fx_pki_free(&p256);
    fx_pki_free(&p384);
    fx_pki_free(&rsa);
    return TEST_END();
}
