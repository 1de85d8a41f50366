#!/usr/bin/env bash
# The charts of docs/bench/ from one default run of cmap-bench (3
# repetitions per cell, interleaved; medians with the range as error bars):
#   bench/charts.sh [BUILD_DIR] [OUTDIR]      (build-release, docs/bench)
# writes OUTDIR/default-run.csv, OUTDIR/default-run.txt (the run's table
# and recommendations) and the SVGs of bench/plot.gp.  Run it on a quiet
# machine: the run is under flock /tmp/libcmap-bench.lock, so two runs
# never time at once, but other work on the machine widens every range.
set -euo pipefail
build=${1:-build-release}
out=${2:-docs/bench}
bin=$build/bench/cmap-bench
mkdir -p "$out"
rm -f "$out"/*.svg
flock /tmp/libcmap-bench.lock "$bin" --csv="$out/default-run.csv" >"$out/default-run.txt"
gnuplot -e "csv='$out/default-run.csv'; outdir='$out'" "$(dirname "$0")/plot.gp"
ls "$out"
