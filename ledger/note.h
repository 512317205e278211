/*
 * note.h - C2SP signed-note and tlog-checkpoint (specs in shared/specs, copied
 * in docs/FORMATS.md by reference), with Ed25519 keys (signature type 0x01).
 * Part of the pure `nt_merkle` library.
 *
 *   checkpoint body:  <origin>\n<tree size, decimal>\n<base64 root>\n[extension lines\n]
 *   signed note:      <body>\n— <key name> <base64(key ID || signature)>\n ...
 *   key ID:           SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]
 *   vkey:             <key name>+<hex key ID, 8 digits>+<base64(0x01 || public key)>
 *
 * Thread safety: reentrant; a note_signer may be used from several threads.
 */
#ifndef LEDGER_NOTE_H
#define LEDGER_NOTE_H

#include "util/util.h"

#include <openssl/evp.h>

#define NOTE_MAX_NAME 255
#define NOTE_MAX_SIZE (1u << 20)

/* A parsed verifier key. */
typedef struct note_verifier {
    char name[NOTE_MAX_NAME + 1];
    uint32_t key_id;
    uint8_t public_key[32];
} note_verifier;

/* 0 if name[0..len) is a valid key name (1..NOTE_MAX_NAME bytes of UTF-8, no Unicode space,
 * control character or '+'); NT_EINVAL otherwise, the message saying why. */
int note_name_check(const char *name, size_t len);

/* Key ID of an Ed25519 key under `name`. */
uint32_t note_key_id(const char *name, const uint8_t public_key[32]);

/* Parse a vkey string (surrounding whitespace/newline tolerated).  NT_EINVAL if malformed,
 * if the key name is invalid (empty, contains space, '+' or newline), the signature type
 * is not 0x01, or the key ID does not match the key. */
int note_vkey_parse(note_verifier *out, const char *vkey, size_t len);

/* Format the vkey of an Ed25519 key (raw public key obtained from `key`). Appended. */
int note_vkey_format(nt_buf *out, const char *name, EVP_PKEY *key);

/*
 * Sign `text` (a complete note body: non-empty, UTF-8, ending in '\n', no '\r')
 * with the Ed25519 `key` under `name`; append the signed note to out.
 */
int note_sign(nt_buf *out, const char *text, size_t len, const char *name, EVP_PKEY *key);

/*
 * Verify that `note` carries a valid signature by `v`.  0 on success and
 * *body_len set to the length of the body (text up to and including its last
 * '\n' before the blank line); NT_EVERIFY if no signature line by that key
 * verifies (unknown keys' lines are ignored as the spec says); NT_EINVAL if the
 * note is malformed.
 */
int note_verify(size_t *body_len, const char *note, size_t len, const note_verifier *v);

/* A checkpoint's body. */
typedef struct checkpoint {
    char origin[NOTE_MAX_NAME + 1];
    uint64_t size;
    uint8_t root[32];
} checkpoint;

/* Append the checkpoint body (three lines, no extensions). */
int checkpoint_format(nt_buf *out, const checkpoint *c);
/* Parse a checkpoint body (extension lines are allowed and ignored). NT_EINVAL if malformed. */
int checkpoint_parse(checkpoint *out, const char *body, size_t len);
/* Verify a signed checkpoint note against `v` and parse it; also require origin == v->name
 * unless `any_origin` is set. */
int checkpoint_open(checkpoint *out, const char *note, size_t len, const note_verifier *v,
                    int any_origin);
/* Format + sign in one step; appends the signed note to out. */
int checkpoint_sign(nt_buf *out, const checkpoint *c, EVP_PKEY *key);

#endif
