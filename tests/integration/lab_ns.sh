#!/bin/sh
# lab_ns.sh - the lab network server end to end, every piece a real process
# on loopback: a Join Server deployment (`ferry init`, `ferry serve`), the
# lab NS (`ferry lab ns`), an emulated secure element (`ferry se serve`), a
# simulated gateway speaking the Semtech packet-forwarder protocol (`ferry
# lab gateway`), and a stand-in application server in node
# (tests/integration/lab_as.js, node's OpenSSL only). The element's
# join-request goes up in a PUSH_DATA, through the NS to the JS as a
# JoinReq, and its join-accept comes back in a PULL_RESP; uplinks reach the
# AS still encrypted and are opened there with the AppSKey the AS unwraps;
# the AS's downlink comes out after the next uplink and the element opens it.
# Also: replay, MIC failure, duplicate from a second gateway, unknown
# JoinEUI route, a Join Server refusal, every /downlink answer. Prints TAP.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
FERRY=${FERRY:-$root/build/san/bin/ferry}
export NODE_PATH="$root/tests/oracle/node_modules"
AS_JS="$here/lab_as.js"
. "$here/lib/wait.sh"

n=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-lab.XXXXXX") || exit 1
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
DEVEUI=0004a30b001c0a01
TRANSPORT=000102030405060708090a0b0c0d0e0f
APPKEY=2b7e151628aed2a6abf7158809cf4f3c
MLSKEY=a0a1a2a3a4a5a6a7a8a9aaabacadaeaf
NSKEK=00112233445566778899aabbccddeeff
ASKEK=0f0e0d0c0b0a09080706050403020100
GW1=AA555A0000000001
GW2=AA555A0000000002
jsport=$(port); udpport=$(uport); nsport=$(port); asport=$(port)
NS="127.0.0.1:$udpport"
NSURL="http://127.0.0.1:$nsport"
# wait_sock SOCKET PID: the SE emulator's Unix socket, its process watched
wait_sock() { wait_pid=$2; wait_until "the SE emulator's socket $1" - "[ -S '$1' ]"; w_rc=$?; wait_pid=""; return $w_rc; }

# ---- 1. the Join Server: a deployment with one 1.0.3 device whose keys we know
dep="$tmp/js"
"$FERRY" init "$dep" --join-eui $JOINEUI --listen "127.0.0.1:$jsport" >/dev/null 2>"$tmp/err" || not_ok "ferry init" "$(cat "$tmp/err")"
F="$FERRY -d $dep"
$F peer add 000013 --token-out "$tmp/js.tok" >/dev/null 2>&1
echo $NSKEK | $F kek import ns:000013 >/dev/null 2>&1
echo $ASKEK | $F kek import as:app1 >/dev/null 2>&1
cat >"$tmp/dev.jsonl" <<EOT
{"DevEUI":"$DEVEUI","JoinEUI":"$JOINEUI","MACVersion":"1.0.3","HomeNetID":"000013","NwkKey":{"AESKey":"$APPKEY"},"NSKEKLabel":"ns:000013","ASKEKLabel":"as:app1","ASID":"as.example.com"}
EOT
check "Join Server deployment with the test device" $F device import "$tmp/dev.jsonl" --allow-clear-keys
"$FERRY" -d "$dep" serve 2>"$tmp/js.log" &
jspid=$!; pids="$pids $jspid"
wait_http "http://127.0.0.1:$jsport/metrics" $jspid && ok "Join Server listens" || not_up "Join Server listens" "$(cat "$tmp/js.log")"

# ---- 2. the stand-in AS and the lab NS
ASTOKEN=as-token-0123456789abcdef
DLTOKEN=dl-token-fedcba9876543210
node "$AS_JS" serve $asport $ASTOKEN "$tmp/as.log" 2>"$tmp/as-err.log" &
aspid=$!; pids="$pids $aspid"
# it answers 401 to a request without its bearer: enough to know it listens
wait_http "http://127.0.0.1:$asport/" $aspid && ok "the stand-in AS (lab_as.js) listens" || not_up "AS listens" "$(cat "$tmp/as-err.log")"
umask 077
echo $NSKEK >"$tmp/ns.kek"
echo $ASTOKEN >"$tmp/as.tok"
echo $DLTOKEN >"$tmp/dl.tok"
cat >"$tmp/ns.conf" <<EOT
# lab NS for the test
net_id = 000013
kek_label = ns:000013
kek_file = ns.kek
udp_listen = $NS
http_listen = 127.0.0.1:$nsport
route = 70B3D57E00000000/32 http://127.0.0.1:$jsport/ js.tok
as_url = http://127.0.0.1:$asport
as_token_file = as.tok
downlink_token_file = dl.tok
dedup_ms = 200
late_ms = 1000
EOT
echo "bogus = 1" >"$tmp/bad.conf"
if "$FERRY" lab ns --config "$tmp/bad.conf" 2>"$tmp/err"; then not_ok "a config with an unknown key is refused"; else
    grep -q "unknown key 'bogus'" "$tmp/err" && ok "a config with an unknown key is refused, naming it" || not_ok "bad config message" "$(cat "$tmp/err")"; fi
