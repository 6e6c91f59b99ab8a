#!/usr/bin/env bash
# gpu-check.sh - one command for a lent H200: configure for sm_90, build, run
# the GPU tests against the CPU reference (Hamming kernels and the vector
# path), time every Hamming kernel and the vector kinds (photodna 144-d,
# f32:512 cosine) on joins big enough to fill the chip, and print a short
# table. Budget: under 6 minutes, so that it can run twice in a 15-minute
# lease.
#
#   device run:  bash scripts/gpu-check.sh        (results and logs under $OUT)
#
# Needs nvcc, CMake and OpenMP. HDF5 headers are optional: without them the
# build has the engine, `simjoin bench` and the GPU tests (SIMJOIN_HDF5=OFF).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/simjoin-gpu-check}
mkdir -p "$OUT"
B=build-gpu
JOBS=$(nproc)
START=$(date +%s)
step() { printf '\n== %s (%ds)\n' "$*" $(( $(date +%s) - START )); }
export PATH="$PATH:/usr/local/cuda/bin"

step "device"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv 2>&1 | tee "$OUT/gpu.txt"
nvcc --version | tail -1

step "configure and build for sm_90"
common=(-DCMAKE_BUILD_TYPE=Release -DSIMJOIN_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DSIMJOIN_PTXAS_VERBOSE=ON)
if ! cmake -S . -B "$B" "${common[@]}" >"$OUT/configure.log" 2>&1; then
  echo "HDF5 not found here: building without it (bench and GPU tests only)"
  rm -rf "$B"
  cmake -S . -B "$B" "${common[@]}" -DSIMJOIN_HDF5=OFF >"$OUT/configure.log" 2>&1 || { tail -20 "$OUT/configure.log"; exit 1; }
fi
if ! cmake --build "$B" -j"$JOBS" >"$OUT/build.log" 2>&1; then tail -30 "$OUT/build.log"; exit 1; fi
grep -A2 "Function properties" "$OUT/build.log" | grep -E "spill" | sort | uniq -c | sed 's/^/  ptxas: /'

step "GPU tests against the CPU backend"
timeout 120 ctest --test-dir "$B" -R "test_cuda|test_gpu_tiles" --output-on-failure 2>&1 | tee "$OUT/ctest.log" | tail -15
tests_rc=${PIPESTATUS[0]}

step "CPU reference rate (10^7 corpus, 2,000 queries)"
timeout 60 "$B/simjoin" bench --backends cpu --corpus 10000000 --queries 2000 --series-fraction 0.01 \
  --naive-queries 0 --stats-json "$OUT/bench-cpu.json" 2>&1 | tee "$OUT/bench-cpu.log" | tail -6

step "GPU kernels v1 v2 v3 (10^7 corpus, 2x10^5 queries)"
timeout 150 "$B/simjoin" bench --backends cuda --kernel v1,v2,v3 --corpus 10000000 --queries 200000 \
  --series-fraction 0.01 --naive-queries 0 --stats-json "$OUT/bench-gpu.json" 2>&1 \
  | tee "$OUT/bench-gpu.log" | tail -12

for v in "photodna l2sq 2000000 50000" "f32:512 cosine 1000000 20000"; do
  set -- $v
  step "vectors: $1 $2 (cpu and cuda, $3 corpus x $4 queries; cpu on 2000 queries)"
  timeout 45 "$B/simjoin" bench --kind "$1" --metric "$2" --backends cpu --isa avx2 --corpus "$3" \
    --queries 2000 --series-fraction 0.01 --naive-queries 0 --stats-json "$OUT/bench-cpu-${1%%:*}.json" \
    2>&1 | tee "$OUT/bench-cpu-${1%%:*}.log" | tail -3
  timeout 60 "$B/simjoin" bench --kind "$1" --metric "$2" --backends cuda --corpus "$3" --queries "$4" \
    --series-fraction 0.01 --naive-queries 0 --stats-json "$OUT/bench-gpu-${1%%:*}.json" 2>&1 \
    | tee "$OUT/bench-gpu-${1%%:*}.log" | tail -6
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
print(f"{'cpu best':10} {best_cpu:10.3g}   (16 host cores)   agree: {gpu.get('agree')}")
for kind, dim, ceil, name in (("photodna", 144, 989e12, "fp16"), ("f32", 512, 495e12, "TF32")):
    try:
        c = json.load(open(sys.argv[1].replace("bench-cpu", f"bench-cpu-{kind}")))
        g = json.load(open(sys.argv[2].replace("bench-gpu", f"bench-gpu-{kind}")))
    except Exception as e:
        print(f"{kind}: no figures ({e})"); continue
    v, cv = g.get("cuda", 0), c.get("cpu/avx2", 0)
    print(f"{kind:10} {v:10.3g} of {name} TC ceiling {100*v/(ceil/(2*dim)):5.1f}%   vs cpu {v/cv if cv else 0:6.0f}x   agree: {g.get('agree')}")
PY
step "done"
exit "$tests_rc"
