/*
 * serve_privs.c - least privilege for `notarium serve` started as root: the
 * caller binds its listening socket(s) first, then this file gives up root
 * for good (setgroups, setgid, setuid, in that order: once the uid is gone
 * the group calls would be refused) before the server reads a key or opens
 * the data directory.  Everything after the drop, key files included, runs
 * as the service user: the same rule whether systemd starts us as that user
 * (User=) or root does and we drop (docs/OPERATING.md, "Least privilege").
 */
#define _GNU_SOURCE /* getresuid, getresgid */
#include "tools/serve_int.h"
#include "tsa/server.h"
#include "util/util.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int serve_user_lookup(serve_user *out, const char *name)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    int rc;

    memset(out, 0, sizeof(*out));
    if (name == NULL || name[0] == '\0' || strlen(name) >= sizeof(out->name)) {
        return nt_error_set(NT_EINVAL, "user: not a user name");
    }
    rc = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
    if (rc != 0) {
        return nt_error_set(NT_EIO, "user %s: cannot look it up: %s", name, strerror(rc));
    }
    if (res == NULL) {
        return nt_error_set(NT_ENOTFOUND, "user %s: no such user", name);
    }
    if (pw.pw_dir == NULL || strlen(pw.pw_dir) >= sizeof(out->home)) {
        return nt_error_set(NT_EINVAL, "user %s: home directory name too long", name);
    }
    if (pw.pw_uid == 0 || pw.pw_gid == 0) {
        return nt_error_set(NT_EINVAL, "user %s: has uid or gid 0, which would keep root", name);
    }
    snprintf(out->name, sizeof(out->name), "%s", name);
    out->uid = pw.pw_uid;
    out->gid = pw.pw_gid;
    snprintf(out->home, sizeof(out->home), "%s", pw.pw_dir);
    return 0;
}

int serve_privs_drop(const serve_user *u)
{
    uid_t ru, eu, su;
    gid_t rg, eg, sg;

    if (setgroups(1, &u->gid) != 0) {
        return nt_error_set(NT_EIO, "setgroups(%u): %s", (unsigned)u->gid, strerror(errno));
    }
    if (setgid(u->gid) != 0) {
        return nt_error_set(NT_EIO, "setgid(%u): %s", (unsigned)u->gid, strerror(errno));
    }
    if (setuid(u->uid) != 0) {
        return nt_error_set(NT_EIO, "setuid(%u): %s", (unsigned)u->uid, strerror(errno));
    }
    if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0) {
        return nt_error_set(NT_EIO, "getresuid: %s", strerror(errno));
    }
    if (ru != u->uid || eu != u->uid || su != u->uid || rg != u->gid || eg != u->gid ||
        sg != u->gid) {
        return nt_error_set(NT_EIO, "user %s: ids after the drop are uid %u/%u/%u gid %u/%u/%u",
                            u->name, (unsigned)ru, (unsigned)eu, (unsigned)su, (unsigned)rg,
                            (unsigned)eg, (unsigned)sg);
    }
    /* The proof that matters: root cannot be had back. */
    if (setuid(0) == 0) {
        return nt_error_set(NT_EIO, "user %s: setuid(0) still succeeds after the drop", u->name);
    }
    return 0;
}

int serve_privs_start(server_options *opts, const server_config *cfg, const char *user, int root_ok)
{
    const char *name = user != NULL ? user : cfg->user;
    serve_user u;
    char addr[80];
    int fd = -1, error = 0;

    if (geteuid() != 0) {
        /* Not root: nothing to drop; a configured user must be the one we already are
         * (systemd's User=notarium with "user": "notarium"). */
        if (name != NULL) {
            NT_TRY(serve_user_lookup(&u, name));
            NT_ENSURE(getuid() == u.uid, NT_EINVAL,
                      "user %s: cannot switch to it: not started as root (running as uid %u)", name,
                      (unsigned)getuid());
        }
        return 0;
    }
    if (name == NULL) {
        NT_ENSURE(root_ok, NT_EINVAL,
                  "refusing to run as root: set \"user\" in the configuration or --user NAME "
                  "(the listener is bound as root, then root is dropped), or --allow-root "
                  "(docs/OPERATING.md, \"Least privilege\")");
        nt_log_warn("RUNNING AS ROOT (%s): the server, its keys and ledger are not confined; "
                    "configure \"user\" for anything but a test",
                    "--demo or --allow-root");
        return 0;
    }
    NT_TRY(serve_user_lookup(&u, name));
    if (opts->listen != NULL || cfg->listen != NULL) { /* null: HTTPS only */
        NT_TRY(server_listen_open(&fd, addr, sizeof(addr),
                                  opts->listen != NULL ? opts->listen : cfg->listen));
        opts->has_listen_fd = 1;
        opts->listen_fd = fd;
        fd = -1;
    }
    if (cfg->tls_listen != NULL) { /* the HTTPS and admin listeners: bound as root too */
        NT_TRY(server_listen_open(&opts->tls_fd, addr, sizeof(addr), cfg->tls_listen));
        opts->has_tls_fd = 1;
    }
    if (cfg->admin_listen != NULL) {
        NT_TRY(server_listen_open(&opts->admin_fd, addr, sizeof(addr), cfg->admin_listen));
        opts->has_admin_fd = 1;
    }
    NT_TRY(serve_privs_drop(&u));
    NT_ENSURE(setenv("HOME", u.home, 1) == 0 && setenv("USER", u.name, 1) == 0 &&
                  setenv("LOGNAME", u.name, 1) == 0,
              NT_ENOMEM, "setenv: %s", strerror(errno));
    nt_log_info("bound the listeners as root, now running as user %s (uid %u, gid %u)", u.name,
                (unsigned)u.uid, (unsigned)u.gid);
done:
    if (error < 0) {
        serve_privs_close(opts);
    }
    return error;
}

void serve_privs_close(server_options *opts)
{
    if (opts->has_listen_fd) {
        close(opts->listen_fd);
    }
    if (opts->has_tls_fd) {
        close(opts->tls_fd);
    }
    if (opts->has_admin_fd) {
        close(opts->admin_fd);
    }
    opts->has_listen_fd = opts->has_tls_fd = opts->has_admin_fd = 0;
}
