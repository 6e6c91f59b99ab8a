// vector_join.cu - GPU vector-join kernels (see vector_join.h).
//
// Compile line (CMake does this): nvcc -arch=sm_90 -O3 -Xptxas -v -c vector_join.cu
//
// epilogue: one thread per tile element, x over corpus rows (consecutive
// threads read consecutive dots: coalesced), y over queries. Every lane of a
// warp takes part in the ballot, inside the tile or not.
// tf32: the v3 tiling (a block of 4 warps covers 64 queries x 64 corpus
// rows; a warp 32 x 32 in 2 x 4 tiles of 16 x 8) and k loop
// (v3_mainloop.cuh) on mma.m16n8k8 .tf32; the epilogue tests each pair's
// float dot product against the per-row terms (sj_vt_tf32_within), one vote
// per warp, and appends the candidates for the host's reference.
// l1: a block stages kL1Queries query rows in shared memory; each thread
// holds one corpus row's position and walks the staged queries.
#include "gpu_append.cuh"
#include "v3_mainloop.cuh"
#include "vector_join.h"

#include <cuda_runtime.h>

namespace {

constexpr int kEpiX = 128, kEpiY = 2; // 256 threads: 128 corpus rows x 2 queries
constexpr int kL1Threads = 256;
constexpr size_t kDefaultSmem = 48 * 1024; // dynamic shared memory without an opt-in

__global__ void __launch_bounds__(kEpiX * kEpiY) vec_epilogue(sj_gpu_vec_tile t)
{
    const uint32_t c = blockIdx.x * kEpiX + threadIdx.x;
    const uint32_t q = blockIdx.y * kEpiY + threadIdx.y;
    bool keep = false;
    if (c < t.nc && q < t.nq) {
        const double na = t.query_norm[q], nb = t.corpus_norm[c];
        const double dot = (double)t.dots[(size_t)c + (size_t)t.ldd * q];
        const double approx = sj_vt_approx(t.metric, dot, na, nb);
        keep = sj_vt_candidate(t.q0, q, t.nq, t.c0, c, t.nc, t.self, approx, t.threshold,
                               sj_vt_margin(t.metric, t.gamma, na, nb));
    }
    sj_warp_append(keep, sj_gpu_hit{t.hit_q + q, t.hit_c + c, 0}, t.hits, t.count, t.capacity);
}

__global__ void __launch_bounds__(kL1Threads) vec_l1(const uint32_t *queries,
                                                     const uint32_t *corpus, int words,
                                                     int block_queries, sj_gpu_vec_tile t)
{
    extern __shared__ uint32_t sq[]; // [block_queries][words]
    const uint32_t c = blockIdx.x * kL1Threads + threadIdx.x;
    const uint32_t q_first = blockIdx.y * (uint32_t)block_queries;
    const uint32_t n = min((uint32_t)block_queries, t.nq - q_first);
    for (uint32_t i = threadIdx.x; i < (uint32_t)block_queries * words; i += blockDim.x) {
        const uint32_t r = i / words;
        sq[i] = r < n ? queries[(size_t)(q_first + r) * words + i % words] : 0u;
    }
    __syncthreads();
    const uint32_t *crow = corpus + (size_t)min(c, t.nc - 1) * words; // rows past nc never report
    const int T = (int)t.threshold;
    for (uint32_t i = 0; i < n; i++) {
        int d = 0;
        for (int w = 0; w < words; w++)
            d += sj_vt_sad4(sq[i * words + w], __ldg(crow + w));
        const bool keep = c < t.nc && d <= T &&
                          (!t.self || t.c0 + (int64_t)c > t.q0 + (int64_t)(q_first + i));
        sj_warp_append(keep, sj_gpu_hit{t.hit_q + q_first + i, t.hit_c + c, d}, t.hits, t.count,
                       t.capacity);
    }
}

// Launch bounds: no minimum, as hamming_v3<0> (the same loop; its epilogue
// holds 32 float accumulators and 24 terms).
__global__ void __launch_bounds__(SJ_V3_WARPS * 32) vec_tf32(const uint32_t *__restrict__ queries,
                                                             const uint32_t *__restrict__ corpus,
                                                             int ld, const sj_vt_tf32_term *qterm,
                                                             const sj_vt_tf32_term *cterm,
                                                             sj_gpu_vec_tile t)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const uint32_t q_warp = sj_v3_warp_q(blockIdx.y, warp);
    const uint32_t c_warp = sj_v3_warp_c(blockIdx.x, warp);
    sj_vt_tf32_lane_terms terms; // loaded before the loop hides their latency
    sj_vt_tf32_load_terms(&terms, qterm, q_warp, t.nq, cterm, c_warp, t.nc, lane);
    float acc[SJ_V3_M][SJ_V3_N][4];
    sj_v3_mainloop<0, SJ_V3_OP_TF32>(acc, queries, t.nq, corpus, t.nc, ld, q_warp, c_warp, lane);
    if (!__any_sync(0xffffffffu, sj_vt_tf32_lane_any(acc, &terms)))
        return;
#pragma unroll
    for (int m = 0; m < SJ_V3_M; m++)
#pragma unroll
        for (int n = 0; n < SJ_V3_N; n++)
#pragma unroll
            for (int r = 0; r < 4; r++) {
                uint32_t q, c;
                const int within = sj_vt_tf32_pair(q_warp, c_warp, lane, m, n, r, acc[m][n][r],
                                                   &terms, &q, &c);
                // sj_tile_keep's rule (inside the tile, self-join order) with
                // d = 0 for a candidate, 1 otherwise, and T = 0
                const bool keep = sj_tile_keep(t.q0, q, t.nq, t.c0, c, t.nc, t.self, !within, 0);
                sj_warp_append(keep, sj_gpu_hit{t.hit_q + q, t.hit_c + c, 0}, t.hits, t.count,
                               t.capacity);
            }
}

} // namespace

