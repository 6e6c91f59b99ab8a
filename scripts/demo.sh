#!/usr/bin/env bash
# demo.sh - set up, then run simjoin's main job on the bundled data:
#   0. images in: a small generated image set (datasets/gen_images.py: pictures
#      and their edited copies) hashed with `simjoin hash`, joined, clustered;
#   1. the ThreatExchange PDQ haystack (real hashes, BSD licence) as the corpus,
#      its needles as the night's new uploads;
#   2. a synthetic corpus of 200,000 PDQ-like hashes with 2,000 new uploads;
# each: new x corpus and new x new at T = 31, then clustering, then a summary.
# Outputs go to demo-out/ (mode 0640, ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
SJ=${BUILD_DIR:-build}/simjoin
OUT=demo-out
TE=datasets/threatexchange-pdq
mkdir -p "$OUT"
summary() { # summary NAME PAIRS CLUSTERS (from `info --json`)
  "$SJ" info --json "$2" "$3" | python3 -c '
import json, sys
pairs, clusters = (json.loads(line)["attributes"] for line in sys.stdin)
print("%-24s %8s pairs  %8s clusters (%s singletons, largest %s)" % (sys.argv[1], pairs["n_pairs"],
      clusters["n_clusters"], clusters["n_singletons"], clusters["largest_cluster"]))' "$1"
}

if "$SJ" hash --help >/dev/null 2>&1; then
  echo "== Images in: 50 generated files (6 pictures, edited copies, 2 non-images) -> PDQ + 8 dihedral hashes =="
  rm -rf "$OUT/images" && /usr/bin/python3 datasets/gen_images.py "$OUT/images" --n 6
  "$SJ" hash --kind pdq --dihedral --source demo-images --out "$OUT/images.h5" "$OUT/images"
  "$SJ" join --dihedral --corpus "$OUT/images.h5" --threshold 31 --out "$OUT/images-pairs.h5" --quiet
  "$SJ" cluster --pairs "$OUT/images-pairs.h5" --out "$OUT/images-clusters.h5"
  echo
fi

echo "== ThreatExchange PDQ: 100 new uploads against 1,350 corpus hashes =="
"$SJ" ingest --kind pdq --source threatexchange --in "$TE/haystack.txt" --out "$OUT/te-corpus.h5"
"$SJ" ingest --kind pdq --source uploads --first-id 100000 --in "$TE/needles.txt" --out "$OUT/te-new.h5"
"$SJ" join --corpus "$OUT/te-corpus.h5" --queries "$OUT/te-new.h5" --self --threshold 31 --out "$OUT/te-pairs.h5"
"$SJ" cluster --pairs "$OUT/te-pairs.h5" --out "$OUT/te-clusters.h5"
"$SJ" report --clusters "$OUT/te-clusters.h5" --pairs "$OUT/te-pairs.h5" --out "$OUT/te-triage"

echo
echo "== Synthetic: 2,000 new uploads against 200,000 corpus hashes =="
"$SJ" gen --n 200000 --queries 2000 --seed 2026 --out "$OUT/syn-corpus.h5" --queries-out "$OUT/syn-new.h5"
"$SJ" join --corpus "$OUT/syn-corpus.h5" --queries "$OUT/syn-new.h5" --self --threshold 31 --out "$OUT/syn-pairs.h5"
"$SJ" cluster --pairs "$OUT/syn-pairs.h5" --out "$OUT/syn-clusters.h5"

echo
echo "== Summary (T = 31) =="
[ -f "$OUT/images-pairs.h5" ] && summary "images (simjoin hash)" "$OUT/images-pairs.h5" "$OUT/images-clusters.h5"
summary "threatexchange" "$OUT/te-pairs.h5" "$OUT/te-clusters.h5"
summary "synthetic" "$OUT/syn-pairs.h5" "$OUT/syn-clusters.h5"
echo "largest clusters (synthetic):"
{ echo "cluster,size,edges,min_distance,max_edge,diameter,diameter_checked"
  "$SJ" export "$OUT/syn-clusters.h5" --format csv --summary | tail -n +2 | sort -t, -k2,2nr | awk "NR <= 4"; } | column -s, -t
echo "Triage list of the ThreatExchange run: $OUT/te-triage/report.html (open it offline in a browser)"
echo "Files are in $OUT/. Try: $SJ export $OUT/syn-pairs.h5 --format csv | head"
