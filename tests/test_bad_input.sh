#!/usr/bin/env bash
# Bad input: each case must exit non-zero with a clear message naming the file
# (and line or row), must not echo hashes, and must leave nothing behind in the
# output directory (no output, no temporary file).
set -uo pipefail
SJ=$1 DATA=$2 PY=$3
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/out"
fail=0 checks=0
HX=f162eb9daab170c0567fe3632d9a5548c5612982dd5e374a7424ebbc8a835c95

# expect NAME EXIT_CODE MESSAGE_REGEX -- command...
expect() {
  local name=$1 code=$2 re=$3; shift 4
  checks=$((checks+1))
  local err rc
  err=$("$@" 2>&1 >/dev/null); rc=$?
  local left; left=$(ls -A "$W/out")
  if [ "$rc" -ne "$code" ]; then echo "FAIL: $name: exit $rc, want $code ($err)"; fail=$((fail+1))
  elif ! grep -qE -- "$re" <<<"$err"; then echo "FAIL: $name: message '$err' does not match /$re/"; fail=$((fail+1))
  elif grep -q "$HX" <<<"$err"; then echo "FAIL: $name: message echoes a hash"; fail=$((fail+1))
  elif [ -n "$left" ]; then echo "FAIL: $name: left files behind: $left"; fail=$((fail+1)); rm -f "$W/out"/* "$W/out"/.??*
  else echo "ok: $name: $err"; fi
}

printf '%s\n%s\n' "$HX" "${HX:0:20}zz${HX:22}" > "$W/badhex.txt"
expect "malformed hex" 1 "badhex.txt:2: .*character 21 is not a hex digit" -- \
  "$SJ" ingest --kind pdq --in "$W/badhex.txt" --out "$W/out/s.h5"
printf '%s\n%s\n%s\n' "$HX" "$HX" "${HX:0:62}" > "$W/short.txt"
expect "wrong width" 1 "short.txt:3: .*62 hex digits, expected 64" -- \
  "$SJ" ingest --kind pdq --in "$W/short.txt" --out "$W/out/s.h5"
printf '7,%s\n' "$HX" > "$W/a.csv"; printf '# x\n8,%s\n7,%s\n' "$HX" "$HX" > "$W/b.csv"
expect "duplicate ids across files" 1 "b.csv:3: duplicate id, first seen at .*a.csv:1" -- \
  "$SJ" ingest --kind pdq --in "$W/a.csv" "$W/b.csv" --out "$W/out/s.h5"
printf '1,%s,150\n' "$HX" > "$W/q.csv"
expect "quality out of range" 1 "q.csv:1: .*quality" -- \
  "$SJ" ingest --kind pdq --in "$W/q.csv" --out "$W/out/s.h5"
printf '1,%s\n' "$HX" > "$W/one.csv"
expect "pdq hash given as bits:64" 1 "one.csv:1:" -- \
  "$SJ" ingest --kind bits:64 --in "$W/one.csv" --out "$W/out/s.h5"
expect "missing input file" 1 "nope.txt: cannot open" -- \
  "$SJ" ingest --kind pdq --in "$W/nope.txt" --out "$W/out/s.h5"
expect "bad kind" 2 "unknown hash kind" -- "$SJ" ingest --kind md5 --in "$W/one.csv" --out "$W/out/s.h5"
expect "unknown option" 2 "Try 'simjoin join --help'" -- "$SJ" join --frobnicate
expect "missing --out" 2 "required" -- "$SJ" join --corpus "$W/x.h5"
expect "unknown command" 2 "unknown command" -- "$SJ" frobnicate

# Shards: a good one, then broken copies.
"$SJ" ingest --quiet --kind pdq --in "$DATA/haystack.txt" --out "$W/hay.h5"
"$SJ" ingest --quiet --kind bits:64 --in "$DATA/long64.dat" --out "$W/l64.h5"
"$SJ" ingest --quiet --kind pdq --in "$DATA/needles.txt" --out "$W/needles_clash.h5"
size=$(stat -c %s "$W/hay.h5")
head -c $((size / 2)) "$W/hay.h5" > "$W/truncated.h5"
expect "truncated HDF5" 1 "truncated.h5: .*(corrupt|truncated)" -- \
  "$SJ" join --corpus "$W/truncated.h5" --threshold 31 --out "$W/out/p.h5"
# Corrupt metadata: the superblock, the root group, a dataset's object header.
# (Raw hash bytes carry no checksum in HDF5; a flipped data byte is undetectable.)
for off in 0 100 1200; do
  cp "$W/hay.h5" "$W/corrupt$off.h5"
  printf 'garbagegarbagegarbage' | dd of="$W/corrupt$off.h5" bs=1 seek=$off conv=notrunc 2>/dev/null
  expect "corrupt HDF5 at byte $off" 1 "corrupt$off.h5: .*(corrupt|truncated|not a readable|missing)" -- \
    "$SJ" join --corpus "$W/corrupt$off.h5" --threshold 31 --out "$W/out/p.h5"
done
cp "$DATA/haystack.txt" "$W/text.h5"
expect "not HDF5" 1 "text.h5: not an HDF5 file" -- "$SJ" join --corpus "$W/text.h5" --threshold 31 --out "$W/out/p.h5"
: > "$W/empty.h5"
expect "empty file" 1 "empty.h5: not an HDF5 file" -- "$SJ" join --corpus "$W/empty.h5" --threshold 31 --out "$W/out/p.h5"
expect "mismatched kinds" 1 "l64.h5: queries are bits:64 hashes but the corpus .* is pdq" -- \
  "$SJ" join --corpus "$W/hay.h5" --queries "$W/l64.h5" --threshold 31 --out "$W/out/p.h5"
expect "mismatched kinds in corpus" 1 "l64.h5: hash kind bits:64 differs from pdq" -- \
  "$SJ" join --corpus "$W/hay.h5" "$W/l64.h5" --threshold 31 --out "$W/out/p.h5"
expect "ids clash across inputs" 1 "appear in both the corpus and the queries" -- \
  "$SJ" join --corpus "$W/hay.h5" --queries "$W/needles_clash.h5" --threshold 31 --out "$W/out/p.h5"
expect "output directory missing" 1 "missing/.*cannot create" -- \
  "$SJ" join --corpus "$W/hay.h5" --threshold 31 --out "$W/out/missing/p.h5"
expect "max pairs" 1 "limit set by --max-pairs" -- \
  "$SJ" join --corpus "$W/hay.h5" --threshold 31 --max-pairs 10 --out "$W/out/p.h5"
"$SJ" gen --quiet --n 30000 --out "$W/big.h5"
expect "inputs larger than --max-memory" 1 "inputs need about .* MB in memory, more than half of --max-memory" -- \
  "$SJ" join --corpus "$W/big.h5" --threshold 31 --max-memory 1M --out "$W/out/p.h5"
# Pairs beyond --max-memory go to sorted runs on disk (test_spill.py): the
# limit is then the disk's, and past it nothing is left (runs, journal, temp).
expect "pairs beyond --max-memory and the free disk" 1 "more than 8426 pairs, the limit of a join that spills its pairs \(--max-memory\): those that fit in 9/10 of the 1.0 MB free beside the output" -- \
  env SIMJOIN_DISK_FREE=1M "$SJ" join --corpus "$W/hay.h5" --threshold 128 --keep-degenerate --max-memory 1.2M --out "$W/out/p.h5"
expect "bad --max-memory" 2 "max-memory needs a size" -- \
  "$SJ" join --corpus "$W/hay.h5" --max-memory lots --out "$W/out/p.h5"
expect "backend cuda without GPU" 1 "cuda" -- \
  "$SJ" join --corpus "$W/hay.h5" --threshold 31 --backend cuda --out "$W/out/p.h5"

# Shards written by hand (h5py) that break the schema.
"$PY" - "$W" <<'PYEOF'
import sys, h5py, numpy as np
w = sys.argv[1]
def shard(name, hashes, ids, **attrs):
    with h5py.File(f"{w}/{name}", "w") as f:
        if hashes is not None: f["hashes"] = hashes
        if ids is not None: f["ids"] = ids
        for k, v in attrs.items(): f.attrs[k] = v
h = np.random.default_rng(1).integers(0, 256, (10, 32), dtype=np.uint8)
shard("width.h5", h[:, :30], np.arange(10), kind="pdq")
shard("noids.h5", h, None, kind="pdq")
shard("dupids.h5", h, np.array([1, 2, 3, 4, 5, 6, 7, 3, 9, 10]), kind="pdq")
shard("nokind.h5", h, np.arange(10))
shard("shortids.h5", h, np.arange(9), kind="pdq")
shard("floathashes.h5", h.astype(np.float32), np.arange(10), kind="pdq")
shard("badquality.h5", h, np.arange(10), kind="pdq")
with h5py.File(f"{w}/badquality.h5", "a") as f: f["quality"] = np.array([50] * 9 + [300])
shard("future.h5", h, np.arange(10), kind="pdq", format_version=99)
# A dataset claiming 2^40 rows, chunked and never written: a tiny file.
with h5py.File(f"{w}/huge.h5", "w") as f:
    f.create_dataset("hashes", shape=(2 ** 40, 32), dtype="u1", chunks=(1024, 32))
    f.create_dataset("ids", shape=(2 ** 40,), dtype="i8", chunks=(1024,))
    f.attrs["kind"] = "pdq"
with h5py.File(f"{w}/hugeids.h5", "w") as f:
    f["hashes"] = h
    f.create_dataset("ids", shape=(2 ** 40,), dtype="i8", chunks=(1024,))
    f.attrs["kind"] = "pdq"
# ids stored as uint64 beyond int64
with h5py.File(f"{w}/bigids.h5", "w") as f:
    f["hashes"] = h
    f["ids"] = np.array([2 ** 63 + 5] + list(range(9)), dtype=np.uint64)
    f.attrs["kind"] = "pdq"
PYEOF
expect "wrong row width" 1 "width.h5: /hashes rows are 30 bytes but kind says 256 bits" -- \
  "$SJ" join --corpus "$W/width.h5" --threshold 31 --out "$W/out/p.h5"
expect "missing /ids" 1 "noids.h5: missing dataset ids" -- "$SJ" join --corpus "$W/noids.h5" --threshold 31 --out "$W/out/p.h5"
expect "duplicate ids in a shard" 1 "dupids.h5: rows 2 and 7 have the same id" -- \
  "$SJ" join --corpus "$W/dupids.h5" --threshold 31 --out "$W/out/p.h5"
expect "missing kind" 1 "nokind.h5: missing attribute 'kind'" -- "$SJ" join --corpus "$W/nokind.h5" --threshold 31 --out "$W/out/p.h5"
expect "ids length" 1 "shortids.h5: ids has 9 rows, expected 10" -- "$SJ" join --corpus "$W/shortids.h5" --threshold 31 --out "$W/out/p.h5"
expect "float hashes" 1 "floathashes.h5: /hashes must be a 2-D uint8" -- "$SJ" join --corpus "$W/floathashes.h5" --threshold 31 --out "$W/out/p.h5"
expect "quality out of range in shard" 1 "badquality.h5: /quality row 9" -- "$SJ" join --corpus "$W/badquality.h5" --threshold 31 --out "$W/out/p.h5"
expect "newer format" 1 "future.h5: format_version 99" -- "$SJ" join --corpus "$W/future.h5" --threshold 31 --out "$W/out/p.h5"
expect "2^40 rows claimed" 1 "huge.h5: /hashes claims 1099511627776 rows, more than memory holds" -- \
  "$SJ" join --corpus "$W/huge.h5" --threshold 31 --out "$W/out/p.h5"
expect "2^40 ids claimed" 1 "hugeids.h5: ids has 1099511627776 rows, expected 10" -- \
  "$SJ" join --corpus "$W/hugeids.h5" --threshold 31 --out "$W/out/p.h5"
expect "uint64 id beyond int64" 1 "bigids.h5: ids row 0: value does not fit in int64" -- \
  "$SJ" join --corpus "$W/bigids.h5" --threshold 31 --out "$W/out/p.h5"
expect "cluster of a shard" 1 "not a pairs file|missing attribute 'content'" -- "$SJ" cluster --pairs "$W/hay.h5" --out "$W/out/c.h5"

echo "$((checks-fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
