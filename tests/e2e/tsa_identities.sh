#!/usr/bin/env bash
# tsa_identities.sh - several signing identities, reload without restart, and the
# publication of every signing certificate (docs/OPERATING.md "Several signing
# identities" and "Reloading", docs/KEYS.md "Roll-over", docs/HTTP-API.md /v1/certs):
#
#  - two identities under one CA (EC P-256 default, RSA-3072 for a second policy):
#    requests are routed by reqPolicy, no policy goes to the default, an unknown
#    policy is rejected with unacceptedPolicy; /healthz and /metrics list both;
#  - both certificates are leaves of kind 0x04 (label "certificate") before any
#    token, and GET /v1/certs, /v1/certs/<sha256> (PEM; DER by Accept) serve them;
#    a bad or unknown hash gets 400 / 404;
#  - a receipt of a token requested without certReq carries its signer's chain (from
#    the server and from `notarium ledger get`);
#  - `notarium reload` with a new EC certificate: new tokens carry it, old tokens
#    still verify, the new certificate is recorded and served; a new API key works
#    only after the reload; a changed listen address is reported as ignored;
#  - bad reloads (syntax error, key not matching its certificate, missing key file)
#    are refused in the log and the old identities keep serving;
#  - `notarium audit --trust ca.pem` (the root alone) passes over the mirror of a
#    server whose tokens were all requested without certReq, and fails on the same
#    kind of mirror written without the certificate leaves (as before this change).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

D="$T/data"
nt_start "$D" --log-level info
nt_stop
P1=$(jq -r .tsa.policy "$D/config.json")
P2="1.3.6.1.4.1.99999.2"

# A TSA certificate from the demo CA: KEY_ALG (ec|rsa) NAME
issue() {
    local alg="$1" name="$2"
    if [[ "$alg" == ec ]]; then
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$D/pki/$name.key" 2>/dev/null
    else
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$D/pki/$name.key" 2>/dev/null
    fi
    chmod 600 "$D/pki/$name.key"
    openssl req -new -key "$D/pki/$name.key" -subj "/O=Notarium Demo/CN=$name" -out "$T/$name.csr"
    printf '%s\n' "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature,nonRepudiation" \
        "extendedKeyUsage=critical,timeStamping" "subjectKeyIdentifier=hash" \
        "authorityKeyIdentifier=keyid" >"$T/ext.cnf"
    openssl x509 -req -in "$T/$name.csr" -CA "$D/pki/ca.pem" -CAkey "$D/pki/ca.key" \
        -CAcreateserial -days 400 -sha256 -extfile "$T/ext.cnf" -out "$D/pki/$name.pem" 2>/dev/null
}
issue rsa rsa-2026
issue ec ec-2027

ident() { # name cert key policy default
    printf '{"name":"%s","cert":"pki/%s","key":"pki/%s","chain":"pki/ca.pem","policy":"%s","default":%s}' \
        "$1" "$2" "$3" "$4" "$5"
}
nt_config_set "$D" "del(.tsa.cert, .tsa.key, .tsa.chain) | .tsa.identities = [$(ident ec-2026 tsa.pem tsa.key "$P1" true), $(ident rsa-2026 rsa-2026.pem rsa-2026.key "$P2" false)]"
nt_start_nodemo "$D" --log-level info

echo "identities test document" >"$T/doc.txt"
sigalg() { # TSR -> signature algorithm of its token's SignerInfo
    openssl ts -reply -in "$1" -token_out -out "$1.tok" 2>/dev/null
    openssl cms -cmsout -print -inform DER -in "$1.tok" 2>/dev/null |
        sed -n '/signatureAlgorithm:/,/algorithm:/s/.*algorithm: \([^ ]*\).*/\1/p' | head -n1
}
signer_cn() { # TSR (issued with certReq) -> CN of the first certificate of its token
    openssl ts -reply -in "$1" -token_out -out "$1.tok" 2>/dev/null
    openssl pkcs7 -inform DER -in "$1.tok" -print_certs 2>/dev/null | sed -n 's/^subject=.*CN *= *//p' | head -n1
}
request() { # NAME [openssl ts -query args]: HTTP 200 and a granted reply in $T/NAME.tsr
    local name="$1"
    shift
    nt_tsq "$T/$name.tsq" -data "$T/doc.txt" -sha256 "$@"
    code=$(nt_post_tsq "$T/$name.tsq" "$T/$name.tsr")
    nt_check "$code == 200" "$name: HTTP $code"
}
verify() { # NAME: openssl ts -verify against the root alone
    openssl ts -verify -data "$T/doc.txt" -in "$T/$1.tsr" -CAfile "$D/pki/ca.pem" >/dev/null 2>&1 ||
        nt_fail "$1: openssl ts -verify rejected the token"
}

