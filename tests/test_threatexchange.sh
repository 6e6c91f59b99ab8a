#!/usr/bin/env bash
# ThreatExchange PDQ data (BSD licence, see datasets/threatexchange-pdq):
# the figures in its README were computed independently with numpy.
#   haystack self-join T=31: 857 pairs, 980 clusters, largest 170
#   haystack self-join T=52: 2480 pairs
#   needles (ids from 100000) x haystack T=31: 250 pairs, all 100 needles match
# Checked for every backend built in.
set -euo pipefail
SJ=$1 DATA=$2 PY=$3
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0 checks=0
check() { # check NAME GOT WANT
  checks=$((checks+1))
  if [ "$2" != "$3" ]; then echo "FAIL: $1: got $2, want $3"; fail=$((fail+1)); else echo "ok: $1 = $2"; fi
}
h5val() { "$PY" -c "import h5py,sys; f=h5py.File(sys.argv[1],'r'); print($2)" "$1"; }

"$SJ" ingest --quiet --kind pdq --source threatexchange --in "$DATA/haystack.txt" --out "$W/hay.h5"
"$SJ" ingest --quiet --kind pdq --first-id 100000 --in "$DATA/needles.txt" --out "$W/needles.h5"
backends="cpu naive"
"$SJ" join --help >/dev/null
for b in faiss; do
  if "$SJ" join --quiet --backend $b --corpus "$W/hay.h5" --threshold 0 --out "$W/probe.h5" 2>/dev/null; then backends="$backends $b"; fi
done
for b in $backends; do
  "$SJ" join --quiet --backend $b --corpus "$W/hay.h5" --threshold 31 --out "$W/p31.h5"
  check "$b haystack T=31 pairs" "$(h5val "$W/p31.h5" "len(f['pairs/a'])")" 857
  "$SJ" cluster --quiet --pairs "$W/p31.h5" --out "$W/c31.h5"
  check "$b haystack T=31 clusters" "$(h5val "$W/c31.h5" "len(f['summary/size'])")" 980
  check "$b haystack T=31 largest" "$(h5val "$W/c31.h5" "max(f['summary/size'][:])")" 170
  check "$b haystack T=31 every hash listed once" "$(h5val "$W/c31.h5" "len(set(f['clusters/id'][:]))")" 1350
  "$SJ" join --quiet --backend $b --corpus "$W/hay.h5" --threshold 52 --out "$W/p52.h5"
  check "$b haystack T=52 pairs" "$(h5val "$W/p52.h5" "len(f['pairs/a'])")" 2480
  "$SJ" join --quiet --backend $b --corpus "$W/hay.h5" --queries "$W/needles.h5" --threshold 31 --out "$W/pn.h5"
  check "$b needles x haystack T=31 pairs" "$(h5val "$W/pn.h5" "len(f['pairs/a'])")" 250
  check "$b needles all matched" "$(h5val "$W/pn.h5" "len(set(f['pairs/b'][:]) & set(range(100000,100100)))")" 100
done
# The 170-member chain: its true diameter is far above the threshold.
check "chain diameter checked" "$(h5val "$W/c31.h5" "int(f['summary/diameter_checked'][f['summary/size'][:].argmax()])")" 1
d=$(h5val "$W/c31.h5" "int(f['summary/diameter'][f['summary/size'][:].argmax()])")
checks=$((checks+1)); if [ "$d" -gt 31 ]; then echo "ok: chain diameter $d > 31"; else echo "FAIL: chain diameter $d"; fail=$((fail+1)); fi
# Provenance: sources carried into pairs and clusters; --cross-only.
"$SJ" ingest --quiet --kind pdq --source nl --in "$DATA/haystack.txt" --out "$W/hay-nl.h5"
"$SJ" ingest --quiet --kind pdq --source de --first-id 100000 --in "$DATA/needles.txt" --out "$W/nee-de.h5"
"$SJ" join --quiet --corpus "$W/hay-nl.h5" "$W/nee-de.h5" --threshold 31 --out "$W/all.h5"
"$SJ" join --quiet --corpus "$W/hay-nl.h5" "$W/nee-de.h5" --threshold 31 --cross-only --out "$W/cross.h5"
check "self-join of both databases" "$(h5val "$W/all.h5" "len(f['pairs/a'])")" 1107
check "--cross-only keeps the 250 pairs across databases" "$(h5val "$W/cross.h5" "len(f['pairs/a'])")" 250
check "sources attribute names both" "$(h5val "$W/cross.h5" "f.attrs['sources'].replace(chr(10), ',')")" "nl,de"
check "every cross pair joins nl and de" "$(h5val "$W/cross.h5" "int(all(s[a] != s[b] for s in [dict(zip(f['nodes/id'][:].tolist(), f['nodes/source'][:].tolist()))] for a, b in zip(f['pairs/a'][:].tolist(), f['pairs/b'][:].tolist())))")" 1
"$SJ" cluster --quiet --pairs "$W/cross.h5" --out "$W/crossc.h5"
check "clusters carry each member's source and count them" "$(h5val "$W/crossc.h5" "int((f['summary/n_sources'][:] == 2).sum() > 0 and len(f['clusters/source']) == 1450)")" 1

