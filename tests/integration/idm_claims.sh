#!/bin/sh
# idm_claims.sh - bulk claims: a customer claims many SEs at once.
#   - an IDM deployment (`ferry init`), 5 SEs personalised by `ferry hsa
#     personalise` and imported, tenants maker, acme and bolt (customers);
#   - `idm claim --file F --tenant ID`: lines "DEVEUI OWNERTOKEN" and TR005
#     QR payloads, comments and blank lines skipped; a malformed line, a
#     wrong token and an unknown DevEUI fail on their own line and stop
#     nothing; one JSON summary; exit 1 when any failed, 0 when none;
#   - `POST /api/v1/claims {"Claims":[...]}`: per-SE results with the HTTP
#     status of each failure (403 wrong token, 404 unknown, 409 held by
#     another tenant, 400 malformed entry), counts; the single form keeps
#     working; limits (0 and 1001 entries, body size) and a 1000-entry list
#     whose answer is far above the old 1 KiB reply buffer;
#   - each claim is its own audit entry; the audit chain verifies; no owner
#     token in any log or output.
# Needs node, curl and sqlite3 (scripts/deps.sh). Prints TAP.
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
    for f in "$tmp/err" "$tmp/o" "$tmp/body"; do [ -s "$f" ] && sed 's/^/# /' "$f" | tail -8; done
}
check() { if eval "$2"; then ok "$1"; else notok "$1"; fi; }
for tool in node curl sqlite3; do
    command -v $tool >/dev/null 2>&1 || { echo "not ok 1 - $tool is needed (scripts/deps.sh)"; echo "1..1"; exit 1; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-idm-claims.XXXXXX") || exit 1
idm_pid=""
cleanup() {
    [ -n "$idm_pid" ] && kill "$idm_pid" 2>/dev/null && wait "$idm_pid" 2>/dev/null
    release_ports
    [ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
watch_log "$tmp/idm.log"

# results FILE: one word per result, in order: DEVEUI (upper case, or null)=claimed|already|<Status>|error
results() {
    node -e '
const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
console.log(d.Results.map(r => (r.DevEUI === null ? "null" : r.DevEUI.toUpperCase()) + "=" +
    ("Error" in r ? (r.Status === undefined ? "error" : String(r.Status)) : r.Already ? "already" : "claimed")).join(" "));' "$1"
}
# jq1 FILE EXPR: a JavaScript expression over the document d, printed
jq1() { node -e 'const d=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); console.log(eval(process.argv[2]))' "$1" "$2"; }
# claims N: a {"Claims":[...]} body of N entries for DevEUIs nobody has
claims() {
    node -e 'const n=+process.argv[1]; const c=[]; for (let i=0;i<n;i++) c.push({DevEUI:"70B3D57ED1"+i.toString(16).toUpperCase().padStart(6,"0"),OwnerToken:"0".repeat(32)}); console.log(JSON.stringify({Claims:c}))' "$1"
}
hex16() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n' | tr 'a-f' 'A-F'; }

idm="$tmp/idm"; out="$tmp/hsa"
P_IDM=$(port)
I="$FERRY -d $idm"
HSAKEK=$(hex16)
{
    "$FERRY" init "$idm" --join-eui 70B3D57ED0000000 --listen "127.0.0.1:$(port)" &&
    echo "$HSAKEK" | $I kek import hsa-idm &&
    echo "$HSAKEK" | "$FERRY" hsa personalise --count 5 --out "$out" --kek-label hsa-idm --mac-version 1.0.4 \
        --dev-eui-base 70B3D57ED0060000 && $I idm import "$out/batch.jsonl" &&
    $I idm init --ns-token-out "$tmp/ns.tok" --listen "127.0.0.1:$P_IDM" &&
    $I idm tenant add maker --kind maker --token-out "$tmp/maker.tok" &&
    $I idm tenant add acme --kind customer --token-out "$tmp/acme.tok" &&
    $I idm tenant add bolt --kind customer --token-out "$tmp/bolt.tok"
} >"$tmp/setup.log" 2>"$tmp/err"
check "IDM deployment, 5 SEs personalised and imported, tenants maker, acme, bolt" '[ $? -eq 0 ]'
SE1=70B3D57ED0060000; SE2=70B3D57ED0060001; SE3=70B3D57ED0060002; SE4=70B3D57ED0060003; SE5=70B3D57ED0060004
NOSE=70B3D57ED00600FF
otok() { sed -n "s/.*\"DevEUI\":\"$1\".*:O\([0-9A-F]\{32\}\)\".*/\1/p" "$out/batch.jsonl"; }
qr() { sed -n "s/.*\"DevEUI\":\"$1\".*\"QR\":\"\([^\"]*\)\".*/\1/p" "$out/batch.jsonl"; }
T1=$(otok $SE1); T2=$(otok $SE2); T3=$(otok $SE3); T4=$(otok $SE4); T5=$(otok $SE5)
Q2=$(qr $SE2)
check "owner tokens and a QR payload read from the batch" \
    '[ ${#T1} -eq 32 ] && [ ${#T5} -eq 32 ] && case "$Q2" in LW:D0:*:$SE2:*:O$T2) true;; *) false;; esac'
WRONG=00000000000000000000000000000000

# ---- bulk claims through the CLI
$I idm claim $SE4 --owner-token "$T4" --tenant bolt >/dev/null 2>"$tmp/err"
check "bolt claims SE4 on its own" '[ $? -eq 0 ]'
cat >"$tmp/claims.txt" <<EOF
# acme's first delivery
$SE1 $T1

$Q2
$SE3 $WRONG
not a claim line
$NOSE $(hex16)
EOF
$I idm claim --file "$tmp/claims.txt" --tenant acme >"$tmp/o" 2>"$tmp/err"
rc=$?
cat "$tmp/o" "$tmp/err" >"$tmp/cli-output"
check "claim --file with bad lines: exit 1, says how many failed" '[ $rc -eq 1 ] && grep -q "3 of 5 claims failed" "$tmp/err"'
check "... 2 claimed, 3 failed, one result per claim line in order" \
    '[ "$(jq1 "$tmp/o" "[d.Claimed, d.Failed, d.Tenant].join(\" \")")" = "2 3 acme" ] &&
     [ "$(results "$tmp/o")" = "$SE1=claimed $SE2=claimed $SE3=error null=error $NOSE=error" ]'
check "... the pair and the QR line claimed; each failure says why, on its own line number" \
    '[ "$(jq1 "$tmp/o" "d.Results.map(r => r.Line).join(\" \")")" = "2 4 5 6 7" ] &&
     jq1 "$tmp/o" "d.Results[2].Error" | grep -q "the owner token does not match this DevEUI" &&
     jq1 "$tmp/o" "d.Results[3].Error" | grep -q "expected DEVEUI OWNERTOKEN" &&
     [ "$(jq1 "$tmp/o" "d.Results[4].Error")" = "$(jq1 "$tmp/o" "d.Results[2].Error")" ]'
$I idm show $SE2 >"$tmp/o" 2>"$tmp/err"
check "show: SE2 (claimed from its QR line) is acme's" '[ $? -eq 0 ] && grep -q "\"Tenant\": \"acme\"" "$tmp/o"'
printf '%s %s\n%s\n' $SE1 "$T1" "$Q2" >"$tmp/again.txt"
$I idm claim --file "$tmp/again.txt" --tenant acme >"$tmp/o" 2>"$tmp/err"
check "claim --file again: exit 0, both already acme's" \
    '[ $? -eq 0 ] && [ "$(results "$tmp/o")" = "$SE1=already $SE2=already" ] && [ ! -s "$tmp/err" ]'
node -e 'for (let i = 0; i < 400; i++) console.log("70B3D57ED2" + i.toString(16).toUpperCase().padStart(6, "0") + " " + "0".repeat(32))' >"$tmp/many.txt"
$I idm claim --file "$tmp/many.txt" --tenant acme >"$tmp/o" 2>"$tmp/err"
check "claim --file with 400 unknown SEs: exit 1, the whole summary printed ($(wc -c <"$tmp/o") bytes, above the 16 KiB buffer)" \
    '[ $? -eq 1 ] && [ "$(jq1 "$tmp/o" "[d.Results.length, d.Failed, d.Results[399].Line].join(\" \")")" = "400 400 400" ] &&
     [ $(wc -c <"$tmp/o") -gt 16384 ]'
printf '# nothing\n\n' >"$tmp/empty.txt"
$I idm claim --file "$tmp/empty.txt" --tenant acme >"$tmp/o" 2>"$tmp/err"
check "claim --file with no claim line: exit 1, no claims in it" '[ $? -eq 1 ] && grep -q "no claims" "$tmp/err"'
$I idm claim $SE1 --file "$tmp/again.txt" --tenant acme >"$tmp/o" 2>"$tmp/err"
check "claim --file with a DevEUI too: usage error" '[ $? -eq 2 ]'

# ---- bulk claims through the REST API
$I idm serve >"$tmp/idm.log" 2>&1 &
idm_pid=$!
wait_http "http://127.0.0.1:$P_IDM/healthz" $idm_pid
check "idm serve answers /healthz" '[ $? -eq 0 ]'
API="http://127.0.0.1:$P_IDM/api/v1"
req() { # METHOD PATH TOKENFILE BODYFILE -> status on stdout, body in $tmp/body
    curl -s -o "$tmp/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $(cat "$3")" \
        -H "Content-Type: application/json" --data-binary @"$4" "$API$2"
}
cat >"$tmp/req.json" <<EOF
{"Claims":[
  {"DevEUI":"$SE3","OwnerToken":"$T3"},
  {"DevEUI":"$SE4","OwnerToken":"$T4"},
  {"DevEUI":"$SE5","OwnerToken":"$WRONG"},
  {"DevEUI":"$NOSE","OwnerToken":"$(hex16)"},
  {"DevEUI":"$SE1","OwnerToken":"$T1"},
  {"DevEUI":"$SE5"},
  {"DevEUI":"$SE4","OwnerToken":"$WRONG"}
]}
EOF
code=$(req POST /claims "$tmp/acme.tok" "$tmp/req.json")
check "REST bulk claim: 200, 2 claimed, 5 failed" \
    '[ "$code" = 200 ] && [ "$(jq1 "$tmp/body" "[d.Claimed, d.Failed].join(\" \")")" = "2 5" ]'
check "... per SE: claimed, 409 (bolt holds it: acme has its token), 403 (wrong token), 403 (unknown: the same answer), already, 400, 403" \
    '[ "$(results "$tmp/body")" = "$SE3=claimed $SE4=409 $SE5=403 $NOSE=403 $SE1=already $SE5=400 $SE4=403" ]'
check "... each failure names its reason; without the right token one answer for a free, a held and an unknown SE" \
    'jq1 "$tmp/body" "d.Results[1].Error" | grep -q "another tenant" &&
     jq1 "$tmp/body" "d.Results[2].Error" | grep -q "the owner token does not match this DevEUI" &&
     [ "$(jq1 "$tmp/body" "d.Results[2].Error")" = "$(jq1 "$tmp/body" "d.Results[3].Error")" ] &&
     [ "$(jq1 "$tmp/body" "d.Results[2].Error")" = "$(jq1 "$tmp/body" "d.Results[6].Error")" ] &&
     jq1 "$tmp/body" "d.Results[5].Error" | grep -q "entry 6: DevEUI (16 hex digits) and OwnerToken are required"'
printf '{"DevEUI":"%s","OwnerToken":"%s"}' $SE5 "$T5" >"$tmp/one.json"
code=$(req POST /claims "$tmp/acme.tok" "$tmp/one.json")
check "the single form is unchanged: acme claims SE5 (its wrong-token count was 1)" \
    '[ "$code" = 200 ] && [ "$(cat "$tmp/body")" = "{\"DevEUI\":\"$SE5\",\"Claim\":\"claimed\",\"Already\":false}" ]'
code=$(req GET /ses/$SE4 "$tmp/bolt.tok" /dev/null)
check "SE4 is still bolt's" '[ "$code" = 200 ] && grep -q "\"Tenant\":\"bolt\"" "$tmp/body"'
printf '{"Claims":[{"DevEUI":"%s","OwnerToken":"%s"}]}' $SE3 "$T3" >"$tmp/m.json"
code=$(req POST /claims "$tmp/maker.tok" "$tmp/m.json")
check "a maker tenant's bulk claim: each entry refused, 403 (only a customer claims)" \
    '[ "$code" = 200 ] && [ "$(results "$tmp/body")" = "$SE3=403" ] && grep -q "only a customer tenant claims" "$tmp/body"'
echo nope >"$tmp/nobody.tok"
check "bulk claim without a valid bearer: 401" '[ "$(req POST /claims "$tmp/nobody.tok" "$tmp/req.json")" = 401 ]'
printf '{"Claims":[]}' >"$tmp/b.json"
check "an empty Claims list: 400" '[ "$(req POST /claims "$tmp/acme.tok" "$tmp/b.json")" = 400 ]'
printf '{"Claims":{"DevEUI":"%s"}}' $SE3 >"$tmp/b.json"
check "Claims not an array: 400" '[ "$(req POST /claims "$tmp/acme.tok" "$tmp/b.json")" = 400 ]'
claims 1001 >"$tmp/b.json"
check "1001 entries: 400, nothing claimed" \
    '[ "$(req POST /claims "$tmp/acme.tok" "$tmp/b.json")" = 400 ] && grep -q "1 to 1000" "$tmp/body"'
claims 1000 >"$tmp/big.json"
code=$(req POST /claims "$tmp/acme.tok" "$tmp/big.json")
check "1000 entries ($(wc -c <"$tmp/big.json") bytes): 200, 1000 results (403 each: unknown SEs answer as wrong tokens), answer of $(wc -c <"$tmp/body") bytes whole" \
    '[ "$code" = 200 ] && [ "$(jq1 "$tmp/body" "[d.Results.length, d.Failed, d.Results[999].DevEUI, d.Results[999].Status].join(\" \")")" = "1000 1000 70B3D57ED10003E7 403" ]'
head -c 300000 /dev/zero | tr '\0' ' ' >"$tmp/huge.json"
check "a claims body above 256 KiB: 413" '[ "$(req POST /claims "$tmp/acme.tok" "$tmp/huge.json")" = 413 ]'
head -c 9000 /dev/zero | tr '\0' ' ' >"$tmp/b.json"
check "other endpoints keep the 8 KiB body limit: 413" \
    '[ "$(req POST /ses/$SE3/assign "$tmp/acme.tok" "$tmp/b.json")" = 413 ] && grep -q "at most 8192 bytes" "$tmp/body"'

# ---- bodies with a key twice, or not UTF-8: 400 with the reason, nothing claimed
printf '{"DevEUI":"%s","OwnerToken":"%s","OwnerToken":"%s"}' $SE5 "$WRONG" "$T5" >"$tmp/dup.json"
code=$(req POST /claims "$tmp/bolt.tok" "$tmp/dup.json")
check "a body with a key twice: 400 naming it, nothing claimed" \
    '[ "$code" = 400 ] && grep -q "duplicate object key" "$tmp/body" && $I idm show $SE5 | grep -q "\"Tenant\": \"acme\""'
printf '{"DevEUI":"%s","OwnerToken":"\377\376"}' $SE5 >"$tmp/utf.json"
code=$(req POST /claims "$tmp/bolt.tok" "$tmp/utf.json")
check "a body that is not UTF-8: 400 saying so" '[ "$code" = 400 ] && grep -qi "decode byte\|utf-8" "$tmp/body"'
# ---- hostile paths: the access log stays one JSON object a line
for u in '/api/v1/ses/%22%7D%0A%7B%22forged%22:%22yes' '/api/v1/claims/%0D%0Aforged' '/api/v1/%FF%FE%22' \
    "/api/v1/$(head -c 3000 /dev/zero | tr '\0' x)"; do
    curl -s -o /dev/null -H "Authorization: Bearer $(cat "$tmp/acme.tok")" "$API${u#/api/v1}" 2>/dev/null
done
wait_until "the hostile requests logged" - 'grep -q "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" "$tmp/idm.log"'
check "every line of idm serve's log parses as JSON after hostile paths, none forged, long paths whole" \
    'node -e '"'"'const ls=require("fs").readFileSync(process.argv[1],"utf8").split("\n").filter(l=>l.length);
      let bad=0, forged=0, long=0; for (const l of ls) { try { const o=JSON.parse(l); if (o.forged) forged++;
      if ((o.path||"").length > 3000) long++; } catch (e) { bad++; console.log("not JSON: "+l.slice(0,80)); } }
      process.exit(bad===0 && forged===0 && long===1 ? 0 : 1)'"'"' "$tmp/idm.log"'
kill "$idm_pid" 2>/dev/null; wait "$idm_pid" 2>/dev/null; rc=$?; idm_pid=""
check "idm serve stops cleanly on SIGTERM" '[ $rc -eq 0 ]'

# ---- the audit: one entry per change, the chain verifies
q() { sqlite3 "$idm/ferry.db" "$1"; }
check "audit: one idm.claim per SE claimed (SE1..SE5: acme 4, bolt 1), none for the repeats" \
    '[ "$(q "SELECT count(*), count(DISTINCT subject) FROM idm_audit WHERE action='"'"'idm.claim'"'"'")" = "5|5" ] &&
     [ "$(q "SELECT count(*) FROM idm_audit WHERE action='"'"'idm.claim'"'"' AND details LIKE '"'"'%acme%'"'"'")" = 4 ]'
check "audit: each refused attempt recorded (CLI SE3, REST SE4 twice, SE5, maker none)" \
    '[ "$(q "SELECT group_concat(subject, '"'"' '"'"') FROM (SELECT subject FROM idm_audit WHERE action='"'"'idm.claim.refused'"'"' ORDER BY seq)")" = "$SE3 $SE4 $SE5 $SE4" ]'
$I idm audit verify >"$tmp/o" 2>"$tmp/err"
check "audit chain verifies" '[ $? -eq 0 ] && grep -q "\"ok\": true" "$tmp/o"'

hit=""
for t in $T1 $T2 $T3 $T4 $T5; do
    grep -qF "$t" "$tmp/idm.log" "$tmp/setup.log" 2>/dev/null && hit="$hit $t"
done
check "no owner token in idm serve's log" '[ -z "$hit" ]'
hit=""
for t in $T1 $T2 $T3; do grep -qiF "$t" "$tmp/cli-output" && hit="$hit $t"; done
check "no owner token in what claim --file printed" '[ -z "$hit" ]'

echo "1..$n"
[ "$failed" -eq 0 ]
