#!/usr/bin/python3
"""Vector kinds end to end through the CLI, against numpy and python3-faiss.

  - photodna from base64 and hex (mixed in one file), u8:D hex, f32:D from
    CSV, blank-separated text and .npy (float32 and float64)
  - h5py reads the shards back bit for bit
  - join (every metric, cpu / faiss / naive backends) equals a numpy brute
    force in float64 (the documented reference), and FAISS's own range search
    finds the same pairs away from the boundary
  - cluster, sweep (with labels from gen), export and info work for vectors
  - NaN, Inf and float32 overflow are rejected naming FILE:LINE or FILE: row;
    truncated and mistyped .npy files are errors; nothing is written

usage: test_vectors_cli.py SIMJOIN
"""
import base64
import csv
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
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAIL: {what} (seed {SEED})", file=sys.stderr)


def run(*args, ok=True):
    p = subprocess.run([SIMJOIN, *map(str, args)], capture_output=True, text=True)
    if ok and p.returncode != 0:
        sys.exit(f"simjoin {' '.join(map(str, args))} failed ({p.returncode}): {p.stderr}")
    return p


def pairs_of(path):
    with h5py.File(path, "r") as f:
        return (f["pairs/a"][:], f["pairs/b"][:], f["pairs/distance"][:].astype(np.float64))


def reference(X, ids, metric, T, integral):
    """All pairs i < j (by row) with distance <= T, in float64, as sorted (a, b, d)."""
    # Sums over dimensions in order (np.cumsum accumulates sequentially),
    # as the README defines the reference.
    X64 = X.astype(np.float64)

    def seq(t):
        return np.cumsum(t, axis=-1)[..., -1]
    if metric == "l2sq":
        D = seq((X64[:, None, :] - X64[None, :, :]) ** 2)
    elif metric == "l1":
        D = seq(np.abs(X64[:, None, :] - X64[None, :, :]))
    elif metric == "ip":
        D = 1.0 - seq(X64[:, None, :] * X64[None, :, :])
    else:
        nn = seq(X64 * X64)
        D = 1.0 - seq(X64[:, None, :] * X64[None, :, :]) / np.sqrt(np.outer(nn, nn))
    i, j = np.triu_indices(len(X), 1)
    keep = D[i, j] <= T
    a, b = ids[i[keep]], ids[j[keep]]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    order = np.lexsort((hi, lo))
    return lo[order], hi[order], D[i, j][keep][order], D


# The faiss backend where this build has it (the sanitizer build does not).
HAVE_FAISS = "faiss" in subprocess.run([SIMJOIN, "--version"], capture_output=True, text=True).stdout
BACKENDS = ("cpu", "naive", "faiss") if HAVE_FAISS else ("cpu", "naive")

