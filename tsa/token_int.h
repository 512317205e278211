/*
 * token_int.h - private to the token builders of the TSA core: token.c (the
 * OpenSSL CMS path, kept as the reference) and token_fast.c (the direct DER
 * writer used for every token when tsa_new could set it up).  Both build
 * the same token from the same inputs; tests/unit/tsa/token_fast_test.c
 * holds them to that.  Nothing outside tsa/ and its unit tests includes it.
 */
#ifndef TSA_TOKEN_INT_H
#define TSA_TOKEN_INT_H

#include "tsa/core_int.h"

/* Everything a token depends on, decided before signing. */
typedef struct tsa__token_in {
    const TS_MSG_IMPRINT *imprint; /* the request's, copied whole */
    const ASN1_OBJECT *policy;     /* NULL: the configured policy */
    const ASN1_INTEGER *nonce;     /* NULL: none */
    int cert_req;                  /* embed the TSA certificate and its chain */
    uint8_t serial[TSA_SERIAL_BYTES];
    struct timespec gen; /* genTime, already on the precision grid */
} tsa__token_in;

/*
 * The reference path (token.c): TSTInfo through TS_TST_INFO, SignedData
 * through CMS_sign/CMS_final, certificates put back signer first.  The DER
 * ContentInfo goes into `token` (replaced).  NT_ECRYPTO (or NT_ENOMEM) with a
 * message when OpenSSL fails.
 */
int tsa__token_reference(nt_buf *token, const tsa *t, const tsa__token_in *in);

/*
 * genTime as DER GeneralizedTime text, YYYYMMDDhhmmss[.f]Z with `digits`
 * fraction digits cut and trailing zeros removed (token.c).  NT_EINVAL when
 * the year is outside 1..9999, NT_ERANGE when `cap` is too small.
 */
int tsa__gen_time_string(char *out, size_t cap, const struct timespec *ts, int digits);

/*
 * The fast path's constant pieces and signing contexts (token_fast.c), built
 * once by tsa__fast_new from the tsa's parsed configuration and signer (all
 * of tsa_new's other set-up must be done).  NT_EUNSUPPORTED when this tsa
 * cannot use it (a TSTInfo that could outgrow the fixed scratch buffer); the
 * caller then keeps the reference path.  tsa__fast_free accepts NULL.
 */
typedef struct tsa__fast tsa__fast;
int tsa__fast_new(tsa__fast **out, const tsa *t);
void tsa__fast_free(tsa__fast *f);

/*
 * One token by the fast path: the granted TimeStampResp into `response` and
 * the TimeStampToken (the same bytes after the 9-byte PKIStatusInfo prefix)
 * into `token`, both replaced.  Thread-safe (t->fast's signing contexts are
 * taken one per call).  NT_ERANGE when the DER outgrows its buffer,
 * NT_ECRYPTO when digesting or signing fails, NT_ENOMEM; with a message.
 */
int tsa__token_fast(nt_buf *response, nt_buf *token, tsa *t, const tsa__token_in *in);

/*
 * SM2 (token_sm2.c): the digest (sm3) and signature (SM2-with-SM3)
 * AlgorithmIdentifiers, parameters absent, into the two buffers (replaced);
 * and one signature over `tbs` (the DER signed attributes) with t's SM2 key
 * and t->sm2_id, DER-encoded into sig (capacity *sig_len, at least
 * EVP_PKEY_get_size; *sig_len set).  NT_ECRYPTO with a message.
 */
int tsa__sm2_algs(nt_buf *dig_alg, nt_buf *sig_alg);
int tsa__sm2_sign(uint8_t *sig, size_t *sig_len, const tsa *t, const uint8_t *tbs, size_t len);

#endif
