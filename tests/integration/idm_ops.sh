#!/bin/sh
# idm_ops.sh - the Identity Manager's operations after the first profile,
# with the real pieces on loopback:
#   - an IDM deployment (bootstrap Join Server `serve`, `idm serve`) and two
#     customer Join Servers, acme and bolt, each its own `ferry init`
#     deployment and SoftHSM2 token;
#   - 2 SEs personalised by `ferry hsa personalise`, imported, claimed by
#     acme, bootstrapped through idm_ns.js (the bootstrap network), joined
#     on acme's network through idm_cust.js (acme's NS and AS: it holds the
#     AppSKey of the customer session and relays MLS on FPort 200 to the IDM);
#   - uplinks decrypted by the customer; a secure command round trip, and
#     one to a fleet;
#   - key renewal: RENEW relayed through acme's AS, the new keys on acme's
#     JS only after the SE acknowledged them, a join with them;
#   - a renewal started by the policy's maximum key age that never joins:
#     the SE falls back to its old keys, the IDM
#     puts them back on the JS after the deadline, the SE joins again;
#   - fleet transfer of SE1 from acme to bolt (REST): bolt's JS provisioned,
#     the profile relayed through acme's AS, the SE joins bolt; then acme's
#     JS no longer knows it (acme cannot join it), acme's token sees nothing;
#   - a transfer of SE2 to bolt whose network is down: the SE falls back to
#     acme's profile, says so through acme's AS, the IDM abandons the
#     transfer and deletes bolt's device;
#   - return to bootstrap of SE1 (bolt): the SE erases its customer profile
#     and joins the bootstrap JS again; the claim is released, bolt's JS
#     forgets it;
#   - isolation between tenants, the audit chain, and no key in clear in any
#     deployment or log;
#   - the IDM's settings changed by `idm config set` (refusals leave idm.conf
#     as it was) and its state read by `idm status`, never by sed or sqlite3.
# Prints TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib/common.sh"
NS="$here/idm_ns.js"
CU="$here/idm_cust.js"
need_node
make_tmp idm-ops
# every server logs into $tmp/*.log: shown when a wait times out
watch_log "$tmp"
# idm_wait DESC CONDITION: wait_until, idm serve's pid watched (its
# housekeeping makes the change: a dead idm serve fails the wait at once)
idm_wait() { wait_pid=$idm_pid; wait_until "$1" - "$2"; w_rc=$?; wait_pid=""; return $w_rc; }
state_is() { $I idm show "$1" 2>/dev/null | grep -q "\"State\": \"$2\""; }
wait_state() { idm_wait "idm show $1: State $2" "state_is $1 $2"; }
# gone CMD DEVEUI: until a Join Server no longer knows the device (idm
# serve's housekeeping deletes it)
gone() { idm_wait "$1 device show $2: not found" "! $1 device show $2 >/dev/null 2>&1"; }
# wait_sock SOCKET PID: an SE emulator's Unix socket, its process watched
wait_sock() { wait_pid=$2; wait_until "the SE emulator's socket $1" - "[ -S '$1' ]"; w_rc=$?; wait_pid=""; return $w_rc; }

HSAKEK=$(hex16); NSKEK=$(hex16); AKEK=$(hex16); ANS=$(hex16); AAS=$(hex16); BKEK=$(hex16); BNS=$(hex16); BAS=$(hex16)
idm="$tmp/idm"; acme="$tmp/acme-js"; bolt="$tmp/bolt-js"; out="$tmp/hsa"; nsd="$tmp/ns"
mkdir -p "$nsd" && chmod 700 "$nsd"
P_JS=$(port); P_IDM=$(port); P_A=$(port); P_B=$(port)
I="$FERRY -d $idm"; A="$FERRY -d $acme"; B="$FERRY -d $bolt"
AJE=70B3D57ED00A0000; BJE=70B3D57ED00B0000

