#!/usr/bin/env bash
# sass_counts.sh - offline SASS instruction counts of the GPU kernels, by
# opcode class, per kernel; no GPU needed (issue 17: "record SASS instruction
# counts per pair before and after").
#
# usage: scripts/sass_counts.sh [-a ARCH] [-r KERNEL-REGEX] [FILE.cu ...]
#   FILE.cu        kernels to compile (default kernels/hamming_join.cu
#                  kernels/vector_join.cu), each with
#                  nvcc -arch=sm_ARCH -O3 -cubin -Xptxas -v
#   -a ARCH        default 90 (H100/H200)
#   -r REGEX       only kernels whose mangled name matches (default: all)
# Needs nvcc (PATH or /usr/local/cuda/bin) and nvdisasm (PATH, next to nvcc,
# or $NVDISASM, e.g. from the PyPI wheel nvidia-cuda-nvdisasm in a venv:
# see BENCHMARKS.md).
#
# For each kernel it prints: ptxas registers/spills/shared memory; static
# counts of the whole function by class; for the loop that holds the MMAs
# (a backward branch whose body has MMA instructions), its body's counts and
# the body per 8 MMAs (one 256-bit k-step of v3's 32 x 32 warp tile); and the
# no-hit path: the instructions a warp runs when no lane has a hit, walked
# from the entry and from the last MMA (the epilogue), taking every forward
# conditional branch and EXIT (in this code those skip work: the keep test's
# tail, the append) and no backward one, to the first EXIT. The walk
# is static: it counts a loop's body once. Check it against the listing
# (kept under $SASS_DIR, default /tmp/simjoin-sass) when a kernel changes.
set -euo pipefail
cd "$(dirname "$0")/.."
ARCH=90 REGEX=.
while getopts "a:r:" o; do
  case $o in a) ARCH=$OPTARG ;; r) REGEX=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
