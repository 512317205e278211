/*
 * event_test.c - ledger/event_parse.c: the strict case-event body parser (a
 * good body, then every rule of docs/FORMATS.md "Case events" broken once,
 * each refusal naming its member) and the attribute commitment against a
 * known answer computed independently (Python hashlib).
 */
#include "ledger/event.h"
#include "tests/unit/test.h"

#include <string.h>

#define H64 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static const char good[] =
    "{\"artifacts\":[{\"digest\":\"sha256:" H64 "\",\"name\":\"contract.pdf\",\"role\":"
    "\"contract\"},{\"digest\":\"sha3-256:" H64 "\"}],\"attributes\":{\"ip\":\"" H64
    "\",\"phone\":\"" H64 "\"},\"case\":\"C-2026:001\",\"kind\":\"document.signed\",\"prev\":\"" H64
    "\",\"seq\":2,\"tenant\":\"acme.sign\",\"type\":\"notarium.event/1\"}";

/* The body `good` with the first occurrence of `from` replaced by `to`. */
static int parse_edit(event_body *b, const char *from, const char *to)
{
    char text[2048];
    const char *at = strstr(good, from);
    REQUIRE(at != NULL);
    size_t pre = (size_t)(at - good);
    int n = snprintf(text, sizeof(text), "%.*s%s%s", (int)pre, good, to, at + strlen(from));
    REQUIRE(n > 0 && (size_t)n < sizeof(text));
    return event_body_parse(b, (const uint8_t *)text, (size_t)n);
}

/* Refused with NT_EINVAL and a message starting with `member`. */
static void refuses(const char *from, const char *to, const char *member)
{
    event_body b;
    int rc = parse_edit(&b, from, to);
    CHECK_ERR(rc, NT_EINVAL);
    if (strncmp(nt_error_last(), member, strlen(member)) != 0) {
        fprintf(stderr, "edit %s -> %s: message \"%s\" does not name %s\n", from, to,
                nt_error_last(), member);
        CHECK(0);
    }
    CHECK(b.artifact_count == 0 && b.seq == 0);
}

static void test_good(void)
{
    event_body b;
    CHECK_OK(event_body_parse(&b, (const uint8_t *)good, strlen(good)));
    CHECK_STR(b.tenant, "acme.sign");
    CHECK_STR(b.case_id, "C-2026:001");
    CHECK(b.seq == 2 && b.has_prev && b.prev[0] == 0x00 && b.prev[31] == 0xff);
    CHECK_STR(b.kind, "document.signed");
    CHECK(b.artifact_count == 2);
    CHECK(b.artifacts[0].alg == RECORD_ALG_SHA256 && b.artifacts[0].digest.len == 32);
    CHECK(b.artifacts[0].has_name &&
          strcmp(nt_buf_cstr(&b.artifacts[0].name), "contract.pdf") == 0);
    CHECK(b.artifacts[0].has_role && strcmp(nt_buf_cstr(&b.artifacts[0].role), "contract") == 0);
    CHECK(b.artifacts[1].alg == RECORD_ALG_SHA3_256 && !b.artifacts[1].has_name);
    CHECK(b.attribute_count == 2 && event_body_attribute_find(&b, "phone") != NULL);
    CHECK(event_body_attribute_find(&b, "name") == NULL);
    event_body_dispose(&b);

    /* seq 1 with prev null, no artifacts, no attributes, a custom kind */
    static const char first[] = "{\"artifacts\":[],\"attributes\":{},\"case\":\"c\",\"kind\":\"x-"
                                "face.check\",\"prev\":null,"
                                "\"seq\":1,\"tenant\":\"t\",\"type\":\"notarium.event/1\"}";
    CHECK_OK(event_body_parse(&b, (const uint8_t *)first, strlen(first)));
    CHECK(b.seq == 1 && !b.has_prev && b.artifact_count == 0 && b.attribute_count == 0);
    event_body_dispose(&b);
}

