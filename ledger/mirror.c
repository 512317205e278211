/*
 * mirror.c - the mirror thread (nt_mirror library): mirror_start / _stop /
 * _sync / _status_get.  Every interval it commits the ledger's latest
 * checkpoint through the writer (mirror_write.c) and hands the new size to one
 * push worker per remote (mirror_push.c).  No <git2.h> here: the repository
 * is an opaque handle of mirror_int.h.
 */
#include "ledger/mirror.h"
#include "ledger/mirror_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------ the thread */

struct mirror {
    ledger *l;
    struct git_repository *repo;
    unsigned interval_ms, stop_timeout_ms;
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cond;      /* wakes the thread */
    pthread_cond_t done_cond; /* wakes mirror_sync callers */
    int stopping;
    uint64_t sync_req, sync_done;
    int sync_error;
    uint8_t last_commit[MIRROR_OID_SIZE]; /* the commit written (or found at start) last; mirror
                                             thread only */
    /* status, under mu */
    uint64_t ledger_size, mirrored_size, commits;
    char last_error[256];
    ledger__growth growth; /* when the ledger grew, for the lag */
    /* one push worker per remote (mirror_push.c); the array is fixed after start */
    ledger__pusher **pushers;
    uint64_t *push_ticket; /* under mu: each remote's ticket of the last forced cycle */
    size_t remote_count;
};

/* Forget the growth every copy has caught up with.  Under mu. */
static void growth_trim(mirror *m)
{
    uint64_t low = m->mirrored_size, next_try;
    for (size_t i = 0; i < m->remote_count; i++) {
        mirror_remote_status rs;
        ledger__pusher_status(&rs, &next_try, m->pushers[i]);
        low = rs.pushed_size < low ? rs.pushed_size : low;
    }
    ledger__growth_trim(&m->growth, low);
}

/* The ledger's size as it is now, noted with the time it was first seen. */
static int mirror_observe(mirror *m)
{
    ledger_info info;
    int error = ledger_info_get(&info, m->l);
    if (error == 0) {
        pthread_mutex_lock(&m->mu);
        if (info.size > m->ledger_size) {
            m->ledger_size = info.size;
        }
        ledger__growth_note(&m->growth, info.size, nt_mono_ns());
        pthread_mutex_unlock(&m->mu);
    }
    return error;
}

/*
 * One cycle of the mirror thread: the local commit, then the new size handed
 * to every remote's push worker (which pushes on its own thread: a remote
 * that never answers delays nothing here).  `force` also asks every remote
 * that is behind for an attempt now, back-off ignored, and records the
 * tickets mirror_sync waits for.
 */
static int mirror_cycle(mirror *m, int force)
{
    uint64_t mirrored = 0;
    int error = mirror_observe(m);
    if (error == 0) {
        error = ledger__repo_update(&mirrored, m->repo, m->l, m->last_commit);
    }
    pthread_mutex_lock(&m->mu);
    if (error < 0) {
        if (strcmp(m->last_error, nt_error_last()) != 0) {
            nt_log_error("mirror: %s", nt_error_last());
        }
        snprintf(m->last_error, sizeof(m->last_error), "%s", nt_error_last());
    } else {
        m->last_error[0] = '\0';
        if (mirrored > m->mirrored_size) {
            m->commits++;
        }
        m->mirrored_size = mirrored;
    }
    mirrored = m->mirrored_size;
    for (size_t i = 0; i < m->remote_count; i++) {
        uint64_t ticket = ledger__pusher_request(m->pushers[i], mirrored, force);
        if (force) {
            m->push_ticket[i] = ticket;
        }
    }
    growth_trim(m);
    pthread_mutex_unlock(&m->mu);
    return error;
}

