#!/usr/bin/env bash
# tsa_serials.sh - serial numbers are unique across 1000 concurrent requests
# (curl via xargs -P) and across a restart (the boot epoch in
# DATA/state/boot-epoch grows), every reply is a granted token, genTime never
# goes backwards across the restart, and the ledger holds exactly one leaf
# per token.  The negative twin checks the checker: a duplicated serial list
# is detected.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

D="$T/data"
N="${NT_SERIALS_N:-1000}"
nt_start "$D"
echo "serials" >"$T/doc.txt"
nt_tsq "$T/q.tsq" -data "$T/doc.txt" -sha256
mkdir -p "$T/r1" "$T/r2"

burst() { # dir
    seq 1 "$N" | xargs -P 16 -I{} curl -sS -o "$1/{}.tsr" \
        -H 'Content-Type: application/timestamp-query' --data-binary @"$T/q.tsq" "$NT_URL/tsa"
}
serials() { # dir -> serial per line
    find "$1" -name '*.tsr' -print0 | xargs -0 -n 50 -P 2 sh -c \
        'for f; do openssl ts -reply -in "$f" -text 2>/dev/null | sed -n "s/^Serial number: //p"; done' sh
}
gentimes() { # dir -> genTime per line (as printed by openssl)
    find "$1" -name '*.tsr' -print0 | xargs -0 -n 50 -P 2 sh -c \
        'for f; do openssl ts -reply -in "$f" -text 2>/dev/null | sed -n "s/^Time stamp: //p"; done' sh
}

epoch1=$(cat "$D/state/boot-epoch")
burst "$T/r1"
serials "$T/r1" >"$T/s1.txt"
nt_check "$(wc -l <"$T/s1.txt") == $N" "only $(wc -l <"$T/s1.txt") of $N replies carry a serial"
dups=$(sort "$T/s1.txt" | uniq -d | wc -l)
nt_check "$dups == 0" "$dups duplicated serials among $N concurrent tokens"
granted=$(find "$T/r1" -name '*.tsr' -print0 | xargs -0 -n 100 -P 2 sh -c \
    'for f; do openssl ts -reply -in "$f" -text 2>/dev/null | grep -c "^Status: Granted." || true; done' sh |
    awk '{ s += $1 } END { print s + 0 }')
nt_check "$granted == $N" "$granted of $N replies granted"
last1=$(gentimes "$T/r1" | xargs -I{} date -u -d '{}' +%s.%N 2>/dev/null | sort -n | tail -n1)

nt_stop
nt_start "$D"
epoch2=$(cat "$D/state/boot-epoch")
nt_check "$epoch2 -gt $epoch1" "boot epoch did not grow across the restart ($epoch1 -> $epoch2)"
N=100 burst "$T/r2"
serials "$T/r2" >"$T/s2.txt"
cat "$T/s1.txt" "$T/s2.txt" >"$T/all.txt"
dups=$(sort "$T/all.txt" | uniq -d | wc -l)
nt_check "$dups == 0" "$dups serials reused after a restart"
first2=$(gentimes "$T/r2" | xargs -I{} date -u -d '{}' +%s.%N 2>/dev/null | sort -n | head -n1)
awk -v a="$first2" -v b="$last1" 'BEGIN { exit !(a >= b) }' ||
    nt_fail "genTime went backwards across the restart ($last1 -> $first2)"

size=$(curl -sS "$NT_URL/v1/checkpoint" | sed -n 2p)
nt_check "$size == $((N + 100))" "ledger holds $size leaves for $((N + 100)) tokens"

# Negative twin of the uniqueness check itself.
head -n 1 "$T/s1.txt" >>"$T/all.txt"
nt_check "$(sort "$T/all.txt" | uniq -d | wc -l) == 1" "the duplicate check does not detect a duplicate"
nt_stop
echo "tsa_serials: ok"
