/*
 * mirror_blob.c - the mirror's tiles written as loose git objects by us
 * (nt_mirror library).  Tiles are nearly all the bytes a mirror cycle writes
 * (~1.6 KB of entry bundle per P-256 token, ~2 KB per RSA-2048 token), and
 * libgit2 as Debian builds it hashes every object with its collision-detecting
 * SHA-1 and deflates it with zlib: about 4.8 ms of a core per MB, a sixth of
 * the server's CPU per token at full load.  OpenSSL's SHA-1 and libdeflate at
 * the same level (1, libgit2's own) make the same object, the same size, for
 * about 1.8 ms per MB (docs/PERFORMANCE.md, "Fifth round").
 *
 * The object is exactly the one git writes (gitformat-loose): "blob <size>",
 * a NUL and the bytes, as one zlib stream, in objects/<2 hex>/<38 hex> (the
 * SHA-1 of the uncompressed stream), read-only, written under a temporary name
 * and renamed.  libgit2 then finds it as its own (the tree update checks that
 * the object exists and is a blob).  Like libgit2 by default, no fsync: a
 * mirror a power loss damaged is rebuilt from the ledger (docs/MIRROR.md).
 */
#include "ledger/mirror_git_int.h"

#include <errno.h>
#include <libdeflate.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* libgit2's level for loose objects (Z_BEST_SPEED): the mirror's size is unchanged. */
#define BLOB_DEFLATE_LEVEL 1

struct ledger__blobs {
    struct libdeflate_compressor *deflate;
    EVP_MD *sha1_md; /* fetched once, not at every object */
    EVP_MD_CTX *sha1;
    nt_buf objects; /* the object directory, with its final '/' */
    nt_buf path;    /* <objects>ab or <objects>ab/cdef... */
    nt_buf raw;     /* "blob <size>\0" + the bytes */
    nt_buf out;     /* the zlib stream */
};

int ledger__blobs_new(ledger__blobs **out, git_repository *repo)
{
    int error = 0;
    git_buf dir = {0};
    ledger__blobs *b = nt_calloc(1, sizeof(*b));
    *out = NULL;
    NT_ENSURE(b != NULL, NT_ENOMEM, "out of memory");
    b->deflate = libdeflate_alloc_compressor(BLOB_DEFLATE_LEVEL);
    NT_ENSURE(b->deflate != NULL, NT_ENOMEM, "mirror: out of memory for a compressor");
    NT_OSSL_PTR(b->sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL), "mirror: SHA-1");
    NT_ENSURE((b->sha1 = EVP_MD_CTX_new()) != NULL, NT_ENOMEM, "out of memory");
    GIT_TRY(git_repository_item_path(&dir, repo, GIT_REPOSITORY_ITEM_OBJECTS),
            "mirror: the object directory");
    NT_TRY(nt_buf_puts(&b->objects, dir.ptr));
    if (b->objects.len == 0 || b->objects.ptr[b->objects.len - 1] != '/') {
        NT_TRY(nt_buf_putc(&b->objects, '/'));
    }
    *out = b;
    b = NULL;
done:
    git_buf_dispose(&dir);
    ledger__blobs_free(b);
    return error;
}

void ledger__blobs_free(ledger__blobs *b)
{
    if (b == NULL) {
        return;
    }
    libdeflate_free_compressor(b->deflate);
    EVP_MD_CTX_free(b->sha1);
    EVP_MD_free(b->sha1_md);
    nt_buf_dispose(&b->objects);
    nt_buf_dispose(&b->path);
    nt_buf_dispose(&b->raw);
    nt_buf_dispose(&b->out);
    nt_free(b);
}

int ledger__blob_write(git_oid *id, ledger__blobs *b, const void *data, size_t len)
{
    int error = 0;
    char hex[GIT_OID_HEXSZ + 1];

    nt_buf_clear(&b->raw);
    NT_TRY(nt_buf_printf(&b->raw, "blob %zu", len));
    NT_TRY(nt_buf_putc(&b->raw, 0));
    NT_TRY(nt_buf_put(&b->raw, data, len));
    unsigned md_len = 0;
    NT_OSSL(EVP_DigestInit_ex(b->sha1, b->sha1_md, NULL), "mirror: SHA-1");
    NT_OSSL(EVP_DigestUpdate(b->sha1, b->raw.ptr, b->raw.len), "mirror: SHA-1");
    NT_OSSL(EVP_DigestFinal_ex(b->sha1, id->id, &md_len), "mirror: SHA-1");
    NT_ENSURE(md_len == GIT_OID_RAWSZ, NT_EINVAL, "mirror: SHA-1 gave %u bytes", md_len);
    git_oid_fmt(hex, id);
    hex[GIT_OID_HEXSZ] = '\0';
    const char *objects = nt_buf_cstr(&b->objects);
    /* A tile seen before (the same partial tile after an idle cycle, or a
     * repository rebuilt over its own objects) is already there. */
    nt_buf_clear(&b->path);
    NT_TRY(nt_buf_printf(&b->path, "%s%.2s/%s", objects, hex, hex + 2));
    if (nt_path_exists(nt_buf_cstr(&b->path))) {
        goto done;
    }
    nt_buf_clear(&b->path);
    NT_TRY(nt_buf_printf(&b->path, "%s%.2s", objects, hex));
    NT_ENSURE(mkdir(nt_buf_cstr(&b->path), 0777) == 0 || errno == EEXIST, NT_EIO,
              "mirror: cannot create %s: %s", nt_buf_cstr(&b->path), strerror(errno));
    NT_TRY(nt_buf_printf(&b->path, "/%s", hex + 2));

    nt_buf_clear(&b->out);
    size_t bound = libdeflate_zlib_compress_bound(b->deflate, b->raw.len);
    NT_TRY(nt_buf_grow(&b->out, bound));
    size_t n = libdeflate_zlib_compress(b->deflate, b->raw.ptr, b->raw.len, b->out.ptr, bound);
    NT_ENSURE(n > 0, NT_EIO, "mirror: compressing a %zu-byte object failed", len);
    /* 0444 as git and libgit2 make objects: nothing rewrites one in place. */
    NT_TRY(nt_file_write_atomic_flags(nt_buf_cstr(&b->path), b->out.ptr, n, 0444, NT_FILE_NOSYNC));
done:
    return error;
}
