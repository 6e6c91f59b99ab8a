#!/usr/bin/env bash
# Nightly runs: three nights equal one join + cluster over everything; a
# committed batch is not run twice; cluster ids are stable (or retired into a
# merge); a run killed at any step (fault injection at every write and commit
# step, and kill -9 at random times) leaves the previous or the new generation
# and its rerun gives the uninterrupted result; disk full, a damaged or a
# missing shard is a clear error and leaves the state untouched.
set -uo pipefail
SJ=$1 PY=$2
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0 checks=0
ok() { checks=$((checks+1)); if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=$((fail+1)); fi; }
gen_of() { sed -n 's/^generation //p' "$1/manifest"; }
dumpstate() { # the committed result: cluster state datasets and the last report
  local g; g=$(printf 'g%06d' "$(gen_of "$1")")
  h5dump -d /state/id -d /state/cluster -d /state/rule -d /state/source "$1/clusters/$g.h5" | tail -n +2
  cat "$1/reports/$g.json"
}

seed=${SIMJOIN_TEST_SEED:-$RANDOM}; echo "gen seed: $seed (rerun with SIMJOIN_TEST_SEED=$seed)"
"$SJ" gen --quiet --n 6000 --seed $seed --out "$W/all.h5"
"$PY" - "$W" <<'PYEOF'
import sys, h5py
w = sys.argv[1]
f = h5py.File(f"{w}/all.h5", "r")
h, ids = f["hashes"][:], f["ids"][:]
for k, src in enumerate(["nl", "de", "nl"]):
    sl = slice(k * 2000, (k + 1) * 2000)
    with h5py.File(f"{w}/night{k}.h5", "w") as g:
        g["hashes"] = h[sl]; g["ids"] = ids[sl]; g.attrs["kind"] = "pdq"; g.attrs["source"] = src
PYEOF
"$SJ" state init "$W/st" --kind pdq >/dev/null 2>&1
for k in 0 1 2; do "$SJ" nightly --quiet --state "$W/st" --new "$W/night$k.h5"; done
ok "three nights: generation 3" "[ \$(gen_of \"$W/st\") = 3 ]"
ok "state verify passes" "\"$SJ\" state verify \"$W/st\" >/dev/null"
"$SJ" nightly --quiet --state "$W/st" --new "$W/night2.h5"
ok "a committed batch is not run again" "[ \$(gen_of \"$W/st\") = 3 ]"

# Equal to one join + cluster over everything (the same partition).
"$SJ" join --quiet --corpus "$W/night0.h5" "$W/night1.h5" "$W/night2.h5" --threshold 31 --out "$W/all-p.h5"
"$SJ" cluster --quiet --no-diameter-check --pairs "$W/all-p.h5" --out "$W/all-c.h5"
ok "nightly clusters equal join + cluster over everything" "\"$PY\" - \"$W\" <<'PYEOF'
import sys, h5py
w = sys.argv[1]
s = h5py.File(f'{w}/st/clusters/g000003.h5', 'r'); c = h5py.File(f'{w}/all-c.h5', 'r')
a = dict(zip(s['state/id'][:].tolist(), s['state/cluster'][:].tolist()))
b = dict(zip(c['clusters/id'][:].tolist(), c['clusters/cluster'][:].tolist()))
assert a.keys() == b.keys(), 'different hashes'
assert {k for k, v in a.items() if v < 0} == {k for k, v in b.items() if v < 0}, 'different exclusions'
m1, m2 = {}, {}
for k in a:
    if a[k] < 0: continue
    assert m1.setdefault(a[k], b[k]) == b[k] and m2.setdefault(b[k], a[k]) == a[k], 'partitions differ'
PYEOF"
ok "cluster ids are stable or retired into a listed merge" "\"$PY\" - \"$W\" <<'PYEOF'
import sys, json, h5py
w = sys.argv[1]
old = h5py.File(f'{w}/st/clusters/g000002.h5', 'r'); new = h5py.File(f'{w}/st/clusters/g000003.h5', 'r')
o = dict(zip(old['state/id'][:].tolist(), old['state/cluster'][:].tolist()))
n = dict(zip(new['state/id'][:].tolist(), new['state/cluster'][:].tolist()))
merged = {(m['merged'], m['cluster']) for m in json.load(open(f'{w}/st/reports/g000003.json'))['merges']}
for k, v in o.items():
    assert n[k] == v or (v, n[k]) in merged, (k, v, n[k])
