#!/bin/sh
# lab_as.sh - the lab application server (`ferry lab as`, docs/lab-as.md)
# as a customer's AS, with every piece of the customer network a real
# process on loopback:
#   - an IDM deployment (bootstrap Join Server `serve`, `idm serve`) and the
#     customer acme's Join Server (its own `ferry init` deployment), the
#     IDM's `idm js add ... --as-kek-label acme-as`, acme's JS holding that
#     KEK (`kek import acme-as`) and the AS holding the same hex;
#   - one SE personalised by `ferry hsa personalise`, imported, claimed by
#     acme, bootstrapped through idm_ns.js (the bootstrap network, as in
#     idm_ops.sh);
#   - acme's network: `ferry lab ns` (JoinEUI route to acme's JS, as_url =
#     the lab AS), `ferry lab as` (relay to the IDM with acme's tenant
#     token), `ferry lab gateway` carrying the frames of `ferry se serve`;
#   - the SE joins acme's network through gateway + NS; an application
#     uplink is decrypted by the AS (GET /uplinks); a secure command queued
#     at the IDM reaches the SE's application through NS + AS (MLS relayed,
#     end to end) and its reply comes back (idm command-show);
#   - an AS whose tenant does not hold the SE (the IDM answers 404) and an
#     IDM that is down: logged by the AS, and the NS still gets 200 {};
#   - bearer checks, config refusals, no key or token in any log, SIGTERM.
# Prints TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
FERRY=${FERRY:-$root/build/san/bin/ferry}
export FERRY
export NODE_PATH="$root/tests/oracle/node_modules"
BOOT="$here/idm_ns.js"
. "$here/lib/wait.sh"
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -f "$tmp/err" ] && sed 's/^/# /' "$tmp/err" | tail -15; }
check() { if eval "$2"; then ok "$1"; else notok "$1"; fi; }
# up: check for a readiness line; bail_if_down before the part that needs
# the servers, which would otherwise wait out every deadline in turn
servers_down=""
up() { if eval "$2"; then ok "$1"; else notok "$1"; servers_down="$servers_down; $1"; fi; }
bail_if_down() { [ -z "$servers_down" ] || { echo "# not up:${servers_down#;}; the rest of the test cannot run"; echo "1..$n"; exit 1; }; }
if ! command -v node >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1 ||
    ! "$root/tests/oracle/install.sh" >/dev/null 2>&1 || [ ! -d "$NODE_PATH/aes-cmac" ]; then
    echo "not ok 1 - node, curl and tests/oracle/node_modules are needed (scripts/deps.sh, tests/oracle/install.sh)"
    echo "1..1"
    exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-lab-as.XXXXXX") || exit 1
