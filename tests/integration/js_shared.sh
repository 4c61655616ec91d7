#!/bin/sh
# js_shared.sh - two `ferry serve` processes on one deployment and one port
# (listen_shared = true, SO_REUSEPORT; SQLite): the kernel spreads the
# client's connections over both, which race the same DevNonce of a 1.0.4
# and a 1.0.2 device round after round (js_shared_client.js: one success per
# DevNonce, JoinNonces never repeat). Both processes must have served
# joins; one is killed with SIGKILL under load and restarted. Prints TAP.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
FERRY=${FERRY:-$root/build/san/bin/ferry}
export NODE_PATH="$root/tests/oracle/node_modules"
JOINEUI=70B3D57ED0000000
. "$here/lib/wait.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-jsshared.XXXXXX") || exit 1
s1=""
s2=""
client=""
cleanup() {
    [ -n "$s1" ] && kill -9 "$s1" 2>/dev/null
    [ -n "$s2" ] && kill -9 "$s2" 2>/dev/null
    [ -n "$client" ] && kill "$client" 2>/dev/null
    release_ports
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
watch_log "$tmp/serve1.log" "$tmp/serve2.log" "$tmp/client.log"

. "$here/lib/js_load_dep.sh"
echo "listen_shared = true" >>"$dep/ferry.conf" || { echo "1..1"; echo "not ok 1 - listen_shared set"; exit 1; }

# start N: process N (1 or 2), its own log
start() {
    "$FERRY" -d "$dep" serve 2>>"$tmp/serve$1.log" &
    eval "s$1=\$!"
    eval "wait_pid=\$s$1"
    wait_until "process $1 listening" - "grep -q '\"msg\":\"listening\"' '$tmp/serve$1.log'"
    st=$?
    wait_pid=""
    return $st
}
# served N: the JoinReqs process N answered with Success (its log lines)
served() { c=$(grep -c '"result":"Success"' "$tmp/serve$1.log" 2>/dev/null); echo "${c:-0}"; }

n=0
own_fails=0
t() {
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; own_fails=$((own_fails + 1)); fi
}
start 1; t $? "process 1 listens on the shared port"
start 2; t $? "process 2 listens on the same port beside it"
grep -q '(shared)' "$tmp/serve2.log"; t $? "its listening line says the port is shared"

node "$here/js_shared_client.js" "$port" "$tmp/stop" "$(cat "$tmp/ns.tok")" $JOINEUI 8 \
    "0004A30B001C0002:$K104:1.0.4" "0004A30B001C0001:$K102:1.0.2" >"$tmp/client.tap" 2>"$tmp/client.log" &
client=$!
wait_until "both processes answered joins" - \
    '! kill -0 "$client" 2>/dev/null || { [ "$(served 1)" -ge 5 ] && [ "$(served 2)" -ge 5 ]; }'
[ "$(served 1)" -ge 5 ] && [ "$(served 2)" -ge 5 ]
t $? "the kernel spread the connections: both processes served joins ($(served 1) and $(served 2))"
# kill -9 process 2 under load; the client retries on fresh connections,
# which process 1 takes; then process 2 comes back
kill -9 "$s2" 2>/dev/null
wait "$s2" 2>/dev/null
s2=""
before=$(served 1)
wait_until "process 1 alone answering" - '! kill -0 "$client" 2>/dev/null || [ "$(served 1)" -ge $((before + 10)) ]'
t $? "after process 2 was killed with SIGKILL, process 1 went on answering"
: >"$tmp/serve2.log"
start 2; t $? "process 2 restarted on the shared port"
touch "$tmp/stop"
wait "$client"
crc=$?
client=""
kill "$s1" "$s2" 2>/dev/null
wait "$s1" "$s2" 2>/dev/null
s1=""; s2=""
grep -E '^(ok|not ok) ' "$tmp/client.tap" | while IFS= read -r line; do
    echo "$line" | sed -E "s/^(ok|not ok) [0-9]+/\1 $((n + $(echo "$line" | sed -E 's/^(ok|not ok) ([0-9]+).*/\2/')))/"
done
c=$(grep -cE '^(ok|not ok) ' "$tmp/client.tap")
[ "$c" -eq 0 ] && { echo "not ok $((n + 1)) - the client reported"; sed 's/^/# /' "$tmp/client.tap" "$tmp/client.log"; c=1; }
echo "1..$((n + c))"
fails=$(grep -c '^not ok' "$tmp/client.tap")
[ $crc -eq 0 ] && [ "$fails" -eq 0 ] && [ $own_fails -eq 0 ]
