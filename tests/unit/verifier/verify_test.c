/*
 * verify_test.c - the verifier's indications, one case per sub-indication,
 * each positive case with its negative twin: a genuine receipt passes and
 * one changed byte fails (HASH_FAILURE); forged proofs, wrong leaf index,
 * foreign checkpoint key, foreign log, untrusted TSA or root, a TSA
 * certificate not valid at genTime, revocation before/after genTime; and the
 * JSON report is deterministic.  Receipts are minted by the fixture in
 * tests/fixture/fixture.h (OpenSSL's TS_RESP_CTX + an in-memory log).
 */
#include "tests/fixture/fixture.h"
#include "tests/unit/test.h"
#include "tests/unit/verifier/verify_fixture.h"
#include "verifier/verifier.h"

#include <jansson.h>

static char g_dir[256];
static char g_doc[512];
static char g_doc2[512];
static const char g_text[] = "CONTRACT between A and B: 100 units at 5.00 each.\n";
static time_t g_gen;

typedef struct kase {
    fx_pki pki;
    fx_log log;
    nt_buf receipt;
    nt_buf trust;
    nt_buf vkey;
} kase;

static void kase_new(kase *k, time_t tsa_nb, time_t tsa_na, const char *origin)
{
    memset(k, 0, sizeof(*k));
    REQUIRE(fx_pki_new(&k->pki, "Test Root", "Test TSA", tsa_nb, tsa_na) == 0);
    REQUIRE(fx_log_new(&k->log, origin) == 0);
    REQUIRE(fx_mint(&k->receipt, &k->pki, &k->log, (const uint8_t *)g_text, strlen(g_text), g_gen,
                    3, 2) == 0);
    REQUIRE(fx_pem_cert(&k->trust, k->pki.root) == 0);
    REQUIRE(fx_log_vkey(&k->vkey, &k->log) == 0);
}

static void kase_dispose(kase *k)
{
    fx_pki_dispose(&k->pki);
    fx_log_dispose(&k->log);
    nt_buf_dispose(&k->receipt);
    nt_buf_dispose(&k->trust);
    nt_buf_dispose(&k->vkey);
}

static void opts_of(verifier_options *o, const kase *k, const nt_buf *receipt_json)
{
    memset(o, 0, sizeof(*o));
    o->document_path = g_doc;
    o->receipt = nt_buf_bytes(receipt_json != NULL ? receipt_json : &k->receipt);
    o->trust = nt_buf_bytes(&k->trust);
    o->log_key = nt_buf_bytes(&k->vkey);
    o->now = g_gen + 3600;
}

/* Edit a receipt through the codec. */
typedef void (*edit_fn)(receipt *rc, void *ctx);
static void receipt_edit(nt_buf *out, const nt_buf *in, edit_fn fn, void *ctx)
{
    receipt rc;
    receipt_init(&rc);
    REQUIRE(receipt_decode(&rc, (const char *)in->ptr, in->len) == 0);
    fn(&rc, ctx);
    nt_buf_clear(out);
    REQUIRE(receipt_encode(out, &rc) == 0);
    receipt_dispose(&rc);
}

static void edit_proof(receipt *rc, void *ctx)
{
    (void)ctx;
    REQUIRE(rc->proof.len >= 32);
    rc->proof.ptr[5] ^= 0x01;
}

static void edit_index(receipt *rc, void *ctx)
{
    (void)ctx;
    rc->leaf_index += 1;
}

static void edit_checkpoint(receipt *rc, void *ctx)
{
    nt_buf *note = ctx;
    nt_buf_set(&rc->checkpoint, note->ptr, note->len);
}

static void edit_leaf(receipt *rc, void *ctx)
{
    (void)ctx;
    REQUIRE(rc->leaf.len > 3);
    rc->leaf.len = 3; /* not a canonical record any more */
}

