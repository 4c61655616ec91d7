#!/bin/sh
# js_bench.sh - `make bench`, Join Server part: joins per second and latency
# through HTTP against `ferry serve` (SQLite, SoftHSM2, durable commits), and
# in the same run the two floors: the same PKCS#11 calls per join without
# HTTP or database, and the same crypto in plain memory. Prints figures and
# ratios; asserts nothing about them.
#
#   BUILD=build [JS_BENCH_SECONDS=5] [JS_BENCH_CONNS=16] [JS_BENCH_THREADS=N] bench/js_bench.sh
#
# JS_BENCH_THREADS is the server's `threads`; without it the deployment's
# default from `ferry init` (16) is measured, and 2 (one per vCPU) beside
# it. With group commit, threads that wait for an fsync use no CPU, so more
# threads make bigger batches (docs/join-server.md, "Performance"). The
# PKCS#11 floor is measured before and after the served runs and averaged:
# the load of the machine moves both the same way, and the ratio less. Each
# served run also reports the server's CPU time per join (from /proc), which
# the machine's other jobs move less than the rate, and joins per commit;
# PostgreSQL is measured beside SQLite when its binaries are installed. The
# floor in two threads of one process shows how far the token library lets
# one `ferry serve` go in parallel.
set -eu

BUILD=${BUILD:-build}
seconds=${JS_BENCH_SECONDS:-5}
conns=${JS_BENCH_CONNS:-16}
threads=${JS_BENCH_THREADS:-}
ferry=${JS_BENCH_FERRY:-$BUILD/bench/bin/ferry}
[ -x "$ferry" ] || ferry=$BUILD/bin/ferry
load=${JS_LOAD:-$BUILD/bench/bench/js_load}
[ -x "$load" ] || { echo "js_bench: $load is missing (make bench builds it)" >&2; exit 1; }
[ -x "$ferry" ] || { echo "js_bench: $ferry is missing" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-jsbench.XXXXXX")
server=""
pg_started=""
cleanup() {
    [ -n "$server" ] && kill $server 2>/dev/null
    [ -n "$pg_started" ] && $as_pg "$pg_bin/pg_ctl" -D "$tmp/pg/data" -m immediate -w stop >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# the bench devices: keys are a public pattern (js_load.c bench_key)
awk -v n="$conns" 'BEGIN { for (i = 0; i < n; i++) { k = ""; for (b = 0; b < 16; b++) k = k sprintf("%02X", (64 + b + i * 7) % 256);
  printf "{\"DevEUI\":\"0004A30B00BE%04X\",\"JoinEUI\":\"70B3D57ED0000000\",\"MACVersion\":\"1.0.4\",\"HomeNetID\":\"000013\",\"NwkKey\":{\"AESKey\":\"%s\"},\"NSKEKLabel\":\"ns:000013\",\"ASKEKLabel\":\"as:bench\"}\n", i, k } }' \
    >"$tmp/devices.jsonl"
# deploy DIR [DATABASE]: a fresh deployment (each served run needs devices
# whose DevNonces were never used), made the product's way
deploy() {
    "$ferry" init "$1" --join-eui 70B3D57ED0000000 --listen "127.0.0.1:$port" ${2:+--database "$2"} >/dev/null &&
    "$ferry" -d "$1" peer add 000013 --token-out "$1.ns.tok" >/dev/null &&
    echo 00112233445566778899aabbccddeeff | "$ferry" -d "$1" kek import ns:000013 >/dev/null &&
    echo 0f0e0d0c0b0a09080706050403020100 | "$ferry" -d "$1" kek import as:bench >/dev/null &&
    "$ferry" -d "$1" device import "$tmp/devices.jsonl" --allow-clear-keys >/dev/null 2>&1
}
dep="$tmp/dep"
deploy "$dep" || { echo "js_bench: the deployment could not be made" >&2; exit 1; }
default_threads=$(sed -n 's/^threads = //p' "$dep/ferry.conf")

mem=$("$load" memory "$seconds")
floor1=$("$load" floor "$dep" "$seconds")
# serve THREADS [DATABASE [PROCESSES]]: the served rate over HTTP, its
# batch and CPU, then the same joins in-process; one line each (http,
# batch + CPU, handler). PROCESSES > 1: that many `serve` processes share
# the port (listen_shared), THREADS threads in all
serve() {
    procs=${3:-1}
    d="$tmp/dep-$1${2:+-pg}-p$procs"
    deploy "$d" "${2:-}" || { echo "js_bench: the deployment could not be made" >&2; exit 1; }
    sed -i "s/^threads = .*/threads = $(($1 / procs))/" "$d/ferry.conf"
    [ "$procs" -gt 1 ] && echo "listen_shared = true" >>"$d/ferry.conf"
    server=""
    k=0
    while [ $k -lt "$procs" ]; do
        "$ferry" -d "$d" serve 2>/dev/null &
        server="$server $!"
        k=$((k + 1))
    done
    i=0
    until curl -s -o /dev/null "http://127.0.0.1:$port/metrics" 2>/dev/null; do
        sleep 0.05; i=$((i + 1)); [ $i -lt 200 ] || { echo "js_bench: serve did not start" >&2; exit 1; }
    done
    # the server's CPU time (user + system, clock ticks) around the load:
    # CPU per join, which the machine's other jobs move less than the rate
    sleep 0.3 # every process listening, not only the first
    cpu() { for p in $server; do cat "/proc/$p/stat"; done | awk '{c += $14 + $15} END {print c}'; }
    cpu0=$(cpu)
    "$load" http "$port" "$(cat "$d.ns.tok")" "$conns" "$seconds"
    cpu1=$(cpu)
    curl -s "http://127.0.0.1:$port/metrics" | awk -v cpu=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" \
        '/^ferry_js_store_commits_total/ {c=$2} /^ferry_js_store_committed_joins_total/ {j=$2} END {printf "%.2f %.4f\n", (c > 0 ? j / c : 0), cpu / hz}'
    kill $server; wait $server 2>/dev/null || true; server=""
    # the same joins through the handler in-process: no HTTP, same store and
    # token (one process only: the line is not printed for two)
    if [ "$procs" -gt 1 ]; then
        echo '{"per_s":0,"threads":0,"errors":0}'
    else
        "$load" handler "$d" "$(cat "$d.ns.tok")" "$1" "$conns" "$seconds" 2>/dev/null
    fi
}
runs=""
for t in ${threads:-$default_threads 2}; do
    serve "$t" >"$tmp/run-$t.txt"
    runs="$runs $t"
