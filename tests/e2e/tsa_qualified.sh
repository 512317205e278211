#!/usr/bin/env bash
# tsa_qualified.sh - the ETSI EN 319 422 qualified profile option
# (docs/KEYS.md): `tsa.qualified: true` refuses at start-up a TSA certificate
# without the qualified-TSU statement (esi4-qtstStatement-1, 0.4.0.19422.1.1,
# in qcStatements 1.3.6.1.5.5.7.1.3) with a clear line, and serves with one
# that has it (made here with `openssl x509 -extfile` and the extension's
# DER); `notarium pki check --qualified` says the same (exit 1 / 0; a
# malformed qcStatements is a defect too); the verifier's report says
# qualified_tsu true for a token of the qualified certificate and false for
# one of the plain certificate, in the JSON and in the PDF (en and zh), and
# only the qualified one lists "trusted list not checked" among the limits.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup
run() { set +e; "$@"; RC=$?; set -e; }

D="$T/data"
P="$D/pki"
"$NOTARIUM" pki init "$P" --key-type ec-p256 >/dev/null || nt_fail "pki init failed"
echo "qualified test contract" >"$T/doc.txt"
HEX=$(sha256sum "$T/doc.txt" | cut -d' ' -f1)

# A token of the plain certificate (tsa.qualified false: the default).
nt_start "$D"
nt_tsq "$T/plain.tsq" -data "$T/doc.txt" -sha256 -cert
code=$(nt_post_tsq "$T/plain.tsq" "$T/plain.tsr")
nt_check "$code == 200" "plain: HTTP $code"
nt_http GET "$NT_URL/v1/receipts?digest=sha256:$HEX" "$T/list1.json" >/dev/null
jq '.receipts[0]' "$T/list1.json" >"$T/plain.receipt.json"
nt_stop

# Declared qualified with the plain certificate: refused at start-up, with the reason.
nt_config_set "$D" '.tsa.qualified = true'
run "$NOTARIUM" serve --allow-root --demo --data "$D" --listen 127.0.0.1:0 >"$T/refused.log" 2>&1
nt_check "$RC -ne 0" "tsa.qualified with a plain certificate started"
grep -q "tsa.qualified is true but the TSA certificate has no ETSI EN 319 422 qualified-TSU statement" \
    "$T/refused.log" || nt_fail "no clear refusal line: $(tail -2 "$T/refused.log")"
run "$NOTARIUM" pki check --cert "$P/tsa.pem" --key "$P/tsa.key" --chain "$P/ca.pem" --qualified \
    >"$T/check-plain.out"
nt_check "$RC -eq 1" "pki check --qualified of a plain certificate: exit $RC"
grep -q "^defect: certificate has no ETSI EN 319 422 qualified-TSU statement" "$T/check-plain.out" ||
    nt_fail "pki check --qualified: $(cat "$T/check-plain.out")"
run "$NOTARIUM" pki check --cert "$P/tsa.pem" --key "$P/tsa.key" --chain "$P/ca.pem" >"$T/check-noq.out"
nt_check "$RC -eq 0" "pki check without --qualified of a plain certificate: exit $RC"

# Re-issue the TSA certificate with the statement: QCStatements ::= SEQUENCE OF
# QCStatement { statementId 0.4.0.19422.1.1 }, DER 30 0b 30 09 06 07 04 00 81 97 5e 01 01.
ext() { # file extra-line
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,nonRepudiation" \
        "extendedKeyUsage=critical,timeStamping" "$2" >"$1"
}
ext "$T/qc.cnf" "1.3.6.1.5.5.7.1.3=DER:30:0B:30:09:06:07:04:00:81:97:5E:01:01"
ext "$T/bad.cnf" "1.3.6.1.5.5.7.1.3=DER:30:03:02:01:05"
openssl x509 -x509toreq -in "$P/tsa.pem" -signkey "$P/tsa.key" -out "$T/tsa.csr" 2>/dev/null
for n in qc bad; do
    openssl x509 -req -in "$T/tsa.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" -days 365 -sha256 \
        -extfile "$T/$n.cnf" -out "$T/$n.pem" 2>/dev/null || nt_fail "openssl x509 -req ($n) failed"
