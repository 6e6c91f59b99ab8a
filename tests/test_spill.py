#!/usr/bin/python3
"""join under --max-memory spills its pairs to sorted runs on disk and merges
them into the output (issue 17, "Scale: pairs beyond memory").

Every capped run is compared with the same join run without a cap: the two
files give the same `h5dump` (and are the same bytes), and the capped one
says in --stats-json that it wrote runs ("spilled_runs" > 0).
  - a dense self-join (about a million pairs) under a cap a tenth of the unlimited
    run's peak memory (max RSS, measured here): identical, spilled, and its
    own peak well under the unlimited one's;
  - the budget's edge: a cap whose buffer holds exactly the join's pairs
    keeps them in memory (no run); one pair less writes two runs;
  - no pairs at all; --cross-only (a filter on the spilled pairs); a
    dihedral self-join (copies of a pair from both images' blocks, in
    different runs, keep the nearest); queries x corpus + --self;
  - a spilled run killed with kill -9 and resumed (--resume) gives the same
    file; no run file, journal or temporary is left in the output directory.
The old code refuses every capped run here with "more than N pairs, the
limit set by --max-memory".

usage: test_spill.py SIMJOIN
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

SIMJOIN = os.path.abspath(sys.argv[1])
W = tempfile.mkdtemp(prefix="sj-spill-")
failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, file=sys.stdout if cond else sys.stderr)
    if not cond:
        failures.append(what)


def run(*args, env=None):
    """Run simjoin; returns (exit code, stderr, peak RSS in KB)."""
    p = subprocess.Popen([SIMJOIN, *args], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         env=dict(os.environ, **(env or {})), text=True)
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, err, usage.ru_maxrss


def dump(path):
    return subprocess.run(["h5dump", path], capture_output=True).stdout.split(b"\n", 1)[1]


def stats(path):
    with open(path) as f:
        return json.load(f)


def hidden():
    """Run files, journals and temporaries in the output directory."""
    return sorted(n for n in os.listdir(f"{W}/out") if n.startswith("."))


def compare(name, ref, args, cap, expect_spill=True, env=None):
    """Run args with --max-memory cap into out/ (beside ref: the inputs'
    paths are stored relative to the output); check it against ref."""
    out = f"{W}/out/{name}.h5"
    rc, err, rss = run(*args, "--max-memory", str(cap), "--out", out, "--stats-json",
                       f"{W}/{name}.json", env=env)
    check(rc == 0, f"{name}: the capped run (--max-memory {cap}) succeeds (exit {rc}: {err.strip()[-200:]})")
    if rc:
        return None, rss
    s = stats(f"{W}/{name}.json")
    spilled = s.get("spilled_runs", 0)
    check((spilled > 0) == expect_spill,
          f"{name}: spilled_runs = {spilled} ({'> 0' if expect_spill else '0'} expected)")
    check(dump(out) == dump(ref), f"{name}: h5dump of the capped output equals the unlimited one's")
    with open(out, "rb") as a, open(ref, "rb") as b:
        check(a.read() == b.read(), f"{name}: the two files are the same bytes")
    return s, rss


def main():
    os.makedirs(f"{W}/out")
    c = f"{W}/c.h5"
    subprocess.run([SIMJOIN, "gen", "--quiet", "--n", "4000", "--seed", "3", "--out", c], check=True)
    dense = ["join", "--quiet", "--threads", "2", "--corpus", c, "--threshold", "118"]

    # 1. A tenth of the unlimited run's peak.
    ref = f"{W}/out/ref.h5"
    rc, err, peak = run(*dense, "--out", ref, "--stats-json", f"{W}/ref.json")
    check(rc == 0, f"unlimited run (exit {rc} {err.strip()})")
    n_pairs = stats(f"{W}/ref.json")["pairs"]
    with h5py.File(ref) as f:
        a, b = f["pairs/a"][:], f["pairs/b"][:]
        check(len(a) == n_pairs and bool(np.all((a[1:] > a[:-1]) | ((a[1:] == a[:-1]) & (b[1:] > b[:-1])))),
              "the reference is sorted by (a, b), without repeats")
    check(n_pairs > 500_000, f"a dense join: {n_pairs} pairs")
    cap = peak * 1024 // 10
    # one thread: each thread also holds one work unit's pairs (256 query
    # rows against the corpus chunk) outside the budget
    tenth = dense[:]
    tenth[tenth.index("--threads") + 1] = "1"
    s, rss = compare("tenth", ref, tenth, cap)
    base = run("join", "--quiet", "--corpus", c, "--threshold", "0", "--out", f"{W}/base.h5")[2]
    # Under AddressSanitizer freed memory sits in quarantine and the RSS says
    # nothing about the budget: the memory check is the plain build's.
    asan = b"libasan" in subprocess.run(["ldd", SIMJOIN], capture_output=True).stdout
    check(asan or rss - base < 2 * cap / 1024,
          f"tenth: its peak ({rss} KB) is within twice the cap ({cap // 1024} KB) of a join with "
          f"(almost) no pairs ({base} KB); the unlimited run's: {peak} KB")
    check(not hidden(), f"tenth: no run file, journal or temporary left: {hidden()}")

    # 2. The budget's edge: the buffer holds rest * 3/4 / 64 pairs, rest =
    # cap - inputs (72 bytes a PDQ row of the shard), inputs <= cap / 2.
    inputs = 4000 * 72

    def run_pairs(cap):
        rest = cap - inputs
        return (rest - rest // 4) // 64

    lo, hi = 2 * inputs, 1 << 40  # the smallest cap whose buffer holds n_pairs
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if run_pairs(mid) < n_pairs else (lo, mid)
    check(run_pairs(lo) == n_pairs and run_pairs(lo - 1) < n_pairs, "the edge cap is found")
    s, _ = compare("edge-fits", ref, dense, lo, expect_spill=False)
    s, _ = compare("edge-one-short", ref, dense, lo - 1)
    check(s is not None and s["spilled_runs"] == 2, f"edge-one-short: two runs ({s and s['spilled_runs']})")

    # 3. No pairs: distinct random hashes at T = 5.
    rng = np.random.default_rng(7)
    z = f"{W}/z.h5"
    with h5py.File(z, "w") as f:
        f.attrs["format_version"] = 1
        f.attrs["kind"] = "pdq"
        f["hashes"] = rng.integers(0, 256, (500, 32), dtype=np.uint8)
        f["ids"] = np.arange(500, dtype=np.int64)
    zargs = ["join", "--quiet", "--corpus", z, "--threshold", "5"]
    run(*zargs, "--out", f"{W}/out/zref.h5")
    s, _ = compare("no-pairs", f"{W}/out/zref.h5", zargs, 2 << 20, expect_spill=False)
    check(s is not None and s["pairs"] == 0, "no-pairs: 0 pairs")

    # 4. --cross-only over two sources, and queries x corpus + --self.
    q = f"{W}/q.h5"
    subprocess.run([SIMJOIN, "gen", "--quiet", "--n", "3000", "--seed", "4", "--first-id", "100000",
                    "--source", "B", "--out", q], check=True)
    xargs = ["join", "--quiet", "--threads", "2", "--corpus", c, q, "--threshold", "118", "--cross-only"]
    run(*xargs, "--out", f"{W}/out/xref.h5")
    compare("cross-only", f"{W}/out/xref.h5", xargs, 8 << 20)
    sargs = ["join", "--quiet", "--threads", "2", "--corpus", c, "--queries", q, "--self", "--threshold", "118"]
    run(*sargs, "--out", f"{W}/out/sref.h5")
    compare("queries-self", f"{W}/out/sref.h5", sargs, 8 << 20)

    # 5. Dihedral: each image's 8 transforms against every other image.
    d = f"{W}/d.h5"
    X = rng.integers(0, 256, (1500, 8, 32), dtype=np.uint8)
    with h5py.File(d, "w") as f:
        f.attrs["format_version"] = 1
        f.attrs["kind"] = "pdq"
        f["hashes"] = np.ascontiguousarray(X[:, 0, :])
        f["ids"] = np.arange(1500, dtype=np.int64) * 3
        f["dihedral"] = X
        f.attrs["dihedral"] = 1
    dargs = ["join", "--quiet", "--threads", "2", "--dihedral", "--keep-degenerate", "--corpus", d,
             "--threshold", "112"]
    run(*dargs, "--out", f"{W}/out/dref.h5", "--stats-json", f"{W}/dref.json")
    check(stats(f"{W}/dref.json")["pairs"] > 100_000, f"dihedral: {stats(f'{W}/dref.json')['pairs']} pairs")
    compare("dihedral", f"{W}/out/dref.h5", dargs, 3 << 20)

    # 6. Killed while spilling, then resumed under the same cap.
    out = f"{W}/out/resumed.h5"
    journal = f"{W}/out/.resumed.h5.journal"
    slow = ["join", "--quiet", "--threads", "1", "--corpus", c, "--threshold", "118", "--max-memory", str(cap),
            "--out", out]
    p = subprocess.Popen([SIMJOIN, *slow])
    for _ in range(2000):  # until a good part of the pairs is in the journal
        if p.poll() is not None or (os.path.exists(journal) and os.path.getsize(journal) > n_pairs * 32 // 3):
            break
        time.sleep(0.005)
    killed = p.poll() is None
    p.send_signal(signal.SIGKILL)
    p.wait()
    rc, err, _ = run(*slow, "--resume", "--stats-json", f"{W}/resumed.json")
    check(rc == 0 and dump(out) == dump(ref), f"resumed: equals the unlimited run (exit {rc} {err.strip()[-200:]})")
    if killed:
        s = stats(f"{W}/resumed.json")
        check(s["resumed_units"] > 0 and s["spilled_runs"] > 0,
              f"resumed: units from the journal ({s['resumed_units']}) and runs on disk ({s['spilled_runs']})")
    check(not hidden(), f"no run file, journal or temporary left: {hidden()}")

    subprocess.run(["rm", "-rf", W])
    print(f"{'FAILED: ' + str(len(failures)) if failures else 'all passed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
