#!/bin/sh
# log_forging.sh - no request can forge or break a log line (issue 12): the
# five HTTP services of ferry, each a real process on 127.0.0.1 with its log
# in its own file - the Join Server (`ferry -d DIR serve`, a deployment made
# by `ferry init`), the hub (`ferry hub --config`), the Identity Manager
# (`ferry -d DIR idm serve`, the same deployment), the lab NS and the lab AS
# (`ferry lab ns`, `ferry lab as`) - receive hostile requests sent by curl:
#   - paths with percent-encoded quotes, CR/LF and `"}` + a fake JSON object,
#     bytes that are not UTF-8, ESC sequences, a NUL, a path of 3000+
#     characters; quote-laden Authorization and a huge User-Agent;
#   - bodies (on each service's JSON route) with invalid UTF-8, a key given
#     twice, `"}\n{"level":"fake"` inside strings, two documents on two
#     lines, a raw newline inside a string, a NUL byte, 20000 levels of
#     nesting, and a body over the route's limit (413);
#   - BI JoinReqs (the Join Server, the hub) whose SenderID or DevEUI holds
#     quotes, a forged object and control characters.
# Then each server is stopped with SIGTERM (exit 0) and node reads every
# line of every log: each is one JSON object, none has a key "forged" or a
# "level" of "fake", there is an access line for every hostile request,
# the long path is logged whole and the forged path verbatim (escaped, not
# dropped), and the 413 has its line. The answers are checked where a
# service parses JSON: a key given twice and invalid UTF-8 are 400s that
# say so (idm serve's /api/v1/claims, the JS's POST /, the lab AS's
# /uplink). Prints TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib/common.sh"
need_node
make_tmp log-forging
# every server logs into $tmp/*.log: shown when a wait times out
watch_log "$tmp"
umask 077

JOINEUI=70B3D57ED0000000
NSKEK=00112233445566778899aabbccddeeff
ASKEK=0f0e0d0c0b0a09080706050403020100
P_JS=$(port); P_IDM=$(port); P_HUB=$(port); P_NS=$(port); U_NS=$(uport); P_AS=$(port)
dep="$tmp/dep"
I="$FERRY -d $dep"
lab="$tmp/lab"
mkdir -p "$lab" "$tmp/ans" "$tmp/b"
: >"$tmp/err"

# ---- the deployment: the Join Server and the Identity Manager share it
{
    "$FERRY" init "$dep" --join-eui $JOINEUI --listen "127.0.0.1:$P_JS" &&
    $I peer add 000013 --token-out "$tmp/js-ns.tok" &&
    echo $NSKEK | $I kek import ns:000013 &&
    $I idm init --ns-token-out "$tmp/idm-ns.tok" --listen "127.0.0.1:$P_IDM" &&
    $I idm tenant add acme --kind customer --token-out "$tmp/acme.tok"
} >"$tmp/setup.log" 2>"$tmp/err"
check "a deployment (ferry init): a peer 000013 at the JS, idm init, a tenant acme" '[ $? -eq 0 ]'
JS_TOK=$(cat "$tmp/js-ns.tok"); IDM_NS_TOK=$(cat "$tmp/idm-ns.tok"); ACME_TOK=$(cat "$tmp/acme.tok")

# ---- the hub: one member (000013), a route to the Join Server
"$FERRY" hub token "$lab/member.tok" >"$tmp/member.json" 2>>"$tmp/err"
HUB_TOK=$(cat "$lab/member.tok")
echo "000013 $JS_TOK" >"$lab/hub-js.tok"
cat >"$lab/hub.conf" <<EOT
listen = 127.0.0.1:$P_HUB
member = 000013 token_sha256=$(jget token_sha256 <"$tmp/member.json")
route = 70B3D57E00000000/32 http://127.0.0.1:$P_JS/ hub-js.tok
EOT

# ---- the lab NS (/downlink and /bi take bearers) and the lab AS
DL_TOK=dl-$(hex16); BI_TOK=bi-$(hex16); AS_TOK=as-$(hex16)
echo $NSKEK >"$lab/ns.kek"; echo $ASKEK >"$lab/as.kek"
echo "$DL_TOK" >"$lab/dl.tok"; echo "$BI_TOK" >"$lab/bi.tok"; echo "$AS_TOK" >"$lab/as.tok"
cat >"$lab/ns.conf" <<EOT
net_id = 000013
kek_label = ns:000013
kek_file = ns.kek
udp_listen = 127.0.0.1:$U_NS
http_listen = 127.0.0.1:$P_NS
downlink_token_file = dl.tok
bi_token_file = bi.tok
EOT
cat >"$lab/as.conf" <<EOT
listen = 127.0.0.1:$P_AS
token_file = as.tok
kek_label = as:app1
kek_file = as.kek
EOT

