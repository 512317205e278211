/*
 * record_fuzz.c - fuzz target for the canonical leaf decoder
 * (ledger/record.c): any bytes through record_decode.  Invariant checked on
 * every accepted input: re-encoding the decoded record gives back exactly
 * the input bytes (one encoding per leaf), and the re-encoded leaf decodes.
 * Seeds in tests/fuzz/corpus/record/: valid leaves of both kinds, with and
 * without metadata, and broken variants.
 */
#include "ledger/record.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    record r;
    nt_buf again = NT_BUF_INIT;
    if (record_decode(&r, data, size) != 0) {
        return 0;
    }
    if (record_encode(&again, &r) != 0 || again.len != size || memcmp(again.ptr, data, size) != 0) {
        abort(); /* a decoded record must re-encode to the same bytes */
    }
    nt_buf_dispose(&again);
    return 0;
}
