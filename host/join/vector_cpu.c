/* vector_cpu.c - our CPU path for vector kinds (photodna, u8:D, f32:D).
 *
 * l2sq, cosine, ip: rows as float [n][ld] (ld = D rounded up to 8, zero
 * padded); an 8 x 1 register block of dot products (eight queries against
 * one corpus row: 8 accumulators of 8 floats) over a corpus block that stays
 * in L2; the approximate distances of the block are held against T + margin
 * in one vector compare and the candidates are decided by the reference
 * (vector.h). l1 on uint8 is exact in int32 and needs no recheck.
 * One body, compiled twice: for AVX2+FMA and for the baseline, picked at run
 * time (--isa portable forces the baseline). compare() is thread-safe.
 *
 * l2sq on uint8 rows (photodna, u8:D) with AVX-512 VNNI: exact integer dot
 * products, no margin and no recheck (u8_l2sq_vnni below). */
#include "join/vector.h"

#include <immintrin.h>

/* The 32-byte vectors only cross always_inline boundaries: no ABI is involved. */
#pragma GCC diagnostic ignored "-Wpsabi"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef float v8sf __attribute__((vector_size(32)));

typedef struct vec_state {
    sj_vec_join v;
    int ld;              /* floats per converted row */
    int use_avx2;
    const uint8_t *rows; /* corpus rows [n, bytes], borrowed until close */
    int64_t n;
    float *f;            /* [n + 1][ld] converted corpus; row n is zeros; owned */
    double *norm;        /* [n] |row|; owned */
    float *normf;        /* [n] the same in float, for the vector test; owned */
    /* AVX-512 VNNI path (u8 kinds, l2sq): the corpus interleaved in groups
     * of 16 rows, [groups][steps][16 rows][4 bytes], steps = ceil(D / 4),
     * zero padded; per row |c|^2 and 128 * sum(c), [groups * 16]. Owned. */
    int use_vnni;
    int steps;
    uint8_t *ilv;
    int32_t *csq, *csum128;
    /* Outer-product float path (AVX-512; AVX2 with --outer, see below): the
     * converted corpus interleaved [groups][D][16] floats, zero rows past n;
     * norm and normf then have groups * 16 entries (zero past n). Owned. */
    int outer;   /* 0 off, 8 or 16: floats per vector of the path */
    float *ilvf;
} vec_state;

enum { CORPUS_BLOCK = 512 }; /* rows: 512 x 144 floats = 288 KiB, in L2 */

static inline __attribute__((always_inline)) v8sf load8(const float *p)
{
    v8sf x;
    memcpy(&x, p, sizeof x);
    return x;
}

/* The 8 totals of 8 accumulators, lane l = sum of acc[l]: three rounds of
 * pairwise shuffles and adds (about 2.6 operations a pair instead of a
 * horizontal sum each). */
static inline __attribute__((always_inline)) v8sf reduce8(const v8sf *acc)
{
    v8sf u[4], w[2];
    for (int k = 0; k < 4; k++)
        u[k] = __builtin_shufflevector(acc[2 * k], acc[2 * k + 1], 0, 8, 2, 10, 4, 12, 6, 14) +
               __builtin_shufflevector(acc[2 * k], acc[2 * k + 1], 1, 9, 3, 11, 5, 13, 7, 15);
    for (int k = 0; k < 2; k++)
        w[k] = __builtin_shufflevector(u[2 * k], u[2 * k + 1], 0, 1, 8, 9, 4, 5, 12, 13) +
               __builtin_shufflevector(u[2 * k], u[2 * k + 1], 2, 3, 10, 11, 6, 7, 14, 15);
    return __builtin_shufflevector(w[0], w[1], 0, 1, 2, 3, 8, 9, 10, 11) +
           __builtin_shufflevector(w[0], w[1], 4, 5, 6, 7, 12, 13, 14, 15);
}

