#!/bin/sh
# idm_ota.sh - the Identity Manager's owners, claims and over-the-air
# profiles, with the real pieces on loopback:
#   - an IDM deployment (`ferry init`: its bootstrap Join Server `serve`, and
#     `idm serve`, the application server of the bootstrap sessions) and a
#     customer Join Server deployment (`ferry init` again, its own token);
#   - 3 SEs personalised by `ferry hsa personalise` and imported;
#   - tenants (a maker, customers acme and bolt), acme's Join Server, claims
#     (wrong token, other tenant, lock) through the CLI and the REST API;
#   - SE emulators (`ferry se serve`) driven by idm_ns.js, a network-server
#     stand-in: bootstrap join, the profile delivered in fragments over
#     FPort 200 (AppSKey end to end: the stand-in never has it), the SE
#     switches and joins the CUSTOMER Join Server, the IDM sees it: active;
#   - an IDM killed (-9) in the middle of a delivery and restarted: the
#     delivery completes, each command sealed and executed once; a stale
#     device on the customer JS is replaced (409, DELETE, POST);
#   - a profile never joined: the SE falls back, its MLS event moves the IDM
#     to fallback, and a STATUS acknowledging the event is delivered;
#   - audit chain verifies; no file of the IDM or customer deployments, and
#     no log, holds a key the test knows (HSA-IDM KEK, customer KEK, NS KEKs,
#     the NS's session keys) or the customer JS's admin token.
# Needs node (and curl); skipped without them. Prints TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib/common.sh"
. "$here/lib/idm_fleet.sh"
NS="$here/idm_ns.js"
need_node
make_tmp idm-ota
# every server logs into $tmp/*.log: shown when a wait times out
watch_log "$tmp"
# wait_sock SOCKET PID: an SE emulator's Unix socket, its process watched
wait_sock() { wait_pid=$2; wait_until "the SE emulator's socket $1" - "[ -S '$1' ]"; w_rc=$?; wait_pid=""; return $w_rc; }
# idm_wait DESC CONDITION: wait_until, idm serve's pid watched (its
# housekeeping makes the change: a dead idm serve fails the wait at once)
idm_wait() { wait_pid=$idm_pid; wait_until "$1" - "$2"; w_rc=$?; wait_pid=""; return $w_rc; }
# state_is DEVEUI STATE; wait_state DEVEUI STATE: until idm show says so
state_is() { $I idm show "$1" 2>/dev/null | grep -q "\"State\": \"$2\""; }
wait_state() { idm_wait "idm show $1: State $2" "state_is $1 $2"; }
# start_idm: idm serve in the background, ready when /healthz answers
start_idm() { $I idm serve >>"$tmp/idm.log" 2>&1 & idm_pid=$!; wait_http "http://127.0.0.1:$P_IDM/healthz" $idm_pid; }

HSAKEK=$(hex16); NSKEK=$(hex16); CKEK=$(hex16); CNSKEK=$(hex16)
idm="$tmp/idm"; cust="$tmp/acme-js"; out="$tmp/hsa"; nsd="$tmp/ns"
mkdir -p "$nsd" && chmod 700 "$nsd"
P_JS=$(port); P_IDM=$(port); P_C=$(port)
I="$FERRY -d $idm"; C="$FERRY -d $cust"

# ---- the two deployments, the batch
idm_deployments 3 70B3D57ED0040000
check "IDM and customer JS deployments, 3 SEs personalised and imported" '[ $? -eq 0 ]'
SE1=70B3D57ED0040000; SE2=70B3D57ED0040001; SE3=70B3D57ED0040002
otok() { sed -n "s/.*\"DevEUI\":\"$1\".*:O\([0-9A-F]\{32\}\)\".*/\1/p" "$out/batch.jsonl"; }
T1=$(otok $SE1); T2=$(otok $SE2); T3=$(otok $SE3)
check "owner tokens read from the QR payloads" '[ ${#T1} -eq 32 ] && [ ${#T2} -eq 32 ] && [ ${#T3} -eq 32 ]'

$I idm init --ns-token-out "$nsd/idm-ns.tok" --listen "127.0.0.1:$P_IDM" >"$tmp/o" 2>"$tmp/err"
check "idm init: idm.conf 0600, NS token file 0600" \
    '[ $? -eq 0 ] && [ "$(stat -c %a "$idm/idm.conf")" = 600 ] && [ "$(stat -c %a "$nsd/idm-ns.tok")" = 600 ]'
