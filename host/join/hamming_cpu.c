/* hamming_cpu.c - CPU Hamming kernels, one per ISA path:
 *   portable  bit-sliced filter on 128-bit generic vectors (plain C)
 *   popcnt    scalar POPCNT, one pair at a time, early exit
 *   avx2      bit-sliced filter on 256-bit vectors
 *   avx512    VPOPCNTDQ on 8 interleaved rows, early exit
 *
 * All paths share one plan: the scheduler hands a block of queries; we walk
 * the corpus range in cache-sized tiles, and for each query of the block scan
 * the tile, so a tile is read from memory once per query block, not once per
 * query. Every path first counts part of the bits and drops pairs whose
 * partial distance already exceeds T (exact: distances only grow); only the
 * survivors are counted in full. */
#include "join/hamming_cpu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define SJ_X86 1
#include <immintrin.h>
#endif

/* Corpus tile: about 32 KiB of words, so it stays in L1/L2 while a query
 * block scans it. */
static int64_t tile_rows(int words, int group)
{
    int64_t rows = 4096 / words;
    rows -= rows % group;
    return rows < group ? group : rows;
}

void sj_pack_rows(const uint8_t *rows, int64_t n, uint32_t bytes, int words, uint64_t *out)
{
    for (int64_t i = 0; i < n; i++) {
        uint64_t *dst = out + i * words;
        dst[words - 1] = 0;
        memcpy(dst, rows + (size_t)i * bytes, bytes);
    }
}

static int isa_group(sj_isa isa) { return isa == SJ_ISA_AVX512 ? 8 : 1; }

static int isa_lanes(sj_isa isa)
{
    return isa == SJ_ISA_PORTABLE ? 128 : isa == SJ_ISA_AVX2 ? 256 : 0;
}

int sj_bitslice_kbits(uint32_t bits, int32_t T, int lanes)
{
    /* Cost per block in vector operations: ~7 per plane (xor + adder tree),
     * ~100 per surviving lane (extract, a row fetch that often misses the
     * cache, exact popcount). Measured: BENCHMARKS.md "bit-sliced filter". */
    int kmax = (int)SJ_MIN(bits, 1016u) / 8 * 8, best = kmax;
    double best_cost = INFINITY;
    for (int k = 8; k <= kmax; k += 8) {
        double tail = 0; /* P(Binomial(k, 1/2) <= T) */
        for (int i = 0; i <= T && i <= k; i++)
            tail += exp(lgamma(k + 1.0) - lgamma(i + 1.0) - lgamma(k - i + 1.0) - k * M_LN2);
        double cost = 7.0 * k + 100.0 * lanes * SJ_MIN(tail, 1.0);
        if (cost < best_cost) {
            best_cost = cost;
            best = k;
        }
    }
    return best;
}

/* planes[b][j][w] bit l = bit j of row b*L + w*64 + l (rows from pc->w). */
static void pack_planes(sj_packed_corpus *pc)
{
    const int W = pc->words, K = pc->kbits, L = pc->lanes, WL = L / 64;
    const int64_t nb = (pc->n + L - 1) / L;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < nb; b++) {
        uint64_t *blk = pc->planes + b * (int64_t)K * WL;
        for (int64_t i = b * L; i < SJ_MIN((b + 1) * L, pc->n); i++) {
            const uint64_t *row = pc->w + i * W;
            const int word = (int)(i - b * L) / 64, bit = (int)(i - b * L) % 64;
            for (int j = 0; j < K; j++)
                blk[j * WL + word] |= ((row[j >> 6] >> (j & 63)) & 1) << bit;
        }
    }
}

