#!/usr/bin/env bash
# review_disconnect.sh - the suspend/resume path of http.c against clients
# that do not wait: a client that sends a whole /tsa or /v1/evidence request
# and closes at once (its connection is suspended while the sequencer commits
# the leaf: a lone one at once, with its fsync, since the adaptive group commit;
# concurrent ones wait up to the idle gap, batch_window_us / 20 = 10 ms here), and one that
# closes in the middle of its body.  The server must stay up and keep
# answering, every leaf it committed must be a valid record, and SIGTERM
# while a load is in flight must end with exit status 0 and every token a
# client received having its receipt after a restart (BRIEF invariant 1).
# Run under the ASan build this also catches a use-after-free of the request
# state by the ledger callback.
set -euo pipefail

: "${NT_BIN_DIR:?NT_BIN_DIR must name the build tools directory}"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOAD="$NT_BIN_DIR/notarium-load"
nt_setup

D="$T/data"
# 120 connections from one address wait in one 200 ms batch: above the default per-address
# cap (64, tested in http_slowloris), which is not what this test is about.
nt_demo_config "$D" '.ledger.batch_window_us = 200000 | .http.max_connections_per_address = 0'
nt_start_nodemo "$D" --log-level warn
VKEY="$D/pki/log.vkey"
hostport=${NT_URL#http://}
host=${hostport%:*}
port=${hostport##*:}

nt_tsq "$T/q.tsq" -data /dev/null -sha256 -cert
len=$(wc -c <"$T/q.tsq")
key=$(cat "$D/demo-api-key")

# Whole request, then close without reading the answer.
send_and_close() {
    local fd
    exec {fd}<>"/dev/tcp/$host/$port"
    printf 'POST /tsa HTTP/1.1\r\nHost: %s\r\nContent-Type: application/timestamp-query\r\nContent-Length: %s\r\n\r\n' \
        "$hostport" "$len" >&"$fd"
    cat "$T/q.tsq" >&"$fd"
    exec {fd}>&-
}
# Half a body, then close.
half_and_close() {
    local fd
    exec {fd}<>"/dev/tcp/$host/$port"
    printf 'POST /tsa HTTP/1.1\r\nHost: %s\r\nContent-Type: application/timestamp-query\r\nContent-Length: %s\r\n\r\n' \
        "$hostport" "$len" >&"$fd"
    head -c 10 "$T/q.tsq" >&"$fd"
    exec {fd}>&-
}
evidence_and_close() {
    local fd body
    body='{"digest":"sha256:'"$(printf '%064d' 7)"'","kind":"review.disconnect"}'
    exec {fd}<>"/dev/tcp/$host/$port"
    printf 'POST /v1/evidence HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\n\r\n%s' \
        "$hostport" "$key" "${#body}" "$body" >&"$fd"
    exec {fd}>&-
}

for _ in $(seq 1 40); do
    send_and_close
    half_and_close
    if [[ -n "$key" ]]; then evidence_and_close; fi
done

# Still serving: a patient client gets its token, and /healthz is ready.
status=$(nt_post_tsq "$T/q.tsq" "$T/r.tsr")
nt_check "$status == 200" "POST /tsa after the disconnects: HTTP $status"
nt_check "\"$(nt_reply_status "$T/r.tsr")\" == \"Granted\"" "token not granted after the disconnects"
status=$(nt_http GET "$NT_URL/healthz" "$T/h.json")
nt_check "$status == 200" "/healthz after the disconnects: HTTP $status"
size=$(curl -sS "$NT_URL/v1/checkpoint" | sed -n 2p)
# The tree starts with the signing certificates' leaves (kind 0x04).
C=$(nt_cert_leaves)
max=$((C + 40 + 40 + 1))
nt_check "$size -ge $((C + 1)) && $size -le $max" "tree size $size after $C certificate leaves and 40 + 40 + 1 appends at most"
# Every committed leaf is a whole record with a valid receipt.
for i in $(seq 0 $((size - 1))); do
    status=$(nt_http GET "$NT_URL/v1/receipt/$i" "$T/rc.json")
    nt_check "$status == 200" "receipt of leaf $i: HTTP $status"
done

# SIGTERM with appends in flight: the answers already sent hold committed leaves.
"$LOAD" --url "$NT_URL/tsa" --connections 8 --threads 2 --duration 5 --max-requests 100000 --stop-on-reject \
    --record "$T/granted.rec" >"$T/load.out" 2>&1 &
load_pid=$!
nt_wait_for 'cur=$(curl -sS "$NT_URL/v1/checkpoint" | sed -n 2p); [[ $cur -ge $((size + 50)) ]]' \
    30 "the load did not get going" 'echo "tree size $cur"'
nt_stop
wait "$load_pid" || true
granted=$(wc -l <"$T/granted.rec")
nt_check "$granted -ge 1" "the load received no token"
nt_start_nodemo "$D" --log-level warn
"$LOAD" --url "$NT_URL" --check-records "$T/granted.rec" --vkey "$VKEY" >"$T/check.out" 2>&1 ||
    { cat "$T/check.out"; nt_fail "a token sent before shutdown has no valid receipt"; }
nt_stop
echo "OK: disconnects survived, $granted tokens from the interrupted load all have receipts"
