#!/usr/bin/env bash
# setup.sh - install what simjoin needs and build it into build/. Idempotent:
# a second run installs nothing and only rebuilds what changed.
#
#   scripts/setup.sh         what building and running simjoin needs: compilers,
#                            CMake, HDF5, BLAS/LAPACK, OpenMP, Open MPI, help2man,
#                            matplotlib (for `sweep --plot`).
#   scripts/setup.sh --dev   also what the tests need (scripts/test.sh passes it):
#                            clang and its sanitizer/fuzzer runtimes, the Python
#                            oracles (h5py, numpy, faiss) and headless Chromium
#                            for the report screenshot test.
#   FAISS C API: built once from Debian's `faiss` source package with hardware
#     popcount (-mpopcnt; Debian's prebuilt libfaiss counts bits in software),
#     cached under build/_deps/faiss. Set SIMJOIN_NO_FAISS=1 to skip it.
#
# Environment: BUILD_DIR (build), JOBS (nproc), SIMJOIN_CUDA (auto: ON when
# nvcc is found; set OFF to build without CUDA).
# SIMJOIN_DEPS_ONLY=1 stops after the packages and FAISS.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
log() { printf 'setup: %s\n' "$*" >&2; }

# ---- Debian packages --------------------------------------------------------
DEV=0
for arg in "$@"; do
  case "$arg" in
    --dev) DEV=1 ;;
    *) echo "usage: scripts/setup.sh [--dev]" >&2; exit 2 ;;
  esac
done
# Building and running.
PKGS=(build-essential cmake pkg-config libhdf5-dev hdf5-tools libopenblas-dev liblapack-dev
      libssl-dev dpkg-dev libopenmpi-dev openmpi-bin bsdextrautils help2man python3-numpy python3-matplotlib)
# Testing only (--dev): sanitizers and fuzzers, Python oracles, the report screenshot.
DEV_PKGS=(clang libclang-rt-14-dev libomp-dev python3-h5py python3-faiss python3-venv python3-dev
          chromium fonts-dejavu-core)
# `simjoin hash`: image decoders (JPEG, PNG, WebP, TIFF, GIF, HEIC; libcrypto for MD5/SHA-1 is libssl-dev above)
PKGS+=(libjpeg62-turbo-dev libpng-dev libwebp-dev libtiff-dev libgif-dev libheif-dev)
[ "$DEV" = 1 ] && PKGS+=("${DEV_PKGS[@]}")
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
apt_updated=0
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  apt_updated=1
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- FAISS C API with hardware popcount --------------------------------------
FAISS_PREFIX=$(realpath -m "$BUILD_DIR/_deps/faiss")
FAISS_STAMP="$FAISS_PREFIX/.simjoin-stamp"
FAISS_WANT="faiss-debian-source popcnt c_api v1"
if [ "${SIMJOIN_NO_FAISS:-0}" != 1 ] && ! { [ -f "$FAISS_STAMP" ] && [ "$(cat "$FAISS_STAMP")" = "$FAISS_WANT" ]; }; then
  src_root="$BUILD_DIR/_deps/faiss-src"
  if ! ls -d "$src_root"/faiss-*/c_api >/dev/null 2>&1; then
    # apt-get source needs a deb-src entry; add one for the running suite if none.
    if ! grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
      log "adding a deb-src entry for $suite (needed by apt-get source)"
      printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$suite" | $SUDO tee /etc/apt/sources.list.d/simjoin-deb-src.sources >/dev/null
      apt_updated=0
    fi
    [ "$apt_updated" = 1 ] || $SUDO apt-get update -qq
    mkdir -p "$src_root"
    log "fetching Debian's faiss source package"
    (cd "$src_root" && apt-get source -qq faiss >/dev/null 2>&1)
  fi
  src=$(ls -d "$src_root"/faiss-*/ | head -1)
  log "building the FAISS C API from $src with -mpopcnt (a few minutes, once)"
  cmake -S "$src" -B "$BUILD_DIR/_deps/faiss-build" -DCMAKE_BUILD_TYPE=Release \
    -DFAISS_ENABLE_GPU=OFF -DFAISS_ENABLE_PYTHON=OFF -DFAISS_ENABLE_C_API=ON -DBUILD_TESTING=OFF \
    -DBUILD_SHARED_LIBS=OFF -DFAISS_OPT_LEVEL=generic -DCMAKE_CXX_FLAGS="-mpopcnt" \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DCMAKE_INSTALL_PREFIX="$FAISS_PREFIX" >/dev/null
  cmake --build "$BUILD_DIR/_deps/faiss-build" -j"$JOBS" --target faiss faiss_c >/dev/null
  cmake --install "$BUILD_DIR/_deps/faiss-build" >/dev/null
  # The C API's library and headers are not part of FAISS's install rules.
  cp "$BUILD_DIR/_deps/faiss-build/c_api/libfaiss_c.a" "$FAISS_PREFIX/lib/"
  (cd "$src/c_api" && find . -name '*.h' | while read -r h; do
     install -D -m 0644 "$h" "$FAISS_PREFIX/include/faiss/c_api/$h"; done)
  echo "$FAISS_WANT" > "$FAISS_STAMP"
fi

# SIMJOIN_DEPS_ONLY=1: packages and FAISS only (the Dockerfile caches them in a layer of their own).
if [ "${SIMJOIN_DEPS_ONLY:-0}" = 1 ]; then log "dependencies ready (SIMJOIN_DEPS_ONLY=1: simjoin not built)"; exit 0; fi

# ---- simjoin --------------------------------------------------------------------
cmake_args=(-DCMAKE_BUILD_TYPE=Release)
if [ "${SIMJOIN_NO_FAISS:-0}" != 1 ]; then
  cmake_args+=(-DSIMJOIN_FAISS_ROOT="$FAISS_PREFIX")
fi
[ -n "${SIMJOIN_CUDA:-}" ] && cmake_args+=(-DSIMJOIN_CUDA="$SIMJOIN_CUDA")
[ -d /usr/local/cuda/bin ] && export PATH="$PATH:/usr/local/cuda/bin"
cmake -S . -B "$BUILD_DIR" "${cmake_args[@]}" >/dev/null
cmake --build "$BUILD_DIR" -j"$JOBS" >/dev/null
log "built $BUILD_DIR/simjoin"
# --dev: the image tests' Python oracles (pdqhash, imagehash; PyPI, development only); SIMJOIN_NO_TEST_VENV=1 skips
if [ "$DEV" = 1 ] && [ "${SIMJOIN_NO_TEST_VENV:-0}" != 1 ]; then
  BUILD_DIR="$BUILD_DIR" ./scripts/test-venv.sh || log "no image test venv (pip failed): the image oracle test will skip"
fi
