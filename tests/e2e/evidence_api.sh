#!/usr/bin/env bash
# evidence_api.sh - POST /v1/evidence with the demo API key: 201 with a
# receipt (Location header, leaf of kind evidence, the metadata bytes being
# the compact sorted JSON of the request's metadata, token verifiable with
# openssl ts -verify -digest); and every refusal with its status and the
# "field" at fault: 401 (no key, wrong key, wrong scheme) with
# WWW-Authenticate, 415, 413, and 400 for malformed JSON, unknown member,
# missing/invalid digest, unknown algorithm, wrong digest length, bad kind,
# metadata not an object or too large -- and nothing was written for any of
# them (tree size unchanged).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

D="$T/data"
nt_start "$D"
KEY=$(cat "$D/demo-api-key")
echo "evidence document" >"$T/doc.txt"
H=$(nt_sha256 "$T/doc.txt")
tree_size() { curl -sS "$NT_URL/v1/checkpoint" | sed -n 2p; }

post() { # out body [extra curl args...]
    local out="$1" body="$2"
    shift 2
    curl -sS -o "$out" -D "$out.hdr" -w '%{http_code}' -X POST "$@" --data-binary "$body" \
        "$NT_URL/v1/evidence"
}
auth=(-H "Authorization: Bearer $KEY" -H 'Content-Type: application/json')

size0=$(tree_size)
body='{"digest":"sha256:'$H'","kind":"contract.signed","metadata":{"z":1,"signer":"alice","a":[1,2]}}'
code=$(post "$T/ok.json" "$body" "${auth[@]}")
nt_check "$code == 201" "evidence: HTTP $code: $(cat "$T/ok.json")"
grep -qi '^Location: /v1/receipt/' "$T/ok.json.hdr" || nt_fail "201 without a Location header"
idx=$(jq .leaf.index "$T/ok.json")
meta=$(jq -r .metadata "$T/ok.json" | base64 -d)
nt_check "'$meta' == '{\"a\":[1,2],\"signer\":\"alice\",\"z\":1}'" "metadata bytes are '$meta'"
jq -r .token "$T/ok.json" | base64 -d >"$T/ev.tok"
openssl ts -verify -digest "$H" -token_in -in "$T/ev.tok" -CAfile "$D/pki/ca.pem" >/dev/null 2>&1 ||
    nt_fail "the evidence token does not verify for the digest"
# leaf bytes: version 1, kind 2 (evidence), alg 1 (sha256), 32-byte digest, label "contract.signed"
leafhex=$(jq -r .leaf.data "$T/ok.json" | base64 -d | od -An -tx1 -v | tr -d ' \n')
nt_check "\"${leafhex:0:8}\" == 01020120" "leaf header ${leafhex:0:8}"
nt_check "\"${leafhex:8:64}\" == $H" "leaf digest differs"
nt_check "$(tree_size) == $((size0 + 1))" "tree did not grow by one"
code=$(nt_http GET "$NT_URL/v1/receipt/$idx" "$T/again.json" -H "Authorization: Bearer $KEY")
nt_check "$code == 200" "receipt $idx: HTTP $code"
nt_check "\"$(jq -r .metadata "$T/again.json")\" == \"$(jq -r .metadata "$T/ok.json")\"" "stored metadata differs"
# Without metadata: no metadata member, and the same digest now has two receipts.
code=$(post "$T/ok2.json" '{"digest":"SHA256:'$H'","kind":"k"}' "${auth[@]}")
nt_check "$code == 201" "evidence without metadata: HTTP $code"
nt_check "\"$(jq -r .metadata "$T/ok2.json")\" == null" "metadata member without metadata"
nt_check "$(curl -sS "$NT_URL/v1/receipts?digest=sha256:$H" | jq '.receipts | length') == 2" \
    "two evidence records for one digest not both found"
size1=$(tree_size)

expect() { # name want-code want-error want-field out
    local code="$6"
    nt_check "$code == $2" "$1: HTTP $code, want $2: $(head -c 300 "$5")"
    nt_check "\"$(jq -r .error "$5")\" == $3" "$1: error '$(jq -r .error "$5")', want $3"
    if [[ -n "$4" ]]; then
        nt_check "\"$(jq -r .field "$5")\" == $4" "$1: field '$(jq -r .field "$5")', want $4"
    fi
}

