#!/usr/bin/env bash
# verify_server.sh - our verifier on our server's output: the demo server
# time-stamps a document over RFC 3161 (openssl ts -query) and records an
# evidence record with metadata over the JSON API; both receipts, fetched over
# HTTP, verify PASSED with `notarium verify` / `notarium-verify` against the
# demo trust anchor and log key, and the PDF report names the leaf.  Twins:
# another document fails (HASH_FAILURE); a receipt with its metadata altered
# fails (LEAF_MISMATCH).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

V="$NT_BIN_DIR/notarium-verify"
D="$T/data"
nt_start "$D"
CA="$D/pki/ca.pem"
VKEY="$D/pki/log.vkey"
nt_check "-s $CA && -s $VKEY" "demo data lacks pki/ca.pem or pki/log.vkey"
run() { set +e; "$@"; RC=$?; set -e; }

echo "contract v1, signed by both parties" >"$T/doc.txt"
echo "contract v2" >"$T/other.txt"
hex=$(sha256sum "$T/doc.txt" | cut -d' ' -f1)

# RFC 3161 token, then its receipt by digest
nt_tsq "$T/doc.tsq" -data "$T/doc.txt" -sha256 -cert
code=$(nt_post_tsq "$T/doc.tsq" "$T/doc.tsr")
nt_check "$code == 200" "POST /tsa: HTTP $code"
code=$(nt_http GET "$NT_URL/v1/receipts?digest=sha256:$hex" "$T/list.json")
nt_check "$code == 200" "GET /v1/receipts: HTTP $code"
jq '.receipts[0]' "$T/list.json" >"$T/r1.json"
run "$NOTARIUM" verify --document "$T/doc.txt" --receipt "$T/r1.json" --trust "$CA" \
    --log-key "$VKEY" --report-json "$T/r1.report.json" --quiet
nt_check "$RC -eq 0" "RFC 3161 receipt: notarium verify exit $RC: $(jq -c .steps "$T/r1.report.json" 2>/dev/null)"
# The PDF from the standalone verifier (its LSan hook knows pango's font caches).
run "$V" --document "$T/doc.txt" --receipt "$T/r1.json" --trust "$CA" --log-key "$VKEY" \
    --report-pdf "$T/r1.pdf" --quiet
nt_check "$RC -eq 0" "RFC 3161 receipt: notarium-verify exit $RC"
idx=$(jq -r .ledger.leaf_index "$T/r1.report.json")
pdftotext -layout "$T/r1.pdf" "$T/r1.txt"
grep -Eq "Leaf index: +$idx" "$T/r1.txt" || nt_fail "PDF lacks the leaf index $idx"
tr -d ' \n' <"$T/r1.txt" | grep -q "$hex" || nt_fail "PDF lacks the digest"
# twin: another document
run "$V" --document "$T/other.txt" --receipt "$T/r1.json" --trust "$CA" --log-key "$VKEY" \
    --report-json "$T/r1.bad.json" --quiet
nt_check "$RC -eq 1" "other document: exit $RC"
nt_check "$(jq -r .subindication "$T/r1.bad.json") == HASH_FAILURE" "other document: subindication"

# evidence record with metadata
code=$(nt_http POST "$NT_URL/v1/evidence" "$T/r2.json" \
    -H "Authorization: Bearer $(cat "$D/demo-api-key")" -H 'Content-Type: application/json' \
    -d '{"digest":"sha256:'"$hex"'","kind":"contract.signed","metadata":{"signer":"张三"}}')
nt_check "$code == 201" "POST /v1/evidence: HTTP $code"
run "$V" --digest "sha256:$hex" --receipt "$T/r2.json" --trust "$CA" --log-key "$VKEY" \
    --report-json "$T/r2.report.json" --quiet
nt_check "$RC -eq 0" "evidence receipt: exit $RC: $(jq -c .steps "$T/r2.report.json" 2>/dev/null)"
# twin: the metadata altered
jq --arg m "$(printf '{"signer":"mallory"}' | base64 -w0)" '.metadata = $m' "$T/r2.json" >"$T/r2.bad.json"
run "$V" --digest "sha256:$hex" --receipt "$T/r2.bad.json" --trust "$CA" --log-key "$VKEY" \
    --report-json "$T/r2.bad.report.json" --quiet
nt_check "$RC -eq 1" "altered metadata: exit $RC"
nt_check "$(jq -r .subindication "$T/r2.bad.report.json") == LEAF_MISMATCH" "altered metadata: subindication"

nt_stop
echo "verify_server: ok"
