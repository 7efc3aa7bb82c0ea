#!/usr/bin/env python3
"""Whole-process figures of `edict eval` as a user runs it (issue 19's floors).

Each figure is the wall time of one `edict eval` process (start, loading and
compiling, deciding, writing to /dev/null), the median of --rounds runs, with
the compile and decide split from its JSON summary. Every first run compiles
afresh (--no-code-cache) unless the row is about the code cache.

  bench_product.py --edict build-rel/cli/edict --events-1m E1M --events-100k E100K
                   [--rules 10000 100000] [--rounds 3] [--memory-input BIG]

Rows, each with its floor and whether this run met it (wall-clock figures on
a shared machine are noisy: compare ratios from one run):
  first decision (process start to first record), shipped library;
  shipped library, 100k and 1M events: tiered, JIT, interpreter;
  second run with the code cache: compile ms;
  reference workload -j 1 and -j 2, 1M events;
  generated policies of 10,000 (and 100,000: --rules) rules: first decision
  and 10,000 events end to end, JIT against the interpreter;
  peak memory of -j 2 on a >1 GB input.
"""
import argparse
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBRARY = os.path.join(ROOT, "policies", "law_as_enforced.edict.md")
REFERENCE = os.path.join(ROOT, "policies", "reference.edict")
POLICIES = os.path.join(ROOT, "policies")


def floor_note(ok):
    return "met" if ok else "NOT met"


