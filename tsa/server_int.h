/*
 * server_int.h - private to the daemon's own files (server*.c, http*.c,
 * config.c, web.c): the server object, its metrics, and the MHD-free request
 * handlers that server*.c implement and http.c calls.  Nothing outside tsa/
 * includes it.
 */
#ifndef TSA_SERVER_INT_H
#define TSA_SERVER_INT_H

#include "ledger/ledger.h"
#include "ledger/mirror.h"
#include "tsa/server.h"
#include "tsa/tsa.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

/* HTTP status codes counted in /metrics; anything else lands in "other". */
#define SERVER_CODE_SLOTS 15
extern const unsigned server_metric_codes[SERVER_CODE_SLOTS];

/* Latency histogram upper bounds in seconds (the +Inf bucket is implicit). */
#define SERVER_LATENCY_BUCKETS 12
extern const double server_latency_bounds[SERVER_LATENCY_BUCKETS];

typedef struct server_metrics {
    _Atomic uint64_t requests[SERVER_CODE_SLOTS + 1];
    _Atomic uint64_t latency_buckets[SERVER_LATENCY_BUCKETS + 1]; /* non-cumulative */
    _Atomic uint64_t latency_count;
    _Atomic uint64_t latency_sum_us;
    _Atomic uint64_t tokens_granted;      /* tokens actually sent (leaf committed) */
    _Atomic uint64_t tokens_rejected[32]; /* rejections sent, by failure bit */
    _Atomic uint64_t evidence_created;
    _Atomic uint64_t overloaded;         /* 503 for a full ledger queue */
    _Atomic uint64_t tls_client_refused; /* handshakes refused for the client certificate */
} server_metrics;

struct server_http;                       /* http.c */
typedef struct server_guard server_guard; /* http_guard.c */
typedef struct server_conn server_conn;
typedef struct server_pool server_pool;   /* http_pool.c */
struct server_keys;                       /* server_keys.c */
struct server_tls;                        /* http_tls.c */
typedef struct server_cases server_cases; /* server_cases.c */

typedef struct server_limiter server_limiter; /* ratelimit.c */

/*
 * One signing identity in force (server_identity.c): its signer, its tsa (sharing the
 * serial counter and genTime of every other, tsa_new_shared), and what receipts and
 * /v1/certs show of it.  Immutable once published.
 */
typedef struct server_identity {
    char name[65];
    char policy[128];
    int is_default;
    certs_signer *signer;
    tsa *tsa;
    nt_buf cert_der[RECEIPT_MAX_CERTS]; /* TSA certificate then its chain */
    size_t cert_count;
    nt_buf certs_text;  /* receipt_certs_text of cert_der: receipts' "certificates" */
    uint8_t sha256[32]; /* SHA-256 of the certificate's DER */
    char key_type[24];  /* "ec-p256", "rsa-2048", ... */
} server_identity;

/*
 * What a reload replaces at once: the identities and the configuration whose API keys are
 * checked.  Reference-counted: the server holds one reference to the set in force, every
 * request one to the set it began with (http.c), so an in-flight request finishes with its
 * identity and keys while a newer set serves new requests; the last release frees it.
 */
typedef struct server_live {
    _Atomic long refs;
    const server_config *cfg; /* API keys (and the identities' sources) in force */
    server_config *owned;     /* cfg when a reload loaded it; NULL for the start-up one */
    server_identity ids[SERVER_MAX_IDENTITIES];
    size_t count;
    size_t dflt;              /* index of the default identity */
    struct server_keys *keys; /* certificate expiry for /metrics and the daily warning */
} server_live;

struct server_certs; /* server_certs.c: every signing certificate ever used */

