#!/usr/bin/env python3
"""End-to-end tests of the regression tooling's command line:

- `edict test` on a deliberately broken test: a readable failure (test name,
  file:line, event, expected and actual decision, fired rules with
  citations), `--format json`, `--junit FILE` (well-formed JUnit XML), exit 1;
- `edict test --coverage`: the shipped policies reach 100% rule coverage
  (`--min rules=100`), and an unreachable minimum fails with exit 1;
- `edict explain` (human and json) on an event from a file and from stdin;
- `edict eval --explain`: fired rules carry their condition trees; on a
  generated log the decisions are those of a plain run, every fired rule's
  `when` is true, and -j 2 gives the same output.

  run_cli_tests.py --edict build/cli/edict
"""
import argparse, json, os, shutil, subprocess, sys, tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import GEN, ROOT, check, failures  # noqa: E402
from reference_program import reference_folder  # noqa: E402

POLICIES = None  # the reference program's folder, made by main()

EVENT = {"kind": "rental", "id": "r-42", "time": "2024-03-01T00:00:00Z", "provider": "Azure", "provider_hq": "US",
         "provider_parent_hq": "US", "datacenter": "SG", "region": "sg", "customer_id": "c-1",
         "customer_name": "Example Pte", "customer_hq": "CN", "parent_hq": "CN", "chip": "H100-SXM5-80GB",
         "chip_count": 8, "hours": 10.0, "purpose": "inference", "training_ops": 0.0, "training_data": "general",
         "end_user_type": "commercial", "end_use": "civil", "entity_listed": False, "listed_ownership": 0.0}

BROKEN = '''import "common/events.edict"

rule big_rental on rental
  cite "15 CFR 744.23(a)(3)"
  deny
  when event.chip_count >= 100

example small: rental = {
  id: "t-1",
  time: 2024-03-01T00:00:00Z,
  provider: "Azure",
  provider_hq: "US",
  provider_parent_hq: "US",
  datacenter: "SG",
  region: "sg",
  customer_id: "c-1",
  customer_name: "Example Pte",
  customer_hq: "SG",
  parent_hq: "SG",
  chip: "H20",
  chip_count: 4,
  hours: 1.0,
  purpose: "inference",
  training_ops: 0.0,
  training_data: "general",
  end_user_type: "commercial",
  end_use: "civil",
  entity_listed: false,
  listed_ownership: 0.0,
}

test "large rentals are denied" {
  given small with { chip_count: 200 }
  expect deny by big_rental
}

test "this expectation is wrong on purpose" {
  given small with { chip_count: 150 }
  expect allow
}
'''

def run(edict, args, stdin=None):
    p = subprocess.run([edict, *args], capture_output=True, input=stdin, timeout=300)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def test_broken(edict, work):
    folder = os.path.join(work, "broken")
    shutil.copytree(os.path.join(POLICIES, "common"), os.path.join(folder, "common"))
    path = os.path.join(folder, "broken.edict")
    open(path, "w").write(BROKEN)
    junit = os.path.join(work, "junit.xml")
    code, out, err = run(edict, ["test", path, "--junit", junit])
    check(code == 1, f"broken: exit {code}: {err}")
    for piece in ['FAIL test "this expectation is wrong on purpose"', f"{path}:38", "expected: allow",
                  "actual:   deny", "chip_count: 150", "big_rental (deny, 15 CFR 744.23(a)(3))", "1 passed, 1 failed"]:
        check(piece in out, f"broken: human output lacks `{piece}`:\n{out}")
    root = ET.parse(junit).getroot()
    check(root.tag == "testsuites" and root.get("tests") == "2" and root.get("failures") == "1",
          f"broken: junit root {root.attrib}")
    cases = root.findall("./testsuite/testcase")
    check(len(cases) == 2, f"broken: {len(cases)} junit test cases")
    failed = [c for c in cases if c.find("failure") is not None]
    check(len(failed) == 1 and failed[0].get("name") == "this expectation is wrong on purpose",
          "broken: junit marks the wrong test")
    code, out, err = run(edict, ["test", "--format", "json", "--engine", "interp", path])
    check(code == 1, f"broken json: exit {code}")
    doc = json.loads(out)
    check(doc["passed"] == 1 and doc["failed"] == 1, f"broken json: counts {doc['passed']}, {doc['failed']}")
    bad = [t for t in doc["tests"] if not t["passed"]]
    f = bad[0]["failures"][0] if bad else {}
    check(bad and bad[0]["line"] == 37 and f.get("line") == 38 and f.get("expected") == "allow"
          and f.get("actual") == "deny" and f.get("fired") == [{"name": "big_rental", "effect": "deny",
                                                                 "cite": "15 CFR 744.23(a)(3)"}],
          f"broken json: {bad}")


