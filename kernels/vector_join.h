/* vector_join.h - C interface of the GPU vector-join kernels
 * (kernels/vector_join.cu), driven by host/backend_cuda_vec.c.
 *
 * l2sq, cosine, ip: cuBLAS computes a tile of dot products (the host calls
 * the GEMM); sj_gpu_vec_epilogue then reads the tile once, computes each
 * pair's approximate distance (sj_vt_approx), and appends the candidates
 * within the margin of T (sj_vt_candidate) with warp-aggregated atomics.
 * Only candidates leave the chip; the host decides them with the reference.
 * f32 kinds with l2sq, cosine, ip: sj_gpu_vec_tf32 fuses the dot products
 * (TF32 tensor cores, mma.m16n8k8) with the candidate test and the append:
 * no dot tile; the margin is vector_tile.h's TF32 bound.
 * l1 has no GEMM form: sj_gpu_vec_l1 compares packed uint8 rows directly,
 * exactly, and appends the pairs with d <= T. */
#ifndef SIMJOIN_VECTOR_JOIN_H
#define SIMJOIN_VECTOR_JOIN_H

#include "vector_tile.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sj_gpu_vec_tile {
    const float *dots;          /* device, column-major [nc][nq]: dots[c + ldd*q] (from the GEMM) */
    uint32_t ldd;               /* leading dimension of dots (>= nc) */
    const double *query_norm;   /* device [nq] |query| */
    const double *corpus_norm;  /* device [nc] |corpus row| */
    uint32_t nq, nc;
    int64_t q0, c0;             /* global rows of the tile's first query / corpus row */
    uint32_t hit_q, hit_c;      /* added to the q and c of every hit written, so that
                                 * many tiles can share one hit buffer */
    int self;                   /* 1: report only c0+c > q0+q */
    int metric;                 /* SJ_VT_* */
    double threshold, gamma;    /* T and the margin factor (sj_vt_gamma) */
    sj_gpu_hit *hits;           /* device [capacity] */
    unsigned long long *count;  /* device counter; may end above capacity */
    unsigned long long capacity;
} sj_gpu_vec_tile;

/* The candidates of a dot-product tile, on `stream` (a cudaStream_t).
 * Returns a cudaError_t. */
int sj_gpu_vec_epilogue(const sj_gpu_vec_tile *t, void *stream);

/* l1 of packed uint8 rows: queries [nq][words], corpus [nc][words] (uint32
 * words, 4 components each, zero padded), hits with d <= threshold. Uses
 * t's nq, nc, q0, c0, self, threshold, hits, count, capacity. */
int sj_gpu_vec_l1(const uint32_t *queries, const uint32_t *corpus, int words,
                  const sj_gpu_vec_tile *t, void *stream);

/* f32 rows on TF32 tensor cores: queries [nq][ld], corpus [nc][ld] (ld a
 * multiple of 8; rows packed by sj_vt_tf32_pack_row: TF32 values, zero
 * padded), their terms [nq], [nc] (sj_vt_tf32_row_term); hits are the pairs
 * that pass sj_vt_tf32_within (d = 0: the host decides them). Uses t's nq,
 * nc, q0, c0, hit_q, hit_c, self, hits, count, capacity. */
int sj_gpu_vec_tf32(const float *queries, const float *corpus, int ld,
                    const sj_vt_tf32_term *query_terms, const sj_vt_tf32_term *corpus_terms,
                    const sj_gpu_vec_tile *t, void *stream);

#ifdef __cplusplus
}
#endif
#endif
