#!/bin/sh
# idm_matrix.sh - the authorization table of docs/idm.md ("Who may do
# what") driven end to end (issue 12's proof): every REST endpoint of `idm
# serve` and every CLI command that acts on an SE, as every kind of actor,
# against SEs in every lifecycle state reached here for real, each answer
# compared with the table's.
#
# Actors: the operator (the CLI without --tenant), the maker tenant of the
# batch, another maker, the customers acme and bolt (REST with their bearer
# tokens, and the CLI with --tenant where it has one).
# SEs, one personalised batch: 11 imported as maker's, OM as othermaker's,
# NOMK without a maker; as built:
#   MAN   manufactured, no claim           MANA  manufactured, acme's
#   MANB  manufactured, bolt's, assigned   LOCK  locked (acme held it)
#   REL   released by acme                 REF   refused by the operator
#   RET   retired (acme held it)           BOOT  bootstrapped (a real join)
#   BOOTA bootstrapped, acme's             PD    profile_delivered (on trial)
#   ACT   active_at_customer at acme       OM    othermaker's, no claim
#   NOMK  no maker, bolt's
# then, through allowed changes (the walk): transfer_pending (ACT moved to
# bolt on a Join Server that is down: bolt holds it, acme is leaving),
# profile_pending (BOOTA assigned), fallback (PD's trial runs out, the SE
# says so over the bootstrap network), returned_to_bootstrap (PD sent back,
# BOOTSTRAP acknowledged); at the end the operator retires every SE and all
# of it is asked again.
#
# tests/integration/idm_matrix.js runs the cases: for each it reads the
# SE's facts (state, maker, claim, holder, the tenant leaving, the wrong-
# token counts, the command's origin), computes the table's answer (its
# `expect`, written from docs/idm.md), makes the request or runs the
# command, and compares. A refusal (403 of the kind of actor, 404 of what a
# tenant may not reach, the maker's 409 while a customer holds the SE, a
# wrong owner token, the operator on a retired SE) must be byte for byte
# the answer for an unknown DevEUI (but the DevEUI it echoes), and must
# have changed nothing: the SE's rows (state, claim, holder, Join Server,
# update, MLS counters, commands, keys, the bootstrap JS's device and
# sessions) and, of every SE, claims, commands, keys and the audit entries
# of a change; only a refused claim's own audit entry and its wrong-token
# count move, as "Claims" says. Each refusal sweep is also bracketed by
# `idm status` of its SEs, compared whole. An allowed change must answer
# 2xx or a 409 of the state machine (the CLI: exit 0, or 1 with a message
# that is not a refusal's); the state machine's words are printed.
# The findings of issue 12 about who may act are named in the cases
# (tagged [finding N] where a case bears on one, and the walk's groups):
# 1 makers, 2 retired SEs, 3 release and refuse leave no holder, 4 wrong
# tokens lock out the guesser only, 5 a MIC-less rejoin (the Join Server),
# 6 commands after a transfer, 9 no oracle. Findings 7 and 8 (process
# hardening, `device import` all or nothing) are not about who may act.
# Needs node, curl and sqlite3 (scripts/deps.sh). Prints TAP and the count
# of cases.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
FERRY=${FERRY:-$root/build/san/bin/ferry}
. "$here/lib/common.sh"
NS="$here/idm_ns.js"
CU="$here/idm_cust.js"
MX="$here/idm_matrix.js"
need_node
command -v sqlite3 >/dev/null 2>&1 || { echo "not ok 1 - sqlite3 is needed (scripts/deps.sh)"; echo "1..1"; exit 1; }
make_tmp idm-matrix
watch_log "$tmp"
t_start=$(date +%s)

