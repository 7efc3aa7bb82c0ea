#!/usr/bin/env python3
"""Issue 19's whole-process figures in turns against an earlier build.

Runs the same `edict eval` figures with an earlier build (its own binary on
its own policies, from its own source tree, e.g. a worktree of e5116fb) and
with this one, alternating them round by round so that a change of load on
a shared machine falls on both, and prints each figure's median for both
builds and their ratio. The events are the same file for both (the earlier
build ignores fields it does not know).

  bench_turns.py --base-edict OLD/build-rel/cli/edict --base-root OLD
                 --edict build-rel/cli/edict --events-1m E1M --events-100k E100K [--rounds 5]

Only what both builds can do is compared: the earlier build has no tiered
engine, code cache or JSON summary, so every figure is the wall time of a
whole process writing its records to /dev/null, and the new build's rows
name the engine they ran (the new build without its caches unless a row
says so).
"""
import argparse
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBRARY = "policies/law_as_enforced.edict.md"
REFERENCE = "policies/reference.edict"


def whole_process(edict, root, args, events):
    """Wall seconds of one `edict eval` process run from `root`."""
    cmd = [edict, "eval", "-q", "-o", "/dev/null", *args, events]
    start = time.monotonic()
    p = subprocess.run(cmd, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       timeout=3600)
    wall = time.monotonic() - start
    if p.returncode not in (0, 3):
        sys.exit(f"bench_turns: {' '.join(cmd)} (in {root}) failed ({p.returncode}):\n{p.stderr}")
    return wall


