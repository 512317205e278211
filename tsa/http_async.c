/*
 * http_async.c - the requests of the HTTP front end that are answered later,
 * on another thread's signal (split from http.c; both include <microhttpd.h>,
 * see http_int.h).  A granted token or evidence record is queued on the
 * ledger and its connection SUSPENDED until the sequencer's callback resumes
 * it, so that no worker thread ever waits for an fsync and a token leaves the
 * server only after its leaf is committed (BRIEF invariant 1).  A GET that
 * reads the ledger is suspended the same way and run on the read pool
 * (http_pool.c), so that a stalled disk cannot take the HTTP workers and
 * /healthz with them.  At shutdown, server_http_abandon answers whatever is
 * still waiting, because libmicrohttpd must not be stopped with suspended
 * connections.
 */
#include "tsa/http_int.h"

#include <openssl/sha.h>
#include <pthread.h>
#include <string.h>

/*
 * A suspended request: shared by the request and whoever finishes the work
 * (the ledger's callback, or a read-pool thread).  Whoever takes ticket->q
 * under ticket_mu (that finisher, or server_http_abandon) resumes the
 * connection, exactly once; the finisher of an abandoned ticket only frees
 * it and touches nothing of the server, which may be gone by then.
 */
struct http_ticket {
    struct http_ticket *prev, *next;
    http_req *q; /* NULL once abandoned */
    struct server_http *h;
    /* a ledger read: its inputs, copied (q may be gone when it runs) and its reply */
    http_route route;
    char *arg1, *arg2, *arg3, *reader; /* reader: the API key id, for metadata */
    server_reply reply;
};

/* Guards every ticket list and ticket->q.  Static, not per daemon: an abandoned
 * ticket's finisher may run after the daemon is gone. */
static pthread_mutex_t ticket_mu = PTHREAD_MUTEX_INITIALIZER;

static void ticket_free(http_ticket *t)
{
    if (t != NULL) {
        nt_free(t->arg1);
        nt_free(t->arg2);
        nt_free(t->arg3);
        nt_free(t->reader);
        server_reply_dispose(&t->reply);
        nt_free(t);
    }
}

/* File t (already holding q) on the daemon's list; the caller then suspends. */
static void ticket_file(struct server_http *h, http_ticket *t)
{
    pthread_mutex_lock(&ticket_mu);
    t->h = h;
    t->next = h->tickets;
    if (t->next != NULL) {
        t->next->prev = t;
    }
    h->tickets = t;
    pthread_mutex_unlock(&ticket_mu);
}

/*
 * Count the request as pending and suspend it behind ticket t (filed on the daemon's list),
 * unless shutdown has begun: then 0 with nothing counted (the caller frees t and answers).
 */
static int ticket_suspend(server *s, http_req *q, http_ticket *t)
{
    atomic_fetch_add(&s->pending, 1);
    if (atomic_load(&s->stopping)) {
        atomic_fetch_sub(&s->pending, 1);
        return 0;
    }
    t->q = q;
    q->suspended = 1;
    ticket_file(s->http, t);
    MHD_suspend_connection(q->conn);
    return 1;
}

/* ------------------------------------------------------------------ the ledger round trip */

static void ticket_unlink(struct server_http *h, http_ticket *t)
{
    if (t->prev != NULL) {
        t->prev->next = t->next;
    } else {
        h->tickets = t->next;
    }
    if (t->next != NULL) {
        t->next->prev = t->prev;
    }
    t->prev = t->next = NULL;
}

/*
 * Resume q's connection (under ticket_mu, from any thread).  A worker's daemon has no
 * inter-thread channel of libmicrohttpd's (external polling), so its loop is woken here.
 * q may be freed by its worker as soon as the connection is resumed: read first.
 */
static void resume_conn(http_req *q)
{
    http_worker *w = q->worker;
    MHD_resume_connection(q->conn);
    http__worker_wake(w);
}

/* On the sequencer thread. */
static void on_appended(void *ctx, int error, uint64_t index)
{
    http_ticket *t = ctx;
    http_req *q;

    pthread_mutex_lock(&ticket_mu);
    q = t->q;
    if (q != NULL) {
        server *s = q->s;
        ticket_unlink(t->h, t);
        q->append_error = error;
        q->append_index = index;
        /* After this call the worker may free q. */
        resume_conn(q);
        atomic_fetch_sub(&s->pending, 1);
    }
    pthread_mutex_unlock(&ticket_mu);
    ticket_free(t);
}

/*
 * Queue the leaf and suspend.  The connection is suspended BEFORE the append
 * is queued, so the callback (on the sequencer thread) can never resume a
 * connection that is not suspended yet.
 */