static void test_refusals(void)
{
    refuses("{\"artifacts\"", "{\"extra\":1,\"artifacts\"", "extra: unknown member");
    refuses("\"seq\":2,", "\"seq\":2,\"seq\":3,", "body: not JSON");
    refuses("\"type\":\"notarium.event/1\"}", "\"type\":\"notarium.event/1\"}x", "body: not JSON");
    refuses("\"notarium.event/1\"", "\"notarium.event/2\"", "type");
    refuses(",\"type\":\"notarium.event/1\"", "", "type: missing");
    refuses("\"acme.sign\"", "\"acme sign\"", "tenant");
    refuses("\"acme.sign\"", "\"\"", "tenant");
    refuses("\"acme.sign\"", "7", "tenant");
    refuses("\"C-2026:001\"", "\"C/2026\"", "case");
    refuses("\"seq\":2", "\"seq\":0", "seq");
    refuses("\"seq\":2", "\"seq\":2.0", "seq");
    refuses("\"seq\":2", "\"seq\":\"2\"", "seq");
    refuses("\"seq\":2", "\"seq\":9007199254740993", "seq");
    refuses("\"prev\":\"" H64 "\"", "\"prev\":null", "prev");
    refuses("\"prev\":\"" H64 "\"", "\"prev\":\"" H64 "0\"", "prev");
    refuses("\"prev\":\"00", "\"prev\":\"0A", "prev");
    refuses("\"seq\":2", "\"seq\":1", "prev");
    refuses("\"document.signed\"", "\"document.burnt\"", "kind");
    refuses("\"document.signed\"", "\"x-\"", "kind");
    refuses("\"document.signed\"", "\"x-Face\"", "kind");
    refuses("\"artifacts\":[{\"digest\":\"sha256:" H64 "\",\"name\":\"contract.pdf\",\"role\":"
            "\"contract\"},{\"digest\":\"sha3-256:" H64 "\"}]",
            "\"artifacts\":{}", "artifacts: not an array");
    refuses("\"sha256:", "\"sha1:", "artifacts[0].digest");
    refuses("\"sha256:", "\"md5:", "artifacts[0].digest");
    refuses("\"sha256:" H64, "\"sha256:" H64 "00", "artifacts[0].digest");
    refuses("\"sha3-256:", "\"whirlpool:", "artifacts[1].digest");
    refuses("\"name\":\"contract.pdf\"", "\"name\":\"\"", "artifacts[0].name");
    refuses("\"role\":\"contract\"", "\"role\":\"Contract\"", "artifacts[0].role");
    refuses("\"role\":\"contract\"", "\"role\":\"contract\",\"size\":3", "artifacts[0].size");
    refuses("{\"digest\":\"sha3", "{\"dgst\":\"sha3", "artifacts[1].digest: missing");
    refuses("{\"digest\":\"sha3-256:" H64 "\"}", "7", "artifacts[1]: not an object");
    refuses("\"ip\":", "\"IP\":", "attributes");
    refuses("\"ip\":", "\"1p\":", "attributes");
    refuses("\"phone\":\"00", "\"phone\":\"0g", "attributes.phone");
    refuses("\"phone\":\"" H64 "\"", "\"phone\":null", "attributes.phone");
    refuses("\"attributes\":{\"ip\":\"" H64 "\",\"phone\":\"" H64 "\"}", "\"attributes\":[]",
            "attributes: not an object");
}

/* The rules on C strings. */
#define VALID(fn, s) fn((s), strlen(s))

