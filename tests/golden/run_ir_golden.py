#!/usr/bin/env python3
"""Golden tests for the IR: `edict check --emit=ir` on each shipped policy (run
from the repository root, so source paths in the IR are stable) must print
exactly tests/golden/ir/<name>.ir. The IR is the written contract between the
checker and the backends, so a change to lowering or to a pass shows up here
as a diff to review.

  run_ir_golden.py --edict build/cli/edict            # compare (ctest runs this)
  run_ir_golden.py --edict build/cli/edict --update   # rewrite the .ir files for review

A difference prints the first hunk of the unified diff and how many follow.
"""
import argparse, difflib, os, subprocess, sys

from run_outputs import ROOT, SHIPPED

GOLDEN = os.path.join("tests", "golden", "ir")


def golden_name(policy):
    return os.path.basename(policy).split(".")[0] + ".ir"


def first_hunk(expected, actual, name):
    lines = list(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True),
                                      f"{GOLDEN}/{name}", "edict check --emit=ir"))
    starts = [i for i, line in enumerate(lines) if line.startswith("@@")]
    shown = lines[:starts[1]] if len(starts) > 1 else lines
    more = f"\n({len(starts) - 1} more hunk(s))" if len(starts) > 1 else ""
    return "".join(shown).rstrip("\n") + more


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edict", required=True)
    ap.add_argument("--update", action="store_true")
    a = ap.parse_args()
    edict = os.path.abspath(a.edict)
    names = [golden_name(p) for p in SHIPPED]
    assert len(set(names)) == len(names), f"two shipped policies share a golden name: {names}"

    failed = []
    for policy, name in zip(SHIPPED, names):
        p = subprocess.run([edict, "check", "--emit=ir", "--import-path", "policies", policy], cwd=ROOT, capture_output=True, timeout=120)
        if p.returncode != 0:
            failed.append(name)
            print(f"FAIL {policy}: exit {p.returncode}\n{p.stderr.decode('utf-8', 'replace')}")
            continue
        actual = p.stdout.decode("utf-8")
        path = os.path.join(ROOT, GOLDEN, name)
        if a.update:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(actual)
            continue
        try:
            with open(path, encoding="utf-8", newline="") as f:
                expected = f.read()
        except FileNotFoundError:
            failed.append(name)
            print(f"FAIL {policy}: no {GOLDEN}/{name} (run with --update and review it)")
            continue
        if expected != actual:
            failed.append(name)
            print(f"FAIL {policy}: its IR differs from {GOLDEN}/{name}")
            print(first_hunk(expected, actual, name))

    stale = sorted(set(os.listdir(os.path.join(ROOT, GOLDEN))) - set(names))
    for name in stale:
        if a.update:
            os.remove(os.path.join(ROOT, GOLDEN, name))
        else:
            print(f"FAIL {GOLDEN}/{name}: no shipped policy produces it (run with --update to remove it)")
    if a.update:
        removed = f", removed {len(stale)}" if stale else ""
        print(f"wrote {len(names) - len(failed)} files to {GOLDEN}{removed}")
        return 1 if failed else 0
    print(f"{len(names) - len(failed)} passed, {len(failed) + len(stale)} failed")
    return 1 if failed or stale else 0


if __name__ == "__main__":
    sys.exit(main())
