#!/usr/bin/env bash
# systemd_unit.sh - the systemd unit (docs/examples/notarium.service.in, installed by the
# package as /lib/systemd/system/notarium.service) passes `systemd-analyze verify` without
# a single warning, is Type=notify with the sandboxing docs/OPERATING.md lists, and
# `systemd-analyze security --offline=yes` rates it at most 2.5 ("OK"; the figure is in
# docs/OPERATING.md).  Needs systemd-analyze (Debian package systemd); without it the test
# fails, unless NT_ALLOW_SKIP=1.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

if ! command -v systemd-analyze >/dev/null; then
    [[ "${NT_ALLOW_SKIP:-}" == 1 ]] && { echo "SKIP: no systemd-analyze (NT_ALLOW_SKIP=1)"; exit 0; }
    nt_fail "systemd-analyze is missing (Debian package systemd); NT_ALLOW_SKIP=1 skips this test"
fi
: "${NT_SOURCE_DIR:?}"
unit="$T/notarium.service"
# The unit as `cmake --install` makes it, with this build's binary (verify checks ExecStart).
sed -e "s|@CMAKE_INSTALL_FULL_BINDIR@|$(dirname "$NOTARIUM")|g" \
    -e "s|@CMAKE_INSTALL_FULL_DOCDIR@|/usr/share/doc/notarium|g" \
    "$NT_SOURCE_DIR/docs/examples/notarium.service.in" >"$unit"
grep -q '@' "$unit" && grep '@' "$unit" | grep -v '^#' | grep -q '@[A-Z_]*@' &&
    nt_fail "unsubstituted variable in the unit"

# --man=no: the man page named in Documentation= is checked by the package test.
rc=0
systemd-analyze verify --man=no "$unit" >"$T/verify.out" 2>&1 || rc=$?
[[ $rc -eq 0 && ! -s "$T/verify.out" ]] ||
    nt_fail "systemd-analyze verify (exit $rc): $(cat "$T/verify.out")"

for want in 'Type=notify' 'User=notarium' 'ProtectSystem=strict' 'PrivateTmp=yes' \
    'NoNewPrivileges=yes' 'ProtectHome=yes' 'PrivateDevices=yes' 'CapabilityBoundingSet=' \
    'SystemCallFilter=@system-service adjtimex' 'ReadWritePaths=/var/lib/notarium' \
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX'; do
    grep -qx -- "$want" "$unit" || nt_fail "the unit lacks '$want'"
done
[[ "$(grep -c '^ReadWritePaths=' "$unit")" == 1 ]] || nt_fail "more than one ReadWritePaths="

# The negative twin: verify does catch a broken unit.
sed 's/^Type=notify$/Type=notifyy/' "$unit" >"$T/broken.service"
rc=0
systemd-analyze verify --man=no "$T/broken.service" >"$T/broken.out" 2>&1 || rc=$?
[[ $rc -ne 0 || -s "$T/broken.out" ]] || nt_fail "verify did not notice Type=notifyy"

systemd-analyze security --offline=yes "$unit" >"$T/security.out" 2>&1 ||
    nt_fail "systemd-analyze security: $(tail -n 5 "$T/security.out")"
score="$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$T/security.out")"
[[ -n "$score" ]] || nt_fail "no exposure level in: $(tail -n 3 "$T/security.out")"
awk -v s="$score" 'BEGIN { exit !(s <= 2.5) }' || nt_fail "exposure level $score > 2.5"
echo "systemd_unit: OK (systemd-analyze security exposure $score)"
