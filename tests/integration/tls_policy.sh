#!/bin/sh
# tls_policy.sh - issue 21's proof: transport security an operator's audit
# accepts, on every ferry server that speaks TLS (docs/net.md, "TLS policy",
# "Reloading", "Revocation"). Real processes on loopback, certificates made
# by openssl (a server CA; a client CA with an `openssl ca` database, so that
# certificates are revoked and CRLs issued as an operator does):
#   1. the policy: the Join Server (`ferry serve`), the hub (`ferry hub`) and
#      `ferry idm serve`, each with an RSA certificate, are probed with
#      `openssl s_client`: TLS 1.0, 1.1, static RSA (CBC and GCM), CBC-SHA1
#      and CBC-SHA256 with ECDHE refused; TLS 1.2 ECDHE-RSA with AES-GCM or
#      ChaCha20-Poly1305, and TLS 1.3, accepted; curl --tlsv1.2 works. Every
#      refused probe completes against `openssl s_server` offering
#      everything (the refusal is the server's, not the client's). 3DES,
#      which this machine's OpenSSL cannot offer any more, is offered by a
#      raw ClientHello (tls_policy.py). A tls_priority below the floor
#      (NORMAL) stops the Join Server from starting, naming what is below;
#      with tls_priority_below_floor = yes it starts and says so.
#   2. revocation while the Join Server runs: peer 000013 by client
#      certificate (its CA's CRL as peer.000013.client_crl), peer 000014 by
#      bearer token, whose HomeNSReq are sent without pause by a loop; A's
#      certificate is revoked (`openssl ca -revoke`, a new CRL over the same
#      file) and the server gets SIGHUP: A is refused afterwards (counted
#      and logged as revoked), the pid is the same, and B's loop saw no
#      failure. With tls_crl_required = yes, a client CA without a CRL and a
#      CRL past its nextUpdate are start-up errors naming them.
#   3. rotation under load: a loop of HTTPS requests to the Join Server;
#      tls_cert/tls_key replaced by a new certificate (same CA, new serial)
#      and SIGHUP: 0 failed requests, the new serial served; a corrupt key
#      and SIGHUP: the previous certificate still served, the log names the
#      key file, same pid. The same through POST /api/v1/tls/reload (200,
#      then 409 naming the file). The hub and idm serve rotate on SIGHUP.
# Prints TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib/common.sh"
for tool in openssl curl python3; do
    command -v $tool >/dev/null 2>&1 || { echo "not ok 1 - $tool is needed (scripts/deps.sh)"; echo "1..1"; exit 1; }
done
make_tmp tls-policy
RAW="python3 $here/tls_policy.py"
JOINEUI=70B3D57ED0000000
DEV=0004A30B001C0002
cd "$tmp" || exit 1

bail() { notok "$1"; echo "1..$n"; exit 1; }
q() { "$@" >>"$tmp/openssl.log" 2>&1; }

# ---- certificates
# the servers' CA and its certificates, each with its own serial
q openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj "/CN=ferry test server CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" ||
    bail "openssl: the server CA"
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n' >srv.ext
server_cert() {  # server_cert NAME SERIAL: NAME.crt (RSA, by ca.crt), NAME.key
    q openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=127.0.0.1" &&
        q openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -set_serial "0x$2" -out "$1.crt" -days 2 \
            -extfile srv.ext && chmod 600 "$1.key"
}
for c in "js1 1001" "js2 1002" "js3 1003" "hub1 2001" "hub2 2002" "idm1 3001" "idm2 3002"; do
    set -- $c
    server_cert "$1" "$2" || bail "openssl: server certificate $1"
done
# peer A's client CA, run as an operator runs one: an `openssl ca` database
mkdir caA && : >caA/index.txt && echo 1000 >caA/serial && echo 01 >caA/crlnumber
q openssl req -x509 -newkey rsa:2048 -nodes -keyout caA.key -out caA.crt -days 2 -subj "/CN=peer A client CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" ||
    bail "openssl: peer A's CA"
