#!/usr/bin/env bash
# http_spread.sh - keep-alive connections are spread over the HTTP workers
# (tsa/http_accept.c).  libmicrohttpd's own accepting let one worker take a
# whole burst of connections for their lifetime (0/16 was seen), so their
# signing ran on one core.  Here a server with two workers gets 16 keep-alive
# connections at once, held open and idle; each worker's epoll set (Linux
# /proc/PID/fdinfo) must hold at least 5 of them.  Then the server runs out of
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

# For each epoll instance of the server, how many sockets it watches (one number per line;
# sets without sockets are left out).  fdinfo lists each watched descriptor as
# "tfd: N events: ...", N being a descriptor of the server itself.
per_epoll() {
    local fd target tfd n
    for fd in /proc/"$NT_PID"/fd/*; do
        target=$(readlink "$fd" 2>/dev/null) || continue
        [[ "$target" == "anon_inode:[eventpoll]" ]] || continue
        n=0
        while read -r key tfd _; do
            [[ "$key" == "tfd:" ]] || continue
            [[ "$(readlink "/proc/$NT_PID/fd/$tfd" 2>/dev/null)" == socket:* ]] && n=$((n + 1))
        done <"/proc/$NT_PID/fdinfo/${fd##*/}"
        ((n > 0)) && echo "$n"
    done
    return 0
}

spread_check() { # url label
    local url="$1" label="$2" hold_pid counts
    "$LOAD" --url "$url/tsa" --connections 16 --threads 1 --duration 30 --max-requests 16 \
        --hold 3 "${@:3}" >"$T/hold.out" 2>&1 &
    hold_pid=$!
    NT_WAIT_INTERVAL=0.05 nt_wait_for 'grep -q "^HOLD " "$T/hold.out"' 20 "$label: no HOLD line" 'cat "$T/hold.out"'
    grep -q '^HOLD open=16 ' "$T/hold.out" || { cat "$T/hold.out"; nt_fail "$label: not 16 connections held"; }
    counts=$(per_epoll | sort -n | tr '\n' ' ')
    echo "$label: connections per epoll set: $counts"
    wait "$hold_pid" || { cat "$T/hold.out"; nt_fail "$label: load run failed"; }
    # two worker sets, each with at least 5 of the 16 (the listening socket is in none:
    # the accept thread polls it)
    read -r -a c <<<"$counts"
    ((${#c[@]} >= 2)) || nt_fail "$label: the connections sit in ${#c[@]} epoll set(s): $counts"
    ((c[-2] >= 5 && c[-1] >= 5)) || nt_fail "$label: one worker holds most connections: $counts"
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
echo "OK: 16 keep-alive connections spread over two HTTP workers; out of descriptors, accepting waited and went on"
