#!/bin/sh
# console_browser.sh - the activation console in a real browser
# (docs/console.md): `ferry demo --console true` sets up its whole
# deployment (IDM, Join Servers, networks, the hub, 6 simulated devices
# that bootstrap and then keep running), and tests/console/console.test.js
# drives Debian's chromium with puppeteer-core through it: a wrong token,
# sign-in as each kind of tenant, claims from QR payloads, a transfer seen
# live at the new customer, a secure command and its reply, the timeline,
# the overview, isolation between tenants; screenshots of every view go to
# $BUILD/console/. Needs node, npm, chromium (scripts/deps.sh) and
# tests/console's puppeteer-core (installed here from its lock file; no
# browser is downloaded). Prints TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
FERRY=${FERRY:-$root/build/san/bin/ferry}
BUILD=${BUILD:-$root/build}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
. "$here/lib/wait.sh"
if ! command -v node >/dev/null 2>&1 || [ ! -x "$CHROMIUM" ] ||
    ! "$root/tests/oracle/install.sh" "$root/tests/console" >"${TMPDIR:-/tmp}/console-npm.$$" 2>&1; then
    echo "not ok 1 - node, chromium and tests/console's puppeteer-core are needed (scripts/deps.sh)"
    sed 's/^/# /' "${TMPDIR:-/tmp}/console-npm.$$" 2>/dev/null
    rm -f "${TMPDIR:-/tmp}/console-npm.$$"
    echo "1..1"
    exit 1
fi
rm -f "${TMPDIR:-/tmp}/console-npm.$$"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-console-browser.XXXXXX") || exit 1
demo_pid=""
cleanup() {
    if [ -n "$demo_pid" ]; then kill "$demo_pid" 2>/dev/null; wait "$demo_pid" 2>/dev/null; fi
    [ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
watch_log "$tmp/demo.log" "$tmp/demo"

"$FERRY" demo --console true --devices 6 --dir "$tmp/demo" >"$tmp/demo.log" 2>&1 &
demo_pid=$!
wait_pid=$demo_pid
if ! wait_until "the demo's deployment up, its devices bootstrapped (console.json)" 240 '[ -s "$tmp/demo/console.json" ]'; then
    echo "not ok 1 - ferry demo --console true sets up its deployment"
    echo "1..1"
    exit 1
fi
wait_pid=""
rm -rf "$BUILD/console"
CONSOLE_JSON="$tmp/demo/console.json" SHOTS="$BUILD/console" CHROMIUM="$CHROMIUM" WAIT_S=$(scaled 90) \
    NODE_PATH="$root/tests/console/node_modules" node "$root/tests/console/console.test.js" >"$tmp/tap" 2>"$tmp/err"
rc=$?
# the token never reached the server in a URL: not in any log of the demo
leaked=0
for t in acme bolt maker hub-op; do
    tk=$(cat "$tmp/demo/$t.tok")
    grep -rqs -- "$tk" "$tmp/demo"/*.log && leaked=1
done
count=$(grep -c '^ok\|^not ok' "$tmp/tap")
grep -v '^1\.\.' "$tmp/tap"
[ -s "$tmp/err" ] && sed 's/^/# /' "$tmp/err" | tail -20
n=$((count + 1))
if [ $leaked -eq 0 ]; then echo "ok $n - no bearer token in any log of the deployment"; else echo "not ok $n - a bearer token is in a log"; rc=1; fi
n=$((n + 1))
shots=$(ls "$BUILD/console"/*.png 2>/dev/null | wc -l)
if [ "$shots" -ge 10 ]; then echo "ok $n - $shots screenshots in $BUILD/console"; else echo "not ok $n - $shots screenshots in $BUILD/console"; rc=1; fi
echo "1..$n"
[ "$rc" -eq 0 ] || show_logs
exit "$rc"
