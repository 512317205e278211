/*
 * case_bundle.c - the evidence bundle of a case (ledger_case_bundle,
 * docs/FORMATS.md "Evidence bundle"), for GET /v1/cases/<case>/bundle and
 * `notarium case export`.  It reads through the public ledger functions only
 * (no <lmdb.h>): the case head first, then the head of the tree and its
 * checkpoint, so that every event read is inside that checkpoint.
 */
#include "ledger/ledger.h"

#include <jansson.h>
#include <openssl/cms.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#define BUNDLE_CERTS_MAX 32u

typedef struct bundle_certs {
    nt_buf der[BUNDLE_CERTS_MAX];
    size_t count;
} bundle_certs;

static int certs_add(bundle_certs *c, const uint8_t *der, size_t len)
{
    for (size_t i = 0; i < c->count; i++) {
        if (c->der[i].len == len && memcmp(c->der[i].ptr, der, len) == 0) {
            return 0;
        }
    }
    if (c->count == BUNDLE_CERTS_MAX) {
        return nt_error_set(NT_ERANGE, "more than %u distinct certificates", BUNDLE_CERTS_MAX);
    }
    return nt_buf_set(&c->der[c->count++], der, len);
}

/* Every certificate of the token's SignedData. */
static int certs_from_token(bundle_certs *c, nt_bytes token)
{
    int error = 0;
    const unsigned char *p = token.ptr;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)token.len);
    STACK_OF(X509) *certs = NULL;

    NT_ENSURE(cms != NULL, NT_ECORRUPT, "a token of the case is not CMS");
    certs = CMS_get1_certs(cms);
    for (int i = 0; certs != NULL && i < sk_X509_num(certs); i++) {
        unsigned char *der = NULL;
        int len = i2d_X509(sk_X509_value(certs, i), &der);
        NT_ENSURE(len > 0, NT_ECRYPTO, "cannot encode a token certificate");
        error = certs_add(c, der, (size_t)len);
        OPENSSL_free(der);
        NT_TRY(error);
    }
done:
    sk_X509_pop_free(certs, X509_free);
    CMS_ContentInfo_free(cms);
    return error;
}

static json_t *b64_json(const uint8_t *p, size_t len)
{
    nt_buf b = NT_BUF_INIT;
    json_t *s = NULL;
    if (nt_base64_encode(&b, p, len) == 0) {
        s = json_stringn(b.len > 0 ? (const char *)b.ptr : "", b.len);
    }
    nt_buf_dispose(&b);
    return s;
}

/* One event object; its token's certificates into c. */
static int event_json(json_t **out, ledger *l, bundle_certs *c, uint64_t seq, uint64_t index,
                      uint64_t size)
{
    int error = 0;
    nt_buf leaf = NT_BUF_INIT, body = NT_BUF_INIT, proof = NT_BUF_INIT;
    json_t *e = NULL, *lf = NULL, *pr = NULL, *hashes = NULL;
    record rec;

    *out = NULL;
    NT_TRY(ledger_leaf_get(&leaf, &body, l, index));
    NT_TRY(record_decode(&rec, leaf.ptr, leaf.len));
    NT_ENSURE(rec.kind == RECORD_KIND_CASE_EVENT, NT_ECORRUPT,
              "event %llu of the case is leaf %llu, which is not a case event",
              (unsigned long long)seq, (unsigned long long)index);
    NT_TRY(certs_from_token(c, rec.token));
    NT_TRY(ledger_proof_inclusion(&proof, l, index, size));
    NT_ENSURE((e = json_object()) != NULL && (lf = json_object()) != NULL &&
                  (pr = json_object()) != NULL && (hashes = json_array()) != NULL,
              NT_ENOMEM, "out of memory");
    for (size_t i = 0; i + 32 <= proof.len; i += 32) {
        NT_ENSURE(json_array_append_new(hashes, b64_json(proof.ptr + i, 32)) == 0, NT_ENOMEM,
                  "out of memory");
    }
    NT_ENSURE(json_object_set_new(lf, "index", json_integer((json_int_t)index)) == 0 &&
                  json_object_set_new(lf, "data", b64_json(leaf.ptr, leaf.len)) == 0 &&
                  json_object_set_new(pr, "tree_size", json_integer((json_int_t)size)) == 0 &&
                  json_object_set(pr, "hashes", hashes) == 0 &&
                  json_object_set_new(e, "seq", json_integer((json_int_t)seq)) == 0 &&
                  json_object_set(e, "leaf", lf) == 0 &&
                  json_object_set_new(e, "token", b64_json(rec.token.ptr, rec.token.len)) == 0 &&
                  json_object_set(e, "proof", pr) == 0 &&
                  json_object_set_new(e, "body", b64_json(body.ptr, body.len)) == 0,
              NT_ENOMEM, "out of memory");
    *out = e;
    e = NULL;
done:
    json_decref(e);
    json_decref(lf);
    json_decref(pr);
    json_decref(hashes);
    nt_buf_dispose(&leaf);
    nt_buf_dispose(&body);
    nt_buf_dispose(&proof);
    return error;
}

