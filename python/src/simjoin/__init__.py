"""simjoin: exact batch similarity joins of perceptual hashes, from numpy.

A thin layer over libsimjoin (the library under the ``simjoin`` command):

    >>> import numpy as np, simjoin
    >>> corpus = np.random.default_rng(0).integers(0, 256, (1000, 32), dtype=np.uint8)
    >>> a, b, d = simjoin.join(corpus, threshold=100)          # self-join, a < b
    >>> labels = simjoin.cluster(a, b, d, n=len(corpus))       # cluster number per row
    >>> lims, D, I = simjoin.range_search(corpus, corpus[:5], threshold=31)

Rows are numpy arrays: uint8 [N, B] for binary hashes (Hamming; PDQ is B = 32),
uint8 [N, D] with metric "l2sq"/"l1" for PhotoDNA-style vectors, float32 [N, D]
for embeddings (metric "cosine", "ip" or "l2sq"). Results are identical to the
command line's on the same rows. Joins release the GIL.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ._simjoin_cffi import ffi, lib

__all__ = [
    "Error", "ArgumentError", "FormatError", "IOError_", "LimitError", "UnsupportedError",
    "join", "range_search", "cluster", "sweep", "read_shard", "write_shard", "Shard",
    "version", "hash_images", "ImageHashes",
]

__version__ = ffi.string(lib.sj_version()).decode()


def version() -> str:
    """The libsimjoin version this package runs on."""
    return __version__


# ---- errors ---------------------------------------------------------------


class Error(Exception):
    """A libsimjoin call failed. ``status`` is its status name, the message
    is the library's (sj_last_error)."""

    def __init__(self, message: str, status: str = "error"):
        super().__init__(message)
        self.status = status


class ArgumentError(Error, ValueError):
    """An invalid argument (SJ_ERR_ARG, SJ_ERR_MISMATCH, SJ_ERR_DUPLICATE_ID)."""


class FormatError(Error):
    """A file that does not follow simjoin's schema (SJ_ERR_FORMAT, SJ_ERR_PARSE)."""


class IOError_(Error, OSError):
    """Reading or writing a file failed (SJ_ERR_IO)."""


class LimitError(Error):
    """A resource limit would be exceeded (SJ_ERR_LIMIT): raise max_pairs."""


class UnsupportedError(Error):
    """Not available in this build or on this CPU/GPU (SJ_ERR_UNSUPPORTED, SJ_ERR_NO_DEVICE)."""


# Status numbers are stable (simjoin.h: "never renumber, only append").
_ERRORS = {
    2: IOError_, 3: FormatError, 4: FormatError, 5: ArgumentError, 6: ArgumentError,
    7: ArgumentError, 8: UnsupportedError, 10: UnsupportedError, 11: LimitError,
}


def _check(status: int) -> None:
    if status != 0:
        message = ffi.string(lib.sj_last_error()).decode("utf-8", "replace")
        name = ffi.string(lib.sj_status_str(status)).decode()
        raise _ERRORS.get(int(status), Error)(message or name, name)


# ---- rows in ----------------------------------------------------------------


def _infer_kind(rows: np.ndarray, metric: str | None, kind: str | None) -> str:
    width = rows.shape[1]
    if kind:
        return kind
    if rows.dtype == np.float32:
        return f"f32:{width}"
    if metric in (None, "hamming"):
        return f"bits:{8 * width}"
    return f"u8:{width}"


def _as_rows(x, name: str) -> np.ndarray:
    """Validate a hash array: 2-D, C-contiguous uint8 or float32. Never converts
    by value (an int8 array is an error, not a silent reinterpretation)."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array, got {type(x).__name__}")
    if x.dtype not in (np.uint8, np.float32):
        raise TypeError(f"{name}: dtype {x.dtype} is not supported: use uint8 (binary hashes, "
                        f"PhotoDNA-style vectors) or float32 (embeddings)")
    if x.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array [rows, width], got shape {x.shape}")
    if x.shape[1] == 0:
        raise ValueError(f"{name}: rows have width 0")
    if not x.flags.c_contiguous:
        raise ValueError(f"{name}: the array is not C-contiguous: pass np.ascontiguousarray({name})")
    return x


def _hash_type(kind: str):
    t = ffi.new("sj_hash_type *")
    _check(lib.sj_hash_type_parse(kind.encode(), t))
    return t[0]


class _View:
    """An sj_hashes that borrows numpy memory (zero-copy): never sj_hashes_free'd."""

    def __init__(self, rows: np.ndarray, ids: np.ndarray, htype):
        expected = htype.bits // 8
        if rows.shape[1] * rows.itemsize != expected:
            kind = ffi.new("char[32]")
            lib.sj_hash_type_format(htype, kind, 32)
            raise ValueError(f"rows are {rows.shape[1] * rows.itemsize} bytes wide but kind "
                             f"{ffi.string(kind).decode()} needs {expected}")
        self.rows, self.ids = rows, ids  # keep the buffers alive
        self.c = ffi.new("sj_hashes *")
        self.c.type = htype
        self.c.n = self.c.capacity = len(rows)
        self.c.hashes = ffi.cast("uint8_t *", ffi.from_buffer(rows)) if len(rows) else ffi.NULL
        self.c.ids = ffi.cast("int64_t *", ffi.from_buffer(ids)) if len(ids) else ffi.NULL


