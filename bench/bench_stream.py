#!/usr/bin/env python3
"""`edict stream` on NATS JetStream over loopback (issue 21): events/s decided
end to end, publish-to-decision latency p50/p99 and the server's CPU share,
for one and two workers, with file and memory storage.

Each run starts its own nats-server (127.0.0.1, free ports, a temporary
store), starts the workers (the reference policy; 8 partitions, split
between them), waits until their consumers exist, then loads the corpus
with `edict publish` (messages of about 64 KiB) while they decide. The rate
is events / (last decision stored - first event published); latency is each
decision message's acknowledgement time minus its event message's publish
time, as the workers measure it; CPU comes from /proc and the children's
resource usage. After each run `edict stream --audit` checks exactly one
decision per event.

  bench_stream.py [--edict build-rel/cli/edict] [-n 500000] [--storage file,memory] [--workers 1,2] [--preload]

--preload stores the corpus first and times the workers alone, from the
first event decided to the last decision stored (latency then includes the
time events waited in the stream).
"""
import argparse, json, os, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
POLICY = os.path.join(ROOT, "policies", "reference.edict")
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def consumers(monitor):
    with urllib.request.urlopen(f"http://127.0.0.1:{monitor}/jsz?consumers=true", timeout=5) as r:
        data = json.load(r)
    return sum(len(s.get("consumer_detail") or []) for a in data.get("account_details", [])
               for s in a.get("stream_detail", []))


def wait_for(pred, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def run_once(edict, corpus, n, storage, workers, partitions, work, preload=False):
    port, monitor = free_port(), free_port()
    url = f"nats://127.0.0.1:{port}"
    store = os.path.join(work, "store")
    shutil.rmtree(store, ignore_errors=True)
    server = subprocess.Popen(["nats-server", "-a", "127.0.0.1", "-p", str(port), "-m", str(monitor), "-js",
                               "-sd", store], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = []
    try:
        wait_for(lambda: urllib.request.urlopen(f"http://127.0.0.1:{monitor}/healthz", timeout=2).status == 200,
                 "nats-server")
        target = ["--server", url, "--partitions", str(partitions), "--storage", storage]
        if preload:  # the whole corpus stored before any worker starts
            pub = subprocess.run([edict, "publish", corpus, *target, "-q"], capture_output=True, text=True)
            if pub.returncode != 0:
                raise RuntimeError("publish failed: " + pub.stderr)
        per = partitions // workers
        for w in range(workers):
            own = f"{w * per}-{(w + 1) * per - 1}" if w < workers - 1 else f"{w * per}-{partitions - 1}"
            procs.append(subprocess.Popen([edict, "stream", POLICY, *target, "--own", own, "--idle-exit-ms", "3000",
                                           "--summary-format", "json"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
        wait_for(lambda: consumers(monitor) == partitions, "the workers' consumers")
        server_cpu0 = cpu_seconds(server.pid)
        t0 = time.time_ns()
        if not preload:
            pub = subprocess.run([edict, "publish", corpus, *target, "-q"], capture_output=True, text=True)
            if pub.returncode != 0:
                raise RuntimeError("publish failed: " + pub.stderr)
        published = time.time_ns()
        summaries, worker_cpu = [], 0.0
        for p in procs:
            _, status, usage = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)
            err = p.stderr.read()
            if p.returncode != 0:
                raise RuntimeError(f"a worker failed ({p.returncode}): {err}")
            summaries.append(json.loads(err.strip().splitlines()[-1]))
            worker_cpu += usage.ru_utime + usage.ru_stime
        server_cpu = cpu_seconds(server.pid) - server_cpu0
        audit = subprocess.run([edict, "stream", "--audit", *target], capture_output=True, text=True)
        end = max(s["last_commit_ns"] for s in summaries)
        if preload:
            t0 = min(s["first_event_ns"] for s in summaries if s["first_event_ns"])
        seconds = (end - t0) / 1e9
        decided = sum(s["events"] for s in summaries)
        return {
            "storage": storage, "workers": workers, "events": decided, "seconds": seconds,
            "events_per_second": n / seconds, "publish_seconds": (published - t0) / 1e9,
            "p50_ms": max(s["latency_ms_p50"] for s in summaries),
            "p99_ms": max(s["latency_ms_p99"] for s in summaries),
            "server_cores": server_cpu / seconds, "worker_cores": worker_cpu / seconds,
            "server_share": server_cpu / (server_cpu + worker_cpu) if server_cpu + worker_cpu else 0,
            "audit_ok": audit.returncode == 0, "audit": audit.stdout.strip(),
        }
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(store, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_edict = os.path.join(ROOT, "build-rel", "cli", "edict")
    if not os.path.exists(default_edict):
        default_edict = os.path.join(ROOT, "build", "cli", "edict")
    ap.add_argument("--edict", default=default_edict)
    ap.add_argument("-n", type=int, default=500_000)
    ap.add_argument("--storage", default="file,memory")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--preload", action="store_true",
                    help="load the corpus first, then time the workers alone (first event decided to last "
                         "decision stored)")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="edict-bench-stream-")
    try:
        corpus = os.path.join(work, "events.jsonl")
        with open(corpus, "wb") as f:
            subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gen_events.py"), "-n", str(args.n),
                            "--seed", "7"], stdout=f, check=True)
        print(f"edict stream on loopback{' (corpus preloaded: workers alone)' if args.preload else ''}: {args.n:,} events ({os.path.getsize(corpus) / 1e6:.0f} MB), reference "
              f"policy, {args.partitions} partitions, messages of ~64 KiB, {os.cpu_count()} cores shared by "
              f"nats-server, the loader and the workers")
        print(f"{'storage':8} {'workers':>7} {'events/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'server cores':>13} "
              f"{'worker cores':>13} {'server share':>13}  audit")
        for storage in args.storage.split(","):
            for workers in (int(w) for w in args.workers.split(",")):
                r = run_once(args.edict, corpus, args.n, storage, workers, args.partitions, work, args.preload)
                print(f"{storage:8} {workers:>7} {r['events_per_second']:>10,.0f} {r['p50_ms']:>8.0f} "
                      f"{r['p99_ms']:>8.0f} {r['server_cores']:>13.2f} {r['worker_cores']:>13.2f} "
                      f"{r['server_share']:>12.0%}  {'exactly once' if r['audit_ok'] else 'FAILED: ' + r['audit']}",
                      flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
