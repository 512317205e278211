/*
 * utf8.c - strict UTF-8 (RFC 3629): shortest form only, no surrogates, nothing
 * above U+10FFFF.  Used by the ledger's record labels and signed notes.
 */
#include "util/util.h"

size_t nt_utf8_next(uint32_t *cp, const uint8_t *s, size_t len)
{
    uint8_t c;
    size_t n;
    uint32_t v, min;

    if (len == 0) {
        return 0;
    }
    c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        n = 2, v = c & 0x1fu, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, v = c & 0x0fu, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, v = c & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    if (len < n) {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        v = (v << 6) | (s[i] & 0x3fu);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
        return 0;
    }
    *cp = v;
    return n;
}

int nt_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    uint32_t cp;

    while (i < len) {
        size_t n = nt_utf8_next(&cp, s + i, len - i);
        if (n == 0) {
            return 0;
        }
        i += n;
    }
    return 1;
}
