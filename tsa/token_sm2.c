/*
 * token_sm2.c - the SM2 pieces of the token fast path (token_fast.c): the
 * algorithm identifiers and the signature.  Part of the TSA core.
 *
 * OpenSSL 3.0's CMS and PKCS7 code cannot sign with SM2 (`openssl cms -sign`
 * with an SM2 key writes an empty signature and fails, see docs/KEYS.md), so
 * an SM2 identity has no reference path: its tokens come from token_fast.c,
 * whose DER is the same as for ECDSA, with
 *   digestAlgorithm     sm3           1.2.156.10197.1.401, parameters absent
 *   signatureAlgorithm  SM2-with-SM3  1.2.156.10197.1.501, parameters absent
 *   signature           DER SEQUENCE { r, s } over SM3(Z || signed attributes),
 *                       Z computed with the configured signer identifier
 *                       (default "1234567812345678", GB/T 35276)
 * as GB/T 35275 (SM2 cryptographic message syntax) and BouncyCastle use them.
 * tests/unit/tsa/token_sm2_test.c and tests/e2e/tsa_sm2.sh (BouncyCastle)
 * check it.
 */
#include "tsa/token_int.h"

#include <openssl/err.h>

/* AlgorithmIdentifier ::= SEQUENCE { OID } (parameters absent) into out (replaced). */
static int alg_id(nt_buf *out, int nid)
{
    int error = 0;
    const ASN1_OBJECT *obj = OBJ_nid2obj(nid);
    size_t len = obj != NULL ? OBJ_length(obj) : 0;

    NT_ENSURE(len > 0 && len < 0x7f - 2, NT_ECRYPTO, "no OID for NID %d", nid);
    nt_buf_clear(out);
    NT_TRY(nt_buf_putc(out, 0x30));
    NT_TRY(nt_buf_putc(out, (uint8_t)(len + 2)));
    NT_TRY(nt_buf_putc(out, 0x06));
    NT_TRY(nt_buf_putc(out, (uint8_t)len));
    NT_TRY(nt_buf_put(out, OBJ_get0_data(obj), len));
done:
    return error;
}

int tsa__sm2_algs(nt_buf *dig_alg, nt_buf *sig_alg)
{
    int error = 0;
    NT_TRY(alg_id(dig_alg, NID_sm3));
    NT_TRY(alg_id(sig_alg, NID_SM2_with_SM3));
done:
    return error;
}

int tsa__sm2_sign(uint8_t *sig, size_t *sig_len, const tsa *t, const uint8_t *tbs, size_t len)
{
    int error = 0;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD_CTX *mctx = NULL;
    EVP_PKEY *key = t->signer->key;

    /* fresh contexts per token: SM2 signing is not on the hot path of any profile we bench */
    NT_OSSL_PTR(mctx = EVP_MD_CTX_new(), "EVP_MD_CTX_new");
    NT_OSSL_PTR(pctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL), "EVP_PKEY_CTX_new");
    NT_OSSL(EVP_PKEY_CTX_set1_id(pctx, t->sm2_id.ptr, (int)t->sm2_id.len), "SM2 signer identifier");
    EVP_MD_CTX_set_pkey_ctx(mctx, pctx);
    NT_OSSL(EVP_DigestSignInit_ex(mctx, NULL, "SM3", NULL, NULL, key, NULL), "SM2 sign init");
    NT_OSSL(EVP_DigestSign(mctx, sig, sig_len, tbs, len), "token signing failed (SM2)");
done:
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_CTX_free(pctx);
    return error;
}
