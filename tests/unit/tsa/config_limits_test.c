/*
 * config_limits_test.c - unit tests of the "limits" section of the
 * configuration file (tsa/config_limits.c): absent means no limits, every
 * member read, burst defaulting to the rate, overrides by key and by tenant,
 * and every refusal naming the member.  Part of the tsa unit tests; links nt_tsa.
 */
#include "tests/unit/test.h"
#include "tsa/server_int.h"

#define H32 "00000000000000000000000000000000"
#define KEY(id, tenant)                                                                            \
    "{\"id\": \"" id "\", \"tenant\": \"" tenant "\", \"salt\": \"0011223344556677\", "            \
    "\"sha256\": \"" H32 H32 "\"}"
#define HEAD                                                                                       \
    "{\"tsa\": {\"policy\": \"1.2.3\"}, \"ledger\": {\"origin\": \"x.example/l\"},"                \
    " \"api_keys\": [" KEY("a1", "ta") ", " KEY("b1", "tb") "]"

static int parse(server_config **cfg, const char *limits)
{
    nt_buf j = NT_BUF_INIT;
    int rc;
    if (limits != NULL) {
        nt_buf_printf(&j, HEAD ", \"limits\": %s}", limits);
    } else {
        nt_buf_puts(&j, HEAD "}");
    }
    rc = server_config_parse(cfg, nt_buf_cstr(&j), j.len, "/srv/notarium");
    nt_buf_dispose(&j);
    return rc;
}

static void refused(const char *limits, const char *needle, int line)
{
    server_config *cfg = NULL;
    int rc = parse(&cfg, limits);
    if (rc != NT_EINVAL || cfg != NULL || strstr(nt_error_last(), needle) == NULL) {
        fprintf(stderr, "config_limits_test.c:%d: expected NT_EINVAL naming '%s', got %d (%s)\n",
                line, needle, rc, nt_error_last());
        CHECK(0 && "limits not refused as expected");
    } else {
        CHECK(1);
    }
    server_config_free(cfg);
}
#define REFUSED(json, needle) refused((json), (needle), __LINE__)

static void test_absent(void)
{
    server_config *cfg = NULL;
    CHECK_OK(parse(&cfg, NULL));
    if (cfg != NULL) {
        CHECK(!cfg->limits.enabled);
        CHECK(cfg->limits.max_buckets == 65536);
        CHECK(cfg->limits.limit[SERVER_LIMIT_TSA][SERVER_LIMIT_PER_ADDRESS].rate == 0);
    }
    server_config_free(cfg);
    /* an empty section, or only nulls: still nothing limited */
    CHECK_OK(parse(&cfg, "{\"tsa\": {\"per_address\": null}, \"max_buckets\": 1000}"));
    if (cfg != NULL) {
        CHECK(!cfg->limits.enabled);
        CHECK(cfg->limits.max_buckets == 1000);
    }
    server_config_free(cfg);
}

static void test_every_member(void)
{
    server_config *cfg = NULL;
    const server_limits *l;
    CHECK_OK(parse(&cfg, "{\"tsa\": {\"per_address\": {\"rate\": 200, \"burst\": 400},"
                         "          \"per_key\": {\"rate\": 1000},"
                         "          \"per_tenant\": {\"rate\": 3000, \"burst\": 1}},"
                         " \"evidence\": {\"per_key\": {\"rate\": 50, \"burst\": 100}},"
                         " \"verify\": {\"per_address\": {\"rate\": 5}},"
                         " \"overrides\": [{\"key_id\": \"a1\", \"tsa\": {\"rate\": 5000, "
                         "\"burst\": 10000}, \"evidence\": null},"
                         "               {\"tenant\": \"tb\", \"evidence\": {\"rate\": 7}}]}"));
    if (cfg == NULL) {
        return;
    }
    l = &cfg->limits;
    CHECK(l->enabled);
    CHECK(l->limit[SERVER_LIMIT_TSA][SERVER_LIMIT_PER_ADDRESS].rate == 200);
    CHECK(l->limit[SERVER_LIMIT_TSA][SERVER_LIMIT_PER_ADDRESS].burst == 400);
    CHECK(l->limit[SERVER_LIMIT_TSA][SERVER_LIMIT_PER_KEY].rate == 1000);
    CHECK(l->limit[SERVER_LIMIT_TSA][SERVER_LIMIT_PER_KEY].burst == 1000); /* = rate */
    CHECK(l->limit[SERVER_LIMIT_TSA][SERVER_LIMIT_PER_TENANT].burst == 1);
    CHECK(l->limit[SERVER_LIMIT_EVIDENCE][SERVER_LIMIT_PER_KEY].burst == 100);
    CHECK(l->limit[SERVER_LIMIT_EVIDENCE][SERVER_LIMIT_PER_ADDRESS].rate == 0);
    CHECK(l->limit[SERVER_LIMIT_VERIFY][SERVER_LIMIT_PER_ADDRESS].rate == 5);
    CHECK(l->override_count == 2);
    CHECK_STR(l->overrides[0].key_id, "a1");
    CHECK(l->overrides[0].has[SERVER_LIMIT_TSA] && l->overrides[0].has[SERVER_LIMIT_EVIDENCE]);
    CHECK(!l->overrides[0].has[SERVER_LIMIT_VERIFY]);
    CHECK(l->overrides[0].limit[SERVER_LIMIT_TSA].burst == 10000);
    CHECK(l->overrides[0].limit[SERVER_LIMIT_EVIDENCE].rate == 0); /* null: unlimited */
    CHECK_STR(l->overrides[1].tenant, "tb");
    CHECK(l->overrides[1].key_id[0] == '\0');
    server_config_free(cfg);
    /* an override alone enables the limiter */
    CHECK_OK(parse(&cfg, "{\"overrides\": [{\"key_id\": \"b1\", \"tsa\": {\"rate\": 1}}]}"));
    CHECK(cfg != NULL && cfg->limits.enabled);
    server_config_free(cfg);
}

