#!/usr/bin/env python3
"""`edict publish` and `edict stream` on NATS JetStream (issue 21;
docs/operations.md, "Scale-out on NATS JetStream"). Each group starts its own
nats-server on 127.0.0.1 with free ports and a temporary store (`-sd`), with
bounded waits, and kills it at the end. After each group, `edict stream
--audit` must find exactly one decision record per event in the streams,
and the records (exported by the audit) must equal a single-process `edict
eval --audit` of the same events apart from `line` (a line's number within
its message, not the file). The policy has a stateful rule (a 30-day sum by
customer); the events include malformed lines (poison: error records).

Groups:
- two workers: four partitions, two workers owning two each;
- SIGKILL: a slow worker killed mid-stream, another started in its place
  resumes from the checkpoints in the key-value store;
- server restart: nats-server stopped and started again mid-stream (file
  storage), the worker rides it out;
- slow worker and back-pressure: events loaded while a slow worker with a
  small --max-ack-pending decides them; the consumers never hold more than
  that unacknowledged (the server's monitoring endpoint says), and a worker
  stopped longer than --ack-wait-ms gets redeliveries it does not decide twice;
- checkpoint claims (a C++ program on the store itself): a worker taking a
  partition over whose claim loses to the owner's save loads and claims
  again, and the old owner's next save reports the new owner;
- takeover: a second worker for the same partitions makes the first stop;
  the audit reports partitions not decided yet;
- claimed partitions (--claim): a worker claims all four; a second and a
  third join and are given partitions the first releases; the first is
  killed mid-stream and the others take its partitions over once its leases
  expire; exactly one decision per event;
- stray deliveries: while workers decide, a test client keeps sending pull
  requests of its own to their consumers with the workers' inboxes as reply
  (deliveries no fetch of theirs asked for, as a request outliving its fetch
  on a loaded machine brings): each is simply the next message in order, and
  nothing crashes (libnats 3.4.1's natsSubscription_Fetch wrote past its
  array then: heap corruption, workers crashed now and then);
- duplicates: streams with a 1 s duplicate window decided a second time
  after it: nothing already stored is sent again; a record stored twice and
  one for an absent event (published by hand) are reported by the audit.

  run_stream_tests.py --edict PATH --checkpoint-race PATH
"""
import contextlib, json, os, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import ROOT, GEN, check, run_groups

POLICY = os.path.join(ROOT, "bench", "stateful_rule.edict")
POLICY_ARGS = [POLICY, "--import-path", os.path.join(ROOT, "policies")]
# Event times span years: no event is late or refused for being ahead of the
# clock, so a partition's windows see what a single process sees.
WINDOW_ARGS = ["--max-lateness", "100000d", "--max-future", "none"]
TIMEOUT = 30  # seconds: every wait below is bounded by this
NATS = shutil.which("nats-server")
STARTED = []  # every worker process, killed at the end of its group if still running


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NatsServer:
    def __init__(self, work):
        self.store = os.path.join(work, "jetstream")
        self.port, self.monitor = free_port(), free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.log = os.path.join(work, "nats.log")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [NATS, "-a", "127.0.0.1", "-p", str(self.port), "-m", str(self.monitor), "-js", "-sd", self.store],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"))
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor}/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("nats-server did not start: " + open(self.log).read()[-2000:])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def jsz(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor}/jsz?consumers=true", timeout=5) as r:
            return json.load(r)

    def consumers(self):
        out = {}
        for account in self.jsz().get("account_details", []):
            for stream in account.get("stream_detail", []):
                for c in stream.get("consumer_detail", []) or []:
                    out[c["name"]] = c
        return out


@contextlib.contextmanager
def nats_server():
    work = tempfile.mkdtemp(prefix="edict-stream-")
    server = NatsServer(work)
    try:
        server.start()
        yield server, work
    finally:
        while STARTED:
            p = STARTED.pop()
            if p.poll() is None:
                p.kill()
                p.wait()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def gen(work, n, dirty="0.02", seed="5"):
    path = os.path.join(work, "events.jsonl")
    with open(path, "wb") as f:
        subprocess.run([sys.executable, GEN, "-n", str(n), "--seed", seed, "--dirty", dirty, "--customers", "300"],
                       stdout=f, check=True)
    return path


def target(server, partitions=4):
    return ["--server", server.url, "--partitions", str(partitions)]


