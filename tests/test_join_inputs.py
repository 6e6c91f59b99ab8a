#!/usr/bin/python3
"""What a pairs file records of its inputs, against independent oracles
(hashlib over the shards' bytes as h5py reads them, numpy over the ids),
for the parts of a join that run beside each other (issue 17):

  - /inputs/checksum of every shard is SHA-256 over its /hashes bytes and
    its ids as little-endian int64 (taken on a second thread while the rows
    are prepared): several shards per side, shards of 1 row, a degenerate
    first row (removed right after the checksums are waited for), ids in and
    out of order
  - /meta_index: every id of both sides sorted, /new 1 for the queries; /meta
    all unknown where no input has metadata, the shard's values where one
    has, a named shard's source filled in
  - the whole file is byte-identical at --threads 1 and 2, and run to run;
    with SIMJOIN_COMPARE=OTHER/simjoin, also to that build's (an older one)

usage: [SIMJOIN_COMPARE=OLD] test_join_inputs.py SIMJOIN
"""
import filecmp
import hashlib
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

SIMJOIN = os.path.abspath(sys.argv[1])
SEED = int(os.environ.get("SEED", np.random.SeedSequence().entropy % 2**32))
rng = np.random.default_rng(SEED)
failures = []
TEXT = ["series", "case_id", "category", "source", "path", "md5", "sha1"]


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAIL: {what} (seed {SEED})", file=sys.stderr)


COMPARE = os.environ.get("SIMJOIN_COMPARE")


def run(*args, simjoin=SIMJOIN):
    p = subprocess.run([simjoin, *map(str, args)], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"simjoin {' '.join(map(str, args))} failed ({p.returncode}): {p.stderr}")
    return p


def shard(path, ids, source="", meta=None, zero_first=False):
    """A pdq shard of len(ids) random rows (near copies of one another so
    that some pairs match); meta: {field: list} for /meta."""
    n = len(ids)
    base = rng.integers(0, 256, (1, 32), dtype=np.uint8)
    X = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    near = rng.random(n) < 0.3
    X[near] = base ^ (rng.random((near.sum(), 32)) < 0.05).astype(np.uint8)
    if zero_first and n:
        X[0] = 0
    with h5py.File(path, "w") as f:
        f.attrs["format_version"] = 1
        f.attrs["kind"] = "pdq"
        f.attrs["bits"] = 256
        f.attrs["source"] = source
        f["hashes"] = X
        f["ids"] = np.asarray(ids, dtype=np.int64)
        for k, v in (meta or {}).items():
            f["meta/" + k] = np.array(v, dtype="S16" if k in TEXT else np.int8)
    return X, np.asarray(ids, dtype=np.int64)


def expected_sum(X, ids):
    return hashlib.sha256(X.tobytes() + ids.astype("<i8").tobytes()).hexdigest()


def check_file(out, corpus, queries, what, meta_rows=None, sources=None):
    """corpus/queries: [(path, X, ids)]; meta_rows: {id: {field: value}};
    sources: {id: name} for rows whose /meta/source comes from the shard."""
    with h5py.File(out) as f:
        paths = [p.decode() for p in f["inputs/path"][:]]
        roles = [r.decode() for r in f["inputs/role"][:]]
        sums = [s.decode() for s in f["inputs/checksum"][:]]
        want = [("corpus", p, X, i) for p, X, i in corpus] + [("queries", p, X, i) for p, X, i in queries]
        check(len(sums) == len(want), f"{what}: {len(want)} inputs recorded ({len(sums)})")
        for k, (role, p, X, ids) in enumerate(want[:len(sums)]):
            check(roles[k] == role and os.path.basename(paths[k]) == os.path.basename(p),
                  f"{what}: input {k} is {role} {os.path.basename(p)} ({roles[k]} {paths[k]})")
            check(sums[k] == expected_sum(X, ids),
                  f"{what}: input {k} ({os.path.basename(p)}, {len(ids)} rows) checksum is hashlib's")
        if not queries and not meta_rows:
            check("meta_index" not in f, f"{what}: no /meta_index (a self-join without metadata)")
            return
        all_ids = np.concatenate([i for _, _, i in corpus] + [i for _, _, i in queries])
        q_ids = np.concatenate([i for _, _, i in queries]) if queries else np.zeros(0, np.int64)
        mi = f["meta_index/id"][:]
        check(np.array_equal(mi, np.sort(all_ids)), f"{what}: /meta_index/id is every id, sorted")
        new = f["meta_index/new"][:]
        want_new = np.isin(mi, q_ids) if queries else np.ones(len(mi), bool)
        check(np.array_equal(new.astype(bool), want_new), f"{what}: /meta_index/new marks the queries")
        for field in TEXT + ["victim_identified", "offender_identified"]:
            col = f["meta/" + field][:]
            check(len(col) == len(mi), f"{what}: /meta/{field} has a row per id")
            for r, i in enumerate(mi):
                given = (meta_rows or {}).get(int(i), {})
                if field in TEXT:
                    v = col[r].decode()
                    exp = given.get(field, "")
                    if field == "source" and not exp:
                        exp = (sources or {}).get(int(i), "")
                else:
                    v, exp = int(col[r]), given.get(field, -1)
                if v != exp:
                    check(False, f"{what}: /meta/{field} of id {i} is {exp!r} ({v!r})")
                    break


