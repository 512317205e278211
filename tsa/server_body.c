/*
 * server_body.c - the JSON request bodies of POST /v1/evidence, /v1/verify and
 * /v1/verify-report: one object, no member the route does not know, and a
 * 400 that says what is wrong.  http.c has already checked the content type
 * (415) and the size (413) of every JSON route before the body is read.
 */
#include "tsa/server_int.h"

#include <jansson.h>
#include <string.h>

/* ------------------------------------------------------------------ JSON bodies */

static const char *json_type_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    default:
        return "an object";
    }
}

static int json_object_parse(json_t **out, server_reply *r, nt_bytes body)
{
    json_error_t jerr;
    json_t *root;
    size_t i = 0;

    *out = NULL;
    while (i < body.len && (body.ptr[i] == ' ' || body.ptr[i] == '\t' || body.ptr[i] == '\r' ||
                            body.ptr[i] == '\n')) {
        i++;
    }
    if (i == body.len) {
        /* jansson would say "wrong arguments" (no buffer) or "end of file" */
        server_reply_error(r, 400, "empty_body", NULL,
                           "the body is empty; a JSON object is expected");
        return -1;
    }
    /* JSON_DECODE_ANY: a scalar body is named as such, not as a syntax error */
    root = json_loadb((const char *)body.ptr, body.len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                      &jerr);
    if (root == NULL) {
        if (jerr.line > 0) {
            server_reply_error(r, 400, "malformed_json", NULL,
                               "the body is not valid JSON: %s (line %d, column %d)", jerr.text,
                               jerr.line, jerr.column);
        } else {
            server_reply_error(r, 400, "malformed_json", NULL, "the body is not valid JSON: %s",
                               jerr.text);
        }
        return -1;
    }
    if (!json_is_object(root)) {
        server_reply_error(r, 400, "malformed_json", NULL, "the body must be a JSON object, not %s",
                           json_type_name(root));
        json_decref(root);
        return -1;
    }
    *out = root;
    return 0;
}

int server_json_body(json_t **out, server_reply *r, nt_bytes body, const char *const members[])
{
    json_t *v;
    const char *key;

    if (json_object_parse(out, r, body) < 0) {
        return -1;
    }
    json_object_foreach (*out, key, v) {
        size_t i = 0;
        while (members[i] != NULL && strcmp(key, members[i]) != 0) {
            i++;
        }
        if (members[i] == NULL) {
            server_reply_error(r, 400, "unknown_member", key, "unknown member '%s'", key);
            json_decref(*out);
            *out = NULL;
            return -1;
        }
    }
    return 0;
}
