#!/usr/bin/env python3
"""End-to-end tests of stateful rules (windowed aggregates) in `edict eval`, on a
generated log sorted by time with some events moved out of order:

- the interpreter, the JIT and -j 3 write byte-identical outputs; so do -j 1, 2, 4
  and the interpreter on a stream of many keys with faults in every aggregate
  input, overflowing sums and state-limit breaches;
- events beyond --max-lateness are `late_event` errors, and a larger lateness
  accepts them; over --max-window-events, events are `window_state_limit` errors;
- a run stopped in the middle with --checkpoint and resumed from it decides
  every event as the uninterrupted run does, with -j 1 and -j 2; checkpoints do
  not depend on -j and resume under any -j;
- a checkpoint of another policy is refused;
- the 30-day sum by customer of bench/stateful_rule.edict fires exactly where an
  independent Python computation of the window (t - 30d, t] says it must;
- `edict diff` of that rule against a lower threshold reports exactly the events
  two evals decide differently, and `edict explain` shows the aggregate's value
  and the events it was computed over (checked against the same oracle; capped
  at the first and last 10).

  run_stateful_tests.py --edict build/cli/edict
"""
import argparse, json, os, subprocess, sys, tempfile
from datetime import datetime, timedelta

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import GEN, ROOT, check, failures  # noqa: E402
POLICY = os.path.join(ROOT, "policies", "structuring.edict")
REFERENCE = os.path.join(ROOT, "policies", "reference.edict")
SUM_RULE = os.path.join(ROOT, "bench", "stateful_rule.edict")  # reference + a 30-day sum by customer
POLICIES = os.path.join(ROOT, "policies")  # test policies import from it
FAULTS = os.path.join(ROOT, "tests", "eval", "window_faults.edict")  # aggregates whose inputs fault

def run(edict, args):
    # Test policies here import ../../policies/common/events.edict.
    p = subprocess.run([edict, "eval", "-q", "--import-path", POLICIES, *args],
                       capture_output=True, timeout=600)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def decisions(data):
    out = []
    for line in data.decode().splitlines():
        r = json.loads(line)
        out.append((r.get("id"), r["decision"], r.get("reason"), tuple(x["name"] for x in r.get("rules", []))))
    return out


def write(path, lines):
    with open(path, "wb") as f:
        f.write(b"".join(l + b"\n" for l in lines))


def aggregate_node(node):
    """The first node of a condition tree that lists an aggregate's events."""
    if not node:
        return None
    if "events" in node:
        return node
    for c in node.get("children", []):
        found = aggregate_node(c)
        if found:
            return found
    return None


