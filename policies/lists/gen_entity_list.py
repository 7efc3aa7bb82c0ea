#!/usr/bin/env python3
"""Writes entity_list.csv: an Entity List in the column layout of the US
Consolidated Screening List's CSV (one row per entry; `alt_names` separated
by `; `), which `policies/law_as_enforced.edict.md` screens names against.

The first rows are the Entity List entries that /work/shared/facts names,
with their dates and Federal Register notices as the facts give them (a
notice the facts mark unconfirmed says so in `remarks`). The rest are
SYNTHETIC entries, made up for benchmarks to reach the real list's size
(about 3,000 entries, about 9,000 names with aliases): their `_id` starts
with `SYN-`, their `source` is "SYNTHETIC (benchmark filler, not a listing)"
and no real party is meant. Deterministic: the same file on every run.

  gen_entity_list.py [--entries N] [--out FILE]
"""
import argparse
import csv
import os
import random

HEADER = ["_id", "source", "entity_number", "type", "programs", "name", "title", "addresses", "country",
          "federal_register_notice", "start_date", "end_date", "standard_order", "license_requirement",
          "license_policy", "remarks", "source_list_url", "alt_names"]
EL = "Entity List (EL) - Bureau of Industry and Security"
URL = "https://www.bis.gov/entity-list"
REQ = "For all items subject to the EAR. (See §744.11 of the EAR)."
DENY = "Presumption of denial."

# (id, name, alt names, country, start date, FR notice, remarks)
REAL = [
    ("EL-HUAWEI", "Huawei Technologies Co., Ltd.", ["Huawei", "Huawei Technologies"], "CN", "2019-05-16",
     "84 FR 22961", "FR page unconfirmed in the sources; +68 non-US affiliates, +46 more effective 2019-08-19"),
    ("EL-SMIC", "Semiconductor Manufacturing International Corporation", ["SMIC"], "CN", "2020-12-18",
     "FR 2020-12-22", "FR citation page unconfirmed; presumption of denial for items uniquely required for <= 10 nm"),
    ("EL-INSPUR", "Inspur Group", ["Inspur Group Co., Ltd."], "CN", "2023-03-02", "",
     "effective date approximate (unconfirmed in the sources)"),
    ("EL-BIREN", "Biren Technology", ["Shanghai Biren Technology"], "CN", "2023-10-17", "88 FR 71991", ""),
    ("EL-MOORE", "Moore Threads", ["Moore Threads Technology Co., Ltd."], "CN", "2023-10-17", "88 FR 71991", ""),
    ("EL-ZHIPU", "Zhipu AI", ["Beijing Zhipu Huazhang Technology"], "CN", "2025-01-15", "",
     "announced 2025-01-15; FR citation unconfirmed in the sources"),
    ("EL-SOPHGO", "Sophgo", ["Sophgo Technologies Ltd."], "CN", "2025-01-15", "",
     "announced 2025-01-15; FR citation unconfirmed in the sources"),
    ("EL-POWERAIR", "PowerAIR", ["PowerAIR Pte. Ltd."], "SG", "2025-01-15", "",
     "announced 2025-01-15; FR citation unconfirmed in the sources"),
    ("EL-INSPUR-TW", "Inspur Taiwan", ["Inspur Taiwan Co., Ltd."], "TW", "2025-03-25", "90 FR 14046", ""),
    ("EL-NETTRIX", "Nettrix", ["Nettrix Information Industry Co., Ltd."], "CN", "2025-03-25", "90 FR 14046", ""),
    ("EL-SUMA", "Suma Technology", ["Suma Technology Co., Ltd."], "CN", "2025-03-25", "90 FR 14046", ""),
    ("EL-SUMA-USI", "Suma-USI", ["Suma-USI Electronics"], "CN", "2025-03-25", "90 FR 14046", ""),
]

SYLLABLES = ["zan", "kor", "vel", "tri", "mon", "dax", "lum", "pra", "sen", "quo", "ria", "bel", "tor", "nex",
             "vio", "cal", "dor", "fen", "gar", "hal", "jin", "kal", "lor", "mar", "nor", "ost", "pel", "ram",
             "sul", "tav", "ulm", "var", "wen", "xal", "yor", "zel", "bran", "crel", "dusk", "frin"]
WORDS = ["Electronics", "Microsystems", "Photonics", "Semiconductor", "Computing", "Aerospace", "Materials",
         "Instruments", "Precision", "Robotics", "Logistics", "Trading", "Optics", "Systems", "Devices",
         "Research Institute", "Industrial", "Networks", "Energy", "Machinery", "Navigation", "Intelligence"]
FORMS = ["Co., Ltd.", "Limited", "Corporation", "Inc.", "GmbH", "LLC", "Group", "Pte. Ltd.", "JSC", ""]
CITIES = [("Shenzhen", "CN"), ("Beijing", "CN"), ("Shanghai", "CN"), ("Wuhan", "CN"), ("Moscow", "RU"),
          ("Saint Petersburg", "RU"), ("Tehran", "IR"), ("Dubai", "AE"), ("Hong Kong", "HK"),
          ("Singapore", "SG"), ("Istanbul", "TR"), ("Minsk", "BY"), ("Karachi", "PK"), ("Yerevan", "AM")]


def synthetic_name(rng, used):
    while True:
        stem = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice([2, 2, 3]))).capitalize()
        words = rng.sample(WORDS, rng.choice([1, 1, 2]))
        name = " ".join([stem] + words)
        if name not in used:
            used.add(name)
            return name


def rows(entries):
    rng = random.Random(20261207)
    for i, (rid, name, alts, country, start, notice, remarks) in enumerate(REAL):
        yield [rid, EL, f"{i + 1}", "Entity", "", name, "", "", country, notice, start, "", "Y", REQ, DENY,
               remarks, URL, "; ".join(alts)]
    used = {r[1] for r in REAL}
    for n in range(entries - len(REAL)):
        city, country = rng.choice(CITIES)
        name = synthetic_name(rng, used)
        form = rng.choice(FORMS)
        legal = f"{name} {form}".strip()
        # Aliases: the city-prefixed name and an abbreviation, as listings often give.
        initials = "".join(w[0] for w in name.split() if w[0].isupper())
        alts = [f"{city} {name}", f"{initials} {name.split()[0]}"]
        year = rng.randint(2008, 2026)
        start = f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        end = ""
        if rng.random() < 0.05 and year < 2025:  # a few removed entries
            end = f"{year + 1}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        notice = f"{year - 1935} FR {rng.randint(1000, 99999)}"
        yield [f"SYN-{n + 1:05d}", "SYNTHETIC (benchmark filler, not a listing)", f"S{n + 1}", "Entity", "",
               legal, "", f"{rng.randint(1, 999)} Example Road, {city}", country, notice, start, end, "N", REQ,
               DENY, "synthetic entry for benchmarks: no real party is meant", "", "; ".join(alts)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=3000)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "entity_list.csv"))
    a = ap.parse_args()
    with open(a.out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        for r in rows(a.entries):
            w.writerow(r)


if __name__ == "__main__":
    main()
