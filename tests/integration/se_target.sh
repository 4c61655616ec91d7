#!/bin/sh
# The secure element on its target: the element's sources include no host
# header, and its Cortex-M0+ build (make se-target) lives a whole life under
# QEMU's mps2-an385 with unaligned accesses trapping, answering every APDU
# byte for byte as the host's element did (tests/target/se_life_target.c).
# The firmware prints TAP; its "# se-target:" lines carry the painted stack,
# from which the code and RAM budgets are checked (tests/target/footprint.sh).
set -u
BUILD=${BUILD:-build}
elf="$BUILD/target/se_life.elf"
n=0
say() {
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}

files=$(ls src/se/*.[ch] src/mls/*.[ch] src/lorawan/*.[ch] | grep -v 'lw_crypto_mbedtls')
# shellcheck disable=SC2086
out=$(tests/target/element_headers.sh $files)
say $? "the element's sources include no host header (stdio, stdlib, time, files)"
[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/# /'

if [ ! -f "$elf" ]; then
    say 1 "the Cortex-M0+ firmware exists ($elf: run make se-target)"
    exit 1
fi
if ! command -v qemu-system-arm >/dev/null 2>&1; then
    say 1 "qemu-system-arm is installed (scripts/deps.sh)"
    exit 1
fi
log="$BUILD/target/se_life.log"
timeout 300 qemu-system-arm -M mps2-an385 -display none -monitor none -serial none \
    -semihosting-config enable=on,target=native -kernel "$elf" >"$log" 2>&1
rc=$?
grep -E '^(ok|not ok|#)' "$log"
say $rc "the firmware ran to its end under QEMU and reported success"

# The budgets of issue 11, from the images and this run's painted stack.
fp=$(tests/target/footprint.sh "$log" | head -1)
echo "# footprint: $fp"
text=$(printf '%s\n' "$fp" | sed -n 's/.*text=\([0-9]*\).*/\1/p')
data=$(printf '%s\n' "$fp" | sed -n 's/.*data=\([0-9]*\).*/\1/p')
ram=$(printf '%s\n' "$fp" | sed -n 's/.*ram=\([0-9]*\).*/\1/p')
[ -n "$text" ] && [ $((text + data)) -le 24576 ]
say $? "the element's code and constants fit 24 KiB on a Cortex-M0+ ($((text + data)) bytes)"
[ -n "$ram" ] && [ "$ram" -le 4096 ]
say $? "the element's RAM, data + bss + deepest stack, fits 4 KiB ($ram bytes)"
