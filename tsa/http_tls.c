/*
 * http_tls.c - the HTTPS listener's GnuTLS side (the only file that includes
 * <gnutls/gnutls.h>): the credentials (certificate, key, client CA) loaded
 * from files and swapped atomically by server_tls_reload, the client
 * certificate check run inside the handshake, and its mapping to an API key
 * entry (docs/SECURITY.md, "TLS").
 *
 * libmicrohttpd 0.9.75 fixes its own GnuTLS credentials at MHD_start_daemon.
 * To reload without a restart, every new TLS connection gets the credentials
 * current at its start (gnutls_credentials_set from the connection
 * notification, before the first handshake byte is read); MHD's own
 * credentials only hold a retrieve function that fails, so a connection this
 * file did not set up never completes a handshake.  GnuTLS does not count
 * references to credentials: a replaced set is kept until the server stops
 * (a few KB per reload), because a connection that started before the swap
 * may still be using it.
 */
#include "tsa/http_int.h"

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* TLS 1.2 and 1.3 only, AEAD ciphers only, our order first. */
#define HTTP_TLS_PRIORITIES                                                                        \
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"            \
    "+CHACHA20-POLY1305:%SERVER_PRECEDENCE"
#define HTTP_TLS_MAX_FILE (1u << 20)

typedef struct tls_creds {
    gnutls_certificate_credentials_t cred;
    uint8_t cert_sha256[32]; /* of the first certificate of tls.cert */
    struct tls_creds *older; /* replaced sets, kept until server__tls_free */
} tls_creds;

struct server_tls {
    const server_config *cfg;
    _Atomic(tls_creds *) current;
    pthread_mutex_t lock; /* one reload at a time */
};

static void creds_free(tls_creds *c)
{
    while (c != NULL) {
        tls_creds *older = c->older;
        gnutls_certificate_free_credentials(c->cred);
        nt_free(c);
        c = older;
    }
}

static int gnutls_fail(int rc, const char *what, const char *path)
{
    return nt_error_set(NT_EINVAL, "%s %s: %s", what, path, gnutls_strerror(rc));
}

static int verify_client(gnutls_session_t session);

/* The first certificate of a PEM file's SHA-256 (to tell sets apart in logs and tests). */
static int first_cert_sha256(uint8_t out[32], const gnutls_datum_t *pem, const char *path)
{
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t der = {NULL, 0};
    int rc, error = 0;

    if ((rc = gnutls_x509_crt_init(&crt)) < 0 ||
        (rc = gnutls_x509_crt_import(crt, pem, GNUTLS_X509_FMT_PEM)) < 0 ||
        (rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der)) < 0 ||
        (rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, out)) < 0) {
        error = gnutls_fail(rc, "tls.cert: cannot read", path);
    }
    gnutls_free(der.data);
    gnutls_x509_crt_deinit(crt);
    return error;
}

/* Load tls.cert + tls.key (+ tls.client_ca) into a fresh set. */
static int creds_load(tls_creds **out, const server_config *cfg)
{
    nt_buf cert = NT_BUF_INIT, key = NT_BUF_INIT, ca = NT_BUF_INIT;
    tls_creds *c = NULL;
    gnutls_datum_t dc, dk;
    int rc, error = 0;

    *out = NULL;
    NT_TRY(nt_file_read(&cert, cfg->tls_cert, HTTP_TLS_MAX_FILE));
    error = nt_file_read_private(&key, cfg->tls_key, HTTP_TLS_MAX_FILE);
    if (error < 0) {
        char msg[400];
        snprintf(msg, sizeof(msg), "%s", nt_error_last());
        NT_ENSURE(0, error, "tls.key: %s", msg);
    }
    NT_ENSURE((c = nt_calloc(1, sizeof(*c))) != NULL, NT_ENOMEM, "out of memory");
    rc = gnutls_certificate_allocate_credentials(&c->cred);
    NT_ENSURE(rc >= 0, NT_ENOMEM, "gnutls: %s", gnutls_strerror(rc));
    dc.data = cert.ptr;
    dc.size = (unsigned)cert.len;
    dk.data = key.ptr;
    dk.size = (unsigned)key.len;
    NT_TRY(first_cert_sha256(c->cert_sha256, &dc, cfg->tls_cert));
    /* GnuTLS checks that the key is the certificate's (GNUTLS_E_CERTIFICATE_KEY_MISMATCH). */
    rc = gnutls_certificate_set_x509_key_mem2(c->cred, &dc, &dk, GNUTLS_X509_FMT_PEM, NULL, 0);
    NT_ENSURE(rc >= 0, NT_EINVAL, "tls.key %s and tls.cert %s: %s", cfg->tls_key, cfg->tls_cert,
              rc == GNUTLS_E_CERTIFICATE_KEY_MISMATCH ? "the key is not the certificate's key"
                                                      : gnutls_strerror(rc));
    if (cfg->tls_client_ca != NULL) {
        gnutls_datum_t dca;
        NT_TRY(nt_file_read(&ca, cfg->tls_client_ca, HTTP_TLS_MAX_FILE));
        dca.data = ca.ptr;
        dca.size = (unsigned)ca.len;
        rc = gnutls_certificate_set_x509_trust_mem(c->cred, &dca, GNUTLS_X509_FMT_PEM);
        NT_ENSURE(rc > 0, NT_EINVAL, "tls.client_ca %s: %s", cfg->tls_client_ca,
                  rc == 0 ? "no certificate in it" : gnutls_strerror(rc));
        gnutls_certificate_set_verify_function(c->cred, verify_client);
    }
    *out = c;
    c = NULL;
done:
    creds_free(c);
    nt_buf_dispose(&cert);
    nt_buf_dispose_secret(&key);
    nt_buf_dispose(&ca);
    return error;
}

