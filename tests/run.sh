#!/usr/bin/env bash
# The whole test suite: the README's test command, and what CI runs.
#
#   tests/run.sh            all four builds below
#   tests/run.sh quick      the normal build only
#
# 0. The format check (tests/format.sh --check).
# 1. gcc, RelWithDebInfo: every test (contract, stress, fault, death,
#    lincheck, fuzz replay, smoke; helgrind and DRD over the lock-based backends,
#    whose locks carry valgrind annotations in this build).
# 2. clang, -Werror: the library, tests, benchmark and fuzzer build
#    warning-free; the contract tests run.
# 3. AddressSanitizer + UndefinedBehaviorSanitizer (gcc): contract, fault,
#    fuzz-corpus replay and death tests.
# 4. ThreadSanitizer (gcc, CK_USE_CC_BUILTINS=1, halt_on_error=1): every
#    concurrent test (label stress).
# 5. The three consumers of an install moved to another prefix
#    (tests/consumers/run.sh): find_package, pkg-config (shared and
#    --static), add_subdirectory without cmocka.
# Each build goes to build-ci/<name>.  Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-all}
tests/install-deps.sh test
jobs=$(nproc)
root=build-ci
t0=$(date +%s)

build() { # name, then cmake arguments
  local name=$1; shift
  echo "=== [$name] configure and build"
  cmake -S . -B "$root/$name" -DCMAP_BUILD_BENCH=ON -DCMAP_REQUIRE_ALL=ON "$@" >"$root-$name.log" 2>&1 \
    || { cat "$root-$name.log"; return 1; }
  cmake --build "$root/$name" -j"$jobs" >>"$root-$name.log" 2>&1 \
    || { tail -50 "$root-$name.log"; return 1; }
}
run_ctest() { # name, then ctest arguments
  local name=$1; shift
  echo "=== [$name] ctest $*"
  ctest --test-dir "$root/$name" --output-on-failure -j"$jobs" "$@"
  # What the verification tests covered (their SUMMARY lines).
  grep -h '^SUMMARY' "$root/$name/Testing/Temporary/LastTest.log" 2>/dev/null | sed "s/^/[$name] /" || true
}

mkdir -p "$root"
# The maps of persistent backends go to tmpfs (fsync is cheap there), never
# into the user's home; removed when the run ends.
CMAP_TEST_DIR=$(mktemp -d /dev/shm/cmap-test.XXXXXX 2>/dev/null || mktemp -d)
export CMAP_TEST_DIR
redis_dir=
cleanup() {
  rm -rf "$CMAP_TEST_DIR"
  [ -z "$redis_dir" ] || tests/redis/servers.sh stop "$redis_dir"
}
trap cleanup EXIT
tests/format.sh --check
# The redis backend's servers for every build's remote tests, on free
# loopback ports (tests/redis/servers.sh): one server, and a cluster of 3
# masters and 3 replicas for the gcc build's test_contract_cluster;
# stopped at exit, failed or not (test_remote and test_failover start and
# stop servers of their own, which they kill).
# Every build is configured with CMAP_REQUIRE_ALL, so that no backend, and
# no suite that needs one, drops out unnoticed; likewise the servers.
command -v redis-server >/dev/null || {
  echo "redis-server is missing (tests/install-deps.sh test installs it)" >&2
  exit 1
}
redis_dir=$(mktemp -d /tmp/libcmap-redis.XXXXXX)
eval "$(tests/redis/servers.sh start "$redis_dir" both)"
# the tests' private servers go under it too, so that the exit trap
# stops them even after a test was killed by its timeout
CMAP_TEST_REDIS_DIR=$redis_dir
export CMAP_TEST_REDIS CMAP_TEST_REDIS_CLUSTER CMAP_TEST_REDIS_DIR
build gcc -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAP_HELGRIND=ON
run_ctest gcc
if [ "$mode" != quick ]; then
  build clang -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo
  # (not the remote backend's servers: its code built warning-free is
  # what this build adds; gcc, ASan and TSan run its tests)
  (unset CMAP_TEST_REDIS CMAP_TEST_REDIS_CLUSTER; run_ctest clang -L contract)
  build asan -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=Debug -DCMAP_SANITIZE=address
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  # the remote backend in the contract tests only (its whole API and
  # batches; the fault suites' remote share is a minute more)
  run_ctest asan -L contract
  (unset CMAP_TEST_REDIS CMAP_TEST_REDIS_CLUSTER; run_ctest asan -L 'fault|fuzz|death' -LE contract)
  unset ASAN_OPTIONS UBSAN_OPTIONS
  build tsan -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAP_SANITIZE=thread
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    run_ctest tsan -L stress
  tests/consumers/run.sh "$root/consumers"
fi
echo "=== all test builds passed in $(( $(date +%s) - t0 )) s"