# --- routing by policy
request dflt -cert
nt_check "\"$(sigalg "$T/dflt.tsr")\" == ecdsa-with-SHA256" "no policy: signature $(sigalg "$T/dflt.tsr")"
verify dflt
request rsa -cert -tspolicy "$P2"
nt_check "\"$(signer_cn "$T/rsa.tsr")\" == rsa-2026" "policy $P2: signer $(signer_cn "$T/rsa.tsr")"
verify rsa
openssl ts -reply -in "$T/rsa.tsr" -text 2>/dev/null | grep -q "Policy OID: $P2" ||
    nt_fail "policy $P2: the token does not carry it"
request p1 -cert -tspolicy "$P1"
nt_check "\"$(sigalg "$T/p1.tsr")\" == ecdsa-with-SHA256" "policy $P1: signature $(sigalg "$T/p1.tsr")"
request unknown -tspolicy 1.3.6.1.4.1.99999.77
nt_check "\"$(nt_reply_status "$T/unknown.tsr")\" == Rejected" "unknown policy: $(nt_reply_status "$T/unknown.tsr")"
nt_reply_failinfo "$T/unknown.tsr" | grep -qi "policy is not supported" ||
    nt_fail "unknown policy: failure info $(nt_reply_failinfo "$T/unknown.tsr")"

# --- /healthz, /metrics
nt_http GET "$NT_URL/healthz" "$T/health.json" >/dev/null
nt_check "$(jq '.identities | length' "$T/health.json") == 2" "/healthz: $(jq -c .identities "$T/health.json")"
nt_check "\"$(jq -r '.identities[] | select(.default) | .name' "$T/health.json")\" == ec-2026" "/healthz default"
nt_check "\"$(jq -r '.identities[1].key_type' "$T/health.json")\" == rsa-3072" "/healthz rsa key type"
nt_http GET "$NT_URL/metrics" "$T/metrics" >/dev/null
grep -q '^notarium_certificate_days_left{role="tsa",.*identity="rsa-2026"}' "$T/metrics" ||
    nt_fail "/metrics: no days_left of identity rsa-2026"

# --- the certificate leaves and /v1/certs
der_sha() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }
EC1=$(der_sha "$D/pki/tsa.pem")
RSA1=$(der_sha "$D/pki/rsa-2026.pem")
leaf_kind() { # index -> kind byte and label of the leaf, from its receipt
    nt_http GET "$NT_URL/v1/receipt/$1" "$T/r$1.json" >/dev/null
    jq -r .leaf.data "$T/r$1.json" | base64 -d | od -An -tx1 -j1 -N1 | tr -d ' '
}
nt_check "\"$(leaf_kind 0)\" == 04 && \"$(leaf_kind 1)\" == 04" "leaves 0 and 1 are not kind 0x04"
jq -r .leaf.data "$T/r1.json" | base64 -d | grep -q certificate || nt_fail "leaf 1: no label"
jq -r .leaf.data "$T/r0.json" | base64 -d | od -An -tx1 -v | tr -d ' \n' | grep -q "$EC1" ||
    nt_fail "leaf 0 does not hold the EC certificate's SHA-256"
code=$(nt_http GET "$NT_URL/v1/certs" "$T/certs.json")
nt_check "$code == 200" "/v1/certs: HTTP $code"
nt_check "$(jq '.identities | length' "$T/certs.json") == 2" "/v1/certs: $(head -c 300 "$T/certs.json")"
nt_check "\"$(jq -r '.identities[1].sha256' "$T/certs.json")\" == $RSA1" "/v1/certs: rsa sha256"
nt_check "\"$(jq -r '.identities[1].policy' "$T/certs.json")\" == $P2" "/v1/certs: rsa policy"
jq -r '.identities[1].pem' "$T/certs.json" | openssl x509 -noout -subject | grep -q rsa-2026 ||
    nt_fail "/v1/certs: the rsa PEM chain"
