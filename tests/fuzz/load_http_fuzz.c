/*
 * load_http_fuzz.c - fuzz target for notarium-load's HTTP/1.x response framing
 * (tools/load_http.c: load__http_parse), which reads whatever the server under
 * test sends back.  Invariants: the result is 0 (incomplete), 1 (framed) or
 * NT_EINVAL; a framed response lies inside the input with a three-digit status
 * and a body within LOAD_MAX_BODY; framing is a property of the prefix: the
 * exact response bytes frame the same, and one byte fewer is incomplete (or,
 * past LOAD_MAX_HEADER, refused), never a different response.  Seeds in
 * tests/fuzz/corpus/load_http/.
 */
#include "tools/load_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    http_resp r, again;
    memset(&r, 0, sizeof(r));
    int rc = load__http_parse(&r, data, size);
    if (rc != 0 && rc != 1 && rc != NT_EINVAL) {
        abort();
    }
    if (rc != 1) {
        return 0;
    }
    size_t total = r.header_len + r.body_len;
    if (r.status < 100 || r.status > 999 || r.header_len < 14 || r.body_len > LOAD_MAX_BODY ||
        total > size || total < r.header_len) {
        abort();
    }
    memset(&again, 0, sizeof(again));
    if (load__http_parse(&again, data, total) != 1 || again.status != r.status ||
        again.header_len != r.header_len || again.body_len != r.body_len ||
        again.close != r.close) {
        abort();
    }
    rc = load__http_parse(&again, data, total - 1);
    if (rc != 0 && !(rc == NT_EINVAL && total - 1 > LOAD_MAX_HEADER)) {
        abort();
    }
    return 0;
}
