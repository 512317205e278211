/*
 * config_identities.c - the signing identities of the configuration
 * (docs/OPERATING.md, "Several signing identities"):
 *
 *   "tsa": { "policy": "1.2.3.4.1", ...,
 *            "identities": [
 *              {"name": "ec-2026", "cert": "pki/ec.pem", "key": "pki/ec.key",
 *               "chain": "pki/ca.pem", "policy": "1.2.3.4.1", "default": true},
 *              {"name": "rsa-2026", "pkcs12": "pki/rsa.p12", "policy": "1.2.3.4.2"} ] }
 *
 * Each identity names its key and certificates with the members tsa.cert,
 * tsa.key, ... take (which are then not allowed in "tsa"), and a policy
 * (default tsa.policy).  Policies are distinct, names are distinct, at most one
 * identity is the default (none marked: the first).  Without "identities" the
 * configuration has the one identity "tsa" of tsa.cert/key/... and tsa.policy,
 * exactly as before.
 */
#include "tsa/config_int.h"
#include "tsa/server_int.h"

#include "certs/certs.h"

#include <stdio.h>
#include <string.h>

static const char *const legacy_members[] = {"cert",  "key",    "key_passphrase_file",
                                             "chain", "pkcs12", "pkcs12_passphrase_file"};

static int dup_or_null(char **out, const char *v)
{
    *out = NULL;
    if (v != NULL && (*out = nt_strdup(v)) == NULL) {
        return nt_error_set(NT_ENOMEM, "out of memory");
    }
    return 0;
}

/* The one identity of a configuration without tsa.identities (paths already resolved). */
static int identity_legacy(server_config *cfg)
{
    server_identity_config *id = &cfg->identities[0];
    int error = 0;

    cfg->identity_count = 1;
    snprintf(id->name, sizeof(id->name), "tsa");
    id->is_default = 1;
    NT_TRY(dup_or_null(&id->policy, cfg->tsa_policy));
    NT_TRY(dup_or_null(&id->cert, cfg->tsa_cert));
    NT_TRY(dup_or_null(&id->key, cfg->tsa_key));
    NT_TRY(dup_or_null(&id->key_passphrase_file, cfg->tsa_key_passphrase_file));
    NT_TRY(dup_or_null(&id->chain, cfg->tsa_chain));
    NT_TRY(dup_or_null(&id->pkcs12, cfg->tsa_pkcs12));
    NT_TRY(dup_or_null(&id->pkcs12_passphrase_file, cfg->tsa_pkcs12_passphrase_file));
done:
    return error;
}

/* A key given as a pkcs11: URI must be one we accept, with a module to reach it. */
static int key_uri_check(const server_config *cfg, const char *sec, const char *value)
{
    char reason[256];
    int error = 0;

    if (!certs_uri_is_pkcs11(value)) {
        return 0;
    }
    if (certs_pkcs11_uri_check(value) < 0) {
        snprintf(reason, sizeof(reason), "%s", nt_error_last());
        NT_ENSURE(0, NT_EINVAL, "%skey: %s", sec, reason);
    }
    NT_ENSURE(cfg->pkcs11_module != NULL, NT_EINVAL,
              "%skey: a pkcs11: key needs pkcs11.module (the PKCS#11 library of the HSM)", sec);
done:
    return error;
}

