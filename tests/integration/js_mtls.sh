#!/bin/sh
# js_mtls.sh - per-peer mutual TLS: each peer's client certificates are
# verified against that peer's own CA (peer.<ID>.client_ca, added with
# `ferry peer add ID --client-ca FILE`) and must name the SenderID (a DNS or
# URI subjectAltName when the certificate has any, else the CN). Two NS
# peers with their own CAs (A = 000013, B = 000014), a rogue CA, and a
# token-only peer (0000AA); HomeNSReq over HTTPS on loopback with curl.
# Certificates are made with openssl. Prints TAP.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
FERRY=${FERRY:-$root/build/san/bin/ferry}
JOINEUI=70B3D57ED0000000
DEV=0004A30B001C0002
. "$here/lib/wait.sh"

n=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-mtls.XXXXXX") || exit 1
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    release_ports
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
watch_log "$tmp/serve.log"
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
    n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"
    [ $# -gt 1 ] && printf '%s\n' "$2" | sed 's/^/# /'
}
for tool in openssl curl python3; do
    command -v $tool >/dev/null 2>&1 || { echo "1..1"; echo "not ok 1 - $tool is needed"; exit 1; }
done

# ---- certificates
cd "$tmp" || exit 1
q() { "$@" >/dev/null 2>&1 || { echo "1..1"; echo "not ok 1 - openssl: $*"; exit 1; }; }
ca() {  # ca NAME
    q openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.crt" -days 2 -subj "/CN=$1" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
}
leaf() {  # leaf NAME CA SUBJECT [SAN]
    q openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$3"
    {
        echo "basicConstraints=CA:FALSE"
        echo "extendedKeyUsage=clientAuth"
        [ -n "${4:-}" ] && echo "subjectAltName=$4"
    } >"$1.ext"
    q openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -out "$1.crt" -days 2 \
        -extfile "$1.ext"
}
ca caA; ca caB; ca rogue
leaf a caA "/CN=000013"                                   # A, by A's CA, CN names A
leaf a_claims_b caA "/CN=000014"                          # by A's CA, claims B
leaf b caB "/CN=peer B" "DNS:000014"                      # B by its SAN (CN ignored)
leaf b_san_other caB "/CN=000014" "DNS:other.example.com" # a SAN that is not B: CN ignored
leaf rogue_a rogue "/CN=000013"                           # an unknown CA claims A
# A's, by A's CA, CN names A, but expired in 2020 (`openssl ca` sets the dates)
q openssl req -newkey rsa:2048 -nodes -keyout a_expired.key -out a_expired.csr -subj "/CN=000013"
printf '[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n' >ca.cnf
: >index.txt; echo 01 >serial
q openssl ca -batch -config ca.cnf -cert caA.crt -keyfile caA.key -in a_expired.csr -out a_expired.crt \
    -startdate 20200101000000Z -enddate 20200102000000Z -notext
q openssl req -x509 -newkey rsa:2048 -nodes -keyout tls.key -out tls.crt -days 2 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1"

# ---- deployment
dep="$tmp/dep"
port=$(port) || { not_ok "a port for the Join Server"; echo "1..$n"; exit 1; }
setup() {
    "$FERRY" init "$dep" --join-eui $JOINEUI --listen "127.0.0.1:$port" >/dev/null &&
    "$FERRY" -d "$dep" peer add 000013 --client-ca caA.crt >"$tmp/peerA.json" &&
    "$FERRY" -d "$dep" peer add 000014 --client-ca caB.crt >/dev/null &&
    "$FERRY" -d "$dep" peer add 0000AA --token-out "$tmp/aa.tok" >/dev/null &&
    echo 00112233445566778899aabbccddeeff | "$FERRY" -d "$dep" kek import ns:000013 >/dev/null &&
    printf '{"DevEUI":"%s","JoinEUI":"%s","MACVersion":"1.0.4","HomeNetID":"000013","AllowedNetIDs":["000014","0000AA"],"NwkKey":{"AESKey":"000102030405060708090a0b0c0d0e0f"},"NSKEKLabel":"ns:000013"}\n' \
        $DEV $JOINEUI >"$tmp/dev.jsonl" &&
    "$FERRY" -d "$dep" device import "$tmp/dev.jsonl" --allow-clear-keys >/dev/null 2>&1 &&
    printf 'tls_cert = %s\ntls_key = %s\n' "$tmp/tls.crt" "$tmp/tls.key" >>"$dep/ferry.conf"
}
if setup 2>"$tmp/err"; then ok "deployment with two certificate peers and a token peer"; else
    not_ok "deployment set-up" "$(cat "$tmp/err")"; echo "1..$n"; exit 1; fi
grep -q "^peer.000013.client_ca = $tmp/caA.crt\$" "$dep/ferry.conf" && grep -q '"ClientCA"' "$tmp/peerA.json" &&
    ok "peer add --client-ca keeps the CA's absolute path" || not_ok "peer.000013.client_ca" "$(grep peer "$dep/ferry.conf")"
