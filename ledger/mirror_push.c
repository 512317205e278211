/*
 * mirror_push.c - the push workers of the git mirror (nt_mirror library): one
 * thread per remote, each push run in a child process that is killed at its
 * deadline; and the bookkeeping of when the ledger grew, for every copy's
 * lag.  mirror.c owns the workers (ledger/mirror_int.h) and does the local
 * commit; the push itself is mirror_push (mirror.c), so this file does not
 * include <git2.h>.
 *
 * Why a child process: libgit2 1.5 (Debian 12) has no network time-out
 * (GIT_OPT_SET_SERVER_TIMEOUT came in 1.7) and a peer that accepts the
 * connection and never answers blocks git_remote_push in recv() until the
 * peer closes; its progress callbacks never run, so nothing in-process can
 * abort it.  A custom socket stream (git_stream_register) would break ssh://,
 * whose transport reaches into libgit2's own socket stream, and a thread
 * cannot be cancelled safely inside libgit2.  A child can always be killed:
 * the worker waits for the child's one-record answer on a pipe with poll()
 * and sends SIGKILL at the deadline, so neither the worker nor the server's
 * shutdown ever waits on a remote beyond a bound.
 *
 * The child is this program exec'd again (fork, then execv of /proc/self/exe's
 * path with a marker argv[0]): an ELF constructor in this file recognises the
 * marker before main runs and does the push in a fresh single-threaded
 * process.  A fork without exec would inherit locks other threads held at
 * that instant (malloc's under ASan, OpenSSL's, libgit2's) and could hang on
 * one; between fork and exec the child makes async-signal-safe calls only.
 */
#define _GNU_SOURCE /* close_range, pipe2 */
#include "ledger/mirror_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The child's answer: one write, well under PIPE_BUF, so it arrives whole or not at all. */
typedef struct push_answer {
    int32_t code;
    uint64_t size;
    char msg[256];
} push_answer;

struct ledger__pusher {
    char *repo_path;
    char exe[4096]; /* this program, exec'd as the push process */
    unsigned timeout_ms, retry_min_ms, retry_max_ms, backoff_ms;
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cond; /* CLOCK_MONOTONIC; wakes the worker and the waiters */
    /* under mu */
    mirror_remote_status st;
    uint64_t next_try_ns, push_started_ns, last_success_ns;
    uint64_t target;
    uint64_t req_gen, done_gen;
    int stopping, final_done;
    uint64_t stop_deadline_ns;
};

/* ------------------------------------------------------------------ the child */

#define PUSH_CHILD_ARGV0 "notarium-mirror-push"
#define PUSH_CHILD_FD    3

/*
 * The push process: this program itself, exec'd with argv
 * {PUSH_CHILD_ARGV0, repository, url, parent pid} and the answer pipe as fd 3.
 * It runs as an ELF constructor (glibc passes argc/argv to them), before main
 * and before any thread exists, so it is the same in `notarium serve` and in
 * the unit tests that link nt_mirror.  Anything else returns at once.
 */
__attribute__((constructor)) static void push_child_main(int argc, char **argv, char **envp)
{
    push_answer a;
    struct stat sb;

    (void)envp;
    if (argc != 4 || argv == NULL || argv[0] == NULL || strcmp(argv[0], PUSH_CHILD_ARGV0) != 0 ||
        fstat(PUSH_CHILD_FD, &sb) != 0 || !S_ISFIFO(sb.st_mode)) {
        return;
    }
    if (getppid() != (pid_t)strtol(argv[3], NULL, 10)) {
        _exit(1); /* the worker is gone already */
    }
    memset(&a, 0, sizeof(a));
    a.code = mirror_head_get(&a.size, NULL, argv[1]);
    if (a.code == 0) {
        a.code = mirror_push(argv[1], argv[2]);
    }
    if (a.code < 0) {
        snprintf(a.msg, sizeof(a.msg), "%s", nt_error_last());
    }
    ssize_t w = write(PUSH_CHILD_FD, &a, sizeof(a));
    _exit(w == (ssize_t)sizeof(a) ? 0 : 1);
}

