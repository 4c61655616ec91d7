#!/bin/sh
# js_bench.sh - `make bench`, Join Server part: joins per second and latency
# through HTTP against `ferry serve` (SQLite, SoftHSM2, durable commits), and
# in the same run the two floors: the same PKCS#11 calls per join without
# HTTP or database, and the same crypto in plain memory. Prints figures and
# ratios; asserts nothing about them.
#
#   BUILD=build [JS_BENCH_SECONDS=5] [JS_BENCH_CONNS=16] [JS_BENCH_THREADS=2] bench/js_bench.sh
#
# JS_BENCH_THREADS is the server's `threads`: 2 matches the development
# machine's 2 vCPUs. With group commit, threads that wait for an fsync use
# no CPU, so more threads make bigger batches (docs/join-server.md,
# "Performance").
set -eu

BUILD=${BUILD:-build}
seconds=${JS_BENCH_SECONDS:-5}
conns=${JS_BENCH_CONNS:-16}
threads=${JS_BENCH_THREADS:-2}
ferry=${JS_BENCH_FERRY:-$BUILD/bench/bin/ferry}
[ -x "$ferry" ] || ferry=$BUILD/bin/ferry
load=${JS_LOAD:-$BUILD/bench/bench/js_load}
[ -x "$load" ] || { echo "js_bench: $load is missing (make bench builds it)" >&2; exit 1; }
[ -x "$ferry" ] || { echo "js_bench: $ferry is missing" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-jsbench.XXXXXX")
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
dep="$tmp/dep"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$ferry" init "$dep" --join-eui 70B3D57ED0000000 --listen "127.0.0.1:$port" >/dev/null
sed -i "s/^threads = .*/threads = $threads/" "$dep/ferry.conf"
"$ferry" -d "$dep" peer add 000013 --token-out "$tmp/ns.tok" >/dev/null
echo 00112233445566778899aabbccddeeff | "$ferry" -d "$dep" kek import ns:000013 >/dev/null
echo 0f0e0d0c0b0a09080706050403020100 | "$ferry" -d "$dep" kek import as:bench >/dev/null
# the bench devices: keys are a public pattern (js_load.c bench_key)
awk -v n="$conns" 'BEGIN { for (i = 0; i < n; i++) { k = ""; for (b = 0; b < 16; b++) k = k sprintf("%02X", (64 + b + i * 7) % 256);
  printf "{\"DevEUI\":\"0004A30B00BE%04X\",\"JoinEUI\":\"70B3D57ED0000000\",\"MACVersion\":\"1.0.4\",\"HomeNetID\":\"000013\",\"NwkKey\":{\"AESKey\":\"%s\"},\"NSKEKLabel\":\"ns:000013\",\"ASKEKLabel\":\"as:bench\"}\n", i, k } }' \
    >"$tmp/devices.jsonl"
"$ferry" -d "$dep" device import "$tmp/devices.jsonl" --allow-clear-keys >/dev/null 2>&1

mem=$("$load" memory "$seconds")
floor=$("$load" floor "$dep" "$seconds")
"$ferry" -d "$dep" serve 2>/dev/null &
server=$!
i=0
until curl -s -o /dev/null "http://127.0.0.1:$port/metrics" 2>/dev/null; do
    sleep 0.05; i=$((i + 1)); [ $i -lt 200 ] || { echo "js_bench: serve did not start" >&2; exit 1; }
done
http=$("$load" http "$port" "$(cat "$tmp/ns.tok")" "$conns" "$seconds")
batch=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^ferry_js_store_commits_total/ {c=$2} /^ferry_js_store_committed_joins_total/ {j=$2} END {printf "%.2f", (c > 0 ? j / c : 0)}')
kill "$server"; wait "$server" 2>/dev/null || true; server=""
# the same joins through the handler in-process: no HTTP, same store and token
handler=$("$load" handler "$dep" "$(cat "$tmp/ns.tok")" "$threads" "$conns" "$seconds" 2>/dev/null)

python3 - "$mem" "$floor" "$http" "$handler" "$batch" "$threads" <<'PY'
import json, sys
m, f, h, hd = (json.loads(x) for x in sys.argv[1:5])
batch, threads = sys.argv[5], sys.argv[6]
print("Join Server, LoRaWAN 1.0.4 JoinReq -> JoinAns (NwkSKey + AppSKey wrapped, AppSKey kept)")
print(f"  {'what':44} {'joins/s':>10}")
print(f"  {'plain-memory crypto (mbedTLS, no token)':44} {m['per_s']:>10.0f}")
print(f"  {'PKCS#11 floor (same calls, no HTTP, no DB)':44} {f['per_s']:>10.0f}")
print(f"  {'served: HTTP + SoftHSM2 + SQLite fsync':44} {h['per_s']:>10.0f}   {h['conns']} keep-alive connections,"
      f" {threads} server threads, p50 {h['p50_ms']:.2f} ms, p99 {h['p99_ms']:.2f} ms, {h['errors']} errors,"
      f" {batch} joins per SQLite commit")
print(f"  {'same, without HTTP (js_handle_bi in-process)':44} {hd['per_s']:>10.0f}   {hd['threads']} threads, {hd['errors']} errors")
print(f"  served / PKCS#11 floor = {h['per_s']/f['per_s']:.2f}   (aim: >= 0.80)")
print(f"  PKCS#11 floor / memory = {f['per_s']/m['per_s']:.3f}")
PY
