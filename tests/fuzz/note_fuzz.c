/*
 * note_fuzz.c - fuzz target for the C2SP signed-note, vkey and checkpoint
 * parsers (ledger/note.c).  The input goes through note_vkey_parse,
 * checkpoint_parse, note_verify and checkpoint_open (against the signed-note
 * spec's example key, so verification paths are reached).  Invariants: an
 * accepted checkpoint body re-formats and re-parses to the same values; a
 * verified note's body length lies inside the input and ends in a newline.
 * Seeds in tests/fuzz/corpus/note/: the spec's example note and vkey, signed
 * checkpoints with and without extension lines, and broken variants.
 */
#include "ledger/note.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char example_vkey[] =
    "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    note_verifier v, parsed;
    checkpoint c, again;
    nt_buf body = NT_BUF_INIT;
    size_t body_len = 0;

    if (note_vkey_parse(&v, example_vkey, strlen(example_vkey)) != 0) {
        abort();
    }
    (void)note_vkey_parse(&parsed, text, size);
    if (checkpoint_parse(&c, text, size) == 0) {
        if (checkpoint_format(&body, &c) != 0 ||
            checkpoint_parse(&again, (const char *)body.ptr, body.len) != 0 ||
            memcmp(&c, &again, sizeof(c)) != 0) {
            abort();
        }
    }
    if (note_verify(&body_len, text, size, &v) == 0) {
        if (body_len == 0 || body_len > size || text[body_len - 1] != '\n') {
            abort();
        }
    }
    (void)checkpoint_open(&c, text, size, &v, 1);
    nt_buf_dispose(&body);
    return 0;
}
