/*
 * record_test.c - the canonical leaf encoding of ledger/record.c: a byte-exact
 * known answer for each kind, round trips, the algorithm table, and a negative
 * twin for every field the strict decoder checks (each rejection must name
 * its field), and the 65,535-byte leaf limit at its edge in both directions.
 */
#include "tests/unit/test.h"

#include "ledger/merkle.h"
#include "ledger/record.h"

#include <openssl/obj_mac.h>

static const uint8_t digest32[32] = {
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00,
    1,    2,    3,    4,    5,    6,    7,    8,    9,    10,   11,   12,   13,   14,   15,   16};
static const uint8_t token[5] = {0x30, 0x03, 0x02, 0x01, 0x07};

static record sample_evidence(void)
{
    record r;
    memset(&r, 0, sizeof(r));
    r.kind = RECORD_KIND_EVIDENCE;
    r.alg = RECORD_ALG_SHA256;
    r.digest = NT_BYTES(digest32, 32);
    r.label = NT_BYTES("contract.signed", 15);
    r.token = NT_BYTES(token, sizeof(token));
    r.has_metadata = 1;
    memset(r.metadata_hash, 0xab, 32);
    return r;
}

/* Decode must fail with NT_EINVAL and a message containing `field`. */
static int rejects(const uint8_t *data, size_t len, const char *field)
{
    record r;
    nt_error_clear();
    int rc = record_decode(&r, data, len);
    if (rc != NT_EINVAL || strstr(nt_error_last(), field) == NULL) {
        fprintf(stderr, "  expected rejection naming \"%s\", got %s: %s\n", field,
                nt_error_name(rc), nt_error_last());
        return 0;
    }
    return 1;
}

static void test_known_answer(void)
{
    /* byte for byte as record.h / docs/FORMATS.md lay it out */
    nt_buf want = NT_BUF_INIT, got = NT_BUF_INIT;
    record r = sample_evidence(), d;

    REQUIRE(nt_buf_put(&want, "\x01\x02\x01\x20", 4) == 0);
    REQUIRE(nt_buf_put(&want, digest32, 32) == 0);
    REQUIRE(nt_buf_put(&want,
                       "\x0f"
                       "contract.signed",
                       16) == 0);
    REQUIRE(nt_buf_put(&want, "\x00\x00\x00\x05", 4) == 0);
    REQUIRE(nt_buf_put(&want, token, 5) == 0);
    REQUIRE(nt_buf_putc(&want, 0x01) == 0);
    for (int i = 0; i < 32; i++) {
        REQUIRE(nt_buf_putc(&want, 0xab) == 0);
    }
    CHECK_OK(record_encode(&got, &r));
    CHECK(got.len == want.len && got.len == 4 + 32 + 16 + 4 + 5 + 1 + 32);
    CHECK(got.len == want.len && memcmp(got.ptr, want.ptr, got.len) == 0);

    {
        /* the leaf hash docs/FORMATS.md quotes for this example */
        uint8_t h[MERKLE_HASH_SIZE];
        nt_buf hex = NT_BUF_INIT;
        merkle_leaf_hash(h, got.ptr, got.len);
        REQUIRE(nt_hex_encode(&hex, h, sizeof(h)) == 0);
        CHECK_STR(nt_buf_cstr(&hex),
                  "7d0920ac86eb181ea313fea9ef26237981e1a0d0a4ca9801c5f11f6134b800cd");
        nt_buf_dispose(&hex);
    }
    CHECK_OK(record_decode(&d, got.ptr, got.len));
    CHECK(d.kind == RECORD_KIND_EVIDENCE && d.alg == RECORD_ALG_SHA256);
    CHECK(d.digest.len == 32 && memcmp(d.digest.ptr, digest32, 32) == 0);
    CHECK(d.digest.ptr == got.ptr + 4); /* views borrow from the input */
    CHECK(d.label.len == 15 && memcmp(d.label.ptr, "contract.signed", 15) == 0);
    CHECK(d.token.len == 5 && memcmp(d.token.ptr, token, 5) == 0);
    CHECK(d.has_metadata == 1 && d.metadata_hash[31] == 0xab);

    /* a time-stamp record: no label, no metadata */
    nt_buf_clear(&got);
    r.kind = RECORD_KIND_TIMESTAMP;
    r.label = NT_BYTES(NULL, 0);
    r.has_metadata = 0;
    CHECK_OK(record_encode(&got, &r));
    CHECK(got.len == 4 + 32 + 1 + 4 + 5 + 1);
    CHECK(got.len > 4 && memcmp(got.ptr, "\x01\x01\x01\x20", 4) == 0);
    CHECK(got.len == 47 && got.ptr[36] == 0x00 && got.ptr[46] == 0x00);
    CHECK_OK(record_decode(&d, got.ptr, got.len));
    CHECK(d.kind == RECORD_KIND_TIMESTAMP && d.label.len == 0 && d.has_metadata == 0);

    /* encode appends */
    nt_buf_clear(&got);
    REQUIRE(nt_buf_puts(&got, "xy") == 0);
    CHECK_OK(record_encode(&got, &r));
    CHECK(got.len == 49 && got.ptr[0] == 'x' && got.ptr[2] == 0x01);
    nt_buf_dispose(&want);
    nt_buf_dispose(&got);
}

