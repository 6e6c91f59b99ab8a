/* hamming_cpu.c - CPU Hamming kernels: portable, scalar POPCNT, AVX2, AVX-512.
 *
 * All paths share one plan: the scheduler hands a block of queries; we walk
 * the corpus range in cache-sized tiles, and for each query of the block scan
 * the tile, so a tile is read from memory once per query block, not once per
 * query. Within a pair the first half of the words is summed first; if that
 * partial distance already exceeds T the pair cannot match and the rest is
 * skipped (exact: distances only grow). */
#include "hamming_cpu.h"

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

static int isa_group(sj_isa isa)
{
    return isa == SJ_ISA_AVX512 ? 8 : isa == SJ_ISA_AVX2 ? 4 : 1;
}

sj_status sj_packed_corpus_init(sj_packed_corpus *pc, sj_isa isa, const uint8_t *rows, int64_t n,
                                uint32_t bytes)
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
        uint64_t *row = W <= 1024 ? tmp : NULL;
        if (G == 1) {
            sj_pack_rows(rows + (size_t)i * bytes, 1, bytes, W, pc->w + i * W);
            continue;
        }
        if (!row) /* widths above 65536 bits are rejected at parse time */
            return sj_fail(SJ_ERR_INTERNAL, "hash too wide to pack");
        sj_pack_rows(rows + (size_t)i * bytes, 1, bytes, W, row);
        uint64_t *grp = pc->w + (i / G) * (int64_t)W * G;
        for (int w = 0; w < W; w++)
            grp[w * G + i % G] = row[w];
    }
    return SJ_OK;
}

void sj_packed_corpus_release(sj_packed_corpus *pc)
{
    free(pc->w);
    pc->w = NULL;
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

SJ_SCALAR_WRAPPER(block_portable, )
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

#ifdef SJ_X86
/* AVX2: 4 rows per group, popcount by nibble table (vpshufb), byte counts
 * summed per 64-bit lane with vpsadbw. Byte counters take at most 31 words
 * (31 * 8 = 248) before they are folded into 64-bit lanes. */
__attribute__((target("avx2,popcnt"))) static inline __m256i popcnt_bytes_avx2(__m256i x)
{
    const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1,
                                           2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0f);
    __m256i lo = _mm256_and_si256(x, low);
    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), low);
    return _mm256_add_epi8(_mm256_shuffle_epi8(table, lo), _mm256_shuffle_epi8(table, hi));
}

/* Sum of popcount(q[w] ^ grp[w][lane]) over words [w0, w1), per lane. */
__attribute__((target("avx2,popcnt"))) static inline __m256i
dist_avx2(const uint64_t *qi, const uint64_t *grp, int w0, int w1)
{
    __m256i total = _mm256_setzero_si256();
    for (int w = w0; w < w1;) {
        int stop = SJ_MIN(w1, w + 31);
        __m256i bytes = _mm256_setzero_si256();
        for (; w < stop; w++) {
            __m256i x = _mm256_xor_si256(_mm256_set1_epi64x((long long)qi[w]),
                                         _mm256_load_si256((const __m256i *)(grp + w * 4)));
            bytes = _mm256_add_epi8(bytes, popcnt_bytes_avx2(x));
        }
        total = _mm256_add_epi64(total, _mm256_sad_epu8(bytes, _mm256_setzero_si256()));
    }
    return total;
}

