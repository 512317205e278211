/*
 * http_int.h - private to the two files of the HTTP front end, the only ones
 * that include <microhttpd.h>: http.c (the daemon, routing, HTTP rules,
 * connection limits) and http_async.c (the requests answered later: ledger
 * appends waiting for their commit, ledger reads run on the read pool).
 */
#ifndef TSA_HTTP_INT_H
#define TSA_HTTP_INT_H

#include "tsa/server_int.h"

#include <microhttpd.h>

#define TSA_REPLY_TYPE "application/timestamp-reply"

typedef struct http_ticket http_ticket; /* http_async.c */

struct server_http {
    struct MHD_Daemon *daemon;
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
    ROUTE_CASE,          /* server_cases_read.c: GET /v1/cases/<case> */
    ROUTE_CASE_BUNDLE,   /* server_cases_read.c: GET /v1/cases/<case>/bundle */
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
    int replied;
    int begun;               /* the first access-handler call was made */
    int nul_in_target;       /* the raw request target has a percent-encoded NUL */
    server_conn *guard_conn; /* this connection in the guard; NULL = untracked */
    int suspended;           /* waiting for the ledger (an append or a read) */
    int abandoned;           /* answered by server_http_abandon, not by the ledger */
    int append_error;        /* written by the callback before it resumes us */
    uint64_t append_index;
    server_reply read_reply; /* a ledger read's reply, moved here before the resume */
    tsa_result result;       /* /tsa and /v1/evidence */
    server_evidence evidence;
    server_case_req *cse;      /* POST /v1/cases/<case>/events */
    int case_phase;            /* 1 waiting for the case's turn, 2 waiting for the commit */
    char case_id[132];         /* the <case> of a case route, as in the URL (checked later) */
    const server_api_key *key; /* the API key presented (borrowed from cfg), NULL = none */
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
