/*
 * receipt_test.c - the receipt JSON codec of ledger/receipt.c: the exact
 * pretty-printed text for a known receipt, round trips, and for every member
 * a negative twin (missing, mistyped, malformed) whose error names the member.
 * The encoder writes its text directly (no jansson tree): a differential test
 * compares it byte for byte with jansson's dump of the same receipt (as the
 * encoder was written before) on many random receipts.
 */
#include "tests/unit/test.h"

#include "ledger/receipt.h"

#include <jansson.h>

static void put(nt_buf *b, const void *data, size_t len)
{
    REQUIRE(nt_buf_set(b, data, len) == 0);
}

static void sample(receipt *r, int with_metadata)
{
    uint8_t h[64];
    receipt_init(r);
    put(&r->origin, "notarium.test/log", 17);
    r->leaf_index = 2;
    put(&r->leaf, "\x01\x02", 2);
    put(&r->token, "\x30\x00", 2);
    r->tree_size = 5;
    memset(h, 0, 32);
    memset(h + 32, 0xff, 32);
    put(&r->proof, h, 64);
    const char *cp = "notarium.test/log\n5\nroot\n\n\xe2\x80\x94 notarium.test/log sig\n";
    put(&r->checkpoint, cp, strlen(cp));
    put(&r->certs[0], "\x30\x01\x00", 3);
    put(&r->certs[1], "\x30\x01\x01", 3);
    r->cert_count = 2;
    if (with_metadata) {
        r->has_metadata = 1;
        put(&r->metadata, "{}", 2);
    }
}

static const char sample_json[] =
    "{\n"
    "  \"version\": 1,\n"
    "  \"log\": {\n"
    "    \"origin\": \"notarium.test/log\"\n"
    "  },\n"
    "  \"leaf\": {\n"
    "    \"index\": 2,\n"
    "    \"data\": \"AQI=\"\n"
    "  },\n"
    "  \"token\": \"MAA=\",\n"
    "  \"proof\": {\n"
    "    \"tree_size\": 5,\n"
    "    \"hashes\": [\n"
    "      \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\n"
    "      \"//////////////////////////////////////////8=\"\n"
    "    ]\n"
    "  },\n"
    "  \"checkpoint\": \"notarium.test/log\\n5\\nroot\\n\\n\xe2\x80\x94 notarium.test/log "
    "sig\\n\",\n"
    "  \"certificates\": [\n"
    "    \"MAEA\",\n"
    "    \"MAEB\"\n"
    "  ],\n"
    "  \"metadata\": \"e30=\"\n"
    "}\n";

static int same(const receipt *a, const receipt *b)
{
    int ok = a->version == b->version && a->leaf_index == b->leaf_index &&
             a->tree_size == b->tree_size && a->cert_count == b->cert_count &&
             a->has_metadata == b->has_metadata && a->metadata_withheld == b->metadata_withheld;
#define SAME_BUF(x)                                                                                \
    (a->x.len == b->x.len && (a->x.len == 0 || memcmp(a->x.ptr, b->x.ptr, a->x.len) == 0))
    ok = ok && SAME_BUF(origin) && SAME_BUF(leaf) && SAME_BUF(token) && SAME_BUF(proof) &&
         SAME_BUF(checkpoint) && SAME_BUF(metadata);
    for (size_t i = 0; ok && i < a->cert_count; i++) {
        ok = SAME_BUF(certs[i]);
    }
#undef SAME_BUF
    return ok;
}

