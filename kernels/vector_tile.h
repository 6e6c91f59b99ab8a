/* vector_tile.h - the arithmetic of the vector joins, written once for the
 * host (C) and the device (nvcc, __host__ __device__): the approximate
 * distance from a dot product, its error margin, the candidate rule of the
 * GEMM epilogue, the packed-byte L1 step, and the exact conversion of uint8
 * values to fp16. host/vector.h and kernels/vector_join.cu both use these;
 * tests/test_gpu_tiles.c checks them against plain loops.
 *
 * Metric codes are sj_metric's (simjoin.h): 2 l2sq, 3 l1, 4 cosine, 5 ip. */
#ifndef SIMJOIN_VECTOR_TILE_H
#define SIMJOIN_VECTOR_TILE_H

#include "hamming_tile.h" /* SJ_HD, sj_popc32, sj_warp_slot, sj_slot_fits */

#include <stdint.h>

enum { SJ_VT_L2SQ = 2, SJ_VT_L1 = 3, SJ_VT_COSINE = 4, SJ_VT_IP = 5 };

/* Approximate distance from dot = <x, y> computed in float over the rows as
 * converted (cosine: unit vectors), with na = |x|, nb = |y| of the original
 * rows, in double. */
SJ_HD double sj_vt_approx(int metric, double dot, double na, double nb)
{
    if (metric == SJ_VT_L2SQ)
        return na * na + nb * nb - 2.0 * dot;
    return 1.0 - dot; /* cosine (unit vectors) and ip */
}

/* Twice the error bound of a float dot product of `dim` terms whose inputs
 * were each rounded with unit round-off u_in (0: exact inputs, 2^-10: TF32
 * when the hardware truncates)
 * and accumulated in fp32 in any order, with or without FMA, per unit of
 * |x| |y| (Higham 3.1): 2 (2 u_in + gamma_{dim+4}). The +4 covers the
 * rounding of cosine's unit vectors. */
SJ_HD double sj_vt_gamma(uint32_t dim, double u_in)
{
    const double u = 1.0 / 16777216.0; /* 2^-24 */
    const double nu = (double)(dim + 4) * u;
    return 2.0 * (2.0 * u_in + nu / (1.0 - nu));
}

/* The margin of sj_vt_approx for rows of norms na, nb. */
SJ_HD double sj_vt_margin(int metric, double gamma, double na, double nb)
{
    if (metric == SJ_VT_COSINE)
        return gamma + 1e-300;
    return (metric == SJ_VT_L2SQ ? 2.0 : 1.0) * gamma * na * nb + 1e-300;
}

/* The GEMM epilogue's rule: a pair (q, c) of the tile is a candidate when it
 * is inside the tile, after the query in a self-join, and its approximate
 * distance is within the margin of T. The reference then decides it. */
SJ_HD int sj_vt_candidate(int64_t q0, uint32_t q, uint32_t nq, int64_t c0, uint32_t c,
                          uint32_t nc, int self, double approx, double threshold, double margin)
{
    if (q >= nq || c >= nc || !(approx <= threshold + margin))
        return 0;
    return !self || c0 + (int64_t)c > q0 + (int64_t)q;
}

/* Sum of |a_i - b_i| over the four bytes of two packed words. */
SJ_HD int sj_vt_sad4(uint32_t a, uint32_t b)
{
#ifdef __CUDA_ARCH__
    return (int)__dp4a(__vabsdiffu4(a, b), 0x01010101u, 0u);
#else
    int s = 0;
    for (int k = 0; k < 32; k += 8) {
        int x = (int)((a >> k) & 255u) - (int)((b >> k) & 255u);
        s += x < 0 ? -x : x;
    }
    return s;
#endif
}

/* Query rows a block of the l1 kernel stages in shared memory ([n][words]
 * uint32): SJ_VT_L1_QUERIES, or fewer when that many rows of `words` words
 * exceed smem_max bytes (the device's opt-in limit; above 48 KiB the launch
 * opts in); 0 when not even one row fits (u8:D too wide for this kernel). */
#define SJ_VT_L1_QUERIES 32
SJ_HD int sj_vt_l1_block_queries(int words, uint64_t smem_max)
{
    const uint64_t n = words > 0 ? smem_max / ((uint64_t)words * 4u) : SJ_VT_L1_QUERIES;
    return n > SJ_VT_L1_QUERIES ? SJ_VT_L1_QUERIES : (int)n;
}

/* ---- uint8 l2sq on int8 tensor cores (sj_gpu_launch_l2sq_s8) ----
 * x - 128 fits int8 and differences do not change, so
 *   l2sq(a, b) = |a'|^2 + |b'|^2 - 2 <a', b'>,  a' = a - 128,
 * every term an integer. In int32: |a'|^2 <= 16384 D and the kernel's
 * first test forms 2 <a', b'> - |b'|^2 (>= -49152 D) and |a'|^2 - T, so
 * dimensions up to sj_vt_s8_max_dim keep all of them exact. */
#define SJ_VT_S8_MAX_DIM 32768
SJ_HD int sj_vt_s8_max_dim(void) { return SJ_VT_S8_MAX_DIM; }

/* Words per int8 row: dim rounded up to 32 bytes (the k of one mma). */
SJ_HD int sj_vt_s8_row_words(uint32_t dim) { return (int)((dim + 31) / 32 * 8); }

/* Row x[dim] of uint8 as int8 x - 128 (the byte x ^ 0x80) in out[words],
 * zero padded (a zero adds nothing to a dot product or a norm); returns
 * |x - 128|^2. */
SJ_HD int32_t sj_vt_s8_pack_row(const uint8_t *x, uint32_t dim, uint32_t *out, int words)
{
    int32_t norm = 0;
    for (int w = 0; w < words; w++)
        out[w] = 0;
    for (uint32_t i = 0; i < dim; i++) {
        const int v = (int)x[i] - 128;
        norm += v * v;
        out[i / 4] |= (uint32_t)(uint8_t)(x[i] ^ 0x80u) << (8 * (i % 4));
    }
    return norm;
}

/* The int32 threshold of an l2sq threshold T: l2sq is an integer, so
 * d <= T is d <= floor(T); below 0 nothing matches (-1), above the largest
 * l2sq of dim components (65025 dim) everything does. */
SJ_HD int32_t sj_vt_s8_threshold(double T, uint32_t dim)
{
    const double top = 65025.0 * (double)dim;
    if (!(T >= 0))
        return -1; /* negative, or NaN */
    if (T >= top)
        return (int32_t)top;
    return (int32_t)T; /* truncation is floor for T >= 0 */
}

/* IEEE fp16 bits of an integer 0..255 (exact: 11 significant bits). */
SJ_HD uint16_t sj_vt_half_of_u8(uint32_t v)
{
    if (v == 0)
        return 0;
    int e = 31;
    while (!(v >> e))
        e--;                                     /* v = 1.m * 2^e, e <= 7 */
    uint32_t mant = (v << (10 - e)) & 0x3ffu;    /* 10 fraction bits, exact */
    return (uint16_t)(((uint32_t)(e + 15) << 10) | mant);
}

#endif
