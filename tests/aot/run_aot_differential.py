#!/usr/bin/env python3
"""Differential test of ahead-of-time libraries against the JIT: for each
listed conformance policy, `edict build` a library, load it with ctypes (the
event structs are read back from the generated header), feed it random events
built from the policy's own literals, and compare every decision and fired
rule with `edict eval` on the same events as JSON Lines. Exercises the
library's own string table around the helper core it shares with the runtime
(abi/helpers_core.c), UTF-8 validation (some events carry invalid bytes: the
library must refuse exactly the events `edict eval` calls invalid_utf8),
optional fields, faults and dates, data lookups and name screening (the
library loading the files the policy declares, whose cells join the values);
tests/aot/helper_edges.edict aims at the
helpers' edges (NUL bytes in constants and in event strings, passed with
their lengths as `x_len`, non-ASCII, mixed case, empty). The
one accepted difference: a fired rule whose message faults is `error` in
`edict eval` but not in the library (messages are not compiled ahead of time).

    run_aot_differential.py --edict EDICT --source SOURCE_DIR --work DIR
"""
import argparse
import calendar
import ctypes
import json
import os
import random
import re
import subprocess
import sys

POLICIES = ["string_builtins", "string_comparison", "helper_strings", "table_keys", "scalar_sets",
            "optional_fields", "multi_kind", "int_overflow", "division", "effective_dates", "message_fault",
            "time_arithmetic", "country_sets", "number_widening", "../aot/helper_edges", "data_lookup",
            "data_screening"]
EVENTS_PER_KIND = 300
MORE_EVENTS = {"helper_edges": 1500,  # rules that need two related strings fire rarely
               "data_lookup": 3000, "data_screening": 1500}  # and those that need a listed key or name
# Strings where helper implementations drift: non-ASCII (two-, three- and
# four-byte, decomposed, case-like letters outside ASCII), mixed case, empty.
EDGE_STRINGS = ["", "a", "A", "ab", "b", "abc", "a\0b", "a\0", "\0", "A\0", "ab\0", "MIXED\0", "x\0MiXeD", "ÉCOLE 9", "école 9", "ß", "Straße", "STRAßE", "straße", "İ", "ǅ",
                "😀", "e\u0301", "naïve", "NAÏVE", "MiXeD", "mixed", "MIXED", "Zürich", "zÜRICH", "x"]
# Bytes that are not UTF-8: a stray continuation byte, an overlong form, a
# surrogate, past U+10FFFF, truncated sequences, a five-byte form.
INVALID_UTF8 = [b"\xff", b"a\xc0\xafb", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"ok\xe2\x82", b"\xc3",
                b"\xe0\x80\x80", b"\xf8\x88\x80\x80\x80", b"\x80abc", "é".encode()[:1] + b"x"]


def parse_header(text, prefix):
    """Kinds with their fields (json name, kind of value, optional) in struct order."""
    kinds = []
    for m in re.finditer(r"/\* Event kind `([^`]+)`\. \*/\ntypedef struct \w+ \{\n(.*?)\n\} ", text, re.S):
        fields, pending_optional = [], None
        for line in m.group(2).splitlines():
            d = re.match(r"\s*(bool|int64_t|double|const char\*|size_t) (\w+);(.*)", line)
            ctype, name, comment = d.groups()
            if ctype == "size_t":  # the length of the string before it
                fields.append(("len", name, None))
                continue
            if name.startswith("has_") and "is absent" in comment:
                pending_optional = re.search(r"`([^`]+)`", comment).group(1)
                fields.append(("has", name, None))
                continue
            json_name = pending_optional or name
            pending_optional = None
            if ctype == "bool":
                kind = "bool"
            elif ctype == "double":
                kind = "number"
            elif ctype == "const char*":
                kind = "country" if "ISO 3166" in comment else "string"
            elif "since 1970" in comment:
                kind = "time"
            elif "microseconds" in comment:
                kind = "duration"
            else:
                kind = "int"
            fields.append((kind, name, json_name))
        kinds.append((m.group(1), fields))
    words = int(re.search(r"#define %s_FIRED_WORDS (\d+)" % prefix.upper(), text).group(1))
    rules = int(re.search(r"#define %s_RULE_COUNT (\d+)" % prefix.upper(), text).group(1))
    version = int(re.search(r"#define %s_SCHEMA_VERSION 0x([0-9a-f]+)ULL" % prefix.upper(), text).group(1), 16)
    return kinds, words, rules, version


def literals(source):
    strings = set(re.findall(r'"((?:[^"\\]|\\.)*)"', source))
    ints = {int(x.replace("_", "")) for x in re.findall(r"(?<![\w.])-?\d[\d_]*(?![\w.])", source)
            if abs(int(x.replace("_", ""))) < 2**63}
    dates = set(re.findall(r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}Z)?", source))
    return strings, ints, dates


