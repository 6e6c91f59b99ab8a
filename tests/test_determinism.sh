#!/usr/bin/env bash
# Identical pair and cluster datasets for 1 and 2 threads and across every
# backend and ISA path (h5dump of the datasets compared byte for byte).
set -uo pipefail
SJ=$1
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0 checks=0
seed=${SIMJOIN_TEST_SEED:-$RANDOM}; echo "gen seed: $seed (rerun with SIMJOIN_TEST_SEED=$seed)"
"$SJ" gen --quiet --n 30000 --queries 3000 --queries-out "$W/q.h5" --seed $seed --out "$W/c.h5"
"$SJ" gen --quiet --n 4000 --seed $((seed + 1)) --first-id 900000000 --out "$W/small.h5"
dump() { h5dump -d /pairs/a -d /pairs/b -d /pairs/distance -d /nodes/id -d /excluded/id "$1" | grep -v '^HDF5 "'; }
run() { # run NAME ARGS... : join, cluster, dump
  local name=$1; shift
  "$SJ" join --quiet "$@" --out "$W/$name.h5" || return 1
  "$SJ" cluster --quiet --pairs "$W/$name.h5" --out "$W/$name-c.h5" || return 1
  dump "$W/$name.h5" > "$W/$name.dump"
  h5dump -d /clusters/id -d /clusters/cluster -d /summary/size -d /summary/diameter "$W/$name-c.h5" | grep -v '^HDF5 "' > "$W/$name-c.dump"
}
same() { # same A B
  checks=$((checks+1))
  if cmp -s "$W/$1.dump" "$W/$2.dump" && cmp -s "$W/$1-c.dump" "$W/$2-c.dump"; then echo "ok: $1 == $2"
  else echo "FAIL: $1 differs from $2"; fail=$((fail+1)); fi
}
isas=$("$SJ" bench --help >/dev/null; for i in portable popcnt avx2 avx512; do
  "$SJ" join --quiet --isa $i --corpus "$W/small.h5" --threshold 0 --out "$W/probe.h5" 2>/dev/null && echo $i; done)
run base --corpus "$W/c.h5" --queries "$W/q.h5" --self --threshold 31 --threads 1 --backend cpu
for i in $isas; do
  for t in 1 2; do
    run "cpu-$i-$t" --corpus "$W/c.h5" --queries "$W/q.h5" --self --threshold 31 --threads $t --backend cpu --isa $i
    same base "cpu-$i-$t"
  done
done
if "$SJ" join --quiet --backend faiss --corpus "$W/small.h5" --threshold 0 --out "$W/probe.h5" 2>/dev/null; then
  run faiss --corpus "$W/c.h5" --queries "$W/q.h5" --self --threshold 31 --backend faiss
  same base faiss
fi
# The naive reference on the self-join of the small set.
run small-naive --corpus "$W/small.h5" --threshold 40 --backend naive --threads 2
run small-cpu --corpus "$W/small.h5" --threshold 40 --backend cpu --threads 1
same small-naive small-cpu
checks=$((checks+1))
if [ "$(grep -c , "$W/base.dump")" -gt 10 ]; then echo "ok: base has pairs"; else echo "FAIL: no pairs in base"; fail=$((fail+1)); fi
echo "$((checks-fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
