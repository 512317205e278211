/*
 * note_test.c - C2SP signed notes, vkeys and checkpoints in ledger/note.c.
 * Known answers: the signed-note spec's own example (vkey + note), RFC 8032
 * test 1's key and signature through our Ed25519 path, and the key ID
 * formula computed independently.  Every accepted note has its rejected twins
 * (wrong key, tampered body, tampered signature, malformed lines and vkeys).
 */
#include "tests/unit/test.h"

#include "ledger/note.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

/* From c2sp.org/signed-note, "Verifier keys / Example". */
static const char spec_vkey[] =
    "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
static const char spec_note[] = "This is an example message.\n"
                                "\n"
                                "\xe2\x80\x94 example.com/foo "
                                "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOB"
                                "H3mFXmRKuwHjG1Yu72IneyaQM=\n";

/* RFC 8032 section 7.1, TEST 1. */
static const char rfc8032_sk[] = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
static const char rfc8032_pk[] = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

static EVP_PKEY *key_from_hex(const char *hex)
{
    nt_buf raw = NT_BUF_INIT;
    REQUIRE(nt_hex_decode(&raw, hex, strlen(hex)) == 0 && raw.len == 32);
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw.ptr, raw.len);
    REQUIRE(k != NULL);
    nt_buf_dispose(&raw);
    return k;
}

static EVP_PKEY *new_key(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    REQUIRE(k != NULL);
    return k;
}

static note_verifier verifier_for(const char *name, EVP_PKEY *key)
{
    nt_buf vk = NT_BUF_INIT;
    note_verifier v;
    REQUIRE(note_vkey_format(&vk, name, key) == 0);
    REQUIRE(note_vkey_parse(&v, (const char *)vk.ptr, vk.len) == 0);
    nt_buf_dispose(&vk);
    return v;
}

static void test_spec_example(void)
{
    note_verifier v;
    size_t body = 0;
    CHECK_OK(note_vkey_parse(&v, spec_vkey, strlen(spec_vkey)));
    CHECK_STR(v.name, "example.com/foo");
    CHECK(v.key_id == 0x530d903a);
    CHECK(note_key_id(v.name, v.public_key) == 0x530d903a);
    CHECK_OK(note_verify(&body, spec_note, strlen(spec_note), &v));
    CHECK(body == strlen("This is an example message.\n"));

    /* twins: one changed byte of text, of signature, of key name */
    char buf[sizeof(spec_note)];
    memcpy(buf, spec_note, sizeof(spec_note));
    buf[0] = 't';
    CHECK_ERR(note_verify(&body, buf, strlen(buf), &v), NT_EVERIFY);
    memcpy(buf, spec_note, sizeof(spec_note));
    buf[strlen(buf) - 10] = buf[strlen(buf) - 10] == 'A' ? 'B' : 'A';
    CHECK_ERR(note_verify(&body, buf, strlen(buf), &v), NT_EVERIFY);
    memcpy(buf, spec_note, sizeof(spec_note));
    char *name = strstr(buf, "example.com/foo ");
    REQUIRE(name != NULL);
    name[14] = 'x'; /* "example.com/fox": an unknown key, ignored -> no known signature */
    CHECK_ERR(note_verify(&body, buf, strlen(buf), &v), NT_EVERIFY);
    /* the vkey with a key ID that does not match */
    char vk[sizeof(spec_vkey)];
    memcpy(vk, spec_vkey, sizeof(spec_vkey));
    vk[16] = '6';
    CHECK_ERR(note_vkey_parse(&v, vk, strlen(vk)), NT_EINVAL);
}

