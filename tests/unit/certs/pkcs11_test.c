/*
 * pkcs11_test.c - certs/pkcs11.c and source.c against a real PKCS#11 module:
 * a SoftHSM2 token made in a temporary directory (softhsm2-util, and
 * pkcs11-tool from opensc to generate keys in it).  EC P-256 and RSA-2048
 * token keys load through the pkcs11 engine, pass certs_signer_check with a
 * certificate from the dev CA, and sign CMS that OpenSSL verifies; twins: a
 * URI carrying the PIN, no module, a wrong PIN, a PIN file readable by
 * others, a missing PIN variable (and a wrong PIN, in a child process), a URI
 * naming no object, and an Ed25519 log
 * key (libp11 0.4.12 cannot use it: refused with the supported combinations).
 */
#include "tests/unit/certs/certs_fixture.h"

#include <openssl/cms.h>
#include <openssl/err.h>
#include <unistd.h>

static char base[256];
static char module[512];
static certs_signer *ca;

static const char *path_in(nt_buf *b, const char *name)
{
    REQUIRE(nt_path_join(b, base, name) == 0);
    return nt_buf_cstr(b);
}

/* Run softhsm2-util (--init-token ...) or pkcs11-tool with these arguments. */
static void sh(const char *args)
{
    nt_buf out = NT_BUF_INIT;
    int rc = fx_run(&out, "%s %s >/dev/null",
                    strncmp(args, "--init", 6) == 0 ? "softhsm2-util" : "pkcs11-tool", args);
    if (rc != 0) {
        fprintf(stderr, "command failed (%d): %s\n", rc, nt_buf_cstr(&out));
    }
    REQUIRE(rc == 0);
    nt_buf_dispose(&out);
}

static void token_setup(void)
{
    nt_buf p = NT_BUF_INIT, conf = NT_BUF_INIT, dir = NT_BUF_INIT, gen = NT_BUF_INIT,
           cmd = NT_BUF_INIT;
    const char *m = getenv("NT_SOFTHSM_MODULE");
    snprintf(module, sizeof(module), "%s", m != NULL ? m : "/usr/lib/softhsm/libsofthsm2.so");
    if (access(module, R_OK) != 0) {
        fprintf(stderr,
                "pkcs11_test: no SoftHSM2 module at %s: apt-get install softhsm2 opensc "
                "libengine-pkcs11-openssl (scripts/debian-packages.txt)\n",
                module);
        REQUIRE(0);
    }
    REQUIRE(nt_path_join(&dir, base, "tokens") == 0);
    REQUIRE(nt_mkdir_p(nt_buf_cstr(&dir), 0700) == 0);
    REQUIRE(nt_buf_printf(&conf,
                          "directories.tokendir = %s\nobjectstore.backend = file\n"
                          "log.level = ERROR\n",
                          nt_buf_cstr(&dir)) == 0);
    REQUIRE(nt_file_write_atomic(path_in(&p, "softhsm2.conf"), conf.ptr, conf.len, 0600) == 0);
    REQUIRE(setenv("SOFTHSM2_CONF", nt_buf_cstr(&p), 1) == 0);
    sh("--init-token --free --label nt --pin 1234 --so-pin 5678");
    sh("--init-token --free --label logtok --pin 1234 --so-pin 5678");
    REQUIRE(nt_buf_printf(&gen, "--module '%s' --login --pin 1234 --keypairgen", module) == 0);
    REQUIRE(nt_buf_printf(&cmd,
                          "%s --token-label nt --key-type EC:prime256v1 --label tsa-ec "
                          "--id 01",
                          nt_buf_cstr(&gen)) == 0);
    sh(nt_buf_cstr(&cmd));
    nt_buf_clear(&cmd);
    REQUIRE(nt_buf_printf(&cmd, "%s --token-label nt --key-type rsa:2048 --label tsa-rsa --id 02",
                          nt_buf_cstr(&gen)) == 0);
    sh(nt_buf_cstr(&cmd));
    nt_buf_clear(&cmd);
    REQUIRE(nt_buf_printf(&cmd,
                          "%s --token-label logtok --key-type EC:edwards25519 --label log "
                          "--id 03",
                          nt_buf_cstr(&gen)) == 0);
    sh(nt_buf_cstr(&cmd));
    nt_buf_dispose(&gen);
    nt_buf_dispose(&cmd);
    nt_buf_dispose(&p);
    nt_buf_dispose(&conf);
    nt_buf_dispose(&dir);
}

static void pin_file(nt_buf *path, const char *pin, unsigned mode)
{
    REQUIRE(nt_file_write_atomic(path_in(path, "pin"), pin, strlen(pin), 0600) == 0);
    REQUIRE(chmod(nt_buf_cstr(path), mode) == 0);
}

