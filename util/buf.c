/*
 * buf.c - nt_buf, the owned byte buffer every component passes bytes in, and
 * the strict hex / base64 codecs.  Decoders reject anything non-canonical:
 * these bytes end up in signatures and proofs, where two spellings of one
 * value would be a hazard.
 */
#include "util/util.h"

#include <stdio.h>
#include <string.h>

int nt_buf_grow(nt_buf *buf, size_t extra)
{
    size_t need, cap;
    uint8_t *p;

    if (nt_size_add(&need, buf->len, extra) < 0 || nt_size_add(&need, need, 1) < 0) {
        return NT_ERANGE;
    }
    if (need <= buf->cap) {
        return 0;
    }
    cap = buf->cap ? buf->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    p = nt_realloc(buf->ptr, cap);
    if (p == NULL) {
        return NT_ENOMEM;
    }
    buf->ptr = p;
    buf->cap = cap;
    return 0;
}

int nt_buf_put(nt_buf *buf, const void *data, size_t len)
{
    int error = nt_buf_grow(buf, len);
    if (error < 0) {
        return error;
    }
    if (len > 0) {
        memcpy(buf->ptr + buf->len, data, len);
    }
    buf->len += len;
    buf->ptr[buf->len] = '\0';
    return 0;
}

int nt_buf_putc(nt_buf *buf, uint8_t c)
{
    return nt_buf_put(buf, &c, 1);
}

int nt_buf_puts(nt_buf *buf, const char *s)
{
    return nt_buf_put(buf, s, strlen(s));
}

int nt_buf_vprintf(nt_buf *buf, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;
    int error;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        return nt_error_set(NT_EINVAL, "bad format");
    }
    if ((error = nt_buf_grow(buf, (size_t)n)) < 0) {
        return error;
    }
    vsnprintf((char *)buf->ptr + buf->len, (size_t)n + 1, fmt, ap);
    buf->len += (size_t)n;
    return 0;
}

int nt_buf_printf(nt_buf *buf, const char *fmt, ...)
{
    va_list ap;
    int error;
    va_start(ap, fmt);
    error = nt_buf_vprintf(buf, fmt, ap);
    va_end(ap);
    return error;
}

int nt_buf_put_u16be(nt_buf *buf, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    return nt_buf_put(buf, b, sizeof(b));
}

int nt_buf_put_u32be(nt_buf *buf, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return nt_buf_put(buf, b, sizeof(b));
}

int nt_buf_put_u64be(nt_buf *buf, uint64_t v)
{
    uint8_t b[8];
    nt_store_u64be(b, v);
    return nt_buf_put(buf, b, sizeof(b));
}

int nt_buf_set(nt_buf *buf, const void *data, size_t len)
{
    /* data may point into buf itself */
    if (buf->ptr != NULL && (const uint8_t *)data >= buf->ptr &&
        (const uint8_t *)data < buf->ptr + buf->cap) {
        memmove(buf->ptr, data, len);
        buf->len = len;
        buf->ptr[len] = '\0';
        return 0;
    }
    buf->len = 0;
    return nt_buf_put(buf, data, len);
}

void nt_buf_clear(nt_buf *buf)
{
    buf->len = 0;
    if (buf->ptr != NULL) {
        buf->ptr[0] = '\0';
    }
}

void nt_buf_dispose(nt_buf *buf)
{
    if (buf == NULL) {
        return;
    }
    nt_free(buf->ptr);
    buf->ptr = NULL;
    buf->len = buf->cap = 0;
}

void nt_buf_dispose_secret(nt_buf *buf)
{
    if (buf == NULL) {
        return;
    }
    nt_wipe(buf->ptr, buf->cap);
    nt_buf_dispose(buf);
}

char *nt_buf_detach(nt_buf *buf)
{
    char *p;
    if (buf->ptr == NULL && nt_buf_grow(buf, 0) < 0) {
        return NULL;
    }
    buf->ptr[buf->len] = '\0';
    p = (char *)buf->ptr;
    buf->ptr = NULL;
    buf->len = buf->cap = 0;
    return p;
}

nt_bytes nt_buf_bytes(const nt_buf *buf)
{
    return NT_BYTES(buf->ptr, buf->len);
}

const char *nt_buf_cstr(const nt_buf *buf)
{
    return buf->ptr != NULL ? (const char *)buf->ptr : "";
}

void nt_hex_fill(char *out, const uint8_t *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 0xf];
    }
    out[2 * len] = '\0';
}

