#!/usr/bin/env bash
# bench-ratelimit.sh - what the per-client rate limits ("limits", docs/OPERATING.md)
# cost and what they buy, measured with notarium-load on a demo server on a free
# loopback port (docs/PERFORMANCE.md, "Rate limits").
#
#  1. Cost: /tsa tokens/s with no "limits" section and with limits configured
#     but never hit (per_address, per_key and per_tenant of every class at
#     1,000,000/s), alternating the two configurations --rounds times.
#  2. Fairness: a polite client (key "polite", --rate R on one connection)
#     alone, then beside a greedy one (key "greedy", N connections, closed loop)
#     with and without per_key limits of P/s: the polite client's p50/p99 and
#     the greedy one's granted and refused (429) counts.
#
#   scripts/bench-ratelimit.sh [--duration 10] [--connections 16] [--rounds 2]
#                              [--polite-rate 20] [--greedy-limit 50] [--build DIR] [--pin]
#
# --pin (fairness part): the server and the polite client on CPU 0, the greedy
# client on CPU 1 (taskset), so that the greedy client's own CPU, which a real
# one spends on its own machine, is not taken from the server.
#
# Binaries: --build DIR (default build-bench/, configured and built in Release
# when it has no tools/notarium), or NOTARIUM and NT_BIN_DIR.  The ledger runs
# with its normal fsync'd group commit.  Figures are measurements of this
# machine, never asserted.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
duration=10
conns=16
rounds=2
polite_rate=20
greedy_limit=50
build=""
pin=0
while (($#)); do
    case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --connections) conns="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --polite-rate) polite_rate="$2"; shift 2 ;;
    --greedy-limit) greedy_limit="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --pin) pin=1; shift ;;
    -h | --help) sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-ratelimit.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
if [[ -z "${NOTARIUM:-}" ]]; then
    build="${build:-$root/build-bench}"
    if [[ ! -x "$build/tools/notarium" || ! -x "$build/tools/notarium-load" ]]; then
        cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
        cmake --build "$build" -j "$(nproc)" --target notarium notarium-load >/dev/null
    fi
    NOTARIUM="$build/tools/notarium"
    NT_BIN_DIR="$build/tools"
fi
LOAD="${NT_BIN_DIR:?}/notarium-load"

work="$(mktemp -d "${TMPDIR:-/tmp}/notarium-bench-rl.XXXXXX")"
server_pid=""
greedy_pid=""
cleanup() {
    [[ -n "$greedy_pid" ]] && kill -TERM "$greedy_pid" 2>/dev/null && wait "$greedy_pid" || true
    if [[ -n "$server_pid" ]]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

on_cpu() { # CPU command...: run on that CPU with --pin (exec: $! is the command's own pid)
    local cpu="$1"
    shift
    if ((pin)); then exec taskset -c "$cpu" "$@"; else exec "$@"; fi
}
start_server() { # [serve args]
    rm -f "$work/port"
    on_cpu 0 "$NOTARIUM" serve --allow-root "$@" --data "$work/data" --listen 127.0.0.1:0 \
        --port-file "$work/port" --log-level error >>"$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 600); do
        if [[ -s "$work/port" ]]; then
            url="http://$(tr -d '\n' <"$work/port")"
            return 0
        fi
        kill -0 "$server_pid" 2>/dev/null || { tail -n 20 "$work/server.log" >&2; exit 1; }
        sleep 0.05
    done
    echo "bench-ratelimit.sh: server did not start within 30 s" >&2
    exit 1
}
stop_server() {
    kill -TERM "$server_pid"
    wait "$server_pid" || true
    server_pid=""
}
config() { # JQ_FILTER on the base configuration
    jq "$1" "$work/config.base.json" >"$work/data/config.json"
}
get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

start_server --demo
stop_server
entries=""
for id in polite greedy; do
    "$NOTARIUM" apikey new --id "$id" >"$work/$id.key" 2>/dev/null
    entries+="${entries:+,}$(sed -n 2p "$work/$id.key")"
done
jq ".api_keys += [$entries]" "$work/data/config.json" >"$work/config.base.json"
POLITE="$(sed -n 1p "$work/polite.key")"
GREEDY="$(sed -n 1p "$work/greedy.key")"
big='{"rate": 1000000, "burst": 1000000}'
not_hit=".limits = {\"tsa\": {\"per_address\": $big, \"per_key\": $big, \"per_tenant\": $big},
  \"evidence\": {\"per_key\": $big, \"per_tenant\": $big}, \"verify\": {\"per_address\": $big}}"

echo "# machine: $(uname -srm), $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# 1. cost: notarium-load --url URL/tsa --connections $conns --duration $duration (anonymous)"
printf '%-28s %10s %9s %9s\n' "configuration" "tokens/s" "p50 ms" "p99 ms"
for r in $(seq 1 "$rounds"); do
    for what in none not-hit; do
        if [[ $what == none ]]; then config '.'; else config "$not_hit"; fi
        start_server
        line="$("$LOAD" --url "$url/tsa" --connections "$conns" --duration "$duration" |
            grep '^RESULT ')"
        stop_server
        printf '%-28s %10s %9s %9s\n' "round $r: limits $what" "$(get tps "$line")" \
            "$(get p50_ms "$line")" "$(get p99_ms "$line")"
    done
