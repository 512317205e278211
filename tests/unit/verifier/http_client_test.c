/*
 * http_client_test.c - the verifier's minimal HTTP client for --tsa
 * (verifier/http_client.c): URL rules (http:// only, no user information,
 * ports 1..65535), response parsing with every failure (redirect, error
 * status, wrong Content-Type, truncated or oversized body, malformed chunk),
 * and one real POST over 127.0.0.1 to a one-shot server in a thread, whose
 * twin answers with a redirect that must not be followed.
 */
#include "tests/unit/test.h"
#include "verifier/verifier_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#define RT "application/timestamp-reply"

static void test_url(void)
{
    verifier__url u;
    CHECK_OK(verifier__url_parse(&u, "http://127.0.0.1:8080/tsa"));
    CHECK(strcmp(u.host, "127.0.0.1") == 0 && strcmp(u.port, "8080") == 0 &&
          strcmp(u.path, "/tsa") == 0 && !u.ipv6);
    CHECK_OK(verifier__url_parse(&u, "HTTP://tsa.example.org"));
    CHECK(strcmp(u.host, "tsa.example.org") == 0 && strcmp(u.port, "80") == 0 &&
          strcmp(u.path, "/") == 0);
    CHECK_OK(verifier__url_parse(&u, "http://h?x=1"));
    CHECK(strcmp(u.path, "/?x=1") == 0);
    CHECK_OK(verifier__url_parse(&u, "http://[::1]:318/a/b?c"));
    CHECK(strcmp(u.host, "::1") == 0 && strcmp(u.port, "318") == 0 && u.ipv6 &&
          strcmp(u.path, "/a/b?c") == 0);

    static const char *const bad[] = {
        "https://tsa.example/", "ftp://tsa.example/", "tsa.example/tsa",   "http://",
        "http:///tsa",          "http://user@h/",     "http://u:p@h:80/",  "http://h:0/",
        "http://h:65536/",      "http://h:/",         "http://h:8x/",      "http://h/a b",
        "http://h/#frag",       "http://h\xc3\xa9/",  "http://h/\r\nX: y", "http://[::1/",
        "http://[zz]/",         "http://h!/",
    };
    for (size_t i = 0; i < NT_ARRAY_LEN(bad); i++) {
        int rc = verifier__url_parse(&u, bad[i]);
        if (rc != NT_EINVAL) {
            fprintf(stderr, "accepted: %s\n", bad[i]);
        }
        CHECK_ERR(rc, NT_EINVAL);
    }
}

static int parse(nt_buf *body, const char *resp)
{
    nt_buf_clear(body);
    return verifier__http_response_parse(body, (const uint8_t *)resp, strlen(resp), RT);
}

