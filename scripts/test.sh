#!/usr/bin/env bash
# test.sh - set up with the test tools (scripts/setup.sh --dev), build, and run the whole test suite;
# then build the suite again under AddressSanitizer + UndefinedBehaviorSanitizer
# (with LeakSanitizer) in build-asan/ and run it there too.
# Extra arguments go to ctest and skip the sanitizer pass, e.g.
#   ./scripts/test.sh -L cpu      ./scripts/test.sh -R backends
# SIMJOIN_SANITIZE=0 skips the sanitizer pass. Last, the fuzz harnesses run
# for SIMJOIN_FUZZ_SECONDS each (default 60; 0 skips them): scripts/fuzz.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --dev
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j"$(nproc)" "$@"
if [ $# -eq 0 ] && [ "${SIMJOIN_SANITIZE:-1}" = 1 ]; then
  echo "== the same tests under ASan + UBSan (build-asan/)"
  san="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIMJOIN_CUDA=OFF -DSIMJOIN_FAISS=OFF \
    -DCMAKE_C_FLAGS="$san" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
  cmake --build build-asan -j"$(nproc)" >/dev/null
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j"$(nproc)"
fi
if [ $# -eq 0 ] && [ "${SIMJOIN_FUZZ_SECONDS:-60}" != 0 ]; then
  ./scripts/fuzz.sh "${SIMJOIN_FUZZ_SECONDS:-60}"
fi
