#!/bin/sh
# js_serve.sh - the Join Server end to end: `ferry init` a deployment, import
# KEKs and devices (1.0.2, 1.0.4, 1.1), run `ferry serve` on loopback and
# talk Backend Interfaces to it over real HTTP (curl). Join-requests are
# built by lora-packet; every join-accept is decrypted and MIC-checked by
# lora-packet and every wrapped session key is unwrapped by node's OpenSSL
# and compared with lora-packet's derivation (tests/integration/js_oracle.js).
# Every failure code is provoked; AppSKeyReq, HomeNSReq, the admin API,
# /metrics, TLS and the loopback rule are exercised; finally the database,
# the token directory, the logs and every HTTP body of the run are scanned
# for the clear root, session and KEK keys. Prints TAP.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
FERRY=${FERRY:-$root/build/san/bin/ferry}
export NODE_PATH="$root/tests/oracle/node_modules"
ORACLE="$here/js_oracle.js"
export JOINEUI=70B3D57ED0000000
. "$here/lib/wait.sh"

n=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-js.XXXXXX") || exit 1
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    release_ports
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
watch_log "$tmp/serve.log"

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
    n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"
    [ $# -gt 1 ] && printf '%s\n' "$2" | sed 's/^/# /'
}
check() { desc=$1; shift; if out=$("$@" 2>&1); then ok "$desc"; else not_ok "$desc" "$out"; fi; }
field() { node -e 'const o=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); let v=o; for (const k of process.argv[2].split(".")) v=v===undefined?undefined:v[k]; process.stdout.write(v===undefined?"":String(v))' "$1" "$2"; }

if ! "$root/tests/oracle/install.sh" >/dev/null 2>&1; then
    echo "1..1"; echo "not ok 1 - lora-packet installed for the cross-checks"; exit 1
fi
if ! command -v curl >/dev/null 2>&1; then
    echo "1..1"; echo "not ok 1 - curl is needed"; exit 1
fi

dep="$tmp/dep"
bodies="$tmp/bodies"
mkdir -p "$bodies"
NSKEK=00112233445566778899aabbccddeeff
ASKEK=0f0e0d0c0b0a09080706050403020100
TRKEK=a0a1a2a3a4a5a6a7a8a9aaabacadaeaf
K102=2b7e151628aed2a6abf7158809cf4f3c
K104=000102030405060708090a0b0c0d0e0f
NWK11=101112131415161718191a1b1c1d1e1f
APP11=202122232425262728292a2b2c2d2e2f
D102=0004a30b001c0001
D104=0004a30b001c0002
D11=0004a30b001c0003
keys="$NSKEK $ASKEK $TRKEK $K102 $K104 $NWK11 $APP11"
port=$(port) || { echo "1..1"; echo "not ok 1 - a port for the Join Server"; exit 1; }
url="http://127.0.0.1:$port"

# ---- 1. deployment
check "ferry init makes a deployment" "$FERRY" init "$dep" --join-eui $JOINEUI --listen "127.0.0.1:$port"
mode=$(stat -c %a "$dep")
[ "$mode" = "700" ] && ok "the deployment directory is 0700" || not_ok "deployment mode" "$mode"
[ "$(stat -c %a "$dep/admin.token")" = "600" ] && ok "admin.token is 0600" || not_ok "admin.token mode"
if "$FERRY" init "$dep" --join-eui $JOINEUI >/dev/null 2>"$tmp/err"; then not_ok "a second init is refused"; else
    grep -q "refusing to overwrite" "$tmp/err" && ok "a second init is refused" || not_ok "second init message" "$(cat "$tmp/err")"; fi
F="$FERRY -d $dep"
check "peer add (home NS)" $F peer add 000013 --token-out "$tmp/ns.tok" --nsid 0000000000000013
check "peer add (roaming NS)" $F peer add 000014 --token-out "$tmp/ns14.tok"
check "peer add (stranger NS)" $F peer add 0000AA --token-out "$tmp/ns_aa.tok"
check "peer add (AS)" $F peer add as.example.com --token-out "$tmp/as.tok"
NST=$(cat "$tmp/ns.tok"); NS14T=$(cat "$tmp/ns14.tok"); AAT=$(cat "$tmp/ns_aa.tok"); AST=$(cat "$tmp/as.tok")
ADMT=$(cat "$dep/admin.token")

