/* vector.h - what the vector backends (photodna, u8:D, f32:D) share.
 *
 * Every fast path computes an approximate distance from a float dot product
 * (a GEMM tile on the GPU, a register-blocked loop on the CPU, FAISS's BLAS),
 * keeps the candidates within a proven error margin of the threshold, and
 * lets the reference (sj_distance, double precision) decide them and give
 * the reported distance. So every backend reports exactly the reference's
 * pairs and distances.
 *
 * Margin: a float dot product of D terms, in any summation order, with or
 * without FMA, is within gamma_D * sum |x_i y_i| <= gamma_D * |x| |y| of the
 * exact one (gamma_D = D u / (1 - D u), u = 2^-24; Higham, Accuracy and
 * Stability, 3.1). Inputs: u8 values are exact in float (and in fp16); f32
 * inputs are exact (TF32 on the GPU rounds them: sj_vt_gamma adds that);
 * cosine's unit vectors carry one more rounding per component. We take
 * twice the bound (kernels/vector_tile.h). */
#ifndef SIMJOIN_VECTOR_H
#define SIMJOIN_VECTOR_H

#include "join/backend.h"
#include "vector_tile.h" /* kernels/: the arithmetic shared with the GPU */

typedef struct sj_vec_join {
    sj_hash_type type;
    sj_metric metric;  /* resolved: l2sq, l1, cosine or ip */
    double threshold;
    uint32_t dim;      /* D */
    uint32_t bytes;    /* row bytes: D (u8 kinds) or 4 D (f32) */
    double gamma;      /* the margin per unit of |x| |y| (sj_vt_gamma) */
} sj_vec_join;

/* Fill v from the join configuration (the metric must already apply). */
void sj_vec_join_init(sj_vec_join *v, const sj_join_config *cfg, sj_hash_type t);

/* Rows [n, bytes] as float [n][ld] (zero padded to ld >= D): u8 exactly,
 * f32 as is, and for cosine scaled to unit length. norm[i] gets |row i|
 * (double, of the original row). out and norm are caller memory. */
void sj_vec_to_float(const sj_vec_join *v, const uint8_t *rows, int64_t n, int ld, float *out,
                     double *norm);

/* The approximate distance from a float dot product of the converted rows
 * (norms as sj_vec_to_float gives them), and its margin (vector_tile.h). */
static inline double sj_vec_approx(const sj_vec_join *v, double dot, double na, double nb)
{
    return sj_vt_approx((int)v->metric, dot, na, nb);
}

/* The margin also takes the float dot product's underflow: its D products
 * and D sums are each off by at most 2^-126 (flushed or gradual), which no
 * multiple of |x| |y| bounds for tiny rows; sj_vec_dot_floor() >= (D + 4)
 * 2^-123 is twice that (gamma >= 2 (D + 4) 2^-24). Cosine's unit vectors
 * need nothing more (gamma covers it); the GEMM path's unscaled corpus rows
 * add sj_vec_dot_floor() / |c| itself. */
static inline double sj_vec_dot_floor(const sj_vec_join *v)
{
    return v->gamma * 0x1p-100;
}

static inline double sj_vec_margin(const sj_vec_join *v, double na, double nb)
{
    const double floor_terms = v->metric == SJ_METRIC_L2SQ ? 2.0
                               : v->metric == SJ_METRIC_IP ? 1.0
                                                           : 0.0;
    return sj_vt_margin((int)v->metric, v->gamma, na, nb) + floor_terms * sj_vec_dot_floor(v);
}

/* A candidate within the margin: the reference decides (d <= T) and its
 * distance is the one reported. qrow and crow are the original rows. */
static inline sj_status sj_vec_decide(const sj_vec_join *v, const uint8_t *qrow,
                                      const uint8_t *crow, int64_t q, int64_t c, sj_hits *out)
{
    double d = sj_distance(v->type, v->metric, qrow, crow);
    return d <= v->threshold ? sj_hits_push(out, q, c, d) : SJ_OK;
}

/* SJ_ERR_ARG naming the row when the metric is cosine and a row is the zero
 * vector (its cosine is undefined; such rows are excluded as degenerate
 * unless --keep-degenerate). what: "queries" or "corpus". The scheduler
 * checks every join's inputs once, before any backend sees them. */
sj_status sj_vec_check_rows(const sj_vec_join *v, const uint8_t *rows, int64_t n, int64_t first,
                            const char *what);

/* The code path sj_backend_cpu_vec runs for t, m (resolved) and isa:
 * "avx512-vnni" (exact int8 dot products, u8 kinds with l2sq), "avx512-bf16"
 * (the AVX-512 GEMM's bf16 first pass, where the CPU has AVX512_BF16;
 * SIMJOIN_VEC_OUTER=16 turns it off), "avx512" or
 * "avx2" (the float GEMM path; l1: the AVX2 byte loop), "avx2-8x1" (the 8 x 1
 * float tiles, SIMJOIN_VEC_OUTER=0) or "portable". */
const char *sj_vec_cpu_path_name(sj_hash_type t, sj_metric m, sj_isa isa);

extern const sj_backend_ops sj_backend_cpu_vec;
extern const sj_backend_ops sj_backend_faiss_vec;
extern const sj_backend_ops sj_backend_cuda_vec;

#endif
