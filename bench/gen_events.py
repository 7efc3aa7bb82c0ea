#!/usr/bin/env python3
# Copied from the project brief's event contract (bench/EVENTS.md describes the fields).
"""Deterministic generator of cloud rental and provisioning events (JSON Lines).

The field names and value conventions here (described in EVENTS.md) are the event contract that Edict's
shipped policies, tests and benchmarks read. Chips are named by model only:
classification (TPP, performance density) belongs to the policy, not the event.

  gen_events.py -n 1000000 --seed 7 > events.jsonl
  gen_events.py -n 100000 --dirty 0.01 --manifest bad.json > mixed.jsonl

--dirty RATE replaces that share of lines with malformed ones of known kinds
(broken JSON, wrong types, unknown country codes, bad timestamps, missing
fields, invalid UTF-8, oversized lines); --manifest writes how many of each
kind went in, and at which line numbers, so a run can prove nothing was lost.

--screening-labels FILE gives that share (--screening-share, default 1%) of
rentals a customer name made from an entry of the shipped Entity List file
(policies/lists/entity_list.csv, or --screening-list) in force at the
event's time: the name as listed (exact), an alias, the words reordered,
punctuation and legal-form changes, one or two typos (each must hit that
entry), or a near miss (a listed name with its distinctive word replaced by
an unrelated one: must hit nothing). FILE gets one JSON line per such event:
line, id, time, name, label and the entry's `_id` (null for a near miss).
The names come from their own random stream, so every other field of a
seed's log stays as it is without the option.

A placement whose customer or operator matched upstream (`entity_listed`,
`provider_listed`) names the matched entry (`entity_list_entry`,
`provider_list_entry`: a real entry of that list in force at the event's
time) four times in five; these come from a random stream of their own too.
"""
import argparse, csv, json, os, random, sys
from datetime import datetime, timedelta, timezone

PROVIDERS = [  # name, headquarters, [(datacenter country, region)]; ultimate parent HQ is in PARENTS
    ("Azure", "US", [("US", "eastus"), ("SG", "southeastasia"), ("JP", "japaneast"), ("NL", "westeurope"), ("IE", "northeurope"), ("AE", "uaenorth"), ("IN", "centralindia")]),
    ("Google Cloud", "US", [("US", "us-central1"), ("SG", "asia-southeast1"), ("JP", "asia-northeast1"), ("NL", "europe-west4"), ("MY", "asia-southeast3")]),
    ("AWS", "US", [("US", "us-east-1"), ("SG", "ap-southeast-1"), ("DE", "eu-central-1"), ("IN", "ap-south-1"), ("JP", "ap-northeast-1")]),
    ("Oracle Cloud", "US", [("US", "us-ashburn-1"), ("SG", "ap-singapore-1"), ("SA", "me-jeddah-1")]),
    ("OVHcloud", "FR", [("FR", "gra"), ("DE", "fra"), ("SG", "sgp")]),
    ("Scaleway", "FR", [("FR", "fr-par"), ("NL", "nl-ams")]),
    ("Nebius", "NL", [("FI", "eu-north1"), ("NL", "eu-west1")]),
    ("Alibaba Cloud", "CN", [("CN", "cn-hangzhou"), ("SG", "ap-southeast-1"), ("MY", "ap-southeast-3"), ("HK", "cn-hongkong")]),
    ("Tencent Cloud", "CN", [("CN", "ap-shanghai"), ("SG", "ap-singapore"), ("JP", "ap-tokyo")]),
    ("Sify", "IN", [("IN", "mumbai")]),
    ("Macau Compute", "MO", [("MO", "mo-1")]),
]
PARENTS = {"Nebius": "NL", "Macau Compute": "MO"}  # all others: parent HQ = HQ; a share of local subsidiaries below
LOCAL_SUBSIDIARY = 0.3  # chance that a provider's datacenter is run by a local subsidiary (HQ = datacenter country)
END_USER_TYPES = [("commercial", 70), ("academic", 12), ("government", 8), ("military", 2), ("unknown", 8)]
END_USES = [("civil", 97), ("military-intelligence", 2), ("wmd", 1)]
SHIPS_FROM = [("US", 40), ("TW", 30), ("MY", 10), ("MX", 10), ("CN", 5), ("SG", 5)]
CUSTOMER_HQ = [("US", 30), ("CN", 18), ("SG", 8), ("GB", 5), ("DE", 5), ("FR", 4), ("JP", 5), ("IN", 5), ("AE", 3),
               ("HK", 3), ("MO", 1), ("RU", 2), ("IR", 1), ("KR", 3), ("IL", 2), ("SA", 2), ("MY", 2), ("VN", 1)]
