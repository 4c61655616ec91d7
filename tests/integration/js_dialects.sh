#!/bin/sh
# js_dialects.sh - JoinReq as The Things Stack and ChirpStack write it, sent
# to ferry's Join Server directly and through the peering hub, each answer
# read the way that peer reads it (join-accept decrypted and MIC-checked by
# lora-packet, session keys unwrapped with the network's KEK by node's
# OpenSSL), never by ferry's code (issue 13; docs/backend-interfaces.md):
#   tts10   BI 1.0: UPPERCASE hex, TransactionID 0, no NSIDs, "CFList":""
#           (releases before 3.23), a trailing newline after the JSON
#   tts10n  the same without CFList (3.23 and later)
#   tts11   BI 1.1: UPPERCASE hex, SenderNSID, MACVersion "1.1"
#   cs10    ChirpStack v4: lowercase hex, a random 32-bit TransactionID
#           above 2^31, no NSIDs, ProtocolVersion 1.0
#   cs11    ChirpStack v4 for a 1.1 device: MACVersion "1.1.0"
# Every answer echoes the TransactionID, names the sender as its receiver
# and carries the keys under the network's KEK only. Then, per dialect, a
# HomeNSReq (the home NetID) and, from the application server, an
# AppSKeyReq for the session just made (the AppSKey under the AS's KEK
# equal to lora-packet's derivation). Prints TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib/common.sh"
need_node
export NODE_PATH="$root/tests/oracle/node_modules"
O="$here/js_oracle.js"
make_tmp dialects
watch_log "$tmp"
JE=70B3D57ED0000000
NWK=2B7E151628AED2A6ABF7158809CF4F3C; APP=000102030405060708090A0B0C0D0E0F
NSKEK=101112131415161718191A1B1C1D1E1F; ASKEK=202122232425262728292A2B2C2D2E2F
D10=0004A30B001C2001; D11=0004A30B001C2002
P=$(port); PH=$(port)
D="$FERRY -d $tmp/js"
{
    "$FERRY" init "$tmp/js" --join-eui $JE --listen "127.0.0.1:$P" &&
    $D peer add 000013 --token-out "$tmp/ns.tok" --nsid 0000000000000013 &&
    $D peer add as.example.com --token-out "$tmp/as.tok" &&
    echo $NSKEK | $D kek import ns:000013 && echo $ASKEK | $D kek import as:app &&
    printf '{"DevEUI":"%s","JoinEUI":"%s","MACVersion":"1.0.3","HomeNetID":"000013","NwkKey":{"AESKey":"%s"},"NSKEKLabel":"ns:000013","ASKEKLabel":"as:app","ASID":"as.example.com"}\n{"DevEUI":"%s","JoinEUI":"%s","MACVersion":"1.1","HomeNetID":"000013","NwkKey":{"AESKey":"%s"},"AppKey":{"AESKey":"%s"},"NSKEKLabel":"ns:000013","ASKEKLabel":"as:app","ASID":"as.example.com"}\n' \
        $D10 $JE $NWK $D11 $JE $NWK $APP >"$tmp/dev.jsonl" && $D device import "$tmp/dev.jsonl" --allow-clear-keys &&
    "$FERRY" hub token "$tmp/member.tok" >"$tmp/member.json" && "$FERRY" hub token "$tmp/as-member.tok" >"$tmp/as-member.json" &&
    (umask 077; printf '000013 %s\nas.example.com %s\n' "$(cat "$tmp/ns.tok")" "$(cat "$tmp/as.tok")" >"$tmp/hub-js.tok") &&
    printf 'listen = 127.0.0.1:%s\nthreads = 2\nmember = 000013 token_sha256=%s\nmember = as.example.com token_sha256=%s\nroute = %s/40 http://127.0.0.1:%s/ hub-js.tok\n' \
        $PH "$(jget token_sha256 <"$tmp/member.json")" "$(jget token_sha256 <"$tmp/as-member.json")" $JE $P >"$tmp/hub.conf"
} >"$tmp/setup.log" 2>&1
check "a Join Server with a 1.0.3 and a 1.1 device, and a hub routing its JoinEUIs" '[ $? -eq 0 ]'
$D serve >"$tmp/serve.log" 2>&1 & js_pid=$!; pids="$pids $js_pid"
"$FERRY" hub --config "$tmp/hub.conf" >"$tmp/hub.log" 2>&1 & hub_pid=$!; pids="$pids $hub_pid"
check "the Join Server and the hub answer" "wait_http http://127.0.0.1:$P/metrics $js_pid && wait_http http://127.0.0.1:$PH/metrics $hub_pid"

