#!/bin/sh
# chaos.sh - issue 17's chaos run: the whole bootstrap-to-customer flow of
# lab_devices.sh, with every server a separate process started from this
# shell, while a loop driven by a fixed seed kills one of them with SIGKILL
# at a random moment, waits a random pause and starts it again with the
# same command line, port and log file (appended), waiting until it listens.
#
# The servers (eight, all killable):
#   boot_js     the IDM deployment's bootstrap Join Server (`ferry -d idm serve`)
#   idm         `ferry -d idm idm serve` (same deployment and token as boot_js)
#   acme_js     the customer's Join Server (its own deployment and token)
#   boot_ns     the bootstrap network (`ferry lab ns`), AS = idm serve, home
#               network of passive roaming
#   visited_ns  a network with no Join Server route: joins go through the hub
#   acme_ns     acme's network, AS = acme_as
#   acme_as     `ferry lab as`: acme's application server, relay to the IDM
#   hub         `ferry hub`: the peering hub between visited_ns and boot_ns/boot_js
# The network servers keep their sessions in a state_file, as a production
# NS keeps them in its database (lab_devices.sh tests one without: the
# devices notice and join again).
# The flow (in the background, while the loop kills):
#   1. CHAOS_DEVICES SEs (hsa personalise, imported, claimed by acme from a
#      file, assigned); CHAOS_ROAMING of them hear only the visited network
#      for their bootstrap (passive roaming through the hub), the others the
#      bootstrap network; all hear acme's. `ferry lab devices --until
#      switched` with CHAOS_LOSS radio loss: bootstrap join, profile over
#      the air, acme join, trial confirmed. The first two direct SEs also
#      get a secure command (`idm command --tenant acme`, queued as soon as
#      the IDM can reach them) and run CHAOS_CMD_UPLINKS (40) uplinks, in
#      which the command must be applied exactly once.
#   2. 4 application uplinks from every device on acme's network.
# The servers start in the worst order: the network servers, acme's AS and
# the hub first, the flow at once, the Join Servers and idm serve
# CHAOS_LATE_S (5) seconds later (boot_js and idm together on one token).
# Then, with every server up: the IDM's view (`idm status`: every SE
# active_at_customer, held by acme, nothing in flight; `idm command-show`:
# each command done), application uplinks of every device in acme's AS
# log, `idm audit verify`; every server stopped with SIGTERM (exit 0);
# no uplink refused by a network server as a replay (an FCntUp reused);
# then, servers stopped, the databases read with sqlite3: no DevNonce
# accepted twice and no JoinNonce reused per device per Join Server,
# JoinNonces strictly increasing in accepted order; MLS command counters
# unique per SE, every command done, each SE's MLS counter equal to the
# IDM's last.
#
# When the flow cannot reach its end state after a kill, that is a finding
# about the product, reported by the failing lines: the test is never
# retried as a whole.
#
#   CHAOS_SEED (1)      the plan of kills: which server, when, how long down
#   CHAOS_ROUNDS (16)   kills at most (the loop also ends with the flow);
#                       `make soak` may run it with more
#   CHAOS_SERVERS       the servers the loop may kill (default: all eight,
#                       the names above)
#   CHAOS_DEVICES (10), CHAOS_ROAMING (2), CHAOS_LOSS (0.1)
# Prints TAP and `# chaos: N kills, N restarts, N devices ok, seed S` with
# the devices' join-requests, joins, rejoins and link checks.
# Every kill and restart is recorded, with the time since the flow began,
# in chaos.events (printed as TAP comments).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib/common.sh"
SEED=${CHAOS_SEED:-1}
ROUNDS=${CHAOS_ROUNDS:-16}
COUNT=${CHAOS_DEVICES:-10}
ROAM=${CHAOS_ROAMING:-2}
LOSS=${CHAOS_LOSS:-0.1}
KILLABLE=${CHAOS_SERVERS:-boot_js idm acme_js boot_ns visited_ns acme_ns acme_as hub}
NCMD=2
need_node
command -v sqlite3 >/dev/null 2>&1 || { echo "not ok 1 - the sqlite3 shell is needed (scripts/deps.sh)"; echo "1..1"; exit 1; }
[ "$COUNT" -ge $((ROAM + NCMD + 1)) ] || { echo "not ok 1 - CHAOS_DEVICES must be at least CHAOS_ROAMING + 3"; echo "1..1"; exit 1; }
make_tmp chaos
# every server logs into $tmp/*.log: shown when a wait times out
watch_log "$tmp"
jq_() { node -e 'const o=JSON.parse(require("fs").readFileSync(0,"utf8"));process.stdout.write(String(eval(process.argv[1])))' "$1"; }
servers_down=""
up() { if eval "$2"; then ok "$1"; else notok "$1"; servers_down="$servers_down; $1"; fi; }
bail_if_down() { [ -z "$servers_down" ] || { echo "# not up:${servers_down#;}; the rest of the test cannot run"; echo "1..$n"; exit 1; }; }

