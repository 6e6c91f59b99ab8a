#!/usr/bin/python3
"""Resource limits of `join`, `merge` and `nightly` (README "Data handling").

Expected pair and match counts come from numpy Hamming matrices, never from
simjoin's output.
  join:    a limit one below the pair count stops cleanly (exit 1, the message
           names the limit, its value and how to raise it, and the output
           directory is left empty: no output, no journal, no temporary); a
           limit equal to the pair count passes; the limit spans both joins of
           --queries --self; the default is applied (SIMJOIN_MEMORY_AVAILABLE
           and SIMJOIN_DISK_FREE lower what the machine shows); --max-pairs none
           and --max-memory none lift it; inputs that do not fit are refused.
  merge:   the same limits over the parts' pairs.
  nightly: 300 identical uploads over --max-pairs are quarantined (bounded
           reports, a warning, every id listed with its match count, rule
           "quarantined" in the state); past the default limit the run stops
           with the state unchanged; --max-matches (default 1000) quarantines;
           over the limit, the uploads with the most matches go until the rest
           fit; --max-matches K quarantines an upload with more than K matches
           (K matches stay).

usage: test_limits.py SIMJOIN
"""
import json
import os
import re
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
W = tempfile.mkdtemp()


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAIL: {what} (seed {SEED})", file=sys.stderr)
    else:
        print(f"ok: {what}")


