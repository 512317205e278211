/*
 * note.c - C2SP signed-note (c2sp.org/signed-note) with Ed25519 signatures,
 * verifier keys, and C2SP tlog-checkpoint bodies (c2sp.org/tlog-checkpoint).
 * Part of the pure `nt_merkle` library: the ledger signs checkpoints with it,
 * the mirror, the auditor and the offline verifier open them with it.
 *
 * Parsing is strict where the specs say MUST and conservative where they say
 * SHOULD: a malformed note is rejected as a whole rather than partly trusted.
 */
/* The key ID hash uses the low-level SHA-256 API so that note_key_id, declared
 * to return a plain value, cannot fail on allocation (see merkle.c). */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "ledger/note.h"

#include <openssl/err.h>
#include <openssl/sha.h>
#include <string.h>

#define NOTE_SIG_TYPE_ED25519 0x01
#define ED25519_KEY_SIZE      32
#define ED25519_SIG_SIZE      64
/* "Verifiers SHOULD apply a maximum limit to the number of signatures in a note ... but MUST
 * accept at least up to 16 signatures." */
#define NOTE_MAX_SIGS 100

/* U+2014 EM DASH, U+0020 SPACE: the start of every signature line. */
static const char sig_prefix[] = "\xe2\x80\x94 ";
#define SIG_PREFIX_LEN 4

/* ------------------------------------------------------------------ text checks */

/* Unicode White_Space characters (plus every ASCII control, which names may not hold either). */
static int is_unicode_space(uint32_t cp)
{
    return cp <= 0x20 || cp == 0x7f || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
           cp == 0x205f || cp == 0x3000;
}

/*
 * "Signed notes MUST be valid UTF-8 and MUST NOT contain any ASCII control characters (those
 * below U+0020) other than newline."
 */
static int check_text(const char *what, const char *text, size_t len)
{
    const uint8_t *s = (const uint8_t *)text;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = nt_utf8_next(&cp, s + i, len - i);
        if (n == 0) {
            return nt_error_set(NT_EINVAL, "%s: invalid UTF-8 at byte %zu", what, i);
        }
        if (cp < 0x20 && cp != '\n') {
            return nt_error_set(NT_EINVAL, "%s: control character 0x%02x at byte %zu", what,
                                (unsigned)cp, i);
        }
        i += n;
    }
    return 0;
}

/* "Key names MUST be non-empty and MUST NOT contain any Unicode spaces or plus (U+002B)
 * characters."  We also bound them to NOTE_MAX_NAME bytes. */
int note_name_check(const char *name, size_t len)
{
    const uint8_t *s = (const uint8_t *)name;
    size_t i = 0;
    if (len == 0) {
        return nt_error_set(NT_EINVAL, "key name: empty");
    }
    if (len > NOTE_MAX_NAME) {
        return nt_error_set(NT_EINVAL, "key name: longer than %d bytes", NOTE_MAX_NAME);
    }
    while (i < len) {
        uint32_t cp;
        size_t n = nt_utf8_next(&cp, s + i, len - i);
        if (n == 0) {
            return nt_error_set(NT_EINVAL, "key name: invalid UTF-8");
        }
        if (cp == '+' || is_unicode_space(cp)) {
            return nt_error_set(NT_EINVAL, "key name: contains a space, '+' or control character");
        }
        i += n;
    }
    return 0;
}

/* ------------------------------------------------------------------ keys */

uint32_t note_key_id(const char *name, const uint8_t public_key[32])
{
    /* key ID = SHA-256(key name || 0x0A || 0x01 || 32-byte Ed25519 public key)[:4] */
    static const uint8_t sep[2] = {'\n', NOTE_SIG_TYPE_ED25519};
    uint8_t h[SHA256_DIGEST_LENGTH];
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, name, strlen(name));
    SHA256_Update(&ctx, sep, sizeof(sep));
    SHA256_Update(&ctx, public_key, ED25519_KEY_SIZE);
    SHA256_Final(h, &ctx);
    return nt_load_u32be(h);
}

