/*
 * config_test.c - unit tests of the daemon's configuration (tsa/config.c):
 * the JSON parser (every option, the defaults, relative paths resolved
 * against the data directory, and every refusal naming the member), the
 * default configuration text, the listen spec parser, API keys (a fresh key
 * checks, a wrong key or salt does not, the comparison is constant-time and
 * every entry is hashed whichever matches), and the demo data directory
 * (files and modes, reuse on a second run, a PKI made beforehand kept).
 * Part of the tsa unit tests; links nt_tsa.
 */
#include "certs/certs.h"
#include "tests/unit/test.h"
#include "tsa/server.h"

#include <openssl/crypto.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#define DATA       "/srv/notarium"
#define MIN_TSA    "\"tsa\": {\"policy\": \"1.3.6.1.4.1.99999.1.1\"}"
#define MIN_LEDGER "\"ledger\": {\"origin\": \"tsa.example.com/log\"}"
#define HASH0      "0000000000000000000000000000000000000000000000000000000000000000"
#define SALT8      "0011223344556677"

/* ------------------------------------------------------------------ helpers */

/* OpenSSL allocations, counted to show that the API key check does the same work every time. */
static atomic_ulong ossl_allocs;

static void *count_malloc(size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    atomic_fetch_add(&ossl_allocs, 1);
    return malloc(n);
}

static void *count_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    atomic_fetch_add(&ossl_allocs, 1);
    return realloc(p, n);
}

static void count_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    free(p);
}

static int parse(server_config **cfg, const char *json)
{
    return server_config_parse(cfg, json, strlen(json), DATA);
}

/* `json` is refused with NT_EINVAL, *out stays NULL, and the message contains `needle`. */
static void refused(const char *json, const char *needle, int line)
{
    server_config *cfg = (server_config *)&cfg;
    int rc = parse(&cfg, json);
    if (rc != NT_EINVAL || cfg != NULL || strstr(nt_error_last(), needle) == NULL) {
        fprintf(stderr, "config_test.c:%d: expected NT_EINVAL naming '%s', got %d (%s) for %s\n",
                line, needle, rc, nt_error_last(), json);
        CHECK(0 && "configuration not refused as expected");
    } else {
        CHECK(1);
    }
    server_config_free(cfg == (server_config *)&cfg ? NULL : cfg);
}
#define REFUSED(json, needle) refused((json), (needle), __LINE__)

/* `json` (a complete config) is accepted. */
static server_config *accepted(const char *json, int line)
{
    server_config *cfg = NULL;
    int rc = parse(&cfg, json);
    if (rc != 0 || cfg == NULL) {
        fprintf(stderr, "config_test.c:%d: refused (%s): %s\n", line, nt_error_last(), json);
        CHECK(0 && "configuration refused");
        return NULL;
    }
    CHECK(1);
    return cfg;
}
#define ACCEPTED(json) accepted((json), __LINE__)

/* A config with one member replaced in the tsa (or ledger) object. */
static const char *with_tsa(nt_buf *b, const char *members)
{
    nt_buf_clear(b);
    REQUIRE(nt_buf_printf(b, "{\"tsa\": {\"policy\": \"1.2.3\", %s}, " MIN_LEDGER "}", members) ==
            0);
    return nt_buf_cstr(b);
}

static const char *with_ledger(nt_buf *b, const char *members)
{
    nt_buf_clear(b);
    REQUIRE(nt_buf_printf(b, "{" MIN_TSA ", \"ledger\": {\"origin\": \"o\", %s}}", members) == 0);
    return nt_buf_cstr(b);
}

static const char *with_top(nt_buf *b, const char *members)
{
    nt_buf_clear(b);
    REQUIRE(nt_buf_printf(b, "{" MIN_TSA ", " MIN_LEDGER ", %s}", members) == 0);
    return nt_buf_cstr(b);
}

