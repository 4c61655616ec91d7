#!/bin/sh
# docs_examples.sh - the JoinReq/JoinAns example of docs/backend-interfaces.md
# ("Examples") is one that ferry really produces: a deployment made with the
# keys the docs name, the example's JoinReq posted as it is written there,
# and the answer compared with the example's JoinAns field by field (all but
# SessionKeyID, which is random). The example's join-request is also checked
# by lora-packet against the documented AppKey, and its join-accept opened
# with it, so the example is independent of ferry's own code. Prints TAP.
#
# When the Join Server's answer changes on purpose (a JoinNonce rule, a new
# field), regenerate the example: DOCS_EXAMPLES_PRINT=1 prints ferry's answer.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib/common.sh"
need_node
export NODE_PATH="$root/tests/oracle/node_modules"
make_tmp docs
watch_log "$tmp"
doc="$root/docs/backend-interfaces.md"
# The keys of the example (docs/backend-interfaces.md says them): public
# test values, never a deployment's.
APPKEY=2B7E151628AED2A6ABF7158809CF4F3C
NSKEK=000102030405060708090A0B0C0D0E0F
ASKEK=0F0E0D0C0B0A09080706050403020100
JE=70B3D57ED0000000; DEV=0102030405060708
# the first two ```json blocks after the example's heading
awk '/^### JoinReq \(1.1 header, LoRaWAN 1.0.4 device\) and its JoinAns/ { on = 1; next }
     on && /^```json/ { n++; grab = 1; next }
     on && grab && /^```/ { grab = 0; if (n == 2) exit; next }
     grab { print > (dir "/block" n ".json") }' dir="$tmp" "$doc"
check "the example's JoinReq and JoinAns are in the docs" '[ -s "$tmp/block1.json" ] && [ -s "$tmp/block2.json" ]'
phy=$(node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).PHYPayload)' "$tmp/block1.json")
want=$(node "$here/js_oracle.js" jr $APPKEY $JE $DEV 0000 | tr 'a-f' 'A-F')
check "lora-packet builds the example's join-request from the documented AppKey ($want)" '[ "$phy" = "$want" ]'

P=$(port)
D="$FERRY -d $tmp/js"
{
    "$FERRY" init "$tmp/js" --join-eui $JE --listen "127.0.0.1:$P" &&
    $D peer add 000013 --token-out "$tmp/ns.tok" --nsid 0000000000000013 &&
    echo $NSKEK | $D kek import ns:000013 && echo $ASKEK | $D kek import as:as.example.com &&
    printf '{"DevEUI":"%s","JoinEUI":"%s","MACVersion":"1.0.4","HomeNetID":"000013","NwkKey":{"AESKey":"%s"},"NSKEKLabel":"ns:000013","ASKEKLabel":"as:as.example.com"}\n' \
        $DEV $JE $APPKEY >"$tmp/dev.jsonl" && $D device import "$tmp/dev.jsonl" --allow-clear-keys
} >"$tmp/setup.log" 2>&1
check "a deployment with the documented keys" '[ $? -eq 0 ]'
$D serve >"$tmp/serve.log" 2>&1 & pids="$pids $!"
check "ferry serve answers" "wait_http http://127.0.0.1:$P/metrics $!"
code=$(curl -s -o "$tmp/ans.json" -w '%{http_code}' -H "Authorization: Bearer $(cat "$tmp/ns.tok")" \
    -H 'Content-Type: application/json' --data-binary @"$tmp/block1.json" "http://127.0.0.1:$P/")
[ "${DOCS_EXAMPLES_PRINT:-}" = 1 ] && { echo "# ferry's answer:"; sed 's/^/# /' "$tmp/ans.json"; echo; }
same=$(node -e '
const fs = require("fs");
const got = JSON.parse(fs.readFileSync(process.argv[1], "utf8")), doc = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
delete got.SessionKeyID; delete doc.SessionKeyID;
const keys = [...new Set([...Object.keys(got), ...Object.keys(doc)])].sort();
const diff = keys.filter(k => JSON.stringify(got[k]) !== JSON.stringify(doc[k]));
process.stdout.write(diff.length ? "differs in " + diff.join(", ") : "same");' "$tmp/ans.json" "$tmp/block2.json")
check "ferry's JoinAns to the example's JoinReq is the documented one, SessionKeyID apart ($same; HTTP $code)" \
    '[ "$code" = 200 ] && [ "$same" = same ]'
node "$here/js_oracle.js" check10 "$tmp/block2.json" $APPKEY 000013 0000 $NSKEK $ASKEK >/dev/null 2>"$tmp/err"
check "lora-packet opens the documented join-accept with the AppKey; its NwkSKey and AppSKey unwrap to lora-packet's derivation" \
    '[ $? -eq 0 ] || { sed "s/^/# /" "$tmp/err"; false; }'
echo "1..$n"
[ "$failed" -eq 0 ]
