#!/usr/bin/env python3
"""End-to-end tests of what `edict eval` does with input that is not what it
should be (docs/events.md, "What is rejected"):

- strict JSON: every malformed form of a line (trailing content, bad
  literals and numbers, unterminated strings, bad escapes, control
  characters, junk nested in an unknown field, ...) is an `invalid_json`
  error record with the exact message, with -j 1 and -j 2; a byte order
  mark is skipped at the start of the input only;
- gzip: a truncated or corrupt file, or trailing data after the last
  member, is an error naming the file (exit 2) after the records of the
  lines before the damage; concatenated members are one stream;
- line limits: --max-line-bytes above 1 MiB is honoured, and a large limit
  costs no memory on short lines;
- a file cut short while `eval -j N` reads it (mapped into memory) ends
  the run with an error naming it (exit 2), never a crash, and no record
  of bytes that were lost.

  run_input_tests.py --edict build/cli/edict
"""
import gzip, json, os, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import GEN, ROOT, check, failures, run_groups, edict_from_args  # noqa: E402
POLICY = os.path.join(ROOT, "policies", "reference.edict")

# A rental that decides without error (`license` is optional and absent).
GOOD = (b'{"kind":"rental","id":"r-1","time":"2023-02-05T19:18:58Z","provider":"AWS","provider_hq":"US",'
        b'"provider_parent_hq":"US","datacenter":"SG","region":"ap-southeast-1","customer_id":"c-1",'
        b'"customer_name":"Summit Intelligence","customer_hq":"CN","parent_hq":"CN","chip":"MI300X",'
        b'"chip_count":8,"hours":2498.36,"purpose":"hpc","training_ops":0.0,"training_data":"general",'
        b'"end_user_type":"academic","end_use":"civil","entity_listed":false,"listed_ownership":0.0}')


def run(edict, args, stdin=None):
    p = subprocess.run([edict, "eval", *args], capture_output=True, input=stdin, timeout=600)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def records(data):
    return [json.loads(l) for l in data.decode().splitlines()]


def replace(old, new):
    assert GOOD.count(old) == 1, old
    return GOOD.replace(old, new)


def col(line, marker, offset=0):
    """1-based byte column of `marker` (which must occur once) in `line`."""
    assert line.count(marker) == 1, marker
    return line.index(marker) + 1 + offset