def test_coverage(edict, work):
    code, out, err = run(edict, ["test", "--coverage", "--min", "rules=100", POLICIES])
    check(code == 0, f"coverage: exit {code}: {err}")
    check("rules        100.0%" in out, f"coverage: rules not at 100%:\n{out[:600]}")
    code, out, err = run(edict, ["test", "--coverage-format", "json", "--coverage-output",
                                 os.path.join(work, "cov.json"), "--min", "100", POLICIES])
    check(code == 1 and "below the minimum" in err, f"coverage --min 100: exit {code}: {err}")
    cov = json.load(open(os.path.join(work, "cov.json")))
    rules = [p for p in cov["points"] if p["kind"] == "rule"]
    check(len(rules) >= 9 and all(p["fired"] and p["not_fired"] for p in rules), "coverage json: a rule is uncovered")
    code, out, err = run(edict, ["test", "--min", "rules=101", POLICIES])
    check(code == 2, f"coverage: a bad --min is a usage error, got {code}")


def test_explain(edict, work):
    path = os.path.join(work, "event.json")
    json.dump(EVENT, open(path, "w"), indent=2)  # pretty-printed: one event over several lines
    code, out, err = run(edict, ["explain", POLICIES, path])
    check(code == 0, f"explain: exit {code}: {err}")
    for piece in ["id r-42, rental event: decision deny", "rule hq_d5 (deny, 15 CFR 744.23(a)(3)): FIRED",
                  "event.customer_hq = \"CN\"", "event.parent_hq in D5M = (not evaluated)",
                  "event.license = absent", "rule cluster_threshold", "skipped (applies to provision events)",
                  "not in effect at the event's time"]:
        check(piece in out, f"explain: output lacks `{piece}`:\n{out}")
    code, out, err = run(edict, ["explain", "--format", "json", POLICIES, "-"], stdin=json.dumps(EVENT).encode())
    check(code == 0, f"explain json: exit {code}: {err}")
    doc = json.loads(out)
    status = {r["name"]: r["status"] for r in doc["rules"]}
    check(doc["decision"] == "deny" and status["hq_d5"] == "fired" and status["cluster_threshold"] == "not_applicable"
          and status["diffusion_tier3"] == "not_in_effect", f"explain json: {doc['decision']} {status}")
    hq = next(r for r in doc["rules"] if r["name"] == "hq_d5")
    check(hq["when"]["value"] is True and hq["unless"]["value"] is False, f"explain json: {hq}")