static void test_genuine_and_changed_byte(void)
{
    kase k;
    verifier_options o;
    const char *sub;
    kase_new(&k, g_gen - FX_DAY, g_gen + 365 * FX_DAY, "notarium.test/log");
    opts_of(&o, &k, NULL);
    CHECK(vfx_run(&o, &sub) == VERIFIER_PASSED);
    CHECK_STR(sub, "");

    /* twin: one byte changed */
    o.document_path = g_doc2;
    CHECK(vfx_run(&o, &sub) == VERIFIER_FAILED);
    CHECK_STR(sub, "HASH_FAILURE");

    /* digest given instead of the document */
    uint8_t md[32];
    nt_buf d = NT_BUF_INIT;
    SHA256((const uint8_t *)g_text, strlen(g_text), md);
    nt_buf_puts(&d, "sha256:");
    nt_hex_encode(&d, md, 32);
    o.document_path = NULL;
    o.digest = nt_buf_cstr(&d);
    CHECK(vfx_run(&o, &sub) == VERIFIER_PASSED);
    d.ptr[10] = d.ptr[10] == 'a' ? 'b' : 'a';
    CHECK(vfx_run(&o, &sub) == VERIFIER_FAILED);
    CHECK_STR(sub, "HASH_FAILURE");
    nt_buf_dispose(&d);
    kase_dispose(&k);
}

static void test_steps_and_json(void)
{
    kase k;
    verifier_options o;
    verifier_report *r = NULL, *r2 = NULL;
    nt_buf j1 = NT_BUF_INIT, j2 = NT_BUF_INIT;
    kase_new(&k, g_gen - FX_DAY, g_gen + 365 * FX_DAY, "notarium.test/log");
    opts_of(&o, &k, NULL);
    CHECK_OK(verifier_run(&r, &o));
    CHECK_OK(verifier_run(&r2, &o));
    REQUIRE(r != NULL && r2 != NULL);
    CHECK(verifier_report_step(r, VERIFIER_STEP_INPUTS) == VERIFIER_STEP_PASSED);
    CHECK(verifier_report_step(r, VERIFIER_STEP_DIGEST) == VERIFIER_STEP_PASSED);
    CHECK(verifier_report_step(r, VERIFIER_STEP_TOKEN) == VERIFIER_STEP_PASSED);
    CHECK(verifier_report_step(r, VERIFIER_STEP_SIGNATURE) == VERIFIER_STEP_PASSED);
    CHECK(verifier_report_step(r, VERIFIER_STEP_REVOCATION) == VERIFIER_STEP_NOT_RUN);
    CHECK(verifier_report_step(r, VERIFIER_STEP_LEDGER) == VERIFIER_STEP_PASSED);
    CHECK(verifier_report_step(r, VERIFIER_STEP_MIRROR) == VERIFIER_STEP_NOT_RUN);
    CHECK(verifier_report_exit_code(r) == 0);
    CHECK_OK(verifier_report_json(&j1, r));
    CHECK_OK(verifier_report_json(&j2, r2));
    CHECK(j1.len == j2.len && memcmp(j1.ptr, j2.ptr, j1.len) == 0);

    json_error_t jerr;
    json_t *root = json_loadb((const char *)j1.ptr, j1.len, 0, &jerr);
    REQUIRE(root != NULL);
    CHECK_STR(json_string_value(json_object_get(root, "indication")), "PASSED");
    CHECK(json_is_null(json_object_get(root, "subindication")));
    CHECK(json_array_size(json_object_get(root, "steps")) == 7);
    json_t *roots = json_object_get(json_object_get(root, "trust"), "tsa_roots");
    CHECK(json_is_true(json_object_get(json_array_get(roots, 0), "trust_anchor")));
    json_t *ledger = json_object_get(root, "ledger");
    CHECK(json_integer_value(json_object_get(ledger, "leaf_index")) == 3);
    CHECK(json_integer_value(json_object_get(ledger, "tree_size")) == 6);
    const char *gt =
        json_string_value(json_object_get(json_object_get(root, "timestamp"), "gen_time"));
    CHECK(gt != NULL && strstr(gt, ".25Z") != NULL);
    int found = 0;
    json_t *limits = json_object_get(root, "not_established");
    for (size_t i = 0; i < json_array_size(limits); i++) {
        found |=
            strcmp(json_string_value(json_array_get(limits, i)), "revocation not checked") == 0;
    }
    CHECK(found);
    json_decref(root);

    /* twin: another verification time gives another report (id and time) */
    verifier_report *r3 = NULL;
    nt_buf j3 = NT_BUF_INIT;
    o.now += 1;
    CHECK_OK(verifier_run(&r3, &o));
    CHECK_OK(verifier_report_json(&j3, r3));
    CHECK(j3.len != j1.len || memcmp(j3.ptr, j1.ptr, j1.len) != 0);
    verifier_report_free(r3);
    nt_buf_dispose(&j3);

    verifier_report_free(r);
    verifier_report_free(r2);
    nt_buf_dispose(&j1);
    nt_buf_dispose(&j2);
    kase_dispose(&k);
}

