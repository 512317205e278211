#!/usr/bin/env bash
# package.sh - build the Debian package of Notarium with CPack (cmake/package.cmake):
# a Release build without test hooks in build-deb/ (or the configured tree given with
# --build, as tests/build/package_test.sh does), then `cpack -G DEB`.  Prints the path of
# the .deb.  The package: /usr/bin/notarium and notarium-verify, man pages, docs, the unit
# /lib/systemd/system/notarium.service, the conffile /etc/notarium/config.json, and a
# postinst that creates the `notarium` user and /var/lib/notarium (docs/OPERATING.md).
#
#   scripts/package.sh [--build DIR] [--out DIR]     (default: build-deb, dist)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build=""
out="$root/dist"
while [[ $# -gt 0 ]]; do
    case "$1" in
    --build) build="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "package.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
command -v dpkg-deb >/dev/null || { echo "package.sh: dpkg-deb is missing" >&2; exit 1; }
if [[ -z "$build" ]]; then
    build="$root/build-deb"
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DNT_TEST_HOOKS=OFF >/dev/null
    cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)"
fi
[[ -f "$build/CPackConfig.cmake" ]] || { echo "package.sh: $build is not a configured server build" >&2; exit 1; }
mkdir -p "$out"
(cd "$out" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$out" >"$out/cpack.log" 2>&1) ||
    { tail -n 20 "$out/cpack.log" >&2; exit 1; }
deb="$(ls -t "$out"/notarium_*.deb | head -n1)"
echo "$deb"
