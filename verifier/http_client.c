/*
 * http_client.c - the smallest HTTP/1.1 client that can POST an RFC 3161
 * TimeStampReq to a time-stamping authority (`--tsa URL`, RFC 3161 3.4):
 * http:// URLs only, one request, one connection to exactly the host and
 * port given, no redirects, no proxies, no cookies, a bounded response.
 * Part of nt_verifier, which otherwise never touches the network; the
 * parsing halves (URL, response) are pure so the unit tests can feed them
 * hostile bytes.
 *
 * Why no HTTP library: the verifier must build with OpenSSL and jansson
 * only, and a time-stamp exchange is one POST whose answer is verified
 * cryptographically anyway.  Why no https: RFC 3161's token is signed, so
 * transport security adds nothing to its integrity, and refusing TLS keeps
 * the attack surface (and the dependency list) small.
 */
#include "verifier/verifier_int.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define HTTP_IO_TIMEOUT_S 30
#define HTTP_MAX_HEADER   (64u * 1024u)
#define HTTP_MAX_BODY     (1u << 20)

/* ------------------------------------------------------------------ URL */

static int host_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

int verifier__url_parse(verifier__url *out, const char *url)
{
    int error = 0;
    const char *p, *host, *host_end, *path;
    size_t n;

    memset(out, 0, sizeof(*out));
    NT_ENSURE(url != NULL && strncasecmp(url, "http://", 7) == 0, NT_EINVAL,
              "--tsa: only http:// URLs are supported (the token is signed; no TLS needed)");
    for (p = url; *p != '\0'; p++) {
        NT_ENSURE((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f, NT_EINVAL,
                  "--tsa: the URL contains a space or a control or non-ASCII character");
    }
    host = url + 7;
    path = host + strcspn(host, "/?#");
    NT_ENSURE(memchr(host, '@', (size_t)(path - host)) == NULL, NT_EINVAL,
              "--tsa: user information in the URL is not supported");
    NT_ENSURE(strchr(url, '#') == NULL, NT_EINVAL, "--tsa: a URL fragment is not allowed");
    if (*host == '[') {
        const char *close = memchr(host, ']', (size_t)(path - host));
        NT_ENSURE(close != NULL && close > host + 1, NT_EINVAL, "--tsa: malformed IPv6 literal");
        n = (size_t)(close - host - 1);
        NT_ENSURE(n < sizeof(out->host), NT_EINVAL, "--tsa: host too long");
        memcpy(out->host, host + 1, n);
        for (size_t i = 0; i < n; i++) {
            char c = out->host[i];
            NT_ENSURE(c == ':' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                          (c >= 'A' && c <= 'F'),
                      NT_EINVAL, "--tsa: malformed IPv6 literal");
        }
        host_end = close + 1;
        out->ipv6 = 1;
    } else {
        host_end = host;
        while (host_end < path && *host_end != ':') {
            NT_ENSURE(host_char_ok(*host_end), NT_EINVAL, "--tsa: invalid character in the host");
            host_end++;
        }
        n = (size_t)(host_end - host);
        NT_ENSURE(n > 0 && n < sizeof(out->host), NT_EINVAL, "--tsa: missing or too long host");
        memcpy(out->host, host, n);
    }
    if (host_end < path) {
        uint64_t port = 0;
        NT_ENSURE(*host_end == ':' && path > host_end + 1 &&
                      nt_parse_u64(&port, host_end + 1, (size_t)(path - host_end - 1)) == 0 &&
                      port >= 1 && port <= 65535,
                  NT_EINVAL, "--tsa: the port must be a number from 1 to 65535");
        snprintf(out->port, sizeof(out->port), "%u", (unsigned)port);
    } else {
        snprintf(out->port, sizeof(out->port), "80");
    }
    n = strlen(path);
    NT_ENSURE(n + 2 < sizeof(out->path), NT_EINVAL, "--tsa: path too long");
    if (*path != '/') {
        out->path[0] = '/'; /* "http://h" and "http://h?q" ask for "/" (RFC 9110 4.2.3) */
        memcpy(out->path + 1, path, n + 1);
    } else {
        memcpy(out->path, path, n + 1);
    }
done:
    return error;
}

/* ------------------------------------------------------------------ response */

/* Find "name:" in the header block; *value and *vlen get the trimmed value. */
static int header_find(const char *hdr, size_t len, const char *name, const char **value,
                       size_t *vlen)
{
    size_t nlen = strlen(name);
    const char *p = hdr, *end = hdr + len;
    int found = 0;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol != NULL ? eol : end;
        if ((size_t)(le - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1, *ve = le;
            while (v < ve && (*v == ' ' || *v == '\t')) {
                v++;
            }
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) {
                ve--;
            }
            *value = v;
            *vlen = (size_t)(ve - v);
            found++;
        }
        p = le + 1;
    }
    return found;
}

