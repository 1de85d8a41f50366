#!/usr/bin/env bash
# Format the C sources with .clang-format (ck's BSD style).
#   tests/format.sh           reformat every tracked .c and .h in place
#   tests/format.sh --check   change nothing; list the files that differ
#                             and exit 1 if any does (CI runs this)
set -euo pipefail
cd "$(dirname "$0")/.."
fmt=${CLANG_FORMAT:-clang-format}
mapfile -t files < <(git ls-files '*.c' '*.h' 2>/dev/null || find include src tests bench examples -name '*.[ch]')
if [ "${1:-}" = --check ]; then
  bad=()
  for f in "${files[@]}"; do
    "$fmt" --style=file "$f" | cmp -s - "$f" || bad+=("$f")
  done
  if [ ${#bad[@]} -ne 0 ]; then
    echo "not formatted with .clang-format (run tests/format.sh): ${bad[*]}" >&2
    exit 1
  fi
  echo "=== format: ${#files[@]} files match .clang-format"
else
  "$fmt" --style=file -i "${files[@]}"
fi
