#!/usr/bin/env bash
# verify_server_api.sh - POST /v1/verify on the real server: receipts the
# server issued, checked online against its own TSA root and log key, give
# the same indication as the offline `notarium verify` with the demo trust
# anchors.  Genuine receipt (as an object and as JSON text) -> PASSED; wrong
# digest -> FAILED/HASH_FAILURE; tampered inclusion proof, altered metadata,
# a JSON object that is no receipt, a TSA certificate with a malformed validity
# time (FAILED/FORMAT_FAILURE, offline exit 1) -> not PASSED, still HTTP 200; malformed
# requests -> 400 naming the field; wrong method 405, media type 415,
# oversize 413.  No API key is needed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

D="$T/data"
nt_start "$D" --log-level warn
CA="$D/pki/ca.pem"
VKEY="$D/pki/log.vkey"
KEY=$(cat "$D/demo-api-key")
run() { set +e; "$@"; RC=$?; set -e; }

# POST a JSON body file to /v1/verify; echo the HTTP status, reply in OUT.
verify_post() { # BODY_FILE OUT [curl args]
    local body="$1" out="$2"
    shift 2
    nt_http POST "$NT_URL/v1/verify" "$out" -H 'Content-Type: application/json' \
        --data-binary @"$body" "$@"
}
# {"receipt": <receipt file>, "digest": D} -> FILE
body_obj() { jq -n --slurpfile r "$1" --arg d "$2" '{receipt: $r[0], digest: $d}' >"$3"; }
body_str() { jq -n --rawfile r "$1" --arg d "$2" '{receipt: $r, digest: $d}' >"$3"; }
expect() { # REPORT INDICATION [SUBINDICATION] MSG
    local got sub
    got=$(jq -r .indication "$1")
    sub=$(jq -r '.subindication // ""' "$1")
    nt_check "\"$got\" == \"$2\"" "$4: indication $got ($sub), expected $2"
    [[ -z "$3" || "$sub" == "$3" ]] || nt_fail "$4: subindication $sub, expected $3"
}

# Three evidence records, so that the first one's receipt carries a non-empty proof.
for i in 1 2 3; do
    echo "contract $i" >"$T/doc$i.txt"
    hex=$(nt_sha256 "$T/doc$i.txt")
    meta='{"signer":"party '"$i"'"}'
    code=$(nt_http POST "$NT_URL/v1/evidence" "$T/created$i.json" \
        -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
        -d '{"digest":"sha256:'"$hex"'","kind":"contract.signed","metadata":'"$meta"'}')
    nt_check "$code == 201" "POST /v1/evidence: HTTP $code"
done
# Read with the key that wrote it: the receipt carries the metadata.
# Its leaf follows the signing certificates' leaves (kind 0x04).
L=$(jq -r .leaf.index "$T/created1.json")
nt_check "$L == $(nt_cert_leaves)" "the first evidence record is leaf $L"
code=$(nt_http GET "$NT_URL/v1/receipt/$L" "$T/r0.json" -H "Authorization: Bearer $KEY")
nt_check "$code == 200" "GET /v1/receipt/$L: HTTP $code"
nt_check "\"$(jq -r .metadata "$T/r0.json")\" != null" "the writer's receipt has no metadata"
nt_check "$(jq '.proof.hashes | length' "$T/r0.json") -ge 1" "leaf $L's proof is empty"
hex1="sha256:$(nt_sha256 "$T/doc1.txt")"
hex2="sha256:$(nt_sha256 "$T/doc2.txt")"

# Genuine: PASSED, as an object and as JSON text, with no Authorization header.
body_obj "$T/r0.json" "$hex1" "$T/b.json"
code=$(verify_post "$T/b.json" "$T/rep1.json")
nt_check "$code == 200" "genuine receipt: HTTP $code: $(head -c 300 "$T/rep1.json")"
expect "$T/rep1.json" PASSED "" "genuine receipt (object)"
nt_check "$(jq -r '.steps[] | select(.name == "ledger") | .result' "$T/rep1.json") == PASSED" \
    "ledger step of the genuine receipt"
body_str "$T/r0.json" "$hex1" "$T/b.json"
code=$(verify_post "$T/b.json" "$T/rep2.json")
nt_check "$code == 200" "genuine receipt as text: HTTP $code"
expect "$T/rep2.json" PASSED "" "genuine receipt (text)"
# Sent as text, the report hashes the exact bytes: the same hash as the file's.
nt_check "$(jq -r .inputs.receipt.sha256 "$T/rep2.json") == $(nt_sha256 "$T/r0.json")" \
    "receipt hash in the report"
