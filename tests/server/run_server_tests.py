#!/usr/bin/env python3
"""`edict serve` end to end and under faults (issue 17; docs/operations.md).
Each group starts its own server on 127.0.0.1 with a free port (--listen
127.0.0.1:0 --port-file), talks to it with bounded timeouts and stops it
with SIGTERM. Groups:

- endpoints: one event -> one audit record equal to `eval --audit`'s; a JSON
  Lines body -> its records in order (a large one streamed); explain, policy,
  healthz, readyz, metrics (counts match what was sent);
- reload: POST /v1/reload and SIGHUP swap in a changed policy; a broken one
  is refused with its diagnostics (422) and the old version keeps serving;
  windowed aggregates carry over when their shapes are unchanged, and start
  empty (the reply says why) when they change;
- bad requests: malformed JSON (400 + error record), wrong content type
  (415), a body over the limit (413), an unknown path (404);
- expect 100-continue: a client that asks before sending its body is told
  to go on at once (curl asks for large bodies, then waits a second);
- slow client: a client that stops mid-request is cut off after the read
  timeout while others are served;
- too many connections: beyond --threads, 503 + Retry-After, others served;
- disconnect mid-stream: the server keeps serving and every record it sent
  is in the decision log;
- decision log: every answered decision is in the log, rotation by size;
  `eval --replay` finds no difference against the same policy and each
  changed decision against a changed one;
- log schema: a decided event is in its log line as JSON, byte for byte
  (log schema 2); text that is not valid JSON, an error record's event, a
  body with line breaks as a string; text that is not UTF-8 in base64;
  `eval --replay` reads schema 2 and schema 1 logs (events as strings) alike
  and refuses a schema it does not know;
  on a full disk (a 1 MiB tmpfs, as tests/eval's full-disk test mounts)
  503 + Retry-After and no answered decision missing from the log, for
  single events and a streamed batch alike;
- log written directly: a streamed batch's log lines go to the disk with
  O_DIRECT and the log is the records sent, in order, with no padding; on a
  ramfs (which refuses O_DIRECT) the same log through the page cache.

  run_server_tests.py --edict PATH
"""
import base64, contextlib, http.client, json, os, re, shutil, signal, socket, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import ROOT, GEN, check, edict_from_args, mounted, run_groups

POLICY = os.path.join(ROOT, "policies", "reference.edict")
TIMEOUT = 20  # seconds: every wait below is bounded by this


@contextlib.contextmanager
def server(edict, work, *args, policy=POLICY):
    port_file = os.path.join(work, "port")
    if os.path.exists(port_file):
        os.remove(port_file)
    err = open(os.path.join(work, "serve.err"), "wb")
    p = subprocess.Popen([edict, "serve", policy, "--listen", "127.0.0.1:0", "--port-file", port_file, *args],
                         stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not os.path.exists(port_file) and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.05)
        if not os.path.exists(port_file):
            raise RuntimeError(f"the server did not start: {open(err.name).read()}")
        yield p, int(open(port_file).read())
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            check(False, "the server did not stop on SIGTERM")
        err.close()


