/*
 * config.c - the daemon's configuration file (JSON, jansson), API keys and
 * the demo data directory.  Part of the nt_tsa daemon library; server.c
 * consumes the parsed server_config.  Parsing is strict: an unknown or
 * mistyped member is an error naming it, because a typo in a security
 * setting ("alow_sha1") silently ignored is worse than a refusal to start.
 */
#include "tsa/config_int.h"
#include "tsa/server_int.h"

#include "certs/certs.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_MAX_FILE (1u << 20)

int server_name_valid(const char *s, size_t n)
{
    if (n == 0 || n > 64) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            return 0;
        }
    }
    return 1;
}

static int parse_tsa(server_config *cfg, json_t *o)
{
    static const char *const allowed[] = {"policy",
                                          "accepted_policies",
                                          "accepted_extensions",
                                          "accuracy_ms",
                                          "precision",
                                          "ordering",
                                          "include_tsa_name",
                                          "allow_sha1",
                                          "allow_md5",
                                          "allow_unsynced_clock",
                                          "signing_digest",
                                          "rsa_pss",
                                          "sm2_id",
                                          "qualified",
                                          "node_id",
                                          "cert",
                                          "key",
                                          "key_passphrase_file",
                                          "chain",
                                          "pkcs12",
                                          "pkcs12_passphrase_file",
                                          "identities",
                                          "record_certificates"};
    const char *sec = "tsa.";
    tsa_config *t = &cfg->tsa;
    uint64_t u = 0;
    int error = 0;

    NT_ENSURE(json_is_object(o), NT_EINVAL, "tsa: not an object");
    NT_TRY(server_cfg_members(o, sec, allowed, NT_ARRAY_LEN(allowed)));
    NT_TRY(server_cfg_str(&cfg->tsa_policy, o, sec, "policy", NULL, 0));
    NT_ENSURE(cfg->tsa_policy != NULL, NT_EINVAL, "tsa.policy: required");
    t->policy = cfg->tsa_policy;
    NT_TRY(server_cfg_str_array(cfg->tsa_accepted_policies, &t->accepted_policy_count,
                                TSA_MAX_POLICIES, o, sec, "accepted_policies"));
    for (size_t i = 0; i < t->accepted_policy_count; i++) {
        t->accepted_policies[i] = cfg->tsa_accepted_policies[i];
    }
    NT_TRY(server_cfg_str_array(cfg->tsa_accepted_extensions, &t->accepted_extension_count,
                                TSA_MAX_EXTENSIONS, o, sec, "accepted_extensions"));
    for (size_t i = 0; i < t->accepted_extension_count; i++) {
        t->accepted_extensions[i] = cfg->tsa_accepted_extensions[i];
    }
    NT_TRY(server_cfg_uint(&u, o, sec, "accuracy_ms", 3600000, 1000));
    t->accuracy_ms = (unsigned)u;
    NT_TRY(server_cfg_uint(&u, o, sec, "precision", 6, 3));
    t->precision_digits = (int)u;
    NT_TRY(server_cfg_bool(&t->ordering, o, sec, "ordering", 0));
    NT_TRY(server_cfg_bool(&t->include_tsa_name, o, sec, "include_tsa_name", 0));
    NT_TRY(server_cfg_bool(&t->allow_sha1, o, sec, "allow_sha1", 0));
    NT_TRY(server_cfg_bool(&t->allow_md5, o, sec, "allow_md5", 0));
    NT_TRY(server_cfg_bool(&t->allow_unsynced_clock, o, sec, "allow_unsynced_clock", 0));
    /* null = chosen by key type (P-384: sha384, others: sha256). */
    NT_TRY(server_cfg_str(&cfg->tsa_signing_digest, o, sec, "signing_digest", "sha256", 1));
    NT_ENSURE(cfg->tsa_signing_digest == NULL || strcmp(cfg->tsa_signing_digest, "sha256") == 0 ||
                  strcmp(cfg->tsa_signing_digest, "sha384") == 0 ||
                  strcmp(cfg->tsa_signing_digest, "sha512") == 0 ||
                  strcmp(cfg->tsa_signing_digest, "sm3") == 0, /* SM2 keys only (tsa_new) */
              NT_EINVAL, "tsa.signing_digest: must be sha256, sha384, sha512, sm3 or null");
    t->signing_digest = cfg->tsa_signing_digest;
    NT_TRY(server_cfg_bool(&t->rsa_pss, o, sec, "rsa_pss", 0));
    /* SM2 keys (docs/KEYS.md); tsa_new checks the length */
    NT_TRY(server_cfg_str(&cfg->tsa_sm2_id, o, sec, "sm2_id", NULL, 1));
    t->sm2_id = cfg->tsa_sm2_id;
    NT_TRY(server_cfg_bool(&cfg->tsa_qualified, o, sec, "qualified", 0));
    NT_TRY(server_cfg_uint(&u, o, sec, "node_id", 32767, 0));
    t->node_id = (uint16_t)u;
    NT_TRY(server_cfg_str(&cfg->tsa_cert, o, sec, "cert", "pki/tsa.pem", 1));
    NT_TRY(server_cfg_str(&cfg->tsa_key, o, sec, "key", "pki/tsa.key", 1));
    NT_TRY(server_cfg_str(&cfg->tsa_key_passphrase_file, o, sec, "key_passphrase_file", NULL, 1));
    NT_TRY(server_cfg_str(&cfg->tsa_chain, o, sec, "chain", "pki/ca.pem", 1));
    NT_TRY(server_cfg_str(&cfg->tsa_pkcs12, o, sec, "pkcs12", NULL, 1));
    NT_TRY(server_cfg_str(&cfg->tsa_pkcs12_passphrase_file, o, sec, "pkcs12_passphrase_file", NULL,
                          1));
    NT_ENSURE(cfg->tsa_pkcs12 != NULL || (cfg->tsa_cert != NULL && cfg->tsa_key != NULL), NT_EINVAL,
              "tsa: either pkcs12 or both cert and key are required");
done:
    return error;
}

