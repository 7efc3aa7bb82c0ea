#!/usr/bin/env python3
"""Audit records, streaming input and the JSON summary of `edict eval`
(issue 17; docs/events.md "Audit records"):

- --audit records carry the schema version, a decision id derived from the
  event and the policy, the decision time, the policy hash, versions and
  statuses, the data versions and Edict's version, and otherwise the same
  fields as the default records;
- --no-decision-time makes two runs byte-identical; the id changes with the
  event and with the policy, not with the run or the line;
- a line written to a pipe is decided while the pipe stays open (the record
  arrives before the input ends; bounded waits);
- --summary-format json is one JSON object with the counts the records show.

  run_audit_tests.py --edict PATH
"""
import json, os, re, select, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import ROOT, GEN, check, edict_from_args, run_groups

POLICY = os.path.join(ROOT, "policies", "reference.edict")
AUDIT_FIELDS = ["schema", "decision_id", "time", "edict", "policy_hash", "policies", "data"]


def run(edict, args, **kw):
    return subprocess.run([edict] + args, capture_output=True, timeout=120, **kw)


def records(out):
    return [json.loads(l) for l in out.decode().splitlines()]


def events_file(work, n, dirty="0.1"):
    path = os.path.join(work, f"ev{n}.jsonl")
    with open(path, "wb") as f:
        subprocess.run([sys.executable, GEN, "-n", str(n), "--seed", "7", "--dirty", dirty], stdout=f, check=True)
    return path


def test_audit_fields(edict, work):
    events = events_file(work, 300)
    plain = run(edict, ["eval", "-q", POLICY, events])
    audit = run(edict, ["eval", "-q", "--audit", POLICY, events])
    check(audit.returncode == plain.returncode, f"--audit changed the exit status: {audit.returncode}")
    a, p = records(audit.stdout), records(plain.stdout)
    check(len(a) == len(p) == 300, f"{len(a)} audit records, {len(p)} plain, for 300 lines")
    for ra, rp in zip(a, p):
        if not check(list(ra)[:len(AUDIT_FIELDS)] == AUDIT_FIELDS, f"audit fields first, in order: {list(ra)}"):
            break
        rest = {k: v for k, v in ra.items() if k not in AUDIT_FIELDS}
        if not check(rest == rp, f"line {rp['line']}: the audit record's other fields differ: {rest} vs {rp}"):
            break
    first = a[0]
    check(first["schema"] == 1, f"schema {first['schema']}")
    check(first["decision_id"].startswith("d-") and len(first["decision_id"]) == 34, first["decision_id"])
    check(first["policy_hash"].startswith("xxh3-128:") and len(first["policy_hash"]) == 41, first["policy_hash"])
    check(first["policies"] == [{"title": "Reference workload v1: cloud GPU rental screening", "version": "1.0",
                                 "status": "hypothetical",
                                 "source": "bench/reference_workload.md (simplified for benchmarking; not legal "
                                           "advice)"}], f"policies {first['policies']}")
    fired = [r for rec in p for r in rec.get("rules", [])]
    check(fired and all(r["version"] == "1.0" and r["status"] == "hypothetical" for r in fired),
          "each fired rule names its policy's version and status")
    check(first["data"] == {}, f"data {first['data']}")
    version = run(edict, ["--version"]).stdout.decode().split()[-1]
    check(first["edict"] == version, f"edict {first['edict']} vs --version {version}")
    check(len(first["time"]) == 27 and first["time"].endswith("Z"), f"time {first['time']}")
    # One id per distinct line text (a line over --max-line-bytes is never held: it hashes as empty).
    texts = [l.rstrip(b"\r") if len(l) <= 1 << 20 else b"" for l in open(events, "rb").read().split(b"\n")[:300]]
    by_text = {}
    for text, r in zip(texts, a):
        by_text.setdefault(text, set()).add(r["decision_id"])
    check(all(len(ids) == 1 for ids in by_text.values()), "one event text got several decision ids")
    check(len({r["decision_id"] for r in a}) == len(by_text), "two event texts share a decision id")
    csv = run(edict, ["eval", "-q", "--audit", "--format", "csv", POLICY, events])
    check(csv.returncode == 2 and b"--audit needs JSONL" in csv.stderr, f"--audit with csv: {csv.stderr!r}")
    alone = run(edict, ["eval", "-q", "--no-decision-time", POLICY, events])
    check(alone.returncode == 2 and b"add --audit" in alone.stderr, f"--no-decision-time alone: {alone.stderr!r}")


