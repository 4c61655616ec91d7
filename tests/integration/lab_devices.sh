#!/bin/sh
# lab_devices.sh - simulated devices (`ferry lab devices`: emulated SEs
# under a class A stack) through the whole bootstrapping flow, with every
# real piece on loopback and 10% radio loss both ways:
#   - an IDM deployment (bootstrap JS `serve`, `idm serve`) and a customer
#     JS deployment (acme), each its own token;
#   - two lab network servers: the bootstrap network (its AS is `idm
#     serve`) and acme's network (its AS the stand-in lab_as.js);
#   - 16 SEs from `ferry hsa personalise`, claimed in bulk by acme from a
#     file and assigned;
#   - the devices join the bootstrap network through simulated
#     packet-forwarder gateways, receive their profile over FPort 200 in
#     fragments sized by their data rate (DR0..DR5), switch, join acme's
#     network and confirm their trial; the IDM sees every one active;
#   - their application uplinks reach acme's AS, which decrypts them with the
#     AppSKey from acme's JS;
#   - each SE executed exactly the two MLS commands the IDM sealed.
# Prints TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib/common.sh"
COUNT=${COUNT:-16}
need_node
command -v sqlite3 >/dev/null 2>&1 || { echo "not ok 1 - the sqlite3 shell is needed (scripts/deps.sh)"; echo "1..1"; exit 1; }
make_tmp lab-dev
# up: check for a readiness line; bail_if_down before the part that needs
# the servers, which would otherwise wait out every deadline in turn
servers_down=""
up() { if eval "$2"; then ok "$1"; else notok "$1"; servers_down="$servers_down; $1"; fi; }
bail_if_down() { [ -z "$servers_down" ] || { echo "# not up:${servers_down#;}; the rest of the test cannot run"; echo "1..$n"; exit 1; }; }
# every server logs into $tmp/*.log: shown when a wait times out
watch_log "$tmp"
jq_() { node -e 'const o=JSON.parse(require("fs").readFileSync(0,"utf8"));process.stdout.write(String(eval(process.argv[1])))' "$1"; }

HSAKEK=$(hex16); BNS=$(hex16); AKEK=$(hex16); ANS=$(hex16); AAS=$(hex16)
idm="$tmp/idm"; acme="$tmp/acme"; out="$tmp/hsa"
P_JS=$(port); P_IDM=$(port); P_A=$(port); P_BNS=$(port); P_ANS=$(port); P_AS=$(port); U_B=$(uport); U_A=$(uport)
I="$FERRY -d $idm"; A="$FERRY -d $acme"
BJE=70B3D57ED0000000; AJE=70B3D57ED00A0000
{
    "$FERRY" init "$idm" --join-eui $BJE --listen "127.0.0.1:$P_JS" &&
    echo "$HSAKEK" | $I kek import hsa-idm && echo "$BNS" | $I kek import bootstrap-ns && $I kek generate idm-as &&
    $I peer add 000000 --token-out "$tmp/boot-js.tok" && echo "$AKEK" | $I kek import acme-kek &&
    "$FERRY" init "$acme" --join-eui $AJE --listen "127.0.0.1:$P_A" &&
    echo "$AKEK" | $A kek import acme-kek && echo "$ANS" | $A kek import acme-ns && echo "$AAS" | $A kek import acme-as &&
    $A peer add 000013 --token-out "$tmp/acme-js.tok" &&
    echo "$HSAKEK" | "$FERRY" hsa personalise --count "$COUNT" --out "$out" --kek-label hsa-idm --mac-version 1.0.4 \
        --dev-eui-base 70B3D57ED0060000 && $I idm import "$out/batch.jsonl" &&
    $I idm init --ns-token-out "$tmp/idm-ns.tok" --listen "127.0.0.1:$P_IDM" &&
    sed -i 's/^retry_base = .*/retry_base = 1/; s/^poll = .*/poll = 1/; s/^max_join_attempts = .*/max_join_attempts = 8/' "$idm/idm.conf" &&
    $I idm tenant add acme --kind customer --token-out "$tmp/acme.tok" &&
    $I idm js add acme-js --tenant acme --url "http://127.0.0.1:$P_A" --admin-token-file "$acme/admin.token" \
        --join-eui $AJE --net-id 000013 --kek-label acme-kek --ns-kek-label acme-ns --as-kek-label acme-as
} >"$tmp/setup.log" 2>"$tmp/err"
check "IDM and acme deployments, $COUNT SEs personalised and imported, acme and its Join Server" '[ $? -eq 0 ]'
sed -n 's/.*"DevEUI":"\([0-9A-F]\{16\}\)".*:O\([0-9A-F]\{32\}\)".*/\1 \2/p' "$out/batch.jsonl" >"$tmp/claims.txt"
$I idm claim --file "$tmp/claims.txt" --tenant acme >"$tmp/o" 2>"$tmp/err"
for d in $(cut -d' ' -f1 "$tmp/claims.txt"); do $I idm assign "$d" >/dev/null 2>>"$tmp/err" || echo "assign $d" >>"$tmp/err"; done
check "acme claims all $COUNT from a file and assigns them" '[ "$(grep -c assign "$tmp/err")" = 0 ] && grep -q "\"Claimed\": $COUNT" "$tmp/o"'

