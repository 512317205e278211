#!/usr/bin/env bash
# ledger_cli_live.sh - `notarium ledger info|get|proof --data DIR` while the
# server runs on DIR (the CLI opens the ledger read-only, beside the server's
# sequencer): each answer matches what the HTTP API says at the same moment
# (GET /v1/checkpoint, /v1/receipt/<i>, /v1/proof/inclusion and
# /v1/proof/consistency), the CLI sees leaves appended after an earlier CLI
# run, and the server goes on issuing afterwards.  Negative twins: an index
# past the end, a proof beyond the tree and a directory without a ledger fail
# with exit status 1; a wrong origin in the config is refused.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

D="$T/data"
nt_start "$D"

issue() { # name
    echo "live document $1 $RANDOM" >"$T/$1.txt"
    nt_tsq "$T/$1.tsq" -data "$T/$1.txt" -sha256 -cert
    code=$(nt_post_tsq "$T/$1.tsq" "$T/$1.tsr")
    nt_check "$code == 200" "$1: HTTP $code"
    nt_check "\"$(nt_reply_status "$T/$1.tsr")\" == Granted" "$1: not granted"
}

b64hex() { base64 -d | od -An -v -tx1 | tr -d ' \n'; }

# info: size, root and the checkpoint itself equal GET /v1/checkpoint.
check_info() { # want-size
    "$NOTARIUM" ledger info --data "$D" >"$T/info.txt" 2>"$T/info.err" ||
        nt_fail "ledger info on a live server: $(cat "$T/info.err")"
    curl -sS "$NT_URL/v1/checkpoint" >"$T/cp"
    nt_check "$(sed -n 2p "$T/cp") == $1" "checkpoint size $(sed -n 2p "$T/cp"), want $1"
    grep -qx "size: $1" "$T/info.txt" || nt_fail "ledger info: size is not $1: $(head -3 "$T/info.txt")"
    grep -qx "origin: $(sed -n 1p "$T/cp")" "$T/info.txt" || nt_fail "ledger info: origin differs"
    grep -qx "root: $(sed -n 3p "$T/cp" | b64hex)" "$T/info.txt" ||
        nt_fail "ledger info: root differs from the checkpoint's"
    sed '1,/^checkpoint:$/d' "$T/info.txt" | cmp -s - "$T/cp" ||
        nt_fail "ledger info: checkpoint differs from GET /v1/checkpoint"
}

# The tree: the signing certificates' leaves (kind 0x04), then the tokens; N is its size.
C=$(nt_cert_leaves)
nt_check "$C -ge 1" "no certificate leaf recorded"
for i in 1 2 3 4 5; do issue "a$i"; done
N=$((C + 5))
check_info $N

# get: the receipt equals GET /v1/receipt/<i> (certificates: both carry the TSA's).
for i in 0 $C $((C + 2)) $((N - 1)); do
    "$NOTARIUM" ledger get "$i" --data "$D" >"$T/cli$i.json" 2>"$T/cli$i.err" ||
        nt_fail "ledger get $i: $(cat "$T/cli$i.err")"
    code=$(nt_http GET "$NT_URL/v1/receipt/$i" "$T/api$i.json")
    nt_check "$code == 200" "/v1/receipt/$i: HTTP $code"
    a=$(jq -S -c 'del(.certificates)' "$T/cli$i.json")
    b=$(jq -S -c 'del(.certificates)' "$T/api$i.json")
    [[ "$a" == "$b" ]] || nt_fail "ledger get $i differs from /v1/receipt/$i"
    nt_check "$(jq '.proof.tree_size' "$T/cli$i.json") == $N" "ledger get $i: tree size"
    nt_check "\"$(jq -r '.certificates[0]' "$T/cli$i.json")\" == \"$(jq -r '.certificates[0]' "$T/api$i.json")\"" \
        "ledger get $i: TSA certificate differs"
done

# proof: the same hashes as the HTTP API.
"$NOTARIUM" ledger proof inclusion 1 $N --data "$D" >"$T/pi.json" || nt_fail "ledger proof inclusion"
curl -sS "$NT_URL/v1/proof/inclusion?index=1&size=$N" >"$T/api-pi.json"
nt_check "$(jq '.hashes | length' "$T/pi.json") -ge 1" "inclusion proof is empty"
nt_check "\"$(jq -c .hashes "$T/pi.json")\" == \"$(jq -c .hashes "$T/api-pi.json")\"" \
    "ledger proof inclusion differs from /v1/proof/inclusion"
"$NOTARIUM" ledger proof consistency 2 $N --data "$D" >"$T/pc.json" || nt_fail "ledger proof consistency"
curl -sS "$NT_URL/v1/proof/consistency?from=2&to=$N" >"$T/api-pc.json"
nt_check "$(jq '.hashes | length' "$T/pc.json") -ge 1" "consistency proof is empty"
nt_check "\"$(jq -c .hashes "$T/pc.json")\" == \"$(jq -c .hashes "$T/api-pc.json")\"" \
    "ledger proof consistency differs from /v1/proof/consistency"

# Negative twins, still against the live server.
rc=0
"$NOTARIUM" ledger get $N --data "$D" >/dev/null 2>"$T/neg.err" || rc=$?
nt_check "$rc == 1" "ledger get past the end: exit $rc"
grep -q "no leaf $N" "$T/neg.err" || nt_fail "ledger get past the end: $(cat "$T/neg.err")"
rc=0
"$NOTARIUM" ledger proof inclusion 0 $((N + 1)) --data "$D" >/dev/null 2>&1 || rc=$?
nt_check "$rc == 1" "inclusion proof beyond the tree: exit $rc"
mkdir -p "$T/empty"
cp "$D/config.json" "$T/empty/config.json"
rc=0
"$NOTARIUM" ledger info --data "$T/empty" --config "$T/empty/config.json" >/dev/null 2>"$T/neg.err" || rc=$?
nt_check "$rc == 1" "ledger info without a ledger: exit $rc"
grep -q "no ledger here" "$T/neg.err" || nt_fail "ledger info without a ledger: $(cat "$T/neg.err")"
[[ ! -e "$T/empty/ledger/data.mdb" ]] || nt_fail "ledger info created a ledger"
jq '.ledger.origin = "example.test/another-log"' "$D/config.json" >"$T/other.json"
rc=0
"$NOTARIUM" ledger info --data "$D" --config "$T/other.json" >/dev/null 2>"$T/neg.err" || rc=$?
nt_check "$rc == 1" "ledger info with a wrong origin: exit $rc"
grep -q "does not match" "$T/neg.err" || nt_fail "wrong origin: $(cat "$T/neg.err")"

# The server keeps issuing; the CLI sees the new leaves.
for i in 1 2 3; do issue "b$i"; done
check_info $((N + 3))
"$NOTARIUM" ledger get $((N + 2)) --data "$D" >"$T/cli7.json" || nt_fail "ledger get $((N + 2))"
openssl ts -reply -in "$T/b3.tsr" -token_out -out "$T/b3.tok" 2>/dev/null || nt_fail "b3: no token"
jq -r .token "$T/cli7.json" | base64 -d | cmp -s - "$T/b3.tok" || nt_fail "ledger get $((N + 2)): not b3's token"
code=$(nt_http GET "$NT_URL/healthz" "$T/health.json")
nt_check "$code == 200" "healthz after the CLI runs: HTTP $code"
nt_stop
echo "ledger_cli_live: ok"
