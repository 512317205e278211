#!/usr/bin/env bash
# tsa_key_files.sh - key-file hygiene and certificate expiry of the real
# server with file keys: the demo and the dev PKI write their key files 0600;
# a TSA key, log key, PKCS#12 file or passphrase file that group or others can
# read refuses the start with a line naming the file and its mode (twins: the
# same files at 0600 / 0400 start); the passphrase never reaches the log.  A
# TSA certificate with fewer than 30 days left starts with a warning in the
# log, and /metrics shows its days left.
source "$(dirname "$0")/lib.sh"
nt_setup

D="$T/data"
nt_start "$D"
nt_stop
for f in tsa.key ca.key log.key; do
    nt_check "$(stat -c %a "$D/pki/$f") == 600" "demo pki/$f is not 0600"
done
nt_check "$(stat -c %a "$D/demo-api-key") == 600" "demo-api-key is not 0600"

refused() { # name text
    local name="$1" text="$2" rc=0
    "$NOTARIUM" serve --allow-root --data "$D" --listen 127.0.0.1:0 >"$T/$name.out" 2>"$T/$name.err" || rc=$?
    nt_check "$rc == 1" "$name: exit status $rc, want 1"
    grep -qF "$text" "$T/$name.err" || nt_fail "$name: stderr lacks '$text': $(cat "$T/$name.err")"
}
for mode in 640 644 604; do
    chmod "$mode" "$D/pki/tsa.key"
    refused "tsakey$mode" "$D/pki/tsa.key is accessible by group or others (mode 0$mode)"
    chmod 600 "$D/pki/tsa.key"
    chmod "$mode" "$D/pki/log.key"
    refused "logkey$mode" "$D/pki/log.key is accessible by group or others (mode 0$mode)"
    chmod 600 "$D/pki/log.key"
done

# an encrypted key with its passphrase file, then the same as PKCS#12
PASS=correct-horse-battery
umask 077
printf '%s\n' "$PASS" >"$T/pass"
openssl pkey -in "$D/pki/tsa.key" -aes-256-cbc -passout "file:$T/pass" -out "$T/tsa.enc.key"
openssl pkcs12 -export -inkey "$D/pki/tsa.key" -in "$D/pki/tsa.pem" -certfile "$D/pki/ca.pem" \
    -passout "file:$T/pass" -out "$T/tsa.p12"
cp "$D/config.json" "$T/config.json"
nt_config_set "$D" ".tsa.key = \"$T/tsa.enc.key\" | .tsa.key_passphrase_file = \"$T/pass\""
nt_start_nodemo "$D"
nt_stop
chmod 644 "$T/pass"
refused passfile "$T/pass is accessible by group or others (mode 0644)"
chmod 400 "$T/pass"
cp "$T/config.json" "$D/config.json"
nt_config_set "$D" ".tsa.pkcs12 = \"$T/tsa.p12\" | .tsa.pkcs12_passphrase_file = \"$T/pass\""
nt_start_nodemo "$D"
nt_stop
chmod 640 "$T/tsa.p12"
refused p12 "$T/tsa.p12 is accessible by group or others (mode 0640)"
chmod 600 "$T/tsa.p12"
! grep -rqF "$PASS" "$D.log" "$T"/*.err || nt_fail "the passphrase appears in a log"

# a TSA certificate with 10 days left: the server starts, warns, and /metrics says so
S="$T/short"
"$NOTARIUM" pki init "$S/pki" --days 10 --origin example.test/short >/dev/null
nt_start "$S"
grep -q '"level":"warn".*TSA certificate CN=Notarium Demo TSA,O=Notarium Demo expires in [0-9] days' \
    "$NT_LOG" || nt_fail "no expiry warning at start"
curl -sS "$NT_URL/metrics" >"$T/metrics"
grep -Eq '^notarium_certificate_days_left\{role="tsa",subject="CN=Notarium Demo TSA,O=Notarium Demo",sha256="[0-9a-f]{64}",identity="tsa"\} (9|10)\.' \
    "$T/metrics" || nt_fail "metrics: $(grep days_left "$T/metrics")"
nt_stop
# twin: the demo's 825-day certificate starts without the warning
grep -q 'expires in' "$D.log" && nt_fail "a warning for a certificate with 825 days left"
echo "tsa_key_files: ok"