# Stricter linkage breaks the chain that components build (T = 31).
"$SJ" cluster --quiet --pairs "$W/p31.h5" --linkage complete:31 --out "$W/complete.h5"
check "complete:31 largest cluster below the 170-member chain" \
  "$(h5val "$W/complete.h5" "int(max(f['summary/size'][:]) < 170)")" 1
check "complete:31 every cluster's checked diameter <= 31" \
  "$(h5val "$W/complete.h5" "int(f['summary/diameter_checked'][:].all() and (f['summary/diameter'][:] <= 31).all())")" 1
check "complete:31 linkage recorded" "$(h5val "$W/complete.h5" "f.attrs['linkage']")" "complete:31"
"$SJ" cluster --quiet --pairs "$W/p31.h5" --linkage core:4 --out "$W/core.h5"
check "core:4 largest cluster below 170" "$(h5val "$W/core.h5" "int(max(f['summary/size'][:]) < 170)")" 1
"$SJ" cluster --quiet --pairs "$W/p31.h5" --max-matches 5 --out "$W/cap.h5"
check "--max-matches 5 quarantines exactly the hashes with more than 5 matches" \
  "$(h5val "$W/cap.h5" "int(len(f['quarantined/id']) > 0 and (f['quarantined/matches'][:] > 5).all() and int(f.attrs['n_quarantined']) == len(f['quarantined/id']))")" 1
want_q=$("$PY" -c "
import h5py, collections, sys
f = h5py.File(sys.argv[1], 'r'); c = collections.Counter(f['pairs/a'][:].tolist() + f['pairs/b'][:].tolist())
print(sum(1 for v in c.values() if v > 5))" "$W/p31.h5")
check "--max-matches 5 quarantine count equals a count from the pairs" "$(h5val "$W/cap.h5" "len(f['quarantined/id'])")" "$want_q"
check "quarantined hashes have cluster -2" "$(h5val "$W/cap.h5" "int((f['clusters/cluster'][:] == -2).sum())")" "$want_q"

# 64-bit data: ingest and a self-join run (figures checked by numpy below).
"$SJ" ingest --quiet --kind bits:64 --in "$DATA/long64.dat" --out "$W/l64.h5"
"$SJ" join --quiet --corpus "$W/l64.h5" --threshold 10 --keep-degenerate --out "$W/p64.h5"
want=$("$PY" - "$DATA/long64.dat" <<'PYEOF'
import sys, numpy as np
rows = [bytes.fromhex(l.strip()) for l in open(sys.argv[1]) if l.strip()]
a = np.unpackbits(np.frombuffer(b''.join(rows), np.uint8).reshape(len(rows), 8), axis=1)
d = (a[:, None, :] != a[None, :, :]).sum(2)
iu = np.triu_indices(len(rows), 1)
print(int((d[iu] <= 10).sum()))
PYEOF
)
check "long64 T=10 pairs vs numpy" "$(h5val "$W/p64.h5" "len(f['pairs/a'])")" "$want"
echo "$((checks-fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
