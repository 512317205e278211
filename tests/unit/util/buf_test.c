/*
 * buf_test.c - nt_buf and the strict hex / base64 codecs, with a negative
 * twin for every accepted form.
 */
#include "tests/unit/test.h"

static void test_buf_basics(void)
{
    nt_buf b = NT_BUF_INIT;
    CHECK_OK(nt_buf_puts(&b, "abc"));
    CHECK_OK(nt_buf_printf(&b, "-%d-", 42));
    CHECK_OK(nt_buf_put_u32be(&b, 0x01020304u));
    CHECK(b.len == 11);
    CHECK_MEM(b.ptr, "abc-42-\x01\x02\x03\x04", 11);
    CHECK(b.ptr[b.len] == 0);
    CHECK_OK(nt_buf_set(&b, b.ptr + 4, 2));
    CHECK_STR(nt_buf_cstr(&b), "42");
    nt_buf_dispose(&b);
    CHECK(b.ptr == NULL && b.len == 0);
    nt_buf_dispose(NULL);
}

static void test_hex(void)
{
    nt_buf b = NT_BUF_INIT, d = NT_BUF_INIT;
    CHECK_OK(nt_hex_encode(&b, (const uint8_t *)"\x00\xff\x10", 3));
    CHECK_STR(nt_buf_cstr(&b), "00ff10");
    CHECK_OK(nt_hex_encode(&b, (const uint8_t *)"\xab", 1)); /* appends */
    CHECK_STR(nt_buf_cstr(&b), "00ff10ab");
    {
        char fixed[2 * 4 + 1];
        memset(fixed, 'x', sizeof(fixed));
        nt_hex_fill(fixed, (const uint8_t *)"\x01\x23\xcd\xef", 4);
        CHECK_STR(fixed, "0123cdef");
        nt_hex_fill(fixed, (const uint8_t *)"", 0);
        CHECK_STR(fixed, "");
    }
    CHECK_OK(nt_hex_decode(&d, "00FF10", 6));
    CHECK(d.len == 3 && memcmp(d.ptr, "\x00\xff\x10", 3) == 0);
    nt_buf_clear(&d);
    CHECK_ERR(nt_hex_decode(&d, "abc", 3), NT_EINVAL);
    CHECK_ERR(nt_hex_decode(&d, "zz", 2), NT_EINVAL);
    nt_buf_dispose(&b);
    nt_buf_dispose(&d);
}

static void test_base64(void)
{
    static const struct {
        const char *raw, *b64;
    } vectors[] = {{"", ""},
                   {"f", "Zg=="},
                   {"fo", "Zm8="},
                   {"foo", "Zm9v"},
                   {"foob", "Zm9vYg=="},
                   {"fooba", "Zm9vYmE="},
                   {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < NT_ARRAY_LEN(vectors); i++) {
        nt_buf e = NT_BUF_INIT, d = NT_BUF_INIT;
        size_t rl = strlen(vectors[i].raw), bl = strlen(vectors[i].b64);
        CHECK_OK(nt_base64_encode(&e, (const uint8_t *)vectors[i].raw, rl));
        CHECK_STR(nt_buf_cstr(&e), vectors[i].b64);
        CHECK_OK(nt_base64_decode(&d, vectors[i].b64, bl));
        CHECK(d.len == rl && (rl == 0 || memcmp(d.ptr, vectors[i].raw, rl) == 0));
        nt_buf_dispose(&e);
        nt_buf_dispose(&d);
    }
    /* negative twins: bad length, bad char, padding in the middle, non-canonical bits */
    static const char *const bad[] = {
        "Zg=", "Zg", "Z!==", "Zg==Zg==", "Zh==", "Zm9=", "====", "Zm 9v"};
    for (size_t i = 0; i < NT_ARRAY_LEN(bad); i++) {
        nt_buf d = NT_BUF_INIT;
        CHECK_ERR(nt_base64_decode(&d, bad[i], strlen(bad[i])), NT_EINVAL);
        nt_buf_dispose(&d);
    }
}

static void test_parse_u64(void)
{
    uint64_t v = 0;
    CHECK_OK(nt_parse_u64(&v, "0", 1));
    CHECK(v == 0);
    CHECK_OK(nt_parse_u64(&v, "18446744073709551615", 20));
    CHECK(v == UINT64_MAX);
    CHECK_ERR(nt_parse_u64(&v, "18446744073709551616", 20), NT_ERANGE);
    CHECK_ERR(nt_parse_u64(&v, "012", 3), NT_EINVAL);
    CHECK_ERR(nt_parse_u64(&v, "-1", 2), NT_EINVAL);
    CHECK_ERR(nt_parse_u64(&v, "", 0), NT_EINVAL);
}

static void test_alloc_failure(void)
{
    nt_buf b = NT_BUF_INIT;
    nt_mem_fail_after(1);
    CHECK_ERR(nt_buf_puts(&b, "x"), NT_ENOMEM);
    nt_mem_fail_after(0);
    CHECK(b.ptr == NULL && b.len == 0);
    CHECK_OK(nt_buf_puts(&b, "x"));
    nt_buf_dispose(&b);
    size_t out;
    CHECK_ERR(nt_size_mul(&out, SIZE_MAX / 2, 3), NT_ERANGE);
    CHECK_ERR(nt_size_add(&out, SIZE_MAX, 1), NT_ERANGE);
}

int main(void)
{
    test_buf_basics();
    test_hex();
    test_base64();
    test_parse_u64();
    test_alloc_failure();
    return TEST_END();
}
