#!/usr/bin/env bash
# valgrind.sh - run the unit tests (ctest label `unit`) under valgrind memcheck:
# invalid reads/writes, uses of uninitialised values and definite leaks fail
# the run.  It complements the ASan build: valgrind sees the uninstrumented
# binaries and the system libraries (OpenSSL, LMDB, jansson) as they ship.
#   scripts/valgrind.sh                  build build-valgrind (Debug) and run every unit test
#   scripts/valgrind.sh store 'tsa/'     only the tests whose names match these regexes
# Environment: NT_VALGRIND_BUILD_DIR (default build-valgrind; an existing build
# of any type works), NT_JOBS (build jobs and parallel tests, default 2),
# NT_VALGRIND_ARGS (more valgrind options, e.g. --track-origins=yes).
# Not part of CI: the whole unit tier took 327 s with NT_JOBS=2 on a 2-core machine
# (certs/pki_test 185 s, ledger/merkle_test 111 s, ledger/audit_tokens_test 100 s);
# `scripts/valgrind.sh ledger/` (11 tests) took 144 s with NT_JOBS=2.
# Suppressions: tests/valgrind.supp (libgit2 1.5 loses a pcre2 match block in every
# git_remote_create_anonymous; nothing else).  The LMDB store tests open a 64 MiB map:
# valgrind cannot reserve the 64 GiB default (store_test skips that one check under it).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if ! command -v valgrind >/dev/null 2>&1; then
  echo "valgrind.sh: needs valgrind: apt-get install -y valgrind" >&2
  exit 1
fi
if ! command -v jq >/dev/null 2>&1; then
  echo "valgrind.sh: needs jq (scripts/deps.sh installs it)" >&2
  exit 1
fi
dir="${NT_VALGRIND_BUILD_DIR:-$root/build-valgrind}"
jobs="${NT_JOBS:-2}"
if [ ! -f "$dir/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DNT_WERROR=ON >/dev/null
fi
if ! cmake --build "$dir" -j "$jobs" >"$dir/valgrind-build.log" 2>&1; then
  echo "valgrind.sh: the build failed, see $dir/valgrind-build.log" >&2
  exit 1
fi

logs="$dir/valgrind"
rm -rf "$logs"
mkdir -p "$logs"
# One line per unit test: name, then the command (JSON array), then its environment.
mapfile -t tests < <(cd "$dir" && ctest --show-only=json-v1 -L unit | jq -c '.tests[] |
  [.name, .command, ([.properties[]? | select(.name == "ENVIRONMENT") | .value[]] // []),
   ([.properties[]? | select(.name == "WORKING_DIRECTORY") | .value] | first // "")]')

run_one() {
  local spec="$1" name cmd env wd log
  name="$(jq -r '.[0]' <<<"$spec")"
  mapfile -t cmd < <(jq -r '.[1][]' <<<"$spec")
  mapfile -t env < <(jq -r '.[2][]' <<<"$spec")
  wd="$(jq -r '.[3]' <<<"$spec")"
  log="$logs/${name//\//_}.log"
  if [ "${#cmd[@]}" -eq 0 ] || [ ! -x "${cmd[0]}" ]; then
    echo "SKIP  $name (not built)"
    return 0
  fi
  local start end
  start=$(date +%s)
  # shellcheck disable=SC2086
  if (cd "${wd:-$dir}" && env "${env[@]}" valgrind -q --error-exitcode=99 --leak-check=full \
        --errors-for-leak-kinds=definite --show-leak-kinds=definite \
        --suppressions="$root/tests/valgrind.supp" ${NT_VALGRIND_ARGS:-} \
        "${cmd[@]}") >"$log" 2>&1; then
    end=$(date +%s)
    echo "ok    $name ($((end - start)) s)"
  else
    end=$(date +%s)
    echo "FAIL  $name ($((end - start)) s): $log"
    touch "$logs/FAILED"
    return 1
  fi
}

selected=()
for spec in "${tests[@]}"; do
  name="$(jq -r '.[0]' <<<"$spec")"
  if [ $# -eq 0 ]; then
    selected+=("$spec")
    continue
  fi
  for pattern in "$@"; do
    if [[ "$name" =~ $pattern ]]; then
      selected+=("$spec")
      break
    fi
  done
done
if [ ${#selected[@]} -eq 0 ]; then
  echo "valgrind.sh: no unit test matches" >&2
  exit 1
fi

start=$(date +%s)
for spec in "${selected[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
    wait -n || true
  done
  run_one "$spec" &
done
wait
echo "valgrind.sh: ${#selected[@]} tests in $(($(date +%s) - start)) s, logs in $logs" >&2
[ ! -e "$logs/FAILED" ]