static void *mirror_main(void *arg)
{
    mirror *m = arg;
    nt_thread_name("nt-mirror");
    pthread_mutex_lock(&m->mu);
    while (!m->stopping) {
        if (m->sync_req == m->sync_done) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            uint64_t ns = (uint64_t)until.tv_nsec + (uint64_t)m->interval_ms * 1000000u;
            until.tv_sec += (time_t)(ns / 1000000000u);
            until.tv_nsec = (long)(ns % 1000000000u);
            pthread_cond_timedwait(&m->cond, &m->mu, &until);
            if (m->stopping) {
                break;
            }
        }
        uint64_t gen = m->sync_req;
        int force = gen != m->sync_done;
        pthread_mutex_unlock(&m->mu);
        int error = mirror_cycle(m, force);
        pthread_mutex_lock(&m->mu);
        if (gen != m->sync_done) {
            m->sync_done = gen;
            m->sync_error = error;
            pthread_cond_broadcast(&m->done_cond);
        }
    }
    pthread_mutex_unlock(&m->mu);
    mirror_cycle(m, 1);
    return NULL;
}

static void mirror_free(mirror *m)
{
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; m->pushers != NULL && i < m->remote_count; i++) {
        ledger__pusher_free(m->pushers[i]);
    }
    ledger__repo_free(m->repo);
    nt_free(m->pushers);
    nt_free(m->push_ticket);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cond);
    pthread_cond_destroy(&m->done_cond);
    nt_free(m);
}

