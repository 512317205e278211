/*
 * bench_audit.c - notarium-bench-audit: builds a ledger of N small leaves
 * (no_sync, benchmarks only), mirrors it into git in one bulk commit, and
 * times `audit_run` on the mirror, without and (with --tokens K) with token
 * signature checks.  With --tokens, K real RFC 3161 tokens are issued by a
 * fresh development PKI and reused round-robin (leaf i carries token i mod K
 * and its digest, in an evidence leaf whose metadata is i, so that no two
 * leaves or bundles are alike), so the signature check costs what it costs in
 * production; the token run is repeated with one worker (NT_AUDIT_THREADS=1)
 * to show what the worker pool adds.
 * scripts/bench-audit.sh runs it next to `openssl speed`; figures in
 * docs/PERFORMANCE.md.
 */
#include "certs/certs.h"
#include "ledger/audit.h"
#include "ledger/ledger.h"
#include "ledger/mirror.h"
#include "tsa/tsa.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ORIGIN "bench.notarium.invalid/audit"

static atomic_ulong appended;
static atomic_ulong failed;

static void on_done(void *ctx, int error, uint64_t index)
{
    (void)ctx;
    (void)index;
    if (error < 0) {
        atomic_fetch_add(&failed, 1);
    }
    atomic_fetch_add(&appended, 1);
}

static double now_s(void)
{
    return (double)nt_mono_ns() / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench-audit: %s: %s\n", what, nt_error_last());
    exit(1);
}

