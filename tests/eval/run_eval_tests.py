#!/usr/bin/env python3
"""End-to-end tests of `edict eval` on generated event logs (bench/gen_events.py):

- reference: the shipped reference policy decides every event of a 20,000-event
  log exactly as an independent Python implementation (bench/reference_impl.py)
  does, on both engines and with -j 1 and -j 2 (byte-identical outputs), and its
  counts match the ones recorded in bench/reference_counts.json;
- dirty: with --dirty 0.05, every line yields exactly one record, the error
  records are exactly the manifest's lines with the right reason, and every other
  line gets the same decision as when those lines are evaluated alone;
- edge cases of the line format (docs/events.md).

  run_eval_tests.py --edict build/cli/edict [--work DIR]
"""
import argparse, json, os, subprocess, sys, tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import GEN, ROOT, check, failures, run_groups  # noqa: E402
POLICY = os.path.join(ROOT, "policies", "reference.edict")
REF = os.path.join(ROOT, "bench", "reference_impl.py")
COUNTS = os.path.join(ROOT, "bench", "reference_counts.json")
REASON_OF = {"broken_json": "invalid_json", "wrong_type": "wrong_type", "bad_country": "bad_country",
             "bad_time": "bad_time", "missing_field": "missing_field", "invalid_utf8": "invalid_utf8",
             "oversized": "line_too_long", "not_object": "not_object"}

def run(edict, args, stdin=None):
    p = subprocess.run([edict, "eval", *args], capture_output=True, input=stdin, timeout=600)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def records(data):
    return [json.loads(l) for l in data.decode().splitlines()]


def test_reference(edict, work):
    events = os.path.join(work, "ref.jsonl")
    with open(events, "wb") as f:
        subprocess.run([sys.executable, GEN, "-n", "20000", "--seed", "7"], stdout=f, check=True)
    outputs = {}
    for engine in ("jit", "interp"):
        for threads in ("1", "2"):
            code, out, err = run(edict, ["--engine", engine, "-j", threads, "-q", POLICY, events])
            check(code == 0, f"reference {engine} -j{threads}: exit {code}: {err[-500:]}")
            outputs[(engine, threads)] = out
    base = outputs[("jit", "1")]
    for k, v in outputs.items():
        check(v == base, f"reference: output of {k} differs from jit -j1")
    got = records(base)
    exp = subprocess.run([sys.executable, REF, events], capture_output=True, check=True).stdout.decode().splitlines()
    check(len(got) == len(exp) == 20000, f"reference: {len(got)} records for {len(exp)} lines")
    bad = 0
    counts = {"decisions": {}, "rules": {}}
    for g, e in zip(got, exp):
        line, decision, rules = (e.split("\t") + [""])[:3]
        fired = ",".join(r["name"] for r in g.get("rules", []))
        if g["line"] != int(line) or g["decision"] != decision or fired != rules:
            bad += 1
            if bad <= 3:
                print("  mismatch:", g, "expected", e)
        counts["decisions"][g["decision"]] = counts["decisions"].get(g["decision"], 0) + 1
        for r in g.get("rules", []):
            counts["rules"][r["name"]] = counts["rules"].get(r["name"], 0) + 1
    check(bad == 0, f"reference: {bad} events decided differently from the independent implementation")
    with open(COUNTS) as f:
        recorded = json.load(f)["n20000_seed7"]
    check(counts["decisions"] == {k: v for k, v in recorded["decisions"].items() if v},
          f"reference: decision counts {counts['decisions']} != recorded {recorded['decisions']}")
    check(counts["rules"] == {k: v for k, v in recorded["rules"].items() if v},
          f"reference: rule counts {counts['rules']} != recorded {recorded['rules']}")


