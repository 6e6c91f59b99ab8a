#!/usr/bin/python3
"""`simjoin hash` against independent oracles (README "From images to hashes").

Oracles, from PyPI in a test venv (development only; scripts/test-venv.sh):
  pdqhash     Meta's reference C++ PDQ (with its dihedral hashes)
  imagehash   pHash and dHash on PIL images
  hashlib     MD5 and SHA-1
Images: synthetic PNGs made here (gradients with noise, noise, shapes; RGB,
gray, RGBA and palette) and photographs bundled with scikit-image (BSD).
Checks:
  - PDQ: <= 2 bits from pdqhash on >= 99% of the images, none over 8,
    quality within +-5; the 8 dihedral hashes against pdqhash's
  - a losslessly flipped/rotated image hashes (within the same tolerance)
    to the matching dihedral hash of the original (at 320x320 and 576x576,
    sizes where the reference's decimation grid is itself symmetric)
  - pHash and dHash identical to imagehash
  - the same pixels as GIF, BMP, TIFF and lossless WebP hash as the PNG
  - ThreatExchange's own expected hashes of its test images (tests/data/te-images)
  - /meta path (as given and under --root), md5, sha1; /exact_duplicates;
    /failed for zero-byte, truncated, non-image and missing files
  - the same shard bytes for --threads 1 and 2

usage: test_image_hash.py SIMJOIN VENV_PYTHON
Exits 77 (skipped) when VENV_PYTHON or its packages are missing.
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP = 77


def reexec_in_venv():
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    venv_py = sys.argv[2]
    if os.environ.get("SJ_IN_VENV"):
        return
    if not os.path.exists(venv_py):
        print(f"SKIP: no test venv at {venv_py} (create it with scripts/test-venv.sh)")
        sys.exit(SKIP)
    os.environ["SJ_IN_VENV"] = "1"
    os.execv(venv_py, [venv_py] + sys.argv)


reexec_in_venv()
try:
    import h5py
    import imagehash
    import numpy as np
    import pdqhash
    from PIL import Image
    import skimage.data
except ImportError as e:
    print(f"SKIP: test venv lacks a package ({e}); run scripts/test-venv.sh")
    sys.exit(SKIP)

SIMJOIN = sys.argv[1]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def hamming_hex(a, b):
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def run(*args, ok=True):
    p = subprocess.run([SIMJOIN, *args], capture_output=True, text=True)
    if ok and p.returncode != 0:
        print(p.stdout, p.stderr)
        raise SystemExit(f"simjoin {' '.join(args)} failed: {p.returncode}")
    return p


def synthetic(rng, kind, w, h):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    if kind == "gradient":
        a = rng.uniform(-1, 1, 3)
        img = np.stack([(a[c] * x / w + (1 - abs(a[c])) * y / h) * 200 + 20 for c in range(3)], -1)
        img += rng.normal(0, 6, img.shape)
    elif kind == "noise":
        img = rng.uniform(0, 255, (h, w, 3))
    else:  # shapes on a noisy background
        img = np.full((h, w, 3), rng.uniform(0, 255, 3)) + rng.normal(0, 4, (h, w, 3))
        for _ in range(rng.integers(2, 7)):
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            rx, ry = rng.uniform(w / 10, w / 2), rng.uniform(h / 10, h / 2)
            col = rng.uniform(0, 255, 3)
            if rng.random() < 0.5:
                m = (abs(x - cx) < rx) & (abs(y - cy) < ry)
            else:
                m = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 < 1
            img[m] = col
    return np.clip(img, 0, 255).astype(np.uint8)


def photos():
    out = {}
    for name in ["astronaut", "coffee", "chelsea", "camera", "rocket", "coins", "moon",
                 "hubble_deep_field", "immunohistochemistry", "page", "text", "clock", "horse"]:
        try:
            a = getattr(skimage.data, name)()
        except Exception:
            continue
        if a.dtype == bool:
            a = a.astype(np.uint8) * 255
        if a.dtype != np.uint8:
            continue
        out[name] = a
    return out


def save(arr, path, mode=None):
    im = Image.fromarray(arr)
    if mode == "L":
        im = im.convert("L")
    elif mode == "RGBA":
        alpha = (np.arange(arr.shape[0] * arr.shape[1]) % 251).astype(np.uint8).reshape(arr.shape[:2])
        im = Image.fromarray(np.dstack([np.asarray(im.convert("RGB")), alpha]))
    elif mode == "P":
        im = im.convert("RGB").quantize(64)
    im.save(path)


def read_shard(path):
    with h5py.File(path, "r") as f:
        d = {
            "ids": f["ids"][:],
            "hashes": [bytes(r).hex() for r in f["hashes"][:]],
            "quality": f["quality"][:] if "quality" in f else None,
            "path": [p.decode() for p in f["meta/path"][:]],
            "md5": [p.decode() for p in f["meta/md5"][:]],
            "sha1": [p.decode() for p in f["meta/sha1"][:]],
            "failed_path": [p.decode() for p in f["failed/path"][:]],
            "failed_reason": [p.decode() for p in f["failed/reason"][:]],
            "failed_id": f["failed/id"][:],
            "exact": f["exact_duplicates"][:],
            "kind": f.attrs["kind"],
        }
        d["dihedral"] = [[bytes(r).hex() for r in row] for row in f["dihedral"][:]] if "dihedral" in f else None
    return d


def pdq_ref(path):
    a = np.ascontiguousarray(np.asarray(Image.open(path).convert("RGB")))
    v, q = pdqhash.compute(a)
    return np.packbits(np.asarray(v, dtype=np.uint8)).tobytes().hex(), q


def pdq_ref_dihedral(path):
    a = np.ascontiguousarray(np.asarray(Image.open(path).convert("RGB")))
    vs, q = pdqhash.compute_dihedral(a)
    return [np.packbits(np.asarray(v, dtype=np.uint8)).tobytes().hex() for v in vs], q


def main():
    tmp = tempfile.mkdtemp(prefix="sj-img-")
    try:
        rng = np.random.default_rng(20261201)
        img_dir = os.path.join(tmp, "img")
        os.makedirs(os.path.join(img_dir, "synthetic", "deeper"))
        os.makedirs(os.path.join(img_dir, "photos"))
        files = []
        sizes = [(64, 64), (100, 80), (257, 193), (320, 320), (640, 480), (31, 45), (5, 5), (6, 9),
                 (1000, 700), (128, 512), (333, 111), (800, 800)]
        modes = [None, "L", "RGBA", "P"]
        k = 0
        for kind in ["gradient", "noise", "shapes"]:
            for (w, h) in sizes:
                mode = modes[k % len(modes)]
                sub = "synthetic/deeper" if k % 5 == 0 else "synthetic"
                p = os.path.join(img_dir, sub, f"{kind}-{w}x{h}-{mode or 'RGB'}.png")
                save(synthetic(rng, kind, w, h), p, mode)
                files.append(p)
                k += 1
        ph = photos()
        check(len(ph) >= 4, f"scikit-image bundles at least 4 photographs (found {len(ph)})")
        for name, a in ph.items():
            p = os.path.join(img_dir, "photos", f"{name}.png")
            save(a, p)
            files.append(p)

        # --- PDQ against pdqhash, with dihedrals ---
        out = os.path.join(tmp, "pdq.h5")
        run("hash", "--kind", "pdq", "--dihedral", "--quiet", "--out", out, img_dir)
        s = read_shard(out)
        check(s["kind"] == "pdq", "kind attribute pdq")
        expect_order = sorted(files)  # directory walk: sorted names
        check(s["path"] == expect_order, "paths as given, in sorted directory order")
        check(list(s["ids"]) == list(range(len(files))), "ids 0..n-1 in input order")
        dists, qdiff, ddists = [], [], []
        for i, p in enumerate(s["path"]):
            ref, q = pdq_ref(p)
            dists.append(hamming_hex(ref, s["hashes"][i]))
            qdiff.append(abs(int(q) - int(s["quality"][i])))
            rd, _ = pdq_ref_dihedral(p)
            check(s["dihedral"][i][0] == s["hashes"][i], f"{p}: dihedral[0] equals /hashes")
            if Image.open(p).size != (64, 64):  # the reference's 64x64 shortcut is not in its dihedral path
                ddists += [hamming_hex(rd[t], s["dihedral"][i][t]) for t in range(8)]
        n = len(dists)
        within2 = sum(d <= 2 for d in dists) / n
        print(f"PDQ vs pdqhash: {n} images, exact {sum(d == 0 for d in dists)}, <=2 bits {within2:.3f}, "
              f"max {max(dists)}; quality max diff {max(qdiff)}; dihedral max {max(ddists)}")
        check(within2 >= 0.99, f"PDQ within 2 bits on >= 99% ({within2:.3f})")
        check(max(dists) <= 8, f"PDQ never over 8 bits (max {max(dists)})")
        check(max(qdiff) <= 5, f"PDQ quality within 5 (max diff {max(qdiff)})")
        check(sum(d <= 2 for d in ddists) / len(ddists) >= 0.99 and max(ddists) <= 8,
              f"dihedral hashes within tolerance of pdqhash's (max {max(ddists)})")

        # --- pixel transforms vs dihedral hashes (symmetric decimation sizes) ---
        tr_dir = os.path.join(tmp, "transforms")
        os.makedirs(tr_dir)
        transforms = [lambda a: a, lambda a: np.rot90(a, 1), lambda a: np.rot90(a, 2),
                      lambda a: np.rot90(a, 3), lambda a: a[::-1], lambda a: a[:, ::-1],
                      lambda a: a.transpose(1, 0, 2), lambda a: np.rot90(a, 2).transpose(1, 0, 2)]
        bases = [synthetic(rng, "shapes", 320, 320), synthetic(rng, "gradient", 576, 576)]
        for name in list(ph)[:4]:
            rgb = np.asarray(Image.fromarray(ph[name]).convert("RGB").resize((320, 320), Image.Resampling.LANCZOS))
            bases.append(rgb)
        tr_files = []
        for b, base in enumerate(bases):
            for t, f in enumerate(transforms):
                p = os.path.join(tr_dir, f"b{b}-t{t}.png")
                Image.fromarray(np.ascontiguousarray(f(base))).save(p)
                tr_files.append(p)
        out_t = os.path.join(tmp, "tr.h5")
        run("hash", "--kind", "pdq", "--dihedral", "--quiet", "--out", out_t, *tr_files)
        st = read_shard(out_t)
        tdist = []
        for b in range(len(bases)):
            orig = st["dihedral"][b * 8]
            for t in range(8):
                tdist.append(hamming_hex(orig[t], st["hashes"][b * 8 + t]))
        print(f"transformed pixels vs dihedral hashes: {len(tdist)} pairs, max {max(tdist)} bits, "
              f"<=2: {sum(d <= 2 for d in tdist)}")
        check(sum(d <= 2 for d in tdist) / len(tdist) >= 0.99 and max(tdist) <= 8,
              f"dihedral hash = hash of the transformed image (max {max(tdist)} bits)")

        # --- pHash / dHash identical to imagehash ---
        for kind, fn in (("phash", imagehash.phash), ("dhash", imagehash.dhash)):
            out_k = os.path.join(tmp, f"{kind}.h5")
            run("hash", "--kind", kind, "--quiet", "--out", out_k, img_dir)
            sk = read_shard(out_k)
            check(sk["kind"] == "bits", f"{kind}: kind bits")
            bad = [p for i, p in enumerate(sk["path"]) if str(fn(Image.open(p))) != sk["hashes"][i]]
            print(f"{kind} vs imagehash: {len(sk['path']) - len(bad)}/{len(sk['path'])} identical")
            check(not bad, f"{kind} identical to imagehash (differ: {bad[:5]})")

        # --- other containers of the same pixels ---
        fmt_dir = os.path.join(tmp, "formats")
        os.makedirs(fmt_dir)
        base = synthetic(rng, "shapes", 300, 200)
        pal = Image.fromarray(base).quantize(200)
        pal.save(os.path.join(fmt_dir, "a-palette.png"))
        pal.save(os.path.join(fmt_dir, "b-palette.gif"))
        Image.fromarray(base).save(os.path.join(fmt_dir, "c-rgb.png"))
        Image.fromarray(base).save(os.path.join(fmt_dir, "d-rgb.bmp"))
        Image.fromarray(base).save(os.path.join(fmt_dir, "e-rgb.tif"))
        Image.fromarray(base).save(os.path.join(fmt_dir, "f-rgb.webp"), lossless=True)
        Image.fromarray(base).save(os.path.join(fmt_dir, "g-rgb.tif-lzw"), format="TIFF", compression="tiff_lzw")
        for kind in ("pdq", "dhash"):
            out_f = os.path.join(tmp, f"fmt-{kind}.h5")
            run("hash", "--kind", kind, "--quiet", "--out", out_f, fmt_dir)
            sf = read_shard(out_f)
            check(len(sf["failed_path"]) == 0, f"formats: none failed ({sf['failed_reason']})")
            hp = dict(zip([os.path.basename(p) for p in sf["path"]], sf["hashes"]))
            check(hp.get("a-palette.png") == hp.get("b-palette.gif"), f"{kind}: GIF = PNG of the same palette image")
            for f in ("d-rgb.bmp", "e-rgb.tif", "f-rgb.webp", "g-rgb.tif-lzw"):
                check(hp.get(f) == hp.get("c-rgb.png"), f"{kind}: {f} = PNG of the same pixels")

        # --- ThreatExchange's expected hashes of its own test images ---
        te = os.path.join(HERE, "data", "te-images")
        expected = {}
        with open(os.path.join(te, "expected.csv")) as fp:
            for line in fp:
                if line.strip() and not line.startswith("#"):
                    name, hexh = line.strip().split(",")
                    expected[name] = hexh
        out_te = os.path.join(tmp, "te.h5")
        run("hash", "--kind", "pdq", "--quiet", "--root", te, "--out", out_te,
            *[os.path.join(te, n) for n in sorted(expected)])
        ste = read_shard(out_te)
        check(ste["path"] == sorted(expected), f"--root: paths relative to it ({ste['path']})")
        for i, name in enumerate(ste["path"]):
            d = hamming_hex(expected[name], ste["hashes"][i])
            print(f"ThreatExchange {name}: {d} bits from the expected hash")
            check(d == 0, f"ThreatExchange {name}: hex and bit order as the reference ({d} bits)")

        # --- metadata, duplicates and failures ---
        mix = os.path.join(tmp, "mix")
        os.makedirs(mix)
        src = files[0]
        shutil.copy(src, os.path.join(mix, "a.png"))
        shutil.copy(src, os.path.join(mix, "b-copy.png"))
        shutil.copy(files[1], os.path.join(mix, "c.png"))
        shutil.copy(src, os.path.join(mix, "d-copy2.png"))
        open(os.path.join(mix, "e-empty.jpg"), "wb").close()
        blob = open(files[1], "rb").read()
        open(os.path.join(mix, "f-truncated.png"), "wb").write(blob[: len(blob) // 2])
        Image.fromarray(base).save(os.path.join(tmp, "full.jpg"), quality=90)
        jb = open(os.path.join(tmp, "full.jpg"), "rb").read()
        open(os.path.join(mix, "g-truncated.jpg"), "wb").write(jb[: len(jb) * 6 // 10])
        open(os.path.join(mix, "h-text.png"), "w").write("not an image\n")
        lst = os.path.join(tmp, "list.txt")
        with open(lst, "w") as fp:
            fp.write(os.path.join(mix, "c.png") + "\n\n" + os.path.join(tmp, "missing.png") + "\n")
        out_m = os.path.join(tmp, "mix.h5")
        p = run("hash", "--kind", "pdq", "--first-id", "100", "--out", out_m, mix, "@" + lst)
        sm = read_shard(out_m)
        names = sorted(os.listdir(mix))
        all_in = [os.path.join(mix, n) for n in names] + [os.path.join(mix, "c.png"), os.path.join(tmp, "missing.png")]
        ok_in = [q for q in all_in if os.path.basename(q) in ("a.png", "b-copy.png", "c.png", "d-copy2.png")]
        check(sm["path"] == ok_in, f"hashed files listed in input order ({sm['path']})")
        check(list(sm["ids"]) == [100 + all_in.index(q) for q in ok_in[:4]] + [100 + len(all_in) - 2],
              f"ids are first-id + input position ({list(sm['ids'])})")
        for i, q in enumerate(sm["path"]):
            b = open(q, "rb").read()
            check(sm["md5"][i] == hashlib.md5(b).hexdigest(), f"{q}: md5")
            check(sm["sha1"][i] == hashlib.sha1(b).hexdigest(), f"{q}: sha1")
        fails = dict(zip([os.path.basename(q) for q in sm["failed_path"]], sm["failed_reason"]))
        check(set(fails) == {"e-empty.jpg", "f-truncated.png", "g-truncated.jpg", "h-text.png", "missing.png"},
              f"failed files listed ({fails})")
        print("failure reasons:", fails)
        check(list(sm["failed_id"]) == [100 + all_in.index(q) for q in sm["failed_path"]], "failed ids")
        # a.png, b-copy.png, d-copy2.png identical; c.png twice (directory and list)
        exact = sorted(map(tuple, sm["exact"].tolist()))
        ida, idb, idd = (100 + names.index(n) for n in ("a.png", "b-copy.png", "d-copy2.png"))
        idc1, idc2 = 100 + names.index("c.png"), 100 + len(all_in) - 2
        check(exact == sorted([(idb, ida), (idd, ida), (idc2, idc1)]), f"exact duplicates by SHA-1 ({exact})")
        check("5 failed" in p.stderr and "3 exact duplicates in 2 groups" in p.stderr,
              f"summary counts failures and duplicates ({p.stderr.strip()})")

        # --- determinism across thread counts ---
        o1, o2 = os.path.join(tmp, "t1.h5"), os.path.join(tmp, "t2.h5")
        run("hash", "--kind", "pdq", "--dihedral", "--quiet", "--threads", "1", "--out", o1, img_dir, mix)
        run("hash", "--kind", "pdq", "--dihedral", "--quiet", "--threads", "2", "--out", o2, img_dir, mix)
        check(open(o1, "rb").read() == open(o2, "rb").read(), "same shard bytes for 1 and 2 threads")
        check(oct(os.stat(o1).st_mode & 0o777) == oct(0o640 & ~current_umask()), "shard mode 0640")

        # --- usage errors write nothing ---
        bad = os.path.join(tmp, "bad.h5")
        check(run("hash", "--kind", "md5", "--out", bad, img_dir, ok=False).returncode == 2, "bad kind: exit 2")
        check(run("hash", "--kind", "dhash", "--dihedral", "--out", bad, img_dir, ok=False).returncode == 2,
              "--dihedral with dhash: exit 2")
        check(not os.path.exists(bad), "nothing written on usage errors")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("all image hash checks passed")


def current_umask():
    m = os.umask(0)
    os.umask(m)
    return m


if __name__ == "__main__":
    main()
