#!/usr/bin/python3
"""Nightly cluster updates against an independent oracle.

Random walks over PDQ hashes (8 bits flipped per step: each hash matches its
neighbours) are cut into pieces that arrive over several nights in random
order, with unrelated hashes between them, so that clusters form in parts and
merge on later nights. After every night the committed state must equal an
oracle written here from the documented rules (README "Running nightly"),
with pairs from a numpy Hamming matrix and a Python union-find, never from
simjoin's own output:
  - the partition of every hash into clusters
  - stable ids: a cluster keeps its id; merged clusters take the smallest of
    their ids; an all-new cluster gets the next unused id, in order of its
    smallest member
  - the report's merges: each retired id exactly once, in order of its
    smallest member; new_clusters and new_hashes_in_existing_clusters

usage: test_nightly_merge.py SIMJOIN
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

SIMJOIN = os.path.abspath(sys.argv[1])
SEED = int(os.environ.get("SEED", np.random.SeedSequence().entropy % 2**32))
rng = np.random.default_rng(SEED)
T = 31
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAIL: {what} (seed {SEED})", file=sys.stderr)


def walk(n):
    """n hashes, each 8 random bits from the one before."""
    h = np.empty((n, 256), np.uint8)
    h[0] = rng.integers(0, 2, 256)
    for i in range(1, n):
        h[i] = h[i - 1]
        h[i, rng.choice(256, 8, replace=False)] ^= 1
    return h


bits = np.concatenate([walk(int(rng.integers(20, 200))) for _ in range(12)] +
                      [rng.integers(0, 2, (400, 256)).astype(np.uint8)])
n = len(bits)
ids = rng.permutation(n * 3)[:n].astype(np.int64)  # ids unrelated to the walks
ones = bits.sum(axis=1)
assert ((ones >= 32) & (ones <= 224)).all(), "a degenerate hash: change the seed"
# Hamming distances of every pair: a.b counts common ones
b = bits.astype(np.int32)
dist = ones[:, None] + ones[None, :] - 2 * (b @ b.T)
night_of = rng.integers(0, 5, n)


def find(parent, x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def oracle_night(present, old_id, next_id):
    """Cluster ids of the present rows (indices), from the previous ids."""
    parent = {i: i for i in present}
    rows = np.array(sorted(present))
    sub = dist[np.ix_(rows, rows)]
    for x, y in zip(*np.nonzero(np.triu(sub <= T, 1))):
        a, c = find(parent, rows[x]), find(parent, rows[y])
        if a != c:
            parent[a] = c
    comps = {}
    for i in present:
        comps.setdefault(find(parent, i), []).append(i)
    new_id, merges, fresh = {}, [], []
    for members in comps.values():
        olds = sorted({old_id[i] for i in members if i in old_id})
        if olds:
            for i in members:
                new_id[i] = olds[0]
            for o in olds[1:]:
                first = min(ids[i] for i in members if old_id.get(i) == o)
                merges.append((first, o, olds[0]))
        else:
            fresh.append((min(ids[i] for i in members), members))
    for _, members in sorted(fresh, key=lambda f: f[0]):
        for i in members:
            new_id[i] = next_id
        next_id += 1
    merges = [(o, c) for _, o, c in sorted(merges)]
    return new_id, merges, len(fresh), next_id


w = tempfile.mkdtemp()
try:
    st = f"{w}/state"
    subprocess.run([SIMJOIN, "state", "init", st, "--kind", "pdq"], check=True, capture_output=True)
    packed = np.packbits(bits, axis=1)
    present, old_id, next_id, total_merges = set(), {}, 0, 0
    for night in range(5):
        rows = np.nonzero(night_of == night)[0]
        path = f"{w}/night{night}.h5"
        with h5py.File(path, "w") as f:
            f["hashes"] = packed[rows]
            f["ids"] = ids[rows]
            f.attrs["kind"] = "pdq"
            f.attrs["source"] = ["nl", "de"][night % 2]
        subprocess.run([SIMJOIN, "nightly", "--quiet", "--state", st, "--new", path], check=True)
        present |= set(rows.tolist())
        new_id, merges, fresh, next_id = oracle_night(present, old_id, next_id)
        g = f"g{night + 1:06d}"
        with h5py.File(f"{st}/clusters/{g}.h5", "r") as f:
            got = dict(zip(f["state/id"][:].tolist(), f["state/cluster"][:].tolist()))
        want = {int(ids[i]): c for i, c in new_id.items()}
        check(got == want, f"night {night}: cluster ids differ from the oracle "
                           f"({sum(got.get(k) != v for k, v in want.items())} hashes)")
        rep = json.load(open(f"{st}/reports/{g}.json"))
        got_merges = [(m["merged"], m["cluster"]) for m in rep["merges"]]
        check(got_merges == merges, f"night {night}: {len(got_merges)} merges (first {got_merges[:4]}) "
                                    f"differ from the oracle's {len(merges)} (first {merges[:4]})")
        check(rep["new_clusters"] == fresh, f"night {night}: new_clusters {rep['new_clusters']} != {fresh}")
        joined = sum(1 for i in rows if new_id[i] in old_id.values())
        check(rep["new_hashes_in_existing_clusters"] == joined,
              f"night {night}: new_hashes_in_existing_clusters {rep['new_hashes_in_existing_clusters']} != {joined}")
        total_merges += len(merges)
        old_id = new_id
    check(total_merges > 0, "the data made no merge: the test checks nothing (change the seed)")
finally:
    shutil.rmtree(w)
if failures:
    sys.exit(1)
print(f"ok: 5 nights, {n} hashes, {total_merges} merges equal the oracle")
