#!/bin/sh
# The secure element's footprint and cost per operation.
#
# On its target first (make se-target builds both images): the element
# cross-built for a Cortex-M0+ (-Os, section garbage collection,
# newlib-nano, its compact AES) and linked with only its three entry points
# (tests/target/se_footprint_target.c), minus an empty firmware; RAM is the
# static data and bss that remain (the element's context and one command
# and one response APDU buffer; the NVM stand-in is flash on a chip and is
# not counted) plus the deepest stack any APDU of the whole-life run
# reached under QEMU, measured by painting the stack
# (tests/target/se_life_target.c). Aim: text <= 24 KiB, ram <= 4 KiB.
#
# Then on this host (x86-64), for comparison with the history of this file:
# bench/se_footprint.c and an empty program, both built -Os with section
# garbage collection and static mbedTLS, measured with `size`.
# Cost: callgrind counts instructions (repeatable, unlike time) for 20 and 40
# operations; the difference divided by 20 is the cost of one, without the
# set-up. Each operation includes its NVM commit (to RAM here).
set -eu
BUILD=${BUILD:-build}
fp=$(tests/target/footprint.sh)
echo "se-footprint: cpu=cortex-m0plus $(printf '%s\n' "$fp" | head -1)"
printf '%s\n' "$fp" | sed -n 's/^# stack by instruction:/se-footprint-stack-by-ins:/p; s/^# stack of se_boot\/se_manufacture: /se-footprint-stack-boot: /p'
printf '%s\n' "$fp" | sed -n 's/^# se-target: stack=[0-9]* /se-footprint-detail: /p'
# The deepest frames of the element's code as linked (-fstack-usage at the
# link-time optimisation, which writes one .su per partition next to the
# firmware), to show where stack goes.
cat "$BUILD"/target/se_life.elf.ltrans*.su | grep '^src/' | sort -t'	' -k2 -n -r | head -5 |
    awk -F'\t' '{ split($1, a, ":"); printf "%s%s=%s", (NR > 1 ? " " : "se-footprint-frames: "), a[4], $2 } END { print "" }'

out="$BUILD/bench/se"
mkdir -p "$out"
CC=${CC:-cc}
src=$(ls src/lorawan/*.c src/mls/*.c src/se/*.c 2>/dev/null)
flags="-std=c17 -D_DEFAULT_SOURCE -D_GNU_SOURCE -Isrc -Os -DNDEBUG -ffunction-sections -fdata-sections"
# shellcheck disable=SC2086
$CC $flags bench/se_footprint.c $src -Wl,--gc-sections -Wl,-Bstatic -lmbedcrypto -Wl,-Bdynamic -o "$out/se_footprint"
printf 'int main(void) { return 0; }\n' >"$out/empty.c"
# shellcheck disable=SC2086
$CC $flags "$out/empty.c" -Wl,--gc-sections -o "$out/empty"

set -- $(size "$out/se_footprint" | awk 'NR == 2 { print $1, $2, $3 }')
t1=$1 d1=$2 b1=$3
set -- $(size "$out/empty" | awk 'NR == 2 { print $1, $2, $3 }')
echo "se-footprint-x86-64: text=$((t1 - $1)) data=$((d1 - $2)) bss=$((b1 - $3)) (x86-64 -Os, SE + LoRaWAN core + MLS + mbedTLS AES)"
# Where the bytes go: ferry's own functions, mbedTLS's (its self-test would
# be configured out on a chip), and bss tables (mbedTLS builds its AES
# tables in RAM unless MBEDTLS_AES_ROM_TABLES puts them in flash) and this
# program's own NVM stand-in.
nm -S -t d "$out/se_footprint" | awk '
    NF == 4 && $3 ~ /[tT]/ { if ($4 ~ /^mbedtls_aes_self_test/) self += $2; else if ($4 ~ /^mbedtls|^aes_/) m += $2;
                             else if ($4 ~ /^(se|lw|mls)_|^(visit|decode|encode|mic|derive|join|do_|parse|dispatch|commit|slot|fall|nonce|rebuild|open|data|a_block|put|get|expect|hex|cmac|sw_|aes_block|key_|unwrap|wrap|mac_|cursor|read_bank|backend|frag|tag|ctr)/) f += $2 }
    NF == 4 && $3 ~ /[bB]/ { if ($4 ~ /^(FT|RT|FSb|RSb|RCON)/) tables += $2; else if ($4 ~ /^mem/) nvm += $2 }
    END { printf "se-footprint-x86-64-detail: ferry-text~%d mbedtls-aes-text=%d mbedtls-selftest=%d aes-tables-in-ram=%d nvm-stand-in=%d\n", f, m, self, tables, nvm }'
"$out/se_footprint"

if command -v valgrind >/dev/null 2>&1; then
    count() {
        valgrind --tool=callgrind --callgrind-out-file=/dev/null "$out/se_footprint" "$1" "$2" 2>&1 |
            awk '/Collected :/ { print $4 }'
    }
    for op in join uplink; do
        a=$(count --$op 20)
        b=$(count --$op 40)
        if [ -n "$a" ] && [ -n "$b" ]; then
            case $op in
            join) what="join-request + join-accept (two NVM commits)" ;;
            *) what="protected 20-byte uplink (one NVM commit)" ;;
            esac
            echo "se-cost-$op: $(((b - a) / 20)) instructions per $what"
        fi
    done
else
    echo "se-cost: valgrind not installed, skipped"
fi
