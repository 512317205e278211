/*
 * serve_int.h - what `notarium serve` (tools/cmd_serve.c) needs to run as a
 * system service: dropping root after binding (serve_privs.c) and systemd's
 * readiness protocol (serve_notify.c).  Private to tools/.
 */
#ifndef TOOLS_SERVE_INT_H
#define TOOLS_SERVE_INT_H

#include "tsa/server.h"

#include <sys/types.h>

/* A user to run as, resolved from /etc/passwd (or NSS) before anything is dropped. */
typedef struct serve_user {
    char name[64];
    uid_t uid;
    gid_t gid;      /* the user's primary group, the only group kept */
    char home[256]; /* becomes $HOME: libgit2 reads $HOME/.gitconfig, root's is unreadable */
} serve_user;

/* Look name up: NT_ENOTFOUND "no such user: NAME", NT_EINVAL for uid or gid 0 (not a drop). */
int serve_user_lookup(serve_user *out, const char *name);

/*
 * Become u for good: setgroups({gid}), setgid(gid), setuid(uid), in that
 * order, each checked; then prove it with getresuid/getresgid (real,
 * effective and saved ids are u's) and that setuid(0) now fails.  Call
 * before any thread exists (setuid applies to the calling thread in the
 * kernel; glibc broadcasts, but there must be nothing to broadcast to).
 * NT_EIO with the failing call and errno named.
 */
int serve_privs_drop(const serve_user *u);

/*
 * The privilege rule of `notarium serve`, run after the configuration is
 * loaded and before anything is opened for writing:
 *  - root with a user (user, else cfg->user): look it up, bind the listener
 *    (opts->listen, else cfg->listen) into opts->listen_fd (has_listen_fd = 1,
 *    for server_new), and tls.listen and admin_listen into tls_fd and admin_fd
 *    (has_tls_fd, has_admin_fd), then serve_privs_drop and set HOME, USER and LOGNAME
 *    to the user's (as runuser and systemd's User= do);
 *  - root without a user: NT_EINVAL with the refusal, unless root_ok (--demo,
 *    --allow-root), then a loud warning;
 *  - not root: nothing to drop; a configured user must be the current one.
 */
/* Close the sockets serve_privs_start bound and clear their has_* flags (a failed start). */
void serve_privs_close(server_options *opts);
int serve_privs_start(server_options *opts, const server_config *cfg, const char *user,
                      int root_ok);

/*
 * Send one state line ("READY=1", "STOPPING=1", "STATUS=...") to systemd's
 * $NOTIFY_SOCKET (sd_notify(3): a datagram to a unix socket; '@' starts an
 * abstract name).  No NOTIFY_SOCKET: does nothing and returns 0.
 * NT_EINVAL for a malformed socket name, NT_EIO when sending fails.
 */
int serve_notify(const char *state);

/* data/state/serve.pid (cmd_reload.c): written once the server listens, removed at exit;
 * `notarium reload --data DIR` signals the process it names. */
int serve_pid_write(const char *data);
void serve_pid_remove(const char *data);

#endif
