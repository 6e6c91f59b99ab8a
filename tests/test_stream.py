#!/usr/bin/python3
"""join streams a corpus that does not fit its memory budget from its shards
in pieces (issue 17, "Corpus larger than RAM").

Every streamed run is checked against the same join run without a cap (the
two files are the same bytes), and the pieces it used are read from its
notice ("streamed in K pieces of up to P rows"):
  - a self-join under a cap a tenth of the unlimited run's peak RSS, and a
    cross join (queries x a 3-shard corpus, with --self, and --part 1/2), --cross-only,
    --dihedral, case metadata in one shard, f32 cosine: identical files;
  - the pieces: boundaries inside shards, aligned with the shards, a last
    piece of 1 row, pieces of 1 row; each against a numpy naive join (the
    oracle: every pair, its distance) with pairs placed at exactly T across
    pieces (distance == T is a match, T - 1 is not);
  - the inputs' checksums in the file equal sha256(hash bytes, ids LE) of
    each shard, computed here;
  - duplicate ids in different pieces and different shards, and in one
    shard across a piece boundary: refused, nothing written;
  - kill -9 while streaming, then --resume: the same file;
  - --part on a streamed self-join is refused, naming it and the limit;
  - a shard changed in place while the join runs (after the first pass) is
    caught when its piece is read again: refused, nothing written.
The old code refuses every capped run here ("the inputs need about N MB in
memory, more than half of --max-memory").

usage: test_stream.py SIMJOIN
"""
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

SIMJOIN = os.path.abspath(sys.argv[1])
W = tempfile.mkdtemp(prefix="sj-stream-")
failures = []
ROW = 32 + 40  # a PDQ row as loaded (README: hash, id, quality, label, node)
KEPT = 28      # what a streamed join keeps of each corpus row


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, file=sys.stdout if cond else sys.stderr)
    if not cond:
        failures.append(what)


def run(*args, env=None):
    """Run simjoin; returns (exit code, stderr, peak RSS in KB). The RSS comes
    from /usr/bin/time: a child's ru_maxrss here would count this process's
    own memory, copied at fork before the exec."""
    rss_file = f"{W}/rss"
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file, SIMJOIN, *args],
                       stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                       env=dict(os.environ, **(env or {})), text=True)
    with open(rss_file) as f:
        rss = int(f.read().split()[-1])
    return p.returncode, p.stderr, rss


def pieces(err):
    """(K, P) from the streaming notice, or None."""
    m = re.search(r"streamed in (\d+) pieces of up to (\d+) rows", err)
    return (int(m.group(1)), int(m.group(2))) if m else None


def same_bytes(a, b):
    with open(a, "rb") as x, open(b, "rb") as y:
        return x.read() == y.read()


def compare(name, ref, args, cap=None, env=None, expect=None):
    """Run args under --max-memory cap (or the default limit, with env
    saying the memory available) beside ref; check it streamed (with (K, P)
    == expect when given) and wrote ref's bytes."""
    out = f"{W}/out/{name}.h5"
    limit = ["--max-memory", str(cap)] if cap else []
    rc, err, rss = run(*args, *limit, "--out", out, env=env)
    check(rc == 0, f"{name}: the capped run ({limit or env}) succeeds (exit {rc}: {err.strip()[-300:]})")
    got = pieces(err)
    check(got is not None and got[0] > 1, f"{name}: the corpus is streamed in pieces ({got})")
    if expect:
        check(got == expect, f"{name}: pieces {got}, expected {expect}")
    if rc == 0:
        check(same_bytes(out, ref), f"{name}: the same bytes as the unlimited run")
    return out, rss


def write_shard(path, hashes, ids, **extra):
    with h5py.File(path, "w") as f:
        f.attrs["format_version"] = 1
        f.attrs["kind"] = "pdq"
        f["hashes"] = hashes
        f["ids"] = np.asarray(ids, dtype=np.int64)
        for k, v in extra.items():
            f[k] = v


POP = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def naive_pairs(H, ids, T):
    """Every (a, b, d) with a < b (by id) and Hamming d <= T: numpy, no simjoin."""
    out = []
    for i in range(0, len(H), 256):
        d = POP[H[i:i + 256, None, :] ^ H[None, :, :]].sum(axis=2, dtype=np.int32)
        qi, ci = np.nonzero(d <= T)
        keep = ci > qi + i
        for q, c in zip(qi[keep] + i, ci[keep]):
            a, b = sorted((int(ids[q]), int(ids[c])))
            out.append((a, b, int(d[q - i, c])))
    return sorted(out)