static int parse_ledger(server_config *cfg, json_t *o)
{
    static const char *const allowed[] = {
        "path",      "origin",  "log_key",       "map_size_mb",   "batch_max", "batch_window_us",
        "queue_max", "no_sync", "full_retry_ms", "check_at_start"};
    const char *sec = "ledger.";
    uint64_t u = 0;
    int error = 0;

    NT_ENSURE(json_is_object(o), NT_EINVAL, "ledger: not an object");
    NT_TRY(server_cfg_members(o, sec, allowed, NT_ARRAY_LEN(allowed)));
    NT_TRY(server_cfg_str(&cfg->ledger_path, o, sec, "path", "ledger", 0));
    NT_TRY(server_cfg_str(&cfg->ledger_origin, o, sec, "origin", NULL, 0));
    NT_ENSURE(cfg->ledger_origin != NULL, NT_EINVAL, "ledger.origin: required");
    NT_TRY(server_cfg_str(&cfg->ledger_log_key, o, sec, "log_key", "pki/log.key", 0));
    NT_TRY(server_cfg_uint(&cfg->ledger_map_size_mb, o, sec, "map_size_mb", 1u << 24, 65536));
    NT_ENSURE(cfg->ledger_map_size_mb > 0, NT_EINVAL, "ledger.map_size_mb: must be at least 1");
    NT_TRY(server_cfg_uint(&u, o, sec, "batch_max", 65536, 512));
    cfg->ledger_batch_max = (unsigned)u;
    NT_TRY(server_cfg_uint(&u, o, sec, "batch_window_us", 1000000, 1000));
    cfg->ledger_batch_window_us = (unsigned)u;
    NT_TRY(server_cfg_uint(&u, o, sec, "queue_max", 1u << 24, 8192));
    cfg->ledger_queue_max = (unsigned)u;
    NT_TRY(server_cfg_bool(&cfg->ledger_no_sync, o, sec, "no_sync", 0));
    NT_TRY(server_cfg_uint(&u, o, sec, "full_retry_ms", 600000, 1000));
    NT_ENSURE(u > 0, NT_EINVAL, "ledger.full_retry_ms: must be at least 1");
    cfg->ledger_full_retry_ms = (unsigned)u;
    NT_TRY(server_cfg_bool(&cfg->ledger_check_at_start, o, sec, "check_at_start", 0));
done:
    return error;
}

/* "pkcs11": the token module and the PIN's source (never the PIN itself: docs/KEYS.md). */
static int parse_pkcs11(server_config *cfg, json_t *o)
{
    static const char *const allowed[] = {"module", "pin_file", "pin_env"};
    const char *sec = "pkcs11.";
    int error = 0;

    NT_ENSURE(json_is_object(o), NT_EINVAL, "pkcs11: not an object");
    NT_TRY(server_cfg_members(o, sec, allowed, NT_ARRAY_LEN(allowed)));
    NT_TRY(server_cfg_str(&cfg->pkcs11_module, o, sec, "module", NULL, 1));
    NT_TRY(server_cfg_str(&cfg->pkcs11_pin_file, o, sec, "pin_file", NULL, 1));
    NT_TRY(server_cfg_str(&cfg->pkcs11_pin_env, o, sec, "pin_env", NULL, 1));
    NT_ENSURE(cfg->pkcs11_pin_file == NULL || cfg->pkcs11_pin_env == NULL, NT_EINVAL,
              "pkcs11: pin_file and pin_env exclude each other");
done:
    return error;
}

