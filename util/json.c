/*
 * json.c - a jansson value serialised into an nt_buf: the one way the server,
 * the ledger's receipts, the verifier's reports and the tools turn JSON into
 * bytes (json_dumps then copy was written seven times).  jansson writes
 * through a callback straight into the buffer, so allocation failures are
 * nt_malloc's (and can be injected with nt_mem_fail_after).
 */
#include "util/util.h"

#include <jansson.h>

typedef struct dump_ctx {
    nt_buf *out;
    int error; /* the first nt_buf failure */
} dump_ctx;

static int dump_put(const char *text, size_t size, void *data)
{
    dump_ctx *c = data;
    if (c->error == 0) {
        c->error = nt_buf_put(c->out, text, size);
    }
    return c->error < 0 ? -1 : 0;
}

int nt_json_dump(nt_buf *out, const struct json_t *v, size_t flags)
{
    dump_ctx c = {out, 0};
    size_t had = out->len;
    if (v == NULL || (!(flags & JSON_ENCODE_ANY) && !json_is_object(v) && !json_is_array(v))) {
        return nt_error_set(NT_EINVAL, "JSON: nothing to serialise (%s)",
                            v == NULL ? "no value" : "not an object or array");
    }
    if (json_dump_callback(v, dump_put, &c, flags) != 0) {
        out->len = had; /* nothing half-written stays */
        if (out->ptr != NULL) {
            out->ptr[had] = 0;
        }
        /* jansson's own allocations (JSON_SORT_KEYS sorts a copy of the keys) fail silently */
        return nt_error_set(NT_ENOMEM, "cannot serialise JSON: out of memory");
    }
    return 0;
}
