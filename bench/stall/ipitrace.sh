#!/usr/bin/env bash
# ipitrace.sh - the cross-CPU calls of one cmap-stall run (Linux, root,
# tracefs): how many TLB shootdowns and function-call IPIs each thread
# sent, and the slowest waits from a send to the target CPU's handler.
# docs/design.md, "Fresh pages", was traced with it.
#
#   bench/stall/ipitrace.sh BUILD BACKEND [off|on]     (hooks, default off)
#
# Traces ipi:ipi_send_cpu, irq_vectors:call_function_single_entry and
# tlb:tlb_flush around `cmap-stall --backends BACKEND --hooks H
# --repetitions 1`, then prints cmap-stall's line and the summary.  The
# raw trace goes to /tmp/ipitrace.$$ (hundreds of MB; removed at exit).
set -euo pipefail
T=/sys/kernel/tracing
build=$1 be=$2 hooks=${3:-off}
[ -w $T/trace ] || { echo "ipitrace: needs root and tracefs at $T" >&2; exit 2; }
raw=/tmp/ipitrace.$$
trap 'echo 0 > $T/tracing_on; echo > $T/set_event; echo > $T/trace; rm -f $raw' EXIT
echo 0 > $T/tracing_on
echo > $T/trace
echo 65536 > $T/buffer_size_kb
printf '%s\n' ipi:ipi_send_cpu irq_vectors:call_function_single_entry \
  tlb:tlb_flush > $T/set_event
echo 1 > $T/tracing_on
"$build/bench/stall/cmap-stall" --backends "$be" --hooks "$hooks" --repetitions 1 | grep '^run'
echo 0 > $T/tracing_on
cat $T/trace > $raw
python3 - "$raw" <<'PY'
import re, sys, collections
line_re = re.compile(r'^\s*(.+?)-(\d+)\s+\[(\d+)\]\s+\S+\s+([\d.]+):\s+(\S+?):\s*(.*)$')
pending, waits = {}, []
shoot, sends = collections.Counter(), collections.Counter()
for line in open(sys.argv[1]):
    m = line_re.match(line)
    if not m:
        continue
    comm, pid, cpu, ts, ev, rest = m.groups()
    cpu, ts, who = int(cpu), float(ts), comm + '-' + pid
    if ev == 'tlb_flush' and rest.endswith('(3)'):   # local MM shootdown
        shoot[who] += 1
    elif ev == 'ipi_send_cpu' and 'callback=0x0' not in rest:
        site = re.search(r'callsite=([^+ ]+)', rest).group(1)
        target = int(re.search(r'cpu=(\d+)', rest).group(1))
        sends[(who, site)] += 1
        pending.setdefault(target, []).append((ts, who, site))
    elif ev == 'call_function_single_entry':
        for t0, w, site in pending.pop(cpu, []):
            waits.append((ts - t0, w, site, cpu))
print('TLB shootdowns started:', ', '.join('%s %d' % kv for kv in shoot.most_common(4)) or 'none')
print('function-call IPIs sent:', ', '.join('%s %s %d' % (w, s, n) for (w, s), n in sends.most_common(5)) or 'none')
waits.sort(reverse=True)
print('slowest send -> handler:', ', '.join('%.3f ms (%s, %s, to cpu %d)' % (d * 1e3, w, s, c) for d, w, s, c in waits[:5]) or 'none')
print('sends waiting over 0.2 ms: %d of %d' % (sum(d > 2e-4 for d, *_ in waits), len(waits)))
PY
