/*
 * fs_test.c - file helpers, logging and the injectable clock of util.
 */
#include "tests/unit/test.h"

#include <sys/stat.h>
#include <sys/timex.h>
#include <unistd.h>

static void test_files(void)
{
    char dir[256];
    nt_buf path = NT_BUF_INIT, sub = NT_BUF_INIT, data = NT_BUF_INIT;
    struct stat st;

    REQUIRE(test_tmpdir(dir, sizeof(dir)) != NULL);
    CHECK_OK(nt_path_join(&sub, dir, "a/b/c"));
    CHECK_OK(nt_mkdir_p(nt_buf_cstr(&sub), 0700));
    CHECK(nt_path_exists(nt_buf_cstr(&sub)));
    CHECK_OK(nt_mkdir_p(nt_buf_cstr(&sub), 0700)); /* idempotent */

    CHECK_OK(nt_path_join(&path, nt_buf_cstr(&sub), "f"));
    CHECK_OK(nt_file_write_atomic(nt_buf_cstr(&path), "hello", 5, 0600));
    CHECK(stat(nt_buf_cstr(&path), &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK_OK(nt_file_read(&data, nt_buf_cstr(&path), 100));
    CHECK_STR(nt_buf_cstr(&data), "hello");
    /* negative twins: too large, missing */
    CHECK_ERR(nt_file_read(&data, nt_buf_cstr(&path), 4), NT_ERANGE);
    /* a private (secret) file: 0600 and 0400 read; any group or other bit refused */
    CHECK_OK(nt_file_read_private(&data, nt_buf_cstr(&path), 100));
    CHECK_STR(nt_buf_cstr(&data), "hello");
    REQUIRE(chmod(nt_buf_cstr(&path), 0400) == 0);
    CHECK_OK(nt_file_read_private(&data, nt_buf_cstr(&path), 100));
    static const unsigned loose[] = {0640, 0604, 0620, 0610, 0644};
    for (size_t i = 0; i < NT_ARRAY_LEN(loose); i++) {
        char mode[16];
        REQUIRE(chmod(nt_buf_cstr(&path), loose[i]) == 0);
        CHECK_ERR(nt_file_read_private(&data, nt_buf_cstr(&path), 100), NT_EINVAL);
        snprintf(mode, sizeof(mode), "(mode %04o)", loose[i]);
        CHECK(strstr(nt_error_last(), mode) != NULL);
        CHECK(strstr(nt_error_last(), nt_buf_cstr(&path)) != NULL);
        CHECK_OK(nt_file_read(&data, nt_buf_cstr(&path), 100)); /* not a secret: fine */
    }
    REQUIRE(chmod(nt_buf_cstr(&path), 0600) == 0);
    CHECK_OK(nt_path_join(&path, dir, "missing"));
    CHECK_ERR(nt_file_read(&data, nt_buf_cstr(&path), 100), NT_ENOTFOUND);
    CHECK_ERR(nt_file_read_private(&data, nt_buf_cstr(&path), 100), NT_ENOTFOUND);
    /* a file where a directory is wanted */
    CHECK_OK(nt_path_join(&path, nt_buf_cstr(&sub), "f/g"));
    CHECK_ERR(nt_mkdir_p(nt_buf_cstr(&path), 0700), NT_EIO);
    CHECK_ERR(nt_file_write_atomic(nt_buf_cstr(&path), "x", 1, 0600), NT_EIO);

    nt_buf_dispose(&path);
    nt_buf_dispose(&sub);
    nt_buf_dispose(&data);
}

static int fixed_clock(struct timespec *out, void *ctx)
{
    *out = *(const struct timespec *)ctx;
    return 0;
}

static int unsynced(nt_clock_status *out, void *ctx)
{
    (void)ctx;
    out->sync = NT_CLOCK_UNSYNCED;
    out->max_error_us = out->est_error_us = 16000000;
    return 0;
}

/* A fake whose numbers the kernel would not give. */
static int synced_marked(nt_clock_status *out, void *ctx)
{
    (void)ctx;
    out->sync = NT_CLOCK_SYNCED;
    out->max_error_us = 4242;
    out->est_error_us = 17;
    return 0;
}

static void test_clock(void)
{
    struct timespec fixed = {1700000000, 123456789}, now;
    nt_buf b = NT_BUF_INIT;
    nt_clock_status st;

    nt_clock_set_source(fixed_clock, &fixed);
    CHECK_OK(nt_clock_now(&now));
    CHECK(now.tv_sec == fixed.tv_sec && now.tv_nsec == fixed.tv_nsec);
    nt_clock_set_source(NULL, NULL);
    CHECK_OK(nt_clock_now(&now));
    CHECK(now.tv_sec != fixed.tv_sec);

    CHECK_OK(nt_time_rfc3339(&b, &fixed, 3));
    CHECK_STR(nt_buf_cstr(&b), "2023-11-14T22:13:20.123Z");
    nt_buf_clear(&b);
    CHECK_OK(nt_time_rfc3339(&b, &fixed, 0));
    CHECK_STR(nt_buf_cstr(&b), "2023-11-14T22:13:20Z");

    nt_clock_set_sync_source(unsynced, NULL);
    CHECK_OK(nt_clock_sync_status(&st));
    CHECK(st.sync == NT_CLOCK_UNSYNCED);
    nt_clock_set_sync_source(synced_marked, NULL);
    CHECK_OK(nt_clock_sync_status(&st));
    CHECK(st.sync == NT_CLOCK_SYNCED && st.max_error_us == 4242 && st.est_error_us == 17);
    /* back to the kernel: the answer is adjtimex's (read here independently), not a fake's */
    nt_clock_set_sync_source(NULL, NULL);
    CHECK_OK(nt_clock_sync_status(&st));
    {
        struct timex tx = {0};
        int state = adjtimex(&tx);
        nt_clock_sync want = state < 0                                         ? NT_CLOCK_UNKNOWN
                             : state == TIME_ERROR || (tx.status & STA_UNSYNC) ? NT_CLOCK_UNSYNCED
                                                                               : NT_CLOCK_SYNCED;
        CHECK(st.sync == want);
        CHECK(st.max_error_us != 4242 && st.est_error_us != 17);
    }
    CHECK_STR(nt_clock_sync_name(NT_CLOCK_UNSYNCED), "unsynchronised");

    uint64_t a = nt_mono_ns(), c = nt_mono_ns();
    CHECK(c >= a);
    nt_buf_dispose(&b);
}

static void test_log(void)
{
    char dir[256];
    nt_buf path = NT_BUF_INIT, data = NT_BUF_INIT;
    nt_log_level lvl;
    FILE *f;

    REQUIRE(test_tmpdir(dir, sizeof(dir)) != NULL);
    CHECK_OK(nt_path_join(&path, dir, "log"));
    f = fopen(nt_buf_cstr(&path), "w");
    REQUIRE(f != NULL);
    nt_log_set_fd(fileno(f));
    nt_log_set_level(NT_LOG_INFO);
    nt_log(NT_LOG_INFO, "\"status\":200", "quote \" and newline \n here");
    nt_log_debug("hidden");
    nt_log_set_fd(2);
    fclose(f);
    CHECK_OK(nt_file_read(&data, nt_buf_cstr(&path), 1 << 16));
    CHECK(strstr(nt_buf_cstr(&data), "\"msg\":\"quote \\\" and newline \\u000a here\"") != NULL);
    CHECK(strstr(nt_buf_cstr(&data), "\"status\":200}") != NULL);
    CHECK(strstr(nt_buf_cstr(&data), "hidden") == NULL);
    CHECK_OK(nt_log_level_parse(&lvl, "warn"));
    CHECK(lvl == NT_LOG_WARN);
    CHECK_ERR(nt_log_level_parse(&lvl, "loud"), NT_EINVAL);
    nt_buf_dispose(&path);
    nt_buf_dispose(&data);
}

static void test_errors(void)
{
    nt_error_clear();
    CHECK_STR(nt_error_last(), "");
    CHECK(nt_error_set(NT_EINVAL, "bad %s", "thing") == NT_EINVAL);
    CHECK_STR(nt_error_last(), "bad thing");
    CHECK(nt_error_code() == NT_EINVAL);
    CHECK_STR(nt_error_name(NT_EFULL), "NT_EFULL");
    CHECK(nt_error_ossl("openssl") == NT_ECRYPTO);
    /* prefixing the current message with itself as an argument is allowed */
    nt_error_set(NT_EIO, "inner");
    nt_error_set(NT_EINVAL, "outer: %s", nt_error_last());
    CHECK_STR(nt_error_last(), "outer: inner");
    CHECK(nt_memeq_ct("abc", "abc", 3));
    CHECK(!nt_memeq_ct("abc", "abd", 3));
}

int main(void)
{
    test_files();
    test_clock();
    test_log();
    test_errors();
    return TEST_END();
}