def parallel_windows(edict, work):
    """-j N splits the keys between threads: on a stream of many keys with late
    events, faults in every aggregate input, sums that overflow and state-limit
    breaches, -j 1, 2 and 4 and the interpreter write byte-identical records;
    checkpoints saved by any -j are identical files and resume under any -j."""
    raw = subprocess.run([sys.executable, GEN, "-n", "30000", "--seed", "11"], capture_output=True,
                         check=True).stdout.splitlines()
    lines = sorted(raw, key=lambda l: json.loads(l)["time"])
    for i in range(0, len(lines) - 200, 400):
        lines.insert(i + 200, lines.pop(i))
    events = os.path.join(work, "many_keys.jsonl")
    write(events, lines)
    customers = {json.loads(l)["customer_id"] for l in lines}
    check(len(customers) > 5000, f"only {len(customers)} customers")
    for limit in ("10000000", "400"):
        outputs = {}
        for args in (["-j", "1"], ["-j", "2"], ["-j", "4"], ["-j", "3", "--batch-size", "100"],
                     ["--engine", "interp", "-j", "2"], ["--engine", "interp"]):
            code, out, err = run(edict, [*args, "--max-window-events", limit, FAULTS, events])
            check(code == 3, f"{args} --max-window-events {limit}: exit {code}: {err[-300:]}")
            outputs[tuple(args)] = out
        base = outputs[("-j", "1")]
        for k, v in outputs.items():
            check(v == base, f"--max-window-events {limit}: output of {' '.join(k)} differs from -j 1")
        records = [json.loads(l) for l in base.decode().splitlines()]
        check(len(records) == len(lines), f"{len(records)} records for {len(lines)} lines")
        errors = [r.get("error", "") for r in records]
        reasons = [r.get("reason") for r in records]
        check(reasons.count("late_event") > 0, "no late events")
        for part in ("count() over 2d by (1_000_000", "where event.chip_count / (event.chip_count - 8)",
                     "max(event.chip_count * 3_000_000_000_000_000)"):
            check(any("while computing the windowed aggregate" in e and part in e for e in errors),
                  f"no input fault in `{part}`")
        check(limit == "400" or any(e.startswith("integer overflow in the windowed aggregate `sum(") for e in errors),
              "no sum overflowed")
        limited = reasons.count("window_state_limit")
        check((limited > 0) == (limit == "400"), f"--max-window-events {limit}: {limited} over the limit")

    whole = decisions(outputs[("-j", "1")])
    first, second = os.path.join(work, "many_first.jsonl"), os.path.join(work, "many_second.jsonl")
    write(first, lines[:12345])
    write(second, lines[12345:])
    saved = {}
    for threads in ("1", "3"):
        ckpt = os.path.join(work, f"many_{threads}.ckpt")
        _, out1, err1 = run(edict, ["-j", threads, "--max-window-events", "400", "--checkpoint", ckpt, FAULTS, first])
        check(os.path.exists(ckpt), f"-j {threads}: no checkpoint written: {err1[-300:]}")
        saved[threads] = (out1, open(ckpt, "rb").read())
    check(saved["1"][1] == saved["3"][1], "checkpoints saved by -j 1 and -j 3 differ")
    for threads in ("1", "2", "4"):
        ckpt = os.path.join(work, f"many_resume_{threads}.ckpt")
        with open(ckpt, "wb") as f:
            f.write(saved["3"][1])
        _, out2, err2 = run(edict, ["-j", threads, "--max-window-events", "400", "--checkpoint", ckpt, FAULTS, second])
        check(decisions(saved["1"][0]) + decisions(out2) == whole,
              f"resumed under -j {threads} from a -j 3 checkpoint decides differently: {err2[-300:]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edict", required=True)
    a = ap.parse_args()
    edict = os.path.abspath(a.edict)
    with tempfile.TemporaryDirectory() as work:
        raw = subprocess.run([sys.executable, GEN, "-n", "20000", "--seed", "7", "--customers", "200"],
                             capture_output=True, check=True).stdout.splitlines()
        lines = sorted(raw, key=lambda l: json.loads(l)["time"])
        # Every 500th event goes 300 lines later: days late, beyond the default 1h. Only
        # rentals are late: the rules (and so the windows) see no other kind.
        moved_rentals = 0
        for i in range(0, len(lines) - 300, 500):
            moved_rentals += json.loads(lines[i])["kind"] == "rental"
            lines.insert(i + 300, lines.pop(i))
        events = os.path.join(work, "events.jsonl")
        write(events, lines)

        outputs = {}
        for engine, threads in (("jit", "1"), ("interp", "1"), ("jit", "3")):
            code, out, err = run(edict, ["--engine", engine, "-j", threads, POLICY, events])
            check(code == 3, f"{engine} -j{threads}: exit {code} (expected 3: late events): {err[-400:]}")
            outputs[(engine, threads)] = out
        base = outputs[("jit", "1")]
        for k, v in outputs.items():
            check(v == base, f"output of {k} differs from jit -j1")
        whole = decisions(base)
        check(len(whole) == len(lines), f"{len(whole)} records for {len(lines)} lines")
        late = sum(1 for d in whole if d[2] == "late_event")
        fired = sum(1 for d in whole if "structuring_customer" in d[3] or "structuring_parent" in d[3])
        check(late == moved_rentals, f"{late} late events, {moved_rentals} rentals moved")
        check(all(d[0] for d in whole if d[2] == "late_event"), "a late_event record does not name its event's id")
        check(0 < fired < len(lines), f"structuring rules fired on {fired} events")

        code, out, err = run(edict, ["--max-lateness", "30d", POLICY, events])
        check(code == 0 and not any(d[2] == "late_event" for d in decisions(out)),
              f"--max-lateness 30d still rejects events: exit {code}")

        code, out, err = run(edict, ["--max-window-events", "50", POLICY, events])
        limited = sum(1 for d in decisions(out) if d[2] == "window_state_limit")
        check(code == 3 and 0 < limited < len(lines), f"--max-window-events 50: exit {code}, {limited} over the limit")

        checkpoint = os.path.join(work, "windows.ckpt")
        first, second = os.path.join(work, "first.jsonl"), os.path.join(work, "second.jsonl")
        write(first, lines[:7777])
        write(second, lines[7777:])
        for threads in ("1", "2"):
            if os.path.exists(checkpoint):
                os.remove(checkpoint)
            _, out1, err1 = run(edict, ["-j", threads, "--checkpoint", checkpoint, POLICY, first])
            check(os.path.exists(checkpoint), f"-j {threads}: no checkpoint written: {err1[-400:]}")
            _, out2, err2 = run(edict, ["-j", threads, "--checkpoint", checkpoint, POLICY, second])
            check(decisions(out1) + decisions(out2) == whole, f"-j {threads}: stopped and resumed run decides differently")

        parallel_windows(edict, work)

        code, _, err = run(edict, ["--checkpoint", checkpoint, REFERENCE, second])
        check(code == 2 and "different policy" in err, f"checkpoint of another policy: exit {code}: {err[-300:]}")

        # Oracle: the window of a rental holds the rentals that arrived up to it (in
        # input order) with times in (t - 30d, t], summed in time order (ties in input order).
        code, out, err = run(edict, ["--max-lateness", "1400d", SUM_RULE, events])
        check(code == 0, f"sum rule: exit {code}: {err[-300:]}")
        fired = [("monthly_gpu_hours" in d[3]) for d in decisions(out)]
        seen, expect = {}, []
        for line in lines:
            e = json.loads(line)
            if e["kind"] != "rental":
                expect.append(False)
                continue
            t = datetime.fromisoformat(e["time"].replace("Z", "+00:00"))
            held = seen.setdefault(e["customer_id"], [])
            held.append((t, len(expect), float(e["chip_count"]) * e["hours"]))
            total = 0.0
            for when, _, value in sorted(held):
                if t - timedelta(days=30) < when <= t:
                    total += value
            expect.append(total > 100_000)
        check(fired == expect, f"sum rule: {sum(a != b for a, b in zip(fired, expect))} events decided "
                               f"unlike the oracle ({sum(expect)} should fire)")
        check(sum(expect) > 0, "the oracle never fires")

        # `edict diff` runs each version's windows: halving the threshold changes
        # exactly the events whose decisions two separate evals tell apart.
        amended = os.path.join(work, "amended", "bench")
        os.makedirs(amended)
        text = open(SUM_RULE).read()
        check(text.count(") > 100_000") == 1, "the sum rule spells its threshold once")
        with open(os.path.join(amended, "stateful_rule.edict"), "w") as f:
            f.write(text.replace(") > 100_000", ") > 50_000").replace('"../policies/', f'"{ROOT}/policies/'))
        amended_rule = os.path.join(amended, "stateful_rule.edict")
        changes = os.path.join(work, "changes.jsonl")
        p = subprocess.run([edict, "diff", "-q", "--import-path", POLICIES, SUM_RULE, amended_rule, events, "-o", changes], capture_output=True,
                           timeout=600)
        # diff runs with the default lateness, as eval without the option does.
        _, old_default, _ = run(edict, [SUM_RULE, events])
        _, new_default, _ = run(edict, [amended_rule, events])
        expected_changes = {i + 1 for i, (x, y) in enumerate(zip(decisions(old_default), decisions(new_default)))
                            if x[1] != y[1] or sorted(x[3]) != sorted(y[3])}
        got = {json.loads(l)["line"] for l in open(changes)} if os.path.exists(changes) else set()
        check(p.returncode == 1 and got == expected_changes and got,
              f"diff of a stateful rule: exit {p.returncode}, {len(got)} changed, {len(expected_changes)} expected")

        # `edict explain` shows the aggregate's value, the windows filled by the
        # file's earlier events.
        sample = os.path.join(work, "explain.jsonl")
        write(sample, lines[:200])
        p = subprocess.run([edict, "explain", "--import-path", POLICIES, SUM_RULE, sample], capture_output=True, timeout=600)
        text = p.stdout.decode()
        check("ERROR" not in text and "sum(event.chip_count * event.hours) over 30d by event.customer_id = " in text,
              f"explain of a stateful rule: exit {p.returncode}: {p.stderr.decode()[-300:]}")

        # ... and the events the value was computed over: for every rental, the
        # held rentals of its customer with times in (t - 30d, t], in time order,
        # each with its line, id, time and operand; at most 10 first and 10 last.
        sample_lines = sorted(raw, key=lambda l: json.loads(l)["time"])[:1500]
        write(sample, sample_lines)
        p = subprocess.run([edict, "explain", "--import-path", POLICIES, "--format", "json", SUM_RULE, sample], capture_output=True, timeout=600)
        explained = [json.loads(l) for l in p.stdout.decode().splitlines()]
        check(len(explained) == len(sample_lines), f"explain --format json: {len(explained)} records")
        held, compared, mismatched, widest = {}, 0, [], 0
        for number, (line, record) in enumerate(zip(sample_lines, explained), start=1):
            e = json.loads(line)
            if e["kind"] != "rental":
                continue
            t = datetime.fromisoformat(e["time"].replace("Z", "+00:00"))
            mine = held.setdefault(e["customer_id"], [])
            mine.append((t, number, e["id"], float(e["chip_count"]) * e["hours"]))
            window = [m for m in sorted(mine) if t - timedelta(days=30) < m[0] <= t]
            rule = next(r for r in record["rules"] if r["name"] == "monthly_gpu_hours")
            node = aggregate_node(rule.get("when"))
            got = node and node.get("events")
            expect_list = lambda ms: [(m[1], m[2], m[0].strftime("%Y-%m-%dT%H:%M:%SZ"), m[3]) for m in ms]
            want = {"count": len(window), "first": expect_list(window if len(window) <= 20 else window[:10]),
                    "last": expect_list(window[-10:] if len(window) > 20 else []),
                    "more": max(0, len(window) - 20)}
            have = got and {"count": got["count"], "more": got["more"],
                            "first": [(m["line"], m["id"], m["time"], float(m["value"])) for m in got["first"]],
                            "last": [(m["line"], m["id"], m["time"], float(m["value"])) for m in got["last"]]}
            compared += 1
            widest = max(widest, len(window))
            if have != want:
                mismatched.append(number)
        check(compared > 100 and widest >= 3 and not mismatched,
              f"explain: events of the aggregate differ from the oracle on lines {mismatched[:5]} ({compared} "
              f"compared, widest window {widest})")

        # A window of more than 20 events lists the first and last 10 and says how many
        # more, in `eval --explain` records too.
        base = next(e for e in map(json.loads, sample_lines) if e["kind"] == "rental")
        base.update(customer_id="c-heavy", chip="H100", chip_count=1000)
        heavy = []
        for i in range(25):
            base.update(id=f"h-{i}", time=f"2024-01-{i + 1:02d}T00:00:00Z", hours=10 + i)
            heavy.append(json.dumps(base).encode())
        write(sample, heavy)
        code, out, err = run(edict, ["--explain", SUM_RULE, sample])
        last = json.loads(out.decode().splitlines()[-1])
        rule = next((r for r in last.get("rules", []) if r["name"] == "monthly_gpu_hours"), None)
        node = rule and aggregate_node(rule["conditions"]["when"])
        ev = node and node.get("events")
        check(ev and ev["count"] == 25 and ev["more"] == 5 and [m["id"] for m in ev["first"]] ==
              [f"h-{i}" for i in range(10)] and [m["id"] for m in ev["last"]] == [f"h-{i}" for i in range(15, 25)]
              and ev["last"][-1]["value"] == 1000 * 34 and ev["first"][0]["line"] == 1,
              f"eval --explain of a 25-event window: {json.dumps(ev)[:300] if ev else out.decode()[-300:]}")
        p = subprocess.run([edict, "explain", "--import-path", POLICIES, SUM_RULE, sample], capture_output=True, timeout=600)
        check("over 25 events in its window:" in p.stdout.decode() and "... and 5 more ..." in p.stdout.decode()
              and "line 25, id h-24, 2024-01-25T00:00:00Z: 34000" in p.stdout.decode(),
              f"explain of a 25-event window (human): {p.stdout.decode()[-600:]}")

    print("ok" if not failures else f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
