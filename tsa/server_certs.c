/*
 * server_certs.c - every signing certificate this server's ledger knows, so that
 * every token stays checkable for decades (docs/KEYS.md, docs/FORMATS.md):
 *
 * - When an identity is first used (first start, a reload with a new
 *   certificate) its certificate is recorded in the ledger: a leaf of kind
 *   0x04 whose digest is the SHA-256 of the certificate's DER, label
 *   "certificate", and whose token is a time-stamp over that digest issued with
 *   certReq by the identity itself, so that the token carries the certificate
 *   and its chain into the ledger and the git mirror.
 * - The registry (in memory, append-only) maps each certificate's SHA-256 to
 *   its chain: receipts of tokens issued without certReq carry the chain of the
 *   certificate that signed them (found by its SHA-256 in the token's
 *   ESSCertIDv2, which every token of ours holds verbatim), and GET
 *   /v1/certs/<sha256> serves it.  state/certs lists the recorded certificates,
 *   one SHA-256 in hex a line, so a restart loads certificates no longer
 *   configured from their leaves.
 */
#include "tsa/server_int.h"

#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#define CERTS_REG_MAX 256

typedef struct cert_entry {
    uint8_t sha256[32];
    char hex[65];
    nt_buf der[RECEIPT_MAX_CERTS]; /* the certificate, then its chain */
    size_t count;
    nt_buf certs_text; /* receipt_certs_text of der[] */
} cert_entry;

struct server_certs {
    pthread_mutex_t lock; /* adders; readers take none */
    cert_entry *entries[CERTS_REG_MAX];
    _Atomic size_t count;
};

static void entry_free(cert_entry *e)
{
    if (e == NULL) {
        return;
    }
    for (size_t i = 0; i < RECEIPT_MAX_CERTS; i++) {
        nt_buf_dispose(&e->der[i]);
    }
    nt_buf_dispose(&e->certs_text);
    nt_free(e);
}

static const cert_entry *find(const struct server_certs *c, const uint8_t sha256[32])
{
    size_t n = atomic_load(&c->count);
    for (size_t i = 0; i < n; i++) {
        if (memcmp(c->entries[i]->sha256, sha256, 32) == 0) {
            return c->entries[i];
        }
    }
    return NULL;
}

/* Add (sha256 -> der[0..count)) unless known. */
static int add(struct server_certs *c, const uint8_t sha256[32], const nt_buf *der, size_t count)
{
    cert_entry *e = NULL;
    size_t n;
    int error = 0;

    pthread_mutex_lock(&c->lock);
    if (find(c, sha256) != NULL) {
        goto done;
    }
    n = atomic_load(&c->count);
    NT_ENSURE(n < CERTS_REG_MAX, NT_EFULL, "more than %d signing certificates", CERTS_REG_MAX);
    NT_ENSURE((e = nt_calloc(1, sizeof(*e))) != NULL, NT_ENOMEM, "out of memory");
    memcpy(e->sha256, sha256, 32);
    nt_hex_fill(e->hex, sha256, 32);
    for (size_t i = 0; i < count && i < RECEIPT_MAX_CERTS; i++) {
        NT_TRY(nt_buf_set(&e->der[i], der[i].ptr, der[i].len));
        e->count = i + 1;
    }
    NT_TRY(receipt_certs_text(&e->certs_text, e->der, e->count));
    c->entries[n] = e;
    e = NULL;
    atomic_store(&c->count, n + 1); /* published whole */
done:
    pthread_mutex_unlock(&c->lock);
    entry_free(e);
    return error;
}

/* The certificates a token carries: the one whose SHA-256 is `sha256` first, then the rest. */
static int token_chain(nt_buf *der, size_t *count, nt_bytes token, const uint8_t sha256[32])
{
    const unsigned char *p = token.ptr;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)token.len);
    STACK_OF(X509) *certs = cms != NULL ? CMS_get1_certs(cms) : NULL;
    unsigned char *buf = NULL;
    uint8_t h[32];
    size_t n = 1;
    int error = 0, len, found = 0;

    *count = 0;
    NT_ENSURE(certs != NULL, NT_ECORRUPT, "the certificate leaf's token carries no certificates");
    for (int i = 0; i < sk_X509_num(certs) && n < RECEIPT_MAX_CERTS; i++) {
        NT_ENSURE((len = i2d_X509(sk_X509_value(certs, i), &buf)) > 0, NT_ECRYPTO,
                  "cannot encode a certificate");
        NT_OSSL(EVP_Digest(buf, (size_t)len, h, NULL, EVP_sha256(), NULL), "SHA-256");
        if (!found && memcmp(h, sha256, 32) == 0) {
            NT_TRY(nt_buf_set(&der[0], buf, (size_t)len));
            found = 1;
        } else {
            NT_TRY(nt_buf_set(&der[n++], buf, (size_t)len));
        }
        OPENSSL_free(buf);
        buf = NULL;
    }
    NT_ENSURE(found, NT_ECORRUPT, "the certificate leaf's token does not carry its certificate");
    *count = n;
