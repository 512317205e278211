/*
 * http_int.h - private to the files of the HTTP front end, the only ones
 * that include <microhttpd.h>: http.c (the daemon, routing, HTTP rules,
 * connection limits), http_async.c (the requests answered later: ledger
 * appends waiting for their commit, ledger reads run on the read pool),
 * http_limit.c (the rate limits' side of a request), http_daemon.c (one
 * daemon per listener), http_accept.c (the workers of a listener, their
 * loops and the accept thread that spreads its connections over them) and
 * http_tls.c (HTTPS).
 */
#ifndef TSA_HTTP_INT_H
#define TSA_HTTP_INT_H

#include "tsa/server_int.h"

#include <microhttpd.h>

#define TSA_REPLY_TYPE "application/timestamp-reply"

typedef struct http_ticket http_ticket; /* http_async.c */

/* The listener a connection came in on. */
typedef enum http_listener {
    HTTP_LISTENER_PLAIN = 0,
    HTTP_LISTENER_TLS,   /* tls.listen (http_tls.c) */
    HTTP_LISTENER_ADMIN, /* admin_listen: /metrics and /healthz only */
} http_listener;

typedef struct http_worker http_worker;     /* http_accept.c */
typedef struct http_acceptor http_acceptor; /* http_accept.c */

/* One connection (MHD's socket context): set up by http.c's connection notification. */
typedef struct http_conn {
    server *s;
    server_conn *guard; /* this connection in the guard; NULL = untracked */
    http_listener listener;
    const server_api_key *client_key; /* mapped client certificate (TLS), NULL = none */
    http_worker *worker;              /* its worker (counts given back at close), NULL = none */
    uint8_t address[16];              /* the client's (server__limit_address) */
} http_conn;

/* The access handler's context per daemon: which listener it serves (and which worker). */
typedef struct http_daemon_ctx {
    server *s;
    http_listener listener;
    http_worker *worker; /* NULL: the admin listener's daemon, with its own thread */
} http_daemon_ctx;

struct server_http {
    http_acceptor *acceptor[2];      /* plain, TLS (NULL when not listening): http_accept.c */
    struct MHD_Daemon *admin_daemon; /* admin_listen: libmicrohttpd's own thread */
    http_daemon_ctx ctx[3];          /* by http_listener */
    server *s;
    int quiesced;
    http_ticket *tickets; /* requests suspended for the ledger (http_async.c) */
    server_pool *readers; /* runs the ledger reads (http_pool.c) */
};

typedef enum http_route {
    ROUTE_NONE = 0,
    ROUTE_TSA,
    ROUTE_EVIDENCE,
    ROUTE_HEALTHZ,
    ROUTE_METRICS,
    ROUTE_CHECKPOINT,
    ROUTE_RECEIPT,
    ROUTE_RECEIPTS,
    ROUTE_PROOF_INCLUSION,
    ROUTE_PROOF_CONSISTENCY,
    ROUTE_VERIFY,
    ROUTE_VERIFY_REPORT, /* web.c */
    ROUTE_TRUST,         /* web.c */
    ROUTE_WEB,           /* web.c: the page's files; GET / when the page is on */
    ROUTE_CERTS,         /* server_certs.c: /v1/certs, /v1/certs/<sha256> */
    ROUTE_CASE,          /* server_cases_read.c: GET /v1/cases/<case> */
    ROUTE_CASE_BUNDLE,   /* server_cases_read.c: GET /v1/cases/<case>/bundle */
    ROUTE_CASE_CERT,     /* server_cases_cert.c: GET /v1/cases/<case>/certificate */
    ROUTE_CASE_EVENTS,   /* server_cases*.c: POST /v1/cases/<case>/events */
} http_route;

