/*
 * case_test.c - verification of evidence bundles (verifier/verify_case.c),
 * one case per verdict: a genuine two-party signing process PASSED with its
 * documents and a disclosure; then an event removed, two events swapped, an
 * event of another case spliced in, a changed document, a wrong disclosed
 * value, an event after completion, a checkpoint that is not the log key's,
 * a body that does not hash to its leaf, genTime going backwards, an unsealed
 * case (PASSED with its limit), and a malformed bundle member by member,
 * each with its indication and sub-indication.  Bundles are built by
 * tests/fixture/case_fixture.h exactly as the cases spec says.
 */
#include "tests/fixture/case_fixture.h"
#include "tests/unit/test.h"
#include "verifier/verifier.h"

#include <unistd.h>

static char g_dir[256];
static char g_doc[512], g_doc2[512], g_disc[512], g_bad_disc[512];
static const char g_contract[] = "CONTRACT between Alice and Bob: 100 units at 5.00 each.\n";
static const char g_signed[] = "CONTRACT between Alice and Bob, signed by both.\n";
static time_t g_gen;
static cfx g_c; /* one log: case "C-1" (two parties, sealed), "C-2" (open), "X-1" (spliced) */

static const char *const alice[] = {"name", "Alice Zhang", "phone", "+86 138 0000 0000"};
static const char *const bob[] = {"name", "Bob Li", "ip", "203.0.113.7"};

static void build_cases(void)
{
    REQUIRE(cfx_init(&g_c, "notarium.test/cases", g_gen) == 0);
    REQUIRE(cfx_add(&g_c, "acme", "C-1", "identity.verified", NULL, NULL, alice, 2) == 0);
    REQUIRE(cfx_add(&g_c, "acme", "C-1", "document.uploaded", g_contract, "contract.pdf", NULL,
                    0) == 0);
    REQUIRE(cfx_add(&g_c, "acme", "X-1", "document.uploaded", g_contract, "other.pdf", NULL, 0) ==
            0);
    REQUIRE(cfx_add(&g_c, "acme", "C-1", "document.signed", g_contract, "contract.pdf", alice, 2) ==
            0);
    REQUIRE(cfx_add(&g_c, "acme", "C-1", "identity.verified", NULL, NULL, bob, 2) == 0);
    REQUIRE(cfx_add(&g_c, "acme", "C-2", "document.uploaded", g_contract, "draft.pdf", NULL, 0) ==
            0);
    REQUIRE(cfx_add(&g_c, "acme", "X-1", "document.signed", g_contract, "other.pdf", NULL, 0) == 0);
    REQUIRE(cfx_add(&g_c, "acme", "C-1", "document.signed", g_signed, "signed.pdf", bob, 2) == 0);
    REQUIRE(cfx_add(&g_c, "acme", "C-1", "case.completed", NULL, NULL, NULL, 0) == 0);
    REQUIRE(cfx_add(&g_c, "acme", "C-2", "document.viewed", NULL, NULL, NULL, 0) == 0);
}

static void write_file(const char *path, const char *text)
{
    REQUIRE(nt_file_write_atomic(path, text, strlen(text), 0600) == 0);
}

/* A disclosure line for (seq, name, value) with the fixture's salt. */
static void disclosure_file(const char *path, uint64_t seq, const char *name, const char *value,
                            const char *salt_of)
{
    uint8_t salt[EVENT_SALT_SIZE];
    char hex[65], text[512];
    cfx_salt(salt, name, salt_of);
    nt_hex_fill(hex, salt, 32);
    snprintf(text, sizeof(text),
             "{\"disclosures\": [{\"seq\": %llu, \"attribute\": \"%s\", \"value\": \"%s\", "
             "\"salt\": \"%s\"}]}\n",
             (unsigned long long)seq, name, value, hex);
    write_file(path, text);
}

typedef struct run {
    verifier_indication ind;
    char sub[64];
    nt_buf json;
} run;

