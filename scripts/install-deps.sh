#!/usr/bin/env bash
# Installs the Debian packages treaty builds and tests with. Idempotent: installs only what is
# missing, and runs `apt-get update` only when something must be installed.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
  libuv1-dev liblmdb-dev libsodium-dev libprotobuf-c-dev protobuf-c-compiler
  libcurl4-openssl-dev libssl-dev check libjansson-dev libhttp-parser-dev libpcre2-dev
  json-schema-test-suite binutils python3 python3-jsonschema
  etcd-server nginx-light faketime openssl
)

# Node.js and npm run the OpenAPI lint and the TypeScript client test (tests/npm). A machine that
# already has them (from any source) keeps its own; otherwise Debian's are installed.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  pkgs+=(nodejs npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
