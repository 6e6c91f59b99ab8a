#!/usr/bin/env python3
"""test_info_json.py SIMJOIN - `simjoin info --json` against h5py: every
line is one valid JSON object whose attributes and dataset shapes are the
file's own; a damaged shard is valid: false with an error, and exit 1.
Then `--stats-json` of gen, ingest, export, sweep, merge, nightly and state:
valid JSON whose counts agree with the files (h5py, the text written), and
`state info|verify --json` (a damaged state: valid false, exit 1)."""
import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

SJ = sys.argv[1]
failed = 0


def check(cond, what):
    global failed
    print(("ok   " if cond else "FAIL ") + what)
    failed += not cond


with tempfile.TemporaryDirectory() as tmp:
    shard, pairs, clusters = (os.path.join(tmp, n) for n in ("s.h5", "p.h5", "c.h5"))
    subprocess.run([SJ, "gen", "--quiet", "--n", "3000", "--seed", "5", "--out", shard], check=True)
    subprocess.run([SJ, "join", "--quiet", "--corpus", shard, "--threshold", "31", "--out", pairs], check=True)
    subprocess.run([SJ, "cluster", "--quiet", "--pairs", pairs, "--out", clusters], check=True)
    p = subprocess.run([SJ, "info", "--json", shard, pairs, clusters], capture_output=True, text=True)
    check(p.returncode == 0, f"info --json exits 0 ({p.stderr.strip()})")
    lines = p.stdout.splitlines()
    check(len(lines) == 3, "one line per file")
    for line, path in zip(lines, (shard, pairs, clusters)):
        obj = json.loads(line)
        check(obj["path"] == path and obj["bytes"] == os.path.getsize(path), f"{path}: path and size")
        with h5py.File(path, "r") as f:
            for name, value in f.attrs.items():
                got = obj["attributes"].get(name)
                want = value.decode() if isinstance(value, bytes) else value
                if isinstance(want, np.generic):
                    want = want.item()
                if isinstance(want, str) or isinstance(want, (int, float)):
                    check(got == want, f"{os.path.basename(path)}: attribute {name}")
            names = []
            f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
            check(sorted(obj["datasets"]) == sorted("/" + n for n in names),
                  f"{os.path.basename(path)}: every dataset listed")
            for n in names:
                check(obj["datasets"]["/" + n]["shape"] == list(f[n].shape or (1,)),
                      f"{os.path.basename(path)}: shape of /{n}")
    check(json.loads(lines[0])["valid"] is True and json.loads(lines[0])["hashes"] == 3000,
          "the shard is valid with 3000 hashes")
    with h5py.File(shard, "a") as f:  # damage: ids no longer match the hashes
        del f["ids"]
        f["ids"] = np.arange(10, dtype=np.int64)
    p = subprocess.run([SJ, "info", "--json", shard], capture_output=True, text=True)
    obj = json.loads(p.stdout)
    check(p.returncode == 1 and obj["valid"] is False and obj["error"], "a damaged shard: valid false, error, exit 1")

