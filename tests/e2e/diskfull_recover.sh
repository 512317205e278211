#!/usr/bin/env bash
# diskfull_recover.sh - issue 13 item 7: after a disk-full the server used to
# stay full until restarted, though space came back.  The ledger directory is
# put on a small tmpfs (mount needs root, as in CI: see nt_mount_tmpfs), a
# filler file takes the rest of it, and notarium-load issues tokens until the
# ledger's write fails (ENOSPC) and /tsa answers 503.  /healthz then reports
# the full ledger; the filler is deleted and, without a restart, /tsa answers
# 200 again within the back-off, /healthz is ready, a second load run is all
# granted, and nothing acknowledged is lost: the tree holds exactly the
# granted tokens, each with a receipt that verifies.  Run by ctest with
# NOTARIUM, NT_BIN_DIR, NT_E2E_TMP.
set -euo pipefail

: "${NT_BIN_DIR:?NT_BIN_DIR must name the build tools directory}"
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOAD="$NT_BIN_DIR/notarium-load"

nt_setup
data="$T/data"

# A demo data directory; its ledger is replaced by a fresh one on a 4 MiB tmpfs.
nt_start "$data"
nt_stop
# The demo log's mirror goes with it (a new log starts its own).
rm -rf "$data/ledger" "$data/mirror.git"
nt_mount_tmpfs "$data/ledger" 4m
# 200 ms first back-off (doubling to 30 s): the recovery below is quick.
nt_config_set "$data" '.ledger.full_retry_ms = 200'
nt_start_nodemo "$data" --log-level warn --allow-new-ledger # a deliberate new log: the demo one was removed
vkey="$data/pki/log.vkey"
# The new log starts with the signing certificates' leaves (kind 0x04), C of them.
C=$(nt_cert_leaves)
nt_check '"$C" -ge 1 && "$(nt_tree_size)" -eq "$C"' "fresh tree size $(nt_tree_size), $C certificate leaves"

# Some tokens while there is room.
"$LOAD" --url "$NT_URL/tsa" --connections 2 --threads 1 --duration 30 --max-requests 20 \
    --record "$T/granted1.rec" >"$T/load1.out" 2>&1 || nt_fail "first load: $(cat "$T/load1.out")"
g1=$(nt_load_field "$T/load1.out" granted)
nt_check '"$g1" -eq 20' "first load granted $g1 of 20"

# Fill the file system: 64 KiB blocks, then 4 KiB ones for the last pages.
dd if=/dev/zero of="$data/ledger/filler" bs=64k 2>/dev/null || true
dd if=/dev/zero of="$data/ledger/filler" bs=4k oflag=append conv=notrunc 2>/dev/null || true
df -k "$data/ledger" | tail -n1

# Issue until the ledger refuses (LMDB reuses its free pages first, so not at once).
"$LOAD" --url "$NT_URL/tsa" --connections 2 --threads 1 --duration 60 --max-requests 5000 \
    --stop-on-reject --record "$T/granted2.rec" >"$T/load2.out" 2>&1 || true
cat "$T/load2.out"
g2=$(nt_load_field "$T/load2.out" granted)
rejected=$(nt_load_field "$T/load2.out" rejected)
errors=$(nt_load_field "$T/load2.out" errors)
nt_check '-n "$rejected" && "$rejected" -gt 0' "the full disk never refused an append"
nt_check '"$errors" -eq 0' "load saw $errors errors (not clean 503 refusals)"
grep -q 'no space left on device' "$NT_LOG" || nt_fail "the log does not name ENOSPC"

# Full: /tsa 503 with systemFailure, /healthz 503 with ledger.full.
nt_tsq "$T/q.tsq" -data "$T/load2.out" -sha256 -cert
code=$(nt_post_tsq "$T/q.tsq" "$T/full.tsr")
nt_check '"$code" == 503' "/tsa on a full disk: HTTP $code, want 503"
nt_check '"$(nt_reply_failinfo "$T/full.tsr")" == *"system failure"*' "503 is not systemFailure"
code=$(nt_http GET "$NT_URL/healthz" "$T/health.json")
nt_check '"$code" == 503' "/healthz on a full disk: HTTP $code, want 503"
jq -e '.ledger.full == true and (.ledger.full_retry_in_ms | type == "number")' \
    "$T/health.json" >/dev/null || nt_fail "/healthz does not report the full ledger: $(cat "$T/health.json")"
size=$(nt_tree_size)
nt_check '"$size" -eq $((C + g1 + g2))' "tree size $size != $C certificate leaves + $((g1 + g2)) granted tokens while full"

# Space comes back: the next probe commits, without a restart (bounded: 60 s).
rm -f "$data/ledger/filler"
tries=0
probe() { # one token request: 0 when granted, 1 while still full (503), fails otherwise
    tries=$((tries + 1))
    nt_tsq "$T/r.tsq" -data "$T/health.json" -sha256 -cert -no_nonce
    code=$(nt_post_tsq "$T/r.tsq" "$T/r.tsr")
    [[ "$code" == 200 ]] && return 0
    nt_check '"$code" == 503' "while recovering: HTTP $code, want 503 or 200"
    return 1
}
NT_WAIT_INTERVAL=0.2 nt_wait_for probe 60 "no 200 after space was freed: the server stays full"
g3=1
nt_check '"$(nt_reply_status "$T/r.tsr")" == "Granted"' "the 200 after recovery is not a grant"
echo "recovered after $tries tries"
code=$(nt_http GET "$NT_URL/healthz" "$T/health2.json")
nt_check '"$code" == 200' "/healthz after recovery: HTTP $code: $(cat "$T/health2.json")"
jq -e '.ledger.full == false and .ledger.full_retry_in_ms == 0' "$T/health2.json" >/dev/null ||
    nt_fail "/healthz still reports a full ledger: $(cat "$T/health2.json")"

"$LOAD" --url "$NT_URL/tsa" --connections 2 --threads 1 --duration 30 --max-requests 50 \
    --record "$T/granted4.rec" >"$T/load4.out" 2>&1 || nt_fail "load after recovery: $(cat "$T/load4.out")"
g4=$(nt_load_field "$T/load4.out" granted)
nt_check '"$g4" -eq 50' "after recovery only $g4 of 50 granted"

# Nothing acknowledged lost: the tree is exactly the granted tokens, each with its receipt.
total=$((g1 + g2 + g3 + g4))
size=$(nt_tree_size)
nt_check '"$size" -eq $((C + total))' "tree size $size != $C certificate leaves + $total granted tokens"
cat "$T/granted1.rec" "$T/granted2.rec" "$T/granted4.rec" >"$T/all.rec"
"$LOAD" --url "$NT_URL" --check-records "$T/all.rec" --vkey "$vkey" ||
    nt_fail "granted tokens without a matching receipt"
nt_stop
echo "PASS: disk full after $((g1 + g2)) tokens, refused with 503, recovered without restart; $total tokens kept"
