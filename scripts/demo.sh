#!/bin/sh
# make demo: what ferry does today, on real frames from published test
# vectors (LoRaWAN 1.0 and 1.1), through the operator's tool.
# It ends with `ferry demo`, the bootstrap-to-customer flow (docs/demo.md).
set -eu
BUILD=${BUILD:-build}
FERRY="$BUILD/bin/ferry"
# ports reserved below the ephemeral range, waits on conditions with a
# deadline that say what they waited for (docs/testing.md)
. "$(dirname "$0")/../tests/integration/lib/wait.sh"

step() {
    printf '\n== %s\n$ %s\n' "$1" "$2"
    shift 2
    "$@"
}

step "A LoRaWAN 1.0 join-request, MIC checked with the device's AppKey" \
     "ferry lorawan decode 0039363463336913AA05693574323831330489C65B1304 --appkey 98929b92..." \
     "$FERRY" lorawan decode 0039363463336913AA05693574323831330489C65B1304 \
     --appkey 98929b92c49edba9676d646d3b612456

step "The same frame with one bit flipped: the MIC no longer verifies" \
     "ferry lorawan decode 0039363463336913AA05693574323831330489C65B1305 --appkey 98929b92..." \
     "$FERRY" lorawan decode 0039363463336913AA05693574323831330489C65B1305 \
     --appkey 98929b92c49edba9676d646d3b612456

step "The Join Server builds an encrypted 1.0.x join-accept" \
     "ferry lorawan join-accept --mac-version 1.0.3 --nwkkey 01020304... --join-nonce 010101 --net-id 020202 --dev-addr 01020304" \
     "$FERRY" lorawan join-accept --mac-version 1.0.3 --nwkkey 0102030405060708090a0b0c0d0e0f10 \
     --join-nonce 010101 --net-id 020202 --dev-addr 01020304

step "The device decrypts it and checks its MIC" \
     "ferry lorawan decode 2023cf335489aae3183c0be0baa8dee5f3 --nwkkey 01020304..." \
     "$FERRY" lorawan decode 2023cf335489aae3183c0be0baa8dee5f3 --mac-version 1.0.3 \
     --nwkkey 0102030405060708090a0b0c0d0e0f10

step "Both ends derive the 1.1 session keys (The Things Stack's published vector)" \
     "ferry lorawan derive --mac-version 1.1 --nwkkey BEC499C6... --appkey BEC499C6... --join-nonce AE3B1C --net-id 020101 --dev-nonce 7369 --join-eui 0000001223224242 --dev-eui 0042004213424341" \
     "$FERRY" lorawan derive --mac-version 1.1 --nwkkey BEC499C69E9C939E413B663961636C61 \
     --appkey BEC499C69E9C939E413B663961636C61 --join-nonce AE3B1C --net-id 020101 \
     --dev-nonce 7369 --join-eui 0000001223224242 --dev-eui 0042004213424341

step "A 1.0 uplink: MIC checked with NwkSKey, FRMPayload decrypted with AppSKey" \
     "ferry lorawan decode 40F17DBE4900020001954378762B11FF0D --nwkskey 44024241... --appskey ec925802..." \
     "$FERRY" lorawan decode 40F17DBE4900020001954378762B11FF0D \
     --nwkskey 44024241ed4ce9a68c6a8bc055233fd3 --appskey ec925802ae430ca77fd3dd73cb2cc588

step "A truncated frame is refused with a clear error" \
     "ferry lorawan decode 40F17DBE49" \
     sh -c "\"$FERRY\" lorawan decode 40F17DBE49 || echo \"(exit status \$?)\""

# ---------------------------------------------------------------------------
# The secure element: an emulated chip in its own process, reached over a
# Unix socket exactly as a device reaches a soldered one.
work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-demo.XXXXXX")
server=""
trap 'if [ -n "$server" ]; then kill "$server" 2>/dev/null; fi; release_ports; rm -rf "$work"' EXIT INT TERM
TRANSPORT=000102030405060708090a0b0c0d0e0f
APPKEY=2b7e151628aed2a6abf7158809cf4f3c
MLSKEY=a0a1a2a3a4a5a6a7a8a9aaabacadaeaf

step "The factory makes a blank secure element holding only its transport key" \
     "echo \$TRANSPORT | ferry se create --image se.img" \
     sh -c "echo $TRANSPORT | \"$FERRY\" se create --image \"$work/se.img\""