/* Queries qf [nq_pad][ld] (nq_pad a multiple of 8, zero rows past nq), their
 * norms qn (double) and qnf (float, [nq_pad]), against corpus rows [c0, c1).
 * An 8 x 1 block: eight queries against one corpus row, 8 accumulators, so
 * each corpus row is read once per eight queries (from L2) and the queries
 * stay in L1; lane r of the reduced vector is (query i+r, corpus j). A vector
 * test drops the block unless some lane may be within the margin of T (the
 * test's own float rounding is covered by 8u of the magnitudes); those lanes
 * get the double-precision test and the reference. */
static inline __attribute__((always_inline)) sj_status
tiles_body(const vec_state *s, const float *qf, const double *qn, const float *qnf,
           const uint8_t *qrows, int64_t q0, int64_t nq, int64_t c0, int64_t c1, int self,
           sj_hits *out)
{
    typedef int v8si __attribute__((vector_size(32)));
    const int ld = s->ld, metric = (int)s->v.metric;
    const double T = s->v.threshold;
    const float Tf = (float)T, g = (float)s->v.gamma, u8 = 8.0f / 16777216.0f,
                aT = Tf < 0 ? -Tf : Tf;
    const float gc = metric == SJ_METRIC_COSINE ? g : 0.0f, gi = g - gc;
    for (int64_t cb = c0; cb < c1; cb += CORPUS_BLOCK) {
        const int64_t ce = cb + CORPUS_BLOCK < c1 ? cb + CORPUS_BLOCK : c1;
        for (int64_t i = 0; i < nq; i += 8) {
            const float *a = qf + (size_t)i * (size_t)ld;
            const v8sf qa = load8(qnf + i);
            int64_t j = cb;
            if (self && j <= q0 + i) /* nothing at or before the block's first query */
                j = q0 + i + 1;
            for (; j < ce; j++) {
                const float *b = s->f + (size_t)j * (size_t)ld;
                v8sf acc[8] = {0};
                for (int k = 0; k < ld; k += 8) {
                    const v8sf y = load8(b + k);
                    for (int r = 0; r < 8; r++)
                        acc[r] += load8(a + (size_t)r * (size_t)ld + k) * y;
                }
                const v8sf dot = reduce8(acc);
                const float nb = s->normf[j];
                v8sf approx, margin;
                if (metric == SJ_METRIC_L2SQ) {
                    const v8sf mag = qa * qa + nb * nb;
                    approx = mag - 2.0f * dot;
                    margin = 2.0f * g * nb * qa + u8 * (mag + aT);
                } else {
                    approx = 1.0f - dot;
                    margin = gc + gi * nb * qa + u8 * (1.0f + aT);
                }
                const v8si maybe = approx <= Tf + margin;
                v8si m = maybe | __builtin_shufflevector(maybe, maybe, 4, 5, 6, 7, 0, 1, 2, 3);
                m |= __builtin_shufflevector(m, m, 2, 3, 0, 1, 6, 7, 4, 5);
                m |= __builtin_shufflevector(m, m, 1, 0, 3, 2, 5, 4, 7, 6);
                if (!m[0]) /* no lane near T: the common case */
                    continue;
                for (int r = 0; r < 8 && i + r < nq; r++) {
                    int64_t q = i + r;
                    if (!maybe[r] || (self && j <= q0 + q))
                        continue;
                    double d = sj_vec_approx(&s->v, (double)dot[r], qn[q], s->norm[j]);
                    if (d > T + sj_vec_margin(&s->v, qn[q], s->norm[j]))
                        continue;
                    sj_status st = sj_vec_decide(&s->v, qrows + (size_t)q * s->v.bytes,
                                                 s->rows + (size_t)j * s->v.bytes, q0 + q, j, out);
                    if (st)
                        return st;
                }
            }
        }
    }
    return SJ_OK;
}

