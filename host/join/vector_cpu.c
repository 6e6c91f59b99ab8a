/* vector_cpu.c - our CPU path for vector kinds (photodna, u8:D, f32:D).
 *
 * l2sq, cosine, ip with AVX2 or AVX-512: a GEMM of queries against corpus
 * rows with the candidate test fused onto each finished tile (gemm_* below);
 * the candidates within the proven margin of T are decided by the reference
 * (vector.h). The baseline ISA (--isa portable) runs an 8 x 1 register
 * block of dot products over a converted corpus (tiles_body). l1 on uint8 is
 * exact in int32 and needs no recheck. l2sq on uint8 rows (photodna, u8:D)
 * with AVX-512 VNNI: exact integer dot products, no margin and no recheck
 * (u8_l2sq_vnni). With AVX512_BF16 the AVX-512 GEMM runs a bf16 first pass
 * with a wider proven margin, its candidates rechecked in float and by the
 * reference (gemm_bf16). Each path is picked at run time
 * (sj_vec_cpu_path_name).
 * compare() splits its block over the threads itself (parallel_calls = 0):
 * the threads take corpus row groups in turn, each against every query. */
#include "join/vector.h"

#include <immintrin.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* The 32-byte vectors only cross always_inline boundaries: no ABI is involved. */
#pragma GCC diagnostic ignored "-Wpsabi"

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef float v8sf __attribute__((vector_size(32)));

typedef struct vec_state {
    sj_vec_join v;
    int ld;              /* floats per converted row (8 x 1 tiles, query conversion) */
    int use_avx2;
    int threads;         /* OpenMP threads of compare() */
    const uint8_t *rows; /* corpus rows [n, bytes], borrowed until close */
    int64_t n;
    float *f;            /* 8 x 1 tiles: [n + 1][ld] converted corpus; row n is zeros; owned */
    double *norm;        /* [n] |row| (GEMM: made per group, see gemm_prepare); owned */
    float *normf;        /* 8 x 1 tiles: [n] the same in float, for the vector test; owned */
    /* AVX-512 VNNI path (u8 kinds, l2sq): the corpus interleaved in groups
     * of 16 rows, [groups][steps][16 rows][4 bytes], steps = ceil(D / 4),
     * zero padded; per row |c|^2 and 128 * sum(c), [groups * 16]. Owned. */
    int use_vnni;
    int steps;
    uint8_t *ilv;
    int32_t *csq, *csum128;
    /* GEMM path (float metrics on AVX2 or AVX-512; gemm_* below). */
    int gemm;            /* 0 off, 16 (AVX-512) or 8 (AVX2): floats per vector */
    const float *cf;     /* [n][D] corpus rows as float: the input rows (f32, 4-aligned) or cf_own */
    float *cf_own;       /* [n][D] u8 rows converted or misaligned f32 rows copied, per group; owned */
    float *hc;           /* [n] the candidate test's corpus terms (gemm_term); owned */
    uint8_t *ready;      /* [groups] 1 once a group's cf_own rows, norms and terms are made; owned */
    float *zero_row;     /* [D] zeros: the rows of a strip past the corpus range; owned */
    /* bf16 first pass of the AVX-512 GEMM (gemm_bf16 below; 0 when off). */
    int bf16;
    int64_t kw;          /* 32-bit words per bf16 row: ceil(D / 2), each a pair of components */
    double gamma_bf16;   /* the first pass's margin per unit of |x| |y| (bf16_gamma) */
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
    const float under = (float)(4.0 * sj_vec_dot_floor(&s->v)); /* the float terms' underflow */
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
                    margin = 2.0f * g * nb * qa + u8 * (mag + aT) + under;
                } else {
                    approx = 1.0f - dot;
                    margin = gc + gi * nb * qa + u8 * (1.0f + aT) + under;
                }
                const v8si maybe = ~(approx > Tf + margin); /* NaN (float overflow): a candidate */
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


/* ---- float dot products as a GEMM ------------------------------------------
 * A tile is MV vectors of W queries (a panel of MR = MV W queries) against
 * GEMM_ROWS corpus rows. The queries are packed once per call, [panel][D][MR]
 * floats (zero padded), so that one load gives component k of W queries; the
 * corpus rows are read as they are (row-major; f32 rows are not copied) and
 * component k of each of the tile's rows is broadcast into a multiply-add
 * with those vectors. Every accumulator lane is one (query, corpus row) dot
 * product summed in dimension order and complete after the k loop, so the
 * candidate test runs on the finished tile, in registers:
 *   dot >= hq[q] + hc[c]   (float; gemm_term)
 * keeps every pair whose approximate distance is within the margin of T;
 * those lanes get the double-precision test and the reference, as in
 * tiles_body. AVX-512: 4 x 16 queries x 6 rows (24 accumulators, 4 query
 * vectors and a broadcast: 29 of 32 registers); AVX2: 2 x 8 x 6 (12 + 2 + 1
 * of 16). Cosine: the queries are unit vectors and the corpus rows are not;
 * the test is dot >= (1 - T - margin) |c| and the recheck takes dot / |c|
 * (the error bound of vector.h still holds: |c| is exact in double to far
 * below the margin's factor 2, and the rows are not rounded at all).
 *
 * Blocking: the threads take groups of GEMM_GROUP corpus rows in turn; a
 * group runs against the queries in chunks that stay in L2 (chunk x D x 4
 * bytes <= GEMM_CHUNK_BYTES: 256 queries at D = 512), a strip of GEMM_ROWS
 * rows against each panel of the chunk (the panel streams from L2, the
 * strip's rows from L1 after its first panel). Each corpus row is read from
 * memory once per call; a group's norms and test terms are made the first
 * time the group is used (gemm_prepare), so load_corpus makes no pass over
 * the corpus. */
