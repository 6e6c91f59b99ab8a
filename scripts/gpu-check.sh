#!/usr/bin/env bash
# gpu-check.sh - one command for a lent H200: configure for sm_90, build, run
# the GPU tests against the CPU reference, and only when every GPU result
# agrees, time the Hamming kernels and the vector kinds; every timed run also
# checks its pairs against the naive CPU reference (bench --naive-queries,
# non-zero exit on a disagreement). Covers v1 (templated and generic widths),
# the v2 -> v1 fallback above 1024 bits, the 6,144-bit edge and two devices
# when present. f32 kinds run on the fused TF32 kernel: test_cuda compares it
# (and the cuBLAS GEMM path, --kernel v1) with the CPU, rows near 2^64
# included, before any timing; the f32 timing runs both, checked against the
# naive CPU reference. Also compiles the v3 kernels (binary and int8) on their own
# and prints their SASS counts (scripts/sass_counts.sh), GPU or not, when
# nvdisasm is found. Capped at 6 minutes in all (each step has its own timeout
# within what is left), so that it can run twice in a 15-minute lease.
#
#   device run:  bash scripts/gpu-check.sh        (results and logs under $OUT)
#   no GPU:      the device steps are skipped; the host-side GPU tests run
#                from an existing build (B=build-cuda bash scripts/gpu-check.sh)
#
# Needs nvcc, CMake and OpenMP. HDF5 headers are optional: without them the
# build has the engine, `simjoin bench` and the GPU tests (SIMJOIN_HDF5=OFF).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/simjoin-gpu-check}
mkdir -p "$OUT"
B=${B:-build-gpu}
JOBS=$(nproc)
START=$(date +%s)
TOTAL=${GPU_CHECK_SECONDS:-360}
export PATH="$PATH:/usr/local/cuda/bin"
step() { printf '\n== %s (%ds)\n' "$*" $(( $(date +%s) - START )); }
left() { echo $(( TOTAL - ($(date +%s) - START) )); }
# within SECONDS CMD...: run CMD with a timeout of SECONDS or what is left
within() {
  local s=$1; shift
  local l; l=$(left)
  (( l < s )) && s=$l
  if (( s <= 0 )); then echo "out of time (6-minute cap): skipped: $*"; return 124; fi
  timeout "$s" "$@"
}
fail() { echo "gpu-check: $*" | tee -a "$OUT/verdict.txt"; exit 1; }

# The v3 kernels compiled on their own for sm_90 and counted from their SASS
# (the offline figures of BENCHMARKS.md); needs nvcc and nvdisasm.
sass_counts() {
  local nvcc; nvcc=$(command -v nvcc || true)
  if [[ -n "$nvcc" ]] && { [[ -n "${NVDISASM:-}" ]] || command -v nvdisasm >/dev/null ||
                           [[ -x "$(dirname "$nvcc")/nvdisasm" ]]; }; then
    step "v3 SASS counts (compile check of the kernels on their own; scripts/sass_counts.sh)"
    within 90 scripts/sass_counts.sh -r 'hamming_v3|vec_tf32|vec_epilogue' 2>&1 | tee "$OUT/sass.txt" |
      grep -E "^==|ptxas|per 8 MMA|per candidate|from entry" || fail "the v3 kernels do not compile on their own"
  else
    echo "no nvdisasm: the SASS counts are skipped (NVDISASM=path to point at one)"
  fi
}

step "device"
n_gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
if (( n_gpus == 0 )); then
  echo "no GPU: the device steps (build for sm_90, test_cuda, timings) are skipped"
  if [[ -x "$B/tests/test_gpu_tiles" ]]; then
    step "host-side GPU checks from $B (the emulated mma, warps and sizes; both backends on a mocked runtime)"
    for t in test_gpu_tiles test_cuda_mock test_cuda_mock_vec; do
      [[ -x "$B/tests/$t" ]] || continue
      within 60 "$B/tests/$t" | tail -1 || fail "$t failed"
    done
  else
    echo "no build at $B: nothing to run (B=build-dir to point at one)"
  fi
  sass_counts
  step "done (no GPU)"
  exit 0
fi
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv 2>&1 | tee "$OUT/gpu.txt"
nvcc --version | tail -1

step "configure and build for sm_90"
common=(-DCMAKE_BUILD_TYPE=Release -DSIMJOIN_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DSIMJOIN_PTXAS_VERBOSE=ON)
if ! within 60 cmake -S . -B "$B" "${common[@]}" >"$OUT/configure.log" 2>&1; then
  echo "HDF5 not found here: building without it (bench and GPU tests only)"
  rm -rf "$B"
  within 60 cmake -S . -B "$B" "${common[@]}" -DSIMJOIN_HDF5=OFF >"$OUT/configure.log" 2>&1 || { tail -20 "$OUT/configure.log"; fail "configure failed"; }
