#!/usr/bin/env python3
"""The VS Code extension's client (editors/vscode/extension.js) under Node,
with the real vscode-languageclient and a stand-in `vscode` module
(vscode_stub.js), against a real `edict lsp`: see run_vscode_client.js for
what is exercised. VS Code itself is not run: no editor UI, no TextMate
grammar, no extension host. The npm packages are found or installed by
scripts/node_deps.sh; without them the test fails saying why.

  run_vscode_tests.py --edict PATH"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import ROOT, check, edict_from_args, node_modules, summary  # noqa: E402

EDICT = edict_from_args(__doc__)


def main():
    modules, why = node_modules()
    node = shutil.which("node")
    if not check(modules is not None, f"vscode-languageclient is installed or installable: {why}") or \
            not check(node is not None, "`node` is on PATH (scripts/setup.sh installs nodejs)"):
        return summary("")
    work = tempfile.mkdtemp(prefix="edict-vscode-")
    try:
        env = dict(os.environ, NODE_PATH=modules)
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "run_vscode_client.js")
        proc = subprocess.Popen([node, script, EDICT, os.path.join(ROOT, "policies"), work], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=150)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            check(False, "the client run finished within 150 s")
        print(out, end="")
        check(proc.returncode == 0 and "FAIL" not in out, f"the client run passed (exit {proc.returncode})")
        check(out.count("ok: ") >= 18, f"every check ran: {out.count('ok: ')} passed")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summary("the VS Code client ran against edict lsp")


sys.exit(main())