"$FERRY" lab ns --config "$tmp/ns.conf" 2>"$tmp/ns.log" &
nspid=$!; pids="$pids $nspid"
wait_http "$NSURL/status" $nspid && ok "lab NS listens (UDP $udpport, HTTP $nsport)" || not_up "lab NS listens" "$(cat "$tmp/ns.log")"
# a request in a wait has a time limit too: a server that hangs fails the wait
cmax=$(scaled 10)
status() { curl -s --max-time "$cmax" "$NSURL/status" >"$tmp/status.json"; field "$tmp/status.json" "$1"; }

# ---- 3. the device: an emulated SE personalised with node-wrapped keys
img="$tmp/se.img"; sock="$tmp/se.sock"
echo $TRANSPORT | "$FERRY" se create --image "$img" >/dev/null 2>&1
"$FERRY" se serve --image "$img" --socket "$sock" 2>"$tmp/se.log" &
sepid=$!; pids="$pids $sepid"
wait_sock "$sock" $sepid && ok "the SE emulator runs (ferry se serve)" || not_up "se serve" "$(cat "$tmp/se.log")"
check "SE personalised (LoRaWAN 1.0.3)" "$FERRY" se personalise --socket "$sock" --dev-eui $DEVEUI --serial 5e000000000000a1 \
    --join-eui $JOINEUI --mac-version 1.0.3 --nwkkey-wrapped "$(wrap $TRANSPORT $APPKEY)" \
    --appkey-wrapped "$(wrap $TRANSPORT $APPKEY)" --mlskey-wrapped "$(wrap $TRANSPORT $MLSKEY)"
bail_if_down

gw() {   # gw OUTFILE GATEWAYS WAIT_MS PHY [options]: one uplink through the simulated gateway(s)
    o=$1; g=$2; w=$3; p=$4; shift 4
    "$FERRY" lab gateway --ns "$NS" --gateway-eui "$g" --wait-ms "$w" "$@" "$p" >"$o" 2>"$tmp/gw.err"
}

# ---- 4. join: SE -> PUSH_DATA -> NS -> JoinReq -> JS -> JoinAns -> PULL_RESP -> SE
"$FERRY" se join-request --socket "$sock" >"$tmp/jr.json" 2>&1
gw "$tmp/gw_join.json" $GW1 "$(scaled 4000)" "$(field "$tmp/jr.json" PHYPayload)"
ja=$(field "$tmp/gw_join.json" Downlink.PHYPayload)
[ -n "$ja" ] && ok "the join-request comes back as a join-accept in a PULL_RESP" || not_ok "join-accept in PULL_RESP" "$(cat "$tmp/gw_join.json" "$tmp/gw.err"; tail -5 "$tmp/ns.log")"
[ "$(field "$tmp/gw_join.json" Downlink.DelayUs)" = "5000000" ] && [ "$(field "$tmp/gw_join.json" Downlink.freq)" = "868.1" ] &&
    ok "join-accept scheduled for RX1: uplink tmst + 5 s, same frequency" || not_ok "join-accept timing" "$(cat "$tmp/gw_join.json")"
"$FERRY" se join-accept --socket "$sock" "$ja" >"$tmp/ja.json" 2>"$tmp/err"
devaddr=$(field "$tmp/ja.json" DevAddr)
[ "$devaddr" = "26000001" ] && ok "the SE accepts it: DevAddr 26000001 from NetID 000013" || not_ok "SE join-accept" "$(cat "$tmp/ja.json" "$tmp/err")"
wait_until "NS status joins 1" - '[ "$(status joins)" = "1" ]'
[ "$(status joins)" = "1" ] && ok "NS status: one join" || not_ok "joins counter" "$(cat "$tmp/status.json")"