/*
 * Between fork and exec: async-signal-safe calls only, since other threads may
 * have held any lock (malloc's, OpenSSL's, libgit2's) at the fork.  The child
 * dies with its worker (PR_SET_PDEATHSIG, kept across exec) and on its own at
 * the time-out plus 2 s (alarm, kept too); it keeps no descriptor but stdio
 * and the pipe, so client connections never outlive the server's close.
 */
static void push_child_exec(int fd, const char *exe, char *const argv[], unsigned timeout_ms)
{
    struct sigaction dfl;
    sigset_t none;

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    alarm(timeout_ms / 1000u + 2u);
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGTERM, &dfl, NULL);
    sigaction(SIGINT, &dfl, NULL);
    sigaction(SIGALRM, &dfl, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (fd != PUSH_CHILD_FD && dup2(fd, PUSH_CHILD_FD) != PUSH_CHILD_FD) {
        _exit(126);
    }
    if (close_range(PUSH_CHILD_FD + 1, ~0u, 0) != 0) {
        for (int i = PUSH_CHILD_FD + 1; i < 65536; i++) {
            close(i);
        }
    }
    execv(exe, argv);
    _exit(127);
}

/* The deadline of the attempt now: its own, or the stop deadline if that comes first. */
static uint64_t attempt_deadline(ledger__pusher *p, uint64_t own)
{
    pthread_mutex_lock(&p->mu);
    uint64_t d = p->stopping && p->stop_deadline_ns < own ? p->stop_deadline_ns : own;
    pthread_mutex_unlock(&p->mu);
    return d;
}

/*
 * One push in a child, bounded by `deadline_ns` (and by the stop deadline).
 * 0 and *size_out = the size pushed, or a negative code with the message set.
 */