pids=""
idm_pid=""
as_pid=""
cleanup() {
    for p in $pids $idm_pid $as_pid; do kill "$p" 2>/dev/null; done
    for p in $pids $idm_pid $as_pid; do wait "$p" 2>/dev/null; done
    release_ports
    [ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# every server logs into $tmp/*.log: shown when a wait times out
watch_log "$tmp"

hex16() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n' | tr 'a-f' 'A-F'; }
jget() { node -e 'let o=JSON.parse(require("fs").readFileSync(0,"utf8")); for (const k of process.argv[1].split(".")) o=o==null?undefined:o[k]; process.stdout.write(o==null?"":String(o))' "$1"; }
state_is() { $I idm show "$1" 2>/dev/null | grep -q "\"State\": \"$2\""; }
wait_state() { wait_until "SE $1 in state $2 at the IDM" - "state_is $1 $2"; }
# wait_sock SOCKET PID: the SE emulator's Unix socket, its process watched
wait_sock() { wait_pid=$2; wait_until "the SE emulator's socket $1" - "[ -S '$1' ]"; w_rc=$?; wait_pid=""; return $w_rc; }

HSAKEK=$(hex16); NSKEK=$(hex16); AKEK=$(hex16); ANS=$(hex16); AAS=$(hex16)
ASTOKEN=as-$(hex16); DLTOKEN=dl-$(hex16)
idm="$tmp/idm"; acme="$tmp/acme-js"; out="$tmp/hsa"; nsd="$tmp/ns"; cust="$tmp/cust"
mkdir -p "$nsd" "$cust" && chmod 700 "$nsd" "$cust"
P_JS=$(port); P_IDM=$(port); P_A=$(port); P_UDP=$(uport); P_NS=$(port); P_AS=$(port)
I="$FERRY -d $idm"; A="$FERRY -d $acme"
AJE=70B3D57ED00A0000
SE1=70B3D57ED0050000

# ---- 1. the IDM, acme's JS, one SE claimed by acme (as idm_ops.sh)
{
    "$FERRY" init "$idm" --join-eui 70B3D57ED0000000 --listen "127.0.0.1:$P_JS" &&
    echo "$HSAKEK" | $I kek import hsa-idm && echo "$NSKEK" | $I kek import bootstrap-ns &&
    $I kek generate idm-as && $I peer add 000000 --token-out "$nsd/bootstrap-ns.tok" &&
    echo "$AKEK" | $I kek import acme-kek &&
    "$FERRY" init "$acme" --join-eui $AJE --listen "127.0.0.1:$P_A" &&
    echo "$AKEK" | $A kek import acme-kek && echo "$ANS" | $A kek import acme-ns && echo "$AAS" | $A kek import acme-as &&
    $A peer add 000013 --token-out "$cust/acme-ns.tok" &&
    echo "$HSAKEK" | "$FERRY" hsa personalise --count 1 --out "$out" --kek-label hsa-idm --mac-version 1.0.4 \
        --dev-eui-base $SE1 && $I idm import "$out/batch.jsonl" &&
    $I idm init --ns-token-out "$nsd/idm-ns.tok" --listen "127.0.0.1:$P_IDM" &&
    sed -i 's/^retry_base = .*/retry_base = 0/; s/^poll = .*/poll = 1/' "$idm/idm.conf" &&
    $I idm tenant add acme --kind customer --token-out "$cust/acme.tok" &&
    $I idm tenant add bolt --kind customer --token-out "$cust/bolt.tok" &&
    $I idm js add acme-js --tenant acme --url "http://127.0.0.1:$P_A" --admin-token-file "$acme/admin.token" \
        --join-eui $AJE --net-id 000013 --kek-label acme-kek --ns-kek-label acme-ns --as-kek-label acme-as
} >"$tmp/setup.log" 2>"$tmp/err"
check "IDM and acme deployments, one SE imported, tenants acme and bolt, acme's JS with ASKEKLabel acme-as" '[ $? -eq 0 ]'
otok() { sed -n "s/.*\"DevEUI\":\"$1\".*:O\([0-9A-F]\{32\}\)\".*/\1/p" "$out/batch.jsonl"; }
$I idm claim $SE1 --owner-token "$(otok $SE1)" --tenant acme >/dev/null 2>"$tmp/err" && $I idm assign $SE1 >/dev/null 2>>"$tmp/err"
check "acme claims and assigns the SE" '[ $? -eq 0 ]'

$I serve >"$tmp/js.log" 2>&1 &
js_pid=$!; pids="$pids $js_pid"
$A serve >"$tmp/acme.log" 2>&1 &
acme_pid=$!; pids="$pids $acme_pid"
$I idm serve >>"$tmp/idm.log" 2>&1 &
idm_pid=$!
: >"$tmp/err"
up "the bootstrap JS, acme's JS and idm serve answer (/metrics, /metrics, /healthz)" \
    'wait_http "http://127.0.0.1:$P_JS/metrics" $js_pid && wait_http "http://127.0.0.1:$P_A/metrics" $acme_pid &&
     wait_http "http://127.0.0.1:$P_IDM/healthz" $idm_pid'
"$FERRY" se serve --image "$out/se-$SE1.img" --socket "$tmp/se.sock" 2>"$tmp/se.log" &
se_pid=$!; pids="$pids $se_pid"
up "the SE emulator runs (ferry se serve)" 'wait_sock "$tmp/se.sock" $se_pid'
bail_if_down
S="--socket $tmp/se.sock"

# ---- 2. bootstrap: join and profile over the bootstrap network (idm_ns.js)
# pump's budget is a number of exchanges (each 150 ms apart when the IDM has
# nothing to send yet): 80 before, three times that now, scaled like every
# deadline; it stops as soon as the SE has switched
SOCK="$tmp/se.sock" node "$BOOT" join "$nsd/se.json" "http://127.0.0.1:$P_JS/" "$nsd/bootstrap-ns.tok" "$NSKEK" 000000 >"$tmp/o" 2>"$tmp/err" &&
    SOCK="$tmp/se.sock" node "$BOOT" pump "$nsd/se.json" "http://127.0.0.1:$P_IDM" "$nsd/idm-ns.tok" "$(scaled 240)" switched >"$tmp/o" 2>>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && grep -q "\"switched\":true" "$tmp/o" || { echo "# bootstrap join + pump: exit $rc, $(cat "$tmp/o")"; show_logs; }
check "SE: bootstrap join, acme's profile over the air, the SE switches to it" '[ $rc -eq 0 ] && grep -q "\"switched\":true" "$tmp/o"'

# ---- 3. acme's network: lab NS + lab AS
umask 077
echo "$ANS" >"$cust/ns.kek"
echo "$AAS" >"$cust/as.kek"
echo "$ASTOKEN" >"$cust/as.tok"
echo "$DLTOKEN" >"$cust/dl.tok"
cat >"$cust/ns.conf" <<EOT
# acme's network server
net_id = 000013
kek_label = acme-ns
kek_file = ns.kek
udp_listen = 127.0.0.1:$P_UDP
http_listen = 127.0.0.1:$P_NS
route = $AJE/64 http://127.0.0.1:$P_A/ acme-ns.tok
as_url = http://127.0.0.1:$P_AS
as_token_file = as.tok
downlink_token_file = dl.tok
dedup_ms = 50
late_ms = 500
EOT
as_conf() {   # as_conf FILE TENANT_TOKEN_FILE
    cat >"$1" <<EOT
# acme's application server
listen = 127.0.0.1:$P_AS
token_file = as.tok
kek_label = acme-as
kek_file = as.kek
idm_url = http://127.0.0.1:$P_IDM/
idm_token_file = $2
EOT
}
as_conf "$cust/as.conf" acme.tok
as_conf "$cust/bolt-as.conf" bolt.tok
printf 'token_file = as.tok\nkek_label = acme-as\nkek_file = as.kek\nbogus = 1\n' >"$cust/bad.conf"
"$FERRY" lab as --config "$cust/bad.conf" >/dev/null 2>"$tmp/err"
check "a config with an unknown key is refused, naming the line and the key" '[ $? -ne 0 ] && grep -q "line 4: unknown key .bogus." "$tmp/err"'
printf 'listen = 0.0.0.0:%s\ntoken_file = as.tok\nkek_label = acme-as\nkek_file = as.kek\n' $P_AS >"$cust/open.conf"
"$FERRY" lab as --config "$cust/open.conf" >/dev/null 2>"$tmp/err"
check "a non-loopback listen is refused (plain HTTP)" '[ $? -ne 0 ] && grep -q "loopback" "$tmp/err"'

start_as() { "$FERRY" lab as --config "$1" 2>>"$tmp/as.log" & as_pid=$!; wait_http "http://127.0.0.1:$P_AS/status" $as_pid; }
stop_as() { kill "$as_pid"; wait "$as_pid"; rc=$?; as_pid=""; return $rc; }
start_as "$cust/as.conf"
rc=$?
: >"$tmp/err"
as_listening() { grep -q '"msg":"listening"' "$tmp/as.log"; }
up "ferry lab as listens" '[ $rc -eq 0 ] && wait_until "the AS'"'"'s listening line" - as_listening && kill -0 $as_pid 2>/dev/null'
"$FERRY" lab ns --config "$cust/ns.conf" 2>"$tmp/ns.log" &
ns_pid=$!; pids="$pids $ns_pid"
up "ferry lab ns listens (acme's network, NetID 000013)" 'wait_http "http://127.0.0.1:$P_NS/status" $ns_pid && kill -0 $ns_pid 2>/dev/null'
bail_if_down

AS="http://127.0.0.1:$P_AS"
# a request in a wait has a time limit too: a server that hangs fails the wait
cmax=$(scaled 10)
nsstat() { curl -s --max-time "$cmax" "http://127.0.0.1:$P_NS/status" | jget "$1"; }
asstat() { curl -s --max-time "$cmax" "$AS/status" | jget "$1"; }
gw() {   # gw OUTFILE WAIT_MS PHY: one frame through the simulated gateway
    "$FERRY" lab gateway --ns "127.0.0.1:$P_UDP" --gateway-eui AA555A0000000001 --wait-ms "$2" "$3" >"$1" 2>>"$tmp/err"
}

# ---- 4. the SE joins acme's network through the gateway and the lab NS
"$FERRY" se join-request $S >"$tmp/jr" 2>"$tmp/err" && gw "$tmp/gwj" "$(scaled 4000)" "$(jget PHYPayload <"$tmp/jr")" &&
    "$FERRY" se join-accept $S "$(jget Downlink.PHYPayload <"$tmp/gwj")" >"$tmp/ja" 2>>"$tmp/err"
check "the SE joins acme's JS through gateway + lab NS (JoinReq routed by JoinEUI)" \
    '[ $? -eq 0 ] && jget DevAddr <"$tmp/ja" | grep -q "^26"'
check "IDM: the SE is active at acme" 'wait_state $SE1 active_at_customer'

# ---- 5. an application uplink: the NS forwards it encrypted, the AS decrypts it
"$FERRY" se uplink $S --fport 1 --payload 48656C6C6F >"$tmp/up" 2>"$tmp/err" && gw "$tmp/gwu" 2000 "$(jget PHYPayload <"$tmp/up")"
rc=$?
# the NS counts it once the AS has answered (the AS counts before it answers)
wait_until "the NS's forwarded counter at 1" - '[ "$(nsstat forwarded)" = 1 ]'
check "an application uplink goes through the gateway; the NS forwards it to the AS" \
    '[ $rc -eq 0 ] && [ "$(nsstat forwarded)" = 1 ] && [ "$(nsstat as_errors)" = 0 ]'
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -H "Authorization: Bearer $ASTOKEN" "$AS/uplinks/$SE1")
check "GET /uplinks: the customer's AS decrypted it with the AppSKey from acme's JS (48656C6C6F, FPort 1)" \
    '[ "$code" = 200 ] && [ "$(jget Uplinks.0.FRMPayload <"$tmp/body")" = 48656C6C6F ] && [ "$(jget Uplinks.0.FPort <"$tmp/body")" = 1 ]'
check "... and relayed the uplink's class A window to the IDM (200 {})" '[ "$(asstat relays)" = 1 ] && [ "$(asstat app_uplinks)" = 1 ]'
code=$(curl -s -o /dev/null -w '%{http_code}' "$AS/uplinks/$SE1")
code2=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer wrong" "$AS/uplinks/$SE1")
code3=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer wrong" --data-binary '{}' "$AS/uplink")
check "GET /uplinks and POST /uplink without the right bearer: 401" '[ "$code" = 401 ] && [ "$code2" = 401 ] && [ "$code3" = 401 ]'
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ASTOKEN" "$AS/uplinks/0000000000000001")
code2=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ASTOKEN" --data-binary '{"DevEUI":1}' "$AS/uplink")
check "an unknown DevEUI: 404; a malformed uplink: 400" '[ "$code" = 404 ] && [ "$code2" = 400 ]'

# ---- 6. a secure command from the IDM, relayed by the lab AS through the lab NS
$I idm command $SE1 --payload C0FFEE0102 --tenant acme >"$tmp/cmd" 2>"$tmp/err"
seq=$(node -e 'const o=JSON.parse(require("fs").readFileSync(0,"utf8")); process.stdout.write(String(o.Results[0].Seq))' <"$tmp/cmd")
check "acme queues a secure command at the IDM (Seq $seq)" '[ -n "$seq" ] && grep -q "\"Done\": 1" "$tmp/cmd"'
: >"$tmp/err"
secure=""; rounds=0; down=0; state=""; delays=""
# one class A exchange: an uplink (the SE's MLS frame, or application data
# when it has none), the downlink it brings if any; true once the IDM has
# the command done and the SE has nothing left to send
exchange() {
    rounds=$((rounds + 1))
    frm=$("$FERRY" se mls-uplink $S --frame-max 222 2>>"$tmp/err" | jget FRMPayload)
    if [ -n "$frm" ]; then
        "$FERRY" se uplink $S --fport 200 --payload "$frm" >"$tmp/up" 2>>"$tmp/err"
    else
        "$FERRY" se uplink $S --fport 1 --payload 00 >"$tmp/up" 2>>"$tmp/err"
    fi
    # the gateway returns as soon as a downlink comes; the NS sends none
    # later than RX2 (2 s after it heard the uplink)
    gw "$tmp/gwr" "$(scaled 2000)" "$(jget PHYPayload <"$tmp/up")"
    phy=$(jget Downlink.PHYPayload <"$tmp/gwr")
    if [ -n "$phy" ]; then
        down=$((down + 1))
        delays="$delays $(jget Downlink.DelayUs <"$tmp/gwr")"
        "$FERRY" se downlink $S "$phy" >"$tmp/dn" 2>>"$tmp/err"
        if [ "$(jget SecureCommandWaiting <"$tmp/dn")" = true ]; then
            secure=$("$FERRY" se secure-command $S 2>>"$tmp/err" | jget Command)
            "$FERRY" se secure-reply $S --reply 0A0B0C >/dev/null 2>>"$tmp/err"
        fi
    fi
    state=$($I idm command-show $SE1 "$seq" 2>/dev/null | jget State)
    [ "$state" = done ] && [ -z "$frm" ]
}
# 30 exchanges of up to 2 s each before: 60 s, times 3
wait_until "command $seq done at the IDM, the SE with nothing left to send" 180 exchange
check "the SE's application gets C0FFEE0102 through gateway -> lab NS -> lab AS -> IDM and back ($rounds rounds, $down downlinks)" \
    '[ "$(echo "$secure" | tr a-f A-F)" = C0FFEE0102 ]'
$I idm command-show $SE1 "$seq" >"$tmp/o" 2>"$tmp/err"
check "each relayed frame left in the receive windows of the uplink that asked (DelayUs:$delays)" \
    '[ -n "$delays" ] && ! echo "$delays" | tr " " "\\n" | grep -qvE "^(|1000000|2000000)$"'
check "idm command-show: done, the application's reply 0A0B0C came back through the lab AS" \
    '[ $? -eq 0 ] && grep -q "\"State\": \"done\"" "$tmp/o" && grep -qi "\"Reply\": \"0A0B0C\"" "$tmp/o"'
check "the AS relayed FPort 200 both ways (mls_uplinks, downlinks), the NS refused none of its downlinks" \
    '[ "$(asstat mls_uplinks)" -ge 1 ] && [ "$(asstat downlinks)" -ge 1 ] && [ "$(nsstat as_errors)" = 0 ] && ! grep -q "downlink refused" "$tmp/ns.log"'
check "the AS's history holds application data only (no MLS frame)" \
    'curl -s -H "Authorization: Bearer $ASTOKEN" "$AS/uplinks/$SE1" | node -e "const o=JSON.parse(require(\"fs\").readFileSync(0,\"utf8\")); process.exit(o.Uplinks.every(u=>u.FPort!==200)?0:1)"'

# ---- 7. an AS whose tenant does not hold the SE: the IDM says 404, the NS gets {}
stop_as
start_as "$cust/bolt-as.conf"
up "ferry lab as listens again, with bolt's token" '[ $? -eq 0 ]'
bail_if_down
fw=$(nsstat forwarded)
"$FERRY" se uplink $S --fport 2 --payload 0102 >"$tmp/up" 2>"$tmp/err" && gw "$tmp/gwb" 1000 "$(jget PHYPayload <"$tmp/up")"
wait_until "the AS's relay_refused at 1, 'relay refused' in its log, the NS's forwarded at $((fw + 1))" - \
    '[ "$(asstat relay_refused)" = 1 ] && grep -q "\"msg\":\"relay refused\"" "$tmp/as.log" && [ "$(nsstat forwarded)" = $((fw + 1)) ]'
check "bolt's token: the IDM refuses the relay (404), the AS logs it and still answers the NS 200 {}" \
    '[ "$(asstat relay_refused)" = 1 ] && grep -q "\"msg\":\"relay refused\"" "$tmp/as.log" && [ "$(nsstat forwarded)" = $((fw + 1)) ] && [ "$(nsstat as_errors)" = 0 ] && [ -z "$(jget Downlink <"$tmp/gwb")" ]'
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -H "Authorization: Bearer $ASTOKEN" "$AS/uplinks/$SE1")
check "... the application data is decrypted all the same" '[ "$code" = 200 ] && [ "$(jget Uplinks.0.FRMPayload <"$tmp/body")" = 0102 ]'
stop_as
start_as "$cust/as.conf"
up "ferry lab as listens again, with acme's token" '[ $? -eq 0 ]'
bail_if_down

