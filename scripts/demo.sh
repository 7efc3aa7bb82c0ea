#!/usr/bin/env bash
# Edict's main job on the shipped policies: set up, build, then check every
# policy (evaluation over a sample event log arrives with the evaluation issue).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
echo "== edict check policies/"
./build/cli/edict check policies/
echo "== edict fmt --check policies/"
./build/cli/edict fmt --check policies/
