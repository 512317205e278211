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

#include "ledger/record.h"
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

/* ------------------------------------------------------------------ parse (event_parse.c) */

/* The parser's own bounds. */
#define EVENT_MAX_BODY (60u * 1024u)       /* a leaf's metadata; generous for 16 + 32 members */
#define EVENT_MAX_SEQ  ((uint64_t)1 << 53) /* JSON integers exact in every reader */

/* The kind that seals a case: nothing may follow it. */
#define EVENT_KIND_COMPLETED "case.completed"

/* One artifact of a parsed body: the digest of a document version, a signature value, ... */
typedef struct event_body_artifact {
    record_alg alg;
    nt_buf digest; /* the raw digest bytes (record_alg_size(alg) of them) */
    int has_name;
    nt_buf name; /* UTF-8, NUL-terminated; empty unless has_name */
    int has_role;
    nt_buf role; /* [a-z0-9._-], NUL-terminated; empty unless has_role */
} event_body_artifact;

/* One attribute of a parsed body: a salted commitment (event_commitment) to a value kept by the
 * platform. */
typedef struct event_body_attribute {
    char name[EVENT_ATTR_NAME_MAX + 1];
    uint8_t commitment[32];
} event_body_attribute;

/* A parsed body.  Start with event_body_init, release with event_body_dispose. */
typedef struct event_body {
    char tenant[EVENT_TENANT_MAX + 1];
    char case_id[EVENT_CASE_MAX + 1];
    uint64_t seq; /* 1.. */
    int has_prev; /* 0 exactly when seq is 1 */
    uint8_t prev[32];
    char kind[EVENT_KIND_MAX + 1];
    event_body_artifact artifacts[EVENT_MAX_ARTIFACTS];
    size_t artifact_count;
    event_body_attribute attributes[EVENT_MAX_ATTRIBUTES]; /* in the body's (sorted) order */
    size_t attribute_count;
} event_body;

void event_body_init(event_body *b);
void event_body_dispose(event_body *b);

/*
 * Parse body bytes strictly: a JSON object with exactly the members above (no
 * duplicate, unknown or missing member, no trailing bytes), each of its type
 * and within its charset and limits: `type` "notarium.event/1"; `tenant` 1..64
 * of [A-Za-z0-9._-]; `case` 1..128 of [A-Za-z0-9._:-]; `seq` an integer 1..2^53;
 * `prev` null iff seq is 1, else 64 lowercase hex; `kind` one of the
 * vocabulary (event_kind_valid); `artifacts` 0..16 objects with `digest`
 * "<alg>:<hex>" as record_digest_parse reads it, limited to sha256, sha384,
 * sha512 and sha3-*, optional `name` (1..255 bytes UTF-8, no NUL) and `role`
 * (1..32 of [a-z0-9._-]); `attributes` 0..32 members named 1..64 of
 * [a-z0-9._-] starting with a letter, each 64 lowercase hex.
 *
 * NT_EINVAL with a message naming the member ("artifacts[2].digest: ...",
 * "attributes.phone: ..."); NT_ENOMEM.  *out is event_body_init'd first (so
 * dispose a reused one before); on failure it is left empty, on success the
 * caller owns it (event_body_dispose).
 */
int event_body_parse(event_body *out, const uint8_t *body, size_t len);

/* The attribute named `name` of a parsed body, or NULL.  Borrowed. */
const event_body_attribute *event_body_attribute_find(const event_body *b, const char *name);

/*
 * The attribute commitment (docs/FORMATS.md):
 *   SHA-256("notarium.attribute.v1" || 0x00 || name || 0x00 || salt || value)
 * with `salt` exactly EVENT_SALT_SIZE bytes and `value` 1..EVENT_VALUE_MAX
 * bytes of UTF-8 (not normalised).  NT_EINVAL for an invalid name, an empty,
 * too long or non-UTF-8 value.
 */
int event_commitment(uint8_t out[32], const char *name, const uint8_t salt[EVENT_SALT_SIZE],
                     const uint8_t *value, size_t value_len);

#endif
