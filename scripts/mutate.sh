#!/usr/bin/env bash
# scripts/mutate.sh - does the test suite notice a broken rule? (issue 18)
#
# Plants one-line bugs ("mutants") at the decision points, one at a time, in
# a scratch copy of the tree, rebuilds it (no CUDA, no FAISS) and runs the
# `cpu` tests that concern the mutant's rule. A mutant is killed when a test
# fails (or the build breaks: counted apart); it survives when all pass.
# Prints each result, the kill rate and the survivors; exit 1 if any
# survived or if a mutant's original text is not found exactly once (the
# list is out of step with the code: fix the list). Not part of CI: it takes
# minutes to an hour. Record the result in tests/README.md.
#
# usage: scripts/mutate.sh [-j JOBS] [-k] [NAME-REGEX]
#   -j JOBS      build and ctest parallelism (default 2)
#   -k           keep the scratch copy (printed)
#   NAME-REGEX   only the mutants whose name matches
# Environment: MUTATE_TIMEOUT (seconds per test, default 600).
#
# The list: NAME @@ FILE @@ TESTS (a ctest -R regex over the cpu tests) @@
# ORIGINAL (a text that occurs exactly once in FILE) @@ REPLACEMENT.
# Equivalent mutants (no output can change) are not listed; they are named
# at the end of this file with the reason.
set -uo pipefail
JOBS=2 KEEP=0
while getopts "j:k" o; do
  case $o in j) JOBS=$OPTARG ;; k) KEEP=1 ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
ONLY=${1:-.}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TIMEOUT=${MUTATE_TIMEOUT:-600}
PY=$(command -v python3)