/* A key given as a pkcs11: URI must be one we accept, with a module to reach it. */
static int check_key_uri(const server_config *cfg, const char *member, const char *value)
{
    int error = 0;
    if (!certs_uri_is_pkcs11(value)) {
        return 0;
    }
    if (certs_pkcs11_uri_check(value) < 0) {
        char reason[256];
        snprintf(reason, sizeof(reason), "%s", nt_error_last());
        NT_ENSURE(0, NT_EINVAL, "%s: %s", member, reason);
    }
    NT_ENSURE(cfg->pkcs11_module != NULL, NT_EINVAL,
              "%s: a pkcs11: key needs pkcs11.module (the PKCS#11 library of the HSM)", member);
done:
    return error;
}

static int parse_api_keys(server_config *cfg, json_t *arr)
{
    static const char *const allowed[] = {"id", "tenant", "salt", "sha256"};
    nt_buf b = NT_BUF_INIT;
    json_t *o;
    size_t i;
    int error = 0;

    NT_ENSURE(json_is_array(arr), NT_EINVAL, "api_keys: not an array");
    NT_ENSURE(json_array_size(arr) <= SERVER_MAX_API_KEYS, NT_EINVAL,
              "api_keys: more than %d entries", SERVER_MAX_API_KEYS);
    json_array_foreach (arr, i, o) {
        server_api_key *k = &cfg->api_keys[i];
        const char *id, *tenant, *salt, *hash;
        char sec[32];
        snprintf(sec, sizeof(sec), "api_keys[%zu].", i);
        NT_ENSURE(json_is_object(o), NT_EINVAL, "api_keys[%zu]: not an object", i);
        NT_TRY(server_cfg_members(o, sec, allowed, NT_ARRAY_LEN(allowed)));
        id = json_string_value(json_object_get(o, "id"));
        salt = json_string_value(json_object_get(o, "salt"));
        hash = json_string_value(json_object_get(o, "sha256"));
        tenant = json_string_value(json_object_get(o, "tenant"));
        NT_ENSURE(id != NULL && server_name_valid(id, strlen(id)), NT_EINVAL,
                  "api_keys[%zu].id: 1..64 characters of [A-Za-z0-9._-] required", i);
        NT_ENSURE(salt != NULL && nt_hex_decode(&b, salt, strlen(salt)) == 0 && b.len >= 8 &&
                      b.len <= sizeof(k->salt),
                  NT_EINVAL, "api_keys[%zu].salt: 8..64 bytes of hex required", i);
        memcpy(k->salt, b.ptr, b.len);
        k->salt_len = b.len;
        nt_buf_clear(&b);
        NT_ENSURE(hash != NULL && nt_hex_decode(&b, hash, strlen(hash)) == 0 && b.len == 32,
                  NT_EINVAL, "api_keys[%zu].sha256: 32 bytes of hex required", i);
        memcpy(k->sha256, b.ptr, 32);
        nt_buf_clear(&b);
        snprintf(k->id, sizeof(k->id), "%s", id);
        NT_ENSURE(json_object_get(o, "tenant") == NULL ||
                      (tenant != NULL && server_name_valid(tenant, strlen(tenant))),
                  NT_EINVAL, "api_keys[%zu].tenant: 1..64 characters of [A-Za-z0-9._-] required",
                  i);
        snprintf(k->tenant, sizeof(k->tenant), "%s", tenant != NULL ? tenant : id);
        for (size_t j = 0; j < i; j++) {
            NT_ENSURE(strcmp(cfg->api_keys[j].id, id) != 0, NT_EINVAL,
                      "api_keys[%zu].id: duplicate id '%s'", i, id);
        }
        cfg->api_key_count = i + 1;
    }
done:
    nt_buf_dispose(&b);
    return error;
}

