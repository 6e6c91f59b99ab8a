#!/usr/bin/env bash
# The resume journal (.OUT.journal) against damage and forgery (issue 13
# items 2 and 9, issue 18 item 7). A killed run's journal is damaged by
# journal_tool.py (written from the documented format) and the join resumed:
# the result must equal an uninterrupted run's, whatever was appended:
# complete records with wrong checksums, a zero-filled tail, records with a
# correct checksum but pairs the join cannot have written (a > b, an id not in
# the inputs, NaN, over the threshold), a record checked the old way, a count
# of INT64_MAX. A symbolic link at the journal's name is never followed, and
# a second join on the same output fails while the first holds the journal.
set -uo pipefail
SJ=$1 PY=$2
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0 checks=0
ok() { checks=$((checks+1)); if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=$((fail+1)); fi; }
dump() { h5dump -d /pairs/a -d /pairs/b -d /pairs/distance -d /nodes/id "$1" | tail -n +2; }
tool() { "$PY" "$HERE/journal_tool.py" "$@"; }
"$SJ" gen --quiet --n 50000 --seed 7 --out "$W/c.h5"
args=(--quiet --threads 1 --corpus "$W/c.h5" --threshold 31)
"$SJ" join "${args[@]}" --out "$W/ref.h5"
dump "$W/ref.h5" > "$W/ref.txt"
read -r n0 n1 < <(h5dump -d /nodes/id -c 2 "$W/ref.h5" | sed -n 's/.*(0): \([0-9-]*\), \([0-9-]*\).*/\1 \2/p')

# A killed run's journal with some units done: killed once the journal holds
# more than 100 kB (about a tenth of the run).
"$SJ" join "${args[@]}" --out "$W/k.h5" & pid=$!
for _ in $(seq 500); do
  [ "$(stat -c %s "$W/.k.h5.journal" 2>/dev/null || echo 0)" -gt 100000 ] && break; sleep 0.01
done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
cp "$W/.k.h5.journal" "$W/base.journal"
units=$(tool units "$W/base.journal")
next=$(( $(tr ' ' '\n' <<<"$units" | sort -n | tail -1) + 1 )) # a unit not done yet
ok "the killed run left a journal with units done ($(wc -w <<<"$units"))" "[ -n \"$units\" ] && [ ! -e \"$W/k.h5\" ]"

resume_case() { # NAME MESSAGE-REGEX APPEND-ARGS...: damage a copy, resume, compare
  local name=$1 msg=$2; shift 2
  rm -f "$W/out.h5"; cp "$W/base.journal" "$W/.out.h5.journal"
  for what in "$@"; do tool append "$W/.out.h5.journal" $what; done
  err=$("$SJ" join "${args[@]}" --out "$W/out.h5" --resume 2>&1); rc=$?
  ok "$name: resumed (exit $rc) to the uninterrupted result" "[ $rc -eq 0 ] && dump \"$W/out.h5\" | cmp -s - \"$W/ref.txt\""
  if [ -n "$msg" ]; then ok "$name: the warning says why" "grep -qE '$msg' <<<\"\$err\""
  else ok "$name: no warning" "! grep -q warning <<<\"\$err\""; fi
  ok "$name: the journal is removed" "[ ! -e \"$W/.out.h5.journal\" ]"
}
resume_case "the journal as the kill left it" ""
resume_case "bad checksums and a zero-filled tail" "wrong checksum" "badcheck $next" "badcheck $((next + 1))" "zeros 4096"
resume_case "a zero-filled tail" "wrong checksum" "zeros 65536"
resume_case "a record with the old, unkeyed check" "wrong checksum" "oldcheck $next $n1 $n0"
resume_case "a checked record with a > b" "not in order" "forged $next $n1 $n0 1"
resume_case "a checked record with an id not in the inputs" "not among the inputs" "forged $next $n0 999999999 1"
resume_case "a checked record with a NaN distance" "not finite" "forged $next $n0 $n1 nan"
resume_case "a checked record over the threshold" "over the threshold" "forged $next $n0 $n1 32"
resume_case "a checked record with distance -inf" "not finite" "forged $next $n0 $n1 -inf"
resume_case "a checked record for a unit already done" "recorded twice" "forged ${units%% *} $n0 $n1 1"
resume_case "a count of INT64_MAX" "impossible pair count" "hugecount $next"

# An empty journal (a run killed before it wrote the header): nothing done.
rm -f "$W/out.h5"; : > "$W/.out.h5.journal"
err=$("$SJ" join "${args[@]}" --out "$W/out.h5" --resume 2>&1); rc=$?
ok "an empty journal: resumed (exit $rc) from the beginning" "[ $rc -eq 0 ] && dump \"$W/out.h5\" | cmp -s - \"$W/ref.txt\""

# A symbolic link at the journal's name: refused, never followed.
echo "precious" > "$W/target"
ln -s "$W/target" "$W/.sl.h5.journal"
for opt in "" --resume; do
  err=$("$SJ" join "${args[@]}" --out "$W/sl.h5" $opt 2>&1); rc=$?
  ok "a symlink at the journal ($opt): refused, named" "[ $rc -eq 1 ] && grep -q 'symbolic link' <<<\"\$err\" && [ ! -e \"$W/sl.h5\" ]"
  ok "a symlink at the journal ($opt): its target untouched" "[ \"\$(cat \"$W/target\")\" = precious ] && [ -L \"$W/.sl.h5.journal\" ]"
done

# Two joins on one output: the second fails while the first holds the journal;
# the first still gives the uninterrupted result.
"$SJ" join "${args[@]}" --out "$W/two.h5" & pid=$!
for _ in $(seq 500); do [ -s "$W/.two.h5.journal" ] && break; sleep 0.01; done
err=$("$SJ" join "${args[@]}" --out "$W/two.h5" 2>&1); rc=$?
ok "a second join on the same output fails (exit $rc)" "[ $rc -eq 1 ] && grep -q 'another join' <<<\"\$err\""
wait $pid; rc=$?
ok "the first join completes (exit $rc) with the uninterrupted result" "[ $rc -eq 0 ] && dump \"$W/two.h5\" | cmp -s - \"$W/ref.txt\""

echo "$((checks-fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
