#!/usr/bin/env bash
# tsa_rejections.sh - every RFC 3161 rejection the server sends, each as a
# DER TimeStampResp with HTTP 200 and the right PKIFailureInfo as
# `openssl ts -reply -text` reads it, each with its positive twin:
#   SHA-1, MD5 imprints        badAlg            (granted once allow_sha1 / allow_md5)
#   wrong imprint length       badDataFormat     (crafted with openssl asn1parse -genconf)
#   version 2                  badRequest        (crafted)
#   unaccepted extension       unacceptedExtension (granted once listed in accepted_extensions)
#   garbage / truncated body   badDataFormat
#   BER, not DER               badDataFormat     (certReq 01/7f/FALSE, empty extensions, nonce 0005)
#   unaccepted policy          unacceptedPolicy  (the configured policy is granted)
#   clock unsynchronised       timeNotAvailable  (NOTARIUM_TEST_CLOCK_SYNC=unsynced, not allowed)
# and a rejection writes nothing: the tree size is unchanged.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

D="$T/data"
nt_start "$D"
CA="$D/pki/ca.pem"
POLICY=$(jq -r .tsa.policy "$D/config.json")
echo "rejection test" >"$T/doc.txt"
HASH=$(nt_sha256 "$T/doc.txt")

tree_size() { curl -sS "$NT_URL/v1/checkpoint" | sed -n 2p; }

expect_reject() { # name query-file expected-failure-info-substring
    local name="$1" q="$2" want="$3" code status info
    code=$(nt_post_tsq "$q" "$T/$name.tsr")
    nt_check "$code == 200" "$name: HTTP $code (a rejection is still HTTP 200)"
    status=$(nt_reply_status "$T/$name.tsr")
    info=$(nt_reply_failinfo "$T/$name.tsr")
    nt_check "\"$status\" == Rejected" "$name: status '$status', want Rejected"
    [[ "$info" == *"$want"* ]] || nt_fail "$name: failure info '$info', want '$want'"
}

expect_grant() { # name query-file
    local code
    code=$(nt_post_tsq "$2" "$T/$1.tsr")
    nt_check "$code == 200" "$1: HTTP $code"
    nt_check "\"$(nt_reply_status "$T/$1.tsr")\" == Granted" "$1: not granted"
}

genconf() { # out-file version hash-oid hash-hex [extension-oid]
    local out="$1" cnf="$1.cnf"
    {
        echo "asn1=SEQUENCE:req"
        echo "[req]"
        echo "version=INTEGER:$2"
        echo "imprint=SEQUENCE:imprint"
        [[ -n "${5:-}" ]] && echo "exts=IMPLICIT:0,SEQUENCE:exts"
        echo "[imprint]"
        echo "alg=SEQUENCE:alg"
        echo "hash=FORMAT:HEX,OCTETSTRING:$4"
        echo "[alg]"
        echo "oid=OID:$3"
        echo "null=NULL"
        if [[ -n "${5:-}" ]]; then
            echo "[exts]"
            echo "e1=SEQUENCE:ext1"
            echo "[ext1]"
            echo "id=OID:$5"
            echo "val=FORMAT:HEX,OCTETSTRING:0500"
        fi
    } >"$cnf"
    openssl asn1parse -genconf "$cnf" -out "$out" -noout >/dev/null || nt_fail "genconf $out"
}

size0=$(tree_size)
BADALG="unrecognized or unsupported algorithm"
nt_tsq "$T/sha1.tsq" -data "$T/doc.txt" -sha1 -cert
nt_tsq "$T/md5.tsq" -data "$T/doc.txt" -md5 -cert
expect_reject sha1 "$T/sha1.tsq" "$BADALG"
expect_reject md5 "$T/md5.tsq" "$BADALG"

genconf "$T/shortlen.der" 1 sha256 "${HASH:0:40}"
expect_reject imprint-length "$T/shortlen.der" "wrong format"
genconf "$T/ok.der" 1 sha256 "$HASH"
expect_grant crafted-v1 "$T/ok.der"
genconf "$T/v2.der" 2 sha256 "$HASH"
expect_reject version2 "$T/v2.der" "not permitted or supported"
genconf "$T/ext.der" 1 sha256 "$HASH" 1.2.3.4.5.6
expect_reject extension "$T/ext.der" "extension is not supported"

head -c 300 /dev/urandom >"$T/garbage.bin"
expect_reject garbage "$T/garbage.bin" "wrong format"
nt_tsq "$T/full.tsq" -data "$T/doc.txt" -sha256 -cert
head -c $(($(stat -c %s "$T/full.tsq") - 5)) "$T/full.tsq" >"$T/truncated.tsq"
expect_reject truncated "$T/truncated.tsq" "wrong format"
: >"$T/empty.tsq"
expect_reject empty "$T/empty.tsq" "wrong format"

nt_tsq "$T/policy.tsq" -data "$T/doc.txt" -sha256 -cert -tspolicy 1.2.3.4.99
expect_reject policy "$T/policy.tsq" "policy is not supported"
nt_tsq "$T/ourpolicy.tsq" -data "$T/doc.txt" -sha256 -cert -tspolicy "$POLICY"
expect_grant our-policy "$T/ourpolicy.tsq"
openssl ts -reply -in "$T/our-policy.tsr" -text 2>/dev/null | grep -q "Policy OID: $POLICY" ||
    nt_fail "token does not carry the requested policy $POLICY"

