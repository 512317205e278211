/*
 * config_tls_test.c - unit tests of the listeners' configuration
 * (tsa/config_tls.c): the "tls" section and "admin_listen" with every member
 * and default, a null "listen" beside tls.listen, client mappings by SHA-256
 * (with or without colons) and by subject to API key entries, and every
 * refusal naming the member; then the HTTPS credentials of tsa/http_tls.c:
 * a good pair loads, server__tls_reload swaps a new pair in, and a key that
 * group or others can read, a key of another certificate or a missing file
 * is refused while the pair in use stays, also through server_tls_reload (and
 * NT_ESTATE without a tls section).  Certificates are made with the
 * openssl command line in a temporary directory.
 */
#include "tests/unit/test.h"
#include "tsa/server_int.h"

#include <sys/stat.h>
#include <unistd.h>

#define DATA "/srv/notarium"
#define BASE                                                                                       \
    "\"tsa\": {\"policy\": \"1.2.3\"}, \"ledger\": {\"origin\": \"o\"}, \"api_keys\": "            \
    "[{\"id\": \"platform-a\", \"tenant\": \"t-a\", \"salt\": \"0011223344556677\", \"sha256\": "  \
    "\"0000000000000000000000000000000000000000000000000000000000000000\"}, {\"id\": "             \
    "\"platform-b\", \"salt\": \"0011223344556677\", \"sha256\": "                                 \
    "\"0000000000000000000000000000000000000000000000000000000000000000\"}]"
#define FP "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define FPC                                                                                        \
    "FF:EE:DD:CC:BB:AA:99:88:77:66:55:44:33:22:11:00:ff:ee:dd:cc:bb:aa:99:88:77:66:55:44:33:22:"   \
    "11:00"

static const char *with(nt_buf *b, const char *members)
{
    nt_buf_clear(b);
    REQUIRE(nt_buf_printf(b, "{" BASE ", %s}", members) == 0);
    return nt_buf_cstr(b);
}

static server_config *accepted(const char *json, int line)
{
    server_config *cfg = NULL;
    int rc = server_config_parse(&cfg, json, strlen(json), DATA);
    if (rc != 0 || cfg == NULL) {
        fprintf(stderr, "config_tls_test.c:%d: refused (%s): %s\n", line, nt_error_last(), json);
    }
    CHECK(rc == 0 && cfg != NULL);
    return cfg;
}
#define ACCEPTED(json) accepted((json), __LINE__)

static void refused(const char *json, const char *needle, int line)
{
    server_config *cfg = NULL;
    int rc = server_config_parse(&cfg, json, strlen(json), DATA);
    if (rc != NT_EINVAL || cfg != NULL || strstr(nt_error_last(), needle) == NULL) {
        fprintf(stderr, "config_tls_test.c:%d: expected NT_EINVAL naming '%s', got %d (%s)\n", line,
                needle, rc, nt_error_last());
    }
    CHECK(rc == NT_EINVAL && cfg == NULL && strstr(nt_error_last(), needle) != NULL);
    server_config_free(cfg);
}
#define REFUSED(json, needle) refused((json), (needle), __LINE__)

static void test_defaults(void)
{
    nt_buf b = NT_BUF_INIT;
    server_config *cfg = ACCEPTED(with(&b, "\"threads\": 1"));
    REQUIRE(cfg != NULL);
    CHECK(cfg->tls_listen == NULL && cfg->admin_listen == NULL && cfg->listen != NULL);
    CHECK(cfg->tls_client_auth == SERVER_TLS_CLIENT_NONE && cfg->tls_client_count == 0);
    server_config_free(cfg);
    /* "tls": null is the same as no section */
    cfg = ACCEPTED(with(&b, "\"tls\": null, \"admin_listen\": null"));
    REQUIRE(cfg != NULL);
    CHECK(cfg->tls_listen == NULL && cfg->admin_listen == NULL);
    server_config_free(cfg);
    nt_buf_dispose(&b);
}