{
    idm_deployment "$idm" 70B3D57ED0000000 $P_JS "$HSAKEK" "$NSKEK" "$nsd/bootstrap-ns.tok" &&
    echo "$AKEK" | $I kek import acme-kek && echo "$BKEK" | $I kek import bolt-kek &&
    customer_js acme "$acme" $AJE $P_A "$AKEK" "$ANS" "$AAS" 000013 "$nsd/acme-ns.tok" &&
    customer_js bolt "$bolt" $BJE $P_B "$BKEK" "$BNS" "$BAS" 000014 "$nsd/bolt-ns.tok" &&
    echo "$HSAKEK" | "$FERRY" hsa personalise --count 2 --out "$out" --kek-label hsa-idm --mac-version 1.0.4 \
        --dev-eui-base 70B3D57ED0050000 --mls-message-max 256 && $I idm import "$out/batch.jsonl" &&
    $I idm init --ns-token-out "$nsd/idm-ns.tok" --listen "127.0.0.1:$P_IDM" &&
    $I idm config set retry_base 0 poll 1 max_join_attempts 2 >/dev/null &&
    $I idm tenant add maker --kind maker --token-out "$tmp/maker.tok" &&
    idm_customer acme "http://127.0.0.1:$P_A" "$acme" $AJE 000013 "$tmp/acme.tok" &&
    idm_customer bolt "http://127.0.0.1:$P_B" "$bolt" $BJE 000014 "$tmp/bolt.tok"
} >"$tmp/setup.log" 2>"$tmp/err"
check "IDM, acme and bolt deployments (three tokens), 2 SEs imported, tenants and both Join Servers" '[ $? -eq 0 ]'
SE1=70B3D57ED0050000; SE2=70B3D57ED0050001
otok() { sed -n "s/.*\"DevEUI\":\"$1\".*:O\([0-9A-F]\{32\}\)\".*/\1/p" "$out/batch.jsonl"; }
$I idm claim $SE1 --owner-token "$(otok $SE1)" --tenant acme >/dev/null 2>"$tmp/err" &&
    $I idm claim $SE2 --owner-token "$(otok $SE2)" --tenant acme >/dev/null 2>>"$tmp/err" &&
    $I idm assign $SE1 >/dev/null 2>>"$tmp/err" && $I idm assign $SE2 >/dev/null 2>>"$tmp/err"
check "acme claims and assigns both SEs" '[ $? -eq 0 ]'
# ---- the IDM's settings and state through the CLI only (idm_core: no sed on idm.conf, no sqlite3)
cp "$idm/idm.conf" "$tmp/idm.conf.before"
$I idm config set poll 0 >/dev/null 2>"$tmp/err"; rc=$?
$I idm config set retry_base 2 no_such_key 1 >/dev/null 2>>"$tmp/err"; rc2=$?
check "idm config set refuses a bad value or an unknown key (exit 2, the key named) and leaves idm.conf as it was" \
    '[ $rc -eq 2 ] && [ $rc2 -eq 2 ] && grep -q "poll: bad value" "$tmp/err" && grep -q "no_such_key: not a key" "$tmp/err" &&
     cmp -s "$idm/idm.conf" "$tmp/idm.conf.before" && [ ! -e "$idm/idm.conf.tmp" ]'
$I idm config set tls_cert cert.pem >/dev/null 2>"$tmp/err"; rc=$?
check "idm config set refuses a file that would not load (tls_cert without tls_key), idm.conf unchanged" \
    '[ $rc -eq 1 ] && grep -q "tls_cert and tls_key go together" "$tmp/err" && cmp -s "$idm/idm.conf" "$tmp/idm.conf.before"'
$I idm config show >"$tmp/o" 2>"$tmp/err"
check "idm config show: the values set by idm config set (retry_base 0, poll 1, max_join_attempts 2), 0600 kept" \
    '[ $? -eq 0 ] && grep -q "\"retry_base\": 0" "$tmp/o" && grep -q "\"poll\": 1" "$tmp/o" &&
     grep -q "\"max_join_attempts\": 2" "$tmp/o" && [ "$(stat -c %a "$idm/idm.conf")" = 600 ]'
printf '# both SEs and one the IDM does not hold\n%s\n\n%s\n0000000000000001\n' $SE1 $SE2 >"$tmp/ses.txt"
$I idm status --file "$tmp/ses.txt" >"$tmp/o" 2>"$tmp/err"; rc=$?
check "idm status --file: both SEs claimed by acme, the unknown one named, exit 1" \
    '[ $rc -eq 1 ] && grep -q "\"Found\": 2" "$tmp/o" && grep -q "\"Missing\": 1" "$tmp/o" &&
     [ "$(grep -c "\"Tenant\": \"acme\"" "$tmp/o")" = 2 ] && grep -q "no such secure element" "$tmp/o"'