fi
within 180 cmake --build "$B" -j"$JOBS" >"$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; fail "build failed"; }
grep -A2 "Function properties" "$OUT/build.log" | grep -E "spill" | sort | uniq -c | sed 's/^/  ptxas: /'
sass_counts

step "GPU tests against the CPU backend (test_vectors runs once inside test_cuda; f32 on the TF32 kernel and cuBLAS)"
within 120 ctest --test-dir "$B" -R "test_cuda|test_gpu_tiles" --output-on-failure 2>&1 | tee "$OUT/ctest.log" | tail -15
(( PIPESTATUS[0] == 0 )) || fail "a GPU result differs from the CPU: stopping before any timing"
grep -q "test_cuda .*Skipped" "$OUT/ctest.log" && fail "test_cuda skipped on a GPU machine: nothing was compared, no timing"

# bench_gpu NAME SECONDS ARGS...: a timed run whose pairs are checked against
# the naive CPU reference on 20 queries; a disagreement stops the script.
bench_gpu() {
  local name=$1 s=$2; shift 2
  within "$s" "$B/simjoin" bench --naive-queries 20 --series-fraction 0.01 \
    --stats-json "$OUT/bench-$name.json" "$@" 2>&1 | tee "$OUT/bench-$name.log" | tail -8
  (( PIPESTATUS[0] == 0 )) || fail "timed run $name: failed or pairs differ from the CPU"
}

step "widths: generic v1 (1280 bits), v2 -> v1 above 1024 bits, the 6144-bit edge"
bench_gpu bits1280 30 --kind bits:1280 --backends cuda --kernel v1,v2,v3 --corpus 200000 --queries 2000
bench_gpu bits6144 30 --kind bits:6144 --backends cuda --kernel v1,v2,v3 --corpus 50000 --queries 1000

step "CPU reference rate (10^7 corpus, 2,000 queries)"
within 45 "$B/simjoin" bench --backends cpu --corpus 10000000 --queries 2000 --series-fraction 0.01 \
  --naive-queries 0 --stats-json "$OUT/bench-cpu.json" 2>&1 | tee "$OUT/bench-cpu.log" | tail -6

step "GPU kernels v1 v2 v3 (10^7 corpus, 2x10^5 queries)"
bench_gpu gpu 100 --backends cuda --kernel v1,v2,v3 --corpus 10000000 --queries 200000

# Two devices: each alone, then both, on the same join; pairs checked against
# the CPU (bench: 20 queries against the naive loop; join: the whole
# self-join against --backend cpu). During the two-device runs nvidia-smi
# samples each device every 100 ms: its busy seconds show whether the work
# split (by pairs, per call: backend_cuda.c) keeps both equally busy.
# sample_start FILE: sampler in the background (pid in $sampler).
sample_start() {
  nvidia-smi --query-gpu=index,utilization.gpu --format=csv,noheader,nounits -lms 100 >"$1" 2>/dev/null &
  sampler=$!
  trap 'kill "$sampler" 2>/dev/null' EXIT # a failed run (fail exits) stops it too
}
# sample_stop FILE NAME: stop the sampler, print busy seconds per device.
sample_stop() {
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
  awk -F', *' -v name="$2" '$1 ~ /^[0-9]+$/ { n[$1]++; if ($2 > 0) busy[$1]++; u[$1] += $2 }
    END { for (d in n) printf "  %s: device %s busy %.1f s (utilization > 0 in %d of %d samples, mean %.0f%%)\n",
                                name, d, busy[d] / 10, busy[d], n[d], u[d] / n[d] }' "$1" | sort
}
if (( n_gpus >= 2 )); then
  step "two devices: cross join on device 0, device 1, both (pairs checked against the naive CPU)"
  for g in 0 1 0,1; do
    [[ $g == 0,1 ]] && sample_start "$OUT/util-cross.csv"
    bench_gpu "gpu-dev${g/,/+}" 40 --backends cuda --kernel v3 --gpus "$g" --corpus 5000000 --queries 200000
    [[ $g == 0,1 ]] && sample_stop "$OUT/util-cross.csv" "cross, --gpus 0,1"
  done
  python3 - "$OUT" <<'PY' | tee "$OUT/two-devices.txt"
import json, sys
r = {}
for g in ("0", "1", "0+1"):
    try: r[g] = json.load(open(f"{sys.argv[1]}/bench-gpu-dev{g}.json")).get("cuda/v3", 0)
    except Exception as e: r[g] = 0
