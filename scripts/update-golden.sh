#!/usr/bin/env bash
# Rewrites every tests/golden/diagnostics/*.expected from the current build, for review with `git diff`.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --build build --target edict >/dev/null
python3 tests/golden/run_golden.py --edict build/cli/edict --update
git status --short tests/golden
