#!/usr/bin/env bash
# bench.sh - the end-to-end benchmark of issue 10, one table from one run.
# First the ceiling, `openssl speed -multi <cores>` for each key type; then,
# for each key type, a demo server (fsync'd ledger, git mirror on) in a
# temporary directory on a free loopback port, driven by notarium-load
# (every reply checked) keep-alive and not, at each connection count:
# tokens/s, its ratio to the raw signing rate, p50/p99, the server's CPU per
# token (/proc/PID/stat) and its RSS; then, on the first key type, the idle
# latency (one connection, one request at a time, fsync included),
# POST /v1/evidence, and the server's RSS holding many idle keep-alive
# connections and its rate for 64 busy ones beside them.  Figures are
# measurements of this machine, never asserted; the load average is printed
# before and after.
#
#   scripts/bench.sh [--quick] [--key-type ec-p256 --key-type rsa-2048]
#                    [--duration 5] [--connections "1 16 64"] [--build DIR]
#                    [--client-threads N] [--idle-connections 10000] [--core]
#
# --quick: 1 s points, 1 and 16 connections, 1,000 idle connections (under a
# minute, for smoke use).  --core adds notarium-bench-tsa's signing-only and
# signing + anchoring rows (the RFC 3161 core without HTTP).
# --client-threads: notarium-load's threads (default: one per core, as its own
# default; with one, a fresh server's 256-connection point varied 13,800-18,600
# tokens/s: docs/PERFORMANCE.md, "Third round").
# Binaries: --build DIR (default build-bench/, configured and built in
# Release when it has no tools/notarium), or NOTARIUM and NT_BIN_DIR.
# Needs: openssl, jq, a C toolchain and the Debian packages of
# scripts/debian-packages.txt.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
key_types=()
duration=5
conns="1 16 64"
build=""
client_threads=""
speed_seconds=3
idle_conns=10000
core=0
quick=0

while (($#)); do
    case "$1" in
    --quick) quick=1; shift ;;
    --key-type) key_types+=("$2"); shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --connections) conns="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --client-threads) client_threads="$2"; shift 2 ;;
    --idle-connections) idle_conns="$2"; shift 2 ;;
    --core) core=1; shift ;;
    -h | --help) sed -n '2,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
