#!/usr/bin/env bash
# soak.sh - a steady load for a long time, watching for leaks and drift.
#
# Starts `notarium serve --demo` (fsync'd ledger, git mirror on) on 127.0.0.1:0
# in a fresh temporary data directory, then drives it with notarium-load
# (RFC 3161 requests, N keep-alive connections) in back-to-back slices of
# --interval seconds until --minutes have passed.  After every slice it
# samples the server: RSS (/proc/PID/status VmRSS, and its anonymous part RssAnon: the rest
# is LMDB's file-backed map, which grows with the ledger and is not a leak), open file descriptors
# (/proc/PID/fd), threads, mirror lag (/healthz: entries and seconds behind),
# ledger size, and the slice's tokens/s and p99 latency (notarium-load's
# RESULT line), and prints one table row.  The traffic goes to the loopback
# interface only (notarium-load refuses anything else) and stops by itself.
#
#   scripts/soak.sh [--minutes N] [--interval S] [--connections N] [--build DIR]
#
# Defaults: 10 minutes, a row every 30 s, 4 connections, ./build.  Exit status
# 0, or 1 when the server died, a slice saw errors, or the fd count grew by
# more than 16 from the first row to the last (a leak).
set -euo pipefail

minutes=10
interval=30
connections=4
build=build
while [[ $# -gt 0 ]]; do
    case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --interval) interval="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[[ "$minutes" =~ ^[0-9]+$ && "$interval" =~ ^[1-9][0-9]*$ && "$connections" =~ ^[1-9][0-9]*$ ]] ||
    { echo "soak.sh: --minutes, --interval and --connections take whole numbers" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/notarium-soak.XXXXXX")"
# Copies: a rebuild during a long soak must not swap the binaries under it.
cp "$build/tools/notarium" "$build/tools/notarium-load" "$work/"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# --demo: the one mode that may run as root without a user (docs/OPERATING.md).
"$work/notarium" serve --demo --data "$work/data" --listen 127.0.0.1:0 \
    --port-file "$work/port" --log-level error >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 1200); do
    [[ -s "$work/port" ]] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.05
done
[[ -s "$work/port" ]] || { echo "soak.sh: the server did not start within 60 s" >&2; exit 1; }
url="http://$(tr -d '\n' <"$work/port")"

echo "# soak: $minutes min, $connections connections, a row every $interval s, $url"
echo "# machine: $(uname -srm), $(nproc) cores; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%6s %9s %6s %7s %5s %9s %9s %5s %7s %7s %7s %s\n' t_s ledger tps p99ms errs rss_kib \
    anon_kib fds threads mir_ent mir_s loadavg
fail=0
first_fds=""
fds=0
end=$(($(date +%s) + minutes * 60))
start=$(date +%s)
while [[ $(date +%s) -lt $end ]]; do
    left=$((end - $(date +%s)))
    slice=$((left < interval ? left : interval))
    [[ $slice -ge 1 ]] || break
    "$work/notarium-load" --url "$url/tsa" --connections "$connections" --threads 1 \
        --duration "$slice" --max-requests 10000000 >"$work/load.out" 2>&1 || true
    kill -0 "$server_pid" 2>/dev/null || { echo "soak.sh: the server died" >&2; fail=1; break; }
    res="$(grep '^RESULT' "$work/load.out" || true)"
    if [[ -z "$res" ]]; then
        echo "soak.sh: notarium-load gave no result:" >&2
        tail -n 5 "$work/load.out" >&2
        fail=1
        break
    fi
    field() { sed -n "s/.*[ ]$1=\([0-9.]*\).*/\1/p" <<<"$res"; }
    errs="$(field errors)"
    [[ -n "$errs" && "$errs" == 0 ]] || fail=1
    rss="$(awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status")"
    anon="$(awk '/^RssAnon:/ {print $2}' "/proc/$server_pid/status")"
    threads="$(awk '/^Threads:/ {print $2}' "/proc/$server_pid/status")"
    fds="$(find "/proc/$server_pid/fd" -mindepth 1 -maxdepth 1 | wc -l)"
    [[ -n "$first_fds" ]] || first_fds="$fds"
    health="$(curl -sS "$url/healthz" || true)"
    mir_ent="$(jq -r '.mirror.entries_behind // "-"' <<<"$health" 2>/dev/null || echo -)"
    mir_s="$(jq -r '.mirror.seconds_behind // "-"' <<<"$health" 2>/dev/null || echo -)"
    size="$(jq -r '.ledger.size // "-"' <<<"$health" 2>/dev/null || echo -)"
    printf '%6d %9s %6s %7s %5s %9s %9s %5s %7s %7s %7s %s\n' $(($(date +%s) - start)) "$size" \
        "$(field tps)" "$(field p99_ms)" "${errs:-?}" "$rss" "$anon" "$fds" "$threads" "$mir_ent" \
        "$(awk -v s="$mir_s" 'BEGIN { if (s ~ /^[0-9.e+-]+$/) printf "%.2f", s; else print s }')" \
        "$(cut -d' ' -f1 /proc/loadavg)"
done
if [[ -n "$first_fds" && $((fds - first_fds)) -gt 16 ]]; then
    echo "soak.sh: open fds grew from $first_fds to $fds" >&2
    fail=1
fi
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg); $([[ $fail -eq 0 ]] && echo PASS || echo FAIL)"
exit "$fail"
