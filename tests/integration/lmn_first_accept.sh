#!/bin/sh
# lmn_first_accept.sh - issue 20: devices running LoRaMac-node (upstream's
# unmodified MAC and LoRaMacCrypto, an lmn_node process each, ferry's element
# behind the driver) take the FIRST join-accept of every Join Server they
# move to, in LoRaWAN 1.0.4 and 1.1, with every Join Server restarted before
# each step's joins:
#   device 0: bootstrap JS -> acme's JS (profile) -> bolt's JS (transfer)
#   device 1: bootstrap JS -> bolt's JS -> bolt's JS again (renewal)
#   device 2: bootstrap JS -> acme's JS -> bolt's (unreachable: its trial
#             fails) -> acme's again (fallback)
#   device 3: bootstrap JS -> bolt's JS (and a secure command)
# Two `ferry demo --devices 4 --stack loramac-node --restart-join-servers
# true` runs at once (1.0.4 and 1.1), no radio loss: every join-request but
# those into the unreachable network is answered, so each activation must
# take exactly one join-request, and no join-accept heard may be refused
# (LoRaMac-node refuses a JoinNonce equal to (1.0.x) or not above (1.1) the
# last one it took). tests/integration/lmn_joinnonce.sh checks the same at
# the crypto level, without the MAC and radio.
# Where LORAMAC_NODE_DIR has no source the test is skipped (and says so).
# Prints TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib/common.sh"
need_lmn_node
need_node
make_tmp lmn-first
for v in 1.0.4 1.1; do
    "$FERRY" demo --devices 4 --stack loramac-node --mac-version $v --restart-join-servers true \
        --dir "$tmp/d$v" --json "$tmp/r$v.json" >"$tmp/out$v" 2>"$tmp/err$v" &
    eval "pid_$(echo $v | tr . _)=\$!"
done
wait "$pid_1_0_4"; rc_104=$?
wait "$pid_1_1"; rc_11=$?
for v in 1.0.4 1.1; do
    q() { node -e 'const o=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));process.stdout.write(String(eval(process.argv[2])))' "$tmp/r$v.json" "$1" 2>/dev/null; }
    rc=$rc_104; [ $v = 1.1 ] && rc=$rc_11
    cp "$tmp/err$v" "$tmp/err"
    check "$v: the demo's whole flow with LoRaMac-node devices exits 0, every device where the scenario puts it" \
        '[ $rc -eq 0 ] && [ "$(q o.ok)" = true ] && [ "$(q o.mac_version)" = $v ] || { tail -20 "$tmp/err$v" | sed "s/^/# /"; false; }'
    check "$v: each Join Server was restarted before each of the 7 steps after the bootstrap ($(q o.join_server_restarts))" \
        '[ "$(q o.join_server_restarts)" = 7 ] && [ "$(grep -c "\"listening\"" "$tmp/d$v/acme-js.log")" -ge 8 ]'
    check "$v: no join-accept a device heard was refused by LoRaMac-node ($(q 'o.devices.map(d=>d.join_accepts_heard+"/"+d.joins).join(" ")') heard/taken)" \
        '[ "$(q "o.devices.every(d=>d.join_accepts_heard===d.joins)")" = true ]'
    check "$v: every activation took one join-request, the first join-accept ($(q 'o.devices.map(d=>d.join_requests+"/"+d.joins).join(" ")') requests/joins; device 2 also knocks on the unreachable network)" \
        '[ "$(q "o.devices.every((d,i)=>i===2?d.join_requests>d.joins:d.join_requests===d.joins)")" = true ]'
    check "$v: device 0 joined the bootstrap JS, acme's, then bolt's after the transfer, and is bolt's" \
        '[ "$(q "o.devices[0].joins")" = 3 ] && [ "$(q "o.devices[0].owner")" = bolt ]'
    check "$v: device 1 joined bolt's JS again after its renewal, device 2 fell back to acme's" \
        '[ "$(q "o.devices[1].joins")" = 3 ] && [ "$(q "o.devices[2].joins")" = 3 ] && [ "$(q "o.devices[2].owner")" = acme ]'
    s=$(grep -l "Sanitizer\|runtime error" "$tmp/d$v"/lmn/*.log 2>/dev/null | head -1)
    check "$v: no sanitizer report from any LoRaMac-node device" \
        '[ -z "$s" ] || { grep -h -A8 "Sanitizer\|runtime error" "$s" | head -20 | sed "s/^/# /"; false; }'
done
rm -f "$tmp/err"
echo "1..$n"
[ "$failed" -eq 0 ]
