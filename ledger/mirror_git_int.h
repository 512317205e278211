/*
 * mirror_git_int.h - private to mirror_git.c, mirror_write.c and mirror_blob.c, the only
 * files of the nt_mirror library that include <git2.h>: the libgit2 error
 * translation and HEAD's checkpoint.  No other file includes this header.
 */
#ifndef LEDGER_MIRROR_GIT_INT_H
#define LEDGER_MIRROR_GIT_INT_H

#include "ledger/mirror_int.h"
#include "ledger/note.h"
#include "util/util.h"

#include <git2.h>

#define MIRROR_BRANCH "refs/heads/main"

/* libgit2's codes end here: GIT_ENOTFOUND -> NT_ENOTFOUND, the rest -> NT_EIO, with
 * the formatted context and libgit2's last message. */
int ledger__git_fail(int gerr, const char *fmt, ...) NT_PRINTF(2, 3);

#define GIT_TRY(expr, ...)                                                                         \
    do {                                                                                           \
        int git_rc_ = (expr);                                                                      \
        if (git_rc_ < 0) {                                                                         \
            error = ledger__git_fail(git_rc_, __VA_ARGS__);                                        \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

/* libgit2 initialised once for the process (never shut down). */
void ledger__git_ready(void);

/*
 * The mirror's blobs written by us as loose objects (mirror_blob.c): the same
 * object and id libgit2 would write, with OpenSSL's SHA-1 and libdeflate.  One
 * writer per thread; ledger__blobs_free(NULL) does nothing.
 */
typedef struct ledger__blobs ledger__blobs;
int ledger__blobs_new(ledger__blobs **out, git_repository *repo);
int ledger__blob_write(git_oid *id, ledger__blobs *b, const void *data, size_t len);
void ledger__blobs_free(ledger__blobs *b);

/* The empty tree (written to the repository's object database). */
int ledger__empty_tree(git_tree **out, git_repository *repo);

/* HEAD of refs/heads/main and its checkpoint (present = 0: no commit, the empty tree). */
typedef struct ledger__head {
    int present;
    git_oid commit;
    git_oid tree;
    checkpoint cp;
    nt_buf note;
} ledger__head;

int ledger__head_read(ledger__head *h, git_repository *repo);
void ledger__head_dispose(ledger__head *h);

#endif
