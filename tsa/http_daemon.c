/*
 * http_daemon.c - the libmicrohttpd daemons of the HTTP front end: one per
 * listener (plain "listen", HTTPS "tls.listen", "admin_listen"), all with the
 * same request handlers of http.c; their start, quiesce and stop, and each
 * connection's context (http_conn: its listener, its place in the guard, the
 * API key entry its client certificate maps to).
 */
#include "tsa/http_int.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    const http_daemon_ctx *d = cls;
    http_conn *c;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        /* Out of memory: no context; a TLS connection then fails its handshake. */
        if ((c = nt_calloc(1, sizeof(*c))) != NULL) {
            c->s = d->s;
            c->listener = d->listener;
            c->guard = server_guard_open(d->s->guard, ci != NULL ? (int)ci->connect_fd : -1);
        }
        *socket_context = c;
        if (c != NULL && d->listener == HTTP_LISTENER_TLS) {
            http__tls_conn_start(c, conn);
        }
    } else {
        /* Before MHD closes the descriptor: the guard never shuts down a reused one. */
        c = *socket_context;
        if (c != NULL) {
            server_guard_close(d->s->guard, c->guard);
            nt_free(c);
        }
        *socket_context = NULL;
    }
}

static NT_PRINTF(2, 0) void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n') {
        msg[--n] = '\0';
    }
    nt_log(NT_LOG_WARN, NULL, "http: %s", msg);
}

/* Connections need descriptors: raise the soft limit to the hard one (bounded). */
static unsigned connection_limit(void)
{
    struct rlimit rl;
    rlim_t want;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return 1000;
    }
    want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur > 256 ? (unsigned)(rl.rlim_cur - 128) : 128;
}

/*
 * Per-connection memory pool (request line, headers, read buffer, reply
 * header; bodies live in our own buffers).  libmicrohttpd's default is 32 KiB,
 * which it zeroes when a connection starts and on every keep-alive request
 * (pool reset), and which every idle connection holds: 16 KiB halves the
 * zeroing (docs/PERFORMANCE.md, profile) and still takes ~15,500 bytes of
 * request headers; a larger block gets libmicrohttpd's 431, as it did before
 * at about twice the size (docs/HTTP-API.md).
 */
#define HTTP_CONN_POOL_BYTES (16u * 1024u)

/*
 * One MHD daemon on `fd` for `listener` (HTTPS: with the options of
 * http_tls.c).  A pool of workers (pool > 1) for the plain or HTTPS listener
 * gets its connections from an accept thread (http_accept.c) that spreads
 * them over the workers; a single thread and the admin listener accept
 * themselves.  The fd is consumed, also on failure.
 */
static struct MHD_Daemon *daemon_start(struct server_http *h, int fd, http_listener listener,
                                       unsigned pool, unsigned max)
{
    server *s = h->s;
    http_daemon_ctx *d = &h->ctx[listener];
    struct MHD_OptionItem extra[5] = {{MHD_OPTION_END, 0, NULL}};
    size_t n = 0;
    /* poll(2), not epoll.  libmicrohttpd 0.9.75's epoll loop (MHD_epoll) calls
     * epoll_wait again while the previous call returned its whole array (128 events),
     * with the same timeout, infinite when nothing was pending before: a worker that
     * finds 128 connections ready at once queues them and then sleeps until some other
     * event comes, with their requests unread.  Under 256 busy keep-alive connections
     * (128 a worker) that left one or both workers deaf for seconds in about half of
     * 5 s runs (seen in gdb: the worker in its second epoll_wait, 128 connections in
     * its ready list, requests in their sockets; docs/PERFORMANCE.md).  poll has no
     * such loop.  Its cost: every turn polls every connection, which with 10,000 idle
     * keep-alive connections open cut the rate of 64 busy ones from ~19,000 to ~4,500
     * tokens/s (epoll: ~19,000). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    int spread = pool > 1 && listener != HTTP_LISTENER_ADMIN;
    struct MHD_Daemon *daemon;

    if (spread) {
        flags |= MHD_USE_NO_LISTEN_SOCKET;
    } else {
        extra[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, fd, NULL};
        extra[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    }
    if (listener == HTTP_LISTENER_TLS) {
        flags |= MHD_USE_TLS;
        http__tls_options(extra + n);
    }
    daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, http__on_access, d, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
        MHD_OPTION_THREAD_POOL_SIZE, pool, MHD_OPTION_NOTIFY_COMPLETED, http__on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, d, MHD_OPTION_URI_LOG_CALLBACK, http__on_uri,
        d, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_CONNECTION_LIMIT, max,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->cfg->http_max_per_address,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_POOL_BYTES, MHD_OPTION_ARRAY, extra,
        MHD_OPTION_END);
    if (daemon == NULL) {
        close(fd);
        return NULL;
    }
    if (spread && http__acceptor_start(&h->acceptor[listener], daemon, fd) < 0) {
        MHD_stop_daemon(daemon);
        close(fd);
        return NULL;
    }
    return daemon;
}

static void daemons_stop(struct server_http *h)
{
    struct MHD_Daemon **all[] = {&h->daemon, &h->tls_daemon, &h->admin_daemon};
    for (size_t i = 0; i < NT_ARRAY_LEN(h->acceptor); i++) {
        /* Before its daemon stops: no connection is handed to a stopped one. */
        http__acceptor_free(h->acceptor[i]);
        h->acceptor[i] = NULL;
    }
    for (size_t i = 0; i < NT_ARRAY_LEN(all); i++) {
        if (*all[i] != NULL) {
            MHD_stop_daemon(*all[i]);
            *all[i] = NULL;
        }
    }
}

