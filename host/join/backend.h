/* backend.h - the interface every join backend fills (cpu, faiss, cuda, naive).
 *
 * The scheduler (scheduler.c) owns the tiling and threading; a backend only
 * compares one block of queries with a range of corpus rows and appends the
 * hits. Rows are the hash bytes of sj_hashes ([n, bits/8], row-major). */
#ifndef SIMJOIN_BACKEND_H
#define SIMJOIN_BACKEND_H

#include "core/internal.h"

/* One hit: query row, corpus row (row numbers in their sets), distance. */
typedef struct sj_hit {
    int64_t q;
    int64_t c;
    double d;
} sj_hit;

/* A growable hit buffer, one per calling thread. */
typedef struct sj_hits {
    int64_t n;
    int64_t cap;
    sj_hit *v; /* [cap]; owned */
} sj_hits;

static inline sj_status sj_hits_push(sj_hits *h, int64_t q, int64_t c, double d)
{
    if (h->n == h->cap) {
        sj_status st = sj_grow((void **)&h->v, &h->cap, h->n + 1, sizeof *h->v);
        if (st)
            return st;
    }
    h->v[h->n++] = (sj_hit){q, c, d};
    return SJ_OK;
}

typedef struct sj_backend_ops {
    const char *name;
    /* 1: compare() may run on several threads at once on one state;
     * 0: the backend parallelizes inside compare() itself. */
    int parallel_calls;
    /* Make a state for hashes of `type`; *state owned by the backend. */
    sj_status (*open)(const sj_join_config *cfg, sj_hash_type type, void **state);
    /* Take the corpus: rows [n, bits/8], borrowed until close(). Called
     * again on one state for each corpus chunk (--max-memory): each call
     * replaces the corpus (tests/test_backends.c, run 3). A streamed corpus
     * (job.c) opens a state for each of its piece joins. */
    sj_status (*load_corpus)(void *state, const uint8_t *rows, int64_t n);
    /* Compare queries [nq, bits/8] (rows q0 .. q0+nq-1 of the query set)
     * with corpus rows [c0, c1). self = 1 when queries and corpus are the
     * same set: then only corpus rows > query row are reported. Appends every
     * pair with distance <= cfg->threshold to out. */
    sj_status (*compare)(void *state, const uint8_t *queries, int64_t q0, int64_t nq, int64_t c0,
                         int64_t c1, int self, sj_hits *out);
    void (*close)(void *state); /* accepts NULL */
} sj_backend_ops;

extern const sj_backend_ops sj_backend_cpu;
extern const sj_backend_ops sj_backend_naive;
extern const sj_backend_ops sj_backend_faiss; /* open() fails when not built */
extern const sj_backend_ops sj_backend_cuda;  /* open() fails when not built */

/* 1 if this build has the CUDA backend (whether or not a GPU is present). */
int sj_cuda_compiled(void);

/* 1 if cuBLAS can be loaded (the cuda backend's GEMM vector metrics need
 * it); 0 in builds without CUDA. */
int sj_cuda_blas_loadable(void);

/* 1 if the cuda backend's path for vectors of this type under cfg (its
 * metric, default or not, and --kernel) is a GEMM one, which needs cuBLAS;
 * 0 for the fused kernels (f32; u8 l2sq) and l1. */
int sj_cuda_vec_needs_blas(const sj_join_config *cfg, sj_hash_type type);

/* What SJ_BACKEND_AUTO runs: cuda when a GPU is usable, except for vector
 * kinds whose path needs cuBLAS (sj_cuda_vec_needs_blas) when it cannot be
 * loaded; else cpu. *why (when not NULL) says
 * why cuda was passed over for the vector kind. */
static inline sj_backend_kind sj_backend_auto_choice(int usable_gpus, int binary_kind,
                                                     int blas_loadable, const char **why)
{
    if (why)
        *why = NULL;
    if (usable_gpus <= 0)
        return SJ_BACKEND_CPU;
    if (!binary_kind && !blas_loadable) {
        if (why)
            *why = "cuBLAS (libcublas.so) cannot be loaded; vector kinds use the cpu backend";
        return SJ_BACKEND_CPU;
    }
    return SJ_BACKEND_CUDA;
}

#endif