static int is_space_byte(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int note_vkey_parse(note_verifier *out, const char *vkey, size_t len)
{
    /* <key name>+hex(32-bit key ID)+base64(signature type || public key) */
    int error = 0;
    nt_buf raw = NT_BUF_INIT;
    note_verifier v;
    const char *p, *end, *plus1, *plus2;
    uint32_t id = 0;

    memset(&v, 0, sizeof(v));
    NT_ENSURE(vkey != NULL, NT_EINVAL, "vkey: missing");
    p = vkey;
    end = vkey + len;
    while (p < end && is_space_byte(*p)) {
        p++;
    }
    while (end > p && is_space_byte(end[-1])) {
        end--;
    }
    plus1 = memchr(p, '+', (size_t)(end - p));
    NT_ENSURE(plus1 != NULL, NT_EINVAL, "vkey: expected <name>+<key id>+<key>");
    plus2 = memchr(plus1 + 1, '+', (size_t)(end - plus1 - 1));
    NT_ENSURE(plus2 != NULL, NT_EINVAL, "vkey: expected <name>+<key id>+<key>");
    NT_TRY(note_name_check(p, (size_t)(plus1 - p)));
    memcpy(v.name, p, (size_t)(plus1 - p));

    /* "The hex encoding of a positive integer is the fixed length lowercase Base 16 encoding
     * of its zero-padded big endian representation." */
    NT_ENSURE(plus2 - plus1 - 1 == 8, NT_EINVAL, "vkey: key ID must be 8 hex digits");
    for (const char *h = plus1 + 1; h < plus2; h++) {
        int d = 0;
        if (*h >= '0' && *h <= '9') {
            d = *h - '0';
        } else if (*h >= 'a' && *h <= 'f') {
            d = *h - 'a' + 10;
        } else {
            NT_ENSURE(0, NT_EINVAL, "vkey: key ID must be lowercase hex");
        }
        id = (id << 4) | (uint32_t)d;
    }
    error = nt_base64_decode(&raw, plus2 + 1, (size_t)(end - plus2 - 1));
    NT_ENSURE(error == 0 || error == NT_ENOMEM, NT_EINVAL, "vkey: key is not valid base64");
    NT_TRY(error); /* out of memory is not malformed input */
    NT_ENSURE(raw.len >= 1 && raw.ptr[0] == NOTE_SIG_TYPE_ED25519, NT_EINVAL,
              "vkey: signature type is not 0x01 (Ed25519)");
    NT_ENSURE(raw.len == 1 + ED25519_KEY_SIZE, NT_EINVAL,
              "vkey: Ed25519 key is %zu bytes, expected 32", raw.len - 1);
    memcpy(v.public_key, raw.ptr + 1, ED25519_KEY_SIZE);
    v.key_id = id;
    /* "The key name and ID MUST match those used in the signatures." */
    NT_ENSURE(note_key_id(v.name, v.public_key) == id, NT_EINVAL,
              "vkey: key ID %08x does not match the key", id);
    *out = v;

done:
    nt_buf_dispose(&raw);
    return error;
}

/* The raw public key of an Ed25519 EVP_PKEY. */
static int raw_public_key(uint8_t out[ED25519_KEY_SIZE], EVP_PKEY *key)
{
    int error = 0;
    size_t n = ED25519_KEY_SIZE;
    NT_ENSURE(key != NULL && EVP_PKEY_get_id(key) == EVP_PKEY_ED25519, NT_EINVAL,
              "note: the key is not an Ed25519 key");
    NT_OSSL(EVP_PKEY_get_raw_public_key(key, out, &n), "note: reading the Ed25519 public key");
    NT_ENSURE(n == ED25519_KEY_SIZE, NT_ECRYPTO, "note: Ed25519 public key of %zu bytes", n);

done:
    return error;
}

int note_vkey_format(nt_buf *out, const char *name, EVP_PKEY *key)
{
    int error = 0;
    uint8_t raw[1 + ED25519_KEY_SIZE];
    size_t start = out->len;

    NT_ENSURE(name != NULL, NT_EINVAL, "vkey: missing key name");
    NT_TRY(note_name_check(name, strlen(name)));
    NT_TRY(raw_public_key(raw + 1, key));
    raw[0] = NOTE_SIG_TYPE_ED25519;
    NT_TRY(nt_buf_printf(out, "%s+%08x+", name, note_key_id(name, raw + 1)));
    NT_TRY(nt_base64_encode(out, raw, sizeof(raw)));

done:
    if (error < 0 && out->ptr != NULL) {
        out->len = start;
        out->ptr[start] = '\0';
    }
    return error;
}

/* ------------------------------------------------------------------ signing */

/* A note text: non-empty, ends in '\n', valid UTF-8 without control characters but '\n'. */
static int check_note_text(const char *text, size_t len)
{
    if (text == NULL || len == 0 || text[len - 1] != '\n') {
        return nt_error_set(NT_EINVAL, "note text: must be non-empty and end in a newline");
    }
    return check_text("note text", text, len);
}

int note_sign(nt_buf *out, const char *text, size_t len, const char *name, EVP_PKEY *key)
{
    int error = 0;
    EVP_MD_CTX *md = NULL;
    uint8_t pub[ED25519_KEY_SIZE];
    uint8_t sig[4 + ED25519_SIG_SIZE];
    size_t siglen = ED25519_SIG_SIZE;
    size_t start = out->len;
    uint32_t id;

    NT_ENSURE(len <= NOTE_MAX_SIZE, NT_EINVAL, "note text: larger than %u bytes", NOTE_MAX_SIZE);
    NT_TRY(check_note_text(text, len));
    NT_ENSURE(name != NULL, NT_EINVAL, "note: missing key name");
    NT_TRY(note_name_check(name, strlen(name)));
    NT_TRY(raw_public_key(pub, key));

    /* "Ed25519 signatures are generated according to RFC 8032 over the note text."  Ed25519 is
     * a one-shot algorithm: EVP_DigestSign with a NULL digest. */
    md = EVP_MD_CTX_new();
    NT_ENSURE(md != NULL, NT_ENOMEM, "note: out of memory");
    NT_OSSL(EVP_DigestSignInit(md, NULL, NULL, NULL, key), "note: Ed25519 sign init");
    NT_OSSL(EVP_DigestSign(md, sig + 4, &siglen, (const uint8_t *)text, len), "note: Ed25519 sign");
    NT_ENSURE(siglen == ED25519_SIG_SIZE, NT_ECRYPTO, "note: Ed25519 signature of %zu bytes",
              siglen);
    /* "The first four bytes in the signature are the uint32 key ID stored in big-endian order." */
    id = note_key_id(name, pub);
    sig[0] = (uint8_t)(id >> 24), sig[1] = (uint8_t)(id >> 16), sig[2] = (uint8_t)(id >> 8),
    sig[3] = (uint8_t)id;

    NT_TRY(nt_buf_put(out, text, len));
    NT_TRY(nt_buf_putc(out, '\n'));
    NT_TRY(nt_buf_put(out, sig_prefix, SIG_PREFIX_LEN));
    NT_TRY(nt_buf_puts(out, name));
    NT_TRY(nt_buf_putc(out, ' '));
    NT_TRY(nt_base64_encode(out, sig, sizeof(sig)));
    NT_TRY(nt_buf_putc(out, '\n'));

done:
    EVP_MD_CTX_free(md);
    if (error < 0 && out->ptr != NULL) {
        out->len = start;
        out->ptr[start] = '\0';
    }
    return error;
}

/* ------------------------------------------------------------------ verification */

/* 1 valid, 0 invalid, negative on error. */
static int ed25519_verify(const uint8_t pub[ED25519_KEY_SIZE], const uint8_t *sig, size_t siglen,
                          const char *text, size_t len)
{
    int error = 0;
    EVP_PKEY *pkey = NULL;
    EVP_MD_CTX *md = NULL;
    int rc;

    if (siglen != ED25519_SIG_SIZE) {
        return 0;
    }
    NT_OSSL_PTR(pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, ED25519_KEY_SIZE),
                "note: loading the Ed25519 public key");
    md = EVP_MD_CTX_new();
    NT_ENSURE(md != NULL, NT_ENOMEM, "note: out of memory");
    NT_OSSL(EVP_DigestVerifyInit(md, NULL, NULL, NULL, pkey), "note: Ed25519 verify init");
    rc = EVP_DigestVerify(md, sig, siglen, (const uint8_t *)text, len);
    /* a bad signature leaves an entry in the error queue: drain it */
    ERR_clear_error();
    error = rc == 1 ? 1 : 0;

done:
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);
    return error;
}