static void test_rfc8032_and_key_id(void)
{
    EVP_PKEY *k = key_from_hex(rfc8032_sk);
    nt_buf vk = NT_BUF_INIT, pk = NT_BUF_INIT, signed_note = NT_BUF_INIT, sig = NT_BUF_INIT;
    note_verifier v;
    uint8_t h[SHA256_DIGEST_LENGTH];

    REQUIRE(nt_hex_decode(&pk, rfc8032_pk, strlen(rfc8032_pk)) == 0);
    /* key ID computed here independently: SHA-256(name || 0x0A || 0x01 || pk)[:4] */
    {
        uint8_t in[64];
        size_t n = 0;
        memcpy(in, "rfc8032.test/1", 14), n = 14;
        in[n++] = 0x0a;
        in[n++] = 0x01;
        memcpy(in + n, pk.ptr, 32), n += 32;
        SHA256(in, n, h);
    }
    CHECK(note_key_id("rfc8032.test/1", pk.ptr) == nt_load_u32be(h));
    CHECK(note_key_id("rfc8032.test/2", pk.ptr) != nt_load_u32be(h));

    CHECK_OK(note_vkey_format(&vk, "rfc8032.test/1", k));
    CHECK_OK(note_vkey_parse(&v, (const char *)vk.ptr, vk.len));
    CHECK_MEM(v.public_key, pk.ptr, 32);
    CHECK(v.key_id == nt_load_u32be(h));
    {
        /* the vkey is exactly name + "+" + 8 lowercase hex + "+" + base64(0x01 || pk) */
        nt_buf want = NT_BUF_INIT;
        uint8_t raw[33];
        raw[0] = 1;
        memcpy(raw + 1, pk.ptr, 32);
        REQUIRE(nt_buf_printf(&want, "rfc8032.test/1+%02x%02x%02x%02x+", h[0], h[1], h[2], h[3]) ==
                0);
        REQUIRE(nt_base64_encode(&want, raw, 33) == 0);
        CHECK_STR(nt_buf_cstr(&vk), nt_buf_cstr(&want));
        nt_buf_dispose(&want);
    }

    /* Ed25519 is deterministic: our signature of a note text must be what RFC 8032 gives for
     * that message; the one-shot EVP path is checked against the RFC's empty-message answer */
    {
        static const char want_empty[] =
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
            "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
        uint8_t s[64];
        size_t slen = sizeof(s);
        nt_buf hex = NT_BUF_INIT;
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        REQUIRE(md != NULL && EVP_DigestSignInit(md, NULL, NULL, NULL, k) == 1 &&
                EVP_DigestSign(md, s, &slen, (const uint8_t *)"", 0) == 1);
        REQUIRE(nt_hex_encode(&hex, s, slen) == 0);
        CHECK_STR(nt_buf_cstr(&hex), want_empty);
        EVP_MD_CTX_free(md);
        nt_buf_dispose(&hex);
    }
    CHECK_OK(note_sign(&signed_note, "hello\n", 6, "rfc8032.test/1", k));
    {
        /* layout: text, blank line, em dash, space, name, space, base64(id || sig), newline */
        const char *s = nt_buf_cstr(&signed_note);
        const char *prefix = "hello\n\n\xe2\x80\x94 rfc8032.test/1 ";
        CHECK(strncmp(s, prefix, strlen(prefix)) == 0);
        CHECK(s[signed_note.len - 1] == '\n');
        const char *b64 = s + strlen(prefix);
        REQUIRE(nt_base64_decode(&sig, b64, strlen(b64) - 1) == 0);
        CHECK(sig.len == 68 && nt_load_u32be(sig.ptr) == v.key_id);
        EVP_PKEY *pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk.ptr, 32);
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        REQUIRE(pub != NULL && md != NULL && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pub) == 1);
        /* the signature covers exactly the text, final newline included */
        CHECK(EVP_DigestVerify(md, sig.ptr + 4, 64, (const uint8_t *)"hello\n", 6) == 1);
        EVP_MD_CTX_free(md);
        md = EVP_MD_CTX_new();
        REQUIRE(md != NULL && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pub) == 1);
        CHECK(EVP_DigestVerify(md, sig.ptr + 4, 64, (const uint8_t *)"hello", 5) != 1);
        EVP_MD_CTX_free(md);
        EVP_PKEY_free(pub);
    }
    size_t body = 0;
    CHECK_OK(note_verify(&body, (const char *)signed_note.ptr, signed_note.len, &v));
    CHECK(body == 6);
    nt_buf_dispose(&vk);
    nt_buf_dispose(&pk);
    nt_buf_dispose(&signed_note);
    nt_buf_dispose(&sig);
    EVP_PKEY_free(k);
}

