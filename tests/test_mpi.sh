#!/usr/bin/env bash
# Split joins: `mpirun -np 2|3 simjoin join` and `join --part i/N` + `merge`
# must write the same datasets as one process; a failing rank fails the job
# with its message and publishes nothing. Skipped (77) without MPI.
set -uo pipefail
SJ=$1 DATA=$2
if ! "$SJ" --version | grep -q ' mpi' || ! command -v mpirun >/dev/null; then
  echo "skipped: simjoin built without MPI or no mpirun"; exit 77
fi
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1
MPIRUN=(mpirun --oversubscribe --allow-run-as-root)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0 checks=0
dump() { h5dump -d /pairs/a -d /pairs/b -d /pairs/distance -d /nodes/id -d /excluded/id -d /excluded/rule "$1" | tail -n +2; }
same() { # same NAME A B
  checks=$((checks+1))
  if [ -f "$2" ] && [ -f "$3" ] && cmp -s <(dump "$2") <(dump "$3"); then echo "ok: $1"
  else echo "FAIL: $1"; fail=$((fail+1)); fi
}
ok() { checks=$((checks+1)); if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=$((fail+1)); fi; }

"$SJ" ingest --quiet --kind pdq --in "$DATA/haystack.txt" --out "$W/hay.h5"
seed=${SIMJOIN_TEST_SEED:-$RANDOM}; echo "gen seed: $seed (rerun with SIMJOIN_TEST_SEED=$seed)"
"$SJ" gen --quiet --n 6000 --queries 700 --queries-out "$W/q.h5" --seed $seed --out "$W/c.h5"
"$SJ" join --quiet --corpus "$W/hay.h5" --threshold 31 --out "$W/hay-1.h5"
"$SJ" join --quiet --corpus "$W/c.h5" --queries "$W/q.h5" --self --threshold 40 --out "$W/cq-1.h5"
"$SJ" join --quiet --corpus "$W/c.h5" --threshold 36 --out "$W/c-1.h5"
for np in 2 3; do
  "${MPIRUN[@]}" -np $np "$SJ" join --quiet --threads 1 --corpus "$W/hay.h5" --threshold 31 --out "$W/hay-$np.h5"
  same "haystack self-join, $np ranks" "$W/hay-1.h5" "$W/hay-$np.h5"
  "${MPIRUN[@]}" -np $np "$SJ" join --quiet --threads 1 --corpus "$W/c.h5" --queries "$W/q.h5" --self --threshold 40 --out "$W/cq-$np.h5"
  same "queries x corpus + queries x queries, $np ranks" "$W/cq-1.h5" "$W/cq-$np.h5"
  "${MPIRUN[@]}" -np $np "$SJ" join --quiet --threads 1 --corpus "$W/c.h5" --threshold 36 --out "$W/c-$np.h5"
  same "random self-join, $np ranks" "$W/c-1.h5" "$W/c-$np.h5"
done
ok "the haystack still gives 857 pairs" "[ \$(h5dump -A -a /n_pairs \"$W/hay-3.h5\" | grep -o '(0): [0-9]*' | grep -o '[0-9]*$') = 857 ]"

# --part + merge, parts given in any order.
for i in 0 1 2 3; do
  "$SJ" join --quiet --corpus "$W/c.h5" --queries "$W/q.h5" --self --threshold 40 --part $i/4 --out "$W/part$i.h5"
done
"$SJ" merge --quiet "$W/part2.h5" "$W/part0.h5" "$W/part3.h5" "$W/part1.h5" --out "$W/merged.h5"
same "--part i/4 then merge" "$W/cq-1.h5" "$W/merged.h5"
ok "merge refuses a missing part" "! \"$SJ\" merge --quiet \"$W/part0.h5\" \"$W/part1.h5\" \"$W/part3.h5\" --out \"$W/m2.h5\" 2>/dev/null && [ ! -e \"$W/m2.h5\" ]"
ok "merge refuses a repeated part" "! \"$SJ\" merge --quiet \"$W/part0.h5\" \"$W/part0.h5\" \"$W/part1.h5\" \"$W/part2.h5\" \"$W/part3.h5\" --out \"$W/m3.h5\" 2>/dev/null && [ ! -e \"$W/m3.h5\" ]"
"$SJ" join --quiet --corpus "$W/hay.h5" --threshold 31 --part 0/2 --out "$W/foreign.h5"
ok "merge refuses a part of another join" "! \"$SJ\" merge --quiet \"$W/foreign.h5\" \"$W/part1.h5\" --out \"$W/m4.h5\" 2>/dev/null && [ ! -e \"$W/m4.h5\" ]"

# One failing rank fails the job: its message, a non-zero exit, no output.
err=$(SIMJOIN_TEST_FAIL_RANK=1 "${MPIRUN[@]}" -x SIMJOIN_TEST_FAIL_RANK -np 3 "$SJ" join --quiet --threads 1 --corpus "$W/c.h5" --threshold 36 --out "$W/failed.h5" 2>&1); rc=$?
ok "a failing rank fails the job (exit $rc)" "[ $rc -ne 0 ]"
ok "the error names the rank" "grep -q 'rank 1 of 3 failed: injected failure' <<<\"\$err\""
ok "nothing is published" "[ ! -e \"$W/failed.h5\" ] && [ -z \"\$(ls -A \"$W\" | grep '^\\.failed')\" ]"

echo "$((checks-fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