static void test_every_member(void)
{
    nt_buf b = NT_BUF_INIT;
    server_config *cfg;

    cfg = ACCEPTED(with(&b, "\"listen\": null, \"admin_listen\": \"127.0.0.1:9161\", \"tls\": "
                            "{\"listen\": \"[::1]:3443\", \"cert\": \"tls/server.pem\", \"key\": "
                            "\"/etc/k.pem\", \"client_ca\": \"tls/ca.pem\", \"client_auth\": "
                            "\"required\", \"clients\": [{\"sha256\": \"" FP "\", \"key_id\": "
                            "\"platform-b\"}, {\"subject\": \"O=A,CN=a\", \"key_id\": "
                            "\"platform-a\"}, {\"sha256\": \"" FPC
                            "\", \"key_id\": \"platform-a\"}]}"));
    REQUIRE(cfg != NULL);
    CHECK(cfg->listen == NULL);
    CHECK(strcmp(cfg->admin_listen, "127.0.0.1:9161") == 0);
    CHECK(strcmp(cfg->tls_listen, "[::1]:3443") == 0);
    CHECK(strcmp(cfg->tls_cert, DATA "/tls/server.pem") == 0); /* relative: under data_dir */
    CHECK(strcmp(cfg->tls_key, "/etc/k.pem") == 0);
    CHECK(strcmp(cfg->tls_client_ca, DATA "/tls/ca.pem") == 0);
    CHECK(cfg->tls_client_auth == SERVER_TLS_CLIENT_REQUIRED);
    REQUIRE(cfg->tls_client_count == 3);
    CHECK(cfg->tls_clients[0].has_sha256 && cfg->tls_clients[0].sha256[0] == 0x00 &&
          cfg->tls_clients[0].sha256[31] == 0xff && cfg->tls_clients[0].key_index == 1);
    CHECK(!cfg->tls_clients[1].has_sha256 && strcmp(cfg->tls_clients[1].subject, "O=A,CN=a") == 0 &&
          cfg->tls_clients[1].key_index == 0);
    /* colons and upper case, as openssl x509 -fingerprint prints it: the same bytes */
    CHECK(cfg->tls_clients[2].has_sha256 && cfg->tls_clients[2].sha256[0] == 0xff &&
          cfg->tls_clients[2].sha256[31] == 0x00 && cfg->tls_clients[2].key_index == 0);
    server_config_free(cfg);

    /* client_ca without client_auth: optional; without client_ca: none */
    cfg = ACCEPTED(with(&b, "\"tls\": {\"listen\": \"127.0.0.1:0\", \"cert\": \"c\", \"key\": "
                            "\"k\", \"client_ca\": \"ca\"}"));
    REQUIRE(cfg != NULL);
    CHECK(cfg->tls_client_auth == SERVER_TLS_CLIENT_OPTIONAL);
    server_config_free(cfg);
    cfg = ACCEPTED(
        with(&b, "\"tls\": {\"listen\": \"127.0.0.1:0\", \"cert\": \"c\", \"key\": \"k\"}"));
    REQUIRE(cfg != NULL);
    CHECK(cfg->tls_client_auth == SERVER_TLS_CLIENT_NONE && cfg->tls_client_ca == NULL);
    server_config_free(cfg);
    nt_buf_dispose(&b);
}

