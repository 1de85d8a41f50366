#!/bin/sh
# fuzz.sh - run the differential libFuzzer target for longer, by hand.
#
#   tests/verify/fuzz.sh [SECONDS [extra libFuzzer flags...]]
#
# Builds build-fuzz/ with clang (the target needs -fsanitize=fuzzer), copies
# the committed seed corpus into build-fuzz/corpus-work/ (the committed
# corpus is never written), and fuzzes for SECONDS (default 600) with
# ASan+UBSan.  A crash leaves crash-* in build-fuzz/; replay it with
#   build-fuzz/tests/verify/fuzz_diff_fuzzer build-fuzz/crash-...
# or with the gcc-friendly driver:
#   build-verify/tests/verify/fuzz_replay DIR_WITH_THE_FILE 0
# To grow the committed corpus with inputs that add coverage (keep it small):
#   build-fuzz/tests/verify/fuzz_diff_fuzzer -merge=1 tests/verify/corpus \
#       build-fuzz/corpus-work
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${1:-600}
[ $# -gt 0 ] && shift
build=$root/build-fuzz
jobs=${FUZZ_JOBS:-1}

CC=clang cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAP_BUILD_BENCH=OFF -DCMAP_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" -j2 --target fuzz_diff_fuzzer
mkdir -p "$build/corpus-work"
cp -n "$here/corpus/"* "$build/corpus-work/" 2>/dev/null || true
cd "$build"
exec "$build/tests/verify/fuzz_diff_fuzzer" -max_total_time="$secs" \
    -max_len=2048 -print_final_stats=1 -jobs="$jobs" -workers="$jobs" \
    "$@" "$build/corpus-work"
