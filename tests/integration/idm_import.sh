#!/bin/sh
# idm_import.sh - the manufacturing hand-off through the `ferry` binary:
# `ferry init` for the IDM, `kek import` of the HSA-IDM KEK, `hsa personalise`,
# `idm import` (twice: idempotent), a corrupted batch (nothing imported, the
# line named), `idm show`, `idm audit verify` before and after a tampered row
# (the last needs the sqlite3 shell; skipped without it); then a real bootstrap
# join: `ferry -d IDM serve` answers a JoinReq built by an imported SE image
# (`ferry se serve` + `join-request`), and the image accepts the join-accept
# (needs curl). Also: no output and no file holds the HSA-IDM KEK, the one
# clear key the test knows.
#
# Drives $FERRY (default: the sanitizer build) and prints TAP.
set -u

here=$(cd "$(dirname "$0")" && pwd)
FERRY=${FERRY:-$here/../../build/san/bin/ferry}
. "$here/lib/wait.sh"
n=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-idm-import.XXXXXX") || exit 1
js_pid=""
se_pid=""
cleanup() {
    [ -n "$js_pid" ] && kill "$js_pid" 2>/dev/null && wait "$js_pid" 2>/dev/null
    [ -n "$se_pid" ] && kill "$se_pid" 2>/dev/null && wait "$se_pid" 2>/dev/null
    release_ports
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
watch_log "$tmp/serve.log" "$tmp/se.log"

ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -f "$tmp/err" ] && sed 's/^/# /' "$tmp/err"; }
check() { if eval "$2"; then ok "$1"; else notok "$1"; fi; }

kek=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
KEK_UP=$(echo "$kek" | tr 'a-f' 'A-F')
idm="$tmp/idm"
out="$tmp/out"

"$FERRY" init "$idm" --join-eui 70B3D57ED0000000 >"$tmp/o" 2>"$tmp/err"
check "ferry init makes the IDM deployment" '[ $? -eq 0 ]'
echo "$kek" | "$FERRY" -d "$idm" kek import hsa-idm >"$tmp/o" 2>"$tmp/err"
check "the IDM imports the HSA-IDM KEK" '[ $? -eq 0 ]'

echo "$kek" | "$FERRY" hsa personalise --count 12 --out "$out" --kek-label hsa-idm --mac-version 1.0.4 \
    --dev-eui-base 70B3D57ED00200F8 >"$tmp/o" 2>"$tmp/err"
rc=$?
check "hsa personalise 12 SEs" '[ $rc -eq 0 ] && grep -q "\"personalised\": 12" "$tmp/o" && [ ! -s "$tmp/err" ]'
check "12 images, DevEUIs carry across a byte" '[ $(ls "$out"/se-*.img | wc -l) -eq 12 ] && [ -f "$out/se-70B3D57ED0020103.img" ]'
check "batch: 12 lines, 1.0.4, every AESKey 48 hex digits under hsa-idm" \
    '[ $(wc -l <"$out/batch.jsonl") -eq 12 ] && [ $(grep -o "\"KEKLabel\":\"hsa-idm\",\"AESKey\":\"[0-9A-F]\{48\}\"" "$out/batch.jsonl" | wc -l) -eq 36 ] && [ $(grep -c "\"MACVersion\":\"1.0.4\"" "$out/batch.jsonl") -eq 12 ]'
check "QR payloads are TR005 LW:D0 with the owner token" \
    '[ $(grep -c "\"QR\":\"LW:D0:70B3D57ED0000000:70B3D57ED002[0-9A-F]\{4\}:00000000:O[0-9A-F]\{32\}\"" "$out/batch.jsonl") -eq 12 ]'

echo "$kek" | "$FERRY" hsa personalise --count 1 --out "$out" --kek-label hsa-idm >"$tmp/o" 2>"$tmp/err"
rc=$?
check "a second run into the same directory is refused" '[ $rc -eq 1 ] && [ ! -s "$tmp/o" ] && grep -q "exists already" "$tmp/err"'

echo "$kek" | "$FERRY" hsa personalise --count 1 --out "$out" --kek-label 'bad label' >"$tmp/o" 2>"$tmp/err"
rc=$?
check "a KEK label with a space is refused before any chip is made" '[ $rc -eq 2 ] && [ ! -s "$tmp/o" ]'

# SEs whose bootstrap JoinEUI this deployment's Join Server does not serve
# could never join: the batch is refused whole.
echo "$kek" | "$FERRY" hsa personalise --count 2 --out "$tmp/other" --kek-label hsa-idm --join-eui 70B3D57EE0000000 \
    --dev-eui-base 70B3D57ED00F0000 >/dev/null 2>"$tmp/err" &&
    "$FERRY" -d "$idm" idm import "$tmp/other/batch.jsonl" >"$tmp/o" 2>"$tmp/err"
