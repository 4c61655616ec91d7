#!/bin/sh
# cli_lorawan.sh - integration test of `ferry lorawan` (decode, derive,
# join-accept) on published and independently computed vectors.
#
# Drives the binary named by $FERRY (default: the sanitizer build) and prints
# TAP: "ok N - ..." / "not ok N - ...", with "# ..." diagnostics, then the
# plan. Exits non-zero when a case failed.
#
# Each case runs the tool once and checks the exit status, that stdout is one
# JSON object with the expected fields (success) or is empty (failure), and
# that stderr is empty (success: so a sanitizer report fails the case) or
# carries the expected sentence (failure). JSON is read with node, which
# scripts/deps.sh installs for the oracle tests.
#
# Vectors:
#   - published ones from docs/../reference (chirpstack lrwn, TTS lorawan-stack,
#     lora-packet): join-accepts, join-requests, rejoins, session keys, and the
#     lora-packet README data frame;
#   - the other data frames and join-accepts were computed for this test by
#     an independent implementation written from the specification (node's
#     AES and the aes-cmac package) and cross-checked against lora-packet
#     0.9.3 where lora-packet supports the case.
set -u

here=$(cd "$(dirname "$0")" && pwd)
FERRY=${FERRY:-$here/../../build/san/bin/ferry}

n=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-cli-lorawan.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

if ! command -v node >/dev/null 2>&1; then
    echo "Bail out! node is needed to read the JSON output (scripts/deps.sh installs it)"
    exit 1
fi
if [ ! -x "$FERRY" ]; then
    echo "not ok 1 - ferry binary at $FERRY is executable (build it with make san-build)"
    echo "1..1"
    exit 1
fi

# run ARGS... : runs ferry, keeps stdout, stderr and the exit status.
run() {
    "$FERRY" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
}

result() {
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $n - $2"
    else
        echo "not ok $n - $2"
        failed=$((failed + 1))
        sed 's/^/#   stderr: /' "$tmp/err" | head -5
    fi
}

# check_json FIELD=VALUE... : stdout is one JSON object whose FIELD (dotted
# path into nested objects) is VALUE (strings compared as they are, other
# values as JSON text); "!FIELD" means FIELD is absent; "?FIELD" present.
check_json() {
    node -e '
const fs = require("fs");
const text = fs.readFileSync(process.argv[1], "utf8");
let o;
try { o = JSON.parse(text); } catch (e) { console.log("# stdout is not JSON: " + e.message); process.exit(1); }
if (o === null || typeof o !== "object" || Array.isArray(o)) { console.log("# stdout is not a JSON object"); process.exit(1); }
const get = (p) => p.split(".").reduce((v, k) => (v !== undefined && v !== null ? v[k] : undefined), o);
let bad = 0;
for (const a of process.argv.slice(2)) {
    if (a[0] === "!" || a[0] === "?") {
        const v = get(a.slice(1));
        if ((a[0] === "!") !== (v === undefined)) {
            console.log("# " + a.slice(1) + (a[0] === "!" ? " should be absent, is " + JSON.stringify(v) : " is missing"));
            bad = 1;
        }
        continue;
    }
    const i = a.indexOf("=");
    const path = a.slice(0, i), want = a.slice(i + 1);
    const v = get(path);
    const got = typeof v === "string" ? v : JSON.stringify(v);
    if (got !== want) { console.log("# " + path + ": want " + want + ", got " + got); bad = 1; }
}
process.exit(bad);
' "$tmp/out" "$@"
}

# expect_ok DESC FIELD=VALUE... : after `run`, exit 0, empty stderr, fields.
expect_ok() {
    desc=$1
    shift
    bad=0
    if [ "$rc" -ne 0 ]; then
        echo "# exit status $rc, want 0"
        bad=1
    fi
    if [ -s "$tmp/err" ]; then
        echo "# stderr is not empty"
        bad=1
    fi
    check_json "$@" || bad=1
    result "$bad" "$desc"
}

# expect_fail DESC STATUS TEXT : after `run`, exit STATUS, nothing on stdout,
# TEXT (case-insensitive) on stderr.
expect_fail() {
    bad=0
    if [ "$rc" -ne "$2" ]; then
        echo "# exit status $rc, want $2"
        bad=1
    fi
    if [ -s "$tmp/out" ]; then
        echo "# stdout is not empty"
        bad=1
    fi
    if ! grep -qiF -- "$3" "$tmp/err"; then
        echo "# stderr lacks \"$3\""
        bad=1
    fi
    if grep -q 'Sanitizer\|runtime error' "$tmp/err"; then
        echo "# sanitizer report"
        bad=1
    fi
    result "$bad" "$1"
}