# ---- the five servers, each log in its own file (stdout apart)
"$FERRY" -d "$dep" serve >"$tmp/js.out" 2>"$tmp/js.log" &
pid_js=$!
$I idm serve >"$tmp/idm.out" 2>"$tmp/idm.log" &
pid_idm=$!
"$FERRY" hub --config "$lab/hub.conf" >"$tmp/hub.out" 2>"$tmp/hub.log" &
pid_hub=$!
"$FERRY" lab ns --config "$lab/ns.conf" >"$tmp/ns.out" 2>"$tmp/ns.log" &
pid_ns=$!
"$FERRY" lab as --config "$lab/as.conf" >"$tmp/as.out" 2>"$tmp/as.log" &
pid_as=$!
pids="$pid_js $pid_idm $pid_hub $pid_ns $pid_as"
up=yes
wait_http "http://127.0.0.1:$P_JS/metrics" $pid_js || up=no
wait_http "http://127.0.0.1:$P_IDM/healthz" $pid_idm || up=no
wait_http "http://127.0.0.1:$P_HUB/metrics" $pid_hub || up=no
wait_http "http://127.0.0.1:$P_NS/status" $pid_ns || up=no
wait_http "http://127.0.0.1:$P_AS/status" $pid_as || up=no
check "the Join Server, idm serve, the hub, the lab NS and the lab AS listen on 127.0.0.1" '[ $up = yes ]'
if [ $up = no ]; then echo "# not up: the rest of the test cannot run"; echo "1..$n"; exit 1; fi

# ---- hostile material
# the path of 3000+ characters: quotes, a brace, a backslash, repeated
long="/long-"
k=0
while [ $k -lt 640 ]; do long="${long}q%22%7D%5C%7B"; k=$((k + 1)); done
long="${long}-end"
long_len=$((6 + 640 * 5 + 4))
forge='/%22%7D%0A%7B%22forged%22:%22yes%22,%22level%22:%22fake%22%7D'
# a User-Agent of 8 KiB of quotes, forged objects and ESC bytes (well under
# libmicrohttpd's 32 KiB for a request's headers)
ua=$(node -e 'process.stdout.write(("\"}{\"forged\":\"yes\",\"level\":\"fake\"}\x1b[2J").repeat(200))')
auth='Authorization: Bearer "}{"forged":"yes","level":"fake"}\"'
b="$tmp/b"
printf '{"DevEUI":"\377\376","OwnerToken":"\300\257"}' >"$b/utf8"
printf '{"DevEUI":"70B3D57ED0000001","DevEUI":"70B3D57ED0000002","OwnerToken":"00000000000000000000000000000000"}' >"$b/dup"
cat >"$b/escaped" <<'EOT'
{"DevEUI":"\"}\n{\"level\":\"fake\",\"forged\":\"yes\"}","OwnerToken":"\"}\r\n{\"forged\":\"yes\"}\u001b[31m"}
EOT
printf '{"DevEUI":"70B3D57ED0000001"}\n{"level":"fake","forged":"yes"}\n' >"$b/twodocs"
printf '{"DevEUI":"x\n{"level":"fake","forged":"yes"}"}' >"$b/rawnl"
printf '{"DevEUI":"70B3\000D57ED0000001","OwnerToken":"x"}' >"$b/nul"
node -e 'process.stdout.write("{\"a\":" + "[".repeat(20000) + "]".repeat(20000) + "}")' >"$b/deep"
# big SIZE: a body of SIZE bytes made of forged lines
big() { node -e 'const n=+process.argv[1]; process.stdout.write("\"}\n{\"forged\":\"yes\",\"level\":\"fake\"}\n".repeat(n).slice(0, n))' "$1"; }
big 70000 >"$b/big64k"
big 9000 >"$b/big8k"
big 300000 >"$b/big256k"
# BI JoinReqs: a forged object and control characters in SenderID or DevEUI
jr() {   # jr SENDER DEVEUI: a JoinReq body, the values written as JSON text
    printf '{"ProtocolVersion":"1.1","SenderID":"%s","ReceiverID":"%s","TransactionID":7,"MessageType":"JoinReq",' "$1" $JOINEUI
    printf '"SenderNSID":"0000000000000013","MACVersion":"1.0.3","PHYPayload":"00000000D07ED5B37001001C000BA30400010203040506",'
    printf '"DevEUI":"%s","DevAddr":"26011234","DLSettings":"03","RxDelay":1}' "$2"
}
hostile='0004A30B\"}\n{\"forged\":\"yes\",\"level\":\"fake\"}\u001b[31m\r'
jr "000013$hostile" 0004A30B001C0001 >"$b/bi-sender"
jr 000013 "$hostile" >"$b/bi-deveui"
jr '00\"}{\"forged\":\"yes\",\"level\":\"fake\"}' 0004A30B001C0001 >"$b/bi-quotes"
jr 000013 "$(printf '0004A30B\033[31m\r\n\t')" >"$b/bi-ctl"
jr 000013 "$(printf '0004A30B\377\376')" >"$b/bi-bytes"

