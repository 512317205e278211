/*
 * qc.c - reading the qualified-TSU statement of qc.h.  OpenSSL has no
 * QCStatements type, so the extension is decoded as what RFC 3739 3.2.6
 * says it is:
 *
 *   QCStatements ::= SEQUENCE OF QCStatement
 *   QCStatement  ::= SEQUENCE { statementId OBJECT IDENTIFIER,
 *                               statementInfo ANY DEFINED BY statementId OPTIONAL }
 *
 * with OpenSSL's generic SEQUENCE-of-ANY decoder, twice.
 */
#include "ledger/qc.h"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>

/* 1 if one QCStatement (the DER of its SEQUENCE) names the qualified-TSU statement. */
static int statement_is_tsu(int *is, const ASN1_STRING *seq, const ASN1_OBJECT *want)
{
    const unsigned char *p = ASN1_STRING_get0_data(seq);
    long len = ASN1_STRING_length(seq);
    ASN1_SEQUENCE_ANY *fields = d2i_ASN1_SEQUENCE_ANY(NULL, &p, len);
    const ASN1_TYPE *id;
    int error = 0;

    NT_ENSURE(fields != NULL && p == ASN1_STRING_get0_data(seq) + len &&
                  sk_ASN1_TYPE_num(fields) >= 1 && sk_ASN1_TYPE_num(fields) <= 2,
              NT_EINVAL, "qcStatements: a QCStatement is not SEQUENCE { OID, info }");
    id = sk_ASN1_TYPE_value(fields, 0);
    NT_ENSURE(id->type == V_ASN1_OBJECT, NT_EINVAL,
              "qcStatements: a QCStatement does not start with its OID");
    *is = OBJ_cmp(id->value.object, want) == 0;
done:
    sk_ASN1_TYPE_pop_free(fields, ASN1_TYPE_free);
    return error;
}

int qc_tsu_qualified(int *out, const X509 *cert)
{
    int error = 0, is = 0, pos;
    ASN1_OBJECT *want = NULL, *ext_oid = NULL;
    const X509_EXTENSION *ext;
    const ASN1_OCTET_STRING *val;
    ASN1_SEQUENCE_ANY *stmts = NULL;
    const unsigned char *p;

    *out = 0;
    NT_ENSURE(cert != NULL, NT_EINVAL, "no certificate");
    NT_ENSURE((ext_oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.3", 1)) != NULL &&
                  (want = OBJ_txt2obj(QC_TSU_STATEMENT_OID, 1)) != NULL,
              NT_ENOMEM, "out of memory");
    pos = X509_get_ext_by_OBJ(cert, ext_oid, -1);
    if (pos < 0) {
        goto done; /* no qcStatements: not qualified */
    }
    NT_ENSURE(X509_get_ext_by_OBJ(cert, ext_oid, pos) < 0, NT_EINVAL,
              "qcStatements: the extension appears twice");
    ext = X509_get_ext(cert, pos);
    val = X509_EXTENSION_get_data((X509_EXTENSION *)ext);
    p = ASN1_STRING_get0_data(val);
    stmts = d2i_ASN1_SEQUENCE_ANY(NULL, &p, ASN1_STRING_length(val));
    NT_ENSURE(stmts != NULL && p == ASN1_STRING_get0_data(val) + ASN1_STRING_length(val), NT_EINVAL,
              "qcStatements: the extension is not a DER SEQUENCE OF QCStatement");
    for (int i = 0; i < sk_ASN1_TYPE_num(stmts) && !is; i++) {
        const ASN1_TYPE *st = sk_ASN1_TYPE_value(stmts, i);
        NT_ENSURE(st->type == V_ASN1_SEQUENCE, NT_EINVAL,
                  "qcStatements: a QCStatement is not a SEQUENCE");
        NT_TRY(statement_is_tsu(&is, st->value.sequence, want));
    }
    *out = is;
done:
    ERR_clear_error();
    sk_ASN1_TYPE_pop_free(stmts, ASN1_TYPE_free);
    ASN1_OBJECT_free(want);
    ASN1_OBJECT_free(ext_oid);
    return error;
}
