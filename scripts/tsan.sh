#!/usr/bin/env bash
# tsan.sh - build tests/test_threads.c (two ingest -> join -> cluster pipelines
# in parallel threads) with clang -fsanitize=thread in build-tsan/ and run it;
# any data race reported fails the run.
#
# OMP_NUM_THREADS=1: the OpenMP runtime (libomp with clang, libgomp with gcc)
# is not built with TSan, and its barriers and task queues synchronize through
# futexes and atomics that TSan cannot see, so a team of several OpenMP
# threads reports races that are not there. With one OpenMP thread per
# application thread every parallel region runs inline on its caller, and
# what TSan checks is exactly the library's own state shared between the two
# application threads: what "one object per thread" promises.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${TSAN_BUILD_DIR:-build-tsan}
CC=$(command -v clang || command -v clang-14)
cmake -S . -B "$B" -DCMAKE_C_COMPILER="$CC" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSIMJOIN_CUDA=OFF -DSIMJOIN_FAISS=OFF -DSIMJOIN_MPI=OFF \
  -DCMAKE_C_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" >/dev/null
cmake --build "$B" -j"$(nproc)" --target test_threads >/dev/null
OMP_NUM_THREADS=1 TSAN_OPTIONS="halt_on_error=1 exitcode=66 ignore_noninstrumented_modules=1" \
  "$B/tests/test_threads"