files=("$@")
(( ${#files[@]} )) || files=(kernels/hamming_join.cu kernels/vector_join.cu)
NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
ND=${NVDISASM:-$(command -v nvdisasm || echo "$(dirname "$NVCC")/nvdisasm")}
[[ -x "$NVCC" ]] || { echo "sass_counts: no nvcc" >&2; exit 2; }
[[ -n "$ND" && -x "$ND" ]] || { echo "sass_counts: no nvdisasm (set NVDISASM)" >&2; exit 2; }
DIR=${SASS_DIR:-/tmp/simjoin-sass}
mkdir -p "$DIR"
echo "nvcc: $("$NVCC" --version | tail -1); nvdisasm: $("$ND" --version | tail -1); sm_$ARCH"
for f in "${files[@]}"; do
  base=$(basename "$f" .cu)
  "$NVCC" -arch="sm_$ARCH" -O3 -cubin -Ikernels -Xptxas -v -o "$DIR/$base.cubin" "$f" 2>"$DIR/$base.ptxas"
  "$ND" -c "$DIR/$base.cubin" >"$DIR/$base.sass"
  python3 - "$DIR/$base.sass" "$DIR/$base.ptxas" "$REGEX" <<'PY'
import re, sys
sass_path, ptxas_path, regex = sys.argv[1:4]
CLASSES = [
    ("mma", r"^(BMMA|HMMA|IMMA|DMMA|HGMMA|IGMMA|BGMMA)"),
    ("ld.global", r"^(LDG|LD)$|^LDG"),
    ("ld.shared", r"^(LDS|LDSM|LDGSTS|LDGDEPBAR)"),
    ("ld.const", r"^(LDC|ULDC)"),
    ("store", r"^(STG|STS|ST)$|^ST[GS]"),
    ("atomic", r"^(ATOM|ATOMG|ATOMS|RED)"),
    ("vote/shfl", r"^(VOTE|VOTEU|SHFL|MATCH|WARPSYNC|REDUX)"),
    ("popc/bit", r"^(POPC|FLO|BREV|UPOPC|UFLO|UBREV)"),
    ("compare/select", r"^(ISETP|UISETP|FSETP|PLOP3|UPLOP3|SEL|USEL|FSEL|VIMNMX|IMNMX|P2R|R2P)"),
    ("branch/sync", r"^(BRA|BRX|BSSY|BSYNC|EXIT|RET|CALL|BAR|BPT|NANOSLEEP|YIELD|WARPSYNC)"),
    ("nop", r"^NOP"),
    ("int alu", r"^(U?IMAD|U?IADD3|U?LOP3|U?SHF|U?LEA|U?MOV|U?PRMT|VIADD|CS2R|S2R|S2UR|U?IABS|R2UR|UMOV|IDP|I2F|F2I|F2F|I2I|FRND)"),
]
def klass(op):
    for name, pat in CLASSES:
        if re.search(pat, op):
            return name
    return "other"

funcs, cur = {}, None
for line in open(sass_path):
    m = re.match(r"^\.text\.(\S+):", line)
    if m:
        cur = m.group(1); funcs[cur] = []; continue
    if cur is None:
        continue
    m = re.match(r"^(\.L_x_\d+):", line)
    if m:
        funcs[cur].append(("label", m.group(1))); continue
    m = re.match(r"\s*/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;", line)
    if m:
        text = m.group(2)
        pred = None
        pm = re.match(r"^(@!?U?P\w+)\s+(.*)$", text)
        if pm:
            pred, text = pm.group(1), pm.group(2)
        op = text.split()[0]
        tgt = re.search(r"`\((\.L_x_\d+)\)", text)
        funcs[cur].append(("ins", (int(m.group(1), 16), pred, op, tgt.group(1) if tgt else None)))

ptxas = open(ptxas_path).read()
def ptxas_info(name):
    m = re.search(r"Function properties for " + re.escape(name) + r"\n\s*(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads\n(?:.*\n)*?ptxas info\s*: Used (\d+) registers(.*)", ptxas)
    if not m:
        return "ptxas: (no report)"
    return f"ptxas: {m.group(4)} registers, stack {m.group(1)} B, spills {m.group(2)}/{m.group(3)} B{m.group(5).rstrip()}"

def counts(ins):
    c = {}
    for _, _, op, _ in ins:
        k = klass(op); c[k] = c.get(k, 0) + 1
    return c

def fmt(c, scale=1.0):
    total = sum(c.values())
    parts = [f"{k} {v/scale:g}" for k, v in sorted(c.items(), key=lambda kv: -kv[1])]
    return f"{total/scale:g} = " + ", ".join(parts)

def walk(items, start, labels):
    """No-hit path: forward conditional branches taken, backward ones not."""
    path, i, seen = [], start, set()
    while i < len(items):
        kind, val = items[i]
        if kind == "label":
            i += 1; continue
        if i in seen:
            break
        seen.add(i)
        addr, pred, op, tgt = val
        if op == "NOP":
            i += 1; continue
        path.append(val)
        if op == "EXIT":
            break  # a predicated EXIT is taken too: nothing left to do
        if op == "BRA" and tgt:
            j = labels[tgt]
            backward = j <= i
            if pred is None:
                if backward:
                    break
                i = j; continue
            if not backward:
                i = j; continue
        i += 1
    return path

for name, items in funcs.items():
    if not re.search(regex, name):
        continue
    short = re.sub(r"^_ZN\w*?_GLOBAL__N_\w+?_cu_\w{8}\d+", "", name)
    ins = [v for k, v in items if k == "ins" and v[2] != "NOP"]
    labels = {v: idx for idx, (k, v) in enumerate(items) if k == "label"}
    print(f"\n== {short}  ({name})")
    print("  " + ptxas_info(name))
    print(f"  static, whole kernel: {fmt(counts(ins))}")
    mma_idx = [idx for idx, (k, v) in enumerate(items) if k == "ins" and klass(v[2]) == "mma"]
    # the loop with the most MMAs: a backward branch over MMAs
    best = None
    for idx, (k, v) in enumerate(items):
        if k != "ins" or v[2] != "BRA" or not v[3]:
            continue
        j = labels[v[3]]
        if j < idx:
            body = [w for kk, w in items[j:idx + 1] if kk == "ins" and w[2] != "NOP"]
            n = sum(klass(w[2]) == "mma" for w in body)
            if n and (best is None or n > best[0]):
                best = (n, body)
    if best:
        n, body = best
        print(f"  main loop body ({n} MMA): {fmt(counts(body))}")
        print(f"  main loop per 8 MMA (one k-step of a 32x32 warp tile): {fmt(counts(body), n / 8)}")
    if mma_idx:
        epi = walk(items, mma_idx[-1] + 1, labels)
        print(f"  epilogue, no-hit path (after the last MMA): {fmt(counts(epi))}")
        print(f"  epilogue, no-hit path per candidate (/32: a lane's 2x4x4 accumulators): {fmt(counts(epi), 32)}")
    whole = walk(items, 0, labels)
    print(f"  no-hit path from entry (a loop counted once): {fmt(counts(whole))}")
PY
done
