#!/usr/bin/env python3
"""Checkpoints that must not be trusted, and clocks that must not poison the
windows (issue 16, item 5), on policies/structuring.edict (two 30-day sums):

- a damaged checkpoint is refused (exit 2, nothing decided, the file left as
  it was) with a message naming the file and what is wrong: flipped bits in the
  payload or the header, a truncated file, a wrong magic or format version, the
  format-1 text file, and, with a valid checksum, NaN bit patterns in a time or
  a value, an event time outside its window, a latest time in the future
  (beyond --max-future), counts that the file cannot hold, trailing bytes;
- a checkpoint saved mid-input refuses another events file ("not the events
  file"), a shorter one, and another -o;
- one event stamped 2099 is a `future_event` error: every other line is decided
  as without it, and the checkpoint saved after it resumes as one saved
  without it (before: 85% of later events were `late_event`);
- `--max-future none` turns the limit off, and a bad value is a usage error;
- the checkpoint fuzzer's seeds are valid checkpoints;
- SIGTERM stops a run whose input pipe is idle (no more lines, not closed) at
  once, with every record written and a checkpoint that resumes after them.

The payload layout is read here independently of Edict (engine/window/window.cpp
documents it), to make damaged files whose checksum is right.

  run_checkpoint_tests.py --edict build/cli/edict
"""
import json, os, signal, struct, subprocess, sys, tempfile, zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import GEN, ROOT, check, failures, edict_from_args  # noqa: E402

POLICY = os.path.join(ROOT, "policies", "structuring.edict")


def run(edict, args, stdin=None):
    p = subprocess.run([edict, "eval", "-q", *args], capture_output=True, timeout=600, input=stdin)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def seal(payload, magic=b"EDICTCKP", version=2):
    return magic + struct.pack("<IIQ", version, zlib.crc32(payload), len(payload)) + payload


class Payload:
    """Offsets of the fields of a checkpoint's payload (format 2)."""

    def __init__(self, data):
        self.data = data
        self.at = 8  # fingerprint
        self.at_end = self.u8()
        self.position = (self.u64(), self.u64(), self.u32())
        self.output, self.temp = self.str(), self.str()
        self.output_bytes = self.u64()
        self.seen = self.u8()
        self.latest_at = self.at
        self.latest = self.i64()
        self.aggregates = []
        for _ in range(self.u32()):
            keys_at = self.at
            keys = []
            for _ in range(self.u64()):
                key = self.str()
                events = []
                for _ in range(self.u32()):
                    time_at = self.at
                    self.i64()
                    value_at = self.at
                    self.u64()  # structuring.edict's operands are numbers
                    events.append((time_at, value_at))
                keys.append((key, events))
            self.aggregates.append((keys_at, keys))
        assert self.at == len(data), (self.at, len(data))

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.at)[0]
        self.at += struct.calcsize(fmt)
        return v

    def u8(self):
        return self.take("<B")

    def u32(self):
        return self.take("<I")

    def u64(self):
        return self.take("<Q")

    def i64(self):
        return self.take("<q")

    def str(self):
        n = self.u32()
        s = self.data[self.at:self.at + n]
        self.at += n
        return s


def patch(data, at, fmt, value):
    b = bytearray(data)
    struct.pack_into(fmt, b, at, value)
    return bytes(b)


def micros(text):
    from datetime import datetime
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()) * 1_000_000


def decisions(data):
    return [(r["line"], r.get("id"), r["decision"], r.get("reason"), tuple(x["name"] for x in r.get("rules", [])))
            for r in map(json.loads, data.decode().splitlines())]


def test_idle_pipe(edict, work, lines):
    """`tail -f log | edict eval --checkpoint`: SIGTERM while the pipe is open
    but idle must not wait for the next line."""
    import time
    ckpt = os.path.join(work, "idle.ckpt")
    # Records to a file: a pipe nobody reads yet would fill and stop Edict.
    records_file = open(os.path.join(work, "idle.jsonl"), "w+b")
    p = subprocess.Popen([edict, "eval", "-q", "--checkpoint", ckpt, POLICY, "-"], stdin=subprocess.PIPE,
                         stdout=records_file, stderr=subprocess.PIPE)
    p.stdin.write(b"".join(lines))
    p.stdin.flush()
    time.sleep(2)  # the lines are read and decided; the pipe stays open
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=20)  # standard input stays open: no end of input comes
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        check(False, "SIGTERM on an idle input pipe: still running 20 s later (waiting for input)")
        return
    finally:
        p.stdin.close()
    err = p.stderr.read().decode("utf-8", "replace")
    records_file.seek(0)
    out = records_file.read()
    records_file.close()
    check(p.returncode == 75, f"SIGTERM on an idle input pipe: exit {p.returncode}, expected 75: {err[-300:]}")
    records = out.count(b"\n")
    check(records == len(lines) and f"after line {len(lines):,}" in err,
          f"SIGTERM on an idle input pipe: {records} records of {len(lines)}: {err[-300:]}")
    # Resumed with the same lines and more: the rest is decided, nothing twice.
    code, rest, err = run(edict, ["--checkpoint", ckpt, POLICY, "-"], stdin=b"".join(lines) + lines[0])
    records = rest.count(b"\n")
    check(code in (0, 3) and records == 1,
          f"resuming after the idle pipe: exit {code}, {records} records, want 1: {err[-300:]}")


