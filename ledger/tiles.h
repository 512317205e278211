/*
 * tiles.h - the C2SP tlog-tiles layout (../shared/specs/c2sp-tlog-tiles.md):
 * tile geometry and resource paths.  Part of the pure `nt_merkle` library (no
 * I/O); used by the git mirror and its auditor (ledger/mirror*.c, audit.c) and
 * by the offline verifier (verifier/mirror.c).
 *
 *   tile/<L>/<N>[.p/<W>]        hash tiles: 256 hashes of 32 bytes (W < 256: partial)
 *   tile/entries/<N>[.p/<W>]    entry bundles
 *
 * with <N> in zero-padded 3-digit path elements, all but the last prefixed
 * with 'x' (1234067 -> x001/x234/067).
 *
 * Thread safety: reentrant.
 */
#ifndef LEDGER_TILES_H
#define LEDGER_TILES_H

#include "util/util.h"

#include <stdint.h>

#define TILES_WIDTH      256u                /* hashes (or entries) in a full tile */
#define TILES_HEIGHT     8u                  /* Merkle levels a tile spans: 256 = 2^8 */
#define TILES_BYTES      (TILES_WIDTH * 32u) /* a full hash tile: 8,192 bytes */
#define TILES_MAX_LEVELS 8                   /* 256^8 = 2^64: every uint64_t tree size */
#define TILES_ENTRIES    (-1)                /* `level` of the entry bundles */

/* `width` for tiles_path meaning the "<N>.p" directory itself. */
#define TILES_PARTIAL_DIR 256u

/*
 * Append "tile/<level>/<N>" (level >= 0) or "tile/entries/<N>" (level < 0) to
 * out, N in the x-prefixed 3-digit encoding, followed by ".p/<width>" when
 * width is 1..255, or by ".p" when width is TILES_PARTIAL_DIR (0 = full tile).
 * NT_EINVAL for a level >= TILES_MAX_LEVELS or a width > TILES_PARTIAL_DIR.
 */
int tiles_path(nt_buf *out, int level, uint64_t index, unsigned width);

/* Tiles at `level` in a tree of `size` leaves: how many are full, and the partial width
 * (0 = no partial tile).  Level 0 also counts the entry bundles. */
void tiles_count(uint64_t *full_out, unsigned *partial_width_out, uint64_t size, unsigned level);

/*
 * The changes that take the tile set of a tree of `from` leaves to that of a
 * tree of `to` leaves (from <= to, else NT_EINVAL), in a fixed order: for each
 * level (entries as level -1 first, then 0, 1, ...) the partial it drops, then
 * the full tiles it adds, then its new partial.  `fn` gets upsert = 1 for a
 * tile to write (width 0 = full) and upsert = 0 for a path to remove (width W =
 * "N.p/W", TILES_PARTIAL_DIR = the whole "N.p").  A negative return from fn
 * stops and is returned.
 */
typedef int (*tiles_change_fn)(void *ctx, int upsert, int level, uint64_t index, unsigned width);
int tiles_changes(uint64_t from, uint64_t to, tiles_change_fn fn, void *ctx);

/* ------------------------------------------------------------ entry bundles */

/* The longest entry a bundle can hold: its length is a big-endian uint16. */
#define TILES_MAX_ENTRY 65535u

/* Append one entry (uint16 length + bytes) to a bundle; NT_ERANGE when longer than
 * TILES_MAX_ENTRY (nothing appended). */
int tiles_bundle_put(nt_buf *out, const uint8_t *entry, size_t len);

/*
 * The entry of the bundle bundle[0..len) at *pos: *entry a view into bundle,
 * *pos moved past it.  NT_EINVAL (nothing changed) when it runs past the end.
 * A bundle of n entries is read by n calls ending with *pos == len.
 */
int tiles_bundle_next(nt_bytes *entry, const uint8_t *bundle, size_t len, size_t *pos);

#endif