static void test_round_trip_all_algs(void)
{
    static const uint8_t big[64] = {0};
    nt_buf enc = NT_BUF_INIT, again = NT_BUF_INIT;
    record r = sample_evidence(), d;
    int ok = 1;
    for (int alg = RECORD_ALG_SHA256; alg <= RECORD_ALG_SM3; alg++) {
        size_t n = record_alg_size((record_alg)alg);
        r.alg = (record_alg)alg;
        r.digest = NT_BYTES(big, n);
        nt_buf_clear(&enc);
        nt_buf_clear(&again);
        ok &= n > 0 && record_encode(&enc, &r) == 0 && record_decode(&d, enc.ptr, enc.len) == 0 &&
              d.alg == r.alg && d.digest.len == n && record_encode(&again, &d) == 0 &&
              again.len == enc.len && memcmp(again.ptr, enc.ptr, enc.len) == 0;
        /* wrong digest length for this algorithm: encode refuses */
        r.digest = NT_BYTES(big, n - 1);
        nt_buf_clear(&again);
        ok &= record_encode(&again, &r) == NT_EINVAL && again.len == 0;
    }
    CHECK(ok);
    /* a maximal label */
    {
        char label[RECORD_MAX_LABEL + 1];
        memset(label, 'a', sizeof(label));
        r = sample_evidence();
        r.label = NT_BYTES(label, RECORD_MAX_LABEL);
        nt_buf_clear(&enc);
        CHECK_OK(record_encode(&enc, &r));
        CHECK_OK(record_decode(&d, enc.ptr, enc.len));
        CHECK(d.label.len == RECORD_MAX_LABEL);
        r.label = NT_BYTES(label, RECORD_MAX_LABEL + 1);
        CHECK_ERR(record_encode(&enc, &r), NT_EINVAL);
    }
    nt_buf_dispose(&enc);
    nt_buf_dispose(&again);
}

static void test_encode_rejects(void)
{
    nt_buf out = NT_BUF_INIT;
    record r;
    static const uint8_t bad_utf8[] = {'a', 0xc0, 0x80};

    r = sample_evidence();
    r.kind = (record_kind)3;
    CHECK_ERR(record_encode(&out, &r), NT_EINVAL);
    r = sample_evidence();
    r.alg = (record_alg)10; /* the first unassigned id (0x09 is SM3) */
    CHECK_ERR(record_encode(&out, &r), NT_EINVAL);
    r = sample_evidence();
    r.kind = RECORD_KIND_TIMESTAMP; /* with a label */
    CHECK_ERR(record_encode(&out, &r), NT_EINVAL);
    r = sample_evidence();
    r.token = NT_BYTES(token, 0);
    CHECK_ERR(record_encode(&out, &r), NT_EINVAL);
    r.token = NT_BYTES(token, RECORD_MAX_TOKEN + 1u);
    CHECK_ERR(record_encode(&out, &r), NT_EINVAL);
    r = sample_evidence();
    r.has_metadata = 2;
    CHECK_ERR(record_encode(&out, &r), NT_EINVAL);
    r = sample_evidence();
    r.label = NT_BYTES(bad_utf8, sizeof(bad_utf8)); /* overlong NUL */
    CHECK_ERR(record_encode(&out, &r), NT_EINVAL);
    CHECK(out.len == 0);
    nt_buf_dispose(&out);
}