done:
    OPENSSL_free(buf);
    sk_X509_pop_free(certs, X509_free);
    CMS_ContentInfo_free(cms);
    return error;
}

/* Whether the ledger holds a kind-0x04 leaf for `sha256`; with `der` set, its chain too. */
static int ledger_cert(int *found, nt_buf *der, size_t *count, server *s, const uint8_t sha256[32])
{
    uint64_t *idx = NULL;
    size_t n = 0;
    nt_buf leaf = NT_BUF_INIT;
    record rec;
    int error = 0;

    *found = 0;
    NT_TRY(ledger_find_digest(&idx, &n, s->ledger, RECORD_ALG_SHA256, NT_BYTES(sha256, 32), 64));
    for (size_t i = 0; i < n && !*found; i++) {
        nt_buf_clear(&leaf);
        NT_TRY(ledger_leaf_get(&leaf, NULL, s->ledger, idx[i]));
        NT_TRY(record_decode(&rec, leaf.ptr, leaf.len));
        if (rec.kind == RECORD_KIND_CERTIFICATE) {
            *found = 1;
            if (der != NULL && count != NULL) {
                NT_TRY(token_chain(der, count, rec.token, sha256));
            }
        }
    }
done:
    nt_free(idx);
    nt_buf_dispose(&leaf);
    return error;
}

static int state_path(nt_buf *out, const server *s)
{
    return nt_path_join(out, s->cfg->data_dir, "state/certs");
}

/* Rewrite state/certs with every registered certificate. */
static int state_write(server *s)
{
    nt_buf path = NT_BUF_INIT, text = NT_BUF_INIT;
    size_t n = atomic_load(&s->certs->count);
    int error = 0;

    for (size_t i = 0; i < n; i++) {
        NT_TRY(nt_buf_printf(&text, "%s\n", s->certs->entries[i]->hex));
    }
    NT_TRY(state_path(&path, s));
    NT_TRY(nt_mkdir_p(s->cfg->data_dir, 0700));
    NT_TRY(nt_file_write_atomic(nt_buf_cstr(&path), text.ptr, text.len, 0644));
done:
    nt_buf_dispose(&path);
    nt_buf_dispose(&text);
    return error;
}

/* Load the certificates state/certs names from their leaves. */
static int state_load(server *s)
{
    nt_buf path = NT_BUF_INIT, text = NT_BUF_INIT, raw = NT_BUF_INIT;
    nt_buf der[RECEIPT_MAX_CERTS];
    size_t count = 0;
    const char *line;
    int error = 0, found;

    memset(der, 0, sizeof(der));
    NT_TRY(state_path(&path, s));
    if (!nt_path_exists(nt_buf_cstr(&path))) {
        goto done;
    }
    NT_TRY(nt_file_read(&text, nt_buf_cstr(&path), 1u << 20));
    for (line = nt_buf_cstr(&text); *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        nt_buf_clear(&raw);
        if (len != 64 || nt_hex_decode(&raw, line, len) < 0) {
            nt_log_warn("state/certs: ignoring a line that is not a SHA-256 in hex");
        } else {
            NT_TRY(ledger_cert(&found, der, &count, s, raw.ptr));
            if (found) {
                NT_TRY(add(s->certs, raw.ptr, der, count));
            } else {
                nt_log_warn("state/certs: certificate %.64s has no leaf in the ledger", line);
            }
        }
        line += len + (end != NULL);
    }
done:
    for (size_t i = 0; i < RECEIPT_MAX_CERTS; i++) {
        nt_buf_dispose(&der[i]);
    }
    nt_buf_dispose(&path);
    nt_buf_dispose(&text);
    nt_buf_dispose(&raw);
    return error;
}

