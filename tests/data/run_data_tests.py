#!/usr/bin/env python3
"""Reference data from the command line: `--data NAME=FILE` on eval, explain,
test and diff; every bad data file is exit 2 with file:line:col and a code,
and nothing is evaluated; the JIT and the interpreter give the same records;
`diff --old-data/--new-data` shows what a list update newly catches.

  run_data_tests.py --edict PATH
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import testlib
from testlib import check

POLICY = """policy "data driver"

outcomes allow < review < deny
default allow

event export { time: time, customer_id: string, destination: country }

data customers: string -> {
  name: string,
  country: country,
  added: date,
  removed: date?,
  notice: string?,
  aliases: set<string>,
}
  from "customers.csv"
  key "id"
  columns { name: "Name", added: "start_date", removed: "end_date", notice: "fr_notice", aliases: "alt_names" }
  in force from added until removed

const no_notice = "no notice"

rule listed on export
  cite "15 CFR 744.11"
  deny "{event.customer_id} is {customers[event.customer_id].name} ({customers[event.customer_id].notice otherwise no_notice})"
  when event.customer_id in customers

test "listed" {
  given export { time: 2022-01-01T00:00:00Z, customer_id: "C1", destination: "CN" }
  expect deny by only listed
}
"""

HEADER = "id,Name,country,start_date,end_date,fr_notice,alt_names\n"
GOOD = HEADER + ('C1,Acme Corp,CN,2020-01-01,,85 FR 1234,"Acme; ACME Co."\n'
                 "C2,Beta Ltd,RU,2021-06-01,2023-01-01,,\n")
NEWER = GOOD + "C3,Gamma Inc,IR,2021-01-01,,89 FR 99,\n"

EVENTS = "".join(json.dumps(e) + "\n" for e in [
    {"kind": "export", "id": "e1", "time": "2022-01-01T00:00:00Z", "customer_id": "C1", "destination": "CN"},
    {"kind": "export", "id": "e2", "time": "2022-01-01T00:00:00Z", "customer_id": "C2", "destination": "RU"},
    {"kind": "export", "id": "e3", "time": "2023-06-01T00:00:00Z", "customer_id": "C2", "destination": "RU"},
    {"kind": "export", "id": "e4", "time": "2023-06-01T00:00:00Z", "customer_id": "C3", "destination": "IR"},
])

# (name, file bytes, expected `file:line:col: error[CODE]` prefix after the path)
BAD = [
    ("unterminated quote", HEADER + 'C1,"Acme,CN,2020-01-01,,,\n', ":2:4: error[E0072]"),
    ("wrong column count", HEADER + "C1,Acme,CN,2020-01-01,,\n", ":2:24: error[E0072]"),
    ("text after a closing quote", HEADER + 'C1,"Acme"x,CN,2020-01-01,,,\n', ":2:10: error[E0072]"),
    ("bad date", HEADER + "C1,Acme,CN,2020-13-01,,,\n", ":2:12: error[E0074]"),
    ("unknown country", HEADER + "C1,Acme,XX,2020-01-01,,,\n", ":2:9: error[E0074]"),
    ("invalid UTF-8", HEADER + "C1,Ac\udcffme,CN,2020-01-01,,,\n", ":2:6: error[E0071]"),
    ("byte order mark", "\ufeff" + HEADER, ":1:1: error[E0071]"),
    ("duplicate key in force twice", HEADER + "C1,A,CN,2020-01-01,,,\nC1,B,CN,2021-01-01,,,\n", ":3:1: error[E0075]"),
    ("missing required column", "id,Name,start_date,end_date,fr_notice,alt_names\nC1,A,2020-01-01,,,\n",
     ":1:1: error[E0073]"),
    ("missing key column", "Name,country,start_date,end_date,fr_notice,alt_names\n", ":1:1: error[E0073]"),
    ("required cell empty", HEADER + "C1,,CN,2020-01-01,,,\n", ":2:4: error[E0074]"),
    ("empty file", "", ":1:1: error[E0071]"),
]


def run(args, cwd, stdin=None):
    return subprocess.run(args, cwd=cwd, input=stdin, capture_output=True, timeout=120,
                          encoding="utf-8", errors="replace")


def write(path, text, binary=False):
    with open(path, "wb") as f:
        f.write(text.encode("utf-8", errors="surrogateescape") if not binary else text)


def setup(d):
    write(os.path.join(d, "p.edict"), POLICY)
    write(os.path.join(d, "customers.csv"), GOOD)
    write(os.path.join(d, "newer.csv"), NEWER)
    write(os.path.join(d, "ev.jsonl"), EVENTS)


def eval_both_engines(edict, d, same, policy="p.edict", events="ev.jsonl", exits=(0,)):
    """`eval POLICY EVENTS` in `d` on the JIT and the interpreter: both exit
    with one of `exits` and write the same records (`same` says what that
    shows); the JIT's records, parsed."""
    outs = {}
    for engine in ("jit", "interp"):
        p = run([edict, "eval", "--engine", engine, policy, events], d)
        check(p.returncode in exits,
              f"eval --engine {engine} {os.path.basename(policy)} exits {' or '.join(map(str, exits))} "
              f"(got {p.returncode}: {p.stderr[:300]})")
        outs[engine] = p.stdout
    check(outs["jit"] == outs["interp"], same)
    return [json.loads(line) for line in outs["jit"].splitlines()]