static int parse_mirror(server_config *cfg, json_t *o)
{
    static const char *const allowed[] = {"path",           "interval_ms",  "remotes",
                                          "retry_min_ms",   "retry_max_ms", "push_timeout_ms",
                                          "stop_timeout_ms"};
    const char *sec = "mirror.";
    uint64_t u = 0;
    int error = 0;

    NT_ENSURE(json_is_object(o), NT_EINVAL, "mirror: not an object");
    NT_TRY(server_cfg_members(o, sec, allowed, NT_ARRAY_LEN(allowed)));
    NT_TRY(server_cfg_str(&cfg->mirror_path, o, sec, "path", "mirror.git", 1));
    NT_TRY(server_cfg_uint(&u, o, sec, "interval_ms", 86400000, 1000));
    cfg->mirror_interval_ms = (unsigned)u;
    NT_TRY(server_cfg_str_array(cfg->mirror_remotes, &cfg->mirror_remote_count, SERVER_MAX_REMOTES,
                                o, sec, "remotes"));
    NT_TRY(server_cfg_uint(&u, o, sec, "retry_min_ms", 3600000, 1000));
    NT_ENSURE(u >= 1, NT_EINVAL, "mirror.retry_min_ms: at least 1");
    cfg->mirror_retry_min_ms = (unsigned)u;
    NT_TRY(server_cfg_uint(&u, o, sec, "retry_max_ms", 86400000, 60000));
    NT_ENSURE(u >= cfg->mirror_retry_min_ms, NT_EINVAL,
              "mirror.retry_max_ms: must not be below retry_min_ms");
    cfg->mirror_retry_max_ms = (unsigned)u;
    NT_TRY(server_cfg_uint(&u, o, sec, "push_timeout_ms", 3600000, 30000));
    NT_ENSURE(u >= 100, NT_EINVAL, "mirror.push_timeout_ms: at least 100");
    cfg->mirror_push_timeout_ms = (unsigned)u;
    NT_TRY(server_cfg_uint(&u, o, sec, "stop_timeout_ms", 600000, 5000));
    NT_ENSURE(u >= 100, NT_EINVAL, "mirror.stop_timeout_ms: at least 100");
    cfg->mirror_stop_timeout_ms = (unsigned)u;
    NT_ENSURE(cfg->mirror_path != NULL || cfg->mirror_remote_count == 0, NT_EINVAL,
              "mirror.remotes: no remote without a mirror (mirror.path is null)");
done:
    return error;
}

/* The "http" section; every member optional (see the defaults below and OPERATING.md). */
static int parse_http(server_config *cfg, json_t *o)
{
    static const char *const allowed[] = {"max_connections",      "max_connections_per_address",
                                          "reserved_connections", "request_timeout_ms",
                                          "drain_timeout_ms",     "commit_stall_ms"};
    const char *sec = "http.";
    uint64_t u = 0;
    int error = 0;

    if (o != NULL) {
        NT_ENSURE(json_is_object(o), NT_EINVAL, "http: not an object");
        NT_TRY(server_cfg_members(o, sec, allowed, NT_ARRAY_LEN(allowed)));
    }
    NT_TRY(server_cfg_uint(&u, o, sec, "max_connections", 1000000, 0));
    cfg->http_max_connections = (unsigned)u;
    NT_ENSURE(u == 0 || u >= 4, NT_EINVAL, "http.max_connections: 0 (automatic) or at least 4");
    NT_TRY(server_cfg_uint(&u, o, sec, "max_connections_per_address", 1000000, 64));
    cfg->http_max_per_address = (unsigned)u;
    NT_TRY(server_cfg_uint(&u, o, sec, "reserved_connections", 1000000, 8));
    cfg->http_reserved = (unsigned)u;
    NT_ENSURE(cfg->http_max_connections == 0 || u < cfg->http_max_connections, NT_EINVAL,
              "http.reserved_connections: must be below max_connections");
    NT_TRY(server_cfg_uint(&u, o, sec, "request_timeout_ms", 3600000, 30000));
    NT_ENSURE(u >= 100, NT_EINVAL, "http.request_timeout_ms: at least 100");
    cfg->http_request_timeout_ms = (unsigned)u;
    NT_TRY(server_cfg_uint(&u, o, sec, "drain_timeout_ms", 3600000, 60000));
    cfg->http_drain_timeout_ms = (unsigned)u;
    NT_TRY(server_cfg_uint(&u, o, sec, "commit_stall_ms", 3600000, 10000));
    NT_ENSURE(u >= 1, NT_EINVAL, "http.commit_stall_ms: at least 1");
    cfg->http_commit_stall_ms = (unsigned)u;
done:
    return error;
}

