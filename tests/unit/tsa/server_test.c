/*
 * server_test.c - unit tests of the daemon's MHD-free pieces in tsa/server*.c:
 * JSON error replies (escaping, invalid UTF-8, truncation), the evidence
 * body parser (every accepted form and every refusal with its error code
 * and field), the per-request metrics, and the GET handlers of /v1/receipt,
 * /v1/receipts, /v1/proof/{inclusion,consistency} and /v1/checkpoint against a real ledger in a
 * temporary directory (proofs checked with merkle_verify_*, the checkpoint
 * with checkpoint_open).  The server object is assembled by hand: no signer,
 * no HTTP.  Part of the tsa unit tests; links nt_tsa.
 */
#include "tests/unit/tsa/server_fixture.h"

#include <jansson.h>
#include <openssl/evp.h>

#define ORIGIN "test.notarium.example/server"
#define LEAVES 7

static uint8_t digests[3][32]; /* leaf i has digests[i % 3] */

/* ------------------------------------------------------------------ helpers */

#define body_json sfx_body_json

/* status, "error" code and "field" (NULL = no field member) of an error reply */
static void check_error(const server_reply *r, unsigned status, const char *code, const char *field,
                        int line)
{
    json_t *j = body_json(r);
    const char *got_code = json_string_value(json_object_get(j, "error"));
    const char *got_field = json_string_value(json_object_get(j, "field"));
    int ok = r->status == status && got_code != NULL && strcmp(got_code, code) == 0 &&
             json_is_string(json_object_get(j, "message")) &&
             (field == NULL ? json_object_get(j, "field") == NULL
                            : got_field != NULL && strcmp(got_field, field) == 0) &&
             strcmp(r->content_type, "application/json") == 0;
    if (!ok) {
        fprintf(stderr, "server_test.c:%d: expected %u %s (%s), got %u: %.*s\n", line, status, code,
                field ? field : "-", r->status, (int)r->body.len, (const char *)r->body.ptr);
    }
    CHECK(ok);
    json_decref(j);
}
#define CHECK_ERROR(r, status, code, field) check_error((r), (status), (code), (field), __LINE__)

/* ------------------------------------------------------------------ replies */

static void test_reply_error(void)
{
    server_reply r;
    json_t *j;
    char long_msg[2000];

    server_reply_init(&r);
    CHECK(r.status == 500 && strcmp(r.content_type, "application/json") == 0 && r.body.len == 0);
    server_reply_error(&r, 400, "bad \"code\"", "a\\field", "line1\nline2 \"%s\" %d", "q", 7);
    j = body_json(&r);
    CHECK(r.status == 400);
    CHECK_STR(json_string_value(json_object_get(j, "error")), "bad \"code\"");
    CHECK_STR(json_string_value(json_object_get(j, "field")), "a\\field");
    CHECK_STR(json_string_value(json_object_get(j, "message")), "line1\nline2 \"q\" 7");
    CHECK(json_object_size(j) == 3);
    json_decref(j);

    /* replaces the earlier body; no field member when field is NULL */
    server_reply_error(&r, 404, "not_found", NULL, "%s", "no such resource");
    j = body_json(&r);
    CHECK(r.status == 404 && json_object_get(j, "field") == NULL && json_object_size(j) == 2);
    json_decref(j);

    /* bytes that are not UTF-8 never make the body invalid JSON */
    server_reply_error(&r, 400, "x", "\xff\xfe", "bad \xc3 byte");
    j = body_json(&r);
    CHECK_STR(json_string_value(json_object_get(j, "message")), "(invalid UTF-8)");
    CHECK_STR(json_string_value(json_object_get(j, "field")), "(invalid UTF-8)");
    json_decref(j);

    /* a long message is cut (511 bytes), the body still parses */
    memset(long_msg, 'm', sizeof(long_msg) - 1);
    long_msg[sizeof(long_msg) - 1] = '\0';
    server_reply_error(&r, 500, "internal_error", NULL, "%s", long_msg);
    j = body_json(&r);
    CHECK(strlen(json_string_value(json_object_get(j, "message"))) == 511);
    json_decref(j);
    server_reply_dispose(&r);
    server_reply_dispose(NULL);
}

