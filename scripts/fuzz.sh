#!/usr/bin/env bash
# Builds the front-end libFuzzer target with clang (ASan) in build-fuzz/ and
# runs it for N seconds (default 60). Any crash input is saved under
# tests/fuzz/regressions/ (commit it: the replay test keeps it fixed) and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
export CCACHE_BASEDIR="$PWD"
CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g0" \
  -DEDICT_FUZZ=ON -DEDICT_BUILD_TESTS=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_frontend
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
find policies tests/golden tests/fuzz/regressions -type f \( -name '*.edict' -o -name '*.md' -o -name 'crash-*' \) \
  -exec cp {} "$corpus"/ \; 2>/dev/null || true
echo "fuzz: running the front end for ${seconds}s"
./build-fuzz/tests/fuzz/fuzz_frontend "$corpus" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
  -rss_limit_mb=2048 -seed=1 -print_final_stats=1 -artifact_prefix=tests/fuzz/regressions/ 2>build-fuzz/fuzz.log ||
  { tail -50 build-fuzz/fuzz.log; echo "fuzz: FAILED (input saved under tests/fuzz/regressions/)"; exit 1; }
grep -E '^stat::number_of_executed_units|^Done' build-fuzz/fuzz.log || true
echo "fuzz: no crash in ${seconds}s"
