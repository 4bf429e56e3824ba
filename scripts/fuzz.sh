#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang with ASan + UBSan) and runs each from its seed
# corpus, printing per target the executions, the coverage (cov: edges, ft: features, from
# libFuzzer's final stats) and the crashes found.
#
#   scripts/fuzz.sh [N]            N executions per target (-runs=N), default 10,000,000
#   scripts/fuzz.sh --time S       S seconds per target (-max_total_time=S) instead
#
# The targets run side by side, as many at once as there are cores.
#
# The corpus a run grows stays in build/fuzz/corpus/<target> (the seeds in tests/fuzz/corpus are
# not touched); a crashing input is written to build/fuzz/crashes/<target>/ and the script exits
# non-zero. Each crash found becomes a regular test: a Catch2 case with the crashing input in the
# unit test of the code it crashed (tests/unit/*_test.cpp), then the fix.
set -euo pipefail
cd "$(dirname "$0")/.."

limit=(-runs="${1:-10000000}")
if [[ ${1:-} == --time ]]; then
  limit=(-max_total_time="${2:?--time needs seconds}")
fi

export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/incidentd/ccache}"
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
# Line tables only (-g1): a crash's stack still names file and line, and the build is shorter.
cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DINCIDENTD_FUZZ=ON -DINCIDENTD_BATCHES=ON \
  >/dev/null
# The build's output goes to a log, and its end to the terminal when the build fails.
if ! ninja -C build/fuzz -j"$(nproc)" fuzz_targets >build/fuzz/build.log 2>&1; then
  tail -n 40 build/fuzz/build.log >&2
  echo "fuzz.sh: the fuzz targets did not build (build/fuzz/build.log)" >&2
  exit 1
fi

# One target: runs it and writes its line of the table to build/fuzz/<target>.result, and
# "failed" to build/fuzz/<target>.failed when it crashed or found a crashing input.
run_target() {
  local seeds=$1 target corpus crashes log start rc=0 seconds execs cov ft found
  target=$(basename "$seeds")
  corpus=build/fuzz/corpus/$target
  crashes=build/fuzz/crashes/$target
  rm -rf "$crashes" "build/fuzz/$target.failed" # what an earlier run found is reported by that run
  mkdir -p "$corpus" "$crashes"
  log=build/fuzz/$target.log
  start=$(date +%s)
  # -print_final_stats: stat::number_of_executed_units; the last "#N ... cov: C ft: F" line.
  # halt_on_error: the first sanitizer report stops the target, as a crash.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "build/fuzz/tests/fuzz/$target" "${limit[@]}" -print_final_stats=1 -artifact_prefix="$crashes/" \
    "$corpus" "$seeds" >"$log" 2>&1 || rc=$?
  seconds=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  found=$(find "$crashes" -type f | wc -l)
  printf '%-28s %12s %8s %8s %8s %8s\n' "$target" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$found" \
    "$seconds" >"build/fuzz/$target.result"
  if ((rc != 0 || found > 0)); then
    echo "  $target: exit $rc; see $log and $crashes/" >"build/fuzz/$target.failed"
  fi
}

# The targets run side by side, one per core: each is single-threaded, and CI's budget is wall
# time.
mapfile -t all_seeds < <(printf '%s\n' tests/fuzz/corpus/*/)
for seeds in "${all_seeds[@]}"; do
  while (($(jobs -rp | wc -l) >= $(nproc))); do wait -n || true; done
  run_target "$seeds" &
done
wait

failed=0
printf '%-28s %12s %8s %8s %8s %8s\n' target executions cov ft crashes seconds
for seeds in "${all_seeds[@]}"; do
  target=$(basename "$seeds")
  cat "build/fuzz/$target.result"
  if [[ -e build/fuzz/$target.failed ]]; then
    failed=1
    cat "build/fuzz/$target.failed" >&2
  fi
done
exit "$failed"
