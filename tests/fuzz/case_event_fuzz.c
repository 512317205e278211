/*
 * case_event_fuzz.c - fuzz target for the body of POST /v1/cases/<case>/events:
 * any bytes through server_case_parse (tsa/server_cases.c), the way
 * http_async.c feeds them (the parser reads nothing of the server).  Every
 * input is parsed twice, without and with an Idempotency-Key header.
 * Invariants: a refusal is a 400 (500 only for out-of-memory) whose body is a
 * JSON object with "error" and "message"; an accepted request has an event
 * key, and the body built from it (event_body_build, seq 1) is accepted by
 * the builder -- the parser lets through nothing the body format refuses --
 * and holds no attribute value: the input's values never appear in it.
 * Seeds in tests/fuzz/corpus/case_event/.
 */
#include "tsa/server_cases_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_refusal(const server_reply *r)
{
    json_t *j = json_loadb((const char *)r->body.ptr, r->body.len, 0, NULL);
    if ((r->status != 400 && r->status != 500) || j == NULL || !json_is_object(j) ||
        !json_is_string(json_object_get(j, "error")) ||
        !json_is_string(json_object_get(j, "message"))) {
        abort();
    }
    json_decref(j);
}

static void check_accepted(const server_case_req *c)
{
    event_artifact arts[EVENT_MAX_ARTIFACTS];
    event_attribute attrs[EVENT_MAX_ATTRIBUTES];
    event_fields ev;
    nt_buf body = NT_BUF_INIT;

    if (c->event_key[0] == '\0' || c->art_count > EVENT_MAX_ARTIFACTS ||
        c->attr_count > EVENT_MAX_ATTRIBUTES) {
        abort();
    }
    for (size_t i = 0; i < c->art_count; i++) {
        arts[i].digest = c->arts[i].digest;
        arts[i].name = c->arts[i].has_name ? c->arts[i].name : NULL;
        arts[i].role = c->arts[i].has_role ? c->arts[i].role : NULL;
    }
    for (size_t i = 0; i < c->attr_count; i++) {
        attrs[i].name = c->attrs[i].name;
        memcpy(attrs[i].commitment, c->attrs[i].commitment, 32);
    }
    memset(&ev, 0, sizeof(ev));
    ev.tenant = c->tenant;
    ev.case_id = c->case_id;
    ev.seq = 1;
    ev.kind = c->kind;
    ev.artifacts = arts;
    ev.artifact_count = c->art_count;
    ev.attributes = attrs;
    ev.attribute_count = c->attr_count;
    if (event_body_build(&body, &ev) < 0 && nt_error_code() != NT_ENOMEM) {
        abort(); /* the parser accepted what the body format refuses */
    }
    nt_buf_dispose(&body);
}

static void run(nt_bytes in, const char *header)
{
    server_case_req *c = NULL;
    server_reply r;

    server_reply_init(&r);
    if (server_case_parse(&c, &r, NULL, "fuzz-tenant", "case-1", in, header) < 0) {
        check_refusal(&r);
    } else {
        check_accepted(c);
    }
    server_case_req_free(c);
    server_reply_dispose(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(NT_BYTES(data, size), NULL);
    run(NT_BYTES(data, size), "hdr-key.1");
    return 0;
}
