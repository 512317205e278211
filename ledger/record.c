/*
 * record.c - the canonical leaf encoding (version 1) described byte for byte
 * in record.h and docs/FORMATS.md, and the digest algorithm table.  Part of
 * the pure `nt_merkle` library; the ledger writes leaves with record_encode,
 * the verifier and the auditor read them with record_decode.
 *
 * The decoder is deliberately strict: a leaf hash commits to bytes, so a
 * second accepted spelling of the same record would let two different leaves
 * claim the same evidence.  Every rejection names the field.
 */
#include "ledger/record.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <string.h>
#include <strings.h>

/* version, kind, algorithm, digest length, label length, token length (4), metadata flag */
#define RECORD_FIXED_SIZE 10u

static const struct {
    record_alg alg;
    const char *name;
    const char *alt; /* the "sha-256" style spelling, NULL when there is none */
    size_t size;
    int nid;
} alg_table[] = {
    {RECORD_ALG_SHA256, "sha256", "sha-256", 32, NID_sha256},
    {RECORD_ALG_SHA384, "sha384", "sha-384", 48, NID_sha384},
    {RECORD_ALG_SHA512, "sha512", "sha-512", 64, NID_sha512},
    {RECORD_ALG_SHA3_256, "sha3-256", "sha3_256", 32, NID_sha3_256},
    {RECORD_ALG_SHA3_384, "sha3-384", "sha3_384", 48, NID_sha3_384},
    {RECORD_ALG_SHA3_512, "sha3-512", "sha3_512", 64, NID_sha3_512},
    {RECORD_ALG_SHA1, "sha1", "sha-1", 20, NID_sha1},
    {RECORD_ALG_MD5, "md5", NULL, 16, NID_md5},
    {RECORD_ALG_SM3, "sm3", NULL, 32, NID_sm3},
};

int record_alg_available(record_alg alg)
{
    EVP_MD *md;

    if (alg != RECORD_ALG_SM3) {
        return record_alg_size(alg) != 0;
    }
    /* SM3 may be compiled out, or absent from the loaded providers: ask by fetching */
    ERR_set_mark();
    md = EVP_MD_fetch(NULL, "SM3", NULL);
    ERR_pop_to_mark();
    EVP_MD_free(md);
    return md != NULL;
}

const char *record_alg_name(record_alg alg)
{
    for (size_t i = 0; i < NT_ARRAY_LEN(alg_table); i++) {
        if (alg_table[i].alg == alg) {
            return alg_table[i].name;
        }
    }
    return NULL;
}

int record_alg_from_name(record_alg *out, const char *name)
{
    if (name == NULL) {
        return nt_error_set(NT_EINVAL, "digest algorithm: missing name");
    }
    for (size_t i = 0; i < NT_ARRAY_LEN(alg_table); i++) {
        if (strcasecmp(name, alg_table[i].name) == 0 ||
            (alg_table[i].alt != NULL && strcasecmp(name, alg_table[i].alt) == 0)) {
            if (!record_alg_available(alg_table[i].alg)) {
                break;
            }
            *out = alg_table[i].alg;
            return 0;
        }
    }
    return nt_error_set(NT_EINVAL, "digest algorithm: unknown name \"%.64s\"", name);
}

int record_digest_parse(record_alg *alg, nt_buf *digest, const char *text)
{
    const char *colon = text != NULL ? strchr(text, ':') : NULL;
    char name[16];
    size_t want;

    if (colon == NULL || colon == text || (size_t)(colon - text) >= sizeof(name)) {
        return nt_error_set(NT_EINVAL,
                            "the digest must be written \"<alg>:<hex>\", e.g. \"sha256:...\"");
    }
    memcpy(name, text, (size_t)(colon - text));
    name[colon - text] = '\0';
    if (record_alg_from_name(alg, name) < 0) {
        return nt_error_set(NT_EUNSUPPORTED, "unknown digest algorithm '%s'", name);
    }
    nt_buf_clear(digest);
    if (nt_hex_decode(digest, colon + 1, strlen(colon + 1)) < 0) {
        return nt_error_set(NT_EINVAL, "the digest value is not hex");
    }
    want = record_alg_size(*alg);
    if (digest->len != want) {
        return nt_error_set(NT_ERANGE, "a %s digest is %zu bytes, got %zu", record_alg_name(*alg),
                            want, digest->len);
    }
    return 0;
}

