/*
 * config_tls.c - the configuration's listeners beside the plain "listen": the
 * "tls" section (the HTTPS listener, its certificate and key, client
 * certificates and their mapping to API key entries) and "admin_listen".
 * See docs/OPERATING.md, "TLS and the admin listener".
 */
#include "tsa/config_int.h"

#include <string.h>

static int check_listen(const char *member, const char *value)
{
    nt_buf host = NT_BUF_INIT;
    uint16_t port;
    int error = 0;

    if (value != NULL && (error = server_listen_parse(&host, &port, value)) < 0) {
        char msg[256];
        snprintf(msg, sizeof(msg), "%s", nt_error_last());
        error = nt_error_set(error, "%s: %s", member, msg);
    }
    nt_buf_dispose(&host);
    return error;
}

static int client_auth_parse(server_config *cfg, json_t *o)
{
    char *text = NULL;
    int error = 0;

    NT_TRY(server_cfg_str(&text, o, "tls.", "client_auth",
                          cfg->tls_client_ca != NULL ? "optional" : "none", 0));
    if (strcmp(text, "none") == 0) {
        cfg->tls_client_auth = SERVER_TLS_CLIENT_NONE;
    } else if (strcmp(text, "optional") == 0) {
        cfg->tls_client_auth = SERVER_TLS_CLIENT_OPTIONAL;
    } else if (strcmp(text, "required") == 0) {
        cfg->tls_client_auth = SERVER_TLS_CLIENT_REQUIRED;
    } else {
        NT_ENSURE(0, NT_EINVAL, "tls.client_auth: one of none, optional, required");
    }
    NT_ENSURE(cfg->tls_client_auth == SERVER_TLS_CLIENT_NONE || cfg->tls_client_ca != NULL,
              NT_EINVAL, "tls.client_auth: %s needs tls.client_ca", text);
done:
    nt_free(text);
    return error;
}

/* One tls.clients[i] entry: {"sha256": hex | "subject": text, "key_id": id}. */
static int client_parse(server_config *cfg, json_t *o, size_t i)
{
    static const char *const allowed[] = {"sha256", "subject", "key_id"};
    server_tls_client *c = &cfg->tls_clients[i];
    char sec[40];
    char *hex = NULL, *key_id = NULL;
    nt_buf raw = NT_BUF_INIT;
    int error = 0;

    snprintf(sec, sizeof(sec), "tls.clients[%zu].", i);
    NT_ENSURE(json_is_object(o), NT_EINVAL, "tls.clients[%zu]: not an object", i);
    NT_TRY(server_cfg_members(o, sec, allowed, NT_ARRAY_LEN(allowed)));
    NT_TRY(server_cfg_str(&hex, o, sec, "sha256", NULL, 0));
    NT_TRY(server_cfg_str(&c->subject, o, sec, "subject", NULL, 0));
    NT_TRY(server_cfg_str(&key_id, o, sec, "key_id", NULL, 0));
    NT_ENSURE((hex == NULL) != (c->subject == NULL), NT_EINVAL,
              "tls.clients[%zu]: exactly one of sha256 and subject", i);
    NT_ENSURE(key_id != NULL, NT_EINVAL, "%skey_id: required", sec);
    if (hex != NULL) {
        /* `openssl x509 -fingerprint -sha256` prints colons: accept them. */
        nt_buf clean = NT_BUF_INIT;
        for (const char *p = hex; *p != '\0'; p++) {
            if (*p != ':' && (error = nt_buf_putc(&clean, *p)) < 0) {
                break;
            }
        }
        if (error == 0) {
            error = nt_hex_decode(&raw, nt_buf_cstr(&clean), clean.len);
        }
        nt_buf_dispose(&clean);
        NT_ENSURE(error == 0 && raw.len == 32, NT_EINVAL,
                  "%ssha256: not the 64 hex digits of a SHA-256", sec);
        memcpy(c->sha256, raw.ptr, 32);
        c->has_sha256 = 1;
    }
    for (c->key_index = 0; c->key_index < cfg->api_key_count; c->key_index++) {
        if (strcmp(cfg->api_keys[c->key_index].id, key_id) == 0) {
            break;
        }
    }
    NT_ENSURE(c->key_index < cfg->api_key_count, NT_EINVAL,
              "%skey_id: no API key entry with id '%s' in api_keys", sec, key_id);
    for (size_t j = 0; j < i; j++) {
        const server_tls_client *d = &cfg->tls_clients[j];
        NT_ENSURE(
            !(c->has_sha256 && d->has_sha256 && memcmp(c->sha256, d->sha256, 32) == 0) &&
                !(c->subject != NULL && d->subject != NULL && strcmp(c->subject, d->subject) == 0),
            NT_EINVAL, "tls.clients[%zu]: the same certificate as tls.clients[%zu]", i, j);
    }
done:
    nt_free(hex);
    nt_free(key_id);
    nt_buf_dispose(&raw);
    return error;
}