# No fleet size a user meets as a surprise: 2,500 DevEUIs from stdin, 1,500
# more as arguments (the old limit was 1,000 either way); none held, each
# answered. Nothing is queued for an SE the IDM does not hold.
awk 'BEGIN { for (i = 0; i < 2500; i++) printf "%016X\n", 4096 + i }' >"$tmp/many.txt"
$I idm renew --file - <"$tmp/many.txt" >"$tmp/o" 2>"$tmp/err"; rc=$?
check "idm renew --file - (2,500 DevEUIs on stdin): every one answered, all refused as unknown, exit 1" \
    '[ $rc -eq 1 ] && grep -q "\"Failed\": 2500" "$tmp/o" && grep -q "\"Done\": 0" "$tmp/o" && [ "$(grep -c "\"DevEUI\"" "$tmp/o")" = 2500 ]'
# shellcheck disable=SC2046
$I idm status $(head -n 1500 "$tmp/many.txt") >"$tmp/o" 2>"$tmp/err"; rc=$?
check "idm status with 1,500 DevEUIs as arguments: all answered (Missing 1500)" '[ $rc -eq 1 ] && grep -q "\"Missing\": 1500" "$tmp/o"'
printf '%s\nnot-a-deveui\n' $SE1 >"$tmp/bad.txt"
$I idm renew --file "$tmp/bad.txt" --tenant acme >"$tmp/o" 2>"$tmp/err"; rc=$?
check "a bad line in --file is named (file and line) and nothing is queued" \
    '[ $rc -eq 2 ] && grep -q "bad.txt line 2" "$tmp/err" && [ ! -s "$tmp/o" ]'
"$FERRY" -d "$tmp/nowhere" idm status $SE1 >/dev/null 2>"$tmp/err"; rc=$?
check "a command on a directory that is no deployment says so" '[ $rc -eq 1 ] && grep -q "no such directory" "$tmp/err"'

$I serve >"$tmp/js.log" 2>&1 &
js_pid=$!; pids="$pids $js_pid"
$A serve >"$tmp/acme.log" 2>&1 &
a_pid=$!; pids="$pids $a_pid"
$B serve >"$tmp/bolt.log" 2>&1 &
b_pid=$!; pids="$pids $b_pid"
$I idm serve >>"$tmp/idm.log" 2>&1 &
idm_pid=$!
wait_http "http://127.0.0.1:$P_IDM/healthz" $idm_pid
check "idm serve answers /healthz" '[ $? -eq 0 ]'
wait_http "http://127.0.0.1:$P_JS/metrics" $js_pid && wait_http "http://127.0.0.1:$P_A/metrics" $a_pid &&
    wait_http "http://127.0.0.1:$P_B/metrics" $b_pid
check "the bootstrap, acme and bolt Join Servers answer /metrics" '[ $? -eq 0 ]'
API="http://127.0.0.1:$P_IDM/api/v1"
req() { # METHOD PATH TOKENFILE [BODY] -> status on stdout, body in $tmp/body
    curl -s -o "$tmp/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $(cat "$3")" ${4:+--data-binary "$4"} "$API$2"
}
se_ok=0
for s in 1 2; do
    "$FERRY" se serve --image "$out/se-$(eval echo \$SE$s).img" --socket "$tmp/se$s.sock" 2>"$tmp/se$s.log" &
    pids="$pids $!"
    wait_sock "$tmp/se$s.sock" $! || se_ok=1
done
check "SE emulators 1 and 2 up (ferry se serve)" '[ $se_ok -eq 0 ]'
boot() { SOCK="$tmp/se$1.sock" node "$NS" join "$nsd/se$1.json" "http://127.0.0.1:$P_JS/" "$nsd/bootstrap-ns.tok" "$NSKEK" 000000; }
pump() { SOCK="$tmp/se$1.sock" node "$NS" pump "$nsd/se$1.json" "http://127.0.0.1:$P_IDM" "$nsd/idm-ns.tok" "$2" ${3:-}; }
ajoin() { SOCK="$tmp/se$1.sock" node "$CU" join "$nsd/se$1a.json" "http://127.0.0.1:$P_A/" "$nsd/acme-ns.tok" "$ANS" "$AAS" 000013; }
bjoin() { SOCK="$tmp/se$1.sock" node "$CU" join "$nsd/se$1b.json" "http://127.0.0.1:$P_B/" "$nsd/bolt-ns.tok" "$BNS" "$BAS" 000014; }
arelay() { SOCK="$tmp/se$1.sock" node "$CU" relay "$nsd/se$1a.json" "http://127.0.0.1:$P_IDM" "$tmp/$2.tok" "$3" "$4"; }
brelay() { SOCK="$tmp/se$1.sock" node "$CU" relay "$nsd/se$1b.json" "http://127.0.0.1:$P_IDM" "$tmp/$2.tok" "$3" "$4"; }

