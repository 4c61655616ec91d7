#!/bin/sh
# Runs every test of ferry and ends with one line: "N passed, N failed".
#
# Contract for a test program: it prints TAP lines ("ok N - name" and
# "not ok N - name") on stdout and exits 0 when all passed. Unit tests are
# cmocka binaries (CMOCKA_MESSAGE_OUTPUT=TAP); integration tests are
# tests/integration/*.sh, run with FERRY pointing at the sanitizer build of
# the CLI and BUILD at the build tree. A program that exits non-zero without a
# "not ok" line (a crash, a sanitizer report) counts as one failure.
set -u
BUILD=${BUILD:-build}
export BUILD
case $BUILD in /*) export FERRY="$BUILD/san/bin/ferry" ;; *) export FERRY="$PWD/$BUILD/san/bin/ferry" ;; esac
export CMOCKA_MESSAGE_OUTPUT=TAP
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Every wait of the integration tests has one deadline, multiplied by this
# factor (tests/integration/lib/wait.sh). The tests run the sanitizer build,
# several times slower than the plain one, hence 3.
export FERRY_TEST_SLOW=${FERRY_TEST_SLOW:-3}
# Only these tests, when set: a space-separated list of names as printed
# below (unit-test_se integration-hub ...); used by `make check ONLY=...`.
ONLY=${ONLY:-}

logdir="$BUILD/test-logs"
mkdir -p "$logdir"
passed=0
failed=0

run_one() {
    name=$1
    shift
    if [ -n "$ONLY" ]; then
        case " $ONLY " in *" $name "*) ;; *) return 0 ;; esac
    fi
    t0=$(date +%s)
    log="$logdir/$name.log"
    "$@" >"$log" 2>&1
    rc=$?
    p=$(grep -c '^ok ' "$log")
    f=$(grep -c '^not ok ' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "FAIL $name: exited with status $rc without a failing test line" >&2
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    secs=$(($(date +%s) - t0))
    if [ "$f" -eq 0 ] && [ "$p" -eq 0 ] && grep -q '^# skipped' "$log"; then
        # a test whose inputs are missing says so: never counted as passed
        echo "skip $name: $(grep -m1 '^# skipped' "$log" | sed 's/^# skipped: *//')"
    elif [ "$f" -ne 0 ]; then
        echo "FAIL $name ($p passed, $f failed, ${secs} s): $log"
        # the failing lines, and what a wait that timed out said (what it
        # waited for, the servers' last log lines), so that CI's output
        # explains the failure by itself
        grep -E '^not ok |^# timed out|^#   |ERROR|runtime error|Sanitizer' "$log" | head -80
    else
        echo "ok   $name ($p passed, ${secs} s)"
    fi
}

for t in "$BUILD"/san/tests/test_*; do
    [ -x "$t" ] || continue
    run_one "unit-$(basename "$t")" "$t"
done

for t in tests/integration/*.sh; do
    [ -f "$t" ] || continue
    run_one "integration-$(basename "$t" .sh)" sh "$t"
done

if command -v node >/dev/null 2>&1 && [ -f tests/mls/check_vectors.js ]; then
    run_one mls-vectors node tests/mls/check_vectors.js
fi

if [ -x tests/oracle/run.sh ]; then
    run_one oracle tests/oracle/run.sh
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