/* ------------------------------------------------------------------ evidence */

typedef struct ev_case {
    const char *body;
    unsigned status; /* 0 = accepted */
    const char *code;
    const char *field;
} ev_case;

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_evidence_parse(void)
{
    server_config cfg;
    server s;
    server_evidence e;
    server_reply r;
    static const ev_case refusals[] = {
        {"", 400, "empty_body", NULL},
        {" \r\n\t", 400, "empty_body", NULL},
        {"{\"digest\": ", 400, "malformed_json", NULL},
        {"[\"sha256:" D64 "\"]", 400, "malformed_json", NULL},
        {"{\"digest\": \"sha256:" D64 "\", \"kind\": \"a\", \"kind\": \"b\"}", 400,
         "malformed_json", NULL},
        {"{\"digest\": \"sha256:" D64 "\", \"kind\": \"a\", \"label\": \"x\"}", 400,
         "unknown_member", "label"},
        {"{\"kind\": \"a\"}", 400, "missing_member", "digest"},
        {"{\"digest\": 5, \"kind\": \"a\"}", 400, "invalid_digest", "digest"},
        {"{\"digest\": \"\", \"kind\": \"a\"}", 400, "missing_member", "digest"},
        {"{\"digest\": \"" D64 "\", \"kind\": \"a\"}", 400, "invalid_digest", "digest"},
        {"{\"digest\": \":" D64 "\", \"kind\": \"a\"}", 400, "invalid_digest", "digest"},
        {"{\"digest\": \"sha256-long-alg-name:" D64 "\", \"kind\": \"a\"}", 400, "invalid_digest",
         "digest"},
        {"{\"digest\": \"sha257:" D64 "\", \"kind\": \"a\"}", 400, "unknown_algorithm", "digest"},
        {"{\"digest\": \"sha256:" D64 "0\", \"kind\": \"a\"}", 400, "invalid_digest", "digest"},
        {"{\"digest\": \"sha256:" D64 "zz\", \"kind\": \"a\"}", 400, "invalid_digest", "digest"},
        {"{\"digest\": \"sha256:" D64 "00\", \"kind\": \"a\"}", 400, "invalid_digest_length",
         "digest"},
        {"{\"digest\": \"sha512:" D64 "\", \"kind\": \"a\"}", 400, "invalid_digest_length",
         "digest"},
        {"{\"digest\": \"sha256:\", \"kind\": \"a\"}", 400, "invalid_digest_length", "digest"},
        {"{\"digest\": \"sha1:0123456789abcdef0123456789abcdef01234567\", \"kind\": \"a\"}", 400,
         "algorithm_not_accepted", "digest"},
        {"{\"digest\": \"md5:0123456789abcdef0123456789abcdef\", \"kind\": \"a\"}", 400,
         "algorithm_not_accepted", "digest"},
        {"{\"digest\": \"sha256:" D64 "\"}", 400, "missing_member", "kind"},
        {"{\"digest\": \"sha256:" D64 "\", \"kind\": \"\"}", 400, "invalid_kind", "kind"},
        {"{\"digest\": \"sha256:" D64 "\", \"kind\": \"a b\"}", 400, "invalid_kind", "kind"},
        {"{\"digest\": \"sha256:" D64 "\", \"kind\": \"caf\\u00e9\"}", 400, "invalid_kind", "kind"},
        {"{\"digest\": \"sha256:" D64 "\", \"kind\": 1}", 400, "invalid_kind", "kind"},
        {"{\"digest\": \"sha256:" D64 "\", \"kind\": \"" D64 "x\"}", 400, "invalid_kind", "kind"},
        {"{\"digest\": \"sha256:" D64 "\", \"kind\": \"a\", \"metadata\": [1]}", 400,
         "invalid_metadata", "metadata"},
        {"{\"digest\": \"sha256:" D64 "\", \"kind\": \"a\", \"metadata\": \"{}\"}", 400,
         "invalid_metadata", "metadata"},
        {"{\"digest\": \"sha256:" D64 "\", \"kind\": \"a\", \"metadata\": null}", 400,
         "invalid_metadata", "metadata"},
        /* {"k":"<26 x>"} is 34 bytes serialised: one more than the limit below */
        {"{\"digest\": \"sha256:" D64 "\", \"kind\": \"a\", \"metadata\": "
         "{\"k\": \"xxxxxxxxxxxxxxxxxxxxxxxxxx\"}}",
         400, "metadata_too_large", "metadata"},
    };

    memset(&cfg, 0, sizeof(cfg));
    memset(&s, 0, sizeof(s));
    cfg.evidence_max_metadata_bytes = 33;
    s.cfg = &cfg;

    for (size_t i = 0; i < NT_ARRAY_LEN(refusals); i++) {
        const ev_case *c = &refusals[i];
        server_evidence_init(&e);
        server_reply_init(&r);
        if (server_evidence_parse(&e, &r, &s, NT_BYTES(c->body, strlen(c->body))) != -1) {
            fprintf(stderr, "evidence body accepted: %s\n", c->body);
            CHECK(0 && "evidence body accepted");
        } else {
            check_error(&r, c->status, c->code, c->field, (int)(1000 + i));
        }
        server_evidence_dispose(&e);
        server_reply_dispose(&r);
    }

    /* accepted: the plainest record */
    {
        static const char body[] =
            "{\"kind\": \"contract.signed\", \"digest\": \"SHA-256:" D64 "\"}";
        server_evidence_init(&e);
        server_reply_init(&r);
        CHECK(server_evidence_parse(&e, &r, &s, NT_BYTES(body, strlen(body))) == 0);
        CHECK(e.alg == RECORD_ALG_SHA256 && e.digest.len == 32 && e.digest.ptr[0] == 0x01 &&
              e.digest.ptr[31] == 0xef);
        CHECK_STR(e.kind, "contract.signed");
        CHECK(e.has_metadata == 0 && e.metadata.len == 0);
        server_evidence_dispose(&e);
        server_reply_dispose(&r);
    }
    /* accepted: metadata exactly at the limit, serialised compact with sorted keys */
    {
        static const char body[] =
            "{\"digest\": \"sha256:" D64 "\", \"kind\": \"" D64 "\","
            " \"metadata\": {\"z\": [1, 2], \"a\": {\"y\": 1, \"b\": \"\"}}}";
        static const char canonical[] = "{\"a\":{\"b\":\"\",\"y\":1},\"z\":[1,2]}";
        cfg.evidence_max_metadata_bytes = strlen(canonical);
        server_evidence_init(&e);
        server_reply_init(&r);
        CHECK(server_evidence_parse(&e, &r, &s, NT_BYTES(body, strlen(body))) == 0);
        CHECK(strlen(e.kind) == 64);
        CHECK(e.has_metadata == 1 && e.metadata.len == strlen(canonical) &&
              memcmp(e.metadata.ptr, canonical, e.metadata.len) == 0);
        server_evidence_dispose(&e);
        server_reply_dispose(&r);
        /* negative twin: one byte less allowed */
        cfg.evidence_max_metadata_bytes = strlen(canonical) - 1;
        server_evidence_init(&e);
        server_reply_init(&r);
        CHECK(server_evidence_parse(&e, &r, &s, NT_BYTES(body, strlen(body))) == -1);
        CHECK_ERROR(&r, 400, "metadata_too_large", "metadata");
        server_evidence_dispose(&e);
        server_reply_dispose(&r);
    }
    /* SHA-1 and MD5 once the operator allows them; every other algorithm always */
    {
        static const char *const bodies[] = {
            "{\"digest\": \"sha1:0123456789abcdef0123456789abcdef01234567\", \"kind\": \"a\"}",
            "{\"digest\": \"md5:0123456789abcdef0123456789abcdef\", \"kind\": \"a\"}",
            "{\"digest\": \"sha384:" D64 "0123456789abcdef0123456789abcdef\", \"kind\": \"a\"}",
            "{\"digest\": \"sha512:" D64 D64 "\", \"kind\": \"a\"}",
            "{\"digest\": \"sha3-256:" D64 "\", \"kind\": \"a\"}",
            "{\"digest\": \"sha3-512:" D64 D64 "\", \"kind\": \"a\", \"metadata\": {}}",
        };
        static const record_alg algs[] = {RECORD_ALG_SHA1,     RECORD_ALG_MD5,
                                          RECORD_ALG_SHA384,   RECORD_ALG_SHA512,
                                          RECORD_ALG_SHA3_256, RECORD_ALG_SHA3_512};
        cfg.tsa.allow_sha1 = 1;
        cfg.tsa.allow_md5 = 1;
        cfg.evidence_max_metadata_bytes = 16384;
        for (size_t i = 0; i < NT_ARRAY_LEN(bodies); i++) {
            server_evidence_init(&e);
            server_reply_init(&r);
            CHECK(server_evidence_parse(&e, &r, &s, NT_BYTES(bodies[i], strlen(bodies[i]))) == 0);
            CHECK(e.alg == algs[i] && e.digest.len == record_alg_size(algs[i]));
            server_evidence_dispose(&e);
            server_reply_dispose(&r);
        }
        /* an empty metadata object is still metadata ("{}", committed to by the leaf) */
        server_evidence_init(&e);
        server_reply_init(&r);
        CHECK(server_evidence_parse(&e, &r, &s, NT_BYTES(bodies[5], strlen(bodies[5]))) == 0);
        CHECK(e.has_metadata == 1 && e.metadata.len == 2 && memcmp(e.metadata.ptr, "{}", 2) == 0);
        server_evidence_dispose(&e);
        server_reply_dispose(&r);
    }
    server_evidence_dispose(NULL);
}