umask 077; echo "$BNS" >"$tmp/boot.kek"; echo "$ANS" >"$tmp/acme-ns.kek"; echo as-token >"$tmp/as.tok"; echo dl >"$tmp/dl.tok"
cat >"$tmp/boot-ns.conf" <<EOT
net_id = 000000
kek_label = bootstrap-ns
kek_file = boot.kek
udp_listen = 127.0.0.1:$U_B
http_listen = 127.0.0.1:$P_BNS
route = $BJE/40 http://127.0.0.1:$P_JS/ boot-js.tok
as_url = http://127.0.0.1:$P_IDM
as_token_file = idm-ns.tok
downlink_token_file = dl.tok
EOT
cat >"$tmp/acme-ns.conf" <<EOT
net_id = 000013
kek_label = acme-ns
kek_file = acme-ns.kek
udp_listen = 127.0.0.1:$U_A
http_listen = 127.0.0.1:$P_ANS
route = $AJE/40 http://127.0.0.1:$P_A/ acme-js.tok
as_url = http://127.0.0.1:$P_AS
as_token_file = as.tok
downlink_token_file = dl.tok
EOT
$I serve >"$tmp/js.log" 2>&1 & js_pid=$!; pids="$pids $js_pid"
$A serve >"$tmp/acme.log" 2>&1 & acme_pid=$!; pids="$pids $acme_pid"
$I idm serve >"$tmp/idm.log" 2>&1 & idm_pid=$!
node "$here/lab_as.js" serve "$P_AS" as-token "$tmp/as.jsonl" >"$tmp/as.log" 2>&1 & as_pid=$!; pids="$pids $as_pid"
"$FERRY" lab ns --config "$tmp/boot-ns.conf" 2>"$tmp/boot-ns.log" & bns_pid=$!; pids="$pids $bns_pid"
"$FERRY" lab ns --config "$tmp/acme-ns.conf" 2>"$tmp/acme-ns.log" & ans_pid=$!; pids="$pids $ans_pid"
: >"$tmp/err"
up "the Join Servers, idm serve, both lab NSs and acme's AS answer" \
    'wait_http "http://127.0.0.1:$P_JS/metrics" $js_pid && wait_http "http://127.0.0.1:$P_A/metrics" $acme_pid &&
     wait_http "http://127.0.0.1:$P_IDM/healthz" $idm_pid && wait_http "http://127.0.0.1:$P_AS/" $as_pid &&
     wait_http "http://127.0.0.1:$P_BNS/status" $bns_pid && wait_http "http://127.0.0.1:$P_ANS/status" $ans_pid'