static void test_refusals(void)
{
    nt_buf b = NT_BUF_INIT;
#define TLS(extra)                                                                                 \
    "\"tls\": {\"listen\": \"127.0.0.1:0\", \"cert\": \"c\", \"key\": \"k\"" extra "}"
    REFUSED(with(&b, "\"listen\": null"), "listen: null needs tls.listen");
    REFUSED(with(&b, "\"tls\": 3"), "tls: not an object");
    REFUSED(with(&b, TLS(", \"port\": 1")), "tls.port");
    REFUSED(with(&b, "\"tls\": {\"cert\": \"c\", \"key\": \"k\"}"), "tls.listen: required");
    REFUSED(with(&b, "\"tls\": {\"listen\": \"nowhere\", \"cert\": \"c\", \"key\": \"k\"}"),
            "tls.listen");
    REFUSED(with(&b, "\"tls\": {\"listen\": \"127.0.0.1:1\", \"key\": \"k\"}"),
            "tls.cert: required");
    REFUSED(with(&b, "\"tls\": {\"listen\": \"127.0.0.1:1\", \"cert\": \"c\"}"),
            "tls.key: required");
    REFUSED(with(&b, "\"admin_listen\": \"localhost\""), "admin_listen");
    REFUSED(with(&b, "\"admin_listen\": 9161"), "admin_listen: not a non-empty string");
    REFUSED(with(&b, TLS(", \"client_auth\": \"sometimes\"")), "tls.client_auth: one of");
    REFUSED(with(&b, TLS(", \"client_auth\": \"optional\"")),
            "tls.client_auth: optional needs tls.client_ca");
    REFUSED(with(&b, TLS(", \"client_ca\": \"ca\", \"client_auth\": \"required\"")),
            "tls.client_auth: required, but tls.clients maps no certificate");
    REFUSED(with(&b, TLS(", \"clients\": [{\"sha256\": \"" FP "\", \"key_id\": \"platform-a\"}]")),
            "tls.clients: needs tls.client_ca");
    REFUSED(with(&b, TLS(", \"client_ca\": \"ca\", \"clients\": {}")), "tls.clients: not an array");
    REFUSED(with(&b, TLS(", \"client_ca\": \"ca\", \"clients\": [1]")),
            "tls.clients[0]: not an object");
    REFUSED(with(&b, TLS(", \"client_ca\": \"ca\", \"clients\": [{\"key_id\": \"platform-a\"}]")),
            "tls.clients[0]: exactly one of sha256 and subject");
    REFUSED(with(&b, TLS(", \"client_ca\": \"ca\", \"clients\": [{\"sha256\": \"" FP
                         "\", \"subject\": \"CN=a\", \"key_id\": \"platform-a\"}]")),
            "tls.clients[0]: exactly one of sha256 and subject");
    REFUSED(with(&b, TLS(", \"client_ca\": \"ca\", \"clients\": [{\"sha256\": \"abcd\", "
                         "\"key_id\": \"platform-a\"}]")),
            "tls.clients[0].sha256: not the 64 hex digits");
    REFUSED(with(&b, TLS(", \"client_ca\": \"ca\", \"clients\": [{\"subject\": \"CN=a\"}]")),
            "tls.clients[0].key_id: required");
    REFUSED(with(&b, TLS(", \"client_ca\": \"ca\", \"clients\": [{\"subject\": \"CN=a\", "
                         "\"key_id\": \"nobody\"}]")),
            "tls.clients[0].key_id: no API key entry with id 'nobody'");
    REFUSED(with(&b, TLS(", \"client_ca\": \"ca\", \"clients\": [{\"subject\": \"CN=a\", "
                         "\"key_id\": \"platform-a\", \"tenant\": \"x\"}]")),
            "tls.clients[0].tenant");
    REFUSED(with(&b, TLS(", \"client_ca\": \"ca\", \"clients\": [{\"subject\": \"CN=a\", "
                         "\"key_id\": \"platform-a\"}, {\"subject\": \"CN=a\", \"key_id\": "
                         "\"platform-b\"}]")),
            "tls.clients[1]: the same certificate as tls.clients[0]");
#undef TLS
    nt_buf_dispose(&b);
}

/* ------------------------------------------------------------ credentials */

/* Run `cmd` in dir. */
static void sh(const char *dir, const char *cmd_text)
{
    nt_buf cmd = NT_BUF_INIT;
    REQUIRE(nt_buf_printf(&cmd, "cd '%s' && %s", dir, cmd_text) == 0);
    REQUIRE(system(nt_buf_cstr(&cmd)) == 0);
    nt_buf_dispose(&cmd);
}

/* DIR/NAME.pem + DIR/NAME.key (0600), self-signed EC P-256. */
static void make_pair(const char *dir, const char *name)
{
    nt_buf cmd = NT_BUF_INIT;
    REQUIRE(nt_buf_printf(&cmd,
                          "cd '%s' && openssl req -x509 -newkey ec -pkeyopt "
                          "ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=%s -keyout %s.key "
                          "-out %s.pem 2>/dev/null && chmod 600 %s.key",
                          dir, name, name, name, name) == 0);
    REQUIRE(system(nt_buf_cstr(&cmd)) == 0);
    nt_buf_dispose(&cmd);
}

