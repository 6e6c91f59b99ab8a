#!/usr/bin/python3
"""A small generated image set for the demo and tests: needs only numpy and
the standard library (PNG via zlib, BMP by hand), no imaging package.

  gen_images.py OUTDIR [--n N] [--seed S]

Writes N base pictures (smooth colour patterns with shapes, 320 x 240) and,
for each, edited copies: an exact byte copy, the same pixels as BMP, a
brightened copy, a slightly noisy copy, a crop, a mirrored copy and a
90-degree rotation; plus two files that are not images (empty, text).
File names say what each is (base-003-mirror.png). Deterministic for a seed.
"""
import argparse
import os
import shutil
import struct
import zlib

import numpy as np


def write_png(path, rgb):
    """8-bit RGB PNG of rgb[h][w][3] (uint8)."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + np.ascontiguousarray(rgb[y]).tobytes() for y in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def write_bmp(path, rgb):
    """24-bit bottom-up BMP of rgb[h][w][3] (uint8)."""
    h, w, _ = rgb.shape
    stride = (w * 3 + 3) // 4 * 4
    data = bytearray()
    for y in range(h - 1, -1, -1):
        data += np.ascontiguousarray(rgb[y][:, ::-1]).reshape(-1).tobytes() + b"\x00" * (stride - w * 3)
    with open(path, "wb") as f:
        f.write(struct.pack("<2sIHHI", b"BM", 54 + len(data), 0, 0, 54)
                + struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(data), 2835, 2835, 0, 0) + bytes(data))


def picture(rng, w=320, h=240):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    f = rng.uniform(3, 20, 6)
    img = np.stack([np.sin(x / f[0] + y / f[1]), np.cos(x / f[2] - y / f[3]), np.sin((x + y) / f[4]) *
                    np.cos(y / f[5])], -1) * 70 + 128
    for _ in range(rng.integers(3, 7)):
        cx, cy, rx, ry = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(15, 80), rng.uniform(15, 80)
        img[((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 < 1] = rng.uniform(0, 255, 3)
    return np.clip(img, 0, 255).astype(np.uint8)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--n", type=int, default=6)
    ap.add_argument("--seed", type=int, default=2026)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.outdir, exist_ok=True)
    for i in range(a.n):
        p = picture(rng)
        base = os.path.join(a.outdir, f"base-{i:03d}")
        write_png(base + ".png", p)
        shutil.copy(base + ".png", base + "-copy.png")
        write_bmp(base + "-as.bmp", p)
        write_png(base + "-bright.png", np.clip(p.astype(int) + 25, 0, 255).astype(np.uint8))
        write_png(base + "-noisy.png", np.clip(p.astype(int) + rng.integers(-6, 7, p.shape), 0, 255).astype(np.uint8))
        write_png(base + "-crop.png", p[12:-12, 16:-16])
        write_png(base + "-mirror.png", p[:, ::-1])
        write_png(base + "-rot90.png", np.rot90(p))
    open(os.path.join(a.outdir, "empty.jpg"), "wb").close()
    with open(os.path.join(a.outdir, "notes.txt"), "w") as f:
        f.write("not an image\n")


if __name__ == "__main__":
    main()
