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

# N requests from 8 curl processes (xargs -P 8), each running 4 transfers at a time:
# 32 concurrent connections without paying for N process start-ups.
cat >"$T/burst.sh" <<'EOS'
dir="$1" url="$2" q="$3"
shift 3
args=()
for i; do args+=(-o "$dir/$i.tsr" "$url"); done
curl -sS -Z --parallel-max 4 -H 'Content-Type: application/timestamp-query' --data-binary @"$q" "${args[@]}"
EOS
burst() { # dir
    seq 1 "$N" | xargs -P 8 -n $(((N + 7) / 8)) bash "$T/burst.sh" "$1" "$NT_URL/tsa" "$T/q.tsq"
}
# One openssl process per reply: "status|serial|genTime" lines for a directory of replies.
cat >"$T/summary.sh" <<'EOS'
for f; do
    openssl ts -reply -in "$f" -text 2>/dev/null | awk -F': ' '
        /^Status: / { s = $2 } /^Serial number: / { n = $2 } /^Time stamp: / { t = $2 }
        END { print s "|" n "|" t }'
done
EOS
summary() { # dir
    find "$1" -name '*.tsr' -print0 | xargs -0 -n 100 -P 2 bash "$T/summary.sh"
}
# Latest (or earliest) genTime of a summary as seconds.nanoseconds, one date(1) process.
gentime() { # summary-file max|min
    cut -d'|' -f3 "$1" | date -u -f - +%s.%N | sort -n | if [[ "$2" == max ]]; then tail -n1; else head -n1; fi
}

epoch1=$(cat "$D/state/boot-epoch")
burst "$T/r1"
summary "$T/r1" >"$T/sum1.txt"
cut -d'|' -f2 "$T/sum1.txt" | grep -v '^$' >"$T/s1.txt" || true
nt_check "$(wc -l <"$T/s1.txt") == $N" "only $(wc -l <"$T/s1.txt") of $N replies carry a serial"
dups=$(sort "$T/s1.txt" | uniq -d | wc -l)
nt_check "$dups == 0" "$dups duplicated serials among $N concurrent tokens"
granted=$(grep -c '^Granted\.|' "$T/sum1.txt" || true)
nt_check "$granted == $N" "$granted of $N replies granted"
last1=$(gentime "$T/sum1.txt" max)

nt_stop
nt_start "$D"
epoch2=$(cat "$D/state/boot-epoch")
nt_check "$epoch2 -gt $epoch1" "boot epoch did not grow across the restart ($epoch1 -> $epoch2)"
N=100 burst "$T/r2"
summary "$T/r2" >"$T/sum2.txt"
cut -d'|' -f2 "$T/sum2.txt" | grep -v '^$' >"$T/s2.txt" || true
nt_check "$(wc -l <"$T/s2.txt") == 100" "only $(wc -l <"$T/s2.txt") of 100 replies after the restart carry a serial"
cat "$T/s1.txt" "$T/s2.txt" >"$T/all.txt"
dups=$(sort "$T/all.txt" | uniq -d | wc -l)
nt_check "$dups == 0" "$dups serials reused after a restart"
first2=$(gentime "$T/sum2.txt" min)
awk -v a="$first2" -v b="$last1" 'BEGIN { exit !(a >= b) }' ||
    nt_fail "genTime went backwards across the restart ($last1 -> $first2)"

size=$(curl -sS "$NT_URL/v1/checkpoint" | sed -n 2p)
# Before the tokens: the signing certificates' leaves (kind 0x04), recorded once.
C=$(nt_cert_leaves)
nt_check "$C -ge 1" "no certificate leaf recorded"
nt_check "$size == $((C + N + 100))" "ledger holds $size leaves for $C certificates and $((N + 100)) tokens"

# Negative twin of the uniqueness check itself.
head -n 1 "$T/s1.txt" >>"$T/all.txt"
nt_check "$(sort "$T/all.txt" | uniq -d | wc -l) == 1" "the duplicate check does not detect a duplicate"
nt_stop
echo "tsa_serials: ok"