tmp = tempfile.mkdtemp(prefix="simjoin-vectors-")
try:
    # ---- photodna: base64 and hex in one file --------------------------------
    base = rng.integers(0, 256, (30, 144), dtype=np.uint8)
    P = np.clip(base[rng.integers(0, 30, 400)].astype(int) + rng.integers(-9, 10, (400, 144)), 0, 255).astype(np.uint8)
    pids = rng.permutation(10**6)[:400].astype(np.int64)
    src = os.path.join(tmp, "pdna.csv")
    with open(src, "w") as f:
        f.write("id,hash\n")
        for i, row in enumerate(P):
            text = base64.b64encode(bytes(row)).decode() if i % 2 else bytes(row).hex().upper()
            f.write(f"{pids[i]},{text}\n")
    pshard = os.path.join(tmp, "pdna.h5")
    run("ingest", "--kind", "photodna", "--in", src, "--out", pshard, "--quiet")
    with h5py.File(pshard, "r") as f:
        check(f.attrs["kind"] == "photodna" and f["hashes"].shape == (400, 144), "photodna shard layout")
        got = dict(zip(f["ids"][:].tolist(), map(bytes, f["hashes"][:])))
    check(all(got[int(pids[i])] == bytes(P[i]) for i in range(400)), "photodna base64/hex round trip")

    D2 = reference(P, pids, "l2sq", 0, True)[3]
    near = np.sort(D2[np.triu_indices(400, 1)])
    for metric in ("l2sq", "l1"):
        Dm = reference(P, pids, metric, 0, True)[3][np.triu_indices(400, 1)]
        T = int(np.sort(Dm)[len(Dm) // 50])  # a threshold with a fair number of pairs, hit exactly
        want = reference(P, pids, metric, T, True)
        for be in BACKENDS:
            out = os.path.join(tmp, f"p-{metric}-{be}.h5")
            p = run("join", "--corpus", pshard, "--metric", metric, "--threshold", T, "--backend", be,
                    "--out", out, "--quiet", ok=False)
            if be == "faiss" and metric == "l1":
                check(p.returncode == 1 and "l1" in p.stderr, f"faiss l1 refused: {p.stderr!r}")
                continue
            check(p.returncode == 0, f"photodna {metric} {be}: {p.stderr!r}")
            a, b, d = pairs_of(out)
            check(np.array_equal(a, want[0]) and np.array_equal(b, want[1]) and np.array_equal(d, want[2]),
                  f"photodna {metric} {be}: {len(a)} pairs, numpy {len(want[0])}")
            with h5py.File(out, "r") as f:
                check(f["pairs/distance"].dtype == np.int32 and f.attrs["metric"] == metric,
                      f"photodna {metric}: int32 distances and metric attribute")

    # ---- f32: CSV, blank-separated text, .npy float32 and float64 ---------------
    C = rng.standard_normal((12, 48))
    X = (C[rng.integers(0, 12, 300)] + 0.12 * rng.standard_normal((300, 48))).astype(np.float32)
    np.savetxt(os.path.join(tmp, "x.csv"), X[:100], delimiter=",", fmt="%.9g")
    np.savetxt(os.path.join(tmp, "x.txt"), X[100:200], fmt="%.9g")
    np.save(os.path.join(tmp, "x32.npy"), X[200:250])
    np.save(os.path.join(tmp, "x64.npy"), X[250:].astype(np.float64))
    fshard = os.path.join(tmp, "f.h5")
    run("ingest", "--kind", "f32:48", "--in", *(os.path.join(tmp, n) for n in ("x.csv", "x.txt", "x32.npy", "x64.npy")),
        "--out", fshard, "--quiet")
    with h5py.File(fshard, "r") as f:
        check(f["hashes"].dtype == np.float32 and f.attrs["dim"] == 48, "f32 shard layout")
        check(np.array_equal(f["hashes"][:], X), "f32 values round trip exactly (CSV, text, npy)")
        fids = f["ids"][:]
    check(np.array_equal(fids, np.arange(300)), "f32 ids assigned in order across files")

    import faiss  # Debian's python3-faiss: an oracle that shares no code with ours
    for metric in ("cosine", "ip", "l2sq"):
        Dm = reference(X, fids, metric, 0, False)[3][np.triu_indices(300, 1)]
        T = float(np.sort(Dm)[len(Dm) // 20])  # exactly the distance of one pair
        want = reference(X, fids, metric, T, False)
        for be in BACKENDS:
            out = os.path.join(tmp, f"f-{metric}-{be}.h5")
            run("join", "--corpus", fshard, "--metric", metric, "--threshold", repr(T), "--backend", be,
                "--out", out, "--quiet")
            a, b, d = pairs_of(out)
            check(np.array_equal(a, want[0]) and np.array_equal(b, want[1]) and np.array_equal(d, want[2]),
                  f"f32 {metric} {be}: {len(a)} pairs, numpy {len(want[0])}")
        # FAISS's own range search (float32) agrees away from the boundary.
        Xf = X.copy()
        if metric == "cosine":
            faiss.normalize_L2(Xf)
        index = faiss.IndexFlatL2(48) if metric == "l2sq" else faiss.IndexFlatIP(48)
        index.add(Xf)
        radius = T if metric == "l2sq" else 1.0 - T
        lims, dist, lab = index.range_search(Xf, radius)
        fp = set()
        for i in range(300):
            for k in range(lims[i], lims[i + 1]):
                if lab[k] > i:
                    fp.add((i, int(lab[k])))
        ours = set(zip(want[0].tolist(), want[1].tolist()))
        full = reference(X, fids, metric, 0, False)[3]
        margin = 1e-4 * max(1.0, abs(T))
        clear = {p for p in fp | ours if abs(full[p] - T) > margin}
        check({p for p in fp if p in clear} == {p for p in ours if p in clear},
              f"f32 {metric}: python3-faiss range search agrees away from the boundary")
    # --min-similarity is --threshold 1-S
    run("join", "--corpus", fshard, "--min-similarity", "0.9", "--out", os.path.join(tmp, "ms.h5"), "--quiet")
    run("join", "--corpus", fshard, "--threshold", "0.1", "--out", os.path.join(tmp, "mt.h5"), "--quiet")
    check(all(np.array_equal(x, y) for x, y in zip(pairs_of(os.path.join(tmp, "ms.h5")),
                                                   pairs_of(os.path.join(tmp, "mt.h5")))),
          "--min-similarity 0.9 equals --threshold 0.1")

    # ---- the rest of the tool on generated vectors -------------------------------
    g = os.path.join(tmp, "g.h5")
    run("gen", "--kind", "f32:32", "--n", 3000, "--seed", SEED % 1000, "--out", g, "--quiet")
    gp, gc = os.path.join(tmp, "gp.h5"), os.path.join(tmp, "gc.h5")
    run("join", "--corpus", g, "--threshold", 0.05, "--out", gp, "--quiet")
    run("cluster", "--pairs", gp, "--out", gc, "--quiet")
    with h5py.File(g, "r") as f:
        GX, gl = f["hashes"][:], f["labels"][:]
    with h5py.File(gc, "r") as f:
        check(f["summary/diameter"].dtype == np.float64, "f32 cluster distances are float64")
        ids, cl = f["clusters/id"][:], f["clusters/cluster"][:]
        sizes, diam, chk = f["summary/size"][:], f["summary/diameter"][:], f["summary/diameter_checked"][:]
    k = int(np.argmax(sizes))
    members = ids[cl == k]
    if chk[k] and len(members) > 1:
        M = GX[members].astype(np.float64)
        nn = (M ** 2).sum(1)
        check(abs((1 - (M @ M.T) / np.sqrt(np.outer(nn, nn))).max() - diam[k]) < 1e-9,
              "checked diameter of the largest cluster")
    run("sweep", "--pairs", gp, "--thresholds", "0:0.05:0.01", "--labels", g, "--out", os.path.join(tmp, "sw.json"), "--quiet")
    sw = json.load(open(os.path.join(tmp, "sw.json")))
    check([r["threshold"] for r in sw["rows"]] == [0, 0.01, 0.02, 0.03, 0.04, 0.05], "float thresholds shown as given")
    a, b, d = pairs_of(gp)
    check([r["pairs"] for r in sw["rows"]] == [int((d <= t).sum()) for t in (0, 0.01, 0.02, 0.03, 0.04, 0.05)],
          "sweep pair counts at float thresholds")
    p = run("export", g, "--format", "csv")
    rows = list(csv.reader(p.stdout.splitlines()))
    check(rows[0][:3] == ["id", "v0", "v1"] and
          np.array_equal(np.array(rows[1][1:33], float).astype(np.float32), GX[0]),
          "f32 export prints values that read back exactly")
    # The triage report of float distances (a self-join: every hash counts as new).
    rep = os.path.join(tmp, "rep")
    run("report", "--clusters", gc, "--pairs", gp, "--out", rep, "--quiet")
    with open(os.path.join(rep, "triage.csv")) as f:
        tri = list(csv.DictReader(f))
    with h5py.File(gc, "r") as f:
        mind = f["summary/min_distance"][:]
    multi = [t for t in tri if int(t["size"]) > 1]
    check(len(tri) > 0 and all(float(t["min_distance"]) == mind[int(t["cluster"])] for t in multi) and
          all(t["min_distance"] == "" for t in tri if int(t["size"]) == 1),
          "report prints float distances exactly (and none for singletons)")
    p = run("info", gp)
    check("metric           cosine" in p.stdout and "threshold        0.05" in p.stdout, f"info of an f32 pairs file: {p.stdout[:300]!r}")

    # ---- bad input ---------------------------------------------------------
    bad_out = os.path.join(tmp, "bad.h5")

    def bad(name, content, kind, expect):
        if os.path.exists(bad_out):
            os.remove(bad_out)
        path = os.path.join(tmp, name)
        if isinstance(content, bytes):
            open(path, "wb").write(content)
        elif isinstance(content, np.ndarray):
            np.save(path, content)
        else:
            open(path, "w").write(content)
        p = run("ingest", "--kind", kind, "--in", path, "--out", bad_out, ok=False)
        check(p.returncode == 1 and all(e in p.stderr for e in expect),
              f"{name}: expected {expect} in {p.stderr.strip()!r} (rc {p.returncode})")
        check(not os.path.exists(bad_out), f"{name}: nothing written")

    bad("nan.csv", "1,2,3\n4,nan,6\n", "f32:3", ["nan.csv:2:", "field 2", "NaN"])
    bad("inf.csv", "7,1,2,3\n8,1,-inf,3\n", "f32:3", ["inf.csv:2:", "field 3", "infinite"])
    bad("big.csv", "1e39,0,0\n", "f32:3", ["big.csv:1:", "float32"])
    bad("width.csv", "1,2\n", "f32:3", ["width.csv:1:", "2 fields"])
    Z = np.ones((4, 3), np.float32)
    Z[2, 1] = np.nan
    bad("nan.npy", Z, "f32:3", ["nan.npy: row 2, component 2 is NaN"])
    Z = np.ones((4, 3), np.float64)
    Z[3, 0] = np.inf
    bad("inf.npy", Z, "f32:3", ["inf.npy: row 3, component 1 is infinite"])
    bad("shape.npy", np.ones((4, 5), np.float32), "f32:3", ["shape.npy", "5 columns"])
    bad("dtype.npy", np.ones((4, 3), np.int32), "f32:3", ["dtype.npy", "dtype"])
    good = open(os.path.join(tmp, "x32.npy"), "rb").read()
    bad("trunc.npy", good[:-7], "f32:48", ["trunc.npy: truncated"])
    bad("magic.npy", b"\x93NUMPX" + good[6:], "f32:48", ["magic.npy", "not a .npy"])
    b64 = base64.b64encode(bytes(P[0])).decode()
    bad("b64.txt", b64[:100] + "*" + b64[101:] + "\n", "photodna", ["b64.txt:1:", "character 101", "base64"])
    bad("short.txt", b64[:-4] + "\n", "photodna", ["short.txt:1:", "188 characters", "192 base64"])
    # An f32 shard written by h5py with a NaN: refused when read.
    hp = os.path.join(tmp, "nan.h5")
    with h5py.File(hp, "w") as f:
        Y = np.ones((3, 4), np.float32)
        Y[1, 3] = np.nan
        f["hashes"] = Y
        f["ids"] = np.arange(3)
        f.attrs["kind"] = "f32"
        f.attrs["dim"] = 4
    p = run("join", "--corpus", hp, "--threshold", 0.1, "--out", bad_out, ok=False)
    check(p.returncode == 1 and "nan.h5: row 1, component 4 is NaN" in p.stderr, f"NaN in a shard: {p.stderr!r}")
    # Zero vectors under cosine: excluded as degenerate; kept, an error naming the row.
    with h5py.File(hp, "w") as f:
        Y = np.ones((3, 4), np.float32)
        Y[2] = 0
        f["hashes"] = Y
        f["ids"] = np.arange(3)
        f.attrs["kind"] = "f32"
        f.attrs["dim"] = 4
    run("join", "--corpus", hp, "--threshold", 0.1, "--out", os.path.join(tmp, "z.h5"), "--quiet")
    with h5py.File(os.path.join(tmp, "z.h5"), "r") as f:
        check(list(f["excluded/id"][:]) == [2] and list(f["excluded/rule"][:]) == [1], "zero vector excluded (all_zero)")
    p = run("join", "--corpus", hp, "--threshold", 0.1, "--keep-degenerate", "--out", bad_out, ok=False)
    check(p.returncode == 2 and "zero vector" in p.stderr, f"zero vector kept under cosine: {p.stderr!r}")
    p = run("join", "--corpus", fshard, "--metric", "hamming", "--threshold", 1, "--out", bad_out, ok=False)
    check(p.returncode == 2 and "does not apply" in p.stderr, f"hamming on f32 refused: {p.stderr!r}")
    p = run("join", "--corpus", fshard, "--queries", pshard, "--threshold", 1, "--out", bad_out, ok=False)
    check(p.returncode == 1 and "photodna" in p.stderr and "f32:48" in p.stderr, f"mixed kinds refused: {p.stderr!r}")
finally:
    if not os.environ.get("SIMJOIN_KEEP_TMP"):
        shutil.rmtree(tmp, ignore_errors=True)

if failures:
    print(f"{len(failures)} check(s) failed; seed {SEED}", file=sys.stderr)
    sys.exit(1)
print(f"vectors: all checks passed (seed {SEED})")
