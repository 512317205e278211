/*
 * mirror_int.h - private to the nt_mirror library (the tile geometry is
 * ledger/tiles.h): the repository handle the mirror thread (mirror.c) drives, and the few git
 * operations the auditor needs, implemented in mirror_git.c so that only
 * mirror_git.c, mirror_write.c and mirror_blob.c include <git2.h>.  Not installed, not for
 * other components.
 */
#ifndef LEDGER_MIRROR_INT_H
#define LEDGER_MIRROR_INT_H

#include "ledger/mirror.h"
#include "ledger/note.h"
#include "ledger/tiles.h"
#include "util/util.h"

#define MIRROR_MAX_LEAF 65535u /* = RECORD_MAX_LEAF */
#define MIRROR_OID_SIZE 20

/* Find the body of the signed note `note` and parse it as a checkpoint: NT_EINVAL when
 * it has no blank line, else as checkpoint_parse.  The signatures are not checked
 * (checkpoint_open does that).  mirror_write.c. */
int ledger__note_checkpoint_parse(checkpoint *out, const char *note, size_t len);

/* ----------------------------------------------------------- the repository (mirror thread) */

/* libgit2's repository, opaque outside mirror_git.c and mirror_write.c. */
struct git_repository;

/*
 * Open the bare repository at path, creating it (HEAD -> main) when absent; adds
 * 022 to the process umask (docs/MIRROR.md).  NT_EINVAL when path is something
 * else, NT_EIO when libgit2 fails.
 */
int ledger__repo_open(struct git_repository **out, const char *path);
void ledger__repo_free(struct git_repository *repo);

/*
 * Commit the ledger's latest checkpoint to `repo` if it is newer than HEAD;
 * *size_out (may be NULL) gets HEAD's size afterwards.  `last` (NULL for a
 * one-shot update) is the commit this mirror wrote or found last, all zero
 * before the first step: a branch moved since is refused (NT_ECORRUPT); *last
 * is updated.  mirror_write.c.
 */
int ledger__repo_update(uint64_t *size_out, struct git_repository *repo, ledger *l,
                        uint8_t last[MIRROR_OID_SIZE]);

/* ----------------------------------------------------------- git, for the audit */

typedef struct ledger__git ledger__git;

/* One commit of the first-parent chain, oldest first. */
typedef struct ledger__git_commit {
    uint8_t id[MIRROR_OID_SIZE];
    uint8_t tree[MIRROR_OID_SIZE];
    unsigned parent_count;
    char *message; /* owned */
} ledger__git_commit;

/*
 * Open `source` for reading: a local repository directly (nothing written to
 * it), otherwise clone (or fetch, when it exists) into `cache` (NULL = a
 * temporary directory removed by ledger__git_close).  Objects the auditor
 * creates go to an in-memory store.  NT_EIO / NT_ENOTFOUND on failure.
 */
int ledger__git_open(ledger__git **out, const char *source, const char *cache);
void ledger__git_close(ledger__git *g);

/*
 * The first-parent chain of refs/heads/main, oldest first (*list_out owned:
 * ledger__git_history_free).  0 commits when the branch does not exist.
 */
int ledger__git_history(ledger__git_commit **list_out, size_t *count_out, ledger__git *g);
void ledger__git_history_free(ledger__git_commit *list, size_t count);

/* Read the blob at `path` in `tree` into out (replacing).  NT_ENOTFOUND if absent. */
int ledger__git_blob_read(nt_buf *out, ledger__git *g, const uint8_t tree[MIRROR_OID_SIZE],
                          const char *path);

/*
 * Build the tree expected for a commit - `base` (NULL for the empty tree) with
 * every path of `keep` taken from `actual` and every path of `drop` removed -
 * and compare it with `actual`.  0 when identical; NT_EVERIFY with a message
 * naming the first path that differs ("unexpected file X", "missing X",
 * "X differs") otherwise.  Paths are NUL-separated in the buffers.
 */
int ledger__git_tree_expect(ledger__git *g, const uint8_t *base,
                            const uint8_t actual[MIRROR_OID_SIZE], const nt_buf *keep,
                            const nt_buf *drop);

/* Lowercase hex of an object id into a 41-byte buffer. */
void ledger__oid_hex(char out[2 * MIRROR_OID_SIZE + 1], const uint8_t id[MIRROR_OID_SIZE]);

/* ----------------------------------------------------------- pushing (mirror_push.c) */

/*
 * One remote's push worker: a thread that pushes refs/heads/main of the
 * repository at `repo_path` to the remote whenever it is behind the size last
 * requested, each push in a child process killed at its deadline, so that a
 * remote that never answers holds up nothing but itself (docs/MIRROR.md,
 * "Time-outs").  Thread-safe; the mirror (mirror.c) owns one per remote.
 */
typedef struct ledger__pusher ledger__pusher;

typedef struct ledger__pusher_options {
    const char *repo_path; /* the mirror's bare repository, copied */
    const char *url;       /* the remote, copied (at most 511 bytes) */
    unsigned timeout_ms;   /* a push taking longer is killed and counts as failed */
    unsigned retry_min_ms; /* back-off after a failure, doubling ... */
    unsigned retry_max_ms; /* ... up to this */
} ledger__pusher_options;

int ledger__pusher_start(ledger__pusher **out, const ledger__pusher_options *opts);

/*
 * The mirror's HEAD now holds `size` entries: push when the remote is behind,
 * at once when `force` (back-off ignored), else when the back-off allows.
 * Returns a ticket for ledger__pusher_wait: the request is served when an
 * attempt that started after this call ended, or at once when nothing was behind.
 */
uint64_t ledger__pusher_request(ledger__pusher *p, uint64_t size, int force);

/* Wait until the request `ticket` was served (or the pusher stopped). */
void ledger__pusher_wait(ledger__pusher *p, uint64_t ticket);

/* The remote's status (seconds_behind and entries_behind left 0: the mirror knows
 * the ledger); *next_try_ns the monotonic time of the next attempt while backing off. */
void ledger__pusher_status(mirror_remote_status *out, uint64_t *next_try_ns, ledger__pusher *p);

/* Ask the worker to make one last attempt if behind and to stop, abandoning any
 * push still running at the monotonic time `deadline_ns`.  Does not wait. */
void ledger__pusher_stop(ledger__pusher *p, uint64_t deadline_ns);

/* Join the worker (it returns by the stop deadline plus a few ms) and free.  NULL ok. */
void ledger__pusher_free(ledger__pusher *p);

/*
 * When the ledger grew, for the lag of each copy (the local repository, each
 * remote): the monotonic time each size was first seen.  The caller locks.
 */
#define LEDGER_GROWTH_MAX 64
typedef struct ledger__growth {
    struct {
        uint64_t size, t_ns;
    } seen[LEDGER_GROWTH_MAX];
    size_t count;
} ledger__growth;

/* Note that the ledger holds `size` entries at `now_ns` (a size not larger than the last
 * noted is ignored).  When full, the two oldest merge, keeping the older time. */
void ledger__growth_note(ledger__growth *g, uint64_t size, uint64_t now_ns);
/* Seconds since the ledger was first seen holding more than `have` entries; 0 if never. */
double ledger__growth_lag(const ledger__growth *g, uint64_t have, uint64_t now_ns);
/* Forget what every copy holds (sizes <= low). */
void ledger__growth_trim(ledger__growth *g, uint64_t low);

#endif