sj_status sj_packed_corpus_init(sj_packed_corpus *pc, sj_isa isa, const uint8_t *rows, int64_t n,
                                uint32_t bytes, int32_t T)
{
    memset(pc, 0, sizeof *pc);
    pc->isa = isa;
    pc->words = (int)((bytes + 7) / 8);
    pc->group = isa_group(isa);
    pc->n = n;
    pc->n_pad = (n + pc->group - 1) / pc->group * pc->group;
    size_t total = (size_t)SJ_MAX(pc->n_pad, pc->group) * (size_t)pc->words * sizeof(uint64_t);
    total = (total + 63) / 64 * 64;
    pc->w = aligned_alloc(64, total);
    if (!pc->w)
        return sj_fail(SJ_ERR_NOMEM, "out of memory packing %lld corpus hashes", (long long)n);
    memset(pc->w, 0, total);
    const int W = pc->words, G = pc->group;
    uint64_t tmp[1024];
    for (int64_t i = 0; i < n; i++) {
        if (G == 1) {
            sj_pack_rows(rows + (size_t)i * bytes, 1, bytes, W, pc->w + i * W);
            continue;
        }
        if (W > 1024) /* widths above 65536 bits are rejected at parse time */
            return sj_fail(SJ_ERR_INTERNAL, "hash too wide to pack");
        sj_pack_rows(rows + (size_t)i * bytes, 1, bytes, W, tmp);
        uint64_t *grp = pc->w + (i / G) * (int64_t)W * G;
        for (int w = 0; w < W; w++)
            grp[w * G + i % G] = tmp[w];
    }
    pc->lanes = isa_lanes(isa);
    if (pc->lanes) {
        pc->kbits = sj_bitslice_kbits((uint32_t)W * 64 < bytes * 8 ? (uint32_t)W * 64 : bytes * 8,
                                      T, pc->lanes);
        int64_t nb = (n + pc->lanes - 1) / pc->lanes;
        size_t pbytes = (size_t)SJ_MAX(nb, 1) * (size_t)pc->kbits * (size_t)(pc->lanes / 8);
        pc->planes = aligned_alloc(64, (pbytes + 63) / 64 * 64);
        if (!pc->planes) {
            sj_packed_corpus_release(pc);
            return sj_fail(SJ_ERR_NOMEM, "out of memory packing %lld corpus hashes", (long long)n);
        }
        memset(pc->planes, 0, pbytes);
        pack_planes(pc);
    }
    return SJ_OK;
}

void sj_packed_corpus_release(sj_packed_corpus *pc)
{
    free(pc->w);
    free(pc->planes);
    pc->w = NULL;
    pc->planes = NULL;
}

/* ---- scalar paths: row-major, one pair at a time ------------------------ */

/* Kernel body for a compile-time word count W (0 = use `words`). Inlined
 * into the portable and popcnt wrappers, which differ only in target ISA. */
static inline __attribute__((always_inline)) sj_status
scalar_block(const int W_const, const sj_packed_corpus *pc, const uint64_t *q, int64_t q0,
             int64_t nq, int64_t c0, int64_t c1, int32_t T, int self, sj_hits *out)
{
    const int W = W_const ? W_const : pc->words;
    const int P = (W + 1) / 2; /* prefix words tested first */
    const int64_t tile = tile_rows(W, 1);
    for (int64_t t0 = c0; t0 < c1; t0 += tile) {
        const int64_t t1 = SJ_MIN(t0 + tile, c1);
        for (int64_t i = 0; i < nq; i++) {
            const uint64_t *qi = q + i * W;
            const int64_t gq = q0 + i;
            int64_t j = self ? SJ_MAX(t0, gq + 1) : t0;
            const uint64_t *c = pc->w + j * W;
            for (; j < t1; j++, c += W) {
                int32_t d = 0;
                for (int w = 0; w < P; w++)
                    d += __builtin_popcountll(qi[w] ^ c[w]);
                if (d > T)
                    continue;
                for (int w = P; w < W; w++)
                    d += __builtin_popcountll(qi[w] ^ c[w]);
                if (d <= T) {
                    sj_status st = sj_hits_push(out, gq, j, d);
                    if (st)
                        return st;
                }
            }
        }
    }
    return SJ_OK;
}

