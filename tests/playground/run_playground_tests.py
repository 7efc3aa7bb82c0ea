#!/usr/bin/env python3
"""`edict playground`: its HTTP endpoints (check, test, explain, diff, with
size limits and refusals), and the page itself in headless Chromium: the page
loads, a broken policy shows its diagnostic at its place in the editor, an
event shows its decision, explanation tree and citations, the tests and the
diff of two versions run. Then a real browser session (browser_session.js,
puppeteer-core over the same Chromium, found or installed by
scripts/node_deps.sh): typing into the editor, running tests, pasting an
event, diffing, a literate policy. The test starts and stops the server
(127.0.0.1, any free port) and Chromium itself, each bounded.

  run_playground_tests.py --edict PATH [--chromium PATH] [--screenshots DIR]

--screenshots DIR also writes the PNGs the docs show (docs/playground-*.png)."""
import argparse
import base64
import html.parser
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import ROOT, check, node_modules, run_groups  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--edict", required=True)
ap.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
ap.add_argument("--screenshots")
ARGS = ap.parse_args()
EDICT = os.path.abspath(ARGS.edict)
WORK = tempfile.mkdtemp(prefix="edict-playground-")
LIBRARY = os.path.join(ROOT, "policies")

POLICY = """import "common/events.edict"
import "common/outcomes.edict.md"
import "common/country_groups.edict.md"
import "common/examples.edict.md"

policy "Playground test"
  version "1"
  status proposed

rule large_d5_cluster on rental
  effective 2025-03-01
  cite "15 CFR 744.23(a)(3) (playground test)"
  license_required "{event.chip_count} chips for {event.customer_hq}"
  when event.chip_count >= 1000 and event.customer_hq in D5_2026

test "large D:5 cluster" {
  given us_rental with { time: 2025-06-03T12:00:00Z, customer_hq: "CN", parent_hq: "CN", chip_count: 2048 }
  expect license_required by large_d5_cluster
  given us_rental
  expect no_license_required
}
"""

EVENT = {"kind": "rental", "id": "r-1", "time": "2025-06-01T09:00:00Z", "provider": "ExampleCloud",
         "provider_hq": "US", "provider_parent_hq": "US", "datacenter": "MY", "region": "my-1",
         "customer_id": "c-1", "customer_name": "Example Labs", "customer_hq": "CN", "parent_hq": "CN",
         "chip": "H100-SXM5-80GB", "chip_count": 2048, "hours": 720, "purpose": "training",
         "training_ops": 1e24, "training_data": "general", "end_user_type": "commercial", "end_use": "civil",
         "entity_listed": False, "listed_ownership": 0}


