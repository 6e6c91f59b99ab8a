#!/usr/bin/env bash
# The command-line tool as a user meets it: help, exit codes, gen determinism,
# sharding, exports, file modes, degenerate hashes, nothing sensitive in logs.
set -uo pipefail
SJ=$1 DATA=$2 PY=$3
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0 checks=0
ok() { checks=$((checks+1)); if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=$((fail+1)); fi; }
h5val() { "$PY" -c "import h5py,sys; f=h5py.File(sys.argv[1],'r'); print($2)" "$1"; }
HX=$(head -1 "$DATA/haystack.txt")

for c in ingest gen join cluster sweep export info bench; do
  ok "$c --help exits 0 with usage" "out=\$(\"$SJ\" $c --help) && grep -q '^usage: simjoin $c' <<<\"\$out\""
done
ok "--version" "\"$SJ\" --version | grep -q '^simjoin [0-9]'"
ok "no command exits 2" "\"$SJ\" >/dev/null 2>&1; [ \$? -eq 2 ]"

# gen: deterministic for a seed, labelled, fast enough.
"$SJ" gen --quiet --n 20000 --queries 500 --queries-out "$W/gq1.h5" --seed 5 --out "$W/g1.h5"
"$SJ" gen --quiet --n 20000 --queries 500 --queries-out "$W/gq2.h5" --seed 5 --out "$W/g2.h5"
"$SJ" gen --quiet --n 20000 --seed 6 --out "$W/g3.h5"
"$SJ" export "$W/g1.h5" --format csv --out "$W/g1.csv"
"$SJ" export "$W/g2.h5" --format csv --out "$W/g2.csv"
"$SJ" export "$W/g3.h5" --format csv --out "$W/g3.csv"
ok "gen: same seed, same data" "cmp -s \"$W/g1.csv\" \"$W/g2.csv\""
ok "gen: other seed, other data" "! cmp -s \"$W/g1.csv\" \"$W/g3.csv\""
ok "gen: labels present, series exist" "[ \$(h5val \"$W/g1.h5\" \"int((f['labels'][:] >= 0).sum())\") -gt 3000 ]"
ok "gen: about half the bits set" "h5val \"$W/g1.h5\" \"abs(__import__('numpy').unpackbits(f['hashes'][:]).mean() - 0.5) < 0.02\" | grep -q True"
ok "gen: queries match some corpus series" "\"$SJ\" join --quiet --corpus \"$W/g1.h5\" --queries \"$W/gq1.h5\" --out \"$W/gp.h5\" && [ \$(h5val \"$W/gp.h5\" \"len(f['pairs/a'])\") -gt 10 ]"

# ingest --shard-rows: three shards joined together equal one shard.
"$SJ" ingest --quiet --kind pdq --in "$DATA/haystack.txt" --out "$W/hay.h5"
"$SJ" ingest --quiet --kind pdq --in "$DATA/haystack.txt" --shard-rows 500 --out "$W/part.h5"
ok "shard-rows makes 3 shards" "[ -f \"$W/part-00000.h5\" ] && [ -f \"$W/part-00002.h5\" ] && [ ! -e \"$W/part-00003.h5\" ]"
"$SJ" join --quiet --corpus "$W/hay.h5" --out "$W/p1.h5"
"$SJ" join --quiet --corpus "$W/part-00000.h5" "$W/part-00001.h5" --corpus "$W/part-00002.h5" --out "$W/p2.h5"
"$SJ" export "$W/p1.h5" --format csv --out "$W/p1.csv"
"$SJ" export "$W/p2.h5" --format csv --out "$W/p2.csv"
ok "sharded corpus gives the same pairs" "cmp -s \"$W/p1.csv\" \"$W/p2.csv\" && [ \$(wc -l < \"$W/p1.csv\") -eq 858 ]"

