#!/bin/sh
# build_te_scanner.sh - build a benchmark peer: ThreatExchange's PDQ flat
# scanner (pdq/cpp/index/flat.h, AVX-512 VPOPCNTDQ when the CPU has it)
# behind our 2-thread driver scripts/te_flat_driver.cpp.
#
#   scripts/build_te_scanner.sh BUILD_DIR [TE_GIT_DIR]
#
# BUILD_DIR must lie outside the repository; it receives src/ (the files taken
# from ThreatExchange with `git archive`, and its LICENSE) and te_flat_driver.
# TE_GIT_DIR is a git directory of facebook/ThreatExchange (a bare mirror is
# fine; default: $TE_GIT_DIR or /work/.mirror/facebook+ThreatExchange/repo);
# TE_REV picks the revision (default HEAD). Nothing is downloaded.
#
# Licence: ThreatExchange is under the BSD licence ("Copyright (c) Meta
# Platforms, Inc. and affiliates"; src/LICENSE in BUILD_DIR after the build).
# Its files are not copied into simjoin's repository; the binary is for
# benchmarking only (scripts/bench_peers.py --kind pdq --te-scanner BUILD_DIR/te_flat_driver).
set -eu
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [TE_GIT_DIR]" >&2; exit 2; }
here=$(cd "$(dirname "$0")/.." && pwd)
# te_flat_driver.cpp lies beside this script (scripts/, or share/simjoin/ installed)
driver=$(cd "$(dirname "$0")" && pwd)/te_flat_driver.cpp
out=$(realpath -m "$1")
case "$out/" in
"$here"/*) echo "$0: BUILD_DIR must be outside the repository ($here)" >&2; exit 2 ;;
esac
mkdir -p "$out"
te=${2:-${TE_GIT_DIR:-/work/.mirror/facebook+ThreatExchange/repo}}
rev=${TE_REV:-HEAD}
CXX=${CXX:-g++}

rm -rf "$out/src"
mkdir -p "$out/src"
# (a mirror may lack its largest blobs, e.g. a PDF at the top: git archive
# names them on stderr although it needs none of them; the files are checked)
git --git-dir="$te" archive "$rev" LICENSE pdq/cpp/common pdq/cpp/index 2>"$out/archive.log" |
    tar -x -C "$out/src"
for f in LICENSE pdq/cpp/index/flat.h pdq/cpp/common/pdqhashtypes.cpp pdq/cpp/common/pdqhamming.cpp; do
    [ -s "$out/src/$f" ] || { echo "$0: $f missing from $te at $rev" >&2; cat "$out/archive.log" >&2; exit 1; }
done
git --git-dir="$te" rev-parse "$rev" > "$out/src/REVISION"

# flat.h includes <pdq/cpp/...>, so src/ is the include root.
$CXX -O3 -march=native -std=c++17 -Wall -I"$out/src" \
    "$driver" \
    "$out/src/pdq/cpp/common/pdqhashtypes.cpp" "$out/src/pdq/cpp/common/pdqhamming.cpp" \
    -pthread -o "$out/te_flat_driver"
simd=$(echo | $CXX -march=native -dM -E - | grep -c __AVX512VPOPCNTDQ__ || true)
echo "built $out/te_flat_driver (ThreatExchange $(cut -c1-12 "$out/src/REVISION"), AVX-512 VPOPCNTDQ: $([ "$simd" -gt 0 ] && echo yes || echo 'no: scalar fallback'))"
