#!/bin/sh
# idm_console_api.sh - the activation console's REST API and live stream
# (docs/idm.md "Console API"), over real HTTP on 127.0.0.1, with a real
# SoftHSM2 token and SQLite database:
#   - an IDM deployment (bootstrap JS + `idm serve`) and acme's Join Server;
#     4 SEs personalised and imported with maker "maker"; acme claims 3
#     (owner tokens of the QR payloads) and assigns them, bolt claims 1; a
#     network operator 000042 with a bearer token;
#   - live streams (GET /api/v1/events) of acme, bolt and the maker opened
#     before anything happens; a fourth is refused (console_streams 3:
#     503 and an error event, counted in /healthz);
#   - the 4 SEs join the bootstrap JS and acme's 3 are delivered and join
#     acme's JS (idm_fleet.js, the network-server stand-in): each stream
#     carries the changes of its own SEs only, acme's up to
#     active_at_customer, bolt's bootstrap_join, the maker's all;
#   - GET /api/v1/ses: each tenant sees its own SEs only, filters (state,
#     claim, js, prefix), cursor pages, limit above the named maximum = 400;
#     every sort (dev_eui, state, last_event, join_server) both ways walked
#     a page of 1 at a time against the whole list sorted here, for each
#     tenant, never another's SE; a cursor of another sort or order 400;
#     history: the caller's own entries whole, lifecycle changes without
#     actor or details, another tenant's SE 404; commands: only the
#     caller's; Join Servers; overview counts and events per hour; the
#     operator: its counters, and 403 for SE lists; a wrong token 401;
#   - security headers (CSP without unsafe-inline, no-store on API
#     answers); streams whose client went are dropped; Last-Event-ID
#     replays the caller's changes only; the audit chain verifies.
# Needs node, curl and sqlite3 (scripts/deps.sh). Prints TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib/common.sh"
. "$here/lib/idm_fleet.sh"
FLEET="$here/idm_fleet.js"
COUNT=4
SEED=${SEED:-$(od -An -tu4 -N4 /dev/urandom | tr -d ' ')}
need_node
command -v sqlite3 >/dev/null 2>&1 || { echo "not ok 1 - sqlite3 is needed (scripts/deps.sh)"; echo "1..1"; exit 1; }
make_tmp idm-console
se_pids=""
streams=""
watch_log "$tmp"
echo "# seed $SEED"

q() { sqlite3 -cmd ".timeout 5000" "$idm/ferry.db" "$1"; }
# js FILE EXPR: a JavaScript expression over the JSON document d, printed
js() { node -e 'const d=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); console.log(eval(process.argv[2]))' "$1" "$2"; }
# events FILE: the change events of a stream file as "DEVEUI:EVENT:TO" lines
events() {
    node -e '
const t = require("fs").readFileSync(process.argv[1], "utf8");
for (const b of t.split("\n\n")) {
  const ev = /^event: (.*)$/m.exec(b), data = /^data: (.*)$/m.exec(b);
  if (ev && ev[1] === "change" && data) { const d = JSON.parse(data[1]); console.log(d.DevEUI + ":" + d.Event + ":" + d.To); }
}' "$1"
}
# get TOKENFILE PATH [OUT]: the HTTP status of GET $API$PATH, body in OUT ($tmp/o)
get() { curl -s -o "${3:-$tmp/o}" -w '%{http_code}' -H "Authorization: Bearer $(cat "$1")" "$API$2"; }

HSAKEK=$(hex16); NSKEK=$(hex16); CKEK=$(hex16); CNSKEK=$(hex16)
idm="$tmp/idm"; cust="$tmp/acme-js"; out="$tmp/hsa"; nsd="$tmp/ns"; sd="$tmp/se"
mkdir -p "$nsd" "$sd" && chmod 700 "$nsd" "$sd"
P_JS=$(port); P_IDM=$(port); P_C=$(port)
I="$FERRY -d $idm"; C="$FERRY -d $cust"