# exports parse.
"$SJ" cluster --quiet --pairs "$W/p1.h5" --out "$W/c1.h5"
"$SJ" export "$W/p1.h5" --format jsonl --out "$W/p1.jsonl"
"$SJ" export "$W/c1.h5" --format jsonl --out "$W/c1.jsonl"
"$SJ" export "$W/c1.h5" --format csv --summary --out "$W/s1.csv"
ok "pairs jsonl parses, 857 rows" "\"$PY\" -c \"import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; assert len(r)==857 and set(r[0])=={'a','b','distance'}\" \"$W/p1.jsonl\""
ok "clusters jsonl, 1350 rows" "[ \$(wc -l < \"$W/c1.jsonl\") -eq 1350 ]"
ok "summary csv, 980 clusters" "[ \$(wc -l < \"$W/s1.csv\") -eq 981 ] && head -1 \"$W/s1.csv\" | grep -q '^cluster,size,edges,min_distance,max_edge,diameter,diameter_checked$'"
ok "export of shard round-trips the hex" "\"$SJ\" export \"$W/hay.h5\" --format csv | sed -n 2p | grep -q \",$HX\$\""
ok "export to stdout" "\"$SJ\" export \"$W/p1.h5\" --format csv | sed -n 1p | grep -q '^a,b,distance$'"

# file modes: never world-accessible; umask respected.
ok "outputs are not world-readable" "[ \$(stat -c %a \"$W/p1.h5\") = 640 ] && [ \$(stat -c %a \"$W/c1.h5\") = 640 ] && [ \$(stat -c %a \"$W/p1.csv\") = 640 ]"
(umask 077; "$SJ" join --quiet --corpus "$W/hay.h5" --out "$W/p077.h5")
ok "umask 077 gives 600" "[ \$(stat -c %a \"$W/p077.h5\") = 600 ]"

# nothing sensitive at default verbosity.
err=$("$SJ" join --corpus "$W/hay.h5" --out "$W/p3.h5" 2>&1; "$SJ" cluster --pairs "$W/p3.h5" --out "$W/c3.h5" 2>&1; "$SJ" info "$W/hay.h5" "$W/c3.h5" 2>&1)
ok "no hash in logs or info" "! grep -q \"$HX\" <<<\"\$err\""
ok "no id column values in info" "! grep -qE '^ *[0-9]+,[0-9]+' <<<\"\$err\""
ok "info validates the shard" "\"$SJ\" info \"$W/hay.h5\" | grep -q 'valid shard: 1350 hashes'"

# degenerate hashes: short256.dat holds the all-zero hash.
"$SJ" ingest --quiet --kind pdq --in "$DATA/short256.dat" --out "$W/short.h5"
"$SJ" join --quiet --corpus "$W/short.h5" --threshold 31 --out "$W/ps.h5"
"$SJ" cluster --quiet --pairs "$W/ps.h5" --out "$W/cs.h5"
ok "all-zero hash (row 4) excluded as all_zero, all-ones (row 5) by the bit band" "[ \"\$(h5val \"$W/ps.h5\" \"list(zip(f['excluded/id'][:].tolist(), f['excluded/rule'][:].tolist()))\")\" = '[(4, 1), (5, 2)]' ]"
ok "excluded hash listed with cluster -1" "h5val \"$W/cs.h5\" \"dict(zip(f['clusters/id'][:].tolist(), f['clusters/cluster'][:].tolist()))[4]\" | grep -qx -- -1"
"$SJ" join --quiet --corpus "$W/short.h5" --threshold 31 --keep-degenerate --out "$W/pk.h5"
ok "--keep-degenerate keeps it" "[ \$(h5val \"$W/pk.h5\" \"len(f['excluded/id'])\") -eq 0 ]"
ok "--bit-band excludes by one-bit count" "\"$SJ\" join --quiet --corpus \"$W/hay.h5\" --bit-band 120:136 --out \"$W/pb.h5\" && [ \$(h5val \"$W/pb.h5\" \"int((f['excluded/rule'][:] == 2).sum())\") -gt 0 ]"

