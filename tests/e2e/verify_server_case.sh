#!/usr/bin/env bash
# verify_server_case.sh - POST /v1/verify with an evidence bundle, on the real
# server.  The bundle here is minted by `notarium-verify-fixture --case` with
# keys that are not the server's (the server-side cases API builds genuine
# ones: tests/e2e/case_verify.sh), so the report is FAILED LOG_MISMATCH, as
# `notarium verify --bundle` offline says with the server's anchors; what is
# proven here is the route: the case report comes back (JSON, and PDF in en
# and zh) with the documents given as digests matched to the events that
# claim them and a disclosure checked against its commitment, whatever the
# anchors; the bundle as an object or as JSON text; a malformed bundle is a
# FAILED FORMAT_FAILURE report (200); malformed requests are 400 naming the
# field; a receipt body still gets the receipt report.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

D="$T/data"
nt_start "$D" --log-level warn
F="$NT_BIN_DIR/notarium-verify-fixture"
"$F" --out "$T/c" --case --gen-time $(($(date +%s) - 86400)) --origin notarium.test/cases
C="$T/c"
doc1="sha256:$(nt_sha256 "$C/contract.txt")"
doc2="sha256:$(nt_sha256 "$C/signed.txt")"

verify_post() { # BODY_FILE OUT [curl args]
    local body="$1" out="$2"
    shift 2
    nt_http POST "$NT_URL/v1/verify$VERIFY_QUERY" "$out" -H 'Content-Type: application/json' \
        --data-binary @"$body" "$@"
}
VERIFY_QUERY=""

# The bundle as an object, with two documents (digests) and a disclosure.
jq -n --slurpfile b "$C/case.bundle" --slurpfile d "$C/disclose.json" --arg d1 "$doc1" \
    --arg d2 "$doc2" '{bundle: $b[0], disclosures: $d[0], documents: [$d1, $d2]}' >"$T/b.json"
code=$(verify_post "$T/b.json" "$T/rep.json")
nt_check "$code == 200" "bundle: HTTP $code: $(head -c 300 "$T/rep.json")"
nt_check "$(jq -r .report_type "$T/rep.json") == case" "not a case report"
nt_check "$(jq -r .indication "$T/rep.json") == FAILED" "foreign bundle: indication"
nt_check "$(jq -r .subindication "$T/rep.json") == LOG_MISMATCH" "foreign bundle: sub-indication"
[[ $(jq -c '[.inputs.documents[].claimed_by]' "$T/rep.json") == '[[2,3],[5]]' ]] ||
    nt_fail "documents not matched to their events: $(jq -c '.inputs.documents' "$T/rep.json")"
[[ $(jq -r '.timeline[2].attributes[] | select(.attribute=="phone") | .value' "$T/rep.json") == \
    "+86 138 0000 0000" ]] || nt_fail "disclosure not in the timeline"
nt_check "$(jq -r '.checks[] | select(.name=="disclosures") | .result' "$T/rep.json") == PASSED" \
    "disclosure check"
# The server's anchors: the same report offline
run() { set +e; "$@"; RC=$?; set -e; }
run "$NOTARIUM" verify --bundle "$C/case.bundle" --trust "$D/pki/ca.pem" --log-key "$D/pki/log.vkey" \
    --report-json "$T/offline.json" --quiet
nt_check "$RC -eq 1" "offline with the server's anchors: exit $RC"
nt_check "$(jq -r .subindication "$T/offline.json") == LOG_MISMATCH" "offline sub-indication"

# A changed document and a wrong disclosed value: the case checks run online too.
jq -n --slurpfile b "$C/case.bundle" --slurpfile d "$C/disclose-wrong.json" \
    '{bundle: $b[0], disclosures: $d[0]}' >"$T/b.json"
code=$(verify_post "$T/b.json" "$T/rep.json")
nt_check "$code == 200" "wrong disclosure: HTTP $code"
nt_check "$(jq -r '.checks[] | select(.name=="disclosures") | .subindication' "$T/rep.json") == \
DISCLOSURE_MISMATCH" "wrong disclosure not found"
jq -n --slurpfile b "$C/case.bundle" '{bundle: $b[0], documents: ["sha256:'"$(printf '%064d' 0)"'"]}' \
    >"$T/b.json"
