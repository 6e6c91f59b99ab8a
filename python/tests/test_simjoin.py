"""Tests of the Python package against independent oracles: numpy brute
force, a union-find written here, h5py, the simjoin command (same rows, same
pairs) and, where Debian's python3-faiss is importable, FAISS."""
import os
import subprocess
import threading
import time

import numpy as np
import pytest

import simjoin

SEED = int(os.environ.get("SIMJOIN_TEST_SEED", time.time_ns() % 2**32))
print(f"seed {SEED}")
CLI = os.environ.get("SIMJOIN_CLI")  # the simjoin binary, for the CLI comparison


def rng(k=0):
    return np.random.default_rng(SEED + k)


def hamming_matrix(q, c):
    qb = np.unpackbits(q, axis=1).astype(np.int16)
    cb = np.unpackbits(c, axis=1).astype(np.int16)
    return (qb[:, None, :] != cb[None, :, :]).sum(-1)


def near_copies(n, width, flips, r):
    """n random rows, then each row again with `flips` bits changed."""
    base = r.integers(0, 256, (n, width), dtype=np.uint8)
    bits = np.unpackbits(base, axis=1)
    for row in bits:
        row[r.choice(8 * width, flips, replace=False)] ^= 1
    return np.concatenate([base, np.packbits(bits, axis=1)])


@pytest.mark.parametrize("n", [0, 1, 2, 63, 64, 65, 300])
def test_self_join_matches_brute_force(n):
    r = rng(n)
    rows = near_copies(n // 2, 32, 20, r) if n > 1 else r.integers(0, 256, (n, 32), dtype=np.uint8)
    rows = rows[:n]
    T = 20  # near copies sit at exactly 20: distance == T must match
    a, b, d = simjoin.join(rows, threshold=T, backend="cpu")
    D = hamming_matrix(rows, rows)
    ia, ib = np.triu_indices(len(rows), 1)
    keep = D[ia, ib] <= T
    expect = sorted(zip(ia[keep], ib[keep], D[ia, ib][keep]))
    assert sorted(zip(a, b, d.astype(int))) == expect
    assert np.all(a < b)
    if n >= 64:
        assert np.any(d == T), "no pair at exactly T: the boundary went untested"


def test_cross_join_and_range_search_layout():
    r = rng(1)
    corpus = near_copies(200, 32, 25, r)
    queries = np.ascontiguousarray(corpus[::7][:40])
    T = 31
    a, b, d = simjoin.join(corpus, queries, threshold=T)
    D = hamming_matrix(queries, corpus)
    qi, ci = np.nonzero(D <= T)
    assert list(zip(a, b)) == sorted(zip(qi, ci))
    assert np.array_equal(d, D[a, b])
    lims, Dr, I = simjoin.range_search(corpus, queries, threshold=T)
    assert lims.shape == (len(queries) + 1,) and lims[0] == 0 and lims[-1] == len(I)
    for i in range(len(queries)):
        want = np.nonzero(D[i] <= T)[0]
        assert sorted(I[lims[i]:lims[i + 1]]) == list(want)
        assert np.array_equal(Dr[lims[i]:lims[i + 1]], D[i, I[lims[i]:lims[i + 1]]])


def test_backends_agree():
    r = rng(2)
    rows = near_copies(150, 32, 30, r)
    ref = simjoin.join(rows, threshold=31, backend="naive")
    for backend in ["cpu", "auto"]:
        got = simjoin.join(rows, threshold=31, backend=backend)
        assert all(np.array_equal(x, y) for x, y in zip(ref, got)), backend


def test_float_cosine_against_numpy_double():
    r = rng(3)
    x = r.standard_normal((120, 48)).astype(np.float32)
    x[60:] = x[:60] + 0.3 * r.standard_normal((60, 48)).astype(np.float32)
    T = 0.1
    a, b, d = simjoin.join(x, threshold=T, metric="cosine")
    x64 = x.astype(np.float64)
    nrm = np.linalg.norm(x64, axis=1)
    cos = 1 - (x64 @ x64.T) / np.outer(nrm, nrm)
    ia, ib = np.triu_indices(len(x), 1)
    keep = cos[ia, ib] <= T
    assert list(zip(a, b)) == list(zip(ia[keep], ib[keep]))
    assert np.allclose(d, cos[a, b], atol=1e-9)


def test_uint8_l2sq_exact():
    r = rng(4)
    x = r.integers(0, 256, (80, 144), dtype=np.uint8)
    x[40:] = np.clip(x[:40].astype(int) + r.integers(-3, 4, (40, 144)), 0, 255)
    a, b, d = simjoin.join(x, threshold=600, metric="l2sq", kind="photodna")
    xi = x.astype(np.int64)
    D = ((xi[:, None, :] - xi[None, :, :]) ** 2).sum(-1)
    ia, ib = np.triu_indices(len(x), 1)
    keep = D[ia, ib] <= 600
    assert list(zip(a, b)) == list(zip(ia[keep], ib[keep]))
    assert np.array_equal(d, D[a, b])


def test_faiss_agrees_where_available():
    faiss = pytest.importorskip("faiss")
    r = rng(5)
    rows = near_copies(200, 32, 28, r)
    a, b, d = simjoin.join(rows, threshold=31)
    index = faiss.IndexBinaryFlat(256)
    index.add(rows)
    lims, D, I = index.range_search(rows, 32)  # FAISS keeps d < radius
    want = sorted((i, int(j)) for i in range(len(rows)) for j in I[lims[i]:lims[i + 1]] if i < j)
    assert list(zip(a, b)) == want


def union_find_labels(n, a, b):
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for x, y in zip(a, b):
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)
    roots = [find(i) for i in range(n)]
    first = {}
    for i, root in enumerate(roots):  # number clusters by smallest member
        first.setdefault(root, len(first))
    return np.array([first[root] for root in roots])


