#!/bin/sh
# lmn_joinnonce.sh - issue 20, part 1: every first join-accept of every Join
# Server a device moves to is taken by a device running LoRaMac-node's
# unmodified crypto, in LoRaWAN 1.0.4 and 1.1.
#
# The pieces, real and on loopback: an IDM deployment (bootstrap Join Server
# `serve`, `idm serve`), two customer Join Servers (acme, bolt; each its own
# deployment and token, their admin APIs behind tests/loramac/lmn_tap.js so
# the test learns the keys the IDM makes), SE emulators personalised by
# `ferry hsa personalise` (two 1.0.4, two 1.1), idm_ns.js and idm_cust.js as
# the networks. Beside each element a LoRaMac-node device (lmn_twin.js ->
# lmn_dev: LoRaMacCrypto.c, its parser, serializer and soft-se, built from
# $LORAMAC_NODE_DIR) with its own NVM file: at every join it makes the same
# join-request (compared byte for byte with the element's) and must take the
# Join Server's join-accept, the first one each time:
#   bootstrap JS -> acme's JS (first profile) -> bolt's JS (transfer)
#   -> bootstrap JS again (return to bootstrap)
# once as is and once with the Join Server of each next join restarted just
# before it. Where LORAMAC_NODE_DIR has no source, the test is skipped (and
# says so), never passed.
# Prints TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
LORAMAC_NODE_DIR=${LORAMAC_NODE_DIR:-$(cd "$root/.." && pwd)/shared/loramac-node}
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD="$root/$BUILD" ;; esac
LMN="$BUILD/loramac/lmn_dev"
. "$here/lib/common.sh"
need_loramac_node
need_node
make_tmp lmn-jn
watch_log "$tmp"
if [ ! -x "$LMN" ]; then
    notok "lmn_dev is built from $LORAMAC_NODE_DIR (make loramac)"
    echo "1..$n"
    exit 1
fi
NS="$here/idm_ns.js"
CU="$here/idm_cust.js"
TAP="$root/tests/loramac/lmn_tap.js"
export LMN LMN_TWIN="$root/tests/loramac/lmn_twin.js"
idm_wait() { wait_pid=$idm_pid; wait_until "$1" - "$2"; w_rc=$?; wait_pid=""; return $w_rc; }
state_is() { $I idm show "$1" 2>/dev/null | grep -q "\"State\": \"$2\""; }
wait_state() { idm_wait "idm show $1: State $2" "state_is $1 $2"; }
wait_sock() { wait_pid=$2; wait_until "the SE emulator's socket $1" - "[ -S '$1' ]"; w_rc=$?; wait_pid=""; return $w_rc; }

