#!/bin/sh
# soak.sh - `make soak`: what a new user runs first, `make demo`'s flow
# (scripts/demo.sh), DEMO_RUNS times in a row (default 20), each from a
# fresh working directory, then the chaos run with more seeds and kills.
# Not part of `make check`: 20 demo runs take about an hour on two cores
# (docs/testing.md).
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
# The chaos run (tests/integration/chaos.sh) with other seeds and more kills
# than make check's one (docs/testing.md, "Faults").
chaos_failed=0
case "$BUILD" in /*) ferry="$BUILD/bin/ferry" ;; *) ferry="$(pwd)/$BUILD/bin/ferry" ;; esac
for seed in ${CHAOS_SOAK_SEEDS:-2 3 4 5}; do
    t0=$(date +%s)
    if CHAOS_SEED=$seed CHAOS_ROUNDS=${CHAOS_SOAK_ROUNDS:-40} CHAOS_DEVICES=${CHAOS_SOAK_DEVICES:-30} FERRY="$ferry" \
        sh tests/integration/chaos.sh >"$out/chaos-$seed.log" 2>&1; then
        result=passed
    else
        result=FAILED
        chaos_failed=$((chaos_failed + 1))
        grep '^not ok' "$out/chaos-$seed.log" | sed 's/^/#   /'
    fi
    echo "soak chaos seed $seed: $result ($(($(date +%s) - t0)) s) $(grep '^# chaos: [0-9]* kills' "$out/chaos-$seed.log")"
done
[ "$failed" -eq 0 ] && [ "$chaos_failed" -eq 0 ]