/* The ledger step's last detail line (starting with `text`) and its code in the JSON report. */
static void ledger_detail(const verifier_options *o, const char *code, const char *text)
{
    verifier_report *r = NULL;
    nt_buf j = NT_BUF_INIT;
    REQUIRE(verifier_run(&r, o) == 0);
    REQUIRE(verifier_report_json(&j, r) == 0);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)j.ptr, j.len, 0, &jerr);
    REQUIRE(root != NULL);
    json_t *step = json_array_get(json_object_get(root, "steps"), VERIFIER_STEP_LEDGER);
    json_t *details = json_object_get(step, "details");
    json_t *codes = json_object_get(step, "detail_codes");
    size_t n = json_array_size(details);
    REQUIRE(n > 0 && json_array_size(codes) == n);
    CHECK_STR(json_string_value(json_array_get(codes, n - 1)), code);
    const char *line = json_string_value(json_array_get(details, n - 1));
    CHECK(line != NULL && strncmp(line, text, strlen(text)) == 0);
    json_decref(root);
    nt_buf_dispose(&j);
    verifier_report_free(r);
}

static void test_ledger_forgeries(void)
{
    kase k;
    verifier_options o;
    const char *sub;
    nt_buf forged = NT_BUF_INIT;
    kase_new(&k, g_gen - FX_DAY, g_gen + 365 * FX_DAY, "notarium.test/log");

    receipt_edit(&forged, &k.receipt, edit_proof, NULL);
    opts_of(&o, &k, &forged);
    CHECK(vfx_run(&o, &sub) == VERIFIER_FAILED);
    CHECK_STR(sub, "INCLUSION_PROOF_FAILURE");

    receipt_edit(&forged, &k.receipt, edit_index, NULL);
    opts_of(&o, &k, &forged);
    CHECK(vfx_run(&o, &sub) == VERIFIER_FAILED);
    CHECK_STR(sub, "INCLUSION_PROOF_FAILURE");

    /* the same checkpoint body signed by another key under the same name */
    fx_log other;
    REQUIRE(fx_log_new(&other, k.log.origin) == 0);
    checkpoint cp;
    memset(&cp, 0, sizeof(cp));
    snprintf(cp.origin, sizeof(cp.origin), "%s", k.log.origin);
    cp.size = k.log.size;
    REQUIRE(merkle_root_naive(cp.root, k.log.leaf_hashes.ptr, k.log.size) == 0);
    nt_buf note = NT_BUF_INIT;
    REQUIRE(checkpoint_sign(&note, &cp, other.key) == 0);
    receipt_edit(&forged, &k.receipt, edit_checkpoint, &note);
    opts_of(&o, &k, &forged);
    CHECK(vfx_run(&o, &sub) == VERIFIER_FAILED);
    CHECK_STR(sub, "CHECKPOINT_SIGNATURE_FAILURE");
    /* twin: the same body signed by the right key passes */
    nt_buf_clear(&note);
    REQUIRE(checkpoint_sign(&note, &cp, k.log.key) == 0);
    receipt_edit(&forged, &k.receipt, edit_checkpoint, &note);
    opts_of(&o, &k, &forged);
    CHECK(vfx_run(&o, &sub) == VERIFIER_PASSED);

    /* a leaf that is not a record */
    receipt_edit(&forged, &k.receipt, edit_leaf, NULL);
    opts_of(&o, &k, &forged);
    CHECK(vfx_run(&o, &sub) == VERIFIER_FAILED);
    CHECK_STR(sub, "LEAF_FORMAT_FAILURE");
    ledger_detail(&o, "ledger.leaf_format", "the leaf is not a canonical Notarium record: ");

    /* a receipt from a different log, verified with this log's key */
    kase k2;
    kase_new(&k2, g_gen - FX_DAY, g_gen + 365 * FX_DAY, "other.test/log");
    opts_of(&o, &k2, NULL);
    o.log_key = nt_buf_bytes(&k.vkey);
    o.trust = nt_buf_bytes(&k2.trust);
    CHECK(vfx_run(&o, &sub) == VERIFIER_FAILED);
    CHECK_STR(sub, "LOG_MISMATCH");
    ledger_detail(&o, "ledger.log_mismatch",
                  "the receipt is from log \"other.test/log\", the pinned log key is "
                  "\"notarium.test/log\"");
    o.log_key = nt_buf_bytes(&k2.vkey);
    CHECK(vfx_run(&o, &sub) == VERIFIER_PASSED);

    /* a malformed receipt */
    nt_buf junk = NT_BUF_INIT;
    nt_buf_puts(&junk, "{\"version\": 1}");
    opts_of(&o, &k, &junk);
    CHECK(vfx_run(&o, &sub) == VERIFIER_FAILED);
    CHECK_STR(sub, "FORMAT_FAILURE");

    nt_buf_dispose(&junk);
    nt_buf_dispose(&note);
    nt_buf_dispose(&forged);
    fx_log_dispose(&other);
    kase_dispose(&k2);
    kase_dispose(&k);
}

