#!/usr/bin/env bash
# mirror_startup.sh - the server and its git mirror at start-up: the first
# commit is made before the port file is written; a mirror path that is not a
# repository, or the mirror of another log, stops the start (exit 1, one line
# on stderr naming the mirror) and leaves that repository untouched;
# remotes that cannot be reached show as lag and failures while issuance goes
# on, with URL passwords redacted and label values escaped;
# "mirror": {"path": null} runs without a mirror (no repository, no mirror
# metrics, /healthz "mirror": null) and refuses remotes.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

# Expect `serve` to fail at start: exit 1 and a one-line reason matching RE.
refused() { # DATA RE MSG [serve args]
    local dir="$1" re="$2" msg="$3" rc=0
    shift 3
    rm -f "$dir.port"
    "$NOTARIUM" serve --allow-root --data "$dir" --listen 127.0.0.1:0 --port-file "$dir.port" "$@" \
        >"$T/out" 2>"$T/err" || rc=$?
    nt_check "$rc -eq 1" "$msg: exit $rc: $(cat "$T/err")"
    [[ ! -e "$dir.port" ]] || nt_fail "$msg: a port file was written"
    # One line of our own (a test-hook warning from the clock may precede it).
    grep -v '"level":"warn"' "$T/err" >"$T/err.lines" || true
    nt_check "$(wc -l <"$T/err.lines") -eq 1" "$msg: not one line: $(cat "$T/err")"
    grep -Eq "^notarium serve: $re" "$T/err.lines" || nt_fail "$msg: reason: $(cat "$T/err.lines")"
}

# A: the first commit exists as soon as the server listens.
A="$T/a"
nt_start "$A" --log-level warn
# The ledger starts with the signing certificates' leaves (kind 0x04): C of them.
C=$(nt_cert_leaves)
nt_check "$C -ge 1" "no certificate leaf recorded"
nt_tsq "$T/q.tsq" -digest "$(printf '%064d' 1)" -sha256
code=$(nt_post_tsq "$T/q.tsq" "$T/q.tsr")
nt_check "$code == 200" "POST /tsa: HTTP $code"
nt_stop
git -C "$A/mirror.git" cat-file blob main:checkpoint | sed -n 2p >"$T/size"
nt_check "$(cat "$T/size") == $((C + 1))" "A's mirror holds $(cat "$T/size") entries after a stop, expected $((C + 1))"
# Restart with two remotes that cannot be reached (loopback port 1 refuses at once; a
# path that does not exist): issuance goes on, the lag and failures show, the password
# in a URL never does, and a quote in a path is escaped in the metric label.
secret_url="https://user:s3cret-token@127.0.0.1:1/x.git"
odd_path="$T/no\"such.git"
nt_start "$A" --log-level warn --mirror-remote "$secret_url" --mirror-remote "$odd_path"
nt_http GET "$NT_URL/metrics" "$T/m.txt" >/dev/null
grep -qx "notarium_mirror_size $((C + 1))" "$T/m.txt" || nt_fail "mirror size after restart: $(grep mirror_size "$T/m.txt")"
grep -qx 'notarium_mirror_entries_behind 0' "$T/m.txt" || nt_fail "mirror lag after restart"
nt_tsq "$T/q2.tsq" -digest "$(printf '%064d' 2)" -sha256
code=$(nt_post_tsq "$T/q2.tsq" "$T/q2.tsr")
nt_check "$code == 200" "POST /tsa with unreachable remotes: HTTP $code"
# until both remotes failed once and the mirror has the second token
NT_WAIT_INTERVAL=0.1 nt_wait_for 'nt_http GET "$NT_URL/healthz" "$T/h.json" >/dev/null &&
    jq -e ".mirror.size == $((C + 2)) and ([.mirror.remotes[].failures >= 1] | all)" "$T/h.json" >/dev/null' \
    10 "the mirror did not fail on both remotes" 'jq -c .mirror "$T/h.json"'
