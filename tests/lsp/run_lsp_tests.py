#!/usr/bin/env python3
"""`edict lsp` driven by a scripted client (lsp_client.py): diagnostics as
the text changes, hover, definition across imports, completion, document
symbols and formatting, in a `.edict` file and in the code blocks of an
`.edict.md` file importing the shipped library (positions in the markdown);
and a server that answers malformed messages with JSON-RPC errors and exits
on `exit` or end of input.

  run_lsp_tests.py --edict PATH"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lsp_client import LspClient, position, uri  # noqa: E402
from testlib import ROOT, check, edict_from_args, failures, run_groups  # noqa: E402

EDICT = edict_from_args(__doc__)
WORK = tempfile.mkdtemp(prefix="edict-lsp-")
POLICIES = os.path.join(ROOT, "policies")

LIB = """outcomes allow < deny

default allow

event rental {
  id: string,
  time: time,
  chip: string,
  chip_count: int,
  customer_hq: country,
}

const LARGE = 256

set D5: country = { "CN", "MO", "KP" }

table chips: string -> { tpp: number, designer: string } = {
  "H100": { tpp: 15_832, designer: "NVIDIA" },
  "L4": { tpp: 1_936, designer: "NVIDIA" },
}
"""

MAIN = """import "lib.edict"

policy "Test rules"
  version "1"
  status in_force

rule big_cluster_d5 on rental
  effective 2025-01-15
  until 2026-01-15
  cite "15 CFR 744.23(a)(3)"
  deny "{event.chip} x {event.chip_count} for {event.customer_hq}"
  when event.chip_count >= LARGE and event.customer_hq in D5

set BIG_CHIPS: string = { "L4", "H100" }

rule h100_to_cn on rental
  cite "test citation"
  deny "H100 to China"
  when event.customer_hq == "CN" and (chips["H100"].tpp otherwise 0) > 1000 and event.chip in BIG_CHIPS