static void test_known_answer_and_round_trip(void)
{
    receipt r, d;
    nt_buf out = NT_BUF_INIT, again = NT_BUF_INIT;

    sample(&r, 1);
    CHECK_OK(receipt_encode(&out, &r));
    CHECK_STR(nt_buf_cstr(&out), sample_json);
    if (strcmp(nt_buf_cstr(&out), sample_json) != 0) {
        fprintf(stderr, "got:\n%s", nt_buf_cstr(&out));
    }
    CHECK_OK(receipt_decode(&d, (const char *)out.ptr, out.len));
    CHECK(same(&r, &d));
    CHECK(d.origin.ptr[d.origin.len] == '\0' && d.checkpoint.ptr[d.checkpoint.len] == '\0');
    CHECK_OK(receipt_encode(&again, &d));
    CHECK_STR(nt_buf_cstr(&again), nt_buf_cstr(&out));
    receipt_dispose(&d);
    receipt_dispose(&r);

    /* without metadata: no member at all; with empty metadata: "" */
    sample(&r, 0);
    nt_buf_clear(&out);
    CHECK_OK(receipt_encode(&out, &r));
    CHECK(strstr(nt_buf_cstr(&out), "metadata") == NULL);
    CHECK_OK(receipt_decode(&d, (const char *)out.ptr, out.len));
    CHECK(d.has_metadata == 0 && same(&r, &d));
    receipt_dispose(&d);
    r.has_metadata = 1;
    nt_buf_clear(&out);
    CHECK_OK(receipt_encode(&out, &r));
    CHECK(strstr(nt_buf_cstr(&out), "\"metadata\": \"\"") != NULL);
    CHECK_OK(receipt_decode(&d, (const char *)out.ptr, out.len));
    CHECK(d.has_metadata == 1 && d.metadata.len == 0);
    receipt_dispose(&d);
    /* withheld: "metadata_withheld": true and no metadata member; not both at once */
    r.metadata_withheld = 1;
    CHECK_ERR(receipt_encode(&out, &r), NT_EINVAL);
    r.has_metadata = 0;
    nt_buf_clear(&out);
    CHECK_OK(receipt_encode(&out, &r));
    CHECK(strstr(nt_buf_cstr(&out), "\"metadata_withheld\": true") != NULL);
    CHECK(strstr(nt_buf_cstr(&out), "\"metadata\"") == NULL);
    CHECK_OK(receipt_decode(&d, (const char *)out.ptr, out.len));
    CHECK(d.has_metadata == 0 && d.metadata_withheld == 1 && same(&r, &d));
    receipt_dispose(&d);
    r.metadata_withheld = 0;

    /* no proof hashes (a one-leaf tree), no certificates */
    r.leaf_index = 0;
    r.tree_size = 1;
    nt_buf_clear(&r.proof);
    r.cert_count = 0;
    nt_buf_clear(&out);
    CHECK_OK(receipt_encode(&out, &r));
    CHECK_OK(receipt_decode(&d, (const char *)out.ptr, out.len));
    CHECK(d.proof.len == 0 && d.cert_count == 0 && d.tree_size == 1);
    receipt_dispose(&d);

    /* compact JSON, other member order, unknown members: all accepted */
    const char *compact =
        "{\"certificates\":[],\"checkpoint\":\"c\",\"proof\":{\"hashes\":[],\"tree_size\":1,"
        "\"x\":1},\"token\":\"MAA=\",\"leaf\":{\"data\":\"AQ==\",\"index\":0},"
        "\"log\":{\"origin\":\"o\"},\"version\":1,\"future\":{\"a\":[1,2]}}";
    CHECK_OK(receipt_decode(&d, compact, strlen(compact)));
    CHECK(d.tree_size == 1 && d.leaf.len == 1 && d.has_metadata == 0);
    receipt_dispose(&d);
    receipt_dispose(&d); /* dispose twice, and NULL, are harmless */
    receipt_dispose(NULL);

    receipt_dispose(&r);
    nt_buf_dispose(&out);
    nt_buf_dispose(&again);
}

/* Mutate the sample JSON with `edit`, then decoding must fail naming `member`. */
typedef void (*edit_fn)(json_t *root);

static int rejects_text(const char *text, size_t len, const char *member)
{
    receipt d;
    int rc = receipt_decode(&d, text, len);
    int ok = rc == NT_EINVAL && strstr(nt_error_last(), member) != NULL;
    if (!ok) {
        fprintf(stderr, "  expected rejection naming \"%s\", got %s: %s\n", member,
                nt_error_name(rc), nt_error_last());
    }
    /* on failure the receipt is left empty */
    ok = ok && d.leaf.ptr == NULL && d.cert_count == 0;
    receipt_dispose(&d);
    return ok;
}