# ---- both SEs: bootstrap, profile, acme's network
for s in 1 2; do
    # idm serve's housekeeping (every `poll` s) queues the profile once the
    # bootstrap join was served: the pump's rounds then only count deliveries
    boot $s >"$tmp/o" 2>"$tmp/err" && wait_state $(eval echo \$SE$s) profile_pending && pump $s 80 switched >"$tmp/o" 2>>"$tmp/err" && ajoin $s >"$tmp/o" 2>>"$tmp/err"
    check "SE$s: bootstrap join, profile over the air, join on acme's network" '[ $? -eq 0 ] && grep -q $AJE "$tmp/o"'
    check "IDM: SE$s active at customer" 'wait_state $(eval echo \$SE$s) active_at_customer'
done
SOCK="$tmp/se1.sock" node "$CU" uplink "$nsd/se1a.json" 48656C6C6F >"$tmp/o" 2>"$tmp/err"
check "an application uplink of SE1 is decrypted by acme's AS with the AppSKey from acme's JS" \
    '[ $? -eq 0 ] && grep -q "\"decrypted\":\"48656C6C6F\"" "$tmp/o"'

# ---- a secure command, relayed through acme's AS
check "bolt cannot send a command to acme's SE (404)" '[ "$(req POST /ses/$SE1/commands "$tmp/bolt.tok" "{\"Payload\":\"00\"}")" = 404 ]'
check "bolt cannot relay for acme's SE (404)" '[ "$(req POST /ses/$SE1/relay "$tmp/bolt.tok" "{\"FRMPayload\":\"\",\"MaxDownlinkPayload\":51}")" = 404 ]'
# The SEs were personalised as firmware taking MLS messages of 256 bytes at
# most (--mls-message-max 256, MLSMessageMax in the batch): a command that
# would seal larger is refused before any MLS counter is spent.
big=$(awk 'BEGIN { for (i = 0; i < 241; i++) printf "AB" }')
code=$(req POST /ses/$SE1/commands "$tmp/acme.tok" "{\"Payload\":\"$big\"}")
check "a secure command larger than the SE's MLSMessageMax (256) is refused: 413, saying the limit" \
    '[ "$code" = 413 ] && grep -q "at most 256 bytes" "$tmp/body"'
$I idm command $SE1 --payload "$big" --tenant acme >"$tmp/o" 2>"$tmp/err"
check "... and by the CLI (exit 1, the limit named)" '[ $? -eq 1 ] && grep -q "at most 256 bytes" "$tmp/o"'
code=$(req POST /ses/$SE1/commands "$tmp/acme.tok" '{"Payload":"C0FFEE0102"}')
seq=$(jget Seq <"$tmp/body")
check "acme queues a secure command for SE1 (202, Seq $seq)" '[ "$code" = 202 ] && [ -n "$seq" ]'
REPLY=0A0B0C arelay 1 acme 40 quiet:3 >"$tmp/o" 2>"$tmp/err"
check "the SE's application receives it through acme's network, end to end" \
    '[ $? -eq 0 ] && grep -qi "\"secure\":\"C0FFEE0102\"" "$tmp/o"'
code=$(req GET /ses/$SE1/commands/$seq "$tmp/acme.tok")
check "the application's reply comes back: command done, Reply 0A0B0C" \
    '[ "$code" = 200 ] && grep -q "\"State\":\"done\"" "$tmp/body" && grep -qi "\"Reply\":\"0A0B0C\"" "$tmp/body"'

# ---- a secure command to a fleet (CLI, as acme), each SE answering through acme's AS
$I idm command $SE1 $SE2 0000000000000002 --payload 5EC0 --tenant acme >"$tmp/fleet" 2>"$tmp/err"
check "fleet command: queued for SE1 and SE2, the unknown DevEUI refused, exit 1" \
    '[ $? -eq 1 ] && grep -q "\"Done\": 2" "$tmp/fleet" && grep -q "\"Failed\": 1" "$tmp/fleet"'