/* l1 on uint8 rows: exact. */
static inline __attribute__((always_inline)) sj_status
l1_body(const vec_state *s, const uint8_t *qrows, int64_t q0, int64_t nq, int64_t c0, int64_t c1,
        int self, sj_hits *out)
{
    const uint32_t D = s->v.bytes;
    const int64_t T = (int64_t)s->v.threshold;
    for (int64_t cb = c0; cb < c1; cb += CORPUS_BLOCK) {
        const int64_t ce = cb + CORPUS_BLOCK < c1 ? cb + CORPUS_BLOCK : c1;
        for (int64_t q = 0; q < nq; q++) {
            const uint8_t *a = qrows + (size_t)q * D;
            for (int64_t c = self && cb <= q0 + q ? q0 + q + 1 : cb; c < ce; c++) {
                const uint8_t *b = s->rows + (size_t)c * D;
                int32_t d = 0;
                for (uint32_t k = 0; k < D; k++) {
                    int32_t x = (int32_t)a[k] - (int32_t)b[k];
                    d += x < 0 ? -x : x;
                }
                if (d <= T) {
                    sj_status st = sj_hits_push(out, q0 + q, c, (double)d);
                    if (st)
                        return st;
                }
            }
        }
    }
    return SJ_OK;
}


/* ---- float dot products as outer products ----------------------------------
 * The corpus is interleaved in groups of 16 rows, [groups][D][16] floats: for
 * dimension k one 64-byte line holds component k of 16 rows. R queries each
 * broadcast their component k into a multiply-add with that line, so every
 * accumulator lane is one (query, corpus row) dot product, summed in
 * dimension order: no horizontal sums, one load of the corpus per R queries.
 * The margin (any summation order) and the reference decide the candidates,
 * as in tiles_body. W floats per vector (16: AVX-512, 8: AVX2), 16 / W
 * vectors a group, R queries a block (accumulators: R * 16 / W). */
