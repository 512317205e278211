/*
 * server_cases_int.h - private to the files of the case API (server_cases.c:
 * parsing and the per-case turn; server_cases_event.c: preparing an event and
 * the replies; server_cases_read.c: the reads and the bundle).
 */
#ifndef TSA_SERVER_CASES_INT_H
#define TSA_SERVER_CASES_INT_H

#include "tsa/server_int.h"

#include "ledger/event.h"

#include <pthread.h>

#define CASE_BUCKETS     256u
#define CASE_WAITING_MAX 256u /* requests waiting for one case's turn, at most */

typedef struct case_attr {
    char name[EVENT_ATTR_NAME_MAX + 1];
    uint8_t commitment[32];
    uint8_t salt[32];
    int server_salt; /* the server drew the salt: it goes back once, in the 201 */
} case_attr;

typedef struct case_art {
    char digest[160];
    char name[EVENT_ARTIFACT_NAME_MAX + 1];
    char role[EVENT_ROLE_MAX + 1];
    int has_name, has_role;
} case_art;

typedef struct case_waiter {
    struct case_waiter *next;
    server_case_wake_fn wake;
    void *ctx;
} case_waiter;

/* A case with an append in flight; exists only while one is. */
struct server_case_slot {
    struct server_case_slot *next;
    char ident[EVENT_TENANT_MAX + 1 + EVENT_CASE_MAX + 1]; /* tenant NUL case NUL */
    size_t ident_len;                                      /* without the last NUL */
    case_waiter *head, *tail;
    unsigned waiting;
};

struct server_cases {
    pthread_mutex_t mu;
    server_case_slot *buckets[CASE_BUCKETS];
};

struct server_case_req {
    char tenant[EVENT_TENANT_MAX + 1];
    char case_id[EVENT_CASE_MAX + 1];
    char event_key[LEDGER_EVENT_KEY_MAX + 1];
    char kind[EVENT_KIND_MAX + 1];
    case_art arts[EVENT_MAX_ARTIFACTS];
    size_t art_count;
    case_attr attrs[EVENT_MAX_ATTRIBUTES];
    size_t attr_count;
    uint8_t request_hash[32];
    server_case_slot *slot; /* the case's turn, once entered */
    /* prepared */
    uint64_t seq;
    uint8_t prev[32];
    nt_buf body, leaf;
    tsa_result result;
    uint64_t gen_ns;
};

/* server_cases_read.c, for server_cases_cert.c: the head of the tenant's case (0), or -1 with
 * `r` filled (400 bad id, the one 404 for absent and not-yours, 500). */
int server__case_head(ledger_case_head *h, server_reply *r, server *s, const char *case_id,
                      const char *tenant);
/* The case's evidence bundle (ledger_case_bundle with the chains in force) appended to out. */
int server__case_bundle(nt_buf *out, server *s, const char *tenant, const char *case_id);

#endif
