#!/usr/bin/env python3
"""Fault test of `edict eval --checkpoint` (issue 16, item 5): on a time-sorted
corpus with windowed aggregates (policies/structuring.edict), runs are stopped at
random points (seeded; the seed is printed) by

- SIGKILL after a SIGUSR1 checkpoint was saved (nothing runs at the kill),
- SIGTERM and SIGINT (Edict saves a checkpoint at the next batch boundary and
  exits with code 75),

sometimes twice in a row, then resumed as docs/events.md says: the same command
again. With the records on standard output, each resumed run says on standard
error after which line N it resumes; the records of lines after N that an
interrupted run wrote are superseded by the resumed run's, so the output is the
earlier runs' records up to line N followed by the resumed run's. With `-o FILE`
the resumed run continues the interrupted run's temporary file and FILE appears
only at the end. Either way the result must be byte-identical to an
uninterrupted run, and no temporary file may be left behind.

The stdout runs read a file and are paced by the test reading their output (a
full pipe blocks Edict); the `-o` runs read standard input, which the test feeds
(a resumed run is fed the same events again), so the kill points fall mid-stream
without any throttling option.

  run_checkpoint_faults.py --edict build/cli/edict [--seed N] [--trials N]
"""
import argparse, json, os, random, re, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import GEN, ROOT, check, failures  # noqa: E402

POLICY = os.path.join(ROOT, "policies", "structuring.edict")
RESUMED = re.compile(r"resuming from the checkpoint `[^`]*` after line ([\d,]+)")
# Stopped after line N with a new checkpoint, or while re-reading the lines
# of the one it resumes (which then stays as it was).
INTERRUPTED = re.compile(r"interrupted after line ([\d,]+); checkpoint saved to `[^`]*`; run the same command|"
                         r"interrupted before reaching it again; the checkpoint is unchanged; run the same command")


def stat_of(path):
    try:
        st = os.stat(path)
        return (st.st_ino, st.st_mtime_ns, st.st_size)
    except FileNotFoundError:
        return None


def line_of(record):
    return json.loads(record)["line"]


