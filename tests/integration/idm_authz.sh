#!/bin/sh
# idm_authz.sh - who may do what to which secure element (docs/idm.md, "Who
# may do what" and "Claims"; src/idm/idm_authz.c), end to end, one group of
# checks per finding of the security review it fixes:
#   1. a maker tenant reads only the SEs of its own batches (`idm import
#      --maker`), may not transfer/renew/assign/claim/release (403), and
#      queues a command or a return only on its own SEs no customer holds
#      (409 when one does); another maker's SE answers 404 as if unknown;
#   2. a retired SE is revoked: a claim answers as a wrong token (409
#      "retired" with the right one), no assignment, and the bootstrap Join
#      Server's device row and sessions are gone (JoinReq and HomeNSReq
#      UnknownDevEUI);
#   3. release and refuse leave no holder: unlock gives a released SE back to
#      nobody, and the buyer with the owner token claims it;
#   4. malformed owner tokens are 400 and not counted; wrong tokens are
#      counted per tenant and SE (idm_claim_failure): after five that tenant
#      gets 403 even with the right token, and the buyer still claims;
#   5. an operator's RejoinReq type 0 (all-zero MIC) for a 1.1 SE that never
#      joined is JoinReqFailed, and the SE stays manufactured;
#   6. after a transfer, the new holder does not read the old holder's
#      commands;
#   9. no oracle: claims without the right token answer alike for a free, a
#      held, a locked, a retired and an unknown SE; release, status,
#      operations and commands answer alike for an unknown and another's SE.
# Every refusal is also checked to have changed nothing (`idm show`, the
# claim row, commands, audit entries of a change, the JS's device rows).
# The pieces: an IDM deployment (bootstrap Join Server `serve`, `idm
# serve`), acme's and bolt's Join Servers; 10 SEs (LoRaWAN 1.0.4) of maker's
# batch and one (1.1) of othermaker's; SE1 made active at acme once
# (idm_ns.js, idm_cust.js) and reused for findings 1 and 6.
# Needs node, curl and sqlite3 (scripts/deps.sh). Prints TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
FERRY=${FERRY:-$root/build/san/bin/ferry}
. "$here/lib/common.sh"
NS="$here/idm_ns.js"
CU="$here/idm_cust.js"
need_node
command -v sqlite3 >/dev/null 2>&1 || { echo "not ok 1 - sqlite3 is needed (scripts/deps.sh)"; echo "1..1"; exit 1; }
make_tmp idm-authz
# every server and the CLI log into $tmp/*.log: shown when a wait times out
watch_log "$tmp"
t_start=$(date +%s)

idm_wait() { wait_pid=$idm_pid; wait_until "$1" - "$2"; w_rc=$?; wait_pid=""; return $w_rc; }
state_of() { $I idm show "$1" 2>>"$tmp/cli.log" | sed -n 's/.*"State": "\([^"]*\)".*/\1/p'; }
wait_state() { idm_wait "idm show $1: State $2" '[ "$(state_of '"$1"')" = '"$2"' ]'; }
wait_sock() { wait_pid=$2; wait_until "the SE emulator's socket $1" - "[ -S '$1' ]"; w_rc=$?; wait_pid=""; return $w_rc; }
# cli ARGS...: the IDM deployment's CLI; stdout in $tmp/o, stderr in $tmp/err
# and appended to cli.log (checked for sanitizer reports at the end)
cli() { $I "$@" >"$tmp/o" 2>"$tmp/err"; c_rc=$?; cat "$tmp/err" >>"$tmp/cli.log"; return $c_rc; }
q() { sqlite3 "$idm/ferry.db" "$1"; }

HSAKEK=$(hex16); NSKEK=$(hex16); AKEK=$(hex16); ANS=$(hex16); AAS=$(hex16); BKEK=$(hex16); BNS=$(hex16); OPKEK=$(hex16)
idm="$tmp/idm"; acme="$tmp/acme-js"; bolt="$tmp/bolt-js"; out="$tmp/hsa"; out11="$tmp/hsa11"; nsd="$tmp/ns"
mkdir -p "$nsd" && chmod 700 "$nsd"
P_JS=$(port); P_IDM=$(port); P_A=$(port); P_B=$(port)
I="$FERRY -d $idm"; A="$FERRY -d $acme"; B="$FERRY -d $bolt"
AJE=70B3D57ED00A0000; BJE=70B3D57ED00B0000

