#!/usr/bin/env bash
# fuzz.sh - run the libFuzzer targets (tests/fuzz/*_fuzz.c) with clang, ASan and UBSan.
#   scripts/fuzz.sh                 every target, 60 s each
#   scripts/fuzz.sh tsreq 600       one target for 10 minutes
# New inputs that raise coverage are written to build-fuzz/corpus/<target>/; copy the
# interesting ones (and every crash reproducer, once fixed) into tests/fuzz/corpus/<target>/
# so that CI replays them.  CI runs a short deterministic smoke run (scripts/test.sh:
# NT_FUZZ_RUNS with a fixed seed); long runs are for people and nightly jobs.
# Environment: NT_FUZZ_BUILD_DIR (default build-fuzz), NT_JOBS (build jobs, default 2),
# NT_FUZZ_RUNS (run count instead of seconds), NT_FUZZ_SEED (default 1 with NT_FUZZ_RUNS).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/deps.sh"
if ! dpkg-query -W -f='${Status}' libclang-rt-14-dev 2>/dev/null | grep -q "ok installed"; then
  echo "fuzz: needs clang and libclang-rt-14-dev: apt-get install -y clang libclang-rt-14-dev" >&2
  exit 1
fi
only="${1:-}"
seconds="${2:-60}"
dir="${NT_FUZZ_BUILD_DIR:-$root/build-fuzz}"
cmake -S "$root" -B "$dir" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DNT_FUZZ=ON \
      -DNT_SANITIZE=ON >/dev/null
# only the fuzz targets (and the libraries they link), not the whole tree
build_targets=()
for src in "$root"/tests/fuzz/*_fuzz.c; do
  target="$(basename "$src" _fuzz.c)"
  if [ -z "$only" ] || [ "$only" = "$target" ]; then
    build_targets+=("fuzz_$target")
  fi
done
if [ ${#build_targets[@]} -eq 0 ]; then
  echo "fuzz: no target '$only' (tests/fuzz/${only}_fuzz.c)" >&2
  exit 1
fi
cmake --build "$dir" -j "${NT_JOBS:-2}" --target "${build_targets[@]}"
for src in "$root"/tests/fuzz/*_fuzz.c; do
  target="$(basename "$src" _fuzz.c)"
  if [ -n "$only" ] && [ "$only" != "$target" ]; then
    continue
  fi
  seeds="$root/tests/fuzz/corpus/$target"
  # NT_FUZZ_RUNS + NT_FUZZ_SEED make a run deterministic (CI's smoke run): the same
  # inputs in the same order on any machine, however fast, instead of a time budget.
  # libFuzzer reads a corpus directory in readdir order, which differs from one file
  # system to the next (and shuffles and sorts from there), so the smoke run gives the
  # committed corpus as a list in name order (-seed_inputs) and starts from an empty
  # working corpus of its own: a crash CI finds is found by the same run anywhere.
  if [ -n "${NT_FUZZ_RUNS:-}" ]; then
    work="$dir/smoke/$target"
    rm -rf "$work"
    mkdir -p "$work"
    list="$dir/smoke/$target.seeds"
    find "$seeds" -maxdepth 1 -type f -print | LC_ALL=C sort | paste -sd, - >"$list"
    budget=(-runs="$NT_FUZZ_RUNS" -seed="${NT_FUZZ_SEED:-1}")
    if [ -s "$list" ]; then
      budget+=(-seed_inputs=@"$list")
    fi
    echo "==> fuzzing $target for $NT_FUZZ_RUNS runs (seed ${NT_FUZZ_SEED:-1})" >&2
    "$dir/tests/fuzz/fuzz_$target" "${budget[@]}" -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$dir/smoke/$target-" "$work"
  else
    mkdir -p "$dir/corpus/$target"
    budget=(-max_total_time="$seconds" ${NT_FUZZ_SEED:+-seed="$NT_FUZZ_SEED"})
    echo "==> fuzzing $target for ${seconds}s" >&2
    "$dir/tests/fuzz/fuzz_$target" "${budget[@]}" -max_len=65536 -print_final_stats=1 \
        "$dir/corpus/$target" "$seeds"
  fi
done
