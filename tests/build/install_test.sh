#!/usr/bin/env bash
# install_test.sh - `cmake --install` of this build into a scratch prefix installs
# exactly: bin/notarium (server builds) and bin/notarium-verify, README.md and every
# docs/*.md under share/doc/notarium, the man pages, and (server builds) the systemd unit as
# an example and in /lib/systemd/system with ExecStart pointing at the installed binary, and
# /etc/notarium/config.json; nothing else (no test or bench tools).  Installed with
# DESTDIR=ROOT, so that the two absolute paths land in the scratch root too.
#   NT_BUILD_DIR, NT_SOURCE_DIR, NT_INSTALL_TMP, NT_BUILD_SERVER (ON/OFF) come from ctest.
set -euo pipefail
: "${NT_BUILD_DIR:?}" "${NT_SOURCE_DIR:?}" "${NT_INSTALL_TMP:?}" "${NT_BUILD_SERVER:?}"
fail() { echo "FAIL: $*" >&2; exit 1; }

root="$NT_INSTALL_TMP/root"
rm -rf "$NT_INSTALL_TMP"
mkdir -p "$NT_INSTALL_TMP"
DESTDIR="$root" cmake --install "$NT_BUILD_DIR" --prefix /opt/nt >"$NT_INSTALL_TMP/install.log" 2>&1 \
    || fail "cmake --install failed: $(tail -n 5 "$NT_INSTALL_TMP/install.log")"

want="$NT_INSTALL_TMP/want"
{
    echo opt/nt/bin/notarium-verify
    echo opt/nt/share/doc/notarium/README.md
    echo opt/nt/share/man/man1/notarium-verify.1
    for f in "$NT_SOURCE_DIR"/docs/*.md; do
        echo "opt/nt/share/doc/notarium/$(basename "$f")"
    done
    if [ "$NT_BUILD_SERVER" = ON ]; then
        echo opt/nt/bin/notarium
        echo opt/nt/share/doc/notarium/examples/notarium.service
        for m in notarium notarium-serve notarium-pki notarium-ledger notarium-apikey notarium-audit \
            notarium-case; do
            echo "opt/nt/share/man/man1/$m.1"
        done
        echo lib/systemd/system/notarium.service
        echo etc/notarium/config.json
    fi
} | LC_ALL=C sort >"$want"
(cd "$root" && find . -type f -o -type l | sed 's|^\./||' | LC_ALL=C sort) >"$NT_INSTALL_TMP/got"
diff -u "$want" "$NT_INSTALL_TMP/got" || fail "installed files differ from the expected list (above)"

for b in notarium notarium-verify; do
    if [ -e "$root/opt/nt/bin/$b" ]; then
        [ -x "$root/opt/nt/bin/$b" ] || fail "bin/$b is not executable"
    fi
done
if [ "$NT_BUILD_SERVER" = ON ]; then
    unit="$root/opt/nt/share/doc/notarium/examples/notarium.service"
    cmp -s "$unit" "$root/lib/systemd/system/notarium.service" || fail "the two units differ"
    grep -qx "ExecStart=/opt/nt/bin/notarium serve --config /etc/notarium/config.json --data /var/lib/notarium" "$unit" \
        || fail "the unit's ExecStart does not name /opt/nt/bin/notarium"
    for k in Type=notify ProtectSystem=strict PrivateTmp=yes NoNewPrivileges=yes \
             ReadWritePaths=/var/lib/notarium; do
        grep -qx "$k" "$unit" || fail "the unit lacks $k"
    done
    if grep -q '@[A-Z_]*@' "$unit"; then
        fail "the unit has unsubstituted @VARIABLES@"
    fi
    # A conffile: a second install keeps the operator's edits.
    echo '{"edited": true}' >"$root/etc/notarium/config.json"
    DESTDIR="$root" cmake --install "$NT_BUILD_DIR" --prefix /opt/nt >>"$NT_INSTALL_TMP/install.log" 2>&1
    grep -q edited "$root/etc/notarium/config.json" || fail "a reinstall overwrote /etc/notarium/config.json"
fi
echo "install_test: ok ($(wc -l <"$want") files)"
