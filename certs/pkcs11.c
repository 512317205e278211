/*
 * pkcs11.c - private keys that stay in a PKCS#11 token (an HSM, or SoftHSM in
 * tests), reached through OpenSSL's "pkcs11" engine from libp11 (Debian
 * package libengine-pkcs11-openssl).  Debian 12 packages no PKCS#11 provider
 * for OpenSSL 3, and OpenSSL 3 still loads engines, so the engine is the
 * maintained bridge; we write no PKCS#11 marshalling of our own.  This is the
 * only file that sees the (deprecated) ENGINE API: OPENSSL_SUPPRESS_DEPRECATED
 * is confined to it.  The EVP_PKEY it returns signs like any other (CMS in
 * tsa/token.c).  The engine, once initialised, stays loaded until the process
 * ends: libp11 caches each key's EVP_PKEY inside its slot objects, so a key's
 * last EVP_PKEY_free comes only when the engine itself is finished.
 *
 * Known limit (found by trying, documented in docs/KEYS.md): libp11 0.4.12,
 * Debian 12's version, cannot use Ed25519 (CKK_EC_EDWARDS) keys, and a token
 * holding one fails to enumerate its other private keys as well.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "certs/certs_int.h"

#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/ui.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define PKCS11_PIN_MAX 256

static pthread_mutex_t p11_lock = PTHREAD_MUTEX_INITIALIZER;
static ENGINE *p11_engine; /* structural + functional reference, for the process's life */
static char *p11_module;   /* the module MODULE_PATH was set to */
static UI_METHOD *p11_ui;  /* a UI that never prompts */

/* A daemon has no terminal: if the engine wants a PIN we did not give, it fails. */
static int p11_ui_read(UI *ui, UI_STRING *uis)
{
    (void)ui, (void)uis;
    return 0;
}

int certs_pkcs11_uri_check(const char *uri)
{
    static const char *const banned[] = {"pin-value=", "pin-source="};
    if (!certs_uri_is_pkcs11(uri)) {
        return nt_error_set(NT_EINVAL, "not a pkcs11: URI (RFC 7512)");
    }
    for (const char *p = uri; *p != '\0'; p++) {
        for (size_t i = 0; i < NT_ARRAY_LEN(banned); i++) {
            if (strncasecmp(p, banned[i], strlen(banned[i])) == 0 &&
                (p[-1] == ';' || p[-1] == '?' || p[-1] == '&' || p[-1] == ':')) {
                return nt_error_set(NT_EINVAL,
                                    "the pkcs11: URI must not carry the PIN (%.*s): give it in "
                                    "pkcs11.pin_file or pkcs11.pin_env",
                                    (int)strlen(banned[i]) - 1, banned[i]);
            }
        }
    }
    return 0;
}

int certs_uri_is_pkcs11(const char *s)
{
    return s != NULL && strncasecmp(s, "pkcs11:", 7) == 0;
}

static int engine_open(const char *module)
{
    ENGINE *e = NULL;
    int error = 0;

    if (p11_engine != NULL) {
        NT_ENSURE(strcmp(module, p11_module) == 0, NT_EUNSUPPORTED,
                  "one PKCS#11 module per process: %s is in use, %s was asked for", p11_module,
                  module);
        return 0;
    }
    if (p11_ui == NULL) {
        NT_OSSL_PTR(p11_ui = UI_create_method("notarium: no PIN prompt"), "UI_create_method");
        UI_method_set_reader(p11_ui, p11_ui_read);
    }
    NT_ENSURE(access(module, R_OK) == 0, NT_ENOTFOUND,
              "PKCS#11 module %s: not found or not readable", module);
    ENGINE_load_builtin_engines();
    e = ENGINE_by_id("pkcs11");
    if (e == NULL) {
        ERR_clear_error();
        NT_ENSURE(0, NT_EUNSUPPORTED,
                  "the OpenSSL pkcs11 engine is not installed (Debian: apt-get install "
                  "libengine-pkcs11-openssl)");
    }
    NT_OSSL(ENGINE_ctrl_cmd_string(e, "MODULE_PATH", module, 0), "pkcs11 engine: MODULE_PATH");
    /* Log in before looking for the key (private keys are visible only then) rather than
     * searching the token logged out first. */
    NT_OSSL(ENGINE_ctrl_cmd_string(e, "FORCE_LOGIN", NULL, 0), "pkcs11 engine: FORCE_LOGIN");
    NT_OSSL(ENGINE_init(e), "PKCS#11 module %s: cannot initialise it", module);
    NT_ENSURE((p11_module = nt_strdup(module)) != NULL, NT_ENOMEM, "out of memory");
    p11_engine = e;
    e = NULL;
done:
    ENGINE_free(e);
    return error;
}

/*
 * The reason libp11 put on the error queue, in the operator's words where we
 * know it; the queue is drained.
 */
