/*
 * pki_test.c - certs/pki.c: key types, key generation, the development PKI
 * for every TSA key type (files, permissions, profile), checked against the
 * real `openssl` command as an independent oracle, and the log key's C2SP
 * vkey line checked against an independent computation.
 */
#include "tests/unit/certs/certs_fixture.h" /* first: it sets the feature macros */

#include "ledger/note.h"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <unistd.h>

static const char *join(nt_buf *b, const char *dir, const char *name)
{
    REQUIRE(nt_path_join(b, dir, name) == 0);
    return nt_buf_cstr(b);
}

static unsigned file_mode(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        return 0xffffu;
    }
    return (unsigned)(st.st_mode & 07777);
}

static X509 *read_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *c;
    REQUIRE(f != NULL);
    c = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    return c;
}

static void test_key_types(void)
{
    certs_key_type t;
    static const struct {
        const char *name;
        certs_key_type type;
    } ok[] = {{"ec-p256", CERTS_KEY_EC_P256},  {"p256", CERTS_KEY_EC_P256},
              {"EC-P384", CERTS_KEY_EC_P384},  {"rsa-2048", CERTS_KEY_RSA2048},
              {"rsa2048", CERTS_KEY_RSA2048},  {"rsa-3072", CERTS_KEY_RSA3072},
              {"rsa-4096", CERTS_KEY_RSA4096}, {"ed25519", CERTS_KEY_ED25519},
              {"SM2", CERTS_KEY_SM2}};
    for (size_t i = 0; i < NT_ARRAY_LEN(ok); i++) {
        CHECK_OK(certs_key_type_parse(&t, ok[i].name));
        CHECK(t == ok[i].type);
    }
    CHECK_STR(certs_key_type_name(CERTS_KEY_EC_P384), "ec-p384");
    CHECK_STR(certs_key_type_name(CERTS_KEY_RSA4096), "rsa-4096");
    CHECK_STR(certs_key_type_name(CERTS_KEY_SM2), "sm2");
    /* negative twins */
    CHECK_ERR(certs_key_type_parse(&t, "rsa-1024"), NT_EINVAL);
    CHECK_ERR(certs_key_type_parse(&t, "ec-p521"), NT_EINVAL);
    CHECK_ERR(certs_key_type_parse(&t, ""), NT_EINVAL);
    CHECK_ERR(certs_key_type_parse(&t, NULL), NT_EINVAL);
    CHECK_STR(certs_key_type_name((certs_key_type)99), "unknown");
}

static void test_key_generate(void)
{
    EVP_PKEY *k = NULL;
    char group[32] = "";

    CHECK_OK(certs_key_generate(&k, CERTS_KEY_EC_P256));
    CHECK(k != NULL && EVP_PKEY_is_a(k, "EC") && EVP_PKEY_get_bits(k) == 256);
    CHECK(EVP_PKEY_get_group_name(k, group, sizeof(group), NULL) &&
          strcmp(group, "prime256v1") == 0);
    EVP_PKEY_free(k);
    CHECK_OK(certs_key_generate(&k, CERTS_KEY_EC_P384));
    CHECK(k != NULL && EVP_PKEY_get_bits(k) == 384);
    EVP_PKEY_free(k);
    CHECK_OK(certs_key_generate(&k, CERTS_KEY_ED25519));
    CHECK(k != NULL && EVP_PKEY_is_a(k, "ED25519"));
    EVP_PKEY_free(k);
    k = (EVP_PKEY *)1;
    CHECK_ERR(certs_key_generate(&k, (certs_key_type)42), NT_EINVAL);
    CHECK(k == NULL);
}

