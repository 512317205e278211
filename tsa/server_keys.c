/*
 * server_keys.c - the daemon's keys and certificates at start-up and while it
 * runs: the TSA signer and the log key loaded as config.json names them
 * (files or a PKCS#11 token: server_config_signer_load, certs_log_key_open), the
 * start-up checks (certs_signer_inspect: defects refuse the start, warnings
 * are logged), and certificate expiry: a /metrics gauge of days left per
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

struct server_keys {
    keys_cert certs[RECEIPT_MAX_CERTS];
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

static int cert_add(struct server_keys *k, X509 *cert, const char *role)
{
    keys_cert *c = &k->certs[k->count];
    nt_buf subject = NT_BUF_INIT, fp = NT_BUF_INIT;
    int error = 0;

    NT_TRY(certs_cert_not_after(&c->not_after, cert));
    NT_TRY(certs_cert_subject(&subject, cert));
    NT_TRY(certs_cert_fingerprint(&fp, cert));
    NT_TRY(nt_buf_printf(&c->labels, "role=\"%s\",subject=\"", role));
    NT_TRY(server__label_value(&c->labels, nt_buf_cstr(&subject)));
    NT_TRY(nt_buf_printf(&c->labels, "\",sha256=\"%s\"", nt_buf_cstr(&fp)));
    k->count++;
done:
    nt_buf_dispose(&subject);
    nt_buf_dispose(&fp);
    return error;
}

static int expiry_init(server *s, time_t now)
{
    struct server_keys *k = nt_calloc(1, sizeof(*k));
    int n = s->signer->chain != NULL ? sk_X509_num(s->signer->chain) : 0;
    int error = 0;

    NT_ENSURE(k != NULL, NT_ENOMEM, "out of memory");
    s->keys = k;
    atomic_store(&k->next_check, (int64_t)now + KEYS_CHECK_INTERVAL);
    NT_TRY(cert_add(k, s->signer->cert, "tsa"));
    for (int i = 0; i < n && k->count < RECEIPT_MAX_CERTS; i++) {
        NT_TRY(cert_add(k, sk_X509_value(s->signer->chain, i), "chain"));
    }
done:
    return error;
}

int server__keys_load(server *s)
{
    const server_config *c = s->cfg;
    certs_pkcs11_config p11 = {c->pkcs11_module, c->pkcs11_pin_file, c->pkcs11_pin_env};
    time_t now = time(NULL);
    char reason[512];
    int error = 0;

    NT_TRY(server_config_signer_load(&s->signer, c));
    if (certs_signer_check(s->signer, now) < 0) {
        snprintf(reason, sizeof(reason), "%s", nt_error_last());
        NT_ENSURE(0, NT_EINVAL, "TSA certificate refused: %s", reason);
    }
    if (c->tsa_qualified && certs_cert_qualified(s->signer->cert) < 0) { /* docs/KEYS.md */
        snprintf(reason, sizeof(reason), "%s", nt_error_last());
        NT_ENSURE(0, NT_EINVAL, "tsa.qualified is true but the TSA %s", reason);
    }
    if (certs_uri_is_pkcs11(c->tsa_key) && c->tsa_pkcs12 == NULL) {
        nt_log_info("TSA key in a PKCS#11 token: %s (module %s)", c->tsa_key, c->pkcs11_module);
    }
    log_findings(s->signer, now, 0);
    NT_TRY(certs_log_key_open(&s->log_key, c->ledger_log_key, &p11));
    NT_TRY(expiry_init(s, now));
done:
    return error;
}

void server__keys_tick(server *s)
{
    struct server_keys *k = s->keys;
    int64_t next, now = (int64_t)time(NULL);

    if (k == NULL || now < (next = atomic_load(&k->next_check))) {
        return;
    }
    /* one request thread wins the day's check */
    if (atomic_compare_exchange_strong(&k->next_check, &next, now + KEYS_CHECK_INTERVAL)) {
        log_findings(s->signer, (time_t)now, 1);
    }
}

int server__keys_metrics(nt_buf *b, const server *s)
{
    const struct server_keys *k = s->keys;
    time_t now = time(NULL);
    int e = 0;

    if (k == NULL) {
        return 0;
    }
    e |= nt_buf_puts(b, "# HELP notarium_certificate_days_left Days until the certificate's "
                        "notAfter (negative once expired), per configured certificate.\n"
                        "# TYPE notarium_certificate_days_left gauge\n");
    for (size_t i = 0; i < k->count; i++) {
        e |= nt_buf_printf(b, "notarium_certificate_days_left{%s} %.3f\n",
                           nt_buf_cstr(&k->certs[i].labels),
                           (double)(k->certs[i].not_after - now) / 86400.0);
    }
    return e;
}

void server__keys_free(server *s)
{
    if (s->keys == NULL) {
        return;
    }
    for (size_t i = 0; i < s->keys->count; i++) {
        nt_buf_dispose(&s->keys->certs[i].labels);
    }
    nt_free(s->keys);
    s->keys = NULL;
}
