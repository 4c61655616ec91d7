#!/bin/sh
# The secure element's footprint on its target, from the images that
# `make se-target` built under $BUILD/target:
#
#   code  = se_footprint.elf minus empty.elf (text and data, as `size` counts)
#   RAM   = data + bss left after that subtraction (the element's context and
#           its APDU buffer; the NVM stand-in is flash on a chip and is not
#           counted) + the deepest stack of the whole-life run under QEMU
#           (painted, tests/target/se_life_target.c)
#
# Prints one line: "text=N data=N bss=N stack=N ram=N", then the run's
# detail lines ("# ..."). Reads the run's output from $1 when given (the
# integration test already ran it), else runs QEMU itself.
set -eu
BUILD=${BUILD:-build}
t="$BUILD/target"
sizes() { arm-none-eabi-size "$1" | awk 'NR == 2 { print $1, $2, $3 }'; }
# shellcheck disable=SC2046
set -- $(sizes "$t/se_footprint.elf") "$@"
ft=$1 fd=$2 fb=$3
shift 3
log=${1:-}
# shellcheck disable=SC2046
set -- $(sizes "$t/empty.elf")
stand_in=$(arm-none-eabi-nm -S -t d "$t/se_footprint.elf" | awk '$4 == "footprint_flash_stand_in" { print $2 + 0 }')
text=$((ft - $1)) data=$((fd - $2)) bss=$((fb - $3 - ${stand_in:-0}))
if [ -n "$log" ]; then
    run=$(cat "$log")
else
    run=$(timeout 300 qemu-system-arm -M mps2-an385 -display none -monitor none -serial none \
        -semihosting-config enable=on,target=native -kernel "$t/se_life.elf" 2>&1) || {
        echo "footprint: the QEMU run failed" >&2
        exit 1
    }
fi
stack=$(printf '%s\n' "$run" | sed -n 's/^# se-target: stack=\([0-9]*\).*/\1/p')
[ -n "$stack" ] || { echo "footprint: the run printed no stack figure" >&2; exit 1; }
echo "text=$text data=$data bss=$bss stack=$stack ram=$((data + bss + stack))"
printf '%s\n' "$run" | grep '^# \(stack\|se-target: stack\)' || true
