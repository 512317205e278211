#!/usr/bin/env bash
# verify_report_tsa.sh - a signed certification report time-stamped by our
# own server (CAdES-T / RFC 3161 Appendix A): `notarium verify --sign-key
# --sign-cert --tsa URL` against the demo server started with lib.sh, then
# `notarium verify-report` accepts the signature and its time-stamp against
# the report signer's and the TSA's roots, and `openssl ts -verify` agrees
# independently that the token covers the hash of the signature value.
# Twins: the report altered, either root missing, no time-stamp under
# --require-timestamp, an ftp:// or unreachable TSA, a TSA path that is not
# the RFC 3161 endpoint.  The time-stamp client is libcurl: an https:// TSA
# (TLS terminated by socat in front of the same server, with a certificate the
# test makes) works with --tsa-ca and is refused without it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

V="$NT_BIN_DIR/notarium-verify"
F="$NT_BIN_DIR/notarium-verify-fixture"
run() { set +e; "$@" >"$T/out.txt" 2>"$T/err.txt"; RC=$?; set -e; }

D="$T/data"
nt_start "$D"
TSA_ROOT="$D/pki/ca.pem"
nt_check "-s $TSA_ROOT" "demo data lacks pki/ca.pem"

# A genuine case (PKI, receipt) from the fixture; its TSA key signs the report.
printf 'Contract 2026-204: delivery of 40 crates.\n' >"$T/contract.txt"
"$F" --out "$T/case" --document "$T/contract.txt" --origin "notarium.test/e2e" >/dev/null
C="$T/case"
args=(--document "$T/contract.txt" --receipt "$C/receipt.json" --trust "$C/ca.pem"
      --log-key "$C/log.vkey")
cat "$C/ca.pem" "$TSA_ROOT" >"$T/both.pem"

# 1. sign and time-stamp the report at the demo server
run "$NOTARIUM" verify "${args[@]}" --report-json "$T/r.json" --sign-key "$C/tsa.key" \
    --sign-cert "$C/tsa.pem" --tsa "$NT_URL/tsa" --quiet
nt_check "$RC -eq 0" "verify --tsa: exit $RC: $(cat "$T/err.txt")"
nt_check "-s $T/r.json.p7s" "no signature written"
run "$NOTARIUM" verify-report --report "$T/r.json" --signature "$T/r.json.p7s" \
    --trust "$T/both.pem" --require-timestamp
nt_check "$RC -eq 0" "verify-report: exit $RC: $(cat "$T/out.txt" "$T/err.txt")"
grep -q '^TIME-STAMPED: .* by .*Notarium Demo TSA' "$T/out.txt" ||
    nt_fail "verify-report does not name the time-stamp: $(cat "$T/out.txt")"
# the standalone verifier agrees
run "$V" report --report "$T/r.json" --signature "$T/r.json.p7s" --trust "$T/both.pem"
nt_check "$RC -eq 0" "notarium-verify report: exit $RC"

# 2. independently: the token is the unsigned attribute id-aa-timeStampToken and its
#    imprint is SHA-256 of the SignerInfo's signature value (openssl ts -verify)
asn=$(openssl asn1parse -inform DER -in "$T/r.json.p7s" -i)
sigval=$(grep -B3 'id-smime-aa-timeStampToken' <<<"$asn" | grep 'OCTET STRING' |
    sed 's/.*HEX DUMP\]://')
nt_check "-n $sigval" "no signature value before the time-stamp attribute"
imprint=$(xxd -r -p <<<"$sigval" | sha256sum | cut -d' ' -f1)
tok=$(grep -A2 'id-smime-aa-timeStampToken' <<<"$asn" | sed -n 3p)
off=$(sed -E 's/^ *([0-9]+):.*/\1/' <<<"$tok")
hl=$(sed -E 's/.*hl= *([0-9]+).*/\1/' <<<"$tok")
len=$(sed -E 's/.* l= *([0-9]+).*/\1/' <<<"$tok")
dd if="$T/r.json.p7s" of="$T/token.der" bs=1 skip="$off" count=$((hl + len)) status=none
openssl ts -verify -digest "$imprint" -token_in -in "$T/token.der" -CAfile "$TSA_ROOT" \
    >"$T/ossl.txt" 2>&1 || nt_fail "openssl ts -verify: $(cat "$T/ossl.txt")"
# twin: another imprint
openssl ts -verify -digest "$(printf '%064d' 0)" -token_in -in "$T/token.der" \
    -CAfile "$TSA_ROOT" >/dev/null 2>&1 && nt_fail "openssl accepted the token for another imprint"

# 3. twins of the check
sed 's/"PASSED"/"FAILED"/' "$T/r.json" >"$T/forged.json"
run "$NOTARIUM" verify-report --report "$T/forged.json" --signature "$T/r.json.p7s" \
    --trust "$T/both.pem"
nt_check "$RC -eq 1" "altered report: exit $RC"
run "$NOTARIUM" verify-report --report "$T/r.json" --signature "$T/r.json.p7s" --trust "$C/ca.pem"
nt_check "$RC -eq 1" "without the TSA's root: exit $RC"
grep -q 'time-stamp' "$T/out.txt" || nt_fail "without the TSA's root: $(cat "$T/out.txt")"
run "$NOTARIUM" verify-report --report "$T/r.json" --signature "$T/r.json.p7s" --trust "$TSA_ROOT"
nt_check "$RC -eq 1" "without the signer's root: exit $RC"