idm_wait() { wait_pid=$idm_pid; wait_until "$1" - "$2"; w_rc=$?; wait_pid=""; return $w_rc; }
state_of() { $I idm show "$1" 2>>"$tmp/cli.log" | sed -n 's/.*"State": "\([^"]*\)".*/\1/p'; }
wait_state() { idm_wait "idm show $1: State $2" '[ "$(state_of '"$1"')" = '"$2"' ]'; }
wait_sock() { wait_pid=$2; wait_until "the SE emulator's socket $1" - "[ -S '$1' ]"; w_rc=$?; wait_pid=""; return $w_rc; }
cli() { $I "$@" >"$tmp/o" 2>"$tmp/err"; c_rc=$?; cat "$tmp/err" >>"$tmp/cli.log"; return $c_rc; }
q() { sqlite3 "$idm/ferry.db" "$1"; }
# mx ARGS...: the matrix helper; its "ok - x" and "not ok - x" lines become
# this test's TAP lines, its "# ..." lines are passed on
mx_cases=0
mx() {
    node "$MX" "$tmp/mx.json" "$@" >"$tmp/mx.out" 2>"$tmp/mx.err"
    m_rc=$?
    while IFS= read -r line; do
        case $line in
        "ok - "*) mx_cases=$((mx_cases + 1)); ok "${line#ok - }" ;;
        "not ok - "*) mx_cases=$((mx_cases + 1)); n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - ${line#not ok - }" ;;
        *) echo "$line" ;;
        esac
    done <"$tmp/mx.out"
    if [ $m_rc -ne 0 ] && ! grep -q '^not ok' "$tmp/mx.out"; then
        cp "$tmp/mx.err" "$tmp/err"
        notok "idm_matrix.js $1 ran to its end (exit $m_rc)"
    fi
    cat "$tmp/mx.err" >>"$tmp/cli.log"
}

HSAKEK=$(hex16); NSKEK=$(hex16); AKEK=$(hex16); ANS=$(hex16); AAS=$(hex16); BKEK=$(hex16); BNS=$(hex16); OPKEK=$(hex16)
idm="$tmp/idm"; acme="$tmp/acme-js"; bolt="$tmp/bolt-js"; out="$tmp/hsa"; nsd="$tmp/ns"
mkdir -p "$nsd" && chmod 700 "$nsd"
P_JS=$(port); P_IDM=$(port); P_A=$(port); P_B=$(port); P_DOWN=$(port)
I="$FERRY -d $idm"; A="$FERRY -d $acme"; B="$FERRY -d $bolt"
AJE=70B3D57ED00A0000; BJE=70B3D57ED00B0000

# one personalised batch of 13, imported in three parts: 11 as maker's,
# one as othermaker's, one without a maker
names="MAN MANA MANB LOCK REL REF RET BOOT BOOTA PD ACT OM NOMK"
i=0
for s in $names; do
    eval "$s=70B3D57ED00C$(printf '%04X' $i)"
    i=$((i + 1))
done
NOSE=70B3D57ED00C00FF
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
    $I idm config set retry_base 0 poll 1 max_join_attempts 2 >/dev/null &&
    $I idm tenant add maker --kind maker --token-out "$tmp/maker.tok" &&
    $I idm tenant add othermaker --kind maker --token-out "$tmp/othermaker.tok" &&
    $I idm tenant add acme --kind customer --token-out "$tmp/acme.tok" &&
    $I idm tenant add bolt --kind customer --token-out "$tmp/bolt.tok" &&
    echo "$HSAKEK" | "$FERRY" hsa personalise --count 13 --out "$out" --kek-label hsa-idm --mac-version 1.0.4 \
        --dev-eui-base 70B3D57ED00C0000 &&
    head -n 11 "$out/batch.jsonl" >"$tmp/b-maker.jsonl" && sed -n 12p "$out/batch.jsonl" >"$tmp/b-om.jsonl" &&
    sed -n 13p "$out/batch.jsonl" >"$tmp/b-none.jsonl" &&
    $I idm import "$tmp/b-maker.jsonl" --maker maker && $I idm import "$tmp/b-om.jsonl" --maker othermaker &&
    $I idm import "$tmp/b-none.jsonl" &&
    $I idm js add acme-js --tenant acme --url "http://127.0.0.1:$P_A" --admin-token-file "$acme/admin.token" \
        --join-eui $AJE --net-id 000013 --kek-label acme-kek --ns-kek-label acme-ns --as-kek-label acme-as &&
    $I idm js add bolt-js --tenant bolt --url "http://127.0.0.1:$P_B" --admin-token-file "$bolt/admin.token" \
        --join-eui $BJE --net-id 000014 --kek-label bolt-kek --ns-kek-label bolt-ns &&
    $I idm js add bolt-down --tenant bolt --url "http://127.0.0.1:$P_DOWN" --admin-token-file "$bolt/admin.token" \
        --join-eui $BJE --net-id 000014 --kek-label bolt-kek --ns-kek-label bolt-ns
} >"$tmp/setup.log" 2>&1
check "IDM, acme's and bolt's deployments; 13 SEs: 11 of maker's batch, 1 of othermaker's, 1 without a maker; Join Servers acme-js, bolt-js and bolt-down (nothing listens)" \
    '[ $? -eq 0 ] && [ "$(q "SELECT group_concat(maker || '"'"':'"'"' || n) FROM (SELECT maker, count(*) n FROM idm_se GROUP BY maker ORDER BY maker)")" = ":1,maker:11,othermaker:1" ]'
