/*
 * json.c - a jansson value serialised into an nt_buf: the one way the server,
 * the verifier's reports and the tools turn JSON into bytes (json_dumps then
 * copy was written seven times).  jansson writes through a callback straight
 * into the buffer, so allocation failures are nt_malloc's (and can be
 * injected with nt_mem_fail_after).  And one JSON string written as jansson
 * writes it, for the hot documents written without a jansson tree (the
 * receipt of every POST /v1/evidence, ledger/receipt.c).
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

int nt_json_put_string(nt_buf *out, const uint8_t *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t run = 0;
    int error = 0;

    if (!nt_utf8_valid(s, len)) {
        return nt_error_set(NT_EINVAL, "JSON string: not valid UTF-8");
    }
    /* Room for the usual case (nothing to escape) at once; escapes grow the buffer as they come. */
    NT_TRY(nt_buf_grow(out, len + 2));
    NT_TRY(nt_buf_putc(out, '"'));
    for (size_t i = 0; i < len; i++) {
        uint8_t c = s[i];
        char esc[6] = {'\\', 0, '0', '0', 0, 0};
        size_t n = 2;
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        NT_TRY(nt_buf_put(out, s + run, i - run));
        run = i + 1;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default: /* the other control characters, as jansson writes them */
            esc[1] = 'u';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
            break;
        }
        NT_TRY(nt_buf_put(out, esc, n));
    }
    NT_TRY(nt_buf_put(out, s + run, len - run));
    NT_TRY(nt_buf_putc(out, '"'));
done:
    return error;
}