static void test_decode_rejects(void)
{
    nt_buf good = NT_BUF_INIT, b = NT_BUF_INIT;
    record r = sample_evidence(), d;
    REQUIRE(record_encode(&good, &r) == 0);
    /* offsets in the sample: version 0, kind 1, alg 2, dlen 3, digest 4..35, llen 36,
     * label 37..51, tlen 52..55, token 56..60, flag 61, metadata hash 62..93 */
    REQUIRE(good.len == 94);
#define MUTATE(off, val, field)                                                                    \
    do {                                                                                           \
        REQUIRE(nt_buf_set(&b, good.ptr, good.len) == 0);                                          \
        b.ptr[off] = (val);                                                                        \
        CHECK(rejects(b.ptr, b.len, field));                                                       \
    } while (0)

    CHECK_OK(record_decode(&d, good.ptr, good.len));
    MUTATE(0, 0x02, "version");
    MUTATE(0, 0x00, "version");
    MUTATE(1, 0x00, "kind");
    MUTATE(1, 0x03, "kind");
    MUTATE(2, 0x00, "algorithm");
    MUTATE(2, 0x0a, "algorithm");
    REQUIRE(nt_buf_set(&b, good.ptr, good.len) == 0);
    b.ptr[2] = RECORD_ALG_SM3; /* SM3 is 32 bytes too: a valid leaf */
    CHECK_OK(record_decode(&d, b.ptr, b.len));
    CHECK(d.alg == RECORD_ALG_SM3);
    MUTATE(3, 0x1f, "digest length");
    MUTATE(3, 0x40, "digest length");
    MUTATE(2, RECORD_ALG_SHA384, "digest length"); /* 32 bytes claimed for SHA-384 */
    MUTATE(1, RECORD_KIND_TIMESTAMP, "label");     /* a label on kind 1 */
    MUTATE(37, 0xff, "label");                     /* invalid UTF-8 */
    MUTATE(52, 0x01, "token");                     /* 16 MiB + 5: beyond max (and data) */
    MUTATE(61, 0x02, "metadata flag");
    MUTATE(61, 0x00, "trailing"); /* flag says none, the hash follows */

    /* token length 0 */
    REQUIRE(nt_buf_set(&b, good.ptr, good.len) == 0);
    memset(b.ptr + 52, 0, 4);
    CHECK(rejects(b.ptr, b.len, "token length"));
    /* token length > max, even though the bytes are not there */
    REQUIRE(nt_buf_set(&b, good.ptr, good.len) == 0);
    b.ptr[52] = 0x01, b.ptr[53] = 0x00, b.ptr[54] = 0x00, b.ptr[55] = 0x01;
    CHECK(rejects(b.ptr, b.len, "token length"));
    /* token length larger than what follows */
    REQUIRE(nt_buf_set(&b, good.ptr, good.len) == 0);
    b.ptr[55] = 0xff;
    CHECK(rejects(b.ptr, b.len, "token"));

    /* truncation at every length, and one trailing byte */
    int ok = 1;
    for (size_t n = 0; n < good.len; n++) {
        ok &= record_decode(&d, good.ptr, n) == NT_EINVAL &&
              strstr(nt_error_last(), "truncated") != NULL;
    }
    CHECK(ok);
    REQUIRE(nt_buf_set(&b, good.ptr, good.len) == 0);
    REQUIRE(nt_buf_putc(&b, 0x00) == 0);
    CHECK(rejects(b.ptr, b.len, "trailing"));
    CHECK(rejects(NULL, 0, "version"));
#undef MUTATE
    nt_buf_dispose(&good);
    nt_buf_dispose(&b);
}

/*
 * The leaf limit (RECORD_MAX_LEAF, for tlog-tiles entry bundles): a leaf of
 * exactly 65,535 bytes encodes and decodes, one byte more is refused by both,
 * whichever field makes it long, and the refusal names the field.
 */
