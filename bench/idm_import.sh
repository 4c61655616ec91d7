#!/bin/sh
# The Identity Manager's manufacturing hand-off, measured (not part of
# make check):
#
#   BUILD=build [IDM_IMPORT_LINES=1000000] [HSA_COUNT=1000] bench/idm_import.sh
#
# 1. `ferry hsa personalise --count HSA_COUNT`: SE images + batch, the HSA's
#    own SoftHSM2 token (each image one fsync'ed file write);
# 2. a generated batch of IDM_IMPORT_LINES SEs (keys wrapped in software:
#    test data) imported in one transaction by the optimised
#    tests/unit/test_idm_import (big_batch_streams), which prints SEs/s and
#    peak RSS; the same run's PKCS#11 floor is 3 x hsm_import_wrapped per SE.
# Prints figures; asserts only that both steps succeed.
set -eu
BUILD=${BUILD:-build}
lines=${IDM_IMPORT_LINES:-1000000}
count=${HSA_COUNT:-1000}
ferry="$BUILD/bench/bin/ferry"
test_bin="$BUILD/bench/tests/test_idm_import"
make --no-print-directory "$ferry" "$test_bin" >/dev/null
work=$(mktemp -d /tmp/ferry-idm-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM

kek=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
echo "hsa personalise: $count SEs"
echo "$kek" | /usr/bin/env time -f '  wall %e s, peak RSS %M KiB' \
    "$ferry" hsa personalise --count "$count" --out "$work/out" --kek-label hsa-idm | grep -E '"(personalised|seconds)"'
kek=

echo "idm import: $lines SEs in one batch"
IDM_IMPORT_LINES=$lines CMOCKA_MESSAGE_OUTPUT=TAP "$test_bin" 2>&1 | grep -E '^# big_batch|^not ok' || true