def publish(edict, server, events, *args, partitions=4):
    r = subprocess.run([edict, "publish", events, *target(server, partitions), *args],
                       capture_output=True, text=True, timeout=TIMEOUT)
    check(r.returncode == 0, f"publish exits 0 (got {r.returncode}: {r.stderr})")
    return r


def worker(edict, server, *args, partitions=4, err=None):
    STARTED.append(subprocess.Popen([edict, "stream", *POLICY_ARGS, *WINDOW_ARGS, "--no-decision-time",
                             *target(server, partitions), *args],
                            stdout=subprocess.DEVNULL, stderr=err or subprocess.PIPE, text=True))
    return STARTED[-1]


def finish(p, what):
    try:
        _, err = p.communicate(timeout=TIMEOUT * 2)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        check(False, f"{what}: the worker did not stop")
        return ""
    check(p.returncode == 0, f"{what}: the worker exits 0 (got {p.returncode}: {err})")
    return err or ""


def audit(edict, server, work, partitions=4):
    export = os.path.join(work, "exported.jsonl")
    r = subprocess.run([edict, "stream", "--audit", "--export", export, *target(server, partitions)],
                       capture_output=True, text=True, timeout=TIMEOUT)
    return r, export


def without_line(text):
    out = []
    for line in text.splitlines():
        if line.strip():
            record = json.loads(line)
            record.pop("line", None)
            out.append(json.dumps(record, sort_keys=True))
    return sorted(out)


def eval_records(edict, events):
    r = subprocess.run([edict, "eval", "--audit", "--no-decision-time", *WINDOW_ARGS, "-q", *POLICY_ARGS, events],
                       capture_output=True, text=True, timeout=TIMEOUT)
    check(r.returncode in (0, 3), f"eval exits 0 or 3 (got {r.returncode}: {r.stderr})")
    return r.stdout


def check_exactly_once(edict, server, work, events, what, partitions=4):
    """The audit passes and the records equal eval's; returns the records."""
    r, export = audit(edict, server, work, partitions)
    lines = sum(1 for _ in open(events, "rb"))
    check(r.returncode == 0, f"{what}: the audit passes (got {r.returncode}: {r.stdout}{r.stderr})")
    check(f"{lines} events" in r.stdout and f"{lines} events decided exactly once" in r.stdout,
          f"{what}: the audit counts {lines} events decided once: {r.stdout}")
    if not os.path.exists(export):
        check(False, f"{what}: the audit wrote no export")
        return []
    got = without_line(open(export).read())
    want = without_line(eval_records(edict, events))
    check(len(got) == len(want) == lines, f"{what}: {len(got)} records from the stream, {len(want)} from eval, "
          f"{lines} events")
    if got != want:
        diff = next((g, w) for g, w in zip(got + [""] * len(want), want + [""] * len(got)) if g != w)
        check(False, f"{what}: the stream's records equal eval's; first difference:\n  {diff[0]}\n  {diff[1]}")
    return got


def decided_so_far(edict, server, work):
    r, _ = audit(edict, server, work)
    for word in r.stdout.split(";"):
        if "decided exactly once" in word:
            return int(word.split()[0])
    return 0


def test_two_workers(edict):
    with nats_server() as (server, work):
        events = gen(work, 4000)
        publish(edict, server, events)
        a = worker(edict, server, "--own", "0-1", "--idle-exit-ms", "1500")
        b = worker(edict, server, "--own", "2,3", "--idle-exit-ms", "1500")
        finish(a, "worker of partitions 0-1")
        finish(b, "worker of partitions 2-3")
        records = check_exactly_once(edict, server, work, events, "two workers")
        parsed = [json.loads(r) for r in records]
        check(any(r["decision"] == "error" and "id" not in r for r in parsed),
              "the poison lines have error records")
        check(any(r.get("reason") == "line_too_long" for r in parsed), "a line too long for a message is decided")
        check(any(rule["name"] == "monthly_gpu_hours" for r in parsed for rule in r.get("rules", [])),
              "the stateful rule fired somewhere")
        # Every event message is acknowledged: nothing waits for redelivery.
        for name, c in server.consumers().items():
            check(c.get("num_ack_pending", -1) == 0 and c.get("num_pending", -1) == 0,
                  f"consumer {name} has nothing pending: {c.get('num_ack_pending')}, {c.get('num_pending')}")
        # Publishing the same file again is dropped by the duplicate window,
        # and a worker over the same streams publishes nothing new.
        r = publish(edict, server, events)
        check("already stored" in r.stderr, f"a repeated load is dropped as duplicates: {r.stderr}")


