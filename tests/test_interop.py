#!/usr/bin/python3
"""Interop with h5py, checked against numpy and FAISS (Debian's python3-faiss).

- Shards written by h5py (chunked + gzip + shuffle, and contiguous) are read by
  simjoin; the pairs it finds equal a numpy brute force and FAISS range search.
- h5py reads simjoin's pairs and clusters files; the clusters equal a
  union-find written here.
Fresh random data on every run; the seed is printed.
"""
import os
import subprocess
import sys
import tempfile

try:
    import h5py
    import numpy as np
except ImportError as e:  # Debian's python3-h5py / python3-numpy missing
    print("skipped:", e)
    sys.exit(77)

SJ = sys.argv[1]
seed = int(os.environ.get("SIMJOIN_TEST_SEED", int.from_bytes(os.urandom(4), "little")))
print("seed", seed)
rng = np.random.default_rng(seed)
checks = failed = 0


def check(cond, what):
    global checks, failed
    checks += 1
    if not cond:
        failed += 1
        print(f"FAIL: {what} [seed {seed}]")
    else:
        print(f"ok: {what}")


def run(*args):
    r = subprocess.run([SJ, *args, "--quiet"], capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stderr)
    return r.returncode


def make(n, nbytes, first_id, planted_from=None, T=31):
    h = rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)
    ids = first_id + rng.permutation(n * 3)[:n].astype(np.int64)
    if planted_from is not None:  # near-duplicates of another set, at T, T+1 and below
        src = planted_from
        for k in range(min(n, 30)):
            i = rng.integers(len(src))
            row = src[i].copy()
            flips = [T, T + 1, rng.integers(0, T)][k % 3]
            bits = rng.choice(nbytes * 8, size=flips, replace=False)
            for b in bits:
                row[b // 8] ^= np.uint8(1 << (b % 8))
            h[k] = row
    return h, ids


def write_shard(path, h, ids, kind, bits, chunked):
    with h5py.File(path, "w") as f:
        if chunked:
            f.create_dataset("hashes", data=h, chunks=(min(64, len(h)), h.shape[1]),
                             compression="gzip", shuffle=True)
            f.create_dataset("ids", data=ids, chunks=(min(64, len(ids)),), compression="gzip")
        else:
            f.create_dataset("hashes", data=h)
            f.create_dataset("ids", data=ids)
        f.attrs["kind"] = kind
        f.attrs["bits"] = bits
        f.attrs["source"] = "h5py-test"
        f.attrs["format_version"] = 1


def brute(qh, qids, ch, cids, T, self_join=False):
    a = np.unpackbits(qh, axis=1)
    b = np.unpackbits(ch, axis=1)
    out = set()
    for i in range(len(a)):
        d = (a[i][None, :] != b).sum(1)
        for j in np.nonzero(d <= T)[0]:
            if self_join and j <= i:
                continue
            x, y = int(qids[i]), int(cids[j])
            out.add((min(x, y), max(x, y), int(d[j])))
    return out


def read_pairs(path):
    with h5py.File(path, "r") as f:
        a, b, d = f["pairs/a"][:], f["pairs/b"][:], f["pairs/distance"][:]
        check(f.attrs["content"] == "pairs" and int(f.attrs["format_version"]) == 1,
              "pairs file attributes readable by h5py")
        order_ok = bool(np.all(a < b)) and bool(np.all(np.lexsort((b, a)) == np.arange(len(a))))
        check(order_ok, "pairs canonical: a < b, sorted by (a, b)")
    return set(zip(a.tolist(), b.tolist(), d.tolist()))


with tempfile.TemporaryDirectory() as w:
    for kind, bits, T in (("pdq", 256, 31), ("bits", 64, 8), ("bits", 96, 12)):
        nb = bits // 8
        ch, cids = make(700, nb, 0)
        qh, qids = make(130, nb, 10 ** 6, planted_from=ch, T=T)
        cpath, qpath = os.path.join(w, f"c{bits}.h5"), os.path.join(w, f"q{bits}.h5")
        write_shard(cpath, ch, cids, kind, bits, chunked=True)
        write_shard(qpath, qh, qids, kind, bits, chunked=False)
        ppath = os.path.join(w, f"p{bits}.h5")
        check(run("join", "--corpus", cpath, "--queries", qpath, "--self", "--threshold", str(T),
                  "--keep-degenerate", "--out", ppath) == 0, f"{kind}/{bits}: join h5py shards")
        got = read_pairs(ppath)
        want = brute(qh, qids, ch, cids, T) | brute(qh, qids, qh, qids, T, self_join=True)
        check(got == want, f"{kind}/{bits}: {len(got)} pairs equal numpy brute force ({len(want)})")
        check(any(p[2] == T for p in want), f"{kind}/{bits}: a pair exactly at T is present")
        try:
            import faiss
            index = faiss.IndexBinaryFlat(bits)
            index.add(ch)
            lims, dist, lab = index.range_search(qh, T + 1)
            fset = set()
            for i in range(len(qh)):
                for k in range(lims[i], lims[i + 1]):
                    x, y = int(qids[i]), int(cids[lab[k]])
                    fset.add((min(x, y), max(x, y), int(dist[k])))
            cross = {p for p in got if (p[0] in set(qids.tolist())) != (p[1] in set(qids.tolist()))}
            check(cross == fset, f"{kind}/{bits}: queries x corpus equal python faiss ({len(fset)})")
        except ImportError:
            print("note: python3-faiss not installed; faiss oracle skipped")

        # Clusters: h5py reads them; partition equals a union-find over numpy pairs.
        cl = os.path.join(w, f"cl{bits}.h5")
        check(run("cluster", "--pairs", ppath, "--out", cl) == 0, f"{kind}/{bits}: cluster")
        with h5py.File(cl, "r") as f:
            ids, cluster = f["clusters/id"][:], f["clusters/cluster"][:]
            sizes = f["summary/size"][:]
        parent = {int(i): int(i) for i in np.concatenate([cids, qids])}

        def find(x):
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for a, b, _ in want:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
        roots = {i: find(i) for i in parent}
        check(sorted(ids.tolist()) == sorted(parent), f"{kind}/{bits}: every hash listed once")
        same = all((roots[int(ids[i])] == roots[int(ids[j])]) == (cluster[i] == cluster[j])
                   for i in range(0, len(ids), 7) for j in range(0, len(ids), 5))
        check(same, f"{kind}/{bits}: clusters equal union-find partition")
        check(len(sizes) == len(set(roots.values())), f"{kind}/{bits}: {len(sizes)} clusters")

print(f"{checks - failed} passed, {failed} failed")
sys.exit(1 if failed or not checks else 0)
