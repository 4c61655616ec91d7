#!/bin/sh
# demo.sh - `ferry demo --devices 200 --loss 0.1`, its report checked device
# by device: every device ends active at the customer the scenario expects
# (acme's even devices, bolt's odd ones, half of acme's moved to bolt, the
# fallback device back with acme), every fifth device bootstrapped through
# the visited network by passive roaming through the hub, every step done by
# all its devices, and the exit status agrees. DEMO_DEVICES overrides the count;
# DEMO_CLOCK=simulated runs it under the simulated-time radio (demo_sim.sh).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
FERRY=${FERRY:-$root/build/san/bin/ferry}
. "$here/lib/wait.sh"
N=${DEMO_DEVICES:-200}
CLOCK=${DEMO_CLOCK:-wall}
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else notok "$1"; fi; }
if ! command -v node >/dev/null 2>&1; then
    echo "not ok 1 - node is needed to read the report (scripts/deps.sh)"; echo "1..1"; exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-demo-test.XXXXXX") || exit 1
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
# the demo's servers log into $tmp/demo/*.log: shown when it fails (its waits
# are its own, in src/cli/cli_demo.c)
watch_log "$tmp/demo"
"$FERRY" demo --devices "$N" --loss 0.1 --clock "$CLOCK" --dir "$tmp/demo" --json "$tmp/report.json" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "ferry demo --devices $N --loss 0.1 --clock $CLOCK exits 0" '[ $rc -eq 0 ] || { tail -20 "$tmp/err" | sed "s/^/# /"; show_logs; false; }'
q() { node -e 'const o=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));process.stdout.write(String(eval(process.argv[2])))' "$tmp/report.json" "$1" 2>/dev/null; }
check "report: ok true, $N devices" '[ "$(q o.ok)" = true ] && [ "$(q o.devices.length)" = "$N" ]'
for s in bootstrap claim profile uplinks transfer renew command fallback settle; do
    check "step $s: done by all its devices, none failed ($(q "o.steps.$s.done") done)" \
        '[ "$(q "o.steps.$s.failed")" = 0 ] && [ "$(q "o.steps.$s.done")" -ge 1 ]'
done
check "steps bootstrap, profile, uplinks and settle took every device" \
    '[ "$(q "[o.steps.bootstrap.done,o.steps.profile.done,o.steps.uplinks.done,o.steps.settle.done].join()")" = "$N,$N,$N,$N" ]'
# the scenario, recomputed here: even -> acme, odd -> bolt, i%4==0 (but the last two) -> bolt, device 2 stays acme
check "every device active at the owner the scenario gives it (recomputed here from its index)" \
    '[ "$(q "o.devices.filter((d,i)=>{const own=(i%4===0&&i+2<$N)?\"bolt\":(i%2===0?\"acme\":\"bolt\");return d.state===\"active_at_customer\"&&d.owner===own&&d.expected_owner===own}).length")" = "$N" ]'
check "frames were lost on the way (10% both ways) and the flow still completed" \
    'grep -q "bootstrap" "$tmp/err" && [ "$(q "Object.values(o.steps).reduce((a,s)=>a+s.frames,0)")" -gt "$((N * 10))" ]'
cpu_keys='["se","join_server","idm","network_server","application_server","hub","lab_radio"]'
check "report: cpu_share has the seven pieces, summing to 1 (+-0.01), and devices_per_s > 0 ($(q o.devices_per_s))" \
    '[ "$(q "Object.keys(o.cpu_share).sort().join()===$cpu_keys.sort().join()&&Object.values(o.cpu_share).every(v=>v>=0)&&Math.abs(Object.values(o.cpu_share).reduce((a,v)=>a+v,0)-1)<=0.01&&o.devices_per_s>0&&o.flow_s>0&&o.setup_s>0&&o.cpu.total>0")" = true ]'
if [ "$CLOCK" = simulated ]; then
    check "simulated clock: radio time went by ($(q o.simulated.SimulatedSeconds) s), uplinks and downlinks took airtime, the NSs said when an uplink got nothing" \
        '[ "$(q "o.clock===\"simulated\"&&o.simulated.SimulatedSeconds>0&&o.simulated.AirtimeUpSeconds>0&&o.simulated.AirtimeDownSeconds>0&&o.simulated.NoDownlinkNotices>0")" = true ]'
fi
r=$(q o.roaming_devices)
v=$(grep '"roaming join"' "$tmp/demo/visited-ns.log" | grep -o '"dev_eui":"[0-9A-F]*"' | sort -u | wc -l | tr -d ' ')
check "every fifth device ($r) bootstrapped through the visited network by passive roaming through the hub ($v seen there)" \
    '[ "$r" = "$((N / 5))" ] && [ "$v" -ge "$r" ] && grep -q PRStartReq "$tmp/demo/hub.log"'
"$FERRY" -d "$tmp/demo/idm" idm audit verify >"$tmp/o" 2>&1
check "the IDM's audit chain verifies" '[ $? -eq 0 ]'
k=$(grep -rlaE "$(cat "$tmp/demo"/*.kek | tr '\n' '|' | sed 's/|$//')" "$tmp/demo"/*.log "$tmp/demo"/idm "$tmp/demo"/*-js 2>/dev/null | head -1)
check "no network or AS KEK of the demo in clear in any log or deployment" '[ -z "$k" ] || { echo "# in $k"; false; }'
echo "1..$n"
[ "$failed" -eq 0 ]
