#!/usr/bin/env bash
# test.sh - set up (scripts/setup.sh), build, and run the whole test suite.
# Extra arguments go to ctest, e.g. `./scripts/test.sh -L cpu` or `-R backends`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j"$(nproc)" "$@"
