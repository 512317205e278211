/*
 * token_info.c - read back the two fields of an issued TimeStampToken that
 * the server's state depends on: genTime (the start-up floor of the genTime
 * rule) and the boot epoch inside serialNumber (docs/TOKEN-PROFILE.md
 * sections 4 and 5).  Used at start-up for ledgers older than the ledger's
 * genTime mark, and by `notarium ledger restore` to carry the state over.
 */
#include "tsa/tsa.h"

#include <limits.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <string.h>
#include <time.h>

/* GeneralizedTime "YYYYMMDDhhmmss[.f*]Z" as ns since the epoch. */
static int gen_time_ns(uint64_t *out, const ASN1_GENERALIZEDTIME *gt)
{
    const char *text = (const char *)ASN1_STRING_get0_data(gt);
    const char *dot = memchr(text, '.', (size_t)ASN1_STRING_length(gt));
    struct tm tm;
    time_t secs;
    uint64_t frac = 0, scale = 100000000u;

    if (ASN1_TIME_to_tm(gt, &tm) != 1 || (secs = timegm(&tm)) < 0) {
        return nt_error_set(NT_EINVAL, "token genTime is not a valid time");
    }
    if (dot != NULL) {
        for (const char *d = dot + 1; *d >= '0' && *d <= '9' && scale > 0; d++) {
            frac += (uint64_t)(*d - '0') * scale;
            scale /= 10;
        }
    }
    *out = (uint64_t)secs * 1000000000u + frac;
    return 0;
}

int tsa_token_info(uint64_t *gen_time_ns_out, uint32_t *boot_epoch_out, nt_bytes token)
{
    int error = 0;
    const unsigned char *p = token.ptr;
    PKCS7 *p7 = NULL;
    TS_TST_INFO *tst = NULL;
    uint8_t serial[TSA_SERIAL_BYTES];
    const ASN1_INTEGER *sn;
    int n;

    NT_ENSURE(token.ptr != NULL && token.len > 0 && token.len <= LONG_MAX, NT_EINVAL,
              "token: empty");
    NT_ENSURE((p7 = d2i_PKCS7(NULL, &p, (long)token.len)) != NULL &&
                  (tst = PKCS7_to_TS_TST_INFO(p7)) != NULL,
              NT_EINVAL, "not a TimeStampToken");
    NT_TRY(gen_time_ns(gen_time_ns_out, TS_TST_INFO_get_time(tst)));
    /* serialNumber: 18 bytes big-endian, leading zero bytes dropped; boot_epoch is
     * bits 127..96, i.e. bytes 2..5 of the 18. */
    sn = TS_TST_INFO_get_serial(tst);
    n = ASN1_STRING_length(sn);
    NT_ENSURE(n > 0 && n <= (int)TSA_SERIAL_BYTES && ASN1_STRING_type(sn) == V_ASN1_INTEGER,
              NT_EINVAL, "token serialNumber is not one of ours (%d bytes)", n);
    memset(serial, 0, sizeof(serial));
    memcpy(serial + TSA_SERIAL_BYTES - n, ASN1_STRING_get0_data(sn), (size_t)n);
    *boot_epoch_out = nt_load_u32be(serial + 2);
done:
    ERR_clear_error();
    TS_TST_INFO_free(tst);
    PKCS7_free(p7);
    return error;
}
