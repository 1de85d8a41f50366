#!/usr/bin/env bash
# Instructions per call of each operation on every backend, by callgrind.
#   bench/opcost/run.sh [BUILD_DIR] [N]     (default build-release, 200000)
set -euo pipefail
build=${1:-build-release}
n=${2:-200000}
bin=$build/bench/opcost/cmap-opcost
list=$("$bin" --list)
printf '%-10s' backend
for f in op_load op_miss op_store op_add op_load_or_store op_load_batch; do printf '%18s' "$f"; done
echo
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for b in $list; do
  printf '%-10s' "$b"
  for f in op_load op_miss op_store op_add op_load_or_store op_load_batch; do
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" --toggle-collect="$f" \
      "$bin" "$b" "$n" >/dev/null 2>"$tmp/err"
    ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$tmp/cg")
    printf '%18s' "$(awk -v ir="$ir" -v n="$n" 'BEGIN {printf "%.1f", ir / n}')"
  done
  echo
done
