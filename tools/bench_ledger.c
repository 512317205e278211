/*
 * bench_ledger.c - `notarium-bench-ledger`: measures the ledger store alone
 * (ledger/store.c, no HTTP, no token signing).  Phase 1: durable appends per
 * second through the sequencer from N producer threads with a bounded number
 * of appends in flight (leaves of --leaf-bytes, fsync on unless --no-sync).
 * Phase 2 (with --leaves N): builds a tree of N leaves, then reports storage
 * bytes per leaf and the latency of inclusion and consistency proofs and of
 * receipts at that size, the time of a whole-ledger check (ledger_check) and of
 * rebuilding the digest index at open (ledger/index/ removed).  Results go to
 * docs/PERFORMANCE.md ("## Ledger"). Not run by ctest.
 */
#include "ledger/ledger.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct bench_opts {
    const char *dir;
    unsigned threads;
    uint64_t appends;
    size_t leaf_bytes;
    int no_sync;
    unsigned inflight;
    unsigned batch_max;
    unsigned window_us;
    uint64_t leaves;
    size_t tree_leaf_bytes;
    int tree_sync;
    unsigned samples;
    int keep;
} bench_opts;

typedef struct bench_run {
    ledger *l;
    sem_t slots;
    atomic_ullong done;
    atomic_ullong failed;
    atomic_ullong next; /* next leaf number to hand out */
    uint64_t total;
    size_t leaf_bytes;
    uint64_t seed_base;
} bench_run;

static void usage(void)
{
    fprintf(
        stderr,
        "usage: notarium-bench-ledger [options]\n"
        "  --dir DIR          where to create the ledgers (default: a new dir in $TMPDIR)\n"
        "  --threads N        producer threads (default 8)\n"
        "  --appends N        appends for the throughput phase (default 20000; 0 skips)\n"
        "  --leaf-bytes B     token bytes per leaf (default 1500, like a real token)\n"
        "  --inflight N       appends in flight at most (default 512)\n"
        "  --batch-max N      ledger batch_max (default 0 = the ledger's default)\n"
        "  --window-us N      ledger batch_window_us (default 0 = the ledger's default)\n"
        "  --no-sync          MDB_NOSYNC for the throughput phase (comparison only)\n"
        "  --leaves N         phase 2: build a tree of N leaves, measure proofs + storage\n"
        "  --tree-leaf-bytes B  token bytes per leaf for phase 2 (default: --leaf-bytes)\n"
        "  --tree-sync        build the phase 2 tree with fsync (default: no_sync to build fast)\n"
        "  --samples N        proofs per kind in phase 2 (default 20000)\n"
        "  --keep             keep the ledgers\n");
}

static int parse_u64(uint64_t *out, const char *s)
{
    if (s == NULL || nt_parse_u64(out, s, strlen(s)) != 0) {
        fprintf(stderr, "bad number: %s\n", s != NULL ? s : "(missing)");
        return -1;
    }
    return 0;
}

static int parse_args(bench_opts *o, int argc, char **argv)
{
    uint64_t v;
    memset(o, 0, sizeof(*o));
    o->threads = 8;
    o->appends = 20000;
    o->leaf_bytes = 1500;
    o->inflight = 512;
    o->samples = 20000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--no-sync") == 0) {
            o->no_sync = 1;
        } else if (strcmp(a, "--tree-sync") == 0) {
            o->tree_sync = 1;
        } else if (strcmp(a, "--keep") == 0) {
            o->keep = 1;
        } else if (strcmp(a, "--dir") == 0 && val != NULL) {
            o->dir = val;
            i++;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            exit(0);
        } else {
            if (parse_u64(&v, val) != 0) {
                usage();
                return -1;
            }
            i++;
            if (strcmp(a, "--threads") == 0 && v >= 1 && v <= 1024) {
                o->threads = (unsigned)v;
            } else if (strcmp(a, "--appends") == 0) {
                o->appends = v;
            } else if (strcmp(a, "--leaf-bytes") == 0 && v >= 1 && v <= RECORD_MAX_TOKEN) {
                o->leaf_bytes = (size_t)v;
            } else if (strcmp(a, "--inflight") == 0 && v >= 1 && v <= 1000000) {
                o->inflight = (unsigned)v;
            } else if (strcmp(a, "--batch-max") == 0 && v <= 1000000) {
                o->batch_max = (unsigned)v;
            } else if (strcmp(a, "--window-us") == 0 && v <= 10000000) {
                o->window_us = (unsigned)v;
            } else if (strcmp(a, "--leaves") == 0) {
                o->leaves = v;
            } else if (strcmp(a, "--tree-leaf-bytes") == 0 && v >= 1 && v <= RECORD_MAX_TOKEN) {
                o->tree_leaf_bytes = (size_t)v;
            } else if (strcmp(a, "--samples") == 0 && v >= 1 && v <= 10000000) {
                o->samples = (unsigned)v;
            } else {
                fprintf(stderr, "unknown or out-of-range option %s\n", a);
                usage();
                return -1;
            }
        }
    }
    if (o->tree_leaf_bytes == 0) {
        o->tree_leaf_bytes = o->leaf_bytes;
    }
    return 0;
}

