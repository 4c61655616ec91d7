#!/bin/sh
# Installs the npm packages of a test folder (default tests/oracle:
# lora-packet; tests/console: puppeteer-core), as pinned by its
# package-lock.json, into its node_modules with `npm ci`, unless they are
# already installed from this very lock file (node_modules/.ferry-package-lock
# is a copy of it). No browser is downloaded (PUPPETEER_SKIP_DOWNLOAD): the
# browser tests drive Debian's chromium. Quiet on success; on failure prints
# npm's output on stderr and exits 1. Used by tests/oracle/run.sh,
# bench/run.sh and tests/integration/console_browser.sh.
set -u
here=$(cd "${1:-$(dirname "$0")}" && pwd)
export PUPPETEER_SKIP_DOWNLOAD=1
stamp="$here/node_modules/.ferry-package-lock"

cmp -s "$here/package-lock.json" "$stamp" 2>/dev/null && exit 0
if ! command -v npm >/dev/null 2>&1; then
    echo "install.sh: npm is not installed (scripts/deps.sh installs it)" >&2
    exit 1
fi
log=$(mktemp) || exit 1
if ! (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) >"$log" 2>&1; then
    echo "install.sh: npm ci failed in $here:" >&2
    cat "$log" >&2
    rm -f "$log"
    exit 1
fi
rm -f "$log"
cp "$here/package-lock.json" "$stamp"
