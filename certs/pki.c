/*
 * pki.c - key generation, certificate issuing and the development PKI of the
 * certs component (certs.h): a self-signed root, a TSA end-entity certificate
 * with the RFC 3161 profile, and the log's Ed25519 key with its C2SP vkey
 * (formatted by ledger/note.c, the one owner of the signed-note key-name rule).
 * Everything here is built with OpenSSL 3.0 EVP / X509 builders only, and every
 * file is written through nt_file_write_atomic so a crash never leaves half a key.
 */
#include "certs/certs.h"
#include "ledger/note.h"
#include "ledger/sm2.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* ------------------------------------------------------------ key types */

static const struct {
    const char *name;
    certs_key_type type;
} key_type_names[] = {
    {"ec-p256", CERTS_KEY_EC_P256},  {"p256", CERTS_KEY_EC_P256},
    {"p-256", CERTS_KEY_EC_P256},    {"prime256v1", CERTS_KEY_EC_P256},
    {"ec-p384", CERTS_KEY_EC_P384},  {"p384", CERTS_KEY_EC_P384},
    {"p-384", CERTS_KEY_EC_P384},    {"secp384r1", CERTS_KEY_EC_P384},
    {"rsa-2048", CERTS_KEY_RSA2048}, {"rsa2048", CERTS_KEY_RSA2048},
    {"rsa-3072", CERTS_KEY_RSA3072}, {"rsa3072", CERTS_KEY_RSA3072},
    {"rsa-4096", CERTS_KEY_RSA4096}, {"rsa4096", CERTS_KEY_RSA4096},
    {"ed25519", CERTS_KEY_ED25519},  {"sm2", CERTS_KEY_SM2},
};

int certs_key_type_parse(certs_key_type *out, const char *name)
{
    if (name != NULL) {
        for (size_t i = 0; i < NT_ARRAY_LEN(key_type_names); i++) {
            if (strcasecmp(name, key_type_names[i].name) == 0) {
                *out = key_type_names[i].type;
                return 0;
            }
        }
    }
    return nt_error_set(NT_EINVAL,
                        "unknown key type '%s' (expected ec-p256, ec-p384, rsa-2048, rsa-3072, "
                        "rsa-4096, sm2 or ed25519)",
                        name != NULL ? name : "(null)");
}

const char *certs_key_type_name(certs_key_type type)
{
    switch (type) {
    case CERTS_KEY_EC_P256:
        return "ec-p256";
    case CERTS_KEY_EC_P384:
        return "ec-p384";
    case CERTS_KEY_RSA2048:
        return "rsa-2048";
    case CERTS_KEY_RSA3072:
        return "rsa-3072";
    case CERTS_KEY_RSA4096:
        return "rsa-4096";
    case CERTS_KEY_ED25519:
        return "ed25519";
    case CERTS_KEY_SM2:
        return "sm2";
    }
    return "unknown";
}

int certs_key_generate(EVP_PKEY **out, certs_key_type type)
{
    EVP_PKEY *key = NULL;

    *out = NULL;
    switch (type) {
    case CERTS_KEY_EC_P256:
        key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        break;
    case CERTS_KEY_EC_P384:
        key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        break;
    case CERTS_KEY_RSA2048:
        key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
        break;
    case CERTS_KEY_RSA3072:
        key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
        break;
    case CERTS_KEY_RSA4096:
        key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
        break;
    case CERTS_KEY_ED25519:
        key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        break;
    case CERTS_KEY_SM2:
        key = EVP_PKEY_Q_keygen(NULL, NULL, "SM2");
        break;
    default:
        return nt_error_set(NT_EINVAL, "unknown key type %d", (int)type);
    }
    if (key == NULL) {
        return nt_error_ossl("cannot generate a %s key", certs_key_type_name(type));
    }
    *out = key;
    return 0;
}

/* ------------------------------------------------------------ writing PEM */

/* Render through a memory BIO, then write atomically; the BIO's bytes are wiped. */
static int write_bio_atomic(const char *path, BIO *bio, unsigned mode)
{
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    if (len <= 0 || data == NULL) {
        return nt_error_set(NT_ECRYPTO, "nothing rendered for %s", path);
    }
    return nt_file_write_atomic(path, data, (size_t)len, mode);
}