enum { GEMM_ROWS = 6, GEMM_GROUP = 48, GEMM_MAX_MV = 4, GEMM_CHUNK_BYTES = 512 * 1024 };

/* The queries of one compare() call as every path needs them ([nq_pad] rows,
 * nq_pad a multiple of QUERY_BLOCK; zero padding). Owned by vec_compare. */
typedef struct vec_queries {
    const uint8_t *rows; /* [nq, bytes]: the caller's */
    int64_t q0, nq;      /* rows q0 .. q0 + nq - 1 of the query set */
    int self;
    double *qn;          /* [nq_pad] |row| (float paths) */
    float *qf, *qnf;     /* 8 x 1 tiles: [nq_pad][ld] converted rows, [nq_pad] norms */
    float *qp, *hq;      /* GEMM: [nq_pad / MR][D][MR] packed rows; [nq_pad] test terms, +inf past nq */
    uint32_t *qpb;       /* bf16 pass: [nq_pad / MR][kw][MR] packed rows (instead of qp) */
    float *qrow;         /* bf16 pass: [nq_pad][ld] the converted rows, for its candidates */
    int8_t *qs;          /* VNNI: [nq_pad][steps * 4] rows shifted to s8 */
    int32_t *qsq;        /* VNNI: [nq_pad] |row|^2 */
} vec_queries;

enum { QUERY_BLOCK = 64 }; /* rows a thread prepares at a time: one AVX-512 panel */

/* A term of the GEMM path's candidate test dot >= hq + hc, for a row of norm
 * `norm` (a query's, or a corpus row's when !query) and a dot product within
 * g |q| |c| of the exact one (g: v->gamma, or gamma_bf16 on the bf16 pass).
 * The double test keeps
 * approx <= T + margin (vector.h); with margin <= g (|q|^2 + |c|^2) / 2 (ip;
 * twice that for l2sq) or g (cosine), that holds only if
 *   cosine: dot >= (1 - T - g) |c|            (hq = 0)
 *   ip:     dot >= 1 - T - g |q|^2/2 - g |c|^2/2
 *   l2sq:   dot >= ((1 - g) |q|^2 - T) / 2 + (1 - g) |c|^2 / 2.
 * Each term is lowered by the underflow floor (sj_vec_dot_floor) and by 4u
 * of itself and rounded down to float, so that
 * the float sum hq + hc (one rounding, at most u of |hq| + |hc|) stays at or
 * below the exact one: the test keeps every pair the double test keeps.
 * Terms beyond 1e37 become -inf (every pair a candidate: no float overflow). */
static float gemm_term(const sj_vec_join *v, double g, double norm, int query)
{
    const double T = v->threshold, sq = norm * norm;
    /* A row the GEMM multiplies as is with |row| > 2^63 (not a cosine query:
     * those are unit vectors) could overflow the float dot product even
     * though the exact one is finite: -inf makes all its pairs candidates,
     * and gemm_candidates lets the reference decide a non-finite dot. Rows
     * within 2^63 keep every partial sum within 2^126 < FLT_MAX. */
    if (norm > 0x1p63 && !(query && v->metric == SJ_METRIC_COSINE))
        return -INFINITY;
    double x;
    if (v->metric == SJ_METRIC_COSINE)
        x = query ? 0.0 : (1.0 - T - g) * norm;
    else if (v->metric == SJ_METRIC_IP)
        x = query ? 1.0 - T - 0.5 * g * sq : -0.5 * g * sq;
    else
        x = query ? 0.5 * ((1.0 - g) * sq - T) : 0.5 * (1.0 - g) * sq;
    x -= sj_vec_dot_floor(v); /* the dot product's underflow (vector.h), in each term */
    x -= ldexp(fabs(x), -22);
    if (!(fabs(x) < 1e37))
        return -INFINITY;
    const float f = (float)x;
    return (double)f > x ? nextafterf(f, -INFINITY) : f;
}

/* ---- the bf16 first pass (AVX512_BF16: path "avx512-bf16") ----------------
 * VDPBF16PS multiplies pairs of bf16 components and adds both products into
 * a float lane: twice the multiply-adds of VFMADD231PS per instruction, at
 * the same rate on Zen 4. The AVX-512 GEMM runs on rows rounded to bf16
 * (gemm_bf16: a 32-bit word holds components 2k and 2k + 1), with a margin
 * that bounds the rounding; each pair it keeps gets the float dot product of
 * the unrounded rows, the double test and the reference (gemm_candidates),
 * as on the float path, so the pairs and distances stay the reference's.
 *
 * The bound, for x (the query as converted: cosine's unit vector) and y (the
 * corpus row), u_b = 2^-8 (round to nearest even to 8 significant bits),
 * tau = 2^-126 (the hardware flushes bf16 inputs and float results below
 * 2^-126 to zero), a_k = bf16(x_k), b_k = bf16(y_k):
 *   |a_k - x_k| <= u_b |x_k| + tau, so |a_k| <= (1 + u_b) |x_k| + tau, and
 *   |a_k b_k - x_k y_k| <= (2 u_b + u_b^2) |x_k y_k| + tau (1 + u_b) (|x_k| + |y_k|) + tau^2;
 * summed (Cauchy-Schwarz: sum |x_k y_k| <= |x| |y|, sum |x_k| <= sqrt(D) |x|):
 *   |<a, b> - <x, y>| <= (2 u_b + u_b^2) |x| |y| + E,
 *   E = tau (1 + u_b) sqrt(D) (|x| + |y|) + D tau^2.
 * Each a_k b_k is exact in float (8 + 8 bits) unless below 2^-126 (then
 * flushed: tau); the float sum of D of them, in any order, fused or not, is
 * within gamma_D sum |a_k b_k| + D tau of the exact sum (gamma_D = D u /
 * (1 - D u), u = 2^-23 rather than 2^-24: it also covers sums that are not
 * rounded to nearest), and sum |a_k b_k| <= (1 + u_b)^2 |x| |y| + E. The pass
 * takes only rows whose norms (x as converted) lie in [2^-30, 2^30]; any
 * other row's term is -inf, so all its pairs are candidates. Then nothing
 * overflows (|a_k b_k| < 2^62), D <= 2^15 and E (1 + gamma_D) + 2 D tau <=
 * 2^-85 <= 2^-25 |x| |y|, so
 *   |dot - <x, y>| <= g1 |x| |y|,  g1 = 2 u_b + u_b^2 + gamma_D (1 + u_b)^2 + 2^-24.
 * Cosine: x is the float unit vector, not q / |q|, a rounding the float
 * margin v->gamma covers (vector.h), and |x| <= 1 + 2^-10. The pass's margin
 * (gemm_term's g) is gamma_bf16 = v->gamma + 2 (1 + 2^-10) g1: twice the
 * bound, as everywhere (vector.h); 0.0157 at D = 512. */
