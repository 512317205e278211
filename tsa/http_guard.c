/*
 * http_guard.c - connection accounting for the HTTP front end (http.c calls
 * it from libmicrohttpd's callbacks; this file knows sockets, not MHD).  It
 * counts open connections, tells http.c when the server is inside its
 * reserve (the last `reserved` of `max` connections are kept for /healthz
 * and /metrics), and runs one small thread that enforces the per-request
 * deadline: a request's headers and body must arrive within
 * request_timeout_ms of the connection's accept (or of the previous
 * response), however the bytes trickle in.  libmicrohttpd's own time-out is
 * an idle time-out that every byte resets, which is what let a slow-loris
 * client hold a connection for ever (issue 13, item 6).
 *
 * A late connection is ended with shutdown(2), never close(2): the socket
 * stays libmicrohttpd's, which sees end-of-stream and cleans up as for any
 * client that went away.  The descriptor is only touched under the guard's
 * mutex while the connection is registered, and http.c unregisters it from
 * MHD's "connection closed" notification, which runs before MHD closes the
 * descriptor, so a reused descriptor number is never shut down by mistake.
 */
#include "tsa/server_int.h"

#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

/* Inside the reserve, a connection still reading its request after this long is ended:
 * health probes send their few bytes at once, trickling clients do not. */
#define GUARD_PRESSURE_GRACE_NS (1000ull * 1000000ull)
#define GUARD_TICK_NS           (50ull * 1000000ull)

struct server_conn {
    struct server_conn *prev, *next;
    int fd;
    int reading;       /* a request is being received */
    int ended;         /* shut down by the guard */
    uint64_t since_ns; /* when the current request could start arriving */
};

struct server_guard {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC: the thread's tick and its stop signal */
    pthread_t thread;
    int thread_started;
    int stop;
    server_conn *head; /* oldest first */
    server_conn *tail;
    unsigned max, reserved;
    uint64_t timeout_ns;
    _Atomic unsigned open;
    _Atomic uint64_t ended_total;
};

static void guard_end(server_guard *g, server_conn *c, const char *why)
{
    c->ended = 1;
    atomic_fetch_add(&g->ended_total, 1);
    /* Errors (ENOTCONN: the client already went) change nothing: MHD closes it either way. */
    (void)shutdown(c->fd, SHUT_RDWR);
    nt_log(NT_LOG_DEBUG, NULL, "http: connection ended: %s", why);
}

static void guard_scan(server_guard *g, uint64_t now)
{
    int pressed = server_guard_pressed(g);
    for (server_conn *c = g->head; c != NULL; c = c->next) {
        if (!c->reading || c->ended) {
            continue;
        }
        if (now - c->since_ns > g->timeout_ns) {
            guard_end(g, c, "request not received within http.request_timeout_ms");
        } else if (pressed && now - c->since_ns > GUARD_PRESSURE_GRACE_NS) {
            guard_end(g, c, "slow request while the connection reserve is in use");
        }
    }
}

static void *guard_main(void *arg)
{
    server_guard *g = arg;
    nt_thread_name("nt-guard");
    pthread_mutex_lock(&g->mu);
    while (!g->stop) {
        struct timespec ts;
        uint64_t until = nt_mono_ns() + GUARD_TICK_NS;
        ts.tv_sec = (time_t)(until / 1000000000u);
        ts.tv_nsec = (long)(until % 1000000000u);
        pthread_cond_timedwait(&g->cv, &g->mu, &ts);
        if (!g->stop) {
            guard_scan(g, nt_mono_ns());
        }
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

int server_guard_new(server_guard **out, unsigned max, unsigned reserved,
                     unsigned request_timeout_ms)
{
    server_guard *g;
    pthread_condattr_t ca;
    int error = 0, mu_ok = 0, cv_ok = 0;

    *out = NULL;
    NT_ENSURE((g = nt_calloc(1, sizeof(*g))) != NULL, NT_ENOMEM, "out of memory");
    g->max = max;
    g->reserved = reserved < max ? reserved : 0;
    g->timeout_ns = (uint64_t)request_timeout_ms * 1000000u;
    NT_ENSURE(pthread_mutex_init(&g->mu, NULL) == 0, NT_ERROR, "pthread_mutex_init");
    mu_ok = 1;
    NT_ENSURE(pthread_condattr_init(&ca) == 0, NT_ERROR, "pthread_condattr_init");
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
        pthread_cond_init(&g->cv, &ca) == 0) {
        cv_ok = 1;
    }
    pthread_condattr_destroy(&ca);
    NT_ENSURE(cv_ok, NT_ERROR, "pthread_cond_init");
    NT_ENSURE(pthread_create(&g->thread, NULL, guard_main, g) == 0, NT_ERROR,
              "cannot start the HTTP guard thread");
    g->thread_started = 1;
    *out = g;
    g = NULL;
done:
    if (g != NULL) {
        if (cv_ok) {
            pthread_cond_destroy(&g->cv);
        }
        if (mu_ok) {
            pthread_mutex_destroy(&g->mu);
        }
        nt_free(g);
    }
    return error;
}

void server_guard_free(server_guard *g)
{
    server_conn *c, *next;
    if (g == NULL) {
        return;
    }
    pthread_mutex_lock(&g->mu);
    g->stop = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    if (g->thread_started) {
        pthread_join(g->thread, NULL);
    }
    for (c = g->head; c != NULL; c = next) {
        next = c->next;
        nt_free(c);
    }
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    nt_free(g);
}

server_conn *server_guard_open(server_guard *g, int fd)
{
    server_conn *c = nt_calloc(1, sizeof(*c));
    atomic_fetch_add(&g->open, 1); /* counted even when untracked: the count is the budget */
    if (c == NULL) {
        return NULL;
    }
    c->fd = fd;
    c->reading = 1;
    c->since_ns = nt_mono_ns();
    pthread_mutex_lock(&g->mu);
    c->prev = g->tail;
    if (g->tail != NULL) {
        g->tail->next = c;
    } else {
        g->head = c;
    }
    g->tail = c;
    pthread_mutex_unlock(&g->mu);
    return c;
}

void server_guard_close(server_guard *g, server_conn *c)
{
    atomic_fetch_sub(&g->open, 1);
    if (c == NULL) {
        return;
    }
    pthread_mutex_lock(&g->mu);
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        g->head = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    } else {
        g->tail = c->prev;
    }
    pthread_mutex_unlock(&g->mu);
    nt_free(c);
}

void server_guard_reading(server_guard *g, server_conn *c, int reading)
{
    if (c == NULL) {
        return;
    }
    pthread_mutex_lock(&g->mu);
    if (reading && !c->reading) {
        c->since_ns = nt_mono_ns();
    }
    c->reading = reading;
    pthread_mutex_unlock(&g->mu);
}

int server_guard_pressed(server_guard *g)
{
    return g->reserved > 0 && atomic_load(&g->open) > g->max - g->reserved;
}

unsigned server_guard_open_count(server_guard *g)
{
    return atomic_load(&g->open);
}

uint64_t server_guard_ended_total(server_guard *g)
{
    return atomic_load(&g->ended_total);
}