def test_dirty(edict, work):
    events = os.path.join(work, "dirty.jsonl")
    manifest_path = os.path.join(work, "manifest.json")
    with open(events, "wb") as f:
        subprocess.run([sys.executable, GEN, "-n", "20000", "--seed", "11", "--dirty", "0.05",
                        "--manifest", manifest_path], stdout=f, check=True)
    manifest = json.load(open(manifest_path))
    expected_errors = {line: REASON_OF[kind] for kind, lines in manifest["bad"].items() for line in lines}
    check(len(expected_errors) > 500, "dirty: the generator produced malformed lines")
    for engine in ("jit", "interp"):
        code, out, err = run(edict, ["--engine", engine, "-q", POLICY, events])
        check(code == 3, f"dirty {engine}: exit {code}, expected 3 (some lines are errors)")
        got = records(out)
        check([g["line"] for g in got] == list(range(1, manifest["lines"] + 1)),
              f"dirty {engine}: not exactly one record per line, in order")
        errors = {g["line"]: g.get("reason") for g in got if g["decision"] == "error"}
        check(set(errors) == set(expected_errors),
              f"dirty {engine}: error lines differ from the manifest "
              f"(extra {sorted(set(errors) - set(expected_errors))[:5]}, "
              f"missing {sorted(set(expected_errors) - set(errors))[:5]})")
        wrong = [(l, errors.get(l), r) for l, r in expected_errors.items() if errors.get(l) != r]
        check(not wrong, f"dirty {engine}: wrong reasons {wrong[:5]}")
        for g in got:
            if g["decision"] == "error":
                check(g.get("error"), f"dirty {engine}: error record without a message: {g}")
                break
        with open(events, "rb") as f:
            lines = f.read().split(b"\n")
        # An error record names the event's kind once decoding read it, and
        # only then (docs/events.md).
        kind_errors = wrong_kind = 0
        for g in got:
            reason = g.get("reason")
            if reason in ("wrong_type", "bad_country", "bad_time", "missing_field"):
                kind_errors += 1
                if g.get("kind") != json.loads(lines[g["line"] - 1])["kind"]:
                    wrong_kind += 1
            elif reason in ("not_object", "invalid_utf8", "line_too_long") and "kind" in g:
                wrong_kind += 1
        check(kind_errors > 100 and wrong_kind == 0,
              f"dirty {engine}: {wrong_kind} error records with a wrong or missing kind (of {kind_errors})")
        # The good lines alone must be decided the same way.
        good_lines = [i + 1 for i in range(manifest["lines"]) if i + 1 not in expected_errors]
        clean = b"\n".join(lines[i - 1] for i in good_lines) + b"\n"
        code2, out2, _ = run(edict, ["--engine", engine, "-q", POLICY, "-"], stdin=clean)
        check(code2 == 0, f"dirty {engine}: the good lines alone exit {code2}")
        clean_got = records(out2)
        by_line = {g["line"]: g for g in got}
        diff = 0
        for n, c in zip(good_lines, clean_got):
            d = by_line[n]
            if d["decision"] != c["decision"] or d.get("rules") != c.get("rules"):
                diff += 1
        check(diff == 0 and len(clean_got) == len(good_lines),
              f"dirty {engine}: {diff} good lines decided differently than in a clean run")


def test_csv_errors(edict):
    line = (b'{"kind":"rental","id":"r-9","time":"2024-03-01T00:00:00Z","customer_hq":"XX"}\n'
            b'{"kind":"lease","id":"x"}\n')
    code, out, err = run(edict, ["-q", "--format", "csv", POLICY, "-"], stdin=line)
    rows = out.decode().splitlines()
    check(code == 3 and rows[0] == "line,id,kind,decision,rules,reason,error"
          and rows[1].startswith("1,r-9,rental,error,,") and rows[2].startswith("2,,,error,,unknown_kind,"),
          f"CSV error records: exit {code}, rows {rows}")


def test_edges(edict):
    good = (b'{"kind":"provision","id":"p-1","time":"2024-03-01T00:00:00Z","provider":"AWS","provider_hq":"US",'
            b'"provider_parent_hq":"US","datacenter":"SG","region":"r","customer_id":"c","customer_hq":"CN",'
            b'"parent_hq":"CN","dedicated":false,"ships_from":"US","entity_listed":false,"listed_ownership":0,'
            b'"cluster_id":"k","chip":"H100-SXM5-80GB","chip_count":8,"interconnect_gbps":400,'
            b'"peak_ops_per_s":1e21}')
    cases = [
        ("empty input", b"", 0, []),
        ("no final newline", good, 0, [("allow", None)]),
        ("CRLF", good + b"\r\n" + good + b"\r\n", 0, [("allow", None), ("allow", None)]),
        ("blank lines", good + b"\n\n  \n" + good + b"\n", 3,
         [("allow", None), ("error", "blank_line"), ("error", "blank_line"), ("allow", None)]),
        ("unknown kind", b'{"kind":"lease","id":"x"}\n', 3, [("error", "unknown_kind")]),
        ("unknown extra fields", good[:-1] + b',"zzz":[1,{"a":2}],"note":"x"}\n', 0, [("allow", None)]),
        ("duplicate keys", good[:-1] + b',"chip":"T4"}\n', 3, [("error", "duplicate_key")]),
    ]
    for name, data, want_code, want in cases:
        code, out, err = run(edict, ["-q", POLICY, "-"], stdin=data)
        got = [(r["decision"] if r["decision"] == "error" else "allow" if r["decision"] == "allow" else r["decision"],
                r.get("reason")) for r in records(out)]
        # A provision of H100s in SG with peak 1e21 fires cluster_threshold (report); normalise for the check.
        got = [("allow", None) if d == "report" else (d, r) for d, r in got]
        check(code == want_code and got == want, f"edge case {name!r}: exit {code}, records {got}, want {want}")
    code, out, err = run(edict, ["-q", os.path.join(ROOT, "tests", "eval", "broken_policy.edict"), "-"], stdin=b"")
    check(code == 2 and "error[" in err, f"a policy with errors: exit {code}, expected 2 and diagnostics")