HSAKEK=$(hex16); NSKEK=$(hex16); AKEK=$(hex16); ANS=$(hex16); AAS=$(hex16); BKEK=$(hex16); BNS=$(hex16); BAS=$(hex16)
idm="$tmp/idm"; acme="$tmp/acme-js"; bolt="$tmp/bolt-js"; nsd="$tmp/ns"
mkdir -p "$nsd" && chmod 700 "$nsd"
P_JS=$(port); P_IDM=$(port); P_A=$(port); P_B=$(port); P_TA=$(port); P_TB=$(port)
I="$FERRY -d $idm"; A="$FERRY -d $acme"; B="$FERRY -d $bolt"
BJE0=70B3D57ED0000000; AJE=70B3D57ED00A0000; BJE=70B3D57ED00B0000
{
    idm_deployment "$idm" $BJE0 $P_JS "$HSAKEK" "$NSKEK" "$nsd/bootstrap-ns.tok" &&
    echo "$AKEK" | $I kek import acme-kek && echo "$BKEK" | $I kek import bolt-kek &&
    customer_js acme "$acme" $AJE $P_A "$AKEK" "$ANS" "$AAS" 000013 "$nsd/acme-ns.tok" &&
    customer_js bolt "$bolt" $BJE $P_B "$BKEK" "$BNS" "$BAS" 000014 "$nsd/bolt-ns.tok" &&
    echo "$HSAKEK" | "$FERRY" hsa personalise --count 2 --out "$tmp/hsa10" --kek-label hsa-idm --mac-version 1.0.4 \
        --dev-eui-base 70B3D57ED0060000 && $I idm import "$tmp/hsa10/batch.jsonl" &&
    echo "$HSAKEK" | "$FERRY" hsa personalise --count 2 --out "$tmp/hsa11" --kek-label hsa-idm --mac-version 1.1 \
        --dev-eui-base 70B3D57ED0070000 && $I idm import "$tmp/hsa11/batch.jsonl" &&
    $I idm init --ns-token-out "$nsd/idm-ns.tok" --listen "127.0.0.1:$P_IDM" &&
    $I idm config set retry_base 0 poll 1 >/dev/null &&
    idm_customer acme "http://127.0.0.1:$P_TA" "$acme" $AJE 000013 "$tmp/acme.tok" &&
    idm_customer bolt "http://127.0.0.1:$P_TB" "$bolt" $BJE 000014 "$tmp/bolt.tok"
} >"$tmp/setup.log" 2>"$tmp/err"
check "IDM, acme and bolt deployments, 2 SEs of LoRaWAN 1.0.4 and 2 of 1.1 imported, both customer Join Servers" '[ $? -eq 0 ]'
export LMN_KEYS="$tmp/hsa10/batch.jsonl=$HSAKEK,$tmp/hsa11/batch.jsonl=$HSAKEK,$tmp/tap-acme.log=$AKEK,$tmp/tap-bolt.log=$BKEK"

# ---- the servers; each Join Server can be restarted alone
start_js() { # NAME: (re)start that Join Server, wait for it
    eval "old=\${pid_$1:-}"
    if [ -n "$old" ]; then kill "$old" 2>/dev/null; wait "$old" 2>/dev/null; fi
    case $1 in boot) d=$idm; p=$P_JS ;; acme) d=$acme; p=$P_A ;; bolt) d=$bolt; p=$P_B ;; esac
    "$FERRY" -d "$d" serve >>"$tmp/js-$1.log" 2>&1 &
    eval "pid_$1=$!"
    pids="$pids $!"
    wait_http "http://127.0.0.1:$p/metrics" $!
}
start_js boot && start_js acme && start_js bolt
check "the bootstrap, acme and bolt Join Servers answer /metrics" '[ $? -eq 0 ]'
node "$TAP" "$P_TA" "http://127.0.0.1:$P_A" "$tmp/tap-acme.log" >"$tmp/tap-acme.out" 2>&1 &
pids="$pids $!"; ta=$!
node "$TAP" "$P_TB" "http://127.0.0.1:$P_B" "$tmp/tap-bolt.log" >"$tmp/tap-bolt.out" 2>&1 &
pids="$pids $!"; tb=$!
$I idm serve >>"$tmp/idm.log" 2>&1 &
idm_pid=$!
wait_http "http://127.0.0.1:$P_IDM/healthz" $idm_pid && wait_until "lmn_tap on $P_TA" $ta "grep -q listening '$tmp/tap-acme.out'" &&
    wait_until "lmn_tap on $P_TB" $tb "grep -q listening '$tmp/tap-bolt.out'"
check "idm serve answers /healthz; the taps in front of acme's and bolt's admin APIs listen" '[ $? -eq 0 ]'
API="http://127.0.0.1:$P_IDM/api/v1"
req() { # METHOD PATH TOKENFILE [BODY] -> status on stdout, body in $tmp/body
    curl -s -o "$tmp/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $(cat "$3")" ${4:+--data-binary "$4"} "$API$2"
}