def malformed_cases():
    """(name, line, expected message); every one is an invalid_json record."""
    cases = []

    def add(name, line, at, what):
        cases.append((name, line, f"invalid JSON at column {at}: {what}"))

    l = GOOD[:-1] + b',"junk":[1,}}'
    add("junk nested in an unknown field (the issue's reproduction)", l, col(l, b",}}", 1),
        "expected a value, found `}`")
    l = GOOD[:-1] + b',"junk":{"a":[1,2}}'
    add("mismatched brackets in an unknown field", l, col(l, b"2}}", 1), "expected `,` or `]`, found `}`")
    l = GOOD[:-1] + b',"junk":{"a" 1}}'
    add("a missing colon in an unknown field", l, col(l, b" 1}", 1), "expected `:` after the key, found `1`")
    l = GOOD[:-1] + b',"junk":[1,2,]}'
    add("a trailing comma in an array", l, col(l, b",]", 1), "expected a value, found `]`")
    l = GOOD[:-1] + b',}'
    add("a trailing comma in the object", l, len(l), "expected a key (a string), found `}`")
    l = GOOD + b'x'
    add("content after the object", l, len(l), "content after the JSON value: `x`")
    l = GOOD + GOOD
    add("two objects on a line", l, len(GOOD) + 1, "content after the JSON value: `{`")
    l = GOOD[:-1]
    add("no closing brace", l, len(l) + 1, "expected `,` or `}`, found the end of the line")
    for word in (b"nul", b"n", b"nullx", b"NULL", b"Null"):
        l = GOOD[:-1] + b',"license":' + word + b'}'
        what = (f"invalid literal `{word.decode()}` (expected true, false or null)" if word[:1] == b"n"
                else f"expected a value, found `{word.decode()}`")
        add(f"`{word.decode()}` in an optional field", l, col(l, word + b"}"), what)
    for word in (b"tru", b"truex", b"fals", b"True"):
        l = replace(b'"entity_listed":false', b'"entity_listed":' + word)
        what = (f"invalid literal `{word.decode()}` (expected true, false or null)" if word[:1] in b"tf"
                else f"expected a value, found `{word.decode()}`")
        add(f"`{word.decode()}` in a bool field", l, col(l, word + b","), what)
    for number, why in ((b"0x10", ""), (b"1.5.3", ""), (b"01", " (a leading zero)"), (b"-Infinity", ""),
                        (b"1.", " (no digit after the decimal point)"), (b"1e", " (no digit in the exponent)"),
                        (b"1e+", " (no digit in the exponent)"), (b"-", ""), (b"+1", None), (b".5", None),
                        (b"Infinity", None), (b"NaN", None), (b"1_000", "")):
        l = replace(b'"chip_count":8', b'"chip_count":' + number)
        what = (f"invalid number `{number.decode()}`{why}" if why is not None
                else f"expected a value, found `{number.decode()}`")
        add(f"the number `{number.decode()}`", l, col(l, number + b","), what)
    l = replace(b'"hours":2498.36', b'"hours":2498.36.1')
    add("a malformed number in a number field", l, col(l, b"2498"), "invalid number `2498.36.1`")
    l = GOOD[:-1] + b',"junk":-01}'
    add("a malformed number in an unknown field", l, col(l, b"-01"), "invalid number `-01` (a leading zero)")
    l = replace(b'"chip_count":8', b'"chip_count":')
    add("a missing value", l, col(l, b',"hours"'), "expected a value, found `,`")
    l = b'{"kind":"rental","id":"r-1'
    add("an unterminated string", l, col(l, b'"r-1'), "unterminated string")
    l = GOOD[:-1] + b',"junk":"a\\'
    add("an unterminated string ending in a backslash", l, col(l, b'"a\\'), "unterminated string")
    l = replace(b'"region":"ap-southeast-1"', b'"region":"ap\\x"')
    add("an invalid escape", l, col(l, b"\\x"), "invalid escape `\\x` in a string")
    l = replace(b'"region":"ap-southeast-1"', b'"region":"ap\\u12G4"')
    add("an invalid \\u escape", l, col(l, b"\\u12G4"), "invalid escape `\\u12G4` (expected \\u and 4 hex digits)")
    l = GOOD[:-1] + b',"junk":"\\ud800x"}'
    add("an unpaired high surrogate", l, col(l, b"\\ud800"), "unpaired surrogate escape \\uD800 in a string")
    l = GOOD[:-1] + b',"junk":"\\udc00"}'
    add("an unpaired low surrogate", l, col(l, b"\\udc00"), "unpaired surrogate escape \\uDC00 in a string")
    l = replace(b'"region":"ap-southeast-1"', b'"region":"ap\tsoutheast"')
    add("a tab in a string", l, col(l, b"\t"), "control character U+0009 in a string (it must be escaped)")
    l = GOOD[:-1] + b',"junk":"a\x01"}'
    add("a control character in an unknown field", l, col(l, b"\x01"),
        "control character U+0001 in a string (it must be escaped)")
    l = replace(b'"region":"ap-southeast-1"', b"'region':'x'")
    add("single quotes", l, col(l, b"'region'"), "expected a key (a string), found `'region'`")
    l = GOOD[:-1] + b',"junk":' + b"[" * 2000 + b"]" * 2000 + b"}"
    # The object is the first level: the 1,024th bracket is one too many.
    add("nesting deeper than 1024", l, col(l, b"[" * 2000) + 1023, "nested more than 1024 deep")
    l = b"\xef\xbb\xbf" + GOOD
    add("a byte order mark after the first line", l, 1, "expected a value, found a byte order mark (U+FEFF)")
    return cases


def test_malformed(edict):
    cases = malformed_cases()
    check(len(cases) >= 40, f"malformed: {len(cases)} cases")
    data = b"".join(line + b"\n" for _, line, _ in cases)
    # The decoder's full path words every error; lines of other shapes
    # around them must not change that (-j 2 splits the input).
    for threads in ("1", "2"):
        code, out, err = run(edict, ["-q", "-j", threads, "--batch-size", "7", POLICY, "-"], stdin=GOOD + b"\n" + data)
        got = records(out)
        check(code == 3 and len(got) == len(cases) + 1, f"malformed -j{threads}: exit {code}, {len(got)} records")
        check(got and got[0]["decision"] != "error", f"malformed -j{threads}: the good line gave {got[:1]}")
        for (name, _, message), rec in zip(cases, got[1:]):
            want = {"line": rec["line"], "decision": "error", "reason": "invalid_json", "error": message}
            check(rec == want, f"malformed -j{threads}: {name}: got {rec}, want {want}")


