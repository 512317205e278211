#!/usr/bin/env bash
# bench.sh - TSA throughput benchmark: for each key type asked, start a demo
# server in a temporary directory on a free loopback port, measure the raw
# signing rate of the same key type with `openssl speed -multi <cores>`, then
# drive the server with notarium-load at a few connection counts, once with
# the ledger's normal fsync'd group commit and once with "no_sync": true
# (benchmarks only: it gives up durability, see docs/PERFORMANCE.md), and
# print one table, then a second one with the CPU each side used per request
# (server: /proc/PID/stat; client: notarium-load's own getrusage), so that a
# run on a shared machine shows whether the client or the server was short of
# CPU.  A third table sets, for the same key type in the same run, the RFC
# 3161 core alone ("signing only": tsa_respond, no HTTP, no ledger), the core
# plus a durable ledger append ("signing + anchoring", no HTTP), both from
# notarium-bench-tsa on 1 and <cores> threads, beside the fsync'd server
# figures ("end to end over HTTP").  Figures are measurements of this
# machine, never asserted.
#
#   scripts/bench.sh [--key-type ec-p256] [--key-type rsa-2048 ...]
#                    [--duration 5] [--connections "1 4 16"] [--build DIR]
#                    [--client-threads 1] [--evidence] [--no-compare-sync]
#
# The client runs on the same cores as the server: one client thread (the
# default) drives tens of thousands of requests per second and leaves the
# other cores to the server.
# Binaries: --build DIR (default build-bench/, configured and built in
# Release when it has no tools/notarium), or NOTARIUM and NT_BIN_DIR.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
key_types=()
duration=5
conns="1 4 16"
build=""
compare_sync=1
evidence=0
client_threads=1
speed_seconds=3

while (($#)); do
    case "$1" in
    --key-type) key_types+=("$2"); shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --connections) conns="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --client-threads) client_threads="$2"; shift 2 ;;
    --evidence) evidence=1; shift ;;
    --no-compare-sync) compare_sync=0; shift ;;
    -h | --help) sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
((${#key_types[@]})) || key_types=(ec-p256)

if [[ -z "${NOTARIUM:-}" ]]; then
    build="${build:-$root/build-bench}"
    if [[ ! -x "$build/tools/notarium" || ! -x "$build/tools/notarium-load" ||
        ! -x "$build/tools/notarium-bench-tsa" ]]; then
        cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
        cmake --build "$build" -j "$(nproc)" --target notarium notarium-load notarium-bench-tsa \
            >/dev/null
    fi
    NOTARIUM="$build/tools/notarium"
    NT_BIN_DIR="$build/tools"
fi
LOAD="${NT_BIN_DIR:?}/notarium-load"
BENCH_TSA="$NT_BIN_DIR/notarium-bench-tsa"
cores="$(nproc)"
ticks="$(getconf CLK_TCK)"

work="$(mktemp -d "${TMPDIR:-/tmp}/notarium-bench.XXXXXX")"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

start_server() { # data-dir [--demo]
    local data=$1
    shift
    rm -f "$work/port"
    "$NOTARIUM" serve --allow-root "$@" --data "$data" --listen 127.0.0.1:0 --port-file "$work/port" \
        --log-level error >>"$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 600); do
        if [[ -s "$work/port" ]]; then
            url="http://$(tr -d '\n' <"$work/port")"
            return 0
        fi
        if ! kill -0 "$server_pid" 2>/dev/null; then
            echo "bench.sh: server failed to start:" >&2
            tail -n 20 "$work/server.log" >&2
            exit 1
        fi
        sleep 0.05
    done
    echo "bench.sh: server did not start within 30 s" >&2
    exit 1
}
stop_server() {
    kill -TERM "$server_pid"
    wait "$server_pid" || true
    server_pid=""
}

speed_alg() {
    case "$1" in
    ec-p256) echo ecdsap256 ;;
    ec-p384) echo ecdsap384 ;;
    rsa-2048) echo rsa2048 ;;
    rsa-3072) echo rsa3072 ;;
    rsa-4096) echo rsa4096 ;;
    *) echo "bench.sh: unsupported key type $1" >&2; exit 2 ;;
    esac
}