static enum MHD_Result append_and_suspend(http_req *q, nt_bytes leaf, nt_bytes metadata,
                                          server_case_req *cse)
{
    server *s = q->s;
    http_ticket *t;
    int rc;

    if ((t = nt_calloc(1, sizeof(*t))) == NULL) {
        q->append_error = NT_ENOMEM;
        q->suspended = 0;
        return MHD_YES;
    }
    if (!ticket_suspend(s, q, t)) {
        nt_free(t);
        q->append_error = NT_ESTATE; /* the caller answers at once */
        q->suspended = 0;
        return MHD_YES;
    }
    /* The tenant of the key that wrote an evidence record owns its metadata
     * (server_metadata_filter);
     * the genTime goes with the leaf: the ledger keeps its durable high-water mark. */
    rc = cse != NULL
             ? server_case_queue(s, cse, on_appended, t)
             : ledger_append_full_async(s->ledger, leaf, metadata,
                                        q->key != NULL
                                            ? NT_BYTES(q->key->tenant, strlen(q->key->tenant))
                                            : NT_BYTES(NULL, 0),
                                        (uint64_t)q->result.gen_time.tv_sec * 1000000000u +
                                            (uint64_t)q->result.gen_time.tv_nsec,
                                        on_appended, t);
    if (rc < 0) {
        /* The callback will not run: answer ourselves, unless shutdown already did. */
        pthread_mutex_lock(&ticket_mu);
        if (t->q != NULL) {
            ticket_unlink(t->h, t);
            q->append_error = rc;
            atomic_fetch_sub(&s->pending, 1);
            resume_conn(q);
        }
        pthread_mutex_unlock(&ticket_mu);
        ticket_free(t);
    }
    return MHD_YES;
}

/* ------------------------------------------------------------------ ledger reads */

/* On a read-pool thread: the reply is built from the ticket's copies only. */
static void read_run(void *ctx)
{
    http_ticket *t = ctx;
    server *s = t->h->s;
    http_req *q;

    server_reply_init(&t->reply);
    switch (t->route) {
    case ROUTE_CHECKPOINT:
        server_get_checkpoint(&t->reply, s);
        break;
    case ROUTE_RECEIPT:
        server_get_receipt(&t->reply, s, t->arg1, t->reader);
        break;
    case ROUTE_RECEIPTS:
        server_get_receipts(&t->reply, s, t->arg1, t->arg2, t->arg3, t->reader);
        break;
    case ROUTE_PROOF_INCLUSION:
        server_get_proof_inclusion(&t->reply, s, t->arg1, t->arg2);
        break;
    case ROUTE_CASE:
        server_get_case(&t->reply, s, t->arg1, t->reader, t->arg2, t->arg3);
        break;
    case ROUTE_CASE_BUNDLE:
        server_get_case_bundle(&t->reply, s, t->arg1, t->reader);
        break;
    case ROUTE_CASE_CERT:
        server_get_case_certificate(&t->reply, s, t->arg1, t->reader, t->arg2, t->arg3);
        break;
    default:
        server_get_proof_consistency(&t->reply, s, t->arg1, t->arg2);
        break;
    }
    pthread_mutex_lock(&ticket_mu);
    q = t->q;
    if (q != NULL) {
        ticket_unlink(t->h, t);
        q->read_reply = t->reply; /* moved: q disposes of it */
        server_reply_init(&t->reply);
        resume_conn(q);
        atomic_fetch_sub(&s->pending, 1);
    }
    pthread_mutex_unlock(&ticket_mu);
    ticket_free(t);
}

static int arg_copy(char **out, const char *value)
{
    if (value == NULL) {
        *out = NULL;
        return 0;
    }
    return (*out = nt_strdup(value)) != NULL ? 0 : NT_ENOMEM;
}

enum MHD_Result http__handle_read(http_req *q, const char *url)
{
    server *s = q->s;
    http_ticket *t = nt_calloc(1, sizeof(*t));
    const char *a1 = NULL, *a2 = NULL, *a3 = NULL;
    int error;