static void test_sign_verify(void)
{
    EVP_PKEY *k = new_key(), *other = new_key();
    note_verifier v = verifier_for("notarium.test/log", k);
    note_verifier w = verifier_for("notarium.test/log", other);
    note_verifier x = verifier_for("notarium.test/other", k);
    nt_buf n = NT_BUF_INIT, b = NT_BUF_INIT;
    size_t body = 0;
    const char *text = "line one\n\nline three after an empty line\n";

    CHECK_OK(note_sign(&n, text, strlen(text), "notarium.test/log", k));
    CHECK_OK(note_verify(&body, (const char *)n.ptr, n.len, &v));
    CHECK(body == strlen(text) && memcmp(n.ptr, text, body) == 0);
    /* wrong key (same name, different key: its ID differs, so the line is unknown) */
    CHECK_ERR(note_verify(&body, (const char *)n.ptr, n.len, &w), NT_EVERIFY);
    /* same key under another name: unknown too */
    CHECK_ERR(note_verify(&body, (const char *)n.ptr, n.len, &x), NT_EVERIFY);
    /* a known name and ID whose key is wrong: the signature must be verified, and fails */
    {
        note_verifier forged = v;
        memcpy(forged.public_key, w.public_key, 32);
        CHECK_ERR(note_verify(&body, (const char *)n.ptr, n.len, &forged), NT_EVERIFY);
    }
    /* tampered body */
    REQUIRE(nt_buf_set(&b, n.ptr, n.len) == 0);
    b.ptr[2] ^= 0x01;
    CHECK_ERR(note_verify(&body, (const char *)b.ptr, b.len, &v), NT_EVERIFY);
    /* tampered signature: the last base64 character before '\n' (kept canonical) */
    REQUIRE(nt_buf_set(&b, n.ptr, n.len) == 0);
    b.ptr[b.len - 4] = b.ptr[b.len - 4] == 'A' ? 'B' : 'A';
    CHECK_ERR(note_verify(&body, (const char *)b.ptr, b.len, &v), NT_EVERIFY);

    /* a second, unknown signature before and after ours is ignored */
    {
        nt_buf two = NT_BUF_INIT, one = NT_BUF_INIT;
        REQUIRE(note_sign(&one, text, strlen(text), "witness.test/w", other) == 0);
        REQUIRE(nt_buf_put(&two, one.ptr, one.len) == 0);
        REQUIRE(nt_buf_put(&two, n.ptr + strlen(text) + 1, n.len - strlen(text) - 1) == 0);
        CHECK_OK(note_verify(&body, (const char *)two.ptr, two.len, &v));
        CHECK(body == strlen(text));
        note_verifier wv = verifier_for("witness.test/w", other);
        CHECK_OK(note_verify(&body, (const char *)two.ptr, two.len, &wv));
        /* a signature line of an unknown type/length from an unknown key: still ignored */
        REQUIRE(nt_buf_puts(&two, "\xe2\x80\x94 someone.else/k AAAAAAAA\n") == 0);
        CHECK_OK(note_verify(&body, (const char *)two.ptr, two.len, &v));
        /* but not a malformed one */
        REQUIRE(nt_buf_puts(&two, "\xe2\x80\x94 someone.else/k AAA\n") == 0);
        CHECK_ERR(note_verify(&body, (const char *)two.ptr, two.len, &v), NT_EINVAL);
        nt_buf_dispose(&two);
        nt_buf_dispose(&one);
    }

    /* signing refuses bad texts, names and keys */
    nt_buf_clear(&b);
    CHECK_ERR(note_sign(&b, "no newline", 10, "a", k), NT_EINVAL);
    CHECK_ERR(note_sign(&b, "", 0, "a", k), NT_EINVAL);
    CHECK_ERR(note_sign(&b, "cr\r\n", 4, "a", k), NT_EINVAL);
    CHECK_ERR(note_sign(&b, "bad \xff utf8\n", 11, "a", k), NT_EINVAL);
    CHECK_ERR(note_sign(&b, "ok\n", 3, "has space", k), NT_EINVAL);
    CHECK_ERR(note_sign(&b, "ok\n", 3, "has+plus", k), NT_EINVAL);
    CHECK_ERR(note_sign(&b, "ok\n", 3, "", k), NT_EINVAL);
    CHECK_ERR(note_sign(&b, "ok\n", 3, "nbsp\xc2\xa0name", k), NT_EINVAL);
    {
        EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        REQUIRE(ec != NULL);
        CHECK_ERR(note_sign(&b, "ok\n", 3, "a", ec), NT_EINVAL);
        nt_buf vk = NT_BUF_INIT;
        CHECK_ERR(note_vkey_format(&vk, "a", ec), NT_EINVAL);
        nt_buf_dispose(&vk);
        EVP_PKEY_free(ec);
    }
    CHECK(b.len == 0);
    CHECK_OK(note_sign(&b, "ok\n", 3, "a", k)); /* the positive twin */
    nt_buf_dispose(&n);
    nt_buf_dispose(&b);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
}

