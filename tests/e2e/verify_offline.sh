#!/usr/bin/env bash
# verify_offline.sh - the standalone verifier end to end, without the server:
# a genuine case minted by notarium-verify-fixture passes (exit 0) and its
# JSON and PDF reports (English and Chinese, read back with pdftotext) carry
# the digest, the leaf index and the indication; one changed byte fails
# (exit 1, HASH_FAILURE); a TSA certificate that expired after genTime still
# passes when the verifier runs two years in the future under faketime; a CRL
# revoking before genTime fails; a git mirror holding the checkpoint names its
# commit; a signed report verifies and its tampered twin does not; usage
# errors exit 3.  With --lang zh every step's detail lines are Chinese in the
# PDF while the JSON report stays byte-for-byte the same (codes, English).
# If `notarium` is built, `notarium verify` gives the same, PDF included
# (under ASan too: its LSan hook knows pango's font caches).
set -euo pipefail

: "${NT_BIN_DIR:?}" "${NT_E2E_TMP:?}"
V="$NT_BIN_DIR/notarium-verify"
F="$NT_BIN_DIR/notarium-verify-fixture"
T="$NT_E2E_TMP"
rm -rf "$T"
mkdir -p "$T"

fail() { echo "FAIL: $*" >&2; exit 1; }
# run CMD...: sets RC to the exit status without tripping set -e
run() { set +e; "$@"; RC=$?; set -e; }
jget() { jq -r "$2" "$1"; }

printf 'Contract 2026-117: the parties agree to everything written here.\n' >"$T/contract.txt"
now=$(date +%s)
gen=$((now - 86400))
# TSA certificate valid from genTime-1d for 3 days: it expires about two days from now.
"$F" --out "$T/case" --document "$T/contract.txt" --gen-time "$gen" --tsa-days 3 \
    --origin "notarium.test/e2e"
C="$T/case"
args=(--receipt "$C/receipt.json" --trust "$C/ca.pem" --log-key "$C/log.vkey")
digest=$(sha256sum "$T/contract.txt" | cut -d' ' -f1)

# 1. genuine: PASSED, reports in both languages
run "$V" --document "$T/contract.txt" "${args[@]}" --report-json "$T/ok.json" \
    --report-pdf "$T/ok-en.pdf" --quiet
[[ $RC -eq 0 ]] || fail "genuine case: exit $RC"
[[ $(jget "$T/ok.json" '.indication') == PASSED ]] || fail "genuine: indication"
[[ $(jget "$T/ok.json" '.ledger.leaf_index') == 5 ]] || fail "genuine: leaf index"
run "$V" --document "$T/contract.txt" "${args[@]}" --report-pdf "$T/ok-zh.pdf" --lang zh --quiet
[[ $RC -eq 0 ]] || fail "genuine zh: exit $RC"
pdftotext -layout "$T/ok-en.pdf" "$T/ok-en.txt"
pdftotext -layout "$T/ok-zh.pdf" "$T/ok-zh.txt"
for f in "$T/ok-en.txt" "$T/ok-zh.txt"; do
    tr -d ' \n' <"$f" | grep -q "$digest" || fail "$f: digest missing"
    grep -q "PASSED" "$f" || fail "$f: indication missing"
done
grep -Eq "Leaf index: +5" "$T/ok-en.txt" || fail "en: leaf index missing"
grep -Eq "叶子序号: *5" "$T/ok-zh.txt" || fail "zh: leaf index missing"
grep -q "通过" "$T/ok-zh.txt" || fail "zh: Chinese indication missing"
grep -q "What this report does not establish" "$T/ok-en.txt" || fail "en: limits missing"
# step details: Chinese in the zh PDF, English in the en PDF (twin)
grep -q "承诺了该令牌" "$T/ok-zh.txt" || fail "zh: ledger step detail not in Chinese"
grep -q "摘要与时间戳令牌的 messageImprint 一致" "$T/ok-zh.txt" || fail "zh: digest step detail not in Chinese"
grep -q "commits to this token" "$T/ok-zh.txt" && fail "zh: an English step detail remains"
grep -q "commits to this token" "$T/ok-en.txt" || fail "en: ledger step detail missing"
grep -q "承诺" "$T/ok-en.txt" && fail "en: Chinese in the English report"
# the JSON report does not depend on --lang: same bytes, codes beside the details
run "$V" --document "$T/contract.txt" "${args[@]}" --now "$now" --report-json "$T/lang-en.json" --quiet
run "$V" --document "$T/contract.txt" "${args[@]}" --now "$now" --report-json "$T/lang-zh.json" \
    --lang zh --quiet