def _config(threshold, metric, backend, threads, max_pairs):
    cfg = ffi.new("sj_join_config *")
    lib.sj_join_config_init(cfg)
    if not np.isfinite(threshold):
        raise ValueError("threshold must be a finite number")
    cfg.threshold = float(threshold)
    m = ffi.new("sj_metric *")
    if metric:
        _check(lib.sj_metric_parse(metric.encode(), m))
        cfg.metric = m[0]
    b = ffi.new("sj_backend_kind *")
    _check(lib.sj_backend_parse(backend.encode(), b))
    cfg.backend = b[0]
    cfg.threads = int(threads)
    cfg.max_pairs = int(max_pairs)
    return cfg


# sj_pair as the compiler lays it out (it may carry more fields, e.g. transform).
_PAIR = np.dtype({"names": ["a", "b", "d"], "formats": ["<i8", "<i8", "<f8"],
                  "offsets": [ffi.offsetof("sj_pair", f) for f in ("a", "b", "distance")],
                  "itemsize": ffi.sizeof("sj_pair")})


def _take_pairs(pairs) -> np.ndarray:
    """Copy sj_pairs into a structured numpy array and free them."""
    try:
        if pairs.n == 0:
            return np.zeros(0, _PAIR)
        return np.frombuffer(ffi.buffer(pairs.v, pairs.n * _PAIR.itemsize), _PAIR).copy()
    finally:
        lib.sj_pairs_free(pairs)


def join(corpus, queries=None, threshold=31, metric=None, backend="auto", *, kind=None,
         self_pairs=False, threads=0, max_pairs=0):
    """All pairs within ``threshold`` (distance <= threshold matches).

    Without ``queries``: the self-join of ``corpus``; returns ``a, b, d`` with
    row numbers a < b and the distance. With ``queries``: every query against
    every corpus row; ``a`` is the query row, ``b`` the corpus row (and with
    ``self_pairs=True`` the query x query pairs are not included: call
    ``join(queries)`` for them). Pairs are sorted by (a, b).

    metric: "hamming" (default for uint8), "l2sq", "l1", "cosine" (default for
    float32), "ip". backend: "auto", "cpu", "naive", "faiss", "cuda".
    kind: the library's kind name ("pdq", "photodna", "bits:64", "f32:512"...)
    when the default inferred from dtype and width is not wanted.
    """
    corpus = _as_rows(corpus, "corpus")
    if queries is not None:
        queries = _as_rows(queries, "queries")
        if queries.dtype != corpus.dtype or queries.shape[1] != corpus.shape[1]:
            raise ValueError(f"queries {queries.dtype}{list(queries.shape)} and corpus "
                             f"{corpus.dtype}{list(corpus.shape)} differ in dtype or width")
    htype = _hash_type(_infer_kind(corpus, metric, kind))
    cfg = _config(threshold, metric, backend, threads, max_pairs)
    nc = len(corpus)
    c_view = _View(corpus, np.arange(nc, dtype=np.int64), htype)
    pairs = ffi.new("sj_pairs *")
    if queries is None:
        _check(lib.sj_join_self(cfg, c_view.c, pairs))
        p = _take_pairs(pairs)
        return p["a"].copy(), p["b"].copy(), p["d"].copy()
    # Query ids follow the corpus's (nc + row), so the canonical (min, max)
    # pair is (corpus row, nc + query row).
    q_view = _View(queries, np.arange(nc, nc + len(queries), dtype=np.int64), htype)
    _check(lib.sj_join_cross(cfg, q_view.c, c_view.c, pairs))
    p = _take_pairs(pairs)
    a, b = p["b"] - nc, p["a"]
    order = np.lexsort((b, a))
    return a[order], b[order], p["d"][order]