enum { BF16_MIN_EXP = -30, BF16_MAX_EXP = 30 };

static double bf16_gamma(const sj_vec_join *v, int64_t kw)
{
    const double ub = 1.0 / 256.0, u = 1.0 / 8388608.0, nu = (double)(2 * kw) * u;
    const double g1 =
        2.0 * ub + ub * ub + nu / (1.0 - nu) * (1.0 + ub) * (1.0 + ub) + ldexp(1.0, -24);
    return v->gamma + 2.0 * (1.0 + ldexp(1.0, -10)) * g1;
}

/* The bf16 pass's test term (gemm_term with gamma_bf16) of a row whose norm
 * as converted is `norm`; -inf outside the bound's range. */
static float bf16_term(const vec_state *s, double norm, int query)
{
    if (!(norm >= ldexp(1.0, BF16_MIN_EXP) && norm <= ldexp(1.0, BF16_MAX_EXP)))
        return -INFINITY;
    return gemm_term(&s->v, s->gamma_bf16, norm, query);
}

/* Row x[D] as kw = ceil(D / 2) words of bf16 pairs (word k: component 2k in
 * the low half, 2k + 1 in the high half; zero padded), rounded by
 * VCVTNEPS2BF16: to nearest even, inputs below 2^-126 flushed to zero. */
__attribute__((target("avx512f,avx512bf16"))) static void bf16_pack_row(const float *x, int64_t D,
                                                                        uint32_t *out)
{
    for (int64_t k = 0; k < D; k += 16) {
        const __mmask16 m = D - k >= 16 ? 0xffff : (__mmask16)((1u << (D - k)) - 1u);
        const __m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, x + k));
        uint32_t w[8]; /* the 16 bf16 values as words, stored as words */
        memcpy(w, &h, sizeof w);
        for (int64_t i = 0; i < SJ_MIN(8, (D - k + 1) / 2); i++)
            out[k / 2 + i] = w[i];
    }
}

/* <x, y> of float rows x, y [D], summed in float (any order is within the
 * float margin v->gamma of vector.h): the bf16 pass's candidates. */
__attribute__((target("avx512f"))) static float dot_f32_avx512(const float *x, const float *y,
                                                               int64_t D)
{
    __m512 acc = _mm512_setzero_ps();
    for (int64_t k = 0; k < D; k += 16) {
        const __mmask16 m = D - k >= 16 ? 0xffff : (__mmask16)((1u << (D - k)) - 1u);
        const __m512 a = _mm512_maskz_loadu_ps(m, x + k), b = _mm512_maskz_loadu_ps(m, y + k);
        acc = _mm512_fmadd_ps(a, b, acc);
    }
    return _mm512_reduce_add_ps(acc);
}

/* The test term of a row of norm `norm` (a query's when `query`) on the
 * state's pass: float (gemm_term) or bf16 (bf16_term). */
static float gemm_row_term(const vec_state *s, double norm, int query)
{
    if (query && s->v.metric == SJ_METRIC_COSINE)
        norm = norm > 0 ? 1.0 : 0.0; /* the query as converted: a unit vector */
    return s->bf16 ? bf16_term(s, norm, query) : gemm_term(&s->v, s->v.gamma, norm, query);
}

/* The tile's lanes that pass the float test (dots [GEMM_ROWS][lanes]: row
 * j + n, query p + r): the double test and the reference decide them. */
