#!/bin/sh
# operators_hub.sh - issue 7's last proof: a visited network without a direct
# link to the IDM's bootstrap Join Server activates a bootstrap SE through
# the peering hub (docs/operators.md, "Operators behind the peering hub").
# Every piece is a real process on loopback:
#   - an IDM deployment (`ferry init`, KEKs, `hsa personalise` + `idm
#     import` of one bootstrap SE, the bootstrap network 000000 as a peer,
#     the visited operator 000042 onboarded with `operator add --reach hub
#     --token-out`) and its bootstrap Join Server (`serve`);
#   - the bootstrap network's lab NS (HOME, NetID 000000) with a direct route
#     to that Join Server and an application server (lab_as.js);
#   - the visited operator's lab NS (NetID 000042) with no Join Server route,
#     only `roaming_hub`;
#   - the hub (`ferry hub`): members 000000 and 000042, the JoinEUI route to
#     the Join Server holding 000042's operator token, a route to each NS.
# The SE (`ferry se serve`) joins through a gateway of the visited network:
#   visited --HomeNSReq (SenderID 000042)--> hub --> bootstrap JS: HNetID 000000
#   visited --PRStartReq--> hub --> home NS --JoinReq--> bootstrap JS
# its uplink reaches the home network's AS through XmitDataReq; the JS counts
# the operator's HomeNS answer. Suspended (`operator suspend`), the visited
# operator gets NoRoamingAgreement and the SE hears no join-accept; resumed,
# it activates again. Prints TAP.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
FERRY=${FERRY:-$root/build/san/bin/ferry}
export NODE_PATH="$root/tests/oracle/node_modules"
AS_JS="$here/lab_as.js"
. "$here/lib/wait.sh"

n=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-ophub.XXXXXX") || exit 1
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
field() { node -e 'const o=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); let v=o; for (const k of process.argv[2].split(".")) v=(v===undefined||v===null)?undefined:v[k]; process.stdout.write(v===undefined||v===null?"":String(v))' "$1" "$2"; }
hex16() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n' | tr 'a-f' 'A-F'; }
# wait_sock SOCKET PID: the SE emulator's Unix socket, its process watched
wait_sock() { wait_pid=$2; wait_until "the SE emulator's socket $1" - "[ -S '$1' ]"; w_rc=$?; wait_pid=""; return $w_rc; }

for tool in node curl; do
    if ! command -v $tool >/dev/null 2>&1; then echo "not ok 1 - $tool is needed"; echo "1..1"; exit 1; fi
done

JOINEUI=70B3D57ED0000000
SE=70B3D57ED0080000
VNETID=000042
GW=AA555A00000000F2
HSAKEK=$(hex16); NSKEK=$(hex16); VNSKEK=$(hex16); ASKEK=$(hex16)
jsport=$(port); hubport=$(port); asport=$(port)
hudp=$(uport); hhttp=$(port); vudp=$(uport); vhttp=$(port)
HUB="http://127.0.0.1:$hubport"
JS="http://127.0.0.1:$jsport"
VNS="127.0.0.1:$vudp"
umask 077

# ---- 1. the IDM deployment: KEKs, the bootstrap network as a peer, one bootstrap SE, the visited operator
idm="$tmp/idm"
I="$FERRY -d $idm"
{
    "$FERRY" init "$idm" --join-eui $JOINEUI --listen "127.0.0.1:$jsport" &&
    echo "$HSAKEK" | $I kek import hsa-idm && echo "$NSKEK" | $I kek import bootstrap-ns &&
    echo "$ASKEK" | $I kek import idm-as &&
    $I peer add 000000 --token-out "$tmp/home-js.tok" &&
    echo "$HSAKEK" | "$FERRY" hsa personalise --count 1 --out "$tmp/hsa" --kek-label hsa-idm --mac-version 1.0.4 \
        --dev-eui-base $SE --serial-base 0000000000000200 &&
    $I idm import "$tmp/hsa/batch.jsonl"
} >"$tmp/setup.log" 2>"$tmp/err" && ok "IDM deployment: KEKs, peer 000000 (the bootstrap network), one bootstrap SE imported" ||
    not_ok "IDM deployment" "$(cat "$tmp/err")"
$I operator add $VNETID --reach hub --token-out "$tmp/hub-js-$VNETID.tok" --name "visited, via the hub" >"$tmp/op.json" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && [ "$(field "$tmp/op.json" Reach)" = hub ] && [ "$(field "$tmp/op.json" State)" = active ] &&
    [ "$(stat -c %a "$tmp/hub-js-$VNETID.tok")" = 600 ] && ! grep -q "$(cat "$tmp/hub-js-$VNETID.tok")" "$tmp/op.json" &&
    ok "operator add $VNETID --reach hub --token-out: active, no KEK needed, token only in its 0600 file" ||
    not_ok "operator add --reach hub" "exit $rc $(cat "$tmp/op.json" "$tmp/err")"