/* Checks shared by every key type; `dir` holds a fresh PKI. */
static void check_pki_dir(const char *dir, certs_key_type type, int pss)
{
    nt_buf p = NT_BUF_INIT, out = NT_BUF_INIT, p2 = NT_BUF_INIT;
    static const char *const keys[] = {"ca.key", "tsa.key", "log.key"};
    static const char *const pubs[] = {"ca.pem", "tsa.pem", "chain.pem", "log.vkey"};
    X509 *tsa, *ca;
    EVP_PKEY *pub;

    CHECK(file_mode(dir) == 0700);
    for (size_t i = 0; i < NT_ARRAY_LEN(keys); i++) {
        CHECK(file_mode(join(&p, dir, keys[i])) == 0600);
    }
    for (size_t i = 0; i < NT_ARRAY_LEN(pubs); i++) {
        unsigned m = file_mode(join(&p, dir, pubs[i]));
        CHECK(m != 0xffffu && (m & 0022) == 0);
    }

    /* independent oracle: the openssl command verifies the chain and the purpose (SM2:
     * with the GB/T default signer identifier; without it, not at all) */
    const char *vo = type == CERTS_KEY_SM2 ? "-vfyopt distid:1234567812345678" : "";
    join(&p, dir, "ca.pem");
    join(&p2, dir, "tsa.pem");
    CHECK(fx_run(&out, "openssl verify %s -CAfile '%s' '%s'", vo, nt_buf_cstr(&p),
                 nt_buf_cstr(&p2)) == 0);
    CHECK(strstr(nt_buf_cstr(&out), ": OK") != NULL);
    CHECK(fx_run(&out, "openssl verify %s -purpose timestampsign -CAfile '%s' '%s'", vo,
                 nt_buf_cstr(&p), nt_buf_cstr(&p2)) == 0);
    if (type == CERTS_KEY_SM2) {
        CHECK(fx_run(&out, "openssl verify -CAfile '%s' '%s'", nt_buf_cstr(&p), nt_buf_cstr(&p2)) !=
              0);
    }
    CHECK(fx_run(&out, "openssl x509 -noout -text -in '%s'", nt_buf_cstr(&p2)) == 0);
    const char *text = nt_buf_cstr(&out);
    CHECK(strstr(text, "X509v3 Extended Key Usage: critical") != NULL);
    CHECK(strstr(text, "Time Stamping") != NULL);
    CHECK(strstr(text, "TLS Web Server") == NULL);
    CHECK(strstr(text, "X509v3 Key Usage: critical") != NULL);
    CHECK(strstr(text, "Digital Signature, Non Repudiation") != NULL);
    CHECK(strstr(text, "Certificate Sign") == NULL);
    CHECK(strstr(text, "CA:FALSE") != NULL);
    CHECK(strstr(text, "X509v3 Subject Key Identifier") != NULL);
    CHECK(strstr(text, "X509v3 Authority Key Identifier") != NULL);
    CHECK(strstr(text, "Version: 3 (0x2)") != NULL);
    if (type == CERTS_KEY_SM2) {
        CHECK(strstr(text, "SM2-with-SM3") != NULL);
    } else if (type == CERTS_KEY_EC_P384) {
        CHECK(strstr(text, "ecdsa-with-SHA384") != NULL);
    } else if (type == CERTS_KEY_EC_P256) {
        CHECK(strstr(text, "ecdsa-with-SHA256") != NULL);
    } else if (pss) {
        CHECK(strstr(text, "rsassaPss") != NULL);
        CHECK(strstr(text, "sha256WithRSAEncryption") == NULL);
    } else {
        CHECK(strstr(text, "sha256WithRSAEncryption") != NULL);
    }
    /* the root: a v3 CA, critical basicConstraints and keyUsage */
    CHECK(fx_run(&out, "openssl x509 -noout -text -in '%s'", nt_buf_cstr(&p)) == 0);
    text = nt_buf_cstr(&out);
    CHECK(strstr(text, "X509v3 Basic Constraints: critical") != NULL);
    CHECK(strstr(text, "CA:TRUE") != NULL);
    CHECK(strstr(text, "Certificate Sign, CRL Sign") != NULL);

    /* serial numbers: positive, at least 64 bits; the TSA key matches its type */
    tsa = read_cert(nt_buf_cstr(&p2));
    ca = read_cert(nt_buf_cstr(&p));
    REQUIRE(tsa != NULL && ca != NULL);
    X509 *both[] = {tsa, ca};
    for (size_t i = 0; i < 2; i++) {
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(both[i]), NULL);
        CHECK(bn != NULL && !BN_is_negative(bn) && BN_num_bits(bn) >= 64);
        BN_free(bn);
    }
    pub = X509_get0_pubkey(tsa);
    switch (type) {
    case CERTS_KEY_EC_P256:
        CHECK(EVP_PKEY_is_a(pub, "EC") && EVP_PKEY_get_bits(pub) == 256);
        break;
    case CERTS_KEY_EC_P384:
        CHECK(EVP_PKEY_is_a(pub, "EC") && EVP_PKEY_get_bits(pub) == 384);
        break;
    case CERTS_KEY_RSA2048:
        CHECK(EVP_PKEY_is_a(pub, "RSA") && EVP_PKEY_get_bits(pub) == 2048);
        break;
    case CERTS_KEY_RSA3072:
        CHECK(EVP_PKEY_is_a(pub, "RSA") && EVP_PKEY_get_bits(pub) == 3072);
        break;
    case CERTS_KEY_RSA4096:
        CHECK(EVP_PKEY_is_a(pub, "RSA") && EVP_PKEY_get_bits(pub) == 4096);
        break;
    case CERTS_KEY_SM2:
        CHECK(EVP_PKEY_is_a(pub, "SM2") && EVP_PKEY_is_a(X509_get0_pubkey(ca), "SM2"));
        break;
    default:
        CHECK(0);
    }

    /* the TSA key and certificate load and pass the start-up checks; chain.pem = tsa + ca */
    certs_signer *s = NULL;
    nt_buf kp = NT_BUF_INIT, cp = NT_BUF_INIT;
    CHECK_OK(certs_signer_load_pem(&s, join(&cp, dir, "chain.pem"), join(&kp, dir, "tsa.key"), NULL,
                                   NULL));
    if (s != NULL) {
        CHECK(X509_cmp(s->cert, tsa) == 0);
        CHECK(sk_X509_num(s->chain) == 1 && X509_cmp(sk_X509_value(s->chain, 0), ca) == 0);
        CHECK_OK(certs_signer_check(s, time(NULL)));
    }
    certs_signer_free(s);
    X509_free(tsa);
    X509_free(ca);
    nt_buf_dispose(&kp);
    nt_buf_dispose(&cp);
    nt_buf_dispose(&p);
    nt_buf_dispose(&p2);
    nt_buf_dispose(&out);
}

