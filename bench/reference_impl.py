#!/usr/bin/env python3
"""An independent, plain-Python implementation of reference workload v1
(bench/reference_workload.md), used to cross-check Edict's decisions event by
event: it shares no code with Edict. Reads JSON Lines, writes per line
`line<TAB>decision<TAB>rule,rule,...` (or `line<TAB>error`), and with
--counts prints per-decision and per-rule counts as JSON.

  reference_impl.py events.jsonl > expected.tsv
"""
import argparse, json, sys
from datetime import datetime, timezone

CHIPS = {  # model: (TPP, die area mm^2)
    "H100-SXM5-80GB": (15832, 814), "H100-PCIe-80GB": (12096, 814), "H800-SXM5-80GB": (15832, 814),
    "A100-SXM4-80GB": (4992, 826), "A800-SXM4-80GB": (4992, 826), "H20": (2368, 814), "L40S": (5864, 609),
    "L4": (1940, 294), "RTX-4090": (5285, 609), "RTX-4090D": (4707, 609), "T4": (1040, 545),
    "MI300X": (20915, 1017), "MI250X": (6128, 1448), "B200": (36000, 1600),
}
D5 = set("AF BY CD CF CN CU ER HT IQ IR KP LB LY MM NI RU SD SO SS SY VE ZW".split())
D5M = D5 | {"MO"}
ALLIES = set("US AU BE CA DK FI FR DE IE IT JP NL NZ NO KR ES SE TW GB".split())
RANK = {"allow": 0, "report": 1, "review": 2, "deny": 3}
RULES = ["hq_d5", "dc_d5", "entity_list", "kyc_large_training", "bulk_gpu_hours", "cluster_threshold",
         "diffusion_tier3", "unknown_chip", "offshore_cn_parent"]
EFFECT = {"hq_d5": "deny", "dc_d5": "deny", "entity_list": "deny", "kyc_large_training": "report",
          "bulk_gpu_hours": "review", "cluster_threshold": "report", "diffusion_tier3": "review",
          "unknown_chip": "review", "offshore_cn_parent": "review"}


def day(s):
    return datetime.fromisoformat(s).replace(tzinfo=timezone.utc)


def advanced(chip):
    if chip not in CHIPS:
        return False
    tpp, area = CHIPS[chip]
    return tpp >= 4800 or (tpp >= 1600 and tpp / area >= 5.92)


def fired_rules(e):
    t = datetime.strptime(e["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    rental = e["kind"] == "rental"
    adv = advanced(e["chip"])
    no_license = e.get("license") is None
    out = []
    if rental and t >= day("2023-11-17") and adv and (e["customer_hq"] in D5M or e["parent_hq"] in D5M) and no_license:
        out.append("hq_d5")
    if t >= day("2022-10-07") and adv and e["datacenter"] in D5M and no_license:
        out.append("dc_d5")
    if rental and e["entity_listed"]:
        out.append("entity_list")
    if rental and t >= day("2024-01-29") and e["purpose"] == "training" and e["customer_hq"] != "US" \
            and e["training_ops"] > 1e26:
        out.append("kyc_large_training")
    if rental and adv and e["chip_count"] * e["hours"] >= 100000 and e["customer_hq"] not in ALLIES:
        out.append("bulk_gpu_hours")
    if not rental and t >= day("2023-10-30") and e["peak_ops_per_s"] >= 1e20 and e["interconnect_gbps"] >= 100:
        out.append("cluster_threshold")
    if rental and day("2025-01-13") <= t < day("2025-05-13") and adv and e["datacenter"] not in ALLIES \
            and e["customer_hq"] not in ALLIES:
        out.append("diffusion_tier3")
    if e["chip"] not in CHIPS:
        out.append("unknown_chip")
    if rental and adv and e["parent_hq"] == "CN" and e["customer_hq"] != "CN":
        out.append("offshore_cn_parent")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("events")
    ap.add_argument("--counts", action="store_true")
    a = ap.parse_args()
    counts = {"decisions": {k: 0 for k in ["allow", "report", "review", "deny", "error"]}, "rules": {r: 0 for r in RULES}}
    out = sys.stdout
    with open(a.events, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                e = json.loads(raw)
                rules = fired_rules(e)
            except Exception:
                counts["decisions"]["error"] += 1
                if not a.counts:
                    out.write(f"{n}\terror\n")
                continue
            decision = max((EFFECT[r] for r in rules), key=RANK.get, default="allow")
            counts["decisions"][decision] += 1
            for r in rules:
                counts["rules"][r] += 1
            if not a.counts:
                out.write(f"{n}\t{decision}\t{','.join(rules)}\n")
    if a.counts:
        json.dump(counts, out, indent=2)
        out.write("\n")


if __name__ == "__main__":
    main()
