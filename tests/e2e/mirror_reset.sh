#!/usr/bin/env bash
# mirror_reset.sh - someone resets mirror.git's main to an older commit while
# the server runs (issue 13, item 13): the mirror must refuse to build on it
# (error in /healthz, a log line naming both commits), drop no history, and go
# on once the operator puts the branch back (docs/OPERATING.md).  Run under
# umask 000 (item 15): nothing in mirror.git is group- or world-writable.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup
umask 000

A="$T/a"
nt_start "$A" --log-level warn
nt_stop
nt_config_set "$A" '.mirror.interval_ms = 100'
nt_start "$A" --log-level warn
# The log starts with the signing certificates' leaves (kind 0x04), C of them.
C=$(nt_cert_leaves)
nt_check "$C -ge 1" "no certificate leaf recorded"

# issue one token and wait (bounded) until the mirror holds `want` entries
issue_and_wait() { # I WANT
    nt_tsq "$T/q.tsq" -digest "$(printf '%064d' "$1")" -sha256
    code=$(nt_post_tsq "$T/q.tsq" "$T/q.tsr")
    nt_check "$code == 200" "POST /tsa $1: HTTP $code"
    local want="$2"
    NT_WAIT_INTERVAL=0.05 nt_wait_for 'nt_http GET "$NT_URL/healthz" "$T/h.json" >/dev/null &&
        jq -e --argjson w "$want" ".mirror.size == \$w" "$T/h.json" >/dev/null' 15 \
        "the mirror did not reach $want" 'jq -c .mirror "$T/h.json"'
}
issue_and_wait 1 $((C + 1))
old=$(git -C "$A/mirror.git" rev-parse main)
issue_and_wait 2 $((C + 2))
issue_and_wait 3 $((C + 3))
last=$(git -C "$A/mirror.git" rev-parse main)
nt_check "$old != $last" "no new commits"

# The reset: main back to the commit of the first token, while the server runs.
git -C "$A/mirror.git" update-ref refs/heads/main "$old"
nt_tsq "$T/q.tsq" -digest "$(printf '%064d' 4)" -sha256
code=$(nt_post_tsq "$T/q.tsq" "$T/q.tsr")
nt_check "$code == 200" "POST /tsa after the reset: HTTP $code (issuance must go on)"
NT_WAIT_INTERVAL=0.05 nt_wait_for 'nt_http GET "$NT_URL/healthz" "$T/h.json" >/dev/null &&
    jq -e ".mirror.last_error | test(\"moved\")" "$T/h.json" >/dev/null' 15 \
    "the mirror did not report the moved branch" 'jq -c .mirror "$T/h.json"'
jq -e --arg old "$old" --arg last "$last" '.mirror.last_error | (test("moved") and
        contains($old) and contains($last))' "$T/h.json" >/dev/null ||
    nt_fail "no refusal in /healthz: $(jq -c .mirror "$T/h.json")"
jq -e '.mirror.entries_behind >= 1' "$T/h.json" >/dev/null || nt_fail "no lag shown"
nt_check "$(git -C "$A/mirror.git" rev-parse main) == $old" "the mirror built on the reset branch"
grep -q "refs/heads/main is at $old, not at $last" "$NT_LOG" || nt_fail "no log line for the moved branch"

# The operator puts the branch back: the mirror goes on from the commit it wrote.
git -C "$A/mirror.git" update-ref refs/heads/main "$last"
NT_WAIT_INTERVAL=0.05 nt_wait_for 'nt_http GET "$NT_URL/healthz" "$T/h.json" >/dev/null &&
    jq -e ".mirror.size == $((C + 4)) and .mirror.last_error == \"\"" "$T/h.json" >/dev/null' 15 \
    "the mirror did not recover" 'jq -c .mirror "$T/h.json"'
git -C "$A/mirror.git" merge-base --is-ancestor "$last" main || nt_fail "history dropped"
nt_stop
nt_check "$(git -C "$A/mirror.git" rev-list --count main) -ge 4" "commits missing"

# umask 000: still nothing group- or world-writable in the mirror.
writable=$(find "$A/mirror.git" -perm /022 -print | head -5)
nt_check "-z \"$writable\"" "group/world-writable under umask 000: $writable"
echo "mirror_reset: ok"
