#!/usr/bin/env python3
"""Ahead-of-time policies (`edict build`): builds the reference workload as a
shared library (portable and host CPU) and as an object file, links a plain C
driver against each, and checks that
  - every decision and fired-rule list equals `edict eval` (JIT) on a
    100,000-event corpus (bench/gen_events.py -n 100000 --seed 7);
  - the driver and the library need neither LLVM, ANTLR, libedict nor the
    C++ runtime (ldd), and the library exports only its own entry points (nm);
  - a program compiled against one policy's header refuses a library built
    from another policy with the same name (schema version mismatch).

    run_aot_tests.py --edict EDICT --source SOURCE_DIR --work DIR [-n N]
"""
import argparse
import json
import os
import subprocess
import sys


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit("command failed (%d): %s\n%s%s" % (r.returncode, " ".join(cmd), r.stdout, r.stderr))
    return r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edict", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("-n", type=int, default=100000)
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    w = lambda *p: os.path.join(args.work, *p)
    cc = os.environ.get("CC", "cc")
    policy = os.path.join(args.source, "policies", "reference.edict")
    driver = os.path.join(args.source, "tests", "aot", "reference_driver.c")
    failures = []

    # Libraries and drivers.
    programs = {}
    for cpu in ("portable", "host"):
        os.makedirs(w(cpu), exist_ok=True)
        run([args.edict, "build", "-q", policy, "-o", w(cpu, "libreference.so"), "--target-cpu", cpu])
        run([cc, "-std=c11", "-O2", "-I", w(cpu), driver, "-o", w(cpu, "driver"), "-L", w(cpu), "-lreference",
             "-Wl,-rpath," + w(cpu)])
        programs["shared library, %s CPU" % cpu] = w(cpu, "driver")
    os.makedirs(w("object"), exist_ok=True)
    run([args.edict, "build", "-q", policy, "-o", w("object", "reference.o")])
    run([cc, "-std=c11", "-O2", "-I", w("object"), driver, w("object", "reference.o"), "-o", w("object", "driver")])
    programs["object file"] = w("object", "driver")

    # Dependencies and exports.
    banned = ("LLVM", "antlr", "libedict", "libstdc++")
    for path in (w("portable", "libreference.so"), w("portable", "driver"), w("object", "driver")):
        deps = run(["ldd", path])
        bad = [line.strip() for line in deps.splitlines() if any(b in line for b in banned)]
        if bad:
            failures.append("%s depends on %s" % (path, bad))
    exported = run(["nm", "-D", "--defined-only", w("portable", "libreference.so")]).split()[2::3]
    if not exported or any(not s.startswith("reference_") for s in exported):
        failures.append("libreference.so exports more than its entry points: %s" % exported)
    undefined = run(["nm", "-D", "--undefined-only", w("portable", "libreference.so")])
    if "edict" in undefined or "_Z" in undefined:
        failures.append("libreference.so needs symbols from elsewhere: %s" % undefined)
    # The object's global symbols: its entry points, and what it needs from libc.
    symbols = [line.split() for line in run(["nm", w("object", "reference.o")]).splitlines()]
    leaked = [s[-1] for s in symbols if len(s) == 3 and s[1].isupper() and not s[-1].startswith("reference_")]
    if leaked:
        failures.append("reference.o exports more than its entry points (the string helpers?): %s" % leaked)
    # Prefixes the embedded runtime sources use are refused, in any case.
    for name in ("edict_str_x", "edict_kind", "Edict_Case", "edict_country_rules"):
        r = subprocess.run([args.edict, "build", "-q", policy, "--name", name, "-o", w("object", "taken.o")],
                           capture_output=True, text=True)
        if r.returncode != 2 or "not usable as a C prefix" not in r.stderr:
            failures.append("--name %s: exit %d, %r" % (name, r.returncode, r.stderr))

    # AOT decisions equal JIT decisions on the corpus.
    events = w("events.jsonl")
    if not os.path.exists(events) or sum(1 for _ in open(events)) != args.n:
        with open(events + ".tmp", "w") as f:
            subprocess.run([sys.executable, os.path.join(args.source, "bench", "gen_events.py"), "-n", str(args.n),
                            "--seed", "7"], stdout=f, check=True)
        os.replace(events + ".tmp", events)
    run([args.edict, "eval", "--quiet", "--engine", "jit", policy, events, "-o", w("eval.jsonl")])
    expected = []
    with open(w("eval.jsonl")) as f:
        for rec in map(json.loads, f):
            expected.append("%d\t%s\t%s" % (rec["line"], rec["decision"], ",".join(r["name"] for r in rec["rules"])))
    assert len(expected) == args.n
    for name, program in programs.items():
        got = run([program, events]).splitlines()
        diffs = [i for i in range(max(len(got), len(expected)))
                 if i >= len(got) or i >= len(expected) or got[i] != expected[i]]
        if diffs:
            i = diffs[0]
            failures.append("%s: %d of %d lines differ from the JIT, first: %r vs %r" % (
                name, len(diffs), len(expected), got[i] if i < len(got) else None, expected[i]))
        else:
            print("%s: %d decisions equal the JIT's" % (name, len(expected)))

    # Schema version check: header of policy A, library of policy B, same name.
    os.makedirs(w("mismatch"), exist_ok=True)
    for name, extra in (("a", ""), ("b", ", extra: int")):
        with open(w("mismatch", name + ".edict"), "w") as f:
            f.write("event ev { time: time, x: int%s }\nrule r on ev cite \"c\" deny when event.x > 1\n" % extra)
        os.makedirs(w("mismatch", name), exist_ok=True)
        run([args.edict, "build", "-q", w("mismatch", name + ".edict"), "--name", "mm",
             "-o", w("mismatch", name, "libmm.so")])
    with open(w("mismatch", "main.c"), "w") as f:
        f.write('#include <stdio.h>\n#include "mm.h"\nint main(void) {\n  mm_ev e = {0, 5};\n  mm_result r;\n'
                '  int s = mm_eval_ev(&e, &r);\n  printf("%d %d %s\\n", s, r.decision, r.error ? r.error : "");\n'
                '  return 0;\n}\n')
    for header, lib in (("a", "a"), ("a", "b")):
        exe = w("mismatch", "main_%s_%s" % (header, lib))
        run([cc, "-I", w("mismatch", header), w("mismatch", "main.c"), "-o", exe, "-L", w("mismatch", lib), "-lmm",
             "-Wl,-rpath," + w("mismatch", lib)])
        out = run([exe]).strip()
        want = "0 3" if lib == header else "15 -1 the header was generated from another policy"
        if not out.startswith(want):
            failures.append("schema check, header %s with library %s: got %r" % (header, lib, out))
    if not failures:
        print("dependencies, exports and the schema version check are as required")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