def range_search(corpus, queries, threshold=31, metric=None, backend="auto", **kw):
    """FAISS's range_search layout: ``lims`` [nq + 1], and for query i the
    distances ``D[lims[i]:lims[i+1]]`` and corpus rows ``I[...]`` (by row)."""
    queries = _as_rows(queries, "queries")
    a, b, d = join(corpus, queries, threshold, metric, backend, **kw)
    lims = np.zeros(len(queries) + 1, dtype=np.int64)
    np.cumsum(np.bincount(a, minlength=len(queries)), out=lims[1:])
    return lims, d, b


# ---- pairs in -----------------------------------------------------------------


def _pairs_view(a, b, d, n):
    a = np.asarray(a)
    b = np.asarray(b)
    if a.size == 0 and b.size == 0:  # [] is float64 to numpy
        a = b = np.zeros(0, np.int64)
    d = np.asarray(d, dtype=np.float64)
    if not (a.ndim == b.ndim == d.ndim == 1 and len(a) == len(b) == len(d)):
        raise ValueError("a, b and d must be 1-D arrays of one length")
    if a.dtype.kind not in "iu" or b.dtype.kind not in "iu":
        raise TypeError("a and b must be integer arrays (row numbers)")
    if len(a) and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n):
        raise ValueError(f"pair rows must lie in [0, {n})")
    if len(a) and np.any(a == b):
        raise ValueError("a pair joins a row to itself")
    buf = np.zeros(len(a), _PAIR)  # fields the dtype does not name stay 0
    buf["a"], buf["b"], buf["d"] = np.minimum(a, b), np.maximum(a, b), d
    pairs = ffi.new("sj_pairs *")
    pairs.n = pairs.capacity = len(buf)
    pairs.v = ffi.cast("sj_pair *", ffi.from_buffer(buf)) if len(buf) else ffi.NULL
    return pairs, buf


def _cluster_options(linkage):
    o = ffi.new("sj_cluster_options *")
    lib.sj_cluster_options_defaults(o)
    _check(lib.sj_linkage_parse(linkage.encode(), o))
    return o


def cluster(a, b, d, n, linkage="components"):
    """Cluster number per row (0 .. k-1, numbered by smallest row), from the
    pairs ``a, b, d`` over rows 0..n-1; -2 marks rows a guard quarantined.
    linkage: "components", "core:K" (complete:D needs the hashes: use the CLI)."""
    if linkage.startswith("complete"):
        raise ArgumentError("complete:D linkage needs the hashes; use the simjoin command", "arg")
    pairs, keep = _pairs_view(a, b, d, n)
    ids = np.arange(n, dtype=np.int64)
    out = ffi.new("sj_clusters **")
    _check(lib.sj_cluster(ffi.cast("int64_t *", ffi.from_buffer(ids)) if n else ffi.NULL, n, pairs,
                          _cluster_options(linkage), out))
    try:
        c = out[0]
        # ids come back sorted, and ours are 0..n-1: cluster[k] is row k's.
        return np.frombuffer(ffi.buffer(c.cluster, 8 * n), np.int64).copy() if n else \
            np.zeros(0, np.int64)
    finally:
        lib.sj_clusters_free(out[0])


_SWEEP_COLUMNS = ["threshold", "pairs", "clusters", "singletons", "largest", "quarantined",
                  "precision", "recall", "f1", "b3_precision", "b3_recall", "ari"]


def sweep(a, b, d, n, thresholds, labels=None, linkage="components"):
    """Every threshold from one join: a dict of numpy columns (pandas-ready):
    threshold, pairs, clusters, singletons, largest, quarantined and, with
    ``labels`` (ground-truth class per row, -1 for none), pairwise
    precision/recall/f1, B-cubed precision/recall and the adjusted Rand index."""
    pairs, keep = _pairs_view(a, b, d, n)
    thr = np.ascontiguousarray(np.asarray(list(thresholds), dtype=np.float64))
    if thr.ndim != 1 or len(thr) == 0:
        raise ValueError("thresholds: give at least one")
    ids = np.arange(n, dtype=np.int64)
    lab = ffi.NULL
    if labels is not None:
        labels = np.ascontiguousarray(labels, dtype=np.int64)
        if labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {labels.shape}")
        lab = ffi.cast("int64_t *", ffi.from_buffer(labels))
    out = ffi.new("sj_sweep **")
    _check(lib.sj_sweep_run(ffi.cast("int64_t *", ffi.from_buffer(ids)) if n else ffi.NULL, n, lab,
                            pairs, ffi.cast("double *", ffi.from_buffer(thr)), len(thr),
                            _cluster_options(linkage), out))
    try:
        s = out[0]
        rows = [s.rows[i] for i in range(s.n_rows)]
        return {c: np.array([getattr(r, c) for r in rows]) for c in _SWEEP_COLUMNS}
    finally:
        lib.sj_sweep_free(out[0])


