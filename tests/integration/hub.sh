#!/bin/sh
# hub.sh - the peering hub and passive roaming, every piece a real process
# on loopback: a Join Server deployment (`ferry init`, `kek import`, `device
# import`, `peer add`, `serve`), a HOME lab NS (NetID 000013) with a direct
# route to that Join Server and an application server (lab_as.js), a
# VISITED lab NS (NetID 000014) with no Join Server route at all, only the
# hub, and the hub (`ferry hub`) between them. An emulated secure element
# (`ferry se serve`) joins through a gateway of the visited network:
#   visited NS --HomeNSReq--> hub --> JS (HNetID 000013)
#   visited NS --PRStartReq--> hub --> home NS --JoinReq--> JS
#   join-accept back in PRStartAns, down through the visited gateway;
# then its uplinks go visited NS --XmitDataReq--> hub --> home NS --> AS,
# and the home network's downlinks (an ACK, the AS's payload) come back in
# XmitDataReq through the hub and leave from the visited gateway.
# Also: a member with a wrong token, a member speaking for another, an
# unknown JoinEUI (UnkownReceiver), malformed bodies, the metrics, and no key
# or token in any log or metric. Prints TAP.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
FERRY=${FERRY:-$root/build/san/bin/ferry}
export NODE_PATH="$root/tests/oracle/node_modules"
AS_JS="$here/lab_as.js"
. "$here/lib/wait.sh"