/* Start the daemon of every listener in fds (all fds are consumed). */
static int daemons_start(struct server_http *h, const server_listen_fds *fds, unsigned pool,
                         unsigned max)
{
    server *s = h->s;
    int error = 0;

    for (int i = 0; i < 3; i++) {
        h->ctx[i].s = s;
        h->ctx[i].listener = (http_listener)i;
    }
    if (fds->plain >= 0 &&
        (h->daemon = daemon_start(h, fds->plain, HTTP_LISTENER_PLAIN, pool, max)) == NULL) {
        error = nt_error_set(NT_EIO, "cannot start the HTTP daemon on %s", s->address);
    }
    if (fds->tls >= 0) {
        if (error < 0) {
            close(fds->tls);
        } else if ((h->tls_daemon = daemon_start(h, fds->tls, HTTP_LISTENER_TLS, pool, max)) ==
                   NULL) {
            error = nt_error_set(NT_EIO, "cannot start the HTTPS daemon on %s", s->tls_address);
        }
    }
    /* The admin listener: a few connections, one thread. */
    if (fds->admin >= 0) {
        if (error < 0) {
            close(fds->admin);
        } else if ((h->admin_daemon = daemon_start(h, fds->admin, HTTP_LISTENER_ADMIN, 0, 64)) ==
                   NULL) {
            error = nt_error_set(NT_EIO, "cannot start the admin daemon on %s", s->admin_address);
        }
    }
    if (error < 0) {
        daemons_stop(h);
    }
    return error;
}

int server_http_start(struct server_http **out, server *s, const server_listen_fds *fds,
                      unsigned threads)
{
    const server_config *cfg = s->cfg;
    struct server_http *h;
    unsigned max = cfg->http_max_connections != 0 ? cfg->http_max_connections : connection_limit();
    unsigned pool = threads > 1 ? threads : 0;
    int error;

    *out = NULL;
    if ((h = nt_calloc(1, sizeof(*h))) == NULL ||
        (error = server_pool_new(&h->readers, threads > 0 ? threads : 1,
                                 threads > 0 ? threads : 1)) < 0) {
        /* As many ledger readers as workers: reads used to run on the workers. */
        error = h == NULL ? NT_ENOMEM : error;
        goto fail;
    }
    h->s = s;
    if ((error = server_guard_new(&s->guard, max, cfg->http_reserved,
                                  cfg->http_request_timeout_ms)) < 0) {
        goto fail;
    }
    s->http = h; /* append_and_suspend files its tickets here */
    if ((error = daemons_start(h, fds, pool, max)) < 0) {
        s->http = NULL;
        server_guard_free(s->guard);
        s->guard = NULL;
        server_pool_free(h->readers, 0);
        nt_free(h);
        return error;
    }
    *out = h;
    return 0;
fail:
    for (int i = 0; i < 3; i++) {
        int fd = i == 0 ? fds->plain : i == 1 ? fds->tls : fds->admin;
        if (fd >= 0) {
            close(fd);
        }
    }
    if (h != NULL) {
        server_pool_free(h->readers, 0);
        nt_free(h);
    }
    return error;
}

void server_http_quiesce(struct server_http *h)
{
    struct MHD_Daemon *all[] = {h != NULL ? h->daemon : NULL, h != NULL ? h->tls_daemon : NULL,
                                h != NULL ? h->admin_daemon : NULL};
    if (h == NULL || h->quiesced) {
        return;
    }
    h->quiesced = 1;
    for (size_t i = 0; i < NT_ARRAY_LEN(all); i++) {
        MHD_socket fd;
        if (i < NT_ARRAY_LEN(h->acceptor) && h->acceptor[i] != NULL) {
            http__acceptor_quiesce(h->acceptor[i]); /* its daemon has no listening socket */
            continue;
        }
        fd = all[i] != NULL ? MHD_quiesce_daemon(all[i]) : MHD_INVALID_SOCKET;
        if (fd != MHD_INVALID_SOCKET) {
            close(fd);
        }
    }
}

void server_http_stop(struct server_http *h)
{
    if (h == NULL) {
        return;
    }
    server_http_quiesce(h);
    daemons_stop(h);
    server_guard_free(h->s->guard);
    h->s->guard = NULL;
    /* After an abandon, a reader may be stuck on the stalled disk: never joined. */
    server_pool_free(h->readers, h->s->stuck);
    nt_free(h);
}
