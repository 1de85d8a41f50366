#!/usr/bin/env bash
# The "lookups at the floor" table: each cell's ratio to the floor table's
# 1-thread figure on the same workload, as the median of REPS runs of
# cmap-bench, one repetition each (this script does the repeating; each
# run measures every target in turn, so the runs interleave the
# targets), with the min and max beside it.
#   bench/floor-table.sh [BUILD_DIR] [REPS] [SECONDS]   (build-release, 5, 1)
set -euo pipefail
build=${1:-build-release}
reps=${2:-5}
secs=${3:-1}
bin=$build/bench/cmap-bench
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for r in $(seq "$reps"); do
  echo "run $r/$reps" >&2
  "$bin" --quiet --repetitions 1 --seconds "$secs" --backend plain,sharded,lockfree,floor \
    --mix read-only,read-mostly,churn,growth --keys 1M --threads 1,2,16 \
    --json="$out/a$r.json" >/dev/null 2>&1
  "$bin" --quiet --repetitions 1 --seconds "$secs" --backend plain,sharded,lockfree,floor \
    --mix read-only --keys 10K --threads 1 --json="$out/b$r.json" >/dev/null 2>&1
  "$bin" --quiet --repetitions 1 --seconds "$secs" --backend plain,sharded,lockfree,floor \
    --mix read-only --keys 1M --threads 1,2 --batch 32 \
    --json="$out/c$r.json" >/dev/null 2>&1
done
python3 - "$out" "$reps" <<'PY'
import json, sys, statistics, glob, collections
out, reps = sys.argv[1], int(sys.argv[2])
cells = collections.defaultdict(list)
bpe = collections.defaultdict(list)
for f in sorted(glob.glob(out + "/*.json")):
    tag = f.split("/")[-1][0]
    for line in open(f):
        line = line.strip()
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        key = (tag, r["workload"], r["keys"], r["threads"], r["backend"])
        if r.get("ratio_to_floor") is not None:
            cells[key].append(r["ratio_to_floor"])
        if r.get("bytes_per_entry") is not None:
            bpe[key].append(r["bytes_per_entry"])
name = {"a": "", "b": "", "c": " batch 32"}
print("| workload | keys | threads | target | x floor (median) | min-max | runs | B/entry |")
print("|---|---|---|---|---|---|---|---|")
for key in sorted(cells):
    v = cells[key]
    b = bpe.get(key)
    print("| %s%s | %s | %s | %s | %.2f | %.2f-%.2f | %d | %s |" % (
        key[1], name[key[0]], key[2], key[3], key[4], statistics.median(v),
        min(v), max(v), len(v), "%.1f" % statistics.median(b) if b else "-"))
PY
