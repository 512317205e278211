/*
 * server_signer.c - the TSA signer a server configuration names (tsa.pkcs12, or
 * tsa.cert + tsa.key|pkcs11: URI + tsa.chain, with passphrase and PIN files),
 * loaded through certs/ (certs_signer_load: secret files must be 0600/0400).
 * One loader for `notarium serve` (server.c) and the tools that need the same
 * certificates, e.g. `notarium ledger get` for a receipt's certificates.
 */
#include "tsa/server.h"

#include <string.h>

int server_config_signer_load(certs_signer **out, const server_config *c)
{
    certs_signer_source src;

    memset(&src, 0, sizeof(src));
    src.cert = c->tsa_cert;
    src.key = c->tsa_key;
    src.key_passphrase_file = c->tsa_key_passphrase_file;
    src.chain = c->tsa_chain;
    src.pkcs12 = c->tsa_pkcs12;
    src.pkcs12_passphrase_file = c->tsa_pkcs12_passphrase_file;
    src.pkcs11.module = c->pkcs11_module;
    src.pkcs11.pin_file = c->pkcs11_pin_file;
    src.pkcs11.pin_env = c->pkcs11_pin_env;
    return certs_signer_load(out, &src);
}