def test_finisher(edict, work):
    """The decision finisher runs the reference interpreter only for a fired
    rule's message that has no template (one that computes: arithmetic, a
    def call), never for an engine fault's reason (the engines write it):
    never on the reference policy, rarely on the library (its NAC and AI
    Diffusion messages call defs, its name screening messages read the
    matched Entity List entry), and on rule_faults.edict exactly once per
    fired message_rule; both engines give the same records."""
    events = os.path.join(work, "finisher.jsonl")
    with open(events, "wb") as f:
        subprocess.run([sys.executable, GEN, "-n", "5000", "--seed", "13"], stdout=f, check=True)
    def interpreter_runs(err):
        for line in err.splitlines():
            if "interpreter runs finishing decisions:" in line:
                return int(line.split("decisions:")[1].split("(")[0].replace(",", ""))
        return None
    code, _, err = run(edict, ["--stats", POLICY, events])
    check(code == 0 and interpreter_runs(err) == 0,
          f"finisher: reference: exit {code}, interpreter runs {interpreter_runs(err)}, want 0")
    code, out, err = run(edict, ["--stats", os.path.join(ROOT, "policies", "law_as_enforced.edict.md"), events])
    runs = interpreter_runs(err)
    # An Entity List message reads the matched entry (a data lookup: the name
    # screened, or the entry an upstream screening named): the interpreter
    # writes it, once per match.
    screened = sum(1 for r in records(out) for rule in r.get("rules", []) if rule["name"].startswith("entity_list_"))
    check(code == 0 and runs is not None and runs <= 5 + screened,
          f"finisher: library: exit {code}, interpreter runs {runs} on 5,000 events, want at most 5 + "
          f"{screened} Entity List matches")
    faults = os.path.join(ROOT, "tests", "eval", "rule_faults.edict")
    outs = {}
    for engine in ("jit", "interp"):
        code, out, err = run(edict, ["--stats", "--engine", engine, "--import-path", os.path.join(ROOT, "policies"),
                                     faults, events])
        outs[engine] = out
        recs = records(out)
        reasons = {r.get("reason") for r in recs if r["decision"] == "error"}
        messages = sum(1 for r in recs for rule in r.get("rules", []) if rule["name"] == "message_rule")
        check(code == 3 and {"int_overflow", "division_by_zero"} <= reasons,
              f"finisher: rule faults on {engine}: exit {code}, reasons {reasons}")
        check(interpreter_runs(err) == messages,
              f"finisher: rule faults on {engine}: interpreter runs {interpreter_runs(err)}, want {messages} "
              "(one per fired message without a template, none for engine faults)")
    check(outs["jit"] == outs["interp"], "finisher: rule faults: the engines' records differ")


def batch_counts(err):
    """(interpreted, compiled) batches from a tiered run's --stats line."""
    for line in err.splitlines():
        if "batches decided by the interpreter" in line:
            tail = line.split("batches decided by the interpreter")[1]
            interp, jit = tail.split(", by JIT code")
            return int(interp.replace(",", "")), int(jit.replace(",", ""))
    return None