otok() { sed -n "s/.*\"DevEUI\":\"$1\".*:O\([0-9A-F]\{32\}\)\".*/\1/p" "$out/batch.jsonl"; }
W=$(hex16)
for s in $names; do [ "$W" = "$(otok "$(eval echo \$$s)")" ] && W=00000000000000000000000000000000; done

# the relations: claims, assignments, a lock, a release, a refusal, a retirement
{
    $I idm claim $MANA --owner-token "$(otok $MANA)" --tenant acme &&
    $I idm claim $MANB --owner-token "$(otok $MANB)" --tenant bolt && $I idm assign $MANB --js bolt-js &&
    $I idm claim $LOCK --owner-token "$(otok $LOCK)" --tenant acme && $I idm lock $LOCK &&
    $I idm claim $REL --owner-token "$(otok $REL)" --tenant acme && $I idm release $REL --tenant acme &&
    $I idm claim $REF --owner-token "$(otok $REF)" --tenant acme && $I idm refuse $REF &&
    $I idm claim $RET --owner-token "$(otok $RET)" --tenant acme && $I idm retire $RET &&
    $I idm claim $BOOTA --owner-token "$(otok $BOOTA)" --tenant acme &&
    $I idm claim $PD --owner-token "$(otok $PD)" --tenant acme && $I idm assign $PD --js acme-js &&
    $I idm claim $ACT --owner-token "$(otok $ACT)" --tenant acme && $I idm assign $ACT --js acme-js &&
    $I idm claim $NOMK --owner-token "$(otok $NOMK)" --tenant bolt
} >>"$tmp/setup.log" 2>&1
check "claims by the CLI: acme holds MANA, BOOTA, PD, ACT; bolt MANB (assigned bolt-js) and NOMK; LOCK locked, REL released, REF refused, RET retired" '[ $? -eq 0 ]'

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

# ---- the SEs that reach the air: BOOT, BOOTA, PD, ACT (SE emulators)
t0=$(date +%s)
se_ok=0
for s in BOOT BOOTA PD ACT; do
    "$FERRY" se serve --image "$out/se-$(eval echo \$$s).img" --socket "$tmp/$s.sock" 2>"$tmp/se-$s.log" &
    pids="$pids $!"
    wait_sock "$tmp/$s.sock" $! || se_ok=1
done
check "SE emulators of BOOT, BOOTA, PD and ACT up (ferry se serve)" '[ $se_ok -eq 0 ]'
boot() { SOCK="$tmp/$1.sock" node "$NS" join "$nsd/$1.json" "http://127.0.0.1:$P_JS/" "$nsd/bootstrap-ns.tok" "$NSKEK" 000000; }
pump() { SOCK="$tmp/$1.sock" node "$NS" pump "$nsd/$1.json" "http://127.0.0.1:$P_IDM" "$nsd/idm-ns.tok" "$2" ${3:-}; }
ajoin() { SOCK="$tmp/$1.sock" node "$CU" join "$nsd/$1a.json" "http://127.0.0.1:$P_A/" "$nsd/acme-ns.tok" "$ANS" "$AAS" 000013; }
arelay() { SOCK="$tmp/$1.sock" node "$CU" relay "$nsd/$1a.json" "http://127.0.0.1:$P_IDM" "$tmp/$2.tok" "$3" "$4"; }
for s in BOOT BOOTA PD ACT; do boot $s >"$tmp/o" 2>>"$tmp/err" || break; done &&
    wait_state $BOOT bootstrapped && wait_state $BOOTA bootstrapped &&
    wait_state $PD profile_pending && wait_state $ACT profile_pending
rc=$?; cat "$tmp/err" >>"$tmp/cli.log"
check "bootstrap joins of BOOT, BOOTA, PD, ACT: BOOT and BOOTA bootstrapped; PD and ACT, assigned, profile_pending" '[ $rc -eq 0 ]'
pump PD 80 switched >"$tmp/o" 2>"$tmp/err" && wait_state $PD profile_delivered &&
    pump ACT 80 switched >"$tmp/o" 2>>"$tmp/err" && ajoin ACT >"$tmp/o" 2>>"$tmp/err" && wait_state $ACT active_at_customer
