/*
 * certs_fixture.h - shared by the certificate unit tests (tests/unit/certs/):
 * the common includes, recursive removal of a test's temporary directory, and
 * running a shell command (the `openssl` command is the tests' independent
 * oracle) with its output captured, and a development root CA.  Header-only, static helpers,
 * included once per test executable.
 */
#ifndef NT_CERTS_FIXTURE_H
#define NT_CERTS_FIXTURE_H

#define _XOPEN_SOURCE 700
#include "certs/certs.h"
#include "tests/unit/test.h"

#include <ftw.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>

static int fx_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Remove dir and everything below it (a test's temporary directory). */
static NT_UNUSED void fx_rm_rf(const char *dir)
{
    nftw(dir, fx_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Run a shell command, capture stdout+stderr into out; returns the exit status. */
static NT_UNUSED NT_PRINTF(2, 3) int fx_run(nt_buf *out, const char *fmt, ...)
{
    nt_buf cmd = NT_BUF_INIT;
    char chunk[4096];
    va_list ap;
    FILE *p;
    size_t n;
    int status;

    va_start(ap, fmt);
    REQUIRE(nt_buf_vprintf(&cmd, fmt, ap) == 0);
    va_end(ap);
    REQUIRE(nt_buf_puts(&cmd, " 2>&1") == 0);
    nt_buf_clear(out);
    p = popen(nt_buf_cstr(&cmd), "r");
    REQUIRE(p != NULL);
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0) {
        REQUIRE(nt_buf_put(out, chunk, n) == 0);
    }
    status = pclose(p);
    nt_buf_dispose(&cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A development PKI in dir (certs_pki_init) and its root CA (key + certificate) loaded. */
static NT_UNUSED certs_signer *fx_dev_ca(const char *dir)
{
    certs_pki_options o = {0};
    nt_buf cert = NT_BUF_INIT, key = NT_BUF_INIT;
    certs_signer *ca = NULL;

    o.dir = dir;
    o.log_origin = "example.test/log";
    REQUIRE(certs_pki_init(&o) == 0);
    REQUIRE(nt_path_join(&cert, dir, "ca.pem") == 0 && nt_path_join(&key, dir, "ca.key") == 0);
    REQUIRE(certs_signer_load_pem(&ca, nt_buf_cstr(&cert), nt_buf_cstr(&key), NULL, NULL) == 0);
    nt_buf_dispose(&cert);
    nt_buf_dispose(&key);
    return ca;
}

#endif