MUTANTS=$(cat <<'EOF'
# --- the match rule: distance <= T is a match
match-scalar @@ host/join/hamming_cpu.c @@ test_backends @@ if (d <= T) { @@ if (d < T) {
match-bitslice @@ host/join/hamming_bitslice.inc @@ test_backends|threatexchange @@ if (d <= T) @@ if (d < T)
match-vector @@ host/join/vector.h @@ test_vectors|vectors_cli @@ return d <= v->threshold ? @@ return d < v->threshold ?
match-l1 @@ host/join/vector_cpu.c @@ test_vectors|vectors_cli @@ if (d <= T) { @@ if (d < T) {
match-naive @@ host/join/backend_naive.c @@ test_backends|test_vectors @@ if (d <= s->threshold) { @@ if (d < s->threshold) {
# --- tiling and block edges
tile-query-block @@ host/join/scheduler.c @@ test_backends|test_vectors|threatexchange @@ n = SJ_MIN(bs, q_hi - q0); @@ n = SJ_MIN(bs, q_hi - q0 - 1);
tile-corpus-chunk @@ host/join/scheduler.c @@ test_backends|test_vectors|resume @@ const int64_t c_hi = SJ_MIN(c_lo + chunk, nc); @@ const int64_t c_hi = SJ_MIN(c_lo + chunk - 1, nc);
tile-lane-edge @@ host/join/hamming_cpu.c @@ test_backends @@ if (c < c0 || c >= c1 || (self && c <= gq)) @@ if (c < c0 || c > c1 || (self && c <= gq))
resume-unit-per-chunk @@ host/join/scheduler.c @@ resume @@ const int64_t unit = cfg->unit_offset + (c_lo / chunk) * nblocks + b; @@ const int64_t unit = cfg->unit_offset + b;
# --- self-join order: only pairs a < b, never (i, i)
self-lanes @@ host/join/hamming_cpu.c @@ test_backends @@ if (c < c0 || c >= c1 || (self && c <= gq)) @@ if (c < c0 || c >= c1 || (self && c < gq))
self-scalar @@ host/join/hamming_cpu.c @@ test_backends @@ int64_t j = self ? SJ_MAX(t0, gq + 1) : t0; @@ int64_t j = self ? SJ_MAX(t0, gq) : t0;
self-naive @@ host/join/backend_naive.c @@ test_backends|test_vectors @@ if (self && j <= q0 + i) @@ if (self && j < q0 + i)
# --- union-find and clustering
uf-find @@ host/core/util.c @@ test_unit|test_rules|nightly|sweep @@ while (parent[x] != x) { @@ if (parent[x] != x) {
components-edges @@ host/analysis/cluster.c @@ test_unit|test_rules @@ if (active[k]) @@ if (active[k] && k > 0)
core-exact-k @@ host/analysis/cluster.c @@ test_rules @@ core[i] = deg >= o->core_k; @@ core[i] = deg > o->core_k;
core-nearest @@ host/analysis/cluster.c @@ test_rules @@ if (best < 0 || g.ed[e] < best_d || @@ if (best < 0 || g.ed[e] > best_d ||
core-tie-smaller-id @@ host/analysis/cluster.c @@ test_rules @@ (g.ed[e] == best_d && j < best)) @@ (g.ed[e] == best_d && j > best))
core-int32-distance @@ host/analysis/cluster.c @@ test_rules @@ double best_d = 0; @@ int32_t best_d = 0;
complete-edge-at-d @@ host/analysis/cluster.c @@ test_rules @@ if (ra == rb || g->ed[e] > o->complete_d) @@ if (ra == rb || g->ed[e] >= o->complete_d)
complete-members-at-d @@ host/analysis/cluster.c @@ test_rules @@ row_of_node[y]) <= @@ row_of_node[y]) <
complete-root @@ host/analysis/cluster.c @@ test_rules|test_unit @@ int64_t root = ra < rb ? ra : rb, other = ra < rb ? rb : ra; @@ int64_t root = ra > rb ? ra : rb, other = ra > rb ? rb : ra;
# --- degenerate hashes
band-upper @@ host/core/hashes.c @@ test_rules|test_unit @@ if (ones < o->min_ones || ones > o->max_ones) @@ if (ones < o->min_ones || ones >= o->max_ones)
band-lower @@ host/core/hashes.c @@ test_rules|test_unit @@ if (ones < o->min_ones || ones > o->max_ones) @@ if (ones <= o->min_ones || ones > o->max_ones)
band-default-max @@ host/core/hashes.c @@ test_rules|test_unit @@ o->max_ones = (int32_t)(t.bits - t.bits / 8); @@ o->max_ones = (int32_t)(t.bits - t.bits / 8 - 1);
quality-min @@ host/core/hashes.c @@ test_unit @@ if (quality >= 0 && quality < o->min_quality) @@ if (quality >= 0 && quality <= o->min_quality)
# --- sweep metrics
sweep-threshold @@ host/analysis/sweep.c @@ sweep @@ for (; e < p->m && p->ed[e] <= thr[t]; e++) { @@ for (; e < p->m && p->ed[e] < thr[t]; e++) {
sweep-recall @@ host/analysis/sweep.c @@ sweep @@ r->recall = q->a > 0 ? q->tp / q->a : 1.0; @@ r->recall = q->a > 0 ? q->tp / q->p : 1.0;
sweep-b3-recall @@ host/analysis/sweep.c @@ sweep @@ crossw += nx * (double)ny / (double)p->cls_size[l]; @@ crossw += nx * (double)ny;
sweep-singletons @@ host/analysis/sweep.c @@ sweep @@ singletons -= (size[x] == 1) + (size[y] == 1); @@ singletons -= (size[x] == 1);
sweep-pred-pairs @@ host/analysis/sweep.c @@ sweep @@ q.p += (double)size[x] * (double)size[y]; @@ q.p += (double)size[x] * (double)size[y] + 1;
# --- nightly cluster ids
nightly-smallest-id @@ host/state/nightly.c @@ rules_cli|nightly @@ if (root_id[r] < 0 || nodes[i].old_cluster < root_id[r]) @@ if (root_id[r] < 0 || nodes[i].old_cluster > root_id[r])
# --- triage order (README "Triage report")
triage-class @@ host/io/meta.c @@ test_unit|test_rules @@ return a->triage < b->triage ? -1 : 1; @@ return a->triage > b->triage ? -1 : 1;
triage-larger @@ host/io/meta.c @@ test_rules @@ return a->neg_size < b->neg_size ? -1 : 1; @@ return a->neg_size > b->neg_size ? -1 : 1;
triage-more-sources @@ host/io/meta.c @@ test_rules @@ return a->neg_sources < b->neg_sources ? -1 : 1; @@ return a->neg_sources > b->neg_sources ? -1 : 1;
triage-closer @@ host/io/meta.c @@ test_rules @@ return a->distance < b->distance ? -1 : 1; @@ return a->distance > b->distance ? -1 : 1;
triage-unknown-last @@ host/io/meta.c @@ test_rules @@ isnan(d) || d < 0 ? INFINITY : d @@ isnan(d) || d < 0 ? -INFINITY : d
triage-lower-number @@ host/io/meta.c @@ test_rules @@ return a->cluster < b->cluster ? -1 : a->cluster > b->cluster; @@ return a->cluster > b->cluster ? -1 : a->cluster < b->cluster;
# --- the resume journal
journal-checksum @@ host/io/journal.c @@ journal @@ if (check != record_check(j->chain, unit, n, pairs)) { @@ if (0) {
journal-count-bound @@ host/io/journal.c @@ journal @@ if (n < 0 || (uint64_t)n > (uint64_t)left / sizeof(sj_pair)) { @@ if (n < 0) {
journal-duplicate-unit @@ host/io/journal.c @@ journal @@ if (seen) { @@ if (0) {
journal-pair-order @@ host/io/journal.c @@ journal @@ if (!(p[i].a < p[i].b)) @@ if (0)
journal-pair-ids @@ host/io/journal.c @@ journal @@ if (sj_search_i64(rule->ids, rule->n_ids, p[i].a) < 0 || @@ if (0 &&
journal-pair-distance @@ host/io/journal.c @@ journal @@ if (!isfinite(p[i].distance) || !(p[i].distance <= rule->threshold)) @@ if (!isfinite(p[i].distance))
journal-pair-finite @@ host/io/journal.c @@ journal @@ if (!isfinite(p[i].distance) || !(p[i].distance <= rule->threshold)) @@ if (!(p[i].distance <= rule->threshold))
journal-pair-at-t @@ host/io/journal.c @@ journal @@ !(p[i].distance <= rule->threshold)) @@ !(p[i].distance < rule->threshold))
journal-nofollow @@ host/io/journal.c @@ journal @@ int fd = open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC); @@ int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
journal-empty-file @@ host/io/journal.c @@ journal @@ if (existed && fstat(fd, &fs) == 0 && fs.st_size == 0) @@ if (0)
journal-lock @@ host/io/journal.c @@ journal @@ flock(fd, LOCK_EX | LOCK_NB) != 0 @@ flock(fd, LOCK_SH | LOCK_NB) != 0
# --- GPU v3 epilogue and loaders (kernels/hamming_tile.h, run on the host by the emulated mma)
gpu-v3-within @@ kernels/hamming_tile.h @@ test_gpu_tiles|test_cuda_mock @@ return 2 * acc - pc >= q_minus_t; @@ return 2 * acc - pc > q_minus_t;
gpu-v3-vote @@ kernels/hamming_tile.h @@ test_gpu_tiles @@ any |= sj_v3_within( @@ any = sj_v3_within(
gpu-v3-word-order @@ kernels/hamming_tile.h @@ test_gpu_tiles @@ return (logical_word & 3) * 2 + (logical_word >> 2); @@ return logical_word;
gpu-v3-b-pair @@ kernels/hamming_tile.h @@ test_gpu_tiles @@ sj_ldg_u32x2(col, &b[0], &b[1]); @@ sj_ldg_u32x2(col, &b[1], &b[0]);
gpu-s8-shift @@ kernels/vector_tile.h @@ test_gpu_tiles @@ (uint32_t)(uint8_t)(x[i] ^ 0x80u) @@ (uint32_t)(uint8_t)(x[i])
gpu-s8-threshold @@ kernels/vector_tile.h @@ test_gpu_tiles @@ return (int32_t)T; /* truncation @@ return (int32_t)T - 1; /* truncation
gpu-s8-hit-q @@ host/join/backend_cuda_vec.c @@ test_cuda_mock_vec @@ .hit_q = (uint32_t)qt, @@ .hit_q = 0,
# --- GPU TF32 kernel (kernels/vector_tile.h, hamming_tile.h: run on the host by the emulated mma.m16n8k8 .tf32)
gpu-tf32-a-rows @@ kernels/hamming_tile.h @@ test_gpu_tiles @@ return (lane >> 2) + ((reg & 1) ? 8 : 0); } @@ return (lane >> 2) + ((reg & 1) ? 0 : 8); }
gpu-tf32-b-transposed @@ kernels/hamming_tile.h @@ test_gpu_tiles @@ return corpus + (size_t)col * words + sj_v3_data_word(sj_mma_b_word(lane, 0)); @@ return corpus + (size_t)sj_min_u32(c_first + (uint32_t)sj_mma_b_word(lane, 0), nc - 1) * words + sj_v3_data_word(sj_mma_b_col(lane, 0));
gpu-tf32-c-lanes @@ kernels/hamming_tile.h @@ test_gpu_tiles @@ return 2 * (lane & 3) + (reg & 1); } @@ return (lane & 3) + 4 * (reg & 1); }
gpu-tf32-margin-bit @@ kernels/vector_tile.h @@ test_gpu_tiles @@ const double e_in = 1.0 / 1024.0 + 1.0 / 4194304.0; @@ const double e_in = 1.0 / 2048.0 + 1.0 / 4194304.0;
gpu-tf32-within @@ kernels/vector_tile.h @@ test_gpu_tiles @@ return dot >= fmaf(-q.e, c.e, q.h + c.h); @@ return dot > fmaf(-q.e, c.e, q.h + c.h);
gpu-tf32-wide @@ kernels/vector_tile.h @@ test_gpu_tiles|test_cuda_mock_vec @@ #define SJ_VT_TF32_WIDE_NORM 1152921504606846976.0 /* 2^60 */ @@ #define SJ_VT_TF32_WIDE_NORM 1e30
gpu-tf32-query-terms @@ host/join/backend_cuda_vec.c @@ test_cuda_mock_vec @@ s->s8 ? (void *)s->d_qnorm2 : s->d_qterm, 1))) @@ s->s8 ? (void *)s->d_qnorm2 : s->d_qterm, 0)))
gpu-tf32-term-offset @@ host/join/backend_cuda_vec.c @@ test_cuda_mock_vec @@ s->d_qterm + qoff + qt, s->d_cterm + ct, &t, @@ s->d_qterm + qt, s->d_cterm + ct, &t,
gpu-tf32-rna @@ kernels/vector_tile.h @@ test_gpu_tiles @@ out[i] = i < dim && !wide ? sj_vt_tf32_rna(x[i]) : 0.0f; @@ out[i] = i < dim && !wide ? x[i] : 0.0f;
EOF
)

S=$(mktemp -d "${TMPDIR:-/tmp}/simjoin-mutate.XXXXXX")
[ $KEEP = 1 ] && echo "scratch copy: $S" || trap 'rm -rf "$S"' EXIT
mkdir -p "$S/src"
tar -C "$ROOT" --exclude=./.git --exclude='./build*' -cf - . | tar -C "$S/src" -xf -
build() { cmake --build "$S/build" -j"$JOBS" >"$S/build.log" 2>&1; }
echo "mutate: building the unmutated tree in $S ..."
cmake -S "$S/src" -B "$S/build" -DCMAKE_BUILD_TYPE=Release -DSIMJOIN_CUDA=OFF -DSIMJOIN_FAISS=OFF \
  >"$S/cmake.log" 2>&1 && build || { echo "mutate: the unmutated tree does not build"; cat "$S/build.log" | tail -20; exit 2; }

# apply FILE ORIGINAL REPLACEMENT: replace the one occurrence; 3 if not exactly one
apply() {
  "$PY" - "$@" <<'PYEOF'
import sys
path, old, new = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path).read()
if text.count(old) != 1:
    sys.exit(3)
open(path, "w").write(text.replace(old, new))
PYEOF
}
trim() { local s=$1; s=${s#"${s%%[![:space:]]*}"}; printf '%s' "${s%"${s##*[![:space:]]}"}"; }

field() { trim "$(awk -F' @@ ' -v k="$1" '{print $k}' <<<"$2")"; }
selected=()
while IFS= read -r line; do
  [[ -z "$line" || "$line" == \#* ]] && continue
  [[ "$(field 1 "$line")" =~ $ONLY ]] && selected+=("$line")
done <<<"$MUTANTS"
# The unmutated tree must pass every test the selected mutants use.
all_tests=$(for line in "${selected[@]}"; do field 3 "$line"; echo; done | tr '|' '\n' | sort -u | paste -sd'|')
echo "mutate: ${#selected[@]} mutants; checking the unmutated tree passes: $all_tests"
if ! ctest --test-dir "$S/build" -L cpu -R "$all_tests" -j"$JOBS" --timeout "$TIMEOUT" >"$S/base.log" 2>&1; then
  echo "mutate: the unmutated tree fails:"; grep -E 'Failed|\*\*\*' "$S/base.log"; exit 2
fi

killed=0 survived=0 stillborn=0 stale=0 total=0
survivors=() stales=()
for line in "${selected[@]}"; do
  name=$(field 1 "$line") file=$(field 2 "$line") tests=$(field 3 "$line")
  orig=$(field 4 "$line") repl=$(field 5 "$line")
  total=$((total + 1))
  cp "$S/src/$file" "$S/orig"
  apply "$S/src/$file" "$orig" "$repl"; rc=$?
  if [ $rc -ne 0 ]; then
    stale=$((stale + 1)); stales+=("$name ($file: original text not found exactly once)")
    printf '%-26s STALE (the original text is not found exactly once in %s)\n' "$name" "$file"
    continue
  fi
  t0=$(date +%s)
  if ! build; then
    result="stillborn (does not build)"; stillborn=$((stillborn + 1))
  elif ctest --test-dir "$S/build" -L cpu -R "$tests" -j"$JOBS" --timeout "$TIMEOUT" >"$S/test.log" 2>&1; then
    result="SURVIVED"; survived=$((survived + 1)); survivors+=("$name ($file: '$orig' -> '$repl')")
  else
    result="killed by $(grep -oE '[0-9]+ - [A-Za-z0-9_]+' "$S/test.log" | sed 's/.* - //' | tr '\n' ' ')"
    killed=$((killed + 1))
  fi
  cp "$S/orig" "$S/src/$file"
  touch "$S/src/$file"
  printf '%-26s %s (%ds)\n' "$name" "$result" $(( $(date +%s) - t0 ))
done
build >/dev/null 2>&1 # leave the scratch build unmutated

live=$((killed + survived))
echo
echo "mutate: $(date -u +%Y-%m-%d) $total mutants: $killed killed, $survived survived, $stillborn stillborn, $stale stale"
[ $live -gt 0 ] && echo "mutate: kill rate $killed/$live = $(( 100 * killed / live ))% of the live mutants"
for s in "${survivors[@]}"; do echo "survived: $s"; done
for s in "${stales[@]}"; do echo "stale: $s"; done
[ $survived -eq 0 ] && [ $stale -eq 0 ]

# Equivalent mutants, removed from the list (no output can change):
# - sj_uf_find's path halving (host/core/util.c), `parent[x] = parent[parent[x]];`
#   -> `parent[x] = parent[x];`: later finds get slower, no root changes.