static void test_malformed_notes(void)
{
    EVP_PKEY *k = new_key();
    note_verifier v = verifier_for("log.test/a", k);
    nt_buf n = NT_BUF_INIT, b = NT_BUF_INIT;
    size_t body;
    REQUIRE(note_sign(&n, "text\n", 5, "log.test/a", k) == 0);
    const char *sigline = (const char *)n.ptr + 6;
    size_t siglen = n.len - 6;

#define NOTE(...)                                                                                  \
    do {                                                                                           \
        nt_buf_clear(&b);                                                                          \
        REQUIRE(nt_buf_printf(&b, __VA_ARGS__) == 0);                                              \
    } while (0)

    NOTE("text\n\n%.*s", (int)siglen, sigline);
    CHECK_OK(note_verify(&body, (const char *)b.ptr, b.len, &v));
    /* no blank line */
    NOTE("text\n%.*s", (int)siglen, sigline);
    CHECK_ERR(note_verify(&body, (const char *)b.ptr, b.len, &v), NT_EINVAL);
    /* no final newline */
    NOTE("text\n\n%.*s", (int)siglen - 1, sigline);
    CHECK_ERR(note_verify(&body, (const char *)b.ptr, b.len, &v), NT_EINVAL);
    /* no signature lines */
    NOTE("text\n\n");
    CHECK_ERR(note_verify(&body, (const char *)b.ptr, b.len, &v), NT_EINVAL);
    /* a blank line after the signatures makes them part of the text: nothing signed */
    NOTE("text\n\n%.*s\n", (int)siglen, sigline);
    CHECK_ERR(note_verify(&body, (const char *)b.ptr, b.len, &v), NT_EINVAL);
    /* hyphen instead of em dash */
    NOTE("text\n\n- %.*s", (int)siglen - 4, sigline + 4);
    CHECK_ERR(note_verify(&body, (const char *)b.ptr, b.len, &v), NT_EINVAL);
    /* em dash without the space */
    NOTE("text\n\n\xe2\x80\x94%.*s", (int)siglen - 4, sigline + 4);
    CHECK_ERR(note_verify(&body, (const char *)b.ptr, b.len, &v), NT_EINVAL);
    /* CR LF line endings, a control character, invalid UTF-8 */
    NOTE("text\r\n\n%.*s", (int)siglen, sigline);
    CHECK_ERR(note_verify(&body, (const char *)b.ptr, b.len, &v), NT_EINVAL);
    NOTE("te\txt\n\n%.*s", (int)siglen, sigline);
    CHECK_ERR(note_verify(&body, (const char *)b.ptr, b.len, &v), NT_EINVAL);
    NOTE("te\xc3xt\n\n%.*s", (int)siglen, sigline);
    CHECK_ERR(note_verify(&body, (const char *)b.ptr, b.len, &v), NT_EINVAL);
    /* signature not base64 */
    NOTE("text\n\n\xe2\x80\x94 log.test/a !!!!\n");
    CHECK_ERR(note_verify(&body, (const char *)b.ptr, b.len, &v), NT_EINVAL);
    /* no signature after the name */
    NOTE("text\n\n\xe2\x80\x94 log.test/a\n");
    CHECK_ERR(note_verify(&body, (const char *)b.ptr, b.len, &v), NT_EINVAL);

    /* up to 100 signatures are accepted (16 are required by the spec), 101 are not */
    nt_buf_clear(&b);
    REQUIRE(nt_buf_puts(&b, "text\n\n") == 0);
    for (int i = 0; i < 99; i++) {
        REQUIRE(nt_buf_printf(&b, "\xe2\x80\x94 other.test/%d AAAAAAAA\n", i) == 0);
    }
    REQUIRE(nt_buf_put(&b, sigline, siglen) == 0);
    CHECK_OK(note_verify(&body, (const char *)b.ptr, b.len, &v));
    REQUIRE(nt_buf_puts(&b, "\xe2\x80\x94 other.test/x AAAAAAAA\n") == 0);
    CHECK_ERR(note_verify(&body, (const char *)b.ptr, b.len, &v), NT_EINVAL);

    /* size limit */
    {
        size_t big = NOTE_MAX_SIZE + 1;
        char *t = malloc(big + 1);
        REQUIRE(t != NULL);
        memset(t, 'a', big);
        t[big - 1] = '\n';
        t[big] = 0;
        nt_buf_clear(&b);
        CHECK_ERR(note_sign(&b, t, big, "log.test/a", k), NT_EINVAL);
        CHECK_ERR(note_verify(&body, t, big, &v), NT_EINVAL);
        free(t);
    }
#undef NOTE
    nt_buf_dispose(&n);
    nt_buf_dispose(&b);
    EVP_PKEY_free(k);
}