/* The top-level members, in the order of docs/FORMATS.md. */
static int bundle_head(json_t *b, ledger *l, const char *tenant, const char *case_id, int sealed,
                       const nt_buf *note)
{
    int error = 0;
    nt_buf when = NT_BUF_INIT;
    struct timespec now;
    json_t *log = json_object();

    NT_TRY(nt_clock_now(&now));
    NT_TRY(nt_time_rfc3339(&when, &now, 0));
    NT_ENSURE(log != NULL && json_object_set_new(log, "origin", json_string(ledger_origin(l))) == 0,
              NT_ENOMEM, "out of memory");
    NT_ENSURE(json_object_set_new(b, "format", json_string("notarium.case-bundle")) == 0 &&
                  json_object_set_new(b, "version", json_integer(1)) == 0 &&
                  json_object_set_new(b, "tenant", json_string(tenant)) == 0 &&
                  json_object_set_new(b, "case", json_string(case_id)) == 0 &&
                  json_object_set_new(b, "sealed", json_boolean(sealed)) == 0 &&
                  json_object_set_new(b, "exported_at", json_string(nt_buf_cstr(&when))) == 0 &&
                  json_object_set(b, "log", log) == 0 &&
                  json_object_set_new(b, "checkpoint",
                                      json_stringn((const char *)note->ptr, note->len)) == 0,
              NT_ENOMEM, "out of memory");
done:
    json_decref(log);
    nt_buf_dispose(&when);
    return error;
}

int ledger_case_bundle(nt_buf *out, ledger *l, const char *tenant, const char *case_id,
                       const nt_bytes *certs, size_t cert_count)
{
    int error = 0;
    ledger_case_head h;
    ledger_info info;
    nt_buf note = NT_BUF_INIT;
    bundle_certs c;
    json_t *b = json_object(), *events = json_array(), *cj = json_array();
    char *text = NULL;
    uint64_t index;

    memset(&c, 0, sizeof(c));
    NT_ENSURE(b != NULL && events != NULL && cj != NULL, NT_ENOMEM, "out of memory");
    NT_TRY(ledger_case_head_get(&h, l, tenant, case_id));
    NT_TRY(ledger_info_get(&info, l));
    NT_TRY(ledger_checkpoint_at(&note, l, info.size));
    NT_TRY(bundle_head(b, l, tenant, case_id, h.sealed, &note));
    for (size_t i = 0; i < cert_count; i++) {
        NT_TRY(certs_add(&c, certs[i].ptr, certs[i].len));
    }
    for (uint64_t seq = 1; seq <= h.seq; seq++) {
        size_t n = 0;
        json_t *e = NULL;
        NT_TRY(ledger_case_events(&index, &n, l, tenant, case_id, seq, 1));
        NT_ENSURE(n == 1 && index < info.size, NT_ECORRUPT,
                  "event %llu of the case is missing or beyond the checkpoint",
                  (unsigned long long)seq);
        NT_TRY(event_json(&e, l, &c, seq, index, info.size));
        NT_ENSURE(json_array_append_new(events, e) == 0, NT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < c.count; i++) {
        NT_ENSURE(json_array_append_new(cj, b64_json(c.der[i].ptr, c.der[i].len)) == 0, NT_ENOMEM,
                  "out of memory");
    }
    NT_ENSURE(json_object_set(b, "certificates", cj) == 0 &&
                  json_object_set(b, "events", events) == 0,
              NT_ENOMEM, "out of memory");
    text = json_dumps(b, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    NT_ENSURE(text != NULL, NT_ENOMEM, "out of memory");
    NT_TRY(nt_buf_set(out, text, strlen(text)));
    NT_TRY(nt_buf_putc(out, '\n'));
done:
    free(text);
    for (size_t i = 0; i < c.count; i++) {
        nt_buf_dispose(&c.der[i]);
    }
    json_decref(b);
    json_decref(events);
    json_decref(cj);
    nt_buf_dispose(&note);
    return error;
}
