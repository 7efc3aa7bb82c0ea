#!/usr/bin/env bash
# Installs everything Edict needs to build and test, from Debian bookworm's
# own archive. Safe to run again: only missing packages are fetched.
set -euo pipefail

PACKAGES=(
  cmake ninja-build g++ binutils ccache python3
  antlr4 default-jre-headless libantlr4-runtime-dev
  llvm-19-dev libfmt-dev libsimdjson-dev libcli11-dev nlohmann-json3-dev
  catch2 librapidcheck-dev
  clang-14 libclang-rt-14-dev clang-format
  zlib1g-dev libzstd-dev libssl-dev time
  libxxhash-dev libcpp-httplib-dev libboost1.81-dev
  chromium
  nats-server libnats-dev
  libz3-dev
)

missing=()
# Node and npm drive the browser and VS Code client tests. A newer Node from
# elsewhere (it ships its own npm) is used as found; otherwise Debian's.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The tests' npm packages (puppeteer-core, vscode-languageclient), pinned by
# tests/node/package-lock.json, into a cache outside the tree.
"$(dirname "$0")/node_deps.sh" >/dev/null