done
run "$NOTARIUM" pki check --cert "$T/bad.pem" --key "$P/tsa.key" --chain "$P/ca.pem" --qualified \
    >"$T/check-bad.out"
nt_check "$RC -eq 1" "pki check --qualified of a malformed qcStatements: exit $RC"
grep -q "^defect: qcStatements: a QCStatement is not a SEQUENCE" "$T/check-bad.out" ||
    nt_fail "malformed qcStatements: $(cat "$T/check-bad.out")"
run "$NOTARIUM" pki check --cert "$T/qc.pem" --key "$P/tsa.key" --chain "$P/ca.pem" --qualified \
    >"$T/check-qc.out"
nt_check "$RC -eq 0" "pki check --qualified of the qualified certificate: exit $RC: $(cat "$T/check-qc.out")"
grep -q "^note: certificate carries the ETSI EN 319 422 qualified-TSU statement" "$T/check-qc.out" ||
    nt_fail "pki check --qualified: $(cat "$T/check-qc.out")"

cp "$T/qc.pem" "$P/tsa.pem"
nt_start "$D"
nt_tsq "$T/qc.tsq" -data "$T/doc.txt" -sha256 -cert
code=$(nt_post_tsq "$T/qc.tsq" "$T/qc.tsr")
nt_check "$code == 200" "qualified: HTTP $code"
nt_http GET "$NT_URL/v1/receipts?digest=sha256:$HEX" "$T/list2.json" >/dev/null
jq '.receipts[1]' "$T/list2.json" >"$T/qc.receipt.json"
nt_stop

for n in plain qc; do
    want=$([[ $n == qc ]] && echo true || echo false)
    run "$NOTARIUM" verify --document "$T/doc.txt" --receipt "$T/$n.receipt.json" --trust "$P/ca.pem" \
        --log-key "$P/log.vkey" --report-json "$T/$n.json" --report-pdf "$T/$n.pdf" --quiet
    nt_check "$RC -eq 0" "$n: notarium verify exit $RC: $(jq -c .steps "$T/$n.json" 2>/dev/null)"
    nt_check "\"$(jq -r .timestamp.qualified_tsu "$T/$n.json")\" == $want" "$n: qualified_tsu"
    limit=$(jq '[.not_established[] | select(test("EU trusted list"))] | length' "$T/$n.json")
    nt_check "$limit == $([[ $n == qc ]] && echo 1 || echo 0)" "$n: trusted-list limit listed $limit times"
    run "$NOTARIUM" verify --document "$T/doc.txt" --receipt "$T/$n.receipt.json" --trust "$P/ca.pem" \
        --log-key "$P/log.vkey" --report-pdf "$T/$n.zh.pdf" --lang zh --quiet
    pdftotext -layout "$T/$n.pdf" "$T/$n.txt"
    pdftotext -layout "$T/$n.zh.pdf" "$T/$n.zh.txt"
    en=$([[ $n == qc ]] && echo yes || echo no)
    zh=$([[ $n == qc ]] && echo 是 || echo 否)
    grep -Eq "Qualified TSU \(ETSI EN 319 422 statement in the certificate\): +$en" "$T/$n.txt" ||
        nt_fail "$n: the PDF has no 'Qualified TSU: $en' line"
    grep -Eq "合格时间戳单元（证书中的 ETSI EN 319 422 声明）: *$zh" "$T/$n.zh.txt" ||
        nt_fail "$n: the zh PDF has no qualified line '$zh': $(grep -n 合格 "$T/$n.zh.txt")"
done
echo "tsa_qualified: ok"
