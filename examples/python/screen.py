#!/usr/bin/env python3
"""Screens JSON Lines events with an Edict policy through libedict's C ABI,
using only the standard library (ctypes). Prints, per input line:
    LINE <TAB> DECISION <TAB> FIRED,RULES
and with --explain, after it, two spaces and the decision's explanation: the
JSON of `edict explain --format json` for that event.

    python3 screen.py POLICY.edict EVENTS.jsonl [--lib path/to/libedict.so] [--explain]
"""
import argparse
import ctypes
import sys

OK = 0
EXPLAIN_ALL = 2


def load(path):
    lib = ctypes.CDLL(path)
    p = ctypes.c_void_p
    lib.edict_last_error.restype = ctypes.c_char_p
    lib.edict_policy_compile_file.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(p)]
    lib.edict_policy_free.argtypes = [p]
    lib.edict_evaluator_new.argtypes = [p, ctypes.POINTER(p)]
    lib.edict_evaluator_free.argtypes = [p]
    lib.edict_evaluator_set_explain.argtypes = [p, ctypes.c_int]
    lib.edict_eval_json.argtypes = [p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(p)]
    lib.edict_decision_outcome.argtypes = [p]
    lib.edict_decision_outcome.restype = ctypes.c_char_p
    lib.edict_decision_rule_count.argtypes = [p]
    lib.edict_decision_rule_count.restype = ctypes.c_size_t
    lib.edict_decision_rule_name.argtypes = [p, ctypes.c_size_t]
    lib.edict_decision_rule_name.restype = ctypes.c_char_p
    lib.edict_decision_explanation_json.argtypes = [p]
    lib.edict_decision_explanation_json.restype = ctypes.c_char_p
    return lib


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("policy")
    ap.add_argument("events")
    ap.add_argument("--lib", default="libedict.so")
    ap.add_argument("--explain", action="store_true", help="print each decision's explanation too")
    args = ap.parse_args()
    lib = load(args.lib)

    policy = ctypes.c_void_p()
    if lib.edict_policy_compile_file(args.policy.encode(), 0, ctypes.byref(policy)) != OK:
        sys.stderr.write(lib.edict_last_error().decode() + "\n")
        return 2
    evaluator = ctypes.c_void_p()
    if lib.edict_evaluator_new(policy, ctypes.byref(evaluator)) != OK:
        sys.stderr.write(lib.edict_last_error().decode() + "\n")
        return 1
    if args.explain:
        lib.edict_evaluator_set_explain(evaluator, EXPLAIN_ALL)
    decision = ctypes.c_void_p()
    out = []
    with open(args.events, "rb") as events:
        for number, line in enumerate(events, 1):
            line = line.rstrip(b"\r\n")
            lib.edict_eval_json(evaluator, line, len(line), ctypes.byref(decision))
            rules = [lib.edict_decision_rule_name(decision, i).decode()
                     for i in range(lib.edict_decision_rule_count(decision))]
            out.append("%d\t%s\t%s\n" % (number, lib.edict_decision_outcome(decision).decode(), ",".join(rules)))
            if args.explain:
                # Valid until the evaluator's next evaluation: copied out now.
                out.append("  %s\n" % lib.edict_decision_explanation_json(decision).decode())
    sys.stdout.write("".join(out))
    lib.edict_evaluator_free(evaluator)
    lib.edict_policy_free(policy)
    return 0


if __name__ == "__main__":
    sys.exit(main())
