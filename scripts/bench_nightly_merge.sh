#!/usr/bin/env bash
# bench_nightly_merge.sh - time a 1-hash nightly run against a state that holds
# one big cluster of N nodes (BENCHMARKS.md "Nightly cluster update").
#
#   scripts/bench_nightly_merge.sh [--sizes "100000 200000 ..."] [--repeat R] SIMJOIN...
#
# For each N: a state of generation 1 is written directly, with a valid
# manifest: ids 0..N-1 are unrelated hashes, one cluster each (ids 0..N-1);
# ids N..2N-1 are a random walk over PDQ hashes (8 bits flipped per step, so
# that each matches its neighbours): one cluster of N nodes, id N. Then each
# SIMJOIN binary runs, on a fresh copy,
#   nightly --quiet --state COPY --new NIGHT.h5
# for two one-hash nights:
#   grow   an upload 2 bits from the middle of the walk: the big cluster
#          gains one node and keeps its id;
#   merge  an upload 30 bits from the middle of the walk and 30 bits from
#          hash 0: cluster 0 and the big cluster merge, and the big cluster's
#          id N is retired into 0 (all N nodes change id).
# Prints one table row per N, night and binary: the best wall time and the
# best CPU time (user + sys, less sensitive to a busy machine) of R runs.
# Needs numpy and h5py (/usr/bin/python3 by default; PY=... to change).
set -euo pipefail
SIZES="100000 200000 400000 1000000"
REPEAT=3
PY=${PY:-/usr/bin/python3}
while [ $# -gt 0 ]; do
  case $1 in
    --sizes) SIZES=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || { echo "usage: $0 [--sizes \"N...\"] [--repeat R] SIMJOIN..." >&2; exit 2; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

make_state() { # N DIR GROW.h5 MERGE.h5
  "$PY" - "$1" "$2" "$3" "$4" <<'PYEOF'
import hashlib, os, sys
import numpy as np, h5py
n, d, grow, merge = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
rng = np.random.default_rng(12345)
# ids 0..n-1: unrelated hashes, one cluster each (ids 0..n-1), the older part
single = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
# ids n..2n-1: a random walk, step k flipping 8 random bits of step k-1, so
# that each hash matches its neighbours: one cluster of n nodes (id n)
flips = np.zeros((n, 32), np.uint8)
pos = rng.integers(0, 256, size=(n, 8))
for j in range(8):
    np.bitwise_or.at(flips, (np.arange(n), pos[:, j] // 8), (1 << (pos[:, j] % 8)).astype(np.uint8))
flips[0] = rng.integers(0, 256, 32, dtype=np.uint8)
chain = np.bitwise_xor.accumulate(flips, axis=0)
mid = chain[n // 2]
# hash 0 sits 60 bits from the middle of the walk: the merge upload lies 30
# bits from both, so it links cluster 0 and the big cluster (retired into 0)
far = rng.permutation(256)[:60]
def flip(h, bits):
    b = np.unpackbits(h.copy()); b[bits] ^= 1
    return np.packbits(b)
single[0] = flip(mid, far)
hashes = np.concatenate([single, chain])
ids = np.arange(2 * n, dtype=np.int64)
cluster = np.concatenate([np.arange(n), np.full(n, n)]).astype(np.int64)
for sub in ("shards", "clusters", "reports"):
    os.makedirs(f"{d}/{sub}", mode=0o750, exist_ok=True)
with h5py.File(f"{d}/shards/g000001-0.h5", "w") as f:
    f["hashes"] = hashes; f["ids"] = ids
    f.attrs["kind"] = "pdq"; f.attrs["source"] = "bench"; f.attrs["format_version"] = 1
with h5py.File(f"{d}/clusters/g000001.h5", "w") as f:
    f.attrs["format_version"] = 1; f.attrs["content"] = "nightly-state"
    f.attrs["generation"] = 1; f.attrs["sources"] = "bench"
    g = f.create_group("state")
    g["id"] = ids; g["cluster"] = cluster
    g["rule"] = np.zeros(2 * n, np.int64); g["source"] = np.zeros(2 * n, np.int32)
def sha(p):
    return hashlib.sha256(open(p, "rb").read()).hexdigest()
with open(f"{d}/manifest", "w") as m:
    m.write(f"simjoin-state 1\ngeneration 1\nkind pdq\nthreshold 31\nnext_cluster {n + 1}\n")
    for rel in ("shards/g000001-0.h5", "clusters/g000001.h5"):
        m.write(f"file {rel} {sha(f'{d}/{rel}')}\n")
for path, h in ((grow, flip(mid, [0, 1])), (merge, flip(mid, far[:30]))):
    with h5py.File(path, "w") as f:
        f["hashes"] = h[None, :]; f["ids"] = np.array([2 * n], np.int64)
        f.attrs["kind"] = "pdq"; f.attrs["source"] = "bench-night"
PYEOF
}

echo "| big cluster N | state nodes | night | binary | wall s (best of $REPEAT) | CPU s (user+sys, best of $REPEAT) |"
echo "| ---: | ---: | --- | --- | ---: | ---: |"
for n in $SIZES; do
  make_state "$n" "$W/base" "$W/grow.h5" "$W/merge.h5"
  for night in grow merge; do
    for sj in "$@"; do
      best= best_cpu=
      for r in $(seq "$REPEAT"); do
        rm -rf "$W/run" && cp -a "$W/base" "$W/run"
        /usr/bin/time -f "%e %U %S" -o "$W/time" "$sj" nightly --quiet --state "$W/run" --new "$W/$night.h5"
        read -r t u sy < "$W/time"
        cpu=$(echo "$u + $sy" | bc)
        if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; fi
        if [ -z "$best_cpu" ] || [ "$(echo "$cpu < $best_cpu" | bc)" = 1 ]; then best_cpu=$cpu; fi
      done
      printf '| %d | %d | %s | %s | %.2f | %.2f |\n' "$n" $((2 * n)) "$night" "$sj" "$best" "$best_cpu"
    done
  done
  rm -rf "$W/base"
done
