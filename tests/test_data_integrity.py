"""Issue 13, items 3, 4, 5, 8 and 18: no silent loss or wrong answer from
plausible inputs. Each case checks against an oracle computed here (numpy
Hamming distances, h5py reads), never against simjoin's own output.

  3  int8 /hashes read as the bit patterns they are (not clamped to 0), or
     refused where bytes are magnitudes; integers never cut by value
  4  source names whole (no 63-byte cut), any number of sources
  5  /inputs: any count, any length, newlines; found from the pairs file's
     directory, not the current one
  8  a shard changed after the join is refused by cluster and sweep
  18 srun without MPI: several Slurm tasks that are not MPI ranks are refused

  and nightly over more than 4,096 shards (argument many-shards; slow)

usage: test_data_integrity.py SIMJOIN [many-shards]"""
import os
import subprocess
import sys
import tempfile

try:
    import h5py
    import numpy as np
except ImportError:
    print("needs h5py and numpy (Debian: python3-h5py)")
    sys.exit(77)

SJ = os.path.abspath(sys.argv[1])
failed = checked = 0
# A launcher's variables would make simjoin an MPI rank: not wanted here.
ENV = {k: v for k, v in os.environ.items()
       if not k.startswith(("OMPI_", "PMI", "PMIX_", "SLURM_"))}


def check(cond, what):
    global failed, checked
    checked += 1
    print(("ok: " if cond else "FAIL: ") + what)
    failed += not cond


