#!/usr/bin/env bash
# lib.sh - shared helpers of the end-to-end tests (source it; it is not a test
# itself).  It starts the real `notarium serve` on 127.0.0.1 port 0, learns
# the port from the --port-file the server writes atomically (bounded poll,
# no fixed sleep), always stops every server it started (EXIT trap), and
# wraps the real clients the tests use: openssl ts, curl, jq.
#
# Environment (set by ctest, see tests/e2e/CMakeLists.txt): NOTARIUM,
# NT_E2E_TMP (scratch directory, recreated by nt_setup), NT_BIN_DIR, ...
#
#   nt_setup                    fresh $NT_E2E_TMP; sets T (= NT_E2E_TMP)
#   nt_start DIR [serve args]   start `serve --demo --data DIR`; sets NT_URL, NT_PID, NT_LOG
#                               (every server here gets --allow-root: CI runs as root, and
#                               dropping to a user is tested on its own in privdrop.sh)
#   nt_start_nodemo DIR [args]  the same without --demo (DIR/config.json must exist)
#   nt_stop                     SIGTERM the last started server, expect exit status 0
#   nt_fail MSG                 print MSG and the server log tail, exit 1
#   nt_check COND MSG           [[ COND ]] or nt_fail MSG (COND is a bash expression string)
#   nt_wait_for CMD SECS MSG [DETAIL]  poll until the shell command CMD succeeds, every 25 ms
#                               (NT_WAIT_INTERVAL overrides) for at most SECS seconds, else
#                               nt_fail "MSG: <output of DETAIL>" (DETAIL runs at that moment)
#   nt_tsq OUT [openssl ts -query args]   write a TimeStampReq
#   nt_post_tsq IN OUT [url]    POST a query, body to OUT, echo the HTTP status
#   nt_http METHOD URL OUT [curl args]    echo the HTTP status, body to OUT
#   nt_reply_status FILE        "Granted" | "Rejected" ... of a TimeStampResp
#   nt_reply_failinfo FILE      OpenSSL's failure-info text of a rejection
#   nt_config_set DIR JQ_FILTER edit DIR/config.json with jq
#   nt_tree_size [URL]          tree size of the server's latest checkpoint (default NT_URL)
#   nt_load_field FILE NAME     a count (granted, rejected, errors) of notarium-load's RESULT line
#   nt_mount_tmpfs DIR SIZE     mount a tmpfs of SIZE (e.g. 4m) on DIR, unmounted at exit;
#                               fails the test when mounting is not permitted, unless
#                               NT_ALLOW_SKIP=1 (then the test prints SKIP and passes)
#   nt_demo_config DIR JQ_FILTER  a demo data directory (start and stop once), then edit its config
#   nt_start_freezable DIR [args] nt_start_nodemo with the test-only disk-freeze shim preloaded
#                               (tests/shim/freeze.c): `touch $NT_FREEZE_FILE` freezes, rm thaws
set -euo pipefail

: "${NOTARIUM:?NOTARIUM must name the notarium binary}"
: "${NT_E2E_TMP:?NT_E2E_TMP must name a scratch directory}"

NT_PIDS=()
NT_MOUNTS=()
NT_PID=""
NT_URL=""
NT_LOG=""
# Servers in tests never depend on the machine's NTP state unless a test says so.
export NOTARIUM_TEST_CLOCK_SYNC="${NOTARIUM_TEST_CLOCK_SYNC:-synced}"
# Servers in tests record their signing certificates as kind-0x04 leaves before the first
# token, as in production (tsa.record_certificates, default true): a fresh ledger's size is
# nt_cert_leaves, not 0.  A test that needs a ledger without them says
# "tsa": {"record_certificates": false} in its configuration.

nt_cleanup() {
    local p
    for p in "${NT_PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${NT_PIDS[@]}"; do
        # bounded: give each a moment, then SIGKILL
        for _ in $(seq 1 100); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    for p in "${NT_MOUNTS[@]}"; do
        umount "$p" 2>/dev/null || umount -l "$p" 2>/dev/null || echo "could not unmount $p" >&2
    done
}
trap nt_cleanup EXIT

nt_setup() {
    rm -rf "$NT_E2E_TMP"
    mkdir -p "$NT_E2E_TMP"
    T="$NT_E2E_TMP"
}

nt_fail() {
    echo "FAIL: $*" >&2
    if [[ -n "$NT_LOG" && -f "$NT_LOG" ]]; then
        echo "--- server log (tail) ---" >&2
        tail -n 20 "$NT_LOG" >&2 || true
    fi
    exit 1
}

nt_check() {
    if ! eval "[[ $1 ]]"; then
        nt_fail "$2"
    fi
}