static void test_vkeys(void)
{
    note_verifier v;
    static const char *bad[] = {
        "",
        "example.com/foo",
        "example.com/foo+530d903a",
        "+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",                /* empty name */
        "example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", /* uppercase hex */
        "example.com/foo+530d903+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  /* 7 digits */
        "example.com/foo+530d903a0+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903g+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2",   /* bad base64 */
        "example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  /* type 0x02 */
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv",      /* short key */
        "example.com/fo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",   /* ID mismatch */
        "example com+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",      /* space */
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k=", /* trailing = */
    };
    int ok = 1;
    for (size_t i = 0; i < NT_ARRAY_LEN(bad); i++) {
        int rc = note_vkey_parse(&v, bad[i], strlen(bad[i]));
        if (rc != NT_EINVAL) {
            fprintf(stderr, "vkey accepted: %s\n", bad[i]);
            ok = 0;
        }
    }
    CHECK(ok);
    /* surrounding whitespace (a vkey file with a final newline) is tolerated */
    CHECK_OK(note_vkey_parse(
        &v, "  example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k\n",
        strlen(spec_vkey) + 3));
    CHECK(v.key_id == 0x530d903a);
    /* a newline inside is not */
    CHECK_ERR(note_vkey_parse(
                  &v, "example.com\n/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
                  strlen(spec_vkey) + 1),
              NT_EINVAL);
    {
        /* a name of 256 bytes does not fit */
        char name[300];
        memset(name, 'n', 256);
        name[256] = 0;
        EVP_PKEY *k = new_key();
        nt_buf vk = NT_BUF_INIT;
        CHECK_ERR(note_vkey_format(&vk, name, k), NT_EINVAL);
        name[255] = 0;
        CHECK_OK(note_vkey_format(&vk, name, k));
        CHECK_OK(note_vkey_parse(&v, (const char *)vk.ptr, vk.len));
        CHECK(strlen(v.name) == 255);
        nt_buf_dispose(&vk);
        EVP_PKEY_free(k);
    }
}

