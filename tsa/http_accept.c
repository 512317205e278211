/*
 * http_accept.c - a listener (plain or HTTPS) served by a pool of workers:
 * one accept thread, and per worker a libmicrohttpd daemon of its own that
 * our own loop drives (the admin listener keeps libmicrohttpd's thread).
 *
 * Why our own loop (docs/PERFORMANCE.md, "Fifth round").  libmicrohttpd
 * 0.9.75's epoll loop (MHD_epoll) calls epoll_wait again, with the same
 * timeout, whenever the previous call filled its 128 events; when nothing was
 * pending that timeout is the next connection time-out, so a worker that
 * finds exactly 128 connections ready went to sleep with their requests
 * unread, for seconds.  Its poll(2) loop has no such flaw but polls every
 * connection on every turn: with 10,000 idle keep-alive connections open, 64
 * busy ones got 4,300-5,000 tokens/s instead of ~19,000.  Driven from outside
 * (MHD_run), MHD_epoll waits with a zero timeout; the blocking wait is ours:
 * poll(2) on the daemon's epoll descriptor (readable when a connection or the
 * daemon's inter-thread channel is), bounded by MHD_get_timeout.
 *
 * In that mode MHD_add_connection is not thread-safe (it sets the connection
 * up in the caller's thread), so the accept thread queues each connection to
 * a worker, which adds it between two MHD_run.  The accept thread chooses the
 * worker holding the fewest connections (a burst of keep-alive connections
 * spreads over the cores) and enforces what libmicrohttpd enforced across its
 * thread pool: http.max_connections in all and http.max_connections_per_address
 * (daemons of their own share no per-address table).  A connection over a
 * limit is closed at once, as libmicrohttpd did.  Counts are given back when
 * libmicrohttpd closes the connection (http__worker_release, from the
 * connection notification), or by the worker when its daemon refused it.
 */
#define _GNU_SOURCE /* accept4 */
#include "tsa/http_int.h"

#include <errno.h>
#include <openssl/rand.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct http_pending {
    int fd;
    socklen_t len;
    struct sockaddr_storage addr;
    uint8_t key[16]; /* server__limit_address of addr */
} http_pending;

typedef struct addr_count {
    struct addr_count *next;
    uint8_t key[16];
    unsigned n;
} addr_count;

struct http_worker {
    http_acceptor *a;
    http_daemon_ctx ctx; /* the daemon's callbacks' context */
    struct MHD_Daemon *daemon;
    int epoll_fd; /* the daemon's: readable when it has something to do */
    pthread_t thread;
    int running;
    int wake;           /* eventfd: connections queued, or stop */
    pthread_mutex_t mu; /* queue, stop */
    http_pending *queue;
    size_t qlen, qcap;
    int stop;
    int started;           /* the connection being added was set up (this thread only) */
    _Atomic unsigned held; /* connections queued to it or in its daemon */
};

struct http_acceptor {
    int fd;   /* the listening socket; -1 once closed */
    int wake; /* eventfd: stop */
    pthread_t thread;
    int running;
    http_worker *workers;
    unsigned n;
    unsigned max, per_address; /* 0 = no per-address cap */
    pthread_mutex_t mu;        /* total and the address table */
    unsigned total;
    addr_count **buckets; /* per-address counts (per_address > 0) */
    size_t mask;
    uint64_t seed[2];
    uint64_t refused_logged_ns; /* one log line a second at most */
};

/* ------------------------------------------------------------------ the limits */

static addr_count **addr_slot(http_acceptor *a, const uint8_t key[16])
{
    addr_count **p = &a->buckets[nt_hash64(a->seed, 0, key, 16) & a->mask];
    while (*p != NULL && memcmp((*p)->key, key, 16) != 0) {
        p = &(*p)->next;
    }
    return p;
}

