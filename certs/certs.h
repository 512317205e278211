/*
 * certs.h - keys and certificates: the development PKI, loading the TSA's
 * signing key and certificate chain (PEM, optionally passphrase-protected, or
 * PKCS#12, or a PKCS#11 token through OpenSSL's pkcs11 engine), loading the
 * log's Ed25519 key, and the start-up checks that refuse a certificate unfit
 * for time-stamping.  Links util and OpenSSL only (the pkcs11 engine is
 * loaded at run time, only when a pkcs11: URI is configured).
 *
 * Thread safety: a loaded certs_signer is immutable and may be shared by any
 * number of signing threads (OpenSSL 3 EVP_PKEY and X509 are safe for
 * concurrent read use).
 */
#ifndef CERTS_CERTS_H
#define CERTS_CERTS_H

#include "util/util.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

typedef enum certs_key_type {
    CERTS_KEY_EC_P256 = 0, /* default */
    CERTS_KEY_EC_P384,
    CERTS_KEY_RSA2048,
    CERTS_KEY_RSA3072,
    CERTS_KEY_RSA4096,
    CERTS_KEY_ED25519, /* log keys only */
    CERTS_KEY_SM2,     /* GB/T 32918 SM2 (signs with SM3); its root is SM2 too */
} certs_key_type;

/*
 * "ec-p256" | "ec-p384" | "rsa-2048" | "rsa-3072" | "rsa-4096" | "sm2" | "ed25519",
 * case-insensitive (also "p256", "p-256", "prime256v1", "secp384r1", "rsa2048"...).  NT_EINVAL
 * otherwise.
 */
int certs_key_type_parse(certs_key_type *out, const char *name);
/* The canonical name ("ec-p256"...), "unknown" for other values.  Static storage. */
const char *certs_key_type_name(certs_key_type type);

/*
 * Generate a fresh key (EVP_PKEY_Q_keygen).  *out belongs to the caller
 * (EVP_PKEY_free); NULL on error.  NT_EINVAL for an unknown type, NT_ECRYPTO if
 * OpenSSL fails.  RSA-4096 takes seconds.
 */
int certs_key_generate(EVP_PKEY **out, certs_key_type type);

typedef struct certs_pki_options {
    const char *dir;        /* created (0700) if missing */
    certs_key_type tsa_key; /* TSA signing key type */
    const char *org;        /* organisation name in subjects; NULL = "Notarium Demo" */
    const char *log_origin; /* log key name / checkpoint origin, required */
    int days;               /* TSA certificate validity; 0 = 825; the root gets 10 years */
    int force;              /* overwrite existing files */
    int rsa_pss;            /* sign both certificates with RSASSA-PSS when the root is RSA */
} certs_pki_options;

/*
 * Create a development PKI in opts->dir (files written atomically, keys 0600):
 *   ca.pem, ca.key        self-signed root CA (EC P-256, or P-384 for a P-384 TSA, or
 *                         RSA 3072 for RSA TSAs, or SM2 for an SM2 TSA), basicConstraints
 *                         CA:TRUE critical,
 *                         keyUsage keyCertSign+cRLSign critical
 *   tsa.pem, tsa.key      TSA end-entity certificate issued by the root:
 *                         basicConstraints CA:FALSE, keyUsage digitalSignature+nonRepudiation
 *                         (critical), extendedKeyUsage timeStamping only (critical), SKI/AKI
 *   chain.pem             tsa.pem followed by ca.pem
 *   log.key               Ed25519 log key (PKCS#8 PEM)
 *   log.vkey              its C2SP vkey line under opts->log_origin (note_vkey_format:
 *                         the signed-note key-name rule, UTF-8 without space or '+')
 * Serial numbers are random (127 bits, positive); signatures use SHA-256 (SHA-384
 * with a P-384 root; SM2-with-SM3 and the GB/T default signer identifier with an SM2
 * root); both certificates start 5 minutes in the past.  Keys are
 * written before certificates.  See docs/KEYS.md.
 * Returns 0; NT_EEXISTS if ca.pem or tsa.key already exists and !force;
 * NT_EINVAL for missing dir/log_origin, an Ed25519 TSA key or a bad origin;
 * NT_EIO for file-system errors; NT_ECRYPTO if OpenSSL fails.
 */
