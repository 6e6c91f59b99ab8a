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

#include <math.h>
#include <stdint.h>
#include <string.h>

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

/* ---- f32 on TF32 tensor cores (sj_gpu_vec_tf32) ---------------------------
 * mma.m16n8k8.row.col.f32.tf32.tf32.f32 computes C[16][8] += A[16][8] B[8][8]
 * with one 32-bit element per register. Its fragments (PTX ISA 9.7.14.5.7,
 * the .tf32 tables of A, B and the .f32 table of C) put a lane's A elements
 * at k = tig and tig + 4 of rows group and group + 8, its B elements at
 * k = tig and tig + 4 of column group, and C as m16n8k256 does: in 32-bit
 * words, the layout of mma.m16n8k256 .b1. So the v3 tiling, row pointers
 * and loaders (hamming_tile.h, sj_v3_*) serve unchanged, one float per word
 * and 8 components per k-step; rows are zero padded to a multiple of 8.
 * tests/test_gpu_tiles.c emulates the instruction from its own table.
 *
 * Operands are rounded to TF32 on the host, once per row, the way
 * cvt.rna.tf32.f32 does (to nearest, ties away from zero, 10 fraction bits:
 * sj_vt_tf32_rna), so the device reads exact TF32 values and needs no cvt.
 *
 * The candidate test, dot >= (h_q + h_c) - e_q e_c in float (sj_vt_tf32_within),
 * keeps every pair whose exact distance may be <= T. Its error bound, for
 * rows a, b with exact dot s = sum a_i b_i and K = padded D terms:
 *  - operands: |tf32(x) - x| <= 2^-11 |x| (rna), so each product is off by
 *    at most ((1 + 2^-11)^2 - 1) |a_i b_i| = (2^-10 + 2^-22) |a_i b_i|;
 *    the product of two TF32 values (22 bits) is exact in fp32.
 *  - accumulation: the PTX ISA does not specify the order, the internal
 *    precision or the rounding of the f32 accumulation of mma. Measurements
 *    (Fasi, Higham, Mikaitis, Pranesh, "Numerical behavior of NVIDIA tensor
 *    cores", PeerJ CS 7:e330, 2021; Valpey et al., SMT model, 2025) find
 *    exact products, addends aligned to the largest and truncated to
 *    24 bits (with up to 3 carry bits) and a truncated normalisation. We
 *    assume only that a step adding k products to the accumulator c is off
 *    by at most (k + 2) 2^-22 (|c| + sum |p|) (twice the truncation error
 *    of that model, in any grouping k >= 1); over K terms that is at most
 *    3 K 2^-22 (1 + eta) sum |p| <= K 2^-20 sum |p| (eta < 1/3).
 *  - so |dot - s| <= E sum |a_i b_i| + A, E = e_in + g (1 + e_in),
 *    e_in = 2^-10 + 2^-22, g = K 2^-20; sum |a_i b_i| <= |a| |b| (norms in
 *    double, off by < (D + 8) 2^-53 relative: E carries a factor 1 + 2^-20).
 *  - A: underflow (a subnormal operand, product or sum flushed or
 *    truncated) costs at most 2^-126 per term and per operand:
 *    A <= 2^-124 K (1 + |a| + |b|).
 *  - cosine: the rows are unit vectors rounded to float (relative error
 *    <= 2^-24 + (D + 6) 2^-53 a component): E_cos = E (1 + 2^-22) + 2^-22.
 * With it: cosine d = 1 - s:  keep when dot >= 1 - T - E_cos - A;
 *          ip d = 1 - s:      keep when dot >= 1 - T - E |a||b| - A;
 *          l2sq d = |a|^2 + |b|^2 - 2 s: keep when
 *                   dot >= (|a|^2 - T)/2 + |b|^2/2 - E |a||b| - A,
 * split into per-row terms h (everything of one row) and e (E |a| for the
 * query, |b| for the corpus row; cosine: none), lowered (h) or raised (e)
 * so that the float sum and fma of the test (3 roundings of 2^-24) stay at
 * or below the exact bound (sj_vt_tf32_row_term). Rows of ip and l2sq
 * whose norm exceeds 2^60 (squares and dot products near float's range)
 * are sent as zeros with h = -inf: every pair with them is a candidate,
 * decided by the reference; no float overflow is possible otherwise
 * (|dot| <= 2^121). Every candidate is decided by the reference
 * (sj_distance), so the output is the CPU's. */
