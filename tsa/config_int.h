/*
 * config_int.h - private to the configuration file's parsers (config.c,
 * config_util.c and any config_*.c holding one section): the typed member
 * readers.  Each returns 0 or an NT_E* code with a message naming
 * "<section><key>"; `section` is "" or "tsa." and so on.
 */
#ifndef TSA_CONFIG_INT_H
#define TSA_CONFIG_INT_H

#include "tsa/server.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* NT_EINVAL naming the first member of obj not in allowed[0..n). */
int server_cfg_members(json_t *obj, const char *section, const char *const *allowed, size_t n);

/* An integer in 0..max; absent = def. */
int server_cfg_uint(uint64_t *out, json_t *obj, const char *section, const char *key, uint64_t max,
                    uint64_t def);

/* true or false; absent = def. */
int server_cfg_bool(int *out, json_t *obj, const char *section, const char *key, int def);

/* A non-empty string (copied into *out, which is freed first); absent = def (may be NULL);
 * JSON null gives NULL when nullable. */
int server_cfg_str(char **out, json_t *obj, const char *section, const char *key, const char *def,
                   int nullable);

/* An array of at most max non-empty strings, copied into out[0..*count). */
int server_cfg_str_array(char **out, size_t *count, size_t max, json_t *obj, const char *section,
                         const char *key);

/* A relative path resolved against the data directory, in place (a pkcs11: URI is kept). */
int server_cfg_path(char **path, const char *data_dir);

/* config_limits.c: the "limits" section into cfg->limits (o NULL = absent: no limits);
 * api_keys must have been read. */
int server__config_limits(server_config *cfg, json_t *o);

/* config_cases.c: the "cases" section (o NULL = absent: no certificate signer), paths resolved
 * against cfg->data_dir; its members' release for server_config_free. */
int server__config_cases(server_config *cfg, json_t *o);
void server__config_cases_free(server_config *cfg);

/* config_tls.c: "tls" and "admin_listen" (after api_keys: tls.clients name their ids), and
 * the check that some listener is left; its members' release for server_config_free. */
int server__config_listeners(server_config *cfg, json_t *root);
void server__config_listeners_free(server_config *cfg);

/*
 * config_identities.c: tsa.identities (`tsa` the tsa section, paths resolved against
 * data_dir, after tsa.* and pkcs11 are parsed), or the one identity "tsa" made of tsa.cert,
 * tsa.key, ... and tsa.policy; and their release for server_config_free.
 */
int server_cfg_identities(server_config *cfg, json_t *tsa_obj, const char *data_dir);
void server_cfg_identities_free(server_config *cfg);

#endif
