#!/usr/bin/env bash
# The README's test command: installs what is missing, then builds and runs every test in four
# builds — Debug with -Werror (all tests), Sanitize (ASan+UBSan: unit, conformance and simulation
# suites), Debug with -DTREATY_FAILPOINTS=ON (builds only the `treaty` binary and the node unit
# suite; runs that suite with the points compiled in, and the crash-points test with
# TREATY_CRASH_ITERATIONS per point and role, default 1: about 4 minutes with the build) and,
# with clang, the libFuzzer targets for TREATY_FUZZ_SECONDS each (default 60).
# Ends with one line "N passed, N failed" over all ctest runs; exits non-zero if any test failed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=${JOBS:-2}
fuzz_seconds=${TREATY_FUZZ_SECONDS:-60}

./scripts/install-deps.sh

total_pass=0
total_fail=0
run_ctest() { # run_ctest BUILD_DIR [ctest args...]
  local dir=$1; shift
  local log="$dir/ctest.log" rc=0
  (cd "$dir" && ctest --output-on-failure --timeout 900 "$@") 2>&1 | tee "$log" || rc=$?
  local line
  line=$(grep -E 'tests passed, [0-9]+ tests failed out of' "$log" | tail -n 1 || true)
  if [ -n "$line" ]; then
    local failed totalc
    failed=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
    totalc=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$line")
    total_pass=$((total_pass + totalc - failed))
    total_fail=$((total_fail + failed))
  elif [ $rc -ne 0 ]; then
    total_fail=$((total_fail + 1))
  fi
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

echo "== Debug build, -Werror, all tests"
mkdir -p build
configure_build build/ci-debug -DCMAKE_BUILD_TYPE=Debug
run_ctest build/ci-debug

echo "== Sanitize build (ASan + UBSan): unit, conformance, simulation"
configure_build build/ci-sanitize -DCMAKE_BUILD_TYPE=Sanitize
run_ctest build/ci-sanitize -LE 'slow|nosan'

echo "== Failpoint build (Debug, -DTREATY_FAILPOINTS=ON): crash points"
TARGET="treaty test-unit-node" configure_build build/ci-failpoints -DCMAKE_BUILD_TYPE=Debug \
  -DTREATY_FAILPOINTS=ON
run_ctest build/ci-failpoints -R '^(test-unit-node|test-crash-points)$'

if command -v clang >/dev/null; then
  echo "== libFuzzer targets, ${fuzz_seconds}s each (clang)"
  configure_build build/ci-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Sanitize -DTREATY_FUZZ=ON \
    -DTREATY_FUZZ_SECONDS="$fuzz_seconds"
  run_ctest build/ci-fuzz -L fuzz
else
  echo "clang not found: the fuzz runs cannot run"; total_fail=$((total_fail + 1))
fi

echo "test.sh: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