static void test_trust(void)
{
    kase k, rogue;
    verifier_options o;
    const char *sub;
    kase_new(&k, g_gen - FX_DAY, g_gen + 365 * FX_DAY, "notarium.test/log");
    /* a token (and leaf) re-signed by a TSA of another PKI, logged in the genuine log */
    memset(&rogue, 0, sizeof(rogue));
    REQUIRE(fx_pki_new(&rogue.pki, "Rogue Root", "Rogue TSA", g_gen - FX_DAY,
                       g_gen + 365 * FX_DAY) == 0);
    nt_buf rj = NT_BUF_INIT;
    REQUIRE(fx_mint(&rj, &rogue.pki, &k.log, (const uint8_t *)g_text, strlen(g_text), g_gen, 0,
                    0) == 0);
    opts_of(&o, &k, &rj);
    CHECK(vfx_run(&o, &sub) == VERIFIER_INDETERMINATE);
    CHECK_STR(sub, "NO_CERTIFICATE_CHAIN_FOUND");

    /* the genuine receipt against an untrusted root */
    nt_buf rogue_root = NT_BUF_INIT;
    REQUIRE(fx_pem_cert(&rogue_root, rogue.pki.root) == 0);
    opts_of(&o, &k, NULL);
    o.trust = nt_buf_bytes(&rogue_root);
    CHECK(vfx_run(&o, &sub) == VERIFIER_INDETERMINATE);
    CHECK_STR(sub, "NO_CERTIFICATE_CHAIN_FOUND");
    /* twin: with both roots it passes */
    nt_buf both = NT_BUF_INIT;
    nt_buf_put(&both, rogue_root.ptr, rogue_root.len);
    nt_buf_put(&both, k.trust.ptr, k.trust.len);
    o.trust = nt_buf_bytes(&both);
    CHECK(vfx_run(&o, &sub) == VERIFIER_PASSED);

    nt_buf_dispose(&both);
    nt_buf_dispose(&rogue_root);
    nt_buf_dispose(&rj);
    fx_pki_dispose(&rogue.pki);
    kase_dispose(&k);
}

static void test_validity_at_gen_time(void)
{
    kase k;
    verifier_options o;
    const char *sub;
    /* valid for 30 days around genTime; verified ten years later: still PASSED */
    kase_new(&k, g_gen - FX_DAY, g_gen + 30 * FX_DAY, "notarium.test/log");
    opts_of(&o, &k, NULL);
    o.now = g_gen + 3650 * FX_DAY;
    CHECK(vfx_run(&o, &sub) == VERIFIER_PASSED);
    kase_dispose(&k);

    /* twin: expired before genTime */
    kase_new(&k, g_gen - 30 * FX_DAY, g_gen - FX_DAY, "notarium.test/log");
    opts_of(&o, &k, NULL);
    CHECK(vfx_run(&o, &sub) == VERIFIER_FAILED);
    CHECK_STR(sub, "EXPIRED");
    kase_dispose(&k);

    /* not yet valid at genTime */
    kase_new(&k, g_gen + FX_DAY, g_gen + 30 * FX_DAY, "notarium.test/log");
    opts_of(&o, &k, NULL);
    CHECK(vfx_run(&o, &sub) == VERIFIER_FAILED);
    CHECK_STR(sub, "NOT_YET_VALID");
    kase_dispose(&k);
}

