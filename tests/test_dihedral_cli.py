#!/usr/bin/python3
"""join --dihedral end to end through the CLI, against a numpy brute force
over all 8 transforms (shards written here with h5py).

  - cross, self and --queries --self joins: exact pairs, distances and
    transforms, for cpu with every ISA path this CPU has, naive and faiss
    (when built); pdq [N, 8, 32] and bits:64 [N, 8, 8]; sizes 0, 1 and around
    the scheduler's block of 32 images; pairs at exactly T
  - a flipped copy is found only with --dihedral
  - without --dihedral a dihedral shard gives the byte-identical pairs file
    of the same shard without /dihedral
  - --part and merge, cluster (components equal the oracle's), sweep, report,
    export (with the transform column) and info on the result
  - nightly --dihedral: the report's matches equal the oracle
  - bad /dihedral datasets and --dihedral on a plain shard: an error naming
    the file (and row), exit 1, nothing written

usage: test_dihedral_cli.py SIMJOIN
"""
import csv
import json
import os
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

SIMJOIN = os.path.abspath(sys.argv[1])
SEED = int(os.environ.get("SEED", np.random.SeedSequence().entropy % 2**32))
rng = np.random.default_rng(SEED)
failures = []
INVERSE = np.array([0, 3, 2, 1, 4, 5, 6, 7])  # the hasher's numbering: 1, 3 are rot90, rot270
POP = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(1).astype(np.int32)


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAIL: {what} (seed {SEED})", file=sys.stderr)


def run(*args, ok=True, cwd=None):
    p = subprocess.run([SIMJOIN, *map(str, args)], capture_output=True, text=True, cwd=cwd)
    if ok and p.returncode != 0:
        sys.exit(f"simjoin {' '.join(map(str, args))} failed ({p.returncode}): {p.stderr}")
    return p