jq -e --argjson n $((C + 2)) '.mirror.size == $n and .mirror.last_error == "" and
       (.mirror.remotes | length) == 2 and
       ([.mirror.remotes[] | .failures >= 1 and .entries_behind == $n and
         (.last_error | length) > 0] | all)' "$T/h.json" >/dev/null ||
    nt_fail "/healthz mirror: $(jq -c .mirror "$T/h.json")"
jq -e '.mirror.remotes[0].url == "https://user:***@127.0.0.1:1/x.git"' "$T/h.json" >/dev/null ||
    nt_fail "remote URL shown as $(jq .mirror.remotes[0].url "$T/h.json")"
nt_http GET "$NT_URL/metrics" "$T/m.txt" >/dev/null
! grep -q 's3cret' "$T/m.txt" "$T/h.json" || nt_fail "a remote's password is visible"
# The push failure is logged (warn), with the URL as /metrics shows it, never the password.
grep -qF 'push to https://user:***@127.0.0.1:1/x.git' "$NT_LOG" ||
    nt_fail "no redacted push failure in the server log"
! grep -q 's3cret' "$NT_LOG" || nt_fail "a remote's password is in the server log"
grep -qF "notarium_mirror_remote_entries_behind{remote=\"https://user:***@127.0.0.1:1/x.git\"} $((C + 2))" \
    "$T/m.txt" || nt_fail "/metrics: $(grep remote_entries "$T/m.txt")"
grep -qF "notarium_mirror_remote_failures_total{remote=\"$T/no\\\"such.git\"} " "$T/m.txt" ||
    nt_fail "label not escaped: $(grep remote_failures "$T/m.txt")"
nt_stop
before=$(git -C "$A/mirror.git" rev-parse main)

# B: a second log pointed at A's mirror is refused; A's mirror is unchanged.
B="$T/b"
nt_start "$B" --log-level warn
nt_stop
nt_config_set "$B" ".mirror.path = \"$A/mirror.git\""
refused "$B" "git mirror .*a/mirror\\.git: " "another log's mirror"
nt_check "$(git -C "$A/mirror.git" rev-parse main) == $before" "A's mirror was changed"

# A regular file where the repository should be.
nt_config_set "$B" '.mirror.path = "not-a-repo"'
echo "hello" >"$B/not-a-repo"
refused "$B" "git mirror .*not-a-repo: " "a file as the mirror"

# Remotes without a mirror are refused (config or command line).
nt_config_set "$B" '.mirror.path = null | .mirror.remotes = ["/nowhere.git"]'
refused "$B" ".*mirror\\.remotes: no remote without a mirror" "config remotes without a mirror"
nt_config_set "$B" '.mirror.remotes = []'
refused "$B" "git mirror.*|mirror remotes given, but the mirror is disabled.*" \
    "--mirror-remote without a mirror" --mirror-remote "$T/r.git"
nt_config_set "$B" '.mirror.retry_min_ms = 5000 | .mirror.retry_max_ms = 1000'
refused "$B" ".*mirror\\.retry_max_ms: must not be below retry_min_ms" "retry_max_ms < retry_min_ms"

# path null: no mirror at all.
nt_config_set "$B" 'del(.mirror.retry_min_ms, .mirror.retry_max_ms)'
rm -rf "$B/mirror.git"
nt_start_nodemo "$B" --log-level warn
code=$(nt_post_tsq "$T/q.tsq" "$T/q.tsr")
nt_check "$code == 200" "POST /tsa without a mirror: HTTP $code"
nt_http GET "$NT_URL/metrics" "$T/m.txt" >/dev/null
! grep -q '^notarium_mirror' "$T/m.txt" || nt_fail "mirror metrics without a mirror"
nt_http GET "$NT_URL/healthz" "$T/h.json" >/dev/null
jq -e '.mirror == null and .ready' "$T/h.json" >/dev/null || nt_fail "/healthz: $(cat "$T/h.json")"
nt_stop
[[ ! -e "$B/mirror.git" ]] || nt_fail "a mirror was created although mirror.path is null"
echo "mirror_startup: ok"
