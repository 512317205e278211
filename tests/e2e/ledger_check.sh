#!/usr/bin/env bash
# ledger_check.sh - issue 13 item 11: a bit flipped in a stored leaf or in
# stored metadata was not noticed (the server started and served it).
# `notarium ledger check` runs beside the live server and passes on the intact
# ledger; after one byte of a leaf's label (in data.mdb itself) is changed it
# exits 1 naming that leaf's index, `serve --check-ledger` (and
# "ledger.check_at_start") refuse to start; the same for one byte of a record's
# metadata; restored, the check passes and `serve --check-ledger` starts.
# Run by ctest with NOTARIUM, NT_E2E_TMP.
set -euo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

nt_setup
data="$T/data"
db="$data/ledger/data.mdb"
tag=$(openssl rand -hex 6)

nt_start "$data"
api_key="$(cat "$data/demo-api-key")"
# The ledger starts with the signing certificates' leaves (kind 0x04), C of them.
C=$(nt_cert_leaves)
nt_check '"$C" -ge 1' "no certificate leaf recorded"
declare -a idx
for i in 0 1 2 3 4; do
    code=$(nt_http POST "$NT_URL/v1/evidence" "$T/ev$i.json" -D "$T/ev$i.h" \
        -H "Authorization: Bearer $api_key" -H 'Content-Type: application/json' \
        --data "{\"digest\":\"sha256:$(openssl rand -hex 32)\",\"kind\":\"e2e.k$i.$tag\",\"metadata\":{\"m\":\"v$i-$tag\"}}")
    nt_check '"$code" == 201' "evidence $i: HTTP $code"
    idx[i]=$(sed -n 's|^Location: /v1/receipt/\([0-9]*\).*|\1|ip' "$T/ev$i.h" | tr -d '\r')
    nt_check '-n "${idx[i]}"' "evidence $i: no Location"
done

# Beside the live server: intact.
"$NOTARIUM" ledger check --data "$data" >"$T/live.out" 2>&1 || nt_fail "check of a live, intact ledger: $(cat "$T/live.out")"
grep -q '^OK:' "$T/live.out" || nt_fail "no OK line: $(cat "$T/live.out")"
"$NOTARIUM" ledger check --data "$data" --log-key "$data/pki/log.vkey" --all-checkpoints \
    >"$T/vkey.out" 2>&1 || nt_fail "check with --log-key: $(cat "$T/vkey.out")"
# A vkey that is not one, and usage errors.
echo "not a vkey" >"$T/bad.vkey"
rc=0
"$NOTARIUM" ledger check --data "$data" --log-key "$T/bad.vkey" >"$T/bad.out" 2>&1 || rc=$?
nt_check '"$rc" -eq 1' "check with a malformed vkey: status $rc"
grep -q 'log key' "$T/bad.out" || nt_fail "malformed vkey: no message: $(cat "$T/bad.out")"
rc=0
"$NOTARIUM" ledger check >/dev/null 2>&1 || rc=$?
nt_check '"$rc" -eq 2' "ledger check without --data: status $rc, want 2"
rc=0
"$NOTARIUM" ledger check --data "$data" --max-problems 0 >/dev/null 2>&1 || rc=$?
nt_check '"$rc" -eq 2' "ledger check --max-problems 0: status $rc, want 2"
nt_stop

# flip STRING: change the first byte of STRING to '#' wherever it occurs in data.mdb (LMDB
# copies pages on write: free pages keep old copies; one occurrence is the live one);
# echoes the original byte.  unflip STRING BYTE puts it back.
flip() {
    local off hits
    hits=$(LC_ALL=C grep -obUaF "$1" "$db" | cut -d: -f1)
    nt_check '-n "$hits"' "'$1' not found in data.mdb"
    printf '%s' "${1:0:1}"
    for off in $hits; do
        printf '#' | dd of="$db" bs=1 seek="$off" conv=notrunc 2>/dev/null
    done
}
unflip() {
    local off
    for off in $(LC_ALL=C grep -obUaF "#${1:1}" "$db" | cut -d: -f1); do
        printf '%s' "$2" | dd of="$db" bs=1 seek="$off" conv=notrunc 2>/dev/null
    done
}
# expect_problem WHAT INDEX: ledger check exits 1 naming it; serve --check-ledger refuses.
expect_problem() {
    local rc=0
    "$NOTARIUM" ledger check --data "$data" >"$T/check.out" 2>&1 || rc=$?
    cat "$T/check.out"
    nt_check '"$rc" -eq 1' "ledger check exit status $rc, want 1"
    grep -q "^PROBLEM $1 $2: " "$T/check.out" || nt_fail "no 'PROBLEM $1 $2' line"
    grep -q '^FAILED: ' "$T/check.out" || nt_fail "no FAILED line"
    rc=0
    timeout 60 "$NOTARIUM" serve --allow-root --data "$data" --listen 127.0.0.1:0 --port-file "$T/p" \
        --check-ledger >"$T/serve.out" 2>&1 || rc=$?
    nt_check '"$rc" -ne 0 && "$rc" -lt 124' "serve --check-ledger on a damaged ledger: status $rc"
    grep -q 'the ledger check failed' "$T/serve.out" || nt_fail "serve: no refusal message"
    [[ ! -s "$T/p" ]] || nt_fail "serve --check-ledger wrote a port file"
}

# A byte of leaf idx[2] (its label, inside the leaf bytes).
orig=$(flip "e2e.k2.$tag")
expect_problem leaf "${idx[2]}"
# the same through the configuration instead of the flag
nt_config_set "$data" '.ledger.check_at_start = true'
rc=0
timeout 60 "$NOTARIUM" serve --allow-root --data "$data" --listen 127.0.0.1:0 >"$T/serve2.out" 2>&1 || rc=$?
nt_check '"$rc" -ne 0 && "$rc" -lt 124' "serve with ledger.check_at_start: status $rc"
grep -q 'the ledger check failed' "$T/serve2.out" || nt_fail "check_at_start: no refusal"
nt_config_set "$data" 'del(.ledger.check_at_start)'
unflip "e2e.k2.$tag" "$orig"

# A byte of the metadata of record idx[4].
orig=$(flip "v4-$tag")
expect_problem metadata "${idx[4]}"
unflip "v4-$tag" "$orig"

# Restored: intact, and the server starts with the check.
"$NOTARIUM" ledger check --data "$data" >"$T/ok.out" 2>&1 || nt_fail "restored ledger: $(cat "$T/ok.out")"
nt_start_nodemo "$data" --check-ledger
nt_check '"$(nt_tree_size)" -eq $((C + 5))' "tree size $(nt_tree_size) after restart, want $C + 5"
nt_stop
echo "PASS: ledger check finds a flipped leaf and metadata byte by index; serve --check-ledger refuses"
