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
"$SJ" gen --quiet --n 100000 --queries 3000 --queries-out "$W/q.h5" --seed $RANDOM --out "$W/c.h5"
# the corpus self-join: about 5e9 comparisons, a few seconds on one thread
args=(--quiet --threads 1 --corpus "$W/c.h5" --threshold 31)
"$SJ" join "${args[@]}" --out "$W/ref.h5"
dump "$W/ref.h5" > "$W/ref.txt"
for i in 1 2 3; do
  rm -f "$W/out.h5" "$W/.out.h5.journal"
  "$SJ" join "${args[@]}" --out "$W/out.h5" & pid=$!
  sleep "0.$(( RANDOM % 8 + 2 ))"; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
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
echo "$((checks-fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