/* Count a new connection from key: 0 when over a limit (why names which). */
static int admit(http_acceptor *a, const uint8_t key[16], const char **why)
{
    int ok = 0;
    pthread_mutex_lock(&a->mu);
    if (a->total >= a->max) {
        *why = "http.max_connections reached";
    } else if (a->per_address == 0) {
        ok = 1;
    } else {
        addr_count **p = addr_slot(a, key);
        if (*p == NULL && (*p = nt_calloc(1, sizeof(**p))) != NULL) {
            memcpy((*p)->key, key, 16);
        }
        if (*p == NULL) {
            *why = "out of memory";
        } else if ((*p)->n >= a->per_address) {
            *why = "http.max_connections_per_address reached";
        } else {
            (*p)->n++;
            ok = 1;
        }
    }
    a->total += (unsigned)ok;
    pthread_mutex_unlock(&a->mu);
    return ok;
}

/* Give back what admit counted. */
static void unadmit(http_acceptor *a, const uint8_t key[16])
{
    pthread_mutex_lock(&a->mu);
    a->total--;
    if (a->per_address > 0) {
        addr_count **p = addr_slot(a, key);
        if (*p != NULL && --(*p)->n == 0) {
            addr_count *gone = *p;
            *p = gone->next;
            nt_free(gone);
        }
    }
    pthread_mutex_unlock(&a->mu);
}

void http__worker_release(http_worker *w, const uint8_t key[16])
{
    atomic_fetch_sub(&w->held, 1);
    unadmit(w->a, key);
}

void http__worker_wake(http_worker *w)
{
    uint64_t one = 1;
    if (w != NULL && write(w->wake, &one, sizeof(one)) != (ssize_t)sizeof(one) && errno != EAGAIN) {
        nt_log(NT_LOG_ERROR, NULL, "http: cannot wake a worker: %s", strerror(errno));
    }
}

void http__worker_started(http_worker *w)
{
    w->started = 1;
}

/* ------------------------------------------------------------------ the workers */

/* Add what the accept thread queued; 1 when told to stop. */
static int worker_take(http_worker *w)
{
    http_pending *q;
    size_t n;
    uint64_t v;
    int stop;
    (void)!read(w->wake, &v, sizeof(v));
    pthread_mutex_lock(&w->mu);
    q = w->queue;
    n = w->qlen;
    stop = w->stop;
    w->queue = NULL;
    w->qlen = w->qcap = 0;
    pthread_mutex_unlock(&w->mu);
    for (size_t i = 0; i < n; i++) {
        w->started = 0;
        /* Closes the socket itself when it refuses; if it refused before the connection
         * notification, nobody else gives the counts back. */
        if (MHD_add_connection(w->daemon, q[i].fd, (const struct sockaddr *)&q[i].addr, q[i].len) !=
                MHD_YES &&
            !w->started) {
            http__worker_release(w, q[i].key);
        }
    }
    nt_free(q);
    return stop;
}

static void *worker_main(void *arg)
{
    http_worker *w = arg;
    struct pollfd p[2] = {{.fd = w->epoll_fd, .events = POLLIN}, {.fd = w->wake, .events = POLLIN}};
    nt_thread_name("MHD-worker");
    for (;;) {
        MHD_UNSIGNED_LONG_LONG ms;
        int timeout =
            MHD_get_timeout(w->daemon, &ms) == MHD_YES ? (ms > 60000 ? 60000 : (int)ms) : -1;
        if (poll(p, 2, timeout) < 0 && errno != EINTR) {
            nt_log(NT_LOG_ERROR, NULL, "http: poll in a worker: %s", strerror(errno));
            break;
        }
        if (p[1].revents != 0 && worker_take(w)) {
            (void)MHD_run(w->daemon); /* what was resumed last (the 503s of an abandon) */
            break;
        }
        (void)MHD_run(w->daemon);
    }
    return NULL;
}

