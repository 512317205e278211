#!/usr/bin/env bash
# case_errors.sh - every refusal of the case API (docs/HTTP-API.md "Cases"), each with its
# status, its error code and the member it names, and none of them changing the tree or
# the case: bad case ids, unknown members, kinds, artifacts (digest, algorithm, name, role,
# count), attributes (name, shape, commitment, salt, value length, count), event keys
# (missing, malformed, body and header disagreeing), JSON and media type, methods, a body
# over max_body (413), paging parameters.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/cases/lib.sh"
nt_setup

D="$T/data"
nt_start "$D" --log-level warn
KEY=$(cat "$D/demo-api-key")
Z=$(printf '0%.0s' {1..64})
code=$(case_post "$KEY" c1 '{"event_key":"ok","kind":"document.uploaded"}' "$T/ok.json")
nt_check "$code == 201" "first event: HTTP $code"
size=$(nt_tree_size)

refuse() { # STATUS ERROR FIELD CASE JSON [curl args]
    local want="$1" err="$2" field="$3" c="$4" json="$5" code
    shift 5
    code=$(case_post "$KEY" "$c" "$json" "$T/e.json" "$@")
    nt_check "$code == $want" "$json: HTTP $code, expected $want: $(cat "$T/e.json")"
    nt_check "$(jq -r .error "$T/e.json") == $err" "$json: error $(jq -r .error "$T/e.json"), expected $err"
    if [[ -n "$field" ]]; then
        nt_check "\"$(jq -r .field "$T/e.json")\" == \"$field\"" "$json: field $(jq -r .field "$T/e.json"), expected $field"
    fi
}
long129=$(printf 'a%.0s' {1..129})
refuse 400 invalid_case case "$long129" '{"event_key":"k","kind":"document.viewed"}'
refuse 400 invalid_case case 'bad%20id' '{"event_key":"k","kind":"document.viewed"}'
refuse 400 unknown_member extra c1 '{"event_key":"k","kind":"document.viewed","extra":1}'
refuse 400 missing_member kind c1 '{"event_key":"k"}'
refuse 400 invalid_kind kind c1 '{"event_key":"k","kind":"document.eaten"}'
refuse 400 invalid_kind kind c1 '{"event_key":"k","kind":"x-"}'
refuse 400 invalid_kind kind c1 '{"event_key":"k","kind":"x-Upper"}'
refuse 400 invalid_kind kind c1 '{"event_key":"k","kind":7}'
refuse 400 invalid_artifacts artifacts c1 '{"event_key":"k","kind":"document.viewed","artifacts":{}}'
arts=$(for i in $(seq 17); do printf '{"digest":"sha256:%s"},' "$Z"; done)
refuse 400 too_many_artifacts artifacts c1 '{"event_key":"k","kind":"document.viewed","artifacts":['"${arts%,}"']}'
refuse 400 invalid_artifact 'artifacts[0]' c1 '{"event_key":"k","kind":"document.viewed","artifacts":["x"]}'
refuse 400 missing_member 'artifacts[0].digest' c1 '{"event_key":"k","kind":"document.viewed","artifacts":[{}]}'
refuse 400 unknown_member 'artifacts[0]' c1 '{"event_key":"k","kind":"document.viewed","artifacts":[{"digest":"sha256:'$Z'","size":1}]}'
refuse 400 invalid_digest_length 'artifacts[1].digest' c1 '{"event_key":"k","kind":"document.viewed","artifacts":[{"digest":"sha256:'$Z'"},{"digest":"sha256:00"}]}'
refuse 400 invalid_digest 'artifacts[0].digest' c1 '{"event_key":"k","kind":"document.viewed","artifacts":[{"digest":"sha256:xyz"}]}'
refuse 400 invalid_digest 'artifacts[0].digest' c1 '{"event_key":"k","kind":"document.viewed","artifacts":[{"digest":7}]}'
refuse 400 unknown_algorithm 'artifacts[0].digest' c1 '{"event_key":"k","kind":"document.viewed","artifacts":[{"digest":"whirlpool:'$Z'"}]}'
refuse 400 algorithm_not_accepted 'artifacts[0].digest' c1 '{"event_key":"k","kind":"document.viewed","artifacts":[{"digest":"sha1:'$(printf '0%.0s' {1..40})'"}]}'
refuse 400 invalid_name 'artifacts[0].name' c1 '{"event_key":"k","kind":"document.viewed","artifacts":[{"digest":"sha256:'$Z'","name":""}]}'
refuse 400 invalid_name 'artifacts[0].name' c1 '{"event_key":"k","kind":"document.viewed","artifacts":[{"digest":"sha256:'$Z'","name":"'$(printf 'n%.0s' {1..256})'"}]}'
refuse 400 invalid_role 'artifacts[0].role' c1 '{"event_key":"k","kind":"document.viewed","artifacts":[{"digest":"sha256:'$Z'","role":"Signed"}]}'
refuse 400 invalid_attributes attributes c1 '{"event_key":"k","kind":"document.viewed","attributes":[]}'
attrs=$(for i in $(seq 33); do printf '"a%d":{"commitment":"%s"},' "$i" "$Z"; done)
refuse 400 too_many_attributes attributes c1 '{"event_key":"k","kind":"document.viewed","attributes":{'"${attrs%,}"'}}'
refuse 400 invalid_attribute_name attributes c1 '{"event_key":"k","kind":"document.viewed","attributes":{"Phone":{"value":"1"}}}'
refuse 400 invalid_attribute_name attributes c1 '{"event_key":"k","kind":"document.viewed","attributes":{"1phone":{"value":"1"}}}'
refuse 400 invalid_attribute attributes.phone c1 '{"event_key":"k","kind":"document.viewed","attributes":{"phone":"+86"}}'
refuse 400 invalid_attribute attributes.phone c1 '{"event_key":"k","kind":"document.viewed","attributes":{"phone":{}}}'
refuse 400 invalid_attribute attributes.phone c1 '{"event_key":"k","kind":"document.viewed","attributes":{"phone":{"value":"1","commitment":"'$Z'"}}}'
refuse 400 unknown_member attributes.phone c1 '{"event_key":"k","kind":"document.viewed","attributes":{"phone":{"value":"1","note":"x"}}}'
refuse 400 invalid_commitment attributes.phone c1 '{"event_key":"k","kind":"document.viewed","attributes":{"phone":{"commitment":"abc"}}}'
refuse 400 invalid_salt attributes.phone c1 '{"event_key":"k","kind":"document.viewed","attributes":{"phone":{"value":"1","salt":"00"}}}'
refuse 400 invalid_value attributes.phone c1 '{"event_key":"k","kind":"document.viewed","attributes":{"phone":{"value":""}}}'
refuse 400 invalid_value attributes.phone c1 '{"event_key":"k","kind":"document.viewed","attributes":{"phone":{"value":5}}}'
refuse 400 value_too_long attributes.phone c1 '{"event_key":"k","kind":"document.viewed","attributes":{"phone":{"value":"'$(printf 'v%.0s' {1..4097})'"}}}'
refuse 400 missing_event_key event_key c1 '{"kind":"document.viewed"}'
refuse 400 invalid_event_key event_key c1 '{"event_key":"has space","kind":"document.viewed"}'
refuse 400 invalid_event_key event_key c1 '{"event_key":"'"$long129"'","kind":"document.viewed"}'
refuse 400 invalid_event_key Idempotency-Key c1 '{"kind":"document.viewed"}' -H 'Idempotency-Key: a/b'
refuse 400 event_key_conflict event_key c1 '{"event_key":"k1","kind":"document.viewed"}' -H 'Idempotency-Key: k2'
refuse 400 malformed_json "" c1 '{"event_key":'
refuse 400 empty_body "" c1 ''
refuse 400 malformed_json "" c1 '[1]'
refuse 400 malformed_json "" c1 '{"event_key":"k","event_key":"k2","kind":"document.viewed"}'
# A body over max_body (64 KiB by default): 413.
{ printf '{"event_key":"k","kind":"document.viewed","attributes":{"a":{"value":"'
  head -c 2000000 /dev/zero | tr '\0' 'v'; printf '"}}}'; } >"$T/big.json"