size_t record_alg_size(record_alg alg)
{
    for (size_t i = 0; i < NT_ARRAY_LEN(alg_table); i++) {
        if (alg_table[i].alg == alg) {
            return alg_table[i].size;
        }
    }
    return 0;
}

int record_alg_nid(record_alg alg)
{
    for (size_t i = 0; i < NT_ARRAY_LEN(alg_table); i++) {
        if (alg_table[i].alg == alg) {
            return alg_table[i].nid;
        }
    }
    return NID_undef;
}

int record_alg_from_nid(record_alg *out, int nid)
{
    for (size_t i = 0; i < NT_ARRAY_LEN(alg_table); i++) {
        if (alg_table[i].nid == nid && record_alg_available(alg_table[i].alg)) {
            *out = alg_table[i].alg;
            return 0;
        }
    }
    return nt_error_set(NT_EINVAL, "digest algorithm: NID %d is not supported", nid);
}

/* The checks shared by encode and decode, so that both accept exactly the same records. */
static int check_fields(record_kind kind, record_alg alg, size_t digest_len, nt_bytes label,
                        size_t token_len)
{
    size_t want;
    if (kind != RECORD_KIND_TIMESTAMP && kind != RECORD_KIND_EVIDENCE &&
        kind != RECORD_KIND_CASE_EVENT && kind != RECORD_KIND_CERTIFICATE) {
        return nt_error_set(NT_EINVAL, "record kind: unknown kind %d", (int)kind);
    }
    if (kind == RECORD_KIND_CASE_EVENT && (alg != RECORD_ALG_SHA256 || label.len == 0)) {
        return nt_error_set(NT_EINVAL,
                            "record kind: a case event needs a sha256 digest and a label");
    }
    want = record_alg_size(alg);
    if (want == 0) {
        return nt_error_set(NT_EINVAL, "record digest algorithm: unknown id %d", (int)alg);
    }
    if (digest_len != want) {
        return nt_error_set(NT_EINVAL, "record digest length: %zu bytes, %s needs %zu", digest_len,
                            record_alg_name(alg), want);
    }
    if (kind == RECORD_KIND_TIMESTAMP && label.len != 0) {
        return nt_error_set(NT_EINVAL, "record label: must be empty for a time-stamp record");
    }
    if (kind == RECORD_KIND_CERTIFICATE &&
        (alg != RECORD_ALG_SHA256 || label.len != strlen(RECORD_CERTIFICATE_LABEL) ||
         memcmp(label.ptr, RECORD_CERTIFICATE_LABEL, label.len) != 0)) {
        return nt_error_set(NT_EINVAL, "record: a certificate record has a sha256 digest and the "
                                       "label \"" RECORD_CERTIFICATE_LABEL "\"");
    }
    if (label.len > RECORD_MAX_LABEL) {
        return nt_error_set(NT_EINVAL, "record label: %zu bytes, at most %u", label.len,
                            RECORD_MAX_LABEL);
    }
    if (label.len > 0 && (label.ptr == NULL || !nt_utf8_valid(label.ptr, label.len))) {
        return nt_error_set(NT_EINVAL, "record label: not valid UTF-8");
    }
    if (token_len == 0 || token_len > RECORD_MAX_TOKEN) {
        return nt_error_set(NT_EINVAL, "record token length: %zu bytes, must be 1..%u", token_len,
                            RECORD_MAX_TOKEN);
    }
    return 0;
}