/* Dispatch to fixed-width copies of the body for the common widths. */
#define SJ_SCALAR_WRAPPER(name, attr)                                                            \
    static attr sj_status name(const sj_packed_corpus *pc, const uint64_t *q, int64_t q0,        \
                               int64_t nq, int64_t c0, int64_t c1, int32_t T, int self,          \
                               sj_hits *out)                                                     \
    {                                                                                            \
        switch (pc->words) {                                                                     \
        case 1: return scalar_block(1, pc, q, q0, nq, c0, c1, T, self, out);                     \
        case 2: return scalar_block(2, pc, q, q0, nq, c0, c1, T, self, out);                     \
        case 4: return scalar_block(4, pc, q, q0, nq, c0, c1, T, self, out);                     \
        default: return scalar_block(0, pc, q, q0, nq, c0, c1, T, self, out);                    \
        }                                                                                        \
    }

#ifdef SJ_X86
SJ_SCALAR_WRAPPER(block_popcnt, __attribute__((target("popcnt"))))
#endif

/* ---- vector paths: interleaved groups of G rows ------------------------- */

/* Report the lanes of group g whose distance is <= T. dist[G] holds them. */
static inline __attribute__((always_inline)) sj_status
emit_lanes(unsigned mask, const uint64_t *dist, int G, int64_t g, int64_t gq, int64_t c0,
           int64_t c1, int self, sj_hits *out)
{
    while (mask) {
        int lane = __builtin_ctz(mask);
        mask &= mask - 1;
        int64_t c = g * G + lane;
        if (c < c0 || c >= c1 || (self && c <= gq))
            continue;
        sj_status st = sj_hits_push(out, gq, c, (int32_t)dist[lane]);
        if (st)
            return st;
    }
    return SJ_OK;
}

/* ---- bit-sliced filter paths ------------------------------------------- */

#define BS_NAME block_bitslice128
#define BS_BODY block_bitslice128_body
#define BS_V sj_v128
#define BS_VBYTES 16
#define BS_TARGET
#include "join/hamming_bitslice.inc"

#ifdef SJ_X86
#define BS_NAME block_bitslice256
#define BS_BODY block_bitslice256_body
#define BS_V sj_v256
#define BS_VBYTES 32
#define BS_TARGET __attribute__((target("avx2,popcnt")))
#include "join/hamming_bitslice.inc"

/* AVX-512 VPOPCNTDQ: 8 rows per group, one vpopcntq per word; qb[w]: the
 * query's word w in every lane. */
__attribute__((target("avx512f,avx512vpopcntdq"))) static inline __m512i
dist_avx512(const __m512i *qb, const uint64_t *grp, int w0, int w1)
{
    __m512i d = _mm512_setzero_si512();
    for (int w = w0; w < w1; w++) {
        __m512i x = _mm512_xor_si512(qb[w], _mm512_load_si512((const void *)(grp + w * 8)));
        d = _mm512_add_epi64(d, _mm512_popcnt_epi64(x));
    }
    return d;
}

/* W: words per row. Inlined with W = 4 (PDQ) as a constant, the word loops
 * unroll and the query's broadcasts stay in registers across its groups. */