def test_eval_explain(edict, work):
    events = (json.dumps(EVENT) + "\n" + json.dumps(dict(EVENT, customer_hq="US", parent_hq="US", id="r-43")) + "\n")
    code, out, err = run(edict, ["eval", "-q", "--explain", POLICIES, "-"], stdin=events.encode())
    check(code == 0, f"eval --explain: exit {code}: {err}")
    recs = [json.loads(l) for l in out.splitlines()]
    check(len(recs) == 2, f"eval --explain: {len(recs)} records")
    fired = {r["name"]: r for r in recs[0]["rules"]}
    hq = fired.get("hq_d5", {})
    cond = hq.get("conditions", {})
    check(cond.get("when", {}).get("value") is True and cond.get("unless", {}).get("state") == "value",
          f"eval --explain: {hq}")
    check(recs[1]["rules"] == [], f"eval --explain: second event fired {recs[1]['rules']}")
    # On a generated log: the same decisions as without --explain, every fired
    # rule's `when` true, and the same output with two threads.
    log = os.path.join(work, "log.jsonl")
    with open(log, "wb") as f:
        subprocess.run([sys.executable, GEN, "-n", "2000", "--seed", "3"], stdout=f, check=True)
    _, plain, _ = run(edict, ["eval", "-q", POLICIES, log])
    code, explained, err = run(edict, ["eval", "-q", "--explain", POLICIES, log])
    _, threaded, _ = run(edict, ["eval", "-q", "--explain", "-j", "2", POLICIES, log])
    check(code == 0 and explained == threaded, f"eval --explain -j 2 differs or failed: {err}")
    fired = 0
    for a, b in zip(plain.splitlines(), explained.splitlines()):
        a, b = json.loads(a), json.loads(b)
        check(a["decision"] == b["decision"] and [r["name"] for r in a["rules"]] == [r["name"] for r in b["rules"]],
              f"eval --explain changed line {a['line']}")
        for r in b["rules"]:
            fired += 1
            check(r["conditions"]["when"]["value"] is True, f"eval --explain: line {b['line']}: {r}")
    check(len(plain.splitlines()) == len(explained.splitlines()) == 2000 and fired > 100,
          f"eval --explain: {len(explained.splitlines())} records, {fired} fired rules")


# Issue 22: a lawyer's own rules on top of the shipped library.
MY_RULE = '''# The firm's rule

```edict
policy "Firm reading: large rentals"
  status in_force

import "LIBRARY/law_as_enforced.edict.md"

rule firm_large_rental on rental
  effective 2025-03-01
  cite "15 CFR 744.23(a)(3)"
  red_flag "{event.chip_count} x {event.chip}"
  when event.chip_count > 256
```

```edict
example big_rental: rental = cn_startup_rents_in_singapore with { time: 2025-06-01T00:00:00Z, chip_count: 512 }
example small_rental: rental = big_rental with { chip_count: 8 }

test "large rentals are flagged" {
  given big_rental
  expect red_flag by only firm_large_rental
  given small_rental
  expect no_license_required
}
```
'''


def test_coverage_scope(edict, work):
    """`--coverage-scope`: the imported library's rules do not count, the
    scoped file is shown even when fully covered, --min applies to it."""
    library = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "policies")
    mine = os.path.join(work, "my_rule.edict.md")
    with open(mine, "w") as f:
        f.write(MY_RULE.replace("LIBRARY", os.path.abspath(library)))
    base = ["test", "--import-path", library]
    code, out, err = run(edict, [*base, "--coverage", "--min", "rules=100", mine])
    check(code == 1 and "rules coverage" in err, f"unscoped: the library's rules count: exit {code}: {err}{out}")
    code, out, err = run(edict, [*base, "--coverage-scope", mine, "--min", "rules=100", mine])
    check(code == 0, f"scoped to the file: exit {code}: {err}{out}")
    check("rules        100.0% (2 of 2)" in out and "scope       " + mine in out,
          f"scoped to the file: not the file's one rule:\n{out}")
    check(out.count("\n" + mine + "\n") == 1, f"scoped to the file: the fully covered file is not listed:\n{out}")
    code, out, err = run(edict, [*base, "--coverage-scope", "Firm reading: large rentals",
                                 "--coverage-format", "json", mine])
    doc = json.loads(out[out.index("{"):]) if "{" in out else {}
    rules = [p for p in doc.get("points", []) if p["kind"] == "rule"]
    check(code == 0 and [r["owner"] for r in rules] == ["firm_large_rental"] and doc.get("scope") == [mine],
          f"scoped to the policy title: exit {code}: {rules} {doc.get('scope')}: {err}")
    code, out, err = run(edict, [*base, "--coverage-scope", "no_such_file.edict", mine])
    check(code == 2 and "no_such_file.edict" in err, f"an unknown scope is a usage error: exit {code}: {err}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edict", required=True)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="edict-tooling-")
    global POLICIES
    POLICIES = reference_folder(work)
    try:
        test_broken(a.edict, work)
        test_coverage(a.edict, work)
        test_coverage_scope(a.edict, work)
        test_explain(a.edict, work)
        test_eval_explain(a.edict, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'FAILED' if failures else 'ok'}: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
