#!/bin/sh
# waits.sh - the tests' waiting rules, tested on real servers
# (docs/testing.md):
#   - a server stopped (SIGSTOP) for 5 s in the middle of a flow delays it
#     and the flow still completes: 8 devices join through a lab network
#     server whose Join Server is frozen as they start;
#   - a server killed while a test waits for it makes the wait fail at once
#     (not at its deadline), with a report that names what was waited for
#     and shows that server's last log lines;
#   - a condition that never comes true fails at the deadline with the same
#     report; FERRY_TEST_SLOW scales the deadline;
#   - ports from the allocator are distinct, below the ephemeral range, and
#     released when the test's shell exits.
# Prints TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib/common.sh"
need_node
make_tmp waits
watch_log "$tmp"

# ---- ports
lo=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range)
plist=""
for k in 1 2 3 4 5 6 7 8 9 10; do plist="$plist $(port)"; done
check "10 ports reserved: distinct, below the ephemeral range ($lo), each a reservation of this shell" \
    '[ "$(echo $plist | tr " " "\n" | sort -u | wc -l)" = 10 ] &&
     for p in $plist; do [ "$p" -lt "$lo" ] && [ "$(cat "$port_dir/$p/owner")" = $$ ] || exit 1; done'
check "release_ports removes this shell's reservations" \
    'sh -c ". \"$here/lib/wait.sh\"; p=\$(port); [ -d \"\$port_dir/\$p\" ] && release_ports && [ ! -d \"\$port_dir/\$p\" ]"'
child=$(sh -c ". '$here/lib/wait.sh'; port")   # a shell that exits without releasing, as a killed test would
had=$([ -d "$port_dir/$child" ] && echo yes)
plist="$plist $(port)"
check "a reservation left by a shell that is gone is taken back by the next allocation (port $child)" \
    '[ "$had" = yes ] && [ ! -d "$port_dir/$child" ]'

# ---- a deployment, 8 SEs, a lab network server in front of its Join Server
HSAKEK=$(hex16); BNS=$(hex16)
idm="$tmp/idm"; out="$tmp/hsa"
P_JS=$(port); P_NS=$(port); U_NS=$(uport)
I="$FERRY -d $idm"
{
    "$FERRY" init "$idm" --join-eui 70B3D57ED0000000 --listen "127.0.0.1:$P_JS" &&
    echo "$HSAKEK" | $I kek import hsa-idm && echo "$BNS" | $I kek import bootstrap-ns && $I kek generate idm-as &&
    $I peer add 000000 --token-out "$tmp/boot-js.tok" &&
    echo "$HSAKEK" | "$FERRY" hsa personalise --count 8 --out "$out" --kek-label hsa-idm --mac-version 1.0.4 \
        --dev-eui-base 70B3D57ED0090000 && $I idm import "$out/batch.jsonl"
} >"$tmp/setup.txt" 2>"$tmp/err"
check "a deployment with 8 SEs personalised and imported" '[ $? -eq 0 ]'
umask 077; echo "$BNS" >"$tmp/boot.kek"
cat >"$tmp/ns.conf" <<EOT
net_id = 000000
kek_label = bootstrap-ns
kek_file = boot.kek
udp_listen = 127.0.0.1:$U_NS
http_listen = 127.0.0.1:$P_NS
route = 70B3D57ED0000000/40 http://127.0.0.1:$P_JS/ boot-js.tok
EOT
$I serve >"$tmp/js.log" 2>&1 & js_pid=$!; pids="$pids $js_pid"
"$FERRY" lab ns --config "$tmp/ns.conf" 2>"$tmp/ns.log" & ns_pid=$!; pids="$pids $ns_pid"
wait_http "http://127.0.0.1:$P_JS/metrics" $js_pid; check "the Join Server answers /metrics" '[ $? -eq 0 ]'
wait_http "http://127.0.0.1:$P_NS/status" $ns_pid; check "the network server answers /status" '[ $? -eq 0 ]'

# ---- SIGSTOP for 5 s while the devices join
"$FERRY" lab devices --networks "boot=127.0.0.1:$U_NS" --until joined --workers 2 "$out"/se-*.img \
    >"$tmp/run.json" 2>"$tmp/err" & dev_pid=$!
kill -STOP "$js_pid"
t0=$(date +%s)
sleep 5    # the delay under test: the Join Server frozen, the flow waiting on it
kill -CONT "$js_pid"
wait "$dev_pid"; rc=$?
t1=$(date +%s)
check "the Join Server frozen 5 s as 8 devices start joining: every device joins all the same ($(jget done <"$tmp/run.json") of 8, $((t1 - t0)) s)" \
    '[ $rc -eq 0 ] && [ "$(jget done <"$tmp/run.json")" = 8 ]'
