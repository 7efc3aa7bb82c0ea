#!/usr/bin/env python3
"""Symbolic analysis figures (analysis/, Z3): `edict verify` on the shipped law
as enforced, and `edict diff --symbolic` of each what-if policy against it,
each run's wall time (policy compilation for both engines, encoding,
queries, witness replay) and the solver's own figures from the JSON report:
queries, unknowns, total and longest query time, time per query, and the
slowest queries of the last run by name (EDICT_ANALYSIS_TRACE).

  bench_analysis.py --edict build/cli/edict [--runs N]
"""
import argparse, json, os, re, statistics, subprocess, sys, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
POLICIES = os.path.join(ROOT, "policies")
LAW = os.path.join(POLICIES, "law_as_enforced.edict.md")


SLOWEST = 3


def timed(edict, args):
    start = time.monotonic()
    p = subprocess.run([edict, *args, "--format", "json"], capture_output=True, text=True,
                       env={**os.environ, "EDICT_ANALYSIS_TRACE": "1"})
    wall = time.monotonic() - start
    if p.returncode not in (0, 1):
        sys.exit(f"bench_analysis: {' '.join(args)}: exit {p.returncode}: {p.stderr[-500:]}")
    report = json.loads(p.stdout)
    # `query N: LABEL: RESULT in X ms`, one line per query.
    report["trace"] = [(float(m.group(3)), m.group(1), m.group(2)) for m in
                       re.finditer(r"^query \d+: (.*): (sat|unsat|unknown) in ([0-9.]+) ms$", p.stderr, re.M)]
    return wall, report


def report(name, edict, args, runs, what):
    walls, last = [], None
    for _ in range(runs):
        wall, last = timed(edict, args)
        walls.append(wall)
    q = last["queries"]
    per_query = q["total_ms"] / q["count"] if q["count"] else 0
    print(f"{name:<44} {statistics.median(walls):6.2f} s wall (median of {runs}); {q['count']} queries, "
          f"{q['unknown']} unknown, solver {q['total_ms'] / 1000:.2f} s, {per_query:.1f} ms/query, "
          f"longest {q['max_ms']:.0f} ms; {what(last)}")
    for ms, label, result in sorted(last["trace"], reverse=True)[:SLOWEST]:
        print(f"    {ms:8.1f} ms  {label}: {result}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edict", required=True)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    _, first = timed(a.edict, ["verify", LAW])
    s = first["solver"]
    print(f"Z3 {s['version']}, seed {s['seed']}, rlimit {s['rlimit']} per query; {os.cpu_count()} CPUs")
    report("verify law_as_enforced", a.edict, ["verify", LAW], a.runs,
           lambda r: f"{r['rules']} rules, {len(r['findings'])} findings, {len(r['unconfirmed'])} unconfirmed")
    # Windowed aggregates (the bulk_gpu_hours fault needs a history there).
    report("verify structuring.edict", a.edict,
           ["verify", "--import-path", POLICIES, os.path.join(POLICIES, "structuring.edict")], a.runs,
           lambda r: f"{r['rules']} rules, {len(r['findings'])} findings, {len(r['unconfirmed'])} unconfirmed, "
                     f"{sum(1 for f in r['findings'] if f.get('witness', {}).get('history'))} with a history")
    for whatif in sorted(os.listdir(os.path.join(POLICIES, "whatif"))):
        report(f"diff --symbolic law -> {whatif}", a.edict,
               ["diff", "--symbolic", LAW, os.path.join(POLICIES, "whatif", whatif)], a.runs,
               lambda r: f"{len(r['transitions'])} transitions, equivalent: {r['equivalent']}")


if __name__ == "__main__":
    main()
