#!/usr/bin/env bash
# case_tenants.sh - tenant isolation of the case API (issue 11): tenant A (the demo key,
# and a second key of tenant A) writes a case; a key of tenant B cannot read it, its
# bundle, or export it by the CLI under B, and learns nothing of its existence: every
# answer is byte for byte the 404 of a case that exists nowhere.  B posting to the same
# case id opens B's own case (seq 1, prev null), leaving A's untouched; A's second key
# continues A's chain.  Without a key or with a wrong one: 401 on every case route.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/cases/lib.sh"
nt_setup

D="$T/data"
nt_start "$D" --log-level warn
nt_stop
KEY_A=$(cat "$D/demo-api-key")
"$NOTARIUM" apikey new --id b-key --tenant tenant-b >"$T/kb.txt" 2>/dev/null || nt_fail "apikey b"
"$NOTARIUM" apikey new --id a-key-2 --tenant demo >"$T/ka2.txt" 2>/dev/null || nt_fail "apikey a2"
KEY_B=$(sed -n 1p "$T/kb.txt")
KEY_A2=$(sed -n 1p "$T/ka2.txt")
nt_config_set "$D" ".api_keys += [$(sed -n 2p "$T/kb.txt"), $(sed -n 2p "$T/ka2.txt")]"
nt_start "$D" --log-level warn

code=$(case_post "$KEY_A" secret-case '{"event_key":"e1","kind":"document.uploaded","artifacts":[{"digest":"sha256:'$(printf 'ab%.0s' {1..32})'"}]}' "$T/a1.json")
nt_check "$code == 201" "A: HTTP $code: $(cat "$T/a1.json")"

# B reading A's case, and a case that exists nowhere: the same bytes.
for path in /v1/cases/secret-case /v1/cases/secret-case/bundle; do
    other=${path/secret-case/no-such-case}
    c1=$(curl -sS -D "$T/h1" -o "$T/b_read.json" -w '%{http_code}' -H "Authorization: Bearer $KEY_B" "$NT_URL$path")
    c2=$(curl -sS -D "$T/h2" -o "$T/b_none.json" -w '%{http_code}' -H "Authorization: Bearer $KEY_B" "$NT_URL$other")
    c3=$(curl -sS -o "$T/a_none.json" -w '%{http_code}' -H "Authorization: Bearer $KEY_A" "$NT_URL$other")
    nt_check "$c1 == 404 && $c2 == 404 && $c3 == 404" "$path: B $c1, B absent $c2, A absent $c3"
    cmp -s "$T/b_read.json" "$T/b_none.json" || nt_fail "$path: B's 404 differs from absent"
    cmp -s "$T/b_read.json" "$T/a_none.json" || nt_fail "$path: B's 404 differs from A's absent"
    # the headers too, but for the date
    cmp -s <(grep -vi '^date:' "$T/h1") <(grep -vi '^date:' "$T/h2") || nt_fail "$path: headers differ"
    c4=$(case_get "$KEY_A2" "$path" "$T/a2.json")
    nt_check "$c4 == 200" "A's second key reading $path: HTTP $c4"
done
nt_check "$(jq -r .error "$T/b_read.json") == case_not_found" "404 body: $(cat "$T/b_read.json")"

# B's CLI export under its tenant: no such case, as for a case that does not exist.
if "$NOTARIUM" case export --data "$D" --tenant tenant-b --case secret-case --out "$T/x" 2>"$T/x.err"; then
    nt_fail "export of A's case under tenant-b succeeded"
fi
grep -q "no such case" "$T/x.err" || nt_fail "export under B: $(cat "$T/x.err")"

# B appending to the same case id opens B's own case: seq 1, prev null; A's case unchanged.
code=$(case_post "$KEY_B" secret-case '{"event_key":"e1","kind":"document.uploaded"}' "$T/b1.json")
nt_check "$code == 201" "B append: HTTP $code: $(cat "$T/b1.json")"
body=$(jq -r .receipt.metadata "$T/b1.json" | base64 -d)
nt_check "$(jq -r .tenant <<<"$body") == tenant-b && $(jq .seq <<<"$body") == 1 && $(jq .prev <<<"$body") == null" \
    "B's event: $body"
code=$(case_get "$KEY_A" /v1/cases/secret-case "$T/a_case.json")
nt_check "$code == 200 && $(jq .event_count "$T/a_case.json") == 1" "A's case changed"
# A's second key continues A's chain (seq 2, prev = A's first leaf).
code=$(case_post "$KEY_A2" secret-case '{"event_key":"e2","kind":"document.viewed"}' "$T/a2e.json")
nt_check "$code == 201 && $(jq .seq "$T/a2e.json") == 2" "A2 append: HTTP $code"
body=$(jq -r .receipt.metadata "$T/a2e.json" | base64 -d)
nt_check "$(jq -r .prev <<<"$body") == $(jq -r .leaf.hash "$T/a1.json")" "A2's prev"
# The same event key in B's case and A's case are different keys (no 409 across tenants).
nt_check "$(jq -c .leaf "$T/b1.json" | md5sum | cut -c1-8) != $(jq -c .leaf "$T/a1.json" | md5sum | cut -c1-8)" \
    "B's e1 answered with A's event"
# The receipts' metadata (the bodies) are the tenant's: B's key sees A's leaf without it.
code=$(case_get "$KEY_B" "/v1/receipt/$(jq .leaf.index "$T/a1.json")" "$T/b_rcpt.json")
nt_check "$code == 200 && $(jq -r .metadata_withheld "$T/b_rcpt.json") == true" \
    "B reads A's body through /v1/receipt: $(head -c 200 "$T/b_rcpt.json")"

# 401 without a key or with a wrong one, on every case route.
for path in /v1/cases/secret-case /v1/cases/secret-case/bundle; do
    code=$(curl -sS -o "$T/u.json" -w '%{http_code}' "$NT_URL$path")
    nt_check "$code == 401" "$path without a key: HTTP $code"
    code=$(curl -sS -o "$T/u.json" -w '%{http_code}' -H "Authorization: Bearer ${KEY_A}x" "$NT_URL$path")
    nt_check "$code == 401" "$path with a wrong key: HTTP $code"
done
code=$(curl -sS -o "$T/u.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -d '{"event_key":"x","kind":"document.viewed"}' "$NT_URL/v1/cases/secret-case/events")
nt_check "$code == 401" "POST without a key: HTTP $code"
code=$(case_get "$KEY_A" /v1/cases/secret-case "$T/a_case2.json")
nt_check "$(jq .event_count "$T/a_case2.json") == 2" "the refused requests changed A's case"
nt_stop
echo PASS
