#!/usr/bin/env bash
# receipts_paging.sh - GET /v1/receipts?digest= for a popular digest is paged
# (issue 13 item 14): 250 evidence records with one digest; without `limit`
# a page holds 20 receipts and a `next_cursor`; following next_cursor with
# limit=100 (the largest) and with the default returns every index exactly
# once, ascending, and the last page has no next_cursor.  limit 0 / 101 /
# not a number and a cursor that is not a decimal index are 400 naming the
# parameter.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

D="$T/data"
nt_start "$D" --log-level warn
KEY=$(cat "$D/demo-api-key")
H=$(printf 'popular contract template' | sha256sum | cut -d' ' -f1)
N=250

# One curl process for all the POSTs, 8 at a time (one process per request made the
# test slow on a loaded machine); other digests in between, so that the popular
# digest's indexes are not contiguous.
M=$((N + N / 50))
for i in $(seq 1 $M); do
    d=$H
    ((i % 50 != 0)) || d=$(printf 'other %s' "$i" | sha256sum | cut -d' ' -f1)
    printf 'url = "%s/v1/evidence"\nheader = "Authorization: Bearer %s"\n' "$NT_URL" "$KEY"
    printf 'header = "Content-Type: application/json"\n'
    printf 'data = "{\\"digest\\":\\"sha256:%s\\",\\"kind\\":\\"k\\"}"\n' "$d"
    printf 'output = "%s/c%s.json"\nwrite-out = "%%{http_code}\\n"\n' "$T" "$i"
    ((i == M)) || printf 'next\n'
done >"$T/curl.cfg"
codes=$(curl -sS --parallel --parallel-max 8 -K "$T/curl.cfg" | sort | uniq -c)
nt_check "\"$(tr -s ' ' <<<"$codes")\" == \" $M 201\"" "POSTs: $codes"
files=()
for i in $(seq 1 $M); do
    ((i % 50 == 0)) || files+=("$T/c$i.json")
done
mapfile -t want < <(jq -r .leaf.index "${files[@]}" | sort -n)
nt_check "${#want[@]} == $N" "popular receipts: ${#want[@]}"
# Follow next_cursor from the first page; echo the indexes seen, one a line.
walk() { # LIMIT_PARAM ("" = default)
    local url cursor="" pages=0
    while :; do
        url="$NT_URL/v1/receipts?digest=sha256:$H$1"
        [[ -z "$cursor" ]] || url="$url&cursor=$cursor"
        code=$(nt_http GET "$url" "$T/page.json")
        nt_check "$code == 200" "GET $url: HTTP $code"
        jq -r '.receipts[].leaf.index' "$T/page.json"
        cursor=$(jq -r '.next_cursor // empty' "$T/page.json")
        pages=$((pages + 1))
        [[ -n "$cursor" ]] || break
        ((pages < 100)) || nt_fail "more than 100 pages"
    done
}
expected=$(printf '%s\n' "${want[@]}")
for limit in "" "&limit=100" "&limit=7"; do
    got=$(walk "$limit")
    nt_check "\"$got\" == \"$expected\"" "paging '$limit': indexes differ (got $(wc -l <<<"$got"))"
done

# The default page: 20 receipts and a cursor; the figures of the issue (bytes per call).
code=$(nt_http GET "$NT_URL/v1/receipts?digest=sha256:$H" "$T/p1.json")
nt_check "$(jq '.receipts | length' "$T/p1.json") == 20" "default page size"
nt_check "$(jq -r '.next_cursor' "$T/p1.json") == ${want[20]}" "next_cursor is the next index"
echo "default page: $(wc -c <"$T/p1.json") bytes for 20 of $N receipts"
code=$(nt_http GET "$NT_URL/v1/receipts?digest=sha256:$H&limit=100&cursor=${want[249]}" "$T/last.json")
nt_check "$(jq '.receipts | length' "$T/last.json") == 1" "last page"
nt_check "$(jq 'has("next_cursor")' "$T/last.json") == false" "next_cursor on the last page"

bad() { # QUERY FIELD
    code=$(nt_http GET "$NT_URL/v1/receipts?digest=sha256:$H&$1" "$T/e.json")
    nt_check "$code == 400" "$1: HTTP $code"
    nt_check "$(jq -r .error "$T/e.json") == invalid_parameter" "$1: $(cat "$T/e.json")"
    nt_check "$(jq -r .field "$T/e.json") == $2" "$1: field $(jq -r .field "$T/e.json")"
}
bad "limit=0" limit
bad "limit=101" limit
bad "limit=ten" limit
bad "limit=" limit
bad "cursor=-1" cursor
bad "cursor=abc" cursor
bad "cursor=99999999999999999999" cursor
nt_stop
echo "receipts_paging: ok"