def file_pairs(path):
    if not os.path.exists(path):  # (a failed run: checked already)
        return None
    with h5py.File(path) as f:
        return list(zip(f["pairs/a"][:].tolist(), f["pairs/b"][:].tolist(), f["pairs/distance"][:].tolist()))


def memory_for(n, p, per_row=2 * ROW):
    """SIMJOIN_MEMORY_AVAILABLE whose default budget (3/4 of it, README) has
    a half that holds n kept rows and pieces of exactly p rows (--max-memory
    takes no less than 1M; the default's budget has no floor)."""
    half = KEPT * n + per_row * p + per_row // 2
    for avail in range(half * 8 // 3 - 16, half * 8 // 3 + 16):
        if (avail // 4 * 3 // 2 - KEPT * n) // per_row == p:
            return {"SIMJOIN_MEMORY_AVAILABLE": str(avail)}
    raise AssertionError("no such memory")


def self_join_cases():
    rng = np.random.default_rng(11)
    # 4 shards of 250 rows: random hashes, near-duplicates of earlier rows at
    # chosen distances (some exactly T = 40 away, in other pieces and shards).
    n, T = 1000, 40
    H = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    bits = np.unpackbits(H, axis=1)
    exact = []
    for k in range(120):
        src, dst = int(rng.integers(0, n)), int(rng.integers(0, n))
        if src == dst:
            continue
        d = T if k % 3 == 0 else int(rng.integers(0, T + 8))
        row = bits[src].copy()
        flip = rng.choice(256, d, replace=False)
        row[flip] ^= 1
        bits[dst] = row
        if d == T:
            exact.append((src, dst))
    H = np.packbits(bits, axis=1)
    ids = rng.permutation(np.arange(10, 10 + 3 * n, 3))[:n]  # not in row order
    shards = []
    for s in range(4):
        path = f"{W}/s{s}.h5"
        write_shard(path, H[s * 250:(s + 1) * 250], ids[s * 250:(s + 1) * 250])
        shards.append(path)
    base = ["join", "--threads", "2", "--keep-degenerate", "--corpus", *shards]
    ref = f"{W}/out/tri-ref.h5"
    rc, err, _ = run(*base, "--threshold", str(T), "--out", ref)
    check(rc == 0, f"triangle: the unlimited run ({err.strip()[-200:]})")
    oracle = naive_pairs(H, ids, T)
    check(file_pairs(ref) == oracle, f"triangle: the unlimited run equals numpy's naive join ({len(oracle)} pairs)")
    at_t = {tuple(sorted((int(ids[a]), int(ids[b])))) for a, b in exact
            if int(POP[H[a] ^ H[b]].sum()) == T}
    got = {(a, b) for a, b, d in file_pairs(ref) or [] if d == T}
    check(len(at_t) > 10 and at_t <= got, f"triangle: the {len(at_t)} pairs at exactly T are matches")

    # Pieces (under the default limit, 3/4 of the memory available): 50 rows
    # (aligned with the shards), 30 (boundaries inside shards), 37 (27
    # pieces of 37, then one of 1 row).
    for p, k in ((50, 20), (30, 34), (37, 28)):
        out, _ = compare(f"tri-{p}", ref, [*base, "--threshold", str(T)], env=memory_for(n, p), expect=(k, p))
        check(file_pairs(out) == oracle, f"tri-{p}: equals numpy's naive join")
    # T - 1: the pairs at exactly T are gone, streamed or not.
    ref39 = f"{W}/out/tri-ref39.h5"
    run(*base, "--threshold", str(T - 1), "--out", ref39)
    out, _ = compare("tri-30-T-1", ref39, [*base, "--threshold", str(T - 1)], env=memory_for(n, 30),
                     expect=(34, 30))
    check(file_pairs(out) == [x for x in oracle if x[2] <= T - 1] and
          not any((a, b) in at_t for a, b, _ in file_pairs(out) or []), "T - 1: the pairs at T are not matches")

    # Checksums recorded: sha256 of each shard's hash bytes then ids (LE), done here.
    sums = None
    if os.path.exists(f"{W}/out/tri-30.h5"):
        with h5py.File(f"{W}/out/tri-30.h5") as f:
            sums = [x.decode() for x in f["inputs/checksum"][:]]
    want = [hashlib.sha256(H[s * 250:(s + 1) * 250].tobytes() +
                           ids[s * 250:(s + 1) * 250].astype("<i8").tobytes()).hexdigest() for s in range(4)]
    check(sums == want, "the streamed run records each shard's sha256 (hash bytes, then ids)")

    # Pieces of one row: 3 shards of 15 rows, 45 pieces, 1035 piece joins.
    small = []
    for s in range(3):
        path = f"{W}/t{s}.h5"
        write_shard(path, H[s * 15:(s + 1) * 15], ids[s * 15:(s + 1) * 15])
        small.append(path)
    sargs = ["join", "--keep-degenerate", "--corpus", *small, "--threshold", "100"]
    sref = f"{W}/out/one-ref.h5"
    run(*sargs, "--out", sref)
    out, _ = compare("one-row", sref, sargs, env=memory_for(45, 1), expect=(45, 1))
    check(file_pairs(out) == naive_pairs(H[:45], ids[:45], 100), "one-row pieces: equal numpy's naive join")

    # Duplicate ids: the first row of shard 0 and the last of shard 3 (pieces
    # 0 and 3), and two rows of shard 1 on each side of a piece boundary.
    for name, (a, b), msg in (("across shards", (0, 999), "corpus: rows 0 and 999 have the same id"),
                              ("in one shard", (260, 310), "dup1.h5: rows 10 and 60 have the same id")):
        dup = ids.copy()  # (30-row pieces: rows 260 and 310 are in pieces 8 and 10)
        dup[b] = dup[a]
        paths = []
        for s in range(4):
            path = f"{W}/dup{s}.h5"
            write_shard(path, H[s * 250:(s + 1) * 250], dup[s * 250:(s + 1) * 250])
            paths.append(path)
        out = f"{W}/out/dup.h5"
        rc, err, _ = run("join", "--keep-degenerate", "--corpus", *paths, "--threshold", str(T),
                         "--out", out, env=memory_for(n, 30))
        check(rc == 1 and msg in err and pieces(err) is not None and not os.path.exists(out),
              f"duplicate ids {name}: refused ({rc}: {err.strip()[-200:]})")


def refusals():
    """Options that cannot stream are refused, naming the option and the limit."""
    rng = np.random.default_rng(3)
    path = f"{W}/r.h5"
    write_shard(path, rng.integers(0, 256, (1000, 32), dtype=np.uint8), np.arange(1000))
    out = f"{W}/out/r.h5"
    big = f"{W}/r10k.h5"  # 0.7 MB as loaded: streamed under --max-memory 1M
    write_shard(big, rng.integers(0, 256, (10000, 32), dtype=np.uint8), np.arange(10000))
    rc, err, _ = run("join", "--corpus", big, "--threshold", "31", "--part", "0/2", "--max-memory", "1M",
                     "--out", out)
    check(rc == 1 and "cannot be split with --part" in err and "half of --max-memory (1.0 MB)" in err
          and not os.path.exists(out), f"--part on a streamed self-join is refused ({rc}: {err.strip()[-200:]})")
    rc, err, _ = run("join", "--corpus", big, "--threshold", "31", "--max-memory", "1M", "--out", out)
    check(rc == 0 and pieces(err) is not None, f"the same join without --part streams ({err.strip()[-200:]})")
    os.unlink(out)
    rc, err, _ = run("join", "--corpus", path, "--threshold", "31", "--out", out,
                     env={"SIMJOIN_MEMORY_AVAILABLE": "40000"})
    check(rc == 1 and "more than 3/4 of the memory available" in err and not os.path.exists(out),
          f"a budget that cannot hold 28 bytes a row: refused, as before ({rc}: {err.strip()[-200:]})")
    rc, err, _ = run("join", "--corpus", path, "--threshold", "31", "--max-memory", "1M", "--out", out)
    check(rc == 0 and pieces(err) is None, "a corpus that fits in half of --max-memory is not streamed")


def changed_during_join():
    """A shard's bytes changed in place between the first pass and a piece's
    re-read (the join stopped with SIGSTOP once its journal exists, i.e. after
    the first pass): refused, nothing written. Shards above HDF5's 64 KiB
    sieve buffer, so that the re-read comes from the file."""
    rng = np.random.default_rng(5)
    paths = []
    for s in range(4):
        path = f"{W}/chg{s}.h5"
        write_shard(path, rng.integers(0, 256, (2500, 32), dtype=np.uint8), np.arange(s * 2500, (s + 1) * 2500))
        paths.append(path)
    with h5py.File(paths[3]) as f:
        offset = f["hashes"].id.get_offset() + 2499 * 32  # the last row: the last piece
    out, journal = f"{W}/out/chg.h5", f"{W}/out/.chg.h5.journal"
    p = subprocess.Popen([SIMJOIN, "join", "--threads", "1", "--corpus", *paths, "--threshold", "40",
                          "--out", out], stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, **memory_for(10000, 500)))
    while not os.path.exists(journal) and p.poll() is None:
        time.sleep(0.0005)
    p.send_signal(signal.SIGSTOP)
    stopped = p.poll() is None
    with open(paths[3], "r+b") as f:  # (HDF5's lock is advisory: plain writes pass)
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 1]))
    p.send_signal(signal.SIGCONT)
    err = p.stderr.read()
    p.wait()
    if not stopped:
        print("skipped: the join ended before it could be stopped")
        return
    check(p.returncode == 1 and "chg3.h5: the corpus's rows 9500..9999 (from row 2000 of this shard) are "
          "not those its first pass read" in err and not os.path.exists(out),
          f"a shard changed during the join: refused, nothing written ({p.returncode}: {err.strip()[-200:]})")


