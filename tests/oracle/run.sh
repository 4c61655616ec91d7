#!/bin/sh
# Oracle suite: ferry's LoRaWAN core checked bit for bit against lora-packet.
#
#   BUILD=build tests/oracle/run.sh [seed]
#
# 1. installs lora-packet (pinned in package-lock.json) into
#    tests/oracle/node_modules with `npm ci` when it is missing or was
#    installed from another lock file (install.sh);
# 2. node gen.js writes random cases with lora-packet's answers to
#    $BUILD/oracle-cases.jsonl (seed: argument, else $ORACLE_SEED, else fixed);
# 3. $BUILD/san/tests/oracle_check recomputes them with the core (build it
#    with `make $BUILD/san/tests/oracle_check`).
#
# Stdout is TAP; the exit status is non-zero on any failure, including a
# failure to install, generate or run.
set -u

here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-build}
cases="$BUILD/oracle-cases.jsonl"
check="$BUILD/san/tests/oracle_check"

# Prints a failing TAP line, `$2` (a file) as comments, and exits.
bail() {
    echo "not ok 1 - oracle: $1"
    [ -n "${2:-}" ] && [ -f "$2" ] && sed 's/^/# /' "$2" | tail -n 40
    exit 1
}

mkdir -p "$BUILD" || bail "cannot create $BUILD"
log="$BUILD/oracle-setup.log"
: >"$log"

command -v node >/dev/null 2>&1 || bail "node is not installed (scripts/deps.sh installs it)"

"$here/install.sh" 2>"$log" || bail "cannot install lora-packet" "$log"

[ -x "$check" ] || bail "$check is missing (make $check)"

# gen.js names its seed on stderr; oracle_check repeats it in the TAP output.
node "$here/gen.js" "$@" >"$cases" 2>"$log" || bail "gen.js failed" "$log"

exec "$check" "$cases"