# ---- 2. KEKs and devices
for kv in "ns:000013 $NSKEK" "as:app1 $ASKEK" "transport $TRKEK"; do
    set -- $kv
    if echo "$2" | $F kek import "$1" >"$tmp/kek.out" 2>&1 && ! grep -qi "$2" "$tmp/kek.out"; then
        ok "kek import $1 (not echoed)"; else not_ok "kek import $1" "$(cat "$tmp/kek.out")"; fi
done
check "kek generate" $F kek generate spare
$F kek list >"$tmp/keks.json" 2>&1
grep -q '"ns:000013"' "$tmp/keks.json" && grep -q '"spare"' "$tmp/keks.json" && ok "kek list shows labels" || not_ok "kek list" "$(cat "$tmp/keks.json")"
W104=$(node "$ORACLE" wrap $TRKEK $K104)
WN11=$(node "$ORACLE" wrap $TRKEK $NWK11)
WA11=$(node "$ORACLE" wrap $TRKEK $APP11)
cat >"$tmp/devices.jsonl" <<EOF
{"DevEUI":"$D102","JoinEUI":"$JOINEUI","MACVersion":"1.0.2","HomeNetID":"000013","AllowedNetIDs":["000014"],"NwkKey":{"AESKey":"$K102"},"NSKEKLabel":"ns:000013","ASKEKLabel":"as:app1","ASID":"as.example.com"}
{"DevEUI":"$D104","JoinEUI":"$JOINEUI","MACVersion":"1.0.4","HomeNetID":"000013","NwkKey":{"KEKLabel":"transport","AESKey":"$W104"},"NSKEKLabel":"ns:000013","ASKEKLabel":"as:app1"}
{"DevEUI":"$D11","JoinEUI":"$JOINEUI","MACVersion":"1.1","HomeNetID":"000013","AllowedNetIDs":["000014"],"NwkKey":{"KEKLabel":"transport","AESKey":"$WN11"},"AppKey":{"KEKLabel":"transport","AESKey":"$WA11"},"NSKEKLabel":"ns:000013","ASKEKLabel":"as:app1","ASID":"as.example.com"}
EOF
if $F device import "$tmp/devices.jsonl" >"$tmp/out" 2>"$tmp/err"; then not_ok "a clear key without --allow-clear-keys is refused"; else
    $F device list >"$tmp/list.json" 2>&1
    grep -q "$(echo $D104 | tr a-f A-F)" "$tmp/list.json" && not_ok "refused import left devices" "$(cat "$tmp/list.json")" \
        || ok "a clear key without --allow-clear-keys is refused, nothing imported"; fi
if $F device import "$tmp/devices.jsonl" --allow-clear-keys >"$tmp/imp.json" 2>"$tmp/err" && grep -q warning "$tmp/err"; then
    ok "device import with --allow-clear-keys (warning on stderr)"; else not_ok "device import" "$(cat "$tmp/imp.json" "$tmp/err")"; fi
[ "$(field "$tmp/imp.json" Imported)" = "3" ] && ok "three devices imported" || not_ok "imported count" "$(cat "$tmp/imp.json")"
$F device show $D11 >"$tmp/show.json" 2>&1
[ "$(field "$tmp/show.json" MACVersion)" = "1.1" ] && ok "device show" || not_ok "device show" "$(cat "$tmp/show.json")"
if $F device import "$tmp/devices.jsonl" --allow-clear-keys >/dev/null 2>&1; then not_ok "re-import of existing devices is refused"; else ok "re-import of existing devices is refused"; fi

# ---- 3. serve
# start: ferry serve in the background, ready when /metrics answers over
# HTTP or HTTPS (whichever ferry.conf says); its pid is watched, so a server
# that dies fails the wait at once
start() {
    "$FERRY" -d "$dep" serve "$@" 2>>"$tmp/serve.log" &
    server=$!
    wait_pid=$server
    wait_until "ferry serve answering $url/metrics (or https)" - \
        'curl -s -o /dev/null --max-time 5 "$url/metrics" || curl -sk -o /dev/null --max-time 5 "https://127.0.0.1:$port/metrics"'
    st=$?
    wait_pid=""
    return $st
}
stop() { kill "$server" 2>/dev/null; wait "$server"; rc=$?; server=""; return $rc; }
if "$FERRY" -d "$dep" serve --listen "0.0.0.0:$port" >/dev/null 2>"$tmp/err"; then not_ok "plain HTTP off loopback is refused"; else
    grep -q "loopback" "$tmp/err" && ok "plain HTTP off loopback is refused" || not_ok "off-loopback message" "$(cat "$tmp/err")"; fi
