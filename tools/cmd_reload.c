/*
 * cmd_reload.c - `notarium reload --data DIR`: ask the server running on DIR
 * to re-read its configuration (SIGHUP to the process named by DIR/state/serve.pid,
 * which `notarium serve` writes once it listens and removes when it stops).
 * The server logs the outcome: identities and API keys swapped in, or the new
 * configuration refused while the old one keeps serving (docs/OPERATING.md,
 * "Reloading").  Also: the pid file helpers `notarium serve` uses.
 */
#include "tools/serve_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int cmd_reload(int argc, char **argv);

static int pid_path(nt_buf *out, const char *data)
{
    return nt_path_join(out, data, "state/serve.pid");
}

int serve_pid_write(const char *data)
{
    nt_buf path = NT_BUF_INIT, text = NT_BUF_INIT;
    int error = 0;

    NT_TRY(pid_path(&path, data));
    NT_TRY(nt_buf_printf(&text, "%ld\n", (long)getpid()));
    NT_TRY(nt_file_write_atomic(nt_buf_cstr(&path), text.ptr, text.len, 0644));
done:
    nt_buf_dispose(&path);
    nt_buf_dispose(&text);
    return error;
}

void serve_pid_remove(const char *data)
{
    nt_buf path = NT_BUF_INIT;
    if (pid_path(&path, data) == 0) {
        unlink(nt_buf_cstr(&path));
    }
    nt_buf_dispose(&path);
}

int cmd_reload(int argc, char **argv)
{
    const char *data = NULL;
    nt_buf path = NT_BUF_INIT, text = NT_BUF_INIT;
    uint64_t pid = 0;
    size_t len;
    int status = 1;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
            data = argv[++i];
        } else {
            fprintf(stderr, "usage: notarium reload --data DIR\n");
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (data == NULL) {
        fprintf(stderr, "usage: notarium reload --data DIR\n");
        return 2;
    }
    if (pid_path(&path, data) < 0 || nt_file_read(&text, nt_buf_cstr(&path), 64) < 0) {
        fprintf(stderr, "notarium reload: no server is running on %s (%s)\n", data,
                nt_error_last());
        goto done;
    }
    len = text.len;
    while (len > 0 && (text.ptr[len - 1] == '\n' || text.ptr[len - 1] == '\r')) {
        len--;
    }
    if (nt_parse_u64(&pid, (const char *)text.ptr, len) < 0 || pid < 2 || pid > 0x3fffffff) {
        fprintf(stderr, "notarium reload: %s does not hold a process id\n", nt_buf_cstr(&path));
        goto done;
    }
    if (kill((pid_t)pid, SIGHUP) != 0) {
        fprintf(stderr, "notarium reload: cannot signal process %llu of %s: %s\n",
                (unsigned long long)pid, nt_buf_cstr(&path), strerror(errno));
        goto done;
    }
    printf("reload requested (SIGHUP to process %llu); the server's log says how it went\n",
           (unsigned long long)pid);
    status = 0;
done:
    nt_buf_dispose(&path);
    nt_buf_dispose(&text);
    return status;
}