$I idm config set retry_base 0 poll 1 max_join_attempts 2 >/dev/null

# ---- tenants and the customer's Join Server
$I idm tenant add maker --kind maker --token-out "$tmp/maker.tok" >/dev/null 2>"$tmp/err" &&
    $I idm tenant add acme --kind customer --name "Acme Corp" --token-out "$tmp/acme.tok" >/dev/null 2>>"$tmp/err" &&
    $I idm tenant add bolt --kind customer --token-out "$tmp/bolt.tok" >/dev/null 2>>"$tmp/err"
check "tenant add: maker, acme, bolt" '[ $? -eq 0 ] && [ "$(stat -c %a "$tmp/acme.tok")" = 600 ]'
$I idm tenant add othermaker --kind maker --token-out "$tmp/othermaker.tok" >/dev/null 2>"$tmp/err"
$I idm import "$out/batch.jsonl" --maker maker >"$tmp/o" 2>"$tmp/err"
check "the batch imported as maker's: it is recorded as the SEs' maker" \
    '[ $? -eq 0 ] && grep -q "\"maker\": \"maker\"" "$tmp/o" && [ "$(sqlite3 "$idm/ferry.db" "SELECT count(*) FROM idm_se WHERE maker = '"'"'maker'"'"'")" = 3 ]'
$I idm import "$out/batch.jsonl" --maker othermaker >"$tmp/o" 2>"$tmp/err"
check "... a re-import naming another maker is refused" '[ $? -ne 0 ] && grep -q "was imported with --maker maker" "$tmp/err"'
$I idm tenant add acme --kind customer --token-out "$tmp/acme2.tok" >/dev/null 2>"$tmp/err"
check "a second tenant acme is refused" '[ $? -eq 1 ] && [ ! -e "$tmp/acme2.tok" ]'
$I idm tenant list >"$tmp/o" 2>"$tmp/err"
check "tenant list: 4, no token" '[ $? -eq 0 ] && [ $(grep -c "\"id\"" "$tmp/o") -eq 4 ] && ! grep -qi "token\|hash" "$tmp/o"'
$I idm js add acme-js --tenant acme --url "http://127.0.0.1:$P_C" --admin-token-file "$cust/admin.token" \
    --join-eui 70B3D57ED00A0000 --net-id 000013 --kek-label acme-kek --ns-kek-label acme-ns >"$tmp/o" 2>"$tmp/err"
check "js add: acme's Join Server" '[ $? -eq 0 ]'
$I idm js add bad-js --tenant acme --url "http://127.0.0.1:$P_C" --admin-token-file "$cust/admin.token" \
    --join-eui 70B3D57ED00A0000 --net-id 000013 --kek-label no-such-kek >"$tmp/o" 2>"$tmp/err"
check "js add with an unknown KEK is refused" '[ $? -eq 1 ] && grep -q "KEK" "$tmp/err"'
$I idm js add far-js --tenant acme --url "http://192.0.2.7:8080" --admin-token-file "$cust/admin.token" \
    --join-eui 70B3D57ED00A0000 --net-id 000013 --kek-label acme-kek >"$tmp/o" 2>"$tmp/err"
check "js add with plain http:// off loopback is refused (the admin token would travel in clear)" \
    '[ $? -ne 0 ] && grep -q "plain http:// is allowed only to a loopback host" "$tmp/err"'
$I idm js add odd-js --tenant acme --url "http://127.0.0.1:$P_C" --admin-token-file "$cust/admin.token" \
    --join-eui 70B3D57ED00A0000 --net-id 000013 --kek-label acme-kek --ns-kek-label "acme ns" >"$tmp/o" 2>"$tmp/err"
check "js add with an invalid NS KEK label is refused, not dropped" '[ $? -ne 0 ] && grep -q "KEK label" "$tmp/err"'

# ---- claims through the CLI
$I idm claim $SE1 --owner-token 00000000000000000000000000000000 --tenant acme >"$tmp/o" 2>"$tmp/err"
check "claim with a wrong owner token: refused, counted for acme" \
    '[ $? -eq 1 ] && grep -q "the owner token does not match this DevEUI" "$tmp/err" &&
     [ "$(sqlite3 "$idm/ferry.db" "SELECT failures FROM idm_claim_failure WHERE tenant_id = '"'"'acme'"'"'")" = 1 ]'
