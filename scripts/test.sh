#!/usr/bin/env bash
# test.sh - the README's test command: install missing packages, then build and
# run the whole suite.  Six passes, each failing the run on any failure (a ctest test that
# fails is rerun once: failing twice fails the run; passing on the rerun is reported as
# FLAKY, loudly, in the log and the summary, and fails the run with NT_FLAKY_FAIL=1):
#   lint      scripts/lint.sh: clang-format clean, the project's grep rules, no product file
#             over 800 lines, cppcheck warnings (runs first: it takes seconds)
#   normal    RelWithDebInfo, warnings as errors, every ctest test (unit, e2e, fuzz replay)
#   asan      AddressSanitizer + UndefinedBehaviorSanitizer, every ctest test again
#   valgrind  the unit tier of the normal build under valgrind memcheck (scripts/valgrind.sh)
#   fuzz      a deterministic libFuzzer smoke run of every fuzz target (scripts/fuzz.sh,
#             clang; fixed seed and run count, so CI sees the same inputs on any machine)
#   verifier-only  the documented standalone verifier build (-DNT_BUILD_SERVER=OFF): it must
#             configure and build, its tests must pass, and notarium-verify must link no
#             LMDB, libmicrohttpd or libgit2 (checked with readelf -d and ldd)
# Options (environment):
#   NT_TEST_BUILDS="normal asan"    run only these passes
#   NT_CTEST_ARGS="-L unit"         extra ctest arguments for the normal and asan passes
#   NT_FUZZ_RUNS=100000             inputs per fuzz target in the smoke run
# Slow soak tests (ctest label `slow`) are never run here.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/deps.sh"
jobs="$(nproc 2>/dev/null || echo 2)"
builds="${NT_TEST_BUILDS:-lint normal asan valgrind fuzz verifier-only}"
status=0
summary=()
failed_passes=()
# Each pass's output also goes to build-test-logs/<pass>.log; the end of the run repeats
# the lines that name a failure and the tail of every failed pass, so that the last screen
# of a CI log (often all a reader gets) says what failed and why.
logs="$root/build-test-logs"
mkdir -p "$logs"
for b in $builds; do
  start=$(date +%s)
  exec 3>&1 4>&2
  exec > >(tee "$logs/$b.log") 2>&1
  tee_pid=$!
  case "$b" in
    normal|asan)
      dir="$root/build-test-$b"
      if [ "$b" = normal ]; then
        flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DNT_WERROR=ON -DNT_TEST_HOOKS=ON)
      else
        flags=(-DCMAKE_BUILD_TYPE=Debug -DNT_WERROR=ON -DNT_SANITIZE=ON -DNT_TEST_HOOKS=ON)
      fi
      echo "==> $b build" >&2
      cmake -S "$root" -B "$dir" "${flags[@]}" >/dev/null
      cmake --build "$dir" -j "$jobs"
      echo "==> $b tests" >&2
      export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
      export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
      # shellcheck disable=SC2086
      if (cd "$dir" && ctest --output-on-failure -j "$jobs" -LE slow ${NT_CTEST_ARGS:-}); then
        result=passed
      else
        # One rerun of the failed tests: a test that fails twice fails the run; a test that
        # passes on the rerun is FLAKY: printed loudly here and counted in the summary (and in
        # NT_FLAKY_FAIL=1 runs it fails the run too).  A flaky test is a bug to fix, never
        # noise to retry away: the summary names it so that it is.
        mapfile -t failed < <(cut -d: -f2- "$dir/Testing/Temporary/LastTestsFailed.log" 2>/dev/null)
        echo "==> $b: rerunning ${#failed[@]} failed test(s) once for diagnosis" >&2
        still=()
        # (ctest leaves LastTestsFailed.log alone when every rerun passes)
        if ! (cd "$dir" && ctest --output-on-failure -j "$jobs" --rerun-failed); then
          mapfile -t still < <(cut -d: -f2- "$dir/Testing/Temporary/LastTestsFailed.log")
        fi
        flaky=()
        for t in "${failed[@]}"; do
          if ! printf '%s\n' "${still[@]}" | grep -qxF -- "$t"; then
            flaky+=("$t")
          fi
        done
        if [ "${#still[@]}" -gt 0 ] || [ "${#flaky[@]}" -eq 0 ] || [ "${NT_FLAKY_FAIL:-0}" = 1 ]; then
          status=1
          result="FAILED (${#still[@]} failed twice: ${still[*]:-none}; ${#flaky[@]} FLAKY: ${flaky[*]:-none})"
        else
          result="passed, but ${#flaky[@]} FLAKY (failed, then passed on the rerun): ${flaky[*]}"
        fi
        if [ "${#flaky[@]}" -gt 0 ]; then
          echo "!!! $b: FLAKY TESTS (failed, then passed on the rerun): ${flaky[*]}" >&2
        fi
      fi
      ;;
    valgrind)
      echo "==> valgrind: unit tests of the normal build under memcheck" >&2
      if [ ! -f "$root/build-test-normal/CMakeCache.txt" ]; then
        cmake -S "$root" -B "$root/build-test-normal" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
              -DNT_WERROR=ON -DNT_TEST_HOOKS=ON >/dev/null
      fi
      if NT_VALGRIND_BUILD_DIR="$root/build-test-normal" NT_JOBS="$jobs" \
         "$root/scripts/valgrind.sh"; then
        result=passed
      else
        result=FAILED
        status=1
      fi
      ;;
    fuzz)
      echo "==> fuzz smoke run" >&2
      if NT_FUZZ_BUILD_DIR="$root/build-test-fuzz" NT_JOBS="$jobs" \
         NT_FUZZ_RUNS="${NT_FUZZ_RUNS:-100000}" NT_FUZZ_SEED=1 "$root/scripts/fuzz.sh"; then
        result=passed
      else
        result=FAILED
        status=1
      fi
      ;;
    lint)
      echo "==> lint" >&2
      if "$root/scripts/lint.sh"; then
        result=passed
      else
        result=FAILED
        status=1
      fi
      ;;
    verifier-only)
      echo "==> verifier-only build (-DNT_BUILD_SERVER=OFF) and its tests" >&2
      dir="$root/build-test-verifier-only"
      result=passed
      if ! { cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNT_WERROR=ON \
               -DNT_BUILD_SERVER=OFF >/dev/null && cmake --build "$dir" -j "$jobs"; }; then
        result=FAILED
      elif ! (cd "$dir" && ctest --output-on-failure -j "$jobs" -LE slow); then
        result=FAILED
      else
        verify="$dir/tools/notarium-verify"
        if [ ! -x "$verify" ] || [ -e "$dir/tools/notarium" ]; then
          echo "verifier-only: expected notarium-verify and no notarium in $dir/tools" >&2
          result=FAILED
        elif { readelf -d "$verify"; ldd "$verify"; } | grep -Ei 'lmdb|microhttpd|git2'; then
          echo "verifier-only: notarium-verify links a server library (above)" >&2
          result=FAILED
        fi
      fi
      if [ "$result" = FAILED ]; then
        status=1
      fi
      ;;
    *) echo "unknown pass $b (lint, normal, asan, valgrind, fuzz, verifier-only)" >&2; exit 2 ;;
  esac
  exec 1>&3 2>&4 3>&- 4>&-
  wait "$tee_pid" 2>/dev/null || true
  summary+=("$b: $result in $(( $(date +%s) - start )) s")
  if [ "$result" != passed ]; then
    failed_passes+=("$b")
  fi
done
for b in "${failed_passes[@]}"; do
  echo "==> $b failed: the lines naming a failure (whole log: build-test-logs/$b.log)" >&2
  grep -E 'FAIL|ERROR|SUMMARY: |[Ee]rror:|Assertion|deadly signal|Test failed|LeakSanitizer|runtime error|\*\*\*' \
    "$logs/$b.log" | tail -n 60 >&2 || true
  echo "==> $b failed: its last 60 lines" >&2
  tail -n 60 "$logs/$b.log" >&2
done
echo "==> summary" >&2
for line in "${summary[@]}"; do
  echo "    $line" >&2
done
exit $status
