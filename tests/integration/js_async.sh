#!/bin/sh
# js_async.sh - asynchronous Backend Interfaces answers, end to end: a real
# `ferry serve` on loopback whose peer 000013 takes its answers at an
# answer URL (peer.000013.answer_url), and a small receiver standing for
# that network server's answer endpoint (js_async_receiver.py, which takes
# only the bearer token configured for it). Joins are built by lora-packet
# and every delivered JoinAns is opened and MIC-checked by lora-packet
# (js_oracle.js check10). Shown: the 200 with an empty body, the answer
# delivered with the request's TransactionID; a duplicate request answered
# once; the receiver down -> retries until it comes up; `ferry serve` killed
# with SIGKILL after the 200 and before delivery -> delivered after the
# restart; a receiver down past async_deadline -> expired and counted;
# the same exchange through the peering hub (`ferry hub`), which routes the
# JoinAns to its ReceiverID like a request. No step waits for a time: each
# waits for an event (a line received, a counter moved). Prints TAP.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib/common.sh"
ORACLE="$here/js_oracle.js"
RECEIVER="$here/js_async_receiver.py"
export JOINEUI=70B3D57ED0000000
need_node
command -v python3 >/dev/null 2>&1 || { echo "not ok 1 - python3 is needed (the answer receiver)"; echo "1..1"; exit 1; }
make_tmp async
watch_log "$tmp/serve.log" "$tmp/hub.log"
server=""
recv_pid=""
hub_pid=""
# common.sh's cleanup kills $pids: the processes running now
track() { pids="$server $recv_pid $hub_pid"; }
# not_ok DESC [DETAIL]: a failure with its detail under the TAP line
not_ok() { printf '%s\n' "${2:-}" >"$tmp/err"; notok "$1"; rm -f "$tmp/err"; }
field() { jget "$2" <"$1"; }

dep="$tmp/dep"
NSKEK=00112233445566778899aabbccddeeff
ASKEK=0f0e0d0c0b0a09080706050403020100
K102=2b7e151628aed2a6abf7158809cf4f3c
D102=0004a30b001c0001
port=$(port) && rport=$(port) && hubport=$(port) || { echo "1..1"; echo "not ok 1 - ports"; exit 1; }
url="http://127.0.0.1:$port"
RECV_TOKEN=receiver-token-0123456789abcdef
printf '%s\n' "$RECV_TOKEN" >"$tmp/answer.tok"
chmod 600 "$tmp/answer.tok"
received="$tmp/received.jsonl"
: >"$received"

# ---- 1. a deployment whose peer 000013 answers asynchronously
check "ferry init" '"$FERRY" init "$dep" --join-eui $JOINEUI --listen "127.0.0.1:$port" >/dev/null 2>"$tmp/err"'
F="$FERRY -d $dep"
check "peer add 000013" '$F peer add 000013 --token-out "$tmp/ns.tok" >/dev/null 2>"$tmp/err"'
NST=$(cat "$tmp/ns.tok")
for kv in "ns:000013 $NSKEK" "as:app1 $ASKEK"; do
    set -- $kv
    echo "$2" | $F kek import "$1" >/dev/null 2>&1 || not_ok "kek import $1"
done
echo "{\"DevEUI\":\"$D102\",\"JoinEUI\":\"$JOINEUI\",\"MACVersion\":\"1.0.2\",\"HomeNetID\":\"000013\",\"NwkKey\":{\"AESKey\":\"$K102\"},\"NSKEKLabel\":\"ns:000013\",\"ASKEKLabel\":\"as:app1\"}" >"$tmp/dev.jsonl"
check "device import" '$F device import "$tmp/dev.jsonl" --allow-clear-keys >/dev/null 2>"$tmp/err"'
cat >>"$dep/ferry.conf" <<EOT
peer.000013.answer_url = http://127.0.0.1:$rport/answers
peer.000013.answer_token_file = $tmp/answer.tok
async_retry_ms = 50
async_retry_max_ms = 200
async_deadline = 3600
EOT