def first_record(edict, root, args, event_line):
    """Seconds from starting `edict eval` to its first record, one event on a pipe that then closes."""
    cmd = [edict, "eval", "-q", *args, "-"]
    start = time.monotonic()
    p = subprocess.Popen(cmd, cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    # The input ends after its one event: the earlier build decides piped
    # events only when the pipe closes.
    p.stdin.write(event_line.encode() + b"\n")
    p.stdin.close()
    ready, _, _ = select.select([p.stdout], [], [], 600)
    elapsed = time.monotonic() - start
    line = p.stdout.readline() if ready else b""
    p.wait(timeout=600)
    if not line.startswith(b"{"):
        sys.exit(f"bench_turns: no record from {' '.join(cmd)} (in {root})")
    return elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base-edict", required=True, help="the earlier build's edict")
    ap.add_argument("--base-root", required=True, help="the earlier build's source tree (its policies)")
    ap.add_argument("--base-name", default="e5116fb")
    ap.add_argument("--edict", required=True)
    ap.add_argument("--events-1m", required=True)
    ap.add_argument("--events-100k", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    base_edict, edict = os.path.abspath(a.base_edict), os.path.abspath(a.edict)
    big, small = os.path.abspath(a.events_1m), os.path.abspath(a.events_100k)
    with open(small) as f:
        first_line = f.readline().rstrip("\n")
    cache = tempfile.mkdtemp(prefix="edict-turns-cache-")
    empty = os.path.join(cache, "no-events.jsonl")
    open(empty, "w").close()
    new_jit = ["--engine", "jit", "--no-code-cache"]
    # (figure, side, how): side 0 is the earlier build, 1 this one.
    figures = [
        ("library, first record", 0, "jit", lambda: first_record(base_edict, a.base_root, ["--engine", "jit", LIBRARY], first_line)),
        ("library, first record", 0, "interp", lambda: first_record(base_edict, a.base_root, ["--engine", "interp", LIBRARY], first_line)),
        ("library, first record", 1, "tiered", lambda: first_record(edict, ROOT, ["--engine", "tiered", "--no-code-cache", LIBRARY], first_line)),
        ("library, first record", 1, "tiered, code cache", lambda: first_record(edict, ROOT, ["--engine", "tiered", "--code-cache", cache, LIBRARY], first_line)),
        ("library, no events (compile)", 0, "jit", lambda: whole_process(base_edict, a.base_root, ["--engine", "jit", LIBRARY], empty)),
        ("library, no events (compile)", 1, "jit", lambda: whole_process(edict, ROOT, [*new_jit, LIBRARY], empty)),
        ("library, no events (compile)", 1, "jit, code cache", lambda: whole_process(edict, ROOT, ["--engine", "jit", "--code-cache", cache, LIBRARY], empty)),
    ]
    for label, events in (("100k", small), ("1M", big)):
        figures += [
            (f"library, {label} events", 0, "jit", lambda e=events: whole_process(base_edict, a.base_root, ["--engine", "jit", LIBRARY], e)),
            (f"library, {label} events", 0, "interp", lambda e=events: whole_process(base_edict, a.base_root, ["--engine", "interp", LIBRARY], e)),
            (f"library, {label} events", 1, "tiered", lambda e=events: whole_process(edict, ROOT, ["--engine", "tiered", "--no-code-cache", LIBRARY], e)),
            (f"library, {label} events", 1, "jit", lambda e=events: whole_process(edict, ROOT, [*new_jit, LIBRARY], e)),
            (f"library, {label} events", 1, "interp", lambda e=events: whole_process(edict, ROOT, ["--engine", "interp", LIBRARY], e)),
        ]
    for j in ("1", "2"):
        figures += [
            (f"reference, 1M events, -j {j}", 0, "jit", lambda j=j: whole_process(base_edict, a.base_root, ["-j", j, REFERENCE], big)),
            (f"reference, 1M events, -j {j}", 1, "jit", lambda j=j: whole_process(edict, ROOT, [*new_jit, "-j", j, REFERENCE], big)),
        ]
    # Fill the code cache once, so its rows are second runs.
    whole_process(edict, ROOT, ["--engine", "jit", "--code-cache", cache, LIBRARY], empty)
    times = {i: [] for i in range(len(figures))}
    for r in range(a.rounds):
        # Each figure's earlier-build run sits next to this build's.
        for i, (_, _, _, run) in enumerate(figures):
            times[i].append(run())
        print(f"  round {r + 1} of {a.rounds} done", file=sys.stderr, flush=True)
    names = (a.base_name, "this build")
    print(f"whole `edict eval` processes, wall, median of {a.rounds} alternating rounds "
          f"({a.base_name} on its own policies; events {os.path.basename(big)} / {os.path.basename(small)}):")
    print(f"  {'figure':<32} {'build':<11} {'engine':<20} {'median':>9} {'min':>9} {'max':>9}")
    for i, (label, side, engine, _) in enumerate(figures):
        t = times[i]
        print(f"  {label:<32} {names[side]:<11} {engine:<20} {statistics.median(t):8.3f}s "
              f"{min(t):8.3f}s {max(t):8.3f}s")
    # The ratios issue 19 asks about, each from the medians above.
    med = {(label, side, engine): statistics.median(times[i]) for i, (label, side, engine, _) in enumerate(figures)}
    print("ratios (earlier build's median over this build's):")
    for label in ("library, 100k events", "library, 1M events"):
        for engine in ("tiered", "jit"):
            print(f"  {label}: {a.base_name} jit / this build {engine}: "
                  f"{med[(label, 0, 'jit')] / med[(label, 1, engine)]:.2f}x; "
                  f"{a.base_name} interp / this build {engine}: {med[(label, 0, 'interp')] / med[(label, 1, engine)]:.2f}x")
    print(f"  library, no events: {a.base_name} jit / this build jit "
          f"{med[('library, no events (compile)', 0, 'jit')] / med[('library, no events (compile)', 1, 'jit')]:.2f}x, "
          f"/ code cache {med[('library, no events (compile)', 0, 'jit')] / med[('library, no events (compile)', 1, 'jit, code cache')]:.2f}x")
    for side in (0, 1):
        ratio = med[("reference, 1M events, -j 1", side, "jit")] / med[("reference, 1M events, -j 2", side, "jit")]
        print(f"  reference, 1M events, {names[side]}: -j 2 over -j 1 {ratio:.2f}x")
    subprocess.run(["rm", "-rf", cache], check=False)


if __name__ == "__main__":
    main()
