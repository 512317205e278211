/*
 * ratelimit.c - per-client rate limits of the daemon (the "limits" section,
 * docs/OPERATING.md): token buckets per route class and scope (client
 * address, API key, tenant), kept in a fixed-size table, and the 429 reply of
 * a refused request.  MHD-free: http.c hands it the client address, the API
 * key and the time, before the body is read.
 *
 * Each bucket is one number, its theoretical arrival time (GCRA, the
 * token-bucket algorithm in the form ATM networks use): the bucket is full
 * when tat <= now, a request adds one emission interval T = 1 s / rate, and it
 * is refused when the new tat would lie more than burst * T ahead of now.
 * Memory is bounded: the table has max_buckets slots in sets of
 * LIMITER_WAYS; a bucket is placed in the set its (seeded) hash names, full
 * buckets are dropped when their set is visited (a full bucket and no bucket
 * are the same thing), and a new bucket in a set with no free slot replaces
 * the one closest to full (counted in notarium_rate_limit_evictions_total).
 * Sets are guarded by striped mutexes, so requests of different clients
 * rarely wait for each other and never for one global lock.
 */
#include "tsa/server_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define LIMITER_WAYS    8u   /* slots per set */
#define LIMITER_STRIPES 256u /* mutexes (a power of two) */
#define NS_PER_S        1000000000ull

/*
 * The route classes, one row each.  Adding one: a row here, SERVER_LIMIT_CLASSES in
 * tsa/server.h one higher (a missing row stops every start with a message, see
 * config_limits.c), and its routes in http.c's limit_class.  Its
 * name is then a member of "limits", a route label in /metrics and a class for overrides.
 * The /v1 writes that carry an API key (evidence, cases) belong to "evidence".
 */
const server_limit_class server_limit_classes[SERVER_LIMIT_CLASSES] = {
    /* name, path (for messages), keyed (per_key, per_tenant), anonymous (per_address) */
    {"tsa", "/tsa", 1, 1},
    {"evidence", "/v1/evidence", 1, 0},
    {"verify", "/v1/verify", 0, 1},
};

const char *const server_limit_scope_names[SERVER_LIMIT_SCOPES] = {"per_address", "per_key",
                                                                   "per_tenant"};

typedef struct limiter_slot {
    uint64_t tag; /* hash of (class, scope, identity); 0 = free */
    uint64_t tat; /* theoretical arrival time, ns on the caller's clock */
} limiter_slot;

typedef struct limiter_stripe {
    pthread_mutex_t mu;
    char pad[64 - sizeof(pthread_mutex_t) % 64]; /* one cache line or more each */
} limiter_stripe;

struct server_limiter {
    const server_config *cfg;
    uint64_t seed[2];
    size_t set_mask; /* sets - 1 (sets is a power of two) */
    limiter_slot *slots;
    limiter_stripe stripes[LIMITER_STRIPES];
    /* per key index and class: the per_key and per_tenant limits after overrides */
    server_limit key_limit[SERVER_MAX_API_KEYS][SERVER_LIMIT_CLASSES];
    server_limit tenant_limit[SERVER_MAX_API_KEYS][SERVER_LIMIT_CLASSES];
    _Atomic uint64_t refused[SERVER_LIMIT_CLASSES][SERVER_LIMIT_SCOPES];
    _Atomic uint64_t evicted;
    _Atomic int64_t tracked;
};

/* ------------------------------------------------------------------ bucket arithmetic */

int server__bucket_take(uint64_t *tat, uint64_t now, uint64_t interval_ns, uint64_t burst,
                        uint64_t *retry_ns)
{
    uint64_t span = interval_ns * burst; /* both bounded by the config: no overflow */
    uint64_t t = *tat;

    /* The clock went back (or tat comes from a later clock): a bucket is never
     * emptier than empty, so a refusal waits at most one interval. */
    if (t > now + span) {
        t = now + span;
    }
    if (t < now) {
        t = now; /* full: the time it spent full is not saved up beyond the burst */
    }
    if (t + interval_ns > now + span) {
        *retry_ns = t + interval_ns - span - now;
        *tat = t;
        return 1;
    }
    *tat = t + interval_ns;
    *retry_ns = 0;
    return 0;
}

