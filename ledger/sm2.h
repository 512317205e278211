/*
 * sm2.h - SM2 signatures (GB/T 32918, with SM3) in the two places where
 * OpenSSL 3.0 cannot handle them on its own: CMS/PKCS#7 SignerInfos (its
 * PKCS7_signatureVerify and CMS_verify hash the signed attributes without the
 * SM2 "Z" value, so a correct SM2 signature never verifies) and certificate
 * signatures (X509_verify_cert needs the signer's distinguishing identifier
 * set on every SM2-signed certificate).  Part of the pure `nt_merkle` library,
 * shared by the verifier, the auditor and the certificate checks; the TSA's
 * token writer (tsa/token_sm2.c) signs with the same identifier.
 * docs/TOKEN-PROFILE.md describes the SM2 token profile.
 */
#ifndef LEDGER_SM2_H
#define LEDGER_SM2_H

#include "util/util.h"

#include <openssl/pkcs7.h>
#include <openssl/x509.h>

/* The default signer identifier of GB/T 35276 / GM/T 0009 (and RFC 8998, BouncyCastle). */
#define SM2_DEFAULT_ID     "1234567812345678"
#define SM2_DEFAULT_ID_LEN 16u
#define SM2_MAX_ID         64u /* our bound on a configured identifier */

/* 1 if the key is an SM2 key (OpenSSL 3 type "SM2"), else 0. */
int sm2_key_is(const EVP_PKEY *key);

/* 1 if the SignerInfo's signatureAlgorithm is SM2 (SM2-with-SM3 or sm2sign), else 0. */
int sm2_signer_info_is(const PKCS7_SIGNER_INFO *si);

/*
 * Give an SM2-signed certificate (signatureAlgorithm SM2-with-SM3) the default
 * identifier, so that X509_verify / X509_verify_cert can check its signature;
 * other certificates and ones that already carry an identifier are left alone.
 * Call it before the certificate is shared between threads.  NT_ENOMEM.
 */
int sm2_cert_default_id(X509 *x);
/* sm2_cert_default_id on every certificate of the stack (NULL: nothing). */
int sm2_certs_default_id(STACK_OF(X509) * certs);

/*
 * Verify one SM2 SignerInfo of a SignedData (p7) whose eContent is the DER
 * `content`: digestAlgorithm SM3, the messageDigest signed attribute equal
 * to SM3(content), and the signature over the DER SET OF the signed
 * attributes with the certificate's public key and identifier `id` (NULL:
 * the default).  0 when it verifies; NT_EVERIFY with a message saying which
 * part failed; NT_EINVAL for a SignerInfo that is not SM2 or has no signed
 * attributes; NT_ENOMEM.
 */
int sm2_signer_verify(PKCS7_SIGNER_INFO *si, X509 *cert, nt_bytes content, const char *id);

/* The eContent octets of a PKCS#7 SignedData (the TSTInfo DER of a token); NT_EINVAL. */
int sm2_econtent(nt_bytes *out, PKCS7 *p7);

#endif