#define OUTER_FN(NAME, TARGET, W, R)                                                              \
    __attribute__((target(TARGET))) static sj_status NAME(                                       \
        const vec_state *s, const float *qf, const double *qn, const float *qnf,                \
        const uint8_t *qrows, int64_t q0, int64_t nq, int64_t c0, int64_t c1, int self,          \
        sj_hits *out)                                                                            \
    {                                                                                            \
        typedef float vf __attribute__((vector_size(4 * (W))));                                 \
        typedef int vi __attribute__((vector_size(4 * (W))));                                   \
        enum { VPG = 16 / (W) };                                                                 \
        const int ld = s->ld, metric = (int)s->v.metric;                                         \
        const int64_t D = s->v.dim;                                                              \
        const double T = s->v.threshold;                                                         \
        const float Tf = (float)T, g = (float)s->v.gamma, u8 = 8.0f / 16777216.0f,             \
                    aT = Tf < 0 ? -Tf : Tf;                                                      \
        const float gc = metric == SJ_METRIC_COSINE ? g : 0.0f, gi = g - gc;                    \
        const int64_t g_end = (c1 + 15) / 16;                                                    \
        for (int64_t gb = c0 / 16; gb < g_end; gb += CORPUS_BLOCK / 16) {                        \
            const int64_t gb_end = SJ_MIN(gb + CORPUS_BLOCK / 16, g_end);                        \
            for (int64_t i = 0; i < nq; i += (R)) {                                              \
                const float *a = qf + (size_t)i * (size_t)ld;                                    \
                for (int64_t grp = gb; grp < gb_end; grp++) {                                    \
                    const int64_t first = grp * 16;                                              \
                    if (self && first + 15 <= q0 + i)                                            \
                        continue;                                                                \
                    vf acc[R][VPG];                                                              \
                    _Pragma("GCC unroll 16") for (int r = 0; r < (R); r++)                       \
                        _Pragma("GCC unroll 2") for (int v = 0; v < VPG; v++) acc[r][v] = (vf){0}; \
                    const float *cg = s->ilvf + (size_t)grp * (size_t)D * 16;                    \
                    for (int64_t k = 0; k < D; k++) {                                            \
                        vf c[VPG];                                                               \
                        _Pragma("GCC unroll 2") for (int v = 0; v < VPG; v++)                    \
                            memcpy(&c[v], cg + k * 16 + v * (W), sizeof c[v]);                   \
                        _Pragma("GCC unroll 16") for (int r = 0; r < (R); r++) {                 \
                            const float x = a[(size_t)r * (size_t)ld + (size_t)k];               \
                            _Pragma("GCC unroll 2") for (int v = 0; v < VPG; v++)                \
                                acc[r][v] += c[v] * x;                                           \
                        }                                                                        \
                    }                                                                            \
                    for (int v = 0; v < VPG; v++) {                                              \
                        const int64_t base = first + v * (W);                                    \
                        vf nb;                                                                   \
                        memcpy(&nb, s->normf + base, sizeof nb);                                 \
                        for (int r = 0; r < (R) && i + r < nq; r++) {                            \
                            const int64_t q = i + r;                                             \
                            const float qa = qnf[q];                                             \
                            vf approx, margin;                                                   \
                            if (metric == SJ_METRIC_L2SQ) {                                      \
                                const vf mag = qa * qa + nb * nb;                                \
                                approx = mag - 2.0f * acc[r][v];                                 \
                                margin = 2.0f * g * qa * nb + u8 * (mag + aT);                   \
                            } else {                                                             \
                                approx = 1.0f - acc[r][v];                                       \
                                margin = gc + gi * qa * nb + u8 * (1.0f + aT);                   \
                            }                                                                    \
                            const vi maybe = approx <= Tf + margin;                              \
                            vi any = maybe;                                                      \
                            int hit = 0;                                                         \
                            for (int l = 0; l < (W); l++)                                        \
                                hit |= any[l];                                                   \
                            if (!hit)                                                            \
                                continue;                                                        \
                            for (int l = 0; l < (W); l++) {                                      \
                                const int64_t j = base + l;                                      \
                                if (!maybe[l] || j < c0 || j >= c1 || (self && j <= q0 + q))     \
                                    continue;                                                    \
                                double d = sj_vec_approx(&s->v, (double)acc[r][v][l], qn[q],     \
                                                         s->norm[j]);                            \
                                if (d > T + sj_vec_margin(&s->v, qn[q], s->norm[j]))             \
                                    continue;                                                    \
                                sj_status st = sj_vec_decide(&s->v, qrows + (size_t)q * s->v.bytes, \
                                                             s->rows + (size_t)j * s->v.bytes,   \
                                                             q0 + q, j, out);                    \
                                if (st)                                                          \
                                    return st;                                                   \
                            }                                                                    \
                        }                                                                        \
                    }                                                                            \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
        return SJ_OK;                                                                            \
    }

OUTER_FN(outer_avx512, "avx512f", 16, 16)
OUTER_FN(outer_avx2, "avx2,fma", 8, 6)

/* The interleaved float corpus (s->rows, s->n set): 16 rows at a time
 * through sj_vec_to_float. */
static sj_status outer_load(vec_state *s)
{
    const int64_t groups = (s->n + 15) / 16;
    const size_t D = s->v.dim;
    s->ilvf = aligned_alloc(64, (size_t)SJ_MAX(groups, 1) * D * 16 * sizeof(float) + 64);
    s->norm = calloc((size_t)SJ_MAX(groups, 1) * 16, sizeof *s->norm);
    s->normf = calloc((size_t)SJ_MAX(groups, 1) * 16, sizeof *s->normf);
    float *buf = malloc((size_t)16 * (size_t)s->ld * sizeof *buf);
    if (!s->ilvf || !s->norm || !s->normf || !buf) {
        free(buf);
        return sj_fail(SJ_ERR_NOMEM, "out of memory for %lld vectors", (long long)s->n);
    }
    for (int64_t grp = 0; grp < groups; grp++) {
        const int64_t first = grp * 16, rows = SJ_MIN(16, s->n - first);
        memset(buf, 0, (size_t)16 * (size_t)s->ld * sizeof *buf);
        sj_vec_to_float(&s->v, s->rows + (size_t)first * s->v.bytes, rows, s->ld, buf,
                        s->norm + first);
        float *dst = s->ilvf + (size_t)grp * D * 16;
        for (size_t k = 0; k < D; k++)
            for (int l = 0; l < 16; l++)
                dst[k * 16 + (size_t)l] = buf[(size_t)l * (size_t)s->ld + k];
    }
    for (int64_t j = 0; j < s->n; j++)
        s->normf[j] = (float)s->norm[j];
    free(buf);
    return SJ_OK;
}

__attribute__((target("avx2,fma"))) static sj_status
tiles_avx2(const vec_state *s, const float *qf, const double *qn, const float *qnf,
           const uint8_t *qrows, int64_t q0, int64_t nq, int64_t c0, int64_t c1, int self,
           sj_hits *out)
{
    return tiles_body(s, qf, qn, qnf, qrows, q0, nq, c0, c1, self, out);
}

static sj_status tiles_base(const vec_state *s, const float *qf, const double *qn,
                            const float *qnf, const uint8_t *qrows, int64_t q0, int64_t nq,
                            int64_t c0, int64_t c1, int self, sj_hits *out)
{
    return tiles_body(s, qf, qn, qnf, qrows, q0, nq, c0, c1, self, out);
}

__attribute__((target("avx2"))) static sj_status l1_avx2(const vec_state *s, const uint8_t *qrows,
                                                         int64_t q0, int64_t nq, int64_t c0,
                                                         int64_t c1, int self, sj_hits *out)
{
    return l1_body(s, qrows, q0, nq, c0, c1, self, out);
}

static sj_status l1_base(const vec_state *s, const uint8_t *qrows, int64_t q0, int64_t nq,
                         int64_t c0, int64_t c1, int self, sj_hits *out)
{
    return l1_body(s, qrows, q0, nq, c0, c1, self, out);
}


/* ---- l2sq on uint8 rows with AVX-512 VNNI ----------------------------------
 * VPDPBUSD adds four u8 x s8 products into each int32 lane. The corpus is
 * the u8 side, interleaved so that one 64-byte vector holds the same four
 * bytes of 16 rows; each query is shifted to s8 (q' = q - 128) and its four
 * bytes broadcast, so lane j accumulates <q', c_j> with no horizontal sum:
 *   <q, c> = <q', c> + 128 sum(c),   l2sq = |q|^2 + |c|^2 - 2 <q, c>,
 * all exact in int32 for D <= VNNI_MAX_DIM (255^2 D < 2^31). A block is 16
 * queries (16 accumulators) against a 16-row group, over a corpus block
 * that stays in L2. */
enum { VNNI_MAX_DIM = 33025, VNNI_QUERIES = 16 };

static int vnni_applies(sj_hash_type t, sj_metric m, sj_isa isa)
{
    return t.kind != SJ_KIND_F32 && m == SJ_METRIC_L2SQ && t.dim <= VNNI_MAX_DIM &&
           (isa == SJ_ISA_AUTO || isa == SJ_ISA_AVX512) && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
}

static int avx2_applies(sj_isa isa)
{
    return isa != SJ_ISA_PORTABLE && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* The outer-product float path's vector width for (t, m, isa), 0 for none:
 * AVX-512 for every float metric but l1 where the CPU has it (and the u8
 * kinds do not take VNNI). SIMJOIN_VEC_OUTER=8 forces the AVX2 build of it
 * and =0 turns it off (for A/B measurements; BENCHMARKS.md). */
static int outer_width(sj_hash_type t, sj_metric m, sj_isa isa)
{
    if (m == SJ_METRIC_L1 || vnni_applies(t, m, isa))
        return 0;
    const char *force = getenv("SIMJOIN_VEC_OUTER");
    if (force && (!strcmp(force, "0") || (!strcmp(force, "8") && !avx2_applies(isa))))
        return 0;
    if (force && !strcmp(force, "8"))
        return 8;
    return (isa == SJ_ISA_AUTO || isa == SJ_ISA_AVX512) && __builtin_cpu_supports("avx512f") ? 16 : 0;
}

const char *sj_vec_cpu_path_name(sj_hash_type t, sj_metric m, sj_isa isa)
{
    __builtin_cpu_init();
    int outer = outer_width(t, m, isa);
    return vnni_applies(t, m, isa) ? "avx512-vnni"
           : outer == 16           ? "avx512"
           : outer == 8            ? "avx2-outer"
           : avx2_applies(isa)     ? "avx2"
                                   : "portable";
}

/* The interleaved corpus and its per-row terms (s->rows, s->n set). */
static sj_status vnni_load(vec_state *s)
{
    const int64_t groups = (s->n + 15) / 16;
    const size_t ilv_bytes = (size_t)SJ_MAX(groups, 1) * (size_t)s->steps * 64;
    s->ilv = aligned_alloc(64, ilv_bytes);
    s->csq = calloc((size_t)SJ_MAX(groups, 1) * 16, sizeof *s->csq);
    s->csum128 = calloc((size_t)SJ_MAX(groups, 1) * 16, sizeof *s->csum128);
    if (!s->ilv || !s->csq || !s->csum128)
        return sj_fail(SJ_ERR_NOMEM, "out of memory for %lld vectors", (long long)s->n);
    memset(s->ilv, 0, ilv_bytes);
    const uint32_t D = s->v.dim;
    for (int64_t j = 0; j < s->n; j++) {
        const uint8_t *row = s->rows + (size_t)j * D;
        uint8_t *group = s->ilv + (size_t)(j / 16) * (size_t)s->steps * 64 + (size_t)(j % 16) * 4;
        int32_t sq = 0, sum = 0;
        for (uint32_t k = 0; k < D; k++) {
            group[(size_t)(k / 4) * 64 + k % 4] = row[k];
            sq += (int32_t)row[k] * row[k];
            sum += row[k];
        }
        s->csq[j] = sq;
        s->csum128[j] = 128 * sum;
    }
    return SJ_OK;
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static sj_status
u8_l2sq_vnni(const vec_state *s, const uint8_t *qrows, int64_t q0, int64_t nq, int64_t c0,
             int64_t c1, int self, sj_hits *out)
{
    const uint32_t D = s->v.dim;
    const int steps = s->steps;
    const int64_t nq_pad = (nq + VNNI_QUERIES - 1) / VNNI_QUERIES * VNNI_QUERIES;
    /* Queries as s8 [nq_pad][4 steps] (q ^ 0x80 = q - 128; padding 0), |q|^2. */
    int8_t *qs = calloc((size_t)SJ_MAX(nq_pad, 1) * (size_t)steps * 4, 1);
    int32_t *qsq = calloc((size_t)SJ_MAX(nq_pad, 1), sizeof *qsq);
    if (!qs || !qsq) {
        free(qs);
        free(qsq);
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    }
    for (int64_t q = 0; q < nq; q++)
        for (uint32_t k = 0; k < D; k++) {
            uint8_t x = qrows[(size_t)q * D + k];
            qs[(size_t)q * (size_t)steps * 4 + k] = (int8_t)(x ^ 0x80);
            qsq[q] += (int32_t)x * x;
        }
    const double T = s->v.threshold;
    const __m512i t = _mm512_set1_epi32(T >= 2147483647.0 ? 2147483647 : (int32_t)floor(T));
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    sj_status st = SJ_OK;
    const int64_t g_end = (c1 + 15) / 16;
    for (int64_t gb = c0 / 16; gb < g_end && !st; gb += CORPUS_BLOCK / 16) {
        const int64_t gb_end = SJ_MIN(gb + CORPUS_BLOCK / 16, g_end);
        for (int64_t i = 0; i < nq && !st; i += VNNI_QUERIES) {
            const int8_t *qb = qs + (size_t)i * (size_t)steps * 4;
            for (int64_t g = gb; g < gb_end && !st; g++) {
                const int64_t first = g * 16; /* corpus row of lane 0 */
                if (self && first + 15 <= q0 + i)
                    continue; /* every row of the group precedes every query */
                __m512i acc[VNNI_QUERIES];
                for (int r = 0; r < VNNI_QUERIES; r++)
                    acc[r] = _mm512_setzero_si512();
                const uint8_t *cg = s->ilv + (size_t)g * (size_t)steps * 64;
                for (int k = 0; k < steps; k++) {
                    const __m512i c = _mm512_load_si512((const void *)(cg + (size_t)k * 64));
                    for (int r = 0; r < VNNI_QUERIES; r++) {
                        int32_t q4;
                        memcpy(&q4, qb + ((size_t)r * (size_t)steps + (size_t)k) * 4, 4);
                        acc[r] = _mm512_dpbusd_epi32(acc[r], c, _mm512_set1_epi32(q4));
                    }
                }
                const __m512i rows = _mm512_add_epi32(_mm512_set1_epi32((int32_t)first), lane);
                const __mmask16 in_range =
                    _mm512_cmpge_epi32_mask(rows, _mm512_set1_epi32((int32_t)SJ_MAX(c0, first))) &
                    _mm512_cmplt_epi32_mask(rows, _mm512_set1_epi32((int32_t)SJ_MIN(c1, first + 16)));
                const __m512i corr = _mm512_loadu_si512((const void *)(s->csum128 + first));
                const __m512i csq = _mm512_loadu_si512((const void *)(s->csq + first));
                for (int r = 0; r < VNNI_QUERIES && i + r < nq; r++) {
                    const int64_t q = i + r;
                    const __m512i dot = _mm512_add_epi32(acc[r], corr);
                    const __m512i d = _mm512_sub_epi32(
                        _mm512_add_epi32(_mm512_set1_epi32(qsq[q]), csq), _mm512_slli_epi32(dot, 1));
                    __mmask16 hit = _mm512_mask_cmple_epi32_mask(in_range, d, t);
                    if (self)
                        hit &= _mm512_cmpgt_epi32_mask(rows, _mm512_set1_epi32((int32_t)(q0 + q)));
                    if (!hit)
                        continue;
                    int32_t dist[16];
                    _mm512_storeu_si512((void *)dist, d);
                    for (unsigned m = hit; m && !st; m &= m - 1) {
                        int l = __builtin_ctz(m);
                        st = sj_hits_push(out, q0 + q, first + l, (double)dist[l]);
                    }
                }
            }
        }
    }
    free(qs);
    free(qsq);
    return st;
}

static sj_status vec_open(const sj_join_config *cfg, sj_hash_type type, void **state)
{
    vec_state *s = calloc(1, sizeof *s);
    if (!s)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    sj_vec_join_init(&s->v, cfg, type);
    s->ld = (int)((type.dim + 7) / 8 * 8);
    __builtin_cpu_init();
    s->use_avx2 = avx2_applies(cfg->isa);
    s->use_vnni = vnni_applies(type, s->v.metric, cfg->isa);
    s->outer = outer_width(type, s->v.metric, cfg->isa);
    s->steps = (int)((type.dim + 3) / 4);
    *state = s;
    return SJ_OK;
}

static sj_status vec_load_corpus(void *state, const uint8_t *rows, int64_t n)
{
    vec_state *s = state;
    free(s->f);
    free(s->norm);
    free(s->normf);
    free(s->ilv);
    free(s->csq);
    free(s->csum128);
    free(s->ilvf);
    s->f = NULL, s->norm = NULL, s->normf = NULL, s->ilv = NULL, s->csq = NULL, s->csum128 = NULL;
    s->ilvf = NULL;
    s->rows = rows;
    s->n = n;
    if (s->use_vnni && n > INT32_MAX - 16)
        s->use_vnni = 0; /* lanes hold int32 row numbers: the float path takes it */
    if (s->use_vnni)
        return vnni_load(s);
    if (s->outer)
        return outer_load(s);
    if (s->v.metric == SJ_METRIC_L1)
        return SJ_OK;
    s->f = malloc(((size_t)n + 1) * (size_t)s->ld * sizeof *s->f);
    s->norm = malloc((size_t)SJ_MAX(n, 1) * sizeof *s->norm);
    s->normf = malloc((size_t)SJ_MAX(n, 1) * sizeof *s->normf);
    if (!s->f || !s->norm || !s->normf)
        return sj_fail(SJ_ERR_NOMEM, "out of memory for %lld vectors", (long long)n);
    sj_vec_to_float(&s->v, rows, n, s->ld, s->f, s->norm);
    for (int64_t i = 0; i < n; i++)
        s->normf[i] = (float)s->norm[i];
    memset(s->f + (size_t)n * (size_t)s->ld, 0, (size_t)s->ld * sizeof *s->f);
    return SJ_OK;
}

static sj_status vec_compare(void *state, const uint8_t *queries, int64_t q0, int64_t nq,
                             int64_t c0, int64_t c1, int self, sj_hits *out)
{
    const vec_state *s = state;
    sj_status st = SJ_OK;
    if (s->use_vnni)
        return u8_l2sq_vnni(s, queries, q0, nq, c0, c1, self, out);
    if (s->v.metric == SJ_METRIC_L1)
        return s->use_avx2 ? l1_avx2(s, queries, q0, nq, c0, c1, self, out)
                           : l1_base(s, queries, q0, nq, c0, c1, self, out);
    const int64_t nq_pad = (nq + 47) / 48 * 48; /* whole blocks of 8, 16 or 6 queries */
    float *qf = calloc((size_t)SJ_MAX(nq_pad, 8) * (size_t)s->ld, sizeof *qf);
    double *qn = malloc((size_t)SJ_MAX(nq, 1) * sizeof *qn);
    float *qnf = calloc((size_t)SJ_MAX(nq_pad, 8), sizeof *qnf);
    if (!qf || !qn || !qnf)
        st = sj_fail(SJ_ERR_NOMEM, "out of memory");
    else {
        sj_vec_to_float(&s->v, queries, nq, s->ld, qf, qn);
        for (int64_t i = 0; i < nq; i++)
            qnf[i] = (float)qn[i];
        st = s->outer == 16 ? outer_avx512(s, qf, qn, qnf, queries, q0, nq, c0, c1, self, out)
             : s->outer == 8 ? outer_avx2(s, qf, qn, qnf, queries, q0, nq, c0, c1, self, out)
             : s->use_avx2   ? tiles_avx2(s, qf, qn, qnf, queries, q0, nq, c0, c1, self, out)
                             : tiles_base(s, qf, qn, qnf, queries, q0, nq, c0, c1, self, out);
    }
    free(qf);
    free(qn);
    free(qnf);
    return st;
}

static void vec_close(void *state)
{
    vec_state *s = state;
    if (!s)
        return;
    free(s->f);
    free(s->norm);
    free(s->normf);
    free(s->ilv);
    free(s->csq);
    free(s->csum128);
    free(s->ilvf);
    free(s);
}

const sj_backend_ops sj_backend_cpu_vec = {
    /* .name           = */ "cpu",
    /* .parallel_calls = */ 1,
    /* .open           = */ vec_open,
    /* .load_corpus    = */ vec_load_corpus,
    /* .compare        = */ vec_compare,
    /* .close          = */ vec_close,
};
