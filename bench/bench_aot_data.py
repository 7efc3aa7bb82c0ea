#!/usr/bin/env python3
"""What a data lookup and a name screening cost in an ahead-of-time library
(`edict build` of a policy with `data`) against the JIT, per event: three
policies on one event kind, the same but for one rule,
  base    no lookup (an int comparison, then the two strings compared);
  exact   + `customer_id in holders` (3,000 ids in force by date, of the
          20,000 ids the events carry);
  screen  + `customer_name in entity_list`, screened against the shipped
          Entity List (policies/lists/entity_list.csv, about 3,000 entries,
          9,000 names with aliases; threshold 0.9 as the shipped rules);
each built with `edict build` and linked with bench/aot_data_bench.c, which
times the library's entry point and the C ABI's typed events on JIT code
(edict_eval_event) on the same events (10% listed names, 10% of them with a
typo, the rest names not on the list). Cold: the first round, every name new
to the screening caches; warm: the best later round. A lookup's cost is its
policy's figure minus base's. Prints figures, asserts nothing about time.

    bench_aot_data.py --edict build/cli/edict --source . [--work DIR] [-n 20000] [--rounds 5]
"""
import argparse
import csv
import os
import random
import subprocess
import sys

EVENT = "event rental { time: time, customer_id: string, customer_name: string, chips: int }\n"
# Reads both strings, so every variant converts the same fields (a string a
# rule reads becomes a symbol) and the difference is the lookup alone.
BASE_RULE = ('rule big on rental\n  cite "bench"\n  deny\n  when event.chips > 1_000_000_000\n'
             '    and event.customer_id != event.customer_name\n')
HOLDERS = ('data holders: string -> { name: string, added: date, removed: date? }\n  from "holders.csv"\n'
           '  key "id"\n  in force from added until removed\n'
           'rule holder on rental\n  cite "bench"\n  review\n  when event.customer_id in holders\n')
SCREEN = ('data entity_list: string -> {{ name: string, aliases: set<string>, notice: string?, added: date, '
          'removed: date? }}\n  from "{list}"\n  key "_id"\n'
          '  columns {{ aliases: "alt_names", notice: "federal_register_notice", added: "start_date", '
          'removed: "end_date" }}\n  in force from added until removed\n  screen name, aliases above 0.9\n'
          'rule listed on rental\n  cite "bench"\n  deny\n  when event.customer_name in entity_list\n')
WORDS = ["Alpha", "Borealis", "Cobalt", "Delta", "Ember", "Falcon", "Granite", "Harbor", "Indigo", "Juniper",
         "Kestrel", "Lumen", "Meridian", "Nova", "Onyx", "Pioneer", "Quartz", "Raven", "Summit", "Tundra"]
KINDS = ["Logistics", "Trading", "Systems", "Analytics", "Holdings", "Devices", "Foods", "Textiles"]


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit("command failed (%d): %s\n%s%s" % (r.returncode, " ".join(cmd), r.stdout, r.stderr))
    return r.stdout


def typo(rng, name):
    i = rng.randrange(1, max(2, len(name) - 1))
    return name[:i] + name[i + 1:] if name[i].isalpha() else name


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edict", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--work", default="build/bench-aot-data")
    ap.add_argument("-n", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    w = lambda *p: os.path.abspath(os.path.join(args.work, *p))
    source = os.path.abspath(args.source)
    build = os.path.dirname(os.path.dirname(os.path.abspath(args.edict)))
    rng = random.Random(7)
    listed = w("entity_list.csv")
    with open(os.path.join(source, "policies", "lists", "entity_list.csv"), encoding="utf-8") as f:
        text = f.read()
    with open(listed, "w", encoding="utf-8") as f:
        f.write(text)
    names = [row["name"] for row in csv.DictReader(text.splitlines())]
    os.makedirs(w("exact"), exist_ok=True)
    with open(w("exact", "holders.csv"), "w") as f:
        f.write("id,name,added,removed\n")
        for k in range(3000):
            i = (k * 7919 + 13) % 20000
            f.write("c-%06d,Holder %d,%d-%02d-01,%s\n" % (i, i, 2022 + k % 4, 1 + k % 12,
                                                         "%d-%02d-01" % (2023 + k % 4, 1 + k % 12) if k % 3 == 0 else ""))
    with open(w("events.tsv"), "w", encoding="utf-8") as f:
        for _ in range(args.n):
            r = rng.random()
            name = (rng.choice(names) if r < 0.09 else typo(rng, rng.choice(names)) if r < 0.10 else
                    "%s %s %s %d" % (rng.choice(WORDS), rng.choice(WORDS), rng.choice(KINDS), rng.randrange(1000)))
            f.write("c-%06d\t%s\n" % (rng.randrange(20000), name))
    variants = {"base": "", "exact": HOLDERS, "screen": SCREEN.format(list=listed)}
    loads = {"base": [], "exact": ["holders=" + w("exact", "holders.csv")], "screen": ["entity_list=" + listed]}
    cc = os.environ.get("CC", "cc")
    results = {}
    for name, extra in variants.items():
        d = w(name)
        os.makedirs(d, exist_ok=True)
        policy = os.path.join(d, "policy.edict")
        with open(policy, "w") as f:
            f.write(EVENT + BASE_RULE + extra)
        run([args.edict, "build", "-q", policy, "-o", os.path.join(d, "libb.so")])
        run([cc, "-std=c11", "-O2", "-I", d, "-I", os.path.join(source, "include"),
             os.path.join(source, "bench", "aot_data_bench.c"), "-o", os.path.join(d, "bench"), "-L", d, "-lb",
             "-L", os.path.join(build, "api"), "-ledict", "-Wl,-rpath," + d + ":" + os.path.join(build, "api")])
        out = run([os.path.join(d, "bench"), policy, w("events.tsv"), str(args.rounds)] + loads[name]).split()
        results[name] = {out[i]: float(out[i + 1]) for i in range(0, len(out), 2)}
    print("ns per event (thread CPU time), %d events, %d rounds; AOT: the library's entry point, JIT: "
          "edict_eval_event" % (args.n, args.rounds))
    print("%-8s %10s %10s %10s %10s %9s %9s" % ("policy", "AOT cold", "AOT warm", "JIT cold", "JIT warm",
                                               "not allow", "load ms"))
    for name, r in results.items():
        print("%-8s %10.1f %10.1f %10.1f %10.1f %9d %9.1f" % (name, r["aot_cold"], r["aot_warm"], r["jit_cold"],
                                                            r["jit_warm"], r["not_allow"], r["load_ms"]))
    base = results["base"]
    for name in ("exact", "screen"):
        r = results[name]
        print("%-6s lookup adds: AOT %.1f ns cold, %.1f warm; JIT %.1f ns cold, %.1f warm" % (
            name, r["aot_cold"] - base["aot_cold"], r["aot_warm"] - base["aot_warm"],
            r["jit_cold"] - base["jit_cold"], r["jit_warm"] - base["jit_warm"]))


if __name__ == "__main__":
    main()
