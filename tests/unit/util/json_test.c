/*
 * json_test.c - nt_json_dump (util/json.c): the exact text jansson's flags
 * give, appended after what the buffer held; a scalar only with
 * JSON_ENCODE_ANY; out of memory at every allocation is NT_ENOMEM and leaves
 * the buffer as it was.
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

int main(void)
{
    test_dump();
    test_scalar();
    test_alloc_failure();
    return TEST_END();
}
