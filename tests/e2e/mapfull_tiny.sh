#!/usr/bin/env bash
# mapfull_tiny.sh - fault test of a full ledger: a server whose LMDB map is
# 1 MiB ("map_size_mb": 1) is fed tokens by notarium-load until the ledger
# refuses.  Then: POST /tsa answers HTTP 503 + Retry-After with a DER
# TimeStampResp rejection carrying systemFailure (read back with
# `openssl ts -reply -text`), POST /v1/evidence answers 503 JSON, /healthz
# reports the full ledger, the read side (checkpoint, receipts, proofs) keeps
# working, the tree holds exactly the granted tokens (nothing partial), and
# after a restart every granted token is still there with a head consistent
# with the one before.  Run by ctest with NOTARIUM, NT_BIN_DIR, NT_E2E_TMP.
set -euo pipefail

: "${NT_BIN_DIR:?NT_BIN_DIR must name the build tools directory}"
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOAD="$NT_BIN_DIR/notarium-load"

nt_setup
tmp="$T"
data="$tmp/data"
fail() { nt_fail "$@"; }

start_server() {
    "$@" "$data" --log-level warn
    url="$NT_URL"
}
stop_server() { nt_stop; }
# http METHOD PATH OUTFILE [curl args...]: prints the status code; headers in OUTFILE.headers.
http() {
    local method=$1 path=$2 out=$3
    shift 3
    nt_http "$method" "$url$path" "$out" -D "$out.headers" "$@"
}
tree_size() { nt_tree_size "$url"; }

# A demo data dir, then a 1 MiB map for a fresh ledger (the demo one is removed, so the
# start needs --allow-new-ledger: the directory ran before).
start_server nt_start
stop_server
nt_config_set "$data" '.ledger.map_size_mb = 1'
# No retry probe during this test (a small token may still fit; diskfull_recover.sh tests that).
nt_config_set "$data" '.ledger.full_retry_ms = 600000'
# The demo log's mirror goes with it (a new log starts its own).
rm -rf "$data/ledger" "$data/mirror.git"
nt_start_nodemo "$data" --log-level warn --allow-new-ledger
url="$NT_URL"
vkey="$data/pki/log.vkey"
api_key="$(cat "$data/demo-api-key")"
# The new log starts with the signing certificates' leaves (kind 0x04), C of them.
C=$(nt_cert_leaves "$url")
[[ "$C" -ge 1 && "$(tree_size)" -eq "$C" ]] || fail "fresh tree size $(tree_size), $C certificate leaves"

# Fill it: stop at the first refusal, but let requests in flight finish so
# that the number of granted tokens is exact.
"$LOAD" --url "$url/tsa" --connections 4 --threads 2 --duration 60 --max-requests 20000 \
    --stop-on-reject --record "$tmp/granted.rec" >"$tmp/fill.out" 2>&1 || true
cat "$tmp/fill.out"
granted=$(nt_load_field "$tmp/fill.out" granted)
rejected=$(nt_load_field "$tmp/fill.out" rejected)
errors=$(nt_load_field "$tmp/fill.out" errors)
[[ -n "$granted" && "$granted" -gt 0 ]] || fail "no token granted before the map filled"
[[ "$rejected" -gt 0 ]] || fail "the 1 MiB ledger never filled"
[[ "$errors" -eq 0 ]] || fail "load saw $errors errors (not clean refusals)"
[[ "$(wc -l <"$tmp/granted.rec")" -eq "$granted" ]] || fail "recorded tokens != granted"

# /tsa: 503 + Retry-After + DER rejection with systemFailure.
# The load stopped at its first refusal: a failed batch of several leaves, while appends
# queued behind it may still fit one by one (and then clear the full state).  Single requests
# fill the last bytes: the map must refuse within a few, and then stays refused (back-off).
for i in $(seq 1 200); do
    openssl rand -out "$tmp/doc.bin" 64
    openssl ts -query -data "$tmp/doc.bin" -sha256 -cert -out "$tmp/req.tsq" 2>/dev/null
    code=$(http POST /tsa "$tmp/resp.tsr" -H 'Content-Type: application/timestamp-query' \
        --data-binary @"$tmp/req.tsq")
    [[ "$code" == 200 ]] || break
    granted=$((granted + 1))