int note_verify(size_t *body_len, const char *note, size_t len, const note_verifier *v)
{
    int error = 0;
    nt_buf sig = NT_BUF_INIT;
    size_t split = 0, text_len, pos;
    unsigned count = 0, verified = 0;
    int found = 0;

    NT_ENSURE(note != NULL && v != NULL, NT_EINVAL, "note: missing note or key");
    NT_ENSURE(len <= NOTE_MAX_SIZE, NT_EINVAL, "note: larger than %u bytes", NOTE_MAX_SIZE);
    NT_TRY(check_text("note", note, len));
    NT_ENSURE(len > 0 && note[len - 1] == '\n', NT_EINVAL, "note: does not end in a newline");
    /* "the text is separated from the signatures by the last empty line in the note" */
    for (size_t i = len - 1; i > 0; i--) {
        if (note[i] == '\n' && note[i - 1] == '\n') {
            split = i - 1;
            found = 1;
            break;
        }
    }
    NT_ENSURE(found, NT_EINVAL, "note: no blank line before the signatures");
    text_len = split + 1;
    pos = split + 2;
    NT_ENSURE(pos < len, NT_EINVAL, "note: no signature lines");

    /* "one or more signature lines of this form: em dash (U+2014), space (U+0020), key name,
     * space, base64-encoded signature, newline." */
    while (pos < len) {
        const char *line = note + pos;
        const char *eol = memchr(line, '\n', len - pos);
        const char *name, *space, *b64;
        size_t name_len;

        NT_ENSURE(eol != NULL, NT_EINVAL, "note: unterminated signature line");
        NT_ENSURE(++count <= NOTE_MAX_SIGS, NT_EINVAL, "note: more than %d signatures",
                  NOTE_MAX_SIGS);
        NT_ENSURE(
            (size_t)(eol - line) > SIG_PREFIX_LEN && memcmp(line, sig_prefix, SIG_PREFIX_LEN) == 0,
            NT_EINVAL, "note: signature line %u does not start with an em dash and a space", count);
        name = line + SIG_PREFIX_LEN;
        space = memchr(name, ' ', (size_t)(eol - name));
        NT_ENSURE(space != NULL, NT_EINVAL, "note: signature line %u has no signature", count);
        name_len = (size_t)(space - name);
        NT_TRY(note_name_check(name, name_len));
        b64 = space + 1;
        nt_buf_clear(&sig);
        error = nt_base64_decode(&sig, b64, (size_t)(eol - b64));
        NT_ENSURE(error == 0 || error == NT_ENOMEM, NT_EINVAL,
                  "note: signature line %u is not base64", count);
        NT_TRY(error); /* out of memory is not malformed input */
        NT_ENSURE(sig.len > 4, NT_EINVAL, "note: signature line %u is too short", count);

        /* "Verifiers MUST ignore signatures from unknown keys, even if they share a name or ID
         * (but not both) with a known key.  If the key name and ID match a known key,
         * verifiers MUST verify the signature.  If a signature from a known key fails to
         * verify, clients SHOULD reject the whole note." */
        if (name_len == strlen(v->name) && memcmp(name, v->name, name_len) == 0 &&
            nt_load_u32be(sig.ptr) == v->key_id) {
            int ok = ed25519_verify(v->public_key, sig.ptr + 4, sig.len - 4, note, text_len);
            if (ok < 0) {
                error = ok;
                goto done;
            }
            NT_ENSURE(ok == 1, NT_EVERIFY, "note: the signature by %s does not verify", v->name);
            verified++;
        }
        pos = (size_t)(eol - note) + 1;
    }
    /* "If no signature from a known key verifies successfully, clients MUST reject the note." */
    NT_ENSURE(verified > 0, NT_EVERIFY, "note: not signed by %s", v->name);
    if (body_len != NULL) {
        *body_len = text_len;
    }

done:
    nt_buf_dispose(&sig);
    return error;
}