K2=0102030405060708090a0b0c0d0e0f10          # chirpstack V2 key
K4=BEC499C69E9C939E413B663961636C61          # TTS V4 key
K01=01010101010101010101010101010101         # TTS V4 message key
NWKS=44024241ed4ce9a68c6a8bc055233fd3        # lora-packet README NwkSKey
APPS=ec925802ae430ca77fd3dd73cb2cc588        # lora-packet README AppSKey
S11=11111111111111111111111111111111         # 1.1 test session keys
F11=22222222222222222222222222222222
E11=33333333333333333333333333333333
A11=44444444444444444444444444444444

# ---- join-accept: published vectors --------------------------------------

run lorawan join-accept --mac-version 1.0.3 --nwkkey $K2 --join-nonce 010101 --net-id 020202 --dev-addr 01020304
expect_ok "join-accept 1.0.3 (chirpstack V2)" PHYPayload=2023cf335489aae3183c0be0baa8dee5f3

run lorawan join-accept --mac-version 1.1 --nwkkey $K2 --jsintkey $K2 --join-nonce 010101 --net-id 020202 \
    --dev-addr 01020304 --join-eui 0807060504030201 --dev-nonce 0102
expect_ok "join-accept 1.1 OptNeg with given JSIntKey (chirpstack V2)" PHYPayload=207abeea06b02920f11c02d0348fcf1815

run lorawan join-accept --mac-version 1.0 --nwkkey $K01 --join-nonce 010203 --net-id 010203 --dev-addr 01020304 \
    --rx-delay 1
expect_ok "join-accept 1.0 legacy (TTS V4)" PHYPayload=20c9fbb259e11649096a568a9e3b7117c3

run lorawan join-accept --mac-version 1.0.2 --appkey 07070707070707070707070707070707 --join-nonce ABCDEF \
    --net-id 0x000013 --dev-addr 26011BDA --dl-settings 03 --rx-delay 1 --cflist 184f84e85684b85e84886684586e8400
expect_ok "join-accept 1.0.2 with CFList, --appkey, upper case and 0x input" \
    PHYPayload=2043311e893b7cf23d1c0ee5bb0c5587d0a7cf8648cd4f1deb250b9fdafd7a84f5

run lorawan join-accept --mac-version 1.1 --nwkkey $K01 --dev-eui 0807060504030201 --join-eui 0102030405060708 \
    --dev-nonce 0304 --join-nonce 000001 --net-id 000013 --dev-addr 26011bda --rx-delay 5
expect_ok "join-accept 1.1 with JSIntKey derived from NwkKey and DevEUI" PHYPayload=20d7c278776043a4698d203493b5e8288b

run lorawan join-accept --mac-version 1.1 --nwkkey $K01 --dev-eui 0807060504030201 --join-eui 0102030405060708 \
    --dev-nonce 0304 --join-nonce 000002 --net-id 000013 --dev-addr 26011bda --rx-delay 5 --join-req-type 02
expect_ok "join-accept 1.1 answering a rejoin type 2 (JSEncKey)" PHYPayload=2052b0c59712e19e973944efa55341f3b3

# ---- derive -------------------------------------------------------------

run lorawan derive --mac-version 1.0.3 --nwkkey $K4 --dev-nonce 7369 --net-id 020101 --join-nonce AE3B1C \
    --join-eui 0000001223224242 --dev-eui 0042004213424341
expect_ok "derive 1.0.3 (TTS V4 legacy keys)" NwkSKey=0db924ee6af90698e05fc7ce48303c01 \
    AppSKey=8c1e0543a229088de6f84e74bb46bd62 '!FNwkSIntKey' '!JSIntKey'

run lorawan derive --mac-version 1.1 --nwkkey $K4 --appkey $K4 --dev-nonce 7369 --net-id 020101 --join-nonce AE3B1C \
    --join-eui 0000001223224242 --dev-eui 0042004213424341