def test_valid_edges(edict):
    """Valid JSON that the decoder must accept (or reject for a stated
    reason other than invalid_json)."""
    cases = [
        ("BOM at the start of the input", b"\xef\xbb\xbf" + GOOD + b"\n" + GOOD + b"\n", 0, [None, None]),
        ("BOM alone", b"\xef\xbb\xbf", 0, []),
        ("null in an optional field", GOOD[:-1] + b',"license":null}\n', 0, [None]),
        ("huge numbers in an unknown field", GOOD[:-1] + b',"junk":[1e400,-1e400,123456789012345678901234567890]}\n',
         0, [None]),
        ("escapes and nesting in an unknown field",
         GOOD[:-1] + b',"junk":{"a":["\\ud83d\\ude00","\\n\\t\\"\\\\\\/\\b\\f\\r",true,false,null,-0.5e-3,{}],'
         b'"b":[]}}\n', 0, [None]),
        ("whitespace around tokens", GOOD[:1] + b" \t\r" + GOOD[1:-1] + b' , "junk" : [ 1 , 2 ] }\r\n', 0, [None]),
        ("a duplicate unknown key", GOOD[:-1] + b',"junk":1,"junk":2}\n', 0, [None]),
        ("a duplicate declared key", GOOD[:-1] + b',"chip":"T4"}\n', 3, ["duplicate_key"]),
        ("a number out of range in a number field", replace(b'"hours":2498.36', b'"hours":1e400') + b"\n", 3,
         ["wrong_type"]),
        ("invalid UTF-8", replace(b'"region":"ap-southeast-1"', b'"region":"ap\xff"') + b"\n", 3, ["invalid_utf8"]),
        ("not an object", b'[1,2]\n', 3, ["not_object"]),
    ]
    for name, data, want_code, want in cases:
        code, out, err = run(edict, ["-q", POLICY, "-"], stdin=data)
        got = [r.get("reason") for r in records(out)]
        check(code == want_code and got == want, f"valid edge {name!r}: exit {code}, reasons {got}, want {want}: {err}")
    code, out, _ = run(edict, ["-q", POLICY, "-"], stdin=replace(b'"hours":2498.36', b'"hours":1e400') + b"\n")
    check(records(out)[0].get("error") == "hours: number out of range", f"1e400 in hours: {out}")


def test_every_bad_field(edict):
    """Issue 22: one error record names every bad field of an event, with the
    checker's hints, on both threads' paths; the first bad field gives the reason."""
    line = (replace(b'"customer_hq":"CN"', b'"customer_hq":"UK"')
            .replace(b'"chip_count":8', b'"chip_count":"256"')
            .replace(b',"purpose":"hpc"', b'').replace(b',"hours":2498.36', b''))
    want = ("customer_hq: `UK` is not an ISO 3166-1 alpha-2 country code (did you mean `GB` (United Kingdom)?); "
            "chip_count: expected an integer, found a string (write the number without quotes: 256); "
            "missing fields `hours`, `purpose`")
    for threads in ("1", "2"):
        code, out, err = run(edict, ["-q", "-j", threads, POLICY, "-"], stdin=GOOD + b"\n" + line + b"\n")
        got = records(out)
        check(code == 3 and len(got) == 2 and got[1].get("reason") == "bad_country" and got[1].get("error") == want,
              f"every bad field -j{threads}: exit {code}, got {got[1:] if len(got) > 1 else got}, want {want!r}")
    # One bad field alone reads as before, with its hint.
    code, out, _ = run(edict, ["-q", POLICY, "-"], stdin=replace(b'"datacenter":"SG"', b'"datacenter":"USA"') + b"\n")
    got = records(out)
    check(got and got[0].get("error") == "datacenter: `USA` is not an ISO 3166-1 alpha-2 country code "
          "(did you mean `US` (United States)?)", f"USA in datacenter: {got}")