/* ------------------------------------------------------------------ checkpoints */

static int check_origin(const char *origin, size_t len)
{
    /* "The origin MUST be non-empty" and, being one line, holds no newline. */
    if (len == 0) {
        return nt_error_set(NT_EINVAL, "checkpoint origin: empty");
    }
    if (len > NOTE_MAX_NAME) {
        return nt_error_set(NT_EINVAL, "checkpoint origin: longer than %d bytes", NOTE_MAX_NAME);
    }
    if (memchr(origin, '\n', len) != NULL) {
        return nt_error_set(NT_EINVAL, "checkpoint origin: contains a newline");
    }
    return check_text("checkpoint origin", origin, len);
}

int checkpoint_format(nt_buf *out, const checkpoint *c)
{
    int error = 0;
    size_t start = out->len;

    NT_TRY(check_origin(c->origin, strnlen(c->origin, sizeof(c->origin))));
    NT_ENSURE(c->origin[NOTE_MAX_NAME] == '\0', NT_EINVAL, "checkpoint origin: not terminated");
    /* origin, tree size in decimal without leading zeroes, base64 root: one line each */
    NT_TRY(nt_buf_printf(out, "%s\n%llu\n", c->origin, (unsigned long long)c->size));
    NT_TRY(nt_base64_encode(out, c->root, sizeof(c->root)));
    NT_TRY(nt_buf_putc(out, '\n'));

done:
    if (error < 0 && out->ptr != NULL) {
        out->len = start;
        out->ptr[start] = '\0';
    }
    return error;
}

