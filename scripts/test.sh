#!/usr/bin/env bash
# test.sh - the README's test command: install missing packages, then build
# and run the whole suite twice through ctest: a normal build with warnings as
# errors, and an AddressSanitizer + UndefinedBehaviorSanitizer build.
#   scripts/test.sh            both builds
#   NT_TEST_BUILDS=normal scripts/test.sh   only one (normal | asan)
#   NT_CTEST_ARGS="-L unit"    extra ctest arguments
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/deps.sh"
jobs="$(nproc 2>/dev/null || echo 2)"
builds="${NT_TEST_BUILDS:-normal asan}"
status=0
for b in $builds; do
  dir="$root/build-test-$b"
  case "$b" in
    normal) flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DNT_WERROR=ON) ;;
    asan)   flags=(-DCMAKE_BUILD_TYPE=Debug -DNT_WERROR=ON -DNT_SANITIZE=ON) ;;
    *) echo "unknown build $b" >&2; exit 2 ;;
  esac
  echo "==> $b build" >&2
  cmake -S "$root" -B "$dir" "${flags[@]}" >/dev/null
  cmake --build "$dir" -j "$jobs"
  echo "==> $b tests" >&2
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  # shellcheck disable=SC2086
  if ! (cd "$dir" && ctest --output-on-failure -j "$jobs" ${NT_CTEST_ARGS:-}); then
    status=1
  fi
done
exit $status