static void test_revocation(void)
{
    kase k;
    verifier_options o;
    const char *sub;
    char path[600];
    nt_buf crl = NT_BUF_INIT;
    kase_new(&k, g_gen - FX_DAY, g_gen + 365 * FX_DAY, "notarium.test/log");
    snprintf(path, sizeof(path), "%s/crl.pem", g_dir);

    /* revoked before genTime */
    REQUIRE(fx_crl(&crl, &k.pki, g_gen - 600, 1) == 0);
    REQUIRE(nt_file_write_atomic(path, crl.ptr, crl.len, 0600) == 0);
    opts_of(&o, &k, NULL);
    o.crl_paths[0] = path;
    o.crl_count = 1;
    CHECK(vfx_run(&o, &sub) == VERIFIER_FAILED);
    CHECK_STR(sub, "REVOKED");

    /* revoked after genTime for key compromise */
    nt_buf_clear(&crl);
    REQUIRE(fx_crl(&crl, &k.pki, g_gen + 600, 1) == 0);
    REQUIRE(nt_file_write_atomic(path, crl.ptr, crl.len, 0600) == 0);
    CHECK(vfx_run(&o, &sub) == VERIFIER_INDETERMINATE);
    CHECK_STR(sub, "REVOKED_NO_POE");

    /* revoked after genTime, superseded (4): the token stands */
    nt_buf_clear(&crl);
    REQUIRE(fx_crl(&crl, &k.pki, g_gen + 600, 4) == 0);
    REQUIRE(nt_file_write_atomic(path, crl.ptr, crl.len, 0600) == 0);
    CHECK(vfx_run(&o, &sub) == VERIFIER_PASSED);

    /* not revoked */
    verifier_report *r = NULL;
    nt_buf_clear(&crl);
    REQUIRE(fx_crl(&crl, &k.pki, 0, -1) == 0);
    REQUIRE(nt_file_write_atomic(path, crl.ptr, crl.len, 0600) == 0);
    CHECK_OK(verifier_run(&r, &o));
    REQUIRE(r != NULL);
    CHECK(verifier_report_indication(r) == VERIFIER_PASSED);
    CHECK(verifier_report_step(r, VERIFIER_STEP_REVOCATION) == VERIFIER_STEP_PASSED);
    verifier_report_free(r);

    nt_buf_dispose(&crl);
    kase_dispose(&k);
}

static void test_usage_errors(void)
{
    kase k;
    verifier_options o;
    verifier_report *r = NULL;
    kase_new(&k, g_gen - FX_DAY, g_gen + 365 * FX_DAY, "notarium.test/log");
    opts_of(&o, &k, NULL);
    o.document_path = NULL;
    CHECK_ERR(verifier_run(&r, &o), NT_EINVAL);
    o.digest = "sha256:zz";
    CHECK_ERR(verifier_run(&r, &o), NT_EINVAL);
    o.digest = "sha256:abcd";
    CHECK_ERR(verifier_run(&r, &o), NT_EINVAL);
    opts_of(&o, &k, NULL);
    o.document_path = "/nonexistent/notarium/document";
    CHECK_ERR(verifier_run(&r, &o), NT_EIO);
    opts_of(&o, &k, NULL);
    o.log_key = NT_BYTES("not a vkey", 10);
    CHECK_ERR(verifier_run(&r, &o), NT_EINVAL);
    opts_of(&o, &k, NULL);
    o.trust = NT_BYTES("no certificates", 15);
    CHECK_ERR(verifier_run(&r, &o), NT_EINVAL);
    CHECK(r == NULL);
    kase_dispose(&k);
}

