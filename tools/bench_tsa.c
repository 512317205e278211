/*
 * bench_tsa.c - `notarium-bench-tsa`: tokens per second of the RFC 3161 core
 * without HTTP, to set beside `openssl speed` and the server figures of
 * scripts/bench.sh (docs/PERFORMANCE.md "## TSA throughput").  Mode "sign":
 * tsa_respond on real DER TimeStampReqs (SHA-256 imprint, 8-byte nonce,
 * certReq TRUE, as notarium-load sends them), no ledger.  Mode "anchor": the
 * same, then record_encode and a durable (fsync'd group commit) append to a
 * fresh ledger, counted when the append's callback reports the commit - what
 * the server does for POST /tsa minus HTTP.  Each mode runs on every thread
 * count asked, on a development PKI of the key type made in a temporary
 * directory.  One "RESULT ..." line per run for scripts.  Not run by ctest.
 */
#include "certs/certs.h"
#include "ledger/ledger.h"
#include "tsa/tsa.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ts.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BENCH_REQUESTS 256u /* distinct requests, reused round-robin */
#define BENCH_MAX_RUNS 16u

typedef struct bench_opts {
    const char *key_type;
    unsigned threads[BENCH_MAX_RUNS];
    size_t thread_runs;
    double duration;
    unsigned inflight;
    int sign;
    int anchor;
} bench_opts;

typedef struct bench_run {
    tsa *t;
    ledger *l; /* NULL: signing only */
    const nt_buf *reqs;
    uint64_t deadline_ns;
    sem_t slots;           /* appends in flight at most */
    atomic_ullong granted; /* tokens signed (sign) or durably appended (anchor) */
    atomic_ullong queued;
    atomic_ullong finished; /* append callbacks run */
    atomic_ullong failed;
    unsigned seed;
} bench_run;

static void usage(void)
{
    fprintf(stderr,
            "usage: notarium-bench-tsa [options]\n"
            "  --key-type T     ec-p256 (default), ec-p384, rsa-2048, rsa-3072, rsa-4096, sm2\n"
            "  --threads \"1 2\"  thread counts to run (default: 1 and the number of cores)\n"
            "  --duration S     seconds per run (default 3)\n"
            "  --inflight N     anchor mode: appends in flight at most (default 64)\n"
            "  --mode M         sign, anchor or both (default both)\n");
}

static int parse_threads(bench_opts *o, const char *s)
{
    char *end;
    o->thread_runs = 0;
    while (*s != '\0') {
        unsigned long v;
        if (*s == ' ' || *s == ',') {
            s++;
            continue;
        }
        v = strtoul(s, &end, 10);
        if (end == s || v < 1 || v > 256 || o->thread_runs == BENCH_MAX_RUNS) {
            return -1;
        }
        o->threads[o->thread_runs++] = (unsigned)v;
        s = end;
    }
    return o->thread_runs > 0 ? 0 : -1;
}

static int parse_args(bench_opts *o, int argc, char **argv)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);

    memset(o, 0, sizeof(*o));
    o->key_type = "ec-p256";
    o->duration = 3.0;
    o->inflight = 64;
    o->sign = o->anchor = 1;
    o->threads[0] = 1;
    o->thread_runs = 1;
    if (cores > 1) {
        o->threads[1] = (unsigned)(cores < 256 ? cores : 256);
        o->thread_runs = 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            exit(0);
        }
        if (val == NULL) {
            fprintf(stderr, "%s: missing value\n", a);
            return -1;
        }
        i++;
        if (strcmp(a, "--key-type") == 0) {
            o->key_type = val;
        } else if (strcmp(a, "--threads") == 0) {
            if (parse_threads(o, val) < 0) {
                fprintf(stderr, "bad --threads: %s\n", val);
                return -1;
            }
        } else if (strcmp(a, "--duration") == 0) {
            o->duration = strtod(val, NULL);
            if (!(o->duration > 0.0 && o->duration <= 3600.0)) {
                fprintf(stderr, "bad --duration: %s\n", val);
                return -1;
            }
        } else if (strcmp(a, "--inflight") == 0) {
            uint64_t v;
            if (nt_parse_u64(&v, val, strlen(val)) != 0 || v < 1 || v > 8192) {
                fprintf(stderr, "bad --inflight: %s\n", val);
                return -1;
            }
            o->inflight = (unsigned)v;
        } else if (strcmp(a, "--mode") == 0) {
            o->sign = strcmp(val, "sign") == 0 || strcmp(val, "both") == 0;
            o->anchor = strcmp(val, "anchor") == 0 || strcmp(val, "both") == 0;
            if (!o->sign && !o->anchor) {
                fprintf(stderr, "bad --mode: %s\n", val);
                return -1;
            }
        } else {
            fprintf(stderr, "unknown option %s\n", a);
            return -1;
        }
    }
    return 0;
}