# ---- 5. uplink: verified by the NS, forwarded to the AS still encrypted
"$FERRY" se uplink --socket "$sock" --fport 2 --payload 68656c6c6f >"$tmp/up0.json" 2>&1
up0=$(field "$tmp/up0.json" PHYPayload)
gw "$tmp/gw_up0.json" $GW1 800 "$up0"
[ "$(field "$tmp/gw_up0.json" PushAcked)" = "1" ] && [ -z "$(field "$tmp/gw_up0.json" Downlink)" ] &&
    ok "uplink 0 acknowledged (PUSH_ACK), no downlink" || not_ok "uplink 0" "$(cat "$tmp/gw_up0.json" "$tmp/gw.err")"
wait_until "uplink 0 at the AS ($tmp/as.log)" - '[ -s "$tmp/as.log" ]'
head -1 "$tmp/as.log" >"$tmp/as0.json" 2>/dev/null
if [ "$(field "$tmp/as0.json" FCnt)" = "0" ] && [ "$(field "$tmp/as0.json" FPort)" = "2" ] &&
   [ "$(field "$tmp/as0.json" DevEUI)" = "$(echo $DEVEUI | tr a-f A-F)" ] && [ "$(field "$tmp/as0.json" DevAddr)" = "26000001" ]; then
    ok "the AS gets uplink 0 (DevEUI, DevAddr, FCnt, FPort)"
else not_ok "AS uplink" "$(cat "$tmp/as.log" "$tmp/as-err.log" 2>/dev/null; tail -5 "$tmp/ns.log")"; fi
frm=$(field "$tmp/as0.json" FRMPayload | tr A-F a-f)
[ -n "$frm" ] && [ "$frm" != "68656c6c6f" ] && ok "FRMPayload reaches the AS encrypted" || not_ok "FRMPayload encrypted" "$frm"
[ "$(field "$tmp/as0.json" AppSKey.KEKLabel)" = "as:app1" ] && [ -n "$(field "$tmp/as0.json" SessionKeyID)" ] &&
    ok "the uplink carries the AppSKey envelope for the AS and the SessionKeyID" || not_ok "AppSKey envelope" "$(cat "$tmp/as0.json")"
[ "$(node "$AS_JS" decrypt $ASKEK "$tmp/as0.json" 2>&1)" = "68656c6c6f" ] &&
    ok "the AS unwraps AppSKey with its KEK and reads 'hello'" || not_ok "AS decrypt" "$(node "$AS_JS" decrypt $ASKEK "$tmp/as0.json" 2>&1)"
[ "$(field "$tmp/as0.json" MaxDownlinkPayload)" = "242" ] && [ "$(field "$tmp/as0.json" DR)" = "5" ] &&
    [ "$(field "$tmp/as0.json" NextAFCntDown)" = "0" ] &&
    ok "DR 5 (SF7BW125), MaxDownlinkPayload 242, NextAFCntDown 0" || not_ok "DR fields" "$(cat "$tmp/as0.json")"

# ---- 6. replay and MIC failure
# A sleep, not a wait: a minimum elapsed time, past late_ms (1000), so that
# the same frame is no longer a late copy of the first one.
sleep 1.1
gw "$tmp/gw_rep.json" $GW1 500 "$up0"
wait_until "NS status replays 1" - '[ "$(status replays)" = "1" ]'
[ "$(status replays)" = "1" ] && [ "$(wc -l <"$tmp/as.log")" -eq 1 ] &&
    ok "a replayed uplink is refused (FCnt), the AS sees nothing" || not_ok "replay" "$(cat "$tmp/status.json")"
"$FERRY" se uplink --socket "$sock" --fport 2 --payload 01 >"$tmp/up1.json" 2>&1
up1=$(field "$tmp/up1.json" PHYPayload)
bad=$(printf '%s' "$up1" | sed 's/.$//')$(printf '%s' "$up1" | tail -c 1 | tr '0-9a-f' '1-9a-f0')
gw "$tmp/gw_bad.json" $GW1 500 "$bad"
wait_until "NS status mic_failures 1" - '[ "$(status mic_failures)" = "1" ]'
[ "$(status mic_failures)" = "1" ] && ok "an uplink with a wrong MIC is refused" || not_ok "MIC failure" "$(cat "$tmp/status.json")"

