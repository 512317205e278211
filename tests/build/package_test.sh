#!/usr/bin/env bash
# package_test.sh - the Debian package of this build (scripts/package.sh --build): its control
# fields (dpkg-deb -I), its exact file list (dpkg-deb -c), its conffile and postinst; then the
# package extracted into a scratch root (dpkg-deb -x) runs: the packaged default configuration
# asks for the `notarium` user (a start as root without that user is refused by name), and the
# extracted `notarium serve` with a temporary data directory issues a token that `openssl ts
# -verify` accepts.  No real install: there is no container to install into (docs/OPERATING.md).
#   NT_BUILD_DIR, NT_SOURCE_DIR, NT_PACKAGE_TMP, NT_VERSION come from ctest.
set -euo pipefail
: "${NT_BUILD_DIR:?}" "${NT_SOURCE_DIR:?}" "${NT_PACKAGE_TMP:?}" "${NT_VERSION:?}"
T="$NT_PACKAGE_TMP"
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$T"
mkdir -p "$T"

deb="$("$NT_SOURCE_DIR/scripts/package.sh" --build "$NT_BUILD_DIR" --out "$T/out")" ||
    fail "scripts/package.sh failed"
[[ "$(basename "$deb")" == "notarium_${NT_VERSION}_amd64.deb" || "$(basename "$deb")" == notarium_"${NT_VERSION}"_*.deb ]] ||
    fail "unexpected package name $deb"

# Control fields.
field() { dpkg-deb -f "$deb" "$1"; }
[[ "$(field Package)" == notarium ]] || fail "Package: $(field Package)"
[[ "$(field Version)" == "$NT_VERSION" ]] || fail "Version: $(field Version)"
for dep in adduser libmicrohttpd12 liblmdb0 libgit2- libjansson4 libssl3; do
    field Depends | grep -q "$dep" || fail "Depends lacks $dep: $(field Depends)"
done
dpkg-deb -I "$deb" >"$T/info"
grep -qE '^ +[0-9]+ bytes, +[0-9]+ lines +\* +postinst' "$T/info" || fail "no executable postinst"
dpkg-deb -e "$deb" "$T/control"
[[ "$(cat "$T/control/conffiles")" == /etc/notarium/config.json ]] || fail "conffiles: $(cat "$T/control/conffiles")"
grep -q 'adduser --system' "$T/control/postinst" || fail "postinst does not create the user"
grep -q 'chmod 0750 /var/lib/notarium' "$T/control/postinst" || fail "postinst: no 0750 data dir"
sh -n "$T/control/postinst" || fail "postinst is not valid sh"

# The file list, exactly.
{
    echo ./etc/notarium/config.json
    echo ./lib/systemd/system/notarium.service
    echo ./usr/bin/notarium
    echo ./usr/bin/notarium-verify
    echo ./usr/share/doc/notarium/README.md
    echo ./usr/share/doc/notarium/examples/notarium.service
    for f in "$NT_SOURCE_DIR"/docs/*.md; do echo "./usr/share/doc/notarium/$(basename "$f")"; done
    for m in notarium notarium-serve notarium-pki notarium-ledger notarium-apikey notarium-audit notarium-case \
        notarium-verify; do
        echo "./usr/share/man/man1/$m.1"
    done
} | LC_ALL=C sort >"$T/want"
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print $6}' | LC_ALL=C sort >"$T/got"
diff -u "$T/want" "$T/got" || fail "the package's file list differs (above)"
dpkg-deb -c "$deb" | awk '$6 == "./usr/bin/notarium" && $2 == "root/root" && $1 == "-rwxr-xr-x" {ok=1} END {exit !ok}' ||
    fail "/usr/bin/notarium is not root-owned 0755"

# Extract and run.
dpkg-deb -x "$deb" "$T/root"
unit="$T/root/lib/systemd/system/notarium.service"
grep -qx 'ExecStart=/usr/bin/notarium serve --config /etc/notarium/config.json --data /var/lib/notarium' "$unit" ||
    fail "unit ExecStart: $(grep ExecStart "$unit")"
if command -v man >/dev/null; then
    for m in "$T"/root/usr/share/man/man1/*.1; do
        w="$(MANWIDTH=80 man --warnings -l "$m" 2>&1 >/dev/null)"
        [[ -z "$w" ]] || fail "man $(basename "$m"): $w"
    done
fi
bin="$T/root/usr/bin/notarium"
"$bin" version >/dev/null || fail "the extracted notarium does not run"
"$T/root/usr/bin/notarium-verify" --help >/dev/null 2>&1 || [[ $? -eq 3 ]] ||
    fail "the extracted notarium-verify does not run"

D="$T/data"
mkdir -p "$D"
"$bin" pki init "$D/pki" --origin test.example/log >"$T/pki.log" 2>&1 || fail "pki init: $(cat "$T/pki.log")"
cfg="$T/config.json"
# The packaged defaults, with the test's origin; the clock check is relaxed (a Release build
# has no test hook, and this machine's clock state is not the test's business).
jq '.ledger.origin = "test.example/log" | .tsa.allow_unsynced_clock = true' \
    "$T/root/etc/notarium/config.json" >"$cfg"
[[ "$(jq -r .user "$cfg")" == notarium ]] || fail "the default configuration does not set user notarium"
if [[ "$(id -u)" -eq 0 ]] && ! getent passwd notarium >/dev/null; then
    rc=0
    "$bin" serve --config "$cfg" --data "$D" --listen 127.0.0.1:0 >"$T/refused.log" 2>&1 || rc=$?
    [[ $rc -eq 1 ]] && grep -q 'user notarium: no such user' "$T/refused.log" ||
        fail "start as root without the notarium user: exit $rc: $(cat "$T/refused.log")"
fi
jq 'del(.user)' "$cfg" >"$cfg.new" && mv "$cfg.new" "$cfg"
# The e2e helpers, pointed at the extracted binary: start on 127.0.0.1:0, token, stop.
NOTARIUM="$bin"
NT_E2E_TMP="$T/e2e"
source "$NT_SOURCE_DIR/tests/e2e/lib.sh"
nt_start_nodemo "$D" --config "$cfg"
echo package >"$T/doc.txt"
nt_tsq "$T/doc.tsq" -data "$T/doc.txt" -sha256 -cert
[[ "$(nt_post_tsq "$T/doc.tsq" "$T/doc.tsr")" == 200 ]] || fail "/tsa did not answer 200"
openssl ts -verify -data "$T/doc.txt" -in "$T/doc.tsr" -CAfile "$D/pki/ca.pem" >/dev/null 2>&1 ||
    fail "openssl ts -verify refused the token of the extracted server"
nt_stop
echo "package_test: ok ($(basename "$deb"), $(wc -l <"$T/want") files)"