done
# two processes on one port (listen_shared): the token library serialises
# the threads of one process, not processes (docs/join-server.md)
t=${threads:-$default_threads}
serve "$t" "" 2 >"$tmp/run-p2-$t.txt" && runs="$runs p2-$t"
# The same on PostgreSQL (a throwaway cluster, fsync on as deployed; every
# join its own transaction with row locks, in parallel: PostgreSQL shares
# the WAL flushes of concurrent commits itself; docs/join-server.md),
# when its server binaries are installed (scripts/deps.sh installs them).
pg_bin=""
for b in /usr/lib/postgresql/*/bin; do [ -x "$b/initdb" ] && pg_bin=$b; done
as_pg=""
[ "$(id -u)" -eq 0 ] && as_pg="runuser -u postgres --"
if [ -n "$pg_bin" ]; then
    mkdir "$tmp/pg"; chmod 755 "$tmp"; [ -n "$as_pg" ] && chown postgres "$tmp/pg"
    pgport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    if $as_pg "$pg_bin/initdb" -D "$tmp/pg/data" -U postgres -A trust -E UTF8 --locale=C >/dev/null 2>&1 &&
        $as_pg "$pg_bin/pg_ctl" -D "$tmp/pg/data" -l "$tmp/pg/server.log" -w \
            -o "-c listen_addresses='' -c unix_socket_directories='$tmp/pg' -p $pgport -c max_connections=100" start >/dev/null 2>&1; then
        pg_started=1
        t=${threads:-$default_threads}
        serve "$t" "pg:host=$tmp/pg port=$pgport user=postgres dbname=postgres" >"$tmp/run-$t-pg.txt" && runs="$runs $t-pg"
    fi
fi
floor2=$("$load" floor "$dep" "$seconds")
# the same calls in two threads of one process: what the token library lets
# one `ferry serve` do in parallel (SoftHSM2: about what one thread does)
floor_mt=$("$load" floor "$dep" "$seconds" 2)

python3 - "$mem" "$floor1" "$floor2" "$floor_mt" "$tmp" "$default_threads" $runs <<'PY'
import json, sys
m, f1, f2, fmt = (json.loads(x) for x in sys.argv[1:5])
tmp, default = sys.argv[5], sys.argv[6]
floor = (f1["per_s"] + f2["per_s"]) / 2
print("Join Server, LoRaWAN 1.0.4 JoinReq -> JoinAns (NwkSKey + AppSKey wrapped, AppSKey kept)")
print(f"  {'what':44} {'joins/s':>10}")
print(f"  {'plain-memory crypto (mbedTLS, no token)':44} {m['per_s']:>10.0f}")
print(f"  {'PKCS#11 floor (same calls, no HTTP, no DB)':44} {floor:>10.0f}   before {f1['per_s']:.0f}, after {f2['per_s']:.0f}"
      f" (one thread: {1000 / floor:.3f} ms per join)")
print(f"  {'  same, 2 threads of one process':44} {fmt['per_s']:>10.0f}   the token library's parallelism in one process:"
      f" {fmt['per_s'] / floor:.2f} x one thread")
for t in sys.argv[7:]:
    lines = open(f"{tmp}/run-{t}.txt").read().split("\n")
    h, hd = json.loads(lines[0]), json.loads(lines[2])
    batch, cpu_s = lines[1].split()
    cpu_ms = float(cpu_s) * 1000 / h['ops'] if h['ops'] else 0
    pg = t.endswith("-pg")
    two = t.startswith("p2-")
    n = t[:-3] if pg else t[3:] if two else t
    db = "PostgreSQL" if pg else "SQLite"
    tag = " (ferry init's default)" if n == default and not two else ""
    what = f"{n} threads" if not two else f"2 processes x {int(n) // 2} threads"
    print(f"  {'served, ' + db + ', ' + what + tag:44} {h['per_s']:>10.0f}   {h['conns']} keep-alive connections,"
          f" p50 {h['p50_ms']:.2f} ms, p99 {h['p99_ms']:.2f} ms, {h['errors']} errors,"
          + (" one transaction per join," if pg else f" {batch} joins per commit (one process's)," if two
             else f" {batch} joins per commit,")
          + f" server CPU {cpu_ms:.3f} ms per join")
    if not two:
        print(f"  {'  same, without HTTP (in-process)':44} {hd['per_s']:>10.0f}   {hd['threads']} threads, {hd['errors']} errors")
    print(f"  served / PKCS#11 floor, {db}, {what} = {h['per_s']/floor:.2f}   (aim: >= 0.80)")
print(f"  PKCS#11 floor / memory = {floor/m['per_s']:.3f}")
PY