if "$FERRY" -d "$dep" peer add 000015 >/dev/null 2>&1; then not_ok "peer add without a credential is refused"; else
    ok "peer add without a credential is refused"; fi
echo "not a certificate" >"$tmp/junk.pem"
if "$FERRY" -d "$dep" peer add 000016 --client-ca "$tmp/junk.pem" >/dev/null 2>"$tmp/err"; then
    not_ok "peer add with a file that is not a PEM certificate is refused"
else
    grep -q "no PEM certificate" "$tmp/err" && ! grep -q 000016 "$dep/ferry.conf" &&
        ok "peer add with a file that is not a PEM certificate is refused, ferry.conf unchanged" ||
        not_ok "bad CA file" "$(cat "$tmp/err")"
fi

"$FERRY" -d "$dep" serve 2>>"$tmp/serve.log" &
server=$!
if ! wait_http "https://127.0.0.1:$port/metrics" "$server"; then
    not_ok "serve with per-peer client CAs starts" "$(tail -5 "$tmp/serve.log")"; echo "1..$n"; exit 1
fi
ok "serve with per-peer client CAs starts"

# ask SENDER CERT [TOKEN] -> $res: the ResultCode, "handshake" if TLS failed
ask() {
    printf '{"ProtocolVersion":"1.0","SenderID":"%s","ReceiverID":"%s","TransactionID":7,"MessageType":"HomeNSReq","DevEUI":"%s"}' \
        "$1" $JOINEUI $DEV >"$tmp/req.json"
    set -- "$@" "" ""
    certopt=""
    [ -n "$2" ] && certopt="--cert $tmp/$2.crt --key $tmp/$2.key"
    if [ -n "$3" ]; then
        code=$(curl -s --cacert "$tmp/tls.crt" $certopt -H "Authorization: Bearer $3" -o "$tmp/ans.json" \
            -w '%{http_code}' --data-binary @"$tmp/req.json" "https://127.0.0.1:$port/")
    else
        code=$(curl -s --cacert "$tmp/tls.crt" $certopt -o "$tmp/ans.json" -w '%{http_code}' \
            --data-binary @"$tmp/req.json" "https://127.0.0.1:$port/")
    fi
    if [ "$code" = 000 ]; then res=handshake; else
        res=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Result"]["ResultCode"])' "$tmp/ans.json" 2>/dev/null)
    fi
}
expect() {  # expect DESC WANT...
    d=$1; shift
    for w in "$@"; do [ "$res" = "$w" ] && { ok "$d -> $res"; return; }; done
    not_ok "$d -> $*" "got '$res' (HTTP $code): $(cat "$tmp/ans.json" 2>/dev/null)"
}
ask 000013 a;            expect "A's certificate (A's CA, CN 000013) as A" Success
ask 000014 a;            expect "A's certificate as B" UnknownSender
ask 000014 a_claims_b;   expect "a certificate from A's CA whose CN says B, as B" UnknownSender
ask 000014 b;            expect "B's certificate (B's CA, SAN DNS:000014) as B" Success
ask 000013 b;            expect "B's certificate as A" UnknownSender
ask 000014 b_san_other;  expect "B's CA, CN 000014 but a SAN naming someone else, as B" UnknownSender
ask 000013 rogue_a;      expect "a certificate from an unknown CA (CN 000013) as A" UnknownSender handshake
ask 000013 a_expired;    expect "A's expired certificate (A's CA, CN 000013) as A" UnknownSender handshake
ask 000013 "";           expect "no certificate for a peer that has only a client CA" UnknownSender
ask 0000AA "" "$(cat "$tmp/aa.tok")"; expect "bearer token of a token peer, no certificate" Success
ask 0000AA a "$(cat "$tmp/aa.tok")";  expect "bearer token of a token peer, with another peer's certificate" Success
ask 000013 "" "$(cat "$tmp/aa.tok")"; expect "a token peer's token used as A" UnknownSender
ask 0000AA a;            expect "A's certificate as the token peer" UnknownSender

kill "$server" 2>/dev/null; wait "$server"; rc=$?; server=""
[ $rc -eq 0 ] && ok "SIGTERM stops the server cleanly" || not_ok "SIGTERM stops the server" "exit $rc"

# a client CA file that vanished is an error at start, not an open door
mv "$tmp/caB.crt" "$tmp/caB.moved"
if "$FERRY" -d "$dep" serve >/dev/null 2>"$tmp/err"; then not_ok "a missing client CA file stops serve from starting"; else
    grep -q "000014" "$tmp/err" && ok "a missing client CA file stops serve from starting" ||
        not_ok "missing CA message" "$(cat "$tmp/err")"; fi

echo "1..$n"
[ "$failed" -eq 0 ]
