# wait.sh - waiting in the integration tests: on a condition, with one
# generous deadline, never on a sleep; and ports that no other test, run or
# outgoing connection can take. Sourced by common.sh, or directly by a test
# that has its own TAP helpers (`. "$here/lib/wait.sh"`). docs/testing.md
# says how it is used.
#
#   wait_until DESC SECONDS CONDITION
#                   evaluates the shell text CONDITION until it succeeds or
#                   SECONDS (scaled by FERRY_TEST_SLOW; "-" for the default
#                   WAIT_SECONDS) have passed. On a time-out it prints, as
#                   TAP comments, what it waited for and the last lines of
#                   every log given to watch_log, and returns 1. With
#                   wait_pid set, a process that exits meanwhile ends the
#                   wait at once, with the same report.
#   wait_http URL [PID]
#                   wait_until the URL answers (any HTTP status), with PID
#                   (the server's) watched.
#   watch_log FILE...
#                   logs shown when a wait times out (a folder: each *.log
#                   in it).
#   show_logs       prints them now, as TAP comments.
#   port, uport     a TCP or UDP port reserved for this test run (the same
#                   allocator; a port is free for both).
#   scaled SECONDS  SECONDS times FERRY_TEST_SLOW, rounded up.
#
# Why ports are reserved rather than found by binding port 0 and closing:
# a port found that way is in the kernel's ephemeral range, and any
# outgoing connection on the machine (curl, a server calling a Join
# Server) may take it as its source port before the server binds it; two
# calls may even return the same port. Reserved ports come from below the
# ephemeral range, which connect() never hands out, and each is a
# directory made with mkdir (atomic) under a shared folder, so two tests
# or two runs of the suite at once never get the same one. A reservation
# names the shell that made it and goes when that shell exits; one left by
# a shell that was killed is taken back by the next allocator that finds
# its owner gone.

FERRY_TEST_SLOW=${FERRY_TEST_SLOW:-1}
WAIT_SECONDS=${WAIT_SECONDS:-60}
WAIT_LOG_LINES=${WAIT_LOG_LINES:-15}
wait_logs=""
wait_pid=""

scaled() { awk -v s="$1" -v f="$FERRY_TEST_SLOW" 'BEGIN { v = s * f; printf "%d", (v == int(v)) ? v : int(v) + 1 }'; }

watch_log() { for f in "$@"; do wait_logs="$wait_logs $f"; done; }

show_log() {
    if [ -f "$1" ]; then
        echo "#   --- last $WAIT_LOG_LINES lines of $(basename "$1"):"
        tail -n "$WAIT_LOG_LINES" "$1" | sed 's/^/#   | /'
    else
        echo "#   --- $(basename "$1"): no such file"
    fi
}

show_logs() {
    for f in $wait_logs; do
        if [ -d "$f" ]; then
            for g in "$f"/*.log; do [ -f "$g" ] && show_log "$g"; done
        else
            show_log "$f"
        fi
    done
}

wait_until() {
    w_desc=$1
    w_secs=$2
    [ "$w_secs" = - ] && w_secs=$WAIT_SECONDS
    w_secs=$(scaled "$w_secs")
    w_end=$(($(date +%s) + w_secs))
    w_nap=0.02
    while :; do
        if eval "$3"; then return 0; fi
        if [ -n "$wait_pid" ] && ! kill -0 "$wait_pid" 2>/dev/null; then
            echo "# timed out: process $wait_pid exited while waiting for: $w_desc"
            show_logs
            return 1
        fi
        if [ "$(date +%s)" -ge "$w_end" ]; then
            echo "# timed out after $w_secs s (FERRY_TEST_SLOW=$FERRY_TEST_SLOW) waiting for: $w_desc"
            show_logs
            return 1
        fi
        sleep "$w_nap"
        # back off to a quarter second: quick when things are quick, and
        # a slow wait does not spin
        case $w_nap in 0.02) w_nap=0.05 ;; 0.05) w_nap=0.1 ;; *) w_nap=0.25 ;; esac
    done
}

wait_http() {
    w_saved=$wait_pid
    [ $# -gt 1 ] && wait_pid=$2
    wait_until "$1 answering" - "curl -sk -o /dev/null --max-time 5 '$1'"
    w_rc=$?
    wait_pid=$w_saved
    return $w_rc
}

port_dir="${TMPDIR:-/tmp}/ferry-test-ports"

port_bindable() {
    node -e '
const p = Number(process.argv[1]);
const t = require("net").createServer();
t.on("error", () => process.exit(1));
t.listen(p, "127.0.0.1", () => {
  const u = require("dgram").createSocket("udp4");
  u.on("error", () => process.exit(1));
  u.bind(p, "127.0.0.1", () => { u.close(); t.close(); });
});' "$1" 2>/dev/null
}

# Takes back the reservations of shells that are gone (killed before their
# exit trap ran), with mv, which only one of several racing allocators wins.
ports_reclaim() {
    for d in "$port_dir"/[0-9]*; do
        [ -d "$d" ] || continue
        p_owner=$(cat "$d/owner" 2>/dev/null)
        if [ -n "$p_owner" ] && ! kill -0 "$p_owner" 2>/dev/null; then
            p_stale="$port_dir/.stale.$$.$(basename "$d")"
            mv "$d" "$p_stale" 2>/dev/null && rm -rf "$p_stale"
        fi
    done
    return 0
}

port() {
    mkdir -p "$port_dir" 2>/dev/null
    ports_reclaim
    p_lo=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
    [ -n "$p_lo" ] && [ "$p_lo" -gt 12000 ] || p_lo=32768
    p_try=0
    while [ $p_try -lt 500 ]; do
        p_try=$((p_try + 1))
        p=$((10000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % (p_lo - 10000)))
        if mkdir "$port_dir/$p" 2>/dev/null; then
            echo $$ >"$port_dir/$p/owner"
            if port_bindable "$p"; then
                echo "$p"
                return 0
            fi
            rm -rf "$port_dir/$p"
        fi
    done
    echo "port: no free port below $p_lo after $p_try tries" >&2
    return 1
}
uport() { port; }

# Called at exit (common.sh's cleanup does): the reservations of this shell.
release_ports() {
    for d in "$port_dir"/*; do
        [ -f "$d/owner" ] && [ "$(cat "$d/owner" 2>/dev/null)" = "$$" ] && rm -rf "$d"
    done
    return 0
}
