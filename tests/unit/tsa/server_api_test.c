/*
 * server_api_test.c - unit tests of tsa/server_api.c against a real ledger
 * in a temporary directory, the server object assembled by hand (no signer,
 * no HTTP): JSON bodies (empty, blank, broken, not an object: each message
 * says what is wrong, for POST /v1/evidence, /v1/verify and /v1/verify-report); evidence
 * metadata shown only to the API key recorded as the leaf's owner; and the
 * paged GET /v1/receipts (limit, cursor, next_cursor, every index once and in
 * order, each bad parameter named).  Part of the tsa unit tests.
 */
#include "tests/unit/tsa/server_fixture.h"

#include <openssl/sha.h>
#include <pthread.h>

#define ORIGIN "test.notarium.example/server-api"
#define SAME   45 /* leaves with the popular digest */

static const char g_meta[] = "{\"email\":\"a@example.test\",\"iban\":\"DE89370400440532013000\"}";
static uint8_t g_digest[32], g_other[32];
static const char *const g_members[] = {"a", NULL};

typedef struct fixture {
    char dir[512];
    EVP_PKEY *key;
    ledger *l;
    server_config cfg;
    server s;
} fixture;

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, error;
} waiter;

static void on_done(void *ctx, int error, uint64_t index)
{
    waiter *w = ctx;
    (void)index;
    pthread_mutex_lock(&w->mu);
    w->done = 1;
    w->error = error;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Append an evidence-like leaf with `digest`, metadata g_meta when `owner` is not NULL. */
static void append(ledger *l, const uint8_t *digest, unsigned seq, const char *owner)
{
    waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    uint8_t token[40];
    nt_buf leaf = NT_BUF_INIT;
    record rec;

    memset(token, 0x42, sizeof(token));
    token[0] = 0x30;
    token[1] = (uint8_t)seq;
    token[2] = (uint8_t)(seq >> 8);
    memset(&rec, 0, sizeof(rec));
    rec.kind = RECORD_KIND_EVIDENCE;
    rec.alg = RECORD_ALG_SHA256;
    rec.digest = NT_BYTES(digest, 32);
    rec.label = NT_BYTES("k", 1);
    rec.token = NT_BYTES(token, sizeof(token));
    if (owner != NULL) {
        rec.has_metadata = 1;
        SHA256((const uint8_t *)g_meta, strlen(g_meta), rec.metadata_hash);
    }
    REQUIRE(record_encode(&leaf, &rec) == 0);
    REQUIRE(ledger_append_full_async(
                l, nt_buf_bytes(&leaf),
                owner != NULL ? NT_BYTES(g_meta, strlen(g_meta)) : NT_BYTES(NULL, 0),
                owner != NULL ? NT_BYTES(owner, strlen(owner)) : NT_BYTES(NULL, 0), 0, on_done,
                &w) == 0);
    pthread_mutex_lock(&w.mu);
    while (!w.done) {
        pthread_cond_wait(&w.cv, &w.mu);
    }
    pthread_mutex_unlock(&w.mu);
    REQUIRE(w.error == 0);
    nt_buf_dispose(&leaf);
}

/* Leaf 0: g_other with metadata by "tenant-a"; leaves 1..SAME: g_digest, leaf 1 with
 * metadata by "tenant-a"; then one leaf with metadata but no owner (an older server). */
static void fixture_open(fixture *f)
{
    memset(f, 0, sizeof(*f));
    f->l = sfx_ledger_open(f->dir, sizeof(f->dir), &f->key, ORIGIN);
    SHA256((const uint8_t *)"popular", 7, g_digest);
    SHA256((const uint8_t *)"other", 5, g_other);
    append(f->l, g_other, 0, "tenant-a");
    for (unsigned i = 0; i < SAME; i++) {
        append(f->l, g_digest, 1 + i, i == 0 ? "tenant-a" : NULL);
    }
    append(f->l, g_other, 999, "");
    f->s.cfg = &f->cfg;
    f->s.ledger = f->l;
    f->s.verify_max = 1;
}

static void fixture_close(fixture *f)
{
    sfx_ledger_close(f->l, f->key, f->dir);
}

#define body_json sfx_body_json

/* 1 if the reply is `status` with error `code`, field `field` (NULL = none) and a message
 * containing `words` (NULL = any). */
static int is_error(const server_reply *r, unsigned status, const char *code, const char *field,
                    const char *words)
{
    json_t *j = body_json(r);
    const char *c = json_string_value(json_object_get(j, "error"));
    const char *f = json_string_value(json_object_get(j, "field"));
    const char *m = json_string_value(json_object_get(j, "message"));
    int ok = r->status == status && c != NULL && strcmp(c, code) == 0 && m != NULL &&
             (field == NULL ? f == NULL : f != NULL && strcmp(f, field) == 0) &&
             (words == NULL || strstr(m, words) != NULL);
    if (!ok) {
        fprintf(stderr, "expected %u %s (%s) '%s', got %u: %.*s\n", status, code,
                field ? field : "-", words ? words : "", r->status, (int)r->body.len,
                (const char *)r->body.ptr);
    }
    json_decref(j);
    return ok;
}

/* ------------------------------------------------------------------ JSON bodies */

static void test_json_bodies(void)
{
    static const struct {
        const char *body;
        const char *code;
        const char *words;
    } cases[] = {
        {"", "empty_body", "the body is empty; a JSON object is expected"},
        {"  \n\t\r\n", "empty_body", "the body is empty"},
        {"{\"digest\": ", "malformed_json", "not valid JSON: "},
        {"{\"a\": 1,}", "malformed_json", "(line 1, column"},
        {"{\"a\": 1, \"a\": 2}", "malformed_json", "duplicate"},
        {"[1, 2]", "malformed_json", "must be a JSON object, not an array"},
        {"\"text\"", "malformed_json", "not a string"},
        {"42", "malformed_json", "not a number"},
        {"null", "malformed_json", "not null"},
    };
    fixture f;
    fixture_open(&f);
    for (size_t i = 0; i < NT_ARRAY_LEN(cases); i++) {
        server_reply r;
        server_evidence e;
        json_t *j = NULL;
        nt_bytes body = NT_BYTES(cases[i].body, strlen(cases[i].body));

        server_reply_init(&r);
        CHECK(server_json_body(&j, &r, body, g_members) == -1 && j == NULL);
        CHECK(is_error(&r, 400, cases[i].code, NULL, cases[i].words));
        server_reply_dispose(&r);
        /* the same answer from both JSON endpoints */
        server_reply_init(&r);
        server_evidence_init(&e);
        CHECK(server_evidence_parse(&e, &r, &f.s, body) == -1);
        CHECK(is_error(&r, 400, cases[i].code, NULL, cases[i].words));
        server_evidence_dispose(&e);
        server_reply_dispose(&r);
        server_reply_init(&r);
        server_post_verify(&r, &f.s, body, NULL, NULL);
        CHECK(is_error(&r, 400, cases[i].code, NULL, cases[i].words));
        server_reply_dispose(&r);
        server_reply_init(&r);
        server_post_verify_report(&r, &f.s, body);
        CHECK(is_error(&r, 400, cases[i].code, NULL, cases[i].words));
        server_reply_dispose(&r);
    }
    /* an empty body as http.c passes it: no buffer at all (jansson: "wrong arguments") */
    {
        server_reply r;
        json_t *j = NULL;
        server_reply_init(&r);
        CHECK(server_json_body(&j, &r, NT_BYTES(NULL, 0), g_members) == -1);
        CHECK(is_error(&r, 400, "empty_body", NULL, "a JSON object is expected"));
        CHECK(strstr(nt_buf_cstr(&r.body), "wrong arguments") == NULL);
        server_reply_dispose(&r);
        /* positive twin */
        server_reply_init(&r);
        CHECK(server_json_body(&j, &r, NT_BYTES(" {\"a\": 1}\n", 10), g_members) == 0 && j != NULL);
        json_decref(j);
        server_reply_dispose(&r);
        /* a member the route does not know is named, after any known one */
        server_reply_init(&r);
        j = NULL;
        CHECK(server_json_body(&j, &r, NT_BYTES("{\"a\": 1, \"b\": 2}", 16), g_members) == -1 &&
              j == NULL);
        CHECK(is_error(&r, 400, "unknown_member", "b", "unknown member 'b'"));
        server_reply_dispose(&r);
    }
    /* the same unknown-member answer from the three JSON endpoints */
    {
        nt_bytes body = NT_BYTES("{\"zz\": 1}", 9);
        server_reply r;
        server_evidence e;
        server_reply_init(&r);
        server_evidence_init(&e);
        CHECK(server_evidence_parse(&e, &r, &f.s, body) == -1);
        CHECK(is_error(&r, 400, "unknown_member", "zz", "unknown member 'zz'"));
        server_evidence_dispose(&e);
        server_reply_dispose(&r);
        server_reply_init(&r);
        server_post_verify(&r, &f.s, body, NULL, NULL);
        CHECK(is_error(&r, 400, "unknown_member", "zz", "unknown member 'zz'"));
        server_reply_dispose(&r);
        server_reply_init(&r);
        server_post_verify_report(&r, &f.s, body);
        CHECK(is_error(&r, 400, "unknown_member", "zz", "unknown member 'zz'"));
        server_reply_dispose(&r);
    }
    fixture_close(&f);
}

/* ------------------------------------------------------------------ metadata */

static void test_metadata_owner(void)
{
    fixture f;
    static const char *const readers[] = {NULL, "tenant-b", "tenant-", "tenant-a"};

    fixture_open(&f);
    for (size_t i = 0; i < NT_ARRAY_LEN(readers); i++) {
        server_reply r;
        json_t *j;
        int own = i == 3;

        server_reply_init(&r);
        server_get_receipt(&r, &f.s, "0", readers[i]);
        REQUIRE(r.status == 200);
        j = body_json(&r);
        CHECK(json_is_string(json_object_get(j, "metadata")) == own);
        CHECK(json_is_true(json_object_get(j, "metadata_withheld")) == !own);
        CHECK((strstr(nt_buf_cstr(&r.body), "metadata\": \"") != NULL) == own);
        json_decref(j);
        server_reply_dispose(&r);
        /* the same through /v1/receipts (leaf 1 has metadata by tenant-a) */
        server_reply_init(&r);
        {
            char hex[80] = "sha256:";
            for (size_t b = 0; b < 32; b++) {
                snprintf(hex + 7 + 2 * b, 3, "%02x", g_digest[b]);
            }
            server_get_receipts(&r, &f.s, hex, "1", NULL, readers[i]);
        }
        REQUIRE(r.status == 200);
        j = body_json(&r);
        {
            json_t *first = json_array_get(json_object_get(j, "receipts"), 0);
            REQUIRE(first != NULL);
            CHECK(json_integer_value(json_object_get(json_object_get(first, "leaf"), "index")) ==
                  1);
            CHECK(json_is_string(json_object_get(first, "metadata")) == own);
            CHECK(json_is_true(json_object_get(first, "metadata_withheld")) == !own);
        }
        json_decref(j);
        server_reply_dispose(&r);
    }
    /* a leaf without metadata says nothing about metadata, whoever asks */
    {
        server_reply r;
        server_reply_init(&r);
        server_get_receipt(&r, &f.s, "2", "tenant-a");
        REQUIRE(r.status == 200);
        CHECK(strstr(nt_buf_cstr(&r.body), "metadata") == NULL);
        server_reply_dispose(&r);
        /* metadata without a recorded owner (an older ledger): withheld from everyone */
        char last[24];
        snprintf(last, sizeof(last), "%u", SAME + 1);
        for (size_t i = 0; i < NT_ARRAY_LEN(readers); i++) {
            server_reply_init(&r);
            server_get_receipt(&r, &f.s, last, readers[i]);
            REQUIRE(r.status == 200);
            CHECK(strstr(nt_buf_cstr(&r.body), "\"metadata_withheld\": true") != NULL);
            server_reply_dispose(&r);
        }
    }
    fixture_close(&f);
}

/* ------------------------------------------------------------------ paging */

static void test_receipts_paging(void)
{
    fixture f;
    server_reply r;
    json_t *j;
    char hex[80] = "sha256:";
    unsigned expect = 1, pages = 0;
    char cursor[32] = "";

    fixture_open(&f);
    for (size_t b = 0; b < 32; b++) {
        snprintf(hex + 7 + 2 * b, 3, "%02x", g_digest[b]);
    }
    /* default page: SERVER_RECEIPTS_DEFAULT receipts and a cursor */
    server_reply_init(&r);
    server_get_receipts(&r, &f.s, hex, NULL, NULL, NULL);
    REQUIRE(r.status == 200);
    j = body_json(&r);
    CHECK(json_array_size(json_object_get(j, "receipts")) == SERVER_RECEIPTS_DEFAULT);
    CHECK(json_is_string(json_object_get(j, "next_cursor")));
    json_decref(j);
    server_reply_dispose(&r);

    /* pages of 7: every index once, ascending, the last page without next_cursor */
    for (;;) {
        json_t *list, *item, *next;
        size_t n;
        server_reply_init(&r);
        server_get_receipts(&r, &f.s, hex, "7", cursor[0] != '\0' ? cursor : NULL, NULL);
        REQUIRE(r.status == 200);
        j = body_json(&r);
        list = json_object_get(j, "receipts");
        json_array_foreach (list, n, item) {
            CHECK(json_integer_value(json_object_get(json_object_get(item, "leaf"), "index")) ==
                  expect);
            expect++;
        }
        pages++;
        next = json_object_get(j, "next_cursor");
        if (next == NULL) {
            CHECK(json_array_size(list) == SAME % 7);
            json_decref(j);
            server_reply_dispose(&r);
            break;
        }
        CHECK(json_array_size(list) == 7);
        REQUIRE(json_is_string(next));
        snprintf(cursor, sizeof(cursor), "%s", json_string_value(next));
        json_decref(j);
        server_reply_dispose(&r);
        REQUIRE(pages < 20);
    }
    CHECK(expect == SAME + 1 && pages == (SAME + 6) / 7);

    /* the largest page, and a cursor past every match: an empty list, no cursor */
    server_reply_init(&r);
    server_get_receipts(&r, &f.s, hex, "100", "0", NULL);
    REQUIRE(r.status == 200);
    j = body_json(&r);
    CHECK(json_array_size(json_object_get(j, "receipts")) == SAME &&
          json_object_get(j, "next_cursor") == NULL);
    json_decref(j);
    server_reply_dispose(&r);
    server_reply_init(&r);
    server_get_receipts(&r, &f.s, hex, NULL, "18446744073709551615", NULL);
    REQUIRE(r.status == 200);
    j = body_json(&r);
    CHECK(json_array_size(json_object_get(j, "receipts")) == 0 &&
          json_object_get(j, "next_cursor") == NULL);
    json_decref(j);
    server_reply_dispose(&r);

    /* every bad parameter is named */
    {
        static const char *const bad_limit[] = {"0", "101", "-1", "", "x", "1.5", "07", " 5"};
        static const char *const bad_cursor[] = {"", "-1", "a", "18446744073709551616", "01"};
        for (size_t i = 0; i < NT_ARRAY_LEN(bad_limit); i++) {
            server_reply_init(&r);
            server_get_receipts(&r, &f.s, hex, bad_limit[i], NULL, NULL);
            CHECK(is_error(&r, 400, "invalid_parameter", "limit", "from 1 to 100"));
            server_reply_dispose(&r);
        }
        for (size_t i = 0; i < NT_ARRAY_LEN(bad_cursor); i++) {
            server_reply_init(&r);
            server_get_receipts(&r, &f.s, hex, NULL, bad_cursor[i], NULL);
            CHECK(is_error(&r, 400, "invalid_parameter", "cursor", NULL));
            server_reply_dispose(&r);
        }
        server_reply_init(&r);
        server_get_receipts(&r, &f.s, "sha256:00", "5", "0", NULL);
        CHECK(is_error(&r, 400, "invalid_digest_length", "digest", NULL));
        server_reply_dispose(&r);
    }
    fixture_close(&f);
}

int main(void)
{
    nt_log_set_level(NT_LOG_NONE);
    test_json_bodies();
    test_metadata_owner();
    test_receipts_paging();
    return TEST_END();
}