class Playground:
    def __init__(self, *extra):
        port_file = os.path.join(WORK, "port")
        if os.path.exists(port_file):
            os.remove(port_file)
        self.proc = subprocess.Popen([EDICT, "playground", "--library", LIBRARY, "--port", "0",
                                      "--port-file", port_file, *extra], stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the playground did not start: " + self.proc.stderr.read().decode())
            time.sleep(0.05)
        with open(port_file) as f:
            self.base = "http://127.0.0.1:%d" % int(f.read())

    def post(self, endpoint, body, raw=None):
        data = raw if raw is not None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + "/api/" + endpoint, data=data,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            body = e.read()
            try:
                return e.code, json.loads(body)
            except ValueError:
                return e.code, {"raw": body.decode(errors="replace")}

    def get(self, path):
        with urllib.request.urlopen(self.base + path, timeout=30) as r:
            return r.status, r.headers, r.read()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = None
        self.proc.stderr.close()
        return code


def state_url(server, **state):
    frag = "&".join(f"{k}={base64.urlsafe_b64encode(v.encode()).decode().rstrip('=')}" if k != "run" else f"run={v}"
                    for k, v in state.items())
    return server.base + "/#" + frag


def chromium(args, timeout=90):
    profile = tempfile.mkdtemp(prefix="chromium-", dir=WORK)
    argv = [ARGS.chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-extensions", "--disable-background-networking", "--disable-sync",
            "--user-data-dir=" + profile, "--window-size=1400,1000", *args]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None
    return out.decode(errors="replace")


def dom(url, budget=15000):
    return chromium(["--virtual-time-budget=%d" % budget, "--dump-dom", url])


class Elements(html.parser.HTMLParser):
    """Start tags with their attributes, and the text under each id'd element."""
    def __init__(self, text):
        super().__init__()
        self.tags = []
        self.text = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def find(self, tag, **want):
        return [a for t, a in self.tags if t == tag and all(
            (v in a.get(k.rstrip("_"), "").split()) if k == "class_" else a.get(k) == v for k, v in want.items())]

    def all_text(self):
        return "".join(self.text)


SERVER = None


def test_endpoints():
    s = SERVER
    status, headers, body = s.get("/")
    check(status == 200 and b"playground.js" in body, "the page is served")
    check("default-src 'self'" in headers.get("Content-Security-Policy", ""), "the page may load nothing from elsewhere")
    for asset in ("/playground.js", "/playground.css"):
        check(s.get(asset)[0] == 200, f"{asset} is served")
    check(b"http" not in s.get("/")[2].replace(b"http-equiv", b""), "the page names no outside address")
    code, lib = s.post("check", {"policy": POLICY})
    check(code == 200 and lib["ok"] and [d for d in lib["diagnostics"] if d["severity"] == "error"] == [],
          f"the policy checks: {lib}")
    broken = POLICY.replace("event.chip_count >=", "event.chip_cont >=")
    code, r = s.post("check", {"policy": broken})
    errs = [d for d in r.get("diagnostics", []) if d["severity"] == "error"]
    line = broken.count("\n", 0, broken.index("chip_cont")) + 1
    check(not r.get("ok") and len(errs) == 1 and errs[0]["line"] == line and errs[0]["file"] == "playground.edict",
          f"a misspelt field is one error at line {line}: {errs}")
    code, r = s.post("test", {"policy": POLICY})
    check(code == 200 and r.get("ok") and len(r["steps"]) == 2 and r["failed"] == 0, f"the tests run and pass: {r}")
    code, r = s.post("test", {"policy": POLICY.replace("expect no_license_required", "expect license_required")})
    check(code == 200 and r.get("failed") == 1, f"a wrong expectation fails its step: {r.get('failed')}")
    code, r = s.post("explain", {"policy": POLICY, "events": json.dumps(EVENT)})
    ev = (r.get("events") or [{}])[0]
    x = ev.get("explanation", {})
    check(code == 200 and x.get("decision") == "license_required", f"the event's decision: {x.get('decision')}")
    fired = [rule for rule in x.get("rules", []) if rule["status"] == "fired"]
    check(fired and fired[0]["cite"] == "15 CFR 744.23(a)(3) (playground test)", f"the fired rule's citation: {fired}")
    check("event.chip_count" in ev.get("text", "") and "2048" in ev.get("text", ""),
          f"the explanation tree shows the values: {ev.get('text', '')[:300]!r}")
    small = dict(EVENT, id="r-2", chip_count=600)
    log = json.dumps(EVENT) + "\n" + json.dumps(small) + "\n"
    code, r = s.post("diff", {"old": POLICY, "new": POLICY.replace(">= 1000", ">= 500"), "events": log})
    check(code == 200 and r.get("events") == 2 and r.get("changed") == 1, f"the diff finds one change: {r}")
    check(r.get("records") and r["records"][0].get("id") == "r-2", f"the changed event is r-2: {r.get('records')}")


def test_refusals():
    s = SERVER
    code, r = s.post("check", None, raw=b"{not json")
    check(code == 400 and "JSON" in r.get("error", ""), f"a body that is not JSON: {code} {r}")
    code, r = s.post("check", {"policy": 5})
    check(code == 400, f"a policy that is not a string: {code} {r}")
    code, r = s.post("nothing", {"policy": ""})
    check(code == 404, f"an unknown endpoint: {code}")
    code, r = s.post("check", None, raw=b'{"policy": "' + b"x" * (3 << 20) + b'"}')
    check(code == 413, f"a body over the size limit: {code}")
    code, r = s.post("check", {"policy": "const X = 1\n" * 30000})
    check(code == 400 and "larger than" in r.get("error", ""), f"a policy over the size limit: {code} {r}")
    code, r = s.post("check", {"policy": 'import "../README.md"\n'})
    errs = [d for d in r.get("diagnostics", []) if d["severity"] == "error"]
    check(errs and "outside" in errs[0]["message"], f"an import outside the library is refused: {errs}")
    code, r = s.post("check", {"policy": 'import "/etc/passwd"\n'})
    errs = [d for d in r.get("diagnostics", []) if d["severity"] == "error"]
    check(errs and "outside" in errs[0]["message"], f"an absolute import outside the library is refused: {errs}")
    data = ('data sanctioned: string -> { name: string } from "/etc/passwd" key "name"\n')
    code, r = s.post("check", {"policy": data})
    check(not r.get("ok") and any("data" in d["message"] for d in r.get("diagnostics", [])),
          f"a data source (a file to read) is refused: {r}")
    code, r = s.post("explain", {"policy": POLICY, "events": ""})
    check(code == 400, f"no event to explain: {code} {r}")


LITERATE = """# A draft rule

Prose the compiler skips.

```edict
""" + POLICY.replace("\ntest ", "```\n\nThe rule's test:\n\n```edict\ntest ") + "```\n"


def test_literate():
    s = SERVER
    code, r = s.post("check", {"policy": LITERATE})
    check(code == 200 and r.get("ok") and r.get("file") == "playground.edict.md",
          f"a policy with ```edict blocks is checked as playground.edict.md: {r}")
    broken = LITERATE.replace("event.chip_count >=", "event.chip_cont >=")
    code, r = s.post("check", {"policy": broken})
    errs = [d for d in r.get("diagnostics", []) if d["severity"] == "error"]
    line = broken.count("\n", 0, broken.index("chip_cont")) + 1
    check(len(errs) == 1 and errs[0]["file"] == "playground.edict.md" and errs[0]["line"] == line,
          f"its mistake is one error at its line in the markdown, {line}: {errs}")
    code, r = s.post("test", {"policy": LITERATE})
    given = LITERATE.count("\n", 0, LITERATE.index("given us_rental with")) + 1
    check(code == 200 and r.get("ok") and r.get("failed") == 0 and [st["line"] for st in r["steps"]][:1] == [given],
          f"its tests run, steps at their markdown lines ({given}): {r}")
    code, r = s.post("explain", {"policy": LITERATE, "events": json.dumps(EVENT)})
    decision = ((r.get("events") or [{}])[0].get("explanation") or {}).get("decision")
    check(code == 200 and decision == "license_required", f"it explains an event: {code} {decision}")
    small = dict(EVENT, id="r-2", chip_count=600)
    code, r = s.post("diff", {"old": LITERATE, "new": LITERATE.replace(">= 1000", ">= 500"),
                              "events": json.dumps(EVENT) + "\n" + json.dumps(small)})
    check(code == 200 and r.get("changed") == 1, f"two literate versions diff: {r}")
    code, r = s.post("check", {"policy": LITERATE, "literate": False})
    check(code == 200 and r.get("file") == "playground.edict" and not r.get("ok"),
          f"`literate: false` compiles markdown as plain Edict, which it is not: {r.get('file')} {r.get('ok')}")
    code, r = s.post("check", {"policy": LITERATE, "literate": "yes"})
    check(code == 400 and "literate" in r.get("error", ""), f"`literate` must be a boolean: {code} {r}")
    code, r = s.post("check", {"policy": POLICY})
    check(r.get("file") == "playground.edict", f"plain text stays playground.edict: {r.get('file')}")


def runaway_tests(steps):
    """A policy whose one test has `steps` steps, each evaluating an event."""
    body = "  given us_rental\n  expect no_license_required\n" * steps
    return POLICY.split("test ")[0] + 'test "many steps" {\n' + body + "}\n"


def test_time_limit():
    # A server whose requests may take no time at all stops before the first event.
    quick = Playground("--time-limit", "0")
    try:
        code, r = quick.post("explain", {"policy": POLICY, "events": json.dumps(EVENT)})
        check(code == 400 and "took longer than the limit" in r.get("error", "") and "after 0 of 1" in r["error"],
              f"a request past its time limit stops with a reason: {code} {r}")
        code, r = quick.post("check", {"policy": POLICY})
        check(code == 200 and r.get("ok"), f"checking evaluates nothing and is not cut short: {code}")
        code, r = quick.post("test", {"policy": POLICY})
        check(code == 400 and "the tests took longer than the limit of 0 s, after 1 of 2 steps" in r.get("error", ""),
              f"tests past the limit stop after the step that crossed it: {code} {r}")
    finally:
        check(quick.stop() == 0, "the second server stops on SIGTERM")
    # A runaway test: far more steps than a short limit allows. The request
    # ends soon after the limit, saying how far it got; the same tests under
    # the default limit run to the end, so the cut is the limit's doing.
    many = runaway_tests(5000)
    bounded = Playground("--time-limit", "0.05")
    try:
        started = time.monotonic()
        code, r = bounded.post("test", {"policy": many})
        took = time.monotonic() - started
        error = r.get("error", "")
        check(code == 400 and "the tests took longer than the limit of 0.05 s, after " in error
              and " of 5000 steps" in error, f"a runaway test request is cut off with a reason: {code} {r}")
        print(f"  runaway tests cut off after {took:.2f} s ({error})")
        code, r = bounded.post("check", {"policy": many})
        check(code == 200 and r.get("ok"), f"the runaway policy itself checks: {code}")
    finally:
        check(bounded.stop() == 0, "the bounded server stops on SIGTERM")
    started = time.monotonic()
    code, r = SERVER.post("test", {"policy": many})
    full = time.monotonic() - started
    check(code == 200 and len(r.get("steps", [])) == 5000 and r.get("failed") == 0,
          f"under the default limit all 5000 steps run: {code} {r.get('error')}")
    print(f"  5000 steps in {full:.2f} s under the default limit")
    check(full > 0.1, f"the runaway tests take over twice the 0.05 s limit ({full:.2f} s), so the cut is real")


def test_browser_page_loads():
    text = dom(SERVER.base + "/")
    check(text is not None, "chromium finished within its time limit")
    page = Elements(text or "")
    check(page.find("body", **{"data-ready": "1"}), "the page ran its start-up (checked the default policy)")
    check(page.find("span", id="line-1"), "the editor shows line numbers")
    check("no problems" in page.all_text(), "the default policy checks clean")
    check(len(page.find("option")) > 5, "the library's files are listed for import")


def test_browser_diagnostic_at_its_place():
    broken = POLICY.replace("event.chip_count >=", "event.chip_cont >=")
    line = broken.count("\n", 0, broken.index("chip_cont")) + 1
    column = broken.index("chip_cont") - broken.rfind("\n", 0, broken.index("chip_cont"))
    text = dom(state_url(SERVER, policy=broken))
    page = Elements(text or "")
    marks = page.find("mark", class_="error")
    check(len(marks) == 1 and marks[0].get("data-line") == str(line) and marks[0].get("data-column") == str(column),
          f"the editor marks the error at {line}:{column}: {marks}")
    items = page.find("li", class_="error")
    check(len(items) == 1 and items[0].get("data-line") == str(line), f"the diagnostic list names it: {items}")
    check(page.find("span", id=f"line-{line}", class_="error"), f"line {line}'s number is flagged")
    check("chip_count" in page.all_text(), "the message suggests chip_count")


def test_browser_explanation():
    text = dom(state_url(SERVER, policy=POLICY, event=json.dumps(EVENT), run="explain"))
    page = Elements(text or "")
    check(page.find("div", class_="explanation", **{"data-decision": "license_required"}),
          "the event's decision is shown")
    all_text = page.all_text()
    check("15 CFR 744.23(a)(3) (playground test)" in all_text, "with the rule's citation")
    check("event.chip_count >= 1000" in all_text and "2048" in all_text, "and the explanation tree with values")
    text = dom(state_url(SERVER, policy=POLICY, run="test"))
    check("2 of 2 steps passed" in Elements(text or "").all_text(), "the tests run from the page")
    small = dict(EVENT, id="r-2", chip_count=600)
    text = dom(state_url(SERVER, policy=POLICY, new=POLICY.replace(">= 1000", ">= 500"),
                         log=json.dumps(EVENT) + "\n" + json.dumps(small), run="diff"))
    check("1 of 2 events change" in Elements(text or "").all_text(), "the diff runs from the page")


def test_screenshots():
    folder = ARGS.screenshots or WORK
    shots = {
        "playground-explain.png": state_url(SERVER, policy=POLICY, event=json.dumps(EVENT), run="explain"),
        "playground-diagnostic.png": state_url(SERVER, policy=POLICY.replace("event.chip_count >=",
                                                                             "event.chip_cont >=")),
    }
    for name, url in shots.items():
        path = os.path.join(folder, name)
        if os.path.exists(path):
            os.remove(path)
        chromium(["--virtual-time-budget=15000", "--hide-scrollbars", "--screenshot=" + path, url], timeout=90)
        ok = os.path.exists(path) and os.path.getsize(path) > 10000
        check(ok, f"chromium wrote the screenshot {path}")
        if ok:
            with open(path, "rb") as f:
                check(f.read(8) == b"\x89PNG\r\n\x1a\n", f"{name} is a PNG")


def test_browser_session():
    modules, why = node_modules()
    if not check(modules is not None, f"puppeteer-core is installed or installable: {why}"):
        return
    node = shutil.which("node")
    if not check(node is not None, "`node` is on PATH (scripts/setup.sh installs nodejs)"):
        return
    profile = tempfile.mkdtemp(prefix="puppeteer-", dir=WORK)
    argv = [node, os.path.join(os.path.dirname(os.path.abspath(__file__)), "browser_session.js"), modules,
            ARGS.chromium, SERVER.base, profile]
    if ARGS.screenshots:
        argv.append(ARGS.screenshots)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        # SIGTERM first: puppeteer closes its browser on it.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        check(False, "the browser session finished within 180 s")
    for line in out.splitlines():
        print("  " + line)
    check(proc.returncode == 0 and "FAIL" not in out, f"the browser session passed (exit {proc.returncode})")
    check(out.count("ok: ") >= 20, f"the browser session ran its checks: {out.count('ok: ')} passed")


try:
    SERVER = Playground()
    status = run_groups([
        ("endpoints", test_endpoints),
        ("refusals", test_refusals),
        ("literate markdown", test_literate),
        ("time limit", test_time_limit),
        ("browser: the page loads", test_browser_page_loads),
        ("browser: a diagnostic at its place", test_browser_diagnostic_at_its_place),
        ("browser: explanation, tests, diff", test_browser_explanation),
        ("browser: screenshots", test_screenshots),
        ("browser session (puppeteer-core): type, test, paste, diff, literate", test_browser_session),
    ])
    code = SERVER.stop()
    SERVER = None
    if code != 0:
        print(f"FAIL: the playground stopped with {code} on SIGTERM")
        status = 1
finally:
    if SERVER:
        SERVER.stop()
    shutil.rmtree(WORK, ignore_errors=True)
sys.exit(status)