# ---- the deployments (as `ferry demo` makes them, with one customer) ----
HSAKEK=$(hex16); BNS=$(hex16); AKEK=$(hex16); ANS=$(hex16); AAS=$(hex16); VKEK=$(hex16); BI_HOME=$(hex16); BI_VIS=$(hex16)
idm="$tmp/idm"; acme="$tmp/acme"; out="$tmp/hsa"
P_JS=$(port); P_IDM=$(port); P_A=$(port); P_BNS=$(port); P_ANS=$(port); P_VNS=$(port); P_AS=$(port); P_HUB=$(port)
U_B=$(uport); U_A=$(uport); U_V=$(uport)
I="$FERRY -d $idm"; A="$FERRY -d $acme"
BJE=70B3D57ED0000000; AJE=70B3D57ED00A0000; VNET=000042
{
    "$FERRY" init "$idm" --join-eui $BJE --listen "127.0.0.1:$P_JS" &&
    echo "$HSAKEK" | $I kek import hsa-idm && echo "$BNS" | $I kek import bootstrap-ns && $I kek generate idm-as &&
    $I peer add 000000 --token-out "$tmp/boot-js.tok" && echo "$AKEK" | $I kek import acme-kek &&
    $I operator add $VNET --reach hub --token-out "$tmp/hub-op.tok" --name "visited network" &&
    "$FERRY" init "$acme" --join-eui $AJE --listen "127.0.0.1:$P_A" &&
    echo "$AKEK" | $A kek import acme-kek && echo "$ANS" | $A kek import acme-ns && echo "$AAS" | $A kek import acme-as &&
    $A peer add 000013 --token-out "$tmp/acme-js.tok" &&
    echo "$HSAKEK" | "$FERRY" hsa personalise --count "$COUNT" --out "$out" --kek-label hsa-idm --mac-version 1.0.4 \
        --dev-eui-base 70B3D57ED0080000 && $I idm import "$out/batch.jsonl" &&
    $I idm init --ns-token-out "$tmp/idm-ns.tok" --listen "127.0.0.1:$P_IDM" &&
    $I idm config set retry_base 1 poll 1 redeliver_after 10 &&
    $I idm tenant add acme --kind customer --token-out "$tmp/acme.tok" &&
    $I idm js add acme-js --tenant acme --url "http://127.0.0.1:$P_A" --admin-token-file "$acme/admin.token" \
        --join-eui $AJE --net-id 000013 --kek-label acme-kek --ns-kek-label acme-ns --as-kek-label acme-as &&
    "$FERRY" hub token "$tmp/home-hub.tok" >"$tmp/home-hub.json" &&
    "$FERRY" hub token "$tmp/visited-hub.tok" >"$tmp/visited-hub.json"
} >"$tmp/setup.log" 2>"$tmp/err"
check "IDM and acme deployments, $COUNT SEs personalised and imported, acme and its Join Server, the visited operator" '[ $? -eq 0 ]'
sed -n 's/.*"DevEUI":"\([0-9A-F]\{16\}\)".*:O\([0-9A-F]\{32\}\)".*/\1 \2/p' "$out/batch.jsonl" >"$tmp/claims.txt"
$I idm claim --file "$tmp/claims.txt" --tenant acme >"$tmp/o" 2>"$tmp/err"
for d in $(cut -d' ' -f1 "$tmp/claims.txt"); do $I idm assign "$d" >/dev/null 2>>"$tmp/err" || echo "assign $d" >>"$tmp/err"; done
check "acme claims all $COUNT from a file and assigns them" '[ "$(grep -c assign "$tmp/err")" = 0 ] && grep -q "\"Claimed\": $COUNT" "$tmp/o"'

