#!/usr/bin/env bash
# fuzz.sh - build the libFuzzer harnesses with clang (ASan + UBSan) in
# build-fuzz/ and run each for a bounded time from the seed corpus kept in
# tests/fuzz/corpus/ (copied, so the repository is not changed). A crash,
# leak or sanitizer report fails the run and leaves the input in build-fuzz/.
#   ./scripts/fuzz.sh [SECONDS]      (default 60, or $SIMJOIN_FUZZ_SECONDS)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-${SIMJOIN_FUZZ_SECONDS:-60}}
B=build-fuzz
CC=$(command -v clang || command -v clang-14)
san="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -g -O1"
cmake -S . -B "$B" -DCMAKE_C_COMPILER="$CC" -DCMAKE_BUILD_TYPE=Debug -DSIMJOIN_FUZZ=ON \
  -DSIMJOIN_CUDA=OFF -DSIMJOIN_FAISS=OFF -DSIMJOIN_MPI=OFF -DCMAKE_C_FLAGS="$san" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
harnesses=(ingest shard)
# the image loaders, when the build has them (simjoin hash)
targets=$(cmake --build "$B" --target help) # whole: grep -q on a pipe would SIGPIPE it (pipefail)
grep -q fuzz_image <<<"$targets" && harnesses+=(image)
cmake --build "$B" -j"$(nproc)" $(printf -- '--target fuzz_%s ' "${harnesses[@]}") >/dev/null
status=0
for h in "${harnesses[@]}"; do
  work="$B/corpus-$h"
  rm -rf "$work" && mkdir -p "$work" && cp tests/fuzz/corpus/$h/* "$work/"
  echo "== fuzz_$h for ${SECONDS_EACH}s"
  if ! "$B/tests/fuzz_$h" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$B/crash-$h-" -print_final_stats=1 "$work" >"$B/fuzz_$h.log" 2>&1; then
    echo "fuzz_$h FAILED: see $B/fuzz_$h.log"; tail -30 "$B/fuzz_$h.log"; status=1
  else
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$B/fuzz_$h.log" | tr '\n' ' '; echo
  fi
done
exit $status
