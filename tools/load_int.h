/*
 * load_int.h - private declarations shared by the files of notarium-load, the
 * load generator and end-to-end checker (tools/load_*.c; see load_main.c for
 * what the tool does).  load_main.c parses options and dispatches, load_http.c
 * frames HTTP/1.1 and holds the blocking client of the check modes,
 * load_reply.c builds requests and checks replies, load_run.c is the epoll
 * load run, load_check.c the --check-records / --check-consistency modes.
 */
#ifndef TOOLS_LOAD_INT_H
#define TOOLS_LOAD_INT_H

#include "ledger/merkle.h"
#include "ledger/note.h"
#include "ledger/receipt.h"
#include "ledger/record.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ts.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LOAD_MAX_CONNECTIONS      20000u /* --hold: 10,000 idle keep-alive connections */
#define LOAD_MAX_THREADS          64u
#define LOAD_DEFAULT_MAX_REQUESTS 1000000ull
#define LOAD_HARD_MAX_REQUESTS    10000000ull
#define LOAD_MAX_DURATION_S       3600.0
#define LOAD_MAX_HEADER           16384u
#define LOAD_MAX_BODY             (16u * 1024u * 1024u)
#define LOAD_RECONNECT_NS         20000000ull /* 20 ms between refused connects: a restarting server */
#define LOAD_CHECK_TIMEOUT_S      10

typedef struct load_opts {
    struct sockaddr_in addr;
    char host[80];  /* Host header value: "127.0.0.1:3161" */
    char path[256]; /* request path for the load run */
    unsigned connections;
    unsigned threads;
    double duration_s;
    uint64_t max_requests;
    record_alg alg;
    const EVP_MD *md;
    int evidence;
    unsigned cases; /* --case-events N: evidence mode posting events to N cases */
    char case_prefix[48];
    const char *api_key; /* sent with --evidence, and on /tsa when given */
    double rate;         /* --rate: requests per second over all connections; 0 = closed loop */
    const char *record_path;
    int stop_on_reject;
    const char *check_records;
    const char *check_consistency;
    const char *vkey_path;
    const char *save_checkpoint;
    int no_keepalive;  /* --no-keepalive: "Connection: close", a new TCP connection per request */
    double hold_s;     /* --hold S: keep the connections open and idle S seconds after the run */
    uint64_t stall_ms; /* --stall-ms: a request still unanswered this long at the end fails the
                          run; 0 = reported only */
} load_opts;

typedef struct http_resp {
    int status;
    size_t header_len; /* bytes up to and including the blank line */
    size_t body_len;
    int close; /* the server will close the connection after this response */
} http_resp;

typedef struct req_state {
    uint8_t digest[RECORD_MAX_DIGEST];
    size_t digest_len;
    uint8_t nonce[8];
    /* The connection's TimeStampReq, built once: where its imprint and nonce are
     * in the request's bytes (0: not built yet).  Later requests rewrite only those. */
    size_t tpl_digest_at;
    size_t tpl_nonce_at;
} req_state;

typedef enum reply_kind {
    REPLY_GRANTED = 0,
    REPLY_REJECTED = 1, /* a clean refusal: PKIStatus rejection, or HTTP 503 */
    REPLY_ERROR = 2,    /* anything else: wrong status, undecodable, mismatched echo */
} reply_kind;

typedef struct client {
    const load_opts *o;
    int fd;
    nt_buf in;
} client;

int load__build_evidence_request(nt_buf *out, req_state *st, const load_opts *o, uint64_t seq);
/* --case-events: POST /v1/cases/<prefix>-<seq % cases>/events, an event with a random artifact. */
int load__build_case_request(nt_buf *out, req_state *st, const load_opts *o, uint64_t seq);
int load__build_tsa_request(nt_buf *out, req_state *st, const load_opts *o);
int load__check_consistency(const load_opts *o);
reply_kind load__check_evidence_reply(const load_opts *o, const req_state *st, int status,
                                      const uint8_t *body, size_t len, char *why, size_t why_len);
/* A case event's 201: its receipt's leaf is a case event (the artifact is inside its body). */
reply_kind load__check_case_reply(const load_opts *o, const req_state *st, int status,
                                  const uint8_t *body, size_t len, char *why, size_t why_len);
int load__check_records(const load_opts *o);
reply_kind load__check_tsa_reply(const load_opts *o, const req_state *st, int status,
                                 const uint8_t *body, size_t len, char *why, size_t why_len);
void load__client_close(client *c);
int load__client_get(int *status_out, nt_buf *body_out, client *c, const char *path);
extern FILE *load__record;
int load__http_parse(http_resp *out, const uint8_t *p, size_t len);
int load__run(const load_opts *o);
void load__on_signal(int sig);
int load__sock_open(int *fd_out, const struct sockaddr_in *addr, int nonblock);

#endif
