#!/usr/bin/env bash
# The README's test command: installs what is missing, then builds and runs every test in four
# builds — Debug with -Werror (all tests but the integration groups labelled sancovered),
# Sanitize (ASan+UBSan: unit, conformance, simulation and the integration groups not labelled
# nosan, the sancovered ones among them), Debug with -DTREATY_FAILPOINTS=ON (builds only the
# `treaty` binary, the node unit suite and the lost-writes shim; runs that suite with the points
# compiled in, the crash-points test with TREATY_CRASH_ITERATIONS per point and role, default 1,
# and the lost-writes node test, which there also kills at persist points) and, with clang, the
# libFuzzer targets for TREATY_FUZZ_SECONDS each (default 60). The last three are built (and the
# fuzz targets run) at the lowest priority while the Debug build's multi-process suites run. Ends
# with one line "N passed, N failed" over all ctest runs; exits non-zero if any test failed. Each
# ctest run's output is in its build directory (ctest-*.log).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=${JOBS:-2}
fuzz_seconds=${TREATY_FUZZ_SECONDS:-60}

./scripts/install-deps.sh

total_pass=0
total_fail=0
count_log() { # count_log LOG RC: adds the log's ctest summary to the totals
  local log=$1 rc=$2 line
  line=$(grep -E 'tests passed, [0-9]+ tests failed out of' "$log" 2>/dev/null | tail -n 1 || true)
  if [ -n "$line" ]; then
    local failed totalc
    failed=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
    totalc=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$line")
    total_pass=$((total_pass + totalc - failed))
    total_fail=$((total_fail + failed))
  elif [ "$rc" -ne 0 ]; then
    total_fail=$((total_fail + 1))
  fi
}

run_ctest() { # run_ctest BUILD_DIR LOG_NAME [ctest args...]
  local dir=$1 log="$1/$2.log" rc=0; shift 2
  (cd "$dir" && ctest --output-on-failure --timeout 900 "$@") 2>&1 | tee "$log" || rc=$?
  count_log "$log" "$rc"
}

configure_build() { # configure_build DIR cmake-args...   (TARGET="a b": build only those targets)
  local dir=$1; shift
  cmake -S "$root" -B "$dir" -DTREATY_WERROR=ON "$@" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; exit 1; }
  local rc=0
  cmake --build "$dir" -j "$jobs" ${TARGET:+--target $TARGET} >"$dir.build.log" 2>&1 || rc=$?
  grep -vE '^\[ *[0-9]+%\] (Building|Linking|Built)' "$dir.build.log" || true
  [ "$rc" -eq 0 ] || { echo "build failed: $dir (see $dir.build.log)"; exit 1; }
}

# Suites that start no node network (unit, simulation, conformance, CLI, corpus replays) run two
# at a time; the multi-process ones (labels integration, chaos, npm, bench) one at a time, as
# their timeouts assume the machine to themselves.
multi='integration|chaos|npm|bench'

echo "== Debug build, -Werror, all tests"
mkdir -p build
configure_build build/ci-debug -DCMAKE_BUILD_TYPE=Debug
run_ctest build/ci-debug ctest-local -j "$jobs" -LE "$multi"

# While the multi-process suites run (their processes wait on sockets and timers far more than
# they compute), the other three builds are made, and the libFuzzer targets (CPU only: each runs
# for a fixed time) built and run, at the lowest priority.
(
  renice -n 19 -p "$BASHPID" >/dev/null || true
  configure_build build/ci-sanitize -DCMAKE_BUILD_TYPE=Sanitize
  TARGET="treaty test-unit-node treaty-lostwrites" configure_build build/ci-failpoints \
    -DCMAKE_BUILD_TYPE=Debug -DTREATY_FAILPOINTS=ON
) >build/ci-prebuild.log 2>&1 &
prebuild_pid=$!
fuzz_pid=
if command -v clang >/dev/null; then
  echo "== libFuzzer targets, ${fuzz_seconds}s each (clang), in the background"
  (
    renice -n 19 -p "$BASHPID" >/dev/null || true
    configure_build build/ci-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Sanitize \
      -DTREATY_FUZZ=ON -DTREATY_FUZZ_SECONDS="$fuzz_seconds"
    cd build/ci-fuzz && ctest --output-on-failure --timeout 900 -j "$jobs" -L fuzz
  ) >build/ci-fuzz.ctest.log 2>&1 &
  fuzz_pid=$!
else
  echo "clang not found: the fuzz runs cannot run"; total_fail=$((total_fail + 1))
fi

# test-lostwrites-node runs in the failpoint stage (where it also kills at persist points); the
# integration groups labelled sancovered in the Sanitize stage only (the same tests, under ASan
# and UBSan).
run_ctest build/ci-debug ctest-multi -L "$multi" -LE sancovered -E '^test-lostwrites-node$'

rc=0
wait "$prebuild_pid" || rc=$?
cat build/ci-prebuild.log
[ "$rc" -eq 0 ] || { echo "the Sanitize or failpoint build failed"; [ -z "$fuzz_pid" ] || kill "$fuzz_pid"; exit 1; }

echo "== Sanitize build (ASan + UBSan): unit, conformance, simulation, most integration groups"
run_ctest build/ci-sanitize ctest-local -j "$jobs" -LE "slow|nosan|$multi"
run_ctest build/ci-sanitize ctest-multi -L "$multi" -LE 'slow|nosan'

echo "== Failpoint build (Debug, -DTREATY_FAILPOINTS=ON): crash points"
run_ctest build/ci-failpoints ctest-unit -R '^test-unit-node$'
run_ctest build/ci-failpoints ctest-crash -R '^(test-crash-points|test-lostwrites-node)$'
if [ -n "$fuzz_pid" ]; then
  rc=0
  wait "$fuzz_pid" || rc=$?
  echo "== libFuzzer targets: results"
  cat build/ci-fuzz.ctest.log
  count_log build/ci-fuzz.ctest.log "$rc"
fi

echo "test.sh: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
