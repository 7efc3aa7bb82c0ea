#!/usr/bin/env bash
# The whole test suite from a clean checkout: set up, build, run every test
# (unit, golden diagnostics, formatter, docs, fuzz replay) and a 60-second
# libFuzzer run of the front end.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh
bash scripts/build.sh
(cd build && ctest --output-on-failure -j2)
bash scripts/fuzz.sh "${EDICT_FUZZ_SECONDS:-60}"
echo "test suite finished in $(( $(date +%s) - start )) s"