expect_ok "derive 1.1 with JS keys (TTS V4)" AppSKey=b035cce24e4a040eb5cecbf21724412d \
    FNwkSIntKey=379084e7ce22ff191bff4b77536f2aa3 SNwkSIntKey=63c59309d53485bc5164dbf71627aeb9 \
    NwkSEncKey=ce07a009a3970ac0519a099ed53e550b JSIntKey=cb8e9ee114c3fb5ce472a5aa13ab1855 \
    JSEncKey=bb711eefb9829b4a75866f8616bacd6d '!NwkSKey'

run lorawan derive --mac-version 1.0.3 --nwkkey 01020304050607080102030405060708 --join-nonce 010000 \
    --dev-nonce 0102 --net-id 010203
expect_ok "derive 1.0.3 (chirpstack V3)" NwkSKey=df53c35f3034ccced0ff354c70de04df AppSKey=927b9c911183cffe4cb2ff4b75545f6d

run lorawan derive --mac-version 1.1 --nwkkey 01020304050607080102030405060708 \
    --appkey 00000000000000000000000000000000 --join-nonce 010000 --dev-nonce 0102 --join-eui 0807060504030201
expect_ok "derive 1.1 without DevEUI: no JS keys (chirpstack V3)" AppSKey=01621215d1ca08febf0c602cc2ad90fa \
    FNwkSIntKey=537f8aae896c79e015d102d06286354e SNwkSIntKey=589498993092cfdb5fd2e02ac7510bf1 \
    NwkSEncKey=9898283c4f66eb6c6fd5165882046c40 '!JSIntKey' '!JSEncKey'

run lorawan derive --mac-version 1.0.2 --appkey 98929b92c49edba9676d646d3b612456 --join-nonce 376338 \
    --net-id aabbcc --dev-nonce f18e
expect_ok "derive 1.0 with the root key as --appkey (lora-packet V1)" NwkSKey=4e3d6e6afbcc67af2ba3c8e8ec4acf4b \
    AppSKey=610897aa6f1460623443b527d3ac6a9d

# ---- decode: join-request, join-accept ----------------------------------

run lorawan decode 0039363463336913AA05693574323831330489C65B1304 --appkey 98929b92c49edba9676d646d3b612456
expect_ok "decode JoinRequest 1.0, upper-case hex (lora-packet V1)" MType=JoinRequest Major=0 \
    JoinEUI=aa13693363343639 DevEUI=3331383274356905 DevNonce=8904 MIC=c65b1304 MICValid=true

run lorawan decode 0001010101010101010202020202020202030309b97b32 --mac-version 1.1 --nwkkey $K2
expect_ok "decode JoinRequest 1.1 with NwkKey (chirpstack V2)" MType=JoinRequest JoinEUI=0101010101010101 \
    DevEUI=0202020202020202 DevNonce=0303 MICValid=true

run lorawan decode 0001010101010101010202020202020202030309b97b33 --mac-version 1.1 --nwkkey $K2
expect_ok "decode JoinRequest with one MIC bit flipped: MICValid false" MType=JoinRequest MICValid=false

run lorawan decode 00080706050403020108070605040302010201e6e10c55
expect_ok "decode JoinRequest without a key: MICNote, no MICValid (TTS V4)" DevNonce=0102 '!MICValid' '?MICNote'

run lorawan decode 2023cf335489aae3183c0be0baa8dee5f3 --appkey $K2
expect_ok "decode JoinAccept 1.0.3 (chirpstack V2)" MType=JoinAccept JoinNonce=010101 NetID=020202 \
    DevAddr=01020304 DLSettings.OptNeg=false RxDelay=0 MIC=3449f212 MICValid=true '!CFList'

run lorawan decode 207abeea06b02920f11c02d0348fcf1815 --mac-version 1.1 --nwkkey $K2 --jsintkey $K2 \
    --join-eui 0807060504030201 --dev-nonce 0102
expect_ok "decode JoinAccept 1.1 OptNeg (chirpstack V2)" DLSettings.OptNeg=true MIC=93ff9a3a MICValid=true

run lorawan decode 2043311e893b7cf23d1c0ee5bb0c5587d0a7cf8648cd4f1deb250b9fdafd7a84f5 \
    --nwkkey 07070707070707070707070707070707
expect_ok "decode JoinAccept with CFList" JoinNonce=abcdef NetID=000013 DevAddr=26011bda \
    DLSettings.RX1DROffset=0 DLSettings.RX2DataRate=3 RxDelay=1 CFList=184f84e85684b85e84886684586e8400 MICValid=true

