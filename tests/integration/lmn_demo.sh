#!/bin/sh
# lmn_demo.sh - issue 20: `ferry demo --devices 20 --stack loramac-node
# --loss 0.1`, every device a LoRaMac-node device (an lmn_node process:
# upstream's unmodified MAC, region EU868 and LmHandler, built from
# $LORAMAC_NODE_DIR, with ferry's element behind its secure-element API
# through the driver and ferry's LmhpFerry package, on the lab's radio)
# through the whole flow: bootstrap (every fifth by passive roaming through
# the hub), profile, customer join, uplinks, transfer, renewal, secure
# command, fallback. Its report is checked device by device, and
#   - every join-accept a device heard was taken by its stack (none refused:
#     the first one of each Join Server, also after the moves);
#   - frames per activation are reported for the LoRaMac-node devices;
#   - without the lmn_node program the option fails with a sentence saying
#     how to build it.
# Where LORAMAC_NODE_DIR has no source the test is skipped (and says so),
# never passed. DEMO_DEVICES overrides the count.
# Prints TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib/common.sh"
need_lmn_node
need_node
N=${DEMO_DEVICES:-20}
make_tmp lmn-demo
watch_log "$tmp/demo"

# Without the program beside the binary: a sentence that says how to build it.
mkdir -p "$tmp/alone/bin" && cp "$FERRY" "$tmp/alone/bin/ferry"
"$tmp/alone/bin/ferry" demo --devices 4 --stack loramac-node --dir "$tmp/alone/d" >"$tmp/o" 2>"$tmp/e"
rc=$?
check "without lmn_node, --stack loramac-node fails and says to run make loramac" \
    '[ $rc -ne 0 ] && grep -q "make loramac" "$tmp/e" && [ ! -d "$tmp/alone/d/idm" ]'
"$FERRY" demo --devices 4 --stack nonsense >"$tmp/o" 2>"$tmp/e"
check "--stack with an unknown name is a usage error" '[ $? -eq 2 ] && grep -q "ferry, loramac-node or mixed" "$tmp/e"'

"$FERRY" demo --devices "$N" --stack loramac-node --loss 0.1 --dir "$tmp/demo" --json "$tmp/report.json" \
    >"$tmp/out" 2>"$tmp/err"
rc=$?
check "ferry demo --devices $N --stack loramac-node --loss 0.1 exits 0" \
    '[ $rc -eq 0 ] || { tail -25 "$tmp/err" | sed "s/^/# /"; show_logs; false; }'
q() { node -e 'const o=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));process.stdout.write(String(eval(process.argv[2])))' "$tmp/report.json" "$1" 2>/dev/null; }
check "report: ok true, $N devices, stack loramac-node" \
    '[ "$(q o.ok)" = true ] && [ "$(q o.devices.length)" = "$N" ] && [ "$(q o.stack)" = loramac-node ]'
check "every device of the report ran LoRaMac-node ($(q 'o.stacks["loramac-node"].devices') of $N)" \
    '[ "$(q "o.devices.filter(d=>d.stack===\"loramac-node\").length")" = "$N" ] && [ "$(q "o.stacks.ferry===undefined")" = true ]'
for s in bootstrap claim profile uplinks transfer renew command fallback settle; do
    check "step $s: done by all its devices, none failed ($(q "o.steps.$s.done") done)" \
        '[ "$(q "o.steps.$s.failed")" = 0 ] && [ "$(q "o.steps.$s.done")" -ge 1 ]'
done
check "every device active at the owner the scenario gives it (recomputed here from its index)" \
    '[ "$(q "o.devices.filter((d,i)=>{const own=(i%4===0&&i+2<$N)?\"bolt\":(i%2===0?\"acme\":\"bolt\");return d.state===\"active_at_customer\"&&d.owner===own}).length")" = "$N" ]'
check "every join-accept a device heard was taken by its stack ($(q 'o.stacks["loramac-node"].join_accepts_heard') heard, $(q 'o.stacks["loramac-node"].join_accepts_refused') refused)" \
    '[ "$(q "o.stacks[\"loramac-node\"].join_accepts_refused")" = 0 ] && [ "$(q "o.devices.every(d=>d.join_accepts_heard===d.joins)")" = true ]'
check "each device joined at least twice (bootstrap, customer), transferred and renewed ones three times" \
    '[ "$(q "o.devices.every((d,i)=>d.joins>=((i%4===0&&i+2<$N)||i%4===1?3:2))")" = true ]'
fpa=$(q 'o.stacks["loramac-node"].frames_per_activation')
check "frames per activation reported for the LoRaMac-node devices ($fpa)" \
    '[ "$(q "o.stacks[\"loramac-node\"].frames_per_activation>1&&o.stacks[\"loramac-node\"].activations>=2*$N")" = true ] && grep -q "loramac-node .* frames per activation" "$tmp/err"'
check "frames were lost on the way, both ways ($(q 'o.stacks["loramac-node"].lost_up') up, $(q 'o.stacks["loramac-node"].lost_down') down), and the flow still completed" \
    '[ "$(q "o.stacks[\"loramac-node\"].lost_up>0&&o.stacks[\"loramac-node\"].lost_down>0")" = true ]'
r=$(q o.roaming_devices)
v=$(grep '"roaming join"' "$tmp/demo/visited-ns.log" | grep -o '"dev_eui":"[0-9A-F]*"' | sort -u | wc -l | tr -d ' ')
check "every fifth device ($r) bootstrapped through the visited network by passive roaming ($v seen there)" \
    '[ "$r" = "$((N / 5))" ] && [ "$v" -ge "$r" ]'
e=$(cat "$tmp/demo"/lmn/*.log 2>/dev/null | grep -c "the element:")
check "no LoRaMac-node device reported an element error ($e)" '[ "$e" = 0 ]'
s=$(grep -l "Sanitizer\|runtime error" "$tmp/demo"/lmn/*.log 2>/dev/null | head -1)
check "no sanitizer report from any LoRaMac-node device (upstream's MAC and ferry's board, ASan+UBSan)" \
    '[ -z "$s" ] || { grep -h -A8 "Sanitizer\|runtime error" "$s" | head -20 | sed "s/^/# /"; false; }'
k=$(grep -rlaE "$(cat "$tmp/demo"/*.kek | tr '\n' '|' | sed 's/|$//')" "$tmp/demo"/lmn "$tmp/demo"/*.log 2>/dev/null | head -1)
check "no KEK of the demo in clear in the devices' NVM files or any log" '[ -z "$k" ] || { echo "# in $k"; false; }'
echo "1..$n"
[ "$failed" -eq 0 ]
