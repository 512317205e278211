/*
 * http_daemon.c - the libmicrohttpd daemons of the HTTP front end: one per
 * worker for the plain ("listen") and HTTPS ("tls.listen") listeners, driven
 * by http_accept.c, and one with its own thread for "admin_listen"; all with
 * the same request handlers of http.c.  Their start, quiesce and stop, and
 * each connection's context (http_conn: its listener, its place in the guard,
 * the API key entry its client certificate maps to, its worker).
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
        const union MHD_ConnectionInfo *ai =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        uint8_t address[16];
        server__limit_address(address, ai != NULL ? ai->client_addr : NULL);
        if (d->worker != NULL) {
            http__worker_started(d->worker); /* the counts now come back at CLOSED */
        }
        /* Out of memory: no context; a TLS connection then fails its handshake. */
        if ((c = nt_calloc(1, sizeof(*c))) != NULL) {
            c->s = d->s;
            c->listener = d->listener;
            c->worker = d->worker;
            memcpy(c->address, address, sizeof(address));
            c->guard = server_guard_open(d->s->guard, ci != NULL ? (int)ci->connect_fd : -1);
        } else if (d->worker != NULL) {
            /* No context to give the counts back at CLOSED: given back now, and the
             * connection (which fails soon without a context) is not counted. */
            http__worker_release(d->worker, address);
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
            if (c->worker != NULL) {
                http__worker_release(c->worker, c->address);
            }
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
 * One MHD daemon for the listener of d.  A worker's (d->worker set): epoll,
 * no thread and no listening socket of its own (http_accept.c drives it and
 * hands it its connections, within the connection limits it enforces).  The
 * admin listener's: libmicrohttpd's own thread with poll(2) on listen_fd, a
 * few connections (max).
 */
static struct MHD_Daemon *daemon_new(struct server_http *h, http_daemon_ctx *d, int listen_fd,
                                     unsigned max)
{
    server *s = h->s;
    struct MHD_OptionItem extra[5] = {{MHD_OPTION_END, 0, NULL}};
    size_t n = 0;
    unsigned flags = MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    unsigned per_address = s->cfg->http_max_per_address;

    if (d->worker != NULL) {
        flags |= MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET;
        per_address = 0; /* the accept thread's, over all the workers */
    } else {
        flags |= MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
        extra[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, listen_fd, NULL};
        extra[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    }
    if (d->listener == HTTP_LISTENER_TLS) {
        flags |= MHD_USE_TLS;
        http__tls_options(extra + n);
    }
    return MHD_start_daemon(
        flags, 0, NULL, NULL, http__on_access, d, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
        MHD_OPTION_NOTIFY_COMPLETED, http__on_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, d, MHD_OPTION_URI_LOG_CALLBACK, http__on_uri, d,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_CONNECTION_LIMIT, max,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_address, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)HTTP_CONN_POOL_BYTES, MHD_OPTION_ARRAY, extra, MHD_OPTION_END);
}

/* A worker's daemon (http_acceptor_opts.daemon_new). */
static struct MHD_Daemon *worker_daemon_new(struct server_http *h, http_daemon_ctx *d)
{
    /* Its share is not capped by libmicrohttpd: the accept thread counts them all. */
    return daemon_new(h, d, -1, UINT32_MAX / 2);
}

static void daemons_stop(struct server_http *h)
{
    for (size_t i = 0; i < NT_ARRAY_LEN(h->acceptor); i++) {
        http__acceptor_free(h->acceptor[i]);
        h->acceptor[i] = NULL;
    }
    if (h->admin_daemon != NULL) {
        MHD_stop_daemon(h->admin_daemon);
        h->admin_daemon = NULL;
    }
}

/* The workers of the plain or HTTPS listener on fd (consumed, also on failure). */
static int listener_start(struct server_http *h, http_listener listener, int fd, unsigned workers,
                          unsigned max)
{
    const server_config *cfg = h->s->cfg;
    http_acceptor_opts o = {.h = h,
                            .ctx = h->ctx[listener],
                            .workers = workers > 0 ? workers : 1,
                            .max = max,
                            .per_address = cfg->http_max_per_address,
                            .daemon_new = worker_daemon_new};
    int error = http__acceptor_start(&h->acceptor[listener], &o, fd);
    if (error < 0) {
        close(fd);
    }
    return error;
}

/* Start the daemons of every listener in fds (all fds are consumed). */
static int daemons_start(struct server_http *h, const server_listen_fds *fds, unsigned workers,
                         unsigned max)
{
    server *s = h->s;
    int error = 0;

    for (int i = 0; i < 3; i++) {
        h->ctx[i].s = s;
        h->ctx[i].listener = (http_listener)i;
    }
    if (fds->plain >= 0 && listener_start(h, HTTP_LISTENER_PLAIN, fds->plain, workers, max) < 0) {
        error = nt_error_set(NT_EIO, "cannot start the HTTP workers on %s: %s", s->address,
                             nt_error_last());
    }
    if (fds->tls >= 0) {
        if (error < 0) {
            close(fds->tls);
        } else if (listener_start(h, HTTP_LISTENER_TLS, fds->tls, workers, max) < 0) {
            error = nt_error_set(NT_EIO, "cannot start the HTTPS workers on %s: %s", s->tls_address,
                                 nt_error_last());
        }
    }
    /* The admin listener: a few connections, one thread. */
    if (fds->admin >= 0) {
        if (error < 0) {
            close(fds->admin);
        } else if ((h->admin_daemon =
                        daemon_new(h, &h->ctx[HTTP_LISTENER_ADMIN], fds->admin, 64)) == NULL) {
            close(fds->admin);
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
    if ((error = daemons_start(h, fds, threads, max)) < 0) {
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
    MHD_socket fd;
    if (h == NULL || h->quiesced) {
        return;
    }
    h->quiesced = 1;
    for (size_t i = 0; i < NT_ARRAY_LEN(h->acceptor); i++) {
        http__acceptor_quiesce(h->acceptor[i]); /* the workers go on serving */
    }
    fd = h->admin_daemon != NULL ? MHD_quiesce_daemon(h->admin_daemon) : MHD_INVALID_SOCKET;
    if (fd != MHD_INVALID_SOCKET) {
        close(fd);
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
