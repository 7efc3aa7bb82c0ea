#!/usr/bin/env python3
"""The shipped policy library on a generated event log (bench/gen_events.py):

- every policy program of the library (the law as enforced, the proposed KYC
  rule, AI Diffusion as written, the two what-ifs) decides every line of the
  log without an evaluation error, identically on both engines;
- the central fact holds on the whole log: under the law as enforced, a rental
  needs a license only through the May 2025 policy statement, never before
  2025-05-13, while provisioning does need licenses;
- each what-if only changes rentals, only by adding its own rules to the
  enforced ones, and only towards a stricter decision.

  run_library_eval.py --edict build/cli/edict [--work DIR] [-n LINES]
"""
import argparse, json, os, subprocess, sys, tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import GEN, ROOT, check, failures  # noqa: E402
POLICIES = os.path.join(ROOT, "policies")
ENFORCED = os.path.join(POLICIES, "law_as_enforced.edict.md")
PROGRAMS = {
    "law_as_enforced": [ENFORCED],
    "kyc_proposed": [os.path.join(POLICIES, "rental", "iaas_kyc_proposed.edict.md")],
    "law_and_proposed": [os.path.join(POLICIES, "law_and_proposed.edict.md")],
    "ai_diffusion": [os.path.join(POLICIES, "provisioning", "ai_diffusion.edict.md")],
    "rasa": [os.path.join(POLICIES, "whatif", "remote_access_security_act.edict.md")],
    "hq_rentals": [os.path.join(POLICIES, "whatif", "hq_test_for_rentals.edict.md")],
}
WHATIF_RULES = {"rasa": {"rasa_remote_access_d5m", "rasa_remote_access_scope"}, "hq_rentals": {"hq_test_rental"}}
# Weakest first, as common/outcomes.edict.md declares them.
OUTCOMES = ["no_license_required", "customer_identification", "report", "notification", "red_flag",
            "license_presumption_of_approval", "license_required", "license_case_by_case",
            "license_presumption_of_denial"]

# Stateful programs (AI Diffusion's yearly LPP cap) read events in time order; the generated log is
# not sorted, so they get a lateness covering its whole span (2022-06 to 2026-01).
LATENESS = {"ai_diffusion": ["--max-lateness", "1500d"]}


def evaluate(edict, policy_files, events, engine, extra=()):
    p = subprocess.run([edict, "eval", "-q", "--engine", engine, "--import-path", POLICIES, *extra, *policy_files, events],
                       capture_output=True,
                       timeout=600)
    check(p.returncode == 0, f"{policy_files} on {engine}: exit {p.returncode}: {p.stderr.decode()[-500:]}")
    return p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edict", required=True)
    ap.add_argument("--work")
    ap.add_argument("-n", type=int, default=20000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=a.work) as work:
        events = os.path.join(work, "events.jsonl")
        with open(events, "wb") as f:
            subprocess.run([sys.executable, GEN, "-n", str(a.n), "--seed", "11"], stdout=f, check=True)
        with open(events) as f:
            times = [json.loads(line)["time"] for line in f]

        decided = {}
        for name, files in PROGRAMS.items():
            jit = evaluate(a.edict, files, events, "jit", LATENESS.get(name, ()))
            interp = evaluate(a.edict, files, events, "interp", LATENESS.get(name, ()))
            check(jit == interp, f"{name}: the engines disagree")
            recs = [json.loads(line) for line in jit.decode().splitlines()]
            check(len(recs) == a.n, f"{name}: {len(recs)} records for {a.n} lines")
            check(all(r["decision"] != "error" for r in recs), f"{name}: some lines were decided `error`")
            decided[name] = recs

        enforced = decided["law_as_enforced"]
        rental_licenses = [(r, t) for r, t in zip(enforced, times)
                           if r["kind"] == "rental" and r["decision"].startswith("license")]
        for r, t in rental_licenses:
            names = {f["name"] for f in r["rules"] if f["effect"].startswith("license")}
            check(names == {"ps2025_iaas_training_prohibited_end_use"} and t >= "2025-05-13",
                  f"law as enforced: rental {r['id']} at {t} needs a license through {names}")
        check(any(r["kind"] == "provision" and r["decision"].startswith("license") for r in enforced),
              "law as enforced: no provisioning needed a license")
        statuses = {f["status"] for r in enforced for f in r["rules"]}
        check(statuses == {"in_force"}, f"law as enforced: rules of status {statuses} fired")

        # The bundle of the law and the proposals: its in_force rules are exactly the law's, and every
        # other rule it fires is a proposed one.
        changed = 0
        for base, both in zip(enforced, decided["law_and_proposed"]):
            check([f for f in both["rules"] if f.get("status") == "in_force"] == base["rules"],
                  f"law and proposed: {both['id']}: the in_force rules differ from the law as enforced")
            added = {f.get("status") for f in both["rules"] if f.get("status") != "in_force"}
            check(added <= {"proposed"}, f"law and proposed: {both['id']}: rules of status {added} fired")
            changed += both["decision"] != base["decision"]
        check(changed > 0, "law and proposed: the proposed rules changed no decision")

        for name, own in WHATIF_RULES.items():
            changed = 0
            for base, what in zip(enforced, decided[name]):
                added = [f for f in what["rules"] if f not in base["rules"]]
                check(all(f["name"] in own and f["status"] == "hypothetical" for f in added),
                      f"{name}: {what['id']} fired {added} beyond the enforced rules")
                check(all(f in what["rules"] for f in base["rules"]), f"{name}: {what['id']} lost an enforced rule")
                if base["decision"] != what["decision"]:
                    changed += 1
                    check(what["kind"] == "rental", f"{name}: changed the decision of {what['kind']} {what['id']}")
                    check(OUTCOMES.index(what["decision"]) > OUTCOMES.index(base["decision"]),
                          f"{name}: {what['id']} became weaker")
            check(changed > 0, f"{name}: changed no decision")
            print(f"{name}: {changed} of {a.n} decisions change against the law as enforced")

    print("library eval:", "FAILED" if failures else "ok", f"({len(failures)} failures)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