wait_until "8 JoinReq answered in the Join Server's metrics" - \
    '[ "$(curl -s http://127.0.0.1:$P_JS/metrics | sed -n "s/^ferry_js_requests_total{type=\"JoinReq\",result=\"Success\"} //p")" -ge 8 ] 2>/dev/null'
check "... and the Join Server counted them once it ran again" '[ $? -eq 0 ]'

# ---- a wait on a server that is killed fails at once, and says why
kill -9 "$js_pid"; wait "$js_pid" 2>/dev/null
t0=$(date +%s)
(
    wait_logs="$tmp/js.log"
    wait_pid=$js_pid
    wait_until "the Join Server's /metrics" 300 "curl -s -o /dev/null http://127.0.0.1:$P_JS/metrics"
) >"$tmp/report.txt"
rc=$?; t1=$(date +%s)
last=$(tail -n 1 "$tmp/js.log" | cut -c1-60)
check "a wait on a killed server fails at once ($((t1 - t0)) s of a 300 s deadline)" '[ $rc -ne 0 ] && [ $((t1 - t0)) -lt 30 ]'
check "... naming what it waited for" 'grep -q "^# timed out: process $js_pid exited while waiting for: the Join Server.s /metrics" "$tmp/report.txt"'
check "... and showing the server's last log lines" \
    'grep -q "^#   --- last 15 lines of js.log" "$tmp/report.txt" && grep -qF "#   | $last" "$tmp/report.txt"'

# ---- a condition that never comes: the deadline, scaled
t0=$(date +%s)
(FERRY_TEST_SLOW=2 wait_logs="$tmp/ns.log" wait_until "a file that never appears" 1 "[ -f '$tmp/never' ]") >"$tmp/report2.txt"
rc=$?; t1=$(date +%s)
check "a condition that never comes true: the wait ends at 1 s x FERRY_TEST_SLOW 2 ($((t1 - t0)) s)" \
    '[ $rc -ne 0 ] && [ $((t1 - t0)) -ge 2 ] && [ $((t1 - t0)) -lt 10 ] &&
     grep -q "^# timed out after 2 s (FERRY_TEST_SLOW=2) waiting for: a file that never appears" "$tmp/report2.txt" &&
     grep -q "^#   --- last 15 lines of ns.log" "$tmp/report2.txt"'
# ---- servers on port 0: the system chooses, the log line names the port
$I serve --listen 127.0.0.1:0 >"$tmp/js0.log" 2>&1 & js0=$!; pids="$pids $js0"
wait_pid=$js0
wait_until "the Join Server's listening line" - 'grep -q "\"listening\"" "$tmp/js0.log"'
wait_pid=""
p0=$(sed -n 's/.*"listening".*port \([0-9]*\),.*/\1/p' "$tmp/js0.log" | head -1)
check "ferry serve --listen 127.0.0.1:0 logs the port it bound ($p0) and answers there" \
    '[ -n "$p0" ] && [ "$p0" != 0 ] && curl -sf -o /dev/null "http://127.0.0.1:$p0/metrics"'
$I idm init --ns-token-out "$tmp/idm-ns.tok" --listen 127.0.0.1:0 >"$tmp/o" 2>"$tmp/err"
$I idm serve >"$tmp/idm0.log" 2>&1 & idm0=$!; pids="$pids $idm0"
wait_pid=$idm0
wait_until "idm serve's listening line" - 'grep -q "\"listening\"" "$tmp/idm0.log"'
wait_pid=""
q0=$(sed -n 's/.*"listening".*"port":\([0-9]*\).*/\1/p' "$tmp/idm0.log" | head -1)
check "idm serve on port 0 logs the port it bound ($q0) and answers there" \
    '[ -n "$q0" ] && [ "$q0" != 0 ] && curl -sf -o /dev/null "http://127.0.0.1:$q0/healthz"'
$I idm serve --listen 127.0.0.1:17141x >"$tmp/o" 2>"$tmp/err"
check "idm serve --listen 127.0.0.1:17141x is refused, not taken for port 17141" \
    '[ $? -ne 0 ] && grep -q "expected ADDR:PORT" "$tmp/err"'
check "no sanitizer report from any process" '! grep -l "ERROR: AddressSanitizer\|runtime error" "$tmp"/*.log "$tmp/err" 2>/dev/null'
echo "1..$n"
[ "$failed" -eq 0 ]