__attribute__((target("avx512f,avx512vpopcntdq"), always_inline)) static inline sj_status
block_avx512_body(const sj_packed_corpus *pc, const uint64_t *q, int64_t q0, int64_t nq, int64_t c0,
                  int64_t c1, int32_t T, int self, sj_hits *out, const int W)
{
    const int G = 8, P = (W + 1) / 2;
    const int64_t tile = tile_rows(W, G);
    const __m512i thr = _mm512_set1_epi64(T);
    for (int64_t t0 = c0 - c0 % G; t0 < c1; t0 += tile) {
        const int64_t t1 = SJ_MIN(t0 + tile, c1);
        for (int64_t i = 0; i < nq; i++) {
            const uint64_t *qi = q + i * W;
            const int64_t gq = q0 + i;
            int64_t first = self ? SJ_MAX(t0, gq + 1) : SJ_MAX(t0, c0);
            __m512i qb[W];
            for (int w = 0; w < W; w++)
                qb[w] = _mm512_set1_epi64((long long)qi[w]);
            const uint64_t *words = pc->w; /* loaded once: out's writes cannot move it */
            for (int64_t g = first / G; g * G < t1; g++) {
                const uint64_t *grp = words + g * (int64_t)W * G;
                __m512i d = dist_avx512(qb, grp, 0, P);
                if (!_mm512_cmple_epu64_mask(d, thr))
                    continue;
                d = _mm512_add_epi64(d, dist_avx512(qb, grp, P, W));
                unsigned hit = _mm512_cmple_epu64_mask(d, thr);
                if (hit) {
                    uint64_t dist[8];
                    _mm512_storeu_si512((void *)dist, d);
                    sj_status st = emit_lanes(hit, dist, G, g, gq, c0, c1, self, out);
                    if (st)
                        return st;
                }
            }
        }
    }
    return SJ_OK;
}

__attribute__((target("avx512f,avx512vpopcntdq"))) static sj_status
block_avx512(const sj_packed_corpus *pc, const uint64_t *q, int64_t q0, int64_t nq, int64_t c0,
             int64_t c1, int32_t T, int self, sj_hits *out)
{
    if (pc->words == 4)
        return block_avx512_body(pc, q, q0, nq, c0, c1, T, self, out, 4);
    return block_avx512_body(pc, q, q0, nq, c0, c1, T, self, out, pc->words);
}
#endif /* SJ_X86 */

sj_hamming_block_fn sj_hamming_block_for(sj_isa isa)
{
    switch (isa) {
    case SJ_ISA_PORTABLE: return block_bitslice128;
#ifdef SJ_X86
    case SJ_ISA_POPCNT: return block_popcnt;
    case SJ_ISA_AVX2: return block_bitslice256;
    case SJ_ISA_AVX512: return block_avx512;
#endif
    default: return NULL;
    }
}

/* ---- ISA names and detection ---- */

const char *sj_isa_name(sj_isa isa)
{
    switch (isa) {
    case SJ_ISA_AUTO: return "auto";
    case SJ_ISA_PORTABLE: return "portable";
    case SJ_ISA_POPCNT: return "popcnt";
    case SJ_ISA_AVX2: return "avx2";
    case SJ_ISA_AVX512: return "avx512";
    }
    return "unknown";
}

sj_status sj_isa_parse(const char *text, sj_isa *out)
{
    for (int i = SJ_ISA_AUTO; i <= SJ_ISA_AVX512; i++)
        if (strcmp(text, sj_isa_name((sj_isa)i)) == 0) {
            *out = (sj_isa)i;
            return SJ_OK;
        }
    return sj_fail(SJ_ERR_ARG, "unknown --isa '%s' (auto, portable, popcnt, avx2, avx512)", text);
}

int sj_isa_supported(sj_isa isa)
{
    switch (isa) {
    case SJ_ISA_AUTO:
    case SJ_ISA_PORTABLE: return 1;
#ifdef SJ_X86
    case SJ_ISA_POPCNT: return __builtin_cpu_supports("popcnt");
    case SJ_ISA_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
    case SJ_ISA_AVX512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq");
#endif
    default: return 0;
    }
}

sj_isa sj_isa_best(void)
{
    /* Fastest first, as measured in BENCHMARKS.md: the bit-sliced AVX2
     * filter beats scalar POPCNT by 2.5x on Zen 3; VPOPCNTDQ counts 8 rows
     * per instruction where the CPU has it. */
    if (sj_isa_supported(SJ_ISA_AVX512))
        return SJ_ISA_AVX512;
    if (sj_isa_supported(SJ_ISA_AVX2))
        return SJ_ISA_AVX2;
    return SJ_ISA_PORTABLE; /* the bit-sliced filter in plain C beats scalar POPCNT too */
}