int mirror_start(mirror **out, ledger *l, const mirror_options *opts)
{
    int error = 0;
    mirror *m = NULL;
    *out = NULL;
    NT_ENSURE(l != NULL && opts != NULL && opts->path != NULL, NT_EINVAL,
              "mirror_start: ledger and path required");
    NT_ENSURE(opts->remote_count == 0 || opts->remotes != NULL, NT_EINVAL,
              "mirror_start: remotes missing");
    m = nt_calloc(1, sizeof(*m));
    NT_ENSURE(m != NULL, NT_ENOMEM, "out of memory");
    pthread_mutex_init(&m->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&m->done_cond, NULL);
    m->l = l;
    m->interval_ms = opts->interval_ms != 0 ? opts->interval_ms : 1000;
    m->stop_timeout_ms = opts->stop_timeout_ms != 0 ? opts->stop_timeout_ms : 5000;
    ledger__pusher_options po = {
        .repo_path = opts->path,
        .timeout_ms = opts->push_timeout_ms != 0 ? opts->push_timeout_ms : 30000,
        .retry_min_ms = opts->retry_min_ms != 0 ? opts->retry_min_ms : 1000,
        .retry_max_ms = opts->retry_max_ms != 0 ? opts->retry_max_ms : 60000,
    };
    if (po.retry_max_ms < po.retry_min_ms) {
        po.retry_max_ms = po.retry_min_ms;
    }
    for (size_t i = 0; i < opts->remote_count; i++) {
        NT_ENSURE(opts->remotes[i] != NULL &&
                      strlen(opts->remotes[i]) < sizeof(((mirror_remote_status *)0)->url),
                  NT_EINVAL, "mirror: remote %zu missing or too long", i);
    }
    NT_TRY(ledger__repo_open(&m->repo, opts->path));
    /* The first commit runs here so that a wrong repository is refused at start-up. */
    NT_TRY(ledger__repo_update(&m->mirrored_size, m->repo, l, m->last_commit));
    if (opts->remote_count > 0) {
        m->pushers = nt_calloc(opts->remote_count, sizeof(*m->pushers));
        m->push_ticket = nt_calloc(opts->remote_count, sizeof(*m->push_ticket));
        NT_ENSURE(m->pushers != NULL && m->push_ticket != NULL, NT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < opts->remote_count; i++) {
        po.url = opts->remotes[i];
        NT_TRY(ledger__pusher_start(&m->pushers[i], &po));
        m->remote_count = i + 1;
    }
    NT_ENSURE(pthread_create(&m->thread, NULL, mirror_main, m) == 0, NT_ERROR,
              "mirror: cannot start the thread");
    m->thread_started = 1;
    *out = m;
    m = NULL;
done:
    mirror_free(m);
    return error;
}

void mirror_stop(mirror *m)
{
    if (m == NULL) {
        return;
    }
    if (m->thread_started) {
        pthread_mutex_lock(&m->mu);
        m->stopping = 1;
        pthread_cond_broadcast(&m->cond);
        pthread_cond_broadcast(&m->done_cond);
        pthread_mutex_unlock(&m->mu);
        pthread_join(m->thread, NULL);
    }
    /* The last commit is made; every remote gets one bounded try, then is abandoned. */
    uint64_t deadline = nt_mono_ns() + (uint64_t)m->stop_timeout_ms * 1000000u;
    for (size_t i = 0; i < m->remote_count; i++) {
        ledger__pusher_stop(m->pushers[i], deadline);
    }
    mirror_free(m);
}

int mirror_sync(mirror *m)
{
    pthread_mutex_lock(&m->mu);
    uint64_t gen = ++m->sync_req;
    pthread_cond_broadcast(&m->cond);
    while (m->sync_done < gen && !m->stopping) {
        pthread_cond_wait(&m->done_cond, &m->mu);
    }
    int error = m->sync_done >= gen ? m->sync_error : NT_ESTATE;
    char msg[256];
    snprintf(msg, sizeof(msg), "%s", m->last_error);
    pthread_mutex_unlock(&m->mu);
    /* The pushers are fixed after start; each wait is bounded by that remote's time-out. */
    for (size_t i = 0; error != NT_ESTATE && i < m->remote_count; i++) {
        pthread_mutex_lock(&m->mu);
        uint64_t ticket = m->push_ticket[i];
        pthread_mutex_unlock(&m->mu);
        ledger__pusher_wait(m->pushers[i], ticket);
    }
    if (error < 0) {
        nt_error_set(error, "%s", msg[0] != '\0' ? msg : "mirror stopping");
    }
    return error;
}

int mirror_status_get(mirror_status *out, mirror *m)
{
    int error = 0;
    memset(out, 0, sizeof(*out));
    /* A reader notes growth too: lag counts from when the ledger grew, even while the
     * mirror thread is busy (a slow disk under the local commit). */
    (void)mirror_observe(m);
    pthread_mutex_lock(&m->mu);
    uint64_t now = nt_mono_ns();
    out->ledger_size = m->ledger_size;
    out->mirrored_size = m->mirrored_size;
    out->entries_behind = m->ledger_size > m->mirrored_size ? m->ledger_size - m->mirrored_size : 0;
    out->seconds_behind = ledger__growth_lag(&m->growth, m->mirrored_size, now);
    out->commits = m->commits;
    snprintf(out->last_error, sizeof(out->last_error), "%s", m->last_error);
    if (m->remote_count > 0) {
        out->remotes = nt_calloc(m->remote_count, sizeof(*out->remotes));
        if (out->remotes == NULL) {
            error = NT_ENOMEM;
            goto unlock;
        }
        out->remote_count = m->remote_count;
    }
    for (size_t i = 0; i < m->remote_count; i++) {
        mirror_remote_status *s = &out->remotes[i];
        uint64_t next_try;
        ledger__pusher_status(s, &next_try, m->pushers[i]);
        s->entries_behind = m->ledger_size > s->pushed_size ? m->ledger_size - s->pushed_size : 0;
        s->seconds_behind = ledger__growth_lag(&m->growth, s->pushed_size, now);
        s->retry_in_s = next_try > now ? (double)(next_try - now) / 1e9 : 0.0;
    }
unlock:
    pthread_mutex_unlock(&m->mu);
    return error;
}

void mirror_status_dispose(mirror_status *s)
{
    if (s != NULL) {
        nt_free(s->remotes);
        s->remotes = NULL;
        s->remote_count = 0;
    }
}