with tempfile.TemporaryDirectory() as tmp:
    def stats_of(*args):
        path = os.path.join(tmp, "stats.json")
        if os.path.exists(path):
            os.unlink(path)
        p = subprocess.run([SJ, *args, "--stats-json", path], capture_output=True, text=True)
        if p.returncode != 0:
            return {"error": p.stderr}
        with open(path) as f:
            return json.load(f)

    c, q = os.path.join(tmp, "c.h5"), os.path.join(tmp, "q.h5")
    js = stats_of("gen", "--quiet", "--n", "2000", "--queries", "100", "--seed", "9", "--out", c,
                  "--queries-out", q)
    with h5py.File(c, "r") as f:
        check(js.get("command") == "gen" and js.get("hashes") == len(f["ids"]) == 2000
              and js.get("queries") == 100, f"gen --stats-json: {js}")
    lines = os.path.join(tmp, "list.txt")
    with open(lines, "w") as f:
        f.write("".join("%064x\n" % (i * 0x9e3779b97f4a7c15 + 7) for i in range(37)))
    js = stats_of("ingest", "--quiet", "--kind", "pdq", "--in", lines, "--out", os.path.join(tmp, "l.h5"))
    check(js.get("command") == "ingest" and js.get("hashes") == 37 and js.get("files") == 1,
          f"ingest --stats-json: {js}")
    pairs = os.path.join(tmp, "p.h5")
    subprocess.run([SJ, "join", "--quiet", "--corpus", c, "--threshold", "31", "--out", pairs], check=True)
    with h5py.File(pairs, "r") as f:
        n_pairs = len(f["pairs/a"])
    js = stats_of("export", pairs, "--format", "csv", "--out", os.path.join(tmp, "p.csv"))
    with open(os.path.join(tmp, "p.csv")) as f:
        rows = sum(1 for _ in f) - 1
    check(js.get("command") == "export" and js.get("content") == "pairs" and rows == n_pairs,
          f"export --stats-json: {js}")
    js = stats_of("sweep", "--quiet", "--pairs", pairs, "--thresholds", "0:31:1", "--out",
                  os.path.join(tmp, "sw.csv"))
    check(js.get("command") == "sweep" and js.get("thresholds") == 32 and js.get("pairs") == n_pairs,
          f"sweep --stats-json: {js}")
    parts = []
    for i in range(2):
        parts.append(os.path.join(tmp, f"part{i}.h5"))
        subprocess.run([SJ, "join", "--quiet", "--corpus", c, "--threshold", "31", "--part", f"{i}/2",
                        "--out", parts[-1]], check=True)
    js = stats_of("merge", "--quiet", *parts, "--out", os.path.join(tmp, "m.h5"))
    check(js.get("command") == "merge" and js.get("parts") == 2 and js.get("pairs") == n_pairs,
          f"merge --stats-json: {js}")
    state = os.path.join(tmp, "state")
    subprocess.run([SJ, "state", "init", state, "--kind", "pdq", "--threshold", "31"], check=True,
                   capture_output=True)
    js = stats_of("nightly", "--quiet", "--state", state, "--new", q)
    check(js.get("command") == "nightly" and js.get("generation") == 1 and js.get("uploads") == 100,
          f"nightly --stats-json: {js}")
    # bench: every cpu path timed, all agreeing with each other and the naive loop
    js = stats_of("bench", "--quiet", "--corpus", "3000", "--queries", "60", "--backends", "cpu",
                  "--naive-queries", "10")
    paths = [k for k in js if k.startswith("cpu/")]
    check(js.get("command") == "bench" and js.get("corpus") == 3000 and js.get("queries") == 60
          and js.get("agree") == 1 and js.get("naive", 0) > 0 and paths
          and all(js[k] > 0 for k in paths), f"bench --stats-json: {js}")
    # state: the manifest's figures; corpus hashes from the shards themselves (h5py)
    with open(os.path.join(state, "manifest")) as f:
        listed = [ln.split()[1] for ln in f if ln.startswith("file ")]
    shard_rows = 0
    for name in os.listdir(os.path.join(state, "shards")):
        with h5py.File(os.path.join(state, "shards", name), "r") as f:
            shard_rows += len(f["ids"])
    for verb in ("info", "verify"):
        js = stats_of("state", verb, state)
        p = subprocess.run([SJ, "state", verb, state, "--json"], capture_output=True, text=True)
        try:
            out = json.loads(p.stdout)
        except ValueError:
            out = {"stdout": p.stdout, "stderr": p.stderr}
        for what, obj in (("--stats-json", js), ("--json", out)):
            check(obj.get("command") == "state" and obj.get("verb") == verb and obj.get("generation") == 1
                  and obj.get("kind") == "pdq" and obj.get("threshold") == 31
                  and obj.get("corpus_hashes") == shard_rows == 100 and obj.get("files", -1) >= 1,
                  f"state {verb} {what}: {obj}")
        check(verb == "info" or out.get("valid") is True, f"state verify --json: valid ({out})")
    check(len(listed) == out.get("files") >= 1, "state --json: files as the manifest lists them")
    js = stats_of("state", "init", os.path.join(tmp, "state2"), "--kind", "bits:64", "--threshold", "9")
    check(js.get("verb") == "init" and js.get("generation") == 0 and js.get("kind") == "bits:64"
          and js.get("threshold") == 9 and js.get("files") == 0, f"state init --stats-json: {js}")
    victim = os.path.join(state, "shards", sorted(os.listdir(os.path.join(state, "shards")))[0])
    with open(victim, "r+b") as f:  # damage one byte near the end
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 0xFF]))
    p = subprocess.run([SJ, "state", "verify", state, "--json"], capture_output=True, text=True)
    out = json.loads(p.stdout) if p.stdout.strip() else {}
    check(p.returncode == 1 and out.get("valid") is False and os.path.basename(victim) in out.get("error", ""),
          f"state verify --json on a damaged shard: valid false, the file named, exit 1 ({out})")

    # simjoin hash (when built with the image decoders): its figures, and an
    # --out that is one of the images is refused with the image untouched.
    if subprocess.run([SJ, "hash", "--help"], capture_output=True).returncode == 0:
        imgs = os.path.join(tmp, "imgs")
        os.mkdir(imgs)
        for i in range(3):  # 1x1 white BMPs, written byte by byte
            with open(os.path.join(imgs, f"i{i}.bmp"), "wb") as f:
                f.write(b"BM" + (58).to_bytes(4, "little") + b"\0\0\0\0" + (54).to_bytes(4, "little")
                        + (40).to_bytes(4, "little") + (1).to_bytes(4, "little") * 2
                        + (1).to_bytes(2, "little") + (24).to_bytes(2, "little") + b"\0" * 24
                        + bytes([255, 255, 255 - i, 0]))
        js = stats_of("hash", "--quiet", "--kind", "pdq", "--out", os.path.join(tmp, "h.h5"), imgs)
        check(js.get("command") == "hash" and js.get("files") == 3 and
              js.get("hashed", 0) + js.get("failed", 0) == 3, f"hash --stats-json: {js}")
        victim = os.path.join(imgs, "i0.bmp")
        before = open(victim, "rb").read()
        p = subprocess.run([SJ, "hash", "--quiet", "--kind", "pdq", "--out", victim, imgs],
                           capture_output=True, text=True)
        check(p.returncode == 1 and "the same file" in p.stderr and open(victim, "rb").read() == before,
              "hash --out over one of its images is refused, the image untouched")

print(f"info_json: {'FAILED' if failed else 'all passed'}")
sys.exit(1 if failed else 0)