cat >caA.cnf <<EOF
[ca]
default_ca = caA
[caA]
database = $tmp/caA/index.txt
new_certs_dir = $tmp/caA
serial = $tmp/caA/serial
crlnumber = $tmp/caA/crlnumber
certificate = $tmp/caA.crt
private_key = $tmp/caA.key
default_md = sha256
default_days = 2
default_crl_days = 1
unique_subject = no
policy = any
x509_extensions = client
crl_extensions = crl
[any]
commonName = supplied
[client]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
[crl]
authorityKeyIdentifier = keyid:always
EOF
ca_a() { q openssl ca -batch -config caA.cnf "$@"; }
{ q openssl req -newkey rsa:2048 -nodes -keyout a.key -out a.csr -subj "/CN=000013" &&
    ca_a -in a.csr -out a.crt -notext && ca_a -gencrl -out caA.crl; } || bail "openssl ca: peer A's certificate and CRL"
# a CRL whose nextUpdate is one second after its issue: past it by the time
# the Join Server reads it (waited for below)
ca_a -gencrl -crlsec 1 -out caA-expired.crl || bail "openssl ca: a CRL valid for one second"
expired_at=$(($(date +%s) + 2))
ok "certificates: a server CA and 7 server certificates, peer A's CA (openssl ca) with a certificate and a CRL"

# ---- probes
# handshake PORT S_CLIENT_ARGS...: 0 when openssl s_client completed a
# handshake; what it said in $tmp/sc.txt
handshake() {
    h_port=$1; shift
    timeout "$(scaled 10)" openssl s_client -connect "127.0.0.1:$h_port" -CAfile "$tmp/ca.crt" "$@" \
        </dev/null >"$tmp/sc.txt" 2>&1
}
served_serial() {  # served_serial PORT -> "serial=..." of the certificate the server sends now
    timeout "$(scaled 10)" openssl s_client -connect "127.0.0.1:$1" -showcerts </dev/null 2>/dev/null |
        openssl x509 -noout -serial 2>/dev/null
}
# what must be refused, one line each: NAME|s_client arguments
cat >refused.txt <<'EOF'
TLS 1.0|-tls1 -cipher DEFAULT@SECLEVEL=0
TLS 1.1|-tls1_1 -cipher DEFAULT@SECLEVEL=0
TLS 1.2 static RSA AES128-SHA|-tls1_2 -cipher AES128-SHA
TLS 1.2 static RSA AES128-GCM-SHA256|-tls1_2 -cipher AES128-GCM-SHA256
TLS 1.2 static RSA AES256-GCM-SHA384|-tls1_2 -cipher AES256-GCM-SHA384
TLS 1.2 CBC-SHA1 ECDHE-RSA-AES128-SHA|-tls1_2 -cipher ECDHE-RSA-AES128-SHA
TLS 1.2 CBC ECDHE-RSA-AES128-SHA256|-tls1_2 -cipher ECDHE-RSA-AES128-SHA256
EOF
# what must be accepted: NAME|what s_client must say|arguments
cat >accepted.txt <<'EOF'
TLS 1.2 ECDHE-RSA-AES128-GCM-SHA256|TLSv1.2, Cipher is ECDHE-RSA-AES128-GCM-SHA256|-tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256
TLS 1.2 ECDHE-RSA-AES256-GCM-SHA384|TLSv1.2, Cipher is ECDHE-RSA-AES256-GCM-SHA384|-tls1_2 -cipher ECDHE-RSA-AES256-GCM-SHA384
TLS 1.2 ECDHE-RSA-CHACHA20-POLY1305|TLSv1.2, Cipher is ECDHE-RSA-CHACHA20-POLY1305|-tls1_2 -cipher ECDHE-RSA-CHACHA20-POLY1305
TLS 1.3|TLSv1.3, Cipher is TLS_|-tls1_3
EOF

# the control: openssl s_server offering everything this OpenSSL has; each
# refused probe must complete a handshake with it
cport=$(port) || bail "a port for openssl s_server"
openssl s_server -accept "$cport" -cert js1.crt -key js1.key -cipher 'ALL:@SECLEVEL=0' -www -quiet \
    >"$tmp/s_server.log" 2>&1 &