    if (t == NULL) {
        return http__send_error(q, 500, "internal_error", NULL, "out of memory");
    }
    t->route = q->route;
    switch (q->route) {
    case ROUTE_RECEIPT:
        a1 = url + 12;
        break;
    case ROUTE_RECEIPTS:
        a1 = http__arg(q, "digest");
        a2 = http__arg(q, "limit");
        a3 = http__arg(q, "cursor");
        break;
    case ROUTE_PROOF_INCLUSION:
        a1 = http__arg(q, "index");
        a2 = http__arg(q, "size");
        break;
    case ROUTE_PROOF_CONSISTENCY:
        a1 = http__arg(q, "from");
        a2 = http__arg(q, "to");
        break;
    case ROUTE_CASE:
    case ROUTE_CASE_BUNDLE:
        a1 = q->case_id;
        a2 = http__arg(q, "limit");
        a3 = http__arg(q, "cursor");
        break;
    case ROUTE_CASE_CERT:
        a1 = q->case_id;
        a2 = http__arg(q, "lang");
        a3 = http__arg(q, "format");
        break;
    default:
        break;
    }
    if (arg_copy(&t->arg1, a1) < 0 || arg_copy(&t->arg2, a2) < 0 || arg_copy(&t->arg3, a3) < 0 ||
        arg_copy(&t->reader, http__tenant(q)) < 0) {
        ticket_free(t);
        return http__send_error(q, 500, "internal_error", NULL, "out of memory");
    }
    if (!ticket_suspend(s, q, t)) {
        ticket_free(t);
        return http__send_error(q, 503, "shutting_down", NULL, "the server is shutting down");
    }
    error = server_pool_submit(s->http->readers, read_run, t);
    if (error < 0) {
        int answer;
        pthread_mutex_lock(&ticket_mu);
        answer = t->q != NULL;
        if (answer) {
            ticket_unlink(t->h, t);
            atomic_fetch_sub(&s->pending, 1);
            server_reply_error(&q->read_reply, 503, "busy", NULL,
                               "every ledger reader is busy (is the disk stalled?), retry later");
            q->read_reply.retry_after = 1;
            resume_conn(q);
        }
        pthread_mutex_unlock(&ticket_mu);
        ticket_free(t);
    }
    return MHD_YES;
}

unsigned server_http_abandon(struct server_http *h)
{
    unsigned n = 0;
    if (h == NULL) {
        return 0;
    }
    pthread_mutex_lock(&ticket_mu);
    while (h->tickets != NULL) {
        http_ticket *t = h->tickets;
        http_req *q = t->q;
        ticket_unlink(h, t);
        t->q = NULL; /* its finisher frees t when (if) it runs */
        q->append_error = NT_ESTATE;
        q->abandoned = 1;
        resume_conn(q);
        atomic_fetch_sub(&h->s->pending, 1);
        n++;
    }
    pthread_mutex_unlock(&ticket_mu);
    return n;
}

static const char *append_error_text(const http_req *q, int error)
{
    if (q->abandoned) {
        return "server shutting down: the ledger did not commit in time, nothing was issued";
    }
    switch (error) {
    case NT_EBUSY:
        return "server overloaded: the ledger queue is full, retry later";
    case NT_EFULL:
        return "ledger storage is full";
    case NT_ESTATE:
        return "server shutting down";
    default:
        return "ledger write failed";
    }
}

static enum MHD_Result finish_append(http_req *q)
{
    server *s = q->s;
    server_reply r;
    enum MHD_Result ret;

    if (q->append_error == NT_EBUSY) {
        atomic_fetch_add(&s->metrics.overloaded, 1);
    }
    if (q->append_error < 0) {
        nt_log(q->append_error == NT_EBUSY ? NT_LOG_DEBUG : NT_LOG_ERROR, NULL,
               "append failed: %s (%s)", nt_error_name(q->append_error),
               append_error_text(q, q->append_error));
        if (q->route == ROUTE_TSA) {
            /* Never the token: a systemFailure rejection instead (invariant 1). */
            return http__send_tsa_rejection(q, 503, TSA_FAIL_SYSTEM_FAILURE,
                                            append_error_text(q, q->append_error));
        }
        return http__send_error(q, 503,
                                q->append_error == NT_EBUSY   ? "overloaded"
                                : q->append_error == NT_EFULL ? "ledger_full"
                                                              : "ledger_unavailable",
                                NULL, append_error_text(q, q->append_error));
    }
    q->leaf = (int64_t)q->append_index;
    server_reply_init(&r);
    if (q->route == ROUTE_TSA) {
        r.status = 200;
        r.content_type = TSA_REPLY_TYPE;
        /* The reply is built from the granted response, sent only now. */
        if (nt_buf_set(&r.body, q->result.response.ptr, q->result.response.len) < 0) {
            server_reply_error(&r, 500, "internal_error", NULL, "out of memory");
        } else {
            atomic_fetch_add(&s->metrics.tokens_granted, 1);
        }
    } else {
        server_evidence_created(&r, s, q->append_index, http__tenant(q));
        if (r.status == 201) {
            atomic_fetch_add(&s->metrics.evidence_created, 1);
        }
    }
    ret = http__send_reply(q, &r);
    server_reply_dispose(&r);
    return ret;
}

