#!/usr/bin/env bash
# evidence_metadata_access.sh - evidence metadata (personal data: an IBAN, an
# e-mail address) is returned only to the tenant of the API key that wrote it
# (issue 13 item 3; every key of that tenant).  Key A posts evidence with metadata; GET /v1/receipt/<i> and
# /v1/receipts?digest= without a key and with key B give the receipt with
# "metadata_withheld": true and no trace of the data; with key A the metadata
# is there.  A wrong key or scheme on a receipt read is 401, as for the
# evidence API.  The withheld receipt still verifies (PASSED) offline with
# `notarium verify` and online with POST /v1/verify; the owner survives a
# restart; key B sees its own metadata on the same digest, not A's.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

D="$T/data"
nt_start "$D" --log-level warn
nt_stop
KEY_A=$(cat "$D/demo-api-key")
"$NOTARIUM" apikey new --id tenant-b >"$T/keyb.txt" 2>/dev/null || nt_fail "apikey new"
KEY_B=$(sed -n 1p "$T/keyb.txt")
entry_b=$(sed -n 2p "$T/keyb.txt")
# A second key of the first key's tenant ("demo"): it shares that tenant's metadata.
"$NOTARIUM" apikey new --id demo-2 --tenant demo >"$T/keya2.txt" 2>/dev/null ||
    nt_fail "apikey new --tenant"
KEY_A2=$(sed -n 1p "$T/keya2.txt")
entry_a2=$(sed -n 2p "$T/keya2.txt")
nt_check "$(jq -r .tenant <<<"$entry_a2") == demo" "apikey new --tenant: $entry_a2"
if "$NOTARIUM" apikey new --id x --tenant 'bad tenant' >/dev/null 2>&1; then
    nt_fail "apikey new took a tenant with a space"
fi
nt_config_set "$D" ".api_keys += [$entry_b, $entry_a2]"
nt_start "$D" --log-level warn
CA="$D/pki/ca.pem"
VKEY="$D/pki/log.vkey"

echo "contract with personal data" >"$T/doc.txt"
H=$(nt_sha256 "$T/doc.txt")
IBAN="DE89370400440532013000"
MAIL="alice@example.test"
post() { # KEY META OUT
    local code
    code=$(nt_http POST "$NT_URL/v1/evidence" "$3" -H "Authorization: Bearer $1" \
        -H 'Content-Type: application/json' \
        -d '{"digest":"sha256:'"$H"'","kind":"contract.signed","metadata":'"$2"'}')
    nt_check "$code == 201" "POST /v1/evidence: HTTP $code: $(cat "$3")"
}
post "$KEY_A" '{"iban":"'$IBAN'","email":"'$MAIL'"}' "$T/created_a.json"
IDX=$(jq .leaf.index "$T/created_a.json")
# The writer's own 201 carries its metadata.
nt_check "$(jq -r .metadata "$T/created_a.json" | base64 -d | jq -r .iban) == $IBAN" \
    "the 201 to the writer lacks its metadata"

# Each reader: no key, key B -> withheld; key A -> the metadata.
read_as() { # NAME OUT [curl args]
    local name="$1" out="$2" code
    shift 2
    code=$(nt_http GET "$NT_URL/v1/receipt/$IDX" "$out" "$@")
    nt_check "$code == 200" "$name: GET /v1/receipt/$IDX: HTTP $code"
    code=$(nt_http GET "$NT_URL/v1/receipts?digest=sha256:$H" "$out.list" "$@")
    nt_check "$code == 200" "$name: GET /v1/receipts: HTTP $code"
}
withheld() { # NAME FILE
    nt_check "\"$(jq -r .metadata "$2")\" == null" "$1: metadata returned"
    nt_check "$(jq -r .metadata_withheld "$2") == true" "$1: no metadata_withheld"
    ! grep -q "$(printf '%s' "$IBAN" | base64 -w0 | head -c 12)" "$2" || nt_fail "$1: IBAN leaked"
}
read_as "no key" "$T/anon.json"
withheld "no key" "$T/anon.json"
jq '.receipts[0]' "$T/anon.json.list" >"$T/anon0.json"
withheld "no key (list)" "$T/anon0.json"
read_as "key B" "$T/b.json" -H "Authorization: Bearer $KEY_B"
withheld "key B" "$T/b.json"
jq '.receipts[0]' "$T/b.json.list" >"$T/b0.json"
withheld "key B (list)" "$T/b0.json"
read_as "key A" "$T/a.json" -H "Authorization: Bearer $KEY_A"
meta=$(jq -r .metadata "$T/a.json" | base64 -d)
nt_check "$(jq -r .iban <<<"$meta") == $IBAN && $(jq -r .email <<<"$meta") == $MAIL" \
    "key A: metadata '$meta'"
