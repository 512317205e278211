/*
 * datadir_test.c - the one-log-per-key guard (tsa/server_datadir.c): a data
 * directory that ran before (ledger marker, boot epoch, git mirror) and lost
 * its ledger (missing, or an empty data.mdb) is refused unless the operator
 * allows a new log; a first start is not; the marker's head must not be ahead
 * of the ledger's; the boot epoch a restore raises.
 */
#include "tests/unit/test.h"
#include "tsa/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char g_dir[256];
static char g_ledger[300], g_mirror[300], g_state[300];

static void config(server_config *c, int with_mirror)
{
    memset(c, 0, sizeof(*c));
    c->data_dir = g_dir;
    c->ledger_path = g_ledger;
    c->ledger_origin = (char *)"example.test/guard";
    c->mirror_path = with_mirror ? g_mirror : NULL;
}

#define SH(...)                                                                                    \
    do {                                                                                           \
        char cmd_[1024];                                                                           \
        snprintf(cmd_, sizeof(cmd_), __VA_ARGS__);                                                 \
        REQUIRE(system(cmd_) == 0);                                                                \
    } while (0)

static void test_guard(void)
{
    server_config c;
    uint8_t root[32], other[32];
    memset(root, 0xab, sizeof(root));
    memset(other, 0xcd, sizeof(other));

    /* first start: nothing there */
    config(&c, 1);
    CHECK_OK(server_ledger_guard(&c, 0));

    /* each trace alone refuses a missing ledger */
    SH("mkdir -p '%s'", g_state);
    SH("echo 3 > '%s/boot-epoch'", g_state);
    CHECK_ERR(server_ledger_guard(&c, 0), NT_ESTATE);
    CHECK(strstr(nt_error_last(), "notarium ledger restore") != NULL);
    CHECK(strstr(nt_error_last(), "state/boot-epoch") != NULL);
    CHECK_OK(server_ledger_guard(&c, 1)); /* the explicit override */
    SH("rm -f '%s/boot-epoch'", g_state);

    SH("mkdir -p '%s'", g_mirror);
    CHECK_ERR(server_ledger_guard(&c, 0), NT_ESTATE);
    CHECK(strstr(nt_error_last(), "git mirror") != NULL);
    config(&c, 0); /* no mirror configured: that trace does not count */
    CHECK_OK(server_ledger_guard(&c, 0));
    SH("rm -rf '%s'", g_mirror);

    CHECK_OK(server_ledger_mark(&c, 301, root));
    CHECK_ERR(server_ledger_guard(&c, 0), NT_ESTATE);
    CHECK(strstr(nt_error_last(), "last known size 301") != NULL);

    /* an empty data.mdb is no ledger; a non-empty one is */
    SH("mkdir -p '%s' && : > '%s/data.mdb'", g_ledger, g_ledger);
    CHECK_ERR(server_ledger_guard(&c, 0), NT_ESTATE);
    SH("echo x > '%s/data.mdb'", g_ledger);
    CHECK_OK(server_ledger_guard(&c, 0));

    /* the head: behind or different is refused, equal or ahead is recorded */
    CHECK_ERR(server_ledger_guard_head(&c, 300, root, 0), NT_ESTATE);
    CHECK(strstr(nt_error_last(), "size 301") != NULL);
    CHECK_ERR(server_ledger_guard_head(&c, 301, other, 0), NT_ESTATE);
    CHECK_OK(server_ledger_guard_head(&c, 301, root, 0));
    CHECK_OK(server_ledger_guard_head(&c, 400, other, 0));
    CHECK_ERR(server_ledger_guard_head(&c, 399, other, 0), NT_ESTATE);
    CHECK_OK(server_ledger_guard_head(&c, 0, root, 1)); /* override: a new log */

    /* a damaged marker is refused after open and still counts as a trace before */
    SH("echo garbage > '%s/ledger'", g_state);
    CHECK_ERR(server_ledger_guard_head(&c, 5, root, 0), NT_ECORRUPT);
    SH("rm -f '%s/data.mdb'", g_ledger);
    CHECK_ERR(server_ledger_guard(&c, 0), NT_ESTATE);
    /* a marker of another log is not ours */
    c.ledger_origin = (char *)"example.test/other";
    CHECK_OK(server_ledger_mark(&c, 1, root));
    c.ledger_origin = (char *)"example.test/guard";
    CHECK_ERR(server_ledger_guard_head(&c, 5, root, 0), NT_ECORRUPT);
}

/* What a restore does to state/boot-epoch: raise, never lower; a damaged file is refused. */
static void test_boot_epoch_raise(void)
{
    nt_buf text = NT_BUF_INIT;
    char path[400];
    snprintf(path, sizeof(path), "%s/boot-epoch", g_state);
    SH("rm -rf '%s'", g_state);
    CHECK_OK(server_boot_epoch_raise(g_dir, 7));
    CHECK_OK(nt_file_read(&text, path, 64));
    CHECK(text.len == 2 && memcmp(text.ptr, "7\n", 2) == 0);
    CHECK_OK(server_boot_epoch_raise(g_dir, 3));
    CHECK_OK(nt_file_read(&text, path, 64));
    CHECK(text.len == 2 && memcmp(text.ptr, "7\n", 2) == 0);
    CHECK_OK(server_boot_epoch_raise(g_dir, 12));
    CHECK_OK(nt_file_read(&text, path, 64));
    CHECK(text.len == 3 && memcmp(text.ptr, "12\n", 3) == 0);
    SH("echo twelve > '%s'", path);
    CHECK_ERR(server_boot_epoch_raise(g_dir, 13), NT_ECORRUPT);
    nt_buf_dispose(&text);
}

int main(void)
{
    nt_log_set_level(NT_LOG_NONE);
    REQUIRE(test_tmpdir(g_dir, sizeof(g_dir)) != NULL);
    snprintf(g_ledger, sizeof(g_ledger), "%s/ledger", g_dir);
    snprintf(g_mirror, sizeof(g_mirror), "%s/mirror.git", g_dir);
    snprintf(g_state, sizeof(g_state), "%s/state", g_dir);
    test_guard();
    test_boot_epoch_raise();
    SH("rm -rf '%s'", g_dir);
    return TEST_END();
}