unsigned server__retry_after_s(uint64_t retry_ns)
{
    uint64_t s = (retry_ns + NS_PER_S - 1) / NS_PER_S;
    return s < 1 ? 1 : s > 86400 ? 86400 : (unsigned)s;
}

int server__limit_address(uint8_t out[16], const struct sockaddr *sa)
{
    memset(out, 0, 16);
    if (sa != NULL && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        out[10] = 0xff; /* ::ffff:a.b.c.d, as IPv6 writes an IPv4 peer */
        out[11] = 0xff;
        memcpy(out + 12, &in->sin_addr, 4);
        return 0;
    }
    if (sa != NULL && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        memcpy(out, &in6->sin6_addr, 16);
        if (memcmp(out, mapped, sizeof(mapped)) != 0) {
            memset(out + 8, 0, 8); /* one IPv6 client holds a whole /64 */
        }
        return 0;
    }
    return nt_error_set(NT_EINVAL, "not an IP address (family %d)",
                        sa != NULL ? sa->sa_family : -1);
}

/* ------------------------------------------------------------------ the table */

/* The bucket's tag: the seed is random per process (nt_hash64), so nobody can aim identities at
 * one set to push other buckets out. */
static uint64_t limiter_hash(const server_limiter *l, unsigned cls, unsigned scope, const void *id,
                             size_t len)
{
    uint64_t h = nt_hash64(l->seed, (uint64_t)cls << 8 | scope, id, len);
    return h != 0 ? h : 1;
}

/*
 * Take a token from the bucket `tag` (created full when absent).  1 and
 * *retry_ns when refused.  Full buckets met in the set are dropped on the way.
 */
static int limiter_take_one(server_limiter *l, uint64_t tag, const server_limit *lim, uint64_t now,
                            uint64_t *retry_ns)
{
    size_t set = (size_t)(tag >> 7) & l->set_mask;
    limiter_slot *s = l->slots + set * LIMITER_WAYS;
    pthread_mutex_t *mu = &l->stripes[set & (LIMITER_STRIPES - 1)].mu;
    limiter_slot *hit = NULL, *victim = NULL;
    uint64_t interval = NS_PER_S / lim->rate;
    int refused;

    pthread_mutex_lock(mu);
    for (unsigned i = 0; i < LIMITER_WAYS; i++) {
        if (s[i].tag == tag) {
            hit = &s[i];
        } else if (s[i].tag != 0 && s[i].tat <= now) {
            s[i].tag = 0; /* full again: forget it */
            atomic_fetch_sub(&l->tracked, 1);
        }
        if (s[i].tag == 0 && victim == NULL) {
            victim = &s[i];
        }
    }
    if (hit == NULL) {
        if (victim == NULL) {
            victim = &s[0]; /* no free slot: replace the bucket closest to full */
            for (unsigned i = 1; i < LIMITER_WAYS; i++) {
                if (s[i].tat < victim->tat) {
                    victim = &s[i];
                }
            }
            atomic_fetch_add(&l->evicted, 1);
        } else {
            atomic_fetch_add(&l->tracked, 1);
        }
        hit = victim;
        hit->tag = tag;
        hit->tat = now; /* full */
    }
    refused = server__bucket_take(&hit->tat, now, interval, lim->burst, retry_ns);
    pthread_mutex_unlock(mu);
    return refused;
}

/* Give back the token limiter_take_one took (a later scope refused the request). */
static void limiter_refund(server_limiter *l, uint64_t tag, const server_limit *lim)
{
    size_t set = (size_t)(tag >> 7) & l->set_mask;
    limiter_slot *s = l->slots + set * LIMITER_WAYS;
    pthread_mutex_t *mu = &l->stripes[set & (LIMITER_STRIPES - 1)].mu;
    uint64_t interval = NS_PER_S / lim->rate;

    pthread_mutex_lock(mu);
    for (unsigned i = 0; i < LIMITER_WAYS; i++) {
        if (s[i].tag == tag) {
            s[i].tat = s[i].tat > interval ? s[i].tat - interval : 0;
            break;
        }
    }
    pthread_mutex_unlock(mu);
}

static const server_limit *override_for(const server_config *cfg, const char *key_id,
                                        const char *tenant, unsigned cls)
{
    const server_limits *lim = &cfg->limits;
    for (size_t i = 0; i < lim->override_count; i++) {
        const server_limit_override *o = &lim->overrides[i];
        if (o->has[cls] && ((key_id != NULL && strcmp(o->key_id, key_id) == 0) ||
                            (tenant != NULL && strcmp(o->tenant, tenant) == 0))) {
            return &o->limit[cls];
        }
    }
    return NULL;
}