/* One TimeStampReq as a client sends it: SHA-256 imprint, 8-byte nonce, certReq TRUE. */
static int make_request(nt_buf *out)
{
    TS_REQ *req = TS_REQ_new();
    TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
    X509_ALGOR *algo = X509_ALGOR_new();
    ASN1_INTEGER *nonce = NULL;
    BIGNUM *bn = NULL;
    unsigned char digest[32], nb[8], *der = NULL;
    int n, error = 0;

    NT_ENSURE(req != NULL && mi != NULL && algo != NULL, NT_ENOMEM, "out of memory");
    NT_OSSL(RAND_bytes(digest, sizeof(digest)) == 1 && RAND_bytes(nb, sizeof(nb)) == 1,
            "RAND_bytes");
    nb[0] |= 0x80;
    NT_OSSL(TS_REQ_set_version(req, 1) == 1 &&
                X509_ALGOR_set0(algo, OBJ_nid2obj(NID_sha256), V_ASN1_UNDEF, NULL) == 1 &&
                TS_MSG_IMPRINT_set_algo(mi, algo) == 1 &&
                TS_MSG_IMPRINT_set_msg(mi, digest, (int)sizeof(digest)) == 1 &&
                TS_REQ_set_msg_imprint(req, mi) == 1,
            "cannot build a request");
    NT_OSSL((bn = BN_bin2bn(nb, (int)sizeof(nb), NULL)) != NULL &&
                (nonce = BN_to_ASN1_INTEGER(bn, NULL)) != NULL &&
                TS_REQ_set_nonce(req, nonce) == 1 && TS_REQ_set_cert_req(req, 1) == 1,
            "cannot build a request");
    NT_OSSL((n = i2d_TS_REQ(req, &der)) > 0, "cannot encode a request");
    NT_TRY(nt_buf_set(out, der, (size_t)n));
done:
    OPENSSL_free(der);
    ASN1_INTEGER_free(nonce);
    BN_free(bn);
    X509_ALGOR_free(algo);
    TS_MSG_IMPRINT_free(mi);
    TS_REQ_free(req);
    return error;
}

static void on_appended(void *ctx, int error, uint64_t index)
{
    bench_run *run = ctx;
    (void)index;
    if (error == 0) {
        atomic_fetch_add(&run->granted, 1);
    } else {
        atomic_fetch_add(&run->failed, 1);
    }
    atomic_fetch_add(&run->finished, 1);
    sem_post(&run->slots);
}

/* Queue one granted token's leaf, as tsa/http.c does for POST /tsa. */
static int anchor(bench_run *run, const tsa_result *res, nt_buf *leaf)
{
    record rec;
    int rc;

    memset(&rec, 0, sizeof(rec));
    rec.kind = RECORD_KIND_TIMESTAMP;
    rec.alg = res->alg;
    rec.digest = nt_buf_bytes(&res->digest);
    rec.label = NT_BYTES("", 0);
    rec.token = nt_buf_bytes(&res->token);
    nt_buf_clear(leaf);
    if ((rc = record_encode(leaf, &rec)) < 0) {
        return rc;
    }
    while (sem_wait(&run->slots) != 0) {
    }
    while ((rc = ledger_append_async(run->l, nt_buf_bytes(leaf), NT_BYTES(NULL, 0), on_appended,
                                     run)) == NT_EBUSY) {
        usleep(50);
    }
    if (rc < 0) {
        sem_post(&run->slots);
        return rc;
    }
    atomic_fetch_add(&run->queued, 1);
    return 0;
}

static void *worker(void *arg)
{
    bench_run *run = arg;
    tsa_result res;
    nt_buf leaf = NT_BUF_INIT;
    unsigned i = (unsigned)rand_r(&run->seed);

    tsa_result_init(&res);
    while (nt_mono_ns() < run->deadline_ns) {
        const nt_buf *req = &run->reqs[i++ % BENCH_REQUESTS];
        if (tsa_respond(&res, run->t, nt_buf_bytes(req)) < 0 || !res.granted) {
            fprintf(stderr, "tsa_respond: %s\n", res.granted ? nt_error_last() : res.reason);
            atomic_fetch_add(&run->failed, 1);
            break;
        }
        if (run->l == NULL) {
            atomic_fetch_add(&run->granted, 1);
        } else if (anchor(run, &res, &leaf) < 0) {
            fprintf(stderr, "append: %s\n", nt_error_last());
            atomic_fetch_add(&run->failed, 1);
            break;
        }
    }
    tsa_result_dispose(&res);
    nt_buf_dispose(&leaf);
    return NULL;
}

