#!/usr/bin/env bash
# privdrop.sh - least privilege (docs/OPERATING.md, "Least privilege").  Started as root with
# a user configured (--user, or "user" in config.json), `notarium serve` binds, then runs as
# that user: /proc/PID/status shows it for the real, effective, saved and file-system uid and
# gid with no other group, and tokens are still issued (the data directory, owned by the user,
# is written).  Started as root without a user it refuses, before touching the data directory;
# an unknown user, a user with uid 0 and --demo with --user are refused too.  Needs root (CI
# runs as root): the test creates a system user and removes it on exit.  Also refused: an empty
# --user, a "user" that is not a string, and (not root) a user other than the current one.
# The HTTPS (tls.listen) and admin listeners on ports below 1024 are bound as root before the
# drop too (twin: the user alone cannot bind them), and serve after it.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

if [[ "$(id -u)" -ne 0 ]]; then
    [[ "${NT_ALLOW_SKIP:-}" == 1 ]] && { echo "SKIP: privdrop.sh needs root (NT_ALLOW_SKIP=1)"; exit 0; }
    nt_fail "privdrop.sh needs root to create a user and drop to it (set NT_ALLOW_SKIP=1 to skip)"
fi
command -v useradd >/dev/null || nt_fail "useradd (package passwd) is missing"

user="ntpd$$"
base=""
privdrop_cleanup() {
    nt_cleanup
    userdel "$user" 2>/dev/null || true
    [[ -z "$base" ]] || rm -rf "$base"
}
trap privdrop_cleanup EXIT
useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin "$user" || nt_fail "useradd $user failed"
uid="$(id -u "$user")"
gid="$(id -g "$user")"

# A data directory made by the demo as root, then handed to the user.  It lives under a
# fresh directory of /tmp so that every parent is searchable by the user.
base="$(mktemp -d "${TMPDIR:-/tmp}/nt-privdrop.XXXXXX")"
chmod 0755 "$base"
chown "$user:$user" "$base" # the port files beside the data directory are written after the drop
D="$base/data"
nt_start "$D"
nt_stop
chown -R "$user:$user" "$D"

# 1. Root without a user: refused, and nothing in the data directory changes.
before="$(cd "$D" && find . -printf '%p %s %T@\n' | sort | sha256sum)"
rc=0
"$NOTARIUM" serve --data "$D" --listen 127.0.0.1:0 >"$T/root.out" 2>&1 || rc=$?
[[ $rc -eq 1 ]] || nt_fail "serve as root without a user: exit $rc, want 1"
grep -q 'refusing to run as root: set "user" in the configuration or --user NAME' "$T/root.out" ||
    nt_fail "serve as root without a user: message: $(cat "$T/root.out")"
after="$(cd "$D" && find . -printf '%p %s %T@\n' | sort | sha256sum)"
[[ "$before" == "$after" ]] || nt_fail "the refused start changed the data directory"

# 2. Unknown user, uid 0, --demo with --user: refused with the reason.
refused() { # name status text command...
    local name="$1" want="$2" text="$3" rc=0
    shift 3
    "$@" >"$T/$name.out" 2>&1 || rc=$?
    [[ $rc -eq $want ]] || nt_fail "$name: exit $rc, want $want: $(cat "$T/$name.out")"
    grep -qF -- "$text" "$T/$name.out" || nt_fail "$name: no '$text' in: $(cat "$T/$name.out")"
}
refused nouser 1 "user nosuchuser$$: no such user" \
    "$NOTARIUM" serve --data "$D" --listen 127.0.0.1:0 --user "nosuchuser$$"
refused rootuser 1 "user root: has uid or gid 0" \
    "$NOTARIUM" serve --data "$D" --listen 127.0.0.1:0 --user root
refused demouser 2 "--demo with --user" \
    "$NOTARIUM" serve --demo --data "$T/demo" --listen 127.0.0.1:0 --user "$user"
[[ ! -e "$T/demo" ]] || nt_fail "--demo with --user made a data directory"
refused emptyuser 1 "user: not a user name" \
    "$NOTARIUM" serve --data "$D" --listen 127.0.0.1:0 --user ""
# Not root: a configured user must be the current one (systemd's User= with "user").
if runuser -u "$user" -- test -x "$NOTARIUM"; then
    refused notroot 1 "user nobody: cannot switch to it: not started as root (running as uid $uid)" \
        runuser -u "$user" -- "$NOTARIUM" serve --data "$D" --listen 127.0.0.1:0 --user nobody
else
    echo "note: $user cannot run $NOTARIUM (a parent directory is not searchable): not-root case not run"
fi

