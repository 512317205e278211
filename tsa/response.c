/*
 * response.c - the RFC 3161 TimeStampResp encoding (granted + token, or a
 * rejection with PKIFailureInfo and statusString), the failure-bit names,
 * and tsa_result's life cycle.  Part of the TSA core (nt_tsa_core).
 *
 * The response is written as DER by hand rather than through TS_RESP: it is
 * four fixed TLVs around the token, the token's bytes are copied verbatim (no
 * decode/re-encode of what was just signed), and the named BIT STRING gets
 * its exact DER form (trailing zero bits removed, X.690 11.2.2).
 */
#include "tsa/core_int.h"

#include <stdio.h>
#include <string.h>

const char *tsa_fail_name(tsa_fail f)
{
    switch (f) {
    case TSA_FAIL_NONE:
        return "none";
    case TSA_FAIL_BAD_ALG:
        return "badAlg";
    case TSA_FAIL_BAD_REQUEST:
        return "badRequest";
    case TSA_FAIL_BAD_DATA_FORMAT:
        return "badDataFormat";
    case TSA_FAIL_TIME_NOT_AVAILABLE:
        return "timeNotAvailable";
    case TSA_FAIL_UNACCEPTED_POLICY:
        return "unacceptedPolicy";
    case TSA_FAIL_UNACCEPTED_EXTENSION:
        return "unacceptedExtension";
    case TSA_FAIL_ADD_INFO_NOT_AVAILABLE:
        return "addInfoNotAvailable";
    case TSA_FAIL_SYSTEM_FAILURE:
        return "systemFailure";
    }
    return "unknown";
}

void tsa_result_init(tsa_result *r)
{
    memset(r, 0, sizeof(*r));
    r->fail = TSA_FAIL_NONE;
}

void tsa_result_dispose(tsa_result *r)
{
    if (r == NULL) {
        return;
    }
    nt_buf_dispose(&r->response);
    nt_buf_dispose(&r->token);
    nt_buf_dispose(&r->digest);
    nt_buf_dispose(&r->serial);
    tsa_result_init(r);
}

/* DER tag and definite length (X.690 8.1.3, shortest form). */
static int der_header(nt_buf *out, uint8_t tag, size_t len)
{
    uint8_t hdr[10];
    size_t n = 0;

    hdr[n++] = tag;
    if (len < 0x80) {
        hdr[n++] = (uint8_t)len;
    } else {
        uint8_t tmp[8];
        size_t k = 0;
        while (len > 0) {
            tmp[k++] = (uint8_t)(len & 0xff);
            len >>= 8;
        }
        hdr[n++] = (uint8_t)(0x80 | k);
        while (k > 0) {
            hdr[n++] = tmp[--k];
        }
    }
    return nt_buf_put(out, hdr, n);
}

static int der_tlv(nt_buf *out, uint8_t tag, const void *data, size_t len)
{
    int error = der_header(out, tag, len);
    if (error < 0) {
        return error;
    }
    return nt_buf_put(out, data, len);
}

/*
 * PKIStatusInfo ::= SEQUENCE { status PKIStatus, statusString PKIFreeText
 * OPTIONAL, failInfo PKIFailureInfo OPTIONAL }  (RFC 3161 2.4.2), appended.
 */
static int status_info(nt_buf *out, int status, const char *text, tsa_fail fail)
{
    int error = 0;
    nt_buf body = NT_BUF_INIT, utf8 = NT_BUF_INIT, str = NT_BUF_INIT;
    uint8_t st = (uint8_t)status;

    NT_TRY(der_tlv(&body, 0x02, &st, 1));
    if (text != NULL && text[0] != '\0') {
        /* statusString is UTF8String; ours is ASCII, anything else becomes '?' */
        for (const char *p = text; *p != '\0'; p++) {
            uint8_t c = (uint8_t)*p;
            NT_TRY(nt_buf_putc(&utf8, (c >= 0x20 && c < 0x7f) ? c : (uint8_t)'?'));
        }
        /* PKIFreeText ::= SEQUENCE SIZE (1..MAX) OF UTF8String: one string */
        NT_TRY(der_tlv(&str, 0x0c, utf8.ptr, utf8.len));
        NT_TRY(der_tlv(&body, 0x30, str.ptr, str.len));
    }
    if (fail != TSA_FAIL_NONE) {
        /* named bit n: octet n/8, mask 0x80 >> n%8; unused bits after it */
        uint8_t bits[1 + 4] = {0};
        unsigned n = (unsigned)fail;
        NT_ENSURE(n < 32, NT_EINVAL, "failure bit %u out of range", n);
        bits[0] = (uint8_t)(7 - n % 8);
        bits[1 + n / 8] = (uint8_t)(0x80u >> (n % 8));
        NT_TRY(der_tlv(&body, 0x03, bits, 1 + n / 8 + 1));
    }
    NT_TRY(der_tlv(out, 0x30, body.ptr, body.len));
done:
    nt_buf_dispose(&body);
    nt_buf_dispose(&utf8);
    nt_buf_dispose(&str);
    return error;
}

int tsa_response_rejection(nt_buf *out, tsa_fail fail, const char *text)
{
    int error = 0;
    nt_buf si = NT_BUF_INIT;

    /* PKIStatus rejection (2) */
    NT_TRY(status_info(&si, 2, text, fail));
    nt_buf_clear(out);
    NT_TRY(der_tlv(out, 0x30, si.ptr, si.len));
done:
    nt_buf_dispose(&si);
    return error;
}

int tsa_response_granted(nt_buf *out, nt_bytes token)
{
    int error = 0;
    nt_buf si = NT_BUF_INIT;
    size_t total;

    NT_ENSURE(token.ptr != NULL && token.len > 2 && token.ptr[0] == 0x30, NT_EINVAL,
              "token is not a DER ContentInfo");
    /* PKIStatus granted (0), and RFC 3161: "When the status contains the
     * value zero or one, a TimeStampToken MUST be present." */
    NT_TRY(status_info(&si, 0, NULL, TSA_FAIL_NONE));
    NT_TRY(nt_size_add(&total, si.len, token.len));
    nt_buf_clear(out);
    NT_TRY(der_header(out, 0x30, total));
    NT_TRY(nt_buf_put(out, si.ptr, si.len));
    NT_TRY(nt_buf_put(out, token.ptr, token.len));
done:
    nt_buf_dispose(&si);
    return error;
}

int tsa__reject(tsa_result *out, tsa *t, tsa_fail fail, const char *fmt, ...)
{
    va_list ap;
    int error;

    /* alg and digest stay: they describe the request, not the answer */
    nt_buf_dispose(&out->response);
    nt_buf_dispose(&out->token);
    nt_buf_dispose(&out->serial);
    memset(&out->gen_time, 0, sizeof(out->gen_time));
    out->granted = 0;
    out->fail = fail;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
    va_end(ap);
    if (fail >= 0 && (int)fail < 32) {
        atomic_fetch_add(&t->stat_rejected[fail], 1);
    }
    /* our own failures are not the client's business: a generic statusString */
    error = tsa_response_rejection(
        &out->response, fail, fail == TSA_FAIL_SYSTEM_FAILURE ? "internal error" : out->reason);
    return error;
}