int certs_pki_init(const certs_pki_options *opts);

/*
 * Issue a TSA certificate for `key` (only its public half is used) from a CA
 * (key + cert, which must match) with the profile above; `days` (1..36500) of
 * validity starting `not_before` (0 = now).  The subject is O=<the CA's O>,
 * CN=common_name.  For tests that need expired, not-yet-valid or odd
 * certificates, `profile_flags` bends the profile.  *out belongs to the caller
 * (X509_free).  NT_EINVAL for bad arguments, NT_ECRYPTO if OpenSSL fails.
 */
enum {
    CERTS_PROFILE_NO_EKU = 1,                  /* omit extendedKeyUsage */
    CERTS_PROFILE_EKU_NOT_CRITICAL = 2,        /* timeStamping EKU, not critical */
    CERTS_PROFILE_EKU_EXTRA = 4,               /* serverAuth next to timeStamping */
    CERTS_PROFILE_KU_KEYCERTSIGN = 8,          /* keyUsage keyCertSign only (wrong) */
    CERTS_PROFILE_KU_NO_DIGITALSIGNATURE = 16, /* keyUsage nonRepudiation only (wrong) */
    CERTS_PROFILE_CA = 32,                     /* basicConstraints CA:TRUE (wrong) */
    CERTS_PROFILE_RSA_PSS = 64,                /* sign with RSASSA-PSS (RSA CA keys only; valid) */
};
int certs_tsa_cert_issue(X509 **out, EVP_PKEY *key, EVP_PKEY *ca_key, X509 *ca_cert,
                         const char *common_name, time_t not_before, int days, int profile_flags);

/* The TSA's signing material. */
typedef struct certs_signer {
    EVP_PKEY *key;          /* private key */
    X509 *cert;             /* the TSA certificate */
    STACK_OF(X509) * chain; /* issuers, nearest first, root last if known (may be empty) */
} certs_signer;

/*
 * Load a PEM certificate (file may also hold the chain after it), a PEM
 * private key (PKCS#8 or traditional, encrypted when passphrase != NULL) and
 * an optional chain file (NULL or "" = none).  The chain is de-duplicated and
 * ordered issuer-first by following issuer links; SM2-signed certificates get the
 * GB/T default signer identifier (ledger/sm2.h) so their signatures verify.  Never
 * prompts.  *out
 * belongs to the caller (certs_signer_free); NULL on error.  Returns
 * NT_ENOTFOUND for a missing file, NT_EINVAL for a file that does not parse,
 * a wrong or missing passphrase (the message names the file and the
 * problem) or a key file group or others may access (chmod 600), NT_ERANGE
 * for a file over 1 MiB.  Does not run certs_signer_check.
 */
int certs_signer_load_pem(certs_signer **out, const char *cert_path, const char *key_path,
                          const char *passphrase, const char *chain_path);
/*
 * Load key, certificate and chain (the CA certificates, ordered as above) from
 * a DER PKCS#12 file; passphrase NULL tries the empty and the absent password.
 * Same ownership and codes as certs_signer_load_pem; a wrong passphrase (MAC
 * mismatch) and legacy RC2/3DES encryption are named as such.
 */
int certs_signer_load_p12(certs_signer **out, const char *p12_path, const char *passphrase);
void certs_signer_free(certs_signer *s);

/*
 * The certificates a receipt carries for tokens of this signer, DER-encoded: the TSA
 * certificate, then its chain in order, each certificate once.  The one builder of that
 * list (the server's receipts and `notarium ledger get` both use it).  Sets out[0..*count)
 * (nt_buf_set; the caller disposes every out[i] it passed, also on error).  NT_ERANGE if
 * the list holds more than `max` certificates (none is dropped silently), NT_ECRYPTO if
 * one cannot be encoded, NT_ENOMEM.
 */
int certs_signer_receipt_ders(nt_buf *out, size_t *count, size_t max, const certs_signer *s);

