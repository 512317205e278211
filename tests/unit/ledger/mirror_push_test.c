/*
 * mirror_push_test.c - the push workers (ledger/mirror_push.c): a remote that
 * accepts the connection and never answers is killed at push_timeout_ms and
 * reported ("timed out"), while the local commit and a good remote listed
 * after it keep up; mirror_stop returns within stop_timeout_ms though a push
 * to it is in flight; the status counts attempts, the push in flight and the
 * age of the last success.
 */
#include "tests/unit/ledger/mirror_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

/* A listener that never accepts: the kernel completes the handshake, nobody answers. */
static int stall_listen(char *url, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(fd >= 0);
    REQUIRE(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    REQUIRE(listen(fd, 16) == 0);
    REQUIRE(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    snprintf(url, size, "http://127.0.0.1:%u/stalled.git", (unsigned)ntohs(a.sin_port));
    return fd;
}

static void test_stalled_remote(void)
{
    fixture f;
    fix_open(&f);
    char stalled[128], good[400];
    int lfd = stall_listen(stalled, sizeof(stalled));
    snprintf(good, sizeof(good), "%s/good.git", f.dir);
    REQUIRE(fix_sh("git init -q --bare '%s'", good) == 0);
    const char *remotes[2] = {stalled, good};
    mirror_options o = fix_mirror_options(&f, remotes, 2);
    o.retry_min_ms = 50;
    o.retry_max_ms = 100;
    o.push_timeout_ms = 3000; /* also bounds the good remote's pushes: room for a loaded machine */
    o.stop_timeout_ms = 400;
    mirror *m = NULL;
    CHECK_OK(mirror_start(&m, f.l, &o));
    REQUIRE(m != NULL);
    fix_append(&f, 1, 100);

    /* mirror_sync waits for each remote's attempt: the stalled one ends at its time-out. */
    uint64_t t0 = nt_mono_ns();
    CHECK_OK(mirror_sync(m));
    double took = (double)(nt_mono_ns() - t0) / 1e9;
    CHECK(took < 20.0);
    mirror_status st;
    CHECK_OK(mirror_status_get(&st, m));
    CHECK(st.mirrored_size == 100 && st.entries_behind == 0 && st.last_error[0] == '\0');
    REQUIRE(st.remote_count == 2);
    CHECK(st.remotes[0].pushed_size == 0 && st.remotes[0].entries_behind == 100);
    CHECK(st.remotes[0].failures >= 1 && st.remotes[0].attempts >= 1);
    CHECK(strstr(st.remotes[0].last_error, "timed out after 3 s") != NULL);
    CHECK(st.remotes[0].seconds_behind > 0.0 && st.remotes[0].last_success_s < 0.0);
    CHECK(st.remotes[1].pushed_size == 100 && st.remotes[1].entries_behind == 0);
    CHECK(st.remotes[1].last_error[0] == '\0' && st.remotes[1].last_success_s >= 0.0);
    CHECK(st.remotes[1].pushing_s == 0.0);
    if (strstr(st.remotes[0].last_error, "timed out") == NULL || st.remotes[1].last_error[0]) {
        fprintf(stderr, "  stalled remote: %s\n  good remote: %s\n", st.remotes[0].last_error,
                st.remotes[1].last_error);
    }
    mirror_status_dispose(&st);

    /* More growth: the good remote keeps up while the stalled one backs off and retries. */
    fix_append(&f, 2, 50);
    uint64_t deadline = nt_mono_ns() + 30000000000u, pushed = 0, attempts = 0;
    while ((pushed < 150 || attempts < 2) && nt_mono_ns() < deadline) {
        CHECK_OK(mirror_status_get(&st, m));
        pushed = st.remotes[1].pushed_size;
        attempts = st.remotes[0].attempts;
        mirror_status_dispose(&st);
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    CHECK(pushed == 150 && attempts >= 2);

    /* A push to the stalled remote is in flight or due: stop is bounded all the same. */
    t0 = nt_mono_ns();
    mirror_stop(m);
    took = (double)(nt_mono_ns() - t0) / 1e9;
    CHECK(took < 5.0);
    if (took >= 5.0) {
        fprintf(stderr, "  mirror_stop took %.3f s\n", took);
    }
    uint64_t hs;
    CHECK_OK(mirror_head_get(&hs, NULL, good));
    CHECK(hs == 150);
    close(lfd);
    fix_close(&f);
    fix_sh("rm -rf '%s'", f.dir);
}

/* Negative twin: the same remote answering at once (connection refused) is an ordinary
 * failure, reported with libgit2's reason, not as a time-out. */
static void test_refused_remote(void)
{
    fixture f;
    fix_open(&f);
    char url[128];
    int lfd = stall_listen(url, sizeof(url));
    close(lfd); /* the port is now closed: connect is refused at once */
    const char *remotes[1] = {url};
    mirror_options o = fix_mirror_options(&f, remotes, 1);
    o.interval_ms = 0;
    o.retry_min_ms = 0;
    o.retry_max_ms = 0;
    o.push_timeout_ms = 20000;
    mirror *m = NULL;
    CHECK_OK(mirror_start(&m, f.l, &o));
    fix_append(&f, 1, 10);
    uint64_t t0 = nt_mono_ns();
    CHECK_OK(mirror_sync(m));
    CHECK((double)(nt_mono_ns() - t0) / 1e9 < 15.0);
    mirror_status st;
    CHECK_OK(mirror_status_get(&st, m));
    CHECK(st.remotes[0].failures == 1 && st.remotes[0].pushed_size == 0);
    CHECK(st.remotes[0].last_error[0] != '\0' &&
          strstr(st.remotes[0].last_error, "timed out") == NULL);
    mirror_status_dispose(&st);
    mirror_stop(m);
    fix_close(&f);
    fix_sh("rm -rf '%s'", f.dir);
}

int main(void)
{
    test_stalled_remote();
    test_refused_remote();
    return TEST_END();
}