$I idm claim $SE1 --owner-token "$T1" --tenant acme >"$tmp/o" 2>"$tmp/err"
check "claim with the right owner token: claimed" '[ $? -eq 0 ] && grep -q "\"Already\": false" "$tmp/o"'
$I idm claim $SE1 --owner-token "$T1" --tenant bolt >"$tmp/o" 2>"$tmp/err"
check "bolt cannot claim acme's SE, even with the token" '[ $? -eq 1 ] && grep -q "another tenant" "$tmp/err"'
$I idm claim $SE1 --owner-token "$T1" --tenant acme >"$tmp/o" 2>"$tmp/err"
check "claiming again is idempotent" '[ $? -eq 0 ] && grep -q "\"Already\": true" "$tmp/o"'
$I idm lock $SE3 >/dev/null 2>"$tmp/err" && ! $I idm claim $SE3 --owner-token "$T3" --tenant bolt >/dev/null 2>"$tmp/err"
check "a locked SE cannot be claimed" '[ $? -eq 0 ] && grep -q "locked" "$tmp/err"'
$I idm unlock $SE3 >/dev/null 2>"$tmp/err" && $I idm claim $SE3 --owner-token "$T3" --tenant bolt >/dev/null 2>>"$tmp/err" &&
    $I idm release $SE3 --tenant acme >/dev/null 2>"$tmp/err"
check "unlock, bolt claims; acme cannot release bolt's claim" '[ $? -eq 1 ]'
$I idm release $SE3 --tenant bolt >"$tmp/o" 2>"$tmp/err"
check "bolt releases its claim" '[ $? -eq 0 ] && grep -q released "$tmp/o"'
$I idm assign $SE1 >"$tmp/o" 2>"$tmp/err"
check "assign before the bootstrap join: the tenant's JS, profile waits" \
    '[ $? -eq 0 ] && grep -q "acme-js" "$tmp/o" && grep -q "waiting for the bootstrap join" "$tmp/o"'
$I idm show $SE1 >"$tmp/o" 2>"$tmp/err"
check "show: manufactured, claimed by acme, assigned" \
    '[ $? -eq 0 ] && grep -q "\"State\": \"manufactured\"" "$tmp/o" && grep -q "\"Tenant\": \"acme\"" "$tmp/o"'

# ---- the servers
$I serve >"$tmp/js.log" 2>&1 &
js_pid=$!; pids="$pids $js_pid"
$C serve >"$tmp/cust.log" 2>&1 &
c_pid=$!; pids="$pids $c_pid"
start_idm
check "idm serve answers /healthz" '[ $? -eq 0 ]'
check "/healthz names the MLS reassembly capacity (mls_rx_slots of idm.conf) and what reached it" \
    'curl -s "http://127.0.0.1:$P_IDM/healthz" | grep -q "\"mls_rx_slots\":256,\"mls_rx_in_use\":0,\"mls_rx_refused\":0"'
wait_http "http://127.0.0.1:$P_JS/metrics" $js_pid
check "the bootstrap Join Server (serve) answers /metrics" '[ $? -eq 0 ]'
wait_http "http://127.0.0.1:$P_C/metrics" $c_pid
check "the customer Join Server answers /metrics" '[ $? -eq 0 ]'
API="http://127.0.0.1:$P_IDM/api/v1"
req() { # METHOD PATH TOKENFILE [BODY] -> status on stdout, body in $tmp/body
    if [ -n "${4:-}" ]; then
        curl -s -o "$tmp/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $(cat "$3")" --data-binary "$4" "$API$2"
    else
        curl -s -o "$tmp/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $(cat "$3")" "$API$2"
    fi
}
echo nope >"$tmp/nobody.tok"
check "REST without a valid token: 401" '[ "$(req GET /ses/$SE1 "$tmp/nobody.tok")" = 401 ]'
check "REST: acme reads its SE" '[ "$(req GET /ses/$SE1 "$tmp/acme.tok")" = 200 ] && grep -q "\"Claim\":\"claimed\"" "$tmp/body"'
check "REST isolation: bolt cannot read acme's SE (404)" '[ "$(req GET /ses/$SE1 "$tmp/bolt.tok")" = 404 ]'
check "REST isolation: bolt cannot claim it (409), even with the owner token" \
    '[ "$(req POST /claims "$tmp/bolt.tok" "{\"DevEUI\":\"$SE1\",\"OwnerToken\":\"$T1\"}")" = 409 ]'
