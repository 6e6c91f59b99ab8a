#!/usr/bin/env bash
# test-venv.sh - the Python oracles of the image tests (development only;
# simjoin never runs Python): pdqhash (Meta's reference PDQ), imagehash
# (pHash/dHash on PIL), scikit-image (bundled BSD photographs), h5py, in a
# virtual environment, by default build/venv-img (the path CMake's
# SIMJOIN_IMAGE_VENV points the tests at). Idempotent. Without it the image
# oracle test skips (exit 77) and says so.
#   ./scripts/test-venv.sh [VENV_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-${SIMJOIN_IMAGE_VENV:-${BUILD_DIR:-build}/venv-img}}
PKGS=(pdqhash imagehash scikit-image h5py pillow numpy)
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import pdqhash, imagehash, skimage, h5py" 2>/dev/null; then
  exit 0
fi
echo "test-venv: creating $VENV with ${PKGS[*]}" >&2
/usr/bin/python3 -m venv "$VENV"
"$VENV/bin/pip" install -q "${PKGS[@]}"