int server__tls_new(struct server_tls **out, const server_config *cfg)
{
    struct server_tls *t = NULL;
    tls_creds *c = NULL;
    int error = 0;

    *out = NULL;
    NT_TRY(creds_load(&c, cfg));
    NT_ENSURE((t = nt_calloc(1, sizeof(*t))) != NULL, NT_ENOMEM, "out of memory");
    NT_ENSURE(pthread_mutex_init(&t->lock, NULL) == 0, NT_ENOMEM, "pthread_mutex_init");
    t->cfg = cfg;
    atomic_store(&t->current, c);
    c = NULL;
    *out = t;
    t = NULL;
done:
    creds_free(c);
    nt_free(t);
    return error;
}

void server__tls_free(struct server_tls *t)
{
    if (t == NULL) {
        return;
    }
    creds_free(atomic_load(&t->current));
    pthread_mutex_destroy(&t->lock);
    nt_free(t);
}

int server__tls_reload(struct server_tls *t)
{
    tls_creds *c = NULL;
    int error;

    pthread_mutex_lock(&t->lock);
    error = creds_load(&c, t->cfg);
    if (error == 0) {
        c->older = atomic_load(&t->current);
        atomic_store(&t->current, c);
    }
    pthread_mutex_unlock(&t->lock);
    return error;
}

void server__tls_cert_sha256(uint8_t out[32], struct server_tls *t)
{
    memcpy(out, atomic_load(&t->current)->cert_sha256, 32);
}

int server_tls_reload(server *s)
{
    nt_buf hex = NT_BUF_INIT;
    uint8_t fp[32];
    int error;

    if (s->tls == NULL) {
        return nt_error_set(NT_ESTATE, "tls: no HTTPS listener configured, nothing to reload");
    }
    error = server__tls_reload(s->tls);
    if (error < 0) {
        nt_log_error("tls: reload refused, the previous certificate keeps serving: %s",
                     nt_error_last());
        return error;
    }
    server__tls_cert_sha256(fp, s->tls);
    nt_hex_encode(&hex, fp, sizeof(fp));
    nt_log_info("tls: reloaded %s (certificate sha256 %s)", s->cfg->tls_cert, nt_buf_cstr(&hex));
    nt_buf_dispose(&hex);
    return 0;
}

/* ------------------------------------------------------------ per connection */

/* MHD's own credentials: never used for a connection set up below (fail closed). */
static int no_cert(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                   const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                   gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *privkey)
{
    (void)session, (void)req_ca_rdn, (void)nreqs, (void)pk_algos, (void)pk_algos_length;
    *pcert = NULL;
    *pcert_length = 0;
    *privkey = NULL;
    return GNUTLS_E_INSUFFICIENT_CREDENTIALS;
}

size_t http__tls_options(struct MHD_OptionItem *opts)
{
    opts[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_CERT_CALLBACK, 0, (void *)no_cert};
    opts[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, HTTP_TLS_PRIORITIES};
    opts[2] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    return 3;
}

void http__tls_conn_start(http_conn *c, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    gnutls_session_t session = ci != NULL ? (gnutls_session_t)ci->tls_session : NULL;
    const server_config *cfg = c->s->cfg;
    gnutls_certificate_request_t req = GNUTLS_CERT_IGNORE;
    int rc;

    if (session == NULL || c->s->tls == NULL) {
        nt_log_warn("tls: a connection without a TLS session: it will fail its handshake");
        return;
    }
    /* MHD keeps the connection there too; the check below reads it back. */
    gnutls_session_set_ptr(session, conn);
    rc = gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE,
                                atomic_load(&c->s->tls->current)->cred);
    if (rc < 0) {
        nt_log_warn("tls: cannot set the credentials: %s", gnutls_strerror(rc));
        return;
    }
    if (cfg->tls_client_auth != SERVER_TLS_CLIENT_NONE) {
        req = GNUTLS_CERT_REQUEST; /* "required" is enforced by verify_client, with a log line */
    }
    gnutls_certificate_server_set_request(session, req);
}

