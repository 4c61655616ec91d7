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
export FERRY="$PWD/$BUILD/san/bin/ferry"
export CMOCKA_MESSAGE_OUTPUT=TAP
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

logdir="$BUILD/test-logs"
mkdir -p "$logdir"
passed=0
failed=0

run_one() {
    name=$1
    shift
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
    if [ "$f" -ne 0 ]; then
        echo "FAIL $name ($p passed, $f failed): $log"
        grep -E '^not ok |ERROR|runtime error|Sanitizer' "$log" | head -20
    else
        echo "ok   $name ($p passed)"
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
