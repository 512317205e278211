#!/usr/bin/env bash
# case_api.sh - a whole two-party signing process through the case API (issue 11):
# the initiator's identity.verified with committed name, ID number and phone (the server
# draws one salt, the platform brings the others), document.uploaded, intent.confirmed,
# document.signed, document.sent, the counterparty's identity.verified, document.viewed,
# document.signed, document.stored, case.completed.  Then: GET /v1/cases/<case> lists
# the ten events; the bundle (GET .../bundle and `notarium case export` while the server
# runs) chains seq 1..10 with prev = the previous leaf hash, every token verifies with
# `openssl ts -verify` on SHA-256 of its body, every proof is against the bundle's one
# checkpoint; the commitments are those of docs/FORMATS.md (recomputed here) and no value
# appears anywhere (responses, bundle, ledger files, log); an event after case.completed is
# refused with 409 case_sealed and changes nothing; a retry with the same event key is one
# leaf (tree size unchanged) with the same answer, another request under that key is 409;
# `notarium ledger check` and the mirror's audit accept the kind 0x03 leaves.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/cases/lib.sh"
nt_setup

D="$T/data"
nt_start "$D" --log-level info
KEY=$(cat "$D/demo-api-key")
CA="$D/pki/ca.pem"
C="contract-2026:0001"

echo "the contract" >"$T/contract.pdf"
echo "the contract, signed by the initiator" >"$T/signed1.pdf"
echo "the contract, signed by both" >"$T/signed2.pdf"
H0=$(nt_sha256 "$T/contract.pdf")
H1=$(nt_sha256 "$T/signed1.pdf")
H2=$(nt_sha256 "$T/signed2.pdf")
NAME="Zhang San"
IDNO="110101199003070000"
PHONE="+86 138 0000 0000"
SALT_N=$(printf '11%.0s' {1..32})
SALT_P=$(printf '22%.0s' {1..32})
# commitment = SHA-256("notarium.attribute.v1" 0x00 name 0x00 salt value)
commit() { # NAME SALT_HEX VALUE
    (printf 'notarium.attribute.v1\0%s\0' "$1"; printf '%s' "$2" | xxd -r -p; printf '%s' "$3") |
        sha256sum | cut -d' ' -f1
}
C_ID=$(commit id_number "$SALT_P" "$IDNO") # a commitment the platform made itself

n=0
post() { # KIND JSON-MEMBERS [expected code]
    n=$((n + 1))
    local code
    code=$(case_post "$KEY" "$C" '{"event_key":"step-'$n'","kind":"'"$1"'"'"$2"'}' "$T/ev$n.json")
    nt_check "$code == ${3:-201}" "event $n ($1): HTTP $code: $(head -c 400 "$T/ev$n.json")"
    nt_check "$(jq .seq "$T/ev$n.json") == $n" "event $n: seq $(jq .seq "$T/ev$n.json")"
}
post identity.verified ',"attributes":{"name":{"value":"'"$NAME"'","salt":"'$SALT_N'"},"id_number":{"commitment":"'$C_ID'"},"phone":{"value":"'"$PHONE"'"}}'
# The server drew the phone's salt: returned once, and the commitment matches it.
SALT_SRV=$(jq -r .attributes.phone.salt "$T/ev1.json")
nt_check "${#SALT_SRV} == 64" "no server salt for phone: $(jq -c .attributes "$T/ev1.json")"
nt_check "\"$(jq -r .attributes.name.salt "$T/ev1.json")\" == null" "the client's salt echoed"
nt_check "$(jq -r .attributes.phone.commitment "$T/ev1.json") == $(commit phone "$SALT_SRV" "$PHONE")" \
    "phone commitment is not SHA-256(tag, name, salt, value)"
nt_check "$(jq -r .attributes.name.commitment "$T/ev1.json") == $(commit name "$SALT_N" "$NAME")" \
    "name commitment"