def test_reproducible(edict, work):
    events = events_file(work, 200)
    args = ["eval", "-q", "--audit", "--no-decision-time"]
    one, two = run(edict, args + [POLICY, events]), run(edict, args + ["-j", "3", "--batch-size", "7", POLICY, events])
    check(one.stdout == two.stdout and one.stdout, "--no-decision-time: runs (and -j, batch sizes) differ")
    check(b'"time"' not in one.stdout, "--no-decision-time still writes the time")
    # The same event on another line keeps its id; another policy text changes every id.
    lines = open(events, "rb").read().splitlines()
    shifted = os.path.join(work, "shifted.jsonl")
    with open(shifted, "wb") as f:
        f.write(lines[5] + b"\n" + lines[0] + b"\n")
    s = records(run(edict, args + [POLICY, shifted]).stdout)
    o = records(one.stdout)
    check(s[0]["decision_id"] == o[5]["decision_id"] and s[1]["decision_id"] == o[0]["decision_id"],
          "the decision id depends on the line's position")
    changed = os.path.join(work, "changed.edict")
    with open(POLICY) as f, open(changed, "w") as g:
        g.write(f.read() + "\n// a comment changes the policy's text\n")
    shutil.copytree(os.path.join(ROOT, "policies", "common"), os.path.join(work, "common"))  # its import
    c = records(run(edict, args + [changed, events]).stdout)
    check(c[0]["policy_hash"] != o[0]["policy_hash"], "the policy hash ignores the policy's text")
    check(all(x["decision_id"] != y["decision_id"] for x, y in zip(c, o)), "decision ids ignore the policy")


def test_streaming(edict, work):
    events = open(events_file(work, 4, dirty="0"), "rb").read().splitlines()
    p = subprocess.Popen([edict, "eval", "-q", POLICY, "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        got = 0
        for line in events:
            p.stdin.write(line + b"\n")
            p.stdin.flush()
            ready, _, _ = select.select([p.stdout], [], [], 10.0)  # bounded: JIT start-up on a loaded machine
            if not check(ready, f"no record for line {got + 1} while the pipe stays open"):
                break
            rec = json.loads(p.stdout.readline())
            check(rec["line"] == got + 1, f"record for line {rec['line']}, expected {got + 1}")
            got += 1
    finally:
        p.stdin.close()
        p.wait(timeout=30)
    check(p.returncode == 0, f"exit status {p.returncode}")


def test_summary_json(edict, work):
    events = events_file(work, 500)
    r = run(edict, ["eval", "--summary-format", "json", POLICY, events])
    summary = json.loads(r.stderr)
    recs = records(r.stdout)
    check(summary["summary"] == 1 and summary["lines"] == 500, f"summary {summary}")
    for outcome in ["allow", "report", "review", "deny"]:
        n = sum(1 for x in recs if x["decision"] == outcome)
        check(summary["decisions"][outcome] == n, f"{outcome}: summary {summary['decisions'][outcome]}, records {n}")
    errors = sum(1 for x in recs if x["decision"] == "error")
    check(summary["errors"] == errors and sum(summary["error_reasons"].values()) == errors,
          f"errors: summary {summary['errors']} {summary['error_reasons']}, records {errors}")
    fired = {}
    for x in recs:
        for rule in x.get("rules", []):
            fired[rule["name"]] = fired.get(rule["name"], 0) + 1
    check({k: v for k, v in summary["rules_fired"].items() if v} == fired, "rules_fired differs from the records")
    # Compilation counts apart and in the total (issue 19): a JIT run always spends some.
    j = json.loads(run(edict, ["eval", "--engine", "jit", "--no-code-cache", "--summary-format", "json", "-o",
                               os.path.join(work, "jit.jsonl"), POLICY, events]).stderr)
    check(j["load_seconds"] > 0 and abs(j["total_seconds"] - (j["load_seconds"] + j["seconds"])) < 1e-5,
          f"summary times: load {j['load_seconds']}, decide {j['seconds']}, total {j['total_seconds']}")
    text = run(edict, ["eval", "--engine", "jit", "--no-code-cache", "-o", os.path.join(work, "jit.jsonl"),
                       POLICY, events]).stderr.decode()
    m = re.match(r"edict eval: 500 lines, jit engine, ([0-9.]+) s \(compile ([0-9.]+) s, decide ([0-9.]+) s: ",
                 text)
    check(m is not None and float(m.group(2)) > 0
          and abs(float(m.group(1)) - float(m.group(2)) - float(m.group(3))) <= 0.011,
          f"text summary's first line: {text.splitlines()[0] if text else text!r}")
    q = run(edict, ["eval", "-q", "--summary-format", "json", POLICY, events])
    check(q.stderr == b"", "-q with --summary-format json still prints")


def main():
    edict = edict_from_args(__doc__)
    with tempfile.TemporaryDirectory() as work:
        return run_groups([
            ("audit fields", lambda: test_audit_fields(edict, work)),
            ("reproducible records", lambda: test_reproducible(edict, work)),
            ("streaming from a pipe", lambda: test_streaming(edict, work)),
            ("JSON summary", lambda: test_summary_json(edict, work)),
        ])


if __name__ == "__main__":
    sys.exit(main())
