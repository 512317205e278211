#!/usr/bin/env bash
# verify_case_cli.sh - `notarium-verify --bundle` end to end, without the
# server: bundles minted by `notarium-verify-fixture --case` exactly as the
# cases spec says.  A sealed two-party case PASSED with its two documents and
# a disclosure (JSON timeline, PDF in English and Chinese read back with
# pdftotext); then each tampering of the exported file edited with jq gives
# its indication and sub-indication and exit status: an event removed (1,
# CHAIN_GAP), two events swapped (CHAIN_ORDER), an event of another case
# spliced in (WRONG_CASE), a changed document (DOCUMENT_NOT_IN_CASE), a wrong
# disclosed value (DISCLOSURE_MISMATCH), an event after completion
# (EVENT_AFTER_COMPLETION), a checkpoint that is not the log key's
# (CHECKPOINT_SIGNATURE_FAILURE), a body that does not hash to its leaf
# (HASH_FAILURE), a malformed member (FORMAT_FAILURE, named); an unsealed
# case PASSED with its limit; a signed case report checks with
# `notarium-verify report`; usage errors exit 3.  `notarium verify --bundle`
# gives the same when the tool is built.
set -euo pipefail

: "${NT_BIN_DIR:?}" "${NT_E2E_TMP:?}"
V="$NT_BIN_DIR/notarium-verify"
F="$NT_BIN_DIR/notarium-verify-fixture"
T="$NT_E2E_TMP"
rm -rf "$T"
mkdir -p "$T"

fail() { echo "FAIL: $*" >&2; exit 1; }
run() { set +e; "$@"; RC=$?; set -e; }

"$F" --out "$T/c" --case --gen-time $(($(date +%s) - 86400)) --origin notarium.test/cases
C="$T/c"
anchors=(--trust "$C/ca.pem" --log-key "$C/log.vkey")

# expect BUNDLE EXIT INDICATION SUB [extra verify args...]
expect() {
    local bundle=$1 want_rc=$2 want_ind=$3 want_sub=$4
    shift 4
    run "$V" --bundle "$bundle" "${anchors[@]}" --report-json "$T/r.json" --quiet "$@"
    [[ $RC -eq $want_rc ]] || fail "$bundle $*: exit $RC, expected $want_rc"
    [[ $(jq -r .indication "$T/r.json") == "$want_ind" ]] || fail "$bundle: indication"
    [[ $(jq -r '.subindication // ""' "$T/r.json") == "$want_sub" ]] ||
        fail "$bundle: sub-indication $(jq -r .subindication "$T/r.json"), expected $want_sub"
}

# 1. genuine: PASSED with both documents and a disclosure
expect "$C/case.bundle" 0 PASSED "" --document "$C/contract.txt" --document "$C/signed.txt" \
    --disclose "$C/disclose.json"
cp "$T/r.json" "$T/ok.json"
[[ $(jq -r '.case.sealed' "$T/ok.json") == true ]] || fail "sealed"
[[ $(jq -r '.timeline | length' "$T/ok.json") == 6 ]] || fail "timeline length"
[[ $(jq -r '.timeline[2].attributes[] | select(.attribute=="phone") | .value' "$T/ok.json") == \
    "+86 138 0000 0000" ]] || fail "disclosed phone not in the timeline"
[[ $(jq -r '.timeline[2].attributes[] | select(.attribute=="name") | .disclosed' "$T/ok.json") == \
    false ]] || fail "an undisclosed attribute shown"
[[ $(jq -c '.inputs.documents[1].claimed_by' "$T/ok.json") == "[5]" ]] || fail "signed.txt claim"
for lang in en zh; do
    run "$V" --bundle "$C/case.bundle" "${anchors[@]}" --document "$C/contract.txt" \
        --disclose "$C/disclose.json" --report-pdf "$T/ok-$lang.pdf" --lang "$lang" --quiet
    [[ $RC -eq 0 ]] || fail "pdf $lang: exit $RC"
    pdftotext -layout "$T/ok-$lang.pdf" "$T/ok-$lang.txt"
    grep -q "case.completed" "$T/ok-$lang.txt" || fail "$lang: timeline missing"
    grep -q "+86 138 0000 0000" "$T/ok-$lang.txt" || fail "$lang: disclosed value missing"
