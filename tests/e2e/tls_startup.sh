#!/usr/bin/env bash
# tls_startup.sh - the HTTPS listener's start-up checks and its other modes
# (issue 14): a TLS key group or others can read refuses the start with a line
# naming the file and its mode, a key that is not the certificate's refuses it
# too, and so does a client CA file without a certificate (twin: the same
# configuration with the right files starts).  An HTTPS-only server ("listen":
# null): the port file's first line is the HTTPS address and nothing answers
# plain HTTP there.  client_auth "required": a client without a certificate is
# refused in the handshake, a mapped certificate gets its 201.  The verifier's
# time-stamp client signs a report with a token from our server over HTTPS,
# trusting the test CA with --tsa-ca, and fails without it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

D="$T/data"
P="$T/pki"
mkdir -p "$P"
nt_start "$D" --log-level warn
nt_stop

ossl() { openssl "$@" 2>>"$T/openssl.log" || nt_fail "openssl $1 failed"; }
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=Test TLS CA" \
    -addext basicConstraints=critical,CA:true -keyout "$P/ca.key" -out "$P/ca.pem"
leaf() { # NAME SUBJECT EXT
    ossl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$2" \
        -keyout "$P/$1.key" -out "$P/$1.csr"
    printf '%s\n' "$3" >"$P/$1.ext"
    ossl x509 -req -in "$P/$1.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" -CAcreateserial -days 10 \
        -extfile "$P/$1.ext" -out "$P/$1.pem"
    chmod 600 "$P/$1.key"
}
leaf server "/CN=127.0.0.1" "subjectAltName=IP:127.0.0.1"
leaf other "/CN=127.0.0.1" "subjectAltName=IP:127.0.0.1"
leaf client "/CN=client" "extendedKeyUsage=clientAuth"
FP=$(openssl x509 -in "$P/client.pem" -noout -fingerprint -sha256 | sed 's/.*=//')
"$NOTARIUM" apikey new --id platform-a --tenant tenant-a >"$T/ka.txt" 2>/dev/null ||
    nt_fail "apikey new"
nt_config_set "$D" ".api_keys += [$(sed -n 2p "$T/ka.txt")]
    | .tls = {listen: \"127.0.0.1:0\", cert: \"$P/server.pem\", key: \"$P/server.key\"}"

# --- 1. start-up refusals ------------------------------------------------------
refused() { # NAME TEXT
    local name="$1" text="$2" rc=0
    timeout 60 "$NOTARIUM" serve --allow-root --data "$D" --listen 127.0.0.1:0 \
        >"$T/$name.out" 2>"$T/$name.err" || rc=$?
    nt_check "$rc == 1" "$name: exit status $rc, want 1"
    grep -qF "$text" "$T/$name.err" || nt_fail "$name: stderr lacks '$text': $(cat "$T/$name.err")"
}
for mode in 640 644 604; do
    chmod "$mode" "$P/server.key"
    refused "key$mode" "tls.key: $P/server.key is accessible by group or others (mode 0$mode)"
done
chmod 600 "$P/server.key"
nt_config_set "$D" ".tls.key = \"$P/other.key\""
refused mismatch "tls.key $P/other.key and tls.cert $P/server.pem: the key is not the certificate's key"
nt_config_set "$D" ".tls.key = \"$P/server.key\" | .tls.client_ca = \"$P/server.ext\""
refused noca "tls.client_ca $P/server.ext: no certificate in it"
nt_config_set "$D" ".tls.client_ca = \"$P/ca.pem\" | .tls.client_auth = \"required\""
refused nomap "tls.client_auth: required, but tls.clients maps no certificate"
nt_config_set "$D" ".tls.clients = [{sha256: \"$FP\", key_id: \"nobody\"}]"
refused nokey "tls.clients[0].key_id: no API key entry with id 'nobody' in api_keys"

# --- 2. HTTPS only, client certificates required --------------------------------
nt_config_set "$D" ".tls.clients = [{sha256: \"$FP\", key_id: \"platform-a\"}] | .listen = null"
PF="$T/https-only.port"
NT_LOG="$T/https-only.log"
"$NOTARIUM" serve --allow-root --data "$D" --port-file "$PF" >"$NT_LOG" 2>&1 &
NT_PID=$!
NT_PIDS+=("$NT_PID")
for _ in $(seq 1 1200); do
    [[ -s "$PF" ]] && break
    kill -0 "$NT_PID" 2>/dev/null || nt_fail "HTTPS-only server exited during start-up"
    sleep 0.025
done
ADDR=$(head -n1 "$PF")
nt_check "$(sed -n 's/^tls //p' "$PF") == $ADDR" "HTTPS-only port file: $(cat "$PF")"
C=(--cacert "$P/ca.pem" --cert "$P/client.pem" --key "$P/client.key")
code=$(curl -s -o "$T/h.json" -w '%{http_code}' "${C[@]}" "https://$ADDR/healthz" || true)
nt_check "$code == 200" "HTTPS-only /healthz with the client certificate: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$ADDR/healthz" || true)
nt_check "$code != 200" "plain HTTP answered on the HTTPS-only listener"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$P/ca.pem" "https://$ADDR/healthz" || true)
nt_check "$code == 000" "no client certificate on a required listener: HTTP $code"
code=$(curl -s -o "$T/m.txt" -w '%{http_code}' "${C[@]}" "https://$ADDR/metrics" || true)
nt_check "$code == 200" "/metrics over mTLS: $code"
grep -qx 'notarium_tls_client_refused_total 1' "$T/m.txt" ||
    nt_fail "the refusal is not counted: $(grep tls_client "$T/m.txt")"