static void test_pdf_and_signature(void)
{
    kase k;
    verifier_options o;
    verifier_report *r = NULL;
    char path[600];
    nt_buf json = NT_BUF_INIT, sig = NT_BUF_INIT, pdf = NT_BUF_INIT, signer = NT_BUF_INIT;
    kase_new(&k, g_gen - FX_DAY, g_gen + 365 * FX_DAY, "notarium.test/log");
    opts_of(&o, &k, NULL);
    CHECK_OK(verifier_run(&r, &o));
    REQUIRE(r != NULL);
    CHECK_OK(verifier_report_json(&json, r));
    if (verifier_pdf_supported()) {
        snprintf(path, sizeof(path), "%s/report-zh.pdf", g_dir);
        CHECK_OK(verifier_report_pdf(r, path, "zh"));
        CHECK_OK(nt_file_read(&pdf, path, 16u << 20));
        CHECK(pdf.len > 1000 && memcmp(pdf.ptr, "%PDF-", 5) == 0);
        CHECK_ERR(verifier_report_pdf(r, path, "fr"), NT_EINVAL);
        /* in memory (POST /v1/verify?format=pdf): the same document, byte for byte */
        nt_buf mem = NT_BUF_INIT;
        CHECK_OK(verifier_report_pdf_buf(&mem, r, "zh"));
        CHECK(mem.len == pdf.len && memcmp(mem.ptr, pdf.ptr, pdf.len) == 0);
        CHECK_ERR(verifier_report_pdf_buf(&mem, r, "fr"), NT_EINVAL);
        nt_buf_dispose(&mem);
    } else {
        CHECK_ERR(verifier_report_pdf(r, path, "en"), NT_EUNSUPPORTED);
    }

    /* report signature: TSA key as the report signer, checked against the root */
    char key[600], cert[600], roots[600];
    nt_buf pem = NT_BUF_INIT;
    snprintf(key, sizeof(key), "%s/signer.key", g_dir);
    snprintf(cert, sizeof(cert), "%s/signer.pem", g_dir);
    snprintf(roots, sizeof(roots), "%s/roots.pem", g_dir);
    BIO *b = BIO_new(BIO_s_mem());
    char *p = NULL;
    REQUIRE(b != NULL && PEM_write_bio_PrivateKey(b, k.pki.tsa_key, NULL, NULL, 0, NULL, NULL));
    long n = BIO_get_mem_data(b, &p);
    REQUIRE(nt_file_write_atomic(key, p, (size_t)n, 0600) == 0);
    BIO_free(b);
    REQUIRE(fx_pem_cert(&pem, k.pki.tsa) == 0);
    REQUIRE(nt_file_write_atomic(cert, pem.ptr, pem.len, 0600) == 0);
    REQUIRE(nt_file_write_atomic(roots, k.trust.ptr, k.trust.len, 0600) == 0);
    CHECK_OK(verifier_report_sign(&sig, nt_buf_bytes(&json), key, cert, NULL));
    CHECK_OK(
        verifier_report_signature_check(&signer, nt_buf_bytes(&json), nt_buf_bytes(&sig), roots));
    CHECK(strstr(nt_buf_cstr(&signer), "Test TSA") != NULL);
    json.ptr[20] ^= 0x01;
    CHECK_ERR(verifier_report_signature_check(NULL, nt_buf_bytes(&json), nt_buf_bytes(&sig), roots),
              NT_EVERIFY);
    CHECK_ERR(verifier_report_signature_check(NULL, nt_buf_bytes(&json), NT_BYTES("xx", 2), roots),
              NT_EINVAL);

    nt_buf_dispose(&pem);
    nt_buf_dispose(&json);
    nt_buf_dispose(&sig);
    nt_buf_dispose(&pdf);
    nt_buf_dispose(&signer);
    verifier_report_free(r);
    kase_dispose(&k);
}

/*
 * LeakSanitizer hook (used only in sanitizer builds): fontconfig, pango and
 * cairo keep process-wide font caches that they never free; those are not
 * our leaks.  A leak of ours that passes through these libraries would be
 * hidden too, which is why report_pdf.c releases every layout and font
 * description it creates.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig.so\nleak:libpango\nleak:libcairo.so\nleak:libglib-2.0.so\n"
           "leak:libharfbuzz.so\nleak:libfreetype.so\n";
}

/*
 * A receipt for g_text appended to k's log: its leaf has `meta` (NULL = none);
 * in the receipt the metadata is given (withheld 0) or withheld (1) or left
 * out silently (2).  bad_time 1 / 2 writes month 13 into the TSA
 * certificate's notBefore / notAfter inside the token (and the receipt's
 * copy) before the leaf is made, so that only the certificate is broken.
 */
