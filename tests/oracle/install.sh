#!/bin/sh
# Installs lora-packet, as pinned by package-lock.json, into
# tests/oracle/node_modules with `npm ci`, unless it is already installed from
# this very lock file (node_modules/.ferry-package-lock is a copy of it).
# Quiet on success; on failure prints npm's output on stderr and exits 1.
# Used by tests/oracle/run.sh and bench/run.sh.
set -u
here=$(cd "$(dirname "$0")" && pwd)
stamp="$here/node_modules/.ferry-package-lock"

cmp -s "$here/package-lock.json" "$stamp" 2>/dev/null && exit 0
if ! command -v npm >/dev/null 2>&1; then
    echo "install.sh: npm is not installed (scripts/deps.sh installs it)" >&2
    exit 1
fi
log=$(mktemp) || exit 1
if ! (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) >"$log" 2>&1; then
    echo "install.sh: npm ci failed in tests/oracle:" >&2
    cat "$log" >&2
    rm -f "$log"
    exit 1
fi
rm -f "$log"
cp "$here/package-lock.json" "$stamp"
