/*
 * http_pool.c - a small fixed pool of threads for the HTTP requests that read
 * the ledger (receipts, proofs, checkpoints).  Such a read may block on a
 * stalled disk (page faults on the LMDB map), and a libmicrohttpd worker
 * that blocks stalls every connection it owns, /healthz included (issue 13,
 * item 12).  http_async.c suspends the connection, queues the read here and
 * resumes the connection when it is done, so the HTTP workers never wait for
 * the disk.  The queue is bounded: a full pool answers 503 instead of
 * growing (BRIEF invariant 6).  Knows nothing of HTTP.
 */
#include "tsa/server_int.h"

#include <pthread.h>
#include <time.h>

typedef struct pool_job {
    server_job_fn fn;
    void *ctx;
} pool_job;

struct server_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t *threads;
    unsigned thread_count, started;
    pool_job *ring;
    unsigned queue_max, head, count;
    unsigned idle;
    int stop;
};

static void *pool_main(void *arg)
{
    server_pool *p = arg;
    nt_thread_name("nt-read");
    pthread_mutex_lock(&p->mu);
    for (;;) {
        pool_job job;
        p->idle++;
        while (p->count == 0 && !p->stop) {
            pthread_cond_wait(&p->cv, &p->mu);
        }
        p->idle--;
        if (p->count == 0) {
            break; /* stopping and drained */
        }
        job = p->ring[p->head];
        p->head = (p->head + 1) % p->queue_max;
        p->count--;
        pthread_mutex_unlock(&p->mu);
        job.fn(job.ctx);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int server_pool_new(server_pool **out, unsigned threads, unsigned queue_max)
{
    server_pool *p;
    int error = 0;

    *out = NULL;
    NT_ENSURE(threads > 0 && queue_max > 0, NT_EINVAL, "server_pool_new: empty pool");
    NT_ENSURE((p = nt_calloc(1, sizeof(*p))) != NULL, NT_ENOMEM, "out of memory");
    p->queue_max = queue_max;
    if ((p->threads = nt_calloc(threads, sizeof(*p->threads))) == NULL ||
        (p->ring = nt_calloc(queue_max, sizeof(*p->ring))) == NULL) {
        nt_free(p->threads);
        nt_free(p);
        return nt_error_set(NT_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->thread_count = threads;
    for (unsigned i = 0; i < threads; i++) {
        if (pthread_create(&p->threads[i], NULL, pool_main, p) != 0) {
            server_pool_free(p, 0);
            return nt_error_set(NT_ERROR, "cannot start the ledger read threads");
        }
        p->started++;
    }
    *out = p;
done:
    return error;
}

int server_pool_submit(server_pool *p, server_job_fn fn, void *ctx)
{
    int error = 0;
    pthread_mutex_lock(&p->mu);
    /* Queue only what an idle thread will take soon: a job waiting behind a stalled
     * read would wait with it, so a busy pool refuses at once. */
    if (p->stop || p->count >= p->idle) {
        error = NT_EBUSY;
    } else {
        p->ring[(p->head + p->count) % p->queue_max] = (pool_job){fn, ctx};
        p->count++;
        pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return error;
}

void server_pool_free(server_pool *p, int abandon)
{
    if (p == NULL) {
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (abandon) {
        /* A thread is stuck in a read on a stalled disk: joining would wait for ever.
         * The process is exiting; the threads and this memory are left to it. */
        for (unsigned i = 0; i < p->started; i++) {
            pthread_detach(p->threads[i]);
        }
        return;
    }
    for (unsigned i = 0; i < p->started; i++) {
        pthread_join(p->threads[i], NULL);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    nt_free(p->threads);
    nt_free(p->ring);
    nt_free(p);
}