# maker's batch: SE1 active at acme (findings 1, 6), SE2 unused (maker's, no
# holder), SE3 and SE4 (finding 3), SE5 and SE6 (finding 4), SE7 joined on the
# bootstrap network then retired (findings 5, 1, 2), SE8 free, SE9 acme's,
# SE10 locked (finding 9); othermaker's batch: SE11, LoRaWAN 1.1 (finding 5)
SE1=70B3D57ED0090000; SE2=70B3D57ED0090001; SE3=70B3D57ED0090002; SE4=70B3D57ED0090003
SE5=70B3D57ED0090004; SE6=70B3D57ED0090005; SE7=70B3D57ED0090006; SE8=70B3D57ED0090007
SE9=70B3D57ED0090008; SE10=70B3D57ED0090009; SE11=70B3D57ED0091000
NOSE=70B3D57ED00900FF
{
    "$FERRY" init "$idm" --join-eui 70B3D57ED0000000 --listen "127.0.0.1:$P_JS" &&
    echo "$HSAKEK" | $I kek import hsa-idm && echo "$NSKEK" | $I kek import bootstrap-ns &&
    $I kek generate idm-as && $I peer add 000000 --token-out "$nsd/bootstrap-ns.tok" &&
    echo "$OPKEK" | $I kek import ns:00000A && $I operator add 00000A --kek-label ns:00000A --token-out "$nsd/op.tok" &&
    echo "$AKEK" | $I kek import acme-kek && echo "$BKEK" | $I kek import bolt-kek &&
    "$FERRY" init "$acme" --join-eui $AJE --listen "127.0.0.1:$P_A" &&
    echo "$AKEK" | $A kek import acme-kek && echo "$ANS" | $A kek import acme-ns && echo "$AAS" | $A kek import acme-as &&
    $A peer add 000013 --token-out "$nsd/acme-ns.tok" &&
    "$FERRY" init "$bolt" --join-eui $BJE --listen "127.0.0.1:$P_B" &&
    echo "$BKEK" | $B kek import bolt-kek && echo "$BNS" | $B kek import bolt-ns &&
    $I idm init --ns-token-out "$nsd/idm-ns.tok" --listen "127.0.0.1:$P_IDM" &&
    $I idm config set retry_base 0 poll 1 >/dev/null &&
    $I idm tenant add maker --kind maker --token-out "$tmp/maker.tok" &&
    $I idm tenant add othermaker --kind maker --token-out "$tmp/othermaker.tok" &&
    $I idm tenant add acme --kind customer --token-out "$tmp/acme.tok" &&
    $I idm tenant add bolt --kind customer --token-out "$tmp/bolt.tok" &&
    echo "$HSAKEK" | "$FERRY" hsa personalise --count 10 --out "$out" --kek-label hsa-idm --mac-version 1.0.4 \
        --dev-eui-base 70B3D57ED0090000 && $I idm import "$out/batch.jsonl" --maker maker &&
    echo "$HSAKEK" | "$FERRY" hsa personalise --count 1 --out "$out11" --kek-label hsa-idm --mac-version 1.1 \
        --dev-eui-base 70B3D57ED0091000 && $I idm import "$out11/batch.jsonl" --maker othermaker &&
    $I idm js add acme-js --tenant acme --url "http://127.0.0.1:$P_A" --admin-token-file "$acme/admin.token" \
        --join-eui $AJE --net-id 000013 --kek-label acme-kek --ns-kek-label acme-ns --as-kek-label acme-as &&
    $I idm js add bolt-js --tenant bolt --url "http://127.0.0.1:$P_B" --admin-token-file "$bolt/admin.token" \
        --join-eui $BJE --net-id 000014 --kek-label bolt-kek --ns-kek-label bolt-ns
} >"$tmp/setup.log" 2>&1
check "IDM, acme and bolt deployments; 10 SEs of maker's batch, 1 (LoRaWAN 1.1) of othermaker's; tenants, Join Servers, operator 00000A" \
    '[ $? -eq 0 ] && [ "$(q "SELECT group_concat(maker || '"'"':'"'"' || n) FROM (SELECT maker, count(*) n FROM idm_se GROUP BY maker ORDER BY maker)")" = "maker:10,othermaker:1" ]'
otok() { sed -n "s/.*\"DevEUI\":\"$1\".*:O\([0-9A-F]\{32\}\)\".*/\1/p" "$out/batch.jsonl" "$out11/batch.jsonl"; }
W=$(hex16)      # one wrong owner token, used for every guess
[ "$W" = "$(otok $SE8)" ] && W=00000000000000000000000000000000
cli idm claim $SE1 --owner-token "$(otok $SE1)" --tenant acme && cli idm assign $SE1 &&
    cli idm claim $SE9 --owner-token "$(otok $SE9)" --tenant acme && cli idm lock $SE10
check "acme claims and assigns SE1, claims SE9; the operator locks SE10" '[ $? -eq 0 ]'

$I serve >"$tmp/js.log" 2>&1 &
js_pid=$!; pids="$pids $js_pid"
$A serve >"$tmp/acme.log" 2>&1 &
a_pid=$!; pids="$pids $a_pid"
$B serve >"$tmp/bolt.log" 2>&1 &
b_pid=$!; pids="$pids $b_pid"
$I idm serve >"$tmp/idm.log" 2>&1 &
idm_pid=$!
wait_http "http://127.0.0.1:$P_IDM/healthz" $idm_pid && wait_http "http://127.0.0.1:$P_JS/metrics" $js_pid &&
    wait_http "http://127.0.0.1:$P_A/metrics" $a_pid && wait_http "http://127.0.0.1:$P_B/metrics" $b_pid
check "idm serve, the bootstrap, acme's and bolt's Join Servers answer" '[ $? -eq 0 ]'
kill -0 "$idm_pid" 2>/dev/null && kill -0 "$js_pid" 2>/dev/null ||
    { echo "# idm serve or the bootstrap Join Server is not up: the rest of the test cannot run"; echo "1..$n"; exit 1; }
