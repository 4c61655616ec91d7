#!/bin/sh
# js_kill.sh - kill -9 under load: a node client sends JoinReqs with
# increasing DevNonces (a 1.0.4 and a 1.0.2 device) over keep-alive HTTP
# while the server is killed with SIGKILL at random moments and restarted,
# KILLS times. The client (js_kill_client.js) checks that no DevNonce already
# answered is accepted again and that no JoinNonce repeats. Prints TAP.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
FERRY=${FERRY:-$root/build/san/bin/ferry}
export NODE_PATH="$root/tests/oracle/node_modules"
KILLS=${KILLS:-10}
JOINEUI=70B3D57ED0000000
. "$here/lib/wait.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-jskill.XXXXXX") || exit 1
server=""
client=""
cleanup() {
    [ -n "$server" ] && kill -9 "$server" 2>/dev/null
    [ -n "$client" ] && kill "$client" 2>/dev/null
    release_ports
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
watch_log "$tmp/serve.log" "$tmp/client.log"

. "$here/lib/js_load_dep.sh"

start() {
    "$FERRY" -d "$dep" serve 2>>"$tmp/serve.log" &
    server=$!
    wait_http "http://127.0.0.1:$port/metrics" "$server"
}
# joins: the JoinReqs this server process has answered with Success (its
# /metrics counts from zero at each start)
joins() {
    curl -s --max-time 5 "http://127.0.0.1:$port/metrics" 2>/dev/null |
        awk '/^ferry_js_requests_total\{type="JoinReq",result="Success"\}/ { v = $2 } END { print v + 0 }'
}
# answered: this server life has answered at least 3 of the client's joins
# (so the 1 + KILLS lives answer more than the 20 the client wants); the
# server's pid is watched, and a client that exits ends the wait too
answered() {
    wait_pid=$server
    wait_until "the client's joins answered by the server (pid $server) since its start" - \
        '! kill -0 "$client" 2>/dev/null || [ "$(joins)" -ge 3 ]'
    st=$?
    wait_pid=""
    [ $st -eq 0 ] || return 1
    kill -0 "$client" 2>/dev/null && return 0
    echo "# the client exited early:"; sed 's/^/#   /' "$tmp/client.log" "$tmp/client.tap" | tail -20
    return 1
}

n_ok=0
start || { echo "1..1"; echo "not ok 1 - serve starts"; exit 1; }
node "$here/js_kill_client.js" "$port" "$tmp/stop" "$(cat "$tmp/ns.tok")" $JOINEUI \
    "0004A30B001C0002:$K104:1.0.4" "0004A30B001C0001:$K102:1.0.2" >"$tmp/client.tap" 2>"$tmp/client.log" &
client=$!
k=0
restarts_ok=1
while [ $k -lt "$KILLS" ]; do
    answered || { restarts_ok=0; break; }
    # the kill lands at a random moment of the request stream: this sleep is
    # the randomness, not a wait for anything (answered waited for that)
    sleep "0.$(od -An -N1 -tu1 /dev/urandom | tr -d ' ' | awk '{printf "%02d", 20 + $1 % 70}')"
    kill -9 "$server" 2>/dev/null
    wait "$server" 2>/dev/null
    start || { restarts_ok=0; break; }
    k=$((k + 1))
done
[ $restarts_ok -eq 1 ] && { answered || restarts_ok=0; }
touch "$tmp/stop"
wait "$client"
crc=$?
client=""
kill "$server" 2>/dev/null
wait "$server" 2>/dev/null
server=""
# renumber: this script's own line first, then the client's
echo "ok 1 - the server was killed with SIGKILL $KILLS times under load and restarted, answering joins each time" | \
    { [ $restarts_ok -eq 1 ] && cat || sed 's/^ok/not ok/'; }
m=1
grep -E '^(ok|not ok) ' "$tmp/client.tap" | while IFS= read -r line; do
    m=$((m + 1))
    echo "$line" | sed -E "s/^(ok|not ok) [0-9]+/\1 $m/"
done
c=$(grep -cE '^(ok|not ok) ' "$tmp/client.tap")
[ "$c" -eq 0 ] && { echo "not ok 2 - the client reported"; sed 's/^/# /' "$tmp/client.tap" "$tmp/client.log"; }
echo "1..$((c + 1))"
[ $crc -eq 0 ] && [ $restarts_ok -eq 1 ] && [ "$c" -gt 0 ]