start() {
    "$FERRY" -d "$dep" serve 2>>"$tmp/serve.log" &
    server=$!
    track
    wait_http "$url/metrics" $server
}
stop() { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; server=""; track; }
recv_up() {
    python3 "$RECEIVER" "$rport" "$RECV_TOKEN" "$received" 2>>"$tmp/recv.log" &
    recv_pid=$!
    track
    wait_until "the answer receiver listening" - "curl -s -o /dev/null --max-time 2 -X POST 'http://127.0.0.1:$rport/'"
}
recv_down() { kill "$recv_pid" 2>/dev/null; wait "$recv_pid" 2>/dev/null; recv_pid=""; track; }
metric() { curl -s "$url/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
# answers_for TXID [OUT]: how many answers the receiver got for TXID; the last into OUT
answers_for() {
    node -e '
const [file, tx, out] = process.argv.slice(1);
const all = require("fs").readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l))
  .filter((o) => String(o.TransactionID) === tx);
if (out && all.length) require("fs").writeFileSync(out, JSON.stringify(all[all.length - 1]));
process.stdout.write(String(all.length));' "$received" "$1" "${2:-}"
}
got_answer() { [ "$(answers_for "$1")" -ge 1 ]; }
bn=0
post() {   # post BODYFILE TOKEN [URL] -> $code, the body in $ans
    bn=$((bn + 1)); ans="$tmp/ans$bn"
    code=$(curl -s -o "$ans" -w '%{http_code}' -H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
        --data-binary @"$1" "${3:-$url/}")
}
# joinreq DEVNONCE OUT: a JoinReq of D102 from 000013 (random TransactionID) -> $tx
joinreq() {
    phy=$(node "$ORACLE" jr $K102 $JOINEUI $D102 "$1")
    node "$ORACLE" body JoinReq 1.0 000013 1.0.2 "$phy" $D102 >"$2"
    tx=$(field "$2" TransactionID)
}
delivered_ok() {   # delivered_ok DESC TXID DEVNONCE
    c=$(answers_for "$2" "$tmp/got.json")
    if [ "$c" = 1 ] && [ "$(field "$tmp/got.json" MessageType)" = JoinAns ] &&
        sk=$(node "$ORACLE" check10 "$tmp/got.json" $K102 000013 "$3" $NSKEK $ASKEK 2>&1); then
        ok "$1"
    else
        not_ok "$1" "answers for $2: $c; $(cat "$tmp/got.json" 2>/dev/null) ${sk:-}"
    fi
}

chmod 644 "$tmp/answer.tok"
if "$FERRY" -d "$dep" serve >/dev/null 2>"$tmp/err"; then not_ok "a world-readable answer_token_file is refused"; else
    grep -q "readable by others" "$tmp/err" && ok "a world-readable answer_token_file is refused at start" ||
        not_ok "answer_token_file mode" "$(cat "$tmp/err")"; fi
chmod 600 "$tmp/answer.tok"
echo "peer.000014.answer_url = ftp://127.0.0.1/" >>"$dep/ferry.conf"
if "$FERRY" -d "$dep" serve >/dev/null 2>"$tmp/err"; then not_ok "an answer_url that is not http(s) is refused"; else
    grep -q "answer_url must be" "$tmp/err" && ok "an answer_url that is not http(s) is refused, naming the line" ||
        not_ok "answer_url check" "$(cat "$tmp/err")"; fi
sed -i '/^peer.000014.answer_url/d' "$dep/ferry.conf"
recv_up && ok "the answer receiver listens" || not_ok "receiver" "$(cat "$tmp/recv.log")"
start && ok "ferry serve with an asynchronous peer" || not_ok "ferry serve starts" "$(cat "$tmp/serve.log")"

# ---- 2. one join: 200 with no body, then the JoinAns at the answer URL
joinreq 0101 "$tmp/j1.json"; tx1=$tx
post "$tmp/j1.json" "$NST"
[ "$code" = 200 ] && [ ! -s "$ans" ] && ok "an asynchronous sender gets HTTP 200 with an empty body" ||
    not_ok "HTTP 200, empty body" "HTTP $code: $(cat "$ans")"