def run(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([SIMJOIN, *args], capture_output=True, text=True, env=e)


def shard(path, hashes, ids, source="x"):
    with h5py.File(path, "w") as f:
        f["hashes"] = hashes
        f["ids"] = np.asarray(ids, np.int64)
        f.attrs["kind"] = "pdq"
        f.attrs["source"] = source


def dist(a, b):
    """Hamming distances between the rows of a and b (uint8 [n, 32])."""
    x = np.unpackbits(a, axis=1).astype(np.int32)
    y = np.unpackbits(b, axis=1).astype(np.int32)
    return x.sum(1)[:, None] + y.sum(1)[None, :] - 2 * (x @ y.T)


def empty_dir(d):
    return os.path.isdir(d) and os.listdir(d) == []


try:
    # ---- join -------------------------------------------------------------
    T = 120
    corpus = rng.integers(0, 256, (1500, 32), dtype=np.uint8)
    queries = rng.integers(0, 256, (400, 32), dtype=np.uint8)
    shard(f"{W}/c.h5", corpus, np.arange(1500))
    shard(f"{W}/q.h5", queries, np.arange(10000, 10400))
    d = dist(corpus, corpus)
    n_self = int(np.triu(d <= T, 1).sum())
    n_qc = int((dist(queries, corpus) <= T).sum())
    n_qq = int(np.triu(dist(queries, queries) <= T, 1).sum())
    assert n_self > 1000 and n_qq > 10
    out = f"{W}/out"
    os.mkdir(out)
    join = ["join", "--quiet", "--corpus", f"{W}/c.h5", "--threshold", str(T), "--keep-degenerate",
            "--out", f"{out}/p.h5"]

    p = run(*join, "--max-pairs", str(n_self - 1))
    check(p.returncode == 1 and re.search(rf"more than {n_self - 1} pairs, the limit set by --max-pairs "
                                          rf"{n_self - 1}.*--max-pairs N or --max-memory SIZE \(0 or none",
                                          p.stderr), "join: one pair over --max-pairs stops with a message "
                                                     "naming the limit and how to raise it")
    check(empty_dir(out), "join: over the limit, nothing is left (no output, journal or temporary)")
    p = run(*join, "--max-pairs", str(n_self))
    with h5py.File(f"{out}/p.h5") as f:
        check(p.returncode == 0 and len(f["pairs/a"]) == n_self, "join: exactly --max-pairs pairs pass")
    os.unlink(f"{out}/p.h5")
    both = ["join", "--quiet", "--corpus", f"{W}/c.h5", "--queries", f"{W}/q.h5", "--self", "--threshold",
            str(T), "--keep-degenerate", "--out", f"{out}/p.h5"]
    p = run(*both, "--max-pairs", str(n_qc + n_qq - 1))
    check(p.returncode == 1 and empty_dir(out), "join --self: the limit counts both joins' pairs")
    p = run(*both, "--max-pairs", str(n_qc + n_qq))
    check(p.returncode == 0, "join --self: exactly the limit passes")
    os.unlink(f"{out}/p.h5")

    small = {"SIMJOIN_MEMORY_AVAILABLE": "2M"}
    p = run(*join, env=small)
    check(p.returncode == 1 and "the default limit: the pairs that fit in 3/4 of the 2.0 MB of memory "
          "available" in p.stderr and empty_dir(out),
          "join: the default limit from the available memory applies, and nothing is left")
    p = run(*join, env={"SIMJOIN_DISK_FREE": "1M"})
    check(p.returncode == 1 and "9/10 of the 1.0 MB free beside the output" in p.stderr and empty_dir(out),
          "join: the default limit from the free disk applies")
    p = run(*join, "--max-pairs", "none", env=small)
    check(p.returncode == 0, "join: --max-pairs none lifts the default limit")
    os.unlink(f"{out}/p.h5")
    p = run(*join, "--max-memory", "0", env=small)
    check(p.returncode == 0, "join: --max-memory 0 lifts the default limit")
    os.unlink(f"{out}/p.h5")
    p = run(*join, env={"SIMJOIN_MEMORY_AVAILABLE": "100k"})
    check(p.returncode == 1 and "more than 3/4 of the memory available" in p.stderr and empty_dir(out),
          "join: inputs that do not fit in the available memory are refused")
    p = run(*join, "--max-pairs", "-3")
    check(p.returncode == 2, "join: --max-pairs -3 is a usage error")

    # under mpirun each rank stays under the limit, the ranks together do not
    if " mpi" in run("--version").stdout and shutil.which("mpirun"):
        env = {"OMPI_MCA_btl": "self,vader", "OMPI_MCA_btl_vader_single_copy_mechanism": "none",
               "OMPI_MCA_rmaps_base_oversubscribe": "1"}
        e = dict(os.environ)
        e.update(env)
        p = subprocess.run(["mpirun", "--oversubscribe", "--allow-run-as-root", "-np", "2", SIMJOIN, *join,
                            "--threads", "1", "--max-pairs", str(n_self - 1)], capture_output=True, text=True, env=e)
        check(p.returncode != 0 and f"more than {n_self - 1} pairs" in p.stdout + p.stderr and empty_dir(out),
              "join under mpirun: the limit holds for the pairs of all ranks together")
    else:
        print("skipped: join under mpirun (no MPI)")

    # merge: the parts of a split join hold n_self pairs together
    for i in range(2):
        run(*join[:-1], f"{W}/part{i}.h5", "--part", f"{i}/2")
    merge = ["merge", "--quiet", f"{W}/part0.h5", f"{W}/part1.h5", "--out", f"{out}/m.h5"]
    p = run(*merge, "--max-pairs", str(n_self - 1))
    check(p.returncode == 1 and f"merge: more than {n_self - 1} pairs, the limit set by --max-pairs" in p.stderr
          and empty_dir(out), "merge: one pair over --max-pairs stops, and nothing is written")
    p = run(*merge, env=small)
    check(p.returncode == 1 and "the default limit" in p.stderr and empty_dir(out),
          "merge: the default limit applies")
    p = run(*merge, "--max-pairs", str(n_self), env=small)
    check(p.returncode == 0 and os.path.exists(f"{out}/m.h5"), "merge: exactly --max-pairs pairs pass")
    os.unlink(f"{out}/m.h5")

    # ---- nightly ----------------------------------------------------------
    def state(name):
        d = f"{W}/{name}"
        subprocess.run([SIMJOIN, "state", "init", d, "--kind", "pdq"], check=True, capture_output=True)
        return d

    def report(st, g=1):
        return json.load(open(f"{st}/reports/g{g:06d}.json"))

    def size(st, g=1):
        return sum(os.path.getsize(f"{st}/reports/g{g:06d}.{e}") for e in ("json", "csv"))

    h = rng.integers(0, 256, 32, dtype=np.uint8)
    same_ids = np.arange(5000, 5300)
    shard(f"{W}/same.h5", np.tile(h, (300, 1)), same_ids)  # 44,850 pairs, 299 matches each
    st = state("s1")
    p = run("nightly", "--quiet", "--state", st, "--new", f"{W}/same.h5", "--max-pairs", "1000")
    r = report(st)
    check(p.returncode == 0 and "abnormal batch: more than 1000 pairs, the limit set by --max-pairs 1000"
          in p.stderr, "nightly: an abnormal batch is committed with a warning, even with --quiet")
    check(sorted((q["id"], q["matches"]) for q in r["quarantined"]) == [(int(i), 299) for i in same_ids],
          "nightly: every quarantined upload is listed with its match count")
    check(r["new_matches"] == 0 and size(st) < 200_000, f"nightly: the reports stay small ({size(st)} bytes)")
    with h5py.File(f"{st}/clusters/g000001.h5") as f:
        check((f["state/cluster"][:] == -1).all() and (f["state/rule"][:] == 4).all(),
              "nightly: quarantined uploads are kept out of the clusters (rule 4)")
    check(subprocess.run([SIMJOIN, "state", "verify", st], capture_output=True).returncode == 0,
          "nightly: the state verifies after a quarantine")

    # past the default limit (the machine's) nightly stops: its result must
    # not depend on the machine; --max-matches still quarantines
    st = state("s2")
    p = run("nightly", "--quiet", "--state", st, "--new", f"{W}/same.h5", env=small)
    check(p.returncode == 1 and "the default limit: the pairs that fit in 3/4 of the 2.0 MB" in p.stderr
          and "--max-matches K" in p.stderr and open(f"{st}/manifest").read().count("generation 0") == 1
          and os.listdir(f"{st}/reports") == [] and os.listdir(f"{st}/shards") == [],
          "nightly: past the default limit the run stops and the state is unchanged")
    p = run("nightly", "--quiet", "--state", st, "--new", f"{W}/same.h5", "--max-matches", "200", env=small)
    check(p.returncode == 0 and "300 uploads with more than 200 matches (--max-matches)" in p.stderr and
          len(report(st)["quarantined"]) == 300, "nightly: --max-matches brings a batch under the default limit")
    st = f"{W}/seeded"  # a known corpus seeds a state: nothing is quarantined by default
    p = subprocess.run([SIMJOIN, "state", "init", st, "--kind", "pdq", "--corpus", f"{W}/same.h5"],
                       capture_output=True, text=True)
    r = report(st)
    check(p.returncode == 0 and r["quarantined"] == [] and r["new_matches"] == 300 * 299 // 2,
          "state init --corpus: a known corpus is not quarantined (--max-matches is off for --as-corpus)")
    big = f"{W}/same1100.h5"
    shard(big, np.tile(h, (1100, 1)), np.arange(20000, 21100))
    st = state("s2b")
    p = run("nightly", "--quiet", "--state", st, "--new", big)
    r = report(st)
    check(p.returncode == 0 and len(r["quarantined"]) == 1100 and r["new_matches"] == 0 and size(st) < 500_000,
          "nightly: 1,100 identical uploads (1,099 matches each) are quarantined by default (--max-matches 1000)")

    # over the limit: the most-matched go, until the rest fit (ties together)
    g = rng.integers(0, 256, 32, dtype=np.uint8)
    mixed = np.concatenate([np.tile(h, (100, 1)), np.tile(g, (20, 1)),
                            rng.integers(0, 256, (30, 32), dtype=np.uint8)])
    ids = rng.permutation(100000)[:150]
    shard(f"{W}/mixed.h5", mixed, ids)
    dm = dist(mixed, mixed)
    counts = (dm <= 31).sum(1) - 1
    order = np.sort(counts)
    keep, total = 0, 0
    while keep < len(order) and total + order[keep] <= 1000:
        total += order[keep]
        keep += 1
    while 0 < keep < len(order) and order[keep - 1] == order[keep]:
        keep -= 1
    cap = order[keep - 1] if keep else -1
    want_q = sorted(int(i) for i, c in zip(ids, counts) if c > cap)
    kept = counts <= cap
    want_pairs = int(np.triu((dm <= 31) & kept[:, None] & kept[None, :], 1).sum())
    st = state("s3")
    p = run("nightly", "--quiet", "--state", st, "--new", f"{W}/mixed.h5", "--max-pairs", "1000")
    r = report(st)
    check(sorted(q["id"] for q in r["quarantined"]) == want_q and r["new_matches"] == want_pairs,
          f"nightly: over the limit, the {len(want_q)} most-matched uploads go and {want_pairs} pairs stay")

    # --max-matches K: more than K matches go, exactly K stay
    st = state("s4")
    p = run("nightly", "--quiet", "--state", st, "--new", f"{W}/mixed.h5", "--max-matches", "19")
    r = report(st)
    want_q = sorted(int(i) for i, c in zip(ids, counts) if c > 19)
    kept = counts <= 19
    want_pairs = int(np.triu((dm <= 31) & kept[:, None] & kept[None, :], 1).sum())
    check(p.returncode == 0 and sorted(q["id"] for q in r["quarantined"]) == want_q and
          r["new_matches"] == want_pairs and want_pairs >= 190,
          "nightly --max-matches 19: uploads with 19 matches stay, more go")
    st = state("s5")
    p = run("nightly", "--quiet", "--state", st, "--new", f"{W}/mixed.h5")
    r = report(st)
    check(p.returncode == 0 and r["quarantined"] == [] and
          r["new_matches"] == int(np.triu(dm <= 31, 1).sum()),
          "nightly: under the limits (default --max-matches 1000) every pair is reported")
finally:
    shutil.rmtree(W)
if failures:
    sys.exit(1)