int server_config_parse(server_config **out, const char *json, size_t len, const char *data_dir)
{
    static const char *const allowed[] = {
        "listen",   "threads",  "max_body",     "log_level", "tsa",  "ledger",
        "api_keys", "evidence", "mirror",       "web",       "http", "pkcs11",
        "user",     "tls",      "admin_listen", "limits",    "cases"};
    static const char *const evidence_allowed[] = {"max_metadata_bytes"};
    static const char *const web_allowed[] = {"verify_page", "report_trust"};
    server_config *cfg = NULL;
    json_error_t jerr;
    json_t *root = NULL, *v;
    char *level = NULL;
    uint64_t u = 0;
    int error = 0;

    *out = NULL;
    NT_ENSURE(data_dir != NULL && data_dir[0] != '\0', NT_EINVAL, "no data directory");
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    NT_ENSURE(root != NULL, NT_EINVAL, "config: line %d: %s", jerr.line, jerr.text);
    NT_ENSURE(json_is_object(root), NT_EINVAL, "config: not a JSON object");
    NT_ENSURE((cfg = nt_calloc(1, sizeof(*cfg))) != NULL, NT_ENOMEM, "out of memory");
    tsa_config_init(&cfg->tsa);
    NT_ENSURE((cfg->data_dir = nt_strdup(data_dir)) != NULL, NT_ENOMEM, "out of memory");
    NT_TRY(server_cfg_members(root, "", allowed, NT_ARRAY_LEN(allowed)));

    NT_TRY(server_cfg_str(&cfg->listen, root, "", "listen", SERVER_DEFAULT_LISTEN, 1));
    if (cfg->listen != NULL) {
        nt_buf host = NT_BUF_INIT;
        uint16_t port;
        error = server_listen_parse(&host, &port, cfg->listen);
        nt_buf_dispose(&host);
        NT_TRY(error);
    }
    NT_TRY(server_cfg_uint(&u, root, "", "threads", 1024, 0));
    cfg->threads = (unsigned)u;
    NT_TRY(server_cfg_uint(&u, root, "", "max_body", 64u << 20, SERVER_DEFAULT_MAX_BODY));
    NT_ENSURE(u >= 256, NT_EINVAL, "max_body: at least 256 bytes");
    cfg->max_body = (size_t)u;
    NT_TRY(server_cfg_str(&level, root, "", "log_level", "info", 0));
    NT_ENSURE(nt_log_level_parse(&cfg->log_level, level) == 0, NT_EINVAL,
              "log_level: one of debug, info, warn, error, none");
    NT_TRY(server_cfg_str(&cfg->user, root, "", "user", NULL, 1));

    NT_ENSURE((v = json_object_get(root, "tsa")) != NULL, NT_EINVAL, "tsa: required");
    NT_TRY(parse_tsa(cfg, v));
    NT_ENSURE((v = json_object_get(root, "ledger")) != NULL, NT_EINVAL, "ledger: required");
    NT_TRY(parse_ledger(cfg, v));
    if ((v = json_object_get(root, "api_keys")) != NULL) {
        NT_TRY(parse_api_keys(cfg, v));
    }
    cfg->evidence_max_metadata_bytes = 16384;
    if ((v = json_object_get(root, "evidence")) != NULL) {
        NT_ENSURE(json_is_object(v), NT_EINVAL, "evidence: not an object");
        NT_TRY(
            server_cfg_members(v, "evidence.", evidence_allowed, NT_ARRAY_LEN(evidence_allowed)));
        NT_TRY(server_cfg_uint(&u, v, "evidence.", "max_metadata_bytes", 1u << 20, 16384));
        cfg->evidence_max_metadata_bytes = (size_t)u;
    }
    cfg->web_verify_page = 1;
    if ((v = json_object_get(root, "web")) != NULL) {
        NT_ENSURE(json_is_object(v), NT_EINVAL, "web: not an object");
        NT_TRY(server_cfg_members(v, "web.", web_allowed, NT_ARRAY_LEN(web_allowed)));
        NT_TRY(server_cfg_bool(&cfg->web_verify_page, v, "web.", "verify_page", 1));
        NT_TRY(server_cfg_str(&cfg->web_report_trust, v, "web.", "report_trust", NULL, 1));
    }
    if ((v = json_object_get(root, "mirror")) != NULL) {
        NT_TRY(parse_mirror(cfg, v));
    } else {
        NT_ENSURE((cfg->mirror_path = nt_strdup("mirror.git")) != NULL, NT_ENOMEM, "oom");
        cfg->mirror_interval_ms = 1000;
        cfg->mirror_retry_min_ms = 1000;
        cfg->mirror_retry_max_ms = 60000;
        cfg->mirror_push_timeout_ms = 30000;
        cfg->mirror_stop_timeout_ms = 5000;
    }
    NT_TRY(parse_http(cfg, json_object_get(root, "http")));
    NT_TRY(server__config_limits(cfg, json_object_get(root, "limits")));
    NT_TRY(server__config_listeners(cfg, root));
    NT_TRY(server__config_cases(cfg, json_object_get(root, "cases")));

    if ((v = json_object_get(root, "pkcs11")) != NULL) {
        NT_TRY(parse_pkcs11(cfg, v));
    }
    NT_TRY(check_key_uri(cfg, "tsa.key", cfg->tsa_pkcs12 == NULL ? cfg->tsa_key : NULL));
    NT_TRY(check_key_uri(cfg, "ledger.log_key", cfg->ledger_log_key));
    NT_TRY(server_cfg_path(&cfg->pkcs11_module, data_dir));
    NT_TRY(server_cfg_path(&cfg->pkcs11_pin_file, data_dir));
    NT_TRY(server_cfg_path(&cfg->tsa_cert, data_dir));
    NT_TRY(server_cfg_path(&cfg->tsa_key, data_dir));
    NT_TRY(server_cfg_path(&cfg->tsa_key_passphrase_file, data_dir));
    NT_TRY(server_cfg_path(&cfg->tsa_chain, data_dir));
    NT_TRY(server_cfg_path(&cfg->tsa_pkcs12, data_dir));
    NT_TRY(server_cfg_path(&cfg->tsa_pkcs12_passphrase_file, data_dir));
    NT_TRY(server_cfg_path(&cfg->ledger_path, data_dir));
    NT_TRY(server_cfg_path(&cfg->ledger_log_key, data_dir));
    NT_TRY(server_cfg_path(&cfg->mirror_path, data_dir));
    NT_TRY(server_cfg_path(&cfg->web_report_trust, data_dir));
    NT_TRY(server_cfg_identities(cfg, json_object_get(root, "tsa"), data_dir));

    *out = cfg;
    cfg = NULL;
done:
    nt_free(level);
    json_decref(root);
    server_config_free(cfg);
    return error;
}

