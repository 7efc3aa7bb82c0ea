#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan) in build-fuzz/ and runs each
# one: the front end on policy text, the decoder on JSON Lines (both decoding
# paths compared with each other and with a strict JSON parser), the
# checkpoint loader on checkpoint files.
#
#   scripts/fuzz.sh [SECONDS]        each fuzzer for SECONDS (default 60): the test command's run
#   scripts/fuzz.sh --night [HOURS]  each fuzzer for HOURS (default 3), then the corpora minimised
#
# Each fuzzer starts from its corpus in tests/fuzz/corpus/NAME (kept in the
# repository, so a run starts where the last one stopped) plus the seeds, and
# inputs that reach new code are merged back into that corpus: commit it.
# A crash input is saved under tests/fuzz/regressions/ (front end) or
# tests/fuzz/decoder_seeds/ (decoder), where the replay ctests keep it fixed,
# and fails the run. Each fuzzer's line reports inputs run, inputs per second
# and coverage (edges, features) at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
night=0
seconds=60
if [ "${1:-}" = "--night" ]; then
  night=1
  seconds=$(( ${2:-3} * 3600 ))
elif [ -n "${1:-}" ]; then
  seconds=$1
fi
export CCACHE_BASEDIR="$PWD"
CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g0" \
  -DEDICT_FUZZ=ON -DEDICT_BUILD_TESTS=OFF >/dev/null
targets=(fuzz_frontend fuzz_decoder fuzz_checkpoint)
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]}"

# stat NAME LOG: the last value libFuzzer printed for NAME ("cov: 123" -> 123).
stat() { grep -oE "$1: *[0-9]+" "$2" | tail -1 | grep -oE '[0-9]+' || echo 0; }

# fuzz TARGET SAVE_DIR MAX_LEN SEED_DIR...
fuzz() {
  local target=$1 save=$2 max_len=$3
  shift 3
  local name=${target#fuzz_}
  local corpus=tests/fuzz/corpus/$name log=build-fuzz/$target.log
  mkdir -p "$corpus" "$save"
  local new seeds
  new=$(mktemp -d)
  seeds=$(mktemp -d)
  for dir in "$@"; do
    find "$dir" -type f \( -name '*.edict' -o -name '*.md' -o -name '*.jsonl' -o -name '*.ckpt' -o -name 'crash-*' \) \
      -exec cp {} "$seeds"/ \; 2>/dev/null || true
  done
  local before
  before=$(find "$corpus" -type f | wc -l)
  echo "fuzz: running $target for ${seconds}s from $before corpus inputs"
  # New inputs go to the first folder; the corpus and seeds are read only.
  if ! ./build-fuzz/tests/fuzz/"$target" "$new" "$corpus" "$seeds" -max_total_time="$seconds" -max_len="$max_len" \
    -timeout=10 -rss_limit_mb=2048 -seed="${FUZZ_SEED:-1}" -print_final_stats=1 -artifact_prefix="$save/" \
    >"$log" 2>&1; then
    tail -50 "$log"
    rm -rf "$new" "$seeds"
    echo "fuzz: $target FAILED (input saved under $save/)"
    exit 1
  fi
  local runs per_second cov ft
  runs=$(stat stat::number_of_executed_units "$log")
  per_second=$(stat stat::average_exec_per_sec "$log")
  cov=$(stat cov "$log")
  ft=$(stat ft "$log")
  # Keep only the new inputs that reach code the corpus does not.
  ./build-fuzz/tests/fuzz/"$target" -merge=1 -max_len="$max_len" "$corpus" "$new" >"$log.merge" 2>&1 || {
    tail -20 "$log.merge"
    echo "fuzz: merging $target's new inputs failed"
    exit 1
  }
  if [ "$night" = 1 ]; then
    # Minimise: the smallest set of inputs with the corpus's coverage.
    local min
    min=$(mktemp -d)
    ./build-fuzz/tests/fuzz/"$target" -merge=1 -max_len="$max_len" "$min" "$corpus" >"$log.merge" 2>&1
    rm -rf "$corpus" && mkdir -p "$corpus" && cp "$min"/* "$corpus"/ 2>/dev/null || true
    rm -rf "$min"
  fi
  rm -rf "$new" "$seeds"
  local after
  after=$(find "$corpus" -type f | wc -l)
  echo "fuzz: $target, no crash in ${seconds}s: $runs inputs ($per_second per second), coverage $cov edges," \
    "$ft features; corpus $before -> $after inputs"
}

fuzz fuzz_frontend tests/fuzz/regressions 1024 policies tests/golden tests/fuzz/regressions
fuzz fuzz_decoder tests/fuzz/decoder_seeds 2048 tests/fuzz/decoder_seeds
fuzz fuzz_checkpoint tests/fuzz/checkpoint_seeds 65536 tests/fuzz/checkpoint_seeds
