/*
 * load_run.c - notarium-load's load run: N keep-alive connections spread over T
 * threads, each thread an epoll loop, for a fixed duration under a request cap; counts,
 * tokens/s, latency percentiles and CPU at the end (see load_int.h).
 */
#include "tools/load_int.h"

/* ------------------------------------------------------------------ the load run */

static volatile sig_atomic_t g_signalled;
static atomic_int g_stop;
static atomic_ullong g_started;

enum conn_state { CONN_IDLE, CONN_CONNECTING, CONN_SENDING, CONN_RECEIVING };

typedef struct conn {
    int fd;
    enum conn_state state;
    nt_buf out;
    size_t out_off;
    nt_buf in;
    uint64_t started_ns;
    uint64_t retry_ns;
    int retired;      /* the request cap is reached: no more requests from this one */
    uint64_t next_ns; /* --rate: this connection's next request is due then */
    req_state st;
} conn;

typedef struct worker {
    pthread_t thread;
    const load_opts *o;
    conn *conns;
    unsigned nconn;
    int ep;
    uint64_t deadline_ns;
    uint64_t granted, rejected, errors, http503, http429;
    uint64_t unanswered, stalled, oldest_ns; /* requests in flight when the run ended */
    uint32_t *lat_us;
    size_t lat_len, lat_cap;
    char first_error[200];
} worker;

static void worker_note_error(worker *w, const char *why)
{
    w->errors++;
    if (w->first_error[0] == '\0') {
        snprintf(w->first_error, sizeof(w->first_error), "%s", why);
    }
}

static void conn_close(worker *w, conn *c, uint64_t retry_after_ns)
{
    if (c->fd >= 0) {
        (void)epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->state = CONN_IDLE;
    c->retry_ns = nt_mono_ns() + retry_after_ns;
}

static void conn_watch(worker *w, conn *c, uint32_t events, int op)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(w->ep, op, c->fd, &ev) < 0) {
        worker_note_error(w, "epoll_ctl failed");
        conn_close(w, c, LOAD_RECONNECT_NS);
    }
}

static void conn_send(worker *w, conn *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n = send(c->fd, c->out.ptr + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (c->state != CONN_SENDING) {
                c->state = CONN_SENDING;
                conn_watch(w, c, EPOLLOUT, EPOLL_CTL_MOD);
            }
            return;
        }
        if (n < 0) {
            char why[120];
            snprintf(why, sizeof(why), "send: %s", strerror(errno));
            worker_note_error(w, why);
            conn_close(w, c, LOAD_RECONNECT_NS);
            return;
        }
        c->out_off += (size_t)n;
    }
    c->state = CONN_RECEIVING;
    conn_watch(w, c, EPOLLIN, EPOLL_CTL_MOD);
}

/* Start the next request on c (connecting first if needed), unless the run is over. */
static void conn_start(worker *w, conn *c)
{
    const load_opts *o = w->o;
    uint64_t now = nt_mono_ns();
    if (atomic_load(&g_stop) || g_signalled || now >= w->deadline_ns) {
        return;
    }
    if (o->rate > 0) {
        /* paced (open loop): a late reply does not move the schedule */
        uint64_t every = (uint64_t)(1e9 * (double)o->connections / o->rate);
        if (now < c->next_ns) {
            return; /* the worker loop starts it when due */
        }
        c->next_ns = c->next_ns == 0 || c->next_ns + every < now ? now + every : c->next_ns + every;
    }
    uint64_t seq = atomic_fetch_add(&g_started, 1);
    if (seq >= o->max_requests) {
        c->retired = 1;
        return;
    }
    int rc = o->cases > 0  ? load__build_case_request(&c->out, &c->st, o, seq)
             : o->evidence ? load__build_evidence_request(&c->out, &c->st, o, seq)
                           : load__build_tsa_request(&c->out, &c->st, o);
    if (rc < 0) {
        worker_note_error(w, nt_error_last());
        c->retired = 1;
        return;
    }
    c->out_off = 0;
    nt_buf_clear(&c->in);
    c->started_ns = nt_mono_ns();
    if (c->fd < 0) {
        if (load__sock_open(&c->fd, &o->addr, 1) < 0) {
            worker_note_error(w, nt_error_last());
            conn_close(w, c, LOAD_RECONNECT_NS);
            return;
        }
        c->state = CONN_CONNECTING;
        conn_watch(w, c, EPOLLOUT, EPOLL_CTL_ADD);
        return;
    }
    c->state = CONN_SENDING;
    conn_send(w, c);
}

