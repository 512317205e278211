#!/usr/bin/env bash
# http_spread.sh - keep-alive connections are spread over the HTTP workers
# (tsa/http_accept.c).  libmicrohttpd's own accepting let one worker take a
# whole burst of connections for their lifetime (0/16 was seen), so their
# signing ran on one core.  Here a server with two workers gets 16 keep-alive
# connections at once, busy for two seconds; each worker thread (MHD-worker,
# /proc/PID/task) must have done at least a fifth of the two workers' CPU
# (which worker holds a connection is not visible from outside; its CPU
# is).  Then the server runs out of
# descriptors (its soft limit lowered while it runs, prlimit): the accept thread
# waits without spinning and accepts again once descriptors are free (accept(2)'s
# EMFILE path).  (disk_freeze_shutdown.sh checks that a stopping server with
# this accept thread refuses new connections.)
set -euo pipefail

: "${NT_BIN_DIR:?NT_BIN_DIR must name the build tools directory}"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOAD="$NT_BIN_DIR/notarium-load"
nt_setup

D="$T/data"
nt_demo_config "$D" '.http.max_connections_per_address = 0'
nt_start_nodemo "$D" --threads 2

# "TID TICKS" for each HTTP worker thread of the server (user + system CPU ticks).
worker_ticks() {
    local t
    for t in /proc/"$NT_PID"/task/*; do
        [[ "$(cat "$t/comm" 2>/dev/null)" == MHD-worker ]] || continue
        echo "${t##*/} $(awk '{ print $14 + $15 }' "$t/stat")"
    done
    return 0
}

spread_check() { # url label
    local url="$1" label="$2" shares
    worker_ticks | sort >"$T/ticks0"
    "$LOAD" --url "$url/tsa" --connections 16 --threads 1 --duration 2 "${@:3}" \
        >"$T/spread.out" 2>&1 || { cat "$T/spread.out"; nt_fail "$label: load run failed"; }
    worker_ticks | sort >"$T/ticks1"
    # each worker's ticks in the run, then its share of the two workers' sum in percent
    shares=$(join "$T/ticks0" "$T/ticks1" | awk '{ d[NR] = $3 - $2; s += d[NR] }
        END { for (i = 1; i <= NR; i++) printf "%d ", (s > 0 ? 100 * d[i] / s : 0) }')
    echo "$label: share of the workers' CPU per worker (%): $shares"
    read -r -a c <<<"$shares"
    ((${#c[@]} == 2)) || nt_fail "$label: ${#c[@]} worker threads, expected 2: $shares"
    ((c[0] >= 20 && c[1] >= 20)) || nt_fail "$label: one worker did most of the work: $shares"
}
spread_check "$NT_URL" "HTTP"

# Out of descriptors: the accept thread waits and goes on (it neither stops accepting nor
# spins).  The server's descriptor limit is lowered while it runs, more connections are
# opened than it can accept (the rest wait in the kernel's backlog), then all are closed:
# the server answers again, and the accept thread took little CPU while it waited.
open_fds=$(find /proc/"$NT_PID"/fd -mindepth 1 | wc -l)
soft=$(prlimit --pid "$NT_PID" --nofile --output SOFT --noheadings | tr -d ' ')
# only the soft limit: lowering and raising it again needs no privilege
prlimit --pid "$NT_PID" --nofile=$((open_fds + 8)):
host=${NT_URL#http://}
host=${host%%:*}
port=${NT_URL##*:}
held=()
for _ in $(seq 1 24); do
    exec {fd}<>"/dev/tcp/$host/$port"
    held+=("$fd")
done
t0=$(awk '{ print $14 + $15 }' /proc/"$NT_PID"/stat)
sleep 1
t1=$(awk '{ print $14 + $15 }' /proc/"$NT_PID"/stat)
# the server idles while the backlog waits: under 30 ticks (0.3 s of CPU) in that second
((t1 - t0 < 30)) || nt_fail "the server spun while out of descriptors: $((t1 - t0)) ticks in 1 s"
# and it did run out: fewer than the 24 connections were accepted
sockets=$(find /proc/"$NT_PID"/fd -mindepth 1 -lname 'socket:*' | wc -l)
echo "out of descriptors: $open_fds open before, limit $((open_fds + 8)), $sockets sockets now"
((sockets < open_fds + 8)) || nt_fail "the server holds $sockets sockets, over its limit"
for fd in "${held[@]}"; do
    exec {fd}>&-
done
prlimit --pid "$NT_PID" --nofile="$soft":
nt_wait_for '[[ "$(nt_http GET "$NT_URL/healthz" "$T/h.json")" == 200 ]]' 10 \
    "the server does not answer after running out of descriptors"
nt_tsq "$T/after.tsq" -digest "$(printf 'e%.0s' {1..64})" -sha256 -cert
nt_check "$(nt_post_tsq "$T/after.tsq" "$T/after.tsr") == 200" "no token after running out of descriptors"
grep -q "no new connections" "$NT_LOG" && nt_fail "the accept thread stopped: $(grep 'no new connections' "$NT_LOG")"
echo "OK: 16 busy keep-alive connections spread over two HTTP workers; out of descriptors, accepting waited and went on"
