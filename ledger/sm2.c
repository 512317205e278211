/*
 * sm2.c - SM2 signer infos and SM2-signed certificates (sm2.h).  Part of
 * the pure `nt_merkle` library.
 *
 * GB/T 32918.2 signs e = SM3(Z || M) where Z = SM3(ENTL || ID || a || b ||
 * xG || yG || xA || yA) binds the signer's identifier and public key; OpenSSL
 * computes Z only through EVP_DigestVerify with the identifier set on the
 * key context (EVP_PKEY_CTX_set1_id), which is what this file does.
 */
#include "ledger/sm2.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <string.h>

int sm2_key_is(const EVP_PKEY *key)
{
    return key != NULL && EVP_PKEY_is_a(key, "SM2");
}

int sm2_signer_info_is(const PKCS7_SIGNER_INFO *si)
{
    const ASN1_OBJECT *obj = NULL;
    int nid;

    if (si == NULL || si->digest_enc_alg == NULL) {
        return 0;
    }
    X509_ALGOR_get0(&obj, NULL, NULL, si->digest_enc_alg);
    nid = OBJ_obj2nid(obj);
    return nid == NID_SM2_with_SM3 || nid == NID_sm2;
}

int sm2_cert_default_id(X509 *x)
{
    ASN1_OCTET_STRING *id = NULL;

    if (x == NULL || X509_get_signature_nid(x) != NID_SM2_with_SM3 ||
        X509_get0_distinguishing_id(x) != NULL) {
        return 0;
    }
    if ((id = ASN1_OCTET_STRING_new()) == NULL ||
        !ASN1_OCTET_STRING_set(id, (const unsigned char *)SM2_DEFAULT_ID,
                               (int)SM2_DEFAULT_ID_LEN)) {
        ASN1_OCTET_STRING_free(id);
        return nt_error_set(NT_ENOMEM, "out of memory");
    }
    X509_set0_distinguishing_id(x, id); /* takes id */
    return 0;
}

int sm2_certs_default_id(STACK_OF(X509) * certs)
{
    int error = 0;
    for (int i = 0; i < sk_X509_num(certs); i++) {
        NT_TRY(sm2_cert_default_id(sk_X509_value(certs, i)));
    }
done:
    return error;
}

int sm2_econtent(nt_bytes *out, PKCS7 *p7)
{
    PKCS7 *inner;
    const ASN1_TYPE *t;

    if (p7 == NULL || !PKCS7_type_is_signed(p7) || p7->d.sign == NULL ||
        (inner = p7->d.sign->contents) == NULL || PKCS7_type_is_data(inner) ||
        (t = inner->d.other) == NULL || t->type != V_ASN1_OCTET_STRING) {
        return nt_error_set(NT_EINVAL, "SignedData without an encapsulated OCTET STRING");
    }
    *out = NT_BYTES(ASN1_STRING_get0_data(t->value.octet_string),
                    (size_t)ASN1_STRING_length(t->value.octet_string));
    return 0;
}

/* messageDigest == SM3(content) */
static int check_message_digest(PKCS7_SIGNER_INFO *si, nt_bytes content)
{
    ASN1_TYPE *attr = PKCS7_get_signed_attribute(si, NID_pkcs9_messageDigest);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_MD *sm3 = NULL;
    int error = 0;

    NT_ENSURE(attr != NULL && attr->type == V_ASN1_OCTET_STRING, NT_EVERIFY,
              "SM2 signer info: no messageDigest attribute");
    NT_OSSL_PTR(sm3 = EVP_MD_fetch(NULL, "SM3", NULL), "SM3 is not available");
    NT_OSSL(EVP_Digest(content.ptr, content.len, md, &md_len, sm3, NULL), "SM3");
    NT_ENSURE((unsigned)ASN1_STRING_length(attr->value.octet_string) == md_len &&
                  memcmp(ASN1_STRING_get0_data(attr->value.octet_string), md, md_len) == 0,
              NT_EVERIFY, "SM2 signer info: messageDigest is not the SM3 of the content");
done:
    EVP_MD_free(sm3);
    return error;
}

int sm2_signer_verify(PKCS7_SIGNER_INFO *si, X509 *cert, nt_bytes content, const char *id)
{
    int error = 0, rc;
    const ASN1_OBJECT *dig = NULL;
    unsigned char *attrs = NULL;
    int alen;
    EVP_PKEY *pub;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD_CTX *mctx = NULL;

    if (id == NULL) {
        id = SM2_DEFAULT_ID;
    }
    NT_ENSURE(sm2_signer_info_is(si) && si->auth_attr != NULL &&
                  sk_X509_ATTRIBUTE_num(si->auth_attr) > 0,
              NT_EINVAL, "not an SM2 signer info with signed attributes");
    X509_ALGOR_get0(&dig, NULL, NULL, si->digest_alg);
    NT_ENSURE(OBJ_obj2nid(dig) == NID_sm3, NT_EVERIFY,
              "SM2 signer info: the digest algorithm is not SM3");
    NT_TRY(check_message_digest(si, content));
    pub = X509_get0_pubkey(cert);
    NT_ENSURE(sm2_key_is(pub), NT_EVERIFY, "SM2 signer info: the certificate's key is not SM2");
    /* RFC 5652 5.4: the signature covers the DER of the SET OF attributes */
    alen = ASN1_item_i2d((ASN1_VALUE *)si->auth_attr, &attrs, ASN1_ITEM_rptr(PKCS7_ATTR_VERIFY));
    NT_OSSL(alen, "cannot encode the signed attributes");
    NT_OSSL_PTR(mctx = EVP_MD_CTX_new(), "EVP_MD_CTX_new");
    NT_OSSL_PTR(pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL), "EVP_PKEY_CTX_new");
    NT_OSSL(EVP_PKEY_CTX_set1_id(pctx, id, (int)strlen(id)), "SM2 identifier");
    EVP_MD_CTX_set_pkey_ctx(mctx, pctx);
    NT_OSSL(EVP_DigestVerifyInit_ex(mctx, NULL, "SM3", NULL, NULL, pub, NULL), "SM2 verify");
    rc = EVP_DigestVerify(mctx, ASN1_STRING_get0_data(si->enc_digest),
                          (size_t)ASN1_STRING_length(si->enc_digest), attrs, (size_t)alen);
    ERR_clear_error();
    NT_ENSURE(rc == 1, NT_EVERIFY,
              "SM2 signer info: the signature does not verify with the certificate's key");
done:
    EVP_MD_CTX_free(mctx); /* does not free pctx (set with EVP_MD_CTX_set_pkey_ctx) */
    EVP_PKEY_CTX_free(pctx);
    OPENSSL_free(attrs);
    return error;
}
