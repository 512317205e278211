#!/usr/bin/env bash
# disk_freeze_shutdown.sh - issue 13 item 5: SIGTERM while the disk is frozen.
# The server runs with the test-only LD_PRELOAD shim tests/shim/freeze.c: while
# $NT_FREEZE_FILE exists every fsync/fdatasync/msync waits, so a ledger commit
# never returns (a hung device).  Requests sent then stay suspended waiting
# for their commit.  On SIGTERM the server waits http.drain_timeout_ms (1 s
# here), then answers every waiting request 503 (RFC 3161: a systemFailure
# rejection; evidence: JSON "ledger_unavailable") and exits with status 3
# (documented in OPERATING.md) instead of aborting inside libmicrohttpd
# ("MHD_stop_daemon() called while we have suspended connections", SIGABRT)
# or hanging on the stalled commit.  No token leaves the server.  While it drains,
# new connections are refused (the listening socket is closed first).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup
D="$T/data"
nt_demo_config "$D" '.http.drain_timeout_ms = 1000'
# The stalled sequencer is deliberately never joined: no leak report at exit (ASan builds).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
nt_start_freezable "$D" --threads 2
KEY=$(cat "$D/demo-api-key")

# Healthy first: a token is granted and committed.
nt_tsq "$T/a.tsq" -digest "$(printf 'a%.0s' {1..64})" -sha256 -cert
nt_check "$(nt_post_tsq "$T/a.tsq" "$T/a.tsr") == 200" "first request not answered 200"
nt_check "$(nt_reply_status "$T/a.tsr") == Granted" "first request not granted"

# Freeze, then two RFC 3161 requests and one evidence record wait for their commit.
touch "$NT_FREEZE_FILE"
nt_tsq "$T/b.tsq" -digest "$(printf 'b%.0s' {1..64})" -sha256 -cert
nt_tsq "$T/c.tsq" -digest "$(printf 'c%.0s' {1..64})" -sha256 -cert
c_pids=()
for n in b c; do
    curl -sS -o "$T/$n.tsr" -w '%{http_code}' -H 'Content-Type: application/timestamp-query' \
        --data-binary @"$T/$n.tsq" --max-time 60 "$NT_URL/tsa" >"$T/$n.code" 2>"$T/$n.err" &
    c_pids+=($!)
done
curl -sS -o "$T/e.json" -w '%{http_code}' -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' --max-time 60 \
    -d "{\"digest\":\"sha256:$(printf 'e%.0s' {1..64} | tr e 0)\",\"kind\":\"test\"}" \
    "$NT_URL/v1/evidence" >"$T/e.code" 2>"$T/e.err" &
c_pids+=($!)
# Bounded poll until all three wait in the ledger (/healthz answers from memory).
# requests_waiting counts every request suspended on the ledger, whether its leaf is queued
# or in the frozen batch (one batch may hold all three: queue_depth alone can read 0).
nt_wait_for 'q=$(curl -sS --max-time 5 "$NT_URL/healthz" | jq ".ledger.requests_waiting");
        [[ "$q" -ge 3 ]]' 10 "the requests did not reach the ledger" 'echo "waiting $q"'

start=$(date +%s%N)
rc=0
kill -TERM "$NT_PID"
# While it drains (1 s), its listening socket is closed at once: a new connection is
# refused (curl exit 7) while the server is still there (the accept thread of
# tsa/http_accept.c stopped, the waiting requests not answered yet).
refused=0
for _ in $(seq 1 50); do
    crc=0
    curl -sS -o /dev/null --max-time 1 "$NT_URL/healthz" 2>/dev/null || crc=$?
    if [[ $crc == 7 ]]; then
        kill -0 "$NT_PID" 2>/dev/null && refused=1
        break
    fi
    sleep 0.01
done
wait "$NT_PID" || rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
NT_PIDS=()
wait "${c_pids[@]}" || true # the clients
nt_check "$refused == 1" "a new connection was not refused while the server drained"
nt_check "$rc == 3" "server exited with status $rc after SIGTERM on a frozen disk, want 3"
nt_check "$ms -lt 10000" "shutdown took $ms ms (drain bound 1000 ms)"
grep -q "did not commit within 1000 ms" "$NT_LOG" || nt_fail "no shutdown message in the log"
grep -qi "suspended connections" "$NT_LOG" && nt_fail "libmicrohttpd complained about suspended connections"
for n in b c; do
    nt_check "$(cat "$T/$n.code") == 503" "request $n: HTTP $(cat "$T/$n.code") $(cat "$T/$n.err")"
    nt_check "$(nt_reply_status "$T/$n.tsr") == Rejected" "request $n: not a rejection"
    nt_reply_failinfo "$T/$n.tsr" | grep -qi "system failure\|systemFailure" ||
        nt_fail "request $n: failure info is not systemFailure"
done
nt_check "$(cat "$T/e.code") == 503" "evidence: HTTP $(cat "$T/e.code")"
nt_check "$(jq -r .error "$T/e.json") == ledger_unavailable" "evidence: $(cat "$T/e.json")"

# Thawed, the data directory starts again and still holds the first token.
rm -f "$NT_FREEZE_FILE"
nt_start_nodemo "$D"
curl -sS "$NT_URL/v1/checkpoint" >"$T/cp"
nt_check "$(sed -n 2p "$T/cp") -ge 1" "the first token's leaf is gone"
nt_stop
echo "ok: SIGTERM on a frozen disk answered 3 waiting requests 503 and exited 3 in $ms ms"
