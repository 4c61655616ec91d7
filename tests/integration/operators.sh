#!/bin/sh
# operators.sh - operator onboarding (docs/operators.md), with the real
# pieces on loopback:
#   - an IDM deployment whose bootstrap Join Server (`serve`) speaks HTTPS;
#     operators A, B, C, D, E onboarded with `ferry operator add` (A, C, D, E
#     by bearer token, B by a client certificate of its own CA and an NSID,
#     in BI 1.1), a hub operator F; the bootstrap network 000000 as a peer;
#   - SEs made by `ferry hsa personalise` and imported: a batch whose maker
#     admits every operator, and one admitting only A, B, C, D (not E);
#   - operators_ns.js, each operator's network server: join-requests of an
#     SE emulator (`ferry se serve`) as JoinReq. The SE activates on A, B
#     and C; is refused on D once suspended (while `serve` runs: no restart)
#     and on E (excluded by its maker); D resumed activates it. Each
#     operator's NwkSKey unwraps (node's id-aes128-wrap) under its own KEK
#     only, and an uplink of the SE verifies under it;
#   - HomeNSReq: the bootstrap network's NetID for a bootstrap SE; an SE
#     moved to its customer (claim, assign, profile over the air through
#     `idm serve` and idm_ns.js, customer join) answers the customer's
#     NetID, only to the networks the customer allows (`idm js add
#     --allowed-net-ids`, also its AllowedNetIDs on the customer JS);
#   - per-operator counters on /metrics and in `operator show`; the REST
#     admin API /api/v1/operators; the audit chain; no KEK in clear in any
#     file or log.
# A visited network without a direct link activating the SE through the hub
# is tests/integration/operators_hub.sh.
# Needs node, curl and openssl. Prints TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
FERRY=${FERRY:-$root/build/san/bin/ferry}
export FERRY
export NODE_PATH="$root/tests/oracle/node_modules"
OPNS="$here/operators_ns.js"
IDMNS="$here/idm_ns.js"
. "$here/lib/wait.sh"
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -f "$tmp/err" ] && sed 's/^/# /' "$tmp/err" | tail -15; }
check() { if eval "$2"; then ok "$1"; else notok "$1"; fi; }
if ! command -v node >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1 ||
    ! "$root/tests/oracle/install.sh" >/dev/null 2>&1 || [ ! -d "$NODE_PATH/aes-cmac" ]; then
    echo "not ok 1 - node, curl, openssl and tests/oracle/node_modules are needed (scripts/deps.sh, tests/oracle/install.sh)"
    echo "1..1"
    exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-operators.XXXXXX") || exit 1
