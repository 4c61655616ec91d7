#!/bin/sh
# soak.sh - `make soak`: what a new user runs first, `make demo`'s flow
# (scripts/demo.sh), DEMO_RUNS times in a row (default 20), each from a
# fresh working directory. Not part of `make check`: 20 runs take about an
# hour on two cores (docs/testing.md).
#
# Prints each run's result and wall time, keeps every run's output in
# $BUILD/soak-logs/run-K.log, and exits 0 only when every run passed.
set -u
BUILD=${BUILD:-build}
RUNS=${DEMO_RUNS:-20}
out="$BUILD/soak-logs"
rm -rf "$out"
mkdir -p "$out"
failed=0
k=1
while [ "$k" -le "$RUNS" ]; do
    t0=$(date +%s)
    if BUILD="$BUILD" ./scripts/demo.sh >"$out/run-$k.log" 2>&1; then
        result=passed
    else
        result=FAILED
        failed=$((failed + 1))
    fi
    echo "soak run $k/$RUNS: $result ($(($(date +%s) - t0)) s)"
    [ "$result" = FAILED ] && tail -15 "$out/run-$k.log" | sed 's/^/#   /'
    k=$((k + 1))
done
echo "soak: $((RUNS - failed)) of $RUNS runs passed"
[ "$failed" -eq 0 ]