# ---- shards ---------------------------------------------------------------------


@dataclass
class Shard:
    """A shard's rows: hashes [N, bytes] uint8 (or [N, D] float32), ids [N]
    int64, quality [N] int16 (-1 unknown) or None, labels or None, kind,
    and metadata columns (text lists and victim/offender flags) or {}."""
    hashes: np.ndarray
    ids: np.ndarray
    kind: str
    quality: np.ndarray | None = None
    labels: np.ndarray | None = None
    meta: dict = field(default_factory=dict)


def _meta_fields():
    return [ffi.string(lib.sj_meta_text_name(f)).decode() for f in range(lib.SJ_META_N_TEXT)]


def read_shard(path) -> Shard:
    """Read a shard written by ``simjoin ingest``/``gen``/``hash`` or by h5py."""
    out = ffi.new("sj_hashes **")
    _check(lib.sj_shard_read(os.fsencode(path), out))
    h = out[0]
    try:
        n, width = h.n, h.type.bits // 8
        kind = ffi.new("char[32]")
        lib.sj_hash_type_format(h.type, kind, 32)
        kind = ffi.string(kind).decode()
        raw = np.frombuffer(ffi.buffer(h.hashes, n * width), np.uint8).copy() if n else \
            np.zeros(0, np.uint8)
        rows = raw.view(np.float32).reshape(n, -1) if kind.startswith("f32") else raw.reshape(n, width)
        ids = np.frombuffer(ffi.buffer(h.ids, 8 * n), np.int64).copy() if n else np.zeros(0, np.int64)
        quality = (np.frombuffer(ffi.buffer(h.quality, 2 * n), np.int16).copy()
                   if n and h.quality != ffi.NULL else None)
        labels = (np.frombuffer(ffi.buffer(h.labels, 8 * n), np.int64).copy()
                  if n and h.labels != ffi.NULL else None)
        meta = {}
        if h.meta != ffi.NULL:
            for f, name in enumerate(_meta_fields()):
                meta[name] = [ffi.string(lib.sj_meta_text_get(h.meta, r, f)).decode()
                              for r in range(n)]
            meta["victim_identified"] = np.array([lib.sj_meta_victim(h.meta, r) for r in range(n)],
                                                 np.int8)
            meta["offender_identified"] = np.array(
                [lib.sj_meta_offender(h.meta, r) for r in range(n)], np.int8)
        return Shard(rows, ids, kind, quality, labels, meta)
    finally:
        lib.sj_hashes_free(h)


def write_shard(path, hashes, ids=None, *, kind=None, metric=None, quality=None, meta=None):
    """Write rows as a shard (temp file + rename, no world access).

    ids default to row numbers. quality: ints 0..100 or -1 unknown. meta: a
    dict of text columns (keys as ``read_shard`` gives them, e.g. "series",
    "case_id", "source") and "victim_identified"/"offender_identified"
    (1 yes, 0 no, -1 unknown), each with one value per row.
    """
    hashes = _as_rows(hashes, "hashes")
    n = len(hashes)
    ids = np.arange(n, dtype=np.int64) if ids is None else np.ascontiguousarray(ids)
    if ids.dtype.kind not in "iu" or ids.shape != (n,):
        raise ValueError(f"ids must be {n} integers")
    ids = ids.astype(np.int64, copy=False)
    view = _View(hashes, ids, _hash_type(_infer_kind(hashes, metric, kind)))
    qbuf = None
    if quality is not None:
        q = np.asarray(quality)
        if q.shape != (n,) or q.dtype.kind not in "iu" or (n and (q.min() < -1 or q.max() > 100)):
            raise ValueError(f"quality must be {n} integers in 0..100 (or -1 unknown)")
        qbuf = np.ascontiguousarray(q, dtype=np.int16)
        view.c.quality = ffi.cast("int16_t *", ffi.from_buffer(qbuf))
    m = ffi.NULL
    if meta:
        mp = ffi.new("sj_meta **")
        _check(lib.sj_meta_create(mp))
        m = mp[0]
    try:
        if meta:
            names = _meta_fields()
            unknown = set(meta) - set(names) - {"victim_identified", "offender_identified"}
            if unknown:
                raise ValueError(f"meta: unknown columns {sorted(unknown)}; known: "
                                 f"{names + ['victim_identified', 'offender_identified']}")
            for col, values in meta.items():
                if len(values) != n:
                    raise ValueError(f"meta[{col!r}] has {len(values)} values for {n} rows")
            victim = meta.get("victim_identified", [-1] * n)
            offender = meta.get("offender_identified", [-1] * n)
            for r in range(n):
                keep = [ffi.new("char[]", str(meta[f][r]).encode()) if f in meta else ffi.NULL
                        for f in names]
                _check(lib.sj_meta_append(m, ffi.new("const char *[]", keep), int(victim[r]),
                                          int(offender[r])))
            view.c.meta = m
        _check(lib.sj_shard_write(os.fsencode(path), view.c, 0, n))
    finally:
        if m != ffi.NULL:
            lib.sj_meta_free(m)


