#!/usr/bin/env bash
# ratelimit.sh - per-client rate limits (the "limits" section, docs/OPERATING.md)
# on the real server.  Over its limit a client gets 429 with Retry-After: for
# /tsa a DER TimeStampResp rejection (application/timestamp-reply) that
# `openssl ts -reply -text` reads as Rejected, for /v1/evidence and /v1/verify a
# JSON body naming the limit; meanwhile other clients keep succeeding:
#   anonymous /tsa             per_address (burst 3), refused after 3; the 429 keeps the
#                              connection open (the small body is read first), but one
#                              before a chunked body closes it
#   /tsa with key demo         per_key (burst 2): a key is not its address's bucket
#   /tsa with key other        still granted while demo is refused
#   /tsa with key platform-a   an override (burst 50): 10 in a row granted
#   /tsa with a wrong key      401 (a key presented is checked)
#   notarium-load, key other   hammering /tsa: 429s are clean refusals, at most burst + rate x t
#   /v1/evidence demo, demo-2  per_key (burst 2), then per_tenant (tenant demo, burst 3; demo-2
#                              has an override of burst 10, so the tenant is what refuses it)
#   /v1/evidence other         201 while tenant demo is refused
#   /v1/verify                 per_address (burst 2)
# A refused request writes nothing (tree size = certificate leaves + tokens + records granted);
# /metrics counts every refusal by route and scope and the buckets held; a bad
# "limits" member stops the server at start with a message naming it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

D="$T/data"
nt_start "$D" --log-level warn
nt_stop
KEY_DEMO=$(cat "$D/demo-api-key")
entries=""
for spec in demo-2:demo other:other platform-a:platform-a; do
    id=${spec%%:*}
    "$NOTARIUM" apikey new --id "$id" --tenant "${spec##*:}" >"$T/$id.key" 2>/dev/null ||
        nt_fail "apikey new $id"
    entries+="${entries:+,}$(sed -n 2p "$T/$id.key")"