nonce=0
# body DIALECT DEVEUI -> $tmp/req.json, the DevNonce used in $dn, the TransactionID in $tid
body() {
    nonce=$((nonce + 1)); dn=$(printf '%04X' $nonce)
    mac=1.0.3; [ "$2" = $D11 ] && mac=1.1
    phy=$(node "$O" jr $NWK $JE "$2" $dn | tr 'a-f' 'A-F')
    lphy=$(echo "$phy" | tr 'A-F' 'a-f'); ldev=$(echo "$2" | tr 'A-F' 'a-f'); lje=$(echo $JE | tr 'A-F' 'a-f')
    case $1 in
    tts10) tid=0
        printf '{"ProtocolVersion":"1.0","SenderID":"000013","ReceiverID":"%s","TransactionID":0,"MessageType":"JoinReq","MACVersion":"%s","PHYPayload":"%s","DevEUI":"%s","DevAddr":"26011234","DLSettings":"00","RxDelay":5,"CFList":""}\n' \
            $JE $mac "$phy" "$2" ;;
    tts10n) tid=0
        printf '{"ProtocolVersion":"1.0","SenderID":"000013","ReceiverID":"%s","TransactionID":0,"MessageType":"JoinReq","MACVersion":"%s","PHYPayload":"%s","DevEUI":"%s","DevAddr":"26011234","DLSettings":"00","RxDelay":5}\n' \
            $JE $mac "$phy" "$2" ;;
    tts11) tid=0
        printf '{"ProtocolVersion":"1.1","SenderID":"000013","ReceiverID":"%s","TransactionID":0,"MessageType":"JoinReq","SenderNSID":"0000000000000013","MACVersion":"%s","PHYPayload":"%s","DevEUI":"%s","DevAddr":"26011234","DLSettings":"00","RxDelay":5}\n' \
            $JE $mac "$phy" "$2" ;;
    cs10|cs11) tid=$((3000000000 + nonce)); [ "$mac" = 1.1 ] && mac=1.1.0
        printf '{"ProtocolVersion":"1.0","SenderID":"000013","ReceiverID":"%s","TransactionID":%s,"MessageType":"JoinReq","MACVersion":"%s","PHYPayload":"%s","DevEUI":"%s","DevAddr":"26011234","DLSettings":"00","RxDelay":1}' \
            $lje $tid $mac "$lphy" "$ldev" ;;
    esac >"$tmp/req.json"
}
# post URL TOKEN -> $tmp/ans.json, HTTP code in $code
post() { code=$(curl -s -o "$tmp/ans.json" -w '%{http_code}' -H "Authorization: Bearer $2" -H 'Content-Type: application/json' --data-binary @"$tmp/req.json" "$1"); }
# read DEVEUI: the answer as the peer reads it
read_ans() {
    [ "$code" = 200 ] && [ "$(jget TransactionID <"$tmp/ans.json")" = "$tid" ] && [ "$(jget ReceiverID <"$tmp/ans.json")" = 000013 ] &&
    if [ "$1" = $D11 ]; then node "$O" check11 "$tmp/ans.json" $NWK $APP $JE $D11 $dn $NSKEK $ASKEK >/dev/null 2>"$tmp/err"
    else node "$O" check10 "$tmp/ans.json" $NWK 000013 $dn $NSKEK $ASKEK >/dev/null 2>"$tmp/err"; fi
}
for via in direct hub; do
    if [ $via = direct ]; then url="http://127.0.0.1:$P/"; tok=$(cat "$tmp/ns.tok"); else url="http://127.0.0.1:$PH/"; tok=$(cat "$tmp/member.tok"); fi
    for d in tts10 tts10n tts11 cs10 cs11; do
        dev=$D10; case $d in tts11|cs11) dev=$D11 ;; esac
        body $d $dev
        post "$url" "$tok"
        check "$d ($via): JoinAns read as the peer reads it (TransactionID $tid echoed; lora-packet opens the accept; keys unwrap under the network's KEK)" \
            'read_ans $dev || { sed "s/^/# /" "$tmp/err" "$tmp/ans.json"; false; }'
        # the session's AppSKey as lora-packet derives it: the last key check10/check11 print
        keys=$(if [ $dev = $D11 ]; then node "$O" check11 "$tmp/ans.json" $NWK $APP $JE $D11 $dn $NSKEK $ASKEK
               else node "$O" check10 "$tmp/ans.json" $NWK 000013 $dn $NSKEK $ASKEK; fi 2>/dev/null)
        if [ $dev = $D11 ]; then appskey=$(echo "$keys" | cut -d' ' -f5); else appskey=$(echo "$keys" | cut -d' ' -f3); fi
        skid=$(jget SessionKeyID <"$tmp/ans.json")
        case $d in
        cs*) r=$(echo $JE | tr 'A-F' 'a-f'); dv=$(echo $dev | tr 'A-F' 'a-f'); sk=$(echo "$skid" | tr 'A-F' 'a-f'); pv=1.0; ns="" ;;
        tts11) r=$JE; dv=$dev; sk=$skid; pv=1.1; ns=',"SenderNSID":"0000000000000013"' ;;
        *) r=$JE; dv=$dev; sk=$skid; pv=1.0; ns="" ;;
        esac
        printf '{"ProtocolVersion":"%s","SenderID":"000013","ReceiverID":"%s","TransactionID":%s,"MessageType":"HomeNSReq"%s,"DevEUI":"%s"}\n' \
            $pv $r $tid "$ns" $dv >"$tmp/req.json"
        post "$url" "$tok"
        check "$d ($via): HomeNSReq answered with the home NetID" \
            '[ "$code" = 200 ] && [ "$(jget Result.ResultCode <"$tmp/ans.json")" = Success ] && [ "$(jget HNetID <"$tmp/ans.json")" = 000013 ]'
        printf '{"ProtocolVersion":"1.0","SenderID":"as.example.com","ReceiverID":"%s","TransactionID":%s,"MessageType":"AppSKeyReq","DevEUI":"%s","SessionKeyID":"%s"}\n' \
            $r $tid $dv "$sk" >"$tmp/req.json"
        if [ $via = direct ]; then post "$url" "$(cat "$tmp/as.tok")"; else post "$url" "$(cat "$tmp/as-member.tok")"; fi
        check "$d ($via): AppSKeyReq from the AS: the session's AppSKey under the AS's KEK" \
            '[ "$code" = 200 ] && [ -n "$appskey" ] && node "$O" unwrap_eq "$tmp/ans.json" AppSKey $ASKEK "$appskey" 2>"$tmp/err"'
    done
done
echo "1..$n"
[ "$failed" -eq 0 ]
