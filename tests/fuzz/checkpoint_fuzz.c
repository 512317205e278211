/*
 * checkpoint_fuzz.c - fuzz target for checkpoint_open (ledger/note.c) past
 * the signature check.  note_fuzz.c feeds whole notes to checkpoint_open, but
 * a mutated note never carries a valid signature, so the checkpoint parser
 * behind the verification (and the origin rule) is out of its reach.  Here
 * the input is a checkpoint BODY: it is signed with a fixed Ed25519 key
 * (seeded from constant bytes, key name ORIGIN) and then opened with that
 * key's vkey, also with an unrelated signature line in front (which must be
 * ignored), and the raw input is opened as a note as well.  Invariants:
 * opening the signed body with any_origin succeeds exactly when
 * checkpoint_parse accepts the body, without it exactly when in addition the
 * origin is the key name; the opened values equal checkpoint_parse's; and
 * re-formatting them and signing again gives a note that opens to the same
 * values.  Seeds in tests/fuzz/corpus/checkpoint/: checkpoint bodies (with
 * and without extensions, size 0, other origins) and broken variants.
 */
#include "ledger/note.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ORIGIN "fuzz.notarium.example/log"
#define OTHER  "other.example/witness"

static EVP_PKEY *fz_key, *fz_other;
static note_verifier fz_v;

static EVP_PKEY *fixed_key(uint8_t fill)
{
    uint8_t seed[32];
    memset(seed, fill, sizeof(seed));
    return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, sizeof(seed));
}

static void fz_init(void)
{
    nt_buf vkey = NT_BUF_INIT;
    fz_key = fixed_key(0x11);
    fz_other = fixed_key(0x22);
    if (fz_key == NULL || fz_other == NULL || note_vkey_format(&vkey, ORIGIN, fz_key) != 0 ||
        note_vkey_parse(&fz_v, (const char *)vkey.ptr, vkey.len) != 0) {
        abort();
    }
    nt_buf_dispose(&vkey);
}

static int same(const checkpoint *a, const checkpoint *b)
{
    return strcmp(a->origin, b->origin) == 0 && a->size == b->size &&
           memcmp(a->root, b->root, sizeof(a->root)) == 0;
}

/* Open `note` both ways and hold the results against checkpoint_parse's verdict. */
static void check_open(const nt_buf *note, int parsed_ok, const checkpoint *parsed)
{
    checkpoint c;
    int any = checkpoint_open(&c, (const char *)note->ptr, note->len, &fz_v, 1);

    if ((any == 0) != parsed_ok || (any == 0 && !same(&c, parsed))) {
        abort();
    }
    any = checkpoint_open(&c, (const char *)note->ptr, note->len, &fz_v, 0);
    if ((any == 0) != (parsed_ok && strcmp(parsed->origin, ORIGIN) == 0)) {
        abort();
    }
    if (any != 0 && parsed_ok && strcmp(parsed->origin, ORIGIN) == 0) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    nt_buf note = NT_BUF_INIT, two = NT_BUF_INIT, body = NT_BUF_INIT, again = NT_BUF_INIT;
    checkpoint parsed, c;
    int parsed_ok;

    if (fz_key == NULL) {
        fz_init();
    }
    /* the raw input as a note: may or may not verify, must not misbehave */
    if (checkpoint_open(&c, text, size, &fz_v, 1) == 0 &&
        checkpoint_parse(&parsed, text, size) == 0) {
        /* a note holds a blank line before its signatures: never a valid checkpoint body */
        abort();
    }

    memset(&parsed, 0, sizeof(parsed));
    parsed_ok = checkpoint_parse(&parsed, text, size) == 0;
    if (note_sign(&note, text, size, ORIGIN, fz_key) != 0) {
        /* note_sign refuses bodies a note cannot carry; checkpoint_parse must too */
        if (parsed_ok) {
            abort();
        }
        goto done;
    }
    check_open(&note, parsed_ok, &parsed);

    /* A second signature by an unknown key, placed first: "ignored" (C2SP signed-note). */
    if (note_sign(&two, text, size, OTHER, fz_other) != 0) {
        abort();
    }
    /* two = body + "\n" + other's line; append our line (everything after our body's "\n") */
    if (nt_buf_put(&two, note.ptr + size + 1, note.len - size - 1) != 0) {
        abort();
    }
    check_open(&two, parsed_ok, &parsed);

    /* round trip: the values re-formatted and re-signed open to the same checkpoint */
    if (parsed_ok) {
        if (checkpoint_format(&body, &parsed) != 0 ||
            note_sign(&again, (const char *)body.ptr, body.len, ORIGIN, fz_key) != 0 ||
            checkpoint_open(&c, (const char *)again.ptr, again.len, &fz_v, 1) != 0 ||
            !same(&c, &parsed)) {
            abort();
        }
    }
done:
    nt_buf_dispose(&note);
    nt_buf_dispose(&two);
    nt_buf_dispose(&body);
    nt_buf_dispose(&again);
    return 0;
}