def images(n, first_id, nbytes, T, near=None):
    """n images x 8 random transforms; a third get one transform (sometimes
    two, a tie) planted at distance T-1..T+1 or less from a near canonical
    hash (near: [m, nbytes], or earlier images of this set)."""
    X = rng.integers(0, 256, (n, 8, nbytes), dtype=np.uint8)
    bits = nbytes * 8
    for i in range(n):
        src = near if near is not None else X[:i, 0, :]
        if len(src) == 0 or rng.random() > 0.34:
            continue
        target = src[rng.integers(len(src))]
        k = max(0, T - 1 + int(rng.integers(3)) - (int(rng.integers(T // 2 + 1)) if rng.random() < .25 else 0))
        for t in rng.choice(8, 2 if rng.random() < .25 else 1, replace=False):
            row = np.unpackbits(target)
            row[rng.choice(bits, k, replace=False)] ^= 1
            X[i, t] = np.packbits(row)
    return np.arange(first_id, first_id + n, dtype=np.int64), X


def write_shard(path, ids, X, kind="pdq", dihedral=True, labels=None):
    with h5py.File(path, "w") as f:
        f.attrs["format_version"] = 1
        f.attrs["kind"] = kind
        if kind == "bits":
            f.attrs["bits"] = X.shape[2] * 8
        f["hashes"] = np.ascontiguousarray(X[:, 0, :])
        f["ids"] = ids
        if labels is not None:
            f["labels"] = labels
        if dihedral:
            f["dihedral"] = X
            f.attrs["dihedral"] = 1


def dist(A, B):
    """Hamming distances [len(A), len(B)] of byte rows."""
    if len(A) == 0 or len(B) == 0:
        return np.zeros((len(A), len(B)), np.int32)
    return POP[A[:, None, :] ^ B[None, :, :]].sum(-1)


def keys(qids, Q, cids, C):
    """[nq, nc] of min over t of distance * 8 + transform (stated for the
    smaller id): the pair's best (distance, transform) in one number."""
    best = None
    for t in range(8):
        d = dist(Q[:, t, :], C[:, 0, :])
        tr = np.where(qids[:, None] < cids[None, :], t, INVERSE[t])
        k = d * 8 + tr
        best = k if best is None else np.minimum(best, k)
    return best


def oracle(qids, Q, cids, C, T, self=False):
    """Sorted (a, b, distance, transform) of every pair within T."""
    K = keys(qids, Q, cids, C)
    if self:
        K = np.minimum(K, K.T)  # both directions
    out = []
    for i, j in zip(*np.nonzero(K // 8 <= T)):
        if self and i >= j:
            continue
        a, b = sorted((int(qids[i]), int(cids[j])))
        out.append((a, b, int(K[i, j] // 8), int(K[i, j] % 8)))
    return sorted(out)


def pairs_of(path):
    with h5py.File(path, "r") as f:
        a, b, d = f["pairs/a"][:], f["pairs/b"][:], f["pairs/distance"][:]
        t = f["pairs/transform"][:] if "pairs/transform" in f else np.zeros(len(a), int)
        return [(int(x), int(y), int(z), int(w)) for x, y, z, w in zip(a, b, d, t)]


def backends():
    flags = open("/proc/cpuinfo").read()
    out = [("cpu", "portable"), ("cpu", "popcnt")]
    if " avx2" in flags:
        out.append(("cpu", "avx2"))
    if "avx512vpopcntdq" in flags:
        out.append(("cpu", "avx512"))
    out.append(("naive", None))
    return out


def main():
    w = tempfile.mkdtemp(prefix="sj-dihedral-")
    os.chmod(w, 0o700)
    be = backends()
    # faiss, when this build has it
    ids1, X1 = images(3, 1, 32, 31)
    write_shard(f"{w}/probe.h5", ids1, X1)
    if run("join", "--quiet", "--corpus", f"{w}/probe.h5", "--backend", "faiss", "--out",
           f"{w}/probe-p.h5", ok=False).returncode == 0:
        be.append(("faiss", None))
    else:
        print("note: faiss backend not built; not tested")
    at_t = 0
    for kind, nbytes, T in [("pdq", 32, 31), ("bits", 8, 10)]:
        for nq, nc in [(0, 4), (1, 1), (1, 40), (31, 33), (32, 257), (33, 100), (120, 300)]:
            cids, C = images(nc, 1_000_000, nbytes, T)
            qids, Q = images(nq, 1, nbytes, T, near=C[:, 0, :])
            write_shard(f"{w}/c.h5", cids, C, kind)
            write_shard(f"{w}/q.h5", qids, Q, kind)
            want_x = oracle(qids, Q, cids, C, T)
            allids = np.concatenate([qids, cids])
            A = np.concatenate([Q, C])
            want_s = oracle(allids, A, allids, A, T, self=True)
            want_qs = sorted(want_x + oracle(qids, Q, qids, Q, T, self=True))
            at_t += sum(p[2] == T for p in want_x + want_s)
            for backend, isa in be:
                opt = ["--backend", backend] + (["--isa", isa] if isa else [])
                tag = f"{kind} {nq}x{nc} {backend}{'/' + isa if isa else ''}"
                run("join", "--quiet", "--dihedral", "--threshold", T, "--corpus", f"{w}/c.h5",
                    "--queries", f"{w}/q.h5", "--out", f"{w}/x.h5", *opt)
                check(pairs_of(f"{w}/x.h5") == want_x, f"{tag}: cross join")
                run("join", "--quiet", "--dihedral", "--threshold", T, "--corpus", f"{w}/q.h5",
                    f"{w}/c.h5", "--out", f"{w}/s.h5", *opt)
                check(pairs_of(f"{w}/s.h5") == want_s, f"{tag}: self-join")
                run("join", "--quiet", "--dihedral", "--threshold", T, "--corpus", f"{w}/c.h5",
                    "--queries", f"{w}/q.h5", "--self", "--out", f"{w}/qs.h5", *opt)
                check(pairs_of(f"{w}/qs.h5") == want_qs, f"{tag}: --queries --self")
    check(at_t > 0, "the data has pairs at exactly T")

    # a flipped copy: found only with --dihedral
    cids, C = images(20, 100, 32, 31, near=np.zeros((0, 32), np.uint8))
    qids, Q = images(1, 1, 32, 31, near=np.zeros((0, 32), np.uint8))
    Q[0, 5] = C[3, 0]
    write_shard(f"{w}/c.h5", cids, C)
    write_shard(f"{w}/q.h5", qids, Q)
    run("join", "--quiet", "--corpus", f"{w}/c.h5", "--queries", f"{w}/q.h5", "--out", f"{w}/plain.h5")
    run("join", "--quiet", "--dihedral", "--corpus", f"{w}/c.h5", "--queries", f"{w}/q.h5", "--out",
        f"{w}/dih.h5")
    check(pairs_of(f"{w}/plain.h5") == [], "the flipped copy is not found without --dihedral")
    check(pairs_of(f"{w}/dih.h5") == [(1, 103, 0, 5)], f"flipped copy with --dihedral: {pairs_of(f'{w}/dih.h5')}")

    # without --dihedral: byte-identical to the same shard without /dihedral
    cids, C = images(300, 1, 32, 31)
    for sub, dih in (("with", True), ("without", False)):
        os.makedirs(f"{w}/{sub}")
        write_shard(f"{w}/{sub}/c.h5", cids, C, dihedral=dih)
        run("join", "--quiet", "--corpus", "c.h5", "--out", "p.h5", cwd=f"{w}/{sub}")
        run("export", "p.h5", "--format", "csv", "--out", "p.csv", cwd=f"{w}/{sub}")
    # Everything the join wrote, but the inputs' file sizes and times (the
    # shard with /dihedral is a bigger file; /inputs records that).
    def content(path):
        out = {}
        with h5py.File(path, "r") as f:
            def visit(name, obj):
                if isinstance(obj, h5py.Dataset) and name not in ("inputs/size", "inputs/mtime"):
                    v = obj[()]  # object arrays (strings) by value, not as pointers
                    out[name] = v.tobytes() if isinstance(v, np.ndarray) and v.dtype != object else repr(v)
                for k, v in obj.attrs.items():
                    out[f"{name}@{k}"] = repr(v)
            visit("/", f)
            f.visititems(visit)
        return out
    got, want = content(f"{w}/with/p.h5"), content(f"{w}/without/p.h5")
    differ = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
    check(not differ, "a plain join of a dihedral shard writes the same pairs, attributes and inputs "
                      f"(but the files' sizes) as without /dihedral (differ: {differ})")
    check(open(f"{w}/with/p.csv").read() == open(f"{w}/without/p.csv").read(), "plain export unchanged")
    check(b"transform" not in open(f"{w}/with/p.h5", "rb").read(), "no transform in a plain join")

    # a self-join with labels: part + merge, cluster, sweep, export, report, info
    labels = np.arange(300) // 3
    write_shard(f"{w}/s.h5", cids, C, labels=labels)
    want = oracle(cids, C, cids, C, 31, self=True)
    run("join", "--quiet", "--dihedral", "--corpus", f"{w}/s.h5", "--out", f"{w}/sp.h5")
    check(pairs_of(f"{w}/sp.h5") == want, "self-join with labels")
    for i in range(3):
        run("join", "--quiet", "--dihedral", "--corpus", f"{w}/s.h5", "--part", f"{i}/3", "--out",
            f"{w}/part{i}.h5")
    run("merge", "--quiet", f"{w}/part0.h5", f"{w}/part1.h5", f"{w}/part2.h5", "--out", f"{w}/merged.h5")
    check(pairs_of(f"{w}/merged.h5") == want, "three parts merged equal the whole")
    with h5py.File(f"{w}/sp.h5", "r") as f:
        check(f.attrs.get("dihedral") == 1 and f["pairs/transform"].dtype == np.uint8,
              "pairs file: attribute dihedral = 1, /pairs/transform uint8")
    run("export", f"{w}/sp.h5", "--format", "csv", "--out", f"{w}/sp.csv")
    rows = list(csv.DictReader(open(f"{w}/sp.csv")))
    check(rows and list(rows[0].keys()) == ["a", "b", "distance", "transform"], "export columns")
    check([(int(r["a"]), int(r["b"]), int(r["distance"]), int(r["transform"])) for r in rows] == want,
          "export rows carry the transforms")
    run("cluster", "--quiet", "--pairs", f"{w}/sp.h5", "--out", f"{w}/cl.h5")
    parent = {int(i): int(i) for i in cids}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x
    for a, b, _, _ in want:
        parent[find(a)] = find(b)
    with h5py.File(f"{w}/cl.h5", "r") as f:
        got = dict(zip(f["clusters/id"][:].tolist(), f["clusters/cluster"][:].tolist()))
        diam = f["summary/diameter"][:]
        checked = f["summary/diameter_checked"][:]
        size = f["summary/size"][:]
    check(set(got) == set(parent), "clusters list every image once (no fake ids)")
    m1, m2, ok = {}, {}, True
    for k, v in got.items():
        if v < 0:
            continue
        ok &= m1.setdefault(v, find(k)) == find(k) and m2.setdefault(find(k), v) == v
    check(ok, "clusters are the components of the oracle's pairs")
    # true diameters use the dihedral distance: within T for pairs
    ok = all(diam[k] <= 31 for k in range(len(size)) if size[k] == 2 and checked[k])
    check(ok, "a two-member cluster's checked diameter is its dihedral pair distance")
    p = run("sweep", "--quiet", "--pairs", f"{w}/sp.h5", "--thresholds", "0:31:8", "--out", f"{w}/sw.json")
    check(p.returncode == 0 and os.path.getsize(f"{w}/sw.json") > 0, "sweep reads the pairs file")
    run("report", "--quiet", "--clusters", f"{w}/cl.h5", "--pairs", f"{w}/sp.h5", "--out", f"{w}/rep")
    check(os.path.exists(f"{w}/rep/triage.csv"), "report runs")
    info = run("info", f"{w}/s.h5").stdout
    check("dihedral" in info and "[300, 8, 32]" in info, f"info shows the dihedral shard: {info}")

    # --resume of a killed dihedral self-join: the same pairs (a pair found in
    # a journaled block and again in a new one is kept once, the nearer)
    rids, R = images(6000, 1, 32, 31)
    write_shard(f"{w}/r.h5", rids, R)
    args = ["join", "--quiet", "--dihedral", "--threads", "1", "--isa", "portable", "--corpus", f"{w}/r.h5"]
    t0 = time.time()
    run(*args, "--out", f"{w}/r-ref.h5")
    took = time.time() - t0
    resumed = 0
    for delay in (0.3 * took, 0.6 * took, 0.85 * took):
        p = subprocess.Popen([SIMJOIN, *args, "--out", f"{w}/r.h5.out"])
        time.sleep(delay)
        p.kill()
        p.wait()
        journal = os.path.exists(f"{w}/.r.h5.out.journal")
        run(*args, "--out", f"{w}/r.h5.out", "--resume", "--stats-json", f"{w}/r.json")
        resumed += journal and json.load(open(f"{w}/r.json"))["resumed_units"] > 0
        check(pairs_of(f"{w}/r.h5.out") == pairs_of(f"{w}/r-ref.h5"),
              f"resumed dihedral self-join (killed at {delay:.2f} s) equals the uninterrupted run")
        os.remove(f"{w}/r.h5.out")
    check(resumed > 0, "at least one killed dihedral self-join was resumed from its journal")

    # nightly --dihedral: night 0 (corpus), night 1 against it
    n0ids, N0 = images(150, 1, 32, 31)
    n1ids, N1 = images(80, 10_000, 32, 31, near=N0[:, 0, :])
    write_shard(f"{w}/n0.h5", n0ids, N0)
    write_shard(f"{w}/n1.h5", n1ids, N1)
    run("state", "init", f"{w}/st", "--kind", "pdq")
    run("nightly", "--quiet", "--dihedral", "--state", f"{w}/st", "--new", f"{w}/n0.h5")
    run("nightly", "--quiet", "--dihedral", "--state", f"{w}/st", "--new", f"{w}/n1.h5")
    rep = json.load(open(f"{w}/st/reports/g000002.json"))
    got = sorted((m["a"], m["b"], int(m["distance"]), m["transform"]) for m in rep["matches"])
    want = sorted(oracle(n1ids, N1, n0ids, N0, 31) + oracle(n1ids, N1, n1ids, N1, 31, self=True))
    check(got == want, f"nightly --dihedral matches: {len(got)} vs oracle {len(want)}")
    write_shard(f"{w}/n2.h5", n1ids + 50_000, N1, dihedral=False)
    p = run("nightly", "--quiet", "--dihedral", "--state", f"{w}/st", "--new", f"{w}/n2.h5", ok=False)
    check(p.returncode == 1 and "n2.h5" in p.stderr, f"nightly --dihedral on a plain shard: {p.stderr}")

    # bad inputs: an error naming the file (and row), exit 1, nothing written
    ids, X = images(10, 1, 32, 31)
    bad = {}
    Y = X.copy()
    Y[3, 0, 7] ^= 1
    bad["row0"] = (Y, "row 3")
    bad["shape"] = (X[:, :7, :], "/dihedral")
    bad["dtype"] = (X.astype(np.uint16), "/dihedral")
    for name, (data, words) in bad.items():
        path = f"{w}/bad-{name}.h5"
        write_shard(path, ids, X, dihedral=False)
        with h5py.File(path, "a") as f:
            f["dihedral"] = data
        p = run("join", "--dihedral", "--corpus", path, "--out", f"{w}/bad.h5", ok=False)
        check(p.returncode == 1 and path in p.stderr and words in p.stderr and
              not os.path.exists(f"{w}/bad.h5"), f"bad /dihedral ({name}): {p.returncode} {p.stderr}")
        p = run("info", path, ok=False)
        check(p.returncode == 1, f"info rejects bad /dihedral ({name})")
    path = f"{w}/bad-attr.h5"
    write_shard(path, ids, X, dihedral=False)
    with h5py.File(path, "a") as f:
        f.attrs["dihedral"] = 1
    p = run("join", "--corpus", path, "--out", f"{w}/bad.h5", ok=False)
    check(p.returncode == 1 and path in p.stderr, f"attribute dihedral without the dataset: {p.stderr}")
    p = run("join", "--dihedral", "--corpus", f"{w}/with/c.h5", "--queries", f"{w}/without/c.h5",
            "--out", f"{w}/bad.h5", ok=False)
    check(p.returncode == 1 and "without/c.h5" in p.stderr and not os.path.exists(f"{w}/bad.h5"),
          f"--dihedral with plain queries: {p.returncode} {p.stderr}")

    subprocess.run(["rm", "-rf", w])
    print(f"test_dihedral_cli: {len(failures)} failures (seed {SEED})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
