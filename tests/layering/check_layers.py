#!/usr/bin/env python3
"""The layers, checked from the #include lines of every C and C++ file.

Each folder below is one library; a file may include headers of its own
library and of the libraries it depends on (directly or through them), never
one above it. Third-party headers stay in the libraries that own them: ANTLR
in the parser, LLVM in the code generator, the JIT and AOT, simdjson in the
decoder and the API, CLI11 in the command line. The build enforces the same direction
(each library exports only its own folder: see the top CMakeLists.txt); this
script says which line breaks it, and also covers headers no build compiles.

  check_layers.py [--root DIR]      exit 1 and one line per violation
"""
import argparse, os, re, sys

# folder -> the folders (libraries) it builds on directly. Lowest first.
LAYERS = {
    "support": [],
    "abi": ["support"],
    "compiler/ast": ["support"],
    "compiler/parse": ["compiler/ast"],
    "compiler/check": ["compiler/ast"],
    "compiler/ir": ["compiler/check", "abi"],
    "compiler/fmt": ["compiler/parse"],
    "compiler/interp": ["compiler/ir", "abi"],
    "compiler/codegen": ["compiler/ir", "abi"],
    "compiler/jit": ["compiler/codegen", "abi"],
    "compiler/aot": ["compiler/codegen", "abi"],
    "data": ["abi"],
    "runtime": ["data"],
    "engine/decode": ["abi"],
    "engine/window": ["compiler/interp", "abi"],
    "engine": ["engine/decode", "engine/window", "compiler/jit", "compiler/parse", "data"],
    "tools": ["engine"],
    "analysis": ["engine"],
    "api": ["engine", "include/edict"],
    "include/edict": [],
    "server": ["engine"],
    "lsp": ["engine", "compiler/fmt"],
    "stream": ["engine"],
    "cli": ["tools", "api", "server", "lsp", "stream", "compiler/aot", "compiler/fmt", "analysis"],
}
# Folders above every layer: they may include anything.
TOP = ("tests", "bench", "examples")
# Third-party headers (by prefix) and the only folders that may include them.
THIRD_PARTY = {
    "antlr4-runtime": ["compiler/parse"],
    "Edict": ["compiler/parse"],  # the ANTLR-generated EdictLexer.h, EdictParser.h, ...
    "llvm/": ["compiler/codegen", "compiler/jit", "compiler/aot"],
    "llvm-c/": ["compiler/codegen", "compiler/jit", "compiler/aot"],
    "simdjson": ["engine/decode", "data", "api"],
    "CLI/": ["cli"],
    "z3": ["analysis"],
    "httplib": ["server"],
    "boost/beast": ["server"],
    "nats/": ["stream"],
    "openssl/": ["data"],
}
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
SOURCE = (".h", ".hpp", ".cpp", ".cc", ".c")


def closure():
    seen = {}
    def walk(f):
        if f not in seen:
            seen[f] = set()
            for d in LAYERS[f]:
                seen[f] |= {d} | walk(d)
        return seen[f]
    for f in LAYERS:
        walk(f)
    return seen


def folder_of(path):
    """The layer folder a project path belongs to (longest match), or None."""
    best = None
    for f in LAYERS:
        if (path == f or path.startswith(f + "/")) and (best is None or len(f) > len(best)):
            best = f
    return best


def check(root):
    below = closure()
    problems = []
    for top, dirs, files in os.walk(root):
        rel_top = os.path.relpath(top, root)
        if rel_top == ".":
            dirs[:] = [d for d in dirs if not d.startswith(".") and not d.startswith("build")]
        for name in files:
            if not name.endswith(SOURCE):
                continue
            rel = os.path.normpath(os.path.join(rel_top, name))
            if rel.startswith(TOP):
                continue
            own = folder_of(rel)
            if own is None:
                problems.append(f"{rel}: not in any layer (add its folder to tests/layering/check_layers.py)")
                continue
            with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
                for number, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    target = m.group(2)
                    for prefix, owners in THIRD_PARTY.items():
                        if target.startswith(prefix) and own not in owners:
                            problems.append(f"{rel}:{number}: includes <{target}>, which only "
                                            f"{' and '.join(owners)} may use")
                    if m.group(1) != '"':
                        continue
                    if "/" not in target:
                        continue  # generated headers beside their users (checked above)
                    if target.startswith("edict/"):
                        target = "include/" + target  # the public headers, include/edict/
                    dest = folder_of(os.path.normpath(target))
                    if dest is None:
                        problems.append(f"{rel}:{number}: includes \"{target}\", which is in no layer")
                    elif dest != own and dest not in below[own]:
                        problems.append(f"{rel}:{number}: {own} includes \"{target}\" from {dest}, "
                                        f"which is not below it")
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    root = os.path.abspath(ap.parse_args().root)
    problems = check(root)
    for p in problems:
        print(p)
    print(f"layering: {len(problems)} include(s) against the layers")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
