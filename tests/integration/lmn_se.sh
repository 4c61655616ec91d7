#!/bin/sh
# lmn_se.sh - issue 20, part 2: LoRaMac-node v4.7.0's unmodified crypto
# (LoRaMacCrypto.c, its parser and serializer) on ferry's element through
# the driver ports/loramac-node/ferry-se/ (no soft-se), against a real
# ferry Join Server over Backend Interfaces HTTP.
#
# The element and the Join Server share keys the way the factory makes
# them: `ferry hsa personalise` writes the element images and a batch whose
# keys are wrapped under the HSA-IDM KEK, `idm import` gives the devices to
# the deployment's Join Server. No key is ever given to the device program:
# it has only its element. The test itself knows the KEKs (HSA, NS, AS) so
# that lora-packet can check every frame (tests/loramac/lmn_se_flow.js).
#
# For a 1.0.4 and a 1.1 element, in-process (lmn_se_local: the element's
# code in the device program over its image file) and through a socket to
# `ferry se serve` (lmn_se): join-request, join-accept (first one taken;
# with and without CFList), uplinks FPort 1 / 0 / with FOpts, downlinks
# FPort 1 / 0 / with FOpts, a wrong MIC refused, rejoin 0/1/2 (1.1; type 1
# answered by the Join Server and taken), multicast McKey setup and a group
# downlink, and every call the driver or element must refuse.
# Where LORAMAC_NODE_DIR has no source the test is skipped, never passed.
# Prints TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
LORAMAC_NODE_DIR=${LORAMAC_NODE_DIR:-$(cd "$root/.." && pwd)/shared/loramac-node}
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD="$root/$BUILD" ;; esac
. "$here/lib/common.sh"
need_loramac_node
need_node
export NODE_PATH="$root/tests/oracle/node_modules"
idm_pid=""
make_tmp lmn-se
watch_log "$tmp"
SE_LOCAL="$BUILD/loramac/lmn_se_local"
SE_SOCK="$BUILD/loramac/lmn_se"
if [ ! -x "$SE_LOCAL" ] || [ ! -x "$SE_SOCK" ]; then
    notok "lmn_se and lmn_se_local are built from $LORAMAC_NODE_DIR (make loramac)"
    echo "1..$n"
    exit 1
fi
FLOW="$root/tests/loramac/lmn_se_flow.js"
HSAKEK=$(hex16); NSKEK=$(hex16); ASKEK=$(hex16)
JE=70B3D57ED0000000
P=$(port)
D="$FERRY -d $tmp/js"
{
    "$FERRY" init "$tmp/js" --join-eui $JE --listen "127.0.0.1:$P" &&
        echo "$HSAKEK" | $D kek import hsa-idm && echo "$NSKEK" | $D kek import bootstrap-ns &&
        echo "$ASKEK" | $D kek import idm-as && $D peer add 000000 --token-out "$tmp/ns.tok" &&
        echo "$HSAKEK" | "$FERRY" hsa personalise --count 2 --out "$tmp/h10" --kek-label hsa-idm --mac-version 1.0.4 \
            --dev-eui-base 70B3D57ED0080000 && $D idm import "$tmp/h10/batch.jsonl" &&
        echo "$HSAKEK" | "$FERRY" hsa personalise --count 2 --out "$tmp/h11" --kek-label hsa-idm --mac-version 1.1 \
            --dev-eui-base 70B3D57ED0090000 && $D idm import "$tmp/h11/batch.jsonl"
} >"$tmp/setup.log" 2>"$tmp/err"
check "a Join Server with 2 elements of LoRaWAN 1.0.4 and 2 of 1.1 from hsa personalise" '[ $? -eq 0 ]'
$D serve >"$tmp/serve.log" 2>&1 &
pids="$pids $!"
check "ferry serve answers" "wait_http http://127.0.0.1:$P/metrics $!"