done
grep -q "committed, not disclosed" "$T/ok-en.txt" || fail "en: undisclosed not marked"
grep -q "已承诺，未披露" "$T/ok-zh.txt" || fail "zh: undisclosed not marked"
grep -q "通过（PASSED）" "$T/ok-zh.txt" || fail "zh: indication"

# 2. an unsealed case: PASSED, with the limit
expect "$C/open.bundle" 0 PASSED ""
jq -e '.not_established[] | select(test("completeness is proven only up to the last event shown"))' \
    "$T/r.json" >/dev/null || fail "unsealed: limit missing"
run "$V" --bundle "$C/open.bundle" "${anchors[@]}" --report-pdf "$T/open-zh.pdf" --lang zh --quiet
pdftotext -layout "$T/open-zh.pdf" "$T/open-zh.txt"
grep -q "本案未封存：完整性仅证明至所示最后一个事件（seq 1）" "$T/open-zh.txt" ||
    fail "unsealed: the zh limit missing"

# 3. tamperings of the exported file
jq 'del(.events[2])' "$C/case.bundle" >"$T/removed.bundle"
expect "$T/removed.bundle" 1 FAILED CHAIN_GAP
jq '.events[1] as $a | .events[1] = .events[2] | .events[2] = $a' "$C/case.bundle" >"$T/swapped.bundle"
expect "$T/swapped.bundle" 1 FAILED CHAIN_ORDER
jq --slurpfile o "$C/other.bundle" '.events[2] = $o[0].events[1]' "$C/case.bundle" >"$T/spliced.bundle"
expect "$T/spliced.bundle" 1 FAILED WRONG_CASE
printf 'CONTRACT between Alice and Bob: 900 units at 5.00 each.\n' >"$T/changed.txt"
expect "$C/case.bundle" 1 FAILED DOCUMENT_NOT_IN_CASE --document "$T/changed.txt"
expect "$C/case.bundle" 1 FAILED DISCLOSURE_MISMATCH --disclose "$C/disclose-wrong.json"
expect "$C/after.bundle" 1 FAILED EVENT_AFTER_COMPLETION
"$F" --out "$T/other-log" --case --origin notarium.test/cases >/dev/null
run "$V" --bundle "$C/case.bundle" --trust "$C/ca.pem" --log-key "$T/other-log/log.vkey" \
    --report-json "$T/r.json" --quiet
[[ $RC -eq 1 && $(jq -r .subindication "$T/r.json") == CHECKPOINT_SIGNATURE_FAILURE ]] ||
    fail "foreign log key: exit $RC $(jq -r .subindication "$T/r.json")"
jq '.events[2].body = .events[1].body' "$C/case.bundle" >"$T/body.bundle"
expect "$T/body.bundle" 1 FAILED HASH_FAILURE
jq '.events[3].proof.hashes[1] = "AAAA"' "$C/case.bundle" >"$T/bad.bundle"
expect "$T/bad.bundle" 1 FAILED FORMAT_FAILURE
jq -e '.checks[0].details[0] | test("events\\[3\\]\\.proof\\.hashes\\[1\\]: not 32 bytes of base64")' \
    "$T/r.json" >/dev/null || fail "malformed member not named"

# 4. a signed case report, checked offline
run "$V" --bundle "$C/case.bundle" "${anchors[@]}" --report-json "$T/signed.json" \
    --sign-key "$C/tsa.key" --sign-cert "$C/tsa.pem" --quiet
[[ $RC -eq 0 ]] || fail "signed: exit $RC"
run "$V" report --report "$T/signed.json" --signature "$T/signed.json.p7s" --trust "$C/ca.pem"
[[ $RC -eq 0 ]] || fail "verify-report: exit $RC"
sed 's/"PASSED"/"FAILED"/' "$T/signed.json" >"$T/forged.json"
run "$V" report --report "$T/forged.json" --signature "$T/signed.json.p7s" --trust "$C/ca.pem" \
    >/dev/null
[[ $RC -eq 1 ]] || fail "verify-report forged: exit $RC"