grep -q 'tls: connection refused: no client certificate (tls.client_auth is required)' "$NT_LOG" ||
    nt_fail "no log line for the connection without a certificate"
H=$(printf x | sha256sum | cut -d' ' -f1)
code=$(curl -s -o "$T/e.json" -w '%{http_code}' "${C[@]}" -H 'Content-Type: application/json' \
    -d '{"digest":"sha256:'"$H"'","kind":"k"}' "https://$ADDR/v1/evidence" || true)
nt_check "$code == 201" "required listener, mapped certificate: HTTP $code: $(cat "$T/e.json")"

# --- 3. the verifier's time-stamp client over HTTPS -------------------------------
F="$NT_BIN_DIR/notarium-verify-fixture"
printf 'Contract 2026-14.\n' >"$T/contract.txt"
"$F" --out "$T/case" --document "$T/contract.txt" --origin "notarium.test/e2e" >/dev/null
args=(--document "$T/contract.txt" --receipt "$T/case/receipt.json" --trust "$T/case/ca.pem"
      --log-key "$T/case/log.vkey" --sign-key "$T/case/tsa.key" --sign-cert "$T/case/tsa.pem"
      --quiet)
# the client certificate is required here: let the verifier's client in without one
kill -TERM "$NT_PID"
wait "$NT_PID" || nt_fail "HTTPS-only server did not stop cleanly"
nt_config_set "$D" ".tls.client_auth = \"optional\""
NT_LOG="$T/https-only-2.log"
"$NOTARIUM" serve --allow-root --data "$D" --port-file "$PF.2" >"$NT_LOG" 2>&1 &
NT_PID=$!
NT_PIDS+=("$NT_PID")
for _ in $(seq 1 1200); do
    [[ -s "$PF.2" ]] && break
    kill -0 "$NT_PID" 2>/dev/null || nt_fail "HTTPS-only server exited during start-up"
    sleep 0.025
done
ADDR=$(head -n1 "$PF.2")
rc=0
"$NOTARIUM" verify "${args[@]}" --report-json "$T/r.json" --tsa "https://$ADDR/tsa" \
    --tsa-ca "$P/ca.pem" >"$T/v.out" 2>"$T/v.err" || rc=$?
nt_check "$rc == 0" "verify --tsa https://(native) --tsa-ca: exit $rc: $(cat "$T/v.err")"
cat "$D/pki/ca.pem" "$T/case/ca.pem" >"$T/both.pem"
rc=0
"$NOTARIUM" verify-report --report "$T/r.json" --signature "$T/r.json.p7s" \
    --trust "$T/both.pem" --require-timestamp >"$T/vr.out" 2>&1 || rc=$?
nt_check "$rc == 0" "verify-report of the report stamped over HTTPS: $(cat "$T/vr.out")"
rc=0
"$NOTARIUM" verify "${args[@]}" --report-json "$T/r2.json" --tsa "https://$ADDR/tsa" \
    >"$T/v2.out" 2>"$T/v2.err" || rc=$?
nt_check "$rc == 4" "verify --tsa https without --tsa-ca: exit $rc"
kill -TERM "$NT_PID"
wait "$NT_PID" || nt_fail "server did not stop cleanly"
NT_PID=""
echo "PASS"
