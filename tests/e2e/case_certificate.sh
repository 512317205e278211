#!/usr/bin/env bash
# case_certificate.sh - GET /v1/cases/<case>/certificate (issue 11) through the real server:
# without a "cases" signer it answers 501; with one (a key of mode 0644 is refused at start),
# a case built through the case API gets 409 case_not_sealed until case.completed, then the
# JSON certificate (signed with the configured key, time-stamped by this server) passes
# `notarium verify-report` offline, its time-stamp token is a new kind-0x01 leaf of the
# ledger (the tree grows by one, the leaf found by its digest via /v1/receipts), and the PDF
# comes in en and zh; another tenant's key gets the same 404 as a case that does not exist;
# a bad lang or format is 400, no key 401.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/cases/lib.sh"
nt_setup

D="$T/data"
nt_start "$D" --log-level warn
nt_stop
KEY=$(cat "$D/demo-api-key")
"$NOTARIUM" apikey new --id b-key --tenant tenant-b >"$T/kb.txt" 2>/dev/null || nt_fail "apikey b"
KEY_B=$(sed -n 1p "$T/kb.txt")
nt_config_set "$D" ".api_keys += [$(sed -n 2p "$T/kb.txt")]"
nt_start "$D" --log-level warn
CA="$D/pki/ca.pem"
run() { set +e; "$@"; RC=$?; set -e; }
cert_get() { # KEY QUERY OUT
    case_get "$1" "/v1/cases/$C/certificate$2" "$3"
}

n=0
post() { # KIND JSON-MEMBERS
    n=$((n + 1))
    local code
    code=$(case_post "$KEY" "$C" '{"event_key":"k-'$n'","kind":"'"$1"'"'"$2"'}' "$T/ev$n.json")
    nt_check "$code == 201" "event $n ($1): HTTP $code: $(head -c 300 "$T/ev$n.json")"
}
echo "the contract" >"$T/contract.pdf"
H0=$(nt_sha256 "$T/contract.pdf")
C="contract-2026:0007"
post document.uploaded ',"artifacts":[{"digest":"sha256:'$H0'","name":"contract.pdf"}]'
post document.signed ',"artifacts":[{"digest":"sha256:'$H0'","role":"signed"}]'

# not configured: 501, whatever the case
code=$(cert_get "$KEY" "" "$T/r.json")
nt_check "$code == 501" "no signer: HTTP $code: $(cat "$T/r.json")"
nt_check "$(jq -r .error "$T/r.json") == certificate_not_configured" "no signer: $(cat "$T/r.json")"
nt_stop

# the signer: the verifier fixture's key and certificate
"$NT_BIN_DIR/notarium-verify-fixture" --out "$T/fx" --case >/dev/null
cp "$T/fx/tsa.key" "$D/cert.key"
cp "$T/fx/tsa.pem" "$D/cert.pem"
refused() { # JQ-CASES WHAT: the start is refused with a line naming WHAT
    cp "$D/config.json" "$T/config.good"
    nt_config_set "$D" ".cases = $1"
    run timeout 60 "$NOTARIUM" serve --allow-root --data "$D" --listen 127.0.0.1:0 --demo \
        >"$T/refused.log" 2>&1
    nt_check "$RC -ne 0 && $RC -ne 124" "cases $1: started (exit $RC)"
    grep -q "$2" "$T/refused.log" || nt_fail "cases $1: $(tail -n 3 "$T/refused.log")"
    cp "$T/config.good" "$D/config.json"
}
refused '{"certificate_cert": "cert.pem"}' "certificate_cert and certificate_key go together"
refused '{"certificate_chain": "cert.pem"}' "certificate_chain: needs"
refused '{"certificate_cert": "cert.pem", "certificate_key": "cert.key", "x": 1}' "cases.x"
refused '{"certificate_cert": "pki/tsa.pem", "certificate_key": "cert.key"}' "is not the key of"
chmod 0644 "$D/cert.key"
refused '{"certificate_cert": "cert.pem", "certificate_key": "cert.key"}' \
    "cases.certificate_key: .*(mode 0644)"
chmod 0600 "$D/cert.key"
nt_config_set "$D" '.cases = {"certificate_cert": "cert.pem", "certificate_key": "cert.key"}'
nt_start "$D" --log-level warn

# bad parameters, no key
code=$(cert_get "$KEY" "?lang=fr" "$T/r.json")
nt_check "$code == 400 && \$(jq -r .error \"$T/r.json\") == invalid_lang" "lang=fr: HTTP $code"
code=$(cert_get "$KEY" "?format=xml" "$T/r.json")
nt_check "$code == 400 && \$(jq -r .error \"$T/r.json\") == invalid_format" "format=xml: HTTP $code"
code=$(curl -sS -o "$T/r.json" -w '%{http_code}' "$NT_URL/v1/cases/$C/certificate")
nt_check "$code == 401" "no key: HTTP $code"

# not sealed yet
code=$(cert_get "$KEY" "" "$T/r.json")
nt_check "$code == 409 && \$(jq -r .error \"$T/r.json\") == case_not_sealed" "open case: HTTP $code"
post case.completed ''