code=$(verify_post "$T/b.json" "$T/rep.json")
nt_check "$code == 200" "unknown document: HTTP $code"
nt_check "$(jq -r '.checks[] | select(.name=="documents") | .subindication' "$T/rep.json") == \
DOCUMENT_NOT_IN_CASE" "unknown document claimed"

# The bundle as JSON text: its exact bytes are hashed.
jq -n --rawfile b "$C/case.bundle" '{bundle: $b}' >"$T/b.json"
code=$(verify_post "$T/b.json" "$T/rep.json")
nt_check "$code == 200" "bundle as text: HTTP $code"
nt_check "$(jq -r .inputs.bundle.sha256 "$T/rep.json") == $(nt_sha256 "$C/case.bundle")" \
    "bundle hash"

# A malformed bundle: a FAILED report naming the member, not a 400.
jq -n --slurpfile b "$C/case.bundle" '{bundle: ($b[0] | del(.checkpoint))}' >"$T/b.json"
code=$(verify_post "$T/b.json" "$T/rep.json")
nt_check "$code == 200" "malformed bundle: HTTP $code"
nt_check "$(jq -r .subindication "$T/rep.json") == FORMAT_FAILURE" "malformed bundle"
jq -e '.checks[0].details[0] | test("checkpoint: missing")' "$T/rep.json" >/dev/null ||
    nt_fail "malformed bundle: member not named"

# PDF, both languages
jq -n --slurpfile b "$C/case.bundle" '{bundle: $b[0]}' >"$T/b.json"
for lang in en zh; do
    VERIFY_QUERY="?format=pdf&lang=$lang"
    code=$(verify_post "$T/b.json" "$T/rep.pdf")
    nt_check "$code == 200" "pdf $lang: HTTP $code"
    nt_check "\"$(head -c 5 "$T/rep.pdf")\" == \"%PDF-\"" "pdf $lang: not a PDF"
done

# Malformed requests: 400 naming the field.
bad_request() { # QUERY BODY FIELD ERROR MSG
    VERIFY_QUERY="$1"
    printf '%s' "$2" >"$T/b.json"
    code=$(verify_post "$T/b.json" "$T/err.json")
    nt_check "$code == 400" "$5: HTTP $code: $(cat "$T/err.json")"
    nt_check "$(jq -r .error "$T/err.json") == $4" "$5: error $(cat "$T/err.json")"
    [[ -z "$3" ]] || nt_check "\"$(jq -r .field "$T/err.json")\" == \"$3\"" "$5: field"
}
B=$(jq -c . "$C/case.bundle")
bad_request "" '{"bundle":'"$B"',"receipt":{}}' receipt unknown_member "unknown member"
bad_request "" '{"bundle":42}' bundle invalid_member "bundle a number"
bad_request "" '{"bundle":'"$B"',"disclosures":"x"}' disclosures invalid_member "disclosures text"
bad_request "" '{"bundle":'"$B"',"documents":"sha256:00"}' documents invalid_documents \
    "documents not an array"
bad_request "" '{"bundle":'"$B"',"documents":["sha256:zz"]}' "documents[0]" invalid_digest \
    "document not hex"
bad_request "" '{"bundle":'"$B"',"documents":[7]}' "documents[0]" invalid_digest "document number"
bad_request "" '{"bundle":'"$B"',"disclosures":{"disclosures":[{"seq":1}]}}' "" invalid_input \
    "malformed disclosures"
jq -e '.message | test("disclosures\\[0\\]")' "$T/err.json" >/dev/null ||
    nt_fail "malformed disclosures: member not named: $(cat "$T/err.json")"
bad_request "?format=xml" '{"bundle":'"$B"'}' format invalid_format "format"
bad_request "?format=pdf&lang=fr" '{"bundle":'"$B"'}' lang invalid_lang "lang"
VERIFY_QUERY=""

# A receipt body is still a receipt verification.
code=$(nt_http POST "$NT_URL/v1/verify" "$T/err.json" -H 'Content-Type: application/json' \
    -d '{"receipt":{"hello":"world"},"digest":"'"$doc1"'"}')
nt_check "$code == 200" "receipt body: HTTP $code"
nt_check "$(jq -r .report_type "$T/err.json") == null" "a receipt got a case report"
nt_check "$(jq -r .subindication "$T/err.json") == FORMAT_FAILURE" "receipt body"
nt_stop
echo "verify_server_case: ok"