# The one bounded poll of the e2e tests: no fixed sleep waits for a state.  CMD is eval'd in
# the caller's shell (its assignments stay visible; inside a function, name the function's
# arguments in locals first: CMD's $1 would be nt_wait_for's).
nt_wait_for() {
    local nt__cmd="$1" nt__secs="$2" nt__msg="$3" nt__detail="${4:-}" nt__now nt__end
    nt__now=${EPOCHREALTIME/./}
    nt__end=$((nt__now + $(awk -v s="$nt__secs" 'BEGIN { printf "%d", s * 1000000 }')))
    until eval "$nt__cmd"; do
        if ((${EPOCHREALTIME/./} >= nt__end)); then
            [[ -z "$nt__detail" ]] || nt__msg="$nt__msg: $(eval "$nt__detail" 2>&1 || true)"
            nt_fail "$nt__msg (waited $nt__secs s)"
        fi
        sleep "${NT_WAIT_INTERVAL:-0.025}"
    done
}

nt__start() {
    local dir="$1"
    shift
    local portfile="$dir.port"
    NT_LOG="$dir.log"
    rm -f "$portfile"
    "$NOTARIUM" serve --allow-root --data "$dir" --listen 127.0.0.1:0 --port-file "$portfile" "$@" \
        >>"$NT_LOG" 2>&1 &
    NT_PID=$!
    NT_PIDS+=("$NT_PID")
    nt_wait_for '[[ -s "$portfile" ]] || { kill -0 "$NT_PID" 2>/dev/null ||
        nt_fail "server exited during start-up"; false; }' 30 "server did not write its port file"
    NT_URL="http://$(head -n1 "$portfile")"
}

nt_start() {
    local dir="$1"
    shift
    nt__start "$dir" --demo "$@"
}

nt_start_nodemo() {
    nt__start "$@"
}

nt_stop() {
    local rc=0
    kill -TERM "$NT_PID" 2>/dev/null || nt_fail "server $NT_PID is not running"
    wait "$NT_PID" || rc=$?
    [[ $rc -eq 0 ]] || nt_fail "server exited with status $rc after SIGTERM"
    NT_PID=""
}

nt_tsq() {
    local out="$1"
    shift
    openssl ts -query "$@" -out "$out" 2>/dev/null || nt_fail "openssl ts -query $* failed"
}

nt_post_tsq() {
    local in="$1" out="$2" url="${3:-$NT_URL/tsa}"
    curl -sS -o "$out" -w '%{http_code}' -H 'Content-Type: application/timestamp-query' \
        --data-binary @"$in" "$url"
}

nt_http() {
    local method="$1" url="$2" out="$3"
    shift 3
    curl -sS -o "$out" -w '%{http_code}' -X "$method" "$@" "$url"
}

nt_reply_status() {
    openssl ts -reply -in "$1" -text 2>/dev/null | sed -n 's/^Status: \(.*\)\.$/\1/p' | head -n1
}

nt_reply_failinfo() {
    openssl ts -reply -in "$1" -text 2>/dev/null | sed -n 's/^Failure info: //p' | head -n1
}

nt_config_set() {
    local dir="$1" filter="$2"
    jq "$filter" "$dir/config.json" >"$dir/config.json.new" || nt_fail "jq $filter failed"
    mv "$dir/config.json.new" "$dir/config.json"
}

# The SHA-256 of a file as lowercase hex.
nt_sha256() {
    sha256sum "$1" | cut -d' ' -f1
}

nt_tree_size() {
    curl -sS "${1:-$NT_URL}/v1/checkpoint" | sed -n 2p
}

# The number of certificate leaves (kind 0x04) a server has recorded: GET /v1/certs.
# A fresh ledger holds these before its first token, so its first token is leaf
# $(nt_cert_leaves) and its tree size counts them.
nt_cert_leaves() {
    local n
    n=$(curl -sS "${1:-$NT_URL}/v1/certs" | jq '.recorded | length') || nt_fail "GET /v1/certs failed"
    [[ "$n" =~ ^[0-9]+$ ]] || nt_fail "GET /v1/certs: no recorded list"
    echo "$n"
}

nt_load_field() {
    sed -n "s/^RESULT .*[ ]$2=\([0-9]*\).*/\1/p" "$1"
}

nt_mount_tmpfs() {
    local dir="$1" size="$2" err
    mkdir -p "$dir"
    if ! err=$(mount -t tmpfs -o "size=$size,mode=0700" tmpfs "$dir" 2>&1); then
        if [[ "${NT_ALLOW_SKIP:-}" == 1 ]]; then
            echo "SKIP: cannot mount a tmpfs on $dir ($err); NT_ALLOW_SKIP=1"
            exit 0
        fi
        nt_fail "cannot mount a tmpfs on $dir: $err (this test needs root or CAP_SYS_ADMIN;" \
            "set NT_ALLOW_SKIP=1 to skip it)"
    fi
    NT_MOUNTS+=("$dir")
}

nt_demo_config() {
    nt_start "$1"
    nt_stop
    nt_config_set "$1" "$2"
}

nt_start_freezable() {
    local shim="${NT_BUILD_DIR:?NT_BUILD_DIR must name the build directory}/tests/libnt_freeze.so"
    [[ -f "$shim" ]] || nt_fail "no $shim"
    export NT_FREEZE_FILE="$T/freeze"
    rm -f "$NT_FREEZE_FILE"
    # An ASan build wants its runtime first; the shim is not instrumented.
    LD_PRELOAD="$shim" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
        nt_start_nodemo "$@"
}