rc=$?; cat "$tmp/err" >>"$tmp/cli.log"
check "profiles over the air: PD switched (profile_delivered, on trial); ACT switched and joined acme's network: active_at_customer ($(($(date +%s) - t0)) s)" '[ $rc -eq 0 ]'

# finding 5 (the Join Server's side, no REST endpoint): a RejoinReq type 0
# with an all-zero MIC for MAN, which never joined
le() { echo "$1" | sed 's/../& /g' | tr ' ' '\n' | grep . | tac | tr -d '\n'; }
bi() { curl -s -o "$tmp/bi" -H "Authorization: Bearer $(cat "$1")" --data-binary "$2" "http://127.0.0.1:$P_JS/"; }
bi "$nsd/op.tok" "{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"00000A\",\"ReceiverID\":\"70B3D57ED0000000\",\"TransactionID\":7,\"MessageType\":\"RejoinReq\",\"MACVersion\":\"1.1\",\"PHYPayload\":\"C000$(le 00000A)$(le $MAN)000000000000\",\"DevEUI\":\"$MAN\",\"DevAddr\":\"0A000001\",\"DLSettings\":\"00\",\"RxDelay\":1}"
cp "$tmp/bi" "$tmp/err"
check "finding 5: operator 00000A's RejoinReq type 0, MIC 00000000, for MAN (never joined): JoinReqFailed, no key, no session" \
    '[ "$(jget Result.ResultCode <"$tmp/bi")" = JoinReqFailed ] && ! grep -qE "NwkSKey|NwkSIntKey|AppSKey|PHYPayload" "$tmp/bi" &&
     [ "$(q "SELECT count(*) FROM sessions WHERE dev_eui = '"'$MAN'"'")" = 0 ]'
# finding 2 at the Join Server: RET's device row went with its retirement
bi "$nsd/bootstrap-ns.tok" "{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"000000\",\"ReceiverID\":\"70B3D57ED0000000\",\"TransactionID\":8,\"MessageType\":\"HomeNSReq\",\"DevEUI\":\"$RET\"}"
c1=$(jget Result.ResultCode <"$tmp/bi")
bi "$nsd/bootstrap-ns.tok" "{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"000000\",\"ReceiverID\":\"70B3D57ED0000000\",\"TransactionID\":9,\"MessageType\":\"HomeNSReq\",\"DevEUI\":\"$MAN\"}"
c2=$(jget Result.ResultCode <"$tmp/bi")
check "finding 2: HomeNSReq for the retired RET: UnknownDevEUI (MAN, not retired: $c2)" '[ "$c1" = UnknownDevEUI ] && [ "$c2" = Success ]'

# the matrix runs with housekeeping out of the way (poll 3600: one round at
# start, then none), so that only the cases change anything
$I idm config set poll 3600 >/dev/null 2>>"$tmp/cli.log"
kill "$idm_pid"; wait "$idm_pid" 2>/dev/null
$I idm serve >>"$tmp/idm.log" 2>&1 &
idm_pid=$!
wait_http "http://127.0.0.1:$P_IDM/healthz" $idm_pid
check "idm serve restarted with poll 3600 for the matrix" '[ $? -eq 0 ]'

# the helper's configuration
{
    printf '{"api":"http://127.0.0.1:%s/api/v1","ferry":"%s","dir":"%s","db":"%s/ferry.db","nose":"%s","wrong":"%s",\n' \
        "$P_IDM" "$FERRY" "$idm" "$idm" "$NOSE" "$W"
    printf '"tokens":{"maker":"%s","othermaker":"%s","acme":"%s","bolt":"%s"},\n' \
        "$(cat "$tmp/maker.tok")" "$(cat "$tmp/othermaker.tok")" "$(cat "$tmp/acme.tok")" "$(cat "$tmp/bolt.tok")"
    printf '"js":{"acme":"acme-js","bolt":"bolt-js"},"ses":['
    sep=""
    for s in $names; do
        d=$(eval echo \$$s)
        printf '%s\n{"name":"%s","dev":"%s","owner":"%s"}' "$sep" "$s" "$d" "$(otok "$d")"
        sep=","
    done
    printf ']}\n'
} >"$tmp/mx.json"
chmod 600 "$tmp/mx.json"

