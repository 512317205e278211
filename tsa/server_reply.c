/*
 * server_reply.c - the replies every handler builds: a status, a content type
 * and a body; JSON error bodies name the problem (docs/HTTP-API.md).  MHD-free:
 * http.c sends them.
 */
#include "tsa/server_int.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void server_reply_init(server_reply *r)
{
    memset(r, 0, sizeof(*r));
    r->status = 500;
    r->content_type = "application/json";
}

void server_reply_dispose(server_reply *r)
{
    if (r != NULL) {
        nt_buf_dispose(&r->body);
    }
}

/* JSON text of a C string, appended (quotes included). */
static int json_quote(nt_buf *out, const char *s)
{
    json_t *j = json_string(s != NULL ? s : "");
    int error;
    if (j == NULL) {
        /* not UTF-8: drop to a safe placeholder rather than emit invalid JSON */
        return nt_buf_puts(out, "\"(invalid UTF-8)\"");
    }
    error = nt_json_dump(out, j, JSON_ENCODE_ANY);
    json_decref(j);
    return error;
}

void server_reply_error(server_reply *r, unsigned status, const char *code, const char *field,
                        const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->status = status;
    r->content_type = "application/json";
    nt_buf_clear(&r->body);
    if (nt_buf_puts(&r->body, "{\"error\":") < 0 || json_quote(&r->body, code) < 0 ||
        nt_buf_puts(&r->body, ",\"message\":") < 0 || json_quote(&r->body, msg) < 0 ||
        (field != NULL &&
         (nt_buf_puts(&r->body, ",\"field\":") < 0 || json_quote(&r->body, field) < 0)) ||
        nt_buf_puts(&r->body, "}\n") < 0) {
        nt_buf_clear(&r->body);
    }
}

static void reply_json(server_reply *r, unsigned status, json_t *j)
{
    nt_buf_clear(&r->body);
    if (j == NULL || nt_json_dump(&r->body, j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 ||
        nt_buf_putc(&r->body, '\n') < 0) {
        json_decref(j);
        server_reply_error(r, 500, "internal_error", NULL, "out of memory");
        return;
    }
    json_decref(j);
    r->status = status;
    r->content_type = "application/json";
}

void server_reply_json(server_reply *r, unsigned status, json_t *j)
{
    reply_json(r, status, j);
}

void server_reply_take(server_reply *r, nt_buf *body, const char *content_type)
{
    nt_buf_dispose(&r->body);
    r->body = *body;
    *body = (nt_buf)NT_BUF_INIT;
    r->status = 200;
    r->content_type = content_type;
}
