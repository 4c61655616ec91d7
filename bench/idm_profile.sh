#!/bin/sh
# idm_profile.sh - `make bench`, Identity Manager part 2: customer profiles
# prepared per second (idm_profile_prepare: root keys generated in the token,
# KeyEnvelopes for the customer JS, the SE's MLS session, keys wrapped under
# its WrapDown, one INSTALL (activating at once) sealed; nothing posted or stored), beside
# the PKCS#11 floor of the same token calls measured in the same run, for
# LoRaWAN 1.0.4 and 1.1 SEs. Prints figures and ratios; asserts nothing
# about them (only that the steps succeed).
#
#   BUILD=build [IDM_PROFILE_SECONDS=3] [IDM_PROFILE_SES=200] [IDM_PROFILE_RECYCLE=2000] [KEEP=1] bench/idm_profile.sh
#
# KEEP=1 leaves the temporary deployment (and results.jsonl, the raw figures) in place.
#
# A temporary deployment made the product's way: `ferry init`, the HSA-IDM
# and customer KEKs imported, IDM_PROFILE_SES SEs of each MAC version
# personalised by `ferry hsa personalise` and imported with `ferry idm
# import`. bench/idm_profile.c (built by make bench) then opens its token
# and database and goes round those SEs; both loops reopen the token every
# IDM_PROFILE_RECYCLE profiles, untimed (SoftHSM2 frees destroyed objects
# only at C_Finalize), so memory stays bounded.
set -eu

BUILD=${BUILD:-build}
seconds=${IDM_PROFILE_SECONDS:-3}
ses=${IDM_PROFILE_SES:-200}
recycle=${IDM_PROFILE_RECYCLE:-2000}
ferry=${IDM_PROFILE_FERRY:-$BUILD/bench/bin/ferry}
prof=${IDM_PROFILE:-$BUILD/bench/bench/idm_profile}
[ -x "$ferry" ] || { echo "idm_profile: $ferry is missing (make bench builds it)" >&2; exit 1; }
[ -x "$prof" ] || { echo "idm_profile: $prof is missing (make bench builds it)" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-idm-profile.XXXXXX")
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT INT TERM
dep="$tmp/idm"
hex16() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }
hsakek=$(hex16)
{
    "$ferry" init "$dep" --join-eui 70B3D57ED0000000 --listen 127.0.0.1:0 &&
        echo "$hsakek" | "$ferry" -d "$dep" kek import hsa-idm &&
        hex16 | "$ferry" -d "$dep" kek import cust-kek &&
        echo "$hsakek" | "$ferry" hsa personalise --count "$ses" --out "$tmp/hsa10" --kek-label hsa-idm \
            --mac-version 1.0.4 --dev-eui-base 70B3D57ED0040000 &&
        echo "$hsakek" | "$ferry" hsa personalise --count "$ses" --out "$tmp/hsa11" --kek-label hsa-idm \
            --mac-version 1.1 --dev-eui-base 70B3D57ED0050000 &&
        "$ferry" -d "$dep" idm import "$tmp/hsa10/batch.jsonl" &&
        "$ferry" -d "$dep" idm import "$tmp/hsa11/batch.jsonl"
} >"$tmp/setup.log" 2>&1 || { echo "idm_profile: setup failed:" >&2; tail -20 "$tmp/setup.log" >&2; exit 1; }
hsakek=

echo "idm profiles: $ses SEs per MAC version, $seconds s per figure..." >&2
out="$tmp/results.jsonl"
: >"$out"
for v in 10:70B3D57ED0040000 11:70B3D57ED0050000; do
    base=${v#*:}
    "$prof" count "$dep" cust-kek "$base" 10 >>"$out"
    "$prof" run "$dep" cust-kek "$base" "$ses" "$seconds" "$recycle" >>"$out"
done

python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {(r["mode"], r["mac"]): r for r in rows}
print("Identity Manager, customer profiles prepared (keys generated, wrapped for the SE and for the customer JS)")
print(f"  {'what':54} {'profiles/s':>10} {'us/profile':>10}")
for mac in ("1.0.4", "1.1"):
    r, c = by[("run", mac)], by[("count", mac)]
    f, p = r["floor"], r["prepare"]
    calls = c["floor"]["total"]
    same = "the same in both" if c["floor"] == c["prepare"] else f"product {c['prepare']['total']:g}: DIFFERENT"
    if c.get("session_objects_left", 0) != 0:
        same += f", {c['session_objects_left']} session objects left behind"
    print(f"  {mac} SEs ({'NwkKey' if mac != '1.1' else 'NwkKey + AppKey'}), {calls:g} PKCS#11 calls per profile ({same})")
    print(f"    {'PKCS#11 floor (same calls, no JSON, MLS code or DB)':52} {f['per_s']:>10.0f} {f['us_per_op']:>10.1f}")
    print(f"    {'idm_profile_prepare (+ JSON, MLS, KEK read, wipes)':52} {p['per_s']:>10.0f} {p['us_per_op']:>10.1f}")
    print(f"    prepare / PKCS#11 floor = {p['per_s']/f['per_s']:.2f}   peak RSS {r['peak_rss_kb']} KiB ({r['ses']} SEs, loops"
          f" interleaved, token reopened every {r['recycle']} profiles untimed: {r['reopens']} times)")
PY