class Trial:
    def __init__(self, edict, work, events, lines, mode, threads, name):
        self.edict, self.work, self.events, self.lines, self.mode = edict, work, events, lines, mode
        self.ckpt = os.path.join(work, f"{name}.ckpt")
        self.out = os.path.join(work, f"{name}.jsonl")
        self.err = os.path.join(work, f"{name}.err")
        self.cmd = [edict, "eval", "-q", "-j", str(threads), "--checkpoint", self.ckpt, POLICY]
        self.cmd += [events] if mode == "stdout" else ["-", "-o", self.out]
        self.records = []  # stdout: the records so far, superseded ones dropped
        self.log = []

    def start(self):
        errf = open(self.err, "wb")
        p = subprocess.Popen(self.cmd, stdin=subprocess.PIPE if self.mode == "file" else subprocess.DEVNULL,
                             stdout=subprocess.PIPE if self.mode == "stdout" else subprocess.DEVNULL, stderr=errf)
        errf.close()
        return p

    def stderr(self):
        return open(self.err, encoding="utf-8", errors="replace").read()

    def run(self, stop_at, sig, rng):
        """One run of the same command; when `stop_at` is set, stopped after about that
        many lines with `sig`. Returns the exit code."""
        before = stat_of(self.ckpt)
        p = self.start()
        got = []
        fed = 0
        state = "running" if stop_at is not None else "done"
        extra = rng.randrange(0, 1500)
        mark = 0

        def act(progress):
            nonlocal state, mark
            if state == "running" and progress >= stop_at:
                if sig == signal.SIGKILL:
                    p.send_signal(signal.SIGUSR1)
                    state = "await_checkpoint"
                else:
                    p.send_signal(sig)
                    state = "done"
            elif state == "await_checkpoint" and stat_of(self.ckpt) != before:
                state, mark = "killing", progress
            elif state == "killing" and progress >= mark + extra:
                p.kill()
                state = "done"

        try:
            if self.mode == "stdout":
                for record in p.stdout:
                    got.append(record)
                    if len(got) % 50 == 0:
                        act(len(got))
            else:
                block = 100
                for i in range(0, len(self.lines), block):
                    p.stdin.write(b"".join(self.lines[i:i + block]))
                    fed = i + block
                    act(fed)
                p.stdin.close()
        except (BrokenPipeError, ValueError):
            pass
        code = p.wait(timeout=120)
        if p.stdout:
            got += p.stdout.readlines()
        err = self.stderr()
        m = RESUMED.search(err)
        resumed_after = int(m.group(1).replace(",", "")) if m else 0
        if self.mode == "stdout":
            # The records of lines after N came from an interrupted run: superseded.
            # (A killed run may also end with a torn record, without its newline.)
            self.records = [r for r in self.records if r.endswith(b"\n") and line_of(r) <= resumed_after] + got
        if code == 75:
            check(INTERRUPTED.search(err), f"exit 75 without the interruption message: {err[-300:]}")
        self.log.append((stop_at, signal.Signals(sig).name if stop_at is not None else "-", code, resumed_after))
        return code


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edict", required=True)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--trials", type=int, default=2, help="trials per signal and output mode")
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 30)
    print(f"checkpoint fault test: seed {seed} (rerun with --seed {seed})", flush=True)
    rng = random.Random(seed)
    edict = os.path.abspath(a.edict)
    started = time.time()
    with tempfile.TemporaryDirectory() as work:
        raw = subprocess.run([sys.executable, GEN, "-n", "60000", "--seed", "5"], capture_output=True,
                             check=True).stdout.splitlines(keepends=True)
        lines = sorted(raw, key=lambda l: json.loads(l)["time"])
        events = os.path.join(work, "events.jsonl")
        with open(events, "wb") as f:
            f.writelines(lines)
        whole = subprocess.run([edict, "eval", "-q", POLICY, events], capture_output=True, timeout=300)
        check(whole.returncode == 0 and whole.stdout.count(b"\n") == len(lines),
              f"uninterrupted run: exit {whole.returncode}: {whole.stderr.decode()[-300:]}")
        expected = whole.stdout
        check(b"structuring_" in expected, "the windowed rules never fire")

        interrupted = 0
        number = 0
        for mode in ("stdout", "file"):
            for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
                for _ in range(a.trials):
                    number += 1
                    t = Trial(edict, work, events, lines, mode, rng.choice((1, 2)), f"t{number}")
                    stops = rng.choice((1, 1, 2))
                    for s in range(stops + 1):
                        if s < stops:
                            stop_at = rng.randrange(len(lines) // 20, len(lines) * 3 // 4)
                            code = t.run(stop_at, sig, rng)
                            if code == 0:
                                break  # finished before the signal took effect: nothing to resume
                            interrupted += 1
                            want = -signal.SIGKILL if sig == signal.SIGKILL else 75
                            check(code == want, f"{mode} {sig.name}: exit {code}, expected {want}: "
                                                f"{t.stderr()[-300:]}")
                        else:
                            code = t.run(None, sig, rng)
                            check(code == 0, f"{mode}: resumed run exit {code}: {t.stderr()[-300:]}")
                    if mode == "stdout":
                        result = b"".join(t.records)
                    else:
                        result = open(t.out, "rb").read() if os.path.exists(t.out) else b""
                        left = [n for n in os.listdir(work) if n.startswith(f".t{number}.jsonl.edict-")]
                        check(not left, f"{mode} {sig.name}: temporary files left: {left}")
                    same = result == expected
                    if not same:
                        got = result.splitlines()
                        first = next((i for i, (x, y) in enumerate(zip(got, expected.splitlines())) if x != y),
                                     min(len(got), expected.count(b"\n")))
                        check(False, f"{mode} {sig.name} -j{t.cmd[4]}: output differs from an uninterrupted run "
                                     f"({len(got)} records, first difference at record {first + 1}); runs "
                                     f"(stop at, signal, exit, resumed after): {t.log}")
                    print(f"  {mode:6} {sig.name:7} -j{t.cmd[4]}: runs {t.log}: {'same' if same else 'DIFFERENT'}",
                          flush=True)
        check(interrupted >= number, f"only {interrupted} interruptions in {number} trials")
    print(f"{number} trials, {interrupted} interruptions, {time.time() - started:.1f} s")
    print("ok" if not failures else f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