# ---- deployments, the batch (its maker recorded), tenants, an operator
idm_deployments "$COUNT" 70B3D57ED0070000 && {
    $I idm tenant add maker --kind maker --name "Maker Ltd" --token-out "$tmp/maker.tok" &&
    $I idm import "$out/batch.jsonl" --maker maker &&
    $I idm init --ns-token-out "$nsd/idm-ns.tok" --listen "127.0.0.1:$P_IDM" &&
    $I idm config set retry_base 0 poll 1 console_streams 3 >/dev/null &&
    $I idm tenant add acme --kind customer --name "Acme Corp" --token-out "$tmp/acme.tok" &&
    $I idm tenant add bolt --kind customer --name "Bolt Inc" --token-out "$tmp/bolt.tok" &&
    $I idm js add acme-js --tenant acme --url "http://127.0.0.1:$P_C" \
        --admin-token-file "$cust/admin.token" --join-eui 70B3D57ED00A0000 --net-id 000013 --kek-label acme-kek \
        --ns-kek-label acme-ns &&
    $I operator add 000042 --name "Visited Net" --reach hub --token-out "$tmp/op.tok"
} >>"$tmp/setup.log" 2>>"$tmp/err"
check "deployments, 4 SEs of maker imported, tenants maker, acme, bolt, acme's JS, operator 000042" '[ $? -eq 0 ]'
idm_fleet_owners
SE1=$(echo "$SES" | sed -n 1p); SE2=$(echo "$SES" | sed -n 2p); SE3=$(echo "$SES" | sed -n 3p); SE4=$(echo "$SES" | sed -n 4p)
echo "wrong-token-0000000000000000000000000000000000000000000000000000" >"$tmp/wrong.tok"

$I serve >"$tmp/js.log" 2>&1 &
pids="$pids $!"
$C serve >"$tmp/cust.log" 2>&1 &
pids="$pids $!"
$I idm serve >"$tmp/idm.log" 2>&1 &
idm_pid=$!
wait_http "http://127.0.0.1:$P_IDM/healthz" $idm_pid && wait_http "http://127.0.0.1:$P_JS/metrics" &&
    wait_http "http://127.0.0.1:$P_C/metrics"
check "idm serve and both Join Servers answer" '[ $? -eq 0 ]'
API="http://127.0.0.1:$P_IDM/api/v1"

# ---- the live streams, opened before anything happens
for t in acme bolt maker; do
    curl -sN -H "Authorization: Bearer $(cat "$tmp/$t.tok")" "$API/events" >"$tmp/$t.sse" 2>/dev/null &
    streams="$streams $!"
done
pids="$pids $streams"
wait_until "three streams say hello" 30 \
    '[ "$(cat "$tmp/acme.sse" "$tmp/bolt.sse" "$tmp/maker.sse" 2>/dev/null | grep -c "^event: hello")" -eq 3 ]'
check "acme, bolt and the maker each open a live stream (event: hello)" '[ $? -eq 0 ]'
code=$(curl -s -o "$tmp/full.sse" -w '%{http_code}' -H "Authorization: Bearer $(cat "$tmp/acme.tok")" "$API/events")
curl -s "http://127.0.0.1:$P_IDM/healthz" >"$tmp/h"
check "a fourth stream is refused: 503 with an error event saying what to do, counted in /healthz ($code)" \
    '[ "$code" = 503 ] && grep -q "^event: error" "$tmp/full.sse" && grep -q "try again later" "$tmp/full.sse" &&
     [ "$(js "$tmp/h" "d.streams_refused + \":\" + d.streams_open + \":\" + d.streams_max")" = "1:3:3" ]'
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$tmp/wrong.tok")" "$API/events")
check "a stream with a wrong token: 401 ($code)" '[ "$code" = 401 ]'

# ---- claims: acme 3 (and assigns them), bolt 1 in a bulk claim
bad=0; : >"$tmp/err"
for e in $SE1 $SE2 $SE3; do
    tok=$(grep "^$e " "$tmp/owners" | cut -d' ' -f2)
    c1=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$tmp/acme.tok")" \
        --data-binary "{\"DevEUI\":\"$e\",\"OwnerToken\":\"$tok\"}" "$API/claims")
    c2=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$tmp/acme.tok")" \
        --data-binary '{"JoinServer":"acme-js"}' "$API/ses/$e/assign")
    [ "$c1" = 200 ] && [ "$c2" = 200 ] || { bad=$((bad + 1)); echo "$e: claim $c1, assign $c2" >>"$tmp/err"; }
