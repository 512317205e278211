#!/usr/bin/env bash
# tls_reload.sh - the HTTPS credentials are replaced in a running server
# (server_tls_reload, reached through SIGHUP's server_reload, which reloads the
# identities and API keys too): a new certificate and key in place of the old files,
# then the reload, and new connections get the new certificate (its SHA-256
# read by openssl s_client) while /tsa keeps answering; a mismatched pair and a key
# readable by others are refused with a log line and the certificate in use
# keeps serving; the server never restarts (same PID throughout).  A connection
# verified against the first certificate gets a second answer after the reload.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

D="$T/data"
P="$T/pki"
mkdir -p "$P"
nt_start "$D" --log-level warn
nt_stop
pair() { # NAME
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=127.0.0.1/O=$1" -addext subjectAltName=IP:127.0.0.1 \
        -keyout "$P/$1.key" -out "$P/$1.pem" 2>/dev/null || nt_fail "openssl req $1"
    chmod 600 "$P/$1.key"
}
pair first
pair second
pair third
cp "$P/first.pem" "$P/cur.pem"
cp -p "$P/first.key" "$P/cur.key"
nt_config_set "$D" ".tls = {listen: \"127.0.0.1:0\", cert: \"$P/cur.pem\", key: \"$P/cur.key\"}"
nt_start_nodemo "$D" --log-level info
PID0=$NT_PID
HTTPS="$(sed -n 's/^tls //p' "$D.port")"

fp_of() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }
served() { # the SHA-256 of the certificate a new connection gets
    openssl s_client -connect "$HTTPS" -servername 127.0.0.1 </dev/null 2>/dev/null |
        openssl x509 -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1
}
reload() { # wait for the log line TEXT after SIGHUP
    local n0
    n0=$(grep -c 'tls: re' "$NT_LOG" || true)
    kill -HUP "$NT_PID"
    for _ in $(seq 1 400); do
        [[ "$(grep -c 'tls: re' "$NT_LOG" || true)" -gt "$n0" ]] && break
        sleep 0.025
    done
    grep 'tls: re' "$NT_LOG" | tail -n1 | grep -q "$1" || nt_fail "reload: want '$1' in the log"
}
stamp() { # a token over HTTPS, trusting CA
    nt_tsq "$T/q.tsq" -data "$T/q.tsq.in" -sha256 -cert
    curl -sS -o "$T/r.tsr" -w '%{http_code}' --cacert "$1" \
        -H 'Content-Type: application/timestamp-query' --data-binary @"$T/q.tsq" "https://$HTTPS/tsa"
}
echo x >"$T/q.tsq.in"
nt_check "$(served) == $(fp_of "$P/first.pem")" "the first certificate is not served"
nt_check "$(stamp "$P/first.pem") == 200" "/tsa over HTTPS with the first certificate"

# A connection opened before the reload (verified against the first certificate only):
# one RFC 3161 request now, the second on the same connection after the reload (POST:
# libmicrohttpd 0.9.75 closes after a reply queued before the body phase, so no GET).
nt_tsq "$T/k.tsq" -data "$T/q.tsq.in" -sha256
post_tsq() {
    printf 'POST /tsa HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/timestamp-query\r\n'
    printf 'Content-Length: %s\r\n\r\n' "$(stat -c %s "$T/k.tsq")"
    cat "$T/k.tsq"
}
answers() { # status lines in keep.out (a DER body ends without a newline: not anchored)
    grep -a -o 'HTTP/1.1 200 OK' "$T/keep.out" 2>/dev/null | wc -l
}
mkfifo "$T/gate"
(
    post_tsq
    read -r _ <"$T/gate"
    post_tsq
    sleep 2
) | openssl s_client -quiet -verify_quiet -verify_return_error -CAfile "$P/first.pem" \
    -connect "$HTTPS" >"$T/keep.out" 2>"$T/keep.err" &
KPID=$!
for _ in $(seq 1 400); do
    [[ "$(answers)" == 1 ]] && break
    sleep 0.025
done
nt_check "$(answers) == 1" "the first request of the kept connection"

# 1. the second pair: new connections get it
cp "$P/second.pem" "$P/cur.pem"
cp -p "$P/second.key" "$P/cur.key"
reload "tls: reloaded $P/cur.pem (certificate sha256 $(fp_of "$P/second.pem"))"
nt_check "$(served) == $(fp_of "$P/second.pem")" "the second certificate is not served after reload"
nt_check "$(stamp "$P/second.pem") == 200" "/tsa over HTTPS with the second certificate"
echo >"$T/gate"
for _ in $(seq 1 400); do
    [[ "$(answers)" == 2 ]] && break
    sleep 0.025
done
nt_check "$(answers) == 2" \
    "the connection opened before the reload did not get its second answer: $(cat "$T/keep.err")"
nt_check "$(grep -a -c '^Connection: close' "$T/keep.out") == 0" "the kept connection was closed"

# 2. a certificate with another key: refused, the second pair serves on
cp "$P/third.pem" "$P/cur.pem"
reload "tls: reload refused, the previous certificate keeps serving: .*the key is not the certificate's key"
nt_check "$(served) == $(fp_of "$P/second.pem")" "a refused reload changed the certificate"
# 3. the right key, but readable by others: refused
cp "$P/third.key" "$P/cur.key"
chmod 644 "$P/cur.key"
reload "tls: reload refused, the previous certificate keeps serving: tls.key: .*accessible by group or others"
nt_check "$(served) == $(fp_of "$P/second.pem")" "a refused reload changed the certificate"
nt_check "$(stamp "$P/second.pem") == 200" "/tsa after refused reloads"
# 4. fixed: the third pair is served
chmod 600 "$P/cur.key"
reload "tls: reloaded"
nt_check "$(served) == $(fp_of "$P/third.pem")" "the third certificate is not served"
nt_check "$NT_PID == $PID0 && -d /proc/$NT_PID" "the server restarted"
nt_stop
echo "PASS"
