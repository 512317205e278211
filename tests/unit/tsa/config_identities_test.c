/*
 * config_identities_test.c - unit tests of tsa.identities (tsa/config_identities.c):
 * the one identity "tsa" of a configuration without it (tsa.cert/key/... and
 * tsa.policy, unchanged), several identities with their paths resolved and
 * their default, and every refusal naming the member: legacy members beside
 * identities, not an array, empty, too many, a missing name, cert or key, a bad
 * name, duplicate names or policies, two defaults, an unknown member, a pkcs11:
 * key without pkcs11.module.  tsa.record_certificates defaults to true.
 */
#include "tests/unit/test.h"
#include "tsa/server.h"

#include <string.h>

#define DATA       "/srv/notarium"
#define MIN_LEDGER "\"ledger\": {\"origin\": \"tsa.example.com/log\"}"
#define POLICY     "1.3.6.1.4.1.99999.1.1"

static int parse(server_config **out, const char *tsa_members)
{
    nt_buf b = NT_BUF_INIT;
    int rc;

    *out = NULL;
    if (nt_buf_printf(&b, "{\"tsa\": {\"policy\": \"" POLICY "\"%s%s}, " MIN_LEDGER "}",
                      tsa_members[0] != '\0' ? ", " : "", tsa_members) < 0) {
        return NT_ENOMEM;
    }
    rc = server_config_parse(out, (const char *)b.ptr, b.len, DATA);
    nt_buf_dispose(&b);
    return rc;
}

static void refused(const char *members, const char *needle, int line)
{
    server_config *c = NULL;
    int rc = parse(&c, members);
    if (rc != NT_EINVAL || c != NULL || strstr(nt_error_last(), needle) == NULL) {
        fprintf(stderr, "config_identities_test.c:%d: rc %d, message '%s', want '%s'\n", line, rc,
                nt_error_last(), needle);
        CHECK(0 && "not refused as expected");
    } else {
        CHECK(1);
    }
    server_config_free(c);
}
#define REFUSED(members, needle) refused((members), (needle), __LINE__)

#define ID(name, extra) "{\"name\": \"" name "\", \"cert\": \"c.pem\", \"key\": \"k.pem\"" extra "}"

static void test_legacy(void)
{
    server_config *c = NULL;

    CHECK_OK(parse(&c, "\"cert\": \"pki/a.pem\", \"key\": \"/abs/a.key\""));
    REQUIRE(c != NULL);
    CHECK(c->identity_count == 1);
    CHECK_STR(c->identities[0].name, "tsa");
    CHECK_STR(c->identities[0].policy, POLICY);
    CHECK(c->identities[0].is_default);
    CHECK_STR(c->identities[0].cert, DATA "/pki/a.pem");
    CHECK_STR(c->identities[0].key, "/abs/a.key");
    CHECK_STR(c->identities[0].chain, DATA "/pki/ca.pem");
    CHECK(c->identities[0].pkcs12 == NULL);
    CHECK(c->tsa_record_certificates == 1);
    server_config_free(c);

    CHECK_OK(parse(&c, "\"record_certificates\": false"));
    REQUIRE(c != NULL);
    CHECK(c->tsa_record_certificates == 0);
    server_config_free(c);
}

static void test_several(void)
{
    server_config *c = NULL;

    CHECK_OK(parse(&c, "\"identities\": [" ID("ec-2026", "") ", " ID(
                           "rsa-2026", ", \"policy\": \"1.2.3.4.2\", \"default\": true, "
                                       "\"chain\": \"pki/ca.pem\"") ", {\"name\": \"p12\", "
                                                                    "\"pkcs12\": \"t.p12\", "
                                                                    "\"policy\": \"1.2.3.4.3\"}]"));
    REQUIRE(c != NULL);
    CHECK(c->identity_count == 3);
    CHECK_STR(c->identities[0].name, "ec-2026");
    CHECK_STR(c->identities[0].policy, POLICY); /* tsa.policy by default */
    CHECK(!c->identities[0].is_default);
    CHECK_STR(c->identities[0].cert, DATA "/c.pem");
    CHECK(c->identities[0].chain == NULL);
    CHECK_STR(c->identities[1].policy, "1.2.3.4.2");
    CHECK(c->identities[1].is_default);
    CHECK_STR(c->identities[1].chain, DATA "/pki/ca.pem");
    CHECK_STR(c->identities[2].pkcs12, DATA "/t.p12");
    CHECK(c->identities[2].cert == NULL && !c->identities[2].is_default);
    server_config_free(c);

    /* no default marked: the first one */
    CHECK_OK(
        parse(&c, "\"identities\": [" ID("a", "") ", " ID("b", ", \"policy\": \"1.2.3\"") "]"));
    REQUIRE(c != NULL);
    CHECK(c->identities[0].is_default && !c->identities[1].is_default);
    server_config_free(c);

    /* legacy members given as null are the demo configuration's: allowed */
    CHECK_OK(parse(
        &c, "\"pkcs12\": null, \"key_passphrase_file\": null, \"identities\": [" ID("a", "") "]"));
    server_config_free(c);
}

static void test_refusals(void)
{
    REFUSED("\"cert\": \"x.pem\", \"identities\": [" ID("a", "") "]",
            "tsa.cert: not beside tsa.identities");
    REFUSED("\"pkcs12\": \"x.p12\", \"identities\": [" ID("a", "") "]",
            "tsa.pkcs12: not beside tsa.identities");
    REFUSED("\"identities\": {}", "tsa.identities: not a non-empty array");
    REFUSED("\"identities\": []", "tsa.identities: not a non-empty array");
    REFUSED("\"identities\": [" ID("a", "") "," ID("b", "") "," ID("c", "") "," ID("d", "") "," ID(
                "e", "") "," ID("f", "") "," ID("g", "") "," ID("h", "") "," ID("i", "") "]",
            "tsa.identities: more than 8");
    REFUSED("\"identities\": [7]", "tsa.identities[0].: not an object");
    REFUSED("\"identities\": [{\"cert\": \"c\", \"key\": \"k\"}]",
            "tsa.identities[0].name: required");
    REFUSED("\"identities\": [" ID("a b", "") "]", "tsa.identities[0].name: 1..64 characters");
    REFUSED("\"identities\": [{\"name\": \"a\", \"key\": \"k\"}]",
            "tsa.identities[0].: either pkcs12 or both cert and key");
    REFUSED("\"identities\": [{\"name\": \"a\", \"cert\": \"c\"}]",
            "tsa.identities[0].: either pkcs12 or both cert and key");
    REFUSED("\"identities\": [" ID("a", ", \"kee\": 1") "]",
            "tsa.identities[0].kee: unknown member");
    REFUSED("\"identities\": [" ID("a", ", \"policy\": \"1.2\"") ", " ID("a", "") "]",
            "tsa.identities[1].name: \"a\" is taken");
    REFUSED("\"identities\": [" ID("a", "") ", " ID("b", "") "]",
            "tsa.identities[1].policy: " POLICY " is the policy of identities[0]");
    REFUSED("\"identities\": [" ID("a", ", \"default\": true") ", " ID(
                "b", ", \"default\": true, \"policy\": \"1.2\"") "]",
            "2 identities are \"default\"");
    REFUSED("\"identities\": [{\"name\": \"a\", \"cert\": \"c\", \"key\": \"pkcs11:object=k\"}]",
            "tsa.identities[0].key: a pkcs11: key needs pkcs11.module");
    REFUSED("\"record_certificates\": 1", "tsa.record_certificates");
}

int main(void)
{
    test_legacy();
    test_several();
    test_refusals();
    return TEST_END();
}