static void test_pki_each_type(void)
{
    static const certs_key_type types[] = {CERTS_KEY_EC_P256, CERTS_KEY_EC_P384, CERTS_KEY_RSA2048,
                                           CERTS_KEY_RSA3072, CERTS_KEY_RSA4096, CERTS_KEY_SM2};
    char base[256];
    nt_buf dir = NT_BUF_INIT;

    REQUIRE(test_tmpdir(base, sizeof(base)) != NULL);
    for (size_t i = 0; i < NT_ARRAY_LEN(types); i++) {
        certs_pki_options o = {0};
        join(&dir, base, certs_key_type_name(types[i]));
        o.dir = nt_buf_cstr(&dir);
        o.tsa_key = types[i];
        o.log_origin = "example.test/log";
        /* one RSA PKI signs with RSASSA-PSS (the openssl oracle must accept it too) */
        o.rsa_pss = types[i] == CERTS_KEY_RSA3072;
        CHECK_OK(certs_pki_init(&o));
        check_pki_dir(o.dir, types[i], o.rsa_pss);
    }

    /* negative twin of the chain oracle: a TSA certificate does not verify under another root */
    nt_buf out = NT_BUF_INIT, a = NT_BUF_INIT, b = NT_BUF_INIT;
    join(&dir, base, "ec-p256");
    join(&a, nt_buf_cstr(&dir), "tsa.pem");
    join(&dir, base, "ec-p384");
    join(&b, nt_buf_cstr(&dir), "ca.pem");
    CHECK(fx_run(&out, "openssl verify -CAfile '%s' '%s'", nt_buf_cstr(&b), nt_buf_cstr(&a)) != 0);
    /* ... and the root is not usable as a time-stamping certificate */
    CHECK(fx_run(&out, "openssl verify -purpose timestampsign -CAfile '%s' '%s'", nt_buf_cstr(&b),
                 nt_buf_cstr(&b)) != 0);
    nt_buf_dispose(&out);
    nt_buf_dispose(&a);
    nt_buf_dispose(&b);
    nt_buf_dispose(&dir);
    fx_rm_rf(base);
}