int certs_key_write_pem(const char *path, EVP_PKEY *key, const char *passphrase)
{
    BIO *bio = NULL;
    int error = 0;

    NT_ENSURE(passphrase == NULL || strlen(passphrase) <= 1023, NT_EINVAL,
              "passphrase for %s is too long", path);
    NT_OSSL_PTR(bio = BIO_new(BIO_s_mem()), "cannot allocate a BIO");
    /* PKCS#8, and with a passphrase PBES2 + AES-256-CBC (an EncryptedPrivateKeyInfo). */
    NT_OSSL(PEM_write_bio_PKCS8PrivateKey(
                bio, key, passphrase != NULL ? EVP_aes_256_cbc() : NULL, passphrase,
                passphrase != NULL ? (int)strlen(passphrase) : 0, NULL, NULL),
            "cannot encode the private key for %s", path);
    NT_TRY(write_bio_atomic(path, bio, 0600));
done:
    if (bio != NULL) {
        char *data = NULL;
        long len = BIO_get_mem_data(bio, &data);
        if (len > 0 && data != NULL) {
            nt_wipe(data, (size_t)len);
        }
        BIO_free(bio);
    }
    return error;
}

int certs_cert_write_pem(const char *path, X509 *cert)
{
    BIO *bio = NULL;
    int error = 0;

    NT_OSSL_PTR(bio = BIO_new(BIO_s_mem()), "cannot allocate a BIO");
    NT_OSSL(PEM_write_bio_X509(bio, cert), "cannot encode the certificate for %s", path);
    NT_TRY(write_bio_atomic(path, bio, 0644));
done:
    BIO_free(bio);
    return error;
}

/* ------------------------------------------------------------ certificates */

/* A random positive serial of 127 bits: RFC 5280 §4.1.2.2 allows up to 20 octets. */
static int serial_random(X509 *cert)
{
    uint8_t raw[16];
    BIGNUM *bn = NULL;
    int error = 0;

    NT_OSSL(RAND_bytes(raw, sizeof(raw)), "cannot draw a random serial number");
    raw[0] = (uint8_t)((raw[0] & 0x7f) | 0x40); /* positive, and never shorter than 16 octets */
    NT_OSSL_PTR(bn = BN_bin2bn(raw, (int)sizeof(raw), NULL), "cannot build a serial number");
    NT_OSSL_PTR(BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)),
                "cannot set the serial number");
done:
    BN_free(bn);
    return error;
}

static int add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = NULL;
    int error = 0;

    NT_OSSL_PTR(ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value), "cannot build extension %s=%s",
                OBJ_nid2sn(nid), value);
    NT_OSSL(X509_add_ext(cert, ext, -1), "cannot add extension %s", OBJ_nid2sn(nid));
done:
    X509_EXTENSION_free(ext);
    return error;
}

/* SHA-384 for P-384 signers, SHA-256 otherwise, none for Ed25519 (pure EdDSA). */
static const EVP_MD *sign_digest(EVP_PKEY *key)
{
    if (EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448")) {
        return NULL;
    }
    if (EVP_PKEY_is_a(key, "EC") && EVP_PKEY_get_bits(key) >= 384) {
        return EVP_sha384();
    }
    return EVP_sha256();
}

static int cert_sign(X509 *cert, EVP_PKEY *key, int pss)
{
    EVP_MD_CTX *mctx = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    const EVP_MD *md = sign_digest(key);
    int error = 0;

    if (sm2_key_is(key)) {
        /* SM2-with-SM3 over Z of the GB/T default identifier (ledger/sm2.h) */
        NT_OSSL_PTR(mctx = EVP_MD_CTX_new(), "cannot allocate a digest");
        NT_OSSL_PTR(pctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL), "EVP_PKEY_CTX_new");
        NT_OSSL(EVP_PKEY_CTX_set1_id(pctx, SM2_DEFAULT_ID, (int)SM2_DEFAULT_ID_LEN),
                "cannot set the SM2 identifier");
        EVP_MD_CTX_set_pkey_ctx(mctx, pctx);
        NT_OSSL(EVP_DigestSignInit_ex(mctx, NULL, "SM3", NULL, NULL, key, NULL),
                "cannot start SM2 signing");
        NT_OSSL(X509_sign_ctx(cert, mctx), "cannot sign the certificate");
        NT_TRY(sm2_cert_default_id(cert));
        goto done;
    }
    if (!pss) {
        NT_OSSL(X509_sign(cert, key, md), "cannot sign the certificate");
        goto done;
    }
    NT_ENSURE(EVP_PKEY_is_a(key, "RSA"), NT_EINVAL, "RSASSA-PSS needs an RSA issuer key");
    NT_OSSL_PTR(mctx = EVP_MD_CTX_new(), "cannot allocate a digest");
    NT_OSSL(EVP_DigestSignInit(mctx, &pctx, md, NULL, key), "cannot start RSASSA-PSS signing");
    NT_OSSL(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), "cannot select PSS");
    NT_OSSL(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST),
            "cannot set the PSS salt length");
    NT_OSSL(X509_sign_ctx(cert, mctx), "cannot sign the certificate");
