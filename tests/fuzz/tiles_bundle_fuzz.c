/*
 * tiles_bundle_fuzz.c - fuzz target for the tlog-tiles entry bundle parser
 * (tiles_bundle_next in ledger/tiles.c), which the audit runs on every bundle
 * of an untrusted mirror.  Invariants: every entry is a view inside the input,
 * the position only grows and never passes the end, a refused entry moves
 * nothing, and re-encoding the entries read (tiles_bundle_put) gives back the
 * bytes they were read from.  Seeds in tests/fuzz/corpus/tiles_bundle/.
 */
#include "ledger/tiles.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nt_buf again = NT_BUF_INIT;
    size_t pos = 0;
    nt_bytes e;
    while (pos < size) {
        size_t was = pos;
        if (tiles_bundle_next(&e, data, size, &pos) < 0) {
            if (pos != was) {
                abort();
            }
            break;
        }
        if (pos <= was || pos > size || e.ptr != data + was + 2 || e.len != pos - was - 2) {
            abort();
        }
        if (tiles_bundle_put(&again, e.ptr, e.len) < 0) {
            abort();
        }
    }
    if (again.len != pos || (pos > 0 && memcmp(again.ptr, data, pos) != 0)) {
        abort();
    }
    nt_buf_dispose(&again);
    return 0;
}