code=$(curl -sS -o "$T/e.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' --data-binary @"$T/big.json" "$NT_URL/v1/cases/c1/events")
nt_check "$code == 413 && $(jq -r .error "$T/e.json") == body_too_large" "2 MB body: HTTP $code"

# Media type.
code=$(curl -sS -o "$T/m.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: text/plain' -d '{"event_key":"k","kind":"document.viewed"}' "$NT_URL/v1/cases/c1/events")
nt_check "$code == 415 && $(jq -r .error "$T/m.json") == unsupported_media_type" "text/plain: HTTP $code"

# Methods.
code=$(curl -sS -o "$T/m.json" -D "$T/m.hdr" -w '%{http_code}' -H "Authorization: Bearer $KEY" "$NT_URL/v1/cases/c1/events")
nt_check "$code == 405" "GET events: HTTP $code"
grep -qi '^Allow: POST' "$T/m.hdr" || nt_fail "405 without Allow: POST"
code=$(curl -sS -o "$T/m.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d '{}' "$NT_URL/v1/cases/c1")
nt_check "$code == 405" "POST case: HTTP $code"
code=$(curl -sS -o "$T/m.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d '{}' "$NT_URL/v1/cases/c1/bundle")
nt_check "$code == 405" "POST bundle: HTTP $code"
code=$(case_get "$KEY" /v1/cases/c1/other "$T/m.json")
nt_check "$code == 404" "/v1/cases/c1/other: HTTP $code"

# Reads: bad case id, bad paging.
for q in "limit=0" "limit=1001" "limit=x" "cursor=0" "cursor=-1"; do
    code=$(case_get "$KEY" "/v1/cases/c1?$q" "$T/p.json")
    nt_check "$code == 400" "?$q: HTTP $code"
    nt_check "$(jq -r .error "$T/p.json") == invalid_parameter" "?$q: $(cat "$T/p.json")"
done
code=$(case_get "$KEY" "/v1/cases/$long129" "$T/p.json")
nt_check "$code == 400 && $(jq -r .error "$T/p.json") == invalid_case" "long id read: HTTP $code"
code=$(case_get "$KEY" "/v1/cases/$long129/bundle" "$T/p.json")
nt_check "$code == 400 && $(jq -r .error "$T/p.json") == invalid_case" "long id bundle: HTTP $code"

# Nothing of it reached the ledger or the case.
nt_check "$(nt_tree_size) == $size" "a refusal changed the tree"
code=$(case_get "$KEY" /v1/cases/c1 "$T/c1.json")
nt_check "$code == 200 && $(jq .event_count "$T/c1.json") == 1" "a refusal changed the case"
nt_stop
echo PASS
