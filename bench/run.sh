#!/usr/bin/env bash
# The project's main job: build libcmap in Release and run the bundled
# benchmark on this machine (every backend and peer, 3 repetitions; budget 80 s).
# Arguments go to cmap-bench (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
tests/install-deps.sh bench
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DCMAP_BUILD_TESTS=OFF \
  -DCMAP_BUILD_BENCH=ON >build-release.log 2>&1 || { cat build-release.log; exit 1; }
cmake --build build-release -j"$(nproc)" >>build-release.log 2>&1 \
  || { tail -50 build-release.log; exit 1; }
exec build-release/bench/cmap-bench "$@"
