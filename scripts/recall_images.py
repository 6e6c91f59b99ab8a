#!/usr/bin/env python3
"""Recall of PDQ per edit at T = 31, with and without the dihedral hashes
(README "From images to hashes"). Runs in the image test venv:

  <venv>/bin/python scripts/recall_images.py build/simjoin

Originals: the photographs scikit-image bundles (BSD), each also cut into
its four quadrants (more distinct images), resized to 512 px on the long
side, PNG. Each original gets 7 edited copies: resize to 50 %, JPEG quality
30, brightness +40, a watermark (an opaque white box of text-like blocks,
27 % x 8 % of the picture, bottom right), gray, mirrored left-right, rotated
90 degrees. All files
are hashed by `simjoin hash --kind pdq --dihedral`; an edit is found
  - without --dihedral when hamming(copy, original) <= 31;
  - with --dihedral when min over the copy's 8 dihedral hashes of
    hamming(copy_t, original) <= 31 (what `join --dihedral` computes, with
    the copies as queries and the originals as corpus).
False pairs: (copy, original of another picture) within 31, both ways.
"""
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import skimage.data
from PIL import Image, ImageEnhance

PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "camera", "hubble_deep_field",
          "immunohistochemistry", "coins", "moon", "page", "text", "clock", "horse"]
EDITS = ["resize50", "jpeg30", "bright40", "watermark", "gray", "hflip", "rot90"]


def edit(im, name, path, rng):
    if name == "resize50":
        im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS).save(path + ".png")
    elif name == "jpeg30":
        im.save(path + ".jpg", quality=30)
        return path + ".jpg"
    elif name == "bright40":
        Image.fromarray(np.clip(np.asarray(im).astype(int) + 40, 0, 255).astype(np.uint8)).save(path + ".png")
    elif name == "watermark":
        a = np.asarray(im).copy()
        h, w = a.shape[:2]
        y0, x0, bh, bw = int(h * 0.88), int(w * 0.70), int(h * 0.08), int(w * 0.27)
        a[y0:y0 + bh, x0:x0 + bw] = 255
        for x in range(x0 + 4, x0 + bw - 8, 10):  # "letters"
            a[y0 + 3:y0 + bh - 3, x:x + 6] = rng.integers(0, 80)
        Image.fromarray(a).save(path + ".png")
    elif name == "gray":
        im.convert("L").convert("RGB").save(path + ".png")
    elif name == "hflip":
        im.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(path + ".png")
    elif name == "rot90":
        im.transpose(Image.Transpose.ROTATE_90).save(path + ".png")
    return path + ".png"


def main():
    simjoin = sys.argv[1]
    rng = np.random.default_rng(31)
    tmp = tempfile.mkdtemp(prefix="sj-recall-")
    try:
        originals, copies = [], []  # copies: (path, original index, edit)
        for name in PHOTOS:
            try:
                a = getattr(skimage.data, name)()
            except Exception:
                continue
            if a.dtype == bool:
                a = a.astype(np.uint8) * 255
            im = Image.fromarray(a).convert("RGB")
            h, w = im.height, im.width
            parts = [im] + [im.crop((x, y, x + w // 2, y + h // 2)) for x in (0, w // 2) for y in (0, h // 2)]
            for k, p in enumerate(parts):
                s = 512 / max(p.size)
                p = p.resize((max(8, round(p.width * s)), max(8, round(p.height * s))), Image.Resampling.LANCZOS)
                base = os.path.join(tmp, f"{name}-{k}")
                p.save(base + ".png")
                originals.append(base + ".png")
                for e in EDITS:
                    copies.append((edit(p, e, base + "-" + e, rng), len(originals) - 1, e))
        files = originals + [c[0] for c in copies]
        out = os.path.join(tmp, "all.h5")
        subprocess.run([simjoin, "hash", "--kind", "pdq", "--dihedral", "--quiet", "--out", out, *files], check=True)
        with h5py.File(out) as f:
            hashes = f["hashes"][:]
            dih = f["dihedral"][:]
        n = len(originals)
        orig = np.unpackbits(hashes[:n], axis=1)
        print(f"{n} originals (scikit-image photos and their quadrants), {len(copies)} edited copies, T = 31")
        print("| edit | recall | recall with --dihedral | false pairs | false pairs with --dihedral |")
        print("| --- | --- | --- | --- | --- |")
        for e in EDITS:
            idx = [i for i, c in enumerate(copies) if c[2] == e]
            found = found_d = false = false_d = 0
            for i in idx:
                o = copies[i][1]
                plain = (np.unpackbits(hashes[n + i])[None, :] != orig).sum(1)
                best = np.min([(np.unpackbits(dih[n + i, t])[None, :] != orig).sum(1) for t in range(8)], axis=0)
                found += plain[o] <= 31
                found_d += best[o] <= 31
                others = np.arange(n) != o
                false += int((plain[others] <= 31).sum())
                false_d += int((best[others] <= 31).sum())
            print(f"| {e} | {found}/{len(idx)} | {found_d}/{len(idx)} | {false} | {false_d} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