/* RFC 9112 7.1: chunk-size [ chunk-ext ] CRLF chunk-data CRLF ... last-chunk trailer CRLF */
static int dechunk(nt_buf *body, const uint8_t *p, size_t len)
{
    int error = 0;
    size_t pos = 0;
    for (;;) {
        uint64_t size = 0;
        size_t digits = 0;
        while (pos < len) {
            uint8_t c = p[pos];
            int v = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
            if (v < 0) {
                break;
            }
            NT_ENSURE(digits < 8, NT_EINVAL, "TSA response: chunk size too large");
            size = size * 16 + (uint64_t)v;
            digits++;
            pos++;
        }
        NT_ENSURE(digits > 0, NT_EINVAL, "TSA response: malformed chunk size");
        const uint8_t *eol = memchr(p + pos, '\n', len - pos);
        NT_ENSURE(eol != NULL, NT_EINVAL, "TSA response: truncated chunked body");
        pos = (size_t)(eol - p) + 1;
        if (size == 0) {
            break; /* trailers, if any, are ignored */
        }
        NT_ENSURE(size <= len - pos, NT_EINVAL, "TSA response: truncated chunk");
        NT_ENSURE(body->len + size <= HTTP_MAX_BODY, NT_ERANGE, "TSA response: body too large");
        NT_TRY(nt_buf_put(body, p + pos, (size_t)size));
        pos += (size_t)size;
        if (pos < len && p[pos] == '\r') {
            pos++;
        }
        NT_ENSURE(pos < len && p[pos] == '\n', NT_EINVAL, "TSA response: malformed chunk end");
        pos++;
    }
done:
    return error;
}

int verifier__http_response_parse(nt_buf *body, const uint8_t *resp, size_t len,
                                  const char *want_type)
{
    int error = 0;
    const char *s = (const char *)resp, *v = NULL;
    size_t vlen = 0;
    const uint8_t *hend = NULL;
    int code = 0;

    for (size_t i = 0; i + 3 < len && i < HTTP_MAX_HEADER; i++) {
        if (memcmp(resp + i, "\r\n\r\n", 4) == 0) {
            hend = resp + i + 4;
            break;
        }
    }
    NT_ENSURE(hend != NULL, NT_EINVAL, "TSA response: no complete HTTP header");
    size_t hlen = (size_t)(hend - resp);
    NT_ENSURE(len >= 12 && (memcmp(s, "HTTP/1.1 ", 9) == 0 || memcmp(s, "HTTP/1.0 ", 9) == 0) &&
                  s[9] >= '1' && s[9] <= '5' && s[10] >= '0' && s[10] <= '9' && s[11] >= '0' &&
                  s[11] <= '9',
              NT_EINVAL, "TSA response: not an HTTP/1.x status line");
    code = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    /* Redirects are refused: the report is time-stamped by the TSA named, or not at all. */
    NT_ENSURE(code == 200, NT_EVERIFY, "the TSA answered HTTP %d%s", code,
              code / 100 == 3 ? " (redirects are not followed)" : "");
    NT_ENSURE(header_find(s, hlen, "Content-Type", &v, &vlen) == 1 && vlen >= strlen(want_type) &&
                  strncasecmp(v, want_type, strlen(want_type)) == 0 &&
                  (vlen == strlen(want_type) || v[strlen(want_type)] == ';' ||
                   v[strlen(want_type)] == ' '),
              NT_EINVAL, "TSA response: Content-Type is not %s", want_type);
    const uint8_t *b = hend;
    size_t blen = len - hlen;
    if (header_find(s, hlen, "Transfer-Encoding", &v, &vlen) > 0) {
        NT_ENSURE(vlen == 7 && strncasecmp(v, "chunked", 7) == 0, NT_EINVAL,
                  "TSA response: unsupported Transfer-Encoding");
        NT_TRY(dechunk(body, b, blen));
    } else {
        int n = header_find(s, hlen, "Content-Length", &v, &vlen);
        if (n > 0) {
            uint64_t cl = 0;
            NT_ENSURE(n == 1 && nt_parse_u64(&cl, v, vlen) == 0, NT_EINVAL,
                      "TSA response: malformed Content-Length");
            NT_ENSURE(cl <= HTTP_MAX_BODY, NT_ERANGE, "TSA response: body too large");
            NT_ENSURE(cl <= blen, NT_EINVAL, "TSA response: truncated body (%zu of %llu bytes)",
                      blen, (unsigned long long)cl);
            blen = (size_t)cl;
        }
        NT_ENSURE(blen <= HTTP_MAX_BODY, NT_ERANGE, "TSA response: body too large");
        NT_TRY(nt_buf_set(body, b, blen));
    }
done:
    return error;
}

