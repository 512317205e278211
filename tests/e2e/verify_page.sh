#!/usr/bin/env bash
# verify_page.sh - the verification page (docs/VERIFY-PAGE.md) in a real
# browser: Debian's headless chromium driven by python3-selenium
# (verify_page.py) against the real server on 127.0.0.1.  A 3 MB random
# document and its receipt give PASSED with the digest sha256sum prints; a
# changed document and a forged inclusion proof give FAILED; a signed,
# time-stamped report is VALID and an altered one INVALID; the Chinese page
# shows Chinese labels.  Then the server's request log proves the document
# never left the browser: no request body came near its size.  Also, with
# curl: the page's headers (CSP, no cookies), /v1/trust, POST
# /v1/verify?format=pdf, POST /v1/verify-report's 400s, and web.verify_page
# false switching the page off.  Screenshots land in $NT_E2E_TMP/*.png.
# chromium missing is a failure, not a skip: CI installs it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

PY=/usr/bin/python3 # Debian's python, where python3-selenium lives
command -v chromium >/dev/null || nt_fail "chromium is not installed (scripts/deps.sh)"
command -v chromedriver >/dev/null || nt_fail "chromedriver is not installed (chromium-driver)"
"$PY" -c 'import selenium' 2>/dev/null || nt_fail "python3-selenium is not installed"

D="$T/data"
F="$NT_BIN_DIR/notarium-verify-fixture"
# A report signer's PKI from the fixture; its root is the server's web.report_trust.
printf 'report signer PKI\n' >"$T/seed.txt"
"$F" --out "$T/case" --document "$T/seed.txt" --origin "notarium.test/e2e" >/dev/null
nt_start "$D" --log-level warn
nt_stop
nt_config_set "$D" '.web.report_trust = "'"$T/case/ca.pem"'"'
nt_start "$D" --log-level info
KEY=$(cat "$D/demo-api-key")
CA="$D/pki/ca.pem"
VKEY="$D/pki/log.vkey"

evidence() { # DOC OUT: record the document's digest, the 201 body (a receipt) in OUT
    local code
    code=$(nt_http POST "$NT_URL/v1/evidence" "$2" -H "Authorization: Bearer $KEY" \
        -H 'Content-Type: application/json' \
        -d '{"digest":"sha256:'"$(nt_sha256 "$1")"'","kind":"contract.signed"}')
    nt_check "$code == 201" "POST /v1/evidence: HTTP $code"
}
head -c 3000000 /dev/urandom >"$T/contract.bin"
cp "$T/contract.bin" "$T/contract-changed.bin"
printf '\x01' | dd of="$T/contract-changed.bin" bs=1 seek=1500000 conv=notrunc status=none
cmp -s "$T/contract.bin" "$T/contract-changed.bin" &&
    printf '\x02' | dd of="$T/contract-changed.bin" bs=1 seek=1500000 conv=notrunc status=none
printf 'Minutes of the hearing, 2 December.\n' >"$T/small.txt"
evidence "$T/contract.bin" "$T/created.json"
evidence "$T/small.txt" "$T/small-receipt.json"
echo "other" >"$T/other.txt"
evidence "$T/other.txt" "$T/other.json"
# The contract's receipt (its leaf follows the certificate leaves) against the latest
# checkpoint: a non-empty inclusion proof
L=$(jq -r .leaf.index "$T/created.json")
nt_check "$L == $(nt_cert_leaves)" "the first evidence record is leaf $L"
code=$(nt_http GET "$NT_URL/v1/receipt/$L" "$T/receipt.json")
nt_check "$code == 200" "GET /v1/receipt/$L: HTTP $code"
nt_check "$(jq '.proof.hashes | length' "$T/receipt.json") -ge 1" "leaf $L's proof is empty"
jq --arg h "$(head -c 32 /dev/zero | tr '\0' '\001' | base64 -w0)" '.proof.hashes[0] = $h' \
    "$T/receipt.json" >"$T/receipt-forged.json"

# A signed report, time-stamped by this server; and an altered copy.
"$NOTARIUM" verify --document "$T/contract.bin" --receipt "$T/receipt.json" --trust "$CA" \
    --log-key "$VKEY" --report-json "$T/report.json" --sign-key "$T/case/tsa.key" \
    --sign-cert "$T/case/tsa.pem" --tsa "$NT_URL/tsa" --quiet ||
    nt_fail "notarium verify --sign-key --tsa failed"
sed 's/"PASSED"/"FAILED"/' "$T/report.json" >"$T/report-altered.json"

