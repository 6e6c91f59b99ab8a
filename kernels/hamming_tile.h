/* hamming_tile.h - the tile logic of the GPU Hamming kernels, written once
 * as plain functions that compile both for the device (nvcc, __host__
 * __device__) and for the host (a C compiler), so tests/test_gpu_tiles.c can
 * check every piece of index arithmetic and counting on the CPU.
 *
 * Device rows are uint32 words, zero padded to SJ_GPU_ROW_WORDS(bits) words
 * (a multiple of 8 words = 256 bits, the k of one binary MMA); zeros never
 * add distance. */
#ifndef SIMJOIN_HAMMING_TILE_H
#define SIMJOIN_HAMMING_TILE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __CUDACC__
#define SJ_HD __host__ __device__ __forceinline__
#else
#define SJ_HD static inline
#endif

/* Words per padded device row: bits rounded up to 256. */
#define SJ_GPU_ROW_WORDS(bits) ((((bits) + 255) / 256) * 8)

/* One hit as the kernels write it: query and corpus rows relative to the
 * launch, and the distance. 12 bytes. */
typedef struct sj_gpu_hit {
    uint32_t q;
    uint32_t c;
    int32_t d;
} sj_gpu_hit;

SJ_HD int sj_popc32(uint32_t x)
{
#ifdef __CUDA_ARCH__
    return __popc(x);
#else
    return __builtin_popcount(x);
#endif
}

/* Position of the lowest set bit, 1-based; 0 for x == 0 (CUDA's __ffs). */
SJ_HD int sj_ffs32(uint32_t x)
{
#ifdef __CUDA_ARCH__
    return __ffs((int)x);
#else
    return __builtin_ffs((int)x);
#endif
}

/* A read-only global load: __ldg on the device, a plain load on the host. */
SJ_HD uint32_t sj_ldg_u32(const uint32_t *p)
{
#ifdef __CUDA_ARCH__
    return __ldg(p);
#else
    return *p;
#endif
}

SJ_HD uint32_t sj_min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }

/* ceil(n / d) without the overflow of (n + d - 1) / d near 2^32. */
SJ_HD uint32_t sj_div_up_u32(uint32_t n, uint32_t d) { return n / d + (n % d != 0); }

/* Fully unrolled loops on the device (fragment arrays stay in registers). */
#ifdef __CUDACC__
#define SJ_UNROLL _Pragma("unroll")
#else
#define SJ_UNROLL
#endif

/* One-bit count of a row of `words` words (the v3 popc arrays). */
SJ_HD int sj_row_popc(const uint32_t *row, int words)
{
    int p = 0;
    for (int w = 0; w < words; w++)
        p += sj_popc32(row[w]);
    return p;
}

/* ---- v1: one pair, one popc per word ------------------------------------ */

SJ_HD int sj_tile_distance(const uint32_t *a, const uint32_t *b, int words)
{
    int d = 0;
    for (int w = 0; w < words; w++)
        d += sj_popc32(a[w] ^ b[w]);
    return d;
}

/* ---- v2: fewer popc per pair with carry-save adders --------------------- */

/* Full adder on 32 bit positions at once: a + b + c = 2*carry + sum. On the
 * GPU each of the two is a single LOP3. */
SJ_HD void sj_csa32(uint32_t a, uint32_t b, uint32_t c, uint32_t *carry, uint32_t *sum)
{
    *sum = a ^ b ^ c;
    *carry = (a & b) | (c & (a ^ b));
}

/* Distance over 8 words (256 bits) with 5 popc instead of 8. Seven of the
 * eight XOR words go through three full adders into one word of weight 1
 * and three of weight 2; x[7] is counted alone:
 *   d = |s2| + |x7| + 2 (|c0| + |c1| + |c2|)
 * That trades 3 popc for 6 LOP3, which balances the GPU's popc unit
 * (16 per clock per SM) against its integer pipe (64 per clock). */
SJ_HD int sj_tile_distance8_csa(const uint32_t *a, const uint32_t *b)
{
    uint32_t x[8];
    for (int w = 0; w < 8; w++)
        x[w] = a[w] ^ b[w];
    uint32_t c0, s0, c1, s1, c2, s2;
    sj_csa32(x[0], x[1], x[2], &c0, &s0);
    sj_csa32(x[3], x[4], x[5], &c1, &s1);
    sj_csa32(s0, s1, x[6], &c2, &s2);
    return sj_popc32(s2) + sj_popc32(x[7]) +
           2 * (sj_popc32(c0) + sj_popc32(c1) + sj_popc32(c2));
}