static void test_credentials(void)
{
    char dir[256];
    nt_buf b = NT_BUF_INIT, cert = NT_BUF_INIT, key = NT_BUF_INIT;
    server_config *cfg;
    struct server_tls *t = NULL;
    uint8_t first[32], now[32];

    REQUIRE(test_tmpdir(dir, sizeof(dir)) != NULL);
    make_pair(dir, "a");
    make_pair(dir, "b");
    sh(dir, "cp a.pem cur.pem && cp a.key cur.key");
    REQUIRE(nt_path_join(&cert, dir, "cur.pem") == 0);
    REQUIRE(nt_path_join(&key, dir, "cur.key") == 0);
    REQUIRE(nt_buf_printf(&b,
                          "{" BASE ", \"tls\": {\"listen\": \"127.0.0.1:0\", \"cert\": \"%s\", "
                          "\"key\": \"%s\"}}",
                          nt_buf_cstr(&cert), nt_buf_cstr(&key)) == 0);
    cfg = ACCEPTED(nt_buf_cstr(&b));
    REQUIRE(cfg != NULL);

    /* a key group or others can read: refused at start, naming the file and mode */
    REQUIRE(chmod(nt_buf_cstr(&key), 0640) == 0);
    CHECK(server__tls_new(&t, cfg) == NT_EINVAL && t == NULL);
    CHECK(strstr(nt_error_last(), "tls.key: ") != NULL &&
          strstr(nt_error_last(), "mode 0640") != NULL);
    REQUIRE(chmod(nt_buf_cstr(&key), 0600) == 0);
    REQUIRE(server__tls_new(&t, cfg) == 0);
    server__tls_cert_sha256(first, t);

    /* reload with the same files: the same certificate */
    CHECK(server__tls_reload(t) == 0);
    server__tls_cert_sha256(now, t);
    CHECK(memcmp(first, now, 32) == 0);
    /* a new certificate with its old key: refused, the old pair stays */
    sh(dir, "cp b.pem cur.pem");
    CHECK(server__tls_reload(t) == NT_EINVAL);
    CHECK(strstr(nt_error_last(), "the key is not the certificate's key") != NULL);
    server__tls_cert_sha256(now, t);
    CHECK(memcmp(first, now, 32) == 0);
    /* the new pair, but its key readable by group: refused, the old pair stays */
    sh(dir, "cp b.key cur.key && chmod 644 cur.key");
    CHECK(server__tls_reload(t) == NT_EINVAL);
    CHECK(strstr(nt_error_last(), "accessible by group or others") != NULL);
    server__tls_cert_sha256(now, t);
    CHECK(memcmp(first, now, 32) == 0);
    /* a missing certificate file: refused, the old pair stays */
    sh(dir, "chmod 600 cur.key && mv cur.pem gone.pem");
    CHECK(server__tls_reload(t) < 0);
    server__tls_cert_sha256(now, t);
    CHECK(memcmp(first, now, 32) == 0);
    /* the good new pair: swapped in */
    sh(dir, "mv gone.pem cur.pem");
    CHECK(server__tls_reload(t) == 0);
    server__tls_cert_sha256(now, t);
    CHECK(memcmp(first, now, 32) != 0);

    /* server_tls_reload: the same through a server, and NT_ESTATE without a tls section */
    {
        server s;
        memset(&s, 0, sizeof(s));
        s.cfg = cfg;
        CHECK(server_tls_reload(&s) == NT_ESTATE);
        s.tls = t;
        CHECK(server_tls_reload(&s) == 0);
        sh(dir, "cp a.pem cur.pem");
        CHECK(server_tls_reload(&s) == NT_EINVAL); /* a.pem with b.key */
        server__tls_cert_sha256(first, t);
        CHECK(memcmp(first, now, 32) == 0);
    }

    server__tls_free(t);
    server_config_free(cfg);
    {
        nt_buf rm = NT_BUF_INIT;
        REQUIRE(nt_buf_printf(&rm, "rm -rf '%s'", dir) == 0);
        CHECK(system(nt_buf_cstr(&rm)) == 0);
        nt_buf_dispose(&rm);
    }
    nt_buf_dispose(&b);
    nt_buf_dispose(&cert);
    nt_buf_dispose(&key);
}

int main(void)
{
    nt_log_set_level(NT_LOG_ERROR);
    test_defaults();
    test_every_member();
    test_refusals();
    test_credentials();
    return TEST_END();
}