done:
    EVP_MD_CTX_free(mctx);
    if (sm2_key_is(key)) {
        EVP_PKEY_CTX_free(pctx); /* set with EVP_MD_CTX_set_pkey_ctx: ours to free */
    }
    return error;
}

static int name_add(X509_NAME *name, const char *field, const char *value)
{
    if (!X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, (const unsigned char *)value, -1,
                                    -1, 0)) {
        return nt_error_ossl("cannot add %s=%s to a name", field, value);
    }
    return 0;
}

/* The organisation of an issuer, so the TSA certificate names the same organisation. */
static const char *issuer_org(X509 *ca_cert, char *buf, int cap)
{
    X509_NAME *n = X509_get_subject_name(ca_cert);
    if (n != NULL && X509_NAME_get_text_by_NID(n, NID_organizationName, buf, cap) > 0) {
        return buf;
    }
    return NULL;
}

static int set_validity(X509 *cert, time_t not_before, int days)
{
    int error = 0;
    NT_ENSURE(days > 0 && days <= 36500, NT_EINVAL, "validity of %d days is out of range", days);
    NT_OSSL_PTR(ASN1_TIME_set(X509_getm_notBefore(cert), not_before), "cannot set notBefore");
    NT_OSSL_PTR(ASN1_TIME_adj(X509_getm_notAfter(cert), not_before, days, 0),
                "cannot set notAfter");
done:
    return error;
}

