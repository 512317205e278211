/*
 * server_int.h - private to the daemon's own files (server.c, http.c,
 * config.c): the server object, its metrics, and the MHD-free request
 * handlers that server.c implements and http.c calls.  Nothing outside tsa/
 * includes it.
 */
#ifndef TSA_SERVER_INT_H
#define TSA_SERVER_INT_H

#include "ledger/ledger.h"
#include "ledger/mirror.h"
#include "tsa/server.h"
#include "tsa/tsa.h"

#include <stdatomic.h>

/* HTTP status codes counted in /metrics; anything else lands in "other". */
#define SERVER_CODE_SLOTS 14
extern const unsigned server_metric_codes[SERVER_CODE_SLOTS];

/* Latency histogram upper bounds in seconds (the +Inf bucket is implicit). */
#define SERVER_LATENCY_BUCKETS 12
extern const double server_latency_bounds[SERVER_LATENCY_BUCKETS];

typedef struct server_metrics {
    _Atomic uint64_t requests[SERVER_CODE_SLOTS + 1];
    _Atomic uint64_t latency_buckets[SERVER_LATENCY_BUCKETS + 1]; /* non-cumulative */
    _Atomic uint64_t latency_count;
    _Atomic uint64_t latency_sum_us;
    _Atomic uint64_t tokens_granted;          /* tokens actually sent (leaf committed) */
    _Atomic uint64_t tokens_rejected[32];     /* rejections sent, by failure bit */
    _Atomic uint64_t evidence_created;
    _Atomic uint64_t overloaded;              /* 503 for a full ledger queue */
} server_metrics;

struct server_http; /* http.c */

struct server {
    const server_config *cfg;
    certs_signer *signer;
    EVP_PKEY *log_key;
    tsa *tsa;
    ledger *ledger;
    uint32_t boot_epoch;
    char address[80];           /* "ADDR:PORT" actually bound */
    struct server_http *http;
    nt_buf cert_der[RECEIPT_MAX_CERTS]; /* TSA certificate then its chain, for receipts */
    size_t cert_count;
    nt_buf receipt_certs;       /* receipt_encode's text of that "certificates" array, made once */
    char key_type[24];          /* "ec-p256", "rsa-2048", ... for /healthz */
    server_metrics metrics;
    _Atomic int stopping;       /* set by server_shutdown: no new appends */
    _Atomic int64_t active;     /* requests between first callback and completion */
    _Atomic int64_t pending;    /* appends queued whose callback has not run */
    int shut_down;
    mirror *mirror;             /* the git mirror thread; NULL when mirror.path is null */
    nt_buf trust_pem;           /* POST /v1/verify trust anchor: the chain's last certificate */
    nt_buf log_vkey;            /* POST /v1/verify: the log's C2SP vkey line */
    unsigned verify_max;        /* verifications running at once at most (the rest get 503) */
    _Atomic unsigned verifying; /* verifications running now */
};

/* A reply built by a handler; http.c turns it into an MHD response. */
typedef struct server_reply {
    unsigned status;
    const char *content_type;   /* static string */
    nt_buf body;
    const char *allow;          /* Allow header for 405, static */
    unsigned retry_after;       /* seconds, 0 = no header */
    int www_authenticate;       /* add WWW-Authenticate: Bearer */
    char location[64];          /* Location header when not empty */
    int close;                  /* ask for Connection: close */
    int web;                    /* a page file: add server_web_headers (CSP, nosniff, ...) */
} server_reply;

/* 1 if s[0..n) is 1..64 characters of [A-Za-z0-9._-]: API key ids, evidence kinds. */
int server_name_valid(const char *s, size_t n);

void server_reply_init(server_reply *r);
void server_reply_dispose(server_reply *r);
/* A JSON error body {"error":code,"message":...,"field":...}; field may be NULL. */
void server_reply_error(server_reply *r, unsigned status, const char *code, const char *field,
                        const char *fmt, ...) NT_PRINTF(5, 6);

