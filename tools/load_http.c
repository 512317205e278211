/*
 * load_http.c - notarium-load's HTTP/1.1 response framing, loopback sockets and the
 * blocking keep-alive client that the check modes use (see load_int.h).
 */
#include "tools/load_int.h"

/* ------------------------------------------------------------------ HTTP framing */

static int header_is(const char *line, size_t len, const char *name, const char **value)
{
    size_t n = strlen(name);
    if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':') {
        return 0;
    }
    const char *v = line + n + 1;
    while (v < line + len && (*v == ' ' || *v == '\t')) {
        v++;
    }
    *value = v;
    return 1;
}

/*
 * Frame one response in p[0..len): 0 while incomplete, 1 when the whole
 * response (headers and Content-Length body) is there, NT_EINVAL when it is
 * not an HTTP/1.x response we can frame (no Content-Length, chunked, too big).
 */
int load__http_parse(http_resp *out, const uint8_t *p, size_t len)
{
    const char *s = (const char *)p;
    size_t end = 0;
    for (size_t i = 3; i < len; i++) {
        if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r') {
            end = i + 1;
            break;
        }
    }
    if (end == 0) {
        if (len > LOAD_MAX_HEADER) {
            return nt_error_set(NT_EINVAL, "response header larger than %u bytes", LOAD_MAX_HEADER);
        }
        return 0;
    }
    if (end < 14 || strncmp(s, "HTTP/1.", 7) != 0 || s[8] != ' ') {
        return nt_error_set(NT_EINVAL, "not an HTTP/1.x status line");
    }
    int status = 0;
    for (int i = 9; i < 12; i++) {
        if (s[i] < '0' || s[i] > '9' || (i == 9 && s[i] == '0')) { /* 100..999 */
            return nt_error_set(NT_EINVAL, "bad HTTP status code");
        }
        status = status * 10 + (s[i] - '0');
    }
    int have_length = 0;
    uint64_t length = 0;
    int close = s[7] == '0'; /* HTTP/1.0 closes unless told otherwise; we never ask */
    const char *line = memchr(s, '\n', end);
    while (line != NULL && (size_t)(line + 1 - s) < end - 2) {
        line++;
        const char *eol = memchr(line, '\r', end - (size_t)(line - s));
        if (eol == NULL) {
            break;
        }
        size_t llen = (size_t)(eol - line);
        const char *v = NULL;
        if (header_is(line, llen, "Content-Length", &v)) {
            if (nt_parse_u64(&length, v, (size_t)(eol - v)) < 0 || length > LOAD_MAX_BODY) {
                return nt_error_set(NT_EINVAL, "bad or too large Content-Length");
            }
            have_length = 1;
        } else if (header_is(line, llen, "Transfer-Encoding", &v)) {
            return nt_error_set(NT_EINVAL, "Transfer-Encoding is not supported by this client");
        } else if (header_is(line, llen, "Connection", &v)) {
            size_t vlen = (size_t)(eol - v); /* v lies within the line: never read past eol */
            while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) {
                vlen--;
            }
            close = vlen == 5 && strncasecmp(v, "close", 5) == 0;
        }
        line = eol + 1;
    }
    if (!have_length) {
        if (status == 204 || status == 304 || (status >= 100 && status < 200)) {
            length = 0;
        } else {
            return nt_error_set(NT_EINVAL, "HTTP %d response without Content-Length", status);
        }
    }
    if (len < end + length) {
        return 0;
    }
    out->status = status;
    out->header_len = end;
    out->body_len = (size_t)length;
    out->close = close;
    return 1;
}

int load__sock_open(int *fd_out, const struct sockaddr_in *addr, int nonblock)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) {
        return nt_error_set(NT_EIO, "socket: %s", strerror(errno));
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return nt_error_set(NT_EIO, "connect: %s", strerror(e));
    }
    *fd_out = fd;
    return 0;
}

/* ------------------------------------------------------------------ blocking client for checks */

void load__client_close(client *c)
{
    if (c->fd >= 0) {
        close(c->fd);
    }
    c->fd = -1;
}

static int client_get_once(int *status_out, nt_buf *body_out, client *c, const char *path);

/*
 * GET path; the body replaces body_out's contents.  One retry on a stale
 * keep-alive connection, and retries on 503 (a server shedding load: its
 * ledger readers all busy) for up to LOAD_CHECK_TIMEOUT_S * 3 seconds, waiting
 * 50 ms doubling to 1 s between them: the checks judge what the server holds,
 * not how busy it was at the instant of a lookup.
 */
int load__client_get(int *status_out, nt_buf *body_out, client *c, const char *path)
{
    uint64_t deadline = nt_mono_ns() + (uint64_t)LOAD_CHECK_TIMEOUT_S * 3u * 1000000000u;
    uint64_t wait_ns = 50000000u;
    int error;

    for (;;) {
        error = client_get_once(status_out, body_out, c, path);
        if (error < 0 || *status_out != 503 || nt_mono_ns() + wait_ns > deadline) {
            return error;
        }
        struct timespec ts = {(time_t)(wait_ns / 1000000000u), (long)(wait_ns % 1000000000u)};
        nanosleep(&ts, NULL);
        wait_ns = wait_ns * 2 > 1000000000u ? 1000000000u : wait_ns * 2;
    }
}

static int client_get_once(int *status_out, nt_buf *body_out, client *c, const char *path)
{
    int error = 0;
    nt_buf req = NT_BUF_INIT;
    NT_TRY(nt_buf_printf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\n\r\n", path,
                         c->o->host));
    for (int attempt = 0;; attempt++) {
        int reused = c->fd >= 0;
        if (c->fd < 0) {
            NT_TRY(load__sock_open(&c->fd, &c->o->addr, 0));
            struct timeval tv = {.tv_sec = LOAD_CHECK_TIMEOUT_S};
            (void)setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
            (void)setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        }
        size_t off = 0;
        int failed = 0;
        while (off < req.len && !failed) {
            ssize_t n = send(c->fd, req.ptr + off, req.len - off, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            failed = n <= 0;
            off += failed ? 0 : (size_t)n;
        }
        nt_buf_clear(&c->in);
        http_resp r;
        int rc = 0;
        while (!failed && rc == 0) {
            NT_TRY(nt_buf_grow(&c->in, 65536));
            ssize_t n = recv(c->fd, c->in.ptr + c->in.len, c->in.cap - c->in.len - 1, 0);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                failed = 1;
                break;
            }
            c->in.len += (size_t)n;
            NT_TRY(rc = load__http_parse(&r, c->in.ptr, c->in.len));
        }
        if (failed) {
            load__client_close(c);
            NT_ENSURE(reused && attempt == 0 && c->in.len == 0, NT_EIO, "GET %s: connection failed",
                      path);
            continue;
        }
        *status_out = r.status;
        NT_TRY(nt_buf_set(body_out, c->in.ptr + r.header_len, r.body_len));
        if (r.close) {
            load__client_close(c);
        }
        break;
    }
done:
    nt_buf_dispose(&req);
    return error;
}