rc=$?
check "idm import refuses a batch whose JoinEUI the Join Server does not serve, naming it; nothing imported" \
    '[ $rc -eq 1 ] && grep -q "70B3D57EE0000000 is not served" "$tmp/err" && ! "$FERRY" -d "$idm" idm show 70B3D57ED00F0000 >/dev/null 2>&1'

"$FERRY" -d "$idm" idm import "$out/batch.jsonl" >"$tmp/o" 2>"$tmp/err"
rc=$?
check "idm import: 12 imported" '[ $rc -eq 0 ] && grep -q "\"imported\": 12" "$tmp/o" && grep -q "\"already\": 0" "$tmp/o"'
"$FERRY" -d "$idm" idm import "$out/batch.jsonl" >"$tmp/o" 2>"$tmp/err"
rc=$?
check "idm import again: 0 imported, 12 already" '[ $rc -eq 0 ] && grep -q "\"imported\": 0" "$tmp/o" && grep -q "\"already\": 12" "$tmp/o"'

"$FERRY" -d "$idm" idm show 70B3D57ED0020100 >"$tmp/o" 2>"$tmp/err"
check "idm show: manufactured, 1.0.4, no key or token" \
    '[ $? -eq 0 ] && grep -q "\"State\": \"manufactured\"" "$tmp/o" && grep -q "\"MACVersion\": \"1.0.4\"" "$tmp/o" && ! grep -qi "token\|key" "$tmp/o"'
"$FERRY" -d "$idm" device show 70B3D57ED0020100 >"$tmp/o" 2>"$tmp/err"
check "the bootstrap Join Server has the device (NSKEKLabel bootstrap-ns)" \
    '[ $? -eq 0 ] && grep -q "bootstrap-ns" "$tmp/o"'

# A second batch, from the same HSA token (the first batch moved away), with
# line 5 corrupted: nothing of it may land.
out2="$tmp/out2"
mv "$out/batch.jsonl" "$tmp/batch1.jsonl"
echo "$kek" | "$FERRY" hsa personalise --count 8 --out "$out" --kek-label hsa-idm \
    --dev-eui-base 70B3D57ED0030000 >"$tmp/o" 2>"$tmp/err"
check "a second run reuses the HSA token once the batch is moved away" \
    '[ $? -eq 0 ] && grep -q "\"hsa_token_created\": false" "$tmp/o"'
mkdir "$out2" && mv "$out/batch.jsonl" "$out2/batch.jsonl"
zeros=000000000000000000000000000000000000000000000000
sed "5s/\"AppKey\":{\"KEKLabel\":\"hsa-idm\",\"AESKey\":\"[0-9A-F]\{48\}\"/\"AppKey\":{\"KEKLabel\":\"hsa-idm\",\"AESKey\":\"$zeros\"/" \
    "$out2/batch.jsonl" >"$tmp/bad.jsonl"
cmp -s "$tmp/bad.jsonl" "$out2/batch.jsonl" && echo "# the corruption did not change the file"
"$FERRY" -d "$idm" idm import "$tmp/bad.jsonl" >"$tmp/o" 2>"$tmp/err"
rc=$?
check "a corrupted line: exit 1, line 5 named, nothing on stdout" \
    '[ $rc -eq 1 ] && [ ! -s "$tmp/o" ] && grep -q "line 5" "$tmp/err" && grep -q "nothing was imported" "$tmp/err"'
"$FERRY" -d "$idm" idm show 70B3D57ED0030000 >"$tmp/o" 2>"$tmp/err"
check "... and line 1 of that batch was not imported" '[ $? -eq 1 ]'
"$FERRY" -d "$idm" idm import "$out2/batch.jsonl" >"$tmp/o" 2>"$tmp/err"
check "the intact batch then imports: 8" '[ $? -eq 0 ] && grep -q "\"imported\": 8" "$tmp/o"'

"$FERRY" -d "$idm" idm audit verify >"$tmp/o" 2>"$tmp/err"
check "audit verify: ok, 3 entries (one per successful import)" \
    '[ $? -eq 0 ] && grep -q "\"ok\": true" "$tmp/o" && grep -q "\"entries\": 3" "$tmp/o"'