typedef struct sj_vt_tf32_term {
    float h; /* the row's share of the bound, lowered to float */
    float e; /* its factor of the E |a| |b| term, raised to float */
} sj_vt_tf32_term;

/* Rows above this norm (ip, l2sq) go to the reference whole. */
#define SJ_VT_TF32_WIDE_NORM 1152921504606846976.0 /* 2^60 */

/* cvt.rna.tf32.f32 on the bits of a finite float (inf and NaN unchanged):
 * add half a unit of the 13 dropped bits to the magnitude, then clear them
 * (a carry into the exponent is the right result). */
SJ_HD uint32_t sj_vt_tf32_rna_bits(uint32_t f)
{
    if ((f & 0x7f800000u) == 0x7f800000u)
        return f;
    return (f + 0x1000u) & ~0x1fffu;
}

SJ_HD float sj_vt_tf32_rna(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    u = sj_vt_tf32_rna_bits(u);
    memcpy(&x, &u, 4);
    return x;
}

/* Components per device row: D rounded up to the 8 of one mma k-step. */
SJ_HD uint32_t sj_vt_tf32_ld(uint32_t dim) { return (dim + 7) / 8 * 8; }

/* E of the bound above for k padded components (k <= 16384). */
SJ_HD double sj_vt_tf32_err(uint32_t k)
{
    const double e_in = 1.0 / 1024.0 + 1.0 / 4194304.0; /* 2^-10 + 2^-22 */
    const double g = (double)k / 1048576.0;             /* K 2^-20 */
    return (e_in + g * (1.0 + e_in)) * (1.0 + 1.0 / 1048576.0);
}

/* The largest float <= x (-inf below -2^126; at most 2^126), and the
 * smallest float >= x >= 0 (x <= 2^126). */
SJ_HD float sj_vt_f32_down(double x)
{
    const double top = 8.5070591730234616e37; /* 2^126 */
    if (!(x >= -top))
        return -INFINITY;
    if (x > top)
        x = top;
    float f = (float)x;
    return (double)f > x ? nextafterf(f, -INFINITY) : f;
}

SJ_HD float sj_vt_f32_up(double x)
{
    float f = (float)x;
    return (double)f < x ? nextafterf(f, INFINITY) : f;
}

/* x lowered by rel |x| (rel > 0). */
SJ_HD double sj_vt_lower(double x, double rel) { return x - rel * fabs(x); }

/* Whether a row of norm `norm` goes to the reference whole. */
SJ_HD int sj_vt_tf32_wide(int metric, double norm)
{
    return metric != SJ_VT_COSINE && !(norm <= SJ_VT_TF32_WIDE_NORM);
}

/* A row's terms of the test: norm |row| of the original row (double, as
 * sj_vec_to_float gives it), query 1 for a query row (it carries T), dim D,
 * k the padded components. */
SJ_HD sj_vt_tf32_term sj_vt_tf32_row_term(int metric, int query, double norm, double T,
                                          uint32_t dim, uint32_t k)
{
    sj_vt_tf32_term t;
    const double rho = ((double)dim + 8.0) / 4503599627370496.0; /* (D + 8) 2^-52 */
    const double slack = 1.0 / 1048576.0;                       /* 2^-20: the float test */
    const double a_unit = (double)k / 2.1267647932558654e37;    /* K 2^-124 */
    const double E = sj_vt_tf32_err(k);
    if (sj_vt_tf32_wide(metric, norm)) {
        t.h = -INFINITY, t.e = 0.0f;
        return t;
    }
    double h;
    if (metric == SJ_VT_COSINE) {
        h = query ? 1.0 - T - (E * (1.0 + 1.0 / 4194304.0) + 1.0 / 4194304.0) - 4.0 * a_unit : 0.0;
        h -= query ? ldexp(1.0 + fabs(T), -50) : 0.0; /* the double rounding of h */
        t.e = 0.0f;
    } else {
        const double a = a_unit * (0.5 + norm * (1.0 + 1.0 / 1048576.0));
        if (metric == SJ_VT_IP)
            h = (query ? 1.0 - T : 0.0) - a - (query ? ldexp(1.0 + fabs(T), -50) : 0.0);
        else { /* l2sq: |row|^2 (1 - rho) is below the exact squared norm */
            const double sq = norm * norm * (1.0 - rho);
            h = 0.5 * (query ? sq - T : sq) - a - ldexp(sq + (query ? fabs(T) : 0.0), -50);
        }
        const double e = query ? E * norm : norm;
        t.e = sj_vt_f32_up(e * (1.0 + 2.0 * rho) * (1.0 + slack / 2.0));
    }
    t.h = sj_vt_f32_down(sj_vt_lower(h, slack));
    return t;
}

