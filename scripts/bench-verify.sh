#!/usr/bin/env bash
# bench-verify.sh - verification time of a large document versus `sha256sum`
# of the same file: makes a file (1 GiB by default), mints a genuine receipt
# for it with the test-only notarium-verify-fixture, then times sha256sum and
# notarium-verify (JSON report, no PDF) on it, each after one warm-up read so
# both run from the page cache, and prints both.
#   scripts/bench-verify.sh [SIZE_MIB]        default 1024
#   NT_BENCH_BUILD=DIR                         build dir (default build-bench-verify, Release)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
size_mib="${1:-1024}"
build="${NT_BENCH_BUILD:-$root/build-bench-verify}"
if [[ ! -x "$build/tools/notarium-verify" || ! -x "$build/tools/notarium-verify-fixture" ]]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$build" -j2 --target notarium-verify notarium-verify-fixture >/dev/null
fi
tmp="$(mktemp -d "${TMPDIR:-/tmp}/nt-bench-verify-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
doc="$tmp/document.bin"
# Random-looking content at disk speed: AES-CTR keystream from openssl.
head -c "$((size_mib * 1024 * 1024))" /dev/zero |
    openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass pass:notarium-bench >"$doc"
"$build/tools/notarium-verify-fixture" --out "$tmp/case" --document "$doc" >/dev/null
cat "$doc" >/dev/null   # warm the page cache for both contenders

t0=$(date +%s.%N)
sha256sum "$doc" >/dev/null
t1=$(date +%s.%N)
"$build/tools/notarium-verify" --document "$doc" --receipt "$tmp/case/receipt.json" \
    --trust "$tmp/case/ca.pem" --log-key "$tmp/case/log.vkey" --report-json "$tmp/r.json" --quiet
t2=$(date +%s.%N)
ind=$(jq -r .indication "$tmp/r.json")
awk -v a="$t0" -v b="$t1" -v c="$t2" -v mib="$size_mib" -v ind="$ind" 'BEGIN {
    s = b - a; v = c - b;
    printf "document         %d MiB\n", mib;
    printf "sha256sum        %.2f s  (%.0f MiB/s)\n", s, mib / s;
    printf "notarium-verify  %.2f s  (%.0f MiB/s)  indication %s\n", v, mib / v, ind;
    printf "ratio            %.2f\n", v / s;
}'