int server_config_load(server_config **out, const char *path, const char *data_dir)
{
    nt_buf text = NT_BUF_INIT;
    int error = 0;

    *out = NULL;
    NT_TRY(nt_file_read(&text, path, CONFIG_MAX_FILE));
    error = server_config_parse(out, (const char *)text.ptr, text.len, data_dir);
    if (error < 0) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", nt_error_last());
        error = nt_error_set(error, "%s: %s", path, msg);
    }
done:
    nt_buf_dispose(&text);
    return error;
}

void server_config_free(server_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    nt_free(cfg->data_dir);
    nt_free(cfg->listen);
    nt_free(cfg->user);
    nt_free(cfg->tsa_policy);
    for (size_t i = 0; i < TSA_MAX_POLICIES; i++) {
        nt_free(cfg->tsa_accepted_policies[i]);
    }
    for (size_t i = 0; i < TSA_MAX_EXTENSIONS; i++) {
        nt_free(cfg->tsa_accepted_extensions[i]);
    }
    nt_free(cfg->tsa_signing_digest);
    nt_free(cfg->tsa_sm2_id);
    nt_free(cfg->tsa_cert);
    nt_free(cfg->tsa_key);
    nt_free(cfg->tsa_key_passphrase_file);
    nt_free(cfg->tsa_chain);
    nt_free(cfg->tsa_pkcs12);
    nt_free(cfg->tsa_pkcs12_passphrase_file);
    server_cfg_identities_free(cfg);
    nt_free(cfg->ledger_path);
    nt_free(cfg->ledger_origin);
    nt_free(cfg->ledger_log_key);
    nt_free(cfg->mirror_path);
    nt_free(cfg->web_report_trust);
    server__config_cases_free(cfg);
    nt_free(cfg->pkcs11_module);
    nt_free(cfg->pkcs11_pin_file);
    nt_free(cfg->pkcs11_pin_env);
    for (size_t i = 0; i < SERVER_MAX_REMOTES; i++) {
        nt_free(cfg->mirror_remotes[i]);
    }
    server__config_listeners_free(cfg);
    nt_wipe(cfg->api_keys, sizeof(cfg->api_keys));
    nt_free(cfg);
}

int server_config_default_json(nt_buf *out, const char *origin, const char *api_key_json,
                               int allow_unsynced_clock)
{
    json_t *root = NULL, *keys = NULL;
    json_error_t jerr;
    int error = 0;

    keys = json_array();
    NT_ENSURE(keys != NULL, NT_ENOMEM, "out of memory");
    if (api_key_json != NULL) {
        json_t *k = json_loads(api_key_json, 0, &jerr);
        NT_ENSURE(k != NULL, NT_EINVAL, "api key entry: %s", jerr.text);
        NT_ENSURE(json_array_append_new(keys, k) == 0, NT_ENOMEM, "out of memory");
    }
    root = json_pack(
        "{s:s, s:i, s:i, s:s,"
        " s:{s:s, s:[], s:[], s:i, s:i, s:b, s:b, s:b, s:b, s:b, s:s, s:b, s:i,"
        "    s:s, s:s, s:n, s:s, s:n, s:n},"
        " s:{s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:b},"
        " s:O,"
        " s:{s:i},"
        " s:{s:s, s:i, s:[]}}",
        "listen", SERVER_DEFAULT_LISTEN, "threads", 0, "max_body", SERVER_DEFAULT_MAX_BODY,
        "log_level", "info", "tsa", "policy", SERVER_DEFAULT_POLICY, "accepted_policies",
        "accepted_extensions", "accuracy_ms", 1000, "precision", 3, "ordering", 0,
        "include_tsa_name", 0, "allow_sha1", 0, "allow_md5", 0, "allow_unsynced_clock",
        allow_unsynced_clock ? 1 : 0, "signing_digest", "sha256", "rsa_pss", 0, "node_id", 0,
        "cert", "pki/tsa.pem", "key", "pki/tsa.key", "key_passphrase_file", "chain", "pki/ca.pem",
        "pkcs12", "pkcs12_passphrase_file", "ledger", "path", "ledger", "origin", origin, "log_key",
        "pki/log.key", "map_size_mb", 65536, "batch_max", 512, "batch_window_us", 1000, "queue_max",
        8192, "no_sync", 0, "api_keys", keys, "evidence", "max_metadata_bytes", 16384, "mirror",
        "path", "mirror.git", "interval_ms", 1000, "remotes");
    NT_ENSURE(root != NULL, NT_ENOMEM, "cannot build the default configuration");
    NT_TRY(nt_json_dump(out, root, JSON_INDENT(2) | JSON_PRESERVE_ORDER));
    NT_TRY(nt_buf_putc(out, '\n'));
done:
    json_decref(root);
    json_decref(keys);
    return error;
}