umask 077
echo "$BNS" >"$tmp/boot.kek"; echo "$ANS" >"$tmp/acme-ns.kek"; echo "$AAS" >"$tmp/acme-as.kek"; echo "$VKEK" >"$tmp/visited.kek"
echo ns-as-token >"$tmp/as.tok"; echo dl >"$tmp/dl.tok"
echo "$BI_HOME" >"$tmp/hub-home-bi.tok"; echo "$BI_HOME" >"$tmp/hub-to-home.tok"
echo "$BI_VIS" >"$tmp/hub-visited-bi.tok"; echo "$BI_VIS" >"$tmp/hub-to-visited.tok"
echo "$VNET $(cat "$tmp/hub-op.tok")" >"$tmp/hub-js.tok"
h_home=$(jget token_sha256 <"$tmp/home-hub.json"); h_vis=$(jget token_sha256 <"$tmp/visited-hub.json")
cat >"$tmp/hub.conf" <<EOT
listen = 127.0.0.1:$P_HUB
threads = 4
member = 000000 token_sha256=$h_home
member = $VNET token_sha256=$h_vis
route = $BJE/48 http://127.0.0.1:$P_JS/ hub-js.tok
route = 000000 http://127.0.0.1:$P_BNS/bi hub-to-home.tok
route = $VNET http://127.0.0.1:$P_VNS/bi hub-to-visited.tok
EOT
cat >"$tmp/boot-ns.conf" <<EOT
net_id = 000000
kek_label = bootstrap-ns
kek_file = boot.kek
udp_listen = 127.0.0.1:$U_B
http_listen = 127.0.0.1:$P_BNS
route = $BJE/48 http://127.0.0.1:$P_JS/ boot-js.tok
as_url = http://127.0.0.1:$P_IDM
as_token_file = idm-ns.tok
downlink_token_file = dl.tok
roaming_hub = http://127.0.0.1:$P_HUB/ home-hub.tok
bi_token_file = hub-home-bi.tok
roaming_lifetime = 600
state_file = boot-ns.state
EOT
cat >"$tmp/visited-ns.conf" <<EOT
net_id = $VNET
kek_label = ns:$VNET
kek_file = visited.kek
udp_listen = 127.0.0.1:$U_V
http_listen = 127.0.0.1:$P_VNS
roaming_hub = http://127.0.0.1:$P_HUB/ visited-hub.tok
bi_token_file = hub-visited-bi.tok
state_file = visited-ns.state
EOT
cat >"$tmp/acme-ns.conf" <<EOT
net_id = 000013
kek_label = acme-ns
kek_file = acme-ns.kek
udp_listen = 127.0.0.1:$U_A
http_listen = 127.0.0.1:$P_ANS
route = $AJE/48 http://127.0.0.1:$P_A/ acme-js.tok
as_url = http://127.0.0.1:$P_AS
as_token_file = as.tok
downlink_token_file = dl.tok
state_file = acme-ns.state
EOT
cat >"$tmp/acme-as.conf" <<EOT
listen = 127.0.0.1:$P_AS
token_file = as.tok
kek_label = acme-as
kek_file = acme-as.kek
idm_url = http://127.0.0.1:$P_IDM
idm_token_file = acme.tok
EOT
umask 022

# ---- the servers: one command line, health URL and log each ----
SERVERS="boot_js idm acme_js boot_ns visited_ns acme_ns acme_as hub"
server() { eval "cmd_$1=\$2; url_$1=\$3; pid_$1="; }
for s in $KILLABLE; do
    case " $SERVERS " in *" $s "*) ;; *) notok "CHAOS_SERVERS: $s is none of: $SERVERS"; echo "1..$n"; exit 1 ;; esac
