#!/bin/sh
# se_emulator.sh - the secure element emulator as a separate process, driven
# through `ferry se` over its Unix socket, checked by independent code:
# node's RFC 3394 key wrap for personalisation and lora-packet for every
# frame the element produces. Also: kill -9 and restart lose nothing that
# was answered. Prints TAP.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
FERRY=${FERRY:-$root/build/san/bin/ferry}
export NODE_PATH="$root/tests/oracle/node_modules"
. "$here/lib/wait.sh"

n=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-se.XXXXXX") || exit 1
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
watch_log "$tmp/serve.log"

ok() {
    n=$((n + 1))
    echo "ok $n - $1"
}
not_ok() {
    n=$((n + 1))
    failed=$((failed + 1))
    echo "not ok $n - $1"
    [ $# -gt 1 ] && printf '%s\n' "$2" | sed 's/^/# /'
}
check() {   # check DESCRIPTION COMMAND...: passes when the command succeeds
    desc=$1
    shift
    if out=$("$@" 2>&1); then ok "$desc"; else not_ok "$desc" "$out"; fi
}
json() {    # json FILE FIELD: prints one field of a JSON object
    node -e 'const o=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); const v=o[process.argv[2]]; process.stdout.write(v===undefined?"":String(v))' "$1" "$2"
}

if ! "$root/tests/oracle/install.sh"; then
    echo "not ok 1 - lora-packet installed for the cross-checks"
    echo "1..1"
    exit 1
fi

TRANSPORT=000102030405060708090a0b0c0d0e0f
APPKEY=2b7e151628aed2a6abf7158809cf4f3c
MLSKEY=a0a1a2a3a4a5a6a7a8a9aaabacadaeaf
DEVEUI=0004a30b001c0530
JOINEUI=70b3d57ed0000001
sock="$tmp/se.sock"
img="$tmp/se.img"

wrap() {    # RFC 3394 by node's OpenSSL, not by ferry
    node -e 'const c=require("crypto"); const w=c.createCipheriv("id-aes128-wrap",Buffer.from(process.argv[1],"hex"),Buffer.from("a6a6a6a6a6a6a6a6","hex")); process.stdout.write(Buffer.concat([w.update(Buffer.from(process.argv[2],"hex")),w.final()]).toString("hex"))' "$1" "$2"
}

# start_server: the emulator on $img, ready when `se info` is answered on
# $sock (the socket file alone may exist before listen()); its pid is
# watched, so an emulator that dies fails the wait at once
start_server() {
    "$FERRY" se serve --image "$img" --socket "$sock" 2>"$tmp/serve.log" &
    server=$!
    wait_pid=$server
    wait_until "the emulator answering se info on $sock" - \
        '[ -S "$sock" ] && "$FERRY" se info --socket "$sock" >/dev/null 2>&1'
    st=$?
    wait_pid=""
    return $st
}

# 1. Manufacture: a blank image, transport key on stdin, mode 0600.
if echo "$TRANSPORT" | "$FERRY" se create --image "$img" >"$tmp/create.json" 2>"$tmp/err"; then
    ok "se create makes a blank image"
else
    not_ok "se create makes a blank image" "$(cat "$tmp/err")"
fi
mode=$(stat -c %a "$img" 2>/dev/null)
if [ "$mode" = "600" ]; then ok "image file is readable by its owner only"; else not_ok "image mode is 600" "mode $mode"; fi
if echo "$TRANSPORT" | "$FERRY" se create --image "$img" >"$tmp/out" 2>"$tmp/err"; then
    not_ok "a second create on the same image is refused"
else
    ok "a second create on the same image is refused"
fi

if start_server; then ok "emulator listens"; else not_ok "emulator listens" "$(cat "$tmp/serve.log")"; fi

# 2. Personalisation with keys wrapped by node.
nw=$(wrap "$TRANSPORT" "$APPKEY")
aw=$(wrap "$TRANSPORT" "$APPKEY")
mw=$(wrap "$TRANSPORT" "$MLSKEY")
bad=$(wrap 0f0e0d0c0b0a09080706050403020100 "$APPKEY")
if "$FERRY" se personalise --socket "$sock" --dev-eui $DEVEUI --serial 5e00000000000001 --join-eui $JOINEUI \
    --mac-version 1.0.3 --nwkkey-wrapped "$bad" --appkey-wrapped "$aw" --mlskey-wrapped "$mw" >"$tmp/out" 2>"$tmp/err"; then
    not_ok "a key wrapped under another transport key is refused"
else
    grep -q "integrity check failed" "$tmp/err" && ok "a key wrapped under another transport key is refused" ||
        not_ok "refusal says why" "$(cat "$tmp/err")"
fi
check "personalise with node-wrapped keys" "$FERRY" se personalise --socket "$sock" --dev-eui $DEVEUI \
    --serial 5e00000000000001 --join-eui $JOINEUI --mac-version 1.0.3 --nwkkey-wrapped "$nw" \
    --appkey-wrapped "$aw" --mlskey-wrapped "$mw"
"$FERRY" se info --socket "$sock" >"$tmp/info.json" 2>&1
if [ "$(json "$tmp/info.json" DevEUI)" = "$DEVEUI" ] && [ "$(json "$tmp/info.json" Lifecycle)" = "operational" ]; then
    ok "info shows the DevEUI and the operational lifecycle"
else
    not_ok "info after personalisation" "$(cat "$tmp/info.json")"
fi
if grep -qi -e "$APPKEY" -e "$MLSKEY" "$tmp/info.json"; then not_ok "info holds no key"; else ok "info holds no key"; fi

# 3. Join: the element's join-request checked by lora-packet.
"$FERRY" se join-request --socket "$sock" >"$tmp/jr.json" 2>&1
jr=$(json "$tmp/jr.json" PHYPayload)
check "lora-packet verifies the element's join-request MIC" node -e '
const lp=require("lora-packet"); const p=lp.fromWire(Buffer.from(process.argv[1],"hex"));
if(!lp.verifyMIC(p,undefined,Buffer.from(process.argv[2],"hex"))) { console.error("MIC"); process.exit(1); }
if(p.DevEUI.toString("hex")!==process.argv[3]) { console.error("DevEUI "+p.DevEUI.toString("hex")); process.exit(1); }' \
    "$jr" "$APPKEY" "$DEVEUI"

# The network answers with a join-accept built by lora-packet.
ja=$(node -e '
const lp=require("lora-packet");
const p=lp.fromFields({MType:"Join Accept", AppNonce:Buffer.from("000007","hex"), NetID:Buffer.from("000013","hex"),
  DevAddr:Buffer.from("26011234","hex"), DLSettings:0, RxDelay:1, CFList:Buffer.alloc(0)}, undefined, undefined, Buffer.from(process.argv[1],"hex"));
process.stdout.write(p.getPHYPayload().toString("hex"));' "$APPKEY")
"$FERRY" se join-accept --socket "$sock" "$ja" >"$tmp/ja.json" 2>"$tmp/err"
if [ "$(json "$tmp/ja.json" DevAddr)" = "26011234" ]; then ok "the element accepts lora-packet's join-accept"; else
    not_ok "the element accepts lora-packet's join-accept" "$(cat "$tmp/ja.json" "$tmp/err")"; fi
if "$FERRY" se join-accept --socket "$sock" "$ja" >"$tmp/out" 2>"$tmp/err"; then
    not_ok "the same join-accept again is refused"
else
    [ ! -s "$tmp/out" ] && ok "the same join-accept again is refused, nothing on stdout" || not_ok "stdout empty on error"
fi

# 4. Uplinks: MIC and payload checked by lora-packet with its own session keys.
verify_uplink() {   # verify_uplink HEX FCNT PAYLOAD_HEX
    node -e '
const lp=require("lora-packet"); const [hex,appkey,devnonce,fcnt,want]=process.argv.slice(1);
const k=lp.generateSessionKeys10(Buffer.from(appkey,"hex"),Buffer.from("000013","hex"),Buffer.from("000007","hex"),Buffer.from(devnonce,"hex"));
const p=lp.fromWire(Buffer.from(hex,"hex"));
if(!lp.verifyMIC(p,k.NwkSKey)) { console.error("MIC"); process.exit(1); }
if(p.getFCnt()!==Number(fcnt)) { console.error("FCnt "+p.getFCnt()); process.exit(1); }
const plain=lp.decrypt(p,k.AppSKey,k.NwkSKey).toString("hex");
if(plain!==want) { console.error("payload "+plain); process.exit(1); }' "$1" "$APPKEY" "$devnonce" "$2" "$3"
}
devnonce=$(node -e 'const lp=require("lora-packet"); process.stdout.write(lp.fromWire(Buffer.from(process.argv[1],"hex")).DevNonce.toString("hex"))' "$jr")
"$FERRY" se uplink --socket "$sock" --fport 2 --payload 68656c6c6f >"$tmp/up.json" 2>&1
check "lora-packet verifies uplink 0 and decrypts it" verify_uplink "$(json "$tmp/up.json" PHYPayload)" 0 68656c6c6f

# 5. kill -9 and restart: the counters that left the element are still spent.
kill -9 "$server" 2>/dev/null
wait "$server" 2>/dev/null
server=""
rm -f "$sock"
if start_server; then ok "the emulator restarts on its image after kill -9"; else
    not_ok "the emulator restarts on its image after kill -9" "$(cat "$tmp/serve.log")"; fi
"$FERRY" se info --socket "$sock" >"$tmp/info2.json" 2>&1
# FCntUp is reserved in blocks of 32 in flash (docs/se-store.md): after a
# restart it resumes at or above 1, at most 1 + 32 - a gap, never a reuse.
fcnt2=$(json "$tmp/info2.json" FCntUp)
if [ "${fcnt2:-0}" -ge 1 ] && [ "${fcnt2:-0}" -le 33 ] && [ "$(json "$tmp/info2.json" NextDevNonce)" = "1" ]; then
    ok "after kill -9 the element remembers FCntUp and DevNonce"
else
    not_ok "after kill -9 the element remembers FCntUp and DevNonce" "$(cat "$tmp/info2.json")"
fi
"$FERRY" se uplink --socket "$sock" --fport 2 --payload 776f726c64 >"$tmp/up2.json" 2>&1
check "the next uplink carries that FCnt and verifies" verify_uplink "$(json "$tmp/up2.json" PHYPayload)" "${fcnt2:-1}" 776f726c64

# 6. A downlink built by lora-packet, then its replay.
down=$(node -e '
const lp=require("lora-packet"); const [appkey,devnonce]=process.argv.slice(1);
const k=lp.generateSessionKeys10(Buffer.from(appkey,"hex"),Buffer.from("000013","hex"),Buffer.from("000007","hex"),Buffer.from(devnonce,"hex"));
const p=lp.fromFields({MType:"Unconfirmed Data Down", DevAddr:Buffer.from("26011234","hex"), FCtrl:{ADR:false,ACK:false,ADRACKReq:false,FPending:false}, FCnt:Buffer.from("0003","hex"), FPort:5, payload:Buffer.from("cafe","hex")}, k.AppSKey, k.NwkSKey);
process.stdout.write(p.getPHYPayload().toString("hex"));' "$APPKEY" "$devnonce")
"$FERRY" se downlink --socket "$sock" "$down" >"$tmp/dn.json" 2>"$tmp/err"
if [ "$(json "$tmp/dn.json" FRMPayload)" = "cafe" ] && [ "$(json "$tmp/dn.json" FCnt)" = "3" ]; then
    ok "the element opens lora-packet's downlink"
else
    not_ok "the element opens lora-packet's downlink" "$(cat "$tmp/dn.json" "$tmp/err")"
fi
if "$FERRY" se downlink --socket "$sock" "$down" >/dev/null 2>"$tmp/err"; then
    not_ok "a replayed downlink is refused"
else
    grep -q "replayed" "$tmp/err" && ok "a replayed downlink is refused as a replay" || not_ok "replay message" "$(cat "$tmp/err")"
fi

# MLS with nothing to say, and no secure command waiting.
"$FERRY" se mls-uplink --socket "$sock" --frame-max 51 --time 100 >"$tmp/mls.json" 2>"$tmp/err"
if [ "$(json "$tmp/mls.json" FPort)" = "200" ] && [ -z "$(json "$tmp/mls.json" FRMPayload)" ]; then
    ok "mls-uplink: nothing to send yet"
else
    not_ok "mls-uplink: nothing to send yet" "$(cat "$tmp/mls.json" "$tmp/err")"
fi
if "$FERRY" se secure-command --socket "$sock" >/dev/null 2>"$tmp/err"; then
    not_ok "secure-command without one waiting is refused"
else
    grep -q "6985" "$tmp/err" && ok "secure-command without one waiting is refused (6985)" ||
        not_ok "secure-command message" "$(cat "$tmp/err")"
fi

# 7. Errors: bad arguments and a missing emulator.
if "$FERRY" se join-accept --socket "$sock" 20zz >/dev/null 2>"$tmp/err"; then not_ok "bad hex is refused"; else
    [ $? -eq 2 ] && ok "bad hex is a usage error (exit 2)" || not_ok "bad hex exit status"; fi
if "$FERRY" se info --socket "$tmp/nowhere.sock" >/dev/null 2>"$tmp/err"; then not_ok "a missing emulator is reported"; else
    grep -q "cannot reach" "$tmp/err" && ok "a missing emulator is reported" || not_ok "missing emulator message" "$(cat "$tmp/err")"; fi

kill "$server" 2>/dev/null
wait "$server" 2>/dev/null
st=$?
server=""
if [ "$st" -eq 0 ]; then ok "SIGTERM stops the emulator cleanly"; else not_ok "SIGTERM stops the emulator cleanly" "exit $st: $(cat "$tmp/serve.log")"; fi

# 8. A LoRaWAN 1.1 element: join-request, a 1.1 join-accept (OptNeg, JSIntKey
#    MIC) built by lora-packet, and a 1.1 uplink (cmacS|cmacF) verified by it.
NWK11=0f0e0d0c0b0a09080706050403020100
APP11=101112131415161718191a1b1c1d1e1f
img="$tmp/se11.img"
sock="$tmp/se11.sock"
echo "$TRANSPORT" | "$FERRY" se create --image "$img" >/dev/null 2>&1
if start_server; then ok "a 1.1 emulator listens"; else not_ok "a 1.1 emulator listens" "$(cat "$tmp/serve.log")"; fi
check "personalise a 1.1 element" "$FERRY" se personalise --socket "$sock" --dev-eui $DEVEUI \
    --serial 5e00000000000002 --join-eui $JOINEUI --mac-version 1.1 --nwkkey-wrapped "$(wrap $TRANSPORT $NWK11)" \
    --appkey-wrapped "$(wrap $TRANSPORT $APP11)" --mlskey-wrapped "$mw"
"$FERRY" se join-request --socket "$sock" >"$tmp/jr11.json" 2>&1
jr=$(json "$tmp/jr11.json" PHYPayload)
check "lora-packet verifies the 1.1 join-request MIC (NwkKey)" node -e '
const lp=require("lora-packet"); const p=lp.fromWire(Buffer.from(process.argv[1],"hex"));
if(!lp.verifyMIC(p,undefined,Buffer.from(process.argv[2],"hex"))) process.exit(1);' "$jr" "$NWK11"
devnonce=$(node -e 'const lp=require("lora-packet"); process.stdout.write(lp.fromWire(Buffer.from(process.argv[1],"hex")).DevNonce.toString("hex"))' "$jr")
ja=$(node -e '
const lp=require("lora-packet"); const [nwk,deveui,joineui,devnonce]=process.argv.slice(1);
const js=lp.generateJSKeys(Buffer.from(nwk,"hex"),Buffer.from(deveui,"hex"));
const p=lp.fromFields({MType:"Join Accept", AppNonce:Buffer.from("000001","hex"), NetID:Buffer.from("000013","hex"),
  DevAddr:Buffer.from("26015678","hex"), DLSettings:Buffer.from("80","hex"), RxDelay:Buffer.from("01","hex"), CFList:Buffer.alloc(0),
  JoinReqType:Buffer.from("ff","hex"), AppEUI:Buffer.from(joineui,"hex"), DevNonce:Buffer.from(devnonce,"hex")},
  undefined, js.JSIntKey, Buffer.from(nwk,"hex"));
process.stdout.write(p.getPHYPayload().toString("hex"));' "$NWK11" "$DEVEUI" "$JOINEUI" "$devnonce")
"$FERRY" se join-accept --socket "$sock" "$ja" >"$tmp/ja11.json" 2>"$tmp/err"
if [ "$(json "$tmp/ja11.json" MACVersion)" = "1.1" ] && [ "$(json "$tmp/ja11.json" DevAddr)" = "26015678" ]; then
    ok "the element accepts lora-packet's 1.1 join-accept and runs a 1.1 session"
else
    not_ok "1.1 join-accept" "$(cat "$tmp/ja11.json" "$tmp/err")"
fi
"$FERRY" se uplink --socket "$sock" --fport 3 --payload 0102030405 >"$tmp/up11.json" 2>&1
check "lora-packet verifies the 1.1 uplink MIC and decrypts it" node -e '
const lp=require("lora-packet"); const [hex,nwk,app,joineui,devnonce]=process.argv.slice(1);
const k=lp.generateSessionKeys11(Buffer.from(app,"hex"),Buffer.from(nwk,"hex"),Buffer.from(joineui,"hex"),Buffer.from("000001","hex"),Buffer.from(devnonce,"hex"));
const p=lp.fromWire(Buffer.from(hex,"hex"));
// lora-packet computes cmacF (B0) with its second argument and cmacS (B1)
// with its third, whatever its comments say.
if(!lp.verifyMIC(p,k.FNwkSIntKey,k.SNwkSIntKey,undefined,Buffer.alloc(4))) { console.error("MIC"); process.exit(1); }
if(lp.decrypt(p,k.AppSKey,k.NwkSEncKey).toString("hex")!=="0102030405") { console.error("payload"); process.exit(1); }' \
    "$(json "$tmp/up11.json" PHYPayload)" "$NWK11" "$APP11" "$JOINEUI" "$devnonce"
kill "$server" 2>/dev/null
wait "$server" 2>/dev/null
server=""

# 7. An image of the old two-bank format (2 KiB, "FSE1"): refused, saying so.
old="$tmp/old.img"
head -c 1024 /dev/zero >"$old"
printf 'FSE1' >>"$old"
head -c 1020 /dev/zero >>"$old"
if "$FERRY" se serve --image "$old" --socket "$tmp/old.sock" >/dev/null 2>"$tmp/err"; then
    not_ok "an image of the two-bank format is refused"
elif grep -q "two-bank format" "$tmp/err"; then
    ok "an image of the two-bank format is refused, saying why"
else
    not_ok "an image of the two-bank format is refused, saying why" "$(cat "$tmp/err")"
fi

echo "1..$n"
[ "$failed" -eq 0 ]
