#!/usr/bin/env bash
# restore_drill.sh - the disaster-recovery drill of docs/OPERATING.md, end to
# end (issue 13, items 1 and "Disaster recovery"): issue tokens (RFC 3161 and
# evidence with metadata) with the mirror pushed to a bare remote, keep their
# receipts, destroy the ledger; the server refuses to start (ledger dir
# deleted, and an empty data.mdb), `--allow-new-ledger` is the explicit
# override; restore from the pushed remote (after losing the local mirror as
# well), start, issue more; `notarium audit --state` against the remote passes
# with no fork (state saved before the loss), every token issued before the
# loss still verifies with its old receipt and with a fresh one, the evidence
# leaf's receipt says its metadata is missing, the serials' boot epoch and the
# genTimes continue above the restored ones, and a second restore over the
# ledger is refused.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOAD="$NT_BIN_DIR/notarium-load"

nt_setup
data="$T/data"
remote="$T/remote.git"
git init -q --bare "$remote"
# As in mirror_audit.sh: libgit2's fetch leaks a pcre2 block per remote lookup in one-shot tools.
printf 'leak:libpcre2-8.so\n' >"$T/lsan.supp"
tool() { LSAN_OPTIONS="suppressions=$T/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}" "$NOTARIUM" "$@"; }
size() { curl -sS "$NT_URL/v1/checkpoint" | sed -n 2p; }
head_size() { git -C "$1" cat-file blob main:checkpoint 2>/dev/null | sed -n 2p || true; }

# 0. A first start that fails before its ledger exists leaves no trace that would refuse
#    the next one (a file where the ledger directory goes).
mkdir -p "$data" && : >"$data/ledger"
if "$NOTARIUM" serve --demo --data "$data" --listen 127.0.0.1:0 >"$T/first.out" 2>&1; then
    nt_fail "the server started with a file as its ledger directory"
fi
nt_check "! -e \"$data/state/boot-epoch\"" "a failed first start left a boot epoch"
rm -f "$data/ledger"
nt_start "$data" --log-level warn --mirror-remote "$remote"
vkey="$data/pki/log.vkey"
ca="$data/pki/ca.pem"
KEY="$(cat "$data/demo-api-key")"
# A new log holds only the signing certificates' leaves (kind 0x04): C of them.
C=$(nt_cert_leaves)
nt_check "$C -ge 1 && \"$(size)\" == $C" "fresh ledger size $(size), $C certificate leaves"

# 1. Tokens: 300 through the load tool, three documents with kept receipts, one evidence record.
"$LOAD" --url "$NT_URL/tsa" --connections 4 --threads 1 --duration 30 --max-requests 300 \
    >"$T/load.out" 2>&1 || nt_fail "load failed: $(tail -3 "$T/load.out")"
for i in 1 2 3; do
    echo "contract $i" >"$T/doc$i.txt"
    nt_tsq "$T/doc$i.tsq" -data "$T/doc$i.txt" -sha256 -cert
    code=$(nt_post_tsq "$T/doc$i.tsq" "$T/doc$i.tsr")
    nt_check "$code == 200 && \"\$(nt_reply_status \"$T/doc$i.tsr\")\" == Granted" "token $i"
