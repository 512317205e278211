/*
 * restore.c - disaster recovery: rebuild a lost ledger from its git mirror
 * (implements mirror_restore in ledger/mirror.h).  The mirror is first
 * audited whole (audit_run: every checkpoint signature, every tile and entry
 * bundle, the commit chain), so nothing unverified reaches the new ledger;
 * then the entries of the newest commit are appended in order through the
 * ordinary sequencer (large batches) into a ledger opened in restore mode,
 * where leaves that commit to metadata are stored with it marked missing (the
 * mirror never holds metadata).  Ed25519 signatures are deterministic, so the
 * restored head's checkpoint is byte for byte the mirror's: the same log,
 * continued at the next index, never a second tree under the key.  The git
 * side goes through mirror_git.c's private helpers (mirror_int.h), which keeps
 * <git2.h> in mirror_git.c and mirror_write.c.
 */
#include "ledger/mirror.h"
#include "ledger/mirror_int.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define RESTORE_BATCH 4096u
#define RESTORE_QUEUE 32768u

/* Appends in flight, and the first failure among them. */
typedef struct restore_flight {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t queued, done, next_index;
    int error;
    char msg[256];
} restore_flight;

static void restore_done(void *ctx, int error, uint64_t index)
{
    restore_flight *f = ctx;
    pthread_mutex_lock(&f->mu);
    if (f->error == 0 && error == 0 && index != f->next_index) {
        error = NT_ECORRUPT;
        snprintf(f->msg, sizeof(f->msg), "restore: leaf appended at %llu, expected %llu",
                 (unsigned long long)index, (unsigned long long)f->next_index);
    } else if (f->error == 0 && error != 0) {
        snprintf(f->msg, sizeof(f->msg), "restore: an append failed (%d)", error);
    }
    if (f->error == 0) {
        f->error = error;
    }
    f->next_index++;
    f->done++;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

/* Wait until at most `left` appends are in flight; the first failure, if any. */
static int restore_wait(restore_flight *f, uint64_t left)
{
    int error;
    pthread_mutex_lock(&f->mu);
    while (f->queued - f->done > left) {
        pthread_cond_wait(&f->cv, &f->mu);
    }
    error = f->error;
    pthread_mutex_unlock(&f->mu);
    if (error != 0) {
        return nt_error_set(error, "%s", f->msg);
    }
    return 0;
}

static int restore_missing_add(mirror_restore_result *r, size_t *cap, uint64_t index)
{
    if (r->missing_count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        uint64_t *p = nt_reallocarray(r->missing, ncap, sizeof(*p));
        if (p == NULL) {
            return nt_error_set(NT_ENOMEM, "out of memory");
        }
        r->missing = p;
        *cap = ncap;
    }
    r->missing[r->missing_count++] = index;
    return 0;
}

/* Append one leaf from a bundle. */
static int restore_leaf(mirror_restore_result *r, size_t *cap, ledger *l, restore_flight *f,
                        const mirror_restore_options *o, uint64_t index, nt_bytes leaf)
{
    int error = 0;
    record rec;
    uint64_t gen = 0;

    NT_ENSURE(record_decode(&rec, leaf.ptr, leaf.len) == 0, NT_EVERIFY,
              "restore: entry %llu is not a leaf record", (unsigned long long)index);
    if (o->leaf_fn != NULL) {
        NT_TRY(o->leaf_fn(&gen, o->leaf_ctx, index, &rec));
    }
    if (rec.has_metadata) {
        NT_TRY(restore_missing_add(r, cap, index));
    }
    NT_TRY(restore_wait(f, RESTORE_QUEUE - 1));
    pthread_mutex_lock(&f->mu);
    f->queued++;
    pthread_mutex_unlock(&f->mu);
    error = ledger_append_full_async(l, leaf, NT_BYTES(NULL, 0), NT_BYTES(NULL, 0), gen,
                                     restore_done, f);
    if (error != 0) {
        pthread_mutex_lock(&f->mu);
        f->queued--;
        pthread_mutex_unlock(&f->mu);
    }
done:
    return error;
}

/* Every entry of `tree` (a commit of `size` leaves), in order, into l. */
static int restore_entries(mirror_restore_result *r, ledger *l, restore_flight *f,
                           const mirror_restore_options *o, ledger__git *g,
                           const uint8_t tree[MIRROR_OID_SIZE], uint64_t size)
{
    int error = 0;
    nt_buf path = NT_BUF_INIT, blob = NT_BUF_INIT;
    size_t cap = 0;

    for (uint64_t b = 0; b * TILES_WIDTH < size; b++) {
        uint64_t start = b * TILES_WIDTH;
        unsigned n = size - start >= TILES_WIDTH ? TILES_WIDTH : (unsigned)(size - start);
        size_t pos = 0;
        nt_buf_clear(&path);
        NT_TRY(tiles_path(&path, -1, b, n == TILES_WIDTH ? 0 : n));
        NT_TRY(ledger__git_blob_read(&blob, g, tree, nt_buf_cstr(&path)));
        for (unsigned j = 0; j < n; j++) {
            nt_bytes entry;
            NT_ENSURE(tiles_bundle_next(&entry, blob.ptr, blob.len, &pos) == 0, NT_EVERIFY,
                      "restore: %s: entry %u runs past the end", nt_buf_cstr(&path), j);
            NT_TRY(restore_leaf(r, &cap, l, f, o, start + j, entry));
        }
    }
    NT_TRY(restore_wait(f, 0));
done:
    nt_buf_dispose(&path);
    nt_buf_dispose(&blob);
    return error;
}

/* NT_EEXISTS when `dir` holds a ledger (data.mdb, not empty). */
static int restore_target_check(const char *dir)
{
    int error = 0;
    nt_buf data = NT_BUF_INIT;
    struct stat st;

    NT_TRY(nt_path_join(&data, dir, "data.mdb"));
    NT_ENSURE(stat(nt_buf_cstr(&data), &st) != 0 || st.st_size == 0, NT_EEXISTS,
              "restore: %s already holds a ledger: a restore never writes over one (move it "
              "away first)",
              dir);
done:
    nt_buf_dispose(&data);
    return error;
}

/*
 * Where to read the mirror from.  With a local mirror to seed, the source's
 * history is fetched into it first (it must not exist yet: a fetch would replace
 * its branch), and everything is then read from that copy.
 */
static int restore_seed(nt_buf *read_from, const mirror_restore_options *o)
{
    int error = 0;
    ledger__git *g = NULL;
    nt_buf url = NT_BUF_INIT;
    char src_real[PATH_MAX], mirror_real[PATH_MAX];

    nt_buf_clear(read_from);
    if (o->mirror_path == NULL) {
        NT_TRY(nt_buf_puts(read_from, o->source));
        goto done;
    }
    if (nt_path_exists(o->mirror_path)) {
        NT_ENSURE(realpath(o->source, src_real) != NULL &&
                      realpath(o->mirror_path, mirror_real) != NULL &&
                      strcmp(src_real, mirror_real) == 0,
                  NT_EEXISTS,
                  "restore: the local mirror %s exists: restore from it (--from %s), or move it "
                  "away to restore from another copy",
                  o->mirror_path, o->mirror_path);
        NT_TRY(nt_buf_puts(read_from, o->mirror_path));
        goto done;
    }
    /* A local path is fetched through file:// (ledger__git_open would read it in place). */
    if (strstr(o->source, "://") == NULL) {
        NT_ENSURE(realpath(o->source, src_real) != NULL, NT_ENOTFOUND, "restore: %s: %s", o->source,
                  strerror(errno));
        NT_TRY(nt_buf_printf(&url, "file://%s", src_real));
    } else {
        NT_TRY(nt_buf_puts(&url, o->source));
    }
    NT_TRY(ledger__git_open(&g, nt_buf_cstr(&url), o->mirror_path));
    NT_TRY(nt_buf_puts(read_from, o->mirror_path));
done:
    ledger__git_close(g);
    nt_buf_dispose(&url);
    return error;
}

int mirror_restore(mirror_restore_result *out, const mirror_restore_options *opts)
{
    int error = 0;
    ledger__git *g = NULL;
    ledger__git_commit *hist = NULL;
    size_t nhist = 0;
    ledger *l = NULL;
    ledger_options lo;
    audit_options ao;
    note_verifier v;
    checkpoint cp;
    ledger_info info;
    nt_buf from = NT_BUF_INIT, note = NT_BUF_INIT, mine = NT_BUF_INIT;
    restore_flight f;
    int flight_init = 0;

    memset(out, 0, sizeof(*out));
    NT_ENSURE(opts != NULL && opts->source != NULL && opts->vkey != NULL &&
                  opts->ledger.path != NULL && opts->ledger.log_key != NULL,
              NT_EINVAL, "restore: source, vkey, ledger path and log key are required");
    NT_TRY(note_vkey_parse(&v, opts->vkey, strlen(opts->vkey)));
    NT_TRY(restore_target_check(opts->ledger.path));
    NT_TRY(restore_seed(&from, opts));

    /* 1. The whole mirror must verify before anything is written. */
    memset(&ao, 0, sizeof(ao));
    ao.source = nt_buf_cstr(&from);
    ao.vkey = opts->vkey;
    NT_TRY(audit_run(&out->audit, &ao));
    NT_ENSURE(out->audit.size > 0, NT_ENOTFOUND, "restore: the mirror %s has no entries",
              opts->source);

    /* 2. Its head checkpoint, and the key that will continue it. */
    NT_TRY(ledger__git_open(&g, nt_buf_cstr(&from), NULL));
    NT_TRY(ledger__git_history(&hist, &nhist, g));
    NT_ENSURE(nhist > 0, NT_ENOTFOUND, "restore: the mirror has no commits");
    NT_TRY(ledger__git_blob_read(&note, g, hist[nhist - 1].tree, "checkpoint"));
    NT_TRY(checkpoint_open(&cp, (const char *)note.ptr, note.len, &v, 0));
    NT_ENSURE(cp.size == out->audit.size && memcmp(cp.root, out->audit.root, 32) == 0, NT_EVERIFY,
              "restore: the mirror's head checkpoint is not the audited head");
    NT_ENSURE(strcmp(cp.origin, opts->ledger.origin) == 0, NT_EINVAL,
              "restore: the mirror is the log \"%s\", the configuration says \"%s\"", cp.origin,
              opts->ledger.origin);
    NT_TRY(checkpoint_sign(&mine, &cp, opts->ledger.log_key));
    NT_ENSURE(mine.len == note.len && memcmp(mine.ptr, note.ptr, note.len) == 0, NT_EVERIFY,
              "restore: the log key does not sign the mirror's checkpoints (wrong key, or a "
              "checkpoint not written by this server): it cannot continue this log");

    /* 3. The leaves, in order, through the sequencer. */
    NT_ENSURE(pthread_mutex_init(&f.mu, NULL) == 0, NT_ERROR, "pthread_mutex_init");
    if (pthread_cond_init(&f.cv, NULL) != 0) {
        pthread_mutex_destroy(&f.mu);
        error = nt_error_set(NT_ERROR, "pthread_cond_init");
        goto done;
    }
    flight_init = 1;
    f.queued = f.done = f.next_index = 0;
    f.error = 0;
    f.msg[0] = '\0';
    lo = opts->ledger;
    lo.restore = 1;
    lo.batch_max = RESTORE_BATCH;
    lo.queue_max = RESTORE_QUEUE;
    lo.batch_window_us = 20000;
    NT_TRY(nt_mkdir_p(lo.path, 0700));
    NT_TRY(ledger_open(&l, &lo));
    error = restore_entries(out, l, &f, opts, g, hist[nhist - 1].tree, cp.size);
    if (error != 0) {
        (void)restore_wait(&f, 0); /* no callback may outlive f */
        goto done;
    }

    /* 4. The rebuilt head is the mirror's, down to the checkpoint's bytes. */
    NT_TRY(ledger_info_get(&info, l));
    NT_ENSURE(info.size == cp.size && memcmp(info.root, cp.root, 32) == 0, NT_EVERIFY,
              "restore: the rebuilt tree (size %llu) does not match the mirror's checkpoint "
              "(size %llu)",
              (unsigned long long)info.size, (unsigned long long)cp.size);
    NT_TRY(ledger_checkpoint_latest(&mine, l));
    NT_ENSURE(mine.len == note.len && memcmp(mine.ptr, note.ptr, note.len) == 0, NT_EVERIFY,
              "restore: the rebuilt ledger's checkpoint differs from the mirror's");
    out->size = info.size;
    memcpy(out->root, info.root, 32);
    out->gen_time_hw_ns = info.gen_time_hw_ns;
done:
    ledger_close(l);
    if (flight_init) {
        pthread_cond_destroy(&f.cv);
        pthread_mutex_destroy(&f.mu);
    }
    ledger__git_history_free(hist, nhist);
    ledger__git_close(g);
    nt_buf_dispose(&from);
    nt_buf_dispose(&note);
    nt_buf_dispose(&mine);
    if (error != 0) {
        mirror_restore_result_dispose(out);
    }
    return error;
}

void mirror_restore_result_dispose(mirror_restore_result *r)
{
    if (r != NULL) {
        nt_free(r->missing);
        r->missing = NULL;
        r->missing_count = 0;
    }
}