def test_issue_reproduction(edict, work):
    events = os.path.join(work, "ev.jsonl")
    with open(events, "wb") as f:
        subprocess.run([sys.executable, GEN, "-n", "5", "--seed", "7"], stdout=f, check=True)
    first = open(events, "rb").read().split(b"\n")[0]
    line = first[:-1] + b',"junk":[1,}}\n'
    code, out, _ = run(edict, ["-q", POLICY], stdin=line)
    got = records(out)
    check(code == 3 and len(got) == 1 and got[0]["reason"] == "invalid_json",
          f"issue 16 reproduction: exit {code}, records {got}")


def test_gzip(edict, work):
    events = os.path.join(work, "gz.jsonl")
    with open(events, "wb") as f:
        subprocess.run([sys.executable, GEN, "-n", "5000", "--seed", "5"], stdout=f, check=True)
    plain = open(events, "rb").read()
    lines = plain.count(b"\n")
    code, want_out, _ = run(edict, ["-q", POLICY, events])
    check(code == 0 and len(records(want_out)) == lines, f"gzip: plain run exit {code}")
    packed = gzip.compress(plain, mtime=0)

    def eval_bytes(name, data, stdin=False):
        path = os.path.join(work, name)
        with open(path, "wb") as f:
            f.write(data)
        if stdin:
            return run(edict, ["-q", POLICY, "-"], stdin=data) + (path,)
        return run(edict, ["-q", POLICY, path]) + (path,)

    code, out, err, _ = eval_bytes("whole.gz", packed)
    check(code == 0 and out == want_out, f"gzip: whole file: exit {code}: {err}")
    halves = plain.split(b"\n")
    middle = sum(len(l) + 1 for l in halves[:len(halves) // 2])
    two = gzip.compress(plain[:middle], mtime=0) + gzip.compress(plain[middle:], mtime=0)
    code, out, err, _ = eval_bytes("members.gz", two)
    check(code == 0 and out == want_out, f"gzip: two concatenated members: exit {code}: {err}")

    code, want_twice, _, _ = eval_bytes("twice.jsonl", plain + plain)
    check(code == 0 and len(records(want_twice)) == 2 * lines, f"gzip: plain run twice: exit {code}")
    for name, data, what, whole in (
            ("head10.gz", packed[:10], "truncated", want_out),
            ("half.gz", packed[:len(packed) // 2], "truncated", want_out),
            ("nolast.gz", packed[:-1], "truncated", want_out),  # the last byte of the trailer
            ("garbage.gz", packed + b"garbage after the member\n", "trailing data", want_out),
            ("zeros.gz", packed + b"\0" * 512, "trailing data", want_out),
            ("half-member.gz", packed + packed[:len(packed) // 2], "truncated", want_twice),
            ("corrupt.gz", packed[:100] + bytes(b ^ 0x55 for b in packed[100:200]) + packed[200:], "corrupt",
             want_out),
    ):
        for stdin in (False, True):
            code, out, err, path = eval_bytes(name, data, stdin)
            shown = "-" if stdin else path
            got = records(out)
            check(code == 2 and f"reading `{shown}` failed" in err and what in err,
                  f"gzip {name} (stdin {stdin}): exit {code}, stderr {err!r}, want exit 2 naming it and {what!r}")
            # The records written are those of whole lines before the damage:
            # a prefix of the undamaged run, ending at a record's end.
            check(out == whole[:len(out)] and (not out or out.endswith(b"\n")),
                  f"gzip {name}: {len(got)} records, not a prefix of the undamaged run")
            if what == "trailing data" or name == "nolast.gz":
                check(out == whole, f"gzip {name}: the records before the damage differ from the whole run's")
            elif name != "half-member.gz":
                check(len(got) < lines, f"gzip {name}: {len(got)} records of {lines} for a damaged member")


def test_line_limits(edict, work):
    big = GOOD[:-1] + b',"junk":"' + b"x" * (2 << 20) + b'"}\n'
    path = os.path.join(work, "long.jsonl")
    with open(path, "wb") as f:
        f.write(GOOD + b"\n" + big + GOOD + b"\n")
    code, out, err = run(edict, ["-q", "--max-line-bytes", str(4 << 20), POLICY, path])
    got = [r.get("reason") for r in records(out)]
    check(code == 0 and got == [None, None, None], f"a 2 MiB line with --max-line-bytes 4MiB: exit {code}, {got}: {err}")
    code, out, err = run(edict, ["-q", "-j", "2", "--max-line-bytes", str(4 << 20), POLICY, path])
    got = [r.get("reason") for r in records(out)]
    check(code == 0 and got == [None, None, None], f"the same with -j 2: exit {code}, {got}: {err}")
    code, out, err = run(edict, ["-q", POLICY, path])
    got = [r.get("reason") for r in records(out)]
    check(code == 3 and got == [None, "line_too_long", None], f"a 2 MiB line by default: exit {code}, {got}")

    # A 1 GiB limit costs nothing on short lines: the peak resident size of
    # a child stays far below it.
    events = os.path.join(work, "short.jsonl")
    with open(events, "wb") as f:
        subprocess.run([sys.executable, GEN, "-n", "2000", "--seed", "3"], stdout=f, check=True)
    # A fresh Python measures its one child (RUSAGE_CHILDREN is the largest
    # child waited for).
    probe = ("import resource, subprocess, sys\n"
             "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
             "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    p = subprocess.run([sys.executable, "-c", probe, edict, "eval", "-q", "--max-line-bytes", str(1 << 30), POLICY,
                        events], capture_output=True, timeout=600, text=True)
    code, peak_kb = (int(x) for x in p.stdout.split())
    check(code == 0 and peak_kb < 200 * 1024,
          f"--max-line-bytes 1GiB on short lines: exit {code}, peak resident {peak_kb} kB, want < 200 MB")


def test_shrinking_file(edict, work):
    """An events file cut short while `eval -j 2` reads it (it is mapped
    into memory with -j N): an error naming the file, exit 2, no crash, and only records
    of lines decided from their bytes, each a whole and correct decision
    (a line read as the zeros that replace lost bytes would be an error
    record)."""
    path = os.path.join(work, "shrinking.jsonl")
    lines = 80000  # 38 MB: more than two of the reader's windows
    keep = 3 << 20  # bytes left after the cut
    for threads in ("2", "3"):
        with open(path, "wb") as f:
            f.write((GOOD + b"\n") * lines)
        # The records go to a pipe nobody reads yet: `eval` blocks writing
        # the first chunk's, while it holds lines of the file.
        p = subprocess.Popen([edict, "eval", "-q", "-j", threads, POLICY, path], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            first = os.read(p.stdout.fileno(), 1)  # deciding has begun
            time.sleep(0.3)  # and the pipe is full
            os.truncate(path, keep)
            out, err = p.communicate(timeout=120)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        out = first + out
        err = err.decode("utf-8", "replace")
        got = records(out) if out.endswith(b"\n") else None
        name = f"-j {threads}, a file cut to {keep} bytes while read"
        check(p.returncode == 2, f"{name}: exit {p.returncode} (a signal when negative), want 2: {err}")
        check(f"edict: reading `{path}` failed: the file changed while being read: it shrank" in err,
              f"{name}: {err}")
        # Lines decided before the cut may be past it: what they read was there.
        check(got is not None and 0 < len(got) < lines,
              f"{name}: {len(got) if got is not None else 'a cut'} records of {lines} lines, want some, "
              f"not all, and no partial record")
        check(got is not None and all(r.get("decision") == got[0].get("decision") and "reason" not in r for r in got),
              f"{name}: a record of bytes that were gone")


def main():
    edict = edict_from_args()
    with tempfile.TemporaryDirectory() as work:
        status = run_groups((("malformed JSON", lambda: test_malformed(edict)),
                        ("valid edges", lambda: test_valid_edges(edict)),
                        ("issue reproduction", lambda: test_issue_reproduction(edict, work)),
                        ("every bad field in one record", lambda: test_every_bad_field(edict)),
                        ("gzip", lambda: test_gzip(edict, work)),
                        ("line limits", lambda: test_line_limits(edict, work)),
                        ("a file that shrinks while read", lambda: test_shrinking_file(edict, work))))
    return status


if __name__ == "__main__":
    sys.exit(main())