PYEOF"
ok "report names sources of cross-database matches" "\"$PY\" -c \"import json,sys; r=json.load(open(sys.argv[1])); x=[m for m in r['matches'] if m['cross_database']]; assert r['cross_database_matches']==len(x)>0 and all(m['source_a']!=m['source_b'] for m in x)\" \"$W/st/reports/g000002.json\""
ok "report files are not world-readable" "[ \$(stat -c %a \"$W/st/reports/g000002.csv\") = 640 ]"

# Crash safety. Reference: night 1 run once on the state after night 0.
rm -rf "$W/base" && "$SJ" state init "$W/base" --kind pdq >/dev/null 2>&1
"$SJ" nightly --quiet --state "$W/base" --new "$W/night0.h5"
cp -a "$W/base" "$W/ref" && "$SJ" nightly --quiet --state "$W/ref" --new "$W/night1.h5"
dumpstate "$W/ref" > "$W/ref.txt"
consistent_after() { # NAME DIR: a committed generation, verified, then a rerun gives the reference
  local g; g=$(gen_of "$2")
  ok "$1: generation $g is 1 or 2 and verifies" "[ \"$g\" = 1 -o \"$g\" = 2 ] && \"$SJ\" state verify \"$2\" >/dev/null"
  "$SJ" nightly --quiet --state "$2" --new "$W/night1.h5"
  ok "$1: the rerun gives the uninterrupted result" "dumpstate \"$2\" | cmp -s - \"$W/ref.txt\" && [ -z \"\$(find \"$2\" -name '.*.tmp.*')\" ]"
}
for n in 1 2 3 4 5 6 7 8 9 10; do
  rm -rf "$W/f" && cp -a "$W/base" "$W/f"
  SIMJOIN_FAULT_AT=$n "$SJ" nightly --quiet --state "$W/f" --new "$W/night1.h5" >/dev/null 2>&1
  consistent_after "abort at step $n" "$W/f"
done
for i in 1 2 3 4; do
  rm -rf "$W/k" && cp -a "$W/base" "$W/k"
  "$SJ" nightly --quiet --state "$W/k" --new "$W/night1.h5" >/dev/null 2>&1 &
  pid=$!
  sleep "0.0$(( RANDOM % 10 ))$(( RANDOM % 10 ))"
  kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  consistent_after "kill -9 at a random time ($i)" "$W/k"
done

# Failures that must leave the state untouched.
rm -rf "$W/d" && cp -a "$W/base" "$W/d"; before=$(sha256sum "$W/d/manifest")
err=$( (trap '' XFSZ; ulimit -f 64; "$SJ" nightly --state "$W/d" --new "$W/night1.h5") 2>&1 ); rc=$?
ok "disk full: an error (exit $rc)" "[ $rc -eq 1 ] && grep -qiE 'disk full|cannot write|write' <<<\"\$err\""
ok "disk full: the state is untouched" "[ \"\$(sha256sum \"$W/d/manifest\")\" = \"$before\" ] && \"$SJ\" state verify \"$W/d\" >/dev/null"
rm -rf "$W/c" && cp -a "$W/base" "$W/c"
printf 'X' | dd of="$W/c/shards/g000001-0.h5" bs=1 seek=3000 conv=notrunc 2>/dev/null
err=$("$SJ" nightly --state "$W/c" --new "$W/night1.h5" 2>&1); rc=$?
ok "damaged shard: checksum mismatch named" "[ $rc -eq 1 ] && grep -q 'g000001-0.h5: checksum mismatch' <<<\"\$err\" && [ \$(gen_of \"$W/c\") = 1 ]"
ok "damaged shard: state verify fails" "! \"$SJ\" state verify \"$W/c\" >/dev/null 2>&1"
rm -rf "$W/m" && cp -a "$W/base" "$W/m" && rm "$W/m/shards/g000001-0.h5"
err=$("$SJ" nightly --state "$W/m" --new "$W/night1.h5" 2>&1); rc=$?
ok "missing shard: named, state untouched" "[ $rc -eq 1 ] && grep -q 'g000001-0.h5: unreadable' <<<\"\$err\" && [ \$(gen_of \"$W/m\") = 1 ]"

echo "$((checks-fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