"$FERRY" -d "$idm" serve 2>"$tmp/js.log" &
jspid=$!; pids="$pids $jspid"
wait_http "$JS/metrics" $jspid && ok "the bootstrap Join Server listens" || not_up "bootstrap JS listens" "$(cat "$tmp/js.log")"

# ---- 2. the hub: members 000000 and 000042; the JoinEUI route carries 000042's operator token
"$FERRY" hub token "$tmp/home-hub.tok" >"$tmp/th.json" 2>"$tmp/err" &&
    "$FERRY" hub token "$tmp/visited-hub.tok" >"$tmp/tv.json" 2>>"$tmp/err" || not_ok "hub token" "$(cat "$tmp/err")"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tmp/hub-home-bi.tok"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tmp/hub-visited-bi.tok"
echo "$VNETID $(cat "$tmp/hub-js-$VNETID.tok")" >"$tmp/hub-js.tok"
cp "$tmp/hub-home-bi.tok" "$tmp/hub-to-home.tok"
cp "$tmp/hub-visited-bi.tok" "$tmp/hub-to-visited.tok"
cat >"$tmp/hub.conf" <<EOT
listen = 127.0.0.1:$hubport
threads = 4
member = 000000 token_sha256=$(field "$tmp/th.json" token_sha256)
member = $VNETID token_sha256=$(field "$tmp/tv.json" token_sha256)
route = 70B3D57E00000000/32 $JS/ hub-js.tok
route = 000000 http://127.0.0.1:$hhttp/bi hub-to-home.tok
route = $VNETID http://127.0.0.1:$vhttp/bi hub-to-visited.tok
EOT
"$FERRY" hub --config "$tmp/hub.conf" 2>"$tmp/hub.log" &
hubpid=$!; pids="$pids $hubpid"
wait_http "$HUB/metrics" $hubpid && ok "hub listens (members 000000 and $VNETID, the JoinEUI routed to the bootstrap JS)" ||
    not_up "hub listens" "$(cat "$tmp/hub.log")"

# ---- 3. the AS, the home NS (000000) and the visited NS (000042)
ASTOKEN=as-token-$(hex16)
node "$AS_JS" serve $asport "$ASTOKEN" "$tmp/as.log" 2>"$tmp/as-err.log" &
aspid=$!; pids="$pids $aspid"
# it answers 401 to a request without its bearer: enough to know it listens
wait_http "http://127.0.0.1:$asport/" $aspid && ok "the home network's AS (lab_as.js) listens" || not_up "AS listens" "$(cat "$tmp/as-err.log")"
echo $NSKEK >"$tmp/home.kek"; echo $VNSKEK >"$tmp/visited.kek"; echo "$ASTOKEN" >"$tmp/as.tok"
cat >"$tmp/home.conf" <<EOT
net_id = 000000
kek_label = bootstrap-ns
kek_file = home.kek
udp_listen = 127.0.0.1:$hudp
http_listen = 127.0.0.1:$hhttp
route = 70B3D57E00000000/32 $JS/ home-js.tok
as_url = http://127.0.0.1:$asport
as_token_file = as.tok
roaming_hub = $HUB/ home-hub.tok
bi_token_file = hub-home-bi.tok
roaming_lifetime = 600
EOT
cat >"$tmp/visited.conf" <<EOT
net_id = $VNETID
kek_label = ns:$VNETID
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
    ok "home NS (000000) and visited NS ($VNETID) listen" || not_up "NSs listen" "$(cat "$tmp/home.log" "$tmp/visited.log")"
! grep -q '^route' "$tmp/visited.conf" && grep -q '^roaming_hub' "$tmp/visited.conf" &&
    grep -q "^route = 70B3D57E00000000/32 $JS/" "$tmp/home.conf" &&
    ok "the visited NS's config has no Join Server route, only roaming_hub; the home NS's routes to the bootstrap JS" ||
    not_ok "configs" "$(cat "$tmp/visited.conf")"
# a request in a wait has a time limit too: a server that hangs fails the wait
cmax=$(scaled 10)
hstatus() { curl -s --max-time "$cmax" "http://127.0.0.1:$hhttp/status" >"$tmp/hs.json"; field "$tmp/hs.json" "$1"; }
vstatus() { curl -s --max-time "$cmax" "http://127.0.0.1:$vhttp/status" >"$tmp/vs.json"; field "$tmp/vs.json" "$1"; }