/* ------------------------------------------------------------------ metrics */

static void test_metrics_request(void)
{
    static server s; /* zeroed atomics */
    size_t other = SERVER_CODE_SLOTS;

    server_metrics_request(&s, 200, 0);
    server_metrics_request(&s, 200, 500000);        /* exactly 0.0005 s: the first bucket (le) */
    server_metrics_request(&s, 200, 500001);        /* just above: the second */
    server_metrics_request(&s, 503, 2500000000ull); /* 2.5 s: the last finite bucket */
    server_metrics_request(&s, 418, 2500000001ull); /* beyond: +Inf; unknown status: other */
    CHECK(atomic_load(&s.metrics.requests[0]) == 3);
    for (size_t i = 0; i < SERVER_CODE_SLOTS; i++) {
        if (server_metric_codes[i] == 503) {
            CHECK(atomic_load(&s.metrics.requests[i]) == 1);
        }
    }
    CHECK(atomic_load(&s.metrics.requests[other]) == 1);
    CHECK(atomic_load(&s.metrics.latency_buckets[0]) == 2);
    CHECK(atomic_load(&s.metrics.latency_buckets[1]) == 1);
    CHECK(atomic_load(&s.metrics.latency_buckets[SERVER_LATENCY_BUCKETS - 1]) == 1);
    CHECK(atomic_load(&s.metrics.latency_buckets[SERVER_LATENCY_BUCKETS]) == 1);
    CHECK(atomic_load(&s.metrics.latency_count) == 5);
    CHECK(atomic_load(&s.metrics.latency_sum_us) == (0 + 500 + 500 + 2500000 + 2500000));
    /* the bounds ascend, so every latency has exactly one bucket */
    for (size_t i = 1; i < SERVER_LATENCY_BUCKETS; i++) {
        CHECK(server_latency_bounds[i] > server_latency_bounds[i - 1]);
    }
}