check "REST isolation: bolt cannot release it (404)" '[ "$(req DELETE /claims/$SE1 "$tmp/bolt.tok")" = 404 ]'
check "REST isolation: bolt cannot assign it (404)" '[ "$(req POST /ses/$SE1/assign "$tmp/bolt.tok" "{}")" = 404 ]'
check "REST: acme claims SE2 with its owner token" \
    '[ "$(req POST /claims "$tmp/acme.tok" "{\"DevEUI\":\"$SE2\",\"OwnerToken\":\"$T2\"}")" = 200 ]'
check "REST: acme assigns SE2 to its Join Server" \
    '[ "$(req POST /ses/$SE2/assign "$tmp/acme.tok" "{\"JoinServer\":\"acme-js\"}")" = 200 ] && grep -q acme-js "$tmp/body"'
check "REST: the maker of the batch reads its SE" '[ "$(req GET /ses/$SE2 "$tmp/maker.tok")" = 200 ]'
check "REST: another maker does not see it (404, as for no SE)" \
    '[ "$(req GET /ses/$SE2 "$tmp/othermaker.tok")" = 404 ] && grep -q "no such secure element" "$tmp/body"'
check "REST: no maker acts on a customer's SE (transfer 403, command 409 for its own maker, 404 for another)" \
    '[ "$(req POST /ses/$SE2/transfer "$tmp/maker.tok" "{\"Tenant\":\"bolt\"}")" = 403 ] &&
     [ "$(req POST /ses/$SE2/commands "$tmp/maker.tok" "{\"Payload\":\"01\"}")" = 409 ] &&
     [ "$(req POST /ses/$SE2/commands "$tmp/othermaker.tok" "{\"Payload\":\"01\"}")" = 404 ]'

# A stale device SE2 on the customer JS (say, from a provisioning that
# posted and then crashed): the IDM's POST gets 409, deletes it and posts
# again; SE2's customer join at the end proves the JS has the new keys.
W=$(node -e 'const c=require("crypto");const x=c.createCipheriv("id-aes128-wrap",Buffer.from(process.argv[1],"hex"),Buffer.from("a6a6a6a6a6a6a6a6","hex"));process.stdout.write(Buffer.concat([x.update(c.randomBytes(16)),x.final()]).toString("hex"))' "$CKEK")
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -H "Authorization: Bearer $(cat "$cust/admin.token")" \
    --data-binary "{\"DevEUI\":\"$SE2\",\"JoinEUI\":\"70B3D57ED00A0000\",\"MACVersion\":\"1.0.4\",\"HomeNetID\":\"000013\",\"NwkKey\":{\"KEKLabel\":\"acme-kek\",\"AESKey\":\"$W\"},\"NSKEKLabel\":\"acme-ns\"}" \
    "http://127.0.0.1:$P_C/api/v1/devices")
check "a stale device SE2 sits on the customer JS" '[ "$code" = 201 ]'

# ---- SE1: bootstrap join, profile over the air, customer join
"$FERRY" se serve --image "$out/se-$SE1.img" --socket "$tmp/se1.sock" 2>"$tmp/se1.log" &
se1_pid=$!; pids="$pids $se1_pid"
"$FERRY" se serve --image "$out/se-$SE2.img" --socket "$tmp/se2.sock" 2>"$tmp/se2.log" &
se2_pid=$!; pids="$pids $se2_pid"
wait_sock "$tmp/se1.sock" $se1_pid && wait_sock "$tmp/se2.sock" $se2_pid
check "SE emulators 1 and 2 up (ferry se serve)" '[ $? -eq 0 ]'
ns() { SOCK="$1" node "$NS" "$2" "$3" "${4:-}" "${5:-}" "${6:-}" "${7:-}" "${8:-}"; }
ns "$tmp/se1.sock" join "$nsd/se1.json" "http://127.0.0.1:$P_JS/" "$nsd/bootstrap-ns.tok" "$NSKEK" 000000 >"$tmp/o" 2>"$tmp/err"
check "SE1 joins the IDM's bootstrap Join Server" '[ $? -eq 0 ]'
# idm serve's housekeeping (every `poll` s) sees the join and queues the
# profile: the pump's rounds then only count deliveries, not waiting
wait_state $SE1 profile_pending
check "IDM: the profile for SE1 queued once the bootstrap join was served" '[ $? -eq 0 ]'
# An NS that still holds the IDM's downlinks (its gateway out of air) says
# so in DownlinkQueued: the IDM sends each fragment once and no new round
# (retry_base is 0 here) while any is held; once the NS holds none (they
# were dropped), the next uplinks get the fragments again.
# a DownlinkQueued out of range: 400 naming it, and nothing moves (the
# check after this one still sees both fragments go out once)
for q in 1001 '"2"' -1; do
    printf '{"DevEUI":"%s","DevAddr":"%s","SessionKeyID":"%s","FCnt":0,"FPort":1,"FRMPayload":"00","MaxDownlinkPayload":51,"NextAFCntDown":0,"DownlinkQueued":%s}' \
        $SE1 "$(jget devAddr <"$nsd/se1.json")" "$(jget sessionKeyId <"$nsd/se1.json")" "$q" >"$tmp/badq.json"
    code=$(curl -s -o "$tmp/body" -w '%{http_code}' -H "Authorization: Bearer $(cat "$nsd/idm-ns.tok")" \
        --data-binary @"$tmp/badq.json" "http://127.0.0.1:$P_IDM/uplink")
    check "POST /uplink with DownlinkQueued $q: 400 naming the field" \
        '[ "$code" = 400 ] && grep -q "DownlinkQueued" "$tmp/body"'
done
ns "$tmp/se1.sock" hold "$nsd/se1.json" "http://127.0.0.1:$P_IDM" "$nsd/idm-ns.tok" 6 >"$tmp/o" 2>"$tmp/err"
check "SE1: 6 uplinks while the NS holds the IDM's downlinks: the 2 fragments once, no copy ($(cat "$tmp/o"))" \
    '[ $? -eq 0 ] && grep -q "\"held\":2}" "$tmp/o"'
ns "$tmp/se1.sock" pump "$nsd/se1.json" "http://127.0.0.1:$P_IDM" "$nsd/idm-ns.tok" 80 switched >"$tmp/o" 2>"$tmp/err"
check "SE1: the profile arrives over FPort 200 and the SE switches to it" '[ $? -eq 0 ] && grep -q "\"switched\":true" "$tmp/o"'
sent1=$(jget sent <"$tmp/o")
check "... in several downlinks ($sent1: INSTALL's two fragments, the ack of its answer)" '[ "${sent1:-0}" -ge 3 ]'
$I idm show $SE1 >"$tmp/o" 2>"$tmp/err"
check "IDM: SE1 profile_delivered, no command pending" \
    'grep -q "\"State\": \"profile_delivered\"" "$tmp/o" && grep -q "\"PendingCommands\": 0" "$tmp/o"'
$C device show $SE1 >"$tmp/o" 2>"$tmp/err"
check "the customer JS was provisioned with SE1 (JoinEUI of acme)" '[ $? -eq 0 ] && grep -q "70B3D57ED00A0000" "$tmp/o"'
ns "$tmp/se1.sock" join "$nsd/se1c.json" "http://127.0.0.1:$P_C/" "$nsd/acme-ns.tok" "$CNSKEK" 000013 >"$tmp/o" 2>"$tmp/err"
check "SE1 joins the CUSTOMER Join Server with the delivered keys" '[ $? -eq 0 ] && grep -q "70B3D57ED00A0000" "$tmp/o"'
wait_state $SE1 active_at_customer
check "IDM: SE1 active at customer (the customer JS confirmed the join)" '$I idm show $SE1 | grep -q "\"State\": \"active_at_customer\""'

# ---- SE2: the IDM killed -9 in the middle of the delivery
ns "$tmp/se2.sock" join "$nsd/se2.json" "http://127.0.0.1:$P_JS/" "$nsd/bootstrap-ns.tok" "$NSKEK" 000000 >"$tmp/o" 2>"$tmp/err" &&
    wait_state $SE2 profile_pending
check "SE2 joins the bootstrap Join Server; IDM: its profile queued" '[ $? -eq 0 ]'
# Small frames (MaxDownlinkPayload 20: INSTALL is 6 fragments of 16 bytes),
# and the IDM killed after the third went out.
MAXDL=20 ns "$tmp/se2.sock" pump "$nsd/se2.json" "http://127.0.0.1:$P_IDM" "$nsd/idm-ns.tok" 40 sent:3 >"$tmp/o" 2>"$tmp/err"
check "SE2: delivery under way (3 fragments of INSTALL out)" '[ $? -eq 0 ] && grep -q "\"sent\":3" "$tmp/o" && $I idm show $SE2 | grep -q profile_pending'
kill -9 "$idm_pid"; wait "$idm_pid" 2>/dev/null
start_idm || notok "idm serve restarted after kill -9 answers /healthz"
MAXDL=20 ns "$tmp/se2.sock" pump "$nsd/se2.json" "http://127.0.0.1:$P_IDM" "$nsd/idm-ns.tok" 80 switched >"$tmp/o" 2>"$tmp/err"
check "SE2: after the restart the delivery completes and the SE switches" '[ $? -eq 0 ] && grep -q "\"switched\":true" "$tmp/o"'
SOCK="$tmp/se2.sock" "$FERRY" se info --socket "$tmp/se2.sock" >"$tmp/o" 2>"$tmp/err"
check "SE2 accepted exactly 1 MLS command (counter 1, INSTALL activating at once: nothing sealed twice)" 'grep -q "\"MLSDownCounter\": 1" "$tmp/o"'
$I idm show $SE2 >"$tmp/o" 2>"$tmp/err"
check "IDM: SE2 profile_delivered" 'grep -q "\"State\": \"profile_delivered\"" "$tmp/o"'
if command -v sqlite3 >/dev/null 2>&1; then
    q=$(sqlite3 "$idm/ferry.db" "SELECT count(*), sum(state='done') FROM idm_cmd WHERE dev_eui='$SE2'")
    a=$(sqlite3 "$idm/ferry.db" "SELECT count(*) FROM idm_audit WHERE subject='$SE2' AND action='idm.se.profile_queued'")
    r=$(sqlite3 "$idm/ferry.db" "SELECT count(*) FROM idm_audit WHERE subject='$SE2' AND action='idm.mls.response' AND details NOT LIKE '%stale%'")
    check "SE2: 1 command (INSTALL), done; one profile queued; one response recorded" \
        '[ "$q" = "1|1" ] && [ "$a" = 1 ] && [ "$r" = 1 ]'
else
    n=$((n + 1)); echo "ok $n - # SKIP needs the sqlite3 shell"
fi
ns "$tmp/se2.sock" join "$nsd/se2c.json" "http://127.0.0.1:$P_C/" "$nsd/acme-ns.tok" "$CNSKEK" 000013 >"$tmp/o" 2>"$tmp/err"
wait_state $SE2 active_at_customer
check "SE2 joins the customer JS (the stale device was replaced); IDM: active at customer" '$I idm show $SE2 | grep -q "\"State\": \"active_at_customer\""'

# ---- SE3: a profile delivered but never joined: the SE falls back and says so
$I idm claim $SE3 --owner-token "$T3" --tenant acme >/dev/null 2>"$tmp/err" && $I idm assign $SE3 >/dev/null 2>>"$tmp/err"
check "SE3 claimed and assigned by acme" '[ $? -eq 0 ]'
"$FERRY" se serve --image "$out/se-$SE3.img" --socket "$tmp/se3.sock" 2>"$tmp/se3.log" &
se3_pid=$!; pids="$pids $se3_pid"
wait_sock "$tmp/se3.sock" $se3_pid
check "SE emulator 3 up" '[ $? -eq 0 ]'
ns "$tmp/se3.sock" join "$nsd/se3.json" "http://127.0.0.1:$P_JS/" "$nsd/bootstrap-ns.tok" "$NSKEK" 000000 >"$tmp/o" 2>"$tmp/err" &&
    wait_state $SE3 profile_pending &&
    ns "$tmp/se3.sock" pump "$nsd/se3.json" "http://127.0.0.1:$P_IDM" "$nsd/idm-ns.tok" 80 switched >"$tmp/o" 2>"$tmp/err"
check "SE3: profile delivered, the SE switches (trial of 2 joins)" '[ $? -eq 0 ] && grep -q "\"switched\":true" "$tmp/o"'
# two join-requests on the trial profile that nobody answers, then the SE
# falls back to the bootstrap profile and joins there again
"$FERRY" se join-request --socket "$tmp/se3.sock" >/dev/null 2>"$tmp/err" &&
    "$FERRY" se join-request --socket "$tmp/se3.sock" >/dev/null 2>>"$tmp/err" &&
    ns "$tmp/se3.sock" join "$nsd/se3b.json" "http://127.0.0.1:$P_JS/" "$nsd/bootstrap-ns.tok" "$NSKEK" 000000 >"$tmp/o" 2>>"$tmp/err"
check "SE3: after 2 failed joins it joins the bootstrap JS again" '[ $? -eq 0 ] && grep -q "70B3D57ED0000000" "$tmp/o"'
ns "$tmp/se3.sock" pump "$nsd/se3b.json" "http://127.0.0.1:$P_IDM" "$nsd/idm-ns.tok" 12 >"$tmp/o" 2>"$tmp/err"
$I idm show $SE3 >"$tmp/o" 2>"$tmp/err"
check "IDM: the SE's fallback event moved SE3 to fallback" 'grep -q "\"State\": \"fallback\"" "$tmp/o"'
check "... and the STATUS acknowledging the event was delivered (nothing pending)" 'grep -q "\"PendingCommands\": 0" "$tmp/o"'
if command -v sqlite3 >/dev/null 2>&1; then
    q=$(sqlite3 "$idm/ferry.db" "SELECT count(*) FROM idm_cmd WHERE dev_eui='$SE3' AND type=1 AND state='done'")
    check "SE3: one STATUS command, done" '[ "$q" = 1 ]'
fi
# redeliver_after: an SE back on bootstrap gets a new profile by itself
kill "$idm_pid"; wait "$idm_pid" 2>/dev/null
$I idm config set redeliver_after 1 >/dev/null
start_idm || notok "idm serve restarted with redeliver_after = 1 answers /healthz"
wait_state $SE3 profile_pending
check "SE3: redeliver_after: a new profile queued for the SE back on bootstrap" '$I idm show $SE3 | grep -q "\"State\": \"profile_pending\""'
ns "$tmp/se3.sock" pump "$nsd/se3b.json" "http://127.0.0.1:$P_IDM" "$nsd/idm-ns.tok" 80 switched >"$tmp/o" 2>"$tmp/err" &&
    ns "$tmp/se3.sock" join "$nsd/se3c.json" "http://127.0.0.1:$P_C/" "$nsd/acme-ns.tok" "$CNSKEK" 000013 >>"$tmp/o" 2>>"$tmp/err"
wait_state $SE3 active_at_customer
check "SE3: the new profile delivered, the SE joins the customer JS (its JoinNonce kept by PUT), active" \
    '$I idm show $SE3 | grep -q "\"State\": \"active_at_customer\""'

$I idm audit verify >"$tmp/o" 2>"$tmp/err"
check "audit chain verifies" '[ $? -eq 0 ] && grep -q "\"ok\": true" "$tmp/o"'

kill "$idm_pid" 2>/dev/null; wait "$idm_pid" 2>/dev/null; idm_pid=""
for p in $pids; do kill "$p" 2>/dev/null; done
for p in $pids; do wait "$p" 2>/dev/null; done
pids=""

# ---- no key, no token in clear: IDM and customer deployments (DBs, tokens), logs
scan="$idm $cust $tmp/idm.log $tmp/js.log $tmp/cust.log $tmp/setup.log"
keys="$HSAKEK $NSKEK $CKEK $CNSKEK"
for f in "$nsd"/se*.json; do keys="$keys $(jget nwkSKey <"$f")"; done
ADM=$(cat "$cust/admin.token")
hit=""
for k in $keys $ADM; do
    lk=$(echo "$k" | tr 'A-F' 'a-f'); uk=$(echo "$k" | tr 'a-f' 'A-F')
    f=$(grep -rlaF -e "$lk" -e "$uk" $scan 2>/dev/null | grep -v "$cust/admin.token" | head -1)
    [ -n "$f" ] && hit="$hit $f"
done
check "no known key and no customer admin token in clear in the deployments or logs" '[ -z "$hit" ] || { echo "# found in:$hit"; false; }'

echo "1..$n"
[ "$failed" -eq 0 ]
