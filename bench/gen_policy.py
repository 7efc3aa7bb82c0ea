#!/usr/bin/env python3
"""A policy of N generated rules over the reference workload's events, for
the compile-cost and first-decision rows of bench/run.sh (issue 19).

  gen_policy.py -n 10000 --events policies/common/events.edict > rules-10000.edict

Each rule reads a few rental fields the way the shipped library's rules do
(a chip, a count threshold, a country, a time window) with its own
constants, so no two rules are alike and few fire. Deterministic: the same
N gives the same file.
"""
import argparse
import random

CHIPS = ["H100-SXM5-80GB", "H100-PCIe-80GB", "A100-SXM4-80GB", "A800-SXM4-80GB", "H800-SXM5-80GB", "H20",
         "L40S", "L4", "RTX-4090", "RTX-4090D", "T4", "MI300X", "MI250X", "B200", "Ascend-910B"]
COUNTRIES = ["US", "CN", "SG", "GB", "DE", "FR", "JP", "IN", "AE", "HK", "MO", "RU", "IR", "KR", "IL", "SA",
             "MY", "VN", "NL", "IE", "FI", "TW", "MX"]
PURPOSES = ["training", "inference", "hpc", "rendering", "unknown"]
EFFECTS = ["review", "report", "deny"]


def rule(rng, i):
    chip = rng.choice(CHIPS)
    count = rng.randint(2, 4096)
    country = rng.choice(COUNTRIES)
    purpose = rng.choice(PURPOSES)
    year = rng.randint(2022, 2025)
    month = rng.randint(1, 12)
    effect = rng.choice(EFFECTS)
    shape = i % 3
    if shape == 0:
        when = f'event.chip == "{chip}" and event.chip_count >= {count} and event.customer_hq == "{country}"'
    elif shape == 1:
        when = (f'event.purpose == "{purpose}" and event.datacenter == "{country}" '
                f'and event.hours > {rng.randint(1, 5000)}.5')
    else:
        when = (f'event.parent_hq == "{country}" and event.chip_count * event.hours > {count * 100} '
                f'and event.chip != "{chip}"')
    return (f'rule generated_{i:06d} on rental\n'
            f'  effective {year}-{month:02d}-01\n'
            f'  cite "generated rule {i}"\n'
            f'  {effect} "generated rule {i}: {{event.chip_count}} x {{event.chip}} for {{event.customer_hq}}"\n'
            f'  when {when}\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, required=True, help="rules")
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--events", default="common/events.edict",
                    help="the event declarations to import, as the import should name them")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    out = [f'policy "Generated: {a.n} rules (benchmark only)"\n'
           '  version "1.0"\n'
           '  source "bench/gen_policy.py"\n'
           '  status hypothetical\n\n'
           f'import "{a.events}"\n']
    for i in range(a.n):
        out.append("\n" + rule(rng, i))
    print("".join(out), end="")


if __name__ == "__main__":
    main()