static void test_refusals(void)
{
    REFUSED("[]", "limits: not an object");
    REFUSED("{\"tsaa\": {}}", "limits.tsaa: unknown member");
    REFUSED("{\"tsa\": 5}", "limits.tsa: not an object");
    REFUSED("{\"tsa\": {\"per_adress\": {\"rate\": 1}}}", "limits.tsa.per_adress: unknown member");
    REFUSED("{\"tsa\": {\"per_address\": 100}}", "limits.tsa.per_address: not an object");
    REFUSED("{\"tsa\": {\"per_address\": {}}}", "limits.tsa.per_address.rate: required");
    REFUSED("{\"tsa\": {\"per_address\": {\"rate\": 0}}}",
            "limits.tsa.per_address.rate: at least 1");
    REFUSED("{\"tsa\": {\"per_address\": {\"rate\": -1}}}",
            "limits.tsa.per_address.rate: not an integer");
    REFUSED("{\"tsa\": {\"per_address\": {\"rate\": 1.5}}}",
            "limits.tsa.per_address.rate: not an integer");
    REFUSED("{\"tsa\": {\"per_address\": {\"rate\": 1000001}}}",
            "limits.tsa.per_address.rate: not an integer in 0..1000000");
    REFUSED("{\"evidence\": {\"per_key\": {\"rate\": 5, \"burst\": 0}}}",
            "limits.evidence.per_key.burst: at least 1");
    REFUSED("{\"evidence\": {\"per_key\": {\"rate\": 5, \"burst\": \"10\"}}}",
            "limits.evidence.per_key.burst: not an integer");
    REFUSED("{\"evidence\": {\"per_key\": {\"rate\": 5, \"brust\": 10}}}",
            "limits.evidence.per_key.brust: unknown member");
    /* /v1/verify takes no API key */
    REFUSED("{\"verify\": {\"per_key\": {\"rate\": 5}}}",
            "limits.verify.per_key: /v1/verify takes no API key");
    REFUSED("{\"verify\": {\"per_tenant\": {\"rate\": 5}}}",
            "limits.verify.per_tenant: /v1/verify takes no API key");
    /* /v1/evidence answers no request without one */
    REFUSED("{\"evidence\": {\"per_address\": {\"rate\": 5}}}",
            "limits.evidence.per_address: /v1/evidence requires an API key");
    REFUSED("{\"max_buckets\": 10}", "limits.max_buckets: at least 64");
    REFUSED("{\"max_buckets\": 100000000}", "limits.max_buckets: not an integer");
    REFUSED("{\"overrides\": {}}", "limits.overrides: not an array");
    REFUSED("{\"overrides\": [5]}", "limits.overrides[0]: not an object");
    REFUSED("{\"overrides\": [{\"tsa\": {\"rate\": 1}}]}",
            "limits.overrides[0]: exactly one of key_id and tenant");
    REFUSED("{\"overrides\": [{\"key_id\": \"a1\", \"tenant\": \"ta\", \"tsa\": {\"rate\": 1}}]}",
            "limits.overrides[0]: exactly one of key_id and tenant");
    REFUSED("{\"overrides\": [{\"key_id\": \"zz\", \"tsa\": {\"rate\": 1}}]}",
            "limits.overrides[0].key_id: no API key 'zz'");
    REFUSED("{\"overrides\": [{\"tenant\": \"tz\", \"tsa\": {\"rate\": 1}}]}",
            "limits.overrides[0].tenant: no API key of tenant 'tz'");
    REFUSED("{\"overrides\": [{\"key_id\": \"a1\"}]}", "limits.overrides[0]: names no route class");
    REFUSED("{\"overrides\": [{\"key_id\": \"a1\", \"verify\": {\"rate\": 1}}]}",
            "limits.overrides[0].verify: not a route class with API keys");
    REFUSED("{\"overrides\": [{\"key_id\": \"a1\", \"tsa\": {\"rate\": 0}}]}",
            "limits.overrides[0].tsa.rate: at least 1");
    REFUSED("{\"overrides\": [{\"key_id\": \"a1\", \"tsa\": {\"rate\": 1}},"
            " {\"key_id\": \"a1\", \"evidence\": {\"rate\": 1}}]}",
            "limits.overrides[1]: a second override for key_id 'a1'");
}

int main(void)
{
    test_absent();
    test_every_member();
    test_refusals();
    return TEST_END();
}