static int load_failed(const char *uri, const char *module)
{
    char reason[256] = "";
    unsigned long e;
    int not_found = 0, bad_pin = 0;

    while ((e = ERR_get_error()) != 0) {
        const char *r = ERR_reason_error_string(e);
        if (r == NULL) {
            continue;
        }
        if (strstr(r, "PIN") != NULL) {
            bad_pin = 1;
        } else if (strstr(r, "not found") != NULL) {
            not_found = 1;
        }
        if (reason[0] == '\0') {
            snprintf(reason, sizeof(reason), "%s", r);
        }
    }
    if (bad_pin) {
        return nt_error_set(NT_EINVAL, "%s: the token refused the PIN (%s)", uri, reason);
    }
    if (not_found) {
        return nt_error_set(NT_ENOTFOUND,
                            "%s: no such private key in the tokens of %s (or the PIN is missing; "
                            "a token holding an Ed25519 key hides its other keys from libp11 "
                            "0.4.12)",
                            uri, module);
    }
    return nt_error_set(NT_ECRYPTO, "%s: cannot load the private key through %s (%s)", uri, module,
                        reason[0] != '\0' ? reason : "no reason given");
}

/* Sign and verify a fixed message: a key the token will not sign with fails now, not at the
 * first request. */
static int selftest(EVP_PKEY *key, const char *uri)
{
    static const unsigned char msg[] = "notarium PKCS#11 start-up self-test";
    unsigned char sig[1024];
    size_t siglen = sizeof(sig);
    const EVP_MD *md = EVP_PKEY_is_a(key, "ED25519") ? NULL : EVP_sha256();
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int error = 0;

    NT_ENSURE(ctx != NULL, NT_ENOMEM, "out of memory");
    NT_OSSL(EVP_DigestSignInit(ctx, NULL, md, NULL, key), "%s: cannot sign with the key", uri);
    NT_OSSL(EVP_DigestSign(ctx, sig, &siglen, msg, sizeof(msg) - 1),
            "%s: the token did not sign the self-test message", uri);
    EVP_MD_CTX_reset(ctx);
    NT_OSSL(EVP_DigestVerifyInit(ctx, NULL, md, NULL, key), "%s: cannot verify", uri);
    if (EVP_DigestVerify(ctx, sig, siglen, msg, sizeof(msg) - 1) != 1) {
        ERR_clear_error();
        NT_ENSURE(0, NT_EVERIFY, "%s: the token's self-test signature does not verify", uri);
    }
done:
    EVP_MD_CTX_free(ctx);
    return error;
}

static int read_pin(nt_buf *pin, const certs_pkcs11_config *p11)
{
    int error = 0;
    if (p11->pin_file != NULL) {
        NT_ENSURE(p11->pin_env == NULL, NT_EINVAL,
                  "pkcs11: pin_file and pin_env exclude each other");
        NT_TRY(certs_secret_file_read(pin, p11->pin_file, 0));
    } else if (p11->pin_env != NULL) {
        const char *v = getenv(p11->pin_env);
        NT_ENSURE(v != NULL && v[0] != '\0', NT_EINVAL,
                  "pkcs11.pin_env: the environment variable %s is not set", p11->pin_env);
        NT_TRY(nt_buf_puts(pin, v));
    }
    NT_ENSURE(pin->len < PKCS11_PIN_MAX, NT_EINVAL, "pkcs11: the PIN is longer than %d bytes",
              PKCS11_PIN_MAX - 1);
done:
    return error;
}

int certs_pkcs11_key_load(EVP_PKEY **out, const char *uri, const certs_pkcs11_config *p11)
{
    EVP_PKEY *key = NULL;
    nt_buf pin = NT_BUF_INIT;
    int locked = 0, error = 0;

    *out = NULL;
    NT_TRY(certs_pkcs11_uri_check(uri));
    NT_ENSURE(p11 != NULL && p11->module != NULL, NT_EINVAL,
              "%s: a pkcs11: key needs pkcs11.module (the PKCS#11 library of the HSM)", uri);
    NT_TRY(read_pin(&pin, p11));
    pthread_mutex_lock(&p11_lock);
    locked = 1;
    NT_TRY(engine_open(p11->module));
    ERR_clear_error();
    if (p11->pin_file != NULL || p11->pin_env != NULL) {
        NT_OSSL(ENGINE_ctrl_cmd_string(p11_engine, "PIN", nt_buf_cstr(&pin), 0),
                "pkcs11 engine: cannot set the PIN");
    }
    key = ENGINE_load_private_key(p11_engine, uri, p11_ui, NULL);
    /* The engine's copy of the PIN is replaced (libp11 cleanses the old one): the token stays
     * logged in for the process, and the next load sets the PIN again. */
    if (p11->pin_file != NULL || p11->pin_env != NULL) {
        ENGINE_ctrl_cmd_string(p11_engine, "PIN", "", 0);
    }
    if (key == NULL) {
        error = load_failed(uri, p11->module);
        goto done;
    }
    locked = 0;
    pthread_mutex_unlock(&p11_lock);
    NT_TRY(selftest(key, uri));
    *out = key;
    key = NULL;
done:
    if (locked) {
        pthread_mutex_unlock(&p11_lock);
    }
    EVP_PKEY_free(key);
    nt_buf_dispose_secret(&pin);
    return error;
}
