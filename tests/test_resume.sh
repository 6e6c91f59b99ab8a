#!/usr/bin/env bash
# Resumable backlogs: a long join killed with kill -9 (at random times, also
# during a resume) continues with --resume to the same pairs as an
# uninterrupted run: nothing lost, nothing twice. A journal from another join
# is refused.
set -uo pipefail
SJ=$1
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0 checks=0
ok() { checks=$((checks+1)); if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=$((fail+1)); fi; }
dump() { h5dump -d /pairs/a -d /pairs/b -d /pairs/distance -d /nodes/id "$1" | tail -n +2; }
# kill_midway OUT DELAY_MS JOIN_ARGS...: start a join writing OUT, wait until
# its journal holds a finished unit, then DELAY_MS more, and kill -9 it. On a
# loaded machine the run may finish first: then it is run again with half the
# delay (up to 6 times), so the kill always lands with work done and left.
kill_midway() {
  local out=$1 delay=$2 journal tries pid; shift 2
  journal="$(dirname "$out")/.$(basename "$out").journal"
  for tries in 1 2 3 4 5 6; do
    rm -f "$out" "$journal"
    "$SJ" join "$@" --out "$out" & pid=$!
    for _ in $(seq 3000); do # until a unit is in the journal (or the run ended)
      [ "$(stat -c %s "$journal" 2>/dev/null || echo 0)" -gt 100 ] && break
      kill -0 $pid 2>/dev/null || break; sleep 0.01
    done
    sleep "$((delay / 1000)).$(printf %03d $((delay % 1000)))"
    if kill -9 $pid 2>/dev/null; then wait $pid 2>/dev/null; return 0; fi
    wait $pid 2>/dev/null; delay=$((delay / 2))
  done
  echo "kill_midway: the join always finished before the kill"; return 1
}
seed=${SIMJOIN_TEST_SEED:-$RANDOM}; echo "gen seed: $seed (rerun with SIMJOIN_TEST_SEED=$seed)"
"$SJ" gen --quiet --n 100000 --queries 3000 --queries-out "$W/q.h5" --seed $seed --out "$W/c.h5"
# the corpus self-join: about 5e9 comparisons, a few seconds on one thread
args=(--quiet --threads 1 --corpus "$W/c.h5" --threshold 31)
"$SJ" join "${args[@]}" --out "$W/ref.h5"
dump "$W/ref.h5" > "$W/ref.txt"
for i in 1 2 3; do
  kill_midway "$W/out.h5" $(( RANDOM % 500 )) "${args[@]}"
  if [ $i = 3 ]; then # and once more, during the resume
    "$SJ" join "${args[@]}" --out "$W/out.h5" --resume & pid=$!
    sleep 0.3; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  fi
  ok "killed run $i left no output" "[ ! -e \"$W/out.h5\" ] || [ $i = 3 ]"
  "$SJ" join "${args[@]}" --out "$W/out.h5" --resume --stats-json "$W/s$i.json"
  ok "resumed run $i equals the uninterrupted run" "dump \"$W/out.h5\" | cmp -s - \"$W/ref.txt\""
  ok "resumed run $i removed its journal" "[ ! -e \"$W/.out.h5.journal\" ]"
done
ok "a resume skipped finished work" "grep -hq '\"resumed_units\": [1-9]' \"$W\"/s*.json"

# A journal of another join is refused; --resume without one starts afresh.
"$SJ" join "${args[@]}" --out "$W/other.h5" & pid=$!
sleep 0.3; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
if [ -e "$W/.other.h5.journal" ]; then
  err=$("$SJ" join --quiet --threads 1 --corpus "$W/c.h5" --threshold 30 --out "$W/other.h5" --resume 2>&1); rc=$?
  ok "a journal of another join is refused" "[ $rc -ne 0 ] && grep -q 'belongs to another join' <<<\"\$err\""
fi
rm -f "$W/.fresh.h5.journal"
"$SJ" join "${args[@]}" --out "$W/fresh.h5" --resume 2>/dev/null
ok "--resume without a journal runs the whole join" "dump \"$W/fresh.h5\" | cmp -s - \"$W/ref.txt\""

# Two joins in one command (queries x corpus, then queries x queries): their
# work units are numbered apart, so a resume keeps both.
qargs=(--quiet --threads 1 --corpus "$W/c.h5" --queries "$W/q.h5" --self --threshold 31)
"$SJ" join "${qargs[@]}" --out "$W/qref.h5"
"$SJ" join "${qargs[@]}" --out "$W/qout.h5" & pid=$!
sleep 0.05; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
"$SJ" join "${qargs[@]}" --out "$W/qout.h5" --resume
ok "queries x corpus + queries x queries resumed equals uninterrupted" "cmp -s <(dump \"$W/qout.h5\") <(dump \"$W/qref.h5\")"

# Several corpus chunks (--max-memory 16M: about 38,000 of the 100,000 rows
# per chunk): the work units of different chunks are numbered apart, so a
# run killed at a third or two thirds and resumed equals an uninterrupted one (and the join
# without chunks). Few pairs (a 0.6% series share) keep under the pair cap
# that --max-memory implies.
# A fixed seed: gen's series sizes are heavy-tailed (2,000 to 34,000 pairs
# over seeds 1-8), and a random one once went over the 74,822-pair cap.
"$SJ" gen --quiet --n 100000 --series-fraction 0.006 --seed 3 --out "$W/m.h5"
margs=(--quiet --threads 1 --corpus "$W/m.h5" --threshold 31)
"$SJ" join "${margs[@]}" --out "$W/mref.h5" --stats-json "$W/mref.json"
ok "the chunked test's pairs stay well under the --max-memory 16M pair cap" \
   "[ \"\$(grep -o '\"pairs\": [0-9]*' \"$W/mref.json\" | grep -o '[0-9]*\$')\" -lt 30000 ]"
t0=$(date +%s%N)
"$SJ" join "${margs[@]}" --max-memory 16M --out "$W/mchunk.h5" --stats-json "$W/mchunk.json"
run_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
ok "the chunked join equals the join without chunks" "cmp -s <(dump \"$W/mchunk.h5\") <(dump \"$W/mref.h5\")"
for i in 1 2; do
  kill_midway "$W/mout.h5" $(( run_ms * i / 3 )) "${margs[@]}" --max-memory 16M
  "$SJ" join "${margs[@]}" --max-memory 16M --out "$W/mout.h5" --resume --stats-json "$W/ms$i.json"
  ok "several chunks, killed at $i/3 of the run and resumed: equals the uninterrupted run" \
     "grep -q '\"resumed_units\": [1-9]' \"$W/ms$i.json\" && cmp -s <(dump \"$W/mout.h5\") <(dump \"$W/mref.h5\")"
done
echo "$((checks-fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
