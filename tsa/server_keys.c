/*
 * server_keys.c - the daemon's keys and certificates at start-up and while it
 * runs: the TSA signer and the log key loaded as config.json names them
 * (files or a PKCS#11 token: server_config_signer_load, certs_log_key_open), the
 * start-up checks per identity (certs_signer_inspect: defects refuse the start or the
 * reload, warnings are logged), and certificate expiry: a /metrics gauge of days left per
 * certificate, and a log warning under 30 days at start and once a day while
 * requests come in.  Kept out of server.c, which calls four functions.
 */
#include "tsa/server_int.h"

#include "certs/certs.h"

#include <stdlib.h>
#include <string.h>

#define KEYS_CHECK_INTERVAL 86400

/* One certificate the server presents: its label text for /metrics and its notAfter. */
typedef struct keys_cert {
    nt_buf labels; /* role="tsa",subject="...",sha256="..." (escaped) */
    time_t not_after;
} keys_cert;

#define KEYS_MAX (RECEIPT_MAX_CERTS * SERVER_MAX_IDENTITIES)

struct server_keys {
    keys_cert certs[KEYS_MAX];
    size_t count;
    _Atomic int64_t next_check; /* unix time of the next daily check */
};

/* Log every warning (and, while running, every defect) of the inspection. */
static void log_findings(const certs_signer *signer, time_t now, int running)
{
    certs_findings f;
    if (certs_signer_inspect(&f, signer, now) < 0) {
        return;
    }
    for (size_t i = 0; i < f.count; i++) {
        if (f.item[i].severity == CERTS_WARNING) {
            nt_log_warn("%s", f.item[i].text);
        } else if (running && f.item[i].severity == CERTS_DEFECT) {
            nt_log_error("TSA certificate: %s", f.item[i].text);
        }
    }
}

static int cert_add(struct server_keys *k, X509 *cert, const char *role, const char *identity)
{
    keys_cert *c = &k->certs[k->count];
    nt_buf subject = NT_BUF_INIT, fp = NT_BUF_INIT;
    int error = 0;

    NT_TRY(certs_cert_not_after(&c->not_after, cert));
    NT_TRY(certs_cert_subject(&subject, cert));
    NT_TRY(certs_cert_fingerprint(&fp, cert));
    NT_TRY(nt_buf_printf(&c->labels, "role=\"%s\",subject=\"", role));
    NT_TRY(server__label_value(&c->labels, nt_buf_cstr(&subject)));
    NT_TRY(nt_buf_printf(&c->labels, "\",sha256=\"%s\",identity=\"", nt_buf_cstr(&fp)));
    NT_TRY(server__label_value(&c->labels, identity));
    NT_TRY(nt_buf_putc(&c->labels, '"'));
    k->count++;
done:
    nt_buf_dispose(&subject);
    nt_buf_dispose(&fp);
    return error;
}

/* The expiry gauges of every certificate of every identity of lv. */
int server__keys_expiry(server_live *lv)
{
    struct server_keys *k = nt_calloc(1, sizeof(*k));
    int error = 0;

    NT_ENSURE(k != NULL, NT_ENOMEM, "out of memory");
    lv->keys = k;
    atomic_store(&k->next_check, (int64_t)time(NULL) + KEYS_CHECK_INTERVAL);
    for (size_t i = 0; i < lv->count; i++) {
        const certs_signer *sg = lv->ids[i].signer;
        int n = sg->chain != NULL ? sk_X509_num(sg->chain) : 0;
        NT_ENSURE(k->count < KEYS_MAX, NT_ERANGE, "too many certificates");
        NT_TRY(cert_add(k, sg->cert, "tsa", lv->ids[i].name));
        for (int j = 0; j < n; j++) {
            NT_ENSURE(k->count < KEYS_MAX, NT_ERANGE, "too many certificates");
            NT_TRY(cert_add(k, sk_X509_value(sg->chain, j), "chain", lv->ids[i].name));
        }
    }
done:
    return error;
}

