#!/bin/sh
# idm_restart.sh - the Identity Manager restarted at random moments during the
# over-the-air deliveries to a fleet of 100 SEs (docs/idm.md, "What is in the
# database, and why a restart loses nothing"):
#   - an IDM deployment (bootstrap Join Server `serve` + `idm serve`) and a
#     customer Join Server deployment; 100 SEs personalised, imported, claimed
#     with the owner tokens of their QR payloads and assigned by the customer
#     (REST API);
#   - 100 SE emulators (`ferry se serve`, one image per process), driven by
#     idm_fleet.js, a network-server stand-in that talks to the emulators'
#     sockets directly: every SE joins the bootstrap JS, the IDM provisions
#     them all, then uplinks of all SEs are pumped concurrently through
#     `POST /uplink` with small frames (MaxDownlinkPayload 20: INSTALL is 6
#     fragments) and radio loss (10% of uplinks and of downlinks dropped);
#   - meanwhile `idm serve` is killed with -9 after random delays (0.3..3 s)
#     and restarted, again and again (at least 5 times); uplinks that find it
#     down are retried by the stand-in, then given up;
#   - at the end every SE runs its customer profile and joined the customer
#     JS; the IDM shows each active_at_customer; each SE accepted exactly as
#     many MLS commands as the IDM sealed for it (1: INSTALL, activating), all
#     done; the audit has one profile_queued per SE and one response per
#     command; the audit chain verifies.
# SEED (env) fixes the radio loss and the kill delays; it is printed. COUNT
# (env, default 100) is the fleet size; KILL=0 runs without restarts, to
# measure (it fails the restart count).
# Needs node, curl and the sqlite3 shell (scripts/deps.sh). Prints TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
FERRY=${FERRY:-$root/build/san/bin/ferry}
export FERRY
export NODE_PATH="$root/tests/oracle/node_modules"
FLEET="$here/idm_fleet.js"
COUNT=${COUNT:-100}
SEED=${SEED:-$(od -An -tu4 -N4 /dev/urandom | tr -d ' ')}
MIN_RESTARTS=5
. "$here/lib/wait.sh"
. "$here/lib/idm_fleet.sh"
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -f "$tmp/err" ] && sed 's/^/# /' "$tmp/err" | tail -15; }
check() { if eval "$2"; then ok "$1"; else notok "$1"; fi; }
if ! command -v node >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1 || ! command -v sqlite3 >/dev/null 2>&1 ||
    ! "$root/tests/oracle/install.sh" >/dev/null 2>&1 || [ ! -d "$NODE_PATH/aes-cmac" ]; then
    echo "not ok 1 - node, curl, sqlite3 and tests/oracle/node_modules are needed (scripts/deps.sh, tests/oracle/install.sh)"
    echo "1..1"
    exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-idm-restart.XXXXXX") || exit 1