mx facts built "MAN=manufactured/none/" "MANA=manufactured/claimed/acme" "MANB=manufactured/claimed/bolt" \
    "LOCK=manufactured/locked/" "REL=manufactured/released/" "REF=manufactured/refused/" "RET=retired/released/" \
    "BOOT=bootstrapped/none/" "BOOTA=bootstrapped/claimed/acme" "PD=profile_delivered/claimed/acme" \
    "ACT=active_at_customer/claimed/acme" "OM=manufactured/none/" "NOMK=manufactured/claimed/bolt"

echo "# setup $(($(date +%s) - t_start)) s"

# ======== sweep 1: every SE as built, every actor, every endpoint and
# command; only the cases whose answer is a refusal or a read (the allowed
# changes come after, so that each SE keeps its state for every actor)
# (the tenants' CLI commands that a kind of actor does not have at all, a
# 403 whatever the SE, on four SEs: the maker's own, held, retired, and one
# of no maker)
mx sweep "sweep 1" --rest --cli --op --cli403=MAN,MANA,RET,NOMK

# ======== the walk: allowed changes into more states, each followed by a
# sweep of the SE in its new state
# finding 6, and transfer_pending: acme's secure command to ACT answered
# by the SE's application, then ACT moved to bolt on a Join Server that is
# down: bolt holds it, acme is leaving
mx cases "walk" "acme rest command ACT payload=C0FFEE0102"
REPLY=0A0B0C arelay ACT acme 40 quiet:3 >"$tmp/o" 2>"$tmp/err"
rc=$?; cat "$tmp/err" >>"$tmp/cli.log"; cp "$tmp/o" "$tmp/err"
check "walk: acme's command relayed through acme's AS to ACT's application, which answers 0A0B0C" \
    '[ $rc -eq 0 ] && grep -qi "\"secure\":\"C0FFEE0102\"" "$tmp/o"'
mx cases "finding 6, before the transfer" "acme rest read_command ACT seq=last" "bolt rest read_command ACT seq=last" \
    "maker rest read_command ACT seq=last"
mx cases "walk" "acme rest transfer ACT to=bolt js=bolt-down"
mx facts "walk: ACT transferred to bolt's Join Server that is down" "ACT=transfer_pending/claimed/bolt<acme"
mx cases "finding 6, after the transfer" "bolt rest read_command ACT seq=last" "acme rest read_command ACT seq=last" \
    "op cli command-show ACT seq=last" "acme rest relay ACT" "bolt rest relay ACT"
mx sweep "transfer_pending" --rest --cli --op --cli403= ACT

# profile_pending: acme assigns BOOTA (bootstrapped) through the CLI, which
# provisions at once
mx cases "walk" "acme cli assign BOOTA js=acme-js"
mx facts "walk: BOOTA provisioned" "BOOTA=profile_pending/claimed/acme"
mx sweep "profile_pending" --rest --cli --op --cli403= BOOTA

# fallback: PD's trial (max_join_attempts 2) runs out without a join; the
# SE falls back to its bootstrap profile, joins the bootstrap network and
# reports it
"$FERRY" se join-request --socket "$tmp/PD.sock" >/dev/null 2>"$tmp/err" &&
    "$FERRY" se join-request --socket "$tmp/PD.sock" >/dev/null 2>>"$tmp/err" &&
    boot PD >"$tmp/o" 2>>"$tmp/err"
rc=$?
pump PD 20 >"$tmp/o" 2>>"$tmp/err"
cat "$tmp/err" >>"$tmp/cli.log"
check "walk: PD's trial runs out (2 joins unanswered), it joins the bootstrap network again and reports its fallback" \
    '[ $rc -eq 0 ] && wait_state $PD fallback'
mx sweep "fallback" --rest --op PD
# returned_to_bootstrap: acme sends PD back; the BOOTSTRAP command goes
# over the bootstrap network
mx cases "walk" "acme rest return PD"
pump PD 40 >"$tmp/o" 2>"$tmp/err"
cat "$tmp/err" >>"$tmp/cli.log"
check "walk: PD acknowledges BOOTSTRAP: returned_to_bootstrap, the claim released" \
    'wait_state $PD returned_to_bootstrap'
mx facts "walk" "PD=returned_to_bootstrap/released/"
mx sweep "returned_to_bootstrap" --rest --op PD

