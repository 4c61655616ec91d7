#!/bin/sh
# stress.sh - `make check-stress`: the whole suite (tests/run.sh) RUNS times
# in a row while a CPU load keeps every core busy beside it, to catch the
# tests that pass on a quiet machine only (docs/testing.md).
#
#   RUNS=N          runs of the suite (default 3)
#   STRESS_LOAD=    the load: "cpu" (default: stress-ng, one busy worker per
#                   core), "build" (a full rebuild of ferry in a scratch
#                   tree, over and over), or "none"
#
# Prints each run's closing "N passed, N failed" line and its wall time, then
# every test that failed at least once with the runs it failed in. Each
# run's logs are kept in $BUILD/stress-logs/run-K/. Exits 0 only when every
# run had 0 failed.
set -u
BUILD=${BUILD:-build}
RUNS=${RUNS:-3}
STRESS_LOAD=${STRESS_LOAD:-cpu}
out="$BUILD/stress-logs"
rm -rf "$out"
mkdir -p "$out"

load_pid=""
start_load() {
    case $STRESS_LOAD in
    cpu)
        command -v stress-ng >/dev/null 2>&1 || { echo "stress: stress-ng is missing (scripts/deps.sh)" >&2; exit 1; }
        # --cpu 0: one worker per online core; --cpu-load 100: always busy
        stress-ng --cpu 0 --cpu-load 100 --timeout 0 --quiet &
        load_pid=$!
        ;;
    build)
        scratch=$(mktemp -d "${TMPDIR:-/tmp}/ferry-stress-build.XXXXXX")
        sh -c "while :; do make -s -j2 BUILD='$scratch' all >/dev/null 2>&1; rm -rf '$scratch'/obj; done" &
        load_pid=$!
        ;;
    none) ;;
    *) echo "stress: STRESS_LOAD is cpu, build or none" >&2; exit 2 ;;
    esac
}
stop_load() {
    if [ -n "$load_pid" ]; then
        kill "$load_pid" 2>/dev/null
        pkill -P "$load_pid" 2>/dev/null
        wait "$load_pid" 2>/dev/null
    fi
    [ -n "${scratch:-}" ] && rm -rf "$scratch"
    load_pid=""
}
trap 'stop_load' EXIT
trap 'exit 130' INT TERM

echo "stress: $RUNS runs of the whole suite, load: $STRESS_LOAD, on $(nproc) cores"
start_load
bad=0
k=1
while [ "$k" -le "$RUNS" ]; do
    t0=$(date +%s)
    BUILD=$BUILD ./tests/run.sh >"$out/run-$k.txt" 2>&1
    t1=$(date +%s)
    cp -r "$BUILD/test-logs" "$out/run-$k"
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out/run-$k.txt" | tail -1)
    [ -n "$summary" ] || summary="no summary line (see $out/run-$k.txt)"
    echo "stress: run $k: $summary, $((t1 - t0)) s"
    case $summary in *" 0 failed"*) ;; *) bad=$((bad + 1)) ;; esac
    grep -E '^FAIL ' "$out/run-$k.txt" | sed "s/^FAIL \([^ ]*\) .*/\1 $k/" >>"$out/failures.txt"
    k=$((k + 1))
done
stop_load
if [ -s "$out/failures.txt" ]; then
    echo "stress: tests that failed at least once (name: runs):"
    awk '{ r[$1] = r[$1] " " $2 } END { for (t in r) print "  " t ":" r[t] }' "$out/failures.txt" | sort
else
    echo "stress: no test failed in any run"
fi
echo "stress: $((RUNS - bad)) of $RUNS runs with 0 failed"
[ "$bad" -eq 0 ]
