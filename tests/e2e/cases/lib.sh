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
    local bundle="$1" ca="$2" n=0 prev="null" seq leaf body token fields leafhash digest dir want off
    dir=$(mktemp -d "$T/chain.XXXXXX")
    want=$(jq -r '[.tenant, .case] | join(" ")' "$bundle")
    while read -r seq leaf body token; do
        n=$((n + 1))
        [[ "$seq" == "$n" ]] || nt_fail "$bundle: events[$((n - 1))].seq is $seq"
        base64 -d <<<"$body" >"$dir/body"
        base64 -d <<<"$leaf" >"$dir/leaf"
        base64 -d <<<"$token" >"$dir/token"
        fields=$(jq -r '[.seq, .tenant, .case, .prev] | map(tostring) | join(" ")' "$dir/body")
        [[ "$fields" == "$seq $want $prev" ]] ||
            nt_fail "$bundle: event $seq body has '$fields', expected '$seq $want $prev'"
        leafhash=$( (printf '\0'; cat "$dir/leaf") | sha256sum | cut -d' ' -f1)
        digest=$(sha256sum "$dir/body" | cut -d' ' -f1)
        # version 1, kind 0x03, sha256 (0x01), length 32, then the digest: SHA-256 of the body
        [[ "$(head -c 36 "$dir/leaf" | od -An -tx1 | tr -d ' \n')" == "01030120$digest" ]] ||
            nt_fail "$bundle: event $seq: the leaf is not kind 3 over SHA-256 of the body"
        # the token is the one inside the leaf: after the label (length at byte 36) and 4 bytes
        off=$((36 + 1 + $(od -An -tu1 -j 36 -N 1 "$dir/leaf") + 4))
        cmp -s "$dir/token" <(tail -c +$((off + 1)) "$dir/leaf" | head -c "$(stat -c %s "$dir/token")") ||
            nt_fail "$bundle: event $seq: the token is not the one in the leaf"
        openssl ts -verify -digest "$digest" -token_in -in "$dir/token" -CAfile "$ca" \
            >/dev/null 2>&1 || nt_fail "$bundle: event $seq: openssl ts -verify failed"
        prev="$leafhash"
    done < <(jq -r '.events[] | [.seq, .leaf.data, .body, .token] | map(tostring) | join(" ")' "$bundle")
    echo "$n"
}