run lorawan decode 20d7c278776043a4698d203493b5e8288b --mac-version 1.1 --nwkkey $K01 --dev-eui 0807060504030201 \
    --join-eui 0102030405060708 --dev-nonce 0304
expect_ok "decode JoinAccept 1.1 with derived JSIntKey" JoinNonce=000001 RxDelay=5 DLSettings.OptNeg=true MICValid=true

run lorawan decode 2052b0c59712e19e973944efa55341f3b3 --mac-version 1.1 --nwkkey $K01 --dev-eui 0807060504030201 \
    --join-eui 0102030405060708 --dev-nonce 0304 --join-req-type 02
expect_ok "decode JoinAccept 1.1 answering a rejoin (JSEncKey)" JoinNonce=000002 MICValid=true

run lorawan decode 20d7c278776043a4698d203493b5e8288b --mac-version 1.1 --nwkkey $K01
expect_ok "decode JoinAccept 1.1 without DevEUI: fields, MICNote, no MICValid" JoinNonce=000001 \
    DevAddr=26011bda '!MICValid' '?MICNote'

run lorawan decode 20c9fbb259e11649096a568a9e3b7117c3
expect_ok "decode JoinAccept without a key: ciphertext only" MType=JoinAccept \
    Encrypted=c9fbb259e11649096a568a9e3b7117c3 '!JoinNonce' '!MICValid' '?DecryptNote'

run lorawan decode 20c9fbb259e11649096a568a9e3b7117c3 --nwkkey $K2
expect_ok "decode JoinAccept with the wrong key: MICValid false" MType=JoinAccept MICValid=false

# ---- decode: data frames ------------------------------------------------

run lorawan decode 40F17DBE4900020001954378762B11FF0D --nwkskey $NWKS --appskey $APPS
expect_ok "decode UnconfirmedDataUp 1.0, MIC and FRMPayload (lora-packet README)" MType=UnconfirmedDataUp \
    DevAddr=49be7df1 FCnt=2 FPort=1 FRMPayload=95437876 FRMPayloadDecrypted=74657374 MIC=2b11ff0d MICValid=true \
    FCtrl.ADR=false FCtrl.FOptsLen=0

run lorawan decode 40F17DBE4900020001954378762B11FF0C --nwkskey $NWKS
expect_ok "decode UnconfirmedDataUp with one MIC bit flipped: MICValid false" MICValid=false

run lorawan decode 40F17DBE4900020001954378772B11FF0D --nwkskey $NWKS
expect_ok "decode UnconfirmedDataUp with one payload bit flipped: MICValid false" MICValid=false

run lorawan decode 80da1b0126c2020002030a9bd2d746fe32d6eda12973564fefb275cf --nwkskey $NWKS --appskey $APPS \
    --fcnt32 65538
expect_ok "decode ConfirmedDataUp with FOpts and a 32-bit FCnt" MType=ConfirmedDataUp FCnt=2 FCnt32=65538 \
    FCtrl.ADR=true FCtrl.ADRACKReq=true FCtrl.FOptsLen=2 FOpts=0203 FPort=10 \
    FRMPayloadDecrypted=48656c6c6f2c20776f726c6421 MICValid=true

run lorawan decode 80da1b0126c2020002030a9bd2d746fe32d6eda12973564fefb275cf --nwkskey $NWKS
expect_ok "decode ConfirmedDataUp without its FCnt MSB: MICValid false" MICValid=false '!FCnt32'

run lorawan decode 60da1b012630070000205976ef2c8970 --nwkskey $NWKS
expect_ok "decode UnconfirmedDataDown on FPort 0, decrypted with NwkSKey" MType=UnconfirmedDataDown \
    FCtrl.ACK=true FCtrl.FPending=true FPort=0 FRMPayloadDecrypted=0a0b0c MICValid=true

run lorawan decode a004030201212c0106c801be079b0d9de2db5323a697d5c069c11d9cbe9106c1 --nwkskey $NWKS --appskey $APPS
expect_ok "decode ConfirmedDataDown, two-block FRMPayload" MType=ConfirmedDataDown FCnt=300 FOpts=06 FPort=200 \
    FRMPayloadDecrypted=00112233445566778899aabbccddeeff0011 MICValid=true

run lorawan decode 60040302010201000201ae9253eb --nwkskey $NWKS
expect_ok "decode data frame without FPort" FOpts=0201 '!FPort' '!FRMPayload' MICValid=true