def gen_cases():
    c = f"{W}/c.h5"
    # (a tenth of the peak must still hold what streaming keeps of each row:
    # the pairs make up much of the peak here, as in a real backlog join)
    subprocess.run([SIMJOIN, "gen", "--quiet", "--n", "100000", "--seed", "5", "--series-fraction", "0.1",
                    "--out", c], check=True)
    dense = ["join", "--threads", "2", "--corpus", c, "--threshold", "31"]
    ref = f"{W}/out/ref.h5"
    rc, err, peak = run(*dense, "--out", ref)
    check(rc == 0, f"unlimited gen self-join (exit {rc} {err.strip()[-200:]})")
    cap = peak * 1024 // 10
    # Under ASan the peak RSS counts shadow memory, and a tenth of it would hold
    # the corpus as loaded (nothing streamed): take at most the tenth a plain
    # build measures here (about 9 MB).
    asan = b"libasan" in subprocess.run(["ldd", SIMJOIN], capture_output=True).stdout
    if asan:
        cap = min(cap, 9 * 1024 * 1024)
    # one thread: each thread also holds one work unit's pairs outside the budget
    tenth = dense[:]
    tenth[tenth.index("--threads") + 1] = "1"
    _, rss = compare("tenth", ref, tenth, cap)
    # the process itself (libraries, a join of 2 hashes)
    write_shard(f"{W}/two.h5", np.zeros((2, 32), np.uint8) + 7, [1, 2])
    base = run("join", "--quiet", "--corpus", f"{W}/two.h5", "--threshold", "0", "--out", f"{W}/two-out.h5")[2]
    check(asan or rss - base < 2 * cap / 1024,
          f"tenth: its peak ({rss} KB) is within twice the cap ({cap // 1024} KB) of the process's own "
          f"({base} KB); the unlimited run's: {peak} KB" + (" (not checked under ASan)" if asan else ""))

    # queries x a 3-shard corpus (+ --self), --cross-only between two sources
    parts = []
    with h5py.File(c) as f:
        H, ids, q = f["hashes"][:], f["ids"][:], f["quality"][:] if "quality" in f else None
    for s, (lo, hi) in enumerate(((0, 45000), (45000, 46000), (46000, 100000))):
        path = f"{W}/g{s}.h5"
        write_shard(path, H[lo:hi], ids[lo:hi])
        with h5py.File(path, "a") as f:
            f.attrs["source"] = "A" if s != 1 else "B"
        parts.append(path)
    qp = f"{W}/q.h5"
    subprocess.run([SIMJOIN, "gen", "--quiet", "--n", "3000", "--seed", "5", "--first-id", "1000000",
                    "--source", "Q", "--out", qp], check=True)
    xargs = ["join", "--threads", "2", "--corpus", *parts, "--queries", qp, "--self", "--threshold", "31"]
    run(*xargs, "--out", f"{W}/out/xref.h5")
    compare("cross", f"{W}/out/xref.h5", xargs, 8 << 20)
    run(*xargs, "--part", "1/2", "--out", f"{W}/out/xpref.h5")  # --part splits the queries: it streams
    compare("cross-part", f"{W}/out/xpref.h5", [*xargs, "--part", "1/2"], 8 << 20)
    oargs = ["join", "--threads", "2", "--corpus", *parts, "--threshold", "31", "--cross-only"]
    run(*oargs, "--out", f"{W}/out/oref.h5")
    compare("cross-only", f"{W}/out/oref.h5", oargs, 8 << 20)

    # case metadata in one shard of the streamed corpus
    with h5py.File(parts[1], "a") as f:
        f["meta/case_id"] = np.array([b"K-%d" % i for i in range(1000)], dtype="S16")
        f["meta/victim_identified"] = np.where(np.arange(1000) % 2 == 0, 1, -1).astype(np.int8)
    margs = ["join", "--threads", "2", "--corpus", *parts, "--threshold", "31"]
    run(*margs, "--out", f"{W}/out/mref.h5")
    compare("metadata", f"{W}/out/mref.h5", margs, 8 << 20)

    # a vector kind (f32 cosine: float distances), streamed
    fv = f"{W}/f.h5"
    subprocess.run([SIMJOIN, "gen", "--quiet", "--kind", "f32:16", "--n", "8000", "--seed", "2", "--out", fv],
                   check=True)
    fargs = ["join", "--threads", "2", "--corpus", fv, "--threshold", "0.02"]
    run(*fargs, "--out", f"{W}/out/fref.h5")
    compare("f32", f"{W}/out/fref.h5", fargs, 1 << 20)

    # --dihedral: the whole square of pieces
    rng = np.random.default_rng(7)
    X = rng.integers(0, 256, (1500, 8, 32), dtype=np.uint8)
    d = f"{W}/d.h5"
    write_shard(d, np.ascontiguousarray(X[:, 0, :]), np.arange(1500) * 3, dihedral=X)
    with h5py.File(d, "a") as f:
        f.attrs["dihedral"] = 1
    dargs = ["join", "--threads", "2", "--dihedral", "--keep-degenerate", "--corpus", d, "--threshold", "112"]
    run(*dargs, "--out", f"{W}/out/dref.h5")
    compare("dihedral", f"{W}/out/dref.h5", dargs, env=memory_for(1500, 300, 2 * ROW + 8 * 32), expect=(5, 300))

    # kill -9 while streaming, then --resume under the same cap
    out = f"{W}/out/resumed.h5"
    journal = f"{W}/out/.resumed.h5.journal"
    slow = ["join", "--quiet", "--threads", "1", "--corpus", c, "--threshold", "31", "--max-memory", str(cap),
            "--out", out]
    p = subprocess.Popen([SIMJOIN, *slow])
    for _ in range(4000):
        if p.poll() is not None or (os.path.exists(journal) and os.path.getsize(journal) > 200_000):
            break
        time.sleep(0.005)
    killed = p.poll() is None
    p.send_signal(signal.SIGKILL)
    p.wait()
    rc, err, _ = run(*slow, "--resume", "--stats-json", f"{W}/resumed.json")
    check(rc == 0 and same_bytes(out, ref), f"resumed: the same bytes as the unlimited run (exit {rc} {err.strip()[-200:]})")
    if killed and rc == 0:
        with open(f"{W}/resumed.json") as f:
            s = json.load(f)
        check(s["resumed_units"] > 0, f"resumed: units from the journal ({s['resumed_units']})")
    check(not [x for x in os.listdir(f"{W}/out") if x.startswith(".")], "no journal or temporary left")


def main():
    os.makedirs(f"{W}/out")
    self_join_cases()
    refusals()
    changed_during_join()
    gen_cases()
    subprocess.run(["rm", "-rf", W])
    print(f"{'FAILED: ' + str(len(failures)) if failures else 'all passed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