# flow NAME BATCHDIR INDEX CFLIST CMD...: one device's whole flow, each of its
# checks a TAP line
flow() {
    f_name=$1; f_line=$(sed -n "${3}p" "$tmp/$2/batch.jsonl"); f_cfl=$4; shift 4
    node -e '
        const [out, line, tok, hsa, ns, as, cfl, ferry, js, ...cmd] = process.argv.slice(1);
        require("fs").writeFileSync(out, JSON.stringify({ cmd, ferry, js, nsToken: tok, netId: "000000",
            devAddr: "00112233", batchLine: line, hsaKek: hsa, nsKek: ns, asKek: as, cflist: cfl === "yes" }));
    ' "$tmp/$f_name.json" "$f_line" "$(cat "$tmp/ns.tok")" "$HSAKEK" "$NSKEK" "$ASKEK" "$f_cfl" "$FERRY" \
        "http://127.0.0.1:$P/" "$@"
    node "$FLOW" "$tmp/$f_name.json" >"$tmp/$f_name.out" 2>"$tmp/err"
    f_rc=$?
    f_checks=0
    while IFS= read -r l; do
        case $l in
        "CHECK 1 "*) ok "$f_name: ${l#CHECK 1 }"; f_checks=$((f_checks + 1)) ;;
        "CHECK 0 "*) notok "$f_name: ${l#CHECK 0 }"; f_checks=$((f_checks + 1)) ;;
        "#"*) echo "$l" ;;
        esac
    done <"$tmp/$f_name.out"
    check "$f_name: the flow ran to its end ($f_checks checks, exit $f_rc)" '[ $f_checks -ge 20 ] && ! grep -q "flow crashed" "$tmp/$f_name.out"'
}
img() { ls "$tmp/$1"/se-*.img | sed -n "${2}p"; }

flow "1.0.4 in-process" h10 1 yes "$SE_LOCAL" --image "$(img h10 1)" "$tmp/n10a.nvm" -
flow "1.1 in-process" h11 1 no "$SE_LOCAL" --image "$(img h11 1)" "$tmp/n11a.nvm" -
for i in 2; do
    "$FERRY" se serve --image "$(img h10 $i)" --socket "$tmp/se10.sock" 2>"$tmp/se10.log" &
    pids="$pids $!"
    "$FERRY" se serve --image "$(img h11 $i)" --socket "$tmp/se11.sock" 2>"$tmp/se11.log" &
    pids="$pids $!"
done
wait_until "the SE emulators' sockets" - "[ -S '$tmp/se10.sock' ] && [ -S '$tmp/se11.sock' ]"
check "two SE emulators (ferry se serve) up" '[ $? -eq 0 ]'
flow "1.0.4 over the socket to ferry se serve" h10 2 no "$SE_SOCK" --socket "$tmp/se10.sock" "$tmp/n10b.nvm" -
flow "1.1 over the socket to ferry se serve" h11 2 yes "$SE_SOCK" --socket "$tmp/se11.sock" "$tmp/n11b.nvm" -

# The harness can fail: a join-accept the element did not ask for (a fresh
# program: no join outstanding) is refused.
"$SE_LOCAL" --image "$(img h10 1)" "$tmp/ctl.nvm" join-accept 20$(hex16) >"$tmp/o" 2>"$tmp/err"
rc=$?
check "control: a join-accept nobody asked for is refused (exit 3)" '[ $rc -eq 3 ] && grep -q "\"Accepted\":false" "$tmp/o"'
# No root key in any output of the device programs.
wrapped=$(sed -n '1s/.*"NwkKey":{"KEKLabel":"hsa-idm","AESKey":"\([0-9A-F]*\)".*/\1/p' "$tmp/h11/batch.jsonl")
nwk=$(node -e 'const c=require("crypto");const d=c.createDecipheriv("id-aes128-wrap",Buffer.from(process.argv[1],"hex"),Buffer.from("a6a6a6a6a6a6a6a6","hex"));console.log(Buffer.concat([d.update(Buffer.from(process.argv[2],"hex")),d.final()]).toString("hex"))' "$HSAKEK" "$wrapped")
check "no output of the device programs holds an element's NwkKey" '[ ${#nwk} -eq 32 ] && ! cat "$tmp"/*.out | grep -qi "$nwk"'

echo "1..$n"
[ "$failed" -eq 0 ]
