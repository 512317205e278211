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

: "${NOTARIUM:?NOTARIUM must name the notarium binary}"
: "${NT_BIN_DIR:?NT_BIN_DIR must name the build tools directory}"
: "${NT_E2E_TMP:?NT_E2E_TMP must name a scratch directory}"
LOAD="$NT_BIN_DIR/notarium-load"
CYCLES="${NT_CRASH_CYCLES:-5}"

rm -rf "$NT_E2E_TMP"
mkdir -p "$NT_E2E_TMP"
tmp="$NT_E2E_TMP"
data="$tmp/data"
export NOTARIUM_TEST_CLOCK_SYNC=synced

server_pid=""
load_pids=()
fail() {
    echo "FAIL: $*" >&2
    echo "--- server log (tail) ---" >&2
    tail -n 30 "$tmp/server.log" >&2 || true
    exit 1
}
cleanup() {
    for p in "${load_pids[@]}" $server_pid; do
        kill -KILL "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT

# Start the server on a free loopback port; sets server_pid and url.
start_server() {
    rm -f "$tmp/port"
    "$NOTARIUM" serve --demo --data "$data" --listen 127.0.0.1:0 --port-file "$tmp/port" \
        --log-level warn >>"$tmp/server.log" 2>&1 &
    server_pid=$!
    # Bounded poll for the port file (the server writes it atomically once listening).
    for _ in $(seq 1 600); do
        if [[ -s "$tmp/port" ]]; then
            url="http://$(tr -d '\n' <"$tmp/port")"
            return 0
        fi
        kill -0 "$server_pid" 2>/dev/null || fail "server exited during start-up"
        sleep 0.05
    done
    fail "server did not write its port file within 30 s"
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
    for _ in $(seq 1 400); do
        [[ -s "$tmp/tsa.$cycle.rec" ]] && break
        sleep 0.025
    done
    [[ -s "$tmp/tsa.$cycle.rec" ]] || fail "cycle $cycle: no token received within 10 s"
    sleep "0.$(printf '%03d' $((RANDOM % 700)))"
    # A checkpoint taken under load must extend the one saved before.
    "$LOAD" --url "$url" --check-consistency "$tmp/cp" --vkey "$vkey" --save-checkpoint "$tmp/cp" \
        >>"$tmp/consistency.out" || fail "cycle $cycle: checkpoint under load not consistent"
    kill -KILL "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
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
((total > 0)) || fail "no token was received at all"
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

kill -TERM "$server_pid"
wait "$server_pid" || fail "server did not exit 0 on SIGTERM"
server_pid=""
echo "PASS: $total tokens survived $CYCLES kill -9 cycles; $(grep -c consistent "$tmp/consistency.out") consistency proofs verified"
