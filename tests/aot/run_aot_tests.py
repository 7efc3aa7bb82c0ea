#!/usr/bin/env python3
"""Ahead-of-time policies (`edict build`): builds the reference workload as a
shared library (portable and host CPU) and as an object file, links a plain C
driver against each, and checks that
  - every decision and fired-rule list equals `edict eval` (JIT) on a
    100,000-event corpus (bench/gen_events.py -n 100000 --seed 7);
  - the driver and the library need neither LLVM, ANTLR, libedict nor the
    C++ runtime (ldd), and the library exports only its own entry points (nm);
  - a program compiled against one policy's header refuses a library built
    from another policy with the same name (schema version mismatch);
  - strings holding NUL bytes (`\\u0000`, passed with their lengths) are
    decided as `edict eval` decides them;
  - a policy with windowed aggregates is refused (E0604, at the aggregate);
  - no user text reaches the generated C unescaped: a --header path with a
    quote and newlines, and policy strings built to break out of C string
    literals and comments, give a working library that reads them back;
  - outputs are replaced only whole: a failed build leaves the old header,
    names the file and the system error, and leaves no temporary file.

    run_aot_tests.py --edict EDICT --source SOURCE_DIR --work DIR [-n N]
"""
import argparse
import json
import os
import shutil
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

    # Strings with NUL bytes: the corpus' first events with `\u0000` in string
    # fields (a country code, a chip, an identifier, an end use).
    nul_events = w("events_nul.jsonl")
    with open(events) as f, open(nul_events, "w") as out:
        for i, line in enumerate(f):
            if i == 3000:
                break
            rec = json.loads(line)
            field = ["customer_hq", "chip", "customer_id", "end_use", "provider_hq", None][i % 6]
            if field in rec and isinstance(rec[field], str):
                rec[field] = [rec[field] + "\0", rec[field][:1] + "\0" + rec[field][1:], "\0" + rec[field]][i % 3]
            out.write(json.dumps(rec, separators=(",", ":")) + "\n")  # as the corpus, which the driver reads
    # Exit 3: some events are `error` (a country code with a NUL byte is none).
    r = subprocess.run([args.edict, "eval", "--quiet", policy, nul_events, "-o", w("eval_nul.jsonl")])
    if r.returncode not in (0, 3):
        sys.exit("edict eval on the NUL corpus: exit %d" % r.returncode)
    with open(w("eval_nul.jsonl")) as f:
        expected_nul = ["%d\t%s\t%s" % (r["line"], r["decision"], ",".join(x["name"] for x in r.get("rules", [])))
                        for r in map(json.loads, f)]
    got = run([programs["shared library, portable CPU"], nul_events]).splitlines()
    diffs = [i for i in range(max(len(got), len(expected_nul)))
             if i >= len(got) or i >= len(expected_nul) or got[i] != expected_nul[i]]
    if diffs:
        failures.append("strings with NUL bytes: %d of %d decisions differ from edict eval, first: %r vs %r" % (
            len(diffs), len(expected_nul), got[diffs[0]] if diffs[0] < len(got) else None,
            expected_nul[diffs[0]] if diffs[0] < len(expected_nul) else None))
    else:
        print("strings with NUL bytes: %d decisions equal edict eval's" % len(expected_nul))

    # Windowed aggregates are refused at their position, and nothing is written.
    shutil.rmtree(w("windows"), ignore_errors=True)
    os.makedirs(w("windows"))
    r = subprocess.run([args.edict, "build", os.path.join(args.source, "policies", "structuring.edict"),
                        "-o", w("windows", "libstructuring.so")], capture_output=True, text=True)
    if (r.returncode != 2 or "error[E0604]" not in r.stderr or "structuring.edict:27:10: error[E0604]" not in r.stderr
            or "structuring.edict:38:10: error[E0604]" not in r.stderr
            or "sum(event.chip_count * event.hours)" not in r.stderr or os.listdir(w("windows"))):
        failures.append("a policy with windowed aggregates: exit %d, files %s, %r" % (
            r.returncode, os.listdir(w("windows")), r.stderr[-600:]))

    # Hostile names and strings: the --header path carries a quote, newlines
    # and a directive; the policy's strings try to end C literals, comments
    # and lines. The library must build, and give every string back intact.
    hostile = w("hostile")
    os.makedirs(hostile, exist_ok=True)
    header_name = 'evil".h"\n#error injected through the header name\n#include "x'
    cites = ['*/ #error injected /*', '"); abort(); ("', '??/ trigraph ??= ??(', 'line\n#error injected',
             'back\\slash\\', '\u00e9 \U0001F600 \t tab']
    def literal(text):  # an Edict string literal
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'
    rules = "".join('rule r%d on ev cite %s deny when event.s == %s\n' % (i, literal(c), literal(c))
                    for i, c in enumerate(cites))
    with open(os.path.join(hostile, "p.edict"), "w") as f:
        f.write('event ev { time: time, s: string }\n' + rules)
    run([args.edict, "build", "-q", os.path.join(hostile, "p.edict"), "--name", "hp", "-o",
         os.path.join(hostile, "libhp.so"), "--header", os.path.join(hostile, header_name)])
    header_text = open(os.path.join(hostile, header_name)).read()
    if "#error" in header_text or "abort" in header_text:
        failures.append("hostile strings reached the header: %r" % header_text[:400])
    import ctypes
    lib = ctypes.CDLL(os.path.join(hostile, "libhp.so"))
    lib.hp_rule_cite.restype = ctypes.c_char_p
    got_cites = [lib.hp_rule_cite(i).decode() for i in range(len(cites))]
    if got_cites != cites:
        failures.append("hostile cites read back as %r" % got_cites)
    leaked = [s for s in run(["nm", "-D", "--defined-only", os.path.join(hostile, "libhp.so")]).split()[2::3]
              if not s.startswith("hp_")]
    if leaked:
        failures.append("the hostile policy's library exports %s" % leaked)

    # A failed build leaves the old outputs and no temporary file, and says
    # which file and why.
    kept = os.path.abspath(w("kept"))
    shutil.rmtree(kept, ignore_errors=True)
    os.makedirs(kept)
    with open(os.path.join(kept, "old.h"), "w") as f:
        f.write("old header\n")
    r = subprocess.run([args.edict, "build", policy, "-o", os.path.join(kept, "missing", "libreference.so"),
                        "--header", os.path.join(kept, "old.h")], capture_output=True, text=True)
    if (r.returncode != 2 or "cannot write `%s`" % os.path.join(kept, "missing", "libreference.so") not in r.stderr
            or "No such file or directory" not in r.stderr or open(os.path.join(kept, "old.h")).read() != "old header\n"
            or os.listdir(kept) != ["old.h"]):
        failures.append("a build into a missing folder: exit %d, %s, %r" % (r.returncode, os.listdir(kept), r.stderr))
    run([args.edict, "build", "-q", policy, "-o", os.path.join(kept, "libreference.so"), "--header",
         os.path.join(kept, "old.h")])
    if sorted(os.listdir(kept)) != ["libreference.so", "old.h"] or "REFERENCE_SCHEMA_VERSION" not in open(
            os.path.join(kept, "old.h")).read():
        failures.append("a build over an old header left %s" % sorted(os.listdir(kept)))
    r = subprocess.run([args.edict, "build", policy, "-o", os.path.join(kept, "libx.so"), "--header", policy],
                       capture_output=True, text=True)
    if r.returncode != 2 or "destroy" not in r.stderr:
        failures.append("--header naming the policy: exit %d, %r" % (r.returncode, r.stderr))

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