# 5. the preservation certificate: issued for the sealed case, checked offline like a signed
# report (and its forged twin not); refused for an unsealed or a tampered case (exit 1, no file)
cert=(--trust "$C/ca.pem" --log-key "$C/log.vkey" --sign-key "$C/tsa.key" --sign-cert "$C/tsa.pem")
run "$V" certificate --bundle "$C/case.bundle" "${cert[@]}" --out "$T/cert.json" \
    --pdf "$T/cert.pdf" --lang zh >/dev/null
[[ $RC -eq 0 ]] || fail "certificate: exit $RC"
[[ $(jq -r .type "$T/cert.json") == notarium.preservation-certificate ]] || fail "certificate type"
[[ $(jq -r '.events | length' "$T/cert.json") == 6 ]] || fail "certificate events"
[[ $(jq -r '.documents[0].digest' "$T/cert.json") == "sha256:$(sha256sum "$C/contract.txt" |
    cut -d' ' -f1)" ]] || fail "certificate: contract digest"
[[ $(jq -r .ledger.checkpoint "$T/cert.json") == $(jq -r .checkpoint "$C/case.bundle") ]] ||
    fail "certificate: checkpoint"
run "$V" report --report "$T/cert.json" --signature "$T/cert.json.p7s" --trust "$C/ca.pem" >/dev/null
[[ $RC -eq 0 ]] || fail "certificate signature: exit $RC"
jq '.case = "C-9"' "$T/cert.json" >"$T/cert-forged.json"
run "$V" report --report "$T/cert-forged.json" --signature "$T/cert.json.p7s" --trust "$C/ca.pem" \
    >/dev/null
[[ $RC -eq 1 ]] || fail "forged certificate: exit $RC"
pdftotext -layout "$T/cert.pdf" "$T/cert.txt"
grep -q "存证证书" "$T/cert.txt" || fail "certificate pdf: title"
grep -q "case.completed" "$T/cert.txt" || fail "certificate pdf: timeline"
for b in "$C/open.bundle" "$T/removed.bundle"; do
    rm -f "$T/no.json"
    run "$V" certificate --bundle "$b" "${cert[@]}" --out "$T/no.json" 2>/dev/null
    [[ $RC -eq 1 && ! -e "$T/no.json" ]] || fail "certificate for $b: exit $RC"
done
run "$V" certificate --bundle "$C/case.bundle" --trust "$C/ca.pem" --log-key "$C/log.vkey" \
    --out "$T/x.json" 2>/dev/null
[[ $RC -eq 3 ]] || fail "certificate without a signer: exit $RC"

# 6. usage errors: a bundle with a receipt, a digest or a mirror; a malformed disclosures file
for extra in "--receipt x.json" "--digest sha256:00" "--mirror /nonexistent"; do
    # shellcheck disable=SC2086
    run "$V" --bundle "$C/case.bundle" "${anchors[@]}" $extra 2>/dev/null
    [[ $RC -eq 3 ]] || fail "--bundle with $extra: exit $RC"
done
run "$V" --document "$C/contract.txt" --disclose "$C/disclose.json" "${anchors[@]}" \
    --receipt x.json 2>/dev/null
[[ $RC -eq 3 ]] || fail "--disclose without --bundle: exit $RC"
echo '{"disclosures": [{"seq": 1}]}' >"$T/bad-disc.json"
run "$V" --bundle "$C/case.bundle" "${anchors[@]}" --disclose "$T/bad-disc.json" 2>"$T/err"
[[ $RC -eq 3 ]] || fail "malformed disclosures: exit $RC"
grep -q "disclosures\[0\]" "$T/err" || fail "malformed disclosures: member not named"

# 7. the same through `notarium verify` and `notarium case certificate`
if [[ -x "${NOTARIUM:-}" ]]; then
    run "$NOTARIUM" verify --bundle "$T/swapped.bundle" "${anchors[@]}" --quiet
    [[ $RC -eq 1 ]] || fail "notarium verify swapped: exit $RC"
    run "$NOTARIUM" verify --bundle "$C/case.bundle" "${anchors[@]}" --quiet
    [[ $RC -eq 0 ]] || fail "notarium verify: exit $RC"
    run "$NOTARIUM" case certificate --bundle "$C/case.bundle" "${cert[@]}" --out "$T/cert2.json" \
        >/dev/null
    [[ $RC -eq 0 ]] || fail "notarium case certificate: exit $RC"
fi
echo "verify_case_cli: ok"