# requests curl will not send: bytes that are not UTF-8, ESC, a bare CR or
# LF in the request line, a method of quotes, a header of raw bytes, a
# folded header, a User-Agent of 76 KiB (beyond libmicrohttpd's 32 KiB for a
# request); raw.js PORT KIND sends one and prints the status line
cat >"$tmp/raw.js" <<'EOT'
const [port, kind, secs] = process.argv.slice(2);
const B = (...p) => Buffer.concat(p.map(x => typeof x === "string" ? Buffer.from(x, "latin1") : Buffer.from(x)));
const end = " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
const reqs = {
  "raw-bytes-path": B("GET /rawbytes", [0xff, 0xfe, 0x1b], "[31m\"}{\"forged\":\"yes\",\"level\":\"fake\"}", end),
  "raw-cr-path": B("GET /rawcr\r{\"forged\":\"yes\",\"level\":\"fake\"}", end),
  "raw-method": B("G\"}{\"forged\":\"yes\"}\x1b /rawmethod", end),
  "raw-header": B("GET /rawheader HTTP/1.1\r\nHost: x\r\nUser-Agent: ", [0xff, 0xfe, 0x1b, 0x07],
                  "\"}{\"forged\":\"yes\"}\r\nX-A: a\r\n {\"level\":\"fake\"}\r\nConnection: close\r\n\r\n"),
  "raw-lf-path": B("GET /rawlf\n{\"forged\":\"yes\",\"level\":\"fake\"}", end),
  "huge-header": B("GET /hugeheader HTTP/1.1\r\nHost: x\r\nUser-Agent: ", "\"}\n{\"forged\":\"yes\"}".repeat(4000),
                   "\r\nConnection: close\r\n\r\n"),
};
let got = Buffer.alloc(0), done = false;
const finish = () => { if (!done) { done = true; console.log(got.toString("latin1").split("\r\n")[0] || "(no answer)"); s.destroy(); } };
const s = require("net").connect(+port, "127.0.0.1", () => s.write(reqs[kind]));
s.on("data", d => { got = Buffer.concat([got, d]); if (got.includes("\r\n\r\n")) finish(); });
s.on("error", finish);
s.on("close", finish);
setTimeout(finish, secs * 1000).unref();
EOT