/* Queue connection c to the worker that holds the fewest; 0 when it could not be queued. */
static int worker_queue(http_acceptor *a, const http_pending *c)
{
    http_worker *w = &a->workers[0];
    int ok = 0;
    for (unsigned i = 1; i < a->n; i++) {
        if (atomic_load(&a->workers[i].held) < atomic_load(&w->held)) {
            w = &a->workers[i];
        }
    }
    pthread_mutex_lock(&w->mu);
    if (w->qlen == w->qcap) {
        size_t cap = w->qcap == 0 ? 16 : w->qcap * 2;
        http_pending *nq = nt_reallocarray(w->queue, cap, sizeof(*nq));
        if (nq != NULL) {
            w->queue = nq;
            w->qcap = cap;
        }
    }
    if (w->qlen < w->qcap) {
        w->queue[w->qlen++] = *c;
        atomic_fetch_add(&w->held, 1);
        ok = 1;
    }
    pthread_mutex_unlock(&w->mu);
    if (ok) {
        http__worker_wake(w);
    }
    return ok;
}

/* ------------------------------------------------------------------ the accept thread */

static void refuse(http_acceptor *a, int fd, const char *why)
{
    uint64_t now = nt_mono_ns();
    close(fd);
    if (now - a->refused_logged_ns >= 1000000000ull) {
        a->refused_logged_ns = now;
        nt_log(NT_LOG_WARN, NULL, "http: new connection closed: %s", why);
    }
}

/* Accept every pending connection; 0 = go on polling, NT_EIO = stop. */
static int accept_pending(http_acceptor *a)
{
    for (;;) {
        http_pending c = {.len = sizeof(c.addr)};
        const char *why = NULL;
        c.fd = accept4(a->fd, (struct sockaddr *)&c.addr, &c.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c.fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors or memory: the peer waits in the backlog a moment. */
                struct timespec ts = {0, 10 * 1000 * 1000};
                nanosleep(&ts, NULL);
                return 0;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return 0;
            }
            if (errno == EBADF || errno == EINVAL || errno == ENOTSOCK || errno == EFAULT) {
                /* the listening socket itself is gone: nothing more to accept */
                return nt_error_set(NT_EIO, "accept: %s", strerror(errno));
            }
            /* A network error of the pending connection (accept(2) on Linux: ENETDOWN,
             * EPROTO, EHOSTUNREACH, ...): that connection is lost, the next may be fine. */
            continue;
        }
        server__limit_address(c.key, (const struct sockaddr *)&c.addr);
        if (!admit(a, c.key, &why)) {
            refuse(a, c.fd, why);
        } else if (!worker_queue(a, &c)) {
            unadmit(a, c.key);
            refuse(a, c.fd, "out of memory");
        }
    }
}

