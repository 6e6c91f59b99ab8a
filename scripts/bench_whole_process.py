#!/usr/bin/python3
"""The whole `simjoin join` process against its kernel (issue 17): builds run
in turn (A B A B ...) on the same PDQ shards, each output removed before its
run; per run the wall time of the process, `join_seconds` from --stats-json,
their ratio, the time outside the join, user and sys CPU seconds and the
load average; then medians. The outputs of all builds must be byte-identical.

  scripts/bench_whole_process.py --dir /tmp/whole --reps 7 OLD/simjoin NEW/simjoin

The shards (made once with the first build's `gen` when absent): --corpus
rows (10^6) and --queries rows (20,000), `gen --seed 7
--degenerate-fraction 0`, joined at T = 31 with --threads (2).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("builds", nargs="+", help="simjoin binaries, run in turn")
    ap.add_argument("--dir", default="/tmp/whole")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", default="2")
    ap.add_argument("--corpus", type=int, default=1000000)
    ap.add_argument("--queries", type=int, default=20000)
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    c, q = os.path.join(a.dir, "c.h5"), os.path.join(a.dir, "q.h5")
    if not (os.path.exists(c) and os.path.exists(q)):
        subprocess.run([a.builds[0], "gen", "--quiet", "--n", str(a.corpus), "--queries", str(a.queries),
                        "--seed", "7", "--degenerate-fraction", "0", "--out", c, "--queries-out", q], check=True)
    rows = {b: [] for b in a.builds}
    for r in range(a.reps):
        outs = []
        for k, b in enumerate(a.builds):
            out, stats = os.path.join(a.dir, f"p{k}.h5"), os.path.join(a.dir, f"s{k}.json")
            for f in (out, stats):
                if os.path.exists(f):
                    os.unlink(f)
            load = os.getloadavg()[0]
            t0 = time.monotonic()
            p = subprocess.Popen([b, "join", "--quiet", "--corpus", c, "--queries", q, "--threshold", "31",
                                  "--threads", a.threads, "--out", out, "--stats-json", stats])
            _, status, ru = os.wait4(p.pid, 0)
            wall = time.monotonic() - t0
            if status != 0:
                sys.exit(f"{b} failed (status {status})")
            js = json.load(open(stats))["join_seconds"]
            rows[b].append((wall, js, wall / js, wall - js, ru.ru_utime, ru.ru_stime, load))
            outs.append(out)
            print(f"{b} rep {r}: whole {wall:.3f} s, join {js:.3f} s, whole/join {wall / js:.3f}, "
                  f"outside {1000 * (wall - js):.0f} ms, user {ru.ru_utime:.2f} s, sys {ru.ru_stime:.2f} s, "
                  f"load {load:.2f}", flush=True)
        for o in outs[1:]:
            if subprocess.run(["cmp", "-s", outs[0], o]).returncode != 0:
                sys.exit(f"{o} differs from {outs[0]}")
    for b, v in rows.items():
        med = lambda i: statistics.median(x[i] for x in v)
        print(f"{b}: median whole {med(0):.3f} s, join {med(1):.3f} s, whole/join {med(2):.3f} "
              f"(range {min(x[2] for x in v):.3f}-{max(x[2] for x in v):.3f}), outside {1000 * med(3):.0f} ms "
              f"(range {1000 * min(x[3] for x in v):.0f}-{1000 * max(x[3] for x in v):.0f}), "
              f"user {med(4):.2f} s, sys {med(5):.2f} s, load {min(x[6] for x in v):.2f}-{max(x[6] for x in v):.2f}")


if __name__ == "__main__":
    main()