cmax=$(scaled 20)
sent_js=0; sent_idm=0; sent_hub=0; sent_ns=0; sent_as=0
# hit SVC NAME URL [CURL OPTIONS]: one hostile request; its status in
# $tmp/ans/SVC.NAME.code, its answer in .body, and a comment line
hit() {
    h_svc=$1; h_name=$2; h_url=$3; shift 3
    curl -sg --path-as-is --max-time "$cmax" -H 'Expect:' -o "$tmp/ans/$h_svc.$h_name.body" -w '%{http_code}' \
        "$@" "$h_url" >"$tmp/ans/$h_svc.$h_name.code" 2>/dev/null
    eval "sent_$h_svc=\$((sent_$h_svc + 1))"
    echo "# $h_svc $h_name: $(cat "$tmp/ans/$h_svc.$h_name.code") $(head -c 150 "$tmp/ans/$h_svc.$h_name.body" | tr -c ' -~' '?')"
}
# raw SVC PORT: the raw requests; all but the bare LF and the huge header
# (which libmicrohttpd refuses itself, logged by its "http library" line
# when at all) reach the service
raw() {
    for k in raw-bytes-path raw-cr-path raw-method raw-header raw-lf-path huge-header; do
        echo "# $1 $k: $(node "$tmp/raw.js" "$2" $k "$cmax" | tr -c ' -~\n' '?')"
        case $k in raw-lf-path | huge-header) ;; *) eval "sent_$1=\$((sent_$1 + 1))" ;; esac
    done
}
code_of() { cat "$tmp/ans/$1.$2.code"; }
body_has() { grep -Eqi "$3" "$tmp/ans/$1.$2.body"; }
# paths SVC BASE: the hostile paths and headers (GET)
paths() {
    hit "$1" forged-path "$2$forge"
    hit "$1" raw-quotes-path "$2/raw\"}{\"forged\":\"yes\",\"level\":\"fake\"}"
    hit "$1" crlf-path "$2/cr%0D%0A%7B%22level%22:%22fake%22%7D%0D"
    hit "$1" bytes-path "$2/bytes%FF%FE%C0%AF%ED%A0%80"
    hit "$1" esc-path "$2/esc%1B%5B2J%1B%5D0;owned%07%1B%5B31m"
    hit "$1" nul-path "$2/nul%00%22%7D%0A%7B%22forged%22:%22yes%22%7D"
    hit "$1" long-path "$2$long"
    hit "$1" headers "$2/headers" -H "$auth" -A "$ua" -H 'X-Forwarded-For: "}{"forged":"yes"}'
}
# bodies SVC URL BEARER: the hostile bodies (POST), all but the oversized one
bodies() {
    for f in utf8 dup escaped twodocs rawnl nul deep; do
        hit "$1" "$f" "$2" -H "Authorization: Bearer $3" -H 'Content-Type: application/json' --data-binary @"$b/$f"
    done
}
post() {   # post SVC NAME URL BEARER FILE
    hit "$1" "$2" "$3" -H "Authorization: Bearer $4" -H 'Content-Type: application/json' --data-binary @"$5"
}

# ---- the Join Server
JS="http://127.0.0.1:$P_JS"
paths js "$JS"
raw js $P_JS
hit js admin-path "$JS/api/v1/%22%7D%0A%7B%22forged%22:%22yes%22%7D" -H "Authorization: Bearer $(cat "$dep/admin.token")"
bodies js "$JS/" "$JS_TOK"
post js big "$JS/" "$JS_TOK" "$b/big64k"
for f in bi-sender bi-quotes bi-deveui bi-ctl bi-bytes; do post js $f "$JS/" "$JS_TOK" "$b/$f"; done
check "JS POST /, a key given twice: 400 saying so" '[ "$(code_of js dup)" = 400 ] && body_has js dup "duplicate"'
check "JS POST /, invalid UTF-8: 400 saying so" '[ "$(code_of js utf8)" = 400 ] && body_has js utf8 "UTF-8"'
check "JS POST /, a body over 64 KiB: 413" '[ "$(code_of js big)" = 413 ]'

# ---- the hub
HUB="http://127.0.0.1:$P_HUB"
paths hub "$HUB"
raw hub $P_HUB
bodies hub "$HUB/" "$HUB_TOK"
post hub big "$HUB/" "$HUB_TOK" "$b/big64k"
for f in bi-sender bi-quotes bi-deveui bi-ctl bi-bytes; do post hub $f "$HUB/" "$HUB_TOK" "$b/$f"; done
check "hub, a body over 64 KiB: 413" '[ "$(code_of hub big)" = 413 ]'

# ---- idm serve
IDM="http://127.0.0.1:$P_IDM"
paths idm "$IDM"
raw idm $P_IDM
bodies idm "$IDM/api/v1/claims" "$ACME_TOK"
for f in utf8 dup escaped nul; do post idm uplink-$f "$IDM/uplink" "$IDM_NS_TOK" "$b/$f"; done
post idm big "$IDM/uplink" "$IDM_NS_TOK" "$b/big8k"
post idm big-claims "$IDM/api/v1/claims" "$ACME_TOK" "$b/big256k"
check "idm /api/v1/claims, a key given twice: 400 saying so" '[ "$(code_of idm dup)" = 400 ] && body_has idm dup "duplicate"'
check "idm /api/v1/claims, invalid UTF-8: 400 saying so" '[ "$(code_of idm utf8)" = 400 ] && body_has idm utf8 "UTF-8"'
check "idm /uplink, a key given twice and invalid UTF-8: 400s saying so" \
    '[ "$(code_of idm uplink-dup)" = 400 ] && body_has idm uplink-dup "duplicate" &&
     [ "$(code_of idm uplink-utf8)" = 400 ] && body_has idm uplink-utf8 "UTF-8"'
