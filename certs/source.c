/*
 * source.c - the TSA signer and the log key as the configuration names them
 * (certs.h, "PKCS#11, key sources"): a PKCS#12 bundle, PEM files, or a key
 * that stays in a PKCS#11 token (pkcs11.c).  Secrets read here (passphrases,
 * PINs) are refused when group or others may read their file, and wiped as
 * soon as the key is loaded.
 */
#include "certs/certs_int.h"

#include <string.h>

#define CERTS_SECRET_MAX 4096

int certs_secret_file_read(nt_buf *out, const char *path, int lax)
{
    int error = lax ? nt_file_read(out, path, CERTS_SECRET_MAX)
                    : nt_file_read_private(out, path, CERTS_SECRET_MAX);
    const uint8_t *nl;
    if (error < 0) {
        return error;
    }
    if ((nl = memchr(out->ptr, '\n', out->len)) != NULL) {
        nt_wipe(out->ptr + (nl - out->ptr), out->len - (size_t)(nl - out->ptr));
        out->len = (size_t)(nl - out->ptr);
    }
    while (out->len > 0 && out->ptr[out->len - 1] == '\r') {
        out->len--;
    }
    out->ptr[out->len] = '\0';
    return 0;
}

int certs_signer_load(certs_signer **out, const certs_signer_source *src)
{
    nt_buf pass = NT_BUF_INIT;
    certs_signer *s = NULL;
    int error = 0;

    *out = NULL;
    NT_ENSURE(src != NULL, NT_EINVAL, "no key source");
    if (src->pkcs12 != NULL) {
        if (src->pkcs12_passphrase_file != NULL) {
            NT_TRY(certs_secret_file_read(&pass, src->pkcs12_passphrase_file, src->lax_modes));
        }
        NT_TRY(certs__signer_load_p12(
            out, src->pkcs12, src->pkcs12_passphrase_file != NULL ? nt_buf_cstr(&pass) : NULL,
            src->lax_modes));
    } else if (certs_uri_is_pkcs11(src->key)) {
        NT_TRY(certs__signer_load_certs(&s, src->cert, src->chain));
        NT_TRY(certs_pkcs11_key_load(&s->key, src->key, &src->pkcs11));
        *out = s;
        s = NULL;
    } else {
        if (src->key_passphrase_file != NULL) {
            NT_TRY(certs_secret_file_read(&pass, src->key_passphrase_file, src->lax_modes));
        }
        NT_TRY(certs__signer_load_pem(out, src->cert, src->key,
                                      src->key_passphrase_file != NULL ? nt_buf_cstr(&pass) : NULL,
                                      src->chain, src->lax_modes));
    }
done:
    certs_signer_free(s);
    nt_buf_dispose_secret(&pass);
    return error;
}

int certs_log_key_open(EVP_PKEY **out, const char *path_or_uri, const certs_pkcs11_config *p11)
{
    EVP_PKEY *key = NULL;
    char reason[512];
    int error = 0;

    *out = NULL;
    if (!certs_uri_is_pkcs11(path_or_uri)) {
        return certs_log_key_load(out, path_or_uri);
    }
    error = certs_pkcs11_key_load(&key, path_or_uri, p11);
    if (error < 0) {
        snprintf(reason, sizeof(reason), "%s", nt_error_last());
        error = nt_error_set(error,
                             "log key: %s. The PKCS#11 engine of Debian 12 (libp11 0.4.12) "
                             "cannot use Ed25519 token keys: keep the log key in a PEM file, "
                             "mode 0600 (docs/KEYS.md, supported combinations)",
                             reason);
        goto done;
    }
    NT_ENSURE(EVP_PKEY_is_a(key, "ED25519"), NT_EINVAL,
              "%s: the log key must be Ed25519, this is %s", path_or_uri,
              EVP_PKEY_get0_type_name(key));
    *out = key;
    key = NULL;
done:
    EVP_PKEY_free(key);
    return error;
}
