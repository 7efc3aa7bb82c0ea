#!/usr/bin/env python3
"""The corpus of realistic mistakes: every case under tests/golden/diagnostics/
that names its place (`<!-- expect: E0020 at: 18 -->`, in a .edict file
`// expect: E0020 at: 18`) must produce exactly one primary diagnostic (an
error or a warning; notes and labels are not counted), with that code, on that
line. The full text of each case's output is compared by run_golden.py; this
asserts the point of the corpus, one mistake -> one diagnostic at its place.

  run_corpus.py --edict build/cli/edict
"""
import argparse, json, os, re, subprocess, sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CASES = os.path.join(ROOT, "tests", "golden", "diagnostics")
MARK = re.compile(r"expect:\s*([EW]\d{4})\s+at:\s*(\d+)")


def cases():
    for dirpath, _, files in os.walk(CASES):
        for f in sorted(files):
            if not (f.endswith(".edict") or f.endswith(".edict.md")):
                continue
            path = os.path.join(dirpath, f)
            with open(path, "rb") as fh:
                head = fh.read(4096).decode("utf-8", "replace")
            m = MARK.search(head)
            if m:
                args = re.search(r"args:([^\n]*?)(?:-->)?\n", head)
                yield os.path.relpath(path, ROOT), m.group(1), int(m.group(2)), args.group(1).split() if args else []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edict", required=True)
    a = ap.parse_args()
    edict = os.path.abspath(a.edict)
    failed, total = [], 0
    for case, code, line, args in cases():
        total += 1
        p = subprocess.run([edict, "check", "--error-format", "json", *args, case], cwd=ROOT,
                           capture_output=True, timeout=60)
        text = p.stdout.decode("utf-8", "replace").strip() or p.stderr.decode("utf-8", "replace").strip()
        try:
            diags = json.loads(text) if text.startswith("[") else []
        except json.JSONDecodeError:
            diags = None
        if diags is None:
            failed.append(case)
            print(f"FAIL {case}: output is not a JSON array:\n{text}")
            continue
        primary = [d for d in diags if d.get("severity") in ("error", "warning")]
        got = [(d.get("code"), d.get("line")) for d in primary]
        if got != [(code, line)]:
            failed.append(case)
            print(f"FAIL {case}: expected exactly one diagnostic {code} on line {line}, got {got}")
    if total < 50:
        print(f"only {total} corpus cases (at least 50 expected)")
        return 1
    print(f"{total - len(failed)} of {total} cases give exactly one diagnostic at the right place")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
