#!/usr/bin/env python3
"""Ahead-of-time libraries of a policy with `data` sources: builds
tests/aot/data_policy.edict (an exact source and a screening source) with
`edict build`, links tests/aot/data_driver.c against the generated header,
and checks that
  - every entry point refuses (DP_DATA_NOT_LOADED) until each source is loaded;
  - on the same events and files, every decision and fired-rule list equals
    `edict eval` with the JIT and with the interpreter: names that hit
    (exact, alias, reordered, punctuation and legal-form variants, typos) and
    near misses, rows in and out of force by date, keys in and out of the
    exact source;
  - a loaded source's version is the content hash `edict eval --audit` names;
  - a malformed file is refused with its file, line and column, and the
    previous version stays in use (same version, same decisions); a missing
    file and an unknown source are refused too;
  - a replaced file is used at once: the decisions equal `edict eval` on it,
    and the same rows as JSON Lines decide the same;
  - replacing a source while four threads decide gives each decision of one
    version or the other, never an error;
  - the library needs only libc, libm and the shared libraries the data
    layers read files with (no libstdc++, LLVM or libedict) and exports only
    its own names;
  - the shipped library (policies/law_as_enforced.edict.md, whose Entity List
    rules screen names against policies/lists/entity_list.csv) decides
    bench/gen_events.py's events with names to screen as `edict eval` does;
  - an object file (-o x.o) of a policy with data is refused (E0605), and so
    is a build by an edict that has no data runtime beside it (nor in
    ../lib/edict, where an installed one finds it).

    run_aot_data_tests.py --edict EDICT --source SOURCE_DIR --work DIR
"""
import argparse
import calendar
import csv
import hashlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys

NOT_LOADED, DATA_ERROR, INVALID_ARGUMENT = 17, 16, 3
RULES = 7  # in tests/aot/data_policy.edict

HOLDERS_V1 = """id,name,limit,notice,added,removed
H1,Acme Compute,100,licence 1,2024-01-01,
H2,Borealis AI,10,,2023-01-01,2024-02-01
H2,Borealis AI,50,licence 2b,2024-03-01,
"""
HOLDERS_V2 = HOLDERS_V1.replace("H1,Acme Compute,100,", "H1,Acme Compute,5,") + "H3,Cirrus Labs,1000,,,\n"
PARTIES_V1 = """_id,name,alt_names,federal_register_notice,start_date,end_date
EL-1,"Huawei Technologies Co., Ltd.",Huawei; Huawei Tech,84 FR 22961,2019-05-16,
EL-2,Semiconductor Manufacturing International Corporation,SMIC,85 FR 83416,2020-12-18,
EL-3,Zelkova Electronique,,,2023-01-01,
EL-4,Acme Rockets,,,2023-01-01,2023-06-01
EL-5,Nimbus Photonics Limited,Nimbus Optics,,2022-05-01,
EL-6,Orion Quantum Systems GmbH,"Orion QS; Orion Quantum",,2021-01-01,
"""
# This week's list: one entry added, one removed.
PARTIES_V2 = PARTIES_V1.replace("EL-3,Zelkova Electronique,,,2023-01-01,",
                                "EL-3,Zelkova Electronique,,,2023-01-01,2024-03-01") + \
    "EL-7,Borealis Machine Intelligence,Borealis MI,89 FR 1234,2024-06-01,\n"
# A bad date on line 4 (the third entry), in its start_date (column 29).
PARTIES_BAD = PARTIES_V1.replace("EL-3,Zelkova Electronique,,,2023-01-01,", "EL-3,Zelkova Electronique,,,2023-13-01,")

TIMES = ["2019-05-15T23:59:59Z", "2020-01-01T00:00:00Z", "2023-03-01T00:00:00Z", "2023-06-01T00:00:00Z",
         "2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", "2024-03-15T00:00:00Z", "2024-07-01T00:00:00Z"]
IDS = ["H1", "H2", "H3", "nobody"]
NAMES = ["Huawei Technologies Co., Ltd.", "HUAWEI TECHNOLOGIES LIMITED", "Technologies Huawei",
         "Huawie Technologies", "Huawei Tech", "SMIC", "Semiconductor Manufacturing Intl Corp",
         "Zelkova Electronique", "Zélkova Électronique OOO", "Zelkova Elektronik", "Acme Rockets",
         "Nimbus Photonics Ltd", "Nimbis Photonics", "Nimbus Optics", "Orion Quantum", "Quantum Systems Orion",
         "Borealis Machine Intelligence", "Borealis MI", "Borealis AI", "Acme Compute",
         "Semiconductor Research Corporation", "Acme Robotics Inc.", "Co., Ltd.", "Orion Photonics",
         "Globex", ""]