# ---- 4. the bootstrap SE, emulated
sock="$tmp/se.sock"
"$FERRY" se serve --image "$tmp/hsa/se-$SE.img" --socket "$sock" 2>"$tmp/se.log" &
sepid=$!; pids="$pids $sepid"
wait_sock "$sock" $sepid && ok "the bootstrap SE $SE runs (ferry se serve)" || not_up "se serve" "$(cat "$tmp/se.log")"
bail_if_down
gw() {   # gw OUTFILE WAIT_MS PHY: one uplink through the visited network's gateway
    "$FERRY" lab gateway --ns "$VNS" --gateway-eui $GW --wait-ms "$2" "$3" >"$1" 2>"$tmp/gw.err"
}
metrics() { curl -s --max-time "$cmax" "$JS/metrics" >"$tmp/metrics.txt"; }
# the per-operator counters reach the database once a second; this makes
# the Join Server write them now (answers 200 when done): $flush is the code
flush() { flush=$(curl -s --max-time "$cmax" -o "$tmp/flush.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $(cat "$idm/admin.token")" "$JS/api/v1/metrics/flush"); }

# ---- 5. activation through the hub
"$FERRY" se join-request --socket "$sock" >"$tmp/jr.json" 2>&1
gw "$tmp/gw_join.json" "$(scaled 4500)" "$(field "$tmp/jr.json" PHYPayload)"
ja=$(field "$tmp/gw_join.json" Downlink.PHYPayload)
[ -n "$ja" ] && ok "the SE's join-request heard by the visited network comes back as a join-accept from its gateway" ||
    not_ok "join-accept through the visited gateway" "$(cat "$tmp/gw_join.json" "$tmp/gw.err"; tail -5 "$tmp/visited.log" "$tmp/home.log" "$tmp/hub.log" "$tmp/js.log")"
"$FERRY" se join-accept --socket "$sock" "$ja" >"$tmp/ja.json" 2>"$tmp/err"
devaddr=$(field "$tmp/ja.json" DevAddr)
[ -n "$devaddr" ] && ok "the SE accepts it (DevAddr $devaddr)" || not_ok "SE join-accept" "$(cat "$tmp/ja.json" "$tmp/err")"
hub_logged() {
    grep -q "\"type\":\"HomeNSReq\",\"outcome\":\"forwarded\",\"result\":\"Success\",\"sender\":\"$VNETID\",\"receiver\":\"$JOINEUI\"" "$tmp/hub.log" &&
        grep -q "\"type\":\"PRStartReq\",\"outcome\":\"forwarded\",\"result\":\"Success\",\"sender\":\"$VNETID\",\"receiver\":\"000000\"" "$tmp/hub.log"
}
wait_until "the hub's log lines of HomeNSReq and PRStartReq from $VNETID, forwarded" - hub_logged
hub_logged &&
    ok "hub: HomeNSReq $VNETID -> the bootstrap JoinEUI and PRStartReq $VNETID -> 000000, forwarded, Success" ||
    not_ok "hub log" "$(cat "$tmp/hub.log")"
js_logged() {
    grep -q '"msg":"request".*"type":"HomeNSReq".*"result":"Success"' "$tmp/js.log" &&
        grep -q '"msg":"request".*"type":"JoinReq".*"result":"Success"' "$tmp/js.log"
}
wait_until "the JS's log lines of HomeNSReq and JoinReq, Success" - js_logged
js_logged &&
    ok "the bootstrap JS answered the operator's HomeNSReq and the home network's JoinReq with Success" ||
    not_ok "JS log" "$(grep '"msg":"request"' "$tmp/js.log")"
roam_joined() { [ "$(vstatus roam_joins)" = "1" ] && [ "$(hstatus pr_start)" = "1" ] && [ "$(hstatus joins)" = "1" ]; }
wait_until "visited NS roam_joins 1, home NS pr_start 1 and joins 1" - roam_joined
roam_joined &&
    ok "visited: one roaming join; home: one PRStartReq served, one session" || not_ok "roaming join counters" "$(cat "$tmp/vs.json" "$tmp/hs.json")"
wait_until "the JS's /metrics: one HomeNS answer for operator $VNETID" - \
    'metrics; grep -q "^ferry_js_operator_home_ns_total{operator=\"$VNETID\"} 1$" "$tmp/metrics.txt"'
