/*
 * config_fuzz.c - fuzz target for the daemon's configuration parser
 * (server_config_parse in tsa/config.c): any bytes as the configuration
 * file, with a fixed data directory.  The file is operator input rather than
 * network input, but it decides every security setting, so it gets the same
 * treatment.  Invariants: a refusal returns NT_EINVAL (NT_ENOMEM only under
 * memory pressure) with *out NULL and a message; an accepted configuration
 * has every path resolved to an absolute one, a listen spec that
 * server_listen_parse takes, values inside their documented ranges, tsa_config
 * strings that point at the configuration's own copies, API keys with valid
 * distinct ids, and parses again the same way (deterministic).  Seeds in
 * tests/fuzz/corpus/config/: the default configuration, a full one, a
 * PKCS#12 one, a PKCS#11 one and several refusals.
 */
#include "tsa/server.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DATA_DIR "/nonexistent/notarium-fuzz"

static const char *c_pkcs11_module; /* of the configuration being checked */

static void check_path(const char *p, int nullable)
{
    if (p == NULL) {
        if (!nullable) {
            abort();
        }
        return;
    }
    if (p[0] != '/') {
        abort();
    }
}

static void check_key(const char *p, int nullable)
{
    if (p != NULL && strncasecmp(p, "pkcs11:", 7) == 0) {
        if (c_pkcs11_module == NULL || strstr(p, ";pin-value=") != NULL ||
            strstr(p, ":pin-value=") != NULL || strstr(p, "?pin-value=") != NULL) {
            abort();
        }
        return;
    }
    check_path(p, nullable);
}

static void check_config(const server_config *c)
{
    nt_buf host = NT_BUF_INIT;
    uint16_t port;

    if (c->data_dir == NULL || strcmp(c->data_dir, DATA_DIR) != 0) {
        abort();
    }
    if (c->listen == NULL || server_listen_parse(&host, &port, c->listen) != 0 || host.len == 0) {
        abort();
    }
    nt_buf_dispose(&host);
    if (c->threads > 1024 || c->max_body < 256 || c->max_body > (64u << 20) ||
        c->log_level > NT_LOG_NONE) {
        abort();
    }
    /* tsa_config borrows the configuration's strings */
    if (c->tsa_policy == NULL || c->tsa.policy != c->tsa_policy ||
        c->tsa.accepted_policy_count > TSA_MAX_POLICIES ||
        c->tsa.accepted_extension_count > TSA_MAX_EXTENSIONS || c->tsa.precision_digits < 0 ||
        c->tsa.precision_digits > 6 || c->tsa.accuracy_ms > 3600000 || c->tsa.node_id > 32767 ||
        c->tsa.signing_digest != c->tsa_signing_digest) {
        abort();
    }
    for (size_t i = 0; i < c->tsa.accepted_policy_count; i++) {
        if (c->tsa.accepted_policies[i] != c->tsa_accepted_policies[i] ||
            c->tsa_accepted_policies[i] == NULL || c->tsa_accepted_policies[i][0] == '\0') {
            abort();
        }
    }
    for (size_t i = 0; i < c->tsa.accepted_extension_count; i++) {
        if (c->tsa.accepted_extensions[i] != c->tsa_accepted_extensions[i] ||
            c->tsa_accepted_extensions[i] == NULL) {
            abort();
        }
    }
    if (c->tsa_pkcs12 == NULL && (c->tsa_cert == NULL || c->tsa_key == NULL)) {
        abort();
    }
    c_pkcs11_module = c->pkcs11_module;
    check_path(c->tsa_cert, 1);
    /* a key may be a pkcs11: URI (kept as given, never with the PIN in it) */
    check_key(c->tsa_key, 1);
    check_path(c->tsa_key_passphrase_file, 1);
    check_path(c->tsa_chain, 1);
    check_path(c->tsa_pkcs12, 1);
    check_path(c->tsa_pkcs12_passphrase_file, 1);
    check_path(c->ledger_path, 0);
    check_key(c->ledger_log_key, 0);
    check_path(c->pkcs11_module, 1);
    check_path(c->pkcs11_pin_file, 1);
    if (c->pkcs11_pin_file != NULL && c->pkcs11_pin_env != NULL) {
        abort();
    }
    check_path(c->mirror_path, 1);
    if (c->ledger_origin == NULL || c->ledger_origin[0] == '\0' || c->ledger_map_size_mb == 0 ||
        c->ledger_map_size_mb > (1u << 24) || c->ledger_batch_max > 65536 ||
        c->ledger_batch_window_us > 1000000 || c->ledger_queue_max > (1u << 24)) {
        abort();
    }
    if (c->api_key_count > SERVER_MAX_API_KEYS || c->mirror_remote_count > SERVER_MAX_REMOTES ||
        c->evidence_max_metadata_bytes > (1u << 20) || c->mirror_interval_ms > 86400000) {
        abort();
    }
    for (size_t i = 0; i < c->api_key_count; i++) {
        const server_api_key *k = &c->api_keys[i];
        size_t n = strlen(k->id);
        if (n == 0 || n > 64 || k->salt_len < 8 || k->salt_len > sizeof(k->salt)) {
            abort();
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(c->api_keys[j].id, k->id) == 0) {
                abort();
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    server_config *cfg = (server_config *)1, *again = NULL;
    int rc;

    nt_error_clear();
    rc = server_config_parse(&cfg, (const char *)data, size, DATA_DIR);
    if (rc != 0) {
        if (cfg != NULL || (rc != NT_EINVAL && rc != NT_ENOMEM) || nt_error_last()[0] == '\0') {
            abort();
        }
        return 0;
    }
    if (cfg == NULL) {
        abort();
    }
    check_config(cfg);
    /* The same bytes give the same configuration. */
    if (server_config_parse(&again, (const char *)data, size, DATA_DIR) != 0 ||
        strcmp(again->listen, cfg->listen) != 0 ||
        strcmp(again->tsa_policy, cfg->tsa_policy) != 0 ||
        again->api_key_count != cfg->api_key_count ||
        memcmp(again->api_keys, cfg->api_keys, sizeof(cfg->api_keys)) != 0) {
        abort();
    }
    server_config_free(again);
    server_config_free(cfg);
    return 0;
}
