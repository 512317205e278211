#!/usr/bin/env bash
# tsa_algorithms.sh - RFC 3161 over HTTP with real clients: every accepted
# imprint algorithm (SHA-2 and SHA-3 families) gets a token that
# `openssl ts -verify` accepts against the demo root; certReq TRUE puts the
# TSA certificate in the token and certReq FALSE leaves it out (verification
# then needs it supplied, and fails without it); the nonce is echoed; a token
# for one document does not verify another (negative twin).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

D="$T/data"
nt_start "$D"
CA="$D/pki/ca.pem"
echo "contract v1" >"$T/doc.txt"
echo "contract v2" >"$T/other.txt"

for alg in sha256 sha384 sha512 sha3-256 sha3-384 sha3-512; do
    nt_tsq "$T/$alg.tsq" -data "$T/doc.txt" "-$alg" -cert
    code=$(nt_post_tsq "$T/$alg.tsq" "$T/$alg.tsr")
    nt_check "$code == 200" "$alg: HTTP $code"
    nt_check "\"$(nt_reply_status "$T/$alg.tsr")\" == Granted" "$alg: not granted"
    openssl ts -verify -data "$T/doc.txt" -in "$T/$alg.tsr" -CAfile "$CA" >/dev/null 2>&1 ||
        nt_fail "$alg: openssl ts -verify rejected the token"
    openssl ts -verify -queryfile "$T/$alg.tsq" -in "$T/$alg.tsr" -CAfile "$CA" >/dev/null 2>&1 ||
        nt_fail "$alg: token does not match its query"
    if openssl ts -verify -data "$T/other.txt" -in "$T/$alg.tsr" -CAfile "$CA" >/dev/null 2>&1; then
        nt_fail "$alg: token verified for a different document"
    fi
    openssl ts -reply -in "$T/$alg.tsr" -text 2>/dev/null | grep -q "Hash Algorithm: $alg" ||
        nt_fail "$alg: token's imprint algorithm is not $alg"
done

# Content-Type of the reply is exactly application/timestamp-reply.
ctype=$(curl -sS -o /dev/null -w '%{content_type}' -H 'Content-Type: application/timestamp-query' \
    --data-binary @"$T/sha256.tsq" "$NT_URL/tsa")
nt_check "\"$ctype\" == application/timestamp-reply" "reply Content-Type is '$ctype'"

# certReq FALSE: no certificate in the token; verifying needs -untrusted tsa.pem.
nt_tsq "$T/nocert.tsq" -data "$T/doc.txt" -sha256
code=$(nt_post_tsq "$T/nocert.tsq" "$T/nocert.tsr")
nt_check "$code == 200" "certReq false: HTTP $code"
openssl ts -reply -in "$T/nocert.tsr" -token_out -out "$T/nocert.tok" 2>/dev/null
openssl ts -reply -in "$T/sha256.tsr" -token_out -out "$T/cert.tok" 2>/dev/null
ncert_no=$(openssl pkcs7 -inform DER -in "$T/nocert.tok" -print_certs 2>/dev/null | grep -c BEGIN || true)
ncert_yes=$(openssl pkcs7 -inform DER -in "$T/cert.tok" -print_certs 2>/dev/null | grep -c BEGIN || true)
nt_check "$ncert_no == 0" "certReq false: token carries $ncert_no certificates"
nt_check "$ncert_yes -ge 1" "certReq true: token carries no certificate"
if openssl ts -verify -data "$T/doc.txt" -in "$T/nocert.tsr" -CAfile "$CA" >/dev/null 2>&1; then
    nt_fail "certReq false: verified without the TSA certificate (it must not be in the token)"
fi
openssl ts -verify -data "$T/doc.txt" -in "$T/nocert.tsr" -CAfile "$CA" \
    -untrusted "$D/pki/tsa.pem" >/dev/null 2>&1 || nt_fail "certReq false: token does not verify"

# Nonce echo, and no nonce when none was sent.
nonce_q=$(openssl ts -query -in "$T/sha256.tsq" -text 2>/dev/null | sed -n 's/^Nonce: //p')
nonce_r=$(openssl ts -reply -in "$T/sha256.tsr" -text 2>/dev/null | sed -n 's/^Nonce: //p')
nt_check "-n \"$nonce_q\" && \"$nonce_q\" == \"$nonce_r\"" "nonce not echoed: '$nonce_q' vs '$nonce_r'"
nt_tsq "$T/nononce.tsq" -data "$T/doc.txt" -sha256 -no_nonce -cert
nt_post_tsq "$T/nononce.tsq" "$T/nononce.tsr" >/dev/null
nonce_r=$(openssl ts -reply -in "$T/nononce.tsr" -text 2>/dev/null | sed -n 's/^Nonce: //p')
nt_check "\"$nonce_r\" == unspecified" "nonce '$nonce_r' in a reply to a query without one"

# POST / is the same endpoint.
code=$(nt_post_tsq "$T/sha512.tsq" "$T/root.tsr" "$NT_URL/")
nt_check "$code == 200" "POST /: HTTP $code"
openssl ts -verify -data "$T/doc.txt" -in "$T/root.tsr" -CAfile "$CA" >/dev/null 2>&1 ||
    nt_fail "POST /: token does not verify"

nt_stop
echo "tsa_algorithms: ok"