int server_limiter_new(server_limiter **out, const server_config *cfg)
{
    server_limiter *l = NULL;
    size_t sets = 1, want, stripes_done = 0;
    int error = 0;

    *out = NULL;
    NT_ENSURE((l = nt_calloc(1, sizeof(*l))) != NULL, NT_ENOMEM, "out of memory");
    l->cfg = cfg;
    want = (cfg->limits.max_buckets + LIMITER_WAYS - 1) / LIMITER_WAYS;
    while (sets < want) {
        sets <<= 1;
    }
    l->set_mask = sets - 1;
    NT_ENSURE((l->slots = nt_calloc(sets * LIMITER_WAYS, sizeof(limiter_slot))) != NULL, NT_ENOMEM,
              "out of memory for %zu rate-limit buckets", sets * LIMITER_WAYS);
    NT_OSSL(RAND_bytes((unsigned char *)l->seed, sizeof(l->seed)), "RAND_bytes failed");
    for (; stripes_done < LIMITER_STRIPES; stripes_done++) {
        NT_ENSURE(pthread_mutex_init(&l->stripes[stripes_done].mu, NULL) == 0, NT_ENOMEM,
                  "pthread_mutex_init failed");
    }
    for (size_t k = 0; k < cfg->api_key_count; k++) {
        const server_api_key *key = &cfg->api_keys[k];
        for (unsigned c = 0; c < SERVER_LIMIT_CLASSES; c++) {
            const server_limit *o = override_for(cfg, key->id, NULL, c);
            const server_limit *t = override_for(cfg, NULL, key->tenant, c);
            l->key_limit[k][c] = o != NULL ? *o : cfg->limits.limit[c][SERVER_LIMIT_PER_KEY];
            l->tenant_limit[k][c] = t != NULL ? *t : cfg->limits.limit[c][SERVER_LIMIT_PER_TENANT];
        }
    }
    *out = l;
    l = NULL;
done:
    if (l != NULL) {
        while (stripes_done > 0) {
            pthread_mutex_destroy(&l->stripes[--stripes_done].mu);
        }
        nt_free(l->slots);
        nt_free(l);
    }
    return error;
}

void server_limiter_free(server_limiter *l)
{
    if (l == NULL) {
        return;
    }
    for (size_t i = 0; i < LIMITER_STRIPES; i++) {
        pthread_mutex_destroy(&l->stripes[i].mu);
    }
    nt_free(l->slots);
    nt_free(l);
}

int server_limiter_take(server_limit_verdict *out, server_limiter *l, unsigned cls,
                        const uint8_t address[16], const server_api_key *key, uint64_t now_ns)
{
    const server_limits *cfg = &l->cfg->limits;
    const server_limit *lims[SERVER_LIMIT_SCOPES];
    uint64_t tags[SERVER_LIMIT_SCOPES] = {0};
    size_t k = 0;

    memset(out, 0, sizeof(*out));
    memset(lims, 0, sizeof(lims));
    /* A request with a key is that key's (and tenant's): a platform behind one address
     * is not limited by it; one without is its address's. */
    if (key == NULL || !server_limit_classes[cls].keyed) {
        lims[SERVER_LIMIT_PER_ADDRESS] = &cfg->limit[cls][SERVER_LIMIT_PER_ADDRESS];
        tags[SERVER_LIMIT_PER_ADDRESS] =
            limiter_hash(l, cls, SERVER_LIMIT_PER_ADDRESS, address, 16);
    } else {
        k = (size_t)(key - l->cfg->api_keys); /* key points into cfg->api_keys */
        lims[SERVER_LIMIT_PER_KEY] = &l->key_limit[k][cls];
        lims[SERVER_LIMIT_PER_TENANT] = &l->tenant_limit[k][cls];
        tags[SERVER_LIMIT_PER_KEY] =
            limiter_hash(l, cls, SERVER_LIMIT_PER_KEY, key->id, strlen(key->id));
        tags[SERVER_LIMIT_PER_TENANT] =
            limiter_hash(l, cls, SERVER_LIMIT_PER_TENANT, key->tenant, strlen(key->tenant));
    }
    for (unsigned sc = 0; sc < SERVER_LIMIT_SCOPES; sc++) {
        if (lims[sc] == NULL || lims[sc]->rate == 0) {
            continue;
        }
        if (limiter_take_one(l, tags[sc], lims[sc], now_ns, &out->retry_ns)) {
            for (unsigned back = 0; back < sc; back++) {
                if (lims[back] != NULL && lims[back]->rate != 0) {
                    limiter_refund(l, tags[back], lims[back]);
                }
            }
            out->scope = sc;
            out->retry_after_s = server__retry_after_s(out->retry_ns);
            atomic_fetch_add(&l->refused[cls][sc], 1);
            return 1;
        }
    }
    return 0;
}

