#!/usr/bin/env bash
# ledger_get_certs.sh - `notarium ledger get` puts the same certificates in a receipt as
# the server's GET /v1/receipt (one builder, certs_signer_receipt_ders): with a PEM
# configuration (TSA certificate, then the chain), and with a PKCS#12 configuration, which
# used to get none at all; the negative twins: an unreadable TSA certificate or a wrong
# PKCS#12 passphrase is exit status 1 with a message naming the problem, not a receipt
# without certificates.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

D="$T/data"
nt_start "$D"
printf 'ledger get certificates\n' >"$T/doc"
nt_tsq "$T/q.tsq" -data "$T/doc" -sha256 -cert
code=$(nt_post_tsq "$T/q.tsq" "$T/r.tsr")
nt_check "$code == 200" "POST /tsa: HTTP $code"
code=$(nt_http GET "$NT_URL/v1/receipt/0" "$T/api-pem.json")
nt_check "$code == 200" "/v1/receipt/0 (PEM): HTTP $code"
nt_stop

certs_of() { jq -c '.certificates' "$1"; }
der_b64() { openssl x509 -in "$1" -outform DER | base64 -w0; }

# PEM: TSA certificate then the CA, as the server lists them
"$NOTARIUM" ledger get 0 --data "$D" >"$T/cli-pem.json" 2>"$T/cli-pem.err" ||
    nt_fail "ledger get 0 (PEM): $(cat "$T/cli-pem.err")"
nt_check "\"$(certs_of "$T/cli-pem.json")\" == \"$(certs_of "$T/api-pem.json")\"" \
    "ledger get (PEM): certificates differ from the server's"
nt_check "\"$(jq -r '.certificates[0]' "$T/cli-pem.json")\" == \"$(der_b64 "$D/pki/tsa.pem")\"" \
    "ledger get (PEM): the first certificate is not tsa.pem"
nt_check "\"$(jq -r '.certificates[1]' "$T/cli-pem.json")\" == \"$(der_b64 "$D/pki/ca.pem")\"" \
    "ledger get (PEM): the second certificate is not ca.pem"
nt_check "$(jq '.certificates | length' "$T/cli-pem.json") == 2" "ledger get (PEM): not 2 certificates"

# PKCS#12: the same certificates, from the PKCS#12 file (secret files 0600: others are refused)
umask 077
printf 'p12-secret\n' >"$D/pki/p12.pass"
openssl pkcs12 -export -inkey "$D/pki/tsa.key" -in "$D/pki/tsa.pem" -certfile "$D/pki/ca.pem" \
    -passout pass:p12-secret -out "$D/pki/tsa.p12" 2>/dev/null || nt_fail "openssl pkcs12 -export"
cp "$D/config.json" "$T/config.pem"
# only the PKCS#12 file holds the TSA's certificates now (the PEM defaults would hide a miss)
mkdir "$T/pem" && mv "$D/pki/tsa.pem" "$D/pki/tsa.key" "$D/pki/ca.pem" "$T/pem/"
nt_config_set "$D" '.tsa |= (del(.cert, .key, .chain) + {pkcs12: "pki/tsa.p12",
                    pkcs12_passphrase_file: "pki/p12.pass"})'
"$NOTARIUM" ledger get 0 --data "$D" >"$T/cli-p12.json" 2>"$T/cli-p12.err" ||
    nt_fail "ledger get 0 (PKCS#12): $(cat "$T/cli-p12.err")"
nt_check "$(jq '.certificates | length' "$T/cli-p12.json") == 2" \
    "ledger get (PKCS#12): $(jq '.certificates | length' "$T/cli-p12.json") certificates, want 2"
nt_start_nodemo "$D"
code=$(nt_http GET "$NT_URL/v1/receipt/0" "$T/api-p12.json")
nt_check "$code == 200" "/v1/receipt/0 (PKCS#12): HTTP $code"
nt_stop
nt_check "\"$(certs_of "$T/cli-p12.json")\" == \"$(certs_of "$T/api-p12.json")\"" \
    "ledger get (PKCS#12): certificates differ from the server's"
nt_check "\"$(certs_of "$T/cli-p12.json")\" == \"$(certs_of "$T/cli-pem.json")\"" \
    "ledger get: PKCS#12 and PEM give different certificates"

refused() { # name want-substring
    local rc=0
    "$NOTARIUM" ledger get 0 --data "$D" >"$T/$1.out" 2>"$T/$1.err" || rc=$?
    nt_check "$rc == 1" "ledger get ($1): exit $rc, want 1"
    nt_check "! -s \"$T/$1.out\"" "ledger get ($1): printed a receipt"
    grep -q "$2" "$T/$1.err" || nt_fail "ledger get ($1): stderr lacks '$2': $(cat "$T/$1.err")"
}
printf 'wrong\n' >"$D/pki/p12.pass"
refused p12-passphrase "tsa.p12"
cp "$T/config.pem" "$D/config.json"
cp "$T/pem/"* "$D/pki/"
nt_config_set "$D" '.tsa.cert = "pki/missing.pem"'
refused missing-cert "missing.pem"
printf 'not a certificate\n' >"$D/pki/garbage.pem"
nt_config_set "$D" '.tsa.cert = "pki/garbage.pem"'
refused garbage-cert "garbage.pem"
echo "ledger_get_certs: ok"
