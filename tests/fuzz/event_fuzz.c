/*
 * event_fuzz.c - fuzz target for the case-event body parser
 * (ledger/event_parse.c): any bytes through event_body_parse.  Invariants on
 * every accepted body: each field obeys its rule as the validators state it
 * (tenant, case, kind, attribute names, seq >= 1, prev present iff seq > 1,
 * counts within limits, artifact digests of their algorithm's size), and
 * parsing the same bytes again gives the same result.  Seeds in
 * tests/fuzz/corpus/event/: bodies as the server builds them, and broken ones.
 */
#include "ledger/event.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const event_body *b)
{
    if (!event_tenant_valid(b->tenant, strlen(b->tenant)) ||
        !event_case_valid(b->case_id, strlen(b->case_id)) ||
        !event_kind_valid(b->kind, strlen(b->kind)) || b->seq < 1 || b->seq > EVENT_MAX_SEQ ||
        b->has_prev != (b->seq > 1) || b->artifact_count > EVENT_MAX_ARTIFACTS ||
        b->attribute_count > EVENT_MAX_ATTRIBUTES) {
        abort();
    }
    for (size_t i = 0; i < b->artifact_count; i++) {
        if (b->artifacts[i].digest.len != record_alg_size(b->artifacts[i].alg) ||
            b->artifacts[i].alg == RECORD_ALG_SHA1 || b->artifacts[i].alg == RECORD_ALG_MD5) {
            abort();
        }
    }
    for (size_t i = 0; i < b->attribute_count; i++) {
        if (!event_attr_name_valid(b->attributes[i].name, strlen(b->attributes[i].name)) ||
            event_body_attribute_find(b, b->attributes[i].name) == NULL) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    event_body a, b;
    if (event_body_parse(&a, data, size) != 0) {
        if (a.seq != 0 || a.artifact_count != 0 || a.attribute_count != 0) {
            abort(); /* a refused body leaves nothing behind */
        }
        return 0;
    }
    check(&a);
    if (event_body_parse(&b, data, size) != 0 || a.seq != b.seq || strcmp(a.kind, b.kind) != 0 ||
        a.artifact_count != b.artifact_count || a.attribute_count != b.attribute_count ||
        memcmp(a.attributes, b.attributes, sizeof(a.attributes)) != 0) {
        abort();
    }
    event_body_dispose(&a);
    event_body_dispose(&b);
    return 0;
}