/* Row x[dim] (floats as the GEMM paths take them: cosine unit vectors) as
 * a device row out[k] of TF32 values, zero padded; a wide row is all zeros.
 * Returns the row's terms. */
SJ_HD sj_vt_tf32_term sj_vt_tf32_pack_row(const float *x, uint32_t dim, uint32_t k, double norm,
                                          int metric, int query, double T, float *out)
{
    const int wide = sj_vt_tf32_wide(metric, norm);
    for (uint32_t i = 0; i < k; i++)
        out[i] = i < dim && !wide ? sj_vt_tf32_rna(x[i]) : 0.0f;
    return sj_vt_tf32_row_term(metric, query, norm, T, dim, k);
}

/* The first test of a pair from its float dot product. NaN never passes;
 * no finite row sends one (wide rows are zeros). */
SJ_HD int sj_vt_tf32_within(float dot, sj_vt_tf32_term q, sj_vt_tf32_term c)
{
    return dot >= fmaf(-q.e, c.e, q.h + c.h);
}

/* A lane's terms for the v3 warp tile at (q_warp, c_warp), loaded once:
 * rows group, group + 8 of each m-tile, columns 2 tig, 2 tig + 1 of each
 * n-tile (the C fragment's); rows past nq or nc read the last row. */
typedef struct sj_vt_tf32_lane_terms {
    sj_vt_tf32_term q[SJ_V3_M][2];
    sj_vt_tf32_term c[SJ_V3_N][2];
} sj_vt_tf32_lane_terms;

SJ_HD sj_vt_tf32_term sj_vt_tf32_ldg_term(const sj_vt_tf32_term *p)
{
#ifdef __CUDA_ARCH__
    const float2 v = __ldg((const float2 *)p);
    sj_vt_tf32_term t = {v.x, v.y};
    return t;
#else
    return *p;
#endif
}

SJ_HD void sj_vt_tf32_load_terms(sj_vt_tf32_lane_terms *p, const sj_vt_tf32_term *qterm,
                                 uint32_t q_warp, uint32_t nq, const sj_vt_tf32_term *cterm,
                                 uint32_t c_warp, uint32_t nc, int lane)
{
    SJ_UNROLL
    for (int m = 0; m < SJ_V3_M; m++)
        SJ_UNROLL
        for (int h = 0; h < 2; h++) {
            const uint32_t q = q_warp + (uint32_t)(m * 16 + sj_mma_c_row(lane, 2 * h));
            p->q[m][h] = sj_vt_tf32_ldg_term(qterm + sj_min_u32(q, nq - 1));
        }
    SJ_UNROLL
    for (int n = 0; n < SJ_V3_N; n++)
        SJ_UNROLL
        for (int j = 0; j < 2; j++) {
            const uint32_t c = c_warp + (uint32_t)(n * 8 + sj_mma_c_col(lane, j));
            p->c[n][j] = sj_vt_tf32_ldg_term(cterm + sj_min_u32(c, nc - 1));
        }
}

/* Whether any of the lane's candidates passes the first test. */
SJ_HD int sj_vt_tf32_lane_any(float acc[SJ_V3_M][SJ_V3_N][4], const sj_vt_tf32_lane_terms *p)
{
    int any = 0;
    SJ_UNROLL
    for (int m = 0; m < SJ_V3_M; m++)
        SJ_UNROLL
        for (int n = 0; n < SJ_V3_N; n++)
            SJ_UNROLL
            for (int r = 0; r < 4; r++)
                any |= sj_vt_tf32_within(acc[m][n][r], p->q[m][sj_v3_acc_row_half(r)],
                                         p->c[n][sj_v3_acc_col_half(r)]);
    return any;
}

/* Accumulator register r of m-tile m, n-tile n of lane `lane`: the pair's
 * launch rows *q, *c and whether it passes the first test. */
SJ_HD int sj_vt_tf32_pair(uint32_t q_warp, uint32_t c_warp, int lane, int m, int n, int r,
                          float acc, const sj_vt_tf32_lane_terms *p, uint32_t *q, uint32_t *c)
{
    *q = q_warp + (uint32_t)(m * 16 + sj_mma_c_row(lane, r));
    *c = c_warp + (uint32_t)(n * 8 + sj_mma_c_col(lane, r));
    return sj_vt_tf32_within(acc, p->q[m][sj_v3_acc_row_half(r)], p->c[n][sj_v3_acc_col_half(r)]);
}

#endif