/* Distance of a row pair for a padded width that is a multiple of 8 words. */
SJ_HD int sj_tile_distance_csa(const uint32_t *a, const uint32_t *b, int words)
{
    int d = 0;
    for (int w = 0; w < words; w += 8)
        d += sj_tile_distance8_csa(a + w, b + w);
    return d;
}

/* ---- v3: binary tensor cores, mma.m16n8k256 .and.popc -------------------- */

/* A warp computes C[16][8] += popc(A[16][256 bits] AND B[8][256 bits]).
 * With lane = 4*group + tig (group 0..7, tig 0..3), a lane holds
 *   A words: a0 = row group,   word tig;   a1 = row group+8, word tig;
 *            a2 = row group,   word tig+4; a3 = row group+8, word tig+4
 *   B words: b0 = column group, word tig;  b1 = column group, word tig+4
 *   C:       c0 = (group, 2*tig), c1 = (group, 2*tig+1),
 *            c2 = (group+8, 2*tig), c3 = (group+8, 2*tig+1)
 * These give the row/word of each fragment register; the kernel and the
 * host emulation both use them. */
SJ_HD int sj_mma_a_row(int lane, int reg) { return (lane >> 2) + ((reg & 1) ? 8 : 0); }
SJ_HD int sj_mma_a_word(int lane, int reg) { return (lane & 3) + ((reg & 2) ? 4 : 0); }
SJ_HD int sj_mma_b_col(int lane, int reg) { (void)reg; return lane >> 2; }
SJ_HD int sj_mma_b_word(int lane, int reg) { return (lane & 3) + (reg ? 4 : 0); }
SJ_HD int sj_mma_c_row(int lane, int reg) { return (lane >> 2) + ((reg & 2) ? 8 : 0); }
SJ_HD int sj_mma_c_col(int lane, int reg) { return 2 * (lane & 3) + (reg & 1); }

/* Hamming distance from the AND-popcount: |a xor b| = |a| + |b| - 2|a and b|. */
SJ_HD int sj_hamming_from_and(int popc_a, int popc_b, int popc_and)
{
    return popc_a + popc_b - 2 * popc_and;
}

/* The v3 kernel's tiling: a block of SJ_V3_WARPS warps in 2 x 2 covers
 * SJ_V3_BLOCK_Q queries x SJ_V3_BLOCK_C corpus rows; a warp covers
 * SJ_V3_M m-tiles of 16 queries x SJ_V3_N n-tiles of 8 corpus rows. */
#define SJ_V3_WARPS 4
#define SJ_V3_M 2
#define SJ_V3_N 4
#define SJ_V3_BLOCK_Q (2 * SJ_V3_M * 16)
#define SJ_V3_BLOCK_C (2 * SJ_V3_N * 8)

/* First query and corpus row of warp `warp` of block (bx, by). */
SJ_HD uint32_t sj_v3_warp_q(uint32_t by, int warp) { return by * SJ_V3_BLOCK_Q + (uint32_t)(warp >> 1) * (SJ_V3_M * 16); }
SJ_HD uint32_t sj_v3_warp_c(uint32_t bx, int warp) { return bx * SJ_V3_BLOCK_C + (uint32_t)(warp & 1) * (SJ_V3_N * 8); }

/* The v3 loaders read each lane's two words of a row as one 64-bit load.
 * The instruction sums over k, so any order of the 256 k-bits that A and B
 * share gives the same counts: a chunk's logical word w (the PTX layout's,
 * sj_mma_*_word) is read from data word sj_v3_data_word(w), which puts a
 * lane's logical words tig and tig + 4 at data words 2 tig and 2 tig + 1,
 * adjacent. Rows are zero padded to 8 words and k is a multiple of 8, so the
 * pair is 8-byte aligned. */
SJ_HD int sj_v3_data_word(int logical_word) { return (logical_word & 3) * 2 + (logical_word >> 2); }

/* Two adjacent words p[0], p[1] (p 8-byte aligned): one read-only 64-bit
 * load on the device, two plain loads on the host. */
SJ_HD void sj_ldg_u32x2(const uint32_t *p, uint32_t *lo, uint32_t *hi)
{
#ifdef __CUDA_ARCH__
    const uint2 v = __ldg((const uint2 *)p);
    *lo = v.x;
    *hi = v.y;
#else
    *lo = p[0];
    *hi = p[1];
#endif
}

