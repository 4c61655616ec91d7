#!/bin/sh
# idm_uplink.sh - `make bench`, Identity Manager part 3: the cost of one
# `POST /uplink` in the delivery engine and of a housekeeping round, with N
# SEs mid-delivery on SQLite (bench/idm_uplink.c says what each figure is).
# Prints figures; asserts nothing about them (only that the steps succeed).
#
#   BUILD=build [IDM_UPLINK_SES="2000 10000"] [IDM_UPLINK_SECONDS=5] [KEEP=1] bench/idm_uplink.sh
#
# A temporary IDM deployment (`ferry init`, `idm init`, retry_base 0), a
# customer tenant and its Join Server (`ferry init` again, running `ferry
# serve`, registered with `idm js add`); bench/idm_uplink.c writes the SEs
# into the IDM's database itself (no personalisation: the engine never opens
# these SEs' MLS messages).
set -eu

BUILD=${BUILD:-build}
sizes=${IDM_UPLINK_SES:-2000 10000}
seconds=${IDM_UPLINK_SECONDS:-5}
ferry=${IDM_UPLINK_FERRY:-$BUILD/bench/bin/ferry}
prog=${IDM_UPLINK:-$BUILD/bench/bench/idm_uplink}
[ -x "$ferry" ] || { echo "idm_uplink: $ferry is missing (make bench builds it)" >&2; exit 1; }
[ -x "$prog" ] || { echo "idm_uplink: $prog is missing (make bench builds it)" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-idm-uplink.XXXXXX")
js_pid=
trap '[ -z "$js_pid" ] || kill "$js_pid" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT INT TERM
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
hex16() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }
kek=$(hex16)
cust="$tmp/cust"
{
    "$ferry" init "$cust" --join-eui 70B3D57ED00A0000 --listen "127.0.0.1:$port" &&
        echo "$kek" | "$ferry" -d "$cust" kek import cust-kek
} >"$tmp/setup.log" 2>&1 || { echo "idm_uplink: customer JS setup failed:" >&2; tail -20 "$tmp/setup.log" >&2; exit 1; }
"$ferry" -d "$cust" serve >"$tmp/cust.log" 2>&1 &
js_pid=$!
python3 - "$port" <<'PY' || { echo "idm_uplink: the customer JS did not start" >&2; tail "$tmp/cust.log" >&2; exit 1; }
import socket, sys, time
for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close(); sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY

echo "idm uplinks: N SEs mid-delivery on SQLite, $seconds s per figure..." >&2
out="$tmp/results.jsonl"
: >"$out"
for n in $sizes; do
    dep="$tmp/idm-$n"
    {
        "$ferry" init "$dep" --join-eui 70B3D57ED0000000 --listen 127.0.0.1:0 &&
            echo "$kek" | "$ferry" -d "$dep" kek import cust-kek &&
            "$ferry" -d "$dep" idm init --ns-token-out "$tmp/ns-$n.tok" --listen 127.0.0.1:0 &&
            "$ferry" -d "$dep" idm config set retry_base 0 poll 1 &&
            "$ferry" -d "$dep" idm tenant add bench-cust --kind customer --token-out "$tmp/cust-$n.tok" &&
            "$ferry" -d "$dep" idm js add bench-js --tenant bench-cust --url "http://127.0.0.1:$port" \
                --admin-token-file "$cust/admin.token" --join-eui 70B3D57ED00A0000 --net-id 000013 --kek-label cust-kek
    } >>"$tmp/setup.log" 2>&1 || { echo "idm_uplink: IDM setup failed:" >&2; tail -20 "$tmp/setup.log" >&2; exit 1; }
    "$prog" "$dep" 70B3D57ED0060000 "$n" "$seconds" >>"$out"
    rm -rf "$dep"
done
kek=

python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("Identity Manager, POST /uplink in the engine (SQLite, synchronous=FULL) and housekeeping rounds")
print(f"  {'SEs':>6} {'run':9} {'uplinks/s':>9} {'CPU us/up':>9} {'syncs/up':>8} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7}")
for r in rows:
    for k in ("alone", "together"):
        u = r[k]
        print(f"  {r['ses']:>6} {k:9} {u['per_s']:>9.0f} {u['cpu_us']:>9.0f} {u['syncs_per_uplink']:>8.2f} "
              f"{u['p50_ms']:>7.2f} {u['p90_ms']:>7.2f} {u['p99_ms']:>7.2f} {u['max_ms']:>7.1f}")
    h = r["round"]
    print(f"  {r['ses']:>6} housekeeping, all {r['ses']} SEs profile_delivered: first round {h['first_s']:.2f} s "
          f"({h['syncs_first']} syncs), the next at the same second {h['next_s']:.3f} s ({h.get('syncs_next', '?')} syncs); "
          f"{r['rounds_together']} rounds ran beside 'together'")
PY
