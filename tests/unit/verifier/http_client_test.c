/*
 * http_client_test.c - the verifier's HTTP client for --tsa
 * (verifier/http_client.c, libcurl): URL rules (http:// and https:// only, a
 * host, no user information or fragment), and real POSTs over 127.0.0.1 to
 * one-shot servers in threads: a plain answer, a server that keeps the
 * connection open, a redirect that is followed with the POST kept, and the
 * twins: an error status, a wrong Content-Type, an answer over 1 MiB, a
 * redirect to another scheme, too many redirects, and nobody listening.
 * HTTPS itself is exercised end to end against the server (tests/e2e).
 */
#include "tests/unit/test.h"
#include "verifier/verifier_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#define RT "application/timestamp-reply"
#define RQ "application/timestamp-query"

static void test_url(void)
{
    static const char *const good[] = {
        "http://127.0.0.1:8080/tsa", "HTTP://tsa.example.org",  "http://h?x=1",
        "http://[::1]:318/a/b?c",    "https://tsa.example/tsa",
    };
    for (size_t i = 0; i < NT_ARRAY_LEN(good); i++) {
        int rc = verifier__url_check(good[i]);
        if (rc != 0) {
            fprintf(stderr, "refused: %s: %s\n", good[i], nt_error_last());
        }
        CHECK_OK(rc);
    }
    static const char *const bad[] = {
        "ftp://tsa.example/", "tsa.example/tsa",    "http://",
        "http:///tsa",        "http://user@h/",     "http://u:p@h:80/",
        "http://h:65536/",    "http://h:8x/",       "http://h/a b",
        "http://h/#frag",     "http://h\xc3\xa9/",  "http://h/\r\nX: y",
        "http://[::1/",       "file:///etc/passwd", "",
        "gopher://h/",
    };
    for (size_t i = 0; i < NT_ARRAY_LEN(bad); i++) {
        int rc = verifier__url_check(bad[i]);
        if (rc != NT_EINVAL) {
            fprintf(stderr, "accepted: %s\n", bad[i]);
        }
        CHECK_ERR(rc, NT_EINVAL);
    }
}

/* ------------------------------------------------------------------ one-shot server */

typedef struct server {
    int fd;
    int port;
    const char *reply;
    char request[4096];
    size_t request_len;
    int accepted;
    int keep_open; /* after answering, wait for the client to close */
} server;

static void *serve_one(void *arg)
{
    server *s = arg;
    int c = accept(s->fd, NULL, NULL);
    if (c < 0) {
        return NULL;
    }
    s->accepted++;
    /* read the header and the Content-Length body */
    for (;;) {
        ssize_t n =
            recv(c, s->request + s->request_len, sizeof(s->request) - 1 - s->request_len, 0);
        if (n <= 0) {
            break;
        }
        s->request_len += (size_t)n;
        s->request[s->request_len] = '\0';
        char *end = strstr(s->request, "\r\n\r\n");
        char *cl = strstr(s->request, "Content-Length: ");
        if (end != NULL && cl != NULL &&
            s->request_len >= (size_t)(end + 4 - s->request) + strtoul(cl + 16, NULL, 10)) {
            break;
        }
    }
    (void)send(c, s->reply, strlen(s->reply), MSG_NOSIGNAL);
    if (s->keep_open) {
        char sink[256];
        while (recv(c, sink, sizeof(sink), 0) > 0) {
        }
    }
    close(c);
    return NULL;
}