"$FERRY" se serve --image "$work/se.img" --socket "$work/se.sock" 2>/dev/null &
server=$!
wait_pid=$server
wait_until "the secure element's socket" - '[ -S "$work/se.sock" ]'
wait_pid=

# The high-security area wraps the bootstrap keys under the transport key
# (here with node's OpenSSL, standing in for the factory HSM).
wrap() {
    node -e 'const c=require("crypto"); const w=c.createCipheriv("id-aes128-wrap",Buffer.from(process.argv[1],"hex"),Buffer.from("a6a6a6a6a6a6a6a6","hex")); process.stdout.write(Buffer.concat([w.update(Buffer.from(process.argv[2],"hex")),w.final()]).toString("hex"))' "$1" "$2"
}
step "Personalisation: the keys arrive wrapped (RFC 3394), then the element locks" \
     "ferry se personalise --socket se.sock --dev-eui 0004a30b001c0530 ... --nwkkey-wrapped <24 bytes> ..." \
     "$FERRY" se personalise --socket "$work/se.sock" --dev-eui 0004a30b001c0530 --serial 5e00000000000001 \
     --join-eui 70b3d57ed0000001 --mac-version 1.0.3 --nwkkey-wrapped "$(wrap $TRANSPORT $APPKEY)" \
     --appkey-wrapped "$(wrap $TRANSPORT $APPKEY)" --mlskey-wrapped "$(wrap $TRANSPORT $MLSKEY)"

jr=$("$FERRY" se join-request --socket "$work/se.sock" | sed -n 's/.*"PHYPayload": "\([0-9a-f]*\)".*/\1/p')
step "The element builds a join-request (its DevNonce is committed before the frame leaves)" \
     "ferry se join-request --socket se.sock  ->  $jr; the network checks it:" \
     "$FERRY" lorawan decode "$jr" --appkey $APPKEY

nonce=$(printf '%s' "$jr" | cut -c35-38)
dev_nonce=$(printf '%s' "$nonce" | cut -c3-4)$(printf '%s' "$nonce" | cut -c1-2)
ja=$("$FERRY" lorawan join-accept --mac-version 1.0.3 --nwkkey $APPKEY --join-nonce 000001 --net-id 000013 \
     --dev-addr 26011234 | sed -n 's/.*"PHYPayload": "\([0-9a-f]*\)".*/\1/p')
step "The Join Server answers; the element verifies and keeps the session keys inside" \
     "ferry se join-accept --socket se.sock $ja" \
     "$FERRY" se join-accept --socket "$work/se.sock" "$ja"

up=$("$FERRY" se uplink --socket "$work/se.sock" --fport 2 --payload 68656c6c6f | sed -n 's/.*"PHYPayload": "\([0-9a-f]*\)".*/\1/p')
keys=$("$FERRY" lorawan derive --mac-version 1.0.3 --nwkkey $APPKEY --join-nonce 000001 --net-id 000013 --dev-nonce "$dev_nonce")
nwks=$(printf '%s' "$keys" | sed -n 's/.*"NwkSKey": "\([0-9a-f]*\)".*/\1/p')
apps=$(printf '%s' "$keys" | sed -n 's/.*"AppSKey": "\([0-9a-f]*\)".*/\1/p')
step "The element protects an uplink; the network server verifies and decrypts it (\"hello\")" \
     "ferry se uplink --socket se.sock --fport 2 --payload 68656c6c6f  ->  $up" \
     "$FERRY" lorawan decode "$up" --nwkskey "$nwks" --appskey "$apps"

step "What the element tells its host: identity and counters, never a key" \
     "ferry se info --socket se.sock" \
     "$FERRY" se info --socket "$work/se.sock"

# ---------------------------------------------------------------------------
# The network path: a Join Server deployment (keys in its SoftHSM2 token), the
# lab network server, a simulated packet-forwarder gateway, and a second
# emulated secure element that joins through them.
jsport=$(port); udpport=$(uport); nsport=$(port); asport=$(port)
JOINEUI=70B3D57ED0000000
DEVEUI2=0004a30b001c0a02
NSKEK=00112233445566778899aabbccddeeff
ASKEK=0f0e0d0c0b0a09080706050403020100
dep="$work/js"
step "A Join Server deployment: config, SoftHSM2 token with a non-extractable master key, database" \
     "ferry init js --join-eui $JOINEUI" \
     "$FERRY" init "$dep" --join-eui $JOINEUI --listen "127.0.0.1:$jsport"
