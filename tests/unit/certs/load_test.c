/*
 * load_test.c - certs/load.c: PEM certificate + chain + key (PKCS#8 and
 * traditional, plain and encrypted, right and wrong passphrase), PKCS#12 made
 * both with PKCS12_create and with the `openssl pkcs12` command (right and
 * wrong passphrase), chain ordering, and errors that name the file.
 */
#include "tests/unit/certs/certs_fixture.h"

#include <openssl/pkcs12.h>

static char base[256];
static X509 *root, *tsa;
static EVP_PKEY *tsa_key;

/* Distinct path buffers so several paths can be used in one call. */
static const char *P(int slot, const char *name)
{
    static nt_buf bufs[6];
    REQUIRE(slot >= 0 && slot < 6);
    REQUIRE(nt_path_join(&bufs[slot], base, name) == 0);
    return nt_buf_cstr(&bufs[slot]);
}

static int sh(const char *fmt, ...) NT_PRINTF(1, 2);
static int sh(const char *fmt, ...)
{
    nt_buf cmd = NT_BUF_INIT;
    va_list ap;
    int status;
    va_start(ap, fmt);
    REQUIRE(nt_buf_vprintf(&cmd, fmt, ap) == 0);
    va_end(ap);
    REQUIRE(nt_buf_puts(&cmd, " >/dev/null 2>&1") == 0);
    status = system(nt_buf_cstr(&cmd));
    nt_buf_dispose(&cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void write_text(const char *path, const char *text)
{
    REQUIRE(nt_file_write_atomic(path, text, strlen(text), 0600) == 0);
}

static int contains(const char *path, const char *needle)
{
    nt_buf b = NT_BUF_INIT;
    int found;
    REQUIRE(nt_file_read(&b, path, 1 << 20) == 0);
    found = strstr(nt_buf_cstr(&b), needle) != NULL;
    nt_buf_dispose(&b);
    return found;
}

static void test_pem_plain(void)
{
    certs_signer *s = NULL;
    STACK_OF(X509) *list = NULL;

    /* cert + key + chain file */
    CHECK_OK(certs_signer_load_pem(&s, P(0, "tsa.pem"), P(1, "tsa.key"), NULL, P(2, "ca.pem")));
    REQUIRE(s != NULL);
    CHECK(X509_cmp(s->cert, tsa) == 0);
    CHECK(EVP_PKEY_eq(s->key, tsa_key) == 1);
    CHECK(sk_X509_num(s->chain) == 1 && X509_cmp(sk_X509_value(s->chain, 0), root) == 0);
    certs_signer_free(s);

    /* chain after the certificate in the same file; the same chain again is not duplicated */
    CHECK_OK(
        certs_signer_load_pem(&s, P(0, "chain.pem"), P(1, "tsa.key"), NULL, P(2, "chain.pem")));
    CHECK(s != NULL && sk_X509_num(s->chain) == 1);
    certs_signer_free(s);

    /* no chain at all */
    CHECK_OK(certs_signer_load_pem(&s, P(0, "tsa.pem"), P(1, "tsa.key"), NULL, NULL));
    CHECK(s != NULL && sk_X509_num(s->chain) == 0);
    certs_signer_free(s);

    /* one file holding key, certificate and chain, given as both cert and key */
    {
        nt_buf all = NT_BUF_INIT, part = NT_BUF_INIT;
        REQUIRE(nt_file_read(&part, P(0, "tsa.key"), 1 << 20) == 0);
        REQUIRE(nt_buf_put(&all, part.ptr, part.len) == 0);
        REQUIRE(nt_file_read(&part, P(0, "chain.pem"), 1 << 20) == 0);
        REQUIRE(nt_buf_put(&all, part.ptr, part.len) == 0);
        REQUIRE(nt_file_write_atomic(P(0, "bundle.pem"), all.ptr, all.len, 0600) == 0);
        CHECK_OK(certs_signer_load_pem(&s, P(0, "bundle.pem"), P(1, "bundle.pem"), NULL, NULL));
        CHECK(s != NULL && X509_cmp(s->cert, tsa) == 0 && sk_X509_num(s->chain) == 1 &&
              EVP_PKEY_eq(s->key, tsa_key) == 1);
        certs_signer_free(s);
        nt_buf_dispose_secret(&all);
        nt_buf_dispose_secret(&part);
    }

    /* a traditional (SEC1) key written by the openssl command */
    REQUIRE(sh("openssl ec -in '%s' -out '%s'", P(0, "tsa.key"), P(1, "trad.key")) == 0);
    CHECK(contains(P(0, "trad.key"), "BEGIN EC PRIVATE KEY"));
    CHECK_OK(certs_signer_load_pem(&s, P(0, "tsa.pem"), P(1, "trad.key"), NULL, NULL));
    CHECK(s != NULL && EVP_PKEY_eq(s->key, tsa_key) == 1);
    certs_signer_free(s);

    CHECK_OK(certs_load_pem_certs(&list, P(0, "chain.pem")));
    CHECK(list != NULL && sk_X509_num(list) == 2);
    sk_X509_pop_free(list, X509_free);
    certs_signer_free(NULL);
}

static void test_pem_encrypted(void)
{
    certs_signer *s = NULL;

    CHECK_OK(certs_key_write_pem(P(0, "enc.key"), tsa_key, "correct horse"));
    CHECK(contains(P(0, "enc.key"), "BEGIN ENCRYPTED PRIVATE KEY"));
    CHECK(!contains(P(0, "enc.key"), "BEGIN PRIVATE KEY"));
    struct stat st;
    CHECK(stat(P(0, "enc.key"), &st) == 0 && (st.st_mode & 0777) == 0600);
    /* oracle: the openssl command decrypts it with the passphrase, and not without */
    CHECK(sh("openssl pkey -noout -in '%s' -passin pass:'correct horse'", P(0, "enc.key")) == 0);
    CHECK(sh("openssl pkey -noout -in '%s' -passin pass:wrong", P(0, "enc.key")) != 0);

    CHECK_OK(certs_signer_load_pem(&s, P(0, "tsa.pem"), P(1, "enc.key"), "correct horse", NULL));
    CHECK(s != NULL && EVP_PKEY_eq(s->key, tsa_key) == 1);
    certs_signer_free(s);

    s = (certs_signer *)1;
    CHECK_ERR(certs_signer_load_pem(&s, P(0, "tsa.pem"), P(1, "enc.key"), "wrong", NULL),
              NT_EINVAL);
    CHECK(s == NULL);
    CHECK(strstr(nt_error_last(), "enc.key") != NULL);
    CHECK(strstr(nt_error_last(), "passphrase") != NULL);
    CHECK_ERR(certs_signer_load_pem(&s, P(0, "tsa.pem"), P(1, "enc.key"), NULL, NULL), NT_EINVAL);
    CHECK(strstr(nt_error_last(), "encrypted and no passphrase") != NULL);

    /* traditional encrypted PEM (Proc-Type: 4,ENCRYPTED) from the openssl command */
    REQUIRE(sh("openssl ec -in '%s' -aes256 -passout pass:s3cret -out '%s'", P(0, "tsa.key"),
               P(1, "trad-enc.key")) == 0);
    CHECK(contains(P(0, "trad-enc.key"), "Proc-Type: 4,ENCRYPTED"));
    CHECK_OK(certs_signer_load_pem(&s, P(0, "tsa.pem"), P(1, "trad-enc.key"), "s3cret", NULL));
    CHECK(s != NULL && EVP_PKEY_eq(s->key, tsa_key) == 1);
    certs_signer_free(s);
    CHECK_ERR(certs_signer_load_pem(&s, P(0, "tsa.pem"), P(1, "trad-enc.key"), "nope", NULL),
              NT_EINVAL);
    CHECK(strstr(nt_error_last(), "trad-enc.key") != NULL);
}

static void write_p12(const char *path, const char *pass, STACK_OF(X509) * cas)
{
    PKCS12 *p12 = PKCS12_create(pass, "tsa", tsa_key, tsa, cas, 0, 0, 0, 0, 0);
    BIO *bio;
    REQUIRE(p12 != NULL);
    bio = BIO_new_file(path, "wb");
    REQUIRE(bio != NULL);
    REQUIRE(i2d_PKCS12_bio(bio, p12) == 1);
    BIO_free(bio);
    PKCS12_free(p12);
}

static void test_p12(void)
{
    certs_signer *s = NULL;
    STACK_OF(X509) *cas = sk_X509_new_null();

    REQUIRE(cas != NULL && sk_X509_push(cas, root) > 0);
    write_p12(P(0, "tsa.p12"), "p12-pass", cas);
    CHECK_OK(certs_signer_load_p12(&s, P(0, "tsa.p12"), "p12-pass"));
    REQUIRE(s != NULL);
    CHECK(X509_cmp(s->cert, tsa) == 0);
    CHECK(EVP_PKEY_eq(s->key, tsa_key) == 1);
    CHECK(sk_X509_num(s->chain) == 1 && X509_cmp(sk_X509_value(s->chain, 0), root) == 0);
    CHECK_OK(certs_signer_check(s, time(NULL)));
    certs_signer_free(s);

    s = (certs_signer *)1;
    CHECK_ERR(certs_signer_load_p12(&s, P(0, "tsa.p12"), "wrong"), NT_EINVAL);
    CHECK(s == NULL);
    CHECK(strstr(nt_error_last(), "tsa.p12") != NULL);
    CHECK(strstr(nt_error_last(), "wrong passphrase") != NULL);
    CHECK_ERR(certs_signer_load_p12(&s, P(0, "tsa.p12"), NULL), NT_EINVAL);

    /* made by the openssl command (an independent writer) */
    REQUIRE(sh("openssl pkcs12 -export -inkey '%s' -in '%s' -certfile '%s' -passout pass:cli "
               "-out '%s'",
               P(0, "tsa.key"), P(1, "tsa.pem"), P(2, "ca.pem"), P(3, "cli.p12")) == 0);
    CHECK_OK(certs_signer_load_p12(&s, P(0, "cli.p12"), "cli"));
    CHECK(s != NULL && X509_cmp(s->cert, tsa) == 0 && sk_X509_num(s->chain) == 1);
    certs_signer_free(s);
    CHECK_ERR(certs_signer_load_p12(&s, P(0, "cli.p12"), "CLI"), NT_EINVAL);

    /* a legacy (RC2/3DES) export: refused with a hint, not a bare "unsupported" */
    REQUIRE(sh("openssl pkcs12 -export -legacy -inkey '%s' -in '%s' -passout pass:old -out '%s'",
               P(0, "tsa.key"), P(1, "tsa.pem"), P(2, "legacy.p12")) == 0);
    CHECK_ERR(certs_signer_load_p12(&s, P(0, "legacy.p12"), "old"), NT_EINVAL);
    CHECK(strstr(nt_error_last(), "legacy cipher") != NULL);
    CHECK(strstr(nt_error_last(), "legacy.p12") != NULL);

    /* no passphrase at all */
    write_p12(P(0, "nopass.p12"), NULL, NULL);
    CHECK_OK(certs_signer_load_p12(&s, P(0, "nopass.p12"), NULL));
    CHECK(s != NULL && X509_cmp(s->cert, tsa) == 0 && sk_X509_num(s->chain) == 0);
    certs_signer_free(s);

    /* not a PKCS#12 file: a PEM certificate, or a truncated bundle */
    CHECK_ERR(certs_signer_load_p12(&s, P(0, "tsa.pem"), "x"), NT_EINVAL);
    CHECK(strstr(nt_error_last(), "tsa.pem") != NULL);
    {
        nt_buf b = NT_BUF_INIT;
        REQUIRE(nt_file_read(&b, P(0, "tsa.p12"), 1 << 20) == 0);
        REQUIRE(nt_file_write_atomic(P(0, "short.p12"), b.ptr, b.len / 2, 0600) == 0);
        CHECK_ERR(certs_signer_load_p12(&s, P(0, "short.p12"), "p12-pass"), NT_EINVAL);
        nt_buf_dispose(&b);
    }
    CHECK_ERR(certs_signer_load_p12(&s, P(0, "absent.p12"), "x"), NT_ENOTFOUND);
    sk_X509_free(cas);
}

/* root -> intermediate -> leaf; chain files in the wrong order come out nearest first. */
static void test_chain_order(void)
{
    certs_signer *s = NULL, *ca = NULL;
    EVP_PKEY *ikey = NULL, *lkey = NULL;
    X509 *inter = NULL, *leaf = NULL;
    BIO *bio;

    REQUIRE(certs_signer_load_pem(&ca, P(0, "ca.pem"), P(1, "ca.key"), NULL, NULL) == 0);
    REQUIRE(certs_key_generate(&ikey, CERTS_KEY_EC_P256) == 0);
    REQUIRE(certs_key_generate(&lkey, CERTS_KEY_EC_P256) == 0);
    REQUIRE(certs_tsa_cert_issue(&inter, ikey, ca->key, ca->cert, "Intermediate", 0, 30,
                                 CERTS_PROFILE_CA | CERTS_PROFILE_KU_KEYCERTSIGN) == 0);
    REQUIRE(certs_tsa_cert_issue(&leaf, lkey, ikey, inter, "Leaf TSA", 0, 30, 0) == 0);
    REQUIRE(certs_cert_write_pem(P(0, "leaf.pem"), leaf) == 0);
    REQUIRE(certs_key_write_pem(P(0, "leaf.key"), lkey, NULL) == 0);
    bio = BIO_new_file(P(0, "rev-chain.pem"), "w");
    REQUIRE(bio != NULL && PEM_write_bio_X509(bio, root) && PEM_write_bio_X509(bio, inter));
    BIO_free(bio);

    CHECK_OK(
        certs_signer_load_pem(&s, P(0, "leaf.pem"), P(1, "leaf.key"), NULL, P(2, "rev-chain.pem")));
    REQUIRE(s != NULL);
    CHECK(sk_X509_num(s->chain) == 2);
    CHECK(X509_cmp(sk_X509_value(s->chain, 0), inter) == 0);
    CHECK(X509_cmp(sk_X509_value(s->chain, 1), root) == 0);
    CHECK_OK(certs_signer_check(s, time(NULL)));
    /* oracle: openssl verifies the leaf through the intermediate */
    CHECK(sh("openssl verify -purpose timestampsign -CAfile '%s' -untrusted '%s' '%s'",
             P(0, "ca.pem"), P(1, "rev-chain.pem"), P(2, "leaf.pem")) == 0);
    /* twin: without the intermediate it does not verify */
    CHECK(sh("openssl verify -CAfile '%s' '%s'", P(0, "ca.pem"), P(1, "leaf.pem")) != 0);
    certs_signer_free(s);

    /* the same through PKCS#12, root listed first */
    {
        STACK_OF(X509) *cas = sk_X509_new_null();
        REQUIRE(cas != NULL && sk_X509_push(cas, root) > 0 && sk_X509_push(cas, inter) > 0);
        PKCS12 *p12 = PKCS12_create("pw", "leaf", lkey, leaf, cas, 0, 0, 0, 0, 0);
        REQUIRE(p12 != NULL);
        bio = BIO_new_file(P(0, "leaf.p12"), "wb");
        REQUIRE(bio != NULL && i2d_PKCS12_bio(bio, p12) == 1);
        BIO_free(bio);
        PKCS12_free(p12);
        sk_X509_free(cas);
        CHECK_OK(certs_signer_load_p12(&s, P(0, "leaf.p12"), "pw"));
        CHECK(s != NULL && sk_X509_num(s->chain) == 2 &&
              X509_cmp(sk_X509_value(s->chain, 0), inter) == 0 &&
              X509_cmp(sk_X509_value(s->chain, 1), root) == 0);
        certs_signer_free(s);
    }

    certs_signer_free(ca);
    EVP_PKEY_free(ikey);
    EVP_PKEY_free(lkey);
    X509_free(inter);
    X509_free(leaf);
}

static void test_errors(void)
{
    certs_signer *s = NULL;
    STACK_OF(X509) *list = NULL;

    CHECK_ERR(certs_signer_load_pem(&s, P(0, "nope.pem"), P(1, "tsa.key"), NULL, NULL),
              NT_ENOTFOUND);
    CHECK(strstr(nt_error_last(), "nope.pem") != NULL);
    CHECK_ERR(certs_signer_load_pem(&s, P(0, "tsa.pem"), P(1, "nope.key"), NULL, NULL),
              NT_ENOTFOUND);
    CHECK(strstr(nt_error_last(), "nope.key") != NULL);
    CHECK_ERR(
        certs_signer_load_pem(&s, P(0, "tsa.pem"), P(1, "tsa.key"), NULL, P(2, "nope-chain.pem")),
        NT_ENOTFOUND);
    CHECK(strstr(nt_error_last(), "nope-chain.pem") != NULL);

    write_text(P(0, "empty.pem"), "");
    CHECK_ERR(certs_signer_load_pem(&s, P(0, "empty.pem"), P(1, "tsa.key"), NULL, NULL), NT_EINVAL);
    CHECK(strstr(nt_error_last(), "empty.pem") != NULL);
    write_text(P(0, "text.pem"), "hello, this is not PEM\n");
    CHECK_ERR(certs_signer_load_pem(&s, P(0, "text.pem"), P(1, "tsa.key"), NULL, NULL), NT_EINVAL);
    CHECK(strstr(nt_error_last(), "no PEM certificate") != NULL);
    write_text(P(0, "bad.pem"),
               "-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n");
    CHECK_ERR(certs_signer_load_pem(&s, P(0, "bad.pem"), P(1, "tsa.key"), NULL, NULL), NT_EINVAL);
    CHECK(strstr(nt_error_last(), "bad.pem") != NULL);
    CHECK(strstr(nt_error_last(), "malformed certificate") != NULL);
    /* a certificate where the key should be */
    CHECK_ERR(certs_signer_load_pem(&s, P(0, "tsa.pem"), P(1, "ca.pem"), NULL, NULL), NT_EINVAL);
    CHECK(strstr(nt_error_last(), "ca.pem") != NULL);
    CHECK(strstr(nt_error_last(), "private key") != NULL);
    CHECK(s == NULL);
    CHECK_ERR(certs_signer_load_pem(&s, NULL, P(1, "tsa.key"), NULL, NULL), NT_EINVAL);
    CHECK_ERR(certs_load_pem_certs(&list, P(0, "text.pem")), NT_EINVAL);
    CHECK(list == NULL);
}

/* Allocation failure at every point of a load: an error, never a crash or a leak (ASan). */
/* Key, PKCS#12, passphrase and log key files that group or others may read are refused. */
static void test_modes(void)
{
    static const unsigned loose[] = {0640, 0604, 0644};
    certs_signer_source src = {0};
    certs_signer *s = NULL;
    EVP_PKEY *k = NULL;

    write_p12(P(0, "mode.p12"), "pw", NULL);
    write_text(P(0, "pass"), "pw\n");
    for (size_t i = 0; i < NT_ARRAY_LEN(loose); i++) {
        char mode[16];
        snprintf(mode, sizeof(mode), "mode %04o", loose[i]);
        REQUIRE(chmod(P(0, "tsa.key"), loose[i]) == 0);
        CHECK_ERR(certs_signer_load_pem(&s, P(0, "tsa.pem"), P(1, "tsa.key"), NULL, NULL),
                  NT_EINVAL);
        CHECK(strstr(nt_error_last(), mode) != NULL && strstr(nt_error_last(), "tsa.key") != NULL);
        /* lax (pki check, which reports the mode itself) loads it */
        src.cert = P(0, "tsa.pem");
        src.key = P(1, "tsa.key");
        src.lax_modes = 1;
        CHECK_OK(certs_signer_load(&s, &src));
        certs_signer_free(s);
        s = NULL;
        src.lax_modes = 0;
        CHECK_ERR(certs_signer_load(&s, &src), NT_EINVAL);
        REQUIRE(chmod(P(0, "tsa.key"), 0600) == 0);

        REQUIRE(chmod(P(0, "mode.p12"), loose[i]) == 0);
        CHECK_ERR(certs_signer_load_p12(&s, P(0, "mode.p12"), "pw"), NT_EINVAL);
        CHECK(strstr(nt_error_last(), mode) != NULL);
        REQUIRE(chmod(P(0, "mode.p12"), 0600) == 0);

        /* the passphrase file of a PKCS#12 source */
        memset(&src, 0, sizeof(src));
        src.pkcs12 = P(0, "mode.p12");
        src.pkcs12_passphrase_file = P(1, "pass");
        CHECK_OK(certs_signer_load(&s, &src));
        certs_signer_free(s);
        s = NULL;
        REQUIRE(chmod(P(0, "pass"), loose[i]) == 0);
        CHECK_ERR(certs_signer_load(&s, &src), NT_EINVAL);
        CHECK(strstr(nt_error_last(), mode) != NULL && strstr(nt_error_last(), "pass") != NULL);
        REQUIRE(chmod(P(0, "pass"), 0400) == 0);
        memset(&src, 0, sizeof(src));

        REQUIRE(chmod(P(0, "log.key"), loose[i]) == 0);
        CHECK_ERR(certs_log_key_load(&k, P(0, "log.key")), NT_EINVAL);
        REQUIRE(chmod(P(0, "log.key"), 0600) == 0);
        CHECK_OK(certs_log_key_load(&k, P(0, "log.key")));
        EVP_PKEY_free(k);
        k = NULL;
    }
    /* the passphrase file is its first line */
    write_text(P(0, "pass"), "pw\r\nsecond line\n");
    memset(&src, 0, sizeof(src));
    src.pkcs12 = P(0, "mode.p12");
    src.pkcs12_passphrase_file = P(1, "pass");
    CHECK_OK(certs_signer_load(&s, &src));
    certs_signer_free(s);
}

static void test_alloc_failures(void)
{
    int ok_seen = 0;
    for (unsigned long n = 1; n < 200 && !ok_seen; n++) {
        certs_signer *s = NULL;
        nt_mem_fail_after(n);
        int rc =
            certs_signer_load_pem(&s, P(0, "chain.pem"), P(1, "tsa.key"), NULL, P(2, "ca.pem"));
        nt_mem_fail_after(0);
        if (rc == 0) {
            ok_seen = 1;
            CHECK(s != NULL);
        } else {
            CHECK(s == NULL && rc == NT_ENOMEM);
        }
        certs_signer_free(s);
    }
    CHECK(ok_seen);
}

static void test_accessors(void)
{
    time_t na = 0;
    nt_buf fp = NT_BUF_INIT, fp2 = NT_BUF_INIT;
    CHECK_OK(certs_cert_not_after(&na, tsa));
    CHECK(na > time(NULL) + 800 * 86400);
    CHECK_OK(certs_cert_fingerprint(&fp, tsa));
    CHECK_OK(certs_cert_fingerprint(&fp2, root));
    CHECK(fp.len == 64 && fp2.len == 64 && strcmp(nt_buf_cstr(&fp), nt_buf_cstr(&fp2)) != 0);
    CHECK(certs_cert_fingerprint(&fp, NULL) < 0);
    CHECK(certs_cert_not_after(&na, NULL) < 0);
    nt_buf_dispose(&fp);
    nt_buf_dispose(&fp2);
}

/* DER of x equals b. */
static int der_is(const nt_buf *b, X509 *x)
{
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der);
    int same = len > 0 && b->len == (size_t)len && memcmp(b->ptr, der, b->len) == 0;
    OPENSSL_free(der);
    return same;
}

/* A receipt's certificates: the TSA certificate, then its chain, each once, never truncated. */
static void test_receipt_ders(certs_signer *s)
{
    nt_buf ders[4] = {NT_BUF_INIT, NT_BUF_INIT, NT_BUF_INIT, NT_BUF_INIT};
    size_t n = 99;

    CHECK_OK(certs_signer_receipt_ders(ders, &n, 4, s));
    CHECK(n == 2 && der_is(&ders[0], tsa) && der_is(&ders[1], root));
    /* a chain that repeats the TSA certificate and the root lists each once */
    REQUIRE(X509_up_ref(s->cert) == 1 && sk_X509_push(s->chain, s->cert) > 0);
    REQUIRE(X509_up_ref(root) == 1 && sk_X509_push(s->chain, root) > 0);
    CHECK_OK(certs_signer_receipt_ders(ders, &n, 4, s));
    CHECK(n == 2 && der_is(&ders[0], tsa) && der_is(&ders[1], root));
    X509_free(sk_X509_pop(s->chain));
    X509_free(sk_X509_pop(s->chain));
    /* negative twin: more certificates than the receipt may carry is an error, not a cut */
    CHECK_ERR(certs_signer_receipt_ders(ders, &n, 1, s), NT_ERANGE);
    CHECK(strstr(nt_error_last(), "more than 1 certificates") != NULL);
    for (size_t i = 0; i < 4; i++) {
        nt_buf_dispose(&ders[i]);
    }
}

int main(void)
{
    certs_pki_options o = {0};
    certs_signer *s = NULL;

    /* key files made here (BIO_new_file, the openssl command) are private, as they must be */
    umask(077);
    REQUIRE(test_tmpdir(base, sizeof(base)) != NULL);
    o.dir = base;
    o.log_origin = "example.test/log";
    REQUIRE(certs_pki_init(&o) == 0);
    REQUIRE(certs_signer_load_pem(&s, P(0, "chain.pem"), P(1, "tsa.key"), NULL, NULL) == 0);
    tsa = s->cert;
    tsa_key = s->key;
    root = sk_X509_value(s->chain, 0);
    REQUIRE(root != NULL);

    test_pem_plain();
    test_receipt_ders(s);
    test_pem_encrypted();
    test_p12();
    test_chain_order();
    test_errors();
    test_modes();
    test_alloc_failures();
    test_accessors();

    certs_signer_free(s);
    fx_rm_rf(base);
    return TEST_END();
}