static void test_limits(void)
{
    char text[8192];
    event_body b;
    /* 17 artifacts */
    size_t n = (size_t)snprintf(text, sizeof(text), "{\"artifacts\":[");
    for (int i = 0; i < 17; i++) {
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%s{\"digest\":\"sha256:" H64 "\"}",
                              i > 0 ? "," : "");
    }
    snprintf(text + n, sizeof(text) - n,
             "],\"attributes\":{},\"case\":\"c\",\"kind\":\"document.sent\",\"prev\":null,"
             "\"seq\":1,\"tenant\":\"t\",\"type\":\"notarium.event/1\"}");
    CHECK_ERR(event_body_parse(&b, (const uint8_t *)text, strlen(text)), NT_EINVAL);
    CHECK(strncmp(nt_error_last(), "artifacts: more than 16", 23) == 0);
    /* 33 attributes */
    n = (size_t)snprintf(text, sizeof(text), "{\"artifacts\":[],\"attributes\":{");
    for (int i = 0; i < 33; i++) {
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%s\"a%d\":\"" H64 "\"", i > 0 ? "," : "",
                              i);
    }
    snprintf(text + n, sizeof(text) - n,
             "},\"case\":\"c\",\"kind\":\"document.sent\",\"prev\":null,"
             "\"seq\":1,\"tenant\":\"t\",\"type\":\"notarium.event/1\"}");
    CHECK_ERR(event_body_parse(&b, (const uint8_t *)text, strlen(text)), NT_EINVAL);
    CHECK(strncmp(nt_error_last(), "attributes: more than 32", 24) == 0);
    /* the charsets' bounds */
    char long_case[EVENT_CASE_MAX + 2];
    memset(long_case, 'c', sizeof(long_case) - 1);
    long_case[EVENT_CASE_MAX + 1] = '\0';
    CHECK(!VALID(event_case_valid, long_case));
    long_case[EVENT_CASE_MAX] = '\0';
    CHECK(VALID(event_case_valid, long_case));
    CHECK(VALID(event_tenant_valid, "A-z_0.9") && !VALID(event_tenant_valid, "a:b"));
    CHECK(VALID(event_kind_valid, "case.completed") && VALID(event_kind_valid, "x-a"));
    CHECK(!VALID(event_kind_valid,
                 "x-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    CHECK(VALID(event_kind_valid,
                "x-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    CHECK(VALID(event_attr_name_valid, "id.card_no-2") && !VALID(event_attr_name_valid, "_id"));
    CHECK(!VALID(event_attr_name_valid, ""));
}

static void test_commitment(void)
{
    uint8_t salt[EVENT_SALT_SIZE], out[32];
    char hex[65];
    static const char value[] = "+86 138 0000 0000";
    for (unsigned i = 0; i < EVENT_SALT_SIZE; i++) {
        salt[i] = (uint8_t)i;
    }
    CHECK_OK(event_commitment(out, "phone", salt, (const uint8_t *)value, strlen(value)));
    nt_hex_fill(hex, out, 32);
    CHECK_STR(hex, "3e3413dd597af809968d4ca850cd47d7aee97daf2edfbc1d7ab2ca6baddea600");
    /* every input counts */
    uint8_t other[32];
    CHECK_OK(event_commitment(other, "phone", salt, (const uint8_t *)value, strlen(value) - 1));
    CHECK(memcmp(out, other, 32) != 0);
    salt[0] ^= 1;
    CHECK_OK(event_commitment(other, "phone", salt, (const uint8_t *)value, strlen(value)));
    CHECK(memcmp(out, other, 32) != 0);
    CHECK_ERR(event_commitment(other, "Phone", salt, (const uint8_t *)"x", 1), NT_EINVAL);
    CHECK_ERR(event_commitment(other, "phone", salt, (const uint8_t *)"", 0), NT_EINVAL);
    CHECK_ERR(event_commitment(other, "phone", salt, (const uint8_t *)"\xc0\x80", 2), NT_EINVAL);
    static uint8_t big[EVENT_VALUE_MAX + 1];
    memset(big, 'a', sizeof(big));
    CHECK_OK(event_commitment(other, "phone", salt, big, EVENT_VALUE_MAX));
    CHECK_ERR(event_commitment(other, "phone", salt, big, sizeof(big)), NT_EINVAL);
}

int main(void)
{
    test_good();
    test_refusals();
    test_limits();
    test_commitment();
    return TEST_END();
}
