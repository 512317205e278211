#!/usr/bin/env bash
# http_framing.sh - issue 13 items 8 and 15: requests whose framing is
# ambiguous (RFC 9112 section 6.3: two different Content-Length values, or
# Content-Length with Transfer-Encoding) get exactly one 400 with a JSON body
# naming the problem and the connection is closed, so that nothing smuggled in
# the body is ever read as a second request; an HTTP/1.1 request without Host
# or with two (section 3.2) gets 400; a request target with a percent-encoded
# NUL (%00), which used to be read as if truncated there, gets 400.  Raw bytes
# are sent with a small python3 client, which prints everything the server
# sends until it closes.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup
nt_start "$T/data"
ADDR=${NT_URL#http://}

# raw OUT REQUEST: send REQUEST (printf escapes), save every byte until the
# server closes (or 10 s pass: then the file ends with <OPEN>).
raw() {
    python3 - "$ADDR" "$2" >"$1" <<'PY'
import socket, sys
host, port = sys.argv[1].rsplit(':', 1)
data = sys.argv[2].encode().decode('unicode_escape').encode('latin1')
s = socket.create_connection((host, int(port)))
s.sendall(data)
s.settimeout(10)
out = b''
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
except socket.timeout:
    out += b'<OPEN>'
sys.stdout.write(out.decode('latin1'))
PY
}

# expect_400 NAME REQUEST MESSAGE-PATTERN: one 400 response, JSON naming the problem, closed.
expect_400() {
    local name="$1" req="$2" pattern="$3"
    raw "$T/$name.out" "$req"
    nt_check "$(grep -c '^HTTP/1.1 ' "$T/$name.out") == 1" "$name: not exactly one response: $(cat "$T/$name.out")"
    head -n1 "$T/$name.out" | grep -q '^HTTP/1.1 400 ' || nt_fail "$name: not 400: $(head -n1 "$T/$name.out")"
    grep -qi '^Connection: close' "$T/$name.out" || nt_fail "$name: no Connection: close"
    grep -q '<OPEN>' "$T/$name.out" && nt_fail "$name: the server kept the connection open"
    sed -n '/^\r$/,$p' "$T/$name.out" | tail -n +2 >"$T/$name.json"
    jq -e --arg p "$pattern" '.error == "bad_request" and (.message | test($p))' "$T/$name.json" \
        >/dev/null || nt_fail "$name: body does not name the problem: $(cat "$T/$name.json")"
}

H='Host: localhost\r\n'
JSON='Content-Type: application/json\r\n'

# Item 8: two different Content-Length values; the longer one would swallow a smuggled request.
expect_400 two_lengths "POST /v1/verify HTTP/1.1\r\n$H$JSON""Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}GET /healthz HTTP/1.1\r\n$H\r\n" \
    "conflicting Content-Length"
# Content-Length with Transfer-Encoding: the chunked body hides a second request.
expect_400 length_and_chunked "POST /v1/verify HTTP/1.1\r\n$H$JSON""Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\n$H\r\n" \
    "Content-Length and Transfer-Encoding"
# The same Content-Length twice is one length (RFC 9110 section 8.6): accepted.
raw "$T/same.out" "POST /v1/verify HTTP/1.1\r\n$H$JSON""Content-Length: 2\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
# (400 from /v1/verify itself, "{}" holds no receipt: what matters is the message.)
head -n1 "$T/same.out" | grep -q '^HTTP/1.1 400 ' || nt_fail "repeated equal Content-Length: $(head -n1 "$T/same.out")"
grep -q 'conflicting' "$T/same.out" && nt_fail "equal Content-Length values called conflicting"

# A Content-Length that is not a number: libmicrohttpd answers 400 itself before the
# server sees the request (0.9.75 repeats its header block: a library defect, see
# HTTP-API.md); what must hold is that the connection is closed and nothing behind
# the bad header is served as a request.
raw "$T/bad_length.out" "POST /v1/verify HTTP/1.1\r\n$H$JSON""Content-Length: 1x\r\n\r\nGET /healthz HTTP/1.1\r\n$H\r\n"
head -n1 "$T/bad_length.out" | grep -q '^HTTP/1.1 400 ' || nt_fail "bad Content-Length: $(head -n1 "$T/bad_length.out")"
grep -q '<OPEN>' "$T/bad_length.out" && nt_fail "bad Content-Length: the connection stayed open"
grep -q '^HTTP/1.1 200' "$T/bad_length.out" && nt_fail "bad Content-Length: a smuggled request was served"

# Item 15: Host.
expect_400 no_host "GET /healthz HTTP/1.1\r\n\r\n" "needs a Host header"
expect_400 two_hosts "GET /healthz HTTP/1.1\r\n$H$H\r\n" "more than one Host"
raw "$T/http10.out" "GET /healthz HTTP/1.0\r\n\r\n"
head -n1 "$T/http10.out" | grep -q ' 200 ' || nt_fail "HTTP/1.0 without Host: $(head -n1 "$T/http10.out")"

# Item 15: %00 in the path or the query, instead of a truncated lookup.
nt_tsq "$T/a.tsq" -digest "$(printf 'a%.0s' {1..64})" -sha256 -cert
nt_check "$(nt_post_tsq "$T/a.tsq" "$T/a.tsr") == 200" "token not granted"
expect_400 nul_path "GET /v1/receipt/0%00junk HTTP/1.1\r\n$H\r\n" "percent-encoded NUL"
expect_400 nul_query "GET /v1/receipts?digest=sha256:$(printf 'a%.0s' {1..64})%00x HTTP/1.1\r\n$H\r\n" \
    "percent-encoded NUL"
nt_check "$(nt_http GET "$NT_URL/v1/receipt/%30" "$T/r.json") == 200" "an encoded digit is refused"

# The server is still well after all of it.
nt_check "$(nt_http GET "$NT_URL/healthz" "$T/h.json") == 200" "/healthz after the bad requests"
nt_stop
echo "ok: ambiguous framing, missing or repeated Host and %00 are refused with one 400 and a close"