ctl=$!
pids="$pids $ctl"
wait_until "openssl s_server on $cport" 20 'handshake $cport -tls1_3' || bail "openssl s_server starts"
: >"$tmp/err"
while IFS='|' read -r name args; do
    handshake "$cport" $args || { echo "$name: $(tail -3 "$tmp/sc.txt")" >>"$tmp/err"; }
done <refused.txt
check "control: openssl s_server (ALL@SECLEVEL=0) completes every probe that ferry must refuse" '[ ! -s "$tmp/err" ]'
kill "$ctl"; wait "$ctl" 2>/dev/null

# policy SERVICE PORT: the whole policy probed on one server
policy() {
    p_svc=$1; p_port=$2
    while IFS='|' read -r name args; do
        if handshake "$p_port" $args; then
            grep -E 'Protocol|Cipher is' "$tmp/sc.txt" >"$tmp/err"
            notok "$p_svc: $name refused"
        else
            ok "$p_svc: $name refused"
        fi
    done <refused.txt
    for suite in 000a c012; do
        $RAW "$p_port" 0303 $suite >"$tmp/err" 2>&1
        check "$p_svc: TLS 1.2 3DES (suite 0x$suite, raw ClientHello) refused: $(cat "$tmp/err")" \
            '! grep -q "^hello" "$tmp/err"'
    done
    $RAW "$p_port" 0303 c02f >"$tmp/err" 2>&1
    check "$p_svc: the same raw ClientHello with ECDHE-RSA-AES128-GCM-SHA256 gets a ServerHello" \
        'grep -q "^hello 0303 c02f" "$tmp/err"'
    while IFS='|' read -r name says args; do
        handshake "$p_port" $args
        h_rc=$?
        grep -E 'Protocol|Cipher is|alert|error' "$tmp/sc.txt" | head -5 >"$tmp/err"
        check "$p_svc: $name accepted" '[ $h_rc -eq 0 ] && grep -q "$says" "$tmp/sc.txt"'
    done <accepted.txt
    code=$(curl -s -o /dev/null -w '%{http_code}' --tlsv1.2 --tls-max 1.2 --cacert "$tmp/ca.crt" \
        "https://127.0.0.1:$p_port$3" 2>"$tmp/err")
    check "$p_svc: curl --tlsv1.2 --tls-max 1.2 --cacert: HTTP $code" '[ "$code" = 200 ]'
}

# ---- the Join Server's deployment: A by certificate (with its CRL), B by token
jsport=$(port) || bail "a port for the Join Server"
dep="$tmp/dep"
F="$FERRY -d $dep"
{
    "$FERRY" init "$dep" --join-eui $JOINEUI --listen "127.0.0.1:$jsport" &&
    $F peer add 000013 --client-ca "$tmp/caA.crt" &&
    $F peer add 000014 --token-out "$tmp/b.tok" &&
    echo 00112233445566778899aabbccddeeff | $F kek import ns:000013 &&
    printf '{"DevEUI":"%s","JoinEUI":"%s","MACVersion":"1.0.4","HomeNetID":"000013","AllowedNetIDs":["000014"],"NwkKey":{"AESKey":"000102030405060708090a0b0c0d0e0f"},"NSKEKLabel":"ns:000013"}\n' \
        $DEV $JOINEUI >dev.jsonl &&
    $F device import dev.jsonl --allow-clear-keys &&
    cp js1.crt tls.crt && cp js1.key tls.key &&
    printf 'tls_cert = %s/tls.crt\ntls_key = %s/tls.key\npeer.000013.client_crl = %s/caA.crl\n' "$tmp" "$tmp" "$tmp" \
        >>"$dep/ferry.conf"
} >"$tmp/setup.log" 2>"$tmp/err"
check "Join Server deployment: peer 000013 by client certificate and CRL, 000014 by token, one device" '[ $? -eq 0 ]'
cp "$dep/ferry.conf" "$tmp/ferry.conf.base"
ADMT=$(cat "$dep/admin.token")
BT=$(cat "$tmp/b.tok")
JS="https://127.0.0.1:$jsport"
conf() { cp "$tmp/ferry.conf.base" "$dep/ferry.conf" && printf '%s\n' "$@" >>"$dep/ferry.conf"; }