/*
 * Start-up checks.  0, or NT_EINVAL with a one-line reason in nt_error_last():
 * "certificate expired on 2026-01-01T00:00:00Z", "certificate not yet valid
 * until ...", "extendedKeyUsage is missing", "extendedKeyUsage is not
 * critical", "extendedKeyUsage must be timeStamping only", "keyUsage lacks
 * digitalSignature", "keyUsage allows keyCertSign/cRLSign", "certificate is a
 * CA", "private key does not match the certificate", "unsupported key type".
 * Also (additions): "keyUsage must be digitalSignature/nonRepudiation only"
 * (e.g. keyEncipherment, which `openssl ts -verify` rejects), "certificate
 * validity dates are malformed", "certificate extensions are malformed".
 * Checked in that order, keyCertSign/cRLSign before digitalSignature.  Then
 * "chain does not verify: <OpenSSL's reason> (at <subject>)" when the chain
 * holds a self-signed root.  The first defect of certs_signer_inspect.
 * Thread-safe; reads the certificate only.
 */
int certs_signer_check(const certs_signer *s, time_t now);

/*
 * For a TSA declared qualified (tsa.qualified, pki check --qualified): 0 when
 * the certificate carries the ETSI EN 319 422 qualified-TSU statement
 * (esi4-qtstStatement-1 in qcStatements, ledger/qc.h); NT_EINVAL with a
 * one-line message when it does not or the extension is malformed.
 */
int certs_cert_qualified(X509 *cert);

/* Findings of certs_signer_inspect, in the order above. */
typedef enum certs_severity {
    CERTS_DEFECT = 0,  /* the server refuses to start */
    CERTS_WARNING = 1, /* logged: e.g. fewer than CERTS_EXPIRY_WARN_DAYS left */
    CERTS_NOTE = 2,    /* information: days left, chain not verifiable without a root */
} certs_severity;
#define CERTS_EXPIRY_WARN_DAYS 30
#define CERTS_FINDINGS_MAX     24
typedef struct certs_finding {
    certs_severity severity;
    char text[320]; /* one line, no newline */
} certs_finding;
typedef struct certs_findings {
    size_t count;   /* items used (at most CERTS_FINDINGS_MAX; later ones dropped) */
    size_t defects; /* how many of them are CERTS_DEFECT */
    certs_finding item[CERTS_FINDINGS_MAX];
} certs_findings;

/*
 * Every finding at `now`, not just the first: the defects of certs_signer_check
 * (each check runs), the chain, and per certificate (TSA and chain) a warning
 * "<role> certificate <subject> expires in N days, on <date>" under 30 days,
 * plus a note with the TSA certificate's days left.  0, or NT_EINVAL when
 * nothing is loaded.  Thread-safe.
 */
int certs_signer_inspect(certs_findings *out, const certs_signer *s, time_t now);

/* ------------------------------------------------------------------ PKCS#11, key sources */

/* How to reach a PKCS#11 token (config.json's "pkcs11" section).  The PIN is never in the
 * configuration itself: it comes from a file (0600/0400) or an environment variable. */
typedef struct certs_pkcs11_config {
    const char *module;   /* the token's PKCS#11 library (.so); required for a pkcs11: URI */
    const char *pin_file; /* a file holding the PIN (first line), or */
    const char *pin_env;  /* an environment variable holding it; neither: no login */
} certs_pkcs11_config;

/* 1 if s is a "pkcs11:" URI (RFC 7512), 0 otherwise (a file path). */
int certs_uri_is_pkcs11(const char *s);
/*
 * 0 if uri is a pkcs11: URI we accept; NT_EINVAL if it is not one or carries
 * the PIN (pin-value / pin-source: the PIN comes from pin_file or pin_env).
 */