nt_check "$(jq '.recorded | length' "$T/certs.json") == 2" "/v1/certs: recorded $(jq -c .recorded "$T/certs.json")"
code=$(nt_http GET "$NT_URL/v1/certs/$RSA1" "$T/rsa.chain.pem")
nt_check "$code == 200" "/v1/certs/<rsa>: HTTP $code"
nt_check "\"$(der_sha "$T/rsa.chain.pem")\" == $RSA1" "/v1/certs/<rsa>: another certificate"
nt_check "$(grep -c 'BEGIN CERTIFICATE' "$T/rsa.chain.pem") == 2" "/v1/certs/<rsa>: not the chain"
code=$(nt_http GET "$NT_URL/v1/certs/$RSA1" "$T/rsa.der" -H 'Accept: application/pkix-cert')
nt_check "$code == 200" "/v1/certs/<rsa> DER: HTTP $code"
nt_check "\"$(sha256sum <"$T/rsa.der" | cut -d' ' -f1)\" == $RSA1" "/v1/certs/<rsa> DER bytes"
code=$(nt_http GET "$NT_URL/v1/certs/${RSA1:0:60}zz00" "$T/bad.json")
nt_check "$code == 400 && \"$(jq -r .error "$T/bad.json")\" == invalid_sha256" "bad hash: HTTP $code"
code=$(nt_http GET "$NT_URL/v1/certs/$(printf '0%.0s' {1..64})" "$T/none.json")
nt_check "$code == 404" "unknown hash: HTTP $code"
code=$(nt_http POST "$NT_URL/v1/certs" "$T/post.json")
nt_check "$code == 405" "POST /v1/certs: HTTP $code"

# --- a receipt of a token without certReq carries its signer's chain
echo "no certReq document" >"$T/nocert.txt"
nt_tsq "$T/nocert.tsq" -data "$T/nocert.txt" -sha256 -tspolicy "$P2"
nt_post_tsq "$T/nocert.tsq" "$T/nocert.tsr" >/dev/null
H=$(sha256sum <"$T/nocert.txt" | cut -d' ' -f1)
nt_http GET "$NT_URL/v1/receipts?digest=sha256:$H" "$T/nocert.json" >/dev/null
nt_check "\"$(jq -r '.receipts[0].certificates[0]' "$T/nocert.json" | base64 -d | sha256sum | cut -d' ' -f1)\" == $RSA1" \
    "receipt of a token without certReq: not the rsa identity's certificate"
nt_check "$(jq '.receipts[0].certificates | length' "$T/nocert.json") == 2" "receipt: chain length"