def join_both_ways(tmp, name, corpus, queries):
    """The join at --threads 1 and 2 (and 2 again): byte-identical files."""
    outs = []
    for k, threads in enumerate([1, 2, 2]):
        out = os.path.join(tmp, f"{name}_{k}.h5")
        args = ["join", "--quiet", "--threshold", 31, "--threads", threads, "--out", out, "--corpus",
                *[p for p, _, _ in corpus]]
        if queries:
            args += ["--queries", *[p for p, _, _ in queries]]
        run(*args)
        outs.append(out)
    check(filecmp.cmp(outs[0], outs[1], shallow=False), f"{name}: --threads 1 and 2 give the same bytes")
    check(filecmp.cmp(outs[1], outs[2], shallow=False), f"{name}: run to run the same bytes")
    if COMPARE:
        other = os.path.join(tmp, f"{name}_other.h5")
        run(*[other if x == outs[2] else x for x in args], simjoin=COMPARE)
        check(filecmp.cmp(outs[1], other, shallow=False), f"{name}: the same bytes as {COMPARE}'s")
    return outs[1]


def main():
    with tempfile.TemporaryDirectory() as tmp:
        def make(name, ids, **kw):
            p = os.path.join(tmp, name + ".h5")
            X, i = shard(p, ids, **kw)
            return (p, X, i)

        # ids in order, several shards a side, one of a single row, a degenerate first row
        c = [make("c0", np.arange(0, 30000), zero_first=True), make("c1", [30000]),
             make("c2", np.arange(30001, 45000))]
        q = [make("q0", np.arange(100000, 103000)), make("q1", [200000])]
        out = join_both_ways(tmp, "ordered", c, q)
        check_file(out, c, q, "ordered cross join")
        with h5py.File(out) as f:
            check(0 in f["excluded/id"][:] and 0 not in f["nodes/id"][:],
                  "the all-zero row 0 is excluded, after its shard's checksum")

        # ids out of order across and within shards; metadata in one query
        # shard; one corpus shard with a named source
        perm = rng.permutation(60000)
        c = [make("s0", perm[:25000], source="db-a"), make("s1", perm[25000:50000])]
        qm = {"series": ["S1", "", "S2"], "case_id": ["c9", "", ""], "victim_identified": [1, -1, 0],
              "offender_identified": [-1, -1, 1]}
        q = [make("t0", perm[50000:59997]), make("t1", perm[59997:], meta=qm)]
        meta_rows = {}
        for r, i in enumerate(perm[59997:]):
            row = {k: v[r] for k, v in qm.items() if v[r] not in ("", -1)}
            meta_rows[int(i)] = row
        sources = {int(i): "db-a" for i in perm[:25000]}
        out = join_both_ways(tmp, "shuffled", c, q)
        check_file(out, c, q, "shuffled cross join with metadata", meta_rows, sources)

        # self-joins: one side, every hash new; with metadata in one shard
        c = [make("u0", np.arange(500, 9000)), make("u1", np.arange(9000, 9100))]
        out = join_both_ways(tmp, "self", c, [])
        check_file(out, c, [], "self-join")
        um = {"category": ["1", "", "2"], "path": ["a.jpg", "b.jpg", ""]}
        c = [make("v0", np.arange(500, 9000)), make("v1", [7, 9500, 3], meta=um)]
        meta_rows = {i: {k: v[r] for k, v in um.items() if v[r]} for r, i in enumerate([7, 9500, 3])}
        out = join_both_ways(tmp, "self_meta", c, [])
        check_file(out, c, [], "self-join with metadata", meta_rows)
    if failures:
        sys.exit(f"{len(failures)} failure(s) (seed {SEED})")
    print("ok")


if __name__ == "__main__":
    main()