def test_engines_agree(edict, d):
    recs = eval_both_engines(edict, d, "the JIT and the interpreter give the same records")
    check([r["decision"] for r in recs] == ["deny", "deny", "allow", "allow"],
          f"rows in force by the event's date decide: {[r['decision'] for r in recs]}")
    check(recs[0]["rules"][0]["message"] == "C1 is Acme Corp (85 FR 1234)",
          f"row fields reach the message: {recs[0]['rules'][0]['message']!r}")
    check(recs[1]["rules"][0]["message"] == "C2 is Beta Ltd (no notice)", "an absent optional cell")


def test_data_override(edict, d):
    p = run([edict, "eval", "--data", "customers=newer.csv", "p.edict", "ev.jsonl"], d)
    decisions = [json.loads(line)["decision"] for line in p.stdout.splitlines()]
    check(p.returncode == 0 and decisions == ["deny", "deny", "allow", "deny"],
          f"--data reads another file: {decisions} {p.stderr}")
    p = run([edict, "test", "--engine", "both", "--data", "customers=newer.csv", "p.edict"], d)
    check(p.returncode == 0, f"edict test takes --data ({p.stdout}{p.stderr})")
    p = run([edict, "explain", "--data", "customers=newer.csv", "p.edict", "-"], d, stdin=EVENTS.splitlines()[0])
    check(p.returncode == 0 and "event.customer_id in customers = true" in p.stdout,
          f"explain shows the lookup: {p.stdout}")


def test_bad_files(edict, d):
    for name, text, where in BAD:
        write(os.path.join(d, "bad.csv"), text)
        p = run([edict, "eval", "--data", "customers=bad.csv", "p.edict", "ev.jsonl"], d)
        check(p.returncode == 2, f"{name}: exit 2 (got {p.returncode})")
        check(p.stdout == "", f"{name}: nothing evaluated")
        check(("bad.csv" + where) in p.stderr, f"{name}: error says `bad.csv{where}`, got: {p.stderr[:300]}")



def test_two_bad_sources(edict, d):
    """The shipped library's two sources, both bad: both errors, in the
    policy's declaration order on every run (the sources load side by side)."""
    write(os.path.join(d, "bad_names.csv"), "id,Name\n\"unterminated\n")
    write(os.path.join(d, "bad_ids.csv"), "\ufeffbroken")
    library = os.path.join(testlib.ROOT, "policies", "law_as_enforced.edict.md")
    orders = set()
    for _ in range(6):
        p = run([edict, "eval", "--data", "entity_list=bad_names.csv", "--data", "entity_list_entries=bad_ids.csv",
                 library, "ev.jsonl"], d)
        check(p.returncode == 2 and p.stdout == "", f"two bad sources: exit 2, nothing decided ({p.returncode})")
        errors = [line.split(":")[0] for line in p.stderr.splitlines() if "error[" in line]
        check(sorted(errors) == ["bad_ids.csv", "bad_names.csv"], f"one error for each file: {p.stderr[:400]}")
        orders.add(tuple(errors))
    check(orders == {("bad_ids.csv", "bad_names.csv")},
          f"the errors come in declaration order (entity_list_entries is imported first): {orders}")

def test_bad_arguments(edict, d):
    p = run([edict, "eval", "--data", "customers=missing.csv", "p.edict", "ev.jsonl"], d)
    check(p.returncode == 2 and "missing.csv: cannot read" in p.stderr and "E0070" in p.stderr,
          f"a missing file: {p.stderr}")
    p = run([edict, "eval", "--data", "customers=.", "p.edict", "ev.jsonl"], d)
    check(p.returncode == 2 and "not a regular file" in p.stderr, f"a folder: {p.stderr}")
    p = run([edict, "eval", "--data", "clients=customers.csv", "p.edict", "ev.jsonl"], d)
    check(p.returncode == 2 and "E0076" in p.stderr and "`customers`" in p.stderr, f"an unknown name: {p.stderr}")
    p = run([edict, "eval", "--data", "customers", "p.edict", "ev.jsonl"], d)
    check(p.returncode != 0 and "NAME=FILE" in p.stderr, f"no `=`: {p.stderr}")