bail_if_down
NETS="bootstrap=127.0.0.1:$U_B,acme=127.0.0.1:$U_A"

# no --seconds: the program's default budget grows with the devices and the build
"$FERRY" lab devices --networks "$NETS" --until switched --loss 0.1 --dr mixed --workers 8 \
    "$out"/se-*.img >"$tmp/run1.json" 2>"$tmp/err"
rc=$?
done1=$(jq_ o.done <"$tmp/run1.json")
check "all $COUNT devices: bootstrap join, profile over the air (DR0..DR5 fragments, 10% loss), switch, join acme's network ($done1 done)" \
    '[ $rc -eq 0 ] && [ "$done1" = "$COUNT" ]'
check "... each on acme's JoinEUI, its trial confirmed" \
    '[ "$(jq_ "o.devices.filter(d=>d.JoinEUI.toUpperCase()===\"'$AJE'\"&&d.Joined&&!d.OnTrial&&d.ActiveSlot>0).length" <"$tmp/run1.json")" = "$COUNT" ]'
check "... frames were lost and the flow went on (LostUp+LostDown > 0)" \
    '[ "$(jq_ "o.devices.reduce((a,d)=>a+d.LostUp+d.LostDown,0)" <"$tmp/run1.json")" -gt 0 ]'
check "... their downlinks came in RX1, the window the NS names first ($(jq_ "o.devices.reduce((a,d)=>a+d.Rx1,0)" <"$tmp/run1.json") in RX1), none missed" \
    '[ "$(jq_ "o.devices.reduce((a,d)=>a+d.Rx1,0)" <"$tmp/run1.json")" -gt 0 ] && [ "$(jq_ o.gateways.DownMissed <"$tmp/run1.json")" = 0 ]'
check "every SE executed exactly the one MLS command the IDM sealed (INSTALL, activating at once)" \
    '[ "$(jq_ "o.devices.filter(d=>d.MLSDownCounter===1).length" <"$tmp/run1.json")" = "$COUNT" ]'
active() { a=$(sqlite3 "$idm/ferry.db" "SELECT count(*) FROM idm_se WHERE state='active_at_customer'"); [ "$a" = "$COUNT" ]; }
wait_until "all $COUNT SEs active_at_customer in the IDM's database" - active
check "IDM: every SE active at customer ($a)" '[ "$a" = "$COUNT" ]'
cmds_done() { q=$(sqlite3 "$idm/ferry.db" "SELECT count(*), sum(state='done') FROM idm_cmd"); [ "$q" = "$COUNT|$COUNT" ]; }
wait_until "$COUNT commands, all done, in the IDM's database" - cmds_done
check "IDM: $COUNT commands, all done ($q)" '[ "$q" = "$COUNT|$COUNT" ]'

"$FERRY" lab devices --networks "$NETS" --until uplinks:4 --loss 0.1 --workers 8 \
    "$out"/se-*.img >"$tmp/run2.json" 2>"$tmp/err"