extern "C" int sj_gpu_vec_epilogue(const sj_gpu_vec_tile *t, void *stream)
{
    if (t->nq == 0 || t->nc == 0)
        return cudaSuccess;
    const dim3 block(kEpiX, kEpiY), grid(sj_div_up_u32(t->nc, kEpiX), sj_div_up_u32(t->nq, kEpiY));
    vec_epilogue<<<grid, block, 0, (cudaStream_t)stream>>>(*t);
    return cudaGetLastError();
}

extern "C" int sj_gpu_vec_l1(const uint32_t *queries, const uint32_t *corpus, int words,
                             const sj_gpu_vec_tile *t, void *stream)
{
    if (t->nq == 0 || t->nc == 0)
        return cudaSuccess;
    // u8:D with D > 1536 needs more than 48 KiB for 32 staged queries: opt in
    // up to the device's limit, and stage fewer queries beyond it.
    int dev = 0, optin = 0;
    cudaError_t e = cudaGetDevice(&dev);
    if (e == cudaSuccess)
        e = cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
    if (e != cudaSuccess)
        return e;
    const int block_queries = sj_vt_l1_block_queries(words, (uint64_t)optin);
    if (block_queries == 0)
        return cudaErrorInvalidValue; // a row above the opt-in limit (u8:D rows are <= 32 KiB)
    const size_t smem = (size_t)block_queries * words * sizeof(uint32_t);
    if (smem > kDefaultSmem &&
        (e = cudaFuncSetAttribute(vec_l1, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem)))
        return e;
    const dim3 grid(sj_div_up_u32(t->nc, kL1Threads), sj_div_up_u32(t->nq, block_queries));
    vec_l1<<<grid, kL1Threads, smem, (cudaStream_t)stream>>>(queries, corpus, words,
                                                             block_queries, *t);
    return cudaGetLastError();
}

extern "C" int sj_gpu_vec_tf32(const float *queries, const float *corpus, int ld,
                               const sj_vt_tf32_term *query_terms,
                               const sj_vt_tf32_term *corpus_terms, const sj_gpu_vec_tile *t,
                               void *stream)
{
    if (t->nq == 0 || t->nc == 0)
        return cudaSuccess;
    const dim3 grid(sj_div_up_u32(t->nc, SJ_V3_BLOCK_C), sj_div_up_u32(t->nq, SJ_V3_BLOCK_Q));
    vec_tf32<<<grid, SJ_V3_WARPS * 32, 0, (cudaStream_t)stream>>>(
        (const uint32_t *)queries, (const uint32_t *)corpus, ld, query_terms, corpus_terms, *t);
    return cudaGetLastError();
}