check "idm, bodies over 8 KiB (/uplink) and 256 KiB (/api/v1/claims): 413" \
    '[ "$(code_of idm big)" = 413 ] && [ "$(code_of idm big-claims)" = 413 ]'

# ---- the lab NS
NS="http://127.0.0.1:$P_NS"
paths ns "$NS"
raw ns $P_NS
bodies ns "$NS/downlink" "$DL_TOK"
for f in utf8 dup escaped bi-deveui; do post ns bi-$f "$NS/bi" "$BI_TOK" "$b/$f"; done
post ns big "$NS/downlink" "$DL_TOK" "$b/big64k"
check "lab NS, a body over 64 KiB: 413" '[ "$(code_of ns big)" = 413 ]'

# ---- the lab AS
AS="http://127.0.0.1:$P_AS"
paths as "$AS"
raw as $P_AS
hit as uplinks-path "$AS/uplinks/%22%7D%0A%7B%22forged%22:%22yes%22%7D" -H "Authorization: Bearer $AS_TOK"
bodies as "$AS/uplink" "$AS_TOK"
post as big "$AS/uplink" "$AS_TOK" "$b/big64k"
check "lab AS /uplink, a key given twice: 400 saying so" '[ "$(code_of as dup)" = 400 ] && body_has as dup "duplicate|twice"'
check "lab AS /uplink, invalid UTF-8: 400 saying so" '[ "$(code_of as utf8)" = 400 ] && body_has as utf8 "UTF-8"'
check "lab AS, a body over 64 KiB: 413" '[ "$(code_of as big)" = 413 ]'

# ---- every server alive, then stopped by SIGTERM
gone=""
for s in js idm hub ns as; do
    eval "p=\$pid_$s"
    kill -0 "$p" 2>/dev/null || gone="$gone $s"
done
check "no server died under the hostile requests${gone:+ (gone:$gone)}" '[ -z "$gone" ]'
stop() {   # stop SVC: SIGTERM, its exit status in rc_SVC
    eval "p=\$pid_$1"
    kill -TERM "$p" 2>/dev/null
    wait "$p"
    eval "rc_$1=$?"
    pids=$(echo " $pids " | sed "s/ $p / /")
}
for s in js idm hub ns as; do stop $s; done
check "SIGTERM: every server exits 0 (js $rc_js, idm $rc_idm, hub $rc_hub, ns $rc_ns, as $rc_as)" \
    '[ "$rc_js$rc_idm$rc_hub$rc_ns$rc_as" = 00000 ]'
for s in js idm hub ns as; do
    [ -s "$tmp/$s.out" ] && { echo "# $s wrote to stdout:"; head -5 "$tmp/$s.out" | tr -c ' -~\n' '?' | sed 's/^/#   /'; }
done