uint64_t server_limiter_tracked(server_limiter *l)
{
    int64_t n = atomic_load(&l->tracked);
    return n > 0 ? (uint64_t)n : 0;
}

/* ------------------------------------------------------------------ replies and metrics */

void server_limit_reply(server_reply *r, unsigned cls, const server_limit_verdict *v)
{
    const char *scope = server_limit_scope_names[v->scope];
    char text[160];

    snprintf(text, sizeof(text), "rate limited (%s %s), retry after %u s",
             server_limit_classes[cls].name, scope, v->retry_after_s);
    if (cls == SERVER_LIMIT_TSA) {
        /* RFC 3161 2.4.2: PKIStatus rejection; no PKIFailureInfo bit means "over a rate"
         * and servers must not invent others, so failInfo is left out (it is OPTIONAL)
         * and statusString says why.  docs/HTTP-API.md. */
        nt_buf_clear(&r->body);
        if (tsa_response_rejection(&r->body, TSA_FAIL_NONE, text) < 0) {
            server_reply_error(r, 429, "rate_limited", NULL, "%s", text);
        } else {
            r->status = 429;
            r->content_type = "application/timestamp-reply";
        }
    } else {
        server_reply_json(r, 429,
                          json_pack("{s:s, s:s, s:s, s:i, s:s}", "error", "rate_limited", "limit",
                                    scope, "route", server_limit_classes[cls].name, "retry_after",
                                    (int)v->retry_after_s, "message", text));
    }
    r->retry_after = v->retry_after_s;
}

int server_limiter_metrics(nt_buf *b, server_limiter *l)
{
    int e = 0;

    e |= nt_buf_puts(b, "# HELP notarium_rate_limited_total Requests refused with 429 by a rate "
                        "limit, by route class and scope.\n"
                        "# TYPE notarium_rate_limited_total counter\n");
    for (unsigned c = 0; c < SERVER_LIMIT_CLASSES; c++) {
        for (unsigned sc = 0; sc < SERVER_LIMIT_SCOPES; sc++) {
            if (sc == SERVER_LIMIT_PER_ADDRESS ? !server_limit_classes[c].anonymous
                                               : !server_limit_classes[c].keyed) {
                continue; /* a scope the class never applies */
            }
            e |= nt_buf_printf(b, "notarium_rate_limited_total{route=\"%s\",scope=\"%s\"} %llu\n",
                               server_limit_classes[c].name, server_limit_scope_names[sc],
                               (unsigned long long)atomic_load(&l->refused[c][sc]));
        }
    }
    e |= nt_buf_printf(b,
                       "# HELP notarium_rate_limit_buckets Rate-limit buckets held (not full).\n"
                       "# TYPE notarium_rate_limit_buckets gauge\n"
                       "notarium_rate_limit_buckets %llu\n"
                       "# HELP notarium_rate_limit_buckets_max Size of the bucket table.\n"
                       "# TYPE notarium_rate_limit_buckets_max gauge\n"
                       "notarium_rate_limit_buckets_max %llu\n"
                       "# HELP notarium_rate_limit_evictions_total Buckets not yet full dropped "
                       "for a new one (table too small).\n"
                       "# TYPE notarium_rate_limit_evictions_total counter\n"
                       "notarium_rate_limit_evictions_total %llu\n",
                       (unsigned long long)server_limiter_tracked(l),
                       (unsigned long long)((l->set_mask + 1) * LIMITER_WAYS),
                       (unsigned long long)atomic_load(&l->evicted));
    return e != 0 ? -1 : 0;
}
