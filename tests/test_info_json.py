#!/usr/bin/env python3
"""test_info_json.py SIMJOIN - `simjoin info --json` against h5py: every
line is one valid JSON object whose attributes and dataset shapes are the
file's own; a damaged shard is valid: false with an error, and exit 1."""
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

print(f"info_json: {'FAILED' if failed else 'all passed'}")
sys.exit(1 if failed else 0)
