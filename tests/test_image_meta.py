#!/usr/bin/python3
"""File paths and digests from `simjoin hash` and `ingest` to the report.

Needs only Debian's python3 (h5py, numpy): images are written here as PNG
(zlib) and BMP by hand, so no oracle venv is needed. Checks, against values
computed here (hashlib, the names written):
  - ingest keeps the file name of ThreatExchange `hash,quality,filename`
    lines (also with commas in it) in /meta/path; none: empty
  - a table's `path` / `File name` column goes to /meta/path too
  - simjoin hash -> join -> cluster -> report: members.csv / members.jsonl /
    icse.csv and report.html carry path, md5 and sha1 of each member
  - export of the hash shard carries them
  - a path longer than 4095 bytes in ingest is an error naming FILE:LINE

usage: test_image_meta.py SIMJOIN
"""
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "datasets"))
from gen_images import picture, write_bmp, write_png  # noqa: E402 (PNG/BMP writers without an imaging package)

SIMJOIN = sys.argv[1]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(*args, ok=True):
    p = subprocess.run([SIMJOIN, *args], capture_output=True, text=True)
    if ok and p.returncode != 0:
        print(p.stdout, p.stderr)
        raise SystemExit(f"simjoin {' '.join(args)} failed: {p.returncode}")
    return p


