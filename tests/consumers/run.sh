#!/usr/bin/env bash
# The three ways a user consumes libcmap, each from a relocated install or
# from the source tree, as CI runs them (tests/run.sh):
#   1. find_package(cmap) from an install moved to another prefix;
#   2. pkg-config from the same moved install: shared, and --static against
#      the archive alone; the flags must carry no -D of a dependency;
#   3. add_subdirectory with cmocka hidden (as if not installed): no tests,
#      bench or -Werror are built, and installing the parent installs
#      nothing of libcmap.
#   tests/consumers/run.sh WORKDIR
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
here=$src/tests/consumers
work=${1:?usage: run.sh WORKDIR}
rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)
log=$work/log
jobs=$(nproc)
step() { echo "--- [consumers] $*"; }
fail() { echo "FAIL [consumers] $*"; tail -40 "$log"; exit 1; }

step "install to a staging prefix, then move it"
cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DCMAP_BUILD_TESTS=OFF \
  -DCMAP_BUILD_BENCH=OFF -DCMAP_BUILD_EXAMPLES=OFF >>"$log" 2>&1 || fail configure
cmake --build "$work/build" -j"$jobs" >>"$log" 2>&1 || fail build
cmake --install "$work/build" --prefix "$work/stage/opt/cmap" >>"$log" 2>&1 || fail install
mv "$work/stage/opt/cmap" "$work/moved"
prefix=$work/moved
libdir=$(ls -d "$prefix"/lib*/ | head -1)
libdir=${libdir%/}
installed=$(cd "$prefix" && find . -type f -o -type l | sort | tr '\n' ' ')
echo "installed: $installed"
case "$installed" in *bin/*|*share/*) fail "install put more than the library: $installed" ;; esac

step "1. find_package(cmap) from $prefix"
cmake -S "$here/find_package" -B "$work/fp" -DCMAKE_PREFIX_PATH="$prefix" >>"$log" 2>&1 || fail "find_package configure"
cmake --build "$work/fp" >>"$log" 2>&1 || fail "find_package build"
"$work/fp/consumer_shared" || fail "find_package shared consumer"
"$work/fp/consumer_static" || fail "find_package static consumer"

step "2. pkg-config from $prefix"
export PKG_CONFIG_PATH=$libdir/pkgconfig
cflags=$(pkg-config --cflags cmap)
read -r -a words <<<"$cflags"
[ "${#words[@]}" -eq 1 ] && [ "${words[0]#-I}" != "${words[0]}" ] \
  && [ "$(realpath "${words[0]#-I}")" = "$(realpath "$prefix/include")" ] \
  || fail "pkg-config --cflags: '$cflags', want one -I of $prefix/include"
cc -o "$work/pc_shared" "$here/consumer.c" $(pkg-config --cflags --libs cmap) >>"$log" 2>&1 || fail "pkg-config shared build"
LD_LIBRARY_PATH=$libdir "$work/pc_shared" || fail "pkg-config shared consumer"
# Static: a copy of the install without the shared library, so that the
# linker can only take the archive and its private dependencies.
cp -a "$prefix" "$work/static"
rm -f "$work/static/${libdir#$prefix/}"/libcmap.so*
export PKG_CONFIG_PATH=$work/static/${libdir#$prefix/}/pkgconfig
cc -o "$work/pc_static" "$here/consumer.c" $(pkg-config --cflags --libs --static cmap) >>"$log" 2>&1 || fail "pkg-config --static build"
"$work/pc_static" || fail "pkg-config static consumer"
if ldd "$work/pc_static" | grep -q libcmap; then fail "static consumer links libcmap.so"; fi
unset PKG_CONFIG_PATH

step "3. add_subdirectory without cmocka"
cmake -S "$here/subdir" -B "$work/sub" -DCMAP_SOURCE_DIR="$src" \
  -DCMAKE_DISABLE_FIND_PACKAGE_cmocka=TRUE >>"$log" 2>&1 || fail "add_subdirectory configure"
cmake --build "$work/sub" -j"$jobs" >>"$log" 2>&1 || fail "add_subdirectory build"
"$work/sub/consumer" || fail "add_subdirectory consumer"
for t in test_contract cmap-bench cmap_example_quickstart; do
  if find "$work/sub/cmap" -name "$t" -type f | grep -q .; then fail "subproject built $t"; fi
done
cmake --install "$work/sub" --prefix "$work/sub-install" >>"$log" 2>&1 || fail "parent install"
extra=$(cd "$work/sub-install" && find . -type f | grep -v '^./bin/consumer$' || true)
[ -z "$extra" ] || fail "installing the parent installed libcmap files: $extra"
echo "=== consumers: find_package, pkg-config (shared, --static), add_subdirectory: passed"