def eval_run(edict, policy, events, engine, extra=(), timeout=3600):
    """(wall seconds, JSON summary) of one whole `edict eval` process."""
    cmd = [edict, "eval", "--engine", engine, "--summary-format", "json", "--import-path", POLICIES,
           "-o", "/dev/null", *extra, policy, events]
    start = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=timeout)
    wall = time.monotonic() - start
    if p.returncode not in (0, 3):
        sys.exit(f"bench_product: {' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    summary = json.loads(p.stderr.strip().splitlines()[-1])
    return wall, summary


def median_run(edict, policy, events, engine, rounds, extra=()):
    """The run of median wall time among `rounds`."""
    runs = sorted((eval_run(edict, policy, events, engine, extra) for _ in range(rounds)), key=lambda r: r[0])
    return runs[len(runs) // 2]


def first_decision(edict, policy, event_line, engine, extra=(), timeout=600):
    """Seconds from starting `edict eval` to its first record, one event on a pipe."""
    cmd = [edict, "eval", "-q", "--engine", engine, "--import-path", POLICIES, *extra, policy, "-"]
    start = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    p.stdin.write(event_line.encode() + b"\n")
    p.stdin.flush()
    ready, _, _ = select.select([p.stdout], [], [], timeout)
    elapsed = time.monotonic() - start
    line = p.stdout.readline() if ready else b""
    p.stdin.close()
    p.wait(timeout=timeout)
    if not line.startswith(b"{"):
        sys.exit(f"bench_product: no record from {' '.join(cmd)}")
    return elapsed


def compile_split(summary):
    return summary.get("load_seconds", 0.0), summary["seconds"]


def row(label, wall, summary=None, note=""):
    split = ""
    if summary is not None:
        load, decide = compile_split(summary)
        split = f"  (compile {load:.2f} s, decide {decide:.2f} s, {summary['mb_per_second']:.0f} MB/s deciding)"
    print(f"  {label:<44} {wall:7.2f} s{split}{note}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edict", required=True)
    ap.add_argument("--events-1m", required=True)
    ap.add_argument("--events-100k", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rules", type=int, nargs="*", default=[10000],
                    help="sizes of generated policies (100000 takes minutes)")
    ap.add_argument("--memory-input", help="a >1 GB events file for the peak-memory row")
    ap.add_argument("--skip", nargs="*", default=[], help="rows to leave out: library reference rules memory")
    a = ap.parse_args()
    with open(a.events_100k) as f:
        first_line = f.readline().rstrip("\n")
    no_cache = ["--no-code-cache"]
    print("whole process `edict eval` (wall, median of %d; compile = loading and compiling the policy)" % a.rounds)

    if "library" not in a.skip:
        print("shipped library (policies/law_as_enforced.edict.md), no code cache:")
        firsts = {e: statistics.median(first_decision(a.edict, LIBRARY, first_line, e, no_cache)
                                       for _ in range(a.rounds)) for e in ("tiered", "jit", "interp")}
        for e, s in firsts.items():
            print(f"  first decision, {e:<8} (process start to first record) {s * 1000:7.0f} ms")
        print(f"  floor: first decision of the shipped library (tiered) < 150 ms: {floor_note(firsts['tiered'] < 0.150)}")
        for size, events in (("small", a.events_100k), ("large", a.events_1m)):
            walls = {}
            for e in ("tiered", "jit", "interp"):
                walls[e], summary = median_run(a.edict, LIBRARY, events, e, a.rounds, no_cache)
                label = f"{summary['lines']:,} events"
                row(f"{label}, {e}", walls[e], summary)
            ratio = walls["interp"] / walls["tiered"]
            # The floors are for 100k and 1M events (run.sh's corpora by default).
            want = 1.0 if size == "small" else 1.5
            print(f"  {label}: interpreter / tiered {ratio:.2f}x (floor >= {want}x: {floor_note(ratio >= want)}); "
                  f"interpreter / JIT {walls['interp'] / walls['jit']:.2f}x")
        with tempfile.TemporaryDirectory() as cache:
            extra = ["--code-cache", cache]
            eval_run(a.edict, LIBRARY, a.events_100k, "jit", extra)  # fills the caches
            wall, summary = eval_run(a.edict, LIBRARY, a.events_100k, "jit", extra)
            # All of loading the policy (the summary's compile: front end or
            # its cache, data sources, JIT or its cache), not a part of it.
            ms = summary["load_seconds"] * 1000
            row(f"{summary['lines']:,} events, JIT, second run (code cache)", wall, summary)
            print(f"  second run with the code cache: compile {ms:.1f} ms (front end and data sources "
                  f"{summary['compile_ms']:.1f}, JIT {summary['jit_ms']:.1f}; floor < 20 ms: {floor_note(ms < 20)})")

    if "reference" not in a.skip:
        print("reference workload (policies/reference.edict), the large corpus, JIT:")
        walls = {}
        for j in ("1", "2"):
            walls[j], summary = median_run(a.edict, REFERENCE, a.events_1m, "jit", a.rounds, ["-j", j])
            row(f"-j {j}", walls[j], summary)
        print(f"  -j 2 over -j 1: {walls['1'] / walls['2']:.2f}x whole process "
              f"(floor >= 1.7x: {floor_note(walls['1'] / walls['2'] >= 1.7)})")

    if "rules" not in a.skip:
        gen = os.path.join(ROOT, "bench", "gen_policy.py")
        # The first 10,000 events: the interpreter takes about a millisecond an
        # event over 10,000 rules.
        few = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False)
        with open(a.events_100k) as f:
            for _, line in zip(range(10000), f):
                few.write(line)
        few.close()
        for n in a.rules:
            print(f"generated policy of {n:,} rules, no code cache, at most 10,000 events:")
            with tempfile.NamedTemporaryFile("w", suffix=".edict", delete=False) as f:
                subprocess.run([sys.executable, gen, "-n", str(n), "--events",
                                os.path.join(POLICIES, "common", "events.edict")], stdout=f, check=True)
                path = f.name
            try:
                firsts = {e: first_decision(a.edict, path, first_line, e, no_cache) for e in ("tiered", "interp", "jit")}
                for e, s in firsts.items():
                    print(f"  first decision, {e:<8} {s:8.2f} s")
                walls = {}
                for e in ("tiered", "interp", "jit"):
                    walls[e], summary = eval_run(a.edict, path, few.name, e, no_cache)
                    row(f"{summary['lines']:,} events, {e}", walls[e], summary)
                if n >= 100000:
                    print(f"  floor: first decision < 5 s: {floor_note(firsts['tiered'] < 5)}; "
                          f"JIT never slower than the interpreter end to end: "
                          f"{floor_note(min(walls['tiered'], walls['jit']) <= walls['interp'])}")
            finally:
                os.unlink(path)
        os.unlink(few.name)

    if "memory" not in a.skip and a.memory_input:
        size = os.path.getsize(a.memory_input)
        out = subprocess.run(["/usr/bin/time", "-f", "%M %e", a.edict, "eval", "-q", "-j", "2", REFERENCE,
                              a.memory_input, "-o", "/dev/null"], stderr=subprocess.PIPE, text=True)
        rss_kb, wall = out.stderr.strip().splitlines()[-1].split()
        mb = int(rss_kb) / 1024
        print(f"peak memory, -j 2, {size / 1e6:.0f} MB input: {mb:.0f} MB resident, {float(wall):.2f} s "
              f"(floor < 200 MB: {floor_note(mb < 200)})")


if __name__ == "__main__":
    main()
