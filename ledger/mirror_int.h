/*
 * mirror_int.h - private to the nt_mirror library: the tile geometry shared
 * by the mirror writer (mirror.c) and the auditor (audit.c), and the few git
 * operations the auditor needs, implemented in mirror.c so that it stays the
 * only file that includes <git2.h>.  Not installed, not for other components.
 */
#ifndef LEDGER_MIRROR_INT_H
#define LEDGER_MIRROR_INT_H

#include "ledger/mirror.h"
#include "util/util.h"

#define MIRROR_TILE_WIDTH 256u
#define MIRROR_TILE_HEIGHT 8u
#define MIRROR_TILE_BYTES (MIRROR_TILE_WIDTH * 32u)
#define MIRROR_MAX_LEAF 65535u /* = RECORD_MAX_LEAF */
#define MIRROR_OID_SIZE 20
#define MIRROR_MAX_LEVELS 8 /* 256^8 = 2^64 */

/* `width` for ledger__tile_path meaning the "<N>.p" directory itself. */
#define MIRROR_PARTIAL_DIR 256u

/*
 * Append "tile/<level>/<N>" (level >= 0) or "tile/entries/<N>" (level < 0) to
 * out, N in the x-prefixed 3-digit encoding, followed by ".p/<width>" when
 * width is 1..255, or by ".p" when width is MIRROR_PARTIAL_DIR (0 = full tile).
 */
int ledger__tile_path(nt_buf *out, int level, uint64_t index, unsigned width);

/*
 * The changes that take the tile set of a tree of `from` leaves to that of a
 * tree of `to` leaves (from <= to), in a fixed order: for each level (entries
 * as level -1 first, then 0, 1, ...) the partial it drops, then the full tiles
 * it adds, then its new partial.  `fn` gets upsert = 1 for a tile to write
 * (width 0 = full) and upsert = 0 for a path to remove (width W = "N.p/W",
 * MIRROR_PARTIAL_DIR = the whole "N.p").  A negative return from fn stops.
 */
typedef int (*ledger__tile_fn)(void *ctx, int upsert, int level, uint64_t index, unsigned width);
int ledger__tile_changes(uint64_t from, uint64_t to, ledger__tile_fn fn, void *ctx);

/* Length of a signed note's body: up to and including the newline before the blank
 * line; 0 if there is none. */
size_t ledger__note_body_len(const char *note, size_t len);

/* Tiles at `level` in a tree of `size` leaves: how many are full, and the partial width. */
void ledger__tile_count(uint64_t *full_out, unsigned *partial_width_out, uint64_t size,
                        unsigned level);

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
                            const uint8_t actual[MIRROR_OID_SIZE],
                            const nt_buf *keep, const nt_buf *drop);

/* nt_hex_fill (util.h), kept under this name for the mirror's and auditor's callers. */
void ledger__hex(char *out, const uint8_t *data, size_t len);

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
    const char *repo_path;     /* the mirror's bare repository, copied */
    const char *url;           /* the remote, copied (at most 511 bytes) */
    unsigned timeout_ms;       /* a push taking longer is killed and counts as failed */
    unsigned retry_min_ms;     /* back-off after a failure, doubling ... */
    unsigned retry_max_ms;     /* ... up to this */
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