cmp -s "$T/lang-en.json" "$T/lang-zh.json" || fail "the JSON report changes with --lang"
# "verify it yourself" repeats the inputs, not the outputs (--now, --lang, --report-*, --quiet)
want="notarium-verify --document $T/contract.txt --receipt $C/receipt.json --trust $C/ca.pem --log-key $C/log.vkey"
[[ $(jget "$T/lang-zh.json" '.verify_yourself') == "$want" ]] ||
    fail "verify_yourself: $(jget "$T/lang-zh.json" '.verify_yourself')"
[[ $(jget "$T/lang-zh.json" '.steps[5].detail_codes[0]') == ledger.leaf_ok ]] || fail "detail_codes"
[[ $(jget "$T/lang-zh.json" '[.steps[] | (.details | length) == (.detail_codes | length)] | all') == true ]] ||
    fail "one detail code per detail line"

# 2. one changed byte: FAILED HASH_FAILURE, exit 1; the PDF says so
sed 's/everything/everythinG/' "$T/contract.txt" >"$T/changed.txt"
run "$V" --document "$T/changed.txt" "${args[@]}" --report-json "$T/bad.json" \
    --report-pdf "$T/bad.pdf" --quiet
[[ $RC -eq 1 ]] || fail "changed byte: exit $RC"
[[ $(jget "$T/bad.json" '.subindication') == HASH_FAILURE ]] || fail "changed: subindication"
pdftotext "$T/bad.pdf" "$T/bad.txt"
grep -q "HASH_FAILURE" "$T/bad.txt" || fail "changed: PDF lacks HASH_FAILURE"

# 3. digest instead of the document; wrong digest
run "$V" --digest "sha256:$digest" "${args[@]}" --quiet
[[ $RC -eq 0 ]] || fail "--digest: exit $RC"
run "$V" --digest "sha256:$(printf '%064d' 0)" "${args[@]}" --quiet
[[ $RC -eq 1 ]] || fail "wrong --digest: exit $RC"

# 4. two years later the TSA certificate has expired; validity counts at genTime
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"
run faketime -f '+730d' "$V" --document "$T/contract.txt" "${args[@]}" --report-json "$T/late.json" --quiet
[[ $RC -eq 0 ]] || fail "expired after genTime: exit $RC"
year_now=$(date -u +%Y)
year_late=$(jget "$T/late.json" '.verification_time[:4]')
[[ $year_late -ge $((year_now + 1)) ]] || fail "faketime did not shift the verification time"
# twin: a certificate that expired before genTime fails
"$F" --out "$T/expired" --document "$T/contract.txt" --gen-time "$gen" --tsa-days 0 \
    --origin "notarium.test/e2e" >/dev/null
run "$V" --document "$T/contract.txt" --receipt "$T/expired/receipt.json" \
    --trust "$T/expired/ca.pem" --log-key "$T/expired/log.vkey" --report-json "$T/exp.json" --quiet
[[ $RC -eq 1 ]] || fail "expired at genTime: exit $RC"
[[ $(jget "$T/exp.json" '.subindication') == EXPIRED ]] || fail "expired: subindication"

# 5. revocation: revoked before genTime
"$F" --out "$T/rev" --document "$T/contract.txt" --gen-time "$gen" --revoke-at $((gen - 60)) \
    --origin "notarium.test/e2e" >/dev/null
run "$V" --document "$T/contract.txt" --receipt "$T/rev/receipt.json" --trust "$T/rev/ca.pem" \
    --log-key "$T/rev/log.vkey" --crl "$T/rev/crl.pem" --report-json "$T/rev.json" --quiet
