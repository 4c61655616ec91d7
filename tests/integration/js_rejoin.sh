#!/bin/sh
# js_rejoin.sh - RejoinReq over real HTTP, as a network server would send it
# for LoRaWAN 1.1 devices (docs/backend-interfaces.md, "RejoinReq"). Neither
# The Things Stack nor ChirpStack sends one today, so the exchange is the
# one TS002 describes, with the frames built and the answers read by
# lora-packet (js_oracle.js), never by ferry's code:
#   - type 1 (MIC under JSIntKey, which the Join Server checks): answered
#     with a join-accept under JSEncKey whose MIC covers JoinReqType 01 and
#     RJcount1, and session keys derived with RJcount1; the same RJcount1
#     again, or a broken MIC, refused;
#   - types 0 and 2 (MIC under the session's SNwkSIntKey, which only the
#     network server holds and checks): answered for a device with a session
#     on this Join Server, refused for one that never joined;
#   - any type for a LoRaWAN 1.0.x device: refused.
# Prints TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib/common.sh"
need_node
export NODE_PATH="$root/tests/oracle/node_modules"
O="$here/js_oracle.js"
make_tmp rejoin
watch_log "$tmp"
JE=70B3D57ED0000000
NWK=2B7E151628AED2A6ABF7158809CF4F3C; APP=000102030405060708090A0B0C0D0E0F
NSKEK=101112131415161718191A1B1C1D1E1F; ASKEK=202122232425262728292A2B2C2D2E2F
D11=0004A30B001C1101; NEW11=0004A30B001C1102; D10=0004A30B001C1001
P=$(port)
D="$FERRY -d $tmp/js"
line() { # DEVEUI MAC
    if [ "$2" = 1.1 ]; then app=",\"AppKey\":{\"AESKey\":\"$APP\"}"; else app=""; fi
    printf '{"DevEUI":"%s","JoinEUI":"%s","MACVersion":"%s","HomeNetID":"000013","NwkKey":{"AESKey":"%s"}%s,"NSKEKLabel":"ns:000013","ASKEKLabel":"as:app"}\n' \
        "$1" $JE "$2" $NWK "$app"
}
{
    "$FERRY" init "$tmp/js" --join-eui $JE --listen "127.0.0.1:$P" &&
    $D peer add 000013 --token-out "$tmp/ns.tok" --nsid 0000000000000013 &&
    echo $NSKEK | $D kek import ns:000013 && echo $ASKEK | $D kek import as:app &&
    { line $D11 1.1; line $NEW11 1.1; line $D10 1.0.4; } >"$tmp/dev.jsonl" && $D device import "$tmp/dev.jsonl" --allow-clear-keys
} >"$tmp/setup.log" 2>&1
check "a deployment with two 1.1 devices and a 1.0.4 one" '[ $? -eq 0 ]'
$D serve >"$tmp/serve.log" 2>&1 & pids="$pids $!"
check "ferry serve answers" "wait_http http://127.0.0.1:$P/metrics $!"
TOK=$(cat "$tmp/ns.tok")
txn=100
# post TYPE PHY DEVEUI -> answer in $tmp/ans.json, ResultCode in $rc_, Description in $why
post() {
    txn=$((txn + 1))
    printf '{"ProtocolVersion":"1.1","SenderID":"000013","ReceiverID":"%s","TransactionID":%d,"MessageType":"%s","SenderNSID":"0000000000000013","MACVersion":"1.1","PHYPayload":"%s","DevEUI":"%s","DevAddr":"26011234","DLSettings":"00","RxDelay":1}' \
        $JE $txn "$1" "$2" "$3" >"$tmp/req.json"
    curl -s -o "$tmp/ans.json" -H "Authorization: Bearer $TOK" -H 'Content-Type: application/json' \
        --data-binary @"$tmp/req.json" "http://127.0.0.1:$P/"
    rc_=$(jget Result.ResultCode <"$tmp/ans.json"); why=$(jget Result.Description <"$tmp/ans.json")
}

# a session first: a 1.1 JoinReq
post JoinReq "$(node "$O" jr $NWK $JE $D11 0000)" $D11
check "1.1 JoinReq answered ($rc_)" '[ "$rc_" = Success ] && node "$O" check11 "$tmp/ans.json" $NWK $APP $JE $D11 0000 $NSKEK $ASKEK >/dev/null'

# type 1
post RejoinReq "$(node "$O" rj 1 $NWK $JE $D11 0000)" $D11
check "type 1 (RJcount1 0): RejoinAns read as a 1.1 device reads it (JSEncKey, MIC over JoinReqType 01 and RJcount1, keys from RJcount1) ($rc_)" \
    'node "$O" check_rj "$tmp/ans.json" $NWK $APP $JE $D11 1 0000 $NSKEK $ASKEK >/dev/null 2>"$tmp/err" || { sed "s/^/# /" "$tmp/err"; false; }'
cp "$tmp/ans.json" "$tmp/type1.json"
post RejoinReq "$(node "$O" rj 1 $NWK $JE $D11 0000)" $D11
check "type 1 with the same RJcount1 again: refused ($rc_: $why)" '[ "$rc_" = JoinReqFailed ]'
bad=$(node "$O" rj 1 $NWK $JE $D11 0001 | sed 's/.$/0/;s/\(.\)0$/\1f/')
post RejoinReq "$bad" $D11
check "type 1 with a broken MIC: MICFailed ($why)" '[ "$rc_" = MICFailed ]'
post RejoinReq "$(node "$O" rj 1 $NWK $JE $D11 0001)" $D11
check "type 1 with the next RJcount1: answered" 'node "$O" check_rj "$tmp/ans.json" $NWK $APP $JE $D11 1 0001 $NSKEK $ASKEK >/dev/null'

# types 0 and 2: the MIC is the network server's (any SNwkSIntKey here)
SNWK=$(node "$O" check_rj "$tmp/type1.json" $NWK $APP $JE $D11 1 0000 $NSKEK $ASKEK | cut -d' ' -f2)
post RejoinReq "$(node "$O" rj 0 $SNWK 000013 $D11 0000)" $D11
check "type 0 for a device with a session: answered (JoinReqType 00, RJcount0 0)" \
    'node "$O" check_rj "$tmp/ans.json" $NWK $APP $JE $D11 0 0000 $NSKEK $ASKEK >/dev/null 2>"$tmp/err" || { sed "s/^/# /" "$tmp/err"; false; }'
post RejoinReq "$(node "$O" rj 2 $SNWK 000013 $D11 0001)" $D11
check "type 2 for a device with a session: answered (JoinReqType 02, RJcount0 1)" \
    'node "$O" check_rj "$tmp/ans.json" $NWK $APP $JE $D11 2 0001 $NSKEK $ASKEK >/dev/null 2>"$tmp/err" || { sed "s/^/# /" "$tmp/err"; false; }'
post RejoinReq "$(node "$O" rj 0 $SNWK 000013 $NEW11 0000)" $NEW11
check "type 0 for a 1.1 device that never joined: refused ($rc_: $why)" '[ "$rc_" = JoinReqFailed ]'
post RejoinReq "$(node "$O" rj 1 $NWK $JE $D10 0000)" $D10
check "a rejoin-request of a LoRaWAN 1.0.x device: refused ($rc_: $why)" \
    '[ "$rc_" = JoinReqFailed ] && echo "$why" | grep -q "only in LoRaWAN 1.1"'
echo "1..$n"
[ "$failed" -eq 0 ]
