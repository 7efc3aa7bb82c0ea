#!/usr/bin/env bash
# Issue 19's whole-process figures in turns against an earlier commit
# (default e5116fb, the commit the issue measured): checks the commit out in
# a worktree under build-rel/, builds its Release `edict` there, builds this
# tree's (as bench/run.sh does), and runs bench/bench_turns.py on run.sh's
# corpora, alternating the two builds figure by figure.
#
#   bash bench/turns.sh [REV] [--rounds N]
set -euo pipefail
cd "$(dirname "$0")/.."
rev=e5116fb rounds=5
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift ;;
    *) rev="$1" ;;
  esac
  shift
done
bash scripts/setup.sh
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
cmake -S . -B build-rel -G Ninja -DCMAKE_BUILD_TYPE=Release -DEDICT_BUILD_TESTS=OFF >/dev/null
cmake --build build-rel --target edict >/dev/null
base="build-rel/base-$rev"
if [ ! -d "$base" ]; then
  git worktree add --detach "$base" "$rev" >/dev/null
fi
(cd "$base" && export CCACHE_BASEDIR="$PWD" &&
  cmake -S . -B build-rel -G Ninja -DCMAKE_BUILD_TYPE=Release -DEDICT_BUILD_TESTS=OFF >/dev/null &&
  cmake --build build-rel --target edict >/dev/null)
mkdir -p build-rel/data
corpus=build-rel/data/events-n1000000-seed7.jsonl
small=build-rel/data/events-n100000-seed7.jsonl
[ -s "$corpus" ] || python3 bench/gen_events.py -n 1000000 --seed 7 > "$corpus"
[ -s "$small" ] || python3 bench/gen_events.py -n 100000 --seed 7 > "$small"
python3 bench/bench_turns.py --base-edict "$base/build-rel/cli/edict" --base-root "$base" --base-name "$rev" \
  --edict build-rel/cli/edict --events-1m "$corpus" --events-100k "$small" --rounds "$rounds"
