/*
 * qualified.c - the qualified-TSU check of certs.h (certs_cert_qualified):
 * what `tsa.qualified: true` (the server's start-up) and `notarium pki check
 * --qualified` ask of the TSA certificate.  The statement itself is read by
 * nt_merkle's ledger/qc.h, which the verifier shares.
 */
#include "certs/certs.h"
#include "ledger/qc.h"

int certs_cert_qualified(X509 *cert)
{
    int error = 0, qualified = 0;

    NT_TRY(qc_tsu_qualified(&qualified, cert));
    NT_ENSURE(qualified, NT_EINVAL,
              "certificate has no ETSI EN 319 422 qualified-TSU statement "
              "(esi4-qtstStatement-1, " QC_TSU_STATEMENT_OID ", in qcStatements)");
done:
    return error;
}