"""


def write(name, text):
    path = os.path.join(WORK, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def start(*extra):
    return LspClient([EDICT, "lsp", *extra], cwd=WORK)


def initialized(*extra):
    c = start(*extra)
    r = c.request("initialize", {"processId": None, "rootUri": uri(WORK), "capabilities": {}})
    c.notify("initialized", {})
    return c, r


def open_doc(c, path, text, version=1):
    lang = "edict-markdown" if path.endswith(".md") else "edict"
    c.notify("textDocument/didOpen",
             {"textDocument": {"uri": uri(path), "languageId": lang, "version": version, "text": text}})
    return c.diagnostics(uri(path))


def at(c, method, path, pos):
    return c.request(method, {"textDocument": {"uri": uri(path)}, "position": pos})


def hover_text(reply):
    result = reply.get("result")
    return result["contents"]["value"] if result else ""


def errors(diags):
    return [d for d in diags if d["severity"] == 1]


def test_initialize():
    c, r = initialized()
    caps = r.get("result", {}).get("capabilities", {})
    for cap in ("hoverProvider", "definitionProvider", "completionProvider", "documentFormattingProvider",
                "documentSymbolProvider", "textDocumentSync"):
        check(cap in caps, f"initialize announces {cap}: {caps}")
    check(c.request("shutdown").get("result", 0) is None, "shutdown answers null")
    c.notify("exit", {})
    check(c.wait_exit() == 0, "exit after shutdown ends with status 0")
    c.close()


def test_diagnostics_as_you_type():
    lib = write("lib.edict", LIB)
    main = write("main.edict", MAIN)
    c, _ = initialized()
    check(errors(open_doc(c, main, MAIN)) == [], "the clean file has no errors")
    # A misspelt field, typed in (not saved): reported at its place.
    typo = MAIN.replace("event.chip_count >= LARGE", "event.chip_cont >= LARGE")
    c.notify("textDocument/didChange", {"textDocument": {"uri": uri(main), "version": 2},
                                        "contentChanges": [{"text": typo}]})
    diags = errors(c.diagnostics(uri(main)))
    want = position(typo, "chip_cont >=")
    check(len(diags) == 1, f"one error for the misspelt field: {diags}")
    check(diags and diags[0]["range"]["start"] == want,
          f"the error starts at the field {want}: {diags and diags[0]['range']}")
    check(diags and "chip_count" in diags[0]["message"], f"the message suggests `chip_count`: {diags}")
    # An incremental change (a range) fixes it again.
    start_pos = position(typo, "chip_cont")
    end_pos = dict(start_pos, character=start_pos["character"] + len("chip_cont"))
    c.notify("textDocument/didChange", {"textDocument": {"uri": uri(main), "version": 3}, "contentChanges": [
        {"range": {"start": start_pos, "end": end_pos}, "text": "chip_count"}]})
    check(errors(c.diagnostics(uri(main))) == [], "a range edit back to `chip_count` clears the error")
    # Breaking the open import (not saved) re-checks its importer: the problem
    # shows at the import line of main.edict.
    open_doc(c, lib, LIB)
    check(errors(c.diagnostics(uri(main))) == [], "opening the imported file re-checks its importer")
    broken = LIB.replace("const LARGE = 256", "const LARGE = ")
    c.notify("textDocument/didChange", {"textDocument": {"uri": uri(lib), "version": 2},
                                        "contentChanges": [{"text": broken}]})
    seen = {}
    for _ in range(2):
        n = c.wait_notification(lambda m: m.get("method") == "textDocument/publishDiagnostics")
        seen[n["params"]["uri"]] = n["params"]["diagnostics"]
    check(errors(seen.get(uri(lib), [])), f"the broken library has an error: {seen.get(uri(lib))}")
    at_import = [d for d in errors(seen.get(uri(main), [])) if d["range"]["start"]["line"] == 0]
    check(at_import and "lib.edict" in at_import[0]["message"],
          f"main.edict shows the library's error at its import: {seen.get(uri(main))}")
    c.close()


def test_utf16_positions():
    # LSP characters are UTF-16 units: an emoji counts two, `é` one.
    text = 'const A: int = len("\U0001F600 \u00e9") + MISSING\n'
    path = write("utf16.edict", text)
    c, _ = initialized()
    diags = errors(open_doc(c, path, text))
    prefix = text[:text.index("MISSING")]
    want = {"line": 0, "character": len(prefix.encode("utf-16-le")) // 2}
    check(len(diags) == 1 and diags[0]["range"]["start"] == want,
          f"the unknown name is at UTF-16 column {want['character']}: {diags}")
    r = at(c, "textDocument/hover", path, want)
    check(r.get("result") is None or "error" not in r, f"hover there is answered: {r}")
    c.close()


def test_hover_definition():
    lib = write("lib.edict", LIB)
    main = write("main.edict", MAIN)
    c, _ = initialized()
    open_doc(c, main, MAIN)
    rule = hover_text(at(c, "textDocument/hover", main, position(MAIN, "big_cluster_d5", 3)))
    for want in ("15 CFR 744.23(a)(3)", "from 2025-01-15 until 2026-01-15", "status `in_force`", "deny"):
        check(want in rule, f"rule hover has `{want}`: {rule!r}")
    cn = hover_text(at(c, "textDocument/hover", main, position(MAIN, '"CN"', 1)))
    check("China" in cn, f"a country literal's hover names the country: {cn!r}")
    row = hover_text(at(c, "textDocument/hover", main, position(MAIN, '"H100"]', 2)))
    check("tpp" in row and "15832" in row.replace("_", "") and "NVIDIA" in row, f"a table lookup shows its row: {row!r}")
    named = hover_text(at(c, "textDocument/hover", main, position(MAIN, '"L4"', 1)))
    check("chips[\"L4\"]" in named and "1936" in named.replace("_", ""),
          f"a string naming a table row (a chip in a set) shows the row: {named!r}")
    field = hover_text(at(c, "textDocument/hover", main, position(MAIN, "chip_count >=", 2)))
    check("int" in field, f"a field's hover shows its type: {field!r}")
    d5 = hover_text(at(c, "textDocument/hover", main, position(MAIN, "in D5", 3)))
    check("set D5" in d5 and "Macao" in d5, f"a set's hover lists its members by name: {d5!r}")

    lib_uri = uri(lib)
    loc = at(c, "textDocument/definition", main, position(MAIN, "LARGE and", 1)).get("result")
    check(loc and loc["uri"] == lib_uri and loc["range"]["start"] == position(LIB, "LARGE"),
          f"definition of LARGE is in lib.edict: {loc}")
    loc = at(c, "textDocument/definition", main, position(MAIN, "chip_count >=", 1)).get("result")
    check(loc and loc["uri"] == lib_uri and loc["range"]["start"] == position(LIB, "chip_count:"),
          f"definition of event.chip_count is the event's field: {loc}")
    loc = at(c, "textDocument/definition", main, position(MAIN, "rental", 1)).get("result")
    check(loc and loc["uri"] == lib_uri and loc["range"]["start"]["line"] == position(LIB, "event rental")["line"],
          f"definition of the event kind: {loc}")
    loc = at(c, "textDocument/definition", main, position(MAIN, "lib.edict", 2)).get("result")
    check(loc and loc["uri"] == lib_uri, f"definition of an import is the file: {loc}")
    bare_text = 'import "lib.edict"\n\nrule bare on rental\n  cite "x"\n  deny\n'
    bare = write("bare.edict", bare_text)
    open_doc(c, bare, bare_text)
    text = hover_text(at(c, "textDocument/hover", bare, position(bare_text, "bare on", 1)))
    check("**effective** always" in text and "no `policy` declaration" in text,
          f"a rule of a file without `policy`: always effective, no status claimed: {text!r}")
    open_doc(c, lib, LIB)
    decl = hover_text(at(c, "textDocument/hover", lib, position(LIB, "chip_count: int", 2)))
    check("field rental.chip_count: int" in decl, f"hover on a field's declaration shows its type: {decl!r}")
    none = at(c, "textDocument/hover", main, {"line": 5, "character": 0})
    check("error" not in none, f"hover on a blank line is no error: {none}")
    c.close()


def test_completion_symbols_formatting():
    write("lib.edict", LIB)
    main = write("main.edict", MAIN)
    c, _ = initialized()
    open_doc(c, main, MAIN)
    labels = lambda r: {i["label"]: i for i in (r.get("result") or {}).get("items", [])}  # noqa: E731
    fields = labels(at(c, "textDocument/completion", main, position(MAIN, "chip_count >=")))
    check("chip_count" in fields and "customer_hq" in fields and "when" not in fields,
          f"after `event.`: the event's fields only: {sorted(fields)[:12]}")
    countries = labels(at(c, "textDocument/completion", main, position(MAIN, '"CN"', 1)))
    check(countries.get("CN", {}).get("detail") == "China" and "DE" in countries and "H100" in countries,
          f"inside a string: country codes with names, and table keys: {countries.get('CN')}")
    general = labels(at(c, "textDocument/completion", main, position(MAIN, "LARGE and")))
    for want in ("LARGE", "D5", "chips", "when", "unless", "deny", "allow", "starts_with"):
        check(want in general, f"general completion offers `{want}`")

    syms = c.request("textDocument/documentSymbol", {"textDocument": {"uri": uri(main)}}).get("result") or []
    names = [s["name"] for s in syms]
    check(names == ["lib.edict", "Test rules", "big_cluster_d5", "BIG_CHIPS", "h100_to_cn"],
          f"document symbols: {names}")
    rule = syms[2] if len(syms) > 2 else {}
    check(rule.get("selectionRange", {}).get("start") == position(MAIN, "big_cluster_d5"),
          f"a rule symbol selects its name: {rule.get('selectionRange')}")

    messy = MAIN.replace("rule h100_to_cn on rental\n  cite", "rule h100_to_cn on rental\n      cite")
    messy = messy.replace("when event.customer_hq == \"CN\"", "when   event.customer_hq==\"CN\"")
    c.notify("textDocument/didChange", {"textDocument": {"uri": uri(main), "version": 2},
                                        "contentChanges": [{"text": messy}]})
    c.diagnostics(uri(main))
    edits = c.request("textDocument/formatting", {"textDocument": {"uri": uri(main)},
                                                  "options": {"tabSize": 2, "insertSpaces": True}}).get("result")
    fmt = subprocess.run([EDICT, "fmt", "--stdout", write("messy.edict", messy)], capture_output=True, text=True)
    check(edits and len(edits) == 1 and edits[0]["newText"] == fmt.stdout,
          f"formatting gives `edict fmt`'s text: {edits and edits[0]['newText'][:80]!r} vs {fmt.stdout[:80]!r}")
    check(edits and edits[0]["range"]["start"] == {"line": 0, "character": 0}, "the edit replaces the whole document")
    c.notify("textDocument/didChange", {"textDocument": {"uri": uri(main), "version": 3},
                                        "contentChanges": [{"text": MAIN.replace("deny \"H100", "deny \"H100 {")}]})
    c.diagnostics(uri(main))
    r = c.request("textDocument/formatting", {"textDocument": {"uri": uri(main)}, "options": {}})
    check("error" in r and "cannot be formatted" in r["error"]["message"],
          f"a file with syntax errors is not formatted, with a reason: {r}")
    c.close()


def literate_doc():
    rel = os.path.relpath(os.path.join(POLICIES, "common"), os.path.join(WORK, "lit"))
    return f"""# A new rule on large clusters

