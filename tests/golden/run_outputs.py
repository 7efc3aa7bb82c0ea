#!/usr/bin/env python3
"""Byte-identity of what users see: every command below runs on generated
event logs and the shipped policies, and the SHA-256 of its standard output
(and of any file it writes), with its exit code, must equal the line recorded
in tests/golden/outputs.sha256. Timings on standard error are not compared.

A restructuring of the code must leave every line as it is; a change meant to
alter an output rewrites the file (`--update`) and says why in its commit.

  run_outputs.py --edict build/cli/edict [--work DIR] [--update] [--show NAME]

--show NAME prints one command's output, to compare two builds by hand.
"""
import argparse, hashlib, json, os, subprocess, sys, tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import GEN, ROOT  # noqa: E402

MANIFEST = os.path.join(ROOT, "tests", "golden", "outputs.sha256")
P = lambda *parts: os.path.join("policies", *parts)  # noqa: E731
REFERENCE = P("reference.edict")
LIBRARY = P("law_as_enforced.edict.md")
STRUCTURING = P("structuring.edict")
WHATIFS = [P("whatif", "remote_access_security_act.edict.md"), P("whatif", "hq_test_for_rentals.edict.md")]
SHIPPED = [REFERENCE, LIBRARY, STRUCTURING] + WHATIFS


def corpora(work):
    """The logs every command reads, made by the deterministic generator."""
    def gen(name, *args):
        path = os.path.join(work, name)
        with open(path, "wb") as f:
            subprocess.run([sys.executable, GEN, *args], stdout=f, check=True)
        return path
    clean = gen("clean.jsonl", "-n", "4000", "--seed", "23")
    dirty = gen("dirty.jsonl", "-n", "4000", "--seed", "29", "--dirty", "0.05")
    raw = open(gen("raw.jsonl", "-n", "4000", "--seed", "31", "--customers", "60"), "rb").read().splitlines()
    raw.sort(key=lambda l: json.loads(l)["time"])
    timed = os.path.join(work, "sorted.jsonl")
    with open(timed, "wb") as f:
        f.write(b"\n".join(raw) + b"\n")
    one = os.path.join(work, "one.json")
    with open(clean, "rb") as src, open(one, "wb") as dst:
        for line in src:
            if b'"deny' in line or b"D:5" in line or b'"CN"' in line:
                dst.write(line)
                break
        else:
            src.seek(0)
            dst.write(src.readline())
    return {"clean": clean, "dirty": dirty, "sorted": timed, "one": one}


def commands(c):
    """(name, argv after `edict`, files the command writes) in a fixed order."""
    out = []
    for engine in ("jit", "interp"):
        for j in ("1", "2"):
            for log in ("clean", "dirty"):
                for pol, short in ((REFERENCE, "reference"), (LIBRARY, "library")):
                    out.append((f"eval-{short}-{log}-{engine}-j{j}",
                                ["eval", "-q", "--engine", engine, "-j", j, pol, c[log]], []))
        out.append((f"eval-structuring-sorted-{engine}",
                    ["eval", "-q", "--engine", engine, STRUCTURING, c["sorted"]], []))
        out.append((f"eval-structuring-sorted-{engine}-j2",
                    ["eval", "-q", "--engine", engine, "-j", "2", STRUCTURING, c["sorted"]], []))
    for log in ("clean", "dirty"):
        out.append((f"eval-reference-{log}-csv", ["eval", "-q", "--format", "csv", REFERENCE, c[log]], []))
        out.append((f"eval-library-{log}-explain", ["eval", "-q", "--explain", LIBRARY, c[log]], []))
    out.append(("eval-structuring-explain", ["eval", "-q", "--explain", STRUCTURING, c["sorted"]], []))
    out.append(("eval-structuring-checkpoint",
                ["eval", "-q", "--checkpoint", "{work}/w.ckpt", STRUCTURING, c["sorted"]], ["w.ckpt"]))
    for pol, short in ((REFERENCE, "reference"), (LIBRARY, "library"), (STRUCTURING, "structuring")):
        out.append((f"explain-{short}", ["explain", pol, c["one"]], []))
        out.append((f"explain-{short}-json", ["explain", "--format", "json", pol, c["one"]], []))
    for w in WHATIFS:
        name = os.path.basename(w).split(".")[0]
        for log in ("clean", "dirty"):
            out.append((f"diff-{name}-{log}",
                        ["diff", "-q", "--examples", "3", "-o", "{work}/changes.jsonl", LIBRARY, w, c[log]],
                        ["changes.jsonl"]))
    for j in ("1", "2"):  # both versions with windows: decoded once per version
        out.append((f"diff-structuring-sorted-j{j}",
                    ["diff", "-q", "-j", j, "-o", "{work}/changes.jsonl", STRUCTURING, STRUCTURING, c["sorted"]],
                    ["changes.jsonl"]))
    out.append(("test-policies-json", ["test", "--format", "json", "policies"], []))
    out.append(("test-policies-coverage",
                ["test", "--engine", "both", "--coverage", "--coverage-format", "json", "policies"], []))
    out.append(("test-conformance-json", ["test", "--engine", "both", "--format", "json", "tests/conformance"], []))
    out.append(("test-junit", ["test", "--junit", "{work}/junit.xml", "policies"], ["junit.xml"]))
    for pol in SHIPPED:
        out.append((f"check-ir-{os.path.basename(pol)}", ["check", "--emit=ir", "--import-path", "policies", pol], []))
    return out