# serve_fails: ferry serve with the ferry.conf in place; its status in $s_rc, stderr in $tmp/err
serve_fails() {
    timeout "$(scaled 30)" $F serve >"$tmp/o" 2>"$tmp/err"
    s_rc=$?
}
conf "tls_priority = NORMAL"
serve_fails
check "tls_priority = NORMAL: serve refuses to start, naming what is below the floor (exit $s_rc)" \
    '[ $s_rc -ne 0 ] && [ $s_rc -ne 124 ] && grep -q "tls_priority allows .*below TLS 1.2" "$tmp/err"'
conf "tls_priority = NORMAL" "tls_priority_below_floor = yes"
$F serve 2>"$tmp/below.log" &
below=$!
pids="$pids $below"
wait_http "$JS/metrics" $below
check "tls_priority = NORMAL with tls_priority_below_floor = yes: serve starts" '[ $? -eq 0 ]'
cp "$tmp/below.log" "$tmp/err"
check "... and logs a warn line naming the priority" \
    'grep "\"level\":\"warn\"" "$tmp/below.log" | grep -q "NORMAL"'
kill "$below"; wait "$below" 2>/dev/null
cp caA.crt caB.crt
conf "tls_crl_required = yes" "peer.000014.client_ca = $tmp/caB.crt"
serve_fails
check "tls_crl_required = yes and a client CA without a CRL (peer 000014): serve refuses to start, naming it (exit $s_rc)" \
    '[ $s_rc -ne 0 ] && [ $s_rc -ne 124 ] && grep "peer 000014" "$tmp/err" | grep "caB.crt" | grep -q "no CRL"'
wait_until "the one-second CRL past its nextUpdate" 10 '[ "$(date +%s)" -ge $expired_at ]'
sed "s|caA.crl|caA-expired.crl|" "$tmp/ferry.conf.base" >"$dep/ferry.conf" && echo "tls_crl_required = yes" >>"$dep/ferry.conf"
serve_fails
check "tls_crl_required = yes and a CRL past its nextUpdate: serve refuses to start, naming the CRL (exit $s_rc)" \
    '[ $s_rc -ne 0 ] && [ $s_rc -ne 124 ] && grep "caA-expired.crl" "$tmp/err" | grep -q "out of date"'

# the Join Server for the rest: the default policy, the CRL required (and valid)
conf "tls_crl_required = yes"
$F serve 2>"$tmp/js.log" &
js=$!
pids="$pids $js"
watch_log "$tmp/js.log"
wait_http "$JS/metrics" $js || bail "the Join Server starts with TLS, a valid CRL, tls_crl_required = yes"
ok "the Join Server starts with TLS, a valid CRL, tls_crl_required = yes"

# ---- 1. the policy, three servers
policy "Join Server" "$jsport" /metrics