done
echo "evidence before the loss" >"$T/ev.txt"
code=$(curl -sS -o "$T/ev.json" -w '%{http_code}' -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' \
    -d '{"digest":"sha256:'"$(nt_sha256 "$T/ev.txt")"'","kind":"contract.signed","metadata":{"iban":"x"}}' \
    "$NT_URL/v1/evidence")
nt_check "$code == 201" "evidence: HTTP $code"
ev_index=$(jq .leaf.index "$T/ev.json")
for i in 1 2 3; do
    curl -sS "$NT_URL/v1/receipts?digest=sha256:$(nt_sha256 "$T/doc$i.txt")" |
        jq '.receipts[0]' >"$T/doc$i.old.json"
done
n_before=$(size)
nt_check "$n_before -ge $((C + 304))" "ledger size $n_before"
serial_before=$(openssl ts -reply -in "$T/doc3.tsr" -text | sed -n 's/^Serial number: 0x//p')
nt_stop # the last mirror commit and push happen at shutdown
nt_check "\"$(head_size "$remote")\" == $n_before" "remote at '$(head_size "$remote")', not $n_before"
tool audit --log-key "$vkey" --state "$T/audit.state" --no-progress "file://$remote" \
    >"$T/audit0.out" 2>&1 || nt_fail "audit before the loss: $(cat "$T/audit0.out")"

# 2. Lose the ledger: every start is refused with one line naming the restore.
rm -rf "$data/ledger"
if "$NOTARIUM" serve --allow-root --data "$data" --listen 127.0.0.1:0 >"$T/refused1.out" 2>&1; then
    nt_fail "the server started without its ledger"
fi
grep -q "notarium ledger restore" "$T/refused1.out" || nt_fail "refusal: $(cat "$T/refused1.out")"
nt_check "! -e \"$data/ledger/data.mdb\"" "a refused start created a ledger"
mkdir -p "$data/ledger" && : >"$data/ledger/data.mdb"
if "$NOTARIUM" serve --allow-root --data "$data" --listen 127.0.0.1:0 >"$T/refused2.out" 2>&1; then
    nt_fail "the server started on an empty data.mdb"
fi
grep -q "ledger missing or empty" "$T/refused2.out" || nt_fail "refusal: $(cat "$T/refused2.out")"
# Even with no mirror configured (the boot epoch and the marker remain).
mv "$data/mirror.git" "$T/mirror.away"
nt_config_set "$data" '.mirror.path = null'
if "$NOTARIUM" serve --allow-root --data "$data" --listen 127.0.0.1:0 >"$T/refused3.out" 2>&1; then
    nt_fail "the server started without its ledger and without its mirror"
fi
grep -q "state/boot-epoch" "$T/refused3.out" || nt_fail "refusal: $(cat "$T/refused3.out")"
# The override exists, is loud, and makes a new log (tested on a copy, then thrown away).
cp -a "$data" "$T/override"
nt_start_nodemo "$T/override" --allow-new-ledger
grep -q "allow-new-ledger.*NEW log" "$T/override.log" || nt_fail "override not logged loudly"
# A new log: the certificates recorded again, nothing else.
nt_check "\"$(size)\" == $C" "override: not a new log (size $(size))"
nt_stop
rm -rf "$T/override"

# 3. The site is lost (ledger and local mirror): restore from the pushed remote.
nt_config_set "$data" 'del(.mirror.path)'
rm -rf "$data/ledger" "$T/mirror.away"
# Usage and a source that is not there: exit 2 / exit 1 with one line, nothing written.
rc=0; "$NOTARIUM" ledger restore --data "$data" 2>/dev/null || rc=$?
nt_check "$rc == 2" "restore without --from: exit $rc"
rc=0; tool ledger restore --from "$T/nowhere.git" --data "$data" 2>"$T/nowhere.err" || rc=$?
nt_check "$rc == 1" "restore from nowhere: exit $rc"
grep -q "notarium ledger restore: " "$T/nowhere.err" || nt_fail "no message: $(cat "$T/nowhere.err")"
nt_check "! -e \"$data/ledger/data.mdb\" && ! -e \"$data/mirror.git\"" "a failed restore wrote"
rc=0; tool ledger restore --from "$remote" --data "$data" --log-key "$T/none.vkey" 2>/dev/null ||
    rc=$?
nt_check "$rc == 1" "restore without a vkey: exit $rc"
tool ledger restore --from "$remote" --data "$data" >"$T/restore.out" 2>"$T/restore.err" ||
    nt_fail "restore failed: $(cat "$T/restore.err")"
grep -q "^restored $n_before leaves" "$T/restore.out" || nt_fail "restore: $(cat "$T/restore.out")"
grep -qx "metadata missing: leaf $ev_index" "$T/restore.out" ||
    nt_fail "the evidence leaf's metadata not reported missing: $(cat "$T/restore.out")"
nt_check "\"$(head_size "$data/mirror.git")\" == $n_before" "local mirror not seeded"
# A second restore never writes over a ledger.
if tool ledger restore --from "$remote" --data "$data" >/dev/null 2>"$T/restore2.err"; then
    nt_fail "a restore wrote over an existing ledger"
fi
grep -q "already holds a ledger" "$T/restore2.err" || nt_fail "restore twice: $(cat "$T/restore2.err")"

# 4. Start, issue more: the same log, the next index, later serial epoch.
nt_start_nodemo "$data" --log-level warn --mirror-remote "$remote"
nt_check "\"$(size)\" == $n_before" "restored server at $(size), not $n_before"
echo "after the restore" >"$T/doc4.txt"
nt_tsq "$T/doc4.tsq" -data "$T/doc4.txt" -sha256 -cert
code=$(nt_post_tsq "$T/doc4.tsq" "$T/doc4.tsr")
nt_check "$code == 200" "token after restore: HTTP $code"
openssl ts -verify -data "$T/doc4.txt" -in "$T/doc4.tsr" -CAfile "$ca" >/dev/null 2>&1 ||
    nt_fail "token after the restore does not verify"
curl -sS "$NT_URL/v1/receipts?digest=sha256:$(nt_sha256 "$T/doc4.txt")" >"$T/doc4.r.json"
nt_check "\"$(jq '.receipts[0].leaf.index' "$T/doc4.r.json")\" == $n_before" "next index"
serial_after=$(openssl ts -reply -in "$T/doc4.tsr" -text | sed -n 's/^Serial number: 0x//p')
# boot epoch = hex digits 5..12 of the 36-digit serial (docs/TOKEN-PROFILE.md section 5)
epoch() { local s; s=$(printf '%036s' "$1" | tr ' ' 0); echo $((16#${s:4:8})); }
nt_check "$(epoch "$serial_after") -gt $(epoch "$serial_before")" \
    "boot epoch did not grow: $serial_before -> $serial_after"
"$LOAD" --url "$NT_URL/tsa" --connections 2 --threads 1 --duration 30 --max-requests 50 \
    >"$T/load2.out" 2>&1 || nt_fail "load after restore failed"
n_after=$(size)
NT_WAIT_INTERVAL=0.1 nt_wait_for '[[ "$(head_size "$remote")" == "$n_after" ]]' 20 \
    "the mirror did not push the continued log" 'echo "remote at $(head_size "$remote")"'

# 5. The auditor who verified the remote before the loss sees the same log, grown: no fork.
tool audit --log-key "$vkey" --trust "$data/pki/chain.pem" --state "$T/audit.state" \
    --no-progress "file://$remote" >"$T/audit1.out" 2>&1 ||
    nt_fail "audit after the restore: $(cat "$T/audit1.out")"
grep -q "audit: OK: tree size $n_after" "$T/audit1.out" || nt_fail "audit: $(cat "$T/audit1.out")"

# 6. Every token issued before the loss verifies with its old receipt and a fresh one.
for i in 1 2 3; do
    curl -sS "$NT_URL/v1/receipts?digest=sha256:$(nt_sha256 "$T/doc$i.txt")" |
        jq '.receipts[0]' >"$T/doc$i.new.json"
    for r in old new; do
        "$NOTARIUM" verify --document "$T/doc$i.txt" --receipt "$T/doc$i.$r.json" --trust "$ca" \
            --log-key "$vkey" --quiet || nt_fail "doc$i does not verify with its $r receipt"
    done
done
# the evidence leaf: its receipt says the metadata is missing, and still verifies
nt_http GET "$NT_URL/v1/receipt/$ev_index" "$T/ev.new.json" >/dev/null
nt_check "\"$(jq -r '.metadata_missing' "$T/ev.new.json")\" == true" \
    "evidence receipt: $(head -c 300 "$T/ev.new.json")"
"$NOTARIUM" verify --document "$T/ev.txt" --receipt "$T/ev.new.json" --trust "$ca" \
    --log-key "$vkey" --report-json "$T/ev.report.json" --quiet ||
    nt_fail "the evidence token does not verify after the restore"
grep -q "ledger.leaf_ok_metadata_missing" "$T/ev.report.json" || nt_fail "report lacks the note"
nt_stop
echo "restore drill: OK ($n_before restored, $n_after after)"
