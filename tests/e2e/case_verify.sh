#!/usr/bin/env bash
# case_verify.sh - issue 11 end to end through the real server: a two-party
# signing process through the case API (POST /v1/cases/<case>/events),
# exported (GET /v1/cases/<case>/bundle), verified offline by `notarium
# verify --bundle` to PASSED with the documents and a disclosure (the salt the
# server drew, returned once), and online by POST /v1/verify; then each
# tampering of the exported file gives its FAILED sub-indication: an event
# removed (CHAIN_GAP), two events swapped (CHAIN_ORDER), an event of another
# case spliced in (WRONG_CASE), a changed document (DOCUMENT_NOT_IN_CASE), a
# wrong disclosed value (DISCLOSURE_MISMATCH), a checkpoint not matching the
# log key (CHECKPOINT_SIGNATURE_FAILURE); an event after completion is refused
# by the server (409) and a bundle carrying an extra event after it anyway is
# FAILED (the verifier's own EVENT_AFTER_COMPLETION case is in
# tests/unit/verifier/case_test.c, built with the fixture); the preservation certificate of the sealed case is
# issued and checks with `notarium verify-report`.
#
# It uses the case API and tests/e2e/cases/lib.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/cases/lib.sh"
nt_setup

D="$T/data"
nt_start "$D" --log-level warn
KEY=$(cat "$D/demo-api-key")
CA="$D/pki/ca.pem"
VKEY="$D/pki/log.vkey"
run() { set +e; "$@"; RC=$?; set -e; }

echo "the contract" >"$T/contract.pdf"
echo "the contract, signed by both" >"$T/signed.pdf"
H0=$(nt_sha256 "$T/contract.pdf")
H2=$(nt_sha256 "$T/signed.pdf")
n=0
post() { # CASE KIND JSON-MEMBERS
    n=$((n + 1))
    local code
    code=$(case_post "$KEY" "$1" '{"event_key":"k-'$n'","kind":"'"$2"'"'"$3"'}' "$T/ev$n.json")
    nt_check "$code == 201" "event $n ($2): HTTP $code: $(head -c 300 "$T/ev$n.json")"
}
C="contract-2026:0042"
post "$C" identity.verified ',"attributes":{"name":{"value":"Zhang San"},"phone":{"value":"+86 138 0000 0000"}}'
SALT=$(jq -r .attributes.phone.salt "$T/ev1.json")
post "$C" document.uploaded ',"artifacts":[{"digest":"sha256:'$H0'","name":"contract.pdf"}]'
post "$C" document.signed ',"artifacts":[{"digest":"sha256:'$H0'","role":"signed"}]'
post "$C" identity.verified ',"attributes":{"name":{"value":"Li Si"},"ip":{"value":"192.0.2.7"}}'
post "$C" document.signed ',"artifacts":[{"digest":"sha256:'$H2'","role":"signed"}]'
post "$C" case.completed ''
post other-case document.uploaded ',"artifacts":[{"digest":"sha256:'$H0'"}]'
post other-case document.signed ',"artifacts":[{"digest":"sha256:'$H0'"}]'
# after completion: refused
code=$(case_post "$KEY" "$C" '{"event_key":"late","kind":"document.viewed"}' "$T/late.json")
nt_check "$code == 409" "event after completion: HTTP $code"

code=$(case_get "$KEY" "/v1/cases/$C/bundle" "$T/case.bundle")
nt_check "$code == 200" "bundle: HTTP $code"
code=$(case_get "$KEY" "/v1/cases/other-case/bundle" "$T/other.bundle")
nt_check "$code == 200" "other bundle: HTTP $code"
printf '{"disclosures": [{"seq": 1, "attribute": "phone", "value": "+86 138 0000 0000", "salt": "%s"}]}\n' \
    "$SALT" >"$T/disclose.json"
sed 's/0000 0000/0000 0001/' "$T/disclose.json" >"$T/disclose-wrong.json"

