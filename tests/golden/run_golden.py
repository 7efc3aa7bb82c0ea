#!/usr/bin/env python3
"""Golden tests for diagnostics: runs `edict check` on every file under
tests/golden/diagnostics/ (from the repository root, so paths in the output are
stable) and compares exit code and output with the file's `.expected` twin.

  run_golden.py --edict build/cli/edict            # compare (ctest runs this)
  run_golden.py --edict build/cli/edict --update   # rewrite .expected files for review

A case file may name the codes it must produce on a line `// expect: E0101 W0102`
(in a .edict.md file: `<!-- expect: E0101 -->`); those are asserted too, so a
rewritten .expected file cannot silently lose the point of the case. A line
`args: --import-path policies` in the same place adds options to `edict check`.
"""
import argparse, os, re, subprocess, sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CASES = os.path.join("tests", "golden", "diagnostics")


def cases():
    for dirpath, _, files in os.walk(os.path.join(ROOT, CASES)):
        for f in sorted(files):
            if f.endswith(".edict") or f.endswith(".edict.md"):
                yield os.path.relpath(os.path.join(dirpath, f), ROOT)


def extra_args(case):
    with open(os.path.join(ROOT, case), "rb") as f:
        head = f.read(4096).decode("utf-8", "replace")
    m = re.search(r"args:([^\n]*?)(?:-->)?\n", head)
    return m.group(1).split() if m else []


def run(edict, case):
    p = subprocess.run([edict, "check", *extra_args(case), case], cwd=ROOT, capture_output=True, timeout=60)
    out = p.stderr.decode("utf-8", "replace") + p.stdout.decode("utf-8", "replace")
    return f"exit: {p.returncode}\n{out}"


def expected_codes(case):
    with open(os.path.join(ROOT, case), "rb") as f:
        head = f.read(4096).decode("utf-8", "replace")
    m = re.search(r"expect:\s*([A-Z0-9 ,]+)", head)
    return re.findall(r"[EW]\d{4}", m.group(1)) if m else []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edict", required=True)
    ap.add_argument("--update", action="store_true")
    a = ap.parse_args()
    edict = os.path.abspath(a.edict)
    failed, total = [], 0
    for case in cases():
        total += 1
        actual = run(edict, case)
        exp_path = os.path.join(ROOT, case + ".expected")
        missing = [c for c in expected_codes(case) if f"[{c}]" not in actual]
        if missing:
            failed.append(case)
            print(f"FAIL {case}: expected code(s) {', '.join(missing)} not reported\n{actual}")
            continue
        if a.update:
            with open(exp_path, "w", encoding="utf-8") as f:
                f.write(actual)
            continue
        try:
            with open(exp_path, encoding="utf-8") as f:
                expected = f.read()
        except FileNotFoundError:
            failed.append(case)
            print(f"FAIL {case}: no {case}.expected (run with --update and review it)")
            continue
        if expected != actual:
            failed.append(case)
            import difflib
            diff = difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), "expected", "actual")
            print(f"FAIL {case}:\n" + "".join(diff))
    if total == 0:
        print("no golden cases found")
        return 1
    print(f"{total - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