def run(*args, cwd=None, env=None):
    p = subprocess.run([SJ, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                       env=env or ENV)
    return p.returncode, p.stderr


def write_shard(path, hashes, ids, source=None, kind="pdq", labels=None, **attrs):
    with h5py.File(path, "w") as f:
        f["hashes"] = hashes
        f["ids"] = np.asarray(ids, np.int64)
        f.attrs["kind"] = kind
        if kind.startswith("u8"):
            f.attrs["kind"] = "u8"
            f.attrs["dim"] = hashes.shape[1]
        if source is not None:
            f.attrs["source"] = source
        if labels is not None:
            f["labels"] = np.asarray(labels, np.int64)
        for k, v in attrs.items():
            f.attrs[k] = v


def near_duplicates(rng, n, series=40, flips=6):
    """n pdq hashes: `series` groups of noisy copies, the rest random."""
    h = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    labels = -np.ones(n, np.int64)
    for s in range(series):
        base = rng.integers(0, 256, 32, dtype=np.uint8)
        for r in range(s * 5, s * 5 + 5):
            bits = np.unpackbits(base)
            bits[rng.choice(256, flips, replace=False)] ^= 1
            h[r] = np.packbits(bits)
            labels[r] = s
    perm = rng.permutation(n)
    return h[perm], labels[perm]


POP = np.array([bin(i).count("1") for i in range(256)], np.int64)


def oracle_pairs(hashes, ids, T, side=None):
    """All (a, b) id pairs, a < b, Hamming <= T (and sides differ when given)."""
    out = set()
    for i in range(len(ids)):
        d = POP[np.bitwise_xor(hashes[i + 1:], hashes[i])].sum(axis=1)
        for j in np.nonzero(d <= T)[0] + i + 1:
            if side is None or side[i] != side[j]:
                a, b = sorted((int(ids[i]), int(ids[j])))
                out.add((a, b))
    return out


def pairs_of(path):
    with h5py.File(path, "r") as f:
        return set(zip(f["pairs/a"][:].tolist(), f["pairs/b"][:].tolist()))


def many_shards():
    """nightly: a state of more than 4,096 shards is read whole (a fixed array
    of 4,096 paths dropped the rest from the corpus). Slow: 4,100 files."""
    rng = np.random.default_rng(13)
    W = tempfile.mkdtemp(prefix="sj-many-")
    h = rng.integers(0, 256, (1000, 32), dtype=np.uint8)
    st = f"{W}/state"
    rc1, err1 = run("state", "init", st, "--kind", "pdq")
    up = []
    for k in range(4100):
        p = f"{W}/up/u{k:04d}.h5"
        os.makedirs(os.path.dirname(p), exist_ok=True)
        write_shard(p, h[k % 1000:k % 1000 + 1] ^ np.uint8(k % 251), [10**7 + k])
        up.append(p)
    rc2, err2 = run("nightly", "--quiet", "--state", st, "--new", *up)
    write_shard(f"{W}/up-last.h5", h[4099 % 1000:4099 % 1000 + 1] ^ np.uint8(4099 % 251), [2 * 10**7])
    rc3, err3 = run("nightly", "--quiet", "--state", st, "--new", f"{W}/up-last.h5")
    ok = rc1 == rc2 == rc3 == 0
    if ok:
        with h5py.File(f"{st}/clusters/g000002.h5", "r") as f:
            c = dict(zip(f["state/id"][:].tolist(), f["state/cluster"][:].tolist()))
        ok = c.get(2 * 10**7) == c.get(10**7 + 4099) is not None
    check(ok, f"nightly over 4,100 committed shards matches a hash in the last one "
              f"({err1.strip()} {err2.strip()} {err3.strip()})"[:300])

    subprocess.run(["rm", "-rf", W])
    print(f"test_data_integrity many-shards: {checked} checks, {failed} failed")
    return 1 if failed or not checked else 0


def main():
    rng = np.random.default_rng(int(os.environ.get("SIMJOIN_TEST_SEED", "13")))
    W = tempfile.mkdtemp(prefix="sj-integrity-")
    out = os.path.join(W, "out")
    os.mkdir(out)

    def nothing_written():  # and clear the directory for the next case
        left = os.listdir(out)
        subprocess.run(["rm", "-rf", out])
        os.mkdir(out)
        return left == []

    # ---- 3: int8 hashes -------------------------------------------------------
    h, labels = near_duplicates(rng, 600)
    ids = rng.permutation(10**6)[:600]
    # Impostors: rows 0..19 each get a partner that differs only in its bytes
    # >= 0x80 (far apart in truth; equal if those bytes were clamped to 0).
    for r in range(20):
        high = h[r] >= 0x80
        h[300 + r] = h[r]
        h[300 + r, high] = rng.integers(0x80, 0x100, int(high.sum()), dtype=np.uint8)
    want = oracle_pairs(h, ids, 31)
    impostors = sum((min(ids[r], ids[300 + r]), max(ids[r], ids[300 + r])) in want for r in range(20))
    check(len(want) >= 100 and impostors < 5, f"int8: the oracle has {len(want)} pairs, "
          f"{impostors} of 20 impostor pairs")
    write_shard(f"{W}/i8.h5", h.view(np.int8), ids)
    rc, err = run("join", "--quiet", "--corpus", f"{W}/i8.h5", "--threshold", 31, "--out", f"{W}/i8p.h5")
    check(rc == 0 and pairs_of(f"{W}/i8p.h5") == want,
          f"int8 /hashes joined as their bit patterns: the oracle's pairs (rc {rc} {err.strip()})")
    write_shard(f"{W}/u8i8.h5", h.view(np.int8), ids, kind="u8:32")
    rc, err = run("join", "--corpus", f"{W}/u8i8.h5", "--threshold", 100, "--out", f"{out}/x.h5")
    check(nothing_written() * (rc == 1) and "u8i8.h5" in err and "/hashes is int8" in err,
          f"int8 /hashes for u8:D (magnitudes) refused naming file and dataset: {err.strip()}")
    write_shard(f"{W}/u16.h5", h.astype(np.uint16), ids)
    rc, err = run("join", "--corpus", f"{W}/u16.h5", "--threshold", 31, "--out", f"{out}/x.h5")
    check(nothing_written() * (rc == 1) and "u16.h5" in err and "/hashes" in err,
          f"uint16 /hashes refused: {err.strip()}")
    # Integers in a pairs file are never cut by value: a source index of 2^32
    # (int32 cast: 0) and an excluded rule of 257 (uint8 clamp: 255).
    rc, _ = run("join", "--quiet", "--corpus", f"{W}/i8.h5", "--threshold", 31, "--out", f"{W}/base.h5")
    for name, dset, value, dtype in (("source index 2^32", "nodes/source", 2**32, np.int64),
                                     ("excluded rule 257", "excluded/rule", 257, np.int16)):
        bad = f"{W}/bad-{dset.replace('/', '-')}.h5"
        subprocess.run(["cp", f"{W}/base.h5", bad], check=True)
        with h5py.File(bad, "a") as f:
            n = max(len(f["nodes/id"]) if dset == "nodes/source" else 1, 1)
            if dset == "excluded/rule":
                del f["excluded/id"], f["excluded/source"]
                f["excluded/id"] = np.array([10**9], np.int64)
                f["excluded/source"] = np.array([-1], np.int32)
            del f[dset]
            v = np.zeros(n, dtype)
            v[0] = value
            f[dset] = v
        rc, err = run("cluster", "--pairs", bad, "--out", f"{out}/c.h5")
        check(nothing_written() * (rc == 1) and os.path.basename(bad) in err and dset in err,
              f"pairs file with {name} refused: {err.strip()}")

    # ---- 4: source names whole, any number ------------------------------------
    common = "Landeskriminalamt Nordrhein-Westfalen, Dezernat 33, Sachgebiet 2"  # 64 bytes
    s1, s2 = common + " - Team Duesseldorf", common + " - Team Koeln"
    h, _ = near_duplicates(rng, 400)
    side = rng.integers(0, 2, 400)
    ids = np.arange(400) + 5000
    write_shard(f"{W}/src1.h5", h[side == 0], ids[side == 0], source=s1)
    write_shard(f"{W}/src2.h5", h[side == 1], ids[side == 1], source=s2)
    want = oracle_pairs(h, ids, 31, side)
    rc, err = run("join", "--quiet", "--cross-only", "--corpus", f"{W}/src1.h5", f"{W}/src2.h5",
                  "--threshold", 31, "--out", f"{W}/cross.h5")
    check(rc == 0 and len(want) > 10 and pairs_of(f"{W}/cross.h5") == want,
          f"--cross-only keeps the {len(want)} pairs between two sources alike in 64 bytes "
          f"(rc {rc} {err.strip()})")
    if rc == 0:
        with h5py.File(f"{W}/cross.h5", "r") as f:
            got = f.attrs["sources"]
        check(got.split("\n") == [s1, s2], "the sources attribute holds both names whole")
    long_source = "Agency " + "x" * 300
    np.savetxt(f"{W}/one.csv", [f"1,{bytes(h[0]).hex()}"], fmt="%s")
    rc, err = run("ingest", "--quiet", "--kind", "pdq", "--in", f"{W}/one.csv", "--source",
                  long_source, "--out", f"{W}/longsrc.h5")
    if rc == 0:
        with h5py.File(f"{W}/longsrc.h5", "r") as f:
            rc = 0 if f.attrs["source"] == long_source else 99
    check(rc == 0, f"ingest --source of 307 bytes stored whole (rc {rc} {err.strip()})")
    # 300 shards, 300 sources of 24 bytes: beyond 256 sources and 4,096 bytes.
    many = []
    for k in range(300):
        p = f"{W}/many/s{k:03d}.h5"
        os.makedirs(os.path.dirname(p), exist_ok=True)
        write_shard(p, h[k:k + 1], [k], source=f"police-department-{k:05d}")
        many.append(p)
    rc, err = run("join", "--quiet", "--corpus", *many, "--threshold", 31, "--out", f"{W}/many.h5")
    ok = rc == 0
    if ok:
        with h5py.File(f"{W}/many.h5", "r") as f:
            ok = f.attrs["sources"].split("\n") == [f"police-department-{k:05d}" for k in range(300)]
    check(ok, f"300 sources in one join, all named in the pairs file (rc {rc} {err.strip()[:200]})")

    # ---- 5: /inputs: any count, any length, newlines, relative to the pairs file
    h, labels = near_duplicates(rng, 1000, series=60)
    ids = rng.permutation(10**6)[:1000]
    deep = os.path.join(W, "d" * 60, "e" * 60)
    os.makedirs(deep)
    paths = []
    for k in range(100):  # 100 paths of ~190 bytes: 19 KB of inputs
        p = os.path.join(deep, f"shard-with-a-long-descriptive-name-{k:04d}.h5")
        write_shard(p, h[k * 10:(k + 1) * 10], ids[k * 10:(k + 1) * 10], labels=labels[k * 10:(k + 1) * 10])
        paths.append(p)
    rc, err = run("join", "--quiet", "--corpus", *paths, "--threshold", 31, "--out", f"{W}/p100.h5")
    with h5py.File(f"{W}/p100.h5", "r") as f:
        g = f.get("inputs", {})
        stored = [os.path.normpath(os.path.join(W, s)) for s in g["path"].asstr()[:]] if g else []
        roles = set(g["role"].asstr()[:]) if g else set()
        legacy = "inputs" in f.attrs
    check(rc == 0 and stored == paths and roles == {"corpus"} and not legacy,
          "join over 100 long paths records all 100 in /inputs (relative to the pairs file), "
          "no cut attribute")
    rc, err = run("cluster", "--pairs", f"{W}/p100.h5", "--linkage", "complete:31", "--out", f"{W}/c100.h5")
    ok = rc == 0
    if ok:
        with h5py.File(f"{W}/c100.h5", "r") as f:
            ok = bool(f["summary/diameter_checked"][:].all())
    check(ok, f"cluster reads all 100 inputs: complete linkage, every diameter checked ({err.strip()[:200]})")
    nl = os.path.join(W, "new\nline.h5")
    write_shard(nl, h[:300], ids[:300], labels=labels[:300])
    rc, err = run("join", "--quiet", "--corpus", nl, "--threshold", 31, "--out", f"{W}/pnl.h5")
    rc2, err2 = run("cluster", "--quiet", "--pairs", f"{W}/pnl.h5", "--out", f"{W}/cnl.h5")
    ok = rc == 0 and rc2 == 0
    if ok:
        with h5py.File(f"{W}/cnl.h5", "r") as f:
            ok = bool(f["summary/diameter_checked"][:].all())
    check(ok, f"a path with a newline is found again: every diameter checked ({err.strip()} {err2.strip()})")
    # Relative paths, and commands run from elsewhere.
    proj = os.path.join(W, "proj")
    os.makedirs(f"{proj}/shards")
    os.makedirs(f"{proj}/results")
    write_shard(f"{proj}/shards/a.h5", h[:500], ids[:500], labels=labels[:500])
    write_shard(f"{proj}/shards/b.h5", h[500:], ids[500:], labels=labels[500:])
    rc, err = run("join", "--quiet", "--corpus", "shards/a.h5", "shards/b.h5", "--threshold", 31,
                  "--out", "results/p.h5", cwd=proj)
    with h5py.File(f"{proj}/results/p.h5", "r") as f:
        stored = list(f["inputs/path"].asstr()[:]) if "inputs" in f else []
        check(rc == 0 and stored == ["../shards/a.h5", "../shards/b.h5"],
              "relative inputs stored relative to the pairs file's directory")
    elsewhere = os.path.join(W, "elsewhere")
    os.mkdir(elsewhere)
    rc, err = run("sweep", "--pairs", f"{proj}/results/p.h5", "--thresholds", "10:30:10",
                  "--out", f"{W}/sw.csv", cwd=elsewhere)
    check(rc == 0 and "scored against the labels" in err,
          f"sweep run from another directory finds the inputs' labels: {err.strip()}")
    rc, err = run("sweep", "--pairs", f"{proj}/results/p.h5", "--thresholds", "10:30:10", "--linkage",
                  "complete:25", "--out", f"{W}/swc.csv", cwd=elsewhere)
    check(rc == 0 and "complete:25" in err and "scored against the labels" in err,
          f"sweep --linkage complete from another directory finds labels and hashes: {err.strip()}")
    rc, err = run("cluster", "--quiet", "--pairs", f"{proj}/results/p.h5", "--linkage", "complete:25",
                  "--out", f"{W}/cproj.h5", cwd=elsewhere)
    check(rc == 0, f"cluster --linkage complete from another directory finds the hashes: {err.strip()}")
    # An older pairs file (no /inputs, the attribute only) is still read.
    rc, err = run("join", "--quiet", "--corpus", f"{proj}/shards/a.h5", "--threshold", 31, "--out", f"{W}/old.h5")
    with h5py.File(f"{W}/old.h5", "a") as f:
        check("inputs" in f.attrs and f.attrs["inputs"] == f"corpus:{proj}/shards/a.h5",
              "a short input list is still written as the old attribute too")
        if "inputs" in f:
            del f["inputs"]
    rc, err = run("cluster", "--pairs", f"{W}/old.h5", "--linkage", "complete:25", "--out", f"{W}/cold.h5")
    check(rc == 0, f"a pairs file without /inputs: the old attribute is read ({err.strip()})")

    # ---- 8: clusters from changed inputs are refused --------------------------
    other = h[:500].copy()
    other[:, :4] ^= rng.integers(0, 256, (500, 4), dtype=np.uint8)  # same ids, other hashes
    subprocess.run(["cp", f"{proj}/shards/a.h5", f"{W}/a-orig.h5"], check=True)
    write_shard(f"{proj}/shards/a.h5", other, ids[:500], labels=labels[:500])
    rc, err = run("cluster", "--pairs", f"{proj}/results/p.h5", "--out", f"{out}/c.h5")
    check(nothing_written() * (rc == 1) and "shards/a.h5" in err and "checksum" in err,
          f"cluster refuses a shard replaced after the join (same ids): {err.strip()}")
    rc, err = run("sweep", "--pairs", f"{proj}/results/p.h5", "--thresholds", "10:30:10",
                  "--out", f"{out}/sw.csv")
    check(nothing_written() * (rc == 1) and "shards/a.h5" in err,
          f"sweep refuses it too: {err.strip()}")
    subprocess.run(["cp", f"{W}/a-orig.h5", f"{proj}/shards/a.h5"], check=True)  # new mtime, same content
    rc, err = run("cluster", "--quiet", "--pairs", f"{proj}/results/p.h5", "--out", f"{W}/cback.h5")
    check(rc == 0, f"the same content again (a copy, new mtime) is accepted: {err.strip()}")

    # ---- 18: srun without MPI --------------------------------------------------
    for var, n in (("SLURM_NTASKS", "4"), ("SLURM_STEP_NUM_TASKS", "3")):
        rc, err = run("join", "--corpus", f"{proj}/shards/a.h5", "--threshold", 31,
                      "--out", f"{out}/p.h5", env={**ENV, var: n})
        check(nothing_written() * (rc == 1) and "--mpi=pmix" in err,
              f"{var}={n} without MPI refused, naming srun --mpi=pmix: {err.strip()[:120]}")
    rc, err = run("join", "--quiet", "--corpus", f"{proj}/shards/a.h5", "--threshold", 31,
                  "--out", f"{W}/one-task.h5", env={**ENV, "SLURM_NTASKS": "1"})
    check(rc == 0, f"one Slurm task runs: {err.strip()}")

    subprocess.run(["rm", "-rf", W])
    print(f"test_data_integrity: {checked} checks, {failed} failed")
    return 1 if failed or not checked else 0


if __name__ == "__main__":
    sys.exit(many_shards() if sys.argv[2:] == ["many-shards"] else main())
