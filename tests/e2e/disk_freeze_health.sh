#!/usr/bin/env bash
# disk_freeze_health.sh - issue 13 item 12: with the disk frozen, receipt reads
# must not take every HTTP worker, and /healthz and /metrics answer from memory
# at once, /healthz saying not ready (503 + reason) once a commit has been
# pending longer than http.commit_stall_ms; thawed, everything completes and
# the server is ready again.  The test-only LD_PRELOAD shim tests/shim/freeze.c
# makes every fsync/fdatasync/msync and every LMDB read transaction wait while
# $NT_FREEZE_FILE exists (what a hung device does to commits and page faults).
# Ledger reads run on their own pool (as many threads as workers, 2 here), never
# on the HTTP workers: 4 reads on a frozen disk take both readers and the other
# two are refused at once with 503 "busy" (bounded, no queue behind a stall).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup
D="$T/data"
nt_demo_config "$D" '.http.commit_stall_ms = 1000'
nt_start_freezable "$D" --threads 2

nt_tsq "$T/a.tsq" -digest "$(printf 'a%.0s' {1..64})" -sha256 -cert
nt_check "$(nt_post_tsq "$T/a.tsq" "$T/a.tsr") == 200" "first request not answered 200"

touch "$NT_FREEZE_FILE"
nt_tsq "$T/b.tsq" -digest "$(printf 'b%.0s' {1..64})" -sha256 -cert
curl -sS -o "$T/b.tsr" -w '%{http_code}' -H 'Content-Type: application/timestamp-query' \
    --data-binary @"$T/b.tsq" --max-time 120 "$NT_URL/tsa" >"$T/b.code" 2>&1 &
b_pid=$!
r_pids=()
for i in 1 2 3 4; do
    curl -sS -o "$T/r$i.json" -w '%{http_code}' --max-time 120 "$NT_URL/v1/receipt/0" \
        >"$T/r$i.code" 2>&1 &
    r_pids+=($!)
done

# /healthz and /metrics answer within 2 s each, all along; after the stall bound
# /healthz says 503 with a reason.
stalled() {
    code=$(curl -sS -o "$T/h.json" -w '%{http_code}' --max-time 2 "$NT_URL/healthz") ||
        nt_fail "/healthz did not answer within 2 s with the disk frozen"
    [[ "$code" == 503 ]] && jq -e '.reason | test("pending")' "$T/h.json" >/dev/null && return 0
    nt_check "$code == 200" "/healthz: HTTP $code before the stall bound: $(cat "$T/h.json")"
    return 1
}
NT_WAIT_INTERVAL=0.05 nt_wait_for stalled 10 "/healthz never reported the stalled commit" \
    'cat "$T/h.json"'
nt_check "$(jq -r .ready "$T/h.json") == false" "not-ready /healthz says ready"
code=$(curl -sS -o "$T/m.txt" -w '%{http_code}' --max-time 2 "$NT_URL/metrics") ||
    nt_fail "/metrics did not answer within 2 s with the disk frozen"
nt_check "$code == 200" "/metrics: HTTP $code"
pending=$(sed -n 's/^notarium_ledger_commit_pending_seconds \([0-9.]*\)$/\1/p' "$T/m.txt")
nt_check "-n \"$pending\"" "no notarium_ledger_commit_pending_seconds"
awk -v p="$pending" 'BEGIN { exit !(p >= 1.0) }' || nt_fail "commit pending $pending s, want >= 1"

# Two receipt reads wait on the frozen disk; the other two were refused at once.
busy() {
    local i n=0
    for i in 1 2 3 4; do
        [[ -s "$T/r$i.code" && "$(cat "$T/r$i.code")" == 503 ]] && n=$((n + 1))
    done
    echo "$n"
}
nt_wait_for '[[ $(busy) -ge 2 ]]' 5 "receipt reads refused with 503, want 2 (both readers busy)" \
    'echo "$(busy) were"'
for i in 1 2 3 4; do
    if [[ "$(cat "$T/r$i.code" 2>/dev/null)" == 503 ]]; then
        nt_check "$(jq -r .error "$T/r$i.json") == busy" "refused read: $(cat "$T/r$i.json")"
    fi
done

# Thaw: the waiting token is granted, the waiting read is answered, ready again.
rm -f "$NT_FREEZE_FILE"
wait "$b_pid" || true
nt_check "$(cat "$T/b.code") == 200" "waiting token: HTTP $(cat "$T/b.code")"
nt_check "$(nt_reply_status "$T/b.tsr") == Granted" "waiting token not granted"
wait "${r_pids[@]}" || true
ok=0
for i in 1 2 3 4; do
    [[ "$(cat "$T/r$i.code")" == 200 ]] && ok=$((ok + 1))
done
nt_check "$ok -ge 2" "the waiting receipt reads were not answered 200 ($ok)"
nt_wait_for '[[ "$(nt_http GET "$NT_URL/healthz" "$T/h.json" --max-time 5)" == 200 ]]' 5 \
    "not ready after the thaw" 'cat "$T/h.json"'
nt_stop
echo "ok: /healthz and /metrics answered on a frozen disk; not ready after the stall bound"
