#!/bin/sh
# Checks that the secure element's sources include no host header.
#
# The element (src/se, src/mls and the parts of src/lorawan they use) runs
# on a microcontroller without an operating system: it may include only
# freestanding C headers and <string.h> (memcpy, memset, memcmp, memmove,
# which every embedded libc has), and only headers of its own layers.
# stdio, allocation (stdlib), time, files and sockets belong to the host
# programs around it. Prints each offending line; exits 1 if there is one.
#
# Usage: element_headers.sh FILE...
set -u
allowed=' stdbool.h stddef.h stdint.h string.h limits.h '
found=$(for f in "$@"; do
    grep -n '^[[:space:]]*#[[:space:]]*include' "$f" | while IFS= read -r line; do
        inc=$(printf '%s\n' "$line" | sed -n 's/.*include[[:space:]]*\([<"][^>"]*[>"]\).*/\1/p')
        name=$(printf '%s\n' "$inc" | tr -d '<>"')
        case $inc in
        \<*) case $allowed in *" $name "*) continue ;; esac ;;
        *) case $name in lorawan/lw_crypto_mbedtls*) ;; lorawan/* | se/* | mls/*) continue ;; esac ;;
        esac
        echo "$f:$line: the element may not include $inc"
    done
done)
[ -z "$found" ] && exit 0
printf '%s\n' "$found"
exit 1
