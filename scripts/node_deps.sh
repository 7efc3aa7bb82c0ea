#!/usr/bin/env bash
# Installs the Node packages two tests drive (tests/node/package-lock.json:
# puppeteer-core for the browser playground test, vscode-languageclient for
# the VS Code client test) into a cache folder outside the source tree, keyed
# by the lock file's hash, and prints that folder's node_modules path.
# Already installed: prints it and touches nothing. The folder is
# $EDICT_NODE_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/edict-node).
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
lock="$here/tests/node/package-lock.json"
command -v node >/dev/null || { echo "node_deps: no \`node\` on PATH (scripts/setup.sh installs nodejs)" >&2; exit 2; }
command -v npm >/dev/null || { echo "node_deps: no \`npm\` on PATH (scripts/setup.sh installs npm)" >&2; exit 2; }

key="$(sha256sum "$lock" | cut -c1-16)"
cache="${EDICT_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edict-node}"
target="$cache/$key"
if [ ! -f "$target/.installed" ]; then
  mkdir -p "$cache"
  staging="$(mktemp -d "$cache/.install-XXXXXX")"
  trap 'rm -rf "$staging"' EXIT
  cp "$here/tests/node/package.json" "$lock" "$staging/"
  # --ignore-scripts: nothing downloads a browser; the tests use Debian's chromium.
  if ! (cd "$staging" && timeout 600 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2); then
    echo "node_deps: \`npm ci\` failed in $staging (is https://registry.npmjs.org/ reachable?)" >&2
    exit 2
  fi
  touch "$staging/.installed"
  # Another run may have finished first: keep whichever folder landed.
  mv -T "$staging" "$target" 2>/dev/null || true
  trap - EXIT
  rm -rf "$staging"
fi
echo "$target/node_modules"