# ---- images -----------------------------------------------------------------


@dataclass
class ImageHashes:
    """What ``hash_images`` found, one row per file in ``paths`` (input order):
    hashes uint8 [N, 32] (pdq) or [N, 8] (phash, dhash; imagehash's bit order),
    quality int [N] (PDQ quality, -1 otherwise), ok bool [N] and reason (why a
    file failed: unreadable, truncated, not an image...; those rows are zero),
    md5 and sha1 hex strings of the file bytes ("" when unread), and for
    ``dihedral=True`` the 8 dihedral PDQ hashes uint8 [N, 8, 32] in the order
    of README "From images to hashes" (row 0 = hashes)."""
    paths: list
    hashes: np.ndarray
    quality: np.ndarray
    ok: np.ndarray
    reason: list
    md5: list
    sha1: list
    dihedral: np.ndarray | None = None


def hash_images(paths, kind="pdq", dihedral=False, threads=0) -> ImageHashes:
    """Hash image files (JPEG, PNG, WebP, GIF, BMP, TIFF; directories are
    searched recursively, "@LIST" reads paths from a file) exactly as
    ``simjoin hash`` does, on every core, releasing the GIL. A file that
    cannot be decoded is marked (ok False, reason), never raised."""
    if not lib.SIMJOIN_PY_IMAGES:
        raise UnsupportedError("this build of libsimjoin has no image decoders", "unsupported")
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]
    raw = [ffi.new("char[]", os.fsencode(p)) for p in paths]
    expanded, count = ffi.new("char ***"), ffi.new("int64_t *")
    _check(lib.sj_image_expand_inputs(ffi.new("const char *[]", raw), len(raw), expanded, count))
    n = count[0]
    try:
        names = [os.fsdecode(ffi.string(expanded[0][i])) for i in range(n)]
        o = ffi.new("sj_image_options *")
        lib.sj_image_options_defaults(o)
        k = ffi.new("sj_image_hash *")
        _check(lib.sj_image_hash_parse(kind.encode(), k))
        o.kind, o.dihedral, o.threads = k[0], 1 if dihedral else 0, int(threads)
        if dihedral and kind != "pdq":
            raise ValueError("dihedral hashes are for kind='pdq'")
        results = ffi.new("sj_image_result[]", max(n, 1))
        dih = np.zeros((n, 8, 32), np.uint8) if dihedral else None
        dptr = ffi.cast("uint8_t (*)[8][32]", ffi.from_buffer(dih)) if dihedral and n else ffi.NULL
        _check(lib.sj_hash_images(ffi.cast("const char *const *", expanded[0]), n, o, results, dptr,
                                  ffi.NULL))
    finally:
        lib.sj_image_paths_free(expanded[0], n)
    width = lib.sj_image_hash_bytes(k[0])
    hashes = np.zeros((n, width), np.uint8)
    quality, ok = np.full(n, -1, np.int32), np.zeros(n, bool)
    reason, md5, sha1 = [], [], []
    for i in range(n):
        r = results[i]
        ok[i] = bool(r.ok)
        if r.ok:
            hashes[i] = np.frombuffer(ffi.buffer(r.hash, width), np.uint8)
            quality[i] = r.quality
        reason.append(ffi.string(r.reason).decode("utf-8", "replace"))
        md5.append(bytes(ffi.buffer(r.md5, 16)).hex() if r.digests else "")
        sha1.append(bytes(ffi.buffer(r.sha1, 20)).hex() if r.digests else "")
    return ImageHashes(names, hashes, quality, ok, reason, md5, sha1, dih)