static void server_start(server *s, pthread_t *th, const char *reply, int keep_open)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    memset(s, 0, sizeof(*s));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->reply = reply;
    s->keep_open = keep_open;
    REQUIRE((s->fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
    REQUIRE(bind(s->fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(s->fd, 4) == 0);
    REQUIRE(getsockname(s->fd, (struct sockaddr *)&a, &len) == 0);
    s->port = ntohs(a.sin_port);
    REQUIRE(pthread_create(th, NULL, serve_one, s) == 0);
}

static int post(nt_buf *body, const char *url)
{
    return verifier__http_post(body, url, RQ, NT_BYTES("\x30\x03\x02\x01\x01", 5), RT, NULL);
}

/* One server answering `reply`; the POST to it must give `want` (0 or a code). */
static void expect_one(const char *reply, int want, const char *message_part)
{
    server s;
    pthread_t th;
    char url[128];
    nt_buf body = NT_BUF_INIT;
    server_start(&s, &th, reply, 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/tsa", s.port);
    int rc = post(&body, url);
    pthread_join(th, NULL);
    close(s.fd);
    CHECK_ERR(rc, want);
    if (message_part != NULL && strstr(nt_error_last(), message_part) == NULL) {
        fprintf(stderr, "message \"%s\" lacks \"%s\"\n", nt_error_last(), message_part);
        CHECK(0);
    }
    CHECK(body.len == 0);
    nt_buf_dispose(&body);
}

static void test_post(void)
{
    server s, s2;
    pthread_t th, th2;
    char url[128], reply[512];
    nt_buf body = NT_BUF_INIT;

    server_start(&s, &th,
                 "HTTP/1.1 200 OK\r\nContent-Type: " RT "\r\nContent-Length: 4\r\n"
                 "Connection: close\r\n\r\nABCD",
                 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/tsa", s.port);
    CHECK_OK(post(&body, url));
    pthread_join(th, NULL);
    close(s.fd);
    CHECK(body.len == 4 && memcmp(body.ptr, "ABCD", 4) == 0);
    char host[64];
    snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%d\r\n", s.port);
    CHECK(strncmp(s.request, "POST /tsa HTTP/1.1\r\n", 20) == 0);
    CHECK(strstr(s.request, host) != NULL);
    CHECK(strstr(s.request, "\r\nContent-Type: " RQ "\r\n") != NULL);
    CHECK(strstr(s.request, "\r\nContent-Length: 5\r\n") != NULL);
    CHECK(s.request_len >= 5 &&
          memcmp(s.request + s.request_len - 5, "\x30\x03\x02\x01\x01", 5) == 0);

    /* A server that keeps the connection open: Content-Length ends the answer, not a time-out. */
    nt_buf_clear(&body);
    server_start(&s, &th,
                 "HTTP/1.1 200 OK\r\nContent-Type: " RT "; x=1\r\nContent-Length: 3\r\n\r\nxyz", 1);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
    uint64_t t0 = nt_mono_ns();
    CHECK_OK(post(&body, url));
    CHECK(nt_mono_ns() - t0 < 5000000000ull);
    pthread_join(th, NULL);
    close(s.fd);
    CHECK(body.len == 3 && memcmp(body.ptr, "xyz", 3) == 0);

    /* A 307 to a second server is followed, and the POST and its body go there. */
    nt_buf_clear(&body);
    server_start(&s2, &th2,
                 "HTTP/1.1 200 OK\r\nContent-Type: " RT "\r\nContent-Length: 2\r\n\r\nok", 0);
    snprintf(reply, sizeof(reply),
             "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:%d/moved\r\n"
             "Content-Length: 0\r\n\r\n",
             s2.port);
    server_start(&s, &th, reply, 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/tsa", s.port);
    CHECK_OK(post(&body, url));
    pthread_join(th, NULL);
    pthread_join(th2, NULL);
    close(s.fd);
    close(s2.fd);
    CHECK(body.len == 2 && memcmp(body.ptr, "ok", 2) == 0);
    CHECK(strncmp(s2.request, "POST /moved HTTP/1.1\r\n", 22) == 0);
    CHECK(s2.request_len >= 5 &&
          memcmp(s2.request + s2.request_len - 5, "\x30\x03\x02\x01\x01", 5) == 0);

    /* twins */
    expect_one("HTTP/1.1 500 Oops\r\nContent-Type: " RT "\r\nContent-Length: 0\r\n\r\n", NT_EVERIFY,
               "HTTP 500");
    expect_one("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 6\r\n\r\n<html>",
               NT_EVERIFY, "text/html");
    expect_one("HTTP/1.1 200 OK\r\nContent-Type: " RT "x\r\nContent-Length: 0\r\n\r\n", NT_EVERIFY,
               "Content-Type");
    expect_one("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", NT_EVERIFY, "(none)");
    expect_one("HTTP/1.1 200 OK\r\nContent-Type: " RT "\r\nContent-Length: 2000000\r\n\r\n"
               "0123456789012345678901234567890123456789",
               NT_EIO, NULL); /* the server closes after 40 of 2,000,000 bytes: a partial answer */
    expect_one("HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\nContent-Length: 0\r\n\r\n",
               NT_EVERIFY, "not http");

    /* An answer over 1 MiB is cut off, whatever it claims. */
    static char big[(1u << 20) + 512];
    int n = snprintf(big, sizeof(big),
                     "HTTP/1.1 200 OK\r\nContent-Type: " RT "\r\nContent-Length: %u\r\n\r\n",
                     (1u << 20) + 100);
    memset(big + n, 'A', sizeof(big) - (size_t)n - 1);
    big[sizeof(big) - 1] = '\0';
    expect_one(big, NT_EVERIFY, "larger than");

    /* A redirect loop: each hop is a new one-shot server, so stop after the limit. */
    nt_buf_clear(&body);
    server hop[5];
    pthread_t hth[5];
    static char hreply[5][256];
    for (int i = 4; i >= 0; i--) {
        server_start(&hop[i], &hth[i], hreply[i], 0);
    }
    for (int i = 0; i < 5; i++) {
        snprintf(
            hreply[i], sizeof(hreply[i]),
            "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:%d/\r\nContent-Length: 0\r\n\r\n",
            hop[(i + 1) % 5].port);
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/tsa", hop[0].port);
    CHECK_ERR(post(&body, url), NT_EVERIFY);
    CHECK(strstr(nt_error_last(), "redirects") != NULL);
    for (int i = 0; i < 5; i++) {
        shutdown(hop[i].fd, SHUT_RDWR);
        close(hop[i].fd);
        pthread_join(hth[i], NULL);
    }

    /* twin: nobody listening any more on that port */
    CHECK_ERR(post(&body, url), NT_EIO);
    CHECK(body.len == 0);
    nt_buf_dispose(&body);
}

int main(void)
{
    test_url();
    test_post();
    return TEST_END();
}