for g, v in r.items(): print(f"  cross --gpus {g.replace('+', ','):4} {v:10.3g} pairs/s")
best = max(r["0"], r["1"])
if best: print(f"  two devices / the faster one: {r['0+1'] / best:.2f}x (ideal 2x)")
PY
  if "$B/simjoin" join --help >/dev/null 2>&1; then
    step "two devices: self-join of 10^6 (device 0, both, cpu; pairs compared in full)"
    W=$(mktemp -d) # inputs, outputs and their CSVs (large): not under $OUT
    within 30 "$B/simjoin" gen --quiet --n 1000000 --seed 7 --series-fraction 0.01 --out "$W/self.h5" ||
      fail "gen failed"
    for run in "cuda0 --backend cuda --gpus 0" "cuda01 --backend cuda --gpus 0,1" "cpu --backend cpu"; do
      set -- $run; name=$1; shift
      [[ $name == cuda01 ]] && sample_start "$OUT/util-self.csv"
      within 60 "$B/simjoin" join --quiet --corpus "$W/self.h5" --threshold 31 "$@" \
        --out "$W/self-$name.h5" --stats-json "$OUT/self-$name.json" || fail "self-join $name failed"
      [[ $name == cuda01 ]] && sample_stop "$OUT/util-self.csv" "self, --gpus 0,1"
      "$B/simjoin" export "$W/self-$name.h5" --format csv >"$W/self-$name.csv" || fail "export $name failed"
      printf '  self %-7s %s s in the join\n' "$name" \
        "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["join_seconds"])' "$OUT/self-$name.json")"
    done
    cmp -s "$W/self-cpu.csv" "$W/self-cuda01.csv" && cmp -s "$W/self-cpu.csv" "$W/self-cuda0.csv" ||
      fail "two devices: self-join pairs differ from the CPU (kept in $W)"
    echo "  self-join pairs: cuda --gpus 0, cuda --gpus 0,1 and cpu identical ($(wc -l <"$W/self-cpu.csv") lines)"
    rm -rf "$W"
  else
    echo "no join command (built without HDF5): the two-device self-join is checked by test_cuda only"
  fi
else
  echo "one device: the two-device run is skipped"
fi

# f32: the fused TF32 kernel (v3) and the cuBLAS GEMM + epilogue (v1) in one run
for v in "photodna l2sq 2000000 50000 v3" "f32:512 cosine 1000000 20000 v3,v1"; do
  set -- $v
  step "vectors: $1 $2 (cpu and cuda $5, $3 corpus x $4 queries; cpu on 2000 queries)"
  within 30 "$B/simjoin" bench --kind "$1" --metric "$2" --backends cpu --isa avx2 --corpus "$3" \
    --queries 2000 --series-fraction 0.01 --naive-queries 0 --stats-json "$OUT/bench-cpu-${1%%:*}.json" \
    2>&1 | tee "$OUT/bench-cpu-${1%%:*}.log" | tail -3
  bench_gpu "gpu-${1%%:*}" 60 --kind "$1" --metric "$2" --backends cuda --kernel "$5" --corpus "$3" --queries "$4"
done

step "table"
python3 - "$OUT/bench-cpu.json" "$OUT/bench-gpu.json" <<'PY' | tee "$OUT/table.txt"
import json, sys
try:
    cpu = json.load(open(sys.argv[1])); gpu = json.load(open(sys.argv[2]))
except Exception as e:
    print("no table:", e); sys.exit(0)
best_cpu = max(v for k, v in cpu.items() if k.startswith("cpu/"))
print(f"{'kernel':10} {'pairs/s':>10} {'of popc 4.8e11':>15} {'of int8 TC 3.9e12':>18} {'vs cpu':>8}")
for k, v in gpu.items():
    if k.startswith("cuda/"):
        print(f"{k:10} {v:10.3g} {100*v/4.8e11:14.1f}% {100*v/3.9e12:17.1f}% {v/best_cpu:7.0f}x")
print(f"{'cpu best':10} {best_cpu:10.3g}   (16 host cores)   agree with naive cpu: {gpu.get('agree')}")
for kind, dim, ceil, name in (("photodna", 144, 1979e12, "int8"), ("f32", 512, 495e12, "TF32")):
    try:
        c = json.load(open(sys.argv[1].replace("bench-cpu", f"bench-cpu-{kind}")))
        g = json.load(open(sys.argv[2].replace("bench-gpu", f"bench-gpu-{kind}")))
    except Exception as e:
        print(f"{kind}: no figures ({e})"); continue
    cv = c.get("cpu/avx2", 0)
    for path in ("cuda/v3", "cuda/v1"):
        if path not in g:
            continue
        v = g[path]
        print(f"{kind:10} {path:8} {v:10.3g} of {name} TC ceiling {100*v/(ceil/(2*dim)):5.1f}%   vs cpu {v/cv if cv else 0:6.0f}x   agree: {g.get('agree')}")
PY
step "done"
