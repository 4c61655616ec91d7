#!/bin/sh
# store_pg.sh - the store's tests against a real PostgreSQL: starts a
# throwaway cluster in a temporary directory, runs build/san/tests/test_store
# with FERRY_TEST_PG pointing at it (only the PostgreSQL half: the SQLite half
# runs as a unit test already), then build/san/tests/test_idm_tenant the same
# way, stops and removes the cluster, prints TAP.
#
# The cluster listens on a Unix socket inside the temporary directory only
# (no TCP port to collide with; the port number, which only names the
# socket, is reserved from tests/integration/lib/wait.sh all the same, so no
# fixed number is shared between runs), trusts local connections, and runs with
# fsync=off: it is thrown away, and what the tests kill is the client, not
# the machine. PostgreSQL refuses to run as root, so when this script is root
# the server runs as the `postgres` user.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD="$root/$BUILD" ;; esac
test_bin="$BUILD/san/tests/test_store"
. "$here/lib/wait.sh"

pg_bin=${PG_BIN:-}
if [ -z "$pg_bin" ]; then
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && pg_bin=$d
    done
fi
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
    echo "1..1"
    echo "not ok 1 - PostgreSQL server binaries (initdb, pg_ctl) not found; install postgresql"
    exit 1
fi
if [ ! -x "$test_bin" ]; then
    echo "1..1"
    echo "not ok 1 - $test_bin is not built (make san-build)"
    exit 1
fi

as_pg=""
if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
        echo "1..1"
        echo "not ok 1 - running as root but there is no postgres user to run the server"
        exit 1
    fi
    as_pg="runuser -u postgres --"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-pg.XXXXXX") || exit 1
chmod 755 "$tmp"
[ -n "$as_pg" ] && chown postgres "$tmp"
data="$tmp/data"
started=""
cleanup() {
    if [ -n "$started" ]; then
        $as_pg "$pg_bin/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1
    fi
    release_ports
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! $as_pg "$pg_bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$tmp/initdb.log" 2>&1; then
    echo "1..1"
    echo "not ok 1 - initdb failed"
    sed 's/^/# /' "$tmp/initdb.log"
    exit 1
fi
if ! port=$(port); then
    echo "1..1"
    echo "not ok 1 - a port number for the PostgreSQL socket"
    exit 1
fi
if ! $as_pg "$pg_bin/pg_ctl" -D "$data" -l "$tmp/server.log" -w -t "$(scaled 60)" \
        -o "-c listen_addresses='' -c unix_socket_directories='$tmp' -p $port -c fsync=off -c max_connections=64" \
        start >/dev/null 2>&1; then
    echo "1..1"
    echo "not ok 1 - the PostgreSQL server did not start"
    sed 's/^/# /' "$tmp/server.log"
    exit 1
fi
started=1

FERRY_TEST_PG="pg:host=$tmp port=$port user=postgres dbname=postgres" \
FERRY_TEST_PG_ONLY=1 CMOCKA_MESSAGE_OUTPUT=TAP "$test_bin"
rc=$?
# The IDM's tenant, claim and delivery rows (schema 3) on the same cluster.
idm_bin="$BUILD/san/tests/test_idm_tenant"
if [ -x "$idm_bin" ]; then
    FERRY_TEST_PG="pg:host=$tmp port=$port user=postgres dbname=postgres" CMOCKA_MESSAGE_OUTPUT=TAP "$idm_bin" || rc=1
fi
if [ "$rc" -ne 0 ]; then
    echo "# server log:"
    tail -20 "$tmp/server.log" | sed 's/^/# /'
fi
exit $rc
