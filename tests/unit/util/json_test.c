/*
 * json_test.c - nt_json_dump (util/json.c): the exact text jansson's flags
 * give, appended after what the buffer held; a scalar only with
 * JSON_ENCODE_ANY; out of memory at every allocation is NT_ENOMEM and leaves
 * the buffer as it was.  nt_json_put_string: the same bytes as jansson's dump
 * of the same string, for every byte value and for random UTF-8 strings;
 * invalid UTF-8 refused with nothing appended.
 */
#include "tests/unit/test.h"

#include <jansson.h>

static void test_dump(void)
{
    json_t *j = json_pack("{s:i, s:[s, b], s:{}}", "b", 1, "a", "x\"y", 1, "c");
    nt_buf out = NT_BUF_INIT;
    CHECK(j != NULL);
    CHECK_OK(nt_json_dump(&out, j, JSON_COMPACT | JSON_PRESERVE_ORDER));
    CHECK_STR(nt_buf_cstr(&out), "{\"b\":1,\"a\":[\"x\\\"y\",true],\"c\":{}}");
    /* appended, not replaced; sorted keys */
    CHECK_OK(nt_json_dump(&out, j, JSON_COMPACT | JSON_SORT_KEYS));
    CHECK_STR(nt_buf_cstr(&out), "{\"b\":1,\"a\":[\"x\\\"y\",true],\"c\":{}}"
                                 "{\"a\":[\"x\\\"y\",true],\"b\":1,\"c\":{}}");
    nt_buf_clear(&out);
    CHECK_OK(nt_json_dump(&out, j, JSON_INDENT(2) | JSON_PRESERVE_ORDER));
    CHECK_STR(nt_buf_cstr(&out),
              "{\n  \"b\": 1,\n  \"a\": [\n    \"x\\\"y\",\n    true\n  ],\n  \"c\": {}\n}");
    /* the same bytes as json_dumps */
    {
        char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        CHECK(text != NULL && strcmp(text, nt_buf_cstr(&out)) == 0);
        free(text);
    }
    json_decref(j);
    nt_buf_dispose(&out);
}

static void test_scalar(void)
{
    json_t *s = json_string("caf\xc3\xa9");
    nt_buf out = NT_BUF_INIT;
    CHECK_OK(nt_buf_puts(&out, "x="));
    /* negative twin first: a scalar without JSON_ENCODE_ANY is refused, out unchanged */
    CHECK_ERR(nt_json_dump(&out, s, 0), NT_EINVAL);
    CHECK_STR(nt_buf_cstr(&out), "x=");
    CHECK_ERR(nt_json_dump(&out, NULL, JSON_ENCODE_ANY), NT_EINVAL);
    CHECK_OK(nt_json_dump(&out, s, JSON_ENCODE_ANY));
    CHECK_STR(nt_buf_cstr(&out), "x=\"caf\xc3\xa9\"");
    json_decref(s);
    nt_buf_dispose(&out);
}

/* Every allocation of the dump fails in turn: NT_ENOMEM, and the buffer keeps what it had. */
static void test_alloc_failure(void)
{
    json_t *j = json_pack("{s:s, s:[i, i, i]}", "name", "a long enough value to need a grow",
                          "list", 1, 2, 3);
    int failures = 0, ok = 0;
    for (unsigned long n = 1; n < 32 && !ok; n++) {
        nt_buf out = NT_BUF_INIT;
        int rc;
        CHECK_OK(nt_buf_puts(&out, "kept"));
        nt_mem_fail_after(n);
        rc = nt_json_dump(&out, j, JSON_INDENT(4));
        nt_mem_fail_after(0);
        if (rc == 0) {
            ok = 1;
        } else {
            failures++;
            CHECK_ERR(rc, NT_ENOMEM);
            CHECK_STR(nt_buf_cstr(&out), "kept");
            CHECK(strstr(nt_error_last(), "out of memory") != NULL);
        }
        nt_buf_dispose(&out);
    }
    CHECK(ok && failures > 0);
    json_decref(j);
}

/* jansson's text of the string s[0..len) (JSON_ENCODE_ANY), appended to want. */
static void jansson_string(nt_buf *want, const uint8_t *s, size_t len)
{
    json_t *j = json_stringn((const char *)s, len);
    REQUIRE(j != NULL);
    REQUIRE(nt_json_dump(want, j, JSON_ENCODE_ANY) == 0);
    json_decref(j);
}

static int put_string_matches(const uint8_t *s, size_t len)
{
    nt_buf want = NT_BUF_INIT, got = NT_BUF_INIT;
    int same;
    jansson_string(&want, s, len);
    REQUIRE(nt_buf_puts(&got, "") == 0);
    same = nt_json_put_string(&got, s, len) == 0 && got.len == want.len &&
           memcmp(got.ptr, want.ptr, got.len) == 0;
    if (!same) {
        fprintf(stderr, "nt_json_put_string: %s, jansson: %s\n", nt_buf_cstr(&got),
                nt_buf_cstr(&want));
    }
    nt_buf_dispose(&want);
    nt_buf_dispose(&got);
    return same;
}

static void test_put_string(void)
{
    static const char *const utf8[] = {
        "caf\xc3\xa9", "\xe2\x80\x94", "\xf0\x9f\x94\x92", "\xe6\x97\xa5\xe5\xbf\x97", "/", "\x7f"};
    uint8_t s[64];
    nt_buf out = NT_BUF_INIT;
    uint32_t seed = 12345;
    int all = 1;

    /* every ASCII byte alone and inside text */
    for (unsigned c = 0; c < 0x80; c++) {
        uint8_t one = (uint8_t)c, three[3] = {'a', (uint8_t)c, 'b'};
        all &= put_string_matches(&one, 1) && put_string_matches(three, 3);
    }
    all &= put_string_matches((const uint8_t *)"", 0);
    /* random strings of ASCII (control characters, quotes, backslashes included) and UTF-8 */
    for (int round = 0; round < 2000; round++) {
        size_t len = 0, want;
        seed = seed * 1103515245u + 12345u;
        want = (seed >> 16) % 40;
        while (len < want) {
            seed = seed * 1103515245u + 12345u;
            if ((seed >> 16) % 4 == 0) {
                const char *u = utf8[(seed >> 8) % NT_ARRAY_LEN(utf8)];
                memcpy(s + len, u, strlen(u));
                len += strlen(u);
            } else {
                s[len++] = (uint8_t)((seed >> 16) % 0x80);
            }
        }
        all &= put_string_matches(s, len);
    }
    CHECK(all);
    /* negative twins: invalid UTF-8 (a lone continuation byte, a truncated sequence, an
     * overlong form) is refused and nothing is appended */
    CHECK_OK(nt_buf_puts(&out, "kept"));
    CHECK_ERR(nt_json_put_string(&out, (const uint8_t *)"a\x80", 2), NT_EINVAL);
    CHECK_ERR(nt_json_put_string(&out, (const uint8_t *)"\xe2\x80", 2), NT_EINVAL);
    CHECK_ERR(nt_json_put_string(&out, (const uint8_t *)"\xc0\xaf", 2), NT_EINVAL);
    CHECK_STR(nt_buf_cstr(&out), "kept");
    nt_buf_dispose(&out);
}

int main(void)
{
    test_put_string();
    test_dump();
    test_scalar();
    test_alloc_failure();
    return TEST_END();
}
