"""What the Python test drivers share: the checkout's root, the event
generator, and the failure list that `check` appends to (each driver prints
its own summary from it and exits 1 when it is not empty)."""
import contextlib
import os
import shutil
import subprocess
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
GEN = os.path.join(ROOT, "bench", "gen_events.py")

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)
    return cond


def edict_from_args(description=None):
    """The `--edict PATH` every driver takes, made absolute."""
    import argparse
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--edict", required=True)
    return os.path.abspath(ap.parse_args().edict)


def node_modules():
    """The folder of the Node packages the browser and VS Code client tests
    drive (tests/node/package-lock.json), installed on first use by
    scripts/node_deps.sh into a cache outside the tree. Returns (path, None),
    or (None, why) when it cannot be found or installed."""
    import subprocess
    script = os.path.join(ROOT, "scripts", "node_deps.sh")
    try:
        r = subprocess.run([script], capture_output=True, text=True, timeout=660)
    except subprocess.TimeoutExpired:
        return None, "scripts/node_deps.sh took longer than 660 s"
    if r.returncode != 0:
        return None, f"scripts/node_deps.sh failed ({r.returncode}): {r.stderr.strip()}"
    return r.stdout.strip(), None


def run_groups(groups):
    """Runs each (name, test) in turn, printing ok or FAILED by whether it
    added to `failures`; returns the exit status (1 when any failed)."""
    passed = failed = 0
    for name, test in groups:
        before = len(failures)
        test()
        ok = len(failures) == before
        passed += ok
        failed += not ok
        print(f"{'ok' if ok else 'FAILED'}: {name}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def summary(passed_message):
    """Prints the outcome of a driver that checks without groups; returns
    its exit status."""
    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print(passed_message)
    return 0


@contextlib.contextmanager
def mounted(fstype, options=None, prefix="edict-mount-"):
    """A file system of `fstype` mounted on a fresh folder (a small tmpfs to
    fill a disk, a ramfs that refuses O_DIRECT), unmounted and removed
    after; None when this machine does not allow mounting."""
    mount = tempfile.mkdtemp(prefix=prefix)
    cmd = ["mount", "-t", fstype, *(["-o", options] if options else []), fstype, mount]
    ok = subprocess.run(cmd, capture_output=True).returncode == 0
    try:
        yield mount if ok else None
    finally:
        if ok:
            subprocess.run(["umount", mount], capture_output=True)
        shutil.rmtree(mount, ignore_errors=True)