# The anchor is the server's root CA: the demo's pki/ca.pem.
ca_sha=$(openssl x509 -in "$CA" -outform DER | sha256sum | cut -d' ' -f1)
nt_check "$(jq -r '.trust.tsa_roots[0].sha256' "$T/rep1.json") == $ca_sha" "trust anchor"
nt_check "$(jq -r .trust.log_key.vkey "$T/rep1.json") == $(head -n1 "$VKEY")" "log key"
# The same indication offline, with the anchors an examiner would pin.
run "$NOTARIUM" verify --digest "$hex1" --receipt "$T/r0.json" --trust "$CA" --log-key "$VKEY" \
    --report-json "$T/offline1.json" --quiet
nt_check "$RC -eq 0" "offline verify of the same receipt: exit $RC"
# The 201 body of POST /v1/evidence is a receipt too.
body_obj "$T/created3.json" "sha256:$(nt_sha256 "$T/doc3.txt")" "$T/b.json"
code=$(verify_post "$T/b.json" "$T/rep3.json")
nt_check "$code == 200" "receipt from POST /v1/evidence: HTTP $code"
expect "$T/rep3.json" PASSED "" "receipt from POST /v1/evidence"

# Twin: the digest of another document.
body_obj "$T/r0.json" "$hex2" "$T/b.json"
code=$(verify_post "$T/b.json" "$T/bad1.json")
nt_check "$code == 200" "wrong digest: HTTP $code"
expect "$T/bad1.json" FAILED HASH_FAILURE "wrong digest"

# Twin: one inclusion-proof hash replaced.
jq --arg h "$(head -c 32 /dev/zero | tr '\0' '\001' | base64 -w0)" '.proof.hashes[0] = $h' \
    "$T/r0.json" >"$T/r0.tampered.json"
body_obj "$T/r0.tampered.json" "$hex1" "$T/b.json"
code=$(verify_post "$T/b.json" "$T/bad2.json")
nt_check "$code == 200" "tampered proof: HTTP $code"
nt_check "$(jq -r .indication "$T/bad2.json") != PASSED" "a tampered proof PASSED"
expect "$T/bad2.json" FAILED INCLUSION_PROOF_FAILURE "tampered proof"
nt_check "$(jq -r '.steps[] | select(.name == "ledger") | .result' "$T/bad2.json") == FAILED" \
    "tampered proof: the ledger step did not fail"

# Twin: metadata altered (the leaf commits to its SHA-256).
jq --arg m "$(printf '{"signer":"mallory"}' | base64 -w0)" '.metadata = $m' "$T/r0.json" \
    >"$T/r0.meta.json"
body_obj "$T/r0.meta.json" "$hex1" "$T/b.json"
code=$(verify_post "$T/b.json" "$T/bad3.json")
nt_check "$code == 200" "altered metadata: HTTP $code"
expect "$T/bad3.json" FAILED LEAF_MISMATCH "altered metadata"

# A well-formed request whose receipt is not a receipt: a FAILED report, not a 400.
echo '{"receipt":{"hello":"world"},"digest":"'"$hex1"'"}' >"$T/b.json"
code=$(verify_post "$T/b.json" "$T/bad4.json")
nt_check "$code == 200" "not a receipt: HTTP $code"
expect "$T/bad4.json" FAILED FORMAT_FAILURE "not a receipt"

# Malformed requests: 400 with {"error","message","field"}.
bad_request() { # BODY FIELD|"" MSG
    printf '%s' "$1" >"$T/b.json"
    code=$(verify_post "$T/b.json" "$T/err.json")
    nt_check "$code == 400" "$3: HTTP $code: $(cat "$T/err.json")"
    jq -e 'has("error") and has("message")' "$T/err.json" >/dev/null || nt_fail "$3: body"
    [[ -z "$2" ]] || nt_check "$(jq -r .field "$T/err.json") == $2" "$3: field"
}
bad_request 'not json' "" "not JSON"
bad_request '' "" "empty body"
nt_check "$(jq -r .error "$T/err.json") == empty_body" "empty body: $(cat "$T/err.json")"
jq -e '.message | test("the body is empty; a JSON object is expected")' "$T/err.json" \
    >/dev/null || nt_fail "empty body: message $(jq -r .message "$T/err.json")"
