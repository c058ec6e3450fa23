#!/usr/bin/env bash
# The README's first command: installs the Debian packages that are missing, builds the `treaty`
# binary (Release, build/release) and runs `treaty demo` with this script's arguments: three orgs
# on loopback, toured step by step, then left running until Ctrl-C. Pass --exit-after-tour to
# stop after the tour (scripts, CI), --base-port P when 8401..8406 are taken, --connector for a
# last step syncing with the HubSpot test double of tests/doubles (needs python3; found from the
# repository's root, where this script runs); see `treaty demo --help`. The exit code is treaty demo's: 0 done, 2 usage, 3 a step failed.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build build/release -j "${JOBS:-2}" --target treaty >/dev/null
exec build/release/node/treaty demo "$@"