/* Lane `lane`'s pointer into query rows [nq][words] for its A fragment of
 * the m-tile whose first query is q_first: row group (half 0) or group + 8
 * (half 1), at its word pair of chunk 0; rows past nq read row nq - 1 and
 * are never reported. Computed once per lane and advanced by 8 words a
 * chunk. */
SJ_HD const uint32_t *sj_v3_a_ptr(const uint32_t *queries, uint32_t q_first, uint32_t nq, int words,
                                  int lane, int half)
{
    const uint32_t row = sj_min_u32(q_first + (uint32_t)sj_mma_a_row(lane, half), nq - 1);
    return queries + (size_t)row * words + sj_v3_data_word(sj_mma_a_word(lane, half));
}

/* The same for its B fragment of the n-tile whose first corpus row is c_first. */
SJ_HD const uint32_t *sj_v3_b_ptr(const uint32_t *corpus, uint32_t c_first, uint32_t nc, int words,
                                  int lane)
{
    const uint32_t col = sj_min_u32(c_first + (uint32_t)sj_mma_b_col(lane, 0), nc - 1);
    return corpus + (size_t)col * words + sj_v3_data_word(sj_mma_b_word(lane, 0));
}

/* The A fragment at rows[] (the lane's pointers advanced to the chunk):
 * registers h and h + 2 (logical words tig and tig + 4 of row half h),
 * adjacent in memory but read as two 32-bit loads:
 * mma wants a0..a3 in four consecutive registers, rows g, g + 8, g, g + 8,
 * so a 64-bit load of (a0, a2) would cost register moves instead. */
SJ_HD void sj_v3_load_a(uint32_t a[4], const uint32_t *const rows[2])
{
    SJ_UNROLL
    for (int h = 0; h < 2; h++) {
        a[h] = sj_ldg_u32(rows[h]);
        a[h + 2] = sj_ldg_u32(rows[h] + 1);
    }
}

/* The B fragment at col (advanced to the chunk): both registers from one
 * 64-bit load, already in the order mma wants. */
SJ_HD void sj_v3_load_b(uint32_t b[2], const uint32_t *col)
{
    sj_ldg_u32x2(col, &b[0], &b[1]);
}

/* ---- the v3 epilogue ----------------------------------------------------------
 * With the AND count acc of a pair, Hamming d = pq + pc - 2 acc, so
 *     d <= T  <=>  2 acc - pc >= pq - T.
 * A lane's accumulators cover SJ_V3_M * 2 query rows and SJ_V3_N * 2 corpus
 * columns; their one-bit counts are loaded once per lane (12 loads for 32
 * candidates), the query side with T already subtracted, so each candidate
 * costs a shift-add and a compare. One vote per warp over all candidates
 * (sj_v3_lane_any, then __any_sync) decides whether the exact rule
 * (sj_v3_pair, sj_tile_keep) and the append run at all: rows past the tile
 * and the self-join order may pass the first test; they are dropped by the
 * second. */
typedef struct sj_v3_lane_popc {
    int32_t q_minus_t[SJ_V3_M][2]; /* pq - T of the lane's rows group, group + 8 of each m-tile */
    int32_t c[SJ_V3_N][2];         /* pc of its columns 2 tig, 2 tig + 1 of each n-tile */
} sj_v3_lane_popc;

SJ_HD int32_t sj_ldg_i32(const int32_t *p)
{
#ifdef __CUDA_ARCH__
    return __ldg(p);
#else
    return *p;
#endif
}

/* Accumulator register r of an m16n8 tile: which of the lane's two rows
 * (r >> 1: group, group + 8) and two columns (r & 1: 2 tig, 2 tig + 1). */
SJ_HD int sj_v3_acc_row_half(int r) { return r >> 1; }
SJ_HD int sj_v3_acc_col_half(int r) { return r & 1; }

/* The lane's popcounts for the warp tile at (q_warp, c_warp); rows past nq
 * or nc read the last row (never reported). */
