#!/usr/bin/env bash
# hsm_softhsm.sh - the TSA key in a PKCS#11 token: a SoftHSM2 token in a
# temporary directory (SOFTHSM2_CONF), EC P-256 and RSA-2048 keys generated in
# it with pkcs11-tool, certificates for them from the dev root (CSR signed by
# the token through the openssl pkcs11 engine), the real server started with
# `tsa.key: "pkcs11:..."`, a PIN file and the module; its tokens verify with
# `openssl ts -verify`, and its receipts (checkpoint signed by the log key in
# a 0600 file, the documented fallback) with `notarium verify` and log.vkey.
# Twins, each refused at start with a clear line: a wrong PIN, a URI naming
# no object, a PIN file others can read, a PIN in the URI, the Ed25519 log key
# in the token (libp11 0.4.12 cannot use it).  The PIN never reaches a log.
source "$(dirname "$0")/lib.sh"
nt_setup
umask 077

MODULE="${NT_SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}"
[[ -r "$MODULE" ]] || nt_fail "no SoftHSM2 module at $MODULE (apt-get install softhsm2 opensc libengine-pkcs11-openssl)"
command -v pkcs11-tool >/dev/null || nt_fail "pkcs11-tool missing (apt-get install opensc)"
PIN=918273645
mkdir -p "$T/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$T/tokens" \
    >"$T/softhsm2.conf"
export SOFTHSM2_CONF="$T/softhsm2.conf"
# Token labels that are not prefixes of each other: pkcs11-tool matches --token-label by prefix.
softhsm2-util --init-token --free --label tsa --pin "$PIN" --so-pin 5678 >/dev/null
softhsm2-util --init-token --free --label logtok --pin "$PIN" --so-pin 5678 >/dev/null
p11() { pkcs11-tool --module "$MODULE" --login --pin "$PIN" "$@" >/dev/null 2>&1 || nt_fail "pkcs11-tool $*"; }
p11 --token-label tsa --keypairgen --key-type EC:prime256v1 --label tsa-ec --id 01
p11 --token-label tsa --keypairgen --key-type rsa:2048 --label tsa-rsa --id 02
p11 --token-label logtok --keypairgen --key-type EC:edwards25519 --label log --id 03
printf '%s\n' "$PIN" >"$T/pin"

# The demo data directory gives the dev root, the log key and a config to edit.
D="$T/data"
nt_start "$D"
nt_stop
EXT='basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,nonRepudiation
extendedKeyUsage=critical,timeStamping'
printf '%s\n' "$EXT" >"$T/tsa.ext"
for k in ec rsa; do
    # the CSR is signed inside the token (openssl + the pkcs11 engine, PIN from a file)
    PKCS11_MODULE_PATH="$MODULE" openssl req -new -engine pkcs11 -keyform engine \
        -key "pkcs11:token=tsa;object=tsa-$k;type=private" -passin "file:$T/pin" \
        -subj "/O=Notarium Test/CN=HSM TSA $k" -out "$T/$k.csr" >/dev/null 2>&1 ||
        nt_fail "openssl req through the engine ($k)"
    openssl x509 -req -in "$T/$k.csr" -CA "$D/pki/ca.pem" -CAkey "$D/pki/ca.key" \
        -set_serial "0x$(openssl rand -hex 8)" -days 365 -sha256 -extfile "$T/tsa.ext" \
        -out "$T/$k.pem" 2>/dev/null || nt_fail "openssl x509 -req ($k)"
done
cp "$D/config.json" "$T/config.demo.json"

