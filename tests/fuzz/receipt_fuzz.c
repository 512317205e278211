/*
 * receipt_fuzz.c - fuzz target for the receipt JSON decoder
 * (ledger/receipt.c): any bytes through receipt_decode.  Invariant on every
 * accepted input: encoding the decoded receipt succeeds, the result decodes,
 * and encoding that gives the same text (the codec is a fixed point after
 * one round).  Seeds in tests/fuzz/corpus/receipt/: receipts with and
 * without metadata, and broken variants.
 */
#include "ledger/receipt.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    receipt r, d;
    nt_buf one = NT_BUF_INIT, two = NT_BUF_INIT;
    if (receipt_decode(&r, (const char *)data, size) != 0) {
        receipt_dispose(&r);
        return 0;
    }
    if (receipt_encode(&one, &r) != 0 || receipt_decode(&d, (const char *)one.ptr, one.len) != 0 ||
        receipt_encode(&two, &d) != 0 || one.len != two.len ||
        memcmp(one.ptr, two.ptr, one.len) != 0) {
        abort();
    }
    receipt_dispose(&r);
    receipt_dispose(&d);
    nt_buf_dispose(&one);
    nt_buf_dispose(&two);
    return 0;
}