static void test_pki_reinit_and_options(void)
{
    char base[256];
    nt_buf dir = NT_BUF_INIT, p = NT_BUF_INIT, before = NT_BUF_INIT, after = NT_BUF_INIT;
    nt_buf out = NT_BUF_INIT;
    certs_pki_options o = {0};

    REQUIRE(test_tmpdir(base, sizeof(base)) != NULL);
    join(&dir, base, "a/b/pki"); /* missing parents are created */
    o.dir = nt_buf_cstr(&dir);
    o.log_origin = "example.test/log";
    o.org = "Example Org";
    o.days = 30;
    CHECK_OK(certs_pki_init(&o));
    REQUIRE(nt_file_read(&before, join(&p, o.dir, "tsa.key"), 1 << 20) == 0);

    /* re-init without force refuses and changes nothing */
    CHECK_ERR(certs_pki_init(&o), NT_EEXISTS);
    CHECK(strstr(nt_error_last(), "already exists") != NULL);
    REQUIRE(nt_file_read(&after, join(&p, o.dir, "tsa.key"), 1 << 20) == 0);
    CHECK(before.len == after.len && memcmp(before.ptr, after.ptr, before.len) == 0);
    /* only tsa.key left: still refused */
    CHECK(remove(join(&p, o.dir, "ca.pem")) == 0);
    CHECK_ERR(certs_pki_init(&o), NT_EEXISTS);
    /* with force: new keys */
    o.force = 1;
    CHECK_OK(certs_pki_init(&o));
    REQUIRE(nt_file_read(&after, join(&p, o.dir, "tsa.key"), 1 << 20) == 0);
    CHECK(!(before.len == after.len && memcmp(before.ptr, after.ptr, before.len) == 0));

    /* org and days reach the certificate; notBefore is backdated a few minutes */
    X509 *tsa = read_cert(join(&p, o.dir, "tsa.pem"));
    REQUIRE(tsa != NULL);
    CHECK(X509_cmp_time(X509_get0_notBefore(tsa), &(time_t){time(NULL) - 120}) < 0);
    CHECK(X509_cmp_time(X509_get0_notBefore(tsa), &(time_t){time(NULL) - 600}) > 0);
    time_t na = 0;
    CHECK_OK(certs_cert_not_after(&na, tsa));
    CHECK(na > time(NULL) + 29 * 86400 && na <= time(NULL) + 30 * 86400 + 60);
    char buf[256];
    CHECK(X509_NAME_get_text_by_NID(X509_get_subject_name(tsa), NID_organizationName, buf,
                                    sizeof(buf)) > 0 &&
          strcmp(buf, "Example Org") == 0);
    CHECK(X509_NAME_get_text_by_NID(X509_get_subject_name(tsa), NID_commonName, buf, sizeof(buf)) >
              0 &&
          strcmp(buf, "Example Org TSA") == 0);
    nt_buf fp = NT_BUF_INIT;
    CHECK_OK(certs_cert_fingerprint(&fp, tsa));
    CHECK(fp.len == 64);
    /* cross-check the fingerprint with the openssl command */
    CHECK(fx_run(&out, "openssl x509 -noout -fingerprint -sha256 -in '%s'", nt_buf_cstr(&p)) == 0);
    {
        nt_buf colon = NT_BUF_INIT;
        for (size_t i = 0; i < fp.len; i += 2) {
            nt_buf_printf(&colon, "%s%c%c", i ? ":" : "", fp.ptr[i] - 32 * (fp.ptr[i] >= 'a'),
                          fp.ptr[i + 1] - 32 * (fp.ptr[i + 1] >= 'a'));
        }
        CHECK(strstr(nt_buf_cstr(&out), nt_buf_cstr(&colon)) != NULL);
        nt_buf_dispose(&colon);
    }
    nt_buf_dispose(&fp);
    X509_free(tsa);

    /* negative twins: bad options */
    certs_pki_options bad = o;
    bad.log_origin = NULL;
    CHECK_ERR(certs_pki_init(&bad), NT_EINVAL);
    bad = o;
    bad.log_origin = "has space";
    CHECK_ERR(certs_pki_init(&bad), NT_EINVAL);
    bad = o;
    bad.tsa_key = CERTS_KEY_ED25519;
    CHECK_ERR(certs_pki_init(&bad), NT_EINVAL);
    bad = o;
    bad.dir = NULL;
    CHECK_ERR(certs_pki_init(&bad), NT_EINVAL);
    CHECK_ERR(certs_pki_init(NULL), NT_EINVAL);

    nt_buf_dispose(&dir);
    nt_buf_dispose(&p);
    nt_buf_dispose(&before);
    nt_buf_dispose(&after);
    nt_buf_dispose(&out);
    fx_rm_rf(base);
}