REPLY=01 arelay 1 acme 40 quiet:3 >"$tmp/o" 2>"$tmp/err" && REPLY=02 arelay 2 acme 40 quiet:3 >>"$tmp/o" 2>>"$tmp/err"
check "both SEs' applications get 5EC0 and answer" '[ $? -eq 0 ] && [ $(grep -ci "\"secure\":\"5EC0\"" "$tmp/o") -eq 2 ]'
s2=$(node -e 'const o=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));process.stdout.write(String(o.Results[1].Seq))' "$tmp/fleet")
$I idm command-show $SE2 "$s2" >"$tmp/o" 2>"$tmp/err"
check "command-show: SE2's command done with its reply" '[ $? -eq 0 ] && grep -q "\"State\": \"done\"" "$tmp/o" && grep -qi "\"Reply\": \"02\"" "$tmp/o"'

# ---- key renewal of SE1 (CLI, as acme)
$A device show $SE1 >"$tmp/before" 2>"$tmp/err"
$I idm renew $SE1 --tenant bolt >"$tmp/o" 2>"$tmp/err"
check "bolt cannot renew acme's SE" '[ $? -eq 1 ] && grep -q "no such secure element" "$tmp/o"'
$I idm renew $SE1 --tenant acme >"$tmp/o" 2>"$tmp/err"
check "acme renews SE1's keys: RENEW queued" '[ $? -eq 0 ] && grep -q "\"Done\": 1" "$tmp/o" && state_is $SE1 profile_pending'
$A device show $SE1 >"$tmp/mid" 2>"$tmp/err"
check "acme's JS still holds the old keys while the SE has not acknowledged the new ones" 'cmp -s "$tmp/before" "$tmp/mid"'
arelay 1 acme 60 switched >"$tmp/o" 2>"$tmp/err"
check "RENEW relayed through acme's AS; the SE switches to the new keys (on trial)" '[ $? -eq 0 ]'
check "IDM: the acknowledged keys went to acme's JS (profile_delivered)" 'wait_state $SE1 profile_delivered'
ajoin 1 >"$tmp/o" 2>"$tmp/err"
check "SE1 joins acme's JS with the renewed keys" '[ $? -eq 0 ]'
check "IDM: SE1 active at customer again, renewal confirmed" 'wait_state $SE1 active_at_customer && $I idm show $SE1 | grep -q "\"Update\": \"\""'

# ---- a renewal by the policy's maximum key age, that never joins: the old keys come back
restart_idm() {
    kill "$idm_pid"; wait "$idm_pid" 2>/dev/null
    $I idm serve >>"$tmp/idm.log" 2>&1 &
    idm_pid=$!
    wait_http "http://127.0.0.1:$P_IDM/healthz" $idm_pid || notok "idm serve restarted answers /healthz"
}
# A sleep, not a wait: a minimum elapsed time, so that both SEs' keys are
# older than max_key_age = 1 s when idm serve starts with it.
sleep 1
$I idm config set max_key_age 1 >/dev/null
restart_idm
check "max_key_age: idm serve renews the fleet's keys by itself (both SEs, actor idm-policy)" \
    'wait_state $SE2 profile_pending && wait_state $SE1 profile_pending &&
     idm_wait "idm.log: $SE2: keys older than max_key_age" "grep -q \"$SE2: keys older than max_key_age\" \"$tmp/idm.log\""'
$I idm config set max_key_age 0 >/dev/null
restart_idm
arelay 1 acme 60 switched >"$tmp/o" 2>"$tmp/err" && ajoin 1 >"$tmp/o" 2>>"$tmp/err"
check "SE1's policy renewal completes: relayed, joined with the new keys, active again" '[ $? -eq 0 ] && wait_state $SE1 active_at_customer'
arelay 2 acme 60 switched >"$tmp/o" 2>>"$tmp/err"
check "SE2: renewal delivered through acme's AS, SE on trial with the new keys" '[ $? -eq 0 ] && wait_state $SE2 profile_delivered'
$I idm config set delivery_deadline 4 >/dev/null
restart_idm
"$FERRY" se join-request --socket "$tmp/se2.sock" >/dev/null 2>"$tmp/err" &&
    "$FERRY" se join-request --socket "$tmp/se2.sock" >/dev/null 2>>"$tmp/err"
