#!/usr/bin/env python3
"""bench_peers.py - simjoin against the peers a user would pick today, side
by side in one run, on the same rows: the faiss-cpu wheel from PyPI
(IndexFlatL2 / IndexFlatIP range search) and numpy + BLAS (blocked matrix
products with a threshold). Prints pairs/s, the ratios, and whether every
peer found the same pairs.

--kind pdq: simjoin join (the whole process, and its join_seconds from
--stats-json), ThreatExchange's flat scanner (--te-scanner: the driver that
scripts/build_te_scanner.sh builds) and the wheel's IndexBinaryFlat range
search, on the same rows at distance <= T (default 31); every degenerate-
looking hash is kept (--keep-degenerate) so all peers compare the same rows.
    scripts/build_te_scanner.sh /tmp/te
    /tmp/bench/bin/python scripts/bench_peers.py build/simjoin --kind pdq --corpus 1000000 \
        --queries 20000 --threads 2 --repeat 3 --te-scanner /tmp/te/te_flat_driver

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
    ap.add_argument("--te-scanner", default=None, help="pdq: ThreatExchange flat scanner driver")
    ap.add_argument("--keep", default=None, help="pdq: keep the generated shards in this folder")
    a = ap.parse_args()
    if a.kind == "pdq":
        return bench_pdq(a)
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


def pair_codes(q, c, nc):
    """Pairs (query row, corpus row) as sorted int64 codes q * nc + c."""
    return np.sort(np.asarray(q, np.int64) * nc + np.asarray(c, np.int64))


def bench_pdq(a):
    import resource

    import faiss
    T = int(a.threshold) if a.threshold is not None else 31
    faiss.omp_set_num_threads(a.threads)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"bench_peers: pdq hamming, {a.queries} x {a.corpus}, T = {T}, threads = {a.threads}, "
          f"best of {a.repeat}")
    print(f"  CPU: {cpu}; faiss {faiss.__version__}; load average {os.getloadavg()[0]:.1f} at start")
    tmp = a.keep or tempfile.mkdtemp(prefix="bench-peers-")
    os.makedirs(tmp, exist_ok=True)
    c_path, q_path, p_path = (os.path.join(tmp, n) for n in ("c.h5", "q.h5", "p.h5"))
    if not (a.keep and os.path.exists(c_path) and os.path.exists(q_path)):
        for path in (c_path, q_path):
            if os.path.exists(path):
                os.unlink(path)
        subprocess.run([a.simjoin, "gen", "--quiet", "--n", str(a.corpus), "--queries", str(a.queries),
                        "--seed", str(a.seed), "--degenerate-fraction", "0", "--out", c_path,
                        "--queries-out", q_path], check=True)
    with h5py.File(c_path, "r") as f:
        corpus, cids = np.ascontiguousarray(f["hashes"][:]), f["ids"][:]
    with h5py.File(q_path, "r") as f:
        queries, qids = np.ascontiguousarray(f["hashes"][:]), f["ids"][:]
    nq, nc = len(queries), len(corpus)
    n_cmp = float(nq) * nc
    results = {}  # name -> (wall seconds, CPU seconds or None, pair codes)

    def children_cpu():
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    def best_of(fn):
        best = None
        for _ in range(a.repeat):
            c0, t0 = children_cpu(), time.perf_counter()
            out = fn()
            run = (time.perf_counter() - t0, children_cpu() - c0) + tuple(out)
            best = run if best is None or run[0] < best[0] else best
        return best

    # simjoin: whole process (wall), and the join inside it (--stats-json).
    crow_of, qrow_of = np.argsort(cids), np.argsort(qids)
    cids_sorted, qids_sorted = cids[crow_of], qids[qrow_of]

    def run_simjoin():
        stats = os.path.join(tmp, "stats.json")
        for path in (p_path, stats):
            if os.path.exists(path):
                os.unlink(path)
        subprocess.run([a.simjoin, "join", "--quiet", "--keep-degenerate", "--corpus", c_path, "--queries",
                        q_path, "--threshold", str(T), "--threads", str(a.threads), "--out", p_path,
                        "--stats-json", stats], check=True)
        with open(stats) as f:
            js = json.load(f)
        with h5py.File(p_path, "r") as f:
            pa, pb = f["pairs/a"][:], f["pairs/b"][:]
        a_is_q = np.isin(pa, qids)
        qid, cid = np.where(a_is_q, pa, pb), np.where(a_is_q, pb, pa)
        q = qrow_of[np.searchsorted(qids_sorted, qid)]
        c = crow_of[np.searchsorted(cids_sorted, cid)]
        return js["join_seconds"], js["total_seconds"], js.get("backend", "cpu"), pair_codes(q, c, nc)

    wall, cpu_s, join_s, total_s, backend, got = best_of(run_simjoin)
    results["simjoin (whole process)"] = (wall, cpu_s, got)
    results[f"simjoin {backend} (join_seconds)"] = (join_s, None, got)

    if a.te_scanner:
        qb, cb, tp = (os.path.join(tmp, n) for n in ("q.bin", "c.bin", "te_pairs.bin"))
        queries.tofile(qb)
        corpus.tofile(cb)

        def run_te():
            out = subprocess.run([a.te_scanner, qb, cb, str(T), str(a.threads), "--pairs-out", tp],
                                 check=True, capture_output=True, text=True).stdout
            fig = dict(kv.split("=", 1) for kv in out.split())
            v = np.fromfile(tp, np.int64).reshape(-1, 2)
            return float(fig["seconds"]), fig, pair_codes(v[:, 0], v[:, 1], nc)

        wall, cpu_s, scan_s, fig, got = best_of(run_te)
        results["ThreatExchange flat (whole process)"] = (wall, cpu_s, got)
        results[f"ThreatExchange {fig['scanner']} (scan)"] = (scan_s, None, got)

    index = faiss.IndexBinaryFlat(256)
    index.add(corpus)

    def run_faiss():  # range_search keeps distance < radius
        c0 = time.process_time()
        lims, _, I = index.range_search(queries, T + 1)
        q = np.repeat(np.arange(nq), np.diff(lims.astype(np.int64)))
        return time.process_time() - c0, pair_codes(q, I, nc)

    wall, _, cpu_s, got = best_of(run_faiss)
    results[f"faiss-cpu {faiss.__version__} IndexBinaryFlat"] = (wall, cpu_s, got)

    ref = results["simjoin (whole process)"][2]
    whole = results["simjoin (whole process)"][0]
    # the last two columns: how many times faster simjoin's join (its whole
    # process) is than the path on that line
    print(f"  {'path':44} {'seconds':>8} {'pairs/s':>10} {'CPU s':>7} {'join vs':>8} {'whole vs':>9}"
          f"  pairs (same?)")
    for name, (sec, cpu_s, pairs) in results.items():
        same = "yes" if np.array_equal(pairs, ref) else f"NO: {len(np.setxor1d(pairs, ref))} differ"
        cpu_txt = f"{cpu_s:7.2f}" if cpu_s is not None else f"{'':7}"
        print(f"  {name:44} {sec:8.3f} {n_cmp / sec:10.3g} {cpu_txt} {sec / join_s:7.2f}x {sec / whole:8.2f}x"
              f"  {len(pairs)} ({same})")
    print(f"  simjoin whole process / join_seconds: {results['simjoin (whole process)'][0] / join_s:.3f}; "
          f"load average {os.getloadavg()[0]:.1f} at the end")
    if any(not np.array_equal(p, ref) for _, _, p in results.values()):
        sys.exit("bench_peers: the peers disagree")


if __name__ == "__main__":
    main()
