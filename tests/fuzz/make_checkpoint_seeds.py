#!/usr/bin/env python3
"""Writes the checkpoint fuzzer's seeds (checkpoint_seeds/) with `edict eval
--checkpoint` on checkpoint_policy.edict: no events, a few hundred events
(saved at the end of the input), and a mid-input checkpoint with an -o file
(saved on SIGTERM, events from a pipe). Rerun after a change of the format.

  make_checkpoint_seeds.py --edict build/cli/edict
"""
import argparse, json, os, random, signal, subprocess, tempfile
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
POLICY = os.path.join(HERE, "checkpoint_policy.edict")


def events(n, seed):
    rng = random.Random(seed)
    t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    out = []
    for i in range(n):
        t += timedelta(minutes=rng.randrange(0, 120))
        e = {"kind": "rent", "time": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "customer": f"c{rng.randrange(6)}",
             "chip": rng.choice(["H100", "A100", "T4", "L4"]), "hours": rng.randrange(0, 400) / 4,
             "count": rng.randrange(100)}
        if rng.random() < 0.3:
            e["note"] = "n"
        out.append(json.dumps(e).encode() + b"\n")
    return b"".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edict", required=True)
    a = ap.parse_args()
    seeds = os.path.join(HERE, "checkpoint_seeds")
    os.makedirs(seeds, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        for name, data in (("empty", b""), ("few", events(300, 1))):
            ckpt = os.path.join(seeds, f"{name}.ckpt")
            if os.path.exists(ckpt):
                os.remove(ckpt)
            subprocess.run([a.edict, "eval", "-q", "--checkpoint", ckpt, POLICY, "-", "-o", os.devnull],
                           input=data, check=True)
        ckpt = os.path.join(seeds, "mid_input.ckpt")
        if os.path.exists(ckpt):
            os.remove(ckpt)
        data = events(20000, 2)
        p = subprocess.Popen([a.edict, "eval", "-q", "--checkpoint", ckpt, POLICY, "-", "-o",
                              os.path.join(work, "out.jsonl")], stdin=subprocess.PIPE)
        p.stdin.write(data[:(1 << 20) + 1000])
        p.send_signal(signal.SIGTERM)
        try:
            p.stdin.write(data[(1 << 20) + 1000:])
            p.stdin.close()
        except BrokenPipeError:
            pass
        assert p.wait() == 75
    for n in sorted(os.listdir(seeds)):
        print(n, os.path.getsize(os.path.join(seeds, n)))


if __name__ == "__main__":
    main()
