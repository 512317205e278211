#!/usr/bin/env bash
# bench-hsm.sh - tokens/s with the TSA key in a file next to the same kind of
# key (EC P-256) in a SoftHSM2 token through the pkcs11 engine, in one run:
# a demo server (fsync'd ledger) driven by notarium-load for --duration
# seconds at each connection count, first with the demo's file key, then
# with a token key (certificate from the same dev root).  Figures are
# measurements of this machine, never asserted (docs/PERFORMANCE.md).
#
#   scripts/bench-hsm.sh [--duration 5] [--connections "1 16"] [--build DIR]
# Needs softhsm2, opensc (pkcs11-tool) and libengine-pkcs11-openssl.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
duration=5
conns="1 16"
build="$root/build"
while (($#)); do
    case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --connections) conns="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    *) echo "bench-hsm.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
NOTARIUM="$build/tools/notarium"
LOAD="$build/tools/notarium-load"
MODULE="${NT_SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}"
umask 077
work="$(mktemp -d "${TMPDIR:-/tmp}/notarium-bench-hsm.XXXXXX")"
pid=""
cleanup() {
    [[ -z "$pid" ]] || { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$work/tokens" >"$work/softhsm2.conf"
export SOFTHSM2_CONF="$work/softhsm2.conf"
softhsm2-util --init-token --free --label bench --pin 1234 --so-pin 5678 >/dev/null
pkcs11-tool --module "$MODULE" --token-label bench --login --pin 1234 --keypairgen \
    --key-type EC:prime256v1 --label tsa --id 01 >/dev/null 2>&1
printf '1234\n' >"$work/pin"
D="$work/data"

start() {
    rm -f "$D.port"
    "$NOTARIUM" serve --allow-root --data "$D" "$@" --listen 127.0.0.1:0 --port-file "$D.port" \
        >>"$D.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 1200); do
        [[ -s "$D.port" ]] && return 0
        kill -0 "$pid" 2>/dev/null || { tail -5 "$D.log" >&2; exit 1; }
        sleep 0.025
    done
    echo "bench-hsm.sh: the server did not start" >&2
    exit 1
}
stop() { kill -TERM "$pid"; wait "$pid" || true; pid=""; }
run() { # label
    for c in $conns; do
        line="$("$LOAD" --url "http://$(cat "$D.port")/tsa" --connections "$c" \
            --duration "$duration" | grep '^RESULT ' || true)"
        get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
        printf '| %-22s | %5s | %9s | %7s | %7s | %6s |\n' "$1" "$c" "$(get tps)" \
            "$(get p50_ms)" "$(get p99_ms)" "$(get errors)"
    done
}

NOTARIUM_TEST_CLOCK_SYNC=synced start --demo # creates the demo PKI and config
stop
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\nextendedKeyUsage=critical,timeStamping\n' >"$work/ext"
PKCS11_MODULE_PATH="$MODULE" openssl req -new -engine pkcs11 -keyform engine \
    -key "pkcs11:token=bench;object=tsa;type=private" -passin "file:$work/pin" \
    -subj "/O=Bench/CN=HSM TSA" -out "$work/hsm.csr" >/dev/null 2>&1
openssl x509 -req -in "$work/hsm.csr" -CA "$D/pki/ca.pem" -CAkey "$D/pki/ca.key" \
    -set_serial 7 -days 30 -extfile "$work/ext" -out "$work/hsm.pem" 2>/dev/null
cp "$D/config.json" "$work/config.file.json"
jq --arg m "$MODULE" --arg c "$work/hsm.pem" --arg p "$work/pin" \
    '.tsa.key = "pkcs11:token=bench;object=tsa;type=private" | .tsa.cert = $c |
     .pkcs11 = {module: $m, pin_file: $p}' "$work/config.file.json" >"$work/config.hsm.json"

echo "| key                    | conns | tokens/s  | p50 ms  | p99 ms  | errors |"
echo "|------------------------|-------|-----------|---------|---------|--------|"
for kind in file hsm; do
    cp "$work/config.$kind.json" "$D/config.json"
    NOTARIUM_TEST_CLOCK_SYNC=synced start
    run "ec-p256 $kind$([[ $kind == hsm ]] && echo ' (SoftHSM)')"
    stop
done
