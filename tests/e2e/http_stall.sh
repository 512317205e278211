#!/usr/bin/env bash
# http_stall.sh - no request is left unanswered under load.  Every RFC 3161
# request is suspended while its leaf is committed and resumed from the
# sequencer thread.  With libmicrohttpd's own epoll loop, a worker that found 128
# connections ready at once (its epoll_wait array) queued them and slept in a
# second epoll_wait: their requests sat unread in the server's socket buffers
# for seconds (256 keep-alive connections on two workers, 128 each: in about
# half of 5 s runs, mostly from the first second on).  The workers now run
# their daemons' epoll from a loop of ours, which never lets it block
# (tsa/http_accept.c says more).  Here
# a server with two workers gets 256 busy keep-alive connections, five times
# for 2 s (with epoll this test failed in 1 of 3 runs of three 3 s loads, so
# it now takes more, shorter ones); notarium-load counts the
# requests still unanswered when each run ends, and one unanswered for a
# second or longer fails the run (--stall-ms).  Every reply is checked as in
# any load run, and the ledger must hold every token granted.
set -euo pipefail

: "${NT_BIN_DIR:?NT_BIN_DIR must name the build tools directory}"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOAD="$NT_BIN_DIR/notarium-load"
nt_setup

D="$T/data"
nt_demo_config "$D" '.http.max_connections_per_address = 0'
nt_start_nodemo "$D" --threads 2

granted=0
for run in 1 2 3 4 5; do
    rc=0
    "$LOAD" --url "$NT_URL/tsa" --connections 256 --threads 2 --duration 2 --stall-ms 1000 \
        >"$T/load$run.out" 2>&1 || rc=$?
    result=$(grep '^RESULT ' "$T/load$run.out") || { cat "$T/load$run.out"; nt_fail "run $run: no RESULT"; }
    echo "run $run: $result"
    ((rc == 0)) || { cat "$T/load$run.out"; nt_fail "run $run: notarium-load exited $rc"; }
    [[ "$result" == *" stalled=0"* ]] || nt_fail "run $run: requests stalled: $result"
    [[ "$result" == *" errors=0 "* ]] || nt_fail "run $run: errors: $result"
    n=$(sed -n 's/.* granted=\([0-9]*\) .*/\1/p' <<<"$result")
    ((n > 0)) || nt_fail "run $run: no token granted"
    granted=$((granted + n))
done

# Every granted token is in the ledger (the demo's own leaves come first).
size=$(curl -sS "$NT_URL/v1/checkpoint" | sed -n 2p)
[[ "$size" =~ ^[0-9]+$ ]] || nt_fail "no checkpoint size: $size"
((size >= granted)) || nt_fail "the ledger holds $size leaves, $granted tokens were granted"
echo "ledger size $size, tokens granted $granted"

nt_stop
echo "PASS"