/* GET handlers.  They always fill `r` (errors as JSON replies). */
void server_get_healthz(server_reply *r, server *s);
void server_get_metrics(server_reply *r, server *s);
void server_get_checkpoint(server_reply *r, server *s);
void server_get_receipt(server_reply *r, server *s, const char *index_text);
void server_get_receipts(server_reply *r, server *s, const char *digest);
void server_get_proof_inclusion(server_reply *r, server *s, const char *index, const char *size);
void server_get_proof_consistency(server_reply *r, server *s, const char *from, const char *to);

/* A parsed evidence request. */
typedef struct server_evidence {
    record_alg alg;
    nt_buf digest;
    char kind[65];
    int has_metadata;
    nt_buf metadata;            /* json_dumps(metadata, JSON_COMPACT | JSON_SORT_KEYS) */
} server_evidence;

void server_evidence_init(server_evidence *e);
void server_evidence_dispose(server_evidence *e);
/* 0 and *e filled, or -1 and `r` filled with the 400 reply naming the field. */
int server_evidence_parse(server_evidence *e, server_reply *r, server *s, nt_bytes body);

/*
 * POST /v1/verify: {"receipt": <object or JSON text>, "digest": "<alg>:<hex>"}
 * checked by the offline verifier against this server's own TSA root and log
 * key.  200 with the JSON report whatever its indication; 400 naming the
 * field for a malformed body; 503 when verify_max verifications are running.
 */
void server_post_verify(server_reply *r, server *s, nt_bytes body, const char *format,
                        const char *lang);

/*
 * web.c: the verification page (docs/VERIFY-PAGE.md).  server_web_get serves
 * "/", "/verify" and "/web/<file>" (404 when web.verify_page is false);
 * server_get_trust is GET /v1/trust; server_post_verify_report is POST
 * /v1/verify-report (shares the verify_max cap); server_web_pdf renders the
 * report of POST /v1/verify?format=pdf (0, or -1 with `r` the error reply).
 * server_web_headers: NULL-terminated name, value pairs for page files.
 */
struct verifier_report;
extern const char *const server_web_headers[];
void server_web_get(server_reply *r, server *s, const char *url);
void server_get_trust(server_reply *r, server *s);
void server_post_verify_report(server_reply *r, server *s, nt_bytes body);
int server_web_pdf(server_reply *r, const struct verifier_report *rep, const char *lang);

/* A JSON reply (takes `j`; NULL = out of memory). */
struct json_t;
/*
 * web.c: start POST /v1/verify or /v1/verify-report: take one of the
 * verify_max slots and parse the body, a JSON object whose members are only
 * member1 and member2.  0 and *out the object, or -1 with `r` the 503/400
 * reply.  The slot is taken in both cases (release it with
 * atomic_fetch_sub(&s->verifying, 1)); *out (maybe NULL) is the caller's.
 */
int server_verify_enter(struct json_t **out, server_reply *r, server *s, nt_bytes body,
                        const char *member1, const char *member2);
void server_reply_json(server_reply *r, unsigned status, struct json_t *j);

/* 201 with the receipt of leaf `index` (or a 500 JSON reply). */
void server_evidence_created(server_reply *r, server *s, uint64_t index);

/* The receipt JSON of leaf `index` (certificates from the signer) appended to out. */
int server_receipt_json(nt_buf *out, server *s, uint64_t index);

/* Record one finished request in the metrics. */
void server_metrics_request(server *s, unsigned status, uint64_t latency_ns);

/* http.c */
int server_http_start(struct server_http **out, server *s, int listen_fd, unsigned threads);
/* Stop accepting new connections (the listening socket is closed). */
void server_http_quiesce(struct server_http *h);
/* Stop the worker threads and close every connection.  NULL ok. */
void server_http_stop(struct server_http *h);

/* server_datadir.c: read data_dir/state/boot-epoch (0 when missing; NT_ECORRUPT when not a
 * decimal below 2^32 - 1), then store epoch + 1 (bump) or max(epoch, at_least) durably;
 * *out (may be NULL) gets the value stored. */
int server__boot_epoch_set(uint32_t *out, const char *data_dir, int bump, uint32_t at_least);

#endif
