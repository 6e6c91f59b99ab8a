// hamming_join.cu - GPU Hamming join kernels v1, v2, v3 (see hamming_join.h).
//
// Compile line (CMake does this): nvcc -arch=sm_90 -O3 -Xptxas -v -c hamming_join.cu
//
// Shapes: queries [nq][words] and corpus [nc][words] uint32, row-major, zero
// padded; hits [capacity] of sj_gpu_hit. Grid: x over corpus tiles, y over
// query tiles. Every thread of a warp runs the same number of compare steps
// so that the ballot-based append sees the whole warp.
#include "hamming_join.h"
#include "gpu_append.cuh"
#include "v3_mainloop.cuh"

#include <cuda_runtime.h>

namespace {

constexpr int kThreads = 256;    // v1/v2 block
constexpr int kQueryTile = 64;   // v1/v2 queries staged in shared memory per block
constexpr int kV2Rows = 2;       // v2 corpus rows per thread

// Warp-aggregated append of one candidate per lane (gpu_append.cuh).
__device__ __forceinline__ void warp_append(bool keep, uint32_t q, uint32_t c, int d,
                                            const sj_gpu_tile &t)
{
    sj_warp_append(keep, sj_gpu_hit{t.hit_q + q, t.hit_c + c, d}, t.hits, t.count, t.capacity);
}

// Stage queries [q_first, q_first + kQueryTile) into shared memory [kQueryTile][words].
__device__ __forceinline__ void stage_queries(uint32_t *sq, const sj_gpu_tile &t, uint32_t q_first,
                                              int words)
{
    const uint32_t n = min((uint32_t)kQueryTile, t.nq - q_first);
    for (uint32_t i = threadIdx.x; i < (uint32_t)kQueryTile * words; i += blockDim.x) {
        const uint32_t r = i / words;
        sq[i] = r < n ? t.queries[(size_t)(q_first + r) * words + i % words] : 0u;
    }
}

// ---- v1: tiled popc ---------------------------------------------------------
// W: row words known at compile time (0: read t.words and keep the corpus row
// in global memory; for unusual widths).
template <int W>
__global__ void __launch_bounds__(kThreads) hamming_v1(sj_gpu_tile t)
{
    extern __shared__ uint32_t sq[];
    const int words = W ? W : t.words;
    const uint32_t c = blockIdx.x * kThreads + threadIdx.x;
    const uint32_t q_first = blockIdx.y * kQueryTile;
    const uint32_t c_safe = min(c, t.nc - 1); // rows past nc compare, never report
    uint32_t reg[W ? W : 1];
    const uint32_t *crow = t.corpus + (size_t)c_safe * words;
    if (W) {
#pragma unroll
        for (int w = 0; w < W; w++)
            reg[w] = __ldg(crow + w);
    }
    stage_queries(sq, t, q_first, words);
    __syncthreads();
    const uint32_t n = min((uint32_t)kQueryTile, t.nq - q_first);
    for (uint32_t i = 0; i < n; i++) {
        const uint32_t *qrow = sq + i * words;
        int d = 0;
        if (W) {
#pragma unroll
            for (int w = 0; w < W; w++)
                d += __popc(qrow[w] ^ reg[w]);
        } else {
            d = sj_tile_distance(qrow, crow, words);
        }
        const uint32_t q = q_first + i;
        warp_append(sj_tile_keep(t.q0, q, t.nq, t.c0, c, t.nc, t.self, d, t.threshold), q, c, d, t);
    }
}

// ---- v2: register-blocked, carry-save popcount --------------------------------
template <int W>
__device__ __forceinline__ int v2_distance(const uint32_t *q, const uint32_t *c)
{
    if (W % 8 == 0) {
        int d = 0;
#pragma unroll
        for (int w = 0; w < W; w += 8)
            d += sj_tile_distance8_csa(q + w, c + w);
        return d;
    }
    int d = 0;
#pragma unroll
    for (int w = 0; w < W; w++)
        d += __popc(q[w] ^ c[w]);
    return d;
}

template <int W>
__global__ void __launch_bounds__(kThreads) hamming_v2(sj_gpu_tile t)
{
    extern __shared__ uint32_t sq[];
    // Thread handles rows c_base + r * kThreads, r < kV2Rows: coalesced loads.
    const uint32_t c_base = blockIdx.x * kThreads * kV2Rows + threadIdx.x;
    const uint32_t q_first = blockIdx.y * kQueryTile;
    uint32_t reg[kV2Rows][W];
#pragma unroll
    for (int r = 0; r < kV2Rows; r++) {
        const uint32_t c_safe = min(c_base + r * kThreads, t.nc - 1);
#pragma unroll
        for (int w = 0; w < W; w++)
            reg[r][w] = __ldg(t.corpus + (size_t)c_safe * W + w);
    }
    stage_queries(sq, t, q_first, W);
    __syncthreads();
    const uint32_t n = min((uint32_t)kQueryTile, t.nq - q_first);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t qv[W];
#pragma unroll
        for (int w = 0; w < W; w++)
            qv[w] = sq[i * W + w]; // one shared-memory read serves kV2Rows pairs
        const uint32_t q = q_first + i;
#pragma unroll
        for (int r = 0; r < kV2Rows; r++) {
            const uint32_t c = c_base + r * kThreads;
            const int d = v2_distance<W>(qv, reg[r]);
            warp_append(sj_tile_keep(t.q0, q, t.nq, t.c0, c, t.nc, t.self, d, t.threshold), q, c,
                        d, t);
        }
    }
}

