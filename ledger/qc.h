/*
 * qc.h - the ETSI EN 319 422 "qualified TSU" statement of a certificate:
 * esi4-qtstStatement-1 (id-etsi-tsts-EuQCompliance, OID 0.4.0.19422.1.1)
 * inside the qcStatements extension (RFC 3739, OID 1.3.6.1.5.5.7.1.3).
 * Part of the pure `nt_merkle` library: the server's start-up check
 * (tsa.qualified), `notarium pki check --qualified` and the verifier's report
 * read it the same way.  docs/KEYS.md describes the option.
 */
#ifndef LEDGER_QC_H
#define LEDGER_QC_H

#include "util/util.h"

#include <openssl/x509.h>

#define QC_TSU_STATEMENT_OID "0.4.0.19422.1.1"

/*
 * *out = 1 when the certificate's qcStatements extension holds a
 * QCStatement whose statementId is esi4-qtstStatement-1, else 0 (no
 * extension, or other statements only).  NT_EINVAL (message names it) when
 * the extension is there but is not a DER SEQUENCE OF QCStatement.
 */
int qc_tsu_qualified(int *out, const X509 *cert);

#endif