# --- curl: headers, trust, PDF, error paths
code=$(curl -sS -D "$T/h.txt" -o "$T/page.html" -w '%{http_code}' "$NT_URL/verify")
nt_check "$code == 200" "GET /verify: HTTP $code"
grep -qi "^content-security-policy: default-src 'self'; script-src 'self'; style-src 'self'" \
    "$T/h.txt" || nt_fail "no strict CSP: $(cat "$T/h.txt")"
grep -qi '^x-content-type-options: nosniff' "$T/h.txt" || nt_fail "no nosniff"
grep -qi '^set-cookie' "$T/h.txt" && nt_fail "the page sets a cookie"
grep -qiE '<script>|<style|style=|onclick=|https?://' "$T/page.html" &&
    nt_fail "inline script/style or an external URL in verify.html"
code=$(nt_http GET "$NT_URL/" "$T/index.html")
nt_check "$code == 200" "GET /: HTTP $code"
grep -q 'href="/verify"' "$T/index.html" || nt_fail "/ does not link to /verify"
code=$(nt_http GET "$NT_URL/web/verify.html" "$T/x")
nt_check "$code == 404" "GET /web/verify.html: HTTP $code (pages only at / and /verify)"
code=$(nt_http GET "$NT_URL/web/nope.js" "$T/x")
nt_check "$code == 404" "GET /web/nope.js: HTTP $code"
code=$(nt_http POST "$NT_URL/verify" "$T/x")
nt_check "$code == 405" "POST /verify: HTTP $code"
code=$(nt_http GET "$NT_URL/v1/trust" "$T/trust.json")
nt_check "$code == 200" "GET /v1/trust: HTTP $code"
CA_SHA=$(openssl x509 -in "$CA" -outform DER | sha256sum | cut -d' ' -f1)
nt_check "$(jq -r '.tsa_roots[0].sha256' "$T/trust.json") == $CA_SHA" "trust: root fingerprint"
nt_check "\"$(jq -r .log_key.vkey "$T/trust.json")\" == \"$(head -n1 "$VKEY")\"" "trust: vkey"
nt_check "$(jq '.report_roots | length' "$T/trust.json") -eq 1" "trust: report roots"
jq -n --rawfile r "$T/receipt.json" --arg d "sha256:$(nt_sha256 "$T/contract.bin")" \
    '{receipt: $r, digest: $d}' >"$T/vbody.json"
for lang in en zh; do
    code=$(nt_http POST "$NT_URL/v1/verify?format=pdf&lang=$lang" "$T/r-$lang.pdf" \
        -H 'Content-Type: application/json' --data-binary @"$T/vbody.json")
    nt_check "$code == 200" "POST /v1/verify?format=pdf&lang=$lang: HTTP $code"
    nt_check "\"$(head -c5 "$T/r-$lang.pdf")\" == \"%PDF-\"" "format=pdf is not a PDF"
done
code=$(nt_http POST "$NT_URL/v1/verify?format=xml" "$T/x" -H 'Content-Type: application/json' \
    --data-binary @"$T/vbody.json")
nt_check "$code == 400" "format=xml: HTTP $code"
code=$(nt_http POST "$NT_URL/v1/verify?format=pdf&lang=fr" "$T/x" \
    -H 'Content-Type: application/json' --data-binary @"$T/vbody.json")
nt_check "$code == 400" "lang=fr: HTTP $code"
vr() { nt_http POST "$NT_URL/v1/verify-report" "$2" -H 'Content-Type: application/json' -d "$1"; }
sig64=$(base64 -w0 "$T/report.json.p7s")
jq -n --rawfile r "$T/report.json" --arg s "$sig64" '{report: $r, signature: $s}' >"$T/rbody.json"
code=$(nt_http POST "$NT_URL/v1/verify-report" "$T/vr.json" -H 'Content-Type: application/json' \
    --data-binary @"$T/rbody.json")
nt_check "$code == 200" "POST /v1/verify-report: HTTP $code"
nt_check "$(jq -r '.valid' "$T/vr.json") == true" "verify-report: $(cat "$T/vr.json")"
nt_check "$(jq -r '.timestamped' "$T/vr.json") == true" "verify-report: not time-stamped"
nt_check "$(jq -r '.report.indication' "$T/vr.json") == PASSED" "verify-report: conclusion"
code=$(vr '{"report":"{}","signature":"AAAA"}' "$T/x")
nt_check "$code == 200 && \$(jq -r .valid $T/x) == false" "a signature that is no CMS: HTTP $code"
code=$(vr '{"signature":"AAAA"}' "$T/x")
nt_check "$code == 400 && \$(jq -r .field $T/x) == report" "no report: HTTP $code"
code=$(vr '{"report":"{}","signature":"not base64!"}' "$T/x")
nt_check "$code == 400 && \$(jq -r .field $T/x) == signature" "bad base64: HTTP $code"
code=$(vr '{"report":"{}","signature":"AAAA","x":1}' "$T/x")
nt_check "$code == 400 && \$(jq -r .error $T/x) == unknown_member" "unknown member: HTTP $code"
code=$(vr '[1]' "$T/x")
nt_check "$code == 400" "not an object: HTTP $code"
code=$(nt_http GET "$NT_URL/v1/verify-report" "$T/x")
nt_check "$code == 405" "GET /v1/verify-report: HTTP $code"