/* A leaf template: digest bytes 4..35 are patched per append so every digest differs. */
static int bench_leaf_template(nt_buf *out, size_t token_bytes)
{
    int error = 0;
    uint8_t digest[32] = {0};
    nt_buf token = NT_BUF_INIT;
    record r;

    NT_TRY(nt_buf_grow(&token, token_bytes));
    for (size_t i = 0; i < token_bytes; i++) {
        token.ptr[i] = (uint8_t)(i * 31u + 7u);
    }
    token.ptr[0] = 0x30;
    token.len = token_bytes;
    memset(&r, 0, sizeof(r));
    r.kind = RECORD_KIND_TIMESTAMP;
    r.alg = RECORD_ALG_SHA256;
    r.digest = NT_BYTES(digest, sizeof(digest));
    r.token = nt_buf_bytes(&token);
    NT_TRY(record_encode(out, &r));
done:
    nt_buf_dispose(&token);
    return error;
}

static void bench_done(void *ctx, int error, uint64_t index)
{
    bench_run *run = ctx;
    (void)index;
    if (error != 0) {
        atomic_fetch_add(&run->failed, 1);
    }
    atomic_fetch_add(&run->done, 1);
    sem_post(&run->slots);
}

static void *bench_producer(void *arg)
{
    bench_run *run = arg;
    nt_buf leaf = NT_BUF_INIT;

    if (bench_leaf_template(&leaf, run->leaf_bytes) != 0) {
        fprintf(stderr, "leaf template: %s\n", nt_error_last());
        exit(1);
    }
    for (;;) {
        uint64_t n = atomic_fetch_add(&run->next, 1);
        int rc;
        if (n >= run->total) {
            break;
        }
        nt_store_u64be(leaf.ptr + 4, run->seed_base + n);
        while (sem_wait(&run->slots) != 0) {
        }
        while ((rc = ledger_append_async(run->l, nt_buf_bytes(&leaf), NT_BYTES(NULL, 0), bench_done,
                                         run)) == NT_EBUSY) {
            usleep(50);
        }
        if (rc != 0) {
            fprintf(stderr, "append: %s\n", nt_error_last());
            atomic_fetch_add(&run->failed, 1);
            atomic_fetch_add(&run->done, 1);
            sem_post(&run->slots);
        }
    }
    nt_buf_dispose(&leaf);
    return NULL;
}

