#!/usr/bin/env bash
# The README's first command: installs what is missing, builds treaty (Release), and runs the main
# job: the schema tools on the sample network schema, then a 3-org network of real `treaty node`
# processes on loopback (scripts/demo_network.py). `treaty demo` replaces this once it exists.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build build/release -j "${JOBS:-2}" --target treaty >/dev/null
treaty=build/release/node/treaty

if "$treaty" --help | grep -q '^  demo '; then
  exec "$treaty" demo "$@"
fi

bold="" plain=""
if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; fi
step() { printf '\n%s== %s%s\n$ %s\n' "$bold" "$1" "$plain" "${*:2}"; }
show() { # show TITLE CMD...: runs CMD, prints its output and exit code
  step "$@"
  local rc=0
  "${@:2}" || rc=$?
  echo "(exit $rc)"
}

"$treaty" version
show "Check the sample network schema: record types, keys, indexes, ACLs" \
  "$treaty" schema check examples/supply-chain.json
show "Validate a good Shipment record" \
  "$treaty" schema validate examples/supply-chain.json --type Shipment examples/instances/shipment-valid.json
show "Validate a bad one: every violation, with its path (exit 1)" \
  "$treaty" schema validate examples/supply-chain.json --type Shipment examples/instances/shipment-invalid.json
show "An additive evolution of the schema is compatible (exit 0)" \
  "$treaty" schema diff examples/supply-chain.json examples/supply-chain-v2.json
show "A breaking one is refused, each change named (exit 1)" \
  "$treaty" schema diff examples/supply-chain.json examples/supply-chain-breaking.json
printf '\n%s== A network of three orgs on loopback%s\n' "$bold" "$plain"
python3 scripts/demo_network.py "$treaty" examples/supply-chain.json