pids=""
js_pid=""
cleanup() {
    for p in $pids $js_pid; do kill "$p" 2>/dev/null; done
    for p in $pids $js_pid; do wait "$p" 2>/dev/null; done
    release_ports
    [ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# every server logs into $tmp/*.log: shown when a wait times out
watch_log "$tmp"

hex16() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n' | tr 'a-f' 'A-F'; }
jget() { node -e 'let o=JSON.parse(require("fs").readFileSync(0,"utf8")); for (const k of process.argv[1].split(".")) o=o==null?undefined:o[k]; process.stdout.write(o==null?"":String(o))' "$1"; }
# idm_wait DESC CONDITION: wait_until, idm serve's pid watched (its
# housekeeping makes the change: a dead idm serve fails the wait at once)
idm_wait() { wait_pid=$i_pid; wait_until "$1" - "$2"; w_rc=$?; wait_pid=""; return $w_rc; }
# wait_sock SOCKET PID: an SE emulator's Unix socket, its process watched
wait_sock() { wait_pid=$2; wait_until "the SE emulator's socket $1" - "[ -S '$1' ]"; w_rc=$?; wait_pid=""; return $w_rc; }

# ---- certificates: the Join Server's TLS certificate, operator B's CA and client certificate
q() { "$@" >/dev/null 2>&1 || { echo "not ok 1 - openssl: $*"; echo "1..1"; exit 1; }; }
(
    cd "$tmp" || exit 1
    q openssl req -x509 -newkey rsa:2048 -nodes -keyout tls.key -out tls.crt -days 2 -subj "/CN=127.0.0.1" \
        -addext "subjectAltName=IP:127.0.0.1"
    q openssl req -x509 -newkey rsa:2048 -nodes -keyout caB.key -out caB.crt -days 2 -subj "/CN=operator B CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    q openssl req -newkey rsa:2048 -nodes -keyout b.key -out b.csr -subj "/CN=00000B"
    printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >b.ext
    q openssl x509 -req -in b.csr -CA caB.crt -CAkey caB.key -CAcreateserial -out b.crt -days 2 -extfile b.ext
) || exit 1
export CA="$tmp/tls.crt" NODE_EXTRA_CA_CERTS="$tmp/tls.crt"

HSAKEK=$(hex16); NSKEK=$(hex16); CKEK=$(hex16); CNSKEK=$(hex16)
KA=$(hex16); KB=$(hex16); KC=$(hex16); KD=$(hex16); KE=$(hex16)
idm="$tmp/idm"; cust="$tmp/cust-js"; nsd="$tmp/ns"
mkdir -p "$nsd" && chmod 700 "$nsd"
P_JS=$(port); P_IDM=$(port); P_C=$(port)
I="$FERRY -d $idm"; C="$FERRY -d $cust"
JS="https://127.0.0.1:$P_JS"

# ---- the IDM deployment, KEKs, batches
{
    "$FERRY" init "$idm" --join-eui 70B3D57ED0000000 --listen "127.0.0.1:$P_JS" &&
    printf 'tls_cert = %s\ntls_key = %s\n' "$tmp/tls.crt" "$tmp/tls.key" >>"$idm/ferry.conf" &&
    echo "$HSAKEK" | $I kek import hsa-idm && echo "$NSKEK" | $I kek import bootstrap-ns &&
    $I kek generate idm-as && $I peer add 000000 --token-out "$nsd/boot.tok" &&
    echo "$KA" | $I kek import ns:00000A && echo "$KB" | $I kek import ns:00000B &&
    echo "$KC" | $I kek import ns:00000C && echo "$KD" | $I kek import ns:00000D &&
    echo "$KE" | $I kek import ns:00000E && echo "$CKEK" | $I kek import cust-kek &&
    echo "$HSAKEK" | "$FERRY" hsa personalise --count 2 --out "$tmp/hsa1" --kek-label hsa-idm --mac-version 1.0.4 \
        --dev-eui-base 70B3D57ED0060000 &&
    echo "$HSAKEK" | "$FERRY" hsa personalise --count 1 --out "$tmp/hsa2" --kek-label hsa-idm --mac-version 1.0.4 \
        --dev-eui-base 70B3D57ED0070000 --serial-base 0000000000000100
} >"$tmp/setup.log" 2>"$tmp/err"
check "IDM deployment (HTTPS), operator KEKs, two batches personalised" '[ $? -eq 0 ]'
SE1=70B3D57ED0060000; SE3=70B3D57ED0060001; SE2=70B3D57ED0070000
otok() { sed -n "s/.*\"DevEUI\":\"$1\".*:O\([0-9A-F]\{32\}\)\".*/\1/p" "$2"; }

# ---- onboarding
$I operator add 00000A --kek-label ns:00000A --token-out "$nsd/a.tok" --name "Net A" >"$tmp/o" 2>"$tmp/err"
check "operator add A (token): 0600 token file, no token in the output" \
    '[ $? -eq 0 ] && [ "$(stat -c %a "$nsd/a.tok")" = 600 ] && ! grep -q "$(cat "$nsd/a.tok")" "$tmp/o" && grep -q "\"Token\": true" "$tmp/o"'
$I operator add 00000B --kek-label ns:00000B --client-ca "$tmp/caB.crt" --nsid 000000000000000B >"$tmp/o" 2>"$tmp/err"
check "operator add B (client CA, NSID)" '[ $? -eq 0 ] && grep -q "\"ClientCA\": true" "$tmp/o" && grep -q 000000000000000B "$tmp/o"'
$I operator add 00000C --kek-label ns:00000C --token-out "$nsd/c.tok" >/dev/null 2>"$tmp/err" &&
    $I operator add 00000D --kek-label ns:00000D --token-out "$nsd/d.tok" >/dev/null 2>>"$tmp/err" &&
    $I operator add 00000E --kek-label ns:00000E --token-out "$nsd/e.tok" >/dev/null 2>>"$tmp/err" &&
    $I operator add 00000F --reach hub --name "via the hub" >/dev/null 2>>"$tmp/err"
check "operator add C, D, E (tokens) and F (reached through the hub)" '[ $? -eq 0 ]'
$I operator add 000010 --kek-label no-such-kek --token-out "$nsd/x.tok" >/dev/null 2>"$tmp/err"
check "an unknown KEK is refused; no token file is left" '[ $? -eq 1 ] && grep -q "no-such-kek" "$tmp/err" && [ ! -e "$nsd/x.tok" ]'
$I operator add 00000A --kek-label ns:00000A --token-out "$nsd/x.tok" >/dev/null 2>"$tmp/err"
check "a second add of A is refused, A's token unchanged" '[ $? -eq 1 ] && grep -q "onboarded already" "$tmp/err" && [ ! -e "$nsd/x.tok" ]'
$I operator add 000011 --kek-label ns:00000A >/dev/null 2>"$tmp/err"
check "a direct operator without a credential is refused (exit 2)" '[ $? -eq 2 ]'
echo "not a certificate" >"$tmp/junk.pem"
$I operator add 000012 --kek-label ns:00000A --client-ca "$tmp/junk.pem" >/dev/null 2>"$tmp/err"
check "a client CA file without a certificate is refused" '[ $? -ne 0 ] && grep -q "no PEM certificate" "$tmp/err"'
$I operator list >"$tmp/o" 2>"$tmp/err"
check "operator list: 6 operators" '[ $? -eq 0 ] && [ $(grep -c "\"NetID\"" "$tmp/o") -eq 6 ]'

$I idm import "$tmp/hsa1/batch.jsonl" >"$tmp/o" 2>"$tmp/err"
check "batch 1 imported: every onboarded operator may activate it" '[ $? -eq 0 ] && grep -q "\"operators\": \"\*\"" "$tmp/o"'
$I idm import "$tmp/hsa2/batch.jsonl" --operators 00000a,00000B,00000C,00000D >"$tmp/o" 2>"$tmp/err"
check "batch 2 imported with --operators A,B,C,D (its maker excludes E)" \
    '[ $? -eq 0 ] && grep -q "\"operators\": \"00000A,00000B,00000C,00000D\"" "$tmp/o"'
$I idm import "$tmp/hsa2/batch.jsonl" >"$tmp/o" 2>"$tmp/err"
check "re-importing batch 2 with other operators is refused" '[ $? -eq 1 ] && grep -q "operators" "$tmp/err"'
$I idm import "$tmp/hsa2/batch.jsonl" --operators 00000A,zz >"$tmp/o" 2>"$tmp/err"
check "a malformed --operators list is refused (exit 2)" '[ $? -eq 2 ]'

# ---- the bootstrap Join Server
$I serve >"$tmp/js.log" 2>&1 &
js_pid=$!
wait_http "$JS/metrics" $js_pid
check "serve (HTTPS) starts with the operators" 'curl -s --cacert "$tmp/tls.crt" -o /dev/null "$JS/metrics"'
"$FERRY" se serve --image "$tmp/hsa2/se-$SE2.img" --socket "$tmp/se2.sock" 2>"$tmp/se2.log" &
se2_pid=$!; pids="$pids $se2_pid"
"$FERRY" se serve --image "$tmp/hsa1/se-$SE1.img" --socket "$tmp/se1.sock" 2>"$tmp/se1.log" &
se1_pid=$!; pids="$pids $se1_pid"
"$FERRY" se serve --image "$tmp/hsa1/se-$SE3.img" --socket "$tmp/se3.sock" 2>"$tmp/se3.log" &
se3_pid=$!; pids="$pids $se3_pid"
wait_sock "$tmp/se1.sock" $se1_pid && wait_sock "$tmp/se2.sock" $se2_pid && wait_sock "$tmp/se3.sock" $se3_pid
check "SE emulators 1, 2 and 3 up (ferry se serve)" '[ $? -eq 0 ]'

# op SOCK NETID AUTH OWN_KEK OTHER... -> $tmp/o
op() { s=$1; shift; SOCK="$s" node "$OPNS" join "$JS/" "$@" >"$tmp/o" 2>"$tmp/err"; }
res() { jget result <"$tmp/o"; }
refused() { [ "$(res)" = "$1" ] && [ "$(jget keys <"$tmp/o")" = false ]; }

op "$tmp/se2.sock" 00000A "token:$nsd/a.tok" "$KA" "$KB" "$KC"
check "SE2 activates on A: NwkSKey under ns:00000A, unwraps under A's KEK only, the SE's uplink verifies" \
    '[ "$(res)" = Success ] && [ "$(jget kekLabel <"$tmp/o")" = ns:00000A ] && [ "$(jget own <"$tmp/o")" = true ] && [ "$(jget others <"$tmp/o")" = "false,false" ] && [ "$(jget micOk <"$tmp/o")" = true ]'
BI=1.1 NSID=000000000000000B op "$tmp/se2.sock" 00000B "cert:$tmp/b.crt:$tmp/b.key" "$KB" "$KA" "$KC"
check "SE2 activates on B (client certificate, BI 1.1 with its NSID): under B's KEK only" \
    '[ "$(res)" = Success ] && [ "$(jget kekLabel <"$tmp/o")" = ns:00000B ] && [ "$(jget own <"$tmp/o")" = true ] && [ "$(jget others <"$tmp/o")" = "false,false" ] && [ "$(jget micOk <"$tmp/o")" = true ]'
op "$tmp/se2.sock" 00000C "token:$nsd/c.tok" "$KC" "$KA" "$KB"
check "SE2 activates on C: under C's KEK only" \
    '[ "$(res)" = Success ] && [ "$(jget own <"$tmp/o")" = true ] && [ "$(jget others <"$tmp/o")" = "false,false" ] && [ "$(jget micOk <"$tmp/o")" = true ]'
BI=1.1 NSID=0000000000000042 op "$tmp/se2.sock" 00000B "cert:$tmp/b.crt:$tmp/b.key" "$KB"
check "B with another NSID is not B: UnknownSender" 'refused UnknownSender'
op "$tmp/se2.sock" 00000A "cert:$tmp/b.crt:$tmp/b.key" "$KA"
check "B's certificate as A: UnknownSender" 'refused UnknownSender'
op "$tmp/se2.sock" 0000EE "token:$nsd/a.tok" "$KA"
check "a NetID that is not onboarded: UnknownSender" 'refused UnknownSender'
op "$tmp/se2.sock" 00000F none "$KA"
check "the hub operator talking directly, without a credential: UnknownSender" 'refused UnknownSender'
$I operator suspend 00000D >"$tmp/o2" 2>"$tmp/err"
check "operator suspend D (serve keeps running)" '[ $? -eq 0 ] && grep -q "\"State\": \"suspended\"" "$tmp/o2"'
op "$tmp/se2.sock" 00000D "token:$nsd/d.tok" "$KD"
check "SE2 is refused on the suspended D: ActivationDisallowed, no keys" 'refused ActivationDisallowed'
op "$tmp/se2.sock" 00000E "token:$nsd/e.tok" "$KE"
check "SE2 is refused on E, which its maker excluded: ActivationDisallowed, no keys" 'refused ActivationDisallowed'
op "$tmp/se3.sock" 00000E "token:$nsd/e.tok" "$KE" "$KA"
check "... while E activates SE3 (a batch that admits every operator), under E's KEK only" \
    '[ "$(res)" = Success ] && [ "$(jget own <"$tmp/o")" = true ] && [ "$(jget others <"$tmp/o")" = false ] && [ "$(jget micOk <"$tmp/o")" = true ]'

hns() { SOCK= node "$OPNS" homens "$JS/" "$@" >"$tmp/o" 2>"$tmp/err"; }
hns 00000D "token:$nsd/d.tok" $SE2
check "HomeNSReq from the suspended D: NoRoamingAgreement" '[ "$(res)" = NoRoamingAgreement ] && [ -z "$(jget HNetID <"$tmp/o")" ]'
$I operator resume 00000D >/dev/null 2>"$tmp/err"
op "$tmp/se2.sock" 00000D "token:$nsd/d.tok" "$KD" "$KA"
check "D resumed: SE2 activates on D, under D's KEK only" \
    '[ "$(res)" = Success ] && [ "$(jget own <"$tmp/o")" = true ] && [ "$(jget others <"$tmp/o")" = false ] && [ "$(jget micOk <"$tmp/o")" = true ]'
hns 00000A "token:$nsd/a.tok" $SE2
check "HomeNSReq for a bootstrap SE: the bootstrap network (000000)" '[ "$(res)" = Success ] && [ "$(jget HNetID <"$tmp/o")" = 000000 ]'
hns 00000E "token:$nsd/e.tok" $SE2
check "HomeNSReq from E for an SE its maker excluded it from: NoRoamingAgreement" '[ "$(res)" = NoRoamingAgreement ]'

# ---- SE1 moves to its customer: claim, assign, profile over the air, customer join
{
    "$FERRY" init "$cust" --join-eui 70B3D57ED00A0000 --listen "127.0.0.1:$P_C" &&
    echo "$CKEK" | $C kek import cust-kek && echo "$CNSKEK" | $C kek import cust-ns &&
    $C peer add 000013 --token-out "$nsd/cust-ns.tok" &&
    $I idm init --ns-token-out "$nsd/idm-ns.tok" --listen "127.0.0.1:$P_IDM" &&
    sed -i 's/^retry_base = .*/retry_base = 0/; s/^poll = .*/poll = 1/' "$idm/idm.conf" &&
    $I idm tenant add cust --kind customer --token-out "$tmp/cust.tok" &&
    $I idm js add cust-js --tenant cust --url "http://127.0.0.1:$P_C" --admin-token-file "$cust/admin.token" \
        --join-eui 70B3D57ED00A0000 --net-id 000013 --kek-label cust-kek --ns-kek-label cust-ns --allowed-net-ids 00000a &&
    $I idm claim $SE1 --owner-token "$(otok $SE1 "$tmp/hsa1/batch.jsonl")" --tenant cust &&
    $I idm assign $SE1
} >"$tmp/setup2.log" 2>"$tmp/err"
check "customer JS (allows only A besides its home 000013), tenant, claim, assign" '[ $? -eq 0 ]'
$C serve >"$tmp/cust.log" 2>&1 &
c_pid=$!; pids="$pids $c_pid"
$I idm serve >"$tmp/idm.log" 2>&1 &
i_pid=$!; pids="$pids $i_pid"
wait_http "http://127.0.0.1:$P_C/metrics" $c_pid
check "the customer Join Server answers /metrics" '[ $? -eq 0 ]'
wait_http "http://127.0.0.1:$P_IDM/healthz" $i_pid
check "idm serve answers /healthz" '[ $? -eq 0 ]'
ns() { SOCK="$1" node "$IDMNS" "$2" "$3" "${4:-}" "${5:-}" "${6:-}" "${7:-}" "${8:-}"; }
# idm serve's housekeeping (every `poll` s) queues the profile once the
# bootstrap join was served: the pump's rounds then only count deliveries
ns "$tmp/se1.sock" join "$nsd/se1.json" "$JS/" "$nsd/boot.tok" "$NSKEK" 000000 >"$tmp/o" 2>"$tmp/err" &&
    idm_wait "idm show $SE1: State profile_pending" '$I idm show $SE1 2>/dev/null | grep -q "\"State\": \"profile_pending\""' &&
    ns "$tmp/se1.sock" pump "$nsd/se1.json" "http://127.0.0.1:$P_IDM" "$nsd/idm-ns.tok" 80 switched >"$tmp/o" 2>>"$tmp/err"
check "SE1: bootstrap join on the home network, profile over the air, the SE switches" '[ $? -eq 0 ] && grep -q "\"switched\":true" "$tmp/o"'
ns "$tmp/se1.sock" join "$nsd/se1c.json" "http://127.0.0.1:$P_C/" "$nsd/cust-ns.tok" "$CNSKEK" 000013 >"$tmp/o" 2>"$tmp/err"
idm_wait "idm show $SE1: State active_at_customer" '$I idm show $SE1 2>/dev/null | grep -q "\"State\": \"active_at_customer\""'
check "SE1 joins its customer's JS: active at customer" '$I idm show $SE1 | grep -q "\"State\": \"active_at_customer\""'
$C device show $SE1 >"$tmp/o" 2>"$tmp/err"
check "the customer JS holds SE1 with AllowedNetIDs [00000A] (the customer's restriction)" \
    '[ $? -eq 0 ] && [ "$(jget AllowedNetIDs <"$tmp/o")" = 00000A ]'
hns 00000A "token:$nsd/a.tok" $SE1
check "HomeNSReq for the moved SE1 from A: the customer's NetID 000013" '[ "$(res)" = Success ] && [ "$(jget HNetID <"$tmp/o")" = 000013 ]'
hns 00000C "token:$nsd/c.tok" $SE1
check "... from C, which the customer does not allow: NoRoamingAgreement" '[ "$(res)" = NoRoamingAgreement ]'
hns 00000C "token:$nsd/c.tok" $SE2
check "... while SE2, still at bootstrap, answers C with 000000" '[ "$(res)" = Success ] && [ "$(jget HNetID <"$tmp/o")" = 000000 ]'

# ---- counters: /metrics (this process) and operator show (the database:
# flushed every second by serve, and at once by POST /api/v1/metrics/flush)
curl -s --cacert "$tmp/tls.crt" "$JS/metrics" >"$tmp/metrics" 2>"$tmp/err"
check "/metrics: activations per operator" \
    'grep -q "^ferry_js_operator_activations_total{operator=\"00000A\"} 1$" "$tmp/metrics" && grep -q "^ferry_js_operator_activations_total{operator=\"00000D\"} 1$" "$tmp/metrics" && grep -q "^ferry_js_operator_activations_total{operator=\"00000E\"} 1$" "$tmp/metrics"'
check "/metrics: refusals by reason" \
    'grep -q "^ferry_js_operator_refusals_total{operator=\"00000D\",request=\"join\",reason=\"ActivationDisallowed\"} 1$" "$tmp/metrics" && grep -q "^ferry_js_operator_refusals_total{operator=\"00000E\",request=\"join\",reason=\"ActivationDisallowed\"} 1$" "$tmp/metrics" && grep -q "^ferry_js_operator_refusals_total{operator=\"00000B\",request=\"join\",reason=\"UnknownSender\"} 1$" "$tmp/metrics" && grep -q "^ferry_js_operator_refusals_total{operator=\"00000C\",request=\"home_ns\",reason=\"NoRoamingAgreement\"} 1$" "$tmp/metrics"'
check "/metrics: no label for a NetID that is not onboarded" '! grep -q "operator=\"0000EE\"" "$tmp/metrics"'
code=$(curl -s --cacert "$tmp/tls.crt" -o "$tmp/body" -w '%{http_code}' -X POST \
    -H "Authorization: Bearer $(cat "$idm/admin.token")" "$JS/api/v1/metrics/flush")
check "POST /api/v1/metrics/flush (admin token): 200, the counters written to the database" '[ "$code" = 200 ]'
$I operator show 00000E >"$tmp/o" 2>"$tmp/err"
check "operator show E: 1 activation, 1 ActivationDisallowed, 1 NoRoamingAgreement (flushed while serving)" \
    '[ "$(jget Activations <"$tmp/o")" = 1 ] && [ "$(jget Refusals.ActivationDisallowed <"$tmp/o")" = 1 ] && [ "$(jget Refusals.NoRoamingAgreement <"$tmp/o")" = 1 ]'
$I operator show 00000A >"$tmp/o" 2>"$tmp/err"
check "operator show A: 1 activation, 2 HomeNS answers, UnknownSender counted" \
    '[ "$(jget Activations <"$tmp/o")" = 1 ] && [ "$(jget HomeNSAnswers <"$tmp/o")" = 2 ] && [ "$(jget Refusals.UnknownSender <"$tmp/o")" = 1 ]'

# ---- the REST admin API
ADM=$(cat "$idm/admin.token")
T42=$(hex16)$(hex16); H42=$(printf %s "$T42" | sha256sum | cut -d' ' -f1)
api() { curl -s --cacert "$tmp/tls.crt" -o "$tmp/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $ADM" ${3:+--data-binary "$3"} "$JS/api/v1/operators$2"; }
check "REST: POST an operator (token as its SHA-256): 201" \
    '[ "$(api POST "" "{\"NetID\":\"000042\",\"Name\":\"Net 42\",\"KEKLabel\":\"ns:00000A\",\"TokenSHA256\":\"$H42\"}")" = 201 ] && ! grep -qi "$H42" "$tmp/body"'
check "REST: the same NetID again: 409" '[ "$(api POST "" "{\"NetID\":\"000042\",\"KEKLabel\":\"ns:00000A\",\"TokenSHA256\":\"$H42\"}")" = 409 ]'
check "REST: a misspelt field: 400" '[ "$(api POST "" "{\"NetID\":\"000043\",\"KEKLabel\":\"ns:00000A\",\"Token\":\"x\"}")" = 400 ]'
printf %s "$T42" >"$nsd/42.tok"
op "$tmp/se3.sock" 000042 "token:$nsd/42.tok" "$KA" "$KB"
check "the operator onboarded through the API activates SE3 at once, under its KEK (ns:00000A)" \
    '[ "$(res)" = Success ] && [ "$(jget own <"$tmp/o")" = true ] && [ "$(jget others <"$tmp/o")" = false ] && [ "$(jget micOk <"$tmp/o")" = true ]'
op "$tmp/se2.sock" 000042 "token:$nsd/42.tok" "$KA"
check "... but not SE2, whose maker's list does not name it" 'refused ActivationDisallowed'
check "REST: suspend it: 200 suspended" '[ "$(api POST /000042/suspend)" = 200 ] && grep -q "\"State\":\"suspended\"" "$tmp/body"'
check "REST: GET it with its counters" '[ "$(api GET /000042)" = 200 ] && grep -q "\"Activations\"" "$tmp/body"'
check "REST: list" '[ "$(api GET "")" = 200 ] && [ $(grep -o "\"NetID\"" "$tmp/body" | wc -l) -eq 7 ]'
check "REST: DELETE it: 200, then 404" '[ "$(api DELETE /000042)" = 200 ] && [ "$(api GET /000042)" = 404 ]'
check "REST without the admin token: 401" '[ "$(curl -s --cacert "$tmp/tls.crt" -o /dev/null -w "%{http_code}" "$JS/api/v1/operators")" = 401 ]'
$I operator remove 00000C >"$tmp/o" 2>"$tmp/err"
op "$tmp/se2.sock" 00000C "token:$nsd/c.tok" "$KC"
check "operator remove C: C is an unknown sender at once" 'refused UnknownSender'

for p in $pids; do kill "$p" 2>/dev/null; done
for p in $pids; do wait "$p" 2>/dev/null; done
pids=""
kill "$js_pid" 2>/dev/null; wait "$js_pid"; rc=$?; js_pid=""
check "serve stops cleanly (final counter flush)" '[ $rc -eq 0 ]'
$I idm audit verify >"$tmp/o" 2>"$tmp/err"
check "audit chain verifies, with the operator changes in it" \
    '[ $? -eq 0 ] && grep -q "\"ok\": true" "$tmp/o" && [ "$(sqlite3 "$idm/ferry.db" "SELECT count(*) FROM idm_audit WHERE action LIKE '"'"'operator.%'"'"'" 2>/dev/null || echo 11)" -ge 11 ]'

# ---- no KEK, no token in clear in the deployments or the logs
scan="$idm $cust $tmp/js.log $tmp/idm.log $tmp/cust.log $tmp/setup.log $tmp/setup2.log"
hit=""
for k in $HSAKEK $NSKEK $CKEK $CNSKEK $KA $KB $KC $KD $KE $(cat "$nsd/a.tok") $(cat "$nsd/e.tok") $T42; do
    lk=$(echo "$k" | tr 'A-F' 'a-f'); uk=$(echo "$k" | tr 'a-f' 'A-F')
    f=$(grep -rlaF -e "$lk" -e "$uk" $scan 2>/dev/null | head -1)
    [ -n "$f" ] && hit="$hit $f"
done
check "no KEK and no operator token in clear in any file or log" '[ -z "$hit" ] || { echo "# found in:$hit"; false; }'

echo "1..$n"
[ "$failed" -eq 0 ]
