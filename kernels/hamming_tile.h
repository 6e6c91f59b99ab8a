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

/* A hit is written only below the buffer's capacity; the counter always
 * advances, so the host sees the true count and redoes an overflowed tile
 * with a buffer that large. */
SJ_HD int sj_slot_fits(uint64_t slot, uint64_t capacity) { return slot < capacity; }

#endif
