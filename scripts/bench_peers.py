#!/usr/bin/env python3
"""bench_peers.py - simjoin against the peers a user would pick today, side
by side in one run, on the same rows: the faiss-cpu wheel from PyPI
(IndexFlatL2 / IndexFlatIP range search) and numpy + BLAS (blocked matrix
products with a threshold). Prints pairs/s, the ratios, and whether every
peer found the same pairs.

Run it with a benchmark venv's Python (never needed by the tests):
    python3 -m venv /tmp/bench && /tmp/bench/bin/pip install faiss-cpu numpy h5py threadpoolctl
    /tmp/bench/bin/python scripts/bench_peers.py build/simjoin --kind photodna --corpus 200000 --queries 2000
    /tmp/bench/bin/python scripts/bench_peers.py build/simjoin --kind f32:512 --corpus 100000 --queries 1000

Environment: OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE slow a current numpy where
they are set; unset them for this command alone (the script prints the BLAS
kernel threadpoolctl reports, so the run says what it measured).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np


def read_rows(path, kind):
    with h5py.File(path, "r") as f:
        rows = f["hashes"][:]
    if kind.startswith("f32"):
        rows = rows.view(np.float32) if rows.dtype != np.float32 else rows
    return np.ascontiguousarray(rows)


def pairs_key(q, c):
    return set(zip(q.tolist(), c.tolist()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("simjoin")
    ap.add_argument("--kind", default="photodna")
    ap.add_argument("--metric", default=None, help="l2sq (default for photodna/u8), cosine (f32)")
    ap.add_argument("--corpus", type=int, default=200000)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    f32 = a.kind.startswith("f32")
    metric = a.metric or ("cosine" if f32 else "l2sq")
    if metric not in ("l2sq", "cosine"):
        sys.exit("bench_peers: metric l2sq or cosine (FAISS has no l1 range search)")
    dim = 144 if a.kind == "photodna" else int(a.kind.split(":")[1])
    T = a.threshold if a.threshold is not None else (0.05 if f32 else 100.0 * dim)

    import faiss
    from threadpoolctl import threadpool_info, threadpool_limits
    faiss.omp_set_num_threads(a.threads)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    blas = [f"{i['internal_api']} {i.get('version', '')} {i.get('architecture', '')}".strip()
            for i in threadpool_info() if i["user_api"] == "blas"]
    print(f"bench_peers: {a.kind} {metric}, {a.queries} x {a.corpus}, T = {T:g}, threads = {a.threads}")
    print(f"  CPU: {cpu}; faiss {faiss.__version__}; numpy {np.__version__}; BLAS: {', '.join(blas)}")
    print("  load average (1, 5, 15 min) at the start: %.2f %.2f %.2f" % os.getloadavg())

    tmp = tempfile.mkdtemp(prefix="bench-peers-")
    c_path, q_path, p_path = (os.path.join(tmp, n) for n in ("c.h5", "q.h5", "p.h5"))
    subprocess.run([a.simjoin, "gen", "--quiet", "--kind", a.kind, "--n", str(a.corpus), "--queries",
                    str(a.queries), "--seed", str(a.seed), "--threshold", str(T), "--degenerate-fraction", "0", "--out", c_path,
                    "--queries-out", q_path], check=True)
    corpus, queries = read_rows(c_path, a.kind), read_rows(q_path, a.kind)
    n_cmp = float(len(corpus)) * len(queries)
    results = {}

    def best_of(fn):
        best, out = float("inf"), None
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            out = fn()
            best = min(best, time.perf_counter() - t0)
        return best, out

    # simjoin: the join's own time from --stats-json (reading and writing apart).
    def run_simjoin():
        stats = os.path.join(tmp, "stats.json")
        for path in (p_path, stats):
            if os.path.exists(path):
                os.unlink(path)
        subprocess.run([a.simjoin, "join", "--quiet", "--corpus", c_path, "--queries", q_path,
                        "--metric", metric, "--threshold", repr(T), "--threads", str(a.threads),
                        "--out", p_path,
                        "--stats-json", stats], check=True)
        with open(stats) as f:
            js = json.load(f)
        with h5py.File(p_path, "r") as f:
            pa, pb = f["pairs/a"][:], f["pairs/b"][:]
        with h5py.File(q_path, "r") as f:
            qids = set(f["ids"][:].tolist())
        with h5py.File(c_path, "r") as f:
            cids = f["ids"][:]
        qid_row = {v: i for i, v in enumerate(sorted(qids))}
        crow = {v: i for i, v in enumerate(cids.tolist())}
        got = set()
        for x, y in zip(pa.tolist(), pb.tolist()):
            if x in qid_row and y in crow:
                got.add((qid_row[x], crow[y]))
            elif y in qid_row and x in crow:
                got.add((qid_row[y], crow[x]))
        return js.get("join_seconds") or js.get("seconds"), js.get("backend", "cpu"), got

    walls = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        join_s, path, got = run_simjoin()
        walls.append((time.perf_counter() - t0, join_s))
    wall, join_s = min(walls)
    results[f"simjoin {path} (join)"] = (join_s or wall, got)
    results["simjoin (whole process)"] = (wall, got)

    # faiss-cpu: range search keeps d < radius for L2, > radius for IP.
    if metric == "l2sq":
        xb, xq = corpus.astype(np.float32), queries.astype(np.float32)
        index = faiss.IndexFlatL2(dim)
        radius = float(np.nextafter(np.float32(T), np.float32(np.inf)))
    else:
        xb = corpus / np.linalg.norm(corpus, axis=1, keepdims=True)
        xq = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        xb, xq = xb.astype(np.float32), xq.astype(np.float32)
        index = faiss.IndexFlatIP(dim)
        radius = float(1.0 - T) - 1e-7
    index.add(xb)

    def run_faiss():
        lims, _, I = index.range_search(xq, radius)
        qi = np.repeat(np.arange(len(xq)), np.diff(lims.astype(np.int64)))
        return pairs_key(qi, I)

    results[f"faiss-cpu {faiss.__version__}"] = best_of(run_faiss)

    # numpy + BLAS: blocks of 256 queries x the corpus.
    cn = (xb.astype(np.float32) ** 2).sum(1) if metric == "l2sq" else None

    def run_numpy():
        out_q, out_c = [], []
        with threadpool_limits(a.threads, user_api="blas"):
            for i in range(0, len(xq), 256):
                blk = xq[i:i + 256]
                dots = blk @ xb.T
                if metric == "l2sq":
                    d = (blk ** 2).sum(1)[:, None] + cn[None, :] - 2 * dots
                else:
                    d = 1.0 - dots
                qi, ci = np.nonzero(d <= T)
                out_q.append(qi + i)
                out_c.append(ci)
        return pairs_key(np.concatenate(out_q), np.concatenate(out_c))

    results[f"numpy {np.__version__} + BLAS"] = best_of(run_numpy)

    print("  load average at the end: %.2f %.2f %.2f" % os.getloadavg())
    ref = results["simjoin (whole process)"][1]
    base = results[f"simjoin {path} (join)"][0]
    print(f"  {'path':34} {'seconds':>8} {'pairs/s':>10} {'simjoin join vs':>16}  pairs (same as simjoin?)")
    for name, (sec, pairs) in results.items():
        same = "yes" if pairs == ref else f"{len(pairs ^ ref)} differ (float rounding at T?)"
        print(f"  {name:34} {sec:8.3f} {n_cmp / sec:10.3g} {sec / base:15.2f}x  {len(pairs)} ({same})")


if __name__ == "__main__":
    main()
