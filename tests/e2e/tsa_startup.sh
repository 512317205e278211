#!/usr/bin/env bash
# tsa_startup.sh - start-up refusals, each with exit status 1 and one line on
# stderr naming the reason: an expired TSA certificate (the clock moved past
# notAfter with faketime), no configuration without --demo, an unknown
# configuration member, a usage error (exit 2); and the positive twin: the
# same directory starts fine and SIGTERM ends it with status 0.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

D="$T/data"
nt_start "$D"
nt_stop

refused() { # name want-status want-substring command...
    local name="$1" want="$2" text="$3" rc=0
    shift 3
    "$@" >"$T/$name.out" 2>"$T/$name.err" || rc=$?
    nt_check "$rc == $want" "$name: exit status $rc, want $want"
    grep -v '^{' "$T/$name.err" >"$T/$name.lines" || true
    nt_check "$(wc -l <"$T/$name.lines") -ge 1" "$name: no message on stderr"
    grep -q "$text" "$T/$name.lines" || nt_fail "$name: stderr lacks '$text': $(cat "$T/$name.lines")"
}

if command -v faketime >/dev/null; then
    # faketime works by LD_PRELOAD, which ASan builds must be told to tolerate.
    refused expired 1 "certificate expired" \
        env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
        faketime '+900 days' "$NOTARIUM" serve --allow-root --data "$D" --listen 127.0.0.1:0
else
    echo "faketime not installed: expired-certificate case skipped" >&2
fi
refused noconfig 1 "no configuration file" "$NOTARIUM" serve --data "$T/empty" --listen 127.0.0.1:0
cp "$D/config.json" "$T/config.good"
nt_config_set "$D" '.tsa.alow_sha1 = true'
refused badmember 1 "tsa.alow_sha1: unknown member" "$NOTARIUM" serve --data "$D" --listen 127.0.0.1:0
cp "$T/config.good" "$D/config.json"
refused usage 2 "data DIR is required" "$NOTARIUM" serve --listen 127.0.0.1:0
refused badlisten 2 "listen" "$NOTARIUM" serve --data "$D" --listen nowhere

nt_start_nodemo "$D"
code=$(nt_http GET "$NT_URL/healthz" "$T/h.json")
nt_check "$code == 200" "restart after the refusals: /healthz HTTP $code"
nt_stop
echo "tsa_startup: ok"