typedef struct http_req {
    server *s;
    struct MHD_Connection *conn;
    uint64_t start_ns;
    http_route route;
    char method[12];
    char path[160];
    nt_buf body;
    uint64_t bytes_in; /* request body bytes received (logged) */
    int too_large;
    int limited;                /* over a rate limit: 429 once the body is in */
    server_limit_verdict limit; /* which limit, and when to retry */
    int replied;
    int begun;               /* the first access-handler call was made */
    int nul_in_target;       /* the raw request target has a percent-encoded NUL */
    server_conn *guard_conn; /* this connection in the guard; NULL = untracked */
    http_conn *hconn;        /* the connection's context (NULL when out of memory) */
    http_worker *worker;     /* its daemon's worker (NULL: the admin daemon) */
    http_listener listener;
    int suspended;    /* waiting for the ledger (an append or a read) */
    int abandoned;    /* answered by server_http_abandon, not by the ledger */
    int append_error; /* written by the callback before it resumes us */
    uint64_t append_index;
    server_reply read_reply; /* a ledger read's reply, moved here before the resume */
    tsa_result result;       /* /tsa and /v1/evidence */
    server_evidence evidence;
    server_case_req *cse;      /* POST /v1/cases/<case>/events */
    int case_phase;            /* 1 waiting for the case's turn, 2 waiting for the commit */
    char case_id[132];         /* the <case> of a case route, as in the URL (checked later) */
    const server_api_key *key; /* the API key presented (borrowed from live), NULL = none */
    server_live *live;         /* identities and API keys the request began with (held) */
    /* for the request log */
    int has_alg;
    record_alg alg;
    tsa_fail fail;
    int64_t leaf;
} http_req;

/* http.c */
enum MHD_Result http__send_reply(http_req *q, server_reply *r);
enum MHD_Result http__send_error(http_req *q, unsigned status, const char *code, const char *field,
                                 const char *msg);
/* An RFC 3161 rejection with HTTP `status` (200, or 503 for our own failures). */
enum MHD_Result http__send_tsa_rejection(http_req *q, unsigned status, tsa_fail fail,
                                         const char *text);
const char *http__arg(http_req *q, const char *name);
/* The id of the request's API key (q->key), NULL when it presented none. */
const char *http__key_id(const http_req *q);
/* The tenant of the API key presented (owner of evidence metadata and cases), NULL = none. */
const char *http__tenant(const http_req *q);

/*
 * http_limit.c: per-client rate limits (tsa/ratelimit.c), from the headers alone.  1 when
 * the request is over a limit: q->limited is set, and *ret is the 429 already sent, or
 * MHD_YES when a small body is to be read (and dropped) first, after which the access
 * handler sends it with http__send_limited.
 */
int http__over_limit(http_req *q, enum MHD_Result *ret);
enum MHD_Result http__send_limited(http_req *q);

/* http.c: the request handlers every daemon of http_daemon.c runs (cls: an http_daemon_ctx). */
void *http__on_uri(void *cls, const char *uri, struct MHD_Connection *conn);
enum MHD_Result http__on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version, const char *upload_data,
                                size_t *upload_data_size, void **con_cls);
void http__on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                        enum MHD_RequestTerminationCode toe);

/*
 * http_accept.c: a listener served by `workers` daemons of their own (MHD_USE_EPOLL, no
 * thread of libmicrohttpd's, no listening socket), each driven by a thread of ours, and an
 * accept thread that hands them the connections of fd, within the limits.
 */
typedef struct http_acceptor_opts {
    struct server_http *h;
    http_daemon_ctx ctx; /* copied per worker, with its worker */
    unsigned workers, max, per_address;
    struct MHD_Daemon *(*daemon_new)(struct server_http *h, http_daemon_ctx *ctx);
} http_acceptor_opts;
/* fd is the acceptor's on success, the caller's to close on failure. */
int http__acceptor_start(http_acceptor **out, const http_acceptor_opts *o, int fd);
void http__acceptor_quiesce(http_acceptor *a); /* stops accepting, closes the socket */
/* Stops the workers, then their daemons (their connections close). */
void http__acceptor_free(http_acceptor *a);
/* From the connection notification: the connection is set up (STARTED, in the worker's
 * thread), and closed (its counts given back). */
void http__worker_started(http_worker *w);
void http__worker_release(http_worker *w, const uint8_t address[16]);
/* After MHD_resume_connection on one of w's connections, from any thread (w NULL: nothing). */
void http__worker_wake(http_worker *w);

/* http_tls.c: the TLS daemon's extra options (up to 3 items with the END), and a new TLS
 * connection's set-up (credentials current now, client certificate request). */
size_t http__tls_options(struct MHD_OptionItem *opts);
void http__tls_conn_start(http_conn *c, struct MHD_Connection *conn);

/* http_async.c */
enum MHD_Result http__handle_tsa(http_req *q);
enum MHD_Result http__handle_evidence(http_req *q);
/* A GET that reads the ledger: run it on the read pool (503 when the pool is busy). */
enum MHD_Result http__handle_read(http_req *q, const char *url);
/* The access handler's call after a suspended request was resumed. */
enum MHD_Result http__resumed(http_req *q);
/* POST /v1/cases/<case>/events, once the body is complete. */
enum MHD_Result http__handle_case_append(http_req *q);

#endif