def to_micros(text):
    if "T" not in text:
        text += "T00:00:00Z"
    y, mo, d, h, mi, s = map(int, re.match(r"(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)Z", text).groups())
    return calendar.timegm((y, mo, d, h, mi, s)) * 1000000


def to_text(micros):
    import time
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(micros // 1000000))


def data_cells(paths):
    """The cells of a policy's data files (CSV), with their `;` separated list items: the keys and names
    its lookups find, so random events hit the lists."""
    import csv
    cells = set()
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for row in csv.reader(f):
                for cell in row:
                    cells.add(cell)
                    cells.update(item.strip() for item in cell.split(";"))
    return cells


def make_values(rng, source, data_strings=()):
    strings, ints, dates = literals(source)
    strings |= set(data_strings)
    dates |= {d for d in data_strings if re.fullmatch(r"\d{4}-\d{2}-\d{2}", d)}
    strings = sorted(s for s in strings if "\\" not in s and "{" not in s) + EDGE_STRINGS
    cuts = [s[:i] for s in strings for i in range(len(s))] + [s[i:] for s in strings for i in range(len(s))]
    times = sorted({to_micros(d) + delta for d in dates | {"2020-01-01", "2024-01-01", "2026-06-01"}
                    for delta in (-1000000, 0, 1000000)})
    return {
        "bool": lambda: rng.random() < 0.5,
        "int": lambda: rng.choice(sorted(ints | {0, 1, -1, 2, 7, 2**63 - 1, -2**63, 2**62})),
        "number": lambda: rng.choice([0.0, -0.0, 1.5, -2.25, 100.0, 5.92, 1e300, 0.1] + [float(i) for i in ints]),
        "string": lambda: rng.choice(INVALID_UTF8) if rng.random() < 0.03 else rng.choice(strings)
        if rng.random() < 0.6 else rng.choice(cuts or strings) + rng.choice(["", "x", "X", rng.choice(strings)]),
        "country": lambda: rng.choice(["US", "CN", "MO", "RU", "FR", "TW", "DE", "KP"] +
                                      [s for s in strings if re.fullmatch(r"[A-Z]{2}", s)]),
        "time": lambda: rng.choice(times),
        "duration": lambda: rng.choice([0, 3600, 86400, 30 * 86400, 365 * 86400]) * 1000000,
    }


def json_line(record):
    """The record as one JSON line (bytes), invalid UTF-8 values spliced in raw."""
    raw = {}
    for key, value in record.items():
        if isinstance(value, bytes):
            raw[key] = value
            record[key] = "@raw:%s@" % key
    line = json.dumps(record, ensure_ascii=False).encode()
    for key, value in raw.items():
        line = line.replace(('"@raw:%s@"' % key).encode(), b'"' + value + b'"')
    return line


def duration_text(micros):
    return "%ds" % (micros // 1000000)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edict", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    rng = random.Random(7)
    failures, compared, message_faults, invalid_utf8, nul_events = [], 0, 0, 0, 0
    for name in POLICIES:
        policy = os.path.normpath(os.path.join(args.source, "tests", "conformance", name + ".edict"))
        source = open(policy, encoding="utf-8").read()
        name = os.path.basename(name)
        prefix = "p_" + name
        lib_path = os.path.join(args.work, "lib%s.so" % prefix)
        subprocess.run([args.edict, "build", "-q", policy, "-o", lib_path], check=True)
        header = open(os.path.join(args.work, prefix + ".h"), encoding="utf-8").read()
        kinds, words, rule_count, version = parse_header(header, prefix)
        lib = ctypes.CDLL(lib_path)
        getattr(lib, prefix + "_rule_name").restype = ctypes.c_char_p
        getattr(lib, prefix + "_outcome_name").restype = ctypes.c_char_p

        class Result(ctypes.Structure):
            _fields_ = [("decision", ctypes.c_int), ("fault_rule", ctypes.c_uint32), ("error", ctypes.c_char_p),
                        ("fired", ctypes.c_uint64 * words)]

        # A policy with data: its library loads the files the policy declares, as edict eval does.
        data_files = []
        if hasattr(lib, prefix + "_load_data"):
            default_file = getattr(lib, prefix + "_data_default_file")
            default_file.restype = ctypes.c_char_p
            data_name = getattr(lib, prefix + "_data_name")
            data_name.restype = ctypes.c_char_p
            count = int(re.search(r"#define %s_DATA_COUNT (\d+)" % prefix.upper(), header).group(1))
            for i in range(count):
                error = ctypes.create_string_buffer(512)
                data_files.append(default_file(i).decode())
                if getattr(lib, prefix + "_load_data")(data_name(i), default_file(i), error, 512) != 0:
                    failures.append("%s: loading %s: %s" % (name, data_files[-1], error.value.decode()))
        values = make_values(rng, source, data_cells(data_files))
        lines, aot = [], []
        for kind, fields in kinds:
            ctypes_of = {"bool": ctypes.c_bool, "int": ctypes.c_int64, "number": ctypes.c_double,
                         "string": ctypes.c_char_p, "country": ctypes.c_char_p, "time": ctypes.c_int64,
                         "duration": ctypes.c_int64, "has": ctypes.c_bool, "len": ctypes.c_size_t}

            class Event(ctypes.Structure):
                _fields_ = [(cname, ctypes_of[k]) for k, cname, _ in fields]

            entry = getattr(lib, "%s_eval_%s_checked" % (prefix, kind))
            entry.argtypes = [ctypes.c_uint64, ctypes.POINTER(Event), ctypes.POINTER(Result)]
            for _ in range(MORE_EVENTS.get(name, EVENTS_PER_KIND)):
                event, record, absent, text = Event(), {"kind": kind}, False, None
                for k, cname, json_name in fields:
                    if k == "len":
                        # Always when the text holds a NUL byte; else sometimes, so
                        # both the length and the NUL-terminated forms are decided.
                        if text is not None and (b"\0" in text or rng.random() < 0.5):
                            setattr(event, cname, len(text))
                        text = None
                        continue
                    if k == "has":
                        absent = rng.random() < 0.3
                        setattr(event, cname, not absent)
                        continue
                    if absent:
                        absent = False
                        continue
                    v = values[k]()
                    if isinstance(v, bytes):  # invalid UTF-8: spliced into the JSON line below
                        setattr(event, cname, v)
                        text = v
                    elif k in ("string", "country"):
                        setattr(event, cname, v.encode())
                        text = v.encode()
                    else:
                        setattr(event, cname, v)
                    record[json_name] = (to_text(v) if k == "time" else duration_text(v) if k == "duration" else v)
                result = Result()
                status = entry(version, ctypes.byref(event), ctypes.byref(result))
                fired = [getattr(lib, prefix + "_rule_name")(r).decode() for r in range(rule_count)
                         if result.fired[r // 64] >> (r % 64) & 1]
                fault = getattr(lib, prefix + "_rule_name")(result.fault_rule).decode() if status == 11 else None
                aot.append((status, getattr(lib, prefix + "_outcome_name")(result.decision).decode(), fired, fault))
                lines.append(json_line(record))
                nul_events += b"\\u0000" in lines[-1]
        events = os.path.join(args.work, name + ".jsonl")
        with open(events, "wb") as f:
            f.write(b"\n".join(lines) + b"\n")
        out = subprocess.run([args.edict, "eval", "--quiet", policy, events], capture_output=True, text=True,
                             errors="replace")
        records = [json.loads(l) for l in out.stdout.splitlines()]
        assert len(records) == len(lines), (name, len(records), out.stderr)
        bad = 0
        fired_events = sum(1 for rec in records if rec.get("rules"))
        fault_events = sum(1 for rec in records if "rule" in rec)
        if fired_events == 0:
            failures.append("%s: no rule fired on any generated event; the comparison proves nothing" % name)
        for i, (rec, (status, outcome, fired, fault)) in enumerate(zip(records, aot)):
            want_rules = [r["name"] for r in rec.get("rules", [])]
            if rec["decision"] != "error":
                ok = status == 0 and outcome == rec["decision"] and fired == want_rules
            elif rec.get("reason") == "invalid_utf8":
                ok = status == 4
                invalid_utf8 += ok
            elif "rule" in rec and status == 11:
                ok = fault == rec["rule"] and fired == want_rules
            elif "rule" in rec and status == 0 and rec["rule"] in fired:
                ok = True
                message_faults += 1
            else:
                ok = False
            compared += 1
            if not ok:
                bad += 1
                if bad <= 3:
                    failures.append("%s line %d: %s\n  edict eval: %s\n  AOT: %s" % (
                        name, i + 1, lines[i].decode(errors="backslashreplace"), json.dumps(rec),
                        (status, outcome, fired, fault)))
        print("%s: %d events (%d with fired rules, %d faults), %d differ" % (
            name, len(lines), fired_events, fault_events, bad))
    print("%d events compared (%d with a NUL byte in a string); %d message faults (not compiled ahead of time); "
          "%d refused as invalid UTF-8 by both" % (compared, nul_events, message_faults, invalid_utf8))
    if invalid_utf8 == 0:
        failures.append("no event with invalid UTF-8 was compared; the validation is untested")
    if nul_events == 0:
        failures.append("no event string with a NUL byte was compared")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