static void test_leaf_limit(void)
{
    nt_buf enc = NT_BUF_INIT, raw = NT_BUF_INIT;
    record r = sample_evidence(), d;
    /* the sample is 94 bytes with a 5-byte token */
    size_t fits = RECORD_MAX_LEAF - (94 - sizeof(token));
    uint8_t *big = nt_calloc(1, fits + 64);
    REQUIRE(big != NULL);

    r.token = NT_BYTES(big, fits);
    CHECK_OK(record_encode(&enc, &r));
    CHECK(enc.len == RECORD_MAX_LEAF);
    CHECK_OK(record_decode(&d, enc.ptr, enc.len));
    CHECK(d.token.len == fits && d.has_metadata == 1);

    /* one byte more: encode refuses, names the token length and leaves out untouched */
    nt_buf_clear(&enc);
    REQUIRE(nt_buf_puts(&enc, "xy") == 0);
    r.token = NT_BYTES(big, fits + 1);
    nt_error_clear();
    CHECK_ERR(record_encode(&enc, &r), NT_EINVAL);
    CHECK(strstr(nt_error_last(), "token length") != NULL &&
          strstr(nt_error_last(), "65535") != NULL);
    CHECK(enc.len == 2 && memcmp(enc.ptr, "xy", 2) == 0);
    /* ... and the same without metadata: 32 bytes more token fit, 33 do not */
    r.has_metadata = 0;
    r.token = NT_BYTES(big, fits + 32);
    nt_buf_clear(&enc);
    CHECK_OK(record_encode(&enc, &r));
    CHECK(enc.len == RECORD_MAX_LEAF);
    r.token = NT_BYTES(nt_calloc(1, fits + 33), fits + 33);
    REQUIRE(r.token.ptr != NULL);
    CHECK_ERR(record_encode(&enc, &r), NT_EINVAL);
    nt_free((void *)r.token.ptr);

    /* decode: a hand-built 65,536-byte leaf, canonical in every field but its length */
    r = sample_evidence();
    r.token = NT_BYTES(big, fits + 1);
    REQUIRE(nt_buf_put(&raw, "\x01\x02\x01\x20", 4) == 0);
    REQUIRE(nt_buf_put(&raw, digest32, 32) == 0);
    REQUIRE(nt_buf_put(&raw,
                       "\x0f"
                       "contract.signed",
                       16) == 0);
    REQUIRE(nt_buf_put_u32be(&raw, (uint32_t)(fits + 1)) == 0);
    REQUIRE(nt_buf_put(&raw, big, fits + 1) == 0);
    REQUIRE(nt_buf_putc(&raw, 0x01) == 0);
    for (int i = 0; i < 32; i++) {
        REQUIRE(nt_buf_putc(&raw, 0xab) == 0);
    }
    REQUIRE(raw.len == RECORD_MAX_LEAF + 1u);
    CHECK(rejects(raw.ptr, raw.len, "record length"));
    /* its twin, one token byte shorter, is exactly the 65,535-byte leaf encode built */
    nt_buf_clear(&enc);
    r.token = NT_BYTES(big, fits);
    REQUIRE(record_encode(&enc, &r) == 0);
    nt_buf_clear(&raw);
    REQUIRE(nt_buf_put(&raw, enc.ptr, 52) == 0);
    REQUIRE(nt_buf_put_u32be(&raw, (uint32_t)fits) == 0);
    REQUIRE(nt_buf_put(&raw, big, fits) == 0);
    REQUIRE(nt_buf_put(&raw, enc.ptr + 56 + fits, 33) == 0);
    CHECK(raw.len == RECORD_MAX_LEAF && memcmp(raw.ptr, enc.ptr, raw.len) == 0);
    CHECK_OK(record_decode(&d, raw.ptr, raw.len));

    nt_free(big);
    nt_buf_dispose(&enc);
    nt_buf_dispose(&raw);
}

