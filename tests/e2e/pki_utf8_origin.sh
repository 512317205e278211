#!/usr/bin/env bash
# pki_utf8_origin.sh - a log origin outside ASCII, as the C2SP signed-note key
# name rule allows (Unicode, no space, no '+'): `notarium pki init --origin`
# accepts it, the server starts on that PKI, issues a token, and its signed
# checkpoint and vkey carry the origin; the negative twin: an origin with a
# Unicode space (U+3000) is refused by pki init with exit status 1.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

D="$T/data"
ORIGIN='notarium.example/日志'
"$NOTARIUM" pki init "$D/pki" --origin "$ORIGIN" >"$T/pki.out" 2>&1 \
    || nt_fail "pki init --origin $ORIGIN refused: $(cat "$T/pki.out")"
nt_check "\"\$(cut -d+ -f1 \"$D/pki/log.vkey\")\" == \"$ORIGIN\"" "log.vkey does not name $ORIGIN"

nt_start "$D"
printf 'utf-8 origin\n' >"$T/doc"
nt_tsq "$T/q.tsq" -data "$T/doc" -sha256 -cert
code=$(nt_post_tsq "$T/q.tsq" "$T/r.tsr")
nt_check "$code == 200" "POST /tsa: HTTP $code"
nt_check "\"\$(nt_reply_status \"$T/r.tsr\")\" == Granted" "the token was not granted"
code=$(nt_http GET "$NT_URL/v1/checkpoint" "$T/checkpoint")
nt_check "$code == 200" "GET /v1/checkpoint: HTTP $code"
nt_check "\"\$(head -n1 \"$T/checkpoint\")\" == \"$ORIGIN\"" "checkpoint origin is not $ORIGIN"
nt_stop

rc=0
"$NOTARIUM" pki init "$T/bad" --origin $'notarium.example/\u3000log' >"$T/bad.out" 2>&1 || rc=$?
nt_check "$rc == 1" "pki init with a Unicode space in the origin: exit $rc, want 1"
grep -q "key name" "$T/bad.out" || nt_fail "pki init refusal does not name the key name: $(cat "$T/bad.out")"
echo "pki_utf8_origin: ok"
