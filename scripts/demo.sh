#!/bin/sh
# make demo: what ferry does today, on real frames from published test
# vectors (LoRaWAN 1.0 and 1.1), through the operator's tool.
# When the lab lands, this becomes the bootstrap-to-customer flow.
set -eu
BUILD=${BUILD:-build}
FERRY="$BUILD/bin/ferry"

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

printf '\nDemo complete.\n'
