#!/bin/sh
# demo_sim.sh - demo.sh under the simulated-time radio: `ferry demo --devices
# 200 --loss 0.1 --clock simulated`, every check of demo.sh plus the
# simulated clock's own counters (docs/scale.md). The 10,000-device run is
# make bench's (bench/lab_demo.sh), not make check's.
here=$(cd "$(dirname "$0")" && pwd)
DEMO_CLOCK=simulated exec sh "$here/demo.sh"
