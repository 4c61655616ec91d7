#!/bin/sh
# js_import_kill.sh - `ferry device import` is all or nothing: 3,000 devices
# imported while the process is killed with SIGKILL at several moments;
# after each kill the Join Server holds all 3,000 or none, and the same
# import then succeeds (or finds every device there already). Prints TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib/common.sh"
command -v sqlite3 >/dev/null 2>&1 || { echo "not ok 1 - the sqlite3 shell is needed (scripts/deps.sh)"; echo "1..1"; exit 1; }
make_tmp js-import-kill
COUNT=3000
dep="$tmp/js"
D="$FERRY -d $dep"
{
    "$FERRY" init "$dep" --join-eui 70B3D57ED0000000 --listen "127.0.0.1:$(port)" &&
    hex16 | $D kek import ns:000013
} >"$tmp/setup.log" 2>"$tmp/err"
check "a Join Server deployment" '[ $? -eq 0 ]'
# the devices: clear root keys (--allow-clear-keys), wrapped in the token on import
awk -v n=$COUNT 'BEGIN { srand(7); for (i = 0; i < n; i++) {
    k = ""; for (b = 0; b < 16; b++) k = k sprintf("%02X", int(rand() * 256));
    printf "{\"DevEUI\":\"70B3D57ED0A%05X\",\"JoinEUI\":\"70B3D57ED0000000\",\"MACVersion\":\"1.0.3\",\"HomeNetID\":\"000013\",\"NwkKey\":{\"KEKLabel\":\"\",\"AESKey\":\"%s\"},\"NSKEKLabel\":\"ns:000013\"}\n", i, k } }' \
    >"$tmp/devices.jsonl"
devices() { sqlite3 "$dep/ferry.db" "SELECT count(*) FROM devices"; }
# Kill at growing delays: early (reading and wrapping keys), in the
# middle, and late (inside the insert transaction, or at its commit).
t0=$(date +%s%N)
$D device import "$tmp/devices.jsonl" --allow-clear-keys >"$tmp/whole.json" 2>"$tmp/err" && whole=$(( ($(date +%s%N) - t0) / 1000000 ))
check "a whole import takes ${whole:-?} ms here (the kill points are spread over it)" '[ -n "${whole:-}" ]'
sqlite3 "$dep/ferry.db" "DELETE FROM devices" 2>>"$tmp/err"
outcomes=""
for pct in 5 30 60 85 95 99; do
    $D device import "$tmp/devices.jsonl" --allow-clear-keys >"$tmp/o" 2>"$tmp/err" &
    pid=$!
    # a kill point, not a wait for a state: the sleep is what places it
    sleep "$(awk -v w="${whole:-1000}" -v p=$pct 'BEGIN { printf "%.3f", w * p / 100000 }')"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    got=$(devices)
    outcomes="$outcomes $pct%:$got"
    if [ "$got" != 0 ] && [ "$got" != $COUNT ]; then
        notok "kill -9 at ${pct}% of an import: $got of $COUNT devices left"
        continue
    fi
    $D device import "$tmp/devices.jsonl" --allow-clear-keys >"$tmp/o" 2>"$tmp/err"
    rc=$?
    if [ "$got" = 0 ]; then
        check "kill -9 at ${pct}%: none left; the same import then succeeds ($(devices))" \
            '[ $rc -eq 0 ] && [ "$(devices)" = $COUNT ]'
    else
        check "kill -9 at ${pct}%: all $COUNT committed; the same import then says they exist, and changes nothing" \
            '[ $rc -ne 0 ] && grep -q "exists already; nothing was imported" "$tmp/err" && [ "$(devices)" = $COUNT ]'
    fi
    sqlite3 "$dep/ferry.db" "DELETE FROM devices" 2>>"$tmp/err"
done
echo "# outcomes (kill point: devices left):$outcomes"
check "no sanitizer report" '! grep -l "ERROR: AddressSanitizer\|runtime error" "$tmp/err" 2>/dev/null'
echo "1..$n"
[ "$failed" -eq 0 ]