/* CMS-sign a message with the signer and verify it with OpenSSL against the dev root. */
static void cms_roundtrip(const certs_signer *s)
{
    static const char msg[] = "token content";
    BIO *in = BIO_new_mem_buf(msg, (int)strlen(msg)), *data = NULL;
    X509_STORE *store = X509_STORE_new();
    CMS_ContentInfo *cms;
    REQUIRE(in != NULL && store != NULL);
    cms = CMS_sign(s->cert, s->key, NULL, in, CMS_BINARY | CMS_DETACHED | CMS_NOSMIMECAP);
    CHECK(cms != NULL);
    REQUIRE(X509_STORE_add_cert(store, ca->cert) == 1);
    data = BIO_new_mem_buf(msg, (int)strlen(msg));
    /* CMS_NO_SIGNER_CERT_VERIFY: the TSA certificate's EKU is not for S/MIME */
    CHECK(cms != NULL &&
          CMS_verify(cms, NULL, store, data, NULL, CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) == 1);
    ERR_clear_error();
    CMS_ContentInfo_free(cms);
    X509_STORE_free(store);
    BIO_free(in);
    BIO_free(data);
}

static void test_uri(void)
{
    CHECK_OK(certs_pkcs11_uri_check("pkcs11:token=nt;object=tsa-ec;type=private"));
    CHECK(certs_uri_is_pkcs11("PKCS11:token=x"));
    CHECK(!certs_uri_is_pkcs11("pki/tsa.key"));
    CHECK(!certs_uri_is_pkcs11(NULL));
    CHECK_ERR(certs_pkcs11_uri_check("pki/tsa.key"), NT_EINVAL);
    CHECK_ERR(certs_pkcs11_uri_check("pkcs11:token=nt;object=a;pin-value=1234"), NT_EINVAL);
    CHECK(strstr(nt_error_last(), "pin_file") != NULL);
    CHECK(strstr(nt_error_last(), "1234") == NULL); /* the PIN is never repeated */
    CHECK_ERR(certs_pkcs11_uri_check("pkcs11:object=a?pin-source=file:/p"), NT_EINVAL);
    /* "pin-value" as part of an object's name is not an attribute */
    CHECK_OK(certs_pkcs11_uri_check("pkcs11:object=my-pin-value=x"));
}

static void test_config_errors(void)
{
    certs_pkcs11_config p = {0};
    nt_buf pin = NT_BUF_INIT;
    EVP_PKEY *k = NULL;
    const char *uri = "pkcs11:token=nt;object=tsa-ec;type=private";

    CHECK_ERR(certs_pkcs11_key_load(&k, uri, &p), NT_EINVAL); /* no module */
    CHECK(strstr(nt_error_last(), "pkcs11.module") != NULL);
    p.module = "/nonexistent/libpkcs11.so";
    CHECK_ERR(certs_pkcs11_key_load(&k, uri, &p), NT_ENOTFOUND);
    p.module = module;
    p.pin_env = "NT_TEST_PIN_UNSET";
    unsetenv("NT_TEST_PIN_UNSET");
    CHECK_ERR(certs_pkcs11_key_load(&k, uri, &p), NT_EINVAL);
    CHECK(strstr(nt_error_last(), "NT_TEST_PIN_UNSET") != NULL);
    /* a PIN file readable by others is refused before anything is sent to the token */
    pin_file(&pin, "1234\n", 0644);
    p.pin_env = NULL;
    p.pin_file = nt_buf_cstr(&pin);
    CHECK_ERR(certs_pkcs11_key_load(&k, uri, &p), NT_EINVAL);
    CHECK(strstr(nt_error_last(), "mode 0644") != NULL);
    p.pin_env = "X";
    REQUIRE(chmod(nt_buf_cstr(&pin), 0600) == 0);
    CHECK_ERR(certs_pkcs11_key_load(&k, uri, &p), NT_EINVAL); /* both sources */
    CHECK(k == NULL);
    nt_buf_dispose(&pin);
}

/*
 * A wrong PIN, in a child process: the engine must meet the token logged out
 * (libp11 keeps a process's login, and 0.4.12 does not log in cleanly again
 * after a refused PIN; the server is one attempt per process anyway).
 */