grep -q "^ferry_js_operator_home_ns_total{operator=\"$VNETID\"} 1$" "$tmp/metrics.txt" &&
    ok "JS /metrics: one HomeNS answer for operator $VNETID" || not_ok "JS metrics" "$(grep operator "$tmp/metrics.txt")"
flush
$I operator show $VNETID >"$tmp/show.json" 2>"$tmp/err"
[ "$flush" = 200 ] && [ "$(field "$tmp/show.json" HomeNSAnswers)" = 1 ] && [ "$(field "$tmp/show.json" Reach)" = hub ] &&
    ok "operator show $VNETID: HomeNSAnswers 1 (flushed to the IDM's database: POST /api/v1/metrics/flush $flush)" ||
    not_ok "operator show" "flush $flush $(cat "$tmp/flush.json" "$tmp/show.json" "$tmp/err")"
grep -q "^ferry_js_requests_total{type=\"JoinReq\",result=\"Success\"} 1$" "$tmp/metrics.txt" &&
    grep -q "^ferry_js_store_committed_joins_total 1$" "$tmp/metrics.txt" &&
    grep -q "^ferry_js_operator_activations_total{operator=\"$VNETID\"} 0$" "$tmp/metrics.txt" &&
    ok "JS /metrics: one JoinReq Success committed (from the home network: $VNETID's activations stay 0)" ||
    not_ok "JS join metrics" "$(grep -v '^#' "$tmp/metrics.txt" | grep -v duration)"
$I device show $SE >"$tmp/dev.json" 2>"$tmp/err"
[ "$(field "$tmp/dev.json" NextJoinNonce)" = 2 ] && [ "$(field "$tmp/dev.json" HomeNetID)" = 000000 ] &&
    [ "$(field "$tmp/dev.json" AllowedNetIDs)" = "" ] &&
    ok "the IDM's store recorded the join (JoinNonce 1 served, NextJoinNonce 2); the SE's AllowedNetIDs are empty: $VNETID is admitted as an operator" ||
    not_ok "device show" "$(cat "$tmp/dev.json" "$tmp/err")"

# ---- 6. its uplink: visited gateway -> XmitDataReq -> hub -> home NS -> AS
"$FERRY" se uplink --socket "$sock" --fport 2 --payload 68656c6c6f >"$tmp/up0.json" 2>&1
gw "$tmp/gw_up0.json" 800 "$(field "$tmp/up0.json" PHYPayload)"
wait_until "the uplink at the home network's AS ($tmp/as.log)" - '[ -s "$tmp/as.log" ]'
head -1 "$tmp/as.log" >"$tmp/as0.json" 2>/dev/null
[ "$(field "$tmp/as0.json" FCnt)" = "0" ] && [ "$(field "$tmp/as0.json" DevAddr)" = "$devaddr" ] &&
    [ "$(field "$tmp/as0.json" DevEUI)" = "$SE" ] &&
    ok "the SE's uplink heard by the visited network reaches the home (bootstrap) network's AS" ||
    not_ok "AS uplink" "$(cat "$tmp/as.log" "$tmp/as-err.log" 2>/dev/null; tail -5 "$tmp/visited.log" "$tmp/home.log")"
[ "$(node "$AS_JS" decrypt $ASKEK "$tmp/as0.json" 2>&1)" = "68656c6c6f" ] &&
    ok "the AS unwraps the AppSKey (idm-as) and reads 'hello'" || not_ok "AS decrypt" "$(node "$AS_JS" decrypt $ASKEK "$tmp/as0.json" 2>&1)"
wait_until "visited NS roam_up 1 and home NS xmit_up 1" - '[ "$(vstatus roam_up)" = "1" ] && [ "$(hstatus xmit_up)" = "1" ]'
[ "$(vstatus roam_up)" = "1" ] && [ "$(hstatus xmit_up)" = "1" ] &&
    ok "visited: the uplink forwarded in XmitDataReq; home: verified" || not_ok "data counters" "$(cat "$tmp/vs.json" "$tmp/hs.json")"

# ---- 7. the visited operator suspended: refused, no join-accept; resumed: served again
$I operator suspend $VNETID >"$tmp/o" 2>"$tmp/err"
grep -q '"State": "suspended"' "$tmp/o" && ok "operator suspend $VNETID (serve keeps running)" || not_ok "suspend" "$(cat "$tmp/o" "$tmp/err")"
"$FERRY" se join-request --socket "$sock" >"$tmp/jr2.json" 2>&1
gw "$tmp/gw_join2.json" 2500 "$(field "$tmp/jr2.json" PHYPayload)"
wait_until "'roaming join refused ... NoRoamingAgreement' in the visited NS's log" - \
    'grep -q "roaming join refused.*NoRoamingAgreement" "$tmp/visited.log"'