int main(int argc, char **argv)
{
    uint64_t leaves = 100000;
    unsigned tokens = 0;
    const char *dir = NULL;
    char tmp[256];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--leaves") == 0 && i + 1 < argc) {
            leaves = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--tokens") == 0 && i + 1 < argc) {
            tokens = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else {
            fprintf(stderr, "usage: notarium-bench-audit [--leaves N] [--tokens K] [--dir DIR]\n");
            return 2;
        }
    }
    if (dir == NULL) {
        const char *base = getenv("TMPDIR");
        snprintf(tmp, sizeof(tmp), "%s/notarium-bench-audit-XXXXXX", base != NULL ? base : "/tmp");
        if (mkdtemp(tmp) == NULL) {
            perror("mkdtemp");
            return 1;
        }
        dir = tmp;
    }
    nt_log_set_level(NT_LOG_WARN);
    char pki[400], lpath[600], mpath[600], keyp[600], vkeyp[600], chain[600];
    if (strlen(dir) > 300) {
        fprintf(stderr, "bench-audit: --dir too long\n");
        return 2;
    }
    snprintf(pki, sizeof(pki), "%s/pki", dir);
    snprintf(lpath, sizeof(lpath), "%s/ledger", dir);
    snprintf(mpath, sizeof(mpath), "%s/mirror.git", dir);
    snprintf(keyp, sizeof(keyp), "%s/log.key", pki);
    snprintf(vkeyp, sizeof(vkeyp), "%s/log.vkey", pki);
    snprintf(chain, sizeof(chain), "%s/chain.pem", pki);
    certs_pki_options po = {0};
    po.dir = pki;
    po.tsa_key = CERTS_KEY_EC_P256;
    po.log_origin = ORIGIN;
    if (certs_pki_init(&po) < 0) {
        die("pki");
    }
    EVP_PKEY *log_key = NULL;
    if (certs_log_key_load(&log_key, keyp) < 0) {
        die("log key");
    }

    /* K real tokens, or none. */
    nt_buf *toks = NULL;
    uint8_t(*digests)[32] = NULL;
    if (tokens > 0) {
        char cert[600], key[600];
        snprintf(cert, sizeof(cert), "%s/tsa.pem", pki);
        snprintf(key, sizeof(key), "%s/tsa.key", pki);
        certs_signer *signer = NULL;
        tsa *t = NULL;
        if (certs_signer_load_pem(&signer, cert, key, NULL, chain) < 0) {
            die("signer");
        }
        tsa_config cfg;
        tsa_config_init(&cfg);
        cfg.policy = "1.3.6.1.4.1.99999.1";
        cfg.allow_unsynced_clock = 1;
        if (tsa_new(&t, &cfg, signer) < 0) {
            die("tsa");
        }
        toks = calloc(tokens, sizeof(*toks));
        digests = calloc(tokens, sizeof(*digests));
        for (unsigned k = 0; k < tokens; k++) {
            uint8_t in[4] = {(uint8_t)(k >> 24), (uint8_t)(k >> 16), (uint8_t)(k >> 8), (uint8_t)k};
            EVP_Digest(in, sizeof(in), digests[k], NULL, EVP_sha256(), NULL);
            tsa_result r;
            tsa_result_init(&r);
            if (tsa_issue_digest(&r, t, RECORD_ALG_SHA256, NT_BYTES(digests[k], 32)) < 0 ||
                !r.granted) {
                die("issue");
            }
            toks[k] = r.token;
            r.token = (nt_buf)NT_BUF_INIT;
            tsa_result_dispose(&r);
        }
        tsa_free(t);
        certs_signer_free(signer);
    }

    ledger_options lo = {0};
    lo.path = lpath;
    lo.origin = ORIGIN;
    lo.log_key = log_key;
    lo.no_sync = 1;
    lo.batch_max = 4096;
    lo.queue_max = 65536;
    lo.map_size = (size_t)16 << 30;
    ledger *l = NULL;
    if (ledger_open(&l, &lo) < 0) {
        die("ledger");
    }
    double t0 = now_s();
    nt_buf leaf = NT_BUF_INIT;
    uint8_t filler[64];
    for (uint64_t i = 0; i < leaves; i++) {
        uint8_t in[8], digest[32];
        record r = {0};
        r.kind = RECORD_KIND_TIMESTAMP;
        r.alg = RECORD_ALG_SHA256;
        if (tokens > 0) {
            r.digest = NT_BYTES(digests[i % tokens], 32);
            r.token = nt_buf_bytes(&toks[i % tokens]);
            /* An evidence leaf whose metadata is the index, so that every leaf (and so
             * every bundle and tile) is distinct, as in production: git cannot share
             * the blobs of repeating bundles and the audit reads every one of them. */
            r.kind = RECORD_KIND_EVIDENCE;
            r.label = NT_BYTES("bench", 5);
            r.has_metadata = 1;
            nt_store_u64be(in, i);
            EVP_Digest(in, sizeof(in), r.metadata_hash, NULL, EVP_sha256(), NULL);
        } else {
            nt_store_u64be(in, i);
            EVP_Digest(in, sizeof(in), digest, NULL, EVP_sha256(), NULL);
            memcpy(filler, digest, 32);
            memcpy(filler + 32, digest, 32);
            r.digest = NT_BYTES(digest, 32);
            r.token = NT_BYTES(filler, sizeof(filler));
        }
        nt_buf_clear(&leaf);
        if (record_encode(&leaf, &r) < 0) {
            die("record");
        }
        int rc;
        while (
            (rc = ledger_append_async(l, nt_buf_bytes(&leaf),
                                      r.has_metadata ? NT_BYTES(in, sizeof(in)) : NT_BYTES(NULL, 0),
                                      on_done, NULL)) == NT_EBUSY) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
        }
        if (rc < 0) {
            die("append");
        }
    }
    while (atomic_load(&appended) < leaves) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (atomic_load(&failed) > 0) {
        fprintf(stderr, "bench-audit: %lu appends failed\n", atomic_load(&failed));
        return 1;
    }
    double t1 = now_s();
    printf("ledger:  %llu leaves appended in %.2f s\n", (unsigned long long)leaves, t1 - t0);
    uint64_t size = 0;
    if (mirror_update(&size, mpath, l) < 0) {
        die("mirror");
    }
    double t2 = now_s();
    printf("mirror:  %llu leaves in one bulk commit in %.2f s (%.0f leaves/s)\n",
           (unsigned long long)size, t2 - t1, (double)size / (t2 - t1));

    nt_buf vkey = NT_BUF_INIT;
    if (nt_file_read(&vkey, vkeyp, 4096) < 0) {
        die("vkey");
    }
    audit_options ao = {0};
    ao.source = mpath;
    ao.vkey = nt_buf_cstr(&vkey);
    audit_result res;
    if (audit_run(&res, &ao) < 0) {
        die("audit");
    }
    printf("audit:   %llu leaves, no token checks: %.2f s = %.0f leaves/s\n",
           (unsigned long long)res.leaves, res.seconds, (double)res.leaves / res.seconds);
    if (tokens > 0) {
        ao.trust_path = chain;
        if (audit_run(&res, &ao) < 0) {
            die("audit --trust");
        }
        const char *env = getenv("NT_AUDIT_THREADS");
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        printf("audit:   %llu leaves, %llu token signatures, %s worker(s): %.2f s = %.0f "
               "leaves/s\n",
               (unsigned long long)res.leaves, (unsigned long long)res.tokens,
               env != NULL && *env != '\0' ? env
                                           : (cores > 0 ? (cores > 1 ? "one per core" : "1") : "?"),
               res.seconds, (double)res.leaves / res.seconds);
        if (env == NULL && cores > 1) {
            /* the same on one core, to show what the pool adds */
            setenv("NT_AUDIT_THREADS", "1", 1);
            if (audit_run(&res, &ao) < 0) {
                die("audit --trust, 1 worker");
            }
            unsetenv("NT_AUDIT_THREADS");
            printf("audit:   %llu leaves, %llu token signatures, 1 worker: %.2f s = %.0f "
                   "leaves/s\n",
                   (unsigned long long)res.leaves, (unsigned long long)res.tokens, res.seconds,
                   (double)res.leaves / res.seconds);
        }
        printf("cores:   %ld online\n", cores);
    }
    ledger_close(l);
    EVP_PKEY_free(log_key);
    nt_buf_dispose(&vkey);
    nt_buf_dispose(&leaf);
    for (unsigned k = 0; k < tokens; k++) {
        nt_buf_dispose(&toks[k]);
    }
    free(toks);
    free(digests);
    if (dir == tmp) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
        if (system(cmd) != 0) {
            fprintf(stderr, "bench-audit: could not remove %s\n", tmp);
        }
    }
    return 0;
}