# ---- 2. revocation while the Join Server runs
hns() { printf '{"ProtocolVersion":"1.0","SenderID":"%s","ReceiverID":"%s","TransactionID":7,"MessageType":"HomeNSReq","DevEUI":"%s"}' "$1" $JOINEUI $DEV; }
hns 000013 >a.req
hns 000014 >b.req
ask_a() {  # -> $res: A's ResultCode, "handshake" when TLS failed
    code=$(curl -s --cacert ca.crt --cert a.crt --key a.key -o a.ans -w '%{http_code}' --data-binary @a.req "$JS/")
    if [ "$code" = 000 ]; then res=handshake; else res=$(sed -n 's/.*"ResultCode":"\([A-Za-z]*\)".*/\1/p' a.ans); fi
}
metric() { curl -s --cacert ca.crt "$JS/metrics" | sed -n "s/^$1 \([0-9]*\)\$/\1/p"; }
# loop NAME CMD...: runs CMD without pause until NAME.stop exists; one line
# a run in NAME.out: "ok", or "fail" and what CMD said
loop() {
    l_name=$1; shift
    rm -f "$tmp/$l_name.stop"; : >"$tmp/$l_name.out"
    (
        while [ ! -f "$tmp/$l_name.stop" ]; do
            if l_out=$("$@" 2>&1); then echo ok; else echo "fail $l_out" | tr '\n' ' '; echo; fi
        done >>"$tmp/$l_name.out"
    ) &
    loop_pid=$!
    pids="$pids $loop_pid"
}
runs() { grep -c . "$tmp/$1.out"; }
fails() { grep -c '^fail' "$tmp/$1.out"; }
stop_loop() { touch "$tmp/$1.stop"; wait "$loop_pid" 2>/dev/null; }
b_asks() {  # one HomeNSReq of B (token): Success, or what came back
    b_code=$(curl -s --max-time 20 --cacert "$tmp/ca.crt" -H "Authorization: Bearer $BT" -o "$tmp/b.ans" \
        -w '%{http_code}' --data-binary @"$tmp/b.req" "$JS/")
    grep -q '"ResultCode":"Success"' "$tmp/b.ans" || { echo "HTTP $b_code $(cat "$tmp/b.ans" 2>/dev/null)"; return 1; }
}
https_get() {  # one GET over a new TLS connection: HTTP 200 or what came back
    g_code=$(curl -s --max-time 20 --cacert "$tmp/ca.crt" -o /dev/null -w '%{http_code}' "$1" 2>&1)
    [ "$g_code" = 200 ] || { echo "HTTP $g_code"; return 1; }
}
reloads() { grep -c "TLS material reloaded" "$1"; }
refusals() { grep -c "TLS reload refused" "$1"; }

ask_a
check "before: A (client certificate, CN 000013, by its CA, not revoked) is answered: $res" '[ "$res" = Success ]'
b_asks >"$tmp/err"
check "before: B (bearer token) is answered: Success" '[ $? -eq 0 ]'
revoked0=$(metric 'ferry_js_client_cert_refused_total{reason="revoked"}')
check "before: ferry_js_client_cert_refused_total{reason=\"revoked\"} is 0 (got '$revoked0')" '[ "$revoked0" = 0 ]'
loop b b_asks
wait_until "B's loop answered 3 times" 60 '[ "$(runs b)" -ge 3 ]'
r0=$(reloads "$tmp/js.log")
{ ca_a -revoke a.crt && ca_a -gencrl -out caA.crl; } 2>"$tmp/err"
check "openssl ca: A's certificate revoked, a new CRL written over peer.000013.client_crl" \
    'openssl crl -in caA.crl -noout -text | grep -q "Serial Number: 1000"'
# the CRLs are read when the server loads its material, not per request: A
# is still answered until the reload
ask_a
check "the new CRL on disk, no SIGHUP yet: A is still answered ($res)" '[ "$res" = Success ]'
kill -HUP "$js"
wait_until "the Join Server's reload after SIGHUP" - '[ "$(reloads "$tmp/js.log")" -gt $r0 ]'
check "SIGHUP: the Join Server logs that its TLS material (and the peers' CRLs) was reloaded" \
    '[ "$(reloads "$tmp/js.log")" -gt $r0 ]'
ask_a
check "after: A's revoked certificate is refused: $res" '[ "$res" = UnknownSender ] || [ "$res" = handshake ]'
r_at=$(runs b)
wait_until "B's loop answered 3 more times" 60 '[ "$(runs b)" -ge $((r_at + 3)) ]'
stop_loop b
grep '^fail' "$tmp/b.out" | head -5 >"$tmp/err"
check "B's HomeNSReq loop: $(runs b) requests through the revocation and the reload, $(fails b) failed" \
    '[ "$(fails b)" -eq 0 ] && [ "$(runs b)" -ge 6 ]'
