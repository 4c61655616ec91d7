#!/bin/sh
# make bench: ferry's LoRaWAN core and lora-packet doing the same work on the
# same frames, side by side. Prints figures; asserts nothing about them.
#
#   BUILD=build [BENCH_SECONDS=1] [BENCH_LW=path/to/bench_lw] bench/run.sh
#
# 1. $BUILD/bench/bench_lw --write writes the deterministic frame set once;
# 2. bench_lw and bench/lora_packet_bench.js each run every operation on it
#    for BENCH_SECONDS seconds (lora-packet is installed into
#    tests/oracle/node_modules by tests/oracle/install.sh when needed);
# 3. a table: operation, ferry ops/s, lora-packet ops/s, ferry/lora-packet,
#    then each side's peak RSS (GNU time's when /usr/bin/time exists, else
#    the program's own getrusage / process.resourceUsage figure).
# Without Node.js the lora-packet column reads n/a.
set -eu

BUILD=${BUILD:-build}
seconds=${BENCH_SECONDS:-1}
here=$(cd "$(dirname "$0")" && pwd)
bin=${BENCH_LW:-$BUILD/bench/bench_lw}
out="$BUILD/bench"
frames="$out/frames.txt"

[ -x "$bin" ] || { echo "bench: $bin is missing (make bench builds it)" >&2; exit 1; }
mkdir -p "$out"
rm -f "$out/ferry.txt" "$out/ferry.time" "$out/lora-packet.txt" "$out/lora-packet.time"
"$bin" --write "$frames"

# Runs "$@" with its stdout to $1.txt; GNU time's report, if any, to $1.time.
timed() {
    name=$1
    shift
    status=0
    if [ -x /usr/bin/time ] && /usr/bin/time -v true >/dev/null 2>&1; then
        /usr/bin/time -v -o "$out/$name.time" "$@" >"$out/$name.txt" || status=$?
    else
        "$@" >"$out/$name.txt" || status=$?
    fi
    [ "$status" -eq 0 ] || echo "bench: $name exited with status $status" >&2
}

echo "bench: ferry, $seconds s per operation..." >&2
timed ferry "$bin" --frames "$frames" --seconds "$seconds"

: >"$out/lora-packet.txt"
if ! command -v node >/dev/null 2>&1; then
    echo "bench: node is not installed; lora-packet is skipped" >&2
elif ! "$here/../tests/oracle/install.sh"; then
    echo "bench: lora-packet could not be installed; it is skipped" >&2
else
    echo "bench: lora-packet, $seconds s per operation..." >&2
    timed lora-packet node "$here/lora_packet_bench.js" "$frames" "$seconds"
fi

# GNU time's peak RSS replaces the program's own figure when present.
for name in ferry lora-packet; do
    if [ -f "$out/$name.time" ]; then
        rss=$(sed -n 's/.*Maximum resident set size (kbytes): *//p' "$out/$name.time")
        if [ -n "$rss" ]; then echo "peak_rss_time_kb $rss" >>"$out/$name.txt"; fi
    fi
done

awk -v seconds="$seconds" -v frames="$frames" '
    FNR == 1 { side = (FILENAME ~ /lora-packet\.txt$/) ? "lp" : "ferry" }
    $1 == "op" { if (!($2 in seen)) { order[++n] = $2; seen[$2] = 1 } ops[side, $2] = $3 }
    $1 == "version" { version = " " $2 }
    $1 == "mic_failures" { fails[side] = $2 }
    $1 == "peak_rss_kb" { rss[side] = $2 }
    $1 == "peak_rss_time_kb" { rss[side] = $2; rss[side, "time"] = 1 }   # comes later: wins
    function cell(v) { return v == "" ? "n/a" : v }
    function ratio(a, b) {
        if (a == "" || b == "" || b == 0) return "n/a"
        return sprintf(a / b >= 10 ? "%.0f" : a / b >= 1 ? "%.1f" : "%.3f", a / b)
    }
    END {
        while ((getline line < frames) > 0) { split(line, f, " "); kinds[f[1]]++; total++ }
        printf "ferry vs lora-packet%s: %d frames (%d join-requests, %d 1.0 uplinks, %d 1.1 uplinks), %s s per operation\n\n",
               version, total, kinds["join_request"], kinds["data_up_10"], kinds["data_up_11"], seconds
        printf "%-18s %16s %18s %14s\n", "operation", "ferry ops/s", "lora-packet ops/s", "ferry/lp"
        for (i = 1; i <= n; i++) {
            op = order[i]
            printf "%-18s %16s %18s %14s\n", op, cell(ops["ferry", op]), cell(ops["lp", op]), ratio(ops["ferry", op], ops["lp", op])
        }
        printf "%-18s %16s %18s %14s\n", "peak RSS (kB)", cell(rss["ferry"]), cell(rss["lp"]), ratio(rss["ferry"], rss["lp"])
        printf "\nMIC failures: ferry %s, lora-packet %s (both verify the same frames; must be 0)\n",
               cell(fails["ferry"]), cell(fails["lp"])
        printf "peak RSS from %s\n", (("ferry", "time") in rss) ? "/usr/bin/time -v" : "getrusage / process.resourceUsage"
    }
' "$out/ferry.txt" "$out/lora-packet.txt"
