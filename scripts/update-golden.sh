#!/usr/bin/env bash
# Rewrites every golden file from the current build, for review with `git diff`:
# tests/golden/diagnostics/*.expected and tests/golden/ir/*.ir.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --build build --target edict >/dev/null
python3 tests/golden/run_golden.py --edict build/cli/edict --update
python3 tests/golden/run_ir_golden.py --edict build/cli/edict --update
git status --short tests/golden
