/*
 * audit_der_fuzz.c - fuzz target for the audit's DER splitter (audit_der.c:
 * audit__der_tlv and audit__token_split), which cuts the certificates out of
 * every token of an untrusted mirror before OpenSSL sees it.  Invariants: a
 * TLV lies inside the input; the certificates view lies inside the input; a
 * stripped token is shorter than the input by at least the certificates; a
 * token laid out otherwise (1) leaves nothing stripped.  Seeds in
 * tests/fuzz/corpus/audit_der/: a real token with and without certificates,
 * and broken variants.
 */
#include "ledger/audit_int.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t tag;
    size_t hdr, clen;
    if (audit__der_tlv(data, size, &tag, &hdr, &clen) == 0 && (hdr < 2 || hdr + clen > size)) {
        abort();
    }
    nt_bytes certs;
    nt_buf out = NT_BUF_INIT;
    int stripped = -1;
    int rc = audit__token_split(&certs, &stripped, &out, data, size);
    if (rc < 0 && rc != NT_ENOMEM) {
        abort();
    }
    if (certs.len > 0 && (certs.ptr < data || certs.ptr + certs.len > data + size)) {
        abort();
    }
    if (rc == 1 && (stripped != 0 || certs.len != 0)) {
        abort();
    }
    if (rc == 0 && stripped && out.len + certs.len >= size) {
        abort();
    }
    if (rc == 0 && !stripped && (out.len != 0 || certs.len != 0)) {
        abort();
    }
    nt_buf_dispose(&out);
    return 0;
}