start && ok "ferry serve listens on 127.0.0.1:$port" || not_ok "ferry serve starts" "$(cat "$tmp/serve.log")"

bn=0
post() {   # post BODYFILE TOKEN -> answer in $ans, HTTP code in $code
    bn=$((bn + 1))
    ans="$bodies/ans$bn.json"
    cp "$1" "$bodies/req$bn.json"
    if [ -n "$2" ]; then
        code=$(curl -s -o "$ans" -w '%{http_code}' -H "Authorization: Bearer $2" -H 'Content-Type: application/json' --data-binary @"$1" "$url/")
    else
        code=$(curl -s -o "$ans" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @"$1" "$url/")
    fi
}
join() {   # join KEY DEVEUI DEVNONCE MAC PV SENDER TOKEN
    phy=$(node "$ORACLE" jr "$1" $JOINEUI "$2" "$3")
    node "$ORACLE" body JoinReq "$5" "$6" "$4" "$phy" "$2" >"$tmp/req.json"
    post "$tmp/req.json" "$7"
}
result() { field "$ans" Result.ResultCode; }
session_keys=""

join $K102 $D102 0102 1.0.2 1.0 000013 "$NST"
if [ "$code" = 200 ] && sk=$(node "$ORACLE" check10 "$ans" $K102 000013 0102 $NSKEK $ASKEK 2>&1); then
    ok "1.0.2 join: accept decrypted and MIC-checked by lora-packet, NwkSKey/AppSKey unwrap to its derivation"
    session_keys="$session_keys ${sk#* }"; else not_ok "1.0.2 join" "$code $sk $(cat "$ans")"; fi
join $K102 $D102 0005 1.0.2 1.1 000014 "$NS14T"
if sk=$(node "$ORACLE" check10 "$ans" $K102 000014 0005 $NSKEK $ASKEK 2>&1); then
    ok "1.0.2 join from an allowed NetID (BI 1.1 header), NetID in the accept is the sender's"
    session_keys="$session_keys ${sk#* }"; else not_ok "1.0.2 join from an allowed NetID" "$sk $(cat "$ans")"; fi
for dn in 0001 0002; do
    join $K104 $D104 $dn 1.0.4 1.0 000013 "$NST"
    if sk=$(node "$ORACLE" check10 "$ans" $K104 000013 $dn $NSKEK $ASKEK 2>&1); then
        ok "1.0.4 join DevNonce $dn checked by lora-packet"; session_keys="$session_keys ${sk#* }"
        [ "$dn" = 0001 ] && jn1=${sk%% *}; [ "$dn" = 0002 ] && jn2=${sk%% *}
    else not_ok "1.0.4 join DevNonce $dn" "$sk $(cat "$ans")"; fi
done
[ -n "${jn1:-}" ] && [ "${jn1:-}" != "${jn2:-}" ] && ok "JoinNonce differs between joins ($jn1, $jn2)" || not_ok "JoinNonce changes"
join $NWK11 $D11 0001 1.1 1.1 000013 "$NST"
if sk=$(node "$ORACLE" check11 "$ans" $NWK11 $APP11 $JOINEUI $D11 0001 $NSKEK $ASKEK 2>&1); then
    ok "1.1 join: OptNeg accept, JSIntKey MIC, four session keys checked by lora-packet"
    session_keys="$session_keys ${sk#* }"; app11=$(echo "$sk" | cut -d' ' -f5); skid=$(field "$ans" SessionKeyID)
else not_ok "1.1 join" "$sk $(cat "$ans")"; app11=""; skid=""; fi