# use_hsm KEYNAME URI [PIN member]: point the config at the token key
use_hsm() {
    local k="$1" uri="$2" pin="${3:-{\"pin_file\": \"$T/pin\"\}}"
    cp "$T/config.demo.json" "$D/config.json"
    nt_config_set "$D" ".tsa.key = \"$uri\" | .tsa.cert = \"$T/$k.pem\" |
        .pkcs11 = ({\"module\": \"$MODULE\"} + $pin)"
}

echo "signed contract" >"$T/doc.txt"
for k in ec rsa; do
    use_hsm "$k" "pkcs11:token=tsa;object=tsa-$k;type=private"
    nt_start_nodemo "$D"
    grep -q "TSA key in a PKCS#11 token" "$NT_LOG" || nt_fail "$k: no log line for the token key"
    code=$(nt_http GET "$NT_URL/healthz" "$T/h.json")
    nt_check "$code == 200" "$k: /healthz HTTP $code"
    want=$([[ $k == ec ]] && echo ec-p256 || echo rsa-2048)
    nt_check "$(jq -r .key.type "$T/h.json") == $want" "$k: key type $(jq -r .key.type "$T/h.json")"
    for i in 1 2 3; do
        nt_tsq "$T/$k.$i.tsq" -data "$T/doc.txt" -sha256 -cert
        code=$(nt_post_tsq "$T/$k.$i.tsq" "$T/$k.$i.tsr")
        nt_check "$code == 200" "$k: POST /tsa HTTP $code"
        nt_check "$(nt_reply_status "$T/$k.$i.tsr") == Granted" "$k: not granted"
        openssl ts -verify -data "$T/doc.txt" -in "$T/$k.$i.tsr" -CAfile "$D/pki/ca.pem" \
            >/dev/null 2>&1 || nt_fail "$k: openssl ts -verify rejected token $i"
    done
    # signed by the token's key: the token names our HSM certificate
    openssl ts -reply -in "$T/$k.1.tsr" -token_out -out "$T/$k.tok" 2>/dev/null
    openssl pkcs7 -inform DER -in "$T/$k.tok" -print_certs 2>/dev/null | grep -q "CN = HSM TSA $k" ||
        nt_fail "$k: the token does not carry the HSM certificate"
    # receipt: token + inclusion proof + checkpoint signed by the log key, checked with log.vkey
    hex=$(nt_sha256 "$T/doc.txt")
    code=$(nt_http GET "$NT_URL/v1/receipts?digest=sha256:$hex" "$T/list.json")
    nt_check "$code == 200" "$k: GET /v1/receipts HTTP $code"
    jq '.receipts[-1]' "$T/list.json" >"$T/$k.receipt.json"
    RC=0
    "$NOTARIUM" verify --document "$T/doc.txt" --receipt "$T/$k.receipt.json" \
        --trust "$D/pki/ca.pem" --log-key "$D/pki/log.vkey" --quiet || RC=$?
    nt_check "$RC -eq 0" "$k: notarium verify exit $RC"
    # /metrics: days left of the HSM certificate and of the root
    curl -sS "$NT_URL/metrics" >"$T/metrics"
    grep -q "^notarium_certificate_days_left{role=\"tsa\",subject=\"CN=HSM TSA $k,O=Notarium Test\",sha256=\"[0-9a-f]\{64\}\",identity=\"tsa\"} 36[45]\." "$T/metrics" ||
        nt_fail "$k: no days_left gauge for the HSM certificate: $(grep days_left "$T/metrics")"
    grep -q '^notarium_certificate_days_left{role="chain",' "$T/metrics" ||
        nt_fail "$k: no days_left gauge for the root"
    nt_stop
done

# refused ARGS...: start must fail (exit 1) with this text on stderr
refused() {
    local name="$1" text="$2" rc=0
    "$NOTARIUM" serve --allow-root --data "$D" --listen 127.0.0.1:0 >"$T/$name.out" 2>"$T/$name.err" || rc=$?
    nt_check "$rc == 1" "$name: exit status $rc, want 1: $(cat "$T/$name.err")"
    grep -qF "$text" "$T/$name.err" || nt_fail "$name: stderr lacks '$text': $(cat "$T/$name.err")"
    ! grep -q "$PIN" "$T/$name.err" "$T/$name.out" || nt_fail "$name: the PIN appears in the output"
}

# wrong PIN
printf '111111\n' >"$T/wrong-pin"
use_hsm ec "pkcs11:token=tsa;object=tsa-ec;type=private" "{\"pin_file\": \"$T/wrong-pin\"}"
refused wrongpin "the token refused the PIN"
# the PIN from the environment: the right one starts, a missing variable is refused
use_hsm ec "pkcs11:token=tsa;object=tsa-ec;type=private" '{"pin_env": "NT_TEST_HSM_PIN"}'
refused nopinenv "the environment variable NT_TEST_HSM_PIN is not set"
NT_TEST_HSM_PIN="$PIN" nt_start_nodemo "$D"
nt_tsq "$T/env.tsq" -data "$T/doc.txt" -sha256 -cert
nt_check "$(nt_post_tsq "$T/env.tsq" "$T/env.tsr") == 200" "PIN from the environment: POST /tsa"
nt_stop
# a URI naming no object
use_hsm ec "pkcs11:token=tsa;object=no-such-key;type=private"
refused noobject "no such private key"
# a PIN file others can read
chmod 644 "$T/pin"
use_hsm ec "pkcs11:token=tsa;object=tsa-ec;type=private"
refused pinmode "$T/pin is accessible by group or others (mode 0644)"
chmod 600 "$T/pin"
# the PIN in the URI (it would sit in config.json)
use_hsm ec "pkcs11:token=tsa;object=tsa-ec;type=private;pin-value=$PIN"
refused pinuri "must not carry the PIN"
# the log key in the token: Ed25519 through libp11 0.4.12 does not work; say so
use_hsm ec "pkcs11:token=tsa;object=tsa-ec;type=private"
nt_config_set "$D" '.ledger.log_key = "pkcs11:token=logtok;object=log;type=private"'
refused logkey "cannot use Ed25519 token keys: keep the log key in a PEM file"

# The PIN never reached a log line.
! grep -rq "$PIN" "$D.log" "$D/config.json" || nt_fail "the PIN appears in the server log or config"
echo "hsm_softhsm: ok"