check "the Join Server did not restart (pid $js still runs)" 'kill -0 $js'
revoked1=$(metric 'ferry_js_client_cert_refused_total{reason="revoked"}')
check "ferry_js_client_cert_refused_total{reason=\"revoked\"} counts it (got '$revoked1')" \
    '[ -n "$revoked1" ] && [ "$revoked1" -ge 1 ] && [ "$revoked1" -le 10 ]'
grep "client certificate refused" "$tmp/js.log" | tail -3 >"$tmp/err"
check "the log line: \"client certificate refused\", SenderID 000013: revoked" \
    'grep "\"msg\":\"client certificate refused\"" "$tmp/js.log" | grep -q "SenderID 000013: revoked"'

# ---- 3. rotation under load (the Join Server)
loop g https_get "$JS/metrics"
wait_until "the HTTPS loop answered 3 times" 60 '[ "$(runs g)" -ge 3 ]'
s_before=$(served_serial "$jsport")
# a request in flight across the reload: connected, headers and half of
# its body sent before the signal, the rest after
{ tr -d '}' <b.req; printf '%4000s}' ''; } >b-padded.req
$RAW inflight "$jsport" "$tmp/ca.crt" "$tmp/b-padded.req" "$BT" "$tmp/if.ready" "$tmp/if.go" >"$tmp/if.out" 2>&1 &
inflight=$!
pids="$pids $inflight"
wait_until "the in-flight request half sent" 60 '[ -f "$tmp/if.ready" ]'
# new material: each file replaced whole (rename), then the signal
r0=$(reloads "$tmp/js.log")
cp js2.crt tls.crt.new && mv tls.crt.new tls.crt && cp js2.key tls.key.new && mv tls.key.new tls.key
kill -HUP "$js"
wait_until "the Join Server's reload after SIGHUP" - '[ "$(reloads "$tmp/js.log")" -gt $r0 ]'
s_after=$(served_serial "$jsport")
check "SIGHUP with a new certificate: served serial $s_before -> $s_after" \
    '[ "$s_before" = "serial=1001" ] && [ "$s_after" = "serial=1002" ]'
touch "$tmp/if.go"
wait "$inflight"
cp "$tmp/if.out" "$tmp/err"
check "the request in flight during the reload finishes on the old certificate: $(cut -c1-40 "$tmp/if.out")" \
    'grep -q "^serial=1001 HTTP/1.1 200 .*\"ResultCode\":\"Success\"" "$tmp/if.out"'
e0=$(refusals "$tmp/js.log")
echo "-----BEGIN PRIVATE KEY-----
this is not a key
-----END PRIVATE KEY-----" >tls.key
kill -HUP "$js"
wait_until "the Join Server's refused reload" - '[ "$(refusals "$tmp/js.log")" -gt $e0 ]'
grep "TLS reload refused" "$tmp/js.log" | tail -1 >"$tmp/err"
check "SIGHUP with a corrupt key: the reload is refused, the log names the key file" \
    'grep "TLS reload refused: the material in place stays" "$tmp/js.log" | tail -1 | grep -q "$tmp/tls.key"'
s_kept=$(served_serial "$jsport")
check "... the previous certificate is still served ($s_kept), same pid" '[ "$s_kept" = "serial=1002" ] && kill -0 $js'
# docs/net.md: the reload "says which file is wrong"; the certificate is not
check "... and the refusal blames the key file, not the certificate (which is fine)" \
    '! grep "TLS reload refused" "$tmp/js.log" | tail -1 | grep -q "$tmp/tls.crt"'
# the admin API: good material, then a corrupt key
cp js3.crt tls.crt.new && mv tls.crt.new tls.crt && cp js3.key tls.key.new && mv tls.key.new tls.key
code=$(curl -s --cacert ca.crt -X POST -H "Authorization: Bearer $ADMT" -o api.ans -w '%{http_code}' "$JS/api/v1/tls/reload")
cp api.ans "$tmp/err"
check "POST /api/v1/tls/reload with a new certificate: HTTP $code {\"reloaded\":true}" \
    '[ "$code" = 200 ] && grep -q "\"reloaded\":true" api.ans'
