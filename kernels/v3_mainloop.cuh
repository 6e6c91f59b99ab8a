// v3_mainloop.cuh - the k loop of the v3 tensor-core kernels, written once
// for the three instructions that share its fragment layout in 32-bit words
// (hamming_tile.h, vector_tile.h): mma.m16n8k256 .and.popc (Hamming),
// mma.m16n8k32 .s8 (uint8 l2sq) and mma.m16n8k8 .tf32 (f32 kinds). A warp
// accumulates its SJ_V3_M x SJ_V3_N tiles of 16 x 8 over rows of `words`
// 32-bit words (a multiple of 8: one k-step), through the loaders that
// tests/test_gpu_tiles.c runs against each instruction's emulation.
#ifndef SIMJOIN_V3_MAINLOOP_CUH
#define SIMJOIN_V3_MAINLOOP_CUH

#include "hamming_tile.h"

enum { SJ_V3_OP_AND_POPC = 0, SJ_V3_OP_S8 = 1, SJ_V3_OP_TF32 = 2 };

// C[16][8] += popc(A[16][256 bits] AND B[8][256 bits]) (OP and-popc), or
// A[16][32 int8] B[32 int8][8] (OP s8); int32 accumulators.
template <int OP>
__device__ __forceinline__ void sj_v3_mma(int (&acc)[4], const uint32_t (&a)[4],
                                          const uint32_t (&b)[2])
{
    if (OP == SJ_V3_OP_S8)
        asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 "
                     "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+r"(acc[0]), "+r"(acc[1]), "+r"(acc[2]), "+r"(acc[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    else
        asm volatile("mma.sync.aligned.m16n8k256.row.col.s32.b1.b1.s32.and.popc "
                     "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+r"(acc[0]), "+r"(acc[1]), "+r"(acc[2]), "+r"(acc[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// C[16][8] += A[16][8] B[8][8] on TF32 values (the words are floats already
// rounded to TF32: sj_vt_tf32_rna), f32 accumulators.
template <int OP>
__device__ __forceinline__ void sj_v3_mma(float (&acc)[4], const uint32_t (&a)[4],
                                          const uint32_t (&b)[2])
{
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// The warp tile at (q_warp, c_warp) of queries [nq][words] x corpus
// [nc][words]: acc[m][n] = the 16 x 8 tile of m-tile m, n-tile n. W: words
// known at compile time (0: read `words`). Rows past nq or nc read the last
// row (never reported).
template <int W, int OP, typename Acc>
__device__ __forceinline__ void sj_v3_mainloop(Acc (&acc)[SJ_V3_M][SJ_V3_N][4],
                                               const uint32_t *__restrict__ queries, uint32_t nq,
                                               const uint32_t *__restrict__ corpus, uint32_t nc,
                                               int words, uint32_t q_warp, uint32_t c_warp, int lane)
{
    // The lane's row pointers (word pairs of chunk 0), computed once.
    const uint32_t *a_rows[SJ_V3_M][2], *b_cols[SJ_V3_N];
#pragma unroll
    for (int m = 0; m < SJ_V3_M; m++)
#pragma unroll
        for (int h = 0; h < 2; h++)
            a_rows[m][h] = sj_v3_a_ptr(queries, q_warp + m * 16, nq, words, lane, h);
#pragma unroll
    for (int n = 0; n < SJ_V3_N; n++)
        b_cols[n] = sj_v3_b_ptr(corpus, c_warp + n * 8, nc, words, lane);
#pragma unroll
    for (int m = 0; m < SJ_V3_M; m++)
#pragma unroll
        for (int n = 0; n < SJ_V3_N; n++)
#pragma unroll
            for (int r = 0; r < 4; r++)
                acc[m][n][r] = 0;
#pragma unroll(W ? W / 8 : 4)
    for (int k = 0; k < words; k += 8) {
        uint32_t a[SJ_V3_M][4], b[SJ_V3_N][2];
#pragma unroll
        for (int m = 0; m < SJ_V3_M; m++)
            sj_v3_load_a(a[m], a_rows[m]);
#pragma unroll
        for (int n = 0; n < SJ_V3_N; n++)
            sj_v3_load_b(b[n], b_cols[n]);
#pragma unroll
        for (int m = 0; m < SJ_V3_M; m++)
#pragma unroll
            for (int h = 0; h < 2; h++)
                a_rows[m][h] += 8;
#pragma unroll
        for (int n = 0; n < SJ_V3_N; n++)
            b_cols[n] += 8;
#pragma unroll
        for (int m = 0; m < SJ_V3_M; m++)
#pragma unroll
            for (int n = 0; n < SJ_V3_N; n++)
                sj_v3_mma<OP>(acc[m][n], a[m], b[n]);
    }
}

#endif