int checkpoint_parse(checkpoint *out, const char *body, size_t len)
{
    /* "The note text is a sequence of at least three non-empty lines, separated by newlines" */
    int error = 0;
    nt_buf root = NT_BUF_INIT;
    checkpoint c;
    const char *line[3];
    size_t line_len[3];
    size_t pos = 0;

    memset(&c, 0, sizeof(c));
    NT_ENSURE(body != NULL, NT_EINVAL, "checkpoint: missing body");
    NT_ENSURE(len <= NOTE_MAX_SIZE, NT_EINVAL, "checkpoint: larger than %u bytes", NOTE_MAX_SIZE);
    NT_TRY(check_text("checkpoint", body, len));
    NT_ENSURE(len > 0 && body[len - 1] == '\n', NT_EINVAL, "checkpoint: does not end in a newline");
    for (int i = 0; i < 3; i++) {
        const char *eol;
        NT_ENSURE(pos < len, NT_EINVAL, "checkpoint: fewer than three lines");
        eol = memchr(body + pos, '\n', len - pos);
        line[i] = body + pos;
        line_len[i] = (size_t)(eol - line[i]);
        pos += line_len[i] + 1;
    }
    NT_TRY(check_origin(line[0], line_len[0]));
    memcpy(c.origin, line[0], line_len[0]);
    /* "the ASCII decimal representation of the number of leaves in the tree, with no leading
     * zeroes (unless the tree is empty, in which case the tree size is 0)" */
    error = nt_parse_u64(&c.size, line[1], line_len[1]);
    NT_ENSURE(error == 0, NT_EINVAL, "checkpoint tree size: not a canonical decimal number");
    error = nt_base64_decode(&root, line[2], line_len[2]);
    NT_ENSURE(error == 0 || error == NT_ENOMEM, NT_EINVAL, "checkpoint root hash: not base64");
    NT_TRY(error); /* out of memory is not malformed input */
    NT_ENSURE(root.len == sizeof(c.root), NT_EINVAL, "checkpoint root hash: %zu bytes, not 32",
              root.len);
    memcpy(c.root, root.ptr, sizeof(c.root));
    /* "Extension lines, if any, MUST be non-empty." */
    while (pos < len) {
        NT_ENSURE(body[pos] != '\n', NT_EINVAL, "checkpoint: empty extension line");
        pos = (size_t)((const char *)memchr(body + pos, '\n', len - pos) - body) + 1;
    }
    *out = c;

done:
    nt_buf_dispose(&root);
    return error;
}

int checkpoint_open(checkpoint *out, const char *note, size_t len, const note_verifier *v,
                    int any_origin)
{
    int error = 0;
    size_t body_len = 0;
    checkpoint c;

    NT_TRY(note_verify(&body_len, note, len, v));
    NT_TRY(checkpoint_parse(&c, note, body_len));
    /* "The log's key name in its signature line SHOULD match the origin line." We require it
     * unless told otherwise: a key must not vouch for another log's tree. */
    NT_ENSURE(any_origin || strcmp(c.origin, v->name) == 0, NT_EVERIFY,
              "checkpoint: origin \"%s\" is not the key name \"%s\"", c.origin, v->name);
    *out = c;

done:
    return error;
}

int checkpoint_sign(nt_buf *out, const checkpoint *c, EVP_PKEY *key)
{
    int error = 0;
    nt_buf body = NT_BUF_INIT;
    NT_TRY(checkpoint_format(&body, c));
    NT_TRY(note_sign(out, (const char *)body.ptr, body.len, c->origin, key));

done:
    nt_buf_dispose(&body);
    return error;
}