wait_until "the JoinAns of TransactionID $tx1 at the receiver" - "got_answer $tx1" || true
delivered_ok "the JoinAns arrives with TransactionID $tx1; lora-packet opens its join-accept, keys unwrap" $tx1 0101
[ "$(field "$tmp/got.json" ReceiverID)" = 000013 ] && [ "$(field "$tmp/got.json" Result.ResultCode)" = Success ] &&
    ok "the JoinAns is addressed to its sender (ReceiverID 000013), Success" || not_ok "JoinAns header" "$(cat "$tmp/got.json")"
grep -qi "$K102\|$NSKEK" "$received" && not_ok "no clear key in the answers" || ok "no clear key in the delivered answers"

# ---- 3. a duplicate (same SenderID, TransactionID, body) is answered once
post "$tmp/j1.json" "$NST"
[ "$code" = 200 ] && [ ! -s "$ans" ] && ok "a duplicate request gets 200" || not_ok "duplicate 200" "HTTP $code: $(cat "$ans")"
joinreq 0102 "$tmp/j2.json"; tx2=$tx
post "$tmp/j2.json" "$NST"
wait_until "the next answer (TransactionID $tx2)" - "got_answer $tx2" || true
# the duplicate came before j2, whose answer is in: a second answer to j1 would be too
[ "$(answers_for $tx1)" = 1 ] && ok "the duplicate was answered once (one JoinAns for TransactionID $tx1)" ||
    not_ok "one answer for the duplicate" "$(answers_for $tx1) answers"
[ "$(metric ferry_js_async_duplicates_total)" = 1 ] && ok "ferry_js_async_duplicates_total 1" ||
    not_ok "duplicates counted" "$(curl -s "$url/metrics" | grep async)"
printf '%s' "$(cat "$tmp/j1.json")" | sed 's/"DevAddr":"26011234"/"DevAddr":"26011235"/' >"$tmp/j1b.json"
post "$tmp/j1b.json" "$NST"
[ "$code" = 200 ] && [ ! -s "$ans" ] && ok "a delivered TransactionID reused with another body is a new request" ||
    not_ok "reused TransactionID" "HTTP $code: $(cat "$ans")"
wait_until "the second answer of TransactionID $tx1" - '[ "$(answers_for $tx1)" -ge 2 ]' || true
answers_for $tx1 "$tmp/got.json" >/dev/null
[ "$(field "$tmp/got.json" Result.ResultCode)" = JoinReqFailed ] &&
    ok "... answered asynchronously too (JoinReqFailed: its DevNonce is used)" || not_ok "reused answer" "$(cat "$tmp/got.json")"

# ---- 4. the receiver down: retries until it comes up
recv_down
r0=$(metric ferry_js_async_retried_total)
joinreq 0103 "$tmp/j3.json"; tx3=$tx
post "$tmp/j3.json" "$NST"
[ "$code" = 200 ] && ok "200 while the receiver is down (the answer is in the outbox)" || not_ok "200 receiver down" "HTTP $code"
wait_until "two failed attempts counted" - '[ "$(metric ferry_js_async_retried_total)" -ge $((r0 + 2)) ]' &&
    ok "ferry_js_async_retried_total counts the failed attempts" || not_ok "retries counted"
[ "$(metric ferry_js_async_outbox_pending)" = 1 ] && ok "ferry_js_async_outbox_pending 1" ||
    not_ok "pending gauge" "$(curl -s "$url/metrics" | grep async)"
grep -q '"asynchronous answer not delivered; retry scheduled"' "$tmp/serve.log" &&
    ok "a JSON log line for a failed attempt" || not_ok "retry log line"
recv_up
wait_until "the answer of TransactionID $tx3 after the receiver came up" - "got_answer $tx3" || true
delivered_ok "delivered once the receiver is up, join-accept checked by lora-packet" $tx3 0103