def request(port, method, path, body=None, ctype="application/json", headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    h = {"Content-Type": ctype} if body is not None else {}
    h.update(headers or {})
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, dict(r.getheaders()), data


def events(n, dirty="0"):
    return subprocess.run([sys.executable, GEN, "-n", str(n), "--seed", "3", "--dirty", dirty],
                          capture_output=True, check=True).stdout


def eval_audit(edict, work, body):
    path = os.path.join(work, "in.jsonl")
    open(path, "wb").write(body)
    return subprocess.run([edict, "eval", "-q", "--audit", "--no-decision-time", POLICY, path],
                          capture_output=True, timeout=120).stdout


def test_endpoints(edict, work):
    body = events(200, dirty="0.05")
    with server(edict, work, "--no-decision-time") as (_, port):
        line = body.splitlines()[2]
        status, _, rec = request(port, "POST", "/v1/decisions", line)
        want = eval_audit(edict, work, line + b"\n")
        check(status == 200 and rec == want, f"one event: {status} {rec[:200]!r} vs eval {want[:200]!r}")
        status, headers, recs = request(port, "POST", "/v1/decisions", body, "application/x-ndjson")
        check(status == 200 and recs == eval_audit(edict, work, body), "JSON Lines records differ from eval's")
        big = events(20000)
        status, headers, recs = request(port, "POST", "/v1/decisions", big, "application/x-ndjson")
        lines = [json.loads(l)["line"] for l in recs.splitlines()]
        check(status == 200 and lines == list(range(1, 20001)), f"large body: {status}, {len(lines)} records")
        check(headers.get("Transfer-Encoding") == "chunked", f"a large body's records not streamed: {headers}")
        status, _, ex = request(port, "POST", "/v1/explain", body.splitlines()[0])
        ex = json.loads(ex) if status == 200 else {}
        check(len(ex.get("rules", [])) == 9 and all("status" in r for r in ex["rules"]),
              f"explain: {status}, not every rule explained: {str(ex)[:300]}")
        status, _, pol = request(port, "GET", "/v1/policy")
        pol = json.loads(pol)
        check(pol["version"] == 1 and len(pol["rules"]) == 9 and pol["policy_hash"] == json.loads(rec)["policy_hash"],
              f"policy: {pol.get('version')}, {len(pol.get('rules', []))} rules")
        check(request(port, "GET", "/healthz")[0] == 200 and request(port, "GET", "/readyz")[0] == 200, "health")
        status, _, metrics = request(port, "GET", "/metrics")
        m = metrics.decode()
        total = sum(int(l.rsplit(" ", 1)[1]) for l in m.splitlines() if l.startswith("edict_decisions_total{"))
        check(total == 1 + 200 + 20000, f"metrics count {total} decisions, sent {1 + 200 + 20000}")
        check('edict_requests_total{endpoint="/v1/decisions",code="200"} 3' in m, "requests by code")
        check("edict_request_duration_seconds_count" in m and "edict_reloads_total" in m, "histogram, reloads")


def test_reload(edict, work):
    shutil.copytree(os.path.join(ROOT, "policies", "common"), os.path.join(work, "common"), dirs_exist_ok=True)
    policy = os.path.join(work, "live.edict")
    original = open(POLICY).read()
    open(policy, "w").write(original)
    line = events(3).splitlines()[2]
    with server(edict, work, policy=policy) as (p, port):
        first = json.loads(request(port, "POST", "/v1/decisions", line)[2])
        open(policy, "w").write(original + "\n// changed\n")
        status, _, body = request(port, "POST", "/v1/reload", b"")
        check(status == 200 and json.loads(body)["version"] == 2, f"reload: {status} {body!r}")
        second = json.loads(request(port, "POST", "/v1/decisions", line)[2])
        check(second["policy_hash"] != first["policy_hash"], "the reloaded policy is not serving")
        open(policy, "w").write(original + "\nrule broken {\n")
        status, _, body = request(port, "POST", "/v1/reload", b"")
        check(status == 422 and "error" in json.loads(body)["diagnostics"], f"broken reload: {status} {body[:300]!r}")
        still = json.loads(request(port, "POST", "/v1/decisions", line)[2])
        check(still["policy_hash"] == second["policy_hash"], "a failed reload replaced the serving version")
        open(policy, "w").write(original + "\n// by SIGHUP\n")
        p.send_signal(signal.SIGHUP)
        deadline, version = time.monotonic() + TIMEOUT, 2
        while version == 2 and time.monotonic() < deadline:
            time.sleep(0.05)
            version = json.loads(request(port, "GET", "/v1/policy")[2])["version"]
        check(version == 3, f"SIGHUP did not reload (version {version})")
        m = request(port, "GET", "/metrics")[2].decode()
        check('edict_reloads_total{result="failed"} 1' in m and 'edict_reloads_total{result="ok"} 3' in m,
              "reload metrics")


DATA_POLICY = """
event ev { time: time, who: string }
data listed: string -> { name: string } from "declared.csv" key "id"
rule hit on ev cite "test: served data" deny "{listed[event.who].name}" when event.who in listed
"""


def test_data_files(edict, work):
    """--data NAME=FILE overrides the declared file; a reload re-reads it;
    a malformed one keeps the old version serving; records name the version."""
    folder = os.path.join(work, "served_data")
    os.makedirs(folder, exist_ok=True)
    policy = os.path.join(folder, "p.edict")
    open(policy, "w").write(DATA_POLICY)
    open(os.path.join(folder, "declared.csv"), "w").write("id,name\nA,Declared\n")
    given = os.path.join(folder, "given.csv")
    open(given, "w").write("id,name\nB,Given\n")
    line = lambda who: json.dumps({"kind": "ev", "id": who, "time": "2024-01-01T00:00:00Z", "who": who})
    decide = lambda who: json.loads(request(port, "POST", "/v1/decisions", line(who))[2])
    with server(edict, work, "--data", f"listed={given}", policy=policy) as (_, port):
        a, b = decide("A"), decide("B")
        check(a["decision"] == "allow" and b["decision"] == "deny" and "Given" in json.dumps(b),
              f"--data did not replace the declared file: {a} {b}")
        check(b["data"]["listed"]["file"] == given, f"the record names another file: {b['data']}")
        first_hash = b["data"]["listed"]["hash"]
        open(given, "w").write("id,name\nA,Given again\n")
        status, _, body = request(port, "POST", "/v1/reload", b"")
        check(status == 200, f"reload with new data: {status} {body!r}")
        a = decide("A")
        check(a["decision"] == "deny" and a["data"]["listed"]["hash"] != first_hash,
              f"the reload did not re-read the --data file: {a}")
        open(given, "w").write('id,name\nA,"Given\n')
        status, _, body = request(port, "POST", "/v1/reload", b"")
        check(status == 422 and "given.csv:2:" in body.decode(), f"a malformed --data file: {status} {body[:300]!r}")
        still = decide("A")
        check(still["decision"] == "deny" and still["data"] == a["data"], "a failed data reload replaced the data")
    p = subprocess.run([edict, "serve", policy, "--listen", "127.0.0.1:0", "--data", "nothing=x.csv"],
                       capture_output=True, text=True, timeout=TIMEOUT)
    check(p.returncode == 2 and "nothing" in p.stderr, f"an unknown source: {p.returncode} {p.stderr!r}")


REPEAT_RULE = """
rule repeat_customer on rental
  cite "test: windows across reloads"
  review
  when (count() over WINDOW by event.customer_id) >= 3
"""


def test_reload_windows(edict, work):
    shutil.copytree(os.path.join(ROOT, "policies", "common"), os.path.join(work, "common"), dirs_exist_ok=True)
    policy = os.path.join(work, "windowed.edict")
    original = open(POLICY).read()
    open(policy, "w").write(original + REPEAT_RULE.replace("WINDOW", "3650d"))
    line = events(1).splitlines()[0]
    decide = lambda: request(port, "POST", "/v1/decisions", line)[2]
    with server(edict, work, policy=policy) as (_, port):
        counted = [decide() for _ in range(2)]  # the customer's count: 1, 2
        check(not any(b"repeat_customer" in r for r in counted), "fired before the third event")
        # Rules change, the aggregates do not: the windows carry over.
        open(policy, "w").write(original + REPEAT_RULE.replace("WINDOW", "3650d") + "\n// edited\n")
        status, _, body = request(port, "POST", "/v1/reload", b"")
        check(status == 200 and json.loads(body).get("windows") == "kept", f"reload, same windows: {body!r}")
        check(b"repeat_customer" in decide(), "the third event after a reload did not see the two before it")
        # The window's length changes: the windows start empty, and say why.
        open(policy, "w").write(original + REPEAT_RULE.replace("WINDOW", "3000d"))
        status, _, body = request(port, "POST", "/v1/reload", b"")
        reply = json.loads(body) if status == 200 else {}
        check(reply.get("windows") == "reset" and "aggregates changed" in reply.get("windows_reset_because", ""),
              f"reload, changed windows: {body!r}")
        check(b"repeat_customer" not in decide(), "changed windows were carried over")


def test_bad_requests(edict, work):
    with server(edict, work, "--max-body-bytes", "4096") as (_, port):
        status, _, body = request(port, "POST", "/v1/decisions", b'{"kind": "rental", "id": ')
        rec = json.loads(body)
        check(status == 400 and rec["reason"] == "invalid_json" and "column" in rec["error"], f"malformed: {status} {body!r}")
        status, _, body = request(port, "POST", "/v1/decisions", b"{}", "text/csv")
        check(status == 415 and json.loads(body)["reason"] == "unsupported_media_type", f"content type: {status}")
        status, _, body = request(port, "POST", "/v1/decisions", b"[" + b"1," * 4000 + b"1]")
        check(status == 413 and json.loads(body)["reason"] == "body_too_large", f"oversized: {status} {body!r}")
        status, _, body = request(port, "GET", "/v2/nothing")
        check(status == 404 and json.loads(body)["reason"] == "not_found", f"unknown path: {status} {body!r}")
        check(request(port, "GET", "/healthz")[0] == 200, "the server stopped serving after bad requests")


def test_expect_continue(edict, work):
    with server(edict, work) as (_, port):
        body = events(2)
        s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        s.sendall(b"POST /v1/decisions HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
                  b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        s.settimeout(3)  # curl waits 1 s before sending anyway; this client does not
        try:
            interim = s.recv(4096)
        except socket.timeout:
            interim = b""
        check(interim.startswith(b"HTTP/1.1 100 Continue\r\n"), f"no 100 Continue before the body: {interim[:60]!r}")
        s.sendall(body)
        s.settimeout(TIMEOUT)
        answer = b""
        while answer.count(b'"decision_id"') < 2 or not answer.endswith(b"}\n"):
            more = s.recv(65536)
            if not more:
                break
            answer += more
        check(answer.startswith(b"HTTP/1.1 200") and answer.count(b'"decision_id"') == 2,
              f"the body after 100 Continue was not decided: {answer[:120]!r}")
        s.close()


def test_slow_client(edict, work):
    with server(edict, work, "--read-timeout-ms", "300") as (_, port):
        s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        s.sendall(b"POST /v1/decisions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        start = time.monotonic()
        check(request(port, "GET", "/healthz")[0] == 200, "others not served while a client is slow")
        data = s.recv(4096)  # the server gives up on it: a 408 (or 400) and the connection closes
        while data and time.monotonic() - start < TIMEOUT:
            more = s.recv(4096)
            if not more:
                break
            data += more
        elapsed = time.monotonic() - start
        check(data.startswith(b"HTTP/1.1 4"), f"a silent client got {data[:60]!r}")
        check(elapsed < 3, f"a silent client held its connection {elapsed:.1f} s (read timeout 0.3 s)")
        s.close()


def test_too_many_connections(edict, work):
    with server(edict, work, "--threads", "2", "--read-timeout-ms", "3000") as (_, port):
        held = [http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT) for _ in range(2)]
        for c in held:  # keep-alive connections hold their workers
            c.request("GET", "/healthz")
            c.getresponse().read()
        status, headers, body = request(port, "GET", "/healthz")
        check(status == 503 and headers.get("Retry-After") and json.loads(body)["reason"] == "too_many_connections",
              f"a third connection: {status} {headers} {body!r}")
        for c in held:
            c.request("POST", "/v1/decisions", body=events(1), headers={"Content-Type": "application/json"})
            check(c.getresponse().status == 200, "held connections not served")
            c.close()
        deadline, status = time.monotonic() + TIMEOUT, 503
        while status != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
            status = request(port, "GET", "/healthz")[0]
        check(status == 200, "connections freed but still refused")


def test_disconnect_and_log(edict, work):
    log = os.path.join(work, "decisions.jsonl")
    for f in os.listdir(work):
        if f.startswith("decisions.jsonl"):
            os.remove(os.path.join(work, f))
    big = events(60000)
    with server(edict, work, "--decision-log", log, "--decision-log-rotate-bytes", "20000") as (_, port):
        s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        s.sendall(b"POST /v1/decisions HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(big) + big)
        s.recv(65536)  # the first records arrive; then the client goes away
        s.close()
        sent = [request(port, "POST", "/v1/decisions", l)[2] for l in events(50).splitlines()]
        check(all(b'"decision"' in r for r in sent), "not serving after a client left mid-stream")
    logged = b""
    rotated = sorted((f for f in os.listdir(work) if f.startswith("decisions.jsonl.")), reverse=True)
    for f in rotated + ["decisions.jsonl"]:
        logged += open(os.path.join(work, f), "rb").read()
    check(1 <= len(rotated) <= 5, f"{len(rotated)} rotated logs (rotating past 20 kB, keeping 5)")
    ids = {json.loads(l)["decision_id"] for l in logged.splitlines()}
    check(all(json.loads(r)["decision_id"] in ids for r in sent), "an answered decision is missing from the log")
    check(logged.endswith(b"\n") and all(l.startswith(b"{") and l.endswith(b"}") for l in logged.splitlines()),
          "a torn record in the log")


def test_replay(edict, work):
    log = os.path.join(work, "replay.jsonl")
    if os.path.exists(log):
        os.remove(log)
    body = events(1500, dirty="0.03")
    with server(edict, work, "--decision-log", log) as (_, port):
        check(request(port, "POST", "/v1/decisions", body, "application/x-ndjson")[0] == 200, "batch refused")
        check(request(port, "POST", "/v1/decisions", body.splitlines()[7])[0] == 200, "one event refused")
    same = subprocess.run([edict, "eval", "--replay", log, POLICY], capture_output=True, timeout=120)
    check(same.returncode == 0 and same.stdout == b"" and b" 0 differ" in same.stderr,
          f"replay against the same policy: {same.returncode} {same.stdout[:300]!r} {same.stderr!r}")
    shutil.copytree(os.path.join(ROOT, "policies", "common"), os.path.join(work, "common"), dirs_exist_ok=True)
    lowered = os.path.join(work, "lowered.edict")
    text = open(POLICY).read()
    check(">= 100_000" in text, "the reference policy's bulk_gpu_hours threshold moved; update this test")
    open(lowered, "w").write(text.replace(">= 100_000", ">= 50_000"))
    other = subprocess.run([edict, "eval", "--replay", log, lowered], capture_output=True, timeout=120)
    diffs = [json.loads(l) for l in other.stdout.splitlines()]
    check(other.returncode == 1 and diffs and all(d["now"]["rules"] == ["bulk_gpu_hours"] or
                                                  "bulk_gpu_hours" in d["now"]["rules"] for d in diffs),
          f"replay against a lowered threshold: {other.returncode} {other.stdout[:300]!r}")
    check(b"logged under another policy hash" in other.stderr, f"policy hash change not said: {other.stderr!r}")


def replay(edict, log, policy=POLICY):
    return subprocess.run([edict, "eval", "--replay", log, policy], capture_output=True, timeout=120)


def test_log_schema(edict, work):
    log = os.path.join(work, "schema.jsonl")
    if os.path.exists(log):
        os.remove(log)
    lines = events(10).splitlines()
    # An `event` key inside the event: replay must take the top-level one.
    nested = b'{"note":{"event":{"kind":"nothing"},"log_schema":9},' + lines[1][1:]
    batch = [lines[0], nested, b'{"kind":"rental",', b'{"kind":"no_such_kind","id":"x"}',
             b'{"kind":"rental","id":"\xff"}', lines[2] + b"\r"]
    pretty = json.dumps(json.loads(lines[3]), indent=2).encode()
    with server(edict, work, "--decision-log", log) as (_, port):
        check(request(port, "POST", "/v1/decisions", b"\n".join(batch) + b"\n", "application/x-ndjson")[0] == 200,
              "batch refused")
        check(request(port, "POST", "/v1/decisions", lines[4])[0] == 200, "one event refused")
        check(request(port, "POST", "/v1/decisions", pretty)[0] == 200, "a pretty-printed event refused")
    logged = open(log, "rb").read().split(b"\n")[:-1]
    if not check(len(logged) == 8, f"{len(logged)} log lines for 8 decisions"):
        return
    recs = [json.loads(l) for l in logged]
    if not check(all(r.get("log_schema") == 2 for r in recs), f"a log line without log_schema 2: {logged[0]!r}"):
        return
    for i, sent in [(0, lines[0]), (1, nested), (5, lines[2]), (6, lines[4])]:
        check(logged[i].endswith(b',"log_schema":2,"event":' + sent + b"}") and isinstance(recs[i]["event"], dict),
              f"log line {i + 1} does not hold its event as JSON as received: {logged[i][-300:]!r}")
    check(recs[2]["event"] == '{"kind":"rental",', f"invalid JSON not logged as a string: {logged[2]!r}")
    check(recs[3]["event"] == '{"kind":"no_such_kind","id":"x"}', f"an error's event not a string: {logged[3]!r}")
    check(base64.b64decode(recs[4].get("event_base64", "")) == batch[4], f"not UTF-8, not base64: {logged[4]!r}")
    check(recs[7]["event"] == pretty.decode(), f"a body with line breaks not logged as a string: {logged[7]!r}")
    now = replay(edict, log)
    check(now.returncode == 0 and b"8 decisions replayed" in now.stderr and b" 0 differ" in now.stderr,
          f"replay of a schema 2 log: {now.returncode} {now.stdout[:300]!r} {now.stderr!r}")
    # The same log as schema 1 wrote it: no log_schema, every event a string.
    old = os.path.join(work, "schema1.jsonl")
    with open(old, "wb") as f:
        for line, rec in zip(logged, recs):
            head = line[:line.index(b',"log_schema":2,')]
            text = line[len(head) + len(b',"log_schema":2,"event":'):-1] if isinstance(rec.get("event"), dict) else None
            if text is not None:
                f.write(head + b',"event":' + json.dumps(text.decode(), ensure_ascii=False).encode() + b"}\n")
            else:
                f.write(head + line[len(head) + len(b',"log_schema":2'):] + b"\n")
    then = replay(edict, old)
    check(then.returncode == 0 and b"8 decisions replayed" in then.stderr and b" 0 differ" in then.stderr,
          f"replay of a schema 1 log: {then.returncode} {then.stdout[:300]!r} {then.stderr!r}")
    changed = os.path.join(work, "changed.jsonl")
    open(changed, "wb").write(re.sub(rb'"event":\{"kind":"\w+"', b'"event":{"kind":"edited"', logged[0]) + b"\n")
    check(replay(edict, changed).returncode == 1, "an edited event in a schema 2 log replayed without a difference")
    future = os.path.join(work, "schema3.jsonl")
    open(future, "wb").write(logged[0].replace(b'"log_schema":2', b'"log_schema":3') + b"\n")
    refused = replay(edict, future)
    check(refused.returncode == 2 and b"line 1 has log_schema 3" in refused.stderr,
          f"an unknown log schema: {refused.returncode} {refused.stderr!r}")


def tmpfs(size="1m"):
    return mounted("tmpfs", "size=" + size, "edict-serve-full-")


def metric(port, name):
    body = request(port, "GET", "/metrics")[2].decode()
    found = re.search(r"^" + name + r" (\S+)$", body, re.M)
    return float(found.group(1)) if found else None


def ramfs():
    """A file system that refuses O_DIRECT (ramfs does; tmpfs takes it since Linux 6.6)."""
    return mounted("ramfs", None, "edict-serve-ramfs-")


def check_streamed_log(edict, work, folder, direct):
    """A streamed batch's log: the records sent, in order, byte for byte, nothing more (no padding)."""
    where = "O_DIRECT" if direct else "a file system refusing O_DIRECT"
    log = os.path.join(folder, "streamed.jsonl")
    body = events(6000, dirty="0.01")
    with server(edict, work, "--decision-log", log, "--decision-log-rotate-bytes", "0") as (_, port):
        request(port, "POST", "/v1/decisions", body.splitlines()[0])  # through the cache: the log's end mid-block
        status, _, got = request(port, "POST", "/v1/decisions", body, "application/x-ndjson")
        direct_bytes = metric(port, "edict_decision_log_direct_bytes_total")
        logged = open(log, "rb").read()
        size_while_serving = os.path.getsize(log)
    records, lines = got.splitlines(), logged.splitlines()[1:]
    check(status == 200 and len(records) == 6000, f"{where}: batch {status}, {len(records)} records")
    check(size_while_serving == len(logged) and b"\0" not in logged and logged.endswith(b"\n"),
          f"{where}: the log holds padding or a torn line")
    check(len(lines) == len(records) and all(l.startswith(r[:-1] + b',"log_schema":2,') for l, r in zip(lines, records)),
          f"{where}: the log's lines are not the records sent, in order")
    if direct:
        check(direct_bytes is not None and direct_bytes > len(logged) / 2,
              f"{where}: only {direct_bytes} of {len(logged)} bytes went directly")
    else:
        check(direct_bytes == 0, f"{where}: {direct_bytes} bytes went directly")
    same = replay(edict, log)
    check(same.returncode == 0 and b" 0 differ" in same.stderr, f"{where}: replay {same.returncode} {same.stderr!r}")


def test_direct_log(edict, work):
    check_streamed_log(edict, work, work, direct=True)
    with ramfs() as mount:
        if check(mount is not None, "cannot mount a ramfs (the README's commands run as root)"):
            check_streamed_log(edict, work, mount, direct=False)


def test_full_disk(edict, work):
    with tmpfs() as mount:
        if not check(mount is not None, "cannot mount a tmpfs (the README's commands run as root)"):
            return
        log = os.path.join(mount, "decisions.jsonl")
        with server(edict, work, "--decision-log", log, "--decision-log-rotate-bytes", "0") as (_, port):
            answered, refused = [], 0
            lines = events(4000).splitlines()
            for l in lines:  # about 700 bytes a record: the 1 MiB disk fills after ~1,500
                status, headers, body = request(port, "POST", "/v1/decisions", l)
                if status == 200:
                    answered.append(json.loads(body)["decision_id"])
                else:
                    refused += 1
                    check(status == 503 and headers.get("Retry-After") and
                          json.loads(body)["reason"] == "decision_log_failed", f"full disk: {status} {body!r}")
                    if refused > 3:
                        break
            check(refused > 0, "the log never filled the 1 MiB disk")
            check(request(port, "GET", "/healthz")[0] == 200, "not serving with a full log disk")
            logged = open(log, "rb").read()
            ids = {json.loads(l)["decision_id"] for l in logged.splitlines()}
            check(all(i in ids for i in answered), "an answered decision is missing from the full log")
            check(logged.endswith(b"\n"), "a torn record at the end of the full log")
    # A streamed batch on a disk that fills mid-way (its groups of lines
    # written by the log's writer thread, about 2 MB each): the records sent
    # before the error are all logged, and the log ends at a whole line.
    with tmpfs("8m") as mount:
        if not check(mount is not None, "cannot mount a tmpfs"):
            return
        log = os.path.join(mount, "decisions.jsonl")
        with server(edict, work, "--decision-log", log, "--decision-log-rotate-bytes", "0") as (_, port):
            status, _, got = request(port, "POST", "/v1/decisions", events(12000), "application/x-ndjson")
            sent = got.splitlines()
            check(status == 200 and sent and json.loads(sent[-1]).get("reason") == "decision_log_failed",
                  f"a streamed batch on a full disk: {status} {got[-300:]!r}")
            check(request(port, "GET", "/healthz")[0] == 200, "not serving with a full log disk")
            logged = open(log, "rb").read()
            ids = {json.loads(l)["decision_id"] for l in logged.splitlines()}
            check(len(sent) > 1000 and all(json.loads(r)["decision_id"] in ids for r in sent[:-1]),
                  f"a streamed decision sent is missing from the full log ({len(sent)} records sent)")
            check(logged.endswith(b"\n") and b"\0" not in logged, "a torn record or padding in the full log")


def main():
    edict = edict_from_args(__doc__)
    groups = [("endpoints", test_endpoints), ("reload", test_reload), ("reload keeps windows", test_reload_windows),
              ("data files given and reloaded", test_data_files),
              ("bad requests", test_bad_requests), ("expect 100-continue", test_expect_continue),
              ("slow client", test_slow_client), ("too many connections", test_too_many_connections),
              ("disconnect mid-stream, log, rotation", test_disconnect_and_log), ("replay", test_replay),
              ("log schema", test_log_schema), ("log written directly, and where it cannot be", test_direct_log),
              ("full disk", test_full_disk)]
    with tempfile.TemporaryDirectory() as work:
        return run_groups([(name, (lambda t: lambda: t(edict, work))(t)) for name, t in groups])


if __name__ == "__main__":
    sys.exit(main())