def test_tiered(edict, work):
    """--engine tiered starts on the interpreter and switches to the JIT's
    code batch by batch: records byte-identical to either engine alone on the
    reference policy (clean and dirty logs), the library and rule faults, at
    -j 1 and -j 2; --tier-switch-after makes the first batches interpreted
    and the rest compiled, so both halves run."""
    clean = os.path.join(work, "tier.jsonl")
    dirty = os.path.join(work, "tier_dirty.jsonl")
    with open(clean, "wb") as f:
        subprocess.run([sys.executable, GEN, "-n", "20000", "--seed", "29"], stdout=f, check=True)
    with open(dirty, "wb") as f:
        subprocess.run([sys.executable, GEN, "-n", "20000", "--seed", "31", "--dirty", "0.05",
                        "--manifest", os.path.join(work, "tier_manifest.json")], stdout=f, check=True)
    library = os.path.join(ROOT, "policies", "law_as_enforced.edict.md")
    faults = os.path.join(ROOT, "tests", "eval", "rule_faults.edict")
    imports = ["--import-path", os.path.join(ROOT, "policies")]
    for name, policy, events in (("reference", POLICY, clean), ("reference dirty", POLICY, dirty),
                                 ("library", library, clean), ("rule faults", faults, clean)):
        code_i, want, _ = run(edict, ["--engine", "interp", *imports, "-q", policy, events])
        code_j, jit, _ = run(edict, ["--engine", "jit", *imports, "-q", policy, events])
        check(code_i == code_j and want == jit, f"tiered: {name}: interp and jit differ (exits {code_i}, {code_j})")
        for threads in ("1", "2"):
            code, out, err = run(edict, ["--engine", "tiered", "--tier-switch-after", "4", "--batch-size", "1000",
                                         "-j", threads, "--stats", *imports, policy, events])
            check(code == code_i, f"tiered: {name} -j{threads}: exit {code}, interp {code_i}: {err[-300:]}")
            check(out == want, f"tiered: {name} -j{threads}: records differ from the interpreter's")
            counts = batch_counts(err)
            check(counts is not None and counts[0] == 4 and counts[1] > 0,
                  f"tiered: {name} -j{threads}: batches (interpreted, compiled) {counts}, want (4, >0)")
        code, out, _ = run(edict, ["--engine", "tiered", *imports, "-q", policy, events])
        check(code == code_i and out == want, f"tiered: {name}: the default switch differs from the interpreter")


def test_code_cache(edict, work):
    """--code-cache: a second run links the first run's machine code (stats
    say "from the code cache") with the same records; a corrupted entry or
    one for another policy is not used (compiled afresh, same records); a
    folder other users can write is refused with a warning."""
    import glob, shutil, stat
    events = os.path.join(work, "cache.jsonl")
    with open(events, "wb") as f:
        subprocess.run([sys.executable, GEN, "-n", "3000", "--seed", "37"], stdout=f, check=True)
    cache = os.path.join(work, "code-cache")
    shutil.rmtree(cache, ignore_errors=True)
    library = os.path.join(ROOT, "policies", "law_as_enforced.edict.md")
    _, want, _ = run(edict, ["--engine", "interp", "-q", library, events])
    def jit_run(policy):
        code, out, err = run(edict, ["--engine", "jit", "--stats", "--code-cache", cache, policy, events])
        return code, out, "from the code cache" in err, err
    code, out, hit, err = jit_run(library)
    check(code == 0 and out == want and not hit, f"code cache: first run: exit {code}, hit {hit}: {err[-300:]}")
    entries = glob.glob(os.path.join(cache, "*.edictjit"))
    check(len(entries) == 1, f"code cache: {len(entries)} entries after one policy, want 1")
    check(stat.S_IMODE(os.stat(cache).st_mode) == 0o700, "code cache: the folder is not private (0700)")
    code, out, hit, err = jit_run(library)
    check(code == 0 and out == want and hit, f"code cache: second run: exit {code}, hit {hit}")
    # The library reads the Entity List: its cached code reaches the list
    # through a symbol linked at load time, so another list file decides
    # under the cached code as the interpreter decides it.
    with open(events) as f:
        name = next(json.loads(l)["customer_name"] for l in f if '"kind":"rental"' in l.replace(" ", ""))
    other_list = os.path.join(work, "other_list.csv")
    with open(other_list, "w") as f:
        f.write("_id,name,alt_names,country,federal_register_notice,start_date,end_date,license_policy\n")
        f.write(f'T-1,"{name}",,CN,99 FR 1,2000-01-01,,Presumption of denial.\n')
    _, want_other, _ = run(edict, ["--engine", "interp", "-q", "--data", f"entity_list={other_list}", library, events])
    code, out, err = run(edict, ["--engine", "jit", "--stats", "--code-cache", cache, "--data",
                                 f"entity_list={other_list}", library, events])
    check(code == 0 and "from the code cache" in err and out == want_other and want_other != want,
          f"code cache: cached code with another list file: exit {code}, same as the interpreter "
          f"{out == want_other}, differs from the shipped list {want_other != want}: {err[-300:]}")
    code, out, hit, _ = jit_run(POLICY)
    check(code == 0 and not hit, f"code cache: another policy used the library's entry (hit {hit})")
    if entries:
        with open(entries[0], "r+b") as f:
            f.seek(os.path.getsize(entries[0]) // 2)
            byte = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([byte[0] ^ 0xFF]))
        code, out, hit, err = jit_run(library)
        check(code == 0 and out == want and not hit,
              f"code cache: a corrupted entry: exit {code}, hit {hit} (must compile afresh): {err[-300:]}")
        code, out, hit, _ = jit_run(library)
        check(code == 0 and out == want and hit, "code cache: the corrupted entry was not replaced")
    os.chmod(cache, 0o777)
    code, out, hit, err = jit_run(library)
    check(code == 0 and out == want and not hit and "writable by other users" in err,
          f"code cache: a world-writable folder: exit {code}, hit {hit}, stderr {err[-300:]}")
    os.chmod(cache, 0o700)