static sj_status gemm_candidates(const vec_state *s, const vec_queries *vq, const float *dots,
                                 int lanes, int64_t p, int64_t j, int64_t c1, sj_hits *out)
{
    const double T = s->v.threshold;
    const int cosine = s->v.metric == SJ_METRIC_COSINE;
    for (int n = 0; n < GEMM_ROWS && j + n < c1; n++) {
        const int64_t c = j + n;
        for (int r = 0; r < lanes && p + r < vq->nq; r++) {
            const int64_t q = p + r;
            float dot = dots[n * lanes + r];
            const float bound = vq->hq[q] + s->hc[c];
            if (dot < bound || (vq->self && c <= vq->q0 + q))
                continue;
            if (s->bf16) /* the bf16 pass's dot: the float one of the rows decides */
                dot = dot_f32_avx512(vq->qrow + (size_t)q * (size_t)s->ld,
                                     s->cf + (size_t)c * (size_t)s->v.dim, s->v.dim);
            const double nc = s->norm[c], dd = cosine ? (double)dot / nc : (double)dot;
            const double margin = sj_vec_margin(&s->v, vq->qn[q], nc) +
                                  (cosine ? sj_vec_dot_floor(&s->v) / nc : 0.0); /* +inf: |c| = 0 */
            /* an overflowed dot (only with a row past 2^63, gemm_term): the reference decides */
            if (isfinite(dot) && sj_vec_approx(&s->v, dd, vq->qn[q], nc) > T + margin)
                continue;
            sj_status st = sj_vec_decide(&s->v, vq->rows + (size_t)q * s->v.bytes,
                                         s->rows + (size_t)c * s->v.bytes, vq->q0 + q, c, out);
            if (st)
                return st;
        }
    }
    return SJ_OK;
}

/* One tile of MVC query vectors (the panel at qp) against the strip row[],
 * inside GEMM_FN: the k loop over the rows' `words` (floats, or bf16 pairs),
 * then the fused test; candidate lanes go to gemm_candidates. */
#define GEMM_TILE(MVC, ELEM, MADD)                                                                 \
    do {                                                                                         \
        vf acc[MVC][GEMM_ROWS];                                                                  \
        _Pragma("GCC unroll 4") for (int m = 0; m < (MVC); m++)                                  \
            _Pragma("GCC unroll 6") for (int n = 0; n < GEMM_ROWS; n++) acc[m][n] = (vf){0};     \
        for (int64_t k = 0; k < words; k++) {                                                    \
            vf a[MVC];                                                                           \
            _Pragma("GCC unroll 4") for (int m = 0; m < (MVC); m++)                              \
                memcpy(&a[m], qp + k * MR + m * LANES, sizeof a[m]);                               \
            _Pragma("GCC unroll 6") for (int n = 0; n < GEMM_ROWS; n++) {                        \
                const ELEM x = row[n][k];                                                        \
                _Pragma("GCC unroll 4") for (int m = 0; m < (MVC); m++)                          \
                    acc[m][n] = MADD(acc[m][n], a[m], x);                                        \
            }                                                                                    \
        }                                                                                        \
        vi cand = (vi){0};                                                                       \
        _Pragma("GCC unroll 4") for (int m = 0; m < (MVC); m++) {                                \
            vf h;                                                                                \
            memcpy(&h, vq->hq + p + m * LANES, sizeof h);                                          \
            _Pragma("GCC unroll 6") for (int n = 0; n < GEMM_ROWS; n++)                          \
                cand |= ~(acc[m][n] < h + hc[n]); /* NaN: a candidate */                         \
        }                                                                                        \
        int any = 0;                                                                             \
        for (int l = 0; l < LANES; l++)                                                            \
            any |= cand[l];                                                                      \
        if (any) {                                                                               \
            float dots[GEMM_ROWS * (MVC) * LANES];                                                 \
            for (int n = 0; n < GEMM_ROWS; n++)                                                  \
                for (int m = 0; m < (MVC); m++)                                                  \
                    memcpy(dots + ((size_t)n * (MVC) + (size_t)m) * LANES, &acc[m][n], sizeof(vf)); \
            sj_status st = gemm_candidates(s, vq, dots, (MVC) * LANES, p, j, c1, out);             \
            if (st)                                                                              \
                return st;                                                                       \
        }                                                                                        \
    } while (0)

/* Queries [qa, qb) of vq (local rows; qa a multiple of MR) against corpus
 * rows [c0, c1), whose group is prepared; `rows` holds them, [c1 - c0][WORDS]
 * (borrowed). ELEM: a word of the rows and of the query panels at vq->PANELS
 * ([panel][WORDS][MR]); MADD(acc, a, x): acc plus a times x broadcast. */
#define GEMM_FN(NAME, TARGET, W, MV, ELEM, PANELS, WORDS, MADD)                                   \
    __attribute__((target(TARGET))) static sj_status NAME(                                      \
        const vec_state *s, const vec_queries *vq, int64_t qa, int64_t qb, int64_t c0,           \
        int64_t c1, const ELEM *rows, sj_hits *out)                                              \
    {                                                                                            \
        typedef float vf __attribute__((vector_size(4 * (W))));                                 \
        typedef int vi __attribute__((vector_size(4 * (W))));                                   \
        enum { MR = (MV) * (W), LANES = (W) };                                                   \
        const int64_t words = (WORDS);                                                           \
        const ELEM *zero = (const ELEM *)(const void *)s->zero_row; /* >= words zero words */    \
        for (int64_t j = c0; j < c1; j += GEMM_ROWS) {                                           \
            const ELEM *row[GEMM_ROWS];                                                          \
            float hc[GEMM_ROWS];                                                                 \
            for (int n = 0; n < GEMM_ROWS; n++) { /* rows past c1: zeros, never candidates */    \
                row[n] = j + n < c1 ? rows + (size_t)(j + n - c0) * (size_t)words : zero;         \
                hc[n] = j + n < c1 ? s->hc[j + n] : INFINITY;                                    \
            }                                                                                    \
            const int64_t last = SJ_MIN(j + GEMM_ROWS, c1) - 1;                                  \
            for (int64_t p = qa; p < qb; p += MR) {                                              \
                if (vq->self && last <= vq->q0 + p)                                              \
                    continue; /* no row of the strip comes after a query of the panel */         \
                const ELEM *qp = vq->PANELS + (size_t)p * (size_t)words;                         \
                const int64_t mv = SJ_MIN((MV), (qb - p + (W) - 1) / (W));                       \
                if (mv == (MV))                                                                  \
                    GEMM_TILE(MV, ELEM, MADD);                                                     \
                else if ((MV) > 3 && mv == 3)                                                    \
                    GEMM_TILE(3, ELEM, MADD);                                                      \
                else if ((MV) > 2 && mv == 2)                                                    \
                    GEMM_TILE(2, ELEM, MADD);                                                      \
                else                                                                             \
                    GEMM_TILE(1, ELEM, MADD);                                                      \
            }                                                                                    \
        }                                                                                        \
        return SJ_OK;                                                                            \
    }