/* The vkey computed here with EVP_Digest and EVP_EncodeBlock, independent of pki.c. */
static void expected_vkey(nt_buf *out, const char *name, EVP_PKEY *key)
{
    uint8_t pub[33], md[32];
    unsigned char b64[64];
    size_t len = 32;
    nt_buf h = NT_BUF_INIT;

    pub[0] = 0x01;
    REQUIRE(EVP_PKEY_get_raw_public_key(key, pub + 1, &len) == 1 && len == 32);
    REQUIRE(nt_buf_puts(&h, name) == 0 && nt_buf_putc(&h, 0x0a) == 0 &&
            nt_buf_put(&h, pub, sizeof(pub)) == 0);
    REQUIRE(EVP_Digest(h.ptr, h.len, md, NULL, EVP_sha256(), NULL) == 1);
    int n = EVP_EncodeBlock(b64, pub, (int)sizeof(pub));
    REQUIRE(n == 44);
    nt_buf_clear(out);
    REQUIRE(nt_buf_printf(out, "%s+%02x%02x%02x%02x+%s", name, md[0], md[1], md[2], md[3],
                          (const char *)b64) == 0);
    nt_buf_dispose(&h);
}

/* A UTF-8 origin is a valid C2SP key name: pki init accepts it and writes the vkey that the
 * ledger and the server compute (one formatter); a Unicode space or '+' is refused. */
static void test_utf8_origin(void)
{
    char base[256];
    nt_buf p = NT_BUF_INIT, vkey = NT_BUF_INIT, want = NT_BUF_INIT;
    EVP_PKEY *key = NULL;
    note_verifier v;
    certs_pki_options o = {0};

    REQUIRE(test_tmpdir(base, sizeof(base)) != NULL);
    o.dir = base;
    o.log_origin = "notarium.example/\xe6\x97\xa5\xe5\xbf\x97"; /* notarium.example/日志 */
    o.force = 1;
    CHECK_OK(certs_pki_init(&o));
    REQUIRE(certs_log_key_load(&key, join(&p, base, "log.key")) == 0);
    REQUIRE(nt_file_read(&vkey, join(&p, base, "log.vkey"), 4096) == 0);
    expected_vkey(&want, o.log_origin, key);
    CHECK(vkey.len == want.len + 1 &&
          strncmp(nt_buf_cstr(&vkey), nt_buf_cstr(&want), want.len) == 0);
    CHECK_OK(note_vkey_parse(&v, (const char *)vkey.ptr, vkey.len));
    CHECK_STR(v.name, o.log_origin);

    /* negative twins: U+3000 IDEOGRAPHIC SPACE, '+', invalid UTF-8 */
    static const char *const bad[] = {"notarium.example/\xe3\x80\x80log", "a+b",
                                      "notarium.example/\xff"};
    for (size_t i = 0; i < NT_ARRAY_LEN(bad); i++) {
        o.log_origin = bad[i];
        CHECK_ERR(certs_pki_init(&o), NT_EINVAL);
        CHECK(strstr(nt_error_last(), "key name") != NULL);
    }
    EVP_PKEY_free(key);
    nt_buf_dispose(&p);
    nt_buf_dispose(&vkey);
    nt_buf_dispose(&want);
    fx_rm_rf(base);
}