int server__keys_load(server *s)
{
    const server_config *c = s->cfg;
    certs_pkcs11_config p11 = {c->pkcs11_module, c->pkcs11_pin_file, c->pkcs11_pin_env};

    return certs_log_key_open(&s->log_key, c->ledger_log_key, &p11);
}

int server__keys_check(const server_identity *id, const server_config *c)
{
    const server_identity_config *ic = NULL;
    time_t now = time(NULL);
    char reason[512];
    int error = 0;

    for (size_t i = 0; i < c->identity_count; i++) {
        if (strcmp(c->identities[i].name, id->name) == 0) {
            ic = &c->identities[i];
        }
    }
    if (certs_signer_check(id->signer, now) < 0) {
        snprintf(reason, sizeof(reason), "%s", nt_error_last());
        if (c->identity_count > 1) {
            NT_ENSURE(0, NT_EINVAL, "TSA certificate of identity %s refused: %s", id->name, reason);
        }
        NT_ENSURE(0, NT_EINVAL, "TSA certificate refused: %s", reason);
    }
    if (c->tsa_qualified && certs_cert_qualified(id->signer->cert) < 0) { /* docs/KEYS.md */
        snprintf(reason, sizeof(reason), "%s", nt_error_last());
        if (c->identity_count > 1) {
            NT_ENSURE(0, NT_EINVAL,
                      "tsa.qualified is true but the TSA certificate of identity %s: %s", id->name,
                      reason);
        }
        NT_ENSURE(0, NT_EINVAL, "tsa.qualified is true but the TSA %s", reason);
    }
    if (ic != NULL && certs_uri_is_pkcs11(ic->key) && ic->pkcs12 == NULL) {
        if (c->identity_count > 1) {
            nt_log_info("TSA key of identity %s in a PKCS#11 token: %s (module %s)", id->name,
                        ic->key, c->pkcs11_module);
        } else {
            nt_log_info("TSA key in a PKCS#11 token: %s (module %s)", ic->key, c->pkcs11_module);
        }
    }
    log_findings(id->signer, now, 0);
done:
    return error;
}

void server__keys_tick(server *s)
{
    server_live *lv = server__live_acquire(s);
    struct server_keys *k = lv != NULL ? lv->keys : NULL;
    int64_t next, now = (int64_t)time(NULL);

    if (k != NULL && now >= (next = atomic_load(&k->next_check)) &&
        atomic_compare_exchange_strong(&k->next_check, &next, now + KEYS_CHECK_INTERVAL)) {
        /* one request thread wins the day's check */
        for (size_t i = 0; i < lv->count; i++) {
            log_findings(lv->ids[i].signer, (time_t)now, 1);
        }
    }
    server__live_release(lv);
}

int server__keys_metrics(nt_buf *b, server *s)
{
    server_live *lv = server__live_acquire(s);
    const struct server_keys *k = lv != NULL ? lv->keys : NULL;
    time_t now = time(NULL);
    int e = 0;

    if (k != NULL) {
        e |= nt_buf_puts(b, "# HELP notarium_certificate_days_left Days until the certificate's "
                            "notAfter (negative once expired), per configured certificate.\n"
                            "# TYPE notarium_certificate_days_left gauge\n");
        for (size_t i = 0; i < k->count; i++) {
            e |= nt_buf_printf(b, "notarium_certificate_days_left{%s} %.3f\n",
                               nt_buf_cstr(&k->certs[i].labels),
                               (double)(k->certs[i].not_after - now) / 86400.0);
        }
    }
    server__live_release(lv);
    return e;
}

void server__keys_expiry_free(server_live *lv)
{
    if (lv->keys == NULL) {
        return;
    }
    for (size_t i = 0; i < lv->keys->count; i++) {
        nt_buf_dispose(&lv->keys->certs[i].labels);
    }
    nt_free(lv->keys);
    lv->keys = NULL;
}