def main():
    edict = edict_from_args()
    with tempfile.TemporaryDirectory() as work:
        raw = subprocess.run([sys.executable, GEN, "-n", "20000", "--seed", "3", "--customers", "300"],
                             capture_output=True, check=True).stdout.splitlines(keepends=True)
        lines = sorted(raw, key=lambda l: json.loads(l)["time"])
        first, second = os.path.join(work, "first.jsonl"), os.path.join(work, "second.jsonl")
        write(first, b"".join(lines[:12000]))
        write(second, b"".join(lines[12000:]))
        good = os.path.join(work, "good.ckpt")
        code, _, err = run(edict, ["--checkpoint", good, POLICY, first])
        check(code == 0 and os.path.exists(good), f"saving a checkpoint: exit {code}: {err[-300:]}")
        saved = open(good, "rb").read()
        check(saved[:8] == b"EDICTCKP", "the checkpoint does not start with its magic")
        header, payload = saved[:24], saved[24:]
        p = Payload(payload)
        check(p.at_end == 1 and p.seen == 1, "a checkpoint at the end of an input says so")
        check(sum(len(k) for _, k in p.aggregates) > 10, "the checkpoint holds few keys")
        again = os.path.join(work, "again.ckpt")  # a resumed run saves over its checkpoint
        write(again, saved)
        _, resumed, _ = run(edict, ["--checkpoint", again, POLICY, second])
        check(resumed.count(b"\n") == 8000, "resuming from the checkpoint")

        # Each damaged file: refused, the message names the file and the damage, nothing decided.
        first_event = next(e for _, keys in p.aggregates for _, events in keys for e in events)
        nan = struct.unpack("<q", struct.pack("<d", float("nan")))[0]
        cases = {
            "flipped payload bit": (seal(payload)[:40] + bytes([seal(payload)[40] ^ 0x10]) + seal(payload)[41:],
                                    "checksum does not match"),
            "flipped length bit": (patch(saved, 16, "<Q", len(payload) ^ 4), "announces"),
            "truncated": (saved[:-7], "announces"),
            "truncated header": (saved[:13], "shorter than its 24-byte header"),
            "empty": (b"", "not an Edict checkpoint"),
            "wrong magic": (b"EDICTCKQ" + saved[8:], "not an Edict checkpoint"),
            "wrong version": (patch(saved, 8, "<I", 3), "format 3"),
            "format 1 text": (b"edict-window-checkpoint 1\nfingerprint 0\n", "format 1"),
            "NaN latest time": (seal(patch(payload, p.latest_at, "<q", nan)), "outside the years 0001-9999"),
            "NaN value": (seal(patch(payload, first_event[1], "<d", float("nan"))), "not finite"),
            "infinite value": (seal(patch(payload, first_event[1], "<d", float("inf"))), "not finite"),
            "NaN event time": (seal(patch(payload, first_event[0], "<q", nan)), "outside its window"),
            "future clock": (seal(patch(payload, p.latest_at, "<q", micros("2099-01-01T00:00:00Z"))),
                             "--max-future"),
            "key count": (seal(patch(payload, p.aggregates[0][0], "<Q", 1 << 40)), "cannot fit"),
            "trailing bytes": (seal(payload + b"\0" * 8), "after the last key"),
            "position at end": (seal(patch(payload, 9, "<Q", 5)), "records an input position"),
        }
        for name, (data, phrase) in cases.items():
            bad = os.path.join(work, "bad.ckpt")
            write(bad, data)
            code, out, err = run(edict, ["--checkpoint", bad, POLICY, second])
            check(code == 2 and not out and phrase in err and "bad.ckpt" in err,
                  f"{name}: exit {code}, {len(out)} output bytes: {err.strip()[-300:]}")
            check(open(bad, "rb").read() == data, f"{name}: the refused checkpoint was changed")
        # The intact file still resumes as before.
        write(again, saved)
        code, out, err = run(edict, ["--checkpoint", again, POLICY, second])
        check(out == resumed, "a checkpoint stopped resuming the same way")

        # A checkpoint saved mid-input: written on SIGTERM while the events come
        # from a pipe; resumed only on the same events and the same -o.
        mid = os.path.join(work, "mid.ckpt")
        outf = os.path.join(work, "out.jsonl")
        proc = subprocess.Popen([edict, "eval", "-q", "--checkpoint", mid, POLICY, "-", "-o", outf],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        data = b"".join(lines)
        proc.stdin.write(data[:3 << 20])  # three chunks of the reader
        proc.send_signal(signal.SIGTERM)
        try:
            proc.stdin.write(data[3 << 20:])
            proc.stdin.close()
        except BrokenPipeError:
            pass
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=120)
        check(code == 75 and "interrupted after line" in err and "run the same command to resume" in err,
              f"SIGTERM: exit {code}: {err[-300:]}")
        check(not os.path.exists(outf), "an interrupted run created its -o file")
        m = Payload(open(mid, "rb").read()[24:])
        check(m.at_end == 0 and 0 < m.position[0] < len(lines) and m.output == outf.encode() and m.temp,
              f"the mid-input checkpoint records {m.position}, {m.output}, {m.temp}")
        full = os.path.join(work, "all.jsonl")
        write(full, data)
        changed = os.path.join(work, "changed.jsonl")
        write(changed, data.replace(b'"kind":"rental"', b'"kind":"rental" ', 1))
        short = os.path.join(work, "short.jsonl")
        write(short, b"".join(lines[:100]))
        for events, args, phrase in ((changed, ["-o", outf], "not the events file"),
                                     (short, ["-o", outf], "it has 100 lines"),
                                     (full, [], "run that command again"),
                                     (full, ["-o", outf + ".other"], "run that command again")):
            before = open(mid, "rb").read()
            code, out, err = run(edict, ["--checkpoint", mid, POLICY, events, *args])
            check(code == 2 and not out and phrase in err, f"resume on {os.path.basename(events)} {args}: exit "
                                                           f"{code}: {err.strip()[-300:]}")
            check(open(mid, "rb").read() == before, "a refused resume changed the checkpoint")
        code, _, err = run(edict, ["--checkpoint", mid, POLICY, full, "-o", outf])
        check(code == 0 and "after line" in err, f"resume: exit {code}: {err[-300:]}")
        code, whole, _ = run(edict, [POLICY, full])
        check(os.path.exists(outf) and open(outf, "rb").read() == whole, "the resumed -o file differs")
        check(not [n for n in os.listdir(work) if ".edict-" in n], "temporary files left behind")

        # One event from 2099 in the middle of the stream.
        future = json.loads(lines[5000])
        future.update(id="from-2099", time="2099-01-01T00:00:00Z")
        poisoned = lines[:5000] + [json.dumps(future).encode() + b"\n"] + lines[5000:]
        ev = os.path.join(work, "poisoned.jsonl")
        write(ev, b"".join(poisoned))
        code, out, err = run(edict, [POLICY, ev])
        got = decisions(out)
        check(got[5000][2:4] == ("error", "future_event") and got[5000][1] == "from-2099",
              f"the 2099 event: {got[5000] if len(got) > 5000 else err[-300:]}")
        late = sum(1 for d in got if d[3] == "late_event")
        check(late == 0, f"{late} events late after the 2099 one")
        clean = decisions(whole)
        shifted = [d[1:] for d in got[:5000]] + [d[1:] for d in got[5001:]]
        check(shifted == [d[1:] for d in clean], "lines other than the 2099 one decided differently")
        code, out, err = run(edict, ["--max-future", "none", POLICY, ev])
        check(sum(1 for d in decisions(out) if d[3] == "late_event") > 10000,
              "--max-future none: the 2099 event no longer makes later events late")
        code, out, err = run(edict, ["--max-future", "soon", POLICY, ev])
        check(code == 2 and "--max-future `soon`" in err, f"--max-future soon: exit {code}: {err[-200:]}")
        # ... and the checkpoint saved after it resumes as one saved without it.
        head = os.path.join(work, "head.jsonl")
        write(head, b"".join(poisoned[:8001]))
        tail = os.path.join(work, "tail.jsonl")
        write(tail, b"".join(poisoned[8001:]))
        ck = os.path.join(work, "poisoned.ckpt")
        run(edict, ["--checkpoint", ck, POLICY, head])
        check(Payload(open(ck, "rb").read()[24:]).latest < micros("2030-01-01T00:00:00Z"),
              "the checkpoint's latest time is the 2099 event's")
        code, out, err = run(edict, ["--checkpoint", ck, POLICY, tail])
        check(code == 0 and [d[1:] for d in decisions(out)] == [d[1:] for d in clean[8000:]],
              f"resumed after the 2099 event: exit {code}, decided differently: {err[-200:]}")

        # The fuzzer's seeds stay valid checkpoints of its policy (rewrite them with
        # tests/fuzz/make_checkpoint_seeds.py after a change of the format).
        seeds = os.path.join(ROOT, "tests", "fuzz", "checkpoint_seeds")
        seed_policy = os.path.join(ROOT, "tests", "fuzz", "checkpoint_policy.edict")
        for name in sorted(os.listdir(seeds)):
            ck = os.path.join(work, "seed.ckpt")
            write(ck, open(os.path.join(seeds, name), "rb").read())
            code, _, err = run(edict, ["--checkpoint", ck, seed_policy, "-"], stdin=b"")
            check(code == 0 or (code == 2 and "was saved after line" in err),
                  f"seed {name} is not a valid checkpoint: exit {code}: {err.strip()[-300:]}")

        test_idle_pipe(edict, work, lines[:3000])

    print("ok" if not failures else f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
