/*
 * serve_notify.c - systemd's readiness protocol (sd_notify(3)), written out
 * instead of linking libsystemd (docs/DEPENDENCIES.md says why): one
 * datagram with "KEY=VALUE" lines to the AF_UNIX socket named in
 * $NOTIFY_SOCKET, a path or, with a leading '@', an abstract name.  systemd
 * identifies the sender by its credentials, so a fresh socket per message
 * is enough; messages are a few per run (READY, STATUS, STOPPING).
 */
#include "tools/serve_int.h"
#include "util/util.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int serve_notify(const char *state)
{
    const char *name = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    size_t len;
    socklen_t sl;
    ssize_t n;
    int fd = -1, error = 0;

    if (name == NULL || name[0] == '\0') {
        return 0;
    }
    len = strlen(name);
    NT_ENSURE((name[0] == '/' || name[0] == '@') && len >= 2 && len < sizeof(sa.sun_path),
              NT_EINVAL, "NOTIFY_SOCKET: not an absolute path or @abstract name: %s", name);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, name, len);
    if (name[0] == '@') {
        sa.sun_path[0] = '\0'; /* abstract: the name is the len bytes, no terminator */
        sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    } else {
        sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    }
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    NT_ENSURE(fd >= 0, NT_EIO, "NOTIFY_SOCKET: socket: %s", strerror(errno));
    do {
        n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, sl);
    } while (n < 0 && errno == EINTR);
    NT_ENSURE(n >= 0 && (size_t)n == strlen(state), NT_EIO, "NOTIFY_SOCKET %s: %s", name,
              n < 0 ? strerror(errno) : "short send");
done:
    if (fd >= 0) {
        close(fd);
    }
    return error;
}