int server__certs_open(server *s)
{
    int error = 0;

    NT_ENSURE((s->certs = nt_calloc(1, sizeof(*s->certs))) != NULL, NT_ENOMEM, "out of memory");
    pthread_mutex_init(&s->certs->lock, NULL);
    NT_TRY(state_load(s));
done:
    return error;
}

void server__certs_free(server *s)
{
    if (s->certs == NULL) {
        return;
    }
    for (size_t i = 0; i < atomic_load(&s->certs->count); i++) {
        entry_free(s->certs->entries[i]);
    }
    pthread_mutex_destroy(&s->certs->lock);
    nt_free(s->certs);
    s->certs = NULL;
}

/* ------------------------------------------------------------------ recording */

/* Issue the certificate's own token (certReq) and append its kind-0x04 leaf; wait for it. */
static int record_one(server *s, const server_identity *id)
{
    tsa_result res;
    record rec;
    nt_buf leaf = NT_BUF_INIT;
    char hex[65];
    uint64_t ns, index = 0;
    int error = 0;

    tsa_result_init(&res);
    NT_TRY(tsa_issue_digest(&res, id->tsa, RECORD_ALG_SHA256, NT_BYTES(id->sha256, 32)));
    NT_ENSURE(res.granted, NT_ESTATE, "cannot time-stamp the certificate of identity %s: %s",
              id->name, res.reason);
    memset(&rec, 0, sizeof(rec));
    rec.kind = RECORD_KIND_CERTIFICATE;
    rec.alg = RECORD_ALG_SHA256;
    rec.digest = NT_BYTES(id->sha256, 32);
    rec.label = NT_BYTES(RECORD_CERTIFICATE_LABEL, strlen(RECORD_CERTIFICATE_LABEL));
    rec.token = nt_buf_bytes(&res.token);
    NT_TRY(record_encode(&leaf, &rec));
    ns = (uint64_t)res.gen_time.tv_sec * 1000000000u + (uint64_t)res.gen_time.tv_nsec;
    NT_TRY(ledger_append_full(&index, s->ledger, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0),
                              NT_BYTES(NULL, 0), ns));
    nt_hex_fill(hex, id->sha256, 32);
    nt_log_info("certificate %s of identity %s recorded in the ledger (leaf %llu)", hex, id->name,
                (unsigned long long)index);
done:
    tsa_result_dispose(&res);
    nt_buf_dispose(&leaf);
    return error;
}

int server__certs_record(server *s, const server_live *lv)
{
    int error = 0, found, added = 0, rec = lv->cfg->tsa_record_certificates;

    for (size_t i = 0; i < lv->count; i++) {
        const server_identity *id = &lv->ids[i];
        if (find(s->certs, id->sha256) != NULL) {
            continue;
        }
        if (rec) {
            NT_TRY(ledger_cert(&found, NULL, NULL, s, id->sha256));
            if (!found) {
                NT_TRY(record_one(s, id));
            }
        }
        /* in the registry (receipts, /v1/certs) also when not recorded */
        NT_TRY(add(s->certs, id->sha256, id->cert_der, id->cert_count));
        added |= rec;
    }
    if (added) {
        NT_TRY(state_write(s));
    }
done:
    return error;
}

/* ------------------------------------------------------------------ receipts */

static int contains(nt_bytes hay, const uint8_t *needle, size_t n)
{
    for (size_t i = 0; hay.len >= n && i <= hay.len - n; i++) {
        if (hay.ptr[i] == needle[0] && memcmp(hay.ptr + i, needle, n) == 0) {
            return 1;
        }
    }
    return 0;
}

nt_bytes server__certs_for_token(server *s, nt_bytes token)
{
    size_t n = s->certs != NULL ? atomic_load(&s->certs->count) : 0;

    /* Our tokens carry ESSCertIDv2 with the signer certificate's SHA-256 (RFC 5816):
     * those 32 bytes appear in the token exactly where it names its signer. */
    for (size_t i = n; i-- > 0;) {
        const cert_entry *e = s->certs->entries[i];
        if (contains(token, e->sha256, 32)) {
            return nt_buf_bytes(&e->certs_text);
        }
    }
    return NT_BYTES(NULL, 0);
}

/* ------------------------------------------------------------------ GET /v1/certs */