/* Verify `bundle` (a jansson object, consumed) with the given documents and disclosures. */
static void verify(run *out, json_t *bundle, const char *doc, const char *disc, const nt_buf *vkey)
{
    verifier_case_options o;
    verifier_case_report *r = NULL;
    nt_buf text = NT_BUF_INIT;
    memset(out, 0, sizeof(*out));
    REQUIRE(bundle != NULL && cfx_bundle_text(&text, bundle) == 0);
    json_decref(bundle);
    memset(&o, 0, sizeof(o));
    o.bundle = nt_buf_bytes(&text);
    o.trust = nt_buf_bytes(&g_c.trust);
    o.log_key = nt_buf_bytes(vkey != NULL ? vkey : &g_c.vkey);
    o.now = g_gen + 3600;
    if (doc != NULL) {
        o.document_paths[0] = doc;
        o.document_count = 1;
    }
    o.disclose_path = disc;
    int rc = verifier_case_run(&r, &o);
    if (rc != 0) {
        fprintf(stderr, "verifier_case_run: %s\n", nt_error_last());
        out->ind = (verifier_indication)-1;
        snprintf(out->sub, sizeof(out->sub), "ERROR");
    } else {
        const char *s = verifier_case_report_subindication(r);
        out->ind = verifier_case_report_indication(r);
        snprintf(out->sub, sizeof(out->sub), "%s", s != NULL ? s : "");
        CHECK_OK(verifier_case_report_json(&out->json, r));
    }
    verifier_case_report_free(r);
    nt_buf_dispose(&text);
}

static int json_has(const run *r, const char *needle)
{
    return r->json.ptr != NULL && strstr(nt_buf_cstr(&r->json), needle) != NULL;
}

#define EXPECT(r, want_ind, want_sub)                                                              \
    do {                                                                                           \
        CHECK((r).ind == (want_ind));                                                              \
        if (strcmp((r).sub, (want_sub)) != 0) {                                                    \
            fprintf(stderr, "%s:%d: sub-indication %s, expected %s\n", __FILE__, __LINE__,         \
                    (r).sub, (want_sub));                                                          \
            CHECK(0);                                                                              \
        }                                                                                          \
    } while (0)

static json_t *c1(void)
{
    return cfx_bundle_json(&g_c, "acme", "C-1");
}

static json_t *events_of(json_t *b)
{
    return json_object_get(b, "events");
}

static void test_genuine(void)
{
    run r;
    verify(&r, c1(), g_doc, g_disc, NULL);
    EXPECT(r, VERIFIER_PASSED, "");
    /* the timeline shows the disclosed value, and only that one */
    CHECK(json_has(&r, "\"value\": \"+86 138 0000 0000\""));
    CHECK(!json_has(&r, "Alice Zhang"));
    CHECK(json_has(&r, "\"attribute\": \"name\",\n          \"disclosed\": false"));
    CHECK(json_has(&r, "\"claimed_by\": [\n          2,\n          3\n        ]"));
    CHECK(json_has(&r, "\"sealed\": true"));
    CHECK(json_has(&r, "\"kind\": \"case.completed\""));
    /* deterministic: the same inputs give the same bytes */
    run again;
    verify(&again, c1(), g_doc, g_disc, NULL);
    CHECK(r.json.len == again.json.len && memcmp(r.json.ptr, again.json.ptr, r.json.len) == 0);
    nt_buf_dispose(&again.json);
    nt_buf_dispose(&r.json);

    /* the second document (signed by both) is claimed by seq 5 */
    verify(&r, c1(), g_doc2, NULL, NULL);
    EXPECT(r, VERIFIER_PASSED, "");
    CHECK(json_has(&r, "\"claimed_by\": [\n          5\n        ]"));
    nt_buf_dispose(&r.json);
}

static void test_unsealed(void)
{
    run r;
    verify(&r, cfx_bundle_json(&g_c, "acme", "C-2"), NULL, NULL, NULL);
    EXPECT(r, VERIFIER_PASSED, "");
    CHECK(json_has(&r, "completeness is proven only up to the last event shown (seq 2)"));
    CHECK(json_has(&r, "\"sealed\": false"));
    nt_buf_dispose(&r.json);
    /* twin: the unsealed case claiming to be sealed */
    json_t *b = cfx_bundle_json(&g_c, "acme", "C-2");
    json_object_set_new(b, "sealed", json_true());
    verify(&r, b, NULL, NULL, NULL);
    EXPECT(r, VERIFIER_FAILED, "SEAL_MISMATCH");
    nt_buf_dispose(&r.json);
}