struct server {
    const server_config *cfg; /* as started: settings a reload cannot change */
    EVP_PKEY *log_key;
    ledger *ledger;
    uint32_t boot_epoch;
    char address[80]; /* "ADDR:PORT" actually bound */
    struct server_http *http;
    server_live *_Atomic live;   /* the identities in force (server__live_acquire) */
    _Atomic uint64_t live_epoch; /* + live_readers: the guard of server__live_acquire */
    _Atomic int64_t live_readers[2];
    pthread_mutex_t reload_lock; /* one reload at a time */
    struct server_certs *certs;
    char config_path[512]; /* the file a reload re-reads; "" = data_dir/config.json */
    server_metrics metrics;
    _Atomic int stopping;    /* set by server_shutdown: no new appends */
    _Atomic int64_t active;  /* requests between first callback and completion */
    _Atomic int64_t pending; /* appends and ledger reads whose requests are suspended */
    int shut_down;
    int stuck;                  /* shutdown found the ledger stalled: it stays open */
    mirror *mirror;             /* the git mirror thread; NULL when mirror.path is null */
    nt_buf trust_pem;           /* POST /v1/verify trust anchor: the chain's last certificate */
    nt_buf log_vkey;            /* POST /v1/verify: the log's C2SP vkey line */
    unsigned verify_max;        /* verifications running at once at most (the rest get 503) */
    _Atomic unsigned verifying; /* verifications running now */
    server_guard *guard;        /* owned by http.c; NULL before the HTTP daemon starts */
    server_limiter *limiter;    /* the "limits" section's buckets; NULL = no limits */
    struct server_tls *tls;     /* the HTTPS listener's credentials; NULL = no tls section */
    char tls_address[80];       /* "ADDR:PORT" of tls.listen as bound, "" = none */
    char admin_address[80];     /* "ADDR:PORT" of admin_listen as bound, "" = none */
    server_cases *cases;        /* the cases with an append in flight (server_cases.c) */
};