"$FERRY" -d "$dep" peer add 000013 --token-out "$work/js.tok" >/dev/null
echo $NSKEK | "$FERRY" -d "$dep" kek import ns:000013 >/dev/null
echo $ASKEK | "$FERRY" -d "$dep" kek import as:app1 >/dev/null
printf '{"DevEUI":"%s","JoinEUI":"%s","MACVersion":"1.0.3","HomeNetID":"000013","NwkKey":{"KEKLabel":"","AESKey":"%s"},"NSKEKLabel":"ns:000013","ASKEKLabel":"as:app1","ASID":"as.example.com"}\n' \
    $DEVEUI2 $JOINEUI $APPKEY >"$work/dev.jsonl"
step "The device's root key enters the token (here in clear, for the demo: --allow-clear-keys)" \
     "ferry -d js device import dev.jsonl --allow-clear-keys" \
     "$FERRY" -d "$dep" device import "$work/dev.jsonl" --allow-clear-keys
"$FERRY" -d "$dep" serve 2>"$work/js.log" &
jspid=$!
watch_log "$work/js.log" "$work/ns.log"
umask 077
echo $NSKEK >"$work/ns.kek"
echo demo-as-token >"$work/as.tok"
echo demo-dl-token >"$work/dl.tok"
cat >"$work/ns.conf" <<EOT
net_id = 000013
kek_label = ns:000013
kek_file = ns.kek
udp_listen = 127.0.0.1:$udpport
http_listen = 127.0.0.1:$nsport
route = 70B3D57E00000000/32 http://127.0.0.1:$jsport/ js.tok
as_url = http://127.0.0.1:$asport
as_token_file = as.tok
downlink_token_file = dl.tok
EOT
"$FERRY" lab ns --config "$work/ns.conf" 2>"$work/ns.log" &
nspid=$!
echo $TRANSPORT | "$FERRY" se create --image "$work/se2.img" >/dev/null
"$FERRY" se serve --image "$work/se2.img" --socket "$work/se2.sock" 2>/dev/null &
se2pid=$!
wait_pid=$se2pid
wait_until "the second element's socket" - '[ -S "$work/se2.sock" ]'
wait_pid=
wait_http "http://127.0.0.1:$jsport/metrics" $jspid
wait_http "http://127.0.0.1:$nsport/status" $nspid
"$FERRY" se personalise --socket "$work/se2.sock" --dev-eui $DEVEUI2 --serial 5e00000000000002 \
    --join-eui $JOINEUI --mac-version 1.0.3 --nwkkey-wrapped "$(wrap $TRANSPORT $APPKEY)" \
    --appkey-wrapped "$(wrap $TRANSPORT $APPKEY)" --mlskey-wrapped "$(wrap $TRANSPORT $MLSKEY)" >/dev/null
jr=$("$FERRY" se join-request --socket "$work/se2.sock" | sed -n 's/.*"PHYPayload": "\([0-9a-f]*\)".*/\1/p')
step "The element's join-request goes up through a packet-forwarder gateway to the lab NS, which asks the Join Server" \
     "ferry lab gateway --ns 127.0.0.1:$udpport --gateway-eui AA555A0000000001 $jr" \
     sh -c "\"$FERRY\" lab gateway --ns 127.0.0.1:$udpport --gateway-eui AA555A0000000001 --wait-ms 4000 $jr | tee \"$work/gw.json\""
ja=$(node -e 'const o=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); process.stdout.write((o.Downlink||{}).PHYPayload||"")' "$work/gw.json")
step "The join-accept came back in a PULL_RESP; the element opens it" \
     "ferry se join-accept --socket se2.sock $ja" \
     "$FERRY" se join-accept --socket "$work/se2.sock" "$ja"
kill "$jspid" "$nspid" "$se2pid" 2>/dev/null
wait "$jspid" "$nspid" "$se2pid" 2>/dev/null

# ---------------------------------------------------------------------------
# The whole flow: `ferry demo` sets up the HSA batch, the Identity Manager with
# its bootstrap Join Server, two customers (Join Server, network server and
# application server each) and the bootstrap network, and takes simulated
# devices through bootstrap, claims, profiles over the air, the customers'
# networks, a fleet transfer, key renewals, a secure command and a fallback.
printf '\n== The whole flow: ferry demo --devices %s\n\n' "${DEMO_DEVICES:-100}"
"$FERRY" demo --devices "${DEMO_DEVICES:-100}" --loss "${DEMO_LOSS:-0.05}" --json "${BUILD:-build}/demo-report.json"
printf "\nReport: %s\n" "${BUILD:-build}/demo-report.json"

printf '\nDemo complete.\n'
