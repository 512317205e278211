/*
 * config_util.c - the typed member readers every section parser of the
 * configuration file uses (config.c and the config_*.c sections): strict,
 * each error naming the member ("tsa.accuracy_ms: not an integer in 0..N").
 */
#include "tsa/config_int.h"

#include "certs/certs.h"

#include <string.h>

int server_cfg_members(json_t *obj, const char *section, const char *const *allowed, size_t n)
{
    const char *key;
    json_t *value;

    json_object_foreach (obj, key, value) {
        size_t i;
        (void)value;
        for (i = 0; i < n; i++) {
            if (strcmp(key, allowed[i]) == 0) {
                break;
            }
        }
        if (i == n) {
            return nt_error_set(NT_EINVAL, "%s%s: unknown member", section, key);
        }
    }
    return 0;
}

int server_cfg_uint(uint64_t *out, json_t *obj, const char *section, const char *key, uint64_t max,
                    uint64_t def)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max) {
        return nt_error_set(NT_EINVAL, "%s%s: not an integer in 0..%llu", section, key,
                            (unsigned long long)max);
    }
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

int server_cfg_bool(int *out, json_t *obj, const char *section, const char *key, int def)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v)) {
        return nt_error_set(NT_EINVAL, "%s%s: not true or false", section, key);
    }
    *out = json_is_true(v);
    return 0;
}

/* A string member; NULL stays NULL when `nullable` (or absent with def NULL). */
int server_cfg_str(char **out, json_t *obj, const char *section, const char *key, const char *def,
                   int nullable)
{
    json_t *v = json_object_get(obj, key);
    const char *s = def;

    if (v != NULL) {
        if (json_is_null(v) && nullable) {
            s = NULL;
        } else if (!json_is_string(v) || json_string_length(v) == 0 ||
                   strlen(json_string_value(v)) != json_string_length(v)) {
            return nt_error_set(NT_EINVAL, "%s%s: not a non-empty string", section, key);
        } else {
            s = json_string_value(v);
        }
    }
    nt_free(*out);
    *out = NULL;
    if (s != NULL && (*out = nt_strdup(s)) == NULL) {
        return NT_ENOMEM;
    }
    return 0;
}

/* Resolve a relative path against the data directory, in place (a pkcs11: URI is kept). */
int server_cfg_path(char **path, const char *data_dir)
{
    nt_buf b = NT_BUF_INIT;
    int error = 0;
    if (*path == NULL || (*path)[0] == '/' || certs_uri_is_pkcs11(*path)) {
        return 0;
    }
    NT_TRY(nt_path_join(&b, data_dir, *path));
    nt_free(*path);
    *path = nt_buf_detach(&b);
done:
    nt_buf_dispose(&b);
    return error;
}

int server_cfg_str_array(char **out, size_t *count, size_t max, json_t *obj, const char *section,
                         const char *key)
{
    json_t *arr = json_object_get(obj, key), *v;
    size_t i;

    *count = 0;
    if (arr == NULL) {
        return 0;
    }
    if (!json_is_array(arr)) {
        return nt_error_set(NT_EINVAL, "%s%s: not an array", section, key);
    }
    if (json_array_size(arr) > max) {
        return nt_error_set(NT_EINVAL, "%s%s: more than %zu entries", section, key, max);
    }
    json_array_foreach (arr, i, v) {
        if (!json_is_string(v) || json_string_length(v) == 0) {
            return nt_error_set(NT_EINVAL, "%s%s[%zu]: not a non-empty string", section, key, i);
        }
        if ((out[i] = nt_strdup(json_string_value(v))) == NULL) {
            return NT_ENOMEM;
        }
        *count = i + 1;
    }
    return 0;
}