The rule below reads the chip table and the country groups of the shipped
library. The word rule in this prose is not code.

```edict
import "{rel}/events.edict"
import "{rel}/outcomes.edict.md"
import "{rel}/chips.edict.md"
import "{rel}/country_groups.edict.md"
```

Large clusters for D:5 customers need a license.

```edict
policy "Large clusters (draft)"
  version "draft"
  status proposed

rule large_d5_cluster on rental
  effective 2025-03-01
  cite "15 CFR 744.23(a)(3) (illustrative)"
  license_required "{{event.chip_count}} chips for {{event.customer_hq}}"
  when event.chip_count >= 1000 and event.customer_hq in D5_2026 and (chips[event.chip].tpp otherwise 0) >= 4800
```
"""


def test_literate():
    text = literate_doc()
    path = write("lit/my_rule.edict.md", text)
    c, _ = initialized("--import-path", POLICIES)
    check(errors(open_doc(c, path, text)) == [], "the literate file importing the library has no errors")
    broken = text.replace("event.chip_count >= 1000", "event.chip_cont >= 1000")
    c.notify("textDocument/didChange", {"textDocument": {"uri": uri(path), "version": 2},
                                        "contentChanges": [{"text": broken}]})
    diags = errors(c.diagnostics(uri(path)))
    want = position(broken, "chip_cont >=")
    check(len(diags) == 1 and diags[0]["range"]["start"] == want,
          f"the error is at its markdown line and column {want}: {diags}")
    c.notify("textDocument/didChange", {"textDocument": {"uri": uri(path), "version": 3},
                                        "contentChanges": [{"text": text}]})
    c.diagnostics(uri(path))
    rule = hover_text(at(c, "textDocument/hover", path, position(text, "large_d5_cluster", 2)))
    check("744.23(a)(3) (illustrative)" in rule and "from 2025-03-01" in rule and "status `proposed`" in rule,
          f"rule hover in markdown: {rule!r}")
    prose = at(c, "textDocument/hover", path, position(text, "rule in this prose", 1))
    check(prose.get("result", 0) is None, f"no hover in prose: {prose}")
    loc = at(c, "textDocument/definition", path, position(text, "D5_2026", 1)).get("result")
    groups = os.path.join(POLICIES, "common", "country_groups.edict.md")
    with open(groups) as f:
        groups_text = f.read()
    check(loc and loc["uri"] == uri(groups) and loc["range"]["start"] == position(groups_text, "D5_2026"),
          f"definition across imports lands on the markdown line of the library file: {loc}")
    fields = at(c, "textDocument/completion", path, position(text, "chip_count >=")).get("result") or {}
    check(any(i["label"] == "provider_hq" for i in fields.get("items", [])),
          "completion of the library's event fields in a code block")
    none = at(c, "textDocument/completion", path, position(text, "rule in this prose", 2)).get("result") or {}
    check(not (none.get("items") if isinstance(none, dict) else none), "no completion in prose")
    c.close()


def test_malformed_messages():
    c = start()
    r = c.request("textDocument/hover", {})
    check(r.get("error", {}).get("code") == -32002, f"a request before initialize: {r}")
    c.request("initialize", {"capabilities": {}})
    c.send_raw(b"Content-Length: 9\r\n\r\n{not json")
    c.send_raw(b"X-Nothing: 1\r\n\r\n")
    c.send_raw(b"Content-Length: twelve\r\n\r\n")
    c.send_raw(b"Content-Length: 999999999999\r\n\r\n")
    errs = [c.wait_notification(lambda m: "error" in m and m.get("id") is None)["error"] for _ in range(4)]
    check([e["code"] for e in errs] == [-32700] * 4, f"bad frames and bad JSON get parse errors: {errs}")
    # The server answered before discarding the announced body, which never
    # comes: closing the input ends it.
    c.close()

    c, _ = initialized()
    for message, code in (([1, 2], -32600), ({"jsonrpc": "2.0", "id": 7}, -32600),
                          ({"jsonrpc": "2.0", "id": {"x": 1}, "method": "shutdown"}, -32600)):
        c.send(message)
        e = c.wait_notification(lambda m: "error" in m)
        check(e["error"]["code"] == code, f"{message} gets {code}: {e}")
    r = c.request("no/such/method", {})
    check(r.get("error", {}).get("code") == -32601, f"an unknown method: {r}")
    r = c.request("textDocument/hover", {"textDocument": {"uri": 5}, "position": {"line": "x"}})
    check(r.get("error", {}).get("code") == -32602, f"wrong parameter types: {r}")
    r = c.request("textDocument/hover", {"textDocument": {"uri": uri(os.path.join(WORK, "nope.edict"))},
                                         "position": {"line": 0, "character": 0}})
    check(r.get("error", {}).get("code") == -32803, f"a document that is not open: {r}")
    c.notify("textDocument/didOpen", {"textDocument": {"uri": 3}})  # dropped, no reply
    c.notify("textDocument/didChange", {"textDocument": {"uri": "file:///none"}, "contentChanges": 1})
    path = write("far.edict", "const X = 1\n")
    open_doc(c, path, "const X = 1\n")
    r = at(c, "textDocument/hover", path, {"line": 4000000000, "character": 4000000000})
    check("error" not in r, f"a position past the end is no error: {r}")
    r = c.request("shutdown")
    check("result" in r, "the server still answers after the bad messages")
    c.notify("exit", {})
    check(c.wait_exit() == 0, "and exits with 0")
    c.close()

    c, _ = initialized()
    c.notify("exit", {})
    check(c.wait_exit() == 1, "exit without shutdown ends with status 1")
    c.close()
    c, _ = initialized()
    c.proc.stdin.close()
    check(c.wait_exit() == 1, "end of input ends the server")
    c.close()
    c = start()
    c.send_raw(b"Content-Length: 100\r\n\r\n{\"jsonrpc\"")
    c.proc.stdin.close()
    check(c.wait_exit() == 1, "a body cut short by end of input ends the server")
    c.close()


try:
    status = run_groups([
        ("initialize, shutdown, exit", test_initialize),
        ("diagnostics as you type", test_diagnostics_as_you_type),
        ("UTF-16 positions", test_utf16_positions),
        ("hover and definition", test_hover_definition),
        ("completion, symbols, formatting", test_completion_symbols_formatting),
        ("literate files and the shipped library", test_literate),
        ("malformed messages", test_malformed_messages),
    ])
finally:
    shutil.rmtree(WORK, ignore_errors=True)
sys.exit(status)