if command -v sqlite3 >/dev/null 2>&1; then
    sqlite3 "$idm/ferry.db" "UPDATE idm_audit SET actor = 'mallory' WHERE seq = 2"
    "$FERRY" -d "$idm" idm audit verify >"$tmp/o" 2>"$tmp/err"
    rc=$?
    check "audit verify after a tampered row: exit 1, entry 2 named" \
        '[ $rc -eq 1 ] && grep -q "\"ok\": false" "$tmp/o" && grep -q "\"first_bad_entry\": 2" "$tmp/o" && grep -q "entry 2" "$tmp/err"'
else
    n=$((n + 1)); echo "ok $n - # SKIP tampering needs the sqlite3 shell"
fi

# A bootstrap join on the IDM's Join Server, by an imported SE.
if command -v curl >/dev/null 2>&1; then
    F="$FERRY -d $idm"
    $F kek generate bootstrap-ns >/dev/null 2>"$tmp/err" && $F kek generate idm-as >/dev/null 2>>"$tmp/err" &&
        $F peer add 000000 --token-out "$tmp/ns.tok" >/dev/null 2>>"$tmp/err"
    check "the bootstrap network's NS KEK, the IDM's AS KEK and the NS peer" '[ $? -eq 0 ]'
    port=$(port)
    $F serve --listen "127.0.0.1:$port" 2>"$tmp/serve.log" &
    js_pid=$!
    "$FERRY" se serve --image "$out/se-70B3D57ED00200F8.img" --socket "$tmp/se.sock" 2>"$tmp/se.log" &
    se_pid=$!
    # ready: the Join Server's /metrics answers, and the emulator answers
    # `se info` on its socket (each pid watched while waiting for it)
    : >"$tmp/err"
    wait_http "http://127.0.0.1:$port/metrics" "$js_pid" && {
        wait_pid=$se_pid
        wait_until "the SE emulator answering se info on $tmp/se.sock" - \
            '[ -S "$tmp/se.sock" ] && "$FERRY" se info --socket "$tmp/se.sock" >/dev/null 2>&1'
    }
    check "the bootstrap Join Server (port $port) and the SE emulator come up" '[ $? -eq 0 ]'
    wait_pid=""
    "$FERRY" se join-request --socket "$tmp/se.sock" >"$tmp/o" 2>"$tmp/err"
    phy=$(tr -d ' \n' <"$tmp/o" | sed -n 's/.*"PHYPayload":"\([0-9a-fA-F]*\)".*/\1/p')
    printf '{"ProtocolVersion":"1.0","SenderID":"000000","ReceiverID":"70B3D57ED0000000","TransactionID":7,"MessageType":"JoinReq","MACVersion":"1.0.4","PHYPayload":"%s","DevEUI":"70B3D57ED00200F8","DevAddr":"00000001","DLSettings":"00","RxDelay":1}' \
        "$phy" >"$tmp/req.json"
    code=$(curl -s -o "$tmp/ans.json" -w '%{http_code}' -H "Authorization: Bearer $(cat "$tmp/ns.tok")" \
        -H 'Content-Type: application/json' --data-binary @"$tmp/req.json" "http://127.0.0.1:$port/")
    tr -d ' \n' <"$tmp/ans.json" >"$tmp/ans1.json"
    cp "$tmp/serve.log" "$tmp/err"
    check "the IDM's bootstrap Join Server accepts the SE's join-request" \
        '[ "$code" = 200 ] && grep -q "\"ResultCode\":\"Success\"" "$tmp/ans1.json"'
    ja=$(sed -n 's/.*"PHYPayload":"\([0-9a-fA-F]*\)".*/\1/p' "$tmp/ans1.json")
    "$FERRY" se join-accept --socket "$tmp/se.sock" "$ja" >"$tmp/o" 2>"$tmp/err"
    check "... and the SE image verifies and accepts the join-accept" '[ $? -eq 0 ] && grep -q "DevAddr" "$tmp/o"'
    kill "$js_pid" "$se_pid" 2>/dev/null; wait "$js_pid" "$se_pid" 2>/dev/null; js_pid=""; se_pid=""
else
    n=$((n + 1)); echo "ok $n - # SKIP the bootstrap join needs curl"
fi

# The one clear key the test knows is nowhere: outputs, batches, images, tokens, database.
found=$(grep -rlaF -e "$kek" -e "$KEK_UP" "$tmp" 2>/dev/null | head -1)
check "no file holds the HSA-IDM KEK in hex" '[ -z "$found" ]'
check "every batch and image is mode 0600" \
    '[ -z "$(find "$out" "$out2" -maxdepth 1 -type f ! -perm 0600)" ]'

echo "1..$n"
[ "$failed" -eq 0 ]