def test_diff_list_versions(edict, d):
    p = run([edict, "diff", "-q", "--old-data", "customers=customers.csv", "--new-data", "customers=newer.csv",
             "p.edict", "p.edict", "ev.jsonl", "-o", "changed.jsonl"], d)
    check(p.returncode in (0, 1), f"diff of two list versions runs ({p.returncode}: {p.stderr})")
    with open(os.path.join(d, "changed.jsonl")) as f:
        changed = [json.loads(line) for line in f]
    check([c.get("id") for c in changed] == ["e4"], f"the new entry newly catches e4 only: {changed}")


def test_audit_data_versions(edict, d):
    def audit(data_file):
        p = run([edict, "eval", "--audit", "--no-decision-time", "--data", f"customers={data_file}", "p.edict",
                 "ev.jsonl"], d)
        check(p.returncode == 0, f"eval --audit with data exits 0 ({p.returncode}: {p.stderr})")
        return [json.loads(line) for line in p.stdout.splitlines()]
    old, new = audit("customers.csv"), audit("newer.csv")
    with open(os.path.join(d, "customers.csv"), "rb") as f:
        digest = "sha256:" + hashlib.sha256(f.read()).hexdigest()
    check(old[0]["data"] == {"customers": {"hash": digest, "rows": 2, "file": "customers.csv"}},
          f"the record names the data version it used: {old[0]['data']}")
    check(new[0]["data"]["customers"]["rows"] == 3 and new[0]["data"]["customers"]["hash"] != digest,
          f"another file, another version: {new[0]['data']}")
    check(all(a["decision_id"] != b["decision_id"] for a, b in zip(old, new)),
          "the same event under other data gets another decision id")
    check([r["decision_id"] for r in old] == [r["decision_id"] for r in audit("customers.csv")],
          "the same event under the same policy and data keeps its id")


def as_jsonl(csv_text):
    """The same rows as JSON Lines objects keyed by the CSV's headers."""
    import csv, io
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    out = []
    for r in rows:
        obj = {k: (v if v != "" else None) for k, v in r.items()}
        obj["alt_names"] = [a.strip() for a in (r["alt_names"] or "").split(";") if a.strip()]
        out.append(json.dumps(obj))
    return "\n".join(out) + "\n"


def test_jsonl_files(edict, d):
    write(os.path.join(d, "newer.jsonl"), as_jsonl(NEWER))
    csv_run = run([edict, "eval", "--data", "customers=newer.csv", "p.edict", "ev.jsonl"], d)
    for engine in ("jit", "interp"):
        p = run([edict, "eval", "--engine", engine, "--data", "customers=newer.jsonl", "p.edict", "ev.jsonl"], d)
        check(p.returncode == 0 and p.stdout == csv_run.stdout,
              f"--engine {engine}: a JSON Lines file decides as its CSV does ({p.returncode}: {p.stderr[:300]})")
    bad = [("not JSON", '{"id":"C1","Name":"Acme"\n', ":1:1: error[E0072]"),
           ("a number for a string", '{"id":"C1","Name":7,"country":"CN","start_date":"2020-01-01"}\n',
            ":1:12: error[E0074]"),
           ("no required field", '{"id":"C1","country":"CN","start_date":"2020-01-01"}\n', ":1:1: error[E0073]"),
           ("unknown country", '{"id":"C1","Name":"A","country":"XX","start_date":"2020-01-01"}\n',
            ":1:23: error[E0074]")]
    for name, text, where in bad:
        write(os.path.join(d, "bad.jsonl"), text)
        p = run([edict, "eval", "--data", "customers=bad.jsonl", "p.edict", "ev.jsonl"], d)
        check(p.returncode == 2 and p.stdout == "" and ("bad.jsonl" + where) in p.stderr,
              f"{name}: exit 2, nothing evaluated, `bad.jsonl{where}` (got {p.returncode}: {p.stderr[:300]})")
    write(os.path.join(d, "list.txt"), "id\n")
    p = run([edict, "eval", "--data", "customers=list.txt", "p.edict", "ev.jsonl"], d)
    check(p.returncode == 2 and ".csv and .jsonl" in p.stderr, f"an unknown extension: {p.stderr}")