done
tok4=$(grep "^$SE4 " "$tmp/owners" | cut -d' ' -f2)
c4=$(curl -s -o "$tmp/o" -w '%{http_code}' -H "Authorization: Bearer $(cat "$tmp/bolt.tok")" \
    --data-binary "{\"Claims\":[{\"DevEUI\":\"$SE4\",\"OwnerToken\":\"$tok4\"}]}" "$API/claims")
check "acme claims and assigns 3 SEs, bolt claims 1" '[ $bad -eq 0 ] && [ "$c4" = 200 ] && grep -q "\"Claimed\":1" "$tmp/o"'

# ---- lists before the radio: who sees what
get "$tmp/acme.tok" /ses >/dev/null
check "acme lists exactly its 3 SEs, manufactured, claimed, on acme-js" \
    '[ "$(js "$tmp/o" "d.SEs.map(s => s.DevEUI + \"/\" + s.State + \"/\" + s.Claim + \"/\" + s.JoinServer).join(\" \")")" = "$SE1/manufactured/claimed/acme-js $SE2/manufactured/claimed/acme-js $SE3/manufactured/claimed/acme-js" ] &&
     [ "$(js "$tmp/o" "d.Next")" = null ]'
get "$tmp/bolt.tok" /ses >/dev/null
check "bolt lists exactly its 1 SE" '[ "$(js "$tmp/o" "d.SEs.map(s => s.DevEUI).join(\" \")")" = "$SE4" ]'
get "$tmp/maker.tok" /ses >/dev/null
check "the maker lists the 4 SEs of its batch" '[ "$(js "$tmp/o" "d.SEs.length")" = 4 ]'
c=$(get "$tmp/maker.tok" "/ses?limit=3"); js "$tmp/o" "d.SEs.map(s=>s.DevEUI).join(\" \") + \"|\" + d.Next" >"$tmp/p1"
c2=$(get "$tmp/maker.tok" "/ses?limit=3&cursor=$(js "$tmp/o" "d.Next")"); js "$tmp/o" "d.SEs.map(s=>s.DevEUI).join(\" \") + \"|\" + d.Next" >"$tmp/p2"
check "cursor pages: 3 SEs and a Next, then the 4th and Next null" \
    '[ "$c$c2" = 200200 ] && [ "$(cat "$tmp/p1")" = "$SE1 $SE2 $SE3|dev_eui:asc:$SE3" ] && [ "$(cat "$tmp/p2")" = "$SE4|null" ]'
c1=$(get "$tmp/acme.tok" "/ses?limit=501"); cp "$tmp/o" "$tmp/o501"
c2=$(get "$tmp/acme.tok" "/ses?limit=0")
c3=$(get "$tmp/acme.tok" "/ses?state=sleeping")
c4=$(get "$tmp/acme.tok" "/ses?prefix=XYZ")
c5=$(get "$tmp/acme.tok" "/ses?cursor=12")
check "limit above 500, limit 0, an unknown state, a prefix that is not hex, a bad cursor: each 400 ($c1 $c2 $c3 $c4 $c5)" \
    '[ "$c1$c2$c3$c4$c5" = 400400400400400 ] && grep -q "from 1 to 500" "$tmp/o501"'
pfx=$(echo "$SE2" | cut -c1-15 | tr 'A-F' 'a-f')
get "$tmp/maker.tok" "/ses?prefix=$pfx" >/dev/null; all=$(js "$tmp/o" "d.SEs.length")
get "$tmp/maker.tok" "/ses?prefix=${SE2}" >/dev/null
check "a DevEUI prefix filter (15 digits, lower case: the 4; all 16: one)" \
    '[ "$all" = 4 ] && [ "$(js "$tmp/o" "d.SEs.map(s=>s.DevEUI).join(\" \")")" = "$SE2" ]'
get "$tmp/maker.tok" "/ses?js=acme-js" >/dev/null
check "a Join Server filter" '[ "$(js "$tmp/o" "d.SEs.length")" = 3 ]'
get "$tmp/acme.tok" "/ses?claim=released" >/dev/null
check "a claim filter (released: none of acme's)" '[ "$(js "$tmp/o" "d.SEs.length")" = 0 ]'

