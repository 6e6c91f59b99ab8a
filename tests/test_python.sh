#!/usr/bin/env bash
# test_python.sh BUILD_DIR SIMJOIN - pip install ./python into a venv (Debian's
# Python, with its h5py, numpy and faiss visible as oracles; the build tools
# come from PyPI) and run the package's pytest suite, which also compares with
# the simjoin binary. The venv is kept in BUILD_DIR/python-venv between runs.
set -euo pipefail
build=$(realpath "$1") cli=$(realpath "$2")
cd "$(dirname "$0")/.."
venv=$build/python-venv
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check ./python pytest
cd "$build" # import the installed package, not python/src
SIMJOIN_CLI=$cli "$venv/bin/python" -m pytest -q -p no:cacheprovider "$OLDPWD/python/tests"