static enum MHD_Result case_resumed(http_req *q);

enum MHD_Result http__resumed(http_req *q)
{
    enum MHD_Result ret;
    q->suspended = 0;
    if (q->route == ROUTE_CASE_EVENTS) {
        return case_resumed(q);
    }
    if (q->route == ROUTE_TSA || q->route == ROUTE_EVIDENCE) {
        return finish_append(q);
    }
    if (q->abandoned) {
        return http__send_error(q, 503, "shutting_down", NULL,
                                "the server is shutting down and the ledger did not answer");
    }
    ret = http__send_reply(q, &q->read_reply);
    return ret;
}

/* ------------------------------------------------------------------ case events */

/* server_case_wake_fn: the case's turn has come for the request of ticket t. */
static int case_wake(void *ctx)
{
    http_ticket *t = ctx;
    http_req *q;

    pthread_mutex_lock(&ticket_mu);
    q = t->q;
    if (q != NULL) {
        ticket_unlink(t->h, t);
        resume_conn(q);
        atomic_fetch_sub(&q->s->pending, 1);
    }
    pthread_mutex_unlock(&ticket_mu);
    ticket_free(t);
    return q != NULL;
}

static enum MHD_Result case_reply(http_req *q, server_reply *r)
{
    enum MHD_Result ret;
    server_case_leave(q->s, q->cse);
    ret = http__send_reply(q, r);
    server_reply_dispose(r);
    return ret;
}

/* Resumed: the turn has come (phase 1) or the ledger answered (phase 2). */
static enum MHD_Result case_resumed(http_req *q)
{
    server *s = q->s;
    server_reply r;
    enum MHD_Result ret;

    server_reply_init(&r);
    if (q->abandoned) {
        server_reply_error(&r, 503, "shutting_down", NULL,
                           "the server is shutting down, nothing was recorded");
        return case_reply(q, &r);
    }
    if (q->case_phase == 3) {
        return http__send_reply(q, &q->read_reply); /* refused before the turn (503) */
    }
    if (q->case_phase == 2) {
        server_case_created(&r, s, q->cse, q->append_error, q->append_index);
        if (r.status == 201) {
            q->leaf = (int64_t)q->append_index;
        }
        return case_reply(q, &r);
    }
    if (server_case_prepare(&r, s, q->cse) == 0) {
        return case_reply(q, &r);
    }
    q->case_phase = 2;
    q->append_error = 0;
    ret = append_and_suspend(q, NT_BYTES(NULL, 0), NT_BYTES(NULL, 0), q->cse);
    if (!q->suspended && q->append_error < 0) {
        server_case_created(&r, s, q->cse, q->append_error, 0);
        return case_reply(q, &r);
    }
    return ret;
}

enum MHD_Result http__handle_case_append(http_req *q)
{
    server *s = q->s;
    server_reply r;
    http_ticket *t;
    enum MHD_Result ret;
    int rc;

    server_reply_init(&r);
    if (server_case_parse(
            &q->cse, &r, s, http__tenant(q), q->case_id, nt_buf_bytes(&q->body),
            MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "Idempotency-Key")) < 0) {
        ret = http__send_reply(q, &r);
        server_reply_dispose(&r);
        return ret;
    }
    if ((t = nt_calloc(1, sizeof(*t))) == NULL) {
        return http__send_error(q, 500, "internal_error", NULL, "out of memory");
    }
    /* Suspended before the turn is asked for, so that a wake can never come too early. */
    q->case_phase = 1;
    if (!ticket_suspend(s, q, t)) {
        q->case_phase = 0;
        ticket_free(t);
        return http__send_error(q, 503, "shutting_down", NULL, "the server is shutting down");
    }
    rc = server_case_enter(&r, s, q->cse, case_wake, t);
    if (rc == 1) {
        case_wake(t); /* ours at once: resumed into case_resumed */
    } else if (rc < 0) {
        pthread_mutex_lock(&ticket_mu);
        if (t->q != NULL) {
            ticket_unlink(t->h, t);
            atomic_fetch_sub(&s->pending, 1);
            q->read_reply = r; /* moved */
            server_reply_init(&r);
            q->case_phase = 3;
            resume_conn(q);
        }
        pthread_mutex_unlock(&ticket_mu);
        ticket_free(t);
        server_reply_dispose(&r);
    }
    return MHD_YES;
}

/* ------------------------------------------------------------------ POST handlers */

enum MHD_Result http__handle_tsa(http_req *q)
{
    server *s = q->s;
    nt_buf leaf = NT_BUF_INIT;
    record rec;
    enum MHD_Result ret;
    server_reply r;