SJ_HD void sj_v3_load_popc(sj_v3_lane_popc *p, const int32_t *query_popc, uint32_t q_warp,
                           uint32_t nq, const int32_t *corpus_popc, uint32_t c_warp, uint32_t nc,
                           int threshold, int lane)
{
    SJ_UNROLL
    for (int m = 0; m < SJ_V3_M; m++)
        SJ_UNROLL
        for (int h = 0; h < 2; h++) {
            const uint32_t q = q_warp + (uint32_t)(m * 16 + sj_mma_c_row(lane, 2 * h));
            p->q_minus_t[m][h] = sj_ldg_i32(query_popc + sj_min_u32(q, nq - 1)) - threshold;
        }
    SJ_UNROLL
    for (int n = 0; n < SJ_V3_N; n++)
        SJ_UNROLL
        for (int j = 0; j < 2; j++) {
            const uint32_t c = c_warp + (uint32_t)(n * 8 + sj_mma_c_col(lane, j));
            p->c[n][j] = sj_ldg_i32(corpus_popc + sj_min_u32(c, nc - 1));
        }
}

/* The first test of a candidate: Hamming <= T from its AND count. */
SJ_HD int sj_v3_within(int acc, int32_t q_minus_t, int32_t pc) { return 2 * acc - pc >= q_minus_t; }

/* Whether any of the lane's candidates passes the first test. */
SJ_HD int sj_v3_lane_any(int acc[SJ_V3_M][SJ_V3_N][4], const sj_v3_lane_popc *p)
{
    int any = 0;
    SJ_UNROLL
    for (int m = 0; m < SJ_V3_M; m++)
        SJ_UNROLL
        for (int n = 0; n < SJ_V3_N; n++)
            SJ_UNROLL
            for (int r = 0; r < 4; r++)
                any |= sj_v3_within(acc[m][n][r], p->q_minus_t[m][sj_v3_acc_row_half(r)],
                                    p->c[n][sj_v3_acc_col_half(r)]);
    return any;
}

/* Accumulator register r of m-tile m, n-tile n of lane `lane`: the pair's
 * launch rows *q, *c and its Hamming distance *d, from the lane's loaded
 * popcounts (no second load). */
SJ_HD void sj_v3_pair(uint32_t q_warp, uint32_t c_warp, int lane, int m, int n, int r, int acc,
                      const sj_v3_lane_popc *p, int threshold, uint32_t *q, uint32_t *c, int *d)
{
    *q = q_warp + (uint32_t)(m * 16 + sj_mma_c_row(lane, r));
    *c = c_warp + (uint32_t)(n * 8 + sj_mma_c_col(lane, r));
    const int pq = p->q_minus_t[m][sj_v3_acc_row_half(r)] + threshold;
    *d = sj_hamming_from_and(pq, p->c[n][sj_v3_acc_col_half(r)], acc);
}

/* ---- the fused epilogue ----------------------------------------------------- */

/* A pair (q, c) of the launch is reported when it is inside the tile, and in
 * a self-join only when the corpus row comes after the query row. Row numbers
 * q0 + q and c0 + c are global within the join. */
SJ_HD int sj_tile_keep(int64_t q0, uint32_t q, uint32_t nq, int64_t c0, uint32_t c, uint32_t nc,
                       int self, int d, int threshold)
{
    if (q >= nq || c >= nc || d > threshold)
        return 0;
    return !self || c0 + (int64_t)c > q0 + (int64_t)q;
}

/* Warp-aggregated append: the lanes with a hit (bits of `ballot`) write at
 * base + (number of hit lanes below them). */
SJ_HD int sj_warp_slot(uint32_t ballot, int lane)
{
    return sj_popc32(ballot & ((1u << lane) - 1u));
}

/* The lane that reserves the warp's slots: the lowest lane with a hit. */
SJ_HD int sj_warp_leader(uint32_t ballot) { return sj_ffs32(ballot) - 1; }

/* A hit is written only below the buffer's capacity; the counter always
 * advances, so the host sees the true count and redoes an overflowed tile
 * with a buffer that large. */
SJ_HD int sj_slot_fits(uint64_t slot, uint64_t capacity) { return slot < capacity; }

/* Where lane `lane` writes its hit, given the warp's ballot and the base the
 * leader reserved: base + (hit lanes below it), or SJ_NO_SLOT when it has no
 * hit or the slot is past the capacity. */
#define SJ_NO_SLOT (~(uint64_t)0)
SJ_HD uint64_t sj_warp_append_slot(int keep, uint32_t ballot, int lane, uint64_t base,
                                   uint64_t capacity)
{
    if (!keep)
        return SJ_NO_SLOT;
    const uint64_t slot = base + (uint64_t)sj_warp_slot(ballot, lane);
    return sj_slot_fits(slot, capacity) ? slot : SJ_NO_SLOT;
}

#endif
