/*
 * server_datadir.c - the guard that keeps one log per key (BRIEF invariant 2)
 * across a lost ledger.  LMDB creates an empty ledger wherever data.mdb is
 * missing or empty; for a data directory that ran before, that would be a
 * second tree signed by the same log key.  So before the ledger is opened,
 * the directory's other traces of a past run decide: the ledger marker
 * (state/ledger, written at every start and stop and by a restore), the boot
 * epoch (state/boot-epoch) and the git mirror.  Any of them without a ledger
 * means "restore it" (`notarium ledger restore`, docs/OPERATING.md), unless
 * the operator explicitly asks for a new log.  After the open, the marker's
 * last known head must not be ahead of the ledger's (an older copy put back
 * would fork the same way).  The marker format is in docs/FORMATS.md.
 */
#include "tsa/server_int.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#define MARKER_MAGIC "notarium-ledger-marker 1\n"
#define MARKER_MAX   4096

static int marker_path(nt_buf *out, const server_config *cfg)
{
    int error = 0;
    nt_buf dir = NT_BUF_INIT;
    NT_TRY(nt_path_join(&dir, cfg->data_dir, "state"));
    NT_TRY(nt_mkdir_p(nt_buf_cstr(&dir), 0700));
    NT_TRY(nt_path_join(out, nt_buf_cstr(&dir), "ledger"));
done:
    nt_buf_dispose(&dir);
    return error;
}

/* The value of "key value\n" in text, NUL-terminated into out; NT_ENOTFOUND. */
static int marker_field(nt_buf *out, const nt_buf *text, const char *key)
{
    const char *p = nt_buf_cstr(text);
    size_t klen = strlen(key);
    while (p != NULL && *p != '\0') {
        const char *eol = strchr(p, '\n');
        size_t len = eol != NULL ? (size_t)(eol - p) : strlen(p);
        if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == ' ') {
            nt_buf_clear(out);
            return nt_buf_set(out, p + klen + 1, len - klen - 1) < 0 ? NT_ENOMEM : 0;
        }
        p = eol != NULL ? eol + 1 : NULL;
    }
    return NT_ENOTFOUND;
}

/* The head recorded in the marker; *present 0 when there is no marker. */
static int marker_read(int *present, uint64_t *size, uint8_t root[32], const server_config *cfg)
{
    int error = 0;
    nt_buf path = NT_BUF_INIT, text = NT_BUF_INIT, v = NT_BUF_INIT, raw = NT_BUF_INIT;

    *present = 0;
    NT_TRY(marker_path(&path, cfg));
    error = nt_file_read(&text, nt_buf_cstr(&path), MARKER_MAX);
    if (error == NT_ENOTFOUND) {
        error = 0;
        goto done;
    }
    NT_TRY(error);
    NT_TRY(nt_buf_putc(&text, '\0'));
    text.len--;
    NT_ENSURE(strncmp(nt_buf_cstr(&text), MARKER_MAGIC, strlen(MARKER_MAGIC)) == 0 &&
                  marker_field(&v, &text, "origin") == 0 &&
                  strcmp(nt_buf_cstr(&v), cfg->ledger_origin) == 0 &&
                  marker_field(&v, &text, "size") == 0 &&
                  nt_parse_u64(size, (const char *)v.ptr, v.len) == 0 &&
                  marker_field(&v, &text, "root") == 0 &&
                  nt_hex_decode(&raw, (const char *)v.ptr, v.len) == 0 && raw.len == 32,
              NT_ECORRUPT, "%s: not a ledger marker of log \"%s\" (docs/FORMATS.md)",
              nt_buf_cstr(&path), cfg->ledger_origin);
    memcpy(root, raw.ptr, 32);
    *present = 1;
done:
    nt_buf_dispose(&path);
    nt_buf_dispose(&text);
    nt_buf_dispose(&v);
    nt_buf_dispose(&raw);
    return error;
}

int server_ledger_mark(const server_config *cfg, uint64_t size, const uint8_t root[32])
{
    int error = 0;
    nt_buf path = NT_BUF_INIT, text = NT_BUF_INIT;

    NT_TRY(marker_path(&path, cfg));
    NT_TRY(nt_buf_printf(&text, MARKER_MAGIC "origin %s\nsize %llu\nroot ", cfg->ledger_origin,
                         (unsigned long long)size));
    NT_TRY(nt_hex_encode(&text, root, 32));
    NT_TRY(nt_buf_putc(&text, '\n'));
    NT_TRY(nt_file_write_atomic(nt_buf_cstr(&path), text.ptr, text.len, 0600));
done:
    nt_buf_dispose(&path);
    nt_buf_dispose(&text);
    return error;
}