expect() { # BUNDLE EXIT SUB [args]
    local b=$1 rc=$2 sub=$3
    shift 3
    run "$NOTARIUM" verify --bundle "$b" --trust "$CA" --log-key "$VKEY" --report-json "$T/r.json" \
        --quiet "$@"
    nt_check "$RC -eq $rc" "$b $*: exit $RC, expected $rc ($(jq -r .subindication "$T/r.json"))"
    [[ $(jq -r '.subindication // ""' "$T/r.json") == "$sub" ]] ||
        nt_fail "$b: sub-indication $(jq -r .subindication "$T/r.json"), expected $sub"
}
expect "$T/case.bundle" 0 "" --document "$T/contract.pdf" --document "$T/signed.pdf" \
    --disclose "$T/disclose.json"
nt_check "$(jq -r .case.sealed "$T/r.json") == true" "not sealed"
[[ $(jq -r '.timeline[0].attributes[] | select(.attribute=="phone") | .value' "$T/r.json") == \
    "+86 138 0000 0000" ]] || nt_fail "disclosed phone not shown"
[[ $(jq -r '.timeline[0].attributes[] | select(.attribute=="name") | .value' "$T/r.json") == \
    null ]] || nt_fail "an undisclosed name shown"
# online, the same
jq -n --slurpfile b "$T/case.bundle" --slurpfile d "$T/disclose.json" --arg h "sha256:$H0" \
    '{bundle: $b[0], disclosures: $d[0], documents: [$h]}' >"$T/post.json"
code=$(nt_http POST "$NT_URL/v1/verify" "$T/online.json" -H 'Content-Type: application/json' \
    --data-binary @"$T/post.json")
nt_check "$code == 200" "POST /v1/verify: HTTP $code"
nt_check "$(jq -r .indication "$T/online.json") == PASSED" "online: $(jq -r .subindication "$T/online.json")"

jq 'del(.events[2])' "$T/case.bundle" >"$T/removed.bundle"
expect "$T/removed.bundle" 1 CHAIN_GAP
jq '.events[1] as $a | .events[1] = .events[2] | .events[2] = $a' "$T/case.bundle" >"$T/swapped.bundle"
expect "$T/swapped.bundle" 1 CHAIN_ORDER
jq --slurpfile o "$T/other.bundle" '.events[1] = $o[0].events[1]' "$T/case.bundle" >"$T/spliced.bundle"
expect "$T/spliced.bundle" 1 WRONG_CASE
echo "the contract, changed" >"$T/changed.pdf"
expect "$T/case.bundle" 1 DOCUMENT_NOT_IN_CASE --document "$T/changed.pdf"
expect "$T/case.bundle" 1 DISCLOSURE_MISMATCH --disclose "$T/disclose-wrong.json"
# an event after completion, carried in anyway: the other case's event appended
jq --slurpfile o "$T/other.bundle" '.events += [$o[0].events[1] | .seq = 7]' "$T/case.bundle" \
    >"$T/after.bundle"
run "$NOTARIUM" verify --bundle "$T/after.bundle" --trust "$CA" --log-key "$VKEY" --quiet
nt_check "$RC -eq 1" "event after completion: exit $RC"
# a checkpoint not by the log key: another log's
"$NT_BIN_DIR/notarium-verify-fixture" --out "$T/fx" --case --origin "$(head -n1 "$VKEY" | cut -d+ -f1)" \
    >/dev/null
run "$NOTARIUM" verify --bundle "$T/case.bundle" --trust "$CA" --log-key "$T/fx/log.vkey" \
    --report-json "$T/r.json" --quiet
nt_check "$RC -eq 1" "foreign log key: exit $RC"
nt_check "$(jq -r .subindication "$T/r.json") == CHECKPOINT_SIGNATURE_FAILURE" "foreign log key"

# the preservation certificate
"$NOTARIUM" case certificate --bundle "$T/case.bundle" --trust "$CA" --log-key "$VKEY" \
    --sign-key "$T/fx/tsa.key" --sign-cert "$T/fx/tsa.pem" --out "$T/cert.json" >/dev/null
run "$NOTARIUM" verify-report --report "$T/cert.json" --signature "$T/cert.json.p7s" \
    --trust "$T/fx/ca.pem"
nt_check "$RC -eq 0" "certificate: verify-report exit $RC"
nt_stop
echo "case_verify: ok"