done
server boot_js "$FERRY -d $idm serve" "http://127.0.0.1:$P_JS/metrics"
server idm "$FERRY -d $idm idm serve" "http://127.0.0.1:$P_IDM/healthz"
server acme_js "$FERRY -d $acme serve" "http://127.0.0.1:$P_A/metrics"
server boot_ns "$FERRY lab ns --config $tmp/boot-ns.conf" "http://127.0.0.1:$P_BNS/status"
server visited_ns "$FERRY lab ns --config $tmp/visited-ns.conf" "http://127.0.0.1:$P_VNS/status"
server acme_ns "$FERRY lab ns --config $tmp/acme-ns.conf" "http://127.0.0.1:$P_ANS/status"
server acme_as "$FERRY lab as --config $tmp/acme-as.conf" "http://127.0.0.1:$P_AS/status"
server hub "$FERRY hub --config $tmp/hub.conf" "http://127.0.0.1:$P_HUB/metrics"
# Starts NAME in the background with its command line, appending to its
# log (a restart adds to what the killed process wrote). Every server is a
# child of this shell, so cleanup and the SIGTERM check can wait for it.
start_server() {
    eval "s_cmd=\$cmd_$1"
    set -f
    $s_cmd >>"$tmp/$1.log" 2>&1 &
    s_pid=$!
    set +f
    eval "pid_$1=$s_pid"
}
listening() { eval "wait_http \"\$url_$1\" \"\$pid_$1\""; }
all_pids() { for s in $SERVERS; do eval "printf '%s ' \"\$pid_$s\""; done; }
flow_pid=""
chaos_cleanup() {
    [ -n "$flow_pid" ] && kill "$flow_pid" 2>/dev/null && wait "$flow_pid" 2>/dev/null
    pids="$(all_pids)"
    cleanup
}
trap chaos_cleanup EXIT

# Started in the worst order (servers must start in any order and wait for
# what they need): the network servers, acme's AS and the hub first, and the
# flow begins at once; the Join Servers and idm serve only CHAOS_LATE_S
# seconds later, boot_js and idm at the same moment on one token (issue 17's
# first finding). Meanwhile join-requests find no Join Server: the NS logs
# it, the device backs off and tries again.
EARLY="boot_ns visited_ns acme_ns acme_as hub"
LATE="boot_js idm acme_js"
LATE_S=${CHAOS_LATE_S:-5}
for s in $EARLY; do start_server "$s"; done
these_listening() { for s in "$@"; do listening "$s" || return 1; done; }
up "the three network servers, acme's AS and the hub answer (no Join Server, no IDM yet)" 'these_listening $EARLY'
bail_if_down

