# js_load_dep.sh - sourced by the Join Server's load tests (js_kill.sh,
# js_shared.sh): the lora-packet oracle, a port, and a deployment in
# $tmp/dep with peer 000013 (token in $tmp/ns.tok), its KEK, and two
# devices with clear keys: 0004A30B001C0002 (1.0.4, key $K104) and
# 0004A30B001C0001 (1.0.2, key $K102). Needs $FERRY, $root, $tmp, $JOINEUI
# and lib/wait.sh; sets $dep, $port, $F. On failure prints TAP and exits 1.
if ! "$root/tests/oracle/install.sh" >/dev/null 2>&1; then
    echo "1..1"; echo "not ok 1 - lora-packet installed"; exit 1
fi
dep="$tmp/dep"
port=$(port) || { echo "1..1"; echo "not ok 1 - a port for the Join Server"; exit 1; }
K104=000102030405060708090a0b0c0d0e0f
K102=2b7e151628aed2a6abf7158809cf4f3c
F="$FERRY -d $dep"
setup_ok=1
"$FERRY" init "$dep" --join-eui $JOINEUI --listen "127.0.0.1:$port" >/dev/null 2>"$tmp/err" || setup_ok=0
$F peer add 000013 --token-out "$tmp/ns.tok" >/dev/null 2>>"$tmp/err" || setup_ok=0
echo 00112233445566778899aabbccddeeff | $F kek import ns:000013 >/dev/null 2>>"$tmp/err" || setup_ok=0
cat >"$tmp/devices.jsonl" <<EOD
{"DevEUI":"0004A30B001C0002","JoinEUI":"$JOINEUI","MACVersion":"1.0.4","HomeNetID":"000013","NwkKey":{"AESKey":"$K104"},"NSKEKLabel":"ns:000013"}
{"DevEUI":"0004A30B001C0001","JoinEUI":"$JOINEUI","MACVersion":"1.0.2","HomeNetID":"000013","NwkKey":{"AESKey":"$K102"},"NSKEKLabel":"ns:000013"}
EOD
$F device import "$tmp/devices.jsonl" --allow-clear-keys >/dev/null 2>>"$tmp/err" || setup_ok=0
if [ $setup_ok -ne 1 ]; then
    echo "1..1"; echo "not ok 1 - deployment set-up"; sed 's/^/# /' "$tmp/err"; exit 1
fi