# quality: CSV with quality; --min-quality.
printf 'id,hash,quality\n1,%s,40\n2,%s,90\n' "$HX" "$(sed -n 2p "$DATA/haystack.txt")" > "$W/qual.csv"
"$SJ" ingest --quiet --kind pdq --in "$W/qual.csv" --out "$W/qual.h5"
"$SJ" join --quiet --corpus "$W/qual.h5" --out "$W/pq.h5"
ok "quality 40 < 50 excluded (rule 3)" "[ \"\$(h5val \"$W/pq.h5\" \"f['excluded/rule'][:].tolist()\")\" = '[3]' ]"
"$SJ" join --quiet --corpus "$W/qual.h5" --min-quality 30 --out "$W/pq2.h5"
ok "--min-quality 30 keeps it and the pair" "[ \$(h5val \"$W/pq2.h5\" \"len(f['pairs/a'])\") -eq 1 ]"

# sweep: CSV with its histogram beside it, JSON, and a PNG plot (0640).
"$SJ" gen --quiet --n 3000 --seed 4 --out "$W/sw.h5"
"$SJ" join --quiet --corpus "$W/sw.h5" --threshold 40 --out "$W/swp.h5"
"$SJ" sweep --quiet --pairs "$W/swp.h5" --thresholds 0:40:10 --out "$W/sw.csv"
ok "sweep csv has 5 rows and labels from the join's inputs" "[ \$(wc -l < \"$W/sw.csv\") -eq 6 ] && sed -n 2p \"$W/sw.csv\" | grep -qE ',[01]\.[0-9]{6},'"
ok "sweep histogram csv beside it" "[ \$(wc -l < \"$W/sw.histogram.csv\") -eq 42 ]"
"$SJ" sweep --quiet --pairs "$W/swp.h5" --thresholds 8,16,24 --out "$W/sw.json" --plot "$W/sw.png"
ok "sweep json parses" "\"$PY\" -c \"import json,sys; s=json.load(open(sys.argv[1])); assert [r['threshold'] for r in s['rows']]==[8,16,24] and len(s['histogram'])==41\" \"$W/sw.json\""
ok "sweep --plot writes a PNG, mode 640" "head -c 8 \"$W/sw.png\" | od -c | grep -q 'P   N   G' && [ \$(stat -c %a \"$W/sw.png\") = 640 ]"
ok "sweep above the join threshold is refused" "! \"$SJ\" sweep --quiet --pairs \"$W/swp.h5\" --thresholds 0:50:10 --out \"$W/bad.csv\" 2>/dev/null && [ ! -e \"$W/bad.csv\" ]"

# --max-memory: the corpus compared in chunks gives the same pairs.
"$SJ" gen --quiet --n 30000 --seed 5 --out "$W/mm.h5"
"$SJ" join --quiet --corpus "$W/mm.h5" --threshold 2 --out "$W/mm1.h5"
"$SJ" join --quiet --corpus "$W/mm.h5" --threshold 2 --max-memory 9M --out "$W/mm2.h5"
ok "--max-memory 9M (corpus compared in chunks): same pairs as unlimited" "cmp -s <(h5dump -d /pairs/a -d /pairs/b -d /pairs/distance \"$W/mm1.h5\" | tail -n +2) <(h5dump -d /pairs/a -d /pairs/b -d /pairs/distance \"$W/mm2.h5\" | tail -n +2)"

# stats json.
"$SJ" join --quiet --corpus "$W/hay.h5" --out "$W/p4.h5" --stats-json "$W/stats.json"
ok "--stats-json is JSON with the figures" "\"$PY\" -c \"import json,sys; s=json.load(open(sys.argv[1])); assert s['pairs']==857 and s['comparisons']==1350*1349//2\" \"$W/stats.json\""

echo "$((checks-fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