static int push_attempt(uint64_t *size_out, ledger__pusher *p, uint64_t deadline_ns)
{
    int error = 0, fds[2] = {-1, -1}, status = 0;
    push_answer a;
    size_t got = 0;
    pid_t pid = -1;

    NT_ENSURE(pipe2(fds, O_CLOEXEC) == 0, NT_EIO, "push to %s: pipe: %s", p->st.url,
              strerror(errno));
    char parent[24];
    snprintf(parent, sizeof(parent), "%ld", (long)getpid());
    char *argv[] = {PUSH_CHILD_ARGV0, p->repo_path, p->st.url, parent, NULL};
    pid = fork();
    NT_ENSURE(pid >= 0, NT_EIO, "push to %s: fork: %s", p->st.url, strerror(errno));
    if (pid == 0) {
        push_child_exec(fds[1], p->exe, argv, p->timeout_ms);
    }
    close(fds[1]);
    fds[1] = -1;
    for (;;) {
        uint64_t now = nt_mono_ns(), deadline = attempt_deadline(p, deadline_ns);
        if (now >= deadline) {
            kill(pid, SIGKILL);
            int stopping = deadline < deadline_ns;
            error = nt_error_set(NT_EIO,
                                 stopping ? "push to %s abandoned: the server is stopping"
                                          : "push to %s timed out after %u s",
                                 p->st.url, (p->timeout_ms + 999u) / 1000u);
            break;
        }
        /* Short slices, so that a stop shortens the wait at once. */
        uint64_t left_ms = (deadline - now + 999999u) / 1000000u;
        struct pollfd pf = {fds[0], POLLIN, 0};
        int rc = poll(&pf, 1, left_ms > 100 ? 100 : (int)left_ms);
        if (rc < 0 && errno != EINTR) {
            kill(pid, SIGKILL);
            error = nt_error_set(NT_EIO, "push to %s: poll: %s", p->st.url, strerror(errno));
            break;
        }
        if (rc <= 0) {
            continue;
        }
        ssize_t r = read(fds[0], (char *)&a + got, sizeof(a) - got);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (r <= 0) {
            break; /* EOF: the child is done */
        }
        got += (size_t)r;
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (error < 0) {
        goto done;
    }
    if (got != sizeof(a)) {
        error = nt_error_set(NT_EIO, "push to %s: the push process ended without an answer (%s %d)",
                             p->st.url, WIFSIGNALED(status) ? "signal" : "status",
                             WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        goto done;
    }
    a.msg[sizeof(a.msg) - 1] = '\0';
    if (a.code < 0) {
        error = nt_error_set(a.code, "%s", a.msg);
        goto done;
    }
    *size_out = a.size;
done:
    if (fds[0] >= 0) {
        close(fds[0]);
    }
    if (fds[1] >= 0) {
        close(fds[1]);
    }
    return error;
}

/* ------------------------------------------------------------------ the worker */

static void attempt_record(ledger__pusher *p, int error, uint64_t size)
{
    if (error == 0) {
        if (size > p->st.pushed_size) {
            p->st.pushed_size = size;
        }
        p->st.pushes++;
        p->st.consecutive_failures = 0;
        p->st.last_error[0] = '\0';
        p->last_success_ns = nt_mono_ns();
        p->backoff_ms = p->retry_min_ms;
        p->next_try_ns = 0;
        return;
    }
    if (p->st.consecutive_failures == 0) {
        char line[1024];
        /* a log line must not carry push credentials */
        nt_url_redact_in(line, sizeof(line), nt_error_last(), p->st.url);
        nt_log_warn("mirror: %s (retrying with back-off)", line);
    }
    p->st.failures++;
    p->st.consecutive_failures++;
    snprintf(p->st.last_error, sizeof(p->st.last_error), "%s", nt_error_last());
    p->next_try_ns = nt_mono_ns() + (uint64_t)p->backoff_ms * 1000000u;
    p->backoff_ms = p->backoff_ms >= p->retry_max_ms / 2 ? p->retry_max_ms : p->backoff_ms * 2;
}

static void cond_wait_until(ledger__pusher *p, uint64_t until_ns)
{
    struct timespec ts = {(time_t)(until_ns / 1000000000u), (long)(until_ns % 1000000000u)};
    pthread_cond_timedwait(&p->cond, &p->mu, &ts);
}

static void *pusher_main(void *arg)
{
    ledger__pusher *p = arg;
    nt_thread_name("nt-push");
    pthread_mutex_lock(&p->mu);
    for (;;) {
        uint64_t now = nt_mono_ns();
        int behind = p->st.pushed_size < p->target;
        if (p->stopping && (p->final_done || !behind || now >= p->stop_deadline_ns)) {
            break;
        }
        if (!behind) {
            if (p->done_gen != p->req_gen) {
                p->done_gen = p->req_gen;
                pthread_cond_broadcast(&p->cond);
            }
            cond_wait_until(p, now + 3600u * 1000000000ull);
            continue;
        }
        if (!p->stopping && p->done_gen == p->req_gen && now < p->next_try_ns) {
            cond_wait_until(p, p->next_try_ns);
            continue;
        }
        uint64_t gen = p->req_gen, size = 0;
        p->final_done = p->stopping;
        p->push_started_ns = now;
        p->st.attempts++;
        pthread_mutex_unlock(&p->mu);
        int error = push_attempt(&size, p, now + (uint64_t)p->timeout_ms * 1000000u);
        pthread_mutex_lock(&p->mu);
        p->push_started_ns = 0;
        attempt_record(p, error, size);
        if (gen > p->done_gen) {
            p->done_gen = gen;
        }
        pthread_cond_broadcast(&p->cond);
    }
    p->done_gen = p->req_gen;
    p->started = 2; /* exited: waiters stop waiting */
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ------------------------------------------------------------------ the API */

static void pusher_dispose(ledger__pusher *p)
{
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cond);
    nt_free(p->repo_path);
    nt_free(p);
}

int ledger__pusher_start(ledger__pusher **out, const ledger__pusher_options *opts)
{
    int error = 0;
    ledger__pusher *p = NULL;
    pthread_condattr_t ca;
    *out = NULL;
    NT_ENSURE(strlen(opts->url) < sizeof(p->st.url), NT_EINVAL, "mirror: remote URL too long");
    p = nt_calloc(1, sizeof(*p));
    NT_ENSURE(p != NULL, NT_ENOMEM, "out of memory");
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &ca);
    pthread_condattr_destroy(&ca);
    p->repo_path = nt_strdup(opts->repo_path);
    NT_ENSURE(p->repo_path != NULL, NT_ENOMEM, "out of memory");
    /* The path, not /proc/self/exe itself: under valgrind only readlink knows the program. */
    ssize_t n = readlink("/proc/self/exe", p->exe, sizeof(p->exe) - 1);
    NT_ENSURE(n > 0 && (size_t)n < sizeof(p->exe) - 1, NT_EIO,
              "mirror: cannot find this program (/proc/self/exe) to run pushes");
    p->exe[n] = '\0';
    snprintf(p->st.url, sizeof(p->st.url), "%s", opts->url);
    p->timeout_ms = opts->timeout_ms;
    p->retry_min_ms = opts->retry_min_ms;
    p->retry_max_ms = opts->retry_max_ms;
    p->backoff_ms = p->retry_min_ms;
    p->started = 1;
    if (pthread_create(&p->thread, NULL, pusher_main, p) != 0) {
        p->started = 0;
        error =
            nt_error_set(NT_ERROR, "mirror: cannot start the push thread for remote %s", opts->url);
        goto done;
    }
    *out = p;
    p = NULL;
done:
    if (p != NULL) {
        pusher_dispose(p);
    }
    return error;
}

uint64_t ledger__pusher_request(ledger__pusher *p, uint64_t size, int force)
{
    pthread_mutex_lock(&p->mu);
    if (size > p->target) {
        p->target = size;
    }
    if (force) {
        p->req_gen++;
    }
    uint64_t ticket = p->req_gen;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mu);
    return ticket;
}

