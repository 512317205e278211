/*
 * config_limits.c - the "limits" section of the configuration file (per-client
 * rate limits, docs/OPERATING.md): one object per route class of
 * server_limit_classes with per_address / per_key / per_tenant buckets, the
 * table size, and overrides for one API key or one tenant.  Parsed after
 * api_keys, which the overrides name.  ratelimit.c applies what is read here.
 */
#include "tsa/config_int.h"
#include "tsa/server_int.h"

#include <stdio.h>
#include <string.h>

#define LIMIT_MAX_RATE        1000000u /* per second; the interval stays >= 1 us */
#define LIMIT_MAX_BURST       1000000u
#define LIMIT_DEFAULT_BUCKETS 65536u
#define LIMIT_MAX_BUCKETS     (1u << 24)

/* {"rate": R, "burst": B} (burst defaults to the rate); JSON null = unlimited. */
static int parse_limit(server_limit *out, json_t *o, const char *sec)
{
    static const char *const allowed[] = {"rate", "burst"};
    char name[160];
    uint64_t rate = 0, burst = 0;
    int error = 0;

    memset(out, 0, sizeof(*out));
    if (o == NULL || json_is_null(o)) {
        return 0;
    }
    snprintf(name, sizeof(name), "%s.", sec);
    NT_ENSURE(json_is_object(o), NT_EINVAL, "%s: not an object {\"rate\": N, \"burst\": N}", sec);
    NT_TRY(server_cfg_members(o, name, allowed, NT_ARRAY_LEN(allowed)));
    NT_ENSURE(json_object_get(o, "rate") != NULL, NT_EINVAL, "%s.rate: required", sec);
    NT_TRY(server_cfg_uint(&rate, o, name, "rate", LIMIT_MAX_RATE, 0));
    NT_ENSURE(rate >= 1, NT_EINVAL,
              "%s.rate: at least 1 request per second (leave the limit out "
              "for none)",
              sec);
    NT_TRY(server_cfg_uint(&burst, o, name, "burst", LIMIT_MAX_BURST, rate));
    NT_ENSURE(burst >= 1, NT_EINVAL, "%s.burst: at least 1", sec);
    out->rate = (uint32_t)rate;
    out->burst = (uint32_t)burst;
done:
    return error;
}

/* "limits.<class>": {"per_address": .., "per_key": .., "per_tenant": ..}. */
static int parse_class(server_limits *lim, unsigned cls, json_t *o)
{
    const server_limit_class *c = &server_limit_classes[cls];
    char sec[64], member[96];
    int error = 0;

    snprintf(sec, sizeof(sec), "limits.%s.", c->name);
    NT_ENSURE(json_is_object(o), NT_EINVAL, "limits.%s: not an object", c->name);
    NT_TRY(server_cfg_members(o, sec, server_limit_scope_names, SERVER_LIMIT_SCOPES));
    NT_ENSURE(c->anonymous || json_object_get(o, "per_address") == NULL, NT_EINVAL,
              "%sper_address: %s requires an API key: limit it per_key or per_tenant", sec,
              c->path);
    NT_ENSURE(c->keyed || (json_object_get(o, "per_key") == NULL &&
                           json_object_get(o, "per_tenant") == NULL),
              NT_EINVAL, "%s%s: %s takes no API key: limit it per_address", sec,
              json_object_get(o, "per_key") != NULL ? "per_key" : "per_tenant", c->path);
    for (unsigned sc = 0; sc < SERVER_LIMIT_SCOPES; sc++) {
        snprintf(member, sizeof(member), "%s%s", sec, server_limit_scope_names[sc]);
        NT_TRY(parse_limit(&lim->limit[cls][sc], json_object_get(o, server_limit_scope_names[sc]),
                           member));
        lim->enabled |= lim->limit[cls][sc].rate != 0;
    }
done:
    return error;
}

static int tenant_known(const server_config *cfg, const char *tenant)
{
    for (size_t i = 0; i < cfg->api_key_count; i++) {
        if (strcmp(cfg->api_keys[i].tenant, tenant) == 0) {
            return 1;
        }
    }
    return 0;
}