# ---- 4. every failure code
expect() {  # expect DESC CODE
    r=$(result)
    if [ "$code" = 200 ] && [ "$r" = "$2" ]; then ok "$1 -> $2"; else not_ok "$1 -> $2" "HTTP $code: $(cat "$ans")"; fi
}
join $K104 $D102 0777 1.0.2 1.0 000013 "$NST";            expect "bad MIC" MICFailed
join $K102 0004a30b001c00ff 0001 1.0.2 1.0 000013 "$NST"; expect "unknown device" UnknownDevEUI
join $K102 $D102 0778 1.0.2 1.0 0000AA "$AAT";            expect "wrong sender" ActivationDisallowed
join $K102 $D102 0102 1.0.2 1.0 000013 "$NST";            expect "replayed DevNonce (1.0.2)" JoinReqFailed
join $K104 $D104 0001 1.0.4 1.0 000013 "$NST";            expect "old DevNonce (1.0.4)" JoinReqFailed
join $K102 $D102 0779 1.0.2 1.0 000013 "";                expect "no bearer token" UnknownSender
join $K102 $D102 0779 1.0.2 1.0 000013 "$NS14T";          expect "another peer's token" UnknownSender
printf '{"ProtocolVersion":"1.0","SenderID":"000013","ReceiverID":"%s","TransactionID":1,"MessageType":"JoinReq","MACVersion":"1.0.2","PHYPayload":"00010203","DevEUI":"%s","DevAddr":"26011234","DLSettings":"00","RxDelay":1}' $JOINEUI $D102 >"$tmp/req.json"
post "$tmp/req.json" "$NST";                               expect "truncated frame" FrameSizeError
printf '{"ProtocolVersion":"1.3","SenderID":"000013","ReceiverID":"%s","TransactionID":1,"MessageType":"JoinReq"}' $JOINEUI >"$tmp/req.json"
post "$tmp/req.json" "$NST";                               expect "wrong protocol version" InvalidProtocolVersion
printf '{"ProtocolVersion":"1.0","SenderID":"000013","ReceiverID":"%s","TransactionID":1,"MessageType":"JoinReq","DevEUI":12}' $JOINEUI >"$tmp/req.json"
post "$tmp/req.json" "$NST";                               expect "malformed request (1.0)" MalformedRequest
printf '{"ProtocolVersion":"1.1","SenderID":"000013","ReceiverID":"%s","TransactionID":1,"MessageType":"JoinReq"}' $JOINEUI >"$tmp/req.json"
post "$tmp/req.json" "$NST";                               expect "malformed message (1.1, no SenderNSID)" MalformedMessage
printf '{"ProtocolVersion":"1.0", "SenderID":' >"$tmp/req.json"
post "$tmp/req.json" "$NST"
[ "$code" = 400 ] && ok "malformed JSON -> HTTP 400" || not_ok "malformed JSON -> HTTP 400" "$code"

# ---- 5. AppSKeyReq, HomeNSReq
printf '{"ProtocolVersion":"1.0","SenderID":"as.example.com","ReceiverID":"%s","TransactionID":9,"MessageType":"AppSKeyReq","DevEUI":"%s","SessionKeyID":"%s"}' $JOINEUI $D11 "$skid" >"$tmp/req.json"
post "$tmp/req.json" "$AST"
if [ "$(result)" = Success ] && [ -n "$app11" ] && node "$ORACLE" unwrap_eq "$ans" AppSKey $ASKEK "$app11" 2>"$tmp/err"; then
    ok "AppSKeyReq: the kept AppSKey, wrapped under the AS KEK, equals lora-packet's"; else not_ok "AppSKeyReq" "$(cat "$ans" "$tmp/err")"; fi
printf '{"ProtocolVersion":"1.0","SenderID":"other-as.example.com","ReceiverID":"%s","TransactionID":9,"MessageType":"AppSKeyReq","DevEUI":"%s","SessionKeyID":"%s"}' $JOINEUI $D11 "$skid" >"$tmp/req.json"
post "$tmp/req.json" "$AST";                               expect "AppSKeyReq from an unauthenticated AS" UnknownSender
node "$ORACLE" body HomeNSReq 1.1 000014 "" "" $D11 >"$tmp/req.json"
post "$tmp/req.json" "$NS14T"
if [ "$(result)" = Success ] && [ "$(field "$ans" HNetID)" = 000013 ] && [ "$(field "$ans" HNSID)" = 0000000000000013 ]; then
    ok "HomeNSReq (1.1): HNetID and HNSID"; else not_ok "HomeNSReq" "$(cat "$ans")"; fi
node "$ORACLE" body HomeNSReq 1.0 0000AA "" "" $D11 >"$tmp/req.json"
post "$tmp/req.json" "$AAT";                               expect "HomeNSReq from a network the device may not use" NoRoamingAgreement