def test_sigkill(edict):
    with nats_server() as (server, work):
        events = gen(work, 6000, seed="8")
        publish(edict, server, events, "--message-bytes", "4096")
        slow = worker(edict, server, "--fetch-batch", "2", "--pause-per-fetch-ms", "25", "--checkpoint-ms", "50",
                      err=subprocess.DEVNULL)
        deadline = time.monotonic() + TIMEOUT
        while decided_so_far(edict, server, work) < 1000 and time.monotonic() < deadline and slow.poll() is None:
            time.sleep(0.2)
        slow.send_signal(signal.SIGKILL)
        slow.wait()
        before = decided_so_far(edict, server, work)
        check(0 < before < 6000, f"the worker was killed mid-stream ({before} of 6000 events decided)")
        replacement = worker(edict, server, "--idle-exit-ms", "1500")
        err = finish(replacement, "the replacement worker")
        check_exactly_once(edict, server, work, events, "SIGKILL and a replacement")
        check("0 rollbacks" in err, f"the replacement started from the checkpoints without rolling back: {err}")


def test_server_restart(edict):
    with nats_server() as (server, work):
        events = gen(work, 5000, seed="9")
        publish(edict, server, events, "--message-bytes", "4096")
        log = open(os.path.join(work, "worker.err"), "w+")
        w = worker(edict, server, "--fetch-batch", "2", "--pause-per-fetch-ms", "20", "--idle-exit-ms", "3000",
                   err=log)
        deadline = time.monotonic() + TIMEOUT
        while decided_so_far(edict, server, work) < 800 and time.monotonic() < deadline:
            time.sleep(0.2)
        server.stop()
        time.sleep(1.0)
        check(w.poll() is None, "the worker waits while the server is away")
        server.start()
        finish(w, "the worker across a server restart")
        log.seek(0)
        err = log.read()
        log.close()
        check("events in" in err, f"the worker summarised its run: {err[-2000:]}")
        print("  " + err.strip().replace("\n", "\n  ")[-1500:])
        check_exactly_once(edict, server, work, events, "nats-server restarted mid-stream")


def test_back_pressure(edict):
    with nats_server() as (server, work):
        events = gen(work, 5000, seed="10")
        w = worker(edict, server, "--fetch-batch", "2", "--max-ack-pending", "4", "--pause-per-fetch-ms", "10",
                   "--ack-wait-ms", "1000", "--idle-exit-ms", "4000")
        time.sleep(0.5)  # the worker creates the consumers; the load arrives while it works
        publish(edict, server, events, "--message-bytes", "2048", "--max-in-flight", "8")
        most = 0
        stopped = False
        deadline = time.monotonic() + TIMEOUT
        while w.poll() is None and time.monotonic() < deadline:
            consumers = server.consumers()
            most = max([most] + [c.get("num_ack_pending", 0) for c in consumers.values()])
            if not stopped and consumers and decided_so_far(edict, server, work) > 1000:
                # Slower still: stopped past the ack wait, events are redelivered.
                w.send_signal(signal.SIGSTOP)
                time.sleep(1.5)
                w.send_signal(signal.SIGCONT)
                stopped = True
            time.sleep(0.1)
        finish(w, "the slow worker")
        check(stopped, "the slow worker was stopped past its ack wait")
        check(0 < most <= 4, f"no consumer held more than --max-ack-pending 4 unacknowledged (most seen: {most})")
        redelivered = sum(c.get("num_redelivered", 0) for c in server.consumers().values())
        print(f"  most unacknowledged: {most}; redelivered: {redelivered}")
        check_exactly_once(edict, server, work, events, "a slow worker under back-pressure")