# ======== finding 3: release and refuse leave no holder; unlock gives the
# SE back to nobody, and the buyer with the owner token claims it
mx cases "finding 3" "op cli lock REL" "op cli unlock REL"
mx facts "finding 3: unlock gives the released REL back to nobody" "REL=manufactured/released/"
mx cases "finding 3" "acme rest read REL" "acme rest release REL" "acme cli release REL" "bolt rest claim REL token=right"
mx cases "finding 3" "op cli lock REF" "op cli unlock REF"
mx facts "finding 3: ... and the refused REF too" "REF=manufactured/released/"
mx cases "finding 3" "acme rest read REF" "bolt cli claim REF token=right"
mx cases "finding 3" "op cli unlock LOCK"
mx facts "finding 3: LOCK, locked while acme held it, goes back to acme" "LOCK=manufactured/claimed/acme"

# ======== finding 4: wrong owner tokens lock out the guesser only; malformed
# ones count for nothing (the bulk form, as in the finding, and the single)
mx cases "finding 4" "bolt rest bulk_claim OM token=malformed" "bolt rest bulk_claim OM token=malformed" \
    "bolt rest claim OM token=malformed" "bolt rest bulk_claim OM token=wrong" "bolt rest bulk_claim OM token=wrong" \
    "bolt rest bulk_claim OM token=wrong" "bolt rest claim OM token=wrong" "bolt cli claim OM token=wrong" \
    "bolt rest bulk_claim OM token=wrong" "bolt rest claim OM token=right" "bolt cli claim OM token=right"
mx facts "finding 4: bolt's guesses counted for bolt, up to five; acme's three of the sweeps for acme" "OM~acme:3,bolt:5"
mx cases "finding 4: the buyer" "acme rest claim OM token=right" "bolt rest claim OM token=right"
mx facts "finding 4: acme, the buyer, holds OM; its count is cleared, bolt's stays" "OM=manufactured/claimed/acme" "OM~bolt:5"

# ======== finding 1: a maker's own unheld SE takes its command and return;
# another maker does not see it
mx cases "finding 1" "maker rest command BOOT payload=C0FFEE" "maker rest read_command BOOT seq=last" \
    "othermaker rest read_command BOOT seq=last" "acme rest read_command BOOT seq=last" "op cli command-show BOOT seq=last" \
    "maker cli command BOOT payload=C0FFEE" "maker rest return BOOT" "othermaker rest command BOOT"

# ======== the allowed changes: every case again, the changes included, in
# the order of the lists (reads, claims, operations, commands, relay), the
# table asked afresh before each; then the operator's commands, which end
# with retire
mx sweep "changes (CLI)" --cli --changes --cli403= MAN MANA MANB
mx sweep "changes" --rest --changes
mx facts "changes" "BOOT=bootstrapped/claimed/acme"
mx cases "finding 1: the maker's own command on its SE that acme holds now" "maker rest read_command BOOT seq=1" \
    "acme rest read_command BOOT seq=1" "othermaker rest read_command BOOT seq=1"
mx sweep "operator" --op --changes
mx facts "every SE retired by the operator" $(for s in $names; do printf '%s=retired/released/ ' $s; done)
mx sweep "retired" --rest
mx sweep "retired" --op --cli --cli403= ACT PD

$I idm audit verify >"$tmp/o" 2>>"$tmp/cli.log"
check "the audit chain verifies" '[ $? -eq 0 ] && grep -q "\"ok\": true" "$tmp/o"'
kill "$idm_pid" 2>/dev/null; wait "$idm_pid" 2>/dev/null; rc=$?; idm_pid=""
check "idm serve stops cleanly on SIGTERM" '[ $rc -eq 0 ]'
for p in $pids; do kill "$p" 2>/dev/null; done
for p in $pids; do wait "$p" 2>/dev/null; done
pids=""
grep -lE "ERROR: (Address|Leak)Sanitizer|runtime error" "$tmp"/*.log >"$tmp/err" 2>/dev/null
check "no sanitizer report in any log (servers, SE emulators, CLI)" '[ ! -s "$tmp/err" ]'

echo "# $n cases: $mx_cases of them the matrix's (an actor, an endpoint or command, an SE and its state), the rest set-up, devices and the Join Server; $(($(date +%s) - t_start)) s"
echo "1..$n"
[ "$failed" -eq 0 ]