static int file_mode(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

static void rm_rf(const char *dir)
{
    nt_buf cmd = NT_BUF_INIT;
    REQUIRE(nt_buf_printf(&cmd, "rm -rf '%s'", dir) == 0);
    if (system(nt_buf_cstr(&cmd)) != 0) {
        fprintf(stderr, "could not remove %s\n", dir);
    }
    nt_buf_dispose(&cmd);
}

static void path_in(nt_buf *out, const char *dir, const char *name)
{
    REQUIRE(nt_path_join(out, dir, name) == 0);
}

/* ------------------------------------------------------------------ parser */

static void test_defaults(void)
{
    server_config *c = ACCEPTED("{" MIN_TSA ", " MIN_LEDGER "}");
    REQUIRE(c != NULL);
    CHECK_STR(c->data_dir, DATA);
    CHECK_STR(c->listen, SERVER_DEFAULT_LISTEN);
    CHECK(c->threads == 0);
    CHECK(c->max_body == SERVER_DEFAULT_MAX_BODY);
    CHECK(c->log_level == NT_LOG_INFO);

    CHECK_STR(c->tsa_policy, "1.3.6.1.4.1.99999.1.1");
    CHECK(c->tsa.policy == c->tsa_policy);
    CHECK(c->tsa.accepted_policy_count == 0);
    CHECK(c->tsa.accepted_extension_count == 0);
    CHECK(c->tsa.accuracy_ms == 1000);
    CHECK(c->tsa.precision_digits == 3);
    CHECK(!c->tsa.ordering && !c->tsa.include_tsa_name && !c->tsa.allow_sha1 && !c->tsa.allow_md5 &&
          !c->tsa.allow_unsynced_clock && !c->tsa.rsa_pss);
    CHECK(c->tsa.signing_digest != NULL && strcmp(c->tsa.signing_digest, "sha256") == 0);
    CHECK(c->tsa.node_id == 0);
    /* relative defaults resolved against the data directory */
    CHECK_STR(c->tsa_cert, DATA "/pki/tsa.pem");
    CHECK_STR(c->tsa_key, DATA "/pki/tsa.key");
    CHECK_STR(c->tsa_chain, DATA "/pki/ca.pem");
    CHECK(c->tsa_key_passphrase_file == NULL && c->tsa_pkcs12 == NULL &&
          c->tsa_pkcs12_passphrase_file == NULL);

    CHECK_STR(c->ledger_path, DATA "/ledger");
    CHECK_STR(c->ledger_origin, "tsa.example.com/log");
    CHECK_STR(c->ledger_log_key, DATA "/pki/log.key");
    CHECK(c->ledger_map_size_mb == 65536);
    CHECK(c->ledger_batch_max == 512);
    CHECK(c->ledger_batch_window_us == 1000);
    CHECK(c->ledger_queue_max == 8192);
    CHECK(c->ledger_no_sync == 0);

    CHECK(c->api_key_count == 0);
    CHECK(c->evidence_max_metadata_bytes == 16384);
    CHECK(c->mirror_path != NULL && strcmp(c->mirror_path, DATA "/mirror.git") == 0);
    CHECK(c->mirror_interval_ms == 1000);
    CHECK(c->mirror_remote_count == 0);
    CHECK(c->mirror_push_timeout_ms == 30000 && c->mirror_stop_timeout_ms == 5000);
    server_config_free(c);
}

static void test_every_option(void)
{
    static const char json[] =
        "{\"listen\": \"[::1]:8443\", \"threads\": 1024, \"max_body\": 67108864,"
        " \"log_level\": \"warn\","
        " \"tsa\": {\"policy\": \"1.2.3.4\", \"accepted_policies\": [\"1.2.3.5\", \"1.2.3.6\"],"
        "   \"accepted_extensions\": [\"1.3.6.1.5.5.7.1.3\"], \"accuracy_ms\": 0,"
        "   \"precision\": 6, \"ordering\": true, \"include_tsa_name\": true,"
        "   \"allow_sha1\": true, \"allow_md5\": true, \"allow_unsynced_clock\": true,"
        "   \"signing_digest\": \"sha512\", \"rsa_pss\": true, \"node_id\": 32767,"
        "   \"cert\": \"/etc/tsa.pem\", \"key\": \"k/tsa.key\", \"key_passphrase_file\": "
        "\"k/pass\","
        "   \"chain\": null, \"pkcs12\": \"p/tsa.p12\", \"pkcs12_passphrase_file\": \"/p/pass\"},"
        " \"ledger\": {\"path\": \"/var/lib/l\", \"origin\": \"o.example/log\","
        "   \"log_key\": \"keys/log.key\", \"map_size_mb\": 16777216, \"batch_max\": 65536,"
        "   \"batch_window_us\": 1000000, \"queue_max\": 16777216, \"no_sync\": true},"
        " \"api_keys\": [{\"id\": \"a.B_c-9\", \"salt\": \"" SALT8 "\", \"sha256\": \"" HASH0 "\"},"
        "   {\"id\": \"second\", \"tenant\": \"platform-1\", \"salt\": "
        "\"00112233445566778899AABBCCDDEEFF\","
        "    \"sha256\": \"ff" HASH0 "\"}],"
        " \"evidence\": {\"max_metadata_bytes\": 1048576},"
        " \"mirror\": {\"path\": \"m.git\", \"interval_ms\": 86400000,"
        "   \"push_timeout_ms\": 3600000, \"stop_timeout_ms\": 100,"
        "   \"remotes\": [\"/backup/m.git\", \"ssh://example.com/m.git\"]}}";
    server_config *c;
    nt_buf b = NT_BUF_INIT;

    /* the second key's hash is 33 bytes: refused, then fixed */
    REFUSED(json, "api_keys[1].sha256");
    REQUIRE(nt_buf_puts(&b, json) == 0);
    {
        char *p = strstr((char *)b.ptr, "\"ff" HASH0);
        REQUIRE(p != NULL);
        memcpy(p + 1, "ab", 2);
        memmove(p + 1 + 64, p + 3 + 64, strlen(p + 3 + 64) + 1);
        b.len -= 2;
    }
    c = ACCEPTED(nt_buf_cstr(&b));
    REQUIRE(c != NULL);
    CHECK_STR(c->listen, "[::1]:8443");
    CHECK(c->threads == 1024);
    CHECK(c->max_body == 64u << 20);
    CHECK(c->log_level == NT_LOG_WARN);
    CHECK_STR(c->tsa.policy, "1.2.3.4");
    CHECK(c->tsa.accepted_policy_count == 2);
    CHECK_STR(c->tsa.accepted_policies[0], "1.2.3.5");
    CHECK_STR(c->tsa.accepted_policies[1], "1.2.3.6");
    CHECK(c->tsa.accepted_policies[1] == c->tsa_accepted_policies[1]);
    CHECK(c->tsa.accepted_extension_count == 1);
    CHECK_STR(c->tsa.accepted_extensions[0], "1.3.6.1.5.5.7.1.3");
    CHECK(c->tsa.accuracy_ms == 0);
    CHECK(c->tsa.precision_digits == 6);
    CHECK(c->tsa.ordering && c->tsa.include_tsa_name && c->tsa.allow_sha1 && c->tsa.allow_md5 &&
          c->tsa.allow_unsynced_clock && c->tsa.rsa_pss);
    CHECK_STR(c->tsa.signing_digest, "sha512");
    CHECK(c->tsa.node_id == 32767);
    CHECK_STR(c->tsa_cert, "/etc/tsa.pem");   /* absolute: kept */
    CHECK_STR(c->tsa_key, DATA "/k/tsa.key"); /* relative: resolved */
    CHECK_STR(c->tsa_key_passphrase_file, DATA "/k/pass");
    CHECK(c->tsa_chain == NULL); /* null: no chain */
    CHECK_STR(c->tsa_pkcs12, DATA "/p/tsa.p12");
    CHECK_STR(c->tsa_pkcs12_passphrase_file, "/p/pass");
    CHECK_STR(c->ledger_path, "/var/lib/l");
    CHECK_STR(c->ledger_origin, "o.example/log");
    CHECK_STR(c->ledger_log_key, DATA "/keys/log.key");
    CHECK(c->ledger_map_size_mb == 1u << 24);
    CHECK(c->ledger_batch_max == 65536);
    CHECK(c->ledger_batch_window_us == 1000000);
    CHECK(c->ledger_queue_max == 1u << 24);
    CHECK(c->ledger_no_sync == 1);
    CHECK(c->api_key_count == 2);
    CHECK_STR(c->api_keys[0].id, "a.B_c-9");
    CHECK_STR(c->api_keys[0].tenant, "a.B_c-9"); /* no tenant: the id */
    CHECK_STR(c->api_keys[1].tenant, "platform-1");
    CHECK(c->api_keys[0].salt_len == 8 && c->api_keys[0].salt[7] == 0x77);
    CHECK(c->api_keys[1].salt_len == 16 && c->api_keys[1].salt[15] == 0xff);
    CHECK(c->api_keys[1].sha256[0] == 0xab && c->api_keys[1].sha256[1] == 0x00);
    CHECK(c->evidence_max_metadata_bytes == 1u << 20);
    CHECK_STR(c->mirror_path, DATA "/m.git");
    CHECK(c->mirror_interval_ms == 86400000);
    CHECK(c->mirror_push_timeout_ms == 3600000 && c->mirror_stop_timeout_ms == 100);
    CHECK(c->mirror_remote_count == 2);
    CHECK_STR(c->mirror_remotes[1], "ssh://example.com/m.git");
    server_config_free(c);

    /* signing_digest null = chosen by key type; the other digests */
    c = ACCEPTED(with_tsa(&b, "\"signing_digest\": null"));
    CHECK(c != NULL && c->tsa.signing_digest == NULL);
    server_config_free(c);
    c = ACCEPTED(with_tsa(&b, "\"signing_digest\": \"sha384\""));
    CHECK(c != NULL && strcmp(c->tsa.signing_digest, "sha384") == 0);
    server_config_free(c);
    /* every log level */
    {
        static const char *const levels[] = {"debug", "info", "warn", "error", "none"};
        for (size_t i = 0; i < NT_ARRAY_LEN(levels); i++) {
            char member[64];
            snprintf(member, sizeof(member), "\"log_level\": \"%s\"", levels[i]);
            c = ACCEPTED(with_top(&b, member));
            CHECK(c != NULL && c->log_level == (nt_log_level)i);
            server_config_free(c);
        }
    }
    /* the lower bounds that are still accepted */
    c = ACCEPTED(with_top(&b, "\"max_body\": 256, \"threads\": 0, \"listen\": \"0.0.0.0:0\""));
    CHECK(c != NULL && c->max_body == 256);
    server_config_free(c);
    c = ACCEPTED(with_tsa(&b, "\"precision\": 0, \"node_id\": 0, \"accuracy_ms\": 3600000"));
    CHECK(c != NULL && c->tsa.precision_digits == 0 && c->tsa.accuracy_ms == 3600000);
    server_config_free(c);
    c = ACCEPTED(with_ledger(&b, "\"map_size_mb\": 1, \"batch_max\": 0"));
    CHECK(c != NULL && c->ledger_map_size_mb == 1 && c->ledger_batch_max == 0);
    server_config_free(c);
    /* PKCS#12 instead of cert + key */
    c = ACCEPTED(with_tsa(&b, "\"cert\": null, \"key\": null, \"pkcs12\": \"tsa.p12\""));
    CHECK(c != NULL && c->tsa_cert == NULL && c->tsa_key == NULL &&
          strcmp(c->tsa_pkcs12, DATA "/tsa.p12") == 0);
    server_config_free(c);
    /* a data directory given with a trailing slash */
    REQUIRE(server_config_parse(&c, "{" MIN_TSA ", " MIN_LEDGER "}",
                                strlen("{" MIN_TSA ", " MIN_LEDGER "}"), "rel/dir") == 0);
    CHECK_STR(c->ledger_path, "rel/dir/ledger");
    server_config_free(c);
    nt_buf_dispose(&b);
}

static void test_refusals(void)
{
    nt_buf b = NT_BUF_INIT;
    server_config *c = (server_config *)&b;
    nt_buf keys = NT_BUF_INIT;

    /* not a configuration at all */
    REFUSED("", "config: line");
    REFUSED("{\"tsa\": ", "config: line");
    REFUSED("[]", "not a JSON object");
    REFUSED("{" MIN_TSA ", " MIN_LEDGER ", " MIN_LEDGER "}", "config: line"); /* duplicate */
    CHECK_ERR(server_config_parse(&c, "{}", 2, ""), NT_EINVAL);
    CHECK(c == NULL);
    CHECK_ERR(server_config_parse(&c, "{}", 2, NULL), NT_EINVAL);

    /* required members */
    REFUSED("{" MIN_LEDGER "}", "tsa: required");
    REFUSED("{" MIN_TSA "}", "ledger: required");
    REFUSED("{\"tsa\": {}, " MIN_LEDGER "}", "tsa.policy: required");
    REFUSED("{" MIN_TSA ", \"ledger\": {}}", "ledger.origin: required");
    REFUSED(with_tsa(&b, "\"cert\": null"), "either pkcs12 or both cert and key");
    REFUSED(with_tsa(&b, "\"key\": null"), "either pkcs12 or both cert and key");

    /* unknown members, at every level: a typo must not be ignored */
    REFUSED(with_top(&b, "\"listn\": \"127.0.0.1:1\""), "listn: unknown member");
    REFUSED(with_tsa(&b, "\"alow_sha1\": true"), "tsa.alow_sha1: unknown member");
    REFUSED(with_ledger(&b, "\"nosync\": true"), "ledger.nosync: unknown member");
    REFUSED(with_top(&b, "\"evidence\": {\"max_meta\": 1}"), "evidence.max_meta: unknown member");
    REFUSED(with_top(&b, "\"mirror\": {\"remote\": []}"), "mirror.remote: unknown member");
    REFUSED(with_top(&b, "\"api_keys\": [{\"id\": \"a\", \"salt\": \"" SALT8
                         "\", \"sha256\": \"" HASH0 "\", \"key\": \"x\"}]"),
            "api_keys[0].key: unknown member");
    REFUSED(with_top(&b, "\"api_keys\": [{\"id\": \"a\", \"tenant\": \"a b\", \"salt\": \"" SALT8
                         "\", \"sha256\": \"" HASH0 "\"}]"),
            "api_keys[0].tenant: 1..64 characters");
    REFUSED(with_top(&b, "\"api_keys\": [{\"id\": \"a\", \"tenant\": 7, \"salt\": \"" SALT8
                         "\", \"sha256\": \"" HASH0 "\"}]"),
            "api_keys[0].tenant: 1..64 characters");

    /* wrong types */
    REFUSED(with_top(&b, "\"threads\": \"4\""), "threads: not an integer");
    REFUSED(with_top(&b, "\"threads\": 4.0"), "threads: not an integer");
    REFUSED(with_top(&b, "\"threads\": -1"), "threads: not an integer");
    REFUSED(with_top(&b, "\"listen\": 3161"), "listen: not a non-empty string");
    REFUSED(with_top(&b, "\"listen\": \"\""), "listen: not a non-empty string");
    REFUSED(with_top(&b, "\"listen\": null"), "listen: null needs tls.listen"); /* config_tls.c */
    REFUSED(with_top(&b, "\"log_level\": \"verbose\""), "log_level: one of");
    REFUSED(with_tsa(&b, "\"ordering\": 1"), "tsa.ordering: not true or false");
    REFUSED(with_tsa(&b, "\"allow_sha1\": \"yes\""), "tsa.allow_sha1: not true or false");
    REFUSED(with_ledger(&b, "\"no_sync\": null"), "ledger.no_sync: not true or false");
    REFUSED("{\"tsa\": {\"policy\": 1.2}, " MIN_LEDGER "}", "tsa.policy: not a non-empty string");
    REFUSED("{\"tsa\": {\"policy\": \"1.2\\u00003\"}, " MIN_LEDGER "}", "config: line");
    REFUSED("{\"tsa\": [], " MIN_LEDGER "}", "tsa: not an object");
    REFUSED("{" MIN_TSA ", \"ledger\": \"o\"}", "ledger: not an object");
    REFUSED(with_tsa(&b, "\"accepted_policies\": \"1.2.3\""),
            "tsa.accepted_policies: not an array");
    REFUSED(with_tsa(&b, "\"accepted_policies\": [\"1.2\", 3]"),
            "tsa.accepted_policies[1]: not a non-empty string");
    REFUSED(with_tsa(&b, "\"accepted_extensions\": [\"\"]"),
            "tsa.accepted_extensions[0]: not a non-empty string");
    REFUSED(with_tsa(&b, "\"cert\": \"\""), "tsa.cert: not a non-empty string");
    REFUSED(with_ledger(&b, "\"path\": null"), "ledger.path: not a non-empty string");
    REFUSED(with_top(&b, "\"evidence\": []"), "evidence: not an object");
    REFUSED(with_top(&b, "\"mirror\": 1"), "mirror: not an object");
    REFUSED(with_top(&b, "\"mirror\": {\"remotes\": [1]}"), "mirror.remotes[0]");
    REFUSED(with_top(&b, "\"api_keys\": {}"), "api_keys: not an array");
    REFUSED(with_top(&b, "\"api_keys\": [\"k\"]"), "api_keys[0]: not an object");

    /* bad listen specs */
    REFUSED(with_top(&b, "\"listen\": \"localhost\""), "is not ADDR:PORT");
    REFUSED(with_top(&b, "\"listen\": \":3161\""), "listen:");
    REFUSED(with_top(&b, "\"listen\": \"127.0.0.1:65536\""), "port 0..65535");
    REFUSED(with_top(&b, "\"listen\": \"127.0.0.1:03161\""), "port 0..65535");
    REFUSED(with_top(&b, "\"listen\": \"127.0.0.1:\""), "port 0..65535");
    REFUSED(with_top(&b, "\"listen\": \"127.0.0.1:-1\""), "port 0..65535");
    REFUSED(with_top(&b, "\"listen\": \"[::1]3161\""), "is not [ADDR]:PORT");
    REFUSED(with_top(&b, "\"listen\": \"[::1:3161\""), "is not [ADDR]:PORT");
    REFUSED(with_top(&b, "\"listen\": \"[]:3161\""), "listen:");

    /* out of range, each just past its bound */
    REFUSED(with_tsa(&b, "\"precision\": 7"), "tsa.precision: not an integer in 0..6");
    REFUSED(with_tsa(&b, "\"precision\": -1"), "tsa.precision");
    REFUSED(with_tsa(&b, "\"accuracy_ms\": 3600001"), "tsa.accuracy_ms");
    REFUSED(with_tsa(&b, "\"node_id\": 32768"), "tsa.node_id");
    REFUSED(with_tsa(&b, "\"signing_digest\": \"sha1\""), "tsa.signing_digest: must be");
    REFUSED(with_tsa(&b, "\"signing_digest\": \"SHA256\""), "tsa.signing_digest: must be");
    REFUSED(with_top(&b, "\"threads\": 1025"), "threads: not an integer in 0..1024");
    REFUSED(with_top(&b, "\"max_body\": 255"), "max_body: at least 256");
    REFUSED(with_top(&b, "\"max_body\": 67108865"), "max_body");
    REFUSED(with_top(&b, "\"threads\": 18446744073709551616"), "config: line"); /* too big */
    REFUSED(with_ledger(&b, "\"map_size_mb\": 0"), "ledger.map_size_mb: must be at least 1");
    REFUSED(with_ledger(&b, "\"map_size_mb\": 16777217"), "ledger.map_size_mb");
    REFUSED(with_ledger(&b, "\"batch_max\": 65537"), "ledger.batch_max");
    REFUSED(with_ledger(&b, "\"batch_window_us\": 1000001"), "ledger.batch_window_us");
    REFUSED(with_ledger(&b, "\"queue_max\": 16777217"), "ledger.queue_max");
    REFUSED(with_top(&b, "\"evidence\": {\"max_metadata_bytes\": 1048577}"),
            "evidence.max_metadata_bytes");
    REFUSED(with_top(&b, "\"mirror\": {\"interval_ms\": 86400001}"), "mirror.interval_ms");
    REFUSED(with_top(&b, "\"mirror\": {\"push_timeout_ms\": 99}"), "mirror.push_timeout_ms");
    REFUSED(with_top(&b, "\"mirror\": {\"push_timeout_ms\": 3600001}"), "mirror.push_timeout_ms");
    REFUSED(with_top(&b, "\"mirror\": {\"stop_timeout_ms\": 99}"), "mirror.stop_timeout_ms");
    REFUSED(with_top(&b, "\"mirror\": {\"stop_timeout_ms\": 600001}"), "mirror.stop_timeout_ms");
    {
        /* more list entries than the arrays hold */
        nt_buf list = NT_BUF_INIT;
        for (unsigned i = 0; i <= TSA_MAX_POLICIES; i++) {
            REQUIRE(nt_buf_printf(&list, "%s\"1.2.%u\"", i ? ", " : "", i) == 0);
        }
        nt_buf_clear(&keys);
        REQUIRE(nt_buf_printf(&keys, "\"accepted_policies\": [%s]", nt_buf_cstr(&list)) == 0);
        REFUSED(with_tsa(&b, nt_buf_cstr(&keys)), "tsa.accepted_policies: more than");
        nt_buf_clear(&list);
        for (unsigned i = 0; i <= SERVER_MAX_REMOTES; i++) {
            REQUIRE(nt_buf_printf(&list, "%s\"r%u\"", i ? ", " : "", i) == 0);
        }
        nt_buf_clear(&keys);
        REQUIRE(nt_buf_printf(&keys, "\"mirror\": {\"remotes\": [%s]}", nt_buf_cstr(&list)) == 0);
        REFUSED(with_top(&b, nt_buf_cstr(&keys)), "mirror.remotes: more than");
        nt_buf_dispose(&list);
    }

    /* API key entries */
#define KEY_ENTRY(id, salt, hash) "{\"id\": " id ", \"salt\": " salt ", \"sha256\": " hash "}"
    REFUSED(with_top(&b, "\"api_keys\": [" KEY_ENTRY("\"\"", "\"" SALT8 "\"", "\"" HASH0 "\"") "]"),
            "api_keys[0].id");
    REFUSED(
        with_top(&b, "\"api_keys\": [" KEY_ENTRY("\"a b\"", "\"" SALT8 "\"", "\"" HASH0 "\"") "]"),
        "api_keys[0].id");
    REFUSED(with_top(&b, "\"api_keys\": [" KEY_ENTRY("7", "\"" SALT8 "\"", "\"" HASH0 "\"") "]"),
            "api_keys[0].id");
    REFUSED(with_top(&b, "\"api_keys\": [{\"salt\": \"" SALT8 "\", \"sha256\": \"" HASH0 "\"}]"),
            "api_keys[0].id");
    REFUSED(with_top(&b, "\"api_keys\": [" KEY_ENTRY("\"a\"", "\"00112233445566\"",
                                                     "\"" HASH0 "\"") "]"),
            "api_keys[0].salt: 8..64 bytes");
    REFUSED(with_top(&b, "\"api_keys\": [" KEY_ENTRY("\"a\"", "\"001122334455667\"",
                                                     "\"" HASH0 "\"") "]"),
            "api_keys[0].salt");
    REFUSED(
        with_top(&b, "\"api_keys\": [" KEY_ENTRY("\"a\"", "\"" SALT8 "zz\"", "\"" HASH0 "\"") "]"),
        "api_keys[0].salt");
    REFUSED(with_top(&b, "\"api_keys\": [" KEY_ENTRY("\"a\"", "\"" HASH0 HASH0 "00\"",
                                                     "\"" HASH0 "\"") "]"),
            "api_keys[0].salt");
    REFUSED(with_top(&b, "\"api_keys\": [" KEY_ENTRY("\"a\"", "\"" SALT8 "\"", "\"00\"") "]"),
            "api_keys[0].sha256: 32 bytes");
    REFUSED(with_top(&b, "\"api_keys\": [" KEY_ENTRY("\"a\"", "\"" SALT8 "\"", "null") "]"),
            "api_keys[0].sha256");
    REFUSED(with_top(&b, "\"api_keys\": [" KEY_ENTRY("\"a\"", "\"" SALT8 "\"",
                                                     "\"" HASH0
                                                     "\"") ", " KEY_ENTRY("\"a\"", "\"" SALT8 "\"",
                                                                          "\"" HASH0 "\"") "]"),
            "api_keys[1].id: duplicate id 'a'");
    {
        /* 64 entries are fine, 65 are not; a 64-character id is fine, 65 are not */
        char id[80];
        nt_buf_clear(&keys);
        for (unsigned i = 0; i < SERVER_MAX_API_KEYS; i++) {
            REQUIRE(nt_buf_printf(&keys,
                                  "%s{\"id\": \"k%u\", \"salt\": \"" SALT8
                                  "\", \"sha256\": \"" HASH0 "\"}",
                                  i ? ", " : "\"api_keys\": [", i) == 0);
        }
        REQUIRE(nt_buf_puts(&keys, "]") == 0);
        c = ACCEPTED(with_top(&b, nt_buf_cstr(&keys)));
        CHECK(c != NULL && c->api_key_count == SERVER_MAX_API_KEYS);
        server_config_free(c);
        keys.len--;
        REQUIRE(nt_buf_puts(&keys, ", {\"id\": \"one-more\", \"salt\": \"" SALT8
                                   "\", \"sha256\": \"" HASH0 "\"}]") == 0);
        REFUSED(with_top(&b, nt_buf_cstr(&keys)), "api_keys: more than 64 entries");

        memset(id, 'x', 64);
        id[64] = '\0';
        nt_buf_clear(&keys);
        REQUIRE(nt_buf_printf(&keys,
                              "\"api_keys\": [{\"id\": \"%s\", \"salt\": \"" SALT8
                              "\", \"sha256\": \"" HASH0 "\"}]",
                              id) == 0);
        c = ACCEPTED(with_top(&b, nt_buf_cstr(&keys)));
        CHECK(c != NULL && strlen(c->api_keys[0].id) == 64);
        server_config_free(c);
        strcat(id, "x");
        nt_buf_clear(&keys);
        REQUIRE(nt_buf_printf(&keys,
                              "\"api_keys\": [{\"id\": \"%s\", \"salt\": \"" SALT8
                              "\", \"sha256\": \"" HASH0 "\"}]",
                              id) == 0);
        REFUSED(with_top(&b, nt_buf_cstr(&keys)), "api_keys[0].id");
    }
#undef KEY_ENTRY
    nt_buf_dispose(&keys);
    nt_buf_dispose(&b);
}

/* Policy OIDs are strings to the parser; the TSA refuses a malformed one when it starts. */
static void test_bad_oid_refused_at_start(const char *pki_dir)
{
    server_config *c = NULL;
    certs_signer *signer = NULL;
    tsa *t = NULL;
    nt_buf b = NT_BUF_INIT;

    c = ACCEPTED(with_tsa(&b, "\"accepted_policies\": [\"1.2.840.113549\"]"));
    REQUIRE(c != NULL);
    {
        nt_buf cert = NT_BUF_INIT, key = NT_BUF_INIT, ca = NT_BUF_INIT;
        path_in(&cert, pki_dir, "tsa.pem");
        path_in(&key, pki_dir, "tsa.key");
        path_in(&ca, pki_dir, "ca.pem");
        REQUIRE(certs_signer_load_pem(&signer, nt_buf_cstr(&cert), nt_buf_cstr(&key), NULL,
                                      nt_buf_cstr(&ca)) == 0);
        nt_buf_dispose(&cert);
        nt_buf_dispose(&key);
        nt_buf_dispose(&ca);
    }
    /* the positive twin: the parsed tsa_config starts a TSA */
    CHECK_OK(tsa_new(&t, &c->tsa, signer));
    tsa_free(t);
    t = NULL;
    server_config_free(c);

    c = ACCEPTED("{\"tsa\": {\"policy\": \"not-an-oid\"}, " MIN_LEDGER "}");
    REQUIRE(c != NULL);
    CHECK_ERR(tsa_new(&t, &c->tsa, signer), NT_EINVAL);
    CHECK(t == NULL);
    server_config_free(c);
    /* forms OpenSSL's OBJ_txt2obj would read as some other OID */
    {
        static const char *const bad[] = {"1.2..3", "1.2.3.", "1.02.3", " 1.2.3", "1.2.3 ",
                                          "1.2 .3", "3.1",    "1",      "1.2.-3", "sha256"};
        for (size_t i = 0; i < NT_ARRAY_LEN(bad); i++) {
            char member[96];
            snprintf(member, sizeof(member), "\"accepted_policies\": [\"%s\"]", bad[i]);
            c = ACCEPTED(with_tsa(&b, member));
            REQUIRE(c != NULL);
            t = NULL;
            CHECK_ERR(tsa_new(&t, &c->tsa, signer), NT_EINVAL);
            if (t != NULL) {
                fprintf(stderr, "  accepted policy OID '%s' was taken\n", bad[i]);
                tsa_free(t);
            }
            server_config_free(c);
        }
    }
    certs_signer_free(signer);
    nt_buf_dispose(&b);
}

/* The "http" section: defaults, every member, and each refusal (issue 13 items 5, 6, 12). */
static void test_http_section(void)
{
    nt_buf b = NT_BUF_INIT;
    server_config *c = ACCEPTED("{" MIN_TSA ", " MIN_LEDGER "}");
    REQUIRE(c != NULL);
    CHECK(c->http_max_connections == 0 && c->http_max_per_address == 64 && c->http_reserved == 8 &&
          c->http_request_timeout_ms == 30000 && c->http_drain_timeout_ms == 60000 &&
          c->http_commit_stall_ms == 10000);
    server_config_free(c);

    c = ACCEPTED(with_top(&b, "\"http\": {\"max_connections\": 48, \"reserved_connections\": 8,"
                              " \"max_connections_per_address\": 0, \"request_timeout_ms\": 100,"
                              " \"drain_timeout_ms\": 0, \"commit_stall_ms\": 1}"));
    REQUIRE(c != NULL);
    CHECK(c->http_max_connections == 48 && c->http_max_per_address == 0 && c->http_reserved == 8 &&
          c->http_request_timeout_ms == 100 && c->http_drain_timeout_ms == 0 &&
          c->http_commit_stall_ms == 1);
    server_config_free(c);

    REFUSED(with_top(&b, "\"http\": []"), "http: not an object");
    REFUSED(with_top(&b, "\"http\": {\"timeout\": 1}"), "http.timeout: unknown member");
    REFUSED(with_top(&b, "\"http\": {\"max_connections\": 3}"), "http.max_connections: 0");
    REFUSED(with_top(&b, "\"http\": {\"max_connections\": 8, \"reserved_connections\": 8}"),
            "http.reserved_connections: must be below");
    REFUSED(with_top(&b, "\"http\": {\"request_timeout_ms\": 99}"),
            "http.request_timeout_ms: at least 100");
    REFUSED(with_top(&b, "\"http\": {\"commit_stall_ms\": 0}"), "http.commit_stall_ms: at least 1");
    REFUSED(with_top(&b, "\"http\": {\"drain_timeout_ms\": -1}"), "http.drain_timeout_ms: not an");
    nt_buf_dispose(&b);
}

static void test_default_json(void)
{
    nt_buf json = NT_BUF_INIT, key = NT_BUF_INIT, entry = NT_BUF_INIT;
    server_config *c = NULL;

    CHECK_OK(server_config_default_json(&json, "notarium.example/log", NULL, 0));
    CHECK(json.len > 0 && json.ptr[json.len - 1] == '\n');
    CHECK_OK(server_config_parse(&c, (const char *)json.ptr, json.len, DATA));
    REQUIRE(c != NULL);
    /* the written defaults are the parser's defaults */
    CHECK_STR(c->listen, SERVER_DEFAULT_LISTEN);
    CHECK_STR(c->tsa_policy, SERVER_DEFAULT_POLICY);
    CHECK_STR(c->ledger_origin, "notarium.example/log");
    CHECK_STR(c->tsa_cert, DATA "/pki/tsa.pem");
    CHECK(c->tsa.allow_unsynced_clock == 0);
    CHECK(c->api_key_count == 0);
    CHECK(c->tsa.precision_digits == 3 && c->tsa.accuracy_ms == 1000);
    CHECK(c->ledger_map_size_mb == 65536 && c->ledger_queue_max == 8192);
    server_config_free(c);

    CHECK_OK(server_api_key_new(&key, &entry, "platform", NULL));
    nt_buf_clear(&json);
    CHECK_OK(server_config_default_json(&json, "o.example/log", nt_buf_cstr(&entry), 1));
    CHECK_OK(server_config_parse(&c, (const char *)json.ptr, json.len, DATA));
    REQUIRE(c != NULL);
    CHECK(c->tsa.allow_unsynced_clock == 1);
    CHECK(c->api_key_count == 1);
    CHECK(server_api_key_check(c, (const char *)key.ptr, key.len) == &c->api_keys[0]);
    server_config_free(c);
    /* negative twin: an entry that is not JSON */
    nt_buf_clear(&json);
    CHECK_ERR(server_config_default_json(&json, "o", "{not json", 0), NT_EINVAL);
    nt_buf_dispose(&json);
    nt_buf_dispose(&key);
    nt_buf_dispose(&entry);
}

static void test_load(const char *tmp)
{
    nt_buf path = NT_BUF_INIT;
    server_config *c = (server_config *)&path;
    static const char good[] = "{" MIN_TSA ", " MIN_LEDGER "}\n";
    static const char bad[] = "{" MIN_TSA ", " MIN_LEDGER ", \"threads\": true}\n";

    path_in(&path, tmp, "missing.json");
    CHECK_ERR(server_config_load(&c, nt_buf_cstr(&path), DATA), NT_ENOTFOUND);
    CHECK(c == NULL);
    path_in(&path, tmp, "good.json");
    REQUIRE(nt_file_write_atomic(nt_buf_cstr(&path), good, strlen(good), 0600) == 0);
    CHECK_OK(server_config_load(&c, nt_buf_cstr(&path), DATA));
    CHECK(c != NULL && strcmp(c->ledger_origin, "tsa.example.com/log") == 0);
    server_config_free(c);
    path_in(&path, tmp, "bad.json");
    REQUIRE(nt_file_write_atomic(nt_buf_cstr(&path), bad, strlen(bad), 0600) == 0);
    CHECK_ERR(server_config_load(&c, nt_buf_cstr(&path), DATA), NT_EINVAL);
    CHECK(c == NULL);
    /* the message names the file and the member */
    CHECK(strstr(nt_error_last(), "bad.json: threads:") != NULL);
    nt_buf_dispose(&path);
}

static void test_listen_parse(void)
{
    nt_buf host = NT_BUF_INIT;
    uint16_t port = 1;

    CHECK_OK(server_listen_parse(&host, &port, "127.0.0.1:0"));
    CHECK(port == 0);
    CHECK_STR(nt_buf_cstr(&host), "127.0.0.1");
    nt_buf_clear(&host);
    CHECK_OK(server_listen_parse(&host, &port, "[2001:db8::1]:65535"));
    CHECK(port == 65535);
    CHECK_STR(nt_buf_cstr(&host), "2001:db8::1");
    nt_buf_clear(&host);
    CHECK_OK(server_listen_parse(&host, &port, "tsa.example.com:443"));
    CHECK_STR(nt_buf_cstr(&host), "tsa.example.com");
    nt_buf_clear(&host);
    /* the last colon separates the port of an unbracketed spec */
    CHECK_OK(server_listen_parse(&host, &port, "a:b:80"));
    CHECK(port == 80);
    CHECK_STR(nt_buf_cstr(&host), "a:b");
    nt_buf_clear(&host);
    CHECK_ERR(server_listen_parse(&host, &port, NULL), NT_EINVAL);
    CHECK_ERR(server_listen_parse(&host, &port, ""), NT_EINVAL);
    CHECK_ERR(server_listen_parse(&host, &port, "[::1]"), NT_EINVAL);
    CHECK_ERR(server_listen_parse(&host, &port, "[::1]:"), NT_EINVAL);
    CHECK_ERR(server_listen_parse(&host, &port, "host:port"), NT_EINVAL);
    CHECK_ERR(server_listen_parse(&host, &port, "host:+80"), NT_EINVAL);
    CHECK_ERR(server_listen_parse(&host, &port, "host:80 "), NT_EINVAL);
    CHECK_ERR(server_listen_parse(&host, &port, "host:99999999999999999999999"), NT_EINVAL);
    CHECK(host.len == 0); /* nothing appended on failure */
    nt_buf_dispose(&host);
}

/* ------------------------------------------------------------------ API keys */

static server_config *config_with_keys(const char *entries)
{
    nt_buf b = NT_BUF_INIT;
    server_config *c = NULL;
    REQUIRE(nt_buf_printf(&b, "{" MIN_TSA ", " MIN_LEDGER ", \"api_keys\": [%s]}", entries) == 0);
    REQUIRE(server_config_parse(&c, (const char *)b.ptr, b.len, DATA) == 0);
    nt_buf_dispose(&b);
    return c;
}

static void test_api_keys(void)
{
    nt_buf key1 = NT_BUF_INIT, key2 = NT_BUF_INIT, key3 = NT_BUF_INIT, e1 = NT_BUF_INIT,
           e2 = NT_BUF_INIT, e3 = NT_BUF_INIT, all = NT_BUF_INIT, wrong = NT_BUF_INIT;
    server_config *c;
    const server_api_key *k;

    CHECK_OK(server_api_key_new(&key1, &e1, "first", NULL));
    CHECK_OK(server_api_key_new(&key2, &e2, "second.key_2-b", NULL));
    CHECK_OK(server_api_key_new(&key3, &e3, "third", NULL));
    /* "ntk_" + 24 random bytes in hex; two fresh keys differ */
    CHECK(key1.len == 4 + 48 && memcmp(key1.ptr, "ntk_", 4) == 0);
    CHECK(key1.len == key2.len && memcmp(key1.ptr, key2.ptr, key1.len) != 0);
    CHECK(strstr(nt_buf_cstr(&e1), "\"id\": \"first\"") != NULL);
    /* the clear key is never part of the configuration entry */
    CHECK(strstr(nt_buf_cstr(&e1), nt_buf_cstr(&key1) + 4) == NULL);

    REQUIRE(nt_buf_printf(&all, "%s, %s, %s", nt_buf_cstr(&e1), nt_buf_cstr(&e2),
                          nt_buf_cstr(&e3)) == 0);
    c = config_with_keys(nt_buf_cstr(&all));
    REQUIRE(c != NULL && c->api_key_count == 3);
    k = server_api_key_check(c, (const char *)key1.ptr, key1.len);
    CHECK(k == &c->api_keys[0] && strcmp(k->id, "first") == 0);
    k = server_api_key_check(c, (const char *)key2.ptr, key2.len);
    CHECK(k == &c->api_keys[1]);
    k = server_api_key_check(c, (const char *)key3.ptr, key3.len);
    CHECK(k == &c->api_keys[2]);

    /* negative twins: one character changed, one more, one less, empty, NULL */
    REQUIRE(nt_buf_set(&wrong, key1.ptr, key1.len) == 0);
    wrong.ptr[wrong.len - 1] = wrong.ptr[wrong.len - 1] == 'a' ? 'b' : 'a';
    CHECK(server_api_key_check(c, (const char *)wrong.ptr, wrong.len) == NULL);
    CHECK(server_api_key_check(c, (const char *)key1.ptr, key1.len - 1) == NULL);
    REQUIRE(nt_buf_set(&wrong, key1.ptr, key1.len) == 0 && nt_buf_putc(&wrong, 'x') == 0);
    CHECK(server_api_key_check(c, (const char *)wrong.ptr, wrong.len) == NULL);
    CHECK(server_api_key_check(c, "", 0) == NULL);
    CHECK(server_api_key_check(c, NULL, 0) == NULL);
    CHECK(server_api_key_check(c, (const char *)key1.ptr + 4, key1.len - 4) == NULL);
    server_config_free(c);

    /* the right key under a wrong salt (same id and hash) does not check */
    {
        char *salt = strstr((char *)e1.ptr, "\"salt\": \"");
        REQUIRE(salt != NULL);
        salt += 9;
        salt[0] = salt[0] == '0' ? '1' : '0';
        c = config_with_keys(nt_buf_cstr(&e1));
        REQUIRE(c != NULL);
        CHECK(server_api_key_check(c, (const char *)key1.ptr, key1.len) == NULL);
        server_config_free(c);
    }
    /* no keys configured: nothing checks */
    c = config_with_keys("");
    REQUIRE(c != NULL && c->api_key_count == 0);
    CHECK(server_api_key_check(c, (const char *)key2.ptr, key2.len) == NULL);
    server_config_free(c);

    /* ids */
    nt_buf_clear(&key1);
    nt_buf_clear(&e1);
    CHECK_ERR(server_api_key_new(&key1, &e1, "", NULL), NT_EINVAL);
    CHECK_ERR(server_api_key_new(&key1, &e1, "has space", NULL), NT_EINVAL);
    CHECK_ERR(server_api_key_new(&key1, &e1, "quote\"", NULL), NT_EINVAL);
    CHECK_ERR(server_api_key_new(&key1, &e1, "ok", "bad tenant"), NT_EINVAL);
    CHECK_ERR(server_api_key_new(&key1, &e1, NULL, NULL), NT_EINVAL);
    CHECK(key1.len == 0 && e1.len == 0);

    nt_buf_dispose_secret(&key1);
    nt_buf_dispose_secret(&key2);
    nt_buf_dispose_secret(&key3);
    nt_buf_dispose_secret(&wrong);
    nt_buf_dispose(&e1);
    nt_buf_dispose(&e2);
    nt_buf_dispose(&e3);
    nt_buf_dispose(&all);
}

/*
 * The check must not tell which entry matched by the work it does: every
 * entry is hashed whatever the outcome (counted through OpenSSL's allocator,
 * one EVP_MD_CTX per hash), and the hash is compared with nt_memeq_ct (read
 * from the source: a plain memcmp would pass every functional test).
 */
static void test_api_key_constant_work(int counting)
{
    nt_buf key1 = NT_BUF_INIT, key2 = NT_BUF_INIT, key3 = NT_BUF_INIT, e1 = NT_BUF_INIT,
           e2 = NT_BUF_INIT, e3 = NT_BUF_INIT, all = NT_BUF_INIT, src = NT_BUF_INIT;
    server_config *c;
    unsigned long first, last, none, before;
    const char *dir = getenv("NT_SOURCE_DIR");

    REQUIRE(server_api_key_new(&key1, &e1, "a", NULL) == 0 &&
            server_api_key_new(&key2, &e2, "b", NULL) == 0 &&
            server_api_key_new(&key3, &e3, "c", NULL) == 0);
    REQUIRE(nt_buf_printf(&all, "%s, %s, %s", nt_buf_cstr(&e1), nt_buf_cstr(&e2),
                          nt_buf_cstr(&e3)) == 0);
    c = config_with_keys(nt_buf_cstr(&all));
    REQUIRE(c != NULL);
    /* warm up OpenSSL's algorithm caches */
    CHECK(server_api_key_check(c, "warm-up", 7) == NULL);

    before = atomic_load(&ossl_allocs);
    CHECK(server_api_key_check(c, (const char *)key1.ptr, key1.len) == &c->api_keys[0]);
    first = atomic_load(&ossl_allocs) - before;
    before = atomic_load(&ossl_allocs);
    CHECK(server_api_key_check(c, (const char *)key3.ptr, key3.len) == &c->api_keys[2]);
    last = atomic_load(&ossl_allocs) - before;
    before = atomic_load(&ossl_allocs);
    CHECK(server_api_key_check(c, "ntk_no-such-key", 15) == NULL);
    none = atomic_load(&ossl_allocs) - before;
    if (counting) {
        CHECK(first >= 3); /* one hash context per entry at least */
        CHECK(first == last);
        CHECK(first == none);
    } else {
        fprintf(stderr, "note: OpenSSL allocator not replaceable here; work count not checked\n");
    }
    server_config_free(c);

    if (dir != NULL) {
        nt_buf path = NT_BUF_INIT;
        const char *fn, *end;
        path_in(&path, dir, "tsa/config.c");
        REQUIRE(nt_file_read(&src, nt_buf_cstr(&path), 1u << 20) == 0);
        fn = strstr(nt_buf_cstr(&src), "\nconst server_api_key *server_api_key_check(");
        REQUIRE(fn != NULL);
        end = strstr(fn, "\n}\n");
        REQUIRE(end != NULL);
        {
            nt_buf body = NT_BUF_INIT;
            REQUIRE(nt_buf_put(&body, fn, (size_t)(end - fn)) == 0);
            CHECK(strstr(nt_buf_cstr(&body), "nt_memeq_ct(") != NULL);
            CHECK(strstr(nt_buf_cstr(&body), "memcmp(") == NULL);
            CHECK(strstr(nt_buf_cstr(&body), "break;") == NULL); /* no early exit */
            nt_buf_dispose(&body);
        }
        nt_buf_dispose(&path);
    } else {
        fprintf(stderr, "note: NT_SOURCE_DIR not set; source check skipped\n");
    }
    nt_buf_dispose_secret(&key1);
    nt_buf_dispose_secret(&key2);
    nt_buf_dispose_secret(&key3);
    nt_buf_dispose(&e1);
    nt_buf_dispose(&e2);
    nt_buf_dispose(&e3);
    nt_buf_dispose(&all);
    nt_buf_dispose(&src);
}

/* ------------------------------------------------------------------ demo directory */

static void read_file(nt_buf *out, const char *dir, const char *name)
{
    nt_buf path = NT_BUF_INIT;
    path_in(&path, dir, name);
    nt_buf_clear(out);
    REQUIRE(nt_file_read(out, nt_buf_cstr(&path), 1u << 20) == 0);
    nt_buf_dispose(&path);
}

static int mode_of(const char *dir, const char *name)
{
    nt_buf path = NT_BUF_INIT;
    int mode;
    path_in(&path, dir, name);
    mode = file_mode(nt_buf_cstr(&path));
    nt_buf_dispose(&path);
    return mode;
}

static void test_demo(const char *tmp)
{
    nt_buf dir = NT_BUF_INIT, config = NT_BUF_INIT, key = NT_BUF_INIT, tsa_key = NT_BUF_INIT,
           again = NT_BUF_INIT, vkey = NT_BUF_INIT, path = NT_BUF_INIT;
    server_config *c = NULL;
    static const char *const pki_files[] = {"pki/ca.pem", "pki/tsa.pem", "pki/tsa.key",
                                            "pki/log.key", "pki/log.vkey"};

    path_in(&dir, tmp, "demo");
    CHECK_OK(server_demo_prepare(nt_buf_cstr(&dir)));
    CHECK(file_mode(nt_buf_cstr(&dir)) == 0700);
    for (size_t i = 0; i < NT_ARRAY_LEN(pki_files); i++) {
        CHECK(mode_of(nt_buf_cstr(&dir), pki_files[i]) > 0);
    }
    CHECK(mode_of(nt_buf_cstr(&dir), "pki/tsa.key") == 0600);
    CHECK(mode_of(nt_buf_cstr(&dir), "config.json") == 0600);
    CHECK(mode_of(nt_buf_cstr(&dir), "demo-api-key") == 0600);
    CHECK(mode_of(nt_buf_cstr(&dir), "ledger") == 0700);

    /* the configuration: defaults, unsynchronised clock allowed, the vkey's origin, one key */
    path_in(&path, nt_buf_cstr(&dir), "config.json");
    CHECK_OK(server_config_load(&c, nt_buf_cstr(&path), nt_buf_cstr(&dir)));
    REQUIRE(c != NULL);
    read_file(&vkey, nt_buf_cstr(&dir), "pki/log.vkey");
    CHECK(strncmp(nt_buf_cstr(&vkey), "notarium.localhost/demo-", 24) == 0);
    CHECK(vkey.len > strlen(c->ledger_origin) &&
          memcmp(vkey.ptr, c->ledger_origin, strlen(c->ledger_origin)) == 0 &&
          vkey.ptr[strlen(c->ledger_origin)] == '+');
    CHECK(c->tsa.allow_unsynced_clock == 1);
    CHECK(c->api_key_count == 1 && strcmp(c->api_keys[0].id, "demo") == 0);
    read_file(&key, nt_buf_cstr(&dir), "demo-api-key");
    CHECK(key.len > 1 && key.ptr[key.len - 1] == '\n');
    CHECK(server_api_key_check(c, (const char *)key.ptr, key.len - 1) == &c->api_keys[0]);
    CHECK(server_api_key_check(c, (const char *)key.ptr, key.len) == NULL); /* with the newline */
    path_in(&path, nt_buf_cstr(&dir), "pki/tsa.pem");
    CHECK_STR(c->tsa_cert, nt_buf_cstr(&path));
    server_config_free(c);
    c = NULL;
    path_in(&path, nt_buf_cstr(&dir), "pki");
    test_bad_oid_refused_at_start(nt_buf_cstr(&path));

    /* a second run reuses everything: same key, same configuration, same TSA key */
    read_file(&config, nt_buf_cstr(&dir), "config.json");
    read_file(&tsa_key, nt_buf_cstr(&dir), "pki/tsa.key");
    CHECK_OK(server_demo_prepare(nt_buf_cstr(&dir)));
    read_file(&again, nt_buf_cstr(&dir), "config.json");
    CHECK(again.len == config.len && memcmp(again.ptr, config.ptr, config.len) == 0);
    read_file(&again, nt_buf_cstr(&dir), "demo-api-key");
    CHECK(again.len == key.len && memcmp(again.ptr, key.ptr, key.len) == 0);
    read_file(&again, nt_buf_cstr(&dir), "pki/tsa.key");
    CHECK(again.len == tsa_key.len && memcmp(again.ptr, tsa_key.ptr, tsa_key.len) == 0);

    /* a PKI made beforehand (notarium pki init) is kept and gives the origin */
    {
        certs_pki_options o;
        path_in(&dir, tmp, "demo-own-pki");
        path_in(&path, nt_buf_cstr(&dir), "pki");
        memset(&o, 0, sizeof(o));
        o.dir = nt_buf_cstr(&path);
        o.tsa_key = CERTS_KEY_EC_P256;
        o.log_origin = "own.example/log";
        REQUIRE(certs_pki_init(&o) == 0);
        read_file(&tsa_key, nt_buf_cstr(&dir), "pki/tsa.key");
        CHECK_OK(server_demo_prepare(nt_buf_cstr(&dir)));
        read_file(&again, nt_buf_cstr(&dir), "pki/tsa.key");
        CHECK(again.len == tsa_key.len && memcmp(again.ptr, tsa_key.ptr, tsa_key.len) == 0);
        path_in(&path, nt_buf_cstr(&dir), "config.json");
        CHECK_OK(server_config_load(&c, nt_buf_cstr(&path), nt_buf_cstr(&dir)));
        CHECK(c != NULL && strcmp(c->ledger_origin, "own.example/log") == 0);
        server_config_free(c);
        c = NULL;
    }

    /* negative twins: a directory that cannot be one, a broken log.vkey */
    path_in(&path, tmp, "a-file");
    REQUIRE(nt_file_write_atomic(nt_buf_cstr(&path), "x", 1, 0600) == 0);
    path_in(&dir, nt_buf_cstr(&path), "demo");
    CHECK(server_demo_prepare(nt_buf_cstr(&dir)) < 0);
    path_in(&dir, tmp, "demo");
    path_in(&path, nt_buf_cstr(&dir), "pki/log.vkey");
    REQUIRE(nt_file_write_atomic(nt_buf_cstr(&path), "no plus sign\n", 13, 0644) == 0);
    CHECK_ERR(server_demo_prepare(nt_buf_cstr(&dir)), NT_EINVAL);

    nt_buf_dispose(&dir);
    nt_buf_dispose(&config);
    nt_buf_dispose_secret(&key);
    nt_buf_dispose(&tsa_key);
    nt_buf_dispose(&again);
    nt_buf_dispose(&vkey);
    nt_buf_dispose(&path);
}

/* The "web" section: the verification page and the report signers' roots. */
static void test_web(void)
{
    nt_buf b = NT_BUF_INIT;
    server_config *c = (server_config *)&b;

    c = ACCEPTED("{" MIN_TSA ", " MIN_LEDGER "}");
    REQUIRE(c != NULL);
    CHECK(c->web_verify_page == 1 && c->web_report_trust == NULL); /* on by default */
    server_config_free(c);
    c = ACCEPTED(with_top(&b, "\"web\": {\"verify_page\": false, \"report_trust\": \"r.pem\"}"));
    REQUIRE(c != NULL);
    CHECK(c->web_verify_page == 0);
    CHECK_STR(c->web_report_trust, DATA "/r.pem");
    server_config_free(c);
    c = ACCEPTED(with_top(&b, "\"web\": {\"report_trust\": null}"));
    REQUIRE(c != NULL);
    CHECK(c->web_verify_page == 1 && c->web_report_trust == NULL);
    server_config_free(c);
    REFUSED(with_top(&b, "\"web\": true"), "web: not an object");
    REFUSED(with_top(&b, "\"web\": {\"page\": true}"), "web.page: unknown member");
    REFUSED(with_top(&b, "\"web\": {\"verify_page\": 1}"), "web.verify_page");
    REFUSED(with_top(&b, "\"web\": {\"report_trust\": 3}"), "web.report_trust");
    nt_buf_dispose(&b);
}

/* "pkcs11" and pkcs11: URIs: kept as given, never resolved as paths; the PIN never inline. */
static void test_pkcs11(void)
{
    static const char uri[] = "pkcs11:token=tsa;object=tsa-ec;type=private";
    nt_buf b = NT_BUF_INIT;
    server_config *c;

    nt_buf_clear(&b);
    REQUIRE(nt_buf_printf(&b,
                          "{\"tsa\": {\"policy\": \"1.2.3\", \"key\": \"%s\"}, "
                          "\"ledger\": {\"origin\": \"o.test/log\"}, "
                          "\"pkcs11\": {\"module\": \"/usr/lib/p11.so\", \"pin_file\": "
                          "\"secrets/pin\"}}",
                          uri) == 0);
    c = ACCEPTED(nt_buf_cstr(&b));
    if (c != NULL) {
        CHECK_STR(c->tsa_key, uri); /* not DATA "/pkcs11:..." */
        CHECK_STR(c->pkcs11_module, "/usr/lib/p11.so");
        CHECK_STR(c->pkcs11_pin_file, DATA "/secrets/pin");
        CHECK(c->pkcs11_pin_env == NULL);
        CHECK_STR(c->ledger_log_key, DATA "/pki/log.key");
    }
    server_config_free(c);
    c = ACCEPTED("{\"tsa\": {\"policy\": \"1.2.3\"}, \"ledger\": {\"origin\": \"o.test/log\", "
                 "\"log_key\": \"pkcs11:object=log\"}, \"pkcs11\": {\"module\": \"m.so\", "
                 "\"pin_env\": \"HSM_PIN\"}}");
    if (c != NULL) {
        CHECK_STR(c->ledger_log_key, "pkcs11:object=log");
        CHECK_STR(c->pkcs11_module, DATA "/m.so");
        CHECK_STR(c->pkcs11_pin_env, "HSM_PIN");
    }
    server_config_free(c);
    /* negative twins */
    REFUSED(with_tsa(&b, "\"key\": \"pkcs11:object=k\""),
            "tsa.key: a pkcs11: key needs pkcs11.module");
    REFUSED("{\"tsa\": {\"policy\": \"1.2.3\"}, \"ledger\": {\"origin\": \"o.test/log\", "
            "\"log_key\": \"pkcs11:object=log\"}}",
            "ledger.log_key: a pkcs11: key needs pkcs11.module");
    REFUSED("{\"tsa\": {\"policy\": \"1.2.3\", \"key\": \"pkcs11:object=k;pin-value=1234\"}, "
            "\"ledger\": {\"origin\": \"o.test/log\"}, \"pkcs11\": {\"module\": \"m.so\"}}",
            "tsa.key: the pkcs11: URI must not carry the PIN");
    REFUSED("{\"tsa\": {\"policy\": \"1.2.3\"}, \"ledger\": {\"origin\": \"o.test/log\"}, "
            "\"pkcs11\": {\"module\": \"m.so\", \"pin_file\": \"p\", \"pin_env\": \"P\"}}",
            "pkcs11: pin_file and pin_env exclude each other");
    REFUSED("{\"tsa\": {\"policy\": \"1.2.3\"}, \"ledger\": {\"origin\": \"o.test/log\"}, "
            "\"pkcs11\": {\"module\": \"m.so\", \"pin\": \"1234\"}}",
            "pkcs11.pin: unknown member");
    REFUSED("{\"tsa\": {\"policy\": \"1.2.3\"}, \"ledger\": {\"origin\": \"o.test/log\"}, "
            "\"pkcs11\": []}",
            "pkcs11: not an object");
    nt_buf_dispose(&b);
}

int main(void)
{
    char tmp[512];
    /* before OpenSSL allocates anything; fails (0) if it already has */
    int counting = CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free);

    nt_log_set_level(NT_LOG_WARN);
    REQUIRE(test_tmpdir(tmp, sizeof(tmp)) != NULL);
    test_defaults();
    test_every_option();
    test_refusals();
    test_web();
    test_http_section();
    test_pkcs11();
    test_default_json();
    test_load(tmp);
    test_listen_parse();
    test_api_keys();
    test_api_key_constant_work(counting);
    test_demo(tmp);
    rm_rf(tmp);
    return TEST_END();
}