/* A reply built by a handler; http.c turns it into an MHD response. */
typedef struct server_reply {
    unsigned status;
    const char *content_type; /* static string */
    nt_buf body;
    const char *allow;    /* Allow header for 405, static */
    unsigned retry_after; /* seconds, 0 = no header */
    int www_authenticate; /* add WWW-Authenticate: Bearer */
    char location[64];    /* Location header when not empty */
    int close;            /* ask for Connection: close */
    int web;              /* a page file: add server_web_headers (CSP, nosniff, ...) */
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
/* `reader` (here and below): the API key id the request presented, NULL for none. */
void server_get_receipt(server_reply *r, server *s, const char *index_text, const char *reader);

/* GET /v1/receipts page sizes (server_api.c; documented in HTTP-API.md). */
#define SERVER_RECEIPTS_DEFAULT 20
#define SERVER_RECEIPTS_MAX     100
/*
 * GET /v1/receipts?digest=..&limit=..&cursor=..: at most `limit` receipts
 * (default SERVER_RECEIPTS_DEFAULT, 1..SERVER_RECEIPTS_MAX) of the leaves with
 * that digest whose index is >= cursor (default 0), ascending, and
 * "next_cursor" when more follow.  NULL texts = parameter absent; a bad one
 * gets a 400 naming it.
 */
void server_get_receipts(server_reply *r, server *s, const char *digest, const char *limit,
                         const char *cursor, const char *reader);
void server_get_proof_inclusion(server_reply *r, server *s, const char *index, const char *size);
void server_get_proof_consistency(server_reply *r, server *s, const char *from, const char *to);

/* A parsed evidence request. */
typedef struct server_evidence {
    record_alg alg;
    nt_buf digest;
    char kind[65];
    int has_metadata;
    nt_buf metadata; /* json_dumps(metadata, JSON_COMPACT | JSON_SORT_KEYS) */
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
 * server_verify_case.c: a body with a "bundle" member (server_verify_is_case) is an
 * evidence bundle, {"bundle", "disclosures", "documents"}: the case report instead.
 */
int server_verify_is_case(nt_bytes body);
void server_post_verify_case(server_reply *r, server *s, nt_bytes body, const char *format,
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
/* A 200 reply of `content_type` whose body is *body, moved in (*body is left empty). */
void server_reply_take(server_reply *r, nt_buf *body, const char *content_type);

/* 201 with the receipt of leaf `index` (or a 500 JSON reply); `reader` wrote it. */
void server_evidence_created(server_reply *r, server *s, uint64_t index, const char *reader);

/* The receipt JSON of leaf `index` (certificates from the signer) appended to out; its
 * metadata only when `reader` wrote it (server_metadata_filter). */
int server_receipt_json(nt_buf *out, server *s, uint64_t index, const char *reader);

/*
 * Metadata is for the API key that wrote it: unless `reader` is the owner
 * recorded for rc's leaf, drop rc's metadata and set metadata_withheld.
 * 0, or a negative code when the owner cannot be read.
 */
int server_metadata_filter(receipt *rc, server *s, const char *reader);

/*
 * server_body.c: a POST body that must be one JSON object whose members are
 * among `members` (NULL-terminated): 0 and *out (the caller decrefs), or -1
 * with *out NULL and `r` filled: 400 "empty_body" for an empty (or blank)
 * body, 400 "malformed_json" saying where the JSON is wrong or what the body
 * is instead, 400 "unknown_member" naming the first member not in the list.
 */
int server_json_body(json_t **out, server_reply *r, nt_bytes body, const char *const members[]);

/* "<alg>:<hex>" -> algorithm and digest bytes; -1 with a 400 reply naming `field`. */
int server_digest_parse(record_alg *alg, nt_buf *digest, server_reply *r, const char *text,
                        const char *field);

/* Record one finished request in the metrics. */
void server_metrics_request(server *s, unsigned status, uint64_t latency_ns);

/* http_guard.c: open connections and the per-request deadline (see the file's comment).
 * Every function is thread-safe; server_guard_open/close pair up per connection, and
 * server_guard_open may return NULL (out of memory: counted but without deadline). */
int server_guard_new(server_guard **out, unsigned max, unsigned reserved,
                     unsigned request_timeout_ms);
void server_guard_free(server_guard *g);
server_conn *server_guard_open(server_guard *g, int fd);
void server_guard_close(server_guard *g, server_conn *c);
/* 1 while a request is being received (the deadline clock restarts), 0 once it is. */
void server_guard_reading(server_guard *g, server_conn *c, int reading);
/* 1 when more than max - reserved connections are open. */
int server_guard_pressed(server_guard *g);
unsigned server_guard_open_count(server_guard *g);
uint64_t server_guard_ended_total(server_guard *g);

/* http_pool.c: `threads` threads running queued jobs.  server_pool_submit
 * refuses (NT_EBUSY) unless an idle thread will take the job; freeing with
 * `abandon` detaches the threads instead of joining them (one may be stuck). */
typedef void (*server_job_fn)(void *ctx);
int server_pool_new(server_pool **out, unsigned threads, unsigned queue_max);
int server_pool_submit(server_pool *p, server_job_fn fn, void *ctx);
void server_pool_free(server_pool *p, int abandon);
/* A Prometheus label value (backslash, double quote, newline escaped), appended. */
int server__label_value(nt_buf *b, const char *v);
/* server_keys.c: load the log key as configured.  server__keys_check: the start-up checks
 * of one identity's signer (NT_EINVAL "TSA certificate <name> refused: <reason>"; warnings,
 * e.g. under 30 days left, are logged).  server__keys_expiry: the expiry gauges of a live set.
 * Then once a day (called per request, cheap otherwise) the checks are logged again;
 * /metrics gets notarium_certificate_days_left per certificate. */
int server__keys_load(server *s);
int server__keys_check(const server_identity *id, const server_config *c);
int server__keys_expiry(server_live *lv);
void server__keys_expiry_free(server_live *lv);
void server__keys_tick(server *s);
int server__keys_metrics(nt_buf *b, server *s);

/*
 * server_identity.c.  server__live_load: a new set from cfg's identities (signers loaded and
 * checked; no tsa yet), refs 1; server__live_start: their tsa objects, sharing the sequence
 * of `sibling` (NULL at start-up).  server__live_acquire: a reference to the set in force,
 * lock-free (a few atomics); server__live_release drops one.  server__live_publish: make
 * `lv` the set in force (one caller at a time: reload_lock) and drop the server's reference
 * to the old one once no reader can still be taking it.
 */
int server__live_load(server_live **out, server *s, const server_config *cfg, server_config *owned);
int server__live_start(server_live *lv, server *s, const tsa *sibling);
server_live *server__live_acquire(server *s);
void server__live_release(server_live *lv);
void server__live_publish(server *s, server_live *lv);
/* The identity of the request's reqPolicy, else the default one (which then rejects an
 * unknown policy with unacceptedPolicy). */
const server_identity *server__live_pick(const server_live *lv, nt_bytes request_der);
/* /healthz: "identities" array of lv.  NULL when out of memory. */
json_t *server__live_json(const server_live *lv);

/* server_certs.c: the registry of every signing certificate this ledger knows (loaded at
 * start from state/certs and the ledger's kind-0x04 leaves), the leaves recorded for new
 * ones, receipts' certificates per token, and GET /v1/certs[/<sha256>]. */
int server__certs_open(server *s);
void server__certs_free(server *s);
/* Record every identity of lv whose certificate the ledger does not hold yet (kind 0x04). */
int server__certs_record(server *s, const server_live *lv);
/* The "certificates" text (receipt_certs_text) for a token: its signer's chain; empty when
 * the signer is unknown.  Borrowed: lives as long as the server. */
nt_bytes server__certs_for_token(server *s, nt_bytes token);
/* GET /v1/certs (the identities in force: JSON with PEM chains) and GET /v1/certs/<sha256>
 * (PEM chain; DER of the certificate when `accept` names application/pkix-cert). */
void server_get_certs(server_reply *r, server *s, const char *url, const char *accept);

/*
 * http_tls.c: the HTTPS credentials (tls.cert, tls.key: refused when group or others may
 * read it, or when it is not the certificate's key; tls.client_ca).  server__tls_reload
 * loads the files again and swaps the new set in for new connections, atomically; on any
 * error the set in use stays (connections keep being served) and the code is returned.
 * server_tls_reload (server.h) is that with a log line.  server__tls_cert_sha256: the
 * current certificate's SHA-256.
 */
int server__tls_new(struct server_tls **out, const server_config *cfg);
void server__tls_free(struct server_tls *t);
int server__tls_reload(struct server_tls *t);
void server__tls_cert_sha256(uint8_t out[32], struct server_tls *t);

/* The listening sockets handed to server_http_start; -1 = that listener is off. */
typedef struct server_listen_fds {
    int plain;
    int tls;
    int admin;
} server_listen_fds;

/* server_listen.c: the sockets opts hands over (-1 where none; NULL opts = none), closing them,
 * binding the configured ones not handed over (s->address, tls_address, admin_address set),
 * then the port file and the log lines once they listen.  server.c: a socket's address. */
void server__listen_fds_take(server_listen_fds *fds, const server_options *opts);
void server__listen_fds_close(server_listen_fds *fds);
int server__listeners_open(server_listen_fds *fds, server *s, const server_options *opts);
int server__listeners_announce(server *s, const server_options *opts, unsigned threads);
int server__sock_address(char *out, size_t size, int fd);

/* http.c (takes every fd of `fds`, also on failure) */
int server_http_start(struct server_http **out, server *s, const server_listen_fds *fds,
                      unsigned threads);

/*
 * server_cases*.c: the case API (issue 11, docs/HTTP-API.md "Cases").  An
 * append (POST /v1/cases/<case>/events) goes: server_case_parse (400s) ->
 * server_case_enter (the case's turn: appends of one case run one at a time)
 * -> server_case_prepare (idempotent retry, head, body, token, leaf) ->
 * server_case_queue (the ledger, with the case records) -> server_case_created
 * once committed -> server_case_leave (the next waiter's turn).
 */
typedef struct server_case_req server_case_req;
typedef struct server_case_slot server_case_slot;
/* Called (with the table locked: it must not call back into it) when a waiter's turn has come:
 * 1 when the waiter takes it, 0 when it is gone (the turn passes on). */
typedef int (*server_case_wake_fn)(void *ctx);

/* The case routes: 1 "/v1/cases/<case>", 2 ".../events", 3 ".../bundle", 4 ".../certificate",
 * 0 not one of them;
 * <case> (anything up to 129 bytes without '/') copied to case_out (may be NULL). */
int server_case_path(char case_out[132], const char *url);
int server_cases_new(server_cases **out);
void server_cases_free(server_cases *c);
/* 0 and *out, or -1 with `r` the 400 reply naming the member (the values of attributes are
 * hashed into their commitments and wiped here). `idem_header`: Idempotency-Key or NULL. */
int server_case_parse(server_case_req **out, server_reply *r, server *s, const char *tenant,
                      const char *case_id, nt_bytes body, const char *idem_header);
void server_case_req_free(server_case_req *c);
/* 1: the turn is the caller's now; 0: queued, wake(ctx) comes later; -1: `r` is the reply
 * (503 case_busy: too many waiting). */
int server_case_enter(server_reply *r, server *s, server_case_req *c, server_case_wake_fn wake,
                      void *ctx);
/* Give up the turn (no-op without one). */
void server_case_leave(server *s, server_case_req *c);
/* With the turn: 1 = the leaf is ready for server_case_queue; 0 = `r` is the answer (200
 * replay of a retried event, 409 case_sealed / event_key_reused, 503, 500). */
int server_case_prepare(server_reply *r, server *s, server_case_req *c);
/* ledger_append_case_async of the prepared leaf (its codes). */
int server_case_queue(server *s, server_case_req *c, ledger_done_fn fn, void *ctx);
/* The reply once the ledger answered: 201 with the event, or 503 naming the failure. */
void server_case_created(server_reply *r, server *s, server_case_req *c, int error, uint64_t index);
/* GET /v1/cases/<case> (limit, cursor: NULL = absent) and GET /v1/cases/<case>/bundle, on the
 * read pool; the same 404 for a case that does not exist and one of another tenant. */
void server_get_case(server_reply *r, server *s, const char *case_id, const char *tenant,
                     const char *limit, const char *cursor);
void server_get_case_bundle(server_reply *r, server *s, const char *case_id, const char *tenant);
/* server_cases_cert.c: at start, the "cases" signer, when configured: the key file's mode (as
 * every private key's), the key and the certificate readable and a pair (NT_EINVAL naming
 * cases.certificate_*). */
int server__cases_signer_check(const server_config *cfg);
/* GET /v1/cases/<case>/certificate?lang=&format= (server_cases_cert.c), on the read pool: the
 * signed, time-stamped preservation certificate of a sealed case (docs/HTTP-API.md). */
void server_get_case_certificate(server_reply *r, server *s, const char *case_id,
                                 const char *tenant, const char *lang, const char *format);
/* Stop accepting new connections (the listening socket is closed). */
void server_http_quiesce(struct server_http *h);
/*
 * Answer every request still waiting for its commit with 503 (RFC 3161:
 * systemFailure; nothing was issued to it) and resume it, so that
 * server_http_stop finds no suspended connection.  A commit that completes
 * later is ignored.  Returns how many requests were answered that way.
 */
unsigned server_http_abandon(struct server_http *h);
/* Stop the worker threads and close every connection.  NULL ok. */
void server_http_stop(struct server_http *h);

/*
 * ratelimit.c: per-client rate limits (docs/OPERATING.md, "limits").  A route class is
 * one row of server_limit_classes (its name in the configuration and /metrics, and
 * whether its requests carry an API key); http.c maps its routes onto the rows.
 */
typedef struct server_limit_class {
    const char *name;
    const char *path; /* the route, for messages */
    int keyed;        /* reads an API key: per_key and per_tenant apply to requests with one */
    int anonymous;    /* answers requests without a key: per_address applies to those */
} server_limit_class;
enum { SERVER_LIMIT_TSA = 0, SERVER_LIMIT_EVIDENCE = 1, SERVER_LIMIT_VERIFY = 2 };
enum { SERVER_LIMIT_PER_ADDRESS = 0, SERVER_LIMIT_PER_KEY = 1, SERVER_LIMIT_PER_TENANT = 2 };
extern const server_limit_class server_limit_classes[SERVER_LIMIT_CLASSES];
extern const char *const server_limit_scope_names[SERVER_LIMIT_SCOPES];

/* A refusal: the scope whose bucket was empty and when it has a token again. */
typedef struct server_limit_verdict {
    unsigned scope;         /* SERVER_LIMIT_PER_* */
    uint64_t retry_ns;      /* until the bucket holds one token */
    unsigned retry_after_s; /* retry_ns in whole seconds, rounded up, at least 1 */
} server_limit_verdict;

/* The bucket table for cfg->limits (cfg must outlive it); NT_ENOMEM. */
int server_limiter_new(server_limiter **out, const server_config *cfg);
void server_limiter_free(server_limiter *l);
/*
 * Take one token from each bucket the request falls under: class `cls`, the API key
 * presented (an entry of cfg->api_keys: per_key and per_tenant), or when it presented
 * none (NULL) the client `address` (server__limit_address: per_address), at `now_ns` (a
 * monotonic clock).  0 when every bucket
 * had a token; 1 and *out when one was empty (tokens taken from the others are given
 * back, and the refusal is counted).  Thread-safe; no global lock.
 */
int server_limiter_take(server_limit_verdict *out, server_limiter *l, unsigned cls,
                        const uint8_t address[16], const server_api_key *key, uint64_t now_ns);
/* Buckets held now (a full bucket is not held). */
uint64_t server_limiter_tracked(server_limiter *l);
/* The /metrics families of the limiter, appended; -1 out of memory. */
int server_limiter_metrics(nt_buf *b, server_limiter *l);
/* The 429 reply with Retry-After: a DER rejection for class tsa, else a JSON body. */
void server_limit_reply(server_reply *r, unsigned cls, const server_limit_verdict *v);
/*
 * The arithmetic (GCRA): bucket state *tat, `interval_ns` per token, `burst` tokens.  0
 * and *tat advanced when a token was there, else 1 with *retry_ns until there is one.
 */
int server__bucket_take(uint64_t *tat, uint64_t now, uint64_t interval_ns, uint64_t burst,
                        uint64_t *retry_ns);
/* ns -> Retry-After seconds: rounded up, 1..86400. */
unsigned server__retry_after_s(uint64_t retry_ns);
/* A client address as 16 bytes (IPv4 as ::ffff:a.b.c.d, IPv6 cut to its /64); NT_EINVAL
 * for another family (out zeroed: all such clients share one bucket). */
struct sockaddr;
int server__limit_address(uint8_t out[16], const struct sockaddr *sa);

/* server_datadir.c: read data_dir/state/boot-epoch (0 when missing; NT_ECORRUPT when not a
 * decimal below 2^32 - 1), then store epoch + 1 (bump) or max(epoch, at_least) durably;
 * *out (may be NULL) gets the value stored. */
int server__boot_epoch_set(uint32_t *out, const char *data_dir, int bump, uint32_t at_least);

#endif