/* One timed run; prints its line.  Returns 0 or -1. */
static int run_once(const bench_opts *o, tsa *t, ledger *l, const nt_buf *reqs, unsigned threads,
                    const char *mode)
{
    bench_run run;
    pthread_t th[256];
    uint64_t t0, t1;
    unsigned started = 0;
    double secs;
    int rc = 0;

    memset(&run, 0, sizeof(run));
    run.t = t;
    run.l = l;
    run.reqs = reqs;
    run.seed = threads * 7919u;
    if (sem_init(&run.slots, 0, o->inflight) != 0) {
        return -1;
    }
    t0 = nt_mono_ns();
    run.deadline_ns = t0 + (uint64_t)(o->duration * 1e9);
    for (; started < threads; started++) {
        if (pthread_create(&th[started], NULL, worker, &run) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            rc = -1;
            break;
        }
    }
    for (unsigned i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
    }
    while (atomic_load(&run.finished) < atomic_load(&run.queued)) {
        usleep(100); /* the last batch: counted once durable */
    }
    t1 = nt_mono_ns();
    sem_destroy(&run.slots);
    secs = (double)(t1 - t0) / 1e9;
    if (atomic_load(&run.failed) != 0) {
        rc = -1;
    }
    printf("RESULT mode=%s key=%s threads=%u tokens=%llu seconds=%.2f tps=%.0f errors=%llu\n", mode,
           o->key_type, threads, (unsigned long long)atomic_load(&run.granted), secs,
           (double)atomic_load(&run.granted) / secs, (unsigned long long)atomic_load(&run.failed));
    fflush(stdout);
    return rc;
}

static int open_ledger(ledger **out, const char *base, unsigned n, EVP_PKEY *log_key)
{
    char path[4200];
    ledger_options lo;

    snprintf(path, sizeof(path), "%s/ledger-%u", base, n);
    memset(&lo, 0, sizeof(lo));
    lo.path = path;
    lo.origin = "bench.example/tsa";
    lo.log_key = log_key;
    lo.map_size = (size_t)1 << 30;
    return ledger_open(out, &lo);
}

int main(int argc, char **argv)
{
    bench_opts o;
    certs_pki_options po;
    certs_key_type kt;
    tsa_config cfg;
    certs_signer *signer = NULL;
    EVP_PKEY *log_key = NULL;
    tsa *t = NULL;
    nt_buf reqs[BENCH_REQUESTS];
    char base[4096], pki[4200], cert[4300], key[4300], chain[4300], logk[4300];
    const char *tmp = getenv("TMPDIR");
    int rc = 0;

    if (parse_args(&o, argc, argv) != 0) {
        usage();
        return 2;
    }
    if (certs_key_type_parse(&kt, o.key_type) != 0 || kt == CERTS_KEY_ED25519) {
        fprintf(stderr, "unsupported key type %s\n", o.key_type);
        return 2;
    }
    nt_log_set_level(NT_LOG_WARN);
    snprintf(base, sizeof(base), "%s/nt-bench-tsa-XXXXXX", tmp != NULL ? tmp : "/tmp");
    if (mkdtemp(base) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    for (size_t i = 0; i < BENCH_REQUESTS; i++) {
        reqs[i] = (nt_buf)NT_BUF_INIT;
    }
    snprintf(pki, sizeof(pki), "%s/pki", base);
    snprintf(cert, sizeof(cert), "%s/tsa.pem", pki);
    snprintf(key, sizeof(key), "%s/tsa.key", pki);
    snprintf(chain, sizeof(chain), "%s/ca.pem", pki);
    snprintf(logk, sizeof(logk), "%s/log.key", pki);
    memset(&po, 0, sizeof(po));
    po.dir = pki;
    po.tsa_key = kt;
    po.log_origin = "bench.example/tsa";
    tsa_config_init(&cfg);
    cfg.policy = "1.3.6.1.4.1.57264.9.1";
    cfg.allow_unsynced_clock = 1; /* containers often report an unsynchronised clock */
    if (certs_pki_init(&po) != 0 || certs_signer_load_pem(&signer, cert, key, NULL, chain) != 0 ||
        certs_log_key_load(&log_key, logk) != 0 || tsa_new(&t, &cfg, signer) != 0) {
        fprintf(stderr, "set-up: %s\n", nt_error_last());
        rc = 1;
        goto done;
    }
    for (size_t i = 0; i < BENCH_REQUESTS; i++) {
        if (make_request(&reqs[i]) != 0) {
            fprintf(stderr, "request: %s\n", nt_error_last());
            rc = 1;
            goto done;
        }
    }
    printf("# notarium-bench-tsa: key %s, %.1f s per run, %u appends in flight at most "
           "(anchor), fsync'd ledger\n",
           o.key_type, o.duration, o.inflight);
    for (size_t r = 0; r < o.thread_runs && rc == 0; r++) {
        if (o.sign && run_once(&o, t, NULL, reqs, o.threads[r], "sign") < 0) {
            rc = 1;
        }
        if (o.anchor && rc == 0) {
            ledger *l = NULL;
            if (open_ledger(&l, base, o.threads[r], log_key) != 0) {
                fprintf(stderr, "ledger_open: %s\n", nt_error_last());
                rc = 1;
                break;
            }
            if (run_once(&o, t, l, reqs, o.threads[r], "anchor") < 0) {
                rc = 1;
            }
            ledger_close(l);
        }
    }
done:
    for (size_t i = 0; i < BENCH_REQUESTS; i++) {
        nt_buf_dispose(&reqs[i]);
    }
    tsa_free(t);
    certs_signer_free(signer);
    EVP_PKEY_free(log_key);
    {
        char cmd[4200];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
        if (system(cmd) != 0) {
            fprintf(stderr, "could not clean %s\n", base);
        }
    }
    return rc;
}