static void test_wrong_pin(void)
{
    certs_pkcs11_config p = {0};
    nt_buf pin = NT_BUF_INIT;
    int status = 0;
    pid_t pid;

    p.module = module;
    pin_file(&pin, "9999\n", 0600);
    p.pin_file = nt_buf_cstr(&pin);
    fflush(NULL);
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        EVP_PKEY *k = NULL;
        int rc = certs_pkcs11_key_load(&k, "pkcs11:token=nt;object=tsa-ec;type=private", &p);
        if (rc != NT_EINVAL || strstr(nt_error_last(), "refused the PIN") == NULL ||
            strstr(nt_error_last(), "9999") != NULL) {
            fprintf(stderr, "wrong PIN: %d %s\n", rc, nt_error_last());
            _exit(1);
        }
        _exit(0);
    }
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    nt_buf_dispose(&pin);
}

static void test_token_keys(void)
{
    static const char *const uris[] = {"pkcs11:token=nt;object=tsa-ec;type=private",
                                       "pkcs11:token=nt;object=tsa-rsa;type=private"};
    certs_pkcs11_config p = {0};
    nt_buf pin = NT_BUF_INIT, cert = NT_BUF_INIT;

    p.module = module;
    pin_file(&pin, "1234\n", 0400);
    p.pin_file = nt_buf_cstr(&pin);
    for (size_t i = 0; i < NT_ARRAY_LEN(uris); i++) {
        certs_signer_source src = {0};
        certs_signer *s = NULL, *s2 = NULL;
        EVP_PKEY *k = NULL;
        X509 *x = NULL;

        CHECK_OK(certs_pkcs11_key_load(&k, uris[i], &p));
        REQUIRE(k != NULL);
        CHECK(EVP_PKEY_is_a(k, i == 0 ? "EC" : "RSA"));
        /* a certificate for the token's public key, from the dev CA */
        REQUIRE(certs_tsa_cert_issue(&x, k, ca->key, ca->cert, "HSM TSA", 0, 30, 0) == 0);
        REQUIRE(certs_cert_write_pem(path_in(&cert, "hsm.pem"), x) == 0);
        src.cert = nt_buf_cstr(&cert);
        src.key = uris[i];
        src.pkcs11 = p;
        CHECK_OK(certs_signer_load(&s, &src));
        REQUIRE(s != NULL);
        CHECK_OK(certs_signer_check(s, time(NULL)));
        cms_roundtrip(s);
        /* a second key through the same engine; then the first freed: the second still signs */
        CHECK_OK(certs_signer_load(&s2, &src));
        certs_signer_free(s);
        cms_roundtrip(s2);
        /* mismatch twin: the other token key under this certificate */
        EVP_PKEY_free(s2->key);
        s2->key = NULL;
        CHECK_OK(certs_pkcs11_key_load(&s2->key, uris[1 - i], &p));
        CHECK_ERR(certs_signer_check(s2, time(NULL)), NT_EINVAL);
        CHECK_STR(nt_error_last(), "private key does not match the certificate");
        certs_signer_free(s2);
        X509_free(x);
        EVP_PKEY_free(k);
    }
    nt_buf_dispose(&pin);
    nt_buf_dispose(&cert);
}

static void test_token_refusals(void)
{
    certs_pkcs11_config p = {0};
    nt_buf pin = NT_BUF_INIT;
    EVP_PKEY *k = NULL;

    p.module = module;
    pin_file(&pin, "1234\n", 0600);
    p.pin_file = nt_buf_cstr(&pin);
    CHECK_ERR(certs_pkcs11_key_load(&k, "pkcs11:token=nt;object=no-such-key;type=private", &p),
              NT_ENOTFOUND);
    CHECK(strstr(nt_error_last(), "no such private key") != NULL);

    /* Ed25519 on the token: refused at start with the supported combinations named */
    CHECK(certs_log_key_open(&k, "pkcs11:token=logtok;object=log;type=private", &p) < 0);
    CHECK(strstr(nt_error_last(), "cannot use Ed25519") != NULL);
    CHECK(strstr(nt_error_last(), "docs/KEYS.md") != NULL);
    CHECK(k == NULL);
    /* an EC token key is not a log key */
    CHECK_ERR(certs_log_key_open(&k, "pkcs11:token=nt;object=tsa-ec;type=private", &p), NT_EINVAL);
    CHECK(strstr(nt_error_last(), "must be Ed25519") != NULL);
    nt_buf_dispose(&pin);
}

int main(void)
{
    REQUIRE(test_tmpdir(base, sizeof(base)) != NULL);
    ca = fx_dev_ca(base);
    token_setup();

    test_uri();
    test_config_errors();
    test_wrong_pin(); /* first: the parent has not loaded the engine yet */
    test_token_keys();
    test_token_refusals();

    certs_signer_free(ca);
    fx_rm_rf(base);
    return TEST_END();
}
