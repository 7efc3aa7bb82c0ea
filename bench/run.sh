#!/usr/bin/env bash
# Every evaluation figure of the reference workload in one run: builds a
# Release tree (build-rel/), generates the 1M-event corpus, runs bench_eval
# (compile time, decode, JIT/interpreter/hand-written ns per event, end to
# end MB/s) and measures `edict eval`'s peak memory on a >1 GB input.
#
#   bash bench/run.sh [EVENTS]     # EVENTS defaults to 1,000,000
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"
bash scripts/setup.sh
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
cmake -S . -B build-rel -G Ninja -DCMAKE_BUILD_TYPE=Release -DEDICT_BUILD_TESTS=OFF >/dev/null
cmake --build build-rel --target edict bench_eval >/dev/null
mkdir -p build-rel/data
corpus="build-rel/data/events-n${n}-seed7.jsonl"
[ -s "$corpus" ] || python3 bench/gen_events.py -n "$n" --seed 7 > "$corpus"

./build-rel/bench/bench_eval policies/reference.edict "$corpus" --rounds 3

# Memory: the corpus repeated until the input passes 1 GB, streamed through
# `edict eval` (JIT, one thread, JSONL to /dev/null).
big=build-rel/data/events-1gb.jsonl
if [ ! -s "$big" ]; then
  : > "$big"
  while [ "$(stat -c %s "$big")" -lt 1000000000 ]; do cat "$corpus" >> "$big"; done
fi
/usr/bin/time -f "%M %e %U" -o build-rel/data/time.txt \
  ./build-rel/cli/edict eval -q policies/reference.edict "$big" -o /dev/null || true
read -r rss wall user < build-rel/data/time.txt
echo "edict eval on $(( $(stat -c %s "$big") / 1000000 )) MB: peak resident ${rss} kB ($(( rss / 1024 )) MB), ${wall} s wall, ${user} s user"

# Symbolic analysis (Z3): `edict verify` on the law as enforced and
# `edict diff --symbolic` of each what-if against it, with time per query.
python3 bench/bench_analysis.py --edict ./build-rel/cli/edict
