#!/usr/bin/env bash
# mirror_stall.sh - a git remote that accepts TCP and never answers (issue 13,
# item 2): listed FIRST, it must hold up neither the local mirror nor the good
# remote listed after it; /healthz shows it failing ("timed out") and behind
# with a growing lag; SIGTERM ends the server within mirror.stop_timeout_ms
# (plus slack), exit status 0, though the push to it never finishes.
# The listener is a few lines of python3 (scripts/debian-packages.txt).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

# The stalled peer: accepts every connection, keeps it open, never reads or writes.
python3 -c '
import socket, sys, os
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
tmp = sys.argv[1] + ".tmp"
with open(tmp, "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(tmp, sys.argv[1])
held = []
while True:
    c, _ = s.accept()
    held.append(c)
' "$T/stall.port" &
STALL_PID=$!
NT_PIDS+=("$STALL_PID")
nt_wait_for '[[ -s "$T/stall.port" ]] || { kill -0 "$STALL_PID" 2>/dev/null ||
    nt_fail "the stalled listener did not start"; false; }' 10 "the stalled listener wrote no port"
stall_url="http://127.0.0.1:$(cat "$T/stall.port")/stalled.git"
good="$T/good.git"
git init -q --bare "$good"

A="$T/a"
nt_start "$A" --log-level warn
nt_stop
nt_config_set "$A" ".mirror.interval_ms = 100 | .mirror.push_timeout_ms = 3000 |
    .mirror.stop_timeout_ms = 2000 | .mirror.remotes = [\"$stall_url\", \"$good\"]"
nt_start "$A" --log-level warn

# The log starts with the signing certificates' leaves (kind 0x04), C of them: after
# n tokens it holds sz = C + n entries.
C=$(nt_cert_leaves)
nt_check "$C -ge 1" "no certificate leaf recorded"
n=12
sz=$((C + n))
for i in $(seq 1 $n); do
    nt_tsq "$T/q.tsq" -digest "$(printf '%064d' "$i")" -sha256
    code=$(nt_post_tsq "$T/q.tsq" "$T/q.tsr")
    nt_check "$code == 200" "POST /tsa $i: HTTP $code"
done
# bounded (60 s): the local mirror and the good remote catch up, the stalled one times out
caught_up() {
    nt_http GET "$NT_URL/healthz" "$T/h.json" >/dev/null
    jq -e --argjson n "$sz" '.mirror.size == $n and .mirror.remotes[1].pushed_size == $n and
        .mirror.remotes[1].entries_behind == 0 and
        (.mirror.remotes[0].last_error | test("timed out after 3 s"))' "$T/h.json" >/dev/null
}
NT_WAIT_INTERVAL=0.1 nt_wait_for caught_up 60 \
    "the mirror or the good remote is held up by the stalled one" 'jq -c .mirror "$T/h.json"'
jq -e --argjson n "$sz" '.mirror.entries_behind == 0 and .mirror.last_error == "" and
        .mirror.remotes[0].pushed_size == 0 and .mirror.remotes[0].entries_behind == $n and
        .mirror.remotes[0].seconds_behind > 0 and .mirror.remotes[0].failures >= 1 and
        .mirror.remotes[0].attempts >= 1 and .mirror.remotes[0].last_success_s == -1 and
        .mirror.remotes[1].pushes >= 1 and .mirror.remotes[1].last_error == "" and
        .mirror.remotes[1].last_success_s >= 0' "$T/h.json" >/dev/null ||
    nt_fail "/healthz mirror: $(jq -c .mirror "$T/h.json")"
lag1=$(jq .mirror.remotes[0].seconds_behind "$T/h.json")
# the retry of the stalled push shows as its own process
NT_WAIT_INTERVAL=0.05 nt_wait_for \
    'pgrep -f "notarium-mirror-push $A/mirror.git $stall_url" >/dev/null 2>&1' 10 \
    "no push process for the stalled remote while it is retried"
grep -q 'timed out after 3 s (retrying with back-off)' "$NT_LOG" ||
    nt_fail "no log line for the stalled remote"
nt_http GET "$NT_URL/metrics" "$T/m.txt" >/dev/null
grep -Eq "^notarium_mirror_remote_seconds_behind\\{remote=\"$stall_url\"\\} [1-9]|^notarium_mirror_remote_seconds_behind\\{remote=\"$stall_url\"\\} 0\\.[0-9]*[1-9]" \
    "$T/m.txt" || nt_fail "/metrics lag of the stalled remote: $(grep remote_seconds "$T/m.txt")"
# the lag keeps growing while the remote stays stalled (measured from the ledger's growth)
NT_WAIT_INTERVAL=0.05 nt_wait_for 'nt_http GET "$NT_URL/healthz" "$T/h2.json" >/dev/null &&
    jq -e --argjson l "$lag1" ".mirror.remotes[0].seconds_behind > \$l" "$T/h2.json" >/dev/null' 5 \
    "the stalled remote's lag does not grow" \
    'echo "$lag1 then $(jq .mirror.remotes[0].seconds_behind "$T/h2.json")"'

# SIGTERM: a push to the stalled remote is in flight or retried at stop; the server
# must exit within stop_timeout_ms (2 s) plus slack for a loaded machine, status 0.
start=$(date +%s%N)
kill -TERM "$NT_PID"
NT_WAIT_INTERVAL=0.05 nt_wait_for '! kill -0 "$NT_PID" 2>/dev/null' 15 \
    "the server still runs after SIGTERM (stalled remote)"
rc=0
wait "$NT_PID" || rc=$?
NT_PID=""
ms=$(( ($(date +%s%N) - start) / 1000000 ))
nt_check "$rc -eq 0" "exit status $rc after SIGTERM"
echo "stop took $ms ms"
nt_check "$ms -lt 12000" "stop took $ms ms"
# Everything issued is in the local mirror and in the good remote.
nt_check "$(git -C "$A/mirror.git" cat-file blob main:checkpoint | sed -n 2p) == $sz" "local mirror size"
nt_check "$(git -C "$good" cat-file blob main:checkpoint | sed -n 2p) == $sz" "good remote size"
# No push process (`notarium-mirror-push REPO URL PID`) outlives the server.
pat="notarium-mirror-push $A/mirror.git "
NT_WAIT_INTERVAL=0.05 nt_wait_for '! pgrep -f "$pat" >/dev/null 2>&1' 5 \
    "a push process of the stopped server is still running" 'pgrep -af "$pat"'
echo "mirror_stall: ok"
