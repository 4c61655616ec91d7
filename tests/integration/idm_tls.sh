#!/bin/sh
# idm_tls.sh - HTTPS for `ferry idm serve`: with tls_cert and tls_key in
# idm.conf it serves HTTPS (GnuTLS in libmicrohttpd), on any IPv4 address;
# without them, plain HTTP on loopback only, and a non-loopback address is
# refused with a message naming the fix. Checked with curl against a
# self-signed certificate made by openssl (as js_mtls.sh does):
#   - GET /healthz over https with --cacert; plain http to the same port,
#     and https without trusting the certificate, fail;
#   - a tenant's REST calls (read, claim) and the NS's POST /uplink
#     authenticate over TLS;
#   - relative tls_cert/tls_key paths are taken from the deployment dir;
#     one without the other, a missing file, a file that is not PEM: refused;
#   - 0.0.0.0 is served with TLS; SIGTERM stops the server cleanly.
# Prints TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
FERRY=${FERRY:-$root/build/san/bin/ferry}
. "$here/lib/wait.sh"
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() {
    n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"
    for f in "$tmp/err" "$tmp/body"; do [ -s "$f" ] && sed 's/^/# /' "$f" | tail -8; done
}
check() { if eval "$2"; then ok "$1"; else notok "$1"; fi; }
for tool in openssl curl node; do
    command -v $tool >/dev/null 2>&1 || { echo "not ok 1 - $tool is needed (scripts/deps.sh)"; echo "1..1"; exit 1; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-idm-tls.XXXXXX") || exit 1
idm_pid=""
cleanup() {
    [ -n "$idm_pid" ] && kill "$idm_pid" 2>/dev/null && wait "$idm_pid" 2>/dev/null
    release_ports
    [ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
watch_log "$tmp/idm.log"

hex16() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n' | tr 'a-f' 'A-F'; }
# serve_until_up URL [ARGS...]: starts idm serve, waits until URL answers
# (trusting the test's certificate), its pid watched
serve_until_up() {
    url=$1; shift
    $I idm serve "$@" >>"$tmp/idm.log" 2>&1 &
    idm_pid=$!
    wait_pid=$idm_pid
    wait_until "idm serve answering $url" - 'curl -s -o /dev/null --max-time 5 --cacert "$tmp/tls.crt" "$url"'
    w_rc=$?
    wait_pid=""
    return $w_rc
}
stop() { kill "$idm_pid" 2>/dev/null; wait "$idm_pid" 2>/dev/null; rc=$?; idm_pid=""; return $rc; }

idm="$tmp/idm"; out="$tmp/hsa"
P=$(port); P2=$(port)
I="$FERRY -d $idm"
HSAKEK=$(hex16)
{
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/tls.key" -out "$tmp/tls.crt" -days 2 \
        -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" &&
    "$FERRY" init "$idm" --join-eui 70B3D57ED0000000 --listen "127.0.0.1:$(port)" &&
    echo "$HSAKEK" | $I kek import hsa-idm &&
    echo "$HSAKEK" | "$FERRY" hsa personalise --count 1 --out "$out" --kek-label hsa-idm --mac-version 1.0.4 \
        --dev-eui-base 70B3D57ED0070000 && $I idm import "$out/batch.jsonl" &&
    $I idm init --ns-token-out "$tmp/ns.tok" --listen "127.0.0.1:$P" &&
    $I idm tenant add acme --kind customer --token-out "$tmp/acme.tok"
} >"$tmp/setup.log" 2>"$tmp/err"
check "certificate (openssl), IDM deployment with one SE, idm init, tenant acme" '[ $? -eq 0 ]'
SE=70B3D57ED0070000
T=$(sed -n "s/.*\"DevEUI\":\"$SE\".*:O\([0-9A-F]\{32\}\)\".*/\1/p" "$out/batch.jsonl")
check "idm.conf has tls_cert and tls_key commented out" \
    'grep -q "^# tls_cert = " "$idm/idm.conf" && grep -q "^# tls_key = " "$idm/idm.conf"'

# ---- without TLS: loopback only
$I idm serve --listen "0.0.0.0:$P2" >"$tmp/o" 2>"$tmp/err"
check "without TLS, a non-loopback listen address is refused, naming the fix" \
    '[ $? -eq 1 ] && grep -q "0.0.0.0:$P2\" is not loopback" "$tmp/err" && grep -q "set tls_cert and tls_key in idm.conf" "$tmp/err"'
$I idm serve --listen "localhost:$P2" >"$tmp/o" 2>"$tmp/err"
check "a listen address that is not a numeric IP address is refused" \
    '[ $? -eq 1 ] && grep -q "numeric IPv4 or IPv6 address" "$tmp/err"'

# ---- configuration errors
cp "$idm/idm.conf" "$tmp/idm.conf.plain"
printf 'tls_cert = tls.crt\n' >>"$idm/idm.conf"
$I idm serve >"$tmp/o" 2>"$tmp/err"
check "tls_cert without tls_key is refused" '[ $? -eq 1 ] && grep -q "tls_cert and tls_key go together" "$tmp/err"'
printf 'tls_key = tls.key\n' >>"$idm/idm.conf"
$I idm serve >"$tmp/o" 2>"$tmp/err"
check "a tls_cert that is not there is refused, naming the file" \
    '[ $? -eq 1 ] && grep -q "tls_cert $idm/tls.crt: cannot be read" "$tmp/err"'
echo "not a certificate" >"$idm/tls.crt"; cp "$tmp/tls.key" "$idm/tls.key"
$I idm serve >"$tmp/o" 2>"$tmp/err"
check "a tls_cert that is not PEM: idm serve does not start, naming the file" '[ $? -eq 1 ] && grep -q "tls_cert $idm/tls.crt: No certificate was found" "$tmp/err"'

# ---- HTTPS, with paths relative to the deployment directory
cp "$tmp/tls.crt" "$idm/tls.crt"; chmod 600 "$idm/tls.key"
if serve_until_up "https://127.0.0.1:$P/healthz"; then ok "idm serve with tls_cert = tls.crt, tls_key = tls.key (relative) starts"; else
    notok "idm serve with TLS starts"; sed 's/^/# /' "$tmp/idm.log" | tail -5; echo "1..$n"; exit 1; fi
code=$(curl -s -o "$tmp/body" -w '%{http_code}' --cacert "$tmp/tls.crt" "https://127.0.0.1:$P/healthz")
check "GET /healthz over https (--cacert): 200 {\"ok\":true}" '[ "$code" = 200 ] && grep -q "\"ok\":true" "$tmp/body"'
code=$(curl -s -o "$tmp/body" -w '%{http_code}' --max-time "$(scaled 5)" "http://127.0.0.1:$P/healthz")
check "plain http to the same port fails (got $code)" '[ "$code" != 200 ]'
code=$(curl -s -o "$tmp/body" -w '%{http_code}' --max-time "$(scaled 5)" "https://127.0.0.1:$P/healthz")
check "https without trusting the certificate fails (got $code)" '[ "$code" = 000 ]'
# the line is written once the daemon runs: it may follow the first answer
wait_until "idm.log: listening, scheme https" - 'grep -q "\"msg\":\"listening\".*\"scheme\":\"https\"" "$tmp/idm.log"'
check "the log says https" '[ $? -eq 0 ]'

API="https://127.0.0.1:$P/api/v1"
req() { # METHOD PATH TOKENFILE [BODY] -> status on stdout, body in $tmp/body
    if [ -n "${4:-}" ]; then
        curl -s --cacert "$tmp/tls.crt" -o "$tmp/body" -w '%{http_code}' -X "$1" \
            -H "Authorization: Bearer $(cat "$3")" --data-binary "$4" "$API$2"
    else
        curl -s --cacert "$tmp/tls.crt" -o "$tmp/body" -w '%{http_code}' -X "$1" \
            -H "Authorization: Bearer $(cat "$3")" "$API$2"
    fi
}
echo nope >"$tmp/nobody.tok"
check "REST over TLS without a valid token: 401" '[ "$(req GET /ses/$SE "$tmp/nobody.tok")" = 401 ]'
check "REST over TLS: acme claims its SE" \
    '[ "$(req POST /claims "$tmp/acme.tok" "{\"DevEUI\":\"$SE\",\"OwnerToken\":\"$T\"}")" = 200 ] && grep -q "\"Claim\":\"claimed\"" "$tmp/body"'
check "REST over TLS: a bulk claim answers per SE" \
    '[ "$(req POST /claims "$tmp/acme.tok" "{\"Claims\":[{\"DevEUI\":\"$SE\",\"OwnerToken\":\"$T\"}]}")" = 200 ] && grep -q "\"Already\":true" "$tmp/body"'
check "REST over TLS: acme reads the SE" \
    '[ "$(req GET /ses/$SE "$tmp/acme.tok")" = 200 ] && grep -q "\"Tenant\":\"acme\"" "$tmp/body"'
code=$(curl -s --cacert "$tmp/tls.crt" -o "$tmp/body" -w '%{http_code}' -H "Authorization: Bearer $(cat "$tmp/ns.tok")" \
    --data-binary '{}' "https://127.0.0.1:$P/uplink")
check "POST /uplink over TLS: the NS token authenticates (400 for an empty uplink, not 401)" \
    '[ "$code" = 400 ] && grep -q "DevEUI" "$tmp/body"'
stop
check "SIGTERM stops the HTTPS server cleanly" '[ $? -eq 0 ]'

# ---- with TLS, any IPv4 address
if serve_until_up "https://127.0.0.1:$P2/healthz" --listen "0.0.0.0:$P2"; then
    ok "with TLS, idm serve listens on 0.0.0.0:$P2"; else notok "with TLS, idm serve listens on 0.0.0.0"; fi
code=$(curl -s -o "$tmp/body" -w '%{http_code}' --cacert "$tmp/tls.crt" "https://127.0.0.1:$P2/healthz")
check "... and answers over https" '[ "$code" = 200 ]'
stop

cp "$tmp/idm.conf.plain" "$idm/idm.conf"
if serve_until_up "http://127.0.0.1:$P/healthz"; then ok "without TLS again: plain HTTP on loopback"; else
    notok "plain HTTP on loopback"; fi
stop

grep -qF "$T" "$tmp/idm.log" || grep -qF "$(cat "$tmp/acme.tok")" "$tmp/idm.log"
check "no owner token and no bearer token in the log" '[ $? -ne 0 ]'

echo "1..$n"
[ "$failed" -eq 0 ]