# 4. a signature without a time-stamp: valid, but not under --require-timestamp
run "$NOTARIUM" verify "${args[@]}" --report-json "$T/plain.json" --sign-key "$C/tsa.key" \
    --sign-cert "$C/tsa.pem" --quiet
nt_check "$RC -eq 0" "plain signature: exit $RC"
run "$NOTARIUM" verify-report --report "$T/plain.json" --signature "$T/plain.json.p7s" \
    --trust "$T/both.pem"
nt_check "$RC -eq 0" "plain signature check: exit $RC"
grep -q '^NOT TIME-STAMPED' "$T/out.txt" || nt_fail "plain signature: $(cat "$T/out.txt")"
run "$NOTARIUM" verify-report --report "$T/plain.json" --signature "$T/plain.json.p7s" \
    --trust "$T/both.pem" --require-timestamp
nt_check "$RC -eq 1" "plain signature under --require-timestamp: exit $RC"

# 5. the TSA URL: http(s):// only, no --tsa without signing, a path that is no TSA
run "$NOTARIUM" verify "${args[@]}" --report-json "$T/x.json" --sign-key "$C/tsa.key" \
    --sign-cert "$C/tsa.pem" --tsa "ftp://${NT_URL#http://}/tsa" --quiet
nt_check "$RC -eq 3" "ftp TSA: exit $RC"
run "$NOTARIUM" verify "${args[@]}" --report-json "$T/x.json" --tsa "$NT_URL/tsa" --quiet
nt_check "$RC -eq 3" "--tsa without --sign-key: exit $RC"
run "$NOTARIUM" verify "${args[@]}" --report-json "$T/x.json" --sign-key "$C/tsa.key" \
    --sign-cert "$C/tsa.pem" --tsa-ca "$T/both.pem" --quiet
nt_check "$RC -eq 3" "--tsa-ca without --tsa: exit $RC"
# https:// on a port that speaks plain HTTP: the TLS handshake fails, an I/O error
run "$NOTARIUM" verify "${args[@]}" --report-json "$T/x.json" --sign-key "$C/tsa.key" \
    --sign-cert "$C/tsa.pem" --tsa "https://${NT_URL#http://}/tsa" --quiet
nt_check "$RC -eq 4" "https TSA on a plain port: exit $RC"

# 5b. a real https:// TSA: socat terminates TLS (a certificate for 127.0.0.1 made here)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$T/tls.key" -out "$T/tls.pem" 2>/dev/null
chmod 600 "$T/tls.key"
TLS_URL=""
for _ in $(seq 1 10); do
    port=$((20000 + RANDOM % 20000))
    socat "OPENSSL-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork,cert=$T/tls.pem,key=$T/tls.key,verify=0" \
        "TCP:${NT_URL#http://}" 2>>"$T/socat.log" &
    spid=$!
    NT_PIDS+=("$spid")
    for _ in $(seq 1 200); do
        if curl -sf --cacert "$T/tls.pem" "https://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
            TLS_URL="https://127.0.0.1:$port"
            break 2
        fi
        kill -0 "$spid" 2>/dev/null || break # the port was taken: try another
        sleep 0.025
    done
    kill "$spid" 2>/dev/null || true
done
nt_check "-n $TLS_URL" "socat TLS front did not come up: $(tail -n 3 "$T/socat.log")"
run "$NOTARIUM" verify "${args[@]}" --report-json "$T/s.json" --sign-key "$C/tsa.key" \
    --sign-cert "$C/tsa.pem" --tsa "$TLS_URL/tsa" --tsa-ca "$T/tls.pem" --quiet
nt_check "$RC -eq 0" "verify --tsa https: exit $RC: $(cat "$T/err.txt")"
run "$NOTARIUM" verify-report --report "$T/s.json" --signature "$T/s.json.p7s" \
    --trust "$T/both.pem" --require-timestamp
nt_check "$RC -eq 0" "verify-report of the https-stamped report: exit $RC: $(cat "$T/err.txt")"
# twin: the TLS certificate is not trusted without --tsa-ca
run "$NOTARIUM" verify "${args[@]}" --report-json "$T/s2.json" --sign-key "$C/tsa.key" \
    --sign-cert "$C/tsa.pem" --tsa "$TLS_URL/tsa" --quiet
nt_check "$RC -eq 4" "https TSA with an unknown certificate: exit $RC"
grep -qi 'certificate' "$T/err.txt" || nt_fail "untrusted TLS certificate: $(cat "$T/err.txt")"
run "$NOTARIUM" verify "${args[@]}" --report-json "$T/x.json" --sign-key "$C/tsa.key" \
    --sign-cert "$C/tsa.pem" --tsa "$NT_URL/no-such-endpoint" --quiet
nt_check "$RC -eq 4" "wrong TSA path: exit $RC"
grep -q 'HTTP 404' "$T/err.txt" || nt_fail "wrong TSA path: $(cat "$T/err.txt")"

nt_stop
# 6. nobody listening any more
run "$NOTARIUM" verify "${args[@]}" --report-json "$T/x.json" --sign-key "$C/tsa.key" \
    --sign-cert "$C/tsa.pem" --tsa "$NT_URL/tsa" --quiet
nt_check "$RC -eq 4" "unreachable TSA: exit $RC"
echo "verify_report_tsa: ok"
