/*
 * evidence_fuzz.c - fuzz target for the body of POST /v1/evidence: any bytes
 * through server_evidence_parse (tsa/server_evidence.c), the way http.c feeds them.
 * The parser reads only the server's configuration, so the server here is a
 * bare struct with a config (no signer, no ledger).  Every input is parsed
 * twice: by a strict server (no SHA-1 / MD5, 64 bytes of metadata at most) and
 * a lenient one (both allowed, the default 16 KiB).  Invariants: a refusal
 * is a 400 whose body is a JSON object with "error" and "message" (500 only
 * for out-of-memory); an accepted record has a digest of its algorithm's
 * size, a kind of 1..64 characters of [A-Za-z0-9._-], and metadata that is
 * a JSON object, canonical (re-serialising gives the same bytes) and within
 * the limit; whatever the strict server accepts the lenient one accepts the
 * same way.  Seeds in tests/fuzz/corpus/evidence/: valid records with and
 * without metadata for several algorithms, and one of each refusal.
 */
#include "tsa/server_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int valid_kind_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

static void check_refusal(const server_reply *r)
{
    json_t *j, *code;
    json_error_t jerr;

    if (r->status != 400 && r->status != 500) {
        abort();
    }
    j = json_loadb((const char *)r->body.ptr, r->body.len, 0, &jerr);
    if (j == NULL) {
        abort(); /* the error body must itself be valid JSON */
    }
    code = json_object_get(j, "error");
    if (!json_is_object(j) || !json_is_string(code) || json_string_length(code) == 0 ||
        !json_is_string(json_object_get(j, "message"))) {
        abort();
    }
    if (r->status == 500 && strcmp(json_string_value(code), "internal_error") != 0) {
        abort();
    }
    json_decref(j);
}

static void check_accepted(const server_evidence *e, const server *s)
{
    size_t n = strlen(e->kind);

    if (record_alg_name(e->alg) == NULL || e->digest.len != record_alg_size(e->alg)) {
        abort();
    }
    if ((e->alg == RECORD_ALG_SHA1 && !s->cfg->tsa.allow_sha1) ||
        (e->alg == RECORD_ALG_MD5 && !s->cfg->tsa.allow_md5)) {
        abort();
    }
    if (n == 0 || n > 64) {
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        if (!valid_kind_char(e->kind[i])) {
            abort();
        }
    }
    if (e->has_metadata) {
        /* The leaf commits to SHA-256 of these bytes: they must be canonical. */
        json_error_t jerr;
        json_t *m = json_loadb((const char *)e->metadata.ptr, e->metadata.len, 0, &jerr);
        char *again;
        if (m == NULL || !json_is_object(m) ||
            e->metadata.len > s->cfg->evidence_max_metadata_bytes) {
            abort();
        }
        again = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
        if (again == NULL || strlen(again) != e->metadata.len ||
            memcmp(again, e->metadata.ptr, e->metadata.len) != 0) {
            abort();
        }
        free(again);
        json_decref(m);
    } else if (e->metadata.len != 0) {
        abort();
    }
}

/* 0 accepted, -1 refused; the invariants are checked either way. */
static int parse_once(server_evidence *e, server *s, const uint8_t *data, size_t size)
{
    server_reply r;
    int rc;

    server_reply_init(&r);
    server_evidence_init(e);
    rc = server_evidence_parse(e, &r, s, NT_BYTES(data, size));
    if (rc == 0) {
        check_accepted(e, s);
    } else if (rc == -1) {
        check_refusal(&r);
    } else {
        abort();
    }
    server_reply_dispose(&r);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static server_config strict_cfg, lenient_cfg;
    static server strict, lenient;
    server_evidence a, b;
    int ra, rb;

    strict_cfg.evidence_max_metadata_bytes = 64;
    strict_cfg.tsa.allow_sha1 = 0;
    strict_cfg.tsa.allow_md5 = 0;
    strict.cfg = &strict_cfg;
    lenient_cfg.evidence_max_metadata_bytes = 16384;
    lenient_cfg.tsa.allow_sha1 = 1;
    lenient_cfg.tsa.allow_md5 = 1;
    lenient.cfg = &lenient_cfg;

    ra = parse_once(&a, &strict, data, size);
    rb = parse_once(&b, &lenient, data, size);
    if (ra == 0) {
        if (rb != 0 || a.alg != b.alg || strcmp(a.kind, b.kind) != 0 ||
            a.has_metadata != b.has_metadata || a.digest.len != b.digest.len ||
            memcmp(a.digest.ptr, b.digest.ptr, a.digest.len) != 0 ||
            a.metadata.len != b.metadata.len ||
            (a.metadata.len > 0 && memcmp(a.metadata.ptr, b.metadata.ptr, a.metadata.len) != 0)) {
            abort();
        }
    }
    server_evidence_dispose(&a);
    server_evidence_dispose(&b);
    return 0;
}