static void worker_latency(worker *w, uint64_t ns)
{
    if (w->lat_len == w->lat_cap) {
        size_t cap = w->lat_cap ? w->lat_cap * 2 : 4096;
        uint32_t *p = nt_reallocarray(w->lat_us, cap, sizeof(*p));
        if (p == NULL) {
            return; /* statistics only: drop the sample rather than the run */
        }
        w->lat_us = p;
        w->lat_cap = cap;
    }
    uint64_t us = ns / 1000;
    w->lat_us[w->lat_len++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static void conn_complete(worker *w, conn *c, const http_resp *r)
{
    const load_opts *o = w->o;
    char why[200] = "";
    const uint8_t *body = c->in.ptr + r->header_len;
    reply_kind k =
        o->cases > 0
            ? load__check_case_reply(o, &c->st, r->status, body, r->body_len, why, sizeof(why))
        : o->evidence
            ? load__check_evidence_reply(o, &c->st, r->status, body, r->body_len, why, sizeof(why))
            : load__check_tsa_reply(o, &c->st, r->status, body, r->body_len, why, sizeof(why));
    if (r->status == 503) {
        w->http503++;
    }
    if (r->status == 429) {
        w->http429++;
    }
    if (k == REPLY_GRANTED) {
        w->granted++;
    } else if (k == REPLY_REJECTED) {
        w->rejected++;
        if (o->stop_on_reject) {
            atomic_store(&g_stop, 1);
        }
    } else {
        worker_note_error(w, why);
    }
    if (k != REPLY_ERROR) {
        worker_latency(w, nt_mono_ns() - c->started_ns);
    }
    if (o->no_keepalive || r->close || c->in.len != r->header_len + r->body_len) {
        conn_close(w, c, 0);
    } else {
        c->state = CONN_IDLE;
    }
}

static void conn_receive(worker *w, conn *c)
{
    for (;;) {
        if (nt_buf_grow(&c->in, 16384) < 0) {
            worker_note_error(w, "out of memory");
            conn_close(w, c, LOAD_RECONNECT_NS);
            return;
        }
        ssize_t n = recv(c->fd, c->in.ptr + c->in.len, c->in.cap - c->in.len - 1, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (n <= 0) {
            char why[120];
            snprintf(why, sizeof(why), "connection lost before the response was complete (%s)",
                     n == 0 ? "closed by the server" : strerror(errno));
            worker_note_error(w, why);
            conn_close(w, c, LOAD_RECONNECT_NS);
            return;
        }
        c->in.len += (size_t)n;
        c->in.ptr[c->in.len] = 0;
        http_resp r;
        int rc = load__http_parse(&r, c->in.ptr, c->in.len);
        if (rc < 0) {
            worker_note_error(w, nt_error_last());
            conn_close(w, c, 0);
            return;
        }
        if (rc == 1) {
            conn_complete(w, c, &r);
            if (c->state == CONN_IDLE && c->fd >= 0) {
                conn_start(w, c);
            }
            return;
        }
    }
}

static void conn_event(worker *w, conn *c, uint32_t events)
{
    if (c->state == CONN_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
            char why[120];
            snprintf(why, sizeof(why), "connect: %s", strerror(err ? err : errno));
            worker_note_error(w, why);
            conn_close(w, c, LOAD_RECONNECT_NS);
            return;
        }
        c->state = CONN_SENDING;
        conn_send(w, c);
        return;
    }
    if (c->state == CONN_SENDING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        conn_send(w, c);
        return;
    }
    if (c->state == CONN_RECEIVING) {
        conn_receive(w, c);
    }
}

/*
 * The requests still in flight when the run ends: their latency is in no
 * percentile, so a server that leaves some unanswered (a lost wakeup) would
 * look fast.  Counted, the oldest kept, and with --stall-ms those that old
 * are errors.
 */
static void worker_unanswered(worker *w)
{
    uint64_t now = nt_mono_ns();
    for (unsigned i = 0; i < w->nconn; i++) {
        const conn *c = &w->conns[i];
        if (c->state == CONN_IDLE) {
            continue;
        }
        uint64_t age = now - c->started_ns;
        w->unanswered++;
        w->oldest_ns = age > w->oldest_ns ? age : w->oldest_ns;
        if (w->o->stall_ms > 0 && age >= w->o->stall_ms * 1000000u) {
            w->stalled++;
        }
    }
    if (w->stalled > 0) {
        char why[120];
        snprintf(why, sizeof(why), "%llu request(s) unanswered for %llu ms or longer",
                 (unsigned long long)w->stalled, (unsigned long long)w->o->stall_ms);
        w->errors += w->stalled - 1; /* worker_note_error counts the first */
        worker_note_error(w, why);
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    struct epoll_event events[64];
    for (;;) {
        uint64_t now = nt_mono_ns();
        if (now >= w->deadline_ns || g_signalled) {
            break;
        }
        /* --stop-on-reject drains: requests in flight are answered and
         * counted, so the client's count of granted tokens is exact. */
        int stopping = atomic_load(&g_stop);
        unsigned busy = 0;
        for (unsigned i = 0; i < w->nconn; i++) {
            conn *c = &w->conns[i];
            if (c->state == CONN_IDLE && !c->retired && !stopping && c->retry_ns <= now &&
                c->next_ns <= now) {
                conn_start(w, c);
            }
            busy += c->state != CONN_IDLE || (!c->retired && !stopping);
        }
        if (busy == 0) {
            break; /* request cap reached or stopping, and nothing in flight */
        }
        uint64_t left_ms = (w->deadline_ns - now) / 1000000 + 1;
        int timeout = left_ms < 10 ? (int)left_ms : (w->o->rate > 0 ? 1 : 10);
        int n = epoll_wait(w->ep, events, (int)NT_ARRAY_LEN(events), timeout);
        for (int i = 0; i < n; i++) {
            conn_event(w, events[i].data.ptr, events[i].events);
        }
    }
    worker_unanswered(w);
    for (unsigned i = 0; i < w->nconn && w->o->hold_s <= 0; i++) {
        conn_close(w, &w->conns[i], 0);
    }
    return NULL;
}

/*
 * --hold: the connections stay open and idle (each has had its request
 * answered, so the server holds a full keep-alive connection for each) while
 * the caller samples the server, e.g. its RSS; "HOLD open=N" says when.
 */
static void hold_idle(const load_opts *o, conn *conns)
{
    unsigned open = 0;
    for (unsigned i = 0; i < o->connections; i++) {
        open += conns[i].fd >= 0;
    }
    printf("HOLD open=%u seconds=%.1f\n", open, o->hold_s);
    fflush(stdout);
    uint64_t until = nt_mono_ns() + (uint64_t)(o->hold_s * 1e9);
    while (!g_signalled && nt_mono_ns() < until) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 50000000};
        nanosleep(&ts, NULL);
    }
    for (unsigned i = 0; i < o->connections; i++) {
        if (conns[i].fd >= 0) {
            close(conns[i].fd);
            conns[i].fd = -1;
        }
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static double percentile_ms(const uint32_t *sorted, size_t n, double q)
{
    if (n == 0) {
        return 0.0;
    }
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return (double)sorted[i] / 1000.0;
}

void load__on_signal(int sig)
{
    (void)sig;
    g_signalled = 1;
}

/* User + system CPU seconds of this process so far (all threads). */
static double process_cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        return 0.0;
    }
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int load__run(const load_opts *o)
{
    int error = 0;
    worker *ws = NULL;
    conn *conns = NULL;
    uint32_t *all = NULL;
    unsigned started = 0;
    uint64_t granted = 0, rejected = 0, errors = 0, http503 = 0, http429 = 0;
    uint64_t unanswered = 0, stalled = 0, oldest_ns = 0;
    size_t nlat = 0;
    uint64_t t0 = nt_mono_ns();
    double cpu0 = process_cpu_s();

    NT_ENSURE((ws = nt_calloc(o->threads, sizeof(*ws))) != NULL, NT_ENOMEM, "out of memory");
    NT_ENSURE((conns = nt_calloc(o->connections, sizeof(*conns))) != NULL, NT_ENOMEM,
              "out of memory");
    for (unsigned i = 0; i < o->connections; i++) {
        conns[i].fd = -1;
        conns[i].state = CONN_IDLE;
        /* --rate: the connections' schedules are spread over one period, so the offered
         * load is even, not a burst of every connection at once each period. */
        if (o->rate > 0) {
            conns[i].next_ns = t0 + (uint64_t)((double)i * 1e9 / o->rate);
        }
    }
    uint64_t deadline = t0 + (uint64_t)(o->duration_s * 1e9);
    unsigned next = 0;
    for (unsigned t = 0; t < o->threads; t++) {
        worker *w = &ws[t];
        unsigned share = o->connections / o->threads + (t < o->connections % o->threads);
        w->o = o;
        w->conns = conns + next;
        w->nconn = share;
        w->deadline_ns = deadline;
        next += share;
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        NT_ENSURE(w->ep >= 0, NT_EIO, "epoll_create1: %s", strerror(errno));
    }
    for (; started < o->threads; started++) {
        NT_ENSURE(pthread_create(&ws[started].thread, NULL, worker_main, &ws[started]) == 0,
                  NT_ERROR, "pthread_create failed");
    }
done:
    for (unsigned t = 0; t < started; t++) {
        pthread_join(ws[t].thread, NULL);
    }
    if (error == 0 && o->hold_s > 0) {
        hold_idle(o, conns);
    }
    if (ws != NULL && error == 0) {
        double elapsed = (double)(nt_mono_ns() - t0) / 1e9;
        const char *first_error = "";
        for (unsigned t = 0; t < o->threads; t++) {
            granted += ws[t].granted;
            rejected += ws[t].rejected;
            errors += ws[t].errors;
            http503 += ws[t].http503;
            http429 += ws[t].http429;
            unanswered += ws[t].unanswered;
            stalled += ws[t].stalled;
            oldest_ns = ws[t].oldest_ns > oldest_ns ? ws[t].oldest_ns : oldest_ns;
            nlat += ws[t].lat_len;
            if (first_error[0] == '\0') {
                first_error = ws[t].first_error;
            }
        }
        all = nlat ? nt_calloc(nlat, sizeof(*all)) : NULL;
        size_t k = 0;
        for (unsigned t = 0; t < o->threads && all != NULL; t++) {
            if (ws[t].lat_len > 0) {
                memcpy(all + k, ws[t].lat_us, ws[t].lat_len * sizeof(*all));
                k += ws[t].lat_len;
            }
        }
        if (all == NULL) {
            nlat = 0;
        }
        if (nlat > 0) {
            qsort(all, nlat, sizeof(*all), cmp_u32);
        }
        uint64_t requests = granted + rejected + errors;
        double tps = elapsed > 0 ? (double)granted / elapsed : 0.0;
        double p50 = percentile_ms(all, nlat, 0.50), p90 = percentile_ms(all, nlat, 0.90);
        double p99 = percentile_ms(all, nlat, 0.99), pmax = percentile_ms(all, nlat, 1.0);
        /* This tool's own CPU, to tell how much of the machine the client took. */
        double cpu = process_cpu_s() - cpu0;
        double cores = elapsed > 0 ? cpu / elapsed : 0.0;
        double cpu_us = requests > 0 ? cpu * 1e6 / (double)requests : 0.0;
        printf("target      http://%s%s (%s)\n", o->host, o->path,
               o->cases > 0  ? "case-events"
               : o->evidence ? "evidence"
                             : "rfc3161");
        printf("connections %u over %u threads, %.2f s\n", o->connections, o->threads, elapsed);
        printf("requests    %llu\n", (unsigned long long)requests);
        printf("granted     %llu\n", (unsigned long long)granted);
        printf("rejected    %llu (HTTP 503: %llu)\n", (unsigned long long)rejected,
               (unsigned long long)http503);
        printf("limited     %llu (HTTP 429, counted in rejected)\n", (unsigned long long)http429);
        printf("errors      %llu%s%s\n", (unsigned long long)errors, errors ? "  first: " : "",
               errors ? first_error : "");
        printf("unanswered  %llu at the end, oldest %.1f ms (stalled: %llu)\n",
               (unsigned long long)unanswered, (double)oldest_ns / 1e6,
               (unsigned long long)stalled);
        printf("tokens/s    %.1f\n", tps);
        printf("latency ms  p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", p50, p90, p99, pmax);
        printf("client cpu  %.2f s = %.2f cores, %.1f us per request\n", cpu, cores, cpu_us);
        printf("RESULT requests=%llu granted=%llu rejected=%llu errors=%llu tps=%.1f "
               "p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f client_cores=%.2f "
               "client_us_per_req=%.1f limited=%llu unanswered=%llu oldest_unanswered_ms=%.1f "
               "stalled=%llu\n",
               (unsigned long long)requests, (unsigned long long)granted,
               (unsigned long long)rejected, (unsigned long long)errors, tps, p50, p90, p99, pmax,
               cores, cpu_us, (unsigned long long)http429, (unsigned long long)unanswered,
               (double)oldest_ns / 1e6, (unsigned long long)stalled);
        fflush(stdout);
    }
    for (unsigned t = 0; ws != NULL && t < o->threads; t++) {
        if (ws[t].ep > 0) {
            close(ws[t].ep);
        }
        nt_free(ws[t].lat_us);
    }
    for (unsigned i = 0; conns != NULL && i < o->connections; i++) {
        nt_buf_dispose(&conns[i].out);
        nt_buf_dispose(&conns[i].in);
    }
    nt_free(all);
    nt_free(conns);
    nt_free(ws);
    if (error == 0 && errors > 0) {
        return 1;
    }
    return error;
}