done
[[ "$code" == 503 ]] || fail "/tsa on a full ledger: HTTP $code after $i requests, want 503"
grep -qi '^Retry-After:' "$tmp/resp.tsr.headers" || fail "/tsa 503 without Retry-After"
grep -qi '^Content-Type: application/timestamp-reply' "$tmp/resp.tsr.headers" ||
    fail "/tsa 503 body is not application/timestamp-reply"
openssl ts -reply -in "$tmp/resp.tsr" -text >"$tmp/resp.txt" 2>/dev/null ||
    fail "/tsa 503 body is not a TimeStampResp"
grep -q 'Status: Rejected' "$tmp/resp.txt" || fail "not a rejection: $(cat "$tmp/resp.txt")"
grep -q 'system failure' "$tmp/resp.txt" || fail "failInfo is not systemFailure: $(cat "$tmp/resp.txt")"
# A 503 must never carry a token.
grep -A1 'TST info:' "$tmp/resp.txt" | grep -q 'Not included' || fail "a 503 reply carried a token"

# /v1/evidence: 503 JSON.
digest=$(openssl rand -hex 32)
code=$(http POST /v1/evidence "$tmp/ev.json" -H "Authorization: Bearer $api_key" \
    -H 'Content-Type: application/json' \
    --data "{\"digest\":\"sha256:$digest\",\"kind\":\"mapfull.test\"}")
[[ "$code" == 503 ]] || fail "/v1/evidence on a full ledger: HTTP $code, want 503"
jq -e '.error | type == "string"' "$tmp/ev.json" >/dev/null || fail "503 body is not a JSON error"
code=$(http GET "/v1/receipts?digest=sha256:$digest" "$tmp/none.json")
[[ "$code" == 200 ]] && jq -e '.receipts | length == 0' "$tmp/none.json" >/dev/null ||
    fail "a refused evidence record left a receipt"

# /healthz reports it (503 = not ready, ledger.full true).
code=$(http GET /healthz "$tmp/health.json")
[[ "$code" == 503 ]] || fail "/healthz on a full ledger: HTTP $code, want 503"
jq -e '.ledger.full == true' "$tmp/health.json" >/dev/null ||
    fail "/healthz does not report ledger.full: $(cat "$tmp/health.json")"

# Nothing partial: the tree holds exactly the certificate leaves and the granted tokens,
# and refusals add nothing.
size=$(tree_size)
[[ "$size" -eq $((C + granted)) ]] || fail "tree size $size != $C certificate leaves + $granted granted tokens"
for _ in 1 2 3; do
    http POST /tsa "$tmp/again.tsr" -H 'Content-Type: application/timestamp-query' \
        --data-binary @"$tmp/req.tsq" >/dev/null
done
[[ "$(tree_size)" -eq "$size" ]] || fail "refused requests changed the tree"

# The read side keeps working.
last=$((size - 1))
[[ "$(http GET /v1/receipt/0 "$tmp/r0.json")" == 200 ]] || fail "GET /v1/receipt/0"
[[ "$(http GET "/v1/receipt/$last" "$tmp/rl.json")" == 200 ]] || fail "GET /v1/receipt/$last"
[[ "$(http GET "/v1/receipt/$size" "$tmp/rn.json")" == 404 ]] || fail "receipt past the end not 404"
code=$(http GET "/v1/proof/inclusion?index=$last&size=$size" "$tmp/incl.json")
[[ "$code" == 200 ]] && jq -e '.hashes | type == "array"' "$tmp/incl.json" >/dev/null ||
    fail "inclusion proof on a full ledger: HTTP $code"
"$LOAD" --url "$url" --check-records "$tmp/granted.rec" --vkey "$vkey" ||
    fail "granted tokens without a matching receipt"
"$LOAD" --url "$url" --check-consistency "$tmp/none" --vkey "$vkey" --save-checkpoint "$tmp/cp.before" \
    >/dev/null || fail "checkpoint of the full ledger does not verify"

# After a restart: every granted token is still there, the head extends the old one.
stop_server
nt_start_nodemo "$data" --log-level warn --allow-new-ledger
url="$NT_URL"
"$LOAD" --url "$url" --check-records "$tmp/granted.rec" --vkey "$vkey" ||
    fail "granted tokens lost across a restart"
"$LOAD" --url "$url" --check-consistency "$tmp/cp.before" --vkey "$vkey" ||
    fail "head after restart not consistent with the full ledger's head"
[[ "$(tree_size)" -ge "$size" ]] || fail "tree shrank across a restart"
stop_server
echo "PASS: 1 MiB ledger filled after $granted tokens; refusals clean; all tokens kept"