int nt_hex_encode(nt_buf *out, const uint8_t *data, size_t len)
{
    size_t need;
    int error;

    if ((error = nt_size_mul(&need, len, 2)) < 0 || (error = nt_buf_grow(out, need)) < 0) {
        return error;
    }
    nt_hex_fill((char *)out->ptr + out->len, data, len);
    out->len += need;
    return 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

int nt_hex_decode(nt_buf *out, const char *hex, size_t len)
{
    int error;
    if (len % 2 != 0) {
        return nt_error_set(NT_EINVAL, "hex string has odd length");
    }
    if ((error = nt_buf_grow(out, len / 2)) < 0) {
        return error;
    }
    for (size_t i = 0; i < len; i += 2) {
        int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);
        if (hi < 0 || lo < 0) {
            return nt_error_set(NT_EINVAL, "invalid hex digit");
        }
        out->ptr[out->len++] = (uint8_t)(hi << 4 | lo);
    }
    out->ptr[out->len] = '\0';
    return 0;
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int nt_base64_encode(nt_buf *out, const uint8_t *data, size_t len)
{
    size_t need;
    int error;

    if ((error = nt_size_add(&need, len, 2)) < 0 || (error = nt_size_mul(&need, need / 3, 4)) < 0 ||
        (error = nt_buf_grow(out, need)) < 0) {
        return error;
    }
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        size_t rem = len - i;
        if (rem > 1) {
            v |= (uint32_t)data[i + 1] << 8;
        }
        if (rem > 2) {
            v |= data[i + 2];
        }
        out->ptr[out->len++] = (uint8_t)b64_alphabet[(v >> 18) & 63];
        out->ptr[out->len++] = (uint8_t)b64_alphabet[(v >> 12) & 63];
        out->ptr[out->len++] = rem > 1 ? (uint8_t)b64_alphabet[(v >> 6) & 63] : '=';
        out->ptr[out->len++] = rem > 2 ? (uint8_t)b64_alphabet[v & 63] : '=';
    }
    out->ptr[out->len] = '\0';
    return 0;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

int nt_base64_decode(nt_buf *out, const char *b64, size_t len)
{
    size_t start = out->len;
    int error;

    if (len % 4 != 0) {
        return nt_error_set(NT_EINVAL, "base64 length is not a multiple of 4");
    }
    if ((error = nt_buf_grow(out, len / 4 * 3)) < 0) {
        return error;
    }
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        int pad = 0;
        for (int j = 0; j < 4; j++) {
            char c = b64[i + (size_t)j];
            if (c == '=' && i + 4 == len && j >= 2) {
                v[j] = 0;
                pad++;
                continue;
            }
            if (pad > 0 || (v[j] = b64_value(c)) < 0) {
                out->len = start;
                return nt_error_set(NT_EINVAL, "invalid base64");
            }
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        /* canonical: bits hidden by padding must be zero */
        if ((pad == 1 && (w & 0xff) != 0) || (pad == 2 && (w & 0xffff) != 0)) {
            out->len = start;
            return nt_error_set(NT_EINVAL, "non-canonical base64");
        }
        out->ptr[out->len++] = (uint8_t)(w >> 16);
        if (pad < 2) {
            out->ptr[out->len++] = (uint8_t)(w >> 8);
        }
        if (pad < 1) {
            out->ptr[out->len++] = (uint8_t)w;
        }
    }
    out->ptr[out->len] = '\0';
    return 0;
}

int nt_parse_u64(uint64_t *out, const char *s, size_t len)
{
    uint64_t v = 0;
    if (len == 0 || len > 20 || (len > 1 && s[0] == '0')) {
        return nt_error_set(NT_EINVAL, "not a canonical decimal number");
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return nt_error_set(NT_EINVAL, "not a decimal number");
        }
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return nt_error_set(NT_ERANGE, "number too large");
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static uint64_t rotl64(uint64_t x, unsigned r)
{
    return (x << r) | (x >> (64 - r));
}

uint64_t nt_hash64(const uint64_t seed[2], uint64_t tweak, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t h = seed[0] ^ tweak ^ (len * 0x9e3779b97f4a7c15ull);

    for (size_t i = 0; i < len; i += 8) {
        uint64_t k = 0;
        memcpy(&k, p + i, len - i < 8 ? len - i : 8);
        k *= 0x87c37b91114253d5ull;
        k = rotl64(k, 31) * 0x4cf5ad432745937full;
        h = rotl64(h ^ k, 27) * 5 + 0x52dce729 + seed[1];
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}
