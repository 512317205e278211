#!/usr/bin/env bash
# profile-server.sh - instructions per request of the real server, by function,
# with callgrind: start `notarium serve --demo` under valgrind in a fresh data
# directory, zero the counters once it listens (start-up excluded), drive it with
# notarium-load for a fixed number of requests, dump, stop.  Instruction counts do
# not depend on what else runs on the machine, unlike wall-clock figures.
#
#   scripts/profile-server.sh [--build DIR] [--requests 2000] [--connections 16]
#                             [--no-keepalive] [--evidence] [--out FILE]
#                             [--log-level info] [--key-type ec-p256]
#
# Prints the total instructions per request and writes the callgrind file
# (default: callgrind.server.out) for callgrind_annotate, e.g.
#   callgrind_annotate --inclusive=yes callgrind.server.out | head -60
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build"
requests=2000
conns=16
out="callgrind.server.out"
load_args=()
log_level=info
key_type=ec-p256
while (($#)); do
    case "$1" in
    --build) build="$2"; shift 2 ;;
    --requests) requests="$2"; shift 2 ;;
    --connections) conns="$2"; shift 2 ;;
    --no-keepalive) load_args+=(--no-keepalive); shift ;;
    --evidence) load_args+=(--evidence); shift ;;
    --out) out="$2"; shift 2 ;;
    --log-level) log_level="$2"; shift 2 ;;
    --key-type) key_type="$2"; shift 2 ;;
    -h | --help) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "profile-server.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
for t in valgrind callgrind_control jq; do
    command -v "$t" >/dev/null || { echo "profile-server.sh: needs $t" >&2; exit 2; }
done
NOTARIUM="$build/tools/notarium"
LOAD="$build/tools/notarium-load"

work="$(mktemp -d "${TMPDIR:-/tmp}/notarium-profile.XXXXXX")"
pid=""
cleanup() {
    [[ -n "$pid" ]] && { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p -m 0700 "$work/data"
"$NOTARIUM" pki init "$work/data/pki" --key-type "$key_type" >/dev/null
# serve --demo writes the configuration; valgrind cannot map LMDB's default 64 GiB.
"$NOTARIUM" serve --demo --allow-root --data "$work/data" --listen 127.0.0.1:0 \
    --port-file "$work/port" --log-level error >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do [[ -s "$work/port" ]] && break; sleep 0.05; done
kill -TERM "$pid"
wait "$pid" || true
rm -f "$work/port"
jq '.ledger.map_size_mb = 1024' "$work/data/config.json" >"$work/config.json"
mv "$work/config.json" "$work/data/config.json"
valgrind --tool=callgrind --separate-threads=no --callgrind-out-file="$out" \
    "$NOTARIUM" serve --demo --allow-root --data "$work/data" --listen 127.0.0.1:0 \
    --port-file "$work/port" --log-level "$log_level" >"$work/server.log" 2>"$work/valgrind.log" &
pid=$!
for _ in $(seq 1 1200); do
    [[ -s "$work/port" ]] && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/valgrind.log" "$work/server.log" >&2; exit 1; }
    sleep 0.1
done
url="http://$(tr -d '\n' <"$work/port")"
if [[ " ${load_args[*]-} " == *" --evidence "* ]]; then
    load_args+=(--api-key "$(cat "$work/data/demo-api-key")")
else
    url="$url/tsa"
fi
# Warm up (first connections, lazily built state), then count from zero.
"$LOAD" --url "$url" --connections "$conns" --threads 1 --max-requests 200 --duration 60 \
    ${load_args[@]+"${load_args[@]}"} >/dev/null
callgrind_control --zero "$pid" >/dev/null
"$LOAD" --url "$url" --connections "$conns" --threads 1 --max-requests "$requests" --duration 600 \
    ${load_args[@]+"${load_args[@]}"} | grep -E '^(RESULT|errors)'
callgrind_control --dump=measured "$pid" >/dev/null
kill -TERM "$pid"
wait "$pid" || true
pid=""
part="$(ls -t "$out".* 2>/dev/null | head -1 || true)"
[[ -n "$part" ]] || { echo "profile-server.sh: no dump found" >&2; exit 1; }
mv "$part" "$out"
rm -f "$out".*
total="$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')"
echo "instructions: $total for $requests requests = $((total / requests)) per request"
echo "callgrind file: $out"