[[ $RC -eq 1 ]] || fail "revoked: exit $RC"
[[ $(jget "$T/rev.json" '.subindication') == REVOKED ]] || fail "revoked: subindication"

# 6. mirror: a git repository whose history holds the checkpoint
g=(git -c user.name=e2e -c user.email=e2e@example.invalid -c init.defaultBranch=main)
"${g[@]}" init -q "$T/mirror"
printf 'unrelated\n' >"$T/mirror/checkpoint"
"${g[@]}" -C "$T/mirror" add checkpoint
"${g[@]}" -C "$T/mirror" commit -q -m "checkpoint: an unrelated note"
cp "$C/checkpoint" "$T/mirror/checkpoint"
"${g[@]}" -C "$T/mirror" add checkpoint
"${g[@]}" -C "$T/mirror" commit -q -m "checkpoint"
commit=$(git -C "$T/mirror" rev-parse HEAD)
run "$V" --document "$T/contract.txt" "${args[@]}" --mirror "$T/mirror" --report-json "$T/m.json" --quiet
[[ $RC -eq 0 ]] || fail "mirror: exit $RC"
[[ $(jget "$T/m.json" '.mirror.commit') == "$commit" ]] || fail "mirror: commit not named"
[[ $(jget "$T/m.json" '.inputs.network_used') == false ]] || fail "mirror: network used"
# twin: a mirror without it leaves the mirror step INDETERMINATE
"${g[@]}" init -q "$T/mirror2"
cp "$T/rev/checkpoint" "$T/mirror2/checkpoint"
"${g[@]}" -C "$T/mirror2" add checkpoint
"${g[@]}" -C "$T/mirror2" commit -q -m "checkpoint"
run "$V" --document "$T/contract.txt" "${args[@]}" --mirror "$T/mirror2" --report-json "$T/m2.json" --quiet
[[ $(jget "$T/m2.json" '.steps[6].result') == INDETERMINATE ]] || fail "mirror2: step"

# the same mirror named by a file:// URL is still read in place (no network)
run "$V" --document "$T/contract.txt" "${args[@]}" --mirror "file://$T/mirror" --report-json "$T/m3.json" --quiet
[[ $RC -eq 0 && $(jget "$T/m3.json" '.mirror.commit') == "$commit" ]] || fail "file:// mirror"

# a mirror holding only a later checkpoint: proven consistent from its level-0 tiles
"$F" --out "$T/lat" --document "$T/contract.txt" --gen-time "$gen" --later 300 \
    --origin "notarium.test/e2e" >/dev/null
cp -r "$T/lat/later" "$T/mirror3"
"${g[@]}" init -q "$T/mirror3"
"${g[@]}" -C "$T/mirror3" add -A
"${g[@]}" -C "$T/mirror3" commit -q -m "checkpoint 307"
lat=(--receipt "$T/lat/receipt.json" --trust "$T/lat/ca.pem" --log-key "$T/lat/log.vkey")
run "$V" --document "$T/contract.txt" "${lat[@]}" --mirror "$T/mirror3" --report-json "$T/m4.json" --quiet
[[ $RC -eq 0 ]] || fail "later mirror: exit $RC"
[[ $(jget "$T/m4.json" '.mirror.checkpoint_size') == 307 ]] || fail "later mirror: not proven"
# twin: the same mirror with one tile byte changed proves nothing
cp -r "$T/lat/later" "$T/mirror4"
printf 'x' | dd of="$T/mirror4/tile/0/000" bs=1 seek=100 conv=notrunc status=none
"${g[@]}" init -q "$T/mirror4"
"${g[@]}" -C "$T/mirror4" add -A
"${g[@]}" -C "$T/mirror4" commit -q -m "checkpoint 307, tampered tile"
run "$V" --document "$T/contract.txt" "${lat[@]}" --mirror "$T/mirror4" --report-json "$T/m5.json" --quiet
[[ $RC -eq 0 ]] || fail "tampered mirror: exit $RC (an uncorroborated checkpoint is not a failure)"
[[ $(jget "$T/m5.json" '.steps[6].result') == INDETERMINATE ]] || fail "tampered mirror: step"
# a later checkpoint, signed by the log key, whose tiles hash to it but do not extend the
# receipt's tree: proof that the log forked, so FAILED SPLIT_VIEW (not a mere INDETERMINATE)
"$F" --out "$T/fork" --document "$T/contract.txt" --gen-time "$gen" --later 300 --fork \
    --origin "notarium.test/e2e" >/dev/null
