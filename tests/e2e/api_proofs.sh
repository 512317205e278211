#!/usr/bin/env bash
# api_proofs.sh - parameter handling of the read API: GET /v1/receipt/<i>,
# /v1/receipts?digest=, /v1/proof/inclusion and /v1/proof/consistency answer
# 200 for valid requests (empty proofs where RFC 9162 says so) and 400/404
# with a JSON error naming the parameter for absent, malformed, out-of-range
# and beyond-the-tree values; GET /v1/checkpoint is a signed note.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

D="$T/data"
nt_start "$D"
echo "proofs" >"$T/doc.txt"
nt_tsq "$T/q.tsq" -data "$T/doc.txt" -sha256
for i in 1 2 3 4 5; do nt_post_tsq "$T/q.tsq" "$T/r.tsr" >/dev/null; done

curl -sS -D "$T/cp.hdr" "$NT_URL/v1/checkpoint" >"$T/cp"
grep -qi '^Content-Type: text/plain' "$T/cp.hdr" || nt_fail "checkpoint is not text/plain"
origin=$(jq -r .ledger.origin "$D/config.json")
nt_check "\"$(sed -n 1p "$T/cp")\" == \"$origin\"" "checkpoint origin line"
# The tree: the signing certificates' leaves (kind 0x04), then the five tokens.  The
# proofs below are about its first five leaves; N is its size.
C=$(nt_cert_leaves)
N=$((C + 5))
nt_check "$(sed -n 2p "$T/cp") == $N" "checkpoint size $(sed -n 2p "$T/cp"), want $N"
grep -q "^— $origin " "$T/cp" || nt_fail "checkpoint has no signature line by $origin"

ok() { # path want-hash-count
    code=$(nt_http GET "$NT_URL$1" "$T/ok.json")
    nt_check "$code == 200" "GET $1: HTTP $code $(head -c 200 "$T/ok.json")"
    if [[ -n "${2:-}" ]]; then
        nt_check "$(jq '.hashes | length' "$T/ok.json") == $2" "GET $1: $(jq '.hashes | length' "$T/ok.json") hashes, want $2"
    fi
}
err() { # path want-code want-error [want-field]
    code=$(nt_http GET "$NT_URL$1" "$T/err.json")
    nt_check "$code == $2" "GET $1: HTTP $code, want $2"
    nt_check "\"$(jq -r .error "$T/err.json")\" == $3" "GET $1: error $(jq -r .error "$T/err.json"), want $3"
    if [[ -n "${4:-}" ]]; then
        nt_check "\"$(jq -r .field "$T/err.json")\" == $4" "GET $1: field $(jq -r .field "$T/err.json"), want $4"
    fi
}

ok "/v1/proof/inclusion?index=0&size=5" 3
ok "/v1/proof/inclusion?index=4&size=5" 1
ok "/v1/proof/inclusion?index=0&size=1" 0
ok "/v1/proof/consistency?from=3&to=5" ""
ok "/v1/proof/consistency?from=5&to=5" 0
ok "/v1/proof/consistency?from=0&to=5" 0
ok "/v1/receipt/$((N - 1))" ""
err "/v1/proof/inclusion?size=5" 400 missing_parameter index
err "/v1/proof/inclusion?index=1" 400 missing_parameter size
err "/v1/proof/inclusion?index=x&size=5" 400 invalid_parameter index
err "/v1/proof/inclusion?index=1&size=-5" 400 invalid_parameter size
err "/v1/proof/inclusion?index=5&size=5" 400 index_out_of_range index
err "/v1/proof/inclusion?index=0&size=$((N + 1))" 400 size_beyond_tree size
err "/v1/proof/inclusion?index=0&size=0" 400 index_out_of_range index
err "/v1/proof/consistency?from=1" 400 missing_parameter to
err "/v1/proof/consistency?from=4&to=3" 400 invalid_range from
err "/v1/proof/consistency?from=1&to=$((N + 1))" 400 size_beyond_tree to
err "/v1/proof/consistency?from=01&to=3" 400 invalid_parameter from
err "/v1/receipt/$N" 404 not_found index
err "/v1/receipt/abc" 400 invalid_index index
err "/v1/receipt/-1" 400 invalid_index index
err "/v1/receipts" 400 missing_member digest
err "/v1/receipts?digest=sha256" 400 invalid_digest digest
err "/v1/receipts?digest=foo:00" 400 unknown_algorithm digest
err "/v1/receipts?digest=sha256:00" 400 invalid_digest_length digest
err "/v1/receipts?digest=sha256:xyz" 400 invalid_digest digest
h=$(nt_sha256 "$T/doc.txt")
ok "/v1/receipts?digest=sha256:$h" ""
nt_check "$(jq '.receipts | length' "$T/ok.json") == 5" "five receipts for one digest"
ok "/v1/receipts?digest=SHA-256:${h^^}" ""
nt_check "$(jq '.receipts | length' "$T/ok.json") == 5" "upper-case digest spelling"
nt_stop
echo "api_proofs: ok"