nt_check "$(jq -r .attributes.id_number.commitment "$T/ev1.json") == $C_ID" "id commitment"
post document.uploaded ',"artifacts":[{"digest":"sha256:'$H0'","name":"contract.pdf","role":"original"}]'
post intent.confirmed ',"attributes":{"otp_phone":{"value":"'"$PHONE"'","salt":"'$SALT_P'"}}'
post document.signed ',"artifacts":[{"digest":"sha256:'$H1'","role":"signed"}]'
post document.sent ',"artifacts":[{"digest":"sha256:'$H1'"}],"attributes":{"recipient":{"value":"Li Si"}}'
post identity.verified ',"attributes":{"name":{"value":"Li Si"},"ip":{"value":"192.0.2.7"}}'
post document.viewed ',"artifacts":[{"digest":"sha256:'$H1'"}]'
post document.signed ',"artifacts":[{"digest":"sha256:'$H2'","role":"signed"}]'
post document.stored ',"artifacts":[{"digest":"sha256:'$H2'","name":"signed.pdf"}]'
post case.completed ''
# Each 201 carries the receipt of its leaf and the leaf hash the next event chains to.
for i in $(seq 2 10); do
    prev=$(jq -r .leaf.hash "$T/ev$((i - 1)).json")
    body=$(jq -r .receipt.metadata "$T/ev$i.json" | base64 -d)
    nt_check "$(jq -r .prev <<<"$body") == $prev" "event $i: prev is not the leaf hash of $((i - 1))"
done

# After completion: 409 case_sealed, nothing appended.
size=$(nt_tree_size)
code=$(case_post "$KEY" "$C" '{"event_key":"late","kind":"document.viewed"}' "$T/late.json")
nt_check "$code == 409" "event after case.completed: HTTP $code"
nt_check "$(jq -r .error "$T/late.json") == case_sealed" "late: $(cat "$T/late.json")"
nt_check "$(nt_tree_size) == $size" "the refused event changed the tree"

# Idempotent retry: the same event key and request -> 200, the same event, no new leaf.
code=$(case_post "$KEY" "$C" '{"event_key":"step-4","kind":"document.signed","artifacts":[{"digest":"sha256:'$H1'","role":"signed"}]}' "$T/retry.json")
nt_check "$code == 200" "retry of step-4: HTTP $code: $(cat "$T/retry.json")"
nt_check "$(jq -c '{seq, leaf}' "$T/retry.json") == $(jq -c '{seq, leaf}' "$T/ev4.json")" \
    "the retry answered another event"
nt_check "$(nt_tree_size) == $size" "the retry added a leaf"
# The Idempotency-Key header is the same key.
code=$(case_post "$KEY" "$C" '{"kind":"document.signed","artifacts":[{"digest":"sha256:'$H1'","role":"signed"}]}' "$T/retry2.json" -H 'Idempotency-Key: step-4')
nt_check "$code == 200" "retry with Idempotency-Key: HTTP $code: $(cat "$T/retry2.json")"
# Another request under a used key: 409 event_key_reused.
code=$(case_post "$KEY" "$C" '{"event_key":"step-4","kind":"document.viewed"}' "$T/reuse.json")
nt_check "$code == 409" "reused key: HTTP $code"
nt_check "$(jq -r .error "$T/reuse.json") == event_key_reused" "reuse: $(cat "$T/reuse.json")"
nt_check "$(nt_tree_size) == $size" "the reused key added a leaf"

# The case as listed.
code=$(case_get "$KEY" "/v1/cases/$C" "$T/case.json")
nt_check "$code == 200" "GET case: HTTP $code"
got=$(jq -c '[.tenant, .case, .sealed, .event_count]' "$T/case.json")
[[ "$got" == "[\"demo\",\"$C\",true,10]" ]] || nt_fail "case: $got"
nt_check "$(jq -c '[.events[].kind]' "$T/case.json" | md5sum | cut -c1-8) == $(jq -nc '["identity.verified","document.uploaded","intent.confirmed","document.signed","document.sent","identity.verified","document.viewed","document.signed","document.stored","case.completed"]' | md5sum | cut -c1-8)" \
    "kinds: $(jq -c '[.events[].kind]' "$T/case.json")"
