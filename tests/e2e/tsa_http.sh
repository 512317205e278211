#!/usr/bin/env bash
# tsa_http.sh - the HTTP rules around the RFC 3161 endpoint: accepted
# Content-Type variants (case, parameters, the legacy timestamp-request) get
# tokens; a wrong or missing Content-Type is 415, a wrong method 405 with an
# Allow header, a body over max_body 413 (declared or chunked), an unknown
# path 404 -- each with a short JSON error body -- and none of them writes a
# leaf.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

D="$T/data"
nt_start "$D"
echo "http rules" >"$T/doc.txt"
nt_tsq "$T/q.tsq" -data "$T/doc.txt" -sha256 -cert
tree_size() { curl -sS "$NT_URL/v1/checkpoint" | sed -n 2p; }
size0=$(tree_size)

post_ct() { # content-type out
    curl -sS -o "$2" -w '%{http_code}' -H "Content-Type: $1" --data-binary @"$T/q.tsq" "$NT_URL/tsa"
}

n=0
for ct in "application/timestamp-query" "Application/TimeStamp-Query" \
    "application/timestamp-query; charset=binary" "application/timestamp-query ;foo=bar" \
    "application/timestamp-request"; do
    n=$((n + 1))
    code=$(post_ct "$ct" "$T/ct$n.tsr")
    nt_check "$code == 200" "Content-Type '$ct': HTTP $code"
    nt_check "\"$(nt_reply_status "$T/ct$n.tsr")\" == Granted" "Content-Type '$ct': not granted"
done

expect_json_error() { # name code file
    local ctype err
    nt_check "$2 == $3" "$1: HTTP $2, want $3"
    err=$(jq -r .error "$4" 2>/dev/null || true)
    nt_check "-n \"$err\" && \"$err\" != null" "$1: no JSON error body: $(head -c 200 "$4")"
}

for ct in "application/octet-stream" "text/plain" "application/timestamp-queryx" "application/json"; do
    code=$(post_ct "$ct" "$T/415.json")
    expect_json_error "Content-Type '$ct'" "$code" 415 "$T/415.json"
done
code=$(curl -sS -o "$T/415b.json" -w '%{http_code}' -H 'Content-Type:' --data-binary @"$T/q.tsq" "$NT_URL/tsa")
expect_json_error "no Content-Type" "$code" 415 "$T/415b.json"

for m in GET PUT DELETE PATCH; do
    code=$(curl -sS -o "$T/405.json" -D "$T/405.hdr" -w '%{http_code}' -X "$m" "$NT_URL/tsa")
    expect_json_error "$m /tsa" "$code" 405 "$T/405.json"
    grep -qi '^Allow: POST' "$T/405.hdr" || nt_fail "$m /tsa: no 'Allow: POST' header"
done
code=$(curl -sS -o "$T/405g.json" -D "$T/405g.hdr" -w '%{http_code}' -X POST -d x "$NT_URL/healthz")
expect_json_error "POST /healthz" "$code" 405 "$T/405g.json"
grep -qi '^Allow: GET' "$T/405g.hdr" || nt_fail "POST /healthz: no 'Allow: GET' header"

max=$(jq .max_body "$D/config.json")
head -c $((max + 1)) /dev/zero >"$T/big.bin"
code=$(curl -sS -o "$T/413.json" -w '%{http_code}' -H 'Content-Type: application/timestamp-query' \
    --data-binary @"$T/big.bin" "$NT_URL/tsa")
expect_json_error "body of max_body+1 bytes" "$code" 413 "$T/413.json"
code=$(curl -sS -o "$T/413c.json" -w '%{http_code}' -H 'Content-Type: application/timestamp-query' \
    -H 'Transfer-Encoding: chunked' --data-binary @"$T/big.bin" "$NT_URL/tsa")
expect_json_error "chunked body of max_body+1 bytes" "$code" 413 "$T/413c.json"
# Twin: a body of exactly max_body bytes is read (and rejected by RFC 3161 rules, not HTTP).
head -c "$max" /dev/zero >"$T/max.bin"
code=$(curl -sS -o "$T/max.tsr" -w '%{http_code}' -H 'Content-Type: application/timestamp-query' \
    --data-binary @"$T/max.bin" "$NT_URL/tsa")
nt_check "$code == 200" "body of exactly max_body bytes: HTTP $code"
nt_check "\"$(nt_reply_status "$T/max.tsr")\" == Rejected" "max_body zeros: not a rejection"

for p in /nope /tsa/x /v1 /v1/receipt /v1/receipt/1/x /TSA /metrics/; do
    code=$(nt_http GET "$NT_URL$p" "$T/404.json")
    expect_json_error "GET $p" "$code" 404 "$T/404.json"
done

# The server still works, and none of the refused requests wrote anything.
size1=$(tree_size)
nt_check "$size1 == $((size0 + 5))" "tree size $size0 -> $size1, want +5 (the granted variants)"
nt_stop
echo "tsa_http: ok"
