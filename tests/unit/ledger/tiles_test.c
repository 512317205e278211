/*
 * tiles_test.c - the C2SP tlog-tiles geometry and paths in ledger/tiles.c,
 * against the examples of the spec (c2sp.org/tlog-tiles, copied below), plus
 * the bounds: index 0 and UINT64_MAX, the ".p" directory, and the rejected
 * level, width and range.
 */
#include "tests/unit/test.h"

#include "ledger/tiles.h"

static void check_path(int level, uint64_t index, unsigned width, const char *want)
{
    nt_buf b = NT_BUF_INIT;
    CHECK_OK(tiles_path(&b, level, index, width));
    CHECK_STR(nt_buf_cstr(&b), want);
    nt_buf_dispose(&b);
}

/* "For example, index 1234067 will be encoded as x001/x234/067." */
static void test_paths(void)
{
    check_path(0, 1234067, 0, "tile/0/x001/x234/067");
    check_path(2, 1234067, 0, "tile/2/x001/x234/067");
    check_path(TILES_ENTRIES, 1234067, 0, "tile/entries/x001/x234/067");
    check_path(0, 1234067, 8, "tile/0/x001/x234/067.p/8");
    check_path(TILES_ENTRIES, 0, 255, "tile/entries/000.p/255");
    check_path(1, 7, TILES_PARTIAL_DIR, "tile/1/007.p");
    check_path(0, 0, 0, "tile/0/000");
    check_path(0, 999, 0, "tile/0/999");
    check_path(0, 1000, 0, "tile/0/x001/000");
    check_path(7, UINT64_MAX, 1, "tile/7/x018/x446/x744/x073/x709/x551/615.p/1");
    /* appended, not replaced */
    nt_buf b = NT_BUF_INIT;
    CHECK_OK(nt_buf_puts(&b, "abc:"));
    CHECK_OK(tiles_path(&b, 0, 1, 0));
    CHECK_STR(nt_buf_cstr(&b), "abc:tile/0/001");
    /* out of range: nothing appended */
    nt_buf_clear(&b);
    CHECK_ERR(tiles_path(&b, TILES_MAX_LEVELS, 0, 0), NT_EINVAL);
    CHECK_ERR(tiles_path(&b, 0, 0, TILES_PARTIAL_DIR + 1), NT_EINVAL);
    CHECK(b.len == 0);
    nt_buf_dispose(&b);
}

/* "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial
 * level 0 tile of width 112, one full level 1 tile, one partial level 1 tile of width
 * 17, and one partial level 2 tile of width 1.  Note that a tree of size 256 will be
 * represented by a full level 0 tile and a partial level 1 tile of width 1." */
static void test_counts(void)
{
    uint64_t full;
    unsigned w;
    tiles_count(&full, &w, 70000, 0);
    CHECK(full == 273 && w == 112);
    tiles_count(&full, &w, 70000, 1);
    CHECK(full == 1 && w == 17);
    tiles_count(&full, &w, 70000, 2);
    CHECK(full == 0 && w == 1);
    tiles_count(&full, &w, 70000, 3);
    CHECK(full == 0 && w == 0);
    tiles_count(&full, &w, 256, 0);
    CHECK(full == 1 && w == 0);
    tiles_count(&full, &w, 256, 1);
    CHECK(full == 0 && w == 1);
    tiles_count(&full, &w, 0, 0);
    CHECK(full == 0 && w == 0);
    tiles_count(&full, &w, UINT64_MAX, 7);
    CHECK(full == 0 && w == 255);
}

typedef struct changes {
    char text[1024];
    int calls, stop_at;
} changes;

static int record_change(void *ctx, int upsert, int level, uint64_t index, unsigned width)
{
    changes *c = ctx;
    nt_buf b = NT_BUF_INIT;
    REQUIRE(tiles_path(&b, level, index, width) == 0);
    size_t n = strlen(c->text);
    snprintf(c->text + n, sizeof(c->text) - n, "%c%s ", upsert ? '+' : '-', nt_buf_cstr(&b));
    nt_buf_dispose(&b);
    return ++c->calls == c->stop_at ? NT_ESTATE : 0;
}