# ---- the radio: all 4 join the bootstrap JS; acme's 3 get their profile and join acme's JS
idm_fleet_emulators "[\"http://127.0.0.1:$P_IDM\"]" 150 30
pids="$pids $se_pids"
node "$FLEET" join "$tmp/fleet.json" >"$tmp/o" 2>"$tmp/err"
check "the 4 SEs join the IDM's bootstrap Join Server" '[ $? -eq 0 ] && grep -q "\"joined\":4" "$tmp/o"'
wait_until "acme's 3 SEs profile_pending" 120 \
    '[ "$(q "SELECT count(*) FROM idm_se WHERE state='"'"'profile_pending'"'"'")" = 3 ]'
node -e 'const f=process.argv[1], c=JSON.parse(require("fs").readFileSync(f,"utf8")); c.ses=c.ses.filter(s=>s.devEui!==process.argv[2]); require("fs").writeFileSync(f+".acme", JSON.stringify(c))' \
    "$tmp/fleet.json" "$SE4"
node "$FLEET" deliver "$tmp/fleet.json.acme" >"$tmp/deliver.out" 2>"$tmp/deliver-err.log"
check "acme's 3 SEs switch to acme's profile and join its JS" '[ $? -eq 0 ]'
wait_until "acme's 3 SEs active_at_customer" 60 \
    '[ "$(q "SELECT count(*) FROM idm_se WHERE state='"'"'active_at_customer'"'"'")" = 3 ]'
check "the IDM shows acme's 3 SEs active_at_customer" '[ $? -eq 0 ]'

# ---- the streams: each its own SEs' changes, live
wait_until "acme's stream shows its 3 SEs active_at_customer" 30 \
    '[ "$(events "$tmp/acme.sse" | grep -c ":customer_join:active_at_customer$")" -eq 3 ]'
check "acme's stream carries its 3 SEs up to active_at_customer" '[ $? -eq 0 ]'
events "$tmp/acme.sse" >"$tmp/acme.ev"; events "$tmp/bolt.sse" >"$tmp/bolt.ev"; events "$tmp/maker.sse" >"$tmp/maker.ev"
echo "# acme's stream: $(wc -l <"$tmp/acme.ev") changes, bolt's: $(wc -l <"$tmp/bolt.ev"), the maker's: $(wc -l <"$tmp/maker.ev")"
check "acme's stream: every step of its SEs (bootstrap_join, profile_queued, profile_acked, customer_join), nothing of bolt's SE" \
    '! grep -q "^$SE4" "$tmp/acme.ev" && for e in $SE1 $SE2 $SE3; do for ev in bootstrap_join profile_queued profile_acked customer_join; do grep -q "^$e:$ev:" "$tmp/acme.ev" || exit 1; done; done'
wait_until "bolt's stream shows its SE's bootstrap join" 30 'grep -q "^$SE4:bootstrap_join:bootstrapped$" "$tmp/bolt.sse" || events "$tmp/bolt.sse" | grep -q "^$SE4:bootstrap_join:bootstrapped$"'
events "$tmp/bolt.sse" >"$tmp/bolt.ev"
check "bolt's stream: its SE's bootstrap_join, nothing of acme's" \
    '[ "$(cut -d: -f1 "$tmp/bolt.ev" | sort -u)" = "$SE4" ]'
events "$tmp/maker.sse" >"$tmp/maker.ev"
check "the maker's stream: changes of all 4 SEs of its batch" '[ "$(cut -d: -f1 "$tmp/maker.ev" | sort -u | wc -l)" -eq 4 ]'
grep -h "^data:" "$tmp/acme.sse" "$tmp/bolt.sse" >"$tmp/data"
check "no stream event names a tenant or an actor" '! grep -q "acme\|bolt\|tenant:\|Actor" "$tmp/data"'