# --- reload: a new EC certificate replaces the default; a new API key
"$NOTARIUM" apikey new --id reloaded >"$T/key.txt"
KEY=$(sed -n 1p "$T/key.txt")
echo '{"digest":"sha256:'"$H"'","kind":"contract.signed"}' >"$T/ev.json"
code=$(nt_http POST "$NT_URL/v1/evidence" "$T/ev.out" -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' --data-binary @"$T/ev.json")
nt_check "$code == 401" "new API key before the reload: HTTP $code"
cp "$D/config.json" "$T/config.good.json"
nt_config_set "$D" ".tsa.identities[0] = $(ident ec-2027 ec-2027.pem ec-2027.key "$P1" true) | .api_keys += [$(sed -n 2p "$T/key.txt")] | .listen = \"127.0.0.1:1\""
"$NOTARIUM" reload --data "$D" >/dev/null || nt_fail "notarium reload failed"
for _ in $(seq 100); do grep -q '"reload: .*now signing' "$NT_LOG" && break; sleep 0.1; done
grep -q '"reload: .*now signing with ec-2027 (default), rsa-2026' "$NT_LOG" || nt_fail "no reload line"
grep -q 'reload: listen changed: ignored until restart' "$NT_LOG" || nt_fail "listen change not reported"
request new -cert
nt_check "\"$(signer_cn "$T/new.tsr")\" == ec-2027" "after the reload: signer $(signer_cn "$T/new.tsr")"
verify new
verify dflt # a token of the old certificate still verifies
code=$(nt_http POST "$NT_URL/v1/evidence" "$T/ev.out" -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' --data-binary @"$T/ev.json")
nt_check "$code == 201" "new API key after the reload: HTTP $code $(cat "$T/ev.out")"
EC2=$(der_sha "$D/pki/ec-2027.pem")
nt_http GET "$NT_URL/v1/certs" "$T/certs2.json" >/dev/null
nt_check "\"$(jq -r '.identities[0].sha256' "$T/certs2.json")\" == $EC2" "/v1/certs after the reload"
nt_check "$(jq '.recorded | length' "$T/certs2.json") == 3" "recorded after the reload: $(jq -c .recorded "$T/certs2.json")"
code=$(nt_http GET "$NT_URL/v1/certs/$EC1" "$T/ec1.pem")
nt_check "$code == 200" "the old certificate is still served: HTTP $code"

# --- bad reloads are refused; the running identities keep serving
bad_reload() { # WHAT JQ_FILTER|raw:TEXT
    local what="$1" edit="$2" before
    cp "$D/config.json" "$T/config.keep.json"
    if [[ "$edit" == raw:* ]]; then printf '%s' "${edit#raw:}" >"$D/config.json"; else nt_config_set "$D" "$edit"; fi
    before=$(grep -c 'reload refused' "$NT_LOG" || true)
    "$NOTARIUM" reload --data "$D" >/dev/null || nt_fail "$what: notarium reload failed"
    for _ in $(seq 100); do
        [[ $(grep -c 'reload refused' "$NT_LOG" || true) -gt $before ]] && break
        sleep 0.1
    done
    [[ $(grep -c 'reload refused' "$NT_LOG" || true) -gt $before ]] || nt_fail "$what: reload not refused"
    request "after-$what" -cert
    nt_check "\"$(signer_cn "$T/after-$what.tsr")\" == ec-2027" "$what: the old identity stopped serving"
    cp "$T/config.keep.json" "$D/config.json"
}
bad_reload syntax 'raw:{"tsa": {'
bad_reload mismatch '.tsa.identities[0].key = "pki/tsa.key"'
bad_reload missing-key '.tsa.identities[1].key = "pki/none.key"'
grep 'reload refused' "$NT_LOG" | grep -q 'does not match' || nt_fail "mismatch: log does not say why: $(grep 'reload refused' "$NT_LOG")"
nt_stop
# `notarium ledger get` gives a token the chain of the identity that signed it, too.
idx=$(jq -r '.receipts[0].leaf.index' "$T/nocert.json")
"$NOTARIUM" ledger get "$idx" --data "$D" >"$T/cli.json" || nt_fail "ledger get $idx failed"
nt_check "\"$(jq -r '.certificates[0]' "$T/cli.json" | base64 -d | sha256sum | cut -d' ' -f1)\" == $RSA1" \
    "ledger get: not the rsa identity's certificate"

# --- audit with the root alone over a mirror of tokens without certReq
audit_dir() { # DIR -> exit status of the audit of its mirror, output in DIR.audit
    "$NOTARIUM" audit --log-key "$1/pki/log.vkey" --trust "$1/pki/ca.pem" --no-progress "$1/mirror.git" \
        >"$1.audit" 2>&1
}
three_tokens() {
    for i in 1 2 3; do
        echo "audit doc $i" >"$T/a$i.txt"
        nt_tsq "$T/a$i.tsq" -data "$T/a$i.txt" -sha256
        nt_post_tsq "$T/a$i.tsq" "$T/a$i.tsr" >/dev/null
    done
}
A="$T/audit-on"
nt_start "$A"
three_tokens
nt_stop
audit_dir "$A" || nt_fail "audit --trust ca.pem over tokens without certReq failed: $(cat "$A.audit")"
grep -q "audit: OK: tree size 4" "$A.audit" || nt_fail "audit output: $(cat "$A.audit")"
# The twin: the same without the certificate leaves (the ledger as it was) fails.  B is
# A's demo directory before its first start (its PKI, API key and configuration) with
# "tsa": {"record_certificates": false}, so its fresh ledger never holds them.
B="$T/audit-off"
mkdir -p "$B"
cp -a "$A/pki" "$A/demo-api-key" "$B/"
jq '.tsa.record_certificates = false' "$A/config.json" >"$B/config.json"
nt_start "$B"
three_tokens
nt_stop
if audit_dir "$B"; then nt_fail "audit passed without the certificate leaves"; fi
grep -q "neither in the token nor in --trust" "$B.audit" || nt_fail "audit-off: $(cat "$B.audit")"
echo "tsa_identities: ok"