# ---- the flow, in the background ----
imgs=$(ls "$out"/se-*.img | sort)
direct=$(echo "$imgs" | head -n $((COUNT - ROAM)))
cmd_imgs=$(echo "$direct" | head -n $NCMD | tr '\n' ' ')
plain_imgs=$(echo "$direct" | tail -n +$((NCMD + 1)) | tr '\n' ' ')
roaming=$(echo "$imgs" | tail -n "$ROAM" | tr '\n' ' ')
all_imgs=$(echo "$imgs" | tr '\n' ' ')
# hsa personalise names each image after its DevEUI
img_eui() { for f in "$@"; do basename "$f" .img | sed 's/^se-//'; done; }
NET_B="bootstrap=127.0.0.1:$U_B"; NET_A="acme=127.0.0.1:$U_A"; NET_V="visited=127.0.0.1:$U_V"
# The three runs of phase 1 go at once; each `ferry lab devices` has its
# own gateway EUIs (its process id in them), so an NS sends each run's
# downlinks to that run's gateways.
# A wall-time ceiling per run with room for the outages, scaled like every
# deadline; the runs end as soon as every device reached its goal.
BUDGET=$(scaled $((60 + 6 * COUNT)))
PAYLOAD=C0FFEE0102030405
# uplinks of each commanded device in phase 1: its bootstrap MLS frames,
# then application uplinks long after its command came and went (about 15
# are used without faults)
CMD_UPLINKS=${CHAOS_CMD_UPLINKS:-40}
# The IDM takes a secure command for an SE once it has bootstrapped (it
# refuses one for a manufactured SE: "the SE cannot be reached").
reachable() { r_state=$($I idm show "$1" 2>/dev/null | jget State); [ -n "$r_state" ] && [ "$r_state" != manufactured ]; }
: >"$tmp/cmd.err"
flow() {
    fpids=""
    trap 'for p in $fpids; do kill "$p" 2>/dev/null; done; exit 143' TERM
    # devices NAME ARGS...: one `ferry lab devices` in the background
    devices() {
        f_name=$1; shift
        "$FERRY" lab devices --loss "$LOSS" --workers 4 --seconds "$BUDGET" "$@" \
            >"$tmp/$f_name.json" 2>"$tmp/$f_name.err" &
        fpids="$fpids $!"; eval "fp_$f_name=$!"
    }
    reap() { eval "wait \$fp_$1"; echo $? >"$tmp/$1.rc"; echo "$(date +%s) $1 ended, status $(cat "$tmp/$1.rc")"; }
    echo "$(date +%s) phase 1: bootstrap, profile, switch (and the secure command for $NCMD)"
    # shellcheck disable=SC2086
    devices p1c --networks "$NET_B,$NET_A" --until uplinks:$CMD_UPLINKS --dr mixed $cmd_imgs
    # shellcheck disable=SC2086
    devices p1d --networks "$NET_B,$NET_A" --until switched --dr mixed $plain_imgs
    # shellcheck disable=SC2086
    devices p1r --networks "$NET_V,$NET_A" --until switched --dr mixed $roaming
    # A secure command for the first NCMD SEs, queued with the operator's
    # CLI while the servers are being killed, as soon as the IDM can reach
    # the SE. Those devices go on for CMD_UPLINKS uplinks in the same
    # `ferry lab devices` process as their joins, so that the command, the
    # application's reply and the IDM's acknowledgement all travel there,
    # and a command applied twice shows in the one report.
    for d in $(img_eui $cmd_imgs); do
        if wait_until "SE $d bootstrapped (idm show), to queue its command" $((60 + 6 * COUNT)) "reachable $d"; then
            $I idm command "$d" --payload $PAYLOAD --tenant acme >"$tmp/cmd-$d.json" 2>>"$tmp/cmd.err" ||
                echo "idm command $d failed: $(cat "$tmp/cmd-$d.json")" >>"$tmp/cmd.err"
        else
            echo "SE $d never left the state manufactured" >>"$tmp/cmd.err"
        fi
        echo "$(date +%s) secure command for $d: $(tr -d ' \n' <"$tmp/cmd-$d.json" 2>/dev/null)"
    done
    reap p1c; reap p1d; reap p1r
    echo "$(date +%s) phase 2: --until uplinks:4, every device"
    # shellcheck disable=SC2086
    devices p2 --networks "$NET_A" --until uplinks:4 $all_imgs
    reap p2
    echo "$(date +%s) flow ended"
    [ "$(cat "$tmp/p1c.rc" "$tmp/p1d.rc" "$tmp/p1r.rc" "$tmp/p2.rc" | tr -d '\n')" = 0000 ]
}

# ---- the chaos loop: the plan from the seed, run while the flow runs ----
# Each line: the server's index, tenths of a second before the kill
# (20..100: the kills spread over the whole flow), tenths of a second down
# (2..20).
awk -v seed="$SEED" -v rounds="$ROUNDS" -v k="$(echo $KILLABLE | wc -w)" 'BEGIN {
    srand(seed)
    for (i = 0; i < rounds; i++)
        printf "%d %d %d\n", int(rand() * k) + 1, 20 + int(rand() * 81), 2 + int(rand() * 19)
}' >"$tmp/chaos.plan"
t0=$(date +%s.%N)
now() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%7.2f", b - a }'; }
# each event: seconds since the flow began, and the wall clock (UTC, as in
# the servers' logs)
event() { echo "$(now) $(date -u +%H:%M:%S.%3N) $*" >>"$tmp/chaos.events"; }
: >"$tmp/chaos.events"
flow >"$tmp/flow.log" 2>&1 &
flow_pid=$!
event "flow started; Join Servers and idm serve start in $LATE_S s"
sleep "$LATE_S"
for s in $LATE; do start_server "$s"; done
up "... then both Join Servers and idm serve, $LATE_S s into the flow, answer" 'these_listening $LATE'
bail_if_down
event "Join Servers and idm serve listening"
check "... and join-requests sent before that found no Join Server (the NS logged it) and were tried again later" \
    'grep -q "Join Server unreachable" "$tmp/boot_ns.log"'