# ---- every line of every log
cat >"$tmp/check.js" <<'EOT'
// check.js LOG HEALTHPATH SENT LONGPATH FORGEPATH [WANT]: reads every line
// of a log; WANT, a JSON object, is a set of fields some line must have
const fs = require("fs");
const [file, health, sent, longEnc, forgeEnc, wantText] = process.argv.slice(2);
const want = wantText ? JSON.parse(wantText) : null;
const long = decodeURIComponent(longEnc), forge = decodeURIComponent(forgeEnc);
const text = fs.readFileSync(file);
const r = { lines: 0, bad: [], forged: [], access: 0, long: false, forge: false, hex: false, s413: false, want: !want };
const levels = new Set(["debug", "info", "warn", "error"]);
function walk(v, where, depth) {
  if (v === null || typeof v !== "object") return;
  for (const [k, x] of Object.entries(v)) {
    if (k === "forged" || (k === "level" && (depth > 0 || !levels.has(x)))) r.forged.push(where + ": " + k + "=" + JSON.stringify(x));
    walk(x, where, depth + 1);
  }
}
// split on \n only: a line that a stray CR (or any byte) broke is a bad line
const lines = text.toString("latin1").split("\n");
if (lines[lines.length - 1] === "") lines.pop();
lines.forEach((raw, i) => {
  r.lines++;
  const bytes = Buffer.from(raw, "latin1");
  let o;
  try {
    if (!bytes.equals(Buffer.from(bytes.toString("utf8"), "utf8"))) throw new Error("not UTF-8");
    o = JSON.parse(bytes.toString("utf8"));
    if (o === null || typeof o !== "object" || Array.isArray(o)) throw new Error("not an object");
  } catch (e) {
    r.bad.push("line " + (i + 1) + " (" + e.message + "): " + JSON.stringify(raw.slice(0, 200)));
    return;
  }
  walk(o, "line " + (i + 1), 0);
  if (["request", "admin", "message"].includes(o.msg) && typeof o.path === "string" && o.path !== health) r.access++;
  if (o.path === long) r.long = true;
  if (o.path === forge) r.forge = true;
  if (typeof o.path === "string" && o.path.startsWith("hex:2f6279746573")) r.hex = true; // "/bytes" + what is not UTF-8
  if (o.status === 413) r.s413 = true;
  if (want && Object.entries(want).every(([k, v]) => o[k] === v)) r.want = true;
});
r.sent = +sent;
console.log(JSON.stringify(r));
EOT
# the checker itself, on a log forged the classic way (a path written raw:
# its line ends early and the forged object is a line of its own), a byte
# that is not UTF-8 and a raw CR: it must see two bad lines and two forgeries
printf '{"level":"info","msg":"request","path":"/"}\n{"forged":"yes","level":"fake"}\n{"level":"info","msg":"x\377"}\n{"level":"info","msg":"a\rb"}\n' \
    >"$tmp/forged.sample"
node "$tmp/check.js" "$tmp/forged.sample" /metrics 0 /x /y >"$tmp/sample.check" 2>"$tmp/err"
check "the log checker finds the lines a forged log breaks or adds" \
    '[ "$(jget lines <"$tmp/sample.check")" = 4 ] && node -e "const r=JSON.parse(require(\"fs\").readFileSync(0,\"utf8\")); process.exit(r.bad.length===2 && r.forged.length===2 ? 0 : 1)" <"$tmp/sample.check"'
jq1() { node -e 'const d=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); console.log(eval(process.argv[2]))' "$r" "$1"; }
for s in js hub idm ns as; do
    case $s in js | hub) health=/metrics ;; idm) health=/healthz ;; *) health=/status ;; esac
    eval "sent=\$sent_$s"
    want=""
    [ $s = hub ] && want='{"sender":"00\"}{\"forged\":\"yes\",\"level\":\"fake\"}","result":"UnknownSender"}'
    node "$tmp/check.js" "$tmp/$s.log" "$health" "$sent" "$long" "$forge" "$want" >"$tmp/$s.check" 2>"$tmp/err"
    r="$tmp/$s.check"
    echo "# $s: $(jget lines <"$r") log lines checked, $(jget access <"$r") access lines, $sent hostile requests"
    jq1 'd.bad.concat(d.forged).slice(0, 10).join("\n")' >"$tmp/err" 2>&1
    check "$s: every one of its $(jget lines <"$r") log lines is one JSON object" '[ "$(jq1 d.bad.length)" = 0 ] && [ "$(jget lines <"$r")" -gt 0 ]'
    check "$s: no line has a key \"forged\" or a level but debug, info, warn, error" '[ "$(jq1 d.forged.length)" = 0 ]'
    : >"$tmp/err"
    check "$s: an access line for each of the $sent hostile requests" '[ "$(jget access <"$r")" -ge "$sent" ]'
    check "$s: the path of $long_len characters logged whole" '[ "$(jget long <"$r")" = true ]'
    check "$s: the forged path logged verbatim, escaped" '[ "$(jget forge <"$r")" = true ]'
    check "$s: the path that is not UTF-8 logged as hex" '[ "$(jget hex <"$r")" = true ]'
    check "$s: the 413 has its line" '[ "$(jget s413 <"$r")" = true ]'
    [ -z "$want" ] || check "$s: the hostile SenderID logged verbatim in its field" '[ "$(jget want <"$r")" = true ]'
done

echo "1..$n"
[ $failed -eq 0 ]