static void test_chain(void)
{
    run r;
    json_t *b = c1();
    /* an event removed: the chain breaks at seq 3 */
    json_array_remove(events_of(b), 2);
    verify(&r, b, NULL, NULL, NULL);
    EXPECT(r, VERIFIER_FAILED, "CHAIN_GAP");
    CHECK(json_has(&r, "chain broken at seq 3: the next event shown is seq 4"));
    nt_buf_dispose(&r.json);

    /* the first event removed */
    b = c1();
    json_array_remove(events_of(b), 0);
    verify(&r, b, NULL, NULL, NULL);
    EXPECT(r, VERIFIER_FAILED, "CHAIN_GAP");
    CHECK(json_has(&r, "chain broken at seq 1"));
    nt_buf_dispose(&r.json);

    /* two events swapped */
    b = c1();
    json_t *e1 = json_incref(json_array_get(events_of(b), 1));
    json_array_set(events_of(b), 1, json_array_get(events_of(b), 2));
    json_array_set_new(events_of(b), 2, e1);
    verify(&r, b, NULL, NULL, NULL);
    EXPECT(r, VERIFIER_FAILED, "CHAIN_ORDER");
    CHECK(json_has(&r, "events out of order: position 2 holds seq 3"));
    nt_buf_dispose(&r.json);

    /* an event of another case spliced in (same log, same checkpoint, its proof valid) */
    b = c1();
    json_t *other = cfx_bundle_json(&g_c, "acme", "X-1");
    json_array_set(events_of(b), 2, json_array_get(events_of(other), 1));
    json_decref(other);
    verify(&r, b, NULL, NULL, NULL);
    EXPECT(r, VERIFIER_FAILED, "WRONG_CASE");
    CHECK(json_has(&r, "belongs to case \\\"X-1\\\""));
    nt_buf_dispose(&r.json);
}

static void test_completion_and_time(void)
{
    run r;
    cfx c;
    REQUIRE(cfx_init(&c, "notarium.test/after", g_gen) == 0);
    REQUIRE(cfx_add(&c, "t", "A", "document.uploaded", g_contract, "c.pdf", NULL, 0) == 0);
    REQUIRE(cfx_add(&c, "t", "A", "case.completed", NULL, NULL, NULL, 0) == 0);
    REQUIRE(cfx_add(&c, "t", "A", "document.viewed", NULL, NULL, NULL, 0) == 0);
    json_t *b = cfx_bundle_json(&c, "t", "A");
    verifier_case_options o;
    verifier_case_report *rep = NULL;
    nt_buf text = NT_BUF_INIT;
    REQUIRE(cfx_bundle_text(&text, b) == 0);
    json_decref(b);
    memset(&o, 0, sizeof(o));
    o.bundle = nt_buf_bytes(&text);
    o.trust = nt_buf_bytes(&c.trust);
    o.log_key = nt_buf_bytes(&c.vkey);
    o.now = g_gen + 3600;
    CHECK_OK(verifier_case_run(&rep, &o));
    CHECK(verifier_case_report_indication(rep) == VERIFIER_FAILED);
    CHECK_STR(verifier_case_report_subindication(rep), "EVENT_AFTER_COMPLETION");
    CHECK(verifier_case_report_exit_code(rep) == 1);
    verifier_case_report_free(rep);
    rep = NULL;
    /* genTime going backwards along a well-linked chain */
    c.gen = g_gen - 600;
    REQUIRE(cfx_add(&c, "t", "B", "document.uploaded", g_contract, "c.pdf", NULL, 0) == 0);
    c.gen = g_gen - 1200;
    REQUIRE(cfx_add(&c, "t", "B", "document.signed", g_contract, "c.pdf", NULL, 0) == 0);
    nt_buf_clear(&text);
    b = cfx_bundle_json(&c, "t", "B");
    REQUIRE(cfx_bundle_text(&text, b) == 0);
    json_decref(b);
    o.bundle = nt_buf_bytes(&text);
    CHECK_OK(verifier_case_run(&rep, &o));
    CHECK(verifier_case_report_indication(rep) == VERIFIER_FAILED);
    CHECK_STR(verifier_case_report_subindication(rep), "TIME_ORDER_FAILURE");
    verifier_case_report_free(rep);
    nt_buf_dispose(&text);
    cfx_dispose(&c);
    (void)r;
}