/* ------------------------------------------------------------------ exchange */

/*
 * 1 when `resp` already holds a whole response with a Content-Length body:
 * a server that keeps the connection open despite "Connection: close" must
 * not cost the caller the read timeout.  Otherwise the end of the
 * connection ends the response.
 */
static int response_complete(const nt_buf *resp)
{
    const char *s = (const char *)resp->ptr, *v = NULL;
    size_t vlen = 0;
    uint64_t cl = 0;
    for (size_t i = 0; i + 3 < resp->len && i < HTTP_MAX_HEADER; i++) {
        if (memcmp(s + i, "\r\n\r\n", 4) == 0) {
            size_t hlen = i + 4;
            return header_find(s, hlen, "Transfer-Encoding", &v, &vlen) == 0 &&
                   header_find(s, hlen, "Content-Length", &v, &vlen) == 1 &&
                   nt_parse_u64(&cl, v, vlen) == 0 && resp->len - hlen >= cl;
        }
    }
    return 0;
}

static int send_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return nt_error_set(NT_EIO, "sending to the TSA: %s",
                                n < 0 ? strerror(errno) : "connection closed");
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int connect_to(int *fd_out, const verifier__url *u)
{
    int error = 0, fd = -1, last = 0;
    struct addrinfo hints, *res = NULL;
    struct timeval tv = {HTTP_IO_TIMEOUT_S, 0};

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int gai = getaddrinfo(u->host, u->port, &hints, &res);
    NT_ENSURE(gai == 0, NT_EIO, "--tsa: cannot resolve %s: %s", u->host, gai_strerror(gai));
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        /* Linux applies SO_SNDTIMEO to connect(2) as well. */
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }
        last = errno;
        close(fd);
        fd = -1;
    }
    NT_ENSURE(fd >= 0, NT_EIO, "--tsa: cannot connect to %s port %s: %s", u->host, u->port,
              strerror(last != 0 ? last : ECONNREFUSED));
    *fd_out = fd;
done:
    if (res != NULL) {
        freeaddrinfo(res);
    }
    return error;
}

int verifier__http_post(nt_buf *body_out, const char *url, const char *content_type, nt_bytes body,
                        const char *want_type)
{
    int error = 0, fd = -1;
    verifier__url u;
    nt_buf req = NT_BUF_INIT, resp = NT_BUF_INIT;
    uint8_t chunk[16384];

    NT_TRY(verifier__url_parse(&u, url));
    NT_TRY(nt_buf_printf(&req,
                         "POST %s HTTP/1.1\r\nHost: %s%s%s%s%s\r\nUser-Agent: %s/%s\r\n"
                         "Content-Type: %s\r\nAccept: %s\r\nContent-Length: %zu\r\n"
                         "Connection: close\r\n\r\n",
                         u.path, u.ipv6 ? "[" : "", u.host, u.ipv6 ? "]" : "",
                         strcmp(u.port, "80") != 0 ? ":" : "",
                         strcmp(u.port, "80") != 0 ? u.port : "", VERIFIER_NAME, NT_VERSION,
                         content_type, want_type, body.len));
    NT_TRY(nt_buf_put(&req, body.ptr, body.len));
    NT_TRY(connect_to(&fd, &u));
    NT_TRY(send_all(fd, req.ptr, req.len));
    for (;;) {
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        NT_ENSURE(n >= 0, NT_EIO, "reading from the TSA: %s",
                  errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" : strerror(errno));
        if (n == 0) {
            break;
        }
        NT_ENSURE(resp.len + (size_t)n <= HTTP_MAX_HEADER + HTTP_MAX_BODY, NT_ERANGE,
                  "TSA response too large");
        NT_TRY(nt_buf_put(&resp, chunk, (size_t)n));
        if (response_complete(&resp)) {
            break;
        }
    }
    NT_TRY(verifier__http_response_parse(body_out, resp.ptr, resp.len, want_type));
done:
    if (fd >= 0) {
        close(fd);
    }
    nt_buf_dispose(&req);
    nt_buf_dispose(&resp);
    return error;
}