// ---- v3: binary tensor cores ---------------------------------------------------
// Block: 4 warps in 2 x 2; warp tile 32 queries (2 m-tiles of 16) x 32 corpus
// rows (4 n-tiles of 8); block tile 64 x 64. k runs over 256-bit chunks. The
// tiling, loaders and epilogue are hamming_tile.h's (sj_v3_*), which
// tests/test_gpu_tiles.c runs through an emulated mma from the PTX ISA.
constexpr int kV3Warps = SJ_V3_WARPS;
constexpr int kV3M = SJ_V3_M;
constexpr int kV3N = SJ_V3_N;
constexpr int kV3BlockQ = SJ_V3_BLOCK_Q;
constexpr int kV3BlockC = SJ_V3_BLOCK_C;

// The instructions and the k loop: v3_mainloop.cuh (shared with the TF32
// vector kernel). mma.m16n8k32 .s8: C[16][8] += A[16][32 int8] B[32 int8][8].
// In 32-bit words its fragments are m16n8k256 .b1's (a lane's A words tig
// and tig + 4 of rows group and group + 8; B words tig and tig + 4 of
// column group; the same C), so the v3 loaders and epilogue serve both
// (test_gpu_tiles emulates each from its own PTX table).
enum { kOpAndPopc = SJ_V3_OP_AND_POPC, kOpS8Dot = SJ_V3_OP_S8 };

// W: row words known at compile time (8: PDQ's 256 bits, one k-step and no
// loop); 0: read t.words (a multiple of 8).
// OP kOpAndPopc: Hamming, acc = |q and c|, the popc arrays hold |q|, |c|.
// OP kOpS8Dot: l2sq of uint8 rows shifted to int8 (x - 128: differences and
// so l2sq do not change), acc = <q, c>, the "popc" arrays hold |q|^2, |c|^2
// of the shifted rows, so d = |q|^2 + |c|^2 - 2 acc, the same formula and the
// same first test; exact in int32 (sj_vt_s8_max_dim).
// Launch bounds: at least 8 blocks an SM for v3<8> (at most 64 registers;
// with no minimum, ptxas gave it 56 registers and a 24-byte spill around the
// append's atomics); no minimum (0) for the wider kernels (78 registers, no
// spill; a minimum of 1 or 4 gave them 134 or 124 and a longer loop).
template <int W, int OP = kOpAndPopc>
__global__ void __launch_bounds__(kV3Warps * 32, W == 8 ? 8 : 0) hamming_v3(sj_gpu_tile t)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const uint32_t q_warp = sj_v3_warp_q(blockIdx.y, warp);
    const uint32_t c_warp = sj_v3_warp_c(blockIdx.x, warp);
    const int words = W ? W : t.words;
    const uint32_t *__restrict__ queries = t.queries;
    const uint32_t *__restrict__ corpus = t.corpus;
    // The lane's 12 popcounts, loaded once, before the loop hides their latency.
    sj_v3_lane_popc popc;
    sj_v3_load_popc(&popc, t.query_popc, q_warp, t.nq, t.corpus_popc, c_warp, t.nc, t.threshold,
                    lane);
    int acc[kV3M][kV3N][4];
    sj_v3_mainloop<W, OP>(acc, queries, t.nq, corpus, t.nc, words, q_warp, c_warp, lane);
    // Epilogue: one vote for the warp's 1,024 candidates (mma.sync.aligned
    // ran on the whole warp, so all 32 lanes are here); only a warp with a
    // candidate within T runs the exact rule and the append.
    if (!__any_sync(0xffffffffu, sj_v3_lane_any(acc, &popc)))
        return;