static void test_documents_disclosures(void)
{
    run r;
    char changed[512];
    snprintf(changed, sizeof(changed), "%s/changed.txt", g_dir);
    write_file(changed, "CONTRACT between Alice and Bob: 900 units at 5.00 each.\n");
    verify(&r, c1(), changed, NULL, NULL);
    EXPECT(r, VERIFIER_FAILED, "DOCUMENT_NOT_IN_CASE");
    nt_buf_dispose(&r.json);
    unlink(changed);

    verify(&r, c1(), NULL, g_bad_disc, NULL);
    EXPECT(r, VERIFIER_FAILED, "DISCLOSURE_MISMATCH");
    CHECK(json_has(&r, "does not match its commitment"));
    nt_buf_dispose(&r.json);

    /* an attribute the event does not have, an event not in the bundle */
    char p[512];
    snprintf(p, sizeof(p), "%s/d3.json", g_dir);
    disclosure_file(p, 1, "ip", "203.0.113.7", "203.0.113.7");
    verify(&r, c1(), NULL, p, NULL);
    EXPECT(r, VERIFIER_FAILED, "DISCLOSURE_MISMATCH");
    CHECK(json_has(&r, "no such attribute"));
    nt_buf_dispose(&r.json);
    disclosure_file(p, 9, "ip", "203.0.113.7", "203.0.113.7");
    verify(&r, c1(), NULL, p, NULL);
    EXPECT(r, VERIFIER_FAILED, "DISCLOSURE_MISMATCH");
    CHECK(json_has(&r, "no such event"));
    nt_buf_dispose(&r.json);

    /* a malformed disclosures file is a usage error, not a report */
    write_file(p, "{\"disclosures\": [{\"seq\": 1, \"attribute\": \"ip\", \"value\": \"x\"}]}");
    verify(&r, c1(), NULL, p, NULL);
    CHECK(r.ind == (verifier_indication)-1);
    CHECK(strstr(nt_error_last(), "disclosures[0].salt: missing") != NULL);
    unlink(p);
}