def test_labelled_names(edict, d):
    """The generator's labelled customer names against the shipped library:
    every name as listed, an alias, reordered or re-punctuated hits the
    Entity List rule on both engines."""
    labels = os.path.join(d, "labels.jsonl")
    events = subprocess.run([sys.executable, testlib.GEN, "-n", "6000", "--seed", "11", "--screening-share", "0.2",
                             "--screening-labels", labels], capture_output=True, check=True).stdout
    write(os.path.join(d, "named.jsonl"), events, binary=True)
    with open(labels) as f:
        labelled = [json.loads(line) for line in f]
    kinds = {label["label"] for label in labelled}
    check(kinds >= {"exact", "alias", "reordered", "punctuation", "typo1", "typo2", "near_miss"},
          f"the generator labels every kind of name: {sorted(kinds)}")
    law = os.path.join(testlib.ROOT, "policies", "law_as_enforced.edict.md")
    recs = eval_both_engines(edict, d, "the JIT and the interpreter screen the names alike", law, "named.jsonl",
                             (0, 3))
    fired = {r.get("id"): [x for x in r.get("rules", []) if x["name"] == "entity_list_customer_name"]
             for r in recs}
    must_hit = [x for x in labelled if x["label"] in ("exact", "alias", "reordered", "punctuation")]
    missed = [x for x in must_hit if not fired.get(x["id"])]
    check(must_hit and not missed, f"{len(missed)} of {len(must_hit)} exact, alias, reordered and punctuation "
                                   f"names missed, first {missed[:2]}")
    import csv
    with open(os.path.join(testlib.ROOT, "policies", "lists", "entity_list.csv"), newline="") as f:
        entry_name = {row["_id"]: row["name"] for row in csv.DictReader(f)}
    wrong = [x for x in must_hit if fired.get(x["id"]) and
             f"entry {entry_name[x['entry']]} (" not in fired[x["id"]][0]["message"]]
    check(not wrong, f"each hit names the labelled entry: {wrong[:2]}")


SCREEN_POLICY = """policy "screening score"

outcomes allow < review < deny
default allow

event export { time: time, customer: string }

data parties: string -> {
  name: string,
  aliases: set<string>,
  added: date,
  removed: date?,
  listed_at: time?,
}
  from "parties.csv"
  key "id"
  columns { aliases: "alt_names", added: "start_date", removed: "end_date" }
  in force from added until removed
  screen name, aliases above 0.85

rule listed on export
  cite "15 CFR 744.11"
  deny "{event.customer} matches {parties[event.customer].name} at {parties[event.customer].score}, listed {parties[event.customer].added}"
  when event.customer in parties and parties[event.customer].score >= 0.95

rule timed on export
  cite "15 CFR 744.11"
  review "entered {parties[event.customer].listed_at}"
  when event.customer in parties and parties[event.customer].listed_at is present

rule close on export
  cite "15 CFR 744.11"
  review "{event.customer} is close to {parties[event.customer].name}: {parties[event.customer].score * 100}%"
  when event.customer in parties and parties[event.customer].score < 0.95
"""

PARTIES = ("id,name,alt_names,start_date,end_date,listed_at\n"
           "P1,Zelkova Electronique,Zelkova Elec,2020-01-01,,2020-01-01T09:30:00Z\n"
           "P2,Quorvant Robotics,,2021-06-01,,\n")