def digest(edict, argv, writes, work):
    for f in writes:
        if os.path.exists(os.path.join(work, f)):
            os.remove(os.path.join(work, f))
    argv = [a.replace("{work}", work) for a in argv]
    p = subprocess.run([edict, *argv], cwd=ROOT, capture_output=True, timeout=600)
    h = hashlib.sha256(p.stdout)
    for f in writes:
        path = os.path.join(work, f)
        h.update(b"\0" + (open(path, "rb").read() if os.path.exists(path) else b"<missing>"))
    return f"exit {p.returncode} {h.hexdigest()}", p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edict", required=True)
    ap.add_argument("--work")
    ap.add_argument("--update", action="store_true")
    ap.add_argument("--show")
    a = ap.parse_args()
    edict = os.path.abspath(a.edict)
    work = a.work or tempfile.mkdtemp(prefix="edict-outputs-")
    os.makedirs(work, exist_ok=True)
    c = corpora(work)
    cmds = commands(c)
    if a.show:
        for name, argv, writes in cmds:
            if name == a.show:
                _, p = digest(edict, argv, writes, work)
                sys.stdout.buffer.write(p.stdout)
                return 0
        print(f"no command named {a.show}", file=sys.stderr)
        return 2
    got = {}
    for name, argv, writes in cmds:
        got[name], p = digest(edict, argv, writes, work)
        if p.returncode not in (0, 1, 3) and not name.startswith("eval-") or p.returncode > 3:
            print(f"{name}: exit {p.returncode}: {p.stderr.decode(errors='replace')[-400:]}")
    if a.update:
        with open(MANIFEST + ".tmp", "w") as f:
            for name, _, _ in cmds:
                f.write(f"{name} {got[name]}\n")
        os.replace(MANIFEST + ".tmp", MANIFEST)
        print(f"wrote {len(cmds)} lines to {MANIFEST}")
        return 0
    want = {}
    for line in open(MANIFEST):
        name, rest = line.rstrip("\n").split(" ", 1)
        want[name] = rest
    bad = [n for n, _, _ in cmds if want.get(n) != got[n]]
    missing = sorted(set(want) - set(got))
    for n in bad:
        print(f"FAIL: {n}: {got[n]}, recorded {want.get(n, 'nothing')} "
              f"(see it with: run_outputs.py --edict EDICT --show {n})")
    for n in missing:
        print(f"FAIL: {n} is recorded but no longer run")
    print(f"{len(cmds) - len(bad)} passed, {len(bad) + len(missing)} failed")
    return 1 if bad or missing else 0


if __name__ == "__main__":
    sys.exit(main())