static int root_issue(X509 **out, EVP_PKEY *key, const char *org, time_t not_before, int days,
                      int pss)
{
    X509 *cert = NULL;
    X509_NAME *name = NULL;
    X509V3_CTX ctx;
    nt_buf cn = NT_BUF_INIT;
    int error = 0;

    *out = NULL;
    NT_OSSL_PTR(cert = X509_new(), "cannot allocate a certificate");
    NT_OSSL(X509_set_version(cert, X509_VERSION_3), "cannot set the version");
    NT_TRY(serial_random(cert));
    NT_OSSL_PTR(name = X509_NAME_new(), "cannot allocate a name");
    NT_TRY(nt_buf_printf(&cn, "%s Root CA", org));
    NT_TRY(name_add(name, "O", org));
    NT_TRY(name_add(name, "CN", nt_buf_cstr(&cn)));
    NT_OSSL(X509_set_subject_name(cert, name), "cannot set the subject");
    NT_OSSL(X509_set_issuer_name(cert, name), "cannot set the issuer");
    NT_TRY(set_validity(cert, not_before, days));
    NT_OSSL(X509_set_pubkey(cert, key), "cannot set the public key");

    X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
    NT_OSSL(X509V3_set_issuer_pkey(&ctx, key), "cannot set the issuer key");
    NT_TRY(add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:TRUE"));
    NT_TRY(add_ext(cert, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign"));
    NT_TRY(add_ext(cert, &ctx, NID_subject_key_identifier, "hash"));
    NT_TRY(add_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always"));
    NT_TRY(cert_sign(cert, key, pss));
    *out = cert;
    cert = NULL;
done:
    X509_free(cert);
    X509_NAME_free(name);
    nt_buf_dispose(&cn);
    return error;
}

int certs_tsa_cert_issue(X509 **out, EVP_PKEY *key, EVP_PKEY *ca_key, X509 *ca_cert,
                         const char *common_name, time_t not_before, int days, int profile_flags)
{
    X509 *cert = NULL;
    X509_NAME *name = NULL;
    X509V3_CTX ctx;
    char org_buf[256];
    const char *org;
    const char *ku = "critical,digitalSignature,nonRepudiation";
    int error = 0;

    *out = NULL;
    NT_ENSURE(key != NULL && ca_key != NULL && ca_cert != NULL && common_name != NULL, NT_EINVAL,
              "certs_tsa_cert_issue: missing key, CA or name");
    NT_OSSL(X509_check_private_key(ca_cert, ca_key),
            "the CA key does not match the CA certificate");
    NT_OSSL_PTR(cert = X509_new(), "cannot allocate a certificate");
    NT_OSSL(X509_set_version(cert, X509_VERSION_3), "cannot set the version");
    NT_TRY(serial_random(cert));
    NT_OSSL_PTR(name = X509_NAME_new(), "cannot allocate a name");
    if ((org = issuer_org(ca_cert, org_buf, (int)sizeof(org_buf))) != NULL) {
        NT_TRY(name_add(name, "O", org));
    }
    NT_TRY(name_add(name, "CN", common_name));
    NT_OSSL(X509_set_subject_name(cert, name), "cannot set the subject");
    NT_OSSL(X509_set_issuer_name(cert, X509_get_subject_name(ca_cert)), "cannot set the issuer");
    NT_TRY(set_validity(cert, not_before != 0 ? not_before : time(NULL), days));
    NT_OSSL(X509_set_pubkey(cert, key), "cannot set the public key");

    X509V3_set_ctx(&ctx, ca_cert, cert, NULL, NULL, 0);
    NT_TRY(add_ext(cert, &ctx, NID_basic_constraints,
                   (profile_flags & CERTS_PROFILE_CA) ? "critical,CA:TRUE" : "critical,CA:FALSE"));
    if (profile_flags & CERTS_PROFILE_KU_KEYCERTSIGN) {
        ku = "critical,keyCertSign";
    } else if (profile_flags & CERTS_PROFILE_KU_NO_DIGITALSIGNATURE) {
        ku = "critical,nonRepudiation";
    }
    NT_TRY(add_ext(cert, &ctx, NID_key_usage, ku));
    /* RFC 3161 §2.3: "The corresponding certificate MUST contain only one instance of the
     * extended key usage field extension ... with KeyPurposeID having value
     * id-kp-timeStamping.  This extension MUST be critical." */
    if (!(profile_flags & CERTS_PROFILE_NO_EKU)) {
        const char *eku = "critical,timeStamping";
        if (profile_flags & CERTS_PROFILE_EKU_NOT_CRITICAL) {
            eku = "timeStamping";
        } else if (profile_flags & CERTS_PROFILE_EKU_EXTRA) {
            eku = "critical,timeStamping,serverAuth";
        }
        NT_TRY(add_ext(cert, &ctx, NID_ext_key_usage, eku));
    }
    NT_TRY(add_ext(cert, &ctx, NID_subject_key_identifier, "hash"));
    NT_TRY(add_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always"));
    NT_TRY(cert_sign(cert, ca_key, (profile_flags & CERTS_PROFILE_RSA_PSS) != 0));
    *out = cert;
    cert = NULL;
done:
    X509_free(cert);
    X509_NAME_free(name);
    return error;
}

/* ------------------------------------------------------------ dev PKI */

static int write_chain(const char *path, X509 *leaf, X509 *root)
{
    BIO *bio = NULL;
    int error = 0;

    NT_OSSL_PTR(bio = BIO_new(BIO_s_mem()), "cannot allocate a BIO");
    NT_OSSL(PEM_write_bio_X509(bio, leaf), "cannot encode the TSA certificate");
    NT_OSSL(PEM_write_bio_X509(bio, root), "cannot encode the root certificate");
    NT_TRY(write_bio_atomic(path, bio, 0644));
done:
    BIO_free(bio);
    return error;
}

int certs_pki_init(const certs_pki_options *opts)
{
    EVP_PKEY *ca_key = NULL, *tsa_key = NULL, *log_key = NULL;
    X509 *ca = NULL, *tsa = NULL;
    nt_buf path = NT_BUF_INIT, vkey = NT_BUF_INIT, cn = NT_BUF_INIT;
    certs_key_type ca_type;
    const char *org;
    time_t not_before;
    int existed, pss, error = 0;

    NT_ENSURE(opts != NULL && opts->dir != NULL && opts->dir[0] != '\0', NT_EINVAL,
              "certs_pki_init: no directory given");
    NT_ENSURE(opts->log_origin != NULL && opts->log_origin[0] != '\0', NT_EINVAL,
              "certs_pki_init: a log origin (log key name) is required");
    NT_ENSURE(opts->tsa_key != CERTS_KEY_ED25519, NT_EINVAL,
              "ed25519 is for the log key only; the TSA key must be EC or RSA");
    NT_ENSURE(opts->days >= 0, NT_EINVAL, "negative validity (%d days)", opts->days);
    org = opts->org != NULL && opts->org[0] != '\0' ? opts->org : "Notarium Demo";

    switch (opts->tsa_key) {
    case CERTS_KEY_EC_P256:
        ca_type = CERTS_KEY_EC_P256;
        break;
    case CERTS_KEY_EC_P384:
        ca_type = CERTS_KEY_EC_P384;
        break;
    case CERTS_KEY_RSA2048:
    case CERTS_KEY_RSA3072:
    case CERTS_KEY_RSA4096:
        ca_type = CERTS_KEY_RSA3072;
        break;
    case CERTS_KEY_SM2:
        ca_type = CERTS_KEY_SM2; /* an SM2 TSA under an SM2 root, both signed SM2-with-SM3 */
        break;
    default:
        NT_ENSURE(0, NT_EINVAL, "unknown TSA key type %d", (int)opts->tsa_key);
    }

    existed = nt_path_exists(opts->dir);
    NT_TRY(nt_mkdir_p(opts->dir, 0700));
    if (!existed) {
        /* The directory holds private keys: whatever the umask, only the owner may enter. */
        NT_ENSURE(chmod(opts->dir, 0700) == 0, NT_EIO, "cannot chmod %s: %s", opts->dir,
                  strerror(errno));
    }
    if (!opts->force) {
        static const char *const guarded[] = {"ca.pem", "tsa.key"};
        for (size_t i = 0; i < NT_ARRAY_LEN(guarded); i++) {
            NT_TRY(nt_path_join(&path, opts->dir, guarded[i]));
            NT_ENSURE(!nt_path_exists(nt_buf_cstr(&path)), NT_EEXISTS,
                      "%s already exists (use --force to overwrite the PKI)", nt_buf_cstr(&path));
        }
    }

    NT_TRY(certs_key_generate(&ca_key, ca_type));
    NT_TRY(certs_key_generate(&tsa_key, opts->tsa_key));
    NT_TRY(certs_key_generate(&log_key, CERTS_KEY_ED25519));
    /* Both certificates start five minutes in the past, so a relying party whose clock is
     * slightly behind ours does not see a fresh PKI as "not yet valid". */
    not_before = time(NULL) - 300;
    pss = opts->rsa_pss && EVP_PKEY_is_a(ca_key, "RSA");
    NT_TRY(root_issue(&ca, ca_key, org, not_before, 3650, pss));
    NT_TRY(nt_buf_printf(&cn, "%s TSA", org));
    NT_TRY(certs_tsa_cert_issue(&tsa, tsa_key, ca_key, ca, nt_buf_cstr(&cn), not_before,
                                opts->days != 0 ? opts->days : 825,
                                pss ? CERTS_PROFILE_RSA_PSS : 0));
    /* One vkey formatter and one key-name rule (C2SP signed-note) for pki init, the ledger
     * and the server: note_vkey_format in nt_merkle. */
    NT_TRY(note_vkey_format(&vkey, opts->log_origin, log_key));
    NT_TRY(nt_buf_putc(&vkey, '\n'));

    /* Keys first: a crash part-way leaves certificates missing, never a certificate
     * whose key was lost. */
    NT_TRY(nt_path_join(&path, opts->dir, "ca.key"));
    NT_TRY(certs_key_write_pem(nt_buf_cstr(&path), ca_key, NULL));
    NT_TRY(nt_path_join(&path, opts->dir, "tsa.key"));
    NT_TRY(certs_key_write_pem(nt_buf_cstr(&path), tsa_key, NULL));
    NT_TRY(nt_path_join(&path, opts->dir, "log.key"));
    NT_TRY(certs_key_write_pem(nt_buf_cstr(&path), log_key, NULL));
    NT_TRY(nt_path_join(&path, opts->dir, "ca.pem"));
    NT_TRY(certs_cert_write_pem(nt_buf_cstr(&path), ca));
    NT_TRY(nt_path_join(&path, opts->dir, "tsa.pem"));
    NT_TRY(certs_cert_write_pem(nt_buf_cstr(&path), tsa));
    NT_TRY(nt_path_join(&path, opts->dir, "chain.pem"));
    NT_TRY(write_chain(nt_buf_cstr(&path), tsa, ca));
    NT_TRY(nt_path_join(&path, opts->dir, "log.vkey"));
    NT_TRY(nt_file_write_atomic(nt_buf_cstr(&path), vkey.ptr, vkey.len, 0644));
done:
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(tsa_key);
    EVP_PKEY_free(log_key);
    X509_free(ca);
    X509_free(tsa);
    nt_buf_dispose(&path);
    nt_buf_dispose(&vkey);
    nt_buf_dispose(&cn);
    return error;
}