nt_check "\"$(jq -r .metadata_withheld "$T/a.json")\" == null" "key A: metadata_withheld set"
read_as "key A2 (same tenant)" "$T/a2same.json" -H "Authorization: Bearer $KEY_A2"
nt_check "$(jq -r .metadata "$T/a2same.json" | base64 -d | jq -r .iban) == $IBAN" \
    "a key of the same tenant does not see the tenant's metadata"
nt_check "$(jq -r '.receipts[0].metadata' "$T/a.json.list" | base64 -d | jq -r .iban) == $IBAN" \
    "key A (list): metadata missing"

# A presented key is always checked: wrong key or scheme -> 401, as for POST /v1/evidence.
for h in "Authorization: Bearer ${KEY_A}x" "Authorization: Basic $KEY_A" "Authorization: Bearer"; do
    for path in "/v1/receipt/$IDX" "/v1/receipts?digest=sha256:$H"; do
        code=$(curl -sS -o "$T/e.json" -D "$T/e.hdr" -w '%{http_code}' -H "$h" "$NT_URL$path")
        nt_check "$code == 401" "'$h' on $path: HTTP $code"
        nt_check "$(jq -r .error "$T/e.json") == unauthorized" "'$h': $(cat "$T/e.json")"
        grep -qi '^WWW-Authenticate: Bearer' "$T/e.hdr" || nt_fail "401 without WWW-Authenticate"
    done
done

# The withheld receipt still proves the token and the inclusion.
set +e
"$NOTARIUM" verify --digest "sha256:$H" --receipt "$T/anon.json" --trust "$CA" \
    --log-key "$VKEY" --report-json "$T/rep_offline.json" --quiet
rc=$?
set -e
nt_check "$rc -eq 0" "notarium verify of the withheld receipt: exit $rc"
nt_check "$(jq -r .indication "$T/rep_offline.json") == PASSED" "offline: not PASSED"
grep -q "withholds the evidence metadata" "$T/rep_offline.json" ||
    nt_fail "the report does not say the metadata was withheld"
jq -n --slurpfile r "$T/anon.json" --arg d "sha256:$H" '{receipt: $r[0], digest: $d}' \
    >"$T/vbody.json"
code=$(nt_http POST "$NT_URL/v1/verify" "$T/rep_online.json" -H 'Content-Type: application/json' \
    --data-binary @"$T/vbody.json")
nt_check "$code == 200" "POST /v1/verify: HTTP $code"
nt_check "$(jq -r .indication "$T/rep_online.json") == PASSED" \
    "online: $(jq -r '.indication + " " + (.subindication // "")' "$T/rep_online.json")"
# Twin: the writer's receipt with the metadata altered fails.
jq --arg m "$(printf '{"iban":"X"}' | base64 -w0)" '.metadata = $m' "$T/a.json" >"$T/forged.json"
set +e
"$NOTARIUM" verify --digest "sha256:$H" --receipt "$T/forged.json" --trust "$CA" \
    --log-key "$VKEY" --quiet
rc=$?
set -e
nt_check "$rc -eq 1" "altered metadata: exit $rc, expected 1 (FAILED)"

# Key B writes on the same digest: each key sees its own metadata only.
post "$KEY_B" '{"note":"tenant b"}' "$T/created_b.json"
for who in A B; do
    key=KEY_$who
    code=$(nt_http GET "$NT_URL/v1/receipts?digest=sha256:$H" "$T/list_$who.json" \
        -H "Authorization: Bearer ${!key}")
    nt_check "$code == 200" "list as $who: HTTP $code"
    nt_check "$(jq '.receipts | length' "$T/list_$who.json") == 2" "list as $who: not 2"
    nt_check "$(jq '[.receipts[] | select(.metadata)] | length' "$T/list_$who.json") == 1" \
        "key $who sees $(jq '[.receipts[] | select(.metadata)] | length' "$T/list_$who.json") metadata"
    nt_check "$(jq '[.receipts[] | select(.metadata_withheld)] | length' "$T/list_$who.json") == 1" \
        "key $who: the other key's metadata is not withheld"
done
nt_check "\"$(jq -r '.receipts[] | select(.metadata) | .metadata' "$T/list_B.json" | base64 -d | jq -r .note)\" == 'tenant b'" \
    "key B does not see its own metadata"

# The owner is durable: after a restart key A still reads it, nobody else does.
nt_stop
nt_start "$D" --log-level warn
code=$(nt_http GET "$NT_URL/v1/receipt/$IDX" "$T/a2.json" -H "Authorization: Bearer $KEY_A")
nt_check "$code == 200" "after restart: HTTP $code"
nt_check "$(jq -r .metadata "$T/a2.json" | base64 -d | jq -r .iban) == $IBAN" \
    "after restart: key A lost its metadata"
code=$(nt_http GET "$NT_URL/v1/receipt/$IDX" "$T/anon2.json")
withheld "after restart, no key" "$T/anon2.json"
nt_stop
echo "evidence_metadata_access: ok"
