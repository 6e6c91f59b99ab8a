#!/usr/bin/python3
"""simjoin sweep against a brute-force recomputation at every threshold.

For each threshold: connected components by a union-find written here, then
pairs/clusters/singletons/largest/size classes and pairwise, B-cubed and ARI
figures from the contingency table (numpy). Checked for the one-pass path
and for the per-threshold path (forced with a match cap that quarantines
nothing); a stricter linkage is checked against `simjoin cluster` at the same
threshold. Fresh labelled data each run (seed printed).
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import h5py
    import numpy as np
except ImportError as e:
    print("skipped:", e)
    sys.exit(77)

SJ = sys.argv[1]
seed = int(os.environ.get("SIMJOIN_TEST_SEED", int.from_bytes(os.urandom(4), "little")))
print("seed", seed)
checks = failed = 0


def check(cond, what):
    global checks, failed
    checks += 1
    print(("ok: " if cond else "FAIL: ") + what + ("" if cond else f" [seed {seed}]"))
    failed += not cond


def run(*args):
    r = subprocess.run([SJ, *map(str, args), "--quiet"], capture_output=True, text=True)
    if r.returncode:
        print(r.stderr)
    return r.returncode


def brute(nodes, labels, a, b, d, t):
    idx = {int(x): i for i, x in enumerate(nodes)}
    parent = list(range(len(nodes)))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    keep = d <= t
    for x, y in zip(a[keep], b[keep]):
        rx, ry = find(idx[int(x)]), find(idx[int(y)])
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)
    clus = np.array([find(i) for i in range(len(nodes))])
    _, cl = np.unique(clus, return_inverse=True)
    # label -1: a class of its own
    lab = labels.copy().astype(np.int64)
    lone = lab < 0
    lab[lone] = -(np.arange(lone.sum()) + 2)
    _, cls = np.unique(lab, return_inverse=True)
    csize = np.bincount(cl)
    lsize = np.bincount(cls)
    cont = {}
    for c, l in zip(cl, cls):
        cont[(c, l)] = cont.get((c, l), 0) + 1
    n = len(nodes)
    P = float((csize * (csize - 1) // 2).sum())
    A = float((lsize * (lsize - 1) // 2).sum())
    TP = float(sum(v * (v - 1) // 2 for v in cont.values()))
    b3p = sum(v * v / csize[c] for (c, l), v in cont.items()) / n
    b3r = sum(v * v / lsize[l] for (c, l), v in cont.items()) / n
    prec = TP / P if P else 1.0
    rec = TP / A if A else 1.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    exp = P * A / (n * (n - 1) / 2)
    mx = (P + A) / 2
    ari = (TP - exp) / (mx - exp) if mx != exp else 1.0
    bounds = [(2, 2), (3, 5), (6, 10), (11, 100), (101, 1000), (1001, 10 ** 12)]
    classes = [int(((csize >= lo) & (csize <= hi)).sum()) for lo, hi in bounds]
    return dict(pairs=int(keep.sum()), clusters=len(csize), singletons=int((csize == 1).sum()),
                largest=int(csize.max()), size_classes=classes, precision=prec, recall=rec, f1=f1,
                b3_precision=b3p, b3_recall=b3r, ari=ari)


with tempfile.TemporaryDirectory() as w:
    g, p = os.path.join(w, "g.h5"), os.path.join(w, "p.h5")
    run("gen", "--n", 2500, "--seed", seed % 100000, "--series-fraction", 0.6,
        "--degenerate-fraction", 0, "--out", g)
    check(run("join", "--corpus", g, "--threshold", 60, "--keep-degenerate", "--out", p) == 0, "join at 60")
    with h5py.File(p, "r") as f:
        a, b, d = f["pairs/a"][:], f["pairs/b"][:], f["pairs/distance"][:]
        nodes = f["nodes/id"][:]
    with h5py.File(g, "r") as f:
        lab_by_id = dict(zip(f["ids"][:].tolist(), f["labels"][:].tolist()))
    labels = np.array([lab_by_id[int(x)] for x in nodes])
    thresholds = list(range(0, 61, 6))
    for name, extra in (("one pass", []), ("per threshold", ["--max-matches", 10 ** 9])):
        out = os.path.join(w, "s.json")
        check(run("sweep", "--pairs", p, "--thresholds", "0:60:6", "--out", out, *extra) == 0,
              f"sweep ({name})")
        s = json.load(open(out))
        check(s["labels"] and s["incremental"] == (name == "one pass"), f"{name}: labels read, path as expected")
        hist = np.bincount(d, minlength=len(s["histogram"]))
        check(hist.tolist() == s["histogram"], f"{name}: distance histogram equals numpy bincount")
        for row, t in zip(s["rows"], thresholds):
            want = brute(nodes, labels, a, b, d, t)
            same = all(row[k] == want[k] for k in ("pairs", "clusters", "singletons", "largest", "size_classes"))
            close = all(abs(row[k] - want[k]) < 1e-9 for k in
                        ("precision", "recall", "f1", "b3_precision", "b3_recall", "ari"))
            check(same and close, f"{name}: T={t} matches brute force "
                  f"({row['clusters']} clusters, F1 {row['f1']:.4f}, ARI {row['ari']:.4f})"
                  + ("" if same and close else f"\n   got  {row}\n   want {want}"))
    # A stricter linkage: each threshold's row equals `simjoin cluster` on a join at that threshold.
    out = os.path.join(w, "core.json")
    check(run("sweep", "--pairs", p, "--thresholds", "20,40,60", "--linkage", "core:3", "--out", out) == 0,
          "sweep core:3")
    s = json.load(open(out))
    for row in s["rows"]:
        t = row["threshold"]
        pt, ct = os.path.join(w, f"p{t}.h5"), os.path.join(w, f"c{t}.h5")
        run("join", "--corpus", g, "--threshold", t, "--keep-degenerate", "--out", pt)
        run("cluster", "--pairs", pt, "--linkage", "core:3", "--out", ct)
        with h5py.File(ct, "r") as f:
            size = f["summary/size"][:]
        check(row["clusters"] == len(size) and row["largest"] == int(size.max()),
              f"core:3 T={t}: sweep row equals simjoin cluster ({len(size)} clusters)")

    # gen --low-quality adds /quality and leaves the hashes and labels as they were.
    glq = os.path.join(w, "glq.h5")
    run("gen", "--n", 2500, "--seed", seed % 100000, "--series-fraction", 0.6,
        "--degenerate-fraction", 0, "--low-quality", 0.3, "--out", glq)
    with h5py.File(g, "r") as f0, h5py.File(glq, "r") as f1:
        qv, lv = f1["quality"][:], f1["labels"][:]
        check((f0["hashes"][:] == f1["hashes"][:]).all() and (f0["labels"][:] == lv).all()
              and "quality" not in f0, "gen --low-quality: same hashes and labels, /quality added")
        check(qv.min() >= 0 and qv.max() <= 100 and 0.1 < (qv < 50).mean() < 0.6,
              f"gen --low-quality 0.3: {100 * (qv < 50).mean():.1f}% below 50")
        spread = [int(np.ptp(qv[lv == k])) for k in np.unique(lv[lv >= 0])]
        check(max(spread) <= 10, f"a series shares its quality +-5 (largest spread {max(spread)})")

    # Exclusions count: hashes kept out of the join (quality < 50 here) are
    # missed matches. Recall is over every labelled hash of the join;
    # recall_compared over the compared ones only.
    gq, pq = os.path.join(w, "gq.h5"), os.path.join(w, "pq.h5")
    import shutil
    shutil.copy(g, gq)
    rng = np.random.default_rng(seed)
    with h5py.File(gq, "a") as f:
        n = len(f["ids"])
        f["quality"] = np.where(rng.random(n) < 0.2, rng.integers(0, 50, n), 100).astype(np.int8)
        q_ids = f["ids"][:]
    check(run("join", "--corpus", gq, "--threshold", 60, "--out", pq) == 0, "join with exclusions")
    with h5py.File(pq, "r") as f:
        aq, bq, dq = f["pairs/a"][:], f["pairs/b"][:], f["pairs/distance"][:]
        nodes_q, excl = f["nodes/id"][:], f["excluded/id"][:]
    check(len(excl) > 0, f"{len(excl)} hashes excluded")
    # The summary lines say why, per rule.
    r = subprocess.run([SJ, "join", "--corpus", gq, "--threshold", "60", "--out", pq],
                       capture_output=True, text=True)
    check(f"({len(excl)} excluded: {len(excl)} quality < 50)" in r.stderr, f"join says why: {r.stderr.strip()}")
    r = subprocess.run([SJ, "cluster", "--pairs", pq, "--out", os.path.join(w, "cq.h5")],
                       capture_output=True, text=True)
    check(f"{len(excl)} excluded: {len(excl)} low quality" in r.stderr, f"cluster says why: {r.stderr.strip()}")
    every = np.concatenate([nodes_q, excl])
    out = os.path.join(w, "q.json")
    check(run("sweep", "--pairs", pq, "--thresholds", "0:60:6", "--out", out) == 0, "sweep with exclusions")
    s = json.load(open(out))
    check(s["labelled_hashes"] == len(every) and s["excluded_labelled_hashes"] == len(excl),
          f"labelled {s['labelled_hashes']} of which excluded {s['excluded_labelled_hashes']}")
    lab_every = np.array([lab_by_id[int(x)] for x in every])
    lab_nodes = np.array([lab_by_id[int(x)] for x in nodes_q])
    for row, t in zip(s["rows"], thresholds):
        want = brute(every, lab_every, aq, bq, dq, t)
        want_c = brute(nodes_q, lab_nodes, aq, bq, dq, t)
        check(abs(row["recall"] - want["recall"]) < 1e-9 and
              abs(row["recall_compared"] - want_c["recall"]) < 1e-9 and
              abs(row["precision"] - want_c["precision"]) < 1e-9 and
              abs(row["f1"] - want["f1"]) < 1e-9,
              f"T={t}: recall over all labelled {row['recall']:.4f} (want {want['recall']:.4f}), "
              f"over compared {row['recall_compared']:.4f} (want {want_c['recall']:.4f})")
    check(any(r["recall"] < r["recall_compared"] - 1e-6 for r in s["rows"]),
          "exclusions lower the recall over all labelled hashes")
    # Marks: the F1-best threshold (ties: lower) and the largest-cluster jump
    # (the most growth in hashes over the previous threshold while at least
    # doubling; ties: lower), recomputed from the rows.
    f1 = [r["f1"] for r in s["rows"]]
    best = s["rows"][f1.index(max(f1))]["threshold"]
    jump, grow = None, 0
    for prev, r in zip(s["rows"], s["rows"][1:]):
        if prev["largest"] > 0 and r["largest"] >= 2 * prev["largest"] and r["largest"] - prev["largest"] > grow:
            jump, grow = r["threshold"], r["largest"] - prev["largest"]
    check(s["best_f1_threshold"] == best and s["largest_jump_threshold"] == jump,
          f"marks: best F1 at {s['best_f1_threshold']} (want {best}), jump at "
          f"{s['largest_jump_threshold']} (want {jump})")
    marks = {r["threshold"]: r["mark"] for r in s["rows"]}
    check("best_f1" in marks[best] and (jump is None or "largest_jump" in marks[jump]) and
          sum(bool(m) for m in marks.values()) == len({best, jump} - {None}), f"row marks {marks}")
    csv_out = os.path.join(w, "q.csv")
    check(run("sweep", "--pairs", pq, "--thresholds", "0:60:6", "--out", csv_out) == 0, "sweep to CSV")
    import csv
    with open(csv_out) as f:
        rows_csv = list(csv.DictReader(f))
    check([r["mark"] for r in rows_csv] == [r["mark"] for r in s["rows"]] and
          all(abs(float(r["recall_compared"]) - j["recall_compared"]) < 1e-6 for r, j in zip(rows_csv, s["rows"])),
          "CSV carries the marks and recall_compared")

    # Several linkages in one run: each equals its own sweep.
    out2 = os.path.join(w, "two.json")
    check(run("sweep", "--pairs", pq, "--thresholds", "0:60:12", "--out", out2,
              "--linkage", "components", "--linkage", "core:3") == 0, "sweep with two linkages")
    two = json.load(open(out2))
    check([r["linkage"] for r in two["runs"]] == ["components", "core:3"], "runs in order")
    for k, link in enumerate(("components", "core:3")):
        one = os.path.join(w, f"one{k}.json")
        run("sweep", "--pairs", pq, "--thresholds", "0:60:12", "--out", one, "--linkage", link)
        check(json.load(open(one))["rows"] == two["runs"][k]["rows"], f"{link}: same rows as alone")
    check(run("sweep", "--pairs", pq, "--thresholds", "0:60:12", "--out", os.path.join(w, "x.png.json"),
              "--linkage", "components", "--plot", os.path.join(w, "x.png")) == 0 and
          os.path.getsize(os.path.join(w, "x.png")) > 1000, "--plot draws the marks")

    # Labels that do not describe this join are refused, saying how many matched.
    other = os.path.join(w, "other.h5")
    with h5py.File(other, "w") as f:
        f["hashes"] = np.zeros((3, 32), np.uint8) + 7
        f["ids"] = np.array([10 ** 12, 10 ** 12 + 1, 10 ** 12 + 2], np.int64)
        f["labels"] = np.zeros(3, np.int64)
        f.attrs["kind"] = "pdq"
    r = subprocess.run([SJ, "sweep", "--pairs", pq, "--thresholds", "0:60:12", "--out",
                        os.path.join(w, "bad.json"), "--labels", other], capture_output=True, text=True)
    check(r.returncode == 1 and f"cover 0 of the join's {len(every)} hashes" in r.stderr
          and not os.path.exists(os.path.join(w, "bad.json")), f"foreign labels refused: {r.stderr.strip()}")
    half = os.path.join(w, "half.h5")
    with h5py.File(half, "w") as f:
        keep = every[: len(every) // 2 - 1]
        f["hashes"] = np.zeros((len(keep), 32), np.uint8) + 7
        f["ids"] = keep.astype(np.int64)
        f["labels"] = lab_every[: len(keep)].astype(np.int64)
        f.attrs["kind"] = "pdq"
    r = subprocess.run([SJ, "sweep", "--pairs", pq, "--thresholds", "0:60:12", "--out",
                        os.path.join(w, "bad.json"), "--labels", half], capture_output=True, text=True)
    check(r.returncode == 1 and f"cover {len(keep)} of" in r.stderr, f"labels under half refused: {r.stderr.strip()}")
    r = subprocess.run([SJ, "sweep", "--pairs", pq, "--thresholds", "0:60:12", "--out",
                        os.path.join(w, "bad.json"), "--labels", os.path.join(w, "missing.h5")],
                       capture_output=True, text=True)
    check(r.returncode == 1, "labels asked for but missing: an error")

    # Ground truth as series names, through ingest: the partition (hence
    # every score) equals gen's numeric labels; codes follow the README rule.
    with h5py.File(g, "r") as f:
        gh, gi, gl = f["hashes"][:], f["ids"][:], f["labels"][:]
    names_csv = os.path.join(w, "named.csv")
    with open(names_csv, "w") as f:
        f.write("id,hash,series\n")
        for h, i, l in zip(gh, gi, gl):
            f.write(f"{i},{bytes(h).hex()},{'' if l < 0 else f'Series {l} part one'}\n")
    named, pn = os.path.join(w, "named.h5"), os.path.join(w, "pn.h5")
    check(run("ingest", "--kind", "pdq", "--in", names_csv, "--out", named) == 0, "ingest a series column")

    def fnv_code(text):
        h = 1469598103934665603
        for c in text.encode():
            h = ((h ^ c) * 1099511628211) % 2 ** 64
        return 2 ** 62 + h % 2 ** 62

    with h5py.File(named, "r") as f:
        got = dict(zip(f["ids"][:].tolist(), f["labels"][:].tolist()))
        series = dict(zip(f["ids"][:].tolist(), (x.decode() for x in f["meta/series"][:])))
    check(all(got[int(i)] == (-1 if l < 0 else fnv_code(f"Series {l} part one")) for i, l in zip(gi, gl)),
          "series text -> /labels by the documented code")
    check(all(series[int(i)] == ("" if l < 0 else f"Series {l} part one") for i, l in zip(gi, gl)),
          "series text kept in /meta/series")
    check(run("join", "--corpus", named, "--threshold", 60, "--keep-degenerate", "--out", pn) == 0, "join named")
    o1, o2 = os.path.join(w, "n1.json"), os.path.join(w, "n2.json")
    run("sweep", "--pairs", pn, "--thresholds", "0:60:12", "--out", o1)
    run("sweep", "--pairs", pn, "--thresholds", "0:60:12", "--out", o2, "--labels", g)
    r1, r2 = json.load(open(o1))["rows"], json.load(open(o2))["rows"]
    check(all(abs(x[k] - y[k]) < 1e-12 for x, y in zip(r1, r2) for k in ("precision", "recall", "ari")),
          "series-name labels score as gen's numeric labels")
    bad = os.path.join(w, "badlabel.csv")
    with open(bad, "w") as f:
        f.write(f"id,hash,label\n1,{bytes(gh[0]).hex()},3\n2,{bytes(gh[1]).hex()},-2\n")
    r = subprocess.run([SJ, "ingest", "--kind", "pdq", "--in", bad, "--out", os.path.join(w, "bl.h5")],
                       capture_output=True, text=True)
    check(r.returncode == 1 and "badlabel.csv:3:" in r.stderr and "label" in r.stderr
          and not os.path.exists(os.path.join(w, "bl.h5")), f"bad label: {r.stderr.strip()}")

print(f"{checks - failed} passed, {failed} failed")
sys.exit(1 if failed or not checks else 0)
