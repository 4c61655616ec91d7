#!/bin/sh
# How long the secure element's flash lasts (bench/se_wear.c): a simulated
# life of SE_WEAR_UPLINKS uplinks (200,000: 139 days at one a minute) with
# downlinks, confirmed uplinks, MLS commands and joins mixed in, on 4 pages
# of 2 KiB with an 8-byte program unit; the figure comes from the erase
# counts of that run. Built here (like se_footprint.sh) from the element's
# sources and the simulated flash only.
set -eu
BUILD=${BUILD:-build}
out="$BUILD/bench/se"
mkdir -p "$out"
CC=${CC:-cc}
src=$(ls src/lorawan/*.c src/mls/*.c src/se/*.c)
flags="-std=c17 -D_DEFAULT_SOURCE -D_GNU_SOURCE -Isrc -O2 -DNDEBUG"
# shellcheck disable=SC2086
$CC $flags bench/se_wear.c $src src/sehost/se_nvm_ram.c -lmbedcrypto -o "$out/se_wear"
"$out/se_wear" "${SE_WEAR_UPLINKS:-200000}"