static void test_changes(void)
{
    changes c = {{0}, 0, 0};
    CHECK_OK(tiles_changes(0, 256, record_change, &c));
    CHECK_STR(c.text, "+tile/entries/000 +tile/0/000 +tile/1/000.p/1 ");
    memset(&c, 0, sizeof(c));
    CHECK_OK(tiles_changes(255, 257, record_change, &c));
    CHECK_STR(c.text, "-tile/entries/000.p +tile/entries/000 +tile/entries/001.p/1 "
                      "-tile/0/000.p +tile/0/000 +tile/0/001.p/1 +tile/1/000.p/1 ");
    memset(&c, 0, sizeof(c));
    CHECK_OK(tiles_changes(3, 5, record_change, &c));
    CHECK_STR(c.text,
              "-tile/entries/000.p/3 +tile/entries/000.p/5 -tile/0/000.p/3 +tile/0/000.p/5 ");
    memset(&c, 0, sizeof(c));
    CHECK_OK(tiles_changes(7, 7, record_change, &c));
    CHECK(c.calls == 0);
    /* the spec's 70,000: 273 + 1 bundles, 273 + 1 level-0 tiles, 1 + 1 level-1, 1 level-2 */
    memset(&c, 0, sizeof(c));
    CHECK_OK(tiles_changes(0, 70000, record_change, &c));
    CHECK(c.calls == 274 + 274 + 2 + 1);
    /* a callback's error stops the walk and is returned */
    memset(&c, 0, sizeof(c));
    c.stop_at = 2;
    CHECK_ERR(tiles_changes(0, 70000, record_change, &c), NT_ESTATE);
    CHECK(c.calls == 2);
    CHECK_ERR(tiles_changes(5, 4, record_change, &c), NT_EINVAL);
}

/* "Entry bundles are sequences of big-endian uint16 length-prefixed log entries." */
static void test_bundles(void)
{
    nt_buf b = NT_BUF_INIT;
    static const uint8_t abc[] = {'a', 'b', 'c'};
    CHECK_OK(tiles_bundle_put(&b, abc, 3));
    CHECK_OK(tiles_bundle_put(&b, NULL, 0));
    CHECK(b.len == 7);
    CHECK_MEM(b.ptr,
              "\x00\x03"
              "abc\x00\x00",
              7);
    size_t pos = 0;
    nt_bytes e;
    CHECK_OK(tiles_bundle_next(&e, b.ptr, b.len, &pos));
    CHECK(e.len == 3 && e.ptr == b.ptr + 2 && pos == 5);
    CHECK_OK(tiles_bundle_next(&e, b.ptr, b.len, &pos));
    CHECK(e.len == 0 && pos == 7);
    /* at the end, and every truncation: refused, nothing moved */
    CHECK_ERR(tiles_bundle_next(&e, b.ptr, b.len, &pos), NT_EINVAL);
    CHECK(pos == 7);
    for (size_t cut = 1; cut < 5; cut++) {
        pos = 0;
        CHECK_ERR(tiles_bundle_next(&e, b.ptr, cut, &pos), NT_EINVAL);
        CHECK(pos == 0);
    }
    pos = 8;
    CHECK_ERR(tiles_bundle_next(&e, b.ptr, b.len, &pos), NT_EINVAL);
    /* the longest entry fits, one byte more does not */
    nt_buf big = NT_BUF_INIT;
    REQUIRE(nt_buf_grow(&big, TILES_MAX_ENTRY + 1) == 0);
    memset(big.ptr, 'x', TILES_MAX_ENTRY + 1);
    nt_buf_clear(&b);
    CHECK_ERR(tiles_bundle_put(&b, big.ptr, TILES_MAX_ENTRY + 1), NT_ERANGE);
    CHECK(b.len == 0);
    CHECK_OK(tiles_bundle_put(&b, big.ptr, TILES_MAX_ENTRY));
    pos = 0;
    CHECK_OK(tiles_bundle_next(&e, b.ptr, b.len, &pos));
    CHECK(e.len == TILES_MAX_ENTRY && pos == b.len);
    nt_buf_dispose(&big);
    nt_buf_dispose(&b);
}

int main(void)
{
    test_bundles();
    test_paths();
    test_counts();
    test_changes();
    return TEST_END();
}