static int rejects_after(const char *path, json_t *value, const char *member)
{
    json_error_t jerr;
    json_t *root = json_loads(sample_json, 0, &jerr);
    REQUIRE(root != NULL);
    /* path is "key" or "key.sub"; value NULL deletes */
    char key[64];
    snprintf(key, sizeof(key), "%s", path);
    char *dot = strchr(key, '.');
    json_t *obj = root;
    if (dot != NULL) {
        *dot = 0;
        obj = json_object_get(root, key);
        REQUIRE(obj != NULL);
        memmove(key, dot + 1, strlen(dot + 1) + 1);
    }
    if (value == NULL) {
        REQUIRE(json_object_del(obj, key) == 0);
    } else {
        REQUIRE(json_object_set_new(obj, key, value) == 0);
    }
    char *text = json_dumps(root, 0);
    REQUIRE(text != NULL);
    int ok = rejects_text(text, strlen(text), member);
    free(text);
    json_decref(root);
    return ok;
}

static json_t *hashes_with(const char *third)
{
    json_t *a = json_array();
    json_array_append_new(a, json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
    json_array_append_new(a, json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
    json_array_append_new(a, third != NULL ? json_string(third) : json_integer(3));
    return a;
}

static void test_rejects(void)
{
    /* the positive twin of everything below */
    receipt d;
    CHECK_OK(receipt_decode(&d, sample_json, strlen(sample_json)));
    receipt_dispose(&d);

    static const char *required[] = {
        "version", "log",   "log.origin",      "leaf",         "leaf.index", "leaf.data",
        "token",   "proof", "proof.tree_size", "proof.hashes", "checkpoint", "certificates"};
    int ok = 1;
    for (size_t i = 0; i < NT_ARRAY_LEN(required); i++) {
        ok &= rejects_after(required[i], NULL, required[i]);           /* missing */
        ok &= rejects_after(required[i], json_real(1.5), required[i]); /* mistyped */
    }
    CHECK(ok);

    CHECK(rejects_after("version", json_integer(2), "version"));
    CHECK(rejects_after("version", json_string("1"), "version"));
    CHECK(rejects_after("log.origin", json_string(""), "log.origin"));
    CHECK(rejects_after("log.origin", json_string("a\nb"), "log.origin"));
    /* jansson refuses \u0000 itself (no JSON_ALLOW_NUL): still a rejection */
    CHECK(rejects_after("log.origin", json_stringn("a\0b", 3), "receipt"));
    CHECK(rejects_after("leaf.index", json_integer(-1), "leaf.index"));
    CHECK(rejects_after("leaf.index", json_integer(5), "leaf.index")); /* == tree_size */
    CHECK(rejects_after("leaf.index", json_string("2"), "leaf.index"));
    CHECK(rejects_after("proof.tree_size", json_integer(((json_int_t)1 << 53) + 1),
                        "proof.tree_size"));
    CHECK(rejects_after("proof.tree_size", json_integer(0), "leaf.index"));
    CHECK(rejects_after("leaf.data", json_string("AQI"), "leaf.data"));  /* no padding */
    CHECK(rejects_after("leaf.data", json_string("AQJ="), "leaf.data")); /* non-canonical */
    CHECK(rejects_after("leaf.data", json_string(""), "leaf.data"));
    CHECK(rejects_after("token", json_string("MA A="), "token"));
    CHECK(rejects_after("token", json_string(""), "token"));
    CHECK(rejects_after("proof.hashes", hashes_with("AAAA"), "proof.hashes[2]: not 32 bytes"));
    CHECK(rejects_after("proof.hashes", hashes_with(NULL), "proof.hashes[2]"));
    CHECK(rejects_after("proof.hashes", hashes_with("!"), "proof.hashes[2]"));
    CHECK(rejects_after("checkpoint", json_string(""), "checkpoint"));
    {
        json_t *c = json_array();
        json_array_append_new(c, json_string("MAEA"));
        json_array_append_new(c, json_string("MAE"));
        CHECK(rejects_after("certificates", c, "certificates[1]"));
        c = json_array();
        json_array_append_new(c, json_string(""));
        CHECK(rejects_after("certificates", c, "certificates[0]"));
        c = json_array();
        for (int i = 0; i < RECEIPT_MAX_CERTS + 1; i++) {
            json_array_append_new(c, json_string("MAEA"));
        }
        CHECK(rejects_after("certificates", c, "certificates"));
        json_t *h = json_array();
        for (int i = 0; i < RECEIPT_MAX_PROOF + 1; i++) {
            json_array_append_new(h, json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
        }
        CHECK(rejects_after("proof.hashes", h, "proof.hashes"));
    }
    CHECK(rejects_after("metadata", json_string("e30"), "metadata"));
    CHECK(rejects_after("metadata", json_integer(1), "metadata"));
    CHECK(rejects_after("metadata_withheld", json_true(), "metadata_withheld: beside metadata"));
    CHECK(rejects_after("metadata_withheld", json_false(), "metadata_withheld: not true"));

    /* not JSON, not an object, trailing bytes, duplicate members */
    CHECK(rejects_text("", 0, "receipt"));
    CHECK(rejects_text("[]", 2, "receipt"));
    CHECK(rejects_text("{\"version\":1", 12, "receipt"));
    {
        nt_buf b = NT_BUF_INIT;
        put(&b, sample_json, strlen(sample_json));
        REQUIRE(nt_buf_puts(&b, "{}") == 0);
        CHECK(rejects_text((const char *)b.ptr, b.len, "receipt"));
        put(&b, sample_json, strlen(sample_json) - 2); /* drop "}\n" */
        REQUIRE(nt_buf_puts(&b, ",\n  \"token\": \"MAA=\"\n}\n") == 0);
        CHECK(rejects_text((const char *)b.ptr, b.len, "receipt"));
        nt_buf_dispose(&b);
    }
}

static void test_encode_rejects(void)
{
    receipt r;
    nt_buf out = NT_BUF_INIT;
    sample(&r, 1);
    r.version = 2;
    CHECK_ERR(receipt_encode(&out, &r), NT_EINVAL);
    r.version = RECEIPT_VERSION;
    r.leaf_index = 5;
    CHECK_ERR(receipt_encode(&out, &r), NT_EINVAL);
    r.leaf_index = 2;
    r.proof.len = 63;
    CHECK_ERR(receipt_encode(&out, &r), NT_EINVAL);
    r.proof.len = 64;
    r.cert_count = RECEIPT_MAX_CERTS + 1;
    CHECK_ERR(receipt_encode(&out, &r), NT_EINVAL);
    r.cert_count = 2;
    nt_buf_clear(&r.token);
    CHECK_ERR(receipt_encode(&out, &r), NT_EINVAL);
    put(&r.token, "\x30\x00", 2);
    put(&r.checkpoint, "bad \xff utf-8", 11);
    CHECK_ERR(receipt_encode(&out, &r), NT_EINVAL);
    CHECK(out.len == 0);
    put(&r.checkpoint, "good", 4);
    CHECK_OK(receipt_encode(&out, &r));
    receipt_dispose(&r);
    nt_buf_dispose(&out);
}

/* certs_text: the same bytes as the certificates encoded by receipt_encode itself. */
static void test_certs_text(void)
{
    receipt r;
    nt_buf whole = NT_BUF_INIT, text = NT_BUF_INIT, spliced = NT_BUF_INIT;

    for (size_t n = 0; n <= 2; n++) {
        sample(&r, (int)(n % 2));
        r.cert_count = n;
        nt_buf_clear(&whole);
        nt_buf_clear(&text);
        nt_buf_clear(&spliced);
        CHECK_OK(receipt_encode(&whole, &r));
        CHECK_OK(receipt_certs_text(&text, r.certs, n));
        r.cert_count = 0;
        r.certs_text = nt_buf_bytes(&text);
        CHECK_OK(receipt_encode(&spliced, &r));
        CHECK(whole.len == spliced.len && memcmp(whole.ptr, spliced.ptr, whole.len) == 0);
        /* both given: refused */
        r.cert_count = 1;
        nt_buf_clear(&spliced);
        CHECK_ERR(receipt_encode(&spliced, &r), NT_EINVAL);
        receipt_dispose(&r);
    }
    sample(&r, 0);
    nt_buf_clear(&text);
    CHECK_ERR(receipt_certs_text(&text, r.certs, RECEIPT_MAX_CERTS + 1), NT_EINVAL);
    nt_buf_clear(&r.certs[1]);
    CHECK_ERR(receipt_certs_text(&text, r.certs, 2), NT_EINVAL); /* an empty certificate */
    receipt_dispose(&r);
    nt_buf_dispose(&whole);
    nt_buf_dispose(&text);
    nt_buf_dispose(&spliced);
}

static void test_allocation_failures(void)
{
    /* every allocation of decode and encode failing in turn: NT_ENOMEM, nothing leaked (ASan) */
    receipt r, d;
    nt_buf out = NT_BUF_INIT;
    int ok = 1, decoded = 0, encoded = 0;
    for (unsigned long n = 1; n < 500 && !decoded; n++) {
        nt_mem_fail_after(n);
        int rc = receipt_decode(&d, sample_json, strlen(sample_json));
        nt_mem_fail_after(0);
        decoded = rc == 0;
        ok &= rc == 0 || rc == NT_ENOMEM;
        receipt_dispose(&d);
    }
    sample(&r, 1);
    for (unsigned long n = 1; n < 500 && !encoded; n++) {
        nt_buf_dispose(&out);
        nt_mem_fail_after(n);
        int rc = receipt_encode(&out, &r);
        nt_mem_fail_after(0);
        encoded = rc == 0;
        ok &= rc == 0 || rc == NT_ENOMEM;
    }
    CHECK(ok);
    CHECK(decoded && encoded);
    CHECK_STR(nt_buf_cstr(&out), sample_json);
    receipt_dispose(&r);
    nt_buf_dispose(&out);
}

/* The receipt as jansson writes it: the encoder of ledger/receipt.c before it wrote its text
 * directly, kept here as the reference of the differential test. */
static json_t *b64(const uint8_t *data, size_t len)
{
    nt_buf b = NT_BUF_INIT;
    json_t *s;
    REQUIRE(nt_base64_encode(&b, data, len) == 0);
    s = json_stringn(b.len > 0 ? (const char *)b.ptr : "", b.len);
    REQUIRE(s != NULL);
    nt_buf_dispose(&b);
    return s;
}

static void reference_encode(nt_buf *out, const receipt *r)
{
    json_t *root = json_object(), *log = json_object(), *leaf = json_object();
    json_t *proof = json_object(), *hashes = json_array(), *certs = json_array();
    json_object_set_new(root, "version", json_integer(RECEIPT_VERSION));
    json_object_set_new(log, "origin", json_stringn((const char *)r->origin.ptr, r->origin.len));
    json_object_set_new(root, "log", log);
    json_object_set_new(leaf, "index", json_integer((json_int_t)r->leaf_index));
    json_object_set_new(leaf, "data", b64(r->leaf.ptr, r->leaf.len));
    json_object_set_new(root, "leaf", leaf);
    json_object_set_new(root, "token", b64(r->token.ptr, r->token.len));
    json_object_set_new(proof, "tree_size", json_integer((json_int_t)r->tree_size));
    for (size_t i = 0; i < r->proof.len / 32; i++) {
        json_array_append_new(hashes, b64(r->proof.ptr + i * 32, 32));
    }
    json_object_set_new(proof, "hashes", hashes);
    json_object_set_new(root, "proof", proof);
    json_object_set_new(root, "checkpoint",
                        json_stringn((const char *)r->checkpoint.ptr, r->checkpoint.len));
    for (size_t i = 0; i < r->cert_count; i++) {
        json_array_append_new(certs, b64(r->certs[i].ptr, r->certs[i].len));
    }
    json_object_set_new(root, "certificates", certs);
    if (r->has_metadata) {
        json_object_set_new(root, "metadata", b64(r->metadata.ptr, r->metadata.len));
    } else if (r->metadata_missing) {
        json_object_set_new(root, "metadata_missing", json_true());
    } else if (r->metadata_withheld) {
        json_object_set_new(root, "metadata_withheld", json_true());
    }
    REQUIRE(nt_json_dump(out, root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0);
    REQUIRE(nt_buf_putc(out, '\n') == 0);
    json_decref(root);
}

static uint32_t rnd(uint32_t *seed, uint32_t below)
{
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 8) % below;
}

static void rnd_bytes(nt_buf *b, uint32_t *seed, size_t len)
{
    nt_buf_clear(b);
    for (size_t i = 0; i < len; i++) {
        REQUIRE(nt_buf_putc(b, (uint8_t)rnd(seed, 256)) == 0);
    }
}

/* Printable text with the characters JSON escapes and some UTF-8. */
static void rnd_text(nt_buf *b, uint32_t *seed, size_t len)
{
    static const char *const pieces[] = {"a",        "Z",
                                         "0",        " ",
                                         "\"",       "\\",
                                         "/",        "\n",
                                         "\t",       "\r",
                                         "\x01",     "\x1f",
                                         "\x7f",     "\xe2\x80\x94",
                                         "\xc3\xa9", "\xf0\x9f\x94\x92",
                                         "+",        "notarium.test/log"};
    nt_buf_clear(b);
    for (size_t i = 0; i < len; i++) {
        REQUIRE(nt_buf_puts(b, pieces[rnd(seed, NT_ARRAY_LEN(pieces))]) == 0);
    }
}

static void test_differential(void)
{
    uint32_t seed = 2026;
    int all = 1;
    nt_buf got = NT_BUF_INIT, want = NT_BUF_INIT, text = NT_BUF_INIT;
    for (int round = 0; round < 500; round++) {
        receipt r;
        int spliced = rnd(&seed, 3) == 0;
        receipt_init(&r);
        rnd_text(&r.origin, &seed, 1 + rnd(&seed, 6));
        r.tree_size = rnd(&seed, 2) ? 1 + rnd(&seed, 1000) : ((uint64_t)1 << 53) - rnd(&seed, 5);
        r.leaf_index =
            r.tree_size - 1 - rnd(&seed, (uint32_t)(r.tree_size < 50 ? r.tree_size : 50));
        rnd_bytes(&r.leaf, &seed, 1 + rnd(&seed, 2000));
        rnd_bytes(&r.token, &seed, 1 + rnd(&seed, 2000));
        rnd_bytes(&r.proof, &seed, 32 * (size_t)rnd(&seed, RECEIPT_MAX_PROOF + 1));
        rnd_text(&r.checkpoint, &seed, 1 + rnd(&seed, 12));
        r.cert_count = rnd(&seed, 4);
        for (size_t i = 0; i < r.cert_count; i++) {
            rnd_bytes(&r.certs[i], &seed, 1 + rnd(&seed, 900));
        }
        switch (rnd(&seed, 4)) {
        case 0:
            r.has_metadata = 1;
            rnd_bytes(&r.metadata, &seed, rnd(&seed, 300));
            break;
        case 1:
            r.metadata_missing = 1;
            break;
        case 2:
            r.metadata_withheld = 1;
            break;
        default:
            break;
        }
        nt_buf_clear(&got);
        nt_buf_clear(&want);
        nt_buf_clear(&text);
        reference_encode(&want, &r);
        if (spliced) { /* the server's way: the chain's text rendered once */
            REQUIRE(receipt_certs_text(&text, r.certs, r.cert_count) == 0);
            r.certs_text = nt_buf_bytes(&text);
            r.cert_count = 0;
        }
        CHECK_OK(receipt_encode(&got, &r));
        if (got.len != want.len || memcmp(got.ptr, want.ptr, got.len) != 0) {
            fprintf(stderr, "receipt %d differs:\n--- direct\n%s--- jansson\n%s", round,
                    nt_buf_cstr(&got), nt_buf_cstr(&want));
            all = 0;
        }
        r.certs_text = NT_BYTES(NULL, 0);
        receipt_dispose(&r);
    }
    CHECK(all);
    nt_buf_dispose(&got);
    nt_buf_dispose(&want);
    nt_buf_dispose(&text);
}

int main(void)
{
    test_differential();
    test_certs_text();
    test_allocation_failures();
    test_known_answer_and_round_trip();
    test_rejects();
    test_encode_rejects();
    return TEST_END();
}