# ---- 7. the same uplink through two gateways: one uplink, one duplicate
d0=$(status duplicates)
gw "$tmp/gw_dup.json" "$GW1,$GW2" 800 "$up1"
wait_until "NS status duplicates $((d0 + 1)) and FCnt 1 at the AS" - \
    '[ "$(status duplicates)" = "$((d0 + 1))" ] && grep -q "\"FCnt\":1," "$tmp/as.log"'
[ "$(field "$tmp/gw_dup.json" PushAcked)" = "2" ] && [ "$(status duplicates)" = "$((d0 + 1))" ] &&
    [ "$(grep -c '"FCnt":1,' "$tmp/as.log")" = "1" ] &&
    ok "a copy from a second gateway is de-duplicated: the AS gets FCnt 1 once" || not_ok "dedup" "$(cat "$tmp/gw_dup.json" "$tmp/status.json" "$tmp/as.log")"
tail -1 "$tmp/as.log" >"$tmp/as1.json"

# ---- 8. downlinks: NS-AS POST /downlink
post_dl() {   # post_dl BODY [TOKEN] -> $code, answer in $tmp/dl.json
    code=$(curl -s -o "$tmp/dl.json" -w '%{http_code}' -H "Authorization: Bearer ${2-$DLTOKEN}" --data-binary "$1" "$NSURL/downlink")
}
enc=$(node "$AS_JS" encrypt $ASKEK "$tmp/as1.json" 0 cafe)
post_dl "{\"DevEUI\":\"$DEVEUI\",\"FPort\":5,\"FCnt\":0,\"FRMPayload\":\"$enc\"}" wrong-token
[ "$code" = "401" ] && ok "/downlink with a wrong token: 401" || not_ok "401" "$code $(cat "$tmp/dl.json")"
post_dl "{\"DevEUI\":\"0000000000000001\",\"FPort\":5,\"FCnt\":0,\"FRMPayload\":\"$enc\"}"
[ "$code" = "404" ] && ok "/downlink for an unknown DevEUI: 404" || not_ok "404" "$code $(cat "$tmp/dl.json")"
post_dl "{\"DevEUI\":\"$DEVEUI\",\"FPort\":5,\"FCnt\":7,\"FRMPayload\":\"$enc\"}"
[ "$code" = "409" ] && [ "$(field "$tmp/dl.json" NextAFCntDown)" = "0" ] && [ "$(field "$tmp/dl.json" Error)" = "FCnt" ] &&
    ok "/downlink with the wrong FCnt: 409 and NextAFCntDown 0" || not_ok "409" "$code $(cat "$tmp/dl.json")"
big=$(head -c 243 /dev/zero | od -An -v -tx1 | tr -d ' \n')
post_dl "{\"DevEUI\":\"$DEVEUI\",\"FPort\":5,\"FCnt\":0,\"FRMPayload\":\"$big\"}"
[ "$code" = "413" ] && ok "/downlink over MaxDownlinkPayload: 413" || not_ok "413" "$code $(cat "$tmp/dl.json")"
post_dl "{\"DevEUI\":\"$DEVEUI\",\"FPort\":5,\"FCnt\":0,\"FRMPayload\":\"$enc\"}"
[ "$code" = "200" ] && [ "$(field "$tmp/dl.json" Queued)" = "true" ] && [ "$(field "$tmp/dl.json" NextAFCntDown)" = "1" ] &&
    ok "/downlink queued: 200, NextAFCntDown 1" || not_ok "200" "$code $(cat "$tmp/dl.json")"

# class A: it leaves in RX1 of the next uplink, and the SE opens it
"$FERRY" se uplink --socket "$sock" --fport 2 --payload 02 >"$tmp/up2.json" 2>&1
gw "$tmp/gw_up2.json" $GW1 "$(scaled 2000)" "$(field "$tmp/up2.json" PHYPayload)"
down=$(field "$tmp/gw_up2.json" Downlink.PHYPayload)
[ -n "$down" ] && [ "$(field "$tmp/gw_up2.json" Downlink.DelayUs)" = "1000000" ] &&
    ok "the queued downlink goes out after the next uplink, RX1 = tmst + 1 s" || not_ok "downlink after uplink" "$(cat "$tmp/gw_up2.json" "$tmp/gw.err"; tail -5 "$tmp/ns.log")"