# Sleeps TENTHS tenths of a second unless the flow ends first (false then).
# The sleep is the chaos itself: a random moment to kill, a random time down.
nap() {
    k=0
    while [ $k -lt "$1" ]; do
        kill -0 "$flow_pid" 2>/dev/null || return 1
        sleep 0.1
        k=$((k + 1))
    done
}
kills=0; restarts=0; failed_starts=0
while read -r idx wait_ds down_ds <&3; do
    nap "$wait_ds" || break
    s=$(echo $KILLABLE | cut -d' ' -f"$idx")
    eval "p=\$pid_$s"
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    kills=$((kills + 1))
    event "kill $s (pid $p)"
    sleep "$(awk -v t="$down_ds" 'BEGIN { print t / 10 }')"
    # A restart that does not listen is a finding; it is counted and tried
    # again (three times at most) so that the flow can go on.
    tries=0
    while :; do
        start_server "$s"
        eval "p=\$pid_$s"
        event "restart $s (pid $p)"
        if listening "$s" >>"$tmp/restart-waits.txt"; then
            restarts=$((restarts + 1))
            event "listening $s"
            break
        fi
        failed_starts=$((failed_starts + 1))
        event "restart of $s FAILED (exit or no answer); last lines of $s.log follow"
        tail -n 5 "$tmp/$s.log" | sed 's/^/      | /' >>"$tmp/chaos.events"
        kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null
        tries=$((tries + 1))
        [ $tries -lt 3 ] || break
    done
done 3<"$tmp/chaos.plan"
event "chaos loop over: $kills kills, $restarts restarts, $failed_starts failed starts"
wait "$flow_pid"
flow_rc=$?
flow_pid=""
event "flow over (status $flow_rc)"
sed 's/^/# flow: /' "$tmp/flow.log"
sed 's/^/# chaos: /' "$tmp/chaos.events"

check "the chaos loop killed at least one server ($kills kills of $ROUNDS planned among: $KILLABLE; seed $SEED)" '[ "$kills" -ge 1 ]'
check "every killed server started again with the same command line and listened ($restarts of $kills, $failed_starts failed starts)" \
    '[ "$restarts" = "$kills" ] && [ "$failed_starts" = 0 ]'

# ---- what the devices say ----
rc_of() { cat "$tmp/$1.rc" 2>/dev/null || echo none; }
done_of() { [ -s "$tmp/$1.json" ] && jq_ o.done <"$tmp/$1.json" || echo 0; }
cnt() { [ -s "$tmp/$1.json" ] && jq_ "$2" <"$tmp/$1.json" || echo 0; }
nd=$((COUNT - ROAM - NCMD))
errs() { : >"$tmp/err"; for f in "$@"; do [ -s "$tmp/$f.err" ] && sed "s/^/$f: /" "$tmp/$f.err" >>"$tmp/err"; done; }
errs p1c; cat "$tmp/cmd.err" >>"$tmp/err"
check "phase 1: the $NCMD commanded devices: bootstrap join, profile over the air, switch, the secure command applied once by their application in $CMD_UPLINKS uplinks ($(done_of p1c) done, status $(rc_of p1c))" \
    '! grep -q . "$tmp/cmd.err" && [ "$(rc_of p1c)" = 0 ] && [ "$(cnt p1c "o.devices.filter(d=>d.SecureCommands===1&&d.LastSecureCommand&&d.LastSecureCommand.toUpperCase().startsWith(\"$PAYLOAD\")).length")" = $NCMD ]'
errs p1d
check "phase 1: the other $nd direct devices: bootstrap join, profile over the air ($LOSS loss), switch, acme join ($(done_of p1d) done, status $(rc_of p1d))" \
    '[ "$(rc_of p1d)" = 0 ] && [ "$(done_of p1d)" = $nd ]'
errs p1r
check "phase 1: the $ROAM roaming devices, bootstrapped through the visited network and the hub ($(done_of p1r) done, status $(rc_of p1r))" \
    '[ "$(rc_of p1r)" = 0 ] && [ "$(done_of p1r)" = "$ROAM" ]'
on_acme="o.devices.filter(d=>d.JoinEUI.toUpperCase()===\"$AJE\"&&d.Joined&&!d.OnTrial&&d.ActiveSlot>0).length"
errs
check "... each on acme's JoinEUI, its trial confirmed" \
    '[ $(( $(cnt p1c "$on_acme") + $(cnt p1d "$on_acme") + $(cnt p1r "$on_acme") )) = "$COUNT" ]'
check "... frames were lost and the flow went on (LostUp+LostDown > 0)" \
    '[ "$(cnt p1d "o.devices.reduce((a,d)=>a+d.LostUp+d.LostDown,0)")" -gt 0 ]'