s_api=$(served_serial "$jsport")
check "... the new serial is served ($s_api)" '[ "$s_api" = "serial=1003" ]'
printf 'not a key\n' >tls.key
code=$(curl -s --cacert ca.crt -X POST -H "Authorization: Bearer $ADMT" -o api.ans -w '%{http_code}' "$JS/api/v1/tls/reload")
cp api.ans "$tmp/err"
check "POST /api/v1/tls/reload with a corrupt key: HTTP $code, the answer names the key file" \
    '[ "$code" = 409 ] && grep -q "$tmp/tls.key" api.ans'
s_kept=$(served_serial "$jsport")
check "... the previous certificate is still served ($s_kept)" '[ "$s_kept" = "serial=1003" ]'
code=$(curl -s --cacert ca.crt -X POST -o /dev/null -w '%{http_code}' "$JS/api/v1/tls/reload")
check "POST /api/v1/tls/reload without the admin token: HTTP $code" '[ "$code" = 401 ]'
r_at=$(runs g)
wait_until "the HTTPS loop answered 3 more times" 60 '[ "$(runs g)" -ge $((r_at + 3)) ]'
stop_loop g
grep '^fail' "$tmp/g.out" | head -5 >"$tmp/err"
check "HTTPS loop: $(runs g) requests through 4 reloads (2 refused), $(fails g) failed" \
    '[ "$(fails g)" -eq 0 ] && [ "$(runs g)" -ge 6 ]'
check "the Join Server did not restart (pid $js still runs)" 'kill -0 $js'
curl -s --cacert ca.crt "$JS/metrics" | grep tls_reloads >"$tmp/err"
tr=$(sed -n 's/^ferry_http_tls_reloads_total{service="js"} \([0-9]*\)$/\1/p' "$tmp/err")
check "/metrics: ferry_http_tls_reloads_total{service=\"js\"} counts the 3 reloads (got '$tr')" '[ "$tr" = 3 ]'
kill "$js"; wait "$js"
check "SIGTERM stops the Join Server cleanly" '[ $? -eq 0 ]'

# ---- the hub: the policy, then rotation by SIGHUP
hubport=$(port) || bail "a port for the hub"
cp hub1.crt hub-tls.crt && cp hub1.key hub-tls.key
cat >hub.conf <<EOF
listen = 127.0.0.1:$hubport
tls_cert = hub-tls.crt
tls_key = hub-tls.key
member = 000014 token_sha256=$(printf %s "$BT" | sha256sum | cut -c1-64)
member = 000013 client_ca=caA.crt client_crl=caA.crl
route = 70B3D57E00000000/32 $JS/
EOF
"$FERRY" hub --config hub.conf 2>"$tmp/hub.log" &
hub=$!
pids="$pids $hub"
watch_log "$tmp/hub.log"
wait_http "https://127.0.0.1:$hubport/metrics" $hub || bail "the hub starts with TLS"
ok "the hub starts with TLS"
policy hub "$hubport" /metrics
r0=$(reloads "$tmp/hub.log")
cp hub2.crt hub-tls.crt.new && mv hub-tls.crt.new hub-tls.crt && cp hub2.key hub-tls.key.new && mv hub-tls.key.new hub-tls.key
kill -HUP "$hub"
wait_until "the hub's reload after SIGHUP" - '[ "$(reloads "$tmp/hub.log")" -gt $r0 ]'
s=$(served_serial "$hubport")
check "hub: SIGHUP with a new certificate: serial $s served, same pid" '[ "$s" = "serial=2002" ] && kill -0 $hub'
e0=$(refusals "$tmp/hub.log")
printf 'not a key\n' >hub-tls.key
kill -HUP "$hub"
wait_until "the hub's refused reload" - '[ "$(refusals "$tmp/hub.log")" -gt $e0 ]'
s=$(served_serial "$hubport")
grep "TLS reload refused" "$tmp/hub.log" | tail -1 >"$tmp/err"
# (hub.conf names its files relative to itself: the log line says hub-tls.key)
check "hub: SIGHUP with a corrupt key: refused naming hub-tls.key, serial $s still served, same pid" \
    'grep -q "tls_key hub-tls.key" "$tmp/err" && [ "$s" = "serial=2002" ] && kill -0 $hub'