# --- the browser
export NT_DOC="$T/contract.bin" NT_DOC_SHA256 NT_DOC_CHANGED="$T/contract-changed.bin"
export NT_DOC_CHANGED_SHA256 NT_RECEIPT="$T/receipt.json"
export NT_RECEIPT_FORGED="$T/receipt-forged.json" NT_SMALL="$T/small.txt"
export NT_SMALL_RECEIPT="$T/small-receipt.json" NT_REPORT="$T/report.json"
export NT_REPORT_SIG="$T/report.json.p7s" NT_REPORT_FORGED="$T/report-altered.json"
export NT_CA_SHA256="$CA_SHA" NT_VKEY
NT_DOC_SHA256=$(nt_sha256 "$T/contract.bin")
NT_DOC_CHANGED_SHA256=$(nt_sha256 "$T/contract-changed.bin")
NT_VKEY=$(head -n1 "$VKEY")
"$PY" "$(dirname "${BASH_SOURCE[0]}")/verify_page.py" "$NT_URL" "$T" >"$T/browser.txt" 2>&1 ||
    nt_fail "browser: $(tail -n 30 "$T/browser.txt")"
cat "$T/browser.txt"
for s in 01-empty 02-passed 03-passed-zh 04-changed 05-forged-proof 07-report-valid 09-zh-default; do
    nt_check "-s $T/$s.png" "no screenshot $s.png"
done

# --- the document never left the browser: every request body logged is small
doc_size=$(stat -c %s "$T/contract.bin")
receipt_size=$(stat -c %s "$T/receipt.json")
nverify=$(grep -c '"path":"/v1/verify"' "$NT_LOG" || true)
nt_check "$nverify -ge 5" "the server logged $nverify POST /v1/verify"
max_in=$(grep '"msg":"request"' "$NT_LOG" | jq -s 'map(.bytes_in) | max')
nt_check "$max_in -lt $((doc_size / 10))" "a request carried $max_in bytes (document $doc_size)"
max_verify=$(grep '"path":"/v1/verify"' "$NT_LOG" | jq -s 'map(.bytes_in) | max')
nt_check "$max_verify -lt $((2 * receipt_size + 4096))" \
    "a POST /v1/verify carried $max_verify bytes (receipt $receipt_size)"
# and what the page sent was the digest: the PASSED report names sha256sum's value
grep -q "\"path\":\"/v1/verify\",\"status\":200" "$NT_LOG" || nt_fail "no successful verify logged"

# --- web.verify_page false: the page is gone, POST / is still the RFC 3161 endpoint;
#     and a report_trust file that cannot be read is a 500 naming it, not a crash
nt_stop
nt_config_set "$D" '.web.verify_page = false | .web.report_trust = "no-such-roots.pem"'
nt_start "$D" --log-level warn
code=$(nt_http GET "$NT_URL/v1/trust" "$T/x")
nt_check "$code == 500" "unreadable report_trust: GET /v1/trust: HTTP $code"
grep -q 'no-such-roots.pem' "$T/x" || nt_fail "the 500 does not name the file: $(cat "$T/x")"
code=$(nt_http POST "$NT_URL/v1/verify-report" "$T/x" -H 'Content-Type: application/json' \
    --data-binary @"$T/rbody.json")
nt_check "$code == 500" "unreadable report_trust: POST /v1/verify-report: HTTP $code"
for p in / /verify /web/verify.js; do
    code=$(nt_http GET "$NT_URL$p" "$T/x")
    nt_check "$code == 404 || $code == 405" "page off: GET $p: HTTP $code"
done
nt_tsq "$T/q.tsq" -data "$T/small.txt" -sha256 -cert
code=$(nt_post_tsq "$T/q.tsq" "$T/q.tsr" "$NT_URL/")
nt_check "$code == 200 && \"\$(nt_reply_status $T/q.tsr)\" == Granted" "POST / with the page off"
nt_stop
echo "verify_page: ok"
