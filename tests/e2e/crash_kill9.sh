#!/usr/bin/env bash
# crash_kill9.sh - fault test of invariant 1 ("nothing acknowledged is ever
# lost") and 2 ("append-only"): the real server is killed with SIGKILL at
# random moments while notarium-load clients (RFC 3161 and evidence) hammer
# it and record every token they receive; it is restarted on the same data
# directory each time.  After the last restart every recorded token must have
# a receipt holding the very same token bytes, proven (inclusion proof)
# against a checkpoint signed by the log key, and every checkpoint seen across
# the kills must be consistent with the previous one (RFC 9162 consistency
# proofs, verified by notarium-load --check-consistency; the tree size never
# goes down).  Run by ctest with NOTARIUM, NT_BIN_DIR and NT_E2E_TMP set.
set -euo pipefail

: "${NT_BIN_DIR:?NT_BIN_DIR must name the build tools directory}"
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOAD="$NT_BIN_DIR/notarium-load"
CYCLES="${NT_CRASH_CYCLES:-5}"

nt_setup
tmp="$T"
data="$tmp/data"
fail() { nt_fail "$@"; }

# The load clients are ours to stop; lib.sh's trap stops the servers.
load_pids=()
cleanup() {
    local p
    for p in "${load_pids[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
    done
    nt_cleanup
}
trap cleanup EXIT

start_server() {
    nt_start "$data" --log-level warn
    url="$NT_URL"
}
# kill -9 the running server and forget its pid (so that no later cleanup
# signals a recycled pid).
crash_server() {
    local p keep=()
    kill -KILL "$NT_PID"
    wait "$NT_PID" 2>/dev/null || true
    for p in "${NT_PIDS[@]}"; do
        [[ "$p" == "$NT_PID" ]] || keep+=("$p")
    done
    NT_PIDS=("${keep[@]}")
    NT_PID=""
}

# Negative twins of the load tool's own rules: non-loopback targets are refused
# before any connection is made, and a check fails on a tampered record.
if "$LOAD" --url http://192.0.2.1:3161/tsa --duration 1 >/dev/null 2>"$tmp/refused.txt"; then
    fail "notarium-load accepted a non-loopback target"
fi
grep -q "loopback" "$tmp/refused.txt" || fail "refusal does not say why: $(cat "$tmp/refused.txt")"

start_server
vkey="$data/pki/log.vkey"
[[ -s "$vkey" ]] || fail "demo data dir has no pki/log.vkey"
api_key="$(cat "$data/demo-api-key")"
"$LOAD" --url "$url" --check-consistency "$tmp/cp" --vkey "$vkey" --save-checkpoint "$tmp/cp" \
    >/dev/null || fail "first checkpoint does not verify"

for cycle in $(seq 1 "$CYCLES"); do
    : >"$tmp/tsa.$cycle.rec"
    "$LOAD" --url "$url/tsa" --connections 6 --threads 2 --duration 60 --max-requests 3000 \
        --record "$tmp/tsa.$cycle.rec" >"$tmp/load.$cycle.out" 2>&1 &
    load_pids=($!)
    "$LOAD" --url "$url" --evidence --api-key "$api_key" --connections 2 --threads 1 \
        --duration 60 --max-requests 1000 --record "$tmp/evidence.$cycle.rec" \
        >"$tmp/evidence.$cycle.out" 2>&1 &
    load_pids+=($!)
    # Kill at a random moment once tokens are flowing: wait (bounded) for the
    # first recorded token, then a random 0..700 ms more.
    nt_wait_for '[[ -s "$tmp/tsa.$cycle.rec" ]]' 10 "cycle $cycle: no token received"
    sleep "0.$(printf '%03d' $((RANDOM % 700)))"
    # A checkpoint taken under load must extend the one saved before.
    "$LOAD" --url "$url" --check-consistency "$tmp/cp" --vkey "$vkey" --save-checkpoint "$tmp/cp" \
        >>"$tmp/consistency.out" || fail "cycle $cycle: checkpoint under load not consistent"
    crash_server
    for p in "${load_pids[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    load_pids=()
    echo "cycle $cycle: $(wc -l <"$tmp/tsa.$cycle.rec") tokens," \
        "$(wc -l <"$tmp/evidence.$cycle.rec") evidence receipts before kill -9"
    start_server
    # After the restart the head must still extend every head seen before.
    "$LOAD" --url "$url" --check-consistency "$tmp/cp" --vkey "$vkey" --save-checkpoint "$tmp/cp" \
        >>"$tmp/consistency.out" || fail "cycle $cycle: head after restart not consistent"
done

cat "$tmp"/tsa.*.rec "$tmp"/evidence.*.rec >"$tmp/all.rec"
total=$(wc -l <"$tmp/all.rec")
[[ -s "$tmp/tsa.1.rec" ]] || fail "no RFC 3161 token was received"
[[ -n "$(cat "$tmp"/evidence.*.rec)" ]] || fail "no evidence receipt was received: $(tail -n 3 "$tmp/evidence.1.out")"
"$LOAD" --url "$url" --check-records "$tmp/all.rec" --vkey "$vkey" >"$tmp/check.out" 2>&1 ||
    fail "tokens lost after kill -9: $(cat "$tmp/check.out")"
cat "$tmp/check.out"

# Negative twins: the checker must notice a digest the ledger does not hold,
# and a token that differs from the one in the ledger.
read -r spec1 token1 < <(sed -n 1p "$tmp/all.rec")
read -r _ token2 < <(sed -n 2p "$tmp/all.rec")
hex1="${spec1#*:}"
echo "${spec1%%:*}:${hex1//?/0} $token1" >"$tmp/forged-digest.rec"
echo "$spec1 $token2" >"$tmp/forged-token.rec"
for forged in forged-digest forged-token; do
    if "$LOAD" --url "$url" --check-records "$tmp/$forged.rec" --vkey "$vkey" >/dev/null 2>&1; then
        fail "--check-records accepted $forged.rec"
    fi
done

nt_stop
echo "PASS: $total tokens survived $CYCLES kill -9 cycles; $(grep -c consistent "$tmp/consistency.out") consistency proofs verified"