void ledger__pusher_wait(ledger__pusher *p, uint64_t ticket)
{
    pthread_mutex_lock(&p->mu);
    while (p->done_gen < ticket && p->started == 1) {
        pthread_cond_wait(&p->cond, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
}

void ledger__pusher_status(mirror_remote_status *out, uint64_t *next_try_ns, ledger__pusher *p)
{
    pthread_mutex_lock(&p->mu);
    uint64_t now = nt_mono_ns();
    *out = p->st;
    out->pushing_s = p->push_started_ns != 0 ? (double)(now - p->push_started_ns) / 1e9 : 0.0;
    out->last_success_s = p->last_success_ns != 0 ? (double)(now - p->last_success_ns) / 1e9 : -1.0;
    *next_try_ns = p->next_try_ns;
    pthread_mutex_unlock(&p->mu);
}

void ledger__pusher_stop(ledger__pusher *p, uint64_t deadline_ns)
{
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    p->stop_deadline_ns = deadline_ns;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mu);
}

void ledger__pusher_free(ledger__pusher *p)
{
    if (p == NULL) {
        return;
    }
    pthread_mutex_lock(&p->mu);
    int stopping = p->stopping;
    pthread_mutex_unlock(&p->mu);
    if (!stopping) {
        ledger__pusher_stop(p, nt_mono_ns());
    }
    pthread_join(p->thread, NULL);
    pusher_dispose(p);
}

/* ------------------------------------------------------------------ lag bookkeeping */

void ledger__growth_note(ledger__growth *g, uint64_t size, uint64_t now_ns)
{
    if (g->count > 0 && g->seen[g->count - 1].size >= size) {
        return;
    }
    if (g->count == LEDGER_GROWTH_MAX) {
        /* Merge the two oldest: keeps the oldest time, so lag is never under-reported. */
        memmove(&g->seen[1], &g->seen[2], (LEDGER_GROWTH_MAX - 2) * sizeof(g->seen[0]));
        g->count--;
    }
    g->seen[g->count].size = size;
    g->seen[g->count].t_ns = now_ns;
    g->count++;
}

double ledger__growth_lag(const ledger__growth *g, uint64_t have, uint64_t now_ns)
{
    for (size_t i = 0; i < g->count; i++) {
        if (g->seen[i].size > have) {
            return (double)(now_ns - g->seen[i].t_ns) / 1e9;
        }
    }
    return 0.0;
}

void ledger__growth_trim(ledger__growth *g, uint64_t low)
{
    size_t drop = 0;
    while (drop < g->count && g->seen[drop].size <= low) {
        drop++;
    }
    memmove(&g->seen[0], &g->seen[drop], (g->count - drop) * sizeof(g->seen[0]));
    g->count -= drop;
}
