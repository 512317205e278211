/*
 * audit_der.c - the auditor's DER splitter (nt_mirror library): cuts the
 * `certificates` field out of an RFC 3161 token's SignedData so that the
 * token checks (audit_tokens.c) parse each distinct certificate set once.
 * Pure byte work on untrusted input, no OpenSSL: fuzzed by
 * tests/fuzz/audit_der_fuzz.c.
 */
#include "ledger/audit_int.h"

#include <string.h>

/* One DER TLV at p with a one-byte tag and a definite length. */
int audit__der_tlv(const uint8_t *p, size_t left, uint8_t *tag, size_t *hdr, size_t *clen)
{
    if (left < 2 || (p[0] & 0x1f) == 0x1f) {
        return -1;
    }
    size_t n = p[1], h = 2;
    if (n & 0x80) {
        size_t k = n & 0x7f;
        if (k == 0 || k > 4 || left < 2 + k) {
            return -1; /* indefinite (BER) or absurd */
        }
        n = 0;
        for (size_t i = 0; i < k; i++) {
            n = (n << 8) | p[2 + i];
        }
        h += k;
    }
    if (n > left - h) {
        return -1;
    }
    *tag = p[0];
    *hdr = h;
    *clen = n;
    return 0;
}

static size_t der_hdr_size(size_t len)
{
    return len < 0x80 ? 2 : len <= 0xff ? 3 : len <= 0xffff ? 4 : len <= 0xffffff ? 5 : 6;
}

static int der_put_hdr(nt_buf *out, uint8_t tag, size_t len)
{
    uint8_t h[6];
    size_t n = der_hdr_size(len);
    h[0] = tag;
    if (n == 2) {
        h[1] = (uint8_t)len;
    } else {
        h[1] = (uint8_t)(0x80 | (n - 2));
        for (size_t i = 0; i < n - 2; i++) {
            h[n - 1 - i] = (uint8_t)(len >> (8 * i));
        }
    }
    return nt_buf_put(out, h, n);
}

/*
 * Split a DER ContentInfo holding a SignedData into the content of its
 * `certificates` [0] field (a view; empty when absent) and, when there was
 * one, the same ContentInfo without it (in `out`; *stripped = 1).  1 when the
 * bytes are not laid out that way: the caller then parses the token whole;
 * NT_ENOMEM when `out` cannot grow.
 */
int audit__token_split(nt_bytes *certs, int *stripped, nt_buf *out, const uint8_t *tok, size_t len)
{
    uint8_t tag;
    size_t h, n;
    *certs = NT_BYTES(NULL, 0);
    *stripped = 0;
    if (audit__der_tlv(tok, len, &tag, &h, &n) < 0 || tag != 0x30 || h + n != len) {
        return 1;
    }
    const uint8_t *ci = tok + h;
    size_t ci_len = n;
    if (audit__der_tlv(ci, ci_len, &tag, &h, &n) < 0 || tag != 0x06) {
        return 1;
    }
    size_t oid_len = h + n;
    const uint8_t *q = ci + oid_len;
    size_t qleft = ci_len - oid_len;
    if (audit__der_tlv(q, qleft, &tag, &h, &n) < 0 || tag != 0xa0 || h + n != qleft) {
        return 1;
    }
    q += h;
    qleft = n;
    if (audit__der_tlv(q, qleft, &tag, &h, &n) < 0 || tag != 0x30 || h + n != qleft) {
        return 1;
    }
    const uint8_t *sd = q + h;
    size_t sd_len = n, off = 0;
    for (int i = 0; i < 3; i++) { /* version, digestAlgorithms, encapContentInfo */
        if (audit__der_tlv(sd + off, sd_len - off, &tag, &h, &n) < 0) {
            return 1;
        }
        off += h + n;
    }
    if (off >= sd_len || sd[off] != 0xa0) {
        return 0;
    }
    if (audit__der_tlv(sd + off, sd_len - off, &tag, &h, &n) < 0) {
        return 1;
    }
    *certs = NT_BYTES(sd + off + h, n);
    size_t skip = h + n, new_sd = sd_len - skip;
    size_t a0 = der_hdr_size(new_sd) + new_sd;
    size_t total = oid_len + der_hdr_size(a0) + a0;
    nt_buf_clear(out);
    if (der_put_hdr(out, 0x30, total) < 0 || nt_buf_put(out, ci, oid_len) < 0 ||
        der_put_hdr(out, 0xa0, a0) < 0 || der_put_hdr(out, 0x30, new_sd) < 0 ||
        nt_buf_put(out, sd, off) < 0 || nt_buf_put(out, sd + off + skip, sd_len - off - skip) < 0) {
        return NT_ENOMEM; /* the message is nt_buf's */
    }
    *stripped = 1;
    return 0;
}
