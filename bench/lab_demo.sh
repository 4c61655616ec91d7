#!/bin/sh
# lab_demo.sh - `make bench`, the lab part: devices taken through the whole
# flow of `ferry demo` (bootstrap, claim, profile, uplinks, transfer, renew,
# command, fallback, settle; docs/demo.md) per second of wall time, for
# 1,000 and 10,000 devices, and where the time goes: each piece's share of
# the CPU seconds spent during the flow (SE, Join Servers, IDM, network
# servers, application servers, hub, the simulated radio). Then the scaling
# ratio, devices/s of each run over that of the first run of the same
# invocation (1.0 = linear). Prints figures; asserts nothing about them, but
# fails when a demo run fails.
#
#   BUILD=build [LAB_BENCH_DEVICES="1000 10000"] [LAB_BENCH_CLOCK=wall|simulated] [KEEP=1] bench/lab_demo.sh
#
# Under LAB_BENCH_CLOCK=simulated (docs/scale.md) it also prints, per run,
# activations per CPU-second of each piece (devices through the whole flow
# over that piece's CPU seconds), the CPU seconds a million devices would
# take at that rate, the simulated radio's own counters, and the frames and
# time on air per device against the minimum of bench/lab_scale.
#
# Each run is `ferry demo --devices N --json FILE` in a directory of its own
# under one temporary directory; KEEP=1 leaves it (the deployments, logs and
# reports) in place. Wall time of set-up (deployments, batch, servers
# started, elements loaded) is reported apart and is not in devices/s.
set -eu

BUILD=${BUILD:-build}
counts=${LAB_BENCH_DEVICES:-"1000 10000"}
clock=${LAB_BENCH_CLOCK:-wall}
ferry=${LAB_BENCH_FERRY:-$BUILD/bench/bin/ferry}
[ -x "$ferry" ] || { echo "lab_demo: $ferry is missing (make bench builds it)" >&2; exit 1; }
[ -n "$counts" ] || { echo "lab_demo: LAB_BENCH_DEVICES is empty" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-lab-bench.XXXXXX")
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT INT TERM

for n in $counts; do
    echo "lab demo: $n devices, the whole flow, $clock clock..." >&2
    run="$tmp/d$n"
    if ! "$ferry" demo --devices "$n" --clock "$clock" --dir "$run" --json "$tmp/report-$n.json" >"$tmp/demo-$n.log" 2>&1; then
        echo "lab_demo: ferry demo --devices $n failed:" >&2
        tail -20 "$tmp/demo-$n.log" >&2
        exit 1
    fi
done

# shellcheck disable=SC2086 # one argument per device count
python3 - "$tmp" $counts <<'PY'
import json, sys
runs = [json.load(open(f"{sys.argv[1]}/report-{n}.json")) for n in sys.argv[2:]]
groups = ["se", "join_server", "idm", "network_server", "application_server", "hub", "lab_radio"]
print(f"Lab, ferry demo ({runs[0].get('clock', 'wall')} clock): devices through the whole flow (bootstrap .. settle) per second of wall time")
print(f"  {'devices':34}" + "".join(f"{r['devices_total']:>14}" for r in runs))
print(f"  {'set-up s (not in devices/s)':34}" + "".join(f"{r['setup_s']:>14.1f}" for r in runs))
print(f"  {'flow s':34}" + "".join(f"{r['flow_s']:>14.1f}" for r in runs))
print(f"  {'devices/s':34}" + "".join(f"{r['devices_per_s']:>14.2f}" for r in runs))
print(f"  {'CPU s during the flow (all pieces)':34}" + "".join(f"{r['cpu']['total']:>14.1f}" for r in runs))
print("  where the time goes, share of that CPU time:")
for g in groups:
    print(f"    {g:32}" + "".join(f"{100 * r['cpu_share'][g]:>13.1f}%" for r in runs))
for r in runs:
    if r.get("clock") != "simulated":
        continue
    n = r["devices_total"]
    sim = r["simulated"]
    print(f"  simulated clock, {n} devices, {r['gateways']} gateways per network:")
    print(f"    {'activations per CPU-second':34}{'rate':>12}{'CPU s for 1,000,000':>22}")
    for g in ["idm", "join_server", "network_server", "application_server", "hub", "se", "lab_radio"]:
        cpu = r["cpu"][g]
        rate = n / cpu if cpu > 0 else float("inf")
        print(f"    {g:34}{rate:>12.0f}{1e6 / rate if rate > 0 else 0:>22.0f}")
    tot = r["cpu"]["total"]
    print(f"    {'all pieces':34}{n / tot:>12.1f}{1e6 * tot / n:>22.0f}")
    frames = sum(s["frames"] for s in r["steps"].values())
    print(f"    frames over the whole flow per device: {frames / n:.1f}; airtime per device: "
          f"{sim['AirtimeUpSeconds'] / n:.2f} s up, {sim['AirtimeDownSeconds'] / n:.2f} s down "
          f"(minimum of one activation, per DR: bench/lab_scale)")
    print(f"    radio: {sim['SimulatedSeconds']:.0f} simulated s, {sim['DutyCycleRefused']} downlinks refused by duty "
          f"cycle, {sim['TxBusyRefused']} by a busy transmitter, {sim['Collisions']} uplink copies collided, "
          f"{sim['Deaf']} unheard by a transmitting gateway, {sim['AnswersLate']} answers late")
base = runs[0]
for r in runs[1:]:
    ratio = r["devices_per_s"] / base["devices_per_s"] if base["devices_per_s"] > 0 else float("nan")
    print(f"  scaling: devices/s at {r['devices_total']} / at {base['devices_total']} = {ratio:.2f}"
          f"   (1.0 = linear; baseline the {base['devices_total']}-device run above)")
PY
