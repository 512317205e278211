/*
 * utf8_test.c - the strict UTF-8 decoder (util/utf8.c, RFC 3629): every valid
 * length, and the forms it must refuse: overlong encodings, surrogates, code
 * points above U+10FFFF, stray and missing continuation bytes.
 */
#include "tests/unit/test.h"

#define U8(s) ((const uint8_t *)(s)), (sizeof(s) - 1)

static void test_valid_forms(void)
{
    static const struct {
        const char *s;
        size_t n;
        uint32_t cp;
    } ok[] = {
        {"\x00", 1, 0x00},
        {"A", 1, 0x41},
        {"\x7f", 1, 0x7f},
        {"\xc2\x80", 2, 0x80},
        {"\xc3\xa9", 2, 0xe9},
        {"\xdf\xbf", 2, 0x7ff},
        {"\xe0\xa0\x80", 3, 0x800},
        {"\xed\x9f\xbf", 3, 0xd7ff},
        {"\xee\x80\x80", 3, 0xe000},
        {"\xef\xbf\xbf", 3, 0xffff},
        {"\xf0\x90\x80\x80", 4, 0x10000},
        {"\xf4\x8f\xbf\xbf", 4, 0x10ffff},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint32_t cp = 0xffffffffu;
        CHECK(nt_utf8_next(&cp, (const uint8_t *)ok[i].s, ok[i].n) == ok[i].n);
        CHECK(cp == ok[i].cp);
        CHECK(nt_utf8_valid((const uint8_t *)ok[i].s, ok[i].n));
    }
    /* Only the first sequence is decoded. */
    uint32_t cp = 0;
    CHECK(nt_utf8_next(&cp, U8("\xc3\xa9z")) == 2 && cp == 0xe9);
    CHECK(nt_utf8_valid(U8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80")));
    CHECK(nt_utf8_valid(NULL, 0));
}

static void test_invalid_forms(void)
{
    static const struct {
        const char *s;
        size_t n;
    } bad[] = {
        {"\x80", 1}, /* stray continuation byte */
        {"\xbf", 1},
        {"\xc0\x80", 2},             /* overlong NUL */
        {"\xc1\xbf", 2},             /* overlong U+7F */
        {"\xe0\x80\x80", 3},         /* overlong 3-byte */
        {"\xe0\x9f\xbf", 3},         /* overlong U+7FF */
        {"\xf0\x80\x80\x80", 4},     /* overlong 4-byte */
        {"\xf0\x8f\xbf\xbf", 4},     /* overlong U+FFFF */
        {"\xed\xa0\x80", 3},         /* U+D800, a surrogate */
        {"\xed\xbf\xbf", 3},         /* U+DFFF */
        {"\xf4\x90\x80\x80", 4},     /* U+110000 */
        {"\xf7\xbf\xbf\xbf", 4},     /* U+1FFFFF */
        {"\xf8\x88\x80\x80\x80", 5}, /* 5-byte form */
        {"\xfe", 1},
        {"\xff", 1},
        {"\xc3", 1},         /* truncated 2-byte */
        {"\xe2\x82", 2},     /* truncated 3-byte */
        {"\xf0\x9f\x98", 3}, /* truncated 4-byte */
        {"\xc3\x41", 2},     /* continuation byte missing */
        {"\xe2\x28\xa1", 3},
        {"\xf0\x9f\x98\x41", 4},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint32_t cp = 0;
        CHECK(nt_utf8_next(&cp, (const uint8_t *)bad[i].s, bad[i].n) == 0);
        CHECK(!nt_utf8_valid((const uint8_t *)bad[i].s, bad[i].n));
    }
    /* A bad sequence after good ones; a truncated one at the end of the input. */
    CHECK(!nt_utf8_valid(U8("abc\xed\xa0\x80")));
    CHECK(!nt_utf8_valid(U8("\xc3\xa9\xe2\x82")));
    /* The length bounds the read: a valid sequence cut by len is refused. */
    CHECK(!nt_utf8_valid((const uint8_t *)"\xe2\x82\xac", 2));
}

int main(void)
{
    test_valid_forms();
    test_invalid_forms();
    return TEST_END();
}