__attribute__((target("avx2,popcnt"))) static sj_status
block_avx2(const sj_packed_corpus *pc, const uint64_t *q, int64_t q0, int64_t nq, int64_t c0,
           int64_t c1, int32_t T, int self, sj_hits *out)
{
    const int W = pc->words, G = 4, P = (W + 1) / 2;
    const int64_t tile = tile_rows(W, G);
    const __m256i thr = _mm256_set1_epi64x(T);
    for (int64_t t0 = c0 - c0 % G; t0 < c1; t0 += tile) {
        const int64_t t1 = SJ_MIN(t0 + tile, c1);
        for (int64_t i = 0; i < nq; i++) {
            const uint64_t *qi = q + i * W;
            const int64_t gq = q0 + i;
            int64_t first = self ? SJ_MAX(t0, gq + 1) : SJ_MAX(t0, c0);
            for (int64_t g = first / G; g * G < t1; g++) {
                const uint64_t *grp = pc->w + g * (int64_t)W * G;
                __m256i d = dist_avx2(qi, grp, 0, P);
                /* lanes with d > T cannot match */
                unsigned over = (unsigned)_mm256_movemask_pd(_mm256_castsi256_pd(
                    _mm256_cmpgt_epi64(d, thr)));
                if (over == 0xf)
                    continue;
                d = _mm256_add_epi64(d, dist_avx2(qi, grp, P, W));
                unsigned hit = 0xf & ~(unsigned)_mm256_movemask_pd(_mm256_castsi256_pd(
                                         _mm256_cmpgt_epi64(d, thr)));
                if (hit) {
                    uint64_t dist[4];
                    _mm256_storeu_si256((__m256i *)dist, d);
                    sj_status st = emit_lanes(hit, dist, G, g, gq, c0, c1, self, out);
                    if (st)
                        return st;
                }
            }
        }
    }
    return SJ_OK;
}

/* AVX-512 VPOPCNTDQ: 8 rows per group, one vpopcntq per word. */
__attribute__((target("avx512f,avx512vpopcntdq"))) static inline __m512i
dist_avx512(const uint64_t *qi, const uint64_t *grp, int w0, int w1)
{
    __m512i d = _mm512_setzero_si512();
    for (int w = w0; w < w1; w++) {
        __m512i x = _mm512_xor_si512(_mm512_set1_epi64((long long)qi[w]),
                                     _mm512_load_si512((const void *)(grp + w * 8)));
        d = _mm512_add_epi64(d, _mm512_popcnt_epi64(x));
    }
    return d;
}

__attribute__((target("avx512f,avx512vpopcntdq"))) static sj_status
block_avx512(const sj_packed_corpus *pc, const uint64_t *q, int64_t q0, int64_t nq, int64_t c0,
             int64_t c1, int32_t T, int self, sj_hits *out)
{
    const int W = pc->words, G = 8, P = (W + 1) / 2;
    const int64_t tile = tile_rows(W, G);
    const __m512i thr = _mm512_set1_epi64(T);
    for (int64_t t0 = c0 - c0 % G; t0 < c1; t0 += tile) {
        const int64_t t1 = SJ_MIN(t0 + tile, c1);
        for (int64_t i = 0; i < nq; i++) {
            const uint64_t *qi = q + i * W;
            const int64_t gq = q0 + i;
            int64_t first = self ? SJ_MAX(t0, gq + 1) : SJ_MAX(t0, c0);
            for (int64_t g = first / G; g * G < t1; g++) {
                const uint64_t *grp = pc->w + g * (int64_t)W * G;
                __m512i d = dist_avx512(qi, grp, 0, P);
                if (!_mm512_cmple_epu64_mask(d, thr))
                    continue;
                d = _mm512_add_epi64(d, dist_avx512(qi, grp, P, W));
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
#endif /* SJ_X86 */

sj_hamming_block_fn sj_hamming_block_for(sj_isa isa)
{
    switch (isa) {
    case SJ_ISA_PORTABLE: return block_portable;
#ifdef SJ_X86
    case SJ_ISA_POPCNT: return block_popcnt;
    case SJ_ISA_AVX2: return block_avx2;
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
    /* Order measured in BENCHMARKS.md: avx512 > popcnt > avx2 > portable on
     * the machines we have; the scalar POPCNT path beats nibble tables when
     * the core has several popcount units. */
    if (sj_isa_supported(SJ_ISA_AVX512))
        return SJ_ISA_AVX512;
    if (sj_isa_supported(SJ_ISA_POPCNT))
        return SJ_ISA_POPCNT;
    if (sj_isa_supported(SJ_ISA_AVX2))
        return SJ_ISA_AVX2;
    return SJ_ISA_PORTABLE;
}
