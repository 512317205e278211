/*
 * audit.h - the auditor of the git mirror (nt_mirror library: ledger/audit.c
 * the replay, audit_tokens.c the token checks, audit_der.c the DER splitter):
 * replays a mirror written by ledger/mirror.h from its first commit and checks
 * every checkpoint, entry, tile, tree and (optionally) token signature.
 * docs/MIRROR.md describes the checks; `notarium audit` (tools/cmd_audit.c)
 * is the command line.
 */
#ifndef LEDGER_AUDIT_H
#define LEDGER_AUDIT_H

#include "util/util.h"

#include <stdint.h>

typedef struct audit_options {
    const char *source;     /* git URL or path of the mirror, required */
    const char *vkey;       /* the log's C2SP vkey text, required */
    const char *trust_path; /* PEM trust anchors (+ optional chain) to verify every token
                               signature with; NULL = token signatures not checked */
    const char *state_path; /* NULL = no state; else read (if present) and updated */
    const char *cache_path; /* where a non-local source is cloned/fetched; NULL = a temporary
                               directory, or "<state_path>.git" when state_path is set */
    int progress;           /* 1 = progress bar on stderr (cmd_audit: when it is a TTY) */
    int save_interval_ms;   /* with state_path: during a replay that extends the state, save
                               it at the first commit boundary after this long, so an
                               interrupted or failed run resumes there; 0 = 5000,
                               negative = at every commit boundary */
} audit_options;

typedef struct audit_result {
    uint64_t size;         /* verified tree size of the head */
    uint8_t root[32];      /* its root */
    uint64_t resumed_size; /* size the run resumed from (state), 0 for a full replay */
    uint64_t checkpoints;  /* checkpoints (commits) verified in this run */
    uint64_t leaves;       /* leaves replayed in this run */
    uint64_t tokens;       /* token signatures verified in this run */
    uint64_t tiles;        /* tiles and bundles checked in this run */
    double seconds;        /* wall time of the replay */
} audit_result;

/*
 * Audit the mirror at opts->source, as docs/MIRROR.md describes: walk the
 * history of refs/heads/main from its first commit, verify every checkpoint's
 * signature with opts->vkey, replay every entry, rebuild every tile and root,
 * compare every tile, bundle and tree with what was rebuilt, check that the
 * commits chain with no checkpoint dropped, and (with trust_path) verify each
 * token's CMS signature and that its message imprint is the leaf's digest.
 * With state_path, resume from the state when its commit is still in the
 * history, and prove the new head extends what was verified before.
 *
 * Returns 0 when everything holds (the state, if any, is then advanced);
 * NT_EVERIFY when a check failed, with a precise message in nt_error_last()
 * (which commit / entry / tile / checkpoint, expected vs found); another
 * negative code when the audit could not run (clone failed, bad vkey, I/O).
 * When several checks fail, the one reported is the first a sequential replay
 * would meet (the lowest entry), whatever the thread count.
 *
 * Threads: libgit2 is used only from the calling thread.  With trust_path,
 * token signatures are verified by a pool of worker threads (one per online
 * core; the environment variable NT_AUDIT_THREADS=N overrides it), started
 * and joined inside this call, using OpenSSL concurrently; each worker
 * validates the certificate chain of each distinct signer certificate once.
 */
int audit_run(audit_result *out, const audit_options *opts);

#endif
