#!/usr/bin/env python3
"""Hostile command lines (issue 16): outputs that name inputs, a folder given as
the events file, limits that cannot be honoured. Each must be refused with a
clear message and leave every file as it was.

  run_hostile_tests.py --edict build/cli/edict
"""
import concurrent.futures, hashlib, os, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import GEN, ROOT, check, edict_from_args, summary  # noqa: E402

REFERENCE = os.path.join(ROOT, "policies", "reference.edict")
STRUCTURING = os.path.join(ROOT, "policies", "structuring.edict")
WHATIF = os.path.join(ROOT, "policies", "whatif", "hq_test_for_rentals.edict.md")


def run(edict, args, stdin=None):
    p = subprocess.run([edict, *args], capture_output=True, timeout=300, stdin=stdin)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")[:400]


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    edict = edict_from_args()
    work = tempfile.mkdtemp(prefix="edict-hostile-")
    try:
        # A copy of the policies, so a failure cannot damage the checkout.
        policies = os.path.join(work, "policies")
        shutil.copytree(os.path.join(ROOT, "policies"), policies)
        policy = os.path.join(policies, "reference.edict")
        imported = os.path.join(policies, "common", "events.edict")
        structuring = os.path.join(policies, "structuring.edict")
        whatif = os.path.join(policies, "whatif", "hq_test_for_rentals.edict.md")
        events = os.path.join(work, "ev.jsonl")
        with open(events, "wb") as f:
            f.write(subprocess.run([sys.executable, GEN, "-n", "500", "--seed", "3"], check=True,
                                   capture_output=True).stdout)
        link = os.path.join(work, "link.jsonl")
        os.symlink(events, link)
        ckpt = os.path.join(work, "w.ckpt")
        code, _, err = run(edict, ["eval", "-q", "--checkpoint", ckpt, "-o", os.devnull, structuring, events])
        check(code in (0, 3) and os.path.exists(ckpt), f"making a checkpoint: exit {code}: {err}")
        protected = [events, policy, imported, structuring, whatif, ckpt]
        before = {p: digest(p) for p in protected}

        # -o naming an input (by its own name, through a symlink, or a policy
        # only reached by import), --checkpoint naming an input or the output.
        refusals = [
            ("eval -o EVENTS", ["eval", "-q", policy, events, "-o", events], events),
            ("eval -o a symlink to EVENTS", ["eval", "-q", policy, events, "-o", link], link),
            ("eval -o POLICY", ["eval", "-q", policy, events, "-o", policy], policy),
            ("eval -o an imported policy", ["eval", "-q", policy, events, "-o", imported], imported),
            ("eval --checkpoint X -o X",
             ["eval", "-q", "--checkpoint", ckpt, structuring, events, "-o", ckpt], ckpt),
            ("eval --checkpoint EVENTS", ["eval", "-q", "--checkpoint", events, structuring, events], events),
            ("eval --checkpoint POLICY",
             ["eval", "-q", "--checkpoint", structuring, structuring, events], structuring),
            ("diff -o EVENTS", ["diff", "-q", policy, whatif, events, "-o", events], events),
            ("diff -o NEW POLICY", ["diff", "-q", policy, whatif, events, "-o", whatif], whatif),
            ("test --junit POLICY", ["test", policy, "--junit", policy], policy),
            ("test --coverage-output POLICY",
             ["test", policy, "--coverage", "--coverage-output", imported], imported),
        ]
        for what, args, named in refusals:
            code, _, err = run(edict, args)
            check(code == 2, f"{what}: exit {code}, expected 2 (refused)")
            check(named in err and "destroy" in err or "both name" in err,
                  f"{what}: the message does not say which file and why: {err!r}")
        for p in protected:
            check(digest(p) == before[p], f"{os.path.relpath(p, work)} was changed by a refused command")

        # A refusal right after loading ends the process while the tiered
        # JIT still compiles in the background; the compiler must not read
        # the command's sources, freed by then (it aborted in about 1 run of
        # 40 to 1 in 200). Repeated, two at a time, so the race shows.
        refused = ["eval", "-q", "--checkpoint", structuring, structuring, events]
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda _: run(edict, refused), range(400)))
        crashes = [(code, err[-160:]) for code, _, err in results if code != 2]
        check(not crashes, f"a refusal while the JIT compiles: {len(crashes)} of 400 runs did not exit 2, "
                           f"first {crashes[:1]}")

        # A folder as the events file is not a policy folder with the events
        # left on standard input.
        empty = os.path.join(work, "empty")
        os.mkdir(empty)
        with open(events, "rb") as stdin:
            code, out, err = run(edict, ["eval", "-q", policy, empty], stdin=stdin)
        check(code == 2 and not out, f"a folder as the events file: exit {code}, {len(out)} bytes out")
        check(empty in err and "no policy files" in err, f"a folder as the events file: message {err!r}")

        # Limits that cannot be honoured are refused up front.
        code, out, err = run(edict, ["eval", "-q", "-j", "16", "--batch-size", "1048576", policy, events])
        check(code == 2 and not out, f"-j 16 --batch-size 1048576: exit {code}, {len(out)} bytes out")
        check("1,048,576" in err and "memory" in err, f"-j 16 --batch-size 1048576: message {err!r}")
        code, out, _ = run(edict, ["eval", "-q", "-j", "4", "--batch-size", "262144", policy, events])
        check(code in (0, 3) and out.count(b"\n") == 500, "-j 4 --batch-size 262144 (at the bound) is allowed")

        # -q: nothing on standard error, on either engine, also where LLVM's
        # vectoriser cannot widen a loop it was asked to (rule_faults.edict's
        # calls) and would say so.
        faults = os.path.join(ROOT, "tests", "eval", "rule_faults.edict")
        for p in (policy, faults):
            for engine, opt in (("jit", "2"), ("jit", "0"), ("interp", "2")):
                code, _, err = run(edict, ["eval", "-q", "--engine", engine, "-O", opt, "--import-path",
                                           os.path.join(ROOT, "policies"), p, events, "-o", os.devnull])
                check(code in (0, 3) and err == "",
                      f"eval -q --engine {engine} -O {opt} {os.path.basename(p)} wrote to standard error: {err!r}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summary("hostile command lines: every one refused, no file changed")


if __name__ == "__main__":
    sys.exit(main())
