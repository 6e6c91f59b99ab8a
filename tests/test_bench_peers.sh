#!/usr/bin/env bash
# simjoin bench --peers: runs scripts/bench_peers.py with the chosen Python,
# refuses one without faiss (naming what is missing and how to make the venv),
# a missing script or TE scanner, and bench's own options. With a Python that
# has faiss, numpy and h5py (Debian's), a tiny pdq run compares simjoin, the
# FAISS IndexBinaryFlat and a stand-in TE scanner (numpy Hamming distances,
# an independent oracle) and every path must find the same pairs.
#   test_bench_peers.sh SIMJOIN PYTHON
set -uo pipefail
SJ=$1 PY=$2
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }
expect() { # expect NAME WANT_RC GOT_RC PATTERN FILE
  if [ "$3" != "$2" ]; then bad "$1: exit $3, want $2"; cat "$W/err" "$W/out"
  elif ! grep -q -- "$4" "$5"; then bad "$1: no '$4' in $(basename "$5")"; cat "$W/err" "$W/out"
  else ok "$1"; fi
}
run() { "$SJ" bench --peers "$@" >"$W/out" 2>"$W/err"; echo $?; }
tiny=(--corpus 1500 --queries 40 --threshold 20 --threads 1 --repeat 1)

"$SJ" bench --help >"$W/out"
expect "help names --peers" 0 $? "simjoin bench --peers \[--python PY\]" "$W/out"

# A Python without faiss, numpy, h5py: isolated, without site-packages.
printf '#!/bin/sh\nexec %s -I -S "$@"\n' "$PY" >"$W/bare-python"
chmod +x "$W/bare-python"
rc=$(run --python "$W/bare-python" "${tiny[@]}")
expect "python without faiss: exit 1" 1 "$rc" "cannot import faiss, numpy, h5py" "$W/err"
expect "python without faiss: how to make the venv" 1 "$rc" "python3 -m venv /tmp/bench && /tmp/bench/bin/pip install faiss-cpu numpy h5py" "$W/err"
[ -s "$W/out" ] && bad "python without faiss: the script ran" || ok "python without faiss: nothing ran"
rc=$(SIMJOIN_BENCH_PYTHON="$W/bare-python" run "${tiny[@]}")
expect "\$SIMJOIN_BENCH_PYTHON is used" 1 "$rc" "bare-python cannot import faiss" "$W/err"
rc=$(run --python "$W/no-such-python" "${tiny[@]}")
expect "missing python" 1 "$rc" "no-such-python' (not found or not executable)" "$W/err"
rc=$(SIMJOIN_BENCH_PEERS_SCRIPT="$W/no-such-script.py" run --python "$PY" "${tiny[@]}")
expect "missing script" 1 "$rc" "cannot read .*no-such-script.py: No such file" "$W/err"
# What runs: python script simjoin, the options as given, --kind, --te-scanner.
printf '#!/bin/sh\n[ "$1" = -c ] && { echo ok; exit 0; }\necho "$@"\n' >"$W/argv-python"
chmod +x "$W/argv-python"
touch "$W/te-driver" && chmod +x "$W/te-driver"
rc=$(run --python "$W/argv-python" --corpus=9 --seed -3 --te-scanner "$W/te-driver" --threads 2 --metric l2sq)
want="$(cd "$(dirname "$0")/.." && pwd)/scripts/bench_peers.py $(realpath "$SJ") --corpus 9 --seed -3 --threads 2 --metric l2sq --kind pdq --te-scanner $W/te-driver"
[ "$rc" = 0 ] && [ "$(cat "$W/out")" = "$want" ] && ok "arguments passed through" ||
  { bad "arguments passed through: exit $rc"; echo "got:  $(cat "$W/out")"; echo "want: $want"; }
rc=$(run --backends cpu "${tiny[@]}")
expect "bench's own options refused" 2 "$rc" "peers takes --kind" "$W/err"
rc=$(run --kind bits:64 "${tiny[@]}")
expect "bits kinds refused" 2 "$rc" "kind pdq, photodna, u8:D or f32:D" "$W/err"

if ! "$PY" -c "import faiss, numpy, h5py" 2>/dev/null; then
  echo "note: $PY lacks faiss, numpy or h5py: the run itself is not checked"
  exit $fail
fi
rc=$(run --python "$PY" --te-scanner "$W/no-such-te" "${tiny[@]}")
expect "missing TE scanner" 1 "$rc" "TE scanner .*no-such-te: No such file" "$W/err"

rc=$(SIMJOIN_TE_SCANNER= run --python "$PY" "${tiny[@]}")
expect "pdq run: ok" 0 "$rc" "bench_peers: pdq hamming, 40 x 1500, T = 20, threads = 1" "$W/out"
expect "pdq run: TE scanner absent is said" 0 "$rc" "ThreatExchange flat scanner absent" "$W/out"
expect "pdq run: ratio header" 0 "$rc" "join vs  whole vs  pairs (same?)" "$W/out"
expect "pdq run: faiss line" 0 "$rc" "faiss-cpu .* IndexBinaryFlat .*x .*x  [0-9]* (yes)" "$W/out"
n=$(grep -c ' (yes)$' "$W/out"); [ "$n" = 3 ] && ok "pdq run: 3 paths, same pairs" || bad "pdq run: $n same-pairs lines, want 3"
grep -q ' (NO' "$W/out" && bad "pdq run: a path disagrees"

# A stand-in for build_te_scanner.sh's folder: te_flat_driver Q C T THREADS
# --pairs-out FILE, pairs by numpy's Hamming distances (distance <= T).
mkdir "$W/te"
cat >"$W/te/te_flat_driver" <<PYEOF
#!$PY
import sys, numpy as np
q = np.unpackbits(np.fromfile(sys.argv[1], np.uint8).reshape(-1, 32), axis=1).astype(np.int32)
c = np.unpackbits(np.fromfile(sys.argv[2], np.uint8).reshape(-1, 32), axis=1).astype(np.int32)
d = q.sum(1)[:, None] + c.sum(1)[None, :] - 2 * q @ c.T
np.stack(np.nonzero(d <= int(sys.argv[3])), 1).astype(np.int64).tofile(sys.argv[6])
print("seconds=0.001 scanner=numpy-stand-in")
PYEOF
chmod +x "$W/te/te_flat_driver"
rc=$(SIMJOIN_TE_SCANNER="$W/te" run --python "$PY" "${tiny[@]}")
expect "pdq run with \$SIMJOIN_TE_SCANNER folder" 0 "$rc" "ThreatExchange numpy-stand-in (scan) .* (yes)" "$W/out"
n=$(grep -c ' (yes)$' "$W/out"); [ "$n" = 5 ] && ok "pdq run with TE: 5 paths, same pairs" || bad "pdq run with TE: $n same-pairs lines, want 5"
grep -q 'scanner absent' "$W/out" && bad "TE scanner given but called absent"
exit $fail