CHIPS = [("H100-SXM5-80GB", 22), ("H100-PCIe-80GB", 8), ("A100-SXM4-80GB", 16), ("A800-SXM4-80GB", 4), ("H800-SXM5-80GB", 4),
         ("H20", 6), ("L40S", 8), ("L4", 8), ("RTX-4090", 3), ("RTX-4090D", 2), ("T4", 8), ("MI300X", 4), ("MI250X", 2),
         ("B200", 3), ("Ascend-910B", 2)]
PURPOSES = [("training", 35), ("inference", 35), ("hpc", 10), ("rendering", 5), ("unknown", 15)]
NAME_A = ["Shenzhen", "Hangzhou", "Beijing", "Pacific", "Northwind", "Blue River", "Lumen", "Orbit", "Kite", "Delta", "Harbor", "Summit"]
NAME_B = ["AI", "Intelligence", "Compute", "Robotics", "Analytics", "Labs", "Vision", "Cloud", "Systems", "Data"]
NAME_C = ["Co., Ltd.", "Inc.", "Pte. Ltd.", "GmbH", "LLC", "Ltd.", "S.A.", "K.K."]
START = datetime(2022, 6, 1, tzinfo=timezone.utc)
SPAN_S = int((datetime(2026, 1, 1, tzinfo=timezone.utc) - START).total_seconds())


def pick(rng, weighted):
    return rng.choices([w[0] for w in weighted], weights=[w[1] for w in weighted])[0]


def make_customers(rng, n):
    out = []
    for i in range(n):
        hq = pick(rng, CUSTOMER_HQ)
        parent = hq if rng.random() < 0.85 else pick(rng, [("CN", 50), ("US", 20), ("HK", 10), ("MO", 5), ("SG", 10), ("RU", 5)])
        name = f"{rng.choice(NAME_A)} {rng.choice(NAME_B)} {rng.choice(NAME_C)}"
        listed_share = rng.choice([25.0, 50.0, 60.0, 100.0]) if rng.random() < 0.01 else 0.0
        out.append({"customer_id": f"c-{i:06d}", "customer_name": name, "customer_hq": hq, "parent_hq": parent,
                    "entity_listed": rng.random() < 0.01, "listed_ownership": listed_share})
    return out


def stamp(rng):
    t = START + timedelta(seconds=rng.randrange(SPAN_S))
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def operator(rng):
    """The entity that runs the datacenter: the provider itself or its local subsidiary."""
    prov, prov_hq, dcs = rng.choice(PROVIDERS)
    dc, region = rng.choice(dcs)
    parent = PARENTS.get(prov, prov_hq)
    hq = dc if dc != prov_hq and rng.random() < LOCAL_SUBSIDIARY else prov_hq
    return {"provider": prov, "provider_hq": hq, "provider_parent_hq": parent, "datacenter": dc, "region": region}


def rental(rng, i, cust):
    purpose = pick(rng, PURPOSES)
    e = {"kind": "rental", "id": f"r-{i:09d}", "time": stamp(rng), **operator(rng),
         **{k: cust[k] for k in ("customer_id", "customer_name", "customer_hq", "parent_hq")},
         "chip": pick(rng, CHIPS), "chip_count": rng.choice([1, 2, 4, 8, 8, 16, 32, 64, 256, 1024, 4096]),
         "hours": round(rng.choice([1, 8, 24, 72, 168, 720, 2160]) * rng.uniform(0.5, 1.5), 2),
         "purpose": purpose, "training_ops": 0.0, "training_data": "general",
         "end_user_type": pick(rng, END_USER_TYPES), "end_use": pick(rng, END_USES), "entity_listed": cust["entity_listed"],
         "listed_ownership": cust["listed_ownership"]}
    if purpose == "training":
        e["training_ops"] = float(f"{10 ** rng.uniform(19, 27):.3e}")
        if rng.random() < 0.05:
            e["training_data"] = "biological"
    if rng.random() < 0.03:
        e["license"] = f"D{rng.randrange(100000, 999999)}"
    return e


# Who exports the hardware: the chip's maker or a server maker; absent when the feed does not say.
CHIP_MAKERS = {"Ascend-910B": "Huawei", "MI300X": "AMD", "MI250X": "AMD"}  # all others: NVIDIA
SERVER_MAKERS = [("Supermicro", 30), ("Dell", 25), ("HPE", 15), ("Inspur", 10), ("Lenovo", 10)]
EXPORTER_UNKNOWN = 0.1
OPERATOR_LISTED = 0.01     # chance that the operator itself matched a restricted-party screening list
OPERATOR_OWNED = 0.02      # chance that listed parties own a share of the operator