check "SE2's network is unreachable: two join-requests unanswered, the trial falls back to the old keys" '[ $? -eq 0 ]'
check "IDM: no join within the deadline, the old keys back on acme's JS (update_failed)" 'wait_state $SE2 active_at_customer'
ajoin 2 >"$tmp/o" 2>"$tmp/err"
check "SE2 joins acme's JS with its old keys: never bricked" '[ $? -eq 0 ]'
$I idm config set delivery_deadline 86400 >/dev/null
restart_idm

# ---- fleet transfer of SE1 from acme to bolt (REST, acme's token)
code=$(req POST /fleet/transfer "$tmp/bolt.tok" "{\"DevEUIs\":[\"$SE1\"],\"Tenant\":\"bolt\"}")
check "bolt cannot take acme's SE by a transfer (404 for that SE)" '[ "$code" = 200 ] && grep -q "\"Failed\":1" "$tmp/body" && grep -q "\"Status\":404" "$tmp/body"'
code=$(req POST /fleet/transfer "$tmp/acme.tok" "{\"DevEUIs\":[\"$SE1\",\"0000000000000001\"],\"Tenant\":\"bolt\"}")
check "acme transfers its fleet to bolt: SE1 queued, an unknown DevEUI refused, one result each" \
    '[ "$code" = 200 ] && grep -q "\"Done\":1" "$tmp/body" && grep -q "\"Failed\":1" "$tmp/body"'
# bolt's JS is provisioned in the request; housekeeping retries if it failed
idm_wait "SE1 profile_pending and on bolt's JS" 'state_is $SE1 profile_pending && $B device show $SE1 >/dev/null 2>&1'
check "IDM: SE1 profile_pending for bolt; bolt's JS provisioned first" \
    'state_is $SE1 profile_pending && $B device show $SE1 >/dev/null 2>&1 && $A device show $SE1 >/dev/null 2>&1'
arelay 1 acme 80 switched >"$tmp/o" 2>"$tmp/err"
check "the new profile travels through acme's AS (the network SE1 is on); SE1 switches" '[ $? -eq 0 ]'
bjoin 1 >"$tmp/o" 2>"$tmp/err"
check "SE1 joins bolt's network" '[ $? -eq 0 ] && grep -q $BJE "$tmp/o"'
check "IDM: SE1 active at bolt" 'wait_state $SE1 active_at_customer && $I idm show $SE1 | grep -q "\"Tenant\": \"bolt\""'
gone "$A" $SE1
check "acme's JS forgot SE1 once bolt's JS confirmed the join" '! $A device show $SE1 >/dev/null 2>&1'
SOCK="$tmp/se1.sock" node "$CU" join "$nsd/x.json" "http://127.0.0.1:$P_A/" "$nsd/acme-ns.tok" "$ANS" "$AAS" 000013 >"$tmp/o" 2>"$tmp/err"
check "acme can no longer join SE1" '[ $? -ne 0 ]'
bjoin 1 >"$tmp/o" 2>"$tmp/err"
check "bolt still can" '[ $? -eq 0 ]'
check "acme's token no longer sees SE1 (404); bolt's does" \
    '[ "$(req GET /ses/$SE1 "$tmp/acme.tok")" = 404 ] && [ "$(req GET /ses/$SE1 "$tmp/bolt.tok")" = 200 ]'

# ---- a transfer to a network that is down: fallback, transfer abandoned
code=$(req POST /ses/$SE2/transfer "$tmp/acme.tok" '{"Tenant":"bolt","JoinServer":"bolt-js"}')
check "acme transfers SE2 to bolt (202)" '[ "$code" = 202 ] && state_is $SE2 profile_pending'
arelay 2 acme 80 switched >"$tmp/o" 2>"$tmp/err"
check "SE2 gets bolt's profile through acme's AS and switches" '[ $? -eq 0 ]'
"$FERRY" se join-request --socket "$tmp/se2.sock" >/dev/null 2>"$tmp/err" &&
    "$FERRY" se join-request --socket "$tmp/se2.sock" >/dev/null 2>>"$tmp/err" && ajoin 2 >"$tmp/o" 2>>"$tmp/err"