run lorawan decode 80efcdab01222a00ef6503361c291305a1 --mac-version 1.1 --snwksintkey $S11 --fnwksintkey $F11 \
    --nwksenckey $E11 --appskey $A11 --conf-fcnt 5 --tx-dr 3 --tx-ch 2
expect_ok "decode 1.1 ConfirmedDataUp: FOpts, FRMPayload, two-key MIC" FCtrl.ACK=true FOpts=ef65 \
    FOptsDecrypted=0203 FRMPayloadDecrypted=cafe MICValid=true

run lorawan decode 80efcdab01222a00ef6503361c291305a1 --mac-version 1.1 --snwksintkey $S11 --fnwksintkey $F11 \
    --conf-fcnt 5 --tx-dr 4 --tx-ch 2
expect_ok "decode 1.1 uplink with the wrong TxDr: MICValid false" MICValid=false

run lorawan decode 80efcdab01222a00ef6503361c291305a1 --mac-version 1.1 --snwksintkey $S11
expect_ok "decode 1.1 uplink with only SNwkSIntKey: MICNote" '!MICValid' '?MICNote' '?DecryptNote'

run lorawan decode a0efcdab01221100e61b0584460c53d0cf15 --mac-version 1.1 --snwksintkey $S11 --nwksenckey $E11 \
    --appskey $A11 --conf-fcnt 42
expect_ok "decode 1.1 ConfirmedDataDown: AFCntDown FOpts, ConfFCnt MIC" FOptsDecrypted=0603 \
    FRMPayloadDecrypted=beef01 MICValid=true

run lorawan decode 60efcdab01021200c2d366c3739a --mac-version 1.1 --snwksintkey $S11 --nwksenckey $E11
expect_ok "decode 1.1 downlink without FPort: NFCntDown FOpts" FOptsDecrypted=0603 '!FPort' MICValid=true

run lorawan decode 40efcdab01002b0000f2a15d0e84c3 --mac-version 1.1 --snwksintkey $S11 --fnwksintkey $F11 \
    --nwksenckey $E11
expect_ok "decode 1.1 uplink on FPort 0, decrypted with NwkSEncKey" FPort=0 FRMPayloadDecrypted=0203 MICValid=true

# ---- decode: rejoin, proprietary ----------------------------------------

run lorawan decode c0000302010807060504030201020111da47bd --mac-version 1.1 --snwksintkey $K01
expect_ok "decode RejoinRequest type 0 (TTS V4)" MType=RejoinRequest RejoinType=0 NetID=010203 \
    DevEUI=0102030405060708 RJcount0=258 MICValid=true

run lorawan decode c00108070605040302010807060504030201020167f9abe7 --mac-version 1.1 --jsintkey $K01
expect_ok "decode RejoinRequest type 1 with given JSIntKey (TTS V4)" RejoinType=1 JoinEUI=0102030405060708 \
    RJcount1=258 MICValid=true

run lorawan decode c001080706050403020108070605040302010201f4eb2983 --mac-version 1.1 --nwkkey $K01
expect_ok "decode RejoinRequest type 1 with JSIntKey derived from the frame's DevEUI" RejoinType=1 MICValid=true

run lorawan decode c002030201080706050403020102012b459cf0 --mac-version 1.1 --snwksintkey $K01
expect_ok "decode RejoinRequest type 2 (TTS V4)" RejoinType=2 RJcount0=258 MICValid=true

run lorawan decode c0000302010807060504030201020111da47bd --snwksintkey $K01
expect_ok "decode RejoinRequest under 1.0.x: MICNote" MType=RejoinRequest '!MICValid' '?MICNote'

run lorawan decode e0cafe0102
expect_ok "decode Proprietary" MType=Proprietary Major=0 Payload=cafe0102 '!MICValid'

# ---- errors -------------------------------------------------------------

run lorawan decode 40zz
expect_fail "decode: bad hex is a usage error" 2 "hex digits"

run lorawan decode 40f17dbe4900020001954378762b11ff0
expect_fail "decode: odd number of hex digits" 2 "hex digits"

run lorawan decode 40f17dbe4900
expect_fail "decode: truncated data frame" 1 "truncated"

run lorawan decode 0001010101010101010202020202020202
expect_fail "decode: truncated join-request" 1 "truncated"

run lorawan decode 20c9fbb259e11649096a568a9e3b7117
expect_fail "decode: join-accept of a wrong length" 1 "truncated"