def provision_parties(extra, chip):
    """The operator's own screening fields and the exporter, drawn from their own generator so that
    every other field of a seed's log stays as it was before these fields existed."""
    e = {"provider_listed": extra.random() < OPERATOR_LISTED,
         "provider_listed_ownership": extra.choice([25.0, 49.0, 50.0, 60.0, 100.0]) if extra.random() < OPERATOR_OWNED else 0.0}
    r = extra.random()
    if r >= EXPORTER_UNKNOWN:
        e["exporter"] = CHIP_MAKERS.get(chip, "NVIDIA") if r < 0.55 else pick(extra, SERVER_MAKERS)
    return e


def provision(rng, i, cust, extra):
    """Hardware placed into a datacenter; `dedicated` when it serves one customer only."""
    e = {"kind": "provision", "id": f"p-{i:09d}", "time": stamp(rng), **operator(rng),
            "customer_id": cust["customer_id"], "customer_hq": cust["customer_hq"], "parent_hq": cust["parent_hq"],
            "dedicated": rng.random() < 0.2, "ships_from": pick(rng, SHIPS_FROM), "entity_listed": cust["entity_listed"],
            "listed_ownership": cust["listed_ownership"],
            "cluster_id": f"k-{rng.randrange(10**6):06d}", "chip": pick(rng, CHIPS),
            "chip_count": rng.choice([8, 64, 512, 4096, 16384, 65536]),
            "interconnect_gbps": rng.choice([25, 100, 200, 400, 800, 3200]),
            "peak_ops_per_s": float(f"{10 ** rng.uniform(15, 21):.3e}")}
    return {**e, **provision_parties(extra, e["chip"])}


# The entry an upstream screening matched (`entity_list_entry`, `provider_list_entry`): drawn from the
# list's real (not synthetic) entries in force at the event's time, from a generator of its own so
# that every other field stays as it was before these fields existed; absent for a share of matches.
ENTRY_UNNAMED = 0.2


def real_entries(path):
    with open(path, newline="", encoding="utf-8") as f:
        return [(r["_id"], r["start_date"], r["end_date"]) for r in csv.DictReader(f)
                if not r["source"].startswith("SYNTHETIC")]


def name_matched_entries(rng, e, entries):
    day = e["time"][:10]
    in_force = [i for i, start, end in entries if start <= day and (not end or day < end)]
    for listed, field in (("entity_listed", "entity_list_entry"), ("provider_listed", "provider_list_entry")):
        if e.get(listed) and in_force and rng.random() >= ENTRY_UNNAMED:
            e[field] = rng.choice(in_force)


BAD_KINDS = ["broken_json", "wrong_type", "bad_country", "bad_time", "missing_field", "invalid_utf8", "oversized", "not_object"]


def bad_line(rng, good, kind):
    e = dict(good)
    if kind == "broken_json":
        return json.dumps(e)[:-rng.randrange(2, 20)].encode()
    if kind == "wrong_type":
        e["chip_count"] = "sixty-four"
    elif kind == "bad_country":
        e["customer_hq"] = rng.choice(["XX", "China", "cn", "", "ZZ"])
    elif kind == "bad_time":
        e["time"] = rng.choice(["2024-13-40T00:00:00Z", "yesterday", "1700000000", ""])
    elif kind == "missing_field":
        del e["customer_hq"]
    elif kind == "invalid_utf8":
        return json.dumps(e).replace(e["provider"], "Prov\udcff", 1).encode("utf-8", "surrogateescape")
    elif kind == "oversized":
        e["customer_name"] = "X" * (2 * 1024 * 1024)
    elif kind == "not_object":
        return b'["rental", 1, 2, 3]'
    return json.dumps(e, separators=(",", ":")).encode()


# Labelled names for screening (--screening-labels).
SCREENING_KINDS = ["exact", "alias", "reordered", "punctuation", "typo1", "typo2", "near_miss"]
NEAR_MISS_STEMS = ["Qorvath", "Blentrix", "Zumavo", "Pellucor", "Straventi", "Omrique", "Varnello", "Ixtombe"]
DEFAULT_LIST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "policies", "lists", "entity_list.csv")