done

((pin)) && echo "# --pin: server and polite client on CPU 0, greedy client on CPU 1"
echo "# 2. fairness: polite = --rate $polite_rate --connections 1 --api-key polite;"
echo "#    greedy = --connections $conns --api-key greedy (closed loop); per_key limit $greedy_limit/s"
printf '%-34s %8s %8s %8s %14s %14s %11s\n' "case" "polite" "p50 ms" "p99 ms" "greedy granted" \
    "greedy 429" "server cpu"
ticks="$(getconf CLK_TCK)"
server_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$server_pid/stat"; }
polite_run() { # NAME GREEDY(0/1)
    local line gl="" t0 t1 c0 c1
    t0=$(date +%s.%N)
    c0=$(server_cpu_ticks)
    if [[ $2 == 1 ]]; then
        on_cpu 1 "$LOAD" --url "$url/tsa" --api-key "$GREEDY" --connections "$conns" \
            --duration "$((duration + 2))" >"$work/greedy.out" &
        greedy_pid=$!
        sleep 1 # the greedy client is at full speed before the polite one starts
    fi
    line="$(on_cpu 0 "$LOAD" --url "$url/tsa" --api-key "$POLITE" --connections 1 --rate "$polite_rate" \
        --duration "$duration" | grep '^RESULT ')"
    if [[ -n "$greedy_pid" ]]; then
        wait "$greedy_pid" || true
        greedy_pid=""
        gl="$(grep '^RESULT ' "$work/greedy.out")"
    fi
    c1=$(server_cpu_ticks)
    t1=$(date +%s.%N)
    # the server's CPU over the whole case, in cores (2.00 = both cores of a 2-core machine)
    printf '%-34s %8s %8s %8s %14s %14s %11s\n' "$1" "$(get granted "$line")" \
        "$(get p50_ms "$line")" "$(get p99_ms "$line")" "${gl:+$(get granted "$gl")}" \
        "${gl:+$(get limited "$gl")}" \
        "$(awk -v c="$((c1 - c0))" -v k="$ticks" -v a="$t0" -v b="$t1" \
            'BEGIN { printf "%.2f", c / k / (b - a) }')"
}
config '.'
start_server
polite_run "polite alone, no limits" 0
polite_run "polite + greedy, no limits" 1
stop_server
config ".limits = {\"tsa\": {\"per_key\": {\"rate\": $greedy_limit, \"burst\": $greedy_limit}}}"
start_server
polite_run "polite alone, per_key $greedy_limit/s" 0
polite_run "polite + greedy, per_key $greedy_limit/s" 1
stop_server
