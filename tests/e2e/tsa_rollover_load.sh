#!/usr/bin/env bash
# tsa_rollover_load.sh - a certificate roll-over under load (docs/KEYS.md,
# "Roll-over"): notarium-load runs while the configuration gets a new signing
# certificate and the server is reloaded, and while a bad configuration is
# tried and refused.  Zero failed or rejected requests; the first token and the
# last one both verify with `openssl ts -verify` against the root, the first
# carrying the old certificate, the last the new one; both chains are served by
# /v1/certs; the audit of the mirror with the root alone passes.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup
LOAD="$NT_BIN_DIR/notarium-load"

D="$T/data"
nt_start "$D"
nt_stop
P1=$(jq -r .tsa.policy "$D/config.json")

# The new certificate: a fresh key, issued by the same root.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$D/pki/new.key" 2>/dev/null
chmod 600 "$D/pki/new.key"
openssl req -new -key "$D/pki/new.key" -subj "/O=Notarium Demo/CN=rollover-new" -out "$T/new.csr"
printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=critical,timeStamping" >"$T/ext.cnf"
openssl x509 -req -in "$T/new.csr" -CA "$D/pki/ca.pem" -CAkey "$D/pki/ca.key" -CAcreateserial \
    -days 400 -sha256 -extfile "$T/ext.cnf" -out "$D/pki/new.pem" 2>/dev/null

nt_start_nodemo "$D" --log-level info
"$LOAD" --url "$NT_URL/tsa" --connections 8 --threads 2 --duration 8 --record "$T/tokens.txt" \
    >"$T/load.out" 2>&1 &
load_pid=$!
sleep 2

reloads() { grep -c "$1" "$NT_LOG" || true; }
# Roll-over: the new certificate takes over (same policy), the old one is gone from the config.
nt_config_set "$D" '.tsa.cert = "pki/new.pem" | .tsa.key = "pki/new.key"'
"$NOTARIUM" reload --data "$D" >/dev/null || nt_fail "notarium reload failed"
for _ in $(seq 100); do [[ $(reloads '"reload: ') -gt 0 ]] && break; sleep 0.1; done
[[ $(reloads '"reload: ') -gt 0 ]] || nt_fail "the reload did not happen"
sleep 2
# A bad reload under load: the key does not match the certificate.
cp "$D/config.json" "$T/good.json"
nt_config_set "$D" '.tsa.key = "pki/tsa.key"'
"$NOTARIUM" reload --data "$D" >/dev/null || nt_fail "notarium reload (bad) failed"
for _ in $(seq 100); do [[ $(reloads 'reload refused') -gt 0 ]] && break; sleep 0.1; done
[[ $(reloads 'reload refused') -gt 0 ]] || nt_fail "the bad reload was not refused"
cp "$T/good.json" "$D/config.json"

wait "$load_pid" || nt_fail "load run failed: $(tail -3 "$T/load.out")"
nt_check "$(nt_load_field "$T/load.out" errors) == 0" "errors: $(grep RESULT "$T/load.out")"
nt_check "$(nt_load_field "$T/load.out" rejected) == 0" "rejected: $(grep RESULT "$T/load.out")"
nt_check "$(nt_load_field "$T/load.out" granted) -gt 100" "granted: $(grep RESULT "$T/load.out")"

# The first token is the old certificate's, the last the new one's: each verifies with its own.
check_token() { # LINE_SELECTOR CERT_PEM
    local line
    line=$("$1" -n1 "$T/tokens.txt")
    echo "${line#* }" | base64 -d >"$T/tok.der"
    hex=${line%% *}
    openssl ts -verify -digest "${hex#*:}" -token_in -in "$T/tok.der" -CAfile "$D/pki/ca.pem" \
        -untrusted "$2" >/dev/null 2>&1
}
signer_cn() { openssl pkcs7 -inform DER -in "$T/tok.der" -print_certs 2>/dev/null | sed -n 's/^subject=.*CN *= *//p' | head -n1; }
check_token head "$D/pki/tsa.pem" || nt_fail "the first token does not verify"
first=$(signer_cn)
check_token tail "$D/pki/new.pem" || nt_fail "the last token does not verify"
last=$(signer_cn)
nt_check "\"$last\" == rollover-new" "the last token is signed by $last, not the new certificate"
nt_check "\"$first\" != rollover-new" "the first token is signed by the new certificate"

# Both chains are served.
der_sha() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }
for c in tsa new; do
    code=$(nt_http GET "$NT_URL/v1/certs/$(der_sha "$D/pki/$c.pem")" "$T/$c.chain")
    nt_check "$code == 200" "/v1/certs/<$c>: HTTP $code"
done
nt_http GET "$NT_URL/v1/certs" "$T/certs.json" >/dev/null
nt_check "\"$(jq -r '.identities[0].sha256' "$T/certs.json")\" == $(der_sha "$D/pki/new.pem")" "/v1/certs: active"
nt_check "$(jq '.recorded | length' "$T/certs.json") == 2" "/v1/certs: recorded $(jq -c .recorded "$T/certs.json")"
nt_check "\"$(jq -r '.identities[0].policy' "$T/certs.json")\" == $P1" "/v1/certs: policy"
nt_stop

"$NOTARIUM" audit --log-key "$D/pki/log.vkey" --trust "$D/pki/ca.pem" --no-progress "$D/mirror.git" \
    >"$T/audit.out" 2>&1 || nt_fail "audit with the root alone failed: $(cat "$T/audit.out")"
echo "tsa_rollover_load: ok"