# ---- sorts: every order walked a page at a time, against the whole list sorted here
# sortwalk TOKENFILE: for each sort and order, the DevEUIs of its pages of
# 1 as "SORT ORDER OK|DEVEUIS" lines (OK: the order the server gave is the
# whole list sorted by key then DevEUI, no DevEUI twice or missed)
sortwalk() {
    API="$API" TOKEN=$(cat "$1") node -e '
const ORDER = ["manufactured","bootstrapped","profile_pending","profile_delivered","active_at_customer","fallback",
               "transfer_pending","returned_to_bootstrap","retired"];
const key = { dev_eui: () => 0, state: (s) => ORDER.indexOf(s.State), last_event: (s) => s.LastEventAt,
              join_server: (s) => s.JoinServer };
const get = async (q) => { const r = await fetch(process.env.API + "/ses?" + q, { headers: { Authorization: "Bearer " + process.env.TOKEN } });
                           if (r.status !== 200) throw new Error(q + ": " + r.status); return r.json(); };
(async () => {
  const all = (await get("limit=500")).SEs;
  for (const sort of Object.keys(key)) for (const order of ["asc", "desc"]) {
    const d = order === "asc" ? 1 : -1, k = key[sort];
    const want = all.slice().sort((a, b) => (k(a) < k(b) ? -d : k(a) > k(b) ? d : a.DevEUI < b.DevEUI ? -d : d)).map((s) => s.DevEUI);
    const got = [];
    let cursor = null, pages = 0;
    do {
      const p = await get(`sort=${sort}&order=${order}&limit=1` + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
      got.push(...p.SEs.map((s) => s.DevEUI)); cursor = p.Next; pages++;
      if (cursor && !cursor.startsWith(sort + ":" + order + ":")) throw new Error("cursor " + cursor);
    } while (cursor && pages < 50);
    console.log(`${sort} ${order} ${got.join() === want.join() && new Set(got).size === all.length}|${got.join(" ")}`);
  }
})().catch((e) => { console.log("error " + e.message); process.exit(1); });'
}
for t in maker acme bolt; do sortwalk "$tmp/$t.tok" >"$tmp/sort.$t" 2>>"$tmp/err"; done
cat "$tmp/sort.maker" | sed 's/^/# maker: /'
for s in dev_eui state last_event join_server; do
    check "sort=$s, asc and desc: pages of 1 walk the whole list in key then DevEUI order, for the maker, acme and bolt" \
        '[ "$(cat "$tmp/sort.maker" "$tmp/sort.acme" "$tmp/sort.bolt" | grep -c "^$s \(asc\|desc\) true|")" = 6 ]'
done
check "another tenant's SEs are in none of acme's or bolt's sorted pages" \
    '! grep -q "$SE4" "$tmp/sort.acme" && ! grep -q "$SE1\|$SE2\|$SE3" "$tmp/sort.bolt" &&
     [ "$(grep -c "|$SE4\$" "$tmp/sort.bolt")" = 8 ]'
check "the state order is the lifecycle's (the maker: bolt's bootstrapped SE before acme's 3 active, asc)" \
    'grep -q "^state asc true|$SE4 " "$tmp/sort.maker" && grep -q "^state desc true|.* $SE4\$" "$tmp/sort.maker"'
c=$(get "$tmp/maker.tok" "/ses?sort=state&limit=1"); st_next=$(js "$tmp/o" "d.Next")
c1=$(get "$tmp/maker.tok" "/ses?sort=last_event&limit=1&cursor=$st_next"); cp "$tmp/o" "$tmp/foreign"
c2=$(get "$tmp/maker.tok" "/ses?sort=state&order=desc&limit=1&cursor=$st_next")
c3=$(get "$tmp/maker.tok" "/ses?sort=state&limit=1&cursor=state:asc:$SE1:sleeping")
c4=$(get "$tmp/maker.tok" "/ses?limit=1&cursor=$SE1")
c5=$(get "$tmp/maker.tok" "/ses?sort=size"); c6=$(get "$tmp/maker.tok" "/ses?order=up")
check "a cursor from another sort or order, a malformed key, a bare DevEUI, an unknown sort or order: each 400 ($c $st_next; $c1 $c2 $c3 $c4 $c5 $c6)" \
    '[ "$c" = 200 ] && [ "$c1$c2$c3$c4$c5$c6" = 400400400400400400 ] && grep -q "another sort or order than last_event asc" "$tmp/foreign"'
c=$(get "$tmp/bolt.tok" "/ses?sort=state&limit=1&cursor=$st_next")
check "the maker's cursor in bolt's hands leads to bolt's own SEs only ($c)" \
    '[ "$c" = 200 ] && ! grep -q "$SE1\|$SE2\|$SE3" "$tmp/o"'

# ---- history, commands, Join Servers, overview
c=$(get "$tmp/acme.tok" "/ses/$SE1/history")
check "acme reads SE1's history: its claim whole (Actor, Details), lifecycle changes up to active_at_customer ($c)" \
    '[ "$c" = 200 ] && [ "$(js "$tmp/o" "d.Entries.filter(e => e.Action === \"idm.claim\" && e.Actor === \"tenant:acme\").length")" = 1 ] &&
     [ "$(js "$tmp/o" "d.Entries.filter(e => e.Event === \"customer_join\" && e.To === \"active_at_customer\" && !(\"Actor\" in e)).length")" = 1 ]'
c1=$(get "$tmp/bolt.tok" "/ses/$SE1/history"); c2=$(get "$tmp/acme.tok" "/ses/$SE4/history")
c3=$(get "$tmp/acme.tok" "/ses/70B3D57ED00700FF/history")
check "another tenant's SE and an SE that does not exist answer the same 404 ($c1 $c2 $c3)" '[ "$c1$c2$c3" = 404404404 ]'
c=$(get "$tmp/maker.tok" "/ses/$SE4/history")
check "the maker reads SE4's lifecycle, but not bolt's claim entry" \
    '[ "$c" = 200 ] && [ "$(js "$tmp/o" "d.Entries.filter(e => e.Action === \"idm.claim\").length")" = 0 ] &&
     [ "$(js "$tmp/o" "d.Entries.filter(e => e.Event === \"bootstrap_join\").length")" = 1 ]'
c=$(get "$tmp/acme.tok" "/ses/$SE1/history?limit=2"); nx=$(js "$tmp/o" "d.Next")
c2=$(get "$tmp/acme.tok" "/ses/$SE1/history?limit=2&cursor=$nx")
check "history pages with a cursor (Next $nx)" '[ "$c$c2" = 200200 ] && [ "$nx" != null ]'
c=$(curl -s -o "$tmp/o" -w '%{http_code}' -H "Authorization: Bearer $(cat "$tmp/acme.tok")" --data-binary '{"Payload":"0102"}' \
    "$API/ses/$SE2/commands")
get "$tmp/acme.tok" /commands >/dev/null
# its place in SE2's queue: 2, after the profile's one INSTALL
check "acme queues a secure command on SE2 and lists it ($c)" \
    '[ "$c" = 202 ] && [ "$(js "$tmp/o" "d.Commands.map(c => c.DevEUI + \"/\" + c.Seq).join(\" \")")" = "$SE2/2" ]'
get "$tmp/bolt.tok" /commands >/dev/null; b=$(js "$tmp/o" "d.Commands.length")
get "$tmp/maker.tok" /commands >/dev/null; m=$(js "$tmp/o" "d.Commands.length")
check "bolt and the maker see no command (acme's is acme's)" '[ "$b$m" = 00 ]'
get "$tmp/acme.tok" /joinservers >/dev/null; a=$(js "$tmp/o" "d.JoinServers.map(j => j.ID + \"/\" + j.JoinEUI).join()")
get "$tmp/bolt.tok" /joinservers >/dev/null; b=$(js "$tmp/o" "d.JoinServers.length")
check "Join Servers: acme's acme-js, bolt none" '[ "$a" = "acme-js/70B3D57ED00A0000" ] && [ "$b" = 0 ]'
get "$tmp/acme.tok" /overview >/dev/null
check "acme's overview: 3 active_at_customer, 3 customer joins in the last 24 h, 24 hours listed" \
    '[ "$(js "$tmp/o" "d.States.active_at_customer + \"/\" + d.Total + \"/\" + d.Events.customer_join + \"/\" + d.Hours.length")" = 3/3/3/24 ]'
get "$tmp/bolt.tok" /overview >/dev/null
check "bolt's overview: 1 SE, bootstrapped" '[ "$(js "$tmp/o" "d.States.bootstrapped + \"/\" + d.Total")" = 1/1 ]'

# ---- the operator, a wrong token
c=$(get "$tmp/op.tok" /me); k=$(js "$tmp/o" "d.Kind + \"/\" + d.NetID")
c2=$(get "$tmp/op.tok" /operator); cp "$tmp/o" "$tmp/op.json"
c3=$(get "$tmp/op.tok" /ses); c4=$(get "$tmp/op.tok" "/ses/$SE1/history")
c5=$(get "$tmp/acme.tok" /operator); c6=$(get "$tmp/op.tok" /events)
check "the operator signs in with its token ($k), reads its counters, and gets 403 for SE lists, histories and the stream; a tenant 403 for counters ($c $c2 $c3 $c4 $c5 $c6)" \
    '[ "$k" = operator/000042 ] && [ "$c$c2$c3$c4$c5$c6" = 200200403403403403 ] && [ "$(js "$tmp/op.json" "typeof d.Activations + typeof d.Refusals")" = numberobject ]'
c=$(get "$tmp/wrong.tok" /ses); c2=$(curl -s -o /dev/null -w '%{http_code}' "$API/ses")
check "a wrong token and no token: 401 ($c $c2)" '[ "$c$c2" = 401401 ]'
get "$tmp/acme.tok" /me >/dev/null
check "GET /api/v1/me names the tenant, its kind, the page maximum and the fleet request maximum" \
    '[ "$(js "$tmp/o" "d.Kind + \"/\" + d.Tenant + \"/\" + d.PageMax + \"/\" + d.FleetMax")" = customer/acme/500/1000 ]'

# ---- headers
curl -s -D "$tmp/hdr" -o /dev/null -H "Authorization: Bearer $(cat "$tmp/acme.tok")" "$API/ses"
check "API answers: Cache-Control no-store, a CSP without unsafe-inline, nosniff, frame-ancestors none" \
    'grep -qi "^Cache-Control: no-store" "$tmp/hdr" && grep -qi "^Content-Security-Policy: .*script-src .self." "$tmp/hdr" &&
     ! grep -qi "unsafe-inline" "$tmp/hdr" && grep -qi "^X-Content-Type-Options: nosniff" "$tmp/hdr" &&
     grep -qi "frame-ancestors .none." "$tmp/hdr"'
c=$(curl -s -D "$tmp/hdr" -o "$tmp/index.html" -w '%{http_code}' "http://127.0.0.1:$P_IDM/")
check "the console is served at / from the binary, with the same CSP ($c)" \
    '[ "$c" = 200 ] && grep -qi "^Content-Type: text/html" "$tmp/hdr" && grep -qi "^Content-Security-Policy" "$tmp/hdr" &&
     cmp -s "$tmp/index.html" "$root/console/index.html"'

# ---- streams whose client went are dropped; Last-Event-ID replays the caller's changes only
for p in $streams; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
wait_until "the three gone streams dropped (heartbeats find them)" 40 \
    'curl -s "http://127.0.0.1:$P_IDM/healthz" >"$tmp/h" && [ "$(js "$tmp/h" "d.streams_open")" = 0 ]'
check "streams whose client went are dropped: their slots free again" '[ $? -eq 0 ]'
curl -sN --max-time 3 -H "Authorization: Bearer $(cat "$tmp/bolt.tok")" -H "Last-Event-ID: 0" "$API/events" >"$tmp/replay.sse" 2>/dev/null
events "$tmp/replay.sse" >"$tmp/replay.ev"
check "Last-Event-ID 0: bolt's stream replays its own SE's changes, nothing of acme's" \
    '[ -s "$tmp/replay.ev" ] && [ "$(cut -d: -f1 "$tmp/replay.ev" | sort -u)" = "$SE4" ]'
c=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$tmp/bolt.tok")" -H "Last-Event-ID: 99999999" "$API/events")
check "a Last-Event-ID beyond the chain: 400 ($c)" '[ "$c" = 400 ]'

$I idm audit verify >"$tmp/o" 2>"$tmp/err"
check "the audit chain verifies" '[ $? -eq 0 ]'

echo "1..$n"
[ "$failed" -eq 0 ]