API="http://127.0.0.1:$P_IDM/api/v1"
# req METHOD PATH TENANT [BODY] -> HTTP status on stdout, the body in $tmp/body
req() {
    curl -s -o "$tmp/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $(cat "$tmp/$3.tok")" \
        -H "Content-Type: application/json" ${4:+--data-binary "$4"} "$API$2"
}
body() { cat "$tmp/body"; }
errof() { jget Error <"$tmp/body"; }
# keep NAME [DEVEUI CODE]: the last body kept as $tmp/k.NAME, to compare
# byte for byte; with DEVEUI, that DevEUI (the one asked about, which the
# operations' answers echo) written as {DevEUI}, and the HTTP status CODE
# on the line after the body
keep() {
    if [ $# -gt 1 ]; then
        { sed "s/$2/{DevEUI}/g" "$tmp/body"; printf '\n%s\n' "$3"; } >"$tmp/k.$1"
    else
        cp "$tmp/body" "$tmp/k.$1"
    fi
}
same() { cmp -s "$tmp/k.$1" "$tmp/k.$2" || { diff "$tmp/k.$1" "$tmp/k.$2" >"$tmp/err"; false; }; }
NOSUCH='{"Error":"no such secure element"}'
NOMATCH='{"Error":"the owner token does not match this DevEUI"}'
claimreq() { req POST /claims "$1" "{\"DevEUI\":\"$2\",\"OwnerToken\":\"$3\"}"; }
# bi TOKENFILE JSON: a Backend Interfaces request to the bootstrap Join
# Server; the answer in $tmp/bi
bi() { curl -s -o "$tmp/bi" -H "Authorization: Bearer $(cat "$1")" --data-binary "$2" "http://127.0.0.1:$P_JS/"; }
bi_get() { jget "$1" <"$tmp/bi"; }
# snap NAME DEVEUI: what a refusal must not change, kept as $tmp/s.NAME:
# `idm show`, the SE's state and maker, its claim, its commands, the audit
# entries of a change (a refused claim's entry is not one), its device and
# sessions on the bootstrap Join Server
snap() {
    {
        $I idm show "$2" 2>&1
        q "SELECT state, maker FROM idm_se WHERE dev_eui = '$2';
           SELECT state, coalesce(tenant_id, ''), coalesce(js_id, ''), op, coalesce(prev_tenant_id, ''), provisioned_at
             FROM idm_claim WHERE dev_eui = '$2';
           SELECT 'cmds', count(*), coalesce(group_concat(seq || state || origin), '') FROM idm_cmd WHERE dev_eui = '$2';
           SELECT 'changes', count(*) FROM idm_audit WHERE subject = '$2'
             AND action NOT IN ('idm.claim.refused', 'idm.claim.locked_out');
           SELECT 'device', count(*) FROM devices WHERE dev_eui = '$2';
           SELECT 'sessions', count(*) FROM sessions WHERE dev_eui = '$2';"
    } >"$tmp/s.$1"
}
# unchanged NAME DEVEUI: the SE is as snap NAME found it
unchanged() { snap "$1.now" "$2" && cmp -s "$tmp/s.$1" "$tmp/s.$1.now" || { diff "$tmp/s.$1" "$tmp/s.$1.now" >"$tmp/err"; false; }; }
audits() { q "SELECT count(*) FROM idm_audit"; }

# ---- SE1: bootstrap join, profile over the air, join on acme's network
"$FERRY" se serve --image "$out/se-$SE1.img" --socket "$tmp/se1.sock" 2>"$tmp/se1.log" &
pids="$pids $!"
wait_sock "$tmp/se1.sock" $!
check "SE1's emulator up (ferry se serve)" '[ $? -eq 0 ]'
t0=$(date +%s)
SOCK="$tmp/se1.sock" node "$NS" join "$nsd/se1.json" "http://127.0.0.1:$P_JS/" "$nsd/bootstrap-ns.tok" "$NSKEK" 000000 >"$tmp/o" 2>"$tmp/err" &&
    wait_state $SE1 profile_pending &&
    SOCK="$tmp/se1.sock" node "$NS" pump "$nsd/se1.json" "http://127.0.0.1:$P_IDM" "$nsd/idm-ns.tok" 80 switched >"$tmp/o" 2>>"$tmp/err" &&
    SOCK="$tmp/se1.sock" node "$CU" join "$nsd/se1a.json" "http://127.0.0.1:$P_A/" "$nsd/acme-ns.tok" "$ANS" "$AAS" 000013 >"$tmp/o" 2>>"$tmp/err" &&
    wait_state $SE1 active_at_customer
rc=$?; cat "$tmp/err" >>"$tmp/cli.log"
check "SE1: bootstrap join, profile over the air, join on acme's network: active at acme ($(($(date +%s) - t0)) s)" '[ $rc -eq 0 ]'
authz_first=$((n + 1))

# ======== finding 5: a RejoinReq type 0 without a session to rejoin from
le() { echo "$1" | sed 's/../& /g' | tr ' ' '\n' | grep . | tac | tr -d '\n'; }
snap f5 $SE11
a0=$(q "SELECT count(*) FROM idm_audit WHERE subject = '$SE11'")
check "finding 5: SE11 (LoRaWAN 1.1, othermaker's) is manufactured, never joined (no session)" \
    '[ "$(state_of $SE11)" = manufactured ] && [ "$(q "SELECT count(*) FROM sessions WHERE dev_eui = '"'$SE11'"'")" = 0 ]'
phy="C000$(le 00000A)$(le $SE11)0000""00000000"   # MHDR rejoin, type 0, NetID, DevEUI, RJcount0 0, MIC 00000000
bi "$nsd/op.tok" "{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"00000A\",\"ReceiverID\":\"70B3D57ED0000000\",\"TransactionID\":7,\"MessageType\":\"RejoinReq\",\"MACVersion\":\"1.1\",\"PHYPayload\":\"$phy\",\"DevEUI\":\"$SE11\",\"DevAddr\":\"0A000001\",\"DLSettings\":\"00\",\"RxDelay\":1}"
cp "$tmp/bi" "$tmp/err"
check "finding 5: operator 00000A's RejoinReq type 0 with MIC 00000000 for SE11: JoinReqFailed, needs a session to rejoin from" \
    '[ "$(bi_get Result.ResultCode)" = JoinReqFailed ] && bi_get Result.Description | grep -q "needs a session to rejoin from"'
check "finding 5: ... no key, no join-accept in the answer" \
    '! grep -qE "NwkSKey|FNwkSIntKey|SNwkSIntKey|NwkSEncKey|AppSKey|SessionKeyID|PHYPayload" "$tmp/bi"'
check "finding 5: ... no session and no rejoin count recorded for SE11" \
    '[ "$(q "SELECT (SELECT count(*) FROM sessions WHERE dev_eui = '"'$SE11'"') + (SELECT count(*) FROM rejoin_counts WHERE dev_eui = '"'$SE11'"')")" = 0 ]'
# a real join of SE7 after it: once idm serve's housekeeping moved SE7 to
# bootstrapped, it has looked at SE11 after the RejoinReq too
"$FERRY" se serve --image "$out/se-$SE7.img" --socket "$tmp/se7.sock" 2>"$tmp/se7.log" &
pids="$pids $!"
wait_sock "$tmp/se7.sock" $! &&
    SOCK="$tmp/se7.sock" node "$NS" join "$nsd/se7.json" "http://127.0.0.1:$P_JS/" "$nsd/bootstrap-ns.tok" "$NSKEK" 000000 >"$tmp/o" 2>"$tmp/err" &&
    wait_state $SE7 bootstrapped
rc=$?; cat "$tmp/err" >>"$tmp/cli.log"
check "finding 5: SE7's real JoinReq (after it) succeeds and idm serve moves SE7 to bootstrapped" '[ $rc -eq 0 ]'
check "finding 5: ... while SE11 stays manufactured, with no audit entry, nothing changed" \
    'unchanged f5 $SE11 && [ "$(state_of $SE11)" = manufactured ] && [ "$(q "SELECT count(*) FROM idm_audit WHERE subject = '"'$SE11'"'")" = "$a0" ]'

# ======== finding 1: a maker reaches only its own SEs, and only while no customer holds them
snap f1 $SE1
code=$(req GET /ses/$SE1 maker)
check "finding 1: maker reads SE1 of its own batch (200, active at acme)" \
    '[ "$code" = 200 ] && grep -q "\"State\":\"active_at_customer\"" "$tmp/body" && grep -q "\"Tenant\":\"acme\"" "$tmp/body"'
code=$(req GET /ses/$SE1 othermaker); keep om-se1
check "finding 1: othermaker reads SE1 (maker's batch): 404 no such secure element" '[ "$code" = 404 ] && [ "$(body)" = "$NOSUCH" ]'
code=$(req GET /ses/$NOSE othermaker); keep om-nose
check "finding 1: ... byte for byte the answer for an unknown DevEUI" '[ "$code" = 404 ] && same om-se1 om-nose'
c1=$(req GET /ses/$SE11 maker); keep m-se11
c2=$(req GET /ses/$SE11 othermaker)
check "finding 1: maker reads SE11 (othermaker's batch): 404 as for no SE; othermaker reads its own SE11: 200" \
    '[ "$c1" = 404 ] && [ "$(cat "$tmp/k.m-se11")" = "$NOSUCH" ] && [ "$c2" = 200 ] && grep -q "\"State\":\"manufactured\"" "$tmp/body"'
for x in "transfer:{\"Tenant\":\"bolt\"}" "renew:{}"; do
    code=$(req POST /ses/$SE1/${x%%:*} maker "${x#*:}"); cp "$tmp/body" "$tmp/err"
    check "finding 1: maker's ${x%%:*} of SE1: 403 ($(body))" '[ "$code" = 403 ] && grep -q "\"Error\":" "$tmp/body"'
done
code=$(req POST /ses/$SE1/assign maker '{"JoinServer":"acme-js"}'); cp "$tmp/body" "$tmp/err"
check "finding 1: maker's assign of SE1: 403 ($(body))" '[ "$code" = 403 ] && grep -q "\"Error\":" "$tmp/body"'
code=$(claimreq maker $SE1 "$(otok $SE1)"); cp "$tmp/body" "$tmp/err"
check "finding 1: maker's claim of SE1, with its right owner token: 403 only a customer tenant claims" \
    '[ "$code" = 403 ] && grep -q "only a customer tenant claims" "$tmp/body"'
code=$(req DELETE /claims/$SE1 maker); cp "$tmp/body" "$tmp/err"
check "finding 1: maker's release of SE1: 403 ($(body))" '[ "$code" = 403 ] && grep -q "\"Error\":" "$tmp/body"'
code=$(req POST /ses/$SE1/relay maker '{"FRMPayload":"","MaxDownlinkPayload":51}'); cp "$tmp/body" "$tmp/err"
check "finding 1: maker's relay for SE1: 403 ($(body))" '[ "$code" = 403 ] && grep -q "\"Error\":" "$tmp/body"'
code=$(req POST /fleet/transfer maker "{\"DevEUIs\":[\"$SE1\"],\"Tenant\":\"bolt\"}"); cp "$tmp/body" "$tmp/err"
check "finding 1: maker's fleet transfer of SE1: the SE's result 403" \
    '[ "$code" = 200 ] && [ "$(jget Results.0.Status <"$tmp/body")" = 403 ] && [ "$(jget Failed <"$tmp/body")" = 1 ]'
code=$(req POST /ses/$SE1/commands maker '{"Payload":"DEADBEEF"}'); cp "$tmp/body" "$tmp/err"
check "finding 1: maker's secure command to SE1, which acme holds: 409 a customer holds the secure element" \
    '[ "$code" = 409 ] && [ "$(errof)" = "a customer holds the secure element" ]'
code=$(req POST /ses/$SE1/return maker '{}'); cp "$tmp/body" "$tmp/err"
check "finding 1: maker's return of SE1 to bootstrap: 409, the same" \
    '[ "$code" = 409 ] && [ "$(errof)" = "a customer holds the secure element" ]'
c1=$(req POST /ses/$SE1/commands othermaker '{"Payload":"DEADBEEF"}'); keep om-cmd-se1 $SE1 $c1; e1=$(errof)
c2=$(req POST /ses/$NOSE/commands othermaker '{"Payload":"DEADBEEF"}'); keep om-cmd-nose $NOSE $c2
check "finding 1: othermaker's secure command to SE1: 404 no such secure element, byte for byte (but the DevEUI it echoes) as for an unknown DevEUI" \
    '[ "$c1" = 404 ] && [ "$e1" = "no such secure element" ] && same om-cmd-se1 om-cmd-nose'
c1=$(req POST /ses/$SE1/transfer othermaker "{\"Tenant\":\"bolt\"}")
check "finding 1: othermaker's transfer of SE1: 403 (decided on the kind of tenant alone)" '[ "$c1" = 403 ]'
check "finding 1: after all these refusals SE1 is unchanged (state, acme's claim, no command, no audit entry of a change)" \
    'unchanged f1 $SE1'
check "finding 1: ... no command and no audit entry by a maker at all" \
    '[ "$(q "SELECT (SELECT count(*) FROM idm_cmd WHERE origin LIKE '"'%maker'"') + (SELECT count(*) FROM idm_audit WHERE actor LIKE '"'tenant:%maker'"')")" = 0 ]'
# maker's own SE7, bootstrapped, which no customer holds
code=$(req POST /ses/$SE7/commands maker '{"Payload":"C0FFEE"}'); cp "$tmp/body" "$tmp/err"
mseq=$(jget Seq <"$tmp/body")
check "finding 1: maker's secure command to its own SE7, which no customer holds: 202 (Seq $mseq), queued as maker's" \
    '[ "$code" = 202 ] && [ -n "$mseq" ] &&
     [ "$(q "SELECT origin FROM idm_cmd WHERE dev_eui = '"'$SE7'"' AND seq = $mseq")" = tenant:maker ]'
code=$(req GET /ses/$SE7/commands/$mseq maker); cp "$tmp/body" "$tmp/err"
check "finding 1: maker reads its command back (200)" '[ "$code" = 200 ] && [ "$(jget Seq <"$tmp/body")" = "$mseq" ]'
c1=$(req GET /ses/$SE7/commands/$mseq othermaker); keep om-cmdget
c2=$(req GET /ses/$SE7/commands/$mseq acme)
c3=$(req POST /ses/$SE7/commands othermaker '{"Payload":"C0FFEE"}')
check "finding 1: othermaker and acme do not read it (404), othermaker queues nothing on SE7 (404)" \
    '[ "$c1" = 404 ] && [ "$(cat "$tmp/k.om-cmdget")" = "$NOSUCH" ] && [ "$c2" = 404 ] && [ "$c3" = 404 ] &&
     [ "$(q "SELECT count(*) FROM idm_cmd WHERE dev_eui = '"'$SE7'"'")" = 1 ]'

# ======== finding 6: after a transfer, the new holder does not read the old holder's commands
code=$(req POST /ses/$SE1/commands acme '{"Payload":"C0FFEE0102"}')
seq=$(jget Seq <"$tmp/body")
check "finding 6: acme queues a secure command for SE1 (202, Seq $seq)" '[ "$code" = 202 ] && [ -n "$seq" ]'
REPLY=0A0B0C SOCK="$tmp/se1.sock" node "$CU" relay "$nsd/se1a.json" "http://127.0.0.1:$P_IDM" "$tmp/acme.tok" 40 quiet:3 >"$tmp/o" 2>"$tmp/err"
rc=$?; cat "$tmp/err" >>"$tmp/cli.log"
code=$(req GET /ses/$SE1/commands/$seq acme); cat "$tmp/o" "$tmp/body" >"$tmp/err"
check "finding 6: relayed through acme's AS to the SE's application; acme reads the SE's reply 0A0B0C" \
    '[ $rc -eq 0 ] && grep -qi "\"secure\":\"C0FFEE0102\"" "$tmp/o" && [ "$code" = 200 ] && grep -q "\"State\":\"done\"" "$tmp/body" && grep -qi "\"Reply\":\"0A0B0C\"" "$tmp/body"'
code=$(req GET /ses/$SE1/commands/$seq bolt); cp "$tmp/body" "$tmp/err"
check "finding 6: bolt before the transfer: 404" '[ "$code" = 404 ] && [ "$(body)" = "$NOSUCH" ]'
code=$(req POST /ses/$SE1/transfer acme '{"Tenant":"bolt"}'); cp "$tmp/body" "$tmp/err"
check "finding 6: acme transfers SE1 to bolt (202); bolt holds it, acme is leaving" \
    '[ "$code" = 202 ] && [ "$(q "SELECT tenant_id || '"'/'"' || prev_tenant_id || '"'/'"' || op FROM idm_claim WHERE dev_eui = '"'$SE1'"'")" = "bolt/acme/transfer" ]'
# the transfer provisions bolt's JS in the request (housekeeping would
# retry); once profile_pending, nothing moves until the SE is reached
wait_state $SE1 profile_pending
snap f6 $SE1
c1=$(req GET /ses/$SE1 bolt)
check "finding 6: bolt, the new holder, reads SE1's status (200)" '[ "$c1" = 200 ] && grep -q "\"Tenant\":\"bolt\"" "$tmp/body"'
code=$(req GET /ses/$SE1/commands/$seq bolt); keep b-old; cp "$tmp/body" "$tmp/err"
check "finding 6: bolt reads acme's command $seq after the transfer: 404 no such secure element" \
    '[ "$code" = 404 ] && [ "$(body)" = "$NOSUCH" ] && ! grep -qi 0A0B0C "$tmp/body"'
code=$(req GET /ses/$SE1/commands/$((seq + 1000)) bolt); keep b-none
check "finding 6: ... byte for byte the answer for a command that does not exist" '[ "$code" = 404 ] && same b-old b-none'
code=$(req GET /ses/$SE1/commands/$seq acme); cp "$tmp/body" "$tmp/err"
check "finding 6: acme, which queued it and is leaving in the transfer, still reads it (200, its reply)" \
    '[ "$code" = 200 ] && grep -qi "\"Reply\":\"0A0B0C\"" "$tmp/body"'
check "finding 6: the command still acme's; nothing changed by the refused read" \
    '[ "$(q "SELECT origin FROM idm_cmd WHERE dev_eui = '"'$SE1'"' AND seq = $seq")" = tenant:acme ] && unchanged f6 $SE1'

# ======== finding 2: a retired SE is revoked
bi "$nsd/bootstrap-ns.tok" "{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"000000\",\"ReceiverID\":\"70B3D57ED0000000\",\"TransactionID\":20,\"MessageType\":\"HomeNSReq\",\"DevEUI\":\"$SE7\"}"
cp "$tmp/bi" "$tmp/err"
check "finding 2: before: SE7 (bootstrapped) has its device row and a session; HomeNSReq Success" \
    '[ "$(bi_get Result.ResultCode)" = Success ] &&
     [ "$(q "SELECT (SELECT count(*) FROM devices WHERE dev_eui = '"'$SE7'"') || '"'/'"' || (SELECT count(*) > 0 FROM sessions WHERE dev_eui = '"'$SE7'"')")" = 1/1 ]'
cli idm retire $SE7
check "finding 2: idm retire SE7: State retired, maker's queued command failed" \
    '[ $c_rc -eq 0 ] && [ "$(state_of $SE7)" = retired ] &&
     [ "$(q "SELECT state FROM idm_cmd WHERE dev_eui = '"'$SE7'"' AND seq = $mseq")" = failed ]'
check "finding 2: ... the bootstrap Join Server's device row and sessions of SE7 are gone" \
    '[ "$(q "SELECT (SELECT count(*) FROM devices WHERE dev_eui = '"'$SE7'"') + (SELECT count(*) FROM sessions WHERE dev_eui = '"'$SE7'"')")" = 0 ] &&
     ! $I device show $SE7 >/dev/null 2>>"$tmp/cli.log"'
jr=$("$FERRY" se join-request --socket "$tmp/se7.sock" 2>>"$tmp/se7.log" | sed -n 's/.*"PHYPayload": *"\([0-9A-Fa-f]*\)".*/\1/p')
bi "$nsd/bootstrap-ns.tok" "{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"000000\",\"ReceiverID\":\"70B3D57ED0000000\",\"TransactionID\":21,\"MessageType\":\"JoinReq\",\"MACVersion\":\"1.0.4\",\"PHYPayload\":\"$jr\",\"DevEUI\":\"$SE7\",\"DevAddr\":\"01020304\",\"DLSettings\":\"00\",\"RxDelay\":1}"
cp "$tmp/bi" "$tmp/err"
check "finding 2: the retired SE's JoinReq (a fresh join-request from the SE): UnknownDevEUI, no key" \
    '[ -n "$jr" ] && [ "$(bi_get Result.ResultCode)" = UnknownDevEUI ] && ! grep -qE "NwkSKey|AppSKey|PHYPayload" "$tmp/bi"'
bi "$nsd/bootstrap-ns.tok" "{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"000000\",\"ReceiverID\":\"70B3D57ED0000000\",\"TransactionID\":22,\"MessageType\":\"HomeNSReq\",\"DevEUI\":\"$SE7\"}"
cp "$tmp/bi" "$tmp/err"
check "finding 2: its HomeNSReq: UnknownDevEUI" '[ "$(bi_get Result.ResultCode)" = UnknownDevEUI ] && ! grep -q HNetID "$tmp/bi"'
bi "$nsd/op.tok" "{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"00000A\",\"ReceiverID\":\"70B3D57ED0000000\",\"TransactionID\":23,\"MessageType\":\"RejoinReq\",\"MACVersion\":\"1.1\",\"PHYPayload\":\"C000$(le 00000A)$(le $SE7)0000""00000000\",\"DevEUI\":\"$SE7\",\"DevAddr\":\"0A000002\",\"DLSettings\":\"00\",\"RxDelay\":1}"
cp "$tmp/bi" "$tmp/err"
check "finding 2: a RejoinReq for it (operator 00000A): UnknownDevEUI, no key" \
    '[ "$(bi_get Result.ResultCode)" = UnknownDevEUI ] && ! grep -qE "NwkSKey|NwkSIntKey|NwkSEncKey|AppSKey|PHYPayload" "$tmp/bi"'
snap f2 $SE7
c1=$(claimreq acme $SE7 "$W"); keep a-ret-wrong
c2=$(claimreq acme $NOSE "$W"); keep a-nose-wrong
check "finding 2: acme claims the retired SE with a wrong token: 403, byte for byte the answer for an unknown DevEUI" \
    '[ "$c1" = 403 ] && [ "$(cat "$tmp/k.a-ret-wrong")" = "$NOMATCH" ] && [ "$c2" = 403 ] && same a-ret-wrong a-nose-wrong'
code=$(claimreq acme $SE7 "$(otok $SE7)"); cp "$tmp/body" "$tmp/err"
check "finding 2: ... with the right token: 409 the secure element is retired" \
    '[ "$code" = 409 ] && [ "$(body)" = "{\"Error\":\"the secure element is retired\"}" ]'
code=$(req POST /ses/$SE7/assign acme '{"JoinServer":"acme-js"}'); cp "$tmp/body" "$tmp/err"
check "finding 2: acme's assign of the retired SE: 404 no such secure element" '[ "$code" = 404 ] && [ "$(body)" = "$NOSUCH" ]'
code=$(req GET /ses/$SE7 acme); c2=$(req GET /ses/$SE7 maker)
check "finding 2: neither acme nor its maker reads the retired SE (404, 404)" '[ "$code" = 404 ] && [ "$c2" = 404 ] && [ "$(body)" = "$NOSUCH" ]'
cli idm claim $SE7 --owner-token "$(otok $SE7)" --tenant acme; r1=$c_rc
cli idm assign $SE7; r2=$c_rc
cli idm assign $SE7 --tenant acme --js acme-js; r3=$c_rc
check "finding 2: the operator's CLI claim for acme and assigns of it are refused too (exit $r1, $r2, $r3)" \
    '[ $r1 -ne 0 ] && [ $r2 -ne 0 ] && [ $r3 -ne 0 ]'
check "finding 2: the retired SE is unchanged: retired, no holder, no claim or assignment audited, no device, no session" \
    'unchanged f2 $SE7 && [ "$(state_of $SE7)" = retired ] &&
     [ "$(q "SELECT count(*) FROM idm_audit WHERE subject = '"'$SE7'"' AND action IN ('"'idm.claim'"', '"'idm.assign'"')")" = 0 ]'

# ======== finding 3: release and refuse leave no holder; unlock gives the SE back to nobody
code=$(claimreq acme $SE3 "$(otok $SE3)")
c2=$(req DELETE /claims/$SE3 acme); cp "$tmp/body" "$tmp/err"
check "finding 3: acme claims SE3 and releases it (200 released)" \
    '[ "$code" = 200 ] && [ "$c2" = 200 ] && [ "$(body)" = "{\"DevEUI\":\"$SE3\",\"Claim\":\"released\"}" ]'
cli idm claim $SE4 --owner-token "$(otok $SE4)" --tenant acme && cli idm refuse $SE4
check "finding 3: acme claims SE4; the operator refuses the claim" '[ $? -eq 0 ]'
claim_of() { q "SELECT state || '/' || coalesce(tenant_id, '') FROM idm_claim WHERE dev_eui = '$1'"; }
check "finding 3: released and refused claims keep no tenant (SE3 released/, SE4 refused/)" \
    '[ "$(claim_of $SE3)" = released/ ] && [ "$(claim_of $SE4)" = refused/ ] &&
     ! $I idm show $SE3 2>/dev/null | grep -q acme && ! $I idm show $SE4 2>/dev/null | grep -q acme'
snap f3 $SE3
c1=$(req GET /ses/$SE3 acme); keep a-rel-get
c2=$(req DELETE /claims/$SE3 acme); keep a-rel-del
check "finding 3: acme no longer reads or releases SE3 (404, 404 no such secure element); nothing changed" \
    '[ "$c1" = 404 ] && [ "$c2" = 404 ] && [ "$(cat "$tmp/k.a-rel-get")" = "$NOSUCH" ] && [ "$(cat "$tmp/k.a-rel-del")" = "$NOSUCH" ] &&
     unchanged f3 $SE3'
cli idm lock $SE3 && cli idm unlock $SE3 && cli idm lock $SE4 && cli idm unlock $SE4
check "finding 3: the operator locks and unlocks SE3 and SE4" '[ $? -eq 0 ]'
check "finding 3: ... unlock gives both back to nobody: released, no tenant" \
    '[ "$(claim_of $SE3)" = released/ ] && [ "$(claim_of $SE4)" = released/ ]'
c1=$(req GET /ses/$SE3 acme); c2=$(req GET /ses/$SE4 acme)
check "finding 3: ... acme, the former holder, does not get them back (404, 404)" '[ "$c1" = 404 ] && [ "$c2" = 404 ]'
c1=$(claimreq bolt $SE3 "$(otok $SE3)"); keep b-se3
c2=$(claimreq bolt $SE4 "$(otok $SE4)"); keep b-se4
check "finding 3: bolt, the buyer with the owner tokens, claims SE3 and SE4 (200, 200)" \
    '[ "$c1" = 200 ] && [ "$c2" = 200 ] && grep -q "\"Claim\":\"claimed\"" "$tmp/k.b-se3" && grep -q "\"Claim\":\"claimed\"" "$tmp/k.b-se4" &&
     [ "$(claim_of $SE3)" = claimed/bolt ] && [ "$(claim_of $SE4)" = claimed/bolt ]'

# ======== finding 4: guesses lock out the guesser only
snap f4a $SE5; snap f4b $SE6
ab=$(audits)
body4=$(node -e 'const [a, b, w] = process.argv.slice(1);
  const bad = ["x", "", "0".repeat(31), "0".repeat(33), "Z".repeat(32)], c = [];
  for (let i = 0; i < 5; i++) { c.push({DevEUI: a, OwnerToken: bad[i]}); c.push({DevEUI: b, OwnerToken: w}); }
  console.log(JSON.stringify({Claims: c}))' $SE5 $SE6 "$W")
code=$(req POST /claims bolt "$body4"); cp "$tmp/body" "$tmp/k.bulk"; cp "$tmp/body" "$tmp/err"
results() { node -e 'const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(d.Results.map(r => r.DevEUI.slice(-2) + "=" + (r.Status || "ok")).join(" "))' "$1"; }
check "finding 4: bolt's bulk claim, 5 malformed tokens for SE5 and 5 wrong ones for SE6: 400 each for SE5, 403 each for SE6" \
    '[ "$code" = 200 ] && [ "$(results "$tmp/k.bulk")" = "04=400 05=403 04=400 05=403 04=400 05=403 04=400 05=403 04=400 05=403" ]'
check "finding 4: ... the malformed ones say what a token is; the wrong ones the one no-match answer" \
    '[ "$(node -e "const d=JSON.parse(require(\"fs\").readFileSync(process.argv[1],\"utf8\")); console.log([...new Set(d.Results.map(r => r.Error))].join(\"|\"))" "$tmp/k.bulk")" = "OwnerToken: 32 hex digits, as on the label|the owner token does not match this DevEUI" ]'
code=$(claimreq bolt $SE5 "not a token"); cp "$tmp/body" "$tmp/err"
check "finding 4: a malformed token in the single form: 400" '[ "$code" = 400 ] && grep -q "32 hex digits" "$tmp/body"'
check "finding 4: wrong tokens counted for (SE6, bolt) only: 5; the malformed ones not at all" \
    '[ "$(q "SELECT group_concat(dev_eui || '"'/'"' || tenant_id || '"'/'"' || failures) FROM idm_claim_failure WHERE dev_eui IN ('"'$SE5'"', '"'$SE6'"')")" = "$SE6/bolt/5" ]'
check "finding 4: ... 5 refusals audited for SE6 (the fifth locks bolt out), none for SE5" \
    '[ "$(q "SELECT count(*) FROM idm_audit WHERE subject = '"'$SE5'"' AND seq > $ab")" = 0 ] &&
     [ "$(q "SELECT group_concat(action) FROM (SELECT action FROM idm_audit WHERE subject = '"'$SE6'"' AND seq > $ab ORDER BY seq)")" = "idm.claim.refused,idm.claim.refused,idm.claim.refused,idm.claim.refused,idm.claim.locked_out" ]'
check "finding 4: ... neither SE locked nor otherwise changed" 'unchanged f4a $SE5 && unchanged f4b $SE6'
c1=$(claimreq bolt $SE6 "$W"); keep b-w6
c2=$(claimreq bolt $SE6 "$(otok $SE6)"); keep b-r6
check "finding 4: bolt, locked out of SE6, gets with the right token byte for byte its wrong-token answer (403)" \
    '[ "$c1" = 403 ] && [ "$c2" = 403 ] && [ "$(cat "$tmp/k.b-r6")" = "$NOMATCH" ] && same b-w6 b-r6'
check "finding 4: ... SE6 not claimed, bolt's count stays 5" \
    'unchanged f4b $SE6 && [ "$(q "SELECT failures FROM idm_claim_failure WHERE dev_eui = '"'$SE6'"' AND tenant_id = '"'bolt'"'")" = 5 ]'
c1=$(claimreq acme $SE5 "$(otok $SE5)"); keep a-5
c2=$(claimreq acme $SE6 "$(otok $SE6)"); keep a-6
check "finding 4: acme, the buyer, claims SE5 and SE6 with the right tokens (200, 200)" \
    '[ "$c1" = 200 ] && [ "$c2" = 200 ] && [ "$(claim_of $SE5)" = claimed/acme ] && [ "$(claim_of $SE6)" = claimed/acme ]'

# ======== finding 9: no oracle
snap f9-8 $SE8; snap f9-9 $SE9; snap f9-10 $SE10
cb=$(q "SELECT count(*) FROM idm_cmd")
for x in free:$SE8 held:$SE9 locked:$SE10 retired:$SE7 unknown:$NOSE; do
    code=$(claimreq bolt ${x#*:} "$W"); keep c9-${x%%:*} ${x#*:} $code
done
cp "$tmp/k.c9-free" "$tmp/err"
check "finding 9: bolt's claim with a wrong token: one answer, byte for byte, for a free, a held, a locked, a retired and an unknown SE (403)" \
    '[ "$(head -1 "$tmp/k.c9-free")" = "$NOMATCH" ] && [ "$(sed -n 2p "$tmp/k.c9-free")" = 403 ] &&
     same c9-free c9-held && same c9-free c9-locked && same c9-free c9-retired && same c9-free c9-unknown'
c1=$(claimreq acme $SE10 "$(otok $SE10)"); cp "$tmp/body" "$tmp/err"
check "finding 9: with the right token the holder of the label learns SE10 is locked (409)" \
    '[ "$c1" = 409 ] && grep -q "locked by the operator" "$tmp/body"'
# ep NAME METHOD SUFFIX [BODY]: bolt's request for acme's SE9 and for the
# unknown DevEUI; status and body of both kept
ep() {
    e=$1
    c1=$(req "$2" "/ses/$SE9$3" bolt "${4:-}"); keep e9-$e-held $SE9 $c1; e1=$(errof)
    c2=$(req "$2" "/ses/$NOSE$3" bolt "${4:-}"); keep e9-$e-unknown $NOSE $c2
    cp "$tmp/k.e9-$e-held" "$tmp/err"
    check "finding 9: bolt's $2 /ses/{DevEUI}$3: 404 no such secure element, byte for byte the same (status and body$(grep -q "{DevEUI}" "$tmp/k.e9-$e-held" && echo ", but the DevEUI it echoes")) for acme's SE9 and an unknown DevEUI" \
        '[ "$c1" = 404 ] && [ "$e1" = "no such secure element" ] && same e9-$e-held e9-$e-unknown'
}
c1=$(req DELETE /claims/$SE9 bolt); keep d9-held $SE9 $c1
c2=$(req DELETE /claims/$NOSE bolt); keep d9-unknown $NOSE $c2
cp "$tmp/k.d9-held" "$tmp/err"
check "finding 9: bolt's release (DELETE /claims/{DevEUI}): 404 no such secure element, byte for byte the same (status and body) for acme's SE9 and an unknown DevEUI" \
    '[ "$(head -1 "$tmp/k.d9-held")" = "$NOSUCH" ] && [ "$(sed -n 2p "$tmp/k.d9-held")" = 404 ] && same d9-held d9-unknown'
ep get GET ""
ep assign POST /assign '{"JoinServer":"bolt-js"}'
ep command POST /commands '{"Payload":"00"}'
ep cmdget GET /commands/1
ep transfer POST /transfer '{"Tenant":"bolt"}'
ep renew POST /renew '{}'
ep return POST /return '{}'
ep relay POST /relay '{"FRMPayload":"","MaxDownlinkPayload":51}'
code=$(req POST /fleet/commands bolt "{\"DevEUIs\":[\"$SE9\",\"$NOSE\"],\"Payload\":\"00\"}"); cp "$tmp/body" "$tmp/err"
check "finding 9: bolt's fleet command to acme's SE9 and an unknown DevEUI: the two results differ only in the DevEUI (404)" \
    '[ "$code" = 200 ] && node -e "const d = JSON.parse(require(\"fs\").readFileSync(process.argv[1], \"utf8\"));
        const [a, b] = d.Results.map(r => { const o = Object.assign({}, r); delete o.DevEUI; return JSON.stringify(o); });
        process.exit(d.Results.length === 2 && a === b && d.Results[0].Status === 404 ? 0 : 1)" "$tmp/body"'
c1=$(req GET /ses/$SE9 othermaker); keep om9; c2=$(req GET /ses/$NOSE othermaker); keep omn
check "finding 9: othermaker's read of SE9 (maker's) and of an unknown DevEUI: the same 404" '[ "$c1" = 404 ] && [ "$c2" = 404 ] && same om9 omn'
check "finding 9: after all that, SE8 free, SE9 acme's, SE10 locked, all unchanged; no command queued" \
    'unchanged f9-8 $SE8 && unchanged f9-9 $SE9 && unchanged f9-10 $SE10 && [ "$(q "SELECT count(*) FROM idm_cmd")" = "$cb" ]'

authz_n=$((n - authz_first + 1))
$I idm audit verify >"$tmp/o" 2>>"$tmp/cli.log"
check "the audit chain verifies" '[ $? -eq 0 ] && grep -q "\"ok\": true" "$tmp/o"'
kill "$idm_pid" 2>/dev/null; wait "$idm_pid" 2>/dev/null; rc=$?; idm_pid=""
check "idm serve stops cleanly on SIGTERM" '[ $rc -eq 0 ]'
# every other process stopped too, so that what a sanitizer says at exit
# (leaks) is in the logs
for p in $pids; do kill "$p" 2>/dev/null; done
for p in $pids; do wait "$p" 2>/dev/null; done
pids=""
grep -lE "ERROR: (Address|Leak)Sanitizer|runtime error" "$tmp"/*.log "$tmp"/s.* >"$tmp/err" 2>/dev/null
check "no sanitizer report in any log (servers, SE emulators, CLI)" '[ ! -s "$tmp/err" ]'

echo "# $authz_n of them in the groups of findings 1-9; $(($(date +%s) - t_start)) s"
echo "# authorization cases: $n"
echo "1..$n"
[ "$failed" -eq 0 ]