check "a second run from the saved images: 4 more uplinks each on acme's network" '[ $? -eq 0 ]'
# the AS writes each uplink when it gets it, which may be after the device
# counted it sent
as_all() { [ "$(grep "\"FPort\":1," "$tmp/as.jsonl" | grep -o "\"DevEUI\":\"[0-9A-Fa-f]*\"" | sort -u | wc -l | tr -d " ")" -ge "$COUNT" ]; }
wait_until "application uplinks of all $COUNT devices at acme's AS" - as_all
line=$(grep -m1 '"FPort":1' "$tmp/as.jsonl")
dev=$(echo "$line" | jq_ o.DevEUI)
echo "$line" >"$tmp/up.json"
plain=$(node "$here/lab_as.js" decrypt "$AAS" "$tmp/up.json" 2>"$tmp/err")
want=$(echo "$dev" | cut -c13-16 | tr 'A-F' 'a-f')
check "acme's AS decrypts the devices' uplinks with the AppSKey from acme's JS ($plain from $dev)" \
    '[ -n "$plain" ] && [ "$(echo "$plain" | cut -c1-8 | tr "A-F" "a-f")" = "${want}0001" ]'
check "acme's AS got application uplinks from every device" \
    '[ "$(grep "\"FPort\":1," "$tmp/as.jsonl" | grep -o "\"DevEUI\":\"[0-9A-Fa-f]*\"" | sort -u | wc -l | tr -d " ")" -ge "$COUNT" ]'
# The device's MAC state (IMAGE.mac) survives a power cycle: no loss, so
# every LinkCheckReq (after 8 silent uplinks) is answered in the windows the
# join-accept set, and nobody joins again.
"$FERRY" lab devices --networks "$NETS" --until uplinks:12 --workers 8 "$out"/se-*.img >"$tmp/run3.json" 2>"$tmp/err"
rc=$?
check "a third run (12 uplinks, no loss): every device hears its LinkCheckAns in its saved windows and none joins again" \
    '[ $rc -eq 0 ] && [ "$(jq_ "o.devices.filter(d=>d.LinkChecks>0&&d.Downlinks>0&&d.Rejoins===0&&d.JoinRequests===0).length" <"$tmp/run3.json")" = "$COUNT" ]'
# acme's network server killed and started again: it lost every session
# (the lab NS keeps them in memory). Devices stop hearing anything, send
# LinkCheckReqs, and join again after three unanswered.
kill -9 $ans_pid 2>/dev/null; wait $ans_pid 2>/dev/null
"$FERRY" lab ns --config "$tmp/acme-ns.conf" 2>>"$tmp/acme-ns.log" & ans_pid=$!; pids="$pids $ans_pid"
check "acme's NS starts again on the same ports" 'wait_http "http://127.0.0.1:$P_ANS/status" $ans_pid'
mark=$(wc -l <"$tmp/as.jsonl")
"$FERRY" lab devices --networks "$NETS" --until uplinks:16 --workers 8 "$out"/se-*.img >"$tmp/run4.json" 2>"$tmp/err"
rc=$?
check "after the NS lost its sessions: every device joins acme's network again after unanswered LinkCheckReqs" \
    '[ $rc -eq 0 ] && [ "$(jq_ "o.devices.filter(d=>d.Rejoins===1&&d.JoinRequests>=1&&d.Joined&&d.JoinEUI.toUpperCase()===\"'$AJE'\").length" <"$tmp/run4.json")" = "$COUNT" ]'
as_after() { [ "$(tail -n +$((mark + 1)) "$tmp/as.jsonl" | grep "\"FPort\":1," | grep -o "\"DevEUI\":\"[0-9A-Fa-f]*\"" | sort -u | wc -l | tr -d " ")" -ge "$COUNT" ]; }
wait_until "application uplinks of all $COUNT devices at acme's AS after the rejoin" - as_after
check "... and their application uplinks reach acme's AS again" as_after
# Two runs at once against the same networks: their gateways must not share
# EUIs, or each takes the other's downlinks.
"$FERRY" lab devices --networks "$NETS" --until uplinks:10 --workers 2 $(ls "$out"/se-*.img | head -n $((COUNT / 2))) >"$tmp/run5a.json" 2>"$tmp/err5a" & r5=$!
"$FERRY" lab devices --networks "$NETS" --until uplinks:10 --workers 2 $(ls "$out"/se-*.img | tail -n +$((COUNT / 2 + 1))) >"$tmp/run5b.json" 2>"$tmp/err5b"
rc=$?; wait $r5; rca=$?
check "two runs at once against one network: both reach their goal, no downlink missed, nobody joins again" \
    '[ $rc -eq 0 ] && [ $rca -eq 0 ] && [ "$(jq_ o.gateways.DownMissed <"$tmp/run5a.json")$(jq_ o.gateways.DownMissed <"$tmp/run5b.json")" = 00 ] &&
     [ $(($(jq_ "o.devices.filter(d=>d.Rejoins===0).length" <"$tmp/run5a.json") + $(jq_ "o.devices.filter(d=>d.Rejoins===0).length" <"$tmp/run5b.json"))) = "$COUNT" ]'
check "--gateway-eui-base must leave the low 24 bits to networks and workers" \
    '! "$FERRY" lab devices --networks "$NETS" --gateway-eui-base AA555A0000000001 "$(ls "$out"/se-*.img | head -n 1)" 2>"$tmp/o" && grep -q "six zeros" "$tmp/o"'
$I idm audit verify >"$tmp/o" 2>"$tmp/err"
check "audit chain verifies" '[ $? -eq 0 ]'
# Receive windows: four more SEs behind a proxy that moves every downlink
# of the bootstrap network out of the window the NS chose.
W=4; wout="$tmp/hsa-w"; U_X=$(uport)
{
    echo "$HSAKEK" | "$FERRY" hsa personalise --count $W --out "$wout" --kek-label hsa-idm --mac-version 1.0.4 \
        --dev-eui-base 70B3D57ED0061000 && $I idm import "$wout/batch.jsonl"
} >>"$tmp/setup.log" 2>"$tmp/err"
check "$W more SEs personalised and imported" '[ $? -eq 0 ]'
node "$here/udp_shift.js" offchannel "$U_X" "$U_B" >"$tmp/shift1.log" 2>&1 & shift_pid=$!
wait_pid=$shift_pid
check "udp_shift.js offchannel listens on $U_X" 'wait_until "udp_shift.js offchannel bound to $U_X" - "grep -q listening $tmp/shift1.log"'
wait_pid=""
# the run ends on --max-steps; the budget is there to bound it (30 s before), scaled
"$FERRY" lab devices --networks "bootstrap=127.0.0.1:$U_X" --until bootstrap --max-steps 2 --seconds "$(scaled 30)" \
    "$wout"/se-*.img >"$tmp/w1.json" 2>"$tmp/err"
rc=$?
kill "$shift_pid" 2>/dev/null; wait "$shift_pid" 2>/dev/null
check "join-accepts moved to a frequency no uplink used are not heard: no device joins ($(jq_ o.gateways.DownMissed <"$tmp/w1.json") missed)" \
    '[ $rc -ne 0 ] && [ "$(jq_ "o.devices.filter(d=>d.Joined).length" <"$tmp/w1.json")" = 0 ] && [ "$(jq_ o.gateways.DownMissed <"$tmp/w1.json")" -ge $W ]'
node "$here/udp_shift.js" rx2 "$U_X" "$U_B" >"$tmp/shift2.log" 2>&1 & shift_pid=$!
wait_pid=$shift_pid
check "udp_shift.js rx2 listens on $U_X" 'wait_until "udp_shift.js rx2 bound to $U_X" - "grep -q listening $tmp/shift2.log"'
wait_pid=""
"$FERRY" lab devices --networks "bootstrap=127.0.0.1:$U_X" --until bootstrap \
    "$wout"/se-*.img >"$tmp/w2.json" 2>"$tmp/err"
rc=$?
kill "$shift_pid" 2>/dev/null; wait "$shift_pid" 2>/dev/null
check "join-accepts moved to RX2 (tmst + 1 s, 869.525 MHz, DR0) are heard there: every device joins in RX2, none in RX1" \
    '[ $rc -eq 0 ] && [ "$(jq_ "o.devices.filter(d=>d.Joined&&d.Rx2>=1&&d.Rx1===0).length" <"$tmp/w2.json")" = $W ]'
check "no sanitizer report from any process" '! grep -l "ERROR: AddressSanitizer\|runtime error" "$tmp"/*.log "$tmp/err" 2>/dev/null'
echo "1..$n"
[ "$failed" -eq 0 ]