int server__boot_epoch_set(uint32_t *out, const char *data_dir, int bump, uint32_t at_least)
{
    int error = 0;
    uint64_t epoch = 0, want;
    nt_buf dir = NT_BUF_INIT, path = NT_BUF_INIT, text = NT_BUF_INIT;

    NT_TRY(nt_path_join(&dir, data_dir, "state"));
    NT_TRY(nt_mkdir_p(nt_buf_cstr(&dir), 0700));
    NT_TRY(nt_path_join(&path, nt_buf_cstr(&dir), "boot-epoch"));
    error = nt_file_read(&text, nt_buf_cstr(&path), 64);
    if (error == NT_ENOTFOUND) {
        error = 0;
    } else {
        NT_TRY(error);
        while (text.len > 0 && (text.ptr[text.len - 1] == '\n' || text.ptr[text.len - 1] == ' ')) {
            text.len--;
        }
        NT_ENSURE(nt_parse_u64(&epoch, (const char *)text.ptr, text.len) == 0 && epoch < UINT32_MAX,
                  NT_ECORRUPT, "%s: not a decimal boot epoch", nt_buf_cstr(&path));
    }
    want = bump ? epoch + 1 : (epoch > at_least ? epoch : at_least);
    if (want != epoch || bump) {
        nt_buf_clear(&text);
        NT_TRY(nt_buf_printf(&text, "%llu\n", (unsigned long long)want));
        NT_TRY(nt_file_write_atomic(nt_buf_cstr(&path), text.ptr, text.len, 0600));
    }
    if (out != NULL) {
        *out = (uint32_t)want;
    }
done:
    nt_buf_dispose(&dir);
    nt_buf_dispose(&path);
    nt_buf_dispose(&text);
    return error;
}

int server_boot_epoch_raise(const char *data_dir, uint32_t epoch)
{
    return server__boot_epoch_set(NULL, data_dir, 0, epoch);
}

/* 1 when <ledger_path>/data.mdb exists and is not empty. */
static int ledger_present(const server_config *cfg)
{
    nt_buf path = NT_BUF_INIT;
    struct stat st;
    int present = 0;
    if (nt_path_join(&path, cfg->ledger_path, "data.mdb") == 0) {
        present = stat(nt_buf_cstr(&path), &st) == 0 && st.st_size > 0;
    }
    nt_buf_dispose(&path);
    return present;
}

int server_ledger_guard(const server_config *cfg, int allow_new)
{
    int error = 0, marked = 0;
    uint64_t size = 0;
    uint8_t root[32];
    nt_buf epoch = NT_BUF_INIT, why = NT_BUF_INIT;

    if (ledger_present(cfg)) {
        goto done;
    }
    NT_TRY(nt_path_join(&epoch, cfg->data_dir, "state/boot-epoch"));
    error = marker_read(&marked, &size, root, cfg);
    if (error == NT_ECORRUPT) {
        marked = 1; /* still a trace of a past run */
        error = 0;
    }
    NT_TRY(error);
    if (marked) {
        NT_TRY(nt_buf_printf(&why, "%sthe ledger marker state/ledger (last known size %llu)",
                             why.len ? ", " : "", (unsigned long long)size));
    }
    if (nt_path_exists(nt_buf_cstr(&epoch))) {
        NT_TRY(nt_buf_printf(&why, "%sstate/boot-epoch", why.len ? ", " : ""));
    }
    if (cfg->mirror_path != NULL && nt_path_exists(cfg->mirror_path)) {
        NT_TRY(nt_buf_printf(&why, "%sthe git mirror %s", why.len ? ", " : "", cfg->mirror_path));
    }
    if (why.len == 0) {
        goto done; /* a first start */
    }
    if (allow_new) {
        nt_log(NT_LOG_WARN, NULL,
               "--allow-new-ledger: the ledger %s is missing or empty although this data "
               "directory ran before (%s); starting a NEW log under the same key \"%s\": every "
               "checkpoint it signs contradicts the old log's",
               cfg->ledger_path, nt_buf_cstr(&why), cfg->ledger_origin);
        goto done;
    }
    /* One line, the remedy first (the message buffer is 512 bytes; paths can be long). */
    error = nt_error_set(NT_ESTATE,
                         "ledger missing or empty in a data directory that ran before: run "
                         "`notarium ledger restore --from <mirror remote> --data DIR` "
                         "(docs/OPERATING.md, \"Disaster recovery\"), a new ledger would be a "
                         "second log under the same key (--allow-new-ledger forces one); "
                         "found %s",
                         nt_buf_cstr(&why));
done:
    nt_buf_dispose(&epoch);
    nt_buf_dispose(&why);
    return error;
}

int server_ledger_guard_head(const server_config *cfg, uint64_t size, const uint8_t root[32],
                             int allow_new)
{
    int error = 0, marked = 0;
    uint64_t known = 0;
    uint8_t known_root[32];
    char hex[65];

    NT_TRY(marker_read(&marked, &known, known_root, cfg));
    if (marked && !allow_new &&
        (known > size || (known == size && memcmp(known_root, root, 32) != 0))) {
        nt_buf h = NT_BUF_INIT;
        if (nt_hex_encode(&h, known_root, 32) == 0) {
            snprintf(hex, sizeof(hex), "%s", nt_buf_cstr(&h));
        } else {
            hex[0] = '\0';
        }
        nt_buf_dispose(&h);
        error = nt_error_set(NT_ESTATE,
                             "the ledger %s (size %llu) is behind or differs from the last head "
                             "this directory recorded (size %llu, root %s): an older or foreign "
                             "copy would fork the log. Restore it with `notarium ledger restore` "
                             "(docs/OPERATING.md, \"Disaster recovery\")",
                             cfg->ledger_path, (unsigned long long)size, (unsigned long long)known,
                             hex);
        goto done;
    }
    NT_TRY(server_ledger_mark(cfg, size, root));
done:
    return error;
}
