#!/usr/bin/env bash
# Install the Debian 12 packages libcmap needs, if any is missing.
#   tests/install-deps.sh [build|test|bench]   (default: test)
# build: compiler, CMake, ck, pkg-config.  test: + cmocka, clang (the
# fuzzer and the second compiler), clang-format (the format check),
# valgrind, and the packages of the optional backends and their servers
# (LMDB, hiredis, redis-server), and prometheus (promtool checks the
# metrics exposition).  bench: + the peers (liburcu, RocksDB, SQLite,
# GLib) and gnuplot.  Runs apt-get only when something is missing, and
# needs root for that (it uses sudo when not root and sudo exists).
set -euo pipefail
what=${1:-test}
pkgs=(build-essential cmake pkg-config libck-dev)
case "$what" in
  build) ;;
  test) pkgs+=(libcmocka-dev clang clang-format libclang-rt-14-dev valgrind liburcu-dev libglib2.0-dev
              liblmdb-dev libhiredis-dev redis-server redis-tools librocksdb-dev libsqlite3-dev
              prometheus) ;;
  bench) pkgs+=(liburcu-dev libglib2.0-dev gnuplot-nox librocksdb-dev libsqlite3-dev) ;;
  *) echo "usage: $0 [build|test|bench]" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