# ---- 5b. JoinEUI ranges: added to the running server at SIGHUP
hns_in_range() {
    printf '{"ProtocolVersion":"1.0","SenderID":"000013","ReceiverID":"%s","TransactionID":11,"MessageType":"HomeNSReq","DevEUI":"%s"}' "$1" $D11 >"$tmp/req.json"
    post "$tmp/req.json" "$NST"
}
hns_in_range 70B3D57EF0000042;                           expect "HomeNSReq to a JoinEUI outside every range" UnkownReceiver
if "$FERRY" -d "$dep" joineui add 70B3D57EF0000001/40 >/dev/null 2>"$tmp/err"; then not_ok "joineui add: a prefix with bits past /40 is refused"; else
    grep -q "bits are set past" "$tmp/err" && ok "joineui add: a prefix with bits past /40 is refused, saying why" || not_ok "joineui add message" "$(cat "$tmp/err")"; fi
"$FERRY" -d "$dep" joineui add 70B3D57EF0000000/40 >"$tmp/o" 2>"$tmp/err" && grep -q '"70B3D57EF0000000/40"' "$tmp/o" &&
    ok "joineui add 70B3D57EF0000000/40" || not_ok "joineui add" "$(cat "$tmp/o" "$tmp/err")"
hns_in_range 70B3D57EF0000042;                           expect "... not served before the server reloads" UnkownReceiver
kill -HUP "$server"
wait_until "the JoinEUI ranges reloaded at SIGHUP" - "grep -q 'JoinEUI ranges.*70B3D57EF0000000/40' '$tmp/serve.log'" && ok "SIGHUP: the server logs its new JoinEUI ranges" || not_ok "reload logged" "$(tail -3 "$tmp/serve.log")"
hns_in_range 70B3D57EF0000042
if [ "$(result)" = Success ] && [ "$(field "$ans" HNetID)" = 000013 ]; then
    ok "HomeNSReq to a JoinEUI of the new range is answered"; else not_ok "HomeNSReq in the new range" "$(cat "$ans")"; fi
if "$FERRY" -d "$dep" joineui remove $JOINEUI >/dev/null 2>&1 && "$FERRY" -d "$dep" joineui remove 70B3D57EF0000000/40 >/dev/null 2>"$tmp/err"; then
    not_ok "the last JoinEUI range is never removed"; else
    grep -q "last one" "$tmp/err" && ok "the last JoinEUI range is never removed" || not_ok "remove last" "$(cat "$tmp/err")"; fi
"$FERRY" -d "$dep" joineui add $JOINEUI >/dev/null 2>"$tmp/err" && "$FERRY" -d "$dep" joineui remove 70B3D57EF0000000/40 >/dev/null 2>>"$tmp/err" &&
    [ "$("$FERRY" -d "$dep" joineui list 2>/dev/null | tr -d ' \n')" = "{\"JoinEUIs\":[\"$JOINEUI\"]}" ] &&
    ok "joineui list: back to the one JoinEUI" || not_ok "joineui back" "$(cat "$tmp/err")"
kill -HUP "$server"
wait_until "the JoinEUI ranges reloaded again" - "[ \$(grep -c 'JoinEUI ranges' '$tmp/serve.log') -ge 2 ]"
hns_in_range 70B3D57EF0000042;                           expect "... and after the next SIGHUP the removed range is no longer served" UnkownReceiver