def test_takeover_and_audit(edict):
    with nats_server() as (server, work):
        events = gen(work, 2000, seed="11")
        publish(edict, server, events, "--message-bytes", "2048")
        first = worker(edict, server, "--own", "0", "--fetch-batch", "1", "--pause-per-fetch-ms", "40",
                       "--checkpoint-ms", "20")
        time.sleep(2.0)
        second = worker(edict, server, "--own", "0", "--idle-exit-ms", "1500")
        try:
            _, err = first.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            first.kill()
            _, err = first.communicate()
        check(first.returncode == 4 and "new owner" in err,
              f"the first worker stops when another takes its partition (got {first.returncode}: {err})")
        finish(second, "the new owner of partition 0")
        # Partitions 1-3 are not decided yet: the audit says so.
        r, _ = audit(edict, server, work)
        check(r.returncode == 1 and "has no decision records" in r.stdout and "0 undecided" not in r.stdout,
              f"the audit reports undecided events: {r.stdout}")
        finish(worker(edict, server, "--own", "1-3", "--idle-exit-ms", "1500"), "the workers of the others")
        check_exactly_once(edict, server, work, events, "a partition taken over")
        r = subprocess.run([edict, "stream", "--audit", *target(server), "--decisions-stream", "NO_SUCH"],
                           capture_output=True, text=True, timeout=TIMEOUT)
        check(r.returncode == 2 and "NO_SUCH" in r.stderr, f"an absent stream is a clear error: {r.stderr}")
        # Credentials by file only.
        r = subprocess.run([edict, "publish", events, "--server", f"nats://user:secret@127.0.0.1:{server.port}"],
                           capture_output=True, text=True, timeout=TIMEOUT)
        check(r.returncode == 2 and "--creds FILE" in r.stderr, f"credentials in the URL are refused: {r.stderr}")


def raw_publish(server, subject, headers, payload):
    """One message through the NATS text protocol (HPUB), no client library."""
    head = "NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as s:
        s.recv(4096)  # INFO
        body = head.encode() + payload
        s.sendall(b'CONNECT {"verbose":false,"headers":true}\r\n' +
                  f"HPUB {subject} {len(head)} {len(body)}\r\n".encode() + body + b"\r\nPING\r\n")
        reply = b""
        while b"PONG" not in reply:
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk


def claimed(log_path):
    """Partitions a --claim worker's log says it claimed and released, in order."""
    text = open(log_path).read()
    return ([int(w.split()[-1]) for w in text.splitlines() if "claimed partition" in w],
            [int(w.split()[-1]) for w in text.splitlines() if "released partition" in w])


def wait_until(pred, what):
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    check(False, f"timed out waiting until {what}")
    return False


def test_claims(edict):
    with nats_server() as (server, work):
        events = gen(work, 12000, seed="14")
        publish(edict, server, events, "--message-bytes", "2048")
        slow = ["--claim", "--lease-ttl-ms", "2000", "--fetch-batch", "2", "--pause-per-fetch-ms", "40",
                "--checkpoint-ms", "50"]
        logs = {name: os.path.join(work, f"{name}.err") for name in "abc"}
        a = worker(edict, server, *slow, err=open(logs["a"], "w"))
        wait_until(lambda: len(claimed(logs["a"])[0]) == 4, "the first worker claims all four partitions")
        b = worker(edict, server, *slow, "--idle-exit-ms", "3000", err=open(logs["b"], "w"))
        wait_until(lambda: len(claimed(logs["b"])[0]) >= 2, "the second worker is given two partitions")
        check(len(claimed(logs["a"])[1]) == 2, f"the first released two: {open(logs['a']).read()}")
        c = worker(edict, server, *slow, "--idle-exit-ms", "3000", err=open(logs["c"], "w"))
        wait_until(lambda: len(claimed(logs["c"])[0]) >= 1, "the third worker is given a partition")
        decided = decided_so_far(edict, server, work)
        a.send_signal(signal.SIGKILL)
        a.wait()
        check(decided < 12000, f"the first worker was killed mid-stream ({decided} of 12000 decided)")
        finish(b, "the second worker")
        finish(c, "the third worker")
        held_b, held_c = claimed(logs["b"])[0], claimed(logs["c"])[0]
        print(f"  claimed: b {held_b}, c {held_c}; released by a: {claimed(logs['a'])[1]}")
        check(len(held_b) + len(held_c) > 3,
              f"the dead worker's partitions were taken over: b {held_b}, c {held_c}")
        check_exactly_once(edict, server, work, events, "claimed partitions, a worker joining and one killed")


