#!/usr/bin/env python3
"""Benchmark and measurements for `simjoin hash` (BENCHMARKS.md, README
"Reduced-size decoding"). Runs in the image test venv (scripts/test-venv.sh):

  <venv>/bin/python scripts/bench_images.py build/simjoin [--threads N] [--reps R]

Image sets, made from the photographs scikit-image bundles (BSD): each photo
upscaled (PIL LANCZOS) to ~1 MP (1152 x 864) and ~12 MP (4000 x 3000), saved
as JPEG quality 90, plus two variants (mirrored, cropped 90%) for more files.
Prints:
  1. reduced-size decoding: bits between the PDQ of a full-size decode and
     of a decode at 1/2..1/8 (--reduced-min-side 1500 ... 64), next to
     the reference's own spread (pdqhash of the JPEG against pdqhash of the
     lossless pixels it was made from);
  2. throughput: simjoin hash (pdq, pdq --dihedral, reduced decode) against
     pdqhash (PIL decode + pdqhash.compute, one process per core), images/s
     and MB/s, and where simjoin's time goes (decode, resize, DCT).
"""
import argparse
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np
import pdqhash
import skimage.data
from PIL import Image

PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "camera", "hubble_deep_field",
          "immunohistochemistry", "coins"]
SIZES = {"1MP": (1152, 864), "12MP": (4000, 3000)}


def pdq_of_array(a):
    v, q = pdqhash.compute(np.ascontiguousarray(a))
    return np.packbits(np.asarray(v, dtype=np.uint8)).tobytes().hex(), q


def pdq_of_file(path):
    return pdq_of_array(np.asarray(Image.open(path).convert("RGB")))


def bits(a, b):
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def make_sets(root):
    sets, originals = {}, {}
    for label, (w, h) in SIZES.items():
        d = os.path.join(root, label)
        os.makedirs(d)
        files = []
        for name in PHOTOS:
            a = getattr(skimage.data, name)()
            im = Image.fromarray(a).convert("RGB").resize((w, h), Image.Resampling.LANCZOS)
            variants = [im, im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
                        im.crop((w // 20, h // 20, w - w // 20, h - h // 20)).resize((w, h), Image.Resampling.LANCZOS)]
            for k, v in enumerate(variants):
                p = os.path.join(d, f"{name}-{k}.jpg")
                v.save(p, quality=90)
                files.append(p)
                originals[p] = np.asarray(v)
        sets[label] = files
    return sets, originals


def simjoin_hash(simjoin, files, out, *extra, threads=None):
    args = [simjoin, "hash", "--kind", "pdq", "--times", "--out", out, *extra, *files]
    if threads:
        args[2:2] = ["--threads", str(threads)]
    t0 = time.perf_counter()
    p = subprocess.run(args, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    m = re.search(r"decode ([\d.]+), resize ([\d.]+), dct ([\d.]+)", p.stderr)
    with h5py.File(out) as f:
        hashes = [bytes(r).hex() for r in f["hashes"][:]]
    return wall, tuple(float(x) for x in m.groups()), hashes


def pdqhash_pool(files, procs):
    t0 = time.perf_counter()
    with multiprocessing.Pool(procs) as pool:
        out = pool.map(pdq_of_file, files, chunksize=1)
    return time.perf_counter() - t0, [h for h, _ in out]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("simjoin")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sj-bench-img-")
    try:
        sets, originals = make_sets(tmp)
        print("## reduced-size decoding (bits from the full-size decode)")
        for label, files in sets.items():
            out = os.path.join(tmp, "m.h5")
            _, _, full = simjoin_hash(args.simjoin, files, out, threads=args.threads)
            ref_jpeg = [pdq_of_file(f)[0] for f in files]
            ref_lossless = [pdq_of_array(originals[f])[0] for f in files]
            spread = [bits(a, b) for a, b in zip(ref_jpeg, ref_lossless)]
            agree = [bits(a, b) for a, b in zip(full, ref_jpeg)]
            print(f"{label}: {len(files)} JPEGs q90; simjoin full decode vs pdqhash (PIL decode): "
                  f"mean {np.mean(agree):.2f}, max {max(agree)} bits; reference spread (pdqhash JPEG vs "
                  f"lossless pixels): mean {np.mean(spread):.2f}, max {max(spread)} bits")
            for side in (1500, 512, 256, 128, 64):
                _, _, red = simjoin_hash(args.simjoin, files, out, "--reduced-min-side", str(side),
                                         threads=args.threads)
                d = [bits(a, b) for a, b in zip(full, red)]
                print(f"  --reduced-min-side {side:4d}: mean {np.mean(d):.2f}, p90 {np.percentile(d, 90):.0f}, "
                      f"max {max(d)} bits")
        print()
        print(f"## throughput, {args.threads} threads / processes, best of {args.reps}")
        for label, files in sets.items():
            mb = sum(os.path.getsize(f) for f in files) / 1e6
            n = len(files)
            rows = []
            for name, extra in (("simjoin hash pdq", ()), ("simjoin hash pdq --dihedral", ("--dihedral",)),
                                ("simjoin hash pdq --reduced-min-side 512", ("--reduced-min-side", "512"))):
                best = None
                for _ in range(args.reps):
                    wall, times, _ = simjoin_hash(args.simjoin, files, os.path.join(tmp, "b.h5"), *extra,
                                                  threads=args.threads)
                    if best is None or wall < best[0]:
                        best = (wall, times)
                rows.append((name, best[0], best[1]))
            best = min(pdqhash_pool(files, args.threads)[0] for _ in range(args.reps))
            rows.append((f"pdqhash {pdqhash.__version__} + PIL, {args.threads} processes", best, None))
            print(f"{label}: {n} JPEGs, {mb:.1f} MB")
            base = rows[-1][1]
            for name, wall, times in rows:
                split = ""
                if times:
                    tot = sum(times)
                    split = (f"  (thread time: decode {100 * times[0] / tot:.0f}%, resize {100 * times[1] / tot:.0f}%, "
                             f"dct {100 * times[2] / tot:.0f}%)")
                print(f"  {name:45s} {n / wall:8.1f} images/s {mb / wall:8.1f} MB/s  x{base / wall:5.2f}{split}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
