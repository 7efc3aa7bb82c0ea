#!/usr/bin/env bash
# Every performance figure of the reference workload and the shipped library
# in one run (issue 19's floors): builds a Release tree (build-rel/),
# generates the corpora, then prints
#  - bench_eval: compile time, decode, JIT/interpreter/hand-written ns per
#    event over decoded columns, end-to-end MB/s per stage;
#  - bench_lookup: what one exact data lookup per rental adds to the JIT
#    batch path; bench_aot_data.py: that lookup and a name screening in an
#    ahead-of-time library against the JIT's one-event path;
#  - the hand-written end-to-end baseline (simdjson On-Demand, the fields
#    the workload reads, the same records) beside `edict eval -j 1`, with
#    the ratio, and whether their records are the same bytes;
#  - bench_product.py: whole `edict eval` processes: first decision, the
#    shipped library at 100k and 1M events (tiered, JIT, interpreter), the
#    second run with the code cache, -j 1 and -j 2, generated policies of
#    10,000 rules (100,000 with --big), peak memory of -j 2 on a >1 GB input;
#  - the symbolic analysis figures.
# Wall-clock figures on a shared machine are noisy: compare ratios measured
# in one run.
#
#   bash bench/run.sh [EVENTS] [--big] [--quick]
#     EVENTS   defaults to 1,000,000
#     --big    also the policy of 100,000 generated rules (several minutes)
#     --quick  one round per whole-process figure (three otherwise)
set -euo pipefail
cd "$(dirname "$0")/.."
n=1000000 big=0 rounds=3
for arg in "$@"; do
  case "$arg" in
    --big) big=1 ;;
    --quick) rounds=1 ;;
    *) n="$arg" ;;
  esac
done
bash scripts/setup.sh
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
cmake -S . -B build-rel -G Ninja -DCMAKE_BUILD_TYPE=Release -DEDICT_BUILD_TESTS=OFF >/dev/null
cmake --build build-rel --target edict edict_shared bench_eval bench_lookup bench_baseline_e2e >/dev/null
mkdir -p build-rel/data
corpus="build-rel/data/events-n${n}-seed7.jsonl"
small="build-rel/data/events-n100000-seed7.jsonl"
[ -s "$corpus" ] || python3 bench/gen_events.py -n "$n" --seed 7 > "$corpus"
[ -s "$small" ] || python3 bench/gen_events.py -n 100000 --seed 7 > "$small"

./build-rel/bench/bench_eval policies/reference.edict "$corpus" --rounds 3
# One exact data lookup per rental (bench/lookup_rule.edict): what it adds
# to the JIT batch path (floor: at most 10 ns per event). The list of
# holders is generated next to the corpus.
./build-rel/bench/bench_lookup policies/reference.edict "$small" --rounds 5 \
  --holders build-rel/data/lookup_holders.csv
# The same lookup and a name screening against the shipped Entity List in an
# ahead-of-time library (`edict build`) beside the JIT's one-event path.
python3 bench/bench_aot_data.py --edict build-rel/cli/edict --source . --work build-rel/bench-aot-data

# The hand-written end-to-end baseline against `edict eval -j 1` (JIT), each
# the median of three whole processes; their records compared byte for byte.
echo "end to end, reference workload, one thread, $(( $(stat -c %s "$corpus") / 1000000 )) MB:"
python3 - "$corpus" <<'EOF'
import json, os, statistics, subprocess, sys, time
corpus = sys.argv[1]
mb = os.path.getsize(corpus) / 1e6
def timed(cmd):
    start = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode not in (0, 3):
        sys.exit(f"{cmd} failed: {p.stderr}")
    return time.monotonic() - start, p
base = statistics.median(timed(["./build-rel/bench/bench_baseline_e2e", corpus])[0] for _ in range(3))
runs = [timed(["./build-rel/cli/edict", "eval", "--engine", "jit", "-j", "1", "--summary-format", "json",
               "policies/reference.edict", corpus, "-o", "/dev/null"]) for _ in range(3)]
runs.sort(key=lambda r: r[0])
wall, p = runs[1]
s = json.loads(p.stderr.strip().splitlines()[-1])
print(f"  hand-written (simdjson On-Demand)   {base:6.2f} s  {mb / base:6.0f} MB/s")
print(f"  edict eval -j 1, JIT                {wall:6.2f} s  {mb / wall:6.0f} MB/s whole process "
      f"(compile {s['load_seconds']:.2f} s; deciding {s['mb_per_second']:.0f} MB/s)")
print(f"  Edict / hand-written: {base / wall:.2f}x whole process (floor >= 1.0x: "
      f"{'met' if base / wall >= 1.0 else 'NOT met'}); "
      f"{mb / wall:.0f} MB/s (floor >= 1,000 MB/s: {'met' if mb / wall >= 1000 else 'NOT met'})")
EOF
head -20000 "$corpus" > build-rel/data/same-bytes.jsonl
./build-rel/bench/bench_baseline_e2e build-rel/data/same-bytes.jsonl -o build-rel/data/same-bytes.hand >/dev/null
./build-rel/cli/edict eval -q policies/reference.edict build-rel/data/same-bytes.jsonl \
  -o build-rel/data/same-bytes.edict || true
if cmp -s build-rel/data/same-bytes.hand build-rel/data/same-bytes.edict; then
  echo "  the hand-written records are Edict's, byte for byte (first 20,000 events)"
else
  echo "  WARNING: the hand-written records differ from Edict's (first 20,000 events)"
fi

# Whole processes: the >1 GB input is the corpus repeated.
big_input=build-rel/data/events-1gb.jsonl
if [ ! -s "$big_input" ]; then
  : > "$big_input"
  while [ "$(stat -c %s "$big_input")" -lt 1000000000 ]; do cat "$corpus" >> "$big_input"; done
fi
rules=(10000)
[ "$big" = 1 ] && rules+=(100000)
python3 bench/bench_product.py --edict ./build-rel/cli/edict --events-1m "$corpus" --events-100k "$small" \
  --rounds "$rounds" --rules "${rules[@]}" --memory-input "$big_input"

# Symbolic analysis (Z3): `edict verify` on the law as enforced and
# `edict diff --symbolic` of each what-if against it, with time per query.
python3 bench/bench_analysis.py --edict ./build-rel/cli/edict