int record_encode(nt_buf *out, const record *r)
{
    int error = 0;
    size_t start = out->len;

    NT_TRY(check_fields(r->kind, r->alg, r->digest.len, r->label, r->token.len));
    NT_ENSURE(r->digest.ptr != NULL && r->token.ptr != NULL, NT_EINVAL,
              "record: digest or token without bytes");
    NT_ENSURE(r->has_metadata == 0 || r->has_metadata == 1, NT_EINVAL,
              "record metadata flag: must be 0 or 1");
    NT_ENSURE(r->kind != RECORD_KIND_CASE_EVENT ||
                  (r->has_metadata && memcmp(r->metadata_hash, r->digest.ptr, 32) == 0),
              NT_EINVAL,
              "record kind: a case event needs its body as metadata (metadata hash = digest)");
    /* Every other field is bounded well below the limit, so only the token can push a leaf
     * over it; check_fields bounded token.len, so the sum cannot overflow. */
    size_t total = RECORD_FIXED_SIZE + r->digest.len + r->label.len + r->token.len +
                   (r->has_metadata ? 32u : 0u);
    NT_ENSURE(total <= RECORD_MAX_LEAF, NT_EINVAL,
              "record token length: %zu bytes make a leaf of %zu bytes; a leaf is at most %u "
              "(a tlog-tiles entry bundle stores 16-bit lengths)",
              r->token.len, total, RECORD_MAX_LEAF);
    NT_TRY(nt_buf_putc(out, RECORD_VERSION));
    NT_TRY(nt_buf_putc(out, (uint8_t)r->kind));
    NT_TRY(nt_buf_putc(out, (uint8_t)r->alg));
    NT_TRY(nt_buf_putc(out, (uint8_t)r->digest.len));
    NT_TRY(nt_buf_put(out, r->digest.ptr, r->digest.len));
    NT_TRY(nt_buf_putc(out, (uint8_t)r->label.len));
    if (r->label.len > 0) {
        NT_TRY(nt_buf_put(out, r->label.ptr, r->label.len));
    }
    NT_TRY(nt_buf_put_u32be(out, (uint32_t)r->token.len));
    NT_TRY(nt_buf_put(out, r->token.ptr, r->token.len));
    NT_TRY(nt_buf_putc(out, r->has_metadata ? 0x01 : 0x00));
    if (r->has_metadata) {
        NT_TRY(nt_buf_put(out, r->metadata_hash, sizeof(r->metadata_hash)));
    }

done:
    if (error < 0 && out->ptr != NULL) {
        out->len = start;
        out->ptr[start] = '\0';
    }
    return error;
}

/* A cursor over the input; every take names the field it reads for the error message. */
typedef struct reader {
    const uint8_t *p;
    size_t left;
} reader;

static int take(const uint8_t **out, reader *rd, size_t n, const char *field)
{
    if (rd->left < n) {
        return nt_error_set(NT_EINVAL, "record %s: truncated (%zu of %zu bytes)", field, rd->left,
                            n);
    }
    *out = rd->p;
    rd->p += n;
    rd->left -= n;
    return 0;
}

static int take_u8(uint8_t *out, reader *rd, const char *field)
{
    const uint8_t *p = NULL;
    int error = take(&p, rd, 1, field);
    if (error == 0) {
        *out = p[0];
    }
    return error;
}