static int identity_parse(server_config *cfg, server_identity_config *id, json_t *o,
                          const char *sec, const char *data_dir)
{
    static const char *const allowed[] = {"name",
                                          "policy",
                                          "default",
                                          "cert",
                                          "key",
                                          "chain",
                                          "pkcs12",
                                          "key_passphrase_file",
                                          "pkcs12_passphrase_file"};
    char *name = NULL;
    int error = 0;

    NT_ENSURE(json_is_object(o), NT_EINVAL, "%s: not an object", sec);
    NT_TRY(server_cfg_members(o, sec, allowed, NT_ARRAY_LEN(allowed)));
    NT_TRY(server_cfg_str(&name, o, sec, "name", NULL, 0));
    NT_ENSURE(name != NULL, NT_EINVAL, "%sname: required", sec);
    NT_ENSURE(strlen(name) < sizeof(id->name) && server_name_valid(name, strlen(name)), NT_EINVAL,
              "%sname: 1..64 characters of A-Z a-z 0-9 . _ -", sec);
    snprintf(id->name, sizeof(id->name), "%s", name);
    NT_TRY(server_cfg_str(&id->policy, o, sec, "policy", cfg->tsa_policy, 0));
    NT_TRY(server_cfg_bool(&id->is_default, o, sec, "default", 0));
    NT_TRY(server_cfg_str(&id->cert, o, sec, "cert", NULL, 1));
    NT_TRY(server_cfg_str(&id->key, o, sec, "key", NULL, 1));
    NT_TRY(server_cfg_str(&id->key_passphrase_file, o, sec, "key_passphrase_file", NULL, 1));
    NT_TRY(server_cfg_str(&id->chain, o, sec, "chain", NULL, 1));
    NT_TRY(server_cfg_str(&id->pkcs12, o, sec, "pkcs12", NULL, 1));
    NT_TRY(server_cfg_str(&id->pkcs12_passphrase_file, o, sec, "pkcs12_passphrase_file", NULL, 1));
    NT_ENSURE(id->pkcs12 != NULL || (id->cert != NULL && id->key != NULL), NT_EINVAL,
              "%s: either pkcs12 or both cert and key are required", sec);
    NT_TRY(key_uri_check(cfg, sec, id->pkcs12 == NULL ? id->key : NULL));
    NT_TRY(server_cfg_path(&id->cert, data_dir));
    NT_TRY(server_cfg_path(&id->key, data_dir));
    NT_TRY(server_cfg_path(&id->key_passphrase_file, data_dir));
    NT_TRY(server_cfg_path(&id->chain, data_dir));
    NT_TRY(server_cfg_path(&id->pkcs12, data_dir));
    NT_TRY(server_cfg_path(&id->pkcs12_passphrase_file, data_dir));
done:
    nt_free(name);
    return error;
}

/* Names and policies distinct, one default at most (none: the first). */
static int identities_check(server_config *cfg)
{
    size_t defaults = 0;
    int error = 0;

    for (size_t i = 0; i < cfg->identity_count; i++) {
        const server_identity_config *a = &cfg->identities[i];
        defaults += a->is_default != 0;
        for (size_t j = 0; j < i; j++) {
            const server_identity_config *b = &cfg->identities[j];
            NT_ENSURE(strcmp(a->name, b->name) != 0, NT_EINVAL,
                      "tsa.identities[%zu].name: \"%s\" is taken by identities[%zu]", i, a->name,
                      j);
            NT_ENSURE(strcmp(a->policy, b->policy) != 0, NT_EINVAL,
                      "tsa.identities[%zu].policy: %s is the policy of identities[%zu] (\"%s\"); "
                      "each identity needs its own",
                      i, a->policy, j, b->name);
        }
    }
    NT_ENSURE(defaults <= 1, NT_EINVAL,
              "tsa.identities: %zu identities are \"default\"; one at most", defaults);
    if (defaults == 0) {
        cfg->identities[0].is_default = 1;
    }
done:
    return error;
}

int server_cfg_identities(server_config *cfg, json_t *tsa_obj, const char *data_dir)
{
    json_t *arr = tsa_obj != NULL ? json_object_get(tsa_obj, "identities") : NULL;
    char sec[48];
    int error = 0;

    NT_TRY(
        server_cfg_bool(&cfg->tsa_record_certificates, tsa_obj, "tsa.", "record_certificates", 1));
    if (arr == NULL) {
        return identity_legacy(cfg);
    }
    for (size_t i = 0; i < NT_ARRAY_LEN(legacy_members); i++) {
        json_t *m = json_object_get(tsa_obj, legacy_members[i]);
        NT_ENSURE(m == NULL || json_is_null(m), NT_EINVAL,
                  "tsa.%s: not beside tsa.identities (give each identity its own)",
                  legacy_members[i]);
    }
    NT_ENSURE(json_is_array(arr) && json_array_size(arr) > 0, NT_EINVAL,
              "tsa.identities: not a non-empty array");
    NT_ENSURE(json_array_size(arr) <= SERVER_MAX_IDENTITIES, NT_EINVAL,
              "tsa.identities: more than %d", SERVER_MAX_IDENTITIES);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        snprintf(sec, sizeof(sec), "tsa.identities[%zu].", i);
        cfg->identity_count = i + 1;
        NT_TRY(identity_parse(cfg, &cfg->identities[i], json_array_get(arr, i), sec, data_dir));
    }
    NT_TRY(identities_check(cfg));
done:
    return error;
}

void server_cfg_identities_free(server_config *cfg)
{
    for (size_t i = 0; i < cfg->identity_count; i++) {
        server_identity_config *id = &cfg->identities[i];
        nt_free(id->policy);
        nt_free(id->cert);
        nt_free(id->key);
        nt_free(id->key_passphrase_file);
        nt_free(id->chain);
        nt_free(id->pkcs12);
        nt_free(id->pkcs12_passphrase_file);
        memset(id, 0, sizeof(*id));
    }
    cfg->identity_count = 0;
}