# Rejections wrote nothing: only the 2 grants above were appended.
size1=$(tree_size)
nt_check "$size1 == $((size0 + 2))" "tree size $size0 -> $size1 after 2 grants and 9 rejections"

# Strict DER (issue 13 item 9): encodings OpenSSL decodes and re-encodes unchanged, so a
# round trip cannot see them: BOOLEAN TRUE as 01 or 7f (X.690 11.1: ff), certReq FALSE
# spelled out (11.5: a DEFAULT is omitted), an empty extensions [0] (RFC 5280: SIZE 1..MAX),
# a nonce with a leading zero (8.3.2, crafted with printf).  Each is badDataFormat and writes nothing; the DER
# twin (certReq ff) is granted.
craft() { # out-file [req] line...
    local out="$1" cnf="$1.cnf"
    shift
    {
        echo "asn1=SEQUENCE:req"
        echo "[req]"
        echo "version=INTEGER:1"
        echo "imprint=SEQUENCE:imprint"
        printf '%s\n' "$@"
        echo "[imprint]"
        echo "alg=SEQUENCE:alg"
        echo "hash=FORMAT:HEX,OCTETSTRING:$HASH"
        echo "[alg]"
        echo "oid=OID:sha256"
        echo "null=NULL"
        echo "[exts]"
    } >"$cnf"
    openssl asn1parse -genconf "$cnf" -out "$out" -noout >/dev/null || nt_fail "genconf $out"
}
expect_not_der() { # name file reason
    expect_reject "$1" "$2" "wrong format"
    grep -aq "$3" "$T/$1.tsr" || nt_fail "$1: statusString lacks '$3'"
}
craft "$T/bool-ff.der" "certreq=BOOLEAN:TRUE"
expect_grant certreq-ff "$T/bool-ff.der"
craft "$T/bool-01.der" "certreq=IMPLICIT:1U,FORMAT:HEX,OCTETSTRING:01"
expect_not_der certreq-01 "$T/bool-01.der" "a BOOLEAN is 00 or ff"
craft "$T/bool-7f.der" "certreq=IMPLICIT:1U,FORMAT:HEX,OCTETSTRING:7f"
expect_not_der certreq-7f "$T/bool-7f.der" "a BOOLEAN is 00 or ff"
craft "$T/bool-false.der" "certreq=BOOLEAN:FALSE"
expect_not_der certreq-false "$T/bool-false.der" "certReq FALSE is the DEFAULT"
craft "$T/exts-empty.der" "certreq=BOOLEAN:TRUE" "exts=IMPLICIT:0,SEQUENCE:exts"
expect_not_der extensions-empty "$T/exts-empty.der" "empty extensions"
# A nonce 02 02 00 05 (not minimal): genconf itself refuses to write it; printf does.
{ head -c 1 "$T/bool-ff.der"; printf "\\x$(printf %02x $(($(od -An -tu1 -j1 -N1 "$T/bool-ff.der") + 1)))";
  tail -c +3 "$T/bool-ff.der" | head -c -3; printf '\x02\x02\x00\x05'; } >"$T/nonce-00.der"
expect_reject nonce-leading-zero "$T/nonce-00.der" "wrong format"
nt_check "$(tree_size) == $((size1 + 1))" "non-DER requests wrote leaves: $size1 -> $(tree_size)"

# Positive twins of the operator switches: SHA-1, MD5 and the extension accepted when allowed.
nt_stop
nt_config_set "$D" '.tsa.allow_sha1 = true | .tsa.allow_md5 = true | .tsa.accepted_extensions = ["1.2.3.4.5.6"]'
nt_start "$D"
expect_grant sha1-allowed "$T/sha1.tsq"
expect_grant md5-allowed "$T/md5.tsq"
expect_grant extension-allowed "$T/ext.der"
openssl ts -verify -data "$T/doc.txt" -in "$T/sha1-allowed.tsr" -CAfile "$CA" >/dev/null 2>&1 ||
    nt_fail "SHA-1 token does not verify"
nt_stop

# timeNotAvailable: clock reported unsynchronised and the operator does not allow it.
nt_config_set "$D" '.tsa.allow_unsynced_clock = false'
NOTARIUM_TEST_CLOCK_SYNC=unsynced nt_start "$D"
expect_reject unsynced "$T/full.tsq" "time source is not available"
code=$(nt_http GET "$NT_URL/healthz" "$T/unsynced-health.json")
nt_check "$code == 503" "/healthz with an unsynchronised clock: HTTP $code, want 503"
nt_check "\"$(jq -r .ready "$T/unsynced-health.json")\" == false" "/healthz says ready"
code=$(nt_http POST "$NT_URL/v1/evidence" "$T/unsynced-ev.json" \
    -H "Authorization: Bearer $(cat "$D/demo-api-key")" -H 'Content-Type: application/json' \
    -d "{\"digest\":\"sha256:$HASH\",\"kind\":\"test\"}")
nt_check "$code == 503" "evidence with an unsynchronised clock: HTTP $code"
nt_stop
NOTARIUM_TEST_CLOCK_SYNC=synced nt_start "$D"
expect_grant synced "$T/full.tsq"
nt_stop
echo "tsa_rejections: ok"