/* One entry of "limits.overrides": {"key_id": ID | "tenant": T, "<class>": limit, ...}. */
static int parse_override(server_config *cfg, server_limit_override *ov, json_t *o, size_t i)
{
    const char *key_id = json_string_value(json_object_get(o, "key_id"));
    const char *tenant = json_string_value(json_object_get(o, "tenant"));
    const char *member;
    json_t *v;
    char sec[160];
    int error = 0, any = 0;

    NT_ENSURE(json_is_object(o), NT_EINVAL, "limits.overrides[%zu]: not an object", i);
    NT_ENSURE((key_id != NULL) != (tenant != NULL), NT_EINVAL,
              "limits.overrides[%zu]: exactly one of key_id and tenant (a string) required", i);
    if (key_id != NULL) {
        size_t k = 0;
        while (k < cfg->api_key_count && strcmp(cfg->api_keys[k].id, key_id) != 0) {
            k++;
        }
        NT_ENSURE(k < cfg->api_key_count, NT_EINVAL,
                  "limits.overrides[%zu].key_id: no API key '%s' in api_keys", i, key_id);
        snprintf(ov->key_id, sizeof(ov->key_id), "%s", key_id);
    } else {
        NT_ENSURE(server_name_valid(tenant, strlen(tenant)) && tenant_known(cfg, tenant), NT_EINVAL,
                  "limits.overrides[%zu].tenant: no API key of tenant '%s'", i, tenant);
        snprintf(ov->tenant, sizeof(ov->tenant), "%s", tenant);
    }
    json_object_foreach (o, member, v) {
        unsigned c = 0;
        if (strcmp(member, "key_id") == 0 || strcmp(member, "tenant") == 0) {
            continue;
        }
        while (c < SERVER_LIMIT_CLASSES && strcmp(server_limit_classes[c].name, member) != 0) {
            c++;
        }
        NT_ENSURE(c < SERVER_LIMIT_CLASSES && server_limit_classes[c].keyed, NT_EINVAL,
                  "limits.overrides[%zu].%s: not a route class with API keys", i, member);
        snprintf(sec, sizeof(sec), "limits.overrides[%zu].%s", i, member);
        NT_TRY(parse_limit(&ov->limit[c], v, sec));
        ov->has[c] = 1;
        any = 1;
        cfg->limits.enabled |= ov->limit[c].rate != 0;
    }
    NT_ENSURE(any, NT_EINVAL, "limits.overrides[%zu]: names no route class", i);
    for (size_t j = 0; j < i; j++) {
        const server_limit_override *p = &cfg->limits.overrides[j];
        NT_ENSURE(strcmp(p->key_id, ov->key_id) != 0 || strcmp(p->tenant, ov->tenant) != 0,
                  NT_EINVAL, "limits.overrides[%zu]: a second override for %s '%s'", i,
                  key_id != NULL ? "key_id" : "tenant", key_id != NULL ? key_id : tenant);
    }
done:
    return error;
}

int server__config_limits(server_config *cfg, json_t *o)
{
    static const char *const extra[] = {"max_buckets", "overrides"};
    const char *member;
    json_t *v;
    server_limits *lim = &cfg->limits;
    uint64_t u = 0;
    size_t i;
    int error = 0;

    memset(lim, 0, sizeof(*lim));
    lim->max_buckets = LIMIT_DEFAULT_BUCKETS;
    for (unsigned c = 0; c < SERVER_LIMIT_CLASSES; c++) {
        NT_ENSURE(server_limit_classes[c].name != NULL, NT_EINVAL,
                  "limits: route class %u has no row in server_limit_classes", c);
    }
    if (o == NULL) {
        return 0;
    }
    NT_ENSURE(json_is_object(o), NT_EINVAL, "limits: not an object");
    json_object_foreach (o, member, v) {
        unsigned c = 0;
        while (c < SERVER_LIMIT_CLASSES && strcmp(server_limit_classes[c].name, member) != 0) {
            c++;
        }
        if (c < SERVER_LIMIT_CLASSES) {
            NT_TRY(parse_class(lim, c, v));
        } else {
            NT_ENSURE(strcmp(member, extra[0]) == 0 || strcmp(member, extra[1]) == 0, NT_EINVAL,
                      "limits.%s: unknown member (route classes: tsa, evidence, verify)", member);
        }
    }
    NT_TRY(
        server_cfg_uint(&u, o, "limits.", "max_buckets", LIMIT_MAX_BUCKETS, LIMIT_DEFAULT_BUCKETS));
    NT_ENSURE(u >= 64, NT_EINVAL, "limits.max_buckets: at least 64");
    lim->max_buckets = (unsigned)u;
    if ((v = json_object_get(o, "overrides")) != NULL) {
        json_t *e;
        NT_ENSURE(json_is_array(v), NT_EINVAL, "limits.overrides: not an array");
        NT_ENSURE(json_array_size(v) <= SERVER_MAX_API_KEYS, NT_EINVAL,
                  "limits.overrides: more than %d entries", SERVER_MAX_API_KEYS);
        json_array_foreach (v, i, e) {
            NT_TRY(parse_override(cfg, &lim->overrides[i], e, i));
            lim->override_count = i + 1;
        }
    }
done:
    return error;
}
