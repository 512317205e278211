#!/usr/bin/env bash
# load_modes.sh - what the benchmark of issue 10 (scripts/bench.sh) relies on,
# against the real server: notarium-load's --no-keepalive (every token over its
# own TCP connection, "Connection: close" honoured by the server) and --hold
# (many keep-alive connections, each answered once, then held open and idle
# while the server is sampled), with their usage errors; and the connection
# buffer of tsa/http.c (16 KiB): a ~12 KB header block is still served, a
# ~20 KB one gets 431 and the server keeps serving.  Last, --stall-ms against a
# listener that reads requests and never answers: the run reports them as
# unanswered and fails (what e2e/http_stall and bench.sh rely on).
set -euo pipefail

: "${NT_BIN_DIR:?NT_BIN_DIR must name the build tools directory}"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOAD="$NT_BIN_DIR/notarium-load"
nt_setup

D="$T/data"
# No per-address cap (0), as scripts/bench.sh configures it for its idle connections.
nt_demo_config "$D" '.http.max_connections_per_address = 0'
nt_start_nodemo "$D" --log-level info

# --no-keepalive: 30 tokens, each on a new connection the server closes after the reply.
"$LOAD" --url "$NT_URL/tsa" --connections 3 --threads 1 --duration 30 --max-requests 30 \
    --no-keepalive >"$T/nka.out" 2>&1 || { cat "$T/nka.out"; nt_fail "--no-keepalive run failed"; }
nt_check "$(nt_load_field "$T/nka.out" granted) == 30" "--no-keepalive: not 30 tokens granted"
nt_check "$(nt_load_field "$T/nka.out" errors) == 0" "--no-keepalive: errors"

# --hold: 40 connections, one token each, then all 40 open and idle for 2 s.
"$LOAD" --url "$NT_URL/tsa" --connections 40 --threads 1 --duration 30 --max-requests 40 \
    --hold 2 >"$T/hold.out" 2>&1 &
hold_pid=$!
NT_WAIT_INTERVAL=0.05 nt_wait_for 'grep -q "^HOLD " "$T/hold.out"' 15 "--hold: no HOLD line" 'cat "$T/hold.out"'
grep -q '^HOLD open=40 ' "$T/hold.out" || { cat "$T/hold.out"; nt_fail "--hold: not 40 connections held open"; }
# While they are held the server still answers others.
status=$(nt_http GET "$NT_URL/healthz" "$T/h.json")
nt_check "$status == 200" "/healthz while 40 connections are held: HTTP $status"
wait "$hold_pid" || { cat "$T/hold.out"; nt_fail "--hold run failed"; }
nt_check "$(nt_load_field "$T/hold.out" granted) == 40" "--hold: not 40 tokens granted"

# Usage errors: exit status 2 and the reason.
usage_error() { # expected-text args...
    local want="$1" rc=0
    shift
    "$LOAD" --url "$NT_URL/tsa" "$@" >"$T/usage.out" 2>&1 || rc=$?
    nt_check "$rc == 2" "notarium-load $*: exit status $rc, 2 expected"
    grep -q -- "$want" "$T/usage.out" || { cat "$T/usage.out"; nt_fail "notarium-load $*: no \"$want\""; }
}
usage_error "not with --no-keepalive" --hold 1 --no-keepalive
usage_error "--hold must be seconds" --hold 0
usage_error "--hold must be seconds" --hold soon
usage_error "missing value" --hold

# The connection buffer: ~12 KB of headers served, ~20 KB refused with 431, still serving.
pad=$(head -c 12000 /dev/zero | tr '\0' a)
status=$(nt_http GET "$NT_URL/healthz" "$T/h.json" -H "X-Pad: $pad")
nt_check "$status == 200" "a 12 KB header block: HTTP $status"
pad=$(head -c 20000 /dev/zero | tr '\0' a)
status=$(nt_http GET "$NT_URL/healthz" "$T/h.json" -H "X-Pad: $pad")
nt_check "$status == 431" "a 20 KB header block: HTTP $status, 431 expected"
status=$(nt_http GET "$NT_URL/healthz" "$T/h.json")
nt_check "$status == 200" "/healthz after the 431: HTTP $status"

# The access log line (written without printf since issue 10) keeps its fields.
nt_stop
line=$(grep '"msg":"request"' "$NT_LOG" | grep '"path":"/tsa"' | tail -n1)
[[ -n "$line" ]] || nt_fail "no access log line for /tsa"
jq -e '.status == 200 and .alg == "sha256" and (.latency_ms | type) == "number"
       and .bytes_in > 0 and .bytes_out > 0 and .leaf >= 0 and (.serial | test("^[0-9a-f]+$"))' \
    <<<"$line" >/dev/null || nt_fail "access log line lacks a field: $line"

# A listener that takes connections and requests and never answers.
python3 - "$T/mute.port" <<'PY' &
import socket, sys, threading, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
def hold(c):
    while c.recv(65536):
        pass
deadline = time.time() + 20
s.settimeout(1)
while time.time() < deadline:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    threading.Thread(target=hold, args=(c,), daemon=True).start()
PY
mute_pid=$!
nt_wait_for '[[ -s "$T/mute.port" ]]' 10 "the mute listener did not start"
rc=0
"$LOAD" --url "http://127.0.0.1:$(cat "$T/mute.port")/tsa" --connections 2 --threads 1 \
    --duration 1 --stall-ms 300 >"$T/mute.out" 2>&1 || rc=$?
kill "$mute_pid" 2>/dev/null || true
wait "$mute_pid" 2>/dev/null || true
((rc == 1)) || { cat "$T/mute.out"; nt_fail "--stall-ms: exit $rc against a mute server, 1 expected"; }
grep -q ' unanswered=2 .* stalled=2$' "$T/mute.out" ||
    { cat "$T/mute.out"; nt_fail "--stall-ms: the two requests are not reported stalled"; }
grep -q 'unanswered for 300 ms or longer' "$T/mute.out" ||
    { cat "$T/mute.out"; nt_fail "--stall-ms: no error naming the stall"; }
echo "OK: --no-keepalive, --hold, their usage errors, the 16 KiB header buffer, the access log line, --stall-ms"
