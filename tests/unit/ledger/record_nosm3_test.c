/*
 * record_nosm3_test.c - SM3 where the OpenSSL library cannot compute it: only
 * the "base" provider is loaded (no digests at all), as in a build without
 * SM3 or a FIPS-only configuration.  SM3 is then refused like any unknown
 * algorithm (by name, by NID, in "sm3:<hex>" digests: NT_EUNSUPPORTED
 * "unknown digest algorithm", the HTTP API's 400), while a stored leaf with
 * algorithm id 0x09 still decodes (the format does not depend on the
 * library) and the other algorithms of the table are unaffected.  The twin,
 * with SM3 available, is record_test.c.
 */
#include "ledger/record.h"
#include "tests/unit/test.h"

#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/provider.h>

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

int main(void)
{
    OSSL_PROVIDER *base = OSSL_PROVIDER_load(NULL, "base"); /* before any fetch: no default */
    record_alg a = RECORD_ALG_SHA256;
    nt_buf d = NT_BUF_INIT, enc = NT_BUF_INIT;
    static const uint8_t zero[32] = {0};
    static const uint8_t token[4] = {0x30, 0x02, 0x05, 0x00};
    record r, out;
    EVP_MD *md;

    REQUIRE(base != NULL);
    md = EVP_MD_fetch(NULL, "SM3", NULL);
    REQUIRE(md == NULL); /* the premise: this library context has no SM3 */
    CHECK(!record_alg_available(RECORD_ALG_SM3));
    CHECK(record_alg_available(RECORD_ALG_SHA256));
    CHECK_ERR(record_alg_from_name(&a, "sm3"), NT_EINVAL);
    CHECK_ERR(record_alg_from_nid(&a, NID_sm3), NT_EINVAL);
    CHECK_ERR(record_digest_parse(&a, &d, "sm3:" H64), NT_EUNSUPPORTED);
    CHECK(strstr(nt_error_last(), "unknown digest algorithm 'sm3'") != NULL);
    CHECK_OK(record_digest_parse(&a, &d, "sha256:" H64)); /* twin */
    CHECK(a == RECORD_ALG_SHA256);
    /* a leaf written where SM3 was available still reads */
    memset(&r, 0, sizeof(r));
    r.kind = RECORD_KIND_TIMESTAMP;
    r.alg = RECORD_ALG_SM3;
    r.digest = NT_BYTES(zero, sizeof(zero));
    r.token = NT_BYTES(token, sizeof(token));
    CHECK_OK(record_encode(&enc, &r));
    CHECK_OK(record_decode(&out, enc.ptr, enc.len));
    CHECK(out.alg == RECORD_ALG_SM3);
    nt_buf_dispose(&d);
    nt_buf_dispose(&enc);
    OSSL_PROVIDER_unload(base);
    return TEST_END();
}
