/*
 * test.h - the tiny assertion header every unit test includes.  A failed
 * check prints file:line and the expression and marks the test failed; the
 * test keeps running so one run shows every failure.  main() ends with
 * `return TEST_END();`, which prints "N passed, N failed" and exits non-zero
 * on any failure or when nothing was checked at all.
 */
#ifndef NT_TEST_H
#define NT_TEST_H

#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned test_passed_count NT_UNUSED;
static unsigned test_failed_count NT_UNUSED;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            test_passed_count++;                                                                   \
        } else {                                                                                   \
            test_failed_count++;                                                                   \
            fprintf(stderr, "%s:%d: CHECK(%s) failed (last error: %s)\n", __FILE__, __LINE__,      \
                    #cond, nt_error_last());                                                       \
        }                                                                                          \
    } while (0)

/* expr must return 0 */
#define CHECK_OK(expr)                                                                             \
    do {                                                                                           \
        int check_rc_ = (expr);                                                                    \
        if (check_rc_ == 0) {                                                                      \
            test_passed_count++;                                                                   \
        } else {                                                                                   \
            test_failed_count++;                                                                   \
            fprintf(stderr, "%s:%d: %s returned %d (%s): %s\n", __FILE__, __LINE__, #expr,         \
                    check_rc_, nt_error_name(check_rc_), nt_error_last());                         \
        }                                                                                          \
    } while (0)

/* expr must return exactly `code` */
#define CHECK_ERR(expr, code)                                                                      \
    do {                                                                                           \
        int check_rc_ = (expr);                                                                    \
        if (check_rc_ == (code)) {                                                                 \
            test_passed_count++;                                                                   \
        } else {                                                                                   \
            test_failed_count++;                                                                   \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %s\n", __FILE__, __LINE__,       \
                    #expr, check_rc_, nt_error_name(check_rc_), nt_error_name(code));              \
        }                                                                                          \
    } while (0)

#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)
#define CHECK_STR(a, b)    CHECK(strcmp((a), (b)) == 0)

/* Stop the test at once (e.g. a fixture could not be built). */
#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: REQUIRE(%s) failed (last error: %s)\n", __FILE__, __LINE__,    \
                    #cond, nt_error_last());                                                       \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static inline int test_end(const char *file)
{
    printf("%s: %u passed, %u failed\n", file, test_passed_count, test_failed_count);
    if (test_passed_count == 0 && test_failed_count == 0) {
        fprintf(stderr, "%s: no checks ran\n", file);
        return 1;
    }
    return test_failed_count == 0 ? 0 : 1;
}
#define TEST_END() test_end(__FILE__)

/*
 * Path of a file or directory in tests/vectors (NT_VECTORS_DIR, set by ctest); returns a
 * static buffer.  A missing path fails the test at once with a message naming it, not with
 * whatever the first read of nothing would say.
 */
static inline const char *test_vector_path(const char *rel)
{
    static char path[4096];
    const char *dir = getenv("NT_VECTORS_DIR");
    if (dir == NULL) {
        fprintf(stderr, "NT_VECTORS_DIR is not set: run the test through ctest, or set it to the "
                        "source tree's tests/vectors\n");
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    if (access(path, R_OK) != 0) {
        fprintf(stderr,
                "test vectors missing: %s is not readable (NT_VECTORS_DIR=%s; the "
                "repository carries them in tests/vectors/)\n",
                path, dir);
        exit(1);
    }
    return path;
}

/* A fresh temporary directory (mkdtemp under $TMPDIR or /tmp); static buffer per call site. */
static inline char *test_tmpdir(char *buf, size_t cap)
{
    const char *base = getenv("TMPDIR");
    snprintf(buf, cap, "%s/nt-test-XXXXXX", base != NULL ? base : "/tmp");
    return mkdtemp(buf);
}

#endif