static int api_key_hash(uint8_t out[32], const uint8_t *salt, size_t salt_len, const char *key,
                        size_t len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned n = 0;
    int error = 0;
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, salt, salt_len) != 1 || EVP_DigestUpdate(ctx, key, len) != 1 ||
        EVP_DigestFinal_ex(ctx, out, &n) != 1) {
        memset(out, 0, 32);
        error = nt_error_ossl("SHA-256 failed");
    }
    EVP_MD_CTX_free(ctx);
    return error;
}

int server_api_key_new(nt_buf *key_out, nt_buf *entry_out, const char *id, const char *tenant)
{
    uint8_t secret[24], salt[16], hash[32];
    nt_buf key = NT_BUF_INIT, salt_hex = NT_BUF_INIT, hash_hex = NT_BUF_INIT;
    int error = 0;

    NT_ENSURE(id != NULL && server_name_valid(id, strlen(id)), NT_EINVAL,
              "API key id: 1..64 characters of [A-Za-z0-9._-] required");
    NT_ENSURE(tenant == NULL || server_name_valid(tenant, strlen(tenant)), NT_EINVAL,
              "API key tenant: 1..64 characters of [A-Za-z0-9._-] required");
    NT_OSSL(RAND_bytes(secret, sizeof(secret)), "RAND_bytes failed");
    NT_OSSL(RAND_bytes(salt, sizeof(salt)), "RAND_bytes failed");
    NT_TRY(nt_buf_puts(&key, "ntk_"));
    NT_TRY(nt_hex_encode(&key, secret, sizeof(secret)));
    NT_TRY(api_key_hash(hash, salt, sizeof(salt), nt_buf_cstr(&key), key.len));
    NT_TRY(nt_hex_encode(&salt_hex, salt, sizeof(salt)));
    NT_TRY(nt_hex_encode(&hash_hex, hash, sizeof(hash)));
    NT_TRY(nt_buf_put(key_out, key.ptr, key.len));
    NT_TRY(nt_buf_printf(entry_out, "{\"id\": \"%s\", ", id));
    if (tenant != NULL) {
        NT_TRY(nt_buf_printf(entry_out, "\"tenant\": \"%s\", ", tenant));
    }
    NT_TRY(nt_buf_printf(entry_out, "\"salt\": \"%s\", \"sha256\": \"%s\"}", nt_buf_cstr(&salt_hex),
                         nt_buf_cstr(&hash_hex)));
done:
    nt_wipe(secret, sizeof(secret));
    nt_buf_dispose_secret(&key);
    nt_buf_dispose(&salt_hex);
    nt_buf_dispose(&hash_hex);
    return error;
}

const server_api_key *server_api_key_check(const server_config *cfg, const char *key, size_t len)
{
    const server_api_key *found = NULL;
    uint8_t hash[32];

    if (key == NULL || len == 0) {
        return NULL;
    }
    /* Every entry is hashed and compared, so the time taken does not tell which id matched. */
    for (size_t i = 0; i < cfg->api_key_count; i++) {
        const server_api_key *k = &cfg->api_keys[i];
        /* a failed hash is a mismatch */
        if (api_key_hash(hash, k->salt, k->salt_len, key, len) == 0 &&
            nt_memeq_ct(hash, k->sha256, 32) && found == NULL) {
            found = k;
        }
    }
    nt_wipe(hash, sizeof(hash));
    return found;
}

const server_api_key *server_api_key_by_id(const server_config *cfg, const char *id)
{
    for (size_t i = 0; i < cfg->api_key_count; i++) {
        if (strcmp(cfg->api_keys[i].id, id) == 0) {
            return &cfg->api_keys[i];
        }
    }
    return NULL;
}

