/*
 * server_signer.c - the TSA signer a server configuration names (tsa.pkcs12, or
 * tsa.cert + tsa.key + tsa.chain, with passphrase files), loaded through certs/.
 * One loader for `notarium serve` (server.c) and the tools that need the same
 * certificates, e.g. `notarium ledger get` for a receipt's certificates.
 */
#include "tsa/server.h"

/* A passphrase file's first line (trailing newline dropped), for PEM / PKCS#12. */
static int read_passphrase(nt_buf *out, const char *path)
{
    int error = nt_file_read(out, path, 4096);
    if (error < 0) {
        return error;
    }
    while (out->len > 0 && (out->ptr[out->len - 1] == '\n' || out->ptr[out->len - 1] == '\r')) {
        out->ptr[--out->len] = '\0';
    }
    return 0;
}

int server_config_signer_load(certs_signer **out, const server_config *c)
{
    nt_buf pass = NT_BUF_INIT;
    int error = 0;

    *out = NULL;
    if (c->tsa_pkcs12 != NULL) {
        if (c->tsa_pkcs12_passphrase_file != NULL) {
            NT_TRY(read_passphrase(&pass, c->tsa_pkcs12_passphrase_file));
        }
        NT_TRY(certs_signer_load_p12(out, c->tsa_pkcs12,
                                     c->tsa_pkcs12_passphrase_file != NULL ? nt_buf_cstr(&pass)
                                                                           : NULL));
    } else {
        if (c->tsa_key_passphrase_file != NULL) {
            NT_TRY(read_passphrase(&pass, c->tsa_key_passphrase_file));
        }
        NT_TRY(certs_signer_load_pem(out, c->tsa_cert, c->tsa_key,
                                     c->tsa_key_passphrase_file != NULL ? nt_buf_cstr(&pass)
                                                                        : NULL,
                                     c->tsa_chain));
    }
done:
    nt_buf_dispose_secret(&pass);
    return error;
}
