#!/usr/bin/env python3
"""Every file Edict writes, written onto a full file system: the command exits
non-zero, its message names the file and the system's error, the file's old
contents are intact, and no temporary file is left beside it.

The file system is a 1 MiB tmpfs filled to the last byte (the test mounts it,
so it needs root, as the README's commands run). Where mounting is not
allowed, each output is pointed at /dev/full instead, which fails every write
with the same error (then only the exit code and the message are checked).

  run_full_disk_tests.py --edict build/cli/edict
"""
import os, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import GEN, ROOT, check, edict_from_args, mounted, summary  # noqa: E402

REFERENCE = os.path.join(ROOT, "policies", "reference.edict")
STRUCTURING = os.path.join(ROOT, "policies", "structuring.edict")
WHATIF = os.path.join(ROOT, "policies", "whatif", "hq_test_for_rentals.edict.md")
OLD = b"the previous contents, which must survive\n"
NO_SPACE = "No space left on device"


def full_tmpfs():
    """A mounted 1 MiB tmpfs, or None when this machine does not allow it."""
    return mounted("tmpfs", "size=1m", "edict-full-")


def fill(folder):
    """Writes a filler file until the file system has no byte left."""
    with open(os.path.join(folder, "filler"), "wb", buffering=0) as f:
        block = b"\0" * 4096
        try:
            while True:
                f.write(block)
        except OSError:
            pass
        try:
            while True:
                f.write(b"\0")
        except OSError:
            pass


def edict_run(edict, args, timeout=300):
    p = subprocess.run([edict, *args], capture_output=True, timeout=timeout)
    return p.returncode, p.stderr.decode("utf-8", "replace")


def main():
    edict = edict_from_args()

    work = tempfile.mkdtemp(prefix="edict-disk-")
    try:
        events = os.path.join(work, "ev.jsonl")
        with open(events, "wb") as f:
            f.write(subprocess.run([sys.executable, GEN, "-n", "3000", "--seed", "5"], check=True,
                                   capture_output=True).stdout)
        sorted_events = os.path.join(work, "sorted.jsonl")
        with open(events, "rb") as f:
            import json
            lines = sorted(f.read().splitlines(), key=lambda l: json.loads(l)["time"])
        with open(sorted_events, "wb") as f:
            f.write(b"".join(l + b"\n" for l in lines))
        unformatted = os.path.join(work, "messy.edict")
        with open(REFERENCE, "rb") as f:
            # Indentation the formatter will undo, so `fmt` has to rewrite it.
            messy = b"\n".join(b"    " + l if l.strip() else l for l in f.read().splitlines()) + b"\n"

        # Each case: (what, output file name, arguments given the output path).
        cases = [
            ("eval -o", "out.jsonl", lambda out: ["eval", "-q", REFERENCE, events, "-o", out]),
            ("eval --format csv -o", "out.csv",
             lambda out: ["eval", "-q", "--format", "csv", REFERENCE, events, "-o", out]),
            ("eval --checkpoint", "windows.ckpt",
             lambda out: ["eval", "-q", "--checkpoint", out, "-o", os.devnull, STRUCTURING, sorted_events]),
            ("diff -o", "diff.jsonl", lambda out: ["diff", "-q", REFERENCE, WHATIF, events, "-o", out]),
            ("test --junit", "junit.xml", lambda out: ["test", os.path.join(ROOT, "policies"), "--junit", out]),
            ("test --coverage-output", "coverage.json",
             lambda out: ["test", os.path.join(ROOT, "policies"), "--coverage", "--coverage-format", "json",
                          "--coverage-output", out]),
            ("build -o", "libreference.so", lambda out: ["build", "-q", REFERENCE, "-o", out]),
            ("build --header", "reference.h",
             lambda out: ["build", "-q", REFERENCE, "-o", os.path.join(work, "libreference.so"), "--header", out]),
        ]
        with full_tmpfs() as mount:
            if mount is None:
                print("note: cannot mount a tmpfs here; writing to /dev/full instead")
                for what, _, args in cases:
                    code, err = edict_run(edict, args("/dev/full"))
                    check(code != 0, f"{what} onto /dev/full: exit {code}, expected non-zero")
                    check("/dev/full" in err and NO_SPACE in err, f"{what} onto /dev/full: message {err!r}")
            else:
                # The old checkpoint must be one eval can restore before it
                # saves over it: the windows after the first half of the log.
                half = os.path.join(work, "half.jsonl")
                with open(half, "wb") as f:
                    f.write(b"".join(l + b"\n" for l in lines[: len(lines) // 2]))
                ckpt = os.path.join(work, "half.ckpt")
                code, err = edict_run(edict, ["eval", "-q", "--checkpoint", ckpt, "-o", os.devnull, STRUCTURING, half])
                check(code in (0, 3) and os.path.exists(ckpt), f"a checkpoint of half the log: exit {code}: {err}")
                with open(ckpt, "rb") as f:
                    old = {name: OLD for _, name, _ in cases} | {"windows.ckpt": f.read()}
                for _, name, _ in cases:
                    with open(os.path.join(mount, name), "wb") as f:
                        f.write(old[name])
                policy = os.path.join(mount, "messy.edict")
                with open(policy, "wb") as f:
                    f.write(messy)
                fill(mount)
                for what, name, args in cases:
                    out = os.path.join(mount, name)
                    code, err = edict_run(edict, args(out))
                    check(code != 0, f"{what} onto a full disk: exit {code}, expected non-zero ({err!r})")
                    check(out in err and NO_SPACE in err,
                          f"{what} onto a full disk: the message names neither the file nor the error: {err!r}")
                    with open(out, "rb") as f:
                        check(f.read() == old[name], f"{what} onto a full disk: the old `{name}` was changed")
                code, err = edict_run(edict, ["fmt", policy])
                check(code != 0, f"fmt on a full disk: exit {code}, expected non-zero")
                check(policy in err and NO_SPACE in err, f"fmt on a full disk: message {err!r}")
                with open(policy, "rb") as f:
                    check(f.read() == messy, "fmt on a full disk: the policy was changed")
                left = sorted(n for n in os.listdir(mount) if ".edict-" in n)
                check(not left, f"temporary files left behind on the full disk: {left}")
                # With the space back, the same commands succeed (the failures
                # above were the disk's, not the commands').
                os.remove(os.path.join(mount, "filler"))
                code, err = edict_run(edict, ["fmt", policy])
                check(code == 0, f"fmt with space: exit {code}: {err}")
                code, err = edict_run(edict, cases[0][2](os.path.join(mount, "out.jsonl")))
                check(code in (0, 3), f"eval -o with space: exit {code}: {err}")
                with open(os.path.join(mount, "out.jsonl"), "rb") as f:
                    check(f.read().count(b"\n") == 3000, "eval -o with space: not one record per event")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    return summary("full disk: every output failed cleanly and left its old file intact")


if __name__ == "__main__":
    sys.exit(main())
