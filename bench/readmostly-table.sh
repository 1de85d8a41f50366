#!/usr/bin/env bash
# The figures of issue 13 (the readmostly backend), as medians of REPS runs
# of cmap-bench, each run under flock /tmp/libcmap-bench.lock:
#   reads      read-only and 99/1 (--write-pct 1) at 1M keys, 1/2/16
#              threads: x plain (1 thread) and x floor, same run;
#   writes     churn (delete + insert) at 1M keys, 1 and 2 threads: ns per
#              operation of rwlock, lockfree, readmostly;
#   crossover  read-mostly at --write-pct P for each P in PCTS, 1M keys,
#              2 threads: Mops/s of readmostly, lockfree, sharded, and the
#              first P where readmostly is no longer ahead of both.
# Every Mops/s is the median over the runs with the min-max beside it.
#   bench/readmostly-table.sh [BUILD_DIR] [REPS] [SECONDS] [PCTS]
#   (build-release, 3, 1, "1 2 5 10 15 20 30 50")
set -euo pipefail
build=${1:-build-release}
reps=${2:-3}
secs=${3:-1}
pcts=${4:-1 2 5 10 15 20 30 50}
bin=$build/bench/cmap-bench
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
run() { flock /tmp/libcmap-bench.lock "$bin" --quiet --repetitions 1 --seconds "$secs" "$@" >/dev/null 2>&1; }
for r in $(seq "$reps"); do
  echo "run $r/$reps" >&2
  run --backend plain,readmostly,floor --mix read-only,read-mostly \
    --write-pct 1 --keys 1M --threads 1,2,16 --json="$out/r$r.json"
  run --backend rwlock,lockfree,readmostly --mix churn --keys 1M \
    --threads 1,2 --json="$out/w$r.json"
  for p in $pcts; do
    run --backend readmostly,lockfree,sharded --mix read-mostly \
      --write-pct "$p" --keys 1M --threads 2 --json="$out/c$r-$p.json"
  done
done
python3 - "$out" <<'PY'
import json, sys, statistics, glob, collections
out = sys.argv[1]
rows = collections.defaultdict(list)
for f in glob.glob(out + "/*.json"):
    tag = f.split("/")[-1][0]
    for line in open(f):
        line = line.strip()
        if line.startswith("{"):
            r = json.loads(line)
            rows[(tag, r["workload"], r.get("write_pct"), r["threads"],
                  r["backend"])].append(r)
med = lambda v: statistics.median(v)
# A figure as "median (min-max)" over the runs.
mr = lambda v: "%.2f (%.2f-%.2f)" % (med(v), min(v), max(v))
print("reads (1M keys; x plain = over plain at 1 thread, same run)")
print("| mix | threads | target | Mops/s | x plain | x floor | runs |")
print("|---|---|---|---|---|---|---|")
for k in sorted(x for x in rows if x[0] == "r"):
    v = rows[k]
    mix = k[1] if k[2] is None else "%s %g%% writes" % (k[1], k[2])
    print("| %s | %d | %s | %s | %s | %s | %d |" % (mix, k[3], k[4],
        mr([r["mops"] for r in v]),
        "%.2f" % med([r["ratio_to_plain"] for r in v]) if v[0].get("ratio_to_plain") is not None else "-",
        "%.2f" % med([r["ratio_to_floor"] for r in v]) if v[0].get("ratio_to_floor") is not None else "-",
        len(v)))
print("\nwrites (churn: delete + insert, 1M keys)")
print("| threads | target | Mops/s | ns/op | runs |")
print("|---|---|---|---|---|")
for k in sorted(x for x in rows if x[0] == "w"):
    v = [r["mops"] for r in rows[k]]
    print("| %d | %s | %s | %.0f | %d |" % (k[3], k[4], mr(v), 1e3 / med(v), len(v)))
print("\ncrossover (read-mostly, 1M keys, 2 threads; Mops/s medians)")
print("| write % | readmostly | lockfree | sharded | readmostly ahead |")
print("|---|---|---|---|---|")
cross = None
for p in sorted({x[2] for x in rows if x[0] == "c"}):
    v = {b: [r["mops"] for r in rows[("c", "read-mostly", p, 2, b)]]
         for b in ("readmostly", "lockfree", "sharded")
         if ("c", "read-mostly", p, 2, b) in rows}
    others = [b for b in v if b != "readmostly"]
    ahead = med(v["readmostly"]) > max(med(v[b]) for b in others)
    # Beyond the spread: readmostly's lowest run above every other's highest.
    clear = min(v["readmostly"]) > max(max(v[b]) for b in others)
    if not ahead and cross is None:
        cross = p
    print("| %g | %s | %s | %s | %s |" % (p, mr(v["readmostly"]),
        mr(v["lockfree"]) if "lockfree" in v else "-", mr(v["sharded"]),
        ("yes" if clear else "yes, within the ranges") if ahead else "no"))
print("\ncrossover: %s" % ("readmostly ahead at every share run" if cross is None
      else "readmostly stops beating lockfree and sharded at %g%% writes" % cross))
PY