# ---- 6. admin API and metrics
code=$(curl -s -o "$bodies/adm1.json" -w '%{http_code}' "$url/api/v1/devices/$D104")
[ "$code" = 401 ] && ok "admin API without token -> 401" || not_ok "admin API without token" "$code"
code=$(curl -s -o "$bodies/adm2.json" -w '%{http_code}' -H "Authorization: Bearer $ADMT" "$url/api/v1/devices/$D104")
[ "$code" = 200 ] && grep -q '"MACVersion":"1.0.4"' "$bodies/adm2.json" && ok "admin API GET device" || not_ok "admin GET" "$code $(cat "$bodies/adm2.json")"
W105=$(node "$ORACLE" wrap $TRKEK $K104)
printf '{"DevEUI":"0004A30B001C0010","JoinEUI":"%s","MACVersion":"1.0.3","HomeNetID":"000013","NwkKey":{"KEKLabel":"transport","AESKey":"%s"},"NSKEKLabel":"ns:000013"}' $JOINEUI $W105 >"$tmp/dev.json"
code=$(curl -s -o "$bodies/adm3.json" -w '%{http_code}' -H "Authorization: Bearer $ADMT" --data-binary @"$tmp/dev.json" "$url/api/v1/devices")
[ "$code" = 201 ] && ok "admin API POST device (wrapped key)" || not_ok "admin POST" "$code $(cat "$bodies/adm3.json")"
join $K104 0004a30b001c0010 0001 1.0.3 1.0 000013 "$NST"
if node "$ORACLE" check10 "$ans" $K104 000013 0001 $NSKEK >/dev/null 2>"$tmp/err"; then ok "a device provisioned by the admin API joins"; else not_ok "admin device joins" "$(cat "$ans" "$tmp/err")"; fi
# PUT replaces the keys (a renewal), keeping the DevNonce history and the JoinNonce counter
KR=00112233445566778899AABBCCDDEEFF
WR=$(node "$ORACLE" wrap $TRKEK $KR)
printf '{"DevEUI":"0004A30B001C0010","JoinEUI":"%s","MACVersion":"1.0.3","HomeNetID":"000013","NwkKey":{"KEKLabel":"transport","AESKey":"%s"},"NSKEKLabel":"ns:000013"}' $JOINEUI $WR >"$tmp/dev2.json"
code=$(curl -s -o "$bodies/adm5.json" -w '%{http_code}' -X PUT -H "Authorization: Bearer $ADMT" --data-binary @"$tmp/dev2.json" "$url/api/v1/devices/0004A30B001C0011")
[ "$code" = 400 ] && ok "admin API PUT with a body for another DevEUI -> 400" || not_ok "admin PUT other DevEUI" "$code"
code=$(curl -s -o "$bodies/adm5.json" -w '%{http_code}' -X PUT -H "Authorization: Bearer $ADMT" --data-binary @"$tmp/dev2.json" "$url/api/v1/devices/0004A30B001C0010")
[ "$code" = 200 ] && grep -q '"NextJoinNonce":2' "$bodies/adm5.json" && ok "admin API PUT replaces the keys, the JoinNonce counter kept (one join from 1: next 2)" || not_ok "admin PUT" "$code $(cat "$bodies/adm5.json")"
join $KR 0004a30b001c0010 0001 1.0.3 1.0 000013 "$NST";    expect "after PUT, a used DevNonce is still refused" JoinReqFailed
join $KR 0004a30b001c0010 0002 1.0.3 1.0 000013 "$NST"
if node "$ORACLE" check10 "$ans" $KR 000013 0002 $NSKEK >/dev/null 2>"$tmp/err"; then ok "after PUT the device joins with the new key"; else not_ok "PUT device joins" "$(cat "$ans" "$tmp/err")"; fi
code=$(curl -s -o "$bodies/adm4.json" -w '%{http_code}' -X DELETE -H "Authorization: Bearer $ADMT" "$url/api/v1/devices/0004A30B001C0010")
[ "$code" = 200 ] && ok "admin API DELETE device" || not_ok "admin DELETE" "$code"
curl -s "$url/metrics" >"$bodies/metrics.txt"
grep -q 'ferry_js_requests_total{type="JoinReq",result="Success"}' "$bodies/metrics.txt" && \
    grep -q 'ferry_js_request_duration_seconds_bucket' "$bodies/metrics.txt" && ok "/metrics in Prometheus text" || not_ok "/metrics" "$(head -20 "$bodies/metrics.txt")"
if stop; then ok "SIGTERM stops the server cleanly"; else not_ok "SIGTERM stops the server" "exit $rc"; fi
python3 - "$tmp/serve.log" >/dev/null 2>&1 <<'EOF' && ok "every log line is JSON" || not_ok "every log line is JSON" "$(head -5 "$tmp/serve.log")"
import json, sys
for l in open(sys.argv[1]):
    if l.strip():
        json.loads(l)
EOF