run lorawan decode 41f17dbe4900020001954378762b11ff0d
expect_fail "decode: Major other than R1" 1 "Major"

run lorawan decode 600403020101000002000700000000
expect_fail "decode: FOpts and FPort 0 together" 1 "malformed"

run lorawan decode "$(printf '%0512d' 0)"
expect_fail "decode: frame over 255 bytes" 1 "255"

run lorawan decode 40f17dbe4900020001954378762b11ff0d --nwkskey 44024241ed4ce9a68c6a8bc055233f
expect_fail "decode: key of the wrong length" 2 "--nwkskey: expected a 128-bit AES key"
if grep -qi 44024241ed4ce9a68c6a8bc055233f "$tmp/err"; then
    result 1 "decode: a bad key is not echoed on stderr"
else
    result 0 "decode: a bad key is not echoed on stderr"
fi

run lorawan decode 40f17dbe4900020001954378762b11ff0d --appskey 44024241ed4ce9a68c6a8bc055233fdx
expect_fail "decode: key with a non-hex digit" 2 "--appskey"

run lorawan decode 40f17dbe4900020001954378762b11ff0d --bogus 1
expect_fail "decode: unknown option" 2 "unknown option"

run lorawan decode 40f17dbe4900020001954378762b11ff0d --nwkskey
expect_fail "decode: option without its value" 2 "needs a value"

run lorawan decode --nwkskey $NWKS
expect_fail "decode: missing PHYPayload" 2 "missing the PHYPayload"

run lorawan decode 40f17dbe4900020001954378762b11ff0d --mac-version 1.2
expect_fail "decode: unknown --mac-version" 2 "--mac-version"

run lorawan decode 40f17dbe4900020001954378762b11ff0d --nwkskey $NWKS --fcnt32 3
expect_fail "decode: --fcnt32 that does not match FCnt" 2 "--fcnt32"

run lorawan derive --mac-version 1.0.3 --nwkkey $K2 --join-nonce 010101 --dev-nonce 0102
expect_fail "derive 1.0: missing --net-id" 2 "missing required option --net-id"

run lorawan derive --mac-version 1.1 --nwkkey $K2 --join-nonce 010101 --dev-nonce 0102 --join-eui 0102030405060708
expect_fail "derive 1.1: missing --appkey" 2 "missing required option --appkey"

run lorawan derive --mac-version 1.0.3 --nwkkey $K2 --join-nonce 010101 --dev-nonce 102 --net-id 000000
expect_fail "derive: --dev-nonce of the wrong width" 2 "--dev-nonce: expected a DevNonce as exactly 4 hex digits"

run lorawan derive --mac-version 1.0.3 --nwkkey $K2 --appkey $K4 --join-nonce 010101 --dev-nonce 0102 --net-id 000000
expect_fail "derive 1.0: two different root keys" 2 "one root key"

run lorawan join-accept --mac-version 1.0.3 --join-nonce 010101 --net-id 020202 --dev-addr 01020304
expect_fail "join-accept: missing --nwkkey" 2 "missing required option --nwkkey"

run lorawan join-accept --mac-version 1.1 --nwkkey $K2 --join-nonce 010101 --net-id 020202 --dev-addr 01020304 \
    --join-eui 0807060504030201 --dev-nonce 0102
expect_fail "join-accept 1.1: missing --dev-eui" 2 "--dev-eui"

run lorawan join-accept --mac-version 1.0.3 --nwkkey $K2 --nwkkey $K2 --join-nonce 010101 --net-id 020202 \
    --dev-addr 01020304
expect_fail "join-accept: option given twice" 2 "given twice"

run lorawan join-accept --mac-version 1.0.3 --nwkkey $K2 --join-nonce 010101 --net-id 020202 --dev-addr 01020304 \
    --join-req-type 05
expect_fail "join-accept: bad --join-req-type" 2 "--join-req-type"

run lorawan frobnicate
expect_fail "unknown lorawan subcommand" 2 "unknown subcommand"

run frobnicate
expect_fail "unknown ferry command" 2 "unknown command"

run --help
bad=0
[ "$rc" -eq 0 ] && grep -q lorawan "$tmp/out" || bad=1
result "$bad" "ferry --help lists lorawan and exits 0"

run version
bad=0
[ "$rc" -eq 0 ] && grep -q '^ferry [0-9]' "$tmp/out" || bad=1
result "$bad" "ferry version"

echo "1..$n"
[ "$failed" -eq 0 ]