done
KEY_DEMO2=$(sed -n 1p "$T/demo-2.key")
KEY_OTHER=$(sed -n 1p "$T/other.key")
KEY_PA=$(sed -n 1p "$T/platform-a.key")
nt_config_set "$D" ".api_keys += [$entries] | .limits = {
  \"tsa\": {\"per_address\": {\"rate\": 1, \"burst\": 3}, \"per_key\": {\"rate\": 1, \"burst\": 2}},
  \"evidence\": {\"per_key\": {\"rate\": 1, \"burst\": 2}, \"per_tenant\": {\"rate\": 1, \"burst\": 3}},
  \"verify\": {\"per_address\": {\"rate\": 1, \"burst\": 2}},
  \"overrides\": [{\"key_id\": \"platform-a\", \"tsa\": {\"rate\": 1000, \"burst\": 50}},
                  {\"key_id\": \"demo-2\", \"evidence\": {\"rate\": 1, \"burst\": 10}}]}"
nt_start "$D" --log-level warn

nt_tsq "$T/q.tsq" -digest "$(printf '%064d' 7)" -sha256 -cert
# N requests in one curl process (one connection, milliseconds apart, so the buckets do not
# refill in between at 1/s): bodies to OUT.1 .. OUT.N, headers to OUT.h, statuses echoed.
burst() { # N OUT URL [curl args]
    local n="$1" out="$2" url="$3"
    shift 3
    curl -sS -o "$out.#1" -D "$out.h" -w '%{http_code} ' "$url?n=[1-$n]" "$@"
}
tsa_burst() { # N OUT [curl args]
    local n="$1" out="$2"
    shift 2
    burst "$n" "$out" "$NT_URL/tsa" -H 'Content-Type: application/timestamp-query' \
        --data-binary @"$T/q.tsq" "$@"
}
# A refused /tsa reply: 429, a DER rejection saying which limit, the RFC 3161 media type.
check_tsa_429() { # FILE SCOPE
    local text
    text=$(openssl ts -reply -in "$1" -text 2>/dev/null) || nt_fail "$1: not a TimeStampResp"
    [[ "$text" == *"Status: Rejected."* ]] || nt_fail "$1: not a rejection: $text"
    [[ "$text" == *"rate limited (tsa $2)"* ]] || nt_fail "$1: status text lacks '$2': $text"
    [[ "$text" == *"Failure info: unspecified"* ]] || nt_fail "$1: a failInfo bit was set: $text"
}
first_429() { # STATUSES -> 1-based position of the first 429, 0 when none
    local i=1 s
    for s in $1; do
        [[ "$s" == 429 ]] && { echo "$i"; return; }
        i=$((i + 1))
    done
    echo 0
}
granted=0

# --- anonymous /tsa: per_address, burst 3; then (--next: the same curl, milliseconds later,
# so the bucket is still empty) one with a chunked body
codes=$(tsa_burst 6 "$T/anon" --next -sS -o "$T/chunked.tsr" -D "$T/chunked.h" \
    -w '%{http_code}' -H 'Content-Type: application/timestamp-query' \
    -H 'Transfer-Encoding: chunked' --data-binary @"$T/q.tsq" "$NT_URL/tsa")
chunked_code=${codes##* }
codes=${codes% *}
nt_check "\"${codes:0:12}\" == \"200 200 200 \"" "anonymous /tsa: the burst of 3 not granted: $codes"
pos=$(first_429 "$codes")
nt_check "$pos -ge 4" "anonymous /tsa: no 429 after the burst of 3: $codes"
granted=$((granted + pos - 1))
check_tsa_429 "$T/anon.$pos" per_address
grep -qi '^Content-Type: application/timestamp-reply' "$T/anon.h" ||
    nt_fail "429 for /tsa without Content-Type application/timestamp-reply"
grep -qi '^Retry-After: 1' "$T/anon.h" || nt_fail "429 for /tsa without Retry-After: 1"
# the (small) body is read before the 429, so the connection stays open for the next request
if grep -qi '^Connection: close' "$T/anon.h"; then
    nt_fail "a 429 closed the connection: $(cat "$T/anon.h")"
fi
nt_check "$(nt_reply_status "$T/anon.1") == Granted" "anonymous /tsa: first reply not Granted"

# a chunked body (no Content-Length) is not read: the 429 comes at once and closes the connection
nt_check "$chunked_code == 429" "anonymous chunked /tsa over the limit: HTTP $chunked_code"
check_tsa_429 "$T/chunked.tsr" per_address
grep -qi '^Connection: close' "$T/chunked.h" || nt_fail "429 before a chunked body kept the connection"

# --- keyed /tsa: the key's bucket, not the (empty) address's; another key unaffected
codes=$(tsa_burst 4 "$T/demo" -H "Authorization: Bearer $KEY_DEMO")
nt_check "\"${codes:0:8}\" == \"200 200 \"" "key demo on /tsa: burst of 2 not granted: $codes"
pos=$(first_429 "$codes")
nt_check "$pos -ge 3" "key demo on /tsa: no 429 after its burst: $codes"
granted=$((granted + pos - 1))
check_tsa_429 "$T/demo.$pos" per_key
code=$(curl -sS -o "$T/other.tsr" -w '%{http_code}' -H 'Content-Type: application/timestamp-query' \
    -H "Authorization: Bearer $KEY_OTHER" --data-binary @"$T/q.tsq" "$NT_URL/tsa")
nt_check "$code == 200" "key other on /tsa while demo is limited: HTTP $code"
nt_check "$(nt_reply_status "$T/other.tsr") == Granted" "key other: not Granted"
granted=$((granted + 1))
code=$(curl -sS -o "$T/wrong.json" -w '%{http_code}' -H 'Content-Type: application/timestamp-query' \
    -H 'Authorization: Bearer ntk_wrong' --data-binary @"$T/q.tsq" "$NT_URL/tsa")
nt_check "$code == 401" "a wrong key on /tsa: HTTP $code"
# --- an override: platform-a has a burst of 50
codes=$(tsa_burst 10 "$T/pa" -H "Authorization: Bearer $KEY_PA")
nt_check "\"$codes\" == \"$(printf '200 %.0s' $(seq 10))\"" "platform-a (override): $codes"
granted=$((granted + 10))

# --- notarium-load as a greedy client of key other: refusals are clean (429 with a DER
# rejection, errors=0), and at most burst + rate x time get through
"$NT_BIN_DIR/notarium-load" --url "$NT_URL/tsa" --api-key "$KEY_OTHER" --connections 4 \
    --duration 2 >"$T/greedy.out" 2>&1 || { cat "$T/greedy.out"; nt_fail "notarium-load failed"; }
g_granted=$(nt_load_field "$T/greedy.out" granted)
nt_check "$(nt_load_field "$T/greedy.out" errors) == 0" "greedy load: errors: $(cat "$T/greedy.out")"
nt_check "$(nt_load_field "$T/greedy.out" limited) -ge 1" "greedy load: never limited"
nt_check "$g_granted -le 5" "greedy load: $g_granted granted in 2 s at 1/s, burst 2"
granted=$((granted + g_granted))

# --- /v1/evidence: per_key, then per_tenant across two keys of tenant demo
ev() { # KEY OUT N
    local d
    d=$(printf '%064d' "$RANDOM")
    burst "$3" "$2" "$NT_URL/v1/evidence" -H "Authorization: Bearer $1" \
        -H 'Content-Type: application/json' -d '{"digest":"sha256:'"$d"'","kind":"rl.test"}'
}
codes=$(ev "$KEY_DEMO" "$T/ev_demo" 4)
nt_check "\"${codes:0:8}\" == \"201 201 \"" "evidence, key demo: burst of 2 not created: $codes"
pos=$(first_429 "$codes")
nt_check "$pos -ge 3" "evidence, key demo: no 429: $codes"
granted=$((granted + pos - 1))
nt_check "$(jq -r .error "$T/ev_demo.$pos") == rate_limited" "evidence 429 body: $(cat "$T/ev_demo.$pos")"
nt_check "$(jq -r .limit "$T/ev_demo.$pos") == per_key" "evidence 429 limit: $(cat "$T/ev_demo.$pos")"
nt_check "$(jq -r .retry_after "$T/ev_demo.$pos") == 1" "evidence 429 retry_after"
grep -qi '^Retry-After: 1' "$T/ev_demo.h" || nt_fail "evidence 429 without Retry-After"
grep -qi '^Content-Type: application/json' "$T/ev_demo.h" || nt_fail "evidence 429 not JSON"
# demo-2 (an override: its key's burst is 10): tenant demo (burst 3) refuses it within 4
codes=$(ev "$KEY_DEMO2" "$T/ev_demo2" 5)
pos=$(first_429 "$codes")
nt_check "$pos -ge 1 && $pos -le 4" "evidence, key demo-2: tenant demo did not refuse: $codes"
granted=$((granted + pos - 1))
nt_check "$(jq -r .limit "$T/ev_demo2.$pos") == per_tenant" \
    "evidence, demo-2 429 limit: $(cat "$T/ev_demo2.$pos")"
codes=$(ev "$KEY_OTHER" "$T/ev_other" 1)
nt_check "\"$codes\" == \"201 \"" "evidence, key other while tenant demo is limited: $codes"
granted=$((granted + 1))

# --- /v1/verify: per_address, burst 2 (an empty object is a 400, and costs a token)
codes=$(burst 4 "$T/vf" "$NT_URL/v1/verify" -H 'Content-Type: application/json' -d '{}')
nt_check "\"${codes:0:8}\" == \"400 400 \"" "verify: burst of 2 not answered: $codes"
pos=$(first_429 "$codes")
nt_check "$pos -ge 3" "verify: no 429: $codes"
nt_check "$(jq -r .limit "$T/vf.$pos") == per_address" "verify 429: $(cat "$T/vf.$pos")"
nt_check "$(jq -r .route "$T/vf.$pos") == verify" "verify 429 route: $(cat "$T/vf.$pos")"

# --- nothing refused reached the ledger
size=$(nt_tree_size)
# the tree: the signing certificates' leaves (kind 0x04), then one leaf a granted request
C=$(nt_cert_leaves)
nt_check "$C -ge 1" "no certificate leaf recorded"
nt_check "$size == $((C + granted))" "tree size $size, but $C certificate leaves + $granted requests were granted"

# --- /metrics
curl -sS "$NT_URL/metrics" >"$T/metrics.txt"
metric() { sed -n "s/^$1 //p" "$T/metrics.txt"; }
for rs in 'tsa",scope="per_address' 'tsa",scope="per_key' 'evidence",scope="per_key' \
    'evidence",scope="per_tenant' 'verify",scope="per_address'; do
    v=$(metric "notarium_rate_limited_total{route=\"$rs\"}")
    nt_check "-n \"$v\" && $v -ge 1" "metrics: notarium_rate_limited_total{route=\"$rs\"} = '$v'"
done
v=$(metric 'notarium_rate_limited_total{route="tsa",scope="per_tenant"}')
nt_check "\"$v\" == 0" "metrics: tsa per_tenant refusals '$v', none configured"
total=$(awk '/^notarium_rate_limited_total/ {s += $2} END {print s}' "$T/metrics.txt")
v=$(metric 'notarium_http_requests_total{code="429"}')
nt_check "\"$v\" == \"$total\"" "metrics: $v responses 429, $total refusals counted"
v=$(metric notarium_rate_limit_buckets)
nt_check "-n \"$v\" && $v -ge 1" "metrics: notarium_rate_limit_buckets '$v'"
nt_check "\"$(metric notarium_rate_limit_buckets_max)\" == 65536" "metrics: buckets_max"
nt_stop

# --- a bad member stops the start, naming it
nt_config_set "$D" '.limits.tsa.per_address.rate = 0'
if "$NOTARIUM" serve --allow-root --data "$D" --listen 127.0.0.1:0 >"$T/bad.log" 2>&1; then
    nt_fail "the server started with limits.tsa.per_address.rate 0"
fi
grep -q 'limits.tsa.per_address.rate: at least 1' "$T/bad.log" ||
    nt_fail "start-up error does not name the member: $(cat "$T/bad.log")"
echo "PASS"
