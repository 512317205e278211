#!/usr/bin/env bash
# install_test.sh - `cmake --install` of this build into a scratch prefix installs
# exactly: bin/notarium (server builds) and bin/notarium-verify, README.md and every
# docs/*.md under share/doc/notarium, and the example systemd unit (server builds) with
# ExecStart pointing at the installed binary; nothing else (no test or bench tools).
#   NT_BUILD_DIR, NT_SOURCE_DIR, NT_INSTALL_TMP, NT_BUILD_SERVER (ON/OFF) come from ctest.
set -euo pipefail
: "${NT_BUILD_DIR:?}" "${NT_SOURCE_DIR:?}" "${NT_INSTALL_TMP:?}" "${NT_BUILD_SERVER:?}"
fail() { echo "FAIL: $*" >&2; exit 1; }

prefix="$NT_INSTALL_TMP/prefix"
rm -rf "$NT_INSTALL_TMP"
mkdir -p "$NT_INSTALL_TMP"
cmake --install "$NT_BUILD_DIR" --prefix "$prefix" >"$NT_INSTALL_TMP/install.log" 2>&1 \
    || fail "cmake --install failed: $(tail -n 5 "$NT_INSTALL_TMP/install.log")"

want="$NT_INSTALL_TMP/want"
{
    echo bin/notarium-verify
    echo share/doc/notarium/README.md
    for f in "$NT_SOURCE_DIR"/docs/*.md; do
        echo "share/doc/notarium/$(basename "$f")"
    done
    if [ "$NT_BUILD_SERVER" = ON ]; then
        echo bin/notarium
        echo share/doc/notarium/examples/notarium.service
    fi
} | LC_ALL=C sort >"$want"
(cd "$prefix" && find . -type f -o -type l | sed 's|^\./||' | LC_ALL=C sort) >"$NT_INSTALL_TMP/got"
diff -u "$want" "$NT_INSTALL_TMP/got" || fail "installed files differ from the expected list (above)"

for b in notarium notarium-verify; do
    if [ -e "$prefix/bin/$b" ]; then
        [ -x "$prefix/bin/$b" ] || fail "bin/$b is not executable"
    fi
done
if [ "$NT_BUILD_SERVER" = ON ]; then
    unit="$prefix/share/doc/notarium/examples/notarium.service"
    grep -qx "ExecStart=$prefix/bin/notarium serve --data /var/lib/notarium" "$unit" \
        || fail "the unit's ExecStart does not name $prefix/bin/notarium"
    for k in Type=simple ProtectSystem=strict PrivateTmp=yes NoNewPrivileges=yes \
             ReadWritePaths=/var/lib/notarium; do
        grep -qx "$k" "$unit" || fail "the unit lacks $k"
    done
    if grep -q '@[A-Z_]*@' "$unit"; then
        fail "the unit has unsubstituted @VARIABLES@"
    fi
fi
echo "install_test: ok ($(wc -l <"$want") files)"