static void test_checkpoints(void)
{
    EVP_PKEY *k = new_key(), *other = new_key();
    note_verifier v = verifier_for("notarium.test/log", k);
    checkpoint c, d;
    nt_buf body = NT_BUF_INIT, n = NT_BUF_INIT, b = NT_BUF_INIT;

    memset(&c, 0, sizeof(c));
    strcpy(c.origin, "notarium.test/log");
    c.size = 20852163;
    for (int i = 0; i < 32; i++) {
        c.root[i] = (uint8_t)i;
    }
    CHECK_OK(checkpoint_format(&body, &c));
    CHECK_STR(nt_buf_cstr(&body),
              "notarium.test/log\n20852163\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n");
    CHECK_OK(checkpoint_parse(&d, (const char *)body.ptr, body.len));
    CHECK(memcmp(&c, &d, sizeof(c)) == 0);

    CHECK_OK(checkpoint_sign(&n, &c, k));
    CHECK(n.len > body.len && memcmp(n.ptr, body.ptr, body.len) == 0);
    memset(&d, 0, sizeof(d));
    CHECK_OK(checkpoint_open(&d, (const char *)n.ptr, n.len, &v, 0));
    CHECK(memcmp(&c, &d, sizeof(c)) == 0);
    /* wrong key; tampered size */
    note_verifier w = verifier_for("notarium.test/log", other);
    CHECK_ERR(checkpoint_open(&d, (const char *)n.ptr, n.len, &w, 0), NT_EVERIFY);
    REQUIRE(nt_buf_set(&b, n.ptr, n.len) == 0);
    b.ptr[strlen("notarium.test/log\n")] = '3';
    CHECK_ERR(checkpoint_open(&d, (const char *)b.ptr, b.len, &v, 0), NT_EVERIFY);

    /* origin must equal the key name, unless any_origin */
    {
        note_verifier x = verifier_for("notarium.test/other", k);
        nt_buf m = NT_BUF_INIT;
        REQUIRE(note_sign(&m, (const char *)body.ptr, body.len, "notarium.test/other", k) == 0);
        CHECK_ERR(checkpoint_open(&d, (const char *)m.ptr, m.len, &x, 0), NT_EVERIFY);
        CHECK_OK(checkpoint_open(&d, (const char *)m.ptr, m.len, &x, 1));
        CHECK_STR(d.origin, "notarium.test/log");
        nt_buf_dispose(&m);
    }

    /* extension lines are allowed, signed, and ignored */
    {
        nt_buf ext = NT_BUF_INIT, m = NT_BUF_INIT;
        REQUIRE(nt_buf_put(&ext, body.ptr, body.len) == 0);
        REQUIRE(nt_buf_puts(&ext, "ext one\nExt two: — x\n") == 0);
        CHECK_OK(checkpoint_parse(&d, (const char *)ext.ptr, ext.len));
        CHECK(d.size == c.size);
        REQUIRE(note_sign(&m, (const char *)ext.ptr, ext.len, "notarium.test/log", k) == 0);
        CHECK_OK(checkpoint_open(&d, (const char *)m.ptr, m.len, &v, 0));
        CHECK(d.size == c.size);
        /* an empty extension line cannot even be signed as a checkpoint: it would end the
         * text, so the parser sees the blank line as the separator */
        REQUIRE(nt_buf_puts(&ext, "\nlast\n") == 0);
        CHECK_ERR(checkpoint_parse(&d, (const char *)ext.ptr, ext.len), NT_EINVAL);
        nt_buf_dispose(&ext);
        nt_buf_dispose(&m);
    }

    /* malformed bodies */
    static const char *bad[] = {
        "",
        "notarium.test/log\n",
        "notarium.test/log\n5\n",
        "notarium.test/log\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",    /* no final \n */
        "notarium.test/log\n01\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", /* leading 0 */
        "notarium.test/log\n+1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "notarium.test/log\n1 \nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "notarium.test/log\n18446744073709551616\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "notarium.test/log\n\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",    /* empty size */
        "notarium.test/log\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n",    /* no padding */
        "notarium.test/log\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh==\n",   /* 31 bytes */
        "notarium.test/log\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8A\n",   /* not base64 */
        "notarium.test/log\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\n", /* empty ext */
        "\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",                    /* empty origin */
        "notarium.test/log\r\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
    };
    int ok = 1;
    for (size_t i = 0; i < NT_ARRAY_LEN(bad); i++) {
        if (checkpoint_parse(&d, bad[i], strlen(bad[i])) != NT_EINVAL) {
            fprintf(stderr, "checkpoint accepted: %s\n", bad[i]);
            ok = 0;
        }
    }
    CHECK(ok);
    /* twins of the edge cases: size 0 and the largest size are canonical */
    CHECK_OK(checkpoint_parse(&d, "o\n0\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", 49));
    CHECK(d.size == 0);
    const char *max = "o\n18446744073709551615\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n";
    CHECK_OK(checkpoint_parse(&d, max, strlen(max)));
    CHECK(d.size == UINT64_MAX);
    /* formatting refuses an empty origin; signing an origin that is no key name */
    memset(&d, 0, sizeof(d));
    nt_buf_clear(&b);
    CHECK_ERR(checkpoint_format(&b, &d), NT_EINVAL);
    strcpy(d.origin, "has space");
    CHECK_OK(checkpoint_format(&b, &d));
    CHECK_ERR(checkpoint_sign(&b, &d, k), NT_EINVAL);

    nt_buf_dispose(&body);
    nt_buf_dispose(&n);
    nt_buf_dispose(&b);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
}