int certs_pkcs11_uri_check(const char *uri);
/*
 * Load a private key that stays in the token, through OpenSSL's pkcs11 engine
 * (libp11, Debian libengine-pkcs11-openssl), logging in with the configured
 * PIN (never prompting), then sign and verify a test message with it.  *out
 * belongs to the caller (EVP_PKEY_free); the engine and module stay loaded
 * until the process ends (the token stays logged in).  One module per process.  Codes:
 * NT_EINVAL (bad URI, PIN missing/refused, PIN file readable by others),
 * NT_ENOTFOUND (no module file, no such key), NT_EUNSUPPORTED (engine not
 * installed, a second module), NT_ECRYPTO / NT_EVERIFY (the token failed).
 * Thread-safe.  Known limit: libp11 0.4.12 (Debian 12) cannot use Ed25519
 * token keys (docs/KEYS.md).
 */
int certs_pkcs11_key_load(EVP_PKEY **out, const char *uri, const certs_pkcs11_config *p11);

/*
 * Read a secret file (passphrase, PIN): its first line, trailing CR/LF
 * dropped, into out (replaced).  NT_EINVAL naming the file and its mode when
 * group or others may access it (unless lax), NT_ENOTFOUND, NT_ERANGE (over 4
 * KiB).  Wipe out with nt_buf_dispose_secret.
 */
int certs_secret_file_read(nt_buf *out, const char *path, int lax);

/* Where the TSA's key and certificates come from (config.json's tsa.* and pkcs11.*). */
typedef struct certs_signer_source {
    const char *cert;                /* PEM certificate (chain may follow) */
    const char *key;                 /* PEM private key file, or a pkcs11: URI */
    const char *key_passphrase_file; /* NULL: key not encrypted */
    const char *chain;               /* PEM issuers; NULL: none */
    const char *pkcs12;              /* when set, replaces cert/key/chain */
    const char *pkcs12_passphrase_file;
    certs_pkcs11_config pkcs11; /* for a pkcs11: key */
    int lax_modes; /* 1: accept key/passphrase/PIN files readable by others (pki check, which
                      reports them itself); 0 everywhere else */
} certs_signer_source;

/*
 * Load the signer from a source: PKCS#12, or cert + chain + (PEM key or
 * pkcs11: URI), passphrases and the PIN read from their files and wiped after
 * use.  Key, PKCS#12, passphrase and PIN files accessible by group or others
 * are refused (NT_EINVAL naming the file and its mode).  Codes as
 * certs_signer_load_pem / certs_pkcs11_key_load.  Does not run the checks.
 */
int certs_signer_load(certs_signer **out, const certs_signer_source *src);

/*
 * The log key from a PEM file (certs_log_key_load) or a pkcs11: URI (p11
 * required then).  A token key that cannot be loaded is refused with the
 * supported combinations named (libp11 0.4.12 has no Ed25519).
 */
int certs_log_key_open(EVP_PKEY **out, const char *path_or_uri, const certs_pkcs11_config *p11);

/*
 * Load an Ed25519 private key from a PEM file (log key).  NT_ENOTFOUND if the
 * file is missing, NT_EINVAL if it holds no key or a key of another type.
 */
int certs_log_key_load(EVP_PKEY **out, const char *path);

/*
 * PEM-load every certificate in a file (trust anchors, chains), in file
 * order.  *out belongs to the caller (sk_X509_pop_free(.., X509_free)).
 * NT_ENOTFOUND, or NT_EINVAL if the file holds no or a malformed certificate.
 */
int certs_load_pem_certs(STACK_OF(X509) * *out, const char *path);

/*
 * Write a key (PKCS#8 PEM, 0600; with a passphrase an EncryptedPrivateKeyInfo,
 * PBES2 + AES-256-CBC) / a certificate (PEM, 0644), atomically.  NT_EIO,
 * NT_ECRYPTO, NT_EINVAL for a passphrase over 1023 bytes.
 */
int certs_key_write_pem(const char *path, EVP_PKEY *key, const char *passphrase);
int certs_cert_write_pem(const char *path, X509 *cert);

/* SHA-256 fingerprint as lowercase hex (appended). */
int certs_cert_fingerprint(nt_buf *out, X509 *cert);
/* The subject as one RFC 2253 line ("CN=Example TSA,O=Example"), appended. */
int certs_cert_subject(nt_buf *out, X509 *cert);
/* notAfter as time_t. */
int certs_cert_not_after(time_t *out, const X509 *cert);

#endif
