#!/usr/bin/env bash
# tsa_gentime_restart.sh - genTime never goes backwards across a restart
# (issue 13 item 4).  A first run with the clock an hour ahead (faketime)
# issues tokens from 8 connections, so the ledger's leaves are not in genTime
# order; the ledger's durable high-water mark (`notarium ledger info`) must be
# the largest genTime issued, not the last leaf's; a second run with the clock
# back at the real time issues a token no earlier than every token before.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOAD="$NT_BIN_DIR/notarium-load"

# libfaketime directly (the faketime front end forks and would take the SIGTERM meant for the server)
libft=$(find /usr/lib /usr/local/lib -name 'libfaketime.so.1' 2>/dev/null | grep -v MT | head -1 || true)
[[ -n "$libft" ]] || { echo "libfaketime not installed: skipped" >&2; exit 0; }
nt_setup
data="$T/data"
real="$NOTARIUM"
# lib.sh starts "$NOTARIUM": a wrapper puts the server an hour ahead.  The monotonic
# clock stays real (the sequencer's batch windows use it).  ASan must tolerate LD_PRELOAD.
cat >"$T/ahead" <<WRAP
#!/usr/bin/env bash
export FAKETIME_DONT_FAKE_MONOTONIC=1 FAKETIME='+1h' LD_PRELOAD="$libft"
export ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}verify_asan_link_order=0"
exec "$real" "\$@"
WRAP
chmod +x "$T/ahead"
# genTime of a base64 token as milliseconds since the epoch
gen_ms() {
    echo "$1" | base64 -d >"$T/tok.der"
    local t
    t=$(openssl ts -reply -token_in -in "$T/tok.der" -text 2>/dev/null |
        sed -n 's/^Time stamp: \(.*\) GMT$/\1/p')
    date -u -d "$(echo "$t" | awk '{print $1, $2, $4, $3}')" +%s%3N
}

# The demo PKI is made at the real time (a certificate made an hour ahead is not yet valid).
nt_start "$data" --log-level warn
nt_stop
NOTARIUM="$T/ahead" nt_start_nodemo "$data" --log-level warn
"$LOAD" --url "$NT_URL/tsa" --connections 8 --threads 2 --duration 30 --max-requests 200 \
    --record "$T/run1.rec" >"$T/load.out" 2>&1 || nt_fail "load: $(tail -3 "$T/load.out")"
nt_stop

max=0
while read -r _ tok; do
    ms=$(gen_ms "$tok")
    ((ms > max)) && max=$ms
done <"$T/run1.rec"
now=$(date -u +%s%3N)
nt_check "$max -gt $((now + 1800000))" "the first run was not ahead of the clock ($max vs $now)"
hw=$("$real" ledger info --data "$data" | sed -n 's/^gentime high-water: \([0-9]*\)\.\([0-9]\{3\}\).*/\1\2/p')
nt_check "\"$hw\" == \"$max\"" "ledger genTime high-water '$hw' ms, largest issued $max ms"
last=$("$real" ledger get "$(( $("$real" ledger info --data "$data" | sed -n 's/^size: //p') - 1 ))" \
    --data "$data" | jq -r .token)
echo "largest genTime $max, last leaf's $(gen_ms "$last")"

# Second run at the real time (an hour behind): the next genTime is not earlier.
nt_start_nodemo "$data" --log-level warn
echo "after the restart" >"$T/doc.txt"
nt_tsq "$T/doc.tsq" -data "$T/doc.txt" -sha256 -cert
code=$(nt_post_tsq "$T/doc.tsq" "$T/doc.tsr")
nt_check "$code == 200" "token after restart: HTTP $code"
openssl ts -reply -in "$T/doc.tsr" -token_out -out "$T/doc.tok" 2>/dev/null
after=$(gen_ms "$(base64 -w0 "$T/doc.tok")")
nt_check "$after -ge $max" "genTime went backwards across the restart: $after < $max"
nt_stop
echo "tsa_gentime_restart: OK"