#define MADD_F32(acc, a, x) ((acc) + (a) * (x))
#define MADD_BF16(acc, a, x) \
    ((vf)_mm512_dpbf16_ps((__m512)(acc), (__m512bh)(a), (__m512bh)_mm512_set1_epi32((int)(x))))
GEMM_FN(gemm_avx512, "avx512f", 16, 4, float, qp, s->v.dim, MADD_F32)
GEMM_FN(gemm_avx2, "avx2,fma", 8, 2, float, qp, s->v.dim, MADD_F32)
GEMM_FN(gemm_bf16, "avx512f,avx512bf16", 16, 4, uint32_t, qpb, s->kw, MADD_BF16)

/* Rows of group g as float (when not the input's own), their norms and
 * test terms; once per load (s->ready). */
static inline __attribute__((always_inline)) void gemm_prepare_body(vec_state *s, int64_t g)
{
    const int64_t D = s->v.dim, first = g * GEMM_GROUP, end = SJ_MIN(first + GEMM_GROUP, s->n);
    for (int64_t j = first; j < end; j++) {
        const uint8_t *src = s->rows + (size_t)j * s->v.bytes;
        if (s->cf_own) {
            float *dst = s->cf_own + (size_t)j * (size_t)D;
            if (s->v.type.kind == SJ_KIND_F32)
                memcpy(dst, src, (size_t)D * sizeof *dst);
            else
                for (int64_t k = 0; k < D; k++)
                    dst[k] = (float)src[k];
        }
        const float *x = s->cf + (size_t)j * (size_t)D;
        double part[8] = {0}; /* the sum of squares in 8 interleaved parts */
        int64_t k = 0;
        for (; k + 8 <= D; k += 8)
            for (int l = 0; l < 8; l++)
                part[l] += (double)x[k + l] * (double)x[k + l];
        for (; k < D; k++)
            part[0] += (double)x[k] * (double)x[k];
        const double sq = ((part[0] + part[1]) + (part[2] + part[3])) +
                          ((part[4] + part[5]) + (part[6] + part[7]));
        s->norm[j] = sqrt(sq);
        s->hc[j] = gemm_row_term(s, s->norm[j], 0);
    }
    s->ready[g] = 1;
}

__attribute__((target("avx512f"))) static void gemm_prepare_avx512(vec_state *s, int64_t g)
{
    gemm_prepare_body(s, g);
}

__attribute__((target("avx2,fma"))) static void gemm_prepare_avx2(vec_state *s, int64_t g)
{
    gemm_prepare_body(s, g);
}

