#!/usr/bin/env python3
"""Imports and policy arguments on the command line (issue 16, item 7):
  - an import outside the policy's folder is refused (E0054) by every command
    that loads policies, and `--import-path DIR` lets that folder in;
  - a refused file's content never appears in the output;
  - a FIFO or a device, imported or given as the policy, is refused at once
    (it used to block forever) with `not a regular file`;
  - `edict diff` lets each version import from the other's folder.

    run_import_tests.py --edict EDICT
"""
import argparse, os, subprocess, sys, tempfile

SECRET = "TOP-SECRET-LINE-7f3a"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edict", required=True)
    edict = ap.parse_args().edict
    failures = []

    def run(*argv, code=None, want=(), absent=(), timeout=30):
        try:
            p = subprocess.run([edict, *argv], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            failures.append("%s: no answer in %d s (blocked?)" % (" ".join(argv), timeout))
            return
        out = p.stdout + p.stderr
        if code is not None and p.returncode != code:
            failures.append("%s: exit %d, want %d\n%s" % (" ".join(argv), p.returncode, code, out))
        for w in want:
            if w not in out:
                failures.append("%s: %r not in the output\n%s" % (" ".join(argv), w, out))
        for a in absent:
            if a in out:
                failures.append("%s: %r in the output\n%s" % (" ".join(argv), a, out))

    with tempfile.TemporaryDirectory() as d:
        shared, app = os.path.join(d, "shared"), os.path.join(d, "app")
        os.makedirs(shared)
        os.makedirs(app)
        with open(os.path.join(shared, "events.edict"), "w") as f:
            f.write("event ev { time: time, n: int }\n")
        with open(os.path.join(d, "secret.edict"), "w") as f:
            f.write("this is no policy: %s\n" % SECRET)
        main = os.path.join(app, "main.edict")
        with open(main, "w") as f:
            f.write('import "../shared/events.edict"\nrule big on ev cite "c" deny when event.n > 1\n'
                    'test "big" {\n  given ev { time: 2024-01-01T00:00:00Z, n: 2 }\n  expect deny\n}\n')
        leak = os.path.join(app, "leak.edict")
        with open(leak, "w") as f:
            f.write('import "../secret.edict"\n')
        events = os.path.join(d, "ev.jsonl")
        with open(events, "w") as f:
            f.write('{"kind":"ev","time":"2024-01-01T00:00:00Z","n":2}\n')
        out = os.path.join(d, "out")
        os.makedirs(out)

        commands = {
            "check": ["check"], "eval": ["eval", "-q"], "test": ["test"], "explain": ["explain"],
            "build": ["build", "-q", "-o", os.path.join(out, "libp.so")],
        }
        for name, argv in commands.items():
            tail = [events] if name in ("eval", "explain") else []
            run(*argv, main, *tail, code=2 if name != "check" else 1,
                want=["error[E0054]", "import of `../shared/events.edict` is outside", "`%s`" % app])
            run(*argv, "--import-path", shared, main, *tail, code=0)
            run(*argv, leak, *tail, want=["error[E0054]"], absent=[SECRET])
        # diff: both versions were named, so each may import from the other's folder.
        newer = os.path.join(shared, "newer.edict")
        with open(newer, "w") as f:
            f.write('import "../app/main.edict"\nrule bigger on ev cite "c" deny when event.n > 0\n')
        run("diff", "-q", main, newer, events, code=1)

        # FIFOs and devices: refused, never waited on.
        fifo = os.path.join(app, "pipe.edict")
        os.mkfifo(fifo)
        with open(os.path.join(app, "imports_fifo.edict"), "w") as f:
            f.write('import "pipe.edict"\n')
        run("check", os.path.join(app, "imports_fifo.edict"), code=1,
            want=["error[E0050]", "cannot read `%s`: not a regular file (a FIFO)" % fifo])
        run("check", fifo, code=1, want=["not a regular file (a FIFO)"])
        run("eval", "-q", fifo, events, code=2, want=["not a regular file (a FIFO)"])
        run("fmt", "--check", fifo, code=2, want=["not a regular file (a FIFO)"])
        run("check", "/dev/zero", code=1, want=["cannot read `/dev/zero`: not a regular file (a character device)"])

    for f in failures:
        print("FAIL:", f)
    print("imports: %s" % ("FAILED (%d)" % len(failures) if failures else "all as required"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
