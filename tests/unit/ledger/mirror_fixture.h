/*
 * mirror_fixture.h - shared by the mirror_* and audit_* unit tests: a ledger
 * in a temporary directory with an Ed25519 log key, leaves built with
 * record_encode and fake token bytes, and a shell helper that runs git
 * plumbing (the independent oracle, and the tamperer) on a mirror.
 */
#ifndef NT_TEST_MIRROR_FIXTURE_H
#define NT_TEST_MIRROR_FIXTURE_H

#include "ledger/ledger.h"
#include "ledger/mirror.h"
#include "tests/unit/test.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <sys/wait.h>

#define FIX_ORIGIN "example.org/mirror-test"

#if defined(__SANITIZE_ADDRESS__)
/*
 * libgit2 1.5.1 (Debian 12) leaks a pcre2 match-data block inside every
 * git_remote_create_anonymous (its url.*.insteadOf config lookup); our code
 * frees every remote it creates.  Suppress only that library's leak.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libpcre2-8.so\n";
}
#endif

typedef struct fixture {
    char dir[256];
    char ledger_path[300];
    char mirror_path[300];
    EVP_PKEY *key;
    ledger *l;
    nt_buf vkey;
} fixture;

/* The options every ledger of these tests opens with (FIX_ORIGIN, `key`, no fsync, 256 MiB). */
static inline ledger_options fix_log_options(const char *ledger_path, EVP_PKEY *key)
{
    ledger_options o = {0};
    o.path = ledger_path;
    o.origin = FIX_ORIGIN;
    o.log_key = key;
    o.no_sync = 1;
    o.map_size = (size_t)256 << 20;
    o.batch_window_us = 1;
    return o;
}

static inline void fix_open_at(fixture *f, const char *ledger_path, EVP_PKEY *key)
{
    ledger_options o = fix_log_options(ledger_path, key);
    REQUIRE(ledger_open(&f->l, &o) == 0);
}

static inline void fix_open(fixture *f)
{
    memset(f, 0, sizeof(*f));
    REQUIRE(test_tmpdir(f->dir, sizeof(f->dir)) != NULL);
    snprintf(f->ledger_path, sizeof(f->ledger_path), "%s/ledger", f->dir);
    snprintf(f->mirror_path, sizeof(f->mirror_path), "%s/mirror.git", f->dir);
    f->key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    REQUIRE(f->key != NULL);
    REQUIRE(note_vkey_format(&f->vkey, FIX_ORIGIN, f->key) == 0);
    fix_open_at(f, f->ledger_path, f->key);
}

/* A canonical leaf whose digest is SHA-256 of (seed, i) and whose "token" is filler bytes. */
static inline void fix_leaf(nt_buf *out, uint64_t seed, uint64_t i, size_t token_len)
{
    uint8_t in[16], digest[32];
    nt_store_u64be(in, seed);
    nt_store_u64be(in + 8, i);
    REQUIRE(EVP_Digest(in, sizeof(in), digest, NULL, EVP_sha256(), NULL) == 1);
    uint8_t *token = nt_malloc(token_len);
    REQUIRE(token != NULL);
    for (size_t k = 0; k < token_len; k++) {
        token[k] = (uint8_t)(digest[k % 32] ^ k);
    }
    record r = {0};
    r.kind = RECORD_KIND_TIMESTAMP;
    r.alg = RECORD_ALG_SHA256;
    r.digest = NT_BYTES(digest, 32);
    r.token = NT_BYTES(token, token_len);
    nt_buf_clear(out);
    REQUIRE(record_encode(out, &r) == 0);
    nt_free(token);
}

static inline void fix_append(fixture *f, uint64_t seed, uint64_t count)
{
    nt_buf leaf = NT_BUF_INIT;
    ledger_info info;
    REQUIRE(ledger_info_get(&info, f->l) == 0);
    for (uint64_t i = 0; i < count; i++) {
        fix_leaf(&leaf, seed, info.size + i, 40 + (size_t)(i % 7));
        uint64_t index;
        REQUIRE(ledger_append(&index, f->l, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0)) == 0);
    }
    nt_buf_dispose(&leaf);
}

static inline void fix_close(fixture *f)
{
    ledger_close(f->l);
    f->l = NULL;
    EVP_PKEY_free(f->key);
    nt_buf_dispose(&f->vkey);
}

/* Options of a mirror thread on f's repository: a fast interval and back-off for tests. */
static inline mirror_options fix_mirror_options(const fixture *f, const char **remotes,
                                                size_t remote_count)
{
    mirror_options o = {0};
    o.path = f->mirror_path;
    o.interval_ms = 20;
    o.remotes = remotes;
    o.remote_count = remote_count;
    o.retry_min_ms = 10;
    o.retry_max_ms = 40;
    return o;
}

/* Run a shell command (printf-style); returns its exit status. */
static inline int fix_sh(const char *fmt, ...) NT_PRINTF(1, 2);
static inline int fix_sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return rc == -1 ? -1 : WEXITSTATUS(rc);
}

/* Run a shell command and capture its stdout into out (replacing). */
static inline int fix_sh_out(nt_buf *out, const char *fmt, ...) NT_PRINTF(2, 3);
static inline int fix_sh_out(nt_buf *out, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    if (p == NULL) {
        return -1;
    }
    nt_buf_clear(out);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) {
        REQUIRE(nt_buf_put(out, buf, n) == 0);
    }
    int rc = pclose(p);
    if (out->ptr == NULL) {
        REQUIRE(nt_buf_puts(out, "") == 0);
    }
    return rc == -1 ? -1 : WEXITSTATUS(rc);
}

#endif
