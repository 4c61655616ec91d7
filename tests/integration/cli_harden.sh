#!/bin/sh
# cli_harden.sh - every `ferry` subcommand keeps itself out of core dumps
# before it reads a secret, not only the servers (docs/hsm.md): each one
# below is caught while it waits for its secret on a pipe, and its core-file
# limit must be 0; then it gets the secret and must work. Prints TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib/common.sh"
make_tmp cli-harden
watch_log "$tmp"
"$FERRY" init "$tmp/dep" --join-eui 70B3D57ED0000000 --listen "127.0.0.1:$(port)" >"$tmp/setup.log" 2>&1
check "a Join Server deployment" '[ $? -eq 0 ]'
# the commands inherit a core limit that is not 0, or the checks below
# would prove nothing
ulimit -c unlimited 2>/dev/null || ulimit -c "$(ulimit -H -c)" 2>/dev/null
check "this shell's core limit is $(ulimit -c), not 0: a command that did not harden itself would keep it" \
    '[ "$(ulimit -c)" != 0 ]'
case $(uname -m) in aarch64) READ=63 ;; *) READ=0 ;; esac   # read(2)'s syscall number
core_limit() { awk '/^Max core file size/ { print $5 }' "/proc/$1/limits" 2>/dev/null; }
# try NAME SECRET COMMAND...: COMMAND reads SECRET from a fifo on stdin
try() {
    name=$1; secret=$2; shift 2
    rm -f "$tmp/fifo"; mkfifo "$tmp/fifo"
    "$@" <"$tmp/fifo" >"$tmp/$(echo "$name" | tr " " _).out" 2>"$tmp/$(echo "$name" | tr " " _).log" &
    pid=$!
    exec 7>"$tmp/fifo"       # opens the fifo: the command's open returns and it reads
    wait_pid=$pid
    # blocked in read(2) on standard input, i.e. past main(): the kernel's
    # /proc/PID/syscall names the call and its first argument
    wait_until "$name blocked reading its secret" - "[ \"\$(cut -d' ' -f1,2 /proc/$pid/syscall 2>/dev/null)\" = '$READ 0x0' ]"
    lim=$(core_limit $pid)
    wait_pid=""
    printf '%s\n' "$secret" >&7
    exec 7>&-
    wait $pid; rc=$?
    check "$name: no core dump while it holds the secret (core limit ${lim:-?}), then it works" '[ "$lim" = 0 ] && [ $rc -eq 0 ]'
}
try "kek import" 00112233445566778899AABBCCDDEEFF "$FERRY" -d "$tmp/dep" kek import peer-kek
try "se create" 000102030405060708090A0B0C0D0E0F "$FERRY" se create --image "$tmp/se.img"
try "hsa personalise" 0F0E0D0C0B0A09080706050403020100 \
    "$FERRY" hsa personalise --count 1 --out "$tmp/hsa" --kek-label hsa-idm --mac-version 1.0.4 --dev-eui-base 70B3D57ED00C0000
check "no sanitizer report" '! grep -l "ERROR: AddressSanitizer\|runtime error" "$tmp"/*.log 2>/dev/null'
echo "1..$n"
[ "$failed" -eq 0 ]