errs p2
check "phase 2: 4 application uplinks each from all $COUNT devices on acme's network ($(done_of p2) done, status $(rc_of p2))" \
    '[ "$(rc_of p2)" = 0 ] && [ "$(done_of p2)" = "$COUNT" ]'

# ---- the IDM's view, through its CLI, every server up ----
img_eui $imgs | grep . >"$tmp/devs.txt"
settled() {
    $I idm status --file "$tmp/devs.txt" >"$tmp/status.json" 2>"$tmp/err" || return 1
    st=$(jq_ "o.SEs.filter(s=>s.State===\"active_at_customer\"&&s.Tenant===\"acme\"&&!s.Update&&!s.PendingCommands).length" <"$tmp/status.json")
    [ "$st" = "$COUNT" ]
}
# The IDM's housekeeping may still be finishing once the devices are done:
# waited for. When the devices did not reach their goals the state is read
# once (it cannot come), rather than waiting out the deadline.
if [ "$flow_rc" = 0 ]; then settle_s=-; else settle_s=0; fi
wait_until "every SE active_at_customer at acme with nothing in flight (idm status)" $settle_s settled
check "IDM: every SE active at acme, no update or command in flight ($st of $COUNT)" '[ "$st" = "$COUNT" ]'
: >"$tmp/err"
for d in $(img_eui $cmd_imgs); do
    seq=$(jq_ "o.Results[0].Seq" <"$tmp/cmd-$d.json" 2>/dev/null)
    $I idm command-show "$d" "$seq" >"$tmp/cs-$d.json" 2>>"$tmp/err" || echo "command-show $d $seq failed" >>"$tmp/err"
done
check "IDM: each secure command done once, with the application's reply" \
    '[ "$(cat "$tmp"/cs-*.json 2>/dev/null | grep -c "\"State\": *\"done\"")" = $NCMD ] && ! grep -q . "$tmp/err"'
as_all() { [ "$(grep '"msg":"uplink"' "$tmp/acme_as.log" | grep 'FPort 1:' | grep -o '"dev_eui":"[0-9A-Fa-f]*"' | sort -u | wc -l | tr -d ' ')" -ge "$COUNT" ]; }
wait_until "application uplinks of all $COUNT devices in acme's AS log" $settle_s as_all
check "acme's AS decrypted application uplinks from every device (its log, kept across restarts)" 'as_all'
$I idm audit verify >"$tmp/audit.out" 2>"$tmp/err"
audit_rc=$?
check "idm audit verify: the audit chain holds ($(tr -d '\n ' <"$tmp/audit.out" | cut -c1-100))" '[ $audit_rc -eq 0 ]'

# ---- every server stops on SIGTERM ----
stopped=""
for s in $SERVERS; do eval "kill -TERM \$pid_$s"; done
for s in $SERVERS; do
    eval "wait \$pid_$s"; r=$?
    [ $r = 0 ] || stopped="$stopped $s:$r"
    eval "pid_$s="
done
check "every server stops on SIGTERM with status 0${stopped:+ (not:$stopped)}" '[ -z "$stopped" ]'

# ---- the frames the networks saw ----
# A device that sent an FCntUp twice in one session is refused by its NS as
# a replay (the NS keeps FCntUp across its restarts in its state_file), and
# logged; the lab has no late copies past late_ms, so any replay is a reuse.
replays=$(cat "$tmp"/boot_ns.log "$tmp"/visited_ns.log "$tmp"/acme_ns.log 2>/dev/null | grep -c '"msg":"replay"')
accepted=$(grep -c '"msg":"uplink"' "$tmp/acme_as.log")
check "no FCntUp reused: no network server refused an uplink as a replay ($replays replays; $accepted uplinks at acme's AS)" \
    '[ "$replays" = 0 ] && [ "$accepted" -gt 0 ]'
check "every network server read its sessions back after each restart (no damaged or foreign state file)" \
    '! grep -q "state_file .*line" "$tmp"/boot_ns.log "$tmp"/visited_ns.log "$tmp"/acme_ns.log'