static void test_response(void)
{
    nt_buf b = NT_BUF_INIT;
    CHECK_OK(
        parse(&b, "HTTP/1.1 200 OK\r\nContent-Type: " RT "\r\nContent-Length: 5\r\n\r\nhello"));
    CHECK(b.len == 5 && memcmp(b.ptr, "hello", 5) == 0);
    /* case-insensitive names, parameters, extra bytes after Content-Length ignored */
    CHECK_OK(
        parse(&b, "HTTP/1.0 200 OK\r\ncontent-type: " RT "; x=1\r\ncontent-length: 2\r\n\r\nhiXX"));
    CHECK(b.len == 2 && memcmp(b.ptr, "hi", 2) == 0);
    /* to the end of the connection */
    CHECK_OK(parse(&b, "HTTP/1.1 200 OK\r\nContent-Type: " RT "\r\n\r\nabc"));
    CHECK(b.len == 3);
    /* chunked */
    CHECK_OK(parse(&b,
                   "HTTP/1.1 200 OK\r\nContent-Type: " RT "\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "3\r\nabc\r\na;ext=1\r\n0123456789\r\n0\r\n\r\n"));
    CHECK(b.len == 13 && memcmp(b.ptr, "abc0123456789", 13) == 0);

    /* twins */
    CHECK_ERR(parse(&b, "HTTP/1.1 302 Found\r\nLocation: http://elsewhere/\r\nContent-Type: " RT
                        "\r\nContent-Length: 0\r\n\r\n"),
              NT_EVERIFY);
    CHECK(strstr(nt_error_last(), "redirects are not followed") != NULL);
    CHECK_ERR(parse(&b, "HTTP/1.1 500 Oops\r\nContent-Type: " RT "\r\n\r\n"), NT_EVERIFY);
    CHECK_ERR(parse(&b, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>"), NT_EINVAL);
    CHECK_ERR(parse(&b, "HTTP/1.1 200 OK\r\nContent-Type: " RT "x\r\n\r\n"), NT_EINVAL);
    CHECK_ERR(parse(&b, "HTTP/1.1 200 OK\r\n\r\nbody"), NT_EINVAL);
    CHECK_ERR(
        parse(&b, "HTTP/1.1 200 OK\r\nContent-Type: " RT "\r\nContent-Length: 9\r\n\r\nshort"),
        NT_EINVAL);
    CHECK_ERR(parse(&b, "HTTP/1.1 200 OK\r\nContent-Type: " RT "\r\nContent-Length: 1\r\n"
                        "Content-Length: 1\r\n\r\nx"),
              NT_EINVAL);
    CHECK_ERR(parse(&b, "HTTP/1.1 200 OK\r\nContent-Type: " RT "\r\nContent-Length: -1\r\n\r\nx"),
              NT_EINVAL);
    CHECK_ERR(
        parse(&b, "HTTP/1.1 200 OK\r\nContent-Type: " RT "\r\nContent-Length: 2000000\r\n\r\nx"),
        NT_ERANGE);
    CHECK_ERR(parse(&b, "HTTP/1.1 200 OK\r\nContent-Type: " RT "\r\nContent-Length: 5\r\n"),
              NT_EINVAL);
    CHECK_ERR(parse(&b, "SSH-2.0-OpenSSH\r\n\r\n"), NT_EINVAL);
    CHECK_ERR(parse(&b, "HTTP/1.1 2xx OK\r\nContent-Type: " RT "\r\n\r\n"), NT_EINVAL);
    CHECK_ERR(
        parse(&b, "HTTP/1.1 200 OK\r\nContent-Type: " RT "\r\nTransfer-Encoding: gzip\r\n\r\n"),
        NT_EINVAL);
    CHECK_ERR(parse(&b,
                    "HTTP/1.1 200 OK\r\nContent-Type: " RT "\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "5\r\nabc\r\n0\r\n\r\n"),
              NT_EINVAL);
    CHECK_ERR(parse(&b,
                    "HTTP/1.1 200 OK\r\nContent-Type: " RT "\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "zz\r\nabc\r\n"),
              NT_EINVAL);
    CHECK_ERR(parse(&b,
                    "HTTP/1.1 200 OK\r\nContent-Type: " RT "\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "3\r\nabc"),
              NT_EINVAL);
    nt_buf_dispose(&b);
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

static void test_post(void)
{
    server s;
    pthread_t th;
    char url[128];
    nt_buf body = NT_BUF_INIT;

    server_start(&s, &th,
                 "HTTP/1.1 200 OK\r\nContent-Type: " RT "\r\nContent-Length: 4\r\n"
                 "Connection: close\r\n\r\nABCD",
                 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/tsa", s.port);
    CHECK_OK(verifier__http_post(&body, url, "application/timestamp-query",
                                 NT_BYTES("\x30\x03\x02\x01\x01", 5), RT));
    pthread_join(th, NULL);
    close(s.fd);
    CHECK(body.len == 4 && memcmp(body.ptr, "ABCD", 4) == 0);
    char host[64];
    snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%d\r\n", s.port);
    CHECK(strncmp(s.request, "POST /tsa HTTP/1.1\r\n", 20) == 0);
    CHECK(strstr(s.request, host) != NULL);
    CHECK(strstr(s.request, "\r\nContent-Type: application/timestamp-query\r\n") != NULL);
    CHECK(strstr(s.request, "\r\nContent-Length: 5\r\n") != NULL);
    CHECK(s.request_len >= 5 &&
          memcmp(s.request + s.request_len - 5, "\x30\x03\x02\x01\x01", 5) == 0);

    /*
     * A server that keeps the connection open after a complete answer: the
     * Content-Length ends the response, not the 30 s read timeout.
     */
    nt_buf_clear(&body);
    server_start(&s, &th, "HTTP/1.1 200 OK\r\nContent-Type: " RT "\r\nContent-Length: 3\r\n\r\nxyz",
                 1);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
    uint64_t t0 = nt_mono_ns();
    CHECK_OK(verifier__http_post(&body, url, "application/timestamp-query", NT_BYTES("x", 1), RT));
    CHECK(nt_mono_ns() - t0 < 5000000000ull);
    pthread_join(th, NULL);
    close(s.fd);
    CHECK(body.len == 3 && memcmp(body.ptr, "xyz", 3) == 0);

    /* twin: a redirect is reported, not followed (one connection only) */
    nt_buf_clear(&body);
    server_start(&s, &th,
                 "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:1/\r\n"
                 "Content-Length: 0\r\n\r\n",
                 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/tsa", s.port);
    CHECK_ERR(verifier__http_post(&body, url, "application/timestamp-query", NT_BYTES("x", 1), RT),
              NT_EVERIFY);
    pthread_join(th, NULL);
    CHECK(s.accepted == 1);
    /* twin: nobody listening any more on that port */
    close(s.fd);
    CHECK_ERR(verifier__http_post(&body, url, "application/timestamp-query", NT_BYTES("x", 1), RT),
              NT_EIO);
    CHECK(body.len == 0);
    nt_buf_dispose(&body);
}

int main(void)
{
    test_url();
    test_response();
    test_post();
    return TEST_END();
}