def worker_inboxes(server):
    """{consumer name: the plain `_INBOX.` subjects its worker connection listens on}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{server.monitor}/connz?subs=detail", timeout=5) as r:
        data = json.load(r)
    out = {}
    for c in data.get("connections", []) or []:
        name = c.get("name", "")
        if not name.startswith("edict stream "):
            continue
        for sub in c.get("subscriptions_list_detail", []) or []:
            subject = sub.get("subject", "")
            if subject.startswith("_INBOX.") and "*" not in subject and ">" not in subject:
                out.setdefault(name[len("edict stream "):], []).append(subject)
    return out


def test_stray_deliveries(edict):
    with nats_server() as (server, work):
        events = gen(work, 8000, seed="13")
        publish(edict, server, events, "--message-bytes", "1024")
        w = worker(edict, server, "--idle-exit-ms", "2000", "--checkpoint-ms", "20", "--max-ack-pending", "64")
        sent = 0
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as s:
            s.recv(4096)  # INFO
            s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\n')
            deadline = time.monotonic() + TIMEOUT
            inboxes, refreshed = {}, 0.0
            while w.poll() is None and time.monotonic() < deadline:
                if time.monotonic() - refreshed > 0.2:  # a rollback makes a new inbox
                    inboxes, refreshed = worker_inboxes(server), time.monotonic()
                for consumer, subjects in inboxes.items():
                    for inbox in subjects:
                        body = json.dumps({"batch": 9 + sent % 7, "expires": 40_000_000}).encode()
                        s.sendall(f"PUB $JS.API.CONSUMER.MSG.NEXT.EDICT_EVENTS.{consumer} {inbox} {len(body)}\r\n"
                                  .encode() + body + b"\r\n")
                        sent += 1
                time.sleep(0.003)
        err = finish(w, "a worker receiving deliveries it did not ask for")
        check(sent > 100, f"pull requests were sent to the workers' inboxes ({sent})")
        print(f"  {sent} stray pull requests; {err.strip()[-300:]}")
        check_exactly_once(edict, server, work, events, "stray deliveries")


def test_duplicates(edict):
    with nats_server() as (server, work):
        # Streams that remember message ids for 1 s only.
        events = gen(work, 1000, seed="12")
        publish(edict, server, events, "--duplicate-window", "1")
        finish(worker(edict, server, "--idle-exit-ms", "1000"), "the first pass")
        check_exactly_once(edict, server, work, events, "one pass")
        # A second pass with its own consumers and checkpoints, beyond the
        # window: what the decisions stream already holds is not sent again.
        time.sleep(1.5)
        err = finish(worker(edict, server, "--durable", "again", "--kv-bucket", "AGAIN", "--idle-exit-ms", "1000"),
                     "a second pass beyond the duplicate window")
        check("12 not sent again" in err, f"the second pass sends no record again: {err}")
        check_exactly_once(edict, server, work, events, "a second pass")
        # A record stored twice, and one for an event the stream lacks, are reported.
        record = open(os.path.join(work, "exported.jsonl"), "rb").readline()
        policy = json.loads(record)["policy_hash"]
        for seq in ("1", "99999"):
            raw_publish(server, "edict.decisions.0", {"Edict-Event-Seq": seq, "Edict-Part": "1/1",
                                                      "Edict-Policy-Hash": policy}, record)
        r, _ = audit(edict, server, work)
        check(r.returncode == 1 and "stored twice" in r.stdout and "does not hold" in r.stdout,
              f"the audit reports a record stored twice and one without its event: {r.stdout}")


def test_checkpoint_race(program):
    with nats_server() as (server, _):
        r = subprocess.run([program, server.url], capture_output=True, text=True, timeout=TIMEOUT)
        print("".join("  " + line + "\n" for line in r.stdout.splitlines() if not line.startswith("ok")), end="")
        check(r.returncode == 0 and "all ok" in r.stdout, f"the checkpoint store's claims: {r.stdout}{r.stderr}")


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--edict", required=True)
    ap.add_argument("--checkpoint-race", required=True)
    args = ap.parse_args()
    edict, race = os.path.abspath(args.edict), os.path.abspath(args.checkpoint_race)
    # Stopped by ctest's timeout: the servers and workers are still stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    if not NATS:
        print("FAIL: nats-server is not installed (scripts/setup.sh installs it)")
        return 1
    return run_groups([
        ("two workers, poison lines, duplicates dropped", lambda: test_two_workers(edict)),
        ("SIGKILL mid-stream and a replacement worker", lambda: test_sigkill(edict)),
        ("nats-server restarted mid-stream", lambda: test_server_restart(edict)),
        ("slow worker and back-pressure", lambda: test_back_pressure(edict)),
        ("a takeover's claim retried after the owner saves", lambda: test_checkpoint_race(race)),
        ("takeover of a partition; audit errors", lambda: test_takeover_and_audit(edict)),
        ("duplicates beyond the duplicate window are found", lambda: test_duplicates(edict)),
        ("partitions claimed, rebalanced and taken over", lambda: test_claims(edict)),
        ("deliveries no fetch asked for (the libnats Fetch overflow)", lambda: test_stray_deliveries(edict)),
    ])


if __name__ == "__main__":
    sys.exit(main())