static void test_ledger(void)
{
    run r;
    /* the checkpoint signed by another key of the same name */
    fx_log other;
    nt_buf vkey = NT_BUF_INIT;
    REQUIRE(fx_log_new(&other, "notarium.test/cases") == 0);
    REQUIRE(fx_log_vkey(&vkey, &other) == 0);
    verify(&r, c1(), NULL, NULL, &vkey);
    EXPECT(r, VERIFIER_FAILED, "CHECKPOINT_SIGNATURE_FAILURE");
    nt_buf_dispose(&r.json);
    fx_log_dispose(&other);
    nt_buf_clear(&vkey);
    /* another log altogether */
    REQUIRE(fx_log_new(&other, "notarium.test/elsewhere") == 0);
    REQUIRE(fx_log_vkey(&vkey, &other) == 0);
    verify(&r, c1(), NULL, NULL, &vkey);
    EXPECT(r, VERIFIER_FAILED, "LOG_MISMATCH");
    nt_buf_dispose(&r.json);
    fx_log_dispose(&other);
    nt_buf_dispose(&vkey);

    /* a body that does not hash to its leaf (the body of another event) */
    json_t *b = c1();
    json_t *e2 = json_array_get(events_of(b), 2);
    json_object_set(e2, "body", json_object_get(json_array_get(events_of(b), 1), "body"));
    verify(&r, b, NULL, NULL, NULL);
    EXPECT(r, VERIFIER_FAILED, "HASH_FAILURE");
    CHECK(json_has(&r, "event seq 3 (leaf"));
    nt_buf_dispose(&r.json);

    /* a tampered inclusion proof */
    b = c1();
    json_t *hashes =
        json_object_get(json_object_get(json_array_get(events_of(b), 0), "proof"), "hashes");
    json_array_set_new(hashes, 0, json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
    verify(&r, b, NULL, NULL, NULL);
    EXPECT(r, VERIFIER_FAILED, "INCLUSION_PROOF_FAILURE");
    nt_buf_dispose(&r.json);

    /* untrusted TSA: INDETERMINATE, as for a single receipt */
    fx_pki pki;
    REQUIRE(fx_pki_new(&pki, "Other Root", "Other TSA", g_gen - FX_DAY, g_gen + FX_DAY) == 0);
    nt_buf trust = NT_BUF_INIT;
    REQUIRE(fx_pem_cert(&trust, pki.root) == 0);
    nt_buf saved = g_c.trust;
    g_c.trust = trust;
    verify(&r, c1(), NULL, NULL, NULL);
    g_c.trust = saved;
    EXPECT(r, VERIFIER_INDETERMINATE, "NO_CERTIFICATE_CHAIN_FOUND");
    nt_buf_dispose(&r.json);
    nt_buf_dispose(&trust);
    fx_pki_dispose(&pki);
}

/* One malformed member: FAILED FORMAT_FAILURE and the member named in the report. */
static void malformed(json_t *b, const char *named)
{
    run r;
    verify(&r, b, NULL, NULL, NULL);
    EXPECT(r, VERIFIER_FAILED, "FORMAT_FAILURE");
    if (!json_has(&r, named)) {
        fprintf(stderr, "report does not name %s:\n%s\n", named, nt_buf_cstr(&r.json));
        CHECK(0);
    }
    nt_buf_dispose(&r.json);
}

static void test_malformed(void)
{
    static const char *const top[] = {"format",       "version",     "tenant", "case",
                                      "sealed",       "exported_at", "log",    "checkpoint",
                                      "certificates", "events"};
    for (size_t i = 0; i < NT_ARRAY_LEN(top); i++) {
        json_t *b = c1();
        json_object_del(b, top[i]);
        char named[64];
        snprintf(named, sizeof(named), "%s: missing", top[i]);
        malformed(b, named);
    }
    json_t *b = c1();
    json_object_set_new(b, "format", json_string("notarium.receipt"));
    malformed(b, "format: not");
    b = c1();
    json_object_set_new(b, "version", json_integer(2));
    malformed(b, "version: not 1");
    b = c1();
    json_object_set_new(b, "extra", json_true());
    malformed(b, "extra: unknown member");
    b = c1();
    json_object_set_new(b, "sealed", json_string("yes"));
    malformed(b, "sealed: not a boolean");
    b = c1();
    json_object_set_new(b, "case", json_string("C 1"));
    malformed(b, "case: not 1..128");
    b = c1();
    json_object_set_new(b, "events", json_array());
    malformed(b, "events: not 1..");
    b = c1();
    json_t *e = json_array_get(events_of(b), 3);
    json_array_set_new(json_object_get(json_object_get(e, "proof"), "hashes"), 1,
                       json_string("AAAA"));
    malformed(b, "events[3].proof.hashes[1]: not 32 bytes of base64");
    b = c1();
    json_object_del(json_array_get(events_of(b), 1), "token");
    malformed(b, "events[1].token: missing");
    b = c1();
    json_object_set_new(json_array_get(events_of(b), 0), "body", json_string("!!"));
    malformed(b, "events[0].body: not base64");
    b = c1();
    json_object_set_new(json_object_get(json_array_get(events_of(b), 0), "leaf"), "index",
                        json_integer(-1));
    malformed(b, "events[0].leaf.index: out of range");
    b = c1();
    json_object_set_new(json_array_get(events_of(b), 0), "seq", json_integer(0));
    malformed(b, "events[0].seq: 0");
    b = c1();
    json_object_set_new(json_array_get(events_of(b), 2), "note", json_string("x"));
    malformed(b, "events[2].note: unknown member");
    b = c1();
    json_array_set_new(json_object_get(b, "certificates"), 0, json_integer(5));
    malformed(b, "certificates[0]: not a string");
    /* an event whose bundle seq disagrees with its body */
    b = c1();
    json_object_set_new(json_array_get(events_of(b), 1), "seq", json_integer(7));
    malformed(b, "the body's seq differs");

    /* a duplicate member, and bytes that are not JSON */
    run r;
    verifier_case_options o;
    verifier_case_report *rep = NULL;
    static const char dup[] = "{\"format\": \"notarium.case-bundle\", \"format\": \"x\"}";
    memset(&o, 0, sizeof(o));
    o.bundle = NT_BYTES(dup, strlen(dup));
    o.trust = nt_buf_bytes(&g_c.trust);
    o.log_key = nt_buf_bytes(&g_c.vkey);
    o.now = g_gen;
    CHECK_OK(verifier_case_run(&rep, &o));
    CHECK(verifier_case_report_indication(rep) == VERIFIER_FAILED);
    CHECK_STR(verifier_case_report_subindication(rep), "FORMAT_FAILURE");
    memset(&r, 0, sizeof(r));
    CHECK_OK(verifier_case_report_json(&r.json, rep));
    CHECK(json_has(&r, "duplicate"));
    nt_buf_dispose(&r.json);
    verifier_case_report_free(rep);
}

/* The report of `bundle` (consumed); the caller frees it. */
static verifier_case_report *report_of(json_t *bundle)
{
    verifier_case_options o;
    verifier_case_report *rep = NULL;
    nt_buf text = NT_BUF_INIT;
    REQUIRE(bundle != NULL && cfx_bundle_text(&text, bundle) == 0);
    json_decref(bundle);
    memset(&o, 0, sizeof(o));
    o.bundle = nt_buf_bytes(&text);
    o.trust = nt_buf_bytes(&g_c.trust);
    o.log_key = nt_buf_bytes(&g_c.vkey);
    o.now = g_gen + 3600;
    REQUIRE(verifier_case_run(&rep, &o) == 0);
    nt_buf_dispose(&text);
    return rep;
}

static void test_certificate(void)
{
    verifier_case_report *rep = report_of(c1());
    nt_buf cert = NT_BUF_INIT, again = NT_BUF_INIT;
    json_error_t jerr;
    CHECK_OK(verifier_case_certificate(&cert, rep, g_gen + 7200));
    json_t *j = json_loadb((const char *)cert.ptr, cert.len, 0, &jerr);
    REQUIRE(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "type")), "notarium.preservation-certificate");
    CHECK_STR(json_string_value(json_object_get(j, "case")), "C-1");
    CHECK(json_array_size(json_object_get(j, "events")) == 6);
    /* the contract is carried by seq 2 and 3, once in the list */
    json_t *d0 = json_array_get(json_object_get(j, "documents"), 0);
    CHECK(json_array_size(json_object_get(j, "documents")) == 2);
    CHECK(json_array_size(json_object_get(d0, "events")) == 2 &&
          json_integer_value(json_array_get(json_object_get(d0, "events"), 1)) == 3);
    CHECK(json_integer_value(json_object_get(json_object_get(j, "ledger"), "tree_size")) ==
          (json_int_t)g_c.log.size);
    json_t *e5 = json_array_get(json_object_get(j, "events"), 5);
    CHECK_STR(json_string_value(json_object_get(e5, "kind")), "case.completed");
    CHECK(json_integer_value(json_object_get(e5, "leaf_index")) == (json_int_t)g_c.ev[8].index);
    json_decref(j);
    /* deterministic */
    CHECK_OK(verifier_case_certificate(&again, rep, g_gen + 7200));
    CHECK(cert.len == again.len && memcmp(cert.ptr, again.ptr, cert.len) == 0);
    if (verifier_pdf_supported()) {
        nt_buf pdf = NT_BUF_INIT;
        CHECK_OK(verifier_case_certificate_pdf(&pdf, NULL, rep, g_gen + 7200, "zh"));
        CHECK(pdf.len > 1000 && memcmp(pdf.ptr, "%PDF-", 5) == 0);
        nt_buf_dispose(&pdf);
    }
    verifier_case_report_free(rep);
    nt_buf_clear(&cert);

    /* twins: an unsealed case, a case that does not verify */
    rep = report_of(cfx_bundle_json(&g_c, "acme", "C-2"));
    CHECK(verifier_case_report_indication(rep) == VERIFIER_PASSED);
    CHECK_ERR(verifier_case_certificate(&cert, rep, g_gen), NT_EINVAL);
    CHECK(strstr(nt_error_last(), "not sealed") != NULL && cert.len == 0);
    CHECK_ERR(verifier_case_certificate_pdf(&cert, NULL, rep, g_gen, "en"), NT_EINVAL);
    verifier_case_report_free(rep);
    json_t *b = c1();
    json_array_remove(events_of(b), 2);
    rep = report_of(b);
    CHECK_ERR(verifier_case_certificate(&cert, rep, g_gen), NT_EINVAL);
    CHECK(strstr(nt_error_last(), "does not verify") != NULL && cert.len == 0);
    verifier_case_report_free(rep);
    nt_buf_dispose(&cert);
    nt_buf_dispose(&again);
}