/* Append `total` leaves through the sequencer; returns seconds, -1 on failure. */
static double bench_appends(ledger *l, const bench_opts *o, uint64_t total, size_t leaf_bytes,
                            uint64_t seed_base)
{
    bench_run run;
    pthread_t *th = calloc(o->threads, sizeof(*th));
    uint64_t t0, t1;

    memset(&run, 0, sizeof(run));
    run.l = l;
    run.total = total;
    run.leaf_bytes = leaf_bytes;
    run.seed_base = seed_base;
    if (th == NULL || sem_init(&run.slots, 0, o->inflight) != 0) {
        free(th);
        return -1;
    }
    t0 = nt_mono_ns();
    for (unsigned t = 0; t < o->threads; t++) {
        if (pthread_create(&th[t], NULL, bench_producer, &run) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            exit(1);
        }
    }
    for (unsigned t = 0; t < o->threads; t++) {
        pthread_join(th[t], NULL);
    }
    while (atomic_load(&run.done) < total) {
        usleep(100);
    }
    t1 = nt_mono_ns();
    sem_destroy(&run.slots);
    free(th);
    if (atomic_load(&run.failed) != 0) {
        fprintf(stderr, "%llu appends failed\n", (unsigned long long)atomic_load(&run.failed));
        return -1;
    }
    return (double)(t1 - t0) / 1e9;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void report_latency(const char *what, uint64_t *ns, unsigned n)
{
    double sum = 0;
    qsort(ns, n, sizeof(*ns), cmp_u64);
    for (unsigned i = 0; i < n; i++) {
        sum += (double)ns[i];
    }
    printf("  %-22s mean %7.1f us  p50 %7.1f us  p99 %7.1f us  max %7.1f us  (%u samples)\n", what,
           sum / n / 1e3, (double)ns[n / 2] / 1e3, (double)ns[(size_t)n * 99 / 100] / 1e3,
           (double)ns[n - 1] / 1e3, n);
}

static uint64_t rand64(uint64_t *state)
{
    /* xorshift64*: benchmark sampling only */
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 2685821657736338717ull;
}

static int open_ledger(ledger **out, const char *path, EVP_PKEY *key, const bench_opts *o,
                       int no_sync)
{
    ledger_options lo;
    memset(&lo, 0, sizeof(lo));
    lo.path = path;
    lo.origin = "bench.example/ledger";
    lo.log_key = key;
    lo.batch_max = o->batch_max;
    lo.batch_window_us = o->window_us;
    lo.queue_max = o->inflight > 8192 ? o->inflight : 0;
    lo.no_sync = no_sync;
    return ledger_open(out, &lo);
}

static int phase_throughput(const bench_opts *o, const char *base, EVP_PKEY *key)
{
    char path[4200];
    ledger *l = NULL;
    ledger_info info;
    double secs;

    snprintf(path, sizeof(path), "%s/throughput", base);
    if (open_ledger(&l, path, key, o, o->no_sync) != 0) {
        fprintf(stderr, "ledger_open: %s\n", nt_error_last());
        return 1;
    }
    secs = bench_appends(l, o, o->appends, o->leaf_bytes, 0);
    if (secs < 0 || ledger_info_get(&info, l) != 0) {
        ledger_close(l);
        return 1;
    }
    printf("throughput: %llu appends, %zu-byte tokens (leaf %zu bytes), %u threads, "
           "%u in flight, %s\n",
           (unsigned long long)o->appends, o->leaf_bytes, o->leaf_bytes + 42, o->threads,
           o->inflight, o->no_sync ? "no_sync (NOT durable)" : "fsync per batch");
    printf("  %.0f leaves/s%s, %.2f s, %llu batches, %.1f leaves/batch, "
           "%.0f bytes/leaf stored\n",
           (double)o->appends / secs, o->no_sync ? " (no_sync, NOT durable)" : " durable", secs,
           (unsigned long long)info.batches,
           info.batches ? (double)info.size / (double)info.batches : 0.0,
           (double)info.map_used / (double)(info.size ? info.size : 1));
    ledger_close(l);
    return 0;
}

static int phase_tree(const bench_opts *o, const char *base, EVP_PKEY *key)
{
    char path[4200];
    ledger *l = NULL;
    ledger_info info;
    double secs;
    uint64_t *ns = calloc(o->samples, sizeof(*ns));
    uint64_t state = 0x9e3779b97f4a7c15ull;
    nt_buf proof = NT_BUF_INIT;
    receipt r;
    struct stat st;
    uint64_t n = o->leaves;
    int rc = 1;

    receipt_init(&r);
    snprintf(path, sizeof(path), "%s/tree", base);
    if (ns == NULL || open_ledger(&l, path, key, o, !o->tree_sync) != 0) {
        fprintf(stderr, "ledger_open: %s\n", nt_error_last());
        goto done;
    }
    secs = bench_appends(l, o, n, o->tree_leaf_bytes, 1ull << 40);
    if (secs < 0 || ledger_info_get(&info, l) != 0) {
        goto done;
    }
    snprintf(path, sizeof(path), "%s/tree/data.mdb", base);
    if (stat(path, &st) != 0) {
        memset(&st, 0, sizeof(st));
    }
    printf("tree: %llu leaves, %zu-byte tokens, built in %.1f s (%.0f leaves/s, %s)\n",
           (unsigned long long)n, o->tree_leaf_bytes, secs, (double)n / secs,
           o->tree_sync ? "fsync" : "no_sync");
    printf("  storage: %.1f bytes/leaf used (map_used %zu), data.mdb %lld bytes on disk\n",
           (double)info.map_used / (double)n, info.map_used, (long long)st.st_blocks * 512);

    for (unsigned i = 0; i < o->samples; i++) {
        uint64_t idx = rand64(&state) % n, t0 = nt_mono_ns();
        if (ledger_proof_inclusion(&proof, l, idx, n) != 0) {
            fprintf(stderr, "inclusion: %s\n", nt_error_last());
            goto done;
        }
        ns[i] = nt_mono_ns() - t0;
    }
    report_latency("inclusion proof", ns, o->samples);
    for (unsigned i = 0; i < o->samples; i++) {
        uint64_t from = 1 + rand64(&state) % n, t0 = nt_mono_ns();
        if (ledger_proof_consistency(&proof, l, from, n) != 0) {
            fprintf(stderr, "consistency: %s\n", nt_error_last());
            goto done;
        }
        ns[i] = nt_mono_ns() - t0;
    }
    report_latency("consistency proof", ns, o->samples);
    for (unsigned i = 0; i < o->samples; i++) {
        uint64_t idx = rand64(&state) % n, t0 = nt_mono_ns();
        if (ledger_receipt_fill(&r, l, idx) != 0) {
            fprintf(stderr, "receipt: %s\n", nt_error_last());
            goto done;
        }
        ns[i] = nt_mono_ns() - t0;
    }
    report_latency("receipt fill", ns, o->samples);
    {
        /* `notarium ledger check` on this tree: every leaf, hash and the head. */
        nt_buf vk = NT_BUF_INIT;
        note_verifier v;
        ledger_check_options co;
        ledger_check_result cr;
        uint64_t t0;
        memset(&co, 0, sizeof(co));
        co.log_vkey = &v;
        if (note_vkey_format(&vk, "bench.example/ledger", key) != 0 ||
            note_vkey_parse(&v, (const char *)vk.ptr, vk.len) != 0) {
            nt_buf_dispose(&vk);
            goto done;
        }
        nt_buf_dispose(&vk);
        t0 = nt_mono_ns();
        if (ledger_check(&cr, l, &co) != 0) {
            fprintf(stderr, "ledger check: %s\n", nt_error_last());
            ledger_check_result_dispose(&cr);
            goto done;
        }
        secs = (double)(nt_mono_ns() - t0) / 1e9;
        printf("  ledger check: %llu leaves, %llu subtree hashes, %llu problems in %.1f s "
               "(%.0f leaves/s, warm page cache)\n",
               (unsigned long long)cr.leaves, (unsigned long long)cr.subtrees,
               (unsigned long long)cr.problem_count, secs, (double)cr.leaves / secs);
        rc = cr.problem_count == 0 ? 0 : 1;
        ledger_check_result_dispose(&cr);
        if (rc != 0) {
            goto done;
        }
    }
    {
        /* The digest index (ledger/index/) lost: ledger_open builds it again from the
         * leaves before the ledger takes appends (docs/OPERATING.md, "Backups"). */
        char cmd[4300];
        uint64_t t0;
        ledger_close(l);
        l = NULL;
        snprintf(cmd, sizeof(cmd), "rm -rf '%s/tree/index'", base);
        snprintf(path, sizeof(path), "%s/tree", base);
        t0 = nt_mono_ns();
        if (system(cmd) != 0 || open_ledger(&l, path, key, o, !o->tree_sync) != 0) {
            fprintf(stderr, "reopen without index/: %s\n", nt_error_last());
            rc = 1;
            goto done;
        }
        secs = (double)(nt_mono_ns() - t0) / 1e9;
        printf("  digest index rebuilt at open: %llu leaves in %.1f s (%.0f leaves/s, warm page "
               "cache)\n",
               (unsigned long long)n, secs, (double)n / secs);
    }
    rc = 0;
done:
    receipt_dispose(&r);
    nt_buf_dispose(&proof);
    ledger_close(l);
    free(ns);
    return rc;
}

int main(int argc, char **argv)
{
    bench_opts o;
    char tmp[4096];
    const char *base;
    EVP_PKEY *key = NULL;
    int rc = 0;

    if (parse_args(&o, argc, argv) != 0) {
        return 2;
    }
    nt_log_set_level(NT_LOG_WARN);
    if (o.dir != NULL) {
        base = o.dir;
        if (nt_mkdir_p(base, 0700) != 0) {
            fprintf(stderr, "%s: %s\n", base, nt_error_last());
            return 1;
        }
    } else {
        const char *t = getenv("TMPDIR");
        snprintf(tmp, sizeof(tmp), "%s/nt-bench-ledger-XXXXXX", t != NULL ? t : "/tmp");
        if (mkdtemp(tmp) == NULL) {
            perror("mkdtemp");
            return 1;
        }
        base = tmp;
    }
    key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (key == NULL) {
        fprintf(stderr, "Ed25519 key generation failed\n");
        return 1;
    }
    printf("notarium-bench-ledger: dir %s\n", base);
    if (o.appends > 0) {
        rc |= phase_throughput(&o, base, key);
    }
    if (o.leaves > 0) {
        rc |= phase_tree(&o, base, key);
    }
    if (!o.keep) {
        char cmd[8300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s/throughput' '%s/tree'", base, base);
        if (system(cmd) != 0) {
            fprintf(stderr, "could not clean %s\n", base);
        }
        if (o.dir == NULL) {
            rmdir(base);
        }
    }
    EVP_PKEY_free(key);
    return rc;
}
