"""A scripted Language Server Protocol client for the tests: starts
`edict lsp`, frames JSON-RPC messages, and waits (bounded) for replies and
notifications. Stdlib only."""
import json
import os
import queue
import subprocess
import threading
import time


class LspClient:
    def __init__(self, argv, cwd=None, timeout=20.0):
        self.timeout = timeout
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, cwd=cwd)
        self.messages = queue.Queue()
        self.notifications = []
        self.next_id = 1
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        out = self.proc.stdout
        try:
            while True:
                length = None
                while True:
                    line = out.readline()
                    if not line:
                        self.messages.put(None)
                        return
                    line = line.strip()
                    if not line:
                        break
                    name, _, value = line.decode().partition(":")
                    if name.lower() == "content-length":
                        length = int(value.strip())
                body = out.read(length)
                self.messages.put(json.loads(body))
        except Exception as e:  # a broken frame from the server is a failure the tests see
            self.messages.put({"client_error": repr(e)})

    def send_raw(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, message):
        body = json.dumps(message).encode()
        self.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def next_message(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no message from the server in time")
        m = self.messages.get(timeout=left)
        if m is None:
            raise EOFError("the server closed its output")
        return m

    def wait_reply(self, rid):
        deadline = time.monotonic() + self.timeout
        while True:
            m = self.next_message(deadline)
            if m.get("id") == rid and ("result" in m or "error" in m):
                return m
            if "method" in m:
                self.notifications.append(m)
            elif m.get("id") is None and "error" in m:
                self.notifications.append(m)  # an error about a message without an id

    def request(self, method, params=None):
        rid = self.next_id
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params or {}})
        return self.wait_reply(rid)

    def wait_notification(self, predicate):
        """The first notification (kept or new) that satisfies predicate; consumes it."""
        deadline = time.monotonic() + self.timeout
        while True:
            for i, n in enumerate(self.notifications):
                if predicate(n):
                    return self.notifications.pop(i)
            self.notifications.append(self.next_message(deadline))

    def diagnostics(self, uri):
        n = self.wait_notification(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                                   and m["params"]["uri"] == uri)
        return n["params"]["diagnostics"]

    def wait_exit(self):
        try:
            return self.proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            if self.wait_exit() is None:
                return
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


def uri(path):
    from urllib.parse import quote
    return "file://" + quote(os.path.abspath(path))


def position(text, needle, shift=0, nth=0):
    """LSP position of the start of the nth `needle` in text, moved `shift`
    characters right (ASCII text: characters are UTF-16 units)."""
    at = -1
    for _ in range(nth + 1):
        at = text.index(needle, at + 1)
    at += shift
    line = text.count("\n", 0, at)
    return {"line": line, "character": at - (text.rfind("\n", 0, at) + 1)}
