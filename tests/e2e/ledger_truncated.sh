#!/usr/bin/env bash
# ledger_truncated.sh - issue 13 item 11: a truncated ledger/data.mdb crashed
# `notarium serve` and `notarium ledger info` with SIGBUS (LMDB maps the file;
# a page past its end faults on first read).  Both must refuse with a message
# naming the file and exit with a status, not a signal.  Run by ctest with
# NOTARIUM, NT_E2E_TMP.
set -euo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

nt_setup
data="$T/data"
nt_start "$data"
for i in 1 2 3 4 5; do
    echo "doc $i" >"$T/doc$i"
    nt_tsq "$T/q$i.tsq" -data "$T/doc$i" -sha256 -cert
    nt_check '"$(nt_post_tsq "$T/q$i.tsq" "$T/r$i.tsr")" == 200' "token $i not granted"
done
nt_stop
"$NOTARIUM" ledger info --data "$data" >"$T/info.ok" || nt_fail "ledger info on the intact ledger"

db="$data/ledger/data.mdb"
size=$(stat -c %s "$db")
truncate -s $((size / 2)) "$db"

# expect_refusal NAME CMD...: exit status 1..125 (not a signal), message on stderr.
expect_refusal() {
    local name="$1" rc=0
    shift
    timeout 60 "$@" >"$T/$name.out" 2>"$T/$name.err" || rc=$?
    cat "$T/$name.err"
    nt_check '"$rc" -ne 0 && "$rc" -lt 124' "$name on a truncated data.mdb: exit status $rc (want a refusal, not a signal or a hang)"
    grep -q "data.mdb is truncated" "$T/$name.err" || nt_fail "$name: no message naming the truncated file"
    grep -q "has $((size / 2)) bytes" "$T/$name.err" || nt_fail "$name: the message does not give the file's size"
}
expect_refusal info "$NOTARIUM" ledger info --data "$data"
expect_refusal serve "$NOTARIUM" serve --allow-root --data "$data" --listen 127.0.0.1:0 --port-file "$T/port"
[[ ! -s "$T/port" ]] || nt_fail "serve wrote a port file for a truncated ledger"
echo "PASS: truncated data.mdb refused by ledger info and serve"