static void test_alg_table(void)
{
    record_alg a;
    CHECK_STR(record_alg_name(RECORD_ALG_SHA256), "sha256");
    CHECK_STR(record_alg_name(RECORD_ALG_SHA3_512), "sha3-512");
    CHECK(record_alg_name((record_alg)0) == NULL);
    CHECK(record_alg_name((record_alg)99) == NULL);
    CHECK_OK(record_alg_from_name(&a, "SHA-384"));
    CHECK(a == RECORD_ALG_SHA384);
    CHECK_OK(record_alg_from_name(&a, "sha3-256"));
    CHECK(a == RECORD_ALG_SHA3_256);
    CHECK_OK(record_alg_from_name(&a, "MD5"));
    CHECK(a == RECORD_ALG_MD5);
    CHECK_ERR(record_alg_from_name(&a, "sha-3"), NT_EINVAL);
    CHECK_ERR(record_alg_from_name(&a, ""), NT_EINVAL);
    CHECK_ERR(record_alg_from_name(&a, NULL), NT_EINVAL);
    CHECK(record_alg_size(RECORD_ALG_SHA512) == 64 && record_alg_size(RECORD_ALG_SHA1) == 20);
    CHECK(record_alg_size((record_alg)0) == 0);
    CHECK(record_alg_nid(RECORD_ALG_SHA256) == NID_sha256);
    CHECK(record_alg_nid((record_alg)42) == NID_undef);
    CHECK_OK(record_alg_from_nid(&a, NID_sha3_384));
    CHECK(a == RECORD_ALG_SHA3_384);
    CHECK_ERR(record_alg_from_nid(&a, NID_sha224), NT_EINVAL);
    CHECK_ERR(record_alg_from_nid(&a, NID_undef), NT_EINVAL);
    /* SM3 (GB/T 32905), id 0x09, where OpenSSL has it (Debian's does; record_nosm3_test
     * covers a library without it) */
    CHECK(record_alg_available(RECORD_ALG_SM3) && record_alg_available(RECORD_ALG_SHA256));
    CHECK(!record_alg_available((record_alg)10));
    CHECK(RECORD_ALG_SM3 == 9 && record_alg_size(RECORD_ALG_SM3) == 32);
    CHECK_STR(record_alg_name(RECORD_ALG_SM3), "sm3");
    CHECK(record_alg_nid(RECORD_ALG_SM3) == NID_sm3);
    CHECK_OK(record_alg_from_name(&a, "SM3"));
    CHECK(a == RECORD_ALG_SM3);
    CHECK_OK(record_alg_from_nid(&a, NID_sm3));
    CHECK(a == RECORD_ALG_SM3);
    CHECK_ERR(record_alg_from_name(&a, "sm-3"), NT_EINVAL);
}

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_digest_parse(void)
{
    record_alg a = RECORD_ALG_MD5;
    nt_buf d = NT_BUF_INIT;
    CHECK_OK(record_digest_parse(&a, &d, "sha256:" H64));
    CHECK(a == RECORD_ALG_SHA256 && d.len == 32 && d.ptr[0] == 0x01 && d.ptr[31] == 0xef);
    /* either case in the value and the name; the digest is replaced, not appended */
    CHECK_OK(record_digest_parse(&a, &d,
                                 "SHA-256:0123456789ABCDEF0123456789ABCDEF"
                                 "0123456789ABCDEF0123456789ABCDEF"));
    CHECK(a == RECORD_ALG_SHA256 && d.len == 32 && d.ptr[7] == 0xef);
    CHECK_ERR(record_digest_parse(&a, &d, NULL), NT_EINVAL);
    CHECK_ERR(record_digest_parse(&a, &d, H64), NT_EINVAL);     /* no "<alg>:" */
    CHECK_ERR(record_digest_parse(&a, &d, ":" H64), NT_EINVAL); /* empty name */
    CHECK_ERR(record_digest_parse(&a, &d, "sha256-long-alg-name:" H64), NT_EINVAL);
    CHECK_ERR(record_digest_parse(&a, &d, "sha257:" H64), NT_EUNSUPPORTED);
    CHECK(strstr(nt_error_last(), "sha257") != NULL);
    CHECK_ERR(record_digest_parse(&a, &d, "sha256:" H64 "0"), NT_EINVAL);  /* odd hex */
    CHECK_ERR(record_digest_parse(&a, &d, "sha256:" H64 "zz"), NT_EINVAL); /* not hex */
    CHECK_ERR(record_digest_parse(&a, &d, "sha256:" H64 "00"), NT_ERANGE); /* too long */
    CHECK_ERR(record_digest_parse(&a, &d, "sha512:" H64), NT_ERANGE);      /* too short */
    CHECK_ERR(record_digest_parse(&a, &d, "sha256:"), NT_ERANGE);
    CHECK(strstr(nt_error_last(), "32 bytes, got 0") != NULL);
    CHECK_OK(record_digest_parse(&a, &d, "sm3:" H64));
    CHECK(a == RECORD_ALG_SM3 && d.len == 32);
    CHECK_ERR(record_digest_parse(&a, &d, "sm3:" H64 "00"), NT_ERANGE);
    nt_buf_dispose(&d);
}