static void mint_custom(nt_buf *json, kase *k, const char *meta, int withheld, int bad_time)
{
    uint8_t md[32];
    nt_buf token = NT_BUF_INIT, leaf = NT_BUF_INIT;
    receipt rc;

    receipt_init(&rc);
    SHA256((const uint8_t *)g_text, strlen(g_text), md);
    REQUIRE(fx_token(&token, k->pki.tsa_key, k->pki.tsa, NULL, NID_sha256, md, 32, g_gen) == 0);
    REQUIRE(fx_log_receipt(&rc, &k->log, 0, (const uint8_t *)"x", 1, nt_buf_bytes(&token),
                           k->pki.tsa) == 0); /* for rc.certs[0], the certificate's DER */
    if (bad_time != 0) {
        const nt_buf *cert = &rc.certs[0];
        uint8_t *at = NULL;
        int seen = 0;
        for (size_t i = 0; at == NULL && i + cert->len <= token.len; i++) {
            if (memcmp(token.ptr + i, cert->ptr, cert->len) == 0) {
                at = token.ptr + i;
            }
        }
        REQUIRE(at != NULL);
        /* Validity ::= SEQUENCE { notBefore Time, notAfter Time }: the 1st / 2nd UTCTime */
        for (size_t i = 0; i + 15 <= cert->len; i++) {
            if (at[i] == 0x17 && at[i + 1] == 0x0d && at[i + 14] == 'Z' && ++seen == bad_time) {
                at[i + 4] = '1';
                at[i + 5] = '3';
                memcpy(cert->ptr + i + 4, "13", 2);
                break;
            }
        }
        REQUIRE(seen == bad_time);
    }
    REQUIRE(fx_leaf(&leaf, RECORD_ALG_SHA256, md, 32, nt_buf_bytes(&token),
                    meta != NULL ? NT_BYTES(meta, strlen(meta)) : NT_BYTES(NULL, 0)) == 0);
    REQUIRE(fx_log_append(&k->log, leaf.ptr, leaf.len) == 0);
    {
        nt_buf cert = rc.certs[0];
        rc.certs[0] = (nt_buf)NT_BUF_INIT;
        receipt_dispose(&rc);
        receipt_init(&rc);
        REQUIRE(fx_log_receipt(&rc, &k->log, k->log.size - 1, leaf.ptr, leaf.len,
                               nt_buf_bytes(&token), NULL) == 0);
        rc.certs[0] = cert;
        rc.cert_count = 1;
    }
    if (meta != NULL && withheld == 0) {
        rc.has_metadata = 1;
        REQUIRE(nt_buf_set(&rc.metadata, meta, strlen(meta)) == 0);
    }
    rc.metadata_withheld = withheld == 1;
    nt_buf_clear(json);
    REQUIRE(receipt_encode(json, &rc) == 0);
    receipt_dispose(&rc);
    nt_buf_dispose(&token);
    nt_buf_dispose(&leaf);
}

/* A receipt read without the writer's API key withholds the metadata: still PASSED. */
static void test_metadata_withheld(void)
{
    kase k;
    verifier_options o;
    verifier_report *r = NULL;
    const char *sub;
    const char *meta = "{\"email\":\"a@example.test\",\"iban\":\"DE00123\"}";
    nt_buf json = NT_BUF_INIT, report = NT_BUF_INIT;

    kase_new(&k, g_gen - FX_DAY, g_gen + 365 * FX_DAY, "notarium.test/log");
    mint_custom(&json, &k, meta, 0, 0);
    opts_of(&o, &k, &json);
    CHECK(vfx_run(&o, &sub) == VERIFIER_PASSED);
    mint_custom(&json, &k, meta, 1, 0);
    opts_of(&o, &k, &json);
    CHECK(vfx_run(&o, &sub) == VERIFIER_PASSED);
    REQUIRE(verifier_run(&r, &o) == 0);
    REQUIRE(verifier_report_json(&report, r) == 0);
    CHECK(strstr(nt_buf_cstr(&report), "ledger.leaf_ok_metadata_withheld") != NULL);
    CHECK(strstr(nt_buf_cstr(&report), "withholds the evidence metadata") != NULL);
    CHECK(strstr(nt_buf_cstr(&report), "DE00123") == NULL);
    verifier_report_free(r);
    /* twins: metadata dropped without saying so; withheld on a leaf that has none */
    mint_custom(&json, &k, meta, 2, 0);
    opts_of(&o, &k, &json);
    CHECK(vfx_run(&o, &sub) == VERIFIER_FAILED);
    CHECK_STR(sub, "LEAF_MISMATCH");
    mint_custom(&json, &k, NULL, 1, 0);
    opts_of(&o, &k, &json);
    CHECK(vfx_run(&o, &sub) == VERIFIER_FAILED);
    CHECK_STR(sub, "LEAF_MISMATCH");
    nt_buf_dispose(&report);
    nt_buf_dispose(&json);
    kase_dispose(&k);
}

