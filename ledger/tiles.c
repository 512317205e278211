/*
 * tiles.c - C2SP tlog-tiles geometry and path encoding (nt_merkle library;
 * pure, no I/O).  The contract is ledger/tiles.h.
 */
#include "ledger/tiles.h"

#include <inttypes.h>

static int tile_index_put(nt_buf *out, uint64_t index)
{
    /* tlog-tiles: "zero-padded 3-digit path elements. All but the last path
     * element MUST begin with an x." (1234067 -> x001/x234/067) */
    unsigned groups[8];
    int n = 0;
    do {
        groups[n++] = (unsigned)(index % 1000);
        index /= 1000;
    } while (index > 0);
    int error = 0;
    for (int i = n - 1; i >= 0; i--) {
        NT_TRY(nt_buf_printf(out, i > 0 ? "x%03u/" : "%03u", groups[i]));
    }
done:
    return error;
}

int tiles_path(nt_buf *out, int level, uint64_t index, unsigned width)
{
    int error = 0;
    NT_ENSURE(level < TILES_MAX_LEVELS && width <= TILES_PARTIAL_DIR, NT_EINVAL,
              "tile path: level %d width %u out of range", level, width);
    if (level < 0) {
        NT_TRY(nt_buf_puts(out, "tile/entries/"));
    } else {
        NT_TRY(nt_buf_printf(out, "tile/%d/", level));
    }
    NT_TRY(tile_index_put(out, index));
    if (width == TILES_PARTIAL_DIR) {
        NT_TRY(nt_buf_puts(out, ".p"));
    } else if (width > 0) {
        NT_TRY(nt_buf_printf(out, ".p/%u", width));
    }
done:
    return error;
}

void tiles_count(uint64_t *full_out, unsigned *partial_width_out, uint64_t size, unsigned level)
{
    uint64_t units = size;
    for (unsigned i = 0; i < level && units > 0; i++) {
        units /= TILES_WIDTH;
    }
    *full_out = units / TILES_WIDTH;
    *partial_width_out = (unsigned)(units % TILES_WIDTH);
}

int tiles_changes(uint64_t from, uint64_t to, tiles_change_fn fn, void *ctx)
{
    int error = 0;
    NT_ENSURE(from <= to, NT_EINVAL, "tile changes: %" PRIu64 " > %" PRIu64, from, to);
    for (int level = -1; level < TILES_MAX_LEVELS; level++) {
        unsigned tl = level < 0 ? 0 : (unsigned)level;
        uint64_t full_from, full_to;
        unsigned w_from, w_to;
        tiles_count(&full_from, &w_from, from, tl);
        tiles_count(&full_to, &w_to, to, tl);
        if (full_to == 0 && w_to == 0) {
            break; /* no tile at this level, nor above */
        }
        if (full_from == full_to && w_from == w_to) {
            continue;
        }
        if (w_from > 0) {
            if (full_to == full_from && w_to > 0) {
                NT_TRY(fn(ctx, 0, level, full_from, w_from));
            } else {
                NT_TRY(fn(ctx, 0, level, full_from, TILES_PARTIAL_DIR));
            }
        }
        for (uint64_t n = full_from; n < full_to; n++) {
            NT_TRY(fn(ctx, 1, level, n, 0));
        }
        if (w_to > 0) {
            NT_TRY(fn(ctx, 1, level, full_to, w_to));
        }
    }
done:
    return error;
}

int tiles_bundle_put(nt_buf *out, const uint8_t *entry, size_t len)
{
    int error = 0;
    NT_ENSURE(len <= TILES_MAX_ENTRY, NT_ERANGE, "entry bundle: an entry of %zu bytes (at most %u)",
              len, TILES_MAX_ENTRY);
    NT_TRY(nt_buf_grow(out, 2 + len));
    NT_TRY(nt_buf_put_u16be(out, (uint16_t)len));
    NT_TRY(nt_buf_put(out, entry, len));
done:
    return error;
}

int tiles_bundle_next(nt_bytes *entry, const uint8_t *bundle, size_t len, size_t *pos)
{
    size_t at = *pos;
    if (at > len || len - at < 2 || len - at - 2 < nt_load_u16be(bundle + at)) {
        return nt_error_set(NT_EINVAL, "entry bundle: the entry at byte %zu runs past its end", at);
    }
    size_t n = nt_load_u16be(bundle + at);
    *entry = NT_BYTES(bundle + at + 2, n);
    *pos = at + 2 + n;
    return 0;
}