static void *accept_main(void *arg)
{
    http_acceptor *a = arg;
    struct pollfd p[2] = {{.fd = a->fd, .events = POLLIN}, {.fd = a->wake, .events = POLLIN}};
    nt_thread_name("nt-accept");
    for (;;) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            nt_log(NT_LOG_ERROR, NULL, "http: poll on the listening socket: %s", strerror(errno));
            break;
        }
        if (p[1].revents != 0) {
            break;
        }
        if (p[0].revents != 0 && accept_pending(a) < 0) {
            nt_log(NT_LOG_ERROR, NULL, "http: %s; no new connections", nt_error_last());
            break;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ start, stop */

int http__acceptor_start(http_acceptor **out, const http_acceptor_opts *o, int fd)
{
    http_acceptor *a;
    int error = 0;

    *out = NULL;
    NT_ENSURE((a = nt_calloc(1, sizeof(*a))) != NULL, NT_ENOMEM, "out of memory");
    a->fd = fd;
    a->wake = -1;
    a->max = o->max;
    a->per_address = o->per_address;
    pthread_mutex_init(&a->mu, NULL);
    if (a->per_address > 0) {
        size_t nb = 64;
        while (nb < o->max && nb < ((size_t)1 << 16)) {
            nb <<= 1;
        }
        NT_ENSURE((a->buckets = nt_calloc(nb, sizeof(*a->buckets))) != NULL, NT_ENOMEM,
                  "out of memory");
        a->mask = nb - 1;
        NT_OSSL(RAND_bytes((unsigned char *)a->seed, sizeof(a->seed)), "RAND_bytes failed");
    }
    NT_ENSURE((a->workers = nt_calloc(o->workers, sizeof(*a->workers))) != NULL, NT_ENOMEM,
              "out of memory");
    while (a->n < o->workers) {
        http_worker *w = &a->workers[a->n++]; /* counted at once: freed if half made */
        w->a = a;
        w->ctx = o->ctx;
        w->ctx.worker = w;
        w->wake = -1;
        pthread_mutex_init(&w->mu, NULL);
        NT_ENSURE((w->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) >= 0, NT_EIO, "eventfd: %s",
                  strerror(errno));
        NT_ENSURE((w->daemon = o->daemon_new(o->h, &w->ctx)) != NULL, NT_EIO,
                  "cannot start an HTTP worker");
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(w->daemon, MHD_DAEMON_INFO_EPOLL_FD);
        NT_ENSURE(di != NULL && di->epoll_fd >= 0, NT_EIO, "an HTTP worker without epoll");
        w->epoll_fd = di->epoll_fd;
        NT_ENSURE(pthread_create(&w->thread, NULL, worker_main, w) == 0, NT_ERROR,
                  "cannot start an HTTP worker thread");
        w->running = 1;
    }
    NT_ENSURE((a->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) >= 0, NT_EIO, "eventfd: %s",
              strerror(errno));
    NT_ENSURE(pthread_create(&a->thread, NULL, accept_main, a) == 0, NT_ERROR,
              "cannot start the accept thread");
    a->running = 1;
    *out = a;
    return 0;
done:
    a->fd = -1; /* the caller closes it on failure */
    http__acceptor_free(a);
    return error;
}

void http__acceptor_quiesce(http_acceptor *a)
{
    uint64_t one = 1;
    if (a == NULL || !a->running) {
        return;
    }
    if (write(a->wake, &one, sizeof(one)) != (ssize_t)sizeof(one)) {
        nt_log(NT_LOG_ERROR, NULL, "http: cannot wake the accept thread: %s", strerror(errno));
    }
    pthread_join(a->thread, NULL);
    a->running = 0;
    close(a->fd);
    a->fd = -1;
}

/* Stop a worker's thread, then its daemon (which closes its connections: their counts
 * come back through the notification); connections still queued are closed here. */
static void worker_stop(http_worker *w)
{
    if (w->running) {
        pthread_mutex_lock(&w->mu);
        w->stop = 1;
        pthread_mutex_unlock(&w->mu);
        http__worker_wake(w);
        pthread_join(w->thread, NULL);
        w->running = 0;
    }
    for (size_t i = 0; i < w->qlen; i++) {
        close(w->queue[i].fd);
        http__worker_release(w, w->queue[i].key);
    }
    w->qlen = 0;
    if (w->daemon != NULL) {
        MHD_stop_daemon(w->daemon);
        w->daemon = NULL;
    }
}

void http__acceptor_free(http_acceptor *a)
{
    if (a == NULL) {
        return;
    }
    http__acceptor_quiesce(a);
    if (a->fd >= 0) {
        close(a->fd);
    }
    for (unsigned i = 0; i < a->n; i++) {
        worker_stop(&a->workers[i]);
    }
    for (unsigned i = 0; i < a->n; i++) {
        http_worker *w = &a->workers[i];
        if (w->wake >= 0) {
            close(w->wake);
        }
        nt_free(w->queue);
        pthread_mutex_destroy(&w->mu);
    }
    for (size_t i = 0; a->buckets != NULL && i <= a->mask; i++) {
        while (a->buckets[i] != NULL) {
            addr_count *next = a->buckets[i]->next;
            nt_free(a->buckets[i]);
            a->buckets[i] = next;
        }
    }
    if (a->wake >= 0) {
        close(a->wake);
    }
    nt_free(a->buckets);
    nt_free(a->workers);
    pthread_mutex_destroy(&a->mu);
    nt_free(a);
}