# ---- 8. the IDM is down: logged, the NS still gets 200 {}
kill "$idm_pid"; wait "$idm_pid" 2>/dev/null; idm_pid=""
"$FERRY" se uplink $S --fport 3 --payload 0A >"$tmp/up" 2>"$tmp/err" && gw "$tmp/gwd" 1000 "$(jget PHYPayload <"$tmp/up")"
wait_until "the AS's relay_errors at 1 and 'relay error' in its log" - \
    '[ "$(asstat relay_errors)" = 1 ] && grep -q "\"msg\":\"relay error\"" "$tmp/as.log"'
check "the IDM is down: the AS logs a relay error, the NS sees no AS error" \
    '[ "$(asstat relay_errors)" = 1 ] && grep -q "\"msg\":\"relay error\"" "$tmp/as.log" && [ "$(nsstat as_errors)" = 0 ] && [ "$(asstat app_uplinks)" = 1 ]'

# ---- 9. no key or token in the logs; clean stop
hit=""
for k in $HSAKEK $NSKEK $AKEK $ANS $AAS $ASTOKEN $DLTOKEN $(cat "$cust/acme.tok") $(cat "$cust/bolt.tok"); do
    lk=$(echo "$k" | tr 'A-F' 'a-f'); uk=$(echo "$k" | tr 'a-f' 'A-F')
    grep -qaF -e "$k" -e "$lk" -e "$uk" "$tmp/as.log" "$tmp/ns.log" && hit="$hit $k"
done
check "no KEK, key or token in the AS's or the NS's log" '[ -z "$hit" ]'
check "no sanitizer report in the AS's log" '! grep -qE "AddressSanitizer|runtime error|LeakSanitizer" "$tmp/as.log"'
stop_as
check "SIGTERM stops the AS cleanly" '[ $? -eq 0 ] && tail -1 "$tmp/as.log" | grep -q "\"msg\":\"stopped\""'

echo "1..$n"
[ "$failed" -eq 0 ]
