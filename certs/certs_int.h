/*
 * certs_int.h - private to certs/: the loaders of load.c with the file-mode
 * check made optional, for source.c (whose lax_modes serves `notarium pki
 * check`, which reports a loose mode as a finding instead of stopping).
 */
#ifndef CERTS_CERTS_INT_H
#define CERTS_CERTS_INT_H

#include "certs/certs.h"

/* certs_signer_load_pem / _p12 / certs_log_key_load; lax = 1 skips the group/other check. */
int certs__signer_load_pem(certs_signer **out, const char *cert_path, const char *key_path,
                           const char *passphrase, const char *chain_path, int lax);
int certs__signer_load_p12(certs_signer **out, const char *p12_path, const char *passphrase,
                           int lax);
/* The certificates of cert_path + chain_path, ordered, with no key (for a PKCS#11 key). */
int certs__signer_load_certs(certs_signer **out, const char *cert_path, const char *chain_path);

#endif
