# common.sh - what the Identity Manager's and the lab's integration tests
# share; sourced (`. "$here/lib/common.sh"`) after `here` and `root` are set.
# It lives in lib/ so that tests/run.sh, which runs tests/integration/*.sh,
# does not take it for a test.
#
#   ok/notok/check   TAP lines; n and failed count them; notok shows $tmp/err
#   need_node        node, curl and tests/oracle/node_modules, or a failing plan
#   need_lmn_node    LoRaMac-node's source (else "skipped") and $LMN_NODE
#   make_tmp NAME    $tmp, removed at exit (unless KEEP), with every pid in
#                    $pids and $idm_pid killed first
#   hex16, jget KEY, idm_deployment (the IDM's), customer_js (a customer
#   Join Server's deployment),
#   idm_customer (its tenant and Join Server on the IDM)
#   and everything of wait.sh: wait_until, wait_http, watch_log, port, uport
FERRY=${FERRY:-$root/build/san/bin/ferry}
export FERRY
export NODE_PATH="$root/tests/oracle/node_modules"
. "$root/tests/integration/lib/wait.sh"
n=0
failed=0
pids=""
idm_pid=""
tmp=""
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -f "$tmp/err" ] && sed 's/^/# /' "$tmp/err" | tail -15; }
check() { if eval "$2"; then ok "$1"; else notok "$1"; fi; }
# scripts/deps.sh installs node and curl; lora-packet (and aes-cmac) come
# with tests/oracle/install.sh. Missing tools fail the test: never a silent skip.
need_node() {
    if ! command -v node >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1 ||
        ! "$root/tests/oracle/install.sh" >/dev/null 2>&1 || [ ! -d "$NODE_PATH/aes-cmac" ]; then
        echo "not ok 1 - node, curl and tests/oracle/node_modules are needed (scripts/deps.sh, tests/oracle/install.sh)"
        echo "1..1"
        exit 1
    fi
}
# LoRaMac-node's lab devices (issue 20): without LoRaMac-node's source in
# LORAMAC_NODE_DIR the test says "skipped" and ends (never "passed");
# otherwise LMN_NODE is the lmn_node program beside $FERRY's build, which
# must be there (a failing plan if not).
need_lmn_node() {
    LORAMAC_NODE_DIR=${LORAMAC_NODE_DIR:-$(cd "$root/.." && pwd)/shared/loramac-node}
    need_loramac_node
    LMN_NODE="$(dirname "$(dirname "$FERRY")")/loramac/lmn_node"
    if [ ! -x "$LMN_NODE" ]; then
        echo "not ok 1 - lmn_node is built next to $FERRY from $LORAMAC_NODE_DIR (make loramac, make check)"
        echo "1..1"
        exit 1
    fi
}
cleanup() {
    for p in $pids $idm_pid; do kill "$p" 2>/dev/null; done
    for p in $pids $idm_pid; do wait "$p" 2>/dev/null; done
    release_ports
    [ -n "${KEEP:-}" ] || [ -z "$tmp" ] || rm -rf "$tmp"
}
make_tmp() {
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-$1.XXXXXX") || exit 1
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}
# idm_deployment DIR JOINEUI PORT HSAKEK NSKEK NS_TOKEN_OUT: the IDM's
# deployment as the IDM tests make it: `ferry init` (the bootstrap Join
# Server on PORT), the HSA-IDM KEK (hsa-idm), the bootstrap NS's KEK
# (bootstrap-ns), an AS KEK of its own (idm-as), the bootstrap network
# 000000 as a peer (token to NS_TOKEN_OUT)
idm_deployment() {
    "$FERRY" init "$1" --join-eui "$2" --listen "127.0.0.1:$3" &&
        echo "$4" | "$FERRY" -d "$1" kek import hsa-idm && echo "$5" | "$FERRY" -d "$1" kek import bootstrap-ns &&
        "$FERRY" -d "$1" kek generate idm-as && "$FERRY" -d "$1" peer add 000000 --token-out "$6"
}
# customer_js NAME DIR JOINEUI PORT KEK NSKEK ASKEK NETID NS_TOKEN_OUT: a
# customer Join Server's deployment as the IDM tests make it: `ferry init`,
# the KEK shared with the IDM (NAME-kek), its NS and AS KEKs (NAME-ns,
# NAME-as), its network's NetID as a peer (token to NS_TOKEN_OUT)
customer_js() {
    "$FERRY" init "$2" --join-eui "$3" --listen "127.0.0.1:$4" &&
        echo "$5" | "$FERRY" -d "$2" kek import "$1-kek" && echo "$6" | "$FERRY" -d "$2" kek import "$1-ns" &&
        echo "$7" | "$FERRY" -d "$2" kek import "$1-as" && "$FERRY" -d "$2" peer add "$8" --token-out "$9"
}
# idm_customer NAME URL JSDIR JOINEUI NETID TOKEN_OUT: on the IDM ($I), the
# customer tenant NAME (token to TOKEN_OUT) and its Join Server NAME-js,
# reached at URL, with the KEK labels customer_js gave it
idm_customer() {
    $I idm tenant add "$1" --kind customer --token-out "$6" &&
        $I idm js add "$1-js" --tenant "$1" --url "$2" --admin-token-file "$3/admin.token" --join-eui "$4" \
            --net-id "$5" --kek-label "$1-kek" --ns-kek-label "$1-ns" --as-kek-label "$1-as"
}
# need_loramac_node: where $LORAMAC_NODE_DIR has no LoRaMac-node source the
# test says "skipped" (never "passed") and ends
need_loramac_node() {
    if [ ! -f "$LORAMAC_NODE_DIR/src/mac/LoRaMacCrypto.c" ]; then
        echo "# skipped: no LoRaMac-node source in $LORAMAC_NODE_DIR (set LORAMAC_NODE_DIR)"
        echo "1..0 # skipped"
        exit 0
    fi
}
hex16() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n' | tr 'a-f' 'A-F'; }
jget() { node -e 'let o=JSON.parse(require("fs").readFileSync(0,"utf8")); for (const k of process.argv[1].split(".")) o=o==null?undefined:o[k]; process.stdout.write(o==null?"":String(o))' "$1"; }
