#!/usr/bin/env bash
# Configures and builds Edict in build/ (RelWithDebInfo, Ninja, ccache).
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_BASEDIR="$PWD"
# Debug info then names paths relative to the checkout, so clones share the cache.
export CCACHE_NOHASHDIR=1
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
