/*
 * event.h - the events of a case (issue 11): the body every case-event leaf
 * (record kind 0x03) commits to.  Part of the pure `nt_merkle` library, so
 * that the offline verifier shares it.  docs/FORMATS.md "Case events" pins the
 * bytes: the body is one JSON object serialised exactly as
 * json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS), with the members
 * type, tenant, case, seq, prev, kind, artifacts, attributes.
 *
 * The server builds bodies (event.c); the verifier parses them and checks
 * attribute commitments (event_parse.c, owned by the verifier side).
 */
#ifndef LEDGER_EVENT_H
#define LEDGER_EVENT_H

#include "util/util.h"

#define EVENT_TYPE              "notarium.event/1"
#define EVENT_TENANT_MAX        64u
#define EVENT_CASE_MAX          128u
#define EVENT_KIND_MAX          64u /* "x-" + 62 */
#define EVENT_MAX_ARTIFACTS     16u
#define EVENT_MAX_ATTRIBUTES    32u
#define EVENT_ARTIFACT_NAME_MAX 255u
#define EVENT_ROLE_MAX          32u
#define EVENT_ATTR_NAME_MAX     64u
#define EVENT_VALUE_MAX         4096u /* attribute value bytes (the body holds only commitments) */
#define EVENT_SALT_SIZE         32u
#define EVENT_COMMITMENT_HEX    64u

/* 1 when s[0..n) is valid for the member (the rules of docs/FORMATS.md), else 0. */
int event_tenant_valid(const char *s, size_t n); /* 1..64 of [A-Za-z0-9._-] */
int event_case_valid(const char *s, size_t n);   /* 1..128 of [A-Za-z0-9._:-] */
int event_kind_valid(const char *s, size_t n); /* the vocabulary, or "x-" + 1..62 of [a-z0-9._-] */
int event_role_valid(const char *s, size_t n); /* 1..32 of [a-z0-9._-] */
int event_attr_name_valid(const char *s, size_t n); /* 1..64 of [a-z0-9._-], first a letter */

/* One artifact of an event.  `digest` is "<alg>:<hex>" as record_digest_parse takes it;
 * the body holds it normalised (algorithm name as record_alg_name, lowercase hex). */
typedef struct event_artifact {
    const char *digest;
    const char *name; /* NULL = absent; 1..255 bytes of UTF-8 */
    const char *role; /* NULL = absent */
} event_artifact;

typedef struct event_attribute {
    const char *name;
    uint8_t commitment[32];
} event_attribute;

/* The fields of one event body.  Everything is borrowed. */
typedef struct event_fields {
    const char *tenant;
    const char *case_id;
    uint64_t seq;        /* 1.. */
    const uint8_t *prev; /* 32 bytes: the leaf hash of event seq - 1; NULL iff seq == 1 */
    const char *kind;
    const event_artifact *artifacts;
    size_t artifact_count;
    const event_attribute *attributes;
    size_t attribute_count;
} event_fields;

/*
 * Build the canonical body of `ev` into *out (replaced).  NT_EINVAL with a
 * message naming the member ("artifacts[2].digest: ...", "attributes.Phone:
 * bad name", "seq") for anything docs/FORMATS.md does not allow, including a
 * duplicate attribute name; NT_ENOMEM.  Deterministic: the same fields give
 * the same bytes.
 */
int event_body_build(nt_buf *out, const event_fields *ev);

#endif
