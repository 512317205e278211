/*
 * mirror.h - the git mirror of the ledger (the auditor that replays it:
 * ledger/audit.h, included here for the callers that use both).
 * Part of the `nt_mirror` library (ledger/mirror*.c: only mirror_git.c and
 * mirror_write.c include <git2.h>; and ledger/audit*.c); it builds on the ledger (ledger.h)
 * and the pure nt_merkle library.  docs/MIRROR.md pins the exact layout.
 *
 * The mirror is a bare git repository in the C2SP tlog-tiles layout:
 *
 *   checkpoint                     the signed checkpoint of this commit
 *   tile/<L>/<N>                   full hash tiles (256 hashes of 32 bytes)
 *   tile/<L>/<N>.p/<W>             the partial tiles of this checkpoint's size
 *   tile/entries/<N>[.p/<W>]       entry bundles (big-endian uint16 length + leaf)
 *
 * with <N> in the x-prefixed 3-digit path encoding (1234067 -> x001/x234/067).
 * Every commit on refs/heads/main holds exactly the resources of one signed
 * checkpoint and has the commit of the previous mirrored checkpoint as its only
 * parent; a commit costs O(new tiles) because unchanged subtrees are reused.
 *
 * Limits: an entry bundle stores a leaf's length in 16 bits, so a leaf longer
 * than 65535 bytes cannot be mirrored; that is why record.h caps every leaf at
 * RECORD_MAX_LEAF and the ledger cannot hold a longer one (a ledger written
 * before that cap could: NT_ERANGE naming the leaf).  Metadata
 * bytes attached to evidence leaves stay in the ledger: the leaf commits to
 * their SHA-256, and an off-site copy should not hold customers' metadata.
 */
#ifndef LEDGER_MIRROR_H
#define LEDGER_MIRROR_H

#include "ledger/audit.h"
#include "ledger/ledger.h"
#include "util/util.h"

/* ------------------------------------------------------------ one-shot calls */

/*
 * Bring the bare repository at `path` (created, with HEAD -> refs/heads/main,
 * if missing) up to the ledger's latest signed checkpoint: one new commit if
 * that checkpoint is larger than the repository's HEAD (or the repository is
 * empty), none otherwise.  *size_out (may be NULL) receives the size of HEAD
 * afterwards.  NT_ECORRUPT when HEAD's checkpoint is not a prefix of the
 * ledger (another log's mirror, a restored ledger): the mirror never rewrites
 * history.  NT_ERANGE for a leaf longer than 65535 bytes (only in a ledger
 * written before RECORD_MAX_LEAF existed).  Not thread-safe
 * against another writer of the same repository.
 */
int mirror_update(uint64_t *size_out, const char *path, ledger *l);

/*
 * Push refs/heads/main of the repository at `path` to `url` (a local path,
 * file://, ssh:// or https:// as libgit2 supports), never forced: a remote
 * whose main is not an ancestor is refused (NT_EVERIFY).  NT_EIO when the
 * remote cannot be reached or written.
 */
int mirror_push(const char *path, const char *url);

/*
 * The tree size and root of the checkpoint at HEAD of the repository at
 * `path` (0 and the empty root when it has no commit).  NT_ENOTFOUND when
 * there is no repository there.
 */
int mirror_head_get(uint64_t *size_out, uint8_t root_out[32], const char *path);

/* ------------------------------------------------------------ the mirror thread */

typedef struct mirror mirror;

typedef struct mirror_options {
    const char *path;           /* bare repository (created if missing), required */
    unsigned interval_ms;       /* look at the ledger at most this often; 0 = 1000 */
    const char *const *remotes; /* remote URLs, copied; may be NULL when remote_count is 0 */
    size_t remote_count;
    unsigned retry_min_ms;    /* first back-off after a failed push; 0 = 1000 */
    unsigned retry_max_ms;    /* back-off ceiling; 0 = 60000 */
    unsigned push_timeout_ms; /* a push running longer is killed and fails; 0 = 30000 */
    unsigned stop_timeout_ms; /* mirror_stop waits at most this for pushes; 0 = 5000 */
} mirror_options;

/*
 * Open (creating if needed) the repository and start the mirror thread: every
 * interval it commits the ledger's latest checkpoint when it grew (catching up
 * in one commit when it fell behind) and hands the new size to the remotes.
 * Each remote has its own push thread, which pushes when the remote is behind
 * and not backing off; each push runs in a child process (fork, no exec) that
 * is killed after push_timeout_ms, so a remote that never answers delays
 * neither the local commit nor the other remotes.  A failed or timed-out push
 * is retried with exponential back-off from retry_min_ms to retry_max_ms.
 * The thread reads the ledger with its own read transactions and never waits
 * for the sequencer, so issuance is never blocked.  Before each commit the
 * branch must still be at the commit the mirror wrote last: a branch moved by
 * someone else is refused (NT_ECORRUPT in the status), never built upon.
 * Errors of the first open (not a repository, NT_ECORRUPT as in
 * mirror_update) are returned; later errors are reported in mirror_status_get
 * and logged.  `l` must outlive the mirror.
 *
 * Files: the repository's directories and files are created 0755 / 0644 (git
 * objects 0444) whatever the umask: mirror_start and mirror_update add 022 to
 * the process umask (they never remove a bit from it).
 */