def main():
    tmp = tempfile.mkdtemp(prefix="sj-imgmeta-")
    try:
        # --- ingest: ThreatExchange lines keep the file name ---
        rng = np.random.default_rng(7)
        hexes = ["".join(f"{b:02x}" for b in rng.integers(0, 256, 32)) for _ in range(4)]
        te = os.path.join(tmp, "te.txt")
        with open(te, "w") as f:
            f.write(f"{hexes[0]},100,photos/a.jpg\n")
            f.write(f"{hexes[1]},90\n")
            f.write(f"{hexes[2]},80,photos/with, a comma.jpg\r\n")
            f.write(f"{hexes[3]},70,  spaced.png  \n")
        run("ingest", "--kind", "pdq", "--in", te, "--out", os.path.join(tmp, "te.h5"))
        with h5py.File(os.path.join(tmp, "te.h5")) as f:
            paths = [p.decode() for p in f["meta/path"][:]]
        check(paths == ["photos/a.jpg", "", "photos/with, a comma.jpg", "spaced.png"],
              f"ThreatExchange file names kept in /meta/path ({paths})")

        tab = os.path.join(tmp, "tab.csv")
        with open(tab, "w") as f:
            f.write("Image ID;PDQ;File name;MD5\n")
            f.write(f"7;{hexes[0]};x/1.jpg;00\n8;{hexes[1]};;11\n")
        run("ingest", "--kind", "pdq", "--in", tab, "--out", os.path.join(tmp, "tab.h5"))
        with h5py.File(os.path.join(tmp, "tab.h5")) as f:
            paths = [p.decode() for p in f["meta/path"][:]]
        check(paths == ["x/1.jpg", ""], f"table 'File name' column -> /meta/path ({paths})")

        long = os.path.join(tmp, "long.txt")
        with open(long, "w") as f:
            f.write(f"{hexes[0]},100,ok.jpg\n{hexes[1]},100,{'x' * 4096}\n")
        p = run("ingest", "--kind", "pdq", "--in", long, "--out", os.path.join(tmp, "long.h5"), ok=False)
        check(p.returncode == 1 and f"{long}:2" in p.stderr and not os.path.exists(os.path.join(tmp, "long.h5")),
              f"over-long file name: error naming FILE:LINE, nothing written ({p.stderr.strip()})")

        # --- a header claiming 20000 x 20000 pixels: refused before any pixel memory ---
        import struct
        import zlib

        def chunk(tag, data):
            return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        bomb = os.path.join(tmp, "bomb.png")
        with open(bomb, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0))
                    + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
        p = run("hash", "--kind", "pdq", "--out", os.path.join(tmp, "bomb.h5"), bomb)
        with h5py.File(os.path.join(tmp, "bomb.h5")) as f:
            reasons = [r.decode() for r in f["failed/reason"][:]]
        check(reasons == ["image too large (20000 x 20000)"] and "1 failed" in p.stderr,
              f"a 400-megapixel header is refused as too large ({reasons})")

        p = run("hash", "--kind", "pdq", "--out", os.path.join(tmp, "no-such-dir", "x.h5"), bomb, ok=False)
        check(p.returncode == 1 and "cannot write into its directory" in p.stderr,
              f"--out in a missing directory: error before hashing ({p.stderr.strip()})")

        # --- a file name that is not UTF-8: recorded with \xNN escapes, the shard stays readable ---
        odd = os.path.join(tmp.encode(), b"odd")
        os.makedirs(odd)
        write_png(os.path.join(odd, b"caf\xe9-\xff.png").decode(errors="surrogateescape"),
                  picture(np.random.default_rng(99), 64, 48))
        out_odd = os.path.join(tmp, "odd.h5")
        run("hash", "--kind", "pdq", "--root", odd.decode(), "--out", out_odd, odd.decode(errors="surrogateescape"))
        with h5py.File(out_odd) as f:
            odd_paths = [p.decode() for p in f["meta/path"][:]]
        check(odd_paths == ["caf\\xe9-\\xff.png"], f"non-UTF-8 bytes of a name escaped as \\xNN ({odd_paths})")
        p = run("join", "--corpus", out_odd, "--threshold", "31", "--out", os.path.join(tmp, "odd-p.h5"), ok=False)
        check(p.returncode == 0, f"a shard with such a name joins ({p.stderr.strip()})")

        # --- simjoin hash -> join -> cluster -> report ---
        img = os.path.join(tmp, "imgs")
        os.makedirs(img)
        bases = [picture(rng, 160, 120) for _ in range(3)]  # shapes on patterns: no DCT near-ties
        write_png(os.path.join(img, "a0.png"), bases[0])
        write_bmp(os.path.join(img, "a1-same-pixels.bmp"), bases[0])  # same hash, other bytes
        shutil.copy(os.path.join(img, "a0.png"), os.path.join(img, "a2-copy.png"))  # same bytes
        write_png(os.path.join(img, "b0.png"), bases[1])
        noisy = np.clip(bases[1].astype(int) + rng.integers(-3, 4, bases[1].shape), 0, 255).astype(np.uint8)
        write_png(os.path.join(img, "b1-noisy.png"), noisy)
        write_png(os.path.join(img, "c0.png"), bases[2])
        shard, pairs, clusters, rep = (os.path.join(tmp, n) for n in ("h.h5", "p.h5", "c.h5", "rep"))
        run("hash", "--kind", "pdq", "--root", img, "--out", shard, img)
        run("join", "--corpus", shard, "--threshold", "31", "--out", pairs, "--quiet")
        run("cluster", "--pairs", pairs, "--out", clusters)
        run("report", "--clusters", clusters, "--pairs", pairs, "--out", rep)
        names = sorted(os.listdir(img))
        digest = {n: (hashlib.md5(open(os.path.join(img, n), "rb").read()).hexdigest(),
                      hashlib.sha1(open(os.path.join(img, n), "rb").read()).hexdigest()) for n in names}
        with h5py.File(shard) as f:
            ex = [tuple(r) for r in f["exact_duplicates"][:].tolist()]
        check(ex == [(names.index("a2-copy.png"), names.index("a0.png"))], f"exact duplicate a2 of a0 ({ex})")
        with open(os.path.join(rep, "members.csv")) as f:
            members = list(csv.DictReader(f))
        clustered = sorted(names[int(m["id"])] for m in members if m["cluster"])
        check(clustered == ["a0.png", "a1-same-pixels.bmp", "a2-copy.png", "b0.png", "b1-noisy.png"],
              f"report lists the two near-duplicate clusters ({clustered})")
        for m in members:
            n = names[int(m["id"])]
            check(m["path"] == n, f"members.csv path of id {m['id']} ({m['path']} != {n})")
            check((m["md5"], m["sha1"]) == digest[n], f"members.csv digests of {n}")
        with open(os.path.join(rep, "members.jsonl")) as f:
            js = [json.loads(l) for l in f]
        check(all(j["path"] == names[j["id"]] and j["sha1"] == digest[names[j["id"]]][1] for j in js),
              "members.jsonl path and sha1")
        with open(os.path.join(rep, "icse.csv"), newline="") as f:
            icse = list(csv.reader(f, delimiter=";"))
        hdr = icse[0]
        check(hdr[-3:] == ["File path", "MD5", "SHA1"], f"icse.csv header ends with File path;MD5;SHA1 ({hdr[-3:]})")
        check(all(r[-3] == names[int(r[0])] and r[-1] == digest[names[int(r[0])]][1] for r in icse[1:]),
              "icse.csv carries path and SHA-1")
        html = open(os.path.join(rep, "report.html")).read()
        check("a1-same-pixels.bmp" in html and digest["b1-noisy.png"][1] in html, "report.html shows paths and SHA-1")
        p = run("export", shard, "--format", "csv")
        rows = list(csv.DictReader(p.stdout.splitlines()))
        check([r["path"] for r in rows] == names and [r["sha1"] for r in rows] == [digest[n][1] for n in names],
              "export of the hash shard carries path and sha1")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("all path/digest checks passed")


if __name__ == "__main__":
    main()
