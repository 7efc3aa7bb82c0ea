#!/usr/bin/env python3
"""End-to-end tests of `edict diff`:

- threshold: the shipped policies against a copy whose bulk_gpu_hours
  threshold is lowered from 100,000 to 50,000 GPU-hours, over a generated
  log: the changed events (line, old and new decision and fired rules) are
  exactly the ones an independent computation finds (bench/reference_impl.py
  for the old decisions, the same rule with the new threshold in Python for
  the new ones), and the summary names the transition; the versions share
  one decoding of each line;
- new string: the same with kyc_large_training amended to another purpose,
  a new string constant, so each version decodes the lines itself;
  both with -j 2 (the versions side by side) byte-identical to -j 1;
- identical: a policy against itself changes nothing and exits 0;
- schema: a copy that declares a field with another type is refused, naming
  the field.

  run_diff_tests.py --edict build/cli/edict [--work DIR]
"""
import argparse, importlib.util, json, os, re, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import GEN, ROOT, check, failures  # noqa: E402
from reference_program import reference_folder  # noqa: E402

POLICIES = None  # the reference program's folder, made by main()

spec = importlib.util.spec_from_file_location("reference_impl", os.path.join(ROOT, "bench", "reference_impl.py"))
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)

def copy_policies(dest, old, new):
    shutil.copytree(POLICIES, dest)
    path = os.path.join(dest, "reference.edict")
    text = open(path).read()
    check(text.count(old) == 1, f"the policy spells `{old}` exactly once")
    open(path, "w").write(text.replace(old, new))


def bulk_at_50k(e, old_rules):
    """bulk_gpu_hours amended to >= 50,000 GPU-hours, on top of the reference rules."""
    rules = [r for r in old_rules if r != "bulk_gpu_hours"]
    if e["kind"] == "rental" and ref.advanced(e["chip"]) and e["chip_count"] * e["hours"] >= 50000 \
            and e["customer_hq"] not in ref.ALLIES:
        rules.append("bulk_gpu_hours")
    return rules


def kyc_for_hpc(e, old_rules):
    """kyc_large_training amended to purpose "hpc" (a new string constant: the versions' string pools differ)."""
    rules = [r for r in old_rules if r != "kyc_large_training"]
    t = ref.datetime.strptime(e["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=ref.timezone.utc)
    if e["kind"] == "rental" and t >= ref.day("2024-01-29") and e["purpose"] == "hpc" and e["customer_hq"] != "US" \
            and e["training_ops"] > 1e26:
        rules.append("kyc_large_training")
    return rules


def decision(rules):
    return max((ref.EFFECT[r] for r in rules), key=ref.RANK.get, default="allow")


def test_amendment(edict, work, events, name, old, new, new_fired, rule, decoded):
    amended = os.path.join(work, name)
    copy_policies(amended, old, new)
    changes = os.path.join(work, name + ".jsonl")
    p = subprocess.run([edict, "diff", POLICIES, amended, events, "-o", changes], capture_output=True, timeout=600)
    out = p.stdout.decode()
    check(p.returncode == 1, f"{name}: exit {p.returncode} (1 = decisions changed): {p.stderr.decode()[-400:]}")
    check(f"events decoded {decoded}" in p.stderr.decode(), f"{name}: not decoded {decoded}: {p.stderr.decode()}")
    # The timing counts loading and compiling both versions, apart and in the total (issue 19).
    t = re.search(r"edict diff: ([0-9.]+) s \(loading and compiling both versions ([0-9.]+) s, deciding ([0-9.]+) s",
                  p.stderr.decode())
    check(t is not None and float(t.group(2)) > 0
          and abs(float(t.group(1)) - float(t.group(2)) - float(t.group(3))) <= 0.011,
          f"{name}: timing line: {p.stderr.decode()[-300:]}")
    changes2 = os.path.join(work, name + "-j2.jsonl")
    p2 = subprocess.run([edict, "diff", "-q", "-j", "2", POLICIES, amended, events, "-o", changes2],
                        capture_output=True, timeout=600)
    check(p2.returncode == 1 and p2.stdout == p.stdout and open(changes2).read() == open(changes).read(),
          f"{name}: -j 2 reports differently from -j 1")
    expected = {}
    with open(events) as f:
        for n, line in enumerate(f, 1):
            e = json.loads(line)
            a = sorted(ref.fired_rules(e))
            b = sorted(new_fired(e, a))
            if a != b or decision(a) != decision(b):
                expected[n] = (decision(a), a, decision(b), b)
    check(len(expected) > 5, f"{name}: the amendment moves only {len(expected)} events; pick a larger log")
    got = {}
    for line in open(changes):
        r = json.loads(line)
        got[r["line"]] = (r["old"]["decision"], sorted(r["old"]["rules"]), r["new"]["decision"],
                          sorted(r["new"]["rules"]))
        moved = sorted(r["added"] + r["removed"])
        check(moved == [rule], f"{name}: line {r['line']}: {r}")
    check(got == expected, f"{name}: {len(got)} changed events, expected {len(expected)}; "
          f"only edict: {sorted(set(got) - set(expected))[:5]}, only Python: {sorted(set(expected) - set(got))[:5]}")
    transitions = {}
    for (da, _, db, _) in expected.values():
        transitions[(da, db)] = transitions.get((da, db), 0) + 1
    for (da, db), n in transitions.items():
        check(f"{da} -> {db}" in out and f"{n:,}" in out, f"{name}: summary lacks `{da} -> {db}` x {n}:\n{out}")
    check(rule in out, f"{name}: summary does not name the rule:\n{out}")


def test_identical(edict, events):
    p = subprocess.run([edict, "diff", "-q", POLICIES, POLICIES, events], capture_output=True, timeout=600)
    check(p.returncode == 0, f"identical: exit {p.returncode}: {p.stderr.decode()[-400:]}")
    check(" 0 changed" in p.stdout.decode(), f"identical: {p.stdout.decode()}")


def test_schema(edict, work, events):
    other = os.path.join(work, "schema")
    shutil.copytree(POLICIES, other)
    path = os.path.join(other, "common", "events.edict")
    text = open(path).read()
    check("chip_count: int" in text, "schema: events.edict declares chip_count: int")
    open(path, "w").write(text.replace("chip_count: int", "chip_count: number", 1))
    p = subprocess.run([edict, "diff", "-q", POLICIES, other, events], capture_output=True, timeout=600)
    err = p.stderr.decode()
    check(p.returncode == 2, f"schema: exit {p.returncode}")
    check("chip_count" in err and "int" in err and "num" in err, f"schema: message does not name the field: {err}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edict", required=True)
    ap.add_argument("--work")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="edict-diff-")
    global POLICIES
    POLICIES = reference_folder(work)
    os.makedirs(work, exist_ok=True)
    events = os.path.join(work, "events.jsonl")
    with open(events, "wb") as f:
        subprocess.run([sys.executable, GEN, "-n", "20000", "--seed", "11"], stdout=f, check=True)
    test_amendment(a.edict, work, events, "threshold", "event.chip_count * event.hours >= 100_000",
                   "event.chip_count * event.hours >= 50_000", bulk_at_50k, "bulk_gpu_hours", "once for both versions")
    test_amendment(a.edict, work, events, "new_string", 'event.purpose == "training"', 'event.purpose == "hpc"',
                   kyc_for_hpc, "kyc_large_training", "once per version")
    test_identical(a.edict, events)
    test_schema(a.edict, work, events)
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'FAILED' if failures else 'ok'}: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