# ---- 5. SIGKILL after the 200, before delivery: delivered after the restart
recv_down
joinreq 0104 "$tmp/j4.json"; tx4=$tx
post "$tmp/j4.json" "$NST"
[ "$code" = 200 ] && ok "200 (answer queued) before the kill" || not_ok "200 before kill" "HTTP $code"
kill -9 "$server"; wait "$server" 2>/dev/null; server=""; track
[ "$(answers_for $tx4)" = 0 ] && ok "ferry serve killed with SIGKILL before delivering" || not_ok "not delivered before kill"
recv_up
start && ok "ferry serve restarted" || not_ok "restart" "$(tail -5 "$tmp/serve.log")"
wait_until "the answer of TransactionID $tx4 after the restart" - "got_answer $tx4" || true
delivered_ok "the answer survives the SIGKILL and is delivered by the restarted server" $tx4 0104

# ---- 6. down past the deadline: expired, counted, logged
stop
sed -i 's/^async_deadline = .*/async_deadline = 1/' "$dep/ferry.conf"
start || not_ok "restart with async_deadline 1" "$(tail -5 "$tmp/serve.log")"
recv_down
joinreq 0105 "$tmp/j5.json"; tx5=$tx
post "$tmp/j5.json" "$NST"
wait_until "the answer expired" - '[ "$(metric ferry_js_async_expired_total)" = 1 ]' &&
    ok "past async_deadline: ferry_js_async_expired_total 1" || not_ok "expired" "$(curl -s "$url/metrics" | grep async)"
grep -q '"asynchronous answer expired undelivered (async_deadline)"' "$tmp/serve.log" &&
    ok "a JSON log line for the expiry" || not_ok "expiry log line"
[ "$(metric ferry_js_async_outbox_pending)" = 0 ] && ok "nothing pending after the expiry" || not_ok "pending after expiry"
recv_up
stop
sed -i 's/^async_deadline = .*/async_deadline = 3600/' "$dep/ferry.conf"

# ---- 7. a full outbox: 503 before anything is served
echo "async_outbox_max = 1" >>"$dep/ferry.conf"
recv_down
start || not_ok "restart with async_outbox_max 1" "$(tail -5 "$tmp/serve.log")"
joinreq 0106 "$tmp/j6.json"; tx6=$tx
post "$tmp/j6.json" "$NST"
joinreq 0107 "$tmp/j7.json"
post "$tmp/j7.json" "$NST"
[ "$code" = 503 ] && [ "$(metric ferry_js_async_refused_total)" = 1 ] &&
    ok "the outbox full (async_outbox_max 1): 503, counted" || not_ok "outbox full" "HTTP $code: $(cat "$ans")"
recv_up
wait_until "the queued answer delivered" - "got_answer $tx6" || true
post "$tmp/j7.json" "$NST"
[ "$code" = 200 ] && ok "... and once delivered, the refused request is served (no DevNonce was used by the 503)" ||
    not_ok "after 503" "HTTP $code: $(cat "$ans")"
tx7=$(field "$tmp/j7.json" TransactionID)
wait_until "the answer of the request refused before" - "got_answer $tx7" || true
delivered_ok "its answer opens with its DevNonce 0107" $tx7 0107
stop
sed -i '/^async_outbox_max/d' "$dep/ferry.conf"

# ---- 8. an onboarded operator (a row of the database) with its own answer URL
D15=0004a30b001c0015
echo "{\"DevEUI\":\"$D15\",\"JoinEUI\":\"$JOINEUI\",\"MACVersion\":\"1.0.2\",\"HomeNetID\":\"000015\",\"NwkKey\":{\"AESKey\":\"$K102\"},\"NSKEKLabel\":\"ns:000013\",\"ASKEKLabel\":\"as:app1\"}" >"$tmp/dev15.jsonl"
check "device import (home 000015)" '$F device import "$tmp/dev15.jsonl" --allow-clear-keys >/dev/null 2>"$tmp/err"'
check "operator add 000015 --answer-url --answer-token-file" \
    '$F operator add 000015 --kek-label ns:000013 --token-out "$tmp/op15.tok" --answer-url "http://127.0.0.1:$rport/answers" --answer-token-file "$tmp/answer.tok" >/dev/null 2>"$tmp/err"'