# ---- the databases, read once every server has stopped ----
nonces() {
    db=$1
    # a DevNonce accepted twice for one device and JoinEUI (the primary key
    # forbids it; checked anyway), a JoinNonce given twice to one device,
    # and JoinNonces not strictly increasing in accepted order
    dup_dev=$(sqlite3 "$db" "SELECT count(*) FROM (SELECT 1 FROM dev_nonces GROUP BY dev_eui, join_eui, dev_nonce HAVING count(*) > 1)")
    dup_join=$(sqlite3 "$db" "SELECT count(*) FROM (SELECT 1 FROM dev_nonces GROUP BY dev_eui, join_nonce HAVING count(*) > 1)")
    not_incr=$(sqlite3 "$db" "SELECT count(*) FROM (SELECT join_nonce, lag(join_nonce) OVER (PARTITION BY dev_eui ORDER BY accepted_at, dev_nonce) AS prev FROM dev_nonces) WHERE prev IS NOT NULL AND join_nonce <= prev")
    total=$(sqlite3 "$db" "SELECT count(*) FROM dev_nonces")
    [ "$dup_dev" = 0 ] && [ "$dup_join" = 0 ] && [ "$not_incr" = 0 ] && [ "$total" -gt 0 ]
}
check "bootstrap JS: no DevNonce accepted twice, no JoinNonce reused, JoinNonces increasing ($(nonces "$idm/ferry.db"; echo "$total joins; $dup_dev, $dup_join, $not_incr bad"))" \
    'nonces "$idm/ferry.db"'
check "acme's JS: no DevNonce accepted twice, no JoinNonce reused, JoinNonces increasing ($(nonces "$acme/ferry.db"; echo "$total joins; $dup_dev, $dup_join, $not_incr bad"))" \
    'nonces "$acme/ferry.db"'
sqlite3 -separator ' ' "$idm/ferry.db" "SELECT dev_eui, count(*), count(DISTINCT counter), max(counter), sum(state='done') FROM idm_cmd GROUP BY dev_eui" >"$tmp/mls.txt"
check "IDM: MLS counters never repeat per SE ($(awk '{ c += $2 } END { print c + 0 }' "$tmp/mls.txt") commands)" \
    '[ "$(wc -l <"$tmp/mls.txt")" = "$COUNT" ] && awk "\$2 != \$3 { bad = 1 } END { exit bad }" "$tmp/mls.txt"'
check "IDM: every command done ($(awk '{ c += $5 } END { print c + 0 }' "$tmp/mls.txt") done)" \
    'awk "\$2 != \$5 { bad = 1 } END { exit bad }" "$tmp/mls.txt"'
# each device's counter from the last report in which it appears
REPORTS="p1c p1d p1r p2"
# shellcheck disable=SC2086
node "$here/chaos.js" last "$tmp" $REPORTS | awk '{ print $1, $6 }' >"$tmp/se-counters.txt"
awk '{ print $1, $4 }' "$tmp/mls.txt" | sort >"$tmp/idm-counters.txt"
check "each SE's MLS down counter is the IDM's last (no command lost or executed twice)" \
    '[ "$(wc -l <"$tmp/se-counters.txt")" = "$COUNT" ] && cmp -s "$tmp/se-counters.txt" "$tmp/idm-counters.txt"'
# INSTALL (type 2, a profile) more than once: a trial that failed during an
# outage, the SE back on bootstrap, and a new profile delivered (redeliver_after)
extra=$(sqlite3 "$idm/ferry.db" "SELECT count(*) FROM (SELECT 1 FROM idm_cmd WHERE type = 2 GROUP BY dev_eui HAVING count(*) > 1)")
echo "# $extra SE(s) got their profile more than once (fallback and redelivery after an outage)"
check "no sanitizer report from any process" '! grep -l "ERROR: AddressSanitizer\|runtime error" "$tmp"/*.log "$tmp"/*.err 2>/dev/null'

# shellcheck disable=SC2086
ok_devs=$(node "$here/chaos.js" ok "$tmp" $AJE acme $REPORTS)
# shellcheck disable=SC2086
set -- $(node "$here/chaos.js" retries "$tmp" $REPORTS)
echo "# chaos: $kills kills, $restarts restarts, $ok_devs devices ok, seed $SEED; devices: ${1:-?} join-requests for ${2:-?} joins, ${3:-?} rejoins after ${4:-?} link checks"
echo "1..$n"
[ "$failed" -eq 0 ]