((${#key_types[@]})) || key_types=(ec-p256 rsa-2048)
if ((quick)); then
    duration=1
    conns="1 16"
    speed_seconds=1
    idle_conns=1000
fi
for t in openssl jq; do
    command -v "$t" >/dev/null || { echo "bench.sh: needs $t" >&2; exit 2; }
done

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
client_threads="${client_threads:-$cores}"
ticks="$(getconf CLK_TCK)"
# Idle connections take one descriptor each on both sides.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fd_limit="$(ulimit -n)"
if [[ "$fd_limit" != unlimited ]] && ((idle_conns > fd_limit - 256)); then
    echo "# fd limit $fd_limit: idle connections lowered from $idle_conns" >&2
    idle_conns=$((fd_limit - 256))
fi

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
server_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$server_pid/stat"; }
server_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$server_pid/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

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

# A demo data directory of this key type: serve --demo writes its configuration,
# which is then opened up for many connections from one address (the load
# generator's); everything else stays the demo's (fsync'd ledger, git mirror).
make_data() { # key-type -> $data
    data="$work/$1"
    mkdir -p -m 0700 "$data"
    "$NOTARIUM" pki init "$data/pki" --key-type "$1" >/dev/null
    start_server "$data" --demo
    stop_server
    jq '.http.max_connections_per_address = 1000000 | .http.max_connections = 0' \
        "$data/config.json" >"$work/config.json"
    mv "$work/config.json" "$data/config.json"
}

rows=()
row() { rows+=("$(printf '| %-8s | %-22s | %5s | %9s | %6s | %7s | %7s | %15s | %7s | %6s |' "$@")"); }

# One load point: notarium-load with the arguments, the server sampled around it.
load_point() { # key label conns sign_rate load-args...
    local kt=$1 label=$2 c=$3 rate=$4
    shift 4
    local t0 t1 line n
    t0="$(server_cpu_ticks)"
    line="$("$LOAD" --stall-ms 2000 "$@" | grep '^RESULT ' || true)"
    t1="$(server_cpu_ticks)"
    get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
    n="$(get granted)"
    last_tps="$(get tps)"
    row "$kt" "$label" "$c" "$(get tps)" \
        "$(awk -v t="$(get tps)" -v r="$rate" 'BEGIN { if (r > 0 && t != "") printf "%.3f", t / r; else print "-" }')" \
        "$(get p50_ms)" "$(get p99_ms)" \
        "$(awk -v t=$((t1 - t0)) -v hz="$ticks" -v n="${n:-0}" \
            'BEGIN { if (n > 0) printf "%.0f", t * 1e6 / hz / n; else print "-" }')" \
        "$(mib "$(server_kib VmRSS)")" "$(get errors)"
}

echo "# machine: $(uname -srm), $cores cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'))"
echo "# $(openssl version); notarium-load --duration $duration --threads $client_threads"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

declare -A rate
for kt in "${key_types[@]}"; do
    alg="$(speed_alg "$kt")"
    echo "# openssl speed -seconds $speed_seconds -multi $cores $alg" >&2
    rate[$kt]="$(openssl speed -seconds "$speed_seconds" -multi "$cores" "$alg" 2>/dev/null |
        awk 'END { print $(NF - 1) }')"
    row "$kt" "openssl speed -multi $cores" "-" "${rate[$kt]}" "1.000" "-" "-" "-" "-" "-"
done

core_rows=()
first=1
for kt in "${key_types[@]}"; do
    make_data "$kt"
    start_server "$data"
    best=0
    best_c=1
    for ka in keep-alive new-conn; do
        for c in $conns; do
            t=$((c < client_threads ? c : client_threads))
            args=(--url "$url/tsa" --connections "$c" --threads "$t" --duration "$duration")
            [[ "$ka" == new-conn ]] && args+=(--no-keepalive)
            echo "# $kt: notarium-load ${args[*]}" >&2
            load_point "$kt" "RFC 3161, $ka" "$c" "${rate[$kt]}" "${args[@]}"
            if [[ "$ka" == keep-alive ]] && awk -v a="${last_tps:-0}" -v b="$best" 'BEGIN { exit !(a > b) }'; then
                best="$last_tps"
                best_c="$c"
            fi
        done
        # The latency goal is at 80 % of the best keep-alive rate: offered at that pace
        # (open loop: each connection on its own schedule, the schedules spread over
        # the period) over the best point's connections.
        if [[ "$ka" == keep-alive ]]; then
            paced="$(awk -v b="$best" 'BEGIN { printf "%.0f", 0.8 * b }')"
            t=$((best_c < client_threads ? best_c : client_threads))
            args=(--url "$url/tsa" --connections "$best_c" --threads "$t" --duration "$duration"
                --rate "$paced")
            echo "# $kt: notarium-load ${args[*]}" >&2
            load_point "$kt" "keep-alive, 80 % paced" "$best_c" "${rate[$kt]}" "${args[@]}"
        fi
    done
    if ((first)); then
        first=0
        echo "# $kt: idle latency, one request at a time" >&2
        load_point "$kt" "idle: 1 at a time" 1 "${rate[$kt]}" \
            --url "$url/tsa" --connections 1 --threads 1 --duration "$duration"
        echo "# $kt: POST /v1/evidence, 16 connections" >&2
        load_point "$kt" "evidence, keep-alive" 16 "${rate[$kt]}" --url "$url" --evidence \
            --api-key "$(cat "$data/demo-api-key")" --connections 16 \
            --threads $((16 < client_threads ? 16 : client_threads)) \
            --duration "$duration"
        # Idle keep-alive connections: each has had one request answered, then all
        # stay open while the server's memory is sampled.
        echo "# $kt: $idle_conns idle keep-alive connections" >&2
        rss0="$(server_kib VmRSS)"
        anon0="$(server_kib RssAnon)"
        "$LOAD" --url "$url/tsa" --connections "$idle_conns" --threads 1 \
            --max-requests "$idle_conns" --duration 120 --hold $((duration + 5)) \
            >"$work/hold.out" &
        hold_pid=$!
        for _ in $(seq 1 1200); do
            grep -q '^HOLD ' "$work/hold.out" 2>/dev/null && break
            kill -0 "$hold_pid" 2>/dev/null || break
            sleep 0.1
        done
        sleep 1
        rss1="$(server_kib VmRSS)"
        anon1="$(server_kib RssAnon)"
        # What they cost in time: 64 busy connections beside them (a worker's turn must
        # not visit the idle ones).
        echo "# $kt: 64 busy connections beside the idle ones" >&2
        load_point "$kt" "64 busy, $idle_conns idle" 64 "${rate[$kt]}" --url "$url/tsa" \
            --connections 64 --threads "$client_threads" --duration "$duration"
        wait "$hold_pid" || true
        open="$(sed -n 's/^HOLD open=\([0-9]*\).*/\1/p' "$work/hold.out")"
        idle_line="$(printf '%s idle keep-alive connections (%s open): server RSS %s -> %s MiB, anonymous %s -> %s MiB, %s KiB per connection' \
            "$idle_conns" "${open:-0}" "$(mib "$rss0")" "$(mib "$rss1")" "$(mib "$anon0")" \
            "$(mib "$anon1")" \
            "$(awk -v a="$((rss1 - rss0))" -v n="${open:-0}" 'BEGIN { if (n > 0) printf "%.1f", a / n; else print "-" }')")"
    fi
    stop_server

    if ((core)); then
        core_threads="1"
        ((cores > 1)) && core_threads="1 $cores"
        echo "# notarium-bench-tsa --key-type $kt --threads \"$core_threads\" --duration $duration" >&2
        while read -r line; do
            get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
            what="signing only"
            [[ "$(get mode)" == anchor ]] && what="signing + anchoring"
            core_rows+=("$(printf '| %-8s | %-21s | %3s threads | %10s | %9s |' "$kt" "$what" \
                "$(get threads)" "${rate[$kt]}" "$(get tps)")")
        done < <(TMPDIR="$work" "$BENCH_TSA" --key-type "$kt" --threads "$core_threads" \
            --duration "$duration" | grep '^RESULT ')
    fi
done

echo
echo "| key      | what                   | conns | tokens/s  | ratio  | p50 ms  | p99 ms  | server µs/token | RSS MiB | errors |"
echo "|----------|------------------------|-------|-----------|--------|---------|---------|-----------------|---------|--------|"
printf '%s\n' "${rows[@]}"
echo
echo "ratio: tokens/s over the same key's openssl speed -multi $cores signatures/s (same run)."
echo "server µs/token: CPU of all the server's threads per granted token; new-conn: Connection: close."
echo "80 % paced: offered at 80 % of the best keep-alive tokens/s above (notarium-load --rate), the p99 of the latency goal."
echo "RSS: the server's after the point (it includes the ledger's LMDB map pages, which grow with the ledger)."
echo "errors: failed or wrong replies, and requests still unanswered 2 s after they were sent when the point ended (notarium-load --stall-ms)."
echo "${idle_line:-}"
if ((core)); then
    echo
    echo "| key      | path                  | parallelism   | sign/s (openssl) | tokens/s  |"
    echo "|----------|-----------------------|---------------|------------|-----------|"
    printf '%s\n' "${core_rows[@]}"
fi
echo
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