n=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-hub.XXXXXX") || exit 1
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    release_ports
    [ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# every server logs into $tmp/*.log: shown when a wait times out
watch_log "$tmp"

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
    n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"
    [ $# -gt 1 ] && printf '%s\n' "$2" | sed 's/^/# /'
}
# not_up: a readiness line that failed; bail_if_down before the part that
# needs the servers, which would otherwise wait out every deadline in turn
servers_down=""
not_up() { not_ok "$@"; servers_down="$servers_down; $1"; }
bail_if_down() { [ -z "$servers_down" ] || { echo "# not up:${servers_down#;}; the rest of the test cannot run"; echo "1..$n"; exit 1; }; }
check() { desc=$1; shift; if out=$("$@" 2>&1); then ok "$desc"; else not_ok "$desc" "$out"; fi; }
field() { node -e 'const o=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); let v=o; for (const k of process.argv[2].split(".")) v=(v===undefined||v===null)?undefined:v[k]; process.stdout.write(v===undefined||v===null?"":String(v))' "$1" "$2"; }
wrap() { node -e 'const c=require("crypto"); const w=c.createCipheriv("id-aes128-wrap",Buffer.from(process.argv[1],"hex"),Buffer.from("a6a6a6a6a6a6a6a6","hex")); process.stdout.write(Buffer.concat([w.update(Buffer.from(process.argv[2],"hex")),w.final()]).toString("hex"))' "$1" "$2"; }

for tool in node curl; do
    if ! command -v $tool >/dev/null 2>&1; then echo "1..1"; echo "not ok 1 - $tool is needed"; exit 1; fi
done

JOINEUI=70B3D57ED0000000
DEVEUI=0004a30b001c0b01
TRANSPORT=000102030405060708090a0b0c0d0e0f
APPKEY=2b7e151628aed2a6abf7158809cf4f3c
MLSKEY=a0a1a2a3a4a5a6a7a8a9aaabacadaeaf
NSKEK=00112233445566778899aabbccddeeff
VNSKEK=ffeeddccbbaa99887766554433221100
ASKEK=0f0e0d0c0b0a09080706050403020100
GW=AA555A00000000F1
jsport=$(port); hubport=$(port); asport=$(port)
hudp=$(uport); hhttp=$(port); vudp=$(uport); vhttp=$(port)
HUB="http://127.0.0.1:$hubport"
VNS="127.0.0.1:$vudp"
# wait_sock SOCKET PID: the SE emulator's Unix socket, its process watched
wait_sock() { wait_pid=$2; wait_until "the SE emulator's socket $1" - "[ -S '$1' ]"; w_rc=$?; wait_pid=""; return $w_rc; }
umask 077

# ---- 1. the Join Server: one 1.0.3 device at home in 000013, allowed to roam into 000014
dep="$tmp/js"
"$FERRY" init "$dep" --join-eui $JOINEUI --listen "127.0.0.1:$jsport" >/dev/null 2>"$tmp/err" || not_ok "ferry init" "$(cat "$tmp/err")"
F="$FERRY -d $dep"
# the home NS reaches the JS directly; the hub speaks to it for 000014 (HomeNSReq)
$F peer add 000013 --token-out "$tmp/home-js.tok" >/dev/null 2>&1
$F peer add 000014 --token-out "$tmp/hub-js-000014.tok" >/dev/null 2>&1
echo $NSKEK | $F kek import ns:000013 >/dev/null 2>&1
echo $ASKEK | $F kek import as:app1 >/dev/null 2>&1
cat >"$tmp/dev.jsonl" <<EOT
{"DevEUI":"$DEVEUI","JoinEUI":"$JOINEUI","MACVersion":"1.0.3","HomeNetID":"000013","AllowedNetIDs":["000014"],"NwkKey":{"AESKey":"$APPKEY"},"NSKEKLabel":"ns:000013","ASKEKLabel":"as:app1","ASID":"as.example.com"}
EOT
check "Join Server deployment: a device at home in 000013, roaming allowed in 000014" $F device import "$tmp/dev.jsonl" --allow-clear-keys
"$FERRY" -d "$dep" serve 2>"$tmp/js.log" &
jspid=$!; pids="$pids $jspid"
wait_http "http://127.0.0.1:$jsport/metrics" $jspid && ok "Join Server listens" || not_up "Join Server listens" "$(cat "$tmp/js.log")"

# ---- 2. the hub: two members, a route to the JS, one to each NS
"$FERRY" hub token "$tmp/home-hub.tok" >"$tmp/t13.json" 2>"$tmp/err" && "$FERRY" hub token "$tmp/visited-hub.tok" >"$tmp/t14.json" 2>>"$tmp/err" &&
    ok "ferry hub token: fresh member tokens and their SHA-256" || not_ok "hub token" "$(cat "$tmp/err")"
[ "$(stat -c %a "$tmp/home-hub.tok")" = "600" ] && [ "$(wc -c <"$tmp/home-hub.tok")" -eq 65 ] &&
    [ "$(printf %s "$(cat "$tmp/home-hub.tok")" | sha256sum | cut -c1-64)" = "$(field "$tmp/t13.json" token_sha256)" ] &&
    ok "a token file is 0600, 64 hex digits, and token_sha256 is its SHA-256" || not_ok "token file" "$(ls -l "$tmp/home-hub.tok"; cat "$tmp/t13.json")"
"$FERRY" hub token "$tmp/home-hub.tok" >/dev/null 2>"$tmp/err" && not_ok "hub token refuses to overwrite" || ok "ferry hub token never overwrites a file"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tmp/hub-home-bi.tok"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tmp/hub-visited-bi.tok"
{ echo "000014 $(cat "$tmp/hub-js-000014.tok")"; } >"$tmp/hub-js.tok"
cp "$tmp/hub-home-bi.tok" "$tmp/hub-to-home.tok"
cp "$tmp/hub-visited-bi.tok" "$tmp/hub-to-visited.tok"
cat >"$tmp/hub.conf" <<EOT
# the lab's peering hub
listen = 127.0.0.1:$hubport
threads = 4
member = 000013 token_sha256=$(field "$tmp/t13.json" token_sha256)
member = 000014 token_sha256=$(field "$tmp/t14.json" token_sha256)
route = 70B3D57E00000000/32 http://127.0.0.1:$jsport/ hub-js.tok
route = 000013 http://127.0.0.1:$hhttp/bi hub-to-home.tok
route = 000014 http://127.0.0.1:$vhttp/bi hub-to-visited.tok
EOT
echo "member = 000013" >"$tmp/bad-hub.conf"
if "$FERRY" hub --config "$tmp/bad-hub.conf" 2>"$tmp/err"; then not_ok "a member without a credential is refused"; else
    grep -q "no credential" "$tmp/err" && ok "hub config: a member without a credential is refused, naming it" || not_ok "bad hub config" "$(cat "$tmp/err")"; fi
"$FERRY" hub --config "$tmp/hub.conf" 2>"$tmp/hub.log" &
hubpid=$!; pids="$pids $hubpid"
wait_http "$HUB/metrics" $hubpid && ok "hub listens" || not_up "hub listens" "$(cat "$tmp/hub.log")"

# ---- 3. the AS, the home NS and the visited NS
ASTOKEN=as-token-0123456789abcdef
DLTOKEN=dl-token-fedcba9876543210
node "$AS_JS" serve $asport $ASTOKEN "$tmp/as.log" 2>"$tmp/as-err.log" &
aspid=$!; pids="$pids $aspid"
# it answers 401 to a request without its bearer: enough to know it listens
wait_http "http://127.0.0.1:$asport/" $aspid && ok "the home network's AS (lab_as.js) listens" || not_up "AS listens" "$(cat "$tmp/as-err.log")"
echo $NSKEK >"$tmp/home.kek"; echo $VNSKEK >"$tmp/visited.kek"
echo $ASTOKEN >"$tmp/as.tok"; echo $DLTOKEN >"$tmp/dl.tok"
cat >"$tmp/home.conf" <<EOT
net_id = 000013
kek_label = ns:000013
kek_file = home.kek
udp_listen = 127.0.0.1:$hudp
http_listen = 127.0.0.1:$hhttp
route = 70B3D57E00000000/32 http://127.0.0.1:$jsport/ home-js.tok
as_url = http://127.0.0.1:$asport
as_token_file = as.tok
downlink_token_file = dl.tok
roaming_hub = $HUB/ home-hub.tok
bi_token_file = hub-home-bi.tok
roaming_lifetime = 600
EOT
cat >"$tmp/visited.conf" <<EOT
net_id = 000014
kek_label = ns:000014
kek_file = visited.kek
udp_listen = $VNS
http_listen = 127.0.0.1:$vhttp
roaming_hub = $HUB/ visited-hub.tok
bi_token_file = hub-visited-bi.tok
dedup_ms = 100
late_ms = 500
EOT
"$FERRY" lab ns --config "$tmp/home.conf" 2>"$tmp/home.log" &
hpid=$!; pids="$pids $hpid"
"$FERRY" lab ns --config "$tmp/visited.conf" 2>"$tmp/visited.log" &
vpid=$!; pids="$pids $vpid"
wait_http "http://127.0.0.1:$hhttp/status" $hpid && wait_http "http://127.0.0.1:$vhttp/status" $vpid &&
    ok "home NS (000013) and visited NS (000014) listen" || not_up "NSs listen" "$(cat "$tmp/home.log" "$tmp/visited.log")"
# a request in a wait has a time limit too: a server that hangs fails the wait
cmax=$(scaled 10)
hstatus() { curl -s --max-time "$cmax" "http://127.0.0.1:$hhttp/status" >"$tmp/hs.json"; field "$tmp/hs.json" "$1"; }
vstatus() { curl -s --max-time "$cmax" "http://127.0.0.1:$vhttp/status" >"$tmp/vs.json"; field "$tmp/vs.json" "$1"; }
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer nope" --data-binary '{}' "http://127.0.0.1:$hhttp/bi")
[ "$code" = "401" ] && ok "an NS's /bi refuses a caller without the hub's bearer: 401" || not_ok "/bi 401" "$code"

# ---- 4. the device
img="$tmp/se.img"; sock="$tmp/se.sock"
echo $TRANSPORT | "$FERRY" se create --image "$img" >/dev/null 2>&1
"$FERRY" se serve --image "$img" --socket "$sock" 2>"$tmp/se.log" &
sepid=$!; pids="$pids $sepid"
wait_sock "$sock" $sepid && ok "the SE emulator runs (ferry se serve)" || not_up "se serve" "$(cat "$tmp/se.log")"
check "SE personalised (LoRaWAN 1.0.3)" "$FERRY" se personalise --socket "$sock" --dev-eui $DEVEUI --serial 5e000000000000b1 \
    --join-eui $JOINEUI --mac-version 1.0.3 --nwkkey-wrapped "$(wrap $TRANSPORT $APPKEY)" \
    --appkey-wrapped "$(wrap $TRANSPORT $APPKEY)" --mlskey-wrapped "$(wrap $TRANSPORT $MLSKEY)"
bail_if_down
gw() {   # gw OUTFILE WAIT_MS PHY: one uplink through the visited network's gateway
    "$FERRY" lab gateway --ns "$VNS" --gateway-eui $GW --wait-ms "$2" "$3" >"$1" 2>"$tmp/gw.err"
}

# ---- 5. passive-roaming activation through the visited gateway
"$FERRY" se join-request --socket "$sock" >"$tmp/jr.json" 2>&1
gw "$tmp/gw_join.json" "$(scaled 4500)" "$(field "$tmp/jr.json" PHYPayload)"
ja=$(field "$tmp/gw_join.json" Downlink.PHYPayload)
[ -n "$ja" ] && ok "the join-request heard by the visited network comes back as a join-accept" ||
    not_ok "join-accept through the visited gateway" "$(cat "$tmp/gw_join.json" "$tmp/gw.err"; tail -5 "$tmp/visited.log" "$tmp/home.log" "$tmp/hub.log")"
[ "$(field "$tmp/gw_join.json" Downlink.DelayUs)" = "5000000" ] && [ "$(field "$tmp/gw_join.json" Downlink.freq)" = "868.1" ] &&
    ok "join-accept in RX1 of the visited gateway (tmst + 5 s, uplink frequency)" || not_ok "join-accept timing" "$(cat "$tmp/gw_join.json")"
"$FERRY" se join-accept --socket "$sock" "$ja" >"$tmp/ja.json" 2>"$tmp/err"
devaddr=$(field "$tmp/ja.json" DevAddr)
[ "$devaddr" = "26000001" ] && ok "the SE accepts it: DevAddr 26000001, from the HOME NetID 000013" || not_ok "SE join-accept" "$(cat "$tmp/ja.json" "$tmp/err")"
js_homens() { grep -q '"msg":"request".*"type":"HomeNSReq".*"result":"Success"' "$tmp/js.log"; }
wait_until "the JS's log line of the hub's HomeNSReq, Success" - js_homens
js_homens &&
    ok "the JS answered the hub's HomeNSReq (for 000014) with Success" || not_ok "HomeNSReq at the JS" "$(grep HomeNS "$tmp/js.log")"
roam_joined() { [ "$(vstatus roam_joins)" = "1" ] && [ "$(hstatus pr_start)" = "1" ] && [ "$(hstatus joins)" = "1" ]; }
wait_until "visited NS roam_joins 1, home NS pr_start 1 and joins 1" - roam_joined
roam_joined &&
    ok "visited: one roaming join; home: one PRStartReq served, one session" || not_ok "roaming join counters" "$(cat "$tmp/vs.json" "$tmp/hs.json")"
hub_logged() {
    grep -q '"type":"HomeNSReq","outcome":"forwarded","result":"Success","sender":"000014","receiver":"70B3D57ED0000000"' "$tmp/hub.log" &&
        grep -q '"type":"PRStartReq","outcome":"forwarded","result":"Success","sender":"000014","receiver":"000013"' "$tmp/hub.log"
}
wait_until "the hub's log lines of HomeNSReq and PRStartReq, forwarded" - hub_logged
hub_logged &&
    ok "hub log: HomeNSReq 000014 -> JoinEUI and PRStartReq 000014 -> 000013, forwarded, Success" || not_ok "hub log lines" "$(cat "$tmp/hub.log")"

# ---- 6. data: visited gateway -> XmitDataReq -> home NS -> AS
"$FERRY" se uplink --socket "$sock" --fport 2 --payload 68656c6c6f >"$tmp/up0.json" 2>&1
gw "$tmp/gw_up0.json" 800 "$(field "$tmp/up0.json" PHYPayload)"
wait_until "the uplink at the home network's AS ($tmp/as.log)" - '[ -s "$tmp/as.log" ]'
head -1 "$tmp/as.log" >"$tmp/as0.json" 2>/dev/null
[ "$(field "$tmp/as0.json" FCnt)" = "0" ] && [ "$(field "$tmp/as0.json" DevAddr)" = "26000001" ] &&
    [ "$(field "$tmp/as0.json" DevEUI)" = "$(echo $DEVEUI | tr a-f A-F)" ] &&
    ok "an uplink heard by the visited network reaches the home network's AS" || not_ok "AS uplink" "$(cat "$tmp/as.log" "$tmp/as-err.log" 2>/dev/null; tail -5 "$tmp/visited.log" "$tmp/home.log")"
[ "$(node "$AS_JS" decrypt $ASKEK "$tmp/as0.json" 2>&1)" = "68656c6c6f" ] &&
    ok "the home AS unwraps its AppSKey and reads 'hello'" || not_ok "AS decrypt" "$(node "$AS_JS" decrypt $ASKEK "$tmp/as0.json" 2>&1)"
wait_until "visited NS roam_up 1 and home NS xmit_up 1" - '[ "$(vstatus roam_up)" = "1" ] && [ "$(hstatus xmit_up)" = "1" ]'
[ "$(vstatus roam_up)" = "1" ] && [ "$(hstatus xmit_up)" = "1" ] && [ "$(vstatus unknown_dev_addr)" = "0" ] &&
    ok "visited: one uplink forwarded in XmitDataReq; home: verified (MIC, FCnt)" || not_ok "data counters" "$(cat "$tmp/vs.json" "$tmp/hs.json")"
# the same frame again, later: the home network refuses the replay.
# A sleep, not a wait: a minimum elapsed time, past the visited NS's late_ms
# (500), so that the frame is no longer a late copy of the first one.
sleep 0.7
gw "$tmp/gw_rep.json" 500 "$(field "$tmp/up0.json" PHYPayload)"
wait_until "home NS replays 1 and 'roaming uplink refused' in the visited NS's log" - \
    '[ "$(hstatus replays)" = "1" ] && grep -q "roaming uplink refused" "$tmp/visited.log"'
[ "$(hstatus replays)" = "1" ] && [ "$(wc -l <"$tmp/as.log")" -eq 1 ] && grep -q 'roaming uplink refused' "$tmp/visited.log" &&
    ok "a replayed roaming uplink is refused by the home network (FCnt), the AS sees nothing" || not_ok "roaming replay" "$(cat "$tmp/hs.json"; tail -3 "$tmp/visited.log")"

# ---- 7. downlinks: home -> XmitDataReq -> visited gateway
"$FERRY" se uplink --socket "$sock" --fport 2 --payload 03 --confirmed true >"$tmp/up1.json" 2>&1
gw "$tmp/gw_up1.json" "$(scaled 2500)" "$(field "$tmp/up1.json" PHYPayload)"
down=$(field "$tmp/gw_up1.json" Downlink.PHYPayload)
"$FERRY" se downlink --socket "$sock" "$down" >"$tmp/dn1.json" 2>"$tmp/err"
# RX1 (tmst + 1 s) when the round trip visited -> hub -> home -> AS -> hub -> visited fits in 900 ms, as it
# does on an idle machine; RX2 (tmst + 2 s) is the visited network's correct answer when it does not
delay=$(field "$tmp/gw_up1.json" Downlink.DelayUs)
[ -n "$down" ] && [ "$(field "$tmp/dn1.json" ACK)" = "true" ] && { [ "$delay" = "1000000" ] || [ "$delay" = "2000000" ]; } &&
    ok "a confirmed uplink: the home network's ACK leaves from the visited gateway (DelayUs $delay), the SE verifies it" ||
    not_ok "roaming ACK" "$(cat "$tmp/gw_up1.json" "$tmp/dn1.json" "$tmp/err"; tail -5 "$tmp/visited.log" "$tmp/home.log")"
wait_until "visited NS roam_down 1 and home NS xmit_down 1" - '[ "$(vstatus roam_down)" = "1" ] && [ "$(hstatus xmit_down)" = "1" ]'
[ "$(vstatus roam_down)" = "1" ] && [ "$(hstatus xmit_down)" = "1" ] &&
    ok "home: one downlink sent in XmitDataReq; visited: one downlink sent for it" || not_ok "downlink counters" "$(cat "$tmp/vs.json" "$tmp/hs.json")"
tail -1 "$tmp/as.log" >"$tmp/as1.json"
post_dl() { code=$(curl -s -o "$tmp/dl.json" -w '%{http_code}' -H "Authorization: Bearer $DLTOKEN" --data-binary "$1" "http://127.0.0.1:$hhttp/downlink"); }
post_dl "{\"DevEUI\":\"$DEVEUI\",\"FPort\":5,\"FCnt\":99,\"FRMPayload\":\"00\"}"
next=$(field "$tmp/dl.json" NextAFCntDown)
enc=$(node "$AS_JS" encrypt $ASKEK "$tmp/as1.json" "$next" cafe)
post_dl "{\"DevEUI\":\"$DEVEUI\",\"FPort\":5,\"FCnt\":$next,\"FRMPayload\":\"$enc\"}"
[ "$code" = "200" ] && ok "the home AS queues a downlink at the home NS (FCnt $next)" || not_ok "queue downlink" "$code $(cat "$tmp/dl.json")"
"$FERRY" se uplink --socket "$sock" --fport 2 --payload 04 >"$tmp/up2.json" 2>&1
gw "$tmp/gw_up2.json" "$(scaled 2500)" "$(field "$tmp/up2.json" PHYPayload)"
"$FERRY" se downlink --socket "$sock" "$(field "$tmp/gw_up2.json" Downlink.PHYPayload)" >"$tmp/dn2.json" 2>"$tmp/err"
[ "$(field "$tmp/dn2.json" FRMPayload)" = "cafe" ] && [ "$(field "$tmp/dn2.json" FPort)" = "5" ] &&
    ok "the AS's downlink goes home NS -> hub -> visited gateway, and the SE decrypts 'cafe'" ||
    not_ok "roaming AS downlink" "$(cat "$tmp/gw_up2.json" "$tmp/dn2.json" "$tmp/err"; tail -5 "$tmp/visited.log" "$tmp/home.log")"

# ---- 8. what the hub refuses
hns() {   # hns SENDER RECEIVER -> a HomeNSReq body
    printf '{"ProtocolVersion":"1.1","SenderID":"%s","ReceiverID":"%s","TransactionID":4242,"MessageType":"HomeNSReq","SenderNSID":"0000000000%s","DevEUI":"%s"}' "$1" "$2" "$1" "$DEVEUI"
}
hubpost() {   # hubpost TOKEN BODY -> $code, answer in $tmp/h.json
    code=$(curl -s -o "$tmp/h.json" -w '%{http_code}' -H "Authorization: Bearer $1" --data-binary "$2" "$HUB/")
}
hubpost wrong-token "$(hns 000014 $JOINEUI)"
[ "$code" = "200" ] && [ "$(field "$tmp/h.json" Result.ResultCode)" = "UnknownSender" ] && [ "$(field "$tmp/h.json" MessageType)" = "HomeNSAns" ] &&
    ok "a member with a wrong token: HomeNSAns UnknownSender" || not_ok "wrong token" "$code $(cat "$tmp/h.json")"
hubpost "$(cat "$tmp/visited-hub.tok")" "$(hns 000013 $JOINEUI)"
[ "$(field "$tmp/h.json" Result.ResultCode)" = "UnknownSender" ] && field "$tmp/h.json" Result.Description | grep -q "member 000014's" &&
    ok "member 000014 claiming SenderID 000013: UnknownSender, 'these credentials are member 000014's'" || not_ok "spoofed SenderID" "$(cat "$tmp/h.json")"
hubpost "$(cat "$tmp/visited-hub.tok")" "$(hns 000014 0102030405060708)"
[ "$(field "$tmp/h.json" Result.ResultCode)" = "UnkownReceiver" ] && [ "$(field "$tmp/h.json" SenderID)" = "0102030405060708" ] &&
    ok "an unknown JoinEUI: UnkownReceiver (the spec's spelling), answered for that JoinEUI" || not_ok "unknown JoinEUI" "$(cat "$tmp/h.json")"
hubpost "$(cat "$tmp/visited-hub.tok")" "not json"
[ "$code" = "400" ] && grep -q "not JSON" "$tmp/h.json" && ok "a body that is not JSON: 400 with a clear error" || not_ok "400" "$code $(cat "$tmp/h.json")"
hubpost "$(cat "$tmp/visited-hub.tok")" '{"ProtocolVersion":"1.1","SenderID":"000014","ReceiverID":"000013","TransactionID":1,"MessageType":"HomeNSReq"}'
[ "$(field "$tmp/h.json" Result.ResultCode)" = "MalformedMessage" ] && field "$tmp/h.json" Result.Description | grep -q ReceiverID &&
    ok "a HomeNSReq addressed to a NetID: MalformedMessage naming ReceiverID" || not_ok "wrong receiver kind" "$(cat "$tmp/h.json")"
# the same unknown JoinEUI from a device heard by the visited network
jr_other="000807060504030201$(echo 0100000000000000)0000a1b2c3d4"
gw "$tmp/gw_noroute.json" 800 "$jr_other"
wait_until "'roaming join refused ... UnkownReceiver' in the visited NS's log" - \
    'grep -q "roaming join refused.*UnkownReceiver" "$tmp/visited.log"'
[ -z "$(field "$tmp/gw_noroute.json" Downlink)" ] && grep -q 'roaming join refused.*UnkownReceiver' "$tmp/visited.log" &&
    ok "a device with an unknown JoinEUI at the visited network: no join-accept, 'UnkownReceiver' logged" || not_ok "visited unknown JoinEUI" "$(tail -3 "$tmp/visited.log")"
hub_metrics() {
    curl -s --max-time "$cmax" "$HUB/metrics" >"$tmp/metrics.txt"
    grep -q 'ferry_hub_messages_total{type="PRStartReq",outcome="forwarded",result="Success"} 1' "$tmp/metrics.txt" &&
        grep -q 'ferry_hub_messages_total{type="XmitDataReq",outcome="forwarded",result="Success"}' "$tmp/metrics.txt" &&
        grep -q 'ferry_hub_messages_total{type="HomeNSReq",outcome="unknown_sender",result="UnknownSender"} 2' "$tmp/metrics.txt" &&
        grep -q 'outcome="unknown_receiver",result="UnkownReceiver"' "$tmp/metrics.txt"
}
wait_until "the hub's /metrics counting forwarded, unknown_sender and unknown_receiver" - hub_metrics
hub_metrics &&
    ok "hub /metrics: forwarded, unknown_sender, unknown_receiver by type and result" || not_ok "hub metrics" "$(cat "$tmp/metrics.txt")"

# ---- 9. mutual TLS: members by client certificate, each verified against its own CA
tlsport=$(port)
mtls_ok=1
if command -v openssl >/dev/null 2>&1; then
    ( cd "$tmp" &&
      q() { "$@" >/dev/null 2>&1; } &&
      ca() { q openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.crt" -days 2 -subj "/CN=$1" \
                 -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"; } &&
      leaf() { q openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$3" &&
               printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >"$1.ext" &&
               q openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -out "$1.crt" -days 2 -extfile "$1.ext"; } &&
      ca caV && ca caH && leaf v caV "/CN=000014" && leaf v_claims_h caV "/CN=000013" &&
      q openssl req -x509 -newkey rsa:2048 -nodes -keyout tls.key -out tls.crt -days 2 -subj "/CN=127.0.0.1" \
          -addext "subjectAltName=IP:127.0.0.1" ) || mtls_ok=0
else
    mtls_ok=0
fi
if [ $mtls_ok -eq 1 ]; then
    cat >"$tmp/hub-tls.conf" <<EOT
listen = 127.0.0.1:$tlsport
tls_cert = tls.crt
tls_key = tls.key
member = 000014 client_ca=caV.crt
member = 000013 client_ca=caH.crt
route = 70B3D57E00000000/32 http://127.0.0.1:$jsport/ hub-js.tok
EOT
    "$FERRY" hub --config "$tmp/hub-tls.conf" 2>"$tmp/hub-tls.log" &
    tlspid=$!; pids="$pids $tlspid"
    wait_http "https://127.0.0.1:$tlsport/metrics" $tlspid && ok "the mTLS hub listens" || not_ok "mTLS hub listens" "$(cat "$tmp/hub-tls.log")"
    curl -s -o "$tmp/t.json" --cacert "$tmp/tls.crt" --cert "$tmp/v.crt" --key "$tmp/v.key" --data-binary "$(hns 000014 $JOINEUI)" "https://127.0.0.1:$tlsport/"
    [ "$(field "$tmp/t.json" Result.ResultCode)" = "Success" ] && [ "$(field "$tmp/t.json" HNetID)" = "000013" ] &&
        ok "mTLS: member 000014 by its certificate (CN=000014, its CA): HomeNSAns Success, HNetID 000013" || not_ok "mTLS member" "$(cat "$tmp/t.json" "$tmp/hub-tls.log")"
    curl -s -o "$tmp/t.json" --cacert "$tmp/tls.crt" --cert "$tmp/v.crt" --key "$tmp/v.key" --data-binary "$(hns 000013 $JOINEUI)" "https://127.0.0.1:$tlsport/"
    [ "$(field "$tmp/t.json" Result.ResultCode)" = "UnknownSender" ] && field "$tmp/t.json" Result.Description | grep -q "member 000014's" &&
        ok "mTLS: 000014's certificate claiming SenderID 000013: UnknownSender" || not_ok "mTLS spoof" "$(cat "$tmp/t.json")"
    curl -s -o "$tmp/t.json" --cacert "$tmp/tls.crt" --cert "$tmp/v_claims_h.crt" --key "$tmp/v_claims_h.key" --data-binary "$(hns 000013 $JOINEUI)" "https://127.0.0.1:$tlsport/"
    [ "$(field "$tmp/t.json" Result.ResultCode)" = "UnknownSender" ] &&
        ok "mTLS: a certificate naming 000013 but issued by 000014's CA does not make 000013" || not_ok "mTLS other CA" "$(cat "$tmp/t.json")"
    curl -s -o "$tmp/t.json" --cacert "$tmp/tls.crt" --data-binary "$(hns 000014 $JOINEUI)" "https://127.0.0.1:$tlsport/"
    [ "$(field "$tmp/t.json" Result.ResultCode)" = "UnknownSender" ] &&
        ok "mTLS: no certificate (and no token): UnknownSender" || not_ok "mTLS none" "$(cat "$tmp/t.json")"
    kill $tlspid; wait $tlspid 2>/dev/null
else
    not_ok "mTLS: openssl could not make the test certificates"
fi

# ---- 10. no key in clear anywhere the hub writes; no token either
# the session keys of this join, derived from the AppKey (what a hub must never see)
# DevNonce from the join-request (bytes 17-18, little-endian); JoinNonce from the join-accept, which a
# device "decrypts" with AES encrypt under the AppKey (L2 1.0.3 §6.2.5), in node's OpenSSL
dn=$(node -e 'const b=Buffer.from(process.argv[1],"hex"); process.stdout.write(b.readUInt16LE(17).toString(16).padStart(4,"0"))' "$(field "$tmp/jr.json" PHYPayload)")
jn=$(node -e 'const c=require("crypto").createCipheriv("aes-128-ecb",Buffer.from(process.argv[1],"hex"),null); c.setAutoPadding(false);
  const p=c.update(Buffer.from(process.argv[2],"hex").subarray(1,17)); process.stdout.write(p.readUIntLE(0,3).toString(16).padStart(6,"0"))' $APPKEY "$ja")
"$FERRY" lorawan derive --mac-version 1.0.3 --nwkkey $APPKEY --join-nonce "$jn" --dev-nonce "$dn" --net-id 000013 >"$tmp/keys.json" 2>"$tmp/err"
nwks=$(field "$tmp/keys.json" NwkSKey); apps=$(field "$tmp/keys.json" AppSKey)
asapps=$(node -e 'const up=JSON.parse(require("fs").readFileSync(process.argv[2],"utf8")); const d=require("crypto").createDecipheriv("id-aes128-wrap",Buffer.from(process.argv[1],"hex"),Buffer.from("a6a6a6a6a6a6a6a6","hex"));
  process.stdout.write(Buffer.concat([d.update(Buffer.from(up.AppSKey.AESKey,"hex")),d.final()]).toString("hex"))' $ASKEK "$tmp/as0.json")
[ ${#nwks} -eq 32 ] && [ "$apps" = "$asapps" ] && ok "the test derives this session's NwkSKey and AppSKey (the AppSKey is the one the AS unwrapped)" ||
    not_ok "derive session keys" "$(cat "$tmp/keys.json" "$tmp/err" "$tmp/ja.json" "$tmp/jr.json")"
secrets="$APPKEY $NSKEK $VNSKEK $ASKEK $MLSKEY $TRANSPORT $nwks $apps $(cat "$tmp/home-hub.tok" "$tmp/visited-hub.tok" "$tmp/hub-js-000014.tok" "$tmp/hub-home-bi.tok" "$tmp/hub-visited-bi.tok")"
leak=""
for s in $secrets; do
    [ -n "$s" ] || continue
    for f in "$tmp/hub.log" "$tmp/metrics.txt" "$tmp/hub-tls.log"; do
        grep -qi -- "$s" "$f" && leak="$leak $s in $(basename "$f");"
    done
done
[ -z "$leak" ] && ok "no key (root, KEK, session) and no token in the hub's log or metrics" || not_ok "secrets in hub output" "$leak"
if grep -q -e AESKey -e PHYPayload -e KEKLabel "$tmp/hub.log"; then not_ok "the hub logs no body"; else ok "the hub's log holds no body (no PHYPayload, no KeyEnvelope)"; fi
grep -q "ns:000013" "$tmp/hub.log" && not_ok "KEK labels in hub log" || ok "not even a KEK label reaches the hub's log"
leak=""
for s in $APPKEY $NSKEK $ASKEK $nwks $apps $DLTOKEN $ASTOKEN $(cat "$tmp/home-hub.tok" "$tmp/visited-hub.tok" "$tmp/hub-home-bi.tok"); do
    grep -qi -- "$s" "$tmp/visited.log" "$tmp/home.log" && leak="$leak $s;"
done
[ -z "$leak" ] && ok "no key or token in either NS's log" || not_ok "secrets in NS logs" "$leak"
# the hub never held the session keys: they crossed it only wrapped, for the home NS's KEK
grep -c '"NwkSKey"' "$tmp/hub.log" | grep -q '^0$' && ok "the NwkSKey envelope was never parsed into the hub's log" || not_ok "envelope in hub log"

for p in $hubpid $vpid $hpid; do kill $p; done
wait $hubpid; rc=$?
[ $rc -eq 0 ] && grep -q '"msg":"stopped"' "$tmp/hub.log" && ok "SIGTERM stops the hub cleanly" || not_ok "hub stop" "exit $rc $(tail -3 "$tmp/hub.log")"
wait $vpid; rv=$?; wait $hpid; rh=$?
[ $rv -eq 0 ] && [ $rh -eq 0 ] && ok "SIGTERM stops both NSs cleanly" || not_ok "NS stop" "visited $rv home $rh"

if grep -l "ERROR: AddressSanitizer\|runtime error" "$tmp"/*.log >/dev/null 2>&1; then
    not_ok "no sanitizer report from any process" "$(grep -l "ERROR: AddressSanitizer\|runtime error" "$tmp"/*.log)"
else ok "no sanitizer report from any process"; fi

echo "1..$n"
[ "$failed" -eq 0 ]