cp -r "$T/fork/later" "$T/mirror5"
"${g[@]}" init -q "$T/mirror5"
"${g[@]}" -C "$T/mirror5" add -A
"${g[@]}" -C "$T/mirror5" commit -q -m "checkpoint 307, forked"
fk=(--receipt "$T/fork/receipt.json" --trust "$T/fork/ca.pem" --log-key "$T/fork/log.vkey")
run "$V" --document "$T/contract.txt" "${fk[@]}" --mirror "$T/mirror5" --report-json "$T/m6.json" --quiet
[[ $RC -eq 1 ]] || fail "forked mirror: exit $RC"
[[ $(jget "$T/m6.json" '.subindication') == SPLIT_VIEW ]] || fail "forked mirror: subindication"
[[ $(jget "$T/m6.json" '.steps[6].detail_codes | index("mirror.fork")') != null ]] ||
    fail "forked mirror: detail code"

# 7. a signed report, and its tampered twin
run "$V" --document "$T/contract.txt" "${args[@]}" --report-json "$T/signed.json" \
    --sign-key "$C/tsa.key" --sign-cert "$C/tsa.pem" --quiet
[[ $RC -eq 0 && -s "$T/signed.json.p7s" ]] || fail "signing: exit $RC"
run "$V" report --report "$T/signed.json" --signature "$T/signed.json.p7s" --trust "$C/ca.pem"
[[ $RC -eq 0 ]] || fail "verify-report: exit $RC"
sed 's/PASSED/FAILED/' "$T/signed.json" >"$T/forged.json"
run "$V" report --report "$T/forged.json" --signature "$T/signed.json.p7s" --trust "$C/ca.pem"
[[ $RC -eq 1 ]] || fail "verify-report tampered: exit $RC"

# 8. usage errors
run "$V" "${args[@]}" 2>/dev/null
[[ $RC -eq 3 ]] || fail "no document: exit $RC"
run "$V" --document "$T/contract.txt" "${args[@]}" --lang fr 2>/dev/null
[[ $RC -eq 3 ]] || fail "bad --lang: exit $RC"

# 9. the standalone verifier links nothing of the server
if ldd "$V" | grep -Eq 'liblmdb|libmicrohttpd|libgit2'; then
    fail "notarium-verify links a server library"
fi

# 10. the same through `notarium verify`, when the tool is built
if [[ -n "${NOTARIUM:-}" && -x "${NOTARIUM:-}" ]]; then
    run "$NOTARIUM" verify --document "$T/changed.txt" "${args[@]}" --quiet
    [[ $RC -eq 1 ]] || fail "notarium verify changed: exit $RC"
    run "$NOTARIUM" verify --document "$T/contract.txt" "${args[@]}" --quiet
    [[ $RC -eq 0 ]] || fail "notarium verify: exit $RC"
    # the PDF through `notarium verify` (one run: PDFs are slow under ASan)
    run "$NOTARIUM" verify --document "$T/contract.txt" "${args[@]}" --report-pdf "$T/n-zh.pdf" \
        --lang zh --quiet
    [[ $RC -eq 0 ]] || fail "notarium verify --report-pdf --lang zh: exit $RC"
    pdftotext -layout "$T/n-zh.pdf" "$T/n-zh.txt"
    grep -Eq "叶子序号: *5" "$T/n-zh.txt" || fail "notarium zh PDF: leaf index missing"
    grep -q "承诺了该令牌" "$T/n-zh.txt" || fail "notarium zh PDF: step detail not in Chinese"
fi
echo "verify_offline: ok"