/* ------------------------------------------------------------------ GET handlers */

typedef struct fixture {
    char dir[512];
    EVP_PKEY *key;
    ledger *l;
    server_config cfg;
    server s;
    nt_buf leaves[LEAVES];
} fixture;

static void fixture_open(fixture *f)
{
    uint8_t token[40];

    memset(f, 0, sizeof(*f));
    f->l = sfx_ledger_open(f->dir, sizeof(f->dir), &f->key, ORIGIN);
    for (unsigned i = 0; i < 3; i++) {
        uint8_t b = (uint8_t)i;
        REQUIRE(EVP_Digest(&b, 1, digests[i], NULL, EVP_sha256(), NULL) == 1);
    }
    memset(token, 0x42, sizeof(token));
    token[0] = 0x30;
    for (unsigned i = 0; i < LEAVES; i++) {
        record rec;
        uint64_t index;
        memset(&rec, 0, sizeof(rec));
        rec.kind = RECORD_KIND_TIMESTAMP;
        rec.alg = RECORD_ALG_SHA256;
        rec.digest = NT_BYTES(digests[i % 3], 32);
        rec.label = NT_BYTES(NULL, 0);
        token[1] = (uint8_t)i;
        rec.token = NT_BYTES(token, sizeof(token));
        REQUIRE(record_encode(&f->leaves[i], &rec) == 0);
        REQUIRE(ledger_append(&index, f->l, nt_buf_bytes(&f->leaves[i]), NT_BYTES(NULL, 0)) == 0);
        REQUIRE(index == i);
    }
    f->s.cfg = &f->cfg;
    f->s.ledger = f->l;
}