/* A TSA certificate whose validity is not a valid time is a format failure, not an error. */
static void test_malformed_validity(void)
{
    kase k;
    verifier_options o;
    const char *sub;
    nt_buf json = NT_BUF_INIT;

    kase_new(&k, g_gen - FX_DAY, g_gen + 365 * FX_DAY, "notarium.test/log");
    mint_custom(&json, &k, NULL, 0, 0); /* the positive twin, minted the same way */
    opts_of(&o, &k, &json);
    CHECK(vfx_run(&o, &sub) == VERIFIER_PASSED);
    for (int which = 1; which <= 2; which++) {
        mint_custom(&json, &k, NULL, 0, which);
        opts_of(&o, &k, &json);
        CHECK(vfx_run(&o, &sub) == VERIFIER_FAILED);
        CHECK_STR(sub, "FORMAT_FAILURE");
    }
    nt_buf_dispose(&json);
    kase_dispose(&k);
}

/*
 * A receipt whose JSON error quotes a cut character: a backslash before an em dash
 * (e2 80 94) is an invalid escape, and jansson's "near '...'" stops after its first
 * byte.  The report still renders, the bad byte shown as
 * U+FFFD and the rest of the message kept (found by fuzz/verify_receipt; its input is in
 * tests/fuzz/corpus/verify_receipt/invalid-utf8-in-error.json).
 */
static void test_receipt_error_not_utf8(void)
{
    static const char bad[] = "{\"version\": 1, \"log\": {\"origin\": \"e2e\\\xe2\x80\x94\"}}";
    kase k;
    verifier_options o;
    verifier_report *r = NULL;
    nt_buf j = NT_BUF_INIT, receipt_json = NT_BUF_INIT;
    kase_new(&k, g_gen - FX_DAY, g_gen + 365 * FX_DAY, "notarium.test/log");
    REQUIRE(nt_buf_put(&receipt_json, bad, sizeof(bad) - 1) == 0);
    opts_of(&o, &k, &receipt_json);
    REQUIRE(verifier_run(&r, &o) == 0);
    CHECK(verifier_report_indication(r) != VERIFIER_PASSED);
    CHECK_OK(verifier_report_json(&j, r));
    CHECK(nt_utf8_valid(j.ptr, j.len));
    CHECK(strstr(nt_buf_cstr(&j), "not a Notarium receipt") != NULL);
    CHECK(strstr(nt_buf_cstr(&j), "\xef\xbf\xbd") != NULL); /* U+FFFD */
    nt_buf_dispose(&j);
    nt_buf_dispose(&receipt_json);
    verifier_report_free(r);
    kase_dispose(&k);
}

int main(void)
{
    REQUIRE(test_tmpdir(g_dir, sizeof(g_dir)) != NULL);
    snprintf(g_doc, sizeof(g_doc), "%s/contract.txt", g_dir);
    snprintf(g_doc2, sizeof(g_doc2), "%s/contract-changed.txt", g_dir);
    REQUIRE(nt_file_write_atomic(g_doc, g_text, strlen(g_text), 0600) == 0);
    char changed[sizeof(g_text)];
    memcpy(changed, g_text, sizeof(g_text));
    changed[40] ^= 0x01;
    REQUIRE(nt_file_write_atomic(g_doc2, changed, strlen(g_text), 0600) == 0);
    g_gen = time(NULL) - 7 * FX_DAY;

    test_genuine_and_changed_byte();
    test_steps_and_json();
    test_ledger_forgeries();
    test_trust();
    test_validity_at_gen_time();
    test_revocation();
    test_usage_errors();
    test_pdf_and_signature();
    test_metadata_withheld();
    test_malformed_validity();
    test_receipt_error_not_utf8();

    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", g_dir);
    }
    return TEST_END();
}
