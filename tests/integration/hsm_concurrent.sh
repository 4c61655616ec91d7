#!/bin/sh
# hsm_concurrent.sh - many ferry processes open one SoftHSM2 token at the
# same moment, round after round; every one of them must succeed.
#
# The regression test of `ferry demo` failing with "a server did not start":
# the bootstrap Join Server (`serve`) and `idm serve` started together on one
# deployment, and one stopped with "key service: no token with that label or
# slot is present". SoftHSM2 2.6 rewrites token.object at every C_Login and
# lets go of its file lock before the new bytes are written, so a process
# scanning the token directory at that moment finds an empty token.object
# and leaves the token out (docs/hsm.md, "Several processes on one token").
#
# Each round starts, all at once, on one deployment:
#   - the Join Server (`serve`) and the IDM (`idm serve`), which must reach
#     "listening" and are then stopped;
#   - `kek generate` (a new key in the token, wrapped into the database);
#   - `device import` of one device with a clear key (an object created in
#     the token from the bytes, wrapped, destroyed; a database write);
#   - `kek list` and `device list` (log in, read).
# Then: every KEK and device written is listed, and the token still opens.
# HSM_ROUNDS (default 30, at most 31: one KEK per round, and `kek list`
# cannot yet page past 32 KEKs) sets the number of rounds. Every process has
# a time limit, so a hang is a failure, not a stuck test. Prints TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib/common.sh"
make_tmp hsm-concurrent
ROUNDS=${HSM_ROUNDS:-30}
[ "$ROUNDS" -le 31 ] || ROUNDS=31
LIMIT="-k 10 $(scaled 120)"   # `timeout` for the commands that end by themselves

# port (lib/wait.sh) needs node to check that a port is free.
if ! command -v node >/dev/null 2>&1; then
    echo "not ok 1 - node is needed to reserve a port (scripts/deps.sh)"
    echo "1..1"
    exit 1
fi
d="$tmp/dep"
P_IDM=$(port)
{
    "$FERRY" init "$d" --join-eui 70B3D57ED0000000 --listen 127.0.0.1:0 &&
        "$FERRY" -d "$d" idm init --ns-token-out "$tmp/ns.tok" --listen "127.0.0.1:$P_IDM"
} >"$tmp/setup.log" 2>"$tmp/err"
check "a deployment with a Join Server and an IDM on one SoftHSM2 token" '[ $? -eq 0 ]'

# Waits until the server $1 (pid) writes "listening" to its log $2, that is
# got past hsm_open; fails at once if it exits first (wait_pid). Then stops
# it: SIGTERM, and SIGKILL if it is still there 10 s (scaled) later. No
# `timeout` around the servers: its SIGCONT can cancel the stop that
# LeakSanitizer's exit check waits for, and the process then spins for ever.
await_listening() {
    wait_pid=$1
    wait_logs=$2            # shown by wait_until if the server exits or times out
    wait_until "$(basename "$2" .log) listening" - "grep -q '\"listening\"' '$2'"
    a_rc=$?
    wait_pid=""
    kill "$1" 2>/dev/null
    wait_until "$(basename "$2" .log) to stop on SIGTERM" 10 "! kill -0 $1 2>/dev/null" >/dev/null ||
        kill -9 "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return $a_rc
}

total=0
bad=0
keks=0
devices=0
r=1
while [ $r -le $ROUNDS ]; do
    rd="$tmp/r$r"
    mkdir -p "$rd"
    eui=$(printf '0004A30B001C%04X' "$r")
    printf '{"DevEUI":"%s","JoinEUI":"70B3D57ED0000000","MACVersion":"1.0.3","HomeNetID":"000013","NwkKey":{"AESKey":"%s"}}\n' \
        "$eui" "$(hex16)" >"$rd/dev.jsonl"
    # All six start here, back to back: the slowest part of each is loading
    # the sanitizer build, so their C_Initialize/C_Login overlap.
    "$FERRY" -d "$d" serve >"$rd/serve.log" 2>&1 &
    js=$!
    "$FERRY" -d "$d" idm serve --listen "127.0.0.1:$P_IDM" >"$rd/idm-serve.log" 2>&1 &
    idm=$!
    timeout $LIMIT "$FERRY" -d "$d" kek generate "round-$r" >"$rd/kek-generate.log" 2>&1 &
    kg=$!
    timeout $LIMIT "$FERRY" -d "$d" device import "$rd/dev.jsonl" --allow-clear-keys >"$rd/device-import.log" 2>&1 &
    di=$!
    timeout $LIMIT "$FERRY" -d "$d" kek list >"$rd/kek-list.log" 2>&1 &
    kl=$!
    timeout $LIMIT "$FERRY" -d "$d" device list >"$rd/device-list.log" 2>&1 &
    dl=$!
    pids="$js $idm $kg $di $kl $dl"     # stopped by cleanup if the test is interrupted
    failed_here=""
    if wait $kg; then keks=$((keks + 1)); else failed_here="$failed_here kek-generate"; fi
    if wait $di; then devices=$((devices + 1)); else failed_here="$failed_here device-import"; fi
    wait $kl || failed_here="$failed_here kek-list"
    wait $dl || failed_here="$failed_here device-list"
    await_listening "$js" "$rd/serve.log" || failed_here="$failed_here serve"
    await_listening "$idm" "$rd/idm-serve.log" || failed_here="$failed_here idm-serve"
    pids=""
    total=$((total + 6))
    if [ -z "$failed_here" ]; then
        ok "round $r: serve, idm serve, kek generate, device import, kek list, device list at once"
    else
        set -- $failed_here
        bad=$((bad + $#))
        : >"$tmp/err"
        for f in $failed_here; do grep -i 'key service\|error\|fail' "$rd/$f.log" | sed "s/^/$f: /" | head -3 >>"$tmp/err"; done
        notok "round $r: failed:$failed_here"
    fi
    rm -f "$rd/dev.jsonl"
    r=$((r + 1))
done
echo "# $bad of $total processes failed"

timeout $LIMIT "$FERRY" -d "$d" kek list >"$tmp/list.json" 2>"$tmp/err"
check "the token still opens after the rounds" '[ $? -eq 0 ]'
check "every KEK generated ($keks) is listed" '[ "$(grep -c "\"round-[0-9]*\"" "$tmp/list.json")" -eq "$keks" ]'
timeout $LIMIT "$FERRY" -d "$d" device list >"$tmp/devices.json" 2>"$tmp/err"
check "every device imported ($devices) is listed" '[ "$(grep -c "\"DevEUI\"" "$tmp/devices.json")" -eq "$devices" ]'
check "no process failed to open the token ($bad of $total failed)" '[ "$bad" -eq 0 ]'

echo "1..$n"
[ "$failed" -eq 0 ]