static void test_log_key_and_vkey(void)
{
    char base[256];
    nt_buf p = NT_BUF_INIT, vkey = NT_BUF_INIT, want = NT_BUF_INIT, line = NT_BUF_INIT;
    EVP_PKEY *key = NULL, *other = NULL;
    certs_pki_options o = {0};

    REQUIRE(test_tmpdir(base, sizeof(base)) != NULL);
    o.dir = base;
    o.log_origin = "notarium.example/log-1";
    o.force = 1;
    CHECK_OK(certs_pki_init(&o));

    CHECK_OK(certs_log_key_load(&key, join(&p, base, "log.key")));
    REQUIRE(key != NULL);
    CHECK(EVP_PKEY_is_a(key, "ED25519"));
    REQUIRE(nt_file_read(&vkey, join(&p, base, "log.vkey"), 4096) == 0);
    expected_vkey(&want, o.log_origin, key);
    CHECK(vkey.len == want.len + 1 && vkey.ptr[vkey.len - 1] == '\n');
    CHECK(vkey.len > 0 && strncmp(nt_buf_cstr(&vkey), nt_buf_cstr(&want), want.len) == 0);
    CHECK_OK(note_vkey_format(&line, o.log_origin, key));
    CHECK_STR(nt_buf_cstr(&line), nt_buf_cstr(&want));
    /* a known shape: name + 8 lowercase hex + base64 of 33 bytes starting with 0x01 ("AQ" /
     * "Ae"...) */
    size_t nl = strlen(o.log_origin);
    CHECK(line.len == nl + 1 + 8 + 1 + 44 && line.ptr[nl] == '+' && line.ptr[nl + 9] == '+');
    for (size_t i = nl + 1; i < nl + 9 && i < line.len; i++) {
        CHECK((line.ptr[i] >= '0' && line.ptr[i] <= '9') ||
              (line.ptr[i] >= 'a' && line.ptr[i] <= 'f'));
    }

    /* negative twins: another name gives another key id; another key another vkey */
    nt_buf_clear(&line);
    CHECK_OK(note_vkey_format(&line, "notarium.example/log-2", key));
    CHECK(strncmp(nt_buf_cstr(&line) + strlen("notarium.example/log-2") + 1,
                  nt_buf_cstr(&want) + nl + 1, 8) != 0);
    REQUIRE(certs_key_generate(&other, CERTS_KEY_ED25519) == 0);
    nt_buf_clear(&line);
    CHECK_OK(note_vkey_format(&line, o.log_origin, other));
    CHECK(strcmp(nt_buf_cstr(&line), nt_buf_cstr(&want)) != 0);
    nt_buf_clear(&line);
    CHECK_ERR(note_vkey_format(&line, "a+b", key), NT_EINVAL);
    CHECK_ERR(note_vkey_format(&line, "", key), NT_EINVAL);
    CHECK_ERR(note_vkey_format(&line, "a b", key), NT_EINVAL);
    EVP_PKEY *ec = NULL;
    REQUIRE(certs_key_generate(&ec, CERTS_KEY_EC_P256) == 0);
    CHECK_ERR(note_vkey_format(&line, "x", ec), NT_EINVAL);

    /* the log key loader refuses other key types and missing files, naming the file */
    EVP_PKEY *bad = (EVP_PKEY *)1;
    CHECK_ERR(certs_log_key_load(&bad, join(&p, base, "tsa.key")), NT_EINVAL);
    CHECK(bad == NULL);
    CHECK(strstr(nt_error_last(), "tsa.key") != NULL);
    CHECK_ERR(certs_log_key_load(&bad, join(&p, base, "missing.key")), NT_ENOTFOUND);
    CHECK(strstr(nt_error_last(), "missing.key") != NULL);
    CHECK_ERR(certs_log_key_load(&bad, join(&p, base, "ca.pem")), NT_EINVAL);
    CHECK(strstr(nt_error_last(), "ca.pem") != NULL);

    EVP_PKEY_free(ec);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
    nt_buf_dispose(&p);
    nt_buf_dispose(&vkey);
    nt_buf_dispose(&want);
    nt_buf_dispose(&line);
    fx_rm_rf(base);
}

int main(void)
{
    test_key_types();
    test_key_generate();
    test_pki_each_type();
    test_pki_reinit_and_options();
    test_log_key_and_vkey();
    test_utf8_origin();
    return TEST_END();
}