[ -z "$(field "$tmp/gw_join2.json" Downlink)" ] && grep -q 'roaming join refused.*NoRoamingAgreement' "$tmp/visited.log" &&
    ok "suspended: the SE hears no join-accept; the visited NS logs NoRoamingAgreement" ||
    not_ok "suspended refusal" "$(cat "$tmp/gw_join2.json"; tail -3 "$tmp/visited.log")"
[ "$(hstatus pr_start)" = "1" ] && [ "$(hstatus joins)" = "1" ] &&
    [ "$($I device show $SE | grep -c '"NextJoinNonce": 2')" = 1 ] &&
    ok "... the home network never saw a PRStartReq for it, the JS made no join (NextJoinNonce still 2)" || not_ok "home untouched" "$(cat "$tmp/hs.json")"
refused() { metrics; grep -q "^ferry_js_operator_refusals_total{operator=\"$VNETID\",request=\"home_ns\",reason=\"NoRoamingAgreement\"} 1$" "$tmp/metrics.txt"; }
wait_until "the JS's /metrics: operator $VNETID refused once, home_ns, NoRoamingAgreement" - refused
grep -q "^ferry_js_operator_refusals_total{operator=\"$VNETID\",request=\"home_ns\",reason=\"NoRoamingAgreement\"} 1$" "$tmp/metrics.txt" &&
    ok "JS /metrics: operator $VNETID refused once, home_ns, NoRoamingAgreement" || not_ok "refusal metric" "$(grep operator "$tmp/metrics.txt")"
$I operator resume $VNETID >/dev/null 2>"$tmp/err"
"$FERRY" se join-request --socket "$sock" >"$tmp/jr3.json" 2>&1
gw "$tmp/gw_join3.json" "$(scaled 4500)" "$(field "$tmp/jr3.json" PHYPayload)"
ja3=$(field "$tmp/gw_join3.json" Downlink.PHYPayload)
"$FERRY" se join-accept --socket "$sock" "$ja3" >"$tmp/ja3.json" 2>"$tmp/err"
wait_until "home NS pr_start 2" - '[ "$(hstatus pr_start)" = "2" ]'
[ -n "$ja3" ] && [ -n "$(field "$tmp/ja3.json" DevAddr)" ] && [ "$(hstatus pr_start)" = "2" ] &&
    ok "resumed: the SE activates through the hub again" || not_ok "resumed" "$(cat "$tmp/gw_join3.json" "$tmp/ja3.json" "$tmp/err"; tail -3 "$tmp/visited.log")"

# ---- 8. stop; counters in the database; no secret in the hub's output; no sanitizer report
kill $jspid; wait $jspid; rc=$?
$I operator show $VNETID >"$tmp/show.json" 2>"$tmp/err"
[ $rc -eq 0 ] && [ "$(field "$tmp/show.json" HomeNSAnswers)" = 2 ] && [ "$(field "$tmp/show.json" Refusals.NoRoamingAgreement)" = 1 ] &&
    ok "serve stops cleanly; operator show: 2 HomeNS answers, 1 NoRoamingAgreement" || not_ok "final counters" "exit $rc $(cat "$tmp/show.json" "$tmp/err")"
leak=""
for s in $HSAKEK $NSKEK $VNSKEK $ASKEK $(cat "$tmp/hub-js-$VNETID.tok" "$tmp/home-hub.tok" "$tmp/visited-hub.tok" "$tmp/home-js.tok"); do
    grep -qi -- "$s" "$tmp/hub.log" "$tmp/visited.log" "$tmp/home.log" "$tmp/js.log" && leak="$leak $s;"
done
[ -z "$leak" ] && ok "no KEK and no token in any log" || not_ok "secrets in logs" "$leak"
for p in $hubpid $vpid $hpid; do kill $p; done
wait $hubpid; r1=$?; wait $vpid; r2=$?; wait $hpid; r3=$?
[ $r1 -eq 0 ] && [ $r2 -eq 0 ] && [ $r3 -eq 0 ] && ok "SIGTERM stops the hub and both NSs cleanly" || not_ok "stop" "hub $r1 visited $r2 home $r3"
if grep -l "ERROR: AddressSanitizer\|runtime error" "$tmp"/*.log >/dev/null 2>&1; then
    not_ok "no sanitizer report from any process" "$(grep -l "ERROR: AddressSanitizer\|runtime error" "$tmp"/*.log)"
else ok "no sanitizer report from any process"; fi

echo "1..$n"
[ "$failed" -eq 0 ]
