/*
 * http_accept.c - the accept thread of a listener served by a pool of
 * libmicrohttpd workers.  Left to itself, libmicrohttpd puts the listening
 * socket in every worker's poll set and whichever worker wakes first accepts
 * a whole burst of connections and keeps them for their lifetime: 16
 * keep-alive connections were seen split 0/16 over two workers, so their
 * token signing ran on one core (docs/PERFORMANCE.md).  Here one thread
 * accepts and hands each connection to the pool with MHD_add_connection,
 * which places it by descriptor number over the workers: a burst of new
 * connections has consecutive descriptors and spreads evenly.
 *
 * The thread sleeps in poll(2) on the listening socket and an eventfd that
 * quiesce writes; it never touches a connection after handing it over.
 */
#define _GNU_SOURCE /* accept4 */
#include "tsa/http_int.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct http_acceptor {
    struct MHD_Daemon *daemon;
    int fd;   /* the listening socket; -1 once closed */
    int wake; /* eventfd: stop */
    pthread_t thread;
    int running;
};

/* Accept every pending connection; 0 = go on polling, NT_EIO = stop. */
static int accept_pending(http_acceptor *a)
{
    for (;;) {
        struct sockaddr_storage addr;
        socklen_t len = sizeof(addr);
        int c = accept4(a->fd, (struct sockaddr *)&addr, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) {
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
        /* Closes the socket itself when it refuses (connection limits: logged there). */
        (void)MHD_add_connection(a->daemon, c, (const struct sockaddr *)&addr, len);
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

int http__acceptor_start(http_acceptor **out, struct MHD_Daemon *daemon, int fd)
{
    http_acceptor *a;

    *out = NULL;
    if ((a = nt_calloc(1, sizeof(*a))) == NULL) {
        return nt_error_set(NT_ENOMEM, "out of memory");
    }
    a->daemon = daemon;
    a->fd = fd;
    if ((a->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
        nt_free(a);
        return nt_error_set(NT_EIO, "eventfd: %s", strerror(errno));
    }
    if (pthread_create(&a->thread, NULL, accept_main, a) != 0) {
        close(a->wake);
        nt_free(a);
        return nt_error_set(NT_ERROR, "cannot start the accept thread");
    }
    a->running = 1;
    *out = a;
    return 0;
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

void http__acceptor_free(http_acceptor *a)
{
    if (a == NULL) {
        return;
    }
    http__acceptor_quiesce(a);
    close(a->wake);
    nt_free(a);
}
