#!/usr/bin/env bash
# tsa_sm2.sh - an SM2 identity end to end (GB/T 20520 profile; docs/KEYS.md):
# `notarium pki init --key-type sm2`, the real server whose one identity is
# SM2, `openssl ts -query` with SHA-256 and SM3 imprints (OID
# 1.2.156.10197.1.401).  An independent implementation, BouncyCastle (Debian
# libbcprov-java + libbcpkix-java, tests/java/TokenCheck.java compiled here
# with javac into the test's scratch directory), validates every token
# (TimeStampToken.validate with a SignerInformationVerifier for the SM2
# certificate) and sees signatureAlgorithm SM2-with-SM3 (1.2.156.10197.1.501);
# a token with one flipped signature or TSTInfo byte fails in it; the same
# program passes an ECDSA token of an EC P-256 server and fails it against the
# SM2 certificate (so the program can both pass and fail).  `openssl ts
# -verify` refuses the SM2 token (documented in docs/KEYS.md); our verifier
# (`notarium verify`, SM3 document digest) and `notarium audit --trust` on
# the mirror pass it; GET /v1/receipts takes sm3:<hex>.  Error path: an SM2
# key with signing_digest sha256 (what --demo writes) is refused at start-up
# with a clear line.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

: "${NT_SOURCE_DIR:?NT_SOURCE_DIR must name the source tree}"
BC_CP=/usr/share/java/bcprov.jar:/usr/share/java/bcpkix.jar:/usr/share/java/bcutil.jar
for f in ${BC_CP//:/ }; do
    [[ -r "$f" ]] || nt_fail "$f missing: install libbcprov-java libbcpkix-java (scripts/debian-packages.txt)"
done
command -v javac >/dev/null || nt_fail "javac missing: install default-jdk-headless"
mkdir -p "$T/java"
javac -d "$T/java" -cp "$BC_CP" "$NT_SOURCE_DIR/tests/java/TokenCheck.java" ||
    nt_fail "javac TokenCheck.java failed"
bc_check() { java -cp "$T/java:$BC_CP" TokenCheck "$@"; }
run() { set +e; "$@"; RC=$?; set -e; }

echo "SM2 test contract" >"$T/doc.txt"
SHA=$(openssl dgst -sha256 -r "$T/doc.txt" | cut -d' ' -f1)
SM3=$(openssl dgst -sm3 -r "$T/doc.txt" | cut -d' ' -f1)
D="$T/sm2"
"$NOTARIUM" pki init "$D/pki" --key-type sm2 >/dev/null || nt_fail "pki init --key-type sm2 failed"
openssl x509 -in "$D/pki/tsa.pem" -noout -text | grep -q "Signature Algorithm: SM2-with-SM3" ||
    nt_fail "the SM2 TSA certificate is not signed SM2-with-SM3"

# Error path: the demo configuration says signing_digest sha256; an SM2 key refuses it.
run "$NOTARIUM" serve --allow-root --demo --data "$D" --listen 127.0.0.1:0 >"$T/refused.log" 2>&1
nt_check "$RC -ne 0" "an SM2 key with signing_digest sha256 started"
grep -q "an SM2 key signs with SM3, not signing_digest sha256" "$T/refused.log" ||
    nt_fail "no clear refusal line: $(tail -2 "$T/refused.log")"
nt_config_set "$D" '.tsa.signing_digest = "sm3"'
nt_start "$D"
code=$(nt_http GET "$NT_URL/healthz" "$T/health.json")
nt_check "$code == 200 && \"$(jq -r .key.type "$T/health.json")\" == sm2" "/healthz key type"

for alg in sha256 sm3; do
    want=$([[ $alg == sm3 ]] && echo "$SM3" || echo "$SHA")
    oid=$([[ $alg == sm3 ]] && echo 1.2.156.10197.1.401 || echo 2.16.840.1.101.3.4.2.1)
    nt_tsq "$T/$alg.tsq" -data "$T/doc.txt" "-$alg" -cert
    code=$(nt_post_tsq "$T/$alg.tsq" "$T/$alg.tsr")
    nt_check "$code == 200" "$alg: HTTP $code"
    nt_check "\"$(nt_reply_status "$T/$alg.tsr")\" == Granted" "$alg: not granted"
    out=$(bc_check "$T/$alg.tsr" "$D/pki/tsa.pem" "$want") || nt_fail "$alg: BouncyCastle: $out"
    [[ "$out" == "ok 1.2.156.10197.1.501 $oid "* ]] || nt_fail "$alg: BouncyCastle says '$out'"
done
# without certReq: the token carries no certificate, BouncyCastle is given it
nt_tsq "$T/nocert.tsq" -data "$T/doc.txt" -sm3
code=$(nt_post_tsq "$T/nocert.tsq" "$T/nocert.tsr")
nt_check "$code == 200" "no certReq: HTTP $code"
out=$(bc_check "$T/nocert.tsr" "$D/pki/tsa.pem" "$SM3") || nt_fail "no certReq: BouncyCastle: $out"

# Tampered twins: the signature's last byte, then one byte of the TSTInfo's genTime.
flip() { # in out offset
    cp "$1" "$2"
    local b
    b=$(od -An -tu1 -j "$3" -N1 "$1" | tr -d ' ')
    printf "$(printf '\\%03o' $(((b ^ 1) & 255)))" | dd of="$2" bs=1 seek="$3" conv=notrunc 2>/dev/null
}
size=$(stat -c %s "$T/sm3.tsr")
flip "$T/sm3.tsr" "$T/bad-sig.tsr" $((size - 1))
run bc_check "$T/bad-sig.tsr" "$D/pki/tsa.pem"
nt_check "$RC -ne 0" "BouncyCastle accepted an SM2 token with a flipped signature byte"
year=$(date -u +%Y)
off=$(grep -abo "$year[0-9]\{10\}" "$T/sm3.tsr" | head -n1 | cut -d: -f1)
nt_check "-n \"$off\"" "genTime not found in the token"
flip "$T/sm3.tsr" "$T/bad-tst.tsr" $((off + 13))
run bc_check "$T/bad-tst.tsr" "$D/pki/tsa.pem"
nt_check "$RC -ne 0" "BouncyCastle accepted an SM2 token with a changed genTime"

# openssl ts -verify cannot check SM2 tokens (OpenSSL 3.0: no SM2 identifier in
# its chain or PKCS7 checks); docs/KEYS.md says so.
run openssl ts -verify -data "$T/doc.txt" -in "$T/sm3.tsr" -CAfile "$D/pki/ca.pem"
nt_check "$RC -ne 0" "openssl ts -verify now accepts SM2 tokens: update docs/KEYS.md"

# our verifier: the receipt by its SM3 digest, the document hashed with SM3
code=$(nt_http GET "$NT_URL/v1/receipts?digest=sm3:$SM3" "$T/list.json")
nt_check "$code == 200" "GET /v1/receipts?digest=sm3:...: HTTP $code"
jq '.receipts[0]' "$T/list.json" >"$T/r.json"
run "$NOTARIUM" verify --document "$T/doc.txt" --receipt "$T/r.json" --trust "$D/pki/ca.pem" \
    --log-key "$D/pki/log.vkey" --report-json "$T/r.report.json" --quiet
nt_check "$RC -eq 0" "notarium verify of the SM2 token: exit $RC: $(jq -c .steps "$T/r.report.json" 2>/dev/null)"
nt_check "\"$(jq -r .timestamp.message_imprint.algorithm "$T/r.report.json")\" == sm3" "report imprint"
nt_check "\"$(jq -r .timestamp.qualified_tsu "$T/r.report.json")\" == false" "qualified_tsu"
jq '.token |= (.[0:-8] + (if .[-8:-7] == "A" then "B" else "A" end) + .[-7:])' "$T/r.json" >"$T/r.bad.json"
run "$NOTARIUM" verify --document "$T/doc.txt" --receipt "$T/r.bad.json" --trust "$D/pki/ca.pem" \
    --log-key "$D/pki/log.vkey" --report-json "$T/r.bad.report.json" --quiet
nt_check "$RC -ne 0" "notarium verify accepted an SM2 token with a changed signature"
code=$(nt_http GET "$NT_URL/v1/receipts?digest=sm3:00" "$T/bad.json")
nt_check "$code == 400" "sm3 digest of 1 byte: HTTP $code"

# the auditor replays the mirror and checks every SM2 token against the SM2 chain (it holds
# the TSA certificate for the token issued without certReq); the mirror holds the signing
# certificates' leaves (kind 0x04, each with its token) and the three tokens
C=$(nt_cert_leaves)
nt_check "$C -ge 1" "no certificate leaf recorded"
for _ in $(seq 1 200); do
    [[ "$(git -C "$D/mirror.git" cat-file blob main:checkpoint 2>/dev/null | sed -n 2p)" == $((C + 3)) ]] && break
    sleep 0.1
done
run "$NOTARIUM" audit --log-key "$D/pki/log.vkey" --trust "$D/pki/chain.pem" --no-progress \
    "$D/mirror.git" >"$T/audit.out" 2>&1
nt_check "$RC -eq 0" "audit of the SM2 mirror: $(cat "$T/audit.out")"
grep -q " $((C + 3)) token signatures" "$T/audit.out" ||
    nt_fail "audit did not check $C + 3 tokens: $(cat "$T/audit.out")"
nt_stop

# A known-good ECDSA token passes the same program, and fails against the SM2 certificate.
E="$T/ec"
"$NOTARIUM" pki init "$E/pki" --key-type ec-p256 >/dev/null
nt_start "$E"
nt_tsq "$T/ec.tsq" -data "$T/doc.txt" -sha256 -cert
code=$(nt_post_tsq "$T/ec.tsq" "$T/ec.tsr")
nt_check "$code == 200" "ECDSA: HTTP $code"
out=$(bc_check "$T/ec.tsr" "$E/pki/tsa.pem" "$SHA") || nt_fail "ECDSA: BouncyCastle: $out"
[[ "$out" == "ok 1.2.840.10045.4.3.2 "* ]] || nt_fail "ECDSA: BouncyCastle says '$out'"
run bc_check "$T/ec.tsr" "$D/pki/tsa.pem"
nt_check "$RC -ne 0" "BouncyCastle accepted an ECDSA token with the SM2 certificate"
nt_stop
echo "tsa_sm2: ok"
