#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan) in build-fuzz/ and runs each
# for N seconds (default 60): the front end on policy text, the decoder on
# JSON Lines (both decoding paths compared). Any crash input is saved under
# tests/fuzz/regressions/ or tests/fuzz/decoder_seeds/ (commit it: the replay
# tests keep it fixed) and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
export CCACHE_BASEDIR="$PWD"
CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g0" \
  -DEDICT_FUZZ=ON -DEDICT_BUILD_TESTS=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_frontend fuzz_decoder

# fuzz TARGET SAVE_DIR MAX_LEN SEED_DIR...
fuzz() {
  local target=$1 save=$2 max_len=$3
  shift 3
  local corpus
  corpus=$(mktemp -d)
  for seeds in "$@"; do
    find "$seeds" -type f \( -name '*.edict' -o -name '*.md' -o -name '*.jsonl' -o -name 'crash-*' \) \
      -exec cp {} "$corpus"/ \; 2>/dev/null || true
  done
  echo "fuzz: running $target for ${seconds}s"
  if ! ./build-fuzz/tests/fuzz/"$target" "$corpus" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
    -rss_limit_mb=2048 -seed=1 -print_final_stats=1 -artifact_prefix="$save/" 2>build-fuzz/"$target".log; then
    tail -50 build-fuzz/"$target".log
    rm -rf "$corpus"
    echo "fuzz: $target FAILED (input saved under $save/)"
    exit 1
  fi
  rm -rf "$corpus"
  grep -E '^stat::number_of_executed_units|^Done' build-fuzz/"$target".log || true
  echo "fuzz: $target, no crash in ${seconds}s"
}

fuzz fuzz_frontend tests/fuzz/regressions 65536 policies tests/golden tests/fuzz/regressions
fuzz fuzz_decoder tests/fuzz/decoder_seeds 8192 tests/fuzz/decoder_seeds
cmake --build build-fuzz -j"$(nproc)" --target fuzz_checkpoint && fuzz fuzz_checkpoint tests/fuzz/checkpoint_seeds 65536 tests/fuzz/checkpoint_seeds