check_ids() { # what
    local status="/proc/$NT_PID/status"
    [[ "$(awk '/^Uid:/ {print $2, $3, $4, $5}' "$status")" == "$uid $uid $uid $uid" ]] ||
        nt_fail "$1: $(grep '^Uid:' "$status"), want $uid for real/effective/saved/fs"
    [[ "$(awk '/^Gid:/ {print $2, $3, $4, $5}' "$status")" == "$gid $gid $gid $gid" ]] ||
        nt_fail "$1: $(grep '^Gid:' "$status"), want $gid for real/effective/saved/fs"
    [[ "$(awk '/^Groups:/ {print $2, $3}' "$status")" == "$gid " ]] ||
        nt_fail "$1: $(grep '^Groups:' "$status"), want only $gid"
    [[ "$(awk '/^CapEff:/ {print $2}' "$status")" == 0000000000000000 ]] ||
        nt_fail "$1: capabilities left: $(grep '^Cap' "$status")"
}
token() { # what
    nt_tsq "$T/q.tsq" -data "$T/root.out" -sha256 -cert
    [[ "$(nt_post_tsq "$T/q.tsq" "$T/q.tsr")" == 200 ]] || nt_fail "$1: /tsa did not answer 200"
    [[ "$(nt_reply_status "$T/q.tsr")" == Granted ]] || nt_fail "$1: token not granted"
    # The git mirror commits it too (libgit2 reads $HOME/.gitconfig: HOME must be the user's).
    local who="$1"
    nt_wait_for 'curl -sS "$NT_URL/healthz" >"$T/health.json" &&
        { [[ -z "$(jq -r ".mirror.last_error // \"\"" "$T/health.json")" ]] ||
            nt_fail "$who: mirror: $(jq -r .mirror.last_error "$T/health.json")"; } &&
        [[ "$(jq -r .mirror.entries_behind "$T/health.json")" == 0 ]]' 30 "$who: mirror behind"
}

# 3. --user: the ids are the user's, tokens are issued, new files belong to the user.
start_as_user() { # serve args (nt__start adds --allow-root: a user, when given, wins)
    nt__start "$D" "$@"
    # the port file is written after the drop: ids already final
    nt_wait_for '[[ -r "/proc/$NT_PID/status" ]]' 5 "no /proc/$NT_PID/status"
}
start_as_user --user "$user"
check_ids "--user"
token "--user"
grep -q "now running as user $user (uid $uid, gid $gid)" "$D.log" || nt_fail "no drop log line"
[[ "$(stat -c %U "$D/ledger/data.mdb")" == "$user" ]] || nt_fail "data.mdb not owned by $user"
[[ -z "$(find "$D" ! -user "$user" -print -quit)" ]] ||
    nt_fail "files not owned by $user: $(find "$D" ! -user "$user")"
nt_stop

# 4. The same from the configuration's "user" member, without --user.
nt_config_set "$D" '.user = 5'
refused cfgtype 1 "user: not a non-empty string" "$NOTARIUM" serve --data "$D" --listen 127.0.0.1:0
nt_config_set "$D" ".user = \"$user\""
chown "$user:$user" "$D/config.json"
rm -f "$D.port"
NT_LOG="$D.log"
"$NOTARIUM" serve --data "$D" --listen 127.0.0.1:0 --port-file "$D.port" >"$D.log" 2>&1 &
NT_PID=$!
NT_PIDS+=("$NT_PID")
nt_wait_for '[[ -s "$D.port" ]] || { kill -0 "$NT_PID" 2>/dev/null ||
    { cat "$D.log"; nt_fail "serve with \"user\" in the config exited"; }; false; }' 30 \
    "serve with \"user\" in the config did not start"
NT_URL="http://$(head -n1 "$D.port")"
check_ids "config user"
token "config user"
nt_stop

# 5. The HTTPS and admin listeners on privileged ports: bound as root before the drop
#    (twin: the user alone may not bind them).  The TLS key is read after the drop.
lowport() { # a port below 1024 nothing listens on
    local p
    for p in $(shuf -i 700-1000 -n 100); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
    nt_fail "no free port below 1024"
}
P_TLS=$(lowport)
P_ADMIN=$(lowport)
[[ "$P_TLS" != "$P_ADMIN" ]] || P_ADMIN=$(lowport)
mkdir -p "$D/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$D/tls/server.key" -out "$D/tls/server.pem" \
    2>/dev/null || nt_fail "openssl req failed"
chmod 600 "$D/tls/server.key"
chown -R "$user:$user" "$D/tls"
nt_config_set "$D" ".tls = {listen: \"127.0.0.1:$P_TLS\", cert: \"tls/server.pem\",
    key: \"tls/server.key\"} | .admin_listen = \"127.0.0.1:$P_ADMIN\""
chown "$user:$user" "$D/config.json"
rc=0
runuser -u "$user" -- "$NOTARIUM" serve --data "$D" --listen 127.0.0.1:0 >"$T/lowuser.out" 2>&1 ||
    rc=$?
[[ $rc -eq 1 ]] || nt_fail "the user bound port $P_TLS by itself: exit $rc"
grep -q "cannot listen on 127.0.0.1:$P_TLS" "$T/lowuser.out" ||
    nt_fail "twin: $(cat "$T/lowuser.out")"
rm -f "$D.port"
"$NOTARIUM" serve --data "$D" --listen 127.0.0.1:0 --port-file "$D.port" >"$D.log" 2>&1 &
NT_PID=$!
NT_PIDS+=("$NT_PID")
for _ in $(seq 1 1200); do
    [[ -s "$D.port" ]] && break
    kill -0 "$NT_PID" 2>/dev/null || { cat "$D.log"; nt_fail "serve with tls on port $P_TLS exited"; }
    sleep 0.025
done
[[ -s "$D.port" ]] || nt_fail "serve with tls on port $P_TLS did not start"
NT_URL="http://$(head -n1 "$D.port")"
check_ids "tls and admin listeners"
[[ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$D/tls/server.pem" \
    "https://127.0.0.1:$P_TLS/healthz")" == 200 ]] || nt_fail "HTTPS on port $P_TLS after the drop"
[[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_ADMIN/metrics")" == 200 ]] ||
    nt_fail "admin /metrics on port $P_ADMIN after the drop"
nt_stop
echo "privdrop: OK (uid $uid gid $gid)"