def test_cluster_against_union_find():
    r = rng(6)
    rows = near_copies(120, 32, 24, r)
    a, b, d = simjoin.join(rows, threshold=31)
    got = simjoin.cluster(a, b, d, n=len(rows))
    assert np.array_equal(got, union_find_labels(len(rows), a, b))
    assert np.array_equal(simjoin.cluster([], [], [], n=3), [0, 1, 2])


def test_sweep_counts_pairs_and_clusters():
    r = rng(7)
    rows = near_copies(100, 32, 18, r)
    labels = np.concatenate([np.arange(100), np.arange(100)])
    a, b, d = simjoin.join(rows, threshold=40)
    thresholds = [0, 10, 18, 25, 40]
    table = simjoin.sweep(a, b, d, n=len(rows), thresholds=thresholds, labels=labels)
    assert list(table["threshold"]) == thresholds
    for k, t in enumerate(thresholds):
        keep = d <= t
        assert table["pairs"][k] == keep.sum()
        lab = union_find_labels(len(rows), a[keep], b[keep])
        assert table["clusters"][k] == len(set(lab))
        assert table["largest"][k] == np.bincount(lab).max()
    k18 = thresholds.index(18)
    assert table["recall"][k18] == 1.0  # every copy is at exactly 18


@pytest.mark.parametrize("bad, error", [
    (np.zeros((4, 32), np.int8), TypeError),
    (np.zeros((4, 32), np.float64), TypeError),
    (np.zeros(32, np.uint8), ValueError),
    (np.asfortranarray(np.zeros((4, 32), np.uint8)), ValueError),
    ([[1, 2]], TypeError),
])
def test_bad_arrays_are_errors(bad, error):
    with pytest.raises(error):
        simjoin.join(bad, threshold=3)


def test_wrong_width_for_kind_and_library_errors():
    with pytest.raises(ValueError, match="31 bytes"):
        simjoin.join(np.zeros((4, 31), np.uint8), kind="pdq")
    with pytest.raises(simjoin.ArgumentError):
        simjoin.join(np.zeros((4, 32), np.uint8), backend="warp-drive")
    with pytest.raises(simjoin.Error) as e:
        simjoin.read_shard("/nonexistent/x.h5")
    assert "/nonexistent/x.h5" in str(e.value)
    with pytest.raises(ValueError):
        simjoin.join(np.zeros((4, 32), np.uint8), threshold=float("nan"))


def test_shard_round_trip_and_h5py(tmp_path):
    h5py = pytest.importorskip("h5py")
    r = rng(8)
    rows = r.integers(0, 256, (5, 32), dtype=np.uint8)
    ids = np.array([10, 11, 12, 13, 2**40], np.int64)
    meta = {"series": ["s1", "s1", "", "s2", "s3"], "case_id": ["c"] * 5,
            "victim_identified": [1, 0, -1, -1, 1]}
    path = tmp_path / "x.h5"
    simjoin.write_shard(path, rows, ids, kind="pdq", quality=[100, 90, 40, -1, 70], meta=meta)
    assert (os.stat(path).st_mode & 0o007) == 0, "a shard must not be world-accessible"
    with h5py.File(path, "r") as f:
        assert np.array_equal(f["hashes"][:], rows)
        assert np.array_equal(f["ids"][:], ids)
    s = simjoin.read_shard(path)
    assert s.kind == "pdq"
    assert np.array_equal(s.hashes, rows) and np.array_equal(s.ids, ids)
    assert list(s.quality) == [100, 90, 40, -1, 70]
    assert s.meta["series"] == meta["series"]
    assert list(s.meta["victim_identified"]) == meta["victim_identified"]


@pytest.mark.skipif(not CLI, reason="SIMJOIN_CLI (the simjoin binary) not given")
def test_identical_to_the_command_line(tmp_path):
    h5py = pytest.importorskip("h5py")
    r = rng(9)
    rows = near_copies(150, 32, 27, r)
    simjoin.write_shard(tmp_path / "c.h5", rows, kind="bits:256")
    subprocess.run([CLI, "join", "--quiet", "--corpus", str(tmp_path / "c.h5"), "--threshold", "31",
                    "--out", str(tmp_path / "p.h5")], check=True)
    with h5py.File(tmp_path / "p.h5", "r") as f:
        cli = (f["pairs/a"][:], f["pairs/b"][:], f["pairs/distance"][:])
    a, b, d = simjoin.join(rows, threshold=31)
    assert np.array_equal(cli[0], a) and np.array_equal(cli[1], b)
    assert np.array_equal(cli[2].astype(np.float64), d)


def test_two_python_threads_join_at_once_and_release_the_gil():
    r = rng(10)
    rows = near_copies(1500, 32, 25, r)  # the naive backend: ~1 s a join
    serial = simjoin.join(rows, threshold=31, backend="naive", threads=1)
    results = [None, None]
    ticks = []

    def work(i):
        results[i] = simjoin.join(rows, threshold=31, backend="naive", threads=1)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):  # runs only if the joins release the GIL
        ticks.append(1)
        time.sleep(0.001)
    for t in threads:
        t.join()
    for res in results:
        assert all(np.array_equal(x, y) for x, y in zip(serial, res))
    assert len(ticks) > 3, "the main thread did not run while the joins did"