"$FERRY" se downlink --socket "$sock" "$down" >"$tmp/dn.json" 2>"$tmp/err"
[ "$(field "$tmp/dn.json" FRMPayload)" = "cafe" ] && [ "$(field "$tmp/dn.json" FPort)" = "5" ] && [ "$(field "$tmp/dn.json" FCnt)" = "0" ] &&
    ok "the SE verifies the NS's downlink MIC and decrypts the AS's 'cafe'" || not_ok "SE downlink" "$(cat "$tmp/dn.json" "$tmp/err")"

# confirmed uplink: the NS acknowledges with an empty downlink
"$FERRY" se uplink --socket "$sock" --fport 2 --payload 03 --confirmed true >"$tmp/up3.json" 2>&1
gw "$tmp/gw_up3.json" $GW1 "$(scaled 2000)" "$(field "$tmp/up3.json" PHYPayload)"
"$FERRY" se downlink --socket "$sock" "$(field "$tmp/gw_up3.json" Downlink.PHYPayload)" >"$tmp/dn3.json" 2>"$tmp/err"
[ "$(field "$tmp/dn3.json" ACK)" = "true" ] && [ "$(field "$tmp/dn3.json" FCnt)" = "1" ] &&
    ok "a confirmed uplink is acknowledged (ACK, FCntDown 1)" || not_ok "ACK downlink" "$(cat "$tmp/gw_up3.json" "$tmp/dn3.json" "$tmp/err")"

# ---- 9. joins that cannot succeed are refused clearly
jr_other="000807060504030201$(echo 0100000000000000)0000a1b2c3d4"
gw "$tmp/gw_noroute.json" $GW1 800 "$jr_other"
wait_until "NS status no_route 1 and the JoinEUI in its log" - \
    '[ "$(status no_route)" = "1" ] && grep -q "no Join Server route for JoinEUI 0102030405060708" "$tmp/ns.log"'
[ -z "$(field "$tmp/gw_noroute.json" Downlink)" ] && [ "$(status no_route)" = "1" ] &&
    grep -q 'no Join Server route for JoinEUI 0102030405060708' "$tmp/ns.log" &&
    ok "a JoinEUI without a route: no join-accept, counted, logged with the JoinEUI" || not_ok "no route" "$(cat "$tmp/gw_noroute.json" "$tmp/status.json"; tail -3 "$tmp/ns.log")"
# a device the JS does not know (the JoinEUI routes, the DevEUI is unknown)
jr_unknown="00000000D07ED5B370$(echo 0200000000a30b00)0000a1b2c3d4"
gw "$tmp/gw_unk.json" $GW1 1500 "$jr_unknown"
wait_until "'Join Server answered UnknownDevEUI' in the NS's log" - 'grep -q "Join Server answered UnknownDevEUI" "$tmp/ns.log"'
[ -z "$(field "$tmp/gw_unk.json" Downlink)" ] && grep -q 'Join Server answered UnknownDevEUI' "$tmp/ns.log" &&
    ok "a join the JS refuses: no join-accept, the ResultCode logged" || not_ok "JS refusal" "$(tail -3 "$tmp/ns.log")"

# ---- 10. PUSH_DATA garbage is counted, not fatal; no key in any log
printf '\002\000\001\000AAAAAAAA{not json}' | node -e 'const d=require("dgram").createSocket("udp4"); let b=[];process.stdin.on("data",c=>b.push(c));process.stdin.on("end",()=>d.send(Buffer.concat(b),Number(process.argv[1]),"127.0.0.1",()=>d.close()))' $udpport
wait_until "NS status bad_datagrams >= 1" - '[ "$(status bad_datagrams)" -ge 1 ] 2>/dev/null'
[ "$(status bad_datagrams)" -ge 1 ] && kill -0 $nspid 2>/dev/null && ok "a malformed PUSH_DATA is counted and the NS runs on" || not_ok "bad datagram" "$(cat "$tmp/status.json")"
if grep -qi -e $APPKEY -e $NSKEK -e $ASKEK -e $DLTOKEN -e $ASTOKEN "$tmp/ns.log"; then not_ok "no key or token in the NS log"; else ok "no key or token in the NS log"; fi

kill $nspid; wait $nspid; rc=$?
[ $rc -eq 0 ] && grep -q '"msg":"stopped"' "$tmp/ns.log" && ok "SIGTERM stops the NS cleanly" || not_ok "NS stop" "exit $rc $(tail -3 "$tmp/ns.log")"

echo "1..$n"
[ "$failed" -eq 0 ]