CHIPS = [5, 60, 200]


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit("command failed (%d): %s\n%s%s" % (r.returncode, " ".join(cmd), r.stdout, r.stderr))
    return r.stdout


def micros(text):
    return calendar.timegm(tuple(map(int, text[:19].replace("T", "-").replace(":", "-").split("-")))) * 1000000


def shipped_library(args, w, failures):
    """The shipped library (policies/law_as_enforced.edict.md: its Entity List rules screen customer and
    operator names against policies/lists/entity_list.csv) as a library: events from bench/gen_events.py
    with names to screen, decided through the generated entry points (ctypes, the structs read back from
    the header as aot_differential does) and by `edict eval` (JIT and interpreter)."""
    import ctypes
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from run_aot_differential import parse_header
    policies = os.path.join(args.source, "policies")
    listed = os.path.join(policies, "lists", "entity_list.csv")
    policy = os.path.join(policies, "law_as_enforced.edict.md")
    run([args.edict, "build", "-q", policy, "--import-path", policies, "-o", w("liblaw.so")])
    header = open(w("law.h"), encoding="utf-8").read()
    kinds, words, rule_count, version = parse_header(header, "law")
    lib = ctypes.CDLL(w("liblaw.so"))
    lib.law_data_name.restype = ctypes.c_char_p
    lib.law_rule_name.restype = ctypes.c_char_p
    lib.law_outcome_name.restype = ctypes.c_char_p
    error = ctypes.create_string_buffer(512)
    for i in range(int(re.search(r"#define LAW_DATA_COUNT (\d+)", header).group(1))):
        if lib.law_load_data(lib.law_data_name(i), listed.encode(), error, 512) != 0:
            failures.append("shipped library: loading %s: %s" % (listed, error.value.decode()))
    events = w("law.jsonl")
    with open(events, "w") as f:
        subprocess.run([sys.executable, os.path.join(args.source, "bench", "gen_events.py"), "-n", "4000",
                        "--seed", "11", "--screening-share", "0.3", "--screening-list", listed], stdout=f,
                       check=True)

    class Result(ctypes.Structure):
        _fields_ = [("decision", ctypes.c_int), ("fault_rule", ctypes.c_uint32), ("error", ctypes.c_char_p),
                    ("fired", ctypes.c_uint64 * words)]

    ctypes_of = {"bool": ctypes.c_bool, "int": ctypes.c_int64, "number": ctypes.c_double,
                 "string": ctypes.c_char_p, "country": ctypes.c_char_p, "time": ctypes.c_int64,
                 "duration": ctypes.c_int64, "has": ctypes.c_bool, "len": ctypes.c_size_t}
    structs = {}
    for kind, fields in kinds:
        structs[kind] = (type("Event_" + kind, (ctypes.Structure,),
                              {"_fields_": [(cname, ctypes_of[k]) for k, cname, _ in fields]}), fields)
        getattr(lib, "law_eval_%s_checked" % kind).argtypes = [ctypes.c_uint64, ctypes.c_void_p,
                                                               ctypes.POINTER(Result)]
    got = []
    for line in open(events, encoding="utf-8"):
        record = json.loads(line)
        struct, fields = structs[record["kind"]]
        event, keep = struct(), []
        for k, cname, json_name in fields:
            if k in ("len",):
                continue
            if k == "has":
                continue
            if json_name not in record or record[json_name] is None:
                if hasattr(event, "has_" + cname):
                    setattr(event, "has_" + cname, False)
                continue
            if hasattr(event, "has_" + cname):
                setattr(event, "has_" + cname, True)
            v = record[json_name]
            if k in ("string", "country"):
                keep.append(v.encode())
                v = keep[-1]
            elif k == "time":
                v = micros(v)
            setattr(event, cname, v)
        result = Result()
        status = getattr(lib, "law_eval_%s_checked" % record["kind"])(version, ctypes.byref(event),
                                                                     ctypes.byref(result))
        fired = ",".join(lib.law_rule_name(r).decode() for r in range(rule_count)
                         if result.fired[r // 64] >> (r % 64) & 1)
        got.append((status, lib.law_outcome_name(result.decision).decode(), fired))
    screened = sum(1 for _, _, fired in got if "entity_list" in fired)
    for engine in ("jit", "interp"):
        out = run([args.edict, "eval", "--quiet", "--engine", engine, "--import-path", policies, policy, events])
        bad = 0
        for i, (rec, (status, outcome, fired)) in enumerate(zip(map(json.loads, out.splitlines()), got)):
            want = ",".join(r["name"] for r in rec.get("rules", []))
            message_fault = rec["decision"] == "error" and rec.get("rule") in fired.split(",") and status == 0
            if not message_fault and (status != 0 or outcome != rec["decision"] or fired != want):
                bad += 1
                if bad <= 3:
                    failures.append("shipped library, line %d: edict eval --engine %s: %s [%s]; library: %d %s [%s]"
                                    % (i + 1, engine, rec["decision"], want, status, outcome, fired))
        print("shipped library (law_as_enforced): %d events, %d with an Entity List rule fired, %d differ from "
              "edict eval --engine %s" % (len(got), screened, bad, engine))
    if screened == 0:
        failures.append("shipped library: no Entity List rule fired; the screening is untested")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edict", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    w = lambda *p: os.path.join(args.work, *p)
    cc = os.environ.get("CC", "cc")
    failures = []

    # The policy beside its declared files (v1), as a user would build it.
    policy = w("data_policy.edict")
    shutil.copy(os.path.join(args.source, "tests", "aot", "data_policy.edict"), policy)
    files = {"holders_v1.csv": HOLDERS_V1, "holders_v2.csv": HOLDERS_V2, "parties_v1.csv": PARTIES_V1,
             "parties_v2.csv": PARTIES_V2, "parties_bad.csv": PARTIES_BAD, "data_holders.csv": HOLDERS_V1,
             "data_parties.csv": PARTIES_V1}
    files["parties_v2.jsonl"] = "".join(
        json.dumps({k: (v.split("; ") if k == "alt_names" and v else v) for k, v in row.items() if v},
                   ensure_ascii=False) + "\n" for row in csv.DictReader(PARTIES_V2.splitlines()))
    for name, text in files.items():
        with open(w(name), "w", encoding="utf-8") as f:
            f.write(text)
    run([args.edict, "build", "-q", policy, "-o", w("libdp.so")])
    run([cc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-I", args.work,
         os.path.join(args.source, "tests", "aot", "data_driver.c"), "-o", w("driver"), "-L", args.work, "-ldp",
         "-Wl,-rpath," + args.work, "-pthread"])

    # Dependencies and exports.
    needed = {line.split("[")[1].rstrip("]") for line in run(["readelf", "-d", w("libdp.so")]).splitlines()
              if "(NEEDED)" in line}
    allowed = {"libc.so.6", "libm.so.6", "ld-linux-x86-64.so.2", "libsimdjson.so.14", "libcrypto.so.3"}
    if not needed <= allowed:
        failures.append("libdp.so needs %s beyond libc, libm, simdjson and libcrypto" % sorted(needed - allowed))
    exported = run(["nm", "-D", "--defined-only", w("libdp.so")]).split()[2::3]
    if not exported or any(not s.startswith("dp_") for s in exported):
        failures.append("libdp.so exports more than its own names: %s" % exported)
    print("libdp.so: %d bytes, needs %s" % (os.path.getsize(w("libdp.so")), ", ".join(sorted(needed))))

    # The events, for the driver and as JSON Lines for edict eval.
    events = list(itertools.product(TIMES, IDS, NAMES, CHIPS))
    with open(w("events.jsonl"), "w", encoding="utf-8") as f:
        for t, i, n, c in events:
            f.write(json.dumps({"kind": "rental", "time": t, "customer_id": i, "customer_name": n, "chips": c},
                               ensure_ascii=False) + "\n")
    eval_lines = ["eval\t%d\t%s\t%s\t%d" % (micros(t), i, n, c) for t, i, n, c in events]

    def expected(holders, parties, engine):
        out = run([args.edict, "eval", "--quiet", "--engine", engine, "--data", "holders=" + w(holders),
                   "--data", "parties=" + w(parties), policy, w("events.jsonl")])
        return [(r["decision"], ",".join(x["name"] for x in r.get("rules", []))) for r in map(json.loads,
                                                                                            out.splitlines())]

    def version_in_audit(holders, parties):
        out = run([args.edict, "eval", "--quiet", "--audit", "--data", "holders=" + w(holders), "--data",
                   "parties=" + w(parties), policy, w("events.jsonl")])
        data = json.loads(out.splitlines()[0])["data"]
        return data["holders"]["hash"], data["parties"]["hash"]

    # One session of the driver: loads, replacements and evaluations in order.
    script = []
    script += eval_lines[:3]                                  # 0: nothing loaded
    script += ["load\tholders\t" + w("holders_v1.csv")] + eval_lines[:3]  # parties still missing
    script += ["load\tparties\t" + w("parties_v1.csv")] + eval_lines  # v1
    script += ["load\tparties\t" + w("parties_bad.csv"), "load\tholders\t" + w("missing.csv"),
               "load\tnope\t" + w("parties_v1.csv")] + eval_lines  # refused: v1 still in use
    script += ["load\tparties\t" + w("parties_v2.csv"), "load\tholders\t" + w("holders_v2.csv")] + eval_lines
    script += ["load\tparties\t" + w("parties_v2.jsonl")] + eval_lines  # the same rows as JSON Lines
    out = subprocess.run([w("driver")], input="\n".join(script) + "\n", capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert len(out) == len(script), (len(out), len(script))
    at = 0

    def take(n):
        nonlocal at
        lines = out[at:at + n]
        at += n
        return [line.split("\t") for line in lines]

    for status, decision, fired, error in take(3):
        if int(status) != NOT_LOADED or decision != "error" or "dp_load_data" not in error:
            failures.append("before any load: %s %s %r, want status %d" % (status, decision, error, NOT_LOADED))
    (_, status, version, error), = take(1)
    if int(status) != 0 or version != "sha256:" + hashlib.sha256(HOLDERS_V1.encode()).hexdigest() or error:
        failures.append("loading holders v1: %s %s %r" % (status, version, error))
    for status, decision, fired, error in take(3):
        if int(status) != NOT_LOADED or "`parties` is not loaded" not in error:
            failures.append("with parties not loaded: %s %s %r" % (status, decision, error))
    (_, status, version_v1, error), = take(1)
    audit = version_in_audit("holders_v1.csv", "parties_v1.csv")
    if int(status) != 0 or (version_v1 != audit[1]):
        failures.append("loading parties v1: status %s, version %s, edict eval --audit: %s" % (
            status, version_v1, audit[1]))

    def compare(what, got, holders, parties):
        bad = 0
        for engine in ("jit", "interp"):
            want = expected(holders, parties, engine)
            for event, (status, decision, fired, error), (want_decision, want_fired) in zip(events, got, want):
                if int(status) != 0 or decision != want_decision or fired != want_fired:
                    bad += 1
                    if bad <= 5:
                        failures.append("%s, %s: %s\n  edict eval --engine %s: %s [%s]\n  library: %s %s [%s] %s" % (
                            what, engine, json.dumps(event, ensure_ascii=False), engine, want_decision, want_fired,
                            status, decision, fired, error))
        hits = sum(1 for g in got if "listed_party" in g[2])
        print("%s: %d events, %d screened as listed, %d differ from edict eval (jit, interp)" % (
            what, len(got), hits, bad))
        if hits == 0 or hits == len(got):
            failures.append("%s: %d of %d names hit; the comparison proves little" % (what, hits, len(got)))
        rules = {r for g in got for r in g[2].split(",") if r}
        if len(rules) != RULES:
            failures.append("%s: only rules %s fired; every rule must, or its lookups go untested" % (what, rules))
        return [tuple(g[1:3]) for g in got]

    v1 = compare("v1", take(len(eval_lines)), "holders_v1.csv", "parties_v1.csv")
    (_, status, version, error), (_, status2, version2, error2), (_, status3, _, error3) = take(3)
    want_where = w("parties_bad.csv") + ":4:29: error[E0074]"
    if int(status) != DATA_ERROR or not error.startswith(want_where) or version != version_v1:
        failures.append("malformed file: status %s, version %s, error %r; want %d, %s, an error starting %r" % (
            status, version, error, DATA_ERROR, version_v1, want_where))
    if int(status2) != DATA_ERROR or "E0070" not in error2 or "missing.csv" not in error2:
        failures.append("missing file: status %s, error %r" % (status2, error2))
    if int(status3) != INVALID_ARGUMENT or "nope" not in error3:
        failures.append("unknown source: status %s, error %r" % (status3, error3))
    print("refused: %s | %s | %s" % (error, error2, error3))
    after = [tuple(g[1:3]) for g in take(len(eval_lines))]
    if after != v1:
        failures.append("after the refused loads, %d decisions changed: the previous version must stay in use" %
                        sum(a != b for a, b in zip(after, v1)))
    (_, status, version, error), (_, status2, _, _) = take(2)
    if int(status) != 0 or int(status2) != 0 or version != version_in_audit("holders_v2.csv", "parties_v2.csv")[1]:
        failures.append("replacing with v2: %s %s %s %r" % (status, status2, version, error))
    v2 = compare("v2 (replaced)", take(len(eval_lines)), "holders_v2.csv", "parties_v2.csv")
    changed = sum(a != b for a, b in zip(v1, v2))
    print("replacing the files changed %d decisions" % changed)
    if changed == 0:
        failures.append("v2 changed no decision; the replacement is untested")
    (_, status, version, error), = take(1)
    as_jsonl = [tuple(g[1:3]) for g in take(len(eval_lines))]
    if int(status) != 0 or version != "sha256:" + hashlib.sha256(open(w("parties_v2.jsonl"), "rb").read()).hexdigest():
        failures.append("loading JSON Lines: %s %s %r" % (status, version, error))
    if as_jsonl != v2:
        failures.append("the same rows as JSON Lines changed %d decisions" % sum(a != b for a, b in zip(as_jsonl, v2)))
    print("v2 as JSON Lines: %d events, %d decisions as with the CSV" % (
        len(as_jsonl), sum(a == b for a, b in zip(as_jsonl, v2))))

    # Replacements under load: a name listed in v2 only, so the versions decide differently.
    out = run([w("driver")], input="load\tholders\t%s\nstress\tBorealis Machine Intelligence\t%s\t%s\n" % (
        w("holders_v1.csv"), w("parties_v1.csv"), w("parties_v2.csv"))).splitlines()[-1].split("\t")
    evaluations, bad, as_v1, as_v2 = map(int, out[1:])
    print("stress: %d decisions during the replacements, %d of v1, %d of v2, %d neither" % (
        evaluations, as_v1, as_v2, bad))
    if bad or evaluations == 0 or as_v1 == 0 or as_v2 == 0 or as_v1 + as_v2 != evaluations:
        failures.append("replacing under load: %d decisions, %d bad, %d of v1, %d of v2" % (
            evaluations, bad, as_v1, as_v2))

    shipped_library(args, w, failures)

    # What is still refused.
    r = subprocess.run([args.edict, "build", policy, "-o", w("dp.o")], capture_output=True, text=True)
    if r.returncode != 2 or "E0605" not in r.stderr or os.path.exists(w("dp.o")):
        failures.append("an object file of a policy with data: exit %d\n%s" % (r.returncode, r.stderr))
    # An edict without the data runtime beside it (nor in ../lib/edict).
    os.makedirs(w("lonely", "bin"))
    shutil.copy(args.edict, w("lonely", "bin", "edict"))
    r = subprocess.run([w("lonely", "bin", "edict"), "build", policy, "-o", w("lonely", "libdp.so")],
                       capture_output=True, text=True)
    if r.returncode != 2 or "libedict_aot_runtime.a" not in r.stderr or os.path.exists(w("lonely", "libdp.so")):
        failures.append("no data runtime: exit %d\n%s" % (r.returncode, r.stderr))
    print("without the runtime: " + (r.stderr.splitlines() or [""])[0])
    # An installed layout: bin/edict finds <prefix>/lib/edict/libedict_aot_runtime.a.
    runtime = os.path.join(os.path.dirname(os.path.abspath(args.edict)), "libedict_aot_runtime.a")
    os.makedirs(w("lonely", "lib", "edict"))
    os.symlink(runtime, w("lonely", "lib", "edict", "libedict_aot_runtime.a"))
    r = subprocess.run([w("lonely", "bin", "edict"), "build", "-q", policy, "-o", w("lonely", "libdp.so")],
                       capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(w("lonely", "libdp.so")):
        failures.append("installed layout (lib/edict beside bin/): exit %d\n%s" % (r.returncode, r.stderr))

    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
