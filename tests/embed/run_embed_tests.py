#!/usr/bin/env python3
"""The embedding examples against the installed package: installs the build
into a prefix, builds examples/ (C++ and C) with find_package(Edict), runs
them and the ctypes example on a generated corpus with malformed lines, and
checks every line's decision and fired rules against `edict eval`, and the
ctypes example's explanations against `edict explain --format json`.

    run_embed_tests.py --build BUILD_DIR --source SOURCE_DIR --edict EDICT
"""
import argparse
import glob
import json
import os
import subprocess
import sys


def run(cmd, quiet=False, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.stderr.write("command failed (%d): %s\n%s%s" % (r.returncode, " ".join(cmd), r.stdout, r.stderr))
        sys.exit(1)
    if quiet and r.stderr:
        # The library never writes to stdout or stderr; the examples only to stdout.
        sys.exit("%s wrote to stderr:\n%s" % (" ".join(cmd), r.stderr))
    return r.stdout


def parse_screen(text):
    rows = {}
    for line in text.splitlines():
        if line.startswith("  "):
            continue
        number, decision, rules = line.split("\t")
        rows[number] = (decision, rules.split(",") if rules else [])
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--edict", required=True)
    ap.add_argument("-n", type=int, default=3000)
    args = ap.parse_args()
    work = os.path.join(args.build, "embed-test")
    prefix = os.path.join(work, "prefix")
    os.makedirs(work, exist_ok=True)

    # Install what the build made (no rebuild), then build the consumer.
    run(["cmake", "--install", args.build, "--prefix", prefix])
    run(["cmake", "-S", os.path.join(args.source, "examples"), "-B", os.path.join(work, "examples"),
         "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_PREFIX_PATH=" + prefix])
    run(["cmake", "--build", os.path.join(work, "examples")])
    libs = glob.glob(os.path.join(prefix, "lib*", "**", "libedict.so"), recursive=True)
    assert len(libs) == 1, libs
    for header in ("edict.h", "edict.hpp"):
        assert os.path.exists(os.path.join(prefix, "include", "edict", header)), header

    policy = os.path.join(args.source, "policies", "reference.edict")
    events = os.path.join(work, "events.jsonl")
    with open(events, "w") as f:
        subprocess.run([sys.executable, os.path.join(args.source, "bench", "gen_events.py"), "-n", str(args.n),
                        "--seed", "7", "--dirty", "0.05"], stdout=f, check=True)
    records = os.path.join(work, "eval.jsonl")
    r = subprocess.run([args.edict, "eval", "--quiet", policy, events, "-o", records])
    assert r.returncode in (0, 3), r.returncode  # 3: some lines were errors, as intended
    expected = {}
    with open(records) as f:
        for rec in map(json.loads, f):
            expected[str(rec["line"])] = (rec["decision"], [x["name"] for x in rec.get("rules", [])])
    assert len(expected) == args.n, len(expected)
    assert any(d == "error" for d, _ in expected.values()) and any(d == "deny" for d, _ in expected.values())

    outputs = {
        "C++": run([os.path.join(work, "examples", "screen_cpp"), policy, events], quiet=True),
        "C": run([os.path.join(work, "examples", "screen_c"), policy, events], quiet=True),
        "Python ctypes": run([sys.executable, os.path.join(args.source, "examples", "python", "screen.py"),
                              policy, events, "--lib", libs[0]], quiet=True),
    }
    failed = False
    # The embedding guide shows these very files.
    with open(os.path.join(args.source, "docs", "embedding.md")) as f:
        guide = f.read()
    for example in ("cpp/screen.cpp", "c/screen.c", "python/screen.py", "CMakeLists.txt"):
        with open(os.path.join(args.source, "examples", example)) as f:
            if f.read().strip() not in guide:
                failed = True
                print("docs/embedding.md does not show examples/%s as it is" % example)
    for name, text in outputs.items():
        got = parse_screen(text)
        typed = got.pop("typed", None)
        diffs = [n for n in expected if got.get(n) != expected[n]]
        if diffs or len(got) != len(expected):
            failed = True
            n = diffs[0] if diffs else "?"
            print("%s example disagrees with edict eval on %d lines, e.g. line %s: %s vs %s"
                  % (name, len(diffs), n, got.get(n), expected.get(n)))
        else:
            print("%s example: %d lines, all decisions equal edict eval's" % (name, len(got)))
        if name == "C++":
            if typed != ("deny", ["hq_d5"]):
                failed = True
                print("C++ typed event: expected deny by hq_d5, got %s" % (typed,))

    # Explanations through the C ABI equal `edict explain`'s, on the lines it
    # reads one per line (objects; malformed or incomplete events included).
    explain_events = os.path.join(work, "explain-events.jsonl")
    with open(events, "rb") as f, open(explain_events, "wb") as out:
        kept = [l for l in f if l.strip(b" \t\r\n").startswith(b"{") and l.strip(b" \t\r\n").endswith(b"}")][:400]
        out.writelines(kept)
    r = subprocess.run([args.edict, "explain", "--format", "json", policy, explain_events],
                       capture_output=True, text=True)
    assert r.returncode in (0, 3), (r.returncode, r.stderr)
    expected = [json.loads(l) for l in r.stdout.splitlines()]
    text = run([sys.executable, os.path.join(args.source, "examples", "python", "screen.py"), policy,
                explain_events, "--lib", libs[0], "--explain"], quiet=True)
    got = [json.loads(l[2:]) for l in text.splitlines() if l.startswith("  ")]
    for e in expected + got:
        e.pop("line")  # the file's line there, 1 (the event alone) through the API
    assert len(expected) == len(kept) and any(e["decision"] == "error" for e in expected), len(expected)
    diffs = [i for i in range(len(expected)) if i >= len(got) or got[i] != expected[i]]
    if diffs or len(got) != len(expected):
        failed = True
        i = diffs[0] if diffs else len(expected)
        print("Python ctypes explanations differ from edict explain on %d of %d events, e.g. event %d:\n%s\n%s"
              % (len(diffs), len(expected), i + 1, got[i] if i < len(got) else None,
                 expected[i] if i < len(expected) else None))
    else:
        print("Python ctypes example: %d explanations, all equal edict explain's" % len(got))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
