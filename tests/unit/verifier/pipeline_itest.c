/*
 * pipeline_itest.c - the verifier on genuine receipts minted by the real
 * server components (certs dev PKI, tsa core, LMDB ledger, receipt codec),
 * not by the test fixture: the genuine document passes, and its twins (one
 * changed byte, the log key of another PKI, a receipt of leaf 0 presented
 * for the document of leaf 1) do not.  Built by verifier/CMakeLists.txt
 * (it links nt_tsa_core and nt_ledger, which the verifier library must not),
 * hence not named *_test.c.
 */
#include "certs/certs.h"
#include "ledger/ledger.h"
#include "tests/unit/test.h"
#include "tests/unit/verifier/verify_fixture.h"
#include "tsa/tsa.h"
#include "verifier/verifier.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

static char g_dir[256];

/* Issue a token for `doc`, append its leaf, and encode the receipt of that leaf. */
static void mint(nt_buf *receipt_json, uint64_t *index, tsa *t, ledger *l, const certs_signer *s,
                 const char *doc)
{
    uint8_t md[32];
    tsa_result res;
    nt_buf leaf = NT_BUF_INIT;
    receipt r;
    record rec;
    SHA256((const uint8_t *)doc, strlen(doc), md);
    tsa_result_init(&res);
    receipt_init(&r);
    REQUIRE(tsa_issue_digest(&res, t, RECORD_ALG_SHA256, NT_BYTES(md, 32)) == 0 && res.granted);
    memset(&rec, 0, sizeof(rec));
    rec.kind = RECORD_KIND_TIMESTAMP;
    rec.alg = RECORD_ALG_SHA256;
    rec.digest = NT_BYTES(md, 32);
    rec.token = nt_buf_bytes(&res.token);
    REQUIRE(record_encode(&leaf, &rec) == 0);
    REQUIRE(ledger_append(index, l, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0)) == 0);
    REQUIRE(ledger_receipt_fill(&r, l, *index) == 0);
    /* certificates: the TSA certificate first, then its chain */
    X509 *certs[RECEIPT_MAX_CERTS];
    size_t n = 0;
    certs[n++] = s->cert;
    for (int i = 0; s->chain != NULL && i < sk_X509_num(s->chain) && n < RECEIPT_MAX_CERTS; i++) {
        certs[n++] = sk_X509_value(s->chain, i);
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char *der = NULL;
        int len = i2d_X509(certs[i], &der);
        REQUIRE(len > 0);
        REQUIRE(nt_buf_set(&r.certs[i], der, (size_t)len) == 0);
        OPENSSL_free(der);
    }
    r.cert_count = n;
    nt_buf_clear(receipt_json);
    REQUIRE(receipt_encode(receipt_json, &r) == 0);
    receipt_dispose(&r);
    nt_buf_dispose(&leaf);
    tsa_result_dispose(&res);
}

static verifier_indication verify(const char *doc_path, const nt_buf *receipt_json,
                                  const char *trust, const char *vkey, const char **sub)
{
    verifier_options o;
    memset(&o, 0, sizeof(o));
    o.document_path = doc_path;
    o.receipt = nt_buf_bytes(receipt_json);
    o.trust_path = trust;
    o.log_key_path = vkey;
    return vfx_run(&o, sub);
}

int main(void)
{
    char pki_dir[300], other_dir[300], db[300], path[400], ca[400], vkey[400], other_vkey[400];
    const char *doc0 = "contract number zero\n", *doc1 = "contract number one\n";
    certs_signer *signer = NULL;
    EVP_PKEY *log_key = NULL;
    tsa *t = NULL;
    ledger *l = NULL;
    const char *sub;

    REQUIRE(test_tmpdir(g_dir, sizeof(g_dir)) != NULL);
    snprintf(pki_dir, sizeof(pki_dir), "%s/pki", g_dir);
    snprintf(other_dir, sizeof(other_dir), "%s/other", g_dir);
    snprintf(db, sizeof(db), "%s/ledger", g_dir);
    certs_pki_options po;
    memset(&po, 0, sizeof(po));
    po.dir = pki_dir;
    po.log_origin = "notarium.test/pipeline";
    REQUIRE(certs_pki_init(&po) == 0);
    po.dir = other_dir;
    REQUIRE(certs_pki_init(&po) == 0);

    char cert[400], key[400], chain[400];
    snprintf(cert, sizeof(cert), "%s/tsa.pem", pki_dir);
    snprintf(key, sizeof(key), "%s/tsa.key", pki_dir);
    snprintf(chain, sizeof(chain), "%s/chain.pem", pki_dir);
    snprintf(ca, sizeof(ca), "%s/ca.pem", pki_dir);
    snprintf(vkey, sizeof(vkey), "%s/log.vkey", pki_dir);
    snprintf(other_vkey, sizeof(other_vkey), "%s/log.vkey", other_dir);
    REQUIRE(certs_signer_load_pem(&signer, cert, key, NULL, NULL) == 0);
    snprintf(path, sizeof(path), "%s/log.key", pki_dir);
    REQUIRE(certs_log_key_load(&log_key, path) == 0);

    tsa_config cfg;
    tsa_config_init(&cfg);
    cfg.policy = "1.3.6.1.4.1.99999.1.1";
    cfg.accuracy_ms = 100;
    cfg.allow_unsynced_clock = 1;
    REQUIRE(tsa_new(&t, &cfg, signer) == 0);
    ledger_options lo;
    memset(&lo, 0, sizeof(lo));
    lo.path = db;
    lo.map_size = 16u << 20;
    lo.origin = po.log_origin;
    lo.log_key = log_key;
    lo.no_sync = 1;
    REQUIRE(ledger_open(&l, &lo) == 0);

    nt_buf r0 = NT_BUF_INIT, r1 = NT_BUF_INIT;
    uint64_t i0 = 0, i1 = 0;
    mint(&r0, &i0, t, l, signer, doc0);
    mint(&r1, &i1, t, l, signer, doc1);
    CHECK(i1 == i0 + 1);

    char d0[400], d1[400];
    snprintf(d0, sizeof(d0), "%s/doc0.txt", g_dir);
    snprintf(d1, sizeof(d1), "%s/doc1.txt", g_dir);
    REQUIRE(nt_file_write_atomic(d0, doc0, strlen(doc0), 0600) == 0);
    REQUIRE(nt_file_write_atomic(d1, doc1, strlen(doc1), 0600) == 0);

    CHECK(verify(d0, &r0, ca, vkey, &sub) == VERIFIER_PASSED);
    CHECK(verify(d1, &r1, ca, vkey, &sub) == VERIFIER_PASSED);
    /* twins */
    CHECK(verify(d1, &r0, ca, vkey, &sub) == VERIFIER_FAILED);
    CHECK_STR(sub, "HASH_FAILURE");
    CHECK(verify(d0, &r0, ca, other_vkey, &sub) == VERIFIER_FAILED);
    CHECK_STR(sub, "CHECKPOINT_SIGNATURE_FAILURE");
    char other_ca[400];
    snprintf(other_ca, sizeof(other_ca), "%s/ca.pem", other_dir);
    CHECK(verify(d0, &r0, other_ca, vkey, &sub) == VERIFIER_INDETERMINATE);
    CHECK_STR(sub, "NO_CERTIFICATE_CHAIN_FOUND");

    nt_buf_dispose(&r0);
    nt_buf_dispose(&r1);
    ledger_close(l);
    tsa_free(t);
    certs_signer_free(signer);
    EVP_PKEY_free(log_key);
    (void)chain;
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", g_dir);
    }
    return TEST_END();
}