#pragma unroll
    for (int m = 0; m < kV3M; m++)
#pragma unroll
        for (int n = 0; n < kV3N; n++)
#pragma unroll
            for (int r = 0; r < 4; r++) {
                uint32_t q, c;
                int d;
                sj_v3_pair(q_warp, c_warp, lane, m, n, r, acc[m][n][r], &popc, t.threshold, &q,
                           &c, &d);
                warp_append(sj_tile_keep(t.q0, q, t.nq, t.c0, c, t.nc, t.self, d, t.threshold), q,
                            c, d, t);
            }
}

__global__ void row_popc(const uint32_t *rows, uint32_t n, int words, int32_t *out)
{
    const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    out[i] = sj_row_popc(rows + (size_t)i * words, words);
}

// Launch v1 or v2 with the row width as a template argument.
template <int W>
cudaError_t launch_popc(sj_gpu_kernel k, const sj_gpu_tile &t, cudaStream_t s)
{
    const size_t smem = (size_t)kQueryTile * (W ? W : t.words) * sizeof(uint32_t);
    const int per_block = k == SJ_GPU_V2 ? kThreads * kV2Rows : kThreads;
    const dim3 grid(sj_div_up_u32(t.nc, per_block), sj_div_up_u32(t.nq, kQueryTile));
    if (k == SJ_GPU_V2 && W)
        hamming_v2<W ? W : 8><<<grid, kThreads, smem, s>>>(t);
    else
        hamming_v1<W><<<grid, kThreads, smem, s>>>(t);
    return cudaGetLastError();
}

} // namespace

extern "C" int sj_gpu_row_words(sj_gpu_kernel k, uint32_t bits)
{
    const int words = (int)((bits + 31) / 32);
    if (k == SJ_GPU_V3)
        return SJ_GPU_ROW_WORDS(bits);
    for (int w = 2; w <= 32; w *= 2)
        if (words <= w)
            return w;
    return (words + 7) / 8 * 8;
}

extern "C" int sj_gpu_launch(sj_gpu_kernel k, const sj_gpu_tile *t, void *stream)
{
    cudaStream_t s = (cudaStream_t)stream;
    if (t->nq == 0 || t->nc == 0)
        return cudaSuccess;
    if (k == SJ_GPU_V3) {
        const dim3 grid(sj_div_up_u32(t->nc, kV3BlockC), sj_div_up_u32(t->nq, kV3BlockQ));
        if (t->words == 8)
            hamming_v3<8><<<grid, kV3Warps * 32, 0, s>>>(*t);
        else
            hamming_v3<0><<<grid, kV3Warps * 32, 0, s>>>(*t);
        return cudaGetLastError();
    }
    switch (t->words) {
    case 2: return launch_popc<2>(k, *t, s);
    case 4: return launch_popc<4>(k, *t, s);
    case 8: return launch_popc<8>(k, *t, s);
    case 16: return launch_popc<16>(k, *t, s);
    case 32: return launch_popc<32>(k, *t, s);
    default: return launch_popc<0>(k, *t, s);
    }
}

extern "C" int sj_gpu_launch_l2sq_s8(const sj_gpu_tile *t, void *stream)
{
    cudaStream_t s = (cudaStream_t)stream;
    if (t->nq == 0 || t->nc == 0)
        return cudaSuccess;
    const dim3 grid(sj_div_up_u32(t->nc, kV3BlockC), sj_div_up_u32(t->nq, kV3BlockQ));
    hamming_v3<0, kOpS8Dot><<<grid, kV3Warps * 32, 0, s>>>(*t);
    return cudaGetLastError();
}

extern "C" int sj_gpu_row_popc(const uint32_t *rows, uint32_t n, int words, int32_t *out,
                               void *stream)
{
    if (n == 0)
        return cudaSuccess;
    row_popc<<<sj_div_up_u32(n, 256), 256, 0, (cudaStream_t)stream>>>(rows, n, words, out);
    return cudaGetLastError();
}

extern "C" int sj_gpu_probe(void)
{
    cudaFuncAttributes attr;
    return cudaFuncGetAttributes(&attr, hamming_v3<0>);
}

extern "C" int sj_gpu_min_arch(void)
{
#ifdef __CUDA_ARCH_LIST__
    static const int archs[] = {__CUDA_ARCH_LIST__}; // ascending
    return archs[0];
#else
    return 900;
#endif
}

extern "C" const char *sj_gpu_error_string(int err)
{
    return cudaGetErrorString((cudaError_t)err);
}
