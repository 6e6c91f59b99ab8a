#!/usr/bin/env bash
# Decision rules of the command line at their exact edges (issue 18), with
# hashes built here so every distance is known:
# - merged nightly clusters take the smallest of their ids: night 0 gives
#   hash 500 cluster 0, night 1 gives hash 100 (far from 500) cluster 1,
#   night 2's upload 300 is within the threshold of both and bridges them.
#   The merged cluster must be 0 (the smallest id), although its smallest
#   member (100) came from cluster 1; the report lists 1 as merged into 0.
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

echo "$((checks-fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