/* Kind 0x04, a signing certificate: sha256 digest and the label "certificate", nothing else. */
static void test_certificate_kind(void)
{
    nt_buf b = NT_BUF_INIT;
    record r = sample_evidence(), d;

    r.kind = RECORD_KIND_CERTIFICATE;
    r.label = NT_BYTES(RECORD_CERTIFICATE_LABEL, strlen(RECORD_CERTIFICATE_LABEL));
    r.has_metadata = 0;
    CHECK_OK(record_encode(&b, &r));
    CHECK(b.len > 1 && b.ptr[1] == 0x04);
    CHECK_OK(record_decode(&d, b.ptr, b.len));
    CHECK(d.kind == RECORD_KIND_CERTIFICATE && d.label.len == 11);
    /* the decoder holds it to the same rules: another label in the bytes is refused */
    b.ptr[37] = 'C';
    CHECK(rejects(b.ptr, b.len, "certificate record"));
    nt_buf_clear(&b);

    r.label = NT_BYTES("contract.signed", 15);
    CHECK_ERR(record_encode(&b, &r), NT_EINVAL);
    CHECK(strstr(nt_error_last(), "label \"certificate\"") != NULL);
    r.label = NT_BYTES("", 0);
    CHECK_ERR(record_encode(&b, &r), NT_EINVAL);
    r.label = NT_BYTES(RECORD_CERTIFICATE_LABEL, strlen(RECORD_CERTIFICATE_LABEL));
    {
        static const uint8_t d48[48] = {1};
        r.alg = RECORD_ALG_SHA384;
        r.digest = NT_BYTES(d48, sizeof(d48));
        CHECK_ERR(record_encode(&b, &r), NT_EINVAL);
        CHECK(strstr(nt_error_last(), "sha256 digest") != NULL);
        CHECK(b.len == 0);
    }
    nt_buf_dispose(&b);
}

/* Kind 0x03 (case event): sha256, a label, metadata hash = digest; each twin refused. */
static void test_case_event_kind(void)
{
    record r = sample_evidence(), d;
    nt_buf out = NT_BUF_INIT;

    r.kind = RECORD_KIND_CASE_EVENT;
    r.label = NT_BYTES("document.signed", 15);
    memcpy(r.metadata_hash, digest32, 32);
    CHECK_OK(record_encode(&out, &r));
    CHECK(out.len > 2 && out.ptr[1] == 0x03);
    CHECK_OK(record_decode(&d, out.ptr, out.len));
    CHECK(d.kind == RECORD_KIND_CASE_EVENT && d.has_metadata);
    /* decode twin: a metadata hash that is not the digest */
    out.ptr[out.len - 1] ^= 1;
    CHECK(rejects(out.ptr, out.len, "case event"));
    out.ptr[out.len - 1] ^= 1;
    /* decode twin: no metadata (drop the hash, flag 0) */
    out.len -= 32;
    out.ptr[out.len - 1] = 0;
    CHECK(rejects(out.ptr, out.len, "case event"));
    /* encode twins */
    nt_buf_clear(&out);
    r.has_metadata = 0;
    CHECK_ERR(record_encode(&out, &r), NT_EINVAL);
    r.has_metadata = 1;
    r.label = NT_BYTES(NULL, 0);
    CHECK_ERR(record_encode(&out, &r), NT_EINVAL);
    r.label = NT_BYTES("document.signed", 15);
    r.alg = RECORD_ALG_SHA3_256;
    CHECK_ERR(record_encode(&out, &r), NT_EINVAL);
    CHECK(out.len == 0);
    nt_buf_dispose(&out);
}

int main(void)
{
    test_certificate_kind();
    test_case_event_kind();
    test_digest_parse();
    test_known_answer();
    test_round_trip_all_algs();
    test_encode_rejects();
    test_decode_rejects();
    test_leaf_limit();
    test_alg_table();
    return TEST_END();
}
