/*
 * error_test.c - the thread-local error (util/error.c) and its capture/restore
 * across threads: a worker's NT_ENOMEM and message arrive whole in the thread
 * that reports; the negative twins: the reporting thread's own message is not
 * the worker's until restored, and a captured success (0) restores no error.
 */
#include "tests/unit/test.h"

#include <pthread.h>

static void *worker(void *arg)
{
    nt_error_state *st = arg;
    void *p = NULL;
    nt_mem_fail_after(1);
    p = nt_malloc(16);
    nt_mem_fail_after(0);
    if (p == NULL) {
        nt_error_set(nt_error_code(), "token check: %s", nt_error_last());
        nt_error_state_capture(st, nt_error_code());
    }
    nt_free(p);
    return NULL;
}

static void test_capture_restore(void)
{
    nt_error_state st;
    pthread_t t;
    memset(&st, 0, sizeof(st));
    nt_error_set(NT_EVERIFY, "main thread's own error");
    REQUIRE(pthread_create(&t, NULL, worker, &st) == 0);
    REQUIRE(pthread_join(t, NULL) == 0);
    /* thread-local: the worker's failure did not touch this thread */
    CHECK(nt_error_code() == NT_EVERIFY);
    CHECK_STR(nt_error_last(), "main thread's own error");
    CHECK(st.code == NT_ENOMEM);
    CHECK(nt_error_state_restore(&st) == NT_ENOMEM);
    CHECK(nt_error_code() == NT_ENOMEM);
    CHECK_STR(nt_error_last(), "token check: out of memory");

    nt_error_state ok;
    CHECK(nt_error_state_capture(&ok, 0) == 0);
    CHECK(nt_error_state_restore(&ok) == 0);
    CHECK(nt_error_code() == 0);
    CHECK_STR(nt_error_last(), "");
}

int main(void)
{
    test_capture_restore();
    return TEST_END();
}