# genTime never decreases along the case.
jq -r '.events[].gen_time' "$T/case.json" >"$T/times"
sort -c "$T/times" || nt_fail "genTime decreases along the case"
# Paging: limit 4 from cursor 1, then 5..8, then 9..10.
code=$(case_get "$KEY" "/v1/cases/$C?limit=4" "$T/p1.json")
nt_check "$code == 200 && $(jq '.events | length' "$T/p1.json") == 4" "page 1"
nt_check "$(jq -r .next_cursor "$T/p1.json") == 5" "page 1 cursor $(jq -r .next_cursor "$T/p1.json")"
code=$(case_get "$KEY" "/v1/cases/$C?limit=4&cursor=9" "$T/p3.json")
[[ "$(jq -c '[.events[].seq]' "$T/p3.json")" == "[9,10]" ]] || nt_fail "page 3"
nt_check "\"$(jq -r .next_cursor "$T/p3.json")\" == null" "page 3 has a next cursor"

# The bundle from the API and from the CLI (server running).
code=$(curl -sS -o "$T/api.bundle" -D "$T/bundle.hdr" -w '%{http_code}' \
    -H "Authorization: Bearer $KEY" "$NT_URL/v1/cases/$C/bundle")
nt_check "$code == 200" "GET bundle: HTTP $code: $(head -c 300 "$T/api.bundle")"
grep -qi '^Content-Type: application/vnd.notarium.case-bundle+json' "$T/bundle.hdr" ||
    nt_fail "bundle content type: $(grep -i content-type "$T/bundle.hdr")"
"$NOTARIUM" case export --data "$D" --tenant demo --case "$C" --out "$T/cli.bundle" ||
    nt_fail "notarium case export"
for b in "$T/api.bundle" "$T/cli.bundle"; do
    got=$(jq -c '[.format, .version, .tenant, .case, .sealed]' "$b")
    [[ "$got" == "[\"notarium.case-bundle\",1,\"demo\",\"$C\",true]" ]] || nt_fail "$b: header $got"
    nt_check "$(case_chain_check "$b" "$CA") == 10" "$b: chain"
    size=$(jq -r .checkpoint "$b" | sed -n 2p)
    nt_check "$(jq "[.events[].proof.tree_size | select(. != $size)] | length" "$b") == 0" \
        "$b: a proof is not against the checkpoint"
    nt_check "$(jq '.certificates | length' "$b") -ge 2" "$b: certificates"
    [[ "$(tail -c 1 "$b" | od -An -tx1 | tr -d ' ')" == 0a ]] || nt_fail "$b: no final newline"
done
# The two exports differ only in exported_at.
nt_check "$(jq -S 'del(.exported_at)' "$T/api.bundle" | md5sum | cut -c1-32) == $(jq -S 'del(.exported_at)' "$T/cli.bundle" | md5sum | cut -c1-32)" \
    "the API and CLI bundles differ"
"$NOTARIUM" case show --data "$D" --tenant demo --case "$C" >"$T/show.txt" ||
    nt_fail "notarium case show"
grep -q "case.completed" "$T/show.txt" || nt_fail "case show: $(cat "$T/show.txt")"
if "$NOTARIUM" case show --data "$D" --tenant other --case "$C" >"$T/show2.txt" 2>&1; then
    nt_fail "case show of another tenant's case succeeded"
fi

# No value is kept or echoed anywhere: answers, bundle, the ledger's files, the log.
nt_stop
for v in "$NAME" "$IDNO" "$PHONE" "192.0.2.7" "Li Si" "$SALT_SRV"; do
    if grep -rqF -- "$v" "$D" "$T/api.bundle" "$T/case.json" "$T"/ev[2-9].json "$T/ev10.json" \
        "$T/retry.json" "$D.log"; then
        nt_fail "'$v' found in $(grep -rlF -- "$v" "$D" "$T/api.bundle" "$T/case.json" "$D.log" | head -3)"
    fi
done
# Kind 0x03 leaves pass the whole-ledger check and the mirror's audit (token signatures too).
"$NOTARIUM" ledger check --data "$D" >"$T/check.txt" 2>&1 || nt_fail "ledger check: $(tail -3 "$T/check.txt")"
"$NOTARIUM" audit --log-key "$D/pki/log.vkey" --trust "$CA" "$D/mirror.git" >"$T/audit.txt" 2>&1 ||
    nt_fail "audit of the mirror: $(tail -3 "$T/audit.txt")"
grep -q "audit: OK: tree size $size," "$T/audit.txt" || nt_fail "audit: $(tail -3 "$T/audit.txt")"
echo "PASS"
