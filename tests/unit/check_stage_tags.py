#!/usr/bin/env python3
"""Every unit test case runs in exactly one ctest entry: ctest runs the Catch2
binary once per stage tag (`unit_check` runs `edict_unit_tests "[check]"`), so a
test case whose tags name no registered stage would silently never run, and one
with two stage tags would run twice. This asks the binary itself which cases
each stage selects and compares that with the full list.

  check_stage_tags.py --unit-tests build/tests/edict_unit_tests --stages support parse ...

Hidden cases (a tag starting with `.`, such as [.jit-bench]) are left out of
the full list by Catch2 and stay out of every entry.
"""
import argparse, re, subprocess, sys


def names(binary, *spec):
    # Catch2 v2 exits with the number of cases listed, so the code says nothing.
    p = subprocess.run([binary, *spec, "--list-test-names-only"], capture_output=True, text=True, timeout=60)
    return [line for line in p.stdout.splitlines() if line.strip()]


def tags(binary, spec):
    p = subprocess.run([binary, spec, "--list-tags"], capture_output=True, text=True, timeout=60)
    return re.findall(r"^\s*\d+\s+(\[.*\])\s*$", p.stdout, re.M)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--unit-tests", required=True)
    ap.add_argument("--stages", nargs="+", required=True)
    a = ap.parse_args()

    everything = names(a.unit_tests)
    if not everything:
        print(f"FAIL: {a.unit_tests} lists no test cases")
        return 1
    stages_of = {name: [] for name in everything}
    problems = 0
    for stage in a.stages:
        selected = names(a.unit_tests, f"[{stage}]~[.]")
        if not selected:
            problems += 1
            print(f"FAIL: the ctest entry unit_{stage} selects no test case: drop it or tag cases [{stage}]")
        for name in selected:
            stages_of.setdefault(name, []).append(stage)

    outside = [n for n, s in stages_of.items() if not s]
    if outside:
        problems += len(outside)
        unregistered = tags(a.unit_tests, "".join(f"~[{s}]" for s in a.stages) + "~[.]")
        print(f"FAIL: {len(outside)} test case(s) run in no ctest entry (tags {' '.join(unregistered)});"
              f" tag each with one stage of {' '.join(a.stages)}, or add its stage to EDICT_UNIT_STAGES"
              " in tests/CMakeLists.txt:")
        for name in outside:
            print(f"  {name}")
    for name, stages in stages_of.items():
        if len(stages) > 1:
            problems += 1
            print(f"FAIL: '{name}' runs in {len(stages)} entries ({', '.join(stages)});"
                  " give it one stage tag")

    counts = " ".join(f"{s}={sum(s in v for v in stages_of.values())}" for s in a.stages)
    print(f"{len(everything)} test cases, {len(a.stages)} stages ({counts}), {problems} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
