/*
 * fs.c - small file helpers.  nt_file_write_atomic is how keys, configs and
 * state files are written: a crash leaves either the old file or the new one,
 * never half of one.
 */
#define _GNU_SOURCE
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Read fd to its end; `private_file`: refuse a file that group or others may access. */
static int file_read_fd(nt_buf *out, int fd, const char *path, size_t max, int private_file)
{
    int error = 0;
    struct stat st;

    if (fstat(fd, &st) != 0) {
        return nt_error_set(NT_EIO, "cannot stat %s: %s", path, strerror(errno));
    }
    if (private_file && (st.st_mode & 0077) != 0) {
        return nt_error_set(NT_EINVAL,
                            "%s is accessible by group or others (mode %04o): a key, passphrase "
                            "or PIN file must be 0600 or 0400 (chmod 600 %s)",
                            path, (unsigned)(st.st_mode & 07777), path);
    }
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) {
        return nt_error_set(NT_ERANGE, "%s is larger than %zu bytes", path, max);
    }
    for (;;) {
        ssize_t n;
        NT_TRY(nt_buf_grow(out, 65536));
        n = read(fd, out->ptr + out->len, out->cap - out->len - 1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            error = nt_error_set(NT_EIO, "cannot read %s: %s", path, strerror(errno));
            goto done;
        }
        if (n == 0) {
            break;
        }
        out->len += (size_t)n;
        if (out->len > max) {
            error = nt_error_set(NT_ERANGE, "%s is larger than %zu bytes", path, max);
            goto done;
        }
    }
    out->ptr[out->len] = '\0';
done:
    return error;
}

static int file_read(nt_buf *out, const char *path, size_t max, int private_file)
{
    int fd, error;

    nt_buf_clear(out);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        return nt_error_set(errno == ENOENT ? NT_ENOTFOUND : NT_EIO, "cannot open %s: %s", path,
                            strerror(errno));
    }
    error = file_read_fd(out, fd, path, max, private_file);
    close(fd);
    return error;
}

int nt_file_read(nt_buf *out, const char *path, size_t max)
{
    return file_read(out, path, max, 0);
}

int nt_file_read_private(nt_buf *out, const char *path, size_t max)
{
    return file_read(out, path, max, 1);
}

static int fsync_dir_of(const char *path)
{
    char *copy = nt_strdup(path);
    int fd, error = 0;
    if (copy == NULL) {
        return NT_ENOMEM;
    }
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) {
        error = nt_error_set(NT_EIO, "cannot sync directory of %s: %s", path, strerror(errno));
    }
    if (fd >= 0) {
        close(fd);
    }
    nt_free(copy);
    return error;
}

int nt_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
    return nt_file_write_atomic_flags(path, data, len, mode, 0);
}

int nt_file_write_atomic_flags(const char *path, const void *data, size_t len, unsigned mode,
                               unsigned flags)
{
    nt_buf tmp = NT_BUF_INIT;
    int fd = -1, error = 0;
    size_t done_len = 0;

    NT_TRY(nt_buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid()));
    fd = open(nt_buf_cstr(&tmp), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    NT_ENSURE(fd >= 0, NT_EIO, "cannot create %s: %s", nt_buf_cstr(&tmp), strerror(errno));
    while (done_len < len) {
        ssize_t n = write(fd, (const uint8_t *)data + done_len, len - done_len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        NT_ENSURE(n > 0, NT_EIO, "cannot write %s: %s", path, strerror(errno));
        done_len += (size_t)n;
    }
    NT_ENSURE((flags & NT_FILE_NOSYNC) || fsync(fd) == 0, NT_EIO, "cannot sync %s: %s", path,
              strerror(errno));
    int closed = close(fd); /* a deferred write error (NFS, a full disk) shows here */
    fd = -1;
    NT_ENSURE(closed == 0 || errno == EINTR, NT_EIO, "cannot write %s: %s", path, strerror(errno));
    NT_ENSURE(rename(nt_buf_cstr(&tmp), path) == 0, NT_EIO, "cannot rename to %s: %s", path,
              strerror(errno));
    if (!(flags & NT_FILE_NOSYNC)) {
        NT_TRY(fsync_dir_of(path));
    }
done:
    if (fd >= 0) {
        close(fd);
    }
    if (error < 0 && tmp.ptr != NULL) {
        unlink(nt_buf_cstr(&tmp));
    }
    nt_buf_dispose(&tmp);
    return error;
}

int nt_mkdir_p(const char *path, unsigned mode)
{
    char *copy = nt_strdup(path);
    int error = 0;
    if (copy == NULL) {
        return NT_ENOMEM;
    }
    for (char *p = copy + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(copy, (mode_t)mode) < 0 && errno != EEXIST) {
                error =
                    nt_error_set(NT_EIO, "cannot create directory %s: %s", copy, strerror(errno));
                break;
            }
            *p = saved;
            if (saved == '\0') {
                break;
            }
        }
    }
    nt_free(copy);
    return error;
}

int nt_path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int nt_path_join(nt_buf *out, const char *dir, const char *name)
{
    size_t dl = strlen(dir);
    nt_buf_clear(out);
    if (dl > 0 && dir[dl - 1] == '/') {
        return nt_buf_printf(out, "%s%s", dir, name);
    }
    return nt_buf_printf(out, "%s/%s", dir, name);
}