# element S's network stand-ins; its LoRaMac-node device keeps its NVM in
# $tmp/lmn-S.nvm and logs each accept to $tmp/lmn-S.log
boot() { SOCK="$tmp/se$1.sock" LMN_NVM="$tmp/lmn-$1.nvm" LMN_LOG="$tmp/lmn-$1.log" node "$NS" join "$nsd/se$1.json" "http://127.0.0.1:$P_JS/" "$nsd/bootstrap-ns.tok" "$NSKEK" 000000; }
pump() { SOCK="$tmp/se$1.sock" node "$NS" pump "$nsd/se$1.json" "http://127.0.0.1:$P_IDM" "$nsd/idm-ns.tok" "$2" ${3:-}; }
ajoin() { SOCK="$tmp/se$1.sock" LMN_NVM="$tmp/lmn-$1.nvm" LMN_LOG="$tmp/lmn-$1.log" node "$CU" join "$nsd/se$1a.json" "http://127.0.0.1:$P_A/" "$nsd/acme-ns.tok" "$ANS" "$AAS" 000013; }
bjoin() { SOCK="$tmp/se$1.sock" LMN_NVM="$tmp/lmn-$1.nvm" LMN_LOG="$tmp/lmn-$1.log" node "$CU" join "$nsd/se$1b.json" "http://127.0.0.1:$P_B/" "$nsd/bolt-ns.tok" "$BNS" "$BAS" 000014; }
arelay() { SOCK="$tmp/se$1.sock" node "$CU" relay "$nsd/se$1a.json" "http://127.0.0.1:$P_IDM" "$tmp/acme.tok" "$2" "$3"; }
brelay() { SOCK="$tmp/se$1.sock" node "$CU" relay "$nsd/se$1b.json" "http://127.0.0.1:$P_IDM" "$tmp/bolt.tok" "$2" "$3"; }
# the JoinNonce of the twin's last accept, and how many accepts it took
last_jn() { tail -1 "$tmp/lmn-$1.log" | jget JoinNonce; }
accepts() { grep -c '"Accepted":true' "$tmp/lmn-$1.log" 2>/dev/null || echo 0; }
otok() { sed -n "s/.*\"DevEUI\":\"$2\".*:O\([0-9A-F]\{32\}\)\".*/\1/p" "$tmp/$1/batch.jsonl"; }

# joined WHICH NTH JS JOIN STATE [EXPECT]: element s joins through JOIN (its
# NTH join; JS restarted first when rs=yes); its LoRaMac-node device must
# take that first join-accept, above the one before (EXPECT: exactly that
# JoinNonce), and the IDM reach STATE
joined() {
    j_which=$1; j_nth=$2; j_state=$5; j_expect=${6:-}
    [ "$rs" = yes ] && start_js $3
    j_prev=$(last_jn $s); j_prev=${j_prev:-0}
    $4 $s >"$tmp/o" 2>"$tmp/err"
    j_rc=$?
    check "$what: $j_which's first join-accept taken by LoRaMac-node (JoinNonce $j_prev -> $(last_jn $s))" \
        '[ $j_rc -eq 0 ] && [ "$(accepts $s)" = $j_nth ] && [ "$(last_jn $s)" -gt "$j_prev" ] &&
         [ -z "$j_expect" -o "$(last_jn $s)" = "$j_expect" ] && wait_state $se $j_state'
}