/* The GEMM path's corpus state (s->rows, s->n set): no pass over the rows. */
static sj_status gemm_load(vec_state *s)
{
    const int64_t groups = (s->n + GEMM_GROUP - 1) / GEMM_GROUP, D = s->v.dim;
    const int own = s->v.type.kind != SJ_KIND_F32 || ((uintptr_t)s->rows & 3u);
    s->norm = calloc((size_t)SJ_MAX(s->n, 1), sizeof *s->norm);
    s->hc = calloc((size_t)SJ_MAX(s->n, 1), sizeof *s->hc);
    s->ready = calloc((size_t)SJ_MAX(groups, 1), 1);
    s->zero_row = calloc((size_t)D, sizeof *s->zero_row);
    s->cf_own = own ? malloc((size_t)SJ_MAX(s->n, 1) * (size_t)D * sizeof *s->cf_own) : NULL;
    if (!s->norm || !s->hc || !s->ready || !s->zero_row || (own && !s->cf_own))
        return sj_fail(SJ_ERR_NOMEM, "out of memory for %lld vectors", (long long)s->n);
    s->cf = own ? s->cf_own : (const float *)(const void *)s->rows;
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

/* The GEMM path's vector width for (t, m, isa), 0 for none: every float
 * metric but l1 (and not the u8 kinds VNNI takes); AVX-512 where the CPU has
 * it and isa is auto or avx512, else AVX2+FMA where isa is auto or avx2.
 * SIMJOIN_VEC_OUTER=8 forces the AVX2 build and =0 turns the path off (the
 * 8 x 1 tiles run instead), for tests and A/B measurements (BENCHMARKS.md). */
static int gemm_width(sj_hash_type t, sj_metric m, sj_isa isa)
{
    if (m == SJ_METRIC_L1 || vnni_applies(t, m, isa))
        return 0;
    const char *force = getenv("SIMJOIN_VEC_OUTER");
    if (force && !strcmp(force, "0"))
        return 0;
    const int force8 = force && !strcmp(force, "8");
    if (!force8 && (isa == SJ_ISA_AUTO || isa == SJ_ISA_AVX512) && __builtin_cpu_supports("avx512f"))
        return 16;
    return (force8 || isa == SJ_ISA_AUTO || isa == SJ_ISA_AVX2) && avx2_applies(isa) ? 8 : 0;
}

/* The bf16 first pass (on the AVX-512 GEMM) where the CPU has AVX512_BF16
 * and the OS saves the AVX-512 state (__builtin_cpu_supports checks both);
 * SIMJOIN_VEC_OUTER=16 keeps the float AVX-512 GEMM, for tests and A/B
 * measurements. */
static int bf16_applies(sj_hash_type t, sj_metric m, sj_isa isa)
{
    const char *force = getenv("SIMJOIN_VEC_OUTER");
    return gemm_width(t, m, isa) == 16 && !(force && !strcmp(force, "16")) &&
           __builtin_cpu_supports("avx512bf16");
}

const char *sj_vec_cpu_path_name(sj_hash_type t, sj_metric m, sj_isa isa)
{
    __builtin_cpu_init();
    const int gemm = gemm_width(t, m, isa), avx2 = avx2_applies(isa);
    if (m == SJ_METRIC_L1) /* the byte loop, AVX2 or baseline */
        return avx2 ? "avx2" : "portable";
    return vnni_applies(t, m, isa) ? "avx512-vnni"
           : bf16_applies(t, m, isa) ? "avx512-bf16"
           : gemm == 16            ? "avx512"
           : gemm == 8             ? "avx2"
           : avx2                  ? "avx2-8x1"
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

/* Queries qs [nq rounded up to 16][steps * 4] (s8, zero padded) with |q|^2
 * in qsq, rows q0 .. q0 + nq - 1, against corpus rows [c0, c1). */
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static sj_status
u8_l2sq_vnni(const vec_state *s, const int8_t *qs, const int32_t *qsq, int64_t q0, int64_t nq,
             int64_t c0, int64_t c1, int self, sj_hits *out)
{
    const int steps = s->steps;
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
    s->gemm = gemm_width(type, s->v.metric, cfg->isa);
    s->bf16 = bf16_applies(type, s->v.metric, cfg->isa);
    s->kw = (type.dim + 1) / 2;
    s->gamma_bf16 = bf16_gamma(&s->v, s->kw);
    s->steps = (int)((type.dim + 3) / 4);
    s->threads = cfg->threads > 0 ? cfg->threads : 1;
#ifdef _OPENMP
    if (cfg->threads <= 0)
        s->threads = omp_get_max_threads();
#endif
    *state = s;
    return SJ_OK;
}

static void vec_free_corpus(vec_state *s)
{
    free(s->f);
    free(s->norm);
    free(s->normf);
    free(s->ilv);
    free(s->csq);
    free(s->csum128);
    free(s->cf_own);
    free(s->hc);
    free(s->ready);
    free(s->zero_row);
    s->f = NULL, s->norm = NULL, s->normf = NULL, s->ilv = NULL, s->csq = NULL, s->csum128 = NULL;
    s->cf = NULL, s->cf_own = NULL, s->hc = NULL, s->ready = NULL, s->zero_row = NULL;
}

static sj_status vec_load_corpus(void *state, const uint8_t *rows, int64_t n)
{
    vec_state *s = state;
    vec_free_corpus(s);
    s->rows = rows;
    s->n = n;
    if (s->use_vnni && n > INT32_MAX - 16)
        s->use_vnni = 0; /* lanes hold int32 row numbers: the float path takes it */
    if (s->use_vnni)
        return vnni_load(s);
    if (s->v.metric == SJ_METRIC_L1)
        return SJ_OK;
    if (s->gemm)
        return gemm_load(s);
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

/* Queries per panel of the GEMM path (MV W). */
enum { GEMM512_MV = 4, GEMM2_MV = 2 };
static int gemm_panel(const vec_state *s)
{
    return s->gemm == 16 ? GEMM512_MV * 16 : GEMM2_MV * 8;
}

/* Query rows [b, b + QUERY_BLOCK) of vq as the state's path needs them; tmp
 * holds QUERY_BLOCK converted rows (GEMM). */
static void prepare_queries(const vec_state *s, vec_queries *vq, int64_t b, float *tmp)
{
    const int64_t n = SJ_MIN(QUERY_BLOCK, vq->nq - b), D = s->v.dim, ld = s->ld;
    const uint8_t *rows = vq->rows + (size_t)b * s->v.bytes;
    if (s->use_vnni) {
        for (int64_t q = 0; q < n; q++)
            for (int64_t k = 0; k < D; k++) {
                const uint8_t x = rows[(size_t)q * (size_t)D + (size_t)k];
                vq->qs[(size_t)(b + q) * (size_t)s->steps * 4 + (size_t)k] = (int8_t)(x ^ 0x80);
                vq->qsq[b + q] += (int32_t)x * x;
            }
    } else if (s->v.metric == SJ_METRIC_L1) {
        return;
    } else if (s->gemm) {
        const int mr = gemm_panel(s);
        float *conv = s->bf16 ? vq->qrow + (size_t)b * (size_t)ld : tmp;
        sj_vec_to_float(&s->v, rows, n, (int)ld, conv, vq->qn + b);
        for (int64_t r = 0; r < QUERY_BLOCK; r++)
            vq->hq[b + r] = r < n ? gemm_row_term(s, vq->qn[b + r], 1) : INFINITY;
        for (int64_t p = 0; s->bf16 && p < QUERY_BLOCK; p += mr) { /* panels [kw][mr] */
            uint32_t *dst = vq->qpb + (size_t)(b + p) * (size_t)s->kw, *words = (uint32_t *)tmp;
            for (int r = 0; r < mr; r++) {
                if (p + r < n)
                    bf16_pack_row(conv + (size_t)(p + r) * (size_t)ld, D, words);
                else
                    memset(words, 0, (size_t)s->kw * sizeof *words);
                for (int64_t k = 0; k < s->kw; k++)
                    dst[k * mr + r] = words[k];
            }
        }
        for (int64_t p = 0; !s->bf16 && p < QUERY_BLOCK; p += mr) { /* panels [D][mr] */
            float *dst = vq->qp + (size_t)(b + p) * (size_t)D;
            for (int64_t k = 0; k < D; k++)
                for (int r = 0; r < mr; r++)
                    dst[k * mr + r] = p + r < n ? tmp[(size_t)(p + r) * (size_t)ld + (size_t)k] : 0.0f;
        }
    } else {
        sj_vec_to_float(&s->v, rows, n, (int)ld, vq->qf + (size_t)b * (size_t)ld, vq->qn + b);
        for (int64_t r = 0; r < n; r++)
            vq->qnf[b + r] = (float)vq->qn[b + r];
    }
}

/* Query rows [qa, qb) of vq (local; qa a multiple of the chunk) against
 * corpus rows [c0, c1) on the state's path; the bf16 pass reads those rows
 * from cb ([c1 - c0][kw], bf16_pack_row). */
static sj_status run_part(const vec_state *s, const vec_queries *vq, int64_t qa, int64_t qb,
                          int64_t c0, int64_t c1, const uint32_t *cb, sj_hits *out)
{
    const int64_t q0 = vq->q0 + qa, nq = qb - qa;
    const uint8_t *qrows = vq->rows + (size_t)qa * s->v.bytes;
    if (s->use_vnni)
        return u8_l2sq_vnni(s, vq->qs + (size_t)qa * (size_t)s->steps * 4, vq->qsq + qa, q0, nq, c0,
                            c1, vq->self, out);
    if (s->v.metric == SJ_METRIC_L1)
        return s->use_avx2 ? l1_avx2(s, qrows, q0, nq, c0, c1, vq->self, out)
                           : l1_base(s, qrows, q0, nq, c0, c1, vq->self, out);
    if (s->gemm)
        return s->bf16 ? gemm_bf16(s, vq, qa, qb, c0, c1, cb, out)
               : s->gemm == 16
                   ? gemm_avx512(s, vq, qa, qb, c0, c1, s->cf + (size_t)c0 * s->v.dim, out)
                   : gemm_avx2(s, vq, qa, qb, c0, c1, s->cf + (size_t)c0 * s->v.dim, out);
    const float *qf = vq->qf + (size_t)qa * (size_t)s->ld;
    return s->use_avx2
               ? tiles_avx2(s, qf, vq->qn + qa, vq->qnf + qa, qrows, q0, nq, c0, c1, vq->self, out)
               : tiles_base(s, qf, vq->qn + qa, vq->qnf + qa, qrows, q0, nq, c0, c1, vq->self, out);
}

/* Queries prepared at once (8 MiB of packed rows at D = 512), and corpus
 * units a call hands out at most. */
enum { QUERY_BATCH = 4096, MAX_UNITS = 4096 };

/* A batch of queries against corpus rows [c0, c1): the threads first prepare
 * the queries (QUERY_BLOCK rows at a time), then take corpus units in turn
 * (GEMM groups, prepared on first use, or CORPUS_BLOCK rows; several of them
 * a unit past MAX_UNITS), each against every chunk of queries. The hits go
 * to out in unit order, as one thread would find them. */
static sj_status compare_batch(vec_state *s, const uint8_t *queries, int64_t q0, int64_t nq,
                               int64_t c0, int64_t c1, int self, sj_hits *out)
{
    const int64_t D = s->v.dim, blocks = (nq + QUERY_BLOCK - 1) / QUERY_BLOCK;
    const size_t nq_pad = (size_t)blocks * QUERY_BLOCK;
    const int l1 = s->v.metric == SJ_METRIC_L1, gemm = s->gemm && !s->use_vnni && !l1;
    vec_queries vq = {.rows = queries, .q0 = q0, .nq = nq, .self = self};
    const int64_t base = gemm ? GEMM_GROUP : CORPUS_BLOCK;
    const int64_t unit = base * (((c1 - c0 + base - 1) / base + MAX_UNITS - 1) / MAX_UNITS);
    const int64_t u0 = c0 / unit, units = (c1 + unit - 1) / unit - u0;
    const int64_t mr = gemm ? gemm_panel(s) : 1;
    const int64_t words = s->bf16 ? s->kw : D; /* 32-bit words per packed query */
    const int64_t chunk = gemm ? SJ_MAX(mr, GEMM_CHUNK_BYTES / (4 * words) / mr * mr) : 256;
    int64_t(*run)[3] = calloc((size_t)units, sizeof *run); /* thread, first hit, end */
    sj_hits *mine = calloc((size_t)s->threads, sizeof *mine);
    int nomem = !run || !mine;
    if (s->use_vnni) {
        vq.qs = calloc(nq_pad * (size_t)s->steps * 4, 1);
        vq.qsq = calloc(nq_pad, sizeof *vq.qsq);
        nomem |= !vq.qs || !vq.qsq;
    } else if (!l1) {
        vq.qn = calloc(nq_pad, sizeof *vq.qn);
        nomem |= !vq.qn;
        if (gemm && s->bf16) {
            vq.qpb = malloc(nq_pad * (size_t)s->kw * sizeof *vq.qpb);
            vq.qrow = malloc(nq_pad * (size_t)s->ld * sizeof *vq.qrow);
            vq.hq = malloc(nq_pad * sizeof *vq.hq);
            nomem |= !vq.qpb || !vq.qrow || !vq.hq;
        } else if (gemm) {
            vq.qp = malloc(nq_pad * (size_t)D * sizeof *vq.qp);
            vq.hq = malloc(nq_pad * sizeof *vq.hq);
            nomem |= !vq.qp || !vq.hq;
        } else {
            vq.qf = calloc(nq_pad * (size_t)s->ld, sizeof *vq.qf);
            vq.qnf = calloc(nq_pad, sizeof *vq.qnf);
            nomem |= !vq.qf || !vq.qnf;
        }
    }
    _Atomic int failed = nomem;
    sj_status err = nomem ? SJ_ERR_NOMEM : SJ_OK;
    char msg[1024] = "out of memory";
#pragma omp parallel num_threads(s->threads)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        sj_hits *h = mine ? &mine[tid] : NULL;
        float *tmp = gemm ? malloc((size_t)QUERY_BLOCK * (size_t)s->ld * sizeof *tmp) : NULL;
        /* bf16 pass: a group's rows converted, [GEMM_GROUP][kw] */
        const size_t cb_words = (size_t)GEMM_GROUP * (size_t)s->kw;
        uint32_t *cb = gemm && s->bf16 ? malloc(cb_words * sizeof *cb) : NULL;
        sj_status st = (gemm && !tmp) || (gemm && s->bf16 && !cb)
                           ? sj_fail(SJ_ERR_NOMEM, "out of memory")
                           : SJ_OK;
        if (st && !atomic_exchange(&failed, 1)) {
            err = st;
            snprintf(msg, sizeof msg, "%s", sj_last_error());
        }
#pragma omp for schedule(static)
        for (int64_t b = 0; b < blocks; b++)
            if (!atomic_load(&failed))
                prepare_queries(s, &vq, b * QUERY_BLOCK, tmp);
#pragma omp for schedule(dynamic, 1)
        for (int64_t u = 0; u < units; u++) {
            if (atomic_load(&failed))
                continue;
            const int64_t g = u0 + u, lo = SJ_MAX(c0, g * unit), hi = SJ_MIN(c1, (g + 1) * unit);
            for (int64_t grp = lo / GEMM_GROUP; gemm && grp <= (hi - 1) / GEMM_GROUP; grp++) {
                if (!s->ready[grp] && s->gemm == 16)
                    gemm_prepare_avx512(s, grp);
                else if (!s->ready[grp])
                    gemm_prepare_avx2(s, grp);
            }
            const int64_t first = h->n;
            /* the bf16 pass converts its rows a group at a time (into cb),
             * each then against every chunk; the other paths take the unit */
            for (int64_t ga = lo, gb; ga < hi && !st; ga = gb) {
                gb = cb ? SJ_MIN(hi, (ga / GEMM_GROUP + 1) * GEMM_GROUP) : hi;
                for (int64_t j = ga; cb && j < gb; j++)
                    bf16_pack_row(s->cf + (size_t)j * (size_t)D, D,
                                  cb + (size_t)(j - ga) * (size_t)s->kw);
                for (int64_t qa = 0; qa < nq && !st; qa += chunk) {
                    if (self && gb - 1 <= q0 + qa)
                        break; /* no row of the part comes after a query of this chunk or later */
                    st = run_part(s, &vq, qa, SJ_MIN(qa + chunk, nq), ga, gb, cb, h);
                }
            }
            run[u][0] = tid, run[u][1] = first, run[u][2] = h->n;
            if (st && !atomic_exchange(&failed, 1)) {
                err = st;
                snprintf(msg, sizeof msg, "%s", sj_last_error());
            }
        }
        free(tmp);
        free(cb);
    }
    int64_t total = 0;
    for (int64_t u = 0; !err && u < units; u++)
        total += run[u][2] - run[u][1];
    if (!err && total > 0 && out->n + total > out->cap)
        err = sj_grow((void **)&out->v, &out->cap, out->n + total, sizeof *out->v);
    else if (err)
        err = sj_fail(err, "%s", msg);
    for (int64_t u = 0; !err && u < units; u++) {
        const int64_t k = run[u][2] - run[u][1];
        if (k > 0)
            memcpy(out->v + out->n, mine[run[u][0]].v + run[u][1], (size_t)k * sizeof *out->v);
        out->n += k;
    }
    for (int t = 0; mine && t < s->threads; t++)
        free(mine[t].v);
    free(mine);
    free(run);
    free(vq.qn);
    free(vq.qf);
    free(vq.qnf);
    free(vq.qp);
    free(vq.qpb);
    free(vq.qrow);
    free(vq.hq);
    free(vq.qs);
    free(vq.qsq);
    return err;
}

static sj_status vec_compare(void *state, const uint8_t *queries, int64_t q0, int64_t nq,
                             int64_t c0, int64_t c1, int self, sj_hits *out)
{
    vec_state *s = state;
    sj_status st = SJ_OK;
    for (int64_t b = 0; b < nq && c0 < c1 && !st; b += QUERY_BATCH)
        st = compare_batch(s, queries + (size_t)b * s->v.bytes, q0 + b, SJ_MIN(QUERY_BATCH, nq - b),
                           c0, c1, self, out);
    return st;
}

static void vec_close(void *state)
{
    vec_state *s = state;
    if (!s)
        return;
    vec_free_corpus(s);
    free(s);
}

const sj_backend_ops sj_backend_cpu_vec = {
    /* .name           = */ "cpu",
    /* .parallel_calls = */ 0,
    /* .open           = */ vec_open,
    /* .load_corpus    = */ vec_load_corpus,
    /* .compare        = */ vec_compare,
    /* .close          = */ vec_close,
};