int server_listen_parse(nt_buf *host_out, uint16_t *port_out, const char *listen)
{
    const char *colon, *host = listen;
    size_t host_len;
    uint64_t port;

    if (listen == NULL) {
        return nt_error_set(NT_EINVAL, "listen: missing");
    }
    if (listen[0] == '[') {
        const char *end = strchr(listen, ']');
        if (end == NULL || end[1] != ':') {
            return nt_error_set(NT_EINVAL, "listen: '%s' is not [ADDR]:PORT", listen);
        }
        host = listen + 1;
        host_len = (size_t)(end - host);
        colon = end + 1;
    } else {
        colon = strrchr(listen, ':');
        if (colon == NULL) {
            return nt_error_set(NT_EINVAL, "listen: '%s' is not ADDR:PORT", listen);
        }
        host_len = (size_t)(colon - listen);
    }
    if (host_len == 0 || nt_parse_u64(&port, colon + 1, strlen(colon + 1)) < 0 || port > 65535) {
        return nt_error_set(NT_EINVAL, "listen: '%s' is not ADDR:PORT (port 0..65535)", listen);
    }
    *port_out = (uint16_t)port;
    return nt_buf_put(host_out, host, host_len);
}

/* The origin is the key name of log.vkey: everything before the first '+'. */
static int origin_from_vkey(nt_buf *out, const char *path)
{
    nt_buf text = NT_BUF_INIT;
    const char *plus;
    int error = 0;

    NT_TRY(nt_file_read(&text, path, 4096));
    plus = memchr(text.ptr, '+', text.len);
    NT_ENSURE(plus != NULL && plus != (const char *)text.ptr, NT_EINVAL, "%s: not a vkey", path);
    NT_TRY(nt_buf_put(out, text.ptr, (size_t)(plus - (const char *)text.ptr)));
done:
    nt_buf_dispose(&text);
    return error;
}

int server_demo_prepare(const char *dir)
{
    nt_buf pki = NT_BUF_INIT, path = NT_BUF_INIT, origin = NT_BUF_INIT, key = NT_BUF_INIT,
           entry = NT_BUF_INIT, config = NT_BUF_INIT;
    int error = 0;

    NT_TRY(nt_mkdir_p(dir, 0700));
    NT_TRY(nt_path_join(&pki, dir, "pki"));
    NT_TRY(nt_path_join(&path, nt_buf_cstr(&pki), "tsa.key"));
    if (!nt_path_exists(nt_buf_cstr(&path))) {
        uint8_t rnd[4];
        certs_pki_options o = {0};
        NT_OSSL(RAND_bytes(rnd, sizeof(rnd)), "RAND_bytes failed");
        NT_TRY(nt_buf_puts(&origin, "notarium.localhost/demo-"));
        NT_TRY(nt_hex_encode(&origin, rnd, sizeof(rnd)));
        o.dir = nt_buf_cstr(&pki);
        o.tsa_key = CERTS_KEY_EC_P256;
        o.log_origin = nt_buf_cstr(&origin);
        NT_TRY(certs_pki_init(&o));
        nt_log_info("demo: created a development PKI in %s", o.dir);
    }
    nt_buf_clear(&origin);
    NT_TRY(nt_path_join(&path, nt_buf_cstr(&pki), "log.vkey"));
    NT_TRY(origin_from_vkey(&origin, nt_buf_cstr(&path)));

    NT_TRY(nt_path_join(&path, dir, "config.json"));
    if (!nt_path_exists(nt_buf_cstr(&path))) {
        nt_buf key_path = NT_BUF_INIT;
        NT_TRY(server_api_key_new(&key, &entry, "demo", NULL));
        NT_TRY(nt_buf_putc(&key, '\n'));
        error = nt_path_join(&key_path, dir, "demo-api-key");
        if (error == 0) {
            error = nt_file_write_atomic(nt_buf_cstr(&key_path), key.ptr, key.len, 0600);
        }
        nt_buf_dispose(&key_path);
        NT_TRY(error);
        NT_TRY(server_config_default_json(&config, nt_buf_cstr(&origin), nt_buf_cstr(&entry), 1));
        NT_TRY(nt_file_write_atomic(nt_buf_cstr(&path), config.ptr, config.len, 0600));
        nt_log_info("demo: wrote %s", nt_buf_cstr(&path));
    }
    NT_TRY(nt_path_join(&path, dir, "ledger"));
    NT_TRY(nt_mkdir_p(nt_buf_cstr(&path), 0700));
done:
    nt_buf_dispose(&pki);
    nt_buf_dispose(&path);
    nt_buf_dispose(&origin);
    nt_buf_dispose_secret(&key);
    nt_buf_dispose(&entry);
    nt_buf_dispose(&config);
    return error;
}