code=$(post "$T/e.json" "$body" -H 'Content-Type: application/json')
expect "no key" 401 unauthorized "" "$T/e.json" "$code"
grep -qi '^WWW-Authenticate: Bearer' "$T/e.json.hdr" || nt_fail "401 without WWW-Authenticate"
code=$(post "$T/e.json" "$body" -H "Authorization: Bearer ${KEY}x" -H 'Content-Type: application/json')
expect "wrong key" 401 unauthorized "" "$T/e.json" "$code"
code=$(post "$T/e.json" "$body" -H "Authorization: Basic $KEY" -H 'Content-Type: application/json')
expect "wrong scheme" 401 unauthorized "" "$T/e.json" "$code"
code=$(post "$T/e.json" "$body" -H "Authorization: Bearer $KEY" -H 'Content-Type: text/plain')
expect "text/plain" 415 unsupported_media_type "" "$T/e.json" "$code"
code=$(post "$T/e.json" "$body" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json; charset=utf-8')
nt_check "$code == 201" "application/json; charset=utf-8: HTTP $code"
size1=$((size1 + 1))

bad() { # name body want-error want-field
    code=$(post "$T/e.json" "$2" "${auth[@]}")
    expect "$1" 400 "$3" "$4" "$T/e.json" "$code"
}
bad "empty body" '' empty_body ""
grep -q 'the body is empty; a JSON object is expected' "$T/e.json" ||
    nt_fail "empty body: $(cat "$T/e.json")"
bad "blank body" $' \n' empty_body ""
bad "malformed JSON" '{"digest":' malformed_json ""
grep -q 'line 1, column' "$T/e.json" || nt_fail "malformed JSON without a position: $(cat "$T/e.json")"
bad "not an object" '["sha256:'$H'"]' malformed_json ""
bad "unknown member" '{"digest":"sha256:'$H'","kind":"k","extra":1}' unknown_member extra
bad "missing digest" '{"kind":"k"}' missing_member digest
bad "digest not a string" '{"digest":5,"kind":"k"}' invalid_digest digest
bad "no algorithm" '{"digest":"'$H'","kind":"k"}' invalid_digest digest
bad "unknown algorithm" '{"digest":"whirlpool:'$H'","kind":"k"}' unknown_algorithm digest
bad "sha1 not accepted" '{"digest":"sha1:'${H:0:40}'","kind":"k"}' algorithm_not_accepted digest
bad "not hex" '{"digest":"sha256:zz'${H:2}'","kind":"k"}' invalid_digest digest
bad "short digest" '{"digest":"sha256:'${H:0:62}'","kind":"k"}' invalid_digest_length digest
bad "long digest" '{"digest":"sha384:'$H'","kind":"k"}' invalid_digest_length digest
bad "missing kind" '{"digest":"sha256:'$H'"}' missing_member kind
bad "empty kind" '{"digest":"sha256:'$H'","kind":""}' invalid_kind kind
bad "kind with space" '{"digest":"sha256:'$H'","kind":"a b"}' invalid_kind kind
bad "kind too long" '{"digest":"sha256:'$H'","kind":"'$(printf 'k%.0s' $(seq 1 65))'"}' invalid_kind kind
bad "metadata array" '{"digest":"sha256:'$H'","kind":"k","metadata":[1]}' invalid_metadata metadata
bad "metadata string" '{"digest":"sha256:'$H'","kind":"k","metadata":"x"}' invalid_metadata metadata
big=$(head -c 17000 /dev/zero | tr '\0' 'a')
bad "metadata too large" '{"digest":"sha256:'$H'","kind":"k","metadata":{"x":"'$big'"}}' metadata_too_large metadata
huge=$(head -c 70000 /dev/zero | tr '\0' 'a')
code=$(post "$T/e.json" '{"digest":"sha256:'$H'","kind":"k","metadata":{"x":"'$huge'"}}' "${auth[@]}")
expect "body over max_body" 413 body_too_large "" "$T/e.json" "$code"
code=$(curl -sS -o "$T/e.json" -w '%{http_code}' "${auth[@]}" "$NT_URL/v1/evidence")
expect "GET" 405 method_not_allowed "" "$T/e.json" "$code"

nt_check "$(tree_size) == $size1" "refused requests wrote leaves: size $size1 -> $(tree_size)"
nt_stop
echo "evidence_api: ok"
