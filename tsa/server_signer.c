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
    /* the default identity: tsa.cert/key/... when the configuration has no tsa.identities */
    for (size_t i = 0; i < c->identity_count; i++) {
        if (c->identities[i].is_default) {
            return server_identity_signer_load(out, c, &c->identities[i]);
        }
    }
    *out = NULL;
    return nt_error_set(NT_EINVAL, "the configuration has no signing identity");
}

int server_identity_signer_load(certs_signer **out, const server_config *c,
                                const server_identity_config *id)
{
    certs_signer_source src;

    memset(&src, 0, sizeof(src));
    src.cert = id->cert;
    src.key = id->key;
    src.key_passphrase_file = id->key_passphrase_file;
    src.chain = id->chain;
    src.pkcs12 = id->pkcs12;
    src.pkcs12_passphrase_file = id->pkcs12_passphrase_file;
    src.pkcs11.module = c->pkcs11_module;
    src.pkcs11.pin_file = c->pkcs11_pin_file;
    src.pkcs11.pin_env = c->pkcs11_pin_env;
    return certs_signer_load(out, &src);
}