$F operator show 000015 >"$tmp/op15.json" 2>&1
[ "$(field "$tmp/op15.json" AnswerURL)" = "http://127.0.0.1:$rport/answers" ] && ok "operator show names its AnswerURL" ||
    not_ok "operator show AnswerURL" "$(cat "$tmp/op15.json")"
start || not_ok "restart for the operator" "$(tail -5 "$tmp/serve.log")"
phy=$(node "$ORACLE" jr $K102 $JOINEUI $D15 0201)
node "$ORACLE" body JoinReq 1.0 000015 1.0.2 "$phy" $D15 >"$tmp/j15.json"
tx15=$(field "$tmp/j15.json" TransactionID)
post "$tmp/j15.json" "$(cat "$tmp/op15.tok")"
[ "$code" = 200 ] && [ ! -s "$ans" ] && ok "the operator's request: 200, empty body" || not_ok "operator 200" "HTTP $code: $(cat "$ans")"
wait_until "the operator's JoinAns" - "got_answer $tx15" || true
answers_for $tx15 "$tmp/got15.json" >/dev/null
if sk=$(node "$ORACLE" check10 "$tmp/got15.json" $K102 000015 0201 $NSKEK $ASKEK 2>&1); then
    ok "the operator's JoinAns at its database-configured URL, join-accept checked by lora-packet"
else not_ok "operator JoinAns" "$sk $(cat "$tmp/got15.json" 2>/dev/null)"; fi
stop

# ---- 9. through the hub: JoinReq to the hub, JoinAns POSTed to the hub, routed to 000013
"$FERRY" hub token "$tmp/ns-hub.tok" >"$tmp/tns.json" 2>/dev/null &&
    "$FERRY" hub token "$tmp/js-hub.tok" >"$tmp/tjs.json" 2>/dev/null || not_ok "hub tokens"
cp "$tmp/ns.tok" "$tmp/hub-to-js.tok"
cp "$tmp/answer.tok" "$tmp/hub-to-ns.tok"
chmod 600 "$tmp/hub-to-js.tok" "$tmp/hub-to-ns.tok"
cat >"$tmp/hub.conf" <<EOT
listen = 127.0.0.1:$hubport
member = 000013 token_sha256=$(field "$tmp/tns.json" token_sha256)
member = $JOINEUI token_sha256=$(field "$tmp/tjs.json" token_sha256)
route = $JOINEUI http://127.0.0.1:$port/ hub-to-js.tok
route = 000013 http://127.0.0.1:$rport/answers hub-to-ns.tok
EOT
"$FERRY" hub --config "$tmp/hub.conf" 2>"$tmp/hub.log" &
hub_pid=$!
track
wait_http "http://127.0.0.1:$hubport/metrics" $hub_pid && ok "ferry hub listens" || not_ok "hub" "$(cat "$tmp/hub.log")"
sed -i "s|^peer.000013.answer_url = .*|peer.000013.answer_url = http://127.0.0.1:$hubport/|; s|^peer.000013.answer_token_file = .*|peer.000013.answer_token_file = $tmp/js-hub.tok|" "$dep/ferry.conf"
start || not_ok "restart with the hub as answer URL" "$(tail -5 "$tmp/serve.log")"
joinreq 0108 "$tmp/j8.json"; tx8=$tx
post "$tmp/j8.json" "$(cat "$tmp/ns-hub.tok")" "http://127.0.0.1:$hubport/"
[ "$code" = 200 ] && [ ! -s "$ans" ] && ok "through the hub: the Join Server's empty 200 passed back unchanged" ||
    not_ok "hub 200" "HTTP $code: $(cat "$ans")"
wait_until "the JoinAns routed by the hub to 000013" - "got_answer $tx8" || true
delivered_ok "through the hub: the JoinAns reaches 000013's answer URL, join-accept checked by lora-packet" $tx8 0108
grep -q '"type":"JoinAns"' "$tmp/hub.log" && ok "the hub logged the JoinAns it routed" || not_ok "hub log" "$(tail -5 "$tmp/hub.log")"
stop

echo "1..$n"
[ "$failed" -eq 0 ]