int mirror_start(mirror **out, ledger *l, const mirror_options *opts);

/*
 * Make one last commit of the ledger's latest checkpoint, try each remote
 * that is behind once (ignoring back-off), stop the threads and free.  Pushes
 * still running stop_timeout_ms after the last commit are killed (they count
 * as failed): a remote never holds up the shutdown beyond that bound.  NULL
 * ok.  Call it before ledger_close.
 */
void mirror_stop(mirror *m);

/*
 * Wake the thread and wait until it has mirrored the ledger's checkpoint as it
 * is at this call and tried every remote that is behind (back-off ignored).
 * Returns the error of that cycle's commit (0 when it succeeded); push
 * failures are in the status.  Waits for a stalled remote at most its push
 * time-out.  For tools and tests; thread-safe.
 */
int mirror_sync(mirror *m);

typedef struct mirror_remote_status {
    char url[512];
    uint64_t pushed_size;    /* tree size last pushed successfully (0 before the first push) */
    uint64_t entries_behind; /* ledger size - pushed_size */
    double seconds_behind;   /* age of the oldest ledger growth the remote lacks; 0 if none */
    uint64_t pushes;         /* successful pushes since start */
    uint64_t failures;       /* failed pushes since start */
    unsigned consecutive_failures;
    double retry_in_s;     /* seconds until the next attempt while backing off, else 0 */
    char last_error[256];  /* "" when the last attempt succeeded, e.g. "push to URL timed
                              out after 30 s" */
    uint64_t attempts;     /* pushes started since start (a running one included) */
    double pushing_s;      /* how long the push in flight has run; 0 when none */
    double last_success_s; /* seconds since the last successful push; -1 = none yet */
} mirror_remote_status;

typedef struct mirror_status {
    uint64_t ledger_size;    /* ledger size at the last look */
    uint64_t mirrored_size;  /* tree size of HEAD */
    uint64_t entries_behind; /* ledger_size - mirrored_size */
    double seconds_behind;   /* as for a remote, for the local repository */
    uint64_t commits;        /* commits written since start */
    char last_error[256];    /* last commit error, "" when the last commit succeeded */
    size_t remote_count;
    mirror_remote_status *remotes; /* remote_count entries, owned: mirror_status_dispose */
} mirror_status;

/* A snapshot of the mirror's state (thread-safe).  Release with mirror_status_dispose. */
int mirror_status_get(mirror_status *out, mirror *m);
void mirror_status_dispose(mirror_status *s);

/* ------------------------------------------------------------ disaster recovery */

/*
 * Called for each restored leaf, in index order: set *gen_time_ns_out to the
 * genTime of its token (the ledger's high-water mark), or return a negative
 * code to stop the restore.  The record points into the restore's buffers.
 */
typedef int (*mirror_restore_leaf_fn)(uint64_t *gen_time_ns_out, void *ctx, uint64_t index,
                                      const record *rec);

typedef struct mirror_restore_options {
    const char *source;             /* git URL or path of a copy of the mirror, required */
    const char *vkey;               /* the log's C2SP vkey text, required */
    const char *mirror_path;        /* the server's local mirror: seeded with the source's history
                                       when missing (so the mirror thread continues it), or the
                                       source itself; NULL = leave alone */
    ledger_options ledger;          /* path, origin, log_key (private), map_size of the ledger to
                                       rebuild; the batch and queue options are the restore's own */
    mirror_restore_leaf_fn leaf_fn; /* may be NULL (no genTime mark) */
    void *leaf_ctx;
} mirror_restore_options;

typedef struct mirror_restore_result {
    uint64_t size; /* restored tree size = the mirror's head */
    uint8_t root[32];
    uint64_t gen_time_hw_ns; /* the largest genTime leaf_fn reported */
    uint64_t *missing;       /* indexes of leaves whose metadata is missing (ascending) */
    size_t missing_count;
    audit_result audit; /* the audit of the source that preceded the rebuild */
} mirror_restore_result;

/*
 * Rebuild a lost ledger at opts->ledger.path from a copy of its mirror
 * (docs/OPERATING.md, "Disaster recovery"): refuse when a ledger is there
 * (NT_EEXISTS; an empty data.mdb counts as none) or when opts->mirror_path
 * exists and is not the source (NT_EEXISTS); seed mirror_path; audit the whole
 * copy as audit_run does (NT_EVERIFY naming what failed); check that the log
 * key re-signs the head checkpoint byte for byte (NT_EVERIFY: another key
 * could only start another log); append every entry of the head commit, in
 * order, to a ledger opened with `restore` (metadata missing where the leaf
 * commits to some); check that the rebuilt size, root and checkpoint are the
 * mirror's head.  The ledger then continues the same log at the next index.
 * On failure the partly written ledger, and a local mirror this call seeded, are
 * left for the operator to remove (the message says what failed).
 * *out is filled on success (mirror_restore_result_dispose).
 */
int mirror_restore(mirror_restore_result *out, const mirror_restore_options *opts);
void mirror_restore_result_dispose(mirror_restore_result *r);

#endif