def rewrite_entry(path, change, field=2):
    """Rewrites a cache entry's object field (or its manifest: field 1) with
    change(bytes) and a valid CRC-32, so what is tested is the reader behind
    the checksum."""
    import struct, zlib
    with open(path, "rb") as f:
        data = f.read()
    at, fields = 12, []
    for _ in range(3):
        (n,) = struct.unpack_from("<Q", data, at)
        fields.append(data[at + 8:at + 8 + n])
        at += 8 + n
    fields[field] = change(fields[field])
    body = data[:12] + b"".join(struct.pack("<Q", len(x)) + x for x in fields)
    with open(path, "wb") as f:
        f.write(body + struct.pack("<I", zlib.crc32(body)))


def test_front_end_cache(edict, work):
    """The front-end cache (engine/front_end_cache.h): a second run of the
    library takes its IR from the cache folder (--stats say so) and writes
    the same records and the same standard error; a changed imported file,
    a truncated, corrupt or foreign entry, or IR bytes garbled under a valid
    checksum compile afresh with the same records (a note in --stats), and
    the entry is replaced; --no-code-cache and --explain neither read nor
    write it."""
    import glob, random, shutil
    events = os.path.join(work, "front.jsonl")
    with open(events, "wb") as f:
        subprocess.run([sys.executable, GEN, "-n", "2000", "--seed", "41"], stdout=f, check=True)
    cache = os.path.join(work, "front-cache")
    shutil.rmtree(cache, ignore_errors=True)
    # A copy of the policies, so an imported file can be changed.
    tree = os.path.join(work, "front-policies")
    shutil.rmtree(tree, ignore_errors=True)
    shutil.copytree(os.path.join(ROOT, "policies"), tree)
    library = os.path.join(tree, "law_as_enforced.edict.md")
    _, want, want_err = run(edict, ["--engine", "interp", "-q", "--no-code-cache", library, events])
    def cached_run(*extra, engine="interp", quiet=False):
        args = ["--engine", engine, "--code-cache", cache, *extra, library, events]
        code, out, err = run(edict, ["-q", *args] if quiet else ["--stats", *args])
        return code, out, "(from the front-end cache)" in err, err
    code, out, hit, err = cached_run()
    check(code == 0 and out == want and not hit, f"front-end cache: first run: exit {code}, hit {hit}: {err[-300:]}")
    entries = glob.glob(os.path.join(cache, "*.edictir"))
    check(len(entries) == 1, f"front-end cache: {len(entries)} entries after one policy, want 1")
    for engine in ("interp", "tiered", "jit"):
        code, out, hit, err = cached_run(engine=engine)
        check(code == 0 and out == want and hit, f"front-end cache: {engine}: exit {code}, hit {hit}: {err[-300:]}")
    code, out, _, err = cached_run(quiet=True)
    check(code == 0 and out == want and err == want_err, f"front-end cache: a hit's stderr differs: {err[-300:]}")
    code, out, err = run(edict, ["--engine", "interp", "--stats", "--no-code-cache", library, events])
    check(code == 0 and out == want and "front-end cache" not in err, "front-end cache: used with --no-code-cache")
    code, out, err = run(edict, ["--engine", "interp", "--stats", "--explain", "--code-cache", cache, library, events])
    check(code == 0 and "(from the front-end cache)" not in err, "front-end cache: used with --explain")
    # An imported file changed: compiled afresh, the change decides.
    imported = os.path.join(tree, "common", "country_groups.edict.md")
    with open(imported) as f:
        text = f.read()
    with open(imported, "w") as f:
        f.write(text + "\n")
    _, want_changed, _ = run(edict, ["--engine", "interp", "-q", "--no-code-cache", library, events])
    code, out, hit, err = cached_run()
    check(code == 0 and out == want_changed and not hit, f"front-end cache: a changed import was not seen (hit {hit})")
    code, out, hit, _ = cached_run()
    check(code == 0 and out == want_changed and hit, "front-end cache: the entry was not replaced after a change")
    entry = glob.glob(os.path.join(cache, "*.edictir"))[0]
    def refused(what):
        code, out, hit, err = cached_run()
        check(code == 0 and out == want_changed and not hit and "note: the front-end cache entry" in err,
              f"front-end cache: {what}: exit {code}, hit {hit}: {err[-400:]}")
        code, out, hit, _ = cached_run()
        check(code == 0 and out == want_changed and hit, f"front-end cache: {what}: the entry was not replaced")
    with open(entry, "r+b") as f:
        f.truncate(os.path.getsize(entry) // 2)
    refused("a truncated entry")
    with open(entry, "r+b") as f:
        f.seek(os.path.getsize(entry) // 3)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0x55]))
    refused("a corrupt entry")
    # Another policy's entry under this one's name.
    code, _, _ = run(edict, ["--engine", "interp", "-q", "--code-cache", cache, POLICY, events])
    other = [e for e in glob.glob(os.path.join(cache, "*.edictir")) if e != entry]
    check(code == 0 and len(other) == 1, f"front-end cache: {len(other)} entries for the reference policy")
    if other:
        shutil.copyfile(other[0], entry)
        refused("another policy's entry")
    # A manifest naming a file outside the policy's folders (the first file's
    # path swapped, its length field with it): never read.
    outside = os.path.join(work, "outside.edict")
    with open(outside, "w") as f:
        f.write("policy outside\n")
    def swap_first_path(manifest):
        import struct
        (n,) = struct.unpack_from("<Q", manifest, 0)
        return struct.pack("<Q", len(outside)) + outside.encode() + manifest[8 + n:]
    rewrite_entry(entry, swap_first_path, field=1)
    code, out, hit, err = cached_run()
    check(code == 0 and out == want_changed and not hit and "which this policy may not read" in err,
          f"front-end cache: a manifest naming an outside file: exit {code}, hit {hit}: {err[-400:]}")
    # The IR bytes cut short or garbled, the checksum made to hold.
    rng = random.Random(19)
    for i in range(12):
        if i % 3 == 0:
            rewrite_entry(entry, lambda o: o[:rng.randrange(len(o))])
        else:
            def garble(o):
                o = bytearray(o)
                for _ in range(rng.randint(1, 3)):
                    o[rng.randrange(len(o))] ^= 0xFF
                return bytes(o)
            rewrite_entry(entry, garble)
        code, out, hit, err = cached_run()
        # A garbled byte the reader cannot tell from a policy (a message's
        # letter, a data file's name) may be taken; it must never crash or hang.
        check(code in (0, 2, 3) and (hit or out == want_changed),
              f"front-end cache: garbled IR {i}: exit {code}, hit {hit}: {err[-300:]}")
        os.unlink(entry)
        cached_run(quiet=True)  # a fresh entry for the next round


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edict", required=True)
    ap.add_argument("--work")
    a = ap.parse_args()
    edict = os.path.abspath(a.edict)
    with tempfile.TemporaryDirectory() as tmp:
        work = a.work or tmp
        status = run_groups((("reference", lambda: test_reference(edict, work)), ("dirty", lambda: test_dirty(edict, work)),
                        ("edges", lambda: test_edges(edict)), ("csv errors", lambda: test_csv_errors(edict)),
                        ("finisher", lambda: test_finisher(edict, work)),
                        ("tiered", lambda: test_tiered(edict, work)),
                        ("code cache", lambda: test_code_cache(edict, work)),
                        ("front-end cache", lambda: test_front_end_cache(edict, work))))
    return status


if __name__ == "__main__":
    sys.exit(main())