static int pem_append(nt_buf *out, const nt_buf *der, size_t count)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;
    int error = 0;

    NT_ENSURE(bio != NULL, NT_ENOMEM, "out of memory");
    for (size_t i = 0; i < count; i++) {
        NT_OSSL(PEM_write_bio(bio, "CERTIFICATE", "", der[i].ptr, (long)der[i].len),
                "cannot encode a certificate");
    }
    len = BIO_get_mem_data(bio, &data);
    NT_TRY(nt_buf_put(out, data, (size_t)len));
done:
    BIO_free(bio);
    return error;
}

static json_t *identity_entry(const server_identity *id)
{
    nt_buf pem = NT_BUF_INIT, nb = NT_BUF_INIT, na = NT_BUF_INIT, hex = NT_BUF_INIT;
    const ASN1_TIME *t0 = X509_get0_notBefore(id->signer->cert);
    time_t a = 0, b = 0;
    struct timespec ts = {0, 0};
    struct tm tm;
    json_t *j = NULL;

    memset(&tm, 0, sizeof(tm));
    if (pem_append(&pem, id->cert_der, id->cert_count) == 0 && ASN1_TIME_to_tm(t0, &tm) == 1 &&
        certs_cert_not_after(&b, id->signer->cert) == 0 &&
        nt_hex_encode(&hex, id->sha256, 32) == 0) {
        a = timegm(&tm);
        ts.tv_sec = a;
        nt_time_rfc3339(&nb, &ts, 0);
        ts.tv_sec = b;
        nt_time_rfc3339(&na, &ts, 0);
        j = json_pack("{s:s, s:s, s:b, s:s, s:s, s:s, s:s#}", "name", id->name, "policy",
                      id->policy, "default", id->is_default, "sha256", nt_buf_cstr(&hex),
                      "not_before", nt_buf_cstr(&nb), "not_after", nt_buf_cstr(&na), "pem",
                      (const char *)pem.ptr, pem.len);
    }
    nt_buf_dispose(&pem);
    nt_buf_dispose(&nb);
    nt_buf_dispose(&na);
    nt_buf_dispose(&hex);
    return j;
}

static void get_list(server_reply *r, server *s)
{
    server_live *lv = server__live_acquire(s);
    json_t *ids = json_array(), *all = json_array(), *j = NULL;
    size_t n = atomic_load(&s->certs->count);
    int ok = ids != NULL && all != NULL && lv != NULL;

    for (size_t i = 0; ok && i < lv->count; i++) {
        ok = json_array_append_new(ids, identity_entry(&lv->ids[i])) == 0;
    }
    for (size_t i = 0; ok && i < n; i++) {
        ok = json_array_append_new(all, json_string(s->certs->entries[i]->hex)) == 0;
    }
    if (ok) {
        j = json_pack("{s:o, s:o}", "identities", ids, "recorded", all);
        ids = all = NULL;
    }
    json_decref(ids);
    json_decref(all);
    server__live_release(lv);
    server_reply_json(r, 200, j);
}

static int accepts_der(const char *accept)
{
    return accept != NULL && (strstr(accept, "application/pkix-cert") != NULL ||
                              strstr(accept, "application/x-x509-ca-cert") != NULL);
}

void server_get_certs(server_reply *r, server *s, const char *url, const char *accept)
{
    const char *hex = url + strlen("/v1/certs");
    nt_buf raw = NT_BUF_INIT, body = NT_BUF_INIT;
    const cert_entry *e;

    if (*hex == '\0') {
        get_list(r, s);
        return;
    }
    hex++; /* the '/' */
    if (strlen(hex) != 64 || nt_hex_decode(&raw, hex, 64) < 0) {
        server_reply_error(r, 400, "invalid_sha256", NULL,
                           "expected /v1/certs/<SHA-256 of the certificate's DER, 64 hex digits>");
        goto done;
    }
    if ((e = find(s->certs, raw.ptr)) == NULL) {
        server_reply_error(r, 404, "not_found", NULL,
                           "no signing certificate of this server has that SHA-256");
        goto done;
    }
    if (accepts_der(accept)) {
        if (nt_buf_set(&body, e->der[0].ptr, e->der[0].len) == 0) {
            server_reply_take(r, &body, "application/pkix-cert");
            goto done;
        }
    } else if (pem_append(&body, e->der, e->count) == 0) {
        server_reply_take(r, &body, "application/pem-certificate-chain");
        goto done;
    }
    server_reply_error(r, 500, "internal_error", NULL, "out of memory");
done:
    nt_buf_dispose(&raw);
    nt_buf_dispose(&body);
}