/*
 * A checkpoint signed by an independent implementation (Python's `cryptography` Ed25519, while
 * generating the note fuzz corpus) with the key whose raw private half is `indep_sk`: we must
 * verify it, and our own signature of the same body must be byte-identical (Ed25519 is
 * deterministic).
 */
static const char indep_sk[] = "e5be9a58e9e0bf43748bab1a380cc3d69c819e93344273d7703224137e195385";
static const char indep_vkey[] =
    "notarium.test/log+213381ff+AdVtmUVF4PO3u1/uVZrn4+YmzqtENiwTrcaUYR/rTJkK";
static const char indep_note[] =
    "notarium.test/log\n42\nSBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I=\n\n"
    "\xe2\x80\x94 notarium.test/log "
    "ITOB/"
    "8uOvoWYSn7UoGSWhtHLLhqqcfsFs6U0XPBINCcyPOKPopN0k78Glbso4DPyodIxU5SLfuHBuFDOhrA+y76tzAg=\n";

static void test_independent_signer(void)
{
    note_verifier v;
    checkpoint c;
    nt_buf mine = NT_BUF_INIT, vk = NT_BUF_INIT;
    EVP_PKEY *k = key_from_hex(indep_sk);

    CHECK_OK(note_vkey_parse(&v, indep_vkey, strlen(indep_vkey)));
    CHECK_OK(checkpoint_open(&c, indep_note, strlen(indep_note), &v, 0));
    CHECK(c.size == 42 && strcmp(c.origin, "notarium.test/log") == 0);
    CHECK_OK(note_vkey_format(&vk, "notarium.test/log", k));
    CHECK_STR(nt_buf_cstr(&vk), indep_vkey);
    CHECK_OK(checkpoint_sign(&mine, &c, k));
    CHECK_STR(nt_buf_cstr(&mine), indep_note);
    /* twin: the same note claiming size 43 */
    char buf[sizeof(indep_note)];
    memcpy(buf, indep_note, sizeof(buf));
    buf[19] = '3';
    CHECK_ERR(checkpoint_open(&c, buf, strlen(buf), &v, 0), NT_EVERIFY);
    nt_buf_dispose(&mine);
    nt_buf_dispose(&vk);
    EVP_PKEY_free(k);
}

int main(void)
{
    test_independent_signer();
    test_spec_example();
    test_rfc8032_and_key_id();
    test_sign_verify();
    test_malformed_notes();
    test_vkeys();
    test_checkpoints();
    return TEST_END();
}