echo "# machine: $(uname -srm), $cores cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'))"
echo "# $(openssl version)"
echo "# notarium-load --duration $duration --threads $client_threads --connections {$conns}"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
results=()
cpu_rows=()
core_rows=()
server_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$server_pid/stat"; }
for kt in "${key_types[@]}"; do
    alg="$(speed_alg "$kt")"
    echo "# openssl speed -seconds $speed_seconds -multi $cores $alg" >&2
    sign_rate="$(openssl speed -seconds "$speed_seconds" -multi "$cores" "$alg" 2>/dev/null |
        awk 'END { print $(NF - 1) }')"

    # The core without HTTP: signing only, then signing + a durable ledger append.
    core_threads="1"
    ((cores > 1)) && core_threads="1 $cores"
    echo "# notarium-bench-tsa --key-type $kt --threads \"$core_threads\" --duration $duration" >&2
    while read -r line; do
        get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
        what="signing only"
        [[ "$(get mode)" == anchor ]] && what="signing + anchoring"
        core_rows+=("$(printf '| %-8s | %-21s | %3s threads | %10s | %9s |' "$kt" "$what" \
            "$(get threads)" "$sign_rate" "$(get tps)")")
    done < <(TMPDIR="$work" "$BENCH_TSA" --key-type "$kt" --threads "$core_threads" \
        --duration "$duration" | grep '^RESULT ')

    # A PKI of this key type first; serve --demo keeps it and adds the rest.
    data="$work/$kt"
    mkdir -p -m 0700 "$data"
    "$NOTARIUM" pki init "$data/pki" --key-type "$kt" >/dev/null
    start_server "$data" --demo
    stop_server
    api_key="$(cat "$data/demo-api-key")"

    modes=(fsync)
    ((compare_sync)) && modes+=(no_sync)
    for mode in "${modes[@]}"; do
        ns=false
        [[ "$mode" == no_sync ]] && ns=true
        jq ".ledger.no_sync = $ns" "$data/config.json" >"$work/config.json"
        mv "$work/config.json" "$data/config.json"
        rm -rf "$data/ledger" "$data/mirror.git" # a mirror ahead of a fresh ledger is refused
        start_server "$data"
        for c in $conns; do
            t=$((c < client_threads ? c : client_threads))
            args=(--url "$url/tsa" --connections "$c" --threads "$t" --duration "$duration")
            ((evidence)) && args=(--url "$url" --evidence --api-key "$api_key" --connections "$c" \
                --threads "$t" --duration "$duration")
            echo "# $kt $mode: notarium-load ${args[*]//$api_key/KEY}" >&2
            t0="$(server_cpu_ticks)"
            line="$("$LOAD" "${args[@]}" | grep '^RESULT ' || true)"
            t1="$(server_cpu_ticks)"
            get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
            n="$(get requests)"
            cpu_rows+=("$(printf '| %-8s | %-7s | %5s | %9s | %9s | %12s |' "$kt" "$mode" "$c" \
                "$(awk -v t=$((t1 - t0)) -v hz="$ticks" -v n="${n:-0}" \
                    'BEGIN { if (n > 0) printf "%.0f", t * 1e6 / hz / n; else print "-" }')" \
                "$(get client_us_per_req | cut -d. -f1)" "$(get client_cores)")")
            [[ "$mode" == fsync ]] &&
                core_rows+=("$(printf '| %-8s | %-21s | %5s conns | %10s | %9s |' "$kt" \
                    "end to end over HTTP" "$c" "$sign_rate" "$(get tps)")")
            results+=("$(printf '| %-8s | %-7s | %5s | %10s | %9s | %7s | %7s | %6s |' \
                "$kt" "$mode" "$c" "$sign_rate" "$(get tps)" "$(get p50_ms)" "$(get p99_ms)" \
                "$(get errors)")")
        done
        stop_server
    done
done

echo
echo "| key      | ledger  | conns | sign/s (openssl, $cores cores) | tokens/s | p50 ms | p99 ms | errors |"
echo "|----------|---------|-------|------------|-----------|---------|---------|--------|"
printf '%s\n' "${results[@]}"
echo
echo "CPU per request (server: all its threads; client: notarium-load, $client_threads thread(s)):"
echo
echo "| key      | ledger  | conns | server µs | client µs | client cores |"
echo "|----------|---------|-------|-----------|-----------|--------------|"
printf '%s\n' "${cpu_rows[@]}"
echo
echo "Signing only vs signing + anchoring (fsync'd ledger) vs end to end over HTTP (fsync):"
echo
echo "| key      | path                  | parallelism   | sign/s (openssl, $cores cores) | tokens/s  |"
echo "|----------|-----------------------|---------------|------------|-----------|"
printf '%s\n' "${core_rows[@]}"
echo
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