/* The tls.clients entry of a peer certificate (DER), or NULL. */
static const server_tls_client *client_lookup(const server_config *cfg, const gnutls_datum_t *der,
                                              char *subject, size_t subject_size,
                                              char *hex_out /* 65 */)
{
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t dn = {NULL, 0};
    uint8_t fp[32];
    const server_tls_client *found = NULL;
    static const char digits[] = "0123456789abcdef";

    subject[0] = '\0';
    hex_out[0] = '\0';
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, der->data, der->size, fp) < 0) {
        return NULL;
    }
    for (size_t i = 0; i < 32; i++) {
        hex_out[2 * i] = digits[fp[i] >> 4];
        hex_out[2 * i + 1] = digits[fp[i] & 15];
    }
    hex_out[64] = '\0';
    if (gnutls_x509_crt_init(&crt) >= 0 &&
        gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) >= 0 &&
        gnutls_x509_crt_get_dn3(crt, &dn, 0) >= 0) {
        snprintf(subject, subject_size, "%.*s", (int)dn.size, (const char *)dn.data);
    }
    gnutls_free(dn.data);
    gnutls_x509_crt_deinit(crt);
    for (size_t i = 0; i < cfg->tls_client_count && found == NULL; i++) {
        const server_tls_client *e = &cfg->tls_clients[i];
        if (e->has_sha256 ? memcmp(e->sha256, fp, 32) == 0
                          : (subject[0] != '\0' && strcmp(e->subject, subject) == 0)) {
            found = e;
        }
    }
    return found;
}

/* A refusal of verify_client, counted for /metrics. */
static int refuse(http_conn *c, int code)
{
    atomic_fetch_add(&c->s->metrics.tls_client_refused, 1);
    return code;
}

/*
 * Run by GnuTLS inside the handshake once the client's certificate arrived:
 * non-zero ends the handshake with an alert, before any HTTP byte is read.
 * A presented certificate must chain to tls.client_ca, be within its validity
 * and be mapped by tls.clients, also where client_auth is optional.
 */
static int verify_client(gnutls_session_t session)
{
    struct MHD_Connection *conn = gnutls_session_get_ptr(session);
    const union MHD_ConnectionInfo *ci =
        conn != NULL ? MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT) : NULL;
    http_conn *c = ci != NULL ? ci->socket_context : NULL;
    const gnutls_datum_t *peers;
    unsigned n = 0, status = 0;
    gnutls_typed_vdata_st purpose = {GNUTLS_DT_KEY_PURPOSE_OID, (void *)GNUTLS_KP_TLS_WWW_CLIENT,
                                     0};
    const server_tls_client *e;
    char subject[256], hex[65];
    int rc;

    if (c == NULL) {
        nt_log_warn("tls: client certificate refused: connection unknown");
        return GNUTLS_E_CERTIFICATE_ERROR;
    }
    peers = gnutls_certificate_get_peers(session, &n);
    if (peers == NULL || n == 0) {
        if (c->s->cfg->tls_client_auth == SERVER_TLS_CLIENT_REQUIRED) {
            nt_log_warn("tls: connection refused: no client certificate (tls.client_auth is "
                        "required)");
            return refuse(c, GNUTLS_E_NO_CERTIFICATE_FOUND);
        }
        return 0;
    }
    e = client_lookup(c->s->cfg, &peers[0], subject, sizeof(subject), hex);
    rc = gnutls_certificate_verify_peers(session, &purpose, 1, &status);
    if (rc < 0 || status != 0) {
        gnutls_datum_t why = {NULL, 0};
        if (rc >= 0) {
            gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &why, 0);
        }
        nt_log_warn("tls: client certificate refused (subject %s, sha256 %s): %s", subject, hex,
                    rc < 0             ? gnutls_strerror(rc)
                    : why.data != NULL ? (const char *)why.data
                                       : "not valid");
        gnutls_free(why.data);
        return refuse(c, GNUTLS_E_CERTIFICATE_ERROR);
    }
    if (e == NULL) {
        nt_log_warn("tls: client certificate refused (subject %s, sha256 %s): not mapped to an "
                    "API key by tls.clients",
                    subject, hex);
        return refuse(c, GNUTLS_E_CERTIFICATE_ERROR);
    }
    c->client_key = &c->s->cfg->api_keys[e->key_index];
    return 0;
}
