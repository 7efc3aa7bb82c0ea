"""What the Python test drivers share: the checkout's root, the event
generator, and the failure list that `check` appends to (each driver prints
its own summary from it and exits 1 when it is not empty)."""
import os

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
GEN = os.path.join(ROOT, "bench", "gen_events.py")

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)
    return cond