kill "$hub"; wait "$hub" 2>/dev/null

# ---- idm serve: the policy, then rotation by SIGHUP
idmport=$(port) || bail "a port for idm serve"
idm="$tmp/idm"
I="$FERRY -d $idm"
cp idm1.crt idm-tls.crt && cp idm1.key idm-tls.key
{
    "$FERRY" init "$idm" --join-eui $JOINEUI --listen "127.0.0.1:$(port)" &&
    $I idm init --ns-token-out "$tmp/idm-ns.tok" --listen "127.0.0.1:$idmport" &&
    $I idm config set tls_cert "$tmp/idm-tls.crt" tls_key "$tmp/idm-tls.key"
} >"$tmp/setup.log" 2>"$tmp/err"
check "an IDM deployment, idm init, idm config set tls_cert and tls_key" '[ $? -eq 0 ]'
cp "$idm/idm.conf" "$tmp/idm.conf.base"
echo "tls_priority = NORMAL" >>"$idm/idm.conf"
timeout "$(scaled 30)" $I idm serve >"$tmp/o" 2>"$tmp/err"
s_rc=$?
check "idm.conf with tls_priority = NORMAL: idm serve refuses to start, naming it (exit $s_rc)" \
    '[ $s_rc -ne 0 ] && [ $s_rc -ne 124 ] && grep -q "tls_priority" "$tmp/err"'
cp "$tmp/idm.conf.base" "$idm/idm.conf"
$I idm config set tls_priority "NONE:+VERS-TLS1.3:+AES-256-GCM:+AEAD:+SIGN-ALL:+GROUP-ALL:+CTYPE-X509" \
    >"$tmp/o" 2>"$tmp/err"
check "idm config set tls_priority (a stricter string: TLS 1.3 only) is accepted" '[ $? -eq 0 ]'
cp "$tmp/idm.conf.base" "$idm/idm.conf"
$I idm serve >>"$tmp/idm.log" 2>&1 &
idm_pid=$!
watch_log "$tmp/idm.log"
wait_http "https://127.0.0.1:$idmport/healthz" $idm_pid || bail "idm serve starts with TLS"
ok "idm serve starts with TLS"
policy "idm serve" "$idmport" /healthz
r0=$(reloads "$tmp/idm.log")
cp idm2.crt idm-tls.crt.new && mv idm-tls.crt.new idm-tls.crt && cp idm2.key idm-tls.key.new && mv idm-tls.key.new idm-tls.key
kill -HUP "$idm_pid"
wait_until "idm serve's reload after SIGHUP" - '[ "$(reloads "$tmp/idm.log")" -gt $r0 ]'
s=$(served_serial "$idmport")
check "idm serve: SIGHUP with a new certificate: serial $s served, same pid" '[ "$s" = "serial=3002" ] && kill -0 $idm_pid'
e0=$(refusals "$tmp/idm.log")
printf 'not a key\n' >idm-tls.key
kill -HUP "$idm_pid"
wait_until "idm serve's refused reload" - '[ "$(refusals "$tmp/idm.log")" -gt $e0 ]'
s=$(served_serial "$idmport")
grep "TLS reload refused" "$tmp/idm.log" | tail -1 >"$tmp/err"
check "idm serve: SIGHUP with a corrupt key: refused naming $tmp/idm-tls.key, serial $s still served, same pid" \
    'grep -q "$tmp/idm-tls.key" "$tmp/err" && [ "$s" = "serial=3002" ] && kill -0 $idm_pid'
kill "$idm_pid"; wait "$idm_pid"
check "SIGTERM stops idm serve cleanly" '[ $? -eq 0 ]'
idm_pid=""

echo "1..$n"
[ "$failed" -eq 0 ]
