#!/usr/bin/env bash
# pki_check.sh - `notarium pki check` on certificates made with the openssl
# command from the dev root (`notarium pki init`): a good TSA certificate
# exits 0; each defect (non-critical EKU, extra EKU, a CA certificate, the
# wrong key, expired, not yet valid, a key file others can read) gives its
# finding line and exit 1; several defects give several lines.  The expired
# and not-yet-valid certificates are issued under faketime.
source "$(dirname "$0")/lib.sh"
nt_setup
umask 077
P="$T/pki"
"$NOTARIUM" pki init "$P" --origin example.test/pki-check >/dev/null

# issue NAME EXTENSIONS [faketime date] [days]: a certificate for $P/tsa.key from the dev root
issue() {
    local name="$1" ext="$2" when="${3:-}" days="${4:-30}"
    printf '%s\n' "$ext" >"$T/$name.ext"
    openssl req -new -key "$P/tsa.key" -subj "/O=Test/CN=$name" -out "$T/$name.csr" 2>/dev/null
    local cmd=(openssl x509 -req -in "$T/$name.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key"
               -set_serial "0x$(openssl rand -hex 8)" -days "$days" -sha256 -extfile "$T/$name.ext"
               -out "$T/$name.pem")
    if [[ -n "$when" ]]; then
        faketime "$when" "${cmd[@]}" 2>/dev/null || nt_fail "openssl x509 under faketime failed"
    else
        "${cmd[@]}" 2>/dev/null || nt_fail "openssl x509 ($name) failed"
    fi
}
# check NAME [extra args]: run pki check on $T/NAME.pem; sets OUT and RC
check() {
    local name="$1"
    shift
    RC=0
    OUT=$("$NOTARIUM" pki check --cert "$T/$name.pem" --key "$P/tsa.key" --chain "$P/ca.pem" "$@") ||
        RC=$?
}
expect_defect() {
    local name="$1" finding="$2"
    shift 2
    check "$name" "$@"
    nt_check "$RC -eq 1" "$name: exit $RC, expected 1: $OUT"
    grep '^defect: ' <<<"$OUT" | grep -qF "defect: $finding" ||
        nt_fail "$name: no line 'defect: $finding' in: $OUT"
}

GOOD='basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,nonRepudiation
extendedKeyUsage=critical,timeStamping'

issue good "$GOOD" "" 365
check good
nt_check "$RC -eq 0" "good certificate: exit $RC: $OUT"
grep -q '^ok: no defect$' <<<"$OUT" || nt_fail "good certificate: no ok line: $OUT"
grep -q '^defect:' <<<"$OUT" && nt_fail "good certificate has a defect: $OUT"
grep -qE '^note: TSA certificate CN=good,O=Test valid until .* \((364|365) days left\)$' <<<"$OUT" ||
    nt_fail "good certificate: no days-left note: $OUT"
# 10 days of validity: under the 30-day threshold, a warning but no defect
issue short "$GOOD" "" 10
check short
nt_check "$RC -eq 0" "short certificate: exit $RC: $OUT"
grep -qE '^warning: TSA certificate CN=short,O=Test expires in (9|10) days, on ' <<<"$OUT" ||
    nt_fail "short certificate: no expiry warning: $OUT"
# the oracle agrees it is a time-stamping certificate
openssl verify -purpose timestampsign -CAfile "$P/ca.pem" "$T/good.pem" >/dev/null ||
    nt_fail "openssl verify rejects the good certificate"

issue eku_noncrit "${GOOD/extendedKeyUsage=critical,timeStamping/extendedKeyUsage=timeStamping}"
expect_defect eku_noncrit "extendedKeyUsage is not critical"

issue eku_extra "${GOOD/critical,timeStamping/critical,timeStamping,serverAuth}"
expect_defect eku_extra "extendedKeyUsage must be timeStamping only"

issue ca 'basicConstraints=critical,CA:TRUE
keyUsage=critical,digitalSignature,nonRepudiation
extendedKeyUsage=critical,timeStamping'
expect_defect ca "certificate is a CA"

# the right certificate, the wrong key (the root's)
RC=0
OUT=$("$NOTARIUM" pki check --cert "$T/good.pem" --key "$P/ca.key" --chain "$P/ca.pem") || RC=$?
nt_check "$RC -eq 1" "key mismatch: exit $RC"
grep -qxF "defect: private key does not match the certificate" <<<"$OUT" ||
    nt_fail "key mismatch: $OUT"

# valid for 30 days from 2020-01-01: long expired
issue expired "$GOOD" "2020-01-01 00:00:00"
expect_defect expired "certificate expired on 2020-01-31T00:00:" # faketime ticks on

# issued "in 2099": not yet valid
issue future "$GOOD" "2099-01-01 00:00:00"
expect_defect future "certificate not yet valid until 2099-01-01T00:00:"
nt_check "$(grep -c '^defect:' <<<"$OUT") -eq 1" "not yet valid: reported once: $OUT"

# a key file others can read: reported (the server refuses to start with it), the rest checked
chmod 644 "$P/tsa.key"
expect_defect good "key file $P/tsa.key is accessible by group or others (mode 0644): chmod 600 $P/tsa.key"
grep -q '^note: TSA certificate' <<<"$OUT" || nt_fail "readable key: the other checks did not run"
chmod 600 "$P/tsa.key"

# every defect, one a line: CA + extra EKU + wrong key
issue many 'basicConstraints=critical,CA:TRUE
keyUsage=critical,digitalSignature,nonRepudiation
extendedKeyUsage=critical,timeStamping,serverAuth'
RC=0
OUT=$("$NOTARIUM" pki check --cert "$T/many.pem" --key "$P/ca.key" --chain "$P/ca.pem") || RC=$?
nt_check "$RC -eq 1" "several defects: exit $RC"
nt_check "$(grep -c '^defect:' <<<"$OUT") -eq 3" "several defects, expected 3 lines: $OUT"

# a chain that does not lead to the certificate's issuer
"$NOTARIUM" pki init "$T/other" --origin example.test/other >/dev/null
RC=0
OUT=$("$NOTARIUM" pki check --cert "$T/good.pem" --key "$P/tsa.key" --chain "$T/other/ca.pem") ||
    RC=$?
nt_check "$RC -eq 1" "foreign chain: exit $RC"
grep -q '^defect: chain does not verify' <<<"$OUT" || nt_fail "foreign chain: $OUT"

# usage
RC=0
"$NOTARIUM" pki check --cert "$T/good.pem" >/dev/null 2>&1 || RC=$?
nt_check "$RC -eq 2" "no --key: exit $RC"
echo "pki_check: ok"