pids=""
se_pids=""
idm_pid=""
drv=""
cleanup() {
    for p in $drv $idm_pid $pids $se_pids; do kill "$p" 2>/dev/null; done
    for p in $drv $idm_pid $pids $se_pids; do wait "$p" 2>/dev/null; done
    release_ports
    [ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# every server logs into $tmp/*.log: shown when a wait times out
watch_log "$tmp"
echo "# seed $SEED, $COUNT SEs"
t_start=$(date +%s)
phase() { echo "# $(($(date +%s) - t_start)) s: $1"; }

hex16() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n' | tr 'a-f' 'A-F'; }
q() { sqlite3 -cmd ".timeout 5000" "$idm/ferry.db" "$1"; }

HSAKEK=$(hex16); NSKEK=$(hex16); CKEK=$(hex16); CNSKEK=$(hex16)
idm="$tmp/idm"; cust="$tmp/acme-js"; out="$tmp/hsa"; nsd="$tmp/ns"; sd="$tmp/se"
mkdir -p "$nsd" "$sd" && chmod 700 "$nsd" "$sd"
P_JS=$(port); P_IDM=$(port); P_C=$(port)
I="$FERRY -d $idm"; C="$FERRY -d $cust"

# ---- the two deployments, the batch, the tenant and its Join Server
idm_deployments "$COUNT" 70B3D57ED0060000 && idm_fleet_tenant
check "IDM and customer JS deployments, $COUNT SEs personalised and imported, tenant and its JS" '[ $? -eq 0 ]'
idm_fleet_owners

phase "set up"
# ---- the servers
$I serve >"$tmp/js.log" 2>&1 &
js_pid=$!; pids="$pids $js_pid"
$C serve >"$tmp/cust.log" 2>&1 &
c_pid=$!; pids="$pids $c_pid"
$I idm serve >>"$tmp/idm.log" 2>&1 &
idm_pid=$!
wait_http "http://127.0.0.1:$P_IDM/healthz" $idm_pid
check "idm serve answers /healthz" '[ $? -eq 0 ]'
wait_http "http://127.0.0.1:$P_JS/metrics" $js_pid && wait_http "http://127.0.0.1:$P_C/metrics" $c_pid
check "the bootstrap and customer Join Servers answer /metrics" '[ $? -eq 0 ]'
API="http://127.0.0.1:$P_IDM/api/v1"
AUTH="Authorization: Bearer $(cat "$tmp/acme.tok")"

# ---- claims and assignments by the customer, before the SEs are on the air
bad=0; : >"$tmp/err"
while read -r eui tok; do
    c1=$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" --data-binary "{\"DevEUI\":\"$eui\",\"OwnerToken\":\"$tok\"}" "$API/claims")
    c2=$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" --data-binary '{"JoinServer":"acme-js"}' "$API/ses/$eui/assign")
    [ "$c1" = 200 ] && [ "$c2" = 200 ] || { bad=$((bad + 1)); echo "$eui: claim $c1, assign $c2" >>"$tmp/err"; }
done <"$tmp/owners"
check "acme claims all $COUNT SEs with their owner tokens and assigns them to its JS" '[ $bad -eq 0 ]'

phase "claimed and assigned"
# ---- the emulators: one `ferry se serve` per SE (it serves one image), and
# the stand-in's configuration
idm_fleet_emulators "[\"http://127.0.0.1:$P_IDM\"]" 150 30
rss=$(for p in $se_pids; do awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null; done | awk '{s += $1} END {printf "%d", s / 1024}')
echo "# the emulators use $rss MB of memory together"

phase "emulators up"
# ---- bootstrap joins; idm serve's housekeeping then provisions every SE
node "$FLEET" join "$tmp/fleet.json" >"$tmp/o" 2>"$tmp/err"
check "all $COUNT SEs join the IDM's bootstrap Join Server" '[ $? -eq 0 ] && grep -q "\"joined\":$COUNT" "$tmp/o"'
phase "joined"
wait_pid=$idm_pid
wait_until "all $COUNT SEs profile_pending (idm serve's housekeeping)" 180 \
    '[ "$(q "SELECT count(*) FROM idm_se WHERE state='"'"'profile_pending'"'"'")" = "$COUNT" ]'
wait_pid=""
pend=$(q "SELECT count(*) FROM idm_se WHERE state='profile_pending'")
cmds=$(q "SELECT count(*), sum(state='queued') FROM idm_cmd")
check "idm serve provisioned all $COUNT (profile_pending, one INSTALL each queued): $pend, $cmds" \
    '[ "$pend" = "$COUNT" ] && [ "$cmds" = "$((PROFILE_CMDS * COUNT))|$((PROFILE_CMDS * COUNT))" ]'

phase "provisioned"
# ---- the deliveries, with idm serve killed -9 at random moments
awk -v s="$SEED" 'BEGIN { srand(s); for (i = 0; i < 1000; i++) printf "%.2f %.2f\n", 0.3 + 2.7 * rand(), 0.8 * rand() }' \
    >"$tmp/delays"
t_deliver=$(date +%s)
node "$FLEET" deliver "$tmp/fleet.json" >"$tmp/deliver.out" 2>"$tmp/deliver-err.log" &
drv=$!
restarts=0
not_up=0
[ "${KILL:-1}" = 0 ] && : >"$tmp/delays"   # KILL=0: no restarts (to measure; fails the restart count)
while read -r d down; do
    # The two sleeps are the test's seeded schedule, not waits: how long
    # idm serve runs (counted from when it answers /healthz, so that a slow
    # start does not eat its running time) and how long it stays down.
    sleep "$d"
    kill -0 "$drv" 2>/dev/null || break
    kill -9 "$idm_pid" 2>/dev/null; wait "$idm_pid" 2>/dev/null
    restarts=$((restarts + 1))
    echo "{\"test\":\"idm_restart.sh: kill -9 number $restarts\"}" >>"$tmp/idm.log"
    sleep "$down"   # uplinks meanwhile fail
    $I idm serve >>"$tmp/idm.log" 2>&1 &
    idm_pid=$!
    wait_http "http://127.0.0.1:$P_IDM/healthz" $idm_pid || not_up=$((not_up + 1))
done <"$tmp/delays"
wait "$drv"
drv_rc=$?
drv=""
t_done=$(date +%s)
check "idm serve came back up (/healthz) after each of the $restarts restarts ($not_up did not)" '[ $not_up -eq 0 ]'
wait_http "http://127.0.0.1:$P_IDM/healthz" $idm_pid
check "idm serve answers /healthz after the deliveries" '[ $? -eq 0 ]'
cp "$tmp/deliver-err.log" "$tmp/err"
check "every SE switched to its customer profile and joined the customer JS ($((t_done - t_deliver)) s)" '[ $drv_rc -eq 0 ]'
stats=$(cat "$tmp/deliver.out")
uplinks=$(sed -n 's/.*"uplinks":\([0-9]*\).*/\1/p' "$tmp/deliver.out")
echo "# restarts of idm serve: $restarts; uplinks sent: ${uplinks:-?}; stand-in counts: $stats"
check "idm serve was killed -9 and restarted $restarts times during the deliveries (at least $MIN_RESTARTS)" \
    '[ $restarts -ge $MIN_RESTARTS ]'

phase "delivered"
# housekeeping sees each customer join at the customer JS: active_at_customer
# (the stand-in has finished: every SE that will get there is profile_delivered now)
wait_pid=$idm_pid
wait_until "no SE left profile_delivered (housekeeping confirms each customer join)" 90 \
    '[ "$(q "SELECT count(*) FROM idm_se WHERE state='"'"'profile_delivered'"'"'")" = 0 ]'
wait_pid=""
q "SELECT dev_eui, state FROM idm_se WHERE state <> 'active_at_customer'" >"$tmp/err"
active=$(q "SELECT count(*) FROM idm_se WHERE state = 'active_at_customer'")
check "IDM: every SE active_at_customer ($active)" '[ "$active" = "$COUNT" ]'
# `idm show` of every tenth SE (the database is read for all below)
: >"$tmp/show-bad"
for e in $(echo "$SES" | awk 'NR % 10 == 1'); do
    $I idm show "$e" >"$tmp/show.o" 2>&1 && grep -q '"State": "active_at_customer"' "$tmp/show.o" &&
        grep -q '"PendingCommands": 0' "$tmp/show.o" || { echo "$e:"; cat "$tmp/show.o"; } >>"$tmp/show-bad"
done &
show_pid=$!

# ---- what each SE says (`ferry se info`), against what the IDM recorded
idm_fleet_verify
wait "$show_pid"
phase "SEs and IDM read"
cp "$tmp/show-bad" "$tmp/err"
check "idm show (every tenth SE): active_at_customer, nothing pending" '[ ! -s "$tmp/show-bad" ]'
$I idm audit verify >"$tmp/o" 2>"$tmp/err"
check "audit chain verifies" '[ $? -eq 0 ] && grep -q "\"ok\": true" "$tmp/o"'

kill "$idm_pid" 2>/dev/null; wait "$idm_pid" 2>/dev/null; idm_pid=""
for p in $se_pids; do kill "$p" 2>/dev/null; done
for p in $se_pids; do wait "$p" 2>/dev/null; done
se_pids=""
grep -E 'Sanitizer|runtime error' "$tmp/idm.log" "$tmp/js.log" "$tmp/cust.log" "$tmp/se.log" >"$tmp/err"
check "no sanitizer report from idm serve, the Join Servers or the emulators" '[ ! -s "$tmp/err" ]'
echo "# total $(($(date +%s) - t_start)) s; restarts $restarts; uplinks ${uplinks:-?}"

echo "1..$n"
[ "$failed" -eq 0 ]
