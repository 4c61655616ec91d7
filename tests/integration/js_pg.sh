#!/bin/sh
# js_pg.sh - two `ferry serve` processes sharing one PostgreSQL (a throwaway
# cluster, as in store_pg.sh) race the same DevNonce: a node client sends
# each JoinReq to both servers at once, ROUNDS times for a 1.0.4 and a 1.0.2
# device. Exactly one server may accept each DevNonce. Then both servers
# answer asynchronously (peer.000013.answer_url) from the one outbox while
# the answer endpoint is down: once it is up, every answer arrives, once
# (the delivery claim keeps the two servers from posting one answer twice).
# Prints TAP.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
FERRY=${FERRY:-$root/build/san/bin/ferry}
export NODE_PATH="$root/tests/oracle/node_modules"
ROUNDS=${ROUNDS:-40}
JOINEUI=70B3D57ED0000000
. "$here/lib/wait.sh"
. "$here/lib/pg.sh"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-jspg.XXXXXX") || exit 1
chmod 755 "$tmp"
s1=""; s2=""; recv=""
cleanup() {
    [ -n "$s1" ] && kill "$s1" 2>/dev/null
    [ -n "$s2" ] && kill "$s2" 2>/dev/null
    [ -n "$recv" ] && kill "$recv" 2>/dev/null
    [ -n "$s1" ] && wait "$s1" 2>/dev/null
    [ -n "$s2" ] && wait "$s2" 2>/dev/null
    [ -n "$recv" ] && wait "$recv" 2>/dev/null
    pg_stop
    release_ports
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
watch_log "$tmp/s1.log" "$tmp/s2.log" "$tmp/pg/server.log"
pg_start "$tmp/pg" || { echo "1..1"; echo "not ok 1 - $pg_error"; exit 1; }
db="pg:$pg_conninfo"

p1=$(port) && p2=$(port) || { echo "1..1"; echo "not ok 1 - ports for the Join Servers"; exit 1; }
dep="$tmp/dep"
F="$FERRY -d $dep"
K104=000102030405060708090a0b0c0d0e0f
K102=2b7e151628aed2a6abf7158809cf4f3c
ok_setup=1
"$FERRY" init "$dep" --join-eui $JOINEUI --database "$db" >/dev/null 2>"$tmp/err" || ok_setup=0
$F peer add 000013 --token-out "$tmp/ns.tok" >/dev/null 2>>"$tmp/err" || ok_setup=0
echo 00112233445566778899aabbccddeeff | $F kek import ns:000013 >/dev/null 2>>"$tmp/err" || ok_setup=0
cat >"$tmp/devices.jsonl" <<EOD
{"DevEUI":"0004A30B001C0002","JoinEUI":"$JOINEUI","MACVersion":"1.0.4","HomeNetID":"000013","NwkKey":{"AESKey":"$K104"},"NSKEKLabel":"ns:000013"}
{"DevEUI":"0004A30B001C0001","JoinEUI":"$JOINEUI","MACVersion":"1.0.2","HomeNetID":"000013","NwkKey":{"AESKey":"$K102"},"NSKEKLabel":"ns:000013"}
EOD
$F device import "$tmp/devices.jsonl" --allow-clear-keys >/dev/null 2>>"$tmp/err" || ok_setup=0
if [ $ok_setup -ne 1 ]; then echo "1..1"; echo "not ok 1 - deployment on PostgreSQL"; sed 's/^/# /' "$tmp/err"; exit 1; fi
echo "ok 1 - a deployment whose database is PostgreSQL"

$F serve --listen "127.0.0.1:$p1" 2>"$tmp/s1.log" &
s1=$!
$F serve --listen "127.0.0.1:$p2" 2>"$tmp/s2.log" &
s2=$!
if wait_http "http://127.0.0.1:$p1/metrics" "$s1" && wait_http "http://127.0.0.1:$p2/metrics" "$s2"; then echo "ok 2 - two servers on one database"; else
    echo "not ok 2 - two servers on one database"; tail -n 3 "$tmp/s1.log" "$tmp/s2.log" | sed 's/^/# /'; echo "1..2"; exit 1; fi

node - "$p1" "$p2" "$(cat "$tmp/ns.tok")" $JOINEUI $ROUNDS "0004A30B001C0002:$K104:1.0.4" "0004A30B001C0001:$K102:1.0.2" <<'EOF2'
"use strict";
const http = require("http");
const lp = require("lora-packet");
const [p1, p2, token, joinEui, rounds, ...devs] = process.argv.slice(2);
const H = (s) => Buffer.from(s, "hex");
const post = (port, body) => new Promise((res, rej) => {
  const r = http.request({ host: "127.0.0.1", port: +port, path: "/", method: "POST",
    headers: { "Content-Type": "application/json", Authorization: "Bearer " + token } }, (x) => {
    let d = ""; x.on("data", (c) => (d += c)); x.on("end", () => res(JSON.parse(d))); });
  r.on("error", rej); r.end(body);
});
(async () => {
  let n = 2, bad = [], wins = [0, 0], total = 0;
  for (const s of devs) {
    const [eui, key, mac] = s.split(":");
    for (let i = 1; i <= +rounds; i++) {
      const dn = Buffer.alloc(2); dn.writeUInt16BE(i);
      const phy = lp.fromFields({ MType: "Join Request", AppEUI: H(joinEui), DevEUI: H(eui), DevNonce: dn },
        undefined, undefined, H(key)).getPHYPayload().toString("hex");
      const body = JSON.stringify({ ProtocolVersion: "1.0", SenderID: "000013", ReceiverID: joinEui, TransactionID: i,
        MessageType: "JoinReq", MACVersion: mac, PHYPayload: phy, DevEUI: eui, DevAddr: "26011234", DLSettings: "00", RxDelay: 1 });
      const [a, b] = await Promise.all([post(p1, body), post(p2, body)]);
      const ok = [a, b].map((x) => x.Result.ResultCode === "Success");
      if (ok[0]) wins[0]++; if (ok[1]) wins[1]++;
      total++;
      if (ok[0] && ok[1]) bad.push(mac + " DevNonce " + i + " accepted by both servers");
      if (!ok[0] && !ok[1]) bad.push(mac + " DevNonce " + i + " accepted by neither: " + a.Result.ResultCode + "/" + b.Result.ResultCode);
    }
  }
  const t = (c, m) => console.log((c ? "ok " : "not ok ") + ++n + " - " + m);
  t(bad.length === 0, total + " DevNonces raced on two servers: each accepted exactly once (server 1 won " + wins[0] +
    ", server 2 won " + wins[1] + ")" + (bad.length ? ": " + bad.slice(0, 4).join("; ") : ""));
  process.exit(bad.length ? 1 : 0);
})().catch((e) => { console.log("not ok 3 - client: " + e.message); process.exit(1); });
EOF2
failed=$?
n=3
t() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi; }

