#!/usr/bin/python3
"""Case metadata and the triage report, end to end.

A constructed case: a corpus ingested from an ICSE-style semicolon export
(with columns simjoin does not use), uploads from a comma CSV with a header.
Checks, each against an oracle written here from the documented rules
(README "Case metadata" and "Triage report"), not against simjoin's output:
  - metadata round-trips CSV -> shard (h5py) -> pairs -> clusters -> report
  - unknown columns are ignored and reported
  - the triage order and classes of the constructed case
  - a cluster merging two known series is flagged merges_series
  - /case_summary in the clusters file (h5py)
  - the ICSE-style export
  - malformed metadata gets FILE:LINE errors and writes nothing
  - report.html renders in headless Chromium (screenshot + DOM)

usage: test_report.py SIMJOIN
"""
import csv
import io
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
    p = subprocess.run([SIMJOIN, *args], capture_output=True, text=True)
    if ok and p.returncode != 0:
        sys.exit(f"simjoin {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return p


def rand_hash():
    while True:
        h = rng.integers(0, 256, 32, dtype=np.uint8)
        if 64 <= np.unpackbits(h).sum() <= 192:
            return h


def near(h, k):
    bits = np.unpackbits(h)
    flip = rng.choice(256, k, replace=False)
    bits[flip] ^= 1
    return np.packbits(bits)


def hexs(h):
    return bytes(h).hex()


# ---- the constructed case ---------------------------------------------------
# (id, hash, series, victim, offender, case, category, source, new, quality)
A, B, C, D, X, Y = (rand_hash() for _ in range(6))
A2 = rand_hash()
LONG_CASE = "UP-5-" + "x" * 180  # one long token: the page must still fit 1,280 px


def sparse_hash(ones):
    bits = np.zeros(256, dtype=np.uint8)
    bits[rng.choice(256, ones, replace=False)] = 1
    return np.packbits(bits)


rows = [
    # corpus: series A (victim identified) and B (not identified)
    (100, A, "Series A", "yes", "no", "CASE-1", "1", "NL", 0, 100),
    (101, A2, "Series A", "yes", "unknown", "CASE-1", "1", "NL", 0, 100),
    (200, B, "Series B", "no", "unknown", "CASE-2", "2", "DE", 0, 100),
    # two known series that an upload puts together (chaining suspect)
    (300, C, "Series C", "yes", "yes", "CASE-3", "1", "FR", 0, 100),
    (301, near(C, 6), "Series D; part 2", "yes", "no", "CASE-4", "1", "FR", 0, 100),
    # a known image without series or victim status
    (400, D, "", "unknown", "unknown", "", "", "", 0, 100),
    # uploads
    (1, near(A, 5), "", "unknown", "unknown", "", "", "NL", 1, 100),
    (2, near(B, 7), "", "unknown", "unknown", "UP-1", "", "uploads", 1, 100),
    (3, X, "", "unknown", "unknown", "UP-2, cell", "", "uploads", 1, 100),
    (4, near(X, 4), "", "unknown", "unknown", "UP-2, cell", "", "uploads", 1, 100),
    (5, rand_hash(), "", "unknown", "unknown", "UP-3", "", "uploads", 1, 100),  # alone: unmatched
    (6, near(C, 3), "", "unknown", "unknown", "UP-4", "", "uploads", 1, 100),  # links C and D
    # a re-upload of identified series A under another source: provenance, not a link
    (7, near(A2, 4), "", "unknown", "unknown", "", "", "uploads", 1, 100),
    (8, near(D, 3), "", "unknown", "unknown", "", "", "uploads", 1, 100),  # matches 400
    # three new uploads matching each other only: a candidate new series
    (9, Y, "", "unknown", "unknown", LONG_CASE, "", "uploads", 1, 100),
    (10, near(Y, 2), "", "unknown", "unknown", LONG_CASE, "", "uploads", 1, 100),
    (11, near(Y, 9), "", "unknown", "unknown", LONG_CASE, "", "uploads", 1, 100),
    # not compared: low quality, and a one-bit count outside 32..224
    (12, near(B, 2), "", "unknown", "unknown", "UP-6", "", "uploads", 1, 20),
    (13, sparse_hash(10), "", "unknown", "unknown", "UP-7", "", "uploads", 1, 100),
]
by_id = {r[0]: r for r in rows}

tmp = tempfile.mkdtemp(prefix="simjoin-report-")
os.chmod(tmp, 0o700)
try:
    corpus_csv = os.path.join(tmp, "icse-export.csv")
    with open(corpus_csv, "w", newline="") as f:
        f.write("MD5;SHA1;PhotoDNA;PDQ;Image ID;Is distributed;Victim identified;"
                "Offender identified;Series name;Case ID;Category;Source\r\n")
        for r in rows:
            if r[8]:
                continue
            series = f'"{r[2]}"' if ";" in r[2] else r[2]
            f.write(f"{'ab' * 16};{'cd' * 20};;{hexs(r[1])};{r[0]};No;{r[3].capitalize()};"
                    f"{r[4]};{series};{r[5]};{r[6]};{r[7]}\r\n")
    uploads_csv = os.path.join(tmp, "uploads.csv")
    with open(uploads_csv, "w") as f:
        f.write("id,hash,case_id,source,quality\n")
        for r in rows:
            if r[8]:
                f.write(f'{r[0]},{hexs(r[1])},"{r[5]}",{r[7]},{r[9]}\n')

    corpus = os.path.join(tmp, "corpus.h5")
    uploads = os.path.join(tmp, "uploads.h5")
    p = run("ingest", "--kind", "pdq", "--in", corpus_csv, "--out", corpus, "--source", "icse")
    for col in ("MD5", "SHA1", "PhotoDNA", "Is distributed"):
        check(col in p.stderr, f"ignored column {col} reported: {p.stderr!r}")
    run("ingest", "--kind", "pdq", "--in", uploads_csv, "--out", uploads, "--source", "uploads")

    # Round trip CSV -> shard, read by h5py.
    yn = {"yes": 1, "no": 0, "unknown": -1}
    with h5py.File(corpus, "r") as f:
        ids = list(f["ids"][:])
        m = f["meta"]
        for i, id_ in enumerate(ids):
            r = by_id[int(id_)]
            check(m["series"][i].decode() == r[2], f"shard series of {id_}")
            check(m["case_id"][i].decode() == r[5], f"shard case_id of {id_}")
            check(m["category"][i].decode() == r[6], f"shard category of {id_}")
            check(m["source"][i].decode() == r[7], f"shard source of {id_}")
            check(int(m["victim_identified"][i]) == yn[r[3]], f"shard victim of {id_}")
            check(int(m["offender_identified"][i]) == yn[r[4]], f"shard offender of {id_}")
    with h5py.File(uploads, "r") as f:
        check(f["meta/case_id"][list(f["ids"][:]).index(3)].decode() == "UP-2, cell",
              "quoted CSV field with a comma")

    pairs = os.path.join(tmp, "pairs.h5")
    clusters = os.path.join(tmp, "clusters.h5")
    run("join", "--queries", uploads, "--corpus", corpus, "--self", "--out", pairs, "--quiet")
    run("cluster", "--pairs", pairs, "--out", clusters, "--quiet")
    out = os.path.join(tmp, "report")
    run("report", "--clusters", clusters, "--pairs", pairs, "--out", out, "--quiet")

    # ---- oracle: pairs, components, rules (README "Triage report") ------
    all_ids = sorted(by_id)
    H = {i: np.unpackbits(by_id[i][1]) for i in all_ids}
    series_identified = {r[2] for r in rows if r[2] and r[3] == "yes"}

    def rule_of(i):
        """Degenerate rule of a hash with pdq defaults: 1 all_zero, 2 bit_band
        (one-bits outside 32..224), 3 low_quality (known quality < 50)."""
        ones = int(H[i].sum())
        q = by_id[i][9] if by_id[i][8] else -1  # the corpus export carries no quality
        return 1 if ones == 0 else 2 if not 32 <= ones <= 224 else 3 if 0 <= q < 50 else 0

    excluded = {i for i in all_ids if rule_of(i)}
    names = {1: "unidentified_victim", 2: "candidate_new_series", 3: "cross_case_link",
             4: "known_identified_series", 5: "not_compared"}

    def source(i):
        return by_id[i][7] or ("icse" if not by_id[i][8] else "uploads")

    def expected(joined, stable_ids=False):
        """The triage list: (class, members, flags) in order, the unmatched
        uploads and the nearest matches, from pairs a < b within 31 for which
        joined(a, b) holds. stable_ids: a nightly state (no distances; the
        tie-break is the stable cluster id: clusters holding corpus hashes by
        their smallest corpus id, then clusters of new hashes by smallest id)."""
        nodes = [i for i in all_ids if i not in excluded]
        parent = {i: i for i in nodes}

        def find(x):
            while parent[x] != x:
                x = parent[x]
            return x

        nearest, known, edges = {}, {}, []
        for a in nodes:
            for b in nodes:
                if a < b and joined(a, b):
                    d = int((H[a] != H[b]).sum())
                    if d > 31:
                        continue
                    edges.append((a, b, d))
                    parent[find(a)] = find(b)
                    for x, y in ((a, b), (b, a)):
                        if x not in nearest or (d, y) < nearest[x]:
                            nearest[x] = (d, y)
                        if not by_id[y][8] and (x not in known or (d, y) < known[x]):
                            known[x] = (d, y)  # y is a corpus (known) image
        comps = {}
        for i in nodes:
            comps.setdefault(find(i), []).append(i)
        listed, unmatched = [], []
        for members in comps.values():
            new = sum(by_id[i][8] for i in members)
            if len(members) == 1:
                unmatched += [i for i in members if by_id[i][8]]
                continue
            if not new:
                continue
            n_known = len(members) - new
            series = {by_id[i][2] for i in members if by_id[i][2]}
            cases = {by_id[i][5] for i in members if by_id[i][5]}
            sources = {source(i) for i in members}
            bare = any(not by_id[i][8] and not by_id[i][2] and by_id[i][3] != "yes" for i in members)
            flags = set()
            if len(series) >= 2:
                flags.add("merges_series")
            if len(cases) >= 2:
                flags.add("multi_case")
            if len(sources) >= 2:
                flags.add("multi_source")
            if not series:
                flags.add("new_no_series")
            if series - series_identified or bare:
                cls = 1
            elif not n_known and not series:
                cls = 2
            elif len(series) >= 2 or len(cases) >= 2:
                cls = 3
            else:
                cls = 4
            ms = set(members)
            dmin = min(d for a, b, d in edges if a in ms and b in ms)
            if stable_ids:
                corpus = [i for i in members if not by_id[i][8]]
                tie = (0, min(corpus)) if corpus else (1, min(members))
                dmin = 0
            else:
                tie = min(members)
            listed.append(((cls, -len(members), -len(sources), dmin, tie), sorted(members), flags))
        out = [(key[0], m, f) for key, m, f in sorted(listed)]
        for i in sorted(excluded, key=lambda i: (rule_of(i), i)):
            if by_id[i][8]:
                out.append((5, [i], {"excluded_" + ["", "all_zero", "bit_band", "low_quality"][rule_of(i)]}))
        return out, sorted(unmatched), nearest, known

    # The join: uploads x corpus and uploads x uploads (corpus x corpus is not joined).
    expect, expect_unmatched, nearest, known = expected(lambda a, b: by_id[a][8] or by_id[b][8])

    with open(os.path.join(out, "triage.csv")) as f:
        triage = list(csv.DictReader(f))
    with open(os.path.join(out, "members.csv")) as f:
        members_rows = list(csv.DictReader(f))
    with open(os.path.join(out, "unmatched.csv")) as f:
        unmatched_rows = list(csv.DictReader(f))
    got_members = {}
    for r in members_rows:
        got_members.setdefault(int(r["rank"]), []).append(int(r["id"]))
    check(len(triage) == len(expect), f"listed entries: {len(triage)} vs {len(expect)}")
    for k, (e, t) in enumerate(zip(expect, triage)):
        check(int(t["rank"]) == k + 1, f"rank {k + 1}")
        check(t["triage"] == names[e[0]], f"rank {k + 1}: class {t['triage']} vs {names[e[0]]}")
        check(sorted(got_members.get(k + 1, [])) == e[1],
              f"rank {k + 1}: members {got_members.get(k + 1)} vs {e[1]}")
        check(set(filter(None, t["flags"].split(","))) == e[2],
              f"rank {k + 1}: flags {t['flags']} vs {sorted(e[2])}")
        check((t["cluster"] == "") == (e[0] == 5), f"rank {k + 1}: cluster column {t['cluster']!r}")
    check(sorted(int(r["id"]) for r in unmatched_rows) == expect_unmatched,
          f"unmatched.csv {[r['id'] for r in unmatched_rows]} vs {expect_unmatched}")
    check(all(r["triage"] == "unmatched" and r["rank"] == "" for r in unmatched_rows),
          "unmatched.csv rows carry no rank")
    # The constructed case in words (each would have ranked wrongly before:
    # the lone upload 5 was listed second, the re-upload 7 of identified
    # series A under another source was a cross_case_link).
    first = [sorted(got_members.get(k + 1, [])) for k in range(len(triage))]
    cls = {tuple(m): t["triage"] for m, t in zip(first, triage)}
    check(first[0] == [8, 400], f"a match to known material of unknown victim first: {first}")
    check(all(5 not in m for m in first) and expect_unmatched == [5],
          f"the lone upload is not listed: {first}")
    check(cls.get((7, 101)) == "known_identified_series",
          f"a re-upload under another source is not a cross-case link: {cls.get((7, 101))}")
    check(first.index([7, 101]) < first.index([1, 100]), "more sources first within a class")
    check(first.index([9, 10, 11]) < first.index([3, 4]), "larger clusters first within a class")
    check(cls.get((6, 300, 301)) == "cross_case_link" and
          "merges_series" in triage[first.index([6, 300, 301])]["flags"],
          "the two-series cluster is a cross-case link flagged merges_series")
    check(first[-2:] == [[13], [12]] and triage[-1]["flags"] == "excluded_low_quality",
          f"excluded uploads last, by rule: {first[-2:]}")

    # Metadata through to the report, and nearest matches.
    for r in members_rows:
        src = by_id[int(r["id"])]
        check(r["series"] == src[2] and r["case_id"] == src[5] and r["category"] == src[6],
              f"report metadata of {r['id']}")
        check(r["victim_identified"] == src[3] and r["offender_identified"] == src[4],
              f"report flags of {r['id']}")
        check(r["new"] == str(src[8]), f"report new of {r['id']}")
        n = nearest.get(int(r["id"]))
        check((r["nearest_id"], r["nearest_distance"]) ==
              ((str(n[1]), str(n[0])) if n else ("", "")), f"nearest of {r['id']}")
        n = known.get(int(r["id"]))
        check((r["nearest_known_id"], r["nearest_known_distance"]) ==
              ((str(n[1]), str(n[0])) if n else ("", "")), f"nearest known of {r['id']}")
    with open(os.path.join(out, "triage.jsonl")) as f:
        jl = [json.loads(line) for line in f]
    check([j["rank"] for j in jl] == list(range(1, len(expect) + 1)), "triage.jsonl ranks")
    check([j["cluster"] is None for j in jl] == [e[0] == 5 for e in expect], "triage.jsonl clusters")
    check(all(isinstance(j["series"], list) for j in jl), "triage.jsonl series lists")
    for j in jl:
        check(j["triage"] == triage[j["rank"] - 1]["triage"], "jsonl agrees with csv")
    with open(os.path.join(out, "members.jsonl")) as f:
        check(sum(1 for _ in f) == len(members_rows), "members.jsonl rows")

    # /case_summary in the clusters file.
    with h5py.File(clusters, "r") as f:
        cid = f["clusters/id"][:]
        ccl = f["clusters/cluster"][:]
        cs = f["case_summary"]
        rank = cs["rank"][:]
        for k, e in enumerate(expect):
            if e[0] == 5:
                continue
            c = int(ccl[list(cid).index(e[1][0])])
            check(int(rank[c]) == k + 1, f"/case_summary/rank of cluster {c}")
            check(int(cs["n_new"][c]) == sum(by_id[i][8] for i in e[1]), f"/case_summary/n_new of cluster {c}")
            check(int(cs["triage"][c]) == e[0], f"/case_summary/triage of cluster {c}")
        c = int(ccl[list(cid).index(300)])
        check(int(cs["flags"][c]) & 1 == 1, "/case_summary/flags merges_series bit")
        check(set(cs["series"][c].decode().split("|")) == {"Series C", "Series D; part 2"},
              "/case_summary/series")
        check(list(f["meta_index/id"][:]) == list(cid), "/meta_index aligned with /clusters/id")

    # Permissions and no hashes anywhere in the report.
    all_hex = {hexs(r[1]) for r in rows}
    for name in os.listdir(out):
        path = os.path.join(out, name)
        check(os.stat(path).st_mode & 0o007 == 0, f"{name} has no world access")
        text = open(path, encoding="utf-8").read()
        check(not any(h in text for h in all_hex), f"{name} holds no hash")

    # Nightly: the corpus one night, the uploads the next (the first night
    # joins the corpus with itself), then `report --state`.
    state = os.path.join(tmp, "state")
    run("state", "init", state, "--kind", "pdq")
    p = run("report", "--state", state, "--out", os.path.join(tmp, "early"), ok=False)
    check(p.returncode != 0 and "no nightly run" in p.stderr, f"report before any night: {p.stderr!r}")
    run("nightly", "--quiet", "--state", state, "--new", corpus)
    run("nightly", "--quiet", "--state", state, "--new", uploads)
    night = os.path.join(tmp, "report-nightly")
    run("report", "--state", state, "--out", night, "--quiet")
    expect_n, unmatched_n, _, _ = expected(lambda a, b: True, stable_ids=True)
    with open(os.path.join(night, "triage.csv")) as f:
        triage_n = list(csv.DictReader(f))
    with open(os.path.join(night, "members.csv")) as f:
        got_n = {}
        for r in csv.DictReader(f):
            got_n.setdefault(int(r["rank"]), []).append(int(r["id"]))
            check(r["series"] == by_id[int(r["id"])][2], f"nightly report series of {r['id']}")
            check(r["new"] == str(by_id[int(r["id"])][8]), f"nightly report new of {r['id']}")
    check([names[e[0]] for e in expect_n] == [t["triage"] for t in triage_n],
          f"nightly triage classes {[t['triage'] for t in triage_n]}")
    check([e[1] for e in expect_n] == [sorted(got_n.get(k + 1, [])) for k in range(len(triage_n))],
          f"nightly triage members {[sorted(got_n.get(k + 1, [])) for k in range(len(triage_n))]} "
          f"vs {[e[1] for e in expect_n]}")
    with open(os.path.join(night, "unmatched.csv")) as f:
        check(sorted(int(r["id"]) for r in csv.DictReader(f)) == unmatched_n, "nightly unmatched.csv")

    # A state seeded from the corpus (`state init --corpus`): generation 1,
    # the corpus's clusters (components of its self-join, oracle here),
    # nothing new, so nothing to triage; the first night then reports only
    # its own uploads, exactly as after a corpus night.
    seeded = os.path.join(tmp, "seeded")
    run("state", "init", seeded, "--corpus", corpus, "--quiet")
    p = run("state", "info", seeded)
    check("generation 1" in p.stdout, f"seeded state at generation 1: {p.stdout[:80]!r}")
    with h5py.File(os.path.join(seeded, "clusters", "g000001.h5"), "r") as f:
        sid, scl = f["state/id"][:].tolist(), f["state/cluster"][:].tolist()
        check(not f["meta_index/new"][:].any(), "seeded corpus: nothing marked new")
    corpus_ids = [i for i in all_ids if not by_id[i][8]]
    comp = {i: {i} for i in corpus_ids}
    for x in corpus_ids:
        for y in corpus_ids:
            if x < y and int((H[x] != H[y]).sum()) <= 31:
                merged = comp[x] | comp[y]
                for z in merged:
                    comp[z] = merged
    check(sid == corpus_ids, "seeded state lists every corpus hash")
    check(all((scl[sid.index(x)] == scl[sid.index(y)]) == (y in comp[x]) for x in corpus_ids for y in corpus_ids),
          "seeded clusters are the corpus self-join's components")
    seeded_report = os.path.join(tmp, "report-seeded")
    run("report", "--state", seeded, "--out", seeded_report, "--quiet")
    for name in ("triage.csv", "unmatched.csv"):
        with open(os.path.join(seeded_report, name)) as f:
            check(len(list(csv.DictReader(f))) == 0, f"seeded state: {name} is empty (nothing new)")
    run("nightly", "--quiet", "--state", seeded, "--new", uploads)
    run("report", "--state", seeded, "--out", seeded_report, "--quiet")
    with open(os.path.join(seeded_report, "triage.csv")) as f:
        check([t["triage"] for t in csv.DictReader(f)] == [t["triage"] for t in triage_n],
              "after the first night, a seeded state triages as a corpus night")
    p = run("state", "init", seeded, "--corpus", corpus, ok=False)
    check(p.returncode != 0 and "already exists" in p.stderr, "state init refuses an existing state")

    # Filters: --min-size and --classes keep the full list's ranks.
    filt = os.path.join(tmp, "report-filtered")
    run("report", "--clusters", clusters, "--pairs", pairs, "--out", filt, "--quiet",
        "--min-size", "3", "--classes", "candidate_new_series,3")
    with open(os.path.join(filt, "triage.csv")) as f:
        got_f = [(int(t["rank"]), t["triage"]) for t in csv.DictReader(f)]
    want_f = [(k + 1, names[e[0]]) for k, e in enumerate(expect) if len(e[1]) >= 3 and e[0] in (2, 3)]
    check(got_f == want_f and want_f, f"filtered triage {got_f} vs {want_f}")
    p = run("report", "--clusters", clusters, "--out", filt, "--classes", "victims", ok=False)
    check(p.returncode == 2 and "--classes" in p.stderr, f"bad --classes: {p.stderr!r}")

    # Several corpus shards of different sources: each hash keeps its own.
    parts = []
    for k, src in enumerate(("nl", "de")):
        path = os.path.join(tmp, f"part-{src}.txt")
        with open(path, "w") as f:
            for i in range(3):
                f.write(f"{1000 + 10 * k + i},{hexs(rand_hash())}\n")
        run("ingest", "--kind", "pdq", "--source", src, "--in", path, "--out", path[:-4] + ".h5", "--quiet")
        parts.append(path[:-4] + ".h5")
    two = os.path.join(tmp, "two.h5")
    run("join", "--corpus", *parts, "--queries", uploads, "--out", two, "--quiet")
    with h5py.File(two, "r") as f:
        got = dict(zip(f["meta_index/id"][:].tolist(), (x.decode() for x in f["meta/source"][:])))
    check(all(got[1000 + i] == "nl" and got[1010 + i] == "de" for i in range(3)),
          f"each corpus shard's source kept per hash: {got}")

    # A shard written by h5py with variable-length and fixed-length strings.
    user = os.path.join(tmp, "user.h5")
    with h5py.File(user, "w") as f:
        f["hashes"] = np.stack([A, B])
        f["ids"] = np.array([10, 11], dtype=np.int64)
        f.attrs["kind"] = "pdq"
        f["meta/series"] = ["Serie é", ""]                     # variable-length UTF-8
        f["meta/case_id"] = np.array([b"K-1", b"K-2"], dtype="S64")  # fixed length
        f["meta/victim_identified"] = np.array([1, -1], dtype=np.int8)
    p = run("export", user, "--format", "jsonl")
    got = [json.loads(line) for line in p.stdout.splitlines()]
    check([g["series"] for g in got] == ["Serie é", ""] and [g["case_id"] for g in got] == ["K-1", "K-2"]
          and [g["victim_identified"] for g in got] == ["yes", "unknown"]
          and [g["offender_identified"] for g in got] == ["unknown", "unknown"],
          f"h5py-written metadata read back: {got}")
    with h5py.File(user, "a") as f:
        f["meta/offender_identified"] = np.array([2, 0], dtype=np.int8)
    p = run("export", user, "--format", "csv", ok=False)
    check(p.returncode == 1 and "offender_identified row 0" in p.stderr, f"bad flag in a shard: {p.stderr!r}")

    # ICSE-style export of the clusters file.
    icse = os.path.join(tmp, "icse.csv")
    run("export", clusters, "--format", "icse", "--out", icse)
    with open(icse, newline="") as f:
        rdr = list(csv.DictReader(f, delimiter=";"))
    check(len(rdr) == len(all_ids), f"icse export: every hash ({len(rdr)})")
    row = next(r for r in rdr if r["Image ID"] == "301")
    check(row["Series name"] == "Series D; part 2" and row["Victim identified"] == "Yes"
          and row["Offender identified"] == "No" and row["Case ID"] == "CASE-4",
          "icse export row of 301")
    check(next(r for r in rdr if r["Image ID"] == "8")["Triage rank"] == "1", "icse triage rank")

    # Malformed metadata: FILE:LINE, non-zero exit, nothing written.
    bad = os.path.join(tmp, "bad.csv")
    bad_out = os.path.join(tmp, "bad.h5")
    cases = [
        ("id;PDQ;Victim identified\n1;%s;yes\n2;%s;perhaps\n", ":3:", "Victim identified"),
        ("id,hash,series\n1,%s,S\n2,%s\n", ":3:", "header has 3"),
        ("id,hash,series\n1,%s,\"S\n2,%s,S\n", ":2:", "quote"),
        ("Image ID;PhotoDNA\n1;%s\n2;%s\n", ":1:", "no column for pdq"),
    ]
    for text, where, what in cases:
        with open(bad, "w") as f:
            f.write(text % (hexs(A), hexs(B)))
        p = run("ingest", "--kind", "pdq", "--in", bad, "--out", bad_out, ok=False)
        check(p.returncode == 1 and "bad.csv" + where in p.stderr and what in p.stderr,
              f"malformed metadata {what!r}: rc {p.returncode}, {p.stderr.strip()!r}")
        check(not os.path.exists(bad_out), "nothing written for bad input")
        check(hexs(A) not in p.stderr, "no hash in the error")

    # The page in headless Chromium: it renders, with the triage rows.
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        check(os.environ.get("SIMJOIN_NO_CHROMIUM") == "1",
              "chromium is not installed (scripts/setup.sh installs it)")
    else:
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-dev-shm-usage",
                 f"--user-data-dir={tmp}/chromium-profile"]
        page = "file://" + os.path.join(out, "report.html")
        shot = os.path.join(tmp, "report.png")
        p = subprocess.run([chromium, *flags, f"--screenshot={shot}", "--window-size=1280,900",
                            page], capture_output=True, text=True, timeout=120)
        check(os.path.exists(shot), f"chromium screenshot: {p.stderr[-500:]}")
        if os.path.exists(shot):
            import matplotlib.image as mpimg
            img = mpimg.imread(shot)[:, :, :3]
            check(img.shape[0] == 900 and img.shape[1] == 1280, f"screenshot size {img.shape}")
            # the class-1 row marker (#c0392b) is drawn, and the page is not blank
            red = (abs(img[:, :, 0] - 0xc0 / 255) < 0.03) & (abs(img[:, :, 1] - 0x39 / 255) < 0.03) \
                & (abs(img[:, :, 2] - 0x2b / 255) < 0.03)
            check(red.sum() > 50, f"class-1 marker rendered ({int(red.sum())} px)")
            check((img.mean(axis=2) < 0.5).mean() > 0.005, "text rendered")
            if os.environ.get("SIMJOIN_KEEP_SCREENSHOT"):
                shutil.copy(shot, os.environ["SIMJOIN_KEEP_SCREENSHOT"])
        p = subprocess.run([chromium, *flags, "--dump-dom", page], capture_output=True, text=True,
                           timeout=120)
        dom = p.stdout
        check(dom.count('<tr class="t') >= len(expect) + 5, "DOM holds the triage rows")
        html = open(os.path.join(out, "report.html")).read()
        for c in range(1, 6):
            n = sum(e[0] == c for e in expect)
            check(f'href="#class-{c}"' in html and f'id="class-{c}"' in html and
                  f'<h2 id="class-{c}">{c}. {names[c]} ({n})</h2>' in html,
                  f"report.html: class {c} counted ({n}) at the top and linked to its section")
        # The page fits 1,280 px: no horizontal scrolling (the long case id wraps).
        probe = os.path.join(tmp, "probe.html")
        with open(probe, "w") as f:
            f.write(html.replace("</body>", "<script>document.body.setAttribute('data-sw',"
                                 "document.documentElement.scrollWidth);</script></body>"))
        p = subprocess.run([chromium, *flags, "--window-size=1280,900", "--dump-dom",
                            "file://" + probe], capture_output=True, text=True, timeout=120)
        import re
        m = re.search(r'data-sw="(\d+)"', p.stdout)
        check(m and int(m.group(1)) <= 1280, f"page width at 1280 px: {m and m.group(1)}")
        check("http://" not in open(os.path.join(out, "report.html")).read() and
              "https://" not in open(os.path.join(out, "report.html")).read(),
              "the page links nothing outside")
finally:
    if not os.environ.get("SIMJOIN_KEEP_TMP"):
        shutil.rmtree(tmp, ignore_errors=True)

if failures:
    print(f"{len(failures)} check(s) failed; seed {SEED}", file=sys.stderr)
    sys.exit(1)
print(f"report: all checks passed (seed {SEED})")