def load_entries(path):
    """The list's entries; a name or alias that several entries share (the synthetic list's initials) is
    left out, since it cannot say which entry it must hit."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    entries = [{"id": r["_id"], "name": r["name"], "start": r["start_date"], "end": r["end_date"],
                "aliases": [a.strip() for a in r["alt_names"].split(";") if a.strip()]} for r in rows]
    uses = {}
    for e in entries:
        for n in [e["name"], *e["aliases"]]:
            uses[n.lower()] = uses.get(n.lower(), 0) + 1
    for e in entries:
        e["aliases"] = [a for a in e["aliases"] if uses[a.lower()] == 1]
    return [e for e in entries if uses[e["name"].lower()] == 1]


def typo(rng, name, edits):
    """Edits inside the first word (the distinctive one), never its first letter."""
    for _ in range(edits):
        end = name.find(" ")
        end = len(name) if end < 0 else end
        if end < 4:
            return name
        at = 1 + rng.randrange(end - 2)
        op = rng.randrange(4)
        letter = chr(ord("a") + rng.randrange(26))
        if op == 0:
            name = name[:at] + name[at + 1:]
        elif op == 1:
            name = name[:at] + letter + name[at:]
        elif op == 2:
            name = name[:at] + letter + name[at + 1:]
        else:
            name = name[:at] + name[at + 1] + name[at] + name[at + 2:]
    return name


def screening_name(rng, entries, time):
    """A labelled name and the entry it must hit (None: must hit nothing)."""
    day = time[:10]
    while True:
        e = rng.choice(entries)
        if e["start"] <= day and (not e["end"] or day < e["end"]):
            break
    kind = rng.choice(SCREENING_KINDS)
    name = e["name"]
    if kind == "alias" and e["aliases"]:
        return rng.choice(e["aliases"]), kind, e["id"]
    if kind == "reordered" and " " in name:
        head, last = name.rsplit(" ", 1)
        return f"{last} {head}", kind, e["id"]
    if kind == "punctuation":
        return name.upper().replace(",", "").replace(".", "") + ", LTD.", kind, e["id"]
    if kind in ("typo1", "typo2"):
        return typo(rng, name, 1 if kind == "typo1" else 2), kind, e["id"]
    if kind == "near_miss":
        rest = name[name.find(" "):] if " " in name else ""
        return rng.choice(NEAR_MISS_STEMS) + rest, kind, None
    return name, "exact", e["id"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=1000, help="number of lines")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--customers", type=int, default=20000)
    ap.add_argument("--provision-share", type=float, default=0.15)
    ap.add_argument("--dirty", type=float, default=0.0, help="share of malformed lines")
    ap.add_argument("--manifest", help="write counts and line numbers of malformed lines here (JSON)")
    ap.add_argument("--screening-labels", help="give some rentals labelled customer names; write the labels here")
    ap.add_argument("--screening-share", type=float, default=0.01, help="share of rentals with a labelled name")
    ap.add_argument("--screening-list", default=DEFAULT_LIST, help="the Entity List file the names come from")
    a = ap.parse_args()
    screening = random.Random(f"screening-{a.seed}")
    entries = load_entries(a.screening_list) if a.screening_labels else []
    labels = []
    rng = random.Random(a.seed)
    extra = random.Random(f"parties-{a.seed}")
    matched = random.Random(f"entries-{a.seed}")
    listed_entries = real_entries(a.screening_list)
    customers = make_customers(rng, a.customers)
    out = sys.stdout.buffer
    manifest = {"lines": a.n, "bad": {k: [] for k in BAD_KINDS}}
    for i in range(a.n):
        cust = rng.choice(customers)
        e = provision(rng, i, cust, extra) if rng.random() < a.provision_share else rental(rng, i, cust)
        if e["kind"] == "provision":
            name_matched_entries(matched, e, listed_entries)
        if entries and e["kind"] == "rental" and screening.random() < a.screening_share:
            name, kind, entry = screening_name(screening, entries, e["time"])
            e["customer_name"] = name
            labels.append({"line": i + 1, "id": e["id"], "time": e["time"], "name": name, "label": kind,
                           "entry": entry})
        if a.dirty and rng.random() < a.dirty:
            kind = rng.choice(BAD_KINDS)
            manifest["bad"][kind].append(i + 1)
            out.write(bad_line(rng, e, kind) + b"\n")
        else:
            out.write(json.dumps(e, separators=(",", ":")).encode() + b"\n")
    if a.screening_labels:
        with open(a.screening_labels, "w") as f:
            for label in labels:
                f.write(json.dumps(label, separators=(",", ":")) + "\n")
    if a.manifest:
        with open(a.manifest, "w") as f:
            json.dump(manifest, f)


if __name__ == "__main__":
    main()