    tsa_result_init(&q->result);
    if (tsa_respond(&q->result, server__live_pick(q->live, nt_buf_bytes(&q->body))->tsa,
                    nt_buf_bytes(&q->body)) < 0) {
        return http__send_error(q, 500, "internal_error", NULL, nt_error_last());
    }
    if (q->result.digest.len > 0) {
        q->has_alg = 1;
        q->alg = q->result.alg;
    }
    if (!q->result.granted) {
        /* RFC 3161 2.4.2: a rejection is a well-formed TimeStampResp: HTTP 200. */
        unsigned status = q->result.fail == TSA_FAIL_SYSTEM_FAILURE ? 500 : 200;
        q->fail = q->result.fail;
        atomic_fetch_add(&s->metrics.tokens_rejected[q->result.fail & 31], 1);
        server_reply_init(&r);
        r.status = status;
        r.content_type = TSA_REPLY_TYPE;
        if (nt_buf_set(&r.body, q->result.response.ptr, q->result.response.len) < 0) {
            server_reply_error(&r, 500, "internal_error", NULL, "out of memory");
        }
        ret = http__send_reply(q, &r);
        server_reply_dispose(&r);
        return ret;
    }
    memset(&rec, 0, sizeof(rec));
    rec.kind = RECORD_KIND_TIMESTAMP;
    rec.alg = q->result.alg;
    rec.digest = nt_buf_bytes(&q->result.digest);
    rec.label = NT_BYTES("", 0);
    rec.token = nt_buf_bytes(&q->result.token);
    if (record_encode(&leaf, &rec) < 0) {
        nt_buf_dispose(&leaf);
        return http__send_tsa_rejection(q, 500, TSA_FAIL_SYSTEM_FAILURE, "cannot encode the leaf");
    }
    ret = append_and_suspend(q, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0), NULL);
    nt_buf_dispose(&leaf);
    if (!q->suspended && q->append_error < 0) {
        return finish_append(q);
    }
    return ret;
}

enum MHD_Result http__handle_evidence(http_req *q)
{
    server *s = q->s;
    server_evidence *e = &q->evidence;
    server_reply r;
    nt_buf leaf = NT_BUF_INIT;
    record rec;
    enum MHD_Result ret;

    server_reply_init(&r);
    if (server_evidence_parse(e, &r, s, nt_buf_bytes(&q->body)) < 0) {
        ret = http__send_reply(q, &r);
        server_reply_dispose(&r);
        return ret;
    }
    server_reply_dispose(&r);
    q->has_alg = 1;
    q->alg = e->alg;
    tsa_result_init(&q->result);
    if (tsa_issue_digest(&q->result, q->live->ids[q->live->dflt].tsa, e->alg,
                         nt_buf_bytes(&e->digest)) < 0) {
        return http__send_error(q, 500, "internal_error", NULL, nt_error_last());
    }
    if (!q->result.granted) {
        q->fail = q->result.fail;
        switch (q->result.fail) {
        case TSA_FAIL_TIME_NOT_AVAILABLE:
            return http__send_error(q, 503, "time_not_available", NULL, q->result.reason);
        case TSA_FAIL_BAD_ALG:
            return http__send_error(q, 400, "algorithm_not_accepted", "digest", q->result.reason);
        case TSA_FAIL_BAD_DATA_FORMAT:
        case TSA_FAIL_BAD_REQUEST:
            return http__send_error(q, 400, "invalid_digest", "digest", q->result.reason);
        default:
            return http__send_error(q, 500, "issue_failed", NULL, q->result.reason);
        }
    }
    memset(&rec, 0, sizeof(rec));
    rec.kind = RECORD_KIND_EVIDENCE;
    rec.alg = e->alg;
    rec.digest = nt_buf_bytes(&e->digest);
    rec.label = NT_BYTES(e->kind, strlen(e->kind));
    rec.token = nt_buf_bytes(&q->result.token);
    if (e->has_metadata) {
        rec.has_metadata = 1;
        SHA256(e->metadata.ptr, e->metadata.len, rec.metadata_hash);
    }
    if (record_encode(&leaf, &rec) < 0) {
        nt_buf_dispose(&leaf);
        return http__send_error(q, 500, "internal_error", NULL, "cannot encode the leaf");
    }
    ret = append_and_suspend(q, nt_buf_bytes(&leaf), nt_buf_bytes(&e->metadata), NULL);
    nt_buf_dispose(&leaf);
    if (!q->suspended && q->append_error < 0) {
        return finish_append(q);
    }
    return ret;
}