static void test_pdf(void)
{
    if (!verifier_pdf_supported()) {
        return;
    }
    verifier_case_options o;
    verifier_case_report *rep = NULL;
    nt_buf text = NT_BUF_INIT, pdf = NT_BUF_INIT, pdf2 = NT_BUF_INIT;
    json_t *b = c1();
    REQUIRE(cfx_bundle_text(&text, b) == 0);
    json_decref(b);
    memset(&o, 0, sizeof(o));
    o.bundle = nt_buf_bytes(&text);
    o.trust = nt_buf_bytes(&g_c.trust);
    o.log_key = nt_buf_bytes(&g_c.vkey);
    o.disclose_path = g_disc;
    o.document_paths[0] = g_doc;
    o.document_count = 1;
    o.now = g_gen + 3600;
    CHECK_OK(verifier_case_run(&rep, &o));
    CHECK_OK(verifier_case_report_pdf_buf(&pdf, rep, "en"));
    CHECK_OK(verifier_case_report_pdf_buf(&pdf2, rep, "zh"));
    CHECK(pdf.len > 1000 && memcmp(pdf.ptr, "%PDF-", 5) == 0);
    CHECK(pdf2.len > 1000 && memcmp(pdf2.ptr, "%PDF-", 5) == 0);
    CHECK_ERR(verifier_case_report_pdf_buf(&pdf, rep, "fr"), NT_EINVAL);
    verifier_case_report_free(rep);
    nt_buf_dispose(&text);
    nt_buf_dispose(&pdf);
    nt_buf_dispose(&pdf2);
}