def test_screening_score_and_dates(edict, d):
    """`list[x].score` is the lookup's similarity, usable in conditions and
    messages on both engines; two names matching one entry have their own
    scores; a `date` cell shows as its day, a `time` cell as its instant."""
    sd = os.path.join(d, "screen")
    os.makedirs(sd, exist_ok=True)
    write(os.path.join(sd, "p.edict"), SCREEN_POLICY)
    write(os.path.join(sd, "parties.csv"), PARTIES)
    names = ["Zelkova Electronique", "Zelkova Electronik", "Electronique Zelkova", "Zelkova Elektronik",
             "Quorvant Robotics Ltd.", "Acme Robotics"]
    write(os.path.join(sd, "ev.jsonl"), "".join(
        json.dumps({"kind": "export", "id": f"e{i}", "time": "2024-01-01T00:00:00Z", "customer": n}) + "\n"
        for i, n in enumerate(names)))
    recs = eval_both_engines(edict, sd, "the JIT and the interpreter give the same scores and messages")
    fired = [[(x["name"], x.get("message", "")) for x in r["rules"]] for r in recs]
    check(fired[0] == [("listed", "Zelkova Electronique matches Zelkova Electronique at 1, listed 2020-01-01"),
                       ("timed", "entered 2020-01-01T09:30:00Z")],
          f"an exact name scores 1; a date cell is its day, a time cell its instant: {fired[0]}")
    check(fired[2] and fired[2][0][0] == "listed" and " at 1, " in fired[2][0][1],
          f"reordered words score 1: {fired[2]}")
    check(fired[4] == [("listed", "Quorvant Robotics Ltd. matches Quorvant Robotics at 1, listed 2021-06-01")],
          f"a legal form is ignored: {fired[4]}")
    check(fired[5] == [], f"another name matches nothing: {fired[5]}")

    def score(i):
        rules = dict(fired[i])
        if "listed" in rules:
            return "listed", float(rules["listed"].split(" at ")[1].split(",")[0])
        return "close", float(rules["close"].rsplit(": ", 1)[1].rstrip("%")) / 100

    one_typo, two_typos = score(1), score(3)
    check(0.85 <= one_typo[1] < 1 and 0.85 <= two_typos[1] < one_typo[1],
          f"each lookup has its own score for one entry: one typo {one_typo}, two typos {two_typos}")
    check((one_typo[0] == "listed") == (one_typo[1] >= 0.95) and (two_typos[0] == "close") == (two_typos[1] < 0.95),
          f"conditions read the score: {one_typo}, {two_typos}")


TWO_NAMES_POLICY = """policy "two names screened"

outcomes allow < review < deny
default allow

event export { time: time, buyer: string, seller: string }

data parties: string -> { name: string, aliases: set<string>, added: date, removed: date? }
  from "parties.csv"
  key "id"
  columns { aliases: "alt_names", added: "start_date", removed: "end_date" }
  in force from added until removed
  screen name, aliases above 0.85

rule buyer_is_zelkova on export
  cite "15 CFR 744.11"
  deny
  when event.buyer in parties and parties[event.buyer].name == "Zelkova Electronique"

rule seller_is_quorvant on export
  cite "15 CFR 744.11"
  review
  when event.seller in parties and parties[event.seller].name == "Quorvant Robotics"
"""


def test_many_screening_answers_in_a_batch(edict, d):
    """Two screened names per event over batches of thousands of events: each
    lookup's answer lasts until its event has read it, on both engines (a
    JIT batch that made every row's lookups ahead of its loop once outran the
    screening answers' per-thread ring and read the seller's entry as the
    buyer's)."""
    sd = os.path.join(d, "two_names")
    os.makedirs(sd, exist_ok=True)
    write(os.path.join(sd, "p.edict"), TWO_NAMES_POLICY)
    write(os.path.join(sd, "parties.csv"), PARTIES)
    n = 10000
    write(os.path.join(sd, "ev.jsonl"), "".join(
        json.dumps({"kind": "export", "id": f"e{i}", "time": "2024-01-01T00:00:00Z",
                    "buyer": "Zelkova Electronique", "seller": "Quorvant Robotics Ltd."}) + "\n"
        for i in range(n)))
    recs = eval_both_engines(edict, sd, "the JIT and the interpreter read each name's own entry")
    fired = {tuple(x["name"] for x in r["rules"]) for r in recs}
    check(len(recs) == n and fired == {("buyer_is_zelkova", "seller_is_quorvant")},
          f"every event matches the buyer and the seller to their own entries: {sorted(fired)}")


def main():
    edict = testlib.edict_from_args(__doc__)
    with tempfile.TemporaryDirectory() as d:
        setup(d)
        return testlib.run_groups([
            ("JIT and interpreter agree on data lookups", lambda: test_engines_agree(edict, d)),
            ("--data on eval, test and explain", lambda: test_data_override(edict, d)),
            ("every bad data file: exit 2, file:line:col", lambda: test_bad_files(edict, d)),
            ("missing file, unknown name, malformed --data", lambda: test_bad_arguments(edict, d)),
            ("two bad sources: both errors, in declaration order", lambda: test_two_bad_sources(edict, d)),
            ("diff of two list versions under one policy", lambda: test_diff_list_versions(edict, d)),
            ("audit records name the data versions", lambda: test_audit_data_versions(edict, d)),
            ("JSON Lines data files", lambda: test_jsonl_files(edict, d)),
            ("the generator's labelled names hit the shipped list", lambda: test_labelled_names(edict, d)),
            ("screening scores and date cells in messages", lambda: test_screening_score_and_dates(edict, d)),
            ("many screening answers in one batch", lambda: test_many_screening_answers_in_a_batch(edict, d)),
        ])


if __name__ == "__main__":
    sys.exit(main())
