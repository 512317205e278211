#!/usr/bin/env bash
# case_concurrency.sh - appends in parallel (issue 11): 8 cases x 20 events posted by 16
# concurrent curl processes in random order, so that appends to one case race each other
# and appends to different cases share group commits.  Every append succeeds (201); each
# case then has seq 1..20 with prev = the previous leaf hash and every token verified
# (from its exported bundle); the tree grew by exactly 160 leaves; one event key retried
# concurrently 8 times is one leaf.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/cases/lib.sh"
nt_setup

D="$T/data"
nt_start "$D" --log-level warn
KEY=$(cat "$D/demo-api-key")
CA="$D/pki/ca.pem"
export KEY NT_URL T
size0=$(nt_tree_size)

for c in $(seq 1 8); do
    for e in $(seq 1 20); do
        echo "$c $e"
    done
done | shuf >"$T/jobs"
one() {
    local code
    code=$(curl -sS -o "$T/r.$1.$2.json" -w '%{http_code}' -X POST "$NT_URL/v1/cases/par-$1/events" \
        -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
        -d '{"event_key":"e'"$2"'","kind":"x-step","artifacts":[{"digest":"sha256:'"$(printf '%064x' "$2")"'"}]}')
    echo "$code" >"$T/r.$1.$2.code"
}
export -f one
xargs -P 16 -L 1 bash -c 'one "$0" "$1"' <"$T/jobs"
bad=$(cat "$T"/r.*.code | grep -vc '^201$' || true)
nt_check "$bad == 0" "$bad appends were not 201: $(cat "$T"/r.*.code | sort | uniq -c | tr '\n' ' ')"
nt_check "$(nt_tree_size) == $((size0 + 160))" "tree size $(nt_tree_size), expected $((size0 + 160))"
for c in $(seq 1 8); do
    "$NOTARIUM" case export --data "$D" --tenant demo --case "par-$c" --out "$T/par-$c.bundle" ||
        nt_fail "export par-$c"
    nt_check "$(case_chain_check "$T/par-$c.bundle" "$CA") == 20" "par-$c: chain"
    # each event key is the event it was posted as (its artifact)
    for e in 1 7 20; do
        seq=$(jq .seq "$T/r.$c.$e.json")
        digest=$(jq -r ".events[$((seq - 1))].body" "$T/par-$c.bundle" | base64 -d | jq -r '.artifacts[0].digest')
        nt_check "$digest == sha256:$(printf '%064x' "$e")" "par-$c: e$e answered seq $seq, which holds $digest"
    done
done

# One key retried concurrently: one leaf, every answer the same event.
size1=$(nt_tree_size)
seq 1 8 | xargs -P 8 -I{} bash -c 'curl -sS -o "$T/dup.{}.json" -w "%{http_code}\n" -X POST "$NT_URL/v1/cases/dup/events" -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" -d "{\"event_key\":\"same\",\"kind\":\"document.viewed\"}" >"$T/dup.{}.code"'
nt_check "$(nt_tree_size) == $((size1 + 1))" "8 concurrent retries: tree grew to $(nt_tree_size) from $size1"
nt_check "$(cat "$T"/dup.*.code | grep -c 201) == 1" "201s: $(cat "$T"/dup.*.code | tr '\n' ' ')"
nt_check "$(cat "$T"/dup.*.code | grep -c 200) == 7" "200s: $(cat "$T"/dup.*.code | tr '\n' ' ')"
nt_check "$(jq -c .leaf "$T"/dup.*.json | sort -u | wc -l) == 1" "the retries answered different leaves"
nt_stop
echo PASS