# ---- 7. TLS on loopback (server path)
if command -v openssl >/dev/null 2>&1; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/tls.key" -out "$tmp/tls.crt" -days 2 \
        -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1
    # a client CA and a certificate for the home NS (CN = its NetID)
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/ca.key" -out "$tmp/ca.crt" -days 2 -subj "/CN=peer CA" >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -keyout "$tmp/cli.key" -out "$tmp/cli.csr" -subj "/CN=000013" >/dev/null 2>&1
    openssl x509 -req -in "$tmp/cli.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" -CAcreateserial -out "$tmp/cli.crt" -days 2 >/dev/null 2>&1
    printf 'tls_cert = %s\ntls_key = %s\ntls_client_ca = %s\n' "$tmp/tls.crt" "$tmp/tls.key" "$tmp/ca.crt" >>"$dep/ferry.conf"
    if start; then
        node "$ORACLE" body HomeNSReq 1.0 000013 "" "" $D104 >"$tmp/req.json"
        code=$(curl -s --cacert "$tmp/tls.crt" -o "$bodies/tls.json" -w '%{http_code}' -H "Authorization: Bearer $NST" --data-binary @"$tmp/req.json" "https://127.0.0.1:$port/")
        [ "$code" = 200 ] && [ "$(field "$bodies/tls.json" Result.ResultCode)" = Success ] && ok "HTTPS with the configured certificate" || not_ok "HTTPS" "$code"
        code=$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$tmp/req.json" "http://127.0.0.1:$port/")
        [ "$code" != 200 ] && ok "plain HTTP is not answered when TLS is on" || not_ok "plain HTTP with TLS on"
        code=$(curl -s --cacert "$tmp/tls.crt" --cert "$tmp/cli.crt" --key "$tmp/cli.key" -o "$bodies/mtls.json" -w '%{http_code}' --data-binary @"$tmp/req.json" "https://127.0.0.1:$port/")
        [ "$code" = 200 ] && [ "$(field "$bodies/mtls.json" Result.ResultCode)" = Success ] && ok "mutual TLS: a client certificate (CN = SenderID) authenticates without a token" \
            || not_ok "mutual TLS" "$code $(cat "$bodies/mtls.json")"
        code=$(curl -s --cacert "$tmp/tls.crt" -o "$bodies/mtls2.json" -w '%{http_code}' --data-binary @"$tmp/req.json" "https://127.0.0.1:$port/")
        [ "$(field "$bodies/mtls2.json" Result.ResultCode)" = UnknownSender ] && ok "HTTPS without certificate or token -> UnknownSender" \
            || not_ok "HTTPS without credentials" "$code $(cat "$bodies/mtls2.json")"
        stop
    else
        not_ok "serve with TLS starts" "$(tail -5 "$tmp/serve.log")"
    fi
fi

# ---- 8. no clear key anywhere
cat "$tmp"/*.out "$tmp"/*.json "$tmp/serve.log" >"$bodies/cli-and-logs.txt" 2>/dev/null
if out=$(node -e '
const fs=require("fs"), path=require("path");
const [dirs, keys]=[process.argv[1].split(" "), process.argv[2].trim().split(/\s+/)];
const files=[]; const walk=(p)=>{ const s=fs.statSync(p); if(s.isDirectory()) fs.readdirSync(p).forEach(f=>walk(path.join(p,f))); else files.push(p); };
dirs.forEach(walk);
let bad=[];
for (const f of files) { const b=fs.readFileSync(f);
  for (const k of keys) { const raw=Buffer.from(k,"hex");
    if (b.indexOf(raw)>=0 || b.indexOf(Buffer.from(k.toLowerCase()))>=0 || b.indexOf(Buffer.from(k.toUpperCase()))>=0) bad.push(f+": "+k.slice(0,6)+"..."); } }
console.log(files.length+" files, "+keys.length+" keys");
if (bad.length) { console.log(bad.join("\n")); process.exit(1); }' "$dep $bodies" "$keys $session_keys" 2>&1); then
    ok "no root, KEK or session key in the database, token, logs or HTTP bodies ($out)"
else
    not_ok "a key in clear was found" "$out"
fi
# the scanner finds a planted key
cp "$tmp/devices.jsonl" "$bodies/planted"
if node -e 'const b=require("fs").readFileSync(process.argv[1]); process.exit(b.indexOf(Buffer.from(process.argv[2]))>=0?0:1)' "$bodies/planted" $K102; then
    ok "the scan finds a planted key"; else not_ok "the scan finds a planted key"; fi

echo "1..$n"
[ "$failed" -eq 0 ]