static void fixture_close(fixture *f)
{
    sfx_ledger_close(f->l, f->key, f->dir);
    for (unsigned i = 0; i < LEAVES; i++) {
        nt_buf_dispose(&f->leaves[i]);
    }
}

/* The 32-byte hashes of a proof reply, decoded from base64. */
static void proof_hashes(nt_buf *out, json_t *j)
{
    json_t *arr = json_object_get(j, "hashes"), *h;
    size_t i;
    REQUIRE(json_is_array(arr));
    nt_buf_clear(out);
    json_array_foreach (arr, i, h) {
        size_t before = out->len;
        REQUIRE(nt_base64_decode(out, json_string_value(h), json_string_length(h)) == 0);
        REQUIRE(out->len - before == 32);
    }
}

static void test_get_handlers(void)
{
    fixture f;
    server_reply r;
    json_t *j;
    ledger_info info;
    nt_buf proof = NT_BUF_INIT, text = NT_BUF_INIT, vk = NT_BUF_INIT;
    note_verifier v;
    checkpoint cp;
    char hex[80];
    unsigned verified = 0;

    fixture_open(&f);
    REQUIRE(ledger_info_get(&info, f.l) == 0 && info.size == LEAVES);

    /* /v1/checkpoint: a signed note of the whole tree by the log key */
    server_reply_init(&r);
    server_get_checkpoint(&r, &f.s);
    CHECK(r.status == 200 && strncmp(r.content_type, "text/plain", 10) == 0);
    REQUIRE(note_vkey_format(&vk, ORIGIN, f.key) == 0 &&
            note_vkey_parse(&v, (const char *)vk.ptr, vk.len) == 0);
    CHECK_OK(checkpoint_open(&cp, (const char *)r.body.ptr, r.body.len, &v, 0));
    CHECK(cp.size == LEAVES && memcmp(cp.root, info.root, 32) == 0);
    server_reply_dispose(&r);

    /* /v1/receipt/<index> */
    server_reply_init(&r);
    server_get_receipt(&r, &f.s, "3", NULL);
    CHECK(r.status == 200);
    j = body_json(&r);
    CHECK(json_object_size(j) > 0);
    json_decref(j);
    server_reply_dispose(&r);
    {
        static const char *const bad[] = {"", "x", "-1", "03", "1.0", " 1", "18446744073709551616"};
        for (size_t i = 0; i < NT_ARRAY_LEN(bad); i++) {
            server_reply_init(&r);
            server_get_receipt(&r, &f.s, bad[i], NULL);
            CHECK_ERROR(&r, 400, "invalid_index", "index");
            server_reply_dispose(&r);
        }
        server_reply_init(&r);
        server_get_receipt(&r, &f.s, NULL, NULL);
        CHECK_ERROR(&r, 400, "invalid_index", "index");
        server_reply_dispose(&r);
    }
    server_reply_init(&r);
    server_get_receipt(&r, &f.s, "7", NULL); /* == size */
    CHECK_ERROR(&r, 404, "not_found", "index");
    server_reply_dispose(&r);
    server_reply_init(&r);
    server_get_receipt(&r, &f.s, "18446744073709551615", NULL);
    CHECK_ERROR(&r, 404, "not_found", "index");
    server_reply_dispose(&r);

    /* /v1/receipts?digest= : leaves 1 and 4 carry digests[1] */
    strcpy(hex, "sha256:");
    for (size_t i = 0; i < 32; i++) {
        snprintf(hex + 7 + 2 * i, 3, "%02x", digests[1][i]);
    }
    server_reply_init(&r);
    server_get_receipts(&r, &f.s, hex, NULL, NULL, NULL);
    CHECK(r.status == 200);
    j = body_json(&r);
    CHECK(json_array_size(json_object_get(j, "receipts")) == 2); /* leaves 1 and 4 */
    json_decref(j);
    server_reply_dispose(&r);
    hex[7] = hex[7] == 'f' ? '0' : 'f'; /* a digest nobody sent: an empty list, not 404 */
    server_reply_init(&r);
    server_get_receipts(&r, &f.s, hex, NULL, NULL, NULL);
    CHECK(r.status == 200);
    j = body_json(&r);
    CHECK(json_is_array(json_object_get(j, "receipts")) &&
          json_array_size(json_object_get(j, "receipts")) == 0);
    json_decref(j);
    server_reply_dispose(&r);
    server_reply_init(&r);
    server_get_receipts(&r, &f.s, NULL, NULL, NULL, NULL);
    CHECK_ERROR(&r, 400, "missing_member", "digest");
    server_reply_dispose(&r);
    server_reply_init(&r);
    server_get_receipts(&r, &f.s, "sha256:00", NULL, NULL, NULL);
    CHECK_ERROR(&r, 400, "invalid_digest_length", "digest");
    server_reply_dispose(&r);
    server_reply_init(&r);
    server_get_receipts(&r, &f.s, "blake3:00", NULL, NULL, NULL);
    CHECK_ERROR(&r, 400, "unknown_algorithm", "digest");
    server_reply_dispose(&r);

    /* /v1/proof/inclusion: every leaf in every tree size, verified against that size's root */
    for (uint64_t size = 1; size <= LEAVES; size++) {
        nt_buf cp_note = NT_BUF_INIT;
        checkpoint at;
        REQUIRE(ledger_checkpoint_at(&cp_note, f.l, size) == 0 ||
                ledger_checkpoint_latest(&cp_note, f.l) == 0);
        REQUIRE(checkpoint_open(&at, (const char *)cp_note.ptr, cp_note.len, &v, 0) == 0);
        nt_buf_dispose(&cp_note);
        if (at.size != size) {
            continue; /* no checkpoint stored for this size (batched appends) */
        }
        for (uint64_t index = 0; index < size; index++) {
            char a[24], b[24];
            uint8_t leaf_hash[32];
            snprintf(a, sizeof(a), "%llu", (unsigned long long)index);
            snprintf(b, sizeof(b), "%llu", (unsigned long long)size);
            server_reply_init(&r);
            server_get_proof_inclusion(&r, &f.s, a, b);
            CHECK(r.status == 200);
            j = body_json(&r);
            proof_hashes(&proof, j);
            merkle_leaf_hash(leaf_hash, f.leaves[index].ptr, f.leaves[index].len);
            CHECK_OK(
                merkle_verify_inclusion(leaf_hash, index, size, proof.ptr, proof.len, at.root));
            verified++;
            /* negative twin: the proof does not place the next leaf at this index */
            merkle_leaf_hash(leaf_hash, f.leaves[(index + 1) % LEAVES].ptr,
                             f.leaves[(index + 1) % LEAVES].len);
            CHECK(merkle_verify_inclusion(leaf_hash, index, size, proof.ptr, proof.len, at.root) !=
                  0);
            json_decref(j);
            server_reply_dispose(&r);
        }
    }
    CHECK(verified >= LEAVES); /* at least every leaf of the whole tree */
    {
        static const struct {
            const char *a, *b;
            const char *code, *field;
        } bad[] = {
            {NULL, "7", "missing_parameter", "index"}, {"0", NULL, "missing_parameter", "size"},
            {"x", "7", "invalid_parameter", "index"},  {"0", "07", "invalid_parameter", "size"},
            {"0", "8", "size_beyond_tree", "size"},    {"7", "7", "index_out_of_range", "index"},
            {"0", "0", "index_out_of_range", "index"},
        };
        for (size_t i = 0; i < NT_ARRAY_LEN(bad); i++) {
            server_reply_init(&r);
            server_get_proof_inclusion(&r, &f.s, bad[i].a, bad[i].b);
            check_error(&r, 400, bad[i].code, bad[i].field, (int)(2000 + i));
            server_reply_dispose(&r);
        }
    }

    /* /v1/proof/consistency: from the latest-but-one checkpoint to the latest */
    server_reply_init(&r);
    server_get_proof_consistency(&r, &f.s, "7", "7");
    CHECK(r.status == 200);
    j = body_json(&r);
    CHECK(json_array_size(json_object_get(j, "hashes")) == 0);
    json_decref(j);
    server_reply_dispose(&r);
    server_reply_init(&r);
    server_get_proof_consistency(&r, &f.s, "0", "7");
    CHECK(r.status == 200);
    server_reply_dispose(&r);
    {
        uint8_t root3[32];
        uint8_t hashes[LEAVES][32];
        /* root of the first 3 leaves, recomputed naively: ((h0 h1) h2) */
        for (unsigned i = 0; i < 3; i++) {
            merkle_leaf_hash(hashes[i], f.leaves[i].ptr, f.leaves[i].len);
        }
        merkle_node_hash(root3, hashes[0], hashes[1]);
        merkle_node_hash(root3, root3, hashes[2]);
        server_reply_init(&r);
        server_get_proof_consistency(&r, &f.s, "3", "7");
        CHECK(r.status == 200);
        j = body_json(&r);
        proof_hashes(&proof, j);
        CHECK_OK(merkle_verify_consistency(3, 7, root3, info.root, proof.ptr, proof.len));
        root3[0] ^= 1; /* negative twin */
        CHECK(merkle_verify_consistency(3, 7, root3, info.root, proof.ptr, proof.len) != 0);
        json_decref(j);
        server_reply_dispose(&r);
    }
    {
        static const struct {
            const char *a, *b;
            const char *code, *field;
        } bad[] = {
            {NULL, NULL, "missing_parameter", "from"}, {"1", NULL, "missing_parameter", "to"},
            {"a", "1", "invalid_parameter", "from"},   {"1", "+2", "invalid_parameter", "to"},
            {"1", "8", "size_beyond_tree", "to"},      {"5", "4", "invalid_range", "from"},
        };
        for (size_t i = 0; i < NT_ARRAY_LEN(bad); i++) {
            server_reply_init(&r);
            server_get_proof_consistency(&r, &f.s, bad[i].a, bad[i].b);
            check_error(&r, 400, bad[i].code, bad[i].field, (int)(3000 + i));
            server_reply_dispose(&r);
        }
    }
    nt_buf_dispose(&proof);
    nt_buf_dispose(&text);
    nt_buf_dispose(&vk);
    fixture_close(&f);
}

int main(void)
{
    nt_log_set_level(NT_LOG_WARN);
    test_reply_error();
    test_evidence_parse();
    test_metrics_request();
    test_get_handlers();
    return TEST_END();
}
