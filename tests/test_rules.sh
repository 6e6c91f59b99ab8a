#!/usr/bin/env bash
# Decision rules of the command line at their exact edges (issue 18), with
# hashes built here so every distance is known:
# - merged nightly clusters take the smallest of their ids: night 0 gives
#   hash 500 cluster 0, night 1 gives hash 100 (far from 500) cluster 1,
#   night 2's upload 300 is within the threshold of both and bridges them.
#   The merged cluster must be 0 (the smallest id), although its smallest
#   member (100) came from cluster 1; the report lists 1 as merged into 0.
# - core linkage picks the nearest core neighbour by its cosine distance:
#   f32:8 vectors with ids 1..7 (X=1, cores 2 and 5, satellites 3, 4 of 2
#   and 6, 7 of 5); at T = 0.75, X matches only 2 (distance 0.7) and 5
#   (0.3); 2 and 5 have three matches each, every other hash one. Under
#   core:3 X joins 5's cluster, the nearer one (by id it would be 2's).
set -uo pipefail
SJ=$1 PY=$2
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0 checks=0
ok() { checks=$((checks+1)); if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=$((fail+1)); fi; }

# P: 128 ones; Q: P with bits 0..59 flipped (distance 60 > 31); R: P with
# bits 0..29 flipped (30 from P, 30 from Q).
"$PY" - "$W" <<'PYEOF'
import sys
w = sys.argv[1]
p = [1 if i % 2 else 0 for i in range(256)]
def flip(bits, k): return [b ^ 1 if i < k else b for i, b in enumerate(bits)]
def hexof(bits): return "".join("%02x" % sum(bits[8 * j + i] << (7 - i) for i in range(8)) for j in range(32))
for name, i, bits in [("n0", 500, p), ("n1", 100, flip(p, 60)), ("n2", 300, flip(p, 30))]:
    open(f"{w}/{name}.csv", "w").write(f"id,hash\n{i},{hexof(bits)}\n")
PYEOF
for k in 0 1 2; do
  "$SJ" ingest --quiet --kind pdq --in "$W/n$k.csv" --source "db$k" --out "$W/n$k.h5" || echo "ingest $k failed"
done
"$SJ" state init "$W/st" --kind pdq >/dev/null 2>&1
for k in 0 1 2; do "$SJ" nightly --quiet --state "$W/st" --new "$W/n$k.h5"; done
ids() { h5dump -d /state/id -d /state/cluster "$W/st/clusters/g00000$1.h5" 2>/dev/null |
        tr -d ' \n' | grep -o 'DATA{[^}]*}' | tr '\n' ' '; }
ok "night 1: two clusters, 500 in 0 and 100 in 1" "[ \"\$(ids 2)\" = 'DATA{(0):100,500} DATA{(0):1,0} ' ]"
ok "night 2: the bridged cluster takes the smallest id, 0" "[ \"\$(ids 3)\" = 'DATA{(0):100,300,500} DATA{(0):0,0,0} ' ]"
ok "night 2: the report lists cluster 1 merged into 0" "\"$PY\" -c \"import json,sys; m=json.load(open(sys.argv[1]))['merges']; assert m == [{'cluster': 0, 'merged': 1}], m\" \"$W/st/reports/g000003.json\""


"$PY" - "$W" <<'PYEOF'
import sys, numpy as np
w, e = sys.argv[1], np.eye(8)
x = e[0]
c5 = 0.7 * e[0] + np.sqrt(1 - 0.49) * e[1]  # 1 - cos = 0.3 from x
c2 = 0.3 * e[0] + np.sqrt(1 - 0.09) * e[2]  # 1 - cos = 0.7 from x; 0.79 from c5
def sat(c, k, length):  # cos to c = 1/length
    return c + np.sqrt(length**2 - 1) * e[k]
rows = [x, c2, sat(c2, 5, 2.2), sat(c2, 6, 2.2), c5, sat(c5, 3, 3.2), sat(c5, 4, 3.2)]
v = np.array([r / np.linalg.norm(r) for r in rows], dtype=np.float32)
d = 1 - v.astype(np.float64) @ v.T.astype(np.float64)
m = [(i + 1, j + 1) for i in range(7) for j in range(i + 1, 7) if d[i, j] <= 0.75]
assert m == [(1, 2), (1, 5), (2, 3), (2, 4), (5, 6), (5, 7)], m  # the plan above holds
np.save(f"{w}/v.npy", v)
PYEOF
"$SJ" ingest --quiet --kind f32:8 --first-id 1 --in "$W/v.npy" --out "$W/v.h5"
"$SJ" join --quiet --corpus "$W/v.h5" --threshold 0.75 --out "$W/vp.h5"
"$SJ" cluster --quiet --linkage core:3 --pairs "$W/vp.h5" --out "$W/vc.h5"
vcl=$(h5dump -d /clusters/id -d /clusters/cluster "$W/vc.h5" 2>/dev/null | tr -d ' \n' | grep -o 'DATA{[^}]*}' | tr '\n' ' ')
ok "cosine core:3: hash 1 joins its nearest core neighbour (5, at 0.3), not the smaller id (2, at 0.7)" \
   "[ \"\$vcl\" = 'DATA{(0):1,2,3,4,5,6,7} DATA{(0):0,1,1,1,0,0,0} ' ]"
echo "$((checks-fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