# another tenant, and a case that does not exist: the same 404
c1=$(cert_get "$KEY_B" "" "$T/b.json")
c2=$(case_get "$KEY_B" "/v1/cases/no-such-case/certificate" "$T/none.json")
nt_check "$c1 == 404 && $c2 == 404" "tenant B: HTTP $c1, absent $c2"
cmp -s "$T/b.json" "$T/none.json" || nt_fail "B's 404 differs from absent's"

# the JSON certificate: signed, time-stamped by this server, its token a new leaf
before=$(nt_tree_size)
code=$(cert_get "$KEY" "?format=json" "$T/c.json")
nt_check "$code == 200" "certificate: HTTP $code: $(head -c 300 "$T/c.json")"
after=$(nt_tree_size)
nt_check "$after -eq $((before + 1))" "tree size $before -> $after"
jq -j .certificate "$T/c.json" >"$T/cert.json"
jq -r .signature "$T/c.json" | base64 -d >"$T/cert.json.p7s"
nt_check "$(jq -r .case "$T/cert.json") == $C" "certificate case: $(head -c 300 "$T/cert.json")"
cat "$T/fx/ca.pem" "$CA" >"$T/roots.pem"
run "$NOTARIUM" verify-report --report "$T/cert.json" --signature "$T/cert.json.p7s" \
    --trust "$T/roots.pem" --require-timestamp
nt_check "$RC -eq 0" "verify-report: exit $RC"
# a changed byte fails
sed 's/contract-2026:0007/contract-2026:0008/' "$T/cert.json" >"$T/bad.json"
run "$NOTARIUM" verify-report --report "$T/bad.json" --signature "$T/cert.json.p7s" \
    --trust "$T/roots.pem"
nt_check "$RC -eq 1" "a changed certificate: exit $RC"
# the token's leaf: the next index, a kind-0x01 leaf whose token is the one in the signature
idx=$(jq -r .timestamp.leaf_index "$T/c.json")
nt_check "$idx -eq $before" "leaf index $idx, tree size before $before"
curl -sS "$NT_URL/v1/receipt/$idx" >"$T/leaf.json"
jq -r .leaf.data "$T/leaf.json" | base64 -d >"$T/leaf.bin"
[[ "$(head -c 4 "$T/leaf.bin" | od -An -tx1 | tr -d ' \n')" == "01010120" ]] ||
    nt_fail "leaf $idx is not a kind-0x01 SHA-256 leaf"
token_hex=$(jq -r .token "$T/leaf.json" | base64 -d | od -An -tx1 -v | tr -d ' \n')
p7s_hex=$(od -An -tx1 -v "$T/cert.json.p7s" | tr -d ' \n')
[[ -n "$token_hex" && "$p7s_hex" == *"$token_hex"* ]] ||
    nt_fail "the token of leaf $idx is not the one in the certificate's signature"
# and found by its digest
digest=$(head -c 36 "$T/leaf.bin" | tail -c 32 | od -An -tx1 -v | tr -d ' \n')
code=$(case_get "$KEY" "/v1/receipts?digest=sha256:$digest" "$T/rc.json")
nt_check "$code == 200" "receipts by the token's digest: HTTP $code"
nt_check "$(jq -r '[.receipts[].leaf.index] | join(",")' "$T/rc.json") == $idx" \
    "receipts by digest: $(head -c 300 "$T/rc.json")"

# the PDF, en and zh
for lang in en zh; do
    code=$(cert_get "$KEY" "?format=pdf&lang=$lang" "$T/c-$lang.pdf")
    nt_check "$code == 200" "pdf $lang: HTTP $code"
    [[ $(head -c 5 "$T/c-$lang.pdf") == "%PDF-" ]] || nt_fail "pdf $lang: not a PDF"
done
# the key made readable by others while running: refused, nothing issued
chmod 0644 "$D/cert.key"
before=$(nt_tree_size)
code=$(cert_get "$KEY" "" "$T/r.json")
nt_check "$code == 500" "a loose key mode: HTTP $code"
grep -q "mode 0644" "$T/r.json" || nt_fail "a loose key mode: $(cat "$T/r.json")"
nt_check "$(nt_tree_size) -eq $before" "a loose key mode: a leaf was appended"
chmod 0600 "$D/cert.key"
nt_stop

# an unsynchronised clock (not allowed): 503 time_not_available, no leaf
nt_config_set "$D" '.tsa.allow_unsynced_clock = false'
NOTARIUM_TEST_CLOCK_SYNC=unsynced nt_start "$D" --log-level warn
before=$(nt_tree_size)
code=$(cert_get "$KEY" "" "$T/r.json")
nt_check "$code == 503 && \$(jq -r .error \"$T/r.json\") == time_not_available" \
    "unsynchronised clock: HTTP $code: $(cat "$T/r.json")"
nt_check "$(nt_tree_size) -eq $before" "unsynchronised clock: a leaf was appended"
nt_stop
echo "case_certificate: ok"