int record_decode(record *out, const uint8_t *data, size_t len)
{
    int error = 0;
    reader rd = {data, len};
    record r;
    uint8_t version = 0, kind = 0, alg = 0, dlen = 0, llen = 0, flag = 0;
    const uint8_t *p = NULL;
    uint32_t tlen;

    memset(&r, 0, sizeof(r));
    NT_ENSURE(data != NULL || len == 0, NT_EINVAL, "record: NULL data");
    NT_ENSURE(len <= RECORD_MAX_LEAF, NT_EINVAL,
              "record length: %zu bytes; a leaf is at most %u (a tlog-tiles entry bundle "
              "stores 16-bit lengths)",
              len, RECORD_MAX_LEAF);
    NT_TRY(take_u8(&version, &rd, "version"));
    NT_ENSURE(version == RECORD_VERSION, NT_EINVAL, "record version: %u, expected %u", version,
              RECORD_VERSION);
    NT_TRY(take_u8(&kind, &rd, "kind"));
    NT_ENSURE(kind == RECORD_KIND_TIMESTAMP || kind == RECORD_KIND_EVIDENCE ||
                  kind == RECORD_KIND_CASE_EVENT || kind == RECORD_KIND_CERTIFICATE,
              NT_EINVAL, "record kind: unknown kind %u", kind);
    NT_TRY(take_u8(&alg, &rd, "digest algorithm"));
    NT_ENSURE(record_alg_size((record_alg)alg) != 0, NT_EINVAL,
              "record digest algorithm: unknown id %u", alg);
    NT_TRY(take_u8(&dlen, &rd, "digest length"));
    NT_ENSURE(dlen == record_alg_size((record_alg)alg), NT_EINVAL,
              "record digest length: %u bytes, %s needs %zu", dlen,
              record_alg_name((record_alg)alg), record_alg_size((record_alg)alg));
    NT_TRY(take(&p, &rd, dlen, "digest"));
    r.digest = NT_BYTES(p, dlen);
    NT_TRY(take_u8(&llen, &rd, "label length"));
    NT_ENSURE(kind != RECORD_KIND_TIMESTAMP || llen == 0, NT_EINVAL,
              "record label: must be empty for a time-stamp record");
    NT_TRY(take(&p, &rd, llen, "label"));
    r.label = NT_BYTES(llen > 0 ? p : NULL, llen);
    NT_ENSURE(nt_utf8_valid(p, llen), NT_EINVAL, "record label: not valid UTF-8");
    NT_ENSURE(
        kind != RECORD_KIND_CERTIFICATE ||
            (alg == RECORD_ALG_SHA256 && llen == strlen(RECORD_CERTIFICATE_LABEL) &&
             memcmp(p, RECORD_CERTIFICATE_LABEL, llen) == 0),
        NT_EINVAL,
        "record: a certificate record has a sha256 digest and the label \"" RECORD_CERTIFICATE_LABEL
        "\"");
    NT_TRY(take(&p, &rd, 4, "token length"));
    tlen = nt_load_u32be(p);
    NT_ENSURE(tlen >= 1 && tlen <= RECORD_MAX_TOKEN, NT_EINVAL,
              "record token length: %u bytes, must be 1..%u", tlen, RECORD_MAX_TOKEN);
    NT_TRY(take(&p, &rd, tlen, "token"));
    r.token = NT_BYTES(p, tlen);
    NT_TRY(take_u8(&flag, &rd, "metadata flag"));
    NT_ENSURE(flag <= 1, NT_EINVAL, "record metadata flag: 0x%02x, must be 0x00 or 0x01", flag);
    if (flag == 1) {
        NT_TRY(take(&p, &rd, 32, "metadata hash"));
        memcpy(r.metadata_hash, p, 32);
        r.has_metadata = 1;
    }
    NT_ENSURE(rd.left == 0, NT_EINVAL, "record: %zu trailing bytes after the metadata field",
              rd.left);
    NT_ENSURE(kind != RECORD_KIND_CASE_EVENT ||
                  (alg == RECORD_ALG_SHA256 && llen > 0 && r.has_metadata &&
                   memcmp(r.metadata_hash, r.digest.ptr, 32) == 0),
              NT_EINVAL,
              "record kind: a case event needs a sha256 digest, a label and its body as "
              "metadata (metadata hash = digest)");
    r.kind = (record_kind)kind;
    r.alg = (record_alg)alg;
    *out = r;

done:
    return error;
}