bad_request '[1,2]' "" "not an object"
bad_request '{"digest":"'"$hex1"'"}' receipt "missing receipt"
bad_request '{"receipt":42,"digest":"'"$hex1"'"}' receipt "receipt a number"
jq -c '{receipt: .}' "$T/r0.json" >"$T/nodigest.json"
bad_request "$(cat "$T/nodigest.json")" digest "missing digest"
jq -c '{receipt: ., digest: "sha256:zz"}' "$T/r0.json" >"$T/x.json"
bad_request "$(cat "$T/x.json")" digest "digest not hex"
jq -c '{receipt: ., digest: "sha256:abcd"}' "$T/r0.json" >"$T/x.json"
bad_request "$(cat "$T/x.json")" digest "digest too short"
jq -c '{receipt: ., digest: "sha999:abcd"}' "$T/r0.json" >"$T/x.json"
bad_request "$(cat "$T/x.json")" digest "unknown algorithm"
jq -c --arg d "$hex1" '{receipt: ., digest: $d, trust: "mine"}' "$T/r0.json" >"$T/x.json"
bad_request "$(cat "$T/x.json")" trust "unknown member"

# A token whose embedded TSA certificate has a malformed validity (notBefore month 13, in the
# token and in the receipt's copy): FAILED / FORMAT_FAILURE, HTTP 200 and exit 1, not an
# internal error (HTTP 500, exit 4).  Issue 13 item 10.
cert_hex=$(jq -r '.certificates[0]' "$T/r0.json" | base64 -d | xxd -p | tr -d '\n')
tok_hex=$(jq -r .token "$T/r0.json" | base64 -d | xxd -p | tr -d '\n')
[[ "$tok_hex" == *"$cert_hex"* ]] || nt_fail "the token does not embed the TSA certificate"
# Validity ::= SEQUENCE { notBefore UTCTime (17 0d YYMMDDhhmmssZ), notAfter }: MM -> "13"
bad_cert=$(sed -E 's/170d(3[0-9]3[0-9])3[0-9]3[0-9]/170d\13133/' <<<"$cert_hex")
nt_check "\"$bad_cert\" != \"$cert_hex\"" "no UTCTime notBefore found in the certificate"
bad_tok=${tok_hex//$cert_hex/$bad_cert}
jq --arg t "$(xxd -r -p <<<"$bad_tok" | base64 -w0)" \
    --arg c "$(xxd -r -p <<<"$bad_cert" | base64 -w0)" \
    '.token = $t | .certificates[0] = $c' "$T/r0.json" >"$T/r0.badtime.json"
body_obj "$T/r0.badtime.json" "$hex1" "$T/b.json"
code=$(verify_post "$T/b.json" "$T/bad5.json")
nt_check "$code == 200" "malformed certificate validity: HTTP $code: $(head -c 300 "$T/bad5.json")"
expect "$T/bad5.json" FAILED FORMAT_FAILURE "malformed certificate validity"
nt_check "$(jq -r '.steps[] | select(.name == "signature") | .result' "$T/bad5.json") == FAILED" \
    "malformed certificate validity: the signature step did not fail"
grep -q "signature.bad_cert_validity" "$T/bad5.json" || nt_fail "no signature.bad_cert_validity detail"
run "$NOTARIUM" verify --digest "$hex1" --receipt "$T/r0.badtime.json" --trust "$CA" \
    --log-key "$VKEY" --quiet
nt_check "$RC -eq 1" "notarium verify of the malformed certificate validity: exit $RC, want 1"

# HTTP rules of the route.
code=$(nt_http GET "$NT_URL/v1/verify" "$T/err.json")
nt_check "$code == 405" "GET /v1/verify: HTTP $code"
body_obj "$T/r0.json" "$hex1" "$T/b.json"
code=$(nt_http POST "$NT_URL/v1/verify" "$T/err.json" -H 'Content-Type: text/plain' \
    --data-binary @"$T/b.json")
nt_check "$code == 415" "text/plain: HTTP $code"
head -c 70000 /dev/zero | tr '\0' ' ' >"$T/big.json"
code=$(verify_post "$T/big.json" "$T/err.json")
nt_check "$code == 413" "70 kB body: HTTP $code"
nt_http GET "$NT_URL/metrics" "$T/metrics.txt" >/dev/null
nt_stop
echo "verify_server_api: ok"
