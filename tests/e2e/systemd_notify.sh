#!/usr/bin/env bash
# systemd_notify.sh - the readiness protocol of Type=notify (sd_notify(3), tools/serve_notify.c):
# with $NOTIFY_SOCKET set, `notarium serve` sends READY=1 and STATUS=listening on ADDR once the
# ledger is open and the port file exists, and STOPPING=1 on SIGTERM; a path socket and an
# abstract one (@name) both work.  A malformed NOTIFY_SOCKET, or one nobody listens on, is a
# warning, not a failed start.
# The listener is a few lines of python3 (a unix datagram socket), as systemd's would be.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

cat >"$T/listen.py" <<'PY'
import socket, sys
name, out, ready = sys.argv[1], sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + name[1:] if name.startswith("@") else name)
open(ready, "w").close()
s.settimeout(300)
while True:
    msg = s.recv(4096).decode()
    with open(out, "a") as f:
        f.write(msg + "\n--\n")
PY

run() { # NOTIFY_SOCKET-value tag
    local sock="$1" tag="$2" port msgs
    msgs="$T/$tag.msgs"
    rm -f "$T/$tag.ready"
    python3 "$T/listen.py" "$sock" "$msgs" "$T/$tag.ready" &
    NT_PIDS+=("$!")
    nt_wait_for '[[ -e "$T/$tag.ready" ]]' 10 "$tag: the python3 listener did not start"
    NOTIFY_SOCKET="$sock" nt_start "$T/$tag"
    # nt_start returned: the port file exists; READY=1 follows it (bounded poll).
    nt_wait_for 'grep -q "^READY=1\$" "$msgs" 2>/dev/null' 30 "$tag: no READY=1 received"
    port="$(tr -d '\n' <"$T/$tag.port")"
    grep -qx "STATUS=listening on $port" "$msgs" || nt_fail "$tag: status: $(cat "$msgs")"
    grep -q '^STOPPING=1$' "$msgs" && nt_fail "$tag: STOPPING=1 before SIGTERM"
    nt_stop
    nt_wait_for 'grep -q "^STOPPING=1\$" "$msgs"' 10 "$tag: no STOPPING=1 after SIGTERM"
}
run "$T/notify.sock" path
run "@notarium-e2e-notify-$$" abstract

# A bad socket name: the server starts anyway and says why it could not notify.
NOTIFY_SOCKET="relative/name" nt_start "$T/bad"
grep -q "systemd notification: NOTIFY_SOCKET: not an absolute path or @abstract name" "$NT_LOG" ||
    nt_fail "bad NOTIFY_SOCKET: no warning"
nt_stop
NOTIFY_SOCKET="$T/nobody-listens.sock" nt_start "$T/bad2"
grep -q "systemd notification: NOTIFY_SOCKET $T/nobody-listens.sock: No such file or directory" \
    "$NT_LOG" || nt_fail "NOTIFY_SOCKET without a listener: no warning"
nt_stop
echo "systemd_notify: OK"