# run S DEVEUI BATCH MAC RESTART: the whole journey of one element and its twin
run() {
    s=$1; se=$2; batch=$3; mac=$4; rs=$5
    what="SE$s (LoRaWAN $mac$( [ "$rs" = yes ] && echo ', each Join Server restarted before its join'))"
    "$FERRY" se serve --image "$tmp/$batch/se-$se.img" --socket "$tmp/se$s.sock" 2>"$tmp/se$s.log" &
    pids="$pids $!"
    wait_sock "$tmp/se$s.sock" $!
    check "$what: SE emulator up" '[ $? -eq 0 ]'
    joined "the bootstrap JS (a factory-fresh device)" 1 boot boot bootstrapped 1
    $I idm claim $se --owner-token "$(otok $batch $se)" --tenant acme >/dev/null 2>"$tmp/err" && $I idm assign $se >/dev/null 2>>"$tmp/err" &&
        wait_state $se profile_pending && pump $s 80 switched >"$tmp/o" 2>>"$tmp/err"
    check "$what: claimed by acme, profile over the air, the element switches to acme's" '[ $? -eq 0 ] && grep -q "\"switched\":true" "$tmp/o"'
    joined "acme's JS" 2 acme ajoin active_at_customer
    code=$(req POST /ses/$se/transfer "$tmp/acme.tok" '{"Tenant":"bolt","JoinServer":"bolt-js"}')
    [ "$code" = 202 ] && arelay $s 80 switched >"$tmp/o" 2>"$tmp/err"
    check "$what: transferred to bolt, bolt's profile relayed through acme's AS, the element switches" '[ $? -eq 0 ]'
    joined "bolt's JS (after the transfer)" 3 bolt bjoin active_at_customer
    code=$(req POST /ses/$se/return "$tmp/bolt.tok")
    [ "$code" = 202 ] && brelay $s 60 switched >"$tmp/o" 2>"$tmp/err"
    check "$what: returned to bootstrap through bolt's AS, the element switches" '[ $? -eq 0 ] && wait_state $se returned_to_bootstrap'
    joined "the bootstrap JS (after the return)" 4 boot boot bootstrapped
    optneg=$([ "$mac" = 1.1 ] && echo 1 || echo 0)
    check "$what: no accept refused on the way; each in $mac mode (OptNeg $optneg)" \
        '! grep -q "\"Accepted\":false" "$tmp/lmn-$s.log" && [ "$(grep -c "\"OptNeg\":$optneg" "$tmp/lmn-$s.log")" = 4 ]'
}
run 1 70B3D57ED0060000 hsa10 1.0.4 no
run 2 70B3D57ED0060001 hsa10 1.0.4 yes
# the networks announce 1.1: the Join Servers answer in 1.1 mode (OptNeg),
# and LoRaMac-node judges by its 1.1 rule (IsJoinNonce11xOk: greater)
export NS_MAC_VERSION=1.1
run 3 70B3D57ED0070000 hsa11 1.1 no
run 4 70B3D57ED0070001 hsa11 1.1 yes
unset NS_MAC_VERSION

# ---- the harness can fail: what it says of the frames from before the fix
K=$(hex16)
F0=$($FERRY lorawan join-accept --mac-version 1.0.3 --nwkkey $K --join-nonce 000000 --net-id 000013 --dev-addr 01020304 | jget PHYPayload)
F1=$($FERRY lorawan join-accept --mac-version 1.0.3 --nwkkey $K --join-nonce 000001 --net-id 000013 --dev-addr 01020304 | jget PHYPayload)
"$LMN" "$tmp/fresh.nvm" join-request --dev-eui 70B3D57ED00600FF --join-eui $BJE0 --nwk-key $K >/dev/null 2>"$tmp/err"
"$LMN" "$tmp/fresh.nvm" join-accept "$F0" >"$tmp/o" 2>>"$tmp/err"; rc0=$?
"$LMN" "$tmp/fresh.nvm" join-accept "$F1" >"$tmp/o1" 2>>"$tmp/err"; rc1=$?
"$LMN" "$tmp/fresh.nvm" join-accept "$F1" >"$tmp/o2" 2>>"$tmp/err"; rc2=$?
check "control: a factory-fresh LoRaMac-node device refuses JoinNonce 0 (what ferry served first before), takes 1, refuses 1 again" \
    '[ $rc0 -eq 3 ] && grep -q LORAMAC_CRYPTO_FAIL_JOIN_NONCE "$tmp/o" && [ $rc1 -eq 0 ] && [ $rc2 -eq 3 ]'
"$FERRY" se join-request --socket "$tmp/se1.sock" >/dev/null 2>&1
jr=$(SOCK="$tmp/se1.sock" "$FERRY" se join-request --socket "$tmp/se1.sock" 2>/dev/null | jget PHYPayload)
cp "$tmp/lmn-1.nvm" "$tmp/ctl.nvm"
LMN_NVM="$tmp/ctl.nvm" node "$LMN_TWIN" "$jr" "$F1" >/dev/null 2>"$tmp/err"; rc=$?
check "control: lmn_twin.js fails on a frame LoRaMac-node does not take" '[ $rc -ne 0 ]'

echo "1..$n"
[ "$failed" -eq 0 ]