# ---- asynchronous answers from two servers sharing one outbox
kill "$s1" "$s2"; wait "$s1" "$s2" 2>/dev/null; s1=""; s2=""
rport=$(port) || { echo "not ok 4 - a port for the answer receiver"; echo "1..4"; exit 1; }
printf 'pg-receiver-token-0123456789\n' >"$tmp/answer.tok"
chmod 600 "$tmp/answer.tok"
: >"$tmp/received.jsonl"
cat >>"$dep/ferry.conf" <<EOT
peer.000013.answer_url = http://127.0.0.1:$rport/answers
peer.000013.answer_token_file = $tmp/answer.tok
async_retry_ms = 50
async_retry_max_ms = 200
EOT
$F serve --listen "127.0.0.1:$p1" 2>>"$tmp/s1.log" &
s1=$!
$F serve --listen "127.0.0.1:$p2" 2>>"$tmp/s2.log" &
s2=$!
wait_http "http://127.0.0.1:$p1/metrics" "$s1" && wait_http "http://127.0.0.1:$p2/metrics" "$s2"
t $? "two servers restarted with asynchronous answers for 000013"
ASYNC=20
acked=0
for i in $(seq 1 $ASYNC); do
    dn=$(printf '%04x' $((2000 + i)))
    phy=$(node "$here/js_oracle.js" jr $K102 $JOINEUI 0004A30B001C0001 "$dn")
    body=$(printf '{"ProtocolVersion":"1.0","SenderID":"000013","ReceiverID":"%s","TransactionID":%d,"MessageType":"JoinReq","MACVersion":"1.0.2","PHYPayload":"%s","DevEUI":"0004A30B001C0001","DevAddr":"26011234","DLSettings":"00","RxDelay":1}' $JOINEUI $((7000 + i)) "$phy")
    p=$p1; [ $((i % 2)) = 0 ] && p=$p2
    code=$(curl -s -o "$tmp/ack" -w '%{http_code}' -H "Authorization: Bearer $(cat "$tmp/ns.tok")" --data-binary "$body" "http://127.0.0.1:$p/")
    [ "$code" = 200 ] && [ ! -s "$tmp/ack" ] && acked=$((acked + 1))
done
[ $acked = $ASYNC ]
t $? "$ASYNC JoinReqs to both servers while the answer endpoint is down: each acknowledged with an empty 200"
python3 "$here/js_async_receiver.py" "$rport" pg-receiver-token-0123456789 "$tmp/received.jsonl" 2>/dev/null &
recv=$!
distinct() { node -e 'const l=require("fs").readFileSync(process.argv[1],"utf8").split("\n").filter(Boolean).map(JSON.parse);
  process.stdout.write(String(new Set(l.map((o)=>o.TransactionID)).size))' "$tmp/received.jsonl"; }
wait_until "$ASYNC answers at the endpoint" - '[ "$(distinct)" -ge $ASYNC ]'
t $? "every answer delivered once the endpoint is up"
node -e 'const l=require("fs").readFileSync(process.argv[1],"utf8").split("\n").filter(Boolean).map(JSON.parse);
  const c={}; for (const o of l) { if (o.MessageType!=="JoinAns"||o.Result.ResultCode!=="Success") process.exit(1); c[o.TransactionID]=(c[o.TransactionID]||0)+1; }
  process.exit(Object.values(c).every((v)=>v===1)?0:1)' "$tmp/received.jsonl"
t $? "each a Success JoinAns, and none posted twice by the two servers"
echo "1..$n"
exit $failed
