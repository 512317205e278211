# tests/e2e/cases/lib.sh - helpers of the case tests (tests/e2e/case_*.sh), sourced after
# tests/e2e/lib.sh (in a subdirectory so that the e2e glob does not take it for a test).
#
#   case_post KEY CASE JSON OUT [curl args]   POST /v1/cases/CASE/events; prints the HTTP code
#   case_get KEY PATH OUT                     GET PATH with the key; prints the HTTP code
#   case_chain_check BUNDLE CA                every event of the bundle: seq 1..n in order, the
#                                             body's seq, tenant and case, prev = leaf hash of
#                                             the previous leaf, leaf digest = SHA-256(body), the
#                                             token verified by `openssl ts -verify` on that
#                                             digest; prints the number of events

case_post() {
    local key="$1" case_id="$2" json="$3" out="$4"
    shift 4
    curl -sS -o "$out" -w '%{http_code}' -X POST "$NT_URL/v1/cases/$case_id/events" \
        -H "Authorization: Bearer $key" -H 'Content-Type: application/json' --data-binary "$json" "$@"
}

case_get() {
    curl -sS -o "$3" -w '%{http_code}' -H "Authorization: Bearer $1" "$NT_URL$2"
}

case_chain_check() {
    local bundle="$1" ca="$2" n i prev="null" body seq leafhash digest dir
    dir=$(mktemp -d "$T/chain.XXXXXX")
    n=$(jq '.events | length' "$bundle")
    for ((i = 0; i < n; i++)); do
        seq=$(jq ".events[$i].seq" "$bundle")
        [[ "$seq" == $((i + 1)) ]] || nt_fail "$bundle: events[$i].seq is $seq"
        jq -r ".events[$i].body" "$bundle" | base64 -d >"$dir/body"
        body=$(cat "$dir/body")
        [[ "$(jq .seq <<<"$body")" == "$seq" ]] || nt_fail "$bundle: body seq of event $seq"
        [[ "$(jq -r .tenant <<<"$body")" == "$(jq -r .tenant "$bundle")" ]] ||
            nt_fail "$bundle: tenant of event $seq"
        [[ "$(jq -r .case <<<"$body")" == "$(jq -r .case "$bundle")" ]] ||
            nt_fail "$bundle: case of event $seq"
        [[ "$(jq -r .prev <<<"$body")" == "$prev" ]] ||
            nt_fail "$bundle: event $seq has prev $(jq -r .prev <<<"$body"), expected $prev"
        jq -r ".events[$i].leaf.data" "$bundle" | base64 -d >"$dir/leaf"
        leafhash=$( (printf '\0'; cat "$dir/leaf") | sha256sum | cut -d' ' -f1)
        digest=$(sha256sum "$dir/body" | cut -d' ' -f1)
        # leaf bytes 4..35 are the sha256 digest (version, kind 0x03, alg 0x01, length 0x20)
        [[ "$(head -c 4 "$dir/leaf" | od -An -tx1 | tr -d ' \n')" == 01030120 ]] ||
            nt_fail "$bundle: event $seq: leaf header is not version 1, kind 3, sha256"
        [[ "$(tail -c +5 "$dir/leaf" | head -c 32 | od -An -tx1 | tr -d ' \n')" == "$digest" ]] ||
            nt_fail "$bundle: event $seq: leaf digest is not SHA-256 of the body"
        jq -r ".events[$i].token" "$bundle" | base64 -d >"$dir/token"
        openssl ts -verify -digest "$digest" -token_in -in "$dir/token" -CAfile "$ca" \
            >/dev/null 2>&1 || nt_fail "$bundle: event $seq: openssl ts -verify failed"
        prev="$leafhash"
    done
    echo "$n"
}
