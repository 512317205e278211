#!/usr/bin/env bash
# tsa_key_types.sh - one data directory per TSA key type (made with
# `notarium pki init --key-type`, then served with --demo, which keeps an
# existing pki/): EC P-256, EC P-384, RSA-2048 with PKCS#1 v1.5 and RSA-2048
# with RSASSA-PSS ("rsa_pss": true).  Each issues SHA-256 and SHA-512 tokens
# that `openssl ts -verify` accepts; the signature algorithm in the CMS
# SignerInfo matches the configuration (PSS only when asked), /healthz names
# the key type, and a token does not verify against another directory's root.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

echo "key type test document" >"$T/doc.txt"

run_type() {
    local name="$1" type="$2" pss="$3"
    local D="$T/$name"
    "$NOTARIUM" pki init "$D/pki" --key-type "$type" >/dev/null || nt_fail "$name: pki init failed"
    if [[ "$pss" == 1 ]]; then
        nt_start "$D"
        nt_stop
        nt_config_set "$D" '.tsa.rsa_pss = true'
    fi
    nt_start "$D"
    for alg in sha256 sha512; do
        nt_tsq "$T/$name.$alg.tsq" -data "$T/doc.txt" "-$alg" -cert
        code=$(nt_post_tsq "$T/$name.$alg.tsq" "$T/$name.$alg.tsr")
        nt_check "$code == 200" "$name/$alg: HTTP $code"
        if [[ "$pss" == 1 ]]; then
            # OpenSSL 3.0's `ts -verify` (PKCS7 code) checks RSA signatures with PKCS#1 v1.5
            # padding only; `cms -verify` handles RSASSA-PSS.  It checks the signature and
            # the chain; the imprint is then checked in the TSTInfo it outputs.
            openssl ts -reply -in "$T/$name.$alg.tsr" -token_out -out "$T/$name.$alg.tok" 2>/dev/null
            openssl cms -verify -inform DER -in "$T/$name.$alg.tok" -CAfile "$D/pki/ca.pem" \
                -purpose timestampsign -binary -out "$T/$name.$alg.tst" >/dev/null 2>&1 ||
                nt_fail "$name/$alg: openssl cms -verify rejected the token"
            od -An -tx1 -v "$T/$name.$alg.tst" | tr -d ' \n' |
                grep -q "$(openssl dgst "-$alg" -r "$T/doc.txt" | cut -d' ' -f1)" ||
                nt_fail "$name/$alg: TSTInfo does not hold the document's digest"
        else
            openssl ts -verify -data "$T/doc.txt" -in "$T/$name.$alg.tsr" -CAfile "$D/pki/ca.pem" \
                >/dev/null 2>&1 || nt_fail "$name/$alg: openssl ts -verify rejected the token"
        fi
    done
    openssl ts -reply -in "$T/$name.sha256.tsr" -token_out -out "$T/$name.tok" 2>/dev/null
    sigalg=$(openssl cms -cmsout -print -inform DER -in "$T/$name.tok" 2>/dev/null |
        sed -n '/signatureAlgorithm:/,/algorithm:/s/.*algorithm: \([^ ]*\).*/\1/p' | head -n1)
    case "$name" in
    ec*) nt_check "\"$sigalg\" == ecdsa-with-SHA* " "$name: signature algorithm '$sigalg'" ;;
    rsa-pss) nt_check "\"$sigalg\" == rsassaPss" "$name: signature algorithm '$sigalg' (want PSS)" ;;
    rsa*) nt_check "\"$sigalg\" == rsaEncryption || \"$sigalg\" == sha*WithRSAEncryption" \
        "$name: signature algorithm '$sigalg' (want PKCS#1 v1.5)" ;;
    esac
    code=$(nt_http GET "$NT_URL/healthz" "$T/$name.health.json")
    nt_check "$code == 200" "$name: /healthz HTTP $code"
    nt_check "\"$(jq -r .key.type "$T/$name.health.json")\" == $type" \
        "$name: /healthz key type $(jq -r .key.type "$T/$name.health.json")"
    nt_stop
}

run_type ec-p256 ec-p256 0
run_type ec-p384 ec-p384 0
run_type rsa-2048 rsa-2048 0
run_type rsa-pss rsa-2048 1

# Negative twin: a token from one PKI does not verify against another root.
if openssl ts -verify -data "$T/doc.txt" -in "$T/ec-p384.sha256.tsr" -CAfile "$T/ec-p256/pki/ca.pem" \
    >/dev/null 2>&1; then
    nt_fail "a P-384 token verified against the P-256 directory's root"
fi
echo "tsa_key_types: ok"