static int parse_tls(server_config *cfg, json_t *o)
{
    static const char *const allowed[] = {"listen",    "cert",        "key",
                                          "client_ca", "client_auth", "clients"};
    const char *sec = "tls.";
    json_t *arr;
    int error = 0;

    NT_ENSURE(json_is_object(o), NT_EINVAL, "tls: not an object");
    NT_TRY(server_cfg_members(o, sec, allowed, NT_ARRAY_LEN(allowed)));
    NT_TRY(server_cfg_str(&cfg->tls_listen, o, sec, "listen", NULL, 0));
    NT_ENSURE(cfg->tls_listen != NULL, NT_EINVAL, "tls.listen: required");
    NT_TRY(check_listen("tls.listen", cfg->tls_listen));
    NT_TRY(server_cfg_str(&cfg->tls_cert, o, sec, "cert", NULL, 0));
    NT_ENSURE(cfg->tls_cert != NULL, NT_EINVAL, "tls.cert: required");
    NT_TRY(server_cfg_str(&cfg->tls_key, o, sec, "key", NULL, 0));
    NT_ENSURE(cfg->tls_key != NULL, NT_EINVAL, "tls.key: required");
    NT_TRY(server_cfg_str(&cfg->tls_client_ca, o, sec, "client_ca", NULL, 1));
    NT_TRY(client_auth_parse(cfg, o));
    if ((arr = json_object_get(o, "clients")) != NULL) {
        NT_ENSURE(json_is_array(arr), NT_EINVAL, "tls.clients: not an array");
        NT_ENSURE(json_array_size(arr) <= SERVER_MAX_TLS_CLIENTS, NT_EINVAL,
                  "tls.clients: more than %d entries", SERVER_MAX_TLS_CLIENTS);
        for (size_t i = 0; i < json_array_size(arr); i++) {
            cfg->tls_client_count = i + 1; /* freed by server_config_free */
            NT_TRY(client_parse(cfg, json_array_get(arr, i), i));
        }
    }
    NT_ENSURE(cfg->tls_client_count == 0 || cfg->tls_client_auth != SERVER_TLS_CLIENT_NONE,
              NT_EINVAL, "tls.clients: needs tls.client_ca (and client_auth not none)");
    NT_ENSURE(cfg->tls_client_auth != SERVER_TLS_CLIENT_REQUIRED || cfg->tls_client_count > 0,
              NT_EINVAL, "tls.client_auth: required, but tls.clients maps no certificate");
    NT_TRY(server_cfg_path(&cfg->tls_cert, cfg->data_dir));
    NT_TRY(server_cfg_path(&cfg->tls_key, cfg->data_dir));
    NT_TRY(server_cfg_path(&cfg->tls_client_ca, cfg->data_dir));
done:
    return error;
}

int server__config_listeners(server_config *cfg, json_t *root)
{
    json_t *v = json_object_get(root, "tls");
    int error = 0;

    if (v != NULL && !json_is_null(v)) {
        NT_TRY(parse_tls(cfg, v));
    }
    NT_TRY(server_cfg_str(&cfg->admin_listen, root, "", "admin_listen", NULL, 1));
    NT_TRY(check_listen("admin_listen", cfg->admin_listen));
    NT_ENSURE(cfg->listen != NULL || cfg->tls_listen != NULL, NT_EINVAL,
              "listen: null needs tls.listen (there would be no listener)");
done:
    return error;
}

void server__config_listeners_free(server_config *cfg)
{
    nt_free(cfg->tls_listen);
    nt_free(cfg->tls_cert);
    nt_free(cfg->tls_key);
    nt_free(cfg->tls_client_ca);
    for (size_t i = 0; i < cfg->tls_client_count; i++) {
        nt_free(cfg->tls_clients[i].subject);
    }
    nt_free(cfg->admin_listen);
}