check "bolt's network is down: after 2 joins SE2 falls back to acme's profile and joins acme" '[ $? -eq 0 ] && grep -q $AJE "$tmp/o"'
arelay 2 acme 30 quiet:3 >"$tmp/o" 2>"$tmp/err"
check "SE2's fallback event reaches the IDM through acme's AS: transfer abandoned, SE2 active at acme" \
    'wait_state $SE2 active_at_customer && $I idm show $SE2 | grep -q "\"Tenant\": \"acme\""'
gone "$B" $SE2
check "bolt's JS forgot SE2; acme's JS still has it" '! $B device show $SE2 >/dev/null 2>&1 && $A device show $SE2 >/dev/null 2>&1'

# ---- return to bootstrap of SE1 (bolt)
code=$(req POST /ses/$SE1/return "$tmp/acme.tok")
check "acme cannot send bolt's SE back to bootstrap (404)" '[ "$code" = 404 ]'
code=$(req POST /ses/$SE1/return "$tmp/bolt.tok")
check "bolt sends SE1 back to bootstrap (202)" '[ "$code" = 202 ]'
brelay 1 bolt 60 switched >"$tmp/o" 2>"$tmp/err"
check "BOOTSTRAP relayed through bolt's AS; SE1 leaves bolt's network" '[ $? -eq 0 ]'
check "IDM: returned_to_bootstrap, claim released" 'wait_state $SE1 returned_to_bootstrap && $I idm show $SE1 | grep -q "\"Claim\": \"released\""'
"$FERRY" se info --socket "$tmp/se1.sock" >"$tmp/o" 2>"$tmp/err"
check "SE1 is on its bootstrap profile" 'grep -q "\"ActiveSlot\": 0" "$tmp/o"'
gone "$B" $SE1
check "bolt's JS forgot SE1" '! $B device show $SE1 >/dev/null 2>&1'
boot 1 >"$tmp/o" 2>"$tmp/err"
check "SE1 joins the bootstrap JS again; IDM: bootstrapped" '[ $? -eq 0 ] && wait_state $SE1 bootstrapped'

# ---- retire
$I idm retire $SE1 >"$tmp/o" 2>"$tmp/err"
check "retire SE1: state retired" '[ $? -eq 0 ] && state_is $SE1 retired'
$I idm renew $SE1 >"$tmp/o" 2>"$tmp/err"
check "a retired SE accepts no operation" '[ $? -eq 1 ]'

$I idm audit verify >"$tmp/o" 2>"$tmp/err"
check "audit chain verifies" '[ $? -eq 0 ] && grep -q "\"ok\": true" "$tmp/o"'
if command -v sqlite3 >/dev/null 2>&1; then
    r=$(sqlite3 "$idm/ferry.db" "SELECT count(*) FROM idm_audit WHERE action IN ('idm.se.transfer_requested','idm.se.update_failed','idm.se.return_requested','idm.js.device_deleted')")
    check "audit: transfers, the undone updates, the return and the deletions on the JSs are recorded ($r)" '[ "$r" -ge 6 ]'
fi

kill "$idm_pid" 2>/dev/null; wait "$idm_pid" 2>/dev/null; idm_pid=""
for p in $pids; do kill "$p" 2>/dev/null; done
for p in $pids; do wait "$p" 2>/dev/null; done
pids=""

scan="$idm $acme $bolt $tmp/idm.log $tmp/js.log $tmp/acme.log $tmp/bolt.log $tmp/setup.log"
keys="$HSAKEK $NSKEK $AKEK $ANS $AAS $BKEK $BNS $BAS"
for f in "$nsd"/se*.json; do keys="$keys $(jget nwkSKey <"$f") $(jget appSKey <"$f")"; done
hit=""
for k in $keys $(cat "$acme/admin.token") $(cat "$bolt/admin.token"); do
    [ -n "$k" ] || continue
    lk=$(echo "$k" | tr 'A-F' 'a-f'); uk=$(echo "$k" | tr 'a-f' 'A-F')
    f=$(grep -rlaF -e "$lk" -e "$uk" $scan 2>/dev/null | grep -v "admin.token" | head -1)
    [ -n "$f" ] && hit="$hit $f"
done
check "no known key, session key or admin token in clear in the three deployments or the logs" '[ -z "$hit" ] || { echo "# found in:$hit"; false; }'

echo "1..$n"
[ "$failed" -eq 0 ]
