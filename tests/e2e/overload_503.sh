#!/usr/bin/env bash
# overload_503.sh - load shedding: a server whose ledger queue holds one
# append ("queue_max": 1) under parallel load answers the surplus with HTTP
# 503 + Retry-After (a DER TimeStampResp rejection with systemFailure) and
# keeps granting the rest with HTTP 200 (granted + shed = sent); every token a client received has a
# receipt (notarium-load --check-records), the tree holds exactly the granted
# tokens (a shed request leaves nothing behind), and notarium_overload_total
# in /metrics counts every 503 the clients saw.
#
# Deterministic, not a race: with batch_max (512) above queue_max (1) a batch
# never fills, so the sequencer holds each queued append for the idle gap
# (batch_window_us / 20 = 10 ms here) before committing it; during that gap
# the queue is full and any other append is refused.  16 connections that
# resend at once after every answer always land in such a gap.
set -euo pipefail

: "${NT_BIN_DIR:?NT_BIN_DIR must name the build tools directory}"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOAD="$NT_BIN_DIR/notarium-load"
nt_setup

D="$T/data"
nt_start "$D"
nt_stop
nt_config_set "$D" '.ledger.queue_max = 1 | .ledger.batch_window_us = 200000'
nt_start_nodemo "$D" --log-level warn
VKEY="$D/pki/log.vkey"
# The tree starts with the signing certificates' leaves (kind 0x04).
C=$(nt_cert_leaves)
nt_check "$C -ge 1 && $(nt_tree_size) == $C" "fresh tree size $(nt_tree_size), $C certificate leaves"

# Phase 1, exact counts: 16 connections, ended by the request cap (which drains
# the requests in flight, so the client's counts are exact).
"$LOAD" --url "$NT_URL/tsa" --connections 16 --threads 2 --duration 60 --max-requests 5000 \
    --record "$T/granted.rec" >"$T/load.out" 2>&1 || { cat "$T/load.out"; nt_fail "notarium-load failed"; }
cat "$T/load.out"
result=$(grep '^RESULT ' "$T/load.out") || nt_fail "no RESULT line"
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$result"; }
requests=$(field requests) granted=$(field granted) rejected=$(field rejected) errors=$(field errors)
http503=$(sed -n 's/^rejected .*(HTTP 503: \([0-9]*\))/\1/p' "$T/load.out")
nt_check "$requests == 5000" "load ran $requests requests, want 5000"
nt_check "$errors == 0" "load saw $errors errors"
# At least the first append finds the queue empty; how many more depends on fsync speed.
nt_check "$granted -ge 1" "no token granted under overload"
nt_check "$rejected -ge 1 && $http503 == $rejected" "load: $rejected rejected, $http503 of them 503"
nt_check "$((granted + rejected)) == $requests" "granted + rejected != requests"
nt_check "$(wc -l <"$T/granted.rec") == $granted" "recorded tokens != granted"

# Every granted token has a receipt; the tree holds exactly the granted tokens.
"$LOAD" --url "$NT_URL" --check-records "$T/granted.rec" --vkey "$VKEY" >"$T/check.out" 2>&1 ||
    { cat "$T/check.out"; nt_fail "a granted token has no valid receipt"; }
curl -sS "$NT_URL/v1/checkpoint" >"$T/cp"
size=$(sed -n 2p "$T/cp")
nt_check "$size == $((C + granted))" "tree size $size, $C certificate leaves + granted $granted"

# /metrics counts every shed request (exactly the ones the client saw: nothing
# else can be shed here).
curl -sS "$NT_URL/metrics" >"$T/metrics"
over=$(sed -n 's/^notarium_overload_total \([0-9]*\)$/\1/p' "$T/metrics")
nt_check "-n \"$over\"" "no notarium_overload_total in /metrics"
nt_check "$over == $rejected" "notarium_overload_total $over, the client saw $rejected"

# Phase 2, the 503 itself: a plain client sends while a background load keeps the
# queue full, until one of its requests is shed (bounded; the load must still run).
"$LOAD" --url "$NT_URL/tsa" --connections 8 --threads 1 --duration 30 --max-requests 1000000 \
    >"$T/load2.out" 2>&1 &
load_pid=$!
echo "overload probe" >"$T/doc.txt"
nt_tsq "$T/q.tsq" -data "$T/doc.txt" -sha256 -cert
probe503=0
for _ in $(seq 1 200); do
    kill -0 "$load_pid" 2>/dev/null || nt_fail "the background load ended: $(cat "$T/load2.out")"
    code=$(curl -sS -o "$T/r.tsr" -D "$T/r.hdr" -w '%{http_code}' \
        -H 'Content-Type: application/timestamp-query' --data-binary @"$T/q.tsq" "$NT_URL/tsa")
    if [[ "$code" == 200 ]]; then
        nt_check "\"$(nt_reply_status "$T/r.tsr")\" == Granted" "probe: HTTP 200 but not granted"
        continue
    fi
    nt_check "$code == 503" "probe: HTTP $code, want 200 or 503"
    probe503=1
    break
done
kill -TERM "$load_pid" 2>/dev/null || true
wait "$load_pid" || true
nt_check "$probe503 == 1" "no request of the probe client was shed in 200 tries"
grep -qi '^Retry-After: *[0-9]' "$T/r.hdr" || nt_fail "503 without Retry-After"
grep -qi '^Content-Type: application/timestamp-reply' "$T/r.hdr" ||
    nt_fail "503 body is not application/timestamp-reply"
openssl ts -reply -in "$T/r.tsr" -text >"$T/r.txt" 2>/dev/null || nt_fail "503 body is not a TimeStampResp"
grep -q '^Status: Rejected' "$T/r.txt" || nt_fail "503 reply is not a rejection: $(head -3 "$T/r.txt")"
grep -qi 'system failure' "$T/r.txt" || nt_fail "503 rejection without systemFailure"
if openssl ts -reply -in "$T/r.tsr" -token_out -out "$T/r.tok" >/dev/null 2>&1 && [[ -s "$T/r.tok" ]]; then
    nt_fail "a shed request carried a token"
fi
curl -sS "$NT_URL/metrics" >"$T/metrics"
over=$(sed -n 's/^notarium_overload_total \([0-9]*\)$/\1/p' "$T/metrics")

# Negative twin: without load the same server grants at once.
code=$(nt_post_tsq "$T/q.tsq" "$T/r2.tsr")
nt_check "$code == 200" "an unloaded request: HTTP $code"
nt_check "\"$(nt_reply_status "$T/r2.tsr")\" == Granted" "an unloaded request was not granted"
curl -sS "$NT_URL/metrics" >"$T/metrics2"
nt_check "$(sed -n 's/^notarium_overload_total \([0-9]*\)$/\1/p' "$T/metrics2") == $over" \
    "an unloaded request counted as overload"
nt_stop
echo "overload_503: ok (granted $granted, shed $rejected of $requests)"