/*
 * LeakSanitizer hook (sanitizer builds only), as in verify_test.c: fontconfig, pango and cairo
 * keep process-wide font caches they never free; report_case_pdf.c and case_certificate.c
 * release every layout and string they create.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig.so\nleak:libpango\nleak:libcairo.so\nleak:libglib-2.0.so\n"
           "leak:libharfbuzz.so\nleak:libfreetype.so\n";
}

int main(void)
{
    g_gen = time(NULL) - 7 * FX_DAY;
    snprintf(g_dir, sizeof(g_dir), "/tmp/nt_case_test.XXXXXX");
    REQUIRE(mkdtemp(g_dir) != NULL);
    snprintf(g_doc, sizeof(g_doc), "%s/contract.txt", g_dir);
    snprintf(g_doc2, sizeof(g_doc2), "%s/signed.txt", g_dir);
    snprintf(g_disc, sizeof(g_disc), "%s/disclose.json", g_dir);
    snprintf(g_bad_disc, sizeof(g_bad_disc), "%s/bad.json", g_dir);
    write_file(g_doc, g_contract);
    write_file(g_doc2, g_signed);
    disclosure_file(g_disc, 3, "phone", "+86 138 0000 0000", "+86 138 0000 0000");
    disclosure_file(g_bad_disc, 3, "phone", "+86 139 0000 0000", "+86 138 0000 0000");
    build_cases();

    test_genuine();
    test_unsealed();
    test_chain();
    test_completion_and_time();
    test_documents_disclosures();
    test_ledger();
    test_malformed();
    test_certificate();
    test_pdf();

    cfx_dispose(&g_c);
    unlink(g_doc);
    unlink(g_doc2);
    unlink(g_disc);
    unlink(g_bad_disc);
    rmdir(g_dir);
    return TEST_END();
}
